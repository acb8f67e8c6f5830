/*
 * fuzz_webhook.c — libFuzzer target for the reading of webhook answers
 * (core/webhook_answer.c): what a validation, mutation or metadata service
 * sends back is untrusted bytes.
 *
 * Input: the first byte picks the message capacity (1 .. 256); the rest is
 * an answer body (not NUL-terminated: the buffer has exactly its length,
 * so ASan catches any read past it). Each input goes through all three
 * functions: ad_webhook_answer_message, ad_webhook_answer_metadata (with
 * three sent names, "data" among them) and ad_webhook_text.
 *
 * Invariants checked: a message fits its capacity, is valid UTF-8 with no
 * control characters and no trailing space; a metadata result holds only
 * names that were sent and no null values, and a failure says why; the
 * text of any bytes is a JSON string that dumps and loads back equal, and
 * is the input itself when the input is UTF-8.
 */
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/webhook_answer.h"
#include "util/str.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_webhook: invariant failed: %s (line %d)\n", #c, __LINE__);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static json_t *sent;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc, (void)argv;
    sent = json_pack("{s:s, s:s, s:s}", "a.md", "A", "docs/b.md", "B", "data", "D");
    if (!sent) abort();
    return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char msg[257], why[300];
    size_t cap, n;
    char *body;
    json_t *out = NULL, *text;
    if (size < 1) return 0;
    cap = 1 + (size_t)data[0];
    size--;
    body = malloc(size ? size : 1);
    if (!body) return 0;
    memcpy(body, data + 1, size);

    ad_webhook_answer_message(body, size, msg, cap);
    n = strlen(msg);
    FUZZ_ASSERT(n < cap);
    FUZZ_ASSERT(ad_utf8_valid(msg, n));
    for (size_t i = 0; i < n; i++)
        FUZZ_ASSERT((unsigned char)msg[i] >= 0x20 && (unsigned char)msg[i] != 0x7F);
    FUZZ_ASSERT(n == 0 || msg[n - 1] != ' ');

    why[0] = '\0';
    if (ad_webhook_answer_metadata(body, size, sent, &out, why, sizeof(why))) {
        const char *k;
        json_t *v;
        FUZZ_ASSERT(json_is_object(out));
        json_object_foreach(out, k, v)
        {
            FUZZ_ASSERT(json_object_get(sent, k) != NULL);
            FUZZ_ASSERT(!json_is_null(v));
        }
        json_decref(out);
    } else {
        FUZZ_ASSERT(out == NULL);
        FUZZ_ASSERT(why[0] != '\0');
    }

    text = ad_webhook_text(body, size);
    if (text) {
        char *dumped = json_dumps(text, JSON_ENCODE_ANY);
        FUZZ_ASSERT(ad_utf8_valid(json_string_value(text), json_string_length(text)));
        if (ad_utf8_valid(body, size))
            FUZZ_ASSERT(json_string_length(text) == size &&
                        memcmp(json_string_value(text), body, size) == 0);
        if (dumped) {
            json_t *back = json_loads(dumped, JSON_DECODE_ANY | JSON_ALLOW_NUL, NULL);
            FUZZ_ASSERT(back && json_equal(back, text));
            json_decref(back);
            free(dumped);
        }
        json_decref(text);
    }
    free(body);
    return 0;
}
