/*
 * ingest.h — the ingest pipeline of ZIP uploads: a pool of worker threads
 * takes jobs from the job store in order of arrival and, for each, reads
 * the spooled archive with libarchive, streams every file through SHA-256
 * and CRC-32 into the blob store, and registers the asset described by
 * the archive's asset.json. A job either ends with every file stored and
 * the asset registered, or with nothing left behind and a reason.
 */
#ifndef ASSETD_CORE_INGEST_H
#define ASSETD_CORE_INGEST_H

#include <stdint.h>

#include "core/controller.h"
#include "core/buckets.h"
#include "core/registry.h"
#include "store/blob.h"
#include "store/jobs.h"
#include "util/err.h"

#define AD_INGEST_META_MAX ((size_t)1 << 20)   /* bytes of asset.json */
#define AD_INGEST_BUF      ((size_t)256 << 10) /* bytes the scan reads at a time */
#define AD_INGEST_READ     ((size_t)256 << 10) /* bytes the store pass reads at a time */

typedef struct ad_ingest_opts {
    ad_jobs *jobs;          /* not owned */
    ad_blob *blobs;         /* not owned */
    ad_registry *reg;       /* not owned */
    const char *public_url; /* base of asset_file_url */
    unsigned workers;
    uint64_t max_entries;  /* entries per archive */
    uint64_t max_unpacked; /* bytes, all entries together */
    uint64_t max_ratio;    /* unpacked bytes per archive byte */
    int64_t status_ttl;    /* seconds a finished job stays readable */
    /* Where a job whose archive is staged in the blob store (source
     * "blob:<key>", see AD_INGEST_STAGED) is fetched to while it runs: this
     * instance's spool directory. NULL: staged sources fail. */
    const char *spool_dir;
    /* Runs the asset store's reconcile jobs (source "asset:..."), claimed
     * by the same workers; NULL: such jobs fail. */
    ad_controller *controller;
    ad_buckets *buckets; /* not owned; where jobs naming a bucket store their files
                            (NULL: such jobs fail) */
} ad_ingest_opts;

/* A job's source is either a local spool file (a path) or, when uploads are
 * staged so that any instance sharing the stores can run the job, this
 * prefix and a blob key ("blob:uploads/<upload_id>.zip"). */
#define AD_INGEST_STAGED "blob:"

typedef struct ad_ingest ad_ingest;

/* Expires old jobs, then starts o->workers threads. o is copied. A worker
 * that claims a job whose previous worker died (its lease expired: a crash
 * of this or another process sharing the job store) first cleans up after
 * it: success if the asset got registered, else its stored objects are
 * removed and the job runs again (failed if the spool file is gone). */
ad_code ad_ingest_start(const ad_ingest_opts *o, ad_ingest **out, ad_error *err);
/* Stops the workers: a job in progress is abandoned cleanly (its objects
 * removed) and put back in the queue, so the next start resumes it. */
void ad_ingest_stop(ad_ingest *g);

/* Runs one claimed job to its end on the calling thread (the workers'
 * body; exposed for tests). Returns the job's final state. */
ad_job_state ad_ingest_run(const ad_ingest_opts *o, ad_job *job);

#endif
