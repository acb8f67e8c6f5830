/*
 * test_zipwrite.c — the zip layout engine: exact length, any range equals
 * the same bytes of the whole, deterministic output, name rules, and
 * acceptance by four independent readers (unzip -t, python3 -m zipfile -t,
 * bsdtar -tf, 7z t) for a plain archive, one with more than 65 535 entries
 * (zip64 end records) and one with a file over 4 GiB followed by another
 * (zip64 sizes and offsets), the last written as a sparse file so it costs
 * no disk. A reader that is not installed is reported as skipped.
 *
 * ZIPWRITE_SKIP_BIG=1 leaves out the 4 GiB case (it reads 4 GiB per tool).
 */
#include <fcntl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include "check.h"
#include "core/zipwrite.h"

typedef struct mem_src {
    const char **data;
    const uint64_t *sizes;
    bool zeros; /* every entry is zeros, data unused */
} mem_src;

static ad_code mem_read(void *ctx, size_t i, uint64_t off, void *buf, size_t n, size_t *got,
                        ad_error *err)
{
    mem_src *s = ctx;
    uint64_t left = s->sizes[i] > off ? s->sizes[i] - off : 0;
    size_t k = left < n ? (size_t)left : n;
    (void)err;
    if (s->zeros || !s->data[i])
        memset(buf, 0, k);
    else
        memcpy(buf, s->data[i] + off, k);
    *got = k;
    return AD_OK;
}

static uint32_t crc_of(const char *p, size_t n)
{
    return (uint32_t)crc32(crc32(0L, Z_NULL, 0), (const Bytef *)p, (uInt)n);
}

/* CRC-32 of n zero bytes, by doubling with crc32_combine. */
static uint32_t crc_zeros(uint64_t n)
{
    static char zero[1 << 16];
    uint64_t block = sizeof(zero);
    uLong c = 0, cb = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)zero, (uInt)block);
    bool have = false;
    uint64_t tail = n % block, blocks = n / block;
    while (blocks) {
        if (blocks & 1) c = have ? crc32_combine64(c, cb, (z_off64_t)block) : cb, have = true;
        cb = crc32_combine64(cb, cb, (z_off64_t)block);
        block *= 2;
        blocks >>= 1;
    }
    if (tail) {
        uLong ct = crc32(crc32(0L, Z_NULL, 0), (const Bytef *)zero, (uInt)tail);
        c = have ? crc32_combine64(c, ct, (z_off64_t)tail) : ct;
    }
    return (uint32_t)c;
}

/* Writes the whole archive to path; runs of zeros become holes. */
static bool write_archive(const ad_zip *z, mem_src *src, const char *path)
{
    static char buf[1 << 20], zero[1 << 20];
    uint64_t off = 0, len = ad_zip_length(z);
    ad_error err = {0};
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    bool ok = fd >= 0;
    while (ok && off < len) {
        size_t got = 0;
        if (ad_zip_read(z, off, buf, sizeof(buf), &got, mem_read, src, &err) || got == 0) {
            fprintf(stderr, "read at %llu: %s\n", (unsigned long long)off, err.msg);
            ok = false;
            break;
        }
        if (memcmp(buf, zero, got) == 0) {
            ok = lseek(fd, (off_t)(off + got), SEEK_SET) >= 0;
        } else {
            ok = pwrite(fd, buf, got, (off_t)off) == (ssize_t)got;
        }
        off += got;
    }
    if (ok) ok = ftruncate(fd, (off_t)len) == 0;
    if (fd >= 0) close(fd);
    return ok && off == len;
}

static bool have_tool(const char *name)
{
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "command -v %s >/dev/null 2>&1", name);
    return system(cmd) == 0;
}

/* Runs the four readers on path; each must accept it. */
static void check_tools(const char *path, const char *what)
{
    static const struct {
        const char *tool, *cmd;
    } tools[] = {
        {"unzip", "unzip -t -qq"},
        {"python3", "python3 -m zipfile -t"},
        {"bsdtar", "bsdtar -tf"},
        {"7z", "7z t"},
    };
    size_t i;
    bool ok, all_ok = true;
    for (i = 0; i < sizeof(tools) / sizeof(tools[0]); i++) {
        char cmd[1024];
        if (!have_tool(tools[i].tool)) {
            printf("SKIP %s on %s: %s is not installed\n", tools[i].tool, what, tools[i].tool);
            continue;
        }
        snprintf(cmd, sizeof(cmd), "%s '%s' >'%s.log' 2>&1", tools[i].cmd, path, path);
        ok = system(cmd) == 0;
        CHECK(ok, "%s rejects the %s archive (see %s.log)", tools[i].tool, what, path);
        all_ok = all_ok && ok;
    }
    if (all_ok) { /* the log is kept only when something failed */
        char log[600];
        snprintf(log, sizeof(log), "%s.log", path);
        unlink(log);
    }
}

static void tmp_path(char *out, size_t cap, const char *name)
{
    const char *dir = getenv("TMPDIR");
    snprintf(out, cap, "%s/zipwrite-%d-%s.zip", dir && *dir ? dir : "/tmp", (int)getpid(), name);
}

static void test_small(void)
{
    static const char *names[] = {"readme.txt", "empty", "models/weights.bin", "données/é.txt",
                                  "asset.json"};
    static const char *data[] = {"hello, world\n", "", "\x01\x02\x03\x00\xff", "unicode\n",
                                 "{\"asset_id\":\"x\"}"};
    uint64_t sizes[5];
    ad_zip_entry e[5];
    ad_zip *z = NULL, *z2 = NULL;
    ad_error err = {0};
    mem_src src = {data, sizes, false};
    char path[512], whole[4096], part[4096];
    size_t i, got = 0;
    for (i = 0; i < 5; i++) {
        sizes[i] = i == 2 ? 5 : strlen(data[i]);
        e[i].name = names[i], e[i].size = sizes[i], e[i].crc32 = crc_of(data[i], sizes[i]);
    }
    CHECK(ad_zip_new(e, 5, 1700000000, &z, &err) == AD_OK, "%s", err.msg);
    CHECK(ad_zip_new(e, 5, 1700000000, &z2, &err) == AD_OK, "%s", err.msg);
    if (!z || !z2) return;
    CHECK(ad_zip_length(z) < sizeof(whole), "length %llu", (unsigned long long)ad_zip_length(z));
    CHECK(ad_zip_read(z, 0, whole, sizeof(whole), &got, mem_read, &src, &err) == AD_OK, "%s",
          err.msg);
    CHECK(got == ad_zip_length(z), "got %zu of %llu", got, (unsigned long long)ad_zip_length(z));
    CHECK(ad_zip_digest(z) == ad_zip_digest(z2), "digest differs for the same entries");
    /* every range, in awkward chunk sizes, gives the same bytes as the whole */
    for (i = 1; i < 40; i += 3) {
        uint64_t off = 0;
        bool same = true;
        while (off < got) {
            size_t k = 0;
            if (ad_zip_read(z2, off, part, i, &k, mem_read, &src, &err) || k == 0) break;
            same = same && memcmp(part, whole + off, k) == 0;
            off += k;
        }
        CHECK(off == got && same, "chunked reads of %zu bytes differ", i);
    }
    CHECK(ad_zip_read(z, got, part, 10, &i, mem_read, &src, &err) == AD_OK && i == 0,
          "a read past the end gives nothing");
    tmp_path(path, sizeof(path), "small");
    CHECK(write_archive(z, &src, path), "writing %s", path);
    check_tools(path, "small");
    {
        char cmd[1024];
        snprintf(cmd, sizeof(cmd),
                 "python3 -c \"import zipfile,sys; z=zipfile.ZipFile(sys.argv[1]); "
                 "assert z.read('models/weights.bin')==b'\\x01\\x02\\x03\\x00\\xff'; "
                 "assert z.read('donn\\u00e9es/\\u00e9.txt')==b'unicode\\n'; "
                 "i=z.getinfo('readme.txt'); assert i.date_time==(2023,11,14,22,13,20), "
                 "i.date_time\" '%s'",
                 path);
        CHECK(system(cmd) == 0, "python reads back names, data and the timestamp");
    }
    unlink(path);
    ad_zip_free(z);
    ad_zip_free(z2);
    /* a different mtime changes the bytes and the digest */
    CHECK(ad_zip_new(e, 5, 1600000000, &z, &err) == AD_OK, "%s", err.msg);
    CHECK(z && ad_zip_read(z, 0, part, sizeof(part), &got, mem_read, &src, &err) == AD_OK &&
              memcmp(part, whole, got) != 0,
          "the timestamp is in the bytes");
    ad_zip_free(z);
}

static void test_names(void)
{
    static const char *bad[] = {"",     "/abs", "a/../b", "..",   "./a",
                                "a//b", "a/",   "a\\b",   "a\nb", "\xff\xfe"};
    ad_zip_entry e[2] = {{"a", 0, 0}, {"a", 0, 0}};
    ad_zip *z = NULL;
    ad_error err = {0};
    size_t i;
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        e[0].name = bad[i];
        CHECK(ad_zip_new(e, 1, 0, &z, &err) == AD_E_BAD_REQUEST, "name \"%s\" accepted", bad[i]);
        ad_zip_free(z);
        z = NULL;
    }
    e[0].name = "a";
    CHECK(ad_zip_new(e, 2, 0, &z, &err) == AD_E_BAD_REQUEST, "a duplicate accepted");
    ad_zip_free(z);
    e[1].name = "a/b";
    CHECK(ad_zip_new(e, 2, 0, &z, &err) == AD_E_BAD_REQUEST, "a file that is a directory");
    ad_zip_free(z);
    CHECK(ad_zip_new(e, 0, 0, &z, &err) == AD_OK && ad_zip_length(z) == 22, "empty archive");
    ad_zip_free(z);
}

static void test_many_entries(void)
{
    enum { N = 70000 };
    ad_zip_entry *e = calloc(N, sizeof(*e));
    char(*names)[16] = calloc(N, sizeof(*names));
    uint64_t *sizes = calloc(N, sizeof(*sizes));
    mem_src src = {NULL, sizes, true};
    ad_zip *z = NULL;
    ad_error err = {0};
    uint32_t crc1 = crc_zeros(1);
    char path[512];
    size_t i;
    CHECK(e && names && sizes, "out of memory");
    if (!e || !names || !sizes) goto out;
    for (i = 0; i < N; i++) {
        snprintf(names[i], sizeof(names[i]), "d%zu/f%zu", i / 1000, i);
        sizes[i] = i % 2;
        e[i].name = names[i], e[i].size = sizes[i], e[i].crc32 = sizes[i] ? crc1 : 0;
    }
    CHECK(ad_zip_new(e, N, 1700000000, &z, &err) == AD_OK, "%s", err.msg);
    if (!z) goto out;
    tmp_path(path, sizeof(path), "many");
    CHECK(write_archive(z, &src, path), "writing %s", path);
    check_tools(path, "70 000-entry");
    unlink(path);
out:
    ad_zip_free(z);
    free(e);
    free(names);
    free(sizes);
}

static void test_big(void)
{
    static const char *data[] = {NULL, NULL};
    uint64_t sizes[2] = {(1ull << 32) + 7, 0};
    ad_zip_entry e[2] = {{"big.bin", 0, 0}, {"after.bin", 0, 0}};
    mem_src src = {data, sizes, true};
    ad_zip *z = NULL;
    ad_error err = {0};
    char path[512];
    sizes[1] = 3;
    e[0].size = sizes[0], e[0].crc32 = crc_zeros(sizes[0]);
    e[1].size = sizes[1], e[1].crc32 = crc_zeros(sizes[1]);
    CHECK(ad_zip_new(e, 2, 1700000000, &z, &err) == AD_OK, "%s", err.msg);
    if (!z) return;
    CHECK(ad_zip_length(z) > sizes[0] + 100, "length");
    tmp_path(path, sizeof(path), "big");
    CHECK(write_archive(z, &src, path), "writing %s (sparse)", path);
    check_tools(path, "4 GiB (zip64 sizes and offsets)");
    unlink(path);
    ad_zip_free(z);
}

int main(void)
{
    const char *skip = getenv("ZIPWRITE_SKIP_BIG");
    test_names();
    test_small();
    test_many_entries();
    if (skip && *skip == '1')
        printf("SKIP the 4 GiB case: ZIPWRITE_SKIP_BIG=1\n");
    else
        test_big();
    return check_summary("zipwrite");
}
