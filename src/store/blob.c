/*
 * blob.c — blob store key and bucket name rules, URL redaction, and the
 * registry of adapters.
 */
#include "store/blob.h"

#include <stdio.h>
#include <string.h>

#include "util/str.h"

extern const ad_blob_ops ad_blob_file_ops;
extern const ad_blob_ops ad_blob_s3_ops;

static const ad_blob_ops *const adapters[] = {
    &ad_blob_file_ops,
    &ad_blob_s3_ops,
};

const char *ad_blob_schemes(void)
{
    return "file, s3";
}

ad_code ad_blob_key_check(const char *key, ad_error *err)
{
    size_t n = strlen(key), i, part = 0;
    if (n == 0 || n > AD_BLOB_KEY_MAX)
        return ad_fail(err, AD_E_BAD_REQUEST, "object key must be 1 to %d bytes", AD_BLOB_KEY_MAX);
    if (!ad_utf8_valid(key, n))
        return ad_fail(err, AD_E_BAD_REQUEST, "object key is not valid UTF-8");
    for (i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)key[i];
        if (c == '/' || c == '\0') {
            size_t len = i - part;
            if (len > AD_BLOB_KEY_PART_MAX)
                return ad_fail(err, AD_E_BAD_REQUEST, "object key: a part is longer than %d bytes",
                               AD_BLOB_KEY_PART_MAX);
            if (len == 0 || (len == 1 && key[part] == '.') ||
                (len == 2 && key[part] == '.' && key[part + 1] == '.'))
                return ad_fail(err, AD_E_BAD_REQUEST,
                               "object key \"%.200s\": empty, \".\" or \"..\" part", key);
            part = i + 1;
        } else if (c < 0x20 || c == 0x7f || c == '\\') {
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "object key has a control character or backslash");
        }
    }
    return AD_OK;
}

static bool is_ipv4_shaped(const char *s)
{
    int dots = 0, digits = 0;
    for (; *s; s++) {
        if (*s == '.') {
            if (!digits) return false;
            dots++, digits = 0;
        } else if (*s >= '0' && *s <= '9') {
            if (++digits > 3) return false;
        } else {
            return false;
        }
    }
    return dots == 3 && digits;
}

static bool ends_with(const char *s, size_t n, const char *suffix)
{
    size_t k = strlen(suffix);
    return n >= k && memcmp(s + n - k, suffix, k) == 0;
}

ad_code ad_blob_bucket_check(const char *name, ad_error *err)
{
    size_t n = strlen(name), i;
    for (i = 0; i < n; i++) {
        char c = name[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '-'))
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "bucket name \"%.80s\": only lowercase letters, digits, '.' and '-' "
                           "are allowed",
                           name);
    }
    if (n < 3 || n > AD_BLOB_BUCKET_MAX)
        return ad_fail(err, AD_E_BAD_REQUEST, "bucket name \"%.80s\": must be 3 to %d bytes", name,
                       AD_BLOB_BUCKET_MAX);
    if (name[0] == '.' || name[0] == '-' || name[n - 1] == '.' || name[n - 1] == '-')
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "bucket name \"%s\": must begin and end with a letter or digit", name);
    if (strstr(name, ".."))
        return ad_fail(err, AD_E_BAD_REQUEST, "bucket name \"%s\": two adjacent periods", name);
    if (is_ipv4_shaped(name))
        return ad_fail(err, AD_E_BAD_REQUEST, "bucket name \"%s\": looks like an IP address", name);
    if (strncmp(name, "xn--", 4) == 0 || strncmp(name, "sthree-", 7) == 0 ||
        ends_with(name, n, "-s3alias") || ends_with(name, n, "--ol-s3"))
        return ad_fail(err, AD_E_BAD_REQUEST, "bucket name \"%s\": reserved prefix or suffix",
                       name);
    return AD_OK;
}

ad_code ad_blob_open(const char *url, ad_blob **out, ad_error *err)
{
    const char *colon = strchr(url, ':');
    size_t n = colon ? (size_t)(colon - url) : 0, i;
    for (i = 0; colon && i < sizeof(adapters) / sizeof(adapters[0]); i++) {
        if (strlen(adapters[i]->scheme) == n && memcmp(adapters[i]->scheme, url, n) == 0)
            return adapters[i]->open(url, out, err);
    }
    char safe[512];
    ad_url_redact(url, safe, sizeof(safe));
    return ad_fail(err, AD_E_BAD_REQUEST, "blob store URL \"%s\": unknown scheme (known: %s)", safe,
                   ad_blob_schemes());
}
