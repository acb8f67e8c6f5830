/*
 * http.c — assetctl's one HTTP exchange: send a request to assetd with
 * libcurl, read the answer into a capped buffer, parse its envelope
 * ({"success": …, "data": …} or {"success": false, "error": …, "code": …})
 * with jansson, and say what went wrong when something did.
 */
#include <stdio.h>
#include <string.h>

#include <curl/curl.h>

#include "cli/assetctl.h"

struct response {
    long status;
    struct buf body;
    bool too_big, verbose;
};

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
    struct response *rs = userdata;
    size_t len = size * n;
    if (len > MAX_BODY - rs->body.len) {
        rs->too_big = true;
        return 0;
    }
    return buf_add(&rs->body, p, len) ? len : 0;
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
    const struct response *rs = userdata;
    size_t len = size * n, shown = len;
    while (shown && (p[shown - 1] == '\r' || p[shown - 1] == '\n')) shown--;
    if (rs->verbose && shown) fprintf(stderr, "< %.*s\n", (int)shown, p);
    return len;
}

/* The If-Match value for REV: as given when quoted or '*', else quoted. */
static bool if_match_header(struct buf *h, const char *rev)
{
    bool raw = !strcmp(rev, "*") || rev[0] == '"' || !strncmp(rev, "W/", 2);
    return buf_str(h, "If-Match: ") &&
           (raw ? buf_str(h, rev) : buf_char(h, '"') && buf_str(h, rev) && buf_char(h, '"'));
}

static struct curl_slist *add_header(struct curl_slist *list, const char *h, bool *ok)
{
    struct curl_slist *l = *ok ? curl_slist_append(list, h) : NULL;
    if (!l) *ok = false;
    return l ? l : list;
}

static struct curl_slist *request_headers(const struct request *rq, bool *ok)
{
    struct curl_slist *list = NULL;
    struct buf im = {0};
    *ok = true;
    list = add_header(list, "Accept: application/json", ok);
    if (rq->body.len) {
        list = add_header(list, "Content-Type: application/json", ok);
        list = add_header(list, "Expect:", ok); /* no 100-continue round trip */
    }
    if (rq->if_match) {
        if (!if_match_header(&im, rq->if_match)) *ok = false;
        list = add_header(list, im.data, ok);
    }
    buf_free(&im);
    return list;
}

static void setup_handle(CURL *h, const struct client *cl, const struct request *rq,
                         struct response *rs, char *errbuf)
{
    curl_easy_setopt(h, CURLOPT_URL, rq->url.data);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* IDs are data: never resolve ".." */
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, cl->timeout_ms);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "assetctl/" ASSETCTL_VERSION);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, rs);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, rs);
#if LIBCURL_VERSION_NUM >= 0x075500
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#endif
    if (rq->body.len) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body.data);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body.len);
    }
    if (strcmp(rq->method, "GET") && strcmp(rq->method, "POST"))
        curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, rq->method);
    client_setup_tls(h, cl);
}

void client_setup_tls(CURL *h, const struct client *cl)
{
    if (cl->cacert) curl_easy_setopt(h, CURLOPT_CAINFO, cl->cacert);
}

int report_unreachable(const struct client *cl, CURLcode res, const char *errbuf)
{
    fprintf(stderr, "assetctl: cannot reach %s: %s\n", cl->server,
            errbuf[0] ? errbuf : curl_easy_strerror(res));
    if (res == CURLE_PEER_FAILED_VERIFICATION && !cl->cacert)
        fprintf(stderr, "assetctl: if the server's certificate comes from a private CA, give that "
                        "CA's certificate with --cacert FILE (or $ASSETCTL_CACERT)\n");
    return RC_UNREACHABLE;
}

/* Sends rq and fills rs. RC_UNREACHABLE when no answer came. */
static int http_send(const struct client *cl, const struct request *rq, struct response *rs)
{
    char errbuf[CURL_ERROR_SIZE] = "";
    bool ok = false;
    CURL *h = curl_easy_init();
    struct curl_slist *headers = h ? request_headers(rq, &ok) : NULL;
    if (!h || !ok) {
        curl_slist_free_all(headers);
        curl_easy_cleanup(h);
        return oom();
    }
    setup_handle(h, cl, rq, rs, errbuf);
    client_setup(h, cl);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    if (cl->verbose) fprintf(stderr, "> %s %s\n", rq->method, rq->url.data);
    CURLcode res = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &rs->status);
    curl_slist_free_all(headers);
    curl_easy_cleanup(h);
    if (res == CURLE_OK) return RC_OK;
    if (rs->too_big) {
        fprintf(stderr, "assetctl: the answer of %s is larger than 1 GiB\n", cl->server);
        return RC_FAIL;
    }
    if (res == CURLE_WRITE_ERROR) return oom();
    return report_unreachable(cl, res, errbuf);
}

/* Prints the server's error envelope: "assetctl: E (C, HTTP status)". */
static void report_error(const json_t *root, long status)
{
    const json_t *e = json_object_get(root, "error");
    const char *code = json_string_value(json_object_get(root, "code"));
    fputs("assetctl: ", stderr);
    if (json_is_string(e))
        fwrite(json_string_value(e), 1, json_string_length(e), stderr);
    else
        fputs("request failed", stderr);
    if (code)
        fprintf(stderr, " (%s, HTTP %ld)\n", code, status);
    else
        fprintf(stderr, " (HTTP %ld)\n", status);
}

/* Parses the envelope in rs; on success *data is a new reference to its
 * `data` (to the whole answer if it has none). */
static int take_data(const struct client *cl, const struct response *rs, json_t **data)
{
    json_error_t err;
    bool ok_status = rs->status >= 200 && rs->status < 300;
    json_t *root =
        json_loadb(rs->body.data ? rs->body.data : "", rs->body.len, JSON_ALLOW_NUL, &err);
    if (!root) {
        if (ok_status)
            fprintf(stderr, "assetctl: %s answered HTTP %ld with invalid JSON: %s\n", cl->server,
                    rs->status, err.text);
        else
            fprintf(stderr, "assetctl: %s answered HTTP %ld without a JSON body\n", cl->server,
                    rs->status);
        return RC_FAIL;
    }
    if (!ok_status || json_is_false(json_object_get(root, "success"))) {
        report_error(root, rs->status);
        json_decref(root);
        return RC_FAIL;
    }
    json_t *d = json_object_get(root, "data");
    *data = json_incref(d ? d : root);
    json_decref(root);
    return RC_OK;
}

int http_exchange(const struct client *cl, const struct request *rq, json_t **data)
{
    struct response rs = {.verbose = cl->verbose};
    int rc = http_send(cl, rq, &rs);
    if (!rc) rc = take_data(cl, &rs, data);
    buf_free(&rs.body);
    return rc;
}

int http_exchange_404(const struct client *cl, const struct request *rq, json_t **data,
                      bool *missing)
{
    struct response rs = {.verbose = cl->verbose};
    int rc = http_send(cl, rq, &rs);
    *data = NULL;
    *missing = !rc && rs.status == 404;
    if (!rc && !*missing) rc = take_data(cl, &rs, data);
    buf_free(&rs.body);
    return rc;
}

void client_setup(void *curl_handle, const struct client *cl)
{
    CURL *h = curl_handle;
    if (!cl->token) return;
    /* Authorization: Bearer <token>; libcurl keeps it off redirects to
     * other hosts */
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BEARER);
    curl_easy_setopt(h, CURLOPT_XOAUTH2_BEARER, cl->token);
}
