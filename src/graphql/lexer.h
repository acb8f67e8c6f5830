/*
 * lexer.h — GraphQL's lexical grammar (specification, October 2021,
 * section 2.1): punctuators, names, int and float values, strings with
 * every escape (\u0041, surrogate pairs \uD83D\uDE00, \u{1F600}), block
 * strings with their indentation rules, and the ignored tokens (BOM,
 * white space, line terminators, commas, comments).
 *
 * The source must be UTF-8; an invalid sequence is a syntax error at its
 * position. Lines end at LF, CRLF or CR; columns count characters.
 */
#ifndef ASSETD_GRAPHQL_LEXER_H
#define ASSETD_GRAPHQL_LEXER_H

#include <stddef.h>

#include "graphql/arena.h"
#include "graphql/ast.h"
#include "util/err.h"

typedef enum gql_tok_kind {
    GQL_TOK_EOF,
    GQL_TOK_BANG,     /* ! */
    GQL_TOK_DOLLAR,   /* $ */
    GQL_TOK_AMP,      /* & */
    GQL_TOK_LPAREN,   /* ( */
    GQL_TOK_RPAREN,   /* ) */
    GQL_TOK_SPREAD,   /* ... */
    GQL_TOK_COLON,    /* : */
    GQL_TOK_EQUALS,   /* = */
    GQL_TOK_AT,       /* @ */
    GQL_TOK_LBRACKET, /* [ */
    GQL_TOK_RBRACKET, /* ] */
    GQL_TOK_LBRACE,   /* { */
    GQL_TOK_PIPE,     /* | */
    GQL_TOK_RBRACE,   /* } */
    GQL_TOK_NAME,
    GQL_TOK_INT,
    GQL_TOK_FLOAT,
    GQL_TOK_STRING,
    GQL_TOK_BLOCK_STRING,
} gql_tok_kind;

typedef struct gql_token {
    gql_tok_kind kind;
    gql_loc loc;
    const char *value; /* NAME, INT, FLOAT: the text; strings: the decoded value
                          (arena); NUL-terminated */
    size_t len;
} gql_token;

#define GQL_LEX_MSG_MAX 256

typedef struct gql_lexer {
    const char *src;
    size_t len;
    size_t pos;
    unsigned line;
    size_t line_start; /* offset of the current line's first byte */
    size_t col_pos;    /* column cache: offset ... */
    unsigned col;      /* ... and its column, on the current line */
    gql_arena *arena;
    size_t ntokens;
    size_t max_tokens;
    gql_token tok; /* the current token */
    /* the error, when gql_lex_next failed */
    char msg[GQL_LEX_MSG_MAX];
    gql_loc err_loc;
} gql_lexer;

void gql_lexer_init(gql_lexer *lx, const char *src, size_t len, gql_arena *arena,
                    size_t max_tokens);

/* Reads the next token into lx->tok. AD_OK, or AD_E_BAD_REQUEST with
 * lx->msg ("Unterminated string.") and lx->err_loc set; AD_E_NOMEM when
 * the arena is full; AD_E_TOO_LARGE past max_tokens. */
ad_code gql_lex_next(gql_lexer *lx);

/* A short description of a token for messages: <EOF>, "{", Name "foo". */
void gql_token_describe(const gql_token *t, char *out, size_t outsz);

/* Decodes one UTF-8 character of s[0..n): returns its length (1-4) and
 * stores the code point, or 0 for a malformed, overlong or surrogate
 * sequence. */
size_t gql_utf8_decode(const char *s, size_t n, unsigned *cp);

#endif
