/*
 * meta.c — the registry of meta store adapters: one line per adapter.
 */
#include "store/meta.h"

#include <stdlib.h>
#include <string.h>

extern const ad_meta_ops ad_meta_sqlite_ops;

static const ad_meta_ops *const adapters[] = {
    &ad_meta_sqlite_ops,
};

void ad_doc_free(ad_doc *d)
{
    if (!d) return;
    free(d->json);
    d->json = NULL;
    d->len = 0;
}

const char *ad_meta_schemes(void)
{
    return "sqlite";
}

ad_code ad_meta_open(const char *url, ad_meta **out, ad_error *err)
{
    const char *colon = strchr(url, ':');
    size_t n = colon ? (size_t)(colon - url) : 0, i;
    for (i = 0; colon && i < sizeof(adapters) / sizeof(adapters[0]); i++) {
        if (strlen(adapters[i]->scheme) == n && memcmp(adapters[i]->scheme, url, n) == 0)
            return adapters[i]->open(url, out, err);
    }
    return ad_fail(err, AD_E_BAD_REQUEST, "meta store URL \"%s\": unknown scheme (known: %s)", url,
                   ad_meta_schemes());
}
