/*
 * test_blob_file.c — the file blob store adapter (store/blob_file.c),
 * through the port only (ad_blob_open("file://<dir>") and the ops slots):
 * streamed writes published atomically on commit, ranged reads, abort,
 * replace, remove, key rules, a large object, and the clean-up of
 * leftovers in <root>/.tmp when the store opens.
 */
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "store/blob.h"
#include "util/err.h"

static char root[64];

/* --- helpers --- */

static uint64_t rng_state;

static uint8_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return (uint8_t)(rng_state >> 24);
}

static uint8_t *random_bytes(size_t n, uint64_t seed)
{
    uint8_t *p = malloc(n ? n : 1);
    if (!p) abort();
    rng_state = seed ? seed : 88172645463325252ull;
    for (size_t i = 0; i < n; i++) p[i] = rnd();
    return p;
}

/* Entries in <root>/.tmp other than "." and "..". */
static int tmp_entries(void)
{
    char dir[128];
    DIR *d;
    struct dirent *e;
    int n = 0;
    snprintf(dir, sizeof(dir), "%s/.tmp", root);
    d = opendir(dir);
    if (!d) return -1;
    while ((e = readdir(d)) != NULL)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) n++;
    closedir(d);
    return n;
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

/* Writes n bytes as one object, in chunks of `chunk` bytes. */
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

/* Reads the whole object in reads of `step` bytes; *out is malloc'd. */
static ad_code get_all(ad_blob *b, const char *key, size_t step, uint8_t **out, size_t *len,
                       ad_error *err)
{
    size_t cap = 1024, n = 0;
    uint8_t *buf = malloc(cap);
    ad_code rc = AD_OK;
    if (!buf) abort();
    for (;;) {
        size_t got = 0;
        if (n + step > cap) {
            while (n + step > cap) cap *= 2;
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

static void expect_object(ad_blob *b, const char *key, const uint8_t *want, size_t n,
                          const char *ctx)
{
    uint64_t size = 0;
    uint8_t *got = NULL;
    size_t len = 0;
    ad_error err = {0};
    ad_code rc = b->ops->stat(b, key, &size, &err);
    CHECK(rc == AD_OK && size == n, "%s: stat \"%s\": %s size %llu, want %zu (%s)", ctx, key,
          ad_code_name(rc), (unsigned long long)size, n, err.msg);
    rc = get_all(b, key, 4096, &got, &len, &err);
    CHECK(rc == AD_OK && len == n && (n == 0 || memcmp(got, want, n) == 0),
          "%s: read back \"%s\": %s, %zu bytes, want %zu identical", ctx, key, ad_code_name(rc),
          len, n);
    free(got);
}

static void expect_missing(ad_blob *b, const char *key, const char *ctx)
{
    uint64_t size = 0;
    uint8_t buf[16];
    size_t got = 99;
    ad_error err = {0};
    ad_code rc = b->ops->stat(b, key, &size, &err);
    CHECK(rc == AD_E_NOT_FOUND, "%s: stat \"%s\": %s, want not_found", ctx, key, ad_code_name(rc));
    rc = b->ops->read(b, key, 0, buf, sizeof(buf), &got, &err);
    CHECK(rc == AD_E_NOT_FOUND, "%s: read \"%s\": %s, want not_found (%s)", ctx, key,
          ad_code_name(rc), err.msg);
}

/* --- tests --- */

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
    /* many small chunks of varying sizes, some empty */
    while (off < n) {
        size_t k = (chunks * 7919) % 97;
        if (k > n - off) k = n - off;
        rc = b->ops->writer_write(w, data + off, k, &err);
        if (rc) break;
        off += k;
        chunks++;
    }
    CHECK(rc == AD_OK && off == n, "writing %zu chunks: %s (%s)", chunks, ad_code_name(rc),
          err.msg);
    /* not visible before commit */
    expect_missing(b, key, "before commit");
    CHECK(tmp_entries() == 1, "a writer in progress has %d files in .tmp, want 1", tmp_entries());
    rc = b->ops->writer_commit(w, &err);
    CHECK(rc == AD_OK, "commit: %s (%s)", ad_code_name(rc), err.msg);
    CHECK(tmp_entries() == 0, "after commit .tmp has %d entries", tmp_entries());
    expect_object(b, key, data, n, "chunked write");

    /* ranged reads */
    {
        static const struct {
            uint64_t off;
            size_t n;
        } ranges[] = {{0, 1},      {0, 100},        {1, 1},         {100000, 5000},
                      {99999, 3},  {123457, 65536}, {199999, 4},    {200000, 3},
                      {200002, 1}, {200002, 100},   {199000, 5000}, {50, 0}};
        for (size_t i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
            uint8_t *buf = malloc(ranges[i].n + 1);
            size_t got = 12345, want;
            if (!buf) abort();
            want = ranges[i].off >= n                ? 0
                   : n - ranges[i].off < ranges[i].n ? n - (size_t)ranges[i].off
                                                     : ranges[i].n;
            rc = b->ops->read(b, key, ranges[i].off, buf, ranges[i].n, &got, &err);
            CHECK(rc == AD_OK && got == want &&
                      (want == 0 || memcmp(buf, data + ranges[i].off, want) == 0),
                  "read [%llu, +%zu): %s got %zu, want %zu identical bytes",
                  (unsigned long long)ranges[i].off, ranges[i].n, ad_code_name(rc), got, want);
            free(buf);
        }
    }
    /* reading at or past the end gives got = 0 */
    {
        static const uint64_t offs[] = {
            200003, 200004, 1u << 30, (uint64_t)1 << 40, (uint64_t)INT64_MAX, UINT64_MAX};
        uint8_t buf[64];
        for (size_t i = 0; i < sizeof(offs) / sizeof(offs[0]); i++) {
            size_t got = 12345;
            rc = b->ops->read(b, key, offs[i], buf, sizeof(buf), &got, &err);
            CHECK(rc == AD_OK && got == 0, "read past the end at %llu: %s got %zu (%s)",
                  (unsigned long long)offs[i], ad_code_name(rc), got, err.msg);
        }
    }
    /* reads in odd-sized steps reassemble the object */
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
    CHECK(tmp_entries() == 0, "after abort .tmp has %d entries", tmp_entries());

    /* abort with nothing written */
    rc = b->ops->writer_open(b, "assets/a2/empty-abort", &w, &err);
    CHECK(rc == AD_OK, "writer_open: %s", ad_code_name(rc));
    if (rc == AD_OK) b->ops->writer_abort(w);
    expect_missing(b, "assets/a2/empty-abort", "after an empty abort");
    CHECK(tmp_entries() == 0, "after an empty abort .tmp has %d entries", tmp_entries());

    /* aborting a writer over an existing object leaves the old object */
    rc = put(b, "assets/a2/keep", "old", 3, 3, &err);
    CHECK(rc == AD_OK, "put keep: %s", ad_code_name(rc));
    rc = b->ops->writer_open(b, "assets/a2/keep", &w, &err);
    if (rc == AD_OK) {
        b->ops->writer_write(w, data, 5000, &err);
        b->ops->writer_abort(w);
    }
    expect_object(b, "assets/a2/keep", (const uint8_t *)"old", 3, "abort over an object");
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
    CHECK(rc == AD_OK, "put v1: %s", ad_code_name(rc));
    expect_object(b, key, (const uint8_t *)v1, strlen(v1), "v1");
    rc = put(b, key, v2, strlen(v2), 7, &err);
    CHECK(rc == AD_OK, "put v2 over v1: %s", ad_code_name(rc));
    expect_object(b, key, (const uint8_t *)v2, strlen(v2), "replaced by a longer one");
    rc = put(b, key, v3, strlen(v3), 1, &err);
    CHECK(rc == AD_OK, "put v3 over v2: %s", ad_code_name(rc));
    expect_object(b, key, (const uint8_t *)v3, strlen(v3), "replaced by a shorter one");

    /* two writers on one key: the last commit wins, whole */
    {
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
            CHECK(tmp_entries() == 2, "two writers: %d files in .tmp", tmp_entries());
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

    /* the empty object */
    rc = put(b, "assets/a3/empty", "", 0, 1, &err);
    CHECK(rc == AD_OK, "put empty: %s", ad_code_name(rc));
    expect_object(b, "assets/a3/empty", (const uint8_t *)"", 0, "empty object");

    rc = b->ops->remove(b, key, &err);
    CHECK(rc == AD_OK, "remove: %s (%s)", ad_code_name(rc), err.msg);
    expect_missing(b, key, "after remove");
    rc = b->ops->remove(b, key, &err);
    CHECK(rc == AD_OK, "remove again: %s, want ok", ad_code_name(rc));
    rc = b->ops->remove(b, "never/written/at/all", &err);
    CHECK(rc == AD_OK, "remove of a key never written: %s, want ok", ad_code_name(rc));
    expect_object(b, "assets/a3/empty", (const uint8_t *)"", 0, "a sibling after remove");

    /* writing again after remove */
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

    for (size_t i = 0; i <= sizeof(bad) / sizeof(bad[0]); i++) {
        const char *key = bad[i < sizeof(bad) / sizeof(bad[0]) ? i : 0];
        ad_blob_writer *w = (ad_blob_writer *)&err; /* must be reset to NULL */
        uint64_t size;
        uint8_t buf[4];
        size_t got;
        if (i == sizeof(bad) / sizeof(bad[0])) {
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
    }
    CHECK(tmp_entries() == 0, "bad keys left %d files in .tmp", tmp_entries());

    /* keys the rules allow */
    {
        static const char *const good[] = {"ünïcödé/日本語/😀.bin",
                                           "with space/x y",
                                           "100%",
                                           "a/.hidden",
                                           "a/..b",
                                           "a/b.",
                                           "~tilde",
                                           "x"};
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            char body[64];
            snprintf(body, sizeof(body), "body of key %zu", i);
            CHECK(ad_blob_key_check(good[i], NULL) == AD_OK, "key check refuses \"%s\"", good[i]);
            rc = put(b, good[i], body, strlen(body), 4, &err);
            CHECK(rc == AD_OK, "put \"%s\": %s (%s)", good[i], ad_code_name(rc), err.msg);
            expect_object(b, good[i], (const uint8_t *)body, strlen(body), "allowed key");
        }
    }
    /* the longest key: 1024 bytes in parts a file system accepts */
    {
        char key[AD_BLOB_KEY_MAX + 1];
        size_t n = 0;
        while (n < AD_BLOB_KEY_MAX) {
            key[n] = (n % 200 == 199 && n + 1 < AD_BLOB_KEY_MAX) ? '/' : 'p';
            n++;
        }
        key[AD_BLOB_KEY_MAX] = '\0';
        CHECK(ad_blob_key_check(key, NULL) == AD_OK, "a 1024-byte key is refused");
        rc = put(b, key, "long", 4, 4, &err);
        CHECK(rc == AD_OK, "put a 1024-byte key: %s (%s)", ad_code_name(rc), err.msg);
        expect_object(b, key, (const uint8_t *)"long", 4, "1024-byte key");
    }
    /* a part longer than a file name may be (NAME_MAX 255) is refused
     * before anything is written, not after the upload has streamed */
    {
        char key[320];
        memcpy(key, "assets/long/", 12);
        memset(key + 12, 'n', 300);
        key[312] = '\0';
        CHECK(ad_blob_key_check(key, NULL) == AD_E_BAD_REQUEST,
              "a key with a 300-byte part is refused");
        rc = put(b, key, "part", 4, 4, &err);
        CHECK(rc == AD_E_BAD_REQUEST && strstr(err.msg, "longer than 255"),
              "put a key with a 300-byte part: %s (%s)", ad_code_name(rc), err.msg);
        key[12 + 255] = '\0';
        CHECK(ad_blob_key_check(key, NULL) == AD_OK, "a 255-byte part is fine");
        CHECK(tmp_entries() == 0, "after a refused key .tmp has %d entries", tmp_entries());
    }
}

static void test_large(ad_blob *b)
{
    const size_t n = 3 * 1024 * 1024 + 17;
    uint8_t *data = random_bytes(n, 99);
    ad_error err = {0};
    ad_code rc = put(b, "assets/big/blob.bin", data, n, 65536, &err);
    CHECK(rc == AD_OK, "put 3 MiB: %s (%s)", ad_code_name(rc), err.msg);
    expect_object(b, "assets/big/blob.bin", data, n, "3 MiB object");
    {
        uint8_t *got = NULL;
        size_t len = 0;
        rc = get_all(b, "assets/big/blob.bin", 1 << 20, &got, &len, &err);
        CHECK(rc == AD_OK && len == n && memcmp(got, data, n) == 0,
              "3 MiB in 1 MiB reads: %s, %zu bytes", ad_code_name(rc), len);
        free(got);
    }
    free(data);
}

/* An object over several writeback steps of the writer (8 MiB), written
 * in pieces that do not divide them. */
static void test_writeback_steps(ad_blob *b)
{
    const size_t n = 20 * 1024 * 1024 + 17;
    uint8_t *data = random_bytes(n, 7);
    ad_error err = {0};
    ad_code rc = put(b, "assets/big/steps.bin", data, n, (1 << 20) + 3, &err);
    CHECK(rc == AD_OK, "put 20 MiB: %s (%s)", ad_code_name(rc), err.msg);
    expect_object(b, "assets/big/steps.bin", data, n, "20 MiB object");
    free(data);
}

static void test_reopen(const char *url)
{
    ad_blob *b = NULL;
    ad_error err = {0};
    ad_code rc;
    char stray[160];
    FILE *f;

    snprintf(stray, sizeof(stray), "%s/.tmp/w-stray1", root);
    f = fopen(stray, "w");
    CHECK(f != NULL, "cannot create %s", stray);
    if (f) {
        fputs("half-written upload", f);
        fclose(f);
    }
    snprintf(stray, sizeof(stray), "%s/.tmp/leftover", root);
    f = fopen(stray, "w");
    if (f) fclose(f);
    CHECK(tmp_entries() == 2, ".tmp has %d entries before reopening, want 2", tmp_entries());

    rc = ad_blob_open(url, &b, &err);
    CHECK(rc == AD_OK, "reopen: %s (%s)", ad_code_name(rc), err.msg);
    if (rc) return;
    CHECK(tmp_entries() == 0, "reopening left %d entries in .tmp", tmp_entries());
    rc = b->ops->ping(b, &err);
    CHECK(rc == AD_OK, "ping after reopen: %s", ad_code_name(rc));
    /* committed objects survive */
    {
        uint64_t size = 0;
        rc = b->ops->stat(b, "assets/big/blob.bin", &size, &err);
        CHECK(rc == AD_OK && size == 3 * 1024 * 1024 + 17, "after reopen, the 3 MiB object: %s",
              ad_code_name(rc));
        expect_object(b, "assets/a3/file.txt", (const uint8_t *)"first version of the object",
                      strlen("first version of the object"), "after reopen");
    }
    b->ops->close(b);
}

static void test_open_errors(void)
{
    ad_blob *b = NULL;
    ad_error err = {0};
    ad_code rc;
    rc = ad_blob_open("nosuch:///x", &b, &err);
    CHECK(rc == AD_E_BAD_REQUEST && !b, "unknown scheme: %s", ad_code_name(rc));
    rc = ad_blob_open("file://", &b, &err);
    CHECK(rc == AD_E_BAD_REQUEST && !b, "file:// without a path: %s", ad_code_name(rc));
    rc = ad_blob_open("no-colon", &b, &err);
    CHECK(rc == AD_E_BAD_REQUEST && !b, "URL without a scheme: %s", ad_code_name(rc));
    rc = ad_blob_open("file:///proc/version/blobs", &b, &err);
    CHECK(rc != AD_OK && !b, "a root under a regular file: %s", ad_code_name(rc));
}

int main(void)
{
    char url[128];
    ad_blob *b = NULL;
    ad_error err = {0};
    ad_code rc;

    snprintf(root, sizeof(root), "/tmp/assetd-blob-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(url, sizeof(url), "file://%s", root);

    rc = ad_blob_open(url, &b, &err);
    CHECK(rc == AD_OK && b, "open %s: %s (%s)", url, ad_code_name(rc), err.msg);
    if (rc == AD_OK) {
        CHECK(b->ops->version == AD_BLOB_OPS_VERSION, "ops version %d", b->ops->version);
        rc = b->ops->ping(b, &err);
        CHECK(rc == AD_OK, "ping: %s (%s)", ad_code_name(rc), err.msg);
        expect_missing(b, "assets/none", "fresh store");

        test_chunked_and_ranges(b);
        test_abort(b);
        test_replace_remove(b);
        test_keys(b);
        test_large(b);
        test_writeback_steps(b);
        CHECK(tmp_entries() == 0, "at the end .tmp has %d entries", tmp_entries());
        b->ops->close(b);
        test_reopen(url);
    }
    test_open_errors();

    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary("test_blob_file");
}
