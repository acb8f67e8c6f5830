/*
 * reconcile.c — one run of the asset store's controller (see
 * controller.h): an ingest worker's job "asset:<asset_id>#<generation>".
 *
 *   read the asset (nothing to do: done) → clean the previous content
 *   (Cleaned / CleanupError) → bucket ready? (BucketNotReady, retried /
 *   BucketError) → fetch (Pulled / PullingFailed) → unpack a package and
 *   apply the filter → validation services (ValidationFailed /
 *   ValidationError) → mutation services (Mutated / MutationFailed /
 *   MutationError) → metadata services (MetadataExtracted /
 *   MetadataExtractionFailed) → store (Ready/Uploaded / UploadFailed).
 *
 * The selected files are unpacked into this instance's spool directory as
 * numbered files (<spool>/<job>.d/<n>; names never reach the file system,
 * so a hostile name cannot escape it) under the same archive limits and
 * entry rules as ZIP uploads (core/archive_rules.h). Webhook services get
 * a file's text in memory (at most AD_WEBHOOK_CONTENT_MAX); a mutated file
 * replaces its numbered copy. Storing streams each copy through the
 * shared store stage (core/stage_store.h) into the bucket, keys recorded
 * in the job store first.
 *
 * Every status write is conditional on the asset's revision and
 * generation (ctl_write_status): when the spec changed under the run, or
 * the asset was deleted, the run stops and removes what it stored.
 */
#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "core/controller_int.h"
#include "core/hashpipe.h"
#include "core/model.h"
#include "core/source.h"
#include "core/stage_store.h"
#include "core/webhook.h"
#include "util/buf.h"
#include "util/log.h"
#include "util/str.h"

#define COPY_BUF   ((size_t)256 << 10)
#define RETRY_BASE 2   /* seconds before the first retry of BucketNotReady */
#define RETRY_MAX  300 /* seconds between retries at most */

typedef struct rfile {
    char *name;   /* path in the package (or the URL's file name) */
    char *path;   /* the local copy */
    json_t *meta; /* from the metadata services */
    ad_stage_sum sum;
} rfile;

typedef struct rrun {
    ad_controller *c;
    ad_job *job;
    const atomic_bool *stop;
    void *magic;
    char id[AD_ASSET_ID_MAX + 1];
    int64_t gen;
    json_t *doc;
    int64_t rev;
    json_t *src; /* a copy of doc's source */
    char dir[4096];
    char fetched[4096];
    rfile *files;
    size_t nfiles, cap;
    char bucket[AD_BLOB_BUCKET_MAX + 1];
    bool stale, interrupted, failed, retry_later;
    char reason[AD_JOB_REASON_MAX];
    ad_webhook_opts wo;
} rrun;

/* Writes a status; false when the run must stop (stale, deleted, or the
 * store failed). */
static bool status(rrun *R, const char *phase, const char *reason, const char *message,
                   json_t *extra, json_t *files)
{
    ad_error err = {0};
    json_t *st = ctl_status(phase, reason, message, R->gen);
    ad_code rc;
    if (st && extra) json_object_update(st, extra);
    json_decref(extra);
    if (strcmp(phase, "Failed") == 0) {
        R->failed = true;
        snprintf(R->reason, sizeof(R->reason), "%s: %s", reason, message);
    }
    rc = ctl_write_status(R->c, R->id, R->gen, &R->doc, &R->rev, st, files, &err);
    if (rc == AD_E_PRECONDITION || rc == AD_E_NOT_FOUND) {
        char a[AD_ASSET_ID_MAX + 1];
        R->stale = true;
        ad_log(AD_LOG_INFO,
               "msg=\"asset run is stale; discarding it\" asset=\"%s\" generation=%lld why=\"%s\"",
               ad_log_safe(a, sizeof(a), R->id), (long long)R->gen,
               rc == AD_E_NOT_FOUND ? "asset deleted" : "newer generation");
        return false;
    }
    if (rc) {
        char e[AD_ERROR_MSG_MAX];
        ad_log(AD_LOG_ERROR, "msg=\"cannot write an asset status\" asset=\"%s\" error=\"%s\"",
               R->id, ad_log_safe(e, sizeof(e), err.msg));
        R->failed = true;
        snprintf(R->reason, sizeof(R->reason), "cannot write the status: %s", err.msg);
        return false;
    }
    return strcmp(phase, "Failed") != 0;
}

static bool stopped(rrun *R)
{
    if (atomic_load(R->stop)) R->interrupted = true;
    return R->interrupted;
}

/* Whether the asset's generation is still ours (read again). */
static bool still_current(rrun *R)
{
    json_t *d = NULL;
    int64_t rev = 0;
    ad_error err = {0};
    bool ok;
    if (ctl_read(R->c, R->id, &d, &rev, &err)) {
        if (err.code == AD_E_NOT_FOUND) R->stale = true;
        return err.code != AD_E_NOT_FOUND;
    }
    ok = json_integer_value(json_object_get(d, "generation")) == R->gen;
    json_decref(d);
    if (!ok) R->stale = true;
    return ok;
}

/* --- 1. clean the previous content --- */

static int clean(rrun *R)
{
    const json_t *st = json_object_get(R->doc, "status");
    ad_error err = {0};
    if (!json_array_size(json_object_get(json_object_get(st, "assetRef"), "files"))) return 0;
    if (ctl_remove_content(R->c, R->id, st, &err)) {
        status(R, "Failed", "CleanupError", err.msg, NULL, NULL);
        return -1;
    }
    return status(R, "Pending", "Cleaned", "Previous content has been removed",
                  json_pack("{s:n}", "assetRef"), json_array())
               ? 0
               : -1;
}

/* --- 2. the bucket --- */

static int bucket_ready(rrun *R)
{
    const char *b = json_string_value(json_object_get(R->src, "bucket"));
    char why[512] = "", msg[700], next[21];
    const json_t *st = json_object_get(R->doc, "status");
    const char *reason = json_string_value(json_object_get(st, "reason"));
    json_int_t count = json_integer_value(json_object_get(st, "retryCount"));
    int64_t wait;
    bool ready = false;
    ad_error err = {0};
    ad_code rc;
    snprintf(R->bucket, sizeof(R->bucket), "%s", b ? b : "");
    if (!R->c->o.buckets) {
        status(R, "Failed", "BucketError", "this server's blob store has no buckets", NULL, NULL);
        return -1;
    }
    rc = ad_buckets_ready(R->c->o.buckets, R->bucket, &ready, why, sizeof(why), &err);
    if (rc && rc != AD_E_NOT_FOUND) {
        status(R, "Failed", "BucketError", err.msg, NULL, NULL);
        return -1;
    }
    if (!rc && ready) return 0;
    if (rc == AD_E_NOT_FOUND)
        snprintf(msg, sizeof(msg), "Bucket %s does not exist", R->bucket);
    else
        snprintf(msg, sizeof(msg), "Bucket %s is not ready%s%s", R->bucket, why[0] ? ": " : "",
                 why);
    if (!reason || strcmp(reason, "BucketNotReady") != 0) count = 0;
    wait = RETRY_BASE << (count < 8 ? count : 8);
    if (wait > RETRY_MAX) wait = RETRY_MAX;
    ad_iso_time((int64_t)time(NULL) + wait, next);
    R->retry_later = true;
    status(R, "Pending", "BucketNotReady", msg,
           json_pack("{s:s,s:I}", "nextRetry", next, "retryCount", (json_int_t)count + 1), NULL);
    return -1;
}

/* --- 3. fetch --- */

static int fetch(rrun *R)
{
    const char *url = json_string_value(json_object_get(R->src, "url"));
    ad_fetch_opts fo = {.allow = R->c->o.source_allow,
                        .ca_file = R->c->o.ca_file,
                        .max_bytes = R->c->o.source_max,
                        .timeout_s = R->c->o.source_timeout,
                        .connect_timeout_s =
                            R->c->o.source_timeout < 30 ? R->c->o.source_timeout : 30};
    ad_fetch_result res = {0};
    ad_error err = {0};
    char msg[700];
    if ((size_t)snprintf(R->fetched, sizeof(R->fetched), "%s/%s.src", R->c->o.spool_dir,
                         R->job->id) >= sizeof(R->fetched)) {
        R->fetched[0] = '\0';
        status(R, "Failed", "PullingFailed", "spool path too long", NULL, NULL);
        return -1;
    }
    if (ad_fetch_to_file(url, R->fetched, &fo, &res, &err)) {
        snprintf(msg, sizeof(msg), "Cannot pull the asset: %s", err.msg);
        status(R, "Failed", "PullingFailed", msg, NULL, NULL);
        return -1;
    }
    snprintf(msg, sizeof(msg), "Asset content has been pulled (%llu bytes)",
             (unsigned long long)res.bytes);
    return status(R, "Pending", "Pulled", msg, NULL, NULL) ? 0 : -1;
}

/* --- 4. the files: one, or a package unpacked, filtered --- */

static rfile *add_file(rrun *R, const char *name)
{
    rfile *f;
    char path[4200];
    if (R->nfiles == R->cap) {
        size_t cap = R->cap ? R->cap * 2 : 16;
        rfile *n = realloc(R->files, cap * sizeof(*n));
        if (!n) return NULL;
        R->files = n;
        R->cap = cap;
    }
    snprintf(path, sizeof(path), "%s/%zu", R->dir, R->nfiles);
    f = &R->files[R->nfiles];
    memset(f, 0, sizeof(*f));
    f->name = strdup(name);
    f->path = strdup(path);
    f->meta = json_object();
    if (!f->name || !f->path || !f->meta) {
        free(f->name);
        free(f->path);
        json_decref(f->meta);
        return NULL;
    }
    R->nfiles++;
    return f;
}

static int make_dir(rrun *R)
{
    if ((size_t)snprintf(R->dir, sizeof(R->dir), "%s/%s.d", R->c->o.spool_dir, R->job->id) >=
            sizeof(R->dir) ||
        (mkdir(R->dir, 0750) != 0 && errno != EEXIST)) {
        R->dir[0] = '\0';
        return -1;
    }
    return 0;
}

/* The file name a single-file source is stored under: the last segment of
 * the URL's path, percent-decoded. */
static int single_name(const char *url, char *out, size_t cap)
{
    const char *p = strstr(url, "://"), *end, *slash;
    long n;
    p = p ? strchr(p + 3, '/') : NULL;
    if (!p) return -1;
    end = p + strcspn(p, "?#");
    for (slash = end; slash > p && slash[-1] != '/'; slash--) {
    }
    if (slash == end || (size_t)(end - slash) >= cap) return -1;
    n = ad_pct_decode(slash, (size_t)(end - slash), out, false);
    if (n <= 0) return -1;
    out[n] = '\0';
    return 0;
}

static int pick_single(rrun *R, const ad_regex *re)
{
    const char *url = json_string_value(json_object_get(R->src, "url"));
    char name[AD_ARCHIVE_NAME_MAX + 1], msg[700];
    ad_error err = {0};
    rfile *f;
    if (single_name(url, name, sizeof(name)) || ad_archive_name_check(name, &err)) {
        snprintf(msg, sizeof(msg), "The URL names no file to store%s%s", err.msg[0] ? ": " : "",
                 err.msg);
        status(R, "Failed", "PullingFailed", msg, NULL, NULL);
        return -1;
    }
    if (!ad_regex_match(re, name)) return 0;
    f = add_file(R, name);
    if (!f || rename(R->fetched, f->path) != 0) {
        snprintf(msg, sizeof(msg), "Cannot keep the pulled file: %s", strerror(errno));
        status(R, "Failed", "PullingFailed", msg, NULL, NULL);
        return -1;
    }
    R->fetched[0] = '\0';
    return 0;
}

/* The entry's name without a leading "./". */
static const char *entry_name(struct archive_entry *e)
{
    const char *n = archive_entry_pathname_utf8(e);
    if (!n) n = archive_entry_pathname(e);
    while (n && n[0] == '.' && n[1] == '/') n += 2;
    return n;
}

typedef struct unpack {
    rrun *R;
    const ad_archive_limits *lim;
    uint64_t entries, declared, produced, size;
    json_t *names;
    char *buf;
    char why[600];
} unpack;

static int unfit(unpack *U, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int unfit(unpack *U, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(U->why, sizeof(U->why), fmt, ap);
    va_end(ap);
    return -1;
}

/* The same rules on an entry as for ZIP uploads (see ingest.c scan_entry). */
static int check_entry(unpack *U, struct archive_entry *e, const char *name)
{
    ad_error err = {0};
    mode_t t = archive_entry_filetype(e);
    char dir[AD_ARCHIVE_NAME_MAX + 2];
    if (ad_archive_check_entries(U->lim, ++U->entries, &err)) return unfit(U, "%s", err.msg);
    if (!name) return unfit(U, "an entry name cannot be decoded");
    if (archive_entry_is_encrypted(e)) return unfit(U, "entry \"%.200s\" is encrypted", name);
    if (t == AE_IFLNK) return unfit(U, "entry \"%.200s\" is a symbolic link", name);
    if (archive_entry_hardlink(e)) return unfit(U, "entry \"%.200s\" is a hard link", name);
    if (t == AE_IFCHR || t == AE_IFBLK) return unfit(U, "entry \"%.200s\" is a device", name);
    if (t != AE_IFREG && t != AE_IFDIR)
        return unfit(U, "entry \"%.200s\" is not a regular file", name);
    if (t == AE_IFDIR) {
        size_t n = strlen(name);
        while (n && name[n - 1] == '/') n--;
        if (n >= sizeof(dir)) return unfit(U, "entry \"%.200s…\": name too long", name);
        memcpy(dir, name, n);
        dir[n] = '\0';
        if (n && ad_archive_name_check(dir, &err)) return unfit(U, "%s", err.msg);
        return 0;
    }
    if (ad_archive_name_check(name, &err)) return unfit(U, "%s", err.msg);
    if (json_object_get(U->names, name)) return unfit(U, "duplicate entry \"%.200s\"", name);
    json_object_set_new(U->names, name, json_true());
    if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0)
        U->declared += (uint64_t)archive_entry_size(e);
    if (U->declared > U->lim->max_unpacked &&
        ad_archive_check_unpacked(U->lim, U->declared, U->size, &err))
        return unfit(U, "%s", err.msg);
    return 0;
}

static int extract(unpack *U, struct archive *a, const char *name)
{
    rfile *f = add_file(U->R, name);
    ad_error err = {0};
    int fd, rc = 0;
    la_ssize_t n;
    if (!f) return unfit(U, "out of memory");
    fd = open(f->path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) return unfit(U, "cannot unpack to the spool directory: %s", strerror(errno));
    while (!rc && (n = archive_read_data(a, U->buf, COPY_BUF)) != 0) {
        if (n < 0) {
            rc = unfit(U, "corrupt archive: entry \"%.200s\": %s", name,
                       archive_error_string(a) ? archive_error_string(a) : "unreadable data");
            break;
        }
        U->produced += (uint64_t)n;
        if (ad_archive_check_unpacked(U->lim, U->produced, U->size, &err)) {
            rc = unfit(U, "%s", err.msg);
            break;
        }
        if (write(fd, U->buf, (size_t)n) != n)
            rc = unfit(U, "cannot unpack to the spool directory: %s", strerror(errno));
        if (!rc && stopped(U->R)) rc = unfit(U, "interrupted by shutdown");
    }
    if (close(fd) != 0 && !rc) rc = unfit(U, "cannot unpack: %s", strerror(errno));
    return rc;
}

static int pick_package(rrun *R, const ad_regex *re)
{
    struct archive *a = archive_read_new();
    struct archive_entry *e;
    struct stat st;
    unpack U = {.R = R, .lim = &R->c->o.limits, .names = json_object(), .buf = malloc(COPY_BUF)};
    char msg[700];
    int r, rc = 0;
    if (!a || !U.names || !U.buf || stat(R->fetched, &st) != 0) {
        rc = unfit(&U, "out of memory");
    } else {
        U.size = (uint64_t)st.st_size;
        archive_read_support_format_zip_seekable(a);
        archive_read_support_format_tar(a);
        archive_read_support_filter_gzip(a);
        archive_read_support_filter_bzip2(a);
        archive_read_support_filter_xz(a);
        if (archive_read_open_filename(a, R->fetched, COPY_BUF) != ARCHIVE_OK)
            rc = unfit(&U, "not a zip or tar archive: %s",
                       archive_error_string(a) ? archive_error_string(a) : "unreadable");
    }
    while (!rc && ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN)) {
        const char *name = entry_name(e);
        rc = check_entry(&U, e, name);
        if (!rc && archive_entry_filetype(e) == AE_IFREG && ad_regex_match(re, name))
            rc = extract(&U, a, name);
    }
    if (!rc && r != ARCHIVE_EOF)
        rc = unfit(&U, "corrupt archive: %s",
                   archive_error_string(a) ? archive_error_string(a) : "unreadable entry");
    if (!rc && U.entries == 0) rc = unfit(&U, "the archive is empty");
    if (!rc) {
        ad_error err = {0};
        if (ad_archive_check_unpacked(U.lim, U.declared, U.size, &err))
            rc = unfit(&U, "%s", err.msg);
    }
    archive_read_free(a);
    json_decref(U.names);
    free(U.buf);
    if (rc) {
        if (stopped(R)) return -1;
        snprintf(msg, sizeof(msg), "Cannot unpack the asset: %s", U.why);
        status(R, "Failed", "PullingFailed", msg, NULL, NULL);
    }
    return rc;
}

static int select_files(rrun *R)
{
    const char *pattern = json_string_value(json_object_get(R->src, "filter"));
    const char *mode = json_string_value(json_object_get(R->src, "mode"));
    ad_regex *re = NULL;
    ad_error err = {0};
    int rc;
    if (make_dir(R)) {
        status(R, "Failed", "PullingFailed", "cannot create a directory in the spool", NULL, NULL);
        return -1;
    }
    if (pattern && ad_regex_compile(pattern, &re, &err)) {
        status(R, "Failed", "PullingFailed", err.msg, NULL, NULL);
        return -1;
    }
    rc = strcmp(mode, "single") == 0 ? pick_single(R, re) : pick_package(R, re);
    ad_regex_free(re);
    return rc;
}

/* --- 5-7. the services --- */

/* A file's content in memory for a service; NULL with why set. */
static char *slurp(const rfile *f, size_t *len, char *why, size_t cap)
{
    struct stat st;
    char *p = NULL;
    size_t got = 0;
    int fd = open(f->path, O_RDONLY | O_CLOEXEC);
    if (fd < 0 || fstat(fd, &st) != 0) {
        snprintf(why, cap, "%s: cannot read it: %s", f->name, strerror(errno));
        if (fd >= 0) close(fd);
        return NULL;
    }
    if ((uint64_t)st.st_size > AD_WEBHOOK_CONTENT_MAX) {
        snprintf(why, cap, "%s: larger than %zu bytes, too large to send to a service", f->name,
                 AD_WEBHOOK_CONTENT_MAX);
        close(fd);
        return NULL;
    }
    p = malloc((size_t)st.st_size + 1);
    while (p && got < (size_t)st.st_size) {
        ssize_t n = read(fd, p + got, (size_t)st.st_size - got);
        if (n <= 0) break;
        got += (size_t)n;
    }
    close(fd);
    if (!p || got != (size_t)st.st_size) {
        free(p);
        snprintf(why, cap, "%s: cannot read it", f->name);
        return NULL;
    }
    p[got] = '\0';
    *len = got;
    return p;
}

/* Appends "; <text>" (or the first text) to a message being built. */
static void note(ad_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void note(ad_buf *b, const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (b->len) ad_buf_puts(b, "; ");
    ad_buf_puts(b, line);
}

/* Resolves entry's URL and compiles its filter. */
static int hook_prepare(rrun *R, const json_t *entry, char *url, size_t cap, ad_regex **re,
                        ad_buf *msg)
{
    const char *pattern = json_string_value(json_object_get(entry, "filter"));
    ad_error err = {0};
    *re = NULL;
    if (ad_source_hook_url(entry, R->c->o.service_url_template, url, cap, &err) ||
        (pattern && ad_regex_compile(pattern, re, &err))) {
        note(msg, "%s", err.msg);
        return -1;
    }
    return 0;
}

static const char *reply_text(const ad_webhook_result *res)
{
    return res->message[0] ? res->message : "no message";
}

static int validate(rrun *R)
{
    const json_t *list = json_object_get(R->src, "validationWebhookService"), *e;
    ad_buf msg;
    bool failed = false, errored = false;
    size_t i, k;
    if (!json_array_size(list)) return 0;
    ad_buf_init(&msg, CTL_MESSAGE_MAX - 1);
    json_array_foreach(list, i, e)
    {
        char url[AD_SOURCE_URL_MAX + 512];
        ad_regex *re;
        if (hook_prepare(R, e, url, sizeof(url), &re, &msg)) {
            errored = true;
            continue;
        }
        for (k = 0; k < R->nfiles && !stopped(R); k++) {
            rfile *f = &R->files[k];
            ad_webhook_result res = {0};
            char why[600];
            size_t len = 0;
            char *content;
            if (!ad_regex_match(re, f->name)) continue;
            content = slurp(f, &len, why, sizeof(why));
            if (!content) {
                note(&msg, "%s", why);
                errored = true;
                continue;
            }
            if (ad_webhook_validate(url, json_object_get(e, "parameters"), content, len, &R->wo,
                                    &res) != AD_OK) {
                res.verdict = AD_HOOK_ERROR;
                if (!res.message[0])
                    snprintf(res.message, sizeof(res.message), "the service could not be called");
            }
            free(content);
            if (res.verdict == AD_HOOK_FAILED) {
                failed = true;
                note(&msg, "%s: %s", f->name, reply_text(&res));
            } else if (res.verdict == AD_HOOK_ERROR) {
                errored = true;
                note(&msg, "%s: %s", f->name, reply_text(&res));
            }
        }
        ad_regex_free(re);
    }
    if (stopped(R)) {
        ad_buf_free(&msg);
        return -1;
    }
    if (failed || errored) {
        status(R, "Failed", failed ? "ValidationFailed" : "ValidationError",
               msg.data ? msg.data : "validation failed", NULL, NULL);
        ad_buf_free(&msg);
        return -1;
    }
    ad_buf_free(&msg);
    return 0;
}

static int write_file(const rfile *f, const char *p, size_t n)
{
    int fd = open(f->path, O_WRONLY | O_TRUNC | O_CLOEXEC);
    size_t done = 0;
    if (fd < 0) return -1;
    while (done < n) {
        ssize_t w = write(fd, p + done, n - done);
        if (w <= 0) break;
        done += (size_t)w;
    }
    return close(fd) == 0 && done == n ? 0 : -1;
}

static int mutate(rrun *R)
{
    const json_t *list = json_object_get(R->src, "mutationWebhookService"), *e;
    ad_buf msg;
    size_t i, k;
    const char *reason = NULL;
    if (!json_array_size(list)) return 0;
    ad_buf_init(&msg, CTL_MESSAGE_MAX - 1);
    json_array_foreach(list, i, e)
    {
        char url[AD_SOURCE_URL_MAX + 512];
        ad_regex *re;
        if (reason) break;
        if (hook_prepare(R, e, url, sizeof(url), &re, &msg)) {
            reason = "MutationError";
            break;
        }
        for (k = 0; k < R->nfiles && !reason && !stopped(R); k++) {
            rfile *f = &R->files[k];
            ad_webhook_result res = {0};
            char why[600], *content, *out = NULL;
            size_t len = 0, out_len = 0;
            if (!ad_regex_match(re, f->name)) continue;
            content = slurp(f, &len, why, sizeof(why));
            if (!content) {
                note(&msg, "%s", why);
                reason = "MutationError";
                break;
            }
            if (ad_webhook_mutate(url, json_object_get(e, "parameters"), content, len, &R->wo, &res,
                                  &out, &out_len) != AD_OK)
                res.verdict = AD_HOOK_ERROR;
            free(content);
            if (res.verdict == AD_HOOK_OK && out && write_file(f, out, out_len)) {
                res.verdict = AD_HOOK_ERROR;
                snprintf(res.message, sizeof(res.message), "cannot write the mutated file");
            }
            free(out);
            if (res.verdict != AD_HOOK_OK) {
                note(&msg, "%s: %s", f->name, reply_text(&res));
                reason = res.verdict == AD_HOOK_FAILED ? "MutationFailed" : "MutationError";
            }
        }
        ad_regex_free(re);
    }
    if (stopped(R) || reason) {
        if (reason && !stopped(R))
            status(R, "Failed", reason, msg.data ? msg.data : "mutation failed", NULL, NULL);
        ad_buf_free(&msg);
        return -1;
    }
    ad_buf_free(&msg);
    return status(R, "Pending", "Mutated", "Asset content has been mutated", NULL, NULL) ? 0 : -1;
}

static int metadata(rrun *R)
{
    const json_t *list = json_object_get(R->src, "metadataWebhookService"), *e;
    ad_buf msg;
    size_t i, k;
    bool bad = false;
    if (!json_array_size(list)) return 0;
    ad_buf_init(&msg, CTL_MESSAGE_MAX - 1);
    json_array_foreach(list, i, e)
    {
        char url[AD_SOURCE_URL_MAX + 512];
        ad_regex *re;
        json_t *send = json_object(), *got = NULL;
        ad_webhook_result res = {0};
        if (bad || !send || hook_prepare(R, e, url, sizeof(url), &re, &msg)) {
            json_decref(send);
            bad = true;
            break;
        }
        for (k = 0; k < R->nfiles && !bad; k++) {
            char why[600], *content;
            size_t len = 0;
            json_t *s;
            if (!ad_regex_match(re, R->files[k].name)) continue;
            content = slurp(&R->files[k], &len, why, sizeof(why));
            if (!content) {
                note(&msg, "%s", why);
                bad = true;
                break;
            }
            s = json_stringn(content, len);
            free(content);
            if (!s) {
                note(&msg, "%s: not UTF-8 text, cannot be sent to a service", R->files[k].name);
                bad = true;
                break;
            }
            json_object_set_new(send, R->files[k].name, s);
        }
        ad_regex_free(re);
        if (!bad && json_object_size(send)) {
            if (ad_webhook_metadata(url, send, &R->wo, &res, &got) != AD_OK ||
                res.verdict != AD_HOOK_OK) {
                note(&msg, "%s", reply_text(&res));
                bad = true;
            }
            for (k = 0; !bad && k < R->nfiles; k++) {
                json_t *m = json_object_get(got, R->files[k].name);
                if (json_is_object(m))
                    json_object_update(R->files[k].meta, m);
                else if (m && !json_is_null(m))
                    json_object_set(R->files[k].meta, "value", m);
            }
        }
        json_decref(got);
        json_decref(send);
    }
    if (bad) {
        status(R, "Failed", "MetadataExtractionFailed",
               msg.data ? msg.data : "metadata extraction failed", NULL, NULL);
        ad_buf_free(&msg);
        return -1;
    }
    ad_buf_free(&msg);
    return status(R, "Pending", "MetadataExtracted", "Metadata has been extracted", NULL, NULL)
               ? 0
               : -1;
}

/* --- 8. store --- */

typedef struct file_src {
    rrun *R;
    int fd;
} file_src;

static long pull_file(void *ctx, char *buf, size_t cap)
{
    file_src *fs = ctx;
    for (;;) {
        ssize_t n = read(fs->fd, buf, cap);
        if (n < 0 && errno == EINTR) continue;
        return (long)n;
    }
}

static int block_file(void *ctx, size_t n)
{
    (void)n;
    return stopped(((file_src *)ctx)->R) ? -1 : 0;
}

static int store(rrun *R)
{
    ad_blob *blobs = NULL;
    ad_hashpipe *hp = NULL;
    ad_error err = {0};
    char files_url[2048], msg[900];
    ad_buf base;
    json_t *entries = json_array(), *reffiles = json_array();
    size_t k;
    int rc = 0;
    ad_buf_init(&base, SIZE_MAX);
    if (!entries || !reffiles) rc = -1, snprintf(msg, sizeof(msg), "out of memory");
    if (!rc &&
        (ad_buckets_store(R->c->o.buckets, R->bucket, &blobs, &err) ||
         ad_buckets_files_url(R->c->o.buckets, R->bucket, files_url, sizeof(files_url), &err) ||
         ad_hashpipe_new(&hp, &err)))
        rc = -1, snprintf(msg, sizeof(msg), "%s", err.msg);
    if (!rc && (ad_buf_puts(&base, files_url) || ad_buf_puts(&base, "/") ||
                ad_url_path_append(&base, R->id)))
        rc = -1, snprintf(msg, sizeof(msg), "out of memory");
    for (k = 0; !rc && k < R->nfiles; k++) {
        rfile *f = &R->files[k];
        char key[AD_BLOB_KEY_MAX + 1], *url;
        file_src fs = {R, -1};
        ad_stage st = {.jobs = R->c->o.jobs,
                       .job_id = R->job->id,
                       .blobs = blobs,
                       .bucket = R->bucket,
                       .magic = R->magic,
                       .hp = hp,
                       .pull = pull_file,
                       .block = block_file,
                       .ctx = &fs};
        json_t *entry, *md;
        if (!still_current(R) || stopped(R)) {
            rc = -1;
            break;
        }
        if ((size_t)snprintf(key, sizeof(key), "%s/%s", R->id, f->name) >= sizeof(key) ||
            ad_blob_key_check(key, &err)) {
            rc = -1, snprintf(msg, sizeof(msg), "%s: cannot be stored under that name", f->name);
            break;
        }
        fs.fd = open(f->path, O_RDONLY | O_CLOEXEC);
        if (fs.fd < 0) {
            rc = -1, snprintf(msg, sizeof(msg), "%s: %s", f->name, strerror(errno));
            break;
        }
        if (ad_stage_file(&st, key, &f->sum, &err)) {
            close(fs.fd);
            rc = -1;
            if (!stopped(R)) snprintf(msg, sizeof(msg), "%s: %s", f->name, err.msg);
            break;
        }
        close(fs.fd);
        url = ad_stage_file_url(base.data, f->name);
        entry = url ? ad_stage_file_entry(NULL, f->name, &f->sum, url) : NULL;
        free(url);
        md = entry ? json_object_get(entry, "asset_file_metadata") : NULL;
        if (md) json_object_update_missing(md, f->meta);
        if (!entry || json_array_append_new(entries, entry) ||
            json_array_append_new(reffiles,
                                  json_pack("{s:s,s:O}", "name", f->name, "metadata", f->meta))) {
            rc = -1, snprintf(msg, sizeof(msg), "out of memory");
            break;
        }
    }
    ad_hashpipe_free(hp);
    if (rc) {
        if (!R->stale && !stopped(R)) status(R, "Failed", "UploadFailed", msg, NULL, NULL);
        json_decref(entries);
        json_decref(reffiles);
        ad_buf_free(&base);
        return -1;
    }
    rc = status(R, "Ready", "Uploaded", "Asset content has been uploaded",
                json_pack("{s:{s:s,s:s,s:o}}", "assetRef", "baseUrl", base.data, "bucket",
                          R->bucket, "files", reffiles),
                entries)
             ? 0
             : -1;
    ad_buf_free(&base);
    return rc;
}

/* --- one run --- */

/* Whether a run of an older generation of this asset is still going (on
 * any worker sharing the job store): it writes the same keys, so this one
 * waits until that run has seen it is stale and removed what it stored. */
static bool older_run_active(rrun *R)
{
    char(*ids)[AD_JOB_ID_MAX] = malloc(1024 * sizeof(*ids));
    size_t n = 0, i, idlen = strlen(R->id);
    bool found = false;
    if (!ids) return false;
    if (R->c->o.jobs->ops->list(R->c->o.jobs, AD_JOB_PROCESSING, ids, 1024, &n, NULL)) n = 0;
    for (i = 0; i < n && !found; i++) {
        ad_job j = {0};
        if (strcmp(ids[i], R->job->id) == 0 ||
            R->c->o.jobs->ops->get(R->c->o.jobs, ids[i], &j, NULL) != AD_OK)
            continue;
        if (ad_controller_is_job(&j)) {
            const char *a = j.source + sizeof(AD_ASSET_JOB_PREFIX) - 1;
            found = strncmp(a, R->id, idlen) == 0 && a[idlen] == '#' &&
                    strtoll(a + idlen + 1, NULL, 10) < R->gen;
        }
        ad_job_clear(&j);
    }
    free(ids);
    return found;
}

static int parse_job(rrun *R)
{
    const char *a = R->job->source + sizeof(AD_ASSET_JOB_PREFIX) - 1;
    const char *hash = strrchr(a, '#');
    char *end;
    size_t n = hash ? (size_t)(hash - a) : 0;
    if (!hash || n == 0 || n >= sizeof(R->id)) return -1;
    memcpy(R->id, a, n);
    R->id[n] = '\0';
    R->gen = strtoll(hash + 1, &end, 10);
    return *end || R->gen < 1 ? -1 : 0;
}

/* Nothing to do: a newer generation (its own job runs it), or this one
 * done (Ready, Failed), or waiting for its retry time. */
static bool nothing_to_do(rrun *R)
{
    const json_t *st = json_object_get(R->doc, "status");
    const char *phase = json_string_value(json_object_get(st, "phase"));
    const char *reason = json_string_value(json_object_get(st, "reason"));
    json_int_t obs = json_integer_value(json_object_get(st, "observedGeneration"));
    if (!json_is_object(R->src)) return true;
    if (json_integer_value(json_object_get(R->doc, "generation")) != R->gen) return true;
    if (!phase || obs != R->gen) return false;
    if (strcmp(phase, "Ready") == 0 || strcmp(phase, "Failed") == 0) return true;
    if (reason && strcmp(reason, "BucketNotReady") == 0) {
        struct tm tm = {0};
        const char *next = json_string_value(json_object_get(st, "nextRetry"));
        const char *end = next ? strptime(next, "%Y-%m-%dT%H:%M:%SZ", &tm) : NULL;
        return end && !*end && timegm(&tm) > time(NULL);
    }
    return false;
}

static void run_free(rrun *R)
{
    size_t k;
    for (k = 0; k < R->nfiles; k++) {
        unlink(R->files[k].path);
        free(R->files[k].name);
        free(R->files[k].path);
        json_decref(R->files[k].meta);
    }
    free(R->files);
    if (R->fetched[0]) unlink(R->fetched);
    if (R->dir[0]) rmdir(R->dir);
    json_decref(R->doc);
    json_decref(R->src);
}

static int run_steps(rrun *R)
{
    ad_error err = {0};
    if (parse_job(R)) {
        snprintf(R->reason, sizeof(R->reason), "malformed job source");
        R->failed = true;
        return -1;
    }
    if (ctl_read(R->c, R->id, &R->doc, &R->rev, &err)) {
        if (err.code == AD_E_NOT_FOUND) return 0; /* deleted: nothing to do */
        snprintf(R->reason, sizeof(R->reason), "cannot read the asset: %s", err.msg);
        R->failed = true;
        return -1;
    }
    R->src = json_deep_copy(json_object_get(R->doc, "source"));
    if (nothing_to_do(R)) return 0;
    if (older_run_active(R)) {
        /* back to the front of the queue in a moment */
        sleep(1);
        R->interrupted = true;
        return -1;
    }
    if (clean(R) || bucket_ready(R) || stopped(R) || fetch(R) || stopped(R) || select_files(R) ||
        stopped(R) || validate(R) || mutate(R) || metadata(R) || stopped(R))
        return -1;
    return store(R);
}

ad_job_state ad_controller_run(ad_controller *c, ad_job *job, const atomic_bool *stop, void *magic)
{
    rrun R = {.c = c, .job = job, .stop = stop, .magic = magic};
    ad_job_state state;
    ad_error err = {0};
    int rc;
    R.wo.allow = c->o.webhook_allow;
    R.wo.ca_file = c->o.ca_file;
    R.wo.timeout_s = c->o.webhook_timeout;
    R.wo.max_response = c->o.webhook_max_response;
    rc = run_steps(&R);
    if (rc && (R.interrupted || R.stale || R.failed)) {
        /* nothing of a run that did not end Ready stays in the bucket */
        ctl_remove_recorded(c, job->id);
    } else if (c->o.jobs->ops->clear_keys(c->o.jobs, job->id, &err)) {
        ad_log(AD_LOG_WARN, "msg=\"cannot forget keys\" job=%s", job->id);
    }
    state = R.interrupted ? AD_JOB_QUEUED : R.failed ? AD_JOB_FAILED : AD_JOB_SUCCESS;
    if (c->o.jobs->ops->finish(c->o.jobs, job->id, state, R.failed ? R.reason : NULL, &err))
        ad_log(AD_LOG_ERROR, "msg=\"cannot record a job's end\" job=%s error=\"%s\"", job->id,
               err.msg);
    run_free(&R);
    return state;
}
