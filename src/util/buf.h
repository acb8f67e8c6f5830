/*
 * buf.h — a growable byte buffer with a hard cap.
 *
 * Every buffer that fills from client bytes or from a store has a maximum
 * (max); appending past it fails with AD_E_TOO_LARGE instead of growing
 * without bound. The data is always NUL-terminated for convenience.
 */
#ifndef ASSETD_UTIL_BUF_H
#define ASSETD_UTIL_BUF_H

#include <stddef.h>

#include "util/err.h"

typedef struct ad_buf {
    char *data; /* NUL-terminated when non-NULL */
    size_t len;
    size_t cap;
    size_t max; /* hard cap on len */
} ad_buf;

void ad_buf_init(ad_buf *b, size_t max);
ad_code ad_buf_append(ad_buf *b, const void *p, size_t n);
ad_code ad_buf_puts(ad_buf *b, const char *s);
ad_code ad_buf_printf(ad_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s (n bytes) as a JSON string literal, quotes included. */
ad_code ad_buf_json_string(ad_buf *b, const char *s, size_t n);
void ad_buf_reset(ad_buf *b);
/* Hands the data to the caller (free() it) and resets the buffer. */
char *ad_buf_steal(ad_buf *b, size_t *len);
void ad_buf_free(ad_buf *b);

#endif
