/*
 * manifest.h — the asset store's manifests (apiVersion
 * rafter.kyma-project.io/v1beta1, kinds Asset, ClusterAsset, Bucket,
 * ClusterBucket) mapped to the bodies of assetd's REST API: an Asset
 * becomes an asset document with a `source` (POST /assets), a Bucket a
 * bucket spec (POST /buckets). No I/O; docs/ASSETCTL.md has the mapping.
 */
#ifndef ASSETCTL_MANIFEST_H
#define ASSETCTL_MANIFEST_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#define MANIFEST_GROUP       "rafter.kyma-project.io"
#define MANIFEST_API_VERSION MANIFEST_GROUP "/v1beta1"
#define MANIFEST_BUCKET_MAX  54 /* bytes of a bucket name (the server's limit) */

enum manifest_kind {
    MANIFEST_ASSET,
    MANIFEST_CLUSTER_ASSET,
    MANIFEST_BUCKET,
    MANIFEST_CLUSTER_BUCKET,
};

struct manifest {
    enum manifest_kind kind;
    bool is_bucket; /* Bucket or ClusterBucket */
    char *name;     /* the asset_id or the bucket's name */
    json_t *body;   /* {"asset_id", "source"} or {"name", "region"?, "policy"?} */
};

/* Maps one document. 0 with *m filled (manifest_free releases it), or -1
 * with a message in msg naming the path of the problem
 * ("spec.source.urll: unknown field"). */
int manifest_map(const json_t *doc, struct manifest *m, char *msg, size_t msglen);
void manifest_free(struct manifest *m);

/* "asset" or "bucket": the REST resource, as printed (asset/<id>). */
const char *manifest_resource(const struct manifest *m);
/* "Asset", "ClusterAsset", "Bucket", "ClusterBucket". */
const char *manifest_kind_name(enum manifest_kind k);

#endif
