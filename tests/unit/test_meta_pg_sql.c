/*
 * test_meta_pg_sql.c — the PostgreSQL adapter's filter compiler
 * (store/meta_pg_sql.c) on its own, no server needed: what it says is
 * exact, what it sends as parameters, and that client values never reach
 * the SQL text. (Whether the SQL selects the right documents is checked
 * against a real server by test_meta_pg.c.)
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "check.h"
#include "core/filter.h"
#include "store/meta_pg.h"
#include "testjson.h"

/* Compiles ftext (single-quoted JSON); q must be freed by the caller. */
static ad_code compile(const char *ftext, pg_sql *q, bool *exact, const char *sort, uint64_t skip,
                       uint64_t limit)
{
    json_t *j = js(ftext);
    ad_filter *f = NULL;
    ad_error err = {0};
    ad_code rc = j ? ad_filter_parse(j, &f, &err) : AD_E_BAD_JSON;
    pg_sql_init(q);
    if (!rc) {
        ad_query qr = {f, sort, false, skip, limit};
        rc = pg_sql_find(q, &qr, exact, &err);
    }
    if (rc) fprintf(stderr, "compile %s: %s\n", ftext, err.msg);
    ad_filter_free(f);
    json_decref(j);
    return rc;
}

static void test_exactness(void)
{
    static const struct {
        const char *filter;
        bool exact;
    } cases[] = {
        {"{}", true},
        {"{'profiles.asset_type': 'model'}", true},
        {"{'profiles.asset_sub_type': 'llm'}", true},
        {"{'profiles.asset_tags': 'nlp'}", true},
        {"{'apis.asset_api_route': {'$in': ['a/b', '/a/b']}}", true},
        {"{'asset_id': 'x'}", true},
        {"{'asset_id': {'$in': ['x', 'y']}}", true},
        {"{'n': 1}", true},
        {"{'n': 2.5}", true},
        {"{'n': null}", true},
        {"{'n': [1, 'a', null]}", true},
        {"{'n': {'$ne': 'x'}}", true},
        {"{'n': {'$gt': 1, '$lte': 9}}", true},
        {"{'n': {'$gte': null}}", true},
        {"{'n': {'$in': [1, null, [2]]}}", true},
        {"{'n': {'$nin': [1, 2]}}", true},
        {"{'n': {'$all': ['a', 'b']}}", true},
        {"{'n': {'$exists': false}}", true},
        {"{'n': {'$size': 2}}", true},
        {"{'n': {'$type': ['string', 'array', 'null', 'bool', 'object', 'number']}}", true},
        {"{'s': {'$regex': '^abc'}}", true},
        {"{'s': {'$regex': ''}}", true},
        {"{'items': {'$elemMatch': {'k': 'a', 'v': {'$gte': 5}}}}", true},
        {"{'n': {'$elemMatch': {'$gt': 1, '$lt': 3}}}", true},
        {"{'$or': [{'a': 1}, {'$nor': [{'b': 2}]}]}", true},
        {"{'n': {'$not': {'$size': 2}}}", true},
        /* supersets */
        {"{'n': 9007199254740993}", false},
        {"{'n': {'$gt': 1e300}}", false},
        {"{'o': {'x': 1}}", false},
        {"{'a.0.b': 1}", false},
        {"{'s': {'$regex': 'a.c'}}", false},
        {"{'s': {'$regex': '^abc', '$options': 'i'}}", false},
        {"{'n': {'$type': 'int'}}", false},
        {"{'$nor': [{'s': {'$regex': 'x+'}}]}", false},
        {"{'arr': {'$elemMatch': {'0': 1}}}", false},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        pg_sql q;
        bool exact = !cases[i].exact;
        ad_code rc = compile(cases[i].filter, &q, &exact, NULL, 0, UINT64_MAX);
        CHECK(rc == AD_OK && exact == cases[i].exact, "%s: compiled %s, want %s\n    %s",
              cases[i].filter, exact ? "exact" : "superset", cases[i].exact ? "exact" : "superset",
              q.sql.data ? q.sql.data : "");
        pg_sql_free(&q);
    }
}

/* The fixed queries: the value table narrows, the jsonpath decides. */
static void test_fixed_queries(void)
{
    pg_sql q;
    bool exact = false;
    compile("{'profiles.asset_type': 'model'}", &q, &exact, NULL, 0, 10);
    CHECK(exact && q.sql.data &&
              strcmp(q.sql.data,
                     "SELECT a.body FROM assets a JOIN asset_values av0 ON av0.seq = a.seq AND "
                     "av0.path = $1::text AND av0.str = $2::text WHERE "
                     "jsonb_path_exists(a.doc, $3::jsonpath, '{}', true)"
                     " ORDER BY a.seq LIMIT $4::bigint") == 0,
          "by type: %s", q.sql.data ? q.sql.data : "");
    CHECK(q.n == 4 && strcmp(q.vals[0], "profiles.asset_type") == 0 &&
              strcmp(q.vals[1], "model") == 0 &&
              strcmp(q.vals[2], "lax $.\"profiles\".\"asset_type\" ? (@.type() != \"array\" && "
                                "@ == \"model\")") == 0 &&
              strcmp(q.vals[3], "10") == 0,
          "by type parameters: %s", q.n ? q.vals[0] : "");
    pg_sql_free(&q);

    /* under $or: a semi-join, not the join */
    compile("{'$or': [{'profiles.asset_tags': 'a'}, {'x': 1}]}", &q, &exact, NULL, 0, 10);
    CHECK(exact && q.sql.data && !strstr(q.sql.data, " JOIN ") &&
              strstr(q.sql.data, "(a.seq IN (SELECT av.seq FROM asset_values av WHERE av.path = "
                                 "$1::text AND av.str = $2::text) AND jsonb_path_exists("),
          "or: %s", q.sql.data ? q.sql.data : "");
    pg_sql_free(&q);

    /* a string equality on another path: GIN only */
    compile("{'profiles.asset_name': 'model'}", &q, &exact, NULL, 0, 10);
    CHECK(exact && q.sql.data && strstr(q.sql.data, "WHERE a.doc @? $1::jsonpath") &&
              !strstr(q.sql.data, "asset_values"),
          "other path: %s", q.sql.data ? q.sql.data : "");
    pg_sql_free(&q);

    compile("{'apis.asset_api_route': {'$in': ['v1/gen', '/v1/gen']}}", &q, &exact, NULL, 0,
            UINT64_MAX);
    CHECK(exact && q.n == 1 &&
              strcmp(q.vals[0], "lax $.\"apis\".\"asset_api_route\" ? (@.type() != \"array\" "
                                "&& (@ == \"v1/gen\" || @ == \"/v1/gen\"))") == 0,
          "by api route: %s / %s", q.sql.data, q.n ? q.vals[0] : "");
    pg_sql_free(&q);

    compile("{'asset_id': 'x'}", &q, &exact, "asset_id", 3, UINT64_MAX);
    CHECK(exact && strcmp(q.sql.data, "SELECT a.body FROM assets a WHERE a.id = $1::text ORDER BY "
                                      "a.id OFFSET $2::bigint") == 0,
          "by id: %s", q.sql.data);
    pg_sql_free(&q);

    /* number ranges narrow through the value table, at most twice per
     * statement; not under a negation, not inside $elemMatch */
    compile("{'p.n': {'$gte': 500, '$lt': 510}}", &q, &exact, NULL, 0, UINT64_MAX);
    CHECK(exact && q.n == 5 && strcmp(q.vals[0], "p.n") == 0 && strcmp(q.vals[1], "500") == 0 &&
              strcmp(q.vals[2], "510") == 0 &&
              strstr(q.sql.data, "WHERE a.seq IN (SELECT av.seq FROM asset_values av WHERE "
                                 "av.path = $1::text AND ((av.num >= $2::numeric AND av.num < "
                                 "$3::numeric) OR av.multi)) AND (jsonb_path_exists(a.doc, "
                                 "$4::jsonpath, '{}', true) AND jsonb_path_exists(a.doc, "
                                 "$5::jsonpath, '{}', true))"),
          "range pair: %s", q.sql.data);
    pg_sql_free(&q);
    compile("{'p.n': {'$gte': 500}, 'p.m': {'$lt': 510}}", &q, &exact, NULL, 0, UINT64_MAX);
    CHECK(exact && q.n == 6 && !strstr(q.sql.data, "multi") &&
              strstr(q.sql.data, "av.num >= $2::numeric") &&
              strstr(q.sql.data, "av.num < $5::numeric"),
          "two paths: %s", q.sql.data);
    pg_sql_free(&q);
    compile("{'a': {'$gt': 1}, 'b': {'$gt': 2}, 'c': {'$gt': 3}}", &q, &exact, NULL, 0, UINT64_MAX);
    CHECK(exact && q.sql.data && strstr(q.sql.data, "a.doc @? ") &&
              strstr(q.sql.data, "asset_values") &&
              !strstr(strstr(strstr(q.sql.data, "asset_values") + 1, "asset_values") + 1,
                      "asset_values"),
          "two narrowings at most: %s", q.sql.data);
    pg_sql_free(&q);
    compile("{'n': {'$not': {'$gt': 1}}}", &q, &exact, NULL, 0, UINT64_MAX);
    CHECK(exact && q.sql.data && !strstr(q.sql.data, "asset_values"), "negated: %s", q.sql.data);
    pg_sql_free(&q);
    compile("{'items': {'$elemMatch': {'v': {'$gte': 5}}}}", &q, &exact, NULL, 0, UINT64_MAX);
    CHECK(q.sql.data && !strstr(q.sql.data, "asset_values"), "elemMatch: %s", q.sql.data);
    pg_sql_free(&q);
    compile("{'n': {'$gte': 9007199254740993}}", &q, &exact, NULL, 0, UINT64_MAX);
    CHECK(q.sql.data && !strstr(q.sql.data, "asset_values"), "big number: %s", q.sql.data);
    pg_sql_free(&q);

    /* inexact: no LIMIT/OFFSET in the SQL, the cursor applies them */
    compile("{'s': {'$regex': 'a+'}}", &q, &exact, NULL, 5, 10);
    CHECK(!exact && q.sql.data && !strstr(q.sql.data, "LIMIT") && !strstr(q.sql.data, "OFFSET"),
          "superset with skip/limit: %s", q.sql.data ? q.sql.data : "");
    pg_sql_free(&q);
}

/* Client strings only ever travel as parameters: the SQL text of a filter
 * does not depend on its values, and jsonpath literals are escaped. */
static void test_values_are_parameters(void)
{
    static const char *const shapes[] = {
        "{'v': %s}",
        "{'v': {'$in': [%s, 'other']}}",
        "{'v': {'$gt': %s}}",
        "{'v': {'$ne': %s}}",
        "{'asset_id': %s}",
        "{'asset_id': {'$in': [%s]}}",
        "{'v': {'$all': [%s]}}",
        "{'v': {'$elemMatch': {'k': %s}}}",
        "{'v': [%s]}",
        "{'v': {'$regex': %s}}",
    };
    static const char *const values[] = {
        "'plain'",
        "'\\u0027; DROP TABLE assets; --'",
        "'\\\" || @ == \\\"x'",
        "'back\\\\slash'",
        "'$1'",
        "'ü 日本 😀'",
        "'line\\nbreak\\u0001'",
    };
    for (size_t s = 0; s < sizeof(shapes) / sizeof(shapes[0]); s++) {
        char first[8192] = "";
        for (size_t v = 0; v < sizeof(values) / sizeof(values[0]); v++) {
            char ftext[512];
            pg_sql q;
            bool exact;
            const char *hole = strstr(shapes[s], "%s");
            snprintf(ftext, sizeof(ftext), "%.*s%s%s", (int)(hole - shapes[s]), shapes[s],
                     values[v], hole + 2);
            if (compile(ftext, &q, &exact, NULL, 0, UINT64_MAX) != AD_OK) {
                CHECK(0, "%s does not compile", ftext);
                pg_sql_free(&q);
                continue;
            }
            if (v == 0)
                snprintf(first, sizeof(first), "%s", q.sql.data);
            else
                CHECK(strcmp(first, q.sql.data) == 0, "%s: SQL depends on the value:\n %s\n %s",
                      ftext, first, q.sql.data);
            CHECK(!strstr(q.sql.data, "DROP") && !strstr(q.sql.data, "slash"),
                  "%s: a value is in the SQL: %s", ftext, q.sql.data);
            pg_sql_free(&q);
        }
    }
    {
        /* jsonpath string escapes */
        pg_sql q;
        bool exact;
        compile("{'k\\\"ey': 'a\\\"b\\\\c\\u0001'}", &q, &exact, NULL, 0, UINT64_MAX);
        CHECK(q.n == 1 && strcmp(q.vals[0], "lax $.\"k\\\"ey\" ? (@.type() != \"array\" && @ == "
                                            "\"a\\\"b\\\\c\\u0001\")") == 0,
              "escaped jsonpath: %s", q.n ? q.vals[0] : "");
        pg_sql_free(&q);
    }
}

/* Negations compile in time linear in the tree (a dry pass per level). */
static void test_deep_negation(void)
{
    char ftext[8192];
    size_t n = 0;
    pg_sql q;
    bool exact;
    clock_t t0 = clock();
    for (int i = 0; i < 30; i++) n += (size_t)snprintf(ftext + n, sizeof(ftext) - n, "{'$nor': [");
    n += (size_t)snprintf(ftext + n, sizeof(ftext) - n, "{'a': 1}");
    for (int i = 0; i < 30; i++) n += (size_t)snprintf(ftext + n, sizeof(ftext) - n, "]}");
    CHECK(compile(ftext, &q, &exact, NULL, 0, UINT64_MAX) == AD_OK && exact,
          "30 nested $nor compile exactly");
    pg_sql_free(&q);
    /* not a timing assertion: a blow-up (2^30 passes) would not end at all */
    (void)t0;
}

static void test_sort(void)
{
    pg_sql q;
    bool exact;
    ad_code rc = compile("{}", &q, &exact, "rank", 0, UINT64_MAX);
    CHECK(rc == AD_OK && strstr(q.sql.data, "string_to_array($1::text") && q.n == 1 &&
              strcmp(q.vals[0], "rank") == 0,
          "sort by a field: %s", q.sql.data);
    pg_sql_free(&q);
    rc = compile("{}", &q, &exact, "x'); DROP TABLE assets; --", 0, UINT64_MAX);
    CHECK(rc == AD_E_BAD_REQUEST, "a sort path that is not a field path: %s", ad_code_name(rc));
    pg_sql_free(&q);
}

int main(void)
{
    test_exactness();
    test_fixed_queries();
    test_values_are_parameters();
    test_deep_negation();
    test_sort();
    return check_summary("test_meta_pg_sql");
}
