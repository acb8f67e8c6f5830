/*
 * str.c — string helpers (see str.h).
 */
#include "util/str.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

long ad_pct_decode(const char *in, size_t n, char *out, bool plus_is_space)
{
    size_t i, o = 0;
    for (i = 0; i < n; i++) {
        char c = in[i];
        if (c == '%') {
            int hi, lo;
            if (i + 2 >= n) return -1;
            hi = hexval(in[i + 1]);
            lo = hexval(in[i + 2]);
            if (hi < 0 || lo < 0) return -1;
            c = (char)(hi * 16 + lo);
            if (c == '\0') return -1;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        out[o++] = c;
    }
    out[o] = '\0';
    return (long)o;
}

bool ad_utf8_valid(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = p[i];
        size_t len, k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xe0) == 0xc0)
            len = 2, cp = c & 0x1f;
        else if ((c & 0xf0) == 0xe0)
            len = 3, cp = c & 0x0f;
        else if ((c & 0xf8) == 0xf0)
            len = 4, cp = c & 0x07;
        else
            return false;
        if (i + len > n) return false;
        for (k = 1; k < len; k++) {
            if ((p[i + k] & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (p[i + k] & 0x3f);
        }
        if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += len;
    }
    return true;
}

bool ad_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t v = 0;
    if (!s || !*s) return false;
    for (; *s; s++) {
        if (*s < '0' || *s > '9') return false;
        if (v > (UINT64_MAX - (uint64_t)(*s - '0')) / 10) return false;
        v = v * 10 + (uint64_t)(*s - '0');
    }
    if (v > max) return false;
    *out = v;
    return true;
}

char *ad_strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (!p) return NULL;
    memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

static bool secret_param(const char *name, size_t n)
{
    static const char *const words[] = {"pass", "secret", "token", "key"};
    size_t i, j;
    for (i = 0; i < sizeof(words) / sizeof(words[0]); i++) {
        size_t w = strlen(words[i]);
        for (j = 0; j + w <= n; j++)
            if (strncasecmp(name + j, words[i], w) == 0) return true;
    }
    return false;
}

void ad_url_redact(const char *url, char *out, size_t cap)
{
    const char *scheme = strstr(url, "://"), *auth, *at, *colon, *q, *p;
    size_t o = 0;
    if (cap == 0) return;
#define PUT(ptr, len)                                                                              \
    do {                                                                                           \
        size_t l_ = (len);                                                                         \
        if (l_ > cap - 1 - o) l_ = cap - 1 - o;                                                    \
        memcpy(out + o, (ptr), l_);                                                                \
        o += l_;                                                                                   \
    } while (0)
    auth = scheme ? scheme + 3 : url;
    PUT(url, (size_t)(auth - url));
    /* userinfo ends at the last '@' before the query or fragment (not the
     * path: an unescaped '/' is common in cloud secrets); an authority that
     * is empty ("file:///…") has none. Over-redacting an odd path is fine. */
    p = *auth == '/' ? auth : auth + strcspn(auth, "?#");
    at = NULL;
    for (q = auth; q < p; q++)
        if (*q == '@') at = q;
    if (at) {
        colon = memchr(auth, ':', (size_t)(at - auth));
        if (colon) {
            PUT(auth, (size_t)(colon - auth));
            PUT(":***", 4);
        } else {
            PUT(auth, (size_t)(at - auth));
        }
        auth = at;
    }
    q = strchr(auth, '?');
    if (!q) {
        PUT(auth, strlen(auth));
    } else {
        PUT(auth, (size_t)(q + 1 - auth));
        p = q + 1;
        while (*p) {
            size_t n = strcspn(p, "&#"), k = strcspn(p, "=&#");
            if (k < n && secret_param(p, k)) {
                PUT(p, k + 1);
                PUT("***", 3);
            } else {
                PUT(p, n);
            }
            p += n;
            if (*p == '&') {
                PUT("&", 1);
                p++;
            } else if (*p == '#') {
                PUT(p, strlen(p));
                break;
            }
        }
    }
#undef PUT
    out[o] = '\0';
}
