/*
 * test_jobs_local.c — the embedded job store (local: and memory:): create,
 * get, claim in arrival order (each job to one caller), progress, keys,
 * finish, requeue at the front, list, expiry, and persistence across a
 * reopen of the same file.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "store/jobs.h"

static int count_key(void *ctx, const char *key)
{
    (void)key;
    (*(int *)ctx)++;
    return 0;
}

static void add(ad_jobs *j, const char *id)
{
    ad_job job = {0};
    ad_error err = {0};
    snprintf(job.id, sizeof(job.id), "%s", id);
    job.source = (char *)"/spool/x.zip";
    job.bytes_total = 42;
    CHECK(j->ops->create(j, &job, &err) == AD_OK, "create %s: %s", id, err.msg);
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
    ad_job_clear(&job);
    CHECK(j->ops->get(j, "nope", &job, &err) == AD_E_NOT_FOUND, "unknown id");

    CHECK(j->ops->claim(j, 0, &job, &err) == AD_OK, "claim: %s", err.msg);
    CHECK(strcmp(job.id, "job-1") == 0 && job.state == AD_JOB_PROCESSING, "oldest first");
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
          "one processing");
    /* put back: it keeps its place at the front */
    CHECK(j->ops->finish(j, "job-1", AD_JOB_QUEUED, NULL, &err) == AD_OK, "%s", err.msg);
    ad_job_clear(&job);
    CHECK(j->ops->claim(j, 0, &job, &err) == AD_OK && strcmp(job.id, "job-1") == 0,
          "requeued job comes first");
    CHECK(job.asset_id && strcmp(job.asset_id, "asset-a") == 0 && job.bytes_done == 10,
          "progress kept");
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

    CHECK(j->ops->claim(j, 0, &job, &err) == AD_OK && strcmp(job.id, "job-2") == 0, "then job-2");
    ad_job_clear(&job);
    CHECK(j->ops->claim(j, 0, &job, &err) == AD_OK && strcmp(job.id, "job-3") == 0, "then job-3");
    ad_job_clear(&job);
    CHECK(j->ops->claim(j, 50, &job, &err) == AD_E_NOT_FOUND, "empty queue waits then gives up");
    CHECK(j->ops->finish(j, "job-2", AD_JOB_SUCCESS, NULL, &err) == AD_OK, "%s", err.msg);
}

static void test_expire(ad_jobs *j)
{
    ad_error err = {0};
    ad_job job;
    size_t n = 99;
    /* nothing is older than an hour ago */
    CHECK(j->ops->expire(j, (int64_t)time(NULL) - 3600, &n, &err) == AD_OK && n == 0, "n=%zu", n);
    /* finished jobs go, queued and processing stay */
    CHECK(j->ops->expire(j, (int64_t)time(NULL) + 10, &n, &err) == AD_OK && n == 2, "n=%zu", n);
    CHECK(j->ops->get(j, "job-1", &job, &err) == AD_E_NOT_FOUND, "failed job expired");
    CHECK(j->ops->get(j, "job-3", &job, &err) == AD_OK, "processing job kept");
    ad_job_clear(&job);
}

static void *claimer(void *p)
{
    ad_jobs *j = p;
    ad_job job;
    ad_error err = {0};
    if (j->ops->claim(j, 2000, &job, &err) == AD_OK) {
        ad_job_clear(&job);
        return (void *)1;
    }
    return NULL;
}

#include <pthread.h>

static void test_wakeup(ad_jobs *j)
{
    pthread_t t;
    void *got = NULL;
    pthread_create(&t, NULL, claimer, j);
    usleep(100000);
    add(j, "job-wake");
    pthread_join(t, &got);
    CHECK(got == (void *)1, "a waiting claim is woken by create");
}

static void run_all(const char *url)
{
    ad_jobs *j = NULL;
    ad_error err = {0};
    CHECK(ad_jobs_open(url, &j, &err) == AD_OK, "open %s: %s", url, err.msg);
    if (!j) return;
    CHECK(j->ops->ping(j, &err) == AD_OK, "%s", err.msg);
    test_queue(j);
    test_expire(j);
    test_wakeup(j);
    j->ops->close(j);
}

int main(void)
{
    char dir[] = "/tmp/assetd-jobs-XXXXXX", url[128], path[96];
    ad_jobs *j = NULL;
    ad_error err = {0};
    ad_job job;
    run_all("memory:");
    if (!mkdtemp(dir)) return 1;
    snprintf(path, sizeof(path), "%s/jobs.db", dir);
    snprintf(url, sizeof(url), "local://%s", path);
    run_all(url);
    /* persisted: the processing job-3 is still there after a reopen */
    CHECK(ad_jobs_open(url, &j, &err) == AD_OK, "%s", err.msg);
    if (j) {
        CHECK(j->ops->get(j, "job-3", &job, &err) == AD_OK && job.state == AD_JOB_PROCESSING,
              "survives a reopen");
        ad_job_clear(&job);
        j->ops->close(j);
    }
    CHECK(ad_jobs_open("redis://x", &j, &err) == AD_E_BAD_REQUEST, "unknown scheme");
    CHECK(ad_jobs_open("local:", &j, &err) == AD_E_BAD_REQUEST, "no path");
    unlink(path);
    snprintf(path, sizeof(path), "%s/jobs.db-wal", dir), unlink(path);
    snprintf(path, sizeof(path), "%s/jobs.db-shm", dir), unlink(path);
    rmdir(dir);
    return check_summary("jobs_local");
}
