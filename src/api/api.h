/*
 * api.h — the API layer: one file per resource family turns HTTP requests
 * into registry calls and results into responses. No SQL, no file I/O.
 *
 * Responses use the envelope of DESIGN.md: {"success": true, "data": …} or
 * {"success": false, "error": "…", "code": "…"}.
 */
#ifndef ASSETD_API_API_H
#define ASSETD_API_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/archive_rules.h"
#include "core/buckets.h"
#include "core/filter.h"
#include "core/registry.h"
#include "http/server.h"
#include "store/blob.h"
#include "store/jobs.h"
#include "store/meta.h"

/* What every handler can reach (http_req_app). */
typedef struct ad_app {
    ad_registry *reg;
    ad_meta *meta;
    ad_blob *blobs;
    const char *jobs_url;
    const char *public_url;            /* --public-url: base of asset_file_url, no trailing slash */
    bool fetch_external;               /* --fetch-external: downloads GET files outside the store */
    ad_jobs *jobs;                     /* ZIP upload jobs (zip_upload.c) */
    const char *spool_dir;             /* where upload bodies are spooled: <data>/spool */
    uint64_t upload_max;               /* --upload-max: bytes of a POST /zip/upload body */
    bool stage_uploads;                /* upload bodies go to the blob store (uploads/<id>.zip)
                                          instead of the local spool: any instance may run
                                          the job */
    bool store_while_uploading;        /* spooled uploads: entries stored as they arrive
                                          (core/zipspec.h) */
    ad_archive_limits zip_limits;      /* --zip-max-entries, --zip-max-unpacked */
    bool open_allowed;                 /* no token needed while none exists (loopback or
                                          --insecure-no-auth) */
    struct api_auth_cache *auth_cache; /* auth.c: whether any token exists */
    ad_buckets *buckets;               /* buckets (core/buckets.h); NULL: none */
} ad_app;

extern const http_route ad_routes[];
extern const size_t ad_nroutes;

/* --- respond.c: shared pieces --- */
ad_app *api_app(http_req *r);
void api_reply_error(http_req *r, const ad_error *e);
/* {"success":true,"data":<stored text>} with ETag: "<rev>". */
void api_reply_doc(http_req *r, int status, const ad_doc *d);
/* {"success":true,"data":<data>}; takes the reference. */
void api_reply_data(http_req *r, int status, json_t *data);
/* Parses the request body as JSON with the client-input limits. */
ad_code api_body_json(http_req *r, json_t **out, ad_error *err);
/* The revision named by If-Match / If-None-Match: AD_REV_ANY when absent
 * or "*"; 0 (matching no revision) when malformed, or weak in If-Match. */
int64_t api_etag_rev(http_req *r, const char *header);
/* Streams the documents matching filter as the list response, honouring
 * limit, skip, sort and fields. Takes ownership of filter. */
void api_reply_list(http_req *r, ad_filter *filter);

/* --- auth.c: tokens and roles (core/auth.h) --- */
/* The server's authorize hook: reads Authorization: Bearer, looks the token
 * up, and checks its role against the route's need (an ad_role). */
ad_code api_authorize(http_req *r, unsigned need, ad_error *err);
/* Whether the caller may see asset_container_registry_creds_config. */
bool api_sees_secrets(http_req *r);
ad_code api_auth_init(ad_app *app, ad_error *err);
void api_auth_free(ad_app *app);
void api_tokens_create(http_req *r);
void api_tokens_list(http_req *r);
void api_tokens_revoke(http_req *r);

/* --- handlers --- */
void api_assets_create(http_req *r);
void api_assets_list(http_req *r);
void api_assets_get(http_req *r);
void api_assets_update(http_req *r);
void api_assets_delete(http_req *r);
void api_query_by_type(http_req *r);
void api_query_by_sub_type(http_req *r);
void api_query_by_tag(http_req *r);
void api_query_by_api_route(http_req *r);
void api_query_search(http_req *r);
void api_health_live(http_req *r);
void api_health_ready(http_req *r);
void api_graphql(http_req *r);
/* zip_upload.c */
void api_zip_upload(http_req *r);
ad_code api_zip_upload_body(http_req *r, const char *data, size_t len, size_t *used, ad_error *err);
bool api_zip_upload_body_done(http_req *r);
void api_zip_status(http_req *r);
void api_zip_sweep_spool(ad_app *app);
void api_zip_download(http_req *r);
void api_files_get(http_req *r);
/* The bytes of key in store b (Range, ETag, If-None-Match; a bad key is
 * 400, a missing one 404): /files and the files of a bucket. */
void api_files_send(http_req *r, ad_blob *b, const char *key);
/* buckets.c */
void api_buckets_create(http_req *r);
void api_buckets_list(http_req *r);
void api_buckets_get(http_req *r);
void api_buckets_update(http_req *r);
void api_buckets_delete(http_req *r);
void api_buckets_files_get(http_req *r);

#endif
