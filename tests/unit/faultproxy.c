/*
 * faultproxy.c — the fault-injecting TCP relay of the S3 tests; see
 * faultproxy.h. One accepting thread, one thread per connection relaying
 * both directions with poll(2). Every thread is joined and every socket
 * closed by faultproxy_stop (LeakSanitizer sees nothing left).
 */
#include "faultproxy.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_CONNS 512

typedef struct conn {
    faultproxy *p;
    int cfd, sfd;
    pthread_t th;
} conn;

struct faultproxy {
    int lfd, port, upstream;
    pthread_t th;
    atomic_int stop;
    pthread_mutex_t mu;
    int fail_next, cut_next, cut_s2c;
    uint64_t cut_after;
    unsigned cut_gen; /* bumped by every faultproxy_cut_next */
    int accepted, failed, cut;
    conn *conns[MAX_CONNS];
    int nconns;
};

static void write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t k = send(fd, p, n, MSG_NOSIGNAL);
        if (k <= 0) return;
        p += k, n -= (size_t)k;
    }
}

/* Reads a request head (and whatever follows it in the same reads), then
 * answers 503 SlowDown and closes. */
static void answer_503(int cfd)
{
    static const char body[] = "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>SlowDown"
                               "</Code><Message>injected by the test proxy</Message></Error>";
    char buf[65536], head[256];
    size_t got = 0;
    while (got < sizeof(buf) - 1) {
        ssize_t k = recv(cfd, buf + got, sizeof(buf) - 1 - got, 0);
        if (k <= 0) break;
        got += (size_t)k;
        buf[got] = '\0';
        if (strstr(buf, "\r\n\r\n")) break;
    }
    snprintf(head, sizeof(head),
             "HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/xml\r\n"
             "Content-Length: %zu\r\nConnection: close\r\n\r\n",
             sizeof(body) - 1);
    write_all(cfd, head, strlen(head));
    write_all(cfd, body, sizeof(body) - 1);
    shutdown(cfd, SHUT_RDWR);
}

static void *relay(void *arg)
{
    conn *c = arg;
    faultproxy *p = c->p;
    uint64_t moved[2] = {0, 0}; /* [0] client→server, [1] server→client */
    uint64_t base[2] = {0, 0};  /* moved[] when the current cut was armed */
    unsigned gen = 0;
    int fail;
    char buf[65536];

    pthread_mutex_lock(&p->mu);
    fail = p->fail_next > 0;
    if (fail) p->fail_next--, p->failed++;
    pthread_mutex_unlock(&p->mu);
    if (fail) {
        answer_503(c->cfd);
        return NULL;
    }
    for (;;) {
        struct pollfd fds[2] = {{c->cfd, POLLIN, 0}, {c->sfd, POLLIN, 0}};
        int r = poll(fds, 2, 200);
        if (p->stop) break;
        if (r <= 0) continue;
        for (int i = 0; i < 2; i++) {
            int from = i == 0 ? c->cfd : c->sfd, to = i == 0 ? c->sfd : c->cfd;
            ssize_t k;
            if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            k = recv(from, buf, sizeof(buf), 0);
            if (k <= 0) goto done;
            { /* a cut pending for this direction, and this read crosses it */
                uint64_t after = 0;
                int take = 0;
                pthread_mutex_lock(&p->mu);
                if (gen != p->cut_gen) { /* counted from when the cut was armed */
                    gen = p->cut_gen;
                    base[0] = moved[0], base[1] = moved[1];
                }
                if (p->cut_next > 0 && (p->cut_s2c ? 1 : 0) == i &&
                    moved[i] - base[i] + (uint64_t)k > p->cut_after &&
                    moved[i] - base[i] <= p->cut_after) {
                    p->cut_next--, p->cut++, take = 1;
                    after = p->cut_after - (moved[i] - base[i]);
                }
                pthread_mutex_unlock(&p->mu);
                if (take) {
                    write_all(to, buf, (size_t)after);
                    goto done; /* the connection breaks mid-transfer */
                }
            }
            write_all(to, buf, (size_t)k);
            moved[i] += (uint64_t)k;
        }
    }
done:
    shutdown(c->cfd, SHUT_RDWR);
    shutdown(c->sfd, SHUT_RDWR);
    return NULL;
}

static void *accept_loop(void *arg)
{
    faultproxy *p = arg;
    while (!p->stop) {
        struct pollfd pfd = {p->lfd, POLLIN, 0};
        struct sockaddr_in up = {0};
        conn *c;
        int cfd;
        if (poll(&pfd, 1, 200) <= 0) continue;
        cfd = accept(p->lfd, NULL, NULL);
        if (cfd < 0) continue;
        c = calloc(1, sizeof(*c));
        if (!c) {
            close(cfd);
            continue;
        }
        c->p = p, c->cfd = cfd;
        c->sfd = socket(AF_INET, SOCK_STREAM, 0);
        up.sin_family = AF_INET;
        up.sin_port = htons((uint16_t)p->upstream);
        up.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        pthread_mutex_lock(&p->mu);
        p->accepted++;
        if (p->nconns == MAX_CONNS || connect(c->sfd, (struct sockaddr *)&up, sizeof(up)) != 0 ||
            pthread_create(&c->th, NULL, relay, c) != 0) {
            pthread_mutex_unlock(&p->mu);
            close(c->cfd), close(c->sfd), free(c);
            continue;
        }
        p->conns[p->nconns++] = c;
        pthread_mutex_unlock(&p->mu);
    }
    return NULL;
}

faultproxy *faultproxy_start(int upstream_port)
{
    faultproxy *p = calloc(1, sizeof(*p));
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int one = 1;
    if (!p) return NULL;
    p->upstream = upstream_port;
    pthread_mutex_init(&p->mu, NULL);
    p->lfd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(p->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (p->lfd < 0 || bind(p->lfd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        listen(p->lfd, 64) != 0 || getsockname(p->lfd, (struct sockaddr *)&a, &len) != 0 ||
        pthread_create(&p->th, NULL, accept_loop, p) != 0) {
        if (p->lfd >= 0) close(p->lfd);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return NULL;
    }
    p->port = ntohs(a.sin_port);
    return p;
}

int faultproxy_port(const faultproxy *p)
{
    return p->port;
}

void faultproxy_fail_next(faultproxy *p, int n)
{
    pthread_mutex_lock(&p->mu);
    p->fail_next = n;
    pthread_mutex_unlock(&p->mu);
}

void faultproxy_cut_next(faultproxy *p, int n, uint64_t after_bytes, int s2c)
{
    pthread_mutex_lock(&p->mu);
    p->cut_next = n, p->cut_after = after_bytes, p->cut_s2c = s2c;
    p->cut_gen++;
    pthread_mutex_unlock(&p->mu);
}

void faultproxy_counts(faultproxy *p, int *accepted, int *failed, int *cut)
{
    pthread_mutex_lock(&p->mu);
    *accepted = p->accepted, *failed = p->failed, *cut = p->cut;
    pthread_mutex_unlock(&p->mu);
}

void faultproxy_stop(faultproxy *p)
{
    if (!p) return;
    p->stop = 1;
    pthread_join(p->th, NULL);
    for (int i = 0; i < p->nconns; i++) {
        conn *c = p->conns[i];
        shutdown(c->cfd, SHUT_RDWR);
        shutdown(c->sfd, SHUT_RDWR);
        pthread_join(c->th, NULL);
        close(c->cfd);
        close(c->sfd);
        free(c);
    }
    close(p->lfd);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
