/*
 * execute.c — the executor (see execute.h), after the specification's
 * ExecuteSelectionSet / CollectFields / ExecuteField / CompleteValue.
 *
 * The data is written as JSON text into one buffer while values complete,
 * rather than built as a tree and serialized: it is the largest part of a
 * response and most of the cost of building one. A completion returns
 * false for "null that must propagate" (a non-null position got null or
 * an error): it then leaves nothing in the buffer (cut back to where it
 * began), and the nearest nullable ancestor writes null instead. Errors
 * are recorded where they happen, with the response path in ex->path.
 *
 * Response size: the buffer's length is the size of the data. When it
 * passes limits->response_bytes, the list or field being completed is
 * dropped (null), one RESPONSE_TOO_LARGE error says where, and no further
 * field is resolved, so memory stays bounded whatever the query asks for.
 */
#include "graphql/execute.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/values.h"
#include "util/log.h"

/* One step of a response path: a key, or (key NULL) a list index. */
typedef struct path_seg {
    const char *key;
    size_t index;
} path_seg;

struct gql_exec {
    const gql_schema *s;
    ad_registry *reg;
    const gql_document *doc;
    const json_t *vars;
    const gql_limits *lim;
    gql_errors *errs;
    ad_buf *out;    /* the data, as JSON text */
    path_seg *path; /* the response path of the field being completed */
    size_t depth, cap;
    bool over; /* the response size cap was reached */
    bool see_secrets;
    bool oom;
};

/* The fields of one response key, as CollectFields groups them. */
typedef struct group {
    const char *key;
    const gql_selection **fields;
    size_t n, cap;
} group;

typedef struct groups {
    group *v;
    size_t n, cap;
} groups;

static bool complete(gql_exec *ex, const gql_tref *t, const group *g, gql_val *v,
                     const groups *pre);

ad_registry *gql_exec_registry(gql_exec *ex)
{
    return ex->reg;
}

const gql_schema *gql_exec_schema(gql_exec *ex)
{
    return ex->s;
}

bool gql_exec_sees_secrets(gql_exec *ex)
{
    return ex->see_secrets;
}

/* ---- paths and errors --------------------------------------------------- */

static bool path_push(gql_exec *ex, const char *key, size_t index)
{
    if (ex->depth == ex->cap) {
        size_t ncap = ex->cap ? ex->cap * 2 : 16;
        path_seg *p = realloc(ex->path, ncap * sizeof(*p));
        if (!p) {
            ex->oom = true;
            return false;
        }
        ex->path = p;
        ex->cap = ncap;
    }
    ex->path[ex->depth++] = (path_seg){key, index};
    return true;
}

static void path_pop(gql_exec *ex)
{
    ex->depth--;
}

/* The current path as the JSON array of an error's "path". */
static json_t *path_json(const gql_exec *ex)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < ex->depth; i++) {
        const path_seg *p = &ex->path[i];
        json_t *x = p->key ? json_string(p->key) : json_integer((json_int_t)p->index);
        if (json_array_append_new(a, x)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* A field error at the current path, located at the group's fields. */
static void field_error(gql_exec *ex, const group *g, const char *code, const char *msg)
{
    gql_loc locs[GQL_ERROR_MAX_LOCS];
    size_t n = 0;
    for (size_t i = 0; i < g->n && n < GQL_ERROR_MAX_LOCS; i++) locs[n++] = g->fields[i]->loc;
    gql_errors_add(ex->errs, code, locs, n, path_json(ex), "%s", msg);
}

static const char *code_of(ad_code rc)
{
    switch (rc) {
    case AD_E_FILTER:
    case AD_E_BAD_REQUEST:
    case AD_E_INVALID:
    case AD_E_BAD_JSON:
        return GQL_CODE_INPUT;
    default:
        return GQL_CODE_INTERNAL;
    }
}

static void resolver_error(gql_exec *ex, const group *g, const ad_error *err)
{
    if (err->code == AD_E_NOMEM) ex->oom = true;
    if (ad_code_http_status(err->code) >= 500)
        ad_log(AD_LOG_ERROR, "msg=\"graphql field failed\" field=%.100s code=%s error=\"%s\"",
               g->fields[0]->name, ad_code_name(err->code), err->msg);
    field_error(ex, g, code_of(err->code), err->msg[0] ? err->msg : ad_code_name(err->code));
}

/* False when the data written so far has just passed the size cap (the
 * error is then recorded); from then on ex->over stops every field. */
static bool within_cap(gql_exec *ex, const group *g)
{
    char msg[GQL_ERROR_MSG_MAX];
    if (ex->out->len <= ex->lim->response_bytes || ex->over) return true;
    ex->over = true;
    snprintf(msg, sizeof(msg),
             "The response would be larger than %zu bytes: the list or field being completed "
             "here and every field after it are null. Ask for fewer items (limit and skip) or "
             "fewer fields.",
             ex->lim->response_bytes);
    field_error(ex, g, GQL_CODE_TOO_LARGE, msg);
    return false;
}

/* ---- CollectFields ------------------------------------------------------ */

static void groups_free(groups *gs)
{
    for (size_t i = 0; i < gs->n; i++) free(gs->v[i].fields);
    free(gs->v);
    memset(gs, 0, sizeof(*gs));
}

static bool group_add(groups *gs, const gql_selection *f)
{
    const char *key = gql_response_key(f);
    group *g = NULL;
    for (size_t i = 0; i < gs->n && !g; i++)
        if (strcmp(gs->v[i].key, key) == 0) g = &gs->v[i];
    if (!g) {
        if (gs->n == gs->cap) {
            size_t ncap = gs->cap ? gs->cap * 2 : 8;
            group *v = realloc(gs->v, ncap * sizeof(*v));
            if (!v) return false;
            gs->v = v;
            gs->cap = ncap;
        }
        g = &gs->v[gs->n++];
        memset(g, 0, sizeof(*g));
        g->key = key;
    }
    if (g->n == g->cap) {
        size_t ncap = g->cap ? g->cap * 2 : 2;
        const gql_selection **v = realloc(g->fields, ncap * sizeof(*v));
        if (!v) return false;
        g->fields = v;
        g->cap = ncap;
    }
    g->fields[g->n++] = f;
    return true;
}

/* The value of an @skip / @include "if" argument. */
static bool directive_if(const gql_exec *ex, const gql_directive_node *d)
{
    for (const gql_argument *a = d->args; a; a = a->next) {
        if (strcmp(a->name, "if") != 0) continue;
        if (a->value->kind == GQL_V_VARIABLE)
            return json_is_true(json_object_get(ex->vars, a->value->str));
        return a->value->kind == GQL_V_BOOLEAN && a->value->boolean;
    }
    return false;
}

static bool included(const gql_exec *ex, const gql_directive_node *d)
{
    for (; d; d = d->next) {
        if (strcmp(d->name, "skip") == 0 && directive_if(ex, d)) return false;
        if (strcmp(d->name, "include") == 0 && !directive_if(ex, d)) return false;
    }
    return true;
}

static const gql_definition *fragment(const gql_document *doc, const char *name)
{
    for (const gql_definition *d = doc->defs; d; d = d->next)
        if (d->kind == GQL_DEF_FRAGMENT && strcmp(d->name, name) == 0) return d;
    return NULL;
}

typedef struct visited {
    const char *names[64];
    size_t n;
} visited;

/* True the first time a fragment name is seen in one CollectFields. */
static bool first_visit(visited *vis, const char *name)
{
    for (size_t i = 0; i < vis->n; i++)
        if (strcmp(vis->names[i], name) == 0) return false;
    if (vis->n < sizeof(vis->names) / sizeof(vis->names[0])) vis->names[vis->n++] = name;
    return true;
}

static bool collect(const gql_exec *ex, const gql_type *t, const gql_selection_set *set, groups *gs,
                    visited *vis)
{
    bool ok = true;
    for (const gql_selection *s = set->first; s && ok; s = s->next) {
        const gql_definition *f;
        if (!included(ex, s->directives)) continue;
        switch (s->kind) {
        case GQL_SEL_FIELD:
            ok = group_add(gs, s);
            break;
        case GQL_SEL_INLINE:
            if (!s->type_cond || strcmp(s->type_cond, t->name) == 0)
                ok = collect(ex, t, s->set, gs, vis);
            break;
        case GQL_SEL_SPREAD:
            if (!first_visit(vis, s->name)) break;
            f = fragment(ex->doc, s->name);
            if (f && strcmp(f->type_cond, t->name) == 0) ok = collect(ex, t, f->set, gs, vis);
            break;
        }
    }
    return ok;
}

/* The sub-fields of a group of fields (their selection sets merged), for
 * an object of type t. */
static bool collect_sub(gql_exec *ex, const gql_type *t, const group *g, groups *out)
{
    visited vis = {.n = 0};
    for (size_t i = 0; i < g->n; i++) {
        if (g->fields[i]->set && !collect(ex, t, g->fields[i]->set, out, &vis)) {
            ex->oom = true;
            return false;
        }
    }
    return true;
}

/* ---- writing ------------------------------------------------------------ */

static bool put(gql_exec *ex, const char *s, size_t n)
{
    if (ad_buf_append(ex->out, s, n) == AD_OK) return true;
    ex->oom = true;
    return false;
}

static bool put_str(gql_exec *ex, const char *s)
{
    return put(ex, s, strlen(s));
}

static bool put_json_string(gql_exec *ex, const char *s, size_t n)
{
    if (ad_buf_json_string(ex->out, s, n) == AD_OK) return true;
    ex->oom = true;
    return false;
}

/* Serializes j (any JSON value) into the buffer. */
static bool put_json(gql_exec *ex, const json_t *j)
{
    char small[64], *tmp;
    size_t n;
    bool ok;
    if (json_is_string(j)) return put_json_string(ex, json_string_value(j), json_string_length(j));
    n = json_dumpb(j, small, sizeof(small), JSON_COMPACT | JSON_ENCODE_ANY);
    if (n > 0 && n <= sizeof(small)) return put(ex, small, n);
    tmp = n ? malloc(n) : NULL;
    ok = tmp && json_dumpb(j, tmp, n, JSON_COMPACT | JSON_ENCODE_ANY) == n && put(ex, tmp, n);
    if (!ok) ex->oom = true;
    free(tmp);
    return ok;
}

/* Cuts the buffer back to mark (what a propagating null leaves behind). */
static void cut(gql_exec *ex, size_t mark)
{
    ex->out->len = mark;
    if (ex->out->data) ex->out->data[mark] = '\0';
}

/* ---- fields --------------------------------------------------------------- */

static bool execute_field(gql_exec *ex, const gql_type *t, const gql_val *parent, const group *g)
{
    const gql_selection *f = g->fields[0];
    const gql_field *def = gql_field_of(ex->s, t, f->name);
    gql_val v = {0};
    json_t *args = NULL;
    ad_error err = {0};
    bool ok;
    if (!def || ex->over) return def && def->type->kind != GQL_NON_NULL && put_str(ex, "null");
    if (def == &gql_meta_typename) return put_json_string(ex, t->name, strlen(t->name));
    if (gql_coerce_args(def->args, def->nargs, f->args, ex->vars, &args, &err) ||
        def->resolve(ex, parent, def, args, &v, &err)) {
        resolver_error(ex, g, &err);
        json_decref(args);
        gql_val_clear(&v);
        return def->type->kind != GQL_NON_NULL && put_str(ex, "null");
    }
    ok = complete(ex, def->type, g, &v, NULL);
    gql_val_clear(&v);
    json_decref(args);
    return ok;
}

/* Executes the collected fields on an object; false when a non-null field
 * came out null. */
static bool execute_fields(gql_exec *ex, const gql_type *t, const gql_val *v, const groups *gs)
{
    size_t mark = ex->out->len;
    bool ok = put(ex, "{", 1);
    for (size_t i = 0; ok && i < gs->n; i++) {
        ok = (i == 0 || put(ex, ",", 1)) &&
             put_json_string(ex, gs->v[i].key, strlen(gs->v[i].key)) && put(ex, ":", 1) &&
             path_push(ex, gs->v[i].key, 0);
        if (!ok) break;
        ok = execute_field(ex, t, v, &gs->v[i]) && within_cap(ex, &gs->v[i]);
        path_pop(ex);
    }
    if (ok && put(ex, "}", 1) && !ex->oom) return true;
    cut(ex, mark);
    return false;
}

/* ---- CompleteValue ------------------------------------------------------ */

static void leaf_error(gql_exec *ex, const group *g, const gql_type *t, const json_t *j)
{
    char msg[GQL_ERROR_MSG_MAX], *shown = j ? json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY) : NULL;
    snprintf(msg, sizeof(msg), "%s cannot represent value: %.100s", t->name, shown ? shown : "?");
    free(shown);
    field_error(ex, g, GQL_CODE_INTERNAL, msg);
}

/* Whether JSON j is a valid result of scalar or enum t. */
static bool leaf_ok(const gql_type *t, const json_t *j)
{
    json_int_t i;
    if (t->kind == GQL_ENUM) return json_is_string(j) && gql_enum_value_of(t, json_string_value(j));
    switch (t->scalar) {
    case GQL_SC_STRING:
    case GQL_SC_ID:
        return json_is_string(j);
    case GQL_SC_INT:
        i = json_is_integer(j) ? json_integer_value(j) : 0;
        return json_is_integer(j) && i >= -2147483648LL && i <= 2147483647LL;
    case GQL_SC_FLOAT:
        return json_is_number(j);
    case GQL_SC_BOOLEAN:
        return json_is_boolean(j);
    default:
        return true;
    }
}

/* A raw value turned into JSON, for the checks only JSON allows. */
static bool raw_to_json(gql_val *v)
{
    json_t *j = json_loadb(v->raw, v->raw_len, JSON_DECODE_ANY, NULL);
    if (!j) return false;
    gql_val_clear(v);
    v->kind = GQL_VAL_JSON;
    v->json = j;
    return true;
}

static bool complete_leaf(gql_exec *ex, const gql_type *t, const group *g, gql_val *v)
{
    /* stored text goes out as it is when its type is plain to see */
    if (v->kind == GQL_VAL_RAW &&
        (t->scalar == GQL_SC_ANY || (t->scalar == GQL_SC_STRING && v->raw[0] == '"')))
        return put(ex, v->raw, v->raw_len);
    if (v->kind == GQL_VAL_RAW && !raw_to_json(v)) {
        leaf_error(ex, g, t, NULL);
        return false;
    }
    if (v->kind != GQL_VAL_JSON || !leaf_ok(t, v->json)) {
        leaf_error(ex, g, t, v->json);
        return false;
    }
    return put_json(ex, v->json);
}

static bool complete_object(gql_exec *ex, const gql_type *t, const group *g, gql_val *v,
                            const groups *pre)
{
    groups gs = {0};
    bool ok;
    if (pre) return execute_fields(ex, t, v, pre);
    if (!collect_sub(ex, t, g, &gs)) {
        groups_free(&gs);
        return false;
    }
    ok = execute_fields(ex, t, v, &gs);
    groups_free(&gs);
    return ok;
}

/* The next item of a list value: from an iterator or a JSON array. */
static ad_code list_next(gql_val *list, size_t i, gql_val *item, bool *end, ad_error *err)
{
    if (list->kind == GQL_VAL_LIST) return list->iter->next(list->iter, item, end, err);
    *end = i >= json_array_size(list->json);
    if (*end) return AD_OK;
    return gql_val_json(item, json_incref(json_array_get(list->json, i)), err);
}

static bool complete_list(gql_exec *ex, const gql_tref *t, const group *g, gql_val *v)
{
    const gql_type *item_type = gql_named(t->of);
    groups pre = {0};
    bool objects = item_type->kind == GQL_OBJECT, end = false, ok;
    size_t mark = ex->out->len;
    /* the items' sub-fields are the same for every item: collect them once */
    ok = put(ex, "[", 1) && (!objects || collect_sub(ex, item_type, g, &pre));
    for (size_t i = 0; ok; i++) {
        gql_val item = {0};
        ad_error err = {0};
        if (list_next(v, i, &item, &end, &err)) {
            resolver_error(ex, g, &err);
            ok = false;
        } else if (end) {
            break;
        } else {
            ok = (i == 0 || put(ex, ",", 1)) && path_push(ex, NULL, i);
            if (ok) {
                /* past the size cap, the whole list goes */
                ok = complete(ex, t->of, g, &item, objects ? &pre : NULL) && within_cap(ex, g) &&
                     !ex->over;
                path_pop(ex);
            }
        }
        gql_val_clear(&item);
    }
    groups_free(&pre);
    if (ok && put(ex, "]", 1)) return true;
    cut(ex, mark);
    return false;
}

/* CompleteValue for a nullable type: false when an inner non-null
 * position failed (or the value could not be written). pre: the object's
 * fields when already collected. */
static bool complete_nullable(gql_exec *ex, const gql_tref *t, const group *g, gql_val *v,
                              const groups *pre)
{
    const gql_type *named;
    if (v->kind == GQL_VAL_NULL) return put(ex, "null", 4);
    if (t->kind == GQL_LIST) {
        if (v->kind == GQL_VAL_RAW && !raw_to_json(v)) v->kind = GQL_VAL_NULL;
        if (v->kind != GQL_VAL_LIST && !json_is_array(v->json)) {
            field_error(ex, g, GQL_CODE_INTERNAL, "Expected a list value for a list field.");
            return false;
        }
        return complete_list(ex, t, g, v);
    }
    named = t->type;
    if (gql_is_leaf(named)) return complete_leaf(ex, named, g, v);
    return complete_object(ex, named, g, v, pre);
}

static bool complete(gql_exec *ex, const gql_tref *t, const group *g, gql_val *v, const groups *pre)
{
    char type[128], msg[GQL_ERROR_MSG_MAX];
    if (t->kind != GQL_NON_NULL)
        return complete_nullable(ex, t, g, v, pre) || (!ex->oom && put(ex, "null", 4));
    if (v->kind != GQL_VAL_NULL) return complete_nullable(ex, t->of, g, v, pre);
    gql_tref_print(t, type, sizeof(type));
    snprintf(msg, sizeof(msg), "Cannot return null for non-nullable field \"%s\" of type %s.",
             g->fields[0]->name, type);
    field_error(ex, g, GQL_CODE_INTERNAL, msg);
    return false;
}

/* ---- operations ----------------------------------------------------------- */

ad_code gql_execute(const gql_schema *s, ad_registry *reg, const gql_document *doc,
                    const gql_definition *op, const json_t *vars, const gql_limits *lim,
                    bool see_secrets, gql_errors *errs, ad_buf *data)
{
    gql_exec ex = {.s = s,
                   .reg = reg,
                   .doc = doc,
                   .vars = vars,
                   .lim = lim,
                   .errs = errs,
                   .out = data,
                   .see_secrets = see_secrets};
    gql_selection root_field = {.kind = GQL_SEL_FIELD, .name = "", .set = op->set};
    const gql_selection *roots[1] = {&root_field};
    group root = {.key = "", .fields = roots, .n = 1, .cap = 1};
    gql_val root_val = {0};
    bool ok = complete_object(&ex, s->query, &root, &root_val, NULL);
    free(ex.path);
    if (!ok && !ex.oom) ok = put(&ex, "null", 4);
    return ex.oom || errs->oom ? AD_E_NOMEM : AD_OK;
}
