/*
 * files.c — GET/HEAD /files/<key>: the bytes of one stored file, the URL
 * put in asset_file_url. The key is the decoded rest of the path
 * ("<upload_id>/<path in the archive>"), checked by the blob key rules (so
 * no "..", no empty or "." segments).
 *
 * With a blob store that hands out descriptors (the file store) the body
 * goes out with sendfile(2); otherwise it is streamed through the store's
 * sequential reader (one GET for the whole body on S3), or ranged reads
 * for a store without one. The ETag is a strong validator of the stored
 * object: its size and the store's version of it (a new one whenever the
 * object is replaced; stores without a head slot give the size only).
 *
 * api_files_send is the sender of any store: /buckets/<name>/files/<key>
 * (buckets.c) uses it on the bucket's own store.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api.h"
#include "util/log.h"

typedef struct blob_stream {
    ad_blob *blobs;
    char *key;
    uint64_t start, len;
    ad_blob_reader *reader; /* opened at the first byte asked for */
    uint64_t reader_pos;    /* the body position the reader is at */
} blob_stream;

static void stream_free(void *p)
{
    blob_stream *s = p;
    if (!s) return;
    if (s->reader) s->blobs->ops->reader_close(s->reader);
    free(s->key);
    free(s);
}

static long stream_read(void *ctx, uint64_t pos, char *buf, size_t max)
{
    blob_stream *s = ctx;
    const ad_blob_ops *ops = s->blobs->ops;
    ad_error err = {0};
    size_t got = 0;
    ad_code rc;
    if (pos >= s->len) return -1;
    if (!ops->reader_open) {
        rc = ops->read(s->blobs, s->key, s->start + pos, buf, max, &got, &err);
    } else {
        if (s->reader && s->reader_pos != pos) { /* not where it is: start again there */
            ops->reader_close(s->reader);
            s->reader = NULL;
        }
        rc = s->reader ? AD_OK
                       : ops->reader_open(s->blobs, s->key, s->start + pos, s->len - pos,
                                          &s->reader, &err);
        if (!rc) {
            s->reader_pos = pos;
            rc = ops->reader_read(s->reader, buf, max, &got, &err);
            s->reader_pos += got;
        }
    }
    if (rc || got == 0) {
        ad_log(AD_LOG_ERROR, "msg=\"file download cut short\" error=\"%.300s\"",
               rc ? err.msg : "the object ended early");
        return -1;
    }
    return (long)got;
}

/* Sets the ETag and decides the part to send: 0 to go on with status in
 * *status, or -1 when a 416 was sent. */
static int choose_range(http_req *r, uint64_t size, const char *etag, uint64_t *start,
                        uint64_t *len, int *status)
{
    http_req_add_header(r, "ETag", etag);
    http_req_add_header(r, "Accept-Ranges", "bytes");
    *start = 0, *len = size, *status = 200;
    switch (http_req_range(r, size, etag, start, len)) {
    case HTTP_RANGE_UNSATISFIABLE:
        http_reply_416(r, size);
        return -1;
    case HTTP_RANGE_OK:
        *status = 206;
        http_add_content_range(r, *start, *len, size);
        break;
    case HTTP_RANGE_NONE:
        break;
    }
    return 0;
}

static bool not_modified(http_req *r, const char *etag)
{
    const char *v = http_req_header(r, "If-None-Match");
    if (!v) return false;
    if (strncmp(v, "W/", 2) == 0) v += 2;
    return strcmp(v, etag) == 0 || strcmp(v, "*") == 0;
}

static void send_fd(http_req *r, ad_blob *b, const char *key)
{
    ad_error err = {0};
    uint64_t size = 0, version = 0, start, len;
    char etag[64];
    int fd = -1, status;
    if (b->ops->open_fd(b, key, &fd, &size, &version, &err)) {
        api_reply_error(r, &err);
        return;
    }
    snprintf(etag, sizeof(etag), "\"%" PRIx64 "-%016" PRIx64 "\"", size, version);
    if (not_modified(r, etag)) {
        close(fd);
        http_req_add_header(r, "ETag", etag);
        http_reply(r, 304, NULL, NULL, 0);
        return;
    }
    if (choose_range(r, size, etag, &start, &len, &status)) {
        close(fd);
        return;
    }
    http_reply_fd(r, status, "application/octet-stream", fd, start, len);
}

static void send_stream(http_req *r, ad_blob *b, const char *key)
{
    ad_error err = {0};
    uint64_t size = 0, version = 0, start, len;
    char etag[64];
    int status;
    blob_stream *s;
    if (b->ops->head ? b->ops->head(b, key, &size, &version, &err)
                     : b->ops->stat(b, key, &size, &err)) {
        api_reply_error(r, &err);
        return;
    }
    if (b->ops->head)
        snprintf(etag, sizeof(etag), "\"%" PRIx64 "-%016" PRIx64 "\"", size, version);
    else
        snprintf(etag, sizeof(etag), "\"%" PRIx64 "\"", size);
    if (not_modified(r, etag)) {
        http_req_add_header(r, "ETag", etag);
        http_reply(r, 304, NULL, NULL, 0);
        return;
    }
    if (choose_range(r, size, etag, &start, &len, &status)) return;
    s = calloc(1, sizeof(*s));
    if (!s || !(s->key = strdup(key))) {
        free(s);
        http_reply_error(r, AD_E_NOMEM, "out of memory");
        return;
    }
    s->blobs = b, s->start = start, s->len = len;
    http_reply_sized(r, status, "application/octet-stream", len, stream_read, s, stream_free);
}

void api_files_send(http_req *r, ad_blob *b, const char *key)
{
    ad_error err = {0};
    if (ad_blob_key_check(key, &err)) {
        api_reply_error(r, &err);
        return;
    }
    if (b->ops->open_fd)
        send_fd(r, b, key);
    else
        send_stream(r, b, key);
}

void api_files_get(http_req *r)
{
    api_files_send(r, api_app(r)->blobs, http_req_param(r, 0));
}
