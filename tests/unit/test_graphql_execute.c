/*
 * test_graphql_execute.c — whole requests through gql_run against a real
 * registry on a temporary SQLite file: the schema bound to the registry
 * (every Query field, camelCase fields, limit/skip), variables and their
 * coercion, operationName, fragments and directives at execution, field
 * errors with partial data and null propagation, the response size cap,
 * and the descriptions the introspection gives for every model field.
 */
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/model.h"
#include "core/registry.h"
#include "graphql/asset_doc.h"
#include "graphql/graphql.h"
#include "store/meta.h"

static ad_registry *reg;
static ad_meta *meta;

typedef struct result {
    json_t *body;
    bool executed;
    char *text;
} result;

static void run_full(const char *query, const char *vars, const char *op, const gql_limits *lim,
                     result *r)
{
    json_t *v = vars ? json_loads(vars, 0, NULL) : NULL;
    gql_request req = {query, strlen(query), v, op, true, lim, true};
    gql_response resp;
    memset(r, 0, sizeof(*r));
    CHECK(gql_run(reg, &req, &resp) == AD_OK, "gql_run: %s", query);
    r->body = json_loadb(resp.body, resp.len, 0, NULL);
    r->executed = resp.executed;
    r->text = resp.body;
    json_decref(v);
}

static void run(const char *query, result *r)
{
    run_full(query, NULL, NULL, NULL, r);
}

static void result_free(result *r)
{
    json_decref(r->body);
    free(r->text);
}

/* The JSON at a path like "data.getAssetById.assetId" or "errors.0.message". */
static json_t *at(json_t *j, const char *path)
{
    char buf[256], *save = NULL, *part;
    snprintf(buf, sizeof(buf), "%s", path);
    for (part = strtok_r(buf, ".", &save); part && j; part = strtok_r(NULL, ".", &save)) {
        if (json_is_array(j))
            j = json_array_get(j, (size_t)atoi(part));
        else
            j = json_object_get(j, part);
    }
    return j;
}

static const char *str_at(json_t *j, const char *path)
{
    const char *s = json_string_value(at(j, path));
    return s ? s : "(none)";
}

/* ---- fixtures ----------------------------------------------------------- */

static void create(const char *id, const char *type, const char *sub, const char *tag,
                   const char *route, const char *version)
{
    json_t *a = json_pack(
        "{s:s,s:s,s:s,s:s,s:[s],s:[{s:s,s:s,s:s,s:s,s:[s]}],s:[{s:s,s:s,s:s}],s:s}", "asset_id", id,
        "asset_uri", "models://example.com/x", "asset_version", version, "asset_profile_id", "p1",
        "asset_file_ids", "f1", "profiles", "asset_profile_id", "p1", "asset_type", type,
        "asset_sub_type", sub, "asset_id", id, "asset_tags", tag, "apis", "asset_api_id", "api1",
        "asset_id", id, "asset_api_route", route, "asset_brief_description", "brief");
    ad_doc d = {0};
    ad_error err = {0};
    CHECK(a && ad_registry_create(reg, a, &d, &err) == AD_OK, "create %s: %s", id, err.msg);
    ad_doc_free(&d);
    json_decref(a);
}

/* Stores a document as is, bypassing validation (a damaged store). */
static void insert_raw(const char *id, const char *text)
{
    json_t *doc = json_loads(text, 0, NULL);
    int64_t rev;
    ad_error err = {0};
    CHECK(meta->ops->insert(meta, id, text, strlen(text), doc, &rev, &err) == AD_OK,
          "raw insert %s: %s", id, err.msg);
    json_decref(doc);
}

/* ---- tests -------------------------------------------------------------- */

static void test_get_by_id(void)
{
    result r;
    run("{ getAssetById(assetId: \"a1\") { assetId assetUri assetVersion assetProfileId "
        "assetFileIds assetContainerUri assetPolicyIds assetBriefDescription profiles apis "
        "indexMappings __typename } }",
        &r);
    CHECK(r.executed && !at(r.body, "errors"), "executed without errors: %s", r.text);
    CHECK_STR(str_at(r.body, "data.getAssetById.assetId"), "a1");
    CHECK_STR(str_at(r.body, "data.getAssetById.assetVersion"), "v1");
    CHECK_STR(str_at(r.body, "data.getAssetById.assetFileIds.0"), "f1");
    CHECK(json_is_null(at(r.body, "data.getAssetById.assetContainerUri")), "optional → null");
    CHECK(json_array_size(at(r.body, "data.getAssetById.assetPolicyIds")) == 0, "defaulted → []");
    CHECK_STR(str_at(r.body, "data.getAssetById.profiles.0.asset_sub_type"), "llm");
    CHECK_STR(str_at(r.body, "data.getAssetById.apis.0.asset_api_route"), "/api/v1/generate");
    CHECK_STR(str_at(r.body, "data.getAssetById.__typename"), "Asset");
    /* the response keeps the order of the selection */
    CHECK(strstr(r.text, "{\"data\":{\"getAssetById\":{\"assetId\":\"a1\",\"assetUri\"") == r.text,
          "ordered: %s", r.text);
    result_free(&r);
    run("{ getAssetById(assetId: \"missing\") { assetId } }", &r);
    CHECK(r.executed && json_is_null(at(r.body, "data.getAssetById")) && !at(r.body, "errors"),
          "unknown id → null, no error: %s", r.text);
    result_free(&r);
    run("{ getAssetById(assetId: \"a1\\u0000x\") { assetId } }", &r);
    CHECK(json_is_null(at(r.body, "data.getAssetById")), "an id with a NUL → null: %s", r.text);
    result_free(&r);
}

static void test_lists(void)
{
    result r;
    run("{ t: getAssetsByType(assetType: \"model\") { assetId } "
        "g: getAssetsByTag(tag: \"generative\") { assetId } "
        "s: getAssetsBySubType(subType: \"llm\") { assetId } "
        "r: getAssetsByApiRoute(route: \"api/v1/generate\") { assetId } "
        "r2: getAssetsByApiRoute(route: \"/api/v1/generate\") { assetId } "
        "d: getAssetsByType(assetType: \"dataset\") { assetId } "
        "all: searchAssets { assetId } }",
        &r);
    CHECK(r.executed && !at(r.body, "errors"), "lists: %s", r.text);
    CHECK(json_array_size(at(r.body, "data.t")) == 3, "3 models: %s", r.text);
    CHECK(json_array_size(at(r.body, "data.g")) == 3, "3 generative");
    CHECK(json_array_size(at(r.body, "data.s")) == 3, "3 llm");
    CHECK(json_array_size(at(r.body, "data.r")) == 2 && json_array_size(at(r.body, "data.r2")) == 2,
          "2 on the route, with or without the slash");
    CHECK(json_array_size(at(r.body, "data.d")) == 1, "1 dataset");
    CHECK(json_array_size(at(r.body, "data.all")) == 4, "all 4");
    CHECK_STR(str_at(r.body, "data.t.0.assetId"), "a1");
    result_free(&r);
    run("{ getAssetsByType(assetType: \"model\", limit: 1, skip: 1) { assetId } }", &r);
    CHECK(json_array_size(at(r.body, "data.getAssetsByType")) == 1 &&
              strcmp(str_at(r.body, "data.getAssetsByType.0.assetId"), "a2") == 0,
          "limit 1 skip 1 → a2: %s", r.text);
    result_free(&r);
    run("{ getAssetsByType(assetType: \"model\", limit: 0) { assetId } }", &r);
    CHECK(json_array_size(at(r.body, "data.getAssetsByType")) == 0, "limit 0: %s", r.text);
    result_free(&r);
}

static void test_search(void)
{
    result r;
    run("{ q: searchAssets(filters: { \"profiles.asset_sub_type\": \"llm\" }) { assetId } "
        "p: searchAssets(filters: {asset_version: \"v2\"}) { assetId } "
        "e: searchAssets(filters: {asset_version: v2}) { assetId } "
        "o: searchAssets(filters: {\"asset_version\": {\"$in\": [\"v2\", \"v3\"]}}) { assetId } }",
        &r);
    CHECK(r.executed && !at(r.body, "errors"), "search: %s", r.text);
    CHECK(json_array_size(at(r.body, "data.q")) == 3, "quoted dotted key");
    CHECK(json_array_size(at(r.body, "data.p")) == 1 &&
              strcmp(str_at(r.body, "data.p.0.assetId"), "a2") == 0,
          "plain names");
    CHECK(json_array_size(at(r.body, "data.e")) == 1, "an enum value is a string");
    CHECK(json_array_size(at(r.body, "data.o")) == 2, "$in through quoted keys");
    result_free(&r);
    run_full("query ($f: GenericScalar) { searchAssets(filters: $f) { assetId } }",
             "{\"f\": {\"profiles.asset_type\": \"dataset\"}}", NULL, NULL, &r);
    CHECK(json_array_size(at(r.body, "data.searchAssets")) == 1, "a filter in a variable: %s",
          r.text);
    result_free(&r);
}

static void test_field_errors(void)
{
    result r;
    run("{ ok: getAssetById(assetId: \"a1\") { assetId } "
        "bad: searchAssets(filters: {\"$where\": \"1\"}) { assetId } "
        "neg: getAssetsByTag(tag: \"generative\", limit: -1) { assetId } "
        "str: searchAssets(filters: \"x\") { assetId } }",
        &r);
    CHECK(r.executed, "field errors still execute: %s", r.text);
    CHECK_STR(str_at(r.body, "data.ok.assetId"), "a1");
    CHECK(json_is_null(at(r.body, "data.bad")) && json_is_null(at(r.body, "data.neg")) &&
              json_is_null(at(r.body, "data.str")),
          "failed fields are null: %s", r.text);
    CHECK(json_array_size(at(r.body, "errors")) == 3, "three errors");
    CHECK(strstr(str_at(r.body, "errors.0.message"), "$where") != NULL, "names the operator");
    CHECK_STR(str_at(r.body, "errors.0.path.0"), "bad");
    CHECK_STR(str_at(r.body, "errors.0.extensions.code"), "BAD_USER_INPUT");
    CHECK(json_integer_value(at(r.body, "errors.0.locations.0.line")) == 1, "location");
    CHECK(strstr(str_at(r.body, "errors.1.message"), "limit must not be negative") != NULL,
          "negative limit");
    CHECK(strstr(str_at(r.body, "errors.2.message"), "filters must be an object") != NULL,
          "non-object filter");
    CHECK(strstr(r.text, "{\"errors\":") == r.text, "errors come first");
    result_free(&r);
}

static void test_null_propagation(void)
{
    result r;
    /* damaged documents: a required string missing, a string that is a number */
    insert_raw("broken1", "{\"asset_id\":\"broken1\",\"asset_version\":\"v9\",\"profiles\":[]}");
    insert_raw("broken2", "{\"asset_id\":\"broken2\",\"asset_uri\":\"u\",\"asset_version\":5,"
                          "\"profiles\":[]}");
    run("{ getAssetById(assetId: \"broken1\") { assetId assetUri } }", &r);
    CHECK(r.executed && json_is_null(at(r.body, "data.getAssetById")),
          "a null non-null field makes its object null: %s", r.text);
    CHECK(strstr(str_at(r.body, "errors.0.message"), "Cannot return null for non-nullable field") !=
              NULL,
          "message");
    CHECK_STR(str_at(r.body, "errors.0.path.1"), "assetUri");
    result_free(&r);
    run("{ searchAssets(filters: {\"asset_version\": {\"$in\": [\"v9\", 5]}}) { assetId "
        "assetVersion } }",
        &r);
    CHECK(json_array_size(at(r.body, "data.searchAssets")) == 2, "both listed: %s", r.text);
    CHECK_STR(str_at(r.body, "data.searchAssets.0.assetVersion"), "v9");
    CHECK(json_is_null(at(r.body, "data.searchAssets.1")),
          "the item with a bad non-null field is null: %s", r.text);
    CHECK(strstr(str_at(r.body, "errors.0.message"), "String cannot represent value: 5") != NULL,
          "a number is not a String: %s", r.text);
    CHECK(json_integer_value(at(r.body, "errors.0.path.1")) == 1, "path has the index");
    result_free(&r);
    meta->ops->remove(meta, "broken1", AD_REV_ANY, NULL);
    meta->ops->remove(meta, "broken2", AD_REV_ANY, NULL);
}

static void test_variables_and_operations(void)
{
    result r;
    run_full("query ($id: String!) { getAssetById(assetId: $id) { assetId } }", "{}", NULL, NULL,
             &r);
    CHECK(!r.executed && !at(r.body, "data"), "missing required variable: no data: %s", r.text);
    CHECK(strstr(str_at(r.body, "errors.0.message"),
                 "Variable \"$id\" of required type \"String!\" was not provided.") != NULL,
          "message");
    CHECK_STR(str_at(r.body, "errors.0.extensions.code"), "BAD_USER_INPUT");
    result_free(&r);
    run_full("query ($id: String!) { getAssetById(assetId: $id) { assetId } }", "{\"id\": 7}", NULL,
             NULL, &r);
    CHECK(!r.executed && strstr(str_at(r.body, "errors.0.message"), "got invalid value 7") != NULL,
          "wrong variable type: %s", r.text);
    result_free(&r);
    run_full("query ($id: String!) { getAssetById(assetId: $id) { assetId } }", "{\"id\": null}",
             NULL, NULL, &r);
    CHECK(!r.executed && strstr(str_at(r.body, "errors.0.message"), "not to be null") != NULL,
          "null for a non-null variable: %s", r.text);
    result_free(&r);
    run_full("query ($n: Int = 1, $s: Int) { getAssetsByType(assetType: \"model\", limit: $n, "
             "skip: $s) { assetId } }",
             "{\"s\": 2.0}", NULL, NULL, &r);
    CHECK(r.executed && json_array_size(at(r.body, "data.getAssetsByType")) == 1 &&
              strcmp(str_at(r.body, "data.getAssetsByType.0.assetId"), "a3") == 0,
          "default limit 1, skip 2.0 accepted as an Int: %s", r.text);
    result_free(&r);
    run_full("query A { a: __typename } query B { b: __typename }", NULL, "B", NULL, &r);
    CHECK(r.executed && json_is_string(at(r.body, "data.b")) && !at(r.body, "data.a"),
          "operationName picks B: %s", r.text);
    result_free(&r);
    run_full("query A { a: __typename } query B { b: __typename }", NULL, NULL, NULL, &r);
    CHECK(!r.executed && strstr(str_at(r.body, "errors.0.message"), "Must provide operation name"),
          "two operations, no name: %s", r.text);
    CHECK_STR(str_at(r.body, "errors.0.extensions.code"), "OPERATION_RESOLUTION_FAILURE");
    result_free(&r);
    run_full("query A { a: __typename }", NULL, "C", NULL, &r);
    CHECK(!r.executed &&
              strstr(str_at(r.body, "errors.0.message"), "Unknown operation named \"C\""),
          "unknown operation: %s", r.text);
    result_free(&r);
}

static void test_selection_at_execution(void)
{
    result r;
    run_full("query ($yes: Boolean!, $no: Boolean = false) { getAssetById(assetId: \"a1\") { "
             "...F @include(if: $yes) a: assetUri @skip(if: $yes) ... on Asset { v: assetVersion } "
             "... @include(if: $no) { hidden: assetId } assetId } } "
             "fragment F on Asset { assetId brief: assetBriefDescription }",
             "{\"yes\": true}", NULL, NULL, &r);
    CHECK(r.executed && !at(r.body, "errors"), "executed: %s", r.text);
    CHECK(strstr(r.text, "{\"assetId\":\"a1\",\"brief\":\"brief\",\"v\":\"v1\"}") != NULL,
          "fields merged in order, skipped ones absent: %s", r.text);
    result_free(&r);
}

static void test_response_cap(void)
{
    gql_limits lim = *gql_limits_default();
    result r;
    lim.response_bytes = 300;
    run_full("{ first: getAssetById(assetId: \"a1\") { assetId } "
             "all: getAssetsByType(assetType: \"model\") { assetId profiles } "
             "after: getAssetById(assetId: \"a2\") { assetId } }",
             NULL, NULL, &lim, &r);
    CHECK(r.executed, "executed: %s", r.text);
    CHECK_STR(str_at(r.body, "data.first.assetId"), "a1");
    CHECK(json_is_null(at(r.body, "data.all")) && json_is_null(at(r.body, "data.after")),
          "the list crossing the cap and what follows are null: %s", r.text);
    CHECK_STR(str_at(r.body, "errors.0.extensions.code"), "RESPONSE_TOO_LARGE");
    CHECK(strstr(str_at(r.body, "errors.0.message"), "larger than 300 bytes") != NULL, "message");
    CHECK(json_array_size(at(r.body, "errors")) == 1, "one error: %s", r.text);
    result_free(&r);
}

static void test_introspection(void)
{
    result r;
    json_t *fields;
    size_t i;
    run("{ __schema { queryType { name } types { name } directives { name } } "
        "__type(name: \"Asset\") { fields { name description } } "
        "nope: __type(name: \"Nope\") { name } }",
        &r);
    CHECK(r.executed && !at(r.body, "errors"), "introspection: %s", r.text);
    CHECK_STR(str_at(r.body, "data.__schema.queryType.name"), "Query");
    CHECK(json_array_size(at(r.body, "data.__schema.types")) == 16, "16 types");
    CHECK(json_array_size(at(r.body, "data.__schema.directives")) == 5, "5 directives");
    CHECK(json_is_null(at(r.body, "data.nope")), "unknown type → null");
    fields = at(r.body, "data.__type.fields");
    CHECK(json_array_size(fields) == ad_schema_asset.nfields, "one field per model field");
    for (i = 0; i < json_array_size(fields); i++) {
        const char *d = str_at(json_array_get(fields, i), "description");
        CHECK(strcmp(d, "A field of the asset, as stored.") != 0,
              "field %s has its own description", str_at(json_array_get(fields, i), "name"));
    }
    result_free(&r);
}

/* The raw text of key in json, or "(absent)" / "(broken)". */
static const char *raw_of(const char *json, const char *key, char *out, size_t n)
{
    asset_doc *d;
    ad_error err = {0};
    const char *raw;
    size_t len;
    int found;
    if (asset_doc_new((char *)json, strlen(json), false, &d, &err)) {
        snprintf(out, n, "(not an object)");
        return out;
    }
    found = asset_doc_raw(d, key, &raw, &len);
    if (found > 0)
        snprintf(out, n, "%.*s", (int)len, raw);
    else
        snprintf(out, n, "%s", found < 0 ? "(broken)" : "(absent)");
    asset_doc_free(d);
    return out;
}

static void test_asset_doc(void)
{
    static const struct {
        const char *json, *key, *want;
    } cases[] = {
        {"{\"a\":\"x\",\"b\":2}", "b", "2"},
        {"{\"a\":\"x\",\"b\":2}", "a", "\"x\""},
        {"{\"a\":\"x\",\"b\":2}", "c", "(absent)"},
        {" { \"a\" : [1, {\"b\": \"]}\"}] , \"b\" : null } ", "b", "null"},
        {"{\"a\":[1,{\"b\":\"]}\"}],\"b\":true}", "a", "[1,{\"b\":\"]}\"}]"},
        {"{\"q\":\"say \\\"hi\\\"\",\"r\":1}", "q", "\"say \\\"hi\\\"\""},
        {"{\"q\":\"ends in backslash \\\\\",\"r\":1}", "r", "1"},
        {"{\"x\":{\"y\":{}},\"z\":[]}", "z", "[]"},
        {"{}", "a", "(absent)"},
        {"{\"a\":1,\"b\":\"unterminated}", "b", "(broken)"},
        {"{\"a\":1,\"b\":\"unterminated}", "a", "1"}, /* found before the damage */
        {"{\"a\" 1}", "a", "(broken)"},
        {"{\"a\":1 \"b\":2}", "b", "(broken)"},
        {"{\"a\":[1,2}", "a", "(broken)"},
        {"[1,2]", "a", "(not an object)"},
        {"", "a", "(not an object)"},
    };
    char got[128];
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        const char *g = raw_of(cases[i].json, cases[i].key, got, sizeof(got));
        CHECK(strcmp(g, cases[i].want) == 0, "%s [%s]: got %s, want %s", cases[i].json,
              cases[i].key, g, cases[i].want);
    }
}

/* ---- setup -------------------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    return remove(path);
}

int main(void)
{
    char dir[] = "/tmp/test_graphql_XXXXXX", url[128];
    ad_error err = {0};
    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(url, sizeof(url), "sqlite://%s/registry.db", dir);
    if (ad_meta_open(url, &meta, &err)) {
        fprintf(stderr, "open %s: %s\n", url, err.msg);
        return 1;
    }
    reg = ad_registry_new(meta);
    create("a1", "model", "llm", "generative", "/api/v1/generate", "v1");
    create("a2", "model", "llm", "generative", "api/v1/generate", "v2");
    create("a3", "model", "llm", "generative", "/api/v2/other", "v3");
    create("d1", "dataset", "csv", "tabular", "/api/v1/data", "v1");
    test_get_by_id();
    test_lists();
    test_search();
    test_field_errors();
    test_null_propagation();
    test_variables_and_operations();
    test_selection_at_execution();
    test_response_cap();
    test_introspection();
    test_asset_doc();
    ad_registry_free(reg);
    meta->ops->close(meta);
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
    return check_summary("test_graphql_execute");
}
