/*
 * fetch.h — pulling an asset's source: one http(s) URL downloaded to a
 * local file with bounds on everything a remote server controls (size,
 * time, redirects) and on where the request may go (the allow list), for
 * the asset store's controller. libcurl does the HTTP.
 *
 * The allow list is checked on the address curl actually connects to (an
 * open-socket callback), so a host name that resolves to a forbidden
 * address, and a redirect to one, are refused the same way as a literal
 * address.
 */
#ifndef ASSETD_CORE_FETCH_H
#define ASSETD_CORE_FETCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define AD_FETCH_REDIRECTS_MAX 5

/* Where outgoing requests (sources, webhooks) may go. Built from a comma
 * list of entries: a host name ("files.example.com", matched exactly,
 * case-insensitively, against the URL's host), an address or CIDR
 * ("127.0.0.1/32", "10.0.0.0/8", "::1/128"), or "*" (anything). Whatever
 * the list holds, any public unicast address is allowed; loopback,
 * link-local (169.254/16 with the cloud metadata address, fe80::/10),
 * private (RFC 1918, fc00::/7), unspecified and multicast addresses are
 * refused unless an entry allows them. */
typedef struct ad_netallow ad_netallow;

/* AD_E_BAD_REQUEST naming the bad entry. An empty or NULL spec gives the
 * default list. */
ad_code ad_netallow_parse(const char *spec, ad_netallow **out, ad_error *err);
void ad_netallow_free(ad_netallow *a);
/* Whether a connection to addr (a struct sockaddr_in/in6) for a URL whose
 * host is host may be made. */
bool ad_netallow_check(const ad_netallow *a, const char *host, const void *sockaddr,
                       size_t addrlen);

typedef struct ad_fetch_opts {
    const ad_netallow *allow; /* not owned; NULL: the default list */
    uint64_t max_bytes;       /* bigger bodies fail (declared or counted) */
    long timeout_s;           /* the whole transfer */
    long connect_timeout_s;
    const char *ca_file; /* PEM certificate authorities trusted for https
                            in place of the system's (NULL: the system's) */
} ad_fetch_opts;

typedef struct ad_fetch_result {
    long status;    /* last HTTP status, 0 if none */
    uint64_t bytes; /* bytes written to the file */
    char content_type[128];
    char effective_url[1024]; /* after redirects (credentials never included) */
} ad_fetch_result;

/* Downloads url (http or https only; AD_E_BAD_REQUEST for any other
 * scheme) into path (created or truncated, fsynced). On failure the file
 * is removed and err names the reason in words a user can act on:
 * "HTTP 404 from http://host/path", "larger than 1073741824 bytes",
 * "timed out after 300 s", "more than 5 redirects", "address 10.0.0.1 of
 * host x is not allowed (--source-allow)", "could not resolve host x".
 * AD_E_BAD_REQUEST for a URL that is not allowed or malformed, AD_E_BACKEND
 * for the rest. The URL's userinfo is never put in a message. */
ad_code ad_fetch_to_file(const char *url, const char *path, const ad_fetch_opts *o,
                         ad_fetch_result *res, ad_error *err);

#endif
