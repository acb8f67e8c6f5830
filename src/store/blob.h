/*
 * blob.h — the blob store port: where file bytes live.
 *
 * Objects are named by keys ("assets/<asset_id>/<path>"), written as a
 * stream through a writer that publishes the object atomically on commit
 * (a reader never sees half an object; an aborted writer leaves nothing),
 * and read back by ranges or as one sequential stream. Like the meta store,
 * each adapter fills in one versioned table of function pointers,
 * registered by URL scheme in blob.c.
 *
 * Version 2 added the optional slots head, reader_* and bucket_*: a caller
 * checks a slot for NULL before using it. Version 3 added the optional
 * bucket_policy_* slots (access policies kept by the backend itself).
 */
#ifndef ASSETD_STORE_BLOB_H
#define ASSETD_STORE_BLOB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define AD_BLOB_KEY_MAX      1024 /* bytes */
#define AD_BLOB_KEY_PART_MAX 255  /* bytes between slashes (a file name) */
#define AD_BLOB_BUCKET_MAX   63   /* bytes of a bucket name (S3's rule) */

typedef struct ad_blob ad_blob;
typedef struct ad_blob_writer ad_blob_writer;
typedef struct ad_blob_reader ad_blob_reader;

/* Who may use a bucket without credentials (bucket_policy_* slots). The
 * values equal core/buckets.h's ad_bucket_policy. */
typedef enum ad_blob_policy {
    AD_BLOB_POLICY_NONE = 0,      /* nobody: only signed requests */
    AD_BLOB_POLICY_READONLY = 1,  /* anyone may read objects */
    AD_BLOB_POLICY_WRITEONLY = 2, /* anyone may write objects */
    AD_BLOB_POLICY_READWRITE = 3, /* anyone may read and write objects */
    AD_BLOB_POLICY_OTHER = 4,     /* (get only) a policy that is none of these */
} ad_blob_policy;

#define AD_BLOB_OPS_VERSION 3

typedef struct ad_blob_ops {
    int version;        /* AD_BLOB_OPS_VERSION. Mandatory. */
    const char *scheme; /* "file", "s3". Mandatory. */

    /* Opens the store named by url, creating it if needed (a directory, an
     * S3 bucket). A backend that cannot be reached is AD_E_UNAVAILABLE.
     * Mandatory. */
    ad_code (*open)(const char *url, ad_blob **out, ad_error *err);
    void (*close)(ad_blob *b); /* Mandatory. */
    /* AD_OK when objects can be written and read. Mandatory. */
    ad_code (*ping)(ad_blob *b, ad_error *err);

    /* Starts writing key (*w is NULL on failure). A writer's memory is
     * bounded whatever the object's size. Writers are used by one thread
     * at a time; several writers, readers and calls run concurrently on one
     * store. Mandatory. */
    ad_code (*writer_open)(ad_blob *b, const char *key, ad_blob_writer **w, ad_error *err);
    /* Appends n bytes. After a failure the only call left is writer_abort.
     * Mandatory. */
    ad_code (*writer_write)(ad_blob_writer *w, const void *p, size_t n, ad_error *err);
    /* Publishes the object under its key, replacing any old one, and frees
     * w whatever the result. Mandatory. */
    ad_code (*writer_commit)(ad_blob_writer *w, ad_error *err);
    /* Drops everything written (nothing of it stays in the backend, not
     * even parts of an upload) and frees w; NULL is a no-op. Mandatory. */
    void (*writer_abort)(ad_blob_writer *w);

    /* Size of key: AD_OK or AD_E_NOT_FOUND. Mandatory. */
    ad_code (*stat)(ad_blob *b, const char *key, uint64_t *size, ad_error *err);
    /* Reads up to n bytes at off into buf; *got is 0 at the end (and for
     * any off at or past it). One request per call on a remote store: for
     * long sequential reads use the reader below. Mandatory. */
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

    /* Optional (version 2). Like stat, plus a *version that changes whenever
     * the object is replaced (S3: a digest of its ETag), for validators. */
    ad_code (*head)(ad_blob *b, const char *key, uint64_t *size, uint64_t *version, ad_error *err);

    /* Optional (version 2), all three or none. A sequential reader of the
     * bytes [off, off + len) of key, clamped to the object's end (len
     * UINT64_MAX: to the end): one open file, or ONE HTTP GET on S3 for
     * the whole range, however it is read. reader_open fails with
     * AD_E_NOT_FOUND for a missing key; an off at or past the end gives a
     * reader that is at its end at once. reader_read gives up to n bytes
     * (at least 1 until the range is done; *got 0 at its end); after a
     * failure only reader_close is left. reader_close frees r (NULL is a
     * no-op), also before the end. A reader belongs to one thread at a
     * time. */
    ad_code (*reader_open)(ad_blob *b, const char *key, uint64_t off, uint64_t len,
                           ad_blob_reader **r, ad_error *err);
    ad_code (*reader_read)(ad_blob_reader *r, void *buf, size_t n, size_t *got, ad_error *err);
    void (*reader_close)(ad_blob_reader *r);

    /* Optional (version 2), all four or none. Buckets: named containers
     * beside the store's own objects (S3: buckets on the same service;
     * file: directories). Names follow S3's rules (ad_blob_bucket_check);
     * a bad name is AD_E_BAD_REQUEST.
     * bucket_create: AD_OK, or AD_E_EXISTS when the bucket already exists.
     *   region: where to create it (S3 LocationConstraint), NULL for the
     *   store's own region; ignored by stores that have no regions. */
    ad_code (*bucket_create)(ad_blob *b, const char *name, const char *region, ad_error *err);
    /* bucket_exists: *exists tells; AD_OK unless the backend failed. */
    ad_code (*bucket_exists)(ad_blob *b, const char *name, bool *exists, ad_error *err);
    /* bucket_remove: removes an empty bucket; AD_E_NOT_FOUND if there is
     * none, AD_E_PRECONDITION if it holds objects (or S3 multipart
     * uploads) unless force, which removes them first. The store's own
     * bucket (S3) is refused with AD_E_BAD_REQUEST. */
    ad_code (*bucket_remove)(ad_blob *b, const char *name, bool force, ad_error *err);
    /* bucket_open: a store of the same kind, with the same settings and
     * credentials, whose objects are those of bucket name (which must
     * exist: AD_E_NOT_FOUND otherwise). The caller closes it with its
     * ops->close before closing b. */
    ad_code (*bucket_open)(ad_blob *b, const char *name, ad_blob **out, ad_error *err);

    /* Optional (version 3), both or none: stores that keep access
     * policies themselves (S3 bucket policies); NULL where the policy is
     * only enforced by assetd (file). Needs the bucket_* slots.
     * bucket_policy_set: makes bucket name's policy p (AD_BLOB_POLICY_NONE
     *   removes any policy; AD_BLOB_POLICY_OTHER is AD_E_BAD_REQUEST).
     *   AD_E_NOT_FOUND when there is no such bucket. */
    ad_code (*bucket_policy_set)(ad_blob *b, const char *name, ad_blob_policy p, ad_error *err);
    /* bucket_policy_get: *p is what the bucket's policy grants anonymous
     *   users: NONE when it has no policy, OTHER when it grants anything
     *   but exactly one of the four (a policy changed by hand).
     *   AD_E_NOT_FOUND when there is no such bucket. */
    ad_code (*bucket_policy_get)(ad_blob *b, const char *name, ad_blob_policy *p, ad_error *err);
} ad_blob_ops;

struct ad_blob {
    const ad_blob_ops *ops;
};

/* Keys: 1..AD_BLOB_KEY_MAX bytes of valid UTF-8, '/'-separated parts of at
 * most AD_BLOB_KEY_PART_MAX bytes that are not empty, "." or "..", no NUL,
 * control bytes or backslashes. */
ad_code ad_blob_key_check(const char *key, ad_error *err);

/* Bucket names (S3's rules): 3..63 bytes of lowercase letters, digits, '.'
 * and '-', beginning and ending with a letter or digit, no "..", not shaped
 * like an IPv4 address, not starting "xn--" or "sthree-", not ending
 * "-s3alias" or "--ol-s3". */
ad_code ad_blob_bucket_check(const char *name, ad_error *err);

ad_code ad_blob_open(const char *url, ad_blob **out, ad_error *err);
const char *ad_blob_schemes(void);

#endif
