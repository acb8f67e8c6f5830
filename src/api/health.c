/*
 * health.c — /healthz (the process answers) and /readyz (every backend
 * answers): meta store, blob store and the job store of ZIP uploads.
 *
 * /readyz asks every backend, even after one failed, so the answer names
 * each: 200 with data {"meta": "ok", "blobs": "ok", "jobs": "ok"}, or 503
 * with the error envelope, whose message lists every backend that is down
 * ("not ready: meta: <reason>; jobs: <reason>"), plus the same per-backend
 * object in "backends".
 */
#include <string.h>

#include "api/api.h"
#include "util/buf.h"
#include "util/json.h"

void api_health_live(http_req *r)
{
    api_reply_data(r, 200, json_pack("{s:s}", "status", "ok"));
}

/* Pings one backend into data[name]; appends "name: reason" to down. */
static void check(json_t *data, ad_buf *down, const char *name, ad_code rc, const ad_error *err)
{
    json_object_set_new(data, name, json_string(rc ? err->msg : "ok"));
    if (!rc) return;
    if (down->len) ad_buf_puts(down, "; ");
    ad_buf_puts(down, name);
    ad_buf_puts(down, ": ");
    ad_buf_puts(down, err->msg[0] ? err->msg : "unavailable");
}

void api_health_ready(http_req *r)
{
    ad_app *app = api_app(r);
    ad_error err = {0};
    json_t *data = json_object(), *env;
    ad_buf down;
    char *body;
    size_t len;
    ad_buf_init(&down, 4096);
    check(data, &down, "meta", app->meta->ops->ping(app->meta, &err), &err);
    ad_error_clear(&err);
    check(data, &down, "blobs", app->blobs->ops->ping(app->blobs, &err), &err);
    ad_error_clear(&err);
    if (app->jobs) check(data, &down, "jobs", app->jobs->ops->ping(app->jobs, &err), &err);
    if (!down.len) {
        ad_buf_free(&down);
        api_reply_data(r, 200, data);
        return;
    }
    env = json_pack("{s:b, s:s+, s:s, s:o}", "success", 0, "error", "not ready: ", down.data,
                    "code", ad_code_name(AD_E_UNAVAILABLE), "backends", data);
    ad_buf_free(&down);
    body = env ? ad_json_dump(env, &len) : NULL;
    json_decref(env);
    if (!body) {
        http_reply_error(r, AD_E_UNAVAILABLE, "not ready");
        return;
    }
    http_reply(r, 503, "application/json", body, len);
}
