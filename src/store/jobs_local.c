/*
 * jobs_local.c — the embedded job store: jobs in a SQLite file in the data
 * directory (local:///var/lib/assetd/jobs.db), so they survive a restart,
 * and an in-process queue: claim() waits on a condition variable that
 * create() and finish(queued) signal. `memory:` is the same store in an
 * in-memory database (nothing survives a restart; for tests).
 *
 * One connection, one mutex: job rows change a few times per job and per
 * few megabytes of progress, far below what one SQLite writer sustains.
 *
 * Leases (see jobs.h): a claim stamps lease_until (milliseconds since the
 * epoch) and counts the attempt in one UPDATE … RETURNING, so two handles
 * opened on the same file still hand each job to exactly one caller. The
 * store lives in one process, so a job left processing by an earlier
 * process is abandoned: open() expires those leases at once, and the next
 * claim hands them out as recovered. Within the process a lease lasts
 * forever unless the URL sets ?visibility_timeout=SECONDS (tests do, to
 * exercise expiry); a thread cannot die alone, and a slow one must not
 * lose its job to a sibling. A waiting claim wakes on this handle's
 * condition variable, and looks again every CLAIM_POLL_MS for what other
 * handles or expiring leases made available.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/jobs.h"
#include "util/str.h"

#define CLAIM_POLL_MS 100
#define LEASE_NEVER   INT64_MAX /* lease_until of a claim with no visibility timeout */

extern const ad_jobs_ops ad_jobs_local_ops;
extern const ad_jobs_ops ad_jobs_memory_ops;

typedef struct local_jobs {
    ad_jobs base;
    sqlite3 *db;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a job becomes queued */
    int64_t lease_ms;  /* visibility timeout in ms; 0 = leases never expire */
} local_jobs;

static const char *const schema_sql =
    "PRAGMA journal_mode=WAL;"
    "PRAGMA synchronous=NORMAL;"
    "CREATE TABLE IF NOT EXISTS jobs("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  state INTEGER NOT NULL,"
    "  reason TEXT, asset_id TEXT, source TEXT,"
    "  bytes_total INTEGER NOT NULL DEFAULT 0, bytes_done INTEGER NOT NULL DEFAULT 0,"
    "  files_total INTEGER NOT NULL DEFAULT 0, files_done INTEGER NOT NULL DEFAULT 0,"
    "  created INTEGER NOT NULL, updated INTEGER NOT NULL);"
    "CREATE INDEX IF NOT EXISTS jobs_by_state ON jobs(state, seq);"
    "CREATE TABLE IF NOT EXISTS job_keys(id TEXT NOT NULL, key TEXT NOT NULL,"
    "  PRIMARY KEY (id, key)) WITHOUT ROWID;";

/* user_version 1 (job port v2): leases. Run in a write transaction so two
 * handles opening an old file at once migrate it once. */
static const char *const migrate_v1_sql =
    "ALTER TABLE jobs ADD COLUMN attempt INTEGER NOT NULL DEFAULT 0;"
    "ALTER TABLE jobs ADD COLUMN lease_until INTEGER NOT NULL DEFAULT 0;"
    "PRAGMA user_version = 1;";

/* user_version 2 (job port v3): the bucket of an upload. */
static const char *const migrate_v2_sql = "ALTER TABLE jobs ADD COLUMN bucket TEXT;"
                                          "PRAGMA user_version = 2;";

#define JOB_COLUMNS                                                                                \
    "id, state, reason, asset_id, source, bytes_total, bytes_done, files_total, files_done, "      \
    "created, updated, attempt, bucket"

static local_jobs *L(ad_jobs *j)
{
    return (local_jobs *)j;
}

static ad_code db_fail(local_jobs *l, ad_error *err, const char *what)
{
    return ad_fail(err, AD_E_BACKEND, "job store: %s: %s", what, sqlite3_errmsg(l->db));
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The lease a claim or a renewal gives from now. */
static int64_t lease_until(const local_jobs *l)
{
    return l->lease_ms ? now_ms() + l->lease_ms : LEASE_NEVER;
}

static int user_version(sqlite3 *db)
{
    sqlite3_stmt *st = NULL;
    int v = -1;
    if (sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        v = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* Schema, migration, and the expiry of leases an earlier process left. */
static int prepare_db(local_jobs *l, char **msg)
{
    int v;
    if (sqlite3_exec(l->db, schema_sql, NULL, NULL, msg) != SQLITE_OK ||
        sqlite3_exec(l->db, "BEGIN IMMEDIATE", NULL, NULL, msg) != SQLITE_OK)
        return -1;
    v = user_version(l->db);
    if (v < 0 || (v < 1 && sqlite3_exec(l->db, migrate_v1_sql, NULL, NULL, msg) != SQLITE_OK) ||
        (v < 2 && sqlite3_exec(l->db, migrate_v2_sql, NULL, NULL, msg) != SQLITE_OK)) {
        sqlite3_exec(l->db, "ROLLBACK", NULL, NULL, NULL);
        return -1;
    }
    return sqlite3_exec(l->db, "COMMIT", NULL, NULL, msg) == SQLITE_OK ? 0 : -1;
}

static ad_code set_param(void *ctx, const char *name, const char *value, ad_error *err)
{
    local_jobs *l = ctx;
    int64_t s = 0;
    if (strcmp(name, "visibility_timeout") != 0)
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "job store URL: unknown parameter \"%.64s\" (known: visibility_timeout)",
                       name);
    if (ad_jobs_parse_timeout(value, &s, err)) return err ? err->code : AD_E_BAD_REQUEST;
    l->lease_ms = s * 1000;
    return AD_OK;
}

/* Opens path (a file, or ":memory:"); url carries the parameters. With
 * expire_leases, jobs left processing by an earlier process can be taken
 * over at once. */
static ad_code open_db(const char *path, const char *url, bool expire_leases,
                       const ad_jobs_ops *ops, ad_jobs **out, ad_error *err)
{
    local_jobs *l = calloc(1, sizeof(*l));
    char *msg = NULL;
    ad_code rc;
    if (!l) return ad_fail(err, AD_E_NOMEM, "out of memory");
    l->base.ops = ops;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    rc = ad_jobs_url_params(url, set_param, l, err);
    if (rc) {
        ops->close(&l->base);
        return rc;
    }
    if (sqlite3_open_v2(path, &l->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK ||
        (sqlite3_busy_timeout(l->db, 5000), prepare_db(l, &msg) != 0) ||
        (expire_leases && sqlite3_exec(l->db, "UPDATE jobs SET lease_until = 0 WHERE state = 1",
                                       NULL, NULL, &msg) != SQLITE_OK)) {
        ad_fail(err, AD_E_UNAVAILABLE, "job store %s: %s", path,
                msg ? msg : (l->db ? sqlite3_errmsg(l->db) : "cannot open"));
        sqlite3_free(msg);
        ops->close(&l->base);
        return err ? err->code : AD_E_UNAVAILABLE;
    }
    *out = &l->base;
    return AD_OK;
}

static ad_code local_open(const char *url, ad_jobs **out, ad_error *err)
{
    const char *path = url + strlen("local:");
    size_t n;
    char *p;
    ad_code rc;
    if (strncmp(path, "//", 2) == 0) path += 2;
    n = strcspn(path, "?");
    if (n == 0)
        return ad_fail(err, AD_E_BAD_REQUEST, "job store URL \"%s\": a path is needed", url);
    p = ad_strndup(path, n);
    if (!p) return ad_fail(err, AD_E_NOMEM, "out of memory");
    rc = open_db(p, url, true, &ad_jobs_local_ops, out, err);
    free(p);
    return rc;
}

static ad_code memory_open(const char *url, ad_jobs **out, ad_error *err)
{
    return open_db(":memory:", url, false, &ad_jobs_memory_ops, out, err);
}

static void local_close(ad_jobs *j)
{
    local_jobs *l = L(j);
    if (!l) return;
    sqlite3_close(l->db);
    pthread_cond_destroy(&l->cv);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

static ad_code local_ping(ad_jobs *j, ad_error *err)
{
    local_jobs *l = L(j);
    ad_code rc = AD_OK;
    pthread_mutex_lock(&l->mu);
    if (sqlite3_exec(l->db, "SELECT 1 FROM jobs LIMIT 1", NULL, NULL, NULL) != SQLITE_OK)
        rc = ad_fail(err, AD_E_UNAVAILABLE, "job store: %s", sqlite3_errmsg(l->db));
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* Runs one statement with bound text/integer arguments: fmt has one
 * letter per argument, 't' (const char *, NULL = SQL NULL) or 'i'
 * (int64_t). Returns the sqlite step result; *changes is set when given. */
static int exec_stmt(local_jobs *l, const char *sql, const char *fmt, const void *const *args,
                     int *changes)
{
    sqlite3_stmt *st = NULL;
    int step, i;
    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK) return SQLITE_ERROR;
    for (i = 0; fmt[i]; i++) {
        if (fmt[i] == 't')
            sqlite3_bind_text(st, i + 1, args[i], -1, SQLITE_TRANSIENT);
        else
            sqlite3_bind_int64(st, i + 1, *(const int64_t *)args[i]);
    }
    step = sqlite3_step(st);
    sqlite3_finalize(st);
    if (changes) *changes = sqlite3_changes(l->db);
    return step;
}

static ad_code local_create(ad_jobs *j, const ad_job *job, ad_error *err)
{
    local_jobs *l = L(j);
    int64_t now = (int64_t)time(NULL), state = AD_JOB_QUEUED, total = (int64_t)job->bytes_total;
    const void *args[] = {job->id, &state, job->source, &total, &now, &now, job->bucket};
    ad_code rc = AD_OK;
    int step;
    pthread_mutex_lock(&l->mu);
    step = exec_stmt(l,
                     "INSERT INTO jobs(id, state, source, bytes_total, created, updated, bucket) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                     "titiiit", args, NULL);
    if (step == SQLITE_CONSTRAINT)
        rc = ad_fail(err, AD_E_EXISTS, "job %s already exists", job->id);
    else if (step != SQLITE_DONE)
        rc = db_fail(l, err, "adding a job");
    else
        pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static char *col_dup(sqlite3_stmt *st, int i)
{
    const unsigned char *t = sqlite3_column_text(st, i);
    return t ? strdup((const char *)t) : NULL;
}

static ad_code read_row(sqlite3_stmt *st, ad_job *out, ad_error *err)
{
    const unsigned char *t;
    memset(out, 0, sizeof(*out));
    t = sqlite3_column_text(st, 0);
    snprintf(out->id, sizeof(out->id), "%s", t ? (const char *)t : "");
    out->state = (ad_job_state)sqlite3_column_int(st, 1);
    t = sqlite3_column_text(st, 2);
    snprintf(out->reason, sizeof(out->reason), "%s", t ? (const char *)t : "");
    out->asset_id = col_dup(st, 3);
    out->source = col_dup(st, 4);
    out->bytes_total = (uint64_t)sqlite3_column_int64(st, 5);
    out->bytes_done = (uint64_t)sqlite3_column_int64(st, 6);
    out->files_total = (uint64_t)sqlite3_column_int64(st, 7);
    out->files_done = (uint64_t)sqlite3_column_int64(st, 8);
    out->created = sqlite3_column_int64(st, 9);
    out->updated = sqlite3_column_int64(st, 10);
    out->attempt = (unsigned)sqlite3_column_int64(st, 11);
    out->bucket = col_dup(st, 12);
    if ((sqlite3_column_type(st, 3) != SQLITE_NULL && !out->asset_id) ||
        (sqlite3_column_type(st, 4) != SQLITE_NULL && !out->source) ||
        (sqlite3_column_type(st, 12) != SQLITE_NULL && !out->bucket)) {
        ad_job_clear(out);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    return AD_OK;
}

/* Reads the row selected by sql (one text argument) into *out. */
static ad_code get_locked(local_jobs *l, const char *sql, const char *arg, ad_job *out,
                          ad_error *err)
{
    sqlite3_stmt *st = NULL;
    ad_code rc;
    int step;
    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(l, err, "reading a job");
    if (arg) sqlite3_bind_text(st, 1, arg, -1, SQLITE_TRANSIENT);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW)
        rc = read_row(st, out, err);
    else if (step == SQLITE_DONE)
        rc = ad_fail(err, AD_E_NOT_FOUND, "upload %s not found", arg ? arg : "");
    else
        rc = db_fail(l, err, "reading a job");
    sqlite3_finalize(st);
    return rc;
}

static ad_code local_get(ad_jobs *j, const char *id, ad_job *out, ad_error *err)
{
    local_jobs *l = L(j);
    ad_code rc;
    pthread_mutex_lock(&l->mu);
    rc = get_locked(l, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?1", id, out, err);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

/* Runs one claiming UPDATE … RETURNING (?1 lease, ?2 now in seconds, ?3
 * now in ms, when the statement uses it): AD_OK with *out filled, or
 * AD_E_NOT_FOUND when it matched no row. One statement, so it is atomic
 * across connections. */
static ad_code claim_stmt(local_jobs *l, const char *sql, ad_job *out, ad_error *err)
{
    sqlite3_stmt *st = NULL;
    ad_code rc;
    int step;
    if (sqlite3_prepare_v2(l->db, sql, -1, &st, NULL) != SQLITE_OK)
        return db_fail(l, err, "claiming a job");
    sqlite3_bind_int64(st, 1, lease_until(l));
    sqlite3_bind_int64(st, 2, (int64_t)time(NULL));
    if (sqlite3_bind_parameter_count(st) >= 3) sqlite3_bind_int64(st, 3, now_ms());
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        rc = read_row(st, out, err);
        while (step == SQLITE_ROW) step = sqlite3_step(st); /* run it to completion */
        if (step != SQLITE_DONE && !rc) {
            ad_job_clear(out);
            rc = db_fail(l, err, "claiming a job");
        }
    } else if (step == SQLITE_DONE) {
        rc = AD_E_NOT_FOUND;
    } else {
        rc = db_fail(l, err, "claiming a job");
    }
    sqlite3_finalize(st);
    return rc;
}

/* First a processing job whose lease ran out, else the oldest queued. */
static ad_code claim_locked(local_jobs *l, ad_job *out, ad_error *err)
{
    ad_code rc = claim_stmt(
        l,
        "UPDATE jobs SET attempt = attempt + 1, lease_until = ?1, updated = ?2 WHERE seq = "
        "(SELECT seq FROM jobs WHERE state = 1 AND lease_until <= ?3 ORDER BY seq LIMIT 1) "
        "RETURNING " JOB_COLUMNS,
        out, err);
    if (rc == AD_OK) {
        out->recovered = true;
        return AD_OK;
    }
    if (rc != AD_E_NOT_FOUND) return rc;
    return claim_stmt(l,
                      "UPDATE jobs SET state = 1, attempt = attempt + 1, lease_until = ?1, "
                      "updated = ?2 WHERE seq = (SELECT seq FROM jobs WHERE state = 0 "
                      "ORDER BY seq LIMIT 1) RETURNING " JOB_COLUMNS,
                      out, err);
}

static struct timespec after_ms(int64_t ms)
{
    struct timespec t;
    clock_gettime(CLOCK_REALTIME, &t);
    t.tv_sec += (time_t)(ms / 1000);
    t.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (t.tv_nsec >= 1000000000L) t.tv_sec++, t.tv_nsec -= 1000000000L;
    return t;
}

static bool before(const struct timespec *a, const struct timespec *b)
{
    return a->tv_sec < b->tv_sec || (a->tv_sec == b->tv_sec && a->tv_nsec < b->tv_nsec);
}

static ad_code local_claim(ad_jobs *j, unsigned wait_ms, ad_job *out, ad_error *err)
{
    local_jobs *l = L(j);
    struct timespec until = after_ms(wait_ms);
    ad_code rc;
    pthread_mutex_lock(&l->mu);
    while ((rc = claim_locked(l, out, err)) == AD_E_NOT_FOUND) {
        struct timespec poll = after_ms(CLAIM_POLL_MS), now = after_ms(0);
        if (!before(&now, &until)) break;
        pthread_cond_timedwait(&l->cv, &l->mu, before(&poll, &until) ? &poll : &until);
    }
    pthread_mutex_unlock(&l->mu);
    if (rc == AD_E_NOT_FOUND) ad_error_clear(err);
    return rc;
}

static ad_code local_progress(ad_jobs *j, const ad_job *job, ad_error *err)
{
    local_jobs *l = L(j);
    int64_t now = (int64_t)time(NULL), bt = (int64_t)job->bytes_total,
            bd = (int64_t)job->bytes_done, ft = (int64_t)job->files_total,
            fd = (int64_t)job->files_done, attempt = job->attempt, lease = lease_until(l);
    const void *args[] = {&bt, &bd, &ft, &fd, &now, job->asset_id, job->id, &attempt, &lease};
    ad_code rc = AD_OK;
    int changes = 0;
    ad_job cur;
    pthread_mutex_lock(&l->mu);
    if (exec_stmt(l,
                  "UPDATE jobs SET bytes_total = ?1, bytes_done = ?2, files_total = ?3, "
                  "files_done = ?4, updated = ?5, asset_id = coalesce(?6, asset_id), "
                  "lease_until = CASE WHEN state = 1 THEN ?9 ELSE lease_until END "
                  "WHERE id = ?7 AND (?8 = 0 OR attempt = ?8)",
                  "iiiiittii", args, &changes) != SQLITE_DONE)
        rc = db_fail(l, err, "recording progress");
    else if (!changes && (rc = get_locked(l, "SELECT " JOB_COLUMNS " FROM jobs WHERE id = ?1",
                                          job->id, &cur, err)) == AD_OK) {
        rc = ad_fail(err, AD_E_PRECONDITION, "upload %s: lease lost (attempt %u, now %u)", job->id,
                     job->attempt, cur.attempt);
        ad_job_clear(&cur);
    }
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static ad_code local_add_key(ad_jobs *j, const char *id, const char *key, ad_error *err)
{
    local_jobs *l = L(j);
    const void *args[] = {id, key};
    ad_code rc = AD_OK;
    pthread_mutex_lock(&l->mu);
    if (exec_stmt(l, "INSERT OR IGNORE INTO job_keys(id, key) VALUES (?1, ?2)", "tt", args, NULL) !=
        SQLITE_DONE)
        rc = db_fail(l, err, "recording a key");
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static ad_code local_keys(ad_jobs *j, const char *id, ad_job_key_fn fn, void *ctx, ad_error *err)
{
    local_jobs *l = L(j);
    sqlite3_stmt *st = NULL;
    ad_code rc = AD_OK;
    int step;
    pthread_mutex_lock(&l->mu);
    if (sqlite3_prepare_v2(l->db, "SELECT key FROM job_keys WHERE id = ?1", -1, &st, NULL) !=
        SQLITE_OK) {
        rc = db_fail(l, err, "listing keys");
    } else {
        sqlite3_bind_text(st, 1, id, -1, SQLITE_TRANSIENT);
        while ((step = sqlite3_step(st)) == SQLITE_ROW)
            if (fn(ctx, (const char *)sqlite3_column_text(st, 0))) break;
        if (step != SQLITE_ROW && step != SQLITE_DONE) rc = db_fail(l, err, "listing keys");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static ad_code local_clear_keys(ad_jobs *j, const char *id, ad_error *err)
{
    local_jobs *l = L(j);
    const void *args[] = {id};
    ad_code rc = AD_OK;
    pthread_mutex_lock(&l->mu);
    if (exec_stmt(l, "DELETE FROM job_keys WHERE id = ?1", "t", args, NULL) != SQLITE_DONE)
        rc = db_fail(l, err, "forgetting keys");
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static ad_code local_finish(ad_jobs *j, const char *id, ad_job_state state, const char *reason,
                            ad_error *err)
{
    local_jobs *l = L(j);
    int64_t now = (int64_t)time(NULL), s = state;
    const void *args[] = {&s, reason, &now, id};
    ad_code rc = AD_OK;
    int changes = 0;
    if (state == AD_JOB_PROCESSING)
        return ad_fail(err, AD_E_BAD_REQUEST, "upload %s: only a claim makes a job processing", id);
    pthread_mutex_lock(&l->mu);
    if (exec_stmt(l,
                  "UPDATE jobs SET state = ?1, reason = ?2, updated = ?3, lease_until = 0 "
                  "WHERE id = ?4",
                  "itit", args, &changes) != SQLITE_DONE)
        rc = db_fail(l, err, "finishing a job");
    else if (!changes)
        rc = ad_fail(err, AD_E_NOT_FOUND, "upload %s not found", id);
    else if (state == AD_JOB_QUEUED)
        pthread_cond_broadcast(&l->cv);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static ad_code local_list(ad_jobs *j, ad_job_state s, char (*ids)[AD_JOB_ID_MAX], size_t max,
                          size_t *n, ad_error *err)
{
    local_jobs *l = L(j);
    sqlite3_stmt *st = NULL;
    ad_code rc = AD_OK;
    int step = SQLITE_DONE;
    *n = 0;
    pthread_mutex_lock(&l->mu);
    if (sqlite3_prepare_v2(l->db, "SELECT id FROM jobs WHERE state = ?1 ORDER BY seq", -1, &st,
                           NULL) != SQLITE_OK) {
        rc = db_fail(l, err, "listing jobs");
    } else {
        sqlite3_bind_int(st, 1, (int)s);
        while (*n < max && (step = sqlite3_step(st)) == SQLITE_ROW)
            snprintf(ids[(*n)++], AD_JOB_ID_MAX, "%s", (const char *)sqlite3_column_text(st, 0));
        if (step != SQLITE_ROW && step != SQLITE_DONE) rc = db_fail(l, err, "listing jobs");
    }
    sqlite3_finalize(st);
    pthread_mutex_unlock(&l->mu);
    return rc;
}

static ad_code local_expire(ad_jobs *j, int64_t before, size_t *n, ad_error *err)
{
    local_jobs *l = L(j);
    int64_t ok = AD_JOB_SUCCESS, bad = AD_JOB_FAILED;
    const void *args[] = {&before, &ok, &bad};
    ad_code rc = AD_OK;
    int changes = 0;
    pthread_mutex_lock(&l->mu);
    if (exec_stmt(l, "DELETE FROM jobs WHERE updated < ?1 AND state IN (?2, ?3)", "iii", args,
                  &changes) != SQLITE_DONE ||
        exec_stmt(l, "DELETE FROM job_keys WHERE id NOT IN (SELECT id FROM jobs)", "", NULL,
                  NULL) != SQLITE_DONE)
        rc = db_fail(l, err, "expiring jobs");
    pthread_mutex_unlock(&l->mu);
    if (n) *n = (size_t)changes;
    return rc;
}

#define LOCAL_OPS_BODY                                                                             \
    .version = AD_JOBS_OPS_VERSION, .close = local_close, .ping = local_ping,                      \
    .create = local_create, .get = local_get, .claim = local_claim, .progress = local_progress,    \
    .add_key = local_add_key, .keys = local_keys, .clear_keys = local_clear_keys,                  \
    .finish = local_finish, .list = local_list, .expire = local_expire

const ad_jobs_ops ad_jobs_local_ops = {.scheme = "local", .open = local_open, LOCAL_OPS_BODY};
const ad_jobs_ops ad_jobs_memory_ops = {.scheme = "memory", .open = memory_open, LOCAL_OPS_BODY};
