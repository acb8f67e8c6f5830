/*
 * check.h — the minimal assertion harness of assetd's C unit tests.
 *
 * Each test binary calls CHECK()/CHECK_EQ_*() as often as it likes and ends
 * with `return check_summary("name");`, which prints "N passed, N failed"
 * and returns non-zero if anything failed, so CTest reports it.
 */
#ifndef ASSETD_TESTS_CHECK_H
#define ASSETD_TESTS_CHECK_H

#include <stdio.h>
#include <string.h>

static int check_passed, check_failed;

#define CHECK(cond, ...)                                                                           \
    do {                                                                                           \
        if (cond) {                                                                                \
            check_passed++;                                                                        \
        } else {                                                                                   \
            check_failed++;                                                                        \
            fprintf(stderr, "%s:%d: FAILED: %s: ", __FILE__, __LINE__, #cond);                     \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fputc('\n', stderr);                                                                   \
        }                                                                                          \
    } while (0)

#define CHECK_STR(got, want)                                                                       \
    CHECK((got) && strcmp((got), (want)) == 0, "got \"%s\", want \"%s\"",                          \
          (got) ? (got) : "(null)", (want))

static inline int check_summary(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed ? 1 : 0;
}

#endif
