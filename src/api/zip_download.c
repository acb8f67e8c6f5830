/*
 * zip_download.c — GET /zip/download/<asset_id>: the asset as a zip built
 * while it is sent: asset.json (the stored metadata text) first, then
 * every file of `files` in its order, each stored (not recompressed) and
 * streamed from the blob store.
 *
 * Files stored in a bucket (<public_url>/buckets/<name>/files/<key>) are
 * read from that bucket's store (ad_registry_file_store), the others from
 * the main store.
 *
 * Stored files are read through the blob store's descriptor (the file
 * store: pread on one open file), else its sequential reader (S3: one GET
 * per file for the whole download, not one per chunk), else ranged reads.
 *
 * Everything that can fail is settled before the status line goes out:
 * every file is opened (its size checked against the metadata) and a file
 * whose CRC-32 the metadata lacks is read once to compute it. The layout
 * (core/zipwrite.h) then gives the exact length, so the response has a
 * Content-Length, an ETag (length + a digest of every header, which holds
 * names, sizes, CRCs and the timestamp) and answers Range / If-Range with
 * 206. The timestamp is the asset's last write, so the bytes are the same
 * on every request until the asset changes.
 *
 * A file whose URL points outside the store is fetched over http(s) with
 * --fetch-external on (core/urlsource.h: its size by HEAD, its CRC by one
 * full read when the metadata has none, then ranged GETs while sending);
 * with it off (the default, so a registry does not make requests to
 * wherever an asset document points) the download fails with 502 before
 * any byte.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zlib.h>

#include "api/api.h"
#include "core/auth.h"
#include "core/urlsource.h"
#include "core/zipwrite.h"
#include "util/buf.h"
#include "util/log.h"

#define CRC_BUF (256 * 1024)

typedef struct dl_file {
    char *key;      /* blob key; NULL for asset.json (entry 0) and external files */
    ad_blob *blobs; /* the store holding key: the main one or a bucket's */
    char *url;      /* an external file's URL */
    uint64_t size;
} dl_file;

typedef struct dl {
    bool fetch_external;
    ad_urlsrc *web; /* for external files, created when first needed */
    ad_doc doc;     /* asset.json */
    dl_file *files;
    size_t n; /* entries, asset.json included */
    ad_zip *zip;
    uint64_t start, len; /* the part of the archive sent */
    int fd;              /* open file of entry fd_entry (blob stores with open_fd) */
    size_t fd_entry;
    ad_blob_reader *rd; /* reader of entry rd_entry at rd_pos (stores with readers) */
    size_t rd_entry;
    uint64_t rd_pos;
    char *id;
} dl;

static void dl_free(void *p)
{
    dl *d = p;
    size_t i;
    if (!d) return;
    if (d->fd >= 0) close(d->fd);
    if (d->rd) d->files[d->rd_entry].blobs->ops->reader_close(d->rd);
    for (i = 0; i < d->n; i++) free(d->files[i].key), free(d->files[i].url);
    ad_urlsrc_free(d->web);
    free(d->files);
    ad_zip_free(d->zip);
    ad_doc_free(&d->doc);
    free(d->id);
    free(d);
}

/* An error envelope with a status ad_code has no name for. */
static void reply_status(http_req *r, int status, const char *code, const char *msg)
{
    ad_buf b;
    size_t len;
    char *body;
    ad_buf_init(&b, 16 * 1024);
    ad_buf_puts(&b, "{\"success\":false,\"error\":");
    ad_buf_json_string(&b, msg, strlen(msg));
    ad_buf_printf(&b, ",\"code\":\"%s\"}", code);
    body = ad_buf_steal(&b, &len);
    ad_log(AD_LOG_WARN, "msg=\"zip download refused\" status=%d error=\"%.300s\"", status, msg);
    http_reply(r, status, "application/json", body, len);
}

/* --- reading entries --- */

static ad_code read_file(dl *d, size_t i, uint64_t off, void *buf, size_t n, size_t *got,
                         ad_error *err)
{
    ad_blob *b = d->files[i].blobs;
    if (d->files[i].url) return ad_urlsrc_read(d->web, d->files[i].url, off, buf, n, got, err);
    if (b->ops->open_fd) {
        ssize_t k;
        if (d->fd < 0 || d->fd_entry != i) {
            uint64_t size, version;
            ad_code rc;
            if (d->fd >= 0) close(d->fd);
            d->fd = -1;
            rc = b->ops->open_fd(b, d->files[i].key, &d->fd, &size, &version, err);
            if (rc) return rc;
            d->fd_entry = i;
        }
        do k = pread(d->fd, buf, n, (off_t)off);
        while (k < 0 && errno == EINTR);
        if (k < 0)
            return ad_fail(err, AD_E_BACKEND, "reading %s: %s", d->files[i].key, strerror(errno));
        *got = (size_t)k;
        return AD_OK;
    }
    if (b->ops->reader_open) {
        ad_code rc;
        if (d->rd && (d->rd_entry != i || d->rd_pos != off)) { /* elsewhere: start again */
            b->ops->reader_close(d->rd);
            d->rd = NULL;
        }
        if (!d->rd) {
            uint64_t len = off < d->files[i].size ? d->files[i].size - off : 0;
            rc = b->ops->reader_open(b, d->files[i].key, off, len, &d->rd, err);
            if (rc) return rc;
            d->rd_entry = i, d->rd_pos = off;
        }
        rc = b->ops->reader_read(d->rd, buf, n, got, err);
        d->rd_pos += *got;
        if (rc || *got == 0) { /* done with it (or failed): let it go now */
            b->ops->reader_close(d->rd);
            d->rd = NULL;
        }
        return rc;
    }
    return b->ops->read(b, d->files[i].key, off, buf, n, got, err);
}

static ad_code read_entry(void *ctx, size_t i, uint64_t off, void *buf, size_t n, size_t *got,
                          ad_error *err)
{
    dl *d = ctx;
    if (i == 0) {
        size_t left = off < d->doc.len ? d->doc.len - (size_t)off : 0;
        *got = left < n ? left : n;
        memcpy(buf, d->doc.json + off, *got);
        return AD_OK;
    }
    return read_file(d, i, off, buf, n, got, err);
}

static long produce(void *ctx, uint64_t pos, char *buf, size_t max)
{
    dl *d = ctx;
    ad_error err = {0};
    size_t got = 0;
    uint64_t left = d->len - pos;
    if (pos >= d->len) return -1;
    if (ad_zip_read(d->zip, d->start + pos, buf, left < max ? (size_t)left : max, &got, read_entry,
                    d, &err) ||
        got == 0) {
        ad_log(AD_LOG_ERROR, "msg=\"zip download cut short\" asset_id=\"%s\" error=\"%s\"", d->id,
               err.msg);
        return -1;
    }
    return (long)got;
}

/* --- planning --- */

static bool parse_crc(const char *hex, uint32_t *out)
{
    unsigned long v;
    char *end;
    if (!hex || strlen(hex) != 8) return false;
    v = strtoul(hex, &end, 16);
    if (*end) return false;
    *out = (uint32_t)v;
    return true;
}

static ad_code compute_crc(dl *d, size_t i, uint32_t *crc, ad_error *err)
{
    if (d->files[i].url)
        return ad_urlsrc_crc32(d->web, d->files[i].url, d->files[i].size, crc, err);
    char *buf = malloc(CRC_BUF);
    uLong c = crc32(0L, Z_NULL, 0);
    uint64_t off = 0;
    ad_code rc = AD_OK;
    if (!buf) return ad_fail(err, AD_E_NOMEM, "out of memory");
    while (off < d->files[i].size) {
        size_t got = 0;
        rc = read_file(d, i, off, buf, CRC_BUF, &got, err);
        if (rc) break;
        if (got == 0) {
            rc = ad_fail(err, AD_E_BACKEND, "%s ended early", d->files[i].key);
            break;
        }
        c = crc32(c, (const Bytef *)buf, (uInt)got);
        off += got;
    }
    free(buf);
    *crc = (uint32_t)c;
    return rc;
}

/* File i lives at url, outside the store: its size, if fetching is on. */
static ad_code open_external(dl *d, size_t i, const char *name, const char *url, int *status,
                             ad_error *err)
{
    bool web = url && (strncmp(url, "http://", 7) == 0 || strncmp(url, "https://", 8) == 0);
    *status = 502;
    if (!d->fetch_external || !web)
        return ad_fail(err, AD_E_BACKEND,
                       "file \"%.200s\": its URL \"%.300s\" is outside this registry's store, "
                       "and %s",
                       name, url ? url : "",
                       web ? "fetching external files is off (--fetch-external on enables it)"
                           : "it is not an http(s) URL");
    if (!d->web && !(d->web = ad_urlsrc_new())) return ad_fail(err, AD_E_NOMEM, "out of memory");
    if (!(d->files[i].url = strdup(url))) return ad_fail(err, AD_E_NOMEM, "out of memory");
    return ad_urlsrc_size(d->web, url, &d->files[i].size, err);
}

/* Opens file i (its size) and finds its CRC. status/code describe a
 * failure for the client. */
static ad_code plan_file(dl *d, ad_registry *reg, const json_t *f, size_t i, ad_zip_entry *e,
                         int *status, ad_error *err)
{
    const char *name = json_string_value(json_object_get(f, "asset_file_id"));
    const char *url = json_string_value(json_object_get(f, "asset_file_url"));
    const json_t *meta = json_object_get(f, "asset_file_metadata");
    const json_t *msize = json_object_get(meta, "size");
    char key[AD_BLOB_KEY_MAX + 1];
    ad_blob *b = NULL;
    ad_code rc;
    e->name = name ? name : "";
    if (!ad_registry_file_store(reg, url, &b, key, sizeof(key))) {
        rc = open_external(d, i, e->name, url, status, err);
        if (rc && !d->files[i].url) return rc; /* refused, not failed */
    } else if (!(d->files[i].key = strdup(key))) {
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    } else if ((d->files[i].blobs = b)->ops->open_fd) {
        uint64_t version;
        if (d->fd >= 0) close(d->fd);
        d->fd = -1;
        rc = b->ops->open_fd(b, key, &d->fd, &d->files[i].size, &version, err);
        d->fd_entry = i;
    } else {
        rc = b->ops->stat(b, key, &d->files[i].size, err);
    }
    if (rc) {
        char why[sizeof(err->msg)];
        snprintf(why, sizeof(why), "%s", err->msg); /* err->msg is rewritten below */
        *status = 502;
        return ad_fail(err, rc, "file \"%.200s\" cannot be read from %s: %s", e->name,
                       d->files[i].url ? "its URL" : "the store", why);
    }
    if (json_is_integer(msize) && (uint64_t)json_integer_value(msize) != d->files[i].size) {
        *status = 502;
        return ad_fail(err, AD_E_BACKEND,
                       "file \"%.200s\": the source holds %" PRIu64
                       " bytes, the metadata says %" PRId64,
                       e->name, d->files[i].size, (int64_t)json_integer_value(msize));
    }
    e->size = d->files[i].size;
    if (parse_crc(json_string_value(json_object_get(meta, "crc32")), &e->crc32)) return AD_OK;
    rc = compute_crc(d, i, &e->crc32, err);
    if (rc) *status = 502;
    return rc;
}

static ad_code plan(dl *d, ad_registry *reg, int *status, ad_error *err)
{
    json_t *doc = json_loadb(d->doc.json, d->doc.len, 0, NULL);
    const json_t *files = json_object_get(doc, "files"), *f;
    ad_zip_entry *e;
    size_t i;
    ad_code rc = AD_OK;
    *status = 0;
    if (!doc) return ad_fail(err, AD_E_BACKEND, "stored asset %s is not valid JSON", d->id);
    d->n = json_array_size(files) + 1;
    d->files = calloc(d->n, sizeof(*d->files));
    e = calloc(d->n, sizeof(*e));
    if (!d->files || !e) rc = ad_fail(err, AD_E_NOMEM, "out of memory");
    if (!rc) {
        e[0].name = "asset.json", e[0].size = d->doc.len;
        e[0].crc32 =
            (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)d->doc.json, (uInt)d->doc.len);
    }
    json_array_foreach(files, i, f)
    {
        if (rc) break;
        rc = plan_file(d, reg, f, i + 1, &e[i + 1], status, err);
    }
    if (!rc) {
        rc = ad_zip_new(e, d->n, d->doc.mtime, &d->zip, err);
        if (rc) *status = 409;
    }
    free(e);
    json_decref(doc);
    return rc;
}

/* --- headers --- */

static bool is_token_safe(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s >= 0x7F) return false;
    return true;
}

/* attachment; filename="<id>.zip" (quotes and backslashes escaped), plus
 * filename*=UTF-8''<percent-encoded> (RFC 6266, 8187) when the id is not
 * plain ASCII, with '_' for those bytes in the fallback. */
static void add_disposition(http_req *r, const char *id)
{
    static const char hex[] = "0123456789ABCDEF";
    ad_buf b;
    const char *p;
    char *v;
    bool plain = is_token_safe(id);
    ad_buf_init(&b, 8 * 1024);
    ad_buf_puts(&b, "attachment; filename=\"");
    for (p = id; *p; p++) {
        unsigned char c = (unsigned char)*p;
        char out[2] = {(char)c, '\0'};
        if (c == '"' || c == '\\') ad_buf_append(&b, "\\", 1);
        if (c < 0x20 || c >= 0x7F) out[0] = '_';
        ad_buf_append(&b, out, 1);
    }
    ad_buf_puts(&b, ".zip\"");
    if (!plain) {
        ad_buf_puts(&b, "; filename*=UTF-8''");
        for (p = id; *p; p++) {
            unsigned char c = (unsigned char)*p;
            if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
                strchr("-._~", c)) {
                ad_buf_append(&b, p, 1);
            } else {
                char pct[3] = {'%', hex[c >> 4], hex[c & 15]};
                ad_buf_append(&b, pct, 3);
            }
        }
        ad_buf_puts(&b, ".zip");
    }
    v = ad_buf_steal(&b, NULL);
    if (v) http_req_add_header(r, "Content-Disposition", v);
    free(v);
}

static void send_zip(http_req *r, dl *d)
{
    char etag[64];
    uint64_t total = ad_zip_length(d->zip);
    int status = 200;
    snprintf(etag, sizeof(etag), "\"z1-%" PRIx64 "-%016" PRIx64 "\"", total, ad_zip_digest(d->zip));
    http_req_add_header(r, "ETag", etag);
    http_req_add_header(r, "Accept-Ranges", "bytes");
    add_disposition(r, d->id);
    d->start = 0, d->len = total;
    switch (http_req_range(r, total, etag, &d->start, &d->len)) {
    case HTTP_RANGE_UNSATISFIABLE:
        dl_free(d);
        http_reply_416(r, total);
        return;
    case HTTP_RANGE_OK:
        status = 206;
        http_add_content_range(r, d->start, d->len, total);
        break;
    case HTTP_RANGE_NONE:
        break;
    }
    http_reply_sized(r, status, "application/zip", d->len, produce, d, dl_free);
}

/* asset.json as the caller may see it: the secret field redacted below admin
 * (so the archive, its length and its ETag differ by role). */
static ad_code redact(http_req *r, dl *d, ad_error *err)
{
    char *red = NULL;
    size_t len = 0;
    if (api_sees_secrets(r) || !ad_redact_doc(d->doc.json, d->doc.len, &red, &len)) return AD_OK;
    if (!red) return ad_fail(err, AD_E_INTERNAL, "asset %s could not be redacted", d->id);
    free(d->doc.json);
    d->doc.json = red;
    d->doc.len = len;
    return AD_OK;
}

void api_zip_download(http_req *r)
{
    ad_app *app = api_app(r);
    const char *id = http_req_param(r, 0);
    ad_error err = {0};
    int status = 0;
    dl *d = calloc(1, sizeof(*d));
    if (!d) {
        http_reply_error(r, AD_E_NOMEM, "out of memory");
        return;
    }
    d->fd = -1;
    d->fetch_external = app->fetch_external;
    if (!(d->id = strdup(id))) {
        dl_free(d);
        http_reply_error(r, AD_E_NOMEM, "out of memory");
        return;
    }
    if (ad_registry_get(app->reg, id, &d->doc, &err) || redact(r, d, &err) ||
        plan(d, app->reg, &status, &err)) {
        dl_free(d);
        if (status == 502)
            reply_status(r, 502, "file_unavailable", err.msg);
        else if (status == 409)
            reply_status(r, 409, "conflict", err.msg);
        else
            api_reply_error(r, &err);
        return;
    }
    send_zip(r, d);
}
