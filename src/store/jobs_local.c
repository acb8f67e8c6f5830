/*
 * jobs_local.c — the embedded job store: jobs in a SQLite file in the data
 * directory (local:///var/lib/assetd/jobs.db), so they survive a restart,
 * and an in-process queue: claim() waits on a condition variable that
 * create() and finish(queued) signal. `memory:` is the same store in an
 * in-memory database (nothing survives a restart; for tests).
 *
 * One connection, one mutex: job rows change a few times per job and per
 * few megabytes of progress, far below what one SQLite writer sustains.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/jobs.h"
#include "util/str.h"

extern const ad_jobs_ops ad_jobs_local_ops;
extern const ad_jobs_ops ad_jobs_memory_ops;

typedef struct local_jobs {
    ad_jobs base;
    sqlite3 *db;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* signalled when a job becomes queued */
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

#define JOB_COLUMNS                                                                                \
    "id, state, reason, asset_id, source, bytes_total, bytes_done, files_total, files_done, "      \
    "created, updated"

static local_jobs *L(ad_jobs *j)
{
    return (local_jobs *)j;
}

static ad_code db_fail(local_jobs *l, ad_error *err, const char *what)
{
    return ad_fail(err, AD_E_BACKEND, "job store: %s: %s", what, sqlite3_errmsg(l->db));
}

static ad_code open_db(const char *path, const ad_jobs_ops *ops, ad_jobs **out, ad_error *err)
{
    local_jobs *l = calloc(1, sizeof(*l));
    char *msg = NULL;
    if (!l) return ad_fail(err, AD_E_NOMEM, "out of memory");
    l->base.ops = ops;
    pthread_mutex_init(&l->mu, NULL);
    pthread_cond_init(&l->cv, NULL);
    if (sqlite3_open_v2(path, &l->db,
                        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX,
                        NULL) != SQLITE_OK ||
        sqlite3_exec(l->db, schema_sql, NULL, NULL, &msg) != SQLITE_OK) {
        ad_fail(err, AD_E_UNAVAILABLE, "job store %s: %s", path,
                msg ? msg : (l->db ? sqlite3_errmsg(l->db) : "cannot open"));
        sqlite3_free(msg);
        ops->close(&l->base);
        return err ? err->code : AD_E_UNAVAILABLE;
    }
    sqlite3_busy_timeout(l->db, 5000);
    *out = &l->base;
    return AD_OK;
}

static ad_code local_open(const char *url, ad_jobs **out, ad_error *err)
{
    const char *path = url + strlen("local:");
    if (strncmp(path, "//", 2) == 0) path += 2;
    if (!*path)
        return ad_fail(err, AD_E_BAD_REQUEST, "job store URL \"%s\": a path is needed", url);
    return open_db(path, &ad_jobs_local_ops, out, err);
}

static ad_code memory_open(const char *url, ad_jobs **out, ad_error *err)
{
    (void)url;
    return open_db(":memory:", &ad_jobs_memory_ops, out, err);
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
    const void *args[] = {job->id, &state, job->source, &total, &now, &now};
    ad_code rc = AD_OK;
    int step;
    pthread_mutex_lock(&l->mu);
    step = exec_stmt(l,
                     "INSERT INTO jobs(id, state, source, bytes_total, created, updated) "
                     "VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                     "titiii", args, NULL);
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
    if ((sqlite3_column_type(st, 3) != SQLITE_NULL && !out->asset_id) ||
        (sqlite3_column_type(st, 4) != SQLITE_NULL && !out->source)) {
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

static ad_code claim_locked(local_jobs *l, ad_job *out, ad_error *err)
{
    int64_t now = (int64_t)time(NULL), state = AD_JOB_PROCESSING;
    const void *args[2] = {&state, &now};
    ad_code rc = get_locked(
        l, "SELECT " JOB_COLUMNS " FROM jobs WHERE state = 0 ORDER BY seq LIMIT 1", NULL, out, err);
    if (rc) return rc;
    const void *upd[] = {args[0], args[1], out->id};
    if (exec_stmt(l, "UPDATE jobs SET state = ?1, updated = ?2 WHERE id = ?3", "iit", upd, NULL) !=
        SQLITE_DONE) {
        ad_job_clear(out);
        return db_fail(l, err, "claiming a job");
    }
    out->state = AD_JOB_PROCESSING;
    return AD_OK;
}

static ad_code local_claim(ad_jobs *j, unsigned wait_ms, ad_job *out, ad_error *err)
{
    local_jobs *l = L(j);
    struct timespec until;
    ad_code rc;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += wait_ms / 1000;
    until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) until.tv_sec++, until.tv_nsec -= 1000000000L;
    pthread_mutex_lock(&l->mu);
    while ((rc = claim_locked(l, out, err)) == AD_E_NOT_FOUND) {
        if (pthread_cond_timedwait(&l->cv, &l->mu, &until) != 0) {
            rc = claim_locked(l, out, err);
            break;
        }
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
            fd = (int64_t)job->files_done;
    const void *args[] = {&bt, &bd, &ft, &fd, &now, job->asset_id, job->id};
    ad_code rc = AD_OK;
    pthread_mutex_lock(&l->mu);
    if (exec_stmt(l,
                  "UPDATE jobs SET bytes_total = ?1, bytes_done = ?2, files_total = ?3, "
                  "files_done = ?4, updated = ?5, asset_id = coalesce(?6, asset_id) "
                  "WHERE id = ?7",
                  "iiiiitt", args, NULL) != SQLITE_DONE)
        rc = db_fail(l, err, "recording progress");
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
    pthread_mutex_lock(&l->mu);
    if (exec_stmt(l, "UPDATE jobs SET state = ?1, reason = ?2, updated = ?3 WHERE id = ?4", "itit",
                  args, &changes) != SQLITE_DONE)
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
