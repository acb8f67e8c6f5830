/*
 * blob_s3.c — the blob store on any S3-compatible service (AWS S3, Ceph
 * RGW, MinIO): s3://[ACCESS:SECRET@]BUCKET[/PREFIX]?endpoint=…&region=…
 * (the URL and credentials are read by s3_conf.c; requests, retries and
 * the connection pool are s3_http.c's).
 *
 * Objects are the keys of one bucket under an optional prefix. open
 * creates the bucket when it is missing.
 *
 * Writer: the bytes are buffered until they reach multipart_threshold;
 * an object that ends before is sent as one PUT on commit. A bigger one
 * becomes a multipart upload: each part is sent as soon as it has filled,
 * while the caller fills the next (two part buffers: memory is bounded by
 * about max(threshold, 2 × part_size) per writer, never by the object's
 * size), and commit completes the upload. Any failure, and abort, sends
 * AbortMultipartUpload so no part is left behind; when S3 cannot be
 * reached for it, and for a remove, the request is queued and sent again
 * once S3 answers (s3_cleanup.c). S3 makes a completed
 * PUT or upload visible at once and whole, which gives the port's atomic
 * publish; the last commit of two writers on a key wins.
 *
 * Reads: stat and head are HEAD; read is one ranged GET into the caller's
 * buffer; the reader is ONE GET for its whole range, driven by the caller
 * through a curl multi handle: bytes go straight into the caller's buffer,
 * and a piece that does not fit in what is left of it pauses the transfer
 * (CURL_WRITEFUNC_PAUSE: libcurl keeps the piece and hands it over again
 * on the next read, and TCP flow control holds the server back). So
 * nearly every byte is copied once in user space, from libcurl's receive
 * buffer into the caller's (measured on a 1 GiB zip download from RGW: a
 * spill buffer that took whatever came beyond the caller's buffer, the
 * previous design, carried 94 % of the bytes, each copied twice; pausing,
 * ~30 % of the bytes are handed over twice, the rest of libcurl's buffer
 * at a pause, and assetd's CPU per GiB fell by ~10 %). Only a caller's
 * buffer smaller than one piece (16 KiB) leaves the rest of that piece in
 * a small spill buffer. A paused transfer is never waited for with a poll
 * (libcurl leaves its socket out: every such wait would last its whole
 * timeout). A reader
 * whose connection breaks resumes with a ranged GET from where it was,
 * with If-Match on the first answer's ETag so it never splices two
 * versions of an object.
 *
 * Abandoned uploads: a process that dies (or loses S3 and then dies)
 * between starting a multipart upload and aborting it leaves its parts,
 * and nobody knows its upload id any more. So open lists the multipart
 * uploads under the store's prefix and aborts those started more than
 * abandoned_uploads seconds ago (default a day: far longer than any
 * upload takes, so another instance's upload in progress is never hit),
 * the way S3's AbortIncompleteMultipartUpload lifecycle rule would.
 *
 * Buckets: HEAD, PUT and DELETE on other buckets of the same service;
 * bucket_remove(force) first deletes every object and aborts every
 * multipart upload in it.
 *
 * Bucket policies (PUT/GET/DELETE ?policy): the four access policies are
 * one JSON policy document each, a single statement allowing anyone
 * (Principal "*") s3:GetObject and/or s3:PutObject on every object of the
 * bucket (Resource arn:aws:s3:::BUCKET/ and a star); none deletes the policy. Reading one back, a
 * document is recognised only when every statement has exactly that shape (Allow, the anonymous
 * principal, our resource, no Condition); anything else is AD_BLOB_POLICY_OTHER, so a policy
 * changed by hand is seen as changed.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "store/blob.h"
#include "store/s3_int.h"
#include "util/json.h"
#include "util/log.h"

extern const ad_blob_ops ad_blob_s3_ops;

#define WHAT_MAX     420
#define FIRST_FILL   (64 * 1024)         /* first size of a writer's buffer */
#define HUGE_OFFSET  ((uint64_t)1 << 53) /* far past any S3 object (5 TiB max) */
#define LIST_PAGE    "200"               /* keys per ListObjectsV2 page (bounds the XML) */
#define UPLOADID_MAX 1024
#define WAIT_MAX_MS  1000 /* longest wait for the socket in one pump */

typedef struct s3_blob {
    ad_blob base;
    s3_client cl;
    s3_cleanup cleanup; /* removals to retry once S3 answers again */
} s3_blob;

static ad_code oom(ad_error *err)
{
    return ad_fail(err, AD_E_NOMEM, "out of memory");
}

/* The full S3 key of a port key: the key rules, then the prefix. */
static ad_code full_key(const s3_blob *b, const char *key, char *out, size_t cap, ad_error *err)
{
    ad_code rc = ad_blob_key_check(key, err);
    size_t n;
    if (rc) return rc;
    n = (size_t)snprintf(out, cap, "%s%s", b->cl.conf.prefix, key);
    if (n >= cap || n > S3_KEY_MAX)
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "object key too long for S3: %zu bytes with the prefix (at most %d)", n,
                       S3_KEY_MAX);
    return AD_OK;
}

/* FNV-1a of an ETag: the object's version for validators. */
static uint64_t etag_version(const char *etag)
{
    uint64_t h = 14695981039346656037ull;
    for (; *etag; etag++) h = (h ^ (unsigned char)*etag) * 1099511628211ull;
    return h;
}

/* ------------------------------------------------------------------------ */
/* Open, close, ping                                                        */
/* ------------------------------------------------------------------------ */

static ad_code bucket_head(s3_blob *b, const char *bucket, bool once, long *status, ad_error *err)
{
    s3_req rq = {.method = "HEAD", .bucket = bucket, .once = once};
    char what[WHAT_MAX];
    ad_code rc;
    s3_what(what, sizeof(what), "HEAD", bucket, NULL);
    rc = s3_perform(&b->cl, NULL, &rq, what, err);
    *status = rq.status;
    if (!rc && rq.status != 200 && rq.status != 404) {
        /* HEAD has no body to explain itself: ask again with a GET that
         * needs the same permission, for S3's error Code and Message */
        s3_req again = {
            .method = "GET", .bucket = bucket, .query = "list-type=2&max-keys=1", .once = once};
        ad_buf xml;
        ad_buf_init(&xml, S3_XML_MAX);
        again.xml = &xml;
        s3_what(what, sizeof(what), "GET", bucket, NULL);
        rc = s3_perform(&b->cl, NULL, &again, what, err);
        if (!rc) rc = s3_fail(&b->cl, again.status == 200 ? &rq : &again, what, err);
        s3_req_free(&again);
        ad_buf_free(&xml);
    }
    s3_req_free(&rq);
    return rc;
}

/* PUT /bucket, with a LocationConstraint unless region is us-east-1. */
static ad_code bucket_put(s3_blob *b, const char *bucket, const char *region, ad_error *err)
{
    char body[256], what[WHAT_MAX];
    s3_req rq = {
        .method = "PUT", .bucket = bucket, .sign_body = true, .content_type = "application/xml"};
    ad_code rc;
    if (region && strcmp(region, "us-east-1") != 0) {
        if (strspn(region, "abcdefghijklmnopqrstuvwxyz0123456789-") != strlen(region) ||
            strlen(region) > 40 || !*region)
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "bucket region \"%.60s\": only lowercase letters, digits and '-'",
                           region);
        rq.body_len = (size_t)snprintf(
            body, sizeof(body),
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
            "<LocationConstraint>%s</LocationConstraint></CreateBucketConfiguration>",
            region);
        rq.body = body;
    }
    s3_what(what, sizeof(what), "PUT", bucket, NULL);
    rc = s3_perform(&b->cl, NULL, &rq, what, err);
    if (!rc && rq.status == 409) {
        char code[64];
        size_t pos = 0;
        if (!rq.errbody.data ||
            s3_xml_next(rq.errbody.data, rq.errbody.len, &pos, "Code", code, sizeof(code)) != 1)
            code[0] = '\0';
        rc = ad_fail(err, AD_E_EXISTS, "bucket %s already exists%s", bucket,
                     strcmp(code, "BucketAlreadyExists") == 0 ? " (owned by another account)" : "");
    } else if (!rc && rq.status != 200) {
        rc = s3_fail(&b->cl, &rq, what, err);
    }
    s3_req_free(&rq);
    return rc;
}

static ad_code open_conf(s3_conf *conf, ad_blob **out, bool create, ad_error *err)
{
    s3_blob *b = calloc(1, sizeof(*b));
    long status = 0;
    ad_code rc;
    if (!b) {
        s3_conf_free(conf);
        return oom(err);
    }
    b->base.ops = &ad_blob_s3_ops;
    b->cl.conf = *conf;
    memset(conf, 0, sizeof(*conf));
    if ((rc = s3_client_init(&b->cl, err))) {
        s3_conf_free(&b->cl.conf);
        free(b);
        return rc;
    }
    if ((rc = s3_cleanup_init(&b->cleanup, &b->cl, err))) {
        s3_client_free(&b->cl);
        free(b);
        return rc;
    }
    rc = bucket_head(b, b->cl.conf.bucket, false, &status, err);
    if (!rc && status == 404) {
        if (create) {
            rc = bucket_put(b, b->cl.conf.bucket, b->cl.conf.region, err);
            if (rc == AD_E_EXISTS && !strstr(err->msg, "another account")) rc = AD_OK; /* a race */
        } else {
            rc = ad_fail(err, AD_E_NOT_FOUND, "bucket %s not found", b->cl.conf.bucket);
        }
    }
    if (rc) {
        s3_cleanup_close(&b->cleanup);
        s3_client_free(&b->cl);
        free(b);
        return rc;
    }
    *out = &b->base;
    return AD_OK;
}

/* Seconds since the epoch of S3's "2026-11-21T10:59:14.000Z"; -1 if not that. */
static int64_t iso_time(const char *s)
{
    int y, mo, d, h, mi, sec;
    int64_t days;
    if (sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6 || mo < 1 ||
        mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || sec > 60)
        return -1;
    /* days from 1970-01-01 to y-mo-d (proleptic Gregorian) */
    y -= mo <= 2;
    {
        int64_t era = (y >= 0 ? y : y - 399) / 400, yoe = y - era * 400;
        int64_t doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
        int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
        days = era * 146097 + doe - 719468;
    }
    return days * 86400 + h * 3600 + mi * 60 + sec;
}

/* Appends "&name=<value encoded>" (or without the '&' first). */
static bool q_param(ad_buf *q, const char *name, const char *value)
{
    return ad_buf_puts(q, q->len ? "&" : "") == AD_OK && ad_buf_puts(q, name) == AD_OK &&
           ad_buf_puts(q, "=") == AD_OK && s3_uri_encode(q, value, strlen(value), false) == AD_OK;
}

#define SWEEP_PAGES 50 /* pages of ListMultipartUploads (1000 each) at one open */

/* Aborts the multipart uploads under the prefix started more than
 * conf.abandoned_s ago (see the header). Failures are logged only. */
static void sweep_abandoned(s3_blob *b)
{
    char key[S3_KEY_MAX + 1], id[UPLOADID_MAX], when[64], what[WHAT_MAX];
    char kmark[S3_KEY_MAX + 1] = "", imark[UPLOADID_MAX] = "", trunc[8];
    int64_t now = (int64_t)time(NULL);
    size_t aborted = 0, seen = 0;
    ad_error err = {0};
    ad_code rc = AD_OK;
    ad_buf xml, q, dq;
    if (!b->cl.conf.abandoned_s) return;
    ad_buf_init(&xml, S3_XML_MAX);
    ad_buf_init(&q, 4 * S3_KEY_MAX + 256);
    ad_buf_init(&dq, 3 * UPLOADID_MAX + 32);
    for (int page = 0; !rc && page < SWEEP_PAGES; page++) {
        /* parameters in SigV4's canonical (sorted) order */
        s3_req rq = {.method = "GET", .xml = &xml};
        size_t pos = 0, start, end;
        ad_buf_reset(&q);
        if ((kmark[0] && !q_param(&q, "key-marker", kmark)) ||
            !q_param(&q, "max-uploads", "1000") ||
            (b->cl.conf.prefix[0] && !q_param(&q, "prefix", b->cl.conf.prefix)) ||
            (imark[0] && !q_param(&q, "upload-id-marker", imark)) || !q_param(&q, "uploads", "")) {
            rc = ad_fail(&err, AD_E_NOMEM, "out of memory");
            break;
        }
        rq.query = q.data;
        s3_what(what, sizeof(what), "GET (list multipart uploads)", b->cl.conf.bucket, NULL);
        rc = s3_perform(&b->cl, NULL, &rq, what, &err);
        if (!rc && rq.status != 200) rc = s3_fail(&b->cl, &rq, what, &err);
        s3_req_free(&rq);
        while (!rc && s3_xml_element(xml.data, xml.len, &pos, "Upload", &start, &end) == 1) {
            size_t p1 = 0, p2 = 0, p3 = 0;
            int64_t t;
            const char *u = xml.data + start;
            seen++;
            if (s3_xml_next(u, end - start, &p1, "Key", key, sizeof(key)) != 1 ||
                s3_xml_next(u, end - start, &p2, "UploadId", id, sizeof(id)) != 1 ||
                s3_xml_next(u, end - start, &p3, "Initiated", when, sizeof(when)) != 1 ||
                (t = iso_time(when)) < 0 || now - t <= b->cl.conf.abandoned_s)
                continue;
            ad_buf_reset(&dq);
            if (!q_param(&dq, "uploadId", id)) continue;
            {
                s3_req del = {.method = "DELETE", .key = key, .query = dq.data};
                ad_error derr = {0};
                ad_code drc;
                s3_what(what, sizeof(what), "DELETE (abort multipart upload)", b->cl.conf.bucket,
                        key);
                drc = s3_perform(&b->cl, NULL, &del, what, &derr);
                if (!drc && del.status != 204 && del.status != 200 && del.status != 404)
                    drc = s3_fail(&b->cl, &del, what, &derr);
                s3_req_free(&del);
                if (drc)
                    ad_log(AD_LOG_WARN,
                           "msg=\"cannot abort an abandoned multipart upload\" "
                           "error=\"%s\"",
                           derr.msg);
                else
                    aborted++;
            }
        }
        pos = 0;
        if (rc || s3_xml_next(xml.data, xml.len, &pos, "IsTruncated", trunc, sizeof(trunc)) != 1 ||
            strcmp(trunc, "true") != 0)
            break;
        pos = 0;
        if (s3_xml_next(xml.data, xml.len, &pos, "NextKeyMarker", kmark, sizeof(kmark)) != 1) break;
        pos = 0;
        if (s3_xml_next(xml.data, xml.len, &pos, "NextUploadIdMarker", imark, sizeof(imark)) != 1)
            imark[0] = '\0';
    }
    if (rc)
        ad_log(AD_LOG_WARN, "msg=\"cannot look for abandoned multipart uploads\" error=\"%s\"",
               err.msg);
    else if (aborted)
        ad_log(AD_LOG_INFO,
               "msg=\"aborted abandoned multipart uploads\" count=%zu listed=%zu older_than_s=%ld",
               aborted, seen, b->cl.conf.abandoned_s);
    ad_buf_free(&xml);
    ad_buf_free(&q);
    ad_buf_free(&dq);
}

static ad_code s3_open(const char *url, ad_blob **out, ad_error *err)
{
    s3_conf conf;
    ad_code rc;
    *out = NULL;
    if ((rc = s3_conf_parse(url, &conf, err))) return rc;
    rc = open_conf(&conf, out, true, err);
    if (!rc) sweep_abandoned((s3_blob *)*out);
    return rc;
}

static void s3_close(ad_blob *base)
{
    s3_blob *b = (s3_blob *)base;
    if (!b) return;
    s3_cleanup_close(&b->cleanup); /* a last try of what S3 refused while away */
    s3_client_free(&b->cl);
    free(b);
}

static ad_code s3_ping(ad_blob *base, ad_error *err)
{
    s3_blob *b = (s3_blob *)base;
    long status = 0;
    ad_code rc = bucket_head(b, b->cl.conf.bucket, true, &status, err); /* no retries */
    if (!rc && status == 404)
        rc = ad_fail(err, AD_E_UNAVAILABLE, "S3 bucket %s does not exist any more",
                     b->cl.conf.bucket);
    if (rc && err) err->code = AD_E_UNAVAILABLE;
    if (!rc) s3_cleanup_kick(&b->cleanup); /* back: retry the removals now */
    return rc ? AD_E_UNAVAILABLE : AD_OK;
}

/* ------------------------------------------------------------------------ */
/* stat, head, read, remove                                                 */
/* ------------------------------------------------------------------------ */

static ad_code s3_head(ad_blob *base, const char *key, uint64_t *size, uint64_t *version,
                       ad_error *err)
{
    s3_blob *b = (s3_blob *)base;
    char k[S3_KEY_MAX + 1], what[WHAT_MAX];
    s3_req rq = {.method = "HEAD", .key = k};
    ad_code rc = full_key(b, key, k, sizeof(k), err);
    if (rc) return rc;
    s3_what(what, sizeof(what), "HEAD", b->cl.conf.bucket, k);
    rc = s3_perform(&b->cl, NULL, &rq, what, err);
    if (!rc && rq.status == 404)
        rc = ad_fail(err, AD_E_NOT_FOUND, "object %s not found", key);
    else if (!rc && (rq.status != 200 || !rq.has_length))
        rc = s3_fail(&b->cl, &rq, what, err);
    if (!rc) {
        *size = rq.length;
        if (version) *version = etag_version(rq.etag);
    }
    s3_req_free(&rq);
    return rc;
}

static ad_code s3_stat(ad_blob *b, const char *key, uint64_t *size, ad_error *err)
{
    return s3_head(b, key, size, NULL, err);
}

static ad_code s3_read(ad_blob *base, const char *key, uint64_t off, void *buf, size_t n,
                       size_t *got, ad_error *err)
{
    s3_blob *b = (s3_blob *)base;
    char k[S3_KEY_MAX + 1], what[WHAT_MAX], range[64];
    s3_req rq = {.method = "GET", .key = k, .range = range, .sink = buf, .sink_cap = n};
    uint64_t last;
    ad_code rc = full_key(b, key, k, sizeof(k), err);
    *got = 0;
    if (rc) return rc;
    if (n == 0 || off >= HUGE_OFFSET) { /* nothing to read: only whether it exists */
        uint64_t size;
        return s3_stat(base, key, &size, err);
    }
    last = n - 1 > HUGE_OFFSET - off ? HUGE_OFFSET : off + (n - 1);
    snprintf(range, sizeof(range), "bytes=%" PRIu64 "-%" PRIu64, off, last);
    s3_what(what, sizeof(what), "GET", b->cl.conf.bucket, k);
    rc = s3_perform(&b->cl, NULL, &rq, what, err);
    if (!rc) {
        if (rq.status == 206 || (rq.status == 200 && off == 0))
            *got = rq.sink_len;
        else if (rq.status == 416) /* at or past the end */
            *got = 0;
        else if (rq.status == 404)
            rc = ad_fail(err, AD_E_NOT_FOUND, "object %s not found", key);
        else if (rq.status == 200)
            rc = ad_fail(err, AD_E_BACKEND, "S3 %s: the server ignored the Range header", what);
        else
            rc = s3_fail(&b->cl, &rq, what, err);
    }
    s3_req_free(&rq);
    return rc;
}

static ad_code s3_remove(ad_blob *base, const char *key, ad_error *err)
{
    s3_blob *b = (s3_blob *)base;
    char k[S3_KEY_MAX + 1], what[WHAT_MAX];
    s3_req rq = {.method = "DELETE", .key = k};
    ad_code rc = full_key(b, key, k, sizeof(k), err);
    if (rc) return rc;
    s3_what(what, sizeof(what), "DELETE", b->cl.conf.bucket, k);
    rc = s3_perform(&b->cl, NULL, &rq, what, err);
    if (!rc && rq.status != 204 && rq.status != 200 && rq.status != 404)
        rc = s3_fail(&b->cl, &rq, what, err);
    s3_req_free(&rq);
    /* S3 away: the caller hears of the failure, and the DELETE is sent
     * again once S3 answers (s3_cleanup.c) */
    if (rc == AD_E_UNAVAILABLE) s3_cleanup_add(&b->cleanup, k, NULL);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Writer                                                                   */
/* ------------------------------------------------------------------------ */

/* One part upload in flight, on a connection of its own. */
typedef struct w_slot {
    s3_conn *k;
    s3_req rq;
    char *buf;     /* part_size bytes of room */
    unsigned part; /* its part number; 0 when the slot is free */
} w_slot;

struct ad_blob_writer {
    s3_blob *b;
    s3_conn *k; /* for the requests that are not parts */
    char key[S3_KEY_MAX + 1];
    char what[WHAT_MAX];
    char *fill; /* bytes not yet sent */
    size_t fill_len, fill_cap;
    bool multipart;
    char upload_id[UPLOADID_MAX];
    char query[UPLOADID_MAX * 3 + 64]; /* "uploadId=…" */
    unsigned parts;                    /* parts started */
    w_slot *slots;                     /* conf.parallel of them */
    char **etags;                      /* of parts 1.., NULL until finished */
    unsigned etags_cap;
    ad_code failed; /* the first failure; writes after it fail the same way */
    ad_error ferr;
};

static ad_code w_fail(ad_blob_writer *w, ad_code rc, const ad_error *e, ad_error *err)
{
    if (!w->failed) {
        w->failed = rc;
        w->ferr = *e;
    }
    if (err) *err = w->ferr;
    return w->failed;
}

static ad_code s3_writer_open(ad_blob *base, const char *key, ad_blob_writer **out, ad_error *err)
{
    s3_blob *b = (s3_blob *)base;
    ad_blob_writer *w;
    ad_code rc;
    *out = NULL;
    w = calloc(1, sizeof(*w));
    if (!w) return oom(err);
    if ((rc = full_key(b, key, w->key, sizeof(w->key), err))) {
        free(w);
        return rc;
    }
    w->b = b;
    s3_cleanup_forget(&b->cleanup, w->key); /* a late retried DELETE must not hit this one */
    w->slots = calloc((size_t)b->cl.conf.parallel, sizeof(*w->slots));
    if (!w->slots) {
        free(w);
        return oom(err);
    }
    s3_what(w->what, sizeof(w->what), "PUT", b->cl.conf.bucket, w->key);
    *out = w;
    return AD_OK;
}

/* Grows fill to hold need bytes (at most its limit). */
static ad_code w_reserve(ad_blob_writer *w, size_t need, ad_error *err)
{
    size_t cap = w->fill_cap ? w->fill_cap : FIRST_FILL;
    char *p;
    if (need <= w->fill_cap) return AD_OK;
    while (cap < need) cap *= 2;
    p = realloc(w->fill, cap);
    if (!p) return oom(err);
    w->fill = p;
    w->fill_cap = cap;
    return AD_OK;
}

static ad_code w_conn(ad_blob_writer *w, ad_error *err)
{
    if (!w->k && !(w->k = s3_conn_get(&w->b->cl))) return oom(err);
    return AD_OK;
}

static ad_code w_initiate(ad_blob_writer *w, ad_error *err)
{
    s3_req rq = {.method = "POST", .key = w->key, .query = "uploads="};
    ad_buf xml;
    char what[WHAT_MAX];
    size_t pos = 0;
    ad_code rc = w_conn(w, err);
    if (rc) return rc;
    ad_buf_init(&xml, S3_XML_MAX);
    rq.xml = &xml;
    s3_what(what, sizeof(what), "POST (start multipart upload)", w->b->cl.conf.bucket, w->key);
    rc = s3_perform(&w->b->cl, w->k, &rq, what, err);
    if (!rc && rq.status != 200) rc = s3_fail(&w->b->cl, &rq, what, err);
    if (!rc &&
        s3_xml_next(xml.data, xml.len, &pos, "UploadId", w->upload_id, sizeof(w->upload_id)) != 1)
        rc = ad_fail(err, AD_E_BACKEND, "S3 %s: no UploadId in the answer", what);
    if (!rc) {
        ad_buf q;
        ad_buf_init(&q, sizeof(w->query) - 1);
        if (ad_buf_puts(&q, "uploadId=") ||
            s3_uri_encode(&q, w->upload_id, strlen(w->upload_id), false))
            rc = ad_fail(err, AD_E_BACKEND, "S3 %s: UploadId too long", what);
        else
            snprintf(w->query, sizeof(w->query), "%s", q.data);
        ad_buf_free(&q);
    }
    if (!rc) w->multipart = true;
    s3_req_free(&rq);
    ad_buf_free(&xml);
    return rc;
}

/* Records part n's ETag for CompleteMultipartUpload. */
static ad_code w_part_done(ad_blob_writer *w, unsigned n, const char *etag, ad_error *err)
{
    if (!etag[0]) return ad_fail(err, AD_E_BACKEND, "S3 %s: part %u has no ETag", w->what, n);
    if (n > w->etags_cap) {
        unsigned cap = w->etags_cap ? w->etags_cap : 64;
        char **e;
        while (cap < n) cap *= 2;
        if (!(e = realloc(w->etags, cap * sizeof(*e)))) return oom(err);
        memset(e + w->etags_cap, 0, (cap - w->etags_cap) * sizeof(*e));
        w->etags = e;
        w->etags_cap = cap;
    }
    free(w->etags[n - 1]);
    if (!(w->etags[n - 1] = strdup(etag))) return oom(err);
    return AD_OK;
}

/* Ends slot s's transfer (waiting for it), retrying it when it failed in
 * a way worth retrying; frees the slot. */
static ad_code w_wait_slot(ad_blob_writer *w, w_slot *s, ad_error *err)
{
    s3_req *rq = &s->rq;
    char what[WHAT_MAX + 32];
    ad_code rc = AD_OK;
    if (!s->part) return AD_OK;
    while (!s3_pump(s->k, 1000)) {
    }
    s3_finish(s->k, rq);
    snprintf(what, sizeof(what), "%s (part %u)", w->what, s->part);
    if (s3_retryable(rq) && w->b->cl.conf.retries > 0) {
        s3_backoff(1);
        rc = s3_perform(&w->b->cl, s->k, rq, what, err);
    } else if (rq->curl_rc != CURLE_OK) {
        rc = s3_fail(&w->b->cl, rq, what, err);
    }
    if (!rc && rq->status != 200) rc = s3_fail(&w->b->cl, rq, what, err);
    if (!rc) rc = w_part_done(w, s->part, rq->etag, err);
    free((char *)rq->query);
    rq->query = NULL;
    s->part = 0;
    return rc;
}

/* Waits for every part in flight, oldest first. */
static ad_code w_wait_all(ad_blob_writer *w, ad_error *err)
{
    ad_code rc = AD_OK;
    for (;;) {
        w_slot *oldest = NULL;
        for (int i = 0; i < w->b->cl.conf.parallel; i++)
            if (w->slots[i].part && (!oldest || w->slots[i].part < oldest->part))
                oldest = &w->slots[i];
        if (!oldest) return rc;
        if (!rc)
            rc = w_wait_slot(w, oldest, err);
        else
            oldest->part = 0; /* after a failure the rest is cancelled by the caller */
    }
}

/* A free slot: one that is free, else the oldest part's once it ends. */
static ad_code w_free_slot(ad_blob_writer *w, w_slot **out, ad_error *err)
{
    w_slot *oldest = NULL;
    for (int i = 0; i < w->b->cl.conf.parallel; i++) {
        w_slot *s = &w->slots[i];
        if (s->part && s3_pump(s->k, 0)) { /* ended meanwhile: collect it */
            ad_code rc = w_wait_slot(w, s, err);
            if (rc) return rc;
        }
        if (!s->part) {
            *out = s;
            return AD_OK;
        }
        if (!oldest || s->part < oldest->part) oldest = s;
    }
    *out = oldest;
    return w_wait_slot(w, oldest, err);
}

/* Sends the first len bytes of fill as the next part, in the background. */
static ad_code w_ship(ad_blob_writer *w, size_t len, ad_error *err)
{
    size_t part = w->b->cl.conf.part_size;
    char q[sizeof(w->query) + 32], *qs;
    w_slot *s = NULL;
    ad_code rc;
    if (w->parts >= S3_MAX_PARTS)
        return ad_fail(err, AD_E_TOO_LARGE,
                       "S3 %s: object over %u parts of %zu bytes (raise part_size)", w->what,
                       S3_MAX_PARTS, part);
    if ((rc = w_free_slot(w, &s, err))) return rc;
    if (!s->buf && !(s->buf = malloc(part))) return oom(err);
    if (!s->k && !(s->k = s3_conn_get(&w->b->cl))) return oom(err);
    if (len == w->fill_len && w->fill_cap == part) { /* the usual case: swap the buffers */
        char *t = s->buf;
        s->buf = w->fill;
        w->fill = t;
    } else {
        memcpy(s->buf, w->fill, len);
        memmove(w->fill, w->fill + len, w->fill_len - len);
    }
    w->fill_len -= len;
    w->parts++;
    snprintf(q, sizeof(q), "partNumber=%u&%s", w->parts, w->query);
    if (!(qs = strdup(q))) return oom(err);
    memset(&s->rq, 0, offsetof(s3_req, status));
    s->rq.method = "PUT";
    s->rq.key = w->key;
    s->rq.query = qs;
    s->rq.body = s->buf;
    s->rq.body_len = len;
    rc = s3_start(&w->b->cl, s->k, &s->rq, err);
    if (rc) {
        free(qs);
        s->rq.query = NULL;
        return rc;
    }
    s->part = w->parts;
    s3_pump(s->k, 0);
    return AD_OK;
}

/* Into multipart mode: starts the upload and sends what fill holds in
 * whole parts; fill shrinks to one part's room. */
static ad_code w_go_multipart(ad_blob_writer *w, ad_error *err)
{
    size_t part = w->b->cl.conf.part_size;
    ad_code rc = w_initiate(w, err);
    while (!rc && w->fill_len >= part) rc = w_ship(w, part, err);
    if (!rc && w->fill_cap != part) { /* from here on, fill and fly swap: same size */
        char *p = malloc(part);
        if (!p) return oom(err);
        if (w->fill_len) memcpy(p, w->fill, w->fill_len);
        free(w->fill);
        w->fill = p;
        w->fill_cap = part;
    }
    return rc;
}

static ad_code s3_writer_write(ad_blob_writer *w, const void *p, size_t n, ad_error *err)
{
    const char *c = p;
    size_t part = w->b->cl.conf.part_size;
    ad_error e = {0};
    ad_code rc = AD_OK;
    if (w->failed) return w_fail(w, w->failed, &w->ferr, err);
    if (n == 0) return AD_OK;
    if (!w->multipart) {
        if ((uint64_t)w->fill_len + n < w->b->cl.conf.threshold) {
            if ((rc = w_reserve(w, w->fill_len + n, &e))) return w_fail(w, rc, &e, err);
            memcpy(w->fill + w->fill_len, c, n);
            w->fill_len += n;
            return AD_OK;
        }
        if ((rc = w_go_multipart(w, &e))) return w_fail(w, rc, &e, err);
    }
    while (n) {
        size_t take = part - w->fill_len < n ? part - w->fill_len : n;
        memcpy(w->fill + w->fill_len, c, take);
        w->fill_len += take, c += take, n -= take;
        if (w->fill_len == part && (rc = w_ship(w, part, &e))) return w_fail(w, rc, &e, err);
    }
    for (int i = 0; i < w->b->cl.conf.parallel; i++) /* keep the parts moving */
        if (w->slots[i].part) s3_pump(w->slots[i].k, 0);
    return AD_OK;
}

static void w_free(ad_blob_writer *w)
{
    for (int i = 0; w->slots && i < w->b->cl.conf.parallel; i++) {
        w_slot *s = &w->slots[i];
        free((char *)s->rq.query);
        s3_req_free(&s->rq);
        s3_conn_put(&w->b->cl, s->k); /* a slot with a transfer in it is dropped */
        free(s->buf);
    }
    for (unsigned i = 0; i < w->etags_cap; i++) free(w->etags[i]);
    free(w->etags);
    free(w->slots);
    s3_conn_put(&w->b->cl, w->k);
    free(w->fill);
    free(w);
}

/* Stops the parts in flight and aborts the multipart upload. */
static void w_cancel(ad_blob_writer *w)
{
    for (int i = 0; w->slots && i < w->b->cl.conf.parallel; i++) {
        w_slot *s = &w->slots[i];
        if (s->part) s3_finish(s->k, &s->rq); /* removed mid-transfer: its connection closes */
        s->part = 0;
    }
    if (w->multipart) {
        s3_req rq = {.method = "DELETE", .key = w->key, .query = w->query};
        char what[WHAT_MAX];
        ad_error e = {0};
        ad_code rc = w_conn(w, &e);
        s3_what(what, sizeof(what), "DELETE (abort multipart upload)", w->b->cl.conf.bucket,
                w->key);
        if (!rc) rc = s3_perform(&w->b->cl, w->k, &rq, what, &e);
        if (!rc && rq.status != 204 && rq.status != 200 && rq.status != 404)
            rc = s3_fail(&w->b->cl, &rq, what, &e);
        s3_req_free(&rq);
        /* S3 away: the parts would stay; abort again once it answers */
        if (rc == AD_E_UNAVAILABLE) s3_cleanup_add(&w->b->cleanup, w->key, w->query);
        w->multipart = false;
    }
}

static void s3_writer_abort(ad_blob_writer *w)
{
    if (!w) return;
    w_cancel(w);
    w_free(w);
}

static ad_code w_put_single(ad_blob_writer *w, ad_error *err)
{
    s3_req rq = {.method = "PUT", .key = w->key, .body = w->fill, .body_len = w->fill_len};
    ad_code rc = w_conn(w, err);
    if (!rc) rc = s3_perform(&w->b->cl, w->k, &rq, w->what, err);
    if (!rc && rq.status != 200) rc = s3_fail(&w->b->cl, &rq, w->what, err);
    s3_req_free(&rq);
    return rc;
}

static ad_code w_complete(ad_blob_writer *w, ad_error *err)
{
    static const char head[] =
        "<CompleteMultipartUpload xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">";
    static const char tail[] = "</CompleteMultipartUpload>";
    s3_req rq = {.method = "POST",
                 .key = w->key,
                 .query = w->query,
                 .sign_body = true,
                 .content_type = "application/xml"};
    ad_buf body, xml;
    char what[WHAT_MAX];
    ad_code rc = AD_OK;
    ad_buf_init(&body, (size_t)w->parts * (S3_ETAG_MAX * 5 + 64) + sizeof(head) + sizeof(tail));
    ad_buf_init(&xml, S3_XML_MAX);
    rc = ad_buf_puts(&body, head) ? oom(err) : AD_OK;
    for (unsigned n = 1; !rc && n <= w->parts; n++) {
        const char *etag = n <= w->etags_cap ? w->etags[n - 1] : NULL;
        bool bad = !etag;
        bad = bad || ad_buf_printf(&body, "<Part><PartNumber>%u</PartNumber><ETag>", n);
        for (const char *p = etag; !bad && *p; p++) { /* the ETag, XML-escaped */
            const char *rep = *p == '&' ? "&amp;" : *p == '<' ? "&lt;" : *p == '>' ? "&gt;" : NULL;
            bad = (rep ? ad_buf_puts(&body, rep) : ad_buf_append(&body, p, 1)) != AD_OK;
        }
        bad = bad || ad_buf_puts(&body, "</ETag></Part>");
        if (bad) rc = etag ? oom(err) : ad_fail(err, AD_E_INTERNAL, "S3: part %u unfinished", n);
    }
    if (!rc && ad_buf_puts(&body, tail)) rc = oom(err);
    rq.body = body.data;
    rq.body_len = body.len;
    rq.xml = &xml;
    s3_what(what, sizeof(what), "POST (complete multipart upload)", w->b->cl.conf.bucket, w->key);
    if (!rc) rc = s3_perform(&w->b->cl, w->k, &rq, what, err);
    if (!rc && rq.status != 200) rc = s3_fail(&w->b->cl, &rq, what, err);
    if (!rc) {
        /* S3 may answer 200 and then report a failure in the body */
        size_t pos = 0, start, end;
        if (s3_xml_element(xml.data, xml.len, &pos, "Error", &start, &end) == 1) {
            rq.status = 500;
            ad_buf_reset(&rq.errbody);
            ad_buf_append(&rq.errbody, xml.data + start, end - start);
            rc = s3_fail(&w->b->cl, &rq, what, err);
            if (rc == AD_E_UNAVAILABLE) rc = AD_E_BACKEND;
        }
    }
    s3_req_free(&rq);
    ad_buf_free(&body);
    ad_buf_free(&xml);
    return rc;
}

static ad_code s3_writer_commit(ad_blob_writer *w, ad_error *err)
{
    ad_code rc = w->failed;
    if (rc) {
        if (err) *err = w->ferr;
    } else if (!w->multipart) {
        rc = w_put_single(w, err);
    } else {
        if (w->fill_len || w->parts == 0) rc = w_ship(w, w->fill_len, err);
        if (!rc) rc = w_wait_all(w, err);
        if (!rc) rc = w_complete(w, err);
        if (!rc) w->multipart = false; /* nothing left to abort */
    }
    if (rc) w_cancel(w);
    w_free(w);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Reader                                                                   */
/* ------------------------------------------------------------------------ */

struct ad_blob_reader {
    s3_blob *b;
    s3_conn *k;
    s3_req rq;
    char key[S3_KEY_MAX + 1];
    char what[WHAT_MAX];
    char range[64];
    char etag[S3_ETAG_MAX]; /* of the first answer: resumes must match it */
    uint64_t next;          /* offset of the next byte to arrive from S3 */
    uint64_t end;           /* end of the range (exclusive); UINT64_MAX: the object's end */
    bool running, paused, at_end;
    bool bad_range; /* a 200 (the whole object) came for a Range request */
    int resumes;
    /* where arriving bytes go: the caller's buffer; spill holds the rest of
     * one piece that was bigger than the whole buffer */
    char *dst;
    size_t dst_cap, dst_len;
    char *spill;
    size_t spill_cap, spill_len, spill_off;
};

/* Bytes arriving from S3 (pieces of at most 16 KiB): into the caller's
 * buffer while a read waits. A piece that does not fit pauses the transfer
 * (libcurl keeps it and gives it again after curl_easy_pause), unless the
 * buffer is still empty: then it is filled and the rest of the piece kept
 * in spill, for a caller whose buffer is smaller than a piece. */
static size_t r_write(void *ctx, const char *p, size_t n)
{
    ad_blob_reader *r = ctx;
    size_t room = r->dst ? r->dst_cap - r->dst_len : 0, take;
    if (r->rq.range && r->rq.status == 200) { /* would splice the wrong bytes in */
        r->bad_range = true;
        return 0;
    }
    if (n <= room) { /* the common case: straight into the caller's buffer */
        memcpy(r->dst + r->dst_len, p, n);
        r->dst_len += n;
        r->next += n;
        return n;
    }
    if (!r->dst || r->dst_len || r->spill_len) { /* no room now: libcurl keeps it */
        r->paused = true;
        return CURL_WRITEFUNC_PAUSE;
    }
    /* a caller's buffer smaller than one piece: fill it, keep the rest */
    if (n - room > r->spill_cap) {
        char *sp = realloc(r->spill, n - room);
        if (!sp) return 0;
        r->spill = sp;
        r->spill_cap = n - room;
    }
    take = room;
    memcpy(r->dst, p, take);
    r->dst_len = take;
    memcpy(r->spill, p + take, n - take);
    r->spill_len = n - take;
    r->spill_off = 0;
    r->next += n;
    return n;
}

/* Sends the GET for [next, end). */
static ad_code r_start(ad_blob_reader *r, ad_error *err)
{
    uint64_t last;
    memset(&r->rq, 0, offsetof(s3_req, status));
    r->rq.method = "GET";
    r->rq.key = r->key;
    r->rq.write_fn = r_write;
    r->rq.write_ctx = r;
    if (r->etag[0]) r->rq.if_match = r->etag;
    if (r->end == UINT64_MAX) {
        if (r->next) {
            snprintf(r->range, sizeof(r->range), "bytes=%" PRIu64 "-", r->next);
            r->rq.range = r->range;
        }
    } else {
        last = r->end - 1;
        snprintf(r->range, sizeof(r->range), "bytes=%" PRIu64 "-%" PRIu64, r->next, last);
        r->rq.range = r->range;
    }
    r->paused = false;
    if (s3_start(&r->b->cl, r->k, &r->rq, err)) return err ? err->code : AD_E_INTERNAL;
    r->running = true;
    return AD_OK;
}

/* The transfer has ended (and is finished): the end of the range, a
 * broken connection to resume from where it was (AD_OK with running set
 * again), or a failure. */
static ad_code r_after(ad_blob_reader *r, ad_error *err)
{
    s3_req *rq = &r->rq;
    if (r->bad_range)
        return ad_fail(err, AD_E_BACKEND, "S3 %s: the server ignored the Range header", r->what);
    if (rq->curl_rc == CURLE_OK && (rq->status == 200 || rq->status == 206)) {
        /* complete: the server sent the range, or the object ended first */
        if (!r->etag[0] && rq->etag[0]) snprintf(r->etag, sizeof(r->etag), "%s", rq->etag);
        r->at_end = true;
        return AD_OK;
    }
    if (rq->curl_rc == CURLE_OK && rq->status == 416) { /* off at or past the end */
        r->at_end = true;
        return AD_OK;
    }
    if (rq->curl_rc == CURLE_OK && rq->status == 404)
        return ad_fail(err, AD_E_NOT_FOUND, "object %s not found", r->key);
    if (rq->curl_rc == CURLE_OK && rq->status == 412)
        return ad_fail(err, AD_E_BACKEND, "S3 %s: the object was replaced while being read",
                       r->what);
    if (s3_retryable(rq) && r->resumes < r->b->cl.conf.retries) {
        r->resumes++;
        s3_backoff(r->resumes);
        return r_start(r, err);
    }
    return s3_fail(&r->b->cl, rq, r->what, err);
}

/* Moves the transfer on once: what libcurl can do without waiting, and
 * only when that gave nothing, a wait for the socket (never while paused:
 * the paused transfer's socket is not in the poll, so the wait would last
 * its whole timeout). The wait starts at *wait ms and doubles while
 * nothing comes, up to WAIT_MAX_MS. */
static ad_code r_pump(ad_blob_reader *r, int *wait, ad_error *err)
{
    size_t before = r->dst_len, spilled = r->spill_len;
    bool done = s3_pump(r->k, 0);
    if (!done && *wait > 0 && !r->paused && r->dst_len == before && r->spill_len == spilled) {
        /* nothing came: wait for the socket (not while paused: libcurl
         * leaves a paused transfer's socket out of the poll) */
        curl_multi_poll(r->k->multi, NULL, 0, *wait, NULL);
        if (*wait < WAIT_MAX_MS) *wait *= 2;
        done = s3_pump(r->k, 0);
    }
    if (!done) return AD_OK;
    s3_finish(r->k, &r->rq);
    r->running = false;
    return r_after(r, err);
}

static void s3_reader_close(ad_blob_reader *r)
{
    if (!r) return;
    /* Every byte of the range came, but libcurl may not have seen the end
     * of the answer yet (the last bytes were handed over on a resume): a
     * transfer taken away unfinished closes its connection, and the next
     * reader would connect again. Non-waiting pumps let it finish. */
    for (int i = 0; i < 4 && r->running && r->end != UINT64_MAX && r->next >= r->end; i++)
        if (s3_pump(r->k, 0)) {
            s3_finish(r->k, &r->rq);
            r->running = false;
        }
    if (r->running) s3_finish(r->k, &r->rq);
    s3_req_free(&r->rq);
    s3_conn_put(&r->b->cl, r->k);
    free(r->spill);
    free(r);
}

static ad_code s3_reader_open(ad_blob *base, const char *key, uint64_t off, uint64_t len,
                              ad_blob_reader **out, ad_error *err)
{
    s3_blob *b = (s3_blob *)base;
    ad_blob_reader *r;
    int wait = 1;
    ad_code rc;
    *out = NULL;
    r = calloc(1, sizeof(*r));
    if (!r) return oom(err);
    r->b = b;
    if ((rc = full_key(b, key, r->key, sizeof(r->key), err))) {
        free(r);
        return rc;
    }
    s3_what(r->what, sizeof(r->what), "GET", b->cl.conf.bucket, r->key);
    if (len == 0 || off >= HUGE_OFFSET) { /* nothing to read: only whether it exists */
        uint64_t size;
        rc = s3_stat(base, key, &size, err);
        if (rc) {
            free(r);
            return rc;
        }
        r->at_end = true;
        *out = r;
        return AD_OK;
    }
    r->next = off;
    r->end = len > HUGE_OFFSET - off ? UINT64_MAX : off + len;
    if (!(r->k = s3_conn_get(&b->cl))) {
        free(r);
        return oom(err);
    }
    /* Until the first bytes (or the end): a missing key or a refusal is
     * the open's failure, not the first read's. Connection errors are
     * retried like any request's. */
    rc = r_start(r, err);
    while (!rc && r->running && !r->spill_len && !r->paused) rc = r_pump(r, &wait, err);
    if (!rc && r->rq.etag[0] && !r->etag[0]) snprintf(r->etag, sizeof(r->etag), "%s", r->rq.etag);
    if (rc) {
        s3_reader_close(r);
        return rc;
    }
    *out = r;
    return AD_OK;
}

static ad_code s3_reader_read(ad_blob_reader *r, void *buf, size_t n, size_t *got, ad_error *err)
{
    size_t have = r->spill_len - r->spill_off;
    int wait = 1;
    ad_code rc = AD_OK;
    *got = 0;
    if (n == 0) return AD_OK;
    if (have) {
        size_t take = have < n ? have : n;
        memcpy(buf, r->spill + r->spill_off, take);
        r->spill_off += take;
        if (r->spill_off == r->spill_len) r->spill_off = r->spill_len = 0;
        *got = take;
        return AD_OK;
    }
    if (r->at_end || !r->running) return AD_OK;
    /* Until some bytes came, then on while more come at once (without
     * waiting) and fit: fewer, fuller reads for the caller. */
    r->dst = buf, r->dst_cap = n, r->dst_len = 0;
    while (!rc && !r->at_end && r->dst_len < r->dst_cap && !r->spill_len) {
        size_t before = r->dst_len;
        int no_wait = 0;
        if (r->paused) {
            r->paused = false;
            curl_easy_pause(r->k->easy, CURLPAUSE_CONT); /* may deliver at once */
            if (r->paused) break;                        /* the buffer took what fits of it */
            if (r->dst_len > before) continue;
        }
        rc = r_pump(r, before ? &no_wait : &wait, err);
        if (r->paused) break;                      /* the buffer is full */
        if (before && r->dst_len == before) break; /* nothing more for now */
    }
    *got = r->dst_len;
    r->dst = NULL, r->dst_cap = r->dst_len = 0;
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Buckets                                                                  */
/* ------------------------------------------------------------------------ */

static ad_code s3_bucket_exists(ad_blob *base, const char *name, bool *exists, ad_error *err)
{
    s3_blob *b = (s3_blob *)base;
    long status = 0;
    ad_code rc = ad_blob_bucket_check(name, err);
    if (rc) return rc;
    rc = bucket_head(b, name, false, &status, err);
    if (!rc) *exists = status == 200;
    return rc;
}

static ad_code s3_bucket_create(ad_blob *base, const char *name, const char *region, ad_error *err)
{
    s3_blob *b = (s3_blob *)base;
    bool exists = false;
    ad_code rc = s3_bucket_exists(base, name, &exists, err);
    if (rc) return rc;
    if (exists) return ad_fail(err, AD_E_EXISTS, "bucket %s already exists", name);
    return bucket_put(b, name, region ? region : b->cl.conf.region, err);
}

/* Deletes every object (and aborts every multipart upload) in bucket. */
static ad_code bucket_empty(s3_blob *b, const char *bucket, ad_error *err)
{
    char what[WHAT_MAX], key[S3_KEY_MAX + 1], id[UPLOADID_MAX];
    ad_buf xml, q;
    ad_code rc = AD_OK;
    int round;
    ad_buf_init(&xml, S3_XML_MAX);
    ad_buf_init(&q, 8192);
    /* objects: the first page again and again until it is empty (deleting
     * as we go makes continuation tokens unnecessary) */
    for (round = 0; !rc && round < 1000000; round++) {
        s3_req rq = {.method = "GET", .bucket = bucket, .xml = &xml};
        size_t pos = 0, found = 0;
        int r;
        rq.query = "list-type=2&max-keys=" LIST_PAGE;
        s3_what(what, sizeof(what), "GET (list objects)", bucket, NULL);
        rc = s3_perform(&b->cl, NULL, &rq, what, err);
        if (!rc && rq.status != 200) rc = s3_fail(&b->cl, &rq, what, err);
        s3_req_free(&rq);
        while (!rc && (r = s3_xml_next(xml.data, xml.len, &pos, "Key", key, sizeof(key))) != 0) {
            s3_req del = {.method = "DELETE", .bucket = bucket, .key = key};
            if (r < 0) {
                rc = ad_fail(err, AD_E_BACKEND, "S3 %s: a key in the list cannot be read", what);
                break;
            }
            found++;
            s3_what(what, sizeof(what), "DELETE", bucket, key);
            rc = s3_perform(&b->cl, NULL, &del, what, err);
            if (!rc && del.status != 204 && del.status != 200 && del.status != 404)
                rc = s3_fail(&b->cl, &del, what, err);
            s3_req_free(&del);
        }
        if (!found) break;
    }
    /* multipart uploads in progress */
    for (round = 0; !rc && round < 1000000; round++) {
        s3_req rq = {.method = "GET", .bucket = bucket, .query = "uploads=", .xml = &xml};
        size_t pos = 0, start, end, found = 0;
        s3_what(what, sizeof(what), "GET (list multipart uploads)", bucket, NULL);
        rc = s3_perform(&b->cl, NULL, &rq, what, err);
        if (!rc && rq.status != 200) rc = s3_fail(&b->cl, &rq, what, err);
        s3_req_free(&rq);
        while (!rc && s3_xml_element(xml.data, xml.len, &pos, "Upload", &start, &end) == 1) {
            size_t p1 = 0, p2 = 0;
            s3_req del = {.method = "DELETE", .bucket = bucket, .key = key};
            if (s3_xml_next(xml.data + start, end - start, &p1, "Key", key, sizeof(key)) != 1 ||
                s3_xml_next(xml.data + start, end - start, &p2, "UploadId", id, sizeof(id)) != 1) {
                rc =
                    ad_fail(err, AD_E_BACKEND, "S3 %s: an upload in the list cannot be read", what);
                break;
            }
            found++;
            ad_buf_reset(&q);
            if (ad_buf_puts(&q, "uploadId=") || s3_uri_encode(&q, id, strlen(id), false)) {
                rc = oom(err);
                break;
            }
            del.query = q.data;
            s3_what(what, sizeof(what), "DELETE (abort multipart upload)", bucket, key);
            rc = s3_perform(&b->cl, NULL, &del, what, err);
            if (!rc && del.status != 204 && del.status != 200 && del.status != 404)
                rc = s3_fail(&b->cl, &del, what, err);
            s3_req_free(&del);
        }
        if (!found) break;
    }
    ad_buf_free(&xml);
    ad_buf_free(&q);
    return rc;
}

static ad_code s3_bucket_remove(ad_blob *base, const char *name, bool force, ad_error *err)
{
    s3_blob *b = (s3_blob *)base;
    s3_req rq = {.method = "DELETE", .bucket = name};
    char what[WHAT_MAX];
    bool exists = false;
    ad_code rc = s3_bucket_exists(base, name, &exists, err);
    if (rc) return rc;
    if (!exists) return ad_fail(err, AD_E_NOT_FOUND, "bucket %s not found", name);
    if (strcmp(name, b->cl.conf.bucket) == 0)
        return ad_fail(err, AD_E_BAD_REQUEST, "bucket %s is this store's own bucket", name);
    if (force && (rc = bucket_empty(b, name, err))) return rc;
    s3_what(what, sizeof(what), "DELETE", name, NULL);
    rc = s3_perform(&b->cl, NULL, &rq, what, err);
    if (!rc && rq.status == 404)
        rc = ad_fail(err, AD_E_NOT_FOUND, "bucket %s not found", name);
    else if (!rc && rq.status == 409)
        rc = ad_fail(err, AD_E_PRECONDITION, "bucket %s is not empty", name);
    else if (!rc && rq.status != 204 && rq.status != 200)
        rc = s3_fail(&b->cl, &rq, what, err);
    s3_req_free(&rq);
    return rc;
}

static ad_code s3_bucket_open(ad_blob *base, const char *name, ad_blob **out, ad_error *err)
{
    s3_blob *b = (s3_blob *)base;
    s3_conf conf;
    ad_code rc = ad_blob_bucket_check(name, err);
    *out = NULL;
    if (rc) return rc;
    if ((rc = s3_conf_for_bucket(&b->cl.conf, name, &conf, err))) return rc;
    return open_conf(&conf, out, false, err);
}

/* ------------------------------------------------------------------------ */
/* Bucket policies                                                          */
/* ------------------------------------------------------------------------ */

#define POLICY_MAX 20480 /* bytes of a policy document we read (S3 allows 20 KiB) */

static ad_code s3_bucket_policy_set(ad_blob *base, const char *name, ad_blob_policy p,
                                    ad_error *err)
{
    s3_blob *b = (s3_blob *)base;
    char body[512], what[WHAT_MAX];
    const char *actions;
    s3_req rq = {.bucket = name, .query = "policy="};
    ad_code rc = ad_blob_bucket_check(name, err);
    if (rc) return rc;
    switch (p) {
    case AD_BLOB_POLICY_NONE:
        actions = NULL;
        break;
    case AD_BLOB_POLICY_READONLY:
        actions = "\"s3:GetObject\"";
        break;
    case AD_BLOB_POLICY_WRITEONLY:
        actions = "\"s3:PutObject\"";
        break;
    case AD_BLOB_POLICY_READWRITE:
        actions = "\"s3:GetObject\",\"s3:PutObject\"";
        break;
    default:
        return ad_fail(err, AD_E_BAD_REQUEST, "unknown bucket policy %d", (int)p);
    }
    if (actions) {
        rq.method = "PUT";
        rq.body_len = (size_t)snprintf(
            body, sizeof(body),
            "{\"Version\":\"2012-10-17\",\"Statement\":[{\"Sid\":\"assetd\",\"Effect\":"
            "\"Allow\",\"Principal\":{\"AWS\":[\"*\"]},\"Action\":[%s],\"Resource\":["
            "\"arn:aws:s3:::%s/*\"]}]}",
            actions, name);
        rq.body = body;
        rq.sign_body = true;
        rq.content_type = "application/json";
    } else {
        rq.method = "DELETE";
    }
    s3_what(what, sizeof(what), actions ? "PUT (bucket policy)" : "DELETE (bucket policy)", name,
            NULL);
    rc = s3_perform(&b->cl, NULL, &rq, what, err);
    if (!rc && rq.status == 404 && !actions) {
        /* DELETE of a policy that is not there: fine, unless the bucket is missing */
        char code[64];
        size_t pos = 0;
        if (rq.errbody.data &&
            s3_xml_next(rq.errbody.data, rq.errbody.len, &pos, "Code", code, sizeof(code)) == 1 &&
            strcmp(code, "NoSuchBucket") == 0)
            rc = ad_fail(err, AD_E_NOT_FOUND, "bucket %s not found", name);
    } else if (!rc && rq.status != 200 && rq.status != 204) {
        rc = s3_fail(&b->cl, &rq, what, err);
    }
    s3_req_free(&rq);
    return rc;
}

static bool is_str(const json_t *v, const char *want)
{
    return json_is_string(v) && strcmp(json_string_value(v), want) == 0;
}

/* A string or an array of strings that is exactly {want}. */
static bool only(const json_t *v, const char *want)
{
    return is_str(v, want) ||
           (json_is_array(v) && json_array_size(v) == 1 && is_str(json_array_get(v, 0), want));
}

/* What one statement grants anonymous users (1 get, 2 put), or -1 when it
 * is not of the shape we write. */
static int statement_grants(const json_t *st, const char *resource)
{
    const json_t *pr = json_object_get(st, "Principal"), *act = json_object_get(st, "Action");
    const char *k;
    json_t *v;
    int grants = 0;
    size_t i, n;
    if (!json_is_object(st) || !is_str(json_object_get(st, "Effect"), "Allow")) return -1;
    json_object_foreach((json_t *)st, k, v)
    {
        if (strcmp(k, "Sid") && strcmp(k, "Effect") && strcmp(k, "Principal") &&
            strcmp(k, "Action") && strcmp(k, "Resource"))
            return -1; /* Condition, NotAction, NotPrincipal, ... */
    }
    if (!is_str(pr, "*") &&
        !(json_is_object(pr) && json_object_size(pr) == 1 && only(json_object_get(pr, "AWS"), "*")))
        return -1;
    if (!only(json_object_get(st, "Resource"), resource)) return -1;
    n = json_is_array(act) ? json_array_size(act) : 1;
    for (i = 0; i < n; i++) {
        const json_t *a = json_is_array(act) ? json_array_get(act, i) : act;
        if (is_str(a, "s3:GetObject"))
            grants |= 1;
        else if (is_str(a, "s3:PutObject"))
            grants |= 2;
        else
            return -1;
    }
    return grants;
}

static ad_code s3_bucket_policy_get(ad_blob *base, const char *name, ad_blob_policy *p,
                                    ad_error *err)
{
    s3_blob *b = (s3_blob *)base;
    s3_req rq = {.method = "GET", .bucket = name, .query = "policy="};
    char what[WHAT_MAX], resource[AD_BLOB_BUCKET_MAX + 32];
    ad_buf body;
    json_t *doc = NULL, *sts;
    ad_code rc = ad_blob_bucket_check(name, err);
    if (rc) return rc;
    ad_buf_init(&body, POLICY_MAX);
    rq.xml = &body;
    s3_what(what, sizeof(what), "GET (bucket policy)", name, NULL);
    rc = s3_perform(&b->cl, NULL, &rq, what, err);
    *p = AD_BLOB_POLICY_OTHER;
    if (!rc && rq.status == 404) {
        char code[64];
        size_t pos = 0;
        if (rq.errbody.data &&
            s3_xml_next(rq.errbody.data, rq.errbody.len, &pos, "Code", code, sizeof(code)) == 1 &&
            strcmp(code, "NoSuchBucketPolicy") == 0)
            *p = AD_BLOB_POLICY_NONE;
        else
            rc = ad_fail(err, AD_E_NOT_FOUND, "bucket %s not found", name);
    } else if (!rc && rq.status != 200) {
        rc = s3_fail(&b->cl, &rq, what, err);
    } else if (!rc) {
        int grants = 0, g = 0;
        size_t i;
        snprintf(resource, sizeof(resource), "arn:aws:s3:::%s/*", name);
        /* the server's bytes: parsed with the client-input limits */
        if (ad_json_parse(body.data ? body.data : "", body.len, 8, &doc, NULL) == AD_OK &&
            json_is_object(doc) && json_is_array(sts = json_object_get(doc, "Statement")) &&
            json_array_size(sts) > 0) {
            for (i = 0; g >= 0 && i < json_array_size(sts); i++)
                if ((g = statement_grants(json_array_get(sts, i), resource)) >= 0) grants |= g;
            if (g >= 0)
                *p = grants == 1   ? AD_BLOB_POLICY_READONLY
                     : grants == 2 ? AD_BLOB_POLICY_WRITEONLY
                     : grants == 3 ? AD_BLOB_POLICY_READWRITE
                                   : AD_BLOB_POLICY_OTHER;
        }
        json_decref(doc);
    }
    s3_req_free(&rq);
    ad_buf_free(&body);
    return rc;
}

const ad_blob_ops ad_blob_s3_ops = {
    .version = AD_BLOB_OPS_VERSION,
    .scheme = "s3",
    .open = s3_open,
    .close = s3_close,
    .ping = s3_ping,
    .writer_open = s3_writer_open,
    .writer_write = s3_writer_write,
    .writer_commit = s3_writer_commit,
    .writer_abort = s3_writer_abort,
    .stat = s3_stat,
    .read = s3_read,
    .remove = s3_remove,
    .open_fd = NULL,
    .head = s3_head,
    .reader_open = s3_reader_open,
    .reader_read = s3_reader_read,
    .reader_close = s3_reader_close,
    .bucket_create = s3_bucket_create,
    .bucket_exists = s3_bucket_exists,
    .bucket_remove = s3_bucket_remove,
    .bucket_open = s3_bucket_open,
    .bucket_policy_set = s3_bucket_policy_set,
    .bucket_policy_get = s3_bucket_policy_get,
};
