/*
 * respond.c — pieces every handler shares: the envelope, JSON bodies,
 * revisions, and the streamed list response.
 *
 * A list is written to the socket as the store's cursor yields documents:
 * the producer below keeps one document in a pending buffer at a time, so
 * a result of any size costs the memory of its largest document. The first
 * document is fetched before the status line goes out, so an error found
 * at once still gets its proper status; a store error later can only cut
 * the response short (and is logged).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "api/api.h"
#include "core/auth.h"
#include "core/model.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"
#include "util/str.h"

#define LIST_MAX_FIELDS 32

ad_app *api_app(http_req *r)
{
    return http_req_app(r);
}

void api_reply_error(http_req *r, const ad_error *e)
{
    ad_code code = e->code ? e->code : AD_E_INTERNAL;
    if (ad_code_http_status(code) >= 500)
        ad_log(AD_LOG_ERROR, "msg=\"request failed\" path=\"%.200s\" code=%s error=\"%s\"",
               http_req_path(r), ad_code_name(code), e->msg);
    http_reply_error(r, code, e->msg[0] ? e->msg : ad_code_name(code));
}

static void set_etag(http_req *r, int64_t rev)
{
    char etag[32];
    snprintf(etag, sizeof(etag), "\"%" PRId64 "\"", rev);
    http_req_add_header(r, "ETag", etag);
}

void api_reply_doc(http_req *r, int status, const ad_doc *d)
{
    static const char head[] = "{\"success\":true,\"data\":";
    const char *json = d->json;
    size_t dlen = d->len, len;
    char *red = NULL, *body;
    size_t rlen = 0;
    if (!api_sees_secrets(r) && ad_redact_doc(d->json, d->len, &red, &rlen)) {
        if (!red) {
            http_reply_error(r, AD_E_INTERNAL, "a stored document could not be redacted");
            return;
        }
        json = red;
        dlen = rlen;
    }
    len = sizeof(head) - 1 + dlen + 1;
    body = malloc(len);
    if (!body) {
        free(red);
        http_reply_error(r, AD_E_NOMEM, "out of memory");
        return;
    }
    memcpy(body, head, sizeof(head) - 1);
    memcpy(body + sizeof(head) - 1, json, dlen);
    body[len - 1] = '}';
    free(red);
    set_etag(r, d->rev);
    http_reply(r, status, "application/json", body, len);
}

void api_reply_data(http_req *r, int status, json_t *data)
{
    json_t *env = json_pack("{s:b,s:o}", "success", 1, "data", data);
    size_t len = 0;
    char *body = env ? ad_json_dump(env, &len) : NULL;
    json_decref(env);
    if (!body) {
        http_reply_error(r, AD_E_NOMEM, "out of memory");
        return;
    }
    http_reply(r, status, "application/json", body, len);
}

ad_code api_body_json(http_req *r, json_t **out, ad_error *err)
{
    size_t len;
    const char *body = http_req_body(r, &len);
    return ad_json_parse(body, len, AD_JSON_MAX_DEPTH, out, err);
}

int64_t api_etag_rev(http_req *r, const char *header)
{
    const char *v = http_req_header(r, header);
    char digits[24];
    size_t n;
    uint64_t rev;
    if (!v) return AD_REV_ANY;
    while (*v == ' ') v++;
    if (strcmp(v, "*") == 0) return AD_REV_ANY;
    /* If-Match compares strongly (RFC 9110 13.1.1): a weak tag never
     * matches; If-None-Match compares weakly */
    if (strncmp(v, "W/", 2) == 0) {
        if (strcasecmp(header, "If-Match") == 0) return 0;
        v += 2;
    }
    if (*v != '"') return 0;
    v++;
    n = strcspn(v, "\"");
    if (n == 0 || n >= sizeof(digits) || v[n] != '"') return 0;
    memcpy(digits, v, n);
    digits[n] = '\0';
    if (!ad_parse_u64(digits, INT64_MAX, &rev)) return 0;
    return (int64_t)rev;
}

/* --- list parameters --- */

typedef struct list_params {
    ad_query q;
    char *sort; /* owned copy of the path part of sort= */
    char *fields[LIST_MAX_FIELDS];
    size_t nfields;
} list_params;

static bool known_field(const char *name, size_t n)
{
    size_t i;
    for (i = 0; ad_asset_fields[i]; i++)
        if (strlen(ad_asset_fields[i]) == n && memcmp(ad_asset_fields[i], name, n) == 0)
            return true;
    return false;
}

static ad_code parse_count(http_req *r, const char *name, uint64_t *out, ad_error *err)
{
    const char *v;
    ad_code rc = http_req_query(r, name, &v, err);
    if (rc || !v) return rc;
    if (!ad_parse_u64(v, INT64_MAX, out))
        return ad_fail(err, AD_E_BAD_REQUEST, "%s: must be a non-negative integer, got \"%.64s\"",
                       name, v);
    return AD_OK;
}

static ad_code parse_sort(http_req *r, list_params *p, ad_error *err)
{
    const char *v, *colon;
    size_t n;
    ad_code rc = http_req_query(r, "sort", &v, err);
    if (rc || !v) return rc;
    colon = strchr(v, ':');
    n = colon ? (size_t)(colon - v) : strlen(v);
    if (n == 0) return ad_fail(err, AD_E_BAD_REQUEST, "sort: a field name is needed");
    if (colon && strcmp(colon + 1, "desc") == 0)
        p->q.sort_desc = true;
    else if (colon && strcmp(colon + 1, "asc") != 0)
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "sort: the direction must be asc or desc, got \"%.32s\"", colon + 1);
    if (!known_field(v, strcspn(v, ".:")))
        return ad_fail(err, AD_E_BAD_REQUEST, "sort: unknown field \"%.*s\"",
                       (int)(n > 128 ? 128 : n), v);
    p->sort = ad_strndup(v, n);
    if (!p->sort) return ad_fail(err, AD_E_NOMEM, "out of memory");
    p->q.sort_path = p->sort;
    return AD_OK;
}

static ad_code parse_fields(http_req *r, list_params *p, ad_error *err)
{
    const char *v;
    ad_code rc = http_req_query(r, "fields", &v, err);
    if (rc || !v) return rc;
    while (true) {
        size_t n = strcspn(v, ",");
        if (n == 0) return ad_fail(err, AD_E_BAD_REQUEST, "fields: empty field name");
        if (!known_field(v, n))
            return ad_fail(err, AD_E_BAD_REQUEST, "fields: unknown field \"%.*s\"",
                           (int)(n > 128 ? 128 : n), v);
        if (p->nfields == LIST_MAX_FIELDS)
            return ad_fail(err, AD_E_BAD_REQUEST, "fields: more than %d names", LIST_MAX_FIELDS);
        p->fields[p->nfields] = ad_strndup(v, n);
        if (!p->fields[p->nfields]) return ad_fail(err, AD_E_NOMEM, "out of memory");
        p->nfields++;
        if (!v[n]) break;
        v += n + 1;
    }
    return AD_OK;
}

static void list_params_free(list_params *p)
{
    size_t i;
    free(p->sort);
    for (i = 0; i < p->nfields; i++) free(p->fields[i]);
}

/* --- the streamed list --- */

typedef struct list_stream {
    ad_meta *meta;
    ad_meta_cursor *cur;
    ad_filter *filter;
    list_params p;
    ad_buf pending; /* bytes produced but not yet handed to the socket */
    size_t off;
    size_t count;
    int state;   /* 0: next document, 1: closing bracket sent, 2: done */
    bool redact; /* the caller may not see the secret field */
} list_stream;

static void list_stream_free(void *ctx)
{
    list_stream *s = ctx;
    if (s->cur) s->meta->ops->cursor_close(s->cur);
    ad_filter_free(s->filter);
    list_params_free(&s->p);
    ad_buf_free(&s->pending);
    free(s);
}

/* Appends one document, projected to the requested fields if any. */
static ad_code append_doc(list_stream *s, const char *json, size_t len)
{
    json_t *doc, *out;
    char *text;
    size_t i, n;
    ad_code rc;
    if (!s->p.nfields) {
        char *red = NULL;
        if (!s->redact || !ad_redact_doc(json, len, &red, &n))
            return ad_buf_append(&s->pending, json, len);
        rc = red ? ad_buf_append(&s->pending, red, n) : AD_E_INTERNAL;
        free(red);
        return rc;
    }
    doc = json_loadb(json, len, 0, NULL);
    if (doc && s->redact) ad_redact_json(doc);
    out = json_object();
    if (!doc || !out) {
        json_decref(doc);
        json_decref(out);
        return AD_E_NOMEM;
    }
    json_object_set(out, "asset_id", json_object_get(doc, "asset_id"));
    for (i = 0; i < s->p.nfields; i++) {
        json_t *v = json_object_get(doc, s->p.fields[i]);
        if (v) json_object_set(out, s->p.fields[i], v);
    }
    text = ad_json_dump(out, &n);
    rc = text ? ad_buf_append(&s->pending, text, n) : AD_E_NOMEM;
    free(text);
    json_decref(out);
    json_decref(doc);
    return rc;
}

/* Refills the pending buffer with the next piece of the response. */
static ad_code list_refill(list_stream *s, ad_error *err)
{
    const char *json;
    size_t len;
    ad_code rc;
    ad_buf_reset(&s->pending);
    s->off = 0;
    if (s->state == 1) {
        s->state = 2;
        return AD_OK;
    }
    rc = s->meta->ops->cursor_next(s->cur, &json, &len, err);
    if (rc) return rc;
    if (!json) {
        s->state = 1;
        return ad_buf_puts(&s->pending, "]}");
    }
    if (s->count++) rc = ad_buf_append(&s->pending, ",", 1);
    if (!rc) rc = append_doc(s, json, len);
    return rc;
}

static long list_produce(void *ctx, char *buf, size_t max)
{
    list_stream *s = ctx;
    size_t out = 0;
    while (out < max) {
        size_t n;
        if (s->off == s->pending.len) {
            ad_error err = {0};
            if (s->state == 2) break;
            if (list_refill(s, &err)) {
                ad_log(AD_LOG_ERROR, "msg=\"list cut short\" code=%s error=\"%s\"",
                       ad_code_name(err.code), err.msg);
                return -1;
            }
            continue;
        }
        n = s->pending.len - s->off;
        if (n > max - out) n = max - out;
        memcpy(buf + out, s->pending.data + s->off, n);
        s->off += n;
        out += n;
    }
    return (long)out;
}

void api_reply_list(http_req *r, ad_filter *filter)
{
    ad_app *app = api_app(r);
    list_stream *s = calloc(1, sizeof(*s));
    ad_error err = {0};
    ad_code rc;
    if (!s) {
        ad_filter_free(filter);
        http_reply_error(r, AD_E_NOMEM, "out of memory");
        return;
    }
    s->meta = app->meta;
    s->filter = filter;
    s->p.q.filter = filter;
    s->p.q.limit = UINT64_MAX;
    ad_buf_init(&s->pending, SIZE_MAX);
    rc = parse_count(r, "limit", &s->p.q.limit, &err);
    if (!rc) rc = parse_count(r, "skip", &s->p.q.skip, &err);
    if (!rc) rc = parse_sort(r, &s->p, &err);
    if (!rc) rc = parse_fields(r, &s->p, &err);
    s->redact = !api_sees_secrets(r);
    if (!rc && s->redact && (ad_filter_reads_secret(filter) || ad_path_is_secret(s->p.q.sort_path)))
        rc = ad_fail(&err, AD_E_FORBIDDEN,
                     "filtering or sorting on " AD_SECRET_FIELD " needs the admin role");
    if (!rc) rc = ad_registry_find(app->reg, &s->p.q, &s->cur, &err);
    /* fetch the first document now, so an early error gets its status */
    if (!rc) rc = ad_buf_puts(&s->pending, "{\"success\":true,\"data\":[");
    if (!rc) {
        const char *json;
        size_t len;
        rc = s->meta->ops->cursor_next(s->cur, &json, &len, &err);
        if (!rc && json) {
            s->count = 1;
            rc = append_doc(s, json, len);
        } else if (!rc) {
            s->state = 1;
            rc = ad_buf_puts(&s->pending, "]}");
        }
    }
    if (rc) {
        if (!err.code) ad_fail(&err, rc, "%s", rc == AD_E_NOMEM ? "out of memory" : "list failed");
        list_stream_free(s);
        api_reply_error(r, &err);
        return;
    }
    http_reply_stream(r, 200, "application/json", list_produce, s, list_stream_free);
}
