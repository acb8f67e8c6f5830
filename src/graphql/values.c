/*
 * values.c — input values checked and coerced (see values.h).
 *
 * Three walks over the same few types: gql_check_literal validates a
 * literal in the document (errors worded as graphql-js words them),
 * coerce_json checks a variable's JSON value, and literal_json turns a
 * validated literal into JSON. Scalars are the only named input types in
 * this schema besides the two introspection enums; input objects would
 * slot in beside them.
 */
#include "graphql/values.h"

#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define INT32_LIMIT 2147483647LL
#define SHOW_MAX    96 /* bytes of a value quoted in a message */

/* ---- types -------------------------------------------------------------- */

gql_tref *gql_tref_from_ast(const gql_schema *s, const gql_type_node *n, gql_arena *arena)
{
    gql_tref *r = gql_arena_alloc(arena, sizeof(*r));
    if (!r) return NULL;
    if (n->kind == GQL_T_NAMED) {
        r->type = gql_schema_type(s, n->name);
        r->kind = r->type ? r->type->kind : GQL_SCALAR;
        return r;
    }
    r->kind = n->kind == GQL_T_LIST ? GQL_LIST : GQL_NON_NULL;
    r->of = gql_tref_from_ast(s, n->of, arena);
    return r->of ? r : NULL;
}

/* ---- printing ----------------------------------------------------------- */

typedef struct out_buf {
    char *p;
    size_t n, cap;
} out_buf;

static void put(out_buf *o, const char *s, size_t n)
{
    for (size_t i = 0; i < n && o->n + 1 < o->cap; i++) o->p[o->n++] = s[i];
    o->p[o->n] = '\0';
}

static void puts_(out_buf *o, const char *s)
{
    put(o, s, strlen(s));
}

static void print_string(out_buf *o, const char *s, size_t n)
{
    puts_(o, "\"");
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        char esc[8];
        if (c == '"' || c == '\\') {
            esc[0] = '\\';
            esc[1] = (char)c;
            put(o, esc, 2);
        } else if (c < 0x20) {
            snprintf(esc, sizeof(esc), "\\u%04X", c);
            puts_(o, esc);
        } else {
            put(o, (const char *)&s[i], 1);
        }
    }
    puts_(o, "\"");
}

static void print_value(out_buf *o, const gql_value *v)
{
    switch (v->kind) {
    case GQL_V_VARIABLE:
        puts_(o, "$");
        puts_(o, v->str);
        break;
    case GQL_V_STRING:
        print_string(o, v->str, v->len);
        break;
    case GQL_V_BOOLEAN:
        puts_(o, v->boolean ? "true" : "false");
        break;
    case GQL_V_NULL:
        puts_(o, "null");
        break;
    case GQL_V_LIST:
        puts_(o, "[");
        for (const gql_value *i = v->items; i; i = i->next) {
            print_value(o, i);
            if (i->next) puts_(o, ", ");
        }
        puts_(o, "]");
        break;
    case GQL_V_OBJECT:
        puts_(o, "{");
        for (const gql_object_field *f = v->fields; f; f = f->next) {
            if (f->quoted)
                print_string(o, f->name, f->name_len);
            else
                puts_(o, f->name);
            puts_(o, ": ");
            print_value(o, f->value);
            if (f->next) puts_(o, ", ");
        }
        puts_(o, "}");
        break;
    default:
        puts_(o, v->str);
        break; /* INT, FLOAT, ENUM */
    }
}

void gql_print_value(const gql_value *v, char *out, size_t outsz)
{
    out_buf o = {out, 0, outsz};
    if (!outsz) return;
    out[0] = '\0';
    print_value(&o, v);
}

/* A JSON value for a message, cut to SHOW_MAX bytes. */
static void show_json(const json_t *j, char *out, size_t outsz)
{
    char *s = json_dumps(j, JSON_COMPACT | JSON_ENCODE_ANY);
    snprintf(out, outsz, "%.*s%s", SHOW_MAX, s ? s : "?", s && strlen(s) > SHOW_MAX ? "..." : "");
    free(s);
}

/* ---- numbers ------------------------------------------------------------ */

static bool parse_int(const char *text, long long *out)
{
    char *end;
    errno = 0;
    *out = strtoll(text, &end, 10);
    return errno == 0 && *end == '\0';
}

static bool fits_int32(long long v)
{
    return v >= -INT32_LIMIT - 1 && v <= INT32_LIMIT;
}

/* ---- validation of literals --------------------------------------------- */

typedef struct check_ctx {
    gql_errors *errs;
    gql_var_use_fn use;
    void *ctx;
} check_ctx;

static void check(check_ctx *c, const gql_value *v, const gql_tref *t, bool pos_default);

/* shown: the type of the position as written (String! rather than String). */
static void literal_error(check_ctx *c, const gql_value *v, const gql_tref *shown, const char *why)
{
    char type[128], value[SHOW_MAX + 8];
    gql_tref_print(shown, type, sizeof(type));
    gql_print_value(v, value, sizeof(value));
    gql_errors_add(c->errs, GQL_CODE_VALIDATION, &v->loc, 1, NULL,
                   "Expected value of type \"%s\", found %s; %s", type, value, why);
}

/* Input Object Field Uniqueness: no two fields of one object literal share
 * a name. */
static void check_unique_fields(check_ctx *c, const gql_value *v)
{
    for (const gql_object_field *f = v->fields; f; f = f->next) {
        for (const gql_object_field *g = v->fields; g != f; g = g->next) {
            if (g->name_len == f->name_len && memcmp(g->name, f->name, f->name_len) == 0) {
                gql_loc locs[2] = {g->loc, f->loc};
                gql_errors_add(c->errs, GQL_CODE_VALIDATION, locs, 2, NULL,
                               "There can be only one input field named \"%.*s\".",
                               (int)(f->name_len > 100 ? 100 : f->name_len), f->name);
                break;
            }
        }
    }
}

/* Walks a literal whose position has no known type: variables and
 * uniqueness only (GenericScalar, or after a type error). */
static void check_untyped(check_ctx *c, const gql_value *v)
{
    if (v->kind == GQL_V_VARIABLE && c->use) c->use(c->ctx, v, NULL, false);
    if (v->kind == GQL_V_LIST)
        for (const gql_value *i = v->items; i; i = i->next) check_untyped(c, i);
    if (v->kind == GQL_V_OBJECT) {
        check_unique_fields(c, v);
        for (const gql_object_field *f = v->fields; f; f = f->next) check_untyped(c, f->value);
    }
}

/* Why a literal is not a value of scalar t, or NULL when it is. */
static const char *scalar_mismatch(const gql_value *v, gql_scalar sc, char *why, size_t n)
{
    char shown[SHOW_MAX + 8];
    long long iv;
    gql_print_value(v, shown, sizeof(shown));
    switch (sc) {
    case GQL_SC_STRING:
        if (v->kind == GQL_V_STRING) return NULL;
        snprintf(why, n, "String cannot represent a non string value: %s", shown);
        return why;
    case GQL_SC_INT:
        if (v->kind != GQL_V_INT) {
            snprintf(why, n, "Int cannot represent non-integer value: %s", shown);
            return why;
        }
        if (parse_int(v->str, &iv) && fits_int32(iv)) return NULL;
        snprintf(why, n, "Int cannot represent non 32-bit signed integer value: %s", shown);
        return why;
    case GQL_SC_FLOAT:
        if (v->kind == GQL_V_INT || v->kind == GQL_V_FLOAT) return NULL;
        snprintf(why, n, "Float cannot represent non numeric value: %s", shown);
        return why;
    case GQL_SC_BOOLEAN:
        if (v->kind == GQL_V_BOOLEAN) return NULL;
        snprintf(why, n, "Boolean cannot represent a non boolean value: %s", shown);
        return why;
    case GQL_SC_ID:
        if (v->kind == GQL_V_STRING || v->kind == GQL_V_INT) return NULL;
        snprintf(why, n, "ID cannot represent a non-string and non-integer value: %s", shown);
        return why;
    default:
        return NULL;
    }
}

static void check_named(check_ctx *c, const gql_value *v, const gql_tref *t, const gql_tref *shown)
{
    const gql_type *ty = t->type;
    char why[GQL_ERROR_MSG_MAX / 2], value[SHOW_MAX + 8];
    if (!ty || ty->scalar == GQL_SC_ANY) {
        check_untyped(c, v);
        return;
    }
    if (ty->kind == GQL_ENUM) {
        gql_print_value(v, value, sizeof(value));
        if (v->kind != GQL_V_ENUM)
            snprintf(why, sizeof(why), "Enum \"%s\" cannot represent non-enum value: %s.", ty->name,
                     value);
        else if (!gql_enum_value_of(ty, v->str))
            snprintf(why, sizeof(why), "Value \"%s\" does not exist in \"%s\" enum.", value,
                     ty->name);
        else
            return;
        literal_error(c, v, shown, why);
        return;
    }
    if (scalar_mismatch(v, ty->scalar, why, sizeof(why))) {
        literal_error(c, v, shown, why);
        check_untyped(c, v);
    }
}

static void check(check_ctx *c, const gql_value *v, const gql_tref *t, bool pos_default)
{
    if (v->kind == GQL_V_VARIABLE) {
        if (c->use) c->use(c->ctx, v, t, pos_default);
        return;
    }
    if (!t) {
        check_untyped(c, v);
        return;
    }
    if (t->kind == GQL_NON_NULL) {
        if (v->kind == GQL_V_NULL) {
            char type[128];
            gql_tref_print(t, type, sizeof(type));
            gql_errors_add(c->errs, GQL_CODE_VALIDATION, &v->loc, 1, NULL,
                           "Expected value of type \"%s\", found null.", type);
            return;
        }
        if (t->of->kind != GQL_LIST) {
            check_named(c, v, t->of, t);
            return;
        }
        check(c, v, t->of, false);
        return;
    }
    if (v->kind == GQL_V_NULL) return;
    if (t->kind == GQL_LIST) {
        if (v->kind != GQL_V_LIST) {
            check(c, v, t->of, false);
            return;
        }
        for (const gql_value *i = v->items; i; i = i->next) check(c, i, t->of, false);
        return;
    }
    check_named(c, v, t, t);
}

void gql_check_literal(const gql_value *v, const gql_tref *t, bool pos_default, gql_errors *errs,
                       gql_var_use_fn use, void *ctx)
{
    check_ctx c = {errs, use, ctx};
    check(&c, v, t, pos_default);
}

/* ---- literals to JSON --------------------------------------------------- */

static json_t *literal_json(const gql_value *v, const gql_tref *t, const json_t *vars,
                            ad_error *err);

/* An Int or Float literal as JSON. */
static json_t *number_json(const gql_value *v, gql_scalar sc, ad_error *err)
{
    long long iv;
    double d;
    if (v->kind == GQL_V_INT && sc != GQL_SC_FLOAT && parse_int(v->str, &iv))
        return json_integer(iv);
    d = strtod(v->str, NULL);
    if (!isfinite(d)) {
        ad_fail(err, AD_E_BAD_REQUEST, "the number %.64s is out of range", v->str);
        return NULL;
    }
    return json_real(d);
}

static json_t *object_json(const gql_value *v, const json_t *vars, ad_error *err)
{
    json_t *o = json_object();
    for (const gql_object_field *f = v->fields; o && f; f = f->next) {
        json_t *x;
        if (f->value->kind == GQL_V_VARIABLE && !json_object_get(vars, f->value->str))
            continue; /* a variable without a value leaves the field out */
        x = literal_json(f->value, NULL, vars, err);
        if (!x || json_object_setn_new(o, f->name, f->name_len, x)) {
            json_decref(o);
            return NULL;
        }
    }
    return o;
}

static json_t *list_json(const gql_value *v, const gql_tref *item, const json_t *vars,
                         ad_error *err)
{
    json_t *a = json_array();
    for (const gql_value *i = v->items; a && i; i = i->next) {
        json_t *x = literal_json(i, item, vars, err);
        if (!x || json_array_append_new(a, x)) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

/* The JSON of a validated literal for a position of type t (NULL: untyped,
 * as in GenericScalar). A variable without a value becomes null. */
static json_t *literal_json(const gql_value *v, const gql_tref *t, const json_t *vars,
                            ad_error *err)
{
    const gql_type *named;
    json_t *j = NULL;
    if (t && t->kind == GQL_NON_NULL) t = t->of;
    named = t && t->kind != GQL_LIST ? t->type : NULL;
    switch (v->kind) {
    case GQL_V_VARIABLE:
        j = json_object_get(vars, v->str);
        return j ? json_incref(j) : json_null();
    case GQL_V_NULL:
        return json_null();
    case GQL_V_BOOLEAN:
        j = json_boolean(v->boolean);
        break;
    case GQL_V_STRING:
        j = json_stringn(v->str, v->len);
        break;
    case GQL_V_ENUM:
        j = json_string(v->str);
        break;
    case GQL_V_INT:
    case GQL_V_FLOAT:
        if (named && named->scalar == GQL_SC_ID) {
            j = json_string(v->str);
            break;
        }
        return number_json(v, named ? named->scalar : GQL_SC_ANY, err);
    case GQL_V_OBJECT:
        return object_json(v, vars, err);
    case GQL_V_LIST:
        return list_json(v, t && t->kind == GQL_LIST ? t->of : NULL, vars, err);
    }
    if (!j) ad_fail(err, AD_E_NOMEM, "out of memory");
    if (j && t && t->kind == GQL_LIST) { /* a single value where a list goes */
        json_t *a = json_array();
        if (!a || json_array_append_new(a, j)) {
            json_decref(a);
            ad_fail(err, AD_E_NOMEM, "out of memory");
            return NULL;
        }
        return a;
    }
    return j;
}

/* ---- variables ---------------------------------------------------------- */

/* The JSON value in coerced to scalar type ty (a new reference), or NULL
 * when it is not a value of ty. */
static json_t *coerce_scalar(const json_t *in, const gql_type *ty)
{
    char digits[32];
    double d = json_number_value(in);
    switch (ty->scalar) {
    case GQL_SC_STRING:
        return json_is_string(in) ? json_incref((json_t *)in) : NULL;
    case GQL_SC_INT:
        if (json_is_integer(in) && fits_int32(json_integer_value(in)))
            return json_incref((json_t *)in);
        /* 1.0 is an integer to a JSON client */
        if (json_is_real(in) && d >= -2147483648.0 && d <= 2147483647.0 &&
            d == (double)(long long)d)
            return json_integer((json_int_t)d);
        return NULL;
    case GQL_SC_FLOAT:
        return json_is_number(in) ? json_real(d) : NULL;
    case GQL_SC_BOOLEAN:
        return json_is_boolean(in) ? json_incref((json_t *)in) : NULL;
    case GQL_SC_ID:
        if (json_is_string(in)) return json_incref((json_t *)in);
        if (!json_is_integer(in)) return NULL;
        snprintf(digits, sizeof(digits), "%lld", (long long)json_integer_value(in));
        return json_string(digits);
    default:
        return json_incref((json_t *)in); /* GenericScalar */
    }
}

static const char *coerce_json(const json_t *in, const gql_tref *t, json_t **out, char *why,
                               size_t n);

static const char *coerce_list(const json_t *in, const gql_tref *t, json_t **out, char *why,
                               size_t n)
{
    size_t i;
    json_t *item, *a;
    if (!json_is_array(in)) return coerce_json(in, t->of, out, why, n);
    a = json_array();
    json_array_foreach(in, i, item)
    {
        json_t *x;
        if (coerce_json(item, t->of, &x, why, n)) {
            json_decref(a);
            return why;
        }
        json_array_append_new(a, x);
    }
    *out = a;
    return NULL;
}

/* Checks and coerces a variable's JSON value for type t: NULL with *out
 * set, or the reason it does not fit (written to why). */
static const char *coerce_json(const json_t *in, const gql_tref *t, json_t **out, char *why,
                               size_t n)
{
    char type[128], shown[SHOW_MAX + 8];
    *out = NULL;
    if (t->kind == GQL_NON_NULL) {
        if (!json_is_null(in)) return coerce_json(in, t->of, out, why, n);
        gql_tref_print(t, type, sizeof(type));
        snprintf(why, n, "Expected non-nullable type \"%s\" not to be null.", type);
        return why;
    }
    if (json_is_null(in)) {
        *out = json_null();
        return NULL;
    }
    if (t->kind == GQL_LIST) return coerce_list(in, t, out, why, n);
    if (t->type->kind == GQL_ENUM) {
        if (json_is_string(in) && gql_enum_value_of(t->type, json_string_value(in)))
            *out = json_incref((json_t *)in);
    } else {
        *out = coerce_scalar(in, t->type);
    }
    if (*out) return NULL;
    show_json(in, shown, sizeof(shown));
    if (t->type->kind == GQL_ENUM)
        snprintf(why, n, "Value %s does not exist in \"%s\" enum.", shown, t->type->name);
    else
        snprintf(why, n, "%s cannot represent the value %s", t->type->name, shown);
    return why;
}

static ad_code coerce_one(const gql_var_def *d, const gql_tref *t, const json_t *inputs,
                          gql_errors *errs, json_t *out)
{
    const json_t *in = json_object_get(inputs, d->name);
    char why[GQL_ERROR_MSG_MAX / 2], type[128], shown[SHOW_MAX + 8];
    json_t *v = NULL;
    ad_error err = {0};
    gql_tref_print(t, type, sizeof(type));
    if (!in && d->default_value) {
        v = literal_json(d->default_value, t, NULL, &err);
        if (!v) return err.code == AD_E_NOMEM ? AD_E_NOMEM : AD_E_BAD_REQUEST;
    } else if (!in && t->kind == GQL_NON_NULL) {
        gql_errors_add(errs, GQL_CODE_INPUT, &d->loc, 1, NULL,
                       "Variable \"$%s\" of required type \"%s\" was not provided.", d->name, type);
        return AD_E_BAD_REQUEST;
    } else if (!in) {
        return AD_OK;
    } else if (coerce_json(in, t, &v, why, sizeof(why))) {
        show_json(in, shown, sizeof(shown));
        gql_errors_add(errs, GQL_CODE_INPUT, &d->loc, 1, NULL,
                       "Variable \"$%s\" got invalid value %s; %s", d->name, shown, why);
        return AD_E_BAD_REQUEST;
    }
    if (!v || json_object_set_new(out, d->name, v)) return AD_E_NOMEM;
    return AD_OK;
}

ad_code gql_coerce_variables(const gql_schema *s, const gql_definition *op, const json_t *inputs,
                             gql_arena *arena, gql_errors *errs, json_t **out)
{
    json_t *vars = json_object();
    ad_code worst = AD_OK;
    if (!vars) return AD_E_NOMEM;
    for (const gql_var_def *d = op->vars; d; d = d->next) {
        gql_tref *t = gql_tref_from_ast(s, d->type, arena);
        ad_code rc = t ? coerce_one(d, t, inputs, errs, vars) : AD_E_NOMEM;
        if (rc == AD_E_NOMEM) {
            json_decref(vars);
            return rc;
        }
        if (rc) worst = rc;
    }
    if (worst) {
        json_decref(vars);
        return worst;
    }
    *out = vars;
    return AD_OK;
}

/* ---- arguments ---------------------------------------------------------- */

static const gql_argument *given_arg(const gql_argument *given, const char *name)
{
    for (; given; given = given->next)
        if (strcmp(given->name, name) == 0) return given;
    return NULL;
}

static ad_code coerce_arg(const gql_arg *def, const gql_argument *a, const json_t *vars,
                          json_t *out, ad_error *err)
{
    json_t *v = NULL;
    bool provided = a && (a->value->kind != GQL_V_VARIABLE || json_object_get(vars, a->value->str));
    if (provided) {
        v = literal_json(a->value, def->type, vars, err);
        if (!v) return err->code ? err->code : AD_E_NOMEM;
        if (json_is_null(v) && def->type->kind == GQL_NON_NULL) {
            json_decref(v);
            return ad_fail(err, AD_E_BAD_REQUEST, "Argument \"%s\" must not be null.", def->name);
        }
    } else if (def->default_value) {
        v = json_loads(def->default_value, JSON_DECODE_ANY, NULL);
    } else if (def->type->kind == GQL_NON_NULL) {
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "Argument \"%s\" is required, but the variable \"$%s\" has no value.",
                       def->name, a ? a->value->str : "?");
    } else {
        return AD_OK;
    }
    if (!v || json_object_set_new(out, def->name, v))
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    return AD_OK;
}

ad_code gql_coerce_args(const gql_arg *defs, size_t ndefs, const gql_argument *given,
                        const json_t *vars, json_t **out, ad_error *err)
{
    json_t *o;
    *out = NULL;
    if (ndefs == 0) return AD_OK; /* most fields: spare the allocation */
    o = json_object();
    if (!o) return ad_fail(err, AD_E_NOMEM, "out of memory");
    for (size_t i = 0; i < ndefs; i++) {
        ad_code rc = coerce_arg(&defs[i], given_arg(given, defs[i].name), vars, o, err);
        if (rc) {
            json_decref(o);
            return rc;
        }
    }
    *out = o;
    return AD_OK;
}
