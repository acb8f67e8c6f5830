/*
 * outbound.c — the guarded libcurl handle of source fetches and webhook
 * calls (see outbound.h).
 *
 * Decisions:
 * - The allow list is applied in CURLOPT_OPENSOCKETFUNCTION, which libcurl
 *   calls with the resolved address of every connection it opens, the
 *   connections after a redirect included. The host the address is judged
 *   for is the host of the URL being requested at that moment
 *   (CURLINFO_EFFECTIVE_URL, which libcurl moves to the redirect target
 *   before it connects), so host-name entries work across redirects.
 * - Proxies are switched off (CURLOPT_PROXY ""), whatever http_proxy says:
 *   through a proxy the socket goes to the proxy, and the allow list could
 *   not see where the request really ends up.
 * - Only http and https, for the first URL and for redirects
 *   (CURLOPT_PROTOCOLS_STR / CURLOPT_REDIR_PROTOCOLS_STR, libcurl 7.85+;
 *   Debian 12 has 7.88).
 */
#include "core/outbound.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include "util/str.h"

#define OUTBOUND_URL_MAX 8192

void ad_outbound_url_text(const char *url, char *out, size_t cap)
{
    const char *auth, *end, *at = NULL;
    char *tmp;
    size_t n;
    if (!cap) return;
    if (!url) {
        snprintf(out, cap, "(no URL)");
        return;
    }
    n = strlen(url);
    tmp = malloc(n + 1);
    if (!tmp) {
        snprintf(out, cap, "(URL)");
        return;
    }
    auth = strstr(url, "://");
    auth = auth ? auth + 3 : url;
    /* userinfo ends at the last '@' before the query or fragment: a '/' in
     * a password is common enough, and dropping too much is harmless */
    end = auth + strcspn(auth, "?#");
    for (const char *p = auth; p < end; p++)
        if (*p == '@') at = p;
    if (at) {
        size_t head = (size_t)(auth - url);
        memcpy(tmp, url, head);
        memcpy(tmp + head, at + 1, n - (size_t)(at + 1 - url) + 1);
    } else {
        memcpy(tmp, url, n + 1);
    }
    ad_url_redact(tmp, out, cap);
    free(tmp);
}

/* The host of the URL curl is working on now (redirects included). */
static void current_host(CURL *h, char *out, size_t cap)
{
    char *eff = NULL, *host = NULL;
    CURLU *u;
    out[0] = '\0';
    if (curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &eff) != CURLE_OK || !eff) return;
    if (!(u = curl_url())) return;
    if (curl_url_set(u, CURLUPART_URL, eff, CURLU_NON_SUPPORT_SCHEME) == CURLUE_OK &&
        curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK && host) {
        snprintf(out, cap, "%s", host);
        curl_free(host);
    }
    curl_url_cleanup(u);
}

static void addr_text(const struct curl_sockaddr *a, char *out, size_t cap)
{
    const void *p = NULL;
    if (a->family == AF_INET)
        p = &((const struct sockaddr_in *)(const void *)&a->addr)->sin_addr;
    else if (a->family == AF_INET6)
        p = &((const struct sockaddr_in6 *)(const void *)&a->addr)->sin6_addr;
    if (!p || !inet_ntop(a->family, p, out, (socklen_t)cap)) snprintf(out, cap, "(unknown)");
}

static curl_socket_t open_socket(void *cls, curlsocktype purpose, struct curl_sockaddr *a)
{
    ad_outbound *ob = cls;
    char host[256], addr[INET6_ADDRSTRLEN];
    current_host(ob->h, host, sizeof(host));
    if (purpose != CURLSOCKTYPE_IPCXN ||
        !ad_netallow_check(ob->allow, host, &a->addr, a->addrlen)) {
        addr_text(a, addr, sizeof(addr));
        if (!ob->refused) /* the first refusal is the one to report */
            snprintf(ob->refused_msg, sizeof(ob->refused_msg),
                     "address %s of host %.200s is not allowed (%s)", addr, host[0] ? host : "?",
                     ob->flag);
        ob->refused = true;
        return CURL_SOCKET_BAD;
    }
    return socket(a->family, a->socktype | SOCK_CLOEXEC, a->protocol);
}

ad_code ad_outbound_open(ad_outbound *ob, const char *url, const ad_netallow *allow,
                         const char *flag, const char *ca_file, char *errbuf, ad_error *err)
{
    CURLU *u;
    char *scheme = NULL, shown[512];
    CURLUcode uc;
    memset(ob, 0, sizeof(*ob));
    ob->allow = allow;
    ob->flag = flag;
    if (!url || !*url) return ad_fail(err, AD_E_BAD_REQUEST, "no URL");
    ad_outbound_url_text(url, shown, sizeof(shown));
    if (strlen(url) > OUTBOUND_URL_MAX)
        return ad_fail(err, AD_E_BAD_REQUEST, "URL longer than %d bytes", OUTBOUND_URL_MAX);
    if (!(u = curl_url())) return ad_fail(err, AD_E_NOMEM, "out of memory");
    uc = curl_url_set(u, CURLUPART_URL, url, CURLU_NON_SUPPORT_SCHEME);
    if (uc == CURLUE_OK) uc = curl_url_get(u, CURLUPART_SCHEME, &scheme, 0);
    curl_url_cleanup(u);
    if (uc != CURLUE_OK) {
        curl_free(scheme);
        return ad_fail(err, AD_E_BAD_REQUEST, "malformed URL %s: %s", shown, curl_url_strerror(uc));
    }
    if (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) {
        ad_code rc =
            ad_fail(err, AD_E_BAD_REQUEST,
                    "only http and https URLs are allowed, not \"%.32s\" (%s)", scheme, shown);
        curl_free(scheme);
        return rc;
    }
    curl_free(scheme);
    if (!(ob->h = curl_easy_init())) return ad_fail(err, AD_E_NOMEM, "out of memory");
    errbuf[0] = '\0';
    if (curl_easy_setopt(ob->h, CURLOPT_URL, url) != CURLE_OK ||
        curl_easy_setopt(ob->h, CURLOPT_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(ob->h, CURLOPT_REDIR_PROTOCOLS_STR, "http,https") != CURLE_OK ||
        curl_easy_setopt(ob->h, CURLOPT_PROXY, "") != CURLE_OK ||
        curl_easy_setopt(ob->h, CURLOPT_NOSIGNAL, 1L) != CURLE_OK ||
        curl_easy_setopt(ob->h, CURLOPT_ERRORBUFFER, errbuf) != CURLE_OK ||
        curl_easy_setopt(ob->h, CURLOPT_OPENSOCKETFUNCTION, open_socket) != CURLE_OK ||
        curl_easy_setopt(ob->h, CURLOPT_OPENSOCKETDATA, ob) != CURLE_OK ||
        curl_easy_setopt(ob->h, CURLOPT_USERAGENT, "assetd") != CURLE_OK ||
        (ca_file && curl_easy_setopt(ob->h, CURLOPT_CAINFO, ca_file) != CURLE_OK)) {
        ad_outbound_close(ob);
        return ad_fail(err, AD_E_INTERNAL, "libcurl refused an option for %s", shown);
    }
    return AD_OK;
}

void ad_outbound_close(ad_outbound *ob)
{
    if (ob->h) curl_easy_cleanup(ob->h);
    ob->h = NULL;
}

ad_code ad_outbound_fail(ad_outbound *ob, CURLcode rc, const char *errbuf, const char *url,
                         long timeout_s, ad_error *err)
{
    char shown[512], host[256];
    const char *why = errbuf && errbuf[0] ? errbuf : curl_easy_strerror(rc);
    ad_outbound_url_text(url, shown, sizeof(shown));
    if (ob->refused) return ad_fail(err, AD_E_BAD_REQUEST, "%s", ob->refused_msg);
    switch (rc) {
    case CURLE_OPERATION_TIMEDOUT:
        if (strncasecmp(why, "Connection timed out", 20) == 0 ||
            strncasecmp(why, "Failed to connect", 17) == 0)
            return ad_fail(err, AD_E_BACKEND, "could not connect in time to %s", shown);
        return ad_fail(err, AD_E_BACKEND, "timed out after %ld s (%s)", timeout_s, shown);
    case CURLE_TOO_MANY_REDIRECTS:
        return ad_fail(err, AD_E_BACKEND, "more than %d redirects from %s", AD_FETCH_REDIRECTS_MAX,
                       shown);
    case CURLE_COULDNT_RESOLVE_HOST:
        current_host(ob->h, host, sizeof(host));
        return ad_fail(err, AD_E_BACKEND, "could not resolve host %.200s", host);
    case CURLE_UNSUPPORTED_PROTOCOL:
        return ad_fail(err, AD_E_BACKEND, "redirected to a URL that is not http or https (from %s)",
                       shown);
    case CURLE_COULDNT_CONNECT:
        return ad_fail(err, AD_E_BACKEND, "could not connect to %s: %s", shown, why);
    default:
        return ad_fail(err, AD_E_BACKEND, "request to %s failed: %s", shown, why);
    }
}

bool ad_outbound_status_line(const char *p, size_t n, long *status)
{
    const char *sp;
    if (n < 5 || memcmp(p, "HTTP/", 5) != 0) return false;
    *status = 0;
    sp = memchr(p, ' ', n);
    if (sp)
        for (sp++; sp < p + n && *sp >= '0' && *sp <= '9' && *status < 1000; sp++)
            *status = *status * 10 + (*sp - '0');
    return true;
}

bool ad_outbound_content_length(const char *p, size_t n, uint64_t *len)
{
    uint64_t v = 0;
    size_t i = 15;
    if (n <= 15 || strncasecmp(p, "Content-Length:", 15) != 0) return false;
    while (i < n && (p[i] == ' ' || p[i] == '\t')) i++;
    if (i == n || p[i] < '0' || p[i] > '9') return false;
    for (; i < n && p[i] >= '0' && p[i] <= '9'; i++) {
        if (v > (UINT64_MAX - 9) / 10) {
            v = UINT64_MAX; /* saturate: surely too large */
            continue;
        }
        v = v * 10 + (uint64_t)(p[i] - '0');
    }
    *len = v;
    return true;
}
