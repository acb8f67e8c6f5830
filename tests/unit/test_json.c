/*
 * test_json.c — client JSON parsing limits (util/json.c), the capped
 * buffer (util/buf.c) and string helpers (util/str.c).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "util/buf.h"
#include "util/json.h"
#include "store/blob.h"
#include "store/jobs.h"
#include "store/meta.h"
#include "util/str.h"

static char *nested(size_t depth)
{
    char *s = malloc(depth * 2 + 1);
    size_t i;
    for (i = 0; i < depth; i++) s[i] = '[', s[depth * 2 - 1 - i] = ']';
    s[depth * 2] = '\0';
    return s;
}

static void parse_cases(void)
{
    static const struct {
        const char *in;
        const char *want_err; /* NULL: must parse */
    } cases[] = {
        {"{\"a\": 1}", NULL},
        {"[1, 2, {\"b\": [true, null]}]", NULL},
        {"\"x\"", NULL},
        {"{\"a\": \"[[[[\"}", NULL}, /* brackets inside strings don't nest */
        {"{\"a\": 1,}", "line 1 column"},
        {"{\n  \"a\": 1\n  \"b\": 2\n}", "line 3 column"},
        {"{\"a\": 1, \"a\": 2}", "duplicate"},
        {"{\"a\": \"\xff\"}", "invalid JSON"},
        {"{\"a\": \"\\u0000\"}", "invalid JSON"},
        {"", "body is empty"},
        {"nul", "invalid JSON"},
    };
    size_t i;
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        json_t *j = NULL;
        ad_error err = {0};
        ad_code rc = ad_json_parse(cases[i].in, strlen(cases[i].in), 64, &j, &err);
        if (!cases[i].want_err) {
            CHECK(rc == AD_OK && j, "case %zu should parse: %s", i, err.msg);
        } else {
            CHECK(rc == AD_E_BAD_JSON && !j && strstr(err.msg, cases[i].want_err),
                  "case %zu: want error containing \"%s\", got \"%s\"", i, cases[i].want_err,
                  err.msg);
        }
        json_decref(j);
    }
}

static void depth_cases(void)
{
    char *ok = nested(64), *deep = nested(65);
    json_t *j = NULL;
    ad_error err = {0};
    CHECK(ad_json_parse(ok, strlen(ok), 64, &j, &err) == AD_OK, "64 levels parse: %s", err.msg);
    json_decref(j);
    j = NULL;
    CHECK(ad_json_parse(deep, strlen(deep), 64, &j, &err) == AD_E_BAD_JSON &&
              strstr(err.msg, "deeper than 64"),
          "65 levels rejected: %s", err.msg);
    CHECK(j == NULL, "no document on error");
    free(ok);
    free(deep);
}

static void buf_cases(void)
{
    ad_buf b;
    ad_buf_init(&b, 8);
    CHECK(ad_buf_puts(&b, "12345678") == AD_OK && b.len == 8, "fills to the cap");
    CHECK(ad_buf_append(&b, "9", 1) == AD_E_TOO_LARGE && b.len == 8, "refuses past the cap");
    ad_buf_free(&b);
    ad_buf_init(&b, 1024);
    ad_buf_json_string(&b, "a\"b\\c\n\x01\x7f", 8);
    CHECK_STR(b.data, "\"a\\\"b\\\\c\\n\\u0001\\u007f\"");
    ad_buf_free(&b);
}

static void str_cases(void)
{
    char out[64];
    uint64_t v = 0;
    CHECK(ad_pct_decode("a%20b%2Fc", 9, out, false) == 5 && strcmp(out, "a b/c") == 0,
          "decodes %%XX: %s", out);
    CHECK(ad_pct_decode("a+b", 3, out, true) == 3 && strcmp(out, "a b") == 0, "plus in query");
    CHECK(ad_pct_decode("a+b", 3, out, false) == 3 && strcmp(out, "a+b") == 0, "plus in path");
    CHECK(ad_pct_decode("%4", 2, out, false) == -1, "truncated escape rejected");
    CHECK(ad_pct_decode("%zz", 3, out, false) == -1, "bad hex rejected");
    CHECK(ad_pct_decode("%00", 3, out, false) == -1, "NUL rejected");
    CHECK(ad_utf8_valid("h\xc3\xa9llo", 6), "valid UTF-8");
    CHECK(!ad_utf8_valid("\xc3", 1), "truncated sequence");
    CHECK(!ad_utf8_valid("\xc0\xaf", 2), "overlong");
    CHECK(!ad_utf8_valid("\xed\xa0\x80", 3), "surrogate");
    CHECK(!ad_utf8_valid("\xf4\x90\x80\x80", 4), "above U+10FFFF");
    CHECK(ad_parse_u64("42", 100, &v) && v == 42, "parses 42");
    CHECK(!ad_parse_u64("101", 100, &v), "over max");
    CHECK(!ad_parse_u64("-1", 100, &v) && !ad_parse_u64("", 100, &v) &&
              !ad_parse_u64("1x", 100, &v) && !ad_parse_u64(" 1", 100, &v),
          "rejects signs, empty, junk, spaces");
    CHECK(!ad_parse_u64("18446744073709551616", UINT64_MAX, &v), "overflow");
}

static void redact_case(const char *url, const char *want)
{
    char out[256];
    ad_url_redact(url, out, sizeof(out));
    CHECK(strcmp(out, want) == 0, "redact %s: got %s, want %s", url, out, want);
}

static void url_redact_cases(void)
{
    char small[12];
    redact_case("sqlite:///var/lib/assetd/registry.db", "sqlite:///var/lib/assetd/registry.db");
    redact_case("postgresql://assetd:s3cret@127.0.0.1:5432/reg?sslmode=disable",
                "postgresql://assetd:***@127.0.0.1:5432/reg?sslmode=disable");
    redact_case("redis://:pw@127.0.0.1:6379/0", "redis://:***@127.0.0.1:6379/0");
    redact_case("mongodb://user@h1,h2/db", "mongodb://user@h1,h2/db");
    redact_case("s3://AKIA:wJal/rXU@bucket/prefix?endpoint=http://x&region=eu",
                "s3://AKIA:***@bucket/prefix?endpoint=http://x&region=eu");
    redact_case("s3://b?secret_key=abc&access_key=def&part_size=8MiB&password=p#frag",
                "s3://b?secret_key=***&access_key=***&part_size=8MiB&password=***#frag");
    redact_case("local:///d/jobs.db?apiToken=zzz", "local:///d/jobs.db?apiToken=***");
    /* secrets with an unescaped '/' or '+', and an '@' only in a parameter */
    redact_case("s3://AKID:se/cr+et@bucket/prefix", "s3://AKID:***@bucket/prefix");
    redact_case("s3://bucket?endpoint=http://u@h", "s3://bucket?endpoint=http://u@h");
    redact_case("postgresql://u:p@localhost/db", "postgresql://u:***@localhost/db");
    redact_case("no-scheme", "no-scheme");
    /* an '@' in the path is not userinfo */
    redact_case("file:///data/a:b@c", "file:///data/a:b@c");
    {
        /* the stores' "unknown scheme" messages show the URL masked */
        ad_meta *m = NULL;
        ad_blob *b = NULL;
        ad_jobs *j = NULL;
        ad_error e1 = {0}, e2 = {0}, e3 = {0};
        CHECK(ad_meta_open("nosuch://u:hunter2@h/db", &m, &e1) == AD_E_BAD_REQUEST &&
                  !strstr(e1.msg, "hunter2") && strstr(e1.msg, "u:***@"),
              "meta: %s", e1.msg);
        CHECK(ad_blob_open("nosuch://k:hunter2@b", &b, &e2) == AD_E_BAD_REQUEST &&
                  !strstr(e2.msg, "hunter2"),
              "blob: %s", e2.msg);
        CHECK(ad_jobs_open("nosuch://:hunter2@h", &j, &e3) == AD_E_BAD_REQUEST &&
                  !strstr(e3.msg, "hunter2"),
              "jobs: %s", e3.msg);
    }
    ad_url_redact("postgresql://u:secretsecret@h/db", small, sizeof(small));
    CHECK(strlen(small) == sizeof(small) - 1 && !strstr(small, "secret"), "truncated: %s", small);
}

int main(void)
{
    url_redact_cases();
    parse_cases();
    depth_cases();
    buf_cases();
    str_cases();
    return check_summary("json");
}
