/*
 * test_ingest.c — the ingest pipeline below HTTP: entry-name rules, URL
 * encoding, upload ids, the central directory checks (core/zip_cd.h) and
 * whole jobs run with ad_ingest_run on real stores in a temporary
 * directory (archives written with libarchive): success with files and
 * metadata per the contract, failures that leave no object behind.
 */
#include <archive.h>
#include <archive_entry.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/archive_rules.h"
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
    e->o = (ad_ingest_opts){e->jobs, e->blobs, e->reg, "http://h:1/", 1, 1000, 1 << 30, 1000, 3600};
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
    CHECK(e->jobs->ops->claim(e->jobs, 0, &job, &err) == AD_OK, "%s", err.msg);
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
    env_open(&e);
    test_job_success(&e);
    test_job_failures(&e);
    env_close(&e);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary("ingest");
}
