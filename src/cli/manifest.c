/*
 * manifest.c — maps the asset store's manifests to assetd's REST bodies.
 *
 *   Asset          metadata.namespace (default "default") + "." + metadata.name
 *                  → asset_id; spec.source.* → source.*;
 *                  spec.bucketRef.name → source.bucket ("<namespace>.<name>");
 *                  spec.displayName → source.displayName
 *   ClusterAsset   the same with asset_id = metadata.name and
 *                  source.bucket = spec.bucketRef.name
 *   Bucket         "<namespace>.<name>" → name; spec.region, spec.policy
 *   ClusterBucket  metadata.name → name
 *
 * The checks here are the manifest's own: apiVersion, kind, names (DNS-1123
 * as Kubernetes requires), the fields each spec may hold (an unknown one is
 * refused with its path, so a typo never becomes a silently ignored
 * setting). The values themselves (a URL, a mode, a policy) are the
 * server's to check: it names the field in its answer. metadata's other
 * fields (labels, annotations, uid, ...) and a top-level `status` are
 * ignored, so what `kubectl get -o yaml` prints applies as is. A
 * cluster-scoped kind with a metadata.namespace is refused: the namespace
 * would change nothing and surely was meant for a namespaced kind.
 */
#include "cli/manifest.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define NAME_MAX_LEN      253 /* a DNS-1123 subdomain (metadata.name) */
#define NAMESPACE_MAX_LEN 63  /* a DNS-1123 label (metadata.namespace) */

static const char *const kind_names[] = {
    [MANIFEST_ASSET] = "Asset",
    [MANIFEST_CLUSTER_ASSET] = "ClusterAsset",
    [MANIFEST_BUCKET] = "Bucket",
    [MANIFEST_CLUSTER_BUCKET] = "ClusterBucket",
};

const char *manifest_kind_name(enum manifest_kind k)
{
    return kind_names[k];
}

const char *manifest_resource(const struct manifest *m)
{
    return m->is_bucket ? "bucket" : "asset";
}

void manifest_free(struct manifest *m)
{
    free(m->name);
    json_decref(m->body);
    *m = (struct manifest){0};
}

__attribute__((format(printf, 3, 4))) static int fail(char *msg, size_t len, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, len, fmt, ap);
    va_end(ap);
    return -1;
}

/* Refuses a key of obj (at path) that is not in allowed (NULL-ended). */
static int only_fields(const json_t *obj, const char *path, const char *const *allowed, char *msg,
                       size_t len)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)obj, key, v)
    {
        const char *const *a = allowed;
        while (*a && strcmp(*a, key)) a++;
        if (!*a) return fail(msg, len, "%s%s%.80s: unknown field", path, *path ? "." : "", key);
    }
    return 0;
}

/* A lowercase DNS-1123 name: [a-z0-9]([-a-z0-9]*[a-z0-9])?, with '.'
 * between such labels when dots is true. */
static bool dns_name(const char *s, size_t max, bool dots)
{
    size_t n = strlen(s);
    if (n == 0 || n > max) return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        bool edge = i == 0 || i == n - 1 || (dots && (s[i - 1] == '.' || s[i + 1] == '.'));
        if (alnum) continue;
        if (edge) return false;
        if (c != '-' && !(dots && c == '.')) return false;
    }
    return true;
}

/* Reads a required string member; msg names path.key when it is missing
 * or not a string. */
static const char *need_string(const json_t *obj, const char *path, const char *key, char *msg,
                               size_t len)
{
    const json_t *v = json_object_get(obj, key);
    if (!v) {
        fail(msg, len, "%s%s%s: required", path, *path ? "." : "", key);
        return NULL;
    }
    if (!json_is_string(v)) {
        fail(msg, len, "%s%s%s: must be a string", path, *path ? "." : "", key);
        return NULL;
    }
    return json_string_value(v);
}

static int parse_kind(const json_t *doc, enum manifest_kind *kind, char *msg, size_t len)
{
    const char *api = need_string(doc, "", "apiVersion", msg, len);
    if (!api) return -1;
    if (strcmp(api, MANIFEST_API_VERSION)) {
        size_t g = strlen(MANIFEST_GROUP);
        if (!strncmp(api, MANIFEST_GROUP "/", g + 1))
            return fail(msg, len, "apiVersion: \"%.80s\" is not supported: use %s", api,
                        MANIFEST_API_VERSION);
        return fail(msg, len, "apiVersion: \"%.80s\" is not the asset store's (%s)", api,
                    MANIFEST_API_VERSION);
    }
    const char *k = need_string(doc, "", "kind", msg, len);
    if (!k) return -1;
    for (size_t i = 0; i < sizeof kind_names / sizeof kind_names[0]; i++) {
        if (!strcmp(k, kind_names[i])) {
            *kind = (enum manifest_kind)i;
            return 0;
        }
    }
    return fail(msg, len,
                "kind: unknown kind \"%.80s\" (Asset, ClusterAsset, Bucket or ClusterBucket)", k);
}

/* Fills m->name from metadata: "<namespace>.<name>" or the name alone. */
static int parse_name(const json_t *doc, struct manifest *m, char *msg, size_t len)
{
    const json_t *meta = json_object_get(doc, "metadata");
    bool cluster = m->kind == MANIFEST_CLUSTER_ASSET || m->kind == MANIFEST_CLUSTER_BUCKET;
    if (!meta) return fail(msg, len, "metadata: required");
    if (!json_is_object(meta)) return fail(msg, len, "metadata: must be a mapping");
    const char *name = need_string(meta, "metadata", "name", msg, len);
    if (!name) return -1;
    if (!dns_name(name, NAME_MAX_LEN, true))
        return fail(msg, len,
                    "metadata.name: \"%.80s\" is not a valid name (lowercase letters, digits, "
                    "'-' and '.', starting and ending with a letter or digit, at most %d)",
                    name, NAME_MAX_LEN);
    const json_t *ns = json_object_get(meta, "namespace");
    if (cluster && ns)
        return fail(msg, len, "metadata.namespace: a %s is cluster-scoped and has no namespace",
                    kind_names[m->kind]);
    const char *nsname = "default";
    if (ns) {
        if (!json_is_string(ns)) return fail(msg, len, "metadata.namespace: must be a string");
        nsname = json_string_value(ns);
        if (!dns_name(nsname, NAMESPACE_MAX_LEN, false))
            return fail(msg, len,
                        "metadata.namespace: \"%.80s\" is not a valid namespace (lowercase "
                        "letters, digits and '-', at most %d)",
                        nsname, NAMESPACE_MAX_LEN);
    }
    size_t n = strlen(name) + strlen(nsname) + 2;
    if (!(m->name = malloc(n))) return fail(msg, len, "out of memory");
    if (cluster)
        snprintf(m->name, n, "%s", name);
    else
        snprintf(m->name, n, "%s.%s", nsname, name);
    if (m->is_bucket && strlen(m->name) > MANIFEST_BUCKET_MAX)
        return fail(msg, len, "metadata.name: the bucket name \"%.80s\" is longer than %d bytes",
                    m->name, MANIFEST_BUCKET_MAX);
    return 0;
}

/* Copies member key of from into to when present. */
static int copy_member(json_t *to, const json_t *from, const char *key)
{
    json_t *v = json_object_get(from, key);
    return v ? json_object_set(to, key, v) : 0;
}

static int check_webhooks(const json_t *source, const char *key, char *msg, size_t len)
{
    static const char *const fields[] = {"url",    "name",       "namespace", "endpoint",
                                         "filter", "parameters", NULL};
    const json_t *list = json_object_get(source, key);
    if (!list || json_is_null(list)) return 0;
    if (!json_is_array(list)) return fail(msg, len, "spec.source.%s: must be a list", key);
    for (size_t i = 0; i < json_array_size(list); i++) {
        const json_t *e = json_array_get(list, i);
        char path[96];
        snprintf(path, sizeof path, "spec.source.%s[%zu]", key, i);
        if (!json_is_object(e)) return fail(msg, len, "%s: must be a mapping", path);
        if (only_fields(e, path, fields, msg, len)) return -1;
    }
    return 0;
}

static int map_asset(const json_t *spec, struct manifest *m, char *msg, size_t len)
{
    static const char *const spec_fields[] = {"source", "bucketRef", "displayName", NULL};
    static const char *const source_fields[] = {"url",
                                                "mode",
                                                "filter",
                                                "parameters",
                                                "validationWebhookService",
                                                "mutationWebhookService",
                                                "metadataWebhookService",
                                                NULL};
    static const char *const hooks[] = {"validationWebhookService", "mutationWebhookService",
                                        "metadataWebhookService"};
    static const char *const ref_fields[] = {"name", NULL};
    if (only_fields(spec, "spec", spec_fields, msg, len)) return -1;
    const json_t *src = json_object_get(spec, "source");
    if (!src) return fail(msg, len, "spec.source: required");
    if (!json_is_object(src)) return fail(msg, len, "spec.source: must be a mapping");
    if (only_fields(src, "spec.source", source_fields, msg, len)) return -1;
    if (!need_string(src, "spec.source", "url", msg, len)) return -1;
    for (size_t i = 0; i < sizeof hooks / sizeof hooks[0]; i++)
        if (check_webhooks(src, hooks[i], msg, len)) return -1;

    m->body = json_pack("{s:s, s:{}}", "asset_id", m->name, "source");
    json_t *source = json_object_get(m->body, "source");
    if (!source) return fail(msg, len, "out of memory");
    for (size_t i = 0; source_fields[i]; i++)
        if (copy_member(source, src, source_fields[i])) return fail(msg, len, "out of memory");

    const json_t *ref = json_object_get(spec, "bucketRef");
    if (ref && !json_is_null(ref)) {
        if (!json_is_object(ref)) return fail(msg, len, "spec.bucketRef: must be a mapping");
        if (only_fields(ref, "spec.bucketRef", ref_fields, msg, len)) return -1;
        const char *b = need_string(ref, "spec.bucketRef", "name", msg, len);
        if (!b) return -1;
        if (!dns_name(b, NAME_MAX_LEN, true))
            return fail(msg, len, "spec.bucketRef.name: \"%.80s\" is not a valid name", b);
        char bucket[NAME_MAX_LEN + NAMESPACE_MAX_LEN + 2];
        if (m->kind == MANIFEST_CLUSTER_ASSET) {
            snprintf(bucket, sizeof bucket, "%s", b);
        } else {
            /* the asset's own namespace: what precedes the name in its id */
            size_t ns = strcspn(m->name, ".");
            snprintf(bucket, sizeof bucket, "%.*s.%s", (int)ns, m->name, b);
        }
        if (json_object_set_new(source, "bucket", json_string(bucket)))
            return fail(msg, len, "out of memory");
    }
    const json_t *dn = json_object_get(spec, "displayName");
    if (dn && !json_is_null(dn)) {
        if (!json_is_string(dn)) return fail(msg, len, "spec.displayName: must be a string");
        if (json_object_set(source, "displayName", (json_t *)dn))
            return fail(msg, len, "out of memory");
    }
    return 0;
}

static int map_bucket(const json_t *spec, struct manifest *m, char *msg, size_t len)
{
    static const char *const spec_fields[] = {"region", "policy", NULL};
    if (spec && only_fields(spec, "spec", spec_fields, msg, len)) return -1;
    if (!(m->body = json_object()) || json_object_set_new(m->body, "name", json_string(m->name)) ||
        (spec && (copy_member(m->body, spec, "region") || copy_member(m->body, spec, "policy"))))
        return fail(msg, len, "out of memory");
    return 0;
}

int manifest_map(const json_t *doc, struct manifest *m, char *msg, size_t len)
{
    static const char *const top_fields[] = {"apiVersion", "kind",   "metadata",
                                             "spec",       "status", NULL};
    *m = (struct manifest){0};
    msg[0] = '\0';
    if (!json_is_object(doc))
        return fail(msg, len, "a manifest must be a mapping (apiVersion, kind, metadata, spec)");
    if (parse_kind(doc, &m->kind, msg, len)) return -1;
    m->is_bucket = m->kind == MANIFEST_BUCKET || m->kind == MANIFEST_CLUSTER_BUCKET;
    int rc = only_fields(doc, "", top_fields, msg, len);
    if (!rc) rc = parse_name(doc, m, msg, len);
    const json_t *spec = json_object_get(doc, "spec");
    if (!rc && spec && json_is_null(spec)) spec = NULL;
    if (!rc && spec && !json_is_object(spec)) rc = fail(msg, len, "spec: must be a mapping");
    if (!rc && !spec && !m->is_bucket) rc = fail(msg, len, "spec: required");
    if (!rc) rc = m->is_bucket ? map_bucket(spec, m, msg, len) : map_asset(spec, m, msg, len);
    if (rc) manifest_free(m);
    return rc;
}
