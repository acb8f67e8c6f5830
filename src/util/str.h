/*
 * str.h — small string helpers: percent-decoding, UTF-8 checks, number
 * parsing with explicit bounds.
 */
#ifndef ASSETD_UTIL_STR_H
#define ASSETD_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Decodes %XX escapes of in[0..n) into out (at least n+1 bytes); with
 * plus_is_space, '+' becomes ' ' (query strings). Returns the decoded length,
 * or -1 on a malformed escape or a decoded NUL byte. */
long ad_pct_decode(const char *in, size_t n, char *out, bool plus_is_space);

/* True when s[0..n) is well-formed UTF-8 (no overlongs, no surrogates). */
bool ad_utf8_valid(const char *s, size_t n);

/* Parses a decimal non-negative integer that fits in uint64_t and is at
 * most max. Rejects empty strings, signs, spaces and trailing bytes. */
bool ad_parse_u64(const char *s, uint64_t max, uint64_t *out);

/* Duplicates n bytes of s into a new NUL-terminated string (NULL on OOM). */
char *ad_strndup(const char *s, size_t n);

/* Copies a store URL into out (cap bytes) fit for a log line or a message:
 * the password of its userinfo ("user:secret@") and the values of query
 * parameters whose name holds "pass", "secret", "token" or "key" become
 * "***". Truncated to fit. */
void ad_url_redact(const char *url, char *out, size_t cap);

#endif
