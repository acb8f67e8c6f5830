/*
 * errors.c — the capped list of GraphQL errors (see errors.h).
 */
#include "graphql/errors.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void gql_errors_init(gql_errors *e, size_t max)
{
    memset(e, 0, sizeof(*e));
    e->max = max;
}

void gql_errors_free(gql_errors *e)
{
    for (size_t i = 0; i < e->n; i++) {
        free(e->v[i].message);
        json_decref(e->v[i].path);
    }
    free(e->v);
    memset(e, 0, sizeof(*e));
}

static bool grow(gql_errors *e)
{
    size_t ncap = e->cap ? e->cap * 2 : 8;
    gql_error *v;
    if (e->n < e->cap) return true;
    v = realloc(e->v, ncap * sizeof(*v));
    if (!v) return false;
    e->v = v;
    e->cap = ncap;
    return true;
}

void gql_errors_add(gql_errors *e, const char *code, const gql_loc *locs, size_t nlocs,
                    json_t *path, const char *fmt, ...)
{
    char msg[GQL_ERROR_MSG_MAX];
    gql_error *err;
    va_list ap;
    if (e->n >= e->max) {
        e->dropped++;
        json_decref(path);
        return;
    }
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (!grow(e)) {
        e->oom = true;
        json_decref(path);
        return;
    }
    err = &e->v[e->n];
    memset(err, 0, sizeof(*err));
    err->message = strdup(msg);
    if (!err->message) {
        e->oom = true;
        json_decref(path);
        return;
    }
    err->nlocs = nlocs < GQL_ERROR_MAX_LOCS ? nlocs : GQL_ERROR_MAX_LOCS;
    if (locs && err->nlocs) memcpy(err->locs, locs, err->nlocs * sizeof(*locs));
    err->path = path;
    err->code = code;
    e->n++;
}

static json_t *error_json(const gql_error *err)
{
    json_t *o = json_object(), *locs = json_array();
    int bad = !o || !locs;
    for (size_t i = 0; !bad && i < err->nlocs; i++)
        bad = json_array_append_new(locs,
                                    json_pack("{s:I,s:I}", "line", (json_int_t)err->locs[i].line,
                                              "column", (json_int_t)err->locs[i].col));
    if (!bad) bad = json_object_set_new(o, "message", json_string(err->message));
    if (!bad && err->nlocs) bad = json_object_set(o, "locations", locs);
    if (!bad && err->path) bad = json_object_set(o, "path", err->path);
    if (!bad && err->code)
        bad = json_object_set_new(o, "extensions", json_pack("{s:s}", "code", err->code));
    json_decref(locs);
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *gql_errors_json(const gql_errors *e)
{
    json_t *arr = json_array();
    for (size_t i = 0; arr && i < e->n; i++) {
        if (json_array_append_new(arr, error_json(&e->v[i]))) {
            json_decref(arr);
            return NULL;
        }
    }
    if (arr && e->dropped) {
        char msg[128];
        snprintf(msg, sizeof(msg), "%zu more errors were left out (at most %zu are listed).",
                 e->dropped, e->max);
        if (json_array_append_new(arr, json_pack("{s:s}", "message", msg))) {
            json_decref(arr);
            return NULL;
        }
    }
    return arr;
}
