/*
 * urlsource.c — files read over http(s) with libcurl (see urlsource.h).
 *
 * Each read is one request with a Range header into the caller's buffer,
 * on a handle reused so the connection stays open. Only http and https are
 * allowed, redirects included (at most 5); a connection must be made
 * within 10 s and a transfer may not stall for more than 30 s.
 */
#include "core/urlsource.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <zlib.h>

struct ad_urlsrc {
    CURL *h;
};

typedef struct sink {
    char *buf; /* NULL: compute crc */
    size_t cap, len;
    uint64_t total;
    uLong crc;
} sink;

ad_urlsrc *ad_urlsrc_new(void)
{
    ad_urlsrc *s = calloc(1, sizeof(*s));
    if (s && !(s->h = curl_easy_init())) {
        free(s);
        return NULL;
    }
    return s;
}

void ad_urlsrc_free(ad_urlsrc *s)
{
    if (!s) return;
    curl_easy_cleanup(s->h);
    free(s);
}

static size_t on_data(char *p, size_t size, size_t n, void *cls)
{
    sink *k = cls;
    size_t len = size * n;
    k->total += len;
    if (!k->buf) {
        k->crc = crc32(k->crc, (const Bytef *)p, (uInt)len);
        return len;
    }
    if (len > k->cap - k->len) return 0; /* more than asked for: stop */
    memcpy(k->buf + k->len, p, len);
    k->len += len;
    return len;
}

static void setup(CURL *h, const char *url, char *errbuf)
{
    curl_easy_reset(h);
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
    curl_easy_setopt(h, CURLOPT_MAXREDIRS, 5L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, 10L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(h, CURLOPT_LOW_SPEED_TIME, 30L);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "assetd");
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https");
#endif
}

static ad_code status_fail(const char *url, long status, ad_error *err)
{
    return ad_fail(err, status == 404 || status == 410 ? AD_E_NOT_FOUND : AD_E_BACKEND,
                   "%.300s answered HTTP %ld", url, status);
}

ad_code ad_urlsrc_size(ad_urlsrc *s, const char *url, uint64_t *size, ad_error *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    curl_off_t len = -1;
    long status = 0;
    CURLcode res;
    setup(s->h, url, errbuf);
    curl_easy_setopt(s->h, CURLOPT_NOBODY, 1L);
    res = curl_easy_perform(s->h);
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_getinfo(s->h, CURLINFO_CONTENT_LENGTH_DOWNLOAD_T, &len);
    if (res != CURLE_OK)
        return ad_fail(err, AD_E_BACKEND, "%.300s: %s", url,
                       errbuf[0] ? errbuf : curl_easy_strerror(res));
    if (status < 200 || status >= 300) return status_fail(url, status, err);
    if (len < 0) return ad_fail(err, AD_E_BACKEND, "%.300s gives no Content-Length", url);
    *size = (uint64_t)len;
    return AD_OK;
}

ad_code ad_urlsrc_read(ad_urlsrc *s, const char *url, uint64_t off, void *buf, size_t n,
                       size_t *got, ad_error *err)
{
    char errbuf[CURL_ERROR_SIZE] = "", range[64];
    sink k = {buf, n, 0, 0, 0};
    long status = 0;
    CURLcode res;
    *got = 0;
    if (n == 0) return AD_OK;
    snprintf(range, sizeof(range), "%" PRIu64 "-%" PRIu64, off, off + n - 1);
    setup(s->h, url, errbuf);
    curl_easy_setopt(s->h, CURLOPT_RANGE, range);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, &k);
    res = curl_easy_perform(s->h);
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    /* a server without ranges sends everything: fine from 0, we stop at n */
    if (status == 200 && off == 0 && res == CURLE_WRITE_ERROR) res = CURLE_OK;
    if (status == 416) return AD_OK; /* at or past the end */
    if (res != CURLE_OK)
        return ad_fail(err, AD_E_BACKEND, "%.300s: %s", url,
                       errbuf[0] ? errbuf : curl_easy_strerror(res));
    if (status != 206 && !(status == 200 && off == 0)) return status_fail(url, status, err);
    *got = k.len;
    return AD_OK;
}

ad_code ad_urlsrc_crc32(ad_urlsrc *s, const char *url, uint64_t size, uint32_t *crc, ad_error *err)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    sink k = {NULL, 0, 0, 0, crc32(0L, Z_NULL, 0)};
    long status = 0;
    CURLcode res;
    setup(s->h, url, errbuf);
    curl_easy_setopt(s->h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(s->h, CURLOPT_WRITEDATA, &k);
    res = curl_easy_perform(s->h);
    curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
    if (res != CURLE_OK)
        return ad_fail(err, AD_E_BACKEND, "%.300s: %s", url,
                       errbuf[0] ? errbuf : curl_easy_strerror(res));
    if (status != 200) return status_fail(url, status, err);
    if (k.total != size)
        return ad_fail(err, AD_E_BACKEND, "%.300s: %" PRIu64 " bytes, expected %" PRIu64, url,
                       k.total, size);
    *crc = (uint32_t)k.crc;
    return AD_OK;
}
