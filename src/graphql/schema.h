/*
 * schema.h — the type system assetd serves: types, fields, arguments,
 * directives, and the few questions validation and execution ask of them.
 *
 * The schema is data: static tables in schema.c (the standard scalars and
 * directives), introspect.c (the __Schema, __Type, ... types) and
 * schema_assets.c (Query and Asset, the latter derived from the asset
 * model of core/model.h when the schema is first used). Each field names
 * the resolver that produces its value; execute.c does the rest.
 */
#ifndef ASSETD_GRAPHQL_SCHEMA_H
#define ASSETD_GRAPHQL_SCHEMA_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

/* In the order of the __TypeKind enum. */
typedef enum gql_kind {
    GQL_SCALAR,
    GQL_OBJECT,
    GQL_INTERFACE,
    GQL_UNION,
    GQL_ENUM,
    GQL_INPUT_OBJECT,
    GQL_LIST,
    GQL_NON_NULL,
} gql_kind;

/* How a scalar's values are checked and serialized. */
typedef enum gql_scalar {
    GQL_SC_NONE, /* not a scalar */
    GQL_SC_STRING,
    GQL_SC_INT, /* 32-bit signed */
    GQL_SC_FLOAT,
    GQL_SC_BOOLEAN,
    GQL_SC_ID,
    GQL_SC_ANY, /* GenericScalar: any JSON value */
} gql_scalar;

/* In the order of the __DirectiveLocation enum. */
typedef enum gql_dir_loc {
    GQL_DL_QUERY,
    GQL_DL_MUTATION,
    GQL_DL_SUBSCRIPTION,
    GQL_DL_FIELD,
    GQL_DL_FRAGMENT_DEFINITION,
    GQL_DL_FRAGMENT_SPREAD,
    GQL_DL_INLINE_FRAGMENT,
    GQL_DL_VARIABLE_DEFINITION,
    GQL_DL_SCHEMA,
    GQL_DL_SCALAR,
    GQL_DL_OBJECT,
    GQL_DL_FIELD_DEFINITION,
    GQL_DL_ARGUMENT_DEFINITION,
    GQL_DL_INTERFACE,
    GQL_DL_UNION,
    GQL_DL_ENUM,
    GQL_DL_ENUM_VALUE,
    GQL_DL_INPUT_OBJECT,
    GQL_DL_INPUT_FIELD_DEFINITION,
    GQL_DL_DIRECTIVE_DEFINITION,
    GQL_DL_COUNT
} gql_dir_loc;

#define GQL_DL_BIT(l) (1u << (l))

typedef struct gql_type gql_type;
typedef struct gql_field gql_field;

/* A type reference: a named type (kind = that type's kind, type set) or a
 * list of / non-null of another reference (kind GQL_LIST / GQL_NON_NULL,
 * of set). */
typedef struct gql_tref {
    gql_kind kind;
    const struct gql_tref *of;
    const gql_type *type;
} gql_tref;

/* An argument (or, in introspection, an __InputValue). */
typedef struct gql_arg {
    const char *name;
    const char *description;
    const gql_tref *type;
    /* The default value, written so that it is both a GraphQL literal (for
     * introspection's defaultValue) and JSON ("false", "\"text\""), or
     * NULL when there is none. */
    const char *default_value;
} gql_arg;

typedef struct gql_enum_value {
    const char *name;
    const char *description;
} gql_enum_value;

/* What resolvers produce and execute.c consumes (see execute.h). */
typedef struct gql_exec gql_exec;
typedef struct gql_val gql_val;

/* Produces the value of field f on the object parent, with the coerced
 * arguments args (a JSON object). On failure returns the code and a
 * message in err; the executor turns it into a field error. */
typedef ad_code (*gql_resolve_fn)(gql_exec *ex, const gql_val *parent, const gql_field *f,
                                  const json_t *args, gql_val *out, ad_error *err);

struct gql_field {
    const char *name;
    const char *description;
    const gql_tref *type;
    const gql_arg *args;
    size_t nargs;
    gql_resolve_fn resolve;
    const void *data; /* for the resolver: what it should read */
    int tag;          /* for the resolver: which field of its type this is */
};

struct gql_type {
    gql_kind kind; /* GQL_SCALAR, GQL_OBJECT or GQL_ENUM in this schema */
    const char *name;
    const char *description;
    gql_scalar scalar;       /* SCALAR */
    const gql_field *fields; /* OBJECT */
    size_t nfields;
    const gql_enum_value *values; /* ENUM */
    size_t nvalues;
    gql_tref ref; /* the named reference to this type */
};

typedef struct gql_directive {
    const char *name;
    const char *description;
    unsigned locations; /* GQL_DL_BIT()s */
    const gql_arg *args;
    size_t nargs;
    bool repeatable;
} gql_directive;

typedef struct gql_schema {
    const char *description;
    const gql_type *query;
    const gql_type *const *types; /* every named type */
    size_t ntypes;
    const gql_directive *directives;
    size_t ndirectives;
} gql_schema;

/* The standard scalars (schema.c). */
extern const gql_type gql_type_string, gql_type_int, gql_type_float, gql_type_boolean, gql_type_id,
    gql_type_any;

/* The schema, built on first use (thread-safe); never freed. */
const gql_schema *gql_schema_get(void);

/* Lookups by name; NULL when there is none. gql_field_of also finds the
 * meta-fields: __typename on every object type, __schema and __type on the
 * query type. */
const gql_type *gql_schema_type(const gql_schema *s, const char *name);
const gql_directive *gql_schema_directive(const gql_schema *s, const char *name);
const gql_field *gql_field_of(const gql_schema *s, const gql_type *t, const char *name);
const gql_arg *gql_arg_of(const gql_arg *args, size_t nargs, const char *name);
const gql_enum_value *gql_enum_value_of(const gql_type *t, const char *name);

/* The named type under any wrappers. */
const gql_type *gql_named(const gql_tref *r);
bool gql_is_leaf(const gql_type *t);      /* scalar or enum */
bool gql_is_composite(const gql_type *t); /* object, interface or union */
bool gql_is_input(const gql_type *t);     /* scalar, enum or input object */

/* Writes the type as GraphQL writes it ("[String!]!"); truncates safely. */
void gql_tref_print(const gql_tref *r, char *out, size_t outsz);
bool gql_tref_equal(const gql_tref *a, const gql_tref *b);
/* The specification's "type is sub-type of" for input positions: a
 * non-null type fits where its nullable form is expected. */
bool gql_tref_fits(const gql_tref *var_type, const gql_tref *location_type);

/* The meta-fields (introspect.c). */
extern const gql_field gql_meta_typename, gql_meta_schema, gql_meta_type;
/* The introspection types (introspect.c), in schema order. */
extern const gql_type *const gql_introspection_types[];
extern const size_t gql_nintrospection_types;
/* Query and Asset (schema_assets.c); gql_assets_init fills Asset's fields
 * from the model and must run once before they are used. */
extern const gql_type gql_type_query;
extern gql_type gql_type_asset;
void gql_assets_init(void);

#endif
