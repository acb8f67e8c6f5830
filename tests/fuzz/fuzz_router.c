/*
 * fuzz_router.c — libFuzzer target for request routing: http_route_match
 * over the server's real route table (ad_routes), which percent-decodes
 * and UTF-8-checks every captured segment, and the two helpers it uses
 * directly, ad_pct_decode and ad_utf8_valid.
 *
 * Input: the first byte picks the method (and whether '+' means space for
 * ad_pct_decode), the rest is the request path (cut at a NUL byte, as a C
 * string would be).
 *
 * Invariants checked: ad_utf8_valid agrees with a straightforward
 * reference decoder (RFC 3629: no overlongs, no surrogates, nothing above
 * U+10FFFF); ad_pct_decode never writes more than n+1 bytes, never decodes
 * a NUL (%00), and it is the identity on input without '%'/'+';
 * a match has every capture valid UTF-8 and a route whose method is the
 * request's (or GET for HEAD).
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api.h"
#include "http/router.h"
#include "util/str.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_router: invariant failed: %s (line %d)\n", #c, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *const methods[] = {"GET",   "HEAD",    "POST", "PUT", "DELETE",
                                      "PATCH", "OPTIONS", "get",  ""};
#define NMETHODS (sizeof(methods) / sizeof(methods[0]))

/* Reference UTF-8 check, written independently of util/str.c. */
static bool ref_utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned c = s[i], len;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            len = 2, cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            len = 3, cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            len = 4, cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i < len) return false;
        for (unsigned k = 1; k < len; k++) {
            if ((s[i + k] & 0xC0) != 0x80) return false;
            cp = (cp << 6) | (s[i + k] & 0x3F);
        }
        if ((len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000)) return false; /* overlong */
        if (cp >= 0xD800 && cp <= 0xDFFF) return false;                           /* surrogate */
        if (cp > 0x10FFFF) return false;
        i += len;
    }
    return true;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *method, *in;
    char *path, *out;
    size_t n;
    bool plus;
    long dl;
    http_match m = {0};
    ad_error err = {0};
    ad_code rc;

    if (size < 1) return 0;
    method = methods[data[0] % NMETHODS];
    plus = (data[0] & 0x80) != 0;
    in = (const char *)data + 1;
    n = size - 1;

    /* ad_utf8_valid against the reference, on the raw bytes. */
    FUZZ_ASSERT(ad_utf8_valid(in, n) == ref_utf8_valid((const unsigned char *)in, n));

    /* ad_pct_decode: an exact-size heap buffer, so ASan sees any overrun. */
    out = malloc(n + 1);
    if (!out) return 0;
    dl = ad_pct_decode(in, n, out, plus);
    if (dl >= 0) {
        FUZZ_ASSERT((size_t)dl <= n);
        FUZZ_ASSERT(out[dl] == '\0');
        /* a literal NUL is copied (paths are C strings: it never gets here);
         * a decoded one (%00) is refused */
        if (!memchr(in, '\0', n)) FUZZ_ASSERT(memchr(out, '\0', (size_t)dl) == NULL);
        if (!memchr(in, '%', n) && !(plus && memchr(in, '+', n)))
            FUZZ_ASSERT((size_t)dl == n && memcmp(in, out, n) == 0);
    }
    free(out);

    /* Routing: the path as the server gets it, a C string. */
    path = strndup(in, n);
    if (!path) return 0;
    rc = http_route_match(ad_routes, ad_nroutes, method, path, &m, &err);
    if (rc == AD_OK) {
        FUZZ_ASSERT(m.route != NULL);
        FUZZ_ASSERT(m.nparams <= HTTP_MAX_PARAMS);
        FUZZ_ASSERT(strcmp(m.route->method, method) == 0 ||
                    (strcmp(method, "HEAD") == 0 && strcmp(m.route->method, "GET") == 0));
        for (size_t i = 0; i < m.nparams; i++)
            FUZZ_ASSERT(m.params[i] && ad_utf8_valid(m.params[i], strlen(m.params[i])));
    } else {
        FUZZ_ASSERT(rc == AD_E_NOT_FOUND || rc == AD_E_METHOD || rc == AD_E_BAD_REQUEST ||
                    rc == AD_E_NOMEM);
        if (rc == AD_E_METHOD) FUZZ_ASSERT(m.allow[0] != '\0');
    }
    http_match_free(&m);
    free(path);
    return 0;
}
