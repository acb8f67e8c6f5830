/*
 * health.c — /healthz (the process answers) and /readyz (every backend
 * answers): meta store, blob store and the job store of ZIP uploads.
 */
#include "api/api.h"

void api_health_live(http_req *r)
{
    api_reply_data(r, 200, json_pack("{s:s}", "status", "ok"));
}

void api_health_ready(http_req *r)
{
    ad_app *app = api_app(r);
    ad_error err = {0};
    json_t *data = json_object();
    ad_code rc = app->meta->ops->ping(app->meta, &err);
    json_object_set_new(data, "meta", json_string(rc ? err.msg : "ok"));
    if (!rc) {
        rc = app->blobs->ops->ping(app->blobs, &err);
        json_object_set_new(data, "blobs", json_string(rc ? err.msg : "ok"));
    }
    if (!rc && app->jobs) {
        rc = app->jobs->ops->ping(app->jobs, &err);
        json_object_set_new(data, "jobs", json_string(rc ? err.msg : "ok"));
    }
    if (rc) {
        json_decref(data);
        err.code = AD_E_UNAVAILABLE;
        ad_error_prefix(&err, "not ready: ");
        api_reply_error(r, &err);
        return;
    }
    api_reply_data(r, 200, data);
}
