/*
 * validate_fields.c — the validation rules met while walking selections
 * (see validate.h): Field Selections on Objects, Leaf Field Selections,
 * Argument Names and Uniqueness, Required Arguments, Values of Correct
 * Type, Directives Are Defined / In Valid Locations / Unique Per Location,
 * Fragment Spread Target Defined, Fragment Spread Type Existence,
 * Fragments On Composite Types and Fragment Spread Is Possible.
 *
 * The walk also records, for the definition being walked, each variable
 * use with the type of its position and each fragment spread; validate.c
 * follows those to check variables and fragments per operation.
 */
#include <stdio.h>
#include <string.h>

#include "graphql/validate_int.h"
#include "graphql/values.h"

#define NAME_MAX_SHOWN 100 /* bytes of a name quoted in a message */

/* ---- recording ---------------------------------------------------------- */

static void record_use(void *ctx, const gql_value *var, const gql_tref *pos, bool pos_default)
{
    vctx *c = ctx;
    var_use *u = v_alloc(c, sizeof(*u));
    if (!u) return;
    u->var = var;
    u->pos = pos;
    u->pos_default = pos_default;
    u->next = c->cur->uses;
    c->cur->uses = u;
}

static void record_spread(vctx *c, const gql_selection *s)
{
    spread_ref *r = v_alloc(c, sizeof(*r));
    if (!r) return;
    r->name = s->name;
    r->loc = s->loc;
    r->next = c->cur->spreads;
    c->cur->spreads = r;
}

/* ---- arguments ---------------------------------------------------------- */

/* Where arguments are given: a field (owner "Type.field") or a directive
 * (owner "@name"); the owner is spelled out only for a message. */
typedef struct arg_site {
    const char *kind;   /* "field" or "directive" */
    const char *prefix; /* the type's name, or "@" */
    const char *sep;    /* "." or "" */
    const char *name;
    bool known; /* the field or directive exists (defs may still be empty) */
    const gql_arg *defs;
    size_t ndefs;
    gql_loc loc;
} arg_site;

static void check_arg_unique(vctx *c, const gql_argument *args, const gql_argument *a)
{
    for (const gql_argument *b = args; b != a; b = b->next) {
        if (strcmp(b->name, a->name) == 0) {
            gql_loc locs[2] = {b->loc, a->loc};
            v_error(c, locs, 2, "There can be only one argument named \"%.*s\".", NAME_MAX_SHOWN,
                    a->name);
            return;
        }
    }
}

static void check_required(vctx *c, const arg_site *site, const gql_argument *args)
{
    for (size_t i = 0; i < site->ndefs; i++) {
        const gql_arg *d = &site->defs[i];
        const gql_argument *a = args;
        char type[128];
        if (d->type->kind != GQL_NON_NULL || d->default_value) continue;
        while (a && strcmp(a->name, d->name) != 0) a = a->next;
        if (a) continue;
        gql_tref_print(d->type, type, sizeof(type));
        v_error(
            c, &site->loc, 1,
            "%s \"%s%s%s\" argument \"%s\" of type \"%s\" is required, but it was not provided.",
            strcmp(site->kind, "field") == 0 ? "Field" : "Directive", site->prefix, site->sep,
            site->name, d->name, type);
    }
}

static void check_arguments(vctx *c, const arg_site *site, const gql_argument *args)
{
    for (const gql_argument *a = args; a; a = a->next) {
        const gql_arg *d = site->known ? gql_arg_of(site->defs, site->ndefs, a->name) : NULL;
        check_arg_unique(c, args, a);
        if (site->known && !d)
            v_error(c, &a->loc, 1, "Unknown argument \"%.*s\" on %s \"%s%s%.*s\".", NAME_MAX_SHOWN,
                    a->name, site->kind, site->prefix, site->sep, NAME_MAX_SHOWN, site->name);
        gql_check_literal(a->value, d ? d->type : NULL, d && d->default_value, c->errs, record_use,
                          c);
    }
    check_required(c, site, args);
}

/* ---- directives --------------------------------------------------------- */

static const char *const location_names[GQL_DL_COUNT] = {
    "QUERY",
    "MUTATION",
    "SUBSCRIPTION",
    "FIELD",
    "FRAGMENT_DEFINITION",
    "FRAGMENT_SPREAD",
    "INLINE_FRAGMENT",
    "VARIABLE_DEFINITION",
    "SCHEMA",
    "SCALAR",
    "OBJECT",
    "FIELD_DEFINITION",
    "ARGUMENT_DEFINITION",
    "INTERFACE",
    "UNION",
    "ENUM",
    "ENUM_VALUE",
    "INPUT_OBJECT",
    "INPUT_FIELD_DEFINITION",
    "DIRECTIVE_DEFINITION",
};

static void check_directive_unique(vctx *c, const gql_directive_node *dirs,
                                   const gql_directive_node *d, const gql_directive *def)
{
    if (!def || def->repeatable) return;
    for (const gql_directive_node *e = dirs; e != d; e = e->next) {
        if (strcmp(e->name, d->name) == 0) {
            gql_loc locs[2] = {e->loc, d->loc};
            v_error(c, locs, 2, "The directive \"@%s\" can only be used once at this location.",
                    d->name);
            return;
        }
    }
}

void v_check_directives(vctx *c, const gql_directive_node *dirs, gql_dir_loc loc)
{
    for (const gql_directive_node *d = dirs; d; d = d->next) {
        const gql_directive *def = gql_schema_directive(c->s, d->name);
        arg_site site = {.kind = "directive", .loc = d->loc};
        if (!def)
            v_error(c, &d->loc, 1, "Unknown directive \"@%.*s\".", NAME_MAX_SHOWN, d->name);
        else if (!(def->locations & GQL_DL_BIT(loc)))
            v_error(c, &d->loc, 1, "Directive \"@%s\" may not be used on %s.", d->name,
                    location_names[loc]);
        check_directive_unique(c, dirs, d, def);
        site.prefix = "@";
        site.sep = "";
        site.name = d->name;
        if (def) {
            site.known = true;
            site.defs = def->args;
            site.ndefs = def->nargs;
        }
        check_arguments(c, &site, d->args);
    }
}

/* ---- selections --------------------------------------------------------- */

static void walk_set(vctx *c, const gql_type *parent, const gql_selection_set *set);

/* Leaf Field Selections: leaves have no selection set, objects need one. */
static void check_leaf(vctx *c, const gql_selection *f, const gql_field *def)
{
    const gql_type *named = gql_named(def->type);
    char type[128];
    if (gql_is_leaf(named) == !f->set) return;
    gql_tref_print(def->type, type, sizeof(type));
    if (f->set)
        v_error(c, &f->set->loc, 1,
                "Field \"%s\" must not have a selection since type \"%s\" has no subfields.",
                f->name, type);
    else
        v_error(c, &f->loc, 1,
                "Field \"%s\" of type \"%s\" must have a selection of subfields. Did you mean "
                "\"%s { ... }\"?",
                f->name, type, f->name);
}

static void walk_field(vctx *c, const gql_type *parent, const gql_selection *f)
{
    const gql_field *def = parent ? gql_field_of(c->s, parent, f->name) : NULL;
    arg_site site = {.kind = "field", .loc = f->loc};
    const gql_type *sub = NULL;
    if (parent && !def)
        v_error(c, &f->loc, 1, "Cannot query field \"%.*s\" on type \"%s\".", NAME_MAX_SHOWN,
                f->name, parent->name);
    if (def) {
        site.prefix = parent->name;
        site.sep = ".";
        site.name = def->name;
        site.known = true;
        site.defs = def->args;
        site.ndefs = def->nargs;
        check_leaf(c, f, def);
        sub = gql_named(def->type);
        if (!gql_is_composite(sub)) sub = NULL;
    }
    check_arguments(c, &site, f->args);
    v_check_directives(c, f->directives, GQL_DL_FIELD);
    if (f->set) walk_set(c, sub, f->set);
}

static void walk_spread(vctx *c, const gql_type *parent, const gql_selection *s)
{
    def_info *frag = v_fragment(c, s->name);
    v_check_directives(c, s->directives, GQL_DL_FRAGMENT_SPREAD);
    record_spread(c, s);
    if (!frag) {
        v_error(c, &s->loc, 1, "Unknown fragment \"%.*s\".", NAME_MAX_SHOWN, s->name);
        return;
    }
    if (parent && frag->type && frag->type != parent)
        v_error(c, &s->loc, 1,
                "Fragment \"%s\" cannot be spread here as objects of type \"%s\" can never be of "
                "type \"%s\".",
                s->name, parent->name, frag->type->name);
}

/* The type of a type condition; NULL (with the error reported) when it is
 * unknown or not composite. frag: the fragment's name, or NULL (inline). */
static const gql_type *condition_type(vctx *c, const char *cond, gql_loc loc, const char *frag)
{
    const gql_type *t = gql_schema_type(c->s, cond);
    if (!t) {
        v_error(c, &loc, 1, "Unknown type \"%.*s\".", NAME_MAX_SHOWN, cond);
        return NULL;
    }
    if (gql_is_composite(t)) return t;
    if (frag)
        v_error(c, &loc, 1, "Fragment \"%s\" cannot condition on non composite type \"%s\".", frag,
                cond);
    else
        v_error(c, &loc, 1, "Fragment cannot condition on non composite type \"%s\".", cond);
    return NULL;
}

static void walk_inline(vctx *c, const gql_type *parent, const gql_selection *s)
{
    const gql_type *t = parent;
    v_check_directives(c, s->directives, GQL_DL_INLINE_FRAGMENT);
    if (s->type_cond) {
        t = condition_type(c, s->type_cond, s->type_cond_loc, NULL);
        if (t && parent && t != parent)
            v_error(c, &s->loc, 1,
                    "Fragment cannot be spread here as objects of type \"%s\" can never be of "
                    "type \"%s\".",
                    parent->name, t->name);
    }
    walk_set(c, t, s->set);
}

static void walk_set(vctx *c, const gql_type *parent, const gql_selection_set *set)
{
    for (const gql_selection *s = set->first; s; s = s->next) {
        switch (s->kind) {
        case GQL_SEL_FIELD:
            walk_field(c, parent, s);
            break;
        case GQL_SEL_SPREAD:
            walk_spread(c, parent, s);
            break;
        case GQL_SEL_INLINE:
            walk_inline(c, parent, s);
            break;
        }
    }
}

void v_walk_definition(vctx *c, def_info *d)
{
    const gql_definition *def = d->def;
    c->cur = d;
    if (def->kind == GQL_DEF_FRAGMENT) {
        v_check_directives(c, def->directives, GQL_DL_FRAGMENT_DEFINITION);
    } else {
        static const gql_dir_loc op_locs[] = {GQL_DL_QUERY, GQL_DL_MUTATION, GQL_DL_SUBSCRIPTION};
        v_check_directives(c, def->directives, op_locs[def->op]);
    }
    walk_set(c, d->type, def->set);
    c->cur = NULL;
}

void v_fragment_types(vctx *c)
{
    for (size_t i = 0; i < c->ndefs; i++) {
        def_info *d = &c->defs[i];
        if (d->def->kind == GQL_DEF_FRAGMENT)
            d->type = condition_type(c, d->def->type_cond, d->def->type_cond_loc, d->def->name);
    }
}
