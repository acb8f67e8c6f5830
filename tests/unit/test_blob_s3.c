/*
 * test_blob_s3.c — the S3 blob store adapter (store/blob_s3.c) against a
 * real S3 service: Ceph RGW started by scripts/servers/ceph.sh, which
 * exports ASSETD_TEST_S3_URL (skipped, exit 77, when it is not set),
 * ASSETD_TEST_S3_ENDPOINT with AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY,
 * and ASSETD_TEST_RGW_LOG (RGW's log, one access line per request).
 *
 * Each run works under a prefix of its own in the bucket. The port's
 * contract suite runs twice: path-style with 5 MiB parts and a 40 MiB
 * object (a multipart upload of 8 parts), and virtual-hosted
 * (bucket.localhost) with a smaller object. Then what only S3 has: the
 * multipart uploads (parts on the server before commit, none left after an
 * abort), a streamed read being ONE GET in RGW's log, the credential
 * sources (URL, environment, file), wrong credentials (a clear error that
 * never quotes the secret), an unreachable endpoint (AD_E_UNAVAILABLE),
 * URL errors, and open creating a missing bucket. Through a fault-injecting
 * relay in front of RGW (faultproxy.c): 503 SlowDown answers retried, or
 * reported with S3's Code and Message once the retries are spent; a
 * download cut mid-stream resumed byte-exact; a part upload cut
 * mid-request retried.
 *
 * The checks of what is on the server use their own signed requests
 * (libcurl's --aws-sigv4), not the adapter.
 */
#include <curl/curl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "blob_contract.h"
#include "check.h"
#include "faultproxy.h"
#include "store/blob.h"
#include "util/buf.h"
#include "util/err.h"

static const char *base_url, *endpoint, *access_key, *secret_key;
static char bucket[64], prefix[64];

/* ------------------------------------------------------------------------ */
/* Signed requests of our own                                               */
/* ------------------------------------------------------------------------ */

static size_t collect(char *p, size_t size, size_t nmemb, void *ud)
{
    ad_buf_append(ud, p, size * nmemb);
    return size * nmemb;
}

/* GET endpoint/bucket[/key]?query signed with the test's credentials;
 * the body goes to out; returns the HTTP status (0 on failure). */
static long signed_get(const char *key, const char *query, ad_buf *out)
{
    CURL *e = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "x-amz-content-sha256: UNSIGNED-PAYLOAD");
    char url[2048];
    long status = 0;
    snprintf(url, sizeof(url), "%s/%s%s%s%s%s", endpoint, bucket, key ? "/" : "", key ? key : "",
             query ? "?" : "", query ? query : "");
    curl_easy_setopt(e, CURLOPT_URL, url);
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, "aws:amz:us-east-1:s3");
    curl_easy_setopt(e, CURLOPT_USERNAME, access_key);
    curl_easy_setopt(e, CURLOPT_PASSWORD, secret_key);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, out);
    curl_easy_setopt(e, CURLOPT_NOPROXY, "*");
    if (curl_easy_perform(e) == CURLE_OK) curl_easy_getinfo(e, CURLINFO_RESPONSE_CODE, &status);
    curl_slist_free_all(h);
    curl_easy_cleanup(e);
    return status;
}

static int count_of(const char *s, const char *needle)
{
    int n = 0;
    for (const char *p = s ? strstr(s, needle) : NULL; p; p = strstr(p + 1, needle)) n++;
    return n;
}

/* Unfinished multipart uploads under our prefix (-1 when the list fails). */
static int uploads_in_progress(void *ctx)
{
    ad_buf b;
    char q[200];
    long st;
    int n;
    (void)ctx;
    ad_buf_init(&b, 1 << 20);
    snprintf(q, sizeof(q), "prefix=%s%%2F&uploads=", prefix); /* sorted: prefix < uploads */
    st = signed_get(NULL, q, &b);
    n = st == 200 ? count_of(b.data, "<Upload>") : -1;
    if (st != 200) fprintf(stderr, "ListMultipartUploads: HTTP %ld %s\n", st, b.data ? b.data : "");
    ad_buf_free(&b);
    return n;
}

/* Objects whose key starts with p (ListObjectsV2). */
static int objects_under(const char *p)
{
    ad_buf b;
    char q[300];
    long st;
    int n;
    ad_buf_init(&b, 4 << 20);
    snprintf(q, sizeof(q), "list-type=2&prefix=%s", p);
    st = signed_get(NULL, q, &b);
    n = st == 200 ? count_of(b.data, "<Key>") : -1;
    ad_buf_free(&b);
    return n;
}

/* base_url with a prefix of ours and more parameters. */
static void make_url(char *out, size_t cap, const char *pfx, const char *extra)
{
    const char *q = strchr(base_url, '?');
    size_t head = q ? (size_t)(q - base_url) : strlen(base_url);
    snprintf(out, cap, "%.*s/%s%s%s%s%s", (int)head, base_url, pfx, q ? q : "", q ? "&" : "?",
             extra, "");
}

/* ------------------------------------------------------------------------ */
/* Multipart: parts go up while writing; none stay after an abort            */
/* ------------------------------------------------------------------------ */

static void test_multipart_streaming(ad_blob *b)
{
    const size_t n = 12 * 1024 * 1024 + 5;
    uint8_t *data = malloc(n);
    ad_blob_writer *w = NULL;
    ad_error err = {0};
    ad_code rc;
    for (size_t i = 0; i < n; i++) data[i] = (uint8_t)(i * 31 + (i >> 13));

    /* while writing: an upload exists and holds parts before commit */
    rc = b->ops->writer_open(b, "mp/streamed.bin", &w, &err);
    CHECK(rc == AD_OK, "writer_open: %s (%s)", ad_code_name(rc), err.msg);
    for (size_t off = 0; rc == AD_OK && off < n; off += 65536)
        rc = b->ops->writer_write(w, data + off, n - off < 65536 ? n - off : 65536, &err);
    CHECK(rc == AD_OK, "writing 12 MiB: %s (%s)", ad_code_name(rc), err.msg);
    {
        ad_buf l, parts;
        char q[700], id[512] = "", key[200];
        const char *s, *e;
        ad_buf_init(&l, 1 << 20);
        ad_buf_init(&parts, 1 << 20);
        snprintf(q, sizeof(q), "prefix=%s%%2Fmp%%2Fstreamed.bin&uploads=", prefix);
        CHECK(signed_get(NULL, q, &l) == 200 && count_of(l.data, "<Upload>") == 1,
              "before commit, one multipart upload is in progress: %s", l.data ? l.data : "");
        s = l.data ? strstr(l.data, "<UploadId>") : NULL;
        e = s ? strstr(s, "</UploadId>") : NULL;
        if (s && e && e - s - 10 < (long)sizeof(id))
            snprintf(id, sizeof(id), "%.*s", (int)(e - s - 10), s + 10);
        snprintf(key, sizeof(key), "%s/mp/streamed.bin", prefix);
        snprintf(q, sizeof(q), "uploadId=%s", id);
        CHECK(id[0] && signed_get(key, q, &parts) == 200 && count_of(parts.data, "<Part>") >= 1,
              "before commit, parts are already on the server (ListParts: %s)",
              parts.data ? parts.data : "");
        ad_buf_free(&l);
        ad_buf_free(&parts);
    }
    if (w) {
        rc = b->ops->writer_commit(w, &err);
        CHECK(rc == AD_OK, "commit: %s (%s)", ad_code_name(rc), err.msg);
    }
    CHECK(uploads_in_progress(NULL) == 0, "uploads left after a commit: %d",
          uploads_in_progress(NULL));
    {
        uint64_t size = 0;
        rc = b->ops->stat(b, "mp/streamed.bin", &size, &err);
        CHECK(rc == AD_OK && size == n, "stat: %s %llu", ad_code_name(rc),
              (unsigned long long)size);
    }

    /* abort in the middle: the upload and its parts are gone */
    rc = b->ops->writer_open(b, "mp/aborted.bin", &w, &err);
    for (size_t off = 0; rc == AD_OK && off < n; off += 65536)
        rc = b->ops->writer_write(w, data + off, n - off < 65536 ? n - off : 65536, &err);
    CHECK(rc == AD_OK && uploads_in_progress(NULL) == 1, "an upload in progress before abort: %s",
          ad_code_name(rc));
    if (w) b->ops->writer_abort(w);
    CHECK(uploads_in_progress(NULL) == 0, "uploads left after an abort: %d",
          uploads_in_progress(NULL));
    {
        char p[200];
        snprintf(p, sizeof(p), "%s%%2Fmp%%2Faborted", prefix);
        CHECK(objects_under(p) == 0, "an aborted object is listed");
    }
    free(data);
}

/* A streamed read of a 12 MiB object in 64 KiB reads is ONE GET. */
static void test_one_get(ad_blob *b)
{
    const char *log = getenv("ASSETD_TEST_RGW_LOG");
    char needle[300], key[] = "onestream/big.bin";
    const size_t n = 12 * 1024 * 1024;
    uint8_t *data = malloc(n), buf[65536];
    ad_blob_writer *w = NULL;
    ad_blob_reader *r = NULL;
    ad_error err = {0};
    size_t total = 0, got = 0;
    ad_code rc;
    int gets = -1;
    if (!log) {
        printf("test_blob_s3: ASSETD_TEST_RGW_LOG not set: the one-GET check is skipped\n");
        free(data);
        return;
    }
    memset(data, 'z', n);
    rc = b->ops->writer_open(b, key, &w, &err);
    if (!rc) rc = b->ops->writer_write(w, data, n, &err);
    if (!rc) rc = b->ops->writer_commit(w, &err);
    CHECK(rc == AD_OK, "put %s: %s (%s)", key, ad_code_name(rc), err.msg);
    rc = b->ops->reader_open(b, key, 0, UINT64_MAX, &r, &err);
    while (rc == AD_OK && (rc = b->ops->reader_read(r, buf, sizeof(buf), &got, &err)) == AD_OK &&
           got)
        total += got;
    b->ops->reader_close(r);
    CHECK(rc == AD_OK && total == n, "streamed %zu bytes: %s", total, ad_code_name(rc));
    snprintf(needle, sizeof(needle), "\"GET /%s/%s/%s ", bucket, prefix, key);
    for (int i = 0; i < 50; i++) { /* RGW writes its log a little later */
        FILE *f = fopen(log, "r");
        char line[4096];
        gets = 0;
        while (f && fgets(line, sizeof(line), f)) gets += strstr(line, needle) != NULL;
        if (f) fclose(f);
        if (gets >= 1) break;
        usleep(100000);
    }
    usleep(300000);
    {
        FILE *f = fopen(log, "r");
        char line[4096];
        gets = 0;
        while (f && fgets(line, sizeof(line), f)) gets += strstr(line, needle) != NULL;
        if (f) fclose(f);
    }
    CHECK(gets == 1, "a streamed read of 12 MiB in 64 KiB reads made %d GET requests, want 1",
          gets);
    free(data);
}

/* ------------------------------------------------------------------------ */
/* Credentials, errors, URLs                                                */
/* ------------------------------------------------------------------------ */

static void expect_open_fails(const char *url, ad_code want, const char *must_have, const char *ctx)
{
    ad_blob *b = NULL;
    ad_error err = {0};
    ad_code rc = ad_blob_open(url, &b, &err);
    CHECK(rc == want && !b, "%s: %s, want %s (%s)", ctx, ad_code_name(rc), ad_code_name(want),
          err.msg);
    CHECK(!must_have || strstr(err.msg, must_have), "%s: the message lacks \"%s\": %s", ctx,
          must_have, err.msg);
    CHECK(!strstr(err.msg, secret_key) && !strstr(err.msg, "WRONGSECRET") &&
              !strstr(err.msg, access_key),
          "%s: the message quotes a credential", ctx);
    if (b) b->ops->close(b);
}

static void test_credentials(void)
{
    char url[2048], file[] = "/tmp/assetd-s3-creds-XXXXXX", home[] = "/tmp/assetd-s3-home-XXXXXX";
    const char *q = strchr(base_url, '?');
    char *saved_ak = strdup(access_key), *saved_sk = strdup(secret_key);
    ad_blob *b = NULL;
    ad_error err = {0};
    ad_code rc;
    int fd;

    /* wrong secret, unknown access key */
    snprintf(url, sizeof(url), "s3://%s:WRONGSECRET@%s%s", access_key, bucket, q);
    expect_open_fails(url, AD_E_BACKEND, "SignatureDoesNotMatch", "wrong secret");
    snprintf(url, sizeof(url), "s3://NOSUCHKEY0000:%s@%s%s", secret_key, bucket, q);
    expect_open_fails(url, AD_E_BACKEND, "InvalidAccessKeyId", "unknown access key");

    /* from the environment (the URL has none) */
    snprintf(url, sizeof(url), "s3://%s%s", bucket, q);
    rc = ad_blob_open(url, &b, &err);
    CHECK(rc == AD_OK, "credentials from the environment: %s (%s)", ad_code_name(rc), err.msg);
    if (b) b->ops->close(b), b = NULL;

    /* from a file, with the environment empty */
    fd = mkstemp(file);
    if (fd >= 0) {
        FILE *f = fdopen(fd, "w");
        fprintf(f,
                "# test\n[default]\naws_access_key_id = nope\naws_secret_access_key = nope\n\n"
                "[ci]\n  aws_access_key_id=%s\naws_secret_access_key = %s  \n",
                saved_ak, saved_sk);
        fclose(f);
    }
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    snprintf(url, sizeof(url), "s3://%s%s&credentials=%s&profile=ci", bucket, q, file);
    rc = ad_blob_open(url, &b, &err);
    CHECK(rc == AD_OK, "credentials from a file: %s (%s)", ad_code_name(rc), err.msg);
    if (b) b->ops->close(b), b = NULL;
    snprintf(url, sizeof(url), "s3://%s%s&credentials=%s", bucket, q, file);
    expect_open_fails(url, AD_E_BACKEND, "InvalidAccessKeyId", "the file's default profile");
    snprintf(url, sizeof(url), "s3://%s%s&credentials=%s&profile=none", bucket, q, file);
    expect_open_fails(url, AD_E_BAD_REQUEST, "profile [none]", "a profile the file lacks");
    snprintf(url, sizeof(url), "s3://%s%s&credentials=/nonexistent/creds", bucket, q);
    expect_open_fails(url, AD_E_BAD_REQUEST, "/nonexistent/creds", "a missing file");
    if (mkdtemp(home)) {
        char *saved_home = getenv("HOME") ? strdup(getenv("HOME")) : NULL;
        setenv("HOME", home, 1);
        snprintf(url, sizeof(url), "s3://%s%s", bucket, q);
        expect_open_fails(url, AD_E_BAD_REQUEST, "no credentials", "no credentials anywhere");
        if (saved_home) setenv("HOME", saved_home, 1), free(saved_home);
        rmdir(home);
    }
    unlink(file);
    setenv("AWS_ACCESS_KEY_ID", saved_ak, 1);
    setenv("AWS_SECRET_ACCESS_KEY", saved_sk, 1);
    access_key = getenv("AWS_ACCESS_KEY_ID");
    secret_key = getenv("AWS_SECRET_ACCESS_KEY");
    free(saved_ak);
    free(saved_sk);
}

static void test_url_errors(void)
{
    static const struct {
        const char *extra, *want;
    } bad[] = {
        {"part_size=1MiB", "part_size"},
        {"part_size=8XB", "part_size"},
        {"multipart_threshold=0", "multipart_threshold"},
        {"addressing=sideways", "addressing"},
        {"retries=99", "retries"},
        {"colour=blue", "unknown parameter \"colour\""},
        {"region=US_EAST", "region"},
        {"nothing", "no value"},
    };
    char url[2048];
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        snprintf(url, sizeof(url), "%s&%s", base_url, bad[i].extra);
        expect_open_fails(url, AD_E_BAD_REQUEST, bad[i].want, bad[i].extra);
    }
    snprintf(url, sizeof(url), "s3://%s:%s@Bad_Bucket?endpoint=%s", access_key, secret_key,
             endpoint);
    expect_open_fails(url, AD_E_BAD_REQUEST, "bucket name", "a bad bucket name");
    snprintf(url, sizeof(url), "s3://%s:%s@%s?endpoint=ftp://x", access_key, secret_key, bucket);
    expect_open_fails(url, AD_E_BAD_REQUEST, "http", "an ftp endpoint");
    snprintf(url, sizeof(url), "s3://%s:%s@%s?endpoint=http://h/path", access_key, secret_key,
             bucket);
    expect_open_fails(url, AD_E_BAD_REQUEST, "no path", "an endpoint with a path");
    snprintf(url, sizeof(url), "s3://%s:%s@%s/a/../b?endpoint=%s", access_key, secret_key, bucket,
             endpoint);
    expect_open_fails(url, AD_E_BAD_REQUEST, "prefix", "a prefix with ..");
}

static void test_unreachable(void)
{
    char url[2048];
    time_t t0 = time(NULL);
    snprintf(url, sizeof(url), "s3://%s:%s@%s?endpoint=http://127.0.0.1:1&retries=2", access_key,
             secret_key, bucket);
    expect_open_fails(url, AD_E_UNAVAILABLE, "unreachable after 3 attempts", "port 1");
    CHECK(time(NULL) - t0 < 30, "giving up on a closed port took %lds", (long)(time(NULL) - t0));
}

/* open creates a missing bucket; the new bucket is removed afterwards */
static void test_open_creates_bucket(ad_blob *main_store)
{
    char name[64], url[2048];
    ad_blob *b = NULL;
    ad_error err = {0};
    bool exists = false;
    ad_code rc;
    snprintf(name, sizeof(name), "assetd-new-%lx-%x", (unsigned long)time(NULL),
             (unsigned)getpid());
    snprintf(url, sizeof(url), "s3://%s?endpoint=%s", name, endpoint);
    rc = ad_blob_open(url, &b, &err);
    CHECK(rc == AD_OK, "open with a new bucket: %s (%s)", ad_code_name(rc), err.msg);
    if (b) b->ops->close(b);
    rc = main_store->ops->bucket_exists(main_store, name, &exists, &err);
    CHECK(rc == AD_OK && exists, "the new bucket %s exists: %s %d", name, ad_code_name(rc), exists);
    rc = main_store->ops->bucket_remove(main_store, name, false, &err);
    CHECK(rc == AD_OK, "remove the new bucket: %s (%s)", ad_code_name(rc), err.msg);
    rc = main_store->ops->bucket_remove(main_store, bucket, true, &err);
    CHECK(rc == AD_E_BAD_REQUEST, "removing the store's own bucket: %s", ad_code_name(rc));
}

/* ------------------------------------------------------------------------ */
/* Faults: a relay in front of RGW that answers 503 or cuts connections      */
/* ------------------------------------------------------------------------ */

static uint8_t *pattern(size_t n, unsigned salt)
{
    uint8_t *d = malloc(n);
    for (size_t i = 0; i < n; i++) d[i] = (uint8_t)((i * 2654435761u) >> 13) ^ (uint8_t)salt;
    return d;
}

static ad_code put_all(ad_blob *b, const char *key, const uint8_t *d, size_t n, ad_error *err)
{
    ad_blob_writer *w = NULL;
    ad_code rc = b->ops->writer_open(b, key, &w, err);
    for (size_t off = 0; rc == AD_OK && off < n; off += 65536)
        rc = b->ops->writer_write(w, d + off, n - off < 65536 ? n - off : 65536, err);
    if (rc) {
        b->ops->writer_abort(w);
        return rc;
    }
    return b->ops->writer_commit(w, err);
}

static bool stream_equals(ad_blob *b, const char *key, const uint8_t *d, size_t n, ad_error *err)
{
    ad_blob_reader *r = NULL;
    uint8_t *buf = malloc(n + 1);
    size_t total = 0, got = 0;
    ad_code rc = b->ops->reader_open(b, key, 0, UINT64_MAX, &r, err);
    while (rc == AD_OK &&
           (rc = b->ops->reader_read(r, buf + total,
                                     100000 < n + 1 - total ? 100000 : n + 1 - total, &got, err)) ==
               AD_OK &&
           got)
        total += got;
    b->ops->reader_close(r);
    bool same = rc == AD_OK && total == n && memcmp(buf, d, n) == 0;
    free(buf);
    return same;
}

/* A store through the relay, fresh (its own connections). */
static ad_blob *open_via(faultproxy *fp, const char *extra, ad_error *err)
{
    char url[2048], params[400];
    ad_blob *b = NULL;
    snprintf(params, sizeof(params),
             "endpoint=http://127.0.0.1:%d&part_size=5MiB&multipart_threshold=5MiB&%s",
             faultproxy_port(fp), extra);
    {
        char pfx[100];
        snprintf(pfx, sizeof(pfx), "%s/faults", prefix);
        make_url(url, sizeof(url), pfx, params);
    }
    if (ad_blob_open(url, &b, err) != AD_OK) return NULL;
    return b;
}

static void test_faults(void)
{
    faultproxy *fp = faultproxy_start(atoi(strrchr(endpoint, ':') + 1));
    const size_t n = 12 * 1024 * 1024 + 7;
    uint8_t *data = pattern(n, 1), *data2 = pattern(n, 2);
    ad_error err = {0};
    ad_blob *b;
    ad_code rc;
    int acc, failed, cut;
    CHECK(fp != NULL, "the fault proxy does not start");
    if (!fp) return;

    /* 503s within the retries: open and a write go through */
    faultproxy_fail_next(fp, 3);
    b = open_via(fp, "retries=4", &err);
    CHECK(b != NULL, "open through two 503s: %s", err.msg);
    faultproxy_counts(fp, &acc, &failed, &cut);
    CHECK(failed == 3, "the proxy answered %d requests with 503, want 3", failed);
    if (b) {
        faultproxy_fail_next(fp, 0);
        rc = put_all(b, "f/small", data, 1000, &err);
        CHECK(rc == AD_OK, "a write after the 503s: %s (%s)", ad_code_name(rc), err.msg);
        b->ops->close(b);
    }

    /* 503s past the retries: the error names S3's Code and Message */
    faultproxy_fail_next(fp, 0);
    b = open_via(fp, "retries=1", &err);
    CHECK(b != NULL, "open: %s", err.msg);
    if (b) {
        uint64_t size;
        uint8_t rbuf[100];
        size_t got = 0;
        faultproxy_fail_next(fp, 1000);
        /* the store's connection is kept alive: break it so the next
         * request needs a new one */
        faultproxy_cut_next(fp, 1, 0, 1);
        rc = b->ops->read(b, "f/small", 0, rbuf, sizeof(rbuf), &got, &err);
        CHECK(rc == AD_E_UNAVAILABLE &&
                  strstr(err.msg, "HTTP 503 SlowDown: injected by the test proxy") &&
                  strstr(err.msg, "after every retry"),
              "a read while RGW answers 503: %s (%s)", ad_code_name(rc), err.msg);
        faultproxy_cut_next(fp, 1, 0, 1);
        rc = b->ops->stat(b, "f/small", &size, &err);
        CHECK(rc == AD_E_UNAVAILABLE && strstr(err.msg, "HTTP 503"),
              "a HEAD while RGW answers 503 (no body, so no Code): %s (%s)", ad_code_name(rc),
              err.msg);
        faultproxy_fail_next(fp, 0);
        faultproxy_cut_next(fp, 0, 0, 1);
        b->ops->close(b);
    }

    /* a download cut in the middle resumes where it stopped, byte-exact */
    b = open_via(fp, "retries=3", &err);
    CHECK(b != NULL, "open: %s", err.msg);
    if (b) {
        rc = put_all(b, "f/big", data, n, &err);
        CHECK(rc == AD_OK, "put 12 MiB: %s (%s)", ad_code_name(rc), err.msg);
        faultproxy_counts(fp, &acc, &failed, &cut);
        faultproxy_cut_next(fp, 1, 3 * 1024 * 1024, 1);
        CHECK(stream_equals(b, "f/big", data, n, &err), "a stream cut at 3 MiB: %s", err.msg);
        {
            int cut2;
            faultproxy_counts(fp, &acc, &failed, &cut2);
            CHECK(cut2 == cut + 1, "the stream was not cut (%d cuts)", cut2 - cut);
        }
        /* a ranged read cut in the middle is retried */
        {
            uint8_t *buf = malloc(4 << 20);
            size_t got = 0;
            faultproxy_counts(fp, &acc, &failed, &cut);
            faultproxy_cut_next(fp, 1, 1 << 20, 1);
            rc = b->ops->read(b, "f/big", 1000, buf, 4 << 20, &got, &err);
            CHECK(rc == AD_OK && got == 4 << 20 && memcmp(buf, data + 1000, got) == 0,
                  "a ranged read cut at 1 MiB: %s, %zu bytes (%s)", ad_code_name(rc), got, err.msg);
            {
                int cut2;
                faultproxy_counts(fp, &acc, &failed, &cut2);
                CHECK(cut2 == cut + 1, "the ranged read was not cut (%d cuts)", cut2 - cut);
            }
            free(buf);
        }
        /* a part upload cut mid-request is sent again */
        faultproxy_counts(fp, &acc, &failed, &cut);
        faultproxy_cut_next(fp, 1, 2 * 1024 * 1024, 0);
        rc = put_all(b, "f/big", data2, n, &err);
        {
            int cut2;
            faultproxy_counts(fp, &acc, &failed, &cut2);
            CHECK(cut2 == cut + 1, "no upload was cut (%d cuts)", cut2 - cut);
        }
        CHECK(rc == AD_OK, "a multipart upload with a part cut: %s (%s)", ad_code_name(rc),
              err.msg);
        faultproxy_cut_next(fp, 0, 0, 0);
        CHECK(stream_equals(b, "f/big", data2, n, &err), "the object after a cut part: %s",
              err.msg);
        CHECK(uploads_in_progress(NULL) == 0, "uploads left after the faults: %d",
              uploads_in_progress(NULL));
        b->ops->remove(b, "f/big", &err);
        b->ops->remove(b, "f/small", &err);
        b->ops->close(b);
    }

    /* S3 away while a failed job cleans up: a remove and the abort of a
     * multipart upload end "unavailable", and are sent again by the store
     * once S3 answers (s3_cleanup.c): nothing is left in the bucket */
    b = open_via(fp, "retries=1", &err);
    CHECK(b != NULL, "open: %s", err.msg);
    if (b) {
        ad_blob_writer *w = NULL;
        char under[200];
        int i, objs = -1, ups = -1;
        snprintf(under, sizeof(under), "%s%%2Ffaults%%2Fc%%2F", prefix); /* encoded */
        rc = put_all(b, "c/kept", data, 1000, &err);
        CHECK(rc == AD_OK, "put: %s (%s)", ad_code_name(rc), err.msg);
        rc = b->ops->writer_open(b, "c/big", &w, &err);
        if (!rc) rc = b->ops->writer_write(w, data, 6 << 20, &err); /* a multipart upload */
        CHECK(rc == AD_OK && uploads_in_progress(NULL) == 1,
              "a multipart upload in progress: %s (%s), %d uploads", ad_code_name(rc), err.msg,
              uploads_in_progress(NULL));
        faultproxy_fail_next(fp, 1000000);
        /* kept-alive connections too: cut before a request byte reaches RGW */
        faultproxy_cut_next(fp, 1000000, 0, 0);
        b->ops->writer_abort(w);
        rc = b->ops->remove(b, "c/kept", &err);
        CHECK(rc == AD_E_UNAVAILABLE, "remove while S3 answers 503: %s (%s)", ad_code_name(rc),
              err.msg);
        CHECK(objects_under(under) == 1, "the object went while S3 answered 503 (%d left)",
              objects_under(under));
        CHECK(uploads_in_progress(NULL) == 1, "the upload went while S3 answered 503");
        faultproxy_fail_next(fp, 0);
        faultproxy_cut_next(fp, 0, 0, 0);
        for (i = 0; i < 600; i++) { /* the store retries after 1 s, 2 s, …, at most 15 s */
            objs = objects_under(under);
            ups = uploads_in_progress(NULL);
            if (objs == 0 && ups == 0) break;
            usleep(100 * 1000);
        }
        CHECK(objs == 0 && ups == 0,
              "60 s after S3 came back: %d objects and %d multipart uploads left", objs, ups);
        b->ops->close(b);
    }
    faultproxy_stop(fp);
    free(data);
    free(data2);
}

/* Multipart uploads left by a process that died: open aborts those older
 * than abandoned_uploads seconds under its prefix, and only those. */
static void test_abandoned_uploads(void)
{
    char url[2048], pfx[100];
    ad_blob *a = NULL, *b = NULL;
    ad_blob_writer *old_w = NULL, *new_w = NULL;
    ad_error err = {0};
    size_t n = 6 << 20;
    uint8_t *data = pattern(n, 3);
    ad_code rc;
    snprintf(pfx, sizeof(pfx), "%s/abandoned", prefix);
    make_url(url, sizeof(url), pfx, "part_size=5MiB&multipart_threshold=5MiB&abandoned_uploads=0");
    rc = ad_blob_open(url, &a, &err);
    CHECK(rc == AD_OK, "open: %s", err.msg);
    if (rc) {
        free(data);
        return;
    }
    rc = a->ops->writer_open(a, "old", &old_w, &err);
    if (!rc) rc = a->ops->writer_write(old_w, data, n, &err);
    CHECK(rc == AD_OK, "an upload: %s", err.msg);
    sleep(8);
    rc = a->ops->writer_open(a, "new", &new_w, &err);
    if (!rc) rc = a->ops->writer_write(new_w, data, n, &err);
    CHECK(rc == AD_OK, "a second upload: %s", err.msg);
    CHECK(uploads_in_progress(NULL) == 2, "%d uploads in progress, want 2",
          uploads_in_progress(NULL));
    /* the first is at least 8 s old, the second a moment */
    make_url(url, sizeof(url), pfx, "abandoned_uploads=5");
    rc = ad_blob_open(url, &b, &err);
    CHECK(rc == AD_OK, "open with abandoned_uploads=5: %s", err.msg);
    CHECK(uploads_in_progress(NULL) == 1,
          "%d uploads in progress after the sweep, want 1 (the recent one)",
          uploads_in_progress(NULL));
    a->ops->writer_abort(old_w); /* already gone: NoSuchUpload is fine */
    a->ops->writer_abort(new_w);
    CHECK(uploads_in_progress(NULL) == 0, "%d uploads left", uploads_in_progress(NULL));
    if (b) b->ops->close(b);
    a->ops->close(a);
    free(data);
}

int main(void)
{
    char url[2048], vurl[2048], vend[256];
    blob_contract_opts o = {0};
    ad_blob *b = NULL;
    ad_error err = {0};
    int failed;
    const char *at, *end;

    base_url = getenv("ASSETD_TEST_S3_URL");
    endpoint = getenv("ASSETD_TEST_S3_ENDPOINT");
    access_key = getenv("AWS_ACCESS_KEY_ID");
    secret_key = getenv("AWS_SECRET_ACCESS_KEY");
    if (!base_url || !*base_url) {
        printf("test_blob_s3: skipped: ASSETD_TEST_S3_URL is not set (start Ceph RGW with "
               "scripts/servers/ceph.sh start DIR and eval its output)\n");
        return 77;
    }
    if (!endpoint || !access_key || !secret_key || !strchr(base_url, '?')) {
        printf("test_blob_s3: ASSETD_TEST_S3_ENDPOINT, AWS_ACCESS_KEY_ID and "
               "AWS_SECRET_ACCESS_KEY must be set with ASSETD_TEST_S3_URL (ceph.sh prints "
               "them)\n");
        return 1;
    }
    at = strchr(base_url, '@');
    at = at ? at + 1 : base_url + 5;
    end = at + strcspn(at, "/?");
    snprintf(bucket, sizeof(bucket), "%.*s", (int)(end - at), at);
    snprintf(prefix, sizeof(prefix), "c%lx-%x", (unsigned long)time(NULL), (unsigned)getpid());
    curl_global_init(CURL_GLOBAL_DEFAULT);

    /* the contract, path-style, 40 MiB in 5 MiB parts */
    make_url(url, sizeof(url), prefix, "part_size=5MiB&multipart_threshold=5MiB");
    o.url = url;
    o.large_size = 40 * 1024 * 1024 + 3;
    o.key_max = 1024 - strlen(prefix) - 1;
    o.leftovers = uploads_in_progress;
    failed = blob_contract_run(&o);
    CHECK(failed == 0, "the blob contract (path-style) had %d failed checks (see above)", failed);

    /* again, virtual-hosted: bucket.localhost:PORT */
    snprintf(vend, sizeof(vend), "http://localhost:%s", strrchr(endpoint, ':') + 1);
    {
        char vpfx[80], extra[400];
        snprintf(vpfx, sizeof(vpfx), "%s/v", prefix);
        snprintf(
            extra, sizeof(extra),
            "endpoint=%s&addressing=virtual&part_size=5MiB&multipart_threshold=6MiB&parallel=2",
            vend);
        make_url(vurl, sizeof(vurl), vpfx, extra);
        o.url = vurl;
        o.large_size = 11 * 1024 * 1024 + 1;
        o.key_max = 1024 - strlen(vpfx) - 1;
        failed = blob_contract_run(&o);
        CHECK(failed == 0, "the blob contract (virtual-hosted) had %d failed checks", failed);
    }

    /* one part in flight: writing a part waits for the one before, so
     * finished parts must be on the server before commit */
    make_url(url, sizeof(url), prefix, "part_size=5MiB&multipart_threshold=5MiB&parallel=1");
    if (ad_blob_open(url, &b, &err) == AD_OK) {
        test_multipart_streaming(b);
        test_one_get(b);
        test_open_creates_bucket(b);
        b->ops->close(b);
    } else {
        CHECK(0, "open: %s", err.msg);
    }
    test_faults();
    test_abandoned_uploads();
    test_credentials();
    test_url_errors();
    test_unreachable();

    curl_global_cleanup();
    return check_summary("test_blob_s3");
}
