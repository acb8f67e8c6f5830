/*
 * server.h — the HTTP transport: listeners, request bodies in, responses
 * out. It knows HTTP, not assets: handlers get an http_req and answer it
 * with one of the http_reply* calls.
 *
 * Built on libmicrohttpd with one daemon per listen address, each with an
 * internal epoll thread pool. A handler runs once the whole request body has
 * arrived (bounded by the route's limit); a response may be a buffer or a
 * stream produced by a callback while the socket drains.
 */
#ifndef ASSETD_HTTP_SERVER_H
#define ASSETD_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http/router.h"
#include "util/err.h"

#define HTTP_MAX_PATH 4096 /* bytes of the request path; longer → 414 */
/* Connections over conn_limit that still get a 503 answer, per listener:
 * conn_limit / 16, at least 16 */
#define HTTP_CONN_RESERVE(limit) ((limit) / 16 > 16 ? (limit) / 16 : 16)
#define HTTP_RETRY_AFTER_S       5 /* Retry-After of 429 and 503 answers to limits */

typedef struct http_server http_server;

typedef struct http_server_opts {
    const char *const *listen; /* "127.0.0.1:8080", "[::1]:8080"; port 0 = any */
    size_t nlisten;
    unsigned threads;        /* per listener */
    size_t default_max_body; /* bytes */
    size_t upload_max_body;  /* bytes, for HTTP_ROUTE_UPLOAD routes */
    unsigned conn_timeout_s; /* idle connection timeout */
    /* Open connections per listener. Requests on connections past it are
     * answered 503 (Retry-After) and closed; past HTTP_CONN_RESERVE more,
     * new connections wait in the kernel's listen queue. */
    unsigned conn_limit;
    /* Seconds a connection has to deliver a request's complete headers,
     * from its accept or the end of its previous response; late ones are
     * closed without an answer. 0: no limit. */
    unsigned header_timeout_s;
    /* Bytes of the request line and header fields; more is answered 413
     * (libmicrohttpd answers 431 by itself past about twice as much). 0: the
     * library's default of 32 KiB total. */
    size_t max_header_bytes;
    /* Requests on HTTP_ROUTE_UPLOAD routes receiving their bodies at once;
     * one more is answered 429 with Retry-After. 0: no bound. */
    unsigned max_uploads;
    /* PEM files: both set serves HTTPS (libmicrohttpd with GnuTLS), both
     * NULL plain HTTP. */
    const char *tls_cert_file, *tls_key_file;
    bool access_log;
    const http_route *routes;
    size_t nroutes;
    void *app; /* handed to handlers through http_req_app() */
    /* Called once the request line and headers are in, before the body is
     * read, with the matched route's `need`: AD_OK lets the request go on;
     * an error (401, 403, 503) becomes the response at once and the body is
     * never read. It may record who is calling (http_req_set_user). NULL:
     * everyone may do everything. */
    ad_code (*authorize)(http_req *r, unsigned need, ad_error *err);
} http_server_opts;

ad_code http_server_start(const http_server_opts *o, http_server **out, ad_error *err);
/* The port listener i is bound to (useful with port 0). */
unsigned http_server_port(const http_server *s, size_t i);
/* Stops accepting connections, lets in-flight requests finish (up to
 * grace_ms), then stops every listener and frees the server. */
void http_server_stop(http_server *s, unsigned grace_ms);

/* --- for handlers --- */
void *http_req_app(http_req *r);
const char *http_req_method(http_req *r);
const char *http_req_path(http_req *r);            /* raw, undecoded */
const char *http_req_param(http_req *r, size_t i); /* decoded route capture */
/* A request header (case-insensitive name) or NULL. */
const char *http_req_header(http_req *r, const char *name);
/* The decoded query parameter `name`: AD_OK with *value (NULL if absent),
 * or AD_E_BAD_REQUEST for a malformed escape or invalid UTF-8. */
ad_code http_req_query(http_req *r, const char *name, const char **value, ad_error *err);
const char *http_req_body(http_req *r, size_t *len);

/* Attaches handler state to the request; free_ctx(ctx) runs when the
 * request ends, however it ends (client gone, error, reply sent). */
void http_req_set_ctx(http_req *r, void *ctx, void (*free_ctx)(void *ctx));
void *http_req_ctx(http_req *r);
/* Wakes a request its route's body->take or body->done left suspended (or,
 * called before it suspends, keeps it from sleeping). Safe from any
 * thread; not after the request has ended. */
void http_req_resume(http_req *r);
/* Bytes of body received so far (streamed or collected). */
unsigned long long http_req_body_received(http_req *r);

/* Who is calling, as the authorize hook found out: a name for logs (copied,
 * at most 64 bytes) and a level for handlers. */
void http_req_set_user(http_req *r, const char *name, unsigned level);
const char *http_req_user(http_req *r); /* "" when nobody was named */
unsigned http_req_level(http_req *r);
/* A detail for the audit line of an HTTP_ROUTE_AUDIT route (the upload id
 * of an upload, the name of a token); copied, at most 255 bytes. */
void http_req_audit_detail(http_req *r, const char *detail);

/* Adds a response header for the reply that follows. */
void http_req_add_header(http_req *r, const char *name, const char *value);

/* Replies with a body; takes ownership of body (malloc'd, may be NULL when
 * len is 0). */
void http_reply(http_req *r, int status, const char *content_type, char *body, size_t len);
/* Replies with the error envelope {"success":false,"error":msg,"code":…}. */
void http_reply_error(http_req *r, ad_code code, const char *msg);

/* A streamed body: fn fills buf with up to max bytes and returns how many
 * (> 0), 0 at the end, or -1 to abort the response (the client sees a
 * truncated body). free_ctx(ctx) runs once the response is done. */
typedef long (*http_stream_fn)(void *ctx, char *buf, size_t max);
void http_reply_stream(http_req *r, int status, const char *content_type, http_stream_fn fn,
                       void *ctx, void (*free_ctx)(void *ctx));

/* A streamed body of exactly size bytes (sent as Content-Length; HEAD gets
 * the headers only): fn fills buf with up to max bytes of the body at pos
 * and returns how many (> 0), or -1 to abort (the client sees a body
 * shorter than announced). A response bigger than HTTP_SIZED_BLOCK is
 * pulled in blocks of that size. free_ctx(ctx) runs once it is done. */
#define HTTP_SIZED_BLOCK (256 * 1024)
typedef long (*http_stream_at_fn)(void *ctx, uint64_t pos, char *buf, size_t max);
void http_reply_sized(http_req *r, int status, const char *content_type, uint64_t size,
                      http_stream_at_fn fn, void *ctx, void (*free_ctx)(void *ctx));
/* len bytes of the open file fd from off, sent with sendfile(2) where the
 * platform allows (zero-copy). Takes ownership of fd. */
void http_reply_fd(http_req *r, int status, const char *content_type, int fd, uint64_t off,
                   uint64_t len);

/* --- range.c: single byte ranges (RFC 9110 14) --- */
typedef enum {
    HTTP_RANGE_NONE,         /* no usable Range (absent, multiple, malformed, If-Range differs):
                                send everything with 200 */
    HTTP_RANGE_OK,           /* send [start, start + len) with 206 */
    HTTP_RANGE_UNSATISFIABLE /* answer 416 (http_reply_416) */
} http_range_result;
/* Reads Range (and If-Range, compared strongly with etag, which may be
 * NULL) for a representation of total bytes. */
http_range_result http_req_range(http_req *r, uint64_t total, const char *etag, uint64_t *start,
                                 uint64_t *len);
/* Adds Content-Range: bytes start-end/total. */
void http_add_content_range(http_req *r, uint64_t start, uint64_t len, uint64_t total);
/* 416 with Content-Range: bytes * /total and the error envelope. */
void http_reply_416(http_req *r, uint64_t total);

#endif
