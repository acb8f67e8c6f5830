/*
 * test_buckets.c — the bucket service (core/buckets.c): name and policy
 * checks and the remote name's shape (no I/O), then the resource's life
 * on the embedded stores (SQLite records, file blob store in a temp dir):
 * create, get, list, update, 409 on delete, forced delete, and a creation
 * that fails for real (the store's bucket directory cannot be made).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "core/buckets.h"

static void test_names(void)
{
    ad_error e = {0};
    char long_name[AD_BUCKET_NAME_MAX + 2];
    CHECK(ad_bucket_name_check("docs", &e) == AD_OK, "%s", e.msg);
    CHECK(ad_bucket_name_check("a.b-c", &e) == AD_OK, "%s", e.msg);
    memset(long_name, 'a', sizeof(long_name) - 1);
    long_name[AD_BUCKET_NAME_MAX] = '\0';
    CHECK(ad_bucket_name_check(long_name, &e) == AD_OK, "54 bytes: %s", e.msg);
    long_name[AD_BUCKET_NAME_MAX] = 'a';
    long_name[AD_BUCKET_NAME_MAX + 1] = '\0';
    CHECK(ad_bucket_name_check(long_name, &e) == AD_E_INVALID, "55 bytes");
    CHECK(strncmp(e.msg, "name: ", 6) == 0, "%s", e.msg);
    CHECK(ad_bucket_name_check("Docs", &e) == AD_E_INVALID, "uppercase");
    CHECK(strncmp(e.msg, "name: ", 6) == 0, "%s", e.msg);
    CHECK(ad_bucket_name_check("", &e) == AD_E_INVALID, "empty");
    CHECK(ad_bucket_name_check(NULL, &e) == AD_E_INVALID, "NULL");
    CHECK(ad_bucket_name_check("ab", &e) == AD_E_INVALID, "too short");
    CHECK(ad_bucket_name_check("192.168.1.1", &e) == AD_E_INVALID, "an IP address");
    CHECK(ad_bucket_name_check("a..b", &e) == AD_E_INVALID, "two dots");
    CHECK(ad_bucket_name_check("-ab", &e) == AD_E_INVALID, "leading dash");
    CHECK(ad_bucket_name_check("docs", NULL) == AD_OK, "no error struct");
    CHECK(ad_bucket_name_check("D", NULL) == AD_E_INVALID, "no error struct");
}

static void test_policies(void)
{
    ad_error e = {0};
    ad_bucket_policy p = AD_POLICY_READWRITE;
    const char *names[] = {"none", "readonly", "writeonly", "readwrite"};
    int i;
    for (i = 0; i < 4; i++) {
        CHECK(ad_bucket_policy_parse(names[i], &p, &e) == AD_OK, "%s", names[i]);
        CHECK(p == (ad_bucket_policy)i, "%s", names[i]);
        CHECK_STR(ad_bucket_policy_name(p), names[i]);
    }
    CHECK(ad_bucket_policy_parse("ReadOnly", &p, &e) == AD_E_INVALID, "case matters");
    CHECK(strstr(e.msg, "policy") != NULL, "%s", e.msg);
    CHECK(ad_bucket_policy_parse("", &p, &e) == AD_E_INVALID, "empty");
    CHECK(ad_bucket_policy_parse(NULL, &p, &e) == AD_E_INVALID, "NULL");
    CHECK_STR(ad_bucket_policy_name((ad_bucket_policy)9), "?");
}

static void test_remote_names(void)
{
    char a[AD_BUCKET_NAME_MAX + 16], b[AD_BUCKET_NAME_MAX + 16];
    char long_name[AD_BUCKET_NAME_MAX + 1];
    size_t i;
    ad_bucket_remote_name("docs", a, sizeof(a));
    ad_bucket_remote_name("docs", b, sizeof(b));
    CHECK(strlen(a) == 4 + 1 + 8, "%s", a);
    CHECK(strncmp(a, "docs-", 5) == 0, "%s", a);
    for (i = 5; i < strlen(a); i++)
        CHECK((a[i] >= 'a' && a[i] <= 'z') || (a[i] >= '0' && a[i] <= '9'), "%s", a);
    CHECK(strcmp(a, b) != 0, "two names differ: %s %s", a, b);
    CHECK(ad_blob_bucket_check(a, NULL) == AD_OK, "%s is a valid S3 name", a);
    memset(long_name, 'x', AD_BUCKET_NAME_MAX);
    long_name[AD_BUCKET_NAME_MAX] = '\0';
    ad_bucket_remote_name(long_name, a, sizeof(a));
    CHECK(strlen(a) == AD_BLOB_BUCKET_MAX, "longest remote name: %zu", strlen(a));
    CHECK(ad_blob_bucket_check(a, NULL) == AD_OK, "%s", a);
}

static const char *status_of(const json_t *doc, const char *k)
{
    const char *s = json_string_value(json_object_get(json_object_get(doc, "status"), k));
    return s ? s : "";
}

static int deleted_assets;
static ad_code del_asset(void *ctx, const char *id, ad_error *err)
{
    ad_meta *m = ctx;
    deleted_assets++;
    return m->ops->remove(m, id, AD_REV_ANY, err);
}

static void test_life(const char *dir)
{
    char url[600], path[700];
    ad_meta *meta = NULL;
    ad_blob *blobs = NULL, *store = NULL;
    ad_buckets *bk = NULL;
    ad_buckets_opts o = {0};
    ad_error e = {0};
    json_t *spec, *doc = NULL, *list = NULL;
    ad_bucket_policy pol = AD_POLICY_NONE;
    ad_blob_writer *w = NULL;
    bool ready = false;
    char why[300];
    int64_t rev = 0;
    FILE *f;

    snprintf(url, sizeof(url), "sqlite://%s/m.db", dir);
    CHECK(ad_meta_open(url, &meta, &e) == AD_OK, "%s", e.msg);
    snprintf(url, sizeof(url), "file://%s/blobs", dir);
    CHECK(ad_blob_open(url, &blobs, &e) == AD_OK, "%s", e.msg);
    if (!meta || !blobs) return;
    o.meta = meta, o.blobs = blobs, o.public_url = "http://127.0.0.1:1";
    o.default_bucket = "uploads";
    CHECK(ad_buckets_new(&o, &bk, &e) == AD_OK, "%s", e.msg);
    if (!bk) return;
    CHECK_STR(ad_buckets_default(bk), "uploads");
    CHECK(ad_buckets_get(bk, "uploads", &doc, &e) == AD_OK, "default bucket made: %s", e.msg);
    CHECK_STR(status_of(doc, "phase"), "Ready");
    json_decref(doc);

    /* create */
    spec = json_pack("{s:s, s:s}", "name", "docs", "policy", "readonly");
    CHECK(ad_buckets_create(bk, spec, &doc, &e) == AD_OK, "%s", e.msg);
    CHECK_STR(status_of(doc, "phase"), "Ready");
    CHECK_STR(status_of(doc, "reason"), "BucketCreated");
    CHECK_STR(status_of(doc, "url"), "http://127.0.0.1:1/buckets/docs/files");
    CHECK(strncmp(status_of(doc, "remoteName"), "docs-", 5) == 0, "%s",
          status_of(doc, "remoteName"));
    CHECK(json_integer_value(json_object_get(doc, "generation")) == 1, "generation");
    json_decref(doc);
    CHECK(ad_buckets_create(bk, spec, &doc, &e) == AD_E_EXISTS, "duplicate");
    json_decref(spec);

    /* bad specs name their field */
    spec = json_pack("{s:s, s:s}", "name", "docs2", "policy", "public");
    CHECK(ad_buckets_create(bk, spec, &doc, &e) == AD_E_INVALID && strstr(e.msg, "policy"), "%s",
          e.msg);
    json_decref(spec);
    spec = json_pack("{s:s, s:i}", "name", "docs2", "region", 5);
    CHECK(ad_buckets_create(bk, spec, &doc, &e) == AD_E_INVALID && strstr(e.msg, "region"), "%s",
          e.msg);
    json_decref(spec);
    spec = json_pack("{s:s, s:s}", "name", "docs2", "colour", "red");
    CHECK(ad_buckets_create(bk, spec, &doc, &e) == AD_E_INVALID && strstr(e.msg, "colour"), "%s",
          e.msg);
    json_decref(spec);
    spec = json_pack("{s:s}", "policy", "none");
    CHECK(ad_buckets_create(bk, spec, &doc, &e) == AD_E_INVALID && strstr(e.msg, "name"), "%s",
          e.msg);
    json_decref(spec);

    /* list, policy, update */
    CHECK(ad_buckets_list(bk, &list, &e) == AD_OK && json_array_size(list) == 2, "list");
    json_decref(list);
    CHECK(ad_buckets_policy(bk, "docs", &pol, &e) == AD_OK && pol == AD_POLICY_READONLY, "policy");
    spec = json_pack("{s:s}", "policy", "none");
    CHECK(ad_buckets_update(bk, "docs", spec, &doc, &e) == AD_OK, "%s", e.msg);
    CHECK(json_integer_value(json_object_get(doc, "generation")) == 2, "generation bumped");
    CHECK_STR(status_of(doc, "reason"), "BucketPolicyUpdated");
    CHECK(json_integer_value(
              json_object_get(json_object_get(doc, "status"), "observedGeneration")) == 2,
          "observed");
    json_decref(doc);
    json_decref(spec);
    spec = json_pack("{s:s}", "region", "eu-west-1");
    CHECK(ad_buckets_update(bk, "docs", spec, &doc, &e) == AD_E_INVALID && strstr(e.msg, "region"),
          "%s", e.msg);
    json_decref(spec);
    CHECK(ad_buckets_update(bk, "nope", spec, &doc, &e) == AD_E_NOT_FOUND, "missing");

    /* an object in it: 409, then forced; an asset in it: deleted */
    CHECK(ad_buckets_store(bk, "docs", &store, &e) == AD_OK, "%s", e.msg);
    if (store && store->ops->writer_open(store, "a/b.txt", &w, &e) == AD_OK) {
        store->ops->writer_write(w, "hi", 2, &e);
        CHECK(store->ops->writer_commit(w, &e) == AD_OK, "%s", e.msg);
    }
    CHECK(ad_buckets_delete(bk, "docs", false, del_asset, meta, &e) == AD_E_CONFLICT, "%s", e.msg);
    {
        const char *asset = "{\"asset_id\":\"a.1\",\"source\":{\"bucket\":\"docs\"}}";
        json_t *adoc = json_loads(asset, 0, NULL);
        CHECK(meta->ops->insert(meta, "a.1", asset, strlen(asset), adoc, &rev, &e) == AD_OK, "%s",
              e.msg);
        json_decref(adoc);
    }
    {
        /* a ZIP upload's asset with a file in the bucket, and one elsewhere */
        const char *in = "{\"asset_id\":\"a.2\",\"files\":[{\"asset_file_url\":"
                         "\"http://127.0.0.1:1/buckets/docs/files/u/x.txt\"}]}";
        const char *out = "{\"asset_id\":\"a.3\",\"files\":[{\"asset_file_url\":"
                          "\"http://127.0.0.1:1/buckets/docsx/files/u/x.txt\"}]}";
        json_t *d2 = json_loads(in, 0, NULL), *d3 = json_loads(out, 0, NULL);
        CHECK(meta->ops->insert(meta, "a.2", in, strlen(in), d2, &rev, &e) == AD_OK, "%s", e.msg);
        CHECK(meta->ops->insert(meta, "a.3", out, strlen(out), d3, &rev, &e) == AD_OK, "%s", e.msg);
        json_decref(d2);
        json_decref(d3);
    }
    CHECK(ad_buckets_delete(bk, "docs", false, del_asset, meta, &e) == AD_E_CONFLICT &&
              strstr(e.msg, "holds assets"),
          "%s", e.msg);
    CHECK(ad_buckets_delete(bk, "docs", true, del_asset, meta, &e) == AD_OK, "%s", e.msg);
    CHECK(deleted_assets == 2, "%d assets deleted", deleted_assets);
    {
        ad_doc d = {0};
        CHECK(meta->ops->get(meta, "a.3", &d, &e) == AD_OK, "an asset of another bucket stays");
        ad_doc_free(&d);
    }
    CHECK(ad_buckets_get(bk, "docs", &doc, &e) == AD_E_NOT_FOUND, "gone");
    CHECK(ad_buckets_ready(bk, "docs", &ready, why, sizeof(why), &e) == AD_E_NOT_FOUND, "gone");

    /* a creation that fails: the buckets directory is a file */
    snprintf(path, sizeof(path), "%s/blobs/buckets", dir);
    {
        char cmd[800];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", path);
        CHECK(system(cmd) == 0, "rm");
    }
    f = fopen(path, "w");
    if (f) fclose(f);
    spec = json_pack("{s:s}", "name", "broken");
    CHECK(ad_buckets_create(bk, spec, &doc, &e) == AD_OK, "stored even so: %s", e.msg);
    CHECK_STR(status_of(doc, "phase"), "Failed");
    CHECK_STR(status_of(doc, "reason"), "BucketCreationFailure");
    json_decref(doc);
    json_decref(spec);
    CHECK(ad_buckets_ready(bk, "broken", &ready, why, sizeof(why), &e) == AD_OK && !ready, "ready");
    CHECK(strstr(why, "BucketCreationFailure") != NULL, "%s", why);
    CHECK(ad_buckets_delete(bk, "broken", false, del_asset, meta, &e) == AD_OK, "%s", e.msg);
    unlink(path);

    ad_buckets_free(bk);
    blobs->ops->close(blobs);
    meta->ops->close(meta);
}

int main(void)
{
    char dir[] = "/tmp/test_buckets_XXXXXX", cmd[128];
    test_names();
    test_policies();
    test_remote_names();
    if (mkdtemp(dir)) {
        test_life(dir);
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
        if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", dir);
    }
    return check_summary("buckets");
}
