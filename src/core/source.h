/*
 * source.h — assets whose content is pulled from a URL (the asset store):
 * the client's `source` block and the server-owned `generation`, `status`
 * and `created_at` fields of an asset document.
 *
 *   "source": {"url", "mode": "single"|"package", "filter"?, "bucket",
 *              "displayName"?, "parameters"?,
 *              "validationWebhookService"?: [entry...],
 *              "mutationWebhookService"?: [entry...],
 *              "metadataWebhookService"?: [entry...]}
 *   entry:    {"url"} or {"name", "endpoint", "namespace"?="default"},
 *             each with "filter"? and "parameters"?
 *
 * generation starts at 1 and grows by one whenever source changes; status
 * (phase, reason, message, lastHeartbeatTime, observedGeneration,
 * assetRef) is written by the controller only; created_at is when the
 * asset got its source. A client's generation, status and created_at are
 * ignored on create and update (ad_source_prepare).
 */
#ifndef ASSETD_CORE_SOURCE_H
#define ASSETD_CORE_SOURCE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define AD_SOURCE_URL_MAX      2048  /* bytes of a source or webhook URL */
#define AD_SOURCE_PATTERN_MAX  1024  /* bytes of a filter pattern */
#define AD_SOURCE_WEBHOOKS_MAX 16    /* entries in each webhook list */
#define AD_SOURCE_TEXT_MAX     256   /* bytes of displayName, name, namespace, endpoint */
#define AD_SOURCE_PARAMS_MAX   65536 /* bytes of a parameters value, serialized */

#define AD_SERVICE_URL_TEMPLATE "http://{name}.{namespace}.svc.cluster.local{endpoint}"

/* The three webhook lists, in the order the controller calls them. */
extern const char *const ad_source_hook_lists[3];

/* Validates a source block. AD_OK, or AD_E_INVALID with a message naming
 * the field ("source.mode: must be single or package"). The bucket's
 * existence is not checked here (the controller does). */
ad_code ad_source_check(const json_t *source, ad_error *err);

/* The URL of a webhook entry: its "url", or the service template with
 * {name}, {namespace} (default "default") and {endpoint} replaced. */
ad_code ad_source_hook_url(const json_t *entry, const char *tmpl, char *dst, size_t cap,
                           ad_error *err);

/* A compiled filter pattern (PCRE2, UTF), matched with bounded work. */
typedef struct ad_regex ad_regex;
ad_code ad_regex_compile(const char *pattern, ad_regex **out, ad_error *err);
/* Whether s matches anywhere; a pattern that runs out of its match limit
 * does not match. A NULL re matches everything. */
bool ad_regex_match(const ad_regex *re, const char *s);
void ad_regex_free(ad_regex *re);

/* Prepares a document about to be stored by a client's create (prev NULL)
 * or update (prev: the stored document before the change): drops the
 * client's generation, status and created_at (keeping prev's); when doc
 * has a source, sets created_at if it has none, fills
 * asset_uri (also when it was the previous source.url) / asset_version /
 * asset_profile_id / asset_file_ids when absent,
 * keeps the controller's files (from prev), and sets generation (1 on
 * create, +1 when source differs from prev's) and, on a new generation,
 * status Pending. *new_gen is that generation when a run is due, else 0.
 * A source cannot be removed from an asset that has one (AD_E_INVALID). */
ad_code ad_source_prepare(const json_t *prev, json_t *doc, int64_t *new_gen, ad_error *err);

/* "2026-11-21T10:00:00Z" for t (seconds since the epoch) into dst[21]. */
void ad_iso_time(int64_t t, char dst[21]);

#endif
