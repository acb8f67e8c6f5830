/*
 * parser.c — a recursive-descent parser for executable GraphQL documents
 * (see parser.h). One function per production of the specification's
 * grammar, named after it; each reads from the lexer's current token.
 *
 * Recursion is bounded: selection sets by limits->depth, values and list
 * types by limits->value_depth, so no document can exhaust the stack.
 */
#include "graphql/parser.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "graphql/lexer.h"

typedef struct parser {
    gql_lexer lx;
    gql_arena *arena;
    const gql_limits *lim;
    bool quoted_keys;
    gql_document *doc;
    size_t depth;  /* selection sets open */
    size_t vdepth; /* values / list types open */
    gql_parse_error *err;
} parser;

const char *gql_op_name(gql_op_kind k)
{
    return k == GQL_OP_MUTATION ? "mutation" : k == GQL_OP_SUBSCRIPTION ? "subscription" : "query";
}

/* ---- errors and tokens -------------------------------------------------- */

static ad_code fail_at(parser *p, gql_loc loc, bool limit, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static ad_code fail_at(parser *p, gql_loc loc, bool limit, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(p->err->msg, sizeof(p->err->msg), fmt, ap);
    va_end(ap);
    p->err->loc = loc;
    p->err->limit = limit;
    return AD_E_BAD_REQUEST;
}

static ad_code oom(parser *p)
{
    return fail_at(p, p->lx.tok.loc, true,
                   "The query needs more than %zu bytes of memory to parse; it is too large.",
                   p->lim->ast_bytes);
}

static void *alloc(parser *p, size_t n)
{
    return gql_arena_alloc(p->arena, n);
}

#define NEW(p, type) ((type *)alloc((p), sizeof(type)))

static ad_code advance(parser *p)
{
    ad_code rc = gql_lex_next(&p->lx);
    if (rc == AD_OK) return AD_OK;
    if (rc == AD_E_NOMEM) return oom(p);
    return fail_at(p, p->lx.err_loc, rc == AD_E_TOO_LARGE, "Syntax Error: %s", p->lx.msg);
}

static bool peek(const parser *p, gql_tok_kind k)
{
    return p->lx.tok.kind == k;
}

static bool peek_name(const parser *p, const char *name)
{
    return peek(p, GQL_TOK_NAME) && p->lx.tok.len == strlen(name) &&
           memcmp(p->lx.tok.value, name, p->lx.tok.len) == 0;
}

static ad_code unexpected(parser *p)
{
    char what[96];
    gql_token_describe(&p->lx.tok, what, sizeof(what));
    return fail_at(p, p->lx.tok.loc, false, "Syntax Error: Unexpected %s.", what);
}

static ad_code expect(parser *p, gql_tok_kind k, const char *text)
{
    char what[96];
    if (peek(p, k)) return advance(p);
    gql_token_describe(&p->lx.tok, what, sizeof(what));
    return fail_at(p, p->lx.tok.loc, false, "Syntax Error: Expected \"%s\", found %s.", text, what);
}

static ad_code expect_keyword(parser *p, const char *kw)
{
    char what[96];
    if (peek_name(p, kw)) return advance(p);
    gql_token_describe(&p->lx.tok, what, sizeof(what));
    return fail_at(p, p->lx.tok.loc, false, "Syntax Error: Expected \"%s\", found %s.", kw, what);
}

static ad_code expected_name(parser *p)
{
    char what[96];
    gql_token_describe(&p->lx.tok, what, sizeof(what));
    return fail_at(p, p->lx.tok.loc, false, "Syntax Error: Expected Name, found %s.", what);
}

/* Name: copies the current NAME token into the arena. */
static ad_code parse_name(parser *p, const char **name, gql_loc *loc)
{
    if (!peek(p, GQL_TOK_NAME)) return expected_name(p);
    *name = gql_arena_strndup(p->arena, p->lx.tok.value, p->lx.tok.len);
    if (!*name) return oom(p);
    if (loc) *loc = p->lx.tok.loc;
    return advance(p);
}

/* ---- values ------------------------------------------------------------- */

static ad_code parse_value(parser *p, bool is_const, gql_value **out);

static ad_code enter_value(parser *p)
{
    if (++p->vdepth > p->lim->value_depth)
        return fail_at(p, p->lx.tok.loc, true,
                       "Values and list types are nested deeper than %zu levels.",
                       p->lim->value_depth);
    return AD_OK;
}

/* ListValue: [ Value* ] */
static ad_code parse_list(parser *p, bool is_const, gql_value *v)
{
    gql_value **tail = &v->items;
    ad_code rc = enter_value(p);
    if (!rc) rc = advance(p);
    while (!rc && !peek(p, GQL_TOK_RBRACKET)) {
        if (peek(p, GQL_TOK_EOF)) return unexpected(p);
        rc = parse_value(p, is_const, tail);
        if (!rc) tail = &(*tail)->next;
    }
    if (!rc) rc = advance(p);
    p->vdepth--;
    return rc;
}

/* ObjectField: Name : Value, or (extension) String : Value. */
static ad_code parse_object_field(parser *p, bool is_const, gql_object_field **out)
{
    gql_object_field *f = NEW(p, gql_object_field);
    ad_code rc;
    if (!f) return oom(p);
    f->loc = p->lx.tok.loc;
    if (p->quoted_keys && peek(p, GQL_TOK_STRING)) {
        f->quoted = true;
        f->name = p->lx.tok.value; /* already in the arena */
        f->name_len = p->lx.tok.len;
        rc = advance(p);
    } else {
        rc = parse_name(p, &f->name, NULL);
        if (!rc) f->name_len = strlen(f->name);
    }
    if (!rc) rc = expect(p, GQL_TOK_COLON, ":");
    if (!rc) rc = parse_value(p, is_const, &f->value);
    *out = f;
    return rc;
}

/* ObjectValue: { ObjectField* } */
static ad_code parse_object(parser *p, bool is_const, gql_value *v)
{
    gql_object_field **tail = &v->fields;
    ad_code rc = enter_value(p);
    if (!rc) rc = advance(p);
    while (!rc && !peek(p, GQL_TOK_RBRACE)) {
        if (peek(p, GQL_TOK_EOF)) return unexpected(p);
        rc = parse_object_field(p, is_const, tail);
        if (!rc) tail = &(*tail)->next;
    }
    if (!rc) rc = advance(p);
    p->vdepth--;
    return rc;
}

static ad_code parse_variable_value(parser *p, bool is_const, gql_value *v)
{
    ad_code rc = advance(p); /* $ */
    v->kind = GQL_V_VARIABLE;
    if (!rc) rc = parse_name(p, &v->str, NULL);
    if (!rc && is_const)
        return fail_at(p, v->loc, false,
                       "Syntax Error: Unexpected variable \"$%.100s\" in constant value.", v->str);
    if (!rc) v->len = strlen(v->str);
    return rc;
}

/* A scalar token: Int, Float, String, true/false/null, or an enum name. */
static ad_code parse_scalar_value(parser *p, gql_value *v)
{
    const gql_token *t = &p->lx.tok;
    switch (t->kind) {
    case GQL_TOK_INT:
        v->kind = GQL_V_INT;
        break;
    case GQL_TOK_FLOAT:
        v->kind = GQL_V_FLOAT;
        break;
    case GQL_TOK_STRING:
        v->kind = GQL_V_STRING;
        break;
    case GQL_TOK_BLOCK_STRING:
        v->kind = GQL_V_STRING;
        v->block = true;
        break;
    case GQL_TOK_NAME:
        if (peek_name(p, "true") || peek_name(p, "false")) {
            v->kind = GQL_V_BOOLEAN;
            v->boolean = peek_name(p, "true");
        } else {
            v->kind = peek_name(p, "null") ? GQL_V_NULL : GQL_V_ENUM;
        }
        break;
    default:
        return unexpected(p);
    }
    if (t->kind == GQL_TOK_STRING || t->kind == GQL_TOK_BLOCK_STRING) {
        v->str = t->value; /* decoded into the arena by the lexer */
    } else {
        v->str = gql_arena_strndup(p->arena, t->value, t->len);
        if (!v->str) return oom(p);
    }
    v->len = t->len;
    return advance(p);
}

/* Value[Const] */
static ad_code parse_value(parser *p, bool is_const, gql_value **out)
{
    gql_value *v = NEW(p, gql_value);
    if (!v) return oom(p);
    *out = v;
    v->loc = p->lx.tok.loc;
    if (peek(p, GQL_TOK_LBRACKET)) {
        v->kind = GQL_V_LIST;
        return parse_list(p, is_const, v);
    }
    if (peek(p, GQL_TOK_LBRACE)) {
        v->kind = GQL_V_OBJECT;
        return parse_object(p, is_const, v);
    }
    if (peek(p, GQL_TOK_DOLLAR)) return parse_variable_value(p, is_const, v);
    return parse_scalar_value(p, v);
}

/* ---- arguments and directives ------------------------------------------- */

/* Arguments[Const]: ( Argument+ ) */
static ad_code parse_arguments(parser *p, bool is_const, gql_argument **out)
{
    gql_argument **tail = out;
    ad_code rc = advance(p); /* ( */
    if (!rc && peek(p, GQL_TOK_RPAREN)) return expected_name(p);
    while (!rc && !peek(p, GQL_TOK_RPAREN)) {
        gql_argument *a = NEW(p, gql_argument);
        if (!a) return oom(p);
        rc = parse_name(p, &a->name, &a->loc);
        if (!rc) rc = expect(p, GQL_TOK_COLON, ":");
        if (!rc) rc = parse_value(p, is_const, &a->value);
        *tail = a;
        tail = &a->next;
    }
    return rc ? rc : advance(p);
}

/* Directives[Const]: Directive[Const]* */
static ad_code parse_directives(parser *p, bool is_const, gql_directive_node **out)
{
    gql_directive_node **tail = out;
    ad_code rc = AD_OK;
    while (!rc && peek(p, GQL_TOK_AT)) {
        gql_directive_node *d = NEW(p, gql_directive_node);
        if (!d) return oom(p);
        d->loc = p->lx.tok.loc;
        rc = advance(p);
        if (!rc) rc = parse_name(p, &d->name, NULL);
        if (!rc && peek(p, GQL_TOK_LPAREN)) rc = parse_arguments(p, is_const, &d->args);
        *tail = d;
        tail = &d->next;
    }
    return rc;
}

/* ---- selections --------------------------------------------------------- */

static ad_code parse_selection_set(parser *p, gql_selection_set **out);

static ad_code count_field(parser *p, const gql_selection *f)
{
    if (++p->doc->nfields > p->lim->fields)
        return fail_at(p, f->loc, true, "The query has more than %zu fields.", p->lim->fields);
    if (f->alias && ++p->doc->naliases > p->lim->aliases)
        return fail_at(p, f->loc, true, "The query has more than %zu aliases.", p->lim->aliases);
    return AD_OK;
}

/* Field: Alias? Name Arguments? Directives? SelectionSet? */
static ad_code parse_field(parser *p, gql_selection *s)
{
    ad_code rc = parse_name(p, &s->name, &s->loc);
    s->kind = GQL_SEL_FIELD;
    if (!rc && peek(p, GQL_TOK_COLON)) {
        s->alias = s->name;
        rc = advance(p);
        if (!rc) rc = parse_name(p, &s->name, NULL);
    }
    if (!rc) rc = count_field(p, s);
    if (!rc && peek(p, GQL_TOK_LPAREN)) rc = parse_arguments(p, false, &s->args);
    if (!rc) rc = parse_directives(p, false, &s->directives);
    if (!rc && peek(p, GQL_TOK_LBRACE)) rc = parse_selection_set(p, &s->set);
    return rc;
}

/* FragmentSpread: ... FragmentName Directives?
 * InlineFragment: ... TypeCondition? Directives? SelectionSet */
static ad_code parse_fragment_selection(parser *p, gql_selection *s)
{
    ad_code rc = advance(p); /* ... */
    if (!rc && peek(p, GQL_TOK_NAME) && !peek_name(p, "on")) {
        s->kind = GQL_SEL_SPREAD;
        rc = parse_name(p, &s->name, NULL);
        return rc ? rc : parse_directives(p, false, &s->directives);
    }
    s->kind = GQL_SEL_INLINE;
    if (!rc && peek_name(p, "on")) {
        rc = advance(p);
        if (!rc) rc = parse_name(p, &s->type_cond, &s->type_cond_loc);
    }
    if (!rc) rc = parse_directives(p, false, &s->directives);
    if (!rc && !peek(p, GQL_TOK_LBRACE)) return expect(p, GQL_TOK_LBRACE, "{");
    return rc ? rc : parse_selection_set(p, &s->set);
}

/* SelectionSet: { Selection+ } */
static ad_code parse_selection_set(parser *p, gql_selection_set **out)
{
    gql_selection_set *set = NEW(p, gql_selection_set);
    gql_selection **tail;
    ad_code rc;
    if (!set) return oom(p);
    set->loc = p->lx.tok.loc;
    *out = set;
    tail = &set->first;
    if (++p->depth > p->lim->depth)
        return fail_at(p, set->loc, true, "The query is nested deeper than %zu levels.",
                       p->lim->depth);
    rc = expect(p, GQL_TOK_LBRACE, "{");
    if (!rc && peek(p, GQL_TOK_RBRACE)) rc = expected_name(p);
    while (!rc && !peek(p, GQL_TOK_RBRACE)) {
        gql_selection *s = NEW(p, gql_selection);
        if (!s) return oom(p);
        s->loc = p->lx.tok.loc;
        rc = peek(p, GQL_TOK_SPREAD) ? parse_fragment_selection(p, s) : parse_field(p, s);
        *tail = s;
        tail = &s->next;
    }
    p->depth--;
    return rc ? rc : advance(p);
}

/* ---- types and variables ------------------------------------------------ */

/* Type: NamedType | [ Type ] | Type ! */
static ad_code parse_type(parser *p, gql_type_node **out)
{
    gql_type_node *t = NEW(p, gql_type_node);
    ad_code rc;
    if (!t) return oom(p);
    t->loc = p->lx.tok.loc;
    if (peek(p, GQL_TOK_LBRACKET)) {
        t->kind = GQL_T_LIST;
        rc = enter_value(p);
        if (!rc) rc = advance(p);
        if (!rc) rc = parse_type(p, &t->of);
        if (!rc) rc = expect(p, GQL_TOK_RBRACKET, "]");
        p->vdepth--;
    } else {
        t->kind = GQL_T_NAMED;
        rc = parse_name(p, &t->name, NULL);
    }
    if (!rc && peek(p, GQL_TOK_BANG)) {
        gql_type_node *nn = NEW(p, gql_type_node);
        if (!nn) return oom(p);
        nn->kind = GQL_T_NON_NULL;
        nn->of = t;
        nn->loc = t->loc;
        t = nn;
        rc = advance(p);
    }
    *out = t;
    return rc;
}

/* VariableDefinition: Variable : Type DefaultValue? Directives[Const]? */
static ad_code parse_variable_definition(parser *p, gql_var_def **out)
{
    gql_var_def *v = NEW(p, gql_var_def);
    ad_code rc;
    if (!v) return oom(p);
    *out = v;
    v->loc = p->lx.tok.loc;
    rc = expect(p, GQL_TOK_DOLLAR, "$");
    if (!rc) rc = parse_name(p, &v->name, NULL);
    if (!rc) rc = expect(p, GQL_TOK_COLON, ":");
    if (!rc) rc = parse_type(p, &v->type);
    if (!rc && peek(p, GQL_TOK_EQUALS)) {
        rc = advance(p);
        if (!rc) rc = parse_value(p, true, &v->default_value);
    }
    if (!rc) rc = parse_directives(p, true, &v->directives);
    return rc;
}

/* VariableDefinitions: ( VariableDefinition+ ) */
static ad_code parse_variable_definitions(parser *p, gql_var_def **out)
{
    gql_var_def **tail = out;
    ad_code rc = advance(p); /* ( */
    if (!rc && peek(p, GQL_TOK_RPAREN)) rc = expect(p, GQL_TOK_DOLLAR, "$");
    while (!rc && !peek(p, GQL_TOK_RPAREN)) {
        rc = parse_variable_definition(p, tail);
        if (!rc) tail = &(*tail)->next;
    }
    return rc ? rc : advance(p);
}

/* ---- definitions -------------------------------------------------------- */

/* OperationDefinition: OperationType Name? VariableDefinitions? Directives?
 * SelectionSet, or a bare SelectionSet (an anonymous query). */
static ad_code parse_operation(parser *p, gql_definition *d)
{
    ad_code rc = AD_OK;
    d->kind = GQL_DEF_OPERATION;
    d->op = GQL_OP_QUERY;
    if (peek(p, GQL_TOK_LBRACE)) return parse_selection_set(p, &d->set);
    if (peek_name(p, "mutation")) d->op = GQL_OP_MUTATION;
    if (peek_name(p, "subscription")) d->op = GQL_OP_SUBSCRIPTION;
    rc = advance(p);
    if (!rc && peek(p, GQL_TOK_NAME)) rc = parse_name(p, &d->name, NULL);
    if (!rc && peek(p, GQL_TOK_LPAREN)) rc = parse_variable_definitions(p, &d->vars);
    if (!rc) rc = parse_directives(p, false, &d->directives);
    if (!rc && !peek(p, GQL_TOK_LBRACE)) return expect(p, GQL_TOK_LBRACE, "{");
    return rc ? rc : parse_selection_set(p, &d->set);
}

/* FragmentDefinition: fragment FragmentName TypeCondition Directives?
 * SelectionSet */
static ad_code parse_fragment(parser *p, gql_definition *d)
{
    ad_code rc = advance(p); /* fragment */
    d->kind = GQL_DEF_FRAGMENT;
    if (!rc && peek_name(p, "on")) return unexpected(p);
    if (!rc) rc = parse_name(p, &d->name, NULL);
    if (!rc) rc = expect_keyword(p, "on");
    if (!rc) rc = parse_name(p, &d->type_cond, &d->type_cond_loc);
    if (!rc) rc = parse_directives(p, false, &d->directives);
    if (!rc && !peek(p, GQL_TOK_LBRACE)) return expect(p, GQL_TOK_LBRACE, "{");
    return rc ? rc : parse_selection_set(p, &d->set);
}

/* A type system definition or extension: valid GraphQL, not executable. */
static bool is_type_system_start(const parser *p)
{
    static const char *const kw[] = {"schema", "scalar", "type",      "interface", "union",
                                     "enum",   "input",  "directive", "extend"};
    if (peek(p, GQL_TOK_STRING) || peek(p, GQL_TOK_BLOCK_STRING)) return true;
    for (size_t i = 0; i < sizeof(kw) / sizeof(kw[0]); i++)
        if (peek_name(p, kw[i])) return true;
    return false;
}

static ad_code parse_definition(parser *p, gql_definition **out)
{
    gql_definition *d = NEW(p, gql_definition);
    if (!d) return oom(p);
    *out = d;
    d->loc = p->lx.tok.loc;
    if (peek(p, GQL_TOK_LBRACE) || peek_name(p, "query") || peek_name(p, "mutation") ||
        peek_name(p, "subscription"))
        return parse_operation(p, d);
    if (peek_name(p, "fragment")) return parse_fragment(p, d);
    if (is_type_system_start(p))
        return fail_at(p, d->loc, false,
                       "Type system definitions are not executable: a request may contain "
                       "only operations and fragments.");
    return unexpected(p);
}

ad_code gql_parse(const char *src, size_t len, const gql_limits *lim, bool quoted_keys,
                  gql_arena *arena, gql_document **out, gql_parse_error *err)
{
    parser p = {.arena = arena, .lim = lim, .quoted_keys = quoted_keys, .err = err};
    gql_definition **tail;
    ad_code rc;
    memset(err, 0, sizeof(*err));
    *out = NULL;
    if (len > lim->query_bytes)
        return fail_at(&p, (gql_loc){1, 1}, true, "The query is %zu bytes long; the limit is %zu.",
                       len, lim->query_bytes);
    gql_lexer_init(&p.lx, src, len, arena, lim->tokens);
    p.doc = NEW(&p, gql_document);
    if (!p.doc) return oom(&p);
    tail = &p.doc->defs;
    rc = advance(&p);
    if (!rc && peek(&p, GQL_TOK_EOF)) return unexpected(&p);
    while (!rc && !peek(&p, GQL_TOK_EOF)) {
        rc = parse_definition(&p, tail);
        if (!rc) {
            tail = &(*tail)->next;
            p.doc->ndefs++;
        }
    }
    if (rc) return rc;
    p.doc->ntokens = p.lx.ntokens;
    *out = p.doc;
    return AD_OK;
}
