/*
 * test_ingest.c — the ingest pipeline below HTTP: entry-name rules, URL
 * encoding, upload ids, the central directory checks (core/zip_cd.h) and
 * whole jobs run with ad_ingest_run on real stores in a temporary
 * directory (archives written with libarchive): success with files and
 * metadata per the contract, failures that leave no object behind; the
 * SHA-256 pipe (core/hashpipe.h) against one-shot SHA-256, and large
 * stored and deflated entries stored byte-exact with their checksums.
 */
#include <archive.h>
#include <archive_entry.h>
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
#include "core/archive_rules.h"
#include "core/hashpipe.h"
#include "core/ingest.h"
#include "core/registry.h"
#include "core/uuid.h"
#include "core/zip_cd.h"
#include "store/blob.h"
#include "store/jobs.h"
#include "store/meta.h"
#include "util/buf.h"

static char dir[64];

static void test_names(void)
{
    static const char *const ok[] = {"a", "a/b.txt", "dir ü/x", "..a", "a..", "a/.hidden", NULL};
    static const struct {
        const char *name, *word;
    } bad[] = {
        {"/abs", "absolute"}, {"C:/x", "absolute"}, {"../x", "\"..\""},    {"a/../b", "\"..\""},
        {"a/..", "\"..\""},   {"./a", "\".\""},     {"a\\b", "backslash"}, {"a//b", "empty"},
        {"a\x01", "control"}, {"", "empty name"},   {"\xff\xfe", "UTF-8"}, {"a\x7f", "control"},
    };
    size_t i;
    char longseg[300];
    ad_error err = {0};
    for (i = 0; ok[i]; i++)
        CHECK(ad_archive_name_check(ok[i], &err) == AD_OK, "%s: %s", ok[i], err.msg);
    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ad_code rc = ad_archive_name_check(bad[i].name, &err);
        CHECK(rc == AD_E_INVALID && strstr(err.msg, bad[i].word), "%s: rc=%d msg=%s", bad[i].name,
              rc, err.msg);
    }
    memset(longseg, 'x', 256);
    longseg[256] = '\0';
    CHECK(ad_archive_name_check(longseg, &err) == AD_E_INVALID, "segment over 255 bytes");
}

static void test_url(void)
{
    ad_buf b;
    ad_buf_init(&b, 4096);
    CHECK(ad_url_path_append(&b, "dir ü/a+b%c&d=e~f_g-h.i") == AD_OK, "append");
    CHECK(b.data && strcmp(b.data, "dir%20%C3%BC/a%2Bb%25c%26d%3De~f_g-h.i") == 0, "got %s",
          b.data);
    ad_buf_free(&b);
}

static void test_uuid(void)
{
    char a[AD_UUID_LEN + 1], b[AD_UUID_LEN + 1];
    ad_uuid4(a);
    ad_uuid4(b);
    CHECK(ad_uuid_valid(a) && ad_uuid_valid(b) && strcmp(a, b) != 0, "%s %s", a, b);
    CHECK(a[14] == '4' && strchr("89ab", a[19]), "version and variant: %s", a);
    CHECK(!ad_uuid_valid("0A5E3DE1-1FCD-4A65-9C83-18C5C0B4D612"), "uppercase refused");
    CHECK(!ad_uuid_valid("../../etc/passwd"), "junk refused");
    CHECK(!ad_uuid_valid("0a5e3de1-1fcd-4a65-9c83-18c5c0b4d61"), "short refused");
}

/* --- archives --- */

typedef struct entry {
    const char *name;
    const char *data; /* NULL: a directory */
    unsigned mode;    /* 0: regular file */
} entry;

static void write_zip(const char *path, const entry *e, size_t n, bool store)
{
    struct archive *a = archive_write_new();
    size_t i;
    archive_write_set_format_zip(a);
    if (store) archive_write_set_options(a, "zip:compression=store");
    archive_write_open_filename(a, path);
    for (i = 0; i < n; i++) {
        struct archive_entry *ae = archive_entry_new();
        archive_entry_set_pathname(ae, e[i].name);
        if (e[i].mode) {
            archive_entry_set_mode(ae, e[i].mode);
            if ((e[i].mode & AE_IFMT) == AE_IFLNK) archive_entry_set_symlink(ae, e[i].data);
        } else {
            archive_entry_set_filetype(ae, e[i].data ? AE_IFREG : AE_IFDIR);
            archive_entry_set_perm(ae, 0644);
        }
        archive_entry_set_size(ae, e[i].data && !e[i].mode ? (la_int64_t)strlen(e[i].data) : 0);
        archive_write_header(a, ae);
        if (e[i].data && !e[i].mode) archive_write_data(a, e[i].data, strlen(e[i].data));
        archive_entry_free(ae);
    }
    archive_write_close(a);
    archive_write_free(a);
}

static ad_code cd_check(const char *path, uint64_t max, ad_error *err)
{
    struct stat st;
    int fd = open(path, O_RDONLY);
    ad_code rc;
    stat(path, &st);
    rc = ad_zip_cd_check(fd, (uint64_t)st.st_size, max, err);
    close(fd);
    return rc;
}

static void test_zip_cd(void)
{
    char path[128];
    ad_error err = {0};
    entry ok[] = {{"asset.json", "{}", 0}, {"d/", NULL, 0}, {"d/a", "aaa", 0}};
    entry lnk[] = {{"asset.json", "{}", 0}, {"l", "/etc/passwd", AE_IFLNK | 0777}};
    int fd;
    snprintf(path, sizeof(path), "%s/t.zip", dir);
    write_zip(path, ok, 3, false);
    CHECK(cd_check(path, 100, &err) == AD_OK, "%s", err.msg);
    CHECK(cd_check(path, 2, &err) == AD_E_INVALID && strstr(err.msg, "more than 2 entries"), "%s",
          err.msg);
    write_zip(path, lnk, 2, true);
    CHECK(cd_check(path, 100, &err) == AD_E_INVALID && strstr(err.msg, "symbolic link"), "%s",
          err.msg);
    fd = open(path, O_WRONLY | O_TRUNC);
    CHECK(write(fd, "PK\x03\x04garbage", 11) == 11, "write");
    close(fd);
    CHECK(cd_check(path, 100, &err) == AD_E_INVALID && strstr(err.msg, "corrupt"), "%s", err.msg);
}

static void sha_hex(const unsigned char *d, char out[65])
{
    int i;
    for (i = 0; i < 32; i++) snprintf(out + 2 * i, 3, "%02x", d[i]);
}

static void sha_once(const char *p, size_t n, char out[65])
{
    unsigned char d[32];
    unsigned len = 0;
    EVP_Digest(p, n, d, &len, EVP_sha256(), NULL);
    sha_hex(d, out);
}

/* A printable pseudo-random text of n bytes (write_zip takes C strings). */
static char *text(size_t n, unsigned seed)
{
    char *t = malloc(n + 1);
    size_t i;
    for (i = 0; i < n; i++) {
        seed = seed * 1103515245u + 12345u;
        t[i] = (char)('!' + (seed >> 16) % 90);
    }
    t[n] = '\0';
    return t;
}

/* Streams of many lengths, filled block by block, give the one-shot
 * digest; a stream whose digest was taken starts afresh. */
static void test_hashpipe(void)
{
    const size_t B = AD_HASHPIPE_BLOCK;
    size_t lens[] = {0, 1, B - 1, B, B + 1, 7 * B + 17};
    size_t max = 7 * B + 17, i;
    char *data = text(max, 3);
    ad_hashpipe *h = NULL;
    ad_error err = {0};
    CHECK(ad_hashpipe_new(&h, &err) == AD_OK, "%s", err.msg);
    for (i = 0; h && i < sizeof(lens) / sizeof(lens[0]); i++) {
        size_t off = 0;
        unsigned char d[32];
        char got[65], want[65];
        while (off < lens[i]) {
            size_t k = lens[i] - off < B ? lens[i] - off : B;
            char *b = ad_hashpipe_block(h);
            memcpy(b, data + off, k);
            ad_hashpipe_submit(h, k);
            off += k;
        }
        CHECK(ad_hashpipe_digest(h, d) == 0, "digest of %zu bytes", lens[i]);
        sha_hex(d, got);
        sha_once(data, lens[i], want);
        CHECK(strcmp(got, want) == 0, "%zu bytes: %s, want %s", lens[i], got, want);
    }
    ad_hashpipe_free(h);
    free(data);
}

/* The directory table: every entry found by where its data starts, with
 * its sizes and CRC-32; a stored entry's bytes are at data_off. */
static void test_zip_dir(void)
{
    char path[128];
    char *big = text(300000, 5);
    entry e[] = {{"asset.json", "{}", 0}, {"d/", NULL, 0}, {"d/big", big, 0}, {"e", "", 0}};
    ad_zip_dir d = {0};
    ad_error err = {0};
    struct stat st;
    int fd, store;
    snprintf(path, sizeof(path), "%s/dir.zip", dir);
    for (store = 0; store < 2; store++) {
        size_t i;
        write_zip(path, e, 4, store);
        fd = open(path, O_RDONLY);
        stat(path, &st);
        CHECK(ad_zip_cd_read(fd, (uint64_t)st.st_size, 100, &d, &err) == AD_OK, "%s", err.msg);
        CHECK(d.n == 4, "%zu entries", d.n);
        for (i = 0; i < d.n; i++) {
            const ad_zip_entry *z = &d.e[i];
            CHECK(ad_zip_dir_find(&d, z->data_off) == z, "entry %zu found by its data offset", i);
            CHECK(ad_zip_dir_find(&d, z->data_off + 1) == NULL || i + 1 < d.n, "no false match");
            if (z->usize == 300000) {
                CHECK(z->crc == (uint32_t)crc32(0, (const Bytef *)big, 300000), "crc of big");
                CHECK(store ? z->method == 0 && z->csize == 300000 : z->method == 8, "method %u",
                      z->method);
                if (store) {
                    char *got = malloc(300000);
                    CHECK(pread(fd, got, 300000, (off_t)z->data_off) == 300000 &&
                              memcmp(got, big, 300000) == 0,
                          "stored bytes at data_off");
                    free(got);
                }
            }
        }
        CHECK(ad_zip_dir_find(&d, 1) == NULL, "no entry's data starts at 1");
        ad_zip_dir_free(&d);
        close(fd);
    }
    free(big);
}

/* --- whole jobs --- */

typedef struct env {
    ad_meta *meta;
    ad_blob *blobs;
    ad_jobs *jobs;
    ad_registry *reg;
    ad_ingest_opts o;
} env;

static void env_open(env *e)
{
    char url[160];
    ad_error err = {0};
    memset(e, 0, sizeof(*e));
    snprintf(url, sizeof(url), "sqlite://%s/registry.db", dir);
    CHECK(ad_meta_open(url, &e->meta, &err) == AD_OK, "%s", err.msg);
    snprintf(url, sizeof(url), "file://%s/blobs", dir);
    CHECK(ad_blob_open(url, &e->blobs, &err) == AD_OK, "%s", err.msg);
    CHECK(ad_jobs_open("memory:", &e->jobs, &err) == AD_OK, "%s", err.msg);
    e->reg = ad_registry_new(e->meta);
    e->o = (ad_ingest_opts){e->jobs, e->blobs, e->reg, "http://h:1/", 1,    1000,
                            1 << 30, 1000,     3600,   dir,           NULL, NULL};
}

static void env_close(env *e)
{
    ad_registry_free(e->reg);
    e->jobs->ops->close(e->jobs);
    e->blobs->ops->close(e->blobs);
    e->meta->ops->close(e->meta);
}

#define ASSET(id, files)                                                                           \
    "{\"asset_id\":\"" id "\",\"asset_uri\":\"m://x/" id "\",\"asset_version\":\"v1\","            \
    "\"asset_profile_id\":\"p\",\"asset_file_ids\":[],\"profiles\":[{\"asset_profile_id\":"        \
    "\"p\",\"asset_type\":\"model\",\"asset_sub_type\":\"llm\",\"asset_id\":\"" id "\"}],"         \
    "\"files\":" files "}"

/* Queues path as a job and runs it; returns the final state. */
static ad_job_state run_zip(env *e, const char *path, const char *id, ad_job *out)
{
    ad_job job = {0};
    ad_error err = {0};
    ad_job_state s;
    snprintf(job.id, sizeof(job.id), "%s", id);
    job.source = (char *)path;
    CHECK(e->jobs->ops->create(e->jobs, &job, &err) == AD_OK, "%s", err.msg);
    CHECK(e->jobs->ops->claim(e->jobs, 0, &job, &err) == AD_OK, "claim %s: %s (%s)", id, err.msg,
          job.id);
    s = ad_ingest_run(&e->o, &job);
    ad_job_clear(&job);
    e->jobs->ops->get(e->jobs, id, out, &err);
    return s;
}

static bool blob_exists(env *e, const char *key)
{
    uint64_t size;
    return e->blobs->ops->stat(e->blobs, key, &size, NULL) == AD_OK;
}

static void test_job_success(env *e)
{
    char path[128];
    entry files[] = {{"asset.json",
                      ASSET("ing-1", "[{\"asset_file_id\":\"a.txt\",\"asset_file_type\":\"doc\","
                                     "\"asset_file_mime_type\":\"text/x-a\",\"asset_file_url\":"
                                     "\"u\",\"asset_file_metadata\":{\"k\":1}}]"),
                      0},
                     {"a.txt", "hello\n", 0},
                     {"d/", NULL, 0},
                     {"d/b c.bin", "\x01\x02\x03", 0}};
    ad_job job = {0};
    ad_doc doc = {0};
    ad_error err = {0};
    snprintf(path, sizeof(path), "%s/ok.zip", dir);
    write_zip(path, files, 4, false);
    CHECK(run_zip(e, path, "11111111-1111-4111-8111-111111111111", &job) == AD_JOB_SUCCESS,
          "reason: %s", job.reason);
    CHECK(job.files_done == 2 && job.files_total == 2 && job.bytes_done == 9, "progress %llu/%llu",
          (unsigned long long)job.files_done, (unsigned long long)job.bytes_done);
    CHECK(access(path, F_OK) != 0, "spool file removed");
    ad_job_clear(&job);
    CHECK(ad_registry_get(e->reg, "ing-1", &doc, &err) == AD_OK, "%s", err.msg);
    if (doc.json) {
        CHECK(strstr(doc.json, "\"asset_file_ids\":[\"a.txt\",\"d/b c.bin\"]"), "%s", doc.json);
        CHECK(strstr(doc.json, "\"sha256\":\"5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a"
                               "2e846f6be03\""),
              "sha of hello");
        CHECK(strstr(doc.json, "\"crc32\":\"363a3020\""), "crc of hello: %s", doc.json);
        CHECK(strstr(doc.json, "\"k\":1,\"size\":6"), "metadata merged");
        CHECK(strstr(doc.json, "\"asset_file_mime_type\":\"text/x-a\""), "given mime kept");
        CHECK(strstr(doc.json, "http://h:1/files/11111111-1111-4111-8111-111111111111/d/b%20c.bin"),
              "url: %s", doc.json);
    }
    ad_doc_free(&doc);
    CHECK(blob_exists(e, "11111111-1111-4111-8111-111111111111/d/b c.bin"), "object stored");
}

/* Copies the file at path into the blob store under key. */
static void stage(env *e, const char *path, const char *key)
{
    ad_blob_writer *w = NULL;
    ad_error err = {0};
    char buf[4096];
    size_t n;
    FILE *f = fopen(path, "rb");
    CHECK(f && e->blobs->ops->writer_open(e->blobs, key, &w, &err) == AD_OK, "%s", err.msg);
    if (!f || !w) {
        if (f) fclose(f);
        return;
    }
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        CHECK(e->blobs->ops->writer_write(w, buf, n, &err) == AD_OK, "%s", err.msg);
    fclose(f);
    CHECK(e->blobs->ops->writer_commit(w, &err) == AD_OK, "%s", err.msg);
}

/* An archive staged in the blob store ("blob:<key>", what an instance
 * sharing its stores with others queues): fetched to the spool directory,
 * ingested, and removed from the store and the spool when the job ends;
 * a staged archive that is gone fails the job with the reason. */
static void test_job_staged(env *e)
{
    char path[128], fetched[192];
    const char *id = "5a5a5a5a-5a5a-4a5a-8a5a-5a5a5a5a5a5a";
    entry files[] = {{"asset.json", ASSET("ing-staged", "[]"), 0}, {"w/x.bin", "staged!", 0}};
    ad_job job = {0};
    ad_doc doc = {0};
    ad_error err = {0};
    snprintf(path, sizeof(path), "%s/staged.zip", dir);
    write_zip(path, files, 2, false);
    stage(e, path, "uploads/5a5a5a5a-5a5a-4a5a-8a5a-5a5a5a5a5a5a.zip");
    unlink(path);
    CHECK(run_zip(e, AD_INGEST_STAGED "uploads/5a5a5a5a-5a5a-4a5a-8a5a-5a5a5a5a5a5a.zip", id,
                  &job) == AD_JOB_SUCCESS,
          "staged: %s", job.reason);
    ad_job_clear(&job);
    CHECK(ad_registry_get(e->reg, "ing-staged", &doc, &err) == AD_OK, "%s", err.msg);
    CHECK(doc.json && strstr(doc.json, "\"asset_file_ids\":[\"w/x.bin\"]"), "%s",
          doc.json ? doc.json : "");
    ad_doc_free(&doc);
    CHECK(blob_exists(e, "5a5a5a5a-5a5a-4a5a-8a5a-5a5a5a5a5a5a/w/x.bin"), "file stored");
    CHECK(!blob_exists(e, "uploads/5a5a5a5a-5a5a-4a5a-8a5a-5a5a5a5a5a5a.zip"),
          "staged archive removed after success");
    snprintf(fetched, sizeof(fetched), "%s/%s.fetch", dir, id);
    CHECK(access(fetched, F_OK) != 0, "local copy removed");

    CHECK(run_zip(e, AD_INGEST_STAGED "uploads/6b6b6b6b-6b6b-4b6b-8b6b-6b6b6b6b6b6b.zip",
                  "6b6b6b6b-6b6b-4b6b-8b6b-6b6b6b6b6b6b", &job) == AD_JOB_FAILED,
          "a staged archive that is gone fails");
    CHECK(strstr(job.reason, "gone"), "reason: %s", job.reason);
    ad_job_clear(&job);
}

static void test_job_failures(env *e)
{
    char path[128];
    ad_job job = {0};
    entry late[] = {{"asset.json", ASSET("ing-2", "[{\"asset_file_id\":\"elsewhere\"}]"), 0},
                    {"x.bin", "xx", 0}};
    entry none[] = {{"x.bin", "xx", 0}};
    entry dup[] = {{"asset.json", ASSET("ing-1", "[]"), 0}, {"y.bin", "y", 0}};
    snprintf(path, sizeof(path), "%s/late.zip", dir);
    write_zip(path, late, 2, false);
    CHECK(run_zip(e, path, "22222222-2222-4222-8222-222222222222", &job) == AD_JOB_FAILED,
          "invalid at registration");
    CHECK(strstr(job.reason, "asset.json failed validation"), "%s", job.reason);
    ad_job_clear(&job);
    CHECK(!blob_exists(e, "22222222-2222-4222-8222-222222222222/x.bin"), "object removed");
    CHECK(access(path, F_OK) != 0, "spool removed on failure too");

    write_zip(path, none, 1, false);
    CHECK(run_zip(e, path, "33333333-3333-4333-8333-333333333333", &job) == AD_JOB_FAILED, "none");
    CHECK(strstr(job.reason, "asset.json missing"), "%s", job.reason);
    ad_job_clear(&job);

    write_zip(path, dup, 2, false);
    CHECK(run_zip(e, path, "44444444-4444-4444-8444-444444444444", &job) == AD_JOB_FAILED, "dup");
    CHECK(strstr(job.reason, "already exists"), "%s", job.reason);
    ad_job_clear(&job);

    CHECK(run_zip(e, "/nonexistent.zip", "55555555-5555-4555-8555-555555555555", &job) ==
              AD_JOB_FAILED,
          "gone");
    CHECK(strstr(job.reason, "gone"), "%s", job.reason);
    ad_job_clear(&job);
}

/* Large stored and deflated entries (many hash blocks, several writeback
 * steps of the blob writer) are stored byte-exact, with the SHA-256,
 * CRC-32 and size of their bytes in the metadata; a stored entry with one
 * byte changed fails on its CRC-32 and leaves nothing. */
static void test_job_large_entries(env *e)
{
    const size_t n1 = 40 * AD_HASHPIPE_BLOCK + 3, n2 = 3 * AD_HASHPIPE_BLOCK - 1;
    char *s1 = text(n1, 11), *s2 = text(n2, 12), path[128], sha1[65], sha2[65], want[80];
    entry files[] = {{"asset.json", ASSET("ing-big", "[]"), 0}, {"s.bin", s1, 0}, {"t.bin", s2, 0}};
    const char *uid = "66666666-6666-4666-8666-666666666666",
               *uid2 = "77777777-7777-4777-8777-777777777777";
    char key[128];
    ad_job job = {0};
    ad_doc doc = {0};
    ad_error err = {0};
    int store;
    sha_once(s1, n1, sha1);
    sha_once(s2, n2, sha2);
    for (store = 1; store >= 0; store--) {
        snprintf(path, sizeof(path), "%s/big.zip", dir);
        write_zip(path, files, 3, store);
        CHECK(run_zip(e, path, store ? uid : uid2, &job) == AD_JOB_SUCCESS, "reason: %s",
              job.reason);
        CHECK(job.bytes_done == n1 + n2, "bytes %llu", (unsigned long long)job.bytes_done);
        ad_job_clear(&job);
        CHECK(ad_registry_get(e->reg, "ing-big", &doc, &err) == AD_OK, "%s", err.msg);
        if (doc.json) {
            snprintf(want, sizeof(want), "\"sha256\":\"%s\"", sha1);
            CHECK(strstr(doc.json, want), "sha256 of s.bin");
            snprintf(want, sizeof(want), "\"sha256\":\"%s\"", sha2);
            CHECK(strstr(doc.json, want), "sha256 of t.bin");
            snprintf(want, sizeof(want), "\"crc32\":\"%08lx\"",
                     crc32(0, (const Bytef *)s1, (uInt)n1));
            CHECK(strstr(doc.json, want), "crc32 of s.bin");
            snprintf(want, sizeof(want), "\"size\":%zu", n1);
            CHECK(strstr(doc.json, want), "size of s.bin");
        }
        ad_doc_free(&doc);
        snprintf(key, sizeof(key), "%s/s.bin", store ? uid : uid2);
        {
            char *got = malloc(n1);
            size_t off = 0, k = 1;
            while (got && off < n1 && k) {
                if (e->blobs->ops->read(e->blobs, key, off, got + off, n1 - off, &k, &err)) break;
                off += k;
            }
            CHECK(got && off == n1 && memcmp(got, s1, n1) == 0, "s.bin stored byte-exact (%zu)",
                  off);
            free(got);
        }
        CHECK(ad_registry_delete(e->reg, "ing-big", AD_REV_ANY, &err) == AD_OK, "%s", err.msg);
    }
    /* one byte of the stored data changed: the CRC-32 no longer matches */
    {
        int fd;
        char c;
        ad_zip_dir d = {0};
        struct stat st;
        const char *uid3 = "88888888-8888-4888-8888-888888888888";
        write_zip(path, files, 3, true);
        fd = open(path, O_RDWR);
        stat(path, &st);
        CHECK(ad_zip_cd_read(fd, (uint64_t)st.st_size, 100, &d, &err) == AD_OK, "%s", err.msg);
        CHECK(d.n == 3 && pread(fd, &c, 1, (off_t)d.e[1].data_off + 5000) == 1, "read");
        c ^= 1;
        CHECK(pwrite(fd, &c, 1, (off_t)d.e[1].data_off + 5000) == 1, "write");
        ad_zip_dir_free(&d);
        close(fd);
        CHECK(run_zip(e, path, uid3, &job) == AD_JOB_FAILED, "bad crc");
        CHECK(strstr(job.reason, "s.bin") && strstr(job.reason, "CRC-32"), "%s", job.reason);
        ad_job_clear(&job);
        snprintf(key, sizeof(key), "%s/s.bin", uid3);
        CHECK(!blob_exists(e, key), "nothing left");
    }
    free(s1);
    free(s2);
}

static int rm_entry(const char *p, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb, (void)flag, (void)ftw;
    return remove(p);
}

int main(void)
{
    env e;
    snprintf(dir, sizeof(dir), "/tmp/assetd-ingest-XXXXXX");
    if (!mkdtemp(dir)) return 1;
    test_names();
    test_url();
    test_uuid();
    test_zip_cd();
    test_zip_dir();
    test_hashpipe();
    env_open(&e);
    test_job_success(&e);
    test_job_failures(&e);
    test_job_large_entries(&e);
    test_job_staged(&e);
    env_close(&e);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary("ingest");
}
