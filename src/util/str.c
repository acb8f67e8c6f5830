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

/* Appends n bytes of s to out[*o..cap-1), always NUL-terminated. */
static void put_cut(char *out, size_t cap, size_t *o, const char *s, size_t n)
{
    while (n-- && *o + 1 < cap) out[(*o)++] = *s++;
    out[*o] = '\0';
}

static bool secret_name(const char *s, size_t n)
{
    static const char *const words[] = {"password", "secret", "token", "key"};
    for (size_t w = 0; w < sizeof(words) / sizeof(words[0]); w++) {
        size_t k = strlen(words[w]);
        for (size_t i = 0; i + k <= n; i++)
            if (strncasecmp(s + i, words[w], k) == 0) return true;
    }
    return false;
}

const char *ad_url_redact(const char *url, char *out, size_t cap)
{
    const char *p = url, *scheme = strstr(url, "://"), *q;
    size_t o = 0;
    if (!cap) return out;
    out[0] = '\0';
    if (scheme) {
        const char *auth = scheme + 3;
        size_t alen = strcspn(auth, "/?#");
        const char *at = memchr(auth, '@', alen), *colon;
        while (at && memchr(at + 1, '@', alen - (size_t)(at + 1 - auth)))
            at = memchr(at + 1, '@', alen - (size_t)(at + 1 - auth));
        colon = at ? memchr(auth, ':', (size_t)(at - auth)) : NULL;
        if (colon) {
            put_cut(out, cap, &o, url, (size_t)(colon + 1 - url));
            put_cut(out, cap, &o, "***", 3);
            p = at;
        }
    }
    q = strchr(p, '?');
    if (!q) {
        put_cut(out, cap, &o, p, strlen(p));
        return out;
    }
    put_cut(out, cap, &o, p, (size_t)(q + 1 - p));
    for (p = q + 1; *p;) {
        size_t len = strcspn(p, "&#"), name = strcspn(p, "=");
        if (name < len && secret_name(p, name)) {
            put_cut(out, cap, &o, p, name + 1);
            put_cut(out, cap, &o, "***", 3);
        } else {
            put_cut(out, cap, &o, p, len);
        }
        p += len;
        if (*p) put_cut(out, cap, &o, p++, 1);
    }
    return out;
}
