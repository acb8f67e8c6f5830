/*
 * blob.h — the blob store port: where file bytes live.
 *
 * Objects are named by keys ("assets/<asset_id>/<path>"), written as a
 * stream through a writer that publishes the object atomically on commit
 * (a reader never sees half an object; an aborted writer leaves nothing),
 * and read back by ranges. Like the meta store, each adapter fills in one
 * versioned table of function pointers, registered by URL scheme in
 * blob.c.
 */
#ifndef ASSETD_STORE_BLOB_H
#define ASSETD_STORE_BLOB_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define AD_BLOB_KEY_MAX      1024 /* bytes */
#define AD_BLOB_KEY_PART_MAX 255  /* bytes between slashes (a file name) */

typedef struct ad_blob ad_blob;
typedef struct ad_blob_writer ad_blob_writer;

#define AD_BLOB_OPS_VERSION 1

typedef struct ad_blob_ops {
    int version;        /* AD_BLOB_OPS_VERSION. Mandatory. */
    const char *scheme; /* "file". Mandatory. */

    /* Opens the store named by url, creating it if needed. Mandatory. */
    ad_code (*open)(const char *url, ad_blob **out, ad_error *err);
    void (*close)(ad_blob *b); /* Mandatory. */
    /* AD_OK when objects can be written and read. Mandatory. */
    ad_code (*ping)(ad_blob *b, ad_error *err);

    /* Starts writing key. Mandatory. */
    ad_code (*writer_open)(ad_blob *b, const char *key, ad_blob_writer **w, ad_error *err);
    /* Appends n bytes. Mandatory. */
    ad_code (*writer_write)(ad_blob_writer *w, const void *p, size_t n, ad_error *err);
    /* Publishes the object under its key, replacing any old one, and frees
     * w whatever the result. Mandatory. */
    ad_code (*writer_commit)(ad_blob_writer *w, ad_error *err);
    /* Drops everything written and frees w. Mandatory. */
    void (*writer_abort)(ad_blob_writer *w);

    /* Size of key: AD_OK or AD_E_NOT_FOUND. Mandatory. */
    ad_code (*stat)(ad_blob *b, const char *key, uint64_t *size, ad_error *err);
    /* Reads up to n bytes at off into buf; *got is 0 at the end. Mandatory. */
    ad_code (*read)(ad_blob *b, const char *key, uint64_t off, void *buf, size_t n, size_t *got,
                    ad_error *err);
    /* Removes key; removing a missing key is AD_OK. Mandatory. */
    ad_code (*remove)(ad_blob *b, const char *key, ad_error *err);

    /* Optional: NULL for adapters whose objects are not local files.
     * Opens key for reading and gives its descriptor (*fd, the caller
     * closes it), its *size, and a *version that changes whenever the
     * object is replaced (for validators such as ETags). Lets a response
     * send the object with sendfile(2) and a long read keep one open file.
     * AD_OK or AD_E_NOT_FOUND. */
    ad_code (*open_fd)(ad_blob *b, const char *key, int *fd, uint64_t *size, uint64_t *version,
                       ad_error *err);
} ad_blob_ops;

struct ad_blob {
    const ad_blob_ops *ops;
};

/* Keys: 1..AD_BLOB_KEY_MAX bytes of valid UTF-8, '/'-separated parts of at
 * most AD_BLOB_KEY_PART_MAX bytes that are not empty, "." or "..", no NUL,
 * control bytes or backslashes. */
ad_code ad_blob_key_check(const char *key, ad_error *err);

ad_code ad_blob_open(const char *url, ad_blob **out, ad_error *err);
const char *ad_blob_schemes(void);

#endif
