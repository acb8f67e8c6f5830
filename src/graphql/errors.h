/*
 * errors.h — the "errors" list of a GraphQL response: each entry a
 * message, the locations in the document it concerns, the response path of
 * a field error, and an extensions.code naming the kind of failure.
 *
 * The list is capped (GQL_MAX_ERRORS): past the cap, errors are counted,
 * not kept, and one last entry says how many were left out, so a query
 * failing on every item of a long list cannot grow the response without
 * bound.
 */
#ifndef ASSETD_GRAPHQL_ERRORS_H
#define ASSETD_GRAPHQL_ERRORS_H

#include <jansson.h>
#include <stddef.h>

#include "graphql/ast.h"
#include "util/err.h"

/* extensions.code values (the names Apollo Server and others use). */
#define GQL_CODE_PARSE      "GRAPHQL_PARSE_FAILED"         /* syntax, query size, tokens */
#define GQL_CODE_VALIDATION "GRAPHQL_VALIDATION_FAILED"    /* a rule or a limit of the document */
#define GQL_CODE_INPUT      "BAD_USER_INPUT"               /* variables, arguments, filters */
#define GQL_CODE_OPERATION  "OPERATION_RESOLUTION_FAILURE" /* operationName */
#define GQL_CODE_REQUEST    "BAD_REQUEST"                  /* the HTTP request itself */
#define GQL_CODE_TOO_LARGE  "RESPONSE_TOO_LARGE"           /* the response size cap */
#define GQL_CODE_INTERNAL   "INTERNAL_SERVER_ERROR"        /* a store failed */

#define GQL_ERROR_MAX_LOCS 4
#define GQL_ERROR_MSG_MAX  1024

typedef struct gql_error {
    char *message;
    gql_loc locs[GQL_ERROR_MAX_LOCS];
    size_t nlocs;
    json_t *path; /* JSON array of keys and indices, or NULL */
    const char *code;
} gql_error;

typedef struct gql_errors {
    gql_error *v;
    size_t n, cap;
    size_t max;     /* entries kept */
    size_t dropped; /* entries past max */
    bool oom;       /* an entry could not be recorded */
} gql_errors;

void gql_errors_init(gql_errors *e, size_t max);
void gql_errors_free(gql_errors *e);

/* Records an error: nlocs locations (excess ones ignored), path (the
 * reference is taken; may be NULL), extensions code, printf-style message
 * (cut at GQL_ERROR_MSG_MAX bytes). */
void gql_errors_add(gql_errors *e, const char *code, const gql_loc *locs, size_t nlocs,
                    json_t *path, const char *fmt, ...) __attribute__((format(printf, 6, 7)));

/* The "errors" array (a new reference), or NULL on allocation failure. */
json_t *gql_errors_json(const gql_errors *e);

#endif
