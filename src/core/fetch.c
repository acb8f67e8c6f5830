/*
 * fetch.c — one http(s) URL downloaded to a local file with bounds on
 * everything the remote server controls (see fetch.h). libcurl does the
 * HTTP; core/outbound.c sets the handle up (schemes, no proxy, the allow
 * list checked on each connection's real address).
 *
 * Decisions:
 * - The size bound is checked twice: on the Content-Length of the final
 *   answer, in the header callback, so a declared 5 GiB body is refused
 *   before a byte of it is read; and on the bytes counted in the write
 *   callback, so a server that lies or sends no length is cut off at the
 *   first byte past the bound. The file never holds more than max_bytes.
 * - An answer of 400 or more is refused at the end of its headers; its body
 *   is never read. A final answer outside 2xx (a 304, a 3xx without
 *   Location) is an error too: only a 200-class body is a source.
 * - No Accept-Encoding is sent, so the bytes counted are the bytes written
 *   (no decompression bomb inside the transfer).
 * - Zero in an option means its default: 1 GiB, 300 s, connect 30 s.
 * - The file is created 0600 (it is a spool file of the controller), never
 *   through a symlink (O_NOFOLLOW), fsynced before success and removed on any failure.
 */
#include "core/fetch.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "core/outbound.h"

#define FETCH_DEFAULT_MAX     ((uint64_t)1 << 30)
#define FETCH_DEFAULT_TIMEOUT 300L
#define FETCH_DEFAULT_CONNECT 30L

typedef struct fetch_ctx {
    int fd;
    uint64_t max, bytes;
    long status;    /* of the answer whose headers are arriving */
    bool too_large; /* declared or counted */
    bool declared;  /* too_large came from Content-Length */
    uint64_t declared_len;
    long http_error; /* a >= 400 answer refused at its headers */
    int io_errno;    /* writing the file failed */
} fetch_ctx;

static size_t on_header(char *p, size_t size, size_t nitems, void *cls)
{
    fetch_ctx *c = cls;
    size_t n = size * nitems;
    uint64_t len;
    if (ad_outbound_status_line(p, n, &c->status)) return n;
    if (ad_outbound_content_length(p, n, &len)) {
        if (c->status >= 200 && c->status < 300 && len > c->max) {
            c->too_large = c->declared = true;
            c->declared_len = len;
            return 0; /* abort the transfer */
        }
        return n;
    }
    if ((n == 2 && p[0] == '\r' && p[1] == '\n') || (n == 1 && p[0] == '\n')) {
        if (c->status >= 400) {
            c->http_error = c->status;
            return 0;
        }
    }
    return n;
}

static size_t on_data(char *p, size_t size, size_t nitems, void *cls)
{
    fetch_ctx *c = cls;
    size_t n = size * nitems, done = 0;
    if (n > c->max - c->bytes) {
        c->too_large = true;
        return 0;
    }
    while (done < n) {
        ssize_t w = write(c->fd, p + done, n - done);
        if (w < 0) {
            if (errno == EINTR) continue;
            c->io_errno = errno;
            return 0;
        }
        done += (size_t)w;
    }
    c->bytes += n;
    return n;
}

static void fill_result(CURL *h, fetch_ctx *c, ad_fetch_result *res)
{
    char *s = NULL;
    long code = 0;
    if (!res) return;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    res->status = c->http_error ? c->http_error : code;
    res->bytes = c->bytes;
    if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &s) == CURLE_OK && s)
        snprintf(res->content_type, sizeof(res->content_type), "%s", s);
    s = NULL;
    if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &s) == CURLE_OK && s)
        ad_outbound_url_text(s, res->effective_url, sizeof(res->effective_url));
}

ad_code ad_fetch_to_file(const char *url, const char *path, const ad_fetch_opts *o,
                         ad_fetch_result *res, ad_error *err)
{
    ad_outbound ob;
    fetch_ctx c;
    char errbuf[CURL_ERROR_SIZE], shown[512], *eff = NULL;
    long timeout = o && o->timeout_s > 0 ? o->timeout_s : FETCH_DEFAULT_TIMEOUT;
    long connect = o && o->connect_timeout_s > 0 ? o->connect_timeout_s : FETCH_DEFAULT_CONNECT;
    CURLcode cc;
    ad_code rc;

    if (res) memset(res, 0, sizeof(*res));
    memset(&c, 0, sizeof(c));
    c.max = o && o->max_bytes ? o->max_bytes : FETCH_DEFAULT_MAX;
    rc = ad_outbound_open(&ob, url, o ? o->allow : NULL, "--source-allow", o ? o->ca_file : NULL,
                          errbuf, err);
    if (rc != AD_OK) return rc;
    ad_outbound_url_text(url, shown, sizeof(shown));
    c.fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (c.fd < 0) {
        rc = ad_fail(err, AD_E_BACKEND, "cannot create %s: %s", path, strerror(errno));
        ad_outbound_close(&ob);
        return rc;
    }
    curl_easy_setopt(ob.h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(ob.h, CURLOPT_MAXREDIRS, (long)AD_FETCH_REDIRECTS_MAX);
    curl_easy_setopt(ob.h, CURLOPT_TIMEOUT, timeout);
    curl_easy_setopt(ob.h, CURLOPT_CONNECTTIMEOUT, connect);
    curl_easy_setopt(ob.h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(ob.h, CURLOPT_HEADERDATA, &c);
    curl_easy_setopt(ob.h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(ob.h, CURLOPT_WRITEDATA, &c);

    cc = curl_easy_perform(ob.h);
    fill_result(ob.h, &c, res);
    if (curl_easy_getinfo(ob.h, CURLINFO_EFFECTIVE_URL, &eff) != CURLE_OK || !eff) eff = NULL;
    if (eff) ad_outbound_url_text(eff, shown, sizeof(shown));

    if (c.too_large && c.declared) {
        rc = ad_fail(err, AD_E_BACKEND,
                     "larger than %" PRIu64 " bytes (%s declares %" PRIu64 " bytes)", c.max, shown,
                     c.declared_len);
    } else if (c.too_large) {
        rc = ad_fail(err, AD_E_BACKEND, "larger than %" PRIu64 " bytes (%s)", c.max, shown);
    } else if (c.http_error) {
        rc = ad_fail(err, AD_E_BACKEND, "HTTP %ld from %s", c.http_error, shown);
    } else if (c.io_errno) {
        rc = ad_fail(err, AD_E_BACKEND, "writing %s: %s", path, strerror(c.io_errno));
    } else if (cc != CURLE_OK) {
        rc = ad_outbound_fail(&ob, cc, errbuf, url, timeout, err); /* a refusal first */
    } else {
        long st = 0;
        curl_easy_getinfo(ob.h, CURLINFO_RESPONSE_CODE, &st);
        if (st < 200 || st > 299) rc = ad_fail(err, AD_E_BACKEND, "HTTP %ld from %s", st, shown);
    }
    if (rc == AD_OK && fsync(c.fd) != 0)
        rc = ad_fail(err, AD_E_BACKEND, "fsync %s: %s", path, strerror(errno));
    if (close(c.fd) != 0 && rc == AD_OK)
        rc = ad_fail(err, AD_E_BACKEND, "closing %s: %s", path, strerror(errno));
    if (rc != AD_OK) unlink(path);
    ad_outbound_close(&ob);
    return rc;
}
