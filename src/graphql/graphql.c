/*
 * graphql.c — one GraphQL request from text to response (see graphql.h):
 * parse, validate, pick the operation, coerce the variables, execute, and
 * write the response in the specification's format (section 7): "errors"
 * first when there are any, then "data" when the request was executed.
 */
#include "graphql/graphql.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/arena.h"
#include "graphql/errors.h"
#include "graphql/execute.h"
#include "graphql/parser.h"
#include "graphql/schema.h"
#include "graphql/validate.h"
#include "graphql/values.h"
#include "util/buf.h"
#include "util/json.h"

static const gql_limits default_limits = {
    .query_bytes = GQL_MAX_QUERY_BYTES,
    .tokens = GQL_MAX_TOKENS,
    .depth = GQL_MAX_DEPTH,
    .fields = GQL_MAX_FIELDS,
    .expanded = GQL_MAX_EXPANDED,
    .aliases = GQL_MAX_ALIASES,
    .value_depth = GQL_MAX_VALUE_DEPTH,
    .response_bytes = GQL_MAX_RESPONSE_BYTES,
    .ast_bytes = GQL_MAX_AST_BYTES,
};

const gql_limits *gql_limits_default(void)
{
    return &default_limits;
}

/* Writes {"errors": [...], "data": ...}: errors when there are any, data
 * (JSON text) when the request was executed. */
static ad_code respond(const gql_errors *errs, const ad_buf *data, bool executed, gql_response *out)
{
    ad_buf body;
    char *list = NULL;
    size_t n = 0;
    ad_code rc;
    if (errs->n || errs->dropped) {
        json_t *j = gql_errors_json(errs);
        list = j ? ad_json_dump(j, &n) : NULL;
        json_decref(j);
        if (!list) return AD_E_NOMEM;
    }
    ad_buf_init(&body, SIZE_MAX);
    rc = ad_buf_append(&body, "{", 1);
    if (!rc && list) rc = ad_buf_puts(&body, "\"errors\":");
    if (!rc && list) rc = ad_buf_append(&body, list, n);
    if (!rc && list && executed) rc = ad_buf_append(&body, ",", 1);
    if (!rc && executed) rc = ad_buf_puts(&body, "\"data\":");
    if (!rc && executed) rc = ad_buf_append(&body, data->data, data->len);
    if (!rc) rc = ad_buf_append(&body, "}", 1);
    free(list);
    if (rc) {
        ad_buf_free(&body);
        return AD_E_NOMEM;
    }
    out->body = ad_buf_steal(&body, &out->len);
    out->executed = executed;
    return AD_OK;
}

ad_code gql_error_body(const char *code, const char *msg, gql_response *out)
{
    gql_errors errs;
    ad_code rc;
    gql_errors_init(&errs, 1);
    gql_errors_add(&errs, code, NULL, 0, NULL, "%s", msg);
    rc = respond(&errs, NULL, false, out);
    gql_errors_free(&errs);
    return rc;
}

/* The operation to run: the one named, or the only one (spec 6.1,
 * GetOperation). A valid document has at least one. */
static const gql_definition *pick_operation(const gql_document *doc, const char *name,
                                            gql_errors *errs)
{
    const gql_definition *only = NULL;
    size_t nops = 0;
    for (const gql_definition *d = doc->defs; d; d = d->next) {
        if (d->kind != GQL_DEF_OPERATION) continue;
        if (name && d->name && strcmp(d->name, name) == 0) return d;
        only = d;
        nops++;
    }
    if (name)
        gql_errors_add(errs, GQL_CODE_OPERATION, NULL, 0, NULL,
                       "Unknown operation named \"%.100s\".", name);
    else if (nops > 1)
        gql_errors_add(errs, GQL_CODE_OPERATION, NULL, 0, NULL,
                       "Must provide operation name if query contains multiple operations.");
    return !name && nops == 1 ? only : NULL;
}

/* Parse and validate; request errors go to errs. */
static ad_code prepare(const gql_request *req, const gql_limits *lim, gql_arena *arena,
                       gql_errors *errs, const gql_document **doc)
{
    gql_parse_error perr;
    gql_document *d;
    ad_code rc = gql_parse(req->query, req->query_len, lim, req->quoted_keys, arena, &d, &perr);
    if (rc) {
        gql_errors_add(errs, perr.limit ? GQL_CODE_VALIDATION : GQL_CODE_PARSE, &perr.loc, 1, NULL,
                       "%s", perr.msg);
        return rc;
    }
    rc = gql_validate(gql_schema_get(), d, lim, arena, errs);
    if (rc == AD_E_NOMEM) { /* the arena's cap: a limit of the document */
        gql_errors_add(errs, GQL_CODE_VALIDATION, NULL, 0, NULL,
                       "The query needs more than %zu bytes of memory to validate.",
                       lim->ast_bytes);
        rc = AD_E_BAD_REQUEST;
    }
    *doc = d;
    return rc;
}

ad_code gql_run(ad_registry *reg, const gql_request *req, gql_response *out)
{
    const gql_limits *lim = req->limits ? req->limits : &default_limits;
    const gql_schema *s = gql_schema_get();
    const gql_document *doc = NULL;
    const gql_definition *op = NULL;
    json_t *vars = NULL;
    ad_buf data;
    gql_arena arena;
    gql_errors errs;
    ad_code rc;
    memset(out, 0, sizeof(*out));
    gql_arena_init(&arena, lim->ast_bytes);
    ad_buf_init(&data, SIZE_MAX); /* bounded by lim->response_bytes in execute.c */
    gql_errors_init(&errs, GQL_MAX_ERRORS);
    rc = prepare(req, lim, &arena, &errs, &doc);
    if (!rc) op = pick_operation(doc, req->operation_name, &errs);
    if (!rc && op) rc = gql_coerce_variables(s, op, req->variables, &arena, &errs, &vars);
    if (!rc && op) rc = gql_execute(s, reg, doc, op, vars, lim, req->see_secrets, &errs, &data);
    if (rc != AD_E_NOMEM) rc = respond(&errs, &data, !rc && op, out);
    json_decref(vars);
    ad_buf_free(&data);
    gql_errors_free(&errs);
    gql_arena_free(&arena);
    return rc;
}
