/*
 * test_meta_sqlite.c — the SQLite meta store adapter (store/meta_sqlite.c):
 * the port's contract suite (meta_contract.c) on a fresh file, then what is
 * particular to an embedded file: the data survives closing and reopening,
 * and two handles on one file see each other's writes.
 */
#include <ftw.h>
#include <jansson.h>
#include <stdint.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "core/filter.h"
#include "meta_contract.h"
#include "store/meta.h"

static int rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void rm_tree(const char *dir)
{
    nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static char *doc_text(const char *id, int n, size_t *len, json_t **doc)
{
    char *s;
    *doc = json_pack("{s:s, s:s, s:s, s:s, s:[], s:[], s:i}", "asset_id", id, "asset_uri",
                     "uri://x", "asset_version", "v1", "asset_profile_id", "pp", "asset_file_ids",
                     "profiles", "n", n);
    s = json_dumps(*doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    *len = strlen(s);
    return s;
}

/* Number of documents find {} returns, or -1 on error. */
static long count_all(ad_meta *m)
{
    json_t *fj = json_object();
    ad_filter *f = NULL;
    ad_meta_cursor *c = NULL;
    ad_error err = {0};
    long n = 0;
    if (ad_filter_parse(fj, &f, &err) != AD_OK) n = -1;
    if (n == 0) {
        ad_query q = {f, NULL, false, 0, UINT64_MAX};
        if (m->ops->find(m, &q, &c, &err) != AD_OK) n = -1;
    }
    while (n >= 0) {
        const char *j;
        size_t len;
        if (m->ops->cursor_next(c, &j, &len, &err) != AD_OK)
            n = -1;
        else if (!j)
            break;
        else
            n++;
    }
    m->ops->cursor_close(c);
    ad_filter_free(f);
    json_decref(fj);
    return n;
}

static void test_open_errors(const char *dir)
{
    ad_meta *m = NULL;
    ad_error err = {0};
    char url[4200];
    ad_code rc;

    rc = ad_meta_open("nosuch:///x.db", &m, &err);
    CHECK(rc == AD_E_BAD_REQUEST && !m, "unknown scheme: %s", ad_code_name(rc));
    rc = ad_meta_open("sqlite://", &m, &err);
    CHECK(rc == AD_E_BAD_REQUEST && !m, "sqlite:// without a path: %s", ad_code_name(rc));
    rc = ad_meta_open("no-colon", &m, &err);
    CHECK(rc == AD_E_BAD_REQUEST && !m, "URL without a scheme: %s", ad_code_name(rc));
    snprintf(url, sizeof(url), "sqlite://%s/no/such/dir/t.db", dir);
    rc = ad_meta_open(url, &m, &err);
    CHECK(rc == AD_E_UNAVAILABLE && !m, "file in a missing directory: %s (%s)", ad_code_name(rc),
          err.msg);
}

static void test_sqlite_specific(const char *dir, const char *url)
{
    ad_meta *m1 = NULL, *m2 = NULL, *m3 = NULL;
    ad_error err = {0};
    ad_code rc;
    ad_doc out = {0};
    json_t *doc;
    size_t len;
    char *text;
    int64_t rev = 0;
    long before;

    /* reopen: the contract suite left documents behind */
    rc = ad_meta_open(url, &m1, &err);
    CHECK(rc == AD_OK, "reopen %s: %s (%s)", url, ad_code_name(rc), err.msg);
    if (rc) return;
    before = count_all(m1);
    CHECK(before > 200, "reopened store holds %ld documents, want the suite's (> 200)", before);
    rc = m1->ops->get(m1, "hot", &out, &err);
    CHECK(rc == AD_OK && out.rev == 201, "reopened store: hot at rev %lld (%s)", (long long)out.rev,
          ad_code_name(rc));
    ad_doc_free(&out);

    /* a second handle on the same file sees the first one's writes */
    rc = ad_meta_open(url, &m2, &err);
    CHECK(rc == AD_OK, "second open of %s: %s (%s)", url, ad_code_name(rc), err.msg);
    if (rc) {
        m1->ops->close(m1);
        return;
    }
    text = doc_text("shared", 1, &len, &doc);
    rc = m1->ops->insert(m1, "shared", text, len, doc, &rev, &err);
    CHECK(rc == AD_OK, "insert through handle 1: %s (%s)", ad_code_name(rc), err.msg);
    free(text);
    json_decref(doc);
    rc = m2->ops->get(m2, "shared", &out, &err);
    CHECK(rc == AD_OK && out.rev == 1, "handle 2 get of handle 1's insert: %s", ad_code_name(rc));
    ad_doc_free(&out);
    CHECK(count_all(m2) == before + 1, "handle 2 find {} after handle 1's insert: %ld, want %ld",
          count_all(m2), before + 1);

    text = doc_text("shared", 2, &len, &doc);
    rc = m2->ops->replace(m2, "shared", 1, text, len, doc, &rev, &err);
    CHECK(rc == AD_OK && rev == 2, "replace through handle 2: %s rev %lld", ad_code_name(rc),
          (long long)rev);
    rc = m1->ops->replace(m1, "shared", 1, text, len, doc, &rev, &err);
    CHECK(rc == AD_E_PRECONDITION, "handle 1 replace with the rev handle 2 replaced: %s",
          ad_code_name(rc));
    free(text);
    json_decref(doc);
    rc = m1->ops->get(m1, "shared", &out, &err);
    CHECK(rc == AD_OK && out.rev == 2 && out.json && strstr(out.json, "\"n\":2"),
          "handle 1 sees handle 2's replace: %s rev %lld", ad_code_name(rc), (long long)out.rev);
    ad_doc_free(&out);
    {
        json_t *fj = json_pack("{s:i}", "n", 2);
        ad_filter *f = NULL;
        ad_meta_cursor *c = NULL;
        const char *j = NULL;
        size_t n = 0;
        int rows = 0;
        ad_filter_parse(fj, &f, &err);
        ad_query q = {f, NULL, false, 0, UINT64_MAX};
        rc = m1->ops->find(m1, &q, &c, &err);
        while (rc == AD_OK && m1->ops->cursor_next(c, &j, &n, &err) == AD_OK && j)
            rows += strstr(j, "\"asset_id\":\"shared\"") != NULL;
        CHECK(rows == 1, "handle 1 finds handle 2's replaced value through the index: %d", rows);
        m1->ops->cursor_close(c);
        ad_filter_free(f);
        json_decref(fj);
    }

    rc = m1->ops->remove(m1, "shared", 2, &err);
    CHECK(rc == AD_OK, "remove through handle 1: %s", ad_code_name(rc));
    rc = m2->ops->get(m2, "shared", &out, &err);
    CHECK(rc == AD_E_NOT_FOUND, "handle 2 after handle 1's remove: %s", ad_code_name(rc));
    ad_doc_free(&out);

    /* the last write before closing survives */
    text = doc_text("last", 3, &len, &doc);
    rc = m2->ops->insert(m2, "last", text, len, doc, &rev, &err);
    CHECK(rc == AD_OK, "insert last: %s", ad_code_name(rc));
    free(text);
    json_decref(doc);
    m1->ops->close(m1);
    m2->ops->close(m2);

    rc = ad_meta_open(url, &m3, &err);
    CHECK(rc == AD_OK, "third open: %s (%s)", ad_code_name(rc), err.msg);
    if (rc) return;
    rc = m3->ops->ping(m3, &err);
    CHECK(rc == AD_OK, "ping after reopen: %s", ad_code_name(rc));
    rc = m3->ops->get(m3, "last", &out, &err);
    CHECK(rc == AD_OK && out.rev == 1, "after reopen, last: %s", ad_code_name(rc));
    ad_doc_free(&out);
    CHECK(count_all(m3) == before + 1, "after reopen find {}: %ld, want %ld", count_all(m3),
          before + 1);

    /* a sort path that is not a field path is refused, not spliced into SQL */
    {
        json_t *fj = json_object();
        ad_filter *f = NULL;
        ad_meta_cursor *c = NULL;
        ad_filter_parse(fj, &f, &err);
        ad_query q = {f, "n); DROP TABLE assets; --", false, 0, UINT64_MAX};
        rc = m3->ops->find(m3, &q, &c, &err);
        CHECK(rc == AD_E_BAD_REQUEST && !c, "hostile sort path: %s", ad_code_name(rc));
        m3->ops->cursor_close(c);
        ad_filter_free(f);
        json_decref(fj);
    }
    CHECK(count_all(m3) == before + 1, "after the hostile sort path find {}: %ld", count_all(m3));
    m3->ops->close(m3);
    (void)dir;
}

/* Ids that find returns for filter (a JSON text), comma-joined. */
static void find_ids(ad_meta *m, const char *filter, char *out, size_t cap)
{
    json_t *fj = json_loads(filter, 0, NULL);
    ad_filter *f = NULL;
    ad_meta_cursor *cur = NULL;
    ad_query q = {0};
    ad_error err = {0};
    const char *text;
    size_t len, used = 0;
    out[0] = '\0';
    if (!fj || ad_filter_parse(fj, &f, &err)) {
        snprintf(out, cap, "parse error: %.200s", err.msg);
        json_decref(fj);
        return;
    }
    q.filter = f;
    q.limit = UINT64_MAX;
    if (m->ops->find(m, &q, &cur, &err) == AD_OK) {
        while (m->ops->cursor_next(cur, &text, &len, &err) == AD_OK && text) {
            json_t *d = json_loadb(text, len, 0, NULL);
            const char *id = json_string_value(json_object_get(d, "asset_id"));
            used +=
                (size_t)snprintf(out + used, cap - used, "%s%s", used ? "," : "", id ? id : "?");
            json_decref(d);
            if (used >= cap) break;
        }
    } else {
        snprintf(out, cap, "find error: %.200s", err.msg);
    }
    m->ops->cursor_close(cur);
    ad_filter_free(f);
    json_decref(fj);
}

/* Two bounds on one path share an index scan only where one value must
 * satisfy both: a document matching through two values of a list stays. */
static void test_range_merging(const char *dir)
{
    static const struct {
        const char *id, *doc;
    } docs[] = {
        {"r1", "{\"asset_id\": \"r1\", \"x\": 505, \"z\": 5}"},
        {"r2", "{\"asset_id\": \"r2\", \"x\": [400, 600], \"z\": 7}"},
        {"r3", "{\"asset_id\": \"r3\", \"x\": [505]}"},
        {"r4", "{\"asset_id\": \"r4\", \"y\": 1}"},
        /* a null at a schema field (not indexed) still satisfies $exists */
        {"r5", "{\"asset_id\": \"r5\", \"profiles\": [{\"asset_description\": null}],"
               " \"asset_workflow_id\": null}"},
    };
    static const struct {
        const char *filter, *want;
    } cases[] = {
        {"{\"x\": {\"$gte\": 500, \"$lt\": 510}}", "r1,r2,r3"},
        {"{\"x\": {\"$elemMatch\": {\"$gte\": 500, \"$lt\": 510}}}", "r3"},
        {"{\"x\": {\"$elemMatch\": {\"$gte\": 550, \"$lt\": 450}}}", ""},
        {"{\"z\": {\"$gt\": 4, \"$lt\": 6}}", "r1"},
        {"{\"z\": {\"$gte\": 5, \"$lte\": 7}}", "r1,r2"},
        {"{\"$and\": [{\"z\": {\"$gt\": 6}}, {\"z\": {\"$lt\": 8}}]}", "r2"},
        {"{\"asset_workflow_id\": {\"$exists\": true}}", "r5"},
        {"{\"asset_workflow_id\": {\"$type\": \"null\"}}", "r5"},
        {"{\"profiles.asset_description\": {\"$exists\": true}}", "r5"},
        {"{\"profiles\": {\"$elemMatch\": {\"asset_description\": {\"$exists\": true}}}}", "r5"},
        {"{\"profiles\": {\"$elemMatch\": {\"asset_description\": {\"$type\": \"null\"}}}}", "r5"},
    };
    char url[512], got[256];
    ad_meta *m = NULL;
    ad_error err = {0};
    size_t i;
    snprintf(url, sizeof(url), "sqlite://%s/ranges.db", dir);
    if (ad_meta_open(url, &m, &err)) {
        CHECK(0, "open %s: %s", url, err.msg);
        return;
    }
    for (i = 0; i < sizeof(docs) / sizeof(docs[0]); i++) {
        json_t *d = json_loads(docs[i].doc, 0, NULL);
        int64_t rev;
        CHECK(m->ops->insert(m, docs[i].id, docs[i].doc, strlen(docs[i].doc), d, &rev, &err) ==
                  AD_OK,
              "insert %s: %s", docs[i].id, err.msg);
        json_decref(d);
    }
    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        find_ids(m, cases[i].filter, got, sizeof(got));
        CHECK(strcmp(got, cases[i].want) == 0, "%s: got [%s], want [%s]", cases[i].filter, got,
              cases[i].want);
    }
    m->ops->close(m);
}

/* Readers and a writer racing on one id: every reader sees revisions in
 * order (the cache never serves an older one after a newer one was read),
 * and once the writer is done every read gives the last revision. */
#define RACE_WRITES 300
typedef struct race {
    ad_meta *m;
    volatile int done;
    int backwards, errors;
} race;

static void *race_reader(void *arg)
{
    race *r = arg;
    int64_t last = 0;
    while (!r->done) {
        ad_doc d = {0};
        ad_error err = {0};
        if (r->m->ops->get(r->m, "race", &d, &err) != AD_OK) {
            __atomic_add_fetch(&r->errors, 1, __ATOMIC_RELAXED);
            continue;
        }
        if (d.rev < last) __atomic_add_fetch(&r->backwards, 1, __ATOMIC_RELAXED);
        last = d.rev;
        ad_doc_free(&d);
    }
    return NULL;
}

static void test_cache_race(const char *dir, const char *options)
{
    char url[512];
    ad_meta *m = NULL;
    ad_error err = {0};
    race r = {0};
    pthread_t th[3];
    int64_t rev = 0;
    int i;
    ad_doc d = {0};
    const char *text = "{\"asset_id\": \"race\", \"n\": 0}";
    json_t *doc = json_loads(text, 0, NULL);
    snprintf(url, sizeof(url), "sqlite://%s/race%s.db%s", dir, options[0] ? "-c" : "", options);
    CHECK(ad_meta_open(url, &m, &err) == AD_OK, "open %s: %s", url, err.msg);
    if (!m) {
        json_decref(doc);
        return;
    }
    CHECK(m->ops->insert(m, "race", text, strlen(text), doc, &rev, &err) == AD_OK, "insert: %s",
          err.msg);
    r.m = m;
    for (i = 0; i < 3; i++) pthread_create(&th[i], NULL, race_reader, &r);
    for (i = 1; i <= RACE_WRITES; i++) {
        char buf[64];
        json_t *di;
        snprintf(buf, sizeof(buf), "{\"asset_id\": \"race\", \"n\": %d}", i);
        di = json_loads(buf, 0, NULL);
        if (m->ops->replace(m, "race", AD_REV_ANY, buf, strlen(buf), di, &rev, &err) != AD_OK)
            CHECK(0, "replace %d: %s", i, err.msg);
        json_decref(di);
    }
    r.done = 1;
    for (i = 0; i < 3; i++) pthread_join(th[i], NULL);
    CHECK(r.backwards == 0, "%s: a reader saw an older revision after a newer one %d times", url,
          r.backwards);
    CHECK(r.errors == 0, "%s: %d reads failed", url, r.errors);
    CHECK(m->ops->get(m, "race", &d, &err) == AD_OK && d.rev == RACE_WRITES + 1 &&
              strstr(d.json, "\"n\": 300"),
          "%s: final read: rev %lld, %s", url, (long long)d.rev, d.json ? d.json : "(none)");
    ad_doc_free(&d);
    CHECK(m->ops->remove(m, "race", AD_REV_ANY, &err) == AD_OK, "remove: %s", err.msg);
    CHECK(m->ops->get(m, "race", &d, &err) == AD_E_NOT_FOUND, "%s: removed asset still read", url);
    ad_doc_free(&d);
    m->ops->close(m);
    json_decref(doc);
}

int main(void)
{
    char dir[] = "/tmp/assetd-meta-XXXXXX";
    char url[256];
    int failed;

    if (!mkdtemp(dir)) {
        perror("mkdtemp");
        return 1;
    }
    snprintf(url, sizeof(url), "sqlite://%s/t.db", dir);

    failed = meta_contract_run(url);
    CHECK(failed == 0, "the meta store contract suite had %d failed checks (see above)", failed);

    test_sqlite_specific(dir, url);
    test_open_errors(dir);
    test_range_merging(dir);
    test_cache_race(dir, "");
    test_cache_race(dir, "?cache_mb=0");
    {
        /* the whole contract again with the document cache off */
        char nocache[300];
        snprintf(nocache, sizeof(nocache), "sqlite://%s/nocache.db?cache_mb=0", dir);
        failed = meta_contract_run(nocache);
        CHECK(failed == 0, "contract without the cache: %d failed checks", failed);
    }
    {
        ad_meta *m = NULL;
        ad_error err = {0};
        char bad[300];
        snprintf(bad, sizeof(bad), "sqlite://%s/x.db?cache=1", dir);
        CHECK(ad_meta_open(bad, &m, &err) == AD_E_BAD_REQUEST && strstr(err.msg, "cache_mb"),
              "an unknown URL option is refused: %s", err.msg);
    }

    rm_tree(dir);
    return check_summary("test_meta_sqlite");
}
