/*
 * multipart.h — a streaming parser of multipart/form-data bodies (RFC
 * 7578): bytes go in as they arrive, each part's headers and data come out
 * through callbacks, nothing of a part's data is kept. Written here because
 * the HTTP layer hides libmicrohttpd's own post processor (it needs the MHD
 * connection) and no packaged library streams multipart in C; the parser
 * is small, bounded, and has no I/O, so it is fuzzed and unit tested alone.
 *
 * Limits: boundary ≤ 70 bytes (RFC 2046), part headers ≤
 * HTTP_MP_HEADERS_MAX bytes, at most HTTP_MP_PARTS_MAX parts, preamble ≤
 * HTTP_MP_PREAMBLE_MAX bytes.
 */
#ifndef ASSETD_HTTP_MULTIPART_H
#define ASSETD_HTTP_MULTIPART_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define HTTP_MP_BOUNDARY_MAX 70
#define HTTP_MP_HEADERS_MAX  8192
#define HTTP_MP_PARTS_MAX    64
#define HTTP_MP_PREAMBLE_MAX 1024
#define HTTP_MP_NAME_MAX     256

typedef struct http_mp_callbacks {
    /* A part starts: its form field name ("" if none) and file name (NULL
     * if none). */
    ad_code (*begin)(void *ctx, const char *name, const char *filename, ad_error *err);
    ad_code (*data)(void *ctx, const char *p, size_t n, ad_error *err);
    ad_code (*end)(void *ctx, ad_error *err);
} http_mp_callbacks;

typedef struct http_multipart http_multipart;

/* Extracts the boundary of a "multipart/form-data; boundary=…" content
 * type into out (HTTP_MP_BOUNDARY_MAX + 1 bytes). AD_E_MEDIA_TYPE when the
 * type is something else, AD_E_BAD_REQUEST when the boundary is missing or
 * malformed. */
ad_code http_multipart_boundary(const char *content_type, char *out, ad_error *err);

/* NULL on out of memory. */
http_multipart *http_multipart_new(const char *boundary, const http_mp_callbacks *cb, void *ctx);
/* Feeds n more bytes. AD_E_BAD_REQUEST on malformed input, or what a
 * callback returned. After an error, further calls fail. */
ad_code http_multipart_feed(http_multipart *m, const char *p, size_t n, ad_error *err);
/* True once the closing boundary has been seen. */
bool http_multipart_done(const http_multipart *m);
void http_multipart_free(http_multipart *m);

#endif
