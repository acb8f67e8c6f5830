/*
 * zip_upload.c — POST /zip/upload and GET /zip/status/{upload_id}.
 *
 * Two threads per upload. libmicrohttpd's thread only copies the body into
 * a ring of RING_SIZE bytes; when the ring is full the request is
 * suspended (http_req_resume wakes it once half of it is free), so that
 * thread never waits for the disk or a store while other connections wait
 * for it (libmicrohttpd's rule for thread pools). The upload's own thread
 * does everything else below, and at the end of the body settles the
 * upload (the job queued, or the error) before the handler answers.
 *
 * The upload body is parsed as it arrives (http/multipart.h): the bytes of
 * the form field `file` go to a spool file <data>/spool/<id>.zip through
 * one SPOOL_BUF buffer per upload (libmicrohttpd hands the body over in
 * pieces of about 16 KiB; one write(2) per piece cost more than the copy
 * into the buffer), never wholly into memory; other fields are read and
 * dropped, except `bucket`: the bucket the files go into, which must come
 * before the file part (so a bad one is refused before the archive is
 * received: 400 when it does not exist, 409 when it is not Ready). Without
 * it the files go into --default-bucket, or the main store when there is
 * none. Once the body is
 * complete the job is queued in the job store and the client gets 202 with
 * the upload id; the ingest workers (core/ingest.h) do the rest.
 *
 * Unless uploads are staged, the body also runs through core/zipspec.h as
 * it arrives: the big stored entries it recognises go straight into the
 * blob store (under the keys the job would give them) and leave holes of
 * the same length in the spool, listed in a manifest <id>.spec beside it;
 * the job checks them against the central directory instead of reading
 * them again (--store-while-uploading, on by default).
 *
 * When uploads are staged (--stage-uploads: by default when the job store
 * is shared by several instances), the same bytes stream into the blob
 * store as "uploads/<id>.zip" instead, committed only once the body is
 * complete, so whichever instance claims the job can fetch its archive.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "api/api.h"
#include "core/buckets.h"
#include "core/ingest.h"
#include "core/uuid.h"
#include "core/zipspec.h"
#include "http/multipart.h"
#include "util/log.h"
#include "util/str.h"

#define SPOOL_BUF      ((size_t)1 << 20)   /* bytes gathered per write to the spool */
#define SPOOL_STEP     ((uint64_t)8 << 20) /* bytes between two writeback requests */
#define RING_SIZE      ((size_t)2 << 20)   /* body bytes between the two threads */
#define RING_WAKE      ((size_t)256 << 10) /* bytes that wake the upload's thread */
#define RING_LINGER_MS 5L                  /* longest wait for them once some bytes are in */

typedef struct upload {
    ad_app *app;
    http_multipart *mp;
    int fd;
    ad_blob_writer *bw; /* staging: the blob store writer instead of fd */
    bool staged;        /* the staged object was committed */
    char *buf;          /* SPOOL_BUF bytes not yet written */
    size_t nbuf;
    uint64_t written, kicked, dropped; /* spool bytes written, sent to disk, dropped */
    uint64_t hole;                     /* bytes to skip before the next write */
    char id[AD_UUID_LEN + 1];
    char path[PATH_MAX];
    bool in_file, file_seen, file_done, handed_off;
    bool in_bucket;                      /* reading the `bucket` field */
    char bucket[AD_BUCKET_NAME_MAX + 1]; /* its value ("" when not given) */
    size_t nbucket;
    unsigned char sig[4];
    size_t nsig;
    uint64_t size;
    ad_zipspec *zs; /* the speculation (spooled uploads), or NULL */
    /* the receiver: libmicrohttpd's thread copies the body into the ring,
     * the upload's own thread does the rest (see the file's comment) */
    http_req *req;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    char *ring;
    uint64_t in, out;     /* ring bytes put, taken (RING_SIZE apart at most) */
    bool eof, stop, done; /* body complete; upload ending; thread finished */
    bool waiting;         /* the request is (being) suspended for room or done */
    bool idle;            /* the upload's thread sleeps until RING_WAKE bytes (or the end) */
    ad_error error;       /* the first failure of the thread */
} upload;

static void staged_key(const upload *u, char *key, size_t cap)
{
    snprintf(key, cap, "uploads/%s.zip", u->id);
}

static void upload_free(void *p)
{
    upload *u = p;
    if (u->started) {
        pthread_mutex_lock(&u->mu);
        u->stop = true;
        pthread_cond_signal(&u->cv);
        pthread_mutex_unlock(&u->mu);
        pthread_join(u->thread, NULL);
    }
    pthread_mutex_destroy(&u->mu);
    pthread_cond_destroy(&u->cv);
    free(u->ring);
    if (u->fd >= 0) close(u->fd);
    if (u->zs && !u->handed_off) ad_zipspec_discard(u->zs);
    ad_zipspec_free(u->zs);
    if (!u->handed_off && u->path[0] && !u->staged) unlink(u->path);
    if (u->bw) u->app->blobs->ops->writer_abort(u->bw);
    if (!u->handed_off && u->staged) {
        char key[64];
        staged_key(u, key, sizeof(key));
        u->app->blobs->ops->remove(u->app->blobs, key, NULL);
    }
    if (u->mp) http_multipart_free(u->mp);
    free(u->buf);
    free(u);
}

static ad_code write_fd(upload *u, const char *p, size_t n, ad_error *err)
{
    if (u->bw) return u->app->blobs->ops->writer_write(u->bw, p, n, err);
    while (n) {
        ssize_t w = write(u->fd, p, n);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return ad_fail(err, errno == ENOSPC ? AD_E_UNAVAILABLE : AD_E_BACKEND,
                           "cannot spool the upload: %s", strerror(errno));
        p += w;
        n -= (size_t)w;
    }
    return AD_OK;
}

/* Every SPOOL_STEP bytes: starts writing the new range to the disk, waits
 * for the range before it and drops that one from the page cache. The job
 * reads the spool soon, but keeping gigabytes of it cached costs more than
 * reading it back: on a virtual machine every page never touched (or
 * handed back to the host) costs a fault in the host when first written,
 * and recycling a few megabytes of pages avoids that (see the ZIP ingest
 * section of docs/BENCHMARKS.md). */
static void spool_writeback(upload *u)
{
#ifdef SYNC_FILE_RANGE_WRITE
    sync_file_range(u->fd, (off_t)u->kicked, (off_t)(u->written - u->kicked),
                    SYNC_FILE_RANGE_WRITE);
    if (u->kicked > u->dropped &&
        sync_file_range(u->fd, (off_t)u->dropped, (off_t)(u->kicked - u->dropped),
                        SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE |
                            SYNC_FILE_RANGE_WAIT_AFTER) == 0)
        posix_fadvise(u->fd, (off_t)u->dropped, (off_t)(u->kicked - u->dropped),
                      POSIX_FADV_DONTNEED);
    u->dropped = u->kicked;
#endif
    u->kicked = u->written;
}

static ad_code skip_hole(upload *u, ad_error *err);

static ad_code flush_buf(upload *u, ad_error *err)
{
    ad_code rc = u->nbuf ? skip_hole(u, err) : AD_OK;
    if (!rc) rc = write_fd(u, u->buf, u->nbuf, err);
    u->written += u->nbuf;
    u->nbuf = 0;
    if (!rc && u->fd >= 0 && u->written - u->kicked >= SPOOL_STEP) spool_writeback(u);
    return rc;
}

/* Skips n bytes of the spool (stored by the speculation): a hole, made
 * when the next bytes are written (one seek per entry, not per piece). */
static ad_code spool_hole(void *ctx, uint64_t n, ad_error *err)
{
    upload *u = ctx;
    ad_code rc = u->nbuf ? flush_buf(u, err) : AD_OK;
    u->hole += n;
    return rc;
}

static ad_code skip_hole(upload *u, ad_error *err)
{
    if (!u->hole) return AD_OK;
    if (lseek(u->fd, (off_t)u->hole, SEEK_CUR) < 0)
        return ad_fail(err, AD_E_BACKEND, "cannot spool the upload: %s", strerror(errno));
    u->written += u->hole;
    u->hole = 0;
    return AD_OK;
}

static ad_code write_all(upload *u, const char *p, size_t n, ad_error *err);

static ad_code spool_bytes(void *ctx, const char *p, size_t n, ad_error *err)
{
    return write_all(ctx, p, n, err);
}

/* Appends to the spool through the buffer. */
static ad_code write_all(upload *u, const char *p, size_t n, ad_error *err)
{
    while (n) {
        size_t k = SPOOL_BUF - u->nbuf;
        ad_code rc;
        if (k > n) k = n;
        memcpy(u->buf + u->nbuf, p, k);
        u->nbuf += k;
        p += k;
        n -= k;
        if (u->nbuf == SPOOL_BUF && (rc = flush_buf(u, err))) return rc;
    }
    return AD_OK;
}

static bool zip_signature(const unsigned char *s)
{
    /* a local file header, or the end record of an empty archive */
    return s[0] == 'P' && s[1] == 'K' &&
           ((s[2] == 3 && s[3] == 4) || (s[2] == 5 && s[3] == 6) || (s[2] == 7 && s[3] == 8));
}

/* The bucket an upload names (or the default one) must exist and be Ready. */
static ad_code bucket_check(ad_app *app, const char *name, ad_error *err)
{
    char why[AD_ERROR_MSG_MAX];
    bool ready = false;
    ad_code rc;
    if (!app->buckets) return ad_fail(err, AD_E_BAD_REQUEST, "bucket: this server has no buckets");
    rc = ad_buckets_ready(app->buckets, name, &ready, why, sizeof(why), err);
    if (rc == AD_E_NOT_FOUND)
        return ad_fail(err, AD_E_BAD_REQUEST, "bucket: no bucket named \"%.60s\"", name);
    if (rc) return rc;
    if (!ready) return ad_fail(err, AD_E_CONFLICT, "bucket: %s", why);
    return AD_OK;
}

static ad_code archive_bytes(upload *u, const char *p, size_t n, ad_error *err)
{
    return u->zs ? ad_zipspec_feed(u->zs, p, n, err) : write_all(u, p, n, err);
}

/* The file part begins: the bucket is settled (the one named, else the
 * default) and, for a spooled upload, the speculation starts. */
static ad_code file_begin(upload *u, ad_error *err)
{
    static const ad_zipspec_sink sink = {spool_bytes, spool_hole, NULL};
    ad_zipspec_sink k = sink;
    ad_zipspec_opts o = {0};
    ad_app *app = u->app;
    char manifest[PATH_MAX];
    ad_code rc;
    if (!u->bucket[0] && app->buckets && ad_buckets_default(app->buckets)) {
        snprintf(u->bucket, sizeof(u->bucket), "%s", ad_buckets_default(app->buckets));
        if ((rc = bucket_check(app, u->bucket, err))) return rc;
    }
    if (u->fd < 0 || !app->store_while_uploading) return AD_OK;
    if (!ad_zipspec_manifest_path(u->path, manifest, sizeof(manifest)))
        return ad_fail(err, AD_E_INTERNAL, "spool path too long");
    o.upload_id = u->id;
    o.bucket = u->bucket[0] ? u->bucket : NULL;
    o.blobs = app->blobs;
    if (o.bucket && (rc = ad_buckets_store(app->buckets, o.bucket, &o.blobs, err))) return rc;
    o.manifest = manifest;
    o.limits = app->zip_limits;
    k.ctx = u;
    return ad_zipspec_new(&o, &k, &u->zs, err);
}

static ad_code part_begin(void *ctx, const char *name, const char *filename, ad_error *err)
{
    upload *u = ctx;
    (void)filename;
    if (strcmp(name, "bucket") == 0) {
        if (u->file_seen)
            return ad_fail(err, AD_E_BAD_REQUEST, "bucket: the field must come before the file");
        u->in_bucket = true;
        u->nbucket = 0;
        u->bucket[0] = '\0';
    }
    u->in_file = strcmp(name, "file") == 0 && !u->file_seen;
    if (u->in_file) u->file_seen = true;
    return u->in_file ? file_begin(u, err) : AD_OK;
}

static ad_code part_data(void *ctx, const char *p, size_t n, ad_error *err)
{
    upload *u = ctx;
    if (u->in_bucket) {
        if (n > AD_BUCKET_NAME_MAX - u->nbucket)
            return ad_fail(err, AD_E_BAD_REQUEST, "bucket: at most %d bytes", AD_BUCKET_NAME_MAX);
        memcpy(u->bucket + u->nbucket, p, n);
        u->nbucket += n;
        u->bucket[u->nbucket] = '\0';
        return AD_OK;
    }
    if (!u->in_file) return AD_OK;
    while (u->nsig < 4 && n) {
        u->sig[u->nsig++] = (unsigned char)*p;
        p++, n--;
        if (u->nsig < 4) continue;
        if (!zip_signature(u->sig))
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "the file field is not a zip archive (no PK signature)");
        if (archive_bytes(u, (const char *)u->sig, 4, err)) return err->code;
        u->size += 4;
    }
    if (!n) return AD_OK;
    u->size += n;
    return archive_bytes(u, p, n, err);
}

static ad_code part_end(void *ctx, ad_error *err)
{
    upload *u = ctx;
    if (u->in_bucket) {
        u->in_bucket = false;
        if (!u->nbucket) return ad_fail(err, AD_E_BAD_REQUEST, "bucket: empty");
        if (memchr(u->bucket, '\0', u->nbucket) || ad_bucket_name_check(u->bucket, NULL))
            return ad_fail(err, AD_E_BAD_REQUEST, "bucket: no bucket named \"%.60s\"", u->bucket);
        return bucket_check(u->app, u->bucket, err);
    }
    if (u->in_file) u->file_done = true;
    u->in_file = false;
    return AD_OK;
}

static const http_mp_callbacks mp_callbacks = {part_begin, part_data, part_end};

static ad_code check_length(http_req *r, ad_app *app, ad_error *err)
{
    const char *cl = http_req_header(r, "Content-Length");
    uint64_t n;
    if (http_req_body_received(r) > app->upload_max ||
        (cl && ad_parse_u64(cl, UINT64_MAX, &n) && n > app->upload_max))
        return ad_fail(err, AD_E_TOO_LARGE, "upload is over the limit of %llu bytes",
                       (unsigned long long)app->upload_max);
    return AD_OK;
}

static void *receiver(void *p);

/* The first chunk: checks the request, creates the spool file (or the
 * staging writer) and starts the upload's thread. */
static ad_code upload_begin(http_req *r, upload **out, ad_error *err)
{
    ad_app *app = api_app(r);
    char boundary[HTTP_MP_BOUNDARY_MAX + 1];
    upload *u;
    ad_code rc = http_multipart_boundary(http_req_header(r, "Content-Type"), boundary, err);
    if (rc) return rc;
    u = calloc(1, sizeof(*u));
    if (!u) return ad_fail(err, AD_E_NOMEM, "out of memory");
    u->fd = -1;
    u->app = app;
    u->req = r;
    pthread_mutex_init(&u->mu, NULL);
    pthread_cond_init(&u->cv, NULL);
    http_req_set_ctx(r, u, upload_free);
    u->mp = http_multipart_new(boundary, &mp_callbacks, u);
    u->buf = malloc(SPOOL_BUF);
    u->ring = malloc(RING_SIZE);
    if (!u->mp || !u->buf || !u->ring) return ad_fail(err, AD_E_NOMEM, "out of memory");
    ad_uuid4(u->id);
    if (app->stage_uploads) {
        char key[64];
        staged_key(u, key, sizeof(key));
        rc = app->blobs->ops->writer_open(app->blobs, key, &u->bw, err);
    } else if ((size_t)snprintf(u->path, sizeof(u->path), "%s/%s.zip", app->spool_dir, u->id) >=
               sizeof(u->path)) {
        rc = ad_fail(err, AD_E_INTERNAL, "spool path too long");
    } else {
        u->fd = open(u->path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (u->fd < 0) {
            u->path[0] = '\0';
            rc = ad_fail(err, AD_E_BACKEND, "cannot create the spool file: %s", strerror(errno));
        }
    }
    if (rc) return rc;
    if (pthread_create(&u->thread, NULL, receiver, u) != 0)
        return ad_fail(err, AD_E_INTERNAL, "cannot start the upload's thread");
    u->started = true;
    *out = u;
    return AD_OK;
}

/* libmicrohttpd's thread: copies what fits into the ring. When it is full
 * the request sleeps (http_req_resume wakes it) instead of this thread
 * waiting for the disk or the store while other connections wait for it. */
ad_code api_zip_upload_body(http_req *r, const char *data, size_t len, size_t *used, ad_error *err)
{
    upload *u = http_req_ctx(r);
    ad_code rc = check_length(r, api_app(r), err);
    uint64_t out;
    size_t room, at, k;
    bool was_empty;
    if (!rc && !u) rc = upload_begin(r, &u, err);
    if (rc) return rc;
    pthread_mutex_lock(&u->mu);
    if (u->error.code) {
        *err = u->error;
        pthread_mutex_unlock(&u->mu);
        return err->code;
    }
    out = u->out;
    pthread_mutex_unlock(&u->mu);
    room = RING_SIZE - (size_t)(u->in - out);
    k = len < room ? len : room;
    at = (size_t)(u->in % RING_SIZE);
    if (k <= RING_SIZE - at) {
        memcpy(u->ring + at, data, k);
    } else {
        memcpy(u->ring + at, data, RING_SIZE - at);
        memcpy(u->ring, data + (RING_SIZE - at), k - (RING_SIZE - at));
    }
    pthread_mutex_lock(&u->mu);
    was_empty = u->in == u->out;
    u->in += k;
    if (k < len) u->waiting = true;
    /* one wake per RING_WAKE bytes, not one per piece of the body; and
     * when the ring was empty (the thread then sleeps without a deadline,
     * and lingers RING_LINGER_MS for more once woken) */
    if (u->idle && (was_empty || u->in - u->out >= RING_WAKE || k < len))
        pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
    *used = k;
    return AD_OK;
}

/* The body is complete: the handler runs once the thread has taken all of
 * it and settled the upload. */
bool api_zip_upload_body_done(http_req *r)
{
    upload *u = http_req_ctx(r);
    bool done;
    if (!u) return true;
    pthread_mutex_lock(&u->mu);
    u->eof = true;
    done = u->done;
    if (!done) u->waiting = true;
    pthread_cond_signal(&u->cv);
    pthread_mutex_unlock(&u->mu);
    return done;
}

/* The end of the body, on the upload's thread: the last checks, the spool
 * closed (or the staged object committed) and the job queued. */
static ad_code upload_finish(upload *u, ad_error *err)
{
    ad_job job = {0};
    ad_code rc;
    if (!http_multipart_done(u->mp))
        return ad_fail(err, AD_E_BAD_REQUEST, "malformed multipart body: no closing boundary");
    if (!u->file_done) return ad_fail(err, AD_E_BAD_REQUEST, "no \"file\" field in the form");
    if (u->nsig < 4)
        return ad_fail(err, AD_E_BAD_REQUEST, "the file field is not a zip archive (too short)");
    rc = flush_buf(u, err);
    if (rc) return rc;
    /* a hole at the end (an archive cut inside an entry) still counts */
    if (u->zs && ftruncate(u->fd, (off_t)u->size) != 0)
        return ad_fail(err, AD_E_BACKEND, "cannot spool the upload: %s", strerror(errno));
    snprintf(job.id, sizeof(job.id), "%s", u->id);
    job.bucket = u->bucket[0] ? u->bucket : NULL;
    if (u->bw) {
        ad_blob_writer *w = u->bw;
        char key[64];
        u->bw = NULL; /* commit frees it whatever the result */
        rc = u->app->blobs->ops->writer_commit(w, err);
        if (rc) return rc;
        u->staged = true;
        staged_key(u, key, sizeof(key));
        snprintf(u->path, sizeof(u->path), AD_INGEST_STAGED "%s", key);
        job.source = u->path;
        job.bytes_total = u->size;
        rc = u->app->jobs->ops->create(u->app->jobs, &job, err);
        if (!rc) u->handed_off = true;
        return rc;
    }
    if (close(u->fd) != 0) {
        u->fd = -1;
        return ad_fail(err, AD_E_BACKEND, "cannot spool the upload: %s", strerror(errno));
    }
    u->fd = -1;
    if (u->zs && (rc = ad_zipspec_finish(u->zs, err))) return rc;
    job.source = u->path;
    job.bytes_total = u->size;
    rc = u->app->jobs->ops->create(u->app->jobs, &job, err);
    if (!rc) u->handed_off = true;
    return rc;
}

/* The upload's thread: parses the body out of the ring (multipart, the
 * spool, entries stored while they arrive), then finishes the upload.
 * After a failure it only drains the ring; the error is the answer. */
static void *receiver(void *p)
{
    upload *u = p;
    ad_error err = {0};
    bool wake;
    for (;;) {
        size_t n, at;
        pthread_mutex_lock(&u->mu);
        /* sleep until RING_WAKE bytes, the end or a stop; with some bytes
         * already there, at most RING_LINGER_MS (a client that pauses
         * mid-body still has what it sent processed) */
        while (u->in - u->out < RING_WAKE && !u->eof && !u->stop) {
            struct timespec until;
            int r = 0;
            u->idle = true;
            if (u->in == u->out) {
                pthread_cond_wait(&u->cv, &u->mu);
            } else {
                clock_gettime(CLOCK_REALTIME, &until);
                until.tv_nsec += RING_LINGER_MS * 1000000L;
                if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
                r = pthread_cond_timedwait(&u->cv, &u->mu, &until);
            }
            u->idle = false;
            if (r == ETIMEDOUT) break;
        }
        if (u->stop || (u->in == u->out && u->eof)) {
            pthread_mutex_unlock(&u->mu);
            break;
        }
        at = (size_t)(u->out % RING_SIZE);
        n = (size_t)(u->in - u->out);
        if (n > RING_SIZE - at) n = RING_SIZE - at;
        pthread_mutex_unlock(&u->mu);
        if (!err.code && http_multipart_feed(u->mp, u->ring + at, n, &err)) {
            pthread_mutex_lock(&u->mu);
            u->error = err;
            pthread_mutex_unlock(&u->mu);
        }
        pthread_mutex_lock(&u->mu);
        u->out += n;
        /* wake the request once half the ring is free (or it failed) */
        wake = u->waiting && !u->eof && (err.code || u->in - u->out <= RING_SIZE / 2);
        if (wake) u->waiting = false;
        pthread_mutex_unlock(&u->mu);
        if (wake) http_req_resume(u->req);
    }
    pthread_mutex_lock(&u->mu);
    if (!u->stop && !err.code && upload_finish(u, &err)) u->error = err;
    u->done = true;
    wake = u->waiting && !u->stop;
    u->waiting = false;
    pthread_mutex_unlock(&u->mu);
    if (wake) http_req_resume(u->req);
    return NULL;
}

void api_zip_upload(http_req *r)
{
    upload *u = http_req_ctx(r);
    ad_error err = {0};
    json_t *body;
    char *text;
    size_t len;
    if (!u) { /* no body at all */
        char b[HTTP_MP_BOUNDARY_MAX + 1];
        if (!http_multipart_boundary(http_req_header(r, "Content-Type"), b, &err))
            ad_fail(&err, AD_E_BAD_REQUEST, "no \"file\" field in the form");
        api_reply_error(r, &err);
        return;
    }
    if (u->error.code) { /* the thread has ended (done): no lock needed */
        api_reply_error(r, &u->error);
        return;
    }
    {
        char detail[64];
        snprintf(detail, sizeof(detail), "upload_id=%s", u->id);
        http_req_audit_detail(r, detail);
    }
    body = json_pack("{s:b,s:s}", "success", 1, "upload_id", u->id);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        http_reply_error(r, AD_E_NOMEM, "out of memory");
        return;
    }
    len = strlen(text);
    http_reply(r, 202, "application/json", text, len);
}

/* --- status --- */

static json_t *iso_time(int64_t t)
{
    char buf[32];
    struct tm tm;
    time_t tt = (time_t)t;
    if (!gmtime_r(&tt, &tm) || !strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm))
        return json_null();
    return json_string(buf);
}

static json_t *status_json(const ad_job *j)
{
    char status[AD_JOB_REASON_MAX + 16];
    if (j->state == AD_JOB_FAILED)
        snprintf(status, sizeof(status), "failed: %s", j->reason);
    else
        snprintf(status, sizeof(status), "%s", ad_job_state_name(j->state));
    return json_pack(
        "{s:b,s:s,s:s,s:o,s:{s:I,s:I,s:I,s:I},s:o,s:o}", "success", 1, "upload_id", j->id, "status",
        status, "asset_id", j->asset_id ? json_string(j->asset_id) : json_null(), "progress",
        "bytes_done", (json_int_t)j->bytes_done, "bytes_total", (json_int_t)j->bytes_total,
        "files_done", (json_int_t)j->files_done, "files_total", (json_int_t)j->files_total,
        "created_at", iso_time(j->created), "updated_at", iso_time(j->updated));
}

void api_zip_status(http_req *r)
{
    ad_app *app = api_app(r);
    const char *id = http_req_param(r, 0);
    ad_error err = {0};
    ad_job job;
    json_t *body;
    char *text;
    if (!ad_uuid_valid(id)) {
        ad_fail(&err, AD_E_NOT_FOUND, "upload %.64s not found", id);
        api_reply_error(r, &err);
        return;
    }
    if (app->jobs->ops->get(app->jobs, id, &job, &err)) {
        api_reply_error(r, &err);
        return;
    }
    if (ad_controller_is_job(&job)) { /* the asset store's runs are not uploads */
        ad_job_clear(&job);
        ad_fail(&err, AD_E_NOT_FOUND, "upload %.64s not found", id);
        api_reply_error(r, &err);
        return;
    }
    body = status_json(&job);
    ad_job_clear(&job);
    text = body ? json_dumps(body, JSON_COMPACT) : NULL;
    json_decref(body);
    if (!text) {
        http_reply_error(r, AD_E_NOMEM, "out of memory");
        return;
    }
    http_reply(r, 200, "application/json", text, strlen(text));
}

/* --- start-up --- */

/* The manifest of what an upload stored while it arrived
 * (core/zipspec.h), found with no live job: its objects are removed
 * unless the job succeeded (they are then the asset's files). */
static void sweep_manifest(ad_app *app, const char *id, const char *path, bool success)
{
    ad_error err = {0};
    char e[AD_ERROR_MSG_MAX];
    if (ad_zipspec_drop(path, id, success, app->blobs, app->buckets, &err))
        ad_log(AD_LOG_ERROR,
               "msg=\"cannot clean up what a stale upload stored\" upload=%s error=\"%s\"", id,
               ad_log_safe(e, sizeof(e), err.msg));
    else
        ad_log(AD_LOG_INFO, "msg=\"removed a stale spool file\" file=\"%s.spec\" objects=%s", id,
               success ? "kept" : "removed");
}

/* Removes spool files no live job refers to (uploads cut off by a crash,
 * jobs that ended while their file could not be removed), and what such
 * uploads stored while they arrived. */
void api_zip_sweep_spool(ad_app *app)
{
    DIR *d = opendir(app->spool_dir);
    struct dirent *e;
    char path[PATH_MAX], id[AD_UUID_LEN + 1];
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        ad_job job;
        bool live = false, success = false, manifest;
        size_t n = strlen(e->d_name);
        if (e->d_name[0] == '.') continue;
        manifest = n == AD_UUID_LEN + 5 && strcmp(e->d_name + AD_UUID_LEN, ".spec") == 0;
        if (n == AD_UUID_LEN + 4 || manifest) {
            memcpy(id, e->d_name, AD_UUID_LEN);
            id[AD_UUID_LEN] = '\0';
            if (app->jobs->ops->get(app->jobs, id, &job, NULL) == AD_OK) {
                live = job.state == AD_JOB_QUEUED || job.state == AD_JOB_PROCESSING;
                success = job.state == AD_JOB_SUCCESS;
                ad_job_clear(&job);
            }
        }
        if (live) continue;
        if ((size_t)snprintf(path, sizeof(path), "%s/%s", app->spool_dir, e->d_name) >=
            sizeof(path))
            continue;
        if (manifest) {
            sweep_manifest(app, id, path, success);
            continue;
        }
        unlink(path);
        ad_log(AD_LOG_INFO, "msg=\"removed a stale spool file\" file=\"%s\"", e->d_name);
    }
    closedir(d);
}
