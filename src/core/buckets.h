/*
 * buckets.h — buckets: named containers of the blob store that assets are
 * stored in, kept as resources in the meta store (record namespace
 * "buckets", key = the bucket's name) with a spec (region, policy) and a
 * status that a controller keeps true, the way the asset store's Bucket
 * resource works (phases Ready / Failed, reasons BucketCreated, ...).
 *
 * Each bucket lives in the blob store under a remote name: its name plus
 * "-" and 8 random [a-z0-9] characters, so that deleting and re-creating a
 * bucket never finds the old objects. The policy decides who reads its
 * files through GET /buckets/<name>/files/<key>: readonly and readwrite
 * without credentials, none and writeonly with a reader token. Where the
 * blob store keeps policies itself (S3), the remote policy is set to match
 * and re-set when someone changes it.
 *
 * Thread-safe: API handlers, ingest workers and the heartbeat thread share
 * one ad_buckets.
 */
#ifndef ASSETD_CORE_BUCKETS_H
#define ASSETD_CORE_BUCKETS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "store/blob.h"
#include "store/meta.h"
#include "util/err.h"

#define AD_BUCKET_NAME_MAX 54 /* bytes; the remote name adds 9 */
#define AD_BUCKETS_NS      "buckets"

typedef enum ad_bucket_policy {
    AD_POLICY_NONE,
    AD_POLICY_READONLY,
    AD_POLICY_WRITEONLY,
    AD_POLICY_READWRITE,
} ad_bucket_policy;

/* "none", "readonly", ... */
const char *ad_bucket_policy_name(ad_bucket_policy p);
/* AD_OK, or AD_E_INVALID naming "policy". */
ad_code ad_bucket_policy_parse(const char *s, ad_bucket_policy *out, ad_error *err);

/* A bucket name: S3's rules (ad_blob_bucket_check) and at most
 * AD_BUCKET_NAME_MAX bytes. AD_E_INVALID naming "name". */
ad_code ad_bucket_name_check(const char *name, ad_error *err);
/* A new remote name for bucket name: name + "-" + 8 random [a-z0-9]
 * (cap: at least AD_BUCKET_NAME_MAX + 10). */
void ad_bucket_remote_name(const char *name, char *dst, size_t cap);

typedef struct ad_buckets_opts {
    ad_meta *meta;              /* not owned */
    ad_blob *blobs;             /* not owned; must have the bucket_* slots */
    const char *public_url;     /* base of status.url; copied */
    int64_t check_interval;     /* seconds between heartbeats; 0: no thread */
    const char *default_bucket; /* --default-bucket, "" or NULL for none; copied */
} ad_buckets_opts;

typedef struct ad_buckets ad_buckets;

/* Creates the service (and the default bucket when one is named and
 * missing). AD_E_BAD_REQUEST when the blob store has no bucket slots. */
ad_code ad_buckets_new(const ad_buckets_opts *o, ad_buckets **out, ad_error *err);
/* Starts the heartbeat thread (no-op when check_interval is 0). */
ad_code ad_buckets_start(ad_buckets *b, ad_error *err);
/* Stops the thread, closes every bucket store opened, frees b. */
void ad_buckets_free(ad_buckets *b);

/* --- the resource (JSON documents as shown in the README) --- */

/* spec: {"name", "region"?, "policy"?}. Creates the remote bucket and
 * stores the resource with its status; *out (caller decrefs) is the
 * stored resource. AD_E_INVALID for a bad spec, AD_E_EXISTS when the name
 * is taken. A failing blob store still stores the resource, Failed /
 * BucketCreationFailure, and returns AD_OK: the heartbeat retries. */
ad_code ad_buckets_create(ad_buckets *b, const json_t *spec, json_t **out, ad_error *err);
ad_code ad_buckets_get(ad_buckets *b, const char *name, json_t **out, ad_error *err);
/* *out: a JSON array of every bucket, by name. */
ad_code ad_buckets_list(ad_buckets *b, json_t **out, ad_error *err);
/* spec: {"policy"?, "region"?} (region must equal the current one). A
 * changed policy bumps generation and is applied remotely. */
ad_code ad_buckets_update(ad_buckets *b, const char *name, const json_t *spec, json_t **out,
                          ad_error *err);
/* Removes the resource and the remote bucket. AD_E_CONFLICT when assets
 * or objects are in it and !force; with force, the assets stored in it
 * (source.bucket == name, or a file under its files URL: ZIP uploads into
 * it) are deleted through del_asset first, then its objects. */
typedef ad_code (*ad_buckets_del_asset_fn)(void *ctx, const char *asset_id, ad_error *err);
ad_code ad_buckets_delete(ad_buckets *b, const char *name, bool force, ad_buckets_del_asset_fn fn,
                          void *ctx, ad_error *err);

/* --- for the ingest workers, the controller and the files route --- */

/* Whether bucket name exists and is Ready: AD_OK with *ready set (and,
 * when not ready, why[] holding the status message); AD_E_NOT_FOUND when
 * there is no such bucket; a store error otherwise. */
ad_code ad_buckets_ready(ad_buckets *b, const char *name, bool *ready, char *why, size_t cap,
                         ad_error *err);
/* The blob store holding bucket name's objects (opened once with
 * bucket_open and cached; owned by b, valid until ad_buckets_free). */
ad_code ad_buckets_store(ad_buckets *b, const char *name, ad_blob **out, ad_error *err);
/* The bucket's policy (for serving its files). */
ad_code ad_buckets_policy(ad_buckets *b, const char *name, ad_bucket_policy *out, ad_error *err);
/* "<public_url>/buckets/<name>/files" into dst. */
ad_code ad_buckets_files_url(const ad_buckets *b, const char *name, char *dst, size_t cap,
                             ad_error *err);
/* The default bucket's name, or NULL when uploads go to the main store. */
const char *ad_buckets_default(const ad_buckets *b);

#endif
