/*
 * controller.c — the asset store's controller (see controller.h): the
 * registry hooks that enqueue runs, conditional status writes, removal of
 * stored content, and the periodic check. One run is in reconcile.c.
 *
 * There is no delayed queue in the job store, so retries (BucketNotReady)
 * are a time in the status (nextRetry) that the periodic check compares
 * with the clock. The check also re-enqueues any asset whose generation
 * is newer than its observed one, or that is Pending, while no job for it
 * is queued or running — a lost enqueue (the job store was down at
 * create, or a memory: store was restarted) heals itself. Several
 * instances may run the check at once: a duplicate run reads the asset
 * first and does nothing when nothing is due.
 */
#include "core/controller_int.h"

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "core/model.h"
#include "core/source.h"
#include "core/uuid.h"
#include "util/json.h"
#include "util/log.h"

#define WRITE_RETRIES   16   /* status writes racing with other writers */
#define PENDING_MAX     4096 /* queued or running jobs looked at per check */
#define CHECK_BATCH_MAX 4096 /* assets acted on per check */

static char *dup_or_null(const char *s)
{
    return s ? strdup(s) : NULL;
}

ad_code ad_controller_new(const ad_controller_opts *o, ad_controller **out, ad_error *err)
{
    ad_controller *c = calloc(1, sizeof(*c));
    if (!c) return ad_fail(err, AD_E_NOMEM, "out of memory");
    c->o = *o;
    c->spool_dir = dup_or_null(o->spool_dir);
    c->public_url = dup_or_null(o->public_url ? o->public_url : "");
    c->tmpl =
        dup_or_null(o->service_url_template ? o->service_url_template : AD_SERVICE_URL_TEMPLATE);
    if ((o->spool_dir && !c->spool_dir) || !c->public_url || !c->tmpl) {
        ad_controller_free(c);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    c->o.spool_dir = c->spool_dir;
    c->o.public_url = c->public_url;
    c->o.service_url_template = c->tmpl;
    pthread_mutex_init(&c->mu, NULL);
    pthread_cond_init(&c->cv, NULL);
    *out = c;
    return AD_OK;
}

static void *check_main(void *p)
{
    ad_controller *c = p;
    pthread_mutex_lock(&c->mu);
    while (!c->stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += c->o.check_interval;
        while (!c->stopping && pthread_cond_timedwait(&c->cv, &c->mu, &until) != ETIMEDOUT) {
        }
        if (c->stopping) break;
        pthread_mutex_unlock(&c->mu);
        {
            ad_error err = {0};
            char e[AD_ERROR_MSG_MAX];
            if (ad_controller_check(c, &err))
                ad_log(AD_LOG_WARN, "msg=\"asset check failed\" error=\"%s\"",
                       ad_log_safe(e, sizeof(e), err.msg));
        }
        pthread_mutex_lock(&c->mu);
    }
    pthread_mutex_unlock(&c->mu);
    return NULL;
}

/* Removes the unpack directories (<spool>/<job>.d) of runs that no longer
 * run: a crash leaves them behind, and the ZIP spool sweep only knows
 * files. */
static void sweep_spool(ad_controller *c)
{
    DIR *d = c->o.spool_dir ? opendir(c->o.spool_dir) : NULL;
    struct dirent *e;
    if (!d) return;
    while ((e = readdir(d)) != NULL) {
        char id[AD_JOB_ID_MAX], path[4200];
        size_t n = strlen(e->d_name);
        ad_job job;
        bool live = false;
        DIR *sub;
        struct dirent *f;
        if (n < 3 || n - 2 >= sizeof(id) || strcmp(e->d_name + n - 2, ".d") != 0) continue;
        memcpy(id, e->d_name, n - 2);
        id[n - 2] = '\0';
        if (c->o.jobs->ops->get(c->o.jobs, id, &job, NULL) == AD_OK) {
            live = job.state == AD_JOB_QUEUED || job.state == AD_JOB_PROCESSING;
            ad_job_clear(&job);
        }
        snprintf(path, sizeof(path), "%s/%s", c->o.spool_dir, e->d_name);
        if (live || !(sub = opendir(path))) continue;
        while ((f = readdir(sub)) != NULL) {
            char fp[8400];
            if (f->d_name[0] == '.') continue;
            snprintf(fp, sizeof(fp), "%s/%s", path, f->d_name);
            unlink(fp);
        }
        closedir(sub);
        if (rmdir(path) == 0)
            ad_log(AD_LOG_INFO, "msg=\"removed a stale unpack directory\" dir=\"%s\"", e->d_name);
    }
    closedir(d);
}

ad_code ad_controller_start(ad_controller *c, ad_error *err)
{
    sweep_spool(c);
    if (c->o.check_interval <= 0) return AD_OK;
    if (pthread_create(&c->thread, NULL, check_main, c) != 0)
        return ad_fail(err, AD_E_INTERNAL, "cannot start the asset check thread");
    c->running = true;
    return AD_OK;
}

void ad_controller_free(ad_controller *c)
{
    if (!c) return;
    if (c->running) {
        pthread_mutex_lock(&c->mu);
        c->stopping = true;
        pthread_cond_broadcast(&c->cv);
        pthread_mutex_unlock(&c->mu);
        pthread_join(c->thread, NULL);
    }
    pthread_mutex_destroy(&c->mu);
    pthread_cond_destroy(&c->cv);
    free(c->spool_dir);
    free(c->public_url);
    free(c->tmpl);
    free(c);
}

/* --- jobs --- */

bool ad_controller_is_job(const ad_job *job)
{
    return job->source &&
           strncmp(job->source, AD_ASSET_JOB_PREFIX, sizeof(AD_ASSET_JOB_PREFIX) - 1) == 0;
}

ad_code ad_controller_enqueue(ad_controller *c, const char *id, int64_t gen, ad_error *err)
{
    ad_job job = {0};
    char src[AD_ASSET_ID_MAX + 64];
    ad_code rc;
    snprintf(src, sizeof(src), "%s%s#%lld", AD_ASSET_JOB_PREFIX, id, (long long)gen);
    ad_uuid4(job.id);
    job.source = src;
    job.asset_id = (char *)id;
    rc = c->o.jobs->ops->create(c->o.jobs, &job, err);
    return rc;
}

static void on_generation(void *ctx, const char *id, int64_t gen)
{
    ad_controller *c = ctx;
    ad_error err = {0};
    char a[AD_ASSET_ID_MAX + 1], e[AD_ERROR_MSG_MAX];
    /* not fatal: the periodic check enqueues it later */
    if (ad_controller_enqueue(c, id, gen, &err))
        ad_log(AD_LOG_WARN,
               "msg=\"cannot enqueue an asset run; the periodic check will\" asset=\"%s\" "
               "error=\"%s\"",
               ad_log_safe(a, sizeof(a), id), ad_log_safe(e, sizeof(e), err.msg));
}

static void on_deleted(void *ctx, const char *id, const json_t *doc)
{
    ad_controller *c = ctx;
    ad_error err = {0};
    char a[AD_ASSET_ID_MAX + 1], e[AD_ERROR_MSG_MAX];
    if (ctl_remove_content(c, id, json_object_get(doc, "status"), &err))
        ad_log(AD_LOG_WARN,
               "msg=\"cannot remove the content of a deleted asset\" asset=\"%s\" error=\"%s\"",
               ad_log_safe(a, sizeof(a), id), ad_log_safe(e, sizeof(e), err.msg));
}

void ad_controller_hooks(ad_controller *c, ad_registry_hooks *out)
{
    out->ctx = c;
    out->generation = on_generation;
    out->deleted = on_deleted;
}

/* --- recorded keys --- */

static int remove_recorded(void *ctx, const char *key)
{
    ad_controller *c = ctx;
    char bucket[AD_BLOB_BUCKET_MAX + 1], k[AD_BLOB_KEY_MAX + 1], e[AD_ERROR_MSG_MAX];
    const char *slash;
    ad_blob *store = NULL;
    ad_error err = {0};
    if (!c->o.buckets || key[0] != '@' || !(slash = strchr(key + 1, '/')) ||
        (size_t)(slash - key - 1) >= sizeof(bucket))
        return 0;
    memcpy(bucket, key + 1, (size_t)(slash - key - 1));
    bucket[slash - key - 1] = '\0';
    if (ad_buckets_store(c->o.buckets, bucket, &store, &err) == AD_OK)
        store->ops->remove(store, slash + 1, &err);
    if (err.code && err.code != AD_E_NOT_FOUND)
        ad_log(AD_LOG_WARN, "msg=\"cannot remove an object\" key=\"%s\" error=\"%s\"",
               ad_log_safe(k, sizeof(k), key), ad_log_safe(e, sizeof(e), err.msg));
    return 0;
}

/* Removes every object a job recorded, then forgets the keys. */
void ctl_remove_recorded(ad_controller *c, const char *job_id)
{
    ad_error err = {0};
    if (c->o.jobs->ops->keys(c->o.jobs, job_id, remove_recorded, c, &err) ||
        c->o.jobs->ops->clear_keys(c->o.jobs, job_id, &err))
        ad_log(AD_LOG_ERROR, "msg=\"cannot clean up an asset run\" job=%s error=\"%s\"", job_id,
               err.msg);
}

void ad_controller_recover(ad_controller *c, ad_job *job)
{
    ctl_remove_recorded(c, job->id);
    ad_log(AD_LOG_INFO, "msg=\"recovered an interrupted asset run\" job=%s attempt=%u", job->id,
           job->attempt);
}

/* --- status --- */

json_t *ctl_status(const char *phase, const char *reason, const char *message, int64_t gen)
{
    char now[21];
    ad_iso_time((int64_t)time(NULL), now);
    return json_pack("{s:s,s:s,s:s,s:s,s:I}", "phase", phase, "reason", reason, "message", message,
                     "lastHeartbeatTime", now, "observedGeneration", (json_int_t)gen);
}

ad_code ctl_read(ad_controller *c, const char *id, json_t **doc, int64_t *rev, ad_error *err)
{
    ad_doc d = {0};
    ad_code rc = ad_registry_get(c->o.reg, id, &d, err);
    if (rc) return rc;
    *doc = json_loadb(d.json, d.len, 0, NULL);
    *rev = d.rev;
    ad_doc_free(&d);
    if (!*doc) return ad_fail(err, AD_E_BACKEND, "stored asset %s is not valid JSON", id);
    return AD_OK;
}

static void log_status(const char *id, int64_t gen, const json_t *st)
{
    char a[AD_ASSET_ID_MAX + 1], m[CTL_MESSAGE_MAX];
    const char *phase = json_string_value(json_object_get(st, "phase"));
    const char *reason = json_string_value(json_object_get(st, "reason"));
    ad_log(phase && strcmp(phase, "Failed") == 0 ? AD_LOG_WARN : AD_LOG_INFO,
           "msg=\"asset status\" asset=\"%s\" generation=%lld phase=%s reason=%s message=\"%s\"",
           ad_log_safe(a, sizeof(a), id), (long long)gen, phase ? phase : "",
           reason && *reason ? reason : "\"\"",
           ad_log_safe(m, sizeof(m), json_string_value(json_object_get(st, "message"))));
}

/* Puts status and files into doc (a copy the caller owns). */
static ad_code apply(json_t *doc, const json_t *status, const json_t *files, ad_error *err)
{
    json_t *st = json_deep_copy(status), *old = json_object_get(doc, "status"), *ref;
    if (!st) return ad_fail(err, AD_E_NOMEM, "out of memory");
    ref = json_object_get(st, "assetRef");
    if (!ref && json_object_get(old, "assetRef"))
        json_object_set(st, "assetRef", json_object_get(old, "assetRef"));
    else if (ref && json_is_null(ref))
        json_object_del(st, "assetRef");
    json_object_set_new(doc, "status", st);
    if (files) {
        json_t *ids = json_array(), *f;
        size_t i;
        if (!ids) return ad_fail(err, AD_E_NOMEM, "out of memory");
        json_array_foreach(files, i, f) json_array_append(ids, json_object_get(f, "asset_file_id"));
        json_object_set(doc, "files", (json_t *)files);
        json_object_set_new(doc, "asset_file_ids", ids);
    }
    return AD_OK;
}

ad_code ctl_write_status(ad_controller *c, const char *id, int64_t gen, json_t **doc, int64_t *rev,
                         json_t *status, json_t *files, ad_error *err)
{
    ad_code rc = status ? AD_OK : ad_fail(err, AD_E_NOMEM, "out of memory");
    int attempt;
    for (attempt = 0; !rc && attempt < WRITE_RETRIES; attempt++) {
        json_t *next = json_deep_copy(*doc);
        ad_doc out = {0};
        if (json_integer_value(json_object_get(*doc, "generation")) != gen) {
            rc = ad_fail(err, AD_E_PRECONDITION, "asset %s has a newer generation", id);
            json_decref(next);
            break;
        }
        rc = next ? apply(next, status, files, err) : ad_fail(err, AD_E_NOMEM, "out of memory");
        if (!rc) rc = ad_registry_replace(c->o.reg, id, *rev, next, &out, err);
        if (!rc) {
            json_decref(*doc);
            *doc = next;
            *rev = out.rev;
            ad_doc_free(&out);
            log_status(id, gen, status);
            break;
        }
        json_decref(next);
        if (rc == AD_E_PRECONDITION) {
            /* someone wrote in between: read again, and go on if the
             * generation is still ours */
            json_t *fresh = NULL;
            int64_t frev = 0;
            rc = ctl_read(c, id, &fresh, &frev, err);
            if (!rc) {
                json_decref(*doc);
                *doc = fresh;
                *rev = frev;
            }
        }
    }
    if (!rc && attempt == WRITE_RETRIES)
        rc = ad_fail(err, AD_E_UNAVAILABLE, "asset %s is being updated too often", id);
    json_decref(status);
    json_decref(files);
    return rc;
}

ad_code ctl_remove_content(ad_controller *c, const char *id, const json_t *status, ad_error *err)
{
    const json_t *ref = json_object_get(status, "assetRef"), *f;
    const char *bucket = json_string_value(json_object_get(ref, "bucket"));
    ad_blob *store = NULL;
    char key[AD_BLOB_KEY_MAX + 1];
    size_t i;
    ad_code rc, first = AD_OK;
    if (!c->o.buckets || !bucket || !json_array_size(json_object_get(ref, "files"))) return AD_OK;
    rc = ad_buckets_store(c->o.buckets, bucket, &store, err);
    if (rc == AD_E_NOT_FOUND) return AD_OK; /* the bucket went, and its objects with it */
    if (rc) return rc;
    json_array_foreach(json_object_get(ref, "files"), i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        ad_error e = {0};
        if (!name || (size_t)snprintf(key, sizeof(key), "%s/%s", id, name) >= sizeof(key)) continue;
        rc = store->ops->remove(store, key, &e);
        if (rc && !first) {
            first = rc;
            ad_fail(err, rc, "cannot remove %s from bucket %s: %s", key, bucket, e.msg);
        }
    }
    return first;
}

/* --- the periodic check --- */

/* time of an ISO-8601 UTC "YYYY-MM-DDTHH:MM:SSZ", 0 if none */
static int64_t parse_iso(const char *s)
{
    struct tm tm = {0};
    const char *end = s ? strptime(s, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
    return end && !*end ? (int64_t)timegm(&tm) : 0;
}

/* Asset ids with a reconcile job queued or running, as keys of an object. */
static ad_code pending_runs(ad_controller *c, json_t *set, ad_error *err)
{
    static const ad_job_state states[] = {AD_JOB_QUEUED, AD_JOB_PROCESSING};
    char(*ids)[AD_JOB_ID_MAX] = malloc(PENDING_MAX * sizeof(*ids));
    size_t s, i, n;
    ad_code rc = ids ? AD_OK : ad_fail(err, AD_E_NOMEM, "out of memory");
    for (s = 0; !rc && s < 2; s++) {
        rc = c->o.jobs->ops->list(c->o.jobs, states[s], ids, PENDING_MAX, &n, err);
        for (i = 0; !rc && i < n; i++) {
            ad_job job = {0};
            if (c->o.jobs->ops->get(c->o.jobs, ids[i], &job, NULL) == AD_OK &&
                ad_controller_is_job(&job)) {
                const char *a = job.source + sizeof(AD_ASSET_JOB_PREFIX) - 1;
                const char *hash = strrchr(a, '#');
                char id[AD_ASSET_ID_MAX + 1];
                size_t len = hash ? (size_t)(hash - a) : strlen(a);
                if (len < sizeof(id)) {
                    memcpy(id, a, len);
                    id[len] = '\0';
                    json_object_set_new(set, id, json_true());
                }
            }
            ad_job_clear(&job);
        }
    }
    free(ids);
    return rc;
}

/* What the check does with one asset. */
typedef enum { CHECK_NOTHING, CHECK_ENQUEUE, CHECK_CONTENT } check_action;

static check_action decide(const json_t *doc, int64_t now)
{
    const json_t *st = json_object_get(doc, "status");
    const char *phase = json_string_value(json_object_get(st, "phase"));
    const char *reason = json_string_value(json_object_get(st, "reason"));
    json_int_t gen = json_integer_value(json_object_get(doc, "generation"));
    json_int_t obs = json_integer_value(json_object_get(st, "observedGeneration"));
    if (!phase) return gen > 0 ? CHECK_ENQUEUE : CHECK_NOTHING;
    if (strcmp(phase, "Pending") == 0) {
        if (reason && strcmp(reason, "BucketNotReady") == 0 && obs == gen)
            return parse_iso(json_string_value(json_object_get(st, "nextRetry"))) <= now
                       ? CHECK_ENQUEUE
                       : CHECK_NOTHING;
        return CHECK_ENQUEUE; /* waiting for a run, or one left behind */
    }
    if (gen > obs) return CHECK_ENQUEUE;
    if (strcmp(phase, "Ready") == 0) return CHECK_CONTENT;
    return CHECK_NOTHING;
}

/* A Ready asset: every object of its assetRef must still be in its bucket. */
static void check_content(ad_controller *c, const char *id)
{
    json_t *doc = NULL, *st, *f;
    int64_t rev = 0, gen;
    ad_error err = {0};
    ad_blob *store = NULL;
    const char *bucket;
    char key[AD_BLOB_KEY_MAX + 1], missing[1200] = "";
    size_t i;
    if (ctl_read(c, id, &doc, &rev, &err)) return;
    st = json_object_get(doc, "status");
    gen = json_integer_value(json_object_get(doc, "generation"));
    bucket = json_string_value(json_object_get(json_object_get(st, "assetRef"), "bucket"));
    if (decide(doc, (int64_t)time(NULL)) != CHECK_CONTENT || !bucket || !c->o.buckets ||
        ad_buckets_store(c->o.buckets, bucket, &store, &err)) {
        if (bucket && err.code == AD_E_NOT_FOUND)
            snprintf(missing, sizeof(missing), "bucket %s no longer exists", bucket);
        if (!missing[0]) goto out;
    }
    json_array_foreach(json_object_get(json_object_get(st, "assetRef"), "files"), i, f)
    {
        const char *name = json_string_value(json_object_get(f, "name"));
        uint64_t size;
        ad_code rc;
        if (missing[0] || !name) break;
        if ((size_t)snprintf(key, sizeof(key), "%s/%s", id, name) >= sizeof(key)) continue;
        rc = store->ops->stat(store, key, &size, &err);
        if (rc == AD_E_NOT_FOUND)
            snprintf(missing, sizeof(missing), "file %.900s is missing from bucket %s", name,
                     bucket);
    }
    if (missing[0]) {
        ad_error werr = {0};
        ctl_write_status(c, id, gen, &doc, &rev,
                         ctl_status("Failed", "MissingContent", missing, gen), NULL, &werr);
    }
out:
    json_decref(doc);
}

typedef struct pick {
    char id[AD_ASSET_ID_MAX + 1];
    int64_t gen;
    check_action what;
} pick;

ad_code ad_controller_check(ad_controller *c, ad_error *err)
{
    json_t *pending = json_object(), *fdoc = json_pack("{s:{s:b}}", "source", "$exists", 1);
    ad_filter *filter = NULL;
    ad_meta_cursor *cur = NULL;
    ad_query q = {0};
    pick *picks = calloc(CHECK_BATCH_MAX, sizeof(*picks));
    size_t n = 0, i;
    int64_t now = (int64_t)time(NULL);
    ad_code rc = pending && fdoc && picks ? AD_OK : ad_fail(err, AD_E_NOMEM, "out of memory");
    if (!rc) rc = pending_runs(c, pending, err);
    if (!rc) rc = ad_filter_parse(fdoc, &filter, err);
    if (!rc) {
        q.filter = filter;
        q.limit = UINT64_MAX;
        rc = ad_registry_find(c->o.reg, &q, &cur, err);
    }
    /* collect first, act after the cursor is closed (a write while an
     * embedded store's cursor is open would wait on it) */
    while (!rc && n < CHECK_BATCH_MAX) {
        const char *text;
        size_t len;
        json_t *doc;
        const char *id;
        rc = c->o.reg ? ad_registry_meta(c->o.reg)->ops->cursor_next(cur, &text, &len, err)
                      : AD_E_INTERNAL;
        if (rc || !text) break;
        doc = json_loadb(text, len, 0, NULL);
        id = json_string_value(json_object_get(doc, "asset_id"));
        if (id && strlen(id) < sizeof(picks[n].id)) {
            check_action what = decide(doc, now);
            if (what == CHECK_ENQUEUE && json_object_get(pending, id)) what = CHECK_NOTHING;
            if (what != CHECK_NOTHING) {
                snprintf(picks[n].id, sizeof(picks[n].id), "%s", id);
                picks[n].gen = json_integer_value(json_object_get(doc, "generation"));
                picks[n++].what = what;
            }
        }
        json_decref(doc);
    }
    if (cur) ad_registry_meta(c->o.reg)->ops->cursor_close(cur);
    for (i = 0; !rc && i < n; i++) {
        if (picks[i].what == CHECK_CONTENT) {
            check_content(c, picks[i].id);
        } else {
            ad_error e = {0};
            char a[AD_ASSET_ID_MAX + 1];
            if (ad_controller_enqueue(c, picks[i].id, picks[i].gen, &e) == AD_OK)
                ad_log(AD_LOG_DEBUG, "msg=\"asset run enqueued by the check\" asset=\"%s\"",
                       ad_log_safe(a, sizeof(a), picks[i].id));
        }
    }
    ad_filter_free(filter);
    json_decref(fdoc);
    json_decref(pending);
    free(picks);
    return rc;
}
