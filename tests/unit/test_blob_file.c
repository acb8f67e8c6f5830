/*
 * test_blob_file.c — the file blob store adapter (store/blob_file.c): the
 * port's contract suite (blob_contract.c) on a fresh directory, then what
 * is particular to files: a writer's bytes wait in <root>/.tmp until
 * commit, leftovers there are removed when the store opens, committed
 * objects survive reopening, buckets are directories, and bad URLs.
 */
#include <dirent.h>
#include <ftw.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blob_contract.h"
#include "check.h"
#include "store/blob.h"
#include "util/err.h"

static char root[64];

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

static int leftovers(void *ctx)
{
    (void)ctx;
    return tmp_entries();
}

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static ad_code put(ad_blob *b, const char *key, const char *s, ad_error *err)
{
    ad_blob_writer *w = NULL;
    ad_code rc = b->ops->writer_open(b, key, &w, err);
    if (rc) return rc;
    rc = b->ops->writer_write(w, s, strlen(s), err);
    if (rc) {
        b->ops->writer_abort(w);
        return rc;
    }
    return b->ops->writer_commit(w, err);
}

/* A writer's bytes live in .tmp until commit, and nowhere after. */
static void test_tmp_files(ad_blob *b)
{
    ad_blob_writer *wa = NULL, *wb = NULL;
    ad_error err = {0};
    ad_code rc;
    rc = b->ops->writer_open(b, "f/one", &wa, &err);
    CHECK(rc == AD_OK, "writer_open: %s", ad_code_name(rc));
    rc = b->ops->writer_open(b, "f/two", &wb, &err);
    CHECK(rc == AD_OK, "writer_open: %s", ad_code_name(rc));
    if (wa && wb) {
        b->ops->writer_write(wa, "aaaa", 4, &err);
        b->ops->writer_write(wb, "bbbb", 4, &err);
        CHECK(tmp_entries() == 2, "two writers in progress: %d files in .tmp, want 2",
              tmp_entries());
        rc = b->ops->writer_commit(wa, &err);
        CHECK(rc == AD_OK && tmp_entries() == 1, "after one commit: %s, %d files in .tmp",
              ad_code_name(rc), tmp_entries());
        b->ops->writer_abort(wb);
        CHECK(tmp_entries() == 0, "after an abort: %d files in .tmp", tmp_entries());
    }
}

/* An object over several writeback steps of the writer (8 MiB), written
 * in pieces that do not divide them, read back byte-exact. */
static void test_writeback_steps(ad_blob *b)
{
    const size_t n = 20 * 1024 * 1024 + 17, piece = (1 << 20) + 3;
    uint8_t *data = malloc(n), *back = malloc(n);
    uint32_t x = 7;
    ad_blob_writer *w = NULL;
    ad_error err = {0};
    size_t i, off = 0;
    ad_code rc;
    if (!data || !back) {
        free(data), free(back);
        CHECK(0, "out of memory");
        return;
    }
    for (i = 0; i < n; i++) data[i] = (uint8_t)((x = x * 1103515245u + 12345u) >> 16);
    rc = b->ops->writer_open(b, "assets/big/steps.bin", &w, &err);
    for (i = 0; !rc && i < n; i += piece)
        rc = b->ops->writer_write(w, data + i, n - i < piece ? n - i : piece, &err);
    if (rc)
        b->ops->writer_abort(w);
    else
        rc = b->ops->writer_commit(w, &err);
    CHECK(rc == AD_OK, "write 20 MiB: %s (%s)", ad_code_name(rc), err.msg);
    while (!rc && off < n) {
        size_t got = 0;
        rc = b->ops->read(b, "assets/big/steps.bin", off, back + off, n - off, &got, &err);
        if (got == 0) break;
        off += got;
    }
    CHECK(rc == AD_OK && off == n && memcmp(data, back, n) == 0, "20 MiB read back: %zu bytes",
          off);
    free(data);
    free(back);
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
    { /* committed objects survive */
        uint64_t size = 0;
        rc = b->ops->stat(b, "assets/a3/file.txt", &size, &err);
        CHECK(rc == AD_OK && size == strlen("first version of the object"),
              "after reopen, an object the contract left: %s size %llu", ad_code_name(rc),
              (unsigned long long)size);
        rc = b->ops->stat(b, "f/one", &size, &err);
        CHECK(rc == AD_OK && size == 4, "after reopen, f/one: %s", ad_code_name(rc));
    }
    b->ops->close(b);
}

/* Buckets are directories: <root>/buckets/<name>, a store of their own. */
static void test_bucket_dirs(ad_blob *b)
{
    ad_blob *in = NULL;
    ad_error err = {0};
    char path[256];
    struct stat st;
    ad_code rc = b->ops->bucket_create(b, "dir-bucket", NULL, &err);
    CHECK(rc == AD_OK, "create: %s (%s)", ad_code_name(rc), err.msg);
    snprintf(path, sizeof(path), "%s/buckets/dir-bucket", root);
    CHECK(stat(path, &st) == 0 && S_ISDIR(st.st_mode), "%s is not a directory", path);
    rc = b->ops->bucket_open(b, "dir-bucket", &in, &err);
    CHECK(rc == AD_OK, "open: %s (%s)", ad_code_name(rc), err.msg);
    if (in) {
        rc = put(in, "k/v", "value", &err);
        CHECK(rc == AD_OK, "put: %s", ad_code_name(rc));
        snprintf(path, sizeof(path), "%s/buckets/dir-bucket/o/k/v", root);
        CHECK(stat(path, &st) == 0 && st.st_size == 5, "%s missing", path);
        in->ops->close(in);
    }
    rc = b->ops->bucket_remove(b, "dir-bucket", true, &err);
    CHECK(rc == AD_OK, "remove: %s (%s)", ad_code_name(rc), err.msg);
    snprintf(path, sizeof(path), "%s/buckets/dir-bucket", root);
    CHECK(stat(path, &st) != 0, "%s is still there", path);
}

static void test_open_errors(void)
{
    ad_blob *b = NULL;
    ad_error err = {0};
    ad_code rc;
    rc = ad_blob_open("nosuch:///x", &b, &err);
    CHECK(rc == AD_E_BAD_REQUEST && !b, "unknown scheme: %s", ad_code_name(rc));
    rc = ad_blob_open("nosuch://user:hunter2@host/x", &b, &err);
    CHECK(rc == AD_E_BAD_REQUEST && !strstr(err.msg, "hunter2"),
          "unknown scheme with credentials: the message quotes them: %s", err.msg);
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
    blob_contract_opts o = {0};
    int failed;
    ad_blob *b = NULL;
    ad_error err = {0};

    snprintf(root, sizeof(root), "/tmp/assetd-blob-XXXXXX");
    if (!mkdtemp(root)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(url, sizeof(url), "file://%s", root);

    o.url = url;
    o.leftovers = leftovers;
    failed = blob_contract_run(&o);
    CHECK(failed == 0, "the blob store contract suite had %d failed checks (see above)", failed);

    if (ad_blob_open(url, &b, &err) == AD_OK) {
        test_tmp_files(b);
        test_bucket_dirs(b);
        test_writeback_steps(b);
        CHECK(tmp_entries() == 0, "at the end .tmp has %d entries", tmp_entries());
        b->ops->close(b);
    } else {
        CHECK(0, "open %s: %s", url, err.msg);
    }
    test_reopen(url);
    test_open_errors();

    nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary("test_blob_file");
}
