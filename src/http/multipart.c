/*
 * multipart.c — streaming multipart/form-data parser (see multipart.h).
 *
 * Input is copied into a fixed window; the parser looks for the delimiter
 * "\r\n--boundary" in it and hands out every byte that can no longer be the
 * start of a delimiter, keeping at most the delimiter's length minus one
 * for the next call. The body's first delimiter has no CRLF before it, so
 * the window starts with a virtual "\r\n".
 *
 * Inside a part's data, where nearly all the bytes of an upload are, input
 * is not copied: once the bytes kept from the last call plus the first
 * ones of the new input are known to hold no delimiter, the new input is
 * searched where it lies and handed out from there (direct()), and only
 * its last delimiter-length bytes are kept in the window.
 */
#include "http/multipart.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define WINDOW (64u << 10)

enum mp_state { S_PREAMBLE, S_AFTER_DELIM, S_HEADERS, S_DATA, S_EPILOGUE, S_ERROR };

struct http_multipart {
    const http_mp_callbacks *cb;
    void *ctx;
    enum mp_state state;
    char delim[HTTP_MP_BOUNDARY_MAX + 5];
    size_t dlen;
    size_t preamble; /* bytes of preamble seen */
    unsigned parts;
    size_t len; /* bytes in win */
    char win[WINDOW + HTTP_MP_HEADERS_MAX];
};

static bool bchar(unsigned char c)
{
    /* RFC 2046 bcharsnospace plus space */
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
           strchr("'()+_,-./:=? ", c) != NULL;
}

static ad_code copy_boundary(const char *v, size_t n, char *out, ad_error *err)
{
    size_t i;
    if (n == 0 || n > HTTP_MP_BOUNDARY_MAX || v[n - 1] == ' ')
        return ad_fail(err, AD_E_BAD_REQUEST, "multipart boundary is empty, too long or malformed");
    for (i = 0; i < n; i++)
        if (!bchar((unsigned char)v[i]))
            return ad_fail(err, AD_E_BAD_REQUEST, "multipart boundary has a forbidden character");
    memcpy(out, v, n);
    out[n] = '\0';
    return AD_OK;
}

ad_code http_multipart_boundary(const char *ct, char *out, ad_error *err)
{
    static const char type[] = "multipart/form-data";
    const char *p;
    if (!ct || strncasecmp(ct, type, sizeof(type) - 1) != 0 ||
        (ct[sizeof(type) - 1] && ct[sizeof(type) - 1] != ';' && ct[sizeof(type) - 1] != ' '))
        return ad_fail(err, AD_E_MEDIA_TYPE, "Content-Type must be multipart/form-data");
    p = ct + sizeof(type) - 1;
    while (*p) {
        size_t n;
        while (*p == ';' || *p == ' ' || *p == '\t') p++;
        n = strcspn(p, "=;");
        if (n == 8 && strncasecmp(p, "boundary", 8) == 0 && p[8] == '=') {
            p += 9;
            if (*p == '"') {
                const char *q = strchr(p + 1, '"');
                if (!q) return ad_fail(err, AD_E_BAD_REQUEST, "multipart boundary: unclosed quote");
                return copy_boundary(p + 1, (size_t)(q - p - 1), out, err);
            }
            return copy_boundary(p, strcspn(p, "; \t"), out, err);
        }
        p += n;
        if (*p == '=') p += 1 + strcspn(p + 1, ";");
    }
    return ad_fail(err, AD_E_BAD_REQUEST, "Content-Type multipart/form-data has no boundary");
}

http_multipart *http_multipart_new(const char *boundary, const http_mp_callbacks *cb, void *ctx)
{
    http_multipart *m = malloc(sizeof(*m));
    size_t n = strlen(boundary);
    if (!m || n > HTTP_MP_BOUNDARY_MAX) {
        free(m);
        return NULL;
    }
    m->cb = cb;
    m->ctx = ctx;
    m->state = S_PREAMBLE;
    memcpy(m->delim, "\r\n--", 4);
    memcpy(m->delim + 4, boundary, n);
    m->dlen = n + 4;
    m->preamble = 0;
    m->parts = 0;
    memcpy(m->win, "\r\n", 2);
    m->len = 2;
    return m;
}

void http_multipart_free(http_multipart *m)
{
    free(m);
}

bool http_multipart_done(const http_multipart *m)
{
    return m->state == S_EPILOGUE;
}

static ad_code bad(http_multipart *m, ad_error *err, const char *what)
{
    m->state = S_ERROR;
    return ad_fail(err, AD_E_BAD_REQUEST, "malformed multipart body: %s", what);
}

/* Copies a parameter value (quoted-string or token) of a header. */
static void param_value(const char *p, const char *end, char *out)
{
    size_t o = 0;
    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++) {
            if (*p == '\\' && p + 1 < end) p++;
            if (o < HTTP_MP_NAME_MAX) out[o++] = *p;
        }
    } else {
        for (; p < end && *p != ';' && *p != ' ' && *p != '\t'; p++)
            if (o < HTTP_MP_NAME_MAX) out[o++] = *p;
    }
    out[o] = '\0';
}

/* Skips a parameter value (quoted-string or token); returns its end. */
static const char *skip_value(const char *p, const char *end)
{
    if (p < end && *p == '"') {
        for (p++; p < end && *p != '"'; p++)
            if (*p == '\\' && p + 1 < end) p++;
        return p < end ? p + 1 : end;
    }
    while (p < end && *p != ';') p++;
    return p;
}

/* Finds name="…" and filename="…" in a Content-Disposition value. */
static void disposition(const char *v, const char *end, char *name, char *file, bool *has_file)
{
    const char *p = v;
    while (p < end) {
        const char *k, *val;
        size_t klen;
        while (p < end && (*p == ';' || *p == ' ' || *p == '\t')) p++;
        k = p;
        while (p < end && *p != '=' && *p != ';') p++;
        klen = (size_t)(p - k);
        while (klen && (k[klen - 1] == ' ' || k[klen - 1] == '\t')) klen--;
        if (p == end || *p == ';') continue;
        val = ++p;
        while (val < end && (*val == ' ' || *val == '\t')) val++;
        p = skip_value(val, end);
        if (klen == 4 && strncasecmp(k, "name", 4) == 0) param_value(val, p, name);
        if (klen == 8 && strncasecmp(k, "filename", 8) == 0) {
            param_value(val, p, file);
            *has_file = true;
        }
    }
}

static ad_code headers_done(http_multipart *m, const char *h, size_t n, ad_error *err)
{
    char name[HTTP_MP_NAME_MAX + 1] = "", file[HTTP_MP_NAME_MAX + 1] = "";
    bool has_file = false;
    const char *p = h, *end = h + n;
    static const char cd[] = "content-disposition:";
    if (++m->parts > HTTP_MP_PARTS_MAX) return bad(m, err, "too many parts");
    while (p < end) {
        const char *eol = memchr(p, '\r', (size_t)(end - p));
        if (!eol) eol = end;
        if ((size_t)(eol - p) > sizeof(cd) - 1 && strncasecmp(p, cd, sizeof(cd) - 1) == 0)
            disposition(p + sizeof(cd) - 1, eol, name, file, &has_file);
        p = eol + 2;
    }
    m->state = S_DATA;
    return m->cb->begin(m->ctx, name, has_file ? file : NULL, err);
}

/* One step of the state machine on win[*pos..len): returns AD_OK with
 * *more set when it needs more input. */
static ad_code step(http_multipart *m, size_t *pos, bool *more, ad_error *err)
{
    const char *p = m->win + *pos, *hit;
    size_t avail = m->len - *pos;
    ad_code rc = AD_OK;
    *more = false;
    switch (m->state) {
    case S_PREAMBLE:
    case S_DATA:
        hit = memmem(p, avail, m->delim, m->dlen);
        if (hit) {
            size_t k = (size_t)(hit - p);
            if (m->state == S_DATA && k) rc = m->cb->data(m->ctx, p, k, err);
            if (!rc && m->state == S_DATA) rc = m->cb->end(m->ctx, err);
            if (m->state == S_PREAMBLE && (m->preamble += k) > HTTP_MP_PREAMBLE_MAX)
                return bad(m, err, "no boundary at the start");
            *pos += k + m->dlen;
            m->state = S_AFTER_DELIM;
            return rc;
        }
        *more = true;
        if (avail < m->dlen) return AD_OK;
        avail -= m->dlen - 1;
        if (m->state == S_DATA)
            rc = m->cb->data(m->ctx, p, avail, err);
        else if ((m->preamble += avail) > HTTP_MP_PREAMBLE_MAX)
            return bad(m, err, "no boundary at the start");
        *pos += avail;
        return rc;
    case S_AFTER_DELIM:
        while (avail && (*p == ' ' || *p == '\t')) p++, avail--, (*pos)++;
        if (avail < 2) return *more = true, AD_OK;
        if (p[0] == '-' && p[1] == '-') {
            m->state = S_EPILOGUE;
        } else if (p[0] == '\r' && p[1] == '\n') {
            m->state = S_HEADERS;
        } else {
            return bad(m, err, "unexpected bytes after a boundary");
        }
        *pos += 2;
        return AD_OK;
    case S_HEADERS:
        if (avail >= 2 && p[0] == '\r' && p[1] == '\n') {
            *pos += 2;
            return headers_done(m, p, 0, err);
        }
        hit = memmem(p, avail, "\r\n\r\n", 4);
        /* the limit holds however the bytes arrive: headers complete in
         * one chunk are measured as well as ones still coming */
        if (!hit) {
            if (avail > HTTP_MP_HEADERS_MAX + 3) return bad(m, err, "part headers too large");
            return *more = true, AD_OK;
        }
        if ((size_t)(hit - p) > HTTP_MP_HEADERS_MAX) return bad(m, err, "part headers too large");
        *pos += (size_t)(hit - p) + 4;
        return headers_done(m, p, (size_t)(hit - p) + 2, err);
    case S_EPILOGUE:
        *pos = m->len;
        return *more = true, AD_OK;
    case S_ERROR:
        break;
    }
    return ad_fail(err, AD_E_BAD_REQUEST, "malformed multipart body");
}

/* The fast path of part data (see the header comment): sets *used to the
 * number of input bytes it consumed, 0 when the normal path must take them
 * (a delimiter is near, or too little input). */
static ad_code direct(http_multipart *m, const char *p, size_t n, size_t *used, ad_error *err)
{
    size_t keep = m->dlen - 1, c = m->len;
    const char *tail;
    ad_code rc;
    *used = 0;
    if (m->state != S_DATA || n < 2 * m->dlen || c > keep) return AD_OK;
    tail = p + n - keep;
    /* a delimiter starting in the kept bytes ends within these */
    memcpy(m->win + c, p, keep);
    if (memmem(m->win, c + keep, m->delim, m->dlen)) return AD_OK;
    m->len = 0;
    if (c && (rc = m->cb->data(m->ctx, m->win, c, err))) return rc;
    /* a delimiter in the input: the kept bytes are out, the normal path
     * takes the input */
    if (memmem(p, n, m->delim, m->dlen)) return AD_OK;
    if ((rc = m->cb->data(m->ctx, p, (size_t)(tail - p), err))) return rc;
    memcpy(m->win, tail, keep);
    m->len = keep;
    *used = n;
    return AD_OK;
}

ad_code http_multipart_feed(http_multipart *m, const char *p, size_t n, ad_error *err)
{
    size_t used;
    ad_code drc;
    if (m->state == S_ERROR) return ad_fail(err, AD_E_BAD_REQUEST, "malformed multipart body");
    drc = direct(m, p, n, &used, err);
    if (drc) {
        m->state = S_ERROR;
        return drc;
    }
    if (used == n) return AD_OK;
    while (n) {
        size_t k = sizeof(m->win) - m->len, pos = 0;
        bool more = false;
        ad_code rc = AD_OK;
        if (m->state == S_ERROR) return ad_fail(err, AD_E_BAD_REQUEST, "malformed multipart body");
        if (k > n) k = n;
        memcpy(m->win + m->len, p, k);
        m->len += k;
        p += k;
        n -= k;
        while (!rc && !more) rc = step(m, &pos, &more, err);
        if (rc) {
            m->state = S_ERROR;
            return rc;
        }
        memmove(m->win, m->win + pos, m->len - pos);
        m->len -= pos;
        if (m->len == sizeof(m->win)) return bad(m, err, "part headers too large");
    }
    return AD_OK;
}
