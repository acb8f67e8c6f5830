/*
 * meta_mongo_bson.c — the pure half of the MongoDB meta store adapter: JSON
 * documents to BSON and back, filter trees to MongoDB queries, sort orders,
 * and libmongoc's errors to ad_code (see meta_mongo_bson.h).
 *
 * The JSON-to-BSON walk is written here rather than left to libbson's JSON
 * reader because field names must be escaped on the way (see the header)
 * and integers must land in the BSON type the filter language's $type
 * expects (int32 when they fit, int64 otherwise).
 *
 * How a filter maps. filter.c implements MongoDB's matching semantics for
 * the operator subset the registry accepts, and each node of the tree maps
 * to the MongoDB operator of the same name ({path: {$op: arg}}, $and, $or,
 * $nor, $not, $elemMatch in value or document form). The adapter still
 * cannot run a MongoDB server in its tests (Debian packages none), so it
 * trusts MongoDB's answer as final ("exact") only for the operators whose
 * semantics are plainly documented and equal to ad_filter_match's:
 *
 *   $eq $ne $gt $gte $lt $lte $in $nin with scalar operands (string,
 *   number, bool; null only on a top-level field, and never in a range),
 *   $exists, $type, $size — on paths without numeric parts — and
 *   $and/$or/$nor/$not over those.
 *
 * Everything else is kept only as a narrowing condition and every candidate
 * is evaluated again with ad_filter_match:
 *
 *   - numeric path parts ("files.0.x": both an index and a field name);
 *   - null ("null or missing") on a dotted path: what a path through
 *     arrays yields as missing is the subtlest part of MongoDB's matcher;
 *     $gt/$gte/$lt/$lte with null are not sent at all;
 *   - array or object operands of $eq/$in (field order, nested arrays);
 *   - $all and $elemMatch;
 *   - $regex: MongoDB's regex engine (PCRE, or PCRE2 with other options
 *     in later servers) may treat \w, \d, \b, POSIX classes, Unicode
 *     properties and (*VERB) settings differently from our PCRE2 (UTF
 *     mode, no UCP), so a pattern with '\', "[:" or "(*" is not sent at
 *     all; plain patterns are sent only to narrow.
 *
 * A condition that is only narrowing can be left in where it stands for
 * "at least these documents", never under a negation: $ne/$nin/$exists:
 * false, $not and $nor are sent only when what they negate is exact, and
 * are otherwise left out (the query then matches more, never less).
 * Comparisons with array or object operands are never sent (MongoDB
 * compares those by BSON type order and escaped field names would order
 * differently).
 */
#include "store/meta_mongo_bson.h"

#include <mongoc/mongoc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------------------ */
/* Field names                                                              */
/* ------------------------------------------------------------------------ */

/* The escape of byte c at position i of a key, or NULL to keep it. */
static const char *escape_of(char c, size_t i, bool top)
{
    if (c == '%') return "%25";
    if (c == '.') return "%2E";
    if (c == '\0') return "%00";
    if (i == 0 && c == '$') return "%24";
    if (i == 0 && top && c == '_') return "%5F";
    return NULL;
}

static bool key_plain(const char *key, size_t len, bool top)
{
    if (len == 0) return false;
    for (size_t i = 0; i < len; i++)
        if (escape_of(key[i], i, top)) return false;
    return true;
}

ad_code ad_mongo_key_escape(const char *key, size_t len, bool top, ad_buf *out)
{
    size_t start = 0;
    ad_code rc = AD_OK;
    if (len == 0) return ad_buf_append(out, "%", 1);
    for (size_t i = 0; i < len && !rc; i++) {
        const char *esc = escape_of(key[i], i, top);
        if (!esc) continue;
        rc = ad_buf_append(out, key + start, i - start);
        if (!rc) rc = ad_buf_append(out, esc, 3);
        start = i + 1;
    }
    if (!rc) rc = ad_buf_append(out, key + start, len - start);
    return rc;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

ad_code ad_mongo_key_unescape(const char *key, size_t len, ad_buf *out)
{
    ad_code rc = AD_OK;
    if (len == 1 && key[0] == '%') return AD_OK; /* the empty key */
    for (size_t i = 0; i < len && !rc; i++) {
        char c = key[i];
        if (c == '%') {
            int hi = i + 2 < len ? hexval(key[i + 1]) : -1;
            int lo = hi >= 0 ? hexval(key[i + 2]) : -1;
            if (lo < 0) return AD_E_BACKEND;
            c = (char)(hi * 16 + lo);
            i += 2;
        }
        rc = ad_buf_append(out, &c, 1);
    }
    return rc;
}

ad_code ad_mongo_path_escape(const char *path, bool top, ad_buf *out)
{
    const char *p = path;
    ad_code rc = AD_OK;
    for (bool first = true; !rc; first = false) {
        size_t n = strcspn(p, ".");
        if (!first) rc = ad_buf_append(out, ".", 1);
        if (!rc) rc = ad_mongo_key_escape(p, n, top && first, out);
        if (!p[n]) break;
        p += n + 1;
    }
    return rc;
}

/* ------------------------------------------------------------------------ */
/* JSON to BSON                                                             */
/* ------------------------------------------------------------------------ */

static ad_code too_large(ad_error *err)
{
    return ad_fail(err, AD_E_TOO_LARGE, "document is over the BSON size limit");
}

static ad_code append_object(bson_t *b, const json_t *obj, bool top, int depth, ad_error *err);

/* Appends one field of an object, escaping its key when it needs it. */
static ad_code append_field(bson_t *b, const char *key, size_t keylen, const json_t *v, bool top,
                            int depth, ad_error *err)
{
    ad_buf k;
    ad_code rc;
    if (key_plain(key, keylen, top)) return ad_mongo_append_value(b, key, keylen, v, depth, err);
    ad_buf_init(&k, 3 * keylen + 2);
    rc = ad_mongo_key_escape(key, keylen, top, &k);
    if (rc) {
        ad_buf_free(&k);
        return ad_fail(err, rc, "out of memory escaping a field name");
    }
    rc = ad_mongo_append_value(b, k.data, k.len, v, depth, err);
    ad_buf_free(&k);
    return rc;
}

static ad_code append_object(bson_t *b, const json_t *obj, bool top, int depth, ad_error *err)
{
    const char *key;
    size_t keylen;
    const json_t *v;
    json_object_keylen_foreach((json_t *)obj, key, keylen, v)
    {
        ad_code rc = append_field(b, key, keylen, v, top, depth, err);
        if (rc) return rc;
    }
    return AD_OK;
}

static ad_code append_array(bson_t *b, const json_t *arr, int depth, ad_error *err)
{
    for (size_t i = 0; i < json_array_size(arr); i++) {
        char buf[16];
        const char *key;
        size_t n = bson_uint32_to_string((uint32_t)i, &key, buf, sizeof(buf));
        ad_code rc = ad_mongo_append_value(b, key, n, json_array_get(arr, i), depth, err);
        if (rc) return rc;
    }
    return AD_OK;
}

ad_code ad_mongo_append_value(bson_t *b, const char *key, size_t keylen, const json_t *v, int depth,
                              ad_error *err)
{
    bson_t child;
    bool ok = true;
    ad_code rc = AD_OK;
    int kl = (int)keylen;
    if (keylen > INT32_MAX / 2) return too_large(err);
    switch (json_typeof(v)) {
    case JSON_OBJECT:
    case JSON_ARRAY:
        if (depth >= AD_MONGO_MAX_DEPTH)
            return ad_fail(err, AD_E_INVALID, "document is nested more than %d levels deep",
                           AD_MONGO_MAX_DEPTH);
        if (json_is_object(v)) {
            if (!bson_append_document_begin(b, key, kl, &child)) return too_large(err);
            rc = append_object(&child, v, false, depth + 1, err);
            ok = bson_append_document_end(b, &child);
        } else {
            if (!bson_append_array_begin(b, key, kl, &child)) return too_large(err);
            rc = append_array(&child, v, depth + 1, err);
            ok = bson_append_array_end(b, &child);
        }
        if (rc) return rc;
        break;
    case JSON_STRING:
        if (json_string_length(v) > INT32_MAX / 2) return too_large(err);
        ok = bson_append_utf8(b, key, kl, json_string_value(v), (int)json_string_length(v));
        break;
    case JSON_INTEGER: {
        json_int_t i = json_integer_value(v);
        if (i >= INT32_MIN && i <= INT32_MAX)
            ok = bson_append_int32(b, key, kl, (int32_t)i);
        else
            ok = bson_append_int64(b, key, kl, (int64_t)i);
        break;
    }
    case JSON_REAL:
        ok = bson_append_double(b, key, kl, json_real_value(v));
        break;
    case JSON_TRUE:
    case JSON_FALSE:
        ok = bson_append_bool(b, key, kl, json_is_true(v));
        break;
    case JSON_NULL:
        ok = bson_append_null(b, key, kl);
        break;
    }
    return ok ? AD_OK : too_large(err);
}

ad_code ad_mongo_append_fields(bson_t *b, const json_t *doc, ad_error *err)
{
    if (!json_is_object(doc)) return ad_fail(err, AD_E_INVALID, "document is not a JSON object");
    return append_object(b, doc, true, 1, err);
}

ad_code ad_mongo_asset_bson(const json_t *doc, int64_t seq, int64_t rev, int64_t mtime_ms,
                            const char *json, size_t len, bson_t *out, ad_error *err)
{
    ad_code rc;
    bson_init(out);
    if (len > AD_MONGO_MAX_BSON)
        return ad_fail(err, AD_E_TOO_LARGE,
                       "document is %zu bytes of JSON; MongoDB stores at most %d bytes", len,
                       AD_MONGO_MAX_BSON);
    if (seq >= 0 && !BSON_APPEND_INT64(out, AD_MONGO_F_SEQ, seq)) return too_large(err);
    rc = ad_mongo_append_fields(out, doc, err);
    if (rc) return rc;
    if (!BSON_APPEND_INT64(out, AD_MONGO_F_REV, rev) ||
        !BSON_APPEND_DATE_TIME(out, AD_MONGO_F_MTIME, mtime_ms) ||
        !bson_append_utf8(out, AD_MONGO_F_JSON, -1, json, (int)len))
        return too_large(err);
    if (out->len > AD_MONGO_MAX_BSON)
        return ad_fail(err, AD_E_TOO_LARGE,
                       "document is %u bytes as BSON (its fields and its JSON text); MongoDB "
                       "stores at most %d bytes",
                       out->len, AD_MONGO_MAX_BSON);
    return AD_OK;
}

/* ------------------------------------------------------------------------ */
/* BSON to JSON                                                             */
/* ------------------------------------------------------------------------ */

static ad_code iter_to_json(bson_iter_t *it, bool is_array, bool top, int depth, json_t *dst,
                            ad_error *err);

static ad_code value_to_json(bson_iter_t *it, int depth, json_t **out, ad_error *err)
{
    bson_iter_t child;
    uint32_t n;
    const char *s;
    *out = NULL;
    switch (bson_iter_type(it)) {
    case BSON_TYPE_UTF8:
        s = bson_iter_utf8(it, &n);
        *out = json_stringn(s, n);
        break;
    case BSON_TYPE_INT32:
        *out = json_integer(bson_iter_int32(it));
        break;
    case BSON_TYPE_INT64:
        *out = json_integer(bson_iter_int64(it));
        break;
    case BSON_TYPE_DOUBLE:
        *out = json_real(bson_iter_double(it));
        if (!*out)
            return ad_fail(err, AD_E_BACKEND, "field \"%s\" holds a number JSON cannot hold",
                           bson_iter_key(it));
        break;
    case BSON_TYPE_BOOL:
        *out = json_boolean(bson_iter_bool(it));
        break;
    case BSON_TYPE_NULL:
        *out = json_null();
        break;
    case BSON_TYPE_DOCUMENT:
    case BSON_TYPE_ARRAY: {
        bool arr = bson_iter_type(it) == BSON_TYPE_ARRAY;
        ad_code rc;
        if (depth >= AD_MONGO_MAX_DEPTH)
            return ad_fail(err, AD_E_BACKEND, "stored document is nested too deep");
        if (!bson_iter_recurse(it, &child))
            return ad_fail(err, AD_E_BACKEND, "stored document is corrupt");
        *out = arr ? json_array() : json_object();
        if (!*out) break;
        rc = iter_to_json(&child, arr, false, depth + 1, *out, err);
        if (rc) {
            json_decref(*out);
            *out = NULL;
            return rc;
        }
        break;
    }
    default:
        return ad_fail(err, AD_E_BACKEND, "field \"%s\" has BSON type 0x%02x, which JSON has not",
                       bson_iter_key(it), (unsigned)bson_iter_type(it));
    }
    return *out ? AD_OK : ad_fail(err, AD_E_NOMEM, "out of memory reading a document");
}

static ad_code iter_to_json(bson_iter_t *it, bool is_array, bool top, int depth, json_t *dst,
                            ad_error *err)
{
    while (bson_iter_next(it)) {
        const char *key = bson_iter_key(it);
        size_t keylen = bson_iter_key_len(it);
        json_t *v;
        ad_code rc;
        if (top && key[0] == '_') continue; /* the adapter's own fields */
        rc = value_to_json(it, depth, &v, err);
        if (rc) return rc;
        if (is_array) {
            if (json_array_append_new(dst, v)) return ad_fail(err, AD_E_NOMEM, "out of memory");
            continue;
        }
        ad_buf k;
        ad_buf_init(&k, keylen + 1);
        rc = ad_mongo_key_unescape(key, keylen, &k);
        if (rc)
            json_decref(v);
        else if (json_object_setn_new(dst, k.data ? k.data : "", k.len, v)) /* takes v */
            rc = AD_E_NOMEM;
        ad_buf_free(&k);
        if (rc == AD_E_BACKEND)
            return ad_fail(err, rc, "field \"%s\" is not an escaped field name", key);
        if (rc) return ad_fail(err, rc, "out of memory reading a document");
    }
    return AD_OK;
}

ad_code ad_mongo_to_json(const bson_t *b, bool top, json_t **out, ad_error *err)
{
    bson_iter_t it;
    ad_code rc;
    *out = NULL;
    if (!bson_iter_init(&it, b)) return ad_fail(err, AD_E_BACKEND, "stored document is corrupt");
    json_t *obj = json_object();
    if (!obj) return ad_fail(err, AD_E_NOMEM, "out of memory");
    rc = iter_to_json(&it, false, top, 1, obj, err);
    if (rc) {
        json_decref(obj);
        return rc;
    }
    *out = obj;
    return AD_OK;
}

/* ------------------------------------------------------------------------ */
/* Filters                                                                  */
/* ------------------------------------------------------------------------ */

typedef struct compiler {
    ad_error *err;
    ad_code rc; /* the first failure (out of memory, over the BSON limit) */
} compiler;

static void cfail(compiler *c, ad_code rc, const char *what)
{
    if (!c->rc) c->rc = ad_fail(c->err, rc, "building the MongoDB query: %s", what);
}

static bool scalar(const json_t *v)
{
    return !json_is_object(v) && !json_is_array(v);
}

static bool scalar_list(const json_t *a)
{
    for (size_t i = 0; i < json_array_size(a); i++)
        if (!scalar(json_array_get(a, i))) return false;
    return true;
}

/* A null operand, or a list holding null: "null or missing". */
static bool has_null(const json_t *v)
{
    if (json_is_null(v)) return true;
    for (size_t i = 0; i < json_array_size(v); i++)
        if (json_is_null(json_array_get(v, i))) return true;
    return false;
}

/* No all-digit part: nothing that MongoDB could read as an array index. */
static bool path_plain(const char *path)
{
    const char *p = path;
    while (*p) {
        size_t n = strcspn(p, "."), i;
        for (i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        }
        if (n > 0 && i == n) return false;
        p += n;
        if (*p) p++;
    }
    return true;
}

/* A pattern whose meaning cannot depend on the regex engine's version or
 * Unicode options: no escapes, no POSIX classes, no (*VERB)s. */
static bool regex_plain(const char *pattern)
{
    return !strchr(pattern, '\\') && !strstr(pattern, "[:") && !strstr(pattern, "(*");
}

/* The path a field node (predicate, NOT, ELEM_MATCH, AND of those) is on. */
static const char *node_path(const ad_filter *f)
{
    if (f->path) return f->path;
    return f->nkids ? node_path(f->kids[0]) : "";
}

static void put_value(compiler *c, bson_t *b, const char *key, const json_t *v)
{
    ad_error e = {0};
    ad_code rc = ad_mongo_append_value(b, key, strlen(key), v, 3, &e);
    if (rc) cfail(c, rc, e.msg);
}

static void put_doc(compiler *c, bson_t *b, const char *key, const bson_t *child)
{
    if (!bson_append_document(b, key, -1, child)) cfail(c, AD_E_TOO_LARGE, "over the BSON limit");
}

static bool doc_cond(compiler *c, const ad_filter *f, bool top, bson_t *q, bool *exact);
static bool ops_of(compiler *c, const ad_filter *f, bson_t *ops, bool *exact);

static const char *op_name(ad_fop op)
{
    switch (op) {
    case AD_FOP_EQ:
        return "$eq";
    case AD_FOP_NE:
        return "$ne";
    case AD_FOP_GT:
        return "$gt";
    case AD_FOP_GTE:
        return "$gte";
    case AD_FOP_LT:
        return "$lt";
    case AD_FOP_LTE:
        return "$lte";
    case AD_FOP_IN:
        return "$in";
    case AD_FOP_NIN:
        return "$nin";
    case AD_FOP_EXISTS:
        return "$exists";
    case AD_FOP_REGEX:
        return "$regex";
    case AD_FOP_ALL:
        return "$all";
    case AD_FOP_SIZE:
        return "$size";
    case AD_FOP_TYPE:
        return "$type";
    case AD_FOP_ELEM_MATCH:
        return "$elemMatch";
    default:
        return "";
    }
}

/* $elemMatch: the kid compiled in value form (an operator object on the
 * element) or document form (a query on the element). */
static bool elem_match_ops(compiler *c, const ad_filter *f, bson_t *ops)
{
    const ad_filter *kid = f->kids[0];
    bson_t inner = BSON_INITIALIZER;
    bool ix = false, emitted;
    if (ad_filter_elem_value_form(kid))
        emitted = ops_of(c, kid, &inner, &ix);
    else
        emitted = doc_cond(c, kid, false, &inner, &ix);
    if (emitted) put_doc(c, ops, "$elemMatch", &inner);
    bson_destroy(&inner);
    return emitted;
}

/* One predicate as "$op": arg appended to ops. Returns whether it was
 * sent; *exact whether MongoDB's answer for it is final. */
static bool pred_ops(compiler *c, const ad_filter *f, bson_t *ops, bool *exact)
{
    /* "null or missing" is documented for a field of the document; what a
     * dotted path through arrays yields as "missing" is where engines
     * differ most, so null on a dotted path only narrows */
    bool plain = path_plain(f->path), null_ok = !has_null(f->arg) || !strchr(f->path, '.');
    const char *name = op_name(f->op);
    *exact = false;
    if (bson_has_field(ops, name)) return false; /* never two of one operator */
    switch (f->op) {
    case AD_FOP_EQ:
        *exact = plain && null_ok && scalar(f->arg);
        break;
    case AD_FOP_NE: /* negations only when exact */
        if (!(plain && null_ok && scalar(f->arg))) return false;
        *exact = true;
        break;
    case AD_FOP_GT:
    case AD_FOP_GTE:
    case AD_FOP_LT:
    case AD_FOP_LTE: /* with null: ours match null/missing ($gte, $lte) or nothing */
        if (!scalar(f->arg) || json_is_null(f->arg)) return false;
        *exact = plain;
        break;
    case AD_FOP_IN:
        *exact = plain && null_ok && scalar_list(f->arg);
        break;
    case AD_FOP_NIN:
        if (!(plain && null_ok && scalar_list(f->arg))) return false;
        *exact = true;
        break;
    case AD_FOP_EXISTS:
        if (json_is_false(f->arg) && !plain) return false;
        *exact = plain;
        break;
    case AD_FOP_SIZE:
        *exact = plain;
        break;
    case AD_FOP_TYPE:
        *exact = plain;
        put_value(c, ops, name, json_array_size(f->arg) == 1 ? json_array_get(f->arg, 0) : f->arg);
        return true;
    case AD_FOP_ALL:
        break;
    case AD_FOP_REGEX:
        if (!regex_plain(json_string_value(f->arg))) return false;
        put_value(c, ops, name, f->arg);
        if (f->regex_opts && *f->regex_opts)
            if (!BSON_APPEND_UTF8(ops, "$options", f->regex_opts))
                cfail(c, AD_E_TOO_LARGE, "over the BSON limit");
        return true;
    case AD_FOP_ELEM_MATCH:
        return elem_match_ops(c, f, ops);
    default:
        return false;
    }
    put_value(c, ops, name, f->arg);
    return true;
}

/* The operator object of a field node: what goes in {path: {...}}.
 * Appends to ops; returns whether anything was sent. */
static bool ops_of(compiler *c, const ad_filter *f, bson_t *ops, bool *exact)
{
    switch (f->op) {
    case AD_FOP_AND: { /* predicates on one path */
        bool any = false, all = true;
        for (size_t i = 0; i < f->nkids; i++) {
            bool kx = false;
            if (ops_of(c, f->kids[i], ops, &kx))
                any = true;
            else
                kx = false;
            all = all && kx;
        }
        *exact = any && all;
        return any;
    }
    case AD_FOP_NOT: {
        bson_t inner = BSON_INITIALIZER;
        bool kx = false, sent = false;
        if (!bson_has_field(ops, "$not") && ops_of(c, f->kids[0], &inner, &kx) && kx) {
            put_doc(c, ops, "$not", &inner);
            sent = true;
        }
        bson_destroy(&inner);
        *exact = sent;
        return sent;
    }
    case AD_FOP_TRUE:
    case AD_FOP_OR:
    case AD_FOP_NOR:
        *exact = false;
        return false;
    default:
        return pred_ops(c, f, ops, exact);
    }
}

/* {$and|$or|$nor: [kid queries]} */
static void put_list(compiler *c, bson_t *q, const char *name, bson_t *kids, size_t n)
{
    bson_t arr;
    if (!bson_append_array_begin(q, name, -1, &arr)) {
        cfail(c, AD_E_TOO_LARGE, "over the BSON limit");
        return;
    }
    for (size_t i = 0; i < n; i++) {
        char buf[16];
        const char *key;
        bson_uint32_to_string((uint32_t)i, &key, buf, sizeof(buf));
        if (!bson_append_document(&arr, key, -1, &kids[i]))
            cfail(c, AD_E_TOO_LARGE, "over the BSON limit");
    }
    if (!bson_append_array_end(q, &arr)) cfail(c, AD_E_TOO_LARGE, "over the BSON limit");
}

/* $and $or $nor: each kid a query of its own. */
static bool logical_cond(compiler *c, const ad_filter *f, bool top, bson_t *q, bool *exact)
{
    bson_t *kids = calloc(f->nkids ? f->nkids : 1, sizeof(*kids));
    size_t n = 0;
    bool all_exact = true, all_sent = true, sent = false;
    if (!kids) {
        cfail(c, AD_E_NOMEM, "out of memory");
        *exact = false;
        return false;
    }
    for (size_t i = 0; i < f->nkids; i++) {
        bool kx = false;
        bson_init(&kids[n]);
        if (doc_cond(c, f->kids[i], top, &kids[n], &kx)) {
            n++;
        } else {
            bson_destroy(&kids[n]);
            all_sent = false;
        }
        all_exact = all_exact && kx;
    }
    switch (f->op) {
    case AD_FOP_AND: /* what was sent narrows; TRUE kids are exact and send nothing */
        if (n == 1)
            bson_concat(q, &kids[0]);
        else if (n > 1)
            put_list(c, q, "$and", kids, n);
        sent = n > 0;
        *exact = all_exact;
        break;
    case AD_FOP_OR: /* one kid left out could match anything */
        sent = all_sent && n > 0;
        if (sent) put_list(c, q, "$or", kids, n);
        *exact = sent && all_exact;
        break;
    default: /* NOR: a negation, only of exact kids */
        sent = all_sent && all_exact && n > 0;
        if (sent) put_list(c, q, "$nor", kids, n);
        *exact = sent;
        break;
    }
    for (size_t i = 0; i < n; i++) bson_destroy(&kids[i]);
    free(kids);
    return sent;
}

/* A query on a document (top: an asset; else an array element, inside
 * $elemMatch), appended to q. Returns whether a condition was sent; when
 * not, the query matches every document (exactly so only for TRUE). */
static bool doc_cond(compiler *c, const ad_filter *f, bool top, bson_t *q, bool *exact)
{
    bson_t ops = BSON_INITIALIZER;
    ad_buf path;
    bool sent;
    switch (f->op) {
    case AD_FOP_TRUE:
        *exact = true;
        return false;
    case AD_FOP_AND:
    case AD_FOP_OR:
    case AD_FOP_NOR:
        return logical_cond(c, f, top, q, exact);
    default:
        break;
    }
    sent = ops_of(c, f, &ops, exact);
    if (sent) {
        ad_buf_init(&path, 3 * AD_FILTER_MAX_PATH + 4);
        if (ad_mongo_path_escape(node_path(f), top, &path))
            cfail(c, AD_E_NOMEM, "out of memory");
        else
            put_doc(c, q, path.data, &ops);
        ad_buf_free(&path);
    } else {
        *exact = false;
    }
    bson_destroy(&ops);
    return sent;
}

ad_code ad_mongo_filter_bson(const ad_filter *f, bson_t *out, bool *exact, ad_error *err)
{
    compiler c = {err, AD_OK};
    bool x = false;
    bson_init(out);
    *exact = false;
    if (!f) return ad_fail(err, AD_E_INTERNAL, "no filter");
    doc_cond(&c, f, true, out, &x);
    if (c.rc) return c.rc;
    *exact = x;
    return AD_OK;
}

/* ------------------------------------------------------------------------ */
/* Sort                                                                     */
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

ad_code ad_mongo_sort_bson(const char *sort_path, bool desc, bson_t *out, ad_error *err)
{
    int dir = desc ? -1 : 1;
    ad_buf path;
    bool ok;
    bson_init(out);
    if (!sort_path) {
        BSON_APPEND_INT32(out, AD_MONGO_F_SEQ, 1);
        return AD_OK;
    }
    if (strlen(sort_path) > AD_FILTER_MAX_PATH || !sort_path_ok(sort_path))
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "sort: \"%.64s\" is not a field path (letters, digits, _ and .)", sort_path);
    ad_buf_init(&path, 3 * AD_FILTER_MAX_PATH + 4);
    ok = ad_mongo_path_escape(sort_path, true, &path) == AD_OK &&
         bson_append_int32(out, path.data, -1, dir) && BSON_APPEND_INT32(out, AD_MONGO_F_SEQ, dir);
    ad_buf_free(&path);
    return ok ? AD_OK : ad_fail(err, AD_E_NOMEM, "out of memory");
}

/* ------------------------------------------------------------------------ */
/* Errors                                                                   */
/* ------------------------------------------------------------------------ */

/* Server error codes (src/mongo/base/error_codes.yml) that mean "no
 * usable server right now": network, shutdown, not primary, auth. */
static const uint32_t unavailable_codes[] = {
    6,     /* HostUnreachable */
    7,     /* HostNotFound */
    18,    /* AuthenticationFailed */
    89,    /* NetworkTimeout */
    91,    /* ShutdownInProgress */
    189,   /* PrimarySteppedDown */
    9001,  /* SocketException */
    10058, /* LegacyNotPrimary */
    10107, /* NotWritablePrimary */
    11600, /* InterruptedAtShutdown */
    11602, /* InterruptedDueToReplStateChange */
    13435, /* NotPrimaryNoSecondaryOk */
    13436, /* NotPrimaryOrSecondary */
};

/* Domains whose codes are the server's own error codes. */
static bool server_domain(uint32_t domain)
{
    return domain == MONGOC_ERROR_SERVER || domain == MONGOC_ERROR_QUERY ||
           domain == MONGOC_ERROR_COMMAND || domain == MONGOC_ERROR_COLLECTION ||
           domain == MONGOC_ERROR_WRITE_CONCERN || domain == MONGOC_ERROR_INSERT;
}

ad_code ad_mongo_error_code(uint32_t domain, uint32_t code)
{
    switch (domain) {
    case MONGOC_ERROR_SERVER_SELECTION:
    case MONGOC_ERROR_STREAM:
        return AD_E_UNAVAILABLE;
    case MONGOC_ERROR_CLIENT:
        if (code == MONGOC_ERROR_CLIENT_AUTHENTICATE || code == MONGOC_ERROR_CLIENT_NOT_READY ||
            code == MONGOC_ERROR_CLIENT_NO_ACCEPTABLE_PEER)
            return AD_E_UNAVAILABLE;
        if (code == MONGOC_ERROR_CLIENT_TOO_BIG) return AD_E_TOO_LARGE;
        return AD_E_BACKEND;
    default:
        break;
    }
    if (!server_domain(domain)) return AD_E_BACKEND;
    if (code == 11000 || code == 11001 || code == 12582) return AD_E_EXISTS; /* DuplicateKey */
    if (code == 10334) return AD_E_TOO_LARGE; /* BSONObjectTooLarge */
    for (size_t i = 0; i < sizeof(unavailable_codes) / sizeof(unavailable_codes[0]); i++)
        if (code == unavailable_codes[i]) return AD_E_UNAVAILABLE;
    return AD_E_BACKEND;
}

ad_code ad_mongo_fail(const bson_error_t *e, const char *what, ad_error *err)
{
    ad_code rc = ad_mongo_error_code(e->domain, e->code);
    if (rc == AD_E_UNAVAILABLE)
        return ad_fail(err, rc, "MongoDB unavailable while %s: %s", what, e->message);
    return ad_fail(err, rc, "MongoDB failed while %s: %s (error %u.%u)", what, e->message,
                   (unsigned)e->domain, (unsigned)e->code);
}
