/*
 * routes.c — the route table: every route assetd serves, in one place, with
 * the least role each needs (core/auth.h). README.md's "Roles" table is
 * this table; tests/e2e/test_auth.py checks every row against a running
 * server with no token, a bad token and each role.
 */
#include <stdint.h>

#include "api/api.h"
#include "core/auth.h"

#define JSON   HTTP_ROUTE_JSON_BODY
#define AUDIT  HTTP_ROUTE_AUDIT
#define PUBLIC AD_ROLE_PUBLIC
#define READER AD_ROLE_READER
#define WRITER AD_ROLE_WRITER
#define ADMIN  AD_ROLE_ADMIN

static const http_body zip_upload_body = {api_zip_upload_body, api_zip_upload_body_done};

const http_route ad_routes[] = {
    {"POST", "/assets", api_assets_create, JSON | AUDIT, 0, NULL, WRITER},
    {"GET", "/assets", api_assets_list, 0, 0, NULL, READER},
    {"GET", "/assets/{}", api_assets_get, 0, 0, NULL, READER},
    {"PUT", "/assets/{}", api_assets_update, JSON | AUDIT, 0, NULL, WRITER},
    {"DELETE", "/assets/{}", api_assets_delete, AUDIT, 0, NULL, WRITER},
    {"GET", "/query/by-id/{}", api_assets_get, 0, 0, NULL, READER},
    {"GET", "/query/by-type/{}", api_query_by_type, 0, 0, NULL, READER},
    {"GET", "/query/by-sub-type/{}", api_query_by_sub_type, 0, 0, NULL, READER},
    {"GET", "/query/by-tag/{}", api_query_by_tag, 0, 0, NULL, READER},
    {"GET", "/query/by-api-route/{*}", api_query_by_api_route, 0, 0, NULL, READER},
    {"POST", "/query/search", api_query_search, JSON, 0, NULL, READER},
    /* probes for load balancers and orchestrators: no token */
    {"GET", "/healthz", api_health_live, 0, 0, NULL, PUBLIC},
    {"GET", "/readyz", api_health_ready, 0, 0, NULL, PUBLIC},
    /* no JSON flag: /graphql also takes application/graphql (checked there);
     * the schema has queries only, every field readable by a reader, and the
     * secret field redacted below admin (graphql/schema_assets.c) */
    {"GET", "/graphql", api_graphql, 0, 0, NULL, READER},
    {"POST", "/graphql", api_graphql, 0, 0, NULL, READER},
    /* the body streams to a spool file; --upload-max is checked as it comes */
    {"POST", "/zip/upload", api_zip_upload, HTTP_ROUTE_UPLOAD | AUDIT, 0, &zip_upload_body, WRITER},
    {"GET", "/zip/status/{}", api_zip_status, 0, 0, NULL, READER},
    {"GET", "/zip/download/{}", api_zip_download, 0, 0, NULL, READER},
    {"GET", "/files/{*}", api_files_get, 0, 0, NULL, READER},
    /* buckets (core/buckets.h); the files of a bucket are public in this
     * table because the bucket's policy decides: readonly and readwrite
     * need no token, none and writeonly a reader (checked by the handler) */
    {"POST", "/buckets", api_buckets_create, JSON | AUDIT, 0, NULL, WRITER},
    {"GET", "/buckets", api_buckets_list, 0, 0, NULL, READER},
    {"GET", "/buckets/{}", api_buckets_get, 0, 0, NULL, READER},
    {"PUT", "/buckets/{}", api_buckets_update, JSON | AUDIT, 0, NULL, WRITER},
    {"DELETE", "/buckets/{}", api_buckets_delete, AUDIT, 0, NULL, WRITER},
    {"GET", "/buckets/{}/files/{*}", api_buckets_files_get, 0, 0, NULL, PUBLIC},
    {"POST", "/tokens", api_tokens_create, JSON | AUDIT, 0, NULL, ADMIN},
    {"GET", "/tokens", api_tokens_list, 0, 0, NULL, ADMIN},
    {"DELETE", "/tokens/{}", api_tokens_revoke, AUDIT, 0, NULL, ADMIN},
};

const size_t ad_nroutes = sizeof(ad_routes) / sizeof(ad_routes[0]);
