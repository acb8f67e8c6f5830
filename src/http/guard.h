/*
 * guard.h — the connection guard of the HTTP transport (internal to
 * src/http): counts each listener's open connections against its soft
 * limit and closes connections that do not deliver their request headers
 * within a deadline (slowloris), which libmicrohttpd 0.9.75 cannot do by
 * itself. See guard.c for how.
 */
#ifndef ASSETD_HTTP_GUARD_H
#define ASSETD_HTTP_GUARD_H

#include <microhttpd.h>
#include <stdbool.h>

#include "util/err.h"

typedef struct http_guard http_guard;
typedef struct http_guard_listener http_guard_listener;

/* Starts the watchdog thread. header_timeout_s: seconds a connection has to
 * deliver a request's headers, counted from its accept or from the end of
 * its previous response; 0: no deadline. */
ad_code http_guard_new(unsigned header_timeout_s, http_guard **out, ad_error *err);
/* Stops the watchdog and frees the guard. Call it only after every daemon
 * that used it has stopped (no connection is tracked any more). */
void http_guard_free(http_guard *g);

/* The per-listener state to pass as the closure of http_guard_notify:
 * connections past soft_limit open at once are marked "over" (see
 * http_guard_request_begin). NULL when out of memory. Freed with the guard. */
http_guard_listener *http_guard_add_listener(http_guard *g, unsigned soft_limit);

/* MHD_OPTION_NOTIFY_CONNECTION callback; cls is an http_guard_listener. */
void http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe);

/* The access handler saw a request's headers: its deadline no longer
 * applies. Returns true when the connection was accepted past its
 * listener's soft limit (the request should be refused with 503). */
bool http_guard_request_begin(struct MHD_Connection *conn);
/* The request is over: the next request's headers are due within the
 * header timeout from now. */
void http_guard_request_end(struct MHD_Connection *conn);

#endif
