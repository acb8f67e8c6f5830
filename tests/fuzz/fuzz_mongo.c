/*
 * fuzz_mongo.c — libFuzzer target for the MongoDB meta store's conversions
 * (store/meta_mongo_bson.c), which turn client JSON into BSON sent to the
 * server: JSON bytes → ad_json_parse, then
 *
 *   - as a document (when it is an object): JSON → BSON → JSON must give an
 *     equal document with the same field order, and the BSON must pass
 *     libbson's checks for an inserted document (valid UTF-8, no empty
 *     keys, no '.' in a key, no leading '$'), which libmongoc applies
 *     before an insert or a replace;
 *   - as a filter: ad_filter_parse → ad_mongo_filter_bson must succeed
 *     (or fail only for memory or size) and give valid BSON, and every
 *     path in the tree must give a sort document or a clear refusal.
 */
#include <bson/bson.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/filter.h"
#include "store/meta_mongo_bson.h"
#include "util/json.h"

static void fail(const char *what)
{
    fprintf(stderr, "fuzz_mongo: invariant failed: %s\n", what);
    abort();
}

static void check_document(const json_t *doc)
{
    bson_t b = BSON_INITIALIZER;
    json_t *back = NULL;
    ad_error err = {0};
    size_t off = 0;
    ad_code rc = ad_mongo_append_fields(&b, doc, &err);
    if (rc == AD_OK) {
        if (!bson_validate(&b,
                           BSON_VALIDATE_UTF8 | BSON_VALIDATE_UTF8_ALLOW_NULL |
                               BSON_VALIDATE_EMPTY_KEYS | BSON_VALIDATE_DOT_KEYS |
                               BSON_VALIDATE_DOLLAR_KEYS,
                           &off))
            fail("a stored document has a key MongoDB refuses");
        if (ad_mongo_to_json(&b, true, &back, &err) != AD_OK) fail("a document does not come back");
        char *a = json_dumps(doc, JSON_COMPACT | JSON_ENCODE_ANY);
        char *c = json_dumps(back, JSON_COMPACT | JSON_ENCODE_ANY);
        if (!json_equal(doc, back) || !a || !c || strcmp(a, c) != 0)
            fail("JSON -> BSON -> JSON changed the document");
        free(a);
        free(c);
        json_decref(back);
    } else if (rc != AD_E_TOO_LARGE && rc != AD_E_NOMEM && rc != AD_E_INVALID) {
        fail("ad_mongo_append_fields failed with an unexpected code");
    }
    bson_destroy(&b);
}

static void check_sorts(const ad_filter *f)
{
    if (f->path) {
        bson_t s;
        ad_error err = {0};
        ad_code rc = ad_mongo_sort_bson(f->path, true, &s, &err);
        if (rc != AD_OK && rc != AD_E_BAD_REQUEST) fail("a sort path failed oddly");
        bson_destroy(&s);
    }
    for (size_t i = 0; i < f->nkids; i++) check_sorts(f->kids[i]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = NULL;
    ad_filter *f = NULL;
    ad_error err = {0};

    if (ad_json_parse((const char *)data, size, AD_JSON_MAX_DEPTH, &j, &err) != AD_OK) return 0;
    if (json_is_object(j)) check_document(j);
    if (json_is_object(j) && ad_filter_parse(j, &f, &err) == AD_OK) {
        bson_t q;
        bool exact = false;
        size_t off = 0;
        ad_code rc = ad_mongo_filter_bson(f, &q, &exact, &err);
        if (rc == AD_OK && !bson_validate(&q, BSON_VALIDATE_UTF8, &off))
            fail("a query is not valid BSON");
        if (rc != AD_OK && rc != AD_E_NOMEM && rc != AD_E_TOO_LARGE)
            fail("ad_mongo_filter_bson failed with an unexpected code");
        if (rc == AD_OK && f->op == AD_FOP_TRUE && (!exact || !bson_empty(&q)))
            fail("{} must compile to an exact {}");
        bson_destroy(&q);
        check_sorts(f);
        ad_filter_free(f);
    }
    json_decref(j);
    return 0;
}
