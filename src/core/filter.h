/*
 * filter.h — the registry's filter language (POST /query/search,
 * GraphQL searchAssets): the subset of MongoDB's query language a registry
 * user needs, with MongoDB's matching semantics.
 *
 * A filter document is parsed once into a tree of ad_filter nodes. The tree
 * is then either evaluated against a document in memory (ad_filter_match) or
 * walked by a store adapter that compiles it into its own query language
 * (the SQLite adapter narrows candidates with its path index; see
 * store/meta_sqlite.c). Adapters read the tree through the fields below,
 * which are therefore part of the interface.
 *
 * Filters are hostile input: their depth, node count, $in/$all list lengths
 * and regex sizes are bounded (AD_FILTER_MAX_*), and regex matching runs
 * with PCRE2 match and depth limits.
 */
#ifndef ASSETD_CORE_FILTER_H
#define ASSETD_CORE_FILTER_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "util/err.h"

#define AD_FILTER_MAX_DEPTH 32   /* nesting of operators/logical nodes */
#define AD_FILTER_MAX_NODES 1024 /* total nodes in one tree */
#define AD_FILTER_MAX_LIST  1000 /* elements of $in, $nin, $all, $and, $or, $nor */
#define AD_FILTER_MAX_REGEX 1024 /* bytes of a $regex pattern */
#define AD_FILTER_MAX_PATH  512  /* bytes of a dotted path */

typedef enum ad_fop {
    AD_FOP_TRUE,       /* matches every document (the empty filter {}) */
    AD_FOP_AND,        /* kids: all match (also a document with several fields) */
    AD_FOP_OR,         /* kids: at least one matches */
    AD_FOP_NOR,        /* kids: none matches */
    AD_FOP_NOT,        /* one kid (an AND of predicates on one path): it does not match */
    AD_FOP_EQ,         /* path, arg = value (implicit equality and $eq) */
    AD_FOP_NE,         /* path, arg = value; = NOT EQ (matches missing fields) */
    AD_FOP_GT,         /* path, arg = value; same type class only */
    AD_FOP_GTE,        /* path, arg = value */
    AD_FOP_LT,         /* path, arg = value */
    AD_FOP_LTE,        /* path, arg = value */
    AD_FOP_IN,         /* path, arg = array of values */
    AD_FOP_NIN,        /* path, arg = array of values; = NOT IN */
    AD_FOP_EXISTS,     /* path, arg = true or false */
    AD_FOP_REGEX,      /* path, arg = pattern string, regex_opts, re = compiled */
    AD_FOP_ALL,        /* path, arg = array of values, each must be present */
    AD_FOP_SIZE,       /* path, arg = non-negative integer: array length */
    AD_FOP_TYPE,       /* path, arg = array of canonical type names (strings) */
    AD_FOP_ELEM_MATCH, /* path, one kid evaluated against each array element
                          as if it were a document; inside it, path "" means
                          the element itself ({"$elemMatch": {"$gt": 5}}) */
} ad_fop;

typedef struct ad_filter {
    ad_fop op;
    char *path;              /* dotted path for field predicates; "" = the
                                value itself; NULL for TRUE/AND/OR/NOR/NOT */
    json_t *arg;             /* operand (owned reference), see ad_fop */
    char *regex_opts;        /* REGEX: the $options letters given ("" if none) */
    void *re;                /* REGEX: pcre2_code * (opaque to adapters) */
    struct ad_filter **kids; /* AND/OR/NOR/NOT/ELEM_MATCH children */
    size_t nkids;
} ad_filter;

/*
 * Parses a filter document. On success stores a new tree in *out (free with
 * ad_filter_free) and returns AD_OK. On failure returns AD_E_FILTER with a
 * message naming the path and the problem, e.g.
 * "unknown operator $where", "profiles.asset_type: $in needs an array".
 * `doc` must be a JSON object; the empty object parses to AD_FOP_TRUE.
 */
ad_code ad_filter_parse(const json_t *doc, ad_filter **out, ad_error *err);

/*
 * Evaluates the tree against a document: 1 when it matches, 0 when not,
 * -1 on an evaluation error (a regex over its match limit) with err set
 * to AD_E_FILTER.
 */
int ad_filter_match(const ad_filter *f, const json_t *doc, ad_error *err);

/* Whether the kid of an $elemMatch is its value form ({"$gt": 5}: every
 * predicate on path "", possibly under AND/NOT), matched against each
 * element itself, rather than its document form (predicates on the
 * elements' fields). Adapters compiling $elemMatch use the same rule. */
bool ad_filter_elem_value_form(const ad_filter *kid);

/* Frees a tree (NULL is fine). */
void ad_filter_free(ad_filter *f);

#endif
