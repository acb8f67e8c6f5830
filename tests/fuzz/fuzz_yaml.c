/*
 * fuzz_yaml.c — libFuzzer target for assetctl's manifest reader
 * (src/cli/yaml.c): the bytes of `assetctl apply -f FILE`, YAML or JSON,
 * go through yml_load with limits scaled down (so that alias expansion
 * stops quickly), and every document that loads is then mapped as a
 * manifest (manifest_map, src/cli/manifest.c) as `apply` does.
 *
 * Besides the sanitizers it checks one invariant and aborts when it fails:
 * what yml_dump writes of a loaded document loads again to an equal value
 * (the writer quotes every string a reader would type otherwise).
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cli/manifest.h"
#include "cli/yaml.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_yaml: invariant failed: %s (line %d)\n", #c, __LINE__);          \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

/* Writes doc as YAML and reads it back: it must be the same value. The
 * document is written as the value of a mapping, since a top-level "[...]"
 * reads as JSON, where an array is a list of documents. */
static void check_round_trip(const json_t *doc)
{
    char *text = NULL, errbuf[256];
    size_t len = 0;
    json_t *wrapped = json_pack("{s:O}", "d", doc);
    FILE *f = wrapped ? open_memstream(&text, &len) : NULL;
    if (!f) {
        json_decref(wrapped);
        return;
    }
    int rc = yml_dump(wrapped, f, errbuf, sizeof errbuf);
    fclose(f);
    if (rc == 0) {
        json_t *again = NULL;
        struct yml_error err;
        struct yml_limits big = yml_default_limits;
        big.max_bytes = (size_t)1 << 30; /* expanded aliases may make it longer */
        big.max_depth += 1;              /* the wrapping mapping is one more level */
        if (yml_load(text, len, &big, &again, &err) != 0) {
            fprintf(stderr, "fuzz_yaml: written YAML does not load (%d:%d %s):\n%s\n", err.line,
                    err.column, err.text, text);
            abort();
        }
        FUZZ_ASSERT(json_array_size(again) == 1);
        FUZZ_ASSERT(json_equal(json_array_get(again, 0), wrapped));
        json_decref(again);
    }
    json_decref(wrapped);
    free(text);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct yml_limits lim = yml_default_limits;
    struct yml_error err;
    json_t *docs = NULL;
    lim.max_nodes = 20000;
    lim.max_text = 1 << 20;
    lim.max_docs = 100;
    if (yml_load((const char *)data, size, &lim, &docs, &err) != 0) {
        FUZZ_ASSERT(docs == NULL && err.text[0]);
        return 0;
    }
    for (size_t i = 0; i < json_array_size(docs); i++) {
        const json_t *doc = json_array_get(docs, i);
        struct manifest m;
        char msg[512];
        check_round_trip(doc);
        if (manifest_map(doc, &m, msg, sizeof msg) == 0)
            manifest_free(&m);
        else
            FUZZ_ASSERT(msg[0]);
    }
    json_decref(docs);
    return 0;
}
