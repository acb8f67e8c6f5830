/*
 * archive_rules.c — entry-name rules for archives and file-URL encoding
 * (see archive_rules.h).
 */
#include "core/archive_rules.h"

#include <string.h>

#include "store/blob.h"
#include "util/str.h"

static ad_code segment_check(const char *name, const char *seg, size_t n, ad_error *err)
{
    if (n == 0) return ad_fail(err, AD_E_INVALID, "entry \"%.200s\": empty path segment", name);
    if (n == 2 && memcmp(seg, "..", 2) == 0)
        return ad_fail(err, AD_E_INVALID, "entry \"%.200s\": path contains \"..\"", name);
    if (n == 1 && seg[0] == '.')
        return ad_fail(err, AD_E_INVALID, "entry \"%.200s\": path contains \".\"", name);
    if (n > AD_BLOB_KEY_PART_MAX)
        return ad_fail(err, AD_E_INVALID, "entry \"%.200s\": a path segment is over %d bytes", name,
                       AD_BLOB_KEY_PART_MAX);
    return AD_OK;
}

ad_code ad_archive_name_check(const char *name, ad_error *err)
{
    size_t len = strlen(name), i;
    const char *p = name;
    if (len == 0) return ad_fail(err, AD_E_INVALID, "an entry has an empty name");
    if (len > AD_ARCHIVE_NAME_MAX)
        return ad_fail(err, AD_E_INVALID, "entry \"%.200s…\": name over %d bytes", name,
                       AD_ARCHIVE_NAME_MAX);
    if (name[0] == '/' || (len >= 2 && name[1] == ':'))
        return ad_fail(err, AD_E_INVALID, "entry \"%.200s\": absolute path", name);
    if (!ad_utf8_valid(name, len))
        return ad_fail(err, AD_E_INVALID, "an entry name is not valid UTF-8");
    for (i = 0; i < len; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '\\')
            return ad_fail(err, AD_E_INVALID, "entry \"%.200s\": name contains a backslash", name);
        if (c < 0x20 || c == 0x7f)
            return ad_fail(err, AD_E_INVALID, "entry \"%.200s\": name contains a control character",
                           name);
    }
    while (true) {
        size_t n = strcspn(p, "/");
        ad_code rc = segment_check(name, p, n, err);
        if (rc) return rc;
        if (!p[n]) break;
        p += n + 1;
    }
    return AD_OK;
}

static bool unreserved(unsigned char c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '.' || c == '_' || c == '~';
}

ad_code ad_url_path_append(ad_buf *b, const char *name)
{
    static const char hex[] = "0123456789ABCDEF";
    const unsigned char *p;
    ad_code rc = AD_OK;
    for (p = (const unsigned char *)name; *p && !rc; p++) {
        char esc[3];
        if (*p == '/' || unreserved(*p)) {
            rc = ad_buf_append(b, p, 1);
            continue;
        }
        esc[0] = '%';
        esc[1] = hex[*p >> 4];
        esc[2] = hex[*p & 15];
        rc = ad_buf_append(b, esc, 3);
    }
    return rc;
}

ad_code ad_archive_check_entries(const ad_archive_limits *l, uint64_t entries, ad_error *err)
{
    if (entries > l->max_entries)
        return ad_fail(err, AD_E_INVALID, "more than %llu entries (the limit)",
                       (unsigned long long)l->max_entries);
    return AD_OK;
}

ad_code ad_archive_check_unpacked(const ad_archive_limits *l, uint64_t unpacked,
                                  uint64_t archive_size, ad_error *err)
{
    uint64_t size = archive_size ? archive_size : 1;
    if (unpacked > l->max_unpacked)
        return ad_fail(err, AD_E_INVALID, "total uncompressed size is over the limit of %llu bytes",
                       (unsigned long long)l->max_unpacked);
    if (unpacked / size >= l->max_ratio)
        return ad_fail(err, AD_E_INVALID,
                       "compression ratio over the limit of %llu:1 (%llu bytes from %llu)",
                       (unsigned long long)l->max_ratio, (unsigned long long)unpacked,
                       (unsigned long long)size);
    return AD_OK;
}
