/*
 * parser.h — executable GraphQL documents (specification, October 2021,
 * section 2) into the syntax tree of ast.h.
 *
 * The parser stops at the first syntax error and reports it with its line
 * and column, worded as graphql-js words it ("Syntax Error: Expected Name,
 * found <EOF>."). Type system definitions (type, schema, extend, ...) are
 * rejected: a request document may hold only operations and fragments.
 *
 * Limits (gql_limits): tokens, selection-set nesting, fields, aliases, and
 * nesting of values and list types are counted while parsing, so a hostile
 * document is refused before it costs more than its limit; the tree lives
 * in an arena capped at limits->ast_bytes.
 */
#ifndef ASSETD_GRAPHQL_PARSER_H
#define ASSETD_GRAPHQL_PARSER_H

#include <stdbool.h>
#include <stddef.h>

#include "graphql/arena.h"
#include "graphql/ast.h"
#include "graphql/graphql.h"
#include "util/err.h"

#define GQL_PARSE_MSG_MAX 320

typedef struct gql_parse_error {
    char msg[GQL_PARSE_MSG_MAX];
    gql_loc loc;
    bool limit; /* the document is over a limit (rather than malformed) */
} gql_parse_error;

/*
 * Parses src[0..len) (UTF-8; not necessarily NUL-terminated). With
 * quoted_keys, an object literal's field name may be a string (the assetd
 * extension). Returns AD_OK with *out in arena, or AD_E_BAD_REQUEST with
 * err filled (a syntax error, or a limit with err->limit set).
 */
ad_code gql_parse(const char *src, size_t len, const gql_limits *lim, bool quoted_keys,
                  gql_arena *arena, gql_document **out, gql_parse_error *err);

#endif
