/*
 * meta_sqlite.c — the embedded meta store: asset documents in one SQLite
 * file (WAL mode), the default when assetd runs with no other server.
 *
 * Tables:
 *   assets(seq, id, rev, doc)  the canonical JSON text of each asset, sent
 *                              to clients as it is stored.
 *   asset_paths(path, t, v, seq)
 *                              an inverted index of every value in every
 *                              document: its dotted path (array indexes left
 *                              out, so "profiles.asset_type" covers every
 *                              profile), a type tag t and the value v.
 *
 * A filter tree is compiled into conditions on asset_paths that select a
 * superset of the matching documents through the (path, t, v) primary key;
 * the cursor then evaluates the filter on each candidate (ad_filter_match),
 * so MongoDB's semantics come from one evaluator, not from SQL. When every
 * node of a filter is exact for the schema (string equality on a field the
 * model types as a string), the evaluation and skip/limit move into SQL and
 * rows go to the client untouched (ad_schema_string_path tells which
 * fields those are) — the fixed queries (by type, sub-type,
 * tag, api route) are such filters.
 *
 * Documents read by id are kept in a small in-process cache (sharded LRU,
 * bounded in bytes, ?cache_mb=N in the URL, 0 turns it off). It is
 * coherent because this process is the only writer of the file: a write
 * drops the id before it starts and again after it commits, and no reader
 * fills the cache while a write to the shard is in progress or if one
 * started while it read (the shard's generation changed), so an older
 * revision can never be cached after a newer one was readable.
 *
 * Connections come from a pool: a request checks one out and returns it
 * when done; a streamed list keeps its connection (and its read snapshot)
 * until the last row is sent. Each connection caches its prepared
 * statements.
 */
#include <pthread.h>
#include <sqlite3.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "core/model.h"
#include "store/meta.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

extern const ad_meta_ops ad_meta_sqlite_ops;

enum { T_NULL = 0, T_NUM = 1, T_STR = 2, T_BOOL = 3, T_ARRAY = 4, T_OBJECT = 5 };

enum stmt_id {
    ST_GET,
    ST_INSERT,
    ST_LOOKUP,
    ST_UPDATE,
    ST_DELETE,
    ST_PATHS_DELETE,
    ST_PATH_INSERT,
    ST_BEGIN,
    ST_COMMIT,
    ST_ROLLBACK,
    ST_PING,
    ST_MULTIKEY_INSERT,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_GET] = "SELECT doc, rev, mtime FROM assets WHERE id = ?1",
    [ST_INSERT] = "INSERT INTO assets(id, rev, doc, mtime) VALUES (?1, 1, ?2, unixepoch())",
    [ST_LOOKUP] = "SELECT seq, rev FROM assets WHERE id = ?1",
    [ST_UPDATE] = "UPDATE assets SET doc = ?1, rev = rev + 1, mtime = unixepoch() WHERE seq = ?2",
    [ST_DELETE] = "DELETE FROM assets WHERE seq = ?1",
    [ST_PATHS_DELETE] = "DELETE FROM asset_paths WHERE seq = ?1",
    [ST_PATH_INSERT] = "INSERT OR IGNORE INTO asset_paths(path, t, v, seq) VALUES (?1, ?2, ?3, ?4)",
    [ST_BEGIN] = "BEGIN IMMEDIATE",
    [ST_COMMIT] = "COMMIT",
    [ST_ROLLBACK] = "ROLLBACK",
    [ST_PING] = "SELECT count(*) FROM (SELECT 1 FROM assets LIMIT 1)",
    [ST_MULTIKEY_INSERT] = "INSERT OR IGNORE INTO multikey_paths(path) VALUES (?1)",
};

static const char *const schema_sql =
    "PRAGMA journal_mode = WAL;"
    "CREATE TABLE IF NOT EXISTS assets("
    "  seq INTEGER PRIMARY KEY AUTOINCREMENT,"
    "  id TEXT NOT NULL UNIQUE,"
    "  rev INTEGER NOT NULL,"
    "  doc TEXT NOT NULL,"
    "  mtime INTEGER NOT NULL DEFAULT 0);"
    "CREATE TABLE IF NOT EXISTS asset_paths("
    "  path TEXT NOT NULL, t INTEGER NOT NULL, v NOT NULL, seq INTEGER NOT NULL,"
    "  PRIMARY KEY (path, t, v, seq)) WITHOUT ROWID;"
    "CREATE INDEX IF NOT EXISTS asset_paths_by_seq ON asset_paths(seq);"
    "CREATE TABLE IF NOT EXISTS multikey_paths(path TEXT PRIMARY KEY) WITHOUT ROWID;"
    "CREATE TABLE IF NOT EXISTS records("
    "  ns TEXT NOT NULL, key TEXT NOT NULL, rev INTEGER NOT NULL, doc TEXT NOT NULL,"
    "  mtime INTEGER NOT NULL, PRIMARY KEY (ns, key)) WITHOUT ROWID;"
    "";

/* Version 1 had no mtime column. */
static const char *const migrate_v2_sql =
    "ALTER TABLE assets ADD COLUMN mtime INTEGER NOT NULL DEFAULT 0;";

#define CACHE_SLOTS 16
/* Bounds on the narrowing SQL. Conditions left out still hold for the
 * candidates (every emitted condition is necessary), and the cursor checks
 * the whole filter, so a cap only costs selectivity, never correctness. */
#define SQL_MAX_AND    8  /* conditions emitted per $and / $all */
#define SQL_MAX_OR     32 /* wider $or are not narrowed */
#define SQLITE_BUSY_MS 10000
#define POOL_IDLE_MAX  8 /* idle connections kept; more are closed when returned */

typedef struct conn {
    sqlite3 *db;
    sqlite3_stmt *st[ST_COUNT];
    struct {
        char *sql;
        sqlite3_stmt *st;
    } cache[CACHE_SLOTS];
    unsigned next_slot;
    struct conn *next;
} conn;

#define DOC_CACHE_SHARDS  16
#define DOC_CACHE_BUCKETS 1024 /* per shard */
#define DOC_CACHE_MB      32   /* default budget */

typedef struct cached_doc {
    struct cached_doc *next;          /* bucket chain */
    struct cached_doc *older, *newer; /* the shard's LRU list */
    uint64_t hash;
    int64_t rev, mtime;
    size_t len, cost;
    char *json;
    char id[]; /* NUL-terminated */
} cached_doc;

typedef struct doc_shard {
    pthread_mutex_t mu;
    cached_doc *buckets[DOC_CACHE_BUCKETS];
    cached_doc *oldest, *newest;
    size_t bytes;
    uint64_t gen;     /* bumped when a write to the shard starts and ends */
    unsigned writing; /* writes in progress on the shard's ids */
} doc_shard;

typedef struct sqlite_meta {
    ad_meta base;
    char *path;
    pthread_mutex_t mu; /* guards idle and nidle */
    conn *idle;
    unsigned nidle;
    /* One write transaction at a time in this process: writers queue here
     * instead of polling SQLite's busy handler. */
    pthread_mutex_t write_mu;
    /* Paths where some document holds two or more scalar values (MongoDB's
     * "multikey"); ranges on other paths can be merged into one index scan.
     * A set (object of true), only ever grows. */
    pthread_rwlock_t mk_lock;
    json_t *multikey;
    size_t shard_budget; /* bytes per cache shard; 0 = no cache */
    doc_shard shards[DOC_CACHE_SHARDS];
} sqlite_meta;

struct ad_meta_cursor {
    sqlite_meta *m;
    conn *c;
    sqlite3_stmt *st;
    const ad_filter *filter; /* NULL when SQL alone is exact */
    uint64_t skip, limit;
    bool done;
};

/* --- connections --- */

static ad_code db_fail(sqlite3 *db, ad_error *err, const char *what)
{
    int rc = sqlite3_errcode(db);
    if (rc == SQLITE_BUSY || rc == SQLITE_LOCKED)
        return ad_fail(err, AD_E_UNAVAILABLE, "meta store busy while %s: %s", what,
                       sqlite3_errmsg(db));
    return ad_fail(err, AD_E_BACKEND, "meta store failed while %s: %s", what, sqlite3_errmsg(db));
}

static void conn_close(conn *c)
{
    int i;
    if (!c) return;
    for (i = 0; i < ST_COUNT; i++) sqlite3_finalize(c->st[i]);
    for (i = 0; i < CACHE_SLOTS; i++) {
        sqlite3_finalize(c->cache[i].st);
        free(c->cache[i].sql);
    }
    sqlite3_close(c->db);
    free(c);
}

static ad_code conn_open(sqlite_meta *m, conn **out, ad_error *err)
{
    conn *c = calloc(1, sizeof(*c));
    int rc;
    if (!c) return ad_fail(err, AD_E_NOMEM, "out of memory");
    rc = sqlite3_open_v2(m->path, &c->db,
                         SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        ad_fail(err, AD_E_UNAVAILABLE, "cannot open meta store %s: %s", m->path,
                c->db ? sqlite3_errmsg(c->db) : sqlite3_errstr(rc));
        conn_close(c);
        return AD_E_UNAVAILABLE;
    }
    sqlite3_busy_timeout(c->db, SQLITE_BUSY_MS);
    /* 4 MiB of page cache per connection; a WAL grown by a burst is cut
     * back to 64 MiB once checkpointed */
    sqlite3_exec(c->db,
                 "PRAGMA synchronous = NORMAL; PRAGMA cache_size = -4096;"
                 " PRAGMA journal_size_limit = 67108864;",
                 NULL, NULL, NULL);
    *out = c;
    return AD_OK;
}

static ad_code conn_get(sqlite_meta *m, conn **out, ad_error *err)
{
    pthread_mutex_lock(&m->mu);
    *out = m->idle;
    if (*out) m->idle = (*out)->next, m->nidle--;
    pthread_mutex_unlock(&m->mu);
    if (*out) return AD_OK;
    return conn_open(m, out, err);
}

static void conn_put(sqlite_meta *m, conn *c)
{
    if (!c) return;
    if (!sqlite3_get_autocommit(c->db)) sqlite3_exec(c->db, "ROLLBACK", NULL, NULL, NULL);
    pthread_mutex_lock(&m->mu);
    if (m->nidle < POOL_IDLE_MAX) {
        c->next = m->idle;
        m->idle = c;
        m->nidle++;
        c = NULL;
    }
    pthread_mutex_unlock(&m->mu);
    conn_close(c);
}

/* A fixed statement, prepared on first use and kept with the connection. */
static sqlite3_stmt *stmt(conn *c, enum stmt_id id, ad_error *err)
{
    if (!c->st[id] &&
        sqlite3_prepare_v3(c->db, stmt_sql[id], -1, SQLITE_PREPARE_PERSISTENT, &c->st[id], NULL)) {
        db_fail(c->db, err, "preparing a statement");
        return NULL;
    }
    sqlite3_reset(c->st[id]);
    sqlite3_clear_bindings(c->st[id]);
    return c->st[id];
}

/* A statement for generated SQL, from a small per-connection cache. */
static sqlite3_stmt *stmt_cached(conn *c, const char *sql, ad_error *err)
{
    unsigned i;
    sqlite3_stmt *st = NULL;
    char *copy;
    for (i = 0; i < CACHE_SLOTS; i++) {
        if (c->cache[i].sql && strcmp(c->cache[i].sql, sql) == 0) {
            sqlite3_reset(c->cache[i].st);
            sqlite3_clear_bindings(c->cache[i].st);
            return c->cache[i].st;
        }
    }
    if (sqlite3_prepare_v3(c->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &st, NULL)) {
        db_fail(c->db, err, "preparing a query");
        return NULL;
    }
    copy = strdup(sql);
    if (!copy) {
        sqlite3_finalize(st);
        ad_fail(err, AD_E_NOMEM, "out of memory");
        return NULL;
    }
    i = c->next_slot++ % CACHE_SLOTS;
    sqlite3_finalize(c->cache[i].st);
    free(c->cache[i].sql);
    c->cache[i].sql = copy;
    c->cache[i].st = st;
    return st;
}

/* --- open/close/ping --- */

static void sqlite_close(ad_meta *base);

/* --- the document cache --- */

static uint64_t hash_id(const char *id)
{
    uint64_t h = 1469598103934665603ULL; /* FNV-1a */
    for (; *id; id++) h = (h ^ (unsigned char)*id) * 1099511628211ULL;
    return h;
}

static doc_shard *shard_of(sqlite_meta *m, uint64_t h)
{
    return &m->shards[h % DOC_CACHE_SHARDS];
}

static cached_doc **cache_slot(doc_shard *sh, uint64_t h, const char *id)
{
    cached_doc **p = &sh->buckets[(h / DOC_CACHE_SHARDS) % DOC_CACHE_BUCKETS];
    while (*p && ((*p)->hash != h || strcmp((*p)->id, id) != 0)) p = &(*p)->next;
    return p;
}

static void lru_unlink(doc_shard *sh, cached_doc *e)
{
    if (e->older)
        e->older->newer = e->newer;
    else
        sh->oldest = e->newer;
    if (e->newer)
        e->newer->older = e->older;
    else
        sh->newest = e->older;
    e->older = e->newer = NULL;
}

static void lru_push(doc_shard *sh, cached_doc *e)
{
    e->older = sh->newest;
    e->newer = NULL;
    if (sh->newest)
        sh->newest->newer = e;
    else
        sh->oldest = e;
    sh->newest = e;
}

/* Unlinks and frees the entry *slot points at (shard locked). */
static void cache_drop(doc_shard *sh, cached_doc **slot)
{
    cached_doc *e = *slot;
    *slot = e->next;
    lru_unlink(sh, e);
    sh->bytes -= e->cost;
    free(e->json);
    free(e);
}

/* Copies a cached document into out; false on a miss, with *gen set to the
 * shard's generation for a later cache_fill. */
static bool cache_lookup(sqlite_meta *m, const char *id, ad_doc *out, uint64_t *gen)
{
    uint64_t h = hash_id(id);
    doc_shard *sh = shard_of(m, h);
    cached_doc *e;
    bool hit = false;
    if (!m->shard_budget) return false;
    pthread_mutex_lock(&sh->mu);
    e = *cache_slot(sh, h, id);
    *gen = sh->gen;
    if (e && (out->json = malloc(e->len + 1)) != NULL) {
        memcpy(out->json, e->json, e->len + 1);
        out->len = e->len;
        out->rev = e->rev;
        out->mtime = e->mtime;
        lru_unlink(sh, e);
        lru_push(sh, e);
        hit = true;
    }
    pthread_mutex_unlock(&sh->mu);
    return hit;
}

/* Caches what was just read, unless a write touched the shard meanwhile. */
static void cache_fill(sqlite_meta *m, const char *id, const ad_doc *d, uint64_t gen)
{
    uint64_t h = hash_id(id);
    doc_shard *sh = shard_of(m, h);
    size_t idlen = strlen(id);
    cached_doc *e, **slot;
    if (!m->shard_budget || d->len + idlen > m->shard_budget / 4) return;
    e = malloc(sizeof(*e) + idlen + 1);
    if (!e) return;
    e->json = malloc(d->len + 1);
    if (!e->json) {
        free(e);
        return;
    }
    memcpy(e->json, d->json, d->len + 1);
    memcpy(e->id, id, idlen + 1);
    e->hash = h, e->rev = d->rev, e->mtime = d->mtime, e->len = d->len;
    e->cost = sizeof(*e) + idlen + d->len;
    e->older = e->newer = e->next = NULL;
    pthread_mutex_lock(&sh->mu);
    slot = cache_slot(sh, h, id);
    if (sh->gen != gen || sh->writing || *slot) {
        pthread_mutex_unlock(&sh->mu);
        free(e->json);
        free(e);
        return;
    }
    *slot = e;
    lru_push(sh, e);
    sh->bytes += e->cost;
    while (sh->bytes > m->shard_budget && sh->oldest != e)
        cache_drop(sh, cache_slot(sh, sh->oldest->hash, sh->oldest->id));
    pthread_mutex_unlock(&sh->mu);
}

/* Brackets a write to id: begin before the transaction, end after it
 * (committed or not). Both forget id and bump the generation. */
static void cache_write(sqlite_meta *m, const char *id, bool begin)
{
    uint64_t h = hash_id(id);
    doc_shard *sh = shard_of(m, h);
    cached_doc **slot;
    if (!m->shard_budget) return;
    pthread_mutex_lock(&sh->mu);
    slot = cache_slot(sh, h, id);
    if (*slot) cache_drop(sh, slot);
    sh->gen++;
    if (begin)
        sh->writing++;
    else
        sh->writing--;
    pthread_mutex_unlock(&sh->mu);
}

static void cache_free(sqlite_meta *m)
{
    size_t i;
    for (i = 0; i < DOC_CACHE_SHARDS; i++) {
        doc_shard *sh = &m->shards[i];
        while (sh->oldest) cache_drop(sh, cache_slot(sh, sh->oldest->hash, sh->oldest->id));
        pthread_mutex_destroy(&sh->mu);
    }
}

/* Splits "path?cache_mb=N" into the file path and the cache budget. */
static ad_code parse_url_options(sqlite_meta *m, const char *url, ad_error *err)
{
    const char *q = strchr(url, '?');
    uint64_t mb = DOC_CACHE_MB;
    m->path = q ? ad_strndup(url, (size_t)(q - url)) : strdup(url);
    if (!m->path) return ad_fail(err, AD_E_NOMEM, "out of memory");
    if (q) {
        if (strncmp(q + 1, "cache_mb=", 9) != 0 || !ad_parse_u64(q + 10, 65536, &mb))
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "meta store URL: unknown option \"%s\" (known: cache_mb=N, 0 to "
                           "65536)",
                           q + 1);
    }
    m->shard_budget = (size_t)(mb << 20) / DOC_CACHE_SHARDS;
    return AD_OK;
}

static ad_code load_multikey(sqlite_meta *m, conn *c, ad_error *err)
{
    sqlite3_stmt *st = NULL;
    int step;
    if (!m->multikey) return ad_fail(err, AD_E_NOMEM, "out of memory");
    if (sqlite3_prepare_v2(c->db, "SELECT path FROM multikey_paths", -1, &st, NULL))
        return db_fail(c->db, err, "loading the index statistics");
    while ((step = sqlite3_step(st)) == SQLITE_ROW)
        json_object_set_new(m->multikey, (const char *)sqlite3_column_text(st, 0), json_true());
    sqlite3_finalize(st);
    return step == SQLITE_DONE ? AD_OK : db_fail(c->db, err, "loading the index statistics");
}

/* Brings a store written by an older assetd to the current schema. */
static ad_code migrate(conn *c, ad_error *err)
{
    sqlite3_stmt *st = NULL;
    int version = 0;
    if (sqlite3_prepare_v2(c->db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
        sqlite3_step(st) == SQLITE_ROW)
        version = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    if (version == 1 && sqlite3_exec(c->db, migrate_v2_sql, NULL, NULL, NULL) != SQLITE_OK)
        return db_fail(c->db, err, "upgrading the schema");
    if (version < 2 && sqlite3_exec(c->db, "PRAGMA user_version = 2", NULL, NULL, NULL))
        return db_fail(c->db, err, "upgrading the schema");
    return AD_OK;
}

static bool is_multikey(sqlite_meta *m, const char *path)
{
    bool yes;
    pthread_rwlock_rdlock(&m->mk_lock);
    yes = json_object_get(m->multikey, path) != NULL;
    pthread_rwlock_unlock(&m->mk_lock);
    return yes;
}

static ad_code sqlite_open(const char *url, ad_meta **out, ad_error *err)
{
    const char *prefix = "sqlite://";
    sqlite_meta *m;
    conn *c = NULL;
    char *errmsg = NULL;
    ad_code rc;
    size_t i;
    *out = NULL;
    if (strncmp(url, prefix, strlen(prefix)) != 0 || !url[strlen(prefix)])
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "meta store URL \"%s\": expected sqlite:///absolute/path.db or "
                       "sqlite://relative/path.db",
                       url);
    m = calloc(1, sizeof(*m));
    if (!m) return ad_fail(err, AD_E_NOMEM, "out of memory");
    m->base.ops = &ad_meta_sqlite_ops;
    pthread_mutex_init(&m->mu, NULL);
    pthread_mutex_init(&m->write_mu, NULL);
    pthread_rwlock_init(&m->mk_lock, NULL);
    for (i = 0; i < DOC_CACHE_SHARDS; i++) pthread_mutex_init(&m->shards[i].mu, NULL);
    m->multikey = json_object();
    rc = parse_url_options(m, url + strlen(prefix), err);
    if (!rc) rc = m->multikey ? conn_open(m, &c, err) : ad_fail(err, AD_E_NOMEM, "out of memory");
    if (!rc && sqlite3_exec(c->db, schema_sql, NULL, NULL, &errmsg) != SQLITE_OK) {
        rc = ad_fail(err, AD_E_UNAVAILABLE, "cannot set up meta store %s: %s", m->path,
                     errmsg ? errmsg : "?");
        sqlite3_free(errmsg);
    }
    if (!rc) rc = migrate(c, err);
    if (!rc) rc = load_multikey(m, c, err);
    if (c) conn_put(m, c);
    if (rc) {
        sqlite_close(&m->base);
        return rc;
    }
    *out = &m->base;
    return AD_OK;
}

static void sqlite_close(ad_meta *base)
{
    sqlite_meta *m = (sqlite_meta *)base;
    conn *c, *next;
    if (!m) return;
    for (c = m->idle; c; c = next) {
        next = c->next;
        conn_close(c);
    }
    pthread_mutex_destroy(&m->mu);
    pthread_mutex_destroy(&m->write_mu);
    pthread_rwlock_destroy(&m->mk_lock);
    json_decref(m->multikey);
    cache_free(m);
    free(m->path);
    free(m);
}

static ad_code sqlite_ping(ad_meta *base, ad_error *err)
{
    sqlite_meta *m = (sqlite_meta *)base;
    conn *c;
    sqlite3_stmt *st;
    ad_code rc = conn_get(m, &c, err);
    if (rc) return rc;
    st = stmt(c, ST_PING, err);
    if (!st)
        rc = AD_E_UNAVAILABLE;
    else if (sqlite3_step(st) != SQLITE_ROW)
        rc = ad_fail(err, AD_E_UNAVAILABLE, "meta store %s: %s", m->path, sqlite3_errmsg(c->db));
    if (st) sqlite3_reset(st);
    conn_put(m, c);
    return rc;
}

/* --- reads --- */

/* A row of (doc, rev, mtime) into *out. */
static ad_code doc_from_row(sqlite3_stmt *st, ad_doc *out, ad_error *err)
{
    int n = sqlite3_column_bytes(st, 0);
    out->json = malloc((size_t)n + 1);
    if (!out->json) return ad_fail(err, AD_E_NOMEM, "out of memory");
    memcpy(out->json, sqlite3_column_text(st, 0), (size_t)n);
    out->json[n] = '\0';
    out->len = (size_t)n;
    out->rev = sqlite3_column_int64(st, 1);
    out->mtime = sqlite3_column_int64(st, 2);
    return AD_OK;
}

static ad_code sqlite_get(ad_meta *base, const char *id, ad_doc *out, ad_error *err)
{
    sqlite_meta *m = (sqlite_meta *)base;
    conn *c;
    sqlite3_stmt *st;
    uint64_t gen = 0;
    int step;
    ad_code rc;
    if (cache_lookup(m, id, out, &gen)) return AD_OK;
    rc = conn_get(m, &c, err);
    if (rc) return rc;
    st = stmt(c, ST_GET, err);
    if (!st) {
        conn_put(m, c);
        return err ? err->code : AD_E_BACKEND;
    }
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        rc = doc_from_row(st, out, err);
        if (!rc) cache_fill(m, id, out, gen);
    } else if (step == SQLITE_DONE) {
        rc = ad_fail(err, AD_E_NOT_FOUND, "asset %s not found", id);
    } else {
        rc = db_fail(c->db, err, "reading an asset");
    }
    sqlite3_reset(st);
    conn_put(m, c);
    return rc;
}

/* --- the path index --- */

typedef struct indexer {
    sqlite_meta *m;
    conn *c;
    sqlite3_stmt *st;
    int64_t seq;
    ad_buf path;
    json_t *scalars; /* path -> number of scalar values in this document */
} indexer;

static ad_code index_row(indexer *ix, int t, const json_t *v, ad_error *err)
{
    sqlite3_stmt *st = ix->st;
    sqlite3_reset(st);
    sqlite3_bind_text(st, 1, ix->path.data, (int)ix->path.len, SQLITE_STATIC);
    sqlite3_bind_int(st, 2, t);
    switch (t) {
    case T_STR:
        sqlite3_bind_text(st, 3, json_string_value(v), (int)json_string_length(v), SQLITE_STATIC);
        break;
    case T_NUM:
        if (json_is_integer(v))
            sqlite3_bind_int64(st, 3, json_integer_value(v));
        else
            sqlite3_bind_double(st, 3, json_real_value(v));
        break;
    case T_BOOL:
        sqlite3_bind_int(st, 3, json_is_true(v));
        break;
    default:
        sqlite3_bind_text(st, 3, "", 0, SQLITE_STATIC);
    }
    sqlite3_bind_int64(st, 4, ix->seq);
    if (sqlite3_step(st) != SQLITE_DONE) return db_fail(ix->c->db, err, "indexing an asset");
    if (t != T_ARRAY && t != T_OBJECT) {
        json_t *n = json_object_get(ix->scalars, ix->path.data);
        if (n)
            json_integer_set(n, json_integer_value(n) + 1);
        else if (json_object_set_new(ix->scalars, ix->path.data, json_integer(1)))
            return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    return AD_OK;
}

static ad_code index_value(indexer *ix, const json_t *v, ad_error *err)
{
    ad_code rc = AD_OK;
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        const char *key;
        json_t *child;
        size_t keep = ix->path.len;
        if (keep) rc = index_row(ix, T_OBJECT, v, err);
        json_object_foreach((json_t *)v, key, child)
        {
            if (rc) break;
            ix->path.len = keep;
            if (keep) rc = ad_buf_append(&ix->path, ".", 1);
            if (!rc) rc = ad_buf_puts(&ix->path, key);
            if (!rc) rc = index_value(ix, child, err);
        }
        ix->path.len = keep;
        if (ix->path.data) ix->path.data[keep] = '\0';
        if (rc && rc != AD_E_BACKEND && rc != AD_E_UNAVAILABLE)
            rc = ad_fail(err, rc, "indexing an asset: path too long or out of memory");
        return rc;
    }
    case JSON_ARRAY: {
        size_t i;
        rc = index_row(ix, T_ARRAY, v, err);
        for (i = 0; !rc && i < json_array_size(v); i++)
            rc = index_value(ix, json_array_get(v, i), err);
        return rc;
    }
    case JSON_STRING:
        return index_row(ix, T_STR, v, err);
    case JSON_INTEGER:
    case JSON_REAL:
        return index_row(ix, T_NUM, v, err);
    case JSON_TRUE:
    case JSON_FALSE:
        return index_row(ix, T_BOOL, v, err);
    case JSON_NULL:
        /* a null at a schema field is the normalized "not set": every
         * document has the field, so the row would narrow nothing */
        if (ad_schema_field_path(ix->path.data)) return AD_OK;
        return index_row(ix, T_NULL, v, err);
    }
    return AD_OK;
}

/* Records the paths this document holds several scalar values at. */
static ad_code note_multikey(indexer *ix, ad_error *err)
{
    const char *path;
    json_t *n;
    json_object_foreach(ix->scalars, path, n)
    {
        sqlite3_stmt *st;
        if (json_integer_value(n) < 2 || is_multikey(ix->m, path)) continue;
        st = stmt(ix->c, ST_MULTIKEY_INSERT, err);
        if (!st) return err ? err->code : AD_E_BACKEND;
        sqlite3_bind_text(st, 1, path, -1, SQLITE_STATIC);
        if (sqlite3_step(st) != SQLITE_DONE) return db_fail(ix->c->db, err, "indexing an asset");
        sqlite3_reset(st);
        /* set before commit: a rolled-back write leaves the path marked,
         * which only makes later queries more cautious */
        pthread_rwlock_wrlock(&ix->m->mk_lock);
        json_object_set_new(ix->m->multikey, path, json_true());
        pthread_rwlock_unlock(&ix->m->mk_lock);
    }
    return AD_OK;
}

static ad_code index_doc(sqlite_meta *m, conn *c, int64_t seq, const json_t *doc, ad_error *err)
{
    indexer ix = {m, c, stmt(c, ST_PATH_INSERT, err), seq, {0}, json_object()};
    ad_code rc;
    if (!ix.st || !ix.scalars) {
        json_decref(ix.scalars);
        return ix.st ? ad_fail(err, AD_E_NOMEM, "out of memory") : err ? err->code : AD_E_BACKEND;
    }
    ad_buf_init(&ix.path, 64 * 1024);
    rc = index_value(&ix, doc, err);
    sqlite3_reset(ix.st);
    if (!rc) rc = note_multikey(&ix, err);
    ad_buf_free(&ix.path);
    json_decref(ix.scalars);
    return rc;
}

/* --- writes --- */

static ad_code exec_st(conn *c, enum stmt_id id, ad_error *err)
{
    sqlite3_stmt *st = stmt(c, id, err);
    int rc;
    if (!st) return err ? err->code : AD_E_BACKEND;
    rc = sqlite3_step(st);
    sqlite3_reset(st);
    if (rc != SQLITE_DONE && rc != SQLITE_ROW) return db_fail(c->db, err, "writing");
    return AD_OK;
}

static ad_code begin_tx(sqlite_meta *m, conn *c, ad_error *err)
{
    ad_code rc;
    pthread_mutex_lock(&m->write_mu);
    rc = exec_st(c, ST_BEGIN, err);
    if (rc) pthread_mutex_unlock(&m->write_mu);
    return rc;
}

/* Commits (or, after a failure, rolls back) what begin_tx started. */
static ad_code finish_tx(sqlite_meta *m, conn *c, ad_code rc, ad_error *err)
{
    if (rc == AD_OK) rc = exec_st(c, ST_COMMIT, err);
    if (rc != AD_OK && !sqlite3_get_autocommit(c->db)) exec_st(c, ST_ROLLBACK, NULL);
    pthread_mutex_unlock(&m->write_mu);
    return rc;
}

static ad_code sqlite_insert(ad_meta *base, const char *id, const char *json, size_t len,
                             const json_t *doc, int64_t *rev, ad_error *err)
{
    sqlite_meta *m = (sqlite_meta *)base;
    conn *c;
    sqlite3_stmt *st;
    ad_code rc = conn_get(m, &c, err);
    if (rc) return rc;
    rc = begin_tx(m, c, err);
    if (!rc) {
        st = stmt(c, ST_INSERT, err);
        if (!st) {
            rc = err ? err->code : AD_E_BACKEND;
        } else {
            int step;
            sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, json, (int)len, SQLITE_STATIC);
            step = sqlite3_step(st);
            if (step == SQLITE_CONSTRAINT)
                rc = ad_fail(err, AD_E_EXISTS, "asset_id: asset %s already exists", id);
            else if (step != SQLITE_DONE)
                rc = db_fail(c->db, err, "inserting an asset");
            sqlite3_reset(st);
        }
        if (!rc) rc = index_doc(m, c, sqlite3_last_insert_rowid(c->db), doc, err);
        rc = finish_tx(m, c, rc, err);
    }
    if (!rc) *rev = 1;
    conn_put(m, c);
    return rc;
}

/* Inside a transaction: finds id's row and checks its revision. */
static ad_code lookup_for_write(conn *c, const char *id, int64_t expect_rev, int64_t *seq,
                                int64_t *rev, ad_error *err)
{
    sqlite3_stmt *st = stmt(c, ST_LOOKUP, err);
    int step;
    ad_code rc = AD_OK;
    if (!st) return err ? err->code : AD_E_BACKEND;
    sqlite3_bind_text(st, 1, id, -1, SQLITE_STATIC);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        *seq = sqlite3_column_int64(st, 0);
        *rev = sqlite3_column_int64(st, 1);
        if (expect_rev != AD_REV_ANY && expect_rev != *rev)
            rc =
                ad_fail(err, AD_E_PRECONDITION, "asset %s is at revision %lld, not %lld (If-Match)",
                        id, (long long)*rev, (long long)expect_rev);
    } else if (step == SQLITE_DONE) {
        rc = ad_fail(err, AD_E_NOT_FOUND, "asset %s not found", id);
    } else {
        rc = db_fail(c->db, err, "reading an asset");
    }
    sqlite3_reset(st);
    return rc;
}

static ad_code exec_seq(conn *c, enum stmt_id id, int64_t seq, ad_error *err)
{
    sqlite3_stmt *st = stmt(c, id, err);
    int step;
    if (!st) return err ? err->code : AD_E_BACKEND;
    sqlite3_bind_int64(st, 1, seq);
    step = sqlite3_step(st);
    sqlite3_reset(st);
    return step == SQLITE_DONE ? AD_OK : db_fail(c->db, err, "writing");
}

static ad_code update_doc(conn *c, int64_t seq, const char *json, size_t len, ad_error *err)
{
    sqlite3_stmt *st = stmt(c, ST_UPDATE, err);
    ad_code rc = AD_OK;
    if (!st) return err ? err->code : AD_E_BACKEND;
    sqlite3_bind_text(st, 1, json, (int)len, SQLITE_STATIC);
    sqlite3_bind_int64(st, 2, seq);
    if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(c->db, err, "updating");
    sqlite3_reset(st);
    return rc;
}

/* Replaces (json given) or deletes (json NULL) an existing document under
 * the revision rule, in one transaction, with the cache bracketed around
 * the write. */
static ad_code write_existing(sqlite_meta *m, const char *id, int64_t expect_rev, const char *json,
                              size_t len, const json_t *doc, int64_t *rev, ad_error *err)
{
    conn *c;
    int64_t seq = 0, cur = 0;
    ad_code rc = conn_get(m, &c, err);
    if (rc) return rc;
    cache_write(m, id, true);
    rc = begin_tx(m, c, err);
    if (!rc) {
        rc = lookup_for_write(c, id, expect_rev, &seq, &cur, err);
        if (!rc) rc = json ? update_doc(c, seq, json, len, err) : exec_seq(c, ST_DELETE, seq, err);
        if (!rc) rc = exec_seq(c, ST_PATHS_DELETE, seq, err);
        if (!rc && json) rc = index_doc(m, c, seq, doc, err);
        rc = finish_tx(m, c, rc, err);
    }
    cache_write(m, id, false);
    if (!rc && rev) *rev = cur + 1;
    conn_put(m, c);
    return rc;
}

static ad_code sqlite_replace(ad_meta *base, const char *id, int64_t expect_rev, const char *json,
                              size_t len, const json_t *doc, int64_t *rev, ad_error *err)
{
    return write_existing((sqlite_meta *)base, id, expect_rev, json, len, doc, rev, err);
}

static ad_code sqlite_remove(ad_meta *base, const char *id, int64_t expect_rev, ad_error *err)
{
    return write_existing((sqlite_meta *)base, id, expect_rev, NULL, 0, NULL, NULL, err);
}

/* --- compiling a filter into index conditions --- */

static bool path_has_number(const char *p)
{
    while (*p) {
        const char *end = strchr(p, '.');
        size_t n = end ? (size_t)(end - p) : strlen(p), i;
        bool digits = n > 0;
        for (i = 0; i < n; i++) digits = digits && p[i] >= '0' && p[i] <= '9';
        if (digits) return true;
        p += n + (end ? 1 : 0);
    }
    return false;
}

static bool scalar(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

static bool indexable(const ad_filter *f);

static bool field_indexable(const ad_filter *f)
{
    size_t i;
    if (!f->path || path_has_number(f->path)) return false;
    switch (f->op) {
    case AD_FOP_EQ:
        return !json_is_null(f->arg);
    case AD_FOP_GT:
    case AD_FOP_GTE:
    case AD_FOP_LT:
    case AD_FOP_LTE:
        return scalar(f->arg);
    case AD_FOP_IN:
    case AD_FOP_ALL:
        if (json_array_size(f->arg) == 0) return false;
        for (i = 0; i < json_array_size(f->arg); i++)
            if (json_is_null(json_array_get(f->arg, i))) return false;
        return true;
    case AD_FOP_EXISTS:
    case AD_FOP_TYPE:
        /* nulls at schema fields are not indexed (see index_value) */
        return (f->op == AD_FOP_TYPE || json_is_true(f->arg)) && !ad_schema_field_path(f->path);
    case AD_FOP_REGEX:
    case AD_FOP_SIZE:
    case AD_FOP_ELEM_MATCH:
        return true;
    default:
        return false;
    }
}

static bool indexable(const ad_filter *f)
{
    size_t i;
    switch (f->op) {
    case AD_FOP_AND:
        for (i = 0; i < f->nkids; i++)
            if (indexable(f->kids[i])) return true;
        return false;
    case AD_FOP_OR:
        for (i = 0; i < f->nkids; i++)
            if (!indexable(f->kids[i])) return false;
        return f->nkids > 0 && f->nkids <= SQL_MAX_OR;
    case AD_FOP_TRUE:
    case AD_FOP_NOR:
    case AD_FOP_NOT:
    case AD_FOP_NE:
    case AD_FOP_NIN:
        return false;
    default:
        return field_indexable(f);
    }
}

/* True when the index conditions select exactly the matching documents. */
static bool exact(const ad_filter *f)
{
    size_t i;
    switch (f->op) {
    case AD_FOP_TRUE:
        return true;
    case AD_FOP_AND:
    case AD_FOP_OR:
        for (i = 0; i < f->nkids; i++)
            if (!exact(f->kids[i]) || !indexable(f->kids[i])) return false;
        return f->nkids > 0 && f->nkids <= SQL_MAX_AND;
    case AD_FOP_EQ:
        return json_is_string(f->arg) && ad_schema_string_path(f->path);
    case AD_FOP_IN:
        for (i = 0; i < json_array_size(f->arg); i++)
            if (!json_is_string(json_array_get(f->arg, i))) return false;
        return json_array_size(f->arg) > 0 && ad_schema_string_path(f->path);
    default:
        return false;
    }
}

/* SQL under construction: text plus the values to bind, in order. */
typedef struct sqlc {
    ad_buf sql;
    json_t *binds; /* array; strings, numbers, booleans as 0/1 */
    ad_code rc;
    sqlite_meta *m;
} sqlc;

static void put(sqlc *q, const char *s)
{
    if (!q->rc) q->rc = ad_buf_puts(&q->sql, s);
}

static void bind(sqlc *q, json_t *v)
{
    if (!v)
        q->rc = AD_E_NOMEM;
    else if (!q->rc && json_array_append_new(q->binds, v))
        q->rc = AD_E_NOMEM;
    else if (q->rc)
        json_decref(v);
}

static int type_tag(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_STRING:
        return T_STR;
    case JSON_INTEGER:
    case JSON_REAL:
        return T_NUM;
    case JSON_TRUE:
    case JSON_FALSE:
        return T_BOOL;
    case JSON_ARRAY:
        return T_ARRAY;
    case JSON_OBJECT:
        return T_OBJECT;
    default:
        return T_NULL;
    }
}

static json_t *bind_value(const json_t *v)
{
    if (json_is_boolean(v)) return json_integer(json_is_true(v));
    return json_deep_copy(v);
}

/* Appends "SELECT seq FROM asset_paths WHERE path = ? [AND t = ? [AND v op ?]]". */
static void select_path(sqlc *q, const char *path, int t, const char *op, const json_t *v)
{
    put(q, "SELECT seq FROM asset_paths WHERE path = ?");
    bind(q, json_string(path));
    if (t < 0) return;
    put(q, " AND t = ?");
    bind(q, json_integer(t));
    if (!op || t == T_ARRAY || t == T_OBJECT) return;
    put(q, " AND v ");
    put(q, op);
    put(q, " ?");
    bind(q, bind_value(v));
}

static void cond_path(sqlc *q, const char *path, int t, const char *op, const json_t *v)
{
    put(q, "a.seq IN (");
    select_path(q, path, t, op, v);
    put(q, ")");
}

static void emit(sqlc *q, const ad_filter *f, const char *prefix);

/* $in: one index range per type of value, "v IN (…)" for the scalars. */
static void emit_in(sqlc *q, const json_t *values, const char *path)
{
    static const int tags[] = {T_STR, T_NUM, T_BOOL, T_ARRAY, T_OBJECT};
    size_t i, k, selects = 0;
    put(q, "a.seq IN (");
    for (k = 0; k < sizeof(tags) / sizeof(tags[0]); k++) {
        size_t n = 0;
        for (i = 0; i < json_array_size(values); i++) {
            const json_t *v = json_array_get(values, i);
            if (type_tag(v) != tags[k]) continue;
            if (n++ == 0) {
                if (selects++) put(q, " UNION ALL ");
                select_path(q, path, tags[k], NULL, NULL);
                if (tags[k] == T_ARRAY || tags[k] == T_OBJECT) break;
                put(q, " AND v IN (?");
            } else {
                put(q, ", ?");
            }
            bind(q, bind_value(v));
        }
        if (n && tags[k] != T_ARRAY && tags[k] != T_OBJECT) put(q, ")");
    }
    put(q, ")");
}

/* The path of f as seen from the document root (inside $elemMatch, the
 * element's path is the prefix). */
static char *full_path(const char *prefix, const char *path)
{
    size_t n;
    char *s;
    if (!prefix || !*prefix) return strdup(path);
    if (!*path) return strdup(prefix);
    n = strlen(prefix) + strlen(path) + 2;
    s = malloc(n);
    if (s) snprintf(s, n, "%s.%s", prefix, path);
    return s;
}

static void emit_field(sqlc *q, const ad_filter *f, const char *path)
{
    static const char *const cmp[] = {
        [AD_FOP_GT] = ">", [AD_FOP_GTE] = ">=", [AD_FOP_LT] = "<", [AD_FOP_LTE] = "<="};
    size_t i;
    switch (f->op) {
    case AD_FOP_EQ:
        cond_path(q, path, type_tag(f->arg), "=", f->arg);
        break;
    case AD_FOP_GT:
    case AD_FOP_GTE:
    case AD_FOP_LT:
    case AD_FOP_LTE:
        cond_path(q, path, type_tag(f->arg), cmp[f->op], f->arg);
        break;
    case AD_FOP_IN:
        emit_in(q, f->arg, path);
        break;
    case AD_FOP_ALL:
        put(q, "(");
        for (i = 0; i < json_array_size(f->arg) && i < SQL_MAX_AND; i++) {
            const json_t *v = json_array_get(f->arg, i);
            if (i) put(q, " AND ");
            cond_path(q, path, type_tag(v), "=", v);
        }
        put(q, ")");
        break;
    case AD_FOP_EXISTS:
    case AD_FOP_TYPE:
        /* inside $elemMatch the relative path may be a schema field, whose
         * nulls are not indexed: no narrowing then */
        if (ad_schema_field_path(path))
            put(q, "1");
        else
            cond_path(q, path, -1, NULL, NULL);
        break;
    case AD_FOP_REGEX:
        cond_path(q, path, T_STR, NULL, NULL);
        break;
    case AD_FOP_SIZE:
        cond_path(q, path, T_ARRAY, NULL, NULL);
        break;
    case AD_FOP_ELEM_MATCH:
        put(q, "(");
        cond_path(q, path, T_ARRAY, NULL, NULL);
        if (f->nkids && indexable(f->kids[0])) {
            put(q, " AND ");
            emit(q, f->kids[0], path);
        }
        put(q, ")");
        break;
    default:
        q->rc = AD_E_INTERNAL;
    }
}

static bool is_range(const ad_filter *f)
{
    return (f->op == AD_FOP_GT || f->op == AD_FOP_GTE || f->op == AD_FOP_LT ||
            f->op == AD_FOP_LTE) &&
           scalar(f->arg);
}

static bool is_lower_bound(ad_fop op)
{
    return op == AD_FOP_GT || op == AD_FOP_GTE;
}

/* The index of a later range in and->kids that can share one index scan
 * with kid i (the other bound, same path, same kind of value), or SIZE_MAX.
 * Two bounds may only share a scan when one value must satisfy both: on a
 * path no document holds two values at, or on the element itself inside
 * $elemMatch. Otherwise {"a": [400, 600]} matches {"$gte": 500, "$lt": 510}
 * through two different values. */
static size_t range_partner(const sqlc *q, const ad_filter *and, size_t i, const char *prefix,
                            const bool *used)
{
    const ad_filter *a = and->kids[i];
    size_t j;
    char *path;
    bool single;
    if (!is_range(a) || !field_indexable(a)) return SIZE_MAX;
    for (j = i + 1; j < and->nkids; j++) {
        const ad_filter *b = and->kids[j];
        if (!used[j] && is_range(b) && is_lower_bound(b->op) != is_lower_bound(a->op) &&
            strcmp(a->path, b->path) == 0 && type_tag(a->arg) == type_tag(b->arg))
            break;
    }
    if (j == and->nkids) return SIZE_MAX;
    if (prefix && !*a->path) return j;
    path = full_path(prefix, a->path);
    single = path && !is_multikey(q->m, path);
    free(path);
    return single ? j : SIZE_MAX;
}

static void emit_range(sqlc *q, const ad_filter *a, const ad_filter *b, const char *prefix)
{
    static const char *const cmp[] = {[AD_FOP_GT] = " AND v > ?",
                                      [AD_FOP_GTE] = " AND v >= ?",
                                      [AD_FOP_LT] = " AND v < ?",
                                      [AD_FOP_LTE] = " AND v <= ?"};
    char *path = full_path(prefix, a->path);
    if (!path) {
        q->rc = AD_E_NOMEM;
        return;
    }
    put(q, "a.seq IN (");
    select_path(q, path, type_tag(a->arg), NULL, NULL);
    put(q, cmp[a->op]);
    bind(q, bind_value(a->arg));
    put(q, cmp[b->op]);
    bind(q, bind_value(b->arg));
    put(q, ")");
    free(path);
}

/* Appends the conditions of an $and's indexable kids but skip, joined by
 * AND, at most SQL_MAX_AND of them; returns how many. */
static size_t emit_and(sqlc *q, const ad_filter *f, const char *prefix, const ad_filter *skip)
{
    bool *used = calloc(f->nkids ? f->nkids : 1, sizeof(*used));
    size_t i, n = 0;
    if (!used) {
        q->rc = AD_E_NOMEM;
        return 0;
    }
    for (i = 0; i < f->nkids && n < SQL_MAX_AND; i++) {
        const ad_filter *k = f->kids[i];
        size_t j;
        if (used[i] || k == skip || !indexable(k)) continue;
        if (n++) put(q, " AND ");
        j = range_partner(q, f, i, prefix, used);
        if (j != SIZE_MAX) {
            used[j] = true;
            emit_range(q, k, f->kids[j], prefix);
        } else {
            emit(q, k, prefix);
        }
    }
    free(used);
    return n;
}

/* Appends the condition of an indexable node. */
static void emit(sqlc *q, const ad_filter *f, const char *prefix)
{
    size_t i, n = 0;
    if (f->op == AD_FOP_AND) {
        put(q, "(");
        emit_and(q, f, prefix, NULL);
        put(q, ")");
        return;
    }
    if (f->op == AD_FOP_OR) {
        put(q, "(");
        for (i = 0; i < f->nkids; i++) {
            if (n++) put(q, " OR ");
            emit(q, f->kids[i], prefix);
        }
        put(q, ")");
        return;
    }
    {
        char *path = full_path(prefix, f->path);
        if (!path) {
            q->rc = AD_E_NOMEM;
            return;
        }
        emit_field(q, f, path);
        free(path);
    }
}

/* An equality on a scalar that can drive the query: its index rows come in
 * creation order (seq is the last key column), so a query in creation order
 * reads them in place and a LIMIT stops the scan early. */
static const ad_filter *eq_driver(const ad_filter *f)
{
    size_t i;
    if (f->op == AD_FOP_EQ && scalar(f->arg) && field_indexable(f)) return f;
    if (f->op != AD_FOP_AND) return NULL;
    for (i = 0; i < f->nkids; i++)
        if (eq_driver(f->kids[i]) == f->kids[i]) return f->kids[i];
    return NULL;
}

static bool others_indexable(const ad_filter *f, const ad_filter *skip)
{
    size_t i;
    for (i = 0; f->op == AD_FOP_AND && i < f->nkids; i++)
        if (f->kids[i] != skip && indexable(f->kids[i])) return true;
    return false;
}

static bool sort_path_ok(const char *p)
{
    if (!*p || *p == '.') return false;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || (*p == '.' && p[1] && p[1] != '.')))
            return false;
    return true;
}

/* "$.a.b[0].c" for json_extract from a dotted path whose numeric parts
 * index arrays. */
static char *json_path(const char *dotted)
{
    ad_buf b;
    const char *p = dotted;
    ad_buf_init(&b, 4096);
    ad_buf_puts(&b, "$");
    while (*p) {
        const char *end = strchr(p, '.');
        size_t n = end ? (size_t)(end - p) : strlen(p), i;
        bool digits = true;
        for (i = 0; i < n; i++) digits = digits && p[i] >= '0' && p[i] <= '9';
        if (digits)
            ad_buf_printf(&b, "[%.*s]", (int)n, p);
        else
            ad_buf_printf(&b, ".\"%.*s\"", (int)n, p);
        p += n + (end ? 1 : 0);
    }
    return ad_buf_steal(&b, NULL);
}

/* Builds the query of qr; with narrow false, a scan of every document in
 * order (the cursor then evaluates the whole filter). */
static ad_code build_query(const ad_query *qr, bool narrow, sqlc *q, bool *is_exact, ad_error *err)
{
    const ad_filter *f = qr->filter, *drv = NULL;
    *is_exact = narrow ? exact(f) : f->op == AD_FOP_TRUE;
    if (narrow && indexable(f) && !qr->sort_path) drv = eq_driver(f);
    if (drv) {
        put(q, "SELECT a.doc FROM asset_paths p JOIN assets a ON a.seq = p.seq"
               " WHERE p.path = ? AND p.t = ? AND p.v = ?");
        bind(q, json_string(drv->path));
        bind(q, json_integer(type_tag(drv->arg)));
        bind(q, bind_value(drv->arg));
        if (others_indexable(f, drv)) {
            put(q, " AND (");
            emit_and(q, f, NULL, drv);
            put(q, ")");
        }
    } else {
        put(q, "SELECT a.doc FROM assets a");
        if (narrow && indexable(f)) {
            put(q, " WHERE ");
            emit(q, f, NULL);
        }
    }
    if (qr->sort_path) {
        char *jp;
        if (!sort_path_ok(qr->sort_path))
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "sort: \"%s\" is not a field path (letters, digits, _ and .)",
                           qr->sort_path);
        if (strcmp(qr->sort_path, "asset_id") == 0) {
            put(q, qr->sort_desc ? " ORDER BY a.id DESC" : " ORDER BY a.id");
        } else {
            jp = json_path(qr->sort_path);
            if (!jp) return ad_fail(err, AD_E_NOMEM, "out of memory");
            put(q, " ORDER BY json_extract(a.doc, ?)");
            bind(q, json_string(jp));
            free(jp);
            put(q, qr->sort_desc ? " DESC, a.seq DESC" : ", a.seq");
        }
    } else {
        put(q, drv ? " ORDER BY p.seq" : " ORDER BY a.seq");
    }
    if (*is_exact) {
        put(q, " LIMIT ? OFFSET ?");
        bind(q, json_integer(qr->limit > INT64_MAX ? -1 : (json_int_t)qr->limit));
        bind(q, json_integer(qr->skip > INT64_MAX ? INT64_MAX : (json_int_t)qr->skip));
    }
    if (q->rc) return ad_fail(err, q->rc, "building the query failed");
    return AD_OK;
}

static void bind_all(sqlite3_stmt *st, const json_t *binds)
{
    size_t i;
    for (i = 0; i < json_array_size(binds); i++) {
        const json_t *v = json_array_get(binds, i);
        int pos = (int)i + 1;
        if (json_is_string(v))
            sqlite3_bind_text(st, pos, json_string_value(v), (int)json_string_length(v),
                              SQLITE_TRANSIENT);
        else if (json_is_integer(v))
            sqlite3_bind_int64(st, pos, json_integer_value(v));
        else if (json_is_real(v))
            sqlite3_bind_double(st, pos, json_real_value(v));
    }
}

static ad_code sqlite_find(ad_meta *base, const ad_query *qr, ad_meta_cursor **out, ad_error *err)
{
    sqlite_meta *m = (sqlite_meta *)base;
    sqlc q = {{0}, NULL, AD_OK, m};
    ad_meta_cursor *cur = calloc(1, sizeof(*cur));
    bool is_exact = false, narrow;
    ad_code rc = cur ? conn_get(m, &cur->c, err) : ad_fail(err, AD_E_NOMEM, "out of memory");
    *out = NULL;
    ad_buf_init(&q.sql, 256 * 1024);
    /* a filter too big for narrowing SQL (SQLite's compound-select and
     * expression-depth limits) still gets its answer, from a scan */
    for (narrow = true; !rc; narrow = false) {
        ad_buf_reset(&q.sql);
        json_decref(q.binds);
        q.binds = json_array();
        q.rc = q.binds ? AD_OK : AD_E_NOMEM;
        rc = build_query(qr, narrow, &q, &is_exact, err);
        if (!rc) {
            cur->m = m;
            cur->st = stmt_cached(cur->c, q.sql.data, err);
            if (!cur->st) rc = err ? err->code : AD_E_BACKEND;
        }
        if (!rc || !narrow || rc == AD_E_BAD_REQUEST || rc == AD_E_NOMEM) break;
        ad_log(AD_LOG_DEBUG, "msg=\"filter too large to narrow; scanning\" error=\"%s\"",
               err ? err->msg : "");
        rc = AD_OK;
        ad_error_clear(err);
    }
    if (!rc) {
        bind_all(cur->st, q.binds);
        cur->filter = is_exact ? NULL : qr->filter;
        cur->skip = is_exact ? 0 : qr->skip;
        cur->limit = is_exact ? UINT64_MAX : qr->limit;
        *out = cur;
    } else if (cur) {
        if (cur->c) conn_put(m, cur->c);
        free(cur);
    }
    ad_buf_free(&q.sql);
    json_decref(q.binds);
    return rc;
}

static ad_code sqlite_cursor_next(ad_meta_cursor *cur, const char **json, size_t *len,
                                  ad_error *err)
{
    *json = NULL;
    *len = 0;
    while (!cur->done && cur->limit > 0) {
        const char *text;
        size_t n;
        int step = sqlite3_step(cur->st);
        if (step == SQLITE_DONE) break;
        if (step != SQLITE_ROW) return db_fail(cur->c->db, err, "reading a list");
        text = (const char *)sqlite3_column_text(cur->st, 0);
        n = (size_t)sqlite3_column_bytes(cur->st, 0);
        if (cur->filter) {
            json_t *doc = json_loadb(text, n, 0, NULL);
            int hit;
            if (!doc) return ad_fail(err, AD_E_BACKEND, "a stored document is not JSON");
            hit = ad_filter_match(cur->filter, doc, err);
            json_decref(doc);
            if (hit < 0) return err ? err->code : AD_E_FILTER;
            if (!hit) continue;
        }
        if (cur->skip) {
            cur->skip--;
            continue;
        }
        if (cur->limit != UINT64_MAX) cur->limit--;
        *json = text;
        *len = n;
        return AD_OK;
    }
    cur->done = true;
    return AD_OK;
}

static void sqlite_cursor_close(ad_meta_cursor *cur)
{
    if (!cur) return;
    if (cur->st) {
        sqlite3_reset(cur->st);
        sqlite3_clear_bindings(cur->st);
    }
    conn_put(cur->m, cur->c);
    free(cur);
}

/* --- records (tokens, buckets): a plain table, no index, no cache, so a
 * change by another process sharing the file is seen at once --- */

static ad_code rec_row(conn *c, const char *ns, const char *key, int64_t *rev, ad_error *err)
{
    sqlite3_stmt *st = stmt_cached(c, "SELECT rev FROM records WHERE ns = ?1 AND key = ?2", err);
    int step;
    if (!st) return err ? err->code : AD_E_BACKEND;
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    step = sqlite3_step(st);
    *rev = step == SQLITE_ROW ? sqlite3_column_int64(st, 0) : 0;
    sqlite3_reset(st);
    if (step != SQLITE_ROW && step != SQLITE_DONE) return db_fail(c->db, err, "reading a record");
    return AD_OK;
}

/* Inside a transaction: the revision rule of the record slots (meta.h). */
static ad_code rec_rule(const char *ns, const char *key, int64_t cur, int64_t expect_rev,
                        bool creating, ad_error *err)
{
    if (creating && expect_rev == 0 && cur)
        return ad_fail(err, AD_E_EXISTS, "%s %s already exists", ns, key);
    if (expect_rev != 0 && expect_rev != AD_REV_ANY && !cur)
        return ad_fail(err, AD_E_NOT_FOUND, "%s %s not found", ns, key);
    if (!creating && !cur) return ad_fail(err, AD_E_NOT_FOUND, "%s %s not found", ns, key);
    if (expect_rev > 0 && cur != expect_rev)
        return ad_fail(err, AD_E_PRECONDITION, "%s %s is at revision %lld, not %lld", ns, key,
                       (long long)cur, (long long)expect_rev);
    return AD_OK;
}

static ad_code sqlite_rec_put(ad_meta *base, const char *ns, const char *key, const char *json,
                              size_t len, int64_t expect_rev, int64_t *rev, ad_error *err)
{
    sqlite_meta *m = (sqlite_meta *)base;
    conn *c;
    int64_t cur = 0;
    ad_code rc = ad_rec_check(ns, key, len, err);
    if (!rc) rc = conn_get(m, &c, err);
    if (rc) return rc;
    rc = begin_tx(m, c, err);
    if (!rc) {
        sqlite3_stmt *st;
        rc = rec_row(c, ns, key, &cur, err);
        if (!rc) rc = rec_rule(ns, key, cur, expect_rev, true, err);
        st = rc ? NULL
                : stmt_cached(c,
                              "INSERT OR REPLACE INTO records(ns, key, rev, doc, mtime) "
                              "VALUES (?1, ?2, ?3, ?4, unixepoch())",
                              err);
        if (!rc && !st) rc = err ? err->code : AD_E_BACKEND;
        if (st) {
            sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
            sqlite3_bind_int64(st, 3, cur + 1);
            sqlite3_bind_text(st, 4, json, (int)len, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(c->db, err, "writing a record");
            sqlite3_reset(st);
        }
        rc = finish_tx(m, c, rc, err);
    }
    conn_put(m, c);
    if (!rc && rev) *rev = cur + 1;
    return rc;
}

static ad_code sqlite_rec_get(ad_meta *base, const char *ns, const char *key, ad_doc *out,
                              ad_error *err)
{
    sqlite_meta *m = (sqlite_meta *)base;
    conn *c;
    sqlite3_stmt *st;
    int step;
    ad_code rc = ad_rec_check(ns, key, 0, err);
    if (!rc) rc = conn_get(m, &c, err);
    if (rc) return rc;
    st = stmt_cached(c, "SELECT doc, rev, mtime FROM records WHERE ns = ?1 AND key = ?2", err);
    if (!st) {
        conn_put(m, c);
        return err ? err->code : AD_E_BACKEND;
    }
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
    step = sqlite3_step(st);
    if (step == SQLITE_ROW) {
        rc = doc_from_row(st, out, err);
    } else if (step == SQLITE_DONE) {
        rc = ad_fail(err, AD_E_NOT_FOUND, "%s %s not found", ns, key);
    } else {
        rc = db_fail(c->db, err, "reading a record");
    }
    sqlite3_reset(st);
    conn_put(m, c);
    return rc;
}

static ad_code sqlite_rec_remove(ad_meta *base, const char *ns, const char *key, int64_t expect_rev,
                                 ad_error *err)
{
    sqlite_meta *m = (sqlite_meta *)base;
    conn *c;
    int64_t cur = 0;
    ad_code rc = ad_rec_check(ns, key, 0, err);
    if (!rc) rc = conn_get(m, &c, err);
    if (rc) return rc;
    rc = begin_tx(m, c, err);
    if (!rc) {
        sqlite3_stmt *st;
        rc = rec_row(c, ns, key, &cur, err);
        if (!rc) rc = rec_rule(ns, key, cur, expect_rev, false, err);
        st = rc ? NULL : stmt_cached(c, "DELETE FROM records WHERE ns = ?1 AND key = ?2", err);
        if (!rc && !st) rc = err ? err->code : AD_E_BACKEND;
        if (st) {
            sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
            sqlite3_bind_text(st, 2, key, -1, SQLITE_STATIC);
            if (sqlite3_step(st) != SQLITE_DONE) rc = db_fail(c->db, err, "removing a record");
            sqlite3_reset(st);
        }
        rc = finish_tx(m, c, rc, err);
    }
    conn_put(m, c);
    return rc;
}

static ad_code sqlite_rec_list(ad_meta *base, const char *ns, ad_rec_fn fn, void *ctx,
                               ad_error *err)
{
    sqlite_meta *m = (sqlite_meta *)base;
    conn *c;
    sqlite3_stmt *st;
    int step;
    ad_code rc = ad_rec_check(ns, "-", 0, err);
    if (!rc) rc = conn_get(m, &c, err);
    if (rc) return rc;
    st = stmt_cached(c, "SELECT key, doc, rev FROM records WHERE ns = ?1 ORDER BY key", err);
    if (!st) {
        conn_put(m, c);
        return err ? err->code : AD_E_BACKEND;
    }
    sqlite3_bind_text(st, 1, ns, -1, SQLITE_STATIC);
    while ((step = sqlite3_step(st)) == SQLITE_ROW) {
        if (fn(ctx, (const char *)sqlite3_column_text(st, 0),
               (const char *)sqlite3_column_text(st, 1), (size_t)sqlite3_column_bytes(st, 1),
               sqlite3_column_int64(st, 2)))
            break;
    }
    if (step != SQLITE_ROW && step != SQLITE_DONE) rc = db_fail(c->db, err, "listing records");
    sqlite3_reset(st);
    conn_put(m, c);
    return rc;
}

const ad_meta_ops ad_meta_sqlite_ops = {
    .version = AD_META_OPS_VERSION,
    .scheme = "sqlite",
    .open = sqlite_open,
    .close = sqlite_close,
    .ping = sqlite_ping,
    .get = sqlite_get,
    .insert = sqlite_insert,
    .replace = sqlite_replace,
    .remove = sqlite_remove,
    .find = sqlite_find,
    .cursor_next = sqlite_cursor_next,
    .cursor_close = sqlite_cursor_close,
    .rec_put = sqlite_rec_put,
    .rec_get = sqlite_rec_get,
    .rec_remove = sqlite_rec_remove,
    .rec_list = sqlite_rec_list,
};
