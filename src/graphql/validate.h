/*
 * validate.h — validation of an executable document against the schema
 * (specification, October 2021, section 5), before anything executes.
 *
 * The rules are those graphql-js v16 runs (its specifiedRules), minus the
 * ones that cannot fail on this schema's kinds of types, plus two: an
 * operation's root type must exist (assetd is read-only: a mutation or
 * subscription is refused here, not executed), and the limits of the
 * expanded document (fields with every fragment spread, and depth through
 * fragments). validate.c has the document-level rules, validate_fields.c
 * the walk over selections, validate_overlap.c "Field Selection Merging".
 */
#ifndef ASSETD_GRAPHQL_VALIDATE_H
#define ASSETD_GRAPHQL_VALIDATE_H

#include "graphql/arena.h"
#include "graphql/ast.h"
#include "graphql/errors.h"
#include "graphql/graphql.h"
#include "graphql/schema.h"

/*
 * Validates doc. Every error found goes to errs (GRAPHQL_VALIDATION_FAILED)
 * with its locations. Returns AD_OK when the document is valid,
 * AD_E_BAD_REQUEST when it is not, AD_E_NOMEM when the arena ran out.
 */
ad_code gql_validate(const gql_schema *s, const gql_document *doc, const gql_limits *lim,
                     gql_arena *arena, gql_errors *errs);

#endif
