/*
 * test_jobs_local.c — the embedded job store (local: and memory:): the job
 * port's contract suite (jobs_contract.c) on memory: and on a fresh file
 * (two handles on one file act as two instances), then what only the
 * embedded store does: jobs survive a reopen, a job left processing by an
 * earlier process is handed out as recovered at once (its lease expired at
 * open), a file of the first schema (no leases) is migrated, and bad URLs.
 */
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "jobs_contract.h"
#include "store/jobs.h"

static void add(ad_jobs *j, const char *id)
{
    ad_job job = {0};
    ad_error err = {0};
    snprintf(job.id, sizeof(job.id), "%s", id);
    job.source = (char *)"/spool/x.zip";
    CHECK(j->ops->create(j, &job, &err) == AD_OK, "create %s: %s", id, err.msg);
}

/* A job claimed by a process that then died (the handle is closed without
 * finishing it) comes back, at the next open, as recovered. */
static void test_reopen(const char *url)
{
    ad_jobs *j = NULL;
    ad_error err = {0};
    ad_job job;
    CHECK(ad_jobs_open(url, &j, &err) == AD_OK, "%s", err.msg);
    if (!j) return;
    add(j, "crash-1");
    add(j, "crash-2");
    CHECK(j->ops->claim(j, 0, &job, &err) == AD_OK && strcmp(job.id, "crash-1") == 0,
          "claim crash-1");
    ad_job_clear(&job);
    CHECK(j->ops->claim(j, 0, &job, &err) == AD_OK && strcmp(job.id, "crash-2") == 0,
          "claim crash-2");
    ad_job_clear(&job);
    j->ops->close(j);

    CHECK(ad_jobs_open(url, &j, &err) == AD_OK, "%s", err.msg);
    if (!j) return;
    CHECK(j->ops->get(j, "crash-1", &job, &err) == AD_OK && job.state == AD_JOB_PROCESSING,
          "survives a reopen, still processing");
    ad_job_clear(&job);
    CHECK(j->ops->claim(j, 0, &job, &err) == AD_OK && strcmp(job.id, "crash-1") == 0 &&
              job.recovered && job.attempt == 2,
          "left processing: handed out at once, recovered (attempt %u)", job.attempt);
    ad_job_clear(&job);
    CHECK(j->ops->claim(j, 0, &job, &err) == AD_OK && strcmp(job.id, "crash-2") == 0 &&
              job.recovered,
          "crash-2 too");
    ad_job_clear(&job);
    CHECK(j->ops->claim(j, 0, &job, &err) == AD_E_NOT_FOUND, "nothing else");
    j->ops->close(j);
}

/* A jobs.db written before leases existed (user_version 0, no attempt or
 * lease_until columns) opens, and its processing job is recovered. */
static void test_migration(const char *path, const char *url)
{
    sqlite3 *db = NULL;
    ad_jobs *j = NULL;
    ad_error err = {0};
    ad_job job;
    int64_t now = (int64_t)time(NULL);
    char sql[512];
    snprintf(sql, sizeof(sql),
             "CREATE TABLE jobs(seq INTEGER PRIMARY KEY AUTOINCREMENT, id TEXT NOT NULL UNIQUE,"
             " state INTEGER NOT NULL, reason TEXT, asset_id TEXT, source TEXT,"
             " bytes_total INTEGER NOT NULL DEFAULT 0, bytes_done INTEGER NOT NULL DEFAULT 0,"
             " files_total INTEGER NOT NULL DEFAULT 0, files_done INTEGER NOT NULL DEFAULT 0,"
             " created INTEGER NOT NULL, updated INTEGER NOT NULL);"
             "INSERT INTO jobs(id, state, created, updated) VALUES ('old-1', 1, %lld, %lld);",
             (long long)now, (long long)now);
    CHECK(sqlite3_open(path, &db) == SQLITE_OK &&
              sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK,
          "old schema: %s", db ? sqlite3_errmsg(db) : "?");
    sqlite3_close(db);
    CHECK(ad_jobs_open(url, &j, &err) == AD_OK, "open an old file: %s", err.msg);
    if (!j) return;
    CHECK(j->ops->claim(j, 0, &job, &err) == AD_OK && strcmp(job.id, "old-1") == 0 &&
              job.recovered && job.attempt == 1,
          "the old processing job is recovered: %s", err.msg);
    ad_job_clear(&job);
    j->ops->close(j);
}

static void remove_db(const char *dir, const char *name)
{
    char path[160];
    static const char *const ext[] = {"", "-wal", "-shm"};
    for (size_t i = 0; i < 3; i++) {
        snprintf(path, sizeof(path), "%s/%s%s", dir, name, ext[i]);
        unlink(path);
    }
}

int main(void)
{
    char dir[] = "/tmp/assetd-jobs-XXXXXX", url[160], path[128];
    ad_jobs *j = NULL;
    ad_error err = {0};
    int failed;
    failed = jobs_contract_run("memory:", false);
    CHECK(failed == 0, "contract on memory: %d failed checks (see above)", failed);
    if (!mkdtemp(dir)) return 1;
    snprintf(url, sizeof(url), "local://%s/jobs.db", dir);
    failed = jobs_contract_run(url, true);
    CHECK(failed == 0, "contract on %s: %d failed checks (see above)", url, failed);

    snprintf(url, sizeof(url), "local://%s/crash.db", dir);
    test_reopen(url);
    snprintf(path, sizeof(path), "%s/old.db", dir);
    snprintf(url, sizeof(url), "local://%s", path);
    test_migration(path, url);

    CHECK(ad_jobs_open("nosuch://x", &j, &err) == AD_E_BAD_REQUEST, "unknown scheme");
    CHECK(ad_jobs_open("local:", &j, &err) == AD_E_BAD_REQUEST, "no path");
    CHECK(ad_jobs_open("local:?visibility_timeout=5", &j, &err) == AD_E_BAD_REQUEST, "no path");
    CHECK(ad_jobs_open("memory:?visibility_timeout=0", &j, &err) == AD_E_BAD_REQUEST,
          "timeout 0: %s", err.msg);
    CHECK(ad_jobs_open("memory:?visibility_timeout=x", &j, &err) == AD_E_BAD_REQUEST, "timeout x");
    CHECK(ad_jobs_open("memory:?lease=5", &j, &err) == AD_E_BAD_REQUEST, "unknown parameter");
    CHECK(ad_jobs_open("memory:?=5", &j, &err) == AD_E_BAD_REQUEST, "empty name");
    CHECK(ad_jobs_open("memory:?visibility_timeout", &j, &err) == AD_E_BAD_REQUEST, "no value");
    CHECK(ad_jobs_open("memory:?visibility_timeout=%zz", &j, &err) == AD_E_BAD_REQUEST,
          "bad escape");
    CHECK(ad_jobs_open("memory:?visibility_timeout=5&", &j, &err) == AD_OK, "trailing &: %s",
          err.msg);
    if (j) j->ops->close(j);

    remove_db(dir, "jobs.db");
    remove_db(dir, "crash.db");
    remove_db(dir, "old.db");
    rmdir(dir);
    return check_summary("jobs_local");
}
