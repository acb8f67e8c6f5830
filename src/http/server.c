/*
 * server.c — the libmicrohttpd transport (see server.h).
 *
 * Request life: on the first call of the access handler we route the
 * request and check what the headers alone can tell (path length, route,
 * Content-Type, Content-Length); body chunks are appended to a capped
 * buffer; on the last call the handler runs and queues its response. The
 * response is queued on that last call, never the first, because queuing
 * early makes libmicrohttpd close keep-alive connections (see DESIGN.md),
 * except for a declared body over the limit, which we refuse before reading.
 *
 * Limits (see server.h and docs/backends/hardening.md): a declared body
 * over the route's limit is 413, headers over max_header_bytes are 413, a
 * connection accepted past the soft connection limit gets 503 and is
 * closed (guard.c), an upload past max_uploads gets 429 before its body is
 * spooled; these are answered at once when nothing is lost by it (see
 * refuse_early). The header deadline against slow clients is guard.c's.
 * With TLS, libmicrohttpd does the TLS through GnuTLS; tls.c checks the
 * certificate and key first so a wrong file is a clear start-up error.
 *
 * Paths are routed undecoded (the unescape callback is the identity) so
 * that an encoded "%2F" inside a segment cannot change the route; the
 * router decodes the captured segments and http_req_query decodes query
 * values.
 */
#include "http/server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "http/guard.h"
#include "http/tls.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

#define HTTP_MAX_LISTENERS    16
#define HTTP_MAX_RESP_HEADERS 8
#define HTTP_STREAM_BLOCK     (64 * 1024)
/* TLS 1.2 and 1.3 only, GnuTLS's default suites otherwise */
#define HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"

struct http_server {
    struct MHD_Daemon *daemons[HTTP_MAX_LISTENERS];
    unsigned ports[HTTP_MAX_LISTENERS];
    size_t ndaemons;
    http_server_opts opts;
    atomic_int active;   /* requests between first call and completion */
    atomic_uint uploads; /* requests holding an upload slot */
    http_guard *guard;   /* connection limit and header deadline */
    bool tls;
    http_tls_pem tls_pem; /* kept until the daemons stop */
    /* requests a busy route suspended (see suspend): libmicrohttpd must not
     * be stopped with any, so stopping resumes them all and refuses more */
    pthread_mutex_t susp_mu;
    http_req *susp_head;
    int nresumed; /* resumed, not yet taken back by libmicrohttpd's thread */
    bool stopping;
};

struct http_req {
    http_server *srv;
    struct MHD_Connection *conn;
    const char *method; /* owned by libmicrohttpd for the request's life */
    const char *path;
    http_match match;
    ad_buf body;
    ad_error early; /* an error found before the handler runs */
    size_t max_body;
    bool responded;
    enum MHD_Result queued;
    int status;
    unsigned long long bytes;
    struct timespec t0;
    struct {
        char *name, *value;
    } hdr[HTTP_MAX_RESP_HEADERS];
    size_t nhdr;
    char **scratch; /* decoded query values, freed with the request */
    size_t nscratch;
    void *ctx; /* handler state (http_req_set_ctx) */
    void (*free_ctx)(void *);
    unsigned long long received; /* body bytes so far */
    char user[65];               /* http_req_set_user */
    unsigned level;
    char audit[256];  /* http_req_audit_detail */
    bool upload_slot; /* counted in srv->uploads */
    /* suspension by a route busy with the body it took (http_req_resume);
     * under srv->susp_mu */
    bool suspended, wake, resumed;
    http_req *susp_prev, *susp_next;
};

typedef struct stream_ctx {
    http_stream_fn fn;       /* length unknown: the next bytes */
    http_stream_at_fn at_fn; /* length known: the bytes at an offset */
    void *ctx;
    void (*free_ctx)(void *);
    unsigned long long *bytes;
} stream_ctx;

static double elapsed_ms(const struct timespec *t0)
{
    struct timespec t1;
    clock_gettime(CLOCK_MONOTONIC, &t1);
    return (double)(t1.tv_sec - t0->tv_sec) * 1e3 + (double)(t1.tv_nsec - t0->tv_nsec) / 1e6;
}

/* --- request accessors --- */

void http_req_set_user(http_req *r, const char *name, unsigned level)
{
    snprintf(r->user, sizeof(r->user), "%s", name ? name : "");
    r->level = level;
}

void http_req_audit_detail(http_req *r, const char *detail)
{
    snprintf(r->audit, sizeof(r->audit), "%s", detail ? detail : "");
}

const char *http_req_user(http_req *r)
{
    return r->user;
}

unsigned http_req_level(http_req *r)
{
    return r->level;
}

void *http_req_app(http_req *r)
{
    return r->srv->opts.app;
}

const char *http_req_method(http_req *r)
{
    return r->method;
}

const char *http_req_path(http_req *r)
{
    return r->path;
}

const char *http_req_param(http_req *r, size_t i)
{
    return i < r->match.nparams ? r->match.params[i] : NULL;
}

const char *http_req_header(http_req *r, const char *name)
{
    return MHD_lookup_connection_value(r->conn, MHD_HEADER_KIND, name);
}

void http_req_set_ctx(http_req *r, void *ctx, void (*free_ctx)(void *ctx))
{
    if (r->free_ctx && r->ctx != ctx) r->free_ctx(r->ctx);
    r->ctx = ctx;
    r->free_ctx = free_ctx;
}

void *http_req_ctx(http_req *r)
{
    return r->ctx;
}

unsigned long long http_req_body_received(http_req *r)
{
    return r->received;
}

const char *http_req_body(http_req *r, size_t *len)
{
    if (len) *len = r->body.len;
    return r->body.data ? r->body.data : "";
}

ad_code http_req_query(http_req *r, const char *name, const char **value, ad_error *err)
{
    const char *raw = MHD_lookup_connection_value(r->conn, MHD_GET_ARGUMENT_KIND, name);
    char *out, **grown;
    long n;
    *value = NULL;
    if (!raw) return AD_OK;
    out = malloc(strlen(raw) + 1);
    if (!out) return ad_fail(err, AD_E_NOMEM, "out of memory");
    n = ad_pct_decode(raw, strlen(raw), out, true);
    if (n < 0 || !ad_utf8_valid(out, (size_t)n)) {
        free(out);
        return ad_fail(err, AD_E_BAD_REQUEST, "%s: malformed query parameter value", name);
    }
    grown = realloc(r->scratch, (r->nscratch + 1) * sizeof(*grown));
    if (!grown) {
        free(out);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    r->scratch = grown;
    r->scratch[r->nscratch++] = out;
    *value = out;
    return AD_OK;
}

void http_req_add_header(http_req *r, const char *name, const char *value)
{
    if (r->nhdr >= HTTP_MAX_RESP_HEADERS) return;
    r->hdr[r->nhdr].name = strdup(name);
    r->hdr[r->nhdr].value = strdup(value);
    if (!r->hdr[r->nhdr].name || !r->hdr[r->nhdr].value) {
        free(r->hdr[r->nhdr].name);
        free(r->hdr[r->nhdr].value);
        return;
    }
    r->nhdr++;
}

/* --- replies --- */

static void queue(http_req *r, int status, const char *ctype, struct MHD_Response *resp)
{
    size_t i;
    r->responded = true;
    r->status = status;
    if (!resp) {
        r->queued = MHD_NO;
        return;
    }
    if (ctype) MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, ctype);
    for (i = 0; i < r->nhdr; i++) MHD_add_response_header(resp, r->hdr[i].name, r->hdr[i].value);
    r->queued = MHD_queue_response(r->conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
}

void http_reply(http_req *r, int status, const char *ctype, char *body, size_t len)
{
    struct MHD_Response *resp;
    if (r->responded) {
        free(body);
        return;
    }
    if (!body) len = 0;
    resp = MHD_create_response_from_buffer(len, body ? body : (void *)"",
                                           body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!resp) free(body);
    r->bytes = len;
    queue(r, status, ctype, resp);
}

void http_reply_error(http_req *r, ad_code code, const char *msg)
{
    ad_buf b;
    char *body;
    size_t len;
    ad_buf_init(&b, 64 * 1024);
    ad_buf_puts(&b, "{\"success\":false,\"error\":");
    ad_buf_json_string(&b, msg, strlen(msg));
    ad_buf_printf(&b, ",\"code\":\"%s\"}", ad_code_name(code));
    body = ad_buf_steal(&b, &len);
    if (code == AD_E_METHOD && r->match.allow[0])
        http_req_add_header(r, MHD_HTTP_HEADER_ALLOW, r->match.allow);
    http_reply(r, ad_code_http_status(code), "application/json", body, len);
}

static ssize_t stream_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    stream_ctx *sc = cls;
    long n = sc->at_fn ? sc->at_fn(sc->ctx, pos, buf, max) : sc->fn(sc->ctx, buf, max);
    if (n > 0) {
        *sc->bytes += (unsigned long long)n;
        return n;
    }
    /* a known length ends by itself: a short read there is an error */
    return n == 0 && !sc->at_fn ? MHD_CONTENT_READER_END_OF_STREAM
                                : MHD_CONTENT_READER_END_WITH_ERROR;
}

static void stream_free(void *cls)
{
    stream_ctx *sc = cls;
    if (sc->free_ctx) sc->free_ctx(sc->ctx);
    free(sc);
}

/* Queues a callback response; takes ownership of t.ctx. */
static void reply_callback(http_req *r, int status, const char *ctype, uint64_t size, size_t block,
                           stream_ctx t)
{
    stream_ctx *sc;
    struct MHD_Response *resp = NULL;
    if (r->responded) {
        if (t.free_ctx) t.free_ctx(t.ctx);
        return;
    }
    sc = malloc(sizeof(*sc));
    if (sc) {
        *sc = t;
        sc->bytes = &r->bytes;
        resp = MHD_create_response_from_callback(size, block, stream_read, sc, stream_free);
        if (!resp) stream_free(sc);
    } else if (t.free_ctx) {
        t.free_ctx(t.ctx);
    }
    queue(r, status, ctype, resp);
}

void http_reply_stream(http_req *r, int status, const char *ctype, http_stream_fn fn, void *ctx,
                       void (*free_ctx)(void *ctx))
{
    stream_ctx t = {fn, NULL, ctx, free_ctx, NULL};
    reply_callback(r, status, ctype, MHD_SIZE_UNKNOWN, HTTP_STREAM_BLOCK, t);
}

void http_reply_sized(http_req *r, int status, const char *ctype, uint64_t size,
                      http_stream_at_fn fn, void *ctx, void (*free_ctx)(void *ctx))
{
    stream_ctx t = {NULL, fn, ctx, free_ctx, NULL};
    size_t block = size < HTTP_SIZED_BLOCK ? (size_t)size + 1 : HTTP_SIZED_BLOCK;
    reply_callback(r, status, ctype, size, block, t);
}

void http_reply_fd(http_req *r, int status, const char *ctype, int fd, uint64_t off, uint64_t len)
{
    struct MHD_Response *resp;
    if (r->responded) {
        close(fd);
        return;
    }
    /* libmicrohttpd closes fd when the response is destroyed */
    resp = MHD_create_response_from_fd_at_offset64(len, fd, off);
    if (!resp)
        close(fd);
    else
        r->bytes = len;
    queue(r, status, ctype, resp);
}

/* --- request handling --- */

static bool is_json_type(const char *ct)
{
    size_t n = strlen("application/json");
    if (!ct) return false;
    while (*ct == ' ') ct++;
    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void add_retry_after(http_req *r)
{
    char v[16];
    snprintf(v, sizeof(v), "%d", HTTP_RETRY_AFTER_S);
    http_req_add_header(r, "Retry-After", v);
}

/* Tells the guard that the headers are in (their deadline is met); 503 if
 * the connection was accepted past the connection limit. */
static void check_connection(http_req *r)
{
    if (!http_guard_request_begin(r->conn)) return;
    add_retry_after(r);
    http_req_add_header(r, MHD_HTTP_HEADER_CONNECTION, "close");
    ad_fail(&r->early, AD_E_UNAVAILABLE,
            "the server is at its limit of %u open connections; retry later",
            r->srv->opts.conn_limit);
}

/* 413 for a request line and headers over max_header_bytes. */
static void check_header_size(http_req *r)
{
    size_t max = r->srv->opts.max_header_bytes;
    const union MHD_ConnectionInfo *hs =
        MHD_get_connection_info(r->conn, MHD_CONNECTION_INFO_REQUEST_HEADER_SIZE);
    if (max && hs && hs->header_size > max)
        ad_fail(&r->early, AD_E_TOO_LARGE,
                "request line and headers of %zu bytes are over the limit of %zu", hs->header_size,
                max);
}

/* What the request line and headers alone can tell; sets r->early. */
static void precheck(http_req *r)
{
    const http_server_opts *o = &r->srv->opts;
    const char *cl;
    uint64_t declared;
    check_connection(r);
    if (r->early.code) return;
    if (strlen(r->path) > HTTP_MAX_PATH) {
        ad_fail(&r->early, AD_E_URI_TOO_LONG, "request path longer than %d bytes", HTTP_MAX_PATH);
        return;
    }
    check_header_size(r);
    if (r->early.code) return;
    if (http_route_match(o->routes, o->nroutes, r->method, r->path, &r->match, &r->early)) return;
    /* who may call it comes first: a 401 or 403 beats any other answer */
    if (o->authorize && o->authorize(r, r->match.route->need, &r->early)) return;
    r->max_body = r->match.route->max_body ? r->match.route->max_body : o->default_max_body;
    if ((r->match.route->flags & HTTP_ROUTE_UPLOAD) && o->upload_max_body)
        r->max_body = o->upload_max_body;
    ad_buf_init(&r->body, r->max_body);
    cl = http_req_header(r, MHD_HTTP_HEADER_CONTENT_LENGTH);
    if (cl && ad_parse_u64(cl, UINT64_MAX, &declared) && declared > r->max_body) {
        ad_fail(&r->early, AD_E_TOO_LARGE, "request body of %llu bytes is over the limit of %zu",
                (unsigned long long)declared, r->max_body);
        return;
    }
    if ((r->match.route->flags & HTTP_ROUTE_JSON_BODY) &&
        !is_json_type(http_req_header(r, MHD_HTTP_HEADER_CONTENT_TYPE)))
        ad_fail(&r->early, AD_E_MEDIA_TYPE, "Content-Type must be application/json");
}

/* One chunk of the request body: into the capped buffer, or to the route's
 * body->take. Returns how many bytes were taken (all, unless it is busy). */
static size_t take_body(http_req *r, const char *data, size_t n)
{
    ad_code rc;
    size_t used = n;
    if (r->received + n > r->max_body) {
        r->received += n;
        ad_fail(&r->early, AD_E_TOO_LARGE, "request body is over the limit of %zu bytes",
                r->max_body);
        return n;
    }
    if (r->match.route->body) {
        used = 0;
        rc = r->match.route->body->take(r, data, n, &used, &r->early);
        if (rc && !r->early.code) ad_fail(&r->early, rc, "the request body was refused");
        if (rc || used > n) used = n;
        r->received += used;
        return used;
    }
    r->received += n;
    rc = ad_buf_append(&r->body, data, n);
    if (rc == AD_E_TOO_LARGE)
        ad_fail(&r->early, rc, "request body is over the limit of %zu bytes", r->max_body);
    else if (rc)
        ad_fail(&r->early, rc, "out of memory reading the request body");
    return n;
}

/* Takes r off the suspended list and resumes it (under susp_mu).
 * libmicrohttpd only raises a flag here; its thread takes the connection
 * off its own suspended list later, and r counts as resumed until then. */
static void susp_resume(http_server *s, http_req *r)
{
    if (r->susp_prev)
        r->susp_prev->susp_next = r->susp_next;
    else
        s->susp_head = r->susp_next;
    if (r->susp_next) r->susp_next->susp_prev = r->susp_prev;
    r->susp_prev = r->susp_next = NULL;
    r->suspended = false;
    r->resumed = true;
    s->nresumed++;
    MHD_resume_connection(r->conn);
}

/* libmicrohttpd has the request back (its handler or completion runs). */
static void resumed_back(http_req *r)
{
    http_server *s = r->srv;
    pthread_mutex_lock(&s->susp_mu);
    if (r->resumed) {
        r->resumed = false;
        s->nresumed--;
    }
    pthread_mutex_unlock(&s->susp_mu);
}

/* The route is busy: suspends the request until http_req_resume, unless a
 * resume came in the meantime (then false: try again at once). While the
 * server stops, nothing is suspended: the request ends with 503. */
static bool suspend(http_req *r)
{
    http_server *s = r->srv;
    bool slept = false;
    pthread_mutex_lock(&s->susp_mu);
    if (s->stopping) {
        ad_fail(&r->early, AD_E_UNAVAILABLE, "the server is shutting down");
    } else if (r->wake) {
        r->wake = false;
    } else {
        r->suspended = true;
        r->susp_next = s->susp_head;
        if (s->susp_head) s->susp_head->susp_prev = r;
        s->susp_head = r;
        MHD_suspend_connection(r->conn);
        slept = true;
    }
    pthread_mutex_unlock(&s->susp_mu);
    return slept;
}

void http_req_resume(http_req *r)
{
    http_server *s = r->srv;
    pthread_mutex_lock(&s->susp_mu);
    if (r->suspended)
        susp_resume(s, r);
    else
        r->wake = true;
    pthread_mutex_unlock(&s->susp_mu);
}

/* Stopping: every suspended request is resumed (and ends with 503), and
 * this waits (a little) until libmicrohttpd's threads have taken them
 * back: it aborts when stopped while one is still on its suspended list. */
static void resume_all(http_server *s)
{
    struct timespec t0;
    int left;
    pthread_mutex_lock(&s->susp_mu);
    s->stopping = true;
    while (s->susp_head) susp_resume(s, s->susp_head);
    pthread_mutex_unlock(&s->susp_mu);
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        pthread_mutex_lock(&s->susp_mu);
        left = s->nresumed;
        pthread_mutex_unlock(&s->susp_mu);
        if (!left || elapsed_ms(&t0) > 5000) break;
        usleep(1000);
    }
    if (left) ad_log(AD_LOG_WARN, "msg=\"resumed requests not taken back\" count=%d", left);
}

/* Whether a declared body over the limit is refused before it is read. A
 * client that asked for "100-continue" has not sent the body yet, so the
 * answer is clean; other clients are already sending, and an answer now
 * would reach them as a reset connection, so for uploads (large bodies) we
 * read and drop the body first and answer at its end. */
static bool refuse_early(http_req *r)
{
    const char *expect = http_req_header(r, "Expect");
    if (!r->match.route || !(r->match.route->flags & HTTP_ROUTE_UPLOAD)) return true;
    return expect && strcasecmp(expect, "100-continue") == 0;
}

/* Whether r->early is a limit answered before the body (see refuse_early):
 * a body over its limit, too many uploads, too many connections. */
static bool refuse_now(http_req *r)
{
    ad_code c = r->early.code;
    if (c == AD_E_UNAUTHORIZED || c == AD_E_FORBIDDEN) return true;
    return (c == AD_E_TOO_LARGE || c == AD_E_TOO_MANY || c == AD_E_UNAVAILABLE) && refuse_early(r);
}

/* Takes one of the max_uploads slots for a request on an upload route, or
 * sets r->early to 429. The slot is freed when the request ends. */
static void take_upload_slot(http_req *r)
{
    http_server *s = r->srv;
    if (!(r->match.route->flags & HTTP_ROUTE_UPLOAD) || !s->opts.max_uploads) return;
    if (atomic_fetch_add(&s->uploads, 1) >= s->opts.max_uploads) {
        atomic_fetch_sub(&s->uploads, 1);
        add_retry_after(r);
        ad_fail(&r->early, AD_E_TOO_MANY,
                "%u uploads are in progress, the most this server takes at once; retry later",
                s->opts.max_uploads);
        return;
    }
    r->upload_slot = true;
}

static http_req *req_new(http_server *s, struct MHD_Connection *conn, const char *url,
                         const char *method)
{
    http_req *r = calloc(1, sizeof(*r));
    if (!r) return NULL;
    r->srv = s;
    r->conn = conn;
    r->method = method;
    r->path = url;
    r->status = 500;
    ad_buf_init(&r->body, 0);
    clock_gettime(CLOCK_MONOTONIC, &r->t0);
    return r;
}

static void req_free(http_req *r)
{
    size_t i;
    http_match_free(&r->match);
    ad_buf_free(&r->body);
    for (i = 0; i < r->nhdr; i++) free(r->hdr[i].name), free(r->hdr[i].value);
    for (i = 0; i < r->nscratch; i++) free(r->scratch[i]);
    free(r->scratch);
    if (r->free_ctx) r->free_ctx(r->ctx);
    if (r->upload_slot) atomic_fetch_sub(&r->srv->uploads, 1);
    free(r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    http_server *s = cls;
    http_req *r = *con_cls;
    (void)version;
    /* r->resumed is only set while r is suspended, when libmicrohttpd calls
     * nothing for it, so reading it here without the lock is safe */
    if (r && r->resumed) resumed_back(r);
    if (!r) {
        r = req_new(s, conn, url, method);
        if (!r) return MHD_NO;
        *con_cls = r;
        atomic_fetch_add(&s->active, 1);
        precheck(r);
        /* after precheck's authorization: a caller who may not upload
         * cannot take an upload slot */
        if (!r->early.code) take_upload_slot(r);
        if (refuse_now(r)) {
            /* refuse before reading a body we would throw away (a caller
             * who may not send it does not get to make us read it) */
            http_reply_error(r, r->early.code, r->early.msg);
            return r->queued;
        }
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t left = *upload_data_size;
        while (left && !r->early.code && !r->responded) {
            size_t used = take_body(r, upload_data, left);
            upload_data += used;
            left -= used;
            if (left && !r->early.code && suspend(r)) break; /* offered again on resume */
        }
        *upload_data_size = r->early.code || r->responded ? 0 : left;
        return MHD_YES;
    }
    if (r->responded) return r->queued;
    if (!r->early.code && r->match.route && r->match.route->body && r->match.route->body->done) {
        /* the route may still be busy with the body it took */
        while (!r->early.code && !r->match.route->body->done(r))
            if (suspend(r)) return MHD_YES; /* asked again on resume */
    }
    if (r->early.code)
        http_reply_error(r, r->early.code, r->early.msg);
    else
        r->match.route->fn(r);
    if (!r->responded) http_reply_error(r, AD_E_INTERNAL, "the handler produced no response");
    return r->queued;
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    http_server *s = cls;
    http_req *r = *con_cls;
    http_guard_request_end(conn); /* the next request's headers are due */
    if (!r) return;
    if (r->resumed) resumed_back(r);
    if (s->opts.access_log) {
        int status = r->responded ? r->status : 0;
        if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK && r->responded &&
            toe != MHD_REQUEST_TERMINATED_CLIENT_ABORT)
            ad_log(AD_LOG_WARN, "msg=\"response not completed\" path=\"%.200s\" reason=%d", r->path,
                   (int)toe);
        ad_log_access(r->method, r->path, status, r->bytes, elapsed_ms(&r->t0));
    }
    if (r->match.route && (r->match.route->flags & HTTP_ROUTE_AUDIT))
        ad_log_audit(r->user, r->method, r->path, r->responded ? r->status : 0, r->audit);
    req_free(r);
    *con_cls = NULL;
    atomic_fetch_sub(&s->active, 1);
}

static size_t identity_unescape(void *cls, struct MHD_Connection *c, char *s)
{
    (void)cls, (void)c;
    return strlen(s);
}

/* libmicrohttpd messages that only say a client went away (or was cut off
 * by the header deadline): debug, not warnings, or a slow-client attack
 * would flood the log with one warning per connection. */
static const char *const peer_gone[] = {
    "Connection socket is closed when reading request",
    "Socket has been disconnected when reading request",
};

static void mhd_logger(void *cls, const char *fmt, va_list ap)
{
    char msg[512];
    size_t n, i;
    ad_log_level level = AD_LOG_WARN;
    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '"')) msg[--n] = '\0';
    for (i = 0; i < sizeof(peer_gone) / sizeof(peer_gone[0]); i++)
        if (strncmp(msg, peer_gone[i], strlen(peer_gone[i])) == 0) level = AD_LOG_DEBUG;
    ad_log(level, "msg=\"httpd: %s\"", msg);
}

/* Parses "host:port" or "[v6]:port" into a socket address. */
static ad_code parse_listen(const char *spec, struct sockaddr_storage *ss, bool *v6, ad_error *err)
{
    char host[64];
    const char *colon;
    uint64_t port;
    size_t hlen;
    memset(ss, 0, sizeof(*ss));
    if (spec[0] == '[') {
        const char *end = strchr(spec, ']');
        if (!end || end[1] != ':') goto bad;
        hlen = (size_t)(end - spec - 1);
        if (hlen >= sizeof(host)) goto bad;
        memcpy(host, spec + 1, hlen);
        colon = end + 1;
    } else {
        colon = strrchr(spec, ':');
        if (!colon) goto bad;
        hlen = (size_t)(colon - spec);
        if (hlen >= sizeof(host)) goto bad;
        memcpy(host, spec, hlen);
    }
    host[hlen] = '\0';
    if (!ad_parse_u64(colon + 1, 65535, &port)) goto bad;
    if (strchr(host, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1) goto bad;
        *v6 = true;
    } else {
        struct sockaddr_in *a = (struct sockaddr_in *)ss;
        a->sin_family = AF_INET;
        a->sin_port = htons((uint16_t)port);
        if (strcmp(host, "localhost") == 0) snprintf(host, sizeof(host), "127.0.0.1");
        if (inet_pton(AF_INET, host, &a->sin_addr) != 1) goto bad;
        *v6 = false;
    }
    return AD_OK;
bad:
    return ad_fail(err, AD_E_BAD_REQUEST,
                   "listen address \"%s\": expected IPV4:PORT or [IPV6]:PORT", spec);
}

/* The per-connection memory of libmicrohttpd (request line, headers, the
 * read buffer): room for max_header_bytes, so that headers a little over
 * the limit get our 413 rather than the library's 431, twice over, and
 * room for the buffers. */
static size_t conn_memory(const http_server_opts *o)
{
    return o->max_header_bytes ? o->max_header_bytes * 2 + 16 * 1024 : 0;
}

/* The options that only some listeners take, as an MHD_OPTION_ARRAY. */
static void extra_options(http_server *s, struct MHD_OptionItem *opt)
{
    size_t n = 0;
    size_t mem = conn_memory(&s->opts);
    if (mem)
        opt[n++] = (struct MHD_OptionItem){MHD_OPTION_CONNECTION_MEMORY_LIMIT, (intptr_t)mem, NULL};
    if (s->tls) {
        opt[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_pem.cert};
        opt[n++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_pem.key};
        opt[n++] =
            (struct MHD_OptionItem){MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)HTTP_TLS_PRIORITIES};
    }
    opt[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
}

static ad_code start_one(http_server *s, const char *spec, ad_error *err)
{
    struct sockaddr_storage ss;
    struct MHD_OptionItem extra[8];
    bool v6 = false;
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG | MHD_ALLOW_SUSPEND_RESUME;
    const union MHD_DaemonInfo *info;
    struct MHD_Daemon *d;
    http_guard_listener *gl;
    ad_code rc = parse_listen(spec, &ss, &v6, err);
    if (rc) return rc;
    if (v6) flags |= MHD_USE_IPv6;
    if (s->tls) flags |= MHD_USE_TLS;
    gl = http_guard_add_listener(s->guard, s->opts.conn_limit);
    if (!gl) return ad_fail(err, AD_E_NOMEM, "out of memory");
    extra_options(s, extra);
    d = MHD_start_daemon(
        flags, 0, NULL, NULL, on_request, s, MHD_OPTION_EXTERNAL_LOGGER, mhd_logger, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
        (unsigned)(s->opts.threads ? s->opts.threads : 1), MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, s, MHD_OPTION_NOTIFY_CONNECTION, http_guard_notify, gl,
        MHD_OPTION_UNESCAPE_CALLBACK, identity_unescape, NULL, MHD_OPTION_CONNECTION_TIMEOUT,
        s->opts.conn_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        s->opts.conn_limit + HTTP_CONN_RESERVE(s->opts.conn_limit), MHD_OPTION_ARRAY, extra,
        MHD_OPTION_END);
    if (!d && s->tls)
        return ad_fail(err, AD_E_UNAVAILABLE,
                       "cannot listen on %s over TLS (address in use, or the certificate or key "
                       "was refused: see the log above)",
                       spec);
    if (!d) return ad_fail(err, AD_E_UNAVAILABLE, "cannot listen on %s (in use?)", spec);
    info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    s->ports[s->ndaemons] = info ? info->port : 0;
    s->daemons[s->ndaemons++] = d;
    ad_log(AD_LOG_INFO, "msg=listening addr=\"%s\" port=%u tls=%s", spec, s->ports[s->ndaemons - 1],
           s->tls ? "on" : "off");
    return AD_OK;
}

/* Raises the soft limit of open files to what the listeners may hold (the
 * usual soft limit of 1024 is below the default connection limit), or
 * warns that connections will be refused before the limit. */
static void ensure_fd_limit(const http_server_opts *o)
{
    struct rlimit rl;
    rlim_t need = (rlim_t)o->nlisten * (o->conn_limit + HTTP_CONN_RESERVE(o->conn_limit)) + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= need) return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max >= need ? need : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < need)
        ad_log(AD_LOG_WARN,
               "msg=\"the open file limit is below what the connection limit needs\" "
               "limit=%llu need=%llu",
               (unsigned long long)rl.rlim_cur, (unsigned long long)need);
}

/* Checks the TLS files and libmicrohttpd's TLS support. */
static ad_code load_tls(http_server *s, ad_error *err)
{
    const http_server_opts *o = &s->opts;
    if (!o->tls_cert_file && !o->tls_key_file) return AD_OK;
    if (!o->tls_cert_file || !o->tls_key_file)
        return ad_fail(err, AD_E_BAD_REQUEST, "TLS needs both a certificate and a key");
    if (MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES)
        return ad_fail(err, AD_E_UNAVAILABLE,
                       "this libmicrohttpd was built without TLS support (GnuTLS)");
    s->tls = true;
    return http_tls_load(o->tls_cert_file, o->tls_key_file, &s->tls_pem, err);
}

ad_code http_server_start(const http_server_opts *o, http_server **out, ad_error *err)
{
    http_server *s;
    size_t i;
    ad_code rc;
    *out = NULL;
    if (o->nlisten == 0 || o->nlisten > HTTP_MAX_LISTENERS)
        return ad_fail(err, AD_E_BAD_REQUEST, "between 1 and %d listen addresses are needed",
                       HTTP_MAX_LISTENERS);
    s = calloc(1, sizeof(*s));
    if (!s) return ad_fail(err, AD_E_NOMEM, "out of memory");
    s->opts = *o;
    atomic_init(&s->active, 0);
    atomic_init(&s->uploads, 0);
    pthread_mutex_init(&s->susp_mu, NULL);
    rc = load_tls(s, err);
    if (!rc) rc = http_guard_new(o->header_timeout_s, &s->guard, err);
    if (rc) {
        http_server_stop(s, 0);
        return rc;
    }
    ensure_fd_limit(o);
    for (i = 0; i < o->nlisten; i++) {
        rc = start_one(s, o->listen[i], err);
        if (rc) {
            http_server_stop(s, 0);
            return rc;
        }
    }
    *out = s;
    return AD_OK;
}

unsigned http_server_port(const http_server *s, size_t i)
{
    return i < s->ndaemons ? s->ports[i] : 0;
}

void http_server_stop(http_server *s, unsigned grace_ms)
{
    size_t i;
    struct timespec start;
    MHD_socket listen_fd[HTTP_MAX_LISTENERS];
    if (!s) return;
    /* quiescing hands the listening sockets back to us; they stay open until
     * the daemons stop, because the pool threads still remove them from
     * their epoll sets (libmicrohttpd aborts if they are already closed) */
    for (i = 0; i < s->ndaemons; i++) listen_fd[i] = MHD_quiesce_daemon(s->daemons[i]);
    /* a deadline on the monotonic clock: summing sleeps overruns when the
     * machine is busy */
    clock_gettime(CLOCK_MONOTONIC, &start);
    while (atomic_load(&s->active) > 0 && elapsed_ms(&start) < (double)grace_ms) usleep(10 * 1000);
    if (atomic_load(&s->active) > 0)
        ad_log(AD_LOG_WARN, "msg=\"stopping with requests still in flight\" count=%d",
               atomic_load(&s->active));
    resume_all(s); /* libmicrohttpd aborts when stopped with a suspended connection */
    for (i = 0; i < s->ndaemons; i++) {
        MHD_stop_daemon(s->daemons[i]);
        if (listen_fd[i] != MHD_INVALID_SOCKET) close(listen_fd[i]);
    }
    http_guard_free(s->guard); /* after the daemons: no connection is left */
    http_tls_pem_free(&s->tls_pem);
    pthread_mutex_destroy(&s->susp_mu);
    free(s);
}
