/*
 * routes.c — the route table: every route assetd serves, in one place.
 */
#include "api/api.h"

#define JSON HTTP_ROUTE_JSON_BODY

const http_route ad_routes[] = {
    {"POST", "/assets", api_assets_create, JSON, 0},
    {"GET", "/assets", api_assets_list, 0, 0},
    {"GET", "/assets/{}", api_assets_get, 0, 0},
    {"PUT", "/assets/{}", api_assets_update, JSON, 0},
    {"DELETE", "/assets/{}", api_assets_delete, 0, 0},
    {"GET", "/query/by-id/{}", api_assets_get, 0, 0},
    {"GET", "/query/by-type/{}", api_query_by_type, 0, 0},
    {"GET", "/query/by-sub-type/{}", api_query_by_sub_type, 0, 0},
    {"GET", "/query/by-tag/{}", api_query_by_tag, 0, 0},
    {"GET", "/query/by-api-route/{*}", api_query_by_api_route, 0, 0},
    {"POST", "/query/search", api_query_search, JSON, 0},
    {"GET", "/healthz", api_health_live, 0, 0},
    {"GET", "/readyz", api_health_ready, 0, 0},
    /* no JSON flag: /graphql also takes application/graphql (checked there) */
    {"GET", "/graphql", api_graphql, 0, 0},
    {"POST", "/graphql", api_graphql, 0, 0},
};

const size_t ad_nroutes = sizeof(ad_routes) / sizeof(ad_routes[0]);
