/*
 * test_zipspec.c — storing ZIP entries while the upload arrives
 * (core/zipspec.h), below HTTP.
 *
 * The scanner of local headers: archives built here byte by byte and fed
 * in pieces of every awkward size (1 byte, a header's length ± 1, ...);
 * every byte is either passed or taken, in order, and only the entries
 * whose data length the header tells are offered (zip64 sizes read, data
 * descriptors and garbage end the scan). The speculation on a real file
 * blob store in a temporary directory: which entries are taken (big,
 * stored, plain names; not small, deflated, non-ASCII, duplicate or
 * asset.json), the spool's holes, the objects' bytes, the manifest read
 * back with sizes, CRC-32, SHA-256 and MIME type, the lookup by data
 * offset, removal, a cut entry, and damaged manifests refused.
 */
#include <fcntl.h>
#include <ftw.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "core/zipspec.h"
#include "store/blob.h"
#include "util/buf.h"

static char dir[64];

/* --- archives --- */

static void put16(ad_buf *b, unsigned v)
{
    unsigned char p[2] = {(unsigned char)v, (unsigned char)(v >> 8)};
    ad_buf_append(b, (const char *)p, 2);
}

static void put32(ad_buf *b, uint32_t v)
{
    put16(b, v & 0xffff);
    put16(b, v >> 16);
}

static void put64(ad_buf *b, uint64_t v)
{
    put32(b, (uint32_t)v);
    put32(b, (uint32_t)(v >> 32));
}

/* Appends a local header and data; zip64: sizes in the extra field. */
static void entry(ad_buf *b, const char *name, const char *data, size_t n, unsigned method,
                  unsigned flags, int zip64)
{
    put32(b, 0x04034b50);
    put16(b, 45);
    put16(b, flags);
    put16(b, method);
    put16(b, 0);
    put16(b, 0x21);
    put32(b, (uint32_t)crc32(0, (const Bytef *)data, (uInt)n));
    put32(b, zip64 ? 0xffffffffu : (uint32_t)n);
    put32(b, zip64 ? 0xffffffffu : (uint32_t)n);
    put16(b, (unsigned)strlen(name));
    put16(b, zip64 == 1 ? 20 : 0);
    ad_buf_puts(b, name);
    if (zip64 == 1) {
        put16(b, 1);
        put16(b, 16);
        put64(b, n);
        put64(b, n);
    }
    ad_buf_append(b, data, n);
}

static void tail(ad_buf *b)
{
    put32(b, 0x02014b50); /* a central directory begins: the scan ends */
    ad_buf_puts(b, "rest of the central directory");
}

/* --- the scanner --- */

typedef struct rec {
    ad_buf pass, take;
    char names[16][64];
    uint64_t data_off[16];
    uint64_t size[16];
    int n, ended;
    int in_take;
} rec;

static int r_begin(void *ctx, const ad_zipscan_entry *e, ad_error *err)
{
    rec *r = ctx;
    (void)err;
    if (r->n < 16) {
        snprintf(r->names[r->n], sizeof(r->names[0]), "%.*s", (int)e->name_len, e->name);
        r->data_off[r->n] = e->data_off;
        r->size[r->n] = e->csize;
        r->n++;
    }
    r->in_take = e->name_len && e->name[0] == 'T';
    return r->in_take;
}

static ad_code r_take(void *ctx, const char *p, size_t n, ad_error *err)
{
    rec *r = ctx;
    (void)err;
    CHECK(r->in_take, "take outside a taken entry");
    return ad_buf_append(&r->take, p, n);
}

static ad_code r_end(void *ctx, ad_error *err)
{
    rec *r = ctx;
    (void)err;
    r->ended++;
    r->in_take = 0;
    return AD_OK;
}

static ad_code r_pass(void *ctx, const char *p, size_t n, ad_error *err)
{
    rec *r = ctx;
    (void)err;
    return ad_buf_append(&r->pass, p, n);
}

static const ad_zipscan_ops rec_ops = {r_begin, r_take, r_end, r_pass};

static void scan(const ad_buf *a, size_t chunk, rec *r, bool *cut)
{
    ad_zipscan s;
    ad_error err = {0};
    size_t off;
    memset(r, 0, sizeof(*r));
    ad_buf_init(&r->pass, SIZE_MAX);
    ad_buf_init(&r->take, SIZE_MAX);
    ad_zipscan_init(&s, &rec_ops, r);
    for (off = 0; off < a->len; off += chunk) {
        size_t k = a->len - off < chunk ? a->len - off : chunk;
        CHECK(ad_zipscan_feed(&s, a->data + off, k, &err) == AD_OK, "%s", err.msg);
    }
    *cut = ad_zipscan_cut(&s);
    ad_zipscan_free(&s);
}

static void rec_free(rec *r)
{
    ad_buf_free(&r->pass);
    ad_buf_free(&r->take);
}

static void test_scanner(void)
{
    static const size_t chunks[] = {1, 3, 29, 30, 31, 64, 4096, 1 << 20};
    char big[5000], small[10];
    ad_buf a;
    size_t i, j;
    for (i = 0; i < sizeof(big); i++) big[i] = (char)(i * 7);
    memset(small, 'x', sizeof(small));
    ad_buf_init(&a, SIZE_MAX);
    entry(&a, "asset.json", "{}", 2, 0, 0, 0);
    entry(&a, "T1", big, sizeof(big), 0, 0, 0);
    entry(&a, "p", small, sizeof(small), 8, 0, 0);
    entry(&a, "T2", big, 1000, 0, 0, 1); /* zip64 sizes */
    entry(&a, "T3", "", 0, 0, 0, 0);     /* empty */
    tail(&a);
    for (j = 0; j < sizeof(chunks) / sizeof(chunks[0]); j++) {
        rec r;
        bool cut;
        scan(&a, chunks[j], &r, &cut);
        CHECK(r.n == 5, "chunk %zu: %d entries", chunks[j], r.n);
        CHECK(strcmp(r.names[1], "T1") == 0 && strcmp(r.names[3], "T2") == 0, "names");
        CHECK(r.size[1] == sizeof(big) && r.size[3] == 1000 && r.size[4] == 0, "sizes");
        CHECK(r.data_off[0] == 30 + 10, "data offset of the first entry: %llu",
              (unsigned long long)r.data_off[0]);
        CHECK(memcmp(a.data + r.data_off[1], big, 16) == 0, "data offset of T1");
        CHECK(r.ended == 3, "chunk %zu: %d ended", chunks[j], r.ended);
        CHECK(r.take.len == sizeof(big) + 1000, "chunk %zu: %zu bytes taken", chunks[j],
              r.take.len);
        CHECK(r.pass.len + r.take.len == a.len, "every byte passed or taken");
        CHECK(!cut, "not cut");
        /* the passed bytes are the archive without the taken data */
        CHECK(r.pass.len > 100 && memcmp(r.pass.data, a.data, r.data_off[1]) == 0,
              "pass before T1");
        CHECK(memcmp(r.take.data, big, sizeof(big)) == 0, "T1's bytes");
        rec_free(&r);
    }
    ad_buf_free(&a);

    /* a data descriptor, missing zip64 sizes, garbage: the rest passes */
    {
        static const struct {
            unsigned flags;
            int zip64;
            const char *what;
        } stop[] = {{8, 0, "data descriptor"}, {0, 2, "zip64 without its extra field"}};
        for (i = 0; i < 2; i++) {
            rec r;
            bool cut;
            ad_buf_init(&a, SIZE_MAX);
            entry(&a, "T1", big, 100, 0, 0, 0);
            entry(&a, "T2", big, 100, 0, stop[i].flags, stop[i].zip64);
            entry(&a, "T3", big, 100, 0, 0, 0);
            tail(&a);
            scan(&a, 7, &r, &cut);
            CHECK(r.n == 1 && r.take.len == 100, "%s: %d entries, %zu taken", stop[i].what, r.n,
                  r.take.len);
            CHECK(r.pass.len + r.take.len == a.len, "%s: every byte", stop[i].what);
            rec_free(&r);
            ad_buf_free(&a);
        }
    }
    {
        rec r;
        bool cut;
        ad_buf_init(&a, SIZE_MAX);
        ad_buf_puts(&a, "MZ self-extractor stub ");
        entry(&a, "T1", big, 100, 0, 0, 0);
        scan(&a, 5, &r, &cut);
        CHECK(r.n == 0 && r.pass.len == a.len, "garbage first: nothing offered");
        rec_free(&r);
        ad_buf_free(&a);
    }
    {
        /* cut inside a taken entry; long names and extra fields */
        rec r;
        bool cut;
        char name[3000];
        memset(name, 'T', sizeof(name) - 1);
        name[sizeof(name) - 1] = '\0';
        ad_buf_init(&a, SIZE_MAX);
        entry(&a, name, big, 100, 0, 0, 0);
        entry(&a, "T2", big, 4000, 0, 0, 0);
        a.len -= 1000;
        scan(&a, 13, &r, &cut);
        CHECK(r.n == 2 && strlen(r.names[0]) == 63, "long name offered");
        CHECK(cut && r.ended == 1, "cut inside T2");
        rec_free(&r);
        ad_buf_free(&a);
    }
}

/* --- the speculation --- */

typedef struct spool {
    ad_buf b;
    uint64_t holes;
} spool;

static ad_code sp_bytes(void *ctx, const char *p, size_t n, ad_error *err)
{
    (void)err;
    return ad_buf_append(&((spool *)ctx)->b, p, n);
}

static ad_code sp_hole(void *ctx, uint64_t n, ad_error *err)
{
    spool *s = ctx;
    (void)err;
    s->holes += n;
    while (n--)
        if (ad_buf_append(&s->b, "\0", 1)) return AD_E_NOMEM;
    return AD_OK;
}

static ad_blob *open_store(void)
{
    char url[160];
    ad_blob *b = NULL;
    ad_error err = {0};
    snprintf(url, sizeof(url), "file://%s/blobs", dir);
    CHECK(ad_blob_open(url, &b, &err) == AD_OK, "%s", err.msg);
    return b;
}

static bool object_is(ad_blob *b, const char *key, const char *want, size_t n)
{
    char *got = malloc(n + 1);
    size_t len = 0, g;
    ad_error err = {0};
    bool ok = got != NULL;
    while (ok && len <= n) {
        if (b->ops->read(b, key, len, got + len, n + 1 - len, &g, &err) != AD_OK)
            ok = false;
        else if (g == 0)
            break;
        else
            len += g;
    }
    ok = ok && len == n && memcmp(got, want, n) == 0;
    free(got);
    return ok;
}

static bool exists(ad_blob *b, const char *key)
{
    uint64_t size;
    return b->ops->stat(b, key, &size, NULL) == AD_OK;
}

#define UID "0b9f7c1e-3a5d-4c2b-9e8f-1a2b3c4d5e6f"

static ad_zipspec *start(ad_blob *b, spool *sp, const char *manifest, uint64_t min)
{
    ad_zipspec_opts o = {.upload_id = UID,
                         .blobs = b,
                         .manifest = manifest,
                         .min_entry = min,
                         .limits = {100, 1 << 30, 100}};
    ad_zipspec_sink sink = {sp_bytes, sp_hole, sp};
    ad_zipspec *z = NULL;
    ad_error err = {0};
    memset(sp, 0, sizeof(*sp));
    ad_buf_init(&sp->b, SIZE_MAX);
    CHECK(ad_zipspec_new(&o, &sink, &z, &err) == AD_OK, "%s", err.msg);
    return z;
}

static void feed(ad_zipspec *z, const ad_buf *a, size_t chunk)
{
    ad_error err = {0};
    size_t off;
    for (off = 0; off < a->len; off += chunk) {
        size_t k = a->len - off < chunk ? a->len - off : chunk;
        CHECK(ad_zipspec_feed(z, a->data + off, k, &err) == AD_OK, "%s", err.msg);
    }
}

/* Where text first occurs in a (binary) archive. */
static size_t find(const ad_buf *a, const char *text)
{
    size_t n = strlen(text), i;
    for (i = 0; i + n <= a->len; i++)
        if (memcmp(a->data + i, text, n) == 0) return i;
    return a->len;
}

static void sha(const char *p, size_t n, unsigned char out[32])
{
    unsigned len = 32;
    EVP_Digest(p, n, out, &len, EVP_sha256(), NULL);
}

static void test_speculation(void)
{
    const size_t big_n = 300000, b2_n = 200001;
    char *big = malloc(big_n), *b2 = malloc(b2_n), manifest[128];
    char text[1000];
    ad_blob *b = open_store();
    ad_buf a;
    spool sp;
    ad_zipspec *z;
    ad_spec_list l;
    ad_error err = {0};
    size_t i;
    unsigned char h[32];
    if (!b || !big || !b2) return;
    for (i = 0; i < big_n; i++) big[i] = (char)(rand() & 0xff);
    for (i = 0; i < b2_n; i++) b2[i] = (char)('a' + i % 26);
    for (i = 0; i < sizeof(text); i++) text[i] = 'q';
    snprintf(manifest, sizeof(manifest), "%s/" UID ".spec", dir);
    ad_buf_init(&a, SIZE_MAX);
    entry(&a, "asset.json", big, big_n, 0, 0, 0);        /* the job reads it: never taken */
    entry(&a, "big.bin", big, big_n, 0, 0, 0);           /* taken */
    entry(&a, "./dot/b2.txt", b2, b2_n, 0, 0, 1);        /* taken as dot/b2.txt */
    entry(&a, "small.bin", text, sizeof(text), 0, 0, 0); /* under the minimum */
    entry(&a, "n\xc3\xa9v.bin", big, big_n, 0, 0, 0);    /* not ASCII */
    entry(&a, "big.bin", big, big_n, 0, 0, 0);           /* a duplicate */
    entry(&a, "defl.bin", big, big_n, 8, 0, 0);          /* deflated */
    entry(&a, "enc.bin", big, big_n, 0, 1, 0);           /* encrypted */
    entry(&a, "a\\b.bin", big, big_n, 0, 0, 0);          /* backslash */
    entry(&a, "../up.bin", big, big_n, 0, 0, 0);         /* refused name */
    entry(&a, "dir/", big, big_n, 0, 0, 0);              /* a directory */
    tail(&a);

    z = start(b, &sp, manifest, 100000);
    feed(z, &a, 65536 + 7);
    CHECK(ad_zipspec_finish(z, &err) == AD_OK, "%s", err.msg);
    CHECK(ad_zipspec_taken(z) == 2, "taken %zu", ad_zipspec_taken(z));
    ad_zipspec_free(z);
    CHECK(sp.b.len == a.len && sp.holes == big_n + b2_n, "spool %zu bytes, %llu in holes", sp.b.len,
          (unsigned long long)sp.holes);
    CHECK(object_is(b, UID "/big.bin", big, big_n), "big.bin stored");
    CHECK(object_is(b, UID "/dot/b2.txt", b2, b2_n), "dot/b2.txt stored");
    CHECK(!exists(b, UID "/small.bin") && !exists(b, UID "/asset.json"), "not taken");

    CHECK(ad_zipspec_load(manifest, UID, &l, &err) == AD_OK, "%s", err.msg);
    CHECK(l.n == 2 && !l.bucket, "%zu records", l.n);
    if (l.n == 2) {
        CHECK_STR(l.f[0].name, "big.bin");
        CHECK_STR(l.f[1].name, "dot/b2.txt");
        CHECK(l.f[0].complete && l.f[1].complete, "complete");
        CHECK(l.f[0].size == big_n && l.f[1].size == b2_n, "sizes");
        CHECK(l.f[0].crc == (uint32_t)crc32(0, (const Bytef *)big, (uInt)big_n), "crc");
        sha(b2, b2_n, h);
        CHECK(memcmp(l.f[1].sha256, h, 32) == 0, "sha256");
        CHECK_STR(l.f[1].mime, "text/plain");
        CHECK(memcmp(sp.b.data + l.f[0].data_off - 7, "big.bin", 7) == 0, "data offset");
        CHECK(ad_spec_list_find(&l, l.f[0].data_off) == &l.f[0], "find 0");
        CHECK(ad_spec_list_find(&l, l.f[1].data_off) == &l.f[1], "find 1");
        CHECK(ad_spec_list_find(&l, l.f[1].data_off + 1) == NULL, "find between");
        CHECK(ad_spec_list_find(&l, 0) == NULL, "find before");
    }
    ad_spec_list_free(&l);
    CHECK(ad_zipspec_drop(manifest, UID, false, b, NULL, &err) == AD_OK, "%s", err.msg);
    CHECK(!exists(b, UID "/big.bin") && !exists(b, UID "/dot/b2.txt"), "dropped objects");
    CHECK(access(manifest, F_OK) != 0, "manifest removed");
    CHECK(ad_zipspec_drop(manifest, UID, false, b, NULL, &err) == AD_OK, "no manifest: ok");
    ad_buf_free(&sp.b);

    /* keep: the objects stay */
    z = start(b, &sp, manifest, 100000);
    feed(z, &a, 4096);
    CHECK(ad_zipspec_finish(z, &err) == AD_OK, "%s", err.msg);
    ad_zipspec_free(z);
    CHECK(ad_zipspec_drop(manifest, UID, true, b, NULL, &err) == AD_OK, "%s", err.msg);
    CHECK(exists(b, UID "/big.bin") && access(manifest, F_OK) != 0, "kept, manifest gone");
    b->ops->remove(b, UID "/big.bin", NULL);
    b->ops->remove(b, UID "/dot/b2.txt", NULL);
    ad_buf_free(&sp.b);

    /* cut off inside dot/b2.txt: discard removes big.bin, the cut object
     * never existed */
    z = start(b, &sp, manifest, 100000);
    {
        ad_buf half = a;
        half.len = find(&a, "./dot") + 200000;
        feed(z, &half, 1000);
    }
    CHECK(exists(b, UID "/big.bin"), "stored before the cut");
    ad_zipspec_discard(z);
    ad_zipspec_free(z);
    CHECK(!exists(b, UID "/big.bin") && !exists(b, UID "/dot/b2.txt"), "discarded");
    CHECK(access(manifest, F_OK) != 0, "manifest removed by discard");
    ad_buf_free(&sp.b);

    /* the body ends inside an entry: finish drops it, the manifest shows
     * it incomplete */
    z = start(b, &sp, manifest, 100000);
    {
        ad_buf half = a;
        half.len = find(&a, "./dot") + 200000;
        feed(z, &half, 1000);
    }
    CHECK(ad_zipspec_finish(z, &err) == AD_OK, "%s", err.msg);
    ad_zipspec_free(z);
    CHECK(ad_zipspec_load(manifest, UID, &l, &err) == AD_OK, "%s", err.msg);
    CHECK(l.n == 2 && l.f[0].complete && !l.f[1].complete, "the cut entry is incomplete");
    ad_spec_list_free(&l);
    CHECK(!exists(b, UID "/dot/b2.txt"), "no object for the cut entry");
    CHECK(ad_zipspec_drop(manifest, UID, false, b, NULL, &err) == AD_OK, "%s", err.msg);
    CHECK(!exists(b, UID "/big.bin"), "dropped");
    ad_buf_free(&sp.b);

    free(big);
    free(b2);
    ad_buf_free(&a);
    b->ops->close(b);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");
    if (!f) return;
    fputs(text, f);
    fclose(f);
}

static void test_damaged_manifests(void)
{
    static const char *const bad[] = {
        "",
        "assetd-zipspec 2\nB -\n",
        "assetd-zipspec 1\nB -\nK x " UID "/a\n",
        "assetd-zipspec 1\nB -\nK 5 other-upload/a\n",
        "assetd-zipspec 1\nB -\nK 5 " UID "/a\nK 5 " UID "/b\n",
        "assetd-zipspec 1\nB -\nS 5 40 10 00000000 "
        "0000000000000000000000000000000000000000000000000000000000000000 x\n",
        "assetd-zipspec 1\nB -\nK 5 " UID "/a\nS 6 40 10 00000000 "
        "0000000000000000000000000000000000000000000000000000000000000000 x\n",
        "assetd-zipspec 1\nB -\nK 5 " UID "/a\nS 5 40 10 0000zz00 "
        "0000000000000000000000000000000000000000000000000000000000000000 x\n",
        "assetd-zipspec 1\nB -\nK 5 " UID "/a\nS 5 4 10 00000000 "
        "0000000000000000000000000000000000000000000000000000000000000000 x\n",
        "assetd-zipspec 1\nB -\nQ what\n",
    };
    char path[128];
    ad_spec_list l;
    ad_error err = {0};
    size_t i;
    snprintf(path, sizeof(path), "%s/damaged.spec", dir);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ad_code rc;
        write_file(path, bad[i]);
        rc = ad_zipspec_load(path, UID, &l, &err);
        CHECK(rc == AD_E_INVALID && strstr(err.msg, "damaged"), "case %zu: rc=%d %s", i, rc,
              err.msg);
    }
    /* a line cut by a crash is ignored; a bucket is read back */
    write_file(path, "assetd-zipspec 1\nB models\nK 5 " UID "/a\nS 5 4");
    CHECK(ad_zipspec_load(path, UID, &l, &err) == AD_OK, "%s", err.msg);
    CHECK(l.n == 1 && !l.f[0].complete && l.bucket && strcmp(l.bucket, "models") == 0, "cut");
    ad_spec_list_free(&l);
    unlink(path);
    CHECK(ad_zipspec_load(path, UID, &l, &err) == AD_E_NOT_FOUND, "missing");
    CHECK(!ad_zipspec_manifest_path("x.tar", path, sizeof(path)), "not a spool name");
    CHECK(ad_zipspec_manifest_path("/s/a.zip", path, sizeof(path)) && !strcmp(path, "/s/a.spec"),
          "manifest path");
}

static int rm_one(const char *p, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(p);
}

int main(void)
{
    snprintf(dir, sizeof(dir), "/tmp/assetd-zipspec-XXXXXX");
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    test_scanner();
    test_speculation();
    test_damaged_manifests();
    nftw(dir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary("zipspec");
}
