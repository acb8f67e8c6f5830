/*
 * test_meta_pg.c — the PostgreSQL meta store adapter (store/meta_pg.c)
 * against a real PostgreSQL: the server named by ASSETD_TEST_PG_URL, which
 * scripts/servers/postgres.sh starts (scripts/test.sh does it before
 * CTest). Without the variable the test is skipped (exit 77) and says why.
 *
 * Every run works in fresh schemas of its own (?schema=…), dropped at the
 * end. What it checks:
 *   - the port's contract suite (meta_contract.c), and again through the
 *     postgres:// spelling of the scheme;
 *   - hostile strings (quotes, backslashes, jsonpath syntax, "'; DROP
 *     TABLE", control characters, unicode) in filter values, field names,
 *     ids and records stay data: the answers equal ad_filter_match's and
 *     the tables are still there;
 *   - two handles (two assetd instances) on one schema see each other's
 *     writes, and revision checks hold across them (no lost update);
 *     instances opening a new schema at once all succeed;
 *   - a cursor closed early on a result larger than the socket buffers
 *     (its query is cancelled) leaves the handle working;
 *   - open errors: unknown parameters, bad schema names, nothing listening;
 *   - PostgreSQL stopped (scripts/servers/postgres.sh stop, with the data
 *     directory ASSETD_TEST_PG_DIR): every call answers AD_E_UNAVAILABLE
 *     with the reason; started again: the same handle works, without
 *     reopening; restarted between two calls: the next call works.
 */
#include <jansson.h>
#include <libpq-fe.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "core/filter.h"
#include "meta_contract.h"
#include "store/meta.h"
#include "testjson.h"

#ifndef ASSETD_SOURCE_DIR
#define ASSETD_SOURCE_DIR "."
#endif

static const char *base_url;
static char schemas[16][64];
static int nschemas;

/* base_url with ?schema=<fresh name> (or &schema=); scheme replaced when given. */
static void fresh_url(char *out, size_t cap, const char *scheme, const char *extra)
{
    const char *rest = strstr(base_url, "://");
    char *name = schemas[nschemas < 16 ? nschemas++ : 15];
    snprintf(name, 64, "t_%ld_%d_%d", (long)time(NULL), (int)getpid(), nschemas);
    snprintf(out, cap, "%s%s%cschema=%s%s", scheme ? scheme : "", scheme ? rest : base_url,
             strchr(base_url, '?') ? '&' : '?', name, extra ? extra : "");
}

/* The same schema as url, a second handle. */
static ad_meta *open_or_fail(const char *url)
{
    ad_meta *m = NULL;
    ad_error err = {0};
    ad_code rc = ad_meta_open(url, &m, &err);
    CHECK(rc == AD_OK && m, "open %s: %s (%s)", url, ad_code_name(rc), err.msg);
    return m;
}

static void quiet(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

static void drop_schemas(void)
{
    PGconn *pg = PQconnectdb(base_url);
    PQsetNoticeProcessor(pg, quiet, NULL);
    for (int i = 0; i < nschemas && PQstatus(pg) == CONNECTION_OK; i++) {
        char *ident = PQescapeIdentifier(pg, schemas[i], strlen(schemas[i]));
        char sql[256];
        if (!ident) continue;
        snprintf(sql, sizeof(sql), "DROP SCHEMA IF EXISTS %s CASCADE", ident);
        PQclear(PQexec(pg, sql));
        PQfreemem(ident);
    }
    PQfinish(pg);
}

/* Does the schema of the last fresh_url still hold its assets table? */
static bool table_exists(const char *schema)
{
    PGconn *pg = PQconnectdb(base_url);
    const char *vals[1] = {schema};
    PGresult *r;
    bool yes;
    r = PQexecParams(pg,
                     "SELECT 1 FROM information_schema.tables WHERE table_schema = $1"
                     " AND table_name = 'assets'",
                     1, NULL, vals, NULL, NULL, 0);
    yes = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1;
    PQclear(r);
    PQfinish(pg);
    return yes;
}

static ad_code insert_text(ad_meta *m, const char *id, const char *text)
{
    json_t *doc = json_loads(text, 0, NULL);
    ad_error err = {0};
    int64_t rev = 0;
    ad_code rc = doc ? m->ops->insert(m, id, text, strlen(text), doc, &rev, &err) : AD_E_BAD_JSON;
    CHECK(rc == AD_OK, "insert %s: %s (%s)", id, ad_code_name(rc), err.msg);
    json_decref(doc);
    return rc;
}

/* The asset_ids find(filter) yields, comma-joined; "ERR:<code>" on failure. */
static void find_ids(ad_meta *m, json_t *filter, const char *sort, char *out, size_t cap)
{
    ad_filter *f = NULL;
    ad_meta_cursor *cur = NULL;
    ad_error err = {0};
    const char *text;
    size_t len, used = 0;
    ad_code rc;
    out[0] = '\0';
    if (ad_filter_parse(filter, &f, &err)) {
        snprintf(out, cap, "PARSE:%s", err.msg);
        return;
    }
    ad_query q = {f, sort, false, 0, UINT64_MAX};
    rc = m->ops->find(m, &q, &cur, &err);
    while (!rc && (rc = m->ops->cursor_next(cur, &text, &len, &err)) == AD_OK && text) {
        json_t *d = json_loadb(text, len, 0, NULL);
        const char *id = json_string_value(json_object_get(d, "asset_id"));
        if (used < cap)
            used +=
                (size_t)snprintf(out + used, cap - used, "%s%s", used ? "," : "", id ? id : "?");
        json_decref(d);
    }
    if (rc) snprintf(out, cap, "ERR:%s:%s", ad_code_name(rc), err.msg);
    m->ops->cursor_close(cur);
    ad_filter_free(f);
}

/* ------------------------------------------------------------------------ */

static const char *const hostile[] = {
    "'; DROP TABLE assets; --",
    "\"; DROP TABLE assets; --",
    "\" || @ == \"x",
    "\") || true || (\"",
    "$1",
    "$.a ? (@ == 1)",
    "back\\slash",
    "\\\"",
    "\\u0000",
    "quote\"d",
    "tab\there\nnewline\x01\x1f",
    "unicode ü 日本 😀 \xe2\x80\xae",
    "%_*",
    "'",
    "::jsonpath",
    "lax $",
    "like_regex \".*\"",
};
#define NHOSTILE (sizeof(hostile) / sizeof(hostile[0]))

static void test_hostile(void)
{
    char url[1024], got[4096], want[4096];
    ad_meta *m;
    json_t *docs = json_array();
    size_t i;
    fresh_url(url, sizeof(url), NULL, NULL);
    m = open_or_fail(url);
    if (!m) return;
    /* documents with the hostile strings as values, field names and ids */
    for (i = 0; i < NHOSTILE; i++) {
        char id[64];
        json_t *d;
        char *text;
        snprintf(id, sizeof(id), "h%02zu", i);
        d = json_pack("{s:s, s:s, s:[s, s], s:{s:s}, s:{s:i}}", "asset_id", id, "v", hostile[i],
                      "list", hostile[i], "other", "o", "ob", hostile[i], hostile[i], "k",
                      hostile[i], (int)i);
        text = json_dumps(d, JSON_COMPACT);
        insert_text(m, id, text);
        free(text);
        json_array_append_new(docs, d);
    }
    {
        /* an id made of the hostile strings, with a document to match */
        const char *id = "'; DROP TABLE assets; -- \"\\ $1";
        json_t *d = json_pack("{s:s, s:s}", "asset_id", id, "v", "by id");
        char *text = json_dumps(d, JSON_COMPACT);
        insert_text(m, id, text);
        free(text);
        json_array_append_new(docs, d);
    }
    for (i = 0; i < NHOSTILE; i++) {
        const char *h = hostile[i];
        json_t *filters[] = {
            json_pack("{s:s}", "v", h),
            json_pack("{s:s}", "list", h),
            json_pack("{s:{s:[s, s]}}", "v", "$in", h, "nothing"),
            json_pack("{s:{s:s}}", "v", "$ne", h),
            json_pack("{s:{s:s}}", "v", "$gte", h),
            json_pack("{s:{s:[s]}}", "list", "$all", h),
            json_pack("{s:s}", "ob.k", h),
            json_pack("{s:{s:b}}", "ob", "$exists", 1),
            json_pack("{s:i}", "k", (int)i), /* the key is the hostile string */
            json_pack("{s:null}", "k"),
            json_pack("{s:{s:{s:s}}}", "list", "$elemMatch", "$eq", h),
            json_pack("{s:s}", "asset_id", h),
        };
        /* the field name itself hostile (no dots: a dot separates parts) */
        if (!strchr(h, '.') && h[0] != '$') {
            json_decref(filters[8]);
            filters[8] = json_pack("{s:i}", h, (int)i);
            json_decref(filters[9]);
            filters[9] = json_pack("{s:{s:b}}", h, "$exists", 1);
        }
        for (size_t k = 0; k < sizeof(filters) / sizeof(filters[0]); k++) {
            ad_filter *f = NULL;
            ad_error err = {0};
            size_t used = 0;
            char *ftext = json_dumps(filters[k], JSON_COMPACT);
            want[0] = '\0';
            if (ad_filter_parse(filters[k], &f, &err) == AD_OK) {
                for (size_t d = 0; d < json_array_size(docs); d++) {
                    json_t *doc = json_array_get(docs, d);
                    if (ad_filter_match(f, doc, &err) == 1)
                        used += (size_t)snprintf(
                            want + used, sizeof(want) - used, "%s%s", used ? "," : "",
                            json_string_value(json_object_get(doc, "asset_id")));
                }
                find_ids(m, filters[k], NULL, got, sizeof(got));
                CHECK(strcmp(got, want) == 0, "hostile filter %s: got [%s], want [%s]", ftext, got,
                      want);
            }
            ad_filter_free(f);
            free(ftext);
            json_decref(filters[k]);
        }
        {
            /* a $regex prefix of the hostile string (escaped for PCRE) */
            char pat[256];
            size_t n = 0;
            json_t *fj;
            ad_filter *f = NULL;
            ad_error err = {0};
            pat[n++] = '^';
            for (const char *p = h; *p && n + 3 < sizeof(pat); p++) {
                if (strchr("\\^$.|?*+()[]{}", *p)) pat[n++] = '\\';
                pat[n++] = *p;
            }
            pat[n] = '\0';
            fj = json_pack("{s:{s:s}}", "v", "$regex", pat);
            if (ad_filter_parse(fj, &f, &err) == AD_OK) {
                char wantid[64];
                find_ids(m, fj, NULL, got, sizeof(got));
                snprintf(wantid, sizeof(wantid), "h%02zu", i);
                CHECK(strstr(got, wantid) != NULL, "regex %s: got [%s], want %s among them", pat,
                      got, wantid);
            }
            ad_filter_free(f);
            json_decref(fj);
        }
    }
    {
        /* a hostile id and sort path */
        json_t *fj = json_pack("{s:s}", "asset_id", "'; DROP TABLE assets; -- \"\\ $1");
        ad_filter *f = NULL;
        ad_meta_cursor *c = NULL;
        ad_error err = {0};
        ad_doc out = {0};
        find_ids(m, fj, NULL, got, sizeof(got));
        CHECK(strcmp(got, "'; DROP TABLE assets; -- \"\\ $1") == 0, "hostile id by filter: [%s]",
              got);
        CHECK(m->ops->get(m, "'; DROP TABLE assets; -- \"\\ $1", &out, &err) == AD_OK,
              "hostile id by get: %s", err.msg);
        ad_doc_free(&out);
        ad_filter_parse(fj, &f, &err);
        ad_query q = {f, "v); DROP TABLE assets; --", false, 0, UINT64_MAX};
        CHECK(m->ops->find(m, &q, &c, &err) == AD_E_BAD_REQUEST && !c,
              "hostile sort path refused: %s", err.msg);
        m->ops->cursor_close(c);
        ad_filter_free(f);
        json_decref(fj);
    }
    {
        /* records with hostile keys and JSON */
        ad_error err = {0};
        int64_t rev = 0;
        for (i = 0; i < NHOSTILE; i++) {
            char json[512];
            ad_doc out = {0};
            json_t *v = json_pack("{s:s}", "x", hostile[i]);
            char *t = json_dumps(v, JSON_COMPACT);
            snprintf(json, sizeof(json), "%s", t);
            free(t);
            json_decref(v);
            CHECK(m->ops->rec_put(m, "hostile", hostile[i], json, strlen(json), 0, &rev, &err) ==
                      AD_OK,
                  "rec_put key %zu: %s", i, err.msg);
            CHECK(m->ops->rec_get(m, "hostile", hostile[i], &out, &err) == AD_OK &&
                      out.len == strlen(json) && memcmp(out.json, json, out.len) == 0,
                  "rec_get key %zu: %s", i, err.msg);
            ad_doc_free(&out);
        }
    }
    {
        json_t *all = json_object();
        find_ids(m, all, NULL, got, sizeof(got));
        CHECK(strncmp(got, "h00,h01", 7) == 0, "after the hostile filters, find {}: [%s]", got);
        json_decref(all);
    }
    CHECK(table_exists(schemas[nschemas - 1]), "the assets table survived the hostile strings");
    m->ops->close(m);
    json_decref(docs);
}

/* ------------------------------------------------------------------------ */

typedef struct bumper {
    ad_meta *m;
    int done, conflicts, errors;
} bumper;

/* Read-modify-write of a counter with the revision check, until 40 bumps
 * succeeded; a conflict re-reads. No bump may be lost. */
static void *bump(void *p)
{
    bumper *b = p;
    while (b->done < 40) {
        ad_doc d = {0};
        ad_error err = {0};
        json_t *doc;
        char text[128];
        int64_t rev;
        ad_code rc;
        if (b->m->ops->get(b->m, "counter", &d, &err) != AD_OK) {
            b->errors++;
            continue;
        }
        doc = json_loadb(d.json, d.len, 0, NULL);
        snprintf(text, sizeof(text), "{\"asset_id\":\"counter\",\"n\":%lld}",
                 (long long)json_integer_value(json_object_get(doc, "n")) + 1);
        json_decref(doc);
        doc = json_loads(text, 0, NULL);
        rc = b->m->ops->replace(b->m, "counter", d.rev, text, strlen(text), doc, &rev, &err);
        json_decref(doc);
        ad_doc_free(&d);
        if (rc == AD_OK)
            b->done++;
        else if (rc == AD_E_PRECONDITION)
            b->conflicts++;
        else
            b->errors++;
        if (b->errors > 100) break;
    }
    return NULL;
}

static void test_two_instances(void)
{
    char url[1024], got[256];
    ad_meta *m1, *m2;
    ad_error err = {0};
    ad_doc d = {0};
    int64_t rev = 0;
    pthread_t th[2];
    bumper b[2] = {{0}};
    fresh_url(url, sizeof(url), NULL, "&pool_max=4");
    m1 = open_or_fail(url);
    m2 = open_or_fail(url);
    if (!m1 || !m2) goto out;
    insert_text(m1, "shared", "{\"asset_id\":\"shared\",\"n\":1}");
    CHECK(m2->ops->get(m2, "shared", &d, &err) == AD_OK && d.rev == 1,
          "instance 2 reads instance 1's insert: %s", err.msg);
    ad_doc_free(&d);
    {
        const char *t = "{\"asset_id\":\"shared\",\"n\":2}";
        json_t *doc = json_loads(t, 0, NULL);
        CHECK(m2->ops->replace(m2, "shared", 1, t, strlen(t), doc, &rev, &err) == AD_OK && rev == 2,
              "instance 2 replaces: %s", err.msg);
        CHECK(m1->ops->replace(m1, "shared", 1, t, strlen(t), doc, &rev, &err) == AD_E_PRECONDITION,
              "instance 1 replaces with the old revision: %s", err.msg);
        json_decref(doc);
    }
    {
        json_t *fj = json_pack("{s:i}", "n", 2);
        find_ids(m1, fj, NULL, got, sizeof(got));
        CHECK(strcmp(got, "shared") == 0, "instance 1 finds instance 2's value: [%s]", got);
        json_decref(fj);
    }
    CHECK(m1->ops->rec_put(m1, "tokens", "abc", "{\"r\":1}", 7, 0, &rev, &err) == AD_OK,
          "instance 1 rec_put: %s", err.msg);
    CHECK(m2->ops->rec_get(m2, "tokens", "abc", &d, &err) == AD_OK && d.rev == 1,
          "instance 2 sees instance 1's record at once: %s", err.msg);
    ad_doc_free(&d);

    /* both instances bump one counter 40 times with revision checks */
    insert_text(m1, "counter", "{\"asset_id\":\"counter\",\"n\":0}");
    b[0].m = m1;
    b[1].m = m2;
    for (int i = 0; i < 2; i++) pthread_create(&th[i], NULL, bump, &b[i]);
    for (int i = 0; i < 2; i++) pthread_join(th[i], NULL);
    CHECK(b[0].errors + b[1].errors == 0, "bumps failed: %d", b[0].errors + b[1].errors);
    CHECK(m1->ops->get(m1, "counter", &d, &err) == AD_OK && d.rev == 81 &&
              strstr(d.json, "\"n\":80"),
          "after 2 x 40 checked bumps: rev %lld, %s (conflicts seen: %d)", (long long)d.rev,
          d.json ? d.json : "-", b[0].conflicts + b[1].conflicts);
    ad_doc_free(&d);
out:
    if (m1) m1->ops->close(m1);
    if (m2) m2->ops->close(m2);
}

/* ------------------------------------------------------------------------ */

typedef struct opener {
    const char *url;
    ad_code rc;
    char msg[AD_ERROR_MSG_MAX];
} opener;

static void *open_close(void *p)
{
    opener *o = p;
    ad_meta *m = NULL;
    ad_error err = {0};
    o->rc = ad_meta_open(o->url, &m, &err);
    snprintf(o->msg, sizeof(o->msg), "%s", err.msg);
    if (m) m->ops->close(m);
    return NULL;
}

/* Instances starting together on a new schema all create-or-find it. */
static void test_concurrent_open(void)
{
    char url[1024];
    pthread_t th[6];
    opener o[6];
    fresh_url(url, sizeof(url), NULL, NULL);
    for (int i = 0; i < 6; i++) {
        o[i] = (opener){.url = url};
        pthread_create(&th[i], NULL, open_close, &o[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        CHECK(o[i].rc == AD_OK, "concurrent open %d of a new schema: %s (%s)", i,
              ad_code_name(o[i].rc), o[i].msg);
    }
}

/* ------------------------------------------------------------------------ */

static void test_early_close(void)
{
    char url[1024];
    ad_meta *m;
    ad_error err = {0};
    char *pad = malloc(4001);
    int ok = 0;
    fresh_url(url, sizeof(url), NULL, "&pool_max=2");
    m = open_or_fail(url);
    if (!m || !pad) goto out;
    memset(pad, 'p', 4000);
    pad[4000] = '\0';
    /* ~8 MB of results, more than the socket buffers hold */
    for (int i = 0; i < 2000; i++) {
        char id[32];
        json_t *doc;
        char *text;
        int64_t rev;
        snprintf(id, sizeof(id), "big-%04d", i);
        doc = json_pack("{s:s, s:s, s:s, s:i}", "asset_id", id, "pad", pad, "pad2", pad, "i", i);
        text = json_dumps(doc, JSON_COMPACT);
        ok += m->ops->insert(m, id, text, strlen(text), doc, &rev, &err) == AD_OK;
        free(text);
        json_decref(doc);
    }
    CHECK(ok == 2000, "2000 large inserts: %d ok (%s)", ok, err.msg);
    for (int round = 0; round < 5; round++) {
        json_t *fj = json_object();
        ad_filter *f = NULL;
        ad_meta_cursor *c = NULL;
        const char *text;
        size_t len;
        ad_doc d = {0};
        ad_filter_parse(fj, &f, &err);
        /* round 0..2 exact (streamed by the server), 3..4 evaluated here */
        if (round >= 3) {
            ad_filter_free(f);
            json_decref(fj);
            fj = json_pack("{s:{s:i}}", "i", "$ne", -1);
            ad_filter_parse(fj, &f, &err);
        }
        ad_query q = {f, NULL, false, 0, UINT64_MAX};
        CHECK(m->ops->find(m, &q, &c, &err) == AD_OK, "find: %s", err.msg);
        CHECK(c && m->ops->cursor_next(c, &text, &len, &err) == AD_OK && text, "first row: %s",
              err.msg);
        m->ops->cursor_close(c); /* 1999 rows unread */
        /* the connection goes back to the pool; nothing after may be cancelled */
        for (int i = 0; i < 20; i++) {
            ad_code rc = m->ops->get(m, "big-0007", &d, &err);
            CHECK(rc == AD_OK, "round %d get %d after an early close: %s (%s)", round, i,
                  ad_code_name(rc), err.msg);
            ad_doc_free(&d);
        }
        ad_filter_free(f);
        json_decref(fj);
    }
out:
    free(pad);
    if (m) m->ops->close(m);
}

/* ------------------------------------------------------------------------ */

/* Runs sql with search_path set to schema (one of the test's own). */
static bool exec_in(const char *schema, const char *sql)
{
    PGconn *pg = PQconnectdb(base_url);
    char *ident = PQescapeIdentifier(pg, schema, strlen(schema));
    char buf[1024];
    PGresult *r;
    bool ok;
    PQsetNoticeProcessor(pg, quiet, NULL);
    snprintf(buf, sizeof(buf), "SET search_path = %s; %s", ident ? ident : "x", sql);
    r = PQexec(pg, buf);
    ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    CHECK(ok, "%s: %s", sql, PQerrorMessage(pg));
    PQclear(r);
    PQfreemem(ident);
    PQfinish(pg);
    return ok;
}

/* The rows assetd wrote to asset_values (meta_pg_values.c) are the rows
 * the SQL walk assetd_values() makes from the stored documents: the same
 * (seq, path, num, str) as sets (numbers compared as numeric), and every
 * number the walk marks multi marked by assetd too. Returns the number of
 * documents in the schema. */
static long check_values_match(const char *schema)
{
    static const char *const sql[] = {
        "SELECT count(*) FROM (SELECT seq, path, num, str FROM asset_values EXCEPT"
        " SELECT a.seq, v.path, v.num, v.str FROM assets a, assetd_values(a.doc) v) x",
        "SELECT count(*) FROM (SELECT a.seq, v.path, v.num, v.str FROM assets a,"
        " assetd_values(a.doc) v EXCEPT SELECT seq, path, num, str FROM asset_values) x",
        "SELECT count(*) FROM (SELECT a.seq, v.path, v.num FROM assets a, assetd_values(a.doc) v"
        " WHERE v.multi EXCEPT SELECT seq, path, num FROM asset_values WHERE multi) x",
        "SELECT count(*) FROM (SELECT seq, path, str FROM asset_values WHERE str IS NOT NULL"
        " GROUP BY 1, 2, 3 HAVING count(*) > 1) x",
        "SELECT count(*) FROM assets",
    };
    static const char *const what[] = {"rows assetd wrote that the walk does not make",
                                       "rows the walk makes that assetd did not write",
                                       "numbers the walk marks multi and assetd does not",
                                       "strings written twice for one document"};
    PGconn *pg = PQconnectdb(base_url);
    char *ident = PQescapeIdentifier(pg, schema, strlen(schema));
    char buf[256];
    long docs = -1;
    snprintf(buf, sizeof(buf), "SET search_path = %s", ident ? ident : "x");
    PQclear(PQexec(pg, buf));
    for (size_t i = 0; i < sizeof(sql) / sizeof(sql[0]); i++) {
        PGresult *r = PQexec(pg, sql[i]);
        long n = PQresultStatus(r) == PGRES_TUPLES_OK ? atol(PQgetvalue(r, 0, 0)) : -1;
        if (i + 1 < sizeof(sql) / sizeof(sql[0]))
            CHECK(n == 0, "asset_values in %s: %ld %s (%s)", schema, n, what[i],
                  PQerrorMessage(pg));
        else
            docs = n;
        PQclear(r);
    }
    PQfreemem(ident);
    PQfinish(pg);
    return docs;
}

static void expect_ids(ad_meta *m, const char *filter, const char *want, const char *when)
{
    char got[512];
    json_t *f = json_loads(filter, 0, NULL);
    find_ids(m, f, NULL, got, sizeof(got));
    CHECK(strcmp(got, want) == 0, "%s: find %s gave [%s], want [%s]", when, filter, got, want);
    json_decref(f);
}

/* The value table (asset_values) follows inserts, replaces and removes
 * through its trigger, also for writes that do not come from assetd; a
 * store made before it existed gets it, filled, at the next open. */
static void test_value_table(void)
{
    char url[1024];
    const char *schema;
    const char *range = "{\"p.n\": {\"$gte\": 4, \"$lt\": 6}}";
    const char *range2 = "{\"p.n\": {\"$gte\": 40, \"$lt\": 60}}";
    const char *type_a = "{\"profiles.asset_type\": \"a\"}";
    const char *type_b = "{\"profiles.asset_type\": \"b\"}";
    const char *d2 = "{\"asset_id\":\"v1\",\"p\":{\"n\":50},\"profiles\":[{\"asset_type\":\"b\"}]}";
    ad_meta *m;
    ad_error err = {0};
    json_t *doc;
    int64_t rev = 0;
    ad_code rc;
    fresh_url(url, sizeof(url), NULL, NULL);
    schema = schemas[nschemas - 1];
    m = open_or_fail(url);
    if (!m) return;
    insert_text(m, "v1",
                "{\"asset_id\":\"v1\",\"p\":{\"n\":5},\"profiles\":{\"asset_type\":\"a\"}}");
    insert_text(m, "v2",
                "{\"asset_id\":\"v2\",\"p\":[{\"n\":[1,9]}],\"profiles\":{\"asset_type\":\"a\"}}");
    expect_ids(m, range, "v1,v2", "after insert"); /* v2: 9 >= 4 and 1 < 6 */
    expect_ids(m, type_a, "v1,v2", "after insert");
    doc = json_loads(d2, 0, NULL);
    rc = m->ops->replace(m, "v1", AD_REV_ANY, d2, strlen(d2), doc, &rev, &err);
    CHECK(rc == AD_OK, "replace: %s", err.msg);
    json_decref(doc);
    expect_ids(m, range, "v2", "after replace");
    expect_ids(m, range2, "v1", "after replace");
    check_values_match(schema);
    expect_ids(m, type_a, "v2", "after replace");
    expect_ids(m, type_b, "v1", "after replace");
    /* a write from elsewhere (psql) goes through the trigger too */
    exec_in(schema, "UPDATE assets SET doc = jsonb_set(doc, '{p,n}', '45') WHERE id = 'v1'");
    expect_ids(m, range2, "v1", "after an outside update");
    rc = m->ops->remove(m, "v1", AD_REV_ANY, &err);
    CHECK(rc == AD_OK, "remove: %s", err.msg);
    expect_ids(m, range2, "", "after remove");
    expect_ids(m, type_b, "", "after remove");
    m->ops->close(m);

    /* a store made before the value table: dropped, then opened again */
    exec_in(schema, "DROP TABLE asset_values; DROP TRIGGER assets_values ON assets;"
                    " DROP FUNCTION assetd_values_sync(); DROP FUNCTION assetd_values(jsonb)");
    m = open_or_fail(url);
    if (!m) return;
    expect_ids(m, range, "v2", "after the backfill");
    expect_ids(m, type_a, "v2", "after the backfill");
    insert_text(m, "v3", "{\"asset_id\":\"v3\",\"p\":{\"n\":4}}");
    expect_ids(m, range, "v2,v3", "after the backfill and an insert");
    m->ops->close(m);
}

static void test_open_errors(void)
{
    ad_meta *m = NULL;
    ad_error err = {0};
    char url[1024];
    ad_code rc;
    const char *rest = strstr(base_url, "://");
    snprintf(url, sizeof(url), "%s%cschema=Bad-Name", base_url, strchr(base_url, '?') ? '&' : '?');
    rc = ad_meta_open(url, &m, &err);
    CHECK(rc == AD_E_BAD_REQUEST && !m, "bad schema name: %s", ad_code_name(rc));
    snprintf(url, sizeof(url), "%s%cpool_max=0", base_url, strchr(base_url, '?') ? '&' : '?');
    rc = ad_meta_open(url, &m, &err);
    CHECK(rc == AD_E_BAD_REQUEST && !m, "pool_max=0: %s", ad_code_name(rc));
    snprintf(url, sizeof(url), "%s%cnosuchparam=1", base_url, strchr(base_url, '?') ? '&' : '?');
    rc = ad_meta_open(url, &m, &err);
    CHECK(rc != AD_OK && !m, "a parameter libpq does not know: %s (%s)", ad_code_name(rc), err.msg);
    /* nothing listens on port 1 of the loopback */
    rc = ad_meta_open("postgresql://assetd:secret-password@127.0.0.1:1/assetd", &m, &err);
    CHECK(rc == AD_E_UNAVAILABLE && !m && err.msg[0], "no server: %s (%s)", ad_code_name(rc),
          err.msg);
    CHECK(!strstr(err.msg, "secret-password"), "the password is not in the message: %s", err.msg);
    (void)rest;
}

/* ------------------------------------------------------------------------ */

static int server(const char *action)
{
    const char *dir = getenv("ASSETD_TEST_PG_DIR");
    char cmd[2048];
    snprintf(cmd, sizeof(cmd), "'%s/scripts/servers/postgres.sh' %s '%s' >/dev/null",
             ASSETD_SOURCE_DIR, action, dir);
    return system(cmd);
}

static void expect_unavailable(ad_meta *m, const char *when)
{
    ad_error err = {0};
    ad_doc d = {0};
    int64_t rev = 0;
    const char *t = "{\"asset_id\":\"down\"}";
    json_t *doc = json_loads(t, 0, NULL), *fj = json_object();
    ad_filter *f = NULL;
    ad_meta_cursor *c = NULL;
    ad_code rc;

    rc = m->ops->ping(m, &err);
    CHECK(rc == AD_E_UNAVAILABLE && err.msg[0], "%s: ping: %s (%s)", when, ad_code_name(rc),
          err.msg);
    rc = m->ops->get(m, "up", &d, &err);
    CHECK(rc == AD_E_UNAVAILABLE && strstr(err.msg, "PostgreSQL"), "%s: get: %s (%s)", when,
          ad_code_name(rc), err.msg);
    ad_doc_free(&d);
    rc = m->ops->insert(m, "down", t, strlen(t), doc, &rev, &err);
    CHECK(rc == AD_E_UNAVAILABLE, "%s: insert: %s (%s)", when, ad_code_name(rc), err.msg);
    rc = m->ops->replace(m, "up", AD_REV_ANY, t, strlen(t), doc, &rev, &err);
    CHECK(rc == AD_E_UNAVAILABLE, "%s: replace: %s (%s)", when, ad_code_name(rc), err.msg);
    rc = m->ops->remove(m, "up", AD_REV_ANY, &err);
    CHECK(rc == AD_E_UNAVAILABLE, "%s: remove: %s (%s)", when, ad_code_name(rc), err.msg);
    ad_filter_parse(fj, &f, &err);
    ad_query q = {f, NULL, false, 0, UINT64_MAX};
    rc = m->ops->find(m, &q, &c, &err);
    if (rc == AD_OK) {
        const char *text;
        size_t len;
        rc = m->ops->cursor_next(c, &text, &len, &err);
    }
    CHECK(rc == AD_E_UNAVAILABLE, "%s: find: %s (%s)", when, ad_code_name(rc), err.msg);
    m->ops->cursor_close(c);
    rc = m->ops->rec_get(m, "tokens", "k", &d, &err);
    CHECK(rc == AD_E_UNAVAILABLE, "%s: rec_get: %s (%s)", when, ad_code_name(rc), err.msg);
    ad_doc_free(&d);
    rc = m->ops->rec_put(m, "tokens", "k2", "{}", 2, AD_REV_ANY, &rev, &err);
    CHECK(rc == AD_E_UNAVAILABLE, "%s: rec_put: %s (%s)", when, ad_code_name(rc), err.msg);
    ad_filter_free(f);
    json_decref(fj);
    json_decref(doc);
}

static void expect_working(ad_meta *m, const char *when, const char *new_id)
{
    ad_error err = {0};
    ad_doc d = {0};
    int64_t rev = 0;
    char t[128], got[256];
    json_t *doc, *fj;
    ad_code rc;
    snprintf(t, sizeof(t), "{\"asset_id\":\"%s\",\"n\":7}", new_id);
    doc = json_loads(t, 0, NULL);
    rc = m->ops->get(m, "up", &d, &err);
    CHECK(rc == AD_OK, "%s: get: %s (%s)", when, ad_code_name(rc), err.msg);
    ad_doc_free(&d);
    rc = m->ops->insert(m, new_id, t, strlen(t), doc, &rev, &err);
    CHECK(rc == AD_OK, "%s: insert: %s (%s)", when, ad_code_name(rc), err.msg);
    rc = m->ops->ping(m, &err);
    CHECK(rc == AD_OK, "%s: ping: %s (%s)", when, ad_code_name(rc), err.msg);
    fj = json_pack("{s:s}", "asset_id", new_id);
    find_ids(m, fj, NULL, got, sizeof(got));
    CHECK(strcmp(got, new_id) == 0, "%s: find: [%s]", when, got);
    rc = m->ops->rec_put(m, "tokens", new_id, "{}", 2, AD_REV_ANY, &rev, &err);
    CHECK(rc == AD_OK, "%s: rec_put: %s (%s)", when, ad_code_name(rc), err.msg);
    json_decref(fj);
    json_decref(doc);
}

static void test_restart(void)
{
    char url[1024];
    ad_meta *m;
    if (!getenv("ASSETD_TEST_PG_DIR")) {
        printf("test_meta_pg: restart checks skipped: ASSETD_TEST_PG_DIR is not set "
               "(scripts/servers/postgres.sh start DIR sets it)\n");
        return;
    }
    fresh_url(url, sizeof(url), NULL, NULL);
    m = open_or_fail(url);
    if (!m) return;
    insert_text(m, "up", "{\"asset_id\":\"up\"}");
    expect_working(m, "before the stop", "a1");

    CHECK(server("stop") == 0, "postgres.sh stop failed");
    expect_unavailable(m, "server stopped");
    expect_unavailable(m, "server still stopped");
    CHECK(server("start") == 0, "postgres.sh start failed");
    expect_working(m, "server back (same handle)", "a2");

    /* a restart no call saw: the pooled connections are stale */
    CHECK(server("stop") == 0, "postgres.sh stop failed");
    CHECK(server("start") == 0, "postgres.sh start failed");
    expect_working(m, "after an unseen restart", "a3");
    m->ops->close(m);
}

int main(void)
{
    char url[1024];
    int failed;
    base_url = getenv("ASSETD_TEST_PG_URL");
    if (!base_url || !*base_url) {
        printf("test_meta_pg: skipped: ASSETD_TEST_PG_URL is not set; start a server with "
               "`eval \"$(scripts/servers/postgres.sh start DIR)\"` (scripts/test.sh does)\n");
        return 77;
    }

    fresh_url(url, sizeof(url), NULL, NULL);
    failed = meta_contract_run(url);
    CHECK(failed == 0, "the contract suite had %d failed checks (see above)", failed);
    {
        long docs = check_values_match(schemas[nschemas - 1]);
        CHECK(docs > 50, "the contract suite left %ld documents to compare the value rows on",
              docs);
    }
    fresh_url(url, sizeof(url), "postgres", NULL);
    failed = meta_contract_run(url);
    CHECK(failed == 0, "the contract suite through postgres:// had %d failed checks", failed);

    test_hostile();
    test_two_instances();
    test_concurrent_open();
    test_early_close();
    test_open_errors();
    test_value_table();
    test_restart();

    drop_schemas();
    return check_summary("test_meta_pg");
}
