/*
 * fuzz_filter.c — libFuzzer target for the filter language (POST
 * /query/search, GraphQL searchAssets): JSON bytes → ad_json_parse →
 * ad_filter_parse → ad_filter_match against a few fixed documents (an
 * asset in the seed's shape, nested arrays, scalars of every type).
 *
 * Every path in the tree also goes through the schema helpers a store
 * adapter and the GraphQL layer apply to client paths
 * (ad_schema_string_path, ad_schema_field_path, ad_field_camel).
 *
 * Every tree is also compiled to PostgreSQL SQL (store/meta_pg_sql.c, no
 * server needed), in creation order and sorted.
 *
 * Invariants checked: ad_filter_match returns only 1, 0 or -1, and -1
 * comes with err set to AD_E_FILTER; the SQL compiler succeeds (or says
 * the filter is too large), and the SQL refers to exactly the parameters it
 * made ($1..$n, the highest being $n).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/filter.h"
#include "core/model.h"
#include "store/meta_pg.h"
#include "util/json.h"

static const char *const doc_texts[] = {
    "{\"asset_id\": \"a1\", \"asset_version\": \"v1\", \"asset_container_uri\": null,"
    " \"profiles\": [{\"asset_type\": \"model\", \"asset_sub_type\": \"llm\","
    "                 \"asset_tags\": [\"gen\", \"nlp\"]},"
    "                {\"asset_type\": \"data\", \"asset_sub_type\": \"image\", \"asset_tags\": "
    "[]}],"
    " \"files\": [{\"asset_file_id\": \"f1\", \"size\": 10}, {\"asset_file_id\": \"f2\", \"size\": "
    "2000}],"
    " \"apis\": [{\"route\": \"/api/v1/generate\", \"method\": \"POST\"}],"
    " \"asset_metadata\": {\"k\": 1.5, \"n\": -3, \"b\": true, \"z\": false, \"s\": \"sss\"}}",
    "{\"a\": [[1, 2], [3], {\"b\": [{\"c\": 1}, {\"c\": \"x\"}]}], \"x\": null,"
    " \"0\": {\"0\": [0, \"0\", 0.0, false, null, {}, []]}, \"\": \"empty\"}",
    "{\"s\": \"h\\u00e9llo w\\u00f6rld\", \"i\": 9223372036854775807, \"r\": 1e308,"
    " \"neg\": -9223372036854775807, \"t\": [true, false], \"o\": {\"p\": {\"q\": {\"r\": [1]}}}}",
    "{}",
};
#define NDOCS (sizeof(doc_texts) / sizeof(doc_texts[0]))
static json_t *docs[NDOCS];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    for (size_t i = 0; i < NDOCS; i++) {
        json_error_t jerr;
        docs[i] = json_loads(doc_texts[i], 0, &jerr);
        if (!docs[i]) {
            fprintf(stderr, "fuzz_filter: bad fixed document %zu: %s\n", i, jerr.text);
            abort();
        }
    }
    return 0;
}

/* A string path is a field path; camelCase never grows a name. */
static void walk(const ad_filter *f)
{
    if (f->path) {
        char camel[AD_FILTER_MAX_PATH + 1];
        bool str = ad_schema_string_path(f->path), any = ad_schema_field_path(f->path);
        const char *c = ad_field_camel(f->path, camel, sizeof(camel));
        if ((str && !any) || (c && strlen(c) > strlen(f->path))) {
            fprintf(stderr, "fuzz_filter: schema helpers disagree on \"%s\"\n", f->path);
            abort();
        }
    }
    for (size_t i = 0; i < f->nkids; i++) walk(f->kids[i]);
}

/* Compiles f to SQL and checks the placeholders against the parameters. */
static void compile_pg(const ad_filter *f, const char *sort)
{
    pg_sql q;
    bool exact;
    ad_error err = {0};
    ad_query qr = {f, sort, true, 3, 7};
    size_t top = 0;
    ad_code rc;
    pg_sql_init(&q);
    rc = pg_sql_find(&q, &qr, &exact, &err);
    if (rc == AD_OK) {
        for (const char *p = q.sql.data; p && (p = strchr(p, '$')) != NULL; p++) {
            size_t k = strtoul(p + 1, NULL, 10);
            if (k > top) top = k;
        }
        for (size_t i = 0; i < q.n; i++)
            if (!q.vals[i]) top = SIZE_MAX;
        if (!q.sql.data || top != q.n) {
            fprintf(stderr, "fuzz_filter: SQL uses $%zu of %zu parameters: %s\n", top, q.n,
                    q.sql.data ? q.sql.data : "(none)");
            abort();
        }
    } else if (rc != AD_E_FILTER && rc != AD_E_NOMEM) {
        fprintf(stderr, "fuzz_filter: the SQL compiler failed: %s\n", err.msg);
        abort();
    }
    pg_sql_free(&q);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = NULL;
    ad_filter *f = NULL;
    ad_error err = {0};

    if (ad_json_parse((const char *)data, size, AD_JSON_MAX_DEPTH, &j, &err) != AD_OK) return 0;
    if (ad_filter_parse(j, &f, &err) == AD_OK) {
        walk(f);
        compile_pg(f, NULL);
        compile_pg(f, "profiles.asset_type");
        for (size_t i = 0; i < NDOCS; i++) {
            ad_error merr = {0};
            int m = ad_filter_match(f, docs[i], &merr);
            if (m != 0 && m != 1 && !(m == -1 && merr.code == AD_E_FILTER)) {
                fprintf(stderr, "fuzz_filter: ad_filter_match returned %d (code %d)\n", m,
                        (int)merr.code);
                abort();
            }
        }
        ad_filter_free(f);
    } else if (f) {
        fprintf(stderr, "fuzz_filter: ad_filter_parse failed but set *out\n");
        abort();
    }
    json_decref(j);
    return 0;
}
