/*
 * apply.c — assetctl's asset-store commands, which work the way kubectl
 * does on the asset store's manifests (yaml.c reads them, manifest.c maps
 * them to REST bodies):
 *
 *   apply -f FILE     each manifest: GET it; 404 → POST (created); else
 *                     PUT when the spec differs (configured) or nothing
 *                     (unchanged). Buckets go first, so an asset's bucket
 *                     exists when the asset arrives.
 *   delete -f FILE    DELETE each, assets first (a bucket holding assets
 *                     is refused with 409). A missing one is reported on
 *                     stderr and is not an error unless none existed.
 *   get KIND [NAME]   NAME PHASE REASON AGE, or -o json|yaml.
 *   wait KIND NAME    polls until status.phase is the one asked for, of
 *                     the current generation (observedGeneration), so a
 *                     Ready left from the previous spec never counts.
 *
 * Every manifest of a file is read and mapped before the first request:
 * a mistake in document 3 changes nothing on the server. "unchanged" is
 * decided on the client (the stored `source`, or policy and region, equal
 * to the manifest's), and confirmed by the server when it was sent anyway:
 * a PUT that leaves `generation` as it was is reported unchanged.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "cli/assetctl.h"
#include "cli/manifest.h"
#include "cli/yaml.h"

#define WAIT_POLL_MIN_MS 200
#define WAIT_POLL_MAX_MS 2000

/* ------------------------------------------------------------- requests */

/* Sends METHOD base+path[+segment] with body (NULL: none); *data as
 * http_exchange, or NULL with *missing set on 404 when missing is given. */
static int call(const struct client *cl, const char *method, const char *path, const char *seg,
                const json_t *body, json_t **data, bool *missing)
{
    struct request rq = {.method = method};
    size_t n = strlen(cl->server);
    int rc = RC_OK;
    while (n > 0 && cl->server[n - 1] == '/') n--;
    if (!buf_add(&rq.url, cl->server, n) || !buf_str(&rq.url, path) ||
        (seg && !buf_segment(&rq.url, seg, strlen(seg))))
        rc = oom();
    if (!rc && body) {
        char *text = json_dumps(body, JSON_COMPACT);
        if (!text || !buf_str(&rq.body, text)) rc = oom();
        free(text);
    }
    *data = NULL;
    if (!rc)
        rc = missing ? http_exchange_404(cl, &rq, data, missing) : http_exchange(cl, &rq, data);
    buf_free(&rq.url);
    buf_free(&rq.body);
    return rc;
}

/* "/assets/" or "/buckets/" */
static const char *collection(bool bucket)
{
    return bucket ? "/buckets/" : "/assets/";
}

/* -------------------------------------------------------------- reading */

struct manifest_set {
    struct manifest *m;
    size_t n;
};

static void set_free(struct manifest_set *s)
{
    for (size_t i = 0; i < s->n; i++) manifest_free(&s->m[i]);
    free(s->m);
    *s = (struct manifest_set){0};
}

/* Reads and maps every manifest of path; prints the first problem. */
static int read_manifests(const char *path, struct manifest_set *set)
{
    const char *name = strcmp(path, "-") ? path : "<stdin>";
    struct buf text = {0};
    struct yml_error err;
    json_t *docs = NULL;
    int rc = read_input(path, &text);
    if (rc) return rc;
    if (yml_load(text.data ? text.data : "", text.len, NULL, &docs, &err)) {
        if (err.line)
            fprintf(stderr, "assetctl: %s: line %d column %d: %s\n", name, err.line, err.column,
                    err.text);
        else
            fprintf(stderr, "assetctl: %s: %s\n", name, err.text);
        buf_free(&text);
        return RC_FAIL;
    }
    buf_free(&text);
    size_t n = json_array_size(docs);
    if (n == 0) {
        fprintf(stderr, "assetctl: %s: no manifest in it\n", name);
        json_decref(docs);
        return RC_FAIL;
    }
    set->m = calloc(n, sizeof *set->m);
    if (!set->m) {
        json_decref(docs);
        return oom();
    }
    for (size_t i = 0; i < n && !rc; i++) {
        char msg[400];
        if (manifest_map(json_array_get(docs, i), &set->m[i], msg, sizeof msg)) {
            fprintf(stderr, "assetctl: %s: document %zu: %s\n", name, i + 1, msg);
            rc = RC_FAIL;
            break;
        }
        set->n++;
        for (size_t j = 0; j < i; j++) {
            if (set->m[j].is_bucket == set->m[i].is_bucket &&
                !strcmp(set->m[j].name, set->m[i].name)) {
                fprintf(stderr, "assetctl: %s: document %zu: %s/%s is already in document %zu\n",
                        name, i + 1, manifest_resource(&set->m[i]), set->m[i].name, j + 1);
                rc = RC_FAIL;
                break;
            }
        }
    }
    json_decref(docs);
    if (rc) set_free(set);
    return rc;
}

/* Keeps the worse of two exit statuses (unreachable is the worst). */
static int worse(int a, int b)
{
    if (a == RC_UNREACHABLE || b == RC_UNREACHABLE) return RC_UNREACHABLE;
    return a ? a : b;
}

/* ---------------------------------------------------------------- apply */

static long long generation_of(const json_t *doc)
{
    const json_t *g = json_object_get(doc, "generation");
    return json_is_integer(g) ? (long long)json_integer_value(g) : -1;
}

/* Whether the stored bucket already has the manifest's spec. */
static bool bucket_same(const json_t *stored, const json_t *want)
{
    const json_t *p = json_object_get(want, "policy"), *r = json_object_get(want, "region");
    const char *policy = json_is_string(p) ? json_string_value(p) : "none";
    const char *have = json_string_value(json_object_get(stored, "policy"));
    if (!have || strcmp(have, policy)) return false;
    return !r || json_equal(r, json_object_get(stored, "region"));
}

/* The PUT body of a bucket: its policy (default none) and region if given. */
static json_t *bucket_update(const json_t *want)
{
    json_t *b = json_object();
    const json_t *p = json_object_get(want, "policy"), *r = json_object_get(want, "region");
    if (!b ||
        json_object_set_new(b, "policy", p ? json_incref((json_t *)p) : json_string("none")) ||
        (r && json_object_set(b, "region", (json_t *)r))) {
        json_decref(b);
        return NULL;
    }
    return b;
}

static int apply_one(const struct client *cl, const struct manifest *m)
{
    const char *res = manifest_resource(m), *coll = collection(m->is_bucket);
    json_t *stored = NULL, *after = NULL;
    bool missing = false;
    int rc = call(cl, "GET", coll, m->name, NULL, &stored, &missing);
    if (rc) return rc;
    if (missing) {
        rc = call(cl, "POST", m->is_bucket ? "/buckets" : "/assets", NULL, m->body, &after, NULL);
        if (!rc) printf("%s/%s created\n", res, m->name);
        json_decref(after);
        return rc;
    }
    json_t *update;
    bool same;
    if (m->is_bucket) {
        same = bucket_same(stored, m->body);
        update = same ? NULL : bucket_update(m->body);
    } else {
        const json_t *src = json_object_get(m->body, "source");
        same = json_equal(json_object_get(stored, "source"), src);
        update = same ? NULL : json_pack("{s:O}", "source", src);
    }
    if (same) {
        printf("%s/%s unchanged\n", res, m->name);
    } else if (!update) {
        rc = oom();
    } else {
        rc = call(cl, "PUT", coll, m->name, update, &after, NULL);
        long long g0 = generation_of(stored), g1 = generation_of(after);
        if (!rc)
            printf("%s/%s %s\n", res, m->name, g0 >= 0 && g0 == g1 ? "unchanged" : "configured");
    }
    json_decref(update);
    json_decref(after);
    json_decref(stored);
    return rc;
}

int cmd_apply(const struct client *cl, const char *path)
{
    struct manifest_set set = {0};
    int rc = read_manifests(path, &set);
    if (rc) return rc;
    /* buckets first, each group in the file's order */
    for (int pass = 0; pass < 2 && rc != RC_UNREACHABLE; pass++)
        for (size_t i = 0; i < set.n && rc != RC_UNREACHABLE; i++)
            if (set.m[i].is_bucket == (pass == 0)) rc = worse(rc, apply_one(cl, &set.m[i]));
    fflush(stdout);
    set_free(&set);
    return rc;
}

/* --------------------------------------------------------------- delete */

int cmd_delete_file(const struct client *cl, const char *path)
{
    struct manifest_set set = {0};
    size_t deleted = 0, absent = 0;
    int rc = read_manifests(path, &set);
    if (rc) return rc;
    /* assets first: a bucket that still holds one is refused */
    for (int pass = 0; pass < 2 && rc != RC_UNREACHABLE; pass++) {
        for (size_t i = 0; i < set.n && rc != RC_UNREACHABLE; i++) {
            const struct manifest *m = &set.m[i];
            if (m->is_bucket != (pass == 1)) continue;
            json_t *data = NULL;
            bool missing = false;
            int r = call(cl, "DELETE", collection(m->is_bucket), m->name, NULL, &data, &missing);
            json_decref(data);
            if (!r && missing) {
                fflush(stdout);
                fprintf(stderr, "assetctl: %s/%s not found\n", manifest_resource(m), m->name);
                absent++;
            } else if (!r) {
                printf("%s/%s deleted\n", manifest_resource(m), m->name);
                deleted++;
            }
            rc = worse(rc, r);
        }
    }
    fflush(stdout);
    if (!rc && deleted == 0 && absent > 0) {
        fprintf(stderr, "assetctl: nothing to delete: none of the %zu resources of %s exists\n",
                absent, strcmp(path, "-") ? path : "<stdin>");
        rc = RC_FAIL;
    }
    set_free(&set);
    return rc;
}

/* ------------------------------------------------------------------ get */

/* asset(s) / bucket(s) → *bucket; false for anything else. */
static bool parse_kind(const char *kind, bool *bucket)
{
    if (!strcmp(kind, "asset") || !strcmp(kind, "assets")) {
        *bucket = false;
        return true;
    }
    if (!strcmp(kind, "bucket") || !strcmp(kind, "buckets")) {
        *bucket = true;
        return true;
    }
    return false;
}

/* Seconds since the RFC 3339 UTC time s; -1 when s is not one. */
static long long seconds_since(const char *s)
{
    struct tm tm = {0};
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                     &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    time_t t = timegm(&tm);
    if (t == (time_t)-1) return -1;
    long long d = (long long)(time(NULL) - t);
    return d < 0 ? 0 : d;
}

/* An age as kubectl shows it: 45s, 3m20s, 95m, 5h10m, 30h, 3d4h, 40d, 2y10d. */
static void format_age(char *out, size_t n, long long s)
{
    long long m = s / 60, h = s / 3600, d = s / 86400;
    if (s < 0)
        snprintf(out, n, "-");
    else if (s < 120)
        snprintf(out, n, "%llds", s);
    else if (m < 10)
        snprintf(out, n, s % 60 ? "%lldm%llds" : "%lldm", m, s % 60);
    else if (m < 180)
        snprintf(out, n, "%lldm", m);
    else if (h < 8)
        snprintf(out, n, m % 60 ? "%lldh%lldm" : "%lldh", h, m % 60);
    else if (h < 48)
        snprintf(out, n, "%lldh", h);
    else if (h < 192)
        snprintf(out, n, h % 24 ? "%lldd%lldh" : "%lldd", d, h % 24);
    else if (d < 730)
        snprintf(out, n, "%lldd", d);
    else if (d < 8 * 365)
        snprintf(out, n, d % 365 ? "%lldy%lldd" : "%lldy", d / 365, d % 365);
    else
        snprintf(out, n, "%lldy", d / 365);
}

#define GET_COLS 4

/* Copies s into a cell: control characters become spaces, "" becomes "-". */
static char *cell(const char *s)
{
    char *c = strdup(s && *s ? s : "-");
    if (c)
        for (char *p = c; *p; p++)
            if ((unsigned char)*p < 0x20 || *p == 0x7f) *p = ' ';
    return c;
}

static size_t width(const char *s)
{
    size_t w = 0;
    for (; *s; s++) w += ((unsigned char)*s & 0xC0) != 0x80;
    return w;
}

static int print_status_table(const json_t *items, bool bucket)
{
    static const char *const head[GET_COLS] = {"NAME", "PHASE", "REASON", "AGE"};
    size_t rows = json_array_size(items), widths[GET_COLS];
    char **cells = calloc((rows + 1) * GET_COLS, sizeof *cells);
    bool ok = cells != NULL;
    for (int c = 0; ok && c < GET_COLS; c++) ok = (cells[c] = strdup(head[c])) != NULL;
    for (size_t r = 0; ok && r < rows; r++) {
        const json_t *it = json_array_get(items, r), *st = json_object_get(it, "status");
        char age[32];
        format_age(age, sizeof age,
                   seconds_since(json_string_value(json_object_get(it, "created_at"))));
        const char *vals[GET_COLS] = {
            json_string_value(json_object_get(it, bucket ? "name" : "asset_id")),
            json_string_value(json_object_get(st, "phase")),
            json_string_value(json_object_get(st, "reason")), age};
        for (int c = 0; ok && c < GET_COLS; c++)
            ok = (cells[(r + 1) * GET_COLS + c] = cell(vals[c])) != NULL;
    }
    if (ok) {
        for (int c = 0; c < GET_COLS; c++) {
            widths[c] = 0;
            for (size_t r = 0; r <= rows; r++)
                if (width(cells[r * GET_COLS + c]) > widths[c])
                    widths[c] = width(cells[r * GET_COLS + c]);
        }
        for (size_t r = 0; r <= rows; r++) {
            for (int c = 0; c < GET_COLS; c++) {
                const char *t = cells[r * GET_COLS + c];
                fputs(t, stdout);
                if (c < GET_COLS - 1)
                    for (size_t w = width(t); w < widths[c] + 3; w++) putchar(' ');
            }
            putchar('\n');
        }
    }
    if (cells)
        for (size_t i = 0; i < (rows + 1) * GET_COLS; i++) free(cells[i]);
    free(cells);
    return ok ? RC_OK : oom();
}

int print_yaml(const json_t *v)
{
    char err[200];
    if (yml_dump(v, stdout, err, sizeof err)) {
        fprintf(stderr, "assetctl: %s\n", err);
        return RC_FAIL;
    }
    return RC_OK;
}

int cmd_get_resources(const struct client *cl, const char *kind, const char *name, enum output out)
{
    bool bucket;
    json_t *data = NULL, *items = NULL;
    if (!parse_kind(kind, &bucket)) return RC_USAGE; /* checked by the caller */
    int rc = name ? call(cl, "GET", collection(bucket), name, NULL, &data, NULL)
                  : call(cl, "GET", bucket ? "/buckets" : "/assets?sort=asset_id", NULL, NULL,
                         &data, NULL);
    if (rc) return rc;
    if (!name && !bucket) {
        /* the asset store's assets: those with a source */
        items = json_array();
        for (size_t i = 0; items && i < json_array_size(data); i++) {
            json_t *a = json_array_get(data, i);
            if (json_object_get(a, "source") && json_array_append(items, a)) {
                json_decref(items);
                items = NULL;
            }
        }
        json_decref(data);
        if (!items) return oom();
        data = items;
    }
    if (out == OUT_JSON) {
        rc = json_dumpf(data, stdout, JSON_INDENT(2) | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY)
                 ? oom()
                 : (putchar('\n'), RC_OK);
    } else if (out == OUT_YAML) {
        rc = print_yaml(data);
    } else if (name) {
        json_t *one = json_pack("[O]", data);
        rc = one ? print_status_table(one, bucket) : oom();
        json_decref(one);
    } else {
        rc = print_status_table(data, bucket);
    }
    json_decref(data);
    return rc;
}

/* ----------------------------------------------------------------- wait */

static long long now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The phase asked for: "Ready", "condition=Ready", "phase=Ready" (any case
 * of Ready, Failed, Pending) → "Ready"; NULL if it is none of those. */
static const char *parse_condition(const char *cond)
{
    static const char *const phases[] = {"Ready", "Failed", "Pending"};
    const char *eq = strchr(cond, '=');
    if (eq) {
        size_t k = (size_t)(eq - cond);
        if (!(k == 9 && !strncmp(cond, "condition", 9)) && !(k == 5 && !strncmp(cond, "phase", 5)))
            return NULL;
        cond = eq + 1;
    }
    for (size_t i = 0; i < sizeof phases / sizeof phases[0]; i++)
        if (!strcasecmp(cond, phases[i])) return phases[i];
    return NULL;
}

/* "phase Pending, reason BucketNotReady, message \"...\"" of a resource. */
static void describe(char *out, size_t n, const json_t *doc)
{
    const json_t *st = json_object_get(doc, "status");
    const char *phase = json_string_value(json_object_get(st, "phase"));
    const char *reason = json_string_value(json_object_get(st, "reason"));
    const char *msg = json_string_value(json_object_get(st, "message"));
    const json_t *og = json_object_get(st, "observedGeneration");
    long long g = generation_of(doc);
    if (!st) {
        snprintf(out, n, "no status yet");
        return;
    }
    int k = snprintf(out, n, "phase %s, reason %s, message \"%.300s\"", phase ? phase : "-",
                     reason && *reason ? reason : "-", msg ? msg : "");
    if (g >= 0 && json_is_integer(og) && json_integer_value(og) < g && k > 0 && (size_t)k < n)
        snprintf(out + k, n - (size_t)k, " (of generation %lld; the current one is %lld)",
                 (long long)json_integer_value(og), g);
}

int cmd_wait(const struct client *cl, const char *kind, const char *name, const char *cond,
             long wait_ms)
{
    bool bucket;
    const char *want = parse_condition(cond ? cond : "Ready");
    if (!parse_kind(kind, &bucket) || !want) return RC_USAGE; /* checked by the caller */
    const char *res = bucket ? "bucket" : "asset";
    long long deadline = wait_ms > 0 ? now_ms() + wait_ms : 0;
    long poll = WAIT_POLL_MIN_MS;
    char last[512] = "no answer yet";
    for (;;) {
        struct client c = *cl;
        long long left = deadline ? deadline - now_ms() : 0;
        if (deadline && left < c.timeout_ms) c.timeout_ms = left > 0 ? (long)left : 1;
        json_t *doc = NULL;
        int rc = call(&c, "GET", collection(bucket), name, NULL, &doc, NULL);
        if (rc) return rc;
        const json_t *st = json_object_get(doc, "status");
        char phase_buf[32] = "";
        const char *phase = json_string_value(json_object_get(st, "phase"));
        if (phase) snprintf(phase_buf, sizeof phase_buf, "%s", phase);
        phase = phase ? phase_buf : NULL; /* doc is released below */
        const json_t *og = json_object_get(st, "observedGeneration");
        long long g = generation_of(doc);
        bool current = g < 0 || (json_is_integer(og) && json_integer_value(og) >= g);
        describe(last, sizeof last, doc);
        json_decref(doc);
        if (phase && current && !strcmp(phase, want)) {
            printf("%s/%s condition met (%s)\n", res, name, want);
            return RC_OK;
        }
        if (phase && current && !strcmp(want, "Ready") && !strcmp(phase, "Failed")) {
            fprintf(stderr, "assetctl: %s/%s failed: %s\n", res, name, last);
            return RC_FAIL;
        }
        left = deadline ? deadline - now_ms() : poll;
        if (left <= 0) {
            fprintf(stderr, "assetctl: timed out waiting for %s/%s to be %s; last status: %s\n",
                    res, name, want, last);
            return RC_FAIL;
        }
        usleep((useconds_t)(left < poll ? left : poll) * 1000);
        if (poll < WAIT_POLL_MAX_MS) poll = poll * 3 / 2;
    }
}
