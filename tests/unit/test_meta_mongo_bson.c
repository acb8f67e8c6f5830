/*
 * test_meta_mongo_bson.c — the MongoDB meta store adapter without a server
 * (Debian 12 packages no MongoDB server; the contract suite runs against a
 * real one in test_meta_mongo.c when ASSETD_TEST_MONGODB_URI is set):
 *
 *   - field names: the escape table and its reverse, hostile keys ('$', '.',
 *     '%', NUL, empty, '_' at the top level);
 *   - documents: JSON -> BSON -> JSON round trips (unicode, big integers,
 *     doubles vs integers, nested arrays, empty objects), the BSON types
 *     chosen, the stored layout of an asset, the depth and size limits;
 *   - filters: every operator of the filter language -> the expected BSON
 *     query and whether MongoDB's answer is taken as exact, compared as
 *     canonical extended JSON;
 *   - sort documents;
 *   - error mapping: the (domain, code) table, and a real libmongoc error
 *     from a closed loopback port (no server, no traffic off the machine).
 *
 * Expected BSON is written as canonical extended JSON with single quotes
 * and no spaces; the BSON under test is printed by libbson in the same
 * form and compared after removing the spaces libbson puts in.
 */
#include <arpa/inet.h>
#include <jansson.h>
#include <mongoc/mongoc.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "check.h"
#include "testjson.h"
#include "core/filter.h"
#include "store/meta.h"
#include "store/meta_mongo_bson.h"

/* ------------------------------------------------------------------------ */
/* Helpers                                                                  */
/* ------------------------------------------------------------------------ */

/* Canonical extended JSON of b, spaces outside strings removed and double
 * quotes turned into single ones (for comparing with the tables). */
static char *canon(const bson_t *b)
{
    size_t len = 0;
    char *s = bson_as_canonical_extended_json(b, &len);
    char *out = malloc(len + 1);
    size_t o = 0;
    bool in_str = false;
    if (!s || !out) abort();
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\' && i + 1 < len) {
                out[o++] = c;
                i++;
                out[o++] = s[i] == '"' ? '\'' : s[i];
                continue;
            }
            if (c == '"') in_str = false;
        } else if (c == '"') {
            in_str = true;
        } else if (c == ' ' || c == '\n') {
            continue;
        }
        out[o++] = c == '"' ? '\'' : c;
    }
    out[o] = '\0';
    bson_free(s);
    return out;
}

static void expect_bson(const char *ctx, const bson_t *b, const char *want)
{
    char *got = canon(b);
    CHECK(strcmp(got, want) == 0, "%s:\n    got  %s\n    want %s", ctx, got, want);
    free(got);
}

/* ------------------------------------------------------------------------ */
/* Field names                                                              */
/* ------------------------------------------------------------------------ */

static const struct key_case {
    const char *key;
    size_t len; /* 0: strlen */
    bool top;
    const char *want;
} key_cases[] = {
    {"asset_id", 0, true, "asset_id"},
    {"profiles", 0, true, "profiles"},
    {"ключ ü 日本 😀", 0, true, "ключ ü 日本 😀"},
    {"a.b", 0, true, "a%2Eb"},
    {"a.b.c", 0, false, "a%2Eb%2Ec"},
    {"$where", 0, true, "%24where"},
    {"$", 0, false, "%24"},
    {"x$y$", 0, true, "x$y$"}, /* only a leading '$' means anything to MongoDB */
    {"100%", 0, true, "100%25"},
    {"%2E", 0, false, "%252E"}, /* a '%' of the original never reads as an escape */
    {"%", 0, false, "%25"},
    {"_id", 0, true, "%5Fid"}, /* top level: the adapter's fields start with '_' */
    {"_rev", 0, true, "%5Frev"},
    {"_id", 0, false, "_id"}, /* nested: nothing to collide with */
    {"a_b", 0, true, "a_b"},
    {"", 0, true, "%"},
    {"a\0b", 3, false, "a%00b"},
    {"\0", 1, true, "%00"},
    {"$.%_", 0, true, "%24%2E%25_"},
};

static void test_keys(void)
{
    for (size_t i = 0; i < sizeof(key_cases) / sizeof(key_cases[0]); i++) {
        const struct key_case *k = &key_cases[i];
        size_t len = k->len ? k->len : strlen(k->key);
        ad_buf esc, back;
        ad_buf_init(&esc, 1024);
        ad_buf_init(&back, 1024);
        CHECK(ad_mongo_key_escape(k->key, len, k->top, &esc) == AD_OK, "escape case %zu", i);
        CHECK(esc.data && strcmp(esc.data, k->want) == 0,
              "escape case %zu: got \"%s\", want \"%s\"", i, esc.data ? esc.data : "", k->want);
        CHECK(esc.data && memchr(esc.data, '.', esc.len) == NULL && esc.data[0] != '$',
              "escape case %zu: \"%s\" still has '.' or a leading '$'", i, esc.data);
        CHECK(ad_mongo_key_unescape(esc.data, esc.len, &back) == AD_OK && back.len == len &&
                  (len == 0 || memcmp(back.data, k->key, len) == 0),
              "unescape case %zu: \"%s\" did not come back", i, esc.data);
        ad_buf_free(&esc);
        ad_buf_free(&back);
    }
    /* escapes this adapter never writes are refused on the way back */
    static const char *const bad[] = {"%2", "%zz", "a%4", "%2e"};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        ad_buf back;
        ad_buf_init(&back, 64);
        CHECK(ad_mongo_key_unescape(bad[i], strlen(bad[i]), &back) == AD_E_BACKEND,
              "unescape of \"%s\" must fail", bad[i]);
        ad_buf_free(&back);
    }
    /* "%" alone is the empty key */
    {
        ad_buf back;
        ad_buf_init(&back, 64);
        CHECK(ad_mongo_key_unescape("%", 1, &back) == AD_OK && back.len == 0, "\"%%\" is \"\"");
        ad_buf_free(&back);
    }
    /* paths: part by part, only the first part is top-level */
    static const struct {
        const char *path;
        const char *want;
    } paths[] = {
        {"profiles.asset_type", "profiles.asset_type"},
        {"_id", "%5Fid"},
        {"_x._y._z", "%5Fx._y._z"},
        {"a%b.c%d", "a%25b.c%25d"},
        {"files.0.x", "files.0.x"},
    };
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
        ad_buf b;
        ad_buf_init(&b, 1024);
        CHECK(ad_mongo_path_escape(paths[i].path, true, &b) == AD_OK && b.data &&
                  strcmp(b.data, paths[i].want) == 0,
              "path %s: got %s, want %s", paths[i].path, b.data ? b.data : "", paths[i].want);
        ad_buf_free(&b);
    }
}

/* ------------------------------------------------------------------------ */
/* Documents                                                                */
/* ------------------------------------------------------------------------ */

static const char *const round_trips[] = {
    "{}",
    "{'asset_id': 'a1', 'profiles': [], 'o': {}, 'a': [[]], 'e': [{}]}",
    "{'s': 'ünïcödé 日本 😀', 'ключ': {'ü': ['ß', '\\u00e9', 'line\\nbreak', 'tab\\t', "
    "'quote\\\"d', 'back\\\\slash', '\\u0001']}}",
    "{'i': 0, 'neg': -1, 'i32max': 2147483647, 'i32min': -2147483648, 'big': 2147483648, "
    "'bigneg': -2147483649, 'max': 9223372036854775807, 'min': -9223372036854775808, "
    "'p53': 9007199254740993}",
    "{'one': 1, 'onef': 1.0, 'half': 0.5, 'huge': 1e300, 'tiny': -1e-300, 'negzero': -0.0, "
    "'p53f': 9007199254740992.0, 'pi': 3.141592653589793}",
    "{'t': true, 'f': false, 'n': null, 'list': [null, true, 1, 1.5, 'x', [], {}]}",
    "{'nest': [[[1], [2, [3, [4, []]]]], [[]], [[[{'deep': [{'er': [[]]}]}]]]]}",
    "{'a.b': 1, '$x': {'$y': {'c.d': ['%', {'%2E': '_'}]}}, '': {'': ''}, '_id': 'mine', "
    "'_rev': 99, '_json': 'not ours', 'q': {'_id': 1}}",
    /* jansson refuses NUL in keys (the key escape is tested above), not in values */
    "{'nul': 'nul\\u0000value', 'x': {'y': '\\u0000'}}",
};

static void test_round_trips(void)
{
    for (size_t i = 0; i < sizeof(round_trips) / sizeof(round_trips[0]); i++) {
        json_t *doc = js(round_trips[i]), *back = NULL;
        bson_t b = BSON_INITIALIZER;
        ad_error err = {0};
        ad_code rc = ad_mongo_append_fields(&b, doc, &err);
        CHECK(rc == AD_OK, "round trip %zu: to BSON: %s", i, err.msg);
        if (rc == AD_OK) {
            rc = ad_mongo_to_json(&b, true, &back, &err);
            CHECK(rc == AD_OK, "round trip %zu: back to JSON: %s", i, err.msg);
        }
        /* json_equal: an integer never equals a real, keys in any order */
        CHECK(back && json_equal(doc, back), "round trip %zu changed the document", i);
        if (back && doc) {
            char *a = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
            char *c = json_dumps(back, JSON_COMPACT | JSON_ENCODE_ANY);
            CHECK(a && c && strcmp(a, c) == 0, "round trip %zu: field order:\n  %s\n  %s", i, a, c);
            free(a);
            free(c);
        }
        json_decref(back);
        json_decref(doc);
        bson_destroy(&b);
    }
}

static void test_bson_types(void)
{
    json_t *doc = js("{'i': 1, 'l': 2147483648, 'm': -9223372036854775808, 'd': 1.0, 'z': -0.0, "
                     "'h': 1e300, 'b': true, 'n': null, 's': 'ü', 'a': [1, [2.5]], 'o': {'.': {}}, "
                     "'_p': {'_q': 1}}");
    bson_t b = BSON_INITIALIZER;
    ad_error err = {0};
    CHECK(ad_mongo_append_fields(&b, doc, &err) == AD_OK, "types: %s", err.msg);
    expect_bson("BSON types", &b,
                "{'i':{'$numberInt':'1'},'l':{'$numberLong':'2147483648'},"
                "'m':{'$numberLong':'-9223372036854775808'},'d':{'$numberDouble':'1.0'},"
                "'z':{'$numberDouble':'-0.0'},'h':{'$numberDouble':'1.0000000000000000525e+300'},'"
                "b':true,'n':null,"
                "'s':'ü','a':[{'$numberInt':'1'},[{'$numberDouble':'2.5'}]],'o':{'%2E':{}},"
                "'%5Fp':{'_q':{'$numberInt':'1'}}}");
    bson_destroy(&b);
    json_decref(doc);
}

/* The stored form: _id, the fields, then the adapter's own. */
static void test_asset_layout(void)
{
    json_t *doc = js("{'asset_id': 'a1', '_rev': 'mine', 'profiles': [{'asset_type': 'model'}]}");
    const char *text = "{\"asset_id\":\"a1\"}";
    bson_t b, b2;
    json_t *back = NULL;
    ad_error err = {0};
    CHECK(ad_mongo_asset_bson(doc, 7, 3, 1700000000123, text, strlen(text), &b, &err) == AD_OK,
          "asset layout: %s", err.msg);
    expect_bson("asset layout", &b,
                "{'_id':{'$numberLong':'7'},'asset_id':'a1','%5Frev':'mine',"
                "'profiles':[{'asset_type':'model'}],'_rev':{'$numberLong':'3'},"
                "'_mtime':{'$date':{'$numberLong':'1700000000123'}},"
                "'_json':'{\\'asset_id\\':\\'a1\\'}'}");
    CHECK(ad_mongo_to_json(&b, true, &back, &err) == AD_OK && json_equal(back, doc),
          "the asset's fields come back without the adapter's: %s", err.msg);
    json_decref(back);
    /* a replacement carries no _id (MongoDB keeps the stored one) */
    CHECK(ad_mongo_asset_bson(doc, -1, 4, 0, text, strlen(text), &b2, &err) == AD_OK,
          "replacement: %s", err.msg);
    CHECK(!bson_has_field(&b2, "_id") && bson_has_field(&b2, "_rev"), "replacement has no _id");
    bson_destroy(&b);
    bson_destroy(&b2);
    json_decref(doc);
}

static json_t *nested(int levels)
{
    json_t *v = json_integer(1);
    for (int i = 0; i < levels; i++) {
        json_t *o = json_object();
        json_object_set_new(o, i % 2 ? "k" : "a", i % 3 ? v : json_pack("[o]", v));
        v = o;
    }
    return v;
}

static void test_limits(void)
{
    bson_t b;
    ad_error err = {0};
    json_t *ok = json_pack("{s:o}", "x", nested(60)); /* under AD_MONGO_MAX_DEPTH */
    json_t *deep = json_pack("{s:o}", "x", nested(150));
    bson_init(&b);
    CHECK(ad_mongo_append_fields(&b, ok, &err) == AD_OK, "60 levels: %s", err.msg);
    bson_destroy(&b);
    bson_init(&b);
    CHECK(ad_mongo_append_fields(&b, deep, &err) == AD_E_INVALID && strstr(err.msg, "nested"),
          "150 levels must fail: %s", err.msg);
    bson_destroy(&b);
    json_decref(ok);
    json_decref(deep);

    /* a document whose fields and text together pass 16 MiB */
    {
        size_t n = 9u << 20;
        char *big = malloc(n + 1);
        json_t *doc;
        memset(big, 'x', n);
        big[n] = '\0';
        doc = json_pack("{s:s}", "asset_id", big);
        CHECK(ad_mongo_asset_bson(doc, 1, 1, 0, big, n, &b, &err) == AD_E_TOO_LARGE &&
                  strstr(err.msg, "BSON"),
              "9 MiB field + 9 MiB text: %s", err.msg);
        bson_destroy(&b);
        json_decref(doc);
        free(big);
    }

    /* non-JSON BSON from someone else's writes */
    {
        json_t *back = NULL;
        bson_oid_t oid;
        bson_oid_init_from_string(&oid, "0123456789abcdef01234567");
        bson_init(&b);
        BSON_APPEND_OID(&b, "x", &oid);
        CHECK(ad_mongo_to_json(&b, true, &back, &err) == AD_E_BACKEND && !back,
              "an ObjectId field: %s", err.msg);
        bson_destroy(&b);
        bson_init(&b);
        BSON_APPEND_DOUBLE(&b, "nan", 0.0 / 0.0);
        CHECK(ad_mongo_to_json(&b, true, &back, &err) == AD_E_BACKEND && !back, "a NaN field: %s",
              err.msg);
        bson_destroy(&b);
        bson_init(&b);
        BSON_APPEND_INT32(&b, "bad%zz", 1);
        CHECK(ad_mongo_to_json(&b, true, &back, &err) == AD_E_BACKEND && !back,
              "a field name that is no escape: %s", err.msg);
        bson_destroy(&b);
    }
}

/* ------------------------------------------------------------------------ */
/* Filters                                                                  */
/* ------------------------------------------------------------------------ */

static const struct filter_case {
    const char *filter;
    const char *want; /* canonical extended JSON, single quotes, no spaces */
    bool exact;
} filter_cases[] = {
    {"{}", "{}", true},
    /* equality on scalars */
    {"{'n': 1}", "{'n':{'$eq':{'$numberInt':'1'}}}", true},
    {"{'n': 1.0}", "{'n':{'$eq':{'$numberDouble':'1.0'}}}", true},
    {"{'n': -0.0}", "{'n':{'$eq':{'$numberDouble':'-0.0'}}}", true},
    {"{'n': 9223372036854775807}", "{'n':{'$eq':{'$numberLong':'9223372036854775807'}}}", true},
    {"{'n': 9007199254740993}", "{'n':{'$eq':{'$numberLong':'9007199254740993'}}}", true},
    {"{'n': 1e300}", "{'n':{'$eq':{'$numberDouble':'1.0000000000000000525e+300'}}}", true},
    {"{'n': null}", "{'n':{'$eq':null}}", true},
    {"{'b': true}", "{'b':{'$eq':true}}", true},
    {"{'s': 'ünï 日本 😀'}", "{'s':{'$eq':'ünï 日本 😀'}}", true},
    {"{'s': 'a.b'}", "{'s':{'$eq':'a.b'}}", true}, /* values are never escaped */
    {"{'s': '$x'}", "{'s':{'$eq':'$x'}}", true},
    {"{'profiles.asset_type': 'model'}", "{'profiles.asset_type':{'$eq':'model'}}", true},
    {"{'apis.asset_api_route': '/v1'}", "{'apis.asset_api_route':{'$eq':'/v1'}}", true},
    {"{'profiles.asset_type': 'model', 'profiles.asset_sub_type': 'llm'}",
     "{'$and':[{'profiles.asset_type':{'$eq':'model'}},{'profiles.asset_sub_type':{'$eq':'llm'}}]}",
     true},
    /* equality on arrays and objects: narrowing only */
    {"{'n': [1, 2]}", "{'n':{'$eq':[{'$numberInt':'1'},{'$numberInt':'2'}]}}", false},
    {"{'o': {'x': 1, 'y': {}}}", "{'o':{'$eq':{'x':{'$numberInt':'1'},'y':{}}}}", false},
    {"{'o': {'$eq': {'$x': 1, 'a.b': 2, '_id': 3}}}",
     "{'o':{'$eq':{'%24x':{'$numberInt':'1'},'a%2Eb':{'$numberInt':'2'},'_id':{'$numberInt':'3'}}}"
     "}",
     false},
    /* $ne $gt $gte $lt $lte */
    {"{'n': {'$ne': 1}}", "{'n':{'$ne':{'$numberInt':'1'}}}", true},
    {"{'n': {'$ne': null}}", "{'n':{'$ne':null}}", true},
    {"{'n': {'$ne': [1]}}", "{}", false}, /* a negation of a non-exact test: left out */
    {"{'n': {'$gt': 1, '$lt': 3}}",
     "{'$and':[{'n':{'$gt':{'$numberInt':'1'}}},{'n':{'$lt':{'$numberInt':'3'}}}]}", true},
    {"{'n': {'$gte': null}}", "{}", false}, /* ranges with null: not sent */
    {"{'n': {'$lt': null}}", "{}", false},
    {"{'o.x': null}", "{'o.x':{'$eq':null}}", false}, /* null on a dotted path narrows */
    {"{'o.x': {'$ne': null}}", "{}", false},
    {"{'o.x': {'$in': [1, null]}}", "{'o.x':{'$in':[{'$numberInt':'1'},null]}}", false},
    {"{'o.x': {'$nin': [1]}}", "{'o.x':{'$nin':[{'$numberInt':'1'}]}}", true},
    {"{'n': {'$lte': 9.3e18}}", "{'n':{'$lte':{'$numberDouble':'9300000000000000000.0'}}}", true},
    {"{'s': {'$gt': 'alpha'}}", "{'s':{'$gt':'alpha'}}", true},
    {"{'b': {'$gt': false}}", "{'b':{'$gt':false}}", true},
    {"{'n': {'$gt': [1]}}", "{}", false}, /* array/object comparisons are never sent */
    {"{'o': {'$gte': {'x': 1}}}", "{}", false},
    /* $in $nin */
    {"{'n': {'$in': [1, 'red', null]}}", "{'n':{'$in':[{'$numberInt':'1'},'red',null]}}", true},
    {"{'n': {'$in': []}}", "{'n':{'$in':[]}}", true},
    {"{'n': {'$in': [[1], true]}}", "{'n':{'$in':[[{'$numberInt':'1'}],true]}}", false},
    {"{'n': {'$nin': [1, null]}}", "{'n':{'$nin':[{'$numberInt':'1'},null]}}", true},
    {"{'n': {'$nin': [{'a': 1}]}}", "{}", false},
    /* $exists */
    {"{'n': {'$exists': true}}", "{'n':{'$exists':true}}", true},
    {"{'n': {'$exists': 0}}", "{'n':{'$exists':false}}", true},
    {"{'o.x': {'$exists': true}, 'o.0': {'$exists': false}}", "{'o.x':{'$exists':true}}", false},
    /* $regex: plain patterns narrow; engine-dependent ones are not sent */
    {"{'s': {'$regex': '^a'}}", "{'s':{'$regex':'^a'}}", false},
    {"{'s': {'$regex': '^a', '$options': 'i'}}", "{'s':{'$regex':'^a','$options':'i'}}", false},
    {"{'s': {'$regex': 'line.break', '$options': 'sm'}}",
     "{'s':{'$regex':'line.break','$options':'sm'}}", false},
    {"{'s': {'$regex': '\\\\w+'}}", "{}", false},
    {"{'s': {'$regex': '[[:alpha:]]'}}", "{}", false},
    {"{'s': {'$regex': '(*UCP)x'}}", "{}", false},
    {"{'s': {'$not': {'$regex': '^a'}}}", "{}", false},
    /* $all $size $type */
    {"{'tags': {'$all': ['red', 'green']}}", "{'tags':{'$all':['red','green']}}", false},
    {"{'tags': {'$all': []}}", "{'tags':{'$all':[]}}", false},
    {"{'tags': {'$size': 2}}", "{'tags':{'$size':{'$numberInt':'2'}}}", true},
    {"{'n': {'$size': 0}}", "{'n':{'$size':{'$numberInt':'0'}}}", true},
    {"{'n': {'$type': 'number'}}", "{'n':{'$type':'number'}}", true},
    {"{'n': {'$type': 18}}", "{'n':{'$type':'long'}}", true},
    {"{'n': {'$type': ['bool', 'object']}}", "{'n':{'$type':['bool','object']}}", true},
    /* $elemMatch: document form, value form, nested */
    {"{'items': {'$elemMatch': {'k': 'a', 'v': {'$gte': 5}}}}",
     "{'items':{'$elemMatch':{'$and':[{'k':{'$eq':'a'}},{'v':{'$gte':{'$numberInt':'5'}}}]}}}",
     false},
    {"{'n': {'$elemMatch': {'$gt': 1}}}", "{'n':{'$elemMatch':{'$gt':{'$numberInt':'1'}}}}", false},
    {"{'n': {'$elemMatch': {'$gte': 2, '$lt': 3}}}",
     "{'n':{'$elemMatch':{'$gte':{'$numberInt':'2'},'$lt':{'$numberInt':'3'}}}}", false},
    {"{'arr': {'$elemMatch': {'$elemMatch': {'$gt': 2}}}}",
     "{'arr':{'$elemMatch':{'$elemMatch':{'$gt':{'$numberInt':'2'}}}}}", false},
    {"{'n': {'$elemMatch': {'$not': {'$gt': 1}}}}",
     "{'n':{'$elemMatch':{'$not':{'$gt':{'$numberInt':'1'}}}}}", false},
    {"{'items': {'$elemMatch': {'$or': [{'k': 'b'}, {'v': 1}]}}}",
     "{'items':{'$elemMatch':{'$or':[{'k':{'$eq':'b'}},{'v':{'$eq':{'$numberInt':'1'}}}]}}}",
     false},
    {"{'arr': {'$elemMatch': {}}}", "{}", false},
    {"{'x': {'$elemMatch': {'_id': 1}}}", "{'x':{'$elemMatch':{'_id':{'$eq':{'$numberInt':'1'}}}}}",
     false}, /* inside an element nothing is top-level */
    {"{'n': {'$elemMatch': {'$regex': '\\\\d', '$gt': 'a'}}}", "{'n':{'$elemMatch':{'$gt':'a'}}}",
     false},
    /* $not */
    {"{'n': {'$not': {'$gt': 1}}}", "{'n':{'$not':{'$gt':{'$numberInt':'1'}}}}", true},
    {"{'n': {'$not': {'$in': [1], '$exists': true}}}",
     "{'n':{'$not':{'$in':[{'$numberInt':'1'}],'$exists':true}}}", true},
    {"{'n': {'$not': {'$all': [1]}}}", "{}", false},
    /* $and $or $nor */
    {"{'$or': [{'n': 1}, {'s': 'beta'}]}",
     "{'$or':[{'n':{'$eq':{'$numberInt':'1'}}},{'s':{'$eq':'beta'}}]}", true},
    {"{'$or': [{'n': 1}, {'s': {'$regex': '\\\\d'}}]}", "{}", false},
    {"{'$or': [{'n': 1}, {'s': {'$regex': 'b'}}]}",
     "{'$or':[{'n':{'$eq':{'$numberInt':'1'}}},{'s':{'$regex':'b'}}]}", false},
    {"{'$nor': [{'n': 1}, {'tags': 'red'}]}",
     "{'$nor':[{'n':{'$eq':{'$numberInt':'1'}}},{'tags':{'$eq':'red'}}]}", true},
    {"{'$nor': [{'tags': {'$all': ['x']}}]}", "{}", false},
    {"{'$and': [{'n': 1}, {'s': {'$regex': '\\\\d'}}]}", "{'n':{'$eq':{'$numberInt':'1'}}}", false},
    {"{'$and': [{}, {'n': 1}]}", "{'n':{'$eq':{'$numberInt':'1'}}}", true},
    {"{'$or': [{}, {'n': 1}]}", "{}", false},
    {"{'$and': [{'$or': [{'n': 1}, {'n': 2.5}]}, {'$nor': [{'b': null}]}]}",
     "{'$and':[{'$or':[{'n':{'$eq':{'$numberInt':'1'}}},{'n':{'$eq':{'$numberDouble':'2.5'}}}]},"
     "{'$nor':[{'b':{'$eq':null}}]}]}",
     true},
    /* numeric path parts: sent to narrow, negations left out */
    {"{'arr.0': 1}", "{'arr.0':{'$eq':{'$numberInt':'1'}}}", false},
    {"{'arr.0': {'$ne': 1}}", "{}", false},
    {"{'arr.0': {'$exists': false}}", "{}", false},
    {"{'files.0.x': {'$size': 1}}", "{'files.0.x':{'$size':{'$numberInt':'1'}}}", false},
    {"{'a01.b': 1}", "{'a01.b':{'$eq':{'$numberInt':'1'}}}", true},
    /* hostile paths: the adapter's fields cannot be reached, '%' escaped */
    {"{'_id': 1}", "{'%5Fid':{'$eq':{'$numberInt':'1'}}}", true},
    {"{'_rev': {'$gt': 0}}", "{'%5Frev':{'$gt':{'$numberInt':'0'}}}", true},
    {"{'_json': {'$exists': true}}", "{'%5Fjson':{'$exists':true}}", true},
    {"{'x._id': 1}", "{'x._id':{'$eq':{'$numberInt':'1'}}}", true},
    {"{'100%.a%2E': 1}", "{'100%25.a%252E':{'$eq':{'$numberInt':'1'}}}", true},
};

static void test_filters(void)
{
    for (size_t i = 0; i < sizeof(filter_cases) / sizeof(filter_cases[0]); i++) {
        const struct filter_case *fc = &filter_cases[i];
        json_t *j = js(fc->filter);
        ad_filter *f = NULL;
        ad_error err = {0};
        bson_t q;
        bool exact = !fc->exact;
        ad_code rc = j ? ad_filter_parse(j, &f, &err) : AD_E_BAD_JSON;
        CHECK(rc == AD_OK, "filter %s does not parse: %s", fc->filter, err.msg);
        if (rc == AD_OK) {
            rc = ad_mongo_filter_bson(f, &q, &exact, &err);
            CHECK(rc == AD_OK, "filter %s: %s", fc->filter, err.msg);
            if (rc == AD_OK) {
                char ctx[512];
                snprintf(ctx, sizeof(ctx), "filter %s", fc->filter);
                expect_bson(ctx, &q, fc->want);
                CHECK(exact == fc->exact, "filter %s: exact %d, want %d", fc->filter, exact,
                      fc->exact);
            }
            bson_destroy(&q);
        }
        ad_filter_free(f);
        json_decref(j);
    }
}

/* Filters at the parser's limits still compile, and a $or of 1000. */
static void test_filter_limits(void)
{
    json_t *list = json_array(), *fj;
    ad_filter *f = NULL;
    ad_error err = {0};
    bson_t q;
    bool exact = false;
    for (int i = 0; i < AD_FILTER_MAX_LIST; i++) {
        json_t *in = json_array();
        for (int k = 0; k < 3; k++) json_array_append_new(in, json_integer(i * 3 + k));
        json_array_append_new(list, json_pack("{s:{s:o}}", "n", "$in", in));
    }
    fj = json_pack("{s:o}", "$or", list);
    CHECK(ad_filter_parse(fj, &f, &err) == AD_OK, "$or of 1000: %s", err.msg);
    CHECK(ad_mongo_filter_bson(f, &q, &exact, &err) == AD_OK && exact && q.len > 30000,
          "$or of 1000 $in: %s", err.msg);
    bson_destroy(&q);
    ad_filter_free(f);
    json_decref(fj);

    /* nested as deep as the parser allows */
    {
        json_t *d = json_pack("{s:i}", "n", 1);
        for (int i = 0; i < AD_FILTER_MAX_DEPTH - 2; i++)
            d = json_pack("{s:[o]}", i % 2 ? "$and" : "$or", d);
        f = NULL;
        CHECK(ad_filter_parse(d, &f, &err) == AD_OK, "deep filter: %s", err.msg);
        CHECK(f && ad_mongo_filter_bson(f, &q, &exact, &err) == AD_OK && exact,
              "deep filter compiles: %s", err.msg);
        bson_destroy(&q);
        ad_filter_free(f);
        json_decref(d);
    }
}

/* ------------------------------------------------------------------------ */
/* Sort                                                                     */
/* ------------------------------------------------------------------------ */

static void test_sort(void)
{
    static const struct {
        const char *path;
        bool desc;
        const char *want; /* NULL: refused */
    } cases[] = {
        {NULL, false, "{'_id':{'$numberInt':'1'}}"},
        {"rank", false, "{'rank':{'$numberInt':'1'},'_id':{'$numberInt':'1'}}"},
        {"rank", true, "{'rank':{'$numberInt':'-1'},'_id':{'$numberInt':'-1'}}"},
        {"profiles.asset_type", false,
         "{'profiles.asset_type':{'$numberInt':'1'},'_id':{'$numberInt':'1'}}"},
        {"_id", true, "{'%5Fid':{'$numberInt':'-1'},'_id':{'$numberInt':'-1'}}"},
        {"tags.0", false, "{'tags.0':{'$numberInt':'1'},'_id':{'$numberInt':'1'}}"},
        {"", false, NULL},
        {"a..b", false, NULL},
        {".a", false, NULL},
        {"a.", false, NULL},
        {"$natural", false, NULL},
        {"a b", false, NULL},
        {"a%b", false, NULL},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        bson_t s;
        ad_error err = {0};
        ad_code rc = ad_mongo_sort_bson(cases[i].path, cases[i].desc, &s, &err);
        char ctx[128];
        snprintf(ctx, sizeof(ctx), "sort \"%s\"%s", cases[i].path ? cases[i].path : "(creation)",
                 cases[i].desc ? " desc" : "");
        if (cases[i].want) {
            CHECK(rc == AD_OK, "%s: %s", ctx, err.msg);
            if (rc == AD_OK) expect_bson(ctx, &s, cases[i].want);
        } else {
            CHECK(rc == AD_E_BAD_REQUEST && strstr(err.msg, "sort"), "%s must be refused: %s", ctx,
                  ad_code_name(rc));
        }
        bson_destroy(&s);
    }
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

static void test_error_table(void)
{
    static const struct {
        uint32_t domain, code;
        ad_code want;
        const char *what;
    } cases[] = {
        {MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE, AD_E_UNAVAILABLE,
         "no suitable server"},
        {MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_CONNECT, AD_E_UNAVAILABLE, "connect failed"},
        {MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_SOCKET, AD_E_UNAVAILABLE, "socket error"},
        {MONGOC_ERROR_STREAM, MONGOC_ERROR_STREAM_NAME_RESOLUTION, AD_E_UNAVAILABLE, "DNS"},
        {MONGOC_ERROR_STREAM, 11000, AD_E_UNAVAILABLE, "the domain decides, not the code"},
        {MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_AUTHENTICATE, AD_E_UNAVAILABLE, "auth failed"},
        {MONGOC_ERROR_CLIENT, MONGOC_ERROR_CLIENT_TOO_BIG, AD_E_TOO_LARGE, "message too big"},
        {MONGOC_ERROR_CLIENT, 11000, AD_E_BACKEND, "client codes are not server codes"},
        {MONGOC_ERROR_SERVER, 11000, AD_E_EXISTS, "duplicate key"},
        {MONGOC_ERROR_COLLECTION, 11000, AD_E_EXISTS, "duplicate key, legacy error API"},
        {MONGOC_ERROR_SERVER, 11001, AD_E_EXISTS, "duplicate key on update (old servers)"},
        {MONGOC_ERROR_SERVER, 10334, AD_E_TOO_LARGE, "BSONObjectTooLarge"},
        {MONGOC_ERROR_SERVER, 10107, AD_E_UNAVAILABLE, "NotWritablePrimary"},
        {MONGOC_ERROR_SERVER, 13435, AD_E_UNAVAILABLE, "NotPrimaryNoSecondaryOk"},
        {MONGOC_ERROR_SERVER, 91, AD_E_UNAVAILABLE, "ShutdownInProgress"},
        {MONGOC_ERROR_SERVER, 11600, AD_E_UNAVAILABLE, "InterruptedAtShutdown"},
        {MONGOC_ERROR_SERVER, 189, AD_E_UNAVAILABLE, "PrimarySteppedDown"},
        {MONGOC_ERROR_SERVER, 6, AD_E_UNAVAILABLE, "HostUnreachable"},
        {MONGOC_ERROR_SERVER, 89, AD_E_UNAVAILABLE, "NetworkTimeout"},
        {MONGOC_ERROR_SERVER, 18, AD_E_UNAVAILABLE, "AuthenticationFailed"},
        {MONGOC_ERROR_WRITE_CONCERN, 91, AD_E_UNAVAILABLE, "write concern: shutting down"},
        {MONGOC_ERROR_WRITE_CONCERN, 64, AD_E_BACKEND, "WriteConcernFailed"},
        {MONGOC_ERROR_SERVER, 13, AD_E_BACKEND, "Unauthorized (a missing privilege)"},
        {MONGOC_ERROR_SERVER, 2, AD_E_BACKEND, "BadValue"},
        {MONGOC_ERROR_SERVER, 51091, AD_E_BACKEND, "invalid regular expression"},
        {MONGOC_ERROR_SERVER, 26, AD_E_BACKEND, "NamespaceNotFound"},
        {MONGOC_ERROR_QUERY, 2, AD_E_BACKEND, "query failure"},
        {MONGOC_ERROR_BSON, MONGOC_ERROR_BSON_INVALID, AD_E_BACKEND, "invalid BSON"},
        {MONGOC_ERROR_PROTOCOL, MONGOC_ERROR_PROTOCOL_INVALID_REPLY, AD_E_BACKEND, "bad reply"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        ad_code rc = ad_mongo_error_code(cases[i].domain, cases[i].code);
        CHECK(rc == cases[i].want, "error %u.%u (%s): %s, want %s", (unsigned)cases[i].domain,
              (unsigned)cases[i].code, cases[i].what, ad_code_name(rc),
              ad_code_name(cases[i].want));
    }
    /* the message carries the reason */
    {
        bson_error_t e;
        ad_error err = {0};
        bson_set_error(&e, MONGOC_ERROR_SERVER_SELECTION, MONGOC_ERROR_SERVER_SELECTION_FAILURE,
                       "No suitable servers found: connection refused");
        CHECK(ad_mongo_fail(&e, "reading an asset", &err) == AD_E_UNAVAILABLE &&
                  strstr(err.msg, "MongoDB unavailable while reading an asset") &&
                  strstr(err.msg, "connection refused"),
              "unavailable message: %s", err.msg);
        bson_set_error(&e, MONGOC_ERROR_SERVER, 2, "bad $regex");
        CHECK(ad_mongo_fail(&e, "listing assets", &err) == AD_E_BACKEND &&
                  strstr(err.msg, "bad $regex") && strstr(err.msg, "listing assets"),
              "backend message: %s", err.msg);
    }
}

/* A free loopback port: bound, then closed, so nothing listens there. */
static int closed_port(void)
{
    struct sockaddr_in a = {0};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM, 0), port = 0;
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0) close(fd);
    return port;
}

/* Real libmongoc errors, without a server: URLs it refuses, and a server
 * that is not there. */
static void test_open_errors(void)
{
    ad_meta *m = NULL;
    ad_error err = {0};
    char url[256];
    ad_code rc;
    int port = closed_port();

    rc = ad_meta_open("mongodb://", &m, &err);
    CHECK(rc == AD_E_BAD_REQUEST && !m && strstr(err.msg, "MongoDB URI"),
          "mongodb:// with no host: %s (%s)", ad_code_name(rc), err.msg);
    rc = ad_meta_open("mongodb://user:s3cr3t@127.0.0.1:1/db?notAnOption=1&w=majority&wtimeoutMS=x",
                      &m, &err);
    CHECK(rc == AD_E_BAD_REQUEST && !m && !strstr(err.msg, "s3cr3t"),
          "a bad option value: %s, and the error must not name the password: %s", ad_code_name(rc),
          err.msg);
    if (m) m->ops->close(m);
    m = NULL;
    /* mongodb+srv is registered: refused by libmongoc (one host only), not
     * as an unknown scheme, and without a DNS query */
    rc = ad_meta_open("mongodb+srv://a.example,b.example/db", &m, &err);
    CHECK(rc == AD_E_BAD_REQUEST && !m && !strstr(err.msg, "unknown scheme"),
          "mongodb+srv with two hosts: %s (%s)", ad_code_name(rc), err.msg);

    CHECK(port > 0, "no free loopback port");
    snprintf(url, sizeof(url),
             "mongodb://127.0.0.1:%d/assetd_none?serverSelectionTimeoutMS=300&connectTimeoutMS=300",
             port);
    rc = ad_meta_open(url, &m, &err);
    CHECK(rc == AD_E_UNAVAILABLE && !m && strstr(err.msg, "MongoDB unavailable"),
          "open with no server: %s (%s)", ad_code_name(rc), err.msg);
    CHECK(!strstr(err.msg, "unknown scheme"), "mongodb is a known scheme: %s", err.msg);
}

int main(void)
{
    test_keys();
    test_round_trips();
    test_bson_types();
    test_asset_layout();
    test_limits();
    test_filters();
    test_filter_limits();
    test_sort();
    test_error_table();
    test_open_errors();
    return check_summary("meta mongo (no server)");
}
