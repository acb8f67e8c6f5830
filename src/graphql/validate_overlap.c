/*
 * validate_overlap.c — Field Selection Merging (specification 5.3.2,
 * graphql-js's OverlappingFieldsCanBeMergedRule): fields that share a
 * response key in one selection set, fragments included, must be the same
 * field with the same arguments (unless their parent types are distinct
 * object types), must have compatible types, and their sub-selections
 * must merge too.
 *
 * For each selection set the fields are gathered (inline fragments and
 * fragment spreads expanded, each fragment once), sorted by response key,
 * and compared within a key, each field against one representative of
 * each class of interchangeable fields before it (the same leaf field
 * selected many times costs one comparison each). The expanded document is
 * bounded (limits->expanded is checked first) and the number of
 * comparisons is capped (OVERLAP_BUDGET), so a hostile document cannot
 * make this rule quadratic without end.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/validate_int.h"

#define OVERLAP_BUDGET 1000000 /* field comparisons in one document */

typedef struct entry {
    const char *key;
    const gql_type *parent; /* NULL when unknown */
    const gql_selection *field;
    const gql_field *def; /* NULL when unknown */
    int side;             /* which of two merged sets it came from */
} entry;

typedef struct entries {
    entry *v;
    size_t n, cap;
    unsigned stamp; /* marks the fragments expanded into this gathering */
} entries;

typedef struct ov {
    vctx *c;
    size_t budget;
    bool exhausted;
    bool oom;
} ov;

static void entries_free(entries *e)
{
    free(e->v);
}

static bool push(ov *o, entries *e, const entry *x)
{
    if (e->n == e->cap) {
        size_t ncap = e->cap ? e->cap * 2 : 16;
        entry *v = realloc(e->v, ncap * sizeof(*v));
        if (!v) {
            o->oom = true;
            return false;
        }
        e->v = v;
        e->cap = ncap;
    }
    e->v[e->n++] = *x;
    return true;
}

/* True the first time fragment f is expanded into e. */
static bool first_expansion(entries *e, def_info *f)
{
    if (f->gathered == e->stamp) return false;
    f->gathered = e->stamp;
    return true;
}

static const gql_type *composite_or_null(const gql_type *t)
{
    return gql_is_composite(t) ? t : NULL;
}

/* Gathers the fields of set (on parent) into e, expanding fragments. */
static void gather(ov *o, const gql_type *parent, const gql_selection_set *set, int side,
                   entries *e)
{
    for (const gql_selection *s = set->first; s && !o->oom; s = s->next) {
        def_info *frag;
        const gql_type *t = parent;
        entry x = {0};
        switch (s->kind) {
        case GQL_SEL_FIELD:
            x = (entry){gql_response_key(s), parent, s,
                        parent ? gql_field_of(o->c->s, parent, s->name) : NULL, side};
            push(o, e, &x);
            break;
        case GQL_SEL_INLINE:
            if (s->type_cond) t = composite_or_null(gql_schema_type(o->c->s, s->type_cond));
            gather(o, t, s->set, side, e);
            break;
        case GQL_SEL_SPREAD:
            frag = v_fragment(o->c, s->name);
            if (frag && first_expansion(e, frag)) gather(o, frag->type, frag->def->set, side, e);
            break;
        }
    }
}

static int by_key(const void *a, const void *b)
{
    return strcmp(((const entry *)a)->key, ((const entry *)b)->key);
}

/* ---- comparing two fields ----------------------------------------------- */

static bool same_value(const gql_value *a, const gql_value *b)
{
    if (a->kind != b->kind) return false;
    switch (a->kind) {
    case GQL_V_NULL:
        return true;
    case GQL_V_BOOLEAN:
        return a->boolean == b->boolean;
    case GQL_V_LIST:
        for (a = a->items, b = b->items; a && b; a = a->next, b = b->next)
            if (!same_value(a, b)) return false;
        return !a && !b;
    case GQL_V_OBJECT: {
        const gql_object_field *f = a->fields, *g = b->fields;
        for (; f && g; f = f->next, g = g->next)
            if (f->name_len != g->name_len || memcmp(f->name, g->name, f->name_len) != 0 ||
                !same_value(f->value, g->value))
                return false;
        return !f && !g;
    }
    default:
        return a->len == b->len && memcmp(a->str, b->str, a->len) == 0;
    }
}

static bool same_args(const gql_argument *a, const gql_argument *b)
{
    size_t na = 0, nb = 0;
    for (const gql_argument *x = a; x; x = x->next) na++;
    for (const gql_argument *y = b; y; y = y->next) nb++;
    if (na != nb) return false;
    for (const gql_argument *x = a; x; x = x->next) {
        const gql_argument *y = b;
        while (y && strcmp(x->name, y->name) != 0) y = y->next;
        if (!y || !same_value(x->value, y->value)) return false;
    }
    return true;
}

static bool types_conflict(const gql_tref *a, const gql_tref *b)
{
    if (a->kind == GQL_LIST || b->kind == GQL_LIST)
        return a->kind != b->kind || types_conflict(a->of, b->of);
    if (a->kind == GQL_NON_NULL || b->kind == GQL_NON_NULL)
        return a->kind != b->kind || types_conflict(a->of, b->of);
    if (gql_is_leaf(a->type) || gql_is_leaf(b->type)) return a->type != b->type;
    return false;
}

static bool conflict(ov *o, const entry *a, const entry *b, bool exclusive, char *why, size_t n);

/* The sub-selections of two fields, merged: any conflict between them. */
/* Fields a and b are interchangeable here: same side, parent, field and
 * arguments, and no sub-selection. Whatever conflicts with one conflicts
 * with the other, so only one of them needs comparing. */
static bool equivalent(const entry *a, const entry *b)
{
    return a->side == b->side && a->parent == b->parent && !a->field->set && !b->field->set &&
           strcmp(a->field->name, b->field->name) == 0 && same_args(a->field->args, b->field->args);
}

/* Looks for a conflict among e->v[lo..hi) (one response key), comparing
 * each field with one representative of every class of equivalent fields
 * seen before it; with cross, only fields from different sides. Returns
 * true with *ci, *cj and why set at the first conflict. */
static bool conflict_in_run(ov *o, entries *e, size_t lo, size_t hi, bool cross, bool exclusive,
                            size_t *ci, size_t *cj, char *why, size_t n)
{
    size_t *reps = malloc((hi - lo) * sizeof(*reps)), nreps = 0;
    bool found = false;
    if (!reps) {
        o->oom = true;
        return false;
    }
    for (size_t j = lo; j < hi && !found && !o->exhausted; j++) {
        bool eq = false;
        for (size_t r = 0; r < nreps && !eq; r++) eq = equivalent(&e->v[reps[r]], &e->v[j]);
        if (eq) continue;
        for (size_t r = 0; r < nreps && !found; r++) {
            const entry *x = &e->v[reps[r]];
            if (cross && x->side == e->v[j].side) continue;
            found = conflict(o, x, &e->v[j], exclusive, why, n);
            if (found) *ci = reps[r], *cj = j;
        }
        reps[nreps++] = j;
    }
    free(reps);
    return found;
}

/* The end of the run of entries sharing e->v[lo]'s key. */
static size_t run_end(const entries *e, size_t lo)
{
    size_t hi = lo + 1;
    while (hi < e->n && strcmp(e->v[hi].key, e->v[lo].key) == 0) hi++;
    return hi;
}

/* The sub-selections of two fields, merged: any conflict between them. */
static bool sub_conflict(ov *o, const entry *a, const entry *b, bool exclusive, char *why, size_t n)
{
    entries e = {.stamp = ++o->c->stamp};
    char inner[GQL_ERROR_MSG_MAX / 2];
    bool found = false;
    size_t ci = 0, cj = 0;
    gather(o, a->def ? composite_or_null(gql_named(a->def->type)) : NULL, a->field->set, 0, &e);
    e.stamp = ++o->c->stamp; /* each side expands its own fragments */
    gather(o, b->def ? composite_or_null(gql_named(b->def->type)) : NULL, b->field->set, 1, &e);
    qsort(e.v, e.n, sizeof(*e.v), by_key);
    for (size_t lo = 0, hi; lo < e.n && !found && !o->exhausted; lo = hi) {
        hi = run_end(&e, lo);
        found = conflict_in_run(o, &e, lo, hi, true, exclusive, &ci, &cj, inner, sizeof(inner));
        if (found)
            snprintf(why, n, "subfields \"%.100s\" conflict because %.*s", e.v[lo].key,
                     (int)(n > 160 ? n - 160 : 0), inner);
    }
    entries_free(&e);
    return found;
}

/* Whether fields a and b (same response key) cannot be merged; why says
 * the reason. exclusive: their parents can never be the same object. */
static bool conflict(ov *o, const entry *a, const entry *b, bool exclusive, char *why, size_t n)
{
    char ta[128], tb[128];
    if (o->budget == 0) {
        o->exhausted = true;
        return false;
    }
    o->budget--;
    if (a->field == b->field) return false;
    exclusive = exclusive || (a->parent && b->parent && a->parent != b->parent &&
                              a->parent->kind == GQL_OBJECT && b->parent->kind == GQL_OBJECT);
    if (!exclusive && strcmp(a->field->name, b->field->name) != 0) {
        snprintf(why, n, "\"%.100s\" and \"%.100s\" are different fields", a->field->name,
                 b->field->name);
        return true;
    }
    if (!exclusive && !same_args(a->field->args, b->field->args)) {
        snprintf(why, n, "they have differing arguments");
        return true;
    }
    if (a->def && b->def && types_conflict(a->def->type, b->def->type)) {
        gql_tref_print(a->def->type, ta, sizeof(ta));
        gql_tref_print(b->def->type, tb, sizeof(tb));
        snprintf(why, n, "they return conflicting types \"%s\" and \"%s\"", ta, tb);
        return true;
    }
    return a->field->set && b->field->set && sub_conflict(o, a, b, exclusive, why, n);
}

/* ---- every selection set ------------------------------------------------ */

/* Field Selection Merging in one selection set: one error per response
 * key that cannot be merged. */
static void check_set(ov *o, const gql_type *parent, const gql_selection_set *set)
{
    entries e = {.stamp = ++o->c->stamp};
    char why[GQL_ERROR_MSG_MAX / 2];
    size_t ci = 0, cj = 0;
    gather(o, parent, set, 0, &e);
    qsort(e.v, e.n, sizeof(*e.v), by_key);
    for (size_t lo = 0, hi; lo < e.n && !o->exhausted; lo = hi) {
        hi = run_end(&e, lo);
        if (!conflict_in_run(o, &e, lo, hi, false, false, &ci, &cj, why, sizeof(why))) continue;
        gql_loc locs[2] = {e.v[ci].field->loc, e.v[cj].field->loc};
        v_error(o->c, locs, 2,
                "Fields \"%s\" conflict because %s. Use different aliases on the fields to fetch "
                "both if this was intentional.",
                e.v[lo].key, why);
    }
    entries_free(&e);
}

static void visit(ov *o, const gql_type *parent, const gql_selection_set *set)
{
    check_set(o, parent, set);
    for (const gql_selection *s = set->first; s && !o->exhausted && !o->oom; s = s->next) {
        const gql_type *t = parent;
        if (s->kind == GQL_SEL_FIELD && s->set) {
            const gql_field *def = parent ? gql_field_of(o->c->s, parent, s->name) : NULL;
            visit(o, def ? composite_or_null(gql_named(def->type)) : NULL, s->set);
        } else if (s->kind == GQL_SEL_INLINE) {
            if (s->type_cond) t = composite_or_null(gql_schema_type(o->c->s, s->type_cond));
            visit(o, t, s->set);
        }
    }
}

void v_check_overlaps(vctx *c)
{
    ov o = {.c = c, .budget = OVERLAP_BUDGET};
    for (size_t i = 0; i < c->ndefs && !o.exhausted && !o.oom; i++)
        visit(&o, c->defs[i].type, c->defs[i].def->set);
    if (o.oom) c->oom = true;
    if (o.exhausted)
        v_error(c, &c->defs[0].def->loc, 1,
                "The query is too complex to validate: more than %d comparisons of fields that "
                "share a response name.",
                OVERLAP_BUDGET);
}
