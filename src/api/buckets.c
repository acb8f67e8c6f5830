/*
 * buckets.c — the /buckets resource (core/buckets.h) and the files of a
 * bucket: POST/GET /buckets, GET/PUT/DELETE /buckets/<name>, and
 * GET|HEAD /buckets/<name>/files/<key>.
 *
 * The files route is PUBLIC in the route table because whether it needs a
 * token depends on the bucket: its policy (readonly, readwrite) lets
 * anyone read, otherwise (none, writeonly) the handler asks the same
 * authorize function the server uses for a reader. The bytes go out
 * through files.c's sender (Range, ETag, If-None-Match as for /files).
 *
 * DELETE with ?force=true deletes the assets stored in the bucket through
 * the registry (so their other files go too) before the bucket.
 */
#include <stdio.h>
#include <string.h>

#include "api/api.h"
#include "core/auth.h"

/* The bucket service, or a 404 when this blob store has none. */
static ad_buckets *service(http_req *r)
{
    ad_app *app = api_app(r);
    if (!app->buckets)
        http_reply_error(r, AD_E_NOT_FOUND, "this blob store has no buckets (/buckets is off)");
    return app->buckets;
}

void api_buckets_create(http_req *r)
{
    ad_buckets *b = service(r);
    ad_error err = {0};
    json_t *spec = NULL, *doc = NULL;
    if (!b) return;
    if (api_body_json(r, &spec, &err) || ad_buckets_create(b, spec, &doc, &err)) {
        json_decref(spec);
        api_reply_error(r, &err);
        return;
    }
    http_req_audit_detail(r, json_string_value(json_object_get(doc, "name")));
    json_decref(spec);
    api_reply_data(r, 201, doc);
}

void api_buckets_list(http_req *r)
{
    ad_buckets *b = service(r);
    ad_error err = {0};
    json_t *list = NULL;
    if (!b) return;
    if (ad_buckets_list(b, &list, &err)) {
        api_reply_error(r, &err);
        return;
    }
    api_reply_data(r, 200, list);
}

void api_buckets_get(http_req *r)
{
    ad_buckets *b = service(r);
    ad_error err = {0};
    json_t *doc = NULL;
    if (!b) return;
    if (ad_buckets_get(b, http_req_param(r, 0), &doc, &err)) {
        api_reply_error(r, &err);
        return;
    }
    api_reply_data(r, 200, doc);
}

void api_buckets_update(http_req *r)
{
    ad_buckets *b = service(r);
    ad_error err = {0};
    json_t *spec = NULL, *doc = NULL;
    if (!b) return;
    if (api_body_json(r, &spec, &err) ||
        ad_buckets_update(b, http_req_param(r, 0), spec, &doc, &err)) {
        json_decref(spec);
        api_reply_error(r, &err);
        return;
    }
    http_req_audit_detail(r, json_string_value(json_object_get(doc, "policy")));
    json_decref(spec);
    api_reply_data(r, 200, doc);
}

static ad_code delete_asset(void *ctx, const char *asset_id, ad_error *err)
{
    return ad_registry_delete(ctx, asset_id, AD_REV_ANY, err);
}

void api_buckets_delete(http_req *r)
{
    ad_buckets *b = service(r);
    ad_app *app = api_app(r);
    ad_error err = {0};
    const char *force = NULL, *name = http_req_param(r, 0);
    if (!b) return;
    if (http_req_query(r, "force", &force, &err)) {
        api_reply_error(r, &err);
        return;
    }
    if (force && strcmp(force, "true") != 0 && strcmp(force, "false") != 0) {
        http_reply_error(r, AD_E_BAD_REQUEST, "force: true or false");
        return;
    }
    if (force && strcmp(force, "true") == 0) http_req_audit_detail(r, "force");
    if (ad_buckets_delete(b, name, force && strcmp(force, "true") == 0, delete_asset, app->reg,
                          &err)) {
        api_reply_error(r, &err);
        return;
    }
    api_reply_data(r, 200, json_pack("{s:s,s:b}", "name", name, "deleted", 1));
}

void api_buckets_files_get(http_req *r)
{
    ad_buckets *b = service(r);
    ad_error err = {0};
    ad_bucket_policy policy = AD_POLICY_NONE;
    ad_blob *store = NULL;
    const char *name = http_req_param(r, 0);
    if (!b) return;
    if (ad_buckets_policy(b, name, &policy, &err)) {
        /* a missing bucket is only told to someone who may read */
        if (err.code == AD_E_NOT_FOUND && api_authorize(r, AD_ROLE_READER, &err) == AD_OK)
            ad_fail(&err, AD_E_NOT_FOUND, "bucket %.80s not found", name);
        api_reply_error(r, &err);
        return;
    }
    if (policy != AD_POLICY_READONLY && policy != AD_POLICY_READWRITE &&
        api_authorize(r, AD_ROLE_READER, &err)) {
        api_reply_error(r, &err);
        return;
    }
    if (ad_buckets_store(b, name, &store, &err)) {
        api_reply_error(r, &err);
        return;
    }
    api_files_send(r, store, http_req_param(r, 1));
}
