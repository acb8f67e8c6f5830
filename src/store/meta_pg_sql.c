/*
 * meta_pg_sql.c — compiles a filter tree (core/filter.h) and the order,
 * skip and limit of a list query into one PostgreSQL SELECT over the JSONB
 * column assets.doc. Every value from the filter travels as a parameter:
 * jsonpath programs as ::jsonpath text, documents as ::jsonb text, ids as
 * text. The SQL text itself holds only fixed fragments, so no client
 * string is ever pasted into SQL. (A jsonpath program does carry string
 * literals and keys; they are written with jsonpath's own escapes by
 * jp_string() and the whole program is still one bound parameter.)
 *
 * How MongoDB's matching (see filter.c) maps onto jsonpath, for a dotted
 * path p1.….pn without array-index parts:
 *  - "lax $.p1.….pn" yields exactly the values MongoDB's traversal reaches:
 *    lax member access unwraps one level of array and skips elements that
 *    are not objects, as MongoDB does with arrays in the middle of a path.
 *  - A lax filter "? (…)" on those values tests the elements of an array
 *    value and a non-array value itself — MongoDB's "array at the end yields
 *    its elements". Comparisons in lax mode unwrap once more, so every
 *    scalar test is guarded with @.type() != "array" (an element that is an
 *    array never equals a scalar in MongoDB).
 *  - MongoDB's "missing" (the path ends in an object without the next key,
 *    or in a scalar before its last part) is spelt out level by level for
 *    {x: null}, $in with null and $gte/$lte null.
 *  - The array itself (for $size, $type "array", equality with an array)
 *    is reached from its parent object, where .type() and .size() do not
 *    unwrap, or with jsonb_path_query in a subquery.
 *  - $elemMatch is an EXISTS over jsonb_array_elements of each value, the
 *    inner filter compiled against the element.
 *
 * Exact (the SQL selects precisely the matching documents): $eq and
 * implicit equality with strings, booleans, null, numbers of magnitude
 * below 2^53, and arrays of those; $ne; $gt $gte $lt $lte with those
 * scalars or null; $in $nin $all of those; $exists; $size; $type except
 * "double", "int" and "long"; $regex when the pattern is "^" followed by
 * plain characters (a prefix test) or empty; $elemMatch, $not, $and, $or,
 * $nor of exact parts.
 * Superset (the cursor checks each row with ad_filter_match): other
 * $regex patterns (PCRE is not PostgreSQL's regex dialect), $type
 * "double"/"int"/"long" (JSONB keeps no integer/real distinction),
 * equality with objects (JSONB forgets key order, MongoDB does not), any
 * comparison with numbers of magnitude 2^53 or more (documents keep reals
 * as 17-digit decimals, which can differ from the double beyond 2^53), and
 * paths with an array-index part ("files.0.x": a numeric part is both an
 * index and a key). A negation ($ne, $nin, $not, $nor) of a superset part
 * cannot be narrowed and becomes TRUE.
 *
 * Equality with asset_id uses the id column (unique btree), which the
 * adapter keeps equal to the document's asset_id. Other equalities are
 * "doc @? jsonpath" tests, which the GIN jsonb_path_ops index on doc
 * answers.
 *
 * The value table (asset_values, kept by a trigger; see meta_pg.c) holds,
 * per document, every number under every dotted path (arrays at any level
 * walked through, path at most PG_VALUES_PATH_MAX bytes) and the strings of
 * the fixed-query paths (PG_VALUES_STR_PATHS, at most PG_VALUES_STR_MAX bytes),
 * with btree indexes on (path, num, seq) and (path, str, seq). A number
 * range ($gt $gte $lt $lte), and equality with a string on a fixed-query
 * path, at the top level and not under a negation, is written
 *     (a.seq IN (SELECT seq FROM asset_values WHERE path = … AND num >= …)
 *      AND jsonb_path_exists(a.doc, <the same jsonpath>, '{}', true))
 * The first half is a superset of the second (any value MongoDB's
 * traversal reaches is in the table), so the conjunction is exactly the
 * jsonpath test; it gives the planner a btree to drive from: a range is
 * an index range instead of a scan of every document (GIN answers no
 * ranges), and a common value with a small LIMIT walks (path, str, seq)
 * in creation order and stops, instead of reading every match through
 * GIN and sorting (with extended statistics on (path, str) the planner
 * knows how common the value is). A string equality at the top (the
 * fixed queries) is a JOIN instead (see find_driver), and a lower and an
 * upper bound on one path one range (see narrow_pair). jsonb_path_exists(…, silent true) is
 * @? as a function, which GIN does not answer, so the planner does not
 * pick the GIN index for the same test. At most NARROW_MAX such
 * subqueries per statement (the first ones); other tests stay as they are.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/filter.h"
#include "store/meta_pg.h"

#define SQL_MAX       (64u << 20)        /* bytes of generated SQL or of one jsonpath */
#define INLINE_IN_MAX 32                 /* $in scalars written into one jsonpath (GIN-usable) */
#define EXACT_NUM_MAX 9007199254740992.0 /* 2^53: numbers compared exactly below it */
/* asset_values subqueries in one statement: each is a semi-join, and the
 * planner's search over many of them (a $and of ranges) took minutes */
#define NARROW_MAX 2

static const char TOP[] = "a.doc"; /* the document column; compared by address */

void pg_sql_init(pg_sql *q)
{
    memset(q, 0, sizeof(*q));
    ad_buf_init(&q->sql, SQL_MAX);
}

void pg_sql_free(pg_sql *q)
{
    for (size_t i = 0; i < q->n; i++) free(q->vals[i]);
    free(q->vals);
    ad_buf_free(&q->sql);
    memset(q, 0, sizeof(*q));
}

/* ------------------------------------------------------------------------ */
/* Emitting SQL and parameters                                              */
/* ------------------------------------------------------------------------ */

static void put(pg_sql *q, const char *s)
{
    if (q->dry || q->rc) return;
    q->rc = ad_buf_puts(&q->sql, s);
}

/* Adds parameter s (owned; NULL = out of memory), returns its number. */
static size_t add_param(pg_sql *q, char *s)
{
    if (q->dry || q->rc || !s) {
        if (!s && !q->dry && !q->rc) q->rc = AD_E_NOMEM;
        free(s);
        return 0;
    }
    if (q->n == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 16;
        char **v = realloc(q->vals, cap * sizeof(*v));
        if (!v) {
            free(s);
            q->rc = AD_E_NOMEM;
            return 0;
        }
        q->vals = v;
        q->cap = cap;
    }
    q->vals[q->n++] = s;
    return q->n;
}

/* Appends "$k<cast>". */
static void put_ref(pg_sql *q, size_t k, const char *cast)
{
    if (q->dry || q->rc || !k) return;
    q->rc = ad_buf_printf(&q->sql, "$%zu%s", k, cast);
}

/* Adds s as a parameter and appends its placeholder; returns its number. */
static size_t param(pg_sql *q, char *s, const char *cast)
{
    size_t k = add_param(q, s);
    put_ref(q, k, cast);
    return k;
}

static char *dump_value(const json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
}

/* ------------------------------------------------------------------------ */
/* jsonpath text                                                            */
/* ------------------------------------------------------------------------ */

typedef struct jp {
    ad_buf b;
    ad_code rc;
} jp;

static void jp_init(jp *j, const char *mode)
{
    ad_buf_init(&j->b, SQL_MAX);
    j->rc = ad_buf_puts(&j->b, mode);
}

static void jp_puts(jp *j, const char *s)
{
    if (!j->rc) j->rc = ad_buf_puts(&j->b, s);
}

/* A jsonpath string literal: quotes, backslashes and control characters
 * escaped; other bytes (UTF-8) as they are. */
static void jp_string(jp *j, const char *s, size_t n)
{
    jp_puts(j, "\"");
    for (size_t i = 0; i < n && !j->rc; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c == '"')
            j->rc = ad_buf_puts(&j->b, "\\\"");
        else if (c == '\\')
            j->rc = ad_buf_puts(&j->b, "\\\\");
        else if (c < 0x20)
            j->rc = ad_buf_printf(&j->b, "\\u%04x", c);
        else
            j->rc = ad_buf_append(&j->b, &s[i], 1);
    }
    jp_puts(j, "\"");
}

/* A scalar as a jsonpath literal (numbers as jansson writes them, the
 * same text the documents' JSONB copy was made from). */
static void jp_literal(jp *j, const json_t *v)
{
    if (json_is_string(v)) {
        jp_string(j, json_string_value(v), json_string_length(v));
    } else if (json_is_number(v)) {
        char *s = dump_value(v);
        if (!s && !j->rc) j->rc = AD_E_NOMEM;
        jp_puts(j, s ? s : "");
        free(s);
    } else {
        jp_puts(j, json_is_true(v) ? "true" : json_is_false(v) ? "false" : "null");
    }
}

/* Part i (0-based) of a dotted path. */
static void path_part(const char *path, size_t i, const char **s, size_t *len)
{
    const char *p = path;
    while (i--) p += strcspn(p, ".") + 1;
    *s = p;
    *len = strcspn(p, ".");
}

static size_t path_nparts(const char *path)
{
    size_t n = *path ? 1 : 0;
    for (const char *p = path; *p; p++) n += *p == '.';
    return n;
}

/* `."k"` for part i. */
static void jp_key(jp *j, const char *path, size_t i)
{
    const char *s;
    size_t len;
    path_part(path, i, &s, &len);
    jp_puts(j, ".");
    jp_string(j, s, len);
}

/* `$."p1".….“pk"`: the first k parts. */
static void jp_path(jp *j, const char *path, size_t k)
{
    jp_puts(j, "$");
    for (size_t i = 0; i < k; i++) jp_key(j, path, i);
}

/* Adds the jsonpath as a parameter and appends "<x> <op> $k::jsonpath". */
static void put_jp(pg_sql *q, const char *x, const char *op, jp *j)
{
    if (q->dry) {
        ad_buf_free(&j->b);
        return;
    }
    if (j->rc && !q->rc) q->rc = j->rc;
    put(q, x);
    put(q, op);
    param(q, j->rc ? NULL : ad_buf_steal(&j->b, NULL), "::jsonpath");
    ad_buf_free(&j->b);
}

/* Starts "lax $.p1.….pn ? (" — or "strict $ ? (" for the value itself
 * (n == 0, inside $elemMatch), where nothing may be unwrapped. */
static void jp_filter_open(jp *j, const char *path, size_t n)
{
    jp_init(j, n ? "lax " : "strict ");
    jp_path(j, path, n);
    jp_puts(j, " ? (");
}

/* ------------------------------------------------------------------------ */
/* Values                                                                   */
/* ------------------------------------------------------------------------ */

static bool is_scalar(const json_t *v)
{
    return json_is_string(v) || json_is_number(v) || json_is_boolean(v);
}

/* A number SQL compares exactly as MongoDB does (see the header). */
static bool exact_number(const json_t *v)
{
    if (json_is_integer(v)) {
        json_int_t i = json_integer_value(v);
        return i <= (json_int_t)EXACT_NUM_MAX && i >= -(json_int_t)EXACT_NUM_MAX;
    }
    return fabs(json_real_value(v)) < EXACT_NUM_MAX;
}

/* A string, boolean or exactly comparable number. */
static bool exact_scalar(const json_t *v)
{
    return is_scalar(v) && (!json_is_number(v) || exact_number(v));
}

/* No number at or beyond 2^53 anywhere in v: JSONB equality never misses
 * a match (it may add some, for objects). */
static bool no_big_number(const json_t *v)
{
    size_t i;
    const char *k;
    json_t *e;
    if (json_is_number(v)) return exact_number(v);
    if (json_is_array(v)) {
        for (i = 0; i < json_array_size(v); i++)
            if (!no_big_number(json_array_get(v, i))) return false;
    }
    if (json_is_object(v)) {
        json_object_foreach((json_t *)v, k, e) if (!no_big_number(e)) return false;
    }
    return true;
}

static bool has_object(const json_t *v)
{
    if (json_is_object(v)) return true;
    for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
        if (has_object(json_array_get(v, i))) return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Paths                                                                    */
/* ------------------------------------------------------------------------ */

/* An array index as filter.c reads one: canonical decimal, below 10^9. */
static bool index_part(const char *s, size_t len)
{
    if (len == 0 || len > 9 || (len > 1 && s[0] == '0')) return false;
    for (size_t i = 0; i < len; i++)
        if (s[i] < '0' || s[i] > '9') return false;
    return true;
}

/* The first part, from part `from` on, that may index an array; SIZE_MAX if none. */
static size_t first_index_part(const char *path, size_t from)
{
    size_t n = path_nparts(path);
    for (size_t i = from; i < n; i++) {
        const char *s;
        size_t len;
        path_part(path, i, &s, &len);
        if (index_part(s, len)) return i;
    }
    return SIZE_MAX;
}

/* Some predicate below f has a path part that may index an array (first
 * parts included: inside $elemMatch they apply to array elements too). */
static bool tree_has_index_part(const ad_filter *f)
{
    if (f->path && first_index_part(f->path, 0) != SIZE_MAX) return true;
    for (size_t i = 0; i < f->nkids; i++)
        if (tree_has_index_part(f->kids[i])) return true;
    return false;
}

/* ------------------------------------------------------------------------ */
/* Predicates                                                               */
/* ------------------------------------------------------------------------ */

static bool emit_node(pg_sql *q, const ad_filter *f, const char *x);

/* x's path yields a value (n == 0: the value itself always exists). */
static void emit_exists(pg_sql *q, const char *x, const char *path, size_t n)
{
    jp j;
    if (n == 0) {
        put(q, "TRUE");
        return;
    }
    jp_init(&j, "lax ");
    jp_path(&j, path, n);
    put_jp(q, x, " @? ", &j);
}

/* MongoDB's "missing" on path: some object the path reaches lacks the next
 * key, or holds a scalar there while more parts follow. */
static void emit_missing(pg_sql *q, const char *x, const char *path, size_t n)
{
    jp j;
    jp_init(&j, "lax ");
    for (size_t k = 0; k < n; k++) {
        if (k) jp_puts(&j, " || ");
        jp_puts(&j, "exists(");
        jp_path(&j, path, k);
        jp_puts(&j, " ? (@.type() == \"object\" && (!exists(@");
        jp_key(&j, path, k);
        jp_puts(&j, ")");
        if (k + 1 < n) {
            jp_puts(&j, " || (@");
            jp_key(&j, path, k);
            jp_puts(&j, ".type() != \"object\" && @");
            jp_key(&j, path, k);
            jp_puts(&j, ".type() != \"array\")");
        }
        jp_puts(&j, ")))");
    }
    put_jp(q, x, " @@ ", &j);
}

/* Can asset_values narrow "path op v" (see the header)? Only at the top,
 * not negated (NOT (C AND P) is NOT P, so it would be right but useless),
 * for paths the table keeps; numbers for ranges, strings of the fixed
 * queries for equality. */
static bool in_values(const pg_sql *q, const char *x, const char *path, size_t n, const char *op,
                      const json_t *v)
{
    static const char *const str_paths[] = {PG_VALUES_STR_PATHS};
    bool eq = strcmp(op, "==") == 0;
    if (x != TOP || q->neg || n == 0 || q->narrowed >= NARROW_MAX ||
        strlen(path) > PG_VALUES_PATH_MAX)
        return false;
    if (json_is_number(v)) return !eq;
    if (!json_is_string(v) || !eq || json_string_length(v) > PG_VALUES_STR_MAX ||
        strlen(json_string_value(v)) != json_string_length(v))
        return false;
    for (size_t i = 0; i < sizeof(str_paths) / sizeof(str_paths[0]); i++)
        if (strcmp(path, str_paths[i]) == 0) return true;
    return false;
}

/* Is the predicate with these path and value narrowed by the statement's
 * join or range prefix? (Its own nodes' pointers, not equal copies.) */
static bool covered(const pg_sql *q, const char *path, const json_t *v)
{
    for (size_t i = 0; i < q->ncover; i++)
        if (q->cover[i]->path == path && q->cover[i]->arg == v) return true;
    return false;
}

/* A scalar comparison on every value the path yields (never an array). */
static void emit_compare(pg_sql *q, const char *x, const char *path, size_t n, const char *op,
                         const json_t *v)
{
    jp j;
    bool narrow = in_values(q, x, path, n, op, v);
    jp_filter_open(&j, path, n);
    jp_puts(&j, "@.type() != \"array\" && @ ");
    jp_puts(&j, op);
    jp_puts(&j, " ");
    jp_literal(&j, v);
    jp_puts(&j, ")");
    if (covered(q, path, v)) {
        /* narrowed once for the whole statement (see pg_sql_find) */
        put(q, "jsonb_path_exists(");
        put_jp(q, x, ", ", &j);
        put(q, ", '{}', true)");
        return;
    }
    if (!narrow) {
        put_jp(q, x, " @? ", &j);
        return;
    }
    if (!q->dry) {
        q->narrowed++;
        q->one_shot = true; /* a range's best plan depends on its bounds */
    }
    put(q, "(a.seq IN (SELECT av.seq FROM asset_values av WHERE av.path = ");
    param(q, strdup(path), "::text");
    if (json_is_number(v)) {
        put(q, " AND av.num ");
        put(q, op);
        put(q, " ");
        param(q, dump_value(v), "::numeric");
    } else {
        put(q, " AND av.str = ");
        param(q, strdup(json_string_value(v)), "::text");
    }
    put(q, ") AND jsonb_path_exists(");
    put_jp(q, x, ", ", &j);
    put(q, ", '{}', true))");
}

/* Some value the path yields has one of the jsonpath types in `types`
 * (e.g. "\"number\""); a superset test for the inexact cases. */
static void emit_has_type(pg_sql *q, const char *x, const char *path, size_t n, const char *types)
{
    jp j;
    jp_filter_open(&j, path, n);
    jp_puts(&j, types);
    jp_puts(&j, ")");
    put_jp(q, x, " @? ", &j);
}

/* {path: null}: a null value or missing. */
static void emit_null(pg_sql *q, const char *x, const char *path, size_t n)
{
    jp j;
    if (n == 0) {
        put(q, "(");
        put(q, x);
        put(q, " = 'null'::jsonb)");
        return;
    }
    put(q, "(");
    jp_filter_open(&j, path, n);
    jp_puts(&j, "@.type() != \"array\" && @ == null)");
    put_jp(q, x, " @? ", &j);
    put(q, " OR ");
    emit_missing(q, x, path, n);
    put(q, ")");
}

/* Equality with an array or object: the value itself or one of its
 * elements equals v under JSONB equality. */
static bool emit_eq_composite(pg_sql *q, const char *x, const char *path, size_t n, const json_t *v)
{
    char alias[64];
    size_t k;
    jp j;
    if (!no_big_number(v)) {
        emit_exists(q, x, path, n);
        return false;
    }
    if (n == 0) {
        put(q, "(");
        put(q, x);
        put(q, " = ");
        param(q, dump_value(v), "::jsonb");
        put(q, ")");
        return !has_object(v);
    }
    snprintf(alias, sizeof(alias), "%u", ++q->alias);
    put(q, "EXISTS (SELECT 1 FROM jsonb_path_query(");
    put(q, x);
    put(q, ", ");
    jp_init(&j, "lax ");
    jp_path(&j, path, n);
    if (j.rc && !q->rc && !q->dry) q->rc = j.rc;
    param(q, j.rc ? NULL : ad_buf_steal(&j.b, NULL), "::jsonpath");
    ad_buf_free(&j.b);
    put(q, ") t");
    put(q, alias);
    put(q, "(v) WHERE t");
    put(q, alias);
    put(q, ".v = ");
    k = param(q, dump_value(v), "::jsonb");
    put(q, " OR (jsonb_typeof(t");
    put(q, alias);
    put(q, ".v) = 'array' AND EXISTS (SELECT 1 FROM jsonb_array_elements(t");
    put(q, alias);
    put(q, ".v) e");
    put(q, alias);
    put(q, "(v) WHERE e");
    put(q, alias);
    put(q, ".v = ");
    put_ref(q, k, "::jsonb");
    put(q, ")))");
    return !has_object(v);
}

static bool is_asset_id(const char *x, const char *path)
{
    return x == TOP && strcmp(path, "asset_id") == 0;
}

static bool emit_eq(pg_sql *q, const char *x, const char *path, size_t n, const json_t *v)
{
    if (json_is_null(v)) {
        emit_null(q, x, path, n);
        return true;
    }
    if (!is_scalar(v)) return emit_eq_composite(q, x, path, n, v);
    if (!exact_scalar(v)) {
        emit_has_type(q, x, path, n, "@.type() == \"number\"");
        return false;
    }
    if (json_is_string(v) && is_asset_id(x, path)) {
        put(q, "a.id = ");
        param(q, strdup(json_string_value(v)), "::text");
        return true;
    }
    emit_compare(q, x, path, n, "==", v);
    return true;
}

static bool emit_range(pg_sql *q, ad_fop op, const char *x, const char *path, size_t n,
                       const json_t *v)
{
    static const char *const ops[] = {
        [AD_FOP_GT] = ">", [AD_FOP_GTE] = ">=", [AD_FOP_LT] = "<", [AD_FOP_LTE] = "<="};
    if (json_is_null(v)) {
        /* null only equals null: $gt/$lt never match, $gte/$lte are {x: null} */
        if (op == AD_FOP_GT || op == AD_FOP_LT) {
            put(q, "FALSE");
            return true;
        }
        emit_null(q, x, path, n);
        return true;
    }
    if (exact_scalar(v)) {
        emit_compare(q, x, path, n, ops[op], v);
        return true;
    }
    if (is_scalar(v))
        emit_has_type(q, x, path, n, "@.type() == \"number\"");
    else
        emit_exists(q, x, path, n);
    return false;
}

/* Appends v to arr (a new reference); false when out of memory. */
static bool push(json_t *arr, const json_t *v)
{
    return json_array_append(arr, (json_t *)v) == 0;
}

/* The scalars of an $in compared in one go: a jsonpath disjunction (which
 * the GIN index can use), or for long lists a JSONB IN over the values. */
static void emit_in_scalars(pg_sql *q, const char *x, const char *path, size_t n,
                            const json_t *scalars)
{
    size_t count = json_array_size(scalars), i;
    char alias[64];
    jp j;
    if (n == 0) {
        put(q, "(");
        put(q, x);
        put(q, " IN (SELECT jsonb_array_elements(");
        param(q, dump_value(scalars), "::jsonb");
        put(q, ")))");
        return;
    }
    if (count <= INLINE_IN_MAX) {
        jp_filter_open(&j, path, n);
        jp_puts(&j, "@.type() != \"array\" && (");
        for (i = 0; i < count; i++) {
            if (i) jp_puts(&j, " || ");
            jp_puts(&j, "@ == ");
            jp_literal(&j, json_array_get(scalars, i));
        }
        jp_puts(&j, "))");
        put_jp(q, x, " @? ", &j);
        return;
    }
    snprintf(alias, sizeof(alias), "%u", ++q->alias);
    put(q, "EXISTS (SELECT 1 FROM jsonb_path_query(");
    put(q, x);
    put(q, ", ");
    jp_filter_open(&j, path, n);
    jp_puts(&j, "@.type() != \"array\")");
    if (j.rc && !q->rc && !q->dry) q->rc = j.rc;
    param(q, j.rc ? NULL : ad_buf_steal(&j.b, NULL), "::jsonpath");
    ad_buf_free(&j.b);
    put(q, ") t");
    put(q, alias);
    put(q, "(v) WHERE t");
    put(q, alias);
    put(q, ".v IN (SELECT jsonb_array_elements(");
    param(q, dump_value(scalars), "::jsonb");
    put(q, ")))");
}

static bool all_strings(const json_t *list)
{
    for (size_t i = 0; i < json_array_size(list); i++)
        if (!json_is_string(json_array_get(list, i))) return false;
    return true;
}

static bool emit_in(pg_sql *q, const char *x, const char *path, size_t n, const json_t *list)
{
    json_t *scalars;
    bool exact = true, has_null = false, big = false, any = false;
    size_t i;
    if (json_array_size(list) == 0) {
        put(q, "FALSE");
        return true;
    }
    if (is_asset_id(x, path) && all_strings(list)) {
        put(q, "a.id IN (SELECT jsonb_array_elements_text(");
        param(q, dump_value(list), "::jsonb");
        put(q, "))");
        return true;
    }
    scalars = json_array();
    if (!scalars) {
        if (!q->dry) q->rc = AD_E_NOMEM;
        return false;
    }
    for (i = 0; i < json_array_size(list); i++) {
        const json_t *v = json_array_get(list, i);
        if (exact_scalar(v) && !push(scalars, v) && !q->dry) q->rc = AD_E_NOMEM;
        has_null |= json_is_null(v);
        big |= is_scalar(v) && !exact_scalar(v);
    }
    put(q, "(");
    if (json_array_size(scalars)) {
        emit_in_scalars(q, x, path, n, scalars);
        any = true;
    }
    if (has_null) {
        if (any) put(q, " OR ");
        emit_null(q, x, path, n);
        any = true;
    }
    if (big) {
        if (any) put(q, " OR ");
        emit_has_type(q, x, path, n, "@.type() == \"number\"");
        exact = false;
        any = true;
    }
    for (i = 0; i < json_array_size(list); i++) {
        const json_t *v = json_array_get(list, i);
        if (is_scalar(v) || json_is_null(v)) continue;
        if (any) put(q, " OR ");
        exact &= emit_eq_composite(q, x, path, n, v);
        any = true;
    }
    put(q, ")");
    json_decref(scalars);
    return exact;
}

static bool emit_all(pg_sql *q, const char *x, const char *path, size_t n, const json_t *list)
{
    bool exact = true;
    if (json_array_size(list) == 0) {
        put(q, "FALSE");
        return true;
    }
    put(q, "(");
    for (size_t i = 0; i < json_array_size(list); i++) {
        if (i) put(q, " AND ");
        exact &= emit_eq(q, x, path, n, json_array_get(list, i));
    }
    put(q, ")");
    return exact;
}

/* A $regex that is a plain prefix test: "^" then characters with no
 * special meaning, options at most s (no '.') and x (no whitespace or '#'
 * to ignore). Sets *lit and *len to the prefix. Also "" (every string). */
static bool regex_prefix(const ad_filter *f, const char **lit, size_t *len)
{
    const char *p = json_string_value(f->arg);
    size_t n = json_string_length(f->arg), i;
    bool x = strchr(f->regex_opts, 'x') != NULL;
    for (const char *o = f->regex_opts; *o; o++)
        if (*o != 's' && *o != 'x') return false;
    if (n == 0) {
        *lit = p;
        *len = 0;
        return true;
    }
    if (p[0] != '^') return false;
    for (i = 1; i < n; i++) {
        if (strchr("\\^$.|?*+()[]{}", p[i])) return false;
        if (x && strchr(" \t\n\r\f\v#", p[i])) return false;
    }
    *lit = p + 1;
    *len = n - 1;
    return true;
}

static bool emit_regex(pg_sql *q, const ad_filter *f, const char *x, size_t n)
{
    const char *lit;
    size_t len;
    jp j;
    bool exact = regex_prefix(f, &lit, &len);
    jp_filter_open(&j, f->path, n);
    jp_puts(&j, "@.type() == \"string\"");
    if (exact && len) {
        jp_puts(&j, " && @ starts with ");
        jp_string(&j, lit, len);
    }
    jp_puts(&j, ")");
    put_jp(q, x, " @? ", &j);
    return exact;
}

/* The value at the path's end is itself an array (tested on its parent
 * object, where .type() and .size() see the array rather than unwrap it);
 * with size >= 0, of that many elements. */
static void emit_array_itself(pg_sql *q, const char *x, const char *path, size_t n, json_int_t size)
{
    jp j;
    jp_init(&j, "lax ");
    jp_path(&j, path, n - 1);
    jp_puts(&j, " ? (@.type() == \"object\" && @");
    jp_key(&j, path, n - 1);
    jp_puts(&j, ".type() == \"array\"");
    if (size >= 0) {
        jp_puts(&j, " && @");
        jp_key(&j, path, n - 1);
        if (!j.rc) j.rc = ad_buf_printf(&j.b, ".size() == %lld", (long long)size);
    }
    jp_puts(&j, ")");
    put_jp(q, x, " @? ", &j);
}

static bool emit_size(pg_sql *q, const ad_filter *f, const char *x, size_t n)
{
    char num[32];
    if (n > 0) {
        emit_array_itself(q, x, f->path, n, json_integer_value(f->arg));
        return true;
    }
    snprintf(num, sizeof(num), "%lld", (long long)json_integer_value(f->arg));
    put(q, "(CASE WHEN jsonb_typeof(");
    put(q, x);
    put(q, ") = 'array' THEN jsonb_array_length(");
    put(q, x);
    put(q, ") = ");
    param(q, strdup(num), "::bigint");
    put(q, " ELSE FALSE END)");
    return true;
}

static bool emit_type(pg_sql *q, const ad_filter *f, const char *x, size_t n)
{
    static const struct {
        const char *name, *jtype;
        bool exact;
    } map[] = {{"double", "number", false}, {"int", "number", false},   {"long", "number", false},
               {"number", "number", true},  {"string", "string", true}, {"object", "object", true},
               {"array", "array", true},    {"bool", "boolean", true},  {"null", "null", true}};
    bool exact = true, array = false, any = false;
    ad_code lrc = AD_OK;
    jp j;
    ad_buf list;
    ad_buf_init(&list, 4096);
    for (size_t i = 0; i < json_array_size(f->arg); i++) {
        const char *name = json_string_value(json_array_get(f->arg, i));
        for (size_t k = 0; name && k < sizeof(map) / sizeof(map[0]); k++) {
            if (strcmp(name, map[k].name) != 0) continue;
            exact &= map[k].exact;
            array |= strcmp(map[k].jtype, "array") == 0;
            /* the names come from the table above, never from the client */
            if (lrc)
                break;
            else if (n == 0)
                lrc = ad_buf_printf(&list, "%s'%s'", any ? ", " : "", map[k].jtype);
            else
                lrc = ad_buf_printf(&list, "%s@.type() == \"%s\"", any ? " || " : "", map[k].jtype);
            any = true;
        }
    }
    if (lrc) {
        if (!q->dry && !q->rc) q->rc = lrc;
        exact = false;
    } else if (!any) {
        put(q, "FALSE");
    } else if (n == 0) {
        put(q, "(jsonb_typeof(");
        put(q, x);
        put(q, ") IN (");
        put(q, list.data);
        put(q, "))");
    } else {
        put(q, "(");
        jp_filter_open(&j, f->path, n);
        jp_puts(&j, list.data);
        jp_puts(&j, ")");
        put_jp(q, x, " @? ", &j);
        if (array) {
            put(q, " OR ");
            emit_array_itself(q, x, f->path, n, -1);
        }
        put(q, ")");
    }
    ad_buf_free(&list);
    return exact;
}

static bool emit_elem_match(pg_sql *q, const ad_filter *f, const char *x, size_t n)
{
    const ad_filter *kid = f->kids[0];
    char t[32], e[32], ealias[32];
    bool exact;
    jp j;
    unsigned a = ++q->alias;
    snprintf(t, sizeof(t), "t%u", a);
    snprintf(ealias, sizeof(ealias), "e%u", a);
    snprintf(e, sizeof(e), "e%u.v", a); /* the element */
    put(q, "EXISTS (SELECT 1 FROM ");
    if (n > 0) {
        put(q, "jsonb_path_query(");
        put(q, x);
        put(q, ", ");
        jp_init(&j, "lax ");
        jp_path(&j, f->path, n);
        if (j.rc && !q->rc && !q->dry) q->rc = j.rc;
        param(q, j.rc ? NULL : ad_buf_steal(&j.b, NULL), "::jsonpath");
        ad_buf_free(&j.b);
        put(q, ") ");
        put(q, t);
        put(q, "(v) CROSS JOIN LATERAL ");
    }
    put(q, "jsonb_array_elements(CASE WHEN jsonb_typeof(");
    put(q, n > 0 ? t : x);
    put(q, n > 0 ? ".v" : "");
    put(q, ") = 'array' THEN ");
    put(q, n > 0 ? t : x);
    put(q, n > 0 ? ".v" : "");
    put(q, " ELSE '[]'::jsonb END) ");
    put(q, ealias);
    put(q, "(v) WHERE ");
    if (ad_filter_elem_value_form(kid)) {
        exact = emit_node(q, kid, e);
    } else {
        /* the document form sees object elements (and arrays, in which
         * every field is missing unless a part can index them) */
        json_t *empty = json_array();
        int on_arrays = empty ? ad_filter_match(kid, empty, NULL) : 1;
        json_decref(empty);
        put(q, "(jsonb_typeof(");
        put(q, e);
        put(q, ") = 'object' AND ");
        exact = emit_node(q, kid, e);
        put(q, ")");
        if (tree_has_index_part(kid)) {
            exact = false;
            on_arrays = 1;
        }
        if (on_arrays) {
            put(q, " OR jsonb_typeof(");
            put(q, e);
            put(q, ") = 'array'");
        }
    }
    put(q, ")");
    return exact;
}

/* The predicate can only match where its path yields a value (so the
 * document has the path's first parts). */
static bool requires_value(const ad_filter *f)
{
    size_t i;
    switch (f->op) {
    case AD_FOP_EQ:
    case AD_FOP_GTE:
    case AD_FOP_LTE:
        return !json_is_null(f->arg);
    case AD_FOP_IN:
    case AD_FOP_ALL:
        for (i = 0; i < json_array_size(f->arg); i++)
            if (json_is_null(json_array_get(f->arg, i))) return false;
        return true;
    case AD_FOP_EXISTS:
        return json_is_true(f->arg);
    case AD_FOP_GT:
    case AD_FOP_LT:
    case AD_FOP_REGEX:
    case AD_FOP_SIZE:
    case AD_FOP_TYPE:
    case AD_FOP_ELEM_MATCH:
        return true;
    default:
        return false;
    }
}

/* A path with an array-index part: only the parts before it narrow. */
static bool emit_index_path(pg_sql *q, const ad_filter *f, const char *x, size_t at)
{
    jp j;
    if (!requires_value(f)) {
        put(q, "TRUE");
        return false;
    }
    jp_init(&j, "lax ");
    jp_path(&j, f->path, at);
    put_jp(q, x, " @? ", &j);
    return false;
}

static bool emit_positive(pg_sql *q, const ad_filter *f, ad_fop op, const char *x, size_t n)
{
    switch (op) {
    case AD_FOP_EQ:
        return emit_eq(q, x, f->path, n, f->arg);
    case AD_FOP_GT:
    case AD_FOP_GTE:
    case AD_FOP_LT:
    case AD_FOP_LTE:
        return emit_range(q, op, x, f->path, n, f->arg);
    case AD_FOP_IN:
        return emit_in(q, x, f->path, n, f->arg);
    case AD_FOP_ALL:
        return emit_all(q, x, f->path, n, f->arg);
    case AD_FOP_EXISTS:
        emit_exists(q, x, f->path, n);
        return true;
    case AD_FOP_REGEX:
        return emit_regex(q, f, x, n);
    case AD_FOP_SIZE:
        return emit_size(q, f, x, n);
    case AD_FOP_TYPE:
        return emit_type(q, f, x, n);
    case AD_FOP_ELEM_MATCH:
        return emit_elem_match(q, f, x, n);
    default:
        if (!q->dry) q->rc = AD_E_INTERNAL;
        return false;
    }
}

/* NOT of the positive form of op, when that form is exact; else TRUE. */
static bool emit_negative(pg_sql *q, const ad_filter *f, ad_fop op, const char *x, size_t n)
{
    bool exact;
    if (!q->dry) {
        q->dry++;
        exact = emit_positive(q, f, op, x, n);
        q->dry--;
        if (!exact) {
            put(q, "TRUE");
            return false;
        }
    }
    put(q, "NOT (");
    q->neg++;
    exact = emit_positive(q, f, op, x, n);
    q->neg--;
    put(q, ")");
    return exact;
}

static bool emit_pred(pg_sql *q, const ad_filter *f, const char *x)
{
    size_t n = path_nparts(f->path);
    size_t at = first_index_part(f->path, 1);
    if (at != SIZE_MAX) return emit_index_path(q, f, x, at);
    switch (f->op) {
    case AD_FOP_NE:
        return emit_negative(q, f, AD_FOP_EQ, x, n);
    case AD_FOP_NIN:
        return emit_negative(q, f, AD_FOP_IN, x, n);
    case AD_FOP_EXISTS:
        if (json_is_false(f->arg)) return emit_negative(q, f, AD_FOP_EXISTS, x, n);
        return emit_positive(q, f, f->op, x, n);
    default:
        return emit_positive(q, f, f->op, x, n);
    }
}

/* ------------------------------------------------------------------------ */
/* Logical nodes                                                            */
/* ------------------------------------------------------------------------ */

static bool emit_kids(pg_sql *q, const ad_filter *f, const char *x, const char *join)
{
    bool exact = true;
    put(q, "(");
    for (size_t i = 0; i < f->nkids; i++) {
        if (i) put(q, join);
        exact &= emit_node(q, f->kids[i], x);
    }
    put(q, ")");
    return exact;
}

/* NOT (k1 OR k2 …) when every kid is exact; otherwise TRUE (a negated
 * superset is not a superset). The dry pass is linear: nested negations
 * inside it do not start dry passes of their own. */
static bool emit_none_of(pg_sql *q, const ad_filter *f, const char *x)
{
    bool exact;
    if (!q->dry) {
        q->dry++;
        exact = emit_kids(q, f, x, " OR ");
        q->dry--;
        if (!exact) {
            put(q, "TRUE");
            return false;
        }
    }
    put(q, "NOT ");
    q->neg++;
    exact = emit_kids(q, f, x, " OR ");
    q->neg--;
    return exact;
}

static bool emit_node(pg_sql *q, const ad_filter *f, const char *x)
{
    switch (f->op) {
    case AD_FOP_TRUE:
        put(q, "TRUE");
        return true;
    case AD_FOP_AND:
        return emit_kids(q, f, x, " AND ");
    case AD_FOP_OR:
        return emit_kids(q, f, x, " OR ");
    case AD_FOP_NOR:
    case AD_FOP_NOT:
        return emit_none_of(q, f, x);
    default:
        return emit_pred(q, f, x);
    }
}

/* ------------------------------------------------------------------------ */
/* The query                                                                */
/* ------------------------------------------------------------------------ */

static bool sort_path_ok(const char *p)
{
    if (!*p || *p == '.') return false;
    for (; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '_' || (*p == '.' && p[1] && p[1] != '.')))
            return false;
    return true;
}

/* Sort order of a field: missing and null, numbers, strings, objects,
 * arrays, booleans (MongoDB's order of the JSON types); numbers by value,
 * strings by bytes; ties in creation order. */
static void emit_order(pg_sql *q, const ad_query *qr)
{
    const char *d = qr->sort_desc ? " DESC" : "";
    if (!qr->sort_path) {
        put(q, " ORDER BY a.seq");
        return;
    }
    if (strcmp(qr->sort_path, "asset_id") == 0) {
        put(q, " ORDER BY a.id");
        put(q, d);
        return;
    }
    put(q, " ORDER BY CASE jsonb_typeof(s.v) WHEN 'number' THEN 1 WHEN 'string' THEN 2"
           " WHEN 'object' THEN 3 WHEN 'array' THEN 4 WHEN 'boolean' THEN 5 ELSE 0 END");
    put(q, d);
    put(q, ", CASE WHEN jsonb_typeof(s.v) = 'number' THEN s.v::numeric END");
    put(q, d);
    put(q, ", CASE WHEN jsonb_typeof(s.v) = 'string' THEN s.v #>> '{}' END COLLATE \"C\"");
    put(q, d);
    put(q, ", s.v");
    put(q, d);
    put(q, ", a.seq");
}

/* The equality f joins with asset_values in FROM, if it can: a string on
 * a fixed-query path, the filter itself or a kid of its top $and (so every
 * match has exactly one row (path, str, seq) there: no duplicates). The
 * join walks the (path, str, seq) index in creation order, which is the
 * order of the answer: with a LIMIT it stops after that many matches,
 * whatever plan a prepared statement keeps. */
static bool driver_ok(const pg_sql *q, const ad_filter *f)
{
    return f->op == AD_FOP_EQ && f->path && json_is_string(f->arg) &&
           first_index_part(f->path, 1) == SIZE_MAX &&
           in_values(q, TOP, f->path, path_nparts(f->path), "==", f->arg);
}

static const ad_filter *find_driver(const pg_sql *q, const ad_filter *f)
{
    if (driver_ok(q, f)) return f;
    for (size_t i = 0; f->op == AD_FOP_AND && i < f->nkids; i++)
        if (driver_ok(q, f->kids[i])) return f->kids[i];
    return NULL;
}

/* The predicates that are conjuncts of f (f, or below $and only), up to
 * cap of them. */
static size_t conjuncts(const ad_filter *f, const ad_filter **out, size_t n, size_t cap)
{
    if (f->op == AD_FOP_AND) {
        for (size_t i = 0; i < f->nkids; i++) n = conjuncts(f->kids[i], out, n, cap);
        return n;
    }
    if (f->path && n < cap) out[n++] = f;
    return n;
}

static const char *range_op(ad_fop op)
{
    return op == AD_FOP_GT ? ">" : op == AD_FOP_GTE ? ">=" : op == AD_FOP_LT ? "<" : "<=";
}

/* A number bound asset_values can narrow: 1 lower, 2 upper, 0 neither. */
static int bound_kind(const pg_sql *q, const ad_filter *f)
{
    bool lower = f->op == AD_FOP_GT || f->op == AD_FOP_GTE;
    if (!lower && f->op != AD_FOP_LT && f->op != AD_FOP_LTE) return 0;
    if (!json_is_number(f->arg) || !exact_number(f->arg) ||
        first_index_part(f->path, 1) != SIZE_MAX ||
        !in_values(q, TOP, f->path, path_nparts(f->path), range_op(f->op), f->arg))
        return 0;
    return lower ? 1 : 2;
}

/* A lower and an upper number bound on one path, both conjuncts of the
 * filter ({p: {$gte: a, $lt: b}}): one index range for both. A document
 * with one number under p matches both only if that number is in [a, b);
 * one with several (multi) may match with two different numbers, so those
 * are candidates whatever their values:
 *   a.seq IN (SELECT … WHERE path = p AND ((num >= a AND num < b) OR multi))
 * (the planner ORs the (path, num, seq) range with the partial index on
 * multi). Separate semi-joins for the two bounds would each read all the
 * numbers on their side of the bound. */
static void narrow_pair(pg_sql *q, const ad_filter *root)
{
    const ad_filter *c[64], *lo = NULL, *hi = NULL;
    size_t n = conjuncts(root, c, 0, sizeof(c) / sizeof(c[0]));
    for (size_t i = 0; i < n && !(lo && hi); i++) {
        int k = bound_kind(q, c[i]);
        lo = NULL, hi = NULL;
        if (!k) continue;
        for (size_t j = i + 1; j < n; j++)
            if (bound_kind(q, c[j]) == 3 - k && strcmp(c[i]->path, c[j]->path) == 0) {
                lo = k == 1 ? c[i] : c[j];
                hi = k == 1 ? c[j] : c[i];
                break;
            }
    }
    if (!lo || !hi) return;
    q->narrowed++;
    q->one_shot = true;
    q->cover[q->ncover++] = lo;
    q->cover[q->ncover++] = hi;
    put(q, "a.seq IN (SELECT av.seq FROM asset_values av WHERE av.path = ");
    param(q, strdup(lo->path), "::text");
    put(q, " AND ((av.num ");
    put(q, range_op(lo->op));
    put(q, " ");
    param(q, dump_value(lo->arg), "::numeric");
    put(q, " AND av.num ");
    put(q, range_op(hi->op));
    put(q, " ");
    param(q, dump_value(hi->arg), "::numeric");
    put(q, ") OR av.multi)) AND ");
}

ad_code pg_sql_find(pg_sql *q, const ad_query *qr, bool *exact, ad_error *err)
{
    bool by_field = qr->sort_path && strcmp(qr->sort_path, "asset_id") != 0;
    char num[32];
    *exact = false;
    if (qr->sort_path && !sort_path_ok(qr->sort_path))
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "sort: \"%.200s\" is not a field path (letters, digits, _ and .)",
                       qr->sort_path);
    put(q, "SELECT a.body FROM assets a");
    if (by_field) {
        put(q, " CROSS JOIN LATERAL (SELECT a.doc #> string_to_array(");
        param(q, strdup(qr->sort_path), "::text");
        put(q, ", '.') AS v) s");
    }
    if ((q->driver = find_driver(q, qr->filter))) {
        q->narrowed++;
        q->cover[q->ncover++] = q->driver;
        put(q, " JOIN asset_values av0 ON av0.seq = a.seq AND av0.path = ");
        param(q, strdup(q->driver->path), "::text");
        put(q, " AND av0.str = ");
        param(q, strdup(json_string_value(q->driver->arg)), "::text");
    }
    put(q, " WHERE ");
    narrow_pair(q, qr->filter);
    *exact = emit_node(q, qr->filter, TOP);
    emit_order(q, qr);
    if (*exact) {
        if (qr->limit <= (uint64_t)INT64_MAX) {
            snprintf(num, sizeof(num), "%llu", (unsigned long long)qr->limit);
            put(q, " LIMIT ");
            param(q, strdup(num), "::bigint");
        }
        if (qr->skip) {
            snprintf(num, sizeof(num), "%llu",
                     (unsigned long long)(qr->skip > (uint64_t)INT64_MAX ? (uint64_t)INT64_MAX
                                                                         : qr->skip));
            put(q, " OFFSET ");
            param(q, strdup(num), "::bigint");
        }
    }
    if (q->rc == AD_E_TOO_LARGE)
        return ad_fail(err, AD_E_FILTER, "filter too large to compile into SQL");
    if (q->rc) return ad_fail(err, q->rc, "building the query failed");
    return AD_OK;
}
