/*
 * meta_contract.c — the contract suite of the meta store port; see
 * meta_contract.h. Adapter-agnostic: only ad_meta_open() and the ops slots.
 *
 * The suite keeps a model of what the store should hold (id, document,
 * canonical text, revision, in creation order) and checks every answer of
 * the store against it. find is checked against brute force: the filter
 * evaluated with ad_filter_match() on every modelled document.
 *
 * JSON in the tables is written with single quotes for readability; js()
 * turns them into double quotes before parsing (no test value needs an
 * apostrophe; a double quote inside a string is written \\\").
 */
#include "meta_contract.h"

#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "testjson.h"
#include "core/filter.h"
#include "store/meta.h"
#include "util/err.h"

#define FAIL_IDS_MAX 1500 /* bytes of an id list quoted in a failure message */

/* ------------------------------------------------------------------------ */
/* Small helpers                                                            */
/* ------------------------------------------------------------------------ */

static char *dump(const json_t *j, size_t *len)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
    if (s && len) *len = strlen(s);
    return s;
}

/* A list of ids (owned copies). */
typedef struct ids {
    char **v;
    size_t n, cap;
} ids;

static void ids_push(ids *l, const char *s)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        char **v = realloc(l->v, cap * sizeof(*v));
        if (!v) abort();
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n] = strdup(s);
    if (!l->v[l->n]) abort();
    l->n++;
}

static void ids_free(ids *l)
{
    for (size_t i = 0; i < l->n; i++) free(l->v[i]);
    free(l->v);
    l->v = NULL;
    l->n = l->cap = 0;
}

static bool ids_eq(const ids *a, const ids *b)
{
    if (a->n != b->n) return false;
    for (size_t i = 0; i < a->n; i++)
        if (strcmp(a->v[i], b->v[i]) != 0) return false;
    return true;
}

/* "[a, b, c] (3)", cut to cap bytes. */
static const char *ids_fmt(const ids *l, char *buf, size_t cap)
{
    size_t used = 0;
    int k;
    buf[0] = '\0';
    k = snprintf(buf, cap, "[");
    used = (size_t)k;
    for (size_t i = 0; i < l->n && used < cap; i++) {
        k = snprintf(buf + used, cap - used, "%s\"%s\"", i ? ", " : "", l->v[i]);
        if (k < 0) break;
        used += (size_t)k;
    }
    if (used < cap) snprintf(buf + used, cap - used, "] (%zu)", l->n);
    if (used >= cap && cap > 8) snprintf(buf + cap - 8, 8, "...] ");
    return buf;
}

/* src[skip .. skip+limit) */
static void ids_slice(const ids *src, uint64_t skip, uint64_t limit, ids *out)
{
    for (uint64_t i = skip; i < src->n && i - skip < limit; i++) ids_push(out, src->v[i]);
}

static int cmp_str_ptr(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void ids_sort(ids *l)
{
    if (l->n) qsort(l->v, l->n, sizeof(*l->v), cmp_str_ptr);
}

/* ------------------------------------------------------------------------ */
/* The model of the store                                                   */
/* ------------------------------------------------------------------------ */

typedef struct mdoc {
    char *id;
    json_t *doc;
    char *text;
    size_t len;
    int64_t rev;
} mdoc;

typedef struct model {
    mdoc *d; /* creation order */
    size_t n, cap;
} model;

static mdoc *model_find(const model *md, const char *id)
{
    for (size_t i = 0; i < md->n; i++)
        if (strcmp(md->d[i].id, id) == 0) return &md->d[i];
    return NULL;
}

static void mdoc_set(mdoc *d, json_t *doc, int64_t rev)
{
    json_decref(d->doc);
    free(d->text);
    d->doc = doc;
    d->text = dump(doc, &d->len);
    if (!d->text) abort();
    d->rev = rev;
}

static void model_add(model *md, const char *id, json_t *doc, int64_t rev)
{
    if (md->n == md->cap) {
        size_t cap = md->cap ? md->cap * 2 : 64;
        mdoc *d = realloc(md->d, cap * sizeof(*d));
        if (!d) abort();
        md->d = d;
        md->cap = cap;
    }
    memset(&md->d[md->n], 0, sizeof(md->d[md->n]));
    md->d[md->n].id = strdup(id);
    if (!md->d[md->n].id) abort();
    mdoc_set(&md->d[md->n], json_incref(doc), rev);
    md->n++;
}

static void model_del(model *md, const char *id)
{
    mdoc *d = model_find(md, id);
    size_t i;
    if (!d) return;
    i = (size_t)(d - md->d);
    free(d->id);
    free(d->text);
    json_decref(d->doc);
    memmove(&md->d[i], &md->d[i + 1], (md->n - i - 1) * sizeof(*md->d));
    md->n--;
}

static void model_free(model *md)
{
    for (size_t i = 0; i < md->n; i++) {
        free(md->d[i].id);
        free(md->d[i].text);
        json_decref(md->d[i].doc);
    }
    free(md->d);
    memset(md, 0, sizeof(*md));
}

/* ------------------------------------------------------------------------ */
/* Documents                                                                */
/* ------------------------------------------------------------------------ */

/* A canonical-ish asset: the required fields, then extras_sq (single-quoted
 * JSON object; its keys replace or follow the base ones). NULL on bad JSON. */
static json_t *mkdoc(const char *id, const char *extras_sq)
{
    char uri[512];
    json_t *doc, *extras;
    snprintf(uri, sizeof(uri), "uri://%s", id);
    doc = json_pack("{s:s, s:s, s:s, s:s, s:[], s:[], s:[], s:[], s:[]}", "asset_id", id,
                    "asset_uri", uri, "asset_version", "v1", "asset_profile_id", "pp",
                    "asset_file_ids", "profiles", "policies", "files", "apis");
    if (!doc) abort();
    if (!extras_sq) return doc;
    extras = js(extras_sq);
    if (!json_is_object(extras)) {
        json_decref(extras);
        json_decref(doc);
        return NULL;
    }
    json_object_update(doc, extras);
    json_decref(extras);
    return doc;
}

static const char *codename(ad_code rc)
{
    return ad_code_name(rc);
}

/* insert; on AD_OK adds to the model. */
static ad_code do_insert(ad_meta *m, model *md, const char *id, json_t *doc, ad_error *err)
{
    size_t len;
    char *text = dump(doc, &len);
    int64_t rev = 0;
    ad_code rc;
    if (!text) abort();
    rc = m->ops->insert(m, id, text, len, doc, &rev, err);
    free(text);
    if (rc == AD_OK) {
        CHECK(rev == 1, "insert %s: rev %lld, want 1", id, (long long)rev);
        model_add(md, id, doc, rev);
    }
    return rc;
}

/* replace; on AD_OK updates the model. */
static ad_code do_replace(ad_meta *m, model *md, const char *id, int64_t expect, json_t *doc,
                          ad_error *err)
{
    size_t len;
    char *text = dump(doc, &len);
    int64_t rev = 0;
    ad_code rc;
    mdoc *d = model_find(md, id);
    if (!text) abort();
    rc = m->ops->replace(m, id, expect, text, len, doc, &rev, err);
    free(text);
    if (rc == AD_OK && d) {
        CHECK(rev == d->rev + 1, "replace %s: rev %lld, want %lld", id, (long long)rev,
              (long long)(d->rev + 1));
        mdoc_set(d, json_incref(doc), rev);
    }
    return rc;
}

/* get must return exactly the modelled bytes and revision. */
static void expect_get(ad_meta *m, const model *md, const char *id, const char *ctx)
{
    const mdoc *d = model_find(md, id);
    ad_doc out = {0};
    ad_error err = {0};
    ad_code rc = m->ops->get(m, id, &out, &err);
    if (!d) {
        CHECK(rc == AD_E_NOT_FOUND, "%s: get \"%s\" of a missing id: %s (%s), want not_found", ctx,
              id, codename(rc), err.msg);
    } else {
        CHECK(rc == AD_OK, "%s: get \"%s\": %s (%s)", ctx, id, codename(rc), err.msg);
        if (rc == AD_OK) {
            CHECK(out.len == d->len && out.json && memcmp(out.json, d->text, d->len) == 0 &&
                      out.json[out.len] == '\0',
                  "%s: get \"%s\" returned other bytes:\n  got  %.*s\n  want %s", ctx, id,
                  (int)out.len, out.json ? out.json : "", d->text);
            CHECK(out.rev == d->rev, "%s: get \"%s\": rev %lld, want %lld", ctx, id,
                  (long long)out.rev, (long long)d->rev);
        }
    }
    ad_doc_free(&out);
}

/* ------------------------------------------------------------------------ */
/* Queries                                                                  */
/* ------------------------------------------------------------------------ */

/* Runs q and collects the asset_id of every row; counts rows whose bytes
 * differ from the model's text for that id. */
static ad_code query_ids(ad_meta *m, const model *md, const ad_query *q, ids *out, int *bad_bytes,
                         ad_error *err)
{
    ad_meta_cursor *c = NULL;
    ad_code rc = m->ops->find(m, q, &c, err);
    if (rc) return rc;
    for (;;) {
        const char *j = NULL;
        size_t n = 0;
        json_t *doc;
        const char *id;
        const mdoc *d;
        rc = m->ops->cursor_next(c, &j, &n, err);
        if (rc || !j) break;
        doc = json_loadb(j, n, 0, NULL);
        id = doc ? json_string_value(json_object_get(doc, "asset_id")) : NULL;
        ids_push(out, id ? id : "(row without asset_id)");
        d = id ? model_find(md, id) : NULL;
        if (!d || d->len != n || memcmp(d->text, j, n) != 0) (*bad_bytes)++;
        json_decref(doc);
    }
    m->ops->cursor_close(c);
    return rc;
}

/* Brute force: ids of the modelled documents f matches, in creation order.
 * -1 when ad_filter_match fails on some document. */
static int brute(const ad_filter *f, const model *md, ids *out)
{
    for (size_t i = 0; i < md->n; i++) {
        ad_error err = {0};
        int r = ad_filter_match(f, md->d[i].doc, &err);
        if (r < 0) return -1;
        if (r == 1) ids_push(out, md->d[i].id);
    }
    return 0;
}

/* Sort order of a top-level field: missing/null < numbers < strings < rest. */
static int sort_class(const json_t *v)
{
    if (!v || json_is_null(v)) return 0;
    if (json_is_number(v)) return 1;
    if (json_is_string(v)) return 2;
    return 3;
}

static int sortval_cmp(const json_t *a, const json_t *b)
{
    int ca = sort_class(a), cb = sort_class(b);
    if (ca != cb) return ca < cb ? -1 : 1;
    if (ca == 1) {
        double x = json_number_value(a), y = json_number_value(b);
        return (x > y) - (x < y);
    }
    if (ca == 2) {
        size_t la = json_string_length(a), lb = json_string_length(b);
        int c = memcmp(json_string_value(a), json_string_value(b), la < lb ? la : lb);
        if (c) return c < 0 ? -1 : 1;
        return (la > lb) - (la < lb);
    }
    return 0;
}

typedef struct sort_item {
    const json_t *key;
    size_t pos;
    const char *id;
} sort_item;

static bool sort_desc_flag;

static int sort_item_cmp(const void *pa, const void *pb)
{
    const sort_item *a = pa, *b = pb;
    int c = sortval_cmp(a->key, b->key);
    if (sort_desc_flag) c = -c;
    if (c) return c;
    return (a->pos > b->pos) - (a->pos < b->pos); /* ties: creation order */
}

/* The brute-force ids (creation order) sorted by top-level field `path`. */
static void ids_sorted(const ids *in, const model *md, const char *path, bool desc, ids *out)
{
    sort_item *items = calloc(in->n ? in->n : 1, sizeof(*items));
    if (!items) abort();
    for (size_t i = 0; i < in->n; i++) {
        const mdoc *d = model_find(md, in->v[i]);
        items[i].key = d ? json_object_get(d->doc, path) : NULL;
        items[i].pos = d ? (size_t)(d - md->d) : 0;
        items[i].id = in->v[i];
    }
    sort_desc_flag = desc;
    if (in->n) qsort(items, in->n, sizeof(*items), sort_item_cmp);
    for (size_t i = 0; i < in->n; i++) ids_push(out, items[i].id);
    free(items);
}

/* Runs q and checks its ids (and bytes) against want. */
static void expect_query(ad_meta *m, const model *md, const char *ctx, const char *ftext,
                         const ad_query *q, const ids *want)
{
    ids got = {0};
    int bad = 0;
    ad_error err = {0};
    ad_code rc = query_ids(m, md, q, &got, &bad, &err);
    static char a[FAIL_IDS_MAX], b[FAIL_IDS_MAX];
    char how[160];
    snprintf(how, sizeof(how), "sort %s%s, skip %llu, limit %lld",
             q->sort_path ? q->sort_path : "(creation)", q->sort_desc ? " desc" : "",
             (unsigned long long)q->skip, q->limit == UINT64_MAX ? -1LL : (long long)q->limit);
    CHECK(rc == AD_OK, "%s: find %s [%s] failed: %s (%s)", ctx, ftext, how, codename(rc), err.msg);
    if (rc == AD_OK) {
        CHECK(ids_eq(&got, want), "%s: find %s [%s]\n      want %s\n      got  %s", ctx, ftext, how,
              ids_fmt(want, a, sizeof(a)), ids_fmt(&got, b, sizeof(b)));
        CHECK(bad == 0, "%s: find %s [%s]: %d rows are not the stored bytes", ctx, ftext, how, bad);
    }
    ids_free(&got);
}

/* Checks one filter (a parsed tree) against brute force in several orders. */
static void check_filter_tree(ad_meta *m, const model *md, const char *ctx, const char *ftext,
                              const ad_filter *f)
{
    ids all = {0}, want = {0}, tmp = {0};
    ad_query q = {f, NULL, false, 0, UINT64_MAX};
    if (brute(f, md, &all) < 0) {
        CHECK(0, "%s: ad_filter_match failed on %s (test bug)", ctx, ftext);
        ids_free(&all);
        return;
    }
    /* creation order */
    expect_query(m, md, ctx, ftext, &q, &all);

    /* creation order, skip 1 limit 2 */
    q.skip = 1;
    q.limit = 2;
    ids_slice(&all, 1, 2, &want);
    expect_query(m, md, ctx, ftext, &q, &want);
    ids_free(&want);

    /* rank ascending (every document has a distinct numeric rank) */
    q = (ad_query){f, "rank", false, 0, UINT64_MAX};
    ids_sorted(&all, md, "rank", false, &want);
    expect_query(m, md, ctx, ftext, &q, &want);
    ids_free(&want);

    /* rank descending, skip 2 limit 3 */
    q = (ad_query){f, "rank", true, 2, 3};
    ids_sorted(&all, md, "rank", true, &tmp);
    ids_slice(&tmp, 2, 3, &want);
    expect_query(m, md, ctx, ftext, &q, &want);
    ids_free(&want);
    ids_free(&tmp);

    /* asset_id descending */
    q = (ad_query){f, "asset_id", true, 0, UINT64_MAX};
    ids_sorted(&all, md, "asset_id", true, &want);
    expect_query(m, md, ctx, ftext, &q, &want);
    ids_free(&want);

    /* asset_uri ascending, limit 5 */
    q = (ad_query){f, "asset_uri", false, 0, 5};
    ids_sorted(&all, md, "asset_uri", false, &tmp);
    ids_slice(&tmp, 0, 5, &want);
    expect_query(m, md, ctx, ftext, &q, &want);
    ids_free(&want);
    ids_free(&tmp);

    ids_free(&all);
}

/* Parses ftext (single-quoted) and checks it. */
static void check_filter(ad_meta *m, const model *md, const char *ctx, const char *ftext)
{
    json_t *j = js(ftext);
    ad_filter *f = NULL;
    ad_error err = {0};
    ad_code rc = j ? ad_filter_parse(j, &f, &err) : AD_E_BAD_JSON;
    CHECK(rc == AD_OK, "%s: filter %s does not parse: %s (%s)", ctx, ftext, codename(rc), err.msg);
    if (rc == AD_OK) check_filter_tree(m, md, ctx, ftext, f);
    ad_filter_free(f);
    json_decref(j);
}

/* A parsed filter from single-quoted text; aborts the test on failure. */
static ad_filter *filter_of(const char *ftext)
{
    json_t *j = js(ftext);
    ad_filter *f = NULL;
    ad_error err = {0};
    ad_code rc = j ? ad_filter_parse(j, &f, &err) : AD_E_BAD_JSON;
    json_decref(j);
    if (rc) {
        fprintf(stderr, "meta contract: filter %s does not parse: %s\n", ftext, err.msg);
        abort();
    }
    return f;
}

/* ids of find(ftext) in creation order. */
static ad_code find_simple(ad_meta *m, const model *md, const char *ftext, uint64_t skip,
                           uint64_t limit, ids *out, ad_error *err)
{
    ad_filter *f = filter_of(ftext);
    ad_query q = {f, NULL, false, skip, limit};
    int bad = 0;
    ad_code rc = query_ids(m, md, &q, out, &bad, err);
    ad_filter_free(f);
    return rc;
}

static bool ids_has(const ids *l, const char *id)
{
    for (size_t i = 0; i < l->n; i++)
        if (strcmp(l->v[i], id) == 0) return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* 1. Lifecycle: ping, get, insert, replace, remove                          */
/* ------------------------------------------------------------------------ */

static void test_lifecycle(ad_meta *m, model *md)
{
    ad_error err = {0};
    ad_code rc;
    ad_doc out = {0};
    int64_t rev = 0;
    json_t *d1 = mkdoc("crud-1", "{'asset_brief_description': 'first'}");
    json_t *d2 = mkdoc("crud-1", "{'asset_brief_description': 'second'}");
    json_t *d3 = mkdoc("crud-1", "{'asset_brief_description': 'third'}");
    json_t *dx = mkdoc("crud-1", "{'asset_brief_description': 'never stored'}");
    ids got = {0};

    rc = m->ops->ping(m, &err);
    CHECK(rc == AD_OK, "ping on a fresh store: %s (%s)", codename(rc), err.msg);

    rc = find_simple(m, md, "{}", 0, UINT64_MAX, &got, &err);
    CHECK(rc == AD_OK && got.n == 0, "find {} on an empty store: %s, %zu rows", codename(rc),
          got.n);
    ids_free(&got);

    rc = m->ops->get(m, "crud-1", &out, &err);
    CHECK(rc == AD_E_NOT_FOUND, "get of a missing id: %s, want not_found", codename(rc));
    ad_doc_free(&out);

    rc = do_insert(m, md, "crud-1", d1, &err);
    CHECK(rc == AD_OK, "insert crud-1: %s (%s)", codename(rc), err.msg);
    expect_get(m, md, "crud-1", "after insert");

    {
        size_t len = 0;
        char *text = dump(dx, &len);
        rev = 0;
        rc = m->ops->insert(m, "crud-1", text, len, dx, &rev, &err);
        free(text);
        CHECK(rc == AD_E_EXISTS, "insert of an existing id: %s, want already_exists", codename(rc));
        expect_get(m, md, "crud-1", "after a duplicate insert");
    }

    rc = do_replace(m, md, "crud-1", AD_REV_ANY, d2, &err);
    CHECK(rc == AD_OK, "replace crud-1 AD_REV_ANY: %s (%s)", codename(rc), err.msg);
    expect_get(m, md, "crud-1", "after replace(any)");
    CHECK(model_find(md, "crud-1")->rev == 2, "rev after one replace: %lld",
          (long long)model_find(md, "crud-1")->rev);

    rc = do_replace(m, md, "crud-1", 1, dx, &err);
    CHECK(rc == AD_E_PRECONDITION, "replace with stale rev 1: %s, want precondition_failed",
          codename(rc));
    expect_get(m, md, "crud-1", "after a stale replace");

    rc = do_replace(m, md, "crud-1", 99, dx, &err);
    CHECK(rc == AD_E_PRECONDITION, "replace with future rev 99: %s, want precondition_failed",
          codename(rc));

    rc = do_replace(m, md, "crud-1", 2, d3, &err);
    CHECK(rc == AD_OK, "replace with the current rev 2: %s (%s)", codename(rc), err.msg);
    expect_get(m, md, "crud-1", "after replace(2)");
    CHECK(model_find(md, "crud-1")->rev == 3, "rev after two replaces: %lld",
          (long long)model_find(md, "crud-1")->rev);

    rc = do_replace(m, md, "crud-missing", AD_REV_ANY, dx, &err);
    CHECK(rc == AD_E_NOT_FOUND, "replace of a missing id (any): %s, want not_found", codename(rc));
    rc = do_replace(m, md, "crud-missing", 1, dx, &err);
    CHECK(rc == AD_E_NOT_FOUND, "replace of a missing id (rev 1): %s, want not_found",
          codename(rc));
    expect_get(m, md, "crud-missing", "after replace of a missing id");

    rc = m->ops->remove(m, "crud-1", 2, &err);
    CHECK(rc == AD_E_PRECONDITION, "remove with stale rev: %s, want precondition_failed",
          codename(rc));
    expect_get(m, md, "crud-1", "after a stale remove");

    rc = m->ops->remove(m, "crud-1", 3, &err);
    CHECK(rc == AD_OK, "remove with the current rev: %s (%s)", codename(rc), err.msg);
    if (rc == AD_OK) model_del(md, "crud-1");
    expect_get(m, md, "crud-1", "after remove");

    rc = m->ops->remove(m, "crud-1", AD_REV_ANY, &err);
    CHECK(rc == AD_E_NOT_FOUND, "remove again (any): %s, want not_found", codename(rc));
    rc = m->ops->remove(m, "crud-1", 3, &err);
    CHECK(rc == AD_E_NOT_FOUND, "remove again (rev 3): %s, want not_found", codename(rc));
    rc = do_replace(m, md, "crud-1", AD_REV_ANY, dx, &err);
    CHECK(rc == AD_E_NOT_FOUND, "replace after remove: %s, want not_found", codename(rc));

    /* the id is free again; a new document starts at rev 1 */
    rc = do_insert(m, md, "crud-1", d1, &err);
    CHECK(rc == AD_OK, "insert after remove: %s (%s)", codename(rc), err.msg);
    expect_get(m, md, "crud-1", "re-insert after remove");
    rc = m->ops->remove(m, "crud-1", AD_REV_ANY, &err);
    CHECK(rc == AD_OK, "remove AD_REV_ANY: %s (%s)", codename(rc), err.msg);
    if (rc == AD_OK) model_del(md, "crud-1");
    expect_get(m, md, "crud-1", "after remove(any)");

    json_decref(d1);
    json_decref(d2);
    json_decref(d3);
    json_decref(dx);
}

/* Ids that would break naive quoting or LIKE patterns. */
static void test_odd_ids(ad_meta *m, model *md)
{
    static const char *const odd[] = {"ünï cödé 日本語 😀",
                                      "with space",
                                      "quo\"te'd",
                                      "100%",
                                      "%",
                                      "_",
                                      "a_b%c",
                                      "%s%n%d",
                                      "' OR '1'='1",
                                      "\\back\\slash",
                                      "semi;colon",
                                      "dot.ted",
                                      "$dollar",
                                      "{\"json\":1}",
                                      "x"};
    const size_t n = sizeof(odd) / sizeof(odd[0]);
    char longid[257];
    ad_error err = {0};
    ad_code rc;
    memset(longid, 'L', 256);
    longid[256] = '\0';

    for (size_t i = 0; i <= n; i++) {
        const char *id = i < n ? odd[i] : longid;
        json_t *doc = mkdoc(id, "{'asset_brief_description': 'odd id'}");
        rc = do_insert(m, md, id, doc, &err);
        CHECK(rc == AD_OK, "insert id \"%s\": %s (%s)", id, codename(rc), err.msg);
        json_decref(doc);
    }
    for (size_t i = 0; i <= n; i++) {
        const char *id = i < n ? odd[i] : longid;
        json_t *doc = mkdoc(id, "{'asset_brief_description': 'odd id, replaced'}");
        json_t *fj = json_pack("{s:s}", "asset_id", id);
        ad_filter *f = NULL;
        ids got = {0};
        int bad = 0;
        expect_get(m, md, id, "odd id");
        rc = do_replace(m, md, id, 1, doc, &err);
        CHECK(rc == AD_OK, "replace id \"%s\": %s (%s)", id, codename(rc), err.msg);
        expect_get(m, md, id, "odd id after replace");
        if (ad_filter_parse(fj, &f, &err) == AD_OK) {
            ad_query q = {f, NULL, false, 0, UINT64_MAX};
            rc = query_ids(m, md, &q, &got, &bad, &err);
            CHECK(rc == AD_OK && got.n == 1 && strcmp(got.v[0], id) == 0 && bad == 0,
                  "find {asset_id: \"%s\"}: %s, %zu rows", id, codename(rc), got.n);
        }
        ad_filter_free(f);
        ids_free(&got);
        json_decref(fj);
        json_decref(doc);
    }
    /* no pattern or case folding in id lookups */
    {
        static const char *const near[] = {"WITH SPACE", "with  space", "100", "a%",     "ab%c",
                                           "x ",         " x",          "X",   "dot_ted"};
        for (size_t i = 0; i < sizeof(near) / sizeof(near[0]); i++)
            expect_get(m, md, near[i], "near-miss id");
    }
    for (size_t i = 0; i <= n; i++) {
        const char *id = i < n ? odd[i] : longid;
        rc = m->ops->remove(m, id, 2, &err);
        CHECK(rc == AD_OK, "remove id \"%s\": %s (%s)", id, codename(rc), err.msg);
        if (rc == AD_OK) model_del(md, id);
        expect_get(m, md, id, "odd id after remove");
    }
    {
        ids got = {0};
        rc = find_simple(m, md, "{}", 0, UINT64_MAX, &got, &err);
        CHECK(rc == AD_OK && got.n == 0, "find {} after the lifecycle tests: %s, %zu rows",
              codename(rc), got.n);
        ids_free(&got);
    }
}

/* ------------------------------------------------------------------------ */
/* 2. The corpus and the filters                                            */
/* ------------------------------------------------------------------------ */

#define PROF(type, sub, tags, extra)                                                               \
    "{'asset_profile_id': 'pp', 'asset_type': '" type "', 'asset_sub_type': '" sub                 \
    "', 'asset_id': 'x', 'asset_tags': " tags extra "}"

static const char *const corpus[] = {
    /* 0 */ "{'n': 1, 's': 'alpha', 'b': true, 'tags': ['red', 'green'], 'asset_file_ids': "
            "['f1', 'f2'], 'profiles': [" PROF("model", "llm", "['nlp', 'text']",
                                               ", 'asset_metadata': {'params': 7, 'arch': "
                                               "{'layers': [{'n': 1}, {'n': 2}]}}") "]}",
    /* 1 */
    "{'n': 1.0, 's': 'Alpha', 'b': false, 'tags': ['red'], 'profiles': [" PROF(
        "dataset", "csv", "['tabular']", "") "]}",
    /* 2 */
    "{'n': 2.5, 's': 'beta', 'b': null, 'tags': [], 'profiles': [" PROF(
        "model", "cnn", "['vision', 'nlp']", ", 'asset_metadata': {'params': 3}") "]}",
    /* 3 */
    "{'n': -3, 's': '', 'tags': ['blue', 'red', 'green'], 'profiles': [" PROF(
        "model", "llm", "[]", "") ", " PROF("dataset", "llm", "['nlp']", "") "]}",
    /* 4 */ "{'n': 9007199254740993, 's': 'ünïcödé 日本', 'profiles': []}",
    /* 5 */ "{'n': 9007199254740992.0, 's': 'x%y_z', 'tags': [['red']]}",
    /* 6 */ "{'n': 9223372036854775807, 's': 'a.b'}",
    /* 7 */ "{'n': -9223372036854775808, 's': 'line\\nbreak'}",
    /* 8 */ "{'n': 1e300, 's': 'quote\\\"d'}",
    /* 9 */ "{'n': null, 's': '😀', 'tags': [null]}",
    /* 10 */ "{'s': 'alphabet', 'tags': 'red'}",
    /* 11 */ "{'n': '1', 's': 'beta', 'b': true}",
    /* 12 */ "{'n': [1, 2, 3], 'tags': ['green', 'red']}",
    /* 13 */ "{'n': [[1], 2], 'arr': [1, '1', true, null]}",
    /* 14 */ "{'n': true, 'arr': [[1, 2], [3]]}",
    /* 15 */ "{'n': {'v': 1}, 'arr': [[]]}",
    /* 16 */ "{'n': 0, 'arr': []}",
    /* 17 */ "{'n': -0.0, 'arr': [{'k': 1}, {'k': 2}]}",
    /* 18 */ "{'n': [], 'arr': [{'k': [1, 2]}]}",
    /* 19 */ "{'n': [null], 'arr': [[{'k': 3}]]}",
    /* 20 */ "{'n': 2, 'arr': [1, [2, [3, [4]]]]}",
    /* 21 */ "{'n': 3, 'arr': [{'a': {'b': [{'c': 1}]}}]}",
    /* 22 */ "{'n': 1, 'arr': [{'0': 'zero'}, 'x']}",
    /* 23 */ "{'n': 5, 'arr': ['x', {'0': 'y'}], 'o': {'x': 1, 'y': {'z': 'deep'}}}",
    /* 24 */ "{'o': {'y': [{'z': 1}, {'z': 2}]}, 'n': 4.5}",
    /* 25 */ "{'o': {}, 'b': false}",
    /* 26 */ "{'o': {'0': 'zero', '1': {'2': 'two'}}}",
    /* 27 */ "{'o': {'x': null}}",
    /* 28 */ "{'o': {'x': [null]}}",
    /* 29 */ "{'o': {'x': {'y': null}}}",
    /* 30 */ "{'o': {'a.b': 1}, 'a': {'b': 2}}",
    /* 31 */ "{'o': {'y': {'z': ['deep', 'er']}}}",
    /* 32 */ "{'o': {'y': {'z': 'deep'}, 'x': 1}}",
    /* 33 */ "{'o': {'x': 1, 'y': {'z': 'deep'}}}",
    /* 34 */ "{'o': [{'x': 1}, {'x': 2}]}",
    /* 35 */ "{'o': 'scalar', 'n': 'abc'}",
    /* 36 */ "{'items': [{'k': 'a', 'v': 1}, {'k': 'b', 'v': 5}]}",
    /* 37 */ "{'items': [{'k': 'a', 'v': 5}]}",
    /* 38 */ "{'items': [{'k': 'b', 'v': [1, 5]}]}",
    /* 39 */ "{'items': []}",
    /* 40 */ "{'items': [{'k': 'a'}, 3, 's']}",
    /* 41 */ "{'items': [{'k': 'c', 'v': {'w': 1}}, {'v': null}]}",
    /* 42 */ "{'items': {'k': 'a', 'v': 1}}",
    /* 43 */ "{'m': [[1, 2], [3, 4]]}",
    /* 44 */ "{'m': [[{'a': 1}]]}",
    /* 45 */ "{'m': [[]]}",
    /* 46 */ "{'m': [[[1]]]}",
    /* 47 */
    "{'profiles': [" PROF("model", "llm", "['nlp']",
                          ", 'asset_metadata': {'arch': {'layers': [{'n': 3}, {'n': "
                          "[1, 4]}]}}") ", " PROF("model", "gan", "['vision']", "") "]}",
    /* 48 */
    "{'profiles': [" PROF("dataset", "images", "['vision']", "") ", " PROF(
        "tool", "cli", "[]", ", 'asset_description': 'A tool'") "], 'asset_file_ids': ['f1']}",
    /* 49 */
    "{'profiles': [" PROF("agent", "chat", "['nlp', 'text', 'chat']",
                          ", 'asset_metadata': {'params': 70, 'tuned': true}") "]}",
    /* 50 */ "{'n': 1, 'b': true, 'tags': ['red', 'green', 'blue']}",
    /* 51 */ "{'n': 2, 'b': true, 'tags': ['green']}",
    /* 52 */ "{'n': 0.5, 's': 'gamma', 'tags': ['x', 'y']}",
    /* 53 */ "{'n': 100, 's': 'Beta', 'asset_brief_description': 'big one'}",
    /* 54 */ "{'n': -1e300, 's': 'delta', 'asset_container_uri': null}",
    /* 55 */
    ("{'n': 1.5, 'deep': {'a': {'b': {'c': {'d': {'e': 'bottom'}}}}}, "
     "'ключ': {'ü': [1, 2]}}"),
    /* 56 */ "{'n': 7, 'deep': {'a': [{'b': [{'c': [{'d': 1}]}]}]}}",
    /* 57 */ "{'deep': {'a': [[{'b': 1}]]}}",
    /* 58 */ "{'num': {'0': {'1': 'x'}}, 'n': [0, 1]}",
    /* 59 */ "{'num': [['a', 'b'], ['c']], 'n': [2.5, 'x']}",
};

#define NCORPUS (sizeof(corpus) / sizeof(corpus[0]))

static const char *const filters[] = {
    "{}",
    /* implicit equality on scalars; 1 vs 1.0; big integers */
    "{'n': 1}",
    "{'n': 1.0}",
    "{'n': 2.5}",
    "{'n': 0}",
    "{'n': -0.0}",
    "{'n': 2}",
    "{'n': -3}",
    "{'n': 9007199254740993}",
    "{'n': 9007199254740992}",
    "{'n': 9007199254740992.0}",
    "{'n': 9223372036854775807}",
    "{'n': -9223372036854775808}",
    "{'n': 1e300}",
    "{'n': null}",
    "{'n': '1'}",
    "{'n': true}",
    "{'n': false}",
    "{'b': true}",
    "{'b': null}",
    "{'s': 'alpha'}",
    "{'s': ''}",
    "{'s': 'ünïcödé 日本'}",
    "{'s': 'x%y_z'}",
    "{'s': 'x%'}",
    "{'s': 'line\\nbreak'}",
    "{'s': 'quote\\\"d'}",
    "{'s': '😀'}",
    "{'s': 'a.b'}",
    /* implicit equality on arrays and objects */
    "{'n': [1, 2, 3]}",
    "{'n': [1]}",
    "{'n': [[1], 2]}",
    "{'n': []}",
    "{'n': [null]}",
    "{'n': {'v': 1}}",
    "{'tags': 'red'}",
    "{'tags': ['red', 'green']}",
    "{'tags': ['red']}",
    "{'tags': []}",
    "{'tags': null}",
    "{'arr': 1}",
    "{'arr': [1, 2]}",
    "{'arr': []}",
    "{'arr': [[]]}",
    "{'arr': {'k': 1}}",
    "{'arr': null}",
    "{'arr': [3]}",
    "{'arr': 3}",
    "{'o': {}}",
    "{'o': {'x': 1, 'y': {'z': 'deep'}}}",
    "{'o': {'y': {'z': 'deep'}, 'x': 1}}",
    "{'o': 'scalar'}",
    "{'m': [1, 2]}",
    "{'m': 1}",
    "{'m': [[1]]}",
    "{'m': []}",
    /* dotted paths, through arrays */
    "{'o.x': 1}",
    "{'o.x': null}",
    "{'o.x.y': null}",
    "{'o.y.z': 'deep'}",
    "{'o.y.z': 1}",
    "{'o.y.z': 'er'}",
    "{'o.a.b': 1}",
    "{'a.b': 2}",
    "{'arr.k': 1}",
    "{'arr.k': 2}",
    "{'arr.k': [1, 2]}",
    "{'arr.k': 3}",
    "{'arr.a.b.c': 1}",
    "{'m.a': 1}",
    "{'items.v': 5}",
    "{'items.k': 'a'}",
    "{'items.v': null}",
    "{'items.v.w': 1}",
    "{'deep.a.b.c.d.e': 'bottom'}",
    "{'deep.a.b.c.d': 1}",
    "{'deep.a.b': 1}",
    "{'profiles.asset_metadata.params': 7}",
    "{'profiles.asset_metadata.arch.layers.n': 2}",
    "{'profiles.asset_metadata.arch.layers.n': 4}",
    "{'profiles.asset_metadata.tuned': true}",
    /* numeric path parts: array indexes and numeric-string keys */
    "{'o.0': 'zero'}",
    "{'o.1.2': 'two'}",
    "{'arr.0': 1}",
    "{'arr.1': [3]}",
    "{'arr.1': 3}",
    "{'arr.0.k': 1}",
    "{'arr.0.0': 1}",
    "{'arr.0.0': 'zero'}",
    "{'arr.1.0': 'y'}",
    "{'n.0': 1}",
    "{'n.2': 3}",
    "{'n.0.0': 1}",
    "{'tags.0': 'red'}",
    "{'tags.1': 'green'}",
    "{'profiles.0.asset_type': 'model'}",
    "{'profiles.1.asset_type': 'dataset'}",
    "{'num.0.1': 'x'}",
    "{'num.1.0': 'c'}",
    "{'num.0': ['a', 'b']}",
    "{'m.0.0': 1}",
    "{'m.1': [3, 4]}",
    "{'items.1.v': 5}",
    "{'o.x': {'$exists': true}, 'o.0': {'$exists': false}}",
    /* the schema's string fields: exact filters */
    "{'asset_id': 'd07'}",
    "{'profiles.asset_type': 'model'}",
    "{'profiles.asset_type': 'dataset'}",
    "{'profiles.asset_type': {'$in': ['model', 'tool']}}",
    "{'profiles.asset_type': 'model', 'profiles.asset_sub_type': 'llm'}",
    "{'$or': [{'profiles.asset_type': 'dataset'}, {'asset_id': 'd05'}]}",
    "{'profiles.asset_tags': 'nlp'}",
    "{'asset_file_ids': 'f1'}",
    "{'asset_file_ids': ['f1']}",
    "{'profiles.asset_description': 'A tool'}",
    "{'asset_brief_description': 'big one'}",
    "{'asset_container_uri': null}",
    "{'asset_version': 'v1'}",
    "{'profiles.asset_type': 'model', 'n': {'$ne': 1}}",
    "{'profiles.asset_type': 'model', 'rank': {'$gt': 20}}",
    "{'$and': [{'profiles.asset_type': 'model'}, {'profiles.asset_tags': 'vision'}]}",
    /* $eq $ne */
    "{'n': {'$eq': 1}}",
    "{'n': {'$eq': [1, 2, 3]}}",
    "{'n': {'$eq': null}}",
    "{'n': {'$ne': 1}}",
    "{'n': {'$ne': null}}",
    "{'tags': {'$ne': 'red'}}",
    "{'arr': {'$ne': [1, 2]}}",
    "{'o.x': {'$ne': 1}}",
    /* $gt $gte $lt $lte */
    "{'n': {'$gt': 1}}",
    "{'n': {'$gte': 1}}",
    "{'n': {'$lt': 1}}",
    "{'n': {'$lte': 0}}",
    "{'n': {'$gt': 9007199254740992.0}}",
    "{'n': {'$gt': 9007199254740992}}",
    "{'n': {'$gte': 9007199254740993}}",
    "{'n': {'$lt': 9007199254740993}}",
    "{'n': {'$lte': 9007199254740992}}",
    "{'n': {'$gte': 9223372036854775807}}",
    "{'n': {'$gt': 9.3e18}}",
    "{'n': {'$lt': -9.3e18}}",
    "{'n': {'$lt': -1e300}}",
    "{'n': {'$gt': -9223372036854775808}}",
    "{'n': {'$gt': 1, '$lt': 3}}",
    /* bounds met by two different elements only ([1, 2, 3]: 3 > 2.5, 1 < 1.5) */
    "{'n': {'$gt': 2.5, '$lt': 1.5}}",
    "{'$and': [{'n': {'$lte': 1}}, {'n': {'$gte': 3}}]}",
    "{'n': {'$gte': 2, '$lte': 2.0}}",
    "{'n': {'$gt': '0'}}",
    "{'s': {'$gt': 'alpha'}}",
    "{'s': {'$lt': 'b'}}",
    "{'s': {'$gte': ''}}",
    "{'s': {'$lt': 'alpha'}}",
    "{'s': {'$gt': 'z'}}",
    "{'b': {'$gt': false}}",
    "{'b': {'$lte': true}}",
    "{'n': {'$gte': null}}",
    "{'n': {'$lt': null}}",
    "{'n': {'$lte': null}}",
    "{'n': {'$gt': [1]}}",
    "{'n': {'$gte': []}}",
    "{'o': {'$gt': {}}}",
    "{'o': {'$gte': {'x': 1}}}",
    "{'arr.k': {'$gt': 1}}",
    "{'items.v': {'$gt': 4}}",
    "{'o.y.z': {'$gte': 2}}",
    "{'profiles.asset_metadata.params': {'$gt': 5}}",
    "{'rank': {'$lt': 10}}",
    /* $in $nin */
    "{'n': {'$in': [1, 'red', null]}}",
    "{'n': {'$in': [2.5, -3]}}",
    "{'n': {'$in': [1.0]}}",
    "{'n': {'$in': []}}",
    "{'n': {'$in': [null]}}",
    "{'tags': {'$in': ['blue', 'x']}}",
    "{'tags': {'$in': [['red']]}}",
    "{'arr': {'$in': [[1, 2], {'k': 2}]}}",
    "{'o': {'$in': [{}, 'scalar']}}",
    "{'arr.k': {'$in': [2, 3]}}",
    "{'n': {'$nin': [1, null]}}",
    "{'tags': {'$nin': ['red']}}",
    "{'n': {'$nin': []}}",
    "{'items.k': {'$nin': ['a', 'b']}}",
    /* $exists */
    "{'n': {'$exists': true}}",
    "{'n': {'$exists': false}}",
    "{'o.x': {'$exists': true}}",
    "{'o.y.z': {'$exists': true}}",
    "{'arr.k': {'$exists': true}}",
    "{'arr.0': {'$exists': true}}",
    "{'o.0': {'$exists': true}}",
    "{'b': {'$exists': 1}}",
    "{'items.v': {'$exists': false}}",
    "{'o': {'$exists': true}, 'o.x': {'$exists': false}}",
    "{'tags.0': {'$exists': true}}",
    "{'deep.a.b': {'$exists': true}}",
    /* $regex $options */
    "{'s': {'$regex': '^a'}}",
    "{'s': {'$regex': '^a', '$options': 'i'}}",
    "{'s': {'$regex': 'é'}}",
    "{'s': {'$regex': '日'}}",
    "{'tags': {'$regex': 'ee'}}",
    "{'n': {'$regex': '1'}}",
    "{'s': {'$regex': '^$'}}",
    "{'s': {'$regex': '^break', '$options': 'm'}}",
    "{'s': {'$regex': 'line.break', '$options': 's'}}",
    "{'s': {'$regex': '\\\\.'}}",
    "{'s': {'$regex': 'A L P', '$options': 'ix'}}",
    "{'profiles.asset_sub_type': {'$regex': 'l+m'}}",
    "{'items.k': {'$regex': '[bc]'}}",
    "{'s': {'$not': {'$regex': '^a'}}}",
    /* $and $or $nor */
    "{'$and': [{'n': {'$gte': 0}}, {'n': {'$lte': 2}}]}",
    "{'$or': [{'n': 1}, {'s': 'beta'}]}",
    "{'$or': [{'n': 1}, {'s': {'$ne': 'beta'}}]}",
    "{'$or': [{'n': null}, {'b': null}]}",
    "{'$nor': [{'n': 1}, {'tags': 'red'}]}",
    "{'$and': [{'$or': [{'n': 1}, {'n': 2.5}]}, {'$or': [{'b': true}, {'b': null}]}]}",
    "{'$or': [{'o.y.z': 'deep'}, {'arr.k': 2}]}",
    "{'$and': [{'n': {'$exists': true}}, {'$nor': [{'n': null}]}]}",
    "{'$or': [{'$and': [{'n': {'$gt': 0}}, {'n': {'$lt': 2}}]}, {'tags': {'$size': 3}}]}",
    "{'$nor': [{'$or': [{'n': {'$exists': false}}, {'n': {'$type': 'number'}}]}]}",
    /* $not */
    "{'n': {'$not': {'$gt': 1}}}",
    "{'tags': {'$not': {'$size': 2}}}",
    "{'n': {'$not': {'$in': [1]}}}",
    "{'o.x': {'$not': {'$eq': null}}}",
    "{'n': {'$not': {'$type': 'number'}}}",
    /* $all */
    "{'tags': {'$all': ['red', 'green']}}",
    "{'tags': {'$all': ['red']}}",
    "{'tags': {'$all': [['red']]}}",
    "{'n': {'$all': [1]}}",
    "{'n': {'$all': []}}",
    "{'arr': {'$all': [1, '1']}}",
    "{'arr': {'$all': [[1, 2]]}}",
    "{'arr.k': {'$all': [1, 2]}}",
    "{'profiles.asset_tags': {'$all': ['nlp', 'text']}}",
    /* $size */
    "{'tags': {'$size': 0}}",
    "{'tags': {'$size': 2}}",
    "{'n': {'$size': 3}}",
    "{'arr': {'$size': 1}}",
    "{'arr.k': {'$size': 2}}",
    "{'profiles': {'$size': 2}}",
    "{'o.y': {'$size': 2}}",
    "{'m': {'$size': 1}}",
    "{'profiles.asset_tags': {'$size': 0}}",
    /* $elemMatch, value form and document form, nested */
    "{'items': {'$elemMatch': {'k': 'a', 'v': {'$gte': 5}}}}",
    "{'items': {'$elemMatch': {'k': 'b'}}}",
    "{'items': {'$elemMatch': {'v': 5}}}",
    "{'items': {'$elemMatch': {'v': null}}}",
    "{'n': {'$elemMatch': {'$gt': 1}}}",
    "{'n': {'$elemMatch': {'$gte': 2, '$lt': 3}}}",
    "{'tags': {'$elemMatch': {'$regex': '^g'}}}",
    "{'arr': {'$elemMatch': {'$elemMatch': {'$gt': 2}}}}",
    "{'arr': {'$elemMatch': {'k': {'$exists': true}}}}",
    "{'arr': {'$elemMatch': {}}}",
    "{'profiles': {'$elemMatch': {'asset_type': 'model', 'asset_sub_type': 'llm'}}}",
    "{'profiles': {'$elemMatch': {'asset_type': 'dataset', 'asset_tags': 'nlp'}}}",
    "{'profiles': {'$elemMatch': {'asset_metadata.arch.layers': {'$elemMatch': {'n': "
    "{'$gt': 1}}}}}}",
    "{'items': {'$elemMatch': {'$or': [{'k': 'b'}, {'v': 1}]}}}",
    "{'items': {'$elemMatch': {'k': {'$ne': 'a'}}}}",
    "{'arr': {'$elemMatch': {'0': 1}}}",
    "{'arr': {'$elemMatch': {'$type': 'array'}}}",
    "{'o.y': {'$elemMatch': {'z': {'$in': [2, 3]}}}}",
    "{'items': {'$elemMatch': {'v': {'$elemMatch': {'$eq': 5}}}}}",
    "{'m': {'$elemMatch': {'$elemMatch': {'a': 1}}}}",
    "{'m': {'$elemMatch': {'$size': 2}}}",
    "{'num': {'$elemMatch': {'$all': ['a', 'b']}}}",
    "{'arr': {'$elemMatch': {'a.b.c': 1}}}",
    "{'n': {'$elemMatch': {'$not': {'$gt': 1}}}}",
    /* $type */
    "{'n': {'$type': 'double'}}",
    "{'n': {'$type': 'int'}}",
    "{'n': {'$type': 'long'}}",
    "{'n': {'$type': 'number'}}",
    "{'n': {'$type': 'string'}}",
    "{'n': {'$type': 'null'}}",
    "{'n': {'$type': 'array'}}",
    "{'n': {'$type': ['bool', 'object']}}",
    "{'tags': {'$type': 'string'}}",
    "{'o': {'$type': 3}}",
    "{'arr.k': {'$type': 'int'}}",
    "{'b': {'$type': 'bool'}}",
    "{'n': {'$gte': 1, '$type': 'double'}}",
    "{'rank': {'$type': 'double'}}",
    /* more equality through arrays, objects, lists */
    "{'arr': {'$all': [{'k': 1}]}}",
    "{'o.y': {'z': 1}}",
    "{'o.y': [{'z': 1}, {'z': 2}]}",
    "{'items.v': [1, 5]}",
    "{'items': {'k': 'a', 'v': 1}}",
    "{'items': {'v': 1, 'k': 'a'}}",
    "{'deep.a.b.c.d': {'$in': [1, 2]}}",
    "{'m': {'$all': [[1, 2], [3, 4]]}}",
    "{'m': {'$in': [[[1]]]}}",
    "{'n': {'$in': [[1], true]}}",
    "{'n': {'$all': [1, 2]}}",
    "{'n': {'$all': [[1], 2]}}",
    "{'tags': {'$all': ['red', 'red']}}",
    "{'n': {'$size': 0}}",
    "{'o': {'$size': 2}}",
    "{'$or': [{'n': {'$size': 2}}, {'o.x': {'$type': 'null'}}]}",
    "{'o.1': {'2': 'two'}}",
    "{'o.1.2': {'$exists': true}}",
    "{'ключ.ü': 2}",
    "{'ключ': {'ü': [1, 2]}}",
    "{'ключ.ü': {'$size': 2}}",
    "{'rank': {'$in': [0, 1.25, 2, 37]}}",
    "{'rank': 1.25}",
    "{'s': {'$in': ['alpha', 'Alpha', 'ALPHA']}}",
    "{'s': {'$gte': 'beta', '$lt': 'gamma'}}",
    /* the schema's fields with other operators, mixed exact and evaluated */
    "{'profiles': {'$elemMatch': {'asset_tags': {'$size': 0}}}}",
    "{'profiles.asset_metadata': {'params': 3}}",
    "{'asset_file_ids': {'$size': 2}}",
    "{'asset_file_ids': {'$all': ['f1', 'f2']}}",
    "{'asset_file_ids': []}",
    "{'profiles': []}",
    "{'profiles': {'$size': 0}}",
    "{'asset_id': {'$in': ['d07', 'd-ü-日本', 'nope']}}",
    "{'asset_id': {'$gt': 'd5'}}",
    "{'asset_id': {'$regex': '^d[0-2]'}}",
    "{'$or': [{'asset_id': 'd07'}, {'n': 2.5}]}",
    "{'$or': [{'profiles.asset_type': 'model'}, {'n': {'$ne': 1}}]}",
    "{'$nor': [{'profiles.asset_type': 'model'}]}",
    "{'profiles.asset_type': {'$ne': 'model'}}",
    "{'profiles.asset_type': {'$nin': ['model', 'dataset']}}",
    "{'profiles.asset_type': {'$exists': false}}",
    "{'asset_brief_description': null}",
    "{'asset_container_uri': {'$exists': true}}",
    "{'$and': [{'profiles.asset_type': 'model'}, {'$or': [{'asset_id': 'd14'}, "
    "{'profiles.asset_sub_type': 'cnn'}]}]}",
    "{'profiles.asset_type': {'$in': ['model']}, 'asset_file_ids': 'f2'}",
    "{'profiles.asset_type': {'$in': ['model', 1]}}",
    "{'profiles.asset_type': {'$gte': 'model'}}",
};

#define NFILTERS (sizeof(filters) / sizeof(filters[0]))

/* Corpus document i: its id (insertion order differs from id order) and a
 * distinct numeric rank, some integers and some reals. */
static void corpus_id(size_t i, char *buf, size_t cap)
{
    switch (i) {
    case 4:
        snprintf(buf, cap, "d-ü-日本");
        break;
    case 9:
        snprintf(buf, cap, "d \"q\" %%");
        break;
    case 21:
        snprintf(buf, cap, "D21");
        break;
    default:
        snprintf(buf, cap, "d%02zu", (i * 7) % 60);
        break;
    }
}

static json_t *corpus_rank(size_t i)
{
    long r = (long)((i * 37) % 61);
    if (i % 3 == 1) return json_real((double)r + 0.25);
    return json_integer(r);
}

/* A corpus document with the given extras (NULL = corpus[i]). */
static json_t *corpus_doc(size_t i, const char *extras)
{
    char id[64];
    json_t *doc;
    corpus_id(i, id, sizeof(id));
    doc = mkdoc(id, extras ? extras : corpus[i]);
    if (!doc) {
        fprintf(stderr, "meta contract: corpus document %zu is bad JSON\n", i);
        abort();
    }
    json_object_set_new(doc, "rank", corpus_rank(i));
    return doc;
}

static void load_corpus(ad_meta *m, model *md)
{
    ad_error err = {0};
    for (size_t i = 0; i < NCORPUS; i++) {
        json_t *doc = corpus_doc(i, NULL);
        const char *id = json_string_value(json_object_get(doc, "asset_id"));
        ad_code rc = do_insert(m, md, id, doc, &err);
        CHECK(rc == AD_OK, "insert corpus document %zu (%s): %s (%s)", i, id, codename(rc),
              err.msg);
        json_decref(doc);
    }
}

static void run_filters(ad_meta *m, const model *md, const char *ctx)
{
    for (size_t i = 0; i < NFILTERS; i++) check_filter(m, md, ctx, filters[i]);
}

/* Skip/limit edges on exact and evaluated filters. */
static void test_skip_limit(ad_meta *m, const model *md)
{
    static const char *const fs[] = {"{}", "{'profiles.asset_type': 'model'}",
                                     "{'n': {'$exists': true}}", "{'n': {'$ne': 1}}"};
    static const uint64_t skips[] = {
        0, 1, 3, 59, 60, 61, 1000, (uint64_t)INT64_MAX, (uint64_t)INT64_MAX + 1, UINT64_MAX};
    static const uint64_t limits[] = {
        0, 1, 2, 1000, (uint64_t)INT64_MAX, (uint64_t)INT64_MAX + 1, UINT64_MAX - 1, UINT64_MAX};
    for (size_t i = 0; i < sizeof(fs) / sizeof(fs[0]); i++) {
        ad_filter *f = filter_of(fs[i]);
        ids all = {0};
        brute(f, md, &all);
        for (size_t s = 0; s < sizeof(skips) / sizeof(skips[0]); s++) {
            for (size_t l = 0; l < sizeof(limits) / sizeof(limits[0]); l++) {
                ids want = {0};
                ad_query q = {f, NULL, false, skips[s], limits[l]};
                ids_slice(&all, skips[s], limits[l], &want);
                expect_query(m, md, "skip/limit", fs[i], &q, &want);
                ids_free(&want);
            }
        }
        ids_free(&all);
        ad_filter_free(f);
    }
    /* sorting on its own: the whole store by rank both ways, by asset_uri */
    {
        static const struct {
            const char *path;
            bool desc;
        } sorts[] = {{"rank", false},
                     {"rank", true},
                     {"asset_uri", true},
                     {"asset_id", false},
                     {"asset_uri", false}};
        ad_filter *f = filter_of("{}");
        ids all = {0};
        brute(f, md, &all);
        for (size_t i = 0; i < sizeof(sorts) / sizeof(sorts[0]); i++) {
            ids want = {0};
            ad_query q = {f, sorts[i].path, sorts[i].desc, 0, UINT64_MAX};
            ids_sorted(&all, md, sorts[i].path, sorts[i].desc, &want);
            expect_query(m, md, "sort", "{}", &q, &want);
            ids_free(&want);
        }
        ids_free(&all);
        ad_filter_free(f);
    }
}

/* Replaces, removes and re-inserts some corpus documents. */
static void mutate_corpus(ad_meta *m, model *md)
{
    static const struct {
        size_t idx;
        const char *extras;
    } repl[] = {
        {0, "{'n': 42, 's': 'omega', 'tags': ['purple'], 'profiles': [" PROF("dataset", "llm",
                                                                             "['gone']", "") "]}"},
        {12, "{'n': [4, 5, 6], 'tags': 'green'}"},
        {36, "{'items': [{'k': 'z', 'v': 9}]}"},
        {47, "{'profiles': []}"},
        {23, "{'n': null, 'o': {'x': 2}}"},
        {48, "{'profiles': [" PROF("model", "llm", "['nlp']", "") "], 'asset_file_ids': []}"},
        {25, "{'o': {'x': 1}, 'b': true}"},
        {25, "{'o': {'y': {'z': 'deep'}}}"}, /* a second replace of the same document */
        {17, "{}"},
    };
    static const size_t removed[] = {2, 30, 44, 3, 59};
    ad_error err = {0};
    ad_code rc;
    char id[64];

    for (size_t i = 0; i < sizeof(repl) / sizeof(repl[0]); i++) {
        json_t *doc = corpus_doc(repl[i].idx, repl[i].extras);
        const mdoc *d;
        corpus_id(repl[i].idx, id, sizeof(id));
        d = model_find(md, id);
        rc = do_replace(m, md, id, d ? d->rev : 1, doc, &err);
        CHECK(rc == AD_OK, "replace corpus %s: %s (%s)", id, codename(rc), err.msg);
        expect_get(m, md, id, "after a corpus replace");
        json_decref(doc);
    }
    for (size_t i = 0; i < sizeof(removed) / sizeof(removed[0]); i++) {
        const mdoc *d;
        corpus_id(removed[i], id, sizeof(id));
        d = model_find(md, id);
        rc = m->ops->remove(m, id, i % 2 ? AD_REV_ANY : (d ? d->rev : 1), &err);
        CHECK(rc == AD_OK, "remove corpus %s: %s (%s)", id, codename(rc), err.msg);
        if (rc == AD_OK) model_del(md, id);
        expect_get(m, md, id, "after a corpus remove");
    }

    /* named checks that the index followed the writes */
    {
        ids got = {0};
        char d0[64], d2[64], d48[64];
        corpus_id(0, d0, sizeof(d0));
        corpus_id(2, d2, sizeof(d2));
        corpus_id(48, d48, sizeof(d48));
        rc = find_simple(m, md, "{'profiles.asset_type': 'model'}", 0, UINT64_MAX, &got, &err);
        CHECK(rc == AD_OK && !ids_has(&got, d0),
              "after replace, %s (no longer a model) still found by profiles.asset_type", d0);
        CHECK(rc == AD_OK && ids_has(&got, d48),
              "after replace, %s (now a model) not found by profiles.asset_type", d48);
        CHECK(rc == AD_OK && !ids_has(&got, d2), "after remove, %s still found", d2);
        ids_free(&got);
        rc = find_simple(m, md, "{'tags': 'purple'}", 0, UINT64_MAX, &got, &err);
        CHECK(rc == AD_OK && got.n == 1 && ids_has(&got, d0),
              "after replace, the new value of %s is not found", d0);
        ids_free(&got);
        rc = find_simple(m, md, "{'profiles.asset_tags': 'gone'}", 0, UINT64_MAX, &got, &err);
        CHECK(rc == AD_OK && got.n == 1, "after replace, exact filter on a new value: %zu rows",
              got.n);
        ids_free(&got);
        rc = find_simple(m, md, "{'n': 42}", 0, UINT64_MAX, &got, &err);
        CHECK(rc == AD_OK && got.n == 1, "after replace, {n: 42}: %zu rows", got.n);
        ids_free(&got);
        rc = find_simple(m, md, "{'s': 'alpha'}", 0, UINT64_MAX, &got, &err);
        CHECK(rc == AD_OK && !ids_has(&got, d0), "after replace, old value 'alpha' still finds %s",
              d0);
        ids_free(&got);
    }

    /* re-insert a removed id with other content (it goes to the end of creation
     * order) and add new documents */
    {
        json_t *doc = corpus_doc(
            2, "{'n': 1, 'profiles': [" PROF("model", "llm", "['back']", "") "], 'tags': ['red']}");
        corpus_id(2, id, sizeof(id));
        rc = do_insert(m, md, id, doc, &err);
        CHECK(rc == AD_OK, "re-insert %s: %s (%s)", id, codename(rc), err.msg);
        json_decref(doc);
    }
    for (size_t i = 0; i < 3; i++) {
        char nid[32], extras[256];
        json_t *doc;
        snprintf(nid, sizeof(nid), "new-%zu", i);
        snprintf(extras, sizeof(extras),
                 "{'n': %zu, 'tags': ['red', 'n%zu'], 'arr': [{'k': %zu}], 'rank': %zu}", i, i, i,
                 1000 + i);
        doc = mkdoc(nid, extras);
        rc = do_insert(m, md, nid, doc, &err);
        CHECK(rc == AD_OK, "insert %s: %s (%s)", nid, codename(rc), err.msg);
        json_decref(doc);
    }
}

/* ------------------------------------------------------------------------ */
/* 3. Filters at the parser's limits                                         */
/* ------------------------------------------------------------------------ */

static void check_filter_json(ad_meta *m, const model *md, const char *label, json_t *fj)
{
    ad_filter *f = NULL;
    ad_error err = {0};
    ad_code rc = ad_filter_parse(fj, &f, &err);
    CHECK(rc == AD_OK, "limits: %s does not parse: %s (%s)", label, codename(rc), err.msg);
    if (rc == AD_OK) {
        ids want = {0};
        ad_query q = {f, NULL, false, 0, UINT64_MAX};
        if (brute(f, md, &want) == 0) expect_query(m, md, "limits", label, &q, &want);
        ids_free(&want);
    }
    ad_filter_free(f);
    json_decref(fj);
}

static void test_limits(ad_meta *m, const model *md)
{
    json_t *list, *fj;
    char buf[64];
    size_t n = AD_FILTER_MAX_LIST;

    /* $in of 1000 strings on asset_id (an exact filter) */
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        if (i < 10)
            corpus_id(i * 5, buf, sizeof(buf));
        else
            snprintf(buf, sizeof(buf), "zz-%zu", i);
        json_array_append_new(list, json_string(buf));
    }
    fj = json_pack("{s:{s:o}}", "asset_id", "$in", list);
    check_filter_json(m, md, "{asset_id: {$in: [1000 strings]}}", fj);

    /* $in of 1000 numbers (evaluated) */
    list = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(list, json_integer((json_int_t)i - 500));
    fj = json_pack("{s:{s:o}}", "n", "$in", list);
    check_filter_json(m, md, "{n: {$in: [-500..499]}}", fj);

    /* $nin of 1000 numbers */
    list = json_array();
    for (size_t i = 0; i < n; i++) json_array_append_new(list, json_integer((json_int_t)i));
    fj = json_pack("{s:{s:o}}", "n", "$nin", list);
    check_filter_json(m, md, "{n: {$nin: [0..999]}}", fj);

    /* $all of 1000 strings */
    list = json_array();
    for (size_t i = 0; i < n; i++) {
        snprintf(buf, sizeof(buf), "t%zu", i);
        json_array_append_new(list, json_string(buf));
    }
    fj = json_pack("{s:{s:o}}", "tags", "$all", list);
    check_filter_json(m, md, "{tags: {$all: [1000 strings]}}", fj);

    /* $or of 1000 equalities */
    list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:I}", "rank", (json_int_t)i));
    fj = json_pack("{s:o}", "$or", list);
    check_filter_json(m, md, "{$or: [1000 x {rank: i}]}", fj);

    /* $and of 1000 ranges */
    list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(list, json_pack("{s:{s:I}}", "rank", "$gte", -(json_int_t)i));
    fj = json_pack("{s:o}", "$and", list);
    check_filter_json(m, md, "{$and: [1000 x {rank: {$gte: -i}}]}", fj);

    /* $or of 20 x $in of 1000 */
    list = json_array();
    for (size_t k = 0; k < 20; k++) {
        json_t *in = json_array();
        for (size_t i = 0; i < n; i++)
            json_array_append_new(in, json_integer((json_int_t)(k * 1000 + i)));
        json_array_append_new(list, json_pack("{s:{s:o}}", "n", "$in", in));
    }
    fj = json_pack("{s:o}", "$or", list);
    check_filter_json(m, md, "{$or: [20 x {n: {$in: [1000 numbers]}}]}", fj);
}

/* ------------------------------------------------------------------------ */
/* 4. Cursors                                                               */
/* ------------------------------------------------------------------------ */

/* Next row's asset_id into buf ("" at the end); the code of cursor_next. */
static ad_code next_id(ad_meta *m, ad_meta_cursor *c, char *buf, size_t cap, ad_error *err)
{
    const char *j = NULL;
    size_t n = 0;
    json_t *doc;
    ad_code rc = m->ops->cursor_next(c, &j, &n, err);
    buf[0] = '\0';
    if (rc || !j) return rc;
    doc = json_loadb(j, n, 0, NULL);
    snprintf(buf, cap, "%s",
             doc && json_string_value(json_object_get(doc, "asset_id"))
                 ? json_string_value(json_object_get(doc, "asset_id"))
                 : "(bad row)");
    json_decref(doc);
    return AD_OK;
}

static void test_cursors(ad_meta *m, model *md)
{
    static const char *const fs[] = {"{}", "{'profiles.asset_type': 'model'}",
                                     "{'n': {'$exists': true}}"};
    enum { NC = 3 };
    ad_filter *f[NC];
    ad_meta_cursor *c[NC] = {0};
    ids want[NC] = {{0}}, got[NC] = {{0}};
    bool done[NC] = {0};
    ad_error err = {0};
    ad_code rc;
    char id[300];

    /* three cursors open at once, read round-robin */
    for (int i = 0; i < NC; i++) {
        ad_query q;
        f[i] = filter_of(fs[i]);
        brute(f[i], md, &want[i]);
        q = (ad_query){f[i], NULL, false, 0, UINT64_MAX};
        rc = m->ops->find(m, &q, &c[i], &err);
        CHECK(rc == AD_OK, "cursors: find %s with %d others open: %s (%s)", fs[i], i, codename(rc),
              err.msg);
        if (rc) done[i] = true;
    }
    for (bool any = true; any;) {
        any = false;
        for (int i = 0; i < NC; i++) {
            if (done[i]) continue;
            rc = next_id(m, c[i], id, sizeof(id), &err);
            if (rc || !id[0]) {
                CHECK(rc == AD_OK, "cursors: next on %s: %s (%s)", fs[i], codename(rc), err.msg);
                done[i] = true;
                continue;
            }
            ids_push(&got[i], id);
            any = true;
        }
    }
    for (int i = 0; i < NC; i++) {
        static char a[FAIL_IDS_MAX], b[FAIL_IDS_MAX];
        CHECK(ids_eq(&want[i], &got[i]), "cursors: interleaved %s\n      want %s\n      got  %s",
              fs[i], ids_fmt(&want[i], a, sizeof(a)), ids_fmt(&got[i], b, sizeof(b)));
        /* next after the end stays at the end */
        if (c[i]) {
            rc = next_id(m, c[i], id, sizeof(id), &err);
            CHECK(rc == AD_OK && !id[0], "cursors: next after the end on %s: %s, row \"%s\"", fs[i],
                  codename(rc), id);
        }
        m->ops->cursor_close(c[i]);
        c[i] = NULL;
        ids_free(&got[i]);
    }
    m->ops->cursor_close(NULL);

    /* close early after one row, many times (a pooled connection or cached
     * statement must come back clean) */
    for (int k = 0; k < 40; k++) {
        ad_query q = {f[k % NC], NULL, false, 0, UINT64_MAX};
        rc = m->ops->find(m, &q, &c[0], &err);
        CHECK(rc == AD_OK, "cursors: find for early close: %s (%s)", codename(rc), err.msg);
        if (rc) continue;
        rc = next_id(m, c[0], id, sizeof(id), &err);
        CHECK(rc == AD_OK && (want[k % NC].n == 0 || strcmp(id, want[k % NC].v[0]) == 0),
              "cursors: first row of %s: %s \"%s\"", fs[k % NC], codename(rc), id);
        m->ops->cursor_close(c[0]);
        c[0] = NULL;
    }
    /* closing without reading */
    {
        ad_query q = {f[2], NULL, false, 0, UINT64_MAX};
        rc = m->ops->find(m, &q, &c[0], &err);
        CHECK(rc == AD_OK, "cursors: find then close unread: %s", codename(rc));
        m->ops->cursor_close(c[0]);
        c[0] = NULL;
    }
    for (int i = 0; i < NC; i++) {
        ad_query q = {f[i], NULL, false, 0, UINT64_MAX};
        expect_query(m, md, "after early closes", fs[i], &q, &want[i]);
    }

    /* reads and writes while a cursor is open and part-way */
    {
        ad_query q = {f[0], NULL, false, 0, UINT64_MAX};
        ids seen = {0};
        json_t *doc = mkdoc("cursor-ins", "{'n': 1, 'rank': 2000}");
        const char *victim = md->n > 5 ? md->d[5].id : NULL;
        char victim_id[300] = "";
        if (victim) snprintf(victim_id, sizeof(victim_id), "%s", victim);

        rc = m->ops->find(m, &q, &c[0], &err);
        CHECK(rc == AD_OK, "cursors: find for writes: %s (%s)", codename(rc), err.msg);
        if (rc == AD_OK) {
            rc = next_id(m, c[0], id, sizeof(id), &err);
            CHECK(rc == AD_OK && id[0], "cursors: first row: %s", codename(rc));
            if (id[0]) ids_push(&seen, id);

            rc = m->ops->ping(m, &err);
            CHECK(rc == AD_OK, "cursors: ping with a cursor open: %s (%s)", codename(rc), err.msg);
            if (victim_id[0]) expect_get(m, md, victim_id, "get with a cursor open");
            {
                ids other = {0};
                rc = find_simple(m, md, "{'n': {'$gt': 1}}", 0, UINT64_MAX, &other, &err);
                CHECK(rc == AD_OK, "cursors: find with a cursor open: %s (%s)", codename(rc),
                      err.msg);
                ids_free(&other);
            }
            rc = do_insert(m, md, "cursor-ins", doc, &err);
            CHECK(rc == AD_OK, "cursors: insert with a cursor open: %s (%s)", codename(rc),
                  err.msg);
            if (victim_id[0]) {
                json_t *rd = mkdoc(victim_id, "{'n': 77, 'rank': 2001}");
                rc = do_replace(m, md, victim_id, AD_REV_ANY, rd, &err);
                CHECK(rc == AD_OK, "cursors: replace with a cursor open: %s (%s)", codename(rc),
                      err.msg);
                json_decref(rd);
            }
            for (;;) {
                rc = next_id(m, c[0], id, sizeof(id), &err);
                if (rc || !id[0]) break;
                ids_push(&seen, id);
            }
            CHECK(rc == AD_OK, "cursors: next after writes: %s (%s)", codename(rc), err.msg);
            m->ops->cursor_close(c[0]);
            c[0] = NULL;
            /* the cursor may or may not see the insert; everything else it
             * must have seen once, in order */
            {
                ids without = {0};
                static char a[FAIL_IDS_MAX], b[FAIL_IDS_MAX];
                for (size_t i = 0; i < seen.n; i++)
                    if (strcmp(seen.v[i], "cursor-ins") != 0) ids_push(&without, seen.v[i]);
                CHECK(ids_eq(&without, &want[0]),
                      "cursors: rows of a cursor open across writes\n      want %s\n      got  %s",
                      ids_fmt(&want[0], a, sizeof(a)), ids_fmt(&without, b, sizeof(b)));
                ids_free(&without);
            }
            /* a new query sees the writes */
            {
                ids after = {0};
                rc = find_simple(m, md, "{}", 0, UINT64_MAX, &after, &err);
                CHECK(rc == AD_OK && after.n && strcmp(after.v[after.n - 1], "cursor-ins") == 0,
                      "cursors: the insert is not the last row of a new find {}");
                ids_free(&after);
                rc = find_simple(m, md, "{'n': 77}", 0, UINT64_MAX, &after, &err);
                CHECK(rc == AD_OK && after.n == 1 && strcmp(after.v[0], victim_id) == 0,
                      "cursors: the replace is not seen by a new find {n: 77}");
                ids_free(&after);
            }
        }
        ids_free(&seen);
        json_decref(doc);
    }

    for (int i = 0; i < NC; i++) {
        ad_filter_free(f[i]);
        ids_free(&want[i]);
    }
}

/* ------------------------------------------------------------------------ */
/* 5. Concurrency                                                           */
/* ------------------------------------------------------------------------ */

#define NTHREADS   4
#define PER_THREAD 50

typedef struct job {
    ad_meta *m;
    int k;
    json_t **docs; /* PER_THREAD documents (insert) or one (replace) */
    char **texts;
    size_t *lens;
    const char *id; /* replace: the one id */
    int64_t revs[PER_THREAD];
    int failures;
    ad_code first_rc;
    char first_msg[AD_ERROR_MSG_MAX];
} job;

static void *insert_worker(void *p)
{
    job *j = p;
    for (int i = 0; i < PER_THREAD; i++) {
        ad_error err = {0};
        int64_t rev = 0;
        const char *id = json_string_value(json_object_get(j->docs[i], "asset_id"));
        ad_code rc = j->m->ops->insert(j->m, id, j->texts[i], j->lens[i], j->docs[i], &rev, &err);
        j->revs[i] = rev;
        if (rc && !j->failures++) {
            j->first_rc = rc;
            snprintf(j->first_msg, sizeof(j->first_msg), "%s", err.msg);
        }
    }
    return NULL;
}

static void *replace_worker(void *p)
{
    job *j = p;
    for (int i = 0; i < PER_THREAD; i++) {
        ad_error err = {0};
        int64_t rev = 0;
        ad_code rc = j->m->ops->replace(j->m, j->id, AD_REV_ANY, j->texts[0], j->lens[0],
                                        j->docs[0], &rev, &err);
        j->revs[i] = rc ? -1 : rev;
        if (rc && !j->failures++) {
            j->first_rc = rc;
            snprintf(j->first_msg, sizeof(j->first_msg), "%s", err.msg);
        }
    }
    return NULL;
}

static int cmp_i64(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
    return (x > y) - (x < y);
}

static void test_concurrency(ad_meta *m, model *md)
{
    pthread_t th[NTHREADS];
    job jobs[NTHREADS];
    json_t *docs[NTHREADS][PER_THREAD];
    char *texts[NTHREADS][PER_THREAD];
    size_t lens[NTHREADS][PER_THREAD];
    ad_error err = {0};
    ad_code rc;
    size_t before = md->n;

    /* 4 threads x 50 inserts of distinct ids */
    for (int k = 0; k < NTHREADS; k++) {
        for (int i = 0; i < PER_THREAD; i++) {
            char id[32], extras[128];
            snprintf(id, sizeof(id), "t%d-%02d", k, i);
            snprintf(extras, sizeof(extras), "{'n': %d, 'tags': ['t%d'], 'rank': %d}", i, k,
                     3000 + k * 100 + i);
            docs[k][i] = mkdoc(id, extras);
            texts[k][i] = dump(docs[k][i], &lens[k][i]);
        }
        memset(&jobs[k], 0, sizeof(jobs[k]));
        jobs[k].m = m;
        jobs[k].k = k;
        jobs[k].docs = docs[k];
        jobs[k].texts = texts[k];
        jobs[k].lens = lens[k];
    }
    for (int k = 0; k < NTHREADS; k++)
        if (pthread_create(&th[k], NULL, insert_worker, &jobs[k]) != 0) abort();
    for (int k = 0; k < NTHREADS; k++) pthread_join(th[k], NULL);
    for (int k = 0; k < NTHREADS; k++) {
        CHECK(jobs[k].failures == 0, "concurrent inserts, thread %d: %d failed, first: %s (%s)", k,
              jobs[k].failures, codename(jobs[k].first_rc), jobs[k].first_msg);
        for (int i = 0; i < PER_THREAD; i++) {
            const char *id = json_string_value(json_object_get(docs[k][i], "asset_id"));
            if (jobs[k].revs[i] == 1) model_add(md, id, docs[k][i], 1);
        }
    }
    {
        ids got = {0}, want = {0}, got_sorted = {0};
        static char a[FAIL_IDS_MAX], b[FAIL_IDS_MAX];
        bool prefix_ok = true, thread_order_ok = true;
        int last[NTHREADS];
        rc = find_simple(m, md, "{}", 0, UINT64_MAX, &got, &err);
        CHECK(rc == AD_OK && got.n == before + NTHREADS * PER_THREAD,
              "after concurrent inserts find {} has %zu rows, want %zu: %s (%s)", got.n,
              before + NTHREADS * PER_THREAD, codename(rc), err.msg);
        for (size_t i = 0; i < md->n; i++) ids_push(&want, md->d[i].id);
        for (size_t i = 0; i < got.n; i++) ids_push(&got_sorted, got.v[i]);
        ids_sort(&got_sorted);
        ids_sort(&want);
        CHECK(ids_eq(&got_sorted, &want),
              "after concurrent inserts, the set of ids differs:\n"
              "      want %s\n      got  %s",
              ids_fmt(&want, a, sizeof(a)), ids_fmt(&got_sorted, b, sizeof(b)));
        /* The interleaving of the threads is the store's to choose, but the
         * older documents come first and each thread's own inserts (made one
         * after the other) are in its order. Then the model adopts the
         * store's creation order. */
        for (size_t i = 0; i < before && i < got.n; i++)
            if (strcmp(got.v[i], md->d[i].id) != 0) prefix_ok = false;
        for (int k = 0; k < NTHREADS; k++) last[k] = -1;
        for (size_t i = before; i < got.n; i++) {
            int k, n;
            if (sscanf(got.v[i], "t%d-%d", &k, &n) == 2 && k >= 0 && k < NTHREADS) {
                if (n <= last[k]) thread_order_ok = false;
                last[k] = n;
            }
        }
        CHECK(prefix_ok, "after concurrent inserts the older documents are not first in order");
        CHECK(thread_order_ok, "after concurrent inserts a thread's documents are out of order");
        if (ids_eq(&got_sorted, &want) && prefix_ok) {
            model re = {0};
            for (size_t i = 0; i < got.n; i++) {
                mdoc *d = model_find(md, got.v[i]);
                model_add(&re, d->id, d->doc, d->rev);
            }
            model_free(md);
            *md = re;
        }
        ids_free(&got);
        ids_free(&got_sorted);
        ids_free(&want);
        rc = find_simple(m, md, "{'tags': 't2'}", 0, UINT64_MAX, &got, &err);
        CHECK(rc == AD_OK && got.n == PER_THREAD, "after concurrent inserts {tags: t2}: %zu rows",
              got.n);
        ids_free(&got);
    }
    for (int k = 0; k < NTHREADS; k++)
        for (int i = 0; i < PER_THREAD; i++) {
            json_decref(docs[k][i]);
            free(texts[k][i]);
        }

    /* 4 threads x 50 replaces of one id */
    {
        json_t *base = mkdoc("hot", "{'n': 0, 'rank': 5000}");
        json_t *rdocs[NTHREADS];
        char *rtexts[NTHREADS];
        size_t rlens[NTHREADS];
        int64_t all[NTHREADS * PER_THREAD];
        size_t nall = 0;
        bool seq_ok = true;
        ad_doc out = {0};

        rc = do_insert(m, md, "hot", base, &err);
        CHECK(rc == AD_OK, "insert hot: %s (%s)", codename(rc), err.msg);
        for (int k = 0; k < NTHREADS; k++) {
            char extras[64];
            snprintf(extras, sizeof(extras), "{'n': %d, 'rank': 5000}", k + 1);
            rdocs[k] = mkdoc("hot", extras);
            rtexts[k] = dump(rdocs[k], &rlens[k]);
            memset(&jobs[k], 0, sizeof(jobs[k]));
            jobs[k].m = m;
            jobs[k].k = k;
            jobs[k].docs = &rdocs[k];
            jobs[k].texts = &rtexts[k];
            jobs[k].lens = &rlens[k];
            jobs[k].id = "hot";
        }
        for (int k = 0; k < NTHREADS; k++)
            if (pthread_create(&th[k], NULL, replace_worker, &jobs[k]) != 0) abort();
        for (int k = 0; k < NTHREADS; k++) pthread_join(th[k], NULL);
        for (int k = 0; k < NTHREADS; k++) {
            CHECK(jobs[k].failures == 0,
                  "concurrent replaces, thread %d: %d failed, first: %s (%s)", k, jobs[k].failures,
                  codename(jobs[k].first_rc), jobs[k].first_msg);
            for (int i = 0; i < PER_THREAD; i++) {
                if (i && jobs[k].revs[i] <= jobs[k].revs[i - 1]) seq_ok = false;
                all[nall++] = jobs[k].revs[i];
            }
        }
        CHECK(seq_ok, "concurrent replaces: a thread saw its revisions go backwards");
        qsort(all, nall, sizeof(all[0]), cmp_i64);
        {
            bool distinct = true;
            for (size_t i = 0; i < nall; i++)
                if (all[i] != (int64_t)i + 2) distinct = false;
            CHECK(distinct, "concurrent replaces: the returned revisions are not exactly 2..%d",
                  NTHREADS * PER_THREAD + 1);
        }
        rc = m->ops->get(m, "hot", &out, &err);
        CHECK(rc == AD_OK && out.rev == 1 + NTHREADS * PER_THREAD,
              "concurrent replaces: final rev %lld, want %d (%s)", (long long)out.rev,
              1 + NTHREADS * PER_THREAD, codename(rc));
        /* the final document is one of the four, and the model follows it */
        if (rc == AD_OK) {
            int which = -1;
            for (int k = 0; k < NTHREADS; k++)
                if (out.len == rlens[k] && memcmp(out.json, rtexts[k], rlens[k]) == 0) which = k;
            CHECK(which >= 0, "concurrent replaces: final document is none of the written ones");
            if (which >= 0) mdoc_set(model_find(md, "hot"), json_incref(rdocs[which]), out.rev);
        }
        ad_doc_free(&out);
        {
            ids got = {0};
            rc = find_simple(m, md, "{'asset_id': 'hot'}", 0, UINT64_MAX, &got, &err);
            CHECK(rc == AD_OK && got.n == 1, "after concurrent replaces, find hot: %zu rows",
                  got.n);
            ids_free(&got);
        }
        for (int k = 0; k < NTHREADS; k++) {
            json_decref(rdocs[k]);
            free(rtexts[k]);
        }
        json_decref(base);
    }
}

/* ------------------------------------------------------------------------ */

/* --- records: the side table of tokens and buckets --- */

typedef struct rec_walk {
    ids keys;
    int stop_after; /* 0 = walk all */
    bool json_ok;
} rec_walk;

static int rec_collect(void *ctx, const char *key, const char *json, size_t len, int64_t rev)
{
    rec_walk *w = ctx;
    json_t *j = json_loadb(json, len, 0, NULL);
    if (!j || !json_is_object(j) || rev < 1) w->json_ok = false;
    json_decref(j);
    ids_push(&w->keys, key);
    return w->stop_after && (int)w->keys.n >= w->stop_after;
}

static void test_records(ad_meta *m)
{
    ad_error err = {0};
    ad_doc d = {0};
    int64_t rev = 0;
    ad_code rc;
    char buf[512];
    const char *tok = "{\"name\":\"ci\",\"role\":\"writer\"}";
    const char *tok2 = "{\"name\":\"ci\",\"role\":\"admin\"}";
    const char *k1 = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    rec_walk w = {.json_ok = true};

    CHECK(m->ops->rec_put && m->ops->rec_get && m->ops->rec_remove && m->ops->rec_list,
          "a record slot is NULL");
    if (!m->ops->rec_put || !m->ops->rec_get || !m->ops->rec_remove || !m->ops->rec_list) return;

    rc = m->ops->rec_get(m, "tokens", k1, &d, &err);
    CHECK(rc == AD_E_NOT_FOUND, "rec_get of a missing record: %s", codename(rc));
    rc = m->ops->rec_put(m, "tokens", k1, tok, strlen(tok), 0, &rev, &err);
    CHECK(rc == AD_OK && rev == 1, "rec_put create: %s rev %lld (%s)", codename(rc), (long long)rev,
          err.msg);
    rc = m->ops->rec_put(m, "tokens", k1, tok, strlen(tok), 0, &rev, &err);
    CHECK(rc == AD_E_EXISTS, "rec_put create twice: %s", codename(rc));
    rc = m->ops->rec_get(m, "tokens", k1, &d, &err);
    CHECK(rc == AD_OK && d.json && d.len == strlen(tok) && memcmp(d.json, tok, d.len) == 0 &&
              d.rev == 1 && d.mtime > 0,
          "rec_get gives the bytes back: %s %s", codename(rc), d.json ? d.json : "(null)");
    ad_doc_free(&d);
    /* the same key in another namespace is another record */
    rc = m->ops->rec_get(m, "buckets", k1, &d, &err);
    CHECK(rc == AD_E_NOT_FOUND, "namespaces are separate: %s", codename(rc));

    rc = m->ops->rec_put(m, "tokens", k1, tok2, strlen(tok2), 7, &rev, &err);
    CHECK(rc == AD_E_PRECONDITION, "rec_put at a wrong revision: %s", codename(rc));
    rc = m->ops->rec_put(m, "tokens", k1, tok2, strlen(tok2), 1, &rev, &err);
    CHECK(rc == AD_OK && rev == 2, "rec_put replace: %s rev %lld", codename(rc), (long long)rev);
    rc = m->ops->rec_put(m, "tokens", "nope", tok2, strlen(tok2), 1, &rev, &err);
    CHECK(rc == AD_E_NOT_FOUND, "rec_put replace of a missing record: %s", codename(rc));
    rc = m->ops->rec_put(m, "tokens", k1, tok, strlen(tok), AD_REV_ANY, &rev, &err);
    CHECK(rc == AD_OK && rev == 3, "rec_put any: %s rev %lld", codename(rc), (long long)rev);
    rc = m->ops->rec_get(m, "tokens", k1, &d, &err);
    CHECK(rc == AD_OK && d.rev == 3 && d.len == strlen(tok), "replaced: rev %lld",
          (long long)d.rev);
    ad_doc_free(&d);

    /* keys that need care in every query language */
    {
        static const char *const odd[] = {"b'; DROP TABLE records; --",
                                          "a \"quoted\" key",
                                          "ünïcødé/κλειδί",
                                          "$where",
                                          "x.y.z",
                                          "%_%"};
        size_t i;
        for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
            snprintf(buf, sizeof(buf), "{\"i\":%zu}", i);
            rc = m->ops->rec_put(m, "buckets", odd[i], buf, strlen(buf), 0, &rev, &err);
            CHECK(rc == AD_OK, "rec_put key <%s>: %s (%s)", odd[i], codename(rc), err.msg);
        }
        rc = m->ops->rec_list(m, "buckets", rec_collect, &w, &err);
        CHECK(rc == AD_OK && w.keys.n == 6 && w.json_ok, "rec_list buckets: %s, %zu keys",
              codename(rc), w.keys.n);
        for (i = 0; i + 1 < w.keys.n; i++)
            CHECK(strcmp(w.keys.v[i], w.keys.v[i + 1]) < 0, "rec_list in key order: %s then %s",
                  w.keys.v[i], w.keys.v[i + 1]);
        for (i = 0; i < sizeof(odd) / sizeof(odd[0]); i++) {
            rc = m->ops->rec_get(m, "buckets", odd[i], &d, &err);
            snprintf(buf, sizeof(buf), "{\"i\":%zu}", i);
            CHECK(rc == AD_OK && d.json && strcmp(d.json, buf) == 0, "rec_get key <%s>: %s", odd[i],
                  codename(rc));
            ad_doc_free(&d);
        }
        ids_free(&w.keys);
        w = (rec_walk){.json_ok = true, .stop_after = 2};
        rc = m->ops->rec_list(m, "buckets", rec_collect, &w, &err);
        CHECK(rc == AD_OK && w.keys.n == 2, "rec_list stops when asked: %zu", w.keys.n);
        ids_free(&w.keys);
    }

    /* bad namespaces and keys are refused, not stored */
    rc = m->ops->rec_put(m, "Tokens!", k1, tok, strlen(tok), 0, &rev, &err);
    CHECK(rc == AD_E_BAD_REQUEST, "bad namespace: %s", codename(rc));
    rc = m->ops->rec_put(m, "tokens", "", tok, strlen(tok), 0, &rev, &err);
    CHECK(rc == AD_E_BAD_REQUEST, "empty key: %s", codename(rc));

    rc = m->ops->rec_remove(m, "tokens", k1, 2, &err);
    CHECK(rc == AD_E_PRECONDITION, "rec_remove at a wrong revision: %s", codename(rc));
    rc = m->ops->rec_remove(m, "tokens", k1, AD_REV_ANY, &err);
    CHECK(rc == AD_OK, "rec_remove: %s (%s)", codename(rc), err.msg);
    rc = m->ops->rec_remove(m, "tokens", k1, AD_REV_ANY, &err);
    CHECK(rc == AD_E_NOT_FOUND, "rec_remove twice: %s", codename(rc));
    rc = m->ops->rec_get(m, "tokens", k1, &d, &err);
    CHECK(rc == AD_E_NOT_FOUND, "removed: %s", codename(rc));
    w = (rec_walk){.json_ok = true};
    rc = m->ops->rec_list(m, "tokens", rec_collect, &w, &err);
    CHECK(rc == AD_OK && w.keys.n == 0, "rec_list after removal: %zu", w.keys.n);
    ids_free(&w.keys);
}

int meta_contract_run(const char *url)
{
    int failed_before = check_failed, passed_before = check_passed;
    ad_meta *m = NULL;
    ad_error err = {0};
    model md = {0};
    ad_code rc = ad_meta_open(url, &m, &err);

    CHECK(rc == AD_OK && m, "meta contract: open %s: %s (%s)", url, codename(rc), err.msg);
    if (rc != AD_OK || !m) return check_failed - failed_before;
    CHECK(m->ops && m->ops->version == AD_META_OPS_VERSION, "ops version");
    CHECK(m->ops->open && m->ops->close && m->ops->ping && m->ops->get && m->ops->insert &&
              m->ops->replace && m->ops->remove && m->ops->find && m->ops->cursor_next &&
              m->ops->cursor_close,
          "a mandatory slot is NULL");

    test_lifecycle(m, &md);
    test_odd_ids(m, &md);
    test_records(m);

    load_corpus(m, &md);
    for (size_t i = 0; i < md.n; i += 7) expect_get(m, &md, md.d[i].id, "corpus");
    run_filters(m, &md, "corpus");
    test_skip_limit(m, &md);
    test_limits(m, &md);

    mutate_corpus(m, &md);
    run_filters(m, &md, "after writes");
    test_skip_limit(m, &md);

    test_cursors(m, &md);
    test_concurrency(m, &md);
    run_filters(m, &md, "after concurrency");

    rc = m->ops->ping(m, &err);
    CHECK(rc == AD_OK, "ping at the end: %s (%s)", codename(rc), err.msg);
    m->ops->close(m);
    model_free(&md);

    printf("meta contract %s: %d passed, %d failed\n", url, check_passed - passed_before,
           check_failed - failed_before);
    return check_failed - failed_before;
}
