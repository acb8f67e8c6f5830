/*
 * filter.c — the registry's filter language: parses a MongoDB-style query
 * document (a jansson object) into an ad_filter tree and evaluates the tree
 * against asset documents with MongoDB's matching semantics.
 *
 * Supported: implicit equality, $eq $ne $gt $gte $lt $lte $in $nin $exists
 * $regex/$options $all $size $type $elemMatch $not, and at the top level
 * $and $or $nor. Every other operator is rejected by name.
 *
 * Matching follows MongoDB's matcher (path traversal of src/mongo/db/matcher):
 *
 *  - A dotted path is looked up field by field. A scalar met before the last
 *    part makes the value "missing". An array met before the last part is
 *    traversed: the rest of the path is looked up in every element that is
 *    an object and, when the next part is an array index ("files.0.x"), in
 *    the element at that index as well (so a numeric part is both a field
 *    name of an object and an array index). Scalar elements are skipped.
 *  - A predicate is tested on every value the path yields. For most
 *    operators an array at the end of the path yields each of its elements
 *    and then the array itself (one level: {"a": [[1,2]]} yields [1,2] and
 *    [[1,2]], so {"a": [1,2]} matches and {"a": 1} does not). $size and
 *    $elemMatch see the array only. An array element selected by an index
 *    at the end of the path is yielded as it is.
 *  - "Missing" is a value of its own: {"x": null} and {"x": {"$in": [null]}}
 *    match null or missing, {"x": {"$gte": null}} and $lte likewise;
 *    $exists tests for presence. $ne, $nin and $exists:false are the
 *    negation of $eq, $in and $exists:true over the whole document, so they
 *    match documents without the field, and on arrays "$ne: v" means no
 *    element (and not the array itself) equals v.
 *  - Values compare in BSON order within a type class: numbers (integer and
 *    real compare exactly, also beyond 2^53), strings (bytes, then length),
 *    objects, arrays, booleans, null. $gt/$gte/$lt/$lte never match across
 *    classes. Object equality and order are field-order sensitive, as in
 *    MongoDB: {"a":1,"b":2} != {"b":2,"a":1} (jansson keeps insertion order).
 *  - $all is the AND of equalities ({"a": 1} matches {"$all": [1]}); an
 *    empty $all matches nothing. $in [] matches nothing, $nin [] everything.
 *  - $elemMatch comes in two forms. Value form, when its operand has an
 *    operator other than $and/$or/$nor ({"$elemMatch": {"$gt": 5}}): the
 *    predicates use path "" and test each element itself. Document form
 *    otherwise ({"$elemMatch": {"b": 1}}): the operand is a filter document
 *    evaluated with each element that is an object (or array) as the
 *    document.
 *  - $regex uses PCRE2 (UTF mode) with match, depth and heap limits; a
 *    subject over a limit makes ad_filter_match fail ("regex too complex")
 *    rather than run away. Only strings match.
 *
 * Deliberate deviations: $type knows only the JSON-representable types
 * (double string object array bool null int long number, codes 1 2 3 4 8 10
 * 16 18); $exists takes a boolean or a number; $in/$nin/$all elements may
 * not be operator objects ({"$elemMatch": ...} inside $all is rejected);
 * path parts may not start with '$'; $comment and every other operator are
 * unknown.
 *
 * A compiled tree is immutable: ad_filter_match only reads it and allocates
 * its PCRE2 match context and match data per call, so different trees (or
 * one tree, one thread at a time) may be evaluated concurrently.
 */
#define PCRE2_CODE_UNIT_WIDTH 8

#include "core/filter.h"

#include <pcre2.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REGEX_MATCH_LIMIT    100000u /* pcre2_match steps */
#define REGEX_DEPTH_LIMIT    10000u  /* nested backtracking frames */
#define REGEX_HEAP_LIMIT_KIB 16384u  /* backtracking memory */
#define MSG_PATH_MAX         200     /* bytes of a path quoted in a message */

/* ------------------------------------------------------------------------ */
/* Value order (BSON's within the JSON types)                               */
/* ------------------------------------------------------------------------ */

enum type_class { TC_NULL = 1, TC_NUMBER, TC_STRING, TC_OBJECT, TC_ARRAY, TC_BOOL };

static int type_class(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_NULL:
        return TC_NULL;
    case JSON_INTEGER:
    case JSON_REAL:
        return TC_NUMBER;
    case JSON_STRING:
        return TC_STRING;
    case JSON_OBJECT:
        return TC_OBJECT;
    case JSON_ARRAY:
        return TC_ARRAY;
    case JSON_TRUE:
    case JSON_FALSE:
        return TC_BOOL;
    }
    return 0;
}

static int cmp_values(const json_t *a, const json_t *b);

/* Compares an integer with a real exactly (no rounding of large integers). */
static int cmp_int_real(json_int_t i, double d)
{
    const double two63 = 9223372036854775808.0;
    if (d != d) return 1; /* NaN sorts below every number */
    if (d >= two63) return -1;
    if (d < -two63) return 1;
    json_int_t t = (json_int_t)d; /* exact: |d| < 2^63, truncated toward 0 */
    if (i != t) return i < t ? -1 : 1;
    if (d > (double)t) return -1;
    if (d < (double)t) return 1;
    return 0;
}

static int cmp_numbers(const json_t *a, const json_t *b)
{
    if (json_is_integer(a) && json_is_integer(b)) {
        json_int_t x = json_integer_value(a), y = json_integer_value(b);
        return (x > y) - (x < y);
    }
    if (json_is_integer(a)) return cmp_int_real(json_integer_value(a), json_real_value(b));
    if (json_is_integer(b)) return -cmp_int_real(json_integer_value(b), json_real_value(a));
    double x = json_real_value(a), y = json_real_value(b);
    return (x > y) - (x < y);
}

static int cmp_bytes(const char *a, size_t alen, const char *b, size_t blen)
{
    int c = memcmp(a, b, alen < blen ? alen : blen);
    if (c) return c < 0 ? -1 : 1;
    return (alen > blen) - (alen < blen);
}

static int cmp_strings(const json_t *a, const json_t *b)
{
    return cmp_bytes(json_string_value(a), json_string_length(a), json_string_value(b),
                     json_string_length(b));
}

/* Field by field in order: value type class, then name, then value. */
static int cmp_objects(const json_t *a, const json_t *b)
{
    void *ia = json_object_iter((json_t *)a);
    void *ib = json_object_iter((json_t *)b);
    while (ia && ib) {
        const json_t *va = json_object_iter_value(ia);
        const json_t *vb = json_object_iter_value(ib);
        int c = type_class(va) - type_class(vb);
        if (!c)
            c = cmp_bytes(json_object_iter_key(ia), json_object_iter_key_len(ia),
                          json_object_iter_key(ib), json_object_iter_key_len(ib));
        if (!c) c = cmp_values(va, vb);
        if (c) return c;
        ia = json_object_iter_next((json_t *)a, ia);
        ib = json_object_iter_next((json_t *)b, ib);
    }
    return (ia != NULL) - (ib != NULL);
}

static int cmp_arrays(const json_t *a, const json_t *b)
{
    size_t na = json_array_size(a), nb = json_array_size(b);
    for (size_t i = 0; i < na && i < nb; i++) {
        int c = cmp_values(json_array_get(a, i), json_array_get(b, i));
        if (c) return c;
    }
    return (na > nb) - (na < nb);
}

/* Total order: type class first, then the value within its class. */
static int cmp_values(const json_t *a, const json_t *b)
{
    int ca = type_class(a), cb = type_class(b);
    if (ca != cb) return ca < cb ? -1 : 1;
    switch (ca) {
    case TC_NUMBER:
        return cmp_numbers(a, b);
    case TC_STRING:
        return cmp_strings(a, b);
    case TC_OBJECT:
        return cmp_objects(a, b);
    case TC_ARRAY:
        return cmp_arrays(a, b);
    case TC_BOOL:
        return json_is_true(a) - json_is_true(b);
    default:
        return 0;
    }
}

static bool values_equal(const json_t *a, const json_t *b)
{
    return cmp_values(a, b) == 0;
}

/* ------------------------------------------------------------------------ */
/* Parsing: helpers                                                         */
/* ------------------------------------------------------------------------ */

typedef struct parser {
    ad_error *err;
    size_t nodes;   /* nodes allocated so far (AD_FILTER_MAX_NODES) */
    bool limit_hit; /* the error is a limit: do not prefix it */
} parser;

__attribute__((format(printf, 3, 0))) static ad_code vfail_at(parser *p, const char *path,
                                                              const char *fmt, va_list ap)
{
    char msg[AD_ERROR_MSG_MAX];
    vsnprintf(msg, sizeof(msg), fmt, ap);
    if (path && *path) return ad_fail(p->err, AD_E_FILTER, "%.*s: %s", MSG_PATH_MAX, path, msg);
    return ad_fail(p->err, AD_E_FILTER, "%s", msg);
}

/* Fails with AD_E_FILTER, "path: message" (or "message" for path ""). */
__attribute__((format(printf, 3, 4))) static ad_code fail_at(parser *p, const char *path,
                                                             const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ad_code rc = vfail_at(p, path, fmt, ap);
    va_end(ap);
    return rc;
}

/* Like fail_at, for a hostile-input limit. */
__attribute__((format(printf, 3, 4))) static ad_code fail_limit(parser *p, const char *path,
                                                                const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ad_code rc = vfail_at(p, path, fmt, ap);
    va_end(ap);
    p->limit_hit = true;
    return rc;
}

static ad_code fail_nomem(parser *p)
{
    return ad_fail(p->err, AD_E_NOMEM, "out of memory parsing the filter");
}

/* Adds "prefix" in front of a nested error, unless it would push out its end. */
static void prefix_error(parser *p, const char *prefix)
{
    if (!p->err || p->limit_hit || p->err->code == AD_E_NOMEM) return;
    if (strlen(p->err->msg) + strlen(prefix) >= AD_ERROR_MSG_MAX) return;
    ad_error_prefix(p->err, prefix);
}

static ad_code node_new(parser *p, ad_fop op, int depth, ad_filter **out)
{
    *out = NULL;
    if (depth > AD_FILTER_MAX_DEPTH)
        return fail_limit(p, NULL, "filter is nested more than %d levels deep (limit)",
                          AD_FILTER_MAX_DEPTH);
    if (p->nodes >= AD_FILTER_MAX_NODES)
        return fail_limit(p, NULL, "filter has more than %d nodes (limit)", AD_FILTER_MAX_NODES);
    ad_filter *f = calloc(1, sizeof(*f));
    if (!f) return fail_nomem(p);
    f->op = op;
    p->nodes++;
    *out = f;
    return AD_OK;
}

static ad_code node_new_kids(parser *p, ad_fop op, int depth, size_t nkids, ad_filter **out)
{
    ad_code rc = node_new(p, op, depth, out);
    if (rc) return rc;
    (*out)->kids = calloc(nkids, sizeof(*(*out)->kids));
    if (!(*out)->kids) {
        ad_filter_free(*out);
        *out = NULL;
        return fail_nomem(p);
    }
    return AD_OK;
}

/* A predicate node: op on path with an owned operand (NULL = out of memory). */
static ad_code node_new_pred(parser *p, ad_fop op, const char *path, json_t *arg, int depth,
                             ad_filter **out)
{
    ad_filter *f;
    ad_code rc = node_new(p, op, depth, &f);
    if (rc) {
        json_decref(arg);
        return rc;
    }
    f->arg = arg;
    f->path = strdup(path);
    if (!f->arg || !f->path) {
        ad_filter_free(f);
        return fail_nomem(p);
    }
    *out = f;
    return AD_OK;
}

static bool has_nul(const char *s, size_t len)
{
    return strlen(s) != len;
}

static bool is_dollar_key(const char *key)
{
    return key[0] == '$';
}

static size_t count_dollar_keys(const json_t *obj)
{
    const char *key;
    const json_t *v;
    size_t n = 0;
    json_object_foreach((json_t *)obj, key, v) n += is_dollar_key(key);
    return n;
}

/* Checks a dotted field path: length, no NUL, no empty part, no '$' part. */
static ad_code check_path(parser *p, const char *path, size_t len)
{
    if (len > AD_FILTER_MAX_PATH)
        return fail_limit(p, NULL, "path \"%.40s...\" is longer than %d bytes (limit)", path,
                          AD_FILTER_MAX_PATH);
    if (has_nul(path, len)) return fail_at(p, NULL, "field name contains a NUL byte");
    size_t start = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i < len && path[i] != '.') continue;
        if (i == start) return fail_at(p, path, "empty part in path");
        if (path[start] == '$') return fail_at(p, path, "path parts must not start with '$'");
        start = i + 1;
    }
    return AD_OK;
}

/* ------------------------------------------------------------------------ */
/* Parsing: field operators                                                 */
/* ------------------------------------------------------------------------ */

static ad_code parse_doc(parser *p, const json_t *doc, int depth, ad_filter **out);
static ad_code parse_ops(parser *p, const char *path, const json_t *obj, int depth,
                         ad_filter **out);

/* One operator of a field expression: {path: {name: val, ...}}. */
typedef struct op_ctx {
    parser *p;
    const char *path;
    const char *name;      /* "$gt" */
    ad_fop op;             /* what it parses to */
    const json_t *val;     /* its operand */
    const json_t *options; /* $regex: the sibling $options, or NULL */
    int depth;
} op_ctx;

typedef ad_code (*op_parser)(const op_ctx *c, ad_filter **out);

static ad_code op_fail(const op_ctx *c, const char *what)
{
    return fail_at(c->p, c->path, "%s %s", c->name, what);
}

/* $eq $ne $gt $gte $lt $lte: any value. */
static ad_code parse_value_op(const op_ctx *c, ad_filter **out)
{
    return node_new_pred(c->p, c->op, c->path, json_deep_copy(c->val), c->depth, out);
}

static bool is_operator_object(const json_t *v)
{
    return json_is_object(v) && count_dollar_keys(v) > 0;
}

/* $in $nin $all: an array of at most AD_FILTER_MAX_LIST values. */
static ad_code parse_list_op(const op_ctx *c, ad_filter **out)
{
    if (!json_is_array(c->val)) return op_fail(c, "needs an array");
    size_t n = json_array_size(c->val);
    if (n > AD_FILTER_MAX_LIST)
        return fail_limit(c->p, c->path, "%s has more than %d elements (limit)", c->name,
                          AD_FILTER_MAX_LIST);
    for (size_t i = 0; i < n; i++) {
        if (is_operator_object(json_array_get(c->val, i)))
            return fail_at(c->p, c->path,
                           "%s: element %zu is an operator expression, "
                           "which is not supported here",
                           c->name, i);
    }
    return parse_value_op(c, out);
}

/* $exists: a boolean (or a number, non-zero = true); arg becomes a boolean. */
static ad_code parse_exists(const op_ctx *c, ad_filter **out)
{
    bool want;
    if (json_is_boolean(c->val))
        want = json_is_true(c->val);
    else if (json_is_number(c->val))
        want = json_number_value(c->val) != 0;
    else
        return op_fail(c, "needs a boolean");
    return node_new_pred(c->p, c->op, c->path, json_boolean(want), c->depth, out);
}

/* $size: a non-negative whole number; arg becomes an integer. */
static ad_code parse_size(const op_ctx *c, ad_filter **out)
{
    json_int_t n;
    if (json_is_integer(c->val)) {
        n = json_integer_value(c->val);
    } else if (json_is_real(c->val)) {
        double d = json_real_value(c->val);
        if (!(d >= 0 && d < 9007199254740992.0) || d != (double)(json_int_t)d)
            return op_fail(c, "needs a non-negative integer");
        n = (json_int_t)d;
    } else {
        return op_fail(c, "needs a non-negative integer");
    }
    if (n < 0) return op_fail(c, "needs a non-negative integer");
    return node_new_pred(c->p, c->op, c->path, json_integer(n), c->depth, out);
}

static const struct type_alias {
    const char *name;
    int code; /* 0: no numeric code */
} type_aliases[] = {
    {"double", 1}, {"string", 2}, {"object", 3}, {"array", 4},  {"bool", 8},
    {"null", 10},  {"int", 16},   {"long", 18},  {"number", 0},
};

#define N_TYPE_ALIASES (sizeof(type_aliases) / sizeof(type_aliases[0]))

/* The canonical name of one $type operand (alias or code), or NULL. */
static const char *type_canonical(const json_t *v)
{
    if (json_is_string(v)) {
        for (size_t i = 0; i < N_TYPE_ALIASES; i++)
            if (strcmp(json_string_value(v), type_aliases[i].name) == 0)
                return type_aliases[i].name;
        return NULL;
    }
    if (!json_is_number(v)) return NULL;
    double d = json_number_value(v);
    for (size_t i = 0; i < N_TYPE_ALIASES; i++)
        if (type_aliases[i].code && d == type_aliases[i].code) return type_aliases[i].name;
    return NULL;
}

static ad_code type_unknown(const op_ctx *c, const json_t *v)
{
    if (json_is_string(v))
        return fail_at(c->p, c->path, "$type: unknown type \"%.64s\"", json_string_value(v));
    if (json_is_number(v))
        return fail_at(c->p, c->path, "$type: unknown type code %g", json_number_value(v));
    return op_fail(c, "needs a type name, a type code or an array of them");
}

/* Appends the canonical name of v to names. */
static ad_code type_append(const op_ctx *c, json_t *names, const json_t *v)
{
    const char *name = type_canonical(v);
    if (!name) return type_unknown(c, v);
    if (json_array_append_new(names, json_string(name))) return fail_nomem(c->p);
    return AD_OK;
}

/* $type: an alias, a code, or an array of them; arg = canonical names. */
static ad_code parse_type(const op_ctx *c, ad_filter **out)
{
    json_t *names = json_array();
    if (!names) return fail_nomem(c->p);
    ad_code rc = AD_OK;
    if (json_is_array(c->val)) {
        if (json_array_size(c->val) > AD_FILTER_MAX_LIST) {
            json_decref(names);
            return fail_limit(c->p, c->path, "$type has more than %d elements (limit)",
                              AD_FILTER_MAX_LIST);
        }
        for (size_t i = 0; !rc && i < json_array_size(c->val); i++)
            rc = type_append(c, names, json_array_get(c->val, i));
    } else {
        rc = type_append(c, names, c->val);
    }
    if (rc) {
        json_decref(names);
        return rc;
    }
    return node_new_pred(c->p, c->op, c->path, names, c->depth, out);
}

/* $options letters to PCRE2 flags; NULL options = none. */
static ad_code regex_flags(const op_ctx *c, const char **letters, uint32_t *flags)
{
    *letters = "";
    *flags = PCRE2_UTF | PCRE2_NEVER_BACKSLASH_C;
    if (!c->options) return AD_OK;
    if (!json_is_string(c->options)) return fail_at(c->p, c->path, "$options needs a string");
    *letters = json_string_value(c->options);
    if (has_nul(*letters, json_string_length(c->options)))
        return fail_at(c->p, c->path, "$options: unknown option '\\0'");
    for (const char *o = *letters; *o; o++) {
        switch (*o) {
        case 'i':
            *flags |= PCRE2_CASELESS;
            break;
        case 'm':
            *flags |= PCRE2_MULTILINE;
            break;
        case 's':
            *flags |= PCRE2_DOTALL;
            break;
        case 'x':
            *flags |= PCRE2_EXTENDED;
            break;
        default:
            return fail_at(c->p, c->path, "$options: unknown option '%c' (allowed: imsx)", *o);
        }
    }
    return AD_OK;
}

static ad_code regex_compile(const op_ctx *c, uint32_t flags, pcre2_code **re)
{
    int errcode;
    PCRE2_SIZE erroff;
    *re = pcre2_compile((PCRE2_SPTR)json_string_value(c->val), json_string_length(c->val), flags,
                        &errcode, &erroff, NULL);
    if (*re) return AD_OK;
    if (errcode == PCRE2_ERROR_NOMEMORY) return fail_nomem(c->p);
    PCRE2_UCHAR buf[128];
    if (pcre2_get_error_message(errcode, buf, sizeof(buf)) < 0) buf[0] = '\0';
    return fail_at(c->p, c->path, "$regex: invalid pattern at offset %zu: %s", (size_t)erroff,
                   (const char *)buf);
}

/* $regex (with its sibling $options): a string of at most AD_FILTER_MAX_REGEX bytes. */
static ad_code parse_regex(const op_ctx *c, ad_filter **out)
{
    if (!json_is_string(c->val)) return op_fail(c, "needs a string");
    size_t len = json_string_length(c->val);
    if (len > AD_FILTER_MAX_REGEX)
        return fail_limit(c->p, c->path, "$regex pattern is longer than %d bytes (limit)",
                          AD_FILTER_MAX_REGEX);
    if (has_nul(json_string_value(c->val), len)) return op_fail(c, "must not contain a NUL byte");
    const char *letters;
    uint32_t flags;
    pcre2_code *re = NULL;
    ad_code rc = regex_flags(c, &letters, &flags);
    if (!rc) rc = regex_compile(c, flags, &re);
    if (rc) return rc;
    ad_filter *f;
    rc = node_new_pred(c->p, c->op, c->path, json_deep_copy(c->val), c->depth, &f);
    if (rc) {
        pcre2_code_free(re);
        return rc;
    }
    f->re = re;
    f->regex_opts = strdup(letters);
    if (!f->regex_opts) {
        ad_filter_free(f);
        return fail_nomem(c->p);
    }
    *out = f;
    return AD_OK;
}

static bool is_logical_key(const char *key)
{
    return !strcmp(key, "$and") || !strcmp(key, "$or") || !strcmp(key, "$nor");
}

/* Value form: some key is an operator other than $and/$or/$nor. */
static bool elem_match_is_value_form(const json_t *obj)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        if (is_dollar_key(key) && !is_logical_key(key)) return true;
    }
    return false;
}

/* $elemMatch: ELEM_MATCH with one kid, predicates on "" (value form) or a document. */
static ad_code parse_elem_match(const op_ctx *c, ad_filter **out)
{
    if (!json_is_object(c->val)) return op_fail(c, "needs an object");
    bool value_form = elem_match_is_value_form(c->val);
    if (value_form && count_dollar_keys(c->val) != json_object_size(c->val))
        return fail_at(c->p, c->path, "$elemMatch: cannot mix operators and field names");
    ad_filter *f;
    ad_code rc = node_new_kids(c->p, c->op, c->depth, 1, &f);
    if (rc) return rc;
    f->path = strdup(c->path);
    if (!f->path) {
        ad_filter_free(f);
        return fail_nomem(c->p);
    }
    if (value_form)
        rc = parse_ops(c->p, "", c->val, c->depth + 1, &f->kids[0]);
    else
        rc = parse_doc(c->p, c->val, c->depth + 1, &f->kids[0]);
    if (rc) {
        char prefix[MSG_PATH_MAX + 32];
        snprintf(prefix, sizeof(prefix), "%.*s%s$elemMatch: ", MSG_PATH_MAX, c->path,
                 *c->path ? ": " : "");
        prefix_error(c->p, prefix);
        ad_filter_free(f);
        return rc;
    }
    f->nkids = 1;
    *out = f;
    return AD_OK;
}

/* $not: NOT with one kid, the operator object on the same path. */
static ad_code parse_not(const op_ctx *c, ad_filter **out)
{
    if (!json_is_object(c->val) || json_object_size(c->val) == 0 ||
        count_dollar_keys(c->val) != json_object_size(c->val))
        return op_fail(c, "needs an operator object such as {\"$gt\": 5} or {\"$regex\": \"x\"}");
    ad_filter *f;
    ad_code rc = node_new_kids(c->p, c->op, c->depth, 1, &f);
    if (rc) return rc;
    rc = parse_ops(c->p, c->path, c->val, c->depth + 1, &f->kids[0]);
    if (rc) {
        ad_filter_free(f);
        return rc;
    }
    f->nkids = 1;
    *out = f;
    return AD_OK;
}

static const struct field_op {
    const char *name;
    ad_fop op;
    op_parser parse;
} field_ops[] = {
    {"$eq", AD_FOP_EQ, parse_value_op},    {"$ne", AD_FOP_NE, parse_value_op},
    {"$gt", AD_FOP_GT, parse_value_op},    {"$gte", AD_FOP_GTE, parse_value_op},
    {"$lt", AD_FOP_LT, parse_value_op},    {"$lte", AD_FOP_LTE, parse_value_op},
    {"$in", AD_FOP_IN, parse_list_op},     {"$nin", AD_FOP_NIN, parse_list_op},
    {"$all", AD_FOP_ALL, parse_list_op},   {"$exists", AD_FOP_EXISTS, parse_exists},
    {"$regex", AD_FOP_REGEX, parse_regex}, {"$size", AD_FOP_SIZE, parse_size},
    {"$type", AD_FOP_TYPE, parse_type},    {"$elemMatch", AD_FOP_ELEM_MATCH, parse_elem_match},
    {"$not", AD_FOP_NOT, parse_not},
};

#define N_FIELD_OPS (sizeof(field_ops) / sizeof(field_ops[0]))

static const struct field_op *field_op_find(const char *name)
{
    for (size_t i = 0; i < N_FIELD_OPS; i++)
        if (strcmp(name, field_ops[i].name) == 0) return &field_ops[i];
    return NULL;
}

/* One operator of an operator object. */
static ad_code parse_op(parser *p, const char *path, const char *name, const json_t *val,
                        const json_t *options, int depth, ad_filter **out)
{
    const struct field_op *fo = field_op_find(name);
    if (!fo) return fail_at(p, path, "unknown operator %.64s", name);
    op_ctx c = {p, path, fo->name, fo->op, val, options, depth};
    return fo->parse(&c, out);
}

/* An operator object {"$op": v, ...} on path: one node, or AND of several. */
static ad_code parse_ops(parser *p, const char *path, const json_t *obj, int depth, ad_filter **out)
{
    const json_t *options = json_object_get(obj, "$options");
    if (options && !json_object_get(obj, "$regex"))
        return fail_at(p, path, "$options needs $regex");
    size_t n = json_object_size(obj) - (options ? 1 : 0);
    ad_filter *conj = NULL;
    int kid_depth = depth;
    if (n > 1) {
        ad_code rc = node_new_kids(p, AD_FOP_AND, depth, n, &conj);
        if (rc) return rc;
        kid_depth = depth + 1;
    }
    const char *key;
    const json_t *val;
    json_object_foreach((json_t *)obj, key, val)
    {
        if (has_nul(key, json_object_iter_key_len(json_object_key_to_iter(key)))) {
            ad_filter_free(conj);
            return fail_at(p, path, "operator name contains a NUL byte");
        }
        if (strcmp(key, "$options") == 0) continue;
        ad_filter *kid;
        ad_code rc = parse_op(p, path, key, val, options, kid_depth, &kid);
        if (rc) {
            ad_filter_free(conj);
            return rc;
        }
        if (!conj) {
            *out = kid;
            return AD_OK;
        }
        conj->kids[conj->nkids++] = kid;
    }
    *out = conj;
    return AD_OK;
}

/* {path: value}: an operator object, or equality with the value. */
static ad_code parse_field(parser *p, const char *path, const json_t *val, int depth,
                           ad_filter **out)
{
    if (json_is_object(val)) {
        size_t nops = count_dollar_keys(val);
        if (nops > 0 && nops != json_object_size(val))
            return fail_at(p, path, "cannot mix operators and field names in one expression");
        if (nops > 0) return parse_ops(p, path, val, depth, out);
    }
    return node_new_pred(p, AD_FOP_EQ, path, json_deep_copy(val), depth, out);
}

/* ------------------------------------------------------------------------ */
/* Parsing: documents and logical operators                                 */
/* ------------------------------------------------------------------------ */

/* $and $or $nor: a non-empty array of filter documents. */
static ad_code parse_logical(parser *p, ad_fop op, const char *name, const json_t *val, int depth,
                             ad_filter **out)
{
    if (!json_is_array(val) || json_array_size(val) == 0)
        return fail_at(p, NULL, "%s needs a non-empty array of filter objects", name);
    size_t n = json_array_size(val);
    if (n > AD_FILTER_MAX_LIST)
        return fail_limit(p, NULL, "%s has more than %d elements (limit)", name,
                          AD_FILTER_MAX_LIST);
    ad_filter *f;
    ad_code rc = node_new_kids(p, op, depth, n, &f);
    if (rc) return rc;
    for (size_t i = 0; i < n; i++) {
        const json_t *doc = json_array_get(val, i);
        if (!json_is_object(doc))
            rc = fail_at(p, NULL, "%s[%zu] must be a JSON object", name, i);
        else
            rc = parse_doc(p, doc, depth + 1, &f->kids[i]);
        if (rc) {
            char prefix[32];
            snprintf(prefix, sizeof(prefix), "%s[%zu]: ", name, i);
            if (json_is_object(doc)) prefix_error(p, prefix);
            ad_filter_free(f);
            return rc;
        }
        f->nkids++;
    }
    *out = f;
    return AD_OK;
}

static bool is_field_operator(const char *name)
{
    return field_op_find(name) != NULL || strcmp(name, "$options") == 0;
}

/* A '$' key of a filter document. */
static ad_code parse_top_operator(parser *p, const char *name, const json_t *val, int depth,
                                  ad_filter **out)
{
    if (strcmp(name, "$and") == 0) return parse_logical(p, AD_FOP_AND, name, val, depth, out);
    if (strcmp(name, "$or") == 0) return parse_logical(p, AD_FOP_OR, name, val, depth, out);
    if (strcmp(name, "$nor") == 0) return parse_logical(p, AD_FOP_NOR, name, val, depth, out);
    if (is_field_operator(name))
        return fail_at(p, NULL,
                       "unknown operator %s at the top level (use it inside a field: "
                       "{\"field\": {\"%s\": ...}})",
                       name, name);
    return fail_at(p, NULL, "unknown operator %.64s", name);
}

/* One key of a filter document: a top-level operator or a field path. */
static ad_code parse_entry(parser *p, const char *key, size_t keylen, const json_t *val, int depth,
                           ad_filter **out)
{
    if (is_dollar_key(key) && !has_nul(key, keylen))
        return parse_top_operator(p, key, val, depth, out);
    ad_code rc = check_path(p, key, keylen);
    if (rc) return rc;
    return parse_field(p, key, val, depth, out);
}

/* A filter document: TRUE ({}), its one entry, or AND of its entries. */
static ad_code parse_doc(parser *p, const json_t *doc, int depth, ad_filter **out)
{
    size_t n = json_object_size(doc);
    if (n == 0) return node_new(p, AD_FOP_TRUE, depth, out);
    ad_filter *conj = NULL;
    int kid_depth = depth;
    if (n > 1) {
        ad_code rc = node_new_kids(p, AD_FOP_AND, depth, n, &conj);
        if (rc) return rc;
        kid_depth = depth + 1;
    }
    const char *key;
    size_t keylen;
    const json_t *val;
    json_object_keylen_foreach((json_t *)doc, key, keylen, val)
    {
        ad_filter *kid;
        ad_code rc = parse_entry(p, key, keylen, val, kid_depth, &kid);
        if (rc) {
            ad_filter_free(conj);
            return rc;
        }
        if (!conj) {
            *out = kid;
            return AD_OK;
        }
        conj->kids[conj->nkids++] = kid;
    }
    *out = conj;
    return AD_OK;
}

ad_code ad_filter_parse(const json_t *doc, ad_filter **out, ad_error *err)
{
    *out = NULL;
    if (!json_is_object(doc)) return ad_fail(err, AD_E_FILTER, "filter must be a JSON object");
    parser p = {.err = err};
    return parse_doc(&p, doc, 1, out);
}

void ad_filter_free(ad_filter *f)
{
    if (!f) return;
    for (size_t i = 0; i < f->nkids; i++) ad_filter_free(f->kids[i]);
    free(f->kids);
    free(f->path);
    json_decref(f->arg);
    free(f->regex_opts);
    pcre2_code_free(f->re);
    free(f);
}

/* ------------------------------------------------------------------------ */
/* Evaluation                                                               */
/* ------------------------------------------------------------------------ */

typedef struct evaluator {
    ad_error *err;
    pcre2_match_context *mctx; /* created by the first regex test of a call */
} evaluator;

/* One predicate test applied to the values a path yields. */
typedef struct probe {
    evaluator *ev;
    const ad_filter *f;
    ad_fop op;          /* the positive test: EQ for NE and ALL, IN for NIN */
    const json_t *arg;  /* its operand (ALL: one element at a time) */
    bool traverse_leaf; /* an array at the end of the path yields its elements */
} probe;

static int eval_node(evaluator *ev, const ad_filter *f, const json_t *doc);

static pcre2_match_context *match_context(evaluator *ev)
{
    if (ev->mctx) return ev->mctx;
    ev->mctx = pcre2_match_context_create(NULL);
    if (!ev->mctx) return NULL;
    pcre2_set_match_limit(ev->mctx, REGEX_MATCH_LIMIT);
    pcre2_set_depth_limit(ev->mctx, REGEX_DEPTH_LIMIT);
    pcre2_set_heap_limit(ev->mctx, REGEX_HEAP_LIMIT_KIB);
    return ev->mctx;
}

static int regex_error(evaluator *ev, const ad_filter *f, int rc)
{
    const char *path = *f->path ? f->path : "$elemMatch";
    if (rc == PCRE2_ERROR_MATCHLIMIT || rc == PCRE2_ERROR_DEPTHLIMIT ||
        rc == PCRE2_ERROR_HEAPLIMIT) {
        ad_fail(ev->err, AD_E_FILTER, "%.*s: regex too complex (over the match limit)",
                MSG_PATH_MAX, path);
        return -1;
    }
    if (rc <= PCRE2_ERROR_UTF8_ERR1 && rc >= PCRE2_ERROR_UTF8_ERR21) return 0; /* not UTF-8 */
    if (rc == PCRE2_ERROR_NOMEMORY) {
        ad_fail(ev->err, AD_E_NOMEM, "out of memory matching a regex");
        return -1;
    }
    PCRE2_UCHAR buf[128];
    if (pcre2_get_error_message(rc, buf, sizeof(buf)) < 0) buf[0] = '\0';
    ad_fail(ev->err, AD_E_FILTER, "%.*s: regex match failed: %s", MSG_PATH_MAX, path,
            (const char *)buf);
    return -1;
}

static int regex_test(evaluator *ev, const ad_filter *f, const json_t *s)
{
    pcre2_match_context *mctx = match_context(ev);
    pcre2_match_data *md = mctx ? pcre2_match_data_create(1, NULL) : NULL;
    if (!md) {
        ad_fail(ev->err, AD_E_NOMEM, "out of memory matching a regex");
        return -1;
    }
    int rc =
        pcre2_match(f->re, (PCRE2_SPTR)json_string_value(s), json_string_length(s), 0, 0, md, mctx);
    pcre2_match_data_free(md);
    if (rc >= 0) return 1;
    if (rc == PCRE2_ERROR_NOMATCH) return 0;
    return regex_error(ev, f, rc);
}

/* The canonical $type name of a value. */
static const char *value_type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_REAL:
        return "double";
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        return (i >= INT32_MIN && i <= INT32_MAX) ? "int" : "long";
    }
    case JSON_STRING:
        return "string";
    case JSON_OBJECT:
        return "object";
    case JSON_ARRAY:
        return "array";
    case JSON_TRUE:
    case JSON_FALSE:
        return "bool";
    case JSON_NULL:
        return "null";
    }
    return "";
}

static bool type_matches(const json_t *v, const json_t *names)
{
    const char *have = value_type_name(v);
    for (size_t i = 0; i < json_array_size(names); i++) {
        const char *want = json_string_value(json_array_get(names, i));
        if (strcmp(want, have) == 0) return true;
        if (strcmp(want, "number") == 0 && json_is_number(v)) return true;
    }
    return false;
}

static bool eq_matches(const json_t *v, const json_t *arg)
{
    return v ? values_equal(v, arg) : json_is_null(arg);
}

static bool in_matches(const json_t *v, const json_t *list)
{
    for (size_t i = 0; i < json_array_size(list); i++)
        if (eq_matches(v, json_array_get(list, i))) return true;
    return false;
}

/* $gt $gte $lt $lte: same type class only; $gte/$lte null also match missing. */
static bool compare_matches(ad_fop op, const json_t *v, const json_t *arg)
{
    if (!v) return json_is_null(arg) && (op == AD_FOP_GTE || op == AD_FOP_LTE);
    if (type_class(v) != type_class(arg)) return false;
    int c = cmp_values(v, arg);
    switch (op) {
    case AD_FOP_GT:
        return c > 0;
    case AD_FOP_GTE:
        return c >= 0;
    case AD_FOP_LT:
        return c < 0;
    case AD_FOP_LTE:
        return c <= 0;
    default:
        return false;
    }
}

bool ad_filter_elem_value_form(const ad_filter *kid)
{
    switch (kid->op) {
    case AD_FOP_AND:
    case AD_FOP_NOT:
        return kid->nkids > 0 && ad_filter_elem_value_form(kid->kids[0]);
    case AD_FOP_TRUE:
    case AD_FOP_OR:
    case AD_FOP_NOR:
        return false;
    default:
        return kid->path && kid->path[0] == '\0';
    }
}

static int elem_match(evaluator *ev, const ad_filter *f, const json_t *arr)
{
    const ad_filter *kid = f->kids[0];
    bool value_form = ad_filter_elem_value_form(kid);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *e = json_array_get(arr, i);
        if (!value_form && !json_is_object(e) && !json_is_array(e)) continue;
        int r = eval_node(ev, kid, e);
        if (r) return r;
    }
    return 0;
}

/* The positive test on one yielded value (NULL = missing): 1, 0 or -1. */
static int test_value(const probe *pr, const json_t *v)
{
    switch (pr->op) {
    case AD_FOP_EQ:
        return eq_matches(v, pr->arg);
    case AD_FOP_GT:
    case AD_FOP_GTE:
    case AD_FOP_LT:
    case AD_FOP_LTE:
        return compare_matches(pr->op, v, pr->arg);
    case AD_FOP_IN:
        return in_matches(v, pr->arg);
    case AD_FOP_EXISTS:
        return v != NULL;
    case AD_FOP_REGEX:
        return json_is_string(v) ? regex_test(pr->ev, pr->f, v) : 0;
    case AD_FOP_SIZE:
        return json_is_array(v) && (json_int_t)json_array_size(v) == json_integer_value(pr->arg);
    case AD_FOP_TYPE:
        return v && type_matches(v, pr->arg);
    case AD_FOP_ELEM_MATCH:
        return json_is_array(v) ? elem_match(pr->ev, pr->f, v) : 0;
    default:
        return 0;
    }
}

/* An array index part: canonical decimal ("0", "12"; not "01"), below 10^9. */
static bool parse_index(const char *part, size_t len, size_t *idx)
{
    if (len == 0 || len > 9 || (len > 1 && part[0] == '0')) return false;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        if (part[i] < '0' || part[i] > '9') return false;
        n = n * 10 + (size_t)(part[i] - '0');
    }
    *idx = n;
    return true;
}

/* A field of an object; of an array (only as an $elemMatch document) by index. */
static const json_t *lookup_field(const json_t *c, const char *part, size_t len)
{
    size_t idx;
    if (json_is_object(c)) return json_object_getn(c, part, len);
    if (json_is_array(c) && parse_index(part, len, &idx)) return json_array_get(c, idx);
    return NULL;
}

static int walk_array(const probe *pr, const json_t *arr, const char *rest);
static int walk_doc(const probe *pr, const json_t *doc, const char *path);

/* An array at the end of the path: its elements, then itself. */
static int walk_leaf_array(const probe *pr, const json_t *arr)
{
    if (pr->traverse_leaf) {
        for (size_t i = 0; i < json_array_size(arr); i++) {
            int r = test_value(pr, json_array_get(arr, i));
            if (r) return r;
        }
    }
    return test_value(pr, arr);
}

/* The rest of a path inside an array: object elements, and the element at an index. */
static int walk_array(const probe *pr, const json_t *arr, const char *rest)
{
    size_t len = strcspn(rest, ".");
    const char *after = rest[len] ? rest + len + 1 : NULL;
    size_t idx = 0;
    bool has_idx = parse_index(rest, len, &idx);
    for (size_t i = 0; i < json_array_size(arr); i++) {
        const json_t *e = json_array_get(arr, i);
        bool at = has_idx && i == idx;
        int r = 0;
        if (json_is_object(e)) {
            r = walk_doc(pr, e, rest);
            if (!r && at) r = after ? walk_doc(pr, e, after) : test_value(pr, e);
        } else if (at) {
            if (!after)
                r = test_value(pr, e);
            else if (json_is_array(e))
                r = walk_array(pr, e, after);
        }
        if (r) return r;
    }
    return 0;
}

/* Looks path up in doc and tests every value it yields; 1 as soon as one matches. */
static int walk_doc(const probe *pr, const json_t *doc, const char *path)
{
    const json_t *cur = doc;
    const char *part = path;
    for (;;) {
        size_t len = strcspn(part, ".");
        const char *rest = part[len] ? part + len + 1 : NULL;
        const json_t *v = lookup_field(cur, part, len);
        if (!v) return test_value(pr, NULL);
        if (!rest) return json_is_array(v) ? walk_leaf_array(pr, v) : test_value(pr, v);
        if (json_is_array(v)) return walk_array(pr, v, rest);
        if (!json_is_object(v)) return test_value(pr, NULL);
        cur = v;
        part = rest;
    }
}

/* Path "" tests the value itself (inside $elemMatch); otherwise walk the path. */
static int any_value(const probe *pr, const json_t *doc)
{
    if (pr->f->path[0] == '\0') return test_value(pr, doc);
    return walk_doc(pr, doc, pr->f->path);
}

static int eval_all(probe *pr, const json_t *doc)
{
    size_t n = json_array_size(pr->f->arg);
    if (n == 0) return 0;
    for (size_t i = 0; i < n; i++) {
        pr->arg = json_array_get(pr->f->arg, i);
        int r = any_value(pr, doc);
        if (r != 1) return r;
    }
    return 1;
}

static ad_fop positive_op(ad_fop op)
{
    if (op == AD_FOP_NE || op == AD_FOP_ALL) return AD_FOP_EQ;
    if (op == AD_FOP_NIN) return AD_FOP_IN;
    return op;
}

static bool is_negated(const ad_filter *f)
{
    return f->op == AD_FOP_NE || f->op == AD_FOP_NIN ||
           (f->op == AD_FOP_EXISTS && json_is_false(f->arg));
}

static int eval_predicate(evaluator *ev, const ad_filter *f, const json_t *doc)
{
    probe pr = {ev, f, positive_op(f->op), f->arg,
                f->op != AD_FOP_SIZE && f->op != AD_FOP_ELEM_MATCH};
    if (f->op == AD_FOP_ALL) return eval_all(&pr, doc);
    int r = any_value(&pr, doc);
    if (r < 0 || !is_negated(f)) return r;
    return !r;
}

/* OR of the kids: 1 if one matches, -1 on the first error. */
static int eval_any_kid(evaluator *ev, const ad_filter *f, const json_t *doc)
{
    for (size_t i = 0; i < f->nkids; i++) {
        int r = eval_node(ev, f->kids[i], doc);
        if (r) return r;
    }
    return 0;
}

static int eval_all_kids(evaluator *ev, const ad_filter *f, const json_t *doc)
{
    for (size_t i = 0; i < f->nkids; i++) {
        int r = eval_node(ev, f->kids[i], doc);
        if (r != 1) return r;
    }
    return 1;
}

static int negate(int r)
{
    return r < 0 ? r : !r;
}

static int eval_node(evaluator *ev, const ad_filter *f, const json_t *doc)
{
    switch (f->op) {
    case AD_FOP_TRUE:
        return 1;
    case AD_FOP_AND:
        return eval_all_kids(ev, f, doc);
    case AD_FOP_OR:
        return eval_any_kid(ev, f, doc);
    case AD_FOP_NOR:
        return negate(eval_any_kid(ev, f, doc));
    case AD_FOP_NOT:
        return negate(eval_any_kid(ev, f, doc));
    default:
        return eval_predicate(ev, f, doc);
    }
}

int ad_filter_match(const ad_filter *f, const json_t *doc, ad_error *err)
{
    if (!f || !doc) {
        ad_fail(err, AD_E_INTERNAL, "ad_filter_match: no filter or no document");
        return -1;
    }
    evaluator ev = {.err = err};
    int r = eval_node(&ev, f, doc);
    pcre2_match_context_free(ev.mctx);
    return r;
}
