/*
 * buf.c — the capped growable buffer (see buf.h).
 */
#include "util/buf.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ad_buf_init(ad_buf *b, size_t max)
{
    b->data = NULL;
    b->len = b->cap = 0;
    b->max = max;
}

static ad_code buf_reserve(ad_buf *b, size_t extra)
{
    size_t need, ncap;
    char *p;
    if (extra > b->max - b->len) return AD_E_TOO_LARGE;
    need = b->len + extra + 1;
    if (need <= b->cap) return AD_OK;
    ncap = b->cap ? b->cap : 256;
    while (ncap < need) ncap = ncap > SIZE_MAX / 2 ? need : ncap * 2;
    p = realloc(b->data, ncap);
    if (!p) return AD_E_NOMEM;
    b->data = p;
    b->cap = ncap;
    return AD_OK;
}

ad_code ad_buf_append(ad_buf *b, const void *p, size_t n)
{
    ad_code rc = buf_reserve(b, n);
    if (rc) return rc;
    if (n) memcpy(b->data + b->len, p, n);
    b->len += n;
    b->data[b->len] = '\0';
    return AD_OK;
}

ad_code ad_buf_puts(ad_buf *b, const char *s)
{
    return ad_buf_append(b, s, strlen(s));
}

ad_code ad_buf_printf(ad_buf *b, const char *fmt, ...)
{
    va_list ap;
    int n;
    ad_code rc;
    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) return AD_E_INTERNAL;
    rc = buf_reserve(b, (size_t)n);
    if (rc) return rc;
    va_start(ap, fmt);
    vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
    return AD_OK;
}

ad_code ad_buf_json_string(ad_buf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789abcdef";
    ad_code rc = ad_buf_append(b, "\"", 1);
    size_t i, start = 0;
    for (i = 0; i < n && !rc; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 15]};
        const char *rep = NULL;
        size_t replen = 2;
        if (c == '"')
            rep = "\\\"";
        else if (c == '\\')
            rep = "\\\\";
        else if (c == '\n')
            rep = "\\n";
        else if (c == '\r')
            rep = "\\r";
        else if (c == '\t')
            rep = "\\t";
        else if (c < 0x20 || c == 0x7f)
            rep = esc, replen = 6;
        if (!rep) continue;
        rc = ad_buf_append(b, s + start, i - start);
        if (!rc) rc = ad_buf_append(b, rep, replen);
        start = i + 1;
    }
    if (!rc) rc = ad_buf_append(b, s + start, n - start);
    if (!rc) rc = ad_buf_append(b, "\"", 1);
    return rc;
}

void ad_buf_reset(ad_buf *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

char *ad_buf_steal(ad_buf *b, size_t *len)
{
    char *p = b->data;
    if (len) *len = b->len;
    if (!p) p = calloc(1, 1);
    b->data = NULL;
    b->len = b->cap = 0;
    return p;
}

void ad_buf_free(ad_buf *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}
