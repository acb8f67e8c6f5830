/*
 * routes.c — the route table: every route assetd serves, in one place.
 */
#include <stdint.h>

#include "api/api.h"

#define JSON HTTP_ROUTE_JSON_BODY

const http_route ad_routes[] = {
    {"POST", "/assets", api_assets_create, JSON, 0, NULL},
    {"GET", "/assets", api_assets_list, 0, 0, NULL},
    {"GET", "/assets/{}", api_assets_get, 0, 0, NULL},
    {"PUT", "/assets/{}", api_assets_update, JSON, 0, NULL},
    {"DELETE", "/assets/{}", api_assets_delete, 0, 0, NULL},
    {"GET", "/query/by-id/{}", api_assets_get, 0, 0, NULL},
    {"GET", "/query/by-type/{}", api_query_by_type, 0, 0, NULL},
    {"GET", "/query/by-sub-type/{}", api_query_by_sub_type, 0, 0, NULL},
    {"GET", "/query/by-tag/{}", api_query_by_tag, 0, 0, NULL},
    {"GET", "/query/by-api-route/{*}", api_query_by_api_route, 0, 0, NULL},
    {"POST", "/query/search", api_query_search, JSON, 0, NULL},
    {"GET", "/healthz", api_health_live, 0, 0, NULL},
    {"GET", "/readyz", api_health_ready, 0, 0, NULL},
    /* no JSON flag: /graphql also takes application/graphql (checked there) */
    {"GET", "/graphql", api_graphql, 0, 0, NULL},
    {"POST", "/graphql", api_graphql, 0, 0, NULL},
    /* the body streams to a spool file; --upload-max is checked as it comes */
    {"POST", "/zip/upload", api_zip_upload, HTTP_ROUTE_UPLOAD, 0, api_zip_upload_body},
    {"GET", "/zip/status/{}", api_zip_status, 0, 0, NULL},
    {"GET", "/zip/download/{}", api_zip_download, 0, 0, NULL},
    {"GET", "/files/{*}", api_files_get, 0, 0, NULL},
};

const size_t ad_nroutes = sizeof(ad_routes) / sizeof(ad_routes[0]);
