/*
 * test_source.c — unit tests of the asset store's source block
 * (core/source.c): validation of every field and its message, the bounds,
 * service URLs through the template, the PCRE2 filter, and how a client's
 * create and update set generation and status (ad_source_prepare), also
 * through the model's validation and normalization.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testjson.h"
#include "core/model.h"
#include "core/source.h"

static const char good[] = "{'url': 'http://127.0.0.1:8000/docs.tar.gz', 'mode': 'package',"
                           " 'filter': '\\\\.md$', 'bucket': 'docs', 'displayName': 'Docs',"
                           " 'parameters': {'any': [1, 'json']},"
                           " 'validationWebhookService': [{'url': 'https://v.example/validate',"
                           "   'filter': 'x', 'parameters': {}}],"
                           " 'mutationWebhookService': [{'name': 'mutator', 'namespace': 'kyma',"
                           "   'endpoint': '/mutate'}],"
                           " 'metadataWebhookService': []}";

/* Checks that source text fails with a message starting with want. */
static void bad(const char *text, const char *want)
{
    json_t *s = js(text);
    ad_error err = {0};
    ad_code rc = ad_source_check(s, &err);
    CHECK(rc == AD_E_INVALID, "%s: got code %d", text, rc);
    CHECK(strncmp(err.msg, want, strlen(want)) == 0, "%s: got \"%s\", want \"%s...\"", text,
          err.msg, want);
    json_decref(s);
}

static void test_check(void)
{
    json_t *s = js(good);
    ad_error err = {0};
    CHECK(ad_source_check(s, &err) == AD_OK, "good source: %s", err.msg);
    json_decref(s);
    s = js("{'url': 'https://h/x.md', 'mode': 'single', 'bucket': 'b-1'}");
    CHECK(ad_source_check(s, &err) == AD_OK, "minimal source: %s", err.msg);
    json_decref(s);

    bad("[]", "source: must be an object");
    bad("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'docs', 'x': 1}",
        "source.x: unknown field");
    bad("{'mode': 'single', 'bucket': 'docs'}", "source.url: required");
    bad("{'url': 'ftp://h/x', 'mode': 'single', 'bucket': 'docs'}",
        "source.url: must be an http:// or https:// URL");
    bad("{'url': 'file:///etc/passwd', 'mode': 'single', 'bucket': 'docs'}",
        "source.url: must be an http");
    bad("{'url': 'http:///x', 'mode': 'single', 'bucket': 'docs'}", "source.url: has no host");
    bad("{'url': 'http://h/x', 'mode': 'zip', 'bucket': 'docs'}",
        "source.mode: must be single or package");
    bad("{'url': 'http://h/x', 'mode': 'single'}", "source.bucket: required");
    bad("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'Docs'}", "source.bucket: ");
    bad("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'docs', 'filter': '(unclosed'}",
        "source.filter: not a valid regular expression");
    bad("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'docs', 'filter': 5}",
        "source.filter: must be a string");
    bad("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'docs', 'displayName': ''}",
        "source.displayName: must not be empty");
    bad("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'docs',"
        " 'validationWebhookService': {}}",
        "source.validationWebhookService: must be a list of objects");
    bad("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'docs',"
        " 'mutationWebhookService': [{'filter': 'x'}]}",
        "source.mutationWebhookService[0]: needs either url, or name and endpoint");
    bad("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'docs',"
        " 'mutationWebhookService': [{'url': 'http://m/', 'name': 'm', 'endpoint': '/e'}]}",
        "source.mutationWebhookService[0]: needs either url");
    bad("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'docs',"
        " 'metadataWebhookService': [{'name': 'm'}]}",
        "source.metadataWebhookService[0].endpoint: required");
    bad("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'docs',"
        " 'metadataWebhookService': [{'name': 'm', 'endpoint': 'e'}]}",
        "source.metadataWebhookService[0].endpoint: must start with '/'");
    bad("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'docs',"
        " 'validationWebhookService': [{'url': 'http://v/', 'filter': '['}]}",
        "source.validationWebhookService[0].filter: not a valid regular expression");
    bad("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'docs',"
        " 'validationWebhookService': [{'url': 'gopher://v/'}]}",
        "source.validationWebhookService[0].url: must be an http");
    bad("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'docs',"
        " 'validationWebhookService': [{'url': 'http://v/', 'endpoint': '/x'}]}",
        "source.validationWebhookService[0]: endpoint and namespace go with name");

    /* bounds: webhook count, pattern length */
    {
        json_t *src = js("{'url': 'http://h/x', 'mode': 'single', 'bucket': 'docs'}");
        json_t *list = json_array();
        char *pat = malloc(AD_SOURCE_PATTERN_MAX + 2);
        int i;
        for (i = 0; i <= AD_SOURCE_WEBHOOKS_MAX; i++)
            json_array_append_new(list, json_pack("{s:s}", "url", "http://v/"));
        json_object_set_new(src, "validationWebhookService", list);
        CHECK(ad_source_check(src, &err) == AD_E_INVALID && strstr(err.msg, "more than 16"), "%s",
              err.msg);
        json_object_del(src, "validationWebhookService");
        memset(pat, 'a', AD_SOURCE_PATTERN_MAX + 1);
        pat[AD_SOURCE_PATTERN_MAX + 1] = '\0';
        json_object_set_new(src, "filter", json_string(pat));
        CHECK(ad_source_check(src, &err) == AD_E_INVALID && strstr(err.msg, "longer than"), "%s",
              err.msg);
        free(pat);
        json_decref(src);
    }
}

static void test_hook_url(void)
{
    json_t *e = js("{'name': 'mutator', 'namespace': 'kyma', 'endpoint': '/mutate'}");
    char url[256];
    ad_error err = {0};
    CHECK(ad_source_hook_url(e, NULL, url, sizeof(url), &err) == AD_OK, "%s", err.msg);
    CHECK(strcmp(url, "http://mutator.kyma.svc.cluster.local/mutate") == 0, "%s", url);
    CHECK(ad_source_hook_url(e, "http://127.0.0.1:9000/{namespace}/{name}{endpoint}", url,
                             sizeof(url), &err) == AD_OK,
          "%s", err.msg);
    CHECK(strcmp(url, "http://127.0.0.1:9000/kyma/mutator/mutate") == 0, "%s", url);
    json_decref(e);
    e = js("{'name': 'm', 'endpoint': '/e'}");
    CHECK(ad_source_hook_url(e, NULL, url, sizeof(url), &err) == AD_OK, "%s", err.msg);
    CHECK(strcmp(url, "http://m.default.svc.cluster.local/e") == 0, "%s", url);
    CHECK(ad_source_hook_url(e, NULL, url, 10, &err) == AD_E_INVALID, "too small");
    json_decref(e);
    e = js("{'url': 'http://v:1/validate'}");
    CHECK(ad_source_hook_url(e, NULL, url, sizeof(url), &err) == AD_OK, "%s", err.msg);
    CHECK(strcmp(url, "http://v:1/validate") == 0, "%s", url);
    json_decref(e);
}

static void test_regex(void)
{
    ad_regex *re = NULL;
    ad_error err = {0};
    CHECK(ad_regex_compile("\\.md$", &re, &err) == AD_OK, "%s", err.msg);
    CHECK(ad_regex_match(re, "docs/README.md"), "matches");
    CHECK(!ad_regex_match(re, "docs/README.mdx"), "does not match");
    ad_regex_free(re);
    CHECK(ad_regex_match(NULL, "anything"), "no filter keeps all");
    /* catastrophic backtracking ends at the match limit: no match, no hang */
    CHECK(ad_regex_compile("^(a+)+$", &re, &err) == AD_OK, "%s", err.msg);
    CHECK(
        !ad_regex_match(
            re, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"),
        "bounded");
    ad_regex_free(re);
}

static json_t *asset_with(const char *source)
{
    json_t *a = js("{'asset_id': 'default.docs'}");
    json_object_set_new(a, "source", js(source));
    return a;
}

static void test_prepare(void)
{
    ad_error err = {0};
    int64_t gen = 0;
    json_t *a = asset_with(good), *prev, *norm;
    /* a client's generation and status are ignored */
    json_object_set_new(a, "generation", json_integer(42));
    json_object_set_new(a, "status", js("{'phase': 'Ready'}"));
    CHECK(ad_source_prepare(NULL, a, &gen, &err) == AD_OK, "%s", err.msg);
    CHECK(gen == 1, "generation %lld", (long long)gen);
    CHECK(json_integer_value(json_object_get(a, "generation")) == 1, "stored generation");
    CHECK_STR(json_string_value(json_object_get(json_object_get(a, "status"), "phase")), "Pending");
    CHECK_STR(json_string_value(json_object_get(json_object_get(a, "status"), "message")),
              "waiting for the controller");
    CHECK_STR(json_string_value(json_object_get(a, "asset_uri")),
              "http://127.0.0.1:8000/docs.tar.gz");
    CHECK_STR(json_string_value(json_object_get(a, "asset_version")), "1");
    CHECK_STR(json_string_value(json_object_get(a, "asset_profile_id")), "");
    CHECK(json_array_size(json_object_get(a, "asset_file_ids")) == 0, "no files yet");
    CHECK(ad_asset_validate(a, &err) == AD_OK, "valid: %s", err.msg);
    norm = ad_asset_normalize(a);
    CHECK(norm && json_is_object(json_object_get(norm, "source")) &&
              json_integer_value(json_object_get(norm, "generation")) == 1,
          "normalized keeps source and generation");
    json_decref(norm);

    /* the controller has stored: Ready, files */
    json_object_set_new(a, "status",
                        js("{'phase': 'Ready', 'observedGeneration': 1,"
                           " 'assetRef': {'baseUrl': 'x', 'files': []}}"));
    json_object_set_new(a, "asset_file_ids", js("['a.md']"));
    prev = json_deep_copy(a);

    /* an update that does not change the source: same generation, status kept,
     * a client's files ignored */
    json_object_set_new(a, "asset_brief_description", json_string("x"));
    json_object_set_new(a, "asset_file_ids", js("['evil']"));
    json_object_set_new(a, "generation", json_integer(7));
    CHECK(ad_source_prepare(prev, a, &gen, &err) == AD_OK, "%s", err.msg);
    CHECK(gen == 0, "no new generation: %lld", (long long)gen);
    CHECK(json_integer_value(json_object_get(a, "generation")) == 1, "generation kept");
    CHECK_STR(json_string_value(json_object_get(json_object_get(a, "status"), "phase")), "Ready");
    CHECK_STR(json_string_value(json_array_get(json_object_get(a, "asset_file_ids"), 0)), "a.md");

    /* a changed source: generation 2, Pending, observedGeneration and assetRef kept */
    json_object_set_new(json_object_get(a, "source"), "filter", json_string("\\.txt$"));
    CHECK(ad_source_prepare(prev, a, &gen, &err) == AD_OK, "%s", err.msg);
    CHECK(gen == 2, "new generation: %lld", (long long)gen);
    CHECK_STR(json_string_value(json_object_get(json_object_get(a, "status"), "phase")), "Pending");
    CHECK(json_integer_value(json_object_get(json_object_get(a, "status"), "observedGeneration")) ==
              1,
          "observedGeneration kept");
    CHECK(json_object_get(json_object_get(a, "status"), "assetRef") != NULL, "assetRef kept");

    /* removing the source is refused */
    json_object_set_new(a, "source", json_null());
    CHECK(ad_source_prepare(prev, a, &gen, &err) == AD_E_INVALID &&
              strstr(err.msg, "cannot be removed"),
          "%s", err.msg);
    json_decref(prev);
    json_decref(a);

    /* an asset without a source keeps the seed's shape */
    a = js("{'asset_id': 'x', 'asset_uri': 'u', 'asset_version': '1', 'asset_profile_id': 'p',"
           " 'asset_file_ids': [], 'status': {'phase': 'Ready'}, 'generation': 3}");
    CHECK(ad_source_prepare(NULL, a, &gen, &err) == AD_OK && gen == 0, "%s", err.msg);
    CHECK(!json_object_get(a, "status") && !json_object_get(a, "generation"), "dropped");
    norm = ad_asset_normalize(a);
    CHECK(norm && !json_object_get(norm, "source") && !json_object_get(norm, "status"),
          "no store fields");
    json_decref(norm);
    json_decref(a);

    /* the model validates a bad source through ad_source_check */
    a = asset_with("{'url': 'http://h/x', 'mode': 'bad', 'bucket': 'docs'}");
    json_object_set_new(a, "asset_uri", json_string("u"));
    json_object_set_new(a, "asset_version", json_string("1"));
    json_object_set_new(a, "asset_profile_id", json_string(""));
    json_object_set_new(a, "asset_file_ids", json_array());
    CHECK(ad_asset_validate(a, &err) == AD_E_INVALID && strstr(err.msg, "source.mode"), "%s",
          err.msg);
    json_decref(a);
}

int main(void)
{
    test_check();
    test_hook_url();
    test_regex();
    test_prepare();
    return check_summary("source");
}
