/*
 * zipspec.h — storing the entries of a ZIP upload while its body arrives.
 *
 * The ingest job (core/ingest.h) reads a spooled archive only after the
 * whole body is in, so an upload used to cost the transfer plus a second
 * full pass (read, SHA-256, CRC-32, write). Most archives worth speeding up
 * are big stored entries whose local headers carry their sizes (Python's
 * zipfile, 7-Zip, Info-ZIP writing to a file): their data can be stored
 * from the body itself. So the upload runs the body through a scanner of
 * local headers (ad_zipscan) and hands the data of each entry it may take
 * (ad_zipspec: stored, not encrypted, sizes in the local header, at least
 * AD_ZIPSPEC_MIN bytes, a plain ASCII name that passes the name rules)
 * straight to the store stage, under the key the job would use
 * ("<upload_id>/<name>"); those bytes are not written to the spool, which
 * gets a hole of the same length instead, so every other offset of the
 * archive stays where it was.
 *
 * This is speculation: nothing is decided until the job has read the
 * central directory. The job adopts an object only when the directory has
 * an entry at the same offset with the same name, method, size and CRC-32
 * as what was stored; any entry taken but not adopted fails the job (its
 * data exists only as the object), as does any archive check. What a
 * speculation stored belongs to the upload's source, like the spool: kept
 * when a job is interrupted and run again, removed when the job fails or
 * the upload is cut off (an object of a job that succeeds is the asset's
 * file).
 *
 * Every object is listed in a manifest beside the spool (<id>.spec) before
 * it is written, and the manifest is synced then, so a crash at any point
 * leaves a list of exactly what to remove. Its lines:
 *
 *   assetd-zipspec 1
 *   B <bucket>                       (or "B -": the main store)
 *   K <header_off> <key>             before the object is written
 *   S <header_off> <data_off> <size> <crc32 hex> <sha256 hex> <mime type>
 *                                    once it is committed
 */
#ifndef ASSETD_CORE_ZIPSPEC_H
#define ASSETD_CORE_ZIPSPEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/archive_rules.h"
#include "core/buckets.h"
#include "store/blob.h"
#include "util/err.h"

#define AD_ZIPSPEC_MIN ((uint64_t)1 << 20) /* smallest entry stored while it arrives */

/* --- the scanner of local headers --- */

/* A local file header as the stream brings it (APPNOTE 4.3.7), sizes taken
 * from the zip64 extra field when the header says 0xffffffff. */
typedef struct ad_zipscan_entry {
    uint64_t header_off, data_off;
    uint64_t csize, usize;
    uint32_t crc;
    uint16_t flags, method;
    const char *name; /* name_len raw bytes, not NUL-terminated (a name may hold NULs) */
    size_t name_len;
} ad_zipscan_entry;

typedef struct ad_zipscan_ops {
    /* A local header is complete: 1 to take the entry's data (handed to
     * take, then end), 0 to let it pass, -1 to stop with *err set. */
    int (*begin)(void *ctx, const ad_zipscan_entry *e, ad_error *err);
    ad_code (*take)(void *ctx, const char *p, size_t n, ad_error *err);
    ad_code (*end)(void *ctx, ad_error *err);
    /* Every byte not taken, in order (headers included). */
    ad_code (*pass)(void *ctx, const char *p, size_t n, ad_error *err);
} ad_zipscan_ops;

/* Follows local headers from offset 0 as long as each entry's data length
 * is known from its header: at anything else (the central directory, a
 * data descriptor, bytes that are not a local header) it stops looking and
 * passes the rest through. Memory: one header (at most 30 + 2 × 65535
 * bytes). */
typedef struct ad_zipscan {
    const ad_zipscan_ops *ops;
    void *ctx;
    int state;
    uint64_t off;       /* archive bytes seen */
    unsigned char *hdr; /* the local header being read */
    size_t hcap, hlen, hneed;
    uint64_t left; /* data bytes left of the current entry */
    bool taking;
    ad_zipscan_entry cur;
} ad_zipscan;

void ad_zipscan_init(ad_zipscan *s, const ad_zipscan_ops *ops, void *ctx);
ad_code ad_zipscan_feed(ad_zipscan *s, const char *p, size_t n, ad_error *err);
/* Whether the stream ended inside an entry being taken. */
bool ad_zipscan_cut(const ad_zipscan *s);
void ad_zipscan_free(ad_zipscan *s);

/* --- the speculation of an upload --- */

/* Where the bytes not taken go (the spool file) and how taken bytes are
 * skipped in it (a hole of n bytes). */
typedef struct ad_zipspec_sink {
    ad_code (*spool)(void *ctx, const char *p, size_t n, ad_error *err);
    ad_code (*hole)(void *ctx, uint64_t n, ad_error *err);
    void *ctx;
} ad_zipspec_sink;

typedef struct ad_zipspec_opts {
    const char *upload_id;
    const char *bucket;   /* NULL: the main store */
    ad_blob *blobs;       /* where the objects go (the bucket's store, or the main one) */
    const char *manifest; /* path of the manifest to create */
    uint64_t min_entry;   /* AD_ZIPSPEC_MIN unless a test says otherwise */
    ad_archive_limits limits;
} ad_zipspec_opts;

typedef struct ad_zipspec ad_zipspec;

/* Creates the manifest (synced). Strings in o are copied. */
ad_code ad_zipspec_new(const ad_zipspec_opts *o, const ad_zipspec_sink *sink, ad_zipspec **out,
                       ad_error *err);
/* The next bytes of the archive. A failure of the store ("storage error:
 * ...") fails the upload: bytes already taken exist nowhere else. */
ad_code ad_zipspec_feed(ad_zipspec *z, const char *p, size_t n, ad_error *err);
/* The body is complete: an entry cut short by its end is dropped, and the
 * manifest is synced. The job owns what it lists from now on. */
ad_code ad_zipspec_finish(ad_zipspec *z, ad_error *err);
/* Entries stored so far (for logs and tests). */
size_t ad_zipspec_taken(const ad_zipspec *z);
/* The upload did not complete: removes every object stored and the
 * manifest (kept, for the start-up sweep, when an object could not be
 * removed). */
void ad_zipspec_discard(ad_zipspec *z);
void ad_zipspec_free(ad_zipspec *z);

/* --- the job's side --- */

/* One object the upload stored. */
typedef struct ad_spec_file {
    uint64_t header_off, data_off, size;
    uint32_t crc;
    bool complete; /* an S record: committed, sums known */
    bool adopted;  /* matched to the central directory by the job */
    unsigned char sha256[32];
    char mime[128];
    char *key;        /* "<upload_id>/<name>" */
    const char *name; /* inside key */
} ad_spec_file;

typedef struct ad_spec_list {
    ad_spec_file *f; /* in the order of the archive */
    size_t n;
    char *bucket; /* NULL: the main store */
} ad_spec_list;

/* "<spool path without .zip>.spec": where the manifest of a spool file is.
 * false when path does not end in ".zip" or buf is too small. */
bool ad_zipspec_manifest_path(const char *spool, char *buf, size_t cap);
/* Reads a manifest written for upload_id (every key must lie under
 * "<upload_id>/"). AD_E_NOT_FOUND when there is none; AD_E_INVALID when
 * it is damaged (named). */
ad_code ad_zipspec_load(const char *manifest, const char *upload_id, ad_spec_list *out,
                        ad_error *err);
/* The object whose data starts at data_off, or NULL. */
ad_spec_file *ad_spec_list_find(ad_spec_list *l, uint64_t data_off);
void ad_spec_list_free(ad_spec_list *l);

/* Ends a manifest's life: unless keep_objects, removes every object it
 * lists (complete or not) from its store (main, or the bucket's through
 * buckets), then removes the manifest. AD_OK when there is none. A
 * damaged manifest, or objects that cannot be removed, leave the manifest
 * in place (the error says why) so the start-up sweep tries again. */
ad_code ad_zipspec_drop(const char *manifest, const char *upload_id, bool keep_objects,
                        ad_blob *main, ad_buckets *buckets, ad_error *err);

#endif
