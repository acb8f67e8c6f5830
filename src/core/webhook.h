/*
 * webhook.h — calling the asset store's services: validation, mutation and
 * metadata webhooks, with the request and response shapes of the asset
 * store's contracts (Rafter):
 *
 *   validation  POST {"parameters": <json>, "content": "<file text>"}
 *               200 passes; 422 fails with the service's message (the body's
 *               "message" field, else the body as text); any other status,
 *               a timeout or an unreadable answer is an error.
 *   mutation    the same request; 200 answers the new content (the whole
 *               body, bytes as they come), 304 leaves it unchanged.
 *   metadata    POST {"<file name>": "<file text>", ...}; 200 answers
 *               {"data": [{"filePath": "<name>", "metadata": <json>}, ...]}
 *               (also accepted: {"<name>": <json>, ...}).
 *
 * Every call has a timeout and a bound on the answer's size; the target
 * address passes the allow list (core/fetch.h). Messages never hold the
 * URL's userinfo.
 */
#ifndef ASSETD_CORE_WEBHOOK_H
#define ASSETD_CORE_WEBHOOK_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "core/fetch.h"
#include "util/err.h"

#define AD_WEBHOOK_CONTENT_MAX ((size_t)16 << 20) /* bytes of a file sent to a service */

typedef struct ad_webhook_opts {
    const ad_netallow *allow; /* not owned; NULL: the default list */
    long timeout_s;
    size_t max_response; /* bytes of an answer */
    const char *ca_file; /* as in ad_fetch_opts */
} ad_webhook_opts;

typedef enum ad_webhook_verdict {
    AD_HOOK_OK,     /* validation passed; mutation 200 or 304; metadata 200 */
    AD_HOOK_FAILED, /* validation 422; mutation 422 (the service refused) */
    AD_HOOK_ERROR,  /* anything else: status, timeout, too big, bad JSON */
} ad_webhook_verdict;

typedef struct ad_webhook_result {
    ad_webhook_verdict verdict;
    long status;       /* HTTP status, 0 if none */
    char message[512]; /* why, for FAILED and ERROR */
} ad_webhook_result;

/* Validation of one file. content is text of len bytes (not NUL-terminated). */
ad_code ad_webhook_validate(const char *url, const json_t *parameters, const char *content,
                            size_t len, const ad_webhook_opts *o, ad_webhook_result *res);

/* Mutation of one file. On AD_HOOK_OK with a 200, *out (malloc'd, caller
 * frees) and *out_len hold the new content; after a 304 *out is NULL. */
ad_code ad_webhook_mutate(const char *url, const json_t *parameters, const char *content,
                          size_t len, const ad_webhook_opts *o, ad_webhook_result *res, char **out,
                          size_t *out_len);

/* Metadata of several files: files is {"<name>": "<text>", ...}. On
 * AD_HOOK_OK *out (caller decrefs) is {"<name>": <metadata json>, ...},
 * holding only names that were sent. */
ad_code ad_webhook_metadata(const char *url, const json_t *files, const ad_webhook_opts *o,
                            ad_webhook_result *res, json_t **out);

/* The return code is AD_OK whenever a verdict was reached (OK, FAILED or
 * ERROR all say what happened in res); it is an error code only for a call
 * that could not be attempted (bad URL, not allowed, out of memory). */

#endif
