/*
 * s3_http.c — one signed S3 request over libcurl, with bounded retries,
 * and the pool of connections the S3 blob store shares between threads.
 *
 * Signing is libcurl's (CURLOPT_AWS_SIGV4 "aws:amz:<region>:s3"). What it
 * leaves to us, as of the libcurl 7.88 Debian 12 ships:
 *   - x-amz-content-sha256 on every request (RGW and S3 want it): the
 *     body's SHA-256 for small bodies we sign (XML), the empty string's
 *     for requests without a body, UNSIGNED-PAYLOAD for object data (so a
 *     part is not hashed twice; the transport is the integrity check, as
 *     with the AWS CLI over TLS). libcurl signs with the value we send.
 *   - the canonical query: libcurl 7.88 signs the query string as given,
 *     so callers pass it already sorted by name, every value encoded and
 *     every name followed by '=' ("uploads=", not "uploads").
 *   - the path: keys are encoded here exactly as SigV4 does (unreserved
 *     bytes kept, '/' kept, everything else %XX), and CURLOPT_PATH_AS_IS
 *     keeps libcurl from touching it.
 *   - no header with an empty value: libcurl 7.88 signs "Expect:" (the way
 *     to suppress a header) although it never sends it, and the signature
 *     fails; so big uploads keep libcurl's Expect: 100-continue.
 *
 * Connections: libcurl does not support sharing one connection cache
 * between threads (CURL_LOCK_DATA_CONNECT is documented as unsupported
 * across concurrent threads), so the client keeps a mutex-guarded pool
 * of slots, each an easy handle that is always driven through its own
 * multi handle (whose connection cache survives from request to request).
 * A thread takes a slot for one request, or a writer or reader for its
 * whole life, and gives it back; keep-alive connections are reused across
 * threads that way. A slot given back mid-transfer is dropped instead, so
 * no half-read connection is reused.
 *
 * Retries: connection errors (cannot connect or resolve, reset, timeout,
 * nothing received) and answers 500, 502, 503, 504, 429 and 400
 * RequestTimeout are retried up to conf.retries times, sleeping 100 ms,
 * 200 ms, 400 ms… (capped at 5 s, with jitter) in between. After the last
 * attempt the error carries the S3 error Code and Message from the XML
 * body. Neither the credentials nor the request's headers ever appear in
 * a message: only the method, bucket, key, status and S3's own words.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "store/s3_int.h"
#include "util/str.h"

#define POOL_IDLE_MAX  32           /* idle slots kept */
#define BUFFER_SIZE    (256 * 1024) /* libcurl's receive and send buffers */
#define BACKOFF_MS     100          /* first retry delay */
#define BACKOFF_MAX_MS 5000         /* longest retry delay */
#define EMPTY_SHA256   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

/* ------------------------------------------------------------------------ */
/* The pool                                                                 */
/* ------------------------------------------------------------------------ */

ad_code s3_client_init(s3_client *c, ad_error *err)
{
    c->idle = NULL;
    c->nidle = 0;
    if (pthread_mutex_init(&c->lock, NULL) != 0)
        return ad_fail(err, AD_E_INTERNAL, "cannot create a mutex");
    return AD_OK;
}

static void conn_free(s3_conn *k)
{
    if (!k) return;
    if (k->busy) curl_multi_remove_handle(k->multi, k->easy);
    if (k->multi) curl_multi_cleanup(k->multi); /* closes its connections */
    if (k->easy) curl_easy_cleanup(k->easy);
    free(k);
}

void s3_client_free(s3_client *c)
{
    s3_conn *k = c->idle, *next;
    for (; k; k = next) {
        next = k->next;
        conn_free(k);
    }
    c->idle = NULL;
    pthread_mutex_destroy(&c->lock);
    s3_conf_free(&c->conf);
}

s3_conn *s3_conn_get(s3_client *c)
{
    s3_conn *k;
    pthread_mutex_lock(&c->lock);
    k = c->idle;
    if (k) {
        c->idle = k->next;
        c->nidle--;
    }
    pthread_mutex_unlock(&c->lock);
    if (k) {
        k->next = NULL;
        return k;
    }
    k = calloc(1, sizeof(*k));
    if (!k) return NULL;
    k->easy = curl_easy_init();
    k->multi = curl_multi_init();
    if (!k->easy || !k->multi) {
        conn_free(k);
        return NULL;
    }
    /* at most one connection per slot stays open */
    curl_multi_setopt(k->multi, CURLMOPT_MAXCONNECTS, 1L);
    return k;
}

void s3_conn_put(s3_client *c, s3_conn *k)
{
    if (!k) return;
    if (k->busy) {
        conn_free(k);
        return;
    }
    pthread_mutex_lock(&c->lock);
    if (c->nidle < POOL_IDLE_MAX) {
        k->next = c->idle;
        c->idle = k;
        c->nidle++;
        k = NULL;
    }
    pthread_mutex_unlock(&c->lock);
    conn_free(k);
}

/* ------------------------------------------------------------------------ */
/* Callbacks                                                                */
/* ------------------------------------------------------------------------ */

static bool header_is(const char *p, size_t n, const char *name, const char **value, size_t *vlen)
{
    size_t k = strlen(name);
    if (n <= k || strncasecmp(p, name, k) != 0 || p[k] != ':') return false;
    p += k + 1, n -= k + 1;
    while (n && (*p == ' ' || *p == '\t')) p++, n--;
    while (n && (p[n - 1] == '\r' || p[n - 1] == '\n' || p[n - 1] == ' ')) n--;
    *value = p, *vlen = n;
    return true;
}

static bool parse_u64(const char *p, size_t n, uint64_t *out)
{
    char num[24];
    if (n == 0 || n >= sizeof(num)) return false;
    memcpy(num, p, n);
    num[n] = '\0';
    return ad_parse_u64(num, UINT64_MAX, out);
}

static size_t on_header(char *p, size_t size, size_t nmemb, void *ud)
{
    s3_req *rq = ud;
    size_t n = size * nmemb, vlen;
    const char *v;
    if (n > 9 && memcmp(p, "HTTP/", 5) == 0) {
        /* a new status line (after 100 Continue, too): forget the last */
        const char *sp = memchr(p, ' ', n);
        rq->status = sp && (size_t)(sp - p) + 4 <= n ? strtol(sp + 1, NULL, 10) : 0;
        rq->has_length = rq->has_total = false;
        rq->etag[0] = '\0';
    } else if (header_is(p, n, "etag", &v, &vlen)) {
        if (vlen < sizeof(rq->etag)) {
            memcpy(rq->etag, v, vlen);
            rq->etag[vlen] = '\0';
        }
    } else if (header_is(p, n, "content-length", &v, &vlen)) {
        rq->has_length = parse_u64(v, vlen, &rq->length);
    } else if (header_is(p, n, "content-range", &v, &vlen)) {
        const char *slash = memchr(v, '/', vlen);
        if (slash) rq->has_total = parse_u64(slash + 1, vlen - (size_t)(slash + 1 - v), &rq->total);
    }
    return n;
}

static size_t on_write(char *p, size_t size, size_t nmemb, void *ud)
{
    s3_req *rq = ud;
    size_t n = size * nmemb;
    if (rq->status < 200 || rq->status > 299) {
        size_t room = rq->errbody.max - rq->errbody.len;
        ad_buf_append(&rq->errbody, p, n < room ? n : room); /* the rest is dropped */
        return n;
    }
    if (rq->write_fn) return rq->write_fn(rq->write_ctx, p, n);
    if (rq->sink) {
        if (n > rq->sink_cap - rq->sink_len) {
            rq->sink_overflow = true;
            return 0;
        }
        memcpy(rq->sink + rq->sink_len, p, n);
        rq->sink_len += n;
        return n;
    }
    if (rq->xml) {
        if (ad_buf_append(rq->xml, p, n)) {
            rq->sink_overflow = true;
            return 0;
        }
        return n;
    }
    return n;
}

static size_t on_read(char *buf, size_t size, size_t nmemb, void *ud)
{
    s3_req *rq = ud;
    size_t n = size * nmemb, left = rq->body_len - rq->body_off;
    if (n > left) n = left;
    memcpy(buf, (const char *)rq->body + rq->body_off, n);
    rq->body_off += n;
    return n;
}

/* ------------------------------------------------------------------------ */
/* Requests                                                                 */
/* ------------------------------------------------------------------------ */

static int build_url(const s3_conf *cf, const s3_req *rq, ad_buf *u)
{
    const char *bucket = rq->bucket ? rq->bucket : cf->bucket;
    int bad = 0;
    bad |= ad_buf_printf(u, "%s://", cf->scheme) != AD_OK;
    if (cf->virtual_host)
        bad |= ad_buf_printf(u, "%s.%s/", bucket, cf->authority) != AD_OK;
    else
        bad |= ad_buf_printf(u, "%s/%s%s", cf->authority, bucket, rq->key ? "/" : "") != AD_OK;
    if (rq->key) bad |= s3_uri_encode(u, rq->key, strlen(rq->key), true) != 0;
    if (rq->query && *rq->query) bad |= ad_buf_printf(u, "?%s", rq->query) != AD_OK;
    return bad ? -1 : 0;
}

/* Adds "name: value" ("name:" alone when value is NULL: libcurl then
 * sends no such header). */
static int add_header(s3_req *rq, const char *name, const char *value)
{
    ad_buf line;
    struct curl_slist *l = NULL;
    ad_buf_init(&line, 16 * 1024);
    if (!ad_buf_puts(&line, name) && !ad_buf_puts(&line, value ? ": " : ":") &&
        !ad_buf_puts(&line, value ? value : ""))
        l = curl_slist_append(rq->headers, line.data);
    ad_buf_free(&line);
    if (!l) return -1;
    rq->headers = l;
    return 0;
}

void s3_req_reset(s3_req *rq)
{
    rq->status = 0;
    rq->has_length = rq->has_total = false;
    rq->length = rq->total = 0;
    rq->etag[0] = '\0';
    rq->sink_len = 0;
    rq->sink_overflow = false;
    if (rq->xml) ad_buf_reset(rq->xml);
    if (rq->errbody.max == 0) ad_buf_init(&rq->errbody, S3_ERRBODY_MAX);
    ad_buf_reset(&rq->errbody);
    rq->curl_rc = CURLE_OK;
    rq->curl_msg[0] = '\0';
    rq->body_off = 0;
    curl_slist_free_all(rq->headers);
    rq->headers = NULL;
}

void s3_req_free(s3_req *rq)
{
    curl_slist_free_all(rq->headers);
    rq->headers = NULL;
    ad_buf_free(&rq->errbody);
}

ad_code s3_start(s3_client *c, s3_conn *k, s3_req *rq, ad_error *err)
{
    const s3_conf *cf = &c->conf;
    CURL *e = k->easy;
    char sha[65];
    const char *hash = EMPTY_SHA256;
    bool put = strcmp(rq->method, "PUT") == 0, post = strcmp(rq->method, "POST") == 0;
    ad_buf url;
    int bad = 0;
    if (k->busy) return ad_fail(err, AD_E_INTERNAL, "S3: a connection slot used twice");
    s3_req_reset(rq);
    ad_buf_init(&url, S3_URL_MAX);
    if (build_url(cf, rq, &url)) {
        ad_buf_free(&url);
        return ad_fail(err, AD_E_BAD_REQUEST, "S3: the request URL is too long");
    }
    if (rq->body_len && rq->sign_body) {
        s3_sha256_hex(rq->body, rq->body_len, sha);
        hash = sha;
    } else if (rq->body_len) {
        hash = "UNSIGNED-PAYLOAD";
    }
    bad |= add_header(rq, "x-amz-content-sha256", hash);
    if (cf->token) bad |= add_header(rq, "x-amz-security-token", cf->token);
    if (rq->range) bad |= add_header(rq, "Range", rq->range);
    if (rq->if_match) bad |= add_header(rq, "If-Match", rq->if_match);
    if (put || post) {
        bad |= add_header(rq, "Content-Type",
                          rq->content_type ? rq->content_type : "application/octet-stream");
    }
    if (bad) {
        ad_buf_free(&url);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }

    curl_easy_reset(e); /* keeps the connection cache */
    curl_easy_setopt(e, CURLOPT_URL, url.data);
    ad_buf_free(&url); /* libcurl copied it */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_AWS_SIGV4, cf->sigv4);
    curl_easy_setopt(e, CURLOPT_USERNAME, cf->access);
    curl_easy_setopt(e, CURLOPT_PASSWORD, cf->secret);
    curl_easy_setopt(e, CURLOPT_HTTPHEADER, rq->headers);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, cf->connect_timeout_ms);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_LIMIT, 1L);
    curl_easy_setopt(e, CURLOPT_LOW_SPEED_TIME, cf->stall_timeout_s);
    curl_easy_setopt(e, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(e, CURLOPT_BUFFERSIZE, (long)BUFFER_SIZE);
    curl_easy_setopt(e, CURLOPT_UPLOAD_BUFFERSIZE, (long)BUFFER_SIZE);
    curl_easy_setopt(e, CURLOPT_ERRORBUFFER, rq->curl_msg);
    curl_easy_setopt(e, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(e, CURLOPT_HEADERDATA, rq);
    curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, on_write);
    curl_easy_setopt(e, CURLOPT_WRITEDATA, rq);
    if (put) {
        curl_easy_setopt(e, CURLOPT_UPLOAD, 1L);
        curl_easy_setopt(e, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(e, CURLOPT_READDATA, rq);
        curl_easy_setopt(e, CURLOPT_INFILESIZE_LARGE, (curl_off_t)rq->body_len);
    } else if (post) {
        curl_easy_setopt(e, CURLOPT_POST, 1L);
        curl_easy_setopt(e, CURLOPT_POSTFIELDS, rq->body ? (const char *)rq->body : "");
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    } else if (strcmp(rq->method, "HEAD") == 0) {
        curl_easy_setopt(e, CURLOPT_NOBODY, 1L);
    } else if (strcmp(rq->method, "GET") != 0) {
        curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, rq->method);
    }
    if (curl_multi_add_handle(k->multi, e) != CURLM_OK)
        return ad_fail(err, AD_E_INTERNAL, "S3: cannot start a transfer");
    k->busy = true;
    return AD_OK;
}

bool s3_pump(s3_conn *k, int wait_ms)
{
    int running = 0;
    curl_multi_perform(k->multi, &running);
    if (!running) return true;
    if (wait_ms > 0) {
        curl_multi_poll(k->multi, NULL, 0, wait_ms, NULL);
        curl_multi_perform(k->multi, &running);
    }
    return running == 0;
}

void s3_finish(s3_conn *k, s3_req *rq)
{
    CURLMsg *m;
    int left;
    bool done = false;
    long status = 0;
    if (!k->busy) return;
    while ((m = curl_multi_info_read(k->multi, &left)) != NULL) {
        if (m->msg == CURLMSG_DONE && m->easy_handle == k->easy) {
            rq->curl_rc = m->data.result;
            done = true;
        }
    }
    if (!done) rq->curl_rc = CURLE_ABORTED_BY_CALLBACK; /* stopped before its end */
    if (done && rq->curl_rc == CURLE_OK &&
        curl_easy_getinfo(k->easy, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK && status)
        rq->status = status;
    if (rq->curl_rc != CURLE_OK && !(rq->curl_rc == CURLE_WRITE_ERROR && rq->sink_overflow))
        rq->status = 0; /* a partial answer is no answer */
    curl_multi_remove_handle(k->multi, k->easy);
    k->busy = false;
    curl_slist_free_all(rq->headers);
    rq->headers = NULL;
}

/* The S3 error Code of a non-2xx answer, into out. */
static void error_field(const s3_req *rq, const char *tag, char *out, size_t cap)
{
    size_t pos = 0, i;
    out[0] = '\0';
    if (!rq->errbody.data ||
        s3_xml_next(rq->errbody.data, rq->errbody.len, &pos, tag, out, cap) != 1)
        out[0] = '\0';
    for (i = 0; out[i]; i++) /* S3's words go into logs and JSON: no control bytes */
        if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f || out[i] == '"') out[i] = '\'';
}

bool s3_retryable(const s3_req *rq)
{
    switch (rq->curl_rc) {
    case CURLE_OK:
        break;
    case CURLE_COULDNT_CONNECT:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
        return true;
    default:
        return false;
    }
    if (rq->status == 500 || rq->status == 502 || rq->status == 503 || rq->status == 504 ||
        rq->status == 429)
        return true;
    if (rq->status == 400) {
        char code[64];
        error_field(rq, "Code", code, sizeof(code));
        return strcmp(code, "RequestTimeout") == 0;
    }
    return false;
}

void s3_backoff(int attempt)
{
    static __thread unsigned seed;
    long ms = BACKOFF_MS;
    struct timespec ts;
    for (int i = 1; i < attempt && ms < BACKOFF_MAX_MS; i++) ms *= 2;
    if (ms > BACKOFF_MAX_MS) ms = BACKOFF_MAX_MS;
    if (!seed) seed = (unsigned)time(NULL) ^ (unsigned)(uintptr_t)&ts;
    ms = ms / 2 + (long)(rand_r(&seed) % (unsigned)(ms / 2 + 1)); /* jitter: [ms/2, ms] */
    ts.tv_sec = ms / 1000;
    ts.tv_nsec = (ms % 1000) * 1000000L;
    while (nanosleep(&ts, &ts) != 0) {
    }
}

ad_code s3_perform(s3_client *c, s3_conn *k, s3_req *rq, const char *what, ad_error *err)
{
    bool own = !k;
    int attempt;
    ad_code rc = AD_OK;
    if (own && !(k = s3_conn_get(c))) return ad_fail(err, AD_E_NOMEM, "out of memory");
    for (attempt = 0; attempt <= (rq->once ? 0 : c->conf.retries); attempt++) {
        if (attempt) s3_backoff(attempt);
        rc = s3_start(c, k, rq, err);
        if (rc) break;
        while (!s3_pump(k, 1000)) {
        }
        s3_finish(k, rq);
        if (!s3_retryable(rq)) break;
    }
    if (own) s3_conn_put(c, k);
    if (rc) return rc;
    if (rq->curl_rc != CURLE_OK || s3_retryable(rq)) return s3_fail(c, rq, what, err);
    return AD_OK;
}

void s3_what(char *out, size_t cap, const char *method, const char *bucket, const char *key)
{
    snprintf(out, cap, "%s %.63s%s%.300s%s", method, bucket, key ? "/" : "", key ? key : "",
             key && strlen(key) > 300 ? "…" : "");
}

ad_code s3_fail(const s3_client *c, const s3_req *rq, const char *what, ad_error *err)
{
    char code[64], msg[240];
    const char *hint = "";
    ad_code ac;
    if (rq->curl_rc == CURLE_WRITE_ERROR && rq->sink_overflow)
        return ad_fail(err, AD_E_BACKEND, "S3 %s: the answer was longer than expected", what);
    if (rq->curl_rc != CURLE_OK) {
        return ad_fail(err, AD_E_UNAVAILABLE, "S3 %s: %s://%s unreachable after %d attempts: %s",
                       what, c->conf.scheme, c->conf.authority, rq->once ? 1 : c->conf.retries + 1,
                       rq->curl_msg[0] ? rq->curl_msg : curl_easy_strerror(rq->curl_rc));
    }
    error_field(rq, "Code", code, sizeof(code));
    error_field(rq, "Message", msg, sizeof(msg));
    switch (rq->status) {
    case 404:
        ac = AD_E_NOT_FOUND;
        break;
    case 429:
    case 502:
    case 503:
    case 504:
        ac = AD_E_UNAVAILABLE;
        break;
    default:
        ac = AD_E_BACKEND;
    }
    if (!strcmp(code, "InvalidAccessKeyId") || !strcmp(code, "SignatureDoesNotMatch") ||
        !strcmp(code, "AccessDenied") || (!code[0] && (rq->status == 401 || rq->status == 403)))
        hint = " (check the access key, the secret and the region)";
    else if (!strcmp(code, "RequestTimeTooSkewed"))
        hint = " (this machine's clock is off)";
    else if (rq->status >= 500 || rq->status == 429)
        hint = c->conf.retries && !rq->once ? " (after every retry)" : "";
    return ad_fail(err, ac, "S3 %s: HTTP %ld%s%s%s%s%s", what, rq->status, code[0] ? " " : "", code,
                   msg[0] ? ": " : "", msg, hint);
}
