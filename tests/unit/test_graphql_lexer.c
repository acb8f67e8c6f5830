/*
 * test_graphql_lexer.c — the GraphQL lexer (src/graphql/lexer.c): every
 * token kind, every string escape including surrogate pairs and \u{...},
 * block strings and their indentation rules, the ignored tokens, line and
 * column positions (CR, LF, CRLF, multi-byte characters), each lexical
 * error with its position, and the token limit.
 */
#include <stdio.h>
#include <string.h>

#include "check.h"
#include "graphql/arena.h"
#include "graphql/lexer.h"

#define MAX_TOKS 64
#define LIT(s)   s, sizeof(s) - 1 /* a string literal and its length */

typedef struct lexed {
    ad_code rc; /* of the call that stopped the loop */
    gql_token toks[MAX_TOKS];
    size_t n;
    char msg[GQL_LEX_MSG_MAX];
    gql_loc err;
} lexed;

static gql_arena arena;

/* Lexes src[0..len) to the end or the first error. */
static void lex_n(const char *src, size_t len, size_t max_tokens, lexed *out)
{
    gql_lexer lx;
    memset(out, 0, sizeof(*out));
    gql_lexer_init(&lx, src, len, &arena, max_tokens);
    while (out->n < MAX_TOKS) {
        out->rc = gql_lex_next(&lx);
        if (out->rc) {
            snprintf(out->msg, sizeof(out->msg), "%s", lx.msg);
            out->err = lx.err_loc;
            return;
        }
        if (lx.tok.kind == GQL_TOK_EOF) return;
        out->toks[out->n++] = lx.tok;
    }
}

static void lex(const char *src, lexed *out)
{
    lex_n(src, strlen(src), 10000, out);
}

/* The only token of src is a string whose value is want[0..wantlen). */
static void check_string(const char *src, const char *want, size_t wantlen)
{
    lexed l;
    lex(src, &l);
    CHECK(l.rc == AD_OK && l.n == 1, "%s: rc %d n %zu (%s)", src, l.rc, l.n, l.msg);
    if (l.rc || l.n != 1) return;
    CHECK(l.toks[0].kind == GQL_TOK_STRING || l.toks[0].kind == GQL_TOK_BLOCK_STRING, "%s: kind %d",
          src, l.toks[0].kind);
    CHECK(l.toks[0].len == wantlen && memcmp(l.toks[0].value, want, wantlen) == 0,
          "%s: got [%.*s] (%zu bytes), want [%.*s]", src, (int)l.toks[0].len, l.toks[0].value,
          l.toks[0].len, (int)wantlen, want);
}

/* src fails with a message containing want at line:col. */
static void check_error(const char *src, size_t len, const char *want, unsigned line, unsigned col)
{
    lexed l;
    lex_n(src, len, 10000, &l);
    CHECK(l.rc == AD_E_BAD_REQUEST, "%s: rc %d, want a syntax error", src, l.rc);
    CHECK(strstr(l.msg, want) != NULL, "%s: message \"%s\" lacks \"%s\"", src, l.msg, want);
    CHECK(l.err.line == line && l.err.col == col, "%s: error at %u:%u, want %u:%u", src, l.err.line,
          l.err.col, line, col);
}

static void test_punctuators(void)
{
    static const gql_tok_kind want[] = {
        GQL_TOK_BANG,     GQL_TOK_DOLLAR, GQL_TOK_AMP,    GQL_TOK_LPAREN, GQL_TOK_RPAREN,
        GQL_TOK_SPREAD,   GQL_TOK_COLON,  GQL_TOK_EQUALS, GQL_TOK_AT,     GQL_TOK_LBRACKET,
        GQL_TOK_RBRACKET, GQL_TOK_LBRACE, GQL_TOK_PIPE,   GQL_TOK_RBRACE,
    };
    lexed l;
    lex("! $ & ( ) ... : = @ [ ] { | }", &l);
    CHECK(l.rc == AD_OK && l.n == 14, "rc %d n %zu", l.rc, l.n);
    for (size_t i = 0; i < l.n && i < 14; i++)
        CHECK(l.toks[i].kind == want[i], "token %zu: kind %d want %d", i, l.toks[i].kind, want[i]);
    lex("!$&()...:=@[]{|}", &l);
    CHECK(l.rc == AD_OK && l.n == 14, "without spaces: n %zu", l.n);
}

static void test_names_and_numbers(void)
{
    static const struct {
        const char *text;
        gql_tok_kind kind;
    } cases[] = {
        {"_", GQL_TOK_NAME},        {"getAssetById", GQL_TOK_NAME},
        {"__Type_2", GQL_TOK_NAME}, {"0", GQL_TOK_INT},
        {"-0", GQL_TOK_INT},        {"1234567890", GQL_TOK_INT},
        {"-12", GQL_TOK_INT},       {"1.5", GQL_TOK_FLOAT},
        {"-0.25", GQL_TOK_FLOAT},   {"1e10", GQL_TOK_FLOAT},
        {"1E-3", GQL_TOK_FLOAT},    {"-1.5e+3", GQL_TOK_FLOAT},
        {"0.0", GQL_TOK_FLOAT},     {"123e4", GQL_TOK_FLOAT},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        lexed l;
        lex(cases[i].text, &l);
        CHECK(l.rc == AD_OK && l.n == 1 && l.toks[0].kind == cases[i].kind,
              "%s: rc %d n %zu kind %d", cases[i].text, l.rc, l.n, l.n ? (int)l.toks[0].kind : -1);
        CHECK(l.n == 1 && l.toks[0].len == strlen(cases[i].text) &&
                  memcmp(l.toks[0].value, cases[i].text, l.toks[0].len) == 0,
              "%s: token text", cases[i].text);
    }
}

static void test_strings(void)
{
    check_string("\"\"", LIT(""));
    check_string("\"simple\"", LIT("simple"));
    check_string("\"quote \\\" backslash \\\\ slash \\/\"", LIT("quote \" backslash \\ slash /"));
    check_string("\"\\b\\f\\n\\r\\t\"", LIT("\b\f\n\r\t"));
    check_string("\"\\u0041\\u00e9\\u20AC\"", LIT("A\xc3\xa9\xe2\x82\xac"));
    check_string("\"\\uD83D\\uDE00\"", LIT("\xf0\x9f\x98\x80"));  /* surrogate pair */
    check_string("\"\\u{1F600}\"", LIT("\xf0\x9f\x98\x80"));      /* braced */
    check_string("\"\\u{0000041}\\u{61}\"", LIT("Aa"));           /* leading zeros */
    check_string("\"\\u{10FFFF}\"", LIT("\xf4\x8f\xbf\xbf"));     /* the last code point */
    check_string("\"nul \\u0000 inside\"", LIT("nul \0 inside")); /* NUL kept, length exact */
    check_string("\"caf\xc3\xa9 \xf0\x9f\x98\x80\"", LIT("caf\xc3\xa9 \xf0\x9f\x98\x80"));
    check_string("\"tab\tinside\"", LIT("tab\tinside"));
    check_string("\"bell \x07 ok\"", LIT("bell \x07 ok")); /* SourceCharacter: any scalar */
}

static void test_block_strings(void)
{
    /* the specification's example: common indentation and blank edges go */
    check_string("\"\"\"\n    Hello,\n      World!\n\n    Yours,\n      GraphQL.\n  \"\"\"",
                 LIT("Hello,\n  World!\n\nYours,\n  GraphQL."));
    /* the first line is not dedented */
    check_string("\"\"\"  first\n  second\"\"\"", LIT("  first\nsecond"));
    check_string("\"\"\"a \\\"\"\" b\"\"\"", LIT("a \"\"\" b"));
    check_string("\"\"\"   \n   \n\"\"\"", LIT(""));
    check_string("\"\"\"\"\"\"", LIT(""));
    check_string("\"\"\"\r\n  one\r\n  two\r  three\r\n\"\"\"", LIT("one\ntwo\nthree"));
    check_string("\"\"\"\n\tx\n\t\ty\n\"\"\"", LIT("x\n\ty"));
    check_string("\"\"\"no \\n escapes \\u0041\"\"\"", LIT("no \\n escapes \\u0041"));
    check_string("\"\"\"quote \" and \"\" inside\"\"\"", LIT("quote \" and \"\" inside"));
    check_string("\"\"\"\n  a\n    \n  b\n\"\"\"", LIT("a\n  \nb"));
}

static void test_ignored_and_positions(void)
{
    lexed l;
    /* BOM, commas, comments, CR, LF, CRLF */
    lex("\xef\xbb\xbf{ a, # comment \xe2\x82\xac\r\n b\r c\n\t d }", &l);
    CHECK(l.rc == AD_OK && l.n == 6, "rc %d n %zu (%s)", l.rc, l.n, l.msg);
    if (l.n == 6) {
        CHECK(l.toks[0].loc.line == 1 && l.toks[0].loc.col == 2, "{ at %u:%u", l.toks[0].loc.line,
              l.toks[0].loc.col);
        CHECK(l.toks[1].loc.line == 1 && l.toks[1].loc.col == 4, "a at %u:%u", l.toks[1].loc.line,
              l.toks[1].loc.col);
        CHECK(l.toks[2].loc.line == 2 && l.toks[2].loc.col == 2, "b at %u:%u", l.toks[2].loc.line,
              l.toks[2].loc.col);
        CHECK(l.toks[3].loc.line == 3 && l.toks[3].loc.col == 2, "c at %u:%u", l.toks[3].loc.line,
              l.toks[3].loc.col);
        CHECK(l.toks[4].loc.line == 4 && l.toks[4].loc.col == 3, "d at %u:%u", l.toks[4].loc.line,
              l.toks[4].loc.col);
    }
    /* columns count characters, not bytes */
    lex("\"\xc3\xa9\xf0\x9f\x98\x80\" x", &l);
    CHECK(l.n == 2 && l.toks[1].loc.col == 6, "x after two non-ASCII characters: col %u",
          l.n == 2 ? l.toks[1].loc.col : 0);
    /* a block string spanning lines moves the line count on */
    lex("\"\"\"a\nb\nc\"\"\" z", &l);
    CHECK(l.n == 2 && l.toks[0].loc.line == 1 && l.toks[1].loc.line == 3 && l.toks[1].loc.col == 6,
          "z after a 3-line block string: %u:%u", l.n == 2 ? l.toks[1].loc.line : 0,
          l.n == 2 ? l.toks[1].loc.col : 0);
    lex("", &l);
    CHECK(l.rc == AD_OK && l.n == 0, "empty input is just <EOF>");
    lex("  # only a comment", &l);
    CHECK(l.rc == AD_OK && l.n == 0, "only a comment");
}

static void test_errors(void)
{
    check_error("\"abc", 4, "Unterminated string.", 1, 5);
    check_error("\"abc\ndef\"", 9, "Unterminated string.", 1, 5);
    check_error("  \"a\\qb\"", 8, "Invalid character escape sequence: \"\\q\".", 1, 5);
    check_error("\"\\uD83D\"", 8, "Invalid Unicode escape sequence: \"\\uD83D\".", 1, 2);
    check_error("\"\\uDE00\\uD83D\"", 14, "Invalid Unicode escape sequence", 1, 2);
    check_error("\"\\uD83D\\u0041\"", 14, "Invalid Unicode escape sequence", 1, 2);
    check_error("\"\\u12G4\"", 8, "Invalid Unicode escape sequence", 1, 2);
    check_error("\"\\u{110000}\"", 12, "Invalid Unicode escape sequence", 1, 2);
    check_error("\"\\u{D800}\"", 10, "Invalid Unicode escape sequence", 1, 2);
    check_error("\"\\u{}\"", 6, "Invalid Unicode escape sequence", 1, 2);
    check_error("\"\\u{123456789}\"", 15, "Invalid Unicode escape sequence", 1, 2);
    check_error("\"\\u{41\"", 7, "Invalid Unicode escape sequence", 1, 2);
    check_error("01", 2, "Invalid number, unexpected digit after 0: \"1\".", 1, 2);
    check_error("1.", 2, "Invalid number, expected digit but got: <EOF>.", 1, 3);
    check_error("1.5a", 4, "Invalid number, expected digit but got: \"a\".", 1, 4);
    check_error("123abc", 6, "Invalid number, expected digit but got: \"a\".", 1, 4);
    check_error("1e", 2, "Invalid number, expected digit but got: <EOF>.", 1, 3);
    check_error("1.2.3", 5, "Invalid number, expected digit but got: \".\".", 1, 4);
    check_error("-", 1, "Invalid number, expected digit but got: <EOF>.", 1, 2);
    check_error("- 1", 3, "Invalid number, expected digit but got: \" \".", 1, 2);
    check_error("a .", 3, "Unexpected character: \".\".", 1, 3);
    check_error("..", 2, "Unexpected character: \".\".", 1, 1);
    check_error("\n  ?", 4, "Unexpected character: \"?\".", 2, 3);
    check_error("'a'", 3, "Unexpected single quote character", 1, 1);
    check_error("a \x07", 3, "Unexpected character: U+0007.", 1, 3);
    check_error("a \xc3\xa9", 4, "Unexpected character: U+00E9.", 1, 3);
    check_error("a \xff", 3, "Invalid character: byte 0xFF", 1, 3);
    check_error("\"a\xc3\"", 4, "Invalid character within String", 1, 3);
    check_error("\"\xed\xa0\x80\"", 5, "Invalid character within String", 1, 2); /* surrogate */
    check_error("\"\xc0\xaf\"", 4, "Invalid character within String", 1, 2);     /* overlong */
    check_error("# \xfe\n", 4, "Invalid character", 1, 3);
    check_error("\"\"\"abc", 6, "Unterminated string.", 1, 7);
    check_error("\"\"\"a\n\xff\"\"\"", 9, "Invalid character within String", 2, 1);
    check_error("a\0b", 3, "Unexpected character: U+0000.", 1, 2);
}

static void test_token_limit(void)
{
    lexed l;
    lex_n("a b c", 5, 3, &l);
    CHECK(l.rc == AD_OK && l.n == 3, "three tokens fit a limit of 3");
    lex_n("a b c d", 7, 3, &l);
    CHECK(l.rc == AD_E_TOO_LARGE && l.n == 3, "the fourth token is over the limit: rc %d", l.rc);
    CHECK(strstr(l.msg, "more than 3 tokens") != NULL, "message: %s", l.msg);
    CHECK(l.err.line == 1 && l.err.col == 7, "at the fourth token: %u:%u", l.err.line, l.err.col);
}

static void test_describe(void)
{
    gql_token t = {.kind = GQL_TOK_NAME, .value = "foo", .len = 3};
    char buf[64];
    const char *got = buf;
    gql_token_describe(&t, buf, sizeof(buf));
    CHECK_STR(got, "Name \"foo\"");
    t.kind = GQL_TOK_EOF;
    gql_token_describe(&t, buf, sizeof(buf));
    CHECK_STR(got, "<EOF>");
    t.kind = GQL_TOK_SPREAD;
    gql_token_describe(&t, buf, sizeof(buf));
    CHECK_STR(got, "\"...\"");
}

int main(void)
{
    gql_arena_init(&arena, 1 << 20);
    test_punctuators();
    test_names_and_numbers();
    test_strings();
    test_block_strings();
    test_ignored_and_positions();
    test_errors();
    test_token_limit();
    test_describe();
    gql_arena_free(&arena);
    return check_summary("test_graphql_lexer");
}
