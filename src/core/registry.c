/*
 * registry.c — the registry service (see registry.h).
 */
#include "core/registry.h"

#include <stdlib.h>
#include <string.h>

#include "core/buckets.h"
#include "core/model.h"
#include "core/source.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

#define UPDATE_RETRIES 16 /* concurrent writers racing on one asset */

struct ad_registry {
    ad_meta *meta;
    ad_blob *blobs;       /* where uploaded files are stored; NULL: none */
    char *files_prefix;   /* "<public_url>/files/" */
    ad_buckets *buckets;  /* files in buckets; NULL: none */
    char *buckets_prefix; /* "<public_url>/buckets/" */
    ad_registry_hooks hooks;
};

void ad_registry_set_hooks(ad_registry *r, const ad_registry_hooks *h)
{
    r->hooks = *h;
}

ad_registry *ad_registry_new(ad_meta *meta)
{
    ad_registry *r = calloc(1, sizeof(*r));
    if (r) r->meta = meta;
    return r;
}

void ad_registry_free(ad_registry *r)
{
    if (r) free(r->files_prefix), free(r->buckets_prefix);
    free(r);
}

ad_meta *ad_registry_meta(ad_registry *r)
{
    return r->meta;
}

/* Normalizes a valid asset and serializes it: the canonical stored form. */
static ad_code canonical(const json_t *asset, json_t **norm, char **text, size_t *len,
                         ad_error *err)
{
    *norm = ad_asset_normalize(asset);
    if (!*norm) return ad_fail(err, AD_E_NOMEM, "out of memory");
    *text = ad_json_dump(*norm, len);
    if (!*text) {
        json_decref(*norm);
        *norm = NULL;
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    return AD_OK;
}

/* The end of a write: on success out takes text (and its length and new
 * revision), else text is freed. Returns rc. */
static ad_code hand_over(ad_code rc, char *text, size_t len, int64_t rev, ad_doc *out)
{
    if (rc) {
        free(text);
        return rc;
    }
    out->json = text;
    out->len = len;
    out->rev = rev;
    return AD_OK;
}

ad_code ad_registry_create(ad_registry *r, const json_t *asset, ad_doc *out, ad_error *err)
{
    json_t *norm, *doc;
    char *text;
    size_t len;
    int64_t rev = 0, gen = 0;
    const char *id;
    ad_code rc;
    if (!json_is_object(asset)) return ad_asset_validate(asset, err);
    doc = json_copy((json_t *)asset);
    if (!doc) return ad_fail(err, AD_E_NOMEM, "out of memory");
    rc = ad_source_prepare(NULL, doc, &gen, err);
    if (!rc) rc = ad_asset_validate(doc, err);
    if (!rc) rc = canonical(doc, &norm, &text, &len, err);
    json_decref(doc);
    if (rc) return rc;
    id = json_string_value(json_object_get(norm, "asset_id"));
    rc = r->meta->ops->insert(r->meta, id, text, len, norm, &rev, err);
    if (!rc && gen && r->hooks.generation) r->hooks.generation(r->hooks.ctx, id, gen);
    json_decref(norm);
    return hand_over(rc, text, len, rev, out);
}

ad_code ad_registry_replace(ad_registry *r, const char *id, int64_t expect_rev, const json_t *doc,
                            ad_doc *out, ad_error *err)
{
    json_t *norm;
    char *text;
    size_t len;
    int64_t rev = 0;
    ad_code rc = ad_asset_validate(doc, err);
    if (!rc) rc = canonical(doc, &norm, &text, &len, err);
    if (rc) return rc;
    rc = r->meta->ops->replace(r->meta, id, expect_rev, text, len, norm, &rev, err);
    json_decref(norm);
    return hand_over(rc, text, len, rev, out);
}

/* One read-merge-validate-write pass. */
static ad_code update_once(ad_registry *r, const char *id, const json_t *patch, int64_t if_match,
                           ad_doc *out, ad_error *err)
{
    ad_doc cur = {0};
    json_t *doc = NULL, *norm = NULL, *prev = NULL;
    char *text = NULL;
    size_t len = 0;
    int64_t rev = 0, gen = 0;
    ad_code rc = r->meta->ops->get(r->meta, id, &cur, err);
    if (rc) return rc;
    if (if_match != AD_REV_ANY && if_match != cur.rev) {
        rc = ad_fail(err, AD_E_PRECONDITION, "asset %s is at revision %lld, not %lld (If-Match)",
                     id, (long long)cur.rev, (long long)if_match);
        goto out;
    }
    doc = json_loadb(cur.json, cur.len, 0, NULL);
    if (!doc) {
        rc = ad_fail(err, AD_E_BACKEND, "stored asset %s is not valid JSON", id);
        goto out;
    }
    prev = json_copy(doc);
    if (!prev || json_object_update(doc, (json_t *)patch)) {
        rc = ad_fail(err, AD_E_NOMEM, "out of memory");
        goto out;
    }
    rc = ad_source_prepare(prev, doc, &gen, err);
    if (!rc) rc = ad_asset_validate(doc, err);
    if (!rc) rc = canonical(doc, &norm, &text, &len, err);
    if (!rc) rc = r->meta->ops->replace(r->meta, id, cur.rev, text, len, norm, &rev, err);
    if (!rc && gen && r->hooks.generation) r->hooks.generation(r->hooks.ctx, id, gen);
    if (!rc) {
        out->json = text;
        out->len = len;
        out->rev = rev;
        text = NULL;
    }
out:
    free(text);
    json_decref(norm);
    json_decref(prev);
    json_decref(doc);
    ad_doc_free(&cur);
    return rc;
}

ad_code ad_registry_update(ad_registry *r, const char *id, const json_t *patch, int64_t if_match,
                           ad_doc *out, ad_error *err)
{
    int attempt;
    ad_code rc = ad_asset_validate_patch(patch, id, err);
    if (rc) return rc;
    for (attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
        rc = update_once(r, id, patch, if_match, out, err);
        /* a precondition failure without If-Match means another writer
         * got in between our read and our write: read again */
        if (rc != AD_E_PRECONDITION || if_match != AD_REV_ANY) return rc;
    }
    return ad_fail(err, AD_E_UNAVAILABLE, "asset %s is being updated too often; try again", id);
}

/* *dst = public_url without trailing slashes, then tail; -1 when out of
 * memory (*dst then NULL). */
static int set_prefix(char **dst, const char *public_url, const char *tail)
{
    size_t n = strlen(public_url), t = strlen(tail);
    while (n && public_url[n - 1] == '/') n--;
    free(*dst);
    *dst = malloc(n + t + 1);
    if (!*dst) return -1;
    memcpy(*dst, public_url, n);
    memcpy(*dst + n, tail, t + 1);
    return 0;
}

ad_code ad_registry_set_files(ad_registry *r, ad_blob *blobs, const char *public_url)
{
    if (set_prefix(&r->files_prefix, public_url, "/files/")) return AD_E_NOMEM;
    r->blobs = blobs;
    return AD_OK;
}

ad_blob *ad_registry_blobs(ad_registry *r)
{
    return r->blobs;
}

bool ad_registry_file_key(const ad_registry *r, const char *url, char *key, size_t cap)
{
    size_t plen, n;
    long k;
    if (!r->blobs || !r->files_prefix || !url) return false;
    plen = strlen(r->files_prefix);
    if (strncmp(url, r->files_prefix, plen) != 0) return false;
    url += plen;
    n = strlen(url);
    if (n == 0 || n >= cap || strpbrk(url, "?#")) return false;
    k = ad_pct_decode(url, n, key, false);
    if (k <= 0) return false;
    key[k] = '\0';
    return ad_blob_key_check(key, NULL) == AD_OK;
}

ad_code ad_registry_set_buckets(ad_registry *r, ad_buckets *buckets, const char *public_url)
{
    if (set_prefix(&r->buckets_prefix, public_url, "/buckets/")) return AD_E_NOMEM;
    r->buckets = buckets;
    return AD_OK;
}

bool ad_registry_file_store(ad_registry *r, const char *url, ad_blob **store, char *key, size_t cap)
{
    char name[AD_BUCKET_NAME_MAX + 1];
    size_t plen, nlen, n;
    long k;
    if (ad_registry_file_key(r, url, key, cap)) {
        *store = r->blobs;
        return true;
    }
    /* <public_url>/buckets/<name>/files/<key> */
    if (!r->buckets || !r->buckets_prefix || !url) return false;
    plen = strlen(r->buckets_prefix);
    if (strncmp(url, r->buckets_prefix, plen) != 0) return false;
    url += plen;
    nlen = strcspn(url, "/");
    if (nlen == 0 || nlen > AD_BUCKET_NAME_MAX || strncmp(url + nlen, "/files/", 7) != 0)
        return false;
    memcpy(name, url, nlen);
    name[nlen] = '\0';
    url += nlen + 7;
    n = strlen(url);
    if (n == 0 || n >= cap || strpbrk(url, "?#")) return false;
    k = ad_pct_decode(url, n, key, false);
    if (k <= 0) return false;
    key[k] = '\0';
    return ad_blob_key_check(key, NULL) == AD_OK &&
           ad_buckets_store(r->buckets, name, store, NULL) == AD_OK;
}

/* Removes the stored files of a deleted asset's document (in the main
 * store or in a bucket; those of an asset with a source: the controller's
 * hook, which knows where its content is while a spec change is pending). */
static void remove_files(ad_registry *r, const char *id, const ad_doc *d)
{
    char key[AD_BLOB_KEY_MAX + 1];
    json_t *doc = json_loadb(d->json, d->len, 0, NULL), *f;
    size_t i;
    if (json_is_object(json_object_get(doc, "source"))) {
        if (r->hooks.deleted) r->hooks.deleted(r->hooks.ctx, id, doc);
        json_decref(doc);
        return;
    }
    json_array_foreach(json_object_get(doc, "files"), i, f)
    {
        ad_error err = {0};
        const char *url = json_string_value(json_object_get(f, "asset_file_url"));
        ad_blob *store = NULL;
        if (!ad_registry_file_store(r, url, &store, key, sizeof(key))) continue;
        if (store->ops->remove(store, key, &err))
            ad_log(AD_LOG_WARN,
                   "msg=\"cannot remove a file of a deleted asset\" asset_id=\"%.200s\" "
                   "key=\"%.300s\" error=\"%s\"",
                   id, key, err.msg);
    }
    json_decref(doc);
}

ad_code ad_registry_delete(ad_registry *r, const char *id, int64_t if_match, ad_error *err)
{
    ad_doc cur = {0};
    ad_code rc;
    int attempt;
    if (!r->blobs && !r->hooks.deleted) return r->meta->ops->remove(r->meta, id, if_match, err);
    /* delete the revision whose files we read, so a concurrent update
     * cannot leave files of the new revision behind */
    for (attempt = 0; attempt < UPDATE_RETRIES; attempt++) {
        rc = r->meta->ops->get(r->meta, id, &cur, err);
        if (rc) return rc;
        if (if_match != AD_REV_ANY && if_match != cur.rev) {
            rc =
                ad_fail(err, AD_E_PRECONDITION, "asset %s is at revision %lld, not %lld (If-Match)",
                        id, (long long)cur.rev, (long long)if_match);
            ad_doc_free(&cur);
            return rc;
        }
        rc = r->meta->ops->remove(r->meta, id, cur.rev, err);
        if (!rc) remove_files(r, id, &cur);
        ad_doc_free(&cur);
        if (rc != AD_E_PRECONDITION || if_match != AD_REV_ANY) return rc;
    }
    return ad_fail(err, AD_E_UNAVAILABLE, "asset %s is being updated too often; try again", id);
}

ad_code ad_registry_get(ad_registry *r, const char *id, ad_doc *out, ad_error *err)
{
    return r->meta->ops->get(r->meta, id, out, err);
}

ad_code ad_registry_fixed_filter(ad_fixed_query kind, const char *value, ad_filter **out,
                                 ad_error *err)
{
    static const char *const paths[] = {
        [AD_BY_TYPE] = "profiles.asset_type",
        [AD_BY_SUB_TYPE] = "profiles.asset_sub_type",
        [AD_BY_TAG] = "profiles.asset_tags",
        [AD_BY_API_ROUTE] = "apis.asset_api_route",
    };
    json_t *doc, *val;
    ad_code rc;
    if (kind == AD_BY_API_ROUTE) {
        /* "api/v1/generate" and "/api/v1/generate" name the same route */
        const char *bare = value;
        char *slashed;
        size_t n;
        while (*bare == '/') bare++;
        n = strlen(bare) + 2;
        slashed = malloc(n);
        if (!slashed) return ad_fail(err, AD_E_NOMEM, "out of memory");
        snprintf(slashed, n, "/%s", bare);
        val = json_pack("{s:[ss]}", "$in", bare, slashed);
        free(slashed);
    } else {
        val = json_string(value);
    }
    doc = val ? json_object() : NULL;
    if (!doc || json_object_set_new(doc, paths[kind], val)) {
        json_decref(doc);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    rc = ad_filter_parse(doc, out, err);
    json_decref(doc);
    return rc;
}

ad_code ad_registry_find(ad_registry *r, const ad_query *q, ad_meta_cursor **out, ad_error *err)
{
    return r->meta->ops->find(r->meta, q, out, err);
}
