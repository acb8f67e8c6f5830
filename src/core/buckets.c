/*
 * buckets.c — buckets as resources (see buckets.h): the records in the meta
 * store (namespace "buckets"), the remote buckets in the blob store, and the
 * heartbeat thread that keeps each record's status true.
 *
 * Decisions:
 * - The record is the resource document itself (what GET answers), so two
 *   instances sharing one meta store see the same thing. Every write is a
 *   rec_put under the revision read (compare-and-set); a write that loses
 *   the race reads again and retries, so neither instance clobbers the
 *   other's change. The heartbeat skips a bucket whose record changed under
 *   it: the next round checks it again.
 * - The remote name is chosen once, at create, and kept in
 *   status.remoteName even when the creation failed, so the heartbeat's
 *   retry creates the same bucket.
 * - Opened bucket stores are cached by REMOTE name and only closed by
 *   ad_buckets_free: a handler or worker may hold the pointer while the
 *   bucket is deleted, and a re-created bucket has a new remote name.
 * - Where the blob store keeps policies itself (the bucket_policy_* slots),
 *   the remote policy is set on create and update and compared on every
 *   heartbeat; elsewhere the policy lives only in the record and the files
 *   route enforces it.
 * - A Failed bucket becomes Ready again only by the heartbeat's checks:
 *   BucketCreationFailure is retried, and BucketVerificationFailure /
 *   BucketNotFound clear when the remote bucket answers again.
 */
#include "core/buckets.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "core/filter.h"
#include "core/uuid.h"
#include "util/json.h"
#include "util/log.h"

#define REGION_MAX 40  /* bytes of a region name */
#define PUT_TRIES  8   /* compare-and-set attempts of one change */
#define DEL_BATCH  100 /* assets deleted per query round of a forced delete */
#define SUFFIX_LEN 8
#define REMOTE_MAX (AD_BLOB_BUCKET_MAX + 1)
#define WHY_MAX    400

_Static_assert((int)AD_POLICY_NONE == (int)AD_BLOB_POLICY_NONE &&
                   (int)AD_POLICY_READONLY == (int)AD_BLOB_POLICY_READONLY &&
                   (int)AD_POLICY_WRITEONLY == (int)AD_BLOB_POLICY_WRITEONLY &&
                   (int)AD_POLICY_READWRITE == (int)AD_BLOB_POLICY_READWRITE,
               "bucket policies and blob policies share their values");

typedef struct cache_ent {
    char remote[REMOTE_MAX];
    ad_blob *store;
    struct cache_ent *next;
} cache_ent;

struct ad_buckets {
    ad_meta *meta;
    ad_blob *blobs;
    char *public_url;
    char *def; /* NULL: no default bucket */
    int64_t interval;
    pthread_mutex_t lock; /* guards cache */
    cache_ent *cache;
    pthread_mutex_t tlock; /* guards stop */
    pthread_cond_t tcond;
    bool stop, started;
    pthread_t thread;
};

static const char *const policy_names[] = {"none", "readonly", "writeonly", "readwrite"};

const char *ad_bucket_policy_name(ad_bucket_policy p)
{
    return (unsigned)p < 4 ? policy_names[p] : "?";
}

ad_code ad_bucket_policy_parse(const char *s, ad_bucket_policy *out, ad_error *err)
{
    int i;
    for (i = 0; s && i < 4; i++) {
        if (strcmp(s, policy_names[i]) == 0) {
            *out = (ad_bucket_policy)i;
            return AD_OK;
        }
    }
    return ad_fail(err, AD_E_INVALID,
                   "policy: must be none, readonly, writeonly or readwrite, not \"%.40s\"",
                   s ? s : "");
}

ad_code ad_bucket_name_check(const char *name, ad_error *err)
{
    ad_code rc;
    if (!name || !*name) return ad_fail(err, AD_E_INVALID, "name: required");
    if (strlen(name) > AD_BUCKET_NAME_MAX)
        return ad_fail(err, AD_E_INVALID, "name: at most %d bytes (the remote name adds 9)",
                       AD_BUCKET_NAME_MAX);
    rc = ad_blob_bucket_check(name, err);
    if (rc) {
        ad_error_prefix(err, "name: ");
        if (err) err->code = AD_E_INVALID;
        return AD_E_INVALID;
    }
    return AD_OK;
}

void ad_bucket_remote_name(const char *name, char *dst, size_t cap)
{
    static const char alphabet[] = "abcdefghijklmnopqrstuvwxyz0123456789";
    char suffix[SUFFIX_LEN + 1];
    size_t i = 0;
    while (i < SUFFIX_LEN) {
        unsigned char raw[16];
        size_t j;
        ad_random_bytes(raw, sizeof(raw));
        /* 252 = 7 * 36: rejecting the rest keeps every character equally likely */
        for (j = 0; j < sizeof(raw) && i < SUFFIX_LEN; j++)
            if (raw[j] < 252) suffix[i++] = alphabet[raw[j] % 36];
    }
    suffix[SUFFIX_LEN] = '\0';
    snprintf(dst, cap, "%s-%s", name, suffix);
}

static void now_iso(char *out, size_t cap)
{
    time_t t = time(NULL);
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

static const char *str_at(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

static const char *status_str(const json_t *doc, const char *k)
{
    return str_at(json_object_get(doc, "status"), k);
}

/* --- records --------------------------------------------------------- */

static ad_code not_found(ad_error *err, const char *name)
{
    return ad_fail(err, AD_E_NOT_FOUND, "bucket %.80s not found", name ? name : "");
}

static ad_code rec_load(ad_buckets *b, const char *name, json_t **doc, int64_t *rev, ad_error *err)
{
    ad_doc d = {0};
    ad_code rc;
    *doc = NULL;
    if (ad_bucket_name_check(name, NULL)) return not_found(err, name);
    rc = b->meta->ops->rec_get(b->meta, AD_BUCKETS_NS, name, &d, err);
    if (rc == AD_E_NOT_FOUND) return not_found(err, name);
    if (rc) return rc;
    rc = ad_json_parse(d.json, d.len, AD_JSON_MAX_DEPTH, doc, err);
    if (!rc && !json_is_object(*doc)) {
        json_decref(*doc);
        *doc = NULL;
        rc = AD_E_BAD_JSON;
    }
    if (rc) rc = ad_fail(err, AD_E_BACKEND, "the record of bucket %s is not a JSON object", name);
    if (rev) *rev = d.rev;
    ad_doc_free(&d);
    return rc;
}

static ad_code rec_store(ad_buckets *b, const char *name, const json_t *doc, int64_t expect_rev,
                         ad_error *err)
{
    size_t len = 0;
    int64_t rev = 0;
    char *text = ad_json_dump(doc, &len);
    ad_code rc;
    if (!text) return ad_fail(err, AD_E_NOMEM, "out of memory");
    rc = b->meta->ops->rec_put(b->meta, AD_BUCKETS_NS, name, text, len, expect_rev, &rev, err);
    free(text);
    return rc;
}

/* Sets the status fields (keeping remoteName and url) and logs a change of
 * phase or reason. observe: the status now reflects the current generation. */
static void set_status(json_t *doc, const char *phase, const char *reason, const char *message,
                       bool observe)
{
    json_t *st = json_object_get(doc, "status");
    char now[32];
    if (!json_is_object(st)) {
        st = json_object();
        if (!st || json_object_set_new(doc, "status", st)) return;
    }
    if (strcmp(str_at(st, "phase"), phase) != 0 || strcmp(str_at(st, "reason"), reason) != 0)
        ad_log(strcmp(phase, "Ready") == 0 ? AD_LOG_INFO : AD_LOG_WARN,
               "msg=\"bucket status\" bucket=%s phase=%s reason=%s message=\"%.300s\"",
               str_at(doc, "name"), phase, reason, message);
    now_iso(now, sizeof(now));
    json_object_set_new(st, "phase", json_string(phase));
    json_object_set_new(st, "reason", json_string(reason));
    json_object_set_new(st, "message", json_string(message));
    json_object_set_new(st, "lastHeartbeatTime", json_string(now));
    if (observe)
        json_object_set_new(st, "observedGeneration",
                            json_integer(json_integer_value(json_object_get(doc, "generation"))));
}

/* --- the remote side ------------------------------------------------- */

static bool keeps_policies(const ad_buckets *b)
{
    return b->blobs->ops->bucket_policy_set && b->blobs->ops->bucket_policy_get;
}

static ad_bucket_policy doc_policy(const json_t *doc)
{
    ad_bucket_policy p = AD_POLICY_NONE;
    ad_bucket_policy_parse(str_at(doc, "policy"), &p, NULL);
    return p;
}

/* Sets the remote policy and the status it leads to. */
static void apply_policy(ad_buckets *b, json_t *doc, const char *ok_reason, const char *ok_msg)
{
    ad_error e = {0};
    if (keeps_policies(b) &&
        b->blobs->ops->bucket_policy_set(b->blobs, status_str(doc, "remoteName"),
                                         (ad_blob_policy)doc_policy(doc), &e)) {
        char msg[AD_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "Policy cannot be set: %s", e.msg);
        set_status(doc, "Failed", "BucketPolicyUpdateFailed", msg, false);
        return;
    }
    set_status(doc, "Ready", ok_reason, ok_msg, true);
}

/* Creates the remote bucket named in status.remoteName (a new name on a
 * collision) and sets the status; true when it exists now. */
static bool remote_create(ad_buckets *b, json_t *doc)
{
    const char *region = str_at(doc, "region");
    json_t *st = json_object_get(doc, "status");
    ad_error e = {0};
    ad_code rc = AD_E_EXISTS;
    int tries;
    for (tries = 0; tries < 3 && rc == AD_E_EXISTS; tries++) {
        if (tries > 0) {
            char remote[REMOTE_MAX];
            ad_bucket_remote_name(str_at(doc, "name"), remote, sizeof(remote));
            json_object_set_new(st, "remoteName", json_string(remote));
        }
        ad_error_clear(&e);
        rc = b->blobs->ops->bucket_create(b->blobs, status_str(doc, "remoteName"),
                                          *region ? region : NULL, &e);
    }
    if (rc) {
        char msg[AD_ERROR_MSG_MAX + 64];
        snprintf(msg, sizeof(msg), "Bucket cannot be created: %s", e.msg);
        set_status(doc, "Failed", "BucketCreationFailure", msg, false);
        return false;
    }
    if (doc_policy(doc) != AD_POLICY_NONE)
        apply_policy(b, doc, "BucketCreated", "Bucket has been created");
    else
        set_status(doc, "Ready", "BucketCreated", "Bucket has been created", true);
    return true;
}

/* --- the spec -------------------------------------------------------- */

/* Fields a client may send back unchanged from a GET: ignored. */
static bool server_owned(const char *k)
{
    return strcmp(k, "generation") == 0 || strcmp(k, "status") == 0 ||
           strcmp(k, "created_at") == 0 || strcmp(k, "updated_at") == 0;
}

static ad_code region_check(const json_t *v, ad_error *err)
{
    const char *s = json_string_value(v);
    size_t n;
    if (!json_is_string(v)) return ad_fail(err, AD_E_INVALID, "region: must be a string");
    n = strlen(s);
    if (n > REGION_MAX || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
        return ad_fail(err, AD_E_INVALID,
                       "region: at most %d lowercase letters, digits and '-', not \"%.60s\"",
                       REGION_MAX, s);
    return AD_OK;
}

/* Checks a create (with_name) or update spec; unknown fields are refused
 * so a typo never passes silently. */
static ad_code spec_check(const json_t *spec, bool with_name, ad_bucket_policy *policy,
                          ad_error *err)
{
    const char *k;
    json_t *v;
    ad_code rc;
    if (!json_is_object(spec))
        return ad_fail(err, AD_E_INVALID, "the bucket must be a JSON object");
    json_object_foreach((json_t *)spec, k, v)
    {
        if (strcmp(k, "name") == 0) {
            if (!json_is_string(v)) return ad_fail(err, AD_E_INVALID, "name: must be a string");
            if (with_name && (rc = ad_bucket_name_check(json_string_value(v), err))) return rc;
        } else if (strcmp(k, "region") == 0) {
            if ((rc = region_check(v, err))) return rc;
        } else if (strcmp(k, "policy") == 0) {
            if (!json_is_string(v)) return ad_fail(err, AD_E_INVALID, "policy: must be a string");
            if ((rc = ad_bucket_policy_parse(json_string_value(v), policy, err))) return rc;
        } else if (!server_owned(k)) {
            return ad_fail(err, AD_E_INVALID,
                           "%.60s: unknown field (a bucket has name, region and policy)", k);
        }
    }
    if (with_name && !json_object_get(spec, "name"))
        return ad_fail(err, AD_E_INVALID, "name: required");
    return AD_OK;
}

/* --- the service ----------------------------------------------------- */

static void files_url(const ad_buckets *b, const char *name, char *dst, size_t cap)
{
    snprintf(dst, cap, "%s/buckets/%s/files", b->public_url, name);
}

ad_code ad_buckets_create(ad_buckets *b, const json_t *spec, json_t **out, ad_error *err)
{
    ad_bucket_policy policy = AD_POLICY_NONE;
    char now[32], remote[REMOTE_MAX], url[2048];
    const char *name;
    json_t *doc, *old = NULL;
    bool created;
    ad_code rc = spec_check(spec, true, &policy, err);
    *out = NULL;
    if (rc) return rc;
    name = json_string_value(json_object_get(spec, "name"));
    rc = rec_load(b, name, &old, NULL, err);
    json_decref(old);
    if (!rc) return ad_fail(err, AD_E_EXISTS, "bucket %s already exists", name);
    if (rc != AD_E_NOT_FOUND) return rc;
    now_iso(now, sizeof(now));
    ad_bucket_remote_name(name, remote, sizeof(remote));
    files_url(b, name, url, sizeof(url));
    doc = json_pack("{s:s, s:s, s:s, s:i, s:s, s:s, s:{s:s, s:s, s:s, s:s, s:s, s:i}}", "name",
                    name, "region", str_at(spec, "region"), "policy", ad_bucket_policy_name(policy),
                    "generation", 1, "created_at", now, "updated_at", now, "status", "phase", "",
                    "reason", "", "message", "", "remoteName", remote, "url", url,
                    "observedGeneration", 0);
    if (!doc) return ad_fail(err, AD_E_NOMEM, "out of memory");
    created = remote_create(b, doc);
    rc = rec_store(b, name, doc, 0, err);
    if (rc) {
        /* another instance took the name meanwhile: our bucket is empty */
        if (created)
            b->blobs->ops->bucket_remove(b->blobs, status_str(doc, "remoteName"), true, NULL);
        json_decref(doc);
        if (rc == AD_E_EXISTS) return ad_fail(err, AD_E_EXISTS, "bucket %s already exists", name);
        return rc;
    }
    *out = doc;
    return AD_OK;
}

ad_code ad_buckets_get(ad_buckets *b, const char *name, json_t **out, ad_error *err)
{
    return rec_load(b, name, out, NULL, err);
}

typedef struct list_ctx {
    json_t *arr;
    ad_code rc;
} list_ctx;

static int list_one(void *ctx, const char *key, const char *json, size_t len, int64_t rev)
{
    list_ctx *l = ctx;
    json_t *doc = NULL;
    (void)key, (void)rev;
    if (ad_json_parse(json, len, AD_JSON_MAX_DEPTH, &doc, NULL) || !json_is_object(doc)) {
        json_decref(doc);
        return 0; /* a broken record is skipped, not fatal to the list */
    }
    if (json_array_append_new(l->arr, doc)) {
        l->rc = AD_E_NOMEM;
        return 1;
    }
    return 0;
}

ad_code ad_buckets_list(ad_buckets *b, json_t **out, ad_error *err)
{
    list_ctx l = {json_array(), AD_OK};
    ad_code rc;
    *out = NULL;
    if (!l.arr) return ad_fail(err, AD_E_NOMEM, "out of memory");
    rc = b->meta->ops->rec_list(b->meta, AD_BUCKETS_NS, list_one, &l, err);
    if (!rc && l.rc) rc = ad_fail(err, l.rc, "out of memory");
    if (rc) {
        json_decref(l.arr);
        return rc;
    }
    *out = l.arr;
    return AD_OK;
}

/* Records the outcome of applying generation gen's policy, unless a newer
 * generation was stored meanwhile (its own update records that one). */
static ad_code record_applied(ad_buckets *b, const char *name, json_int_t gen, bool applied,
                              const char *why, json_t **out, ad_error *err)
{
    int tries;
    ad_code rc = AD_OK;
    for (tries = 0; tries < PUT_TRIES; tries++) {
        json_t *doc = NULL;
        int64_t rev = 0;
        if ((rc = rec_load(b, name, &doc, &rev, err))) return rc;
        if (json_integer_value(json_object_get(doc, "generation")) != gen) {
            *out = doc;
            return AD_OK;
        }
        if (applied)
            set_status(doc, "Ready", "BucketPolicyUpdated", "Policy has been updated", true);
        else
            set_status(doc, "Failed", "BucketPolicyUpdateFailed", why, false);
        rc = rec_store(b, name, doc, rev, err);
        if (rc == AD_E_PRECONDITION) {
            json_decref(doc);
            continue;
        }
        if (rc) {
            json_decref(doc);
            return rc == AD_E_NOT_FOUND ? not_found(err, name) : rc;
        }
        *out = doc;
        return AD_OK;
    }
    return ad_fail(err, AD_E_UNAVAILABLE, "bucket %s keeps changing; try again", name);
}

/* An update is two writes around the remote call: the new spec (policy,
 * generation) first, then the status of applying it. The heartbeat never
 * sets a remote policy from a record older than the one it re-reads just
 * before (see check_one), so it cannot undo an update in flight. */
ad_code ad_buckets_update(ad_buckets *b, const char *name, const json_t *spec, json_t **out,
                          ad_error *err)
{
    ad_bucket_policy policy = AD_POLICY_NONE;
    int tries;
    ad_code rc;
    *out = NULL;
    for (tries = 0; tries < PUT_TRIES; tries++) {
        json_t *doc = NULL, *v;
        int64_t rev = 0;
        json_int_t gen;
        char now[32], why[AD_ERROR_MSG_MAX + 64] = "", remote[REMOTE_MAX];
        bool apply, applied = true;
        ad_error e = {0};
        if ((rc = rec_load(b, name, &doc, &rev, err))) return rc;
        policy = doc_policy(doc);
        rc = spec_check(spec, false, &policy, err);
        if (!rc && (v = json_object_get(spec, "name")) && strcmp(json_string_value(v), name) != 0)
            rc = ad_fail(err, AD_E_INVALID, "name: cannot change (it is %s)", name);
        if (!rc && (v = json_object_get(spec, "region")) &&
            strcmp(json_string_value(v), str_at(doc, "region")) != 0)
            rc = ad_fail(err, AD_E_INVALID, "region: cannot change (it is \"%s\")",
                         str_at(doc, "region"));
        if (rc || policy == doc_policy(doc)) {
            if (!rc)
                *out = doc;
            else
                json_decref(doc);
            return rc;
        }
        now_iso(now, sizeof(now));
        gen = json_integer_value(json_object_get(doc, "generation")) + 1;
        json_object_set_new(doc, "policy", json_string(ad_bucket_policy_name(policy)));
        json_object_set_new(doc, "generation", json_integer(gen));
        json_object_set_new(doc, "updated_at", json_string(now));
        /* a bucket that is not there keeps its failure; the heartbeat
         * applies the policy once it is */
        apply = strcmp(status_str(doc, "phase"), "Ready") == 0 ||
                strcmp(status_str(doc, "reason"), "BucketPolicyUpdateFailed") == 0;
        snprintf(remote, sizeof(remote), "%s", status_str(doc, "remoteName"));
        rc = rec_store(b, name, doc, rev, err);
        if (rc == AD_E_PRECONDITION) {
            json_decref(doc);
            continue; /* changed by someone else meanwhile: again, from their version */
        }
        if (rc || !apply) {
            if (!rc)
                *out = doc;
            else
                json_decref(doc);
            return rc == AD_E_NOT_FOUND ? not_found(err, name) : rc;
        }
        json_decref(doc);
        if (keeps_policies(b) &&
            b->blobs->ops->bucket_policy_set(b->blobs, remote, (ad_blob_policy)policy, &e)) {
            applied = false;
            snprintf(why, sizeof(why), "Policy cannot be set: %s", e.msg);
        }
        return record_applied(b, name, gen, applied, why, out, err);
    }
    return ad_fail(err, AD_E_UNAVAILABLE, "bucket %s keeps changing; try again", name);
}

/* An anchored regular expression matching the URLs under prefix. */
static char *prefix_regex(const char *prefix)
{
    size_t n = strlen(prefix), i, j = 0;
    char *re = malloc(2 * n + 2);
    if (!re) return NULL;
    re[j++] = '^';
    for (i = 0; i < n; i++) {
        if (strchr("\\^$.|?*+()[]{}", prefix[i])) re[j++] = '\\';
        re[j++] = prefix[i];
    }
    re[j] = '\0';
    return re;
}

/* Collects up to DEL_BATCH ids of the assets stored in bucket name: those
 * whose source.bucket is name (the controller's) and those with a file
 * under the bucket's files URL (ZIP uploads into it). */
static ad_code assets_in(ad_buckets *b, const char *name, json_t **ids, ad_error *err)
{
    char url[2048];
    char *re;
    json_t *fdoc;
    ad_filter *f = NULL;
    ad_query q = {0};
    ad_meta_cursor *cur = NULL;
    ad_code rc;
    size_t n;
    files_url(b, name, url, sizeof(url) - 1); /* one byte kept for the '/' */
    n = strlen(url);
    url[n] = '/', url[n + 1] = '\0';
    re = prefix_regex(url);
    fdoc = re ? json_pack("{s:[{s:s},{s:{s:s}}]}", "$or", "source.bucket", name,
                          "files.asset_file_url", "$regex", re)
              : NULL;
    free(re);
    *ids = json_array();
    if (!fdoc || !*ids) {
        json_decref(fdoc);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    rc = ad_filter_parse(fdoc, &f, err);
    json_decref(fdoc);
    if (rc) return rc;
    q.filter = f;
    q.limit = DEL_BATCH;
    rc = b->meta->ops->find(b->meta, &q, &cur, err);
    while (!rc) {
        const char *text = NULL;
        size_t len = 0;
        json_t *doc = NULL;
        rc = b->meta->ops->cursor_next(cur, &text, &len, err);
        if (rc || !text) break;
        if (!ad_json_parse(text, len, AD_JSON_MAX_DEPTH, &doc, NULL) &&
            json_is_string(json_object_get(doc, "asset_id")))
            json_array_append(*ids, json_object_get(doc, "asset_id"));
        json_decref(doc);
    }
    b->meta->ops->cursor_close(cur);
    ad_filter_free(f);
    return rc;
}

ad_code ad_buckets_delete(ad_buckets *b, const char *name, bool force, ad_buckets_del_asset_fn fn,
                          void *ctx, ad_error *err)
{
    json_t *doc = NULL, *ids = NULL;
    int64_t rev = 0;
    int round;
    ad_code rc = rec_load(b, name, &doc, &rev, err);
    if (rc) return rc;
    /* assets stored in it: refused, or deleted first (through the registry,
     * so their objects go with them) */
    for (round = 0; !rc && round < 100000; round++) {
        size_t i;
        rc = assets_in(b, name, &ids, err);
        if (!rc && json_array_size(ids) && !force)
            rc = ad_fail(err, AD_E_CONFLICT,
                         "bucket %s holds assets (%s, ...); delete them first or use ?force=true",
                         name, json_string_value(json_array_get(ids, 0)));
        for (i = 0; !rc && i < json_array_size(ids); i++) {
            const char *id = json_string_value(json_array_get(ids, i));
            rc = fn ? fn(ctx, id, err) : ad_fail(err, AD_E_INTERNAL, "no way to delete assets");
            if (rc == AD_E_NOT_FOUND) rc = AD_OK; /* deleted by someone else meanwhile */
        }
        if (!rc && json_array_size(ids) == 0) round = 100000;
        json_decref(ids);
        ids = NULL;
    }
    /* a bucket whose creation failed has nothing remote to remove */
    if (!rc && strcmp(status_str(doc, "reason"), "BucketCreationFailure") != 0) {
        rc = b->blobs->ops->bucket_remove(b->blobs, status_str(doc, "remoteName"), force, err);
        if (rc == AD_E_PRECONDITION)
            rc = ad_fail(err, AD_E_CONFLICT,
                         "bucket %s holds objects; delete them first or use ?force=true", name);
        else if (rc == AD_E_NOT_FOUND || rc == AD_E_BAD_REQUEST)
            rc = AD_OK; /* never created (BucketCreationFailure) or gone already */
    }
    if (!rc) {
        rc = b->meta->ops->rec_remove(b->meta, AD_BUCKETS_NS, name, AD_REV_ANY, err);
        if (rc == AD_E_NOT_FOUND) rc = AD_OK;
    }
    json_decref(doc);
    return rc;
}

ad_code ad_buckets_ready(ad_buckets *b, const char *name, bool *ready, char *why, size_t cap,
                         ad_error *err)
{
    json_t *doc = NULL;
    ad_code rc = rec_load(b, name, &doc, NULL, err);
    if (rc) return rc;
    *ready = strcmp(status_str(doc, "phase"), "Ready") == 0;
    if (!*ready && why && cap)
        snprintf(why, cap, "bucket %s is %s (%s): %s", name,
                 *status_str(doc, "phase") ? status_str(doc, "phase") : "not ready",
                 status_str(doc, "reason"), status_str(doc, "message"));
    json_decref(doc);
    return AD_OK;
}

ad_code ad_buckets_store(ad_buckets *b, const char *name, ad_blob **out, ad_error *err)
{
    json_t *doc = NULL;
    cache_ent *e;
    const char *remote;
    ad_code rc = rec_load(b, name, &doc, NULL, err);
    *out = NULL;
    if (rc) return rc;
    remote = status_str(doc, "remoteName");
    if (!*remote || strlen(remote) >= REMOTE_MAX) {
        json_decref(doc);
        return ad_fail(err, AD_E_BACKEND, "bucket %s has no remote name", name);
    }
    pthread_mutex_lock(&b->lock);
    for (e = b->cache; e && strcmp(e->remote, remote) != 0; e = e->next) {
    }
    if (e) {
        *out = e->store;
    } else if (!(e = calloc(1, sizeof(*e)))) {
        rc = ad_fail(err, AD_E_NOMEM, "out of memory");
    } else if ((rc = b->blobs->ops->bucket_open(b->blobs, remote, &e->store, err))) {
        free(e);
        if (rc == AD_E_NOT_FOUND)
            rc =
                ad_fail(err, AD_E_CONFLICT, "bucket %s is not ready: its storage is missing", name);
    } else {
        snprintf(e->remote, sizeof(e->remote), "%s", remote);
        e->next = b->cache;
        b->cache = e;
        *out = e->store;
    }
    pthread_mutex_unlock(&b->lock);
    json_decref(doc);
    return rc;
}

ad_code ad_buckets_policy(ad_buckets *b, const char *name, ad_bucket_policy *out, ad_error *err)
{
    json_t *doc = NULL;
    ad_code rc = rec_load(b, name, &doc, NULL, err);
    if (rc) return rc;
    *out = doc_policy(doc);
    json_decref(doc);
    return AD_OK;
}

ad_code ad_buckets_files_url(const ad_buckets *b, const char *name, char *dst, size_t cap,
                             ad_error *err)
{
    if ((size_t)snprintf(dst, cap, "%s/buckets/%s/files", b->public_url, name) >= cap)
        return ad_fail(err, AD_E_BAD_REQUEST, "bucket files URL too long");
    return AD_OK;
}

const char *ad_buckets_default(const ad_buckets *b)
{
    return b->def;
}

/* --- the heartbeat --------------------------------------------------- */

/* Whether bucket name's record is still at revision rev. */
static bool unchanged(ad_buckets *b, const char *name, int64_t rev)
{
    ad_doc d = {0};
    bool same =
        b->meta->ops->rec_get(b->meta, AD_BUCKETS_NS, name, &d, NULL) == AD_OK && d.rev == rev;
    ad_doc_free(&d);
    return same;
}

/* Checks one bucket against the blob store and records what it found.
 * Before changing anything remote (creating the bucket again, setting its
 * policy) it reads the record again: when it changed meanwhile (an update
 * sets the remote policy only after storing its record) this round leaves
 * the bucket alone and the next one checks it afresh. */
static void check_one(ad_buckets *b, const char *name)
{
    json_t *doc = NULL;
    int64_t rev = 0;
    ad_error e = {0};
    const char *remote;
    bool exists = false, created = false;
    char msg[AD_ERROR_MSG_MAX + 96];
    if (rec_load(b, name, &doc, &rev, &e)) {
        json_decref(doc);
        return;
    }
    remote = status_str(doc, "remoteName");
    if (strcmp(status_str(doc, "reason"), "BucketCreationFailure") == 0) {
        if (!unchanged(b, name, rev)) goto skip;
        created = remote_create(b, doc);
    } else if (b->blobs->ops->bucket_exists(b->blobs, remote, &exists, &e)) {
        snprintf(msg, sizeof(msg), "Bucket cannot be verified: %s", e.msg);
        set_status(doc, "Failed", "BucketVerificationFailure", msg, false);
    } else if (!exists) {
        snprintf(msg, sizeof(msg), "Bucket %s does not exist in the blob store", remote);
        set_status(doc, "Failed", "BucketNotFound", msg, false);
    } else {
        const char *phase = status_str(doc, "phase"), *reason = status_str(doc, "reason");
        ad_blob_policy got = AD_BLOB_POLICY_NONE;
        bool was_missing =
            strcmp(phase, "Ready") != 0 && (strcmp(reason, "BucketNotFound") == 0 ||
                                            strcmp(reason, "BucketVerificationFailure") == 0);
        if (keeps_policies(b) && b->blobs->ops->bucket_policy_get(b->blobs, remote, &got, &e)) {
            snprintf(msg, sizeof(msg), "Bucket policy cannot be read: %s", e.msg);
            set_status(doc, "Failed", "BucketVerificationFailure", msg, false);
        } else if (keeps_policies(b) && (int)got != (int)doc_policy(doc)) {
            if (!unchanged(b, name, rev)) goto skip;
            apply_policy(b, doc,
                         strcmp(reason, "BucketPolicyUpdateFailed") == 0
                             ? "BucketPolicyUpdated"
                             : "BucketPolicyHasBeenChanged",
                         strcmp(reason, "BucketPolicyUpdateFailed") == 0
                             ? "Policy has been updated"
                             : "Policy had been changed in the blob store and has been restored");
        } else if (was_missing || strcmp(reason, "BucketPolicyUpdateFailed") == 0) {
            set_status(doc, "Ready", "BucketCreated", "Bucket is available", true);
        } else {
            set_status(doc, phase, reason, status_str(doc, "message"), false);
        }
    }
    /* a record changed meanwhile is checked again next round; one deleted
     * meanwhile must not leave the bucket just created behind */
    if (rec_store(b, name, doc, rev, NULL) == AD_E_NOT_FOUND && created)
        b->blobs->ops->bucket_remove(b->blobs, status_str(doc, "remoteName"), false, NULL);
skip:
    json_decref(doc);
}

static int collect_name(void *ctx, const char *key, const char *json, size_t len, int64_t rev)
{
    (void)json, (void)len, (void)rev;
    return json_array_append_new((json_t *)ctx, json_string(key)) ? 1 : 0;
}

static void check_all(ad_buckets *b)
{
    json_t *names = json_array();
    ad_error e = {0};
    size_t i;
    if (!names) return;
    if (b->meta->ops->rec_list(b->meta, AD_BUCKETS_NS, collect_name, names, &e))
        ad_log(AD_LOG_WARN, "msg=\"bucket heartbeat cannot list the buckets\" error=\"%s\"", e.msg);
    for (i = 0; i < json_array_size(names); i++) {
        pthread_mutex_lock(&b->tlock);
        bool stop = b->stop;
        pthread_mutex_unlock(&b->tlock);
        if (stop) break;
        check_one(b, json_string_value(json_array_get(names, i)));
    }
    json_decref(names);
}

static void *heartbeat(void *arg)
{
    ad_buckets *b = arg;
    for (;;) {
        struct timespec until;
        bool stop;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_sec += (time_t)b->interval;
        pthread_mutex_lock(&b->tlock);
        while (!b->stop && pthread_cond_timedwait(&b->tcond, &b->tlock, &until) == 0) {
        }
        stop = b->stop;
        pthread_mutex_unlock(&b->tlock);
        if (stop) break;
        check_all(b);
    }
    return NULL;
}

/* --- life ------------------------------------------------------------ */

static ad_code ensure_default(ad_buckets *b, ad_error *err)
{
    json_t *doc = NULL, *spec;
    ad_code rc = rec_load(b, b->def, &doc, NULL, err);
    json_decref(doc);
    if (rc != AD_E_NOT_FOUND) return rc;
    ad_error_clear(err);
    if (!(spec = json_pack("{s:s}", "name", b->def))) return ad_fail(err, AD_E_NOMEM, "oom");
    doc = NULL;
    rc = ad_buckets_create(b, spec, &doc, err);
    json_decref(spec);
    if (!rc)
        ad_log(AD_LOG_INFO, "msg=\"default bucket created\" bucket=%s phase=%s remote=%s", b->def,
               status_str(doc, "phase"), status_str(doc, "remoteName"));
    json_decref(doc);
    if (rc == AD_E_EXISTS) rc = AD_OK; /* another instance was faster */
    return rc;
}

ad_code ad_buckets_new(const ad_buckets_opts *o, ad_buckets **out, ad_error *err)
{
    ad_buckets *b;
    ad_code rc;
    const ad_blob_ops *ops = o->blobs->ops;
    *out = NULL;
    if (!ops->bucket_create || !ops->bucket_exists || !ops->bucket_remove || !ops->bucket_open)
        return ad_fail(err, AD_E_BAD_REQUEST, "the %s blob store has no buckets", ops->scheme);
    if (o->default_bucket && *o->default_bucket &&
        (rc = ad_bucket_name_check(o->default_bucket, err))) {
        ad_error_prefix(err, "--default-bucket: ");
        if (err) err->code = AD_E_BAD_REQUEST;
        return AD_E_BAD_REQUEST;
    }
    if (!(b = calloc(1, sizeof(*b)))) return ad_fail(err, AD_E_NOMEM, "out of memory");
    b->meta = o->meta, b->blobs = o->blobs, b->interval = o->check_interval;
    b->public_url = strdup(o->public_url ? o->public_url : "");
    b->def = o->default_bucket && *o->default_bucket ? strdup(o->default_bucket) : NULL;
    pthread_mutex_init(&b->lock, NULL);
    pthread_mutex_init(&b->tlock, NULL);
    pthread_cond_init(&b->tcond, NULL);
    if (!b->public_url || (o->default_bucket && *o->default_bucket && !b->def)) {
        ad_buckets_free(b);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    if (b->def && (rc = ensure_default(b, err))) {
        ad_buckets_free(b);
        return rc;
    }
    *out = b;
    return AD_OK;
}

ad_code ad_buckets_start(ad_buckets *b, ad_error *err)
{
    if (b->interval <= 0 || b->started) return AD_OK;
    if (pthread_create(&b->thread, NULL, heartbeat, b) != 0)
        return ad_fail(err, AD_E_INTERNAL, "cannot start the bucket heartbeat thread");
    b->started = true;
    return AD_OK;
}

void ad_buckets_free(ad_buckets *b)
{
    cache_ent *e;
    if (!b) return;
    if (b->started) {
        pthread_mutex_lock(&b->tlock);
        b->stop = true;
        pthread_cond_broadcast(&b->tcond);
        pthread_mutex_unlock(&b->tlock);
        pthread_join(b->thread, NULL);
    }
    while ((e = b->cache) != NULL) {
        b->cache = e->next;
        e->store->ops->close(e->store);
        free(e);
    }
    pthread_mutex_destroy(&b->lock);
    pthread_mutex_destroy(&b->tlock);
    pthread_cond_destroy(&b->tcond);
    free(b->public_url);
    free(b->def);
    free(b);
}
