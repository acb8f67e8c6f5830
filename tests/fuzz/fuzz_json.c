/*
 * fuzz_json.c — libFuzzer target for the body of POST /assets and PUT
 * /assets/{id}: the bytes go through ad_json_parse (depth bound, duplicate
 * keys, UTF-8) and then the asset model (ad_asset_validate,
 * ad_asset_validate_patch, ad_asset_normalize), as api/assets.c does.
 *
 * A body that passes the patch check is also merged into a fixed stored
 * asset (json_object_update, as core/registry.c does) and the result
 * validated and normalized, as a PUT does.
 *
 * Besides the sanitizers it checks two invariants and aborts when one
 * fails: a document that validates still validates once normalized (and
 * normalizing it again changes nothing), and what ad_json_dump writes of
 * a parsed value parses again to an equal value.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "core/model.h"
#include "util/json.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_json: invariant failed: %s (line %d)\n", #c, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static json_t *stored; /* the asset a PUT patches */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    stored = json_loads("{\"asset_id\": \"a1\", \"asset_uri\": \"models://example.com/a1\","
                        " \"asset_version\": \"v1\", \"asset_profile_id\": \"p1\","
                        " \"asset_file_ids\": [\"f1\"], \"profiles\": [{\"asset_profile_id\":"
                        " \"p1\", \"asset_type\": \"model\", \"asset_sub_type\": \"llm\","
                        " \"asset_id\": \"a1\", \"asset_tags\": [\"gen\"]}]}",
                        0, NULL);
    if (!stored) abort();
    return 0;
}

/* The checks of a document that passed ad_asset_validate. */
static void check_valid(const json_t *j)
{
    ad_error err = {0};
    json_t *norm = ad_asset_normalize(j), *norm2;
    if (!norm) return;
    FUZZ_ASSERT(ad_asset_validate(norm, &err) == AD_OK);
    norm2 = ad_asset_normalize(norm);
    if (norm2) {
        FUZZ_ASSERT(json_equal(norm, norm2));
        json_decref(norm2);
    }
    json_decref(norm);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *j = NULL, *again = NULL;
    ad_error err = {0};
    char *dump;
    size_t dlen;

    if (ad_json_parse((const char *)data, size, AD_JSON_MAX_DEPTH, &j, &err) != AD_OK) {
        FUZZ_ASSERT(j == NULL);
        return 0;
    }
    FUZZ_ASSERT(j != NULL);

    /* Serialization round trip. */
    dump = ad_json_dump(j, &dlen);
    if (dump) {
        ad_error e2 = {0};
        FUZZ_ASSERT(ad_json_parse(dump, dlen, AD_JSON_MAX_DEPTH, &again, &e2) == AD_OK);
        FUZZ_ASSERT(json_equal(j, again));
        json_decref(again);
        free(dump);
    }

    /* PUT: the patch check, against a fixed and a matching path id, then
     * the merge into the stored asset. */
    if (ad_asset_validate_patch(j, "a1", &err) == AD_OK) {
        json_t *merged = json_deep_copy(stored);
        if (merged && json_object_update(merged, j) == 0 &&
            ad_asset_validate(merged, &err) == AD_OK)
            check_valid(merged);
        json_decref(merged);
    }
    if (json_is_object(j)) {
        const char *id = json_string_value(json_object_get(j, "asset_id"));
        if (id) (void)ad_asset_validate_patch(j, id, &err);
    }

    /* POST: the full document. */
    if (ad_asset_validate(j, &err) == AD_OK) check_valid(j);
    json_decref(j);
    return 0;
}
