/*
 * jobs.h — the job store port: ingest jobs (ZIP uploads), their status,
 * their progress and the queue the workers take them from.
 *
 * A job is created `queued`, claimed by one worker (`processing`), and
 * ends `success` or `failed` with a reason. While it runs it records every
 * blob key it is about to write, so that whoever finds it interrupted (a
 * crash, kill -9) can remove exactly those objects. Finished jobs expire
 * after a time to live. Like the other ports, each adapter fills in one
 * versioned table of function pointers, registered by URL scheme in
 * jobs.c.
 *
 * Leases. Several assetd processes may share one job store, so a job found
 * `processing` is not necessarily abandoned. A claim gives the worker a
 * lease of the store's visibility timeout (the `visibility_timeout` URL
 * parameter); progress() renews it. When a lease runs out (its worker
 * died, or stalled that long without recording progress), claim() hands
 * the job to the next caller, exactly one, with ad_job.recovered set:
 * that worker first cleans up what the previous attempt recorded. An
 * adapter whose store lives in one process (local:, memory:) expires at
 * open the leases of every job a previous process left processing.
 *
 * Version history:
 *   1  the first port.
 *   2  leases: claim() also hands out jobs whose lease expired (recovered
 *      set, attempt counted); progress() renews the lease and refuses, with
 *      AD_E_PRECONDITION, a job whose attempt is no longer the caller's;
 *      progress() of an unknown job is AD_E_NOT_FOUND; finish() refuses
 *      AD_JOB_PROCESSING; struct ad_jobs gains ttl.
 *   3  ad_job.bucket: the bucket an upload's files go into, set by the
 *      caller of create() and kept with the job (NULL: the main store).
 */
#ifndef ASSETD_STORE_JOBS_H
#define ASSETD_STORE_JOBS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define AD_JOB_ID_MAX     40  /* a uuid4 is 36 characters */
#define AD_JOB_REASON_MAX 600 /* bytes of a failure reason */

typedef enum ad_job_state {
    AD_JOB_QUEUED,
    AD_JOB_PROCESSING,
    AD_JOB_SUCCESS,
    AD_JOB_FAILED,
} ad_job_state;

typedef struct ad_job {
    char id[AD_JOB_ID_MAX];
    ad_job_state state;
    char reason[AD_JOB_REASON_MAX]; /* AD_JOB_FAILED only */
    char *asset_id;                 /* owned; NULL until known */
    char *source;                   /* owned; the spool file of an upload */
    char *bucket;                   /* owned; the bucket its files go into, NULL for the
                                       main blob store (version 3) */
    uint64_t bytes_total, bytes_done;
    uint64_t files_total, files_done;
    int64_t created, updated; /* seconds since the epoch */
    unsigned attempt;         /* claims so far, this one included (0: never claimed) */
    bool recovered;           /* set by claim() only: the previous attempt's lease
                                 expired before it finished */
} ad_job;

void ad_job_clear(ad_job *j); /* frees the owned strings */
const char *ad_job_state_name(ad_job_state s);

typedef struct ad_jobs ad_jobs;

/* Called for each key by keys(); a non-zero return stops the walk. */
typedef int (*ad_job_key_fn)(void *ctx, const char *key);

#define AD_JOBS_OPS_VERSION 3

typedef struct ad_jobs_ops {
    int version;        /* AD_JOBS_OPS_VERSION. Mandatory. */
    const char *scheme; /* "local". Mandatory. */

    /* Opens the store named by url, creating it if needed. Mandatory. */
    ad_code (*open)(const char *url, ad_jobs **out, ad_error *err);
    /* Closes it; no call may be in progress. Mandatory. */
    void (*close)(ad_jobs *j);
    /* AD_OK when the store answers. Mandatory. */
    ad_code (*ping)(ad_jobs *j, ad_error *err);

    /* Adds job (id, source, bucket, bytes_total set by the caller) as queued, at
     * the end of the queue. AD_E_EXISTS if the id is taken. Mandatory. */
    ad_code (*create)(ad_jobs *j, const ad_job *job, ad_error *err);
    /* Reads a job: AD_OK filling *out (clear it with ad_job_clear), or
     * AD_E_NOT_FOUND. Mandatory. */
    ad_code (*get)(ad_jobs *j, const char *id, ad_job *out, ad_error *err);
    /* Takes a job and marks it processing under a fresh lease, waiting up
     * to wait_ms for one: first a processing job whose lease expired
     * (recovered = true), else the oldest queued job. AD_OK filling *out
     * (attempt counted), or AD_E_NOT_FOUND when none came. Each job, and
     * each expired lease, is handed to exactly one caller, across threads
     * and across handles opened on the same store. Mandatory. */
    ad_code (*claim)(ad_jobs *j, unsigned wait_ms, ad_job *out, ad_error *err);
    /* Records progress and, when not NULL, the asset id, and renews the
     * lease of a processing job. When job->attempt is not 0 and the job has
     * been claimed again since (its lease expired), nothing is written and
     * the answer is AD_E_PRECONDITION: the caller lost the job.
     * AD_E_NOT_FOUND for an unknown id. Mandatory. */
    ad_code (*progress)(ad_jobs *j, const ad_job *job, ad_error *err);
    /* Records a blob key the job is about to write (before writing it).
     * Mandatory. */
    ad_code (*add_key)(ad_jobs *j, const char *id, const char *key, ad_error *err);
    /* Calls fn for every key recorded for the job. Mandatory. */
    ad_code (*keys)(ad_jobs *j, const char *id, ad_job_key_fn fn, void *ctx, ad_error *err);
    /* Forgets the job's recorded keys. Mandatory. */
    ad_code (*clear_keys)(ad_jobs *j, const char *id, ad_error *err);
    /* Sets the job's state (and reason when failed) and releases its lease;
     * a job set back to queued goes to the front of the queue, keeping its
     * arrival order. state is queued, success or failed (AD_E_BAD_REQUEST
     * for processing). A job that ends may be given a time to live of
     * ad_jobs.ttl by the store itself. Mandatory. */
    ad_code (*finish)(ad_jobs *j, const char *id, ad_job_state state, const char *reason,
                      ad_error *err);
    /* Lists the ids of jobs in state s (at most max; *n set). Mandatory. */
    ad_code (*list)(ad_jobs *j, ad_job_state s, char (*ids)[AD_JOB_ID_MAX], size_t max, size_t *n,
                    ad_error *err);
    /* Deletes finished jobs last updated before `before`; *n removed.
     * Mandatory. */
    ad_code (*expire)(ad_jobs *j, int64_t before, size_t *n, ad_error *err);
} ad_jobs_ops;

struct ad_jobs {
    const ad_jobs_ops *ops;
    /* Seconds a finished job stays readable, 0 = until expire() removes it.
     * Set by the owner after open, before other calls. An adapter whose
     * backend can expire records itself (Redis EXPIRE) applies it when a
     * job ends; every adapter still honours expire(). */
    int64_t ttl;
};

ad_code ad_jobs_open(const char *url, ad_jobs **out, ad_error *err);
const char *ad_jobs_schemes(void);

/* --- for adapters --- */

#define AD_JOBS_PARAM_MAX 256 /* bytes of one decoded URL parameter name or value */

/* Called by ad_jobs_url_params() for each name=value of a URL's query
 * (both percent-decoded, NUL-free); a non-zero code stops the walk. */
typedef ad_code (*ad_jobs_param_fn)(void *ctx, const char *name, const char *value, ad_error *err);
/* Walks the query of url (after its first '?'; none is fine). An empty,
 * malformed or over-long pair is AD_E_BAD_REQUEST naming the URL's scheme
 * (never the URL, which may hold a password). */
ad_code ad_jobs_url_params(const char *url, ad_jobs_param_fn fn, void *ctx, ad_error *err);
/* Parses a visibility_timeout value: whole seconds, 1 to 86400. */
ad_code ad_jobs_parse_timeout(const char *value, int64_t *seconds, ad_error *err);

#endif
