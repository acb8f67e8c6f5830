/*
 * jobs.c — the registry of job store adapters: one line per adapter, and
 * the helpers every adapter shares.
 */
#include "store/jobs.h"

#include <stdlib.h>
#include <string.h>

#include "util/str.h"

extern const ad_jobs_ops ad_jobs_local_ops;
extern const ad_jobs_ops ad_jobs_memory_ops;
extern const ad_jobs_ops ad_jobs_redis_ops;

static const ad_jobs_ops *const adapters[] = {
    &ad_jobs_local_ops,
    &ad_jobs_memory_ops,
    &ad_jobs_redis_ops,
};

void ad_job_clear(ad_job *j)
{
    if (!j) return;
    free(j->asset_id);
    free(j->source);
    free(j->bucket);
    j->asset_id = NULL;
    j->source = NULL;
    j->bucket = NULL;
}

const char *ad_job_state_name(ad_job_state s)
{
    switch (s) {
    case AD_JOB_QUEUED:
        return "queued";
    case AD_JOB_PROCESSING:
        return "processing";
    case AD_JOB_SUCCESS:
        return "success";
    case AD_JOB_FAILED:
        return "failed";
    }
    return "unknown";
}

const char *ad_jobs_schemes(void)
{
    return "local, memory, redis";
}

ad_code ad_jobs_open(const char *url, ad_jobs **out, ad_error *err)
{
    const char *colon = strchr(url, ':');
    size_t n = colon ? (size_t)(colon - url) : 0, i;
    for (i = 0; colon && i < sizeof(adapters) / sizeof(adapters[0]); i++) {
        if (strlen(adapters[i]->scheme) == n && memcmp(adapters[i]->scheme, url, n) == 0)
            return adapters[i]->open(url, out, err);
    }
    char safe[512];
    ad_url_redact(url, safe, sizeof(safe)); /* a URL may carry a password */
    return ad_fail(err, AD_E_BAD_REQUEST, "job store URL \"%s\": unknown scheme (known: %s)", safe,
                   ad_jobs_schemes());
}

/* Decodes in[0..n) into out (AD_JOBS_PARAM_MAX bytes); -1 when malformed or
 * too long. */
static int decode_part(const char *in, size_t n, char *out)
{
    if (n >= AD_JOBS_PARAM_MAX) return -1;
    return ad_pct_decode(in, n, out, true) < 0 ? -1 : 0;
}

ad_code ad_jobs_url_params(const char *url, ad_jobs_param_fn fn, void *ctx, ad_error *err)
{
    const char *q = strchr(url, '?'), *colon = strchr(url, ':');
    int scheme = colon ? (int)(colon - url) : 0;
    char name[AD_JOBS_PARAM_MAX], value[AD_JOBS_PARAM_MAX];
    if (!q) return AD_OK;
    for (q++; *q;) {
        size_t n = strcspn(q, "&"), k = strcspn(q, "=");
        ad_code rc;
        if (n == 0 || k == 0 || k >= n || decode_part(q, k, name) ||
            decode_part(q + k + 1, n - k - 1, value))
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "job store URL (%.*s:): malformed or over-long parameter \"%.*s\"",
                           scheme, url, (int)(k < n && k < 64 ? k : (n < 64 ? n : 64)), q);
        rc = fn(ctx, name, value, err);
        if (rc) return rc;
        q += n;
        if (*q == '&') q++;
    }
    return AD_OK;
}

ad_code ad_jobs_parse_timeout(const char *value, int64_t *seconds, ad_error *err)
{
    uint64_t v = 0;
    if (!ad_parse_u64(value, 86400, &v) || v < 1)
        return ad_fail(err, AD_E_BAD_REQUEST,
                       "job store URL: visibility_timeout must be whole seconds from 1 to 86400, "
                       "not \"%.40s\"",
                       value);
    *seconds = (int64_t)v;
    return AD_OK;
}
