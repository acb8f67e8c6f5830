/*
 * fuzz_s3_xml.c — libFuzzer target for the reader of S3's XML answers
 * (store/s3_xml.c): s3_xml_next and s3_xml_element over server bytes,
 * plus s3_uri_encode.
 *
 * Input: the first byte picks the tag looked for and the output capacity,
 * the rest is the answer (not NUL-terminated: the buffer has exactly its
 * length, so ASan catches any read past it).
 *
 * Invariants checked: a found value fits the capacity and is terminated;
 * positions only move forward and stay within the input; element offsets
 * satisfy start <= end <= n; every value is found again inside its
 * element; the URI encoding has only unreserved bytes, '/' and %XX.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "store/s3_int.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_s3_xml: invariant failed: %s (line %d)\n", #c, __LINE__);        \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

static const char *const tags[] = {"Code",   "Message", "UploadId", "Key",
                                   "Upload", "Error",   "ETag",     "IsTruncated"};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char out[300];
    size_t cap, pos = 0, steps = 0;
    const char *tag;
    char *xml;
    if (size < 1) return 0;
    tag = tags[data[0] % (sizeof(tags) / sizeof(tags[0]))];
    cap = 1 + (size_t)(data[0] >> 3) * 9; /* 1 .. 280 */
    size--;
    xml = malloc(size ? size : 1);
    if (!xml) return 0;
    memcpy(xml, data + 1, size);

    for (;;) { /* every value in turn */
        size_t before = pos;
        int r = s3_xml_next(xml, size, &pos, tag, out, cap);
        if (r <= 0) break;
        FUZZ_ASSERT(pos > before && pos <= size);
        FUZZ_ASSERT(strlen(out) < cap);
        FUZZ_ASSERT(++steps <= size);
    }
    pos = 0;
    steps = 0;
    for (;;) { /* every element, and the same tag inside it */
        size_t before = pos, start = 0, end = 0, inner = 0;
        int r = s3_xml_element(xml, size, &pos, tag, &start, &end);
        if (r <= 0) break;
        FUZZ_ASSERT(start <= end && end <= size && pos > before && pos <= size);
        (void)s3_xml_next(xml + start, end - start, &inner, "Key", out, cap);
        FUZZ_ASSERT(++steps <= size);
    }
    {
        ad_buf b;
        ad_buf_init(&b, 3 * size + 1);
        if (s3_uri_encode(&b, xml, size, data[0] & 1) == 0) {
            for (size_t i = 0; i < b.len; i++) {
                char c = b.data[i];
                if (c == '%') {
                    FUZZ_ASSERT(i + 2 < b.len && strchr("0123456789ABCDEF", b.data[i + 1]) &&
                                strchr("0123456789ABCDEF", b.data[i + 2]));
                    i += 2;
                    continue;
                }
                FUZZ_ASSERT((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
                            (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_' ||
                            c == '~' || (c == '/' && (data[0] & 1)));
            }
        }
        ad_buf_free(&b);
    }
    free(xml);
    return 0;
}
