/*
 * graphql.c — /graphql: the GraphQL endpoint's transport, following the
 * GraphQL-over-HTTP convention:
 *
 *   POST, Content-Type: application/json  {"query", "variables", "operationName"}
 *   POST, Content-Type: application/graphql  the query as the body
 *        (variables and operationName may then come as URL parameters)
 *   GET  ?query=…&variables=<JSON>&operationName=…
 *
 * The answer is always a GraphQL response (application/json): 200 when the
 * operation was executed, field errors included; 400 when the request
 * could not be parsed, validated or given its variables (the body then has
 * "errors" and no "data"); 415 for another Content-Type. The request itself
 * (body size, method) is checked by the transport like any route's.
 */
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "graphql/errors.h"
#include "graphql/graphql.h"
#include "util/json.h"

/* A request as decoded from HTTP; json owns what the strings point into. */
typedef struct gql_http {
    gql_request req;
    json_t *json;      /* the JSON body, if any */
    json_t *variables; /* parsed from a URL parameter, if any */
} gql_http;

static void reply(http_req *r, int status, gql_response *resp)
{
    http_reply(r, status, "application/json", resp->body, resp->len);
}

static void reply_error(http_req *r, int status, const char *code, const char *msg)
{
    gql_response resp = {0};
    if (gql_error_body(code, msg, &resp)) {
        http_reply_error(r, AD_E_NOMEM, "out of memory");
        return;
    }
    reply(r, status, &resp);
}

/* Content-Type is the media type mt, with or without parameters. */
static bool media_type_is(const char *ct, const char *mt)
{
    size_t n = strlen(mt);
    if (!ct) return false;
    while (*ct == ' ') ct++;
    return strncasecmp(ct, mt, n) == 0 && (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

/* "variables": absent, null, or an object. */
static ad_code check_variables(const json_t *v, ad_error *err)
{
    if (v && !json_is_null(v) && !json_is_object(v))
        return ad_fail(err, AD_E_BAD_REQUEST, "\"variables\" must be a JSON object");
    return AD_OK;
}

/* The variables and operationName URL parameters. */
static ad_code from_url(http_req *r, gql_http *g, ad_error *err)
{
    const char *vars;
    ad_code rc = http_req_query(r, "variables", &vars, err);
    if (!rc) rc = http_req_query(r, "operationName", &g->req.operation_name, err);
    if (rc || !vars || !*vars) return rc;
    rc = ad_json_parse(vars, strlen(vars), AD_JSON_MAX_DEPTH, &g->variables, err);
    if (rc) {
        ad_error_prefix(err, "variables: ");
        return AD_E_BAD_REQUEST;
    }
    rc = check_variables(g->variables, err);
    if (!rc && json_is_object(g->variables)) g->req.variables = g->variables;
    return rc;
}

static ad_code from_get(http_req *r, gql_http *g, ad_error *err)
{
    const char *q;
    ad_code rc = http_req_query(r, "query", &q, err);
    if (rc) return rc;
    if (!q) return ad_fail(err, AD_E_BAD_REQUEST, "the \"query\" parameter is missing");
    g->req.query = q;
    g->req.query_len = strlen(q);
    return from_url(r, g, err);
}

static ad_code from_json_body(http_req *r, gql_http *g, ad_error *err)
{
    const json_t *q, *v, *op;
    ad_code rc = api_body_json(r, &g->json, err);
    if (rc) return AD_E_BAD_REQUEST;
    if (!json_is_object(g->json))
        return ad_fail(err, AD_E_BAD_REQUEST, "the body must be a JSON object with \"query\"");
    q = json_object_get(g->json, "query");
    v = json_object_get(g->json, "variables");
    op = json_object_get(g->json, "operationName");
    if (!json_is_string(q))
        return ad_fail(err, AD_E_BAD_REQUEST, "\"query\" must be a string holding the document");
    if (op && !json_is_null(op) && !json_is_string(op))
        return ad_fail(err, AD_E_BAD_REQUEST, "\"operationName\" must be a string or null");
    rc = check_variables(v, err);
    if (rc) return rc;
    g->req.query = json_string_value(q);
    g->req.query_len = json_string_length(q);
    g->req.variables = json_is_object(v) ? v : NULL;
    g->req.operation_name = json_string_value(op);
    return AD_OK;
}

static ad_code from_graphql_body(http_req *r, gql_http *g, ad_error *err)
{
    g->req.query = http_req_body(r, &g->req.query_len);
    return from_url(r, g, err);
}

void api_graphql(http_req *r)
{
    gql_http g = {.req = {.quoted_keys = true}};
    gql_response resp = {0};
    ad_error err = {0};
    const char *ct = http_req_header(r, "Content-Type");
    ad_code rc;
    if (strcmp(http_req_method(r), "POST") != 0)
        rc = from_get(r, &g, &err);
    else if (media_type_is(ct, "application/json"))
        rc = from_json_body(r, &g, &err);
    else if (media_type_is(ct, "application/graphql"))
        rc = from_graphql_body(r, &g, &err);
    else
        rc = ad_fail(&err, AD_E_MEDIA_TYPE,
                     "Content-Type must be application/json or application/graphql");
    g.req.see_secrets = api_sees_secrets(r);
    if (!rc) rc = gql_run(api_app(r)->reg, &g.req, &resp);
    if (rc == AD_OK)
        reply(r, resp.executed ? 200 : 400, &resp);
    else if (rc == AD_E_NOMEM)
        http_reply_error(r, AD_E_NOMEM, "out of memory");
    else
        reply_error(r, ad_code_http_status(rc),
                    rc == AD_E_MEDIA_TYPE ? GQL_CODE_REQUEST : GQL_CODE_INPUT, err.msg);
    json_decref(g.json);
    json_decref(g.variables);
}
