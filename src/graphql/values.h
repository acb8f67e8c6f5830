/*
 * values.h — input values: literals and variables checked against the
 * types of the positions they are in (validation), and turned into JSON
 * for the resolvers (execution).
 *
 * A value always becomes a jansson value: String and ID → string, Int →
 * integer, Float → real, Boolean → boolean, an enum value → its name as a
 * string, a list → array; for GenericScalar any literal is converted
 * structurally (object literal → object, list → array, enum → string).
 */
#ifndef ASSETD_GRAPHQL_VALUES_H
#define ASSETD_GRAPHQL_VALUES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "graphql/arena.h"
#include "graphql/ast.h"
#include "graphql/errors.h"
#include "graphql/schema.h"

/* The type written in a variable definition as a reference into the
 * schema (in arena). An unknown named type gets type NULL. Returns NULL
 * only when the arena is full. */
gql_tref *gql_tref_from_ast(const gql_schema *s, const gql_type_node *n, gql_arena *arena);

/* Called for each variable met inside a literal: pos is the type expected
 * where it stands (NULL inside a GenericScalar literal, where any value
 * goes), pos_default whether that position has a default value. */
typedef void (*gql_var_use_fn)(void *ctx, const gql_value *var, const gql_tref *pos,
                               bool pos_default);

/*
 * Validates the literal v for a position of type t (NULL: unknown, only
 * the type-independent checks run): the specification's "Values of
 * Correct Type" and "Input Object Field Uniqueness" rules. Variables are
 * handed to use (may be NULL). Errors go to errs.
 */
void gql_check_literal(const gql_value *v, const gql_tref *t, bool pos_default, gql_errors *errs,
                       gql_var_use_fn use, void *ctx);

/* Writes v as GraphQL source (for messages), cut to outsz. */
void gql_print_value(const gql_value *v, char *out, size_t outsz);

/*
 * Coerces the variables of operation op from inputs (a JSON object, or
 * NULL): each defined variable gets its given value checked against its
 * type, or its default; a missing required one is an error. Errors go to
 * errs (BAD_USER_INPUT). Returns AD_OK with *out a new object (only the
 * variables that have a value), AD_E_BAD_REQUEST, or AD_E_NOMEM.
 */
ad_code gql_coerce_variables(const gql_schema *s, const gql_definition *op, const json_t *inputs,
                             gql_arena *arena, gql_errors *errs, json_t **out);

/*
 * Coerces the arguments given to a field or directive (validated) against
 * their definitions: literals become JSON, variables take their values
 * from vars, absent arguments their defaults. Returns AD_OK with *out a new
 * object (NULL when there are no definitions), or AD_E_BAD_REQUEST with a message in err (a
 * required argument whose variable has no value, a number out of range), or AD_E_NOMEM.
 */
ad_code gql_coerce_args(const gql_arg *defs, size_t ndefs, const gql_argument *given,
                        const json_t *vars, json_t **out, ad_error *err);

#endif
