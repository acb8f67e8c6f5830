/*
 * yaml.c — assetctl's manifest reader (a YAML stream or JSON → a list of
 * jansson documents) and its YAML writer (jansson → libyaml's emitter).
 *
 * libyaml does the scanning and parsing; this file turns its event stream
 * into jansson values. libyaml's own document loader is not used because
 * it gives no way to bound what aliases expand to: here every alias is
 * expanded into a copy whose size counts against max_nodes and max_text, so
 * a "billion laughs" stream stops at the limit with a clear message,
 * and depth is checked as each mapping or sequence opens (libyaml itself
 * keeps an explicit stack and would follow any nesting).
 *
 * Scalars are typed as the YAML 1.2 core schema says (libyaml only
 * parses): a plain scalar may be null, a boolean, an integer or a float;
 * quoted, literal and folded scalars are strings; mapping keys are always
 * their text (JSON keys are strings). YAML 1.1's yes/no/on/off and 0b1 are
 * strings here, but the writer quotes such strings so that a 1.1 reader
 * (PyYAML, yaml.v2) reads back what was written. .inf and .nan and
 * integers beyond 64 bits have no JSON form and are refused with their
 * place; so are NUL characters (JSON input refuses \u0000 too), tags other
 * than the core schema's and anchors used before they are complete.
 *
 * JSON input goes to jansson instead (a first non-blank byte '{' or '['),
 * so its errors read like those of `assetctl create`; the same depth,
 * node and document limits apply after parsing.
 */
#include "cli/yaml.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <yaml.h>

const struct yml_limits yml_default_limits = {
    .max_bytes = 16u << 20, /* manifests are small; 16 MiB is generous */
    .max_depth = 64,
    .max_docs = 1000,
    .max_nodes = 1000000,
    .max_text = 64u << 20,
};

#define TAG_PREFIX "tag:yaml.org,2002:"

/* ------------------------------------------------------- scalar typing */

enum scalar_type { SC_STR, SC_NULL, SC_BOOL, SC_INT, SC_OCT, SC_HEX, SC_FLOAT, SC_NONFINITE };

static bool is_one_of(const char *s, size_t n, const char *const *words)
{
    for (; *words; words++)
        if (strlen(*words) == n && !memcmp(*words, s, n)) return true;
    return false;
}

static size_t digits(const char *s, size_t n, size_t i, const char *set)
{
    size_t j = i;
    while (j < n && s[j] && strchr(set, s[j])) j++;
    return j - i;
}

#define DEC "0123456789"

/* [-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)? */
static bool is_core_float(const char *s, size_t n)
{
    size_t i = 0, d;
    if (i < n && (s[i] == '-' || s[i] == '+')) i++;
    if (i < n && s[i] == '.') {
        if (!(d = digits(s, n, i + 1, DEC))) return false;
        i += 1 + d;
    } else {
        if (!(d = digits(s, n, i, DEC))) return false;
        i += d;
        if (i < n && s[i] == '.') i += 1 + digits(s, n, i + 1, DEC);
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '-' || s[i] == '+')) i++;
        if (!(d = digits(s, n, i, DEC))) return false;
        i += d;
    }
    return i == n;
}

/* The type the YAML 1.2 core schema gives plain scalar s. */
static enum scalar_type core_type(const char *s, size_t n)
{
    static const char *const nulls[] = {"~", "null", "Null", "NULL", NULL};
    static const char *const bools[] = {"true", "True", "TRUE", "false", "False", "FALSE", NULL};
    static const char *const nonfinite[] = {".inf",  ".Inf",  ".INF",  "+.inf", "+.Inf",
                                            "+.INF", "-.inf", "-.Inf", "-.INF", ".nan",
                                            ".NaN",  ".NAN",  NULL};
    if (n == 0 || is_one_of(s, n, nulls)) return SC_NULL;
    if (is_one_of(s, n, bools)) return SC_BOOL;
    size_t sign = (s[0] == '-' || s[0] == '+');
    if (n > sign && digits(s, n, sign, DEC) == n - sign) return SC_INT;
    if (n > 2 && s[0] == '0' && s[1] == 'o' && digits(s, n, 2, "01234567") == n - 2) return SC_OCT;
    if (n > 2 && s[0] == '0' && s[1] == 'x' && digits(s, n, 2, DEC "abcdefABCDEF") == n - 2)
        return SC_HEX;
    if (is_core_float(s, n)) return SC_FLOAT;
    if (is_one_of(s, n, nonfinite)) return SC_NONFINITE;
    return SC_STR;
}

int yml_needs_quotes(const char *s, size_t n)
{
    /* YAML 1.1's booleans, its merge and value keys */
    static const char *const yaml11[] = {"y",   "Y",   "yes", "Yes", "YES", "n",  "N",
                                         "no",  "No",  "NO",  "on",  "On",  "ON", "off",
                                         "Off", "OFF", "<<",  "=",   NULL};
    if (core_type(s, n) != SC_STR || is_one_of(s, n, yaml11)) return 1;
    /* numbers, times and dates of YAML 1.1 (1_000, 0b1, 1:30, 2024-01-01, .5) */
    if (s[0] >= '0' && s[0] <= '9') return 1;
    if (n > 1 && strchr("+-.", s[0]) && ((s[1] >= '0' && s[1] <= '9') || s[1] == '.')) return 1;
    return 0;
}

/* ------------------------------------------------------------- the loader */

struct anchor {
    char *name;
    json_t *value;
    size_t nodes; /* values in it, itself included */
    size_t bytes; /* bytes of its strings and keys */
};

struct frame {
    json_t *node;       /* the open mapping or sequence */
    char *key;          /* a mapping's key waiting for its value */
    char *anchor;       /* the node's anchor, registered when it closes */
    size_t start_nodes; /* ld->nodes when it opened */
    size_t start_bytes; /* ld->bytes when it opened */
};

struct loader {
    const struct yml_limits *lim;
    struct yml_error *err;
    struct frame *stack; /* lim->max_depth entries */
    int depth;
    struct anchor *anchors;
    size_t nanchors, anchors_cap;
    size_t nodes, bytes, ndocs; /* nodes and bytes: the whole stream, aliases expanded */
    json_t *docs, *root;
};

__attribute__((format(printf, 3, 4))) static int fail_at(struct yml_error *err, yaml_mark_t mark,
                                                         const char *fmt, ...)
{
    va_list ap;
    err->line = (int)mark.line + 1;
    err->column = (int)mark.column + 1;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
    return -1;
}

__attribute__((format(printf, 2, 3))) static int fail(struct yml_error *err, const char *fmt, ...)
{
    va_list ap;
    err->line = err->column = 0;
    va_start(ap, fmt);
    vsnprintf(err->text, sizeof err->text, fmt, ap);
    va_end(ap);
    return -1;
}

static void clear_anchors(struct loader *ld)
{
    for (size_t i = 0; i < ld->nanchors; i++) {
        free(ld->anchors[i].name);
        json_decref(ld->anchors[i].value);
    }
    ld->nanchors = 0;
}

static int add_anchor(struct loader *ld, const char *name, json_t *value, size_t nodes,
                      size_t bytes, yaml_mark_t mark)
{
    if (ld->nanchors == ld->anchors_cap) {
        size_t cap = ld->anchors_cap ? ld->anchors_cap * 2 : 16;
        struct anchor *a = realloc(ld->anchors, cap * sizeof *a);
        if (!a) return fail_at(ld->err, mark, "out of memory");
        ld->anchors = a;
        ld->anchors_cap = cap;
    }
    char *copy = strdup(name);
    if (!copy) return fail_at(ld->err, mark, "out of memory");
    ld->anchors[ld->nanchors++] = (struct anchor){copy, json_incref(value), nodes, bytes};
    return 0;
}

/* The latest anchor of that name (YAML lets a later one hide an earlier). */
static const struct anchor *find_anchor(const struct loader *ld, const char *name)
{
    for (size_t i = ld->nanchors; i-- > 0;)
        if (!strcmp(ld->anchors[i].name, name)) return &ld->anchors[i];
    return NULL;
}

/* Counts n more values holding bytes more bytes of text against the
 * limits of the stream; an alias counts all it copies. */
static int count_node(struct loader *ld, size_t n, size_t bytes, yaml_mark_t mark)
{
    if (n > ld->lim->max_nodes - ld->nodes)
        return fail_at(ld->err, mark, "more than %zu values once aliases are expanded (limit)",
                       ld->lim->max_nodes);
    if (bytes > ld->lim->max_text - ld->bytes)
        return fail_at(ld->err, mark,
                       "more than %zu bytes of text once aliases are expanded (limit)",
                       ld->lim->max_text);
    ld->nodes += n;
    ld->bytes += bytes;
    return 0;
}

/* Puts v (a new reference, always consumed) where it belongs: the
 * document's root, the next item of a sequence, or the value of the
 * pending key of a mapping. */
static int place(struct loader *ld, json_t *v, yaml_mark_t mark)
{
    if (ld->depth == 0) {
        json_decref(ld->root);
        ld->root = v;
        return 0;
    }
    struct frame *f = &ld->stack[ld->depth - 1];
    if (json_is_array(f->node)) {
        if (json_array_append_new(f->node, v)) return fail_at(ld->err, mark, "out of memory");
        return 0;
    }
    char *key = f->key;
    f->key = NULL;
    if (json_object_get(f->node, key)) {
        json_decref(v);
        fail_at(ld->err, mark, "duplicate key \"%.60s\" in a mapping", key);
        free(key);
        return -1;
    }
    int rc = json_object_set_new(f->node, key, v);
    free(key);
    return rc ? fail_at(ld->err, mark, "out of memory") : 0;
}

/* True when the innermost open node is a mapping waiting for a key. */
static bool wants_key(const struct loader *ld)
{
    return ld->depth > 0 && json_is_object(ld->stack[ld->depth - 1].node) &&
           !ld->stack[ld->depth - 1].key;
}

/* Converts a scalar of the given core type; NULL with err filled when it
 * has no JSON form. */
static json_t *typed_scalar(struct loader *ld, const char *s, size_t n, enum scalar_type t,
                            yaml_mark_t mark)
{
    char *end;
    errno = 0;
    switch (t) {
    case SC_NULL:
        return json_null();
    case SC_BOOL:
        return json_boolean(s[0] == 't' || s[0] == 'T');
    case SC_INT: {
        long long v = strtoll(s, &end, 10);
        if (errno) break;
        return json_integer(v);
    }
    case SC_OCT:
    case SC_HEX: {
        unsigned long long v = strtoull(s + 2, &end, t == SC_OCT ? 8 : 16);
        if (errno || v > INT64_MAX) break;
        return json_integer((json_int_t)v);
    }
    case SC_FLOAT: {
        double d = strtod(s, &end);
        if (!isfinite(d)) break;
        return json_real(d);
    }
    case SC_NONFINITE:
        fail_at(ld->err, mark, "%.*s has no JSON form (infinite or not a number)", (int)n, s);
        return NULL;
    case SC_STR:
        return json_stringn(s, n);
    }
    fail_at(ld->err, mark, "the number %.40s is out of range", s);
    return NULL;
}

/* The JSON value of a scalar event, typed by its tag or, when it has none
 * and is plain, by the core schema. */
static json_t *scalar_value(struct loader *ld, const yaml_event_t *ev)
{
    const char *s = (const char *)ev->data.scalar.value;
    size_t n = ev->data.scalar.length;
    const char *tag = (const char *)ev->data.scalar.tag;
    yaml_mark_t mark = ev->start_mark;
    enum scalar_type t;
    if (memchr(s, '\0', n)) {
        fail_at(ld->err, mark, "a NUL character (\\0) is not allowed in a value");
        return NULL;
    }
    if (tag && strcmp(tag, "!")) {
        size_t plen = strlen(TAG_PREFIX);
        const char *kind = tag + plen;
        enum scalar_type got = core_type(s, n);
        bool ok = true;
        if (strncmp(tag, TAG_PREFIX, plen) ||
            (strcmp(kind, "str") && strcmp(kind, "null") && strcmp(kind, "bool") &&
             strcmp(kind, "int") && strcmp(kind, "float"))) {
            fail_at(ld->err, mark, "unsupported tag %.60s on a scalar", tag);
            return NULL;
        }
        if (!strcmp(kind, "str")) {
            t = SC_STR;
        } else if (!strcmp(kind, "null")) {
            ok = got == SC_NULL, t = got;
        } else if (!strcmp(kind, "bool")) {
            ok = got == SC_BOOL, t = got;
        } else if (!strcmp(kind, "int")) {
            ok = got == SC_INT || got == SC_OCT || got == SC_HEX, t = got;
        } else {
            ok = got == SC_FLOAT || got == SC_INT || got == SC_NONFINITE;
            t = got == SC_INT ? SC_FLOAT : got;
        }
        if (!ok) {
            fail_at(ld->err, mark, "\"%.40s\" is not a valid !!%s", s, kind);
            return NULL;
        }
    } else {
        t = (!tag && ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE) ? core_type(s, n) : SC_STR;
    }
    json_t *v = typed_scalar(ld, s, n, t, mark);
    if (!v && t == SC_STR) fail_at(ld->err, mark, "the value is not valid UTF-8");
    return v;
}

static int on_scalar(struct loader *ld, const yaml_event_t *ev)
{
    const char *anchor = (const char *)ev->data.scalar.anchor;
    size_t n = ev->data.scalar.length;
    if (count_node(ld, 1, n, ev->start_mark)) return -1;
    json_t *v = scalar_value(ld, ev);
    if (!v) return -1;
    if (anchor && add_anchor(ld, anchor, v, 1, n, ev->start_mark)) {
        json_decref(v);
        return -1;
    }
    if (wants_key(ld)) {
        /* a key is its text, whatever type its value would have */
        json_decref(v);
        char *key = strndup((const char *)ev->data.scalar.value, ev->data.scalar.length);
        if (!key) return fail_at(ld->err, ev->start_mark, "out of memory");
        ld->stack[ld->depth - 1].key = key;
        return 0;
    }
    return place(ld, v, ev->start_mark);
}

static int on_alias(struct loader *ld, const yaml_event_t *ev)
{
    const char *name = (const char *)ev->data.alias.anchor;
    const struct anchor *a = find_anchor(ld, name);
    if (!a)
        return fail_at(ld->err, ev->start_mark, "alias *%.60s names no complete anchor before it",
                       name);
    if (wants_key(ld))
        return fail_at(ld->err, ev->start_mark, "an alias (*%.60s) cannot be a mapping key", name);
    if (count_node(ld, a->nodes, a->bytes, ev->start_mark)) return -1;
    json_t *copy = json_deep_copy(a->value);
    if (!copy) return fail_at(ld->err, ev->start_mark, "out of memory");
    return place(ld, copy, ev->start_mark);
}

static int on_open(struct loader *ld, const yaml_event_t *ev, bool mapping)
{
    const char *tag =
        (const char *)(mapping ? ev->data.mapping_start.tag : ev->data.sequence_start.tag);
    const char *anchor =
        (const char *)(mapping ? ev->data.mapping_start.anchor : ev->data.sequence_start.anchor);
    if (tag && strcmp(tag, "!") && strcmp(tag, mapping ? TAG_PREFIX "map" : TAG_PREFIX "seq"))
        return fail_at(ld->err, ev->start_mark, "unsupported tag %.60s on a %s", tag,
                       mapping ? "mapping" : "sequence");
    if (wants_key(ld))
        return fail_at(ld->err, ev->start_mark, "a mapping key must be a scalar, not a %s",
                       mapping ? "mapping" : "sequence");
    if (ld->depth >= ld->lim->max_depth)
        return fail_at(ld->err, ev->start_mark, "nested more than %d levels deep (limit)",
                       ld->lim->max_depth);
    if (count_node(ld, 1, 0, ev->start_mark)) return -1;
    json_t *node = mapping ? json_object() : json_array();
    char *a = anchor ? strdup(anchor) : NULL;
    if (!node || (anchor && !a)) {
        json_decref(node);
        free(a);
        return fail_at(ld->err, ev->start_mark, "out of memory");
    }
    ld->stack[ld->depth++] = (struct frame){node, NULL, a, ld->nodes - 1, ld->bytes};
    return 0;
}

static int on_close(struct loader *ld, const yaml_event_t *ev)
{
    struct frame f = ld->stack[--ld->depth];
    int rc = 0;
    free(f.key); /* never set: libyaml pairs every key with a value */
    if (f.anchor)
        rc = add_anchor(ld, f.anchor, f.node, ld->nodes - f.start_nodes, ld->bytes - f.start_bytes,
                        ev->start_mark);
    free(f.anchor);
    if (rc) {
        json_decref(f.node);
        return -1;
    }
    return place(ld, f.node, ev->start_mark);
}

static int on_document_start(struct loader *ld, const yaml_event_t *ev)
{
    if (++ld->ndocs > ld->lim->max_docs)
        return fail_at(ld->err, ev->start_mark, "more than %zu documents (limit)",
                       ld->lim->max_docs);
    clear_anchors(ld); /* anchors do not cross documents */
    return 0;
}

static int on_document_end(struct loader *ld, const yaml_event_t *ev)
{
    json_t *root = ld->root;
    ld->root = NULL;
    if (!root || json_is_null(root)) {
        json_decref(root);
        return 0;
    }
    return json_array_append_new(ld->docs, root) ? fail_at(ld->err, ev->start_mark, "out of memory")
                                                 : 0;
}

static int on_event(struct loader *ld, const yaml_event_t *ev)
{
    switch (ev->type) {
    case YAML_DOCUMENT_START_EVENT:
        return on_document_start(ld, ev);
    case YAML_DOCUMENT_END_EVENT:
        return on_document_end(ld, ev);
    case YAML_SCALAR_EVENT:
        return on_scalar(ld, ev);
    case YAML_ALIAS_EVENT:
        return on_alias(ld, ev);
    case YAML_SEQUENCE_START_EVENT:
        return on_open(ld, ev, false);
    case YAML_MAPPING_START_EVENT:
        return on_open(ld, ev, true);
    case YAML_SEQUENCE_END_EVENT:
    case YAML_MAPPING_END_EVENT:
        return on_close(ld, ev);
    default:
        return 0;
    }
}

/* Line and column (1-based) of byte offset off in text. */
static void place_of_offset(const char *text, size_t len, size_t off, struct yml_error *err)
{
    err->line = 1;
    err->column = 1;
    for (size_t i = 0; i < off && i < len; i++) {
        if (text[i] == '\n') {
            err->line++;
            err->column = 1;
        } else if (((unsigned char)text[i] & 0xC0) != 0x80) {
            err->column++;
        }
    }
}

static int parser_failure(const yaml_parser_t *p, const char *text, size_t len,
                          struct yml_error *err)
{
    if (p->error == YAML_MEMORY_ERROR) return fail(err, "out of memory");
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR) {
        place_of_offset(text, len, p->problem_offset, err);
        snprintf(err->text, sizeof err->text, "%s", problem);
        return -1;
    }
    if (p->context)
        return fail_at(err, p->problem_mark, "%s started at line %d column %d: %s", p->context,
                       (int)p->context_mark.line + 1, (int)p->context_mark.column + 1, problem);
    return fail_at(err, p->problem_mark, "%s", problem);
}

static int load_yaml(const char *text, size_t len, struct loader *ld)
{
    yaml_parser_t parser;
    yaml_event_t ev;
    int rc = 0;
    if (!yaml_parser_initialize(&parser)) return fail(ld->err, "out of memory");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    for (bool done = false; !done && !rc;) {
        if (!yaml_parser_parse(&parser, &ev)) {
            rc = parser_failure(&parser, text, len, ld->err);
            break;
        }
        done = ev.type == YAML_STREAM_END_EVENT;
        rc = on_event(ld, &ev);
        yaml_event_delete(&ev);
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* Depth and node count of a parsed JSON value, checked against lim. */
static int check_json(const json_t *v, int depth, size_t *nodes, const struct yml_limits *lim,
                      struct yml_error *err)
{
    if (++*nodes > lim->max_nodes) return fail(err, "more than %zu values (limit)", lim->max_nodes);
    if (!json_is_object(v) && !json_is_array(v)) return 0;
    if (depth >= lim->max_depth)
        return fail(err, "nested more than %d levels deep (limit)", lim->max_depth);
    if (json_is_array(v)) {
        for (size_t i = 0; i < json_array_size(v); i++)
            if (check_json(json_array_get(v, i), depth + 1, nodes, lim, err)) return -1;
        return 0;
    }
    const char *k;
    const json_t *m;
    json_object_foreach((json_t *)v, k, m)
    {
        if (check_json(m, depth + 1, nodes, lim, err)) return -1;
    }
    return 0;
}

static int load_json(const char *text, size_t len, struct loader *ld)
{
    json_error_t jerr;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) text += 3, len -= 3; /* jansson has no BOM */
    json_t *root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    size_t nodes = 0;
    if (!root) {
        ld->err->line = jerr.line > 0 ? jerr.line : 0;
        ld->err->column = jerr.column > 0 ? jerr.column : 0;
        snprintf(ld->err->text, sizeof ld->err->text, "invalid JSON: %s", jerr.text);
        return -1;
    }
    /* an array is a list of documents, each within the limits */
    int rc = 0;
    if (json_is_array(root)) {
        if (json_array_size(root) > ld->lim->max_docs)
            rc = fail(ld->err, "more than %zu documents (limit)", ld->lim->max_docs);
        for (size_t i = 0; !rc && i < json_array_size(root); i++) {
            json_t *d = json_array_get(root, i);
            rc = check_json(d, 0, &nodes, ld->lim, ld->err);
            if (!rc && !json_is_null(d) && json_array_append(ld->docs, d))
                rc = fail(ld->err, "out of memory");
        }
    } else {
        rc = check_json(root, 0, &nodes, ld->lim, ld->err);
        if (!rc && json_array_append(ld->docs, root)) rc = fail(ld->err, "out of memory");
    }
    json_decref(root);
    return rc;
}

static bool looks_like_json(const char *text, size_t len)
{
    size_t i = 0;
    if (len >= 3 && !memcmp(text, "\xEF\xBB\xBF", 3)) i = 3; /* a UTF-8 byte order mark */
    while (i < len && (text[i] == ' ' || text[i] == '\t' || text[i] == '\r' || text[i] == '\n'))
        i++;
    return i < len && (text[i] == '{' || text[i] == '[');
}

int yml_load(const char *text, size_t len, const struct yml_limits *lim, json_t **docs,
             struct yml_error *err)
{
    struct loader ld = {.lim = lim ? lim : &yml_default_limits, .err = err};
    int rc;
    *docs = NULL;
    *err = (struct yml_error){0};
    if (len > ld.lim->max_bytes)
        return fail(err, "larger than %zu bytes (limit)", ld.lim->max_bytes);
    ld.docs = json_array();
    ld.stack = calloc((size_t)(ld.lim->max_depth > 0 ? ld.lim->max_depth : 1), sizeof *ld.stack);
    if (!ld.docs || !ld.stack) {
        rc = fail(err, "out of memory");
    } else if (looks_like_json(text, len)) {
        rc = load_json(text, len, &ld);
    } else {
        rc = load_yaml(text, len, &ld);
    }
    while (ld.depth > 0) {
        struct frame *f = &ld.stack[--ld.depth];
        json_decref(f->node);
        free(f->key);
        free(f->anchor);
    }
    clear_anchors(&ld);
    free(ld.anchors);
    free(ld.stack);
    json_decref(ld.root);
    if (rc) {
        json_decref(ld.docs);
        return -1;
    }
    *docs = ld.docs;
    return 0;
}

/* ------------------------------------------------------------- the writer */

static int emit(yaml_emitter_t *em, yaml_event_t *ev)
{
    return yaml_emitter_emit(em, ev) ? 0 : -1; /* takes the event, even on failure */
}

static int emit_scalar(yaml_emitter_t *em, const char *s, size_t n, bool is_string)
{
    yaml_event_t ev;
    yaml_scalar_style_t style = YAML_PLAIN_SCALAR_STYLE;
    if (is_string)
        style = yml_needs_quotes(s, n) ? YAML_DOUBLE_QUOTED_SCALAR_STYLE : YAML_ANY_SCALAR_STYLE;
    if (!yaml_scalar_event_initialize(&ev, NULL, NULL, (yaml_char_t *)s, (int)n, 1, is_string,
                                      style))
        return -1;
    return emit(em, &ev);
}

static int emit_value(yaml_emitter_t *em, const json_t *v)
{
    yaml_event_t ev;
    char num[64];
    switch (json_typeof(v)) {
    case JSON_OBJECT: {
        bool empty = json_object_size(v) == 0;
        if (!yaml_mapping_start_event_initialize(
                &ev, NULL, NULL, 1, empty ? YAML_FLOW_MAPPING_STYLE : YAML_BLOCK_MAPPING_STYLE) ||
            emit(em, &ev))
            return -1;
        const char *k;
        const json_t *m;
        json_object_foreach((json_t *)v, k, m)
        {
            if (emit_scalar(em, k, strlen(k), true) || emit_value(em, m)) return -1;
        }
        if (!yaml_mapping_end_event_initialize(&ev)) return -1;
        return emit(em, &ev);
    }
    case JSON_ARRAY: {
        bool empty = json_array_size(v) == 0;
        if (!yaml_sequence_start_event_initialize(
                &ev, NULL, NULL, 1, empty ? YAML_FLOW_SEQUENCE_STYLE : YAML_BLOCK_SEQUENCE_STYLE) ||
            emit(em, &ev))
            return -1;
        for (size_t i = 0; i < json_array_size(v); i++)
            if (emit_value(em, json_array_get(v, i))) return -1;
        if (!yaml_sequence_end_event_initialize(&ev)) return -1;
        return emit(em, &ev);
    }
    case JSON_STRING:
        return emit_scalar(em, json_string_value(v), json_string_length(v), true);
    case JSON_INTEGER:
        snprintf(num, sizeof num, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        return emit_scalar(em, num, strlen(num), false);
    case JSON_REAL: {
        /* jansson's own form: 17 significant digits, always a '.' or an
         * exponent, so it reads back as the same float */
        char *text = json_dumps(v, JSON_ENCODE_ANY);
        if (!text) return -1;
        int rc = emit_scalar(em, text, strlen(text), false);
        free(text);
        return rc;
    }
    case JSON_TRUE:
        return emit_scalar(em, "true", 4, false);
    case JSON_FALSE:
        return emit_scalar(em, "false", 5, false);
    default:
        return emit_scalar(em, "null", 4, false);
    }
}

int yml_dump(const json_t *v, FILE *out, char *errbuf, size_t errlen)
{
    yaml_emitter_t em;
    yaml_event_t ev;
    if (!yaml_emitter_initialize(&em)) {
        snprintf(errbuf, errlen, "out of memory");
        return -1;
    }
    yaml_emitter_set_output_file(&em, out);
    yaml_emitter_set_unicode(&em, 1);
    yaml_emitter_set_width(&em, -1); /* no folding of long strings */
    yaml_emitter_set_indent(&em, 2);
    int rc = !yaml_stream_start_event_initialize(&ev, YAML_UTF8_ENCODING) || emit(&em, &ev) ||
             !yaml_document_start_event_initialize(&ev, NULL, NULL, NULL, 1) || emit(&em, &ev) ||
             emit_value(&em, v) || !yaml_document_end_event_initialize(&ev, 1) || emit(&em, &ev) ||
             !yaml_stream_end_event_initialize(&ev) || emit(&em, &ev) || !yaml_emitter_flush(&em);
    if (rc)
        snprintf(errbuf, errlen, "cannot write YAML: %s",
                 em.problem ? em.problem : "out of memory or output error");
    yaml_emitter_delete(&em);
    return rc ? -1 : 0;
}
