/*
 * s3_cleanup.c — removals the S3 store could not do when they were asked
 * for, retried until the service answers again.
 *
 * When S3 (RGW) goes away in the middle of a ZIP upload, the job fails and
 * asks for everything it stored to be removed, and the writer in flight
 * aborts its multipart upload — all while nothing answers. Without this
 * file those DELETEs fail after their retries and the objects and parts
 * stay in the bucket for good (nobody remembers them: the job store
 * forgets a finished job's keys). So a DELETE of an object or an
 * AbortMultipartUpload that ends "unavailable" is queued here, in memory,
 * and one thread per store sends it again, with a backoff from 1 s up to
 * 15 s while the service stays away, and at once when a readiness probe
 * (ping) finds it back. The queue is bounded (CLEANUP_MAX entries; past it
 * a removal is only logged).
 *
 * Safety of a late DELETE: a key queued for removal may be written again
 * before the retry (the port allows replacing a key). writer_open calls
 * s3_cleanup_forget first, which drops the key's queued DELETE and waits
 * while the thread is sending one for it, so a late retry never removes a
 * newer object written through this store. (Another assetd instance
 * writing the same key is not covered; ingest keys carry the upload's id,
 * so they are never written twice.) Aborting a multipart upload is always
 * safe: its upload id names it alone.
 *
 * What this does not cover: the process dying with entries queued. The
 * entries are logged when queued and when the store closes with some
 * left; the jobs of a crashed instance are cleaned by the instance that
 * takes them over (their keys are in the job store).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/s3_int.h"
#include "util/log.h"

#define CLEANUP_MAX    10000 /* queued removals per store */
#define DELAY_FIRST_MS 1000
#define DELAY_MAX_MS   15000
#define WHAT_MAX       420
#define LOG_KEY_MAX    300 /* bytes of a key quoted in a log line */

struct s3_pending {
    struct s3_pending *next;
    char *key;   /* full key (prefix applied) */
    char *query; /* "uploadId=…" (encoded) for an abort, NULL for a DELETE */
};

/* key for a log line: cut, quotes and control bytes replaced */
static const char *log_key(char *out, size_t cap, const char *key)
{
    size_t i;
    snprintf(out, cap, "%.*s", LOG_KEY_MAX, key);
    for (i = 0; out[i]; i++) {
        unsigned char c = (unsigned char)out[i];
        if (c == '"' || c == '\\' || c < 0x20 || c == 0x7f) out[i] = '?';
    }
    return out;
}

static void pending_free(s3_pending *p)
{
    if (!p) return;
    free(p->key);
    free(p->query);
    free(p);
}

ad_code s3_cleanup_init(s3_cleanup *q, s3_client *c, ad_error *err)
{
    memset(q, 0, sizeof(*q));
    q->cl = c;
    if (pthread_mutex_init(&q->lock, NULL) != 0)
        return ad_fail(err, AD_E_INTERNAL, "cannot create a mutex");
    if (pthread_cond_init(&q->cond, NULL) != 0) {
        pthread_mutex_destroy(&q->lock);
        return ad_fail(err, AD_E_INTERNAL, "cannot create a condition variable");
    }
    q->ready = true;
    return AD_OK;
}

/* One removal, sent once (the thread does its own backoff). */
static ad_code send_one(s3_cleanup *q, const s3_pending *p, ad_error *err)
{
    s3_req rq = {.method = "DELETE", .key = p->key, .query = p->query, .once = true};
    char what[WHAT_MAX];
    ad_code rc;
    s3_what(what, sizeof(what), p->query ? "DELETE (abort multipart upload)" : "DELETE",
            q->cl->conf.bucket, p->key);
    rc = s3_perform(q->cl, NULL, &rq, what, err);
    /* 404: already gone (NoSuchKey, NoSuchUpload) — done */
    if (!rc && rq.status != 204 && rq.status != 200 && rq.status != 404)
        rc = s3_fail(q->cl, &rq, what, err);
    s3_req_free(&rq);
    return rc;
}

static void add_ms(struct timespec *ts, long ms)
{
    ts->tv_sec += ms / 1000;
    ts->tv_nsec += (ms % 1000) * 1000000L;
    if (ts->tv_nsec >= 1000000000L) {
        ts->tv_sec++;
        ts->tv_nsec -= 1000000000L;
    }
}

/* The thread: takes the oldest entry, sends it; on "unavailable" puts it
 * back and waits longer; other failures are logged and dropped (retrying
 * a refusal would never end). */
static void *cleanup_main(void *arg)
{
    s3_cleanup *q = arg;
    long delay = 0;
    size_t done = 0;
    pthread_mutex_lock(&q->lock);
    for (;;) {
        s3_pending *p;
        ad_error err = {0};
        ad_code rc;
        char k[LOG_KEY_MAX + 1];
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        add_ms(&until, delay);
        while (!q->closing && !q->kicked && (!q->head || delay)) {
            if (!q->head)
                pthread_cond_wait(&q->cond, &q->lock);
            else if (pthread_cond_timedwait(&q->cond, &q->lock, &until) == ETIMEDOUT)
                break;
        }
        q->kicked = false;
        if (!q->head) {
            if (q->closing) break;
            continue;
        }
        p = q->head;
        q->head = p->next;
        if (!q->head) q->tail = NULL;
        q->count--;
        q->busy = p;
        pthread_mutex_unlock(&q->lock);
        rc = send_one(q, p, &err);
        pthread_mutex_lock(&q->lock);
        q->busy = NULL;
        pthread_cond_broadcast(&q->cond); /* for s3_cleanup_forget */
        if (rc == AD_E_UNAVAILABLE) {
            /* still away: back at the front, wait longer (at close: one try only) */
            p->next = q->head;
            q->head = p;
            if (!q->tail) q->tail = p;
            q->count++;
            delay = delay ? (delay * 2 > DELAY_MAX_MS ? DELAY_MAX_MS : delay * 2) : DELAY_FIRST_MS;
            if (q->closing) break;
            continue;
        }
        if (rc && rc != AD_E_UNAVAILABLE)
            ad_log(AD_LOG_ERROR, "msg=\"S3 cleanup gave up\" key=\"%s\" error=\"%s\"",
                   log_key(k, sizeof(k), p->key), err.msg);
        else if (!rc)
            done++;
        pending_free(p);
        delay = 0;
        if (!q->head && done) {
            ad_log(AD_LOG_INFO, "msg=\"S3 cleanup done after the service came back\" removed=%zu",
                   done);
            done = 0;
        }
    }
    pthread_mutex_unlock(&q->lock);
    return NULL;
}

void s3_cleanup_add(s3_cleanup *q, const char *key, const char *query)
{
    s3_pending *p;
    char k[LOG_KEY_MAX + 1];
    if (!q->ready) return;
    log_key(k, sizeof(k), key);
    pthread_mutex_lock(&q->lock);
    for (p = q->head; p; p = p->next) /* already queued */
        if (!strcmp(p->key, key) && (p->query ? query && !strcmp(p->query, query) : !query)) {
            pthread_mutex_unlock(&q->lock);
            return;
        }
    p = NULL;
    if (q->count >= CLEANUP_MAX || q->closing) {
        pthread_mutex_unlock(&q->lock);
        ad_log(AD_LOG_ERROR, "msg=\"S3 cleanup queue full: object left in the bucket\" key=\"%s\"",
               k);
        return;
    }
    if (!q->started) {
        if (pthread_create(&q->thread, NULL, cleanup_main, q) != 0) {
            pthread_mutex_unlock(&q->lock);
            ad_log(AD_LOG_ERROR,
                   "msg=\"cannot start the S3 cleanup thread: object left in the bucket\" "
                   "key=\"%s\"",
                   k);
            return;
        }
        q->started = true;
    }
    p = calloc(1, sizeof(*p));
    if (p) p->key = strdup(key);
    if (p && query) p->query = strdup(query);
    if (!p || !p->key || (query && !p->query)) {
        pthread_mutex_unlock(&q->lock);
        pending_free(p);
        ad_log(AD_LOG_ERROR, "msg=\"out of memory: object left in the bucket\" key=\"%s\"", k);
        return;
    }
    if (q->tail)
        q->tail->next = p;
    else
        q->head = p;
    q->tail = p;
    q->count++;
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    ad_log(AD_LOG_WARN, "msg=\"S3 unreachable: %s queued, retried until it answers\" key=\"%s\"",
           query ? "abort of a multipart upload" : "removal", k);
}

void s3_cleanup_forget(s3_cleanup *q, const char *key)
{
    s3_pending **pp;
    if (!q->ready) return;
    pthread_mutex_lock(&q->lock);
    for (pp = &q->head; *pp;) {
        s3_pending *p = *pp;
        if (!p->query && !strcmp(p->key, key)) {
            *pp = p->next;
            q->count--;
            pending_free(p);
        } else {
            pp = &p->next;
        }
    }
    q->tail = NULL;
    for (s3_pending *p = q->head; p; p = p->next) q->tail = p;
    while (q->busy && !q->busy->query && !strcmp(q->busy->key, key))
        pthread_cond_wait(&q->cond, &q->lock);
    pthread_mutex_unlock(&q->lock);
}

void s3_cleanup_kick(s3_cleanup *q)
{
    if (!q->ready) return;
    pthread_mutex_lock(&q->lock);
    if (q->head) {
        q->kicked = true;
        pthread_cond_broadcast(&q->cond);
    }
    pthread_mutex_unlock(&q->lock);
}

size_t s3_cleanup_pending(s3_cleanup *q)
{
    size_t n;
    if (!q->ready) return 0;
    pthread_mutex_lock(&q->lock);
    n = q->count + (q->busy ? 1 : 0);
    pthread_mutex_unlock(&q->lock);
    return n;
}

void s3_cleanup_close(s3_cleanup *q)
{
    size_t left = 0;
    if (!q->ready) return;
    pthread_mutex_lock(&q->lock);
    q->closing = true; /* one more pass, stopped by the first "unavailable" */
    pthread_cond_broadcast(&q->cond);
    pthread_mutex_unlock(&q->lock);
    if (q->started) pthread_join(q->thread, NULL);
    while (q->head) {
        s3_pending *p = q->head;
        char k[LOG_KEY_MAX + 1];
        q->head = p->next;
        ad_log(AD_LOG_WARN,
               "msg=\"S3 unreachable at shutdown: left in the bucket\" what=\"%s\" "
               "key=\"%s\"",
               p->query ? "multipart upload" : "object", log_key(k, sizeof(k), p->key));
        pending_free(p);
        left++;
    }
    if (left) ad_log(AD_LOG_WARN, "msg=\"S3 cleanup not finished at shutdown\" left=%zu", left);
    pthread_cond_destroy(&q->cond);
    pthread_mutex_destroy(&q->lock);
    q->ready = false;
}
