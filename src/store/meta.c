/*
 * meta.c — the registry of meta store adapters: one line per adapter.
 */
#include "store/meta.h"

#include "util/str.h"

#include <stdlib.h>
#include <string.h>

extern const ad_meta_ops ad_meta_sqlite_ops;
extern const ad_meta_ops ad_meta_pg_ops;
extern const ad_meta_ops ad_meta_postgres_ops;
extern const ad_meta_ops ad_meta_mongo_ops;
extern const ad_meta_ops ad_meta_mongo_srv_ops;

static const ad_meta_ops *const adapters[] = {
    &ad_meta_sqlite_ops, &ad_meta_pg_ops,        &ad_meta_postgres_ops,
    &ad_meta_mongo_ops,  &ad_meta_mongo_srv_ops,
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
    return "sqlite, postgresql, postgres, mongodb, mongodb+srv";
}

ad_code ad_meta_open(const char *url, ad_meta **out, ad_error *err)
{
    const char *colon = strchr(url, ':');
    size_t n = colon ? (size_t)(colon - url) : 0, i;
    for (i = 0; colon && i < sizeof(adapters) / sizeof(adapters[0]); i++) {
        if (strlen(adapters[i]->scheme) == n && memcmp(adapters[i]->scheme, url, n) == 0)
            return adapters[i]->open(url, out, err);
    }
    char safe[512];
    ad_url_redact(url, safe, sizeof(safe)); /* a URL may carry a password */
    return ad_fail(err, AD_E_BAD_REQUEST, "meta store URL \"%s\": unknown scheme (known: %s)", safe,
                   ad_meta_schemes());
}

ad_code ad_rec_check(const char *ns, const char *key, size_t json_len, ad_error *err)
{
    size_t n = ns ? strlen(ns) : 0, i;
    if (n == 0 || n > AD_REC_NS_MAX)
        return ad_fail(err, AD_E_BAD_REQUEST, "record namespace must be 1..%d bytes",
                       AD_REC_NS_MAX);
    for (i = 0; i < n; i++)
        if (!((ns[i] >= 'a' && ns[i] <= 'z') || ns[i] == '_'))
            return ad_fail(err, AD_E_BAD_REQUEST, "record namespace \"%s\": only a-z and _", ns);
    n = key ? strlen(key) : 0;
    if (n == 0 || n > AD_REC_KEY_MAX)
        return ad_fail(err, AD_E_BAD_REQUEST, "record key must be 1..%d bytes", AD_REC_KEY_MAX);
    if (!ad_utf8_valid(key, n))
        return ad_fail(err, AD_E_BAD_REQUEST, "record key is not valid UTF-8");
    if (json_len > AD_REC_JSON_MAX)
        return ad_fail(err, AD_E_TOO_LARGE, "record is %zu bytes, over the limit of %d", json_len,
                       AD_REC_JSON_MAX);
    return AD_OK;
}
