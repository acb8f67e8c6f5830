/*
 * asset_doc.c — top-level index of a stored asset's JSON text (see
 * asset_doc.h).
 *
 * The index is built lazily: a lookup reads members only until it finds
 * its key, so a query for the first few fields never walks the embedded
 * lists after them.
 *
 * The scanner only finds where values start and end: strings (with their
 * escapes), nested objects and arrays (by counting brackets outside
 * strings), and bare scalars. It checks the structure of the top level
 * and never reads past the end. The stored text is the canonical JSON the
 * registry wrote (see store/meta.h), so what is inside a value is trusted
 * as REST trusts it when it sends a stored document unchanged.
 */
#include "graphql/asset_doc.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

typedef struct slot {
    size_t key, key_len; /* offset and length of the key, quotes excluded */
    size_t val, val_len; /* offset and length of the value's text */
} slot;

struct asset_doc {
    char *json;
    size_t len;
    slot *slots; /* the members found so far */
    size_t n, cap;
    size_t pos; /* where scanning resumes */
    int state;  /* SCANNING, DONE or BROKEN */
};

enum { SCANNING, DONE, BROKEN };

static size_t skip_ws(const char *s, size_t n, size_t p)
{
    while (p < n && (s[p] == ' ' || s[p] == '\t' || s[p] == '\n' || s[p] == '\r')) p++;
    return p;
}

/* p at an opening quote: the offset after the closing one, or 0. A quote
 * closes the string unless an odd run of backslashes precedes it; memchr
 * finds the candidates much faster than a loop over every byte. */
static size_t skip_string(const char *s, size_t n, size_t p)
{
    size_t start = ++p;
    while (p < n) {
        const char *q = memchr(s + p, '"', n - p);
        size_t k = 0;
        if (!q) return 0;
        p = (size_t)(q - s);
        while (p - k > start && s[p - k - 1] == '\\') k++;
        if (k % 2 == 0) return p + 1;
        p++;
    }
    return 0;
}

/* p at '{' or '[': the offset after the matching bracket, or 0. */
static size_t skip_nested(const char *s, size_t n, size_t p)
{
    size_t depth = 0;
    while (p < n) {
        char c = s[p];
        if (c == '"') {
            p = skip_string(s, n, p);
            if (!p) return 0;
            continue;
        }
        if (c == '{' || c == '[') depth++;
        if ((c == '}' || c == ']') && --depth == 0) return p + 1;
        p++;
    }
    return 0;
}

/* The offset after the value at p, or 0. */
static size_t skip_value(const char *s, size_t n, size_t p)
{
    if (p >= n) return 0;
    if (s[p] == '"') return skip_string(s, n, p);
    if (s[p] == '{' || s[p] == '[') return skip_nested(s, n, p);
    while (p < n && !strchr(",}] \t\r\n", s[p])) p++;
    return p;
}

static bool add_slot(asset_doc *d, const slot *x)
{
    if (d->n == d->cap) {
        size_t ncap = d->cap ? d->cap * 2 : 32;
        slot *v = realloc(d->slots, ncap * sizeof(*v));
        if (!v) return false;
        d->slots = v;
        d->cap = ncap;
    }
    d->slots[d->n++] = *x;
    return true;
}

/* Indexes the next top-level member: true when one was added; false at
 * the end of the object (state DONE) or on malformed text or no memory
 * (state BROKEN). */
static bool scan_next(asset_doc *d)
{
    const char *s = d->json;
    size_t n = d->len, p = d->pos, end;
    slot x;
    if (d->state != SCANNING) return false;
    d->state = BROKEN; /* until this member is read whole */
    if (p < n && s[p] == '}') {
        d->state = DONE;
        return false;
    }
    if (p >= n || s[p] != '"' || !(end = skip_string(s, n, p))) return false;
    x.key = p + 1;
    x.key_len = end - p - 2;
    p = skip_ws(s, n, end);
    if (p >= n || s[p] != ':') return false;
    x.val = skip_ws(s, n, p + 1);
    end = skip_value(s, n, x.val);
    if (!end || end == x.val) return false;
    x.val_len = end - x.val;
    if (!add_slot(d, &x)) return false;
    p = skip_ws(s, n, end);
    if (p < n && s[p] == ',')
        p = skip_ws(s, n, p + 1);
    else if (p >= n || s[p] != '}')
        return false;
    d->pos = p;
    d->state = SCANNING;
    return true;
}

ad_code asset_doc_new(char *json, size_t len, bool own, asset_doc **out, ad_error *err)
{
    asset_doc *d = calloc(1, sizeof(*d));
    if (d && !own && (d->json = malloc(len ? len : 1)) != NULL) memcpy(d->json, json, len);
    if (d && own) d->json = json;
    if (!d || !d->json) {
        if (own) free(json);
        free(d);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    d->len = len;
    d->pos = skip_ws(d->json, len, 0);
    if (d->pos >= len || d->json[d->pos] != '{') {
        asset_doc_free(d);
        return ad_fail(err, AD_E_BACKEND, "a stored asset is not a JSON object");
    }
    d->pos = skip_ws(d->json, len, d->pos + 1);
    *out = d;
    return AD_OK;
}

void asset_doc_free(asset_doc *d)
{
    if (!d) return;
    free(d->json);
    free(d->slots);
    free(d);
}

/* Whether slot i holds key. */
static bool slot_is(const asset_doc *d, size_t i, const char *key, size_t klen)
{
    return d->slots[i].key_len == klen && memcmp(d->json + d->slots[i].key, key, klen) == 0;
}

int asset_doc_raw(asset_doc *d, const char *key, const char **raw, size_t *len)
{
    size_t klen = strlen(key), i;
    for (i = 0; i < d->n; i++)
        if (slot_is(d, i, key, klen)) goto found;
    /* not seen yet: read on, only as far as the key */
    while (scan_next(d)) {
        i = d->n - 1;
        if (slot_is(d, i, key, klen)) goto found;
    }
    return d->state == BROKEN ? -1 : 0;
found:
    *raw = d->json + d->slots[i].val;
    *len = d->slots[i].val_len;
    return 1;
}
