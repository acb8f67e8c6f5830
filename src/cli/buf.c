/*
 * buf.c — assetctl's growing byte buffer, capped at MAX_BODY, and the
 * percent-encoding of URL path segments and query values.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/assetctl.h"

/* Appends n bytes of p. False when out of memory or past MAX_BODY. */
bool buf_add(struct buf *b, const void *p, size_t n)
{
    if (n > MAX_BODY - b->len) return false;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 256;
        while (cap < b->len + n + 1) cap *= 2;
        char *d = realloc(b->data, cap);
        if (!d) return false;
        b->data = d;
        b->cap = cap;
    }
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return true;
}

bool buf_str(struct buf *b, const char *s)
{
    return buf_add(b, s, strlen(s));
}

bool buf_char(struct buf *b, char ch)
{
    return buf_add(b, &ch, 1);
}

void buf_free(struct buf *b)
{
    free(b->data);
    *b = (struct buf){0};
}

/* Hands the buffer's bytes to the caller (never NULL unless out of memory). */
char *buf_take(struct buf *b)
{
    if (!b->data && !buf_add(b, "", 0)) return NULL;
    char *s = b->data;
    *b = (struct buf){0};
    return s;
}

int oom(void)
{
    fputs("assetctl: out of memory\n", stderr);
    return RC_FAIL;
}

static bool is_unreserved(unsigned char ch)
{
    return (ch >= 'A' && ch <= 'Z') || (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
           ch == '-' || ch == '.' || ch == '_' || ch == '~';
}

/* Appends n bytes of s percent-encoded: all but RFC 3986 unreserved
 * characters and those in keep become %XX. */
bool buf_escape(struct buf *b, const char *s, size_t n, const char *keep)
{
    static const char hex[] = "0123456789ABCDEF";
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        bool ok;
        if (is_unreserved(ch) || (ch && strchr(keep, ch)))
            ok = buf_char(b, (char)ch);
        else
            ok = buf_char(b, '%') && buf_char(b, hex[ch >> 4]) && buf_char(b, hex[ch & 15]);
        if (!ok) return false;
    }
    return true;
}

/* Appends one path segment. A segment of dots only is encoded whole, so
 * that nothing on the way (curl, a proxy) resolves it as "." or "..". */
bool buf_segment(struct buf *b, const char *s, size_t n)
{
    size_t dots = 0;
    while (dots < n && s[dots] == '.') dots++;
    if (n > 0 && dots == n) {
        for (size_t i = 0; i < n; i++)
            if (!buf_str(b, "%2E")) return false;
        return true;
    }
    return buf_escape(b, s, n, "");
}

/* Appends a path whose '/' separate segments that are each encoded. */
bool buf_path(struct buf *b, const char *s)
{
    for (;;) {
        size_t n = strcspn(s, "/");
        if (!buf_segment(b, s, n)) return false;
        if (!s[n]) return true;
        if (!buf_char(b, '/')) return false;
        s += n + 1;
    }
}
