/*
 * test_s3_parse.c — the parts of the S3 blob store that need no server
 * (so they run even where Ceph RGW is not started): the s3:// URL and its
 * parameters, the credential sources and their order, the bounded XML
 * reader of S3's answers (hostile input included), SigV4's URI encoding,
 * and the bucket name rules.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "store/blob.h"
#include "store/s3_int.h"

static void clear_env(void)
{
    unsetenv("AWS_ACCESS_KEY_ID");
    unsetenv("AWS_SECRET_ACCESS_KEY");
    unsetenv("AWS_SESSION_TOKEN");
    unsetenv("AWS_PROFILE");
    unsetenv("AWS_SHARED_CREDENTIALS_FILE");
    setenv("HOME", "/nonexistent-home", 1);
}

static void test_url(void)
{
    s3_conf c;
    ad_error err = {0};
    ad_code rc;

    rc = s3_conf_parse("s3://AK%41x:se%2Fcr+et@my-bucket/a/b/?endpoint=http://127.0.0.1:7480&"
                       "region=eu-west-1&part_size=16MiB&multipart_threshold=5242880&"
                       "parallel=3&retries=0&connect_timeout=2&stall_timeout=9",
                       &c, &err);
    CHECK(rc == AD_OK, "a full URL: %s (%s)", ad_code_name(rc), err.msg);
    if (rc == AD_OK) {
        CHECK_STR(c.access, "AKAx");
        CHECK_STR(c.secret, "se/cr+et");
        CHECK_STR(c.bucket, "my-bucket");
        CHECK_STR(c.prefix, "a/b/");
        CHECK_STR(c.scheme, "http");
        CHECK_STR(c.authority, "127.0.0.1:7480");
        CHECK_STR(c.region, "eu-west-1");
        CHECK_STR(c.sigv4, "aws:amz:eu-west-1:s3");
        CHECK(!c.virtual_host, "an endpoint defaults to path-style");
        CHECK(c.part_size == 16u << 20 && c.threshold == 5242880 && c.parallel == 3 &&
                  c.retries == 0 && c.connect_timeout_ms == 2000 && c.stall_timeout_s == 9,
              "numbers: %zu %llu %d %d %ld %ld", c.part_size, (unsigned long long)c.threshold,
              c.parallel, c.retries, c.connect_timeout_ms, c.stall_timeout_s);
        s3_conf_free(&c);
    }

    /* defaults: AWS, virtual-hosted */
    rc = s3_conf_parse("s3://K:S@bucket", &c, &err);
    CHECK(rc == AD_OK, "a bare URL: %s (%s)", ad_code_name(rc), err.msg);
    if (rc == AD_OK) {
        CHECK_STR(c.scheme, "https");
        CHECK_STR(c.authority, "s3.us-east-1.amazonaws.com");
        CHECK(c.virtual_host, "AWS defaults to virtual-hosted");
        CHECK_STR(c.prefix, "");
        CHECK(c.part_size == 8u << 20 && c.threshold == 16u << 20 && c.parallel == 4 &&
                  c.retries == 4,
              "defaults: %zu %llu %d %d", c.part_size, (unsigned long long)c.threshold, c.parallel,
              c.retries);
        s3_conf_free(&c);
    }

    {
        static const struct {
            const char *url, *want;
        } bad[] = {
            {"s3://K:S@Bucket", "bucket name"},
            {"s3://K:S@b", "bucket name"},
            {"s3://K:S@bucket?part_size=4MiB", "part_size"},
            {"s3://K:S@bucket?part_size=6GiB", "part_size"},
            {"s3://K:S@bucket?part_size=8 MiB", "part_size"},
            {"s3://K:S@bucket?part_size=99999999999999999999", "part_size"},
            {"s3://K:S@bucket?multipart_threshold=1", "multipart_threshold"},
            {"s3://K:S@bucket?parallel=0", "parallel"},
            {"s3://K:S@bucket?parallel=17", "parallel"},
            {"s3://K:S@bucket?retries=-1", "retries"},
            {"s3://K:S@bucket?addressing=both", "addressing"},
            {"s3://K:S@bucket?endpoint=ftp://h", "http"},
            {"s3://K:S@bucket?endpoint=http://", "scheme://host"},
            {"s3://K:S@bucket?endpoint=http://h/x", "no path"},
            {"s3://K:S@bucket?endpoint=http://us%40er@h", "host may hold"},
            {"s3://K:S@bucket?endpoint=http://[::1]:80&addressing=virtual", "IPv6"},
            {"s3://K:S@bucket?region=Us", "region"},
            {"s3://K:S@bucket?colour=red", "unknown parameter \"colour\""},
            {"s3://K:S@bucket?endpoint", "no value"},
            {"s3://K:S@bucket?region=%zz", "percent-encoding"},
            {"s3://K:S@bucket/a/../b", "prefix"},
            {"s3://K:S@bucket/a//b", "prefix"},
            {"s3://K:%zz@bucket", "percent-encoded"},
            {"s3://:S@bucket", "empty access key"},
            {"s3://K:S%0A@bucket", "secret key has a character"},
            {"s3://K%2F:S@bucket", "access key id has a character"},
            {"file:///x", "s3://"},
        };
        for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            err.msg[0] = '\0';
            rc = s3_conf_parse(bad[i].url, &c, &err);
            CHECK(rc == AD_E_BAD_REQUEST && strstr(err.msg, bad[i].want),
                  "%s: %s \"%s\", want bad_request naming \"%s\"", bad[i].url, ad_code_name(rc),
                  err.msg, bad[i].want);
            CHECK(!strstr(err.msg, ":S@") && !strstr(err.msg, "S%0A"),
                  "%s: the message quotes the credentials: %s", bad[i].url, err.msg);
            if (rc == AD_OK) s3_conf_free(&c);
        }
    }
    { /* a 600-byte prefix is too long for S3's 1024-byte keys */
        char url[800];
        snprintf(url, sizeof(url), "s3://K:S@bucket/%0600d", 0);
        rc = s3_conf_parse(url, &c, &err);
        CHECK(rc == AD_E_BAD_REQUEST, "a long prefix: %s", ad_code_name(rc));
        if (rc == AD_OK) s3_conf_free(&c);
    }
}

static void test_credentials(void)
{
    char file[] = "/tmp/assetd-s3-parse-XXXXXX", url[200];
    s3_conf c;
    ad_error err = {0};
    ad_code rc;
    FILE *f;
    int fd;

    clear_env();
    rc = s3_conf_parse("s3://bucket", &c, &err);
    CHECK(rc == AD_E_BAD_REQUEST && strstr(err.msg, "no credentials"), "none: %s (%s)",
          ad_code_name(rc), err.msg);

    setenv("AWS_ACCESS_KEY_ID", "ENVKEY", 1);
    setenv("AWS_SECRET_ACCESS_KEY", "envsecret", 1);
    setenv("AWS_SESSION_TOKEN", "envtoken", 1);
    rc = s3_conf_parse("s3://bucket", &c, &err);
    CHECK(rc == AD_OK, "environment: %s (%s)", ad_code_name(rc), err.msg);
    if (rc == AD_OK) {
        CHECK_STR(c.access, "ENVKEY");
        CHECK_STR(c.secret, "envsecret");
        CHECK_STR(c.token, "envtoken");
        s3_conf_free(&c);
    }
    rc = s3_conf_parse("s3://URLKEY:urlsecret@bucket", &c, &err);
    CHECK(rc == AD_OK && !strcmp(c.access, "URLKEY") && !c.token,
          "the URL wins over the environment: %s", ad_code_name(rc));
    if (rc == AD_OK) s3_conf_free(&c);

    fd = mkstemp(file);
    CHECK(fd >= 0, "mkstemp");
    f = fdopen(fd, "w");
    fputs("; comment\n[default]\naws_access_key_id=DEFKEY\naws_secret_access_key=defsecret\n"
          "[profile other]\r\n  aws_access_key_id = OTHERKEY \r\n"
          "aws_secret_access_key\t=\tother secret with spaces\r\naws_session_token=tok\n"
          "[empty]\n",
          f);
    fclose(f);
    snprintf(url, sizeof(url), "s3://bucket?credentials=%s", file);
    rc = s3_conf_parse(url, &c, &err);
    CHECK(rc == AD_OK && !strcmp(c.access, "ENVKEY"), "the environment wins over a file: %s",
          ad_code_name(rc));
    if (rc == AD_OK) s3_conf_free(&c);
    clear_env();
    rc = s3_conf_parse(url, &c, &err);
    CHECK(rc == AD_OK && !strcmp(c.access, "DEFKEY") && !strcmp(c.secret, "defsecret"),
          "a file's default profile: %s (%s)", ad_code_name(rc), err.msg);
    if (rc == AD_OK) s3_conf_free(&c);
    snprintf(url, sizeof(url), "s3://bucket?credentials=%s&profile=other", file);
    rc = s3_conf_parse(url, &c, &err);
    CHECK(rc == AD_E_BAD_REQUEST && strstr(err.msg, "secret key has a character"),
          "a secret with spaces is refused: %s (%s)", ad_code_name(rc), err.msg);
    if (rc == AD_OK) s3_conf_free(&c);
    setenv("AWS_PROFILE", "empty", 1);
    snprintf(url, sizeof(url), "s3://bucket?credentials=%s", file);
    rc = s3_conf_parse(url, &c, &err);
    CHECK(rc == AD_E_BAD_REQUEST && strstr(err.msg, "[empty]") && strstr(err.msg, file),
          "AWS_PROFILE names a profile without keys: %s (%s)", ad_code_name(rc), err.msg);
    if (rc == AD_OK) s3_conf_free(&c);
    setenv("AWS_SHARED_CREDENTIALS_FILE", file, 1);
    setenv("AWS_PROFILE", "default", 1);
    rc = s3_conf_parse("s3://bucket", &c, &err);
    CHECK(rc == AD_OK && !strcmp(c.access, "DEFKEY"), "AWS_SHARED_CREDENTIALS_FILE: %s (%s)",
          ad_code_name(rc), err.msg);
    if (rc == AD_OK) s3_conf_free(&c);
    unlink(file);
    rc = s3_conf_parse("s3://bucket", &c, &err);
    CHECK(rc == AD_E_BAD_REQUEST && strstr(err.msg, file), "a missing named file: %s (%s)",
          ad_code_name(rc), err.msg);
    if (rc == AD_OK) s3_conf_free(&c);
    clear_env();
}

static void test_xml(void)
{
    const char *doc =
        "<?xml version=\"1.0\"?><Error><Code>NoSuchKey</Code>"
        "<Message>The key &lt;a&amp;b&gt; &quot;x&quot; &apos;y&apos; &#65;&#x42;&#x20AC;</Message>"
        "<Key/><Resource>r</Resource><CodeX>no</CodeX></Error>";
    char out[128];
    size_t pos = 0, start, end;
    CHECK(s3_xml_next(doc, strlen(doc), &pos, "Code", out, sizeof(out)) == 1 &&
              !strcmp(out, "NoSuchKey"),
          "Code: %s", out);
    pos = 0;
    CHECK(s3_xml_next(doc, strlen(doc), &pos, "Message", out, sizeof(out)) == 1 &&
              !strcmp(out, "The key <a&b> \"x\" 'y' AB\xe2\x82\xac"),
          "Message decoded: %s", out);
    pos = 0;
    CHECK(s3_xml_next(doc, strlen(doc), &pos, "Key", out, sizeof(out)) == 1 && !out[0],
          "an empty element <Key/>: \"%s\"", out);
    pos = 0;
    CHECK(s3_xml_next(doc, strlen(doc), &pos, "Nope", out, sizeof(out)) == 0, "a missing tag");
    pos = 0;
    CHECK(s3_xml_next(doc, strlen(doc), &pos, "Code", out, 5) == -1, "a value over the cap");
    pos = 0;
    CHECK(s3_xml_next(NULL, 0, &pos, "Code", out, sizeof(out)) == 0, "no body");
    { /* every occurrence in turn, and elements inside elements */
        const char *l = "<R><Upload><Key>k1</Key><UploadId>u1</UploadId></Upload>"
                        "<Upload><Key>k2</Key><UploadId>u2</UploadId></Upload></R>";
        int n = 0;
        pos = 0;
        while (s3_xml_element(l, strlen(l), &pos, "Upload", &start, &end) == 1) {
            size_t p1 = 0;
            char k[8];
            n++;
            CHECK(s3_xml_next(l + start, end - start, &p1, "Key", k, sizeof(k)) == 1 &&
                      k[1] == '0' + n,
                  "upload %d key %s", n, k);
        }
        CHECK(n == 2, "two uploads, got %d", n);
    }
    {
        static const char *const hostile[] = {
            "<Code>unterminated",     "<Code>a&bogus;b</Code>",     "<Code>&#0;</Code>",
            "<Code>&#xD800;</Code>",  "<Code>&#1114112;</Code>",    "<Code>&#12345678901;</Code>",
            "<Code>a<b>c</b></Code>", "<Code><![CDATA[x]]></Code>", "<Code",
            "<Code attr=\"",          "<Code>&amp</Code>",          "<Code>&#x;</Code>"};
        for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
            size_t n = strlen(hostile[i]);
            char *copy = malloc(n); /* exactly n bytes: ASan sees any overread */
            memcpy(copy, hostile[i], n);
            pos = 0;
            CHECK(s3_xml_next(copy, n, &pos, "Code", out, sizeof(out)) <= 0,
                  "hostile #%zu accepted: \"%s\"", i, out);
            free(copy);
        }
    }
}

static void test_encode(void)
{
    ad_buf b;
    ad_buf_init(&b, 1024);
    s3_uri_encode(&b, "a b/c~d_e-f.g+h%i?j=k&l\xc3\xa9", strlen("a b/c~d_e-f.g+h%i?j=k&l\xc3\xa9"),
                  true);
    CHECK_STR(b.data, "a%20b/c~d_e-f.g%2Bh%25i%3Fj%3Dk%26l%C3%A9");
    ad_buf_reset(&b);
    s3_uri_encode(&b, "2~x/y", 5, false);
    CHECK_STR(b.data, "2~x%2Fy");
    ad_buf_free(&b);
    {
        char hex[65];
        s3_sha256_hex("", 0, hex);
        const char *h = hex;
        CHECK_STR(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}

int main(void)
{
    test_url();
    test_credentials();
    test_xml();
    test_encode();
    return check_summary("test_s3_parse");
}
