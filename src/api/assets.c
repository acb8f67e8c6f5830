/*
 * assets.c — /assets: create, read, update, delete and list assets.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/auth.h"

void api_assets_create(http_req *r)
{
    ad_app *app = api_app(r);
    ad_error err = {0};
    ad_doc doc = {0};
    json_t *body;
    if (api_body_json(r, &body, &err) || ad_registry_create(app->reg, body, &doc, &err)) {
        if (!err.code) err.code = AD_E_INTERNAL;
        json_decref(body);
        api_reply_error(r, &err);
        return;
    }
    json_decref(body);
    api_reply_doc(r, 201, &doc);
    ad_doc_free(&doc);
}

void api_assets_get(http_req *r)
{
    ad_app *app = api_app(r);
    ad_error err = {0};
    ad_doc doc = {0};
    int64_t want;
    if (ad_registry_get(app->reg, http_req_param(r, 0), &doc, &err)) {
        api_reply_error(r, &err);
        return;
    }
    want = api_etag_rev(r, "If-None-Match");
    if (http_req_header(r, "If-None-Match") && (want == AD_REV_ANY || want == doc.rev)) {
        char etag[32];
        snprintf(etag, sizeof(etag), "\"%lld\"", (long long)doc.rev);
        http_req_add_header(r, "ETag", etag);
        http_reply(r, 304, NULL, NULL, 0);
    } else {
        api_reply_doc(r, 200, &doc);
    }
    ad_doc_free(&doc);
}

void api_assets_update(http_req *r)
{
    ad_app *app = api_app(r);
    ad_error err = {0};
    ad_doc doc = {0};
    json_t *body;
    ad_code rc = api_body_json(r, &body, &err);
    /* a document read back below admin carries "<redacted>" in the secret
     * field; writing it back as it is keeps the stored value */
    if (!rc && json_is_object(body)) {
        const char *v = json_string_value(json_object_get(body, AD_SECRET_FIELD));
        if (v && strcmp(v, AD_REDACTED) == 0) json_object_del(body, AD_SECRET_FIELD);
    }
    if (rc || ad_registry_update(app->reg, http_req_param(r, 0), body, api_etag_rev(r, "If-Match"),
                                 &doc, &err)) {
        json_decref(body);
        api_reply_error(r, &err);
        return;
    }
    json_decref(body);
    api_reply_doc(r, 200, &doc);
    ad_doc_free(&doc);
}

void api_assets_delete(http_req *r)
{
    ad_app *app = api_app(r);
    ad_error err = {0};
    const char *id = http_req_param(r, 0);
    if (ad_registry_delete(app->reg, id, api_etag_rev(r, "If-Match"), &err)) {
        api_reply_error(r, &err);
        return;
    }
    api_reply_data(r, 200, json_pack("{s:s,s:b}", "asset_id", id, "deleted", 1));
}

void api_assets_list(http_req *r)
{
    ad_error err = {0};
    ad_filter *all;
    json_t *empty = json_object();
    ad_code rc = empty ? ad_filter_parse(empty, &all, &err) : AD_E_NOMEM;
    json_decref(empty);
    if (rc) {
        if (!err.code) ad_fail(&err, rc, "out of memory");
        api_reply_error(r, &err);
        return;
    }
    api_reply_list(r, all);
}
