/*
 * stage_store.c — the store stage shared by ZIP uploads and assets pulled
 * from a URL (see stage_store.h).
 *
 * Each block comes from the hash pipe (so SHA-256 runs on its thread while
 * this one runs CRC-32, looks at the first block with libmagic and writes
 * the block out); the pull callback fills it in place, so a byte is copied
 * once on its way from the source to the blob writer. The key is recorded
 * before writer_open: a crash between the two leaves a recorded key with
 * no object, which removal treats as done.
 */
#include "core/stage_store.h"

#include <magic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "core/archive_rules.h"
#include "util/buf.h"

#define MIME_SNIFF ((size_t)64 << 10) /* bytes libmagic looks at */

static void sniff(const ad_stage *s, ad_stage_sum *sum, const char *p, size_t n)
{
    const char *m =
        s->magic ? magic_buffer((magic_t)s->magic, p, n < MIME_SNIFF ? n : MIME_SNIFF) : NULL;
    snprintf(sum->mime, sizeof(sum->mime), "%s", m ? m : "application/octet-stream");
}

static ad_code record_key(const ad_stage *s, const char *key, ad_error *err)
{
    char rec[AD_BLOB_KEY_MAX + 80];
    if (s->bucket) {
        if ((size_t)snprintf(rec, sizeof(rec), "@%s/%s", s->bucket, key) >= sizeof(rec))
            return ad_fail(err, AD_E_BAD_REQUEST, "key too long");
        key = rec;
    }
    if (s->jobs->ops->add_key(s->jobs, s->job_id, key, err)) {
        char m[AD_ERROR_MSG_MAX];
        snprintf(m, sizeof(m), "%s", err->msg);
        return ad_fail(err, AD_E_BACKEND, "job store error: %s", m);
    }
    return AD_OK;
}

/* Pulls, sums and writes every block; -1 when a callback stopped. */
static ad_code copy(ad_stage *s, ad_blob_writer *w, ad_stage_sum *sum, uLong *crc, ad_error *err)
{
    for (;;) {
        char *b = ad_hashpipe_block(s->hp);
        long n = s->pull(s->ctx, b, AD_HASHPIPE_BLOCK);
        if (n < 0) return ad_fail(err, AD_E_BAD_REQUEST, "%s", "");
        if (n == 0) return AD_OK;
        if (s->block && s->block(s->ctx, (size_t)n))
            return ad_fail(err, AD_E_BAD_REQUEST, "%s", "");
        if (sum->size == 0) sniff(s, sum, b, (size_t)n);
        sum->size += (uint64_t)n;
        ad_hashpipe_submit(s->hp, (size_t)n);
        *crc = crc32_z(*crc, (const Bytef *)b, (size_t)n);
        if (s->blobs->ops->writer_write(w, b, (size_t)n, err)) {
            char m[AD_ERROR_MSG_MAX];
            snprintf(m, sizeof(m), "%s", err->msg);
            return ad_fail(err, AD_E_BACKEND, "storage error: %s", m);
        }
    }
}

ad_code ad_stage_file(ad_stage *s, const char *key, ad_stage_sum *sum, ad_error *err)
{
    const ad_blob_ops *ops = s->blobs->ops;
    ad_blob_writer *w = NULL;
    uLong crc = crc32(0, NULL, 0);
    ad_code rc;
    int hashed;
    memset(sum, 0, sizeof(*sum));
    rc = record_key(s, key, err);
    if (rc) return rc;
    if (ops->writer_open(s->blobs, key, &w, err)) {
        char m[AD_ERROR_MSG_MAX];
        snprintf(m, sizeof(m), "%s", err->msg);
        return ad_fail(err, AD_E_BACKEND, "storage error: %s", m);
    }
    rc = copy(s, w, sum, &crc, err);
    hashed = ad_hashpipe_digest(s->hp, sum->sha256); /* also ends the stream of a failed file */
    sum->crc = (uint32_t)crc;
    if (!rc && sum->size == 0) sniff(s, sum, "", 0);
    if (!rc && hashed) rc = ad_fail(err, AD_E_INTERNAL, "hashing failed");
    if (!rc && s->done && s->done(s->ctx, sum)) rc = ad_fail(err, AD_E_BAD_REQUEST, "%s", "");
    if (rc) {
        ops->writer_abort(w);
        return rc;
    }
    if (ops->writer_commit(w, err)) {
        char m[AD_ERROR_MSG_MAX];
        snprintf(m, sizeof(m), "%s", err->msg);
        return ad_fail(err, AD_E_BACKEND, "storage error: %s", m);
    }
    return AD_OK;
}

char *ad_stage_file_url(const char *base, const char *name)
{
    ad_buf b;
    size_t n = strlen(base);
    while (n && base[n - 1] == '/') n--; /* "http://h/" and "http://h" alike */
    ad_buf_init(&b, SIZE_MAX);
    if (ad_buf_append(&b, base, n) || ad_buf_puts(&b, "/") || ad_url_path_append(&b, name)) {
        ad_buf_free(&b);
        return NULL;
    }
    return ad_buf_steal(&b, NULL);
}

static int set_str(json_t *o, const char *k, const char *v)
{
    return json_object_set_new(o, k, json_string(v));
}

json_t *ad_stage_file_entry(const json_t *given, const char *name, const ad_stage_sum *sum,
                            const char *url)
{
    static const char hex[] = "0123456789abcdef";
    json_t *e = given ? json_deep_copy(given) : json_object(), *md;
    char sha[65], crc[9];
    int i, rc;
    if (!e) return NULL;
    for (i = 0; i < 32; i++)
        sha[2 * i] = hex[sum->sha256[i] >> 4], sha[2 * i + 1] = hex[sum->sha256[i] & 15];
    sha[64] = '\0';
    snprintf(crc, sizeof(crc), "%08lx", (unsigned long)sum->crc);
    md = json_object_get(e, "asset_file_metadata");
    if (!json_is_object(md)) json_object_set_new(e, "asset_file_metadata", md = json_object());
    rc = md ? 0 : -1;
    if (!rc) rc = json_object_set_new(md, "size", json_integer((json_int_t)sum->size));
    if (!rc) rc = set_str(md, "sha256", sha) || set_str(md, "crc32", crc);
    if (!rc) rc = set_str(e, "asset_file_id", name);
    if (!rc && !json_is_string(json_object_get(e, "asset_file_type")))
        rc = set_str(e, "asset_file_type", "binary");
    if (!rc && !json_is_string(json_object_get(e, "asset_file_mime_type")))
        rc = set_str(e, "asset_file_mime_type", sum->mime);
    if (!rc) rc = set_str(e, "asset_file_url", url);
    if (rc) {
        json_decref(e);
        return NULL;
    }
    return e;
}
