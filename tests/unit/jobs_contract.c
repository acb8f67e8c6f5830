/*
 * jobs_contract.c — the contract suite of the job store port; see
 * jobs_contract.h. Adapter-agnostic: only ad_jobs_open() and the ops slots.
 *
 * Jobs are named by the test that made them ("job-1", "once-017",
 * "lease-1"); the store starts empty, so every id is fresh. Each test
 * finishes the jobs it claimed, so the next one starts with nothing
 * processing (a leftover lease would be handed out in the middle of it).
 */
#include "jobs_contract.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "store/jobs.h"

#define ONCE_JOBS      120
#define ONCE_THREADS   4     /* per handle */
#define LEASE_S        2     /* visibility_timeout of the lease tests */
#define EXPIRY_WAIT_MS 30000 /* deadline for a lease to run out */

static int count_key(void *ctx, const char *key)
{
    (void)key;
    (*(int *)ctx)++;
    return 0;
}

static const char *code_name(ad_code c)
{
    return c == AD_OK ? "ok" : ad_code_name(c);
}

static void add(ad_jobs *j, const char *id)
{
    ad_job job = {0};
    ad_error err = {0};
    ad_code rc;
    snprintf(job.id, sizeof(job.id), "%s", id);
    job.source = (char *)"/spool/x.zip";
    job.bytes_total = 42;
    /* version 3: one job of test_queue names a bucket, the others none */
    if (strcmp(id, "job-2") == 0) job.bucket = (char *)"docs-bucket";
    rc = j->ops->create(j, &job, &err);
    CHECK(rc == AD_OK, "create %s: %s (%s)", id, code_name(rc), err.msg);
}

/* Claims without waiting and expects id (or nothing when id is NULL). */
static void expect_claim(ad_jobs *j, const char *id, const char *what)
{
    ad_job job;
    ad_error err = {0};
    ad_code rc = j->ops->claim(j, 0, &job, &err);
    if (!id) {
        CHECK(rc == AD_E_NOT_FOUND, "%s: want nothing, got %s (%s%s)", what, code_name(rc),
              rc == AD_OK ? job.id : "", err.msg);
    } else {
        CHECK(rc == AD_OK && strcmp(job.id, id) == 0, "%s: want %s, got %s (%s)", what, id,
              code_name(rc), rc == AD_OK ? job.id : err.msg);
    }
    if (rc == AD_OK) ad_job_clear(&job);
}

static void finish(ad_jobs *j, const char *id, ad_job_state s)
{
    ad_error err = {0};
    ad_code rc = j->ops->finish(j, id, s, s == AD_JOB_FAILED ? "test" : NULL, &err);
    CHECK(rc == AD_OK, "finish %s: %s (%s)", id, code_name(rc), err.msg);
}

static void test_queue(ad_jobs *j)
{
    ad_job job;
    ad_error err = {0};
    int nkeys = 0;
    char ids[8][AD_JOB_ID_MAX];
    size_t n = 0;
    add(j, "job-1");
    add(j, "job-2");
    add(j, "job-3");
    {
        ad_job dup = {0};
        snprintf(dup.id, sizeof(dup.id), "job-1");
        CHECK(j->ops->create(j, &dup, &err) == AD_E_EXISTS, "duplicate id");
    }
    CHECK(j->ops->get(j, "job-2", &job, &err) == AD_OK, "%s", err.msg);
    CHECK(job.state == AD_JOB_QUEUED && job.bytes_total == 42, "queued, total kept");
    CHECK(job.source && strcmp(job.source, "/spool/x.zip") == 0, "source kept");
    CHECK(job.created > 0 && job.updated >= job.created, "timestamps");
    CHECK(job.attempt == 0 && !job.recovered, "never claimed: attempt %u", job.attempt);
    CHECK(job.bucket && strcmp(job.bucket, "docs-bucket") == 0, "bucket kept: %s",
          job.bucket ? job.bucket : "(null)");
    ad_job_clear(&job);
    CHECK(j->ops->get(j, "job-3", &job, &err) == AD_OK && !job.bucket, "no bucket: %s",
          job.bucket ? job.bucket : "(null)");
    ad_job_clear(&job);
    CHECK(j->ops->get(j, "nope", &job, &err) == AD_E_NOT_FOUND, "unknown id");

    CHECK(j->ops->claim(j, 0, &job, &err) == AD_OK, "claim: %s", err.msg);
    CHECK(strcmp(job.id, "job-1") == 0 && job.state == AD_JOB_PROCESSING, "oldest first");
    CHECK(job.attempt == 1 && !job.recovered, "first attempt: %u", job.attempt);
    job.bytes_done = 10, job.files_done = 1, job.files_total = 2;
    job.asset_id = strdup("asset-a");
    CHECK(j->ops->progress(j, &job, &err) == AD_OK, "%s", err.msg);
    CHECK(j->ops->add_key(j, "job-1", "job-1/a", &err) == AD_OK, "%s", err.msg);
    CHECK(j->ops->add_key(j, "job-1", "job-1/b", &err) == AD_OK, "%s", err.msg);
    CHECK(j->ops->add_key(j, "job-1", "job-1/a", &err) == AD_OK, "same key twice");
    CHECK(j->ops->keys(j, "job-1", count_key, &nkeys, &err) == AD_OK && nkeys == 2, "2 keys: %d",
          nkeys);
    CHECK(j->ops->list(j, AD_JOB_PROCESSING, ids, 8, &n, &err) == AD_OK && n == 1 &&
              strcmp(ids[0], "job-1") == 0,
          "one processing (n=%zu)", n);
    CHECK(j->ops->list(j, AD_JOB_QUEUED, ids, 8, &n, &err) == AD_OK && n == 2 &&
              strcmp(ids[0], "job-2") == 0 && strcmp(ids[1], "job-3") == 0,
          "two queued, in order (n=%zu)", n);
    /* put back: it keeps its place at the front */
    CHECK(j->ops->finish(j, "job-1", AD_JOB_QUEUED, NULL, &err) == AD_OK, "%s", err.msg);
    ad_job_clear(&job);
    CHECK(j->ops->get(j, "job-1", &job, &err) == AD_OK && job.state == AD_JOB_QUEUED,
          "requeued job is queued");
    ad_job_clear(&job);
    CHECK(j->ops->claim(j, 0, &job, &err) == AD_OK && strcmp(job.id, "job-1") == 0,
          "requeued job comes first");
    CHECK(job.asset_id && strcmp(job.asset_id, "asset-a") == 0 && job.bytes_done == 10,
          "progress kept");
    CHECK(job.attempt == 2 && !job.recovered, "second attempt, not a recovery: %u", job.attempt);
    ad_job_clear(&job);
    CHECK(j->ops->clear_keys(j, "job-1", &err) == AD_OK, "%s", err.msg);
    nkeys = 0;
    j->ops->keys(j, "job-1", count_key, &nkeys, &err);
    CHECK(nkeys == 0, "keys forgotten");
    CHECK(j->ops->finish(j, "job-1", AD_JOB_FAILED, "boom: why", &err) == AD_OK, "%s", err.msg);
    CHECK(j->ops->get(j, "job-1", &job, &err) == AD_OK && job.state == AD_JOB_FAILED &&
              strcmp(job.reason, "boom: why") == 0,
          "failed with reason");
    ad_job_clear(&job);
    CHECK(j->ops->finish(j, "nope", AD_JOB_FAILED, "x", &err) == AD_E_NOT_FOUND, "finish unknown");
    CHECK(j->ops->finish(j, "job-2", AD_JOB_PROCESSING, NULL, &err) == AD_E_BAD_REQUEST,
          "finish(processing) refused");
    {
        ad_job ghost = {0};
        snprintf(ghost.id, sizeof(ghost.id), "ghost");
        CHECK(j->ops->progress(j, &ghost, &err) == AD_E_NOT_FOUND, "progress of an unknown job");
    }
    CHECK(j->ops->list(j, AD_JOB_FAILED, ids, 8, &n, &err) == AD_OK && n == 1 &&
              strcmp(ids[0], "job-1") == 0,
          "one failed (n=%zu)", n);

    CHECK(j->ops->claim(j, 0, &job, &err) == AD_OK && strcmp(job.id, "job-2") == 0, "then job-2");
    CHECK(job.bucket && strcmp(job.bucket, "docs-bucket") == 0, "a claim gives the bucket");
    ad_job_clear(&job);
    CHECK(j->ops->claim(j, 0, &job, &err) == AD_OK && strcmp(job.id, "job-3") == 0, "then job-3");
    ad_job_clear(&job);
    CHECK(j->ops->claim(j, 50, &job, &err) == AD_E_NOT_FOUND, "empty queue waits then gives up");
    CHECK(j->ops->finish(j, "job-2", AD_JOB_SUCCESS, NULL, &err) == AD_OK, "%s", err.msg);
    CHECK(j->ops->list(j, AD_JOB_SUCCESS, ids, 8, &n, &err) == AD_OK && n == 1 &&
              strcmp(ids[0], "job-2") == 0,
          "one success (n=%zu)", n);
}

/* Several requeued jobs go back in front in their order of arrival,
 * whatever order they were put back in. */
static void test_requeue_order(ad_jobs *j)
{
    add(j, "rq-1");
    add(j, "rq-2");
    add(j, "rq-3");
    expect_claim(j, "rq-1", "requeue order");
    expect_claim(j, "rq-2", "requeue order");
    finish(j, "rq-2", AD_JOB_QUEUED);
    finish(j, "rq-1", AD_JOB_QUEUED);
    expect_claim(j, "rq-1", "requeued, arrival order");
    expect_claim(j, "rq-2", "requeued, arrival order");
    expect_claim(j, "rq-3", "then the rest");
    finish(j, "rq-1", AD_JOB_SUCCESS);
    finish(j, "rq-2", AD_JOB_SUCCESS);
    finish(j, "rq-3", AD_JOB_SUCCESS);
}

static void test_expire(ad_jobs *j)
{
    ad_error err = {0};
    ad_job job;
    size_t n = 99;
    /* nothing is older than an hour ago */
    CHECK(j->ops->expire(j, (int64_t)time(NULL) - 3600, &n, &err) == AD_OK && n == 0, "n=%zu", n);
    /* finished jobs go (job-1, job-2, rq-1..3), queued and processing stay */
    CHECK(j->ops->expire(j, (int64_t)time(NULL) + 10, &n, &err) == AD_OK && n == 5, "n=%zu", n);
    CHECK(j->ops->get(j, "job-1", &job, &err) == AD_E_NOT_FOUND, "failed job expired");
    CHECK(j->ops->get(j, "rq-3", &job, &err) == AD_E_NOT_FOUND, "successful job expired");
    CHECK(j->ops->get(j, "job-3", &job, &err) == AD_OK && job.state == AD_JOB_PROCESSING,
          "processing job kept");
    ad_job_clear(&job);
    finish(j, "job-3", AD_JOB_SUCCESS);
}

static void *claimer(void *p)
{
    ad_jobs *j = p;
    ad_job job;
    ad_error err = {0};
    if (j->ops->claim(j, 5000, &job, &err) == AD_OK) {
        ad_job_clear(&job);
        return (void *)1;
    }
    return NULL;
}

static void test_wakeup(ad_jobs *waiter, ad_jobs *adder)
{
    pthread_t t;
    void *got = NULL;
    pthread_create(&t, NULL, claimer, waiter);
    usleep(100000);
    add(adder, "job-wake");
    pthread_join(t, &got);
    CHECK(got == (void *)1, "a waiting claim is woken by create");
    finish(waiter, "job-wake", AD_JOB_SUCCESS);
}

/* --- each job to exactly one claimer --- */

typedef struct once {
    pthread_mutex_t mu;
    int claims[ONCE_JOBS];
    int total, errors, recovered;
} once;

typedef struct once_arg {
    once *o;
    ad_jobs *j;
} once_arg;

static void *once_worker(void *p)
{
    once_arg *a = p;
    once *o = a->o;
    time_t deadline = time(NULL) + 60;
    while (time(NULL) < deadline) {
        ad_job job;
        ad_error err = {0};
        int k = -1;
        ad_code rc = a->j->ops->claim(a->j, 100, &job, &err);
        if (rc == AD_E_NOT_FOUND) {
            pthread_mutex_lock(&o->mu);
            k = o->total;
            pthread_mutex_unlock(&o->mu);
            if (k >= ONCE_JOBS) break;
            continue;
        }
        pthread_mutex_lock(&o->mu);
        if (rc != AD_OK || sscanf(job.id, "once-%d", &k) != 1 || k < 0 || k >= ONCE_JOBS) {
            o->errors++;
            pthread_mutex_unlock(&o->mu);
            if (rc == AD_OK) ad_job_clear(&job);
            break;
        }
        o->claims[k]++;
        o->total++;
        o->recovered += job.recovered;
        pthread_mutex_unlock(&o->mu);
        job.files_done = 1;
        if (a->j->ops->progress(a->j, &job, &err) ||
            a->j->ops->finish(a->j, job.id, AD_JOB_SUCCESS, NULL, &err)) {
            pthread_mutex_lock(&o->mu);
            o->errors++;
            pthread_mutex_unlock(&o->mu);
        }
        ad_job_clear(&job);
    }
    return NULL;
}

static void test_exactly_once(ad_jobs *const *handles, int nhandles, const char *what)
{
    once o = {.total = 0};
    once_arg args[2];
    pthread_t t[2 * ONCE_THREADS];
    int i, h, once_each = 1;
    char id[AD_JOB_ID_MAX];
    ad_error err = {0};
    size_t n = 0;
    pthread_mutex_init(&o.mu, NULL);
    /* jobs finished by earlier tests go first, so the count below is ours */
    handles[0]->ops->expire(handles[0], (int64_t)time(NULL) + 10, &n, &err);
    for (i = 0; i < ONCE_JOBS; i++) {
        snprintf(id, sizeof(id), "once-%03d", i);
        add(handles[0], id);
    }
    for (h = 0; h < nhandles; h++) {
        args[h] = (once_arg){&o, handles[h]};
        for (i = 0; i < ONCE_THREADS; i++)
            pthread_create(&t[h * ONCE_THREADS + i], NULL, once_worker, &args[h]);
    }
    for (i = 0; i < nhandles * ONCE_THREADS; i++) pthread_join(t[i], NULL);
    for (i = 0; i < ONCE_JOBS; i++) {
        ad_job job;
        if (o.claims[i] != 1) once_each = 0;
        snprintf(id, sizeof(id), "once-%03d", i);
        if (handles[0]->ops->get(handles[0], id, &job, &err) == AD_OK) {
            if (job.state != AD_JOB_SUCCESS || job.attempt != 1) once_each = 0;
            ad_job_clear(&job);
        } else {
            once_each = 0;
        }
    }
    CHECK(o.errors == 0, "%s: %d claims or finishes failed", what, o.errors);
    CHECK(o.total == ONCE_JOBS && once_each, "%s: %d claims for %d jobs; each claimed once: %s",
          what, o.total, ONCE_JOBS, once_each ? "yes" : "no");
    CHECK(o.recovered == 0, "%s: %d claims marked recovered", what, o.recovered);
    pthread_mutex_destroy(&o.mu);
    CHECK(handles[0]->ops->expire(handles[0], (int64_t)time(NULL) + 10, &n, &err) == AD_OK &&
              n == ONCE_JOBS,
          "%s: expired %zu", what, n);
}

/* --- leases --- */

/* Claims on j until a job comes (up to EXPIRY_WAIT_MS). */
static ad_code claim_eventually(ad_jobs *j, ad_job *out, ad_error *err)
{
    int waited = 0;
    ad_code rc;
    while ((rc = j->ops->claim(j, 200, out, err)) == AD_E_NOT_FOUND && waited < EXPIRY_WAIT_MS)
        waited += 200;
    return rc;
}

static void test_lease_expiry(ad_jobs *holder, ad_jobs *other)
{
    ad_job mine, theirs, now;
    ad_error err = {0};
    ad_code rc;
    add(holder, "lease-1");
    rc = holder->ops->claim(holder, 0, &mine, &err);
    CHECK(rc == AD_OK && strcmp(mine.id, "lease-1") == 0 && !mine.recovered && mine.attempt == 1,
          "lease: first claim: %s (%s)", code_name(rc), err.msg);
    if (rc) return;
    expect_claim(other, NULL, "lease: not handed out while the lease runs");
    /* the holder goes silent: the lease runs out and the job moves on */
    rc = claim_eventually(other, &theirs, &err);
    CHECK(rc == AD_OK && strcmp(theirs.id, "lease-1") == 0,
          "lease: handed out once expired: %s (%s)", code_name(rc), err.msg);
    if (rc == AD_OK) {
        CHECK(theirs.recovered && theirs.attempt == 2, "lease: recovered %d, attempt %u",
              theirs.recovered, theirs.attempt);
        CHECK(theirs.state == AD_JOB_PROCESSING, "lease: processing under the new holder");
        /* the first holder comes back: its progress is refused, and lost */
        mine.bytes_done = 999;
        rc = holder->ops->progress(holder, &mine, &err);
        CHECK(rc == AD_E_PRECONDITION, "lease: stale progress refused: %s", code_name(rc));
        CHECK(other->ops->get(other, "lease-1", &now, &err) == AD_OK && now.bytes_done == 0 &&
                  now.attempt == 2,
              "lease: stale progress not written");
        ad_job_clear(&now);
        theirs.bytes_done = 5;
        CHECK(other->ops->progress(other, &theirs, &err) == AD_OK, "lease: new holder's progress");
        expect_claim(holder, NULL, "lease: taken over once, not twice");
        finish(other, "lease-1", AD_JOB_SUCCESS);
        ad_job_clear(&theirs);
    }
    ad_job_clear(&mine);
}

static void test_lease_renewal(ad_jobs *holder, ad_jobs *other)
{
    ad_job mine;
    ad_error err = {0};
    ad_code rc;
    int i, stolen = 0;
    add(holder, "lease-2");
    rc = holder->ops->claim(holder, 0, &mine, &err);
    CHECK(rc == AD_OK && strcmp(mine.id, "lease-2") == 0, "renewal: claim: %s (%s)", code_name(rc),
          err.msg);
    if (rc) return;
    /* progress every 0.3 s for 5 s: 2.5 timeouts, never a gap near one */
    for (i = 0; i < 16; i++) {
        ad_job job;
        usleep(300000);
        mine.bytes_done = (uint64_t)i;
        rc = holder->ops->progress(holder, &mine, &err);
        CHECK(rc == AD_OK, "renewal: progress %d: %s (%s)", i, code_name(rc), err.msg);
        if (other->ops->claim(other, 0, &job, &err) == AD_OK) {
            stolen++;
            ad_job_clear(&job);
        }
    }
    CHECK(stolen == 0, "renewal: the job was handed out %d times while its holder progressed",
          stolen);
    finish(holder, "lease-2", AD_JOB_SUCCESS);
    ad_job_clear(&mine);
}

/* url with name=value appended as a query parameter (caller frees). */
static char *with_param(const char *url, const char *param)
{
    size_t n = strlen(url) + strlen(param) + 2;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s%c%s", url, strchr(url, '?') ? '&' : '?', param);
    return s;
}

int jobs_contract_run(const char *url, bool shared)
{
    int failed_before = check_failed, passed_before = check_passed;
    ad_jobs *a = NULL, *b = NULL, *lease = NULL, *other, *handles[2];
    ad_error err = {0};
    char param[40], *lease_url = NULL;
    ad_code rc = ad_jobs_open(url, &a, &err);

    CHECK(rc == AD_OK && a, "jobs contract: open %s: %s (%s)", url, code_name(rc), err.msg);
    if (rc != AD_OK || !a) return check_failed - failed_before;
    CHECK(a->ops->version == AD_JOBS_OPS_VERSION, "ops version %d", a->ops->version);
    CHECK(a->ops->open && a->ops->close && a->ops->ping && a->ops->create && a->ops->get &&
              a->ops->claim && a->ops->progress && a->ops->add_key && a->ops->keys &&
              a->ops->clear_keys && a->ops->finish && a->ops->list && a->ops->expire,
          "a mandatory slot is NULL");
    rc = a->ops->ping(a, &err);
    CHECK(rc == AD_OK, "ping: %s (%s)", code_name(rc), err.msg);
    if (shared) {
        /* opened before any job runs: an embedded store expires, at open,
         * the leases an earlier process left */
        rc = ad_jobs_open(url, &b, &err);
        CHECK(rc == AD_OK && b, "second handle: %s (%s)", code_name(rc), err.msg);
    }

    test_queue(a);
    test_requeue_order(a);
    test_expire(a);
    test_wakeup(a, b ? b : a);
    handles[0] = a;
    test_exactly_once(handles, 1, "threads on one handle");
    if (b) {
        handles[1] = b;
        test_exactly_once(handles, 2, "threads on two handles");
    }

    snprintf(param, sizeof(param), "visibility_timeout=%d", LEASE_S);
    lease_url = with_param(url, param);
    rc = lease_url ? ad_jobs_open(lease_url, &lease, &err) : AD_E_NOMEM;
    CHECK(rc == AD_OK && lease, "open %s: %s (%s)", lease_url ? lease_url : "?", code_name(rc),
          err.msg);
    if (lease) {
        other = b ? b : lease;
        test_lease_expiry(lease, other);
        test_lease_renewal(lease, other);
        lease->ops->close(lease);
    }
    free(lease_url);

    rc = a->ops->ping(a, &err);
    CHECK(rc == AD_OK, "ping at the end: %s (%s)", code_name(rc), err.msg);
    if (b) b->ops->close(b);
    a->ops->close(a);
    printf("jobs contract %s: %d passed, %d failed\n", url, check_passed - passed_before,
           check_failed - failed_before);
    return check_failed - failed_before;
}
