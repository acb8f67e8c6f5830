/*
 * meta_mongo_bson.h — the pure half of the MongoDB meta store adapter
 * (store/meta_mongo.c): asset documents, filter trees and sort orders turned
 * into BSON, field names escaped for MongoDB, and libmongoc's errors mapped
 * to ad_code. Nothing here talks to a server, so all of it is unit-tested
 * without one (tests/unit/test_meta_mongo_bson.c).
 *
 * Internal to the adapter and its tests: the core never includes it.
 *
 * Field names. MongoDB gives a field name meaning when it starts with '$'
 * (an operator) or contains '.' (a path), cannot store a NUL in one, and
 * the adapter keeps its own fields at the top level of each stored
 * document. So every key of an asset is escaped, injectively:
 *
 *   '%' -> "%25"   '.' -> "%2E"   NUL -> "%00"
 *   a leading '$' -> "%24"
 *   a leading '_' of a top-level asset field -> "%5F"
 *   the empty key -> "%"
 *
 * Every other byte (UTF-8 included) is kept. Keys that need none of this —
 * every field of the seed's schema — are stored as they are, so indexes
 * and queries name them plainly ("profiles.asset_type"). The adapter's own
 * top-level fields all start with '_' (AD_MONGO_F_*), which no escaped
 * asset key does, so they can never collide. Filter paths are escaped part
 * by part with the same rule, so a filter finds exactly what the same path
 * finds in the JSON document; a key holding '.' is unreachable by a path in
 * both (the filter language splits paths at '.').
 */
#ifndef ASSETD_STORE_META_MONGO_BSON_H
#define ASSETD_STORE_META_MONGO_BSON_H

#include <bson/bson.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/filter.h"
#include "util/buf.h"
#include "util/err.h"

/* The adapter's top-level fields in the `assets` collection. */
#define AD_MONGO_F_SEQ   "_id"    /* creation sequence (int64): creation order */
#define AD_MONGO_F_REV   "_rev"   /* revision (int64) */
#define AD_MONGO_F_MTIME "_mtime" /* last write (BSON date) */
#define AD_MONGO_F_JSON  "_json"  /* the canonical JSON text, returned as stored */

#define AD_MONGO_MAX_DEPTH 100                /* MongoDB's nesting limit for documents */
#define AD_MONGO_MAX_BSON  (16 * 1024 * 1024) /* MongoDB's maxBsonObjectSize */

/* Appends key (len bytes, may hold NUL) escaped to out; top = a top-level
 * field of an asset. Fails only when out is full (its cap). */
ad_code ad_mongo_key_escape(const char *key, size_t len, bool top, ad_buf *out);

/* The reverse: appends the original key to out. AD_E_BACKEND on a '%' that
 * does not start a valid escape (a document this adapter did not write). */
ad_code ad_mongo_key_unescape(const char *key, size_t len, ad_buf *out);

/* Escapes a dotted path (filter or sort) part by part; the first part is a
 * top-level field when top is true. */
ad_code ad_mongo_path_escape(const char *path, bool top, ad_buf *out);

/* Appends the JSON value v to b under key (escaped already, keylen bytes),
 * escaping the keys of nested objects. Integers become int32 when they fit
 * and int64 otherwise (so MongoDB's $type "int"/"long" agree with the
 * filter language), reals doubles. depth counts the levels above v;
 * AD_E_INVALID past AD_MONGO_MAX_DEPTH. */
ad_code ad_mongo_append_value(bson_t *b, const char *key, size_t keylen, const json_t *v, int depth,
                              ad_error *err);

/* Appends the fields of the JSON object doc to b, escaped as top-level
 * asset fields. */
ad_code ad_mongo_append_fields(bson_t *b, const json_t *doc, ad_error *err);

/* The stored form of an asset:
 *   {_id: seq (omitted when seq < 0, as in a replacement), <asset fields>,
 *    _rev: rev, _mtime: mtime_ms, _json: json}
 * into *out (initialized here; bson_destroy it on every return). */
ad_code ad_mongo_asset_bson(const json_t *doc, int64_t seq, int64_t rev, int64_t mtime_ms,
                            const char *json, size_t len, bson_t *out, ad_error *err);

/* The reverse of the field conversion: a new JSON object with the fields
 * of b unescaped; with top, the adapter's own '_' fields are left out.
 * AD_E_BACKEND on a BSON type JSON has no form for. */
ad_code ad_mongo_to_json(const bson_t *b, bool top, json_t **out, ad_error *err);

/*
 * Compiles a validated filter tree into a MongoDB query in *out
 * (initialized here; bson_destroy it on every return).
 *
 * The query never drops a document the tree matches: where the adapter
 * does not trust MongoDB to match exactly as ad_filter_match does (see
 * meta_mongo_bson.c), it leaves a condition out or keeps it only as a
 * narrowing one. *exact is true when MongoDB's answer is the answer, so
 * skip and limit can be left to it; false when the caller must run
 * ad_filter_match on every document returned.
 */
ad_code ad_mongo_filter_bson(const ad_filter *f, bson_t *out, bool *exact, ad_error *err);

/* The sort document of a list query: {<escaped path>: 1|-1, _id: 1|-1}, or
 * {_id: 1} for creation order (sort_path NULL). AD_E_BAD_REQUEST when the
 * path is not letters, digits, '_' and '.'. *out is initialized here. */
ad_code ad_mongo_sort_bson(const char *sort_path, bool desc, bson_t *out, ad_error *err);

/* The ad_code for a libmongoc error (domain, code; error API version 2):
 * no server to be had (server selection, connection, socket, DNS,
 * authentication, a node shutting down or stepping down) is
 * AD_E_UNAVAILABLE; a duplicate key is AD_E_EXISTS; a document over the
 * BSON limit AD_E_TOO_LARGE; anything else AD_E_BACKEND. */
ad_code ad_mongo_error_code(uint32_t domain, uint32_t code);

/* Records e in err under its mapped code: "MongoDB <what>: <message>". */
ad_code ad_mongo_fail(const bson_error_t *e, const char *what, ad_error *err);

#endif
