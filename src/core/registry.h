/*
 * registry.h — the registry service: create, update, delete and query
 * assets, on whatever meta store it is given. It validates and normalizes
 * documents (core/model.h) and builds the filters of the fixed queries;
 * the API layer turns HTTP into these calls.
 */
#ifndef ASSETD_CORE_REGISTRY_H
#define ASSETD_CORE_REGISTRY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/filter.h"
#include "store/blob.h"
#include "store/meta.h"
#include "util/err.h"

typedef struct ad_registry ad_registry;

/* The registry uses meta (not owned). */
ad_registry *ad_registry_new(ad_meta *meta);
void ad_registry_free(ad_registry *r);
ad_meta *ad_registry_meta(ad_registry *r);

/* Validates, normalizes and stores a new asset. On success *out holds the
 * stored text and revision 1. AD_E_INVALID, AD_E_EXISTS or a store error. */
ad_code ad_registry_create(ad_registry *r, const json_t *asset, ad_doc *out, ad_error *err);

/* Applies the top-level fields of patch to asset id, validates the merged
 * document and stores it, provided the current revision is if_match
 * (AD_REV_ANY: whatever it is; a concurrent writer then makes this call
 * retry from a fresh read, so no update is lost). */
ad_code ad_registry_update(ad_registry *r, const char *id, const json_t *patch, int64_t if_match,
                           ad_doc *out, ad_error *err);

/* Deletes asset id; then removes from the blob store (ad_registry_set_files)
 * or its bucket (ad_registry_set_buckets) every file of it whose
 * asset_file_url maps into one. A file that
 * cannot be removed is logged, not an error: the asset is gone. */
ad_code ad_registry_delete(ad_registry *r, const char *id, int64_t if_match, ad_error *err);

/* Where the files the registry stored live: blobs (not owned) and the
 * public base URL their asset_file_url starts with, as
 * <public_url>/files/<key, each segment percent-encoded>. Copied. */
ad_code ad_registry_set_files(ad_registry *r, ad_blob *blobs, const char *public_url);
/* The blob key a file URL names, when it points into the store: true with
 * key filled (a valid blob key), false for any other URL. */
bool ad_registry_file_key(const ad_registry *r, const char *url, char *key, size_t cap);
ad_blob *ad_registry_blobs(ad_registry *r);
/* The buckets whose files asset_file_url may name, as
 * <public_url>/buckets/<name>/files/<key, percent-encoded>; not owned. */
struct ad_buckets;
ad_code ad_registry_set_buckets(ad_registry *r, struct ad_buckets *buckets, const char *public_url);
/* The store and key a file URL names: the main store (as
 * ad_registry_file_key) or the store of an existing bucket; false for any
 * other URL. */
bool ad_registry_file_store(ad_registry *r, const char *url, ad_blob **store, char *key,
                            size_t cap);
ad_code ad_registry_get(ad_registry *r, const char *id, ad_doc *out, ad_error *err);

/* Assets pulled from a URL (core/source.h): what the registry tells the
 * controller. generation() is called after a client's create or update
 * stored a new generation of an asset's source; deleted() after an asset
 * with a source was deleted (doc: its last stored document). Both run on
 * the caller's thread and must not fail it. */
typedef struct ad_registry_hooks {
    void *ctx;
    void (*generation)(void *ctx, const char *id, int64_t generation);
    void (*deleted)(void *ctx, const char *id, const json_t *doc);
} ad_registry_hooks;
void ad_registry_set_hooks(ad_registry *r, const ad_registry_hooks *h);

/* Stores doc (a whole document, validated and normalized) as asset id if
 * its current revision is expect_rev, without the client rules of
 * create/update: the controller's writes of status, generation-owned files
 * and asset_file_ids. AD_E_PRECONDITION on a revision mismatch,
 * AD_E_NOT_FOUND when the asset is gone. */
ad_code ad_registry_replace(ad_registry *r, const char *id, int64_t expect_rev, const json_t *doc,
                            ad_doc *out, ad_error *err);

/* The fixed queries, as filters (free with ad_filter_free). */
typedef enum { AD_BY_TYPE, AD_BY_SUB_TYPE, AD_BY_TAG, AD_BY_API_ROUTE } ad_fixed_query;
ad_code ad_registry_fixed_filter(ad_fixed_query kind, const char *value, ad_filter **out,
                                 ad_error *err);

/* Starts a list query (see ad_query in store/meta.h). */
ad_code ad_registry_find(ad_registry *r, const ad_query *q, ad_meta_cursor **out, ad_error *err);

#endif
