/*
 * test_graphql_parser.c — the GraphQL parser (src/graphql/parser.c): one
 * document using every construct of the executable grammar, checked node
 * by node; syntax errors with their positions; the quoted-keys extension
 * on and off; and every limit, both lowered (to see the exact boundary)
 * and at its default.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "graphql/arena.h"
#include "graphql/graphql.h"
#include "graphql/parser.h"

typedef struct parsed {
    gql_arena arena;
    gql_document *doc;
    gql_parse_error err;
    ad_code rc;
} parsed;

static void parse_with(const char *src, size_t len, const gql_limits *lim, bool quoted, parsed *p)
{
    gql_arena_init(&p->arena, lim->ast_bytes);
    p->rc = gql_parse(src, len, lim, quoted, &p->arena, &p->doc, &p->err);
}

static void parse(const char *src, parsed *p)
{
    parse_with(src, strlen(src), gql_limits_default(), true, p);
}

static void done(parsed *p)
{
    gql_arena_free(&p->arena);
}

static bool loc_is(gql_loc l, unsigned line, unsigned col)
{
    return l.line == line && l.col == col;
}

/* ---- every construct ---------------------------------------------------- */

static const char every[] =
    "# every construct of the executable grammar\n"
    "query Q($id: String! = \"asset-001\", $n: Int, $m: [[Int!]]! = [[1, 2], [3]],\n"
    "        $o: GenericScalar = {a: {b: [true, false, null]}, c: ENUM, d: 1.5e3, e: \"\"\"\n"
    "          block\n"
    "        \"\"\", \"quoted key\": -7}) @op(x: 1) {\n"
    "  alias: getAssetById(assetId: $id) @include(if: true) @skip(if: false) {\n"
    "    ...Frag @include(if: $flag)\n"
    "    ... on Asset @skip(if: false) { assetId }\n"
    "    ... @include(if: true) { assetUri }\n"
    "    ... { assetVersion }\n"
    "  },\n"
    "  plain\n"
    "  args(a: 1, b: -2.5, c: \"s\\u00e9\", d: true, e: null, f: ENUM, g: [1, \"two\", [3]],\n"
    "       h: {x: 1, y: {z: $n}}, i: $var, j: [])\n"
    "}\n"
    "mutation M { m }\n"
    "subscription S { s }\n"
    "{ anonymous }\n"
    "fragment Frag on Asset @frag { assetId }\n";

static void check_variables(const gql_definition *q)
{
    const gql_var_def *v = q->vars;
    CHECK(v && strcmp(v->name, "id") == 0 && loc_is(v->loc, 2, 9), "$id");
    CHECK(v && v->type->kind == GQL_T_NON_NULL && v->type->of->kind == GQL_T_NAMED &&
              strcmp(v->type->of->name, "String") == 0,
          "$id: String!");
    CHECK(v && v->default_value && v->default_value->kind == GQL_V_STRING &&
              strcmp(v->default_value->str, "asset-001") == 0,
          "$id default");
    v = v ? v->next : NULL;
    CHECK(v && strcmp(v->name, "n") == 0 && v->type->kind == GQL_T_NAMED && !v->default_value,
          "$n: Int");
    v = v ? v->next : NULL;
    CHECK(v && v->type->kind == GQL_T_NON_NULL && v->type->of->kind == GQL_T_LIST &&
              v->type->of->of->kind == GQL_T_LIST && v->type->of->of->of->kind == GQL_T_NON_NULL &&
              strcmp(v->type->of->of->of->of->name, "Int") == 0,
          "$m: [[Int!]]!");
    CHECK(v && v->default_value->kind == GQL_V_LIST &&
              v->default_value->items->kind == GQL_V_LIST &&
              v->default_value->items->next->items->kind == GQL_V_INT,
          "$m default [[1, 2], [3]]");
    v = v ? v->next : NULL;
    if (!v) return;
    {
        const gql_object_field *f = v->default_value->fields;
        CHECK(f && strcmp(f->name, "a") == 0 && f->value->kind == GQL_V_OBJECT, "o.a");
        CHECK(f && f->value->fields->value->kind == GQL_V_LIST &&
                  f->value->fields->value->items->boolean &&
                  f->value->fields->value->items->next->kind == GQL_V_BOOLEAN &&
                  f->value->fields->value->items->next->next->kind == GQL_V_NULL,
              "o.a.b [true, false, null]");
        f = f ? f->next : NULL;
        CHECK(f && f->value->kind == GQL_V_ENUM && strcmp(f->value->str, "ENUM") == 0, "o.c enum");
        f = f ? f->next : NULL;
        CHECK(f && f->value->kind == GQL_V_FLOAT && strcmp(f->value->str, "1.5e3") == 0, "o.d");
        f = f ? f->next : NULL;
        CHECK(f && f->value->kind == GQL_V_STRING && f->value->block &&
                  strcmp(f->value->str, "block") == 0,
              "o.e block string");
        f = f ? f->next : NULL;
        CHECK(f && f->quoted && strcmp(f->name, "quoted key") == 0 && f->name_len == 10 &&
                  f->value->kind == GQL_V_INT && strcmp(f->value->str, "-7") == 0,
              "o.\"quoted key\"");
    }
    CHECK(!v->next, "four variables");
}

static void check_first_field(const gql_selection *f)
{
    const gql_selection *s;
    CHECK(f->kind == GQL_SEL_FIELD && strcmp(f->alias, "alias") == 0 &&
              strcmp(f->name, "getAssetById") == 0 && loc_is(f->loc, 6, 3),
          "alias: getAssetById at 6:3");
    CHECK(f->args && strcmp(f->args->name, "assetId") == 0 &&
              f->args->value->kind == GQL_V_VARIABLE && strcmp(f->args->value->str, "id") == 0,
          "(assetId: $id)");
    CHECK(f->directives && strcmp(f->directives->name, "include") == 0 && f->directives->next &&
              strcmp(f->directives->next->name, "skip") == 0 && !f->directives->next->next,
          "@include @skip");
    s = f->set ? f->set->first : NULL;
    CHECK(s && s->kind == GQL_SEL_SPREAD && strcmp(s->name, "Frag") == 0 && s->directives &&
              loc_is(s->loc, 7, 5),
          "...Frag @include");
    s = s ? s->next : NULL;
    CHECK(s && s->kind == GQL_SEL_INLINE && strcmp(s->type_cond, "Asset") == 0 &&
              loc_is(s->type_cond_loc, 8, 12) && s->directives && s->set,
          "... on Asset @skip { }");
    s = s ? s->next : NULL;
    CHECK(s && s->kind == GQL_SEL_INLINE && !s->type_cond && s->directives, "... @include { }");
    s = s ? s->next : NULL;
    CHECK(s && s->kind == GQL_SEL_INLINE && !s->type_cond && !s->directives &&
              strcmp(s->set->first->name, "assetVersion") == 0,
          "... { }");
    CHECK(s && !s->next, "four selections");
}

static void check_args_field(const gql_selection *f)
{
    const gql_argument *a = f->args;
    static const gql_value_kind kinds[] = {GQL_V_INT,      GQL_V_FLOAT, GQL_V_STRING, GQL_V_BOOLEAN,
                                           GQL_V_NULL,     GQL_V_ENUM,  GQL_V_LIST,   GQL_V_OBJECT,
                                           GQL_V_VARIABLE, GQL_V_LIST};
    size_t i = 0;
    for (; a && i < 10; a = a->next, i++)
        CHECK(a->value->kind == kinds[i], "argument %zu (%s): kind %d", i, a->name, a->value->kind);
    CHECK(i == 10 && !a, "ten arguments");
    a = f->args->next->next;
    CHECK(strcmp(a->value->str, "s\xc3\xa9") == 0, "escaped string");
    CHECK(!f->set, "args has no selection set");
}

static void test_every_construct(void)
{
    parsed p;
    const gql_definition *d;
    const gql_selection *s;
    parse(every, &p);
    CHECK(p.rc == AD_OK, "parse: %s at %u:%u", p.err.msg, p.err.loc.line, p.err.loc.col);
    if (p.rc) {
        done(&p);
        return;
    }
    CHECK(p.doc->ndefs == 5, "five definitions, got %zu", p.doc->ndefs);
    d = p.doc->defs;
    CHECK(d->kind == GQL_DEF_OPERATION && d->op == GQL_OP_QUERY && strcmp(d->name, "Q") == 0 &&
              loc_is(d->loc, 2, 1),
          "query Q at 2:1");
    CHECK(d->directives && strcmp(d->directives->name, "op") == 0, "@op on the operation");
    check_variables(d);
    s = d->set->first;
    check_first_field(s);
    s = s->next;
    CHECK(strcmp(s->name, "plain") == 0 && !s->alias && !s->args && !s->set, "plain");
    check_args_field(s->next);
    CHECK(!s->next->next, "three fields");
    d = d->next;
    CHECK(d->op == GQL_OP_MUTATION && strcmp(d->name, "M") == 0, "mutation M");
    d = d->next;
    CHECK(d->op == GQL_OP_SUBSCRIPTION && strcmp(d->name, "S") == 0, "subscription S");
    d = d->next;
    CHECK(d->kind == GQL_DEF_OPERATION && d->op == GQL_OP_QUERY && !d->name && !d->vars,
          "anonymous query");
    d = d->next;
    CHECK(d->kind == GQL_DEF_FRAGMENT && strcmp(d->name, "Frag") == 0 &&
              strcmp(d->type_cond, "Asset") == 0 && d->directives && d->set,
          "fragment Frag on Asset @frag");
    CHECK(p.doc->nfields == 10 && p.doc->naliases == 1, "fields %zu aliases %zu", p.doc->nfields,
          p.doc->naliases);
    done(&p);
}

/* ---- errors ------------------------------------------------------------- */

static void check_error(const char *src, bool quoted, const char *want, unsigned line, unsigned col)
{
    parsed p;
    parse_with(src, strlen(src), gql_limits_default(), quoted, &p);
    CHECK(p.rc == AD_E_BAD_REQUEST && !p.err.limit, "%s: rc %d", src, p.rc);
    CHECK(strstr(p.err.msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"", src, p.err.msg, want);
    CHECK(loc_is(p.err.loc, line, col), "%s: at %u:%u, want %u:%u", src, p.err.loc.line,
          p.err.loc.col, line, col);
    done(&p);
}

static void test_errors(void)
{
    check_error("", true, "Syntax Error: Unexpected <EOF>.", 1, 1);
    check_error("{", true, "Syntax Error: Expected Name, found <EOF>.", 1, 2);
    check_error("{ }", true, "Expected Name, found \"}\".", 1, 3);
    check_error("query {\n  a(b:)\n}", true, "Unexpected \")\".", 2, 7);
    check_error("{ a() }", true, "Expected Name, found \")\".", 1, 5);
    check_error("{ a } }", true, "Unexpected \"}\".", 1, 7);
    check_error("fragment on on T { a }", true, "Unexpected Name \"on\".", 1, 10);
    check_error("fragment F T { a }", true, "Expected \"on\", found Name \"T\".", 1, 12);
    check_error("fragment F on T", true, "Expected \"{\", found <EOF>.", 1, 16);
    check_error("query ($a: String = $b) { a }", true,
                "Unexpected variable \"$b\" in constant value.", 1, 21);
    check_error("query ($a: Int @d(x: $b)) { a }", true, "in constant value", 1, 22);
    check_error("query () { a }", true, "Expected \"$\", found \")\".", 1, 8);
    check_error("query Q($a String) { a }", true, "Expected \":\", found Name \"String\".", 1, 12);
    check_error("query Q($a: [String) { a }", true, "Expected \"]\", found \")\".", 1, 20);
    check_error("{ ... on }", true, "Expected Name, found \"}\".", 1, 10);
    check_error("{ ... }", true, "Expected \"{\", found \"}\".", 1, 7);
    check_error("{ a @ }", true, "Expected Name, found \"}\".", 1, 7);
    check_error("{ a(b: {c}) }", true, "Expected \":\", found \"}\".", 1, 10);
    check_error("{ a(b: [1, 2) }", true, "Unexpected \")\".", 1, 13);
    check_error("{ a(b: \"unterminated) }", true, "Syntax Error: Unterminated string.", 1, 24);
    check_error("{ a }\n\n  query Q { b ", true, "Expected Name, found <EOF>.", 3, 15);
    check_error("type Foo { a: String }", true, "not executable", 1, 1);
    check_error("extend type Query { x: Int }", true, "not executable", 1, 1);
    check_error("\"described\" query { a }", true, "not executable", 1, 1);
    check_error("{ a } schema { query: Q }", true, "not executable", 1, 7);
    check_error("foo { a }", true, "Unexpected Name \"foo\".", 1, 1);
    check_error("{ a(b: {\"k\": 1}) }", false, "Expected Name, found String \"k\".", 1, 9);
    check_error("{ a(b: {\"\"\"k\"\"\": 1}) }", true, "Expected Name, found BlockString", 1, 9);
    check_error("query Q @ { a }", true, "Expected Name, found \"{\".", 1, 11);
}

static void test_quoted_keys(void)
{
    parsed p;
    const char *src = "{ searchAssets(filters: { \"profiles.asset_sub_type\": \"llm\", "
                      "\"a\\u0000b\": 1, plain: 2 }) { assetId } }";
    const gql_object_field *f;
    parse(src, &p);
    CHECK(p.rc == AD_OK, "quoted keys: %s", p.err.msg);
    if (!p.rc) {
        f = p.doc->defs->set->first->args->value->fields;
        CHECK(f->quoted && strcmp(f->name, "profiles.asset_sub_type") == 0, "first key");
        f = f->next;
        CHECK(f->quoted && f->name_len == 3 && memcmp(f->name, "a\0b", 3) == 0, "NUL in a key");
        f = f->next;
        CHECK(!f->quoted && strcmp(f->name, "plain") == 0 && f->name_len == 5, "plain key");
    }
    done(&p);
}

/* ---- limits ------------------------------------------------------------- */

/* src is refused as over a limit, with a message containing want. */
static void check_limit(const char *src, size_t len, const gql_limits *lim, const char *want)
{
    parsed p;
    parse_with(src, len, lim, true, &p);
    CHECK(p.rc == AD_E_BAD_REQUEST && p.err.limit, "%.40s...: rc %d limit %d (%s)", src, p.rc,
          p.err.limit, p.err.msg);
    CHECK(strstr(p.err.msg, want) != NULL, "%.40s...: message \"%s\" lacks \"%s\"", src, p.err.msg,
          want);
    done(&p);
}

static void check_ok(const char *src, const gql_limits *lim)
{
    parsed p;
    parse_with(src, strlen(src), lim, true, &p);
    CHECK(p.rc == AD_OK, "%s: %s", src, p.err.msg);
    done(&p);
}

static void test_lowered_limits(void)
{
    gql_limits lim = *gql_limits_default();
    lim.query_bytes = 10;
    check_ok("{ a b c }", &lim);
    check_limit("{ a b c d }", 11, &lim, "The query is 11 bytes long; the limit is 10.");
    lim = *gql_limits_default();
    lim.tokens = 5;
    check_ok("{ a b c }", &lim);
    check_limit("{ a b c d }", 11, &lim, "more than 5 tokens");
    lim = *gql_limits_default();
    lim.depth = 3;
    check_ok("{ a { b { c } } }", &lim);
    check_limit("{ a { b { c { d } } } }", 23, &lim, "nested deeper than 3 levels");
    check_limit("{ a { ... { ... { d } } } }", 27, &lim, "nested deeper than 3 levels");
    lim = *gql_limits_default();
    lim.fields = 3;
    check_ok("{ a b c }", &lim);
    check_limit("{ a b { c d } }", 15, &lim, "more than 3 fields");
    lim = *gql_limits_default();
    lim.aliases = 1;
    check_ok("{ x: a b }", &lim);
    check_limit("{ x: a y: b }", 13, &lim, "more than 1 aliases");
    lim = *gql_limits_default();
    lim.value_depth = 3;
    check_ok("{ a(b: [[[1]]], c: {d: {e: {f: 1}}}) }", &lim);
    check_ok("query ($v: [[[Int]]]) { a }", &lim);
    check_limit("{ a(b: [[[[1]]]]) }", 19, &lim, "nested deeper than 3 levels");
    check_limit("{ a(b: {c: {d: {e: {f: 1}}}}) }", 31, &lim, "nested deeper than 3 levels");
    check_limit("query ($v: [[[[Int]]]]) { a }", 29, &lim, "nested deeper than 3 levels");
    lim = *gql_limits_default();
    lim.ast_bytes = 20000;
    {
        char big[8000];
        size_t n = 0;
        n += (size_t)snprintf(big + n, sizeof(big) - n, "{");
        while (n < sizeof(big) - 8) n += (size_t)snprintf(big + n, sizeof(big) - n, " f");
        snprintf(big + n, sizeof(big) - n, " }");
        lim.fields = 100000;
        check_limit(big, strlen(big), &lim, "needs more than 20000 bytes of memory");
    }
}

/* A buffer holding a generated document. */
typedef struct gen {
    char *p;
    size_t n, cap;
} gen;

static void put(gen *g, const char *s)
{
    size_t n = strlen(s);
    if (g->n + n + 1 > g->cap) {
        g->cap = (g->n + n + 1) * 2;
        g->p = realloc(g->p, g->cap);
    }
    memcpy(g->p + g->n, s, n + 1);
    g->n += n;
}

static void test_default_limits(void)
{
    const gql_limits *lim = gql_limits_default();
    gen g = {0};
    size_t i;
    /* size: a comment just over 64 KiB */
    put(&g, "{ a } #");
    while (g.n <= GQL_MAX_QUERY_BYTES) put(&g, "xxxxxxxxxxxxxxxx");
    check_limit(g.p, g.n, lim, "the limit is 65536");
    /* tokens: 10001 of them */
    g.n = 0;
    put(&g, "{ a(b: [");
    for (i = 0; i < GQL_MAX_TOKENS; i++) put(&g, "1 ");
    put(&g, "]) }");
    check_limit(g.p, g.n, lim, "more than 10000 tokens");
    /* depth: 33 nested selection sets */
    g.n = 0;
    for (i = 0; i < GQL_MAX_DEPTH + 1; i++) put(&g, "{ a ");
    for (i = 0; i < GQL_MAX_DEPTH + 1; i++) put(&g, "} ");
    check_limit(g.p, g.n, lim, "nested deeper than 32 levels");
    /* fields: 1001 */
    g.n = 0;
    put(&g, "{");
    for (i = 0; i < GQL_MAX_FIELDS + 1; i++) put(&g, " f");
    put(&g, " }");
    check_limit(g.p, g.n, lim, "more than 1000 fields");
    /* aliases: 101 */
    g.n = 0;
    put(&g, "{");
    for (i = 0; i < GQL_MAX_ALIASES + 1; i++) put(&g, " x: f");
    put(&g, " }");
    check_limit(g.p, g.n, lim, "more than 100 aliases");
    /* value nesting: 33 lists */
    g.n = 0;
    put(&g, "{ a(b: ");
    for (i = 0; i < GQL_MAX_VALUE_DEPTH + 1; i++) put(&g, "[");
    for (i = 0; i < GQL_MAX_VALUE_DEPTH + 1; i++) put(&g, "]");
    put(&g, ") }");
    check_limit(g.p, g.n, lim, "nested deeper than 32 levels");
    /* hostile nesting far past the limits is refused, not a stack overflow */
    g.n = 0;
    for (i = 0; i < 16000; i++) put(&g, "{a");
    check_limit(g.p, g.n, lim, "nested deeper");
    free(g.p);
}

int main(void)
{
    test_every_construct();
    test_errors();
    test_quoted_keys();
    test_lowered_limits();
    test_default_limits();
    return check_summary("test_graphql_parser");
}
