/*
 * meta_mongo.c — the MongoDB meta store (libmongoc): asset documents and
 * records in a MongoDB database shared by any number of assetd instances.
 *
 * URL: mongodb://[user:pass@]host[:port][,host…]/[database][?options] or
 * mongodb+srv://…, handed to libmongoc as it is; the database is the URL's
 * path ("assetd" when it has none). When the URL sets no
 * serverSelectionTimeoutMS the adapter sets 5000 ms, so an unreachable
 * server fails a request (503) in seconds, not libmongoc's 30; when it sets
 * no waitQueueTimeoutMS, 10000 ms, so a request waiting for a pooled
 * connection (maxPoolSize, 100 by default; a streamed list holds one until
 * its last row is sent) gets a 503 instead of waiting forever; appname
 * defaults to "assetd". The store is opened (its indexes created) at
 * start, so assetd does not start while no server answers.
 *
 * Collections (indexes created on open):
 *   assets    {_id: creation sequence, <asset fields>, _rev, _mtime, _json}
 *             unique asset_id; profiles.asset_type, profiles.asset_sub_type,
 *             profiles.asset_tags, apis.asset_api_route.
 *   records   {ns, key, rev, mtime, json}; unique (ns, key).
 *   counters  {_id: "assets", seq}: the creation sequence, taken with one
 *             atomic $inc per insert, so creation order is one order across
 *             every instance (as SQLite's AUTOINCREMENT is in one file).
 *
 * Why the JSON text is kept beside the fields: the port promises that
 * reads return the canonical bytes the core stored, and clients get those
 * bytes as they are. Turning BSON back into JSON would not give them:
 * number formatting (1.0, 1e300, -0.0), string escapes and escaped field
 * names would all have to be re-created exactly. So the fields are stored
 * for MongoDB's indexes and query engine, and the text (_json) is what a
 * read returns: one stored document, twice the bytes, no re-serialization.
 *
 * Writes. The sequence is the _id, which a replace keeps, so a replace is
 * one replaceOne whose filter carries the revision ({asset_id, _rev:
 * expected}): atomic on the server. When nothing matched, one more read
 * tells "not found" from "other revision". A replace at "any revision"
 * reads the current revision and retries that conditional replace if
 * another writer got in between. The write time is this host's clock.
 *
 * Lists. The filter tree becomes a MongoDB query (meta_mongo_bson.c says
 * how, and which operators are trusted as exact); when the query is exact
 * MongoDB also applies skip and limit, otherwise every candidate is
 * evaluated with ad_filter_match here and skip/limit are counted here.
 * Order is MongoDB's sort on the path, then _id (creation order, reversed
 * for a descending sort); allowDiskUse lets sorts on unindexed fields pass
 * MongoDB's in-memory sort limit (MongoDB 4.4 or later). If the server
 * refuses the query itself (a pattern its regex engine rejects, a limit),
 * the list is answered from a scan of the collection filtered here.
 *
 * Threads: a mongoc_client_pool_t; each call checks a client out and back
 * in, a cursor keeps its client until it is closed. Unacknowledged writes
 * (w=0 in the URL) are not supported: replaces and removes fail, as the
 * revision rules need the server's count of what matched.
 */
#include <mongoc/mongoc.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "store/meta.h"
#include "store/meta_mongo_bson.h"
#include "util/log.h"

extern const ad_meta_ops ad_meta_mongo_ops;
extern const ad_meta_ops ad_meta_mongo_srv_ops;

#define DEFAULT_DB           "assetd"
#define DEFAULT_SELECTION_MS 5000
#define DEFAULT_WAIT_MS      10000 /* for a pooled client when all are in use */
#define COLL_ASSETS          "assets"
#define COLL_RECORDS         "records"
#define COLL_COUNTERS        "counters"
#define ANY_REV_RETRIES      100 /* conditional replaces tried for AD_REV_ANY */
#define UPSERT_RETRIES       3   /* upserts racing on a new key */

typedef struct mongo_meta {
    ad_meta base;
    mongoc_uri_t *uri;
    mongoc_client_pool_t *pool;
    char *db;
} mongo_meta;

struct ad_meta_cursor {
    mongo_meta *m;
    mongoc_client_t *client;
    mongoc_collection_t *coll;
    mongoc_cursor_t *cur;
    const bson_t *pending;   /* the first document, read by find */
    const ad_filter *filter; /* NULL when MongoDB's answer is exact */
    uint64_t skip, limit;
    bool done;
};

/* A client checked out of the pool, and one of its collections. */
typedef struct conn {
    mongo_meta *m;
    mongoc_client_t *client;
    mongoc_collection_t *coll;
} conn;

/* --- process-wide set-up --- */

static pthread_once_t init_once = PTHREAD_ONCE_INIT;

/* libmongoc's warnings and errors go to our log; its chatter does not. */
static void log_handler(mongoc_log_level_t level, const char *domain, const char *message,
                        void *ctx)
{
    char detail[AD_ERROR_MSG_MAX];
    size_t i;
    (void)ctx;
    if (level > MONGOC_LOG_LEVEL_WARNING) return;
    /* one logfmt value: no quotes, no line breaks */
    for (i = 0; message[i] && i + 1 < sizeof(detail); i++)
        detail[i] = message[i] == '"' ? '\'' : (message[i] == '\n' ? ' ' : message[i]);
    while (i > 0 && detail[i - 1] == ' ') i--;
    detail[i] = '\0';
    ad_log(level == MONGOC_LOG_LEVEL_WARNING ? AD_LOG_WARN : AD_LOG_ERROR,
           "msg=\"mongoc\" domain=%s detail=\"%s\"", domain, detail);
}

static void global_init(void)
{
    mongoc_log_set_handler(log_handler, NULL);
    mongoc_init();
    atexit(mongoc_cleanup);
}

/* --- small helpers --- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static ad_code conn_get(mongo_meta *m, const char *coll, conn *c, ad_error *err)
{
    c->m = m;
    c->coll = NULL;
    c->client = mongoc_client_pool_pop(m->pool);
    if (!c->client)
        return ad_fail(err, AD_E_UNAVAILABLE,
                       "MongoDB busy: every pooled connection stayed in use (maxPoolSize, "
                       "waitQueueTimeoutMS); try again");
    if (coll) c->coll = mongoc_client_get_collection(c->client, m->db, coll);
    return AD_OK;
}

static void conn_put(conn *c)
{
    if (c->coll) mongoc_collection_destroy(c->coll);
    if (c->client) mongoc_client_pool_push(c->m->pool, c->client);
    c->coll = NULL;
    c->client = NULL;
}

static bool get_int64(const bson_t *d, const char *key, int64_t *v)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, d, key) || !BSON_ITER_HOLDS_NUMBER(&it)) return false;
    *v = bson_iter_as_int64(&it);
    return true;
}

static const char *get_utf8(const bson_t *d, const char *key, uint32_t *len)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, d, key) || !BSON_ITER_HOLDS_UTF8(&it)) return NULL;
    return bson_iter_utf8(&it, len);
}

static int64_t get_date_s(const bson_t *d, const char *key)
{
    bson_iter_t it;
    if (!bson_iter_init_find(&it, d, key) || !BSON_ITER_HOLDS_DATE_TIME(&it)) return 0;
    return bson_iter_date_time(&it) / 1000;
}

/* Fills out (json copied, len, rev, mtime) from the fields fj, fr and fm of
 * a stored document: 0, -1 when the text or the revision is missing, -2
 * out of memory. */
static int doc_out(const bson_t *d, const char *fj, const char *fr, const char *fm, ad_doc *out)
{
    uint32_t len = 0;
    const char *json = get_utf8(d, fj, &len);
    if (!json || !get_int64(d, fr, &out->rev)) return -1;
    if (!(out->json = malloc((size_t)len + 1))) return -2;
    memcpy(out->json, json, len);
    out->json[len] = '\0';
    out->len = len;
    out->mtime = get_date_s(d, fm);
    return 0;
}

/* A count from a write's reply ("matchedCount", "deletedCount"); an
 * unacknowledged write has none. */
static ad_code reply_count(const bson_t *reply, const char *key, int64_t *n, ad_error *err)
{
    if (get_int64(reply, key, n)) return AD_OK;
    return ad_fail(err, AD_E_BACKEND,
                   "MongoDB did not acknowledge the write (w=0 is not supported: the revision "
                   "rules need the server's answer)");
}

/* The first document filter selects (a copy in *doc, initialized only when
 * *found). */
static ad_code find_one(conn *c, const bson_t *filter, const bson_t *opts, bson_t *doc, bool *found,
                        const char *what, ad_error *err)
{
    const bson_t *d;
    bson_error_t e;
    ad_code rc = AD_OK;
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(c->coll, filter, opts, NULL);
    *found = false;
    if (mongoc_cursor_next(cur, &d)) {
        bson_copy_to(d, doc);
        *found = true;
    } else if (mongoc_cursor_error(cur, &e)) {
        rc = ad_mongo_fail(&e, what, err);
    }
    mongoc_cursor_destroy(cur);
    return rc;
}

/* The current revision of a document selected by filter (rev_key: "_rev"
 * or "rev"): AD_OK with *found. */
static ad_code current_rev(conn *c, const bson_t *filter, const char *rev_key, int64_t *rev,
                           bool *found, ad_error *err)
{
    bson_t doc;
    bson_t *opts = BCON_NEW("projection", "{", rev_key, BCON_INT32(1), "_id", BCON_INT32(0), "}",
                            "limit", BCON_INT64(1));
    ad_code rc = find_one(c, filter, opts, &doc, found, "reading a revision", err);
    bson_destroy(opts);
    if (!rc && *found) {
        if (!get_int64(&doc, rev_key, rev))
            rc = ad_fail(err, AD_E_BACKEND, "a stored document has no revision");
        bson_destroy(&doc);
    }
    return rc;
}

/* After a conditional write matched nothing: not found, or another revision. */
static ad_code classify_miss(conn *c, const bson_t *id_filter, const char *rev_key,
                             const char *what, const char *id, int64_t expect, ad_error *err)
{
    int64_t cur = 0;
    bool found = false;
    ad_code rc = current_rev(c, id_filter, rev_key, &cur, &found, err);
    if (rc) return rc;
    if (!found) return ad_fail(err, AD_E_NOT_FOUND, "%s %s not found", what, id);
    return ad_fail(err, AD_E_PRECONDITION, "%s %s is at revision %lld, not %lld (If-Match)", what,
                   id, (long long)cur, (long long)expect);
}

/* --- open, close, ping --- */

/* {createIndexes: coll, indexes: [{key: {path: 1}, name: "path_1"[, unique]}]} */
static ad_code create_indexes(mongo_meta *m, const char *coll, const char *const *paths, size_t n,
                              bool first_unique, ad_error *err)
{
    bson_t cmd = BSON_INITIALIZER, list, spec, key, reply;
    bson_error_t e;
    conn c;
    ad_code rc = conn_get(m, coll, &c, err);
    if (rc) return rc;
    BSON_APPEND_UTF8(&cmd, "createIndexes", coll);
    BSON_APPEND_ARRAY_BEGIN(&cmd, "indexes", &list);
    for (size_t i = 0; i < n; i++) {
        char idx[16], name[128];
        const char *k;
        bson_uint32_to_string((uint32_t)i, &k, idx, sizeof(idx));
        BSON_APPEND_DOCUMENT_BEGIN(&list, k, &spec);
        BSON_APPEND_DOCUMENT_BEGIN(&spec, "key", &key);
        /* "a,b" is a compound index on a and b */
        name[0] = '\0';
        for (const char *p = paths[i]; *p;) {
            size_t len = strcspn(p, ",");
            char field[64];
            snprintf(field, sizeof(field), "%.*s", (int)len, p);
            bson_append_int32(&key, field, -1, 1);
            snprintf(name + strlen(name), sizeof(name) - strlen(name), "%s%s_1", *name ? "_" : "",
                     field);
            p += len + (p[len] == ',');
        }
        bson_append_document_end(&spec, &key);
        BSON_APPEND_UTF8(&spec, "name", name);
        if (i == 0 && first_unique) BSON_APPEND_BOOL(&spec, "unique", true);
        bson_append_document_end(&list, &spec);
    }
    bson_append_array_end(&cmd, &list);
    if (!mongoc_collection_write_command_with_opts(c.coll, &cmd, NULL, &reply, &e))
        rc = ad_mongo_fail(&e, "opening the store (creating its indexes)", err);
    bson_destroy(&reply);
    bson_destroy(&cmd);
    conn_put(&c);
    return rc;
}

static const char *const asset_indexes[] = {
    "asset_id",
    "profiles.asset_type",
    "profiles.asset_sub_type",
    "profiles.asset_tags",
    "apis.asset_api_route",
};
static const char *const record_indexes[] = {"ns,key"};

static void mongo_close(ad_meta *base)
{
    mongo_meta *m = (mongo_meta *)base;
    if (!m) return;
    if (m->pool) mongoc_client_pool_destroy(m->pool);
    if (m->uri) mongoc_uri_destroy(m->uri);
    free(m->db);
    free(m);
}

static ad_code mongo_open(const char *url, ad_meta **out, ad_error *err)
{
    bson_error_t e;
    const char *db;
    ad_code rc = AD_OK;
    mongo_meta *m;
    *out = NULL;
    pthread_once(&init_once, global_init);
    m = calloc(1, sizeof(*m));
    if (!m) return ad_fail(err, AD_E_NOMEM, "out of memory");
    m->base.ops =
        strncmp(url, "mongodb+srv:", 12) == 0 ? &ad_meta_mongo_srv_ops : &ad_meta_mongo_ops;
    /* the URL is not quoted back: it may hold a password */
    m->uri = mongoc_uri_new_with_error(url, &e);
    if (!m->uri) {
        rc = ad_fail(err, AD_E_BAD_REQUEST, "meta store URL: not a valid MongoDB URI: %s",
                     e.message);
        goto fail;
    }
    db = mongoc_uri_get_database(m->uri);
    m->db = strdup(db && *db ? db : DEFAULT_DB);
    if (!m->db) {
        rc = ad_fail(err, AD_E_NOMEM, "out of memory");
        goto fail;
    }
    if (!mongoc_uri_has_option(m->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS))
        mongoc_uri_set_option_as_int32(m->uri, MONGOC_URI_SERVERSELECTIONTIMEOUTMS,
                                       DEFAULT_SELECTION_MS);
    if (!mongoc_uri_has_option(m->uri, MONGOC_URI_WAITQUEUETIMEOUTMS))
        mongoc_uri_set_option_as_int32(m->uri, MONGOC_URI_WAITQUEUETIMEOUTMS, DEFAULT_WAIT_MS);
    if (!mongoc_uri_get_appname(m->uri)) mongoc_uri_set_appname(m->uri, "assetd");
    m->pool = mongoc_client_pool_new_with_error(m->uri, &e);
    if (!m->pool) {
        rc = ad_mongo_fail(&e, "opening the connection pool", err);
        if (rc != AD_E_UNAVAILABLE)
            rc = ad_fail(err, AD_E_BAD_REQUEST, "meta store URL: %s", e.message);
        goto fail;
    }
    mongoc_client_pool_set_error_api(m->pool, MONGOC_ERROR_API_VERSION_2);
    rc = create_indexes(m, COLL_ASSETS, asset_indexes,
                        sizeof(asset_indexes) / sizeof(asset_indexes[0]), true, err);
    if (!rc)
        rc = create_indexes(m, COLL_RECORDS, record_indexes,
                            sizeof(record_indexes) / sizeof(record_indexes[0]), true, err);
    if (rc) goto fail;
    *out = &m->base;
    return AD_OK;
fail:
    mongo_close(&m->base);
    return rc;
}

static ad_code mongo_ping(ad_meta *base, ad_error *err)
{
    mongo_meta *m = (mongo_meta *)base;
    bson_t reply;
    bson_error_t e;
    bson_t *cmd = BCON_NEW("ping", BCON_INT32(1));
    conn c;
    ad_code rc = conn_get(m, NULL, &c, err);
    if (!rc) {
        if (!mongoc_client_command_simple(c.client, "admin", cmd, NULL, &reply, &e))
            rc = ad_mongo_fail(&e, "pinging", err);
        bson_destroy(&reply);
        conn_put(&c);
    }
    bson_destroy(cmd);
    return rc;
}

/* --- assets: get, insert, replace, remove --- */

static ad_code mongo_get(ad_meta *base, const char *id, ad_doc *out, ad_error *err)
{
    mongo_meta *m = (mongo_meta *)base;
    bson_t doc;
    bool found = false;
    bson_t *filter = BCON_NEW("asset_id", BCON_UTF8(id));
    bson_t *opts = BCON_NEW("projection", "{", AD_MONGO_F_JSON, BCON_INT32(1), AD_MONGO_F_REV,
                            BCON_INT32(1), AD_MONGO_F_MTIME, BCON_INT32(1), "_id", BCON_INT32(0),
                            "}", "limit", BCON_INT64(1));
    conn c;
    ad_code rc = conn_get(m, COLL_ASSETS, &c, err);
    memset(out, 0, sizeof(*out));
    if (!rc) {
        rc = find_one(&c, filter, opts, &doc, &found, "reading an asset", err);
        conn_put(&c);
    }
    if (!rc && !found) rc = ad_fail(err, AD_E_NOT_FOUND, "asset %s not found", id);
    if (!rc) {
        int got = doc_out(&doc, AD_MONGO_F_JSON, AD_MONGO_F_REV, AD_MONGO_F_MTIME, out);
        if (got == -1)
            rc = ad_fail(err, AD_E_BACKEND, "asset %s: the stored document has no %s or %s", id,
                         AD_MONGO_F_JSON, AD_MONGO_F_REV);
        else if (got == -2)
            rc = ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    if (found) bson_destroy(&doc);
    bson_destroy(filter);
    bson_destroy(opts);
    return rc;
}

/* The stored asset_id must be the id: the unique index is on the field. */
static ad_code check_id(const char *id, const json_t *doc, ad_error *err)
{
    const json_t *v = json_object_get(doc, "asset_id");
    if (!json_is_string(v) || strcmp(json_string_value(v), id) != 0)
        return ad_fail(err, AD_E_INVALID, "asset_id: the document's asset_id is not %s", id);
    return AD_OK;
}

/* The next creation sequence number: one atomic $inc of the counter. */
static ad_code next_seq(mongo_meta *m, int64_t *seq, ad_error *err)
{
    bson_t *query = BCON_NEW("_id", BCON_UTF8(COLL_ASSETS));
    bson_t *update = BCON_NEW("$inc", "{", "seq", BCON_INT64(1), "}");
    bson_t *fields = BCON_NEW("seq", BCON_INT32(1));
    mongoc_find_and_modify_opts_t *o = mongoc_find_and_modify_opts_new();
    conn c;
    ad_code rc = conn_get(m, COLL_COUNTERS, &c, err);
    mongoc_find_and_modify_opts_set_update(o, update);
    mongoc_find_and_modify_opts_set_fields(o, fields);
    mongoc_find_and_modify_opts_set_flags(o, MONGOC_FIND_AND_MODIFY_UPSERT |
                                                 MONGOC_FIND_AND_MODIFY_RETURN_NEW);
    for (int attempt = 0; !rc; attempt++) {
        bson_t reply;
        bson_error_t e;
        bson_iter_t it;
        bool ok = mongoc_collection_find_and_modify_with_opts(c.coll, query, o, &reply, &e);
        if (ok) {
            if (bson_iter_init(&it, &reply) && bson_iter_find_descendant(&it, "value.seq", &it) &&
                BSON_ITER_HOLDS_NUMBER(&it))
                *seq = bson_iter_as_int64(&it);
            else
                rc = ad_fail(err, AD_E_BACKEND, "MongoDB: the asset counter has no number");
        } else {
            rc = ad_mongo_fail(&e, "taking a sequence number", err);
        }
        bson_destroy(&reply);
        /* two first-ever inserts may both try to create the counter */
        if (rc == AD_E_EXISTS && attempt + 1 < UPSERT_RETRIES) {
            rc = AD_OK;
            ad_error_clear(err);
            continue;
        }
        break;
    }
    if (c.client) conn_put(&c);
    mongoc_find_and_modify_opts_destroy(o);
    bson_destroy(query);
    bson_destroy(update);
    bson_destroy(fields);
    return rc;
}

static ad_code mongo_insert(ad_meta *base, const char *id, const char *json, size_t len,
                            const json_t *doc, int64_t *rev, ad_error *err)
{
    mongo_meta *m = (mongo_meta *)base;
    bson_t b, reply;
    bson_error_t e;
    int64_t seq = 0;
    conn c;
    ad_code rc = check_id(id, doc, err);
    if (!rc) rc = next_seq(m, &seq, err);
    if (rc) return rc;
    rc = ad_mongo_asset_bson(doc, seq, 1, now_ms(), json, len, &b, err);
    if (!rc) rc = conn_get(m, COLL_ASSETS, &c, err);
    if (!rc) {
        if (!mongoc_collection_insert_one(c.coll, &b, NULL, &reply, &e)) {
            rc = ad_mongo_fail(&e, "inserting an asset", err);
            if (rc == AD_E_EXISTS)
                rc = ad_fail(err, AD_E_EXISTS, "asset_id: asset %s already exists", id);
        }
        bson_destroy(&reply);
        conn_put(&c);
    }
    bson_destroy(&b);
    if (!rc) *rev = 1;
    return rc;
}

/* One conditional replace: {asset_id: id, _rev: cur} -> the document at
 * cur + 1. *matched tells whether it applied. */
static ad_code replace_at(conn *c, const char *id, int64_t cur, const char *json, size_t len,
                          const json_t *doc, bool *matched, ad_error *err)
{
    bson_t b, reply;
    bson_error_t e;
    int64_t n = 0;
    bson_t *sel;
    ad_code rc;
    *matched = false;
    if (cur < 0 || cur == INT64_MAX) return AD_OK; /* no stored revision is that */
    sel = BCON_NEW("asset_id", BCON_UTF8(id), AD_MONGO_F_REV, BCON_INT64(cur));
    rc = ad_mongo_asset_bson(doc, -1, cur + 1, now_ms(), json, len, &b, err);
    if (!rc) {
        if (!mongoc_collection_replace_one(c->coll, sel, &b, NULL, &reply, &e))
            rc = ad_mongo_fail(&e, "replacing an asset", err);
        else
            rc = reply_count(&reply, "matchedCount", &n, err);
        bson_destroy(&reply);
    }
    *matched = !rc && n > 0;
    bson_destroy(&b);
    bson_destroy(sel);
    return rc;
}

static ad_code mongo_replace(ad_meta *base, const char *id, int64_t expect_rev, const char *json,
                             size_t len, const json_t *doc, int64_t *rev, ad_error *err)
{
    mongo_meta *m = (mongo_meta *)base;
    bson_t *by_id = BCON_NEW("asset_id", BCON_UTF8(id));
    bool matched = false, found = true;
    int64_t cur = expect_rev;
    conn c;
    ad_code rc = check_id(id, doc, err);
    if (rc) {
        bson_destroy(by_id);
        return rc;
    }
    rc = conn_get(m, COLL_ASSETS, &c, err);
    for (int attempt = 0; !rc && !matched; attempt++) {
        if (expect_rev == AD_REV_ANY) {
            if (attempt == ANY_REV_RETRIES) {
                rc = ad_fail(err, AD_E_UNAVAILABLE,
                             "asset %s changed under %d replaces in a row; try again", id,
                             ANY_REV_RETRIES);
                break;
            }
            rc = current_rev(&c, by_id, AD_MONGO_F_REV, &cur, &found, err);
            if (!rc && !found) rc = ad_fail(err, AD_E_NOT_FOUND, "asset %s not found", id);
            if (rc) break;
        }
        rc = replace_at(&c, id, cur, json, len, doc, &matched, err);
        if (!rc && !matched && expect_rev != AD_REV_ANY)
            rc = classify_miss(&c, by_id, AD_MONGO_F_REV, "asset", id, expect_rev, err);
    }
    if (c.client) conn_put(&c);
    bson_destroy(by_id);
    if (!rc) *rev = cur + 1;
    return rc;
}

static ad_code mongo_remove(ad_meta *base, const char *id, int64_t expect_rev, ad_error *err)
{
    mongo_meta *m = (mongo_meta *)base;
    bson_t *by_id = BCON_NEW("asset_id", BCON_UTF8(id));
    bson_t *sel = expect_rev == AD_REV_ANY
                      ? BCON_NEW("asset_id", BCON_UTF8(id))
                      : BCON_NEW("asset_id", BCON_UTF8(id), AD_MONGO_F_REV, BCON_INT64(expect_rev));
    bson_t reply;
    bson_error_t e;
    int64_t n = 0;
    conn c;
    ad_code rc = conn_get(m, COLL_ASSETS, &c, err);
    if (!rc) {
        if (!mongoc_collection_delete_one(c.coll, sel, NULL, &reply, &e))
            rc = ad_mongo_fail(&e, "removing an asset", err);
        else
            rc = reply_count(&reply, "deletedCount", &n, err);
        bson_destroy(&reply);
        if (!rc && n == 0) {
            if (expect_rev == AD_REV_ANY)
                rc = ad_fail(err, AD_E_NOT_FOUND, "asset %s not found", id);
            else
                rc = classify_miss(&c, by_id, AD_MONGO_F_REV, "asset", id, expect_rev, err);
        }
        conn_put(&c);
    }
    bson_destroy(by_id);
    bson_destroy(sel);
    return rc;
}

/* --- lists --- */

/* Skip and limit the server is given (when its answer is exact) stay at
 * or under 2^62 each, so a server adding them cannot overflow; the rest of
 * a larger skip is counted here (the server has long run out of documents
 * by then). */
#define SERVER_SKIP_LIMIT_MAX ((uint64_t)1 << 62)

static uint64_t server_skip(const ad_query *q)
{
    return q->skip < SERVER_SKIP_LIMIT_MAX ? q->skip : SERVER_SKIP_LIMIT_MAX;
}

/* The find options: the text only, the order, and skip/limit when exact. */
static ad_code find_opts(const ad_query *q, bool exact, bson_t *opts, ad_error *err)
{
    bson_t sort, proj;
    ad_code rc = ad_mongo_sort_bson(q->sort_path, q->sort_desc, &sort, err);
    bson_init(opts);
    if (rc) {
        bson_destroy(&sort);
        return rc;
    }
    BSON_APPEND_DOCUMENT_BEGIN(opts, "projection", &proj);
    BSON_APPEND_INT32(&proj, AD_MONGO_F_JSON, 1);
    BSON_APPEND_INT32(&proj, "_id", 0);
    bson_append_document_end(opts, &proj);
    BSON_APPEND_DOCUMENT(opts, "sort", &sort);
    if (q->sort_path) BSON_APPEND_BOOL(opts, "allowDiskUse", true);
    if (exact && server_skip(q) > 0) BSON_APPEND_INT64(opts, "skip", (int64_t)server_skip(q));
    if (exact && q->limit <= SERVER_SKIP_LIMIT_MAX)
        BSON_APPEND_INT64(opts, "limit", (int64_t)q->limit);
    bson_destroy(&sort);
    return AD_OK;
}

/* Opens c->cur on filter and reads its first document, so that a server
 * that is down or refuses the query fails find, not the first row. */
static ad_code cursor_start(ad_meta_cursor *c, const bson_t *filter, const bson_t *opts,
                            bson_error_t *e)
{
    const bson_t *d;
    c->cur = mongoc_collection_find_with_opts(c->coll, filter, opts, NULL);
    if (mongoc_cursor_next(c->cur, &d)) {
        c->pending = d;
        return AD_OK;
    }
    if (mongoc_cursor_error(c->cur, e)) return ad_mongo_error_code(e->domain, e->code);
    c->done = true;
    return AD_OK;
}

static void cursor_stop(ad_meta_cursor *c)
{
    if (c->cur) mongoc_cursor_destroy(c->cur);
    c->cur = NULL;
    c->pending = NULL;
    c->done = false;
}

static void mongo_cursor_close(ad_meta_cursor *c);

static ad_code mongo_find(ad_meta *base, const ad_query *q, ad_meta_cursor **out, ad_error *err)
{
    mongo_meta *m = (mongo_meta *)base;
    bson_t filter, opts, empty = BSON_INITIALIZER;
    bson_error_t e;
    bool exact = false;
    conn cn;
    ad_code rc;
    ad_meta_cursor *c = calloc(1, sizeof(*c));
    *out = NULL;
    if (!c) return ad_fail(err, AD_E_NOMEM, "out of memory");
    c->m = m;
    rc = ad_mongo_filter_bson(q->filter, &filter, &exact, err);
    if (!rc)
        rc = find_opts(q, exact, &opts, err);
    else
        bson_init(&opts);
    if (!rc && q->limit == 0) { /* MongoDB reads limit 0 as "no limit" */
        c->done = true;
        goto done;
    }
    if (!rc) rc = conn_get(m, COLL_ASSETS, &cn, err);
    if (rc) goto done;
    c->client = cn.client;
    c->coll = cn.coll;
    rc = cursor_start(c, &filter, &opts, &e);
    if (rc == AD_E_BACKEND && !bson_empty(&filter)) {
        /* the server refused the query itself: scan, and filter here */
        ad_log(AD_LOG_WARN, "msg=\"MongoDB refused a list query; scanning\" error=\"%s\"",
               e.message);
        cursor_stop(c);
        exact = false;
        bson_destroy(&opts);
        rc = find_opts(q, false, &opts, err); /* cannot fail: it passed once */
        if (!rc) rc = cursor_start(c, &empty, &opts, &e);
    }
    if (rc) rc = ad_mongo_fail(&e, "listing assets", err);
done:
    if (!rc) {
        c->filter = exact ? NULL : q->filter;
        c->skip = exact ? q->skip - server_skip(q) : q->skip;
        c->limit = q->limit;
        *out = c;
    } else {
        mongo_cursor_close(c);
    }
    bson_destroy(&filter);
    bson_destroy(&opts);
    return rc;
}

/* The next document of the cursor (NULL at the end). */
static ad_code cursor_fetch(ad_meta_cursor *c, const bson_t **d, ad_error *err)
{
    bson_error_t e;
    *d = NULL;
    if (c->pending) {
        *d = c->pending;
        c->pending = NULL;
        return AD_OK;
    }
    if (c->done || !c->cur) return AD_OK;
    if (mongoc_cursor_next(c->cur, d)) return AD_OK;
    *d = NULL;
    c->done = true;
    if (mongoc_cursor_error(c->cur, &e)) return ad_mongo_fail(&e, "reading a list", err);
    return AD_OK;
}

static ad_code mongo_cursor_next(ad_meta_cursor *c, const char **json, size_t *len, ad_error *err)
{
    *json = NULL;
    *len = 0;
    while (c->limit > 0) {
        const bson_t *d;
        const char *text;
        uint32_t n = 0;
        ad_code rc = cursor_fetch(c, &d, err);
        if (rc) return rc;
        if (!d) break;
        text = get_utf8(d, AD_MONGO_F_JSON, &n);
        if (!text) return ad_fail(err, AD_E_BACKEND, "a stored asset has no %s", AD_MONGO_F_JSON);
        if (c->filter) {
            json_t *doc = json_loadb(text, n, 0, NULL);
            int hit;
            if (!doc) return ad_fail(err, AD_E_BACKEND, "a stored document is not JSON");
            hit = ad_filter_match(c->filter, doc, err);
            json_decref(doc);
            if (hit < 0) return err ? err->code : AD_E_FILTER;
            if (!hit) continue;
        }
        if (c->skip) {
            c->skip--;
            continue;
        }
        if (c->limit != UINT64_MAX) c->limit--;
        *json = text;
        *len = n;
        return AD_OK;
    }
    c->done = true;
    return AD_OK;
}

static void mongo_cursor_close(ad_meta_cursor *c)
{
    if (!c) return;
    if (c->cur) mongoc_cursor_destroy(c->cur);
    if (c->coll) mongoc_collection_destroy(c->coll);
    if (c->client) mongoc_client_pool_push(c->m->pool, c->client);
    free(c);
}

/* --- records --- */

static bson_t *rec_key(const char *ns, const char *key)
{
    return BCON_NEW("ns", BCON_UTF8(ns), "key", BCON_UTF8(key));
}

static ad_code rec_insert(conn *c, const char *ns, const char *key, const char *json, size_t len,
                          ad_error *err)
{
    bson_t *doc = BCON_NEW("ns", BCON_UTF8(ns), "key", BCON_UTF8(key), "rev", BCON_INT64(1),
                           "mtime", BCON_DATE_TIME(now_ms()));
    bson_t reply;
    bson_error_t e;
    ad_code rc = AD_OK;
    bson_append_utf8(doc, "json", -1, json, (int)len);
    if (!mongoc_collection_insert_one(c->coll, doc, NULL, &reply, &e)) {
        rc = ad_mongo_fail(&e, "inserting a record", err);
        if (rc == AD_E_EXISTS) rc = ad_fail(err, rc, "record %s/%s already exists", ns, key);
    }
    bson_destroy(&reply);
    bson_destroy(doc);
    return rc;
}

/* {$set: {json, mtime}, $inc: {rev: 1}} */
static bson_t *rec_update(const char *json, size_t len)
{
    bson_t *u = bson_new(), set;
    BSON_APPEND_DOCUMENT_BEGIN(u, "$set", &set);
    bson_append_utf8(&set, "json", -1, json, (int)len);
    BSON_APPEND_DATE_TIME(&set, "mtime", now_ms());
    bson_append_document_end(u, &set);
    BCON_APPEND(u, "$inc", "{", "rev", BCON_INT64(1), "}");
    return u;
}

/* expect_rev > 0: one conditional update. */
static ad_code rec_replace(conn *c, const char *ns, const char *key, const char *json, size_t len,
                           int64_t expect, ad_error *err)
{
    bson_t *sel = BCON_NEW("ns", BCON_UTF8(ns), "key", BCON_UTF8(key), "rev", BCON_INT64(expect));
    bson_t *upd = rec_update(json, len);
    bson_t reply;
    bson_error_t e;
    int64_t n = 0;
    ad_code rc = AD_OK;
    if (!mongoc_collection_update_one(c->coll, sel, upd, NULL, &reply, &e))
        rc = ad_mongo_fail(&e, "replacing a record", err);
    else
        rc = reply_count(&reply, "matchedCount", &n, err);
    bson_destroy(&reply);
    if (!rc && n == 0) {
        bson_t *k = rec_key(ns, key);
        char what[AD_REC_NS_MAX + 16];
        snprintf(what, sizeof(what), "record %s", ns);
        rc = classify_miss(c, k, "rev", what, key, expect, err);
        bson_destroy(k);
    }
    bson_destroy(sel);
    bson_destroy(upd);
    return rc;
}

/* AD_REV_ANY: create or replace in one upsert; *rev from its answer. */
static ad_code rec_upsert(conn *c, const char *ns, const char *key, const char *json, size_t len,
                          int64_t *rev, ad_error *err)
{
    bson_t *sel = rec_key(ns, key);
    bson_t *upd = rec_update(json, len);
    bson_t *fields = BCON_NEW("rev", BCON_INT32(1));
    mongoc_find_and_modify_opts_t *o = mongoc_find_and_modify_opts_new();
    ad_code rc = AD_OK;
    mongoc_find_and_modify_opts_set_update(o, upd);
    mongoc_find_and_modify_opts_set_fields(o, fields);
    mongoc_find_and_modify_opts_set_flags(o, MONGOC_FIND_AND_MODIFY_UPSERT |
                                                 MONGOC_FIND_AND_MODIFY_RETURN_NEW);
    for (int attempt = 0;; attempt++) {
        bson_t reply;
        bson_error_t e;
        bson_iter_t it;
        rc = AD_OK;
        if (!mongoc_collection_find_and_modify_with_opts(c->coll, sel, o, &reply, &e))
            rc = ad_mongo_fail(&e, "writing a record", err);
        else if (bson_iter_init(&it, &reply) && bson_iter_find_descendant(&it, "value.rev", &it) &&
                 BSON_ITER_HOLDS_NUMBER(&it))
            *rev = bson_iter_as_int64(&it);
        else
            rc = ad_fail(err, AD_E_BACKEND, "MongoDB: the written record has no revision");
        bson_destroy(&reply);
        if (rc != AD_E_EXISTS || attempt + 1 >= UPSERT_RETRIES) break;
        ad_error_clear(err); /* another writer created it first: update it */
    }
    mongoc_find_and_modify_opts_destroy(o);
    bson_destroy(sel);
    bson_destroy(upd);
    bson_destroy(fields);
    return rc;
}

static ad_code mongo_rec_put(ad_meta *base, const char *ns, const char *key, const char *json,
                             size_t len, int64_t expect_rev, int64_t *rev, ad_error *err)
{
    mongo_meta *m = (mongo_meta *)base;
    json_t *parsed;
    conn c;
    ad_code rc = ad_rec_check(ns, key, len, err);
    if (rc) return rc;
    if (expect_rev < 0 && expect_rev != AD_REV_ANY)
        return ad_fail(err, AD_E_BAD_REQUEST, "record revision %lld is not valid",
                       (long long)expect_rev);
    parsed = json_loadb(json, len, 0, NULL);
    if (!json_is_object(parsed)) {
        json_decref(parsed);
        return ad_fail(err, AD_E_BAD_REQUEST, "record %s/%s is not a JSON object", ns, key);
    }
    json_decref(parsed);
    rc = conn_get(m, COLL_RECORDS, &c, err);
    if (rc) return rc;
    if (expect_rev == 0) {
        rc = rec_insert(&c, ns, key, json, len, err);
        if (!rc) *rev = 1;
    } else if (expect_rev > 0) {
        rc = rec_replace(&c, ns, key, json, len, expect_rev, err);
        if (!rc) *rev = expect_rev + 1;
    } else {
        rc = rec_upsert(&c, ns, key, json, len, rev, err);
    }
    conn_put(&c);
    return rc;
}

static ad_code mongo_rec_get(ad_meta *base, const char *ns, const char *key, ad_doc *out,
                             ad_error *err)
{
    mongo_meta *m = (mongo_meta *)base;
    bson_t doc;
    bool found = false;
    bson_t *sel, *opts;
    conn c;
    ad_code rc = ad_rec_check(ns, key, 0, err);
    memset(out, 0, sizeof(*out));
    if (rc) return rc;
    sel = rec_key(ns, key);
    opts = BCON_NEW("projection", "{", "json", BCON_INT32(1), "rev", BCON_INT32(1), "mtime",
                    BCON_INT32(1), "_id", BCON_INT32(0), "}", "limit", BCON_INT64(1));
    rc = conn_get(m, COLL_RECORDS, &c, err);
    if (!rc) {
        rc = find_one(&c, sel, opts, &doc, &found, "reading a record", err);
        conn_put(&c);
    }
    if (!rc && !found) rc = ad_fail(err, AD_E_NOT_FOUND, "record %s/%s not found", ns, key);
    if (!rc) {
        int got = doc_out(&doc, "json", "rev", "mtime", out);
        if (got == -1)
            rc = ad_fail(err, AD_E_BACKEND, "record %s/%s: the stored record has no json or rev",
                         ns, key);
        else if (got == -2)
            rc = ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    if (found) bson_destroy(&doc);
    bson_destroy(sel);
    bson_destroy(opts);
    return rc;
}

static ad_code mongo_rec_remove(ad_meta *base, const char *ns, const char *key, int64_t expect_rev,
                                ad_error *err)
{
    mongo_meta *m = (mongo_meta *)base;
    bson_t *k, *sel, reply;
    bson_error_t e;
    int64_t n = 0;
    conn c;
    ad_code rc = ad_rec_check(ns, key, 0, err);
    if (rc) return rc;
    k = rec_key(ns, key);
    sel = expect_rev == AD_REV_ANY
              ? rec_key(ns, key)
              : BCON_NEW("ns", BCON_UTF8(ns), "key", BCON_UTF8(key), "rev", BCON_INT64(expect_rev));
    rc = conn_get(m, COLL_RECORDS, &c, err);
    if (!rc) {
        if (!mongoc_collection_delete_one(c.coll, sel, NULL, &reply, &e))
            rc = ad_mongo_fail(&e, "removing a record", err);
        else
            rc = reply_count(&reply, "deletedCount", &n, err);
        bson_destroy(&reply);
        if (!rc && n == 0) {
            char what[AD_REC_NS_MAX + 16];
            snprintf(what, sizeof(what), "record %s", ns);
            if (expect_rev == AD_REV_ANY)
                rc = ad_fail(err, AD_E_NOT_FOUND, "record %s/%s not found", ns, key);
            else
                rc = classify_miss(&c, k, "rev", what, key, expect_rev, err);
        }
        conn_put(&c);
    }
    bson_destroy(k);
    bson_destroy(sel);
    return rc;
}

static ad_code mongo_rec_list(ad_meta *base, const char *ns, ad_rec_fn fn, void *ctx, ad_error *err)
{
    mongo_meta *m = (mongo_meta *)base;
    bson_t *sel, *opts;
    const bson_t *d;
    bson_error_t e;
    mongoc_cursor_t *cur;
    conn c;
    ad_code rc = ad_rec_check(ns, "-", 0, err); /* the namespace rules; no key here */
    if (rc) return rc;
    sel = BCON_NEW("ns", BCON_UTF8(ns));
    opts =
        BCON_NEW("projection", "{", "key", BCON_INT32(1), "json", BCON_INT32(1), "rev",
                 BCON_INT32(1), "_id", BCON_INT32(0), "}", "sort", "{", "key", BCON_INT32(1), "}");
    rc = conn_get(m, COLL_RECORDS, &c, err);
    if (!rc) {
        cur = mongoc_collection_find_with_opts(c.coll, sel, opts, NULL);
        while (mongoc_cursor_next(cur, &d)) {
            uint32_t klen = 0, jlen = 0;
            int64_t rev = 0;
            const char *key = get_utf8(d, "key", &klen);
            const char *json = get_utf8(d, "json", &jlen);
            if (!key || !json || !get_int64(d, "rev", &rev)) {
                rc = ad_fail(err, AD_E_BACKEND, "a stored record of %s is incomplete", ns);
                break;
            }
            if (fn(ctx, key, json, jlen, rev)) break;
        }
        if (!rc && mongoc_cursor_error(cur, &e)) rc = ad_mongo_fail(&e, "listing records", err);
        mongoc_cursor_destroy(cur);
        conn_put(&c);
    }
    bson_destroy(sel);
    bson_destroy(opts);
    return rc;
}

#define MONGO_OPS(scheme_name)                                                                     \
    {                                                                                              \
        .version = AD_META_OPS_VERSION, .scheme = scheme_name, .open = mongo_open,                 \
        .close = mongo_close, .ping = mongo_ping, .get = mongo_get, .insert = mongo_insert,        \
        .replace = mongo_replace, .remove = mongo_remove, .find = mongo_find,                      \
        .cursor_next = mongo_cursor_next, .cursor_close = mongo_cursor_close,                      \
        .rec_put = mongo_rec_put, .rec_get = mongo_rec_get, .rec_remove = mongo_rec_remove,        \
        .rec_list = mongo_rec_list,                                                                \
    }

const ad_meta_ops ad_meta_mongo_ops = MONGO_OPS("mongodb");
const ad_meta_ops ad_meta_mongo_srv_ops = MONGO_OPS("mongodb+srv");
