/*
 * log.h — structured (logfmt) logging to stderr.
 *
 * One line per event: `ts=2026-11-21T10:00:00.123Z level=info msg="…" k=v …`.
 * Each line is written with a single write(2) so lines from different
 * threads never interleave.
 */
#ifndef ASSETD_UTIL_LOG_H
#define ASSETD_UTIL_LOG_H

#include <stddef.h>

typedef enum { AD_LOG_DEBUG, AD_LOG_INFO, AD_LOG_WARN, AD_LOG_ERROR } ad_log_level;

void ad_log_set_level(ad_log_level min);

/* Copies s (NULL: "") into dst for a quoted logfmt value: double quotes
 * become single ones, backslashes slashes and control bytes '?', so the
 * value needs no escape. Returns dst. */
const char *ad_log_safe(char *dst, size_t cap, const char *s);
/* fmt produces the rest of the line after level=: e.g. "msg=\"listening\" addr=%s". */
void ad_log(ad_log_level level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The access log line of one request. */
void ad_log_access(const char *method, const char *path, int status, unsigned long long bytes,
                   double dur_ms);

/* One audit line for a change (create, update, delete, upload, token and
 * bucket operations): who did it (a token name, "-" for nobody), what,
 * to what, the HTTP status it ended with (0: the client went away first),
 * and a detail (may be NULL). Written whatever the log level. */
void ad_log_audit(const char *who, const char *action, const char *target, int status,
                  const char *detail);

#endif
