/*
 * controller_int.h — what controller.c (lifecycle, status writes, the
 * periodic check) and reconcile.c (one run) share. Not for other modules.
 */
#ifndef ASSETD_CORE_CONTROLLER_INT_H
#define ASSETD_CORE_CONTROLLER_INT_H

#include <jansson.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "core/controller.h"

#define CTL_MESSAGE_MAX 4096 /* bytes of status.message */

struct ad_controller {
    ad_controller_opts o; /* strings below are copies */
    char *spool_dir, *public_url, *tmpl;
    pthread_t thread;
    bool running, stopping;
    pthread_mutex_t mu;
    pthread_cond_t cv;
};

/* A new status object: phase, reason, message, lastHeartbeatTime (now),
 * observedGeneration gen. NULL when out of memory. */
json_t *ctl_status(const char *phase, const char *reason, const char *message, int64_t gen);

/* Writes status (taken) into asset id, read by the caller as *doc at *rev,
 * as long as its generation is still gen: on a revision mismatch the asset
 * is read again and, when its generation has not moved, the write is
 * retried on the fresh document. An assetRef of the stored status is kept
 * unless status sets one (null: removed). files (taken; NULL: unchanged)
 * replaces files[] and asset_file_ids. AD_E_PRECONDITION when the
 * generation changed (the run is stale), AD_E_NOT_FOUND when the asset is
 * gone. On success *doc and *rev are the stored ones. Logs one line. */
ad_code ctl_write_status(ad_controller *c, const char *id, int64_t gen, json_t **doc, int64_t *rev,
                         json_t *status, json_t *files, ad_error *err);

/* Reads asset id: *doc (caller decrefs) and *rev. */
ad_code ctl_read(ad_controller *c, const char *id, json_t **doc, int64_t *rev, ad_error *err);

/* Removes the objects listed in the status's assetRef (their bucket,
 * "<id>/<name>"). AD_OK when there are none or all went (a bucket that no
 * longer exists holds nothing); otherwise the first error. */
ad_code ctl_remove_content(ad_controller *c, const char *id, const json_t *status, ad_error *err);

/* Removes every object job_id recorded ("@<bucket>/<key>"), then forgets
 * the keys. */
void ctl_remove_recorded(ad_controller *c, const char *job_id);

#endif
