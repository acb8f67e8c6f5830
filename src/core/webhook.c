/*
 * webhook.c — calling the asset store's validation, mutation and metadata
 * services (see webhook.h for the contracts; answers are read by
 * core/webhook_answer.c).
 *
 * Decisions:
 * - One POST per call with a JSON body built by jansson; the handle comes
 *   from core/outbound.c (http/https only, no proxy, the allow list checked
 *   on the address connected to, flag --webhook-allow in messages).
 * - Redirects are not followed: a service answers, it does not send us
 *   elsewhere; a 3xx is an error like any unexpected status.
 * - The answer is held in memory (a mutation's new content must be), so it
 *   is bounded: a Content-Length over max_response stops the call at the
 *   headers, and counting stops it at the first byte past the bound; the
 *   verdict is then ERROR "answer larger than N bytes".
 * - File content that is not UTF-8 is sent with U+FFFD for the bad bytes
 *   (ad_webhook_text): JSON strings cannot carry raw bytes, and that is what
 *   a Go service of Rafter's would see. Missing parameters are sent as {}.
 * - The return code is an error only when no request could be made (bad
 *   URL, a refused address, a file over AD_WEBHOOK_CONTENT_MAX, out of
 *   memory); res says what happened in every case.
 * - Zero in an option means its default: 30 s, 16 MiB.
 */
#include "core/webhook.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "core/outbound.h"
#include "core/webhook_answer.h"
#include "util/json.h"

#define HOOK_DEFAULT_TIMEOUT 30L
#define HOOK_DEFAULT_MAX     ((size_t)16 << 20)
#define HOOK_CONNECT_MAX     10L
/* The whole body of a metadata call (several files). */
#define HOOK_REQUEST_MAX (4 * AD_WEBHOOK_CONTENT_MAX)

typedef struct answer {
    char *buf;
    size_t len, cap, max;
    long status;
    bool too_large;
} answer;

static size_t on_header(char *p, size_t size, size_t nitems, void *cls)
{
    answer *a = cls;
    size_t n = size * nitems;
    uint64_t len;
    if (ad_outbound_status_line(p, n, &a->status)) return n;
    /* 204 and 304 have no body, whatever they declare */
    if (ad_outbound_content_length(p, n, &len) && a->status >= 200 && a->status != 204 &&
        a->status != 304 && len > a->max) {
        a->too_large = true;
        return 0;
    }
    return n;
}

static size_t on_data(char *p, size_t size, size_t nitems, void *cls)
{
    answer *a = cls;
    size_t n = size * nitems;
    if (n > a->max - a->len) {
        a->too_large = true;
        return 0;
    }
    if (a->len + n + 1 > a->cap) {
        size_t cap = a->cap ? a->cap : 4096;
        char *grown;
        while (cap < a->len + n + 1) cap *= 2;
        if (cap > a->max + 1) cap = a->max + 1;
        if (!(grown = realloc(a->buf, cap))) return 0;
        a->buf = grown;
        a->cap = cap;
    }
    memcpy(a->buf + a->len, p, n);
    a->len += n;
    a->buf[a->len] = '\0';
    return n;
}

static void set_res(ad_webhook_result *res, ad_webhook_verdict v, long status, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
static void set_res(ad_webhook_result *res, ad_webhook_verdict v, long status, const char *fmt, ...)
{
    va_list ap;
    res->verdict = v;
    res->status = status;
    va_start(ap, fmt);
    vsnprintf(res->message, sizeof(res->message), fmt, ap);
    va_end(ap);
}

/* POSTs body to url and reads the answer into *a. AD_OK once a verdict is
 * possible from a->status (res untouched); otherwise res holds an ERROR
 * and the return says whether the call was attempted (AD_OK) or not. */
static ad_code post(const char *url, const char *body, size_t body_len, const ad_webhook_opts *o,
                    ad_webhook_result *res, answer *a, bool *done)
{
    ad_outbound ob;
    ad_error err = {0};
    char errbuf[CURL_ERROR_SIZE], shown[512];
    long timeout = o && o->timeout_s > 0 ? o->timeout_s : HOOK_DEFAULT_TIMEOUT;
    struct curl_slist *hdr = NULL, *h2;
    CURLcode cc;
    ad_code rc;

    *done = false;
    memset(a, 0, sizeof(*a));
    a->max = o && o->max_response ? o->max_response : HOOK_DEFAULT_MAX;
    rc = ad_outbound_open(&ob, url, o ? o->allow : NULL, "--webhook-allow", o ? o->ca_file : NULL,
                          errbuf, &err);
    if (rc != AD_OK) {
        set_res(res, AD_HOOK_ERROR, 0, "%s", err.msg);
        return rc;
    }
    ad_outbound_url_text(url, shown, sizeof(shown));
    if (!(h2 = curl_slist_append(hdr, "Content-Type: application/json")) ||
        !(hdr = h2, h2 = curl_slist_append(hdr, "Accept: application/json")) ||
        !(hdr = h2, h2 = curl_slist_append(hdr, "Expect:"))) {
        curl_slist_free_all(hdr);
        ad_outbound_close(&ob);
        set_res(res, AD_HOOK_ERROR, 0, "out of memory");
        return AD_E_NOMEM;
    }
    hdr = h2;
    curl_easy_setopt(ob.h, CURLOPT_HTTPHEADER, hdr);
    curl_easy_setopt(ob.h, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(ob.h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    curl_easy_setopt(ob.h, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(ob.h, CURLOPT_CONNECTTIMEOUT,
                     timeout < HOOK_CONNECT_MAX ? timeout : HOOK_CONNECT_MAX);
    curl_easy_setopt(ob.h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(ob.h, CURLOPT_HEADERDATA, a);
    curl_easy_setopt(ob.h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(ob.h, CURLOPT_WRITEDATA, a);

    cc = curl_easy_perform(ob.h);
    if (a->too_large) {
        set_res(res, AD_HOOK_ERROR, a->status, "answer larger than %zu bytes from %s", a->max,
                shown);
    } else if (cc != CURLE_OK) {
        rc = ad_outbound_fail(&ob, cc, errbuf, url, timeout, &err);
        set_res(res, AD_HOOK_ERROR, 0, "%s", err.msg);
        /* a refused address: no request was made */
        if (rc != AD_E_BAD_REQUEST) rc = AD_OK;
    } else {
        curl_easy_getinfo(ob.h, CURLINFO_RESPONSE_CODE, &a->status);
        *done = true;
    }
    curl_slist_free_all(hdr);
    ad_outbound_close(&ob);
    return rc;
}

/* ERROR for an unexpected status, with what the service said. */
static void unexpected(ad_webhook_result *res, const char *url, const answer *a)
{
    char shown[256], said[200];
    ad_outbound_url_text(url, shown, sizeof(shown));
    ad_webhook_answer_message(a->buf, a->len, said, sizeof(said));
    if (said[0])
        set_res(res, AD_HOOK_ERROR, a->status, "HTTP %ld from %s: %s", a->status, shown, said);
    else
        set_res(res, AD_HOOK_ERROR, a->status, "HTTP %ld from %s", a->status, shown);
}

/* FAILED for a 422: the service's message, or a default. */
static void refused(ad_webhook_result *res, const char *url, const answer *a)
{
    ad_webhook_answer_message(a->buf, a->len, res->message, sizeof(res->message));
    res->verdict = AD_HOOK_FAILED;
    res->status = a->status;
    if (!res->message[0]) {
        char shown[256];
        ad_outbound_url_text(url, shown, sizeof(shown));
        snprintf(res->message, sizeof(res->message), "refused by %s (HTTP 422)", shown);
    }
}

/* {"parameters": ..., "content": "..."} serialized, or NULL with res set. */
static char *content_body(const json_t *parameters, const char *content, size_t len,
                          ad_webhook_result *res, size_t *body_len, ad_code *rc)
{
    json_t *req, *text;
    char *body;
    if (len > AD_WEBHOOK_CONTENT_MAX) {
        set_res(res, AD_HOOK_ERROR, 0, "file of %zu bytes is larger than %zu bytes", len,
                AD_WEBHOOK_CONTENT_MAX);
        *rc = AD_E_TOO_LARGE;
        return NULL;
    }
    req = json_object();
    text = ad_webhook_text(content, len);
    if (!req || !text ||
        json_object_set_new(req, "parameters",
                            parameters ? json_incref((json_t *)parameters) : json_object()) ||
        json_object_set_new(req, "content", text)) {
        json_decref(req);
        set_res(res, AD_HOOK_ERROR, 0, "out of memory");
        *rc = AD_E_NOMEM;
        return NULL;
    }
    body = ad_json_dump(req, body_len);
    json_decref(req);
    if (!body) {
        set_res(res, AD_HOOK_ERROR, 0, "out of memory");
        *rc = AD_E_NOMEM;
    }
    return body;
}

/* POSTs {"parameters", "content"} to url: the request of validation and
 * mutation services. *done tells whether an answer (*a, whose buf the
 * caller frees) came. */
static ad_code content_call(const char *url, const json_t *parameters, const char *content,
                            size_t len, const ad_webhook_opts *o, ad_webhook_result *res, answer *a,
                            bool *done)
{
    size_t blen = 0;
    ad_code rc = AD_OK;
    char *body;
    memset(res, 0, sizeof(*res));
    memset(a, 0, sizeof(*a));
    *done = false;
    if (!(body = content_body(parameters, content, len, res, &blen, &rc))) return rc;
    rc = post(url, body, blen, o, res, a, done);
    free(body);
    return rc;
}

ad_code ad_webhook_validate(const char *url, const json_t *parameters, const char *content,
                            size_t len, const ad_webhook_opts *o, ad_webhook_result *res)
{
    answer a;
    bool done;
    ad_code rc = content_call(url, parameters, content, len, o, res, &a, &done);
    if (done) {
        if (a.status == 200)
            set_res(res, AD_HOOK_OK, 200, "%s", "");
        else if (a.status == 422)
            refused(res, url, &a);
        else
            unexpected(res, url, &a);
    }
    free(a.buf);
    return rc;
}

ad_code ad_webhook_mutate(const char *url, const json_t *parameters, const char *content,
                          size_t len, const ad_webhook_opts *o, ad_webhook_result *res, char **out,
                          size_t *out_len)
{
    answer a;
    bool done;
    ad_code rc;
    *out = NULL;
    *out_len = 0;
    rc = content_call(url, parameters, content, len, o, res, &a, &done);
    if (done) {
        if (a.status == 200) {
            set_res(res, AD_HOOK_OK, 200, "%s", "");
            *out_len = a.len;
            *out = a.buf ? a.buf : malloc(1); /* an empty new content is content */
            a.buf = NULL;
            if (!*out) {
                set_res(res, AD_HOOK_ERROR, 200, "out of memory");
                *out_len = 0;
                rc = AD_E_NOMEM;
            }
        } else if (a.status == 304) {
            set_res(res, AD_HOOK_OK, 304, "%s", "");
        } else if (a.status == 422) {
            refused(res, url, &a);
        } else {
            unexpected(res, url, &a);
        }
    }
    free(a.buf);
    return rc;
}

ad_code ad_webhook_metadata(const char *url, const json_t *files, const ad_webhook_opts *o,
                            ad_webhook_result *res, json_t **out)
{
    answer a;
    size_t blen = 0;
    bool done;
    ad_code rc;
    char *body;
    memset(res, 0, sizeof(*res));
    *out = NULL;
    if (!json_is_object(files)) {
        set_res(res, AD_HOOK_ERROR, 0, "files to describe must be a JSON object");
        return AD_E_INTERNAL;
    }
    if (!(body = ad_json_dump(files, &blen))) {
        set_res(res, AD_HOOK_ERROR, 0, "out of memory");
        return AD_E_NOMEM;
    }
    if (blen > HOOK_REQUEST_MAX) {
        free(body);
        set_res(res, AD_HOOK_ERROR, 0, "request of %zu bytes is larger than %zu bytes", blen,
                HOOK_REQUEST_MAX);
        return AD_E_TOO_LARGE;
    }
    rc = post(url, body, blen, o, res, &a, &done);
    free(body);
    if (done) {
        if (a.status == 200) {
            char why[300], shown[200];
            if (ad_webhook_answer_metadata(a.buf ? a.buf : "", a.len, files, out, why,
                                           sizeof(why))) {
                set_res(res, AD_HOOK_OK, 200, "%s", "");
            } else {
                ad_outbound_url_text(url, shown, sizeof(shown));
                set_res(res, AD_HOOK_ERROR, 200, "malformed answer from %s: %s", shown, why);
            }
        } else {
            unexpected(res, url, &a);
        }
    }
    free(a.buf);
    return rc;
}
