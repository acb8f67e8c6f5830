/*
 * fuzz_source.c — libFuzzer target for the asset store's source block as
 * a client sends it in POST/PUT /assets: the bytes go through
 * ad_json_parse, then ad_source_check, then ad_source_prepare as a create
 * and as an update of a fixed stored asset (core/registry.c's order), and
 * every filter pattern that compiled is matched against a few paths
 * (PCRE2 under the match limits).
 *
 * Invariants (abort when one fails): a block ad_source_check accepts makes
 * a create that prepares and validates as an asset with generation 1 and
 * status Pending; an update with the same block keeps the generation, a
 * different block bumps it by one; a webhook entry that passed the check
 * resolves to a URL.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "core/source.h"
#include "util/json.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_source: invariant failed: %s (line %d)\n", #c, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static void match_patterns(const json_t *o)
{
    static const char *const paths[] = {"README.md", "docs/a.md", "img/logo.png", "", "a/b/c"};
    const char *p = json_string_value(json_object_get(o, "filter"));
    ad_regex *re = NULL;
    size_t i;
    if (!p || ad_regex_compile(p, &re, NULL) != AD_OK) return;
    for (i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) (void)ad_regex_match(re, paths[i]);
    ad_regex_free(re);
}

static void check_hooks(const json_t *src)
{
    size_t l, i;
    const json_t *e;
    char url[4096];
    for (l = 0; l < 3; l++) {
        json_array_foreach(json_object_get(src, ad_source_hook_lists[l]), i, e)
        {
            FUZZ_ASSERT(ad_source_hook_url(e, NULL, url, sizeof(url), NULL) == AD_OK);
            match_patterns(e);
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_t *src = NULL, *doc, *prev, *upd;
    ad_error err = {0};
    int64_t gen = 0;
    if (ad_json_parse((const char *)data, size, AD_JSON_MAX_DEPTH, &src, &err) != AD_OK) return 0;
    if (ad_source_check(src, &err) != AD_OK) {
        json_decref(src);
        return 0;
    }
    check_hooks(src);
    match_patterns(src);
    doc = json_pack("{s:s,s:O}", "asset_id", "default.fuzz", "source", src);
    FUZZ_ASSERT(doc);
    FUZZ_ASSERT(ad_source_prepare(NULL, doc, &gen, &err) == AD_OK);
    FUZZ_ASSERT(gen == 1);
    FUZZ_ASSERT(ad_asset_validate(doc, &err) == AD_OK);
    FUZZ_ASSERT(strcmp(json_string_value(json_object_get(json_object_get(doc, "status"), "phase")),
                       "Pending") == 0);
    /* an update with the same source keeps the generation */
    prev = json_deep_copy(doc);
    upd = json_copy(prev);
    FUZZ_ASSERT(prev && upd);
    FUZZ_ASSERT(ad_source_prepare(prev, upd, &gen, &err) == AD_OK && gen == 0);
    FUZZ_ASSERT(json_integer_value(json_object_get(upd, "generation")) == 1);
    json_decref(upd);
    /* a different one bumps it */
    upd = json_copy(prev);
    json_object_set_new(upd, "source",
                        json_pack("{s:s,s:s,s:s}", "url", "http://h/x", "mode", "single", "bucket",
                                  "other-bucket"));
    if (!json_equal(json_object_get(upd, "source"), src)) {
        FUZZ_ASSERT(ad_source_prepare(prev, upd, &gen, &err) == AD_OK && gen == 2);
    }
    json_decref(upd);
    json_decref(prev);
    json_decref(doc);
    json_decref(src);
    return 0;
}
