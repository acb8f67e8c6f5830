/*
 * outbound.h — what fetch.c and webhook.c share for requests leaving
 * assetd: a libcurl easy handle set up so it can only reach http(s) URLs,
 * never through a proxy, and only addresses the allow list admits; and the
 * text of a URL fit for a message. Internal to core/ (not a contract).
 */
#ifndef ASSETD_CORE_OUTBOUND_H
#define ASSETD_CORE_OUTBOUND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <curl/curl.h>

#include "core/fetch.h"
#include "util/err.h"

/* Set by the open-socket callback when it refused an address. */
typedef struct ad_outbound {
    const ad_netallow *allow; /* NULL: the default list */
    const char *flag;         /* "--source-allow" / "--webhook-allow", for messages */
    CURL *h;
    bool refused;
    char refused_msg[384];
} ad_outbound;

/* Checks url is a well-formed http or https URL (AD_E_BAD_REQUEST naming
 * the scheme otherwise), creates the handle and sets the URL, the allowed
 * protocols (redirects too), no proxy, NOSIGNAL, the error buffer, the
 * open-socket guard and, when ca_file is not NULL, the certificate
 * authorities trusted for https. errbuf has CURL_ERROR_SIZE bytes. */
ad_code ad_outbound_open(ad_outbound *ob, const char *url, const ad_netallow *allow,
                         const char *flag, const char *ca_file, char *errbuf, ad_error *err);
void ad_outbound_close(ad_outbound *ob);

/* For CURLOPT_HEADERFUNCTION callbacks, on one header line p of n bytes.
 * ad_outbound_status_line: true when the line is a status line ("HTTP/…"),
 * with *status its code (0 if unreadable). ad_outbound_content_length: true
 * when the line is a Content-Length with digits, *len its value
 * (saturated at UINT64_MAX). */
bool ad_outbound_status_line(const char *p, size_t n, long *status);
bool ad_outbound_content_length(const char *p, size_t n, uint64_t *len);

/* A URL as it may appear in a message or a log line: without its userinfo
 * and with secret-looking query values masked (ad_url_redact). */
void ad_outbound_url_text(const char *url, char *out, size_t cap);

/* The message for a failed transfer that none of the caller's own checks
 * explains: the refused address, a timeout, DNS, the redirect limit, or
 * libcurl's words. Returns AD_E_BAD_REQUEST for a refusal, else AD_E_BACKEND. */
ad_code ad_outbound_fail(ad_outbound *ob, CURLcode rc, const char *errbuf, const char *url,
                         long timeout_s, ad_error *err);

#endif
