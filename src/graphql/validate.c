/*
 * validate.c — document-level validation (see validate.h): Operation Name
 * Uniqueness, Lone Anonymous Operation, the operation's root type must
 * exist, Fragment Name Uniqueness, Fragments Must Be Used, Fragment Spreads
 * Must Not Form Cycles, Variable Uniqueness, Variables Are Input Types,
 * All Variable Uses Defined, All Variables Used, All Variable Usages Are
 * Allowed, graphql-js's MaxIntrospectionDepthRule, and the limits on the
 * document with its fragments expanded.
 *
 * Order: every definition is walked first (validate_fields.c), which
 * records the variables and fragments each one uses; the per-operation
 * rules then follow the recorded fragment spreads transitively.
 */
#include "graphql/validate.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "graphql/validate_int.h"
#include "graphql/values.h"

#define NAME_MAX_SHOWN          100
#define INTROSPECTION_MAX_DEPTH 3 /* nested fields/interfaces/possibleTypes/inputFields */

/* ---- the context -------------------------------------------------------- */

void v_error(vctx *c, const gql_loc *locs, size_t nlocs, const char *fmt, ...)
{
    char msg[GQL_ERROR_MSG_MAX];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    gql_errors_add(c->errs, GQL_CODE_VALIDATION, locs, nlocs, NULL, "%s", msg);
}

void *v_alloc(vctx *c, size_t n)
{
    void *p = gql_arena_alloc(c->arena, n);
    if (!p) c->oom = true;
    return p;
}

def_info *v_fragment(vctx *c, const char *name)
{
    size_t lo = 0, hi = c->nfrags;
    while (lo < hi) { /* the first entry not below name */
        size_t mid = lo + (hi - lo) / 2;
        if (strcmp(c->frags[mid]->def->name, name) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < c->nfrags && strcmp(c->frags[lo]->def->name, name) == 0 ? c->frags[lo] : NULL;
}

/* By name, then document order. */
static int by_name(const void *a, const void *b)
{
    const def_info *x = *(def_info *const *)a, *y = *(def_info *const *)b;
    int d = strcmp(x->def->name, y->def->name);
    return d ? d : (x < y ? -1 : x > y);
}

static bool index_fragments(vctx *c)
{
    c->frags = v_alloc(c, (c->ndefs ? c->ndefs : 1) * sizeof(*c->frags));
    if (!c->frags) return false;
    for (size_t i = 0; i < c->ndefs; i++)
        if (c->defs[i].def->kind == GQL_DEF_FRAGMENT) c->frags[c->nfrags++] = &c->defs[i];
    qsort(c->frags, c->nfrags, sizeof(*c->frags), by_name);
    return true;
}

/* ---- operations --------------------------------------------------------- */

static void check_operations(vctx *c)
{
    size_t nops = 0;
    for (size_t i = 0; i < c->ndefs; i++) nops += c->defs[i].def->kind == GQL_DEF_OPERATION;
    for (size_t i = 0; i < c->ndefs; i++) {
        const gql_definition *d = c->defs[i].def;
        if (d->kind != GQL_DEF_OPERATION) continue;
        if (!d->name && nops > 1)
            v_error(c, &d->loc, 1, "This anonymous operation must be the only defined operation.");
        if (d->op != GQL_OP_QUERY)
            v_error(c, &d->loc, 1,
                    "assetd is read-only: the schema has no %s type, so %s operations are not "
                    "supported.",
                    d->op == GQL_OP_MUTATION ? "Mutation" : "Subscription", gql_op_name(d->op));
        for (size_t j = 0; d->name && j < i; j++) {
            const gql_definition *e = c->defs[j].def;
            if (e->kind == GQL_DEF_OPERATION && e->name && strcmp(e->name, d->name) == 0) {
                gql_loc locs[2] = {e->loc, d->loc};
                v_error(c, locs, 2, "There can be only one operation named \"%.*s\".",
                        NAME_MAX_SHOWN, d->name);
                break;
            }
        }
    }
}

/* ---- fragments ---------------------------------------------------------- */

static void check_fragment_names(vctx *c)
{
    for (size_t i = 0; i < c->ndefs; i++) {
        const gql_definition *d = c->defs[i].def;
        if (d->kind != GQL_DEF_FRAGMENT) continue;
        for (size_t j = 0; j < i; j++) {
            const gql_definition *e = c->defs[j].def;
            if (e->kind == GQL_DEF_FRAGMENT && strcmp(e->name, d->name) == 0) {
                gql_loc locs[2] = {e->loc, d->loc};
                v_error(c, locs, 2, "There can be only one fragment named \"%.*s\".",
                        NAME_MAX_SHOWN, d->name);
                break;
            }
        }
    }
}

/* Depth-first search for a spread path back to a fragment on the path. */
static void find_cycles(vctx *c, def_info *f)
{
    f->mark = 1;
    for (spread_ref *r = f->spreads; r; r = r->next) {
        def_info *g = v_fragment(c, r->name);
        if (!g) continue;
        if (g->mark == 1) {
            c->cycles = true;
            v_error(c, &r->loc, 1, "Cannot spread fragment \"%.*s\" within itself.", NAME_MAX_SHOWN,
                    r->name);
        } else if (g->mark == 0) {
            find_cycles(c, g);
        }
    }
    f->mark = 2;
}

/* Marks every fragment reachable from d with walk number n. */
static void reach(vctx *c, def_info *d, unsigned n)
{
    for (spread_ref *r = d->spreads; r; r = r->next) {
        def_info *g = v_fragment(c, r->name);
        if (g && g->seen != n) {
            g->seen = n;
            reach(c, g, n);
        }
    }
}

static void check_fragment_use(vctx *c)
{
    for (size_t i = 0; i < c->ndefs; i++)
        if (c->defs[i].def->kind == GQL_DEF_FRAGMENT && c->defs[i].mark == 0)
            find_cycles(c, &c->defs[i]);
    for (size_t i = 0; i < c->ndefs; i++)
        if (c->defs[i].def->kind == GQL_DEF_OPERATION) reach(c, &c->defs[i], 1);
    for (size_t i = 0; i < c->ndefs; i++) {
        const def_info *d = &c->defs[i];
        if (d->def->kind == GQL_DEF_FRAGMENT && d->seen != 1 && v_fragment(c, d->def->name) == d)
            v_error(c, &d->def->loc, 1, "Fragment \"%.*s\" is never used.", NAME_MAX_SHOWN,
                    d->def->name);
    }
}

/* ---- variables ---------------------------------------------------------- */

typedef struct var_info {
    const gql_var_def *def;
    gql_tref *type; /* NULL when unknown or not an input type */
    bool used;
} var_info;

/* Variable Uniqueness, Variables Are Input Types, defaults and directives. */
static var_info *check_var_defs(vctx *c, const gql_definition *op, size_t *n)
{
    size_t count = 0, i = 0;
    var_info *vars;
    for (const gql_var_def *v = op->vars; v; v = v->next) count++;
    vars = v_alloc(c, (count ? count : 1) * sizeof(*vars));
    *n = 0;
    if (!vars) return NULL;
    for (const gql_var_def *v = op->vars; v; v = v->next, i++) {
        const gql_type *named;
        vars[i].def = v;
        vars[i].type = gql_tref_from_ast(c->s, v->type, c->arena);
        if (!vars[i].type) c->oom = true;
        named = vars[i].type ? gql_named(vars[i].type) : NULL;
        for (size_t j = 0; j < i; j++) {
            if (strcmp(vars[j].def->name, v->name) == 0) {
                gql_loc locs[2] = {vars[j].def->loc, v->loc};
                v_error(c, locs, 2, "There can be only one variable named \"$%.*s\".",
                        NAME_MAX_SHOWN, v->name);
                break;
            }
        }
        if (vars[i].type && !named) {
            const gql_type_node *t = v->type;
            while (t->kind != GQL_T_NAMED) t = t->of;
            v_error(c, &t->loc, 1, "Unknown type \"%.*s\".", NAME_MAX_SHOWN, t->name);
            vars[i].type = NULL;
        } else if (named && !gql_is_input(named)) {
            char type[128];
            gql_tref_print(vars[i].type, type, sizeof(type));
            v_error(c, &v->type->loc, 1, "Variable \"$%s\" cannot be non-input type \"%s\".",
                    v->name, type);
            vars[i].type = NULL;
        }
        if (v->default_value)
            gql_check_literal(v->default_value, vars[i].type, false, c->errs, NULL, NULL);
        v_check_directives(c, v->directives, GQL_DL_VARIABLE_DEFINITION);
    }
    *n = count;
    return vars;
}

static var_info *find_var(var_info *vars, size_t n, const char *name)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(vars[i].def->name, name) == 0) return &vars[i];
    return NULL;
}

/* All Variable Usages Are Allowed, for one use of a defined variable. */
static void check_position(vctx *c, const var_info *v, const var_use *u)
{
    const gql_tref *pos = u->pos;
    char vt[128], pt[128];
    if (!pos || !v->type) return;
    /* a nullable variable fits a non-null position that has a default, or
     * when the variable itself has a non-null default */
    if (pos->kind == GQL_NON_NULL && v->type->kind != GQL_NON_NULL &&
        ((v->def->default_value && v->def->default_value->kind != GQL_V_NULL) || u->pos_default))
        pos = pos->of;
    if (gql_tref_fits(v->type, pos)) return;
    gql_tref_print(v->type, vt, sizeof(vt));
    gql_tref_print(u->pos, pt, sizeof(pt));
    {
        gql_loc locs[2] = {v->def->loc, u->var->loc};
        v_error(c, locs, 2,
                "Variable \"$%s\" of type \"%s\" used in position expecting type \"%s\".",
                v->def->name, vt, pt);
    }
}

static void check_uses(vctx *c, const def_info *op, const def_info *d, var_info *vars, size_t n)
{
    for (const var_use *u = d->uses; u; u = u->next) {
        var_info *v = find_var(vars, n, u->var->str);
        if (!v) {
            gql_loc locs[2] = {u->var->loc, op->def->loc};
            if (op->def->name)
                v_error(c, locs, 2, "Variable \"$%.*s\" is not defined by operation \"%s\".",
                        NAME_MAX_SHOWN, u->var->str, op->def->name);
            else
                v_error(c, locs, 2, "Variable \"$%.*s\" is not defined.", NAME_MAX_SHOWN,
                        u->var->str);
            continue;
        }
        v->used = true;
        check_position(c, v, u);
    }
}

/* The variable rules for one operation, through its fragments. */
static void check_variables(vctx *c, def_info *op, unsigned walk)
{
    size_t n;
    var_info *vars = check_var_defs(c, op->def, &n);
    if (!vars) return;
    check_uses(c, op, op, vars, n);
    reach(c, op, walk);
    for (size_t i = 0; i < c->ndefs; i++)
        if (c->defs[i].def->kind == GQL_DEF_FRAGMENT && c->defs[i].seen == walk &&
            v_fragment(c, c->defs[i].def->name) == &c->defs[i])
            check_uses(c, op, &c->defs[i], vars, n);
    for (size_t i = 0; i < n; i++) {
        if (vars[i].used) continue;
        if (op->def->name)
            v_error(c, &vars[i].def->loc, 1, "Variable \"$%s\" is never used in operation \"%s\".",
                    vars[i].def->name, op->def->name);
        else
            v_error(c, &vars[i].def->loc, 1, "Variable \"$%s\" is never used.", vars[i].def->name);
    }
}

/* ---- limits of the expanded document ------------------------------------ */

static size_t sat_add(size_t a, size_t b)
{
    return a > SIZE_MAX / 4 - b ? SIZE_MAX / 4 : a + b;
}

static void measure(vctx *c, def_info *d);

/* Fields (with fragments expanded) and depth of a selection set. */
static void measure_set(vctx *c, const gql_selection_set *set, size_t *fields, size_t *depth)
{
    *fields = 0;
    *depth = 1;
    for (const gql_selection *s = set->first; s; s = s->next) {
        size_t f = 0, d = 0;
        def_info *frag;
        if (s->kind == GQL_SEL_SPREAD) {
            frag = v_fragment(c, s->name);
            if (frag) measure(c, frag);
            f = frag ? frag->expanded : 0;
            d = frag ? frag->depth : 0;
        } else if (s->set) {
            measure_set(c, s->set, &f, &d);
        }
        if (s->kind == GQL_SEL_FIELD) {
            f = sat_add(f, 1);
            d = s->set ? d + 1 : 1;
        }
        *fields = sat_add(*fields, f);
        if (d > *depth) *depth = d;
    }
}

static void measure(vctx *c, def_info *d)
{
    if (d->measured) return;
    d->measured = true; /* no cycles here: checked before */
    measure_set(c, d->def->set, &d->expanded, &d->depth);
}

static void check_limits(vctx *c, def_info *op)
{
    measure(c, op);
    if (op->expanded > c->lim->expanded)
        v_error(c, &op->def->loc, 1,
                "The operation has more than %zu fields once its fragments are expanded.",
                c->lim->expanded);
    if (op->depth > c->lim->depth)
        v_error(c, &op->def->loc, 1,
                "The operation is nested deeper than %zu levels once its fragments are expanded.",
                c->lim->depth);
}

/* ---- graphql-js's MaxIntrospectionDepthRule ----------------------------- */

static bool intro_too_deep(vctx *c, const gql_selection_set *set, size_t depth);

/* A fragment entered again at the same depth or shallower adds nothing:
 * skipping it breaks cycles and repeats (as graphql-js does). */
static bool intro_spread(vctx *c, const gql_selection *s, size_t depth)
{
    def_info *frag = v_fragment(c, s->name);
    if (!frag) return false;
    if (frag->intro_walk == c->stamp && frag->intro_depth >= depth) return false;
    frag->intro_walk = c->stamp;
    frag->intro_depth = depth;
    return intro_too_deep(c, frag->def->set, depth);
}

static bool intro_too_deep(vctx *c, const gql_selection_set *set, size_t depth)
{
    static const char *const lists[] = {"fields", "interfaces", "possibleTypes", "inputFields"};
    for (const gql_selection *s = set->first; s; s = s->next) {
        size_t d = depth;
        if (s->kind == GQL_SEL_SPREAD) {
            if (intro_spread(c, s, depth)) return true;
            continue;
        }
        for (size_t i = 0; s->kind == GQL_SEL_FIELD && i < 4; i++)
            if (strcmp(s->name, lists[i]) == 0 && ++d >= INTROSPECTION_MAX_DEPTH) return true;
        if (s->set && intro_too_deep(c, s->set, d)) return true;
    }
    return false;
}

static void check_introspection_set(vctx *c, const gql_selection_set *set)
{
    for (const gql_selection *s = set->first; s; s = s->next) {
        if (s->kind == GQL_SEL_FIELD &&
            (strcmp(s->name, "__schema") == 0 || strcmp(s->name, "__type") == 0) && s->set) {
            c->stamp++;
            if (intro_too_deep(c, s->set, 0)) {
                v_error(c, &s->loc, 1, "Maximum introspection depth exceeded");
                continue;
            }
        }
        if (s->set) check_introspection_set(c, s->set);
    }
}

/* ---- the entry point ---------------------------------------------------- */

ad_code gql_validate(const gql_schema *s, const gql_document *doc, const gql_limits *lim,
                     gql_arena *arena, gql_errors *errs)
{
    vctx c = {.s = s, .doc = doc, .lim = lim, .arena = arena, .errs = errs};
    size_t before = errs->n + errs->dropped, i = 0;
    unsigned walk = 2; /* 1 is the "used by any operation" walk */
    c.defs = v_alloc(&c, (doc->ndefs ? doc->ndefs : 1) * sizeof(*c.defs));
    if (!c.defs) return AD_E_NOMEM;
    for (const gql_definition *d = doc->defs; d; d = d->next, i++) c.defs[i].def = d;
    c.ndefs = doc->ndefs;
    for (i = 0; i < c.ndefs; i++)
        if (c.defs[i].def->kind == GQL_DEF_OPERATION) c.defs[i].type = s->query;
    if (!index_fragments(&c)) return AD_E_NOMEM;
    check_operations(&c);
    check_fragment_names(&c);
    v_fragment_types(&c);
    for (i = 0; i < c.ndefs; i++) v_walk_definition(&c, &c.defs[i]);
    check_fragment_use(&c);
    for (i = 0; i < c.ndefs; i++) {
        if (c.defs[i].def->kind != GQL_DEF_OPERATION) continue;
        check_variables(&c, &c.defs[i], walk++);
        if (!c.cycles) check_limits(&c, &c.defs[i]);
    }
    for (i = 0; i < c.ndefs && !c.cycles; i++) check_introspection_set(&c, c.defs[i].def->set);
    if (!c.cycles && errs->n + errs->dropped == before) v_check_overlaps(&c);
    if (c.oom) return AD_E_NOMEM;
    return errs->n + errs->dropped == before ? AD_OK : AD_E_BAD_REQUEST;
}
