/*
 * query.c — /query: the seed's fixed queries and POST /query/search.
 */
#include "api/api.h"

static void fixed(http_req *r, ad_fixed_query kind)
{
    ad_error err = {0};
    ad_filter *f;
    if (ad_registry_fixed_filter(kind, http_req_param(r, 0), &f, &err)) {
        api_reply_error(r, &err);
        return;
    }
    api_reply_list(r, f);
}

void api_query_by_type(http_req *r)
{
    fixed(r, AD_BY_TYPE);
}

void api_query_by_sub_type(http_req *r)
{
    fixed(r, AD_BY_SUB_TYPE);
}

void api_query_by_tag(http_req *r)
{
    fixed(r, AD_BY_TAG);
}

void api_query_by_api_route(http_req *r)
{
    fixed(r, AD_BY_API_ROUTE);
}

void api_query_search(http_req *r)
{
    ad_error err = {0};
    ad_filter *f = NULL;
    json_t *body;
    if (api_body_json(r, &body, &err) || ad_filter_parse(body, &f, &err)) {
        json_decref(body);
        api_reply_error(r, &err);
        return;
    }
    json_decref(body);
    api_reply_list(r, f);
}
