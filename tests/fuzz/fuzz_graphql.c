/*
 * fuzz_graphql.c — libFuzzer target for the GraphQL endpoint's document
 * pipeline, as api/graphql.c drives it: gql_run (lexer → parser →
 * validation → variable coercion → execution) against a real registry,
 * a SQLite store made once per process in a temporary directory under
 * $TMPDIR (default /tmp; removed at exit) and holding a few assets.
 *
 * Input: the query text, optionally followed by a NUL byte and the
 * variables as JSON, optionally followed by another NUL byte and the
 * operation name. Invariant checked: the response body is always one JSON
 * object.
 */
#include <ftw.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/registry.h"
#include "graphql/graphql.h"
#include "store/meta.h"
#include "util/json.h"

static char dir[4096];
static ad_meta *meta;
static ad_registry *reg;

static const char *const assets[] = {
    "{\"asset_id\":\"a1\",\"asset_uri\":\"models://example.com/x\",\"asset_version\":\"v1\","
    "\"asset_profile_id\":\"p1\",\"asset_file_ids\":[\"f1\"],\"asset_brief_description\":\"b\","
    "\"profiles\":[{\"asset_profile_id\":\"p1\",\"asset_type\":\"model\","
    "\"asset_sub_type\":\"llm\",\"asset_id\":\"a1\",\"asset_tags\":[\"generative\"]}],"
    "\"apis\":[{\"asset_api_id\":\"api1\",\"asset_id\":\"a1\","
    "\"asset_api_route\":\"/api/v1/generate\",\"asset_api_svc\":\"svc\"}]}",
    "{\"asset_id\":\"d1\",\"asset_uri\":\"datasets://example.com/d\",\"asset_version\":\"v2\","
    "\"asset_profile_id\":\"p2\",\"asset_file_ids\":[\"f2\",\"f3\"],"
    "\"asset_container_registry_creds_config\":{\"k\":[1,{\"x\":null}]},"
    "\"profiles\":[{\"asset_profile_id\":\"p2\",\"asset_type\":\"dataset\","
    "\"asset_sub_type\":\"csv\",\"asset_id\":\"d1\",\"asset_tags\":[\"tabular\",\"small\"]}],"
    "\"apis\":[{\"asset_api_id\":\"api2\",\"asset_id\":\"d1\","
    "\"asset_api_route\":\"/api/v1/data\",\"asset_api_protocol\":\"http\"}]}",
};

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

static void teardown(void)
{
    if (!dir[0]) return;
    if (reg) ad_registry_free(reg);
    if (meta) meta->ops->close(meta);
    reg = NULL, meta = NULL;
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    char url[128];
    ad_error err = {0};
    const char *tmp = getenv("TMPDIR");
    (void)argc, (void)argv;
    snprintf(dir, sizeof(dir), "%s/fuzz_graphql_XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(dir)) {
        perror("fuzz_graphql: mkdtemp");
        abort();
    }
    atexit(teardown);
    snprintf(url, sizeof(url), "sqlite://%s/registry.db", dir);
    if (ad_meta_open(url, &meta, &err)) {
        fprintf(stderr, "fuzz_graphql: open %s: %s\n", url, err.msg);
        abort();
    }
    reg = ad_registry_new(meta);
    if (!reg) abort();
    for (size_t i = 0; i < sizeof(assets) / sizeof(assets[0]); i++) {
        json_t *a = json_loads(assets[i], 0, NULL);
        ad_doc d = {0};
        if (!a || ad_registry_create(reg, a, &d, &err)) {
            fprintf(stderr, "fuzz_graphql: create asset %zu: %s\n", i, err.msg);
            abort();
        }
        ad_doc_free(&d);
        json_decref(a);
    }
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    const char *nul = memchr(p, '\0', size);
    gql_request req = {
        .query = p, .query_len = nul ? (size_t)(nul - p) : size, .quoted_keys = true};
    gql_response resp = {0};
    json_t *vars = NULL, *body;
    char *opname = NULL;

    if (nul) {
        const char *v = nul + 1, *nul2 = memchr(v, '\0', (size_t)(end - v));
        size_t vlen = nul2 ? (size_t)(nul2 - v) : (size_t)(end - v);
        ad_error err = {0};
        if (ad_json_parse(v, vlen, AD_JSON_MAX_DEPTH, &vars, &err) == AD_OK && json_is_object(vars))
            req.variables = vars;
        if (nul2) {
            opname = strndup(nul2 + 1, (size_t)(end - nul2 - 1));
            req.operation_name = opname;
        }
    }
    if (gql_run(reg, &req, &resp) == AD_OK) {
        body = json_loadb(resp.body, resp.len, 0, NULL);
        if (!json_is_object(body)) {
            fprintf(stderr, "fuzz_graphql: the response is not a JSON object: %.*s\n",
                    (int)(resp.len > 2000 ? 2000 : resp.len), resp.body);
            abort();
        }
        json_decref(body);
    }
    free(resp.body);
    free(opname);
    json_decref(vars);
    return 0;
}
