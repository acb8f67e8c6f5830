/*
 * asset_doc.h — a stored asset document as the GraphQL layer reads it:
 * the JSON text, indexed by top-level key, without parsing it.
 *
 * A query usually selects a few fields of each asset, and parsing a whole
 * document with jansson costs far more than answering the request (28 µs
 * for a 2 KB asset, against ~10 µs for everything else). So the text is
 * scanned once for where each top-level value starts and ends, and the
 * text of each value a query selects is copied into the response as it
 * is, the way REST sends whole stored documents.
 */
#ifndef ASSETD_GRAPHQL_ASSET_DOC_H
#define ASSETD_GRAPHQL_ASSET_DOC_H

#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

typedef struct asset_doc asset_doc;

/*
 * Wraps json[0..len) (a JSON object). With own, the document takes json
 * (malloc'd) and frees it; otherwise it keeps a copy. Returns AD_OK with
 * *out, AD_E_BACKEND when the text does not start an object, or
 * AD_E_NOMEM.
 */
ad_code asset_doc_new(char *json, size_t len, bool own, asset_doc **out, ad_error *err);
void asset_doc_free(asset_doc *d);

/* Finds top-level key: 1 with its value's text in *raw and *len (valid
 * while d lives), 0 when the object has no such key, -1 when the text is
 * malformed before the key was found (or memory ran out). */
int asset_doc_raw(asset_doc *d, const char *key, const char **raw, size_t *len);

#endif
