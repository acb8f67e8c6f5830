/*
 * arena.c — the request arena (see arena.h).
 *
 * Chunks are chained and allocation bumps an offset in the newest. They
 * start small (most documents are a few hundred bytes, and a large malloc
 * makes glibc consolidate its free lists) and double up to ARENA_CHUNK_MAX;
 * a request larger than that gets a chunk of its own size.
 */
#include "graphql/arena.h"

#include <stdalign.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define ARENA_CHUNK_MIN 2048
#define ARENA_CHUNK_MAX (64 * 1024)

struct gql_chunk {
    gql_chunk *next;
    size_t size; /* usable bytes in data */
    size_t used;
    alignas(max_align_t) unsigned char data[];
};

void gql_arena_init(gql_arena *a, size_t max)
{
    a->head = NULL;
    a->total = 0;
    a->max = max;
    a->next = ARENA_CHUNK_MIN;
}

static size_t align_up(size_t n)
{
    size_t al = alignof(max_align_t);
    return (n + al - 1) / al * al;
}

static gql_chunk *chunk_new(gql_arena *a, size_t need)
{
    size_t size = need > a->next ? need : a->next;
    gql_chunk *c;
    if (size > a->max || a->total > a->max - size) return NULL;
    c = malloc(sizeof(*c) + size);
    if (!c) return NULL;
    c->size = size;
    c->used = 0;
    c->next = a->head;
    a->head = c;
    a->total += size;
    if (a->next < ARENA_CHUNK_MAX) a->next *= 2;
    return c;
}

void *gql_arena_alloc(gql_arena *a, size_t n)
{
    gql_chunk *c = a->head;
    void *p;
    if (n > SIZE_MAX / 2) return NULL;
    n = align_up(n ? n : 1);
    if (!c || c->size - c->used < n) c = chunk_new(a, n);
    if (!c) return NULL;
    p = c->data + c->used;
    c->used += n;
    memset(p, 0, n);
    return p;
}

char *gql_arena_strndup(gql_arena *a, const char *s, size_t n)
{
    char *p = n < SIZE_MAX ? gql_arena_alloc(a, n + 1) : NULL;
    if (p && n) memcpy(p, s, n);
    return p;
}

void gql_arena_free(gql_arena *a)
{
    gql_chunk *c = a->head;
    while (c) {
        gql_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}
