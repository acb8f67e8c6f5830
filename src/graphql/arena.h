/*
 * arena.h — a bump allocator with a hard cap, for everything that lives
 * exactly as long as one GraphQL request: tokens' text, the AST, the
 * validator's scratch data.
 *
 * Allocations are zeroed and aligned for any type; nothing is freed
 * individually; gql_arena_free releases it all at once. The cap bounds the
 * memory a hostile document can make the parser and validator use.
 */
#ifndef ASSETD_GRAPHQL_ARENA_H
#define ASSETD_GRAPHQL_ARENA_H

#include <stddef.h>

typedef struct gql_chunk gql_chunk;

typedef struct gql_arena {
    gql_chunk *head; /* the chunk allocations come from; older ones follow */
    size_t total;    /* bytes of every chunk */
    size_t max;      /* cap on total */
    size_t next;     /* size of the next chunk: small first, doubling */
} gql_arena;

void gql_arena_init(gql_arena *a, size_t max);
/* n zeroed bytes, or NULL when the cap is reached or malloc fails. */
void *gql_arena_alloc(gql_arena *a, size_t n);
/* A NUL-terminated copy of s[0..n), or NULL. */
char *gql_arena_strndup(gql_arena *a, const char *s, size_t n);
void gql_arena_free(gql_arena *a);

#endif
