/*
 * range.c — single byte-range requests (RFC 9110 section 14): Range,
 * If-Range, Content-Range and 416. A request for several ranges is served
 * whole (200), which the RFC allows, so no multipart/byteranges writer is
 * needed; a malformed Range is ignored the same way.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http/server.h"
#include "util/str.h"

/* Parses the digits at *p (at most 19) into *out and moves *p past them. */
static bool parse_num(const char **p, uint64_t *out)
{
    char digits[20];
    size_t n = 0;
    while ((*p)[n] >= '0' && (*p)[n] <= '9') n++;
    if (n == 0 || n >= sizeof(digits)) return false;
    memcpy(digits, *p, n);
    digits[n] = '\0';
    *p += n;
    return ad_parse_u64(digits, UINT64_MAX / 2, out);
}

static void skip_ws(const char **p)
{
    while (**p == ' ' || **p == '\t') (*p)++;
}

/* If-Range with an entity tag matches only the same strong tag; a date
 * (or anything else) is treated as "changed": the whole body is sent. */
static bool if_range_holds(http_req *r, const char *etag)
{
    const char *v = http_req_header(r, "If-Range");
    if (!v) return true;
    skip_ws(&v);
    if (!etag || v[0] != '"') return false;
    return strncmp(v, etag, strlen(etag)) == 0 && v[strlen(etag)] == '\0';
}

http_range_result http_req_range(http_req *r, uint64_t total, const char *etag, uint64_t *start,
                                 uint64_t *len)
{
    const char *v = http_req_header(r, "Range");
    uint64_t a = 0, b = 0;
    bool suffix = false, open_end = false;
    if (!v) return HTTP_RANGE_NONE;
    skip_ws(&v);
    if (strncmp(v, "bytes=", 6) != 0 || strchr(v, ',')) return HTTP_RANGE_NONE;
    v += 6;
    skip_ws(&v);
    if (*v == '-') {
        v++, suffix = true;
        if (!parse_num(&v, &b)) return HTTP_RANGE_NONE;
    } else {
        if (!parse_num(&v, &a) || *v++ != '-') return HTTP_RANGE_NONE;
        if (*v >= '0' && *v <= '9') {
            if (!parse_num(&v, &b) || b < a) return HTTP_RANGE_NONE;
        } else {
            open_end = true;
        }
    }
    skip_ws(&v);
    if (*v) return HTTP_RANGE_NONE;
    if (!if_range_holds(r, etag)) return HTTP_RANGE_NONE;
    if (suffix) {
        if (b == 0) return HTTP_RANGE_UNSATISFIABLE;
        *start = b >= total ? 0 : total - b;
        *len = total - *start;
        return total ? HTTP_RANGE_OK : HTTP_RANGE_UNSATISFIABLE;
    }
    if (a >= total) return HTTP_RANGE_UNSATISFIABLE;
    if (open_end || b >= total) b = total - 1;
    *start = a;
    *len = b - a + 1;
    return HTTP_RANGE_OK;
}

void http_add_content_range(http_req *r, uint64_t start, uint64_t len, uint64_t total)
{
    char v[80];
    snprintf(v, sizeof(v), "bytes %" PRIu64 "-%" PRIu64 "/%" PRIu64, start, start + len - 1, total);
    http_req_add_header(r, "Content-Range", v);
}

void http_reply_416(http_req *r, uint64_t total)
{
    char v[64], *body = malloc(160);
    int n;
    snprintf(v, sizeof(v), "bytes */%" PRIu64, total);
    http_req_add_header(r, "Content-Range", v);
    if (!body) {
        http_reply(r, 416, "application/json", NULL, 0);
        return;
    }
    n = snprintf(body, 160,
                 "{\"success\":false,\"error\":\"the requested range is not within the %" PRIu64
                 " bytes of the resource\",\"code\":\"range_not_satisfiable\"}",
                 total);
    http_reply(r, 416, "application/json", body, n > 0 && n < 160 ? (size_t)n : 0);
}
