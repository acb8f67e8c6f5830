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
 */
#ifndef ASSETD_STORE_JOBS_H
#define ASSETD_STORE_JOBS_H

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
    uint64_t bytes_total, bytes_done;
    uint64_t files_total, files_done;
    int64_t created, updated; /* seconds since the epoch */
} ad_job;

void ad_job_clear(ad_job *j); /* frees the owned strings */
const char *ad_job_state_name(ad_job_state s);

typedef struct ad_jobs ad_jobs;

/* Called for each key by keys(); a non-zero return stops the walk. */
typedef int (*ad_job_key_fn)(void *ctx, const char *key);

#define AD_JOBS_OPS_VERSION 1

typedef struct ad_jobs_ops {
    int version;        /* AD_JOBS_OPS_VERSION. Mandatory. */
    const char *scheme; /* "local". Mandatory. */

    /* Opens the store named by url, creating it if needed. Mandatory. */
    ad_code (*open)(const char *url, ad_jobs **out, ad_error *err);
    /* Closes it; no call may be in progress. Mandatory. */
    void (*close)(ad_jobs *j);
    /* AD_OK when the store answers. Mandatory. */
    ad_code (*ping)(ad_jobs *j, ad_error *err);

    /* Adds job (id, source, bytes_total set by the caller) as queued, at
     * the end of the queue. AD_E_EXISTS if the id is taken. Mandatory. */
    ad_code (*create)(ad_jobs *j, const ad_job *job, ad_error *err);
    /* Reads a job: AD_OK filling *out (clear it with ad_job_clear), or
     * AD_E_NOT_FOUND. Mandatory. */
    ad_code (*get)(ad_jobs *j, const char *id, ad_job *out, ad_error *err);
    /* Takes the oldest queued job and marks it processing, waiting up to
     * wait_ms for one: AD_OK filling *out, or AD_E_NOT_FOUND when none came.
     * Each job is handed to exactly one caller. Mandatory. */
    ad_code (*claim)(ad_jobs *j, unsigned wait_ms, ad_job *out, ad_error *err);
    /* Records progress and, when not NULL, the asset id. Mandatory. */
    ad_code (*progress)(ad_jobs *j, const ad_job *job, ad_error *err);
    /* Records a blob key the job is about to write (before writing it).
     * Mandatory. */
    ad_code (*add_key)(ad_jobs *j, const char *id, const char *key, ad_error *err);
    /* Calls fn for every key recorded for the job. Mandatory. */
    ad_code (*keys)(ad_jobs *j, const char *id, ad_job_key_fn fn, void *ctx, ad_error *err);
    /* Forgets the job's recorded keys. Mandatory. */
    ad_code (*clear_keys)(ad_jobs *j, const char *id, ad_error *err);
    /* Sets the job's state (and reason when failed); a job set back to
     * queued goes to the front of the queue, keeping its arrival order.
     * Mandatory. */
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
};

ad_code ad_jobs_open(const char *url, ad_jobs **out, ad_error *err);
const char *ad_jobs_schemes(void);

#endif
