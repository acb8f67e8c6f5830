/*
 * blob_contract.c — the contract suite of the blob store port; see
 * blob_contract.h. Adapter-agnostic: only ad_blob_open() and the ops
 * slots. Object contents are pseudo-random bytes from a seeded xorshift,
 * so every read-back is compared byte for byte.
 *
 * CHECK() is not thread-safe: threads record what they saw, and the main
 * thread checks it after joining them.
 */
#include "blob_contract.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "store/blob.h"
#include "util/str.h"
#include "util/err.h"

static const blob_contract_opts *O;

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    uint64_t s = seed ? seed : 88172645463325252ull;
    if (!p) abort();
    for (size_t i = 0; i < n; i++) {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        p[i] = (uint8_t)(s >> 24);
    }
    return p;
}

static void expect_no_leftovers(const char *ctx)
{
    int n;
    if (!O->leftovers) return;
    n = O->leftovers(O->ctx);
    CHECK(n == 0, "%s: the store has %d leftovers (temporary files or unfinished uploads)", ctx, n);
}

/* Writes n bytes as one object, in pieces of `chunk` bytes. */
static ad_code put(ad_blob *b, const char *key, const void *p, size_t n, size_t chunk,
                   ad_error *err)
{
    ad_blob_writer *w = NULL;
    const uint8_t *c = p;
    ad_code rc = b->ops->writer_open(b, key, &w, err);
    if (rc) return rc;
    while (n) {
        size_t k = n < chunk ? n : chunk;
        rc = b->ops->writer_write(w, c, k, err);
        if (rc) {
            b->ops->writer_abort(w);
            return rc;
        }
        c += k;
        n -= k;
    }
    return b->ops->writer_commit(w, err);
}

/* Reads the whole object with read() in steps of `step` bytes. */
static ad_code get_all(ad_blob *b, const char *key, size_t step, uint8_t **out, size_t *len,
                       ad_error *err)
{
    size_t cap = 1024, n = 0;
    uint8_t *buf = malloc(cap);
    ad_code rc = AD_OK;
    if (!buf) abort();
    for (;;) {
        size_t got = 0;
        while (n + step > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
        rc = b->ops->read(b, key, n, buf + n, step, &got, err);
        if (rc || got == 0) break;
        n += got;
    }
    *out = buf;
    *len = n;
    return rc;
}

/* Reads [off, off + len) with the streaming reader, `step` bytes a call. */
static ad_code stream_all(ad_blob *b, const char *key, uint64_t off, uint64_t len, size_t step,
                          uint8_t **out, size_t *n_out, ad_error *err)
{
    ad_blob_reader *r = NULL;
    size_t cap = 1024, n = 0;
    uint8_t *buf;
    ad_code rc = b->ops->reader_open(b, key, off, len, &r, err);
    *out = NULL;
    *n_out = 0;
    if (rc) return rc;
    buf = malloc(cap);
    if (!buf) abort();
    for (;;) {
        size_t got = 0;
        while (n + step > cap) {
            cap *= 2;
            buf = realloc(buf, cap);
            if (!buf) abort();
        }
        rc = b->ops->reader_read(r, buf + n, step, &got, err);
        if (rc || got == 0) break;
        if (got > step) {
            rc = ad_fail(err, AD_E_INTERNAL, "reader gave %zu bytes for a %zu-byte buffer", got,
                         step);
            break;
        }
        n += got;
    }
    b->ops->reader_close(r);
    *out = buf;
    *n_out = n;
    return rc;
}

static void expect_object(ad_blob *b, const char *key, const uint8_t *want, size_t n,
                          const char *ctx)
{
    uint64_t size = 0;
    uint8_t *got = NULL;
    size_t len = 0;
    ad_error err = {0};
    ad_code rc = b->ops->stat(b, key, &size, &err);
    CHECK(rc == AD_OK && size == n, "%s: stat \"%.80s\": %s size %llu, want %zu (%s)", ctx, key,
          ad_code_name(rc), (unsigned long long)size, n, err.msg);
    rc = get_all(b, key, n > (1 << 20) ? (1 << 20) : 4096, &got, &len, &err);
    CHECK(rc == AD_OK && len == n && (n == 0 || memcmp(got, want, n) == 0),
          "%s: read back \"%.80s\": %s, %zu bytes, want %zu identical (%s)", ctx, key,
          ad_code_name(rc), len, n, err.msg);
    free(got);
    if (b->ops->reader_open) {
        rc = stream_all(b, key, 0, UINT64_MAX, 65536, &got, &len, &err);
        CHECK(rc == AD_OK && len == n && (n == 0 || memcmp(got, want, n) == 0),
              "%s: streamed back \"%.80s\": %s, %zu bytes, want %zu identical (%s)", ctx, key,
              ad_code_name(rc), len, n, err.msg);
        free(got);
    }
}

static void expect_missing(ad_blob *b, const char *key, const char *ctx)
{
    uint64_t size = 0;
    uint8_t buf[16];
    size_t got = 99;
    ad_error err = {0};
    ad_code rc = b->ops->stat(b, key, &size, &err);
    CHECK(rc == AD_E_NOT_FOUND, "%s: stat \"%.80s\": %s, want not_found (%s)", ctx, key,
          ad_code_name(rc), err.msg);
    rc = b->ops->read(b, key, 0, buf, sizeof(buf), &got, &err);
    CHECK(rc == AD_E_NOT_FOUND, "%s: read \"%.80s\": %s, want not_found (%s)", ctx, key,
          ad_code_name(rc), err.msg);
    if (b->ops->reader_open) {
        ad_blob_reader *r = (ad_blob_reader *)&err;
        rc = b->ops->reader_open(b, key, 0, UINT64_MAX, &r, &err);
        CHECK(rc == AD_E_NOT_FOUND && r == NULL, "%s: reader_open \"%.80s\": %s, want not_found",
              ctx, key, ad_code_name(rc));
        if (rc == AD_OK) b->ops->reader_close(r);
    }
}

/* ------------------------------------------------------------------------ */
/* Write, commit, read, ranges                                              */
/* ------------------------------------------------------------------------ */

static void test_chunked_and_ranges(ad_blob *b)
{
    const size_t n = 200003;
    uint8_t *data = random_bytes(n, 42);
    ad_blob_writer *w = NULL;
    ad_error err = {0};
    ad_code rc;
    size_t off = 0, chunks = 0;
    const char *key = "assets/a1/data.bin";

    rc = b->ops->writer_open(b, key, &w, &err);
    CHECK(rc == AD_OK && w, "writer_open: %s (%s)", ad_code_name(rc), err.msg);
    if (rc) {
        free(data);
        return;
    }
    while (off < n) { /* many small pieces of varying sizes, some empty */
        size_t k = (chunks * 7919) % 97;
        if (k > n - off) k = n - off;
        rc = b->ops->writer_write(w, data + off, k, &err);
        if (rc) break;
        off += k;
        chunks++;
    }
    CHECK(rc == AD_OK && off == n, "writing %zu pieces: %s (%s)", chunks, ad_code_name(rc),
          err.msg);
    expect_missing(b, key, "before commit");
    rc = b->ops->writer_commit(w, &err);
    CHECK(rc == AD_OK, "commit: %s (%s)", ad_code_name(rc), err.msg);
    expect_no_leftovers("after a commit");
    expect_object(b, key, data, n, "chunked write");

    {
        static const struct {
            uint64_t off;
            size_t n;
        } ranges[] = {{0, 1},      {0, 100},        {1, 1},         {100000, 5000},
                      {99999, 3},  {123457, 65536}, {199999, 4},    {200000, 3},
                      {200002, 1}, {200002, 100},   {199000, 5000}, {50, 0}};
        for (size_t i = 0; i < N(ranges); i++) {
            uint8_t *buf = malloc(ranges[i].n + 1);
            size_t got = 12345, want;
            if (!buf) abort();
            want = ranges[i].off >= n                ? 0
                   : n - ranges[i].off < ranges[i].n ? n - (size_t)ranges[i].off
                                                     : ranges[i].n;
            rc = b->ops->read(b, key, ranges[i].off, buf, ranges[i].n, &got, &err);
            CHECK(rc == AD_OK && got == want &&
                      (want == 0 || memcmp(buf, data + ranges[i].off, want) == 0),
                  "read [%llu, +%zu): %s got %zu, want %zu identical bytes (%s)",
                  (unsigned long long)ranges[i].off, ranges[i].n, ad_code_name(rc), got, want,
                  err.msg);
            free(buf);
        }
    }
    {
        static const uint64_t offs[] = {
            200003, 200004, 1u << 30, (uint64_t)1 << 40, (uint64_t)INT64_MAX, UINT64_MAX};
        uint8_t buf[64];
        for (size_t i = 0; i < N(offs); i++) {
            size_t got = 12345;
            rc = b->ops->read(b, key, offs[i], buf, sizeof(buf), &got, &err);
            CHECK(rc == AD_OK && got == 0, "read past the end at %llu: %s got %zu (%s)",
                  (unsigned long long)offs[i], ad_code_name(rc), got, err.msg);
        }
    }
    {
        uint8_t *got = NULL;
        size_t len = 0;
        rc = get_all(b, key, 977, &got, &len, &err);
        CHECK(rc == AD_OK && len == n && memcmp(got, data, n) == 0,
              "reassembled from 977-byte reads: %s, %zu bytes", ad_code_name(rc), len);
        free(got);
    }
    free(data);
}

static void test_abort(ad_blob *b)
{
    ad_blob_writer *w = NULL;
    ad_error err = {0};
    ad_code rc;
    uint8_t *data = random_bytes(10000, 7);

    rc = b->ops->writer_open(b, "assets/a2/aborted.bin", &w, &err);
    CHECK(rc == AD_OK, "writer_open for abort: %s", ad_code_name(rc));
    if (rc == AD_OK) {
        for (int i = 0; i < 10; i++) b->ops->writer_write(w, data + i * 1000, 1000, &err);
        b->ops->writer_abort(w);
    }
    expect_missing(b, "assets/a2/aborted.bin", "after abort");
    expect_no_leftovers("after an abort");

    rc = b->ops->writer_open(b, "assets/a2/empty-abort", &w, &err);
    CHECK(rc == AD_OK, "writer_open: %s", ad_code_name(rc));
    if (rc == AD_OK) b->ops->writer_abort(w);
    expect_missing(b, "assets/a2/empty-abort", "after an empty abort");
    b->ops->writer_abort(NULL); /* a no-op */

    rc = put(b, "assets/a2/keep", "old", 3, 3, &err);
    CHECK(rc == AD_OK, "put keep: %s (%s)", ad_code_name(rc), err.msg);
    rc = b->ops->writer_open(b, "assets/a2/keep", &w, &err);
    if (rc == AD_OK) {
        b->ops->writer_write(w, data, 5000, &err);
        b->ops->writer_abort(w);
    }
    expect_object(b, "assets/a2/keep", (const uint8_t *)"old", 3, "abort over an object");
    expect_no_leftovers("after aborts");
    free(data);
}

static void test_replace_remove(ad_blob *b)
{
    ad_error err = {0};
    ad_code rc;
    const char *key = "assets/a3/file.txt";
    const char *v1 = "first version of the object";
    const char *v2 = "second, longer version of the object, replacing the first";
    const char *v3 = "short";

    rc = put(b, key, v1, strlen(v1), 5, &err);
    CHECK(rc == AD_OK, "put v1: %s (%s)", ad_code_name(rc), err.msg);
    expect_object(b, key, (const uint8_t *)v1, strlen(v1), "v1");
    rc = put(b, key, v2, strlen(v2), 7, &err);
    CHECK(rc == AD_OK, "put v2 over v1: %s", ad_code_name(rc));
    expect_object(b, key, (const uint8_t *)v2, strlen(v2), "replaced by a longer one");
    rc = put(b, key, v3, strlen(v3), 1, &err);
    CHECK(rc == AD_OK, "put v3 over v2: %s", ad_code_name(rc));
    expect_object(b, key, (const uint8_t *)v3, strlen(v3), "replaced by a shorter one");

    { /* two writers on one key: the last commit wins, whole */
        ad_blob_writer *wa = NULL, *wb = NULL;
        uint8_t *a = random_bytes(30000, 11), *bb = random_bytes(20000, 12);
        rc = b->ops->writer_open(b, key, &wa, &err);
        CHECK(rc == AD_OK, "writer a: %s", ad_code_name(rc));
        rc = b->ops->writer_open(b, key, &wb, &err);
        CHECK(rc == AD_OK, "writer b: %s", ad_code_name(rc));
        if (wa && wb) {
            for (int i = 0; i < 10; i++) {
                b->ops->writer_write(wa, a + i * 3000, 3000, &err);
                b->ops->writer_write(wb, bb + i * 2000, 2000, &err);
            }
            rc = b->ops->writer_commit(wa, &err);
            CHECK(rc == AD_OK, "commit a: %s", ad_code_name(rc));
            expect_object(b, key, a, 30000, "after writer a commits");
            rc = b->ops->writer_commit(wb, &err);
            CHECK(rc == AD_OK, "commit b: %s", ad_code_name(rc));
            expect_object(b, key, bb, 20000, "after writer b commits");
        }
        free(a);
        free(bb);
    }

    rc = put(b, "assets/a3/empty", "", 0, 1, &err);
    CHECK(rc == AD_OK, "put empty: %s (%s)", ad_code_name(rc), err.msg);
    expect_object(b, "assets/a3/empty", (const uint8_t *)"", 0, "empty object");

    rc = b->ops->remove(b, key, &err);
    CHECK(rc == AD_OK, "remove: %s (%s)", ad_code_name(rc), err.msg);
    expect_missing(b, key, "after remove");
    rc = b->ops->remove(b, key, &err);
    CHECK(rc == AD_OK, "remove again: %s, want ok", ad_code_name(rc));
    rc = b->ops->remove(b, "never/written/at/all", &err);
    CHECK(rc == AD_OK, "remove of a key never written: %s, want ok", ad_code_name(rc));
    expect_object(b, "assets/a3/empty", (const uint8_t *)"", 0, "a sibling after remove");

    rc = put(b, key, v1, strlen(v1), 3, &err);
    CHECK(rc == AD_OK, "put after remove: %s", ad_code_name(rc));
    expect_object(b, key, (const uint8_t *)v1, strlen(v1), "written again after remove");

    /* a key that is only a prefix ("directory") of another is not an object */
    rc = put(b, "pre/fix/obj", "x", 1, 1, &err);
    CHECK(rc == AD_OK, "put pre/fix/obj: %s", ad_code_name(rc));
    expect_missing(b, "pre/fix", "a key prefix");
    expect_missing(b, "pre", "a key prefix");
    rc = b->ops->remove(b, "pre/fix", &err);
    CHECK(rc == AD_OK, "remove of a key prefix (no such object): %s (%s), want ok",
          ad_code_name(rc), err.msg);
    expect_object(b, "pre/fix/obj", (const uint8_t *)"x", 1, "after removing its prefix");
}

/* ------------------------------------------------------------------------ */
/* Keys                                                                     */
/* ------------------------------------------------------------------------ */

static void test_keys(ad_blob *b)
{
    static const char *const bad[] = {"",          "../x",         "a//b",
                                      "a/./b",     "a\\b",         "a\x01b",
                                      "a\nb",      "\x1f",         "a\x7f",
                                      "/abs",      "trail/",       ".",
                                      "..",        "a/..",         "./a",
                                      "\xff",      "a\xc3",        "\xc3\x28",
                                      "\xc0\xaf",  "\xed\xa0\x80", "\xf8\x88\x80\x80\x80",
                                      "x/\xe2\x82"};
    ad_error err = {0};
    ad_code rc;
    char longkey[AD_BLOB_KEY_MAX + 2];
    size_t key_max = O->key_max ? O->key_max : AD_BLOB_KEY_MAX;

    for (size_t i = 0; i <= N(bad); i++) {
        const char *key = bad[i < N(bad) ? i : 0];
        ad_blob_writer *w = (ad_blob_writer *)&err; /* must be reset to NULL */
        uint64_t size;
        uint8_t buf[4];
        size_t got;
        if (i == N(bad)) {
            memset(longkey, 'k', AD_BLOB_KEY_MAX + 1);
            longkey[AD_BLOB_KEY_MAX + 1] = '\0';
            key = longkey;
        }
        CHECK(ad_blob_key_check(key, NULL) == AD_E_BAD_REQUEST, "key check accepts bad key #%zu",
              i);
        rc = b->ops->writer_open(b, key, &w, &err);
        CHECK(rc == AD_E_BAD_REQUEST && w == NULL, "writer_open bad key #%zu: %s, want bad_request",
              i, ad_code_name(rc));
        rc = b->ops->stat(b, key, &size, &err);
        CHECK(rc == AD_E_BAD_REQUEST, "stat bad key #%zu: %s", i, ad_code_name(rc));
        rc = b->ops->read(b, key, 0, buf, sizeof(buf), &got, &err);
        CHECK(rc == AD_E_BAD_REQUEST, "read bad key #%zu: %s", i, ad_code_name(rc));
        rc = b->ops->remove(b, key, &err);
        CHECK(rc == AD_E_BAD_REQUEST, "remove bad key #%zu: %s", i, ad_code_name(rc));
        if (b->ops->reader_open) {
            ad_blob_reader *r = (ad_blob_reader *)&err;
            rc = b->ops->reader_open(b, key, 0, 10, &r, &err);
            CHECK(rc == AD_E_BAD_REQUEST && r == NULL, "reader_open bad key #%zu: %s", i,
                  ad_code_name(rc));
        }
    }
    expect_no_leftovers("after bad keys");

    {
        static const char *const good[] = {"ünïcödé/日本語/😀.bin",
                                           "with space/x y",
                                           "100%",
                                           "50%25/%2F%00",
                                           "a+b/c++",
                                           "q?x=1&y=2#frag",
                                           "semi;colon,comma=eq'quote\"dq",
                                           "brackets[1]{2}(3)<4>|5^6`7",
                                           "a/.hidden",
                                           "a/..b",
                                           "a/b.",
                                           "~tilde!*$@",
                                           "x"};
        for (size_t i = 0; i < N(good); i++) {
            char body[64];
            snprintf(body, sizeof(body), "body of key %zu", i);
            CHECK(ad_blob_key_check(good[i], NULL) == AD_OK, "key check refuses \"%s\"", good[i]);
            rc = put(b, good[i], body, strlen(body), 4, &err);
            CHECK(rc == AD_OK, "put \"%s\": %s (%s)", good[i], ad_code_name(rc), err.msg);
            expect_object(b, good[i], (const uint8_t *)body, strlen(body), "allowed key");
        }
        for (size_t i = 0; i < N(good); i++) {
            rc = b->ops->remove(b, good[i], &err);
            CHECK(rc == AD_OK, "remove \"%s\": %s (%s)", good[i], ad_code_name(rc), err.msg);
            expect_missing(b, good[i], "allowed key removed");
        }
    }
    { /* the longest key: parts a file system accepts */
        char key[AD_BLOB_KEY_MAX + 1];
        size_t n = 0;
        while (n < key_max) {
            key[n] = (n % 200 == 199 && n + 1 < key_max) ? '/' : 'p';
            n++;
        }
        key[key_max] = '\0';
        CHECK(ad_blob_key_check(key, NULL) == AD_OK, "a %zu-byte key is refused", key_max);
        rc = put(b, key, "long", 4, 4, &err);
        CHECK(rc == AD_OK, "put a %zu-byte key: %s (%s)", key_max, ad_code_name(rc), err.msg);
        expect_object(b, key, (const uint8_t *)"long", 4, "longest key");
    }
    { /* a 255-byte part is fine, a 256-byte one is refused before any write */
        char key[320];
        memcpy(key, "assets/long/", 12);
        memset(key + 12, 'n', 300);
        key[312] = '\0';
        rc = put(b, key, "part", 4, 4, &err);
        CHECK(rc == AD_E_BAD_REQUEST && strstr(err.msg, "longer than 255"),
              "put a key with a 300-byte part: %s (%s)", ad_code_name(rc), err.msg);
        key[12 + 256] = '\0';
        CHECK(ad_blob_key_check(key, NULL) == AD_E_BAD_REQUEST, "a 256-byte part is accepted");
        key[12 + 255] = '\0';
        memcpy(key + 12 + 249, "é.bin", 7); /* multi-byte at the limit: 255 bytes */
        CHECK(strlen(key) == 12 + 255 && ad_blob_key_check(key, NULL) == AD_OK,
              "a 255-byte part is refused");
        rc = put(b, key, "part", 4, 2, &err);
        CHECK(rc == AD_OK, "put a key with a 255-byte part: %s (%s)", ad_code_name(rc), err.msg);
        expect_object(b, key, (const uint8_t *)"part", 4, "255-byte part");
        expect_no_leftovers("after long keys");
    }
}

/* ------------------------------------------------------------------------ */
/* A large object                                                           */
/* ------------------------------------------------------------------------ */

static void test_large(ad_blob *b)
{
    const size_t n = O->large_size ? O->large_size : 3 * 1024 * 1024 + 17;
    uint8_t *data = random_bytes(n, 99);
    ad_error err = {0};
    ad_code rc = put(b, "assets/big/blob.bin", data, n, 65536, &err);
    CHECK(rc == AD_OK, "put %zu bytes: %s (%s)", n, ad_code_name(rc), err.msg);
    expect_no_leftovers("after a large object");
    expect_object(b, "assets/big/blob.bin", data, n, "large object");
    { /* ranged reads around every MiB (part boundaries are whole MiB) */
        uint8_t buf[64];
        for (uint64_t mib = 1; mib * 1048576 < n; mib++) {
            uint64_t off = mib * 1048576 - 32;
            size_t got = 0, want = n - off < 64 ? (size_t)(n - off) : 64;
            rc = b->ops->read(b, "assets/big/blob.bin", off, buf, 64, &got, &err);
            CHECK(rc == AD_OK && got == want && memcmp(buf, data + off, want) == 0,
                  "read 64 bytes across MiB %llu: %s got %zu (%s)", (unsigned long long)mib,
                  ad_code_name(rc), got, err.msg);
        }
    }
    if (b->ops->reader_open) { /* the second half in one stream, in 1 MiB reads */
        uint8_t *got = NULL;
        size_t len = 0;
        rc = stream_all(b, "assets/big/blob.bin", n / 2 + 1, UINT64_MAX, 1 << 20, &got, &len, &err);
        CHECK(rc == AD_OK && len == n - (n / 2 + 1) && memcmp(got, data + n / 2 + 1, len) == 0,
              "stream the second half: %s, %zu bytes (%s)", ad_code_name(rc), len, err.msg);
        free(got);
    }
    /* replaced by a small one: no trace of the large one */
    rc = put(b, "assets/big/blob.bin", "small now", 9, 4, &err);
    CHECK(rc == AD_OK, "replace the large object: %s (%s)", ad_code_name(rc), err.msg);
    expect_object(b, "assets/big/blob.bin", (const uint8_t *)"small now", 9, "large replaced");
    rc = b->ops->remove(b, "assets/big/blob.bin", &err);
    CHECK(rc == AD_OK, "remove the large object: %s", ad_code_name(rc));

    { /* an aborted large writer leaves nothing */
        ad_blob_writer *w = NULL;
        rc = b->ops->writer_open(b, "assets/big/aborted.bin", &w, &err);
        CHECK(rc == AD_OK, "writer_open: %s", ad_code_name(rc));
        for (size_t off = 0; rc == AD_OK && off < n; off += 65536)
            rc = b->ops->writer_write(w, data + off, n - off < 65536 ? n - off : 65536, &err);
        CHECK(rc == AD_OK, "writing a large object to abort: %s (%s)", ad_code_name(rc), err.msg);
        b->ops->writer_abort(w);
        expect_missing(b, "assets/big/aborted.bin", "an aborted large object");
        expect_no_leftovers("after an aborted large object");
    }
    free(data);
}

/* ------------------------------------------------------------------------ */
/* head                                                                     */
/* ------------------------------------------------------------------------ */

static void test_head(ad_blob *b)
{
    uint64_t s1 = 0, v1 = 0, s2 = 0, v2 = 0, s3 = 0, v3 = 0;
    ad_error err = {0};
    ad_code rc;
    if (!b->ops->head) return;
    put(b, "assets/h/x", "version one", 11, 11, &err);
    rc = b->ops->head(b, "assets/h/x", &s1, &v1, &err);
    CHECK(rc == AD_OK && s1 == 11, "head: %s size %llu", ad_code_name(rc), (unsigned long long)s1);
    rc = b->ops->head(b, "assets/h/x", &s2, &v2, &err);
    CHECK(rc == AD_OK && v2 == v1, "head twice: versions %llx and %llx", (unsigned long long)v1,
          (unsigned long long)v2);
    usleep(10000); /* a later modification time for stores that use one */
    put(b, "assets/h/x", "version two", 11, 11, &err);
    rc = b->ops->head(b, "assets/h/x", &s3, &v3, &err);
    CHECK(rc == AD_OK && s3 == 11 && v3 != v1,
          "head after a replace of the same size: %s, version %llx (was %llx)", ad_code_name(rc),
          (unsigned long long)v3, (unsigned long long)v1);
    rc = b->ops->head(b, "assets/h/none", &s3, &v3, &err);
    CHECK(rc == AD_E_NOT_FOUND, "head of a missing key: %s", ad_code_name(rc));
    rc = b->ops->head(b, "../bad", &s3, &v3, &err);
    CHECK(rc == AD_E_BAD_REQUEST, "head of a bad key: %s", ad_code_name(rc));
}

/* ------------------------------------------------------------------------ */
/* The streaming reader                                                     */
/* ------------------------------------------------------------------------ */

static void test_reader(ad_blob *b)
{
    const size_t n = 700001;
    uint8_t *data = random_bytes(n, 5);
    ad_error err = {0};
    ad_code rc;
    const char *key = "assets/r/stream.bin";
    static const struct {
        uint64_t off, len;
    } ranges[] = {{0, UINT64_MAX}, {0, 700001},           {0, 1},
                  {1, 1},          {699999, 2},           {699999, 100},
                  {700000, 1},     {12345, 300000},       {654321, UINT64_MAX},
                  {0, 1000000},    {5, (uint64_t)1 << 62}};
    /* around 16 KiB (the pieces libcurl hands over) and 256 KiB (its
     * receive buffer) too: a read whose buffer ends inside a piece */
    static const size_t steps[] = {1, 7, 4096, 65536, 1 << 20, 16383, 16385, 262145};

    CHECK(b->ops->reader_read && b->ops->reader_close, "reader slots come together");
    rc = put(b, key, data, n, 100000, &err);
    CHECK(rc == AD_OK, "put %s: %s (%s)", key, ad_code_name(rc), err.msg);
    for (size_t i = 0; i < N(ranges); i++) {
        size_t step = steps[i % N(steps)], want;
        uint8_t *got = NULL;
        size_t len = 0;
        if (step == 1 && ranges[i].len > 5000) step = 977; /* 1-byte reads of short ranges */
        want = ranges[i].off >= n                  ? 0
               : ranges[i].len > n - ranges[i].off ? n - (size_t)ranges[i].off
                                                   : (size_t)ranges[i].len;
        rc = stream_all(b, key, ranges[i].off, ranges[i].len, step, &got, &len, &err);
        CHECK(rc == AD_OK && len == want &&
                  (want == 0 || memcmp(got, data + ranges[i].off, want) == 0),
              "stream [%llu, +%llu) in %zu-byte reads: %s, %zu bytes, want %zu identical (%s)",
              (unsigned long long)ranges[i].off, (unsigned long long)ranges[i].len, step,
              ad_code_name(rc), len, want, err.msg);
        free(got);
    }
    { /* empty ranges: at the end, past it, far past it, of length 0 */
        static const struct {
            uint64_t off, len;
        } empty[] = {{700001, 10},
                     {700001, UINT64_MAX},
                     {800000, 10},
                     {UINT64_MAX, UINT64_MAX},
                     {(uint64_t)INT64_MAX, 1},
                     {100, 0}};
        for (size_t i = 0; i < N(empty); i++) {
            uint8_t *got = NULL;
            size_t len = 99;
            rc = stream_all(b, key, empty[i].off, empty[i].len, 4096, &got, &len, &err);
            CHECK(rc == AD_OK && len == 0,
                  "stream of an empty range [%llu, +%llu): %s, %zu bytes (%s)",
                  (unsigned long long)empty[i].off, (unsigned long long)empty[i].len,
                  ad_code_name(rc), len, err.msg);
            free(got);
        }
    }
    { /* several readers at once, read in turns; some closed early */
        ad_blob_reader *r[4] = {0};
        size_t pos[4] = {0}, start[4] = {0, 1000, 350000, 699000};
        bool ok = true;
        for (int i = 0; i < 4; i++) {
            rc = b->ops->reader_open(b, key, start[i], UINT64_MAX, &r[i], &err);
            CHECK(rc == AD_OK, "reader %d: %s (%s)", i, ad_code_name(rc), err.msg);
        }
        for (int round = 0; round < 40 && ok; round++) {
            for (int i = 0; i < 4; i++) {
                uint8_t buf[3000];
                size_t got = 0;
                if (!r[i]) continue;
                rc = b->ops->reader_read(r[i], buf, sizeof(buf), &got, &err);
                if (rc || (got && memcmp(buf, data + start[i] + pos[i], got) != 0)) {
                    CHECK(0, "interleaved reader %d at %zu: %s (%s)", i, pos[i], ad_code_name(rc),
                          err.msg);
                    ok = false;
                    break;
                }
                pos[i] += got;
                if (got == 0) {
                    CHECK(start[i] + pos[i] == n, "reader %d ended at %zu, want %zu", i,
                          start[i] + pos[i], n);
                    b->ops->reader_close(r[i]);
                    r[i] = NULL;
                }
            }
        }
        for (int i = 0; i < 4; i++) b->ops->reader_close(r[i]); /* early: still open */
        b->ops->reader_close(NULL);
    }
    { /* a reader opened and closed without a read */
        ad_blob_reader *r = NULL;
        rc = b->ops->reader_open(b, key, 0, UINT64_MAX, &r, &err);
        CHECK(rc == AD_OK, "reader_open: %s", ad_code_name(rc));
        b->ops->reader_close(r);
    }
    { /* the empty object */
        uint8_t *got = NULL;
        size_t len = 99;
        put(b, "assets/r/empty", "", 0, 1, &err);
        rc = stream_all(b, "assets/r/empty", 0, UINT64_MAX, 4096, &got, &len, &err);
        CHECK(rc == AD_OK && len == 0, "stream the empty object: %s, %zu (%s)", ad_code_name(rc),
              len, err.msg);
        free(got);
    }
    { /* reads on a reader after the end keep giving 0 */
        ad_blob_reader *r = NULL;
        uint8_t buf[16];
        size_t got = 0, total = 0;
        rc = b->ops->reader_open(b, key, n - 10, UINT64_MAX, &r, &err);
        while (rc == AD_OK && b->ops->reader_read(r, buf, sizeof(buf), &got, &err) == AD_OK && got)
            total += got;
        CHECK(total == 10, "the last 10 bytes: %zu", total);
        rc = b->ops->reader_read(r, buf, sizeof(buf), &got, &err);
        CHECK(rc == AD_OK && got == 0, "read after the end: %s %zu", ad_code_name(rc), got);
        b->ops->reader_close(r);
    }
    free(data);
}

/* ------------------------------------------------------------------------ */
/* Concurrency                                                              */
/* ------------------------------------------------------------------------ */

#define THREADS    6
#define PER_THREAD 4

typedef struct worker {
    ad_blob *b;
    int id;
    ad_code rc[PER_THREAD + 1];
    char msg[AD_ERROR_MSG_MAX];
} worker;

static size_t obj_size(int id, int i)
{
    return 1000 + (size_t)((id * 7919 + i * 104729) % 300000);
}

static void *work(void *arg)
{
    worker *w = arg;
    ad_error err = {0};
    for (int i = 0; i < PER_THREAD; i++) {
        char key[64];
        size_t n = obj_size(w->id, i);
        uint8_t *data = random_bytes(n, (uint64_t)(w->id * 100 + i + 1));
        snprintf(key, sizeof(key), "assets/conc/t%d/o%d", w->id, i);
        w->rc[i] = put(w->b, key, data, n, 8192, &err);
        if (w->rc[i] && !w->msg[0]) snprintf(w->msg, sizeof(w->msg), "%s", err.msg);
        free(data);
    }
    { /* everybody writes one key */
        size_t n = 50000 + (size_t)w->id;
        uint8_t *data = random_bytes(n, (uint64_t)(1000 + w->id));
        w->rc[PER_THREAD] = put(w->b, "assets/conc/race", data, n, 4096, &err);
        if (w->rc[PER_THREAD] && !w->msg[0]) snprintf(w->msg, sizeof(w->msg), "%s", err.msg);
        free(data);
    }
    return NULL;
}

static void test_concurrency(ad_blob *b)
{
    pthread_t th[THREADS];
    worker w[THREADS];
    ad_error err = {0};
    for (int i = 0; i < THREADS; i++) {
        memset(&w[i], 0, sizeof(w[i]));
        w[i].b = b;
        w[i].id = i;
        pthread_create(&th[i], NULL, work, &w[i]);
    }
    for (int i = 0; i < THREADS; i++) pthread_join(th[i], NULL);
    for (int t = 0; t < THREADS; t++) {
        for (int i = 0; i <= PER_THREAD; i++)
            CHECK(w[t].rc[i] == AD_OK, "thread %d write %d: %s (%s)", t, i,
                  ad_code_name(w[t].rc[i]), w[t].msg);
        for (int i = 0; i < PER_THREAD; i++) {
            char key[64];
            size_t n = obj_size(t, i);
            uint8_t *data = random_bytes(n, (uint64_t)(t * 100 + i + 1));
            snprintf(key, sizeof(key), "assets/conc/t%d/o%d", t, i);
            expect_object(b, key, data, n, "concurrent writer");
            free(data);
        }
    }
    { /* the raced key holds exactly one writer's bytes */
        uint8_t *got = NULL;
        size_t len = 0;
        int winner = -1;
        ad_code rc = get_all(b, "assets/conc/race", 65536, &got, &len, &err);
        CHECK(rc == AD_OK && len >= 50000 && len < 50000 + THREADS, "raced key: %s, %zu bytes",
              ad_code_name(rc), len);
        if (rc == AD_OK && len >= 50000 && len < 50000 + THREADS) {
            uint8_t *want = random_bytes(len, (uint64_t)(1000 + (len - 50000)));
            if (memcmp(got, want, len) == 0) winner = (int)(len - 50000);
            free(want);
        }
        CHECK(winner >= 0, "the raced key is not one writer's bytes, whole");
        free(got);
    }
    expect_no_leftovers("after concurrent writers");
}

/* ------------------------------------------------------------------------ */
/* Buckets                                                                  */
/* ------------------------------------------------------------------------ */

static void test_buckets(ad_blob *b)
{
    static const char *const bad[] = {
        "ab",
        "UPPER",
        "under_score",
        "a..b",
        "-ab",
        "ab-",
        ".ab",
        "ab.",
        "192.168.1.1",
        "xn--abc",
        "sthree-x",
        "abc-s3alias",
        "abc--ol-s3",
        "sp ace",
        "é-unicode",
        "a/b",
        "0123456789012345678901234567890123456789012345678901234567890123"};
    const ad_blob_ops *op = b->ops;
    char name[48], other[64];
    ad_error err = {0};
    ad_code rc;
    bool exists = true;
    ad_blob *in = NULL;

    if (!op->bucket_create) {
        CHECK(!op->bucket_exists && !op->bucket_remove && !op->bucket_open,
              "bucket slots come together");
        return;
    }
    CHECK(op->bucket_exists && op->bucket_remove && op->bucket_open, "bucket slots come together");
    for (size_t i = 0; i < N(bad); i++) {
        CHECK(ad_blob_bucket_check(bad[i], NULL) == AD_E_BAD_REQUEST,
              "bucket name \"%s\" is accepted", bad[i]);
        rc = op->bucket_create(b, bad[i], NULL, &err);
        CHECK(rc == AD_E_BAD_REQUEST, "create bucket \"%s\": %s", bad[i], ad_code_name(rc));
        rc = op->bucket_exists(b, bad[i], &exists, &err);
        CHECK(rc == AD_E_BAD_REQUEST, "exists bucket \"%s\": %s", bad[i], ad_code_name(rc));
        rc = op->bucket_remove(b, bad[i], true, &err);
        CHECK(rc == AD_E_BAD_REQUEST, "remove bucket \"%s\": %s", bad[i], ad_code_name(rc));
    }
    CHECK(ad_blob_bucket_check("abc", NULL) == AD_OK &&
              ad_blob_bucket_check("my.bucket-1", NULL) == AD_OK &&
              ad_blob_bucket_check(
                  "012345678901234567890123456789012345678901234567890123456789012", NULL) == AD_OK,
          "good bucket names refused");

    snprintf(name, sizeof(name), "assetd-c-%lx-%x", (unsigned long)time(NULL), (unsigned)getpid());
    snprintf(other, sizeof(other), "%s-x", name);
    rc = op->bucket_exists(b, name, &exists, &err);
    CHECK(rc == AD_OK && !exists, "bucket %s before creation: %s exists=%d (%s)", name,
          ad_code_name(rc), exists, err.msg);
    rc = op->bucket_open(b, name, &in, &err);
    CHECK(rc == AD_E_NOT_FOUND && !in, "open a missing bucket: %s", ad_code_name(rc));
    rc = op->bucket_remove(b, name, false, &err);
    CHECK(rc == AD_E_NOT_FOUND, "remove a missing bucket: %s (%s)", ad_code_name(rc), err.msg);
    rc = op->bucket_create(b, name, NULL, &err);
    CHECK(rc == AD_OK, "create bucket %s: %s (%s)", name, ad_code_name(rc), err.msg);
    rc = op->bucket_exists(b, name, &exists, &err);
    CHECK(rc == AD_OK && exists, "bucket %s after creation: %s exists=%d", name, ad_code_name(rc),
          exists);
    rc = op->bucket_create(b, name, NULL, &err);
    CHECK(rc == AD_E_EXISTS, "create bucket %s again: %s (%s)", name, ad_code_name(rc), err.msg);

    /* objects in the bucket, through a store opened on it */
    rc = op->bucket_open(b, name, &in, &err);
    CHECK(rc == AD_OK && in, "bucket_open %s: %s (%s)", name, ad_code_name(rc), err.msg);
    if (in) {
        rc = put(in, "inside/one", "in the bucket", 13, 5, &err);
        CHECK(rc == AD_OK, "put in the bucket: %s (%s)", ad_code_name(rc), err.msg);
        expect_object(in, "inside/one", (const uint8_t *)"in the bucket", 13, "bucket object");
        expect_missing(b, "inside/one", "the store's own objects do not see the bucket's");
        rc = op->bucket_remove(b, name, false, &err);
        CHECK(rc == AD_E_PRECONDITION, "remove a bucket that holds an object: %s (%s)",
              ad_code_name(rc), err.msg);
        rc = put(in, "inside/two", "x", 1, 1, &err);
        CHECK(rc == AD_OK, "put a second object: %s", ad_code_name(rc));
        in->ops->close(in);
        in = NULL;
    }
    rc = op->bucket_remove(b, name, true, &err);
    CHECK(rc == AD_OK, "force-remove bucket %s: %s (%s)", name, ad_code_name(rc), err.msg);
    rc = op->bucket_exists(b, name, &exists, &err);
    CHECK(rc == AD_OK && !exists, "bucket %s after removal: %s exists=%d", name, ad_code_name(rc),
          exists);
    rc = op->bucket_remove(b, name, true, &err);
    CHECK(rc == AD_E_NOT_FOUND, "remove again: %s", ad_code_name(rc));

    /* an empty bucket is removed without force */
    rc = op->bucket_create(b, other, NULL, &err);
    CHECK(rc == AD_OK, "create bucket %s: %s (%s)", other, ad_code_name(rc), err.msg);
    rc = op->bucket_remove(b, other, false, &err);
    CHECK(rc == AD_OK, "remove the empty bucket %s: %s (%s)", other, ad_code_name(rc), err.msg);
    rc = op->bucket_exists(b, other, &exists, &err);
    CHECK(rc == AD_OK && !exists, "bucket %s after removal: exists=%d", other, exists);
}

/* The policy slots (version 3), where the store keeps policies: every
 * policy set reads back as itself, none removes it, OTHER is refused, a
 * missing bucket is AD_E_NOT_FOUND. */
static void test_bucket_policies(ad_blob *b)
{
    const ad_blob_ops *op = b->ops;
    static const ad_blob_policy all[] = {AD_BLOB_POLICY_READONLY,  AD_BLOB_POLICY_WRITEONLY,
                                         AD_BLOB_POLICY_READWRITE, AD_BLOB_POLICY_NONE,
                                         AD_BLOB_POLICY_NONE,      AD_BLOB_POLICY_READONLY};
    char name[48], missing[64];
    ad_blob_policy got = AD_BLOB_POLICY_OTHER;
    ad_error err = {0};
    ad_code rc;
    size_t i;

    CHECK(!op->bucket_policy_set == !op->bucket_policy_get, "policy slots come together");
    if (!op->bucket_policy_set || !op->bucket_policy_get) return;
    CHECK(op->bucket_create != NULL, "policy slots need the bucket slots");
    if (!op->bucket_create) return;
    snprintf(name, sizeof(name), "assetd-p-%lx-%x", (unsigned long)time(NULL), (unsigned)getpid());
    snprintf(missing, sizeof(missing), "%s-none", name);
    rc = op->bucket_create(b, name, NULL, &err);
    CHECK(rc == AD_OK, "create bucket %s: %s (%s)", name, ad_code_name(rc), err.msg);
    rc = op->bucket_policy_get(b, name, &got, &err);
    CHECK(rc == AD_OK && got == AD_BLOB_POLICY_NONE, "a new bucket's policy: %s %d (%s)",
          ad_code_name(rc), (int)got, err.msg);
    for (i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        rc = op->bucket_policy_set(b, name, all[i], &err);
        CHECK(rc == AD_OK, "set policy %d: %s (%s)", (int)all[i], ad_code_name(rc), err.msg);
        got = AD_BLOB_POLICY_OTHER;
        rc = op->bucket_policy_get(b, name, &got, &err);
        CHECK(rc == AD_OK && got == all[i], "policy %d reads back as %d: %s (%s)", (int)all[i],
              (int)got, ad_code_name(rc), err.msg);
    }
    rc = op->bucket_policy_set(b, name, AD_BLOB_POLICY_OTHER, &err);
    CHECK(rc == AD_E_BAD_REQUEST, "set policy OTHER: %s", ad_code_name(rc));
    rc = op->bucket_policy_get(b, missing, &got, &err);
    CHECK(rc == AD_E_NOT_FOUND, "policy of a missing bucket: %s (%s)", ad_code_name(rc), err.msg);
    rc = op->bucket_policy_set(b, missing, AD_BLOB_POLICY_READONLY, &err);
    CHECK(rc == AD_E_NOT_FOUND, "set the policy of a missing bucket: %s (%s)", ad_code_name(rc),
          err.msg);
    rc = op->bucket_policy_set(b, "Bad_Name", AD_BLOB_POLICY_READONLY, &err);
    CHECK(rc == AD_E_BAD_REQUEST, "policy of a bad bucket name: %s", ad_code_name(rc));
    rc = op->bucket_remove(b, name, true, &err);
    CHECK(rc == AD_OK, "remove bucket %s: %s (%s)", name, ad_code_name(rc), err.msg);
}

/* ------------------------------------------------------------------------ */

/* Runs one part of the suite and says how long it took (for finding what
 * is slow on a backend; nothing is asserted about time). */
static void step(const char *name, void (*fn)(ad_blob *), ad_blob *b)
{
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    fn(b);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    printf("  blob contract: %s: %.2f s\n", name,
           (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
    fflush(stdout);
}

int blob_contract_run(const blob_contract_opts *opts)
{
    int failed_before = check_failed, passed_before = check_passed;
    ad_blob *b = NULL;
    ad_error err = {0};
    char safe[512];
    ad_code rc;

    O = opts;
    ad_url_redact(opts->url, safe, sizeof(safe));
    rc = ad_blob_open(opts->url, &b, &err);
    CHECK(rc == AD_OK && b, "blob contract: open %s: %s (%s)", safe, ad_code_name(rc), err.msg);
    if (rc != AD_OK || !b) return check_failed - failed_before;
    CHECK(b->ops->version == AD_BLOB_OPS_VERSION, "ops version %d", b->ops->version);
    CHECK(b->ops->open && b->ops->close && b->ops->ping && b->ops->writer_open &&
              b->ops->writer_write && b->ops->writer_commit && b->ops->writer_abort &&
              b->ops->stat && b->ops->read && b->ops->remove,
          "a mandatory slot is NULL");
    rc = b->ops->ping(b, &err);
    CHECK(rc == AD_OK, "ping: %s (%s)", ad_code_name(rc), err.msg);
    expect_missing(b, "assets/none", "fresh store");

    step("chunked writes and ranges", test_chunked_and_ranges, b);
    step("abort", test_abort, b);
    step("replace and remove", test_replace_remove, b);
    step("keys", test_keys, b);
    step("a large object", test_large, b);
    step("head", test_head, b);
    if (b->ops->reader_open) step("the streaming reader", test_reader, b);
    step("concurrency", test_concurrency, b);
    step("buckets", test_buckets, b);
    step("bucket policies", test_bucket_policies, b);

    rc = b->ops->ping(b, &err);
    CHECK(rc == AD_OK, "ping at the end: %s (%s)", ad_code_name(rc), err.msg);
    expect_no_leftovers("at the end");
    b->ops->close(b);
    printf("blob contract %s: %d passed, %d failed\n", safe, check_passed - passed_before,
           check_failed - failed_before);
    return check_failed - failed_before;
}
