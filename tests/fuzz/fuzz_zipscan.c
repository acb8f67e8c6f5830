/*
 * fuzz_zipscan.c — libFuzzer target for the scanner of local headers that
 * reads every ZIP upload body as it arrives (core/zipspec.h).
 *
 * Input: the first byte picks the size of the pieces the body is fed in
 * (1 to 256 bytes, or everything at once); the rest is the body. An entry
 * is taken when its name starts with an odd byte. Invariants checked:
 * every byte is passed or taken exactly once (the two streams put back
 * together give the input), taken bytes come only between a begin that
 * said yes and its end, each entry's data starts right after its header
 * and its taken length is the size its header declared, and the scanner's
 * memory stays within one header.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/zipspec.h"

#define FUZZ_ASSERT(c)                                                                             \
    do {                                                                                           \
        if (!(c)) {                                                                                \
            fprintf(stderr, "fuzz_zipscan: invariant failed: %s (line %d)\n", #c, __LINE__);       \
            abort();                                                                               \
        }                                                                                          \
    } while (0)

typedef struct st {
    const uint8_t *in;
    size_t n, pos; /* bytes accounted for so far */
    int taking;
    uint64_t want, got;
} st;

static int f_begin(void *ctx, const ad_zipscan_entry *e, ad_error *err)
{
    st *s = ctx;
    (void)err;
    FUZZ_ASSERT(!s->taking);
    FUZZ_ASSERT(e->data_off == s->pos);
    FUZZ_ASSERT(e->header_off + 30 + e->name_len <= e->data_off);
    FUZZ_ASSERT(e->header_off + 30 + 2 * 65535 >= e->data_off);
    FUZZ_ASSERT(!(e->flags & 8));
    s->taking = e->name_len && (e->name[0] & 1);
    s->want = e->csize;
    s->got = 0;
    return s->taking;
}

static ad_code f_take(void *ctx, const char *p, size_t n, ad_error *err)
{
    st *s = ctx;
    (void)err;
    FUZZ_ASSERT(s->taking);
    FUZZ_ASSERT(s->pos + n <= s->n && memcmp(p, s->in + s->pos, n) == 0);
    s->pos += n;
    s->got += n;
    FUZZ_ASSERT(s->got <= s->want);
    return AD_OK;
}

static ad_code f_end(void *ctx, ad_error *err)
{
    st *s = ctx;
    (void)err;
    FUZZ_ASSERT(s->taking && s->got == s->want);
    s->taking = 0;
    return AD_OK;
}

static ad_code f_pass(void *ctx, const char *p, size_t n, ad_error *err)
{
    st *s = ctx;
    (void)err;
    FUZZ_ASSERT(s->pos + n <= s->n && memcmp(p, s->in + s->pos, n) == 0);
    s->pos += n;
    return AD_OK;
}

static const ad_zipscan_ops ops = {f_begin, f_take, f_end, f_pass};

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    ad_zipscan z;
    ad_error err = {0};
    st s = {0};
    size_t chunk, off;
    if (size < 1) return 0;
    chunk = data[0] ? data[0] : size;
    s.in = data + 1;
    s.n = size - 1;
    ad_zipscan_init(&z, &ops, &s);
    for (off = 0; off < s.n; off += chunk) {
        size_t k = s.n - off < chunk ? s.n - off : chunk;
        FUZZ_ASSERT(ad_zipscan_feed(&z, (const char *)s.in + off, k, &err) == AD_OK);
        FUZZ_ASSERT(z.hcap <= 2 * (30 + 2 * 65535));
    }
    FUZZ_ASSERT(s.pos == s.n);
    FUZZ_ASSERT(ad_zipscan_cut(&z) == (s.taking && s.got < s.want));
    ad_zipscan_free(&z);
    return 0;
}
