/*
 * fuzz_archive_rules.c — libFuzzer target for the rules on archive entry
 * names (core/archive_rules.c), which see every name in an uploaded ZIP:
 * ad_archive_name_check, then ad_url_path_append on the names it accepts.
 *
 * Input: the entry name (cut at a NUL byte, as a C string). Invariants
 * checked: an accepted name is valid UTF-8, not absolute, has no ".."
 * segment, no backslash or control byte, and is at most
 * AD_ARCHIVE_NAME_MAX bytes; its URL path holds only unreserved
 * characters, '/' and %XX escapes, and percent-decodes back to the name.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/archive_rules.h"
#include "util/buf.h"
#include "util/str.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_archive_rules: invariant failed: %s (line %d)\n", #c, __LINE__); \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static bool has_dotdot_segment(const char *s)
{
    const char *p = s;
    for (;;) {
        size_t n = strcspn(p, "/");
        if (n == 2 && p[0] == '.' && p[1] == '.') return true;
        if (!p[n]) return false;
        p += n + 1;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *name = strndup((const char *)data, size), *dec;
    ad_error err = {0};
    ad_buf b;
    size_t len, blen;
    const char *url;

    if (!name) return 0;
    len = strlen(name);
    if (ad_archive_name_check(name, &err) != AD_OK) {
        free(name);
        return 0;
    }
    FUZZ_ASSERT(len > 0 && len <= AD_ARCHIVE_NAME_MAX);
    FUZZ_ASSERT(ad_utf8_valid(name, len));
    FUZZ_ASSERT(name[0] != '/');
    FUZZ_ASSERT(!strchr(name, '\\'));
    FUZZ_ASSERT(!has_dotdot_segment(name));
    for (size_t i = 0; i < len; i++)
        FUZZ_ASSERT((unsigned char)name[i] >= 0x20 && (unsigned char)name[i] != 0x7f);

    ad_buf_init(&b, SIZE_MAX);
    if (ad_url_path_append(&b, name) == AD_OK) {
        url = ad_buf_steal(&b, &blen);
        if (url) {
            for (size_t i = 0; i < blen; i++) {
                char c = url[i];
                FUZZ_ASSERT((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || strchr("-._~/%", c));
            }
            dec = malloc(blen + 1);
            if (dec) {
                long dl = ad_pct_decode(url, blen, dec, false);
                FUZZ_ASSERT(dl == (long)len && memcmp(dec, name, len) == 0);
                free(dec);
            }
            free((void *)url);
        }
    }
    ad_buf_free(&b);
    free(name);
    return 0;
}
