/*
 * auth.c — the API side of access control: the server's authorize hook and
 * the /tokens resource (core/auth.h keeps the tokens).
 *
 * A request names its token in `Authorization: Bearer adt_…`. Each request
 * looks the token's digest up in the meta store, so a revocation through
 * any instance holds at once on all of them. While no token exists at all,
 * and only when the server may run open (every listen address is loopback,
 * or --insecure-no-auth), a request without a token acts as admin: the
 * zero-setup quickstart. Whether any token exists is asked of the store at
 * most once a second per process (AUTH_ANY_TTL_MS), so the first token
 * created through another instance closes this one within a second; one
 * created here closes it at once.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "api/api.h"
#include "core/auth.h"
#include "util/json.h"

#define AUTH_ANY_TTL_MS 1000

/* Read lock-free by every unauthenticated request; refreshed (at most once
 * a second) and reset under mu, so a refresh that asked the store before a
 * token was created here cannot store its stale answer after the reset. */
typedef struct api_auth_cache {
    pthread_mutex_t mu;
    atomic_llong checked_ms; /* monotonic ms of the last look; 0 = never */
    atomic_bool any;
} api_auth_cache;

static long long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000 + 1; /* never 0 */
}

ad_code api_auth_init(ad_app *app, ad_error *err)
{
    app->auth_cache = calloc(1, sizeof(*app->auth_cache));
    if (!app->auth_cache) return ad_fail(err, AD_E_NOMEM, "out of memory");
    atomic_init(&app->auth_cache->checked_ms, 0);
    atomic_init(&app->auth_cache->any, false);
    pthread_mutex_init(&app->auth_cache->mu, NULL);
    return AD_OK;
}

void api_auth_free(ad_app *app)
{
    if (app->auth_cache) pthread_mutex_destroy(&app->auth_cache->mu);
    free(app->auth_cache);
    app->auth_cache = NULL;
}

static void cache_forget(ad_app *app)
{
    pthread_mutex_lock(&app->auth_cache->mu);
    atomic_store(&app->auth_cache->checked_ms, 0);
    pthread_mutex_unlock(&app->auth_cache->mu);
}

static ad_code any_token(ad_app *app, bool *any, ad_error *err)
{
    api_auth_cache *c = app->auth_cache;
    long long checked = atomic_load(&c->checked_ms), now = now_ms();
    ad_code rc;
    if (checked && now - checked < AUTH_ANY_TTL_MS) {
        *any = atomic_load(&c->any);
        return AD_OK;
    }
    pthread_mutex_lock(&c->mu);
    checked = atomic_load(&c->checked_ms);
    if (checked && now - checked < AUTH_ANY_TTL_MS) { /* another thread refreshed it */
        *any = atomic_load(&c->any);
        rc = AD_OK;
    } else {
        rc = ad_token_any(app->meta, any, err);
        if (!rc) {
            atomic_store(&c->any, *any);
            atomic_store(&c->checked_ms, now);
        }
    }
    pthread_mutex_unlock(&c->mu);
    return rc;
}

static ad_code unauthorized(http_req *r, ad_error *err, const char *msg)
{
    http_req_add_header(r, "WWW-Authenticate", "Bearer realm=\"assetd\"");
    return ad_fail(err, AD_E_UNAUTHORIZED, "%s", msg);
}

ad_code api_authorize(http_req *r, unsigned need, ad_error *err)
{
    ad_app *app = api_app(r);
    const char *h = http_req_header(r, "Authorization");
    ad_token_info info;
    ad_code rc;
    if (need == AD_ROLE_PUBLIC) return AD_OK;
    if (!h) {
        bool any = true;
        if (app->open_allowed) {
            rc = any_token(app, &any, err);
            if (rc) return rc;
        }
        if (!any) {
            http_req_set_user(r, "-", AD_ROLE_ADMIN); /* open: no token exists yet */
            return AD_OK;
        }
        return unauthorized(r, err, "this needs a token: send Authorization: Bearer <token>");
    }
    while (*h == ' ') h++;
    if (strncasecmp(h, "Bearer ", 7) != 0)
        return unauthorized(r, err, "Authorization must be \"Bearer <token>\"");
    h += 7;
    while (*h == ' ') h++;
    rc = ad_token_lookup(app->meta, h, &info, err);
    if (rc == AD_E_UNAUTHORIZED) {
        char why[AD_ERROR_MSG_MAX];
        snprintf(why, sizeof(why), "%s", err->msg);
        return unauthorized(r, err, why);
    }
    if (rc) return rc;
    http_req_set_user(r, info.name, info.role);
    if (info.role < need)
        return ad_fail(err, AD_E_FORBIDDEN, "this needs the %s role; token %s has the %s role",
                       ad_role_name((ad_role)need), info.name, ad_role_name(info.role));
    return AD_OK;
}

bool api_sees_secrets(http_req *r)
{
    return http_req_level(r) >= AD_ROLE_ADMIN;
}

static json_t *info_json(const ad_token_info *info)
{
    return json_pack("{s:s, s:s, s:I}", "name", info->name, "role", ad_role_name(info->role),
                     "created", (json_int_t)info->created);
}

void api_tokens_create(http_req *r)
{
    ad_app *app = api_app(r);
    ad_error err = {0};
    json_t *body = NULL, *data;
    const char *name, *role_s;
    ad_role role;
    ad_token_info info;
    char token[AD_TOKEN_LEN + 1];
    ad_code rc = api_body_json(r, &body, &err);
    if (!rc && !json_is_object(body))
        rc = ad_fail(&err, AD_E_BAD_REQUEST, "the body must be {\"name\": …, \"role\": …}");
    name = json_string_value(json_object_get(body, "name"));
    role_s = json_string_value(json_object_get(body, "role"));
    if (!rc && !name) rc = ad_fail(&err, AD_E_BAD_REQUEST, "name: a string is needed");
    if (!rc) rc = ad_role_parse(role_s, &role, &err);
    if (!rc) {
        const char *k;
        json_t *v;
        json_object_foreach(body, k, v)
        {
            if (strcmp(k, "name") != 0 && strcmp(k, "role") != 0) {
                rc = ad_fail(&err, AD_E_BAD_REQUEST, "unknown field \"%.64s\"", k);
                break;
            }
        }
    }
    if (!rc) http_req_audit_detail(r, name);
    if (!rc) rc = ad_token_create(app->meta, name, role, token, &info, &err);
    json_decref(body);
    if (rc) {
        api_reply_error(r, &err);
        return;
    }
    cache_forget(app);
    data = info_json(&info);
    json_object_set_new(data, "token", json_string(token));
    memset(token, 0, sizeof(token));
    api_reply_data(r, 201, data);
}

static int list_add(void *ctx, const ad_token_info *info)
{
    json_array_append_new(ctx, info_json(info));
    return 0;
}

void api_tokens_list(http_req *r)
{
    ad_app *app = api_app(r);
    ad_error err = {0};
    json_t *arr = json_array();
    ad_code rc = arr ? ad_token_list(app->meta, list_add, arr, &err)
                     : ad_fail(&err, AD_E_NOMEM, "out of memory");
    if (rc) {
        json_decref(arr);
        api_reply_error(r, &err);
        return;
    }
    api_reply_data(r, 200, arr);
}

void api_tokens_revoke(http_req *r)
{
    ad_app *app = api_app(r);
    ad_error err = {0};
    const char *name = http_req_param(r, 0);
    ad_code rc;
    http_req_audit_detail(r, name);
    rc = ad_token_revoke(app->meta, name, &err);
    if (rc) {
        api_reply_error(r, &err);
        return;
    }
    cache_forget(app);
    api_reply_data(r, 200, json_pack("{s:s, s:b}", "name", name, "revoked", 1));
}
