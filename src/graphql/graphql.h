/*
 * graphql.h — assetd's read-only GraphQL service: one call turns a request
 * (query text, variables, operation name) into a GraphQL response body.
 *
 * The pipeline is lexer.c → parser.c (an AST in an arena) → validate*.c
 * (the specification's validation rules against the schema of schema.c,
 * introspect.c and schema_assets.c) → values.c (variables) → execute.c
 * (resolvers in introspect.c and schema_assets.c, the latter bound to the
 * registry service; stored assets read through asset_doc.c). This header
 * is all the API layer (api/graphql.c) needs; the stages have their own
 * headers for the unit tests.
 *
 * Every stage is bounded: the query text, its tokens, its nesting, its
 * fields and aliases, the values in it, and the size of the response
 * (gql_limits). A request over a limit gets an error naming the limit.
 */
#ifndef ASSETD_GRAPHQL_GRAPHQL_H
#define ASSETD_GRAPHQL_GRAPHQL_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "core/registry.h"
#include "util/err.h"

/* Default limits (see gql_limits). */
#define GQL_MAX_QUERY_BYTES    (64 * 1024)       /* the query text */
#define GQL_MAX_TOKENS         10000             /* lexical tokens in the query */
#define GQL_MAX_DEPTH          32                /* nested selection sets, through fragments */
#define GQL_MAX_FIELDS         1000              /* fields as written in the document */
#define GQL_MAX_EXPANDED       5000              /* fields with every fragment spread expanded */
#define GQL_MAX_ALIASES        100               /* aliased fields in the document */
#define GQL_MAX_VALUE_DEPTH    32                /* nested list/object literals and list types */
#define GQL_MAX_RESPONSE_BYTES (8 * 1024 * 1024) /* the "data" part of a response */
#define GQL_MAX_ERRORS         100               /* entries of "errors" */
#define GQL_MAX_AST_BYTES      (8 * 1024 * 1024) /* memory of the parsed document */

/* The limits one request runs under; gql_limits_default() gives the
 * values above. Tests lower them to reach each limit cheaply. */
typedef struct gql_limits {
    size_t query_bytes;
    size_t tokens;
    size_t depth;
    size_t fields;
    size_t expanded;
    size_t aliases;
    size_t value_depth;
    size_t response_bytes;
    size_t ast_bytes;
} gql_limits;

const gql_limits *gql_limits_default(void);

/* One GraphQL request, as the transport decoded it. */
typedef struct gql_request {
    const char *query; /* not necessarily NUL-terminated */
    size_t query_len;
    const json_t *variables;    /* a JSON object, or NULL */
    const char *operation_name; /* or NULL */
    /* Object literals may use quoted keys ({ "profiles.asset_type": "x" }),
     * an assetd extension so the seed's searchAssets example runs
     * verbatim. */
    bool quoted_keys;
    const gql_limits *limits; /* NULL = gql_limits_default() */
    /* The caller is admin: asset_container_registry_creds_config is shown
     * (else "<redacted>") and searchAssets may filter on it. */
    bool see_secrets;
} gql_request;

/* The response: a JSON body in the GraphQL response format, and whether
 * the request was executed. executed is false for a request error (syntax,
 * validation, variables, operation name): the body then has "errors" and
 * no "data", which the HTTP layer answers with 400. */
typedef struct gql_response {
    char *body; /* malloc'd; the caller frees it */
    size_t len;
    bool executed;
} gql_response;

/*
 * Runs one request against the registry. Returns AD_OK with *out filled
 * (whatever the GraphQL outcome: errors are in the body), or AD_E_NOMEM
 * when even the error response could not be built.
 */
ad_code gql_run(ad_registry *reg, const gql_request *req, gql_response *out);

/* Builds a response body holding a single request error with message msg
 * and extensions.code code (e.g. "BAD_USER_INPUT"), for errors the
 * transport finds before gql_run. Returns AD_E_NOMEM or AD_OK. */
ad_code gql_error_body(const char *code, const char *msg, gql_response *out);

#endif
