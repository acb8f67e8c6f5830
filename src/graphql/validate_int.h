/*
 * validate_int.h — what the three validation files share: the context of
 * one validation and what it learns about each definition as it walks the
 * document (variables used, fragments spread). Internal to src/graphql.
 */
#ifndef ASSETD_GRAPHQL_VALIDATE_INT_H
#define ASSETD_GRAPHQL_VALIDATE_INT_H

#include <stdbool.h>
#include <stddef.h>

#include "graphql/validate.h"

/* A variable used somewhere, with the type of the position it is in. */
typedef struct var_use {
    const gql_value *var;
    const gql_tref *pos; /* NULL: any value goes (inside a GenericScalar literal) */
    bool pos_default;    /* the position has a default value */
    struct var_use *next;
} var_use;

typedef struct spread_ref {
    const char *name;
    gql_loc loc;
    struct spread_ref *next;
} spread_ref;

/* One operation or fragment definition. */
typedef struct def_info {
    const gql_definition *def;
    const gql_type *type; /* root type or type condition; NULL when unknown or not composite */
    var_use *uses;        /* in its own selections (not its fragments') */
    spread_ref *spreads;  /* fragments it spreads directly */
    int mark;             /* fragment cycle search: 0 new, 1 on the path, 2 done */
    unsigned seen;        /* the last operation walk that reached it */
    unsigned gathered;    /* the last field gathering that expanded it (overlap) */
    unsigned intro_walk;  /* the last introspection-depth walk that entered it ... */
    size_t intro_depth;   /* ... and at what depth */
    bool measured;        /* expanded and depth are known */
    size_t expanded;      /* fields with fragments expanded (saturating) */
    size_t depth;         /* selection-set depth through fragments */
} def_info;

typedef struct vctx {
    const gql_schema *s;
    const gql_document *doc;
    const gql_limits *lim;
    gql_arena *arena;
    gql_errors *errs;
    def_info *defs; /* one per definition, in document order */
    size_t ndefs;
    def_info **frags; /* the fragments sorted by name, the first of a name first */
    size_t nfrags;
    unsigned stamp; /* numbers the walks that mark definitions */
    def_info *cur;  /* the definition being walked */
    bool oom;
    bool cycles; /* a fragment spreads itself: expansion is skipped */
} vctx;

void v_error(vctx *c, const gql_loc *locs, size_t nlocs, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
void *v_alloc(vctx *c, size_t n);
/* The first fragment definition named name, or NULL (a binary search). */
def_info *v_fragment(vctx *c, const char *name);

/* validate_fields.c: resolves every fragment's type condition (Fragment
 * Spread Type Existence, Fragments On Composite Types); needed before any
 * definition is walked. */
void v_fragment_types(vctx *c);
/* validate_fields.c: walks d's selections with the rules on fields,
 * arguments, directives and fragment spreads; records d's variable uses
 * and spreads. */
void v_walk_definition(vctx *c, def_info *d);
/* Checks the directives at one location (also used for operations and
 * variable definitions). */
void v_check_directives(vctx *c, const gql_directive_node *dirs, gql_dir_loc loc);

/* validate_overlap.c: Field Selection Merging over every selection set. */
void v_check_overlaps(vctx *c);

#endif
