/*
 * stage_store.h — the store stage of the ingest pipeline, shared by ZIP
 * uploads (core/ingest.c) and assets pulled from a URL (core/reconcile.c):
 * one file's bytes, pulled block by block from wherever they come from
 * (an archive entry, a fetched file, a mutated file), go through SHA-256
 * (the hash pipe's thread), CRC-32 and libmagic into a blob writer. The
 * key is recorded in the job store BEFORE the object is written, so
 * whoever finds the job interrupted removes exactly what it stored; a
 * failed file leaves no object (the writer is aborted).
 *
 * Keys recorded for objects of a bucket (not the main blob store) carry
 * the bucket: "@<bucket>/<key>" (bucket names have no '/' or '@'; the
 * main store's keys never start with '@').
 */
#ifndef ASSETD_CORE_STAGE_STORE_H
#define ASSETD_CORE_STAGE_STORE_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "core/hashpipe.h"
#include "store/blob.h"
#include "store/jobs.h"
#include "util/err.h"

/* What was measured of one stored file. */
typedef struct ad_stage_sum {
    uint32_t crc;
    uint64_t size;
    char mime[128];
    unsigned char sha256[32];
} ad_stage_sum;

/* Fills buf with up to cap bytes of the file: the count, 0 at its end, or
 * -1 on failure (the source keeps its own reason). */
typedef long (*ad_stage_pull_fn)(void *ctx, char *buf, size_t cap);
/* Called with each block before it is written (limits, progress,
 * cancellation): non-zero stops the file. May be NULL. */
typedef int (*ad_stage_block_fn)(void *ctx, size_t n);
/* Called when the file's bytes are all read, before the object is
 * published (a checksum to compare): non-zero stops. May be NULL. */
typedef int (*ad_stage_done_fn)(void *ctx, const ad_stage_sum *sum);

typedef struct ad_stage {
    ad_jobs *jobs; /* keys are recorded here, under job_id (NULL: the caller records them) */
    const char *job_id;
    ad_blob *blobs;     /* where the objects go */
    const char *bucket; /* NULL: the main store; else recorded as "@<bucket>/<key>" */
    void *magic;        /* a libmagic cookie (magic_t), or NULL: octet-stream */
    ad_hashpipe *hp;    /* owned by the caller */
    ad_stage_pull_fn pull;
    ad_stage_block_fn block;
    ad_stage_done_fn done;
    void *ctx; /* given to the three callbacks */
} ad_stage;

/* Streams one file into key. AD_OK with *sum filled, or an error: when a
 * callback stopped the file the code is AD_E_BAD_REQUEST and the message
 * empty (the callback's owner has the reason); a store failure names
 * itself ("storage error: ...", "job store error: ..."). */
ad_code ad_stage_file(ad_stage *s, const char *key, ad_stage_sum *sum, ad_error *err);

/* The same stage driven by the producer instead (the bytes of an archive
 * entry as an upload body brings them, core/zipspec.h): open, write the
 * bytes in pieces of any size (gathered into the hash pipe's blocks), then
 * commit (AD_OK with *sum filled, the object published) or abort (nothing
 * left). The pull and block callbacks are not used; done is, at commit.
 * Errors as ad_stage_file's. */
typedef struct ad_stage_push {
    ad_stage *s;
    ad_blob_writer *w; /* NULL once committed or aborted */
    ad_stage_sum sum;
    uint32_t crc;
    char *blk; /* the hash pipe block being filled, or NULL */
    size_t fill;
} ad_stage_push;

ad_code ad_stage_push_open(ad_stage_push *p, ad_stage *s, const char *key, ad_error *err);
ad_code ad_stage_push_write(ad_stage_push *p, const char *data, size_t n, ad_error *err);
ad_code ad_stage_push_commit(ad_stage_push *p, ad_stage_sum *sum, ad_error *err);
/* No-op when nothing is open. */
void ad_stage_push_abort(ad_stage_push *p);

/* A libmagic cookie set up as the store stage wants it (MIME type only,
 * no looking into compressed, ELF or CDF content), or NULL when the
 * database cannot be loaded (files are then application/octet-stream).
 * One per thread; free with magic_close. */
void *ad_stage_magic_new(void);

/* The files[] entry of a stored file: given (an entry the client wrote,
 * or NULL) completed with asset_file_id = name, asset_file_type "binary"
 * and the sniffed MIME type when absent, asset_file_url = url, and
 * asset_file_metadata.{size, sha256, crc32}. NULL when out of memory. */
json_t *ad_stage_file_entry(const json_t *given, const char *name, const ad_stage_sum *sum,
                            const char *url);

/* "<base>/<name with each segment percent-encoded>" (base without its
 * trailing slashes), malloc'd; NULL when out of memory. */
char *ad_stage_file_url(const char *base, const char *name);

#endif
