/*
 * jobs.c — the registry of job store adapters: one line per adapter, and
 * the helpers every adapter shares.
 */
#include "store/jobs.h"

#include <stdlib.h>
#include <string.h>

extern const ad_jobs_ops ad_jobs_local_ops;
extern const ad_jobs_ops ad_jobs_memory_ops;

static const ad_jobs_ops *const adapters[] = {
    &ad_jobs_local_ops,
    &ad_jobs_memory_ops,
};

void ad_job_clear(ad_job *j)
{
    if (!j) return;
    free(j->asset_id);
    free(j->source);
    j->asset_id = NULL;
    j->source = NULL;
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
    return "local, memory";
}

ad_code ad_jobs_open(const char *url, ad_jobs **out, ad_error *err)
{
    const char *colon = strchr(url, ':');
    size_t n = colon ? (size_t)(colon - url) : 0, i;
    for (i = 0; colon && i < sizeof(adapters) / sizeof(adapters[0]); i++) {
        if (strlen(adapters[i]->scheme) == n && memcmp(adapters[i]->scheme, url, n) == 0)
            return adapters[i]->open(url, out, err);
    }
    return ad_fail(err, AD_E_BAD_REQUEST, "job store URL \"%s\": unknown scheme (known: %s)", url,
                   ad_jobs_schemes());
}
