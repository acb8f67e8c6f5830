/*
 * lexer.c — GraphQL tokens from UTF-8 text (see lexer.h).
 *
 * Written by hand: the grammar is small and fixed, and a generated lexer
 * would not give the exact messages and positions graphql-js users expect
 * ("Invalid number, unexpected digit after 0", "Unterminated string.").
 * String values are decoded into the request arena as they are read; a
 * block string is collected line by line and then dedented (spec 2.9.4,
 * BlockStringValue).
 */
#include "graphql/lexer.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/buf.h"

/* ---- characters --------------------------------------------------------- */

static bool is_digit(int c)
{
    return c >= '0' && c <= '9';
}

static bool is_name_start(int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || c == '_';
}

static bool is_name_char(int c)
{
    return is_name_start(c) || is_digit(c);
}

static int hex_value(int c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t gql_utf8_decode(const char *s, size_t n, unsigned *cp)
{
    const unsigned char *u = (const unsigned char *)s;
    unsigned c;
    size_t len, i;
    if (n == 0) return 0;
    if (u[0] < 0x80) {
        *cp = u[0];
        return 1;
    }
    if (u[0] >= 0xc2 && u[0] <= 0xdf)
        len = 2, c = u[0] & 0x1f;
    else if (u[0] >= 0xe0 && u[0] <= 0xef)
        len = 3, c = u[0] & 0x0f;
    else if (u[0] >= 0xf0 && u[0] <= 0xf4)
        len = 4, c = u[0] & 0x07;
    else
        return 0;
    if (n < len) return 0;
    for (i = 1; i < len; i++) {
        if ((u[i] & 0xc0) != 0x80) return 0;
        c = (c << 6) | (u[i] & 0x3f);
    }
    if ((len == 3 && c < 0x800) || (len == 4 && (c < 0x10000 || c > 0x10ffff))) return 0;
    if (c >= 0xd800 && c <= 0xdfff) return 0;
    *cp = c;
    return len;
}

/* Appends code point cp as UTF-8. */
static ad_code put_utf8(ad_buf *b, unsigned cp)
{
    char out[4];
    size_t n;
    if (cp < 0x80) {
        out[0] = (char)cp;
        n = 1;
    } else if (cp < 0x800) {
        out[0] = (char)(0xc0 | (cp >> 6));
        out[1] = (char)(0x80 | (cp & 0x3f));
        n = 2;
    } else if (cp < 0x10000) {
        out[0] = (char)(0xe0 | (cp >> 12));
        out[1] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[2] = (char)(0x80 | (cp & 0x3f));
        n = 3;
    } else {
        out[0] = (char)(0xf0 | (cp >> 18));
        out[1] = (char)(0x80 | ((cp >> 12) & 0x3f));
        out[2] = (char)(0x80 | ((cp >> 6) & 0x3f));
        out[3] = (char)(0x80 | (cp & 0x3f));
        n = 4;
    }
    return ad_buf_append(b, out, n);
}

/* ---- positions and errors ----------------------------------------------- */

void gql_lexer_init(gql_lexer *lx, const char *src, size_t len, gql_arena *arena, size_t max_tokens)
{
    memset(lx, 0, sizeof(*lx));
    lx->src = src;
    lx->len = len;
    lx->line = 1;
    lx->col = 1;
    lx->arena = arena;
    lx->max_tokens = max_tokens;
}

/* The location of byte offset pos on the current line. Offsets asked for
 * only grow within a line, so the column is counted incrementally. */
static gql_loc loc_at(gql_lexer *lx, size_t pos)
{
    gql_loc l;
    if (lx->col_pos < lx->line_start || pos < lx->col_pos) {
        lx->col_pos = lx->line_start;
        lx->col = 1;
    }
    for (; lx->col_pos < pos && lx->col_pos < lx->len; lx->col_pos++)
        if (((unsigned char)lx->src[lx->col_pos] & 0xc0) != 0x80) lx->col++;
    l.line = lx->line;
    l.col = lx->col;
    return l;
}

static void new_line(gql_lexer *lx, size_t next_pos)
{
    lx->line++;
    lx->line_start = next_pos;
}

static ad_code lex_fail(gql_lexer *lx, size_t pos, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static ad_code lex_fail(gql_lexer *lx, size_t pos, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(lx->msg, sizeof(lx->msg), fmt, ap);
    va_end(ap);
    lx->err_loc = loc_at(lx, pos);
    return AD_E_BAD_REQUEST;
}

/* The character at pos as graphql-js prints it: "a", '"', U+0007, <EOF>. */
static void describe_char(const gql_lexer *lx, size_t pos, char *out, size_t outsz)
{
    unsigned cp;
    size_t n;
    if (pos >= lx->len) {
        snprintf(out, outsz, "<EOF>");
        return;
    }
    n = gql_utf8_decode(lx->src + pos, lx->len - pos, &cp);
    if (n == 0)
        snprintf(out, outsz, "byte 0x%02X (invalid UTF-8)", (unsigned char)lx->src[pos]);
    else if (cp == '"')
        snprintf(out, outsz, "'\"'");
    else if (cp >= 0x20 && cp <= 0x7e)
        snprintf(out, outsz, "\"%c\"", (char)cp);
    else
        snprintf(out, outsz, "U+%04X", cp);
}

static ad_code fail_char(gql_lexer *lx, size_t pos, const char *what)
{
    char c[40];
    describe_char(lx, pos, c, sizeof(c));
    return lex_fail(lx, pos, "%s%s.", what, c);
}

/* ---- tokens ------------------------------------------------------------- */

static ad_code emit(gql_lexer *lx, gql_tok_kind kind, size_t start, size_t end)
{
    lx->tok.kind = kind;
    lx->tok.loc = loc_at(lx, start);
    lx->tok.value = lx->src + start;
    lx->tok.len = end - start;
    lx->pos = end;
    return AD_OK;
}

/* Hands a decoded string to the token (copied into the arena). */
static ad_code emit_string(gql_lexer *lx, gql_tok_kind kind, gql_loc loc, ad_buf *b, size_t end)
{
    char *v = gql_arena_strndup(lx->arena, b->data ? b->data : "", b->len);
    size_t n = b->len;
    ad_buf_free(b);
    if (!v) {
        lex_fail(lx, end, "the query needs more memory than allowed");
        return AD_E_NOMEM;
    }
    lx->tok.kind = kind;
    lx->tok.loc = loc;
    lx->tok.value = v;
    lx->tok.len = n;
    lx->pos = end;
    return AD_OK;
}

static ad_code read_name(gql_lexer *lx, size_t start)
{
    size_t p = start + 1;
    while (p < lx->len && is_name_char((unsigned char)lx->src[p])) p++;
    return emit(lx, GQL_TOK_NAME, start, p);
}

/* Digit+ at p; returns the offset after them, or 0 with the error set. */
static size_t read_digits(gql_lexer *lx, size_t p, ad_code *rc)
{
    if (p >= lx->len || !is_digit((unsigned char)lx->src[p])) {
        *rc = fail_char(lx, p, "Invalid number, expected digit but got: ");
        return 0;
    }
    while (p < lx->len && is_digit((unsigned char)lx->src[p])) p++;
    return p;
}

static int char_at(const gql_lexer *lx, size_t p)
{
    return p < lx->len ? (unsigned char)lx->src[p] : -1;
}

static ad_code read_number(gql_lexer *lx, size_t start)
{
    size_t p = start;
    bool is_float = false;
    ad_code rc = AD_OK;
    if (char_at(lx, p) == '-') p++;
    if (char_at(lx, p) == '0') {
        p++;
        if (is_digit(char_at(lx, p)))
            return fail_char(lx, p, "Invalid number, unexpected digit after 0: ");
    } else if (!(p = read_digits(lx, p, &rc))) {
        return rc;
    }
    if (char_at(lx, p) == '.') {
        is_float = true;
        if (!(p = read_digits(lx, p + 1, &rc))) return rc;
    }
    if (char_at(lx, p) == 'e' || char_at(lx, p) == 'E') {
        is_float = true;
        p++;
        if (char_at(lx, p) == '+' || char_at(lx, p) == '-') p++;
        if (!(p = read_digits(lx, p, &rc))) return rc;
    }
    if (char_at(lx, p) == '.' || is_name_start(char_at(lx, p)))
        return fail_char(lx, p, "Invalid number, expected digit but got: ");
    return emit(lx, is_float ? GQL_TOK_FLOAT : GQL_TOK_INT, start, p);
}

/* Four hex digits at p, or -1. */
static long hex4(const gql_lexer *lx, size_t p)
{
    long v = 0;
    size_t i;
    if (p + 4 > lx->len) return -1;
    for (i = 0; i < 4; i++) {
        int h = hex_value((unsigned char)lx->src[p + i]);
        if (h < 0) return -1;
        v = v * 16 + h;
    }
    return v;
}

static ad_code bad_escape(gql_lexer *lx, size_t p, size_t n)
{
    size_t avail = lx->len - p;
    if (n > avail) n = avail;
    return lex_fail(lx, p, "Invalid Unicode escape sequence: \"%.*s\".", (int)n, lx->src + p);
}

/* \u{...} at p (pointing at the backslash): 1 to 8 hex digits naming a
 * Unicode scalar value. Stores the escape's length in *n. */
static ad_code unicode_braced(gql_lexer *lx, size_t p, unsigned *cp, size_t *n)
{
    unsigned long v = 0;
    size_t i = p + 3, digits = 0;
    while (i < lx->len && lx->src[i] != '}' && digits < 8) {
        int h = hex_value((unsigned char)lx->src[i]);
        if (h < 0) return bad_escape(lx, p, i - p + 1);
        v = v * 16 + (unsigned long)h;
        i++, digits++;
    }
    if (i >= lx->len || lx->src[i] != '}' || digits == 0 || v > 0x10ffff ||
        (v >= 0xd800 && v <= 0xdfff))
        return bad_escape(lx, p, i - p + 1);
    *cp = (unsigned)v;
    *n = i + 1 - p;
    return AD_OK;
}

/* \uXXXX at p, or a surrogate pair \uD83D\uDE00. */
static ad_code unicode_fixed(gql_lexer *lx, size_t p, unsigned *cp, size_t *n)
{
    long hi = hex4(lx, p + 2), lo;
    if (hi < 0) return bad_escape(lx, p, 6);
    if (hi < 0xd800 || hi > 0xdfff) {
        *cp = (unsigned)hi;
        *n = 6;
        return AD_OK;
    }
    if (hi <= 0xdbff && char_at(lx, p + 6) == '\\' && char_at(lx, p + 7) == 'u') {
        lo = hex4(lx, p + 8);
        if (lo >= 0xdc00 && lo <= 0xdfff) {
            *cp = 0x10000 + (((unsigned)hi - 0xd800) << 10) + ((unsigned)lo - 0xdc00);
            *n = 12;
            return AD_OK;
        }
    }
    return bad_escape(lx, p, 6);
}

/* One escape sequence at p (the backslash); appends its value. */
static ad_code read_escape(gql_lexer *lx, size_t p, ad_buf *b, size_t *n)
{
    static const char simple[] = "\"\"\\\\//b\bf\fn\nr\rt\t";
    int c = char_at(lx, p + 1);
    unsigned cp = 0;
    ad_code rc;
    for (size_t i = 0; i + 1 < sizeof(simple); i += 2) {
        if (c == simple[i]) {
            *n = 2;
            return ad_buf_append(b, &simple[i + 1], 1);
        }
    }
    if (c != 'u') {
        size_t len = p + 1 < lx->len ? 2 : 1;
        return lex_fail(lx, p, "Invalid character escape sequence: \"%.*s\".", (int)len,
                        lx->src + p);
    }
    rc = char_at(lx, p + 2) == '{' ? unicode_braced(lx, p, &cp, n) : unicode_fixed(lx, p, &cp, n);
    return rc ? rc : put_utf8(b, cp);
}

/* One source character at p (not ASCII-only): its UTF-8 length, or 0 after
 * setting the error. */
static size_t source_char(gql_lexer *lx, size_t p, const char *context)
{
    unsigned cp;
    size_t n = gql_utf8_decode(lx->src + p, lx->len - p, &cp);
    if (n == 0) fail_char(lx, p, context);
    return n;
}

static ad_code read_string(gql_lexer *lx, size_t start)
{
    gql_loc loc = loc_at(lx, start);
    ad_buf b;
    size_t p = start + 1;
    ad_code rc = AD_OK;
    ad_buf_init(&b, lx->len);
    while (p < lx->len && !rc) {
        int c = (unsigned char)lx->src[p];
        size_t n = 1;
        if (c == '"') return emit_string(lx, GQL_TOK_STRING, loc, &b, p + 1);
        if (c == '\n' || c == '\r') break;
        if (c == '\\') {
            rc = read_escape(lx, p, &b, &n);
        } else if (c < 0x80) {
            rc = ad_buf_append(&b, lx->src + p, 1);
        } else if ((n = source_char(lx, p, "Invalid character within String: ")) == 0) {
            rc = AD_E_BAD_REQUEST;
        } else {
            rc = ad_buf_append(&b, lx->src + p, n);
        }
        p += n;
    }
    ad_buf_free(&b);
    return rc ? rc : lex_fail(lx, p, "Unterminated string.");
}

/* ---- block strings ------------------------------------------------------ */

/* Spaces and tabs at the start of line[0..n). */
static size_t leading_ws(const char *line, size_t n)
{
    size_t i = 0;
    while (i < n && (line[i] == ' ' || line[i] == '\t')) i++;
    return i;
}

/* The length of the line starting at s (up to '\n' or end). */
static size_t line_len(const char *s, const char *end)
{
    const char *nl = memchr(s, '\n', (size_t)(end - s));
    return nl ? (size_t)(nl - s) : (size_t)(end - s);
}

/* BlockStringValue: raw holds the lines joined by '\n'; the common
 * indentation of every line but the first is removed, then leading and
 * trailing blank lines; the result is written to out. */
static ad_code dedent(const ad_buf *raw, ad_buf *out)
{
    const char *s = raw->data ? raw->data : "", *end = s + raw->len, *p;
    size_t common = (size_t)-1, i, first = (size_t)-1, last = 0, idx;
    ad_code rc = AD_OK;
    for (p = s, i = 0; p <= end; i++) {
        size_t n = line_len(p, end), ws = leading_ws(p, n);
        if (ws < n) {
            if (first == (size_t)-1) first = i;
            last = i;
            if (i > 0 && ws < common) common = ws;
        }
        p += n + 1;
    }
    if (first == (size_t)-1) return AD_OK; /* only blank lines: "" */
    for (p = s, idx = 0; p <= end && idx <= last && !rc; idx++) {
        size_t n = line_len(p, end), cut = 0;
        if (idx > 0) cut = common < n ? common : n;
        if (idx >= first) {
            if (idx > first) rc = ad_buf_append(out, "\n", 1);
            if (!rc) rc = ad_buf_append(out, p + cut, n - cut);
        }
        p += n + 1;
    }
    return rc;
}

static ad_code read_block_string(gql_lexer *lx, size_t start)
{
    gql_loc loc = loc_at(lx, start);
    ad_buf raw, val;
    size_t p = start + 3;
    ad_code rc = AD_OK;
    ad_buf_init(&raw, lx->len);
    ad_buf_init(&val, lx->len);
    while (p < lx->len && !rc) {
        int c = (unsigned char)lx->src[p];
        size_t n = 1;
        if (c == '"' && char_at(lx, p + 1) == '"' && char_at(lx, p + 2) == '"') {
            rc = dedent(&raw, &val);
            ad_buf_free(&raw);
            if (rc) break;
            return emit_string(lx, GQL_TOK_BLOCK_STRING, loc, &val, p + 3);
        }
        if (c == '\\' && lx->len - p >= 4 && memcmp(lx->src + p + 1, "\"\"\"", 3) == 0) {
            rc = ad_buf_append(&raw, "\"\"\"", 3);
            n = 4;
        } else if (c == '\n' || c == '\r') {
            n = (c == '\r' && char_at(lx, p + 1) == '\n') ? 2 : 1;
            rc = ad_buf_append(&raw, "\n", 1);
            new_line(lx, p + n);
        } else if (c < 0x80) {
            rc = ad_buf_append(&raw, lx->src + p, 1);
        } else if ((n = source_char(lx, p, "Invalid character within String: ")) == 0) {
            rc = AD_E_BAD_REQUEST;
        } else {
            rc = ad_buf_append(&raw, lx->src + p, n);
        }
        p += n;
    }
    ad_buf_free(&raw);
    ad_buf_free(&val);
    return rc ? rc : lex_fail(lx, p, "Unterminated string.");
}

/* ---- the token loop ----------------------------------------------------- */

static bool skip_comment(gql_lexer *lx, size_t *p)
{
    while (*p < lx->len && lx->src[*p] != '\n' && lx->src[*p] != '\r') {
        unsigned cp;
        size_t n = gql_utf8_decode(lx->src + *p, lx->len - *p, &cp);
        if (n == 0) return false;
        *p += n;
    }
    return true;
}

/* Skips the ignored tokens from lx->pos; false on invalid UTF-8 in a
 * comment (lx->pos is then at it). */
static bool skip_ignored(gql_lexer *lx)
{
    size_t p = lx->pos;
    bool ok = true;
    while (p < lx->len && ok) {
        unsigned char c = (unsigned char)lx->src[p];
        if (c == ' ' || c == '\t' || c == ',') {
            p++;
        } else if (c == '\n' || c == '\r') {
            p += (c == '\r' && char_at(lx, p + 1) == '\n') ? 2 : 1;
            new_line(lx, p);
        } else if (c == 0xef && lx->len - p >= 3 && memcmp(lx->src + p, "\xef\xbb\xbf", 3) == 0) {
            p += 3; /* BOM */
        } else if (c == '#') {
            ok = skip_comment(lx, &p);
        } else {
            break;
        }
    }
    lx->pos = p;
    return ok;
}

static gql_tok_kind punctuator(int c)
{
    switch (c) {
    case '!':
        return GQL_TOK_BANG;
    case '$':
        return GQL_TOK_DOLLAR;
    case '&':
        return GQL_TOK_AMP;
    case '(':
        return GQL_TOK_LPAREN;
    case ')':
        return GQL_TOK_RPAREN;
    case ':':
        return GQL_TOK_COLON;
    case '=':
        return GQL_TOK_EQUALS;
    case '@':
        return GQL_TOK_AT;
    case '[':
        return GQL_TOK_LBRACKET;
    case ']':
        return GQL_TOK_RBRACKET;
    case '{':
        return GQL_TOK_LBRACE;
    case '|':
        return GQL_TOK_PIPE;
    case '}':
        return GQL_TOK_RBRACE;
    default:
        return GQL_TOK_EOF;
    }
}

static ad_code unexpected(gql_lexer *lx, size_t p)
{
    unsigned cp;
    if (lx->src[p] == '\'')
        return lex_fail(lx, p,
                        "Unexpected single quote character ('), did you mean to use a double "
                        "quote (\")?");
    if (gql_utf8_decode(lx->src + p, lx->len - p, &cp) == 0)
        return fail_char(lx, p, "Invalid character: ");
    return fail_char(lx, p, "Unexpected character: ");
}

ad_code gql_lex_next(gql_lexer *lx)
{
    size_t p;
    int c;
    gql_tok_kind k;
    if (!skip_ignored(lx)) return fail_char(lx, lx->pos, "Invalid character: ");
    p = lx->pos;
    if (p >= lx->len) return emit(lx, GQL_TOK_EOF, p, p);
    if (++lx->ntokens > lx->max_tokens) {
        lex_fail(lx, p, "Document contains more than %zu tokens. Parsing aborted.", lx->max_tokens);
        return AD_E_TOO_LARGE;
    }
    c = (unsigned char)lx->src[p];
    if ((k = punctuator(c)) != GQL_TOK_EOF) return emit(lx, k, p, p + 1);
    if (c == '.' && char_at(lx, p + 1) == '.' && char_at(lx, p + 2) == '.')
        return emit(lx, GQL_TOK_SPREAD, p, p + 3);
    if (c == '"')
        return (char_at(lx, p + 1) == '"' && char_at(lx, p + 2) == '"') ? read_block_string(lx, p)
                                                                        : read_string(lx, p);
    if (is_digit(c) || c == '-') return read_number(lx, p);
    if (is_name_start(c)) return read_name(lx, p);
    return unexpected(lx, p);
}

void gql_token_describe(const gql_token *t, char *out, size_t outsz)
{
    static const char *const punct[] = {
        [GQL_TOK_BANG] = "!",     [GQL_TOK_DOLLAR] = "$",   [GQL_TOK_AMP] = "&",
        [GQL_TOK_LPAREN] = "(",   [GQL_TOK_RPAREN] = ")",   [GQL_TOK_SPREAD] = "...",
        [GQL_TOK_COLON] = ":",    [GQL_TOK_EQUALS] = "=",   [GQL_TOK_AT] = "@",
        [GQL_TOK_LBRACKET] = "[", [GQL_TOK_RBRACKET] = "]", [GQL_TOK_LBRACE] = "{",
        [GQL_TOK_PIPE] = "|",     [GQL_TOK_RBRACE] = "}",
    };
    int n = t->len > 64 ? 64 : (int)t->len;
    switch (t->kind) {
    case GQL_TOK_EOF:
        snprintf(out, outsz, "<EOF>");
        break;
    case GQL_TOK_NAME:
        snprintf(out, outsz, "Name \"%.*s\"", n, t->value);
        break;
    case GQL_TOK_INT:
        snprintf(out, outsz, "Int \"%.*s\"", n, t->value);
        break;
    case GQL_TOK_FLOAT:
        snprintf(out, outsz, "Float \"%.*s\"", n, t->value);
        break;
    case GQL_TOK_STRING:
        snprintf(out, outsz, "String \"%.*s\"", n, t->value);
        break;
    case GQL_TOK_BLOCK_STRING:
        snprintf(out, outsz, "BlockString \"%.*s\"", n, t->value);
        break;
    default:
        snprintf(out, outsz, "\"%s\"", punct[t->kind]);
        break;
    }
}
