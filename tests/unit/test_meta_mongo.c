/*
 * test_meta_mongo.c — the MongoDB meta store adapter (store/meta_mongo.c)
 * against a real MongoDB server: the port's contract suite
 * (meta_contract.c) on a fresh database of ASSETD_TEST_MONGODB_URI, then
 * what is particular to MongoDB: the collection layout and indexes as a
 * MongoDB user sees them, field names MongoDB would refuse, two handles
 * (two assetd instances) sharing the database, records, and reopening.
 *
 * Debian 12 packages no MongoDB server, so the project's scripts cannot
 * start one: without ASSETD_TEST_MONGODB_URI this test exits 77 (skipped)
 * with the reason. What needs no server is tested in
 * test_meta_mongo_bson.c. The database this test creates
 * (assetd_test_<pid>_<time>) is dropped at the end.
 */
#include <jansson.h>
#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "meta_contract.h"
#include "testjson.h"
#include "store/meta.h"

#define SKIP_MSG                                                                                   \
    "ASSETD_TEST_MONGODB_URI not set: Debian 12 has no MongoDB server package; set it to run the " \
    "contract suite against a real server"

/* base with its database replaced by db. When the URL has credentials and
 * no authSource, the old database (or "admin") becomes the authSource, as
 * it was the one the user authenticated against. */
static char *test_url(const char *base, const char *db)
{
    const char *hosts = strstr(base, "://");
    const char *rest, *opts;
    char olddb[256] = "", *out;
    bool creds, has_source;
    size_t cap;
    if (!hosts) return NULL;
    hosts += 3;
    rest = hosts + strcspn(hosts, "/?");
    opts = strchr(rest, '?');
    if (*rest == '/') {
        size_t n = (size_t)((opts ? opts : rest + strlen(rest)) - (rest + 1));
        snprintf(olddb, sizeof(olddb), "%.*s", (int)n, rest + 1);
    }
    creds = memchr(hosts, '@', (size_t)(rest - hosts)) != NULL;
    has_source = opts && strcasestr(opts, "authsource=") != NULL;
    cap = strlen(base) + strlen(db) + sizeof(olddb) + 64;
    out = malloc(cap);
    if (!out) abort();
    snprintf(out, cap, "%.*s/%s%s%s%s%s%s", (int)(rest - base), base, db,
             opts || (creds && !has_source) ? "?" : "", opts ? opts + 1 : "",
             opts && opts[1] && creds && !has_source ? "&" : "",
             creds && !has_source ? "authSource=" : "",
             creds && !has_source ? (*olddb ? olddb : "admin") : "");
    return out;
}

static char *dump(const json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!s) abort();
    *len = strlen(s);
    return s;
}

static ad_code insert(ad_meta *m, const char *id, const char *extras_sq, char **text, size_t *len)
{
    json_t *doc = js(extras_sq);
    int64_t rev = 0;
    ad_error err = {0};
    ad_code rc;
    json_object_set_new(doc, "asset_id", json_string(id));
    *text = dump(doc, len);
    rc = m->ops->insert(m, id, *text, *len, doc, &rev, &err);
    CHECK(rc == AD_OK && rev == 1, "insert %s: %s (%s)", id, ad_code_name(rc), err.msg);
    json_decref(doc);
    return rc;
}

/* The raw stored document of asset id, read with libmongoc. */
static bool raw_doc(mongoc_collection_t *coll, const char *id, bson_t *out)
{
    const bson_t *d;
    bool found = false;
    bson_t *filter = BCON_NEW("asset_id", BCON_UTF8(id));
    mongoc_cursor_t *cur = mongoc_collection_find_with_opts(coll, filter, NULL, NULL);
    if (mongoc_cursor_next(cur, &d)) {
        bson_copy_to(d, out);
        found = true;
    }
    mongoc_cursor_destroy(cur);
    bson_destroy(filter);
    return found;
}

static bool index_named(mongoc_collection_t *coll, const char *name, bool unique)
{
    const bson_t *d;
    bson_iter_t it;
    bool found = false;
    mongoc_cursor_t *cur = mongoc_collection_find_indexes_with_opts(coll, NULL);
    while (!found && mongoc_cursor_next(cur, &d)) {
        if (!bson_iter_init_find(&it, d, "name") || strcmp(bson_iter_utf8(&it, NULL), name) != 0)
            continue;
        found = !unique || (bson_iter_init_find(&it, d, "unique") && bson_iter_as_bool(&it));
    }
    mongoc_cursor_destroy(cur);
    return found;
}

/* The layout a MongoDB user sees, and the indexes. */
static void test_layout(ad_meta *m, mongoc_database_t *db)
{
    mongoc_collection_t *assets = mongoc_database_get_collection(db, "assets");
    mongoc_collection_t *records = mongoc_database_get_collection(db, "records");
    bson_t raw;
    bson_iter_t it;
    char *text = NULL;
    size_t len = 0;
    int64_t seq = 0;
    if (insert(m, "layout-1",
               "{'profiles': [{'asset_type': 'model', 'asset_tags': ['a']}], '$x': 1, "
               "'o': {'a.b': {'$c': 2}}, '_rev': 'user field'}",
               &text, &len) == AD_OK) {
        CHECK(raw_doc(assets, "layout-1", &raw), "layout: the document is not in `assets`");
        if (bson_iter_init_find(&it, &raw, "_id")) seq = bson_iter_as_int64(&it);
        CHECK(seq > 0, "layout: _id is the creation sequence");
        CHECK(bson_iter_init_find(&it, &raw, "_rev") && BSON_ITER_HOLDS_INT64(&it) &&
                  bson_iter_int64(&it) == 1,
              "layout: _rev is int64 1");
        CHECK(bson_iter_init_find(&it, &raw, "_mtime") && BSON_ITER_HOLDS_DATE_TIME(&it) &&
                  bson_iter_date_time(&it) / 1000 > time(NULL) - 600,
              "layout: _mtime is a recent date");
        CHECK(bson_iter_init_find(&it, &raw, "_json") && BSON_ITER_HOLDS_UTF8(&it) &&
                  strcmp(bson_iter_utf8(&it, NULL), text) == 0,
              "layout: _json is the canonical text");
        CHECK(bson_iter_init_find(&it, &raw, "%5Frev") &&
                  strcmp(bson_iter_utf8(&it, NULL), "user field") == 0,
              "layout: an asset field named _rev is stored escaped");
        CHECK(bson_iter_init(&it, &raw) && bson_iter_find_descendant(&it, "profiles", &it) &&
                  BSON_ITER_HOLDS_ARRAY(&it),
              "layout: asset fields are top-level fields");
        CHECK(bson_iter_init_find(&it, &raw, "%24x"), "layout: '$x' is stored as %%24x");
        bson_destroy(&raw);
    }
    free(text);
    /* a replace keeps _id (creation order) and bumps _rev */
    {
        json_t *doc = js("{'asset_id': 'layout-1', 'profiles': []}");
        int64_t rev = 0;
        ad_error err = {0};
        text = dump(doc, &len);
        CHECK(m->ops->replace(m, "layout-1", 1, text, len, doc, &rev, &err) == AD_OK && rev == 2,
              "layout: replace: %s", err.msg);
        if (raw_doc(assets, "layout-1", &raw)) {
            CHECK(bson_iter_init_find(&it, &raw, "_id") && bson_iter_as_int64(&it) == seq,
                  "layout: replace changed _id");
            CHECK(!bson_iter_init_find(&it, &raw, "%24x"), "layout: replace left an old field");
            bson_destroy(&raw);
        }
        free(text);
        json_decref(doc);
    }
    CHECK(index_named(assets, "asset_id_1", true), "index: unique asset_id");
    CHECK(index_named(assets, "profiles.asset_type_1", false), "index: profiles.asset_type");
    CHECK(index_named(assets, "profiles.asset_sub_type_1", false),
          "index: profiles.asset_sub_type");
    CHECK(index_named(assets, "profiles.asset_tags_1", false), "index: profiles.asset_tags");
    CHECK(index_named(assets, "apis.asset_api_route_1", false), "index: apis.asset_api_route");
    CHECK(index_named(records, "ns_1_key_1", true), "index: unique (ns, key) of records");
    mongoc_collection_destroy(assets);
    mongoc_collection_destroy(records);
}

/* Two handles on one database: what two assetd instances see. */
static void test_two_handles(const char *url, ad_meta *m1)
{
    ad_meta *m2 = NULL;
    ad_error err = {0};
    ad_doc out = {0};
    char *text = NULL;
    size_t len = 0;
    int64_t rev = 0;
    ad_code rc = ad_meta_open(url, &m2, &err); /* a second open: indexes exist already */
    CHECK(rc == AD_OK, "second handle: %s (%s)", ad_code_name(rc), err.msg);
    if (rc) return;
    if (insert(m1, "shared-1", "{'n': 1}", &text, &len) == AD_OK) {
        rc = m2->ops->get(m2, "shared-1", &out, &err);
        CHECK(rc == AD_OK && out.len == len && memcmp(out.json, text, len) == 0 && out.rev == 1,
              "the other handle reads the write: %s (%s)", ad_code_name(rc), err.msg);
        ad_doc_free(&out);
        {
            json_t *doc = js("{'asset_id': 'shared-1', 'n': 2}");
            char *t2 = dump(doc, &len);
            rc = m2->ops->replace(m2, "shared-1", 1, t2, len, doc, &rev, &err);
            CHECK(rc == AD_OK && rev == 2, "replace on the other handle: %s", err.msg);
            rc = m1->ops->replace(m1, "shared-1", 1, t2, len, doc, &rev, &err);
            CHECK(rc == AD_E_PRECONDITION, "stale replace on the first handle: %s",
                  ad_code_name(rc));
            rc = m1->ops->remove(m1, "shared-1", 1, &err);
            CHECK(rc == AD_E_PRECONDITION, "stale remove: %s", ad_code_name(rc));
            rc = m1->ops->remove(m1, "shared-1", 2, &err);
            CHECK(rc == AD_OK, "remove at the current revision: %s", err.msg);
            rc = m2->ops->get(m2, "shared-1", &out, &err);
            CHECK(rc == AD_E_NOT_FOUND, "removed on one, gone on the other: %s", ad_code_name(rc));
            free(t2);
            json_decref(doc);
        }
    }
    free(text);
    /* records: written on one, read on the other at once */
    if (m1->ops->rec_put && m2->ops->rec_get) {
        const char *rec = "{\"role\":\"admin\"}";
        rc = m1->ops->rec_put(m1, "tokens", "k1", rec, strlen(rec), 0, &rev, &err);
        CHECK(rc == AD_OK && rev == 1, "rec_put: %s (%s)", ad_code_name(rc), err.msg);
        rc = m2->ops->rec_get(m2, "tokens", "k1", &out, &err);
        CHECK(rc == AD_OK && out.len == strlen(rec) && memcmp(out.json, rec, out.len) == 0,
              "rec_get on the other handle: %s (%s)", ad_code_name(rc), err.msg);
        ad_doc_free(&out);
        rc = m2->ops->rec_put(m2, "tokens", "k1", rec, strlen(rec), 0, &rev, &err);
        CHECK(rc == AD_E_EXISTS, "rec_put of an existing key: %s", ad_code_name(rc));
        rc = m2->ops->rec_put(m2, "tokens", "k1", rec, strlen(rec), AD_REV_ANY, &rev, &err);
        CHECK(rc == AD_OK && rev == 2, "rec_put any: %s, rev %lld", ad_code_name(rc),
              (long long)rev);
        rc = m1->ops->rec_remove(m1, "tokens", "k1", 1, &err);
        CHECK(rc == AD_E_PRECONDITION, "stale rec_remove: %s", ad_code_name(rc));
        rc = m1->ops->rec_remove(m1, "tokens", "k1", AD_REV_ANY, &err);
        CHECK(rc == AD_OK, "rec_remove: %s", err.msg);
    }
    m2->ops->close(m2);
}

int main(void)
{
    const char *base = getenv("ASSETD_TEST_MONGODB_URI");
    char dbname[64], *url;
    ad_meta *m = NULL;
    ad_error err = {0};
    int failed;
    if (!base || !*base) {
        printf("%s\n", SKIP_MSG);
        return 77;
    }
    snprintf(dbname, sizeof(dbname), "assetd_test_%ld_%ld", (long)getpid(), (long)time(NULL));
    url = test_url(base, dbname);
    if (!url) {
        fprintf(stderr, "ASSETD_TEST_MONGODB_URI is not a mongodb:// URL\n");
        return 1;
    }
    failed = meta_contract_run(url);

    CHECK(ad_meta_open(url, &m, &err) == AD_OK, "open %s: %s", dbname, err.msg);
    if (m) {
        mongoc_client_t *client = mongoc_client_new(url);
        mongoc_database_t *db = client ? mongoc_client_get_database(client, dbname) : NULL;
        bson_error_t e;
        if (db) test_layout(m, db);
        test_two_handles(url, m);
        m->ops->close(m);
        CHECK(db && mongoc_database_drop(db, &e), "dropping %s: %s", dbname,
              db ? e.message : "no client");
        if (db) mongoc_database_destroy(db);
        if (client) mongoc_client_destroy(client);
    }
    free(url);
    return check_summary("meta mongo (server)") || failed ? 1 : 0;
}
