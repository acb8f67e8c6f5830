/*
 * source.c — the `source` block of assets pulled from a URL, their
 * generation and status (see source.h).
 *
 * Validation is hand-written against a small table of allowed keys per
 * object rather than through the model's schema table: the block uses the
 * asset store's camelCase names and nested lists of webhook entries, and
 * its rules (URL scheme, PCRE2 pattern, bucket name, either url or
 * name+endpoint) are not shapes the table expresses. Every list and string
 * is bounded so a client cannot make the controller call hundreds of
 * services or compile a huge pattern.
 *
 * Filter patterns are compiled with PCRE2 (UTF, no auto-callouts) and
 * matched under the same kind of match/depth limits the filter language's
 * $regex uses, so a pathological pattern fails to match instead of
 * running for minutes.
 */
#include "core/source.h"

#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/buckets.h"
#include "store/blob.h"

#define MATCH_LIMIT    100000u
#define DEPTH_LIMIT    1000u
#define HEAP_LIMIT_KIB 4096u

const char *const ad_source_hook_lists[3] = {
    "validationWebhookService",
    "mutationWebhookService",
    "metadataWebhookService",
};

static const char *const source_keys[] = {
    "url",
    "mode",
    "filter",
    "bucket",
    "displayName",
    "parameters",
    "validationWebhookService",
    "mutationWebhookService",
    "metadataWebhookService",
    NULL,
};

static const char *const entry_keys[] = {
    "url", "name", "namespace", "endpoint", "filter", "parameters", NULL,
};

static bool known(const char *const *keys, const char *k)
{
    for (; *keys; keys++)
        if (strcmp(*keys, k) == 0) return true;
    return false;
}

/* First key of o not in keys, or NULL. */
static const char *unknown_key(const json_t *o, const char *const *keys)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)o, k, v)
    {
        (void)v;
        if (!known(keys, k)) return k;
    }
    return NULL;
}

/* A string field: absent is fine unless required; present must be a
 * non-empty string of at most max bytes without control characters. */
static ad_code check_text(const json_t *o, const char *key, bool required, size_t max,
                          const char *path, ad_error *err)
{
    const json_t *v = json_object_get(o, key);
    const char *s;
    size_t i, n;
    if (!v || json_is_null(v)) {
        if (required) return ad_fail(err, AD_E_INVALID, "%s.%s: required", path, key);
        return AD_OK;
    }
    if (!json_is_string(v)) return ad_fail(err, AD_E_INVALID, "%s.%s: must be a string", path, key);
    s = json_string_value(v);
    n = json_string_length(v);
    if (n == 0) return ad_fail(err, AD_E_INVALID, "%s.%s: must not be empty", path, key);
    if (n > max) return ad_fail(err, AD_E_INVALID, "%s.%s: longer than %zu bytes", path, key, max);
    for (i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f)
            return ad_fail(err, AD_E_INVALID, "%s.%s: must not contain control characters", path,
                           key);
    }
    return AD_OK;
}

static ad_code check_url(const json_t *o, const char *path, ad_error *err)
{
    const char *u = json_string_value(json_object_get(o, "url"));
    const char *rest;
    if (strncmp(u, "http://", 7) == 0)
        rest = u + 7;
    else if (strncmp(u, "https://", 8) == 0)
        rest = u + 8;
    else
        return ad_fail(err, AD_E_INVALID, "%s.url: must be an http:// or https:// URL", path);
    if (!*rest || *rest == '/') return ad_fail(err, AD_E_INVALID, "%s.url: has no host", path);
    if (strpbrk(u, " \t"))
        return ad_fail(err, AD_E_INVALID, "%s.url: must not contain spaces", path);
    return AD_OK;
}

static ad_code check_pattern(const json_t *o, const char *path, ad_error *err)
{
    const char *p = json_string_value(json_object_get(o, "filter"));
    ad_regex *re = NULL;
    ad_code rc;
    if (!p) return AD_OK;
    rc = ad_regex_compile(p, &re, err);
    ad_regex_free(re);
    if (rc) {
        char pre[128];
        snprintf(pre, sizeof(pre), "%s.filter: ", path);
        ad_error_prefix(err, pre);
    }
    return rc;
}

/* "parameters": any JSON, bounded when serialized. */
static ad_code check_params(const json_t *o, const char *path, ad_error *err)
{
    const json_t *v = json_object_get(o, "parameters");
    size_t n;
    if (!v) return AD_OK;
    n = json_dumpb(v, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
    if (n > AD_SOURCE_PARAMS_MAX)
        return ad_fail(err, AD_E_INVALID, "%s.parameters: larger than %d bytes", path,
                       AD_SOURCE_PARAMS_MAX);
    return AD_OK;
}

static ad_code check_entry(const json_t *e, const char *path, ad_error *err)
{
    const char *k;
    ad_code rc;
    bool has_url, has_name;
    if (!json_is_object(e)) return ad_fail(err, AD_E_INVALID, "%s: must be an object", path);
    k = unknown_key(e, entry_keys);
    if (k) return ad_fail(err, AD_E_INVALID, "%s.%.200s: unknown field", path, k);
    has_url = json_object_get(e, "url") && !json_is_null(json_object_get(e, "url"));
    has_name = json_object_get(e, "name") && !json_is_null(json_object_get(e, "name"));
    if (has_url == has_name)
        return ad_fail(err, AD_E_INVALID, "%s: needs either url, or name and endpoint", path);
    if (has_url) {
        if (json_object_get(e, "endpoint") || json_object_get(e, "namespace"))
            return ad_fail(err, AD_E_INVALID,
                           "%s: endpoint and namespace go with name, not with url", path);
        rc = check_text(e, "url", true, AD_SOURCE_URL_MAX, path, err);
        if (!rc) rc = check_url(e, path, err);
    } else {
        rc = check_text(e, "name", true, AD_SOURCE_TEXT_MAX, path, err);
        if (!rc) rc = check_text(e, "namespace", false, AD_SOURCE_TEXT_MAX, path, err);
        if (!rc) rc = check_text(e, "endpoint", true, AD_SOURCE_TEXT_MAX, path, err);
        if (!rc && json_string_value(json_object_get(e, "endpoint"))[0] != '/')
            rc = ad_fail(err, AD_E_INVALID, "%s.endpoint: must start with '/'", path);
    }
    if (!rc) rc = check_text(e, "filter", false, AD_SOURCE_PATTERN_MAX, path, err);
    if (!rc) rc = check_pattern(e, path, err);
    if (!rc) rc = check_params(e, path, err);
    return rc;
}

static ad_code check_hooks(const json_t *src, const char *list, ad_error *err)
{
    const json_t *v = json_object_get(src, list), *e;
    char path[96];
    size_t i;
    ad_code rc;
    if (!v || json_is_null(v)) return AD_OK;
    if (!json_is_array(v))
        return ad_fail(err, AD_E_INVALID, "source.%s: must be a list of objects", list);
    if (json_array_size(v) > AD_SOURCE_WEBHOOKS_MAX)
        return ad_fail(err, AD_E_INVALID, "source.%s: more than %d entries", list,
                       AD_SOURCE_WEBHOOKS_MAX);
    json_array_foreach(v, i, e)
    {
        snprintf(path, sizeof(path), "source.%s[%zu]", list, i);
        rc = check_entry(e, path, err);
        if (rc) return rc;
    }
    return AD_OK;
}

ad_code ad_source_check(const json_t *src, ad_error *err)
{
    const char *k, *mode, *bucket;
    ad_error berr = {0};
    size_t i;
    ad_code rc;
    if (!json_is_object(src)) return ad_fail(err, AD_E_INVALID, "source: must be an object");
    k = unknown_key(src, source_keys);
    if (k) return ad_fail(err, AD_E_INVALID, "source.%.200s: unknown field", k);
    rc = check_text(src, "url", true, AD_SOURCE_URL_MAX, "source", err);
    if (!rc) rc = check_url(src, "source", err);
    if (!rc) rc = check_text(src, "mode", true, 16, "source", err);
    if (rc) return rc;
    mode = json_string_value(json_object_get(src, "mode"));
    if (strcmp(mode, "single") != 0 && strcmp(mode, "package") != 0)
        return ad_fail(err, AD_E_INVALID, "source.mode: must be single or package");
    rc = check_text(src, "bucket", true, AD_BUCKET_NAME_MAX, "source", err);
    if (rc) return rc;
    bucket = json_string_value(json_object_get(src, "bucket"));
    if (ad_blob_bucket_check(bucket, &berr))
        return ad_fail(err, AD_E_INVALID, "source.bucket: %s", berr.msg);
    rc = check_text(src, "filter", false, AD_SOURCE_PATTERN_MAX, "source", err);
    if (!rc) rc = check_pattern(src, "source", err);
    if (!rc) rc = check_text(src, "displayName", false, AD_SOURCE_TEXT_MAX, "source", err);
    if (!rc) rc = check_params(src, "source", err);
    for (i = 0; !rc && i < 3; i++) rc = check_hooks(src, ad_source_hook_lists[i], err);
    return rc;
}

/* Appends s to dst (at *n, capacity cap); false when it does not fit. */
static bool put(char *dst, size_t cap, size_t *n, const char *s, size_t len)
{
    if (*n + len >= cap) return false;
    memcpy(dst + *n, s, len);
    *n += len;
    dst[*n] = '\0';
    return true;
}

ad_code ad_source_hook_url(const json_t *entry, const char *tmpl, char *dst, size_t cap,
                           ad_error *err)
{
    const char *url = json_string_value(json_object_get(entry, "url"));
    const char *name = json_string_value(json_object_get(entry, "name"));
    const char *ns = json_string_value(json_object_get(entry, "namespace"));
    const char *ep = json_string_value(json_object_get(entry, "endpoint"));
    const char *p;
    size_t n = 0;
    if (cap) dst[0] = '\0';
    if (url) {
        if (!put(dst, cap, &n, url, strlen(url)))
            return ad_fail(err, AD_E_INVALID, "webhook URL too long");
        return AD_OK;
    }
    if (!name || !ep) return ad_fail(err, AD_E_INVALID, "webhook entry has no url nor name");
    if (!ns) ns = "default";
    if (!tmpl || !*tmpl) tmpl = AD_SERVICE_URL_TEMPLATE;
    for (p = tmpl; *p;) {
        const char *v = NULL;
        size_t skip = 0;
        if (strncmp(p, "{name}", 6) == 0)
            v = name, skip = 6;
        else if (strncmp(p, "{namespace}", 11) == 0)
            v = ns, skip = 11;
        else if (strncmp(p, "{endpoint}", 10) == 0)
            v = ep, skip = 10;
        if (v ? !put(dst, cap, &n, v, strlen(v)) : !put(dst, cap, &n, p, 1))
            return ad_fail(err, AD_E_INVALID, "webhook URL too long");
        p += v ? skip : 1;
    }
    return AD_OK;
}

/* --- patterns --- */

struct ad_regex {
    pcre2_code *code;
};

ad_code ad_regex_compile(const char *pattern, ad_regex **out, ad_error *err)
{
    int ec = 0;
    PCRE2_SIZE off = 0;
    PCRE2_UCHAR msg[160];
    ad_regex *re;
    size_t n = strlen(pattern);
    *out = NULL;
    if (n > AD_SOURCE_PATTERN_MAX)
        return ad_fail(err, AD_E_INVALID, "pattern longer than %d bytes", AD_SOURCE_PATTERN_MAX);
    re = calloc(1, sizeof(*re));
    if (!re) return ad_fail(err, AD_E_NOMEM, "out of memory");
    re->code = pcre2_compile((PCRE2_SPTR)pattern, n, PCRE2_UTF, &ec, &off, NULL);
    if (!re->code) {
        free(re);
        if (pcre2_get_error_message(ec, msg, sizeof(msg)) < 0) msg[0] = '\0';
        return ad_fail(err, AD_E_INVALID, "not a valid regular expression at offset %zu: %s",
                       (size_t)off, (const char *)msg);
    }
    *out = re;
    return AD_OK;
}

bool ad_regex_match(const ad_regex *re, const char *s)
{
    pcre2_match_context *mc;
    pcre2_match_data *md;
    int rc;
    if (!re) return true;
    mc = pcre2_match_context_create(NULL);
    md = pcre2_match_data_create(1, NULL);
    if (!mc || !md) {
        pcre2_match_context_free(mc);
        pcre2_match_data_free(md);
        return false;
    }
    pcre2_set_match_limit(mc, MATCH_LIMIT);
    pcre2_set_depth_limit(mc, DEPTH_LIMIT);
    pcre2_set_heap_limit(mc, HEAP_LIMIT_KIB);
    rc = pcre2_match(re->code, (PCRE2_SPTR)s, strlen(s), 0, 0, md, mc);
    pcre2_match_data_free(md);
    pcre2_match_context_free(mc);
    return rc >= 0;
}

void ad_regex_free(ad_regex *re)
{
    if (!re) return;
    pcre2_code_free(re->code);
    free(re);
}

/* --- generation and status on a client's write --- */

void ad_iso_time(int64_t t, char dst[21])
{
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(dst, 21, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static ad_code set(json_t *o, const char *k, json_t *v, ad_error *err)
{
    if (!v || json_object_set_new(o, k, v)) return ad_fail(err, AD_E_NOMEM, "out of memory");
    return AD_OK;
}

static ad_code keep_from(const json_t *prev, json_t *doc, const char *k, ad_error *err)
{
    json_t *v = prev ? json_object_get(prev, k) : NULL;
    if (!v) {
        json_object_del(doc, k);
        return AD_OK;
    }
    return set(doc, k, json_deep_copy(v), err);
}

ad_code ad_source_prepare(const json_t *prev, json_t *doc, int64_t *new_gen, ad_error *err)
{
    const json_t *src = json_object_get(doc, "source");
    const json_t *psrc = prev ? json_object_get(prev, "source") : NULL;
    json_int_t gen = json_integer_value(prev ? json_object_get(prev, "generation") : NULL);
    char now[21];
    ad_code rc;
    *new_gen = 0;
    if (psrc && json_is_null(psrc)) psrc = NULL;
    if (src && json_is_null(src)) {
        json_object_del(doc, "source");
        src = NULL;
    }
    /* server-owned: whatever the client sent is replaced by what is stored */
    rc = keep_from(prev, doc, "generation", err);
    if (!rc) rc = keep_from(prev, doc, "status", err);
    if (!rc) rc = keep_from(prev, doc, "created_at", err);
    if (rc) return rc;
    if (!src) {
        if (psrc)
            return ad_fail(err, AD_E_INVALID,
                           "source: cannot be removed from an asset pulled from a URL; delete the "
                           "asset instead");
        return AD_OK;
    }
    rc = ad_source_check(src, err);
    if (rc) return rc;
    /* asset_uri follows source.url unless the client set it to something else */
    if (!json_object_get(doc, "asset_uri") ||
        (psrc && json_equal(json_object_get(doc, "asset_uri"), json_object_get(psrc, "url"))))
        rc = set(doc, "asset_uri", json_deep_copy(json_object_get(src, "url")), err);
    if (!rc && !json_object_get(doc, "asset_version"))
        rc = set(doc, "asset_version", json_string("1"), err);
    if (!rc && !json_object_get(doc, "asset_profile_id"))
        rc = set(doc, "asset_profile_id", json_string(""), err);
    /* the files are the controller's: what it stored */
    if (!rc && prev) rc = keep_from(prev, doc, "files", err);
    if (!rc && prev) rc = keep_from(prev, doc, "asset_file_ids", err);
    if (!rc && !json_object_get(doc, "asset_file_ids"))
        rc = set(doc, "asset_file_ids", json_array(), err);
    if (!rc && !json_object_get(doc, "files")) rc = set(doc, "files", json_array(), err);
    if (rc) return rc;
    ad_iso_time((int64_t)time(NULL), now);
    /* when the asset got its source (kubectl's AGE in assetctl get assets) */
    if (!json_object_get(doc, "created_at")) rc = set(doc, "created_at", json_string(now), err);
    if (rc) return rc;
    if (psrc && json_equal((json_t *)psrc, (json_t *)src) && gen > 0) return AD_OK;
    gen = gen > 0 ? gen + 1 : 1;
    rc = set(doc, "generation", json_integer(gen), err);
    if (!rc) {
        json_t *st = json_object_get(doc, "status");
        json_t *ns =
            json_pack("{s:s,s:s,s:s,s:s,s:I}", "phase", "Pending", "reason", "", "message",
                      "waiting for the controller", "lastHeartbeatTime", now, "observedGeneration",
                      json_integer_value(json_object_get(st, "observedGeneration")));
        /* the content stored for the previous spec is still there until the
         * controller cleans it: keep where it is */
        json_t *ref = json_object_get(st, "assetRef");
        if (ns && ref) json_object_set(ns, "assetRef", ref);
        rc = set(doc, "status", ns, err);
    }
    if (!rc) *new_gen = (int64_t)gen;
    return rc;
}
