/*
 * blob.c — blob store key rules and the registry of adapters.
 */
#include "store/blob.h"

#include <string.h>

#include "util/str.h"

extern const ad_blob_ops ad_blob_file_ops;

static const ad_blob_ops *const adapters[] = {
    &ad_blob_file_ops,
};

const char *ad_blob_schemes(void)
{
    return "file";
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
                return ad_fail(err, AD_E_BAD_REQUEST,
                               "object key: a part is longer than %d bytes",
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

ad_code ad_blob_open(const char *url, ad_blob **out, ad_error *err)
{
    const char *colon = strchr(url, ':');
    size_t n = colon ? (size_t)(colon - url) : 0, i;
    for (i = 0; colon && i < sizeof(adapters) / sizeof(adapters[0]); i++) {
        if (strlen(adapters[i]->scheme) == n && memcmp(adapters[i]->scheme, url, n) == 0)
            return adapters[i]->open(url, out, err);
    }
    return ad_fail(err, AD_E_BAD_REQUEST, "blob store URL \"%s\": unknown scheme (known: %s)", url,
                   ad_blob_schemes());
}
