/*
 * router.h — matching a request's method and path against a route table.
 *
 * A pattern is a literal path whose segments may be "{}" (exactly one
 * non-empty segment) or, as the last segment, "{*}" (the rest of the path,
 * one or more segments, slashes kept). Captured segments are percent-decoded
 * and must be valid UTF-8. A path that matches a pattern under another
 * method yields AD_E_METHOD with the Allow list; HEAD is served by GET
 * routes.
 */
#ifndef ASSETD_HTTP_ROUTER_H
#define ASSETD_HTTP_ROUTER_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

typedef struct http_req http_req;
typedef void (*http_handler_fn)(http_req *req);
/* Takes one chunk of a streamed request body (see http_route.body):
 * *used is how many of its bytes were taken. Fewer than len means the
 * route is busy: the request is suspended (libmicrohttpd reads nothing
 * more from it, and the thread goes on serving other connections) until
 * the route calls http_req_resume() from another thread, and the rest is
 * offered again then. Returning an error stops the body: the rest is
 * discarded, the handler is not called, and the error is the response. */
typedef ad_code (*http_body_fn)(http_req *req, const char *data, size_t len, size_t *used,
                                ad_error *err);
/* The body is complete: true when the handler may run now; false
 * suspends the request until http_req_resume(), then it is asked again. */
typedef bool (*http_body_done_fn)(http_req *req);

/* A route that takes its body as it streams in. */
typedef struct http_body {
    http_body_fn take;
    http_body_done_fn done; /* NULL: the handler runs at once */
} http_body;

#define HTTP_ROUTE_JSON_BODY 1u /* the body must be Content-Type: application/json */
#define HTTP_ROUTE_UPLOAD    2u /* the body limit is the server's upload_max_body */
#define HTTP_ROUTE_AUDIT     4u /* a change: one audit line when it ends, whatever the result */

typedef struct http_route {
    const char *method;
    const char *pattern;
    http_handler_fn fn;
    unsigned flags;  /* HTTP_ROUTE_* */
    size_t max_body; /* bytes; 0 = the server's default */
    /* NULL: the body is collected (up to max_body) for http_req_body().
     * Otherwise each chunk goes to body->take as it arrives, nothing is kept,
     * and fn runs once the body is complete (uploads of any size). */
    const http_body *body;
    /* What the caller must be allowed (the API layer's role), handed to the
     * server's authorize hook before the body is read. */
    unsigned need;
} http_route;

#define HTTP_MAX_PARAMS 4

typedef struct http_match {
    const http_route *route;       /* the matched route, NULL if none */
    char *params[HTTP_MAX_PARAMS]; /* decoded captures (owned) */
    size_t nparams;
    char allow[96]; /* for AD_E_METHOD: "GET, HEAD, PUT" */
} http_match;

/* Returns AD_OK (m->route set), AD_E_NOT_FOUND, AD_E_METHOD (m->allow set),
 * AD_E_BAD_REQUEST (bad percent-encoding or UTF-8 in a captured segment) or
 * AD_E_NOMEM. Call http_match_free afterwards in every case. */
ad_code http_route_match(const http_route *routes, size_t nroutes, const char *method,
                         const char *path, http_match *m, ad_error *err);
void http_match_free(http_match *m);

#endif
