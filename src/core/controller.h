/*
 * controller.h — the asset store's controller: drives each asset with a
 * source (core/source.h) through its lifecycle and records its status.
 *
 * A client's create or update that makes a new generation enqueues a
 * reconcile job in the job store (source "asset:<asset_id>#<generation>");
 * the ingest workers claim it like an upload and hand it to
 * ad_controller_run, which pulls the source, unpacks it, calls the
 * webhook services, stores the files in the asset's bucket through the
 * same store stage as ZIP uploads, and writes the status (phases Pending,
 * Ready, Failed; the asset store's reasons). A periodic check re-enqueues
 * assets due for a retry or left behind, and marks Ready assets whose
 * stored objects are gone Failed/MissingContent.
 *
 * Status writes are conditional on the document's revision: a run whose
 * asset changed generation under it (or was deleted) stops and removes
 * what it stored.
 */
#ifndef ASSETD_CORE_CONTROLLER_H
#define ASSETD_CORE_CONTROLLER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/archive_rules.h"
#include "core/buckets.h"
#include "core/fetch.h"
#include "core/registry.h"
#include "store/jobs.h"
#include "util/err.h"

#define AD_ASSET_JOB_PREFIX "asset:"

typedef struct ad_controller_opts {
    ad_registry *reg;                 /* not owned */
    ad_jobs *jobs;                    /* not owned */
    ad_buckets *buckets;              /* not owned */
    const char *spool_dir;            /* where sources are fetched and unpacked; copied */
    const char *public_url;           /* copied */
    const ad_netallow *source_allow;  /* not owned; NULL: the default list */
    const ad_netallow *webhook_allow; /* not owned; NULL: the default list */
    const char *service_url_template; /* copied; NULL: AD_SERVICE_URL_TEMPLATE */
    const char *ca_file;              /* not owned, outlives the controller; NULL: the
                                         system's certificate authorities for https */
    uint64_t source_max;              /* bytes of a fetched source */
    long source_timeout;              /* seconds */
    long webhook_timeout;             /* seconds */
    size_t webhook_max_response;
    int64_t check_interval;   /* seconds between periodic checks; 0: no thread */
    ad_archive_limits limits; /* the same as ZIP uploads' */
} ad_controller_opts;

typedef struct ad_controller ad_controller;

ad_code ad_controller_new(const ad_controller_opts *o, ad_controller **out, ad_error *err);
/* Starts the periodic check thread (no-op when check_interval is 0). */
ad_code ad_controller_start(ad_controller *c, ad_error *err);
/* Stops the thread and frees c. NULL is a no-op. */
void ad_controller_free(ad_controller *c);

/* The registry hooks that enqueue runs and remove a deleted asset's
 * content (ad_registry_set_hooks). */
void ad_controller_hooks(ad_controller *c, ad_registry_hooks *out);

/* Queues a run of asset id at generation gen. */
ad_code ad_controller_enqueue(ad_controller *c, const char *id, int64_t gen, ad_error *err);

/* Whether a job is a reconcile run. */
bool ad_controller_is_job(const ad_job *job);

/* Runs one claimed reconcile job to its end on the calling thread (an
 * ingest worker): magic is the worker's libmagic cookie (or NULL); stop
 * interrupts it (the job goes back to the queue). Returns the job's final
 * state. */
ad_job_state ad_controller_run(ad_controller *c, ad_job *job, const atomic_bool *stop, void *magic);

/* A claimed reconcile job whose previous worker died: removes the objects
 * that attempt recorded, so the job can run again. */
void ad_controller_recover(ad_controller *c, ad_job *job);

/* One periodic check (the thread's body; exposed for tests). */
ad_code ad_controller_check(ad_controller *c, ad_error *err);

#endif
