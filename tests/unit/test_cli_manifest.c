/*
 * test_cli_manifest.c — unit tests of assetctl's manifest mapping
 * (src/cli/manifest.c): each kind's REST body and name, the namespace
 * default, bucketRef resolution, and the refusals (apiVersion, kind, names,
 * unknown fields named by their path), read from YAML as `apply` reads it.
 */
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "cli/manifest.h"
#include "cli/yaml.h"

#define HEAD "apiVersion: rafter.kyma-project.io/v1beta1\n"

/* Maps the single YAML document text; returns 0/-1 and fills m, msg. */
static int map_yaml(const char *text, struct manifest *m, char *msg, size_t len)
{
    json_t *docs = NULL;
    struct yml_error err;
    if (yml_load(text, strlen(text), NULL, &docs, &err)) {
        snprintf(msg, len, "YAML %d:%d %s", err.line, err.column, err.text);
        return -2;
    }
    int rc = manifest_map(json_array_get(docs, 0), m, msg, len);
    json_decref(docs);
    return rc;
}

/* text maps to a manifest named name whose body is the JSON want. */
static bool maps_to(const char *text, const char *name, bool bucket, const char *want)
{
    struct manifest m;
    char msg[300];
    json_t *w = json_loads(want, 0, NULL);
    int rc = map_yaml(text, &m, msg, sizeof msg);
    bool ok =
        rc == 0 && w && !strcmp(m.name, name) && m.is_bucket == bucket && json_equal(m.body, w);
    if (!ok) {
        char *got = rc == 0 ? json_dumps(m.body, JSON_COMPACT) : NULL;
        fprintf(stderr, "  got %s %s (%s)\n  want %s %s\n", rc == 0 ? m.name : "error",
                got ? got : "", msg, name, want);
        free(got);
    }
    if (rc == 0) manifest_free(&m);
    json_decref(w);
    return ok;
}

static bool refused(const char *text, const char *what)
{
    struct manifest m;
    char msg[300];
    int rc = map_yaml(text, &m, msg, sizeof msg);
    bool ok = rc == -1 && strstr(msg, what);
    if (!ok) fprintf(stderr, "  rc %d, message \"%s\", want \"%s\"\n", rc, msg, what);
    if (rc == 0) manifest_free(&m);
    return ok;
}

static void test_assets(void)
{
    CHECK(maps_to(HEAD "kind: Asset\nmetadata:\n  name: swagger\n  namespace: team-a\n"
                       "  labels: {x: y}\nspec:\n  source:\n    url: http://h/a.tgz\n"
                       "    mode: package\n    filter: \\.md$\n    parameters: {k: [1]}\n"
                       "    validationWebhookService:\n    - name: v\n      namespace: ns\n"
                       "      endpoint: /validate\n      filter: x\n      parameters: {}\n"
                       "    mutationWebhookService:\n    - url: http://h/m\n"
                       "    metadataWebhookService: []\n"
                       "  bucketRef:\n    name: docs\n  displayName: Swagger docs\n"
                       "status:\n  phase: Ready\n",
                  "team-a.swagger", false,
                  "{\"asset_id\": \"team-a.swagger\", \"source\": {\"url\": \"http://h/a.tgz\","
                  " \"mode\": \"package\", \"filter\": \"\\\\.md$\", \"parameters\": {\"k\": [1]},"
                  " \"validationWebhookService\": [{\"name\": \"v\", \"namespace\": \"ns\","
                  " \"endpoint\": \"/validate\", \"filter\": \"x\", \"parameters\": {}}],"
                  " \"mutationWebhookService\": [{\"url\": \"http://h/m\"}],"
                  " \"metadataWebhookService\": [], \"bucket\": \"team-a.docs\","
                  " \"displayName\": \"Swagger docs\"}}"),
          "a full Asset");
    CHECK(maps_to(HEAD "kind: Asset\nmetadata: {name: a1}\nspec:\n  source: {url: 'http://h/x'}\n",
                  "default.a1", false,
                  "{\"asset_id\": \"default.a1\", \"source\": {\"url\": \"http://h/x\"}}"),
          "namespace defaults to 'default'");
    CHECK(maps_to(HEAD
                  "kind: ClusterAsset\nmetadata: {name: c1.v2}\n"
                  "spec: {source: {url: 'http://h/x', mode: single}, bucketRef: {name: pub}}\n",
                  "c1.v2", false,
                  "{\"asset_id\": \"c1.v2\", \"source\": {\"url\": \"http://h/x\", \"mode\":"
                  " \"single\", \"bucket\": \"pub\"}}"),
          "a ClusterAsset keeps its name and refers to a ClusterBucket");
}

static void test_buckets(void)
{
    CHECK(maps_to(HEAD "kind: Bucket\nmetadata: {name: docs, namespace: team-a}\n"
                       "spec: {region: us-east-1, policy: readonly}\n",
                  "team-a.docs", true,
                  "{\"name\": \"team-a.docs\", \"region\": \"us-east-1\", \"policy\": "
                  "\"readonly\"}"),
          "a Bucket");
    CHECK(maps_to(HEAD "kind: ClusterBucket\nmetadata: {name: pub}\n", "pub", true,
                  "{\"name\": \"pub\"}"),
          "a ClusterBucket without a spec");
    CHECK(maps_to("{\"apiVersion\": \"rafter.kyma-project.io/v1beta1\", \"kind\": \"Bucket\","
                  " \"metadata\": {\"name\": \"b\"}, \"spec\": {\"policy\": \"none\"}}",
                  "default.b", true, "{\"name\": \"default.b\", \"policy\": \"none\"}"),
          "JSON input");
}

static void test_refusals(void)
{
    CHECK(refused("apiVersion: v1\nkind: Asset\n", "apiVersion: \"v1\" is not the asset store's"),
          "foreign apiVersion");
    CHECK(refused("apiVersion: rafter.kyma-project.io/v1alpha1\nkind: Asset\n",
                  "is not supported: use rafter.kyma-project.io/v1beta1"),
          "other version of the group");
    CHECK(refused("kind: Asset\n", "apiVersion: required"), "no apiVersion");
    CHECK(refused(HEAD "kind: AssetGroup\n", "kind: unknown kind \"AssetGroup\""), "unknown kind");
    CHECK(refused(HEAD "kind: Asset\n", "metadata: required"), "no metadata");
    CHECK(refused(HEAD "kind: Asset\nmetadata: {}\n", "metadata.name: required"), "no name");
    CHECK(refused(HEAD "kind: Asset\nmetadata: {name: Bad_Name}\n", "metadata.name: \"Bad_Name\""),
          "bad name");
    CHECK(refused(HEAD "kind: Asset\nmetadata: {name: a, namespace: a.b}\n",
                  "metadata.namespace: \"a.b\" is not a valid namespace"),
          "bad namespace");
    CHECK(
        refused(HEAD "kind: ClusterBucket\nmetadata: {name: a, namespace: x}\n", "cluster-scoped"),
        "namespace on a cluster kind");
    CHECK(refused(HEAD "kind: Asset\nmetadata: {name: a}\n", "spec: required"), "no spec");
    CHECK(refused(HEAD "kind: Asset\nmetadata: {name: a}\nspec: {}\n", "spec.source: required"),
          "no source");
    CHECK(refused(HEAD "kind: Asset\nmetadata: {name: a}\nspec: {source: {mode: single}}\n",
                  "spec.source.url: required"),
          "no url");
    CHECK(refused(HEAD "kind: Asset\nmetadata: {name: a}\nspec: {source: {url: u, urll: v}}\n",
                  "spec.source.urll: unknown field"),
          "unknown source field");
    CHECK(refused(HEAD "kind: Asset\nmetadata: {name: a}\nspec: {source: {url: u}, foo: 1}\n",
                  "spec.foo: unknown field"),
          "unknown spec field");
    CHECK(refused(HEAD "kind: Asset\nmetadata: {name: a}\nspec: {source: {url: u,"
                       " mutationWebhookService: [{url: x}, {endpont: /m}]}}\n",
                  "spec.source.mutationWebhookService[1].endpont: unknown field"),
          "unknown webhook field");
    CHECK(refused(HEAD "kind: Asset\nmetadata: {name: a}\nspec: {source: {url: u},"
                       " bucketRef: {name: b, namespace: x}}\n",
                  "spec.bucketRef.namespace: unknown field"),
          "unknown bucketRef field");
    CHECK(refused(HEAD "kind: Bucket\nmetadata: {name: a}\nspec: {policy: none, acl: x}\n",
                  "spec.acl: unknown field"),
          "unknown bucket field");
    CHECK(refused(HEAD "kind: Bucket\nmetadata: {name: a}\nspes: {}\n", "spes: unknown field"),
          "unknown top-level field");
    CHECK(refused(HEAD "kind: Bucket\nmetadata: {name: a}\nspec: [1]\n", "spec: must be a mapping"),
          "spec not a mapping");
    CHECK(refused(HEAD "kind: Bucket\nmetadata:\n  name: a123456789a123456789a123456789a123456789"
                       "a123456789\n",
                  "longer than 54 bytes"),
          "bucket name too long with its namespace");
    CHECK(refused("- a\n", "must be a mapping"), "not a mapping");
}

int main(void)
{
    test_assets();
    test_buckets();
    test_refusals();
    return check_summary("cli_manifest");
}
