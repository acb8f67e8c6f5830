/*
 * meta_pg.c — the PostgreSQL meta store (libpq): asset documents and the
 * record side table in a PostgreSQL database shared by any number of assetd
 * instances. URL: postgresql://… or postgres://… (libpq's connection URI;
 * see docs/backends/postgresql.md), plus two parameters of our own that are
 * taken out before the URI reaches libpq: schema=NAME (tables in that
 * schema, created if needed; [a-z0-9_], 1..63 bytes) and pool_max=N
 * (connections per process, default 16).
 *
 * Tables (created at open, under an advisory lock so instances starting
 * together do not race):
 *   assets(seq, id, rev, mtime, body, doc)
 *       body is the canonical JSON text exactly as the core stored it and is
 *       what reads return; doc is a JSONB copy for queries (made from the
 *       parsed document, see insert_doc), indexed with GIN jsonb_path_ops;
 *       seq (identity) is creation order; id is unique (COLLATE "C": byte
 *       order, as the embedded store sorts).
 *   asset_values(seq, path, num, str)
 *       the numbers (every path) and the fixed queries' strings of each
 *       document, kept by a trigger on assets; btree-indexed so ranges and
 *       common values with a LIMIT do not scan every document (see
 *       values_sql and meta_pg_sql.c).
 *   records(ns, key, rev, mtime, json)   the record slots.
 *   assetd_schema(version)
 *
 * Revision checks are part of the UPDATE's or DELETE's WHERE clause, so a
 * write never lands on a revision it did not check; only when no row was
 * touched is the current revision read, to tell "not found" from "changed".
 *
 * Lists: the filter is compiled to SQL by meta_pg_sql.c; when the SQL is
 * exact, skip and limit are in it too, otherwise every row is checked with
 * ad_filter_match here. Rows stream from the server in libpq's single-row
 * mode; the cursor keeps its connection until the last row. A cursor closed
 * early reads on for a few milliseconds (the end of a LIMIT is usually in
 * flight) and only then cancels its query (PQcancel, a connection of its
 * own). Each connection keeps the last QUERY_CACHE list queries prepared:
 * their SQL depends only on the filter's shape, never on its values; they
 * run with their generic plan, except those whose best plan depends on
 * the values (a range narrowed through asset_values), which are sent
 * unprepared and planned with their values each time (set_plan_mode).
 *
 * Connections come from a pool (mutex + condition variable) of at most
 * pool_max; a caller waits up to POOL_WAIT_S for one, then gets
 * AD_E_UNAVAILABLE. A connection that fails at the connection level is
 * dropped, and an idle one is checked before reuse (PQconsumeInput sees the
 * server's goodbye after a restart), so when PostgreSQL comes back the next
 * call simply opens a new connection: no reopen of the store is needed.
 * Reads that fail on a reused connection are retried once on a fresh one.
 *
 * Errors: connection failures and server states that pass (shutdown,
 * too many connections, cancel, serialization, read-only standby) are
 * AD_E_UNAVAILABLE with PostgreSQL's reason; anything else is
 * AD_E_BACKEND with the SQLSTATE. The URL (it may hold a password) is never
 * put into a message.
 */
#include <errno.h>
#include <libpq-fe.h>
#include <poll.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/filter.h"
#include "store/meta.h"
#include "store/meta_pg.h"
#include "util/str.h"

extern const ad_meta_ops ad_meta_pg_ops;
extern const ad_meta_ops ad_meta_postgres_ops;

#define POOL_MAX_DEFAULT 16
#define POOL_MAX_LIMIT   1000
#define POOL_WAIT_S      10
#define SCHEMA_MAX       63
#define SCHEMA_VERSION   1
#define PARAMS_MAX       65535 /* the protocol's limit on bound parameters */
#define QUERY_CACHE      16    /* list queries kept prepared per connection */
#define CLOSE_DRAIN_MS   20    /* a closed cursor reads on this long before it cancels */
#define CLOSE_DRAIN_ROWS 256   /* or this many rows */
#define DDL_LOCK_KEY     "4242150001"

#define NOW "floor(extract(epoch FROM now()))::bigint"

enum stmt_id {
    ST_GET,
    ST_INSERT,
    ST_UPDATE,
    ST_DELETE,
    ST_REV,
    ST_PING,
    ST_REC_GET,
    ST_REC_INSERT,
    ST_REC_UPDATE,
    ST_REC_UPSERT,
    ST_REC_DELETE,
    ST_REC_REV,
    ST_REC_LIST,
    ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
    [ST_GET] = "SELECT body, rev, mtime FROM assets WHERE id = $1",
    /* $4/$5: the rows of asset_values for the trigger (see meta_pg_values.c),
     * set before the row is written and so before the trigger runs */
    [ST_INSERT] = "INSERT INTO assets(id, rev, mtime, body, doc) SELECT $1, 1, " NOW
                  ", $2, $3::jsonb FROM (SELECT pg_catalog.set_config('assetd.values', $4, true)"
                  " AS v) s WHERE s.v IS NOT NULL ON CONFLICT (id) DO NOTHING RETURNING rev",
    [ST_UPDATE] = "UPDATE assets SET body = $2, doc = $3::jsonb, rev = rev + 1, mtime = " NOW
                  " FROM (SELECT pg_catalog.set_config('assetd.values', $5, true) AS v) s"
                  " WHERE id = $1 AND s.v IS NOT NULL AND ($4::bigint < 0 OR rev = $4::bigint)"
                  " RETURNING rev",
    [ST_DELETE] = "DELETE FROM assets WHERE id = $1 AND ($2::bigint < 0 OR rev = $2::bigint)"
                  " RETURNING rev",
    [ST_REV] = "SELECT rev FROM assets WHERE id = $1",
    [ST_PING] = "SELECT count(*) FROM (SELECT 1 FROM assets LIMIT 1) x",
    [ST_REC_GET] = "SELECT json, rev, mtime FROM records WHERE ns = $1 AND key = $2",
    [ST_REC_INSERT] = "INSERT INTO records(ns, key, rev, mtime, json) VALUES ($1, $2, 1, " NOW
                      ", $3) ON CONFLICT (ns, key) DO NOTHING RETURNING rev",
    [ST_REC_UPDATE] = "UPDATE records SET json = $3, rev = rev + 1, mtime = " NOW
                      " WHERE ns = $1 AND key = $2 AND rev = $4::bigint RETURNING rev",
    [ST_REC_UPSERT] = "INSERT INTO records(ns, key, rev, mtime, json) VALUES ($1, $2, 1, " NOW
                      ", $3) ON CONFLICT (ns, key) DO UPDATE SET json = EXCLUDED.json,"
                      " rev = records.rev + 1, mtime = EXCLUDED.mtime RETURNING rev",
    [ST_REC_DELETE] = "DELETE FROM records WHERE ns = $1 AND key = $2"
                      " AND ($3::bigint < 0 OR rev = $3::bigint) RETURNING rev",
    [ST_REC_REV] = "SELECT rev FROM records WHERE ns = $1 AND key = $2",
    [ST_REC_LIST] = "SELECT key, json, rev FROM records WHERE ns = $1 ORDER BY key",
};

/* The assets table. Rows up to toast_tuple_target stay as they are; above
 * it PostgreSQL first compresses body (read only for the rows sent) and,
 * doc being STORAGE MAIN, compresses doc only if the row is still too big:
 * a scan that evaluates jsonpath on doc then reads it without
 * decompressing (about 6 times faster here than doc compressed with the
 * default pglz). "%s" is " COMPRESSION lz4" where the server has it. */
#define ASSETS_SQL                                                                                 \
    "CREATE TABLE assets ("                                                                        \
    " seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,"                                        \
    " id text COLLATE \"C\" NOT NULL UNIQUE,"                                                      \
    " rev bigint NOT NULL,"                                                                        \
    " mtime bigint NOT NULL,"                                                                      \
    " body text%s NOT NULL,"                                                                       \
    " doc jsonb%s NOT NULL) WITH (toast_tuple_target = 4096);"                                     \
    "ALTER TABLE assets ALTER COLUMN doc SET STORAGE MAIN;"                                        \
    "CREATE INDEX assets_doc_idx ON assets USING gin (doc jsonb_path_ops);"

static const char *const schema_sql =
    "CREATE TABLE IF NOT EXISTS records ("
    " ns text COLLATE \"C\" NOT NULL,"
    " key text COLLATE \"C\" NOT NULL,"
    " rev bigint NOT NULL,"
    " mtime bigint NOT NULL,"
    " json text NOT NULL,"
    " PRIMARY KEY (ns, key));"
    "CREATE TABLE IF NOT EXISTS assetd_schema (version int NOT NULL);"
    "INSERT INTO assetd_schema SELECT 1 WHERE NOT EXISTS (SELECT 1 FROM assetd_schema);";

/* The value table (see meta_pg_sql.c for how queries use it): one row per
 * distinct (path, number) of a document — every dotted path of at most
 * PG_VALUES_PATH_MAX bytes, arrays at any level walked through, so it
 * holds at least every value MongoDB's traversal reaches — and per
 * (path, string) for the fixed-query paths; multi marks the numbers of a
 * path under which the document has more than one. A trigger keeps it in step
 * with assets in the same statement, whoever writes (another assetd
 * version, psql). Extended statistics on (path, str) tell the planner how
 * common a value is under a path (the columns are far from independent).
 * The trigger function runs with the search_path of its creation (the
 * store's schema), not the writer's. Made once, with a backfill, when the
 * table is missing (stores made before it existed). */
#define XSTR(x) STR(x)
#define STR(x)  #x
/* clang-format off */
static const char *const values_sql =
    "CREATE TABLE asset_values (seq bigint NOT NULL, path text COLLATE \"C\" NOT NULL,"
    " num numeric, str text COLLATE \"C\", multi boolean NOT NULL DEFAULT false);"
    "CREATE INDEX asset_values_num ON asset_values (path, num, seq) WHERE num IS NOT NULL;"
    "CREATE INDEX asset_values_str ON asset_values (path, str, seq) WHERE str IS NOT NULL;"
    "CREATE INDEX asset_values_seq ON asset_values (seq);"
    "CREATE INDEX asset_values_multi ON asset_values (path, seq) WHERE multi;"
    "CREATE STATISTICS asset_values_path_str (mcv) ON path, str FROM asset_values;"
    "CREATE STATISTICS asset_values_path_num (mcv) ON path, num FROM asset_values;"
    "CREATE TRIGGER assets_values AFTER INSERT OR DELETE OR UPDATE OF doc ON assets"
    " FOR EACH ROW EXECUTE FUNCTION assetd_values_sync();"
    "INSERT INTO asset_values (seq, path, num, str, multi)"
    " SELECT a.seq, v.path, v.num, v.str, v.multi FROM assets a, assetd_values(a.doc) v;";

/* The value table's functions, (re)made at every open before values_sql:
 * a newer assetd brings its version of them to an existing store. */
static const char *const values_fn_sql =
    "CREATE OR REPLACE FUNCTION assetd_values(d jsonb)"
    " RETURNS TABLE(path text, num numeric, str text, multi boolean)"
    " LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $f$"
    " WITH RECURSIVE w(path, v) AS ("
    "   SELECT e.key, e.value FROM jsonb_each(d) e"
    "   UNION ALL"
    "   SELECT CASE WHEN c.key IS NULL THEN w.path ELSE w.path || '.' || c.key END, c.value"
    "   FROM w CROSS JOIN LATERAL ("
    "     SELECT o.key, o.value FROM jsonb_each("
    "       CASE WHEN jsonb_typeof(w.v) = 'object' THEN w.v END) o"
    "     UNION ALL"
    "     SELECT NULL, a.value FROM jsonb_array_elements("
    "       CASE WHEN jsonb_typeof(w.v) = 'array' THEN w.v END) a) c"
    "   WHERE octet_length(w.path) <= " XSTR(PG_VALUES_PATH_MAX) ")"
    " SELECT d.path, d.num, d.str,"
    "   d.num IS NOT NULL AND count(d.num) OVER (PARTITION BY d.path) > 1"
    " FROM (SELECT DISTINCT w.path,"
    "   CASE WHEN jsonb_typeof(w.v) = 'number' THEN (w.v #>> '{}')::numeric END AS num,"
    "   CASE WHEN jsonb_typeof(w.v) = 'string' THEN w.v #>> '{}' END AS str"
    "  FROM w WHERE octet_length(w.path) <= " XSTR(PG_VALUES_PATH_MAX) " AND"
    "   (jsonb_typeof(w.v) = 'number' OR (jsonb_typeof(w.v) = 'string'"
    "    AND octet_length(w.v #>> '{}') <= " XSTR(PG_VALUES_STR_MAX)
    "    AND w.path IN (" PG_VALUES_STR_PATHS_SQL ")))) d"
    " $f$;"
    "CREATE OR REPLACE FUNCTION assetd_values_sync() RETURNS trigger LANGUAGE plpgsql"
    " SET search_path FROM CURRENT AS $f$"
    " DECLARE given text := current_setting('assetd.values', true);"
    " BEGIN"
    "   IF TG_OP <> 'INSERT' THEN DELETE FROM asset_values WHERE seq = OLD.seq; END IF;"
    "   IF TG_OP <> 'DELETE' THEN"
    "     IF coalesce(given, '') <> '' THEN"
    "       PERFORM set_config('assetd.values', '', true);"
    "       INSERT INTO asset_values (seq, path, num, str, multi)"
    "         SELECT NEW.seq, x.p, x.n, x.s, coalesce(x.m, false)"
    "         FROM jsonb_to_recordset(given::jsonb) AS x(p text, n numeric, s text, m boolean);"
    "     ELSE"
    "       INSERT INTO asset_values (seq, path, num, str, multi)"
    "         SELECT NEW.seq, v.path, v.num, v.str, v.multi FROM assetd_values(NEW.doc) v;"
    "     END IF;"
    "   END IF;"
    "   RETURN NULL;"
    " END $f$;";
/* clang-format on */

/* Is the assets table missing, can the server compress with lz4, is the
 * value table missing? */
static const char *const probe_sql =
    "SELECT to_regclass('assets') IS NULL,"
    " current_setting('server_version_num')::int >= 140000 AND EXISTS (SELECT 1 FROM"
    " pg_settings WHERE name = 'default_toast_compression' AND 'lz4' = ANY(enumvals)),"
    " to_regclass('asset_values') IS NULL";

/* A list query prepared on a connection: the SQL of a filter depends only
 * on the filter's shape (values are parameters), so the fixed queries and
 * repeated searches reuse a few statements and skip parsing and analysis. */
typedef struct prepared_query {
    char *sql;
    unsigned id; /* named assetd_q<id> */
} prepared_query;

typedef struct pconn {
    PGconn *pg;
    unsigned prepared; /* bit i: stmt_sql[i] is prepared on this connection */
    bool reused;       /* came from the idle list (may have gone stale) */
    bool custom_plans; /* plan_cache_mode is force_custom_plan (see set_plan_mode) */
    prepared_query queries[QUERY_CACHE];
    unsigned next_slot, next_id;
    struct pconn *next;
} pconn;

typedef struct pg_meta {
    ad_meta base;
    char *url;    /* libpq's URI, our own parameters removed */
    char *schema; /* NULL: the server's search_path decides */
    pthread_mutex_t mu;
    pthread_cond_t cv;
    pconn *idle;
    unsigned open; /* connections in use or idle */
    unsigned max;
} pg_meta;

struct ad_meta_cursor {
    pg_meta *m;
    pconn *c;
    PGresult *row;           /* the row handed out last */
    const ad_filter *filter; /* NULL when the SQL is exact */
    uint64_t skip, limit;
    bool active; /* the query still has results to read */
};

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* libpq's message on one line: runs of whitespace become one space. */
static void one_line(const char *in, char *out, size_t cap)
{
    size_t n = 0;
    for (; in && *in && n + 1 < cap; in++) {
        bool space = *in == '\n' || *in == '\t' || *in == '\r' || *in == ' ';
        if (space && (n == 0 || out[n - 1] == ' ')) continue;
        out[n++] = space ? ' ' : *in;
    }
    while (n && out[n - 1] == ' ') n--;
    out[n] = '\0';
}

/* SQLSTATEs after which trying again later can succeed. */
static bool transient_state(const char *s)
{
    return strncmp(s, "08", 2) == 0      /* connection exception */
           || strncmp(s, "53", 2) == 0   /* insufficient resources, too many connections */
           || strncmp(s, "57P0", 4) == 0 /* admin/crash shutdown, cannot connect now */
           || strcmp(s, "57014") == 0    /* query canceled (statement_timeout) */
           || strcmp(s, "40001") == 0    /* serialization failure */
           || strcmp(s, "40P01") == 0    /* deadlock detected */
           || strcmp(s, "55P03") == 0    /* lock not available */
           || strcmp(s, "25006") == 0;   /* read-only transaction (a standby) */
}

static ad_code pg_fail(PGconn *pg, const PGresult *r, ad_error *err, const char *what)
{
    const char *state = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    const char *raw = r ? PQresultErrorMessage(r) : NULL;
    char msg[AD_ERROR_MSG_MAX];
    if (!raw || !*raw) raw = pg ? PQerrorMessage(pg) : "no connection";
    one_line(raw, msg, sizeof(msg));
    if (!pg || PQstatus(pg) != CONNECTION_OK || !state || transient_state(state))
        return ad_fail(err, AD_E_UNAVAILABLE, "PostgreSQL unavailable while %s: %s", what, msg);
    return ad_fail(err, AD_E_BACKEND, "PostgreSQL failed while %s: %s (SQLSTATE %s)", what, msg,
                   state);
}

/* ------------------------------------------------------------------------ */
/* Connections                                                              */
/* ------------------------------------------------------------------------ */

static void conn_free(pconn *c)
{
    if (!c) return;
    PQfinish(c->pg);
    for (size_t i = 0; i < QUERY_CACHE; i++) free(c->queries[i].sql);
    free(c);
}

/* Server notices ("relation already exists, skipping") are not errors and
 * would only clutter stderr. */
static void ignore_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

/* Opens a connection, sets its search_path and checks the server. */
/* Prepared lists keep their generic plan (force_generic_plan): the value
 * table's join (see meta_pg_sql.c) is right for any value, and "auto"
 * would plan again on every call of a list without LIMIT, whose custom
 * plans look cheaper than the generic one. A list whose best plan depends
 * on its values (a range narrowed through asset_values) is sent
 * unprepared under force_custom_plan (an unnamed statement too follows
 * plan_cache_mode). The mode is switched only when it changes: one round
 * trip. */
static ad_code set_plan_mode(pconn *c, bool custom, ad_error *err)
{
    PGresult *r = PQexec(c->pg, custom ? "SET plan_cache_mode = force_custom_plan"
                                       : "SET plan_cache_mode = force_generic_plan");
    ad_code rc = AD_OK;
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        rc = pg_fail(c->pg, r, err, "setting plan_cache_mode");
    else
        c->custom_plans = custom;
    PQclear(r);
    return rc;
}

static ad_code conn_new(pg_meta *m, pconn **out, ad_error *err)
{
    /* our defaults first: keywords in the URI override them; the client
     * encoding last, since every text we send and read is UTF-8 */
    const char *keys[] = {"connect_timeout", "application_name", "dbname", "client_encoding", NULL};
    const char *vals[] = {"5", "assetd", m->url, "UTF8", NULL};
    pconn *c = calloc(1, sizeof(*c));
    const char *enc;
    *out = NULL;
    if (!c) return ad_fail(err, AD_E_NOMEM, "out of memory");
    c->pg = PQconnectdbParams(keys, vals, 1);
    if (!c->pg) {
        free(c);
        return ad_fail(err, AD_E_NOMEM, "out of memory connecting to PostgreSQL");
    }
    if (PQstatus(c->pg) != CONNECTION_OK) {
        char msg[AD_ERROR_MSG_MAX];
        one_line(PQerrorMessage(c->pg), msg, sizeof(msg));
        conn_free(c);
        return ad_fail(err, AD_E_UNAVAILABLE, "PostgreSQL unreachable: %s", msg);
    }
    PQsetNoticeProcessor(c->pg, ignore_notice, NULL);
    if (PQserverVersion(c->pg) < 120000) {
        conn_free(c);
        return ad_fail(err, AD_E_BACKEND, "PostgreSQL 12 or later is needed (jsonpath)");
    }
    enc = PQparameterStatus(c->pg, "server_encoding");
    if (!enc || strcmp(enc, "UTF8") != 0) {
        ad_fail(err, AD_E_BACKEND, "the PostgreSQL database must use encoding UTF8, not %s",
                enc ? enc : "(unknown)");
        conn_free(c);
        return AD_E_BACKEND;
    }
    {
        ad_code rc = set_plan_mode(c, false, err);
        if (rc) {
            conn_free(c);
            return rc;
        }
    }
    if (m->schema) {
        char path[SCHEMA_MAX + 3];
        const char *pv[1] = {path};
        PGresult *r;
        snprintf(path, sizeof(path), "\"%s\"", m->schema); /* [a-z0-9_] only */
        r = PQexecParams(c->pg, "SELECT pg_catalog.set_config('search_path', $1, false)", 1, NULL,
                         pv, NULL, NULL, 0);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            ad_code rc = pg_fail(c->pg, r, err, "setting the schema");
            PQclear(r);
            conn_free(c);
            return rc;
        }
        PQclear(r);
    }
    *out = c;
    return AD_OK;
}

/* An idle connection is still usable: reads what the server may have sent
 * meanwhile (without blocking) and looks at the state. */
static bool conn_alive(pconn *c)
{
    PGnotify *n;
    if (!PQconsumeInput(c->pg)) return false;
    while ((n = PQnotifies(c->pg)) != NULL) PQfreemem(n);
    return PQstatus(c->pg) == CONNECTION_OK && PQtransactionStatus(c->pg) == PQTRANS_IDLE;
}

static void conn_drop(pg_meta *m, pconn *c)
{
    if (!c) return;
    conn_free(c);
    pthread_mutex_lock(&m->mu);
    m->open--;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

static ad_code conn_get(pg_meta *m, pconn **out, ad_error *err)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += POOL_WAIT_S;
    *out = NULL;
    pthread_mutex_lock(&m->mu);
    for (;;) {
        if (m->idle) {
            pconn *c = m->idle;
            m->idle = c->next;
            pthread_mutex_unlock(&m->mu);
            c->next = NULL;
            if (conn_alive(c)) {
                c->reused = true;
                *out = c;
                return AD_OK;
            }
            conn_drop(m, c);
            pthread_mutex_lock(&m->mu);
            continue;
        }
        if (m->open < m->max) {
            ad_code rc;
            m->open++;
            pthread_mutex_unlock(&m->mu);
            rc = conn_new(m, out, err);
            if (rc) {
                pthread_mutex_lock(&m->mu);
                m->open--;
                pthread_cond_signal(&m->cv);
                pthread_mutex_unlock(&m->mu);
            }
            return rc;
        }
        if (pthread_cond_timedwait(&m->cv, &m->mu, &until) == ETIMEDOUT && !m->idle &&
            m->open >= m->max) {
            pthread_mutex_unlock(&m->mu);
            return ad_fail(err, AD_E_UNAVAILABLE,
                           "all %u PostgreSQL connections stayed busy for %d s (pool_max)", m->max,
                           POOL_WAIT_S);
        }
    }
}

/* Returns a connection to the pool, or closes it when it is broken. */
static void conn_put(pg_meta *m, pconn *c)
{
    if (!c) return;
    if (PQstatus(c->pg) != CONNECTION_OK || PQtransactionStatus(c->pg) != PQTRANS_IDLE) {
        conn_drop(m, c);
        return;
    }
    pthread_mutex_lock(&m->mu);
    c->next = m->idle;
    m->idle = c;
    pthread_cond_signal(&m->cv);
    pthread_mutex_unlock(&m->mu);
}

/* ------------------------------------------------------------------------ */
/* Statements                                                               */
/* ------------------------------------------------------------------------ */

/* Runs fixed statement id (prepared on first use on this connection). NULL
 * on failure, with err set. Parameters in text format unless fmts says. */
static PGresult *exec_st(pconn *c, enum stmt_id id, int n, const char *const *vals, const int *lens,
                         const int *fmts, ad_code *rc, ad_error *err, const char *what)
{
    char name[32];
    PGresult *r;
    snprintf(name, sizeof(name), "assetd_%d", (int)id);
    if (!(c->prepared & (1u << id))) {
        r = PQprepare(c->pg, name, stmt_sql[id], 0, NULL);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            *rc = pg_fail(c->pg, r, err, what);
            PQclear(r);
            return NULL;
        }
        PQclear(r);
        c->prepared |= 1u << id;
    }
    r = PQexecPrepared(c->pg, name, n, vals, lens, fmts, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK) {
        *rc = pg_fail(c->pg, r, err, what);
        PQclear(r);
        return NULL;
    }
    *rc = AD_OK;
    return r;
}

/* Takes a connection, runs one statement, gives the connection back. A
 * read (retry) that failed on a reused connection is tried once more on a
 * fresh one: the server may have restarted since the connection was idle. */
static ad_code run(pg_meta *m, enum stmt_id id, int n, const char *const *vals, const int *lens,
                   const int *fmts, bool retry, PGresult **out, ad_error *err, const char *what)
{
    for (int attempt = 0;; attempt++) {
        pconn *c;
        ad_code rc = conn_get(m, &c, err);
        if (rc) return rc;
        *out = exec_st(c, id, n, vals, lens, fmts, &rc, err, what);
        if (rc == AD_E_UNAVAILABLE && PQstatus(c->pg) != CONNECTION_OK && retry && c->reused &&
            attempt == 0) {
            conn_drop(m, c);
            continue;
        }
        conn_put(m, c);
        return rc;
    }
}

static int64_t col_i64(const PGresult *r, int row, int col)
{
    return strtoll(PQgetvalue(r, row, col), NULL, 10);
}

/* Copies (json, rev, mtime) of row 0 into out. */
static ad_code fill_doc(const PGresult *r, ad_doc *out, ad_error *err)
{
    int n = PQgetlength(r, 0, 0);
    out->json = malloc((size_t)n + 1);
    if (!out->json) return ad_fail(err, AD_E_NOMEM, "out of memory");
    memcpy(out->json, PQgetvalue(r, 0, 0), (size_t)n);
    out->json[n] = '\0';
    out->len = (size_t)n;
    out->rev = col_i64(r, 0, 1);
    out->mtime = col_i64(r, 0, 2);
    return AD_OK;
}

/* ------------------------------------------------------------------------ */
/* Open, close, ping                                                        */
/* ------------------------------------------------------------------------ */

static void pg_close(ad_meta *base);

static bool schema_name_ok(const char *s, size_t n)
{
    if (n == 0 || n > SCHEMA_MAX || (s[0] >= '0' && s[0] <= '9')) return false;
    for (size_t i = 0; i < n; i++)
        if (!((s[i] >= 'a' && s[i] <= 'z') || (s[i] >= '0' && s[i] <= '9') || s[i] == '_'))
            return false;
    return true;
}

/* Takes schema= and pool_max= out of the URI's query; the rest is libpq's. */
static ad_code parse_url(pg_meta *m, const char *url, ad_error *err)
{
    const char *q = strchr(url, '?'), *p;
    ad_buf kept;
    ad_code rc = AD_OK;
    uint64_t max = POOL_MAX_DEFAULT;
    ad_buf_init(&kept, 1u << 20);
    rc = ad_buf_append(&kept, url, q ? (size_t)(q - url) : strlen(url));
    for (p = q ? q + 1 : NULL; !rc && p && *p;) {
        size_t len = strcspn(p, "&");
        if (len > 7 && strncmp(p, "schema=", 7) == 0) {
            if (!schema_name_ok(p + 7, len - 7))
                rc = ad_fail(err, AD_E_BAD_REQUEST,
                             "meta store URL: schema must be 1..%d bytes of a-z, 0-9 and _, "
                             "not starting with a digit",
                             SCHEMA_MAX);
            else if (!(m->schema = ad_strndup(p + 7, len - 7)))
                rc = ad_fail(err, AD_E_NOMEM, "out of memory");
        } else if (len > 9 && strncmp(p, "pool_max=", 9) == 0) {
            char num[24];
            snprintf(num, sizeof(num), "%.*s", (int)(len - 9 < 23 ? len - 9 : 23), p + 9);
            if (!ad_parse_u64(num, POOL_MAX_LIMIT, &max) || max == 0)
                rc = ad_fail(err, AD_E_BAD_REQUEST, "meta store URL: pool_max must be 1..%d",
                             POOL_MAX_LIMIT);
        } else if (len) {
            rc = ad_buf_append(&kept, kept.len > (size_t)(q - url) ? "&" : "?", 1);
            if (!rc) rc = ad_buf_append(&kept, p, len);
        }
        p += len + (p[len] ? 1 : 0);
    }
    if (!rc && !kept.data) rc = ad_fail(err, AD_E_BAD_REQUEST, "meta store URL is empty");
    if (rc == AD_E_TOO_LARGE) rc = ad_fail(err, AD_E_BAD_REQUEST, "meta store URL is too long");
    if (!rc) m->url = ad_buf_steal(&kept, NULL);
    ad_buf_free(&kept);
    m->max = (unsigned)max;
    return rc;
}

/* Runs sql (statements without results) on c; false with err set. */
static bool exec_ddl(pconn *c, const char *sql, ad_code *rc, ad_error *err)
{
    PGresult *r = PQexec(c->pg, sql);
    ExecStatusType st = PQresultStatus(r);
    if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
        *rc = pg_fail(c->pg, r, err, "creating the tables");
        PQclear(r);
        return false;
    }
    PQclear(r);
    return true;
}

/* Creates the schema and tables if needed (one transaction, serialized
 * across instances by an advisory lock) and checks the schema version. */
static ad_code setup(pg_meta *m, pconn *c, ad_error *err)
{
    char sql[2048];
    PGresult *r = NULL;
    ad_code rc = AD_OK;
    bool ok = exec_ddl(c, "BEGIN; SELECT pg_advisory_xact_lock(" DDL_LOCK_KEY ")", &rc, err);
    if (ok && m->schema) {
        snprintf(sql, sizeof(sql), "CREATE SCHEMA IF NOT EXISTS \"%s\"", m->schema);
        ok = exec_ddl(c, sql, &rc, err);
    }
    if (ok) {
        r = PQexec(c->pg, probe_sql);
        if (PQresultStatus(r) != PGRES_TUPLES_OK) {
            rc = pg_fail(c->pg, r, err, "creating the tables");
            ok = false;
        }
    }
    if (ok && strcmp(PQgetvalue(r, 0, 0), "t") == 0) {
        const char *lz4 = strcmp(PQgetvalue(r, 0, 1), "t") == 0 ? " COMPRESSION lz4" : "";
        snprintf(sql, sizeof(sql), ASSETS_SQL, lz4, lz4);
        ok = exec_ddl(c, sql, &rc, err);
    }
    if (ok) ok = exec_ddl(c, values_fn_sql, &rc, err);
    if (ok && strcmp(PQgetvalue(r, 0, 2), "t") == 0) ok = exec_ddl(c, values_sql, &rc, err);
    PQclear(r);
    if (ok) ok = exec_ddl(c, schema_sql, &rc, err);
    if (ok) ok = exec_ddl(c, "COMMIT", &rc, err);
    if (!ok) {
        PQclear(PQexec(c->pg, "ROLLBACK"));
        return rc;
    }
    r = PQexec(c->pg, "SELECT max(version) FROM assetd_schema");
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        rc = pg_fail(c->pg, r, err, "reading the schema version");
    } else if (col_i64(r, 0, 0) > SCHEMA_VERSION) {
        rc = ad_fail(err, AD_E_BACKEND,
                     "the PostgreSQL tables are at schema version %lld, newer than this "
                     "assetd's %d",
                     (long long)col_i64(r, 0, 0), SCHEMA_VERSION);
    }
    PQclear(r);
    return rc;
}

static ad_code pg_open_as(const char *url, const ad_meta_ops *ops, ad_meta **out, ad_error *err)
{
    pg_meta *m = calloc(1, sizeof(*m));
    pconn *c = NULL;
    ad_code rc;
    *out = NULL;
    if (!m) return ad_fail(err, AD_E_NOMEM, "out of memory");
    m->base.ops = ops;
    pthread_mutex_init(&m->mu, NULL);
    pthread_cond_init(&m->cv, NULL);
    rc = parse_url(m, url, err);
    if (!rc) rc = conn_get(m, &c, err);
    if (!rc) rc = setup(m, c, err);
    conn_put(m, c);
    if (rc) {
        pg_close(&m->base);
        return rc;
    }
    *out = &m->base;
    return AD_OK;
}

static ad_code pg_open(const char *url, ad_meta **out, ad_error *err)
{
    if (strncmp(url, "postgresql://", 13) != 0)
        return ad_fail(err, AD_E_BAD_REQUEST, "meta store URL: expected postgresql://…");
    return pg_open_as(url, &ad_meta_pg_ops, out, err);
}

static ad_code pg_open_short(const char *url, ad_meta **out, ad_error *err)
{
    if (strncmp(url, "postgres://", 11) != 0)
        return ad_fail(err, AD_E_BAD_REQUEST, "meta store URL: expected postgres://…");
    return pg_open_as(url, &ad_meta_postgres_ops, out, err);
}

static void pg_close(ad_meta *base)
{
    pg_meta *m = (pg_meta *)base;
    pconn *c, *next;
    if (!m) return;
    for (c = m->idle; c; c = next) {
        next = c->next;
        conn_free(c);
    }
    pthread_mutex_destroy(&m->mu);
    pthread_cond_destroy(&m->cv);
    free(m->url);
    free(m->schema);
    free(m);
}

static ad_code pg_ping(ad_meta *base, ad_error *err)
{
    PGresult *r = NULL;
    ad_code rc = run((pg_meta *)base, ST_PING, 0, NULL, NULL, NULL, true, &r, err, "pinging");
    PQclear(r);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Documents                                                                */
/* ------------------------------------------------------------------------ */

static ad_code pg_get(ad_meta *base, const char *id, ad_doc *out, ad_error *err)
{
    const char *vals[1] = {id};
    PGresult *r = NULL;
    ad_code rc =
        run((pg_meta *)base, ST_GET, 1, vals, NULL, NULL, true, &r, err, "reading an asset");
    if (!rc && PQntuples(r) == 0) rc = ad_fail(err, AD_E_NOT_FOUND, "asset %s not found", id);
    if (!rc) rc = fill_doc(r, out, err);
    PQclear(r);
    return rc;
}

/* The JSONB copy of a document: written by jansson from the parsed
 * document, so its numbers read exactly like the literals meta_pg_sql.c
 * writes into jsonpath (whatever form the canonical text uses). */
static char *query_copy(const char *json, size_t len, const json_t *doc)
{
    if (doc) return json_dumps(doc, JSON_COMPACT);
    return ad_strndup(json, len);
}

/* Insert, update: id (text), body (binary text: exact bytes, no NUL
 * needed), doc (JSONB text). */
static ad_code write_doc(pg_meta *m, enum stmt_id id, const char *asset_id, const char *json,
                         size_t len, const json_t *doc, int64_t expect, PGresult **r, ad_error *err)
{
    char rev[24];
    json_t *parsed = doc ? NULL : json_loadb(json, len, 0, NULL);
    char *copy = query_copy(json, len, doc);
    char *values = pg_values_json(doc ? doc : parsed); /* "" lets the trigger walk */
    const char *vals[5] = {asset_id, json, copy, rev, values};
    int lens[5] = {0, (int)len, 0, 0, 0}, fmts[5] = {0, 1, 0, 0, 0};
    ad_code rc;
    json_decref(parsed);
    if (!copy || !values) {
        free(copy);
        free(values);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    if (len > INT32_MAX) {
        free(copy);
        free(values);
        return ad_fail(err, AD_E_TOO_LARGE, "document too large");
    }
    snprintf(rev, sizeof(rev), "%lld", (long long)expect);
    if (id == ST_INSERT) { /* $1 $2 $3 $4=values */
        vals[3] = values;
        rc = run(m, id, 4, vals, lens, fmts, false, r, err, "inserting an asset");
    } else {
        rc = run(m, id, 5, vals, lens, fmts, false, r, err, "replacing an asset");
    }
    free(copy);
    free(values);
    return rc;
}

static ad_code pg_insert(ad_meta *base, const char *id, const char *json, size_t len,
                         const json_t *doc, int64_t *rev, ad_error *err)
{
    PGresult *r = NULL;
    ad_code rc = write_doc((pg_meta *)base, ST_INSERT, id, json, len, doc, 0, &r, err);
    if (!rc && PQntuples(r) == 0)
        rc = ad_fail(err, AD_E_EXISTS, "asset_id: asset %s already exists", id);
    if (!rc) *rev = 1;
    PQclear(r);
    return rc;
}

/* After a write touched no row: not found, or at another revision. */
static ad_code why_not(pg_meta *m, enum stmt_id rev_st, int n, const char *const *vals,
                       const char *what, int64_t expect, ad_error *err)
{
    PGresult *r = NULL;
    ad_code rc = run(m, rev_st, n, vals, NULL, NULL, true, &r, err, "reading a revision");
    if (!rc && PQntuples(r) == 0)
        rc = ad_fail(err, AD_E_NOT_FOUND, "%s not found", what);
    else if (!rc)
        rc = ad_fail(err, AD_E_PRECONDITION, "%s is at revision %lld, not %lld (If-Match)", what,
                     (long long)col_i64(r, 0, 0), (long long)expect);
    PQclear(r);
    return rc;
}

static ad_code pg_replace(ad_meta *base, const char *id, int64_t expect_rev, const char *json,
                          size_t len, const json_t *doc, int64_t *rev, ad_error *err)
{
    pg_meta *m = (pg_meta *)base;
    PGresult *r = NULL;
    char what[AD_ERROR_MSG_MAX];
    const char *vals[1] = {id};
    ad_code rc = write_doc(m, ST_UPDATE, id, json, len, doc, expect_rev, &r, err);
    if (!rc && PQntuples(r) == 1) *rev = col_i64(r, 0, 0);
    if (!rc && PQntuples(r) == 0) {
        snprintf(what, sizeof(what), "asset %.300s", id);
        rc = why_not(m, ST_REV, 1, vals, what, expect_rev, err);
    }
    PQclear(r);
    return rc;
}

static ad_code pg_remove(ad_meta *base, const char *id, int64_t expect_rev, ad_error *err)
{
    pg_meta *m = (pg_meta *)base;
    PGresult *r = NULL;
    char rev[24], what[AD_ERROR_MSG_MAX];
    const char *vals[2] = {id, rev};
    ad_code rc;
    snprintf(rev, sizeof(rev), "%lld", (long long)expect_rev);
    rc = run(m, ST_DELETE, 2, vals, NULL, NULL, false, &r, err, "deleting an asset");
    if (!rc && PQntuples(r) == 0) {
        snprintf(what, sizeof(what), "asset %.300s", id);
        rc = why_not(m, ST_REV, 1, vals, what, expect_rev, err);
    }
    PQclear(r);
    return rc;
}

/* ------------------------------------------------------------------------ */
/* Lists                                                                    */
/* ------------------------------------------------------------------------ */

/* Writes into name the prepared statement for sql on c, preparing it
 * first (in place of the least recently prepared one) when needed. */
static ad_code prepare_query(pconn *c, const char *sql, char *name, size_t cap, ad_error *err)
{
    prepared_query *slot;
    PGresult *r;
    char *copy;
    for (size_t i = 0; i < QUERY_CACHE; i++) {
        if (c->queries[i].sql && strcmp(c->queries[i].sql, sql) == 0) {
            snprintf(name, cap, "assetd_q%u", c->queries[i].id);
            return AD_OK;
        }
    }
    slot = &c->queries[c->next_slot++ % QUERY_CACHE];
    if (slot->sql) {
        char drop[64];
        snprintf(drop, sizeof(drop), "DEALLOCATE assetd_q%u", slot->id);
        r = PQexec(c->pg, drop);
        if (PQresultStatus(r) != PGRES_COMMAND_OK) {
            ad_code rc = pg_fail(c->pg, r, err, "preparing a list");
            PQclear(r);
            return rc;
        }
        PQclear(r);
        free(slot->sql);
        slot->sql = NULL;
    }
    if (!(copy = strdup(sql))) return ad_fail(err, AD_E_NOMEM, "out of memory");
    snprintf(name, cap, "assetd_q%u", ++c->next_id);
    r = PQprepare(c->pg, name, sql, 0, NULL);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        ad_code rc = pg_fail(c->pg, r, err, "preparing a list");
        PQclear(r);
        free(copy);
        return rc;
    }
    PQclear(r);
    slot->sql = copy;
    slot->id = c->next_id;
    return AD_OK;
}

static ad_code pg_find(ad_meta *base, const ad_query *qr, ad_meta_cursor **out, ad_error *err)
{
    pg_meta *m = (pg_meta *)base;
    pg_sql q;
    bool exact = false;
    ad_meta_cursor *cur = NULL;
    char name[32];
    ad_code rc;
    *out = NULL;
    pg_sql_init(&q);
    rc = pg_sql_find(&q, qr, &exact, err);
    if (!rc && q.n > PARAMS_MAX)
        rc = ad_fail(err, AD_E_FILTER, "filter has too many values to send to PostgreSQL");
    if (!rc && !(cur = calloc(1, sizeof(*cur)))) rc = ad_fail(err, AD_E_NOMEM, "out of memory");
    if (!rc) rc = conn_get(m, &cur->c, err);
    if (!rc && q.one_shot != cur->c->custom_plans) rc = set_plan_mode(cur->c, q.one_shot, err);
    if (!rc && !q.one_shot) rc = prepare_query(cur->c, q.sql.data, name, sizeof(name), err);
    if (!rc && q.one_shot &&
        !PQsendQueryParams(cur->c->pg, q.sql.data, (int)q.n, NULL, (const char *const *)q.vals,
                           NULL, NULL, 0))
        rc = pg_fail(cur->c->pg, NULL, err, "starting a list");
    else if (!rc && !q.one_shot &&
             !PQsendQueryPrepared(cur->c->pg, name, (int)q.n, (const char *const *)q.vals, NULL,
                                  NULL, 0))
        rc = pg_fail(cur->c->pg, NULL, err, "starting a list");
    if (!rc && !PQsetSingleRowMode(cur->c->pg))
        rc = pg_fail(cur->c->pg, NULL, err, "starting a list");
    pg_sql_free(&q);
    if (rc) {
        if (cur) {
            /* a query that was sent must be read to its end */
            PGresult *r;
            while (cur->c && (r = PQgetResult(cur->c->pg)) != NULL) PQclear(r);
            conn_put(m, cur->c);
            free(cur);
        }
        return rc;
    }
    cur->m = m;
    cur->active = true;
    cur->filter = exact ? NULL : qr->filter;
    cur->skip = exact ? 0 : qr->skip;
    cur->limit = exact ? UINT64_MAX : qr->limit;
    *out = cur;
    return AD_OK;
}

/* Reads and drops every remaining result (blocks until the server is done). */
static void drain(ad_meta_cursor *cur)
{
    PGresult *r;
    while ((r = PQgetResult(cur->c->pg)) != NULL) PQclear(r);
    cur->active = false;
}

/* Is row text a match under the cursor's filter? 1, 0, or -1 with err. */
static int row_matches(ad_meta_cursor *cur, const char *text, size_t n, ad_error *err)
{
    json_t *doc;
    int hit;
    if (!cur->filter) return 1;
    doc = json_loadb(text, n, 0, NULL);
    if (!doc) {
        ad_fail(err, AD_E_BACKEND, "a stored document is not JSON");
        return -1;
    }
    hit = ad_filter_match(cur->filter, doc, err);
    json_decref(doc);
    return hit;
}

static ad_code pg_cursor_next(ad_meta_cursor *cur, const char **json, size_t *len, ad_error *err)
{
    *json = NULL;
    *len = 0;
    PQclear(cur->row);
    cur->row = NULL;
    while (cur->active && cur->limit > 0) {
        PGresult *r = PQgetResult(cur->c->pg);
        ExecStatusType st;
        if (!r) {
            cur->active = false;
            break;
        }
        st = PQresultStatus(r);
        if (st == PGRES_SINGLE_TUPLE) {
            const char *text = PQgetvalue(r, 0, 0);
            size_t n = (size_t)PQgetlength(r, 0, 0);
            int hit = row_matches(cur, text, n, err);
            if (hit < 0) {
                PQclear(r);
                return err ? err->code : AD_E_FILTER;
            }
            if (!hit || cur->skip) { /* not a match, or one to skip */
                if (hit) cur->skip--;
                PQclear(r);
                continue;
            }
            if (cur->limit != UINT64_MAX) cur->limit--;
            cur->row = r;
            *json = text;
            *len = n;
            return AD_OK;
        }
        if (st == PGRES_TUPLES_OK) { /* the end of the rows; NULL follows */
            PQclear(r);
            continue;
        }
        {
            ad_code rc = pg_fail(cur->c->pg, r, err, "reading a list");
            PQclear(r);
            drain(cur);
            return rc;
        }
    }
    return AD_OK;
}

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Ends the cursor's query. Usually it is done or nearly (the rest of a
 * LIMIT, the end of a result): read and drop what comes for a short while.
 * A query still sending after that is cancelled — PQcancel costs a new
 * connection to the server, so it is the last resort. */
static void finish_query(ad_meta_cursor *cur)
{
    PGconn *pg = cur->c->pg;
    int64_t until = now_ms() + CLOSE_DRAIN_MS;
    int rows = 0;
    while (cur->active) {
        int64_t left = until - now_ms();
        struct pollfd pfd = {PQsocket(pg), POLLIN, 0};
        if (PQstatus(pg) != CONNECTION_OK || !PQconsumeInput(pg)) {
            cur->active = false; /* broken: conn_put drops it */
            return;
        }
        while (!PQisBusy(pg) && rows < CLOSE_DRAIN_ROWS) {
            PGresult *r = PQgetResult(pg);
            if (!r) {
                cur->active = false;
                return;
            }
            PQclear(r);
            rows++;
        }
        if (left <= 0 || rows >= CLOSE_DRAIN_ROWS) break;
        if (poll(&pfd, 1, (int)left) < 0 && errno != EINTR) break;
    }
    if (cur->active) {
        PGcancel *cancel = PQgetCancel(pg);
        char buf[256];
        if (cancel) {
            PQcancel(cancel, buf, sizeof(buf));
            PQfreeCancel(cancel);
        }
        drain(cur);
    }
}

static void pg_cursor_close(ad_meta_cursor *cur)
{
    if (!cur) return;
    PQclear(cur->row);
    if (cur->c) {
        finish_query(cur);
        conn_put(cur->m, cur->c);
    }
    free(cur);
}

/* ------------------------------------------------------------------------ */
/* Records                                                                  */
/* ------------------------------------------------------------------------ */

static ad_code pg_rec_put(ad_meta *base, const char *ns, const char *key, const char *json,
                          size_t len, int64_t expect_rev, int64_t *rev, ad_error *err)
{
    pg_meta *m = (pg_meta *)base;
    char exp[24], what[AD_ERROR_MSG_MAX];
    const char *vals[4] = {ns, key, json, exp};
    int lens[4] = {0, 0, (int)len, 0}, fmts[4] = {0, 0, 1, 0};
    enum stmt_id st = expect_rev == 0            ? ST_REC_INSERT
                      : expect_rev == AD_REV_ANY ? ST_REC_UPSERT
                                                 : ST_REC_UPDATE;
    PGresult *r = NULL;
    ad_code rc = ad_rec_check(ns, key, len, err);
    if (rc) return rc;
    if (expect_rev < 0 && expect_rev != AD_REV_ANY)
        return ad_fail(err, AD_E_BAD_REQUEST, "record revision %lld is not valid",
                       (long long)expect_rev);
    snprintf(exp, sizeof(exp), "%lld", (long long)expect_rev);
    snprintf(what, sizeof(what), "record %s/%.300s", ns, key);
    rc = run(m, st, st == ST_REC_UPDATE ? 4 : 3, vals, lens, fmts, false, &r, err,
             "writing a record");
    if (!rc && PQntuples(r) == 1) *rev = col_i64(r, 0, 0);
    if (!rc && PQntuples(r) == 0) {
        if (st == ST_REC_INSERT)
            rc = ad_fail(err, AD_E_EXISTS, "%s already exists", what);
        else
            rc = why_not(m, ST_REC_REV, 2, vals, what, expect_rev, err);
    }
    PQclear(r);
    return rc;
}

static ad_code pg_rec_get(ad_meta *base, const char *ns, const char *key, ad_doc *out,
                          ad_error *err)
{
    const char *vals[2] = {ns, key};
    PGresult *r = NULL;
    ad_code rc = ad_rec_check(ns, key, 0, err);
    if (!rc)
        rc = run((pg_meta *)base, ST_REC_GET, 2, vals, NULL, NULL, true, &r, err,
                 "reading a record");
    if (!rc && PQntuples(r) == 0)
        rc = ad_fail(err, AD_E_NOT_FOUND, "record %s/%.300s not found", ns, key);
    if (!rc) rc = fill_doc(r, out, err);
    PQclear(r);
    return rc;
}

static ad_code pg_rec_remove(ad_meta *base, const char *ns, const char *key, int64_t expect_rev,
                             ad_error *err)
{
    pg_meta *m = (pg_meta *)base;
    char exp[24], what[AD_ERROR_MSG_MAX];
    const char *vals[3] = {ns, key, exp};
    PGresult *r = NULL;
    ad_code rc = ad_rec_check(ns, key, 0, err);
    if (rc) return rc;
    snprintf(exp, sizeof(exp), "%lld", (long long)expect_rev);
    rc = run(m, ST_REC_DELETE, 3, vals, NULL, NULL, false, &r, err, "removing a record");
    if (!rc && PQntuples(r) == 0) {
        snprintf(what, sizeof(what), "record %s/%.300s", ns, key);
        rc = why_not(m, ST_REC_REV, 2, vals, what, expect_rev, err);
    }
    PQclear(r);
    return rc;
}

static ad_code pg_rec_list(ad_meta *base, const char *ns, ad_rec_fn fn, void *ctx, ad_error *err)
{
    const char *vals[1] = {ns};
    PGresult *r = NULL;
    ad_code rc = ad_rec_check(ns, "-", 0, err);
    if (!rc)
        rc = run((pg_meta *)base, ST_REC_LIST, 1, vals, NULL, NULL, true, &r, err,
                 "listing records");
    for (int i = 0; !rc && i < PQntuples(r); i++)
        if (fn(ctx, PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), (size_t)PQgetlength(r, i, 1),
               col_i64(r, i, 2)))
            break;
    PQclear(r);
    return rc;
}

#define PG_OPS(open_fn, scheme_name)                                                               \
    {                                                                                              \
        .version = AD_META_OPS_VERSION, .scheme = scheme_name, .open = open_fn, .close = pg_close, \
        .ping = pg_ping, .get = pg_get, .insert = pg_insert, .replace = pg_replace,                \
        .remove = pg_remove, .find = pg_find, .cursor_next = pg_cursor_next,                       \
        .cursor_close = pg_cursor_close, .rec_put = pg_rec_put, .rec_get = pg_rec_get,             \
        .rec_remove = pg_rec_remove, .rec_list = pg_rec_list,                                      \
    }

const ad_meta_ops ad_meta_pg_ops = PG_OPS(pg_open, "postgresql");
const ad_meta_ops ad_meta_postgres_ops = PG_OPS(pg_open_short, "postgres");
