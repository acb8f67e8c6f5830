/*
 * json.h — parsing client JSON safely, and small jansson helpers.
 *
 * ad_json_parse is the one entry point for JSON bytes from clients: it
 * bounds nesting depth before jansson sees the bytes (jansson's own limit is
 * a compile-time 2048), rejects duplicate keys and invalid UTF-8, and writes
 * "line L column C" into its error message.
 */
#ifndef ASSETD_UTIL_JSON_H
#define ASSETD_UTIL_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "util/err.h"

#define AD_JSON_MAX_DEPTH 64

/* Parses len bytes of JSON. Any JSON value is accepted at the top level.
 * On failure returns AD_E_BAD_JSON with a message like
 * "invalid JSON at line 3 column 7: '}' expected near ']'". */
ad_code ad_json_parse(const char *buf, size_t len, size_t max_depth, json_t **out, ad_error *err);

/* Compact serialization in insertion order; caller frees. NULL on failure. */
char *ad_json_dump(const json_t *j, size_t *len);

#endif
