/*
 * guard.c — the connection guard (see guard.h): a soft connection limit per
 * listener, and a deadline for request headers against slow clients.
 *
 * Why by hand: libmicrohttpd 0.9.75 has an idle timeout
 * (MHD_OPTION_CONNECTION_TIMEOUT) but no header timeout, and the idle timer
 * restarts with every byte, so a client that trickles one header byte every
 * few seconds holds its connection (and a slot of the connection limit)
 * for ever: the slowloris attack. No option, callback or connection state
 * of the library bounds the total time of a request's headers.
 *
 * How: MHD_OPTION_NOTIFY_CONNECTION tells us when a connection opens and
 * closes; we keep every open connection in a list with its socket and a
 * deadline (accept + header timeout). The access handler's first call is
 * the moment the headers are complete: http_guard_request_begin clears the
 * deadline, and the end of the request (MHD_OPTION_NOTIFY_COMPLETED) sets
 * the next one (now + header timeout), so a kept-alive connection must
 * start its next request just as promptly; an idle kept-alive connection
 * is closed after the header timeout like a slow one. A watchdog thread
 * sweeps the list a few times a second and calls shutdown(2) on the socket
 * of each connection past its deadline. shutdown does not close the
 * descriptor, so it cannot hit a reused number, and it wakes the
 * connection's epoll thread with an end of file, so libmicrohttpd closes
 * the connection itself, through its normal path, in its own thread (the
 * library is not thread-safe for a connection's state, so the watchdog
 * never touches anything but the socket). libmicrohttpd sends the CLOSED
 * notification before it closes the descriptor, and the list is changed
 * and swept under one mutex, so the watchdog never shuts down a descriptor
 * that was closed. With TLS the same holds: the handshake counts against
 * the deadline and GnuTLS sees the end of file.
 *
 * The deadline is an atomic read by the watchdog without a lock on the
 * request path; the list mutex is taken only when a connection opens or
 * closes and during a sweep. A request whose headers complete in the very
 * sweep that finds it late may be cut: it was late.
 *
 * The soft limit: libmicrohttpd's own connection limit stops accepting, so
 * the next clients wait in the kernel's listen queue with no answer. The
 * server sets libmicrohttpd's limit a little higher than the configured one
 * and the guard marks the connections accepted past the configured limit;
 * their requests are answered 503 and closed (server.c).
 */
#include "http/guard.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "util/log.h"

#define GUARD_SWEEP_MAX_MS 250 /* sweep at least this often */

typedef struct guard_conn {
    struct guard_conn *prev, *next;
    http_guard_listener *l;
    MHD_socket fd;
    atomic_llong deadline_ms; /* monotonic; 0 while a request is served */
    bool over;                /* accepted past the listener's soft limit */
    bool cut;                 /* shut down by the watchdog */
} guard_conn;

struct http_guard_listener {
    http_guard *g;
    unsigned limit;
    unsigned open; /* under g->lock */
    http_guard_listener *next;
};

struct http_guard {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t thread;
    bool stopping;
    long long timeout_ms;
    long long sweep_ms;
    guard_conn head; /* sentinel of a circular list */
    http_guard_listener *listeners;
};

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* The deadline of a request whose wait starts now (0: none). */
static long long deadline_from_now(const http_guard *g)
{
    return g->timeout_ms ? now_ms() + g->timeout_ms : 0;
}

/* Shuts down the connections past their deadline; returns how many. */
static unsigned sweep(http_guard *g)
{
    long long now = now_ms();
    unsigned n = 0;
    guard_conn *c;
    for (c = g->head.next; c != &g->head; c = c->next) {
        long long d = atomic_load(&c->deadline_ms);
        if (c->cut || d == 0 || d > now) continue;
        /* ENOTCONN: the peer is gone already; libmicrohttpd will notice */
        if (shutdown(c->fd, SHUT_RDWR) == 0 || errno == ENOTCONN) n++;
        c->cut = true;
    }
    return n;
}

static void *watchdog(void *arg)
{
    http_guard *g = arg;
    pthread_mutex_lock(&g->lock);
    while (!g->stopping) {
        struct timespec until;
        unsigned cut = sweep(g);
        if (cut) {
            pthread_mutex_unlock(&g->lock);
            ad_log(AD_LOG_INFO,
                   "msg=\"closed connections that sent no complete request headers in time\" "
                   "count=%u header_timeout_s=%lld",
                   cut, g->timeout_ms / 1000);
            pthread_mutex_lock(&g->lock);
            continue;
        }
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_nsec += (long)(g->sweep_ms % 1000) * 1000000;
        until.tv_sec += (time_t)(g->sweep_ms / 1000) + until.tv_nsec / 1000000000;
        until.tv_nsec %= 1000000000;
        pthread_cond_timedwait(&g->wake, &g->lock, &until);
    }
    pthread_mutex_unlock(&g->lock);
    return NULL;
}

ad_code http_guard_new(unsigned header_timeout_s, http_guard **out, ad_error *err)
{
    pthread_condattr_t ca;
    http_guard *g;
    int rc;
    *out = NULL;
    g = calloc(1, sizeof(*g));
    if (!g) return ad_fail(err, AD_E_NOMEM, "out of memory");
    g->timeout_ms = (long long)header_timeout_s * 1000;
    g->sweep_ms = g->timeout_ms / 4 < GUARD_SWEEP_MAX_MS ? g->timeout_ms / 4 : GUARD_SWEEP_MAX_MS;
    if (g->sweep_ms < 10) g->sweep_ms = GUARD_SWEEP_MAX_MS; /* 0: no deadline */
    g->head.next = g->head.prev = &g->head;
    pthread_mutex_init(&g->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&g->wake, &ca);
    pthread_condattr_destroy(&ca);
    rc = pthread_create(&g->thread, NULL, watchdog, g);
    if (rc) {
        pthread_cond_destroy(&g->wake);
        pthread_mutex_destroy(&g->lock);
        free(g);
        return ad_fail(err, AD_E_INTERNAL, "cannot start the connection watchdog: %s",
                       strerror(rc));
    }
    *out = g;
    return AD_OK;
}

void http_guard_free(http_guard *g)
{
    http_guard_listener *l, *next;
    guard_conn *c, *cnext;
    if (!g) return;
    pthread_mutex_lock(&g->lock);
    g->stopping = true;
    pthread_cond_signal(&g->wake);
    pthread_mutex_unlock(&g->lock);
    pthread_join(g->thread, NULL);
    /* stopped daemons have closed every connection; this is only a net */
    for (c = g->head.next; c != &g->head; c = cnext) {
        cnext = c->next;
        free(c);
    }
    for (l = g->listeners; l; l = next) {
        next = l->next;
        free(l);
    }
    pthread_cond_destroy(&g->wake);
    pthread_mutex_destroy(&g->lock);
    free(g);
}

http_guard_listener *http_guard_add_listener(http_guard *g, unsigned soft_limit)
{
    http_guard_listener *l = calloc(1, sizeof(*l));
    if (!l) return NULL;
    l->g = g;
    l->limit = soft_limit;
    pthread_mutex_lock(&g->lock);
    l->next = g->listeners;
    g->listeners = l;
    pthread_mutex_unlock(&g->lock);
    return l;
}

static void conn_open(http_guard_listener *l, struct MHD_Connection *conn, void **socket_context)
{
    http_guard *g = l->g;
    const union MHD_ConnectionInfo *fd =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    guard_conn *c = fd ? calloc(1, sizeof(*c)) : NULL;
    *socket_context = c;
    if (!c) {
        /* an untracked connection would escape the deadline: refuse it */
        if (fd) shutdown(fd->connect_fd, SHUT_RDWR);
        return;
    }
    c->l = l;
    c->fd = fd->connect_fd;
    atomic_init(&c->deadline_ms, deadline_from_now(g));
    pthread_mutex_lock(&g->lock);
    c->over = ++l->open > l->limit;
    c->next = &g->head;
    c->prev = g->head.prev;
    g->head.prev->next = c;
    g->head.prev = c;
    pthread_mutex_unlock(&g->lock);
}

static void conn_close(void **socket_context)
{
    guard_conn *c = *socket_context;
    http_guard *g;
    if (!c) return;
    g = c->l->g;
    pthread_mutex_lock(&g->lock);
    c->prev->next = c->next;
    c->next->prev = c->prev;
    c->l->open--;
    pthread_mutex_unlock(&g->lock);
    free(c);
    *socket_context = NULL;
}

void http_guard_notify(void *cls, struct MHD_Connection *conn, void **socket_context,
                       enum MHD_ConnectionNotificationCode toe)
{
    if (toe == MHD_CONNECTION_NOTIFY_STARTED)
        conn_open(cls, conn, socket_context);
    else if (toe == MHD_CONNECTION_NOTIFY_CLOSED)
        conn_close(socket_context);
}

static guard_conn *conn_of(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *i =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return i ? i->socket_context : NULL;
}

bool http_guard_request_begin(struct MHD_Connection *conn)
{
    guard_conn *c = conn_of(conn);
    if (!c) return false;
    atomic_store(&c->deadline_ms, 0);
    return c->over;
}

void http_guard_request_end(struct MHD_Connection *conn)
{
    guard_conn *c = conn_of(conn);
    if (c) atomic_store(&c->deadline_ms, deadline_from_now(c->l->g));
}
