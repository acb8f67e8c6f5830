/*
 * meta.h — the meta store port: where asset documents live.
 *
 * A port is a versioned table of function pointers (like SQLite's
 * sqlite3_vfs or curl's struct Curl_ssl); each adapter fills one in and
 * registers it by URL scheme in meta.c. The core reaches a store only
 * through these slots and never includes an adapter's header.
 *
 * Documents are stored and returned as JSON text in canonical form
 * (see core/model.h), so reads can send the stored bytes as they are.
 * Every document has a revision: 1 on insert, +1 on each replace, and the
 * time of its last write.
 */
#ifndef ASSETD_STORE_META_H
#define ASSETD_STORE_META_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/filter.h"
#include "util/err.h"

/* One stored document. json is owned by whoever holds the struct. */
typedef struct ad_doc {
    char *json;
    size_t len;
    int64_t rev;
    int64_t mtime; /* when it was last written, seconds since the epoch (get only) */
} ad_doc;

void ad_doc_free(ad_doc *d);

#define AD_REV_ANY (-1) /* "whatever the current revision is" */

/* A list query: the filter (never NULL; AD_FOP_TRUE for all), then order,
 * then skip and limit, applied in that order. */
typedef struct ad_query {
    const ad_filter *filter;
    const char *sort_path; /* dotted field path, NULL = creation order */
    bool sort_desc;
    uint64_t skip;
    uint64_t limit; /* UINT64_MAX = no limit */
} ad_query;

typedef struct ad_meta ad_meta;
typedef struct ad_meta_cursor ad_meta_cursor;

#define AD_REC_NS_MAX   32    /* bytes of a record namespace */
#define AD_REC_KEY_MAX  256   /* bytes of a record key */
#define AD_REC_JSON_MAX 65536 /* bytes of a record's JSON */

/* Called for each record by rec_list(); json is valid during the call only.
 * A non-zero return stops the walk. */
typedef int (*ad_rec_fn)(void *ctx, const char *key, const char *json, size_t len, int64_t rev);

/* Checks ns and key against the rules of the record slots below; adapters
 * call it first. AD_E_BAD_REQUEST naming what is wrong. */
ad_code ad_rec_check(const char *ns, const char *key, size_t json_len, ad_error *err);

#define AD_META_OPS_VERSION 2

typedef struct ad_meta_ops {
    int version;        /* AD_META_OPS_VERSION. Mandatory. */
    const char *scheme; /* URL scheme this adapter serves ("sqlite"). Mandatory. */

    /* Opens the store named by url, creating its schema if needed.
     * Mandatory. */
    ad_code (*open)(const char *url, ad_meta **out, ad_error *err);
    /* Closes it; every cursor must be closed first. Mandatory. */
    void (*close)(ad_meta *m);
    /* AD_OK when the backend answers; AD_E_UNAVAILABLE with the reason
     * otherwise. Mandatory. */
    ad_code (*ping)(ad_meta *m, ad_error *err);

    /* Reads one document by asset_id: AD_OK filling *out, or
     * AD_E_NOT_FOUND. Mandatory. */
    ad_code (*get)(ad_meta *m, const char *id, ad_doc *out, ad_error *err);
    /* Inserts a new document (json is its canonical text, doc the same
     * parsed, for indexing). AD_E_EXISTS if id is taken. Sets *rev to 1.
     * Mandatory. */
    ad_code (*insert)(ad_meta *m, const char *id, const char *json, size_t len, const json_t *doc,
                      int64_t *rev, ad_error *err);
    /* Replaces a document if its revision is expect_rev (or any, with
     * AD_REV_ANY). AD_E_NOT_FOUND, AD_E_PRECONDITION on a revision
     * mismatch. Sets *rev to the new revision. Mandatory. */
    ad_code (*replace)(ad_meta *m, const char *id, int64_t expect_rev, const char *json, size_t len,
                       const json_t *doc, int64_t *rev, ad_error *err);
    /* Deletes a document under the same revision rule. Mandatory. */
    ad_code (*remove)(ad_meta *m, const char *id, int64_t expect_rev, ad_error *err);

    /* Starts a list query; the cursor yields exactly the documents that
     * match q->filter, in q's order, after skip, at most limit. An adapter
     * may narrow candidates with its own indexes and must then evaluate
     * the filter itself (ad_filter_match) unless its query is exact.
     * Mandatory. */
    ad_code (*find)(ad_meta *m, const ad_query *q, ad_meta_cursor **out, ad_error *err);
    /* Next document: AD_OK with *json and *len pointing at text valid until the
     * next call or close (*json NULL at the end), or an error. Mandatory. */
    ad_code (*cursor_next)(ad_meta_cursor *c, const char **json, size_t *len, ad_error *err);
    /* Releases the cursor (NULL is fine). Mandatory. */
    void (*cursor_close)(ad_meta_cursor *c);

    /* Records: a small side table of named JSON records kept beside the
     * assets, shared by every instance on the same store — API tokens
     * (namespace "tokens", keyed by the token's SHA-256), buckets
     * ("buckets"). ns is 1..32 bytes of [a-z_]; key 1..AD_REC_KEY_MAX bytes
     * of valid UTF-8 without NUL; json a JSON object of at most
     * AD_REC_JSON_MAX bytes. Same revision rules as documents. */

    /* Creates (expect_rev 0: AD_E_EXISTS if present) or replaces
     * (expect_rev > 0: AD_E_NOT_FOUND if absent, AD_E_PRECONDITION on a
     * mismatch; AD_REV_ANY: create or replace). Sets *rev. Mandatory. */
    ad_code (*rec_put)(ad_meta *m, const char *ns, const char *key, const char *json, size_t len,
                       int64_t expect_rev, int64_t *rev, ad_error *err);
    /* AD_OK filling *out (json, len, rev, mtime), or AD_E_NOT_FOUND.
     * Always reads the store (no cache), so a change made by another
     * instance is seen at once. Mandatory. */
    ad_code (*rec_get)(ad_meta *m, const char *ns, const char *key, ad_doc *out, ad_error *err);
    /* Removes under the revision rule (AD_REV_ANY: whatever it is);
     * AD_E_NOT_FOUND if absent. Mandatory. */
    ad_code (*rec_remove)(ad_meta *m, const char *ns, const char *key, int64_t expect_rev,
                          ad_error *err);
    /* Calls fn for every record of ns in bytewise key order; a non-zero return stops
     * the walk (still AD_OK). Mandatory. */
    ad_code (*rec_list)(ad_meta *m, const char *ns, ad_rec_fn fn, void *ctx, ad_error *err);
} ad_meta_ops;

/* Every adapter's handle starts with this, so the port can dispatch. */
struct ad_meta {
    const ad_meta_ops *ops;
};

/* Opens the adapter registered for url's scheme. AD_E_BAD_REQUEST names an
 * unknown scheme. */
ad_code ad_meta_open(const char *url, ad_meta **out, ad_error *err);
/* The schemes known, for messages and --help: "sqlite". */
const char *ad_meta_schemes(void);

#endif
