/*
 * router.c — route table matching (see router.h). Route tables are short
 * (a few dozen entries), so a linear scan over the patterns is both the
 * simplest and the fastest choice.
 */
#include "http/router.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/str.h"

/* Captures path[0..n) decoded into m->params. */
static ad_code capture(http_match *m, const char *seg, size_t n, ad_error *err)
{
    char *out;
    long len;
    if (m->nparams >= HTTP_MAX_PARAMS) return ad_fail(err, AD_E_INTERNAL, "too many captures");
    out = malloc(n + 1);
    if (!out) return ad_fail(err, AD_E_NOMEM, "out of memory");
    len = ad_pct_decode(seg, n, out, false);
    if (len < 0) {
        free(out);
        return ad_fail(err, AD_E_BAD_REQUEST, "path: malformed percent-encoding in \"%.*s\"",
                       (int)(n > 200 ? 200 : n), seg);
    }
    if (!ad_utf8_valid(out, (size_t)len)) {
        free(out);
        return ad_fail(err, AD_E_BAD_REQUEST, "path: a segment is not valid UTF-8");
    }
    m->params[m->nparams++] = out;
    return AD_OK;
}

/* Matches one pattern; on a match with captures fills m. Returns 1 match,
 * 0 no match, or a negative ad_code on a capture error. */
static int match_pattern(const char *pat, const char *path, http_match *m, ad_error *err)
{
    while (*pat && *path) {
        const char *pend, *send;
        size_t plen, slen;
        if (*pat != '/' || *path != '/') return 0;
        pat++, path++;
        pend = strchr(pat, '/');
        plen = pend ? (size_t)(pend - pat) : strlen(pat);
        if (plen == 3 && memcmp(pat, "{*}", 3) == 0) {
            if (!*path) return 0;
            return capture(m, path, strlen(path), err) ? -1 : 1;
        }
        send = strchr(path, '/');
        slen = send ? (size_t)(send - path) : strlen(path);
        if (plen == 2 && memcmp(pat, "{}", 2) == 0) {
            if (slen == 0) return 0;
            if (capture(m, path, slen, err)) return -1;
        } else if (plen != slen || memcmp(pat, path, plen) != 0) {
            return 0;
        }
        pat += plen, path += slen;
    }
    return *pat == '\0' && *path == '\0';
}

static void clear_params(http_match *m)
{
    size_t i;
    for (i = 0; i < m->nparams; i++) free(m->params[i]);
    m->nparams = 0;
}

static void allow_add(http_match *m, const char *method)
{
    size_t len = strlen(m->allow);
    if (strstr(m->allow, method)) return;
    if (len + strlen(method) + 3 >= sizeof(m->allow)) return;
    if (len) memcpy(m->allow + len, ", ", 3), len += 2;
    memcpy(m->allow + len, method, strlen(method) + 1);
}

ad_code http_route_match(const http_route *routes, size_t nroutes, const char *method,
                         const char *path, http_match *m, ad_error *err)
{
    bool head = strcmp(method, "HEAD") == 0;
    bool path_known = false;
    size_t i;
    memset(m, 0, sizeof(*m));
    for (i = 0; i < nroutes; i++) {
        int hit = match_pattern(routes[i].pattern, path, m, err);
        if (hit < 0) {
            clear_params(m);
            return err ? err->code : AD_E_BAD_REQUEST;
        }
        if (!hit) {
            clear_params(m);
            continue;
        }
        if (strcmp(routes[i].method, method) == 0 ||
            (head && strcmp(routes[i].method, "GET") == 0)) {
            m->route = &routes[i];
            return AD_OK;
        }
        clear_params(m);
        path_known = true;
        allow_add(m, routes[i].method);
        if (strcmp(routes[i].method, "GET") == 0) allow_add(m, "HEAD");
    }
    if (path_known)
        return ad_fail(err, AD_E_METHOD, "method %s is not allowed on %s (allowed: %s)", method,
                       path, m->allow);
    return ad_fail(err, AD_E_NOT_FOUND, "no route for %s %s", method, path);
}

void http_match_free(http_match *m)
{
    clear_params(m);
    m->route = NULL;
}
