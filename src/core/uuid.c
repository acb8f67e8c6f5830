/*
 * uuid.c — uuid4 generation and syntax check (see uuid.h).
 */
#include "core/uuid.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

void ad_random_bytes(unsigned char *b, size_t n)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = getrandom(b + got, n - got, 0);
        if (r <= 0) break;
        got += (size_t)r;
    }
    if (got < n) { /* no kernel randomness: never expected, still unique enough per process */
        static uint64_t counter;
        uint64_t x = (uint64_t)time(NULL) ^ (++counter * 0x9E3779B97F4A7C15ull);
        for (; got < n; got++, x = x * 6364136223846793005ull + 1)
            b[got] = (unsigned char)(x >> 56);
    }
}

void ad_uuid4(char out[AD_UUID_LEN + 1])
{
    static const char hex[] = "0123456789abcdef";
    unsigned char b[16];
    size_t i, o = 0;
    ad_random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    for (i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) out[o++] = '-';
        out[o++] = hex[b[i] >> 4];
        out[o++] = hex[b[i] & 15];
    }
    out[o] = '\0';
}

bool ad_uuid_valid(const char *s)
{
    size_t i;
    if (strlen(s) != AD_UUID_LEN) return false;
    for (i = 0; i < AD_UUID_LEN; i++) {
        bool dash = i == 8 || i == 13 || i == 18 || i == 23;
        if (dash ? s[i] != '-' : !strchr("0123456789abcdef", s[i]) || !s[i]) return false;
    }
    return true;
}
