/*
 * log.c — logfmt lines to stderr (see log.h).
 */
#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static ad_log_level log_min = AD_LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void ad_log_set_level(ad_log_level min)
{
    log_min = min;
}

static size_t log_prefix(char *line, size_t cap, ad_log_level level)
{
    struct timespec ts;
    struct tm tm;
    char when[32];
    int n;
    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    n = snprintf(line, cap, "ts=%s.%03ldZ level=%s ", when, ts.tv_nsec / 1000000,
                 level_names[level]);
    return n < 0 ? 0 : (size_t)n;
}

static void log_emit(char *line, size_t len, size_t cap)
{
    ssize_t w;
    if (len >= cap) len = cap - 1;
    line[len++] = '\n';
    w = write(STDERR_FILENO, line, len);
    (void)w; /* nowhere to report a failed log write */
}

void ad_log(ad_log_level level, const char *fmt, ...)
{
    char line[2048];
    size_t len;
    int n;
    va_list ap;
    if (level < log_min) return;
    len = log_prefix(line, sizeof(line) - 1, level);
    va_start(ap, fmt);
    n = vsnprintf(line + len, sizeof(line) - 1 - len, fmt, ap);
    va_end(ap);
    if (n > 0) len += (size_t)n;
    log_emit(line, len, sizeof(line));
}

/* Copies s into out as a logfmt value: quoted, with quotes, backslashes and
 * control bytes escaped, so a client-chosen path cannot forge log fields. */
static void logfmt_value(char *out, size_t cap, const char *s)
{
    size_t o = 0;
    out[o++] = '"';
    for (; *s && o + 6 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (c == '"' || c == '\\') {
            out[o++] = '\\';
            out[o++] = (char)c;
        } else if (c < 0x20 || c == 0x7f) {
            o += (size_t)snprintf(out + o, cap - o, "\\x%02x", c);
        } else {
            out[o++] = (char)c;
        }
    }
    out[o++] = '"';
    out[o] = '\0';
}

void ad_log_access(const char *method, const char *path, int status, unsigned long long bytes,
                   double dur_ms)
{
    char qpath[1024], qmethod[48];
    if (AD_LOG_INFO < log_min) return;
    logfmt_value(qpath, sizeof(qpath), path ? path : "");
    logfmt_value(qmethod, sizeof(qmethod), method ? method : "");
    ad_log(AD_LOG_INFO, "msg=request method=%s path=%s status=%d bytes=%llu dur_ms=%.3f", qmethod,
           qpath, status, bytes, dur_ms);
}

void ad_log_audit(const char *who, const char *action, const char *target, int status,
                  const char *detail)
{
    char line[2048], qwho[160], qaction[80], qtarget[1024], qdetail[512];
    size_t len;
    int n;
    /* written whatever --log-level says: an audit trail is not optional */
    logfmt_value(qwho, sizeof(qwho), who && *who ? who : "-");
    logfmt_value(qaction, sizeof(qaction), action ? action : "");
    logfmt_value(qtarget, sizeof(qtarget), target ? target : "");
    logfmt_value(qdetail, sizeof(qdetail), detail ? detail : "");
    len = log_prefix(line, sizeof(line) - 1, AD_LOG_INFO);
    n = snprintf(line + len, sizeof(line) - 1 - len,
                 "msg=audit who=%s action=%s target=%s status=%d result=%s detail=%s", qwho,
                 qaction, qtarget, status,
                 status >= 200 && status < 300 ? "ok"
                 : status == 0                 ? "aborted"
                                               : "refused",
                 qdetail);
    if (n > 0) len += (size_t)n;
    log_emit(line, len, sizeof(line));
}

const char *ad_log_safe(char *dst, size_t cap, const char *s)
{
    size_t i;
    snprintf(dst, cap, "%s", s ? s : "");
    for (i = 0; dst[i]; i++) {
        unsigned char c = (unsigned char)dst[i];
        if (c == '"')
            dst[i] = '\'';
        else if (c == '\\')
            dst[i] = '/';
        else if (c < 0x20 || c == 0x7f)
            dst[i] = '?';
    }
    return dst;
}
