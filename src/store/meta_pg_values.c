/*
 * meta_pg_values.c — the rows of the PostgreSQL value table asset_values
 * for one document, computed in assetd instead of by the trigger's walk in
 * SQL (see values_sql in meta_pg.c and the header of meta_pg_sql.c).
 *
 * Why: the trigger's recursive CTE over the JSONB costs about as much CPU
 * as the rest of a create. assetd already holds the parsed document, so
 * its writes hand the rows to the trigger (through a transaction-local
 * setting, assetd.values, set in the same statement) and the trigger only
 * inserts them; any other writer (psql, an older assetd) leaves the
 * setting empty and the trigger walks the document itself. The DELETE of
 * the old rows stays in the trigger, which runs it with a fresh snapshot
 * (so two racing updates of one asset never leave both their rows).
 *
 * The rows must hold at least what assetd_values() holds (queries rely on
 * every reachable number and fixed-query string being there): every
 * number under every dotted path of at most PG_VALUES_PATH_MAX bytes,
 * arrays walked through at any depth, and the strings of at most
 * PG_VALUES_STR_MAX bytes under the PG_VALUES_STR_PATHS; strings are
 * unique per path (the fixed-query join relies on one row per document),
 * numbers are unique per path by their text, and multi marks the numbers
 * of a path under which there is more than one. The numbers are the
 * document's own json_t, written by the same jansson call that writes the
 * document's JSONB copy, so they read back as the same numeric.
 *
 * Output: a JSON array of {"p": path, "n": number | "s": string, "m": bool}
 * for jsonb_to_recordset, or "" (the trigger walks) for a document with
 * more than VALUES_MAX values.
 */
#include <stdlib.h>
#include <string.h>

#include "store/meta_pg.h"
#include "util/str.h"

#define VALUES_MAX 20000 /* rows passed from assetd; more: the trigger walks */

typedef struct vrow {
    char *path;
    char *text;      /* the number as jansson writes it, or the string */
    const json_t *v; /* the number or string itself */
    bool num, multi;
} vrow;

typedef struct vlist {
    vrow *r;
    size_t n, cap;
    bool full, oom;
} vlist;

static bool str_path(const char *path)
{
    static const char *const paths[] = {PG_VALUES_STR_PATHS};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        if (strcmp(path, paths[i]) == 0) return true;
    return false;
}

static void add(vlist *l, const char *path, const json_t *v, bool num)
{
    vrow *r;
    if (l->full || l->oom) return;
    if (l->n == VALUES_MAX) {
        l->full = true;
        return;
    }
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 32;
        vrow *p = realloc(l->r, cap * sizeof(*p));
        if (!p) {
            l->oom = true;
            return;
        }
        l->r = p;
        l->cap = cap;
    }
    r = &l->r[l->n];
    *r = (vrow){.v = v, .num = num};
    r->path = strdup(path);
    r->text = num ? json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY)
                  : ad_strndup(json_string_value(v), json_string_length(v));
    if (!r->path || !r->text) {
        free(r->path);
        free(r->text);
        l->oom = true;
        return;
    }
    l->n++;
}

/* path is a buffer of PG_VALUES_PATH_MAX + 1 bytes holding plen bytes. */
static void walk(vlist *l, char *path, size_t plen, const json_t *v)
{
    const char *k;
    json_t *e;
    size_t i;
    if (l->full || l->oom) return;
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, e)
        {
            size_t kl = strlen(k), nl = plen + (plen ? 1 : 0) + kl;
            if (nl > PG_VALUES_PATH_MAX) continue; /* nothing below is kept */
            if (plen) path[plen] = '.';
            memcpy(path + plen + (plen ? 1 : 0), k, kl);
            path[nl] = '\0';
            walk(l, path, nl, e);
            path[plen] = '\0';
        }
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, e) walk(l, path, plen, e);
    } else if (json_is_number(v)) {
        add(l, path, v, true);
    } else if (json_is_string(v) && json_string_length(v) <= PG_VALUES_STR_MAX &&
               strlen(json_string_value(v)) == json_string_length(v) && str_path(path)) {
        add(l, path, v, false);
    }
}

static int cmp_row(const void *a, const void *b)
{
    const vrow *x = a, *y = b;
    int c = strcmp(x->path, y->path);
    if (c) return c;
    if (x->num != y->num) return x->num ? -1 : 1;
    return strcmp(x->text, y->text);
}

static void list_free(vlist *l)
{
    for (size_t i = 0; i < l->n; i++) {
        free(l->r[i].path);
        free(l->r[i].text);
    }
    free(l->r);
}

char *pg_values_json(const json_t *doc)
{
    char path[PG_VALUES_PATH_MAX + 1] = "";
    vlist l = {0};
    json_t *out;
    char *s = NULL;
    size_t i, j, n = 0;
    if (!json_is_object(doc)) return strdup("");
    walk(&l, path, 0, doc);
    if (l.oom || l.full) {
        list_free(&l);
        return l.oom ? NULL : strdup("");
    }
    if (l.n) qsort(l.r, l.n, sizeof(*l.r), cmp_row);
    for (i = 0; i < l.n; i++) /* unique (path, kind, text) */
        if (!n || cmp_row(&l.r[n - 1], &l.r[i]) != 0) {
            vrow t = l.r[n];
            l.r[n++] = l.r[i];
            l.r[i] = t;
        }
    for (i = 0; i < n; i = j) { /* multi: several numbers under one path */
        for (j = i + 1; j < n && l.r[j].num && strcmp(l.r[j].path, l.r[i].path) == 0; j++) {
        }
        if (l.r[i].num && j - i > 1)
            for (size_t k = i; k < j; k++) l.r[k].multi = true;
    }
    out = json_array();
    for (i = 0; out && i < n; i++) {
        json_t *o = json_pack("{s:s, s:O, s:b}", "p", l.r[i].path, l.r[i].num ? "n" : "s",
                              (json_t *)l.r[i].v, "m", l.r[i].multi);
        if (!o || json_array_append_new(out, o)) {
            json_decref(out);
            out = NULL;
        }
    }
    if (out) s = json_dumps(out, JSON_COMPACT);
    json_decref(out);
    /* the rows moved by the dedup are still owned by l: free all l.n */
    list_free(&l);
    return s;
}
