/*
 * fuzz_multipart.c — libFuzzer target for the streaming multipart/form-data
 * parser (http/multipart.c) that POST /zip/upload bodies go through.
 *
 * Input: a Content-Type header value up to the first '\n' (its boundary is
 * extracted with http_multipart_boundary), then the body. The body is fed
 * three ways: in one call, one byte per call (bodies up to 8 KiB), and in
 * pseudo-random chunks seeded by the input. Invariant checked: the outcome
 * does not depend on how the body was cut — the same result code, the
 * same "done" state and, when all succeed, the same parts (names, file
 * names and concatenated data).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/multipart.h"

typedef struct transcript {
    char *p;
    size_t len, cap;
    size_t parts;
} transcript;

static ad_code put(transcript *t, const void *p, size_t n, ad_error *err)
{
    if (t->len + n > t->cap) {
        size_t cap = t->cap ? t->cap : 256;
        while (cap < t->len + n) cap *= 2;
        char *q = realloc(t->p, cap);
        if (!q) return ad_fail(err, AD_E_NOMEM, "out of memory");
        t->p = q, t->cap = cap;
    }
    memcpy(t->p + t->len, p, n);
    t->len += n;
    return AD_OK;
}

static ad_code on_begin(void *ctx, const char *name, const char *filename, ad_error *err)
{
    transcript *t = ctx;
    ad_code rc;
    if (!name) {
        fprintf(stderr, "fuzz_multipart: begin with a NULL name\n");
        abort();
    }
    t->parts++;
    rc = put(t, "\x01", 1, err);
    if (!rc) rc = put(t, name, strlen(name) + 1, err);
    if (!rc && filename) rc = put(t, filename, strlen(filename) + 1, err);
    if (!rc) rc = put(t, filename ? "\x02" : "\x03", 1, err);
    return rc;
}

static ad_code on_data(void *ctx, const char *p, size_t n, ad_error *err)
{
    return put(ctx, p, n, err);
}

static ad_code on_end(void *ctx, ad_error *err)
{
    return put(ctx, "\x04", 1, err);
}

static const http_mp_callbacks cbs = {on_begin, on_data, on_end};

typedef struct outcome {
    ad_code rc;
    bool done;
    transcript t;
} outcome;

/* mode 0: one call; 1: one byte per call; 2: pseudo-random chunks. */
static void run(const char *boundary, const char *body, size_t n, int mode, uint32_t seed,
                outcome *o)
{
    ad_error err = {0};
    http_multipart *m;
    size_t off = 0;
    memset(o, 0, sizeof(*o));
    m = http_multipart_new(boundary, &cbs, &o->t);
    if (!m) {
        o->rc = AD_E_NOMEM;
        return;
    }
    if (n == 0) o->rc = http_multipart_feed(m, body, 0, &err);
    while (off < n) {
        size_t chunk = n - off;
        if (mode == 1) chunk = 1;
        if (mode == 2) {
            seed = seed * 1103515245u + 12345u;
            size_t c = 1 + (seed >> 16) % 4096;
            if (c < chunk) chunk = c;
        }
        o->rc = http_multipart_feed(m, body + off, chunk, &err);
        if (o->rc) break;
        off += chunk;
    }
    o->done = http_multipart_done(m);
    http_multipart_free(m);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *nl = memchr(data, '\n', size);
    char *ct, boundary[HTTP_MP_BOUNDARY_MAX + 1];
    const char *body;
    size_t n;
    uint32_t seed = 2166136261u;
    ad_error err = {0};
    outcome o[3];
    int nmodes;

    if (!nl) return 0;
    ct = strndup((const char *)data, (size_t)(nl - (const char *)data));
    if (!ct) return 0;
    if (http_multipart_boundary(ct, boundary, &err) != AD_OK) {
        free(ct);
        return 0;
    }
    free(ct);
    if (strlen(boundary) > HTTP_MP_BOUNDARY_MAX) abort();
    body = nl + 1;
    n = size - (size_t)(body - (const char *)data);
    for (size_t i = 0; i < size; i++) seed = (seed ^ data[i]) * 16777619u;

    nmodes = n <= 8192 ? 3 : 2;
    run(boundary, body, n, 0, seed, &o[0]);
    run(boundary, body, n, 2, seed, &o[1]);
    if (nmodes == 3) run(boundary, body, n, 1, seed, &o[2]);
    for (int i = 1; i < nmodes; i++) {
        bool same = o[i].rc == o[0].rc && o[i].done == o[0].done;
        if (same && o[0].rc == AD_OK)
            same = o[i].t.len == o[0].t.len &&
                   (o[0].t.len == 0 || memcmp(o[i].t.p, o[0].t.p, o[0].t.len) == 0);
        if (!same) {
            fprintf(stderr,
                    "fuzz_multipart: feeding in chunks (mode %d) changed the outcome:"
                    " rc %d/%d done %d/%d transcript %zu/%zu bytes\n",
                    i == 1 ? 2 : 1, (int)o[0].rc, (int)o[i].rc, o[0].done, o[i].done, o[0].t.len,
                    o[i].t.len);
            abort();
        }
    }
    for (int i = 0; i < nmodes; i++) free(o[i].t.p);
    return 0;
}
