/*
 * ingest.c — the ingest pipeline of ZIP uploads (see ingest.h).
 *
 * Each job reads its spooled archive twice with libarchive's seekable zip
 * reader (it follows the central directory, so data descriptors, zip64 and
 * entries written by any tool read the same way):
 *
 *   1. scan: headers only — entry count, names, types, encryption,
 *      duplicates, declared sizes against the limits — and asset.json read
 *      (at most 1 MiB) and checked. Nothing is stored if this fails.
 *   2. store: each regular file streamed in blocks of the hash pipe
 *      (core/hashpipe.h): SHA-256 on a second thread while this one runs
 *      CRC-32 (zlib) and libmagic (first block) and writes the block to
 *      the blob store. libarchive's own CRC check is off in this pass, so
 *      each byte goes through CRC-32 once: the result, and the size, are
 *      compared with the entry's central directory record (core/zip_cd.h),
 *      found by where the entry's data starts. Every key is recorded in
 *      the job store before it is written, so a crash leaves a list of
 *      exactly what to remove. The bytes really produced are counted
 *      against the limits again (a declared size can lie). The spool is
 *      dropped from the page cache behind the reads (see drop_behind).
 *
 * A job that names a bucket (ad_job.bucket) stores its files in that
 * bucket's store (ad_buckets_store) instead of the main one, and their
 * asset_file_url is <public_url>/buckets/<name>/files/<upload_id>/<path>.
 *
 * Then the asset is registered through ad_registry_create. Any failure
 * removes every object the job stored. Memory per job is the scan buffer,
 * the hash pipe's blocks, the list of names, the directory table (one
 * small record per entry) and the files[] JSON: it does not grow with
 * file sizes.
 */
#include "core/ingest.h"

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <locale.h>
#include <magic.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <zlib.h>

#include "core/archive_rules.h"
#include "core/hashpipe.h"
#include "core/stage_store.h"
#include "core/model.h"
#include "core/zip_cd.h"
#include "core/zipspec.h"
#include "util/buf.h"
#include "util/json.h"
#include "util/log.h"

#define PROGRESS_EVERY ((uint64_t)16 << 20) /* bytes between progress records */
#define PROGRESS_MS    250                  /* or milliseconds */
#define EXPIRE_EVERY   60                   /* seconds between expiry sweeps */
#define DROP_STEP      ((uint64_t)8 << 20)  /* spool bytes between two cache drops */

struct ad_ingest {
    ad_ingest_opts o;
    atomic_bool stop;
    pthread_t *threads;
    unsigned nthreads;
};

/* The state of one job while it runs. */
typedef struct run {
    const ad_ingest_opts *o;
    const atomic_bool *stop;
    magic_t magic;
    ad_job *job;
    char *buf;
    char reason[AD_JOB_REASON_MAX];
    bool interrupted;
    json_t *meta;  /* asset.json */
    json_t *given; /* asset_file_id → entry of asset.json's files */
    char **names;  /* every entry name, for duplicates */
    size_t nnames, cap;
    uint64_t nentries;
    uint64_t declared; /* sum of declared sizes */
    uint64_t spool_size;
    uint64_t unpacked; /* bytes really produced */
    uint64_t last_progress;
    int64_t last_progress_ms;
    json_t *files;  /* files[] built so far */
    ad_zip_dir dir; /* the central directory, by data offset */
    ad_hashpipe *hp;
    int spool_fd;           /* for dropping what was read from the cache */
    uint64_t dropped;       /* spool bytes dropped so far */
    const char *src;        /* the archive on local disk: the job's source, or fetched */
    ad_blob *dest;          /* where the files go: the main store or the job's bucket */
    char fetched[PATH_MAX]; /* a staged source's local copy ("" if none) */
    ad_spec_list spec;      /* what the upload stored while it arrived (core/zipspec.h) */
    size_t adopted;         /* of those, files the store pass took as they are */
} run;

static int fail(run *R, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Records the reason (the first one wins) and returns -1. */
static int fail(run *R, const char *fmt, ...)
{
    va_list ap;
    if (R->reason[0]) return -1;
    va_start(ap, fmt);
    vsnprintf(R->reason, sizeof(R->reason), fmt, ap);
    va_end(ap);
    return -1;
}

/* The entry's name, without the leading "./" some tools write (bsdtar -C
 * dir .). */
static const char *entry_name(struct archive_entry *e)
{
    const char *n = archive_entry_pathname_utf8(e);
    if (!n) n = archive_entry_pathname(e);
    while (n && n[0] == '.' && n[1] == '/') n += 2;
    return n;
}

/* For the store pass (store set), libarchive leaves the CRC-32 check to
 * us (see check_entry) and reads in larger blocks. */
static int open_archive(run *R, bool store, struct archive **out)
{
    struct archive *a = archive_read_new();
    if (!a) return fail(R, "out of memory opening the archive");
    archive_read_support_format_zip_seekable(a);
    if (store && archive_read_set_options(a, "zip:ignorecrc32") != ARCHIVE_OK) {
        archive_read_free(a);
        return fail(R, "libarchive has no zip:ignorecrc32 option");
    }
    if (archive_read_open_filename(a, R->src, store ? AD_INGEST_READ : AD_INGEST_BUF) !=
        ARCHIVE_OK) {
        fail(R, "corrupt archive: %s", archive_error_string(a) ? archive_error_string(a) : "?");
        archive_read_free(a);
        return -1;
    }
    *out = a;
    return 0;
}

static int add_name(run *R, const char *name)
{
    if (R->nnames == R->cap) {
        size_t cap = R->cap ? R->cap * 2 : 64;
        char **n = realloc(R->names, cap * sizeof(*n));
        if (!n) return fail(R, "out of memory listing entries");
        R->names = n;
        R->cap = cap;
    }
    R->names[R->nnames] = strdup(name);
    if (!R->names[R->nnames]) return fail(R, "out of memory listing entries");
    R->nnames++;
    return 0;
}

/* --- pass 1: scan --- */

static int read_meta(run *R, struct archive *a)
{
    ad_buf b;
    ad_error err = {0};
    la_ssize_t n;
    int rc = 0;
    if (R->meta) return fail(R, "duplicate entry \"asset.json\"");
    ad_buf_init(&b, AD_INGEST_META_MAX);
    while ((n = archive_read_data(a, R->buf, AD_INGEST_BUF)) > 0) {
        ad_code c = ad_buf_append(&b, R->buf, (size_t)n);
        if (c == AD_E_TOO_LARGE) rc = fail(R, "asset.json is over the limit of 1 MiB");
        if (c) rc = fail(R, "out of memory reading asset.json");
        if (rc) break;
    }
    if (!rc && n < 0) rc = fail(R, "corrupt archive: asset.json: %s", archive_error_string(a));
    if (!rc && ad_json_parse(b.data ? b.data : "", b.len, AD_JSON_MAX_DEPTH, &R->meta, &err))
        rc = fail(R, "asset.json is not valid JSON: %s", err.msg);
    if (!rc && !json_is_object(R->meta)) rc = fail(R, "asset.json must hold a JSON object");
    ad_buf_free(&b);
    return rc;
}

static int check_type(run *R, struct archive_entry *e, const char *name)
{
    mode_t t = archive_entry_filetype(e);
    if (t == AE_IFLNK) return fail(R, "entry \"%.200s\" is a symbolic link", name);
    if (t == AE_IFCHR || t == AE_IFBLK) return fail(R, "entry \"%.200s\" is a device", name);
    if (t != AE_IFREG && t != AE_IFDIR)
        return fail(R, "entry \"%.200s\" is not a regular file", name);
    return 0;
}

static int check_unpacked(run *R, uint64_t unpacked);

/* An entry the upload stored while it arrived (core/zipspec.h) is kept
 * only if the central directory agrees on everything that was stored:
 * where its data starts, its name, stored method, size and CRC-32. Its
 * data exists only as that object (the spool has a hole there), so any
 * disagreement fails the job. libarchive has just read the local header:
 * its position is where the entry's data starts. */
static int adopt(run *R, struct archive *a, const char *name)
{
    uint64_t at = (uint64_t)archive_filter_bytes(a, 0);
    ad_spec_file *sp = R->spec.n ? ad_spec_list_find(&R->spec, at) : NULL;
    const ad_zip_entry *ze;
    if (!sp) return 0;
    ze = ad_zip_dir_find(&R->dir, at);
    if (!ze || ze->method != 0 || ze->csize != sp->size || ze->usize != sp->size ||
        ze->crc != sp->crc || strcmp(name, sp->name) != 0 || sp->adopted)
        return fail(R,
                    "corrupt archive: entry \"%.200s\" does not match its local header (name, "
                    "method, size or CRC-32)",
                    name);
    sp->adopted = true;
    return 0;
}

/* Every entry the upload stored must have been adopted by the scan. */
static int check_adopted(run *R)
{
    size_t i;
    for (i = 0; i < R->spec.n; i++) {
        const ad_spec_file *f = &R->spec.f[i];
        if (!f->complete)
            return fail(R, "corrupt archive: truncated inside entry \"%.200s\"", f->name);
        if (!f->adopted)
            return fail(R,
                        "corrupt archive: the local header at offset %llu (\"%.200s\") is not "
                        "in the central directory",
                        (unsigned long long)f->header_off, f->name);
    }
    return 0;
}

static int scan_entry(run *R, struct archive *a, struct archive_entry *e)
{
    const char *name = entry_name(e);
    char dir[AD_ARCHIVE_NAME_MAX + 2];
    ad_error err = {0};
    ad_archive_limits lim = {R->o->max_entries, R->o->max_unpacked, R->o->max_ratio};
    if (ad_archive_check_entries(&lim, ++R->nentries, &err)) return fail(R, "%s", err.msg);
    if (!name) return fail(R, "an entry name cannot be decoded");
    if (archive_entry_is_encrypted(e)) return fail(R, "entry \"%.200s\" is encrypted", name);
    if (check_type(R, e, name)) return -1;
    if (archive_entry_filetype(e) == AE_IFDIR) {
        size_t n = strlen(name);
        while (n && name[n - 1] == '/') n--;
        if (n >= sizeof(dir)) return fail(R, "entry \"%.200s…\": name too long", name);
        memcpy(dir, name, n);
        dir[n] = '\0';
        if (n && ad_archive_name_check(dir, &err)) return fail(R, "%s", err.msg);
        return 0;
    }
    if (ad_archive_name_check(name, &err)) return fail(R, "%s", err.msg);
    if (add_name(R, name)) return -1;
    if (adopt(R, a, name)) return -1;
    if (strcmp(name, "asset.json") == 0) return read_meta(R, a);
    if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0)
        R->declared += (uint64_t)archive_entry_size(e);
    if (R->declared > R->o->max_unpacked) return check_unpacked(R, R->declared);
    return 0;
}

static int cmp_names(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static int check_duplicates(run *R)
{
    size_t i;
    char **sorted = malloc((R->nnames ? R->nnames : 1) * sizeof(*sorted));
    int rc = 0;
    if (!sorted) return fail(R, "out of memory checking names");
    memcpy(sorted, R->names, R->nnames * sizeof(*sorted));
    qsort(sorted, R->nnames, sizeof(*sorted), cmp_names);
    for (i = 1; i < R->nnames && !rc; i++)
        if (strcmp(sorted[i - 1], sorted[i]) == 0)
            rc = fail(R, "duplicate entry \"%.200s\"", sorted[i]);
    free(sorted);
    return rc;
}

/* The archive limits on bytes unpacked (declared, or really produced):
 * the total and the ratio, shared with packages pulled from a URL. */
static int check_unpacked(run *R, uint64_t unpacked)
{
    ad_archive_limits l = {R->o->max_entries, R->o->max_unpacked, R->o->max_ratio};
    ad_error err = {0};
    if (ad_archive_check_unpacked(&l, unpacked, R->spool_size, &err)) return fail(R, "%s", err.msg);
    return 0;
}

/* Indexes asset.json's files by asset_file_id. */
static int index_given(run *R)
{
    json_t *files = json_object_get(R->meta, "files"), *f;
    size_t i;
    R->given = json_object();
    if (!R->given) return fail(R, "out of memory");
    json_array_foreach(files, i, f)
    {
        const char *id = json_string_value(json_object_get(f, "asset_file_id"));
        if (id) json_object_set(R->given, id, f);
    }
    return 0;
}

/* Validates asset.json with its files left out (they are built later), so a
 * bad document fails before anything is stored. */
static int check_meta(run *R)
{
    json_t *copy = json_copy(R->meta);
    ad_error err = {0};
    const char *id;
    ad_doc doc = {0};
    int rc = 0;
    if (!copy) return fail(R, "out of memory");
    if (json_object_get(copy, "source")) {
        json_decref(copy);
        return fail(R, "asset.json failed validation: source: an uploaded asset cannot have a "
                       "source (create it with POST /assets)");
    }
    json_object_set_new(copy, "files", json_array());
    json_object_set_new(copy, "asset_file_ids", json_array());
    if (ad_asset_validate(copy, &err)) rc = fail(R, "asset.json failed validation: %s", err.msg);
    json_decref(copy);
    if (rc) return rc;
    id = json_string_value(json_object_get(R->meta, "asset_id"));
    if (id && !R->job->asset_id) R->job->asset_id = strdup(id); /* shown by the status */
    if (id && ad_registry_get(R->o->reg, id, &doc, &err) == AD_OK)
        rc = fail(R, "asset_id \"%.200s\" already exists", id);
    ad_doc_free(&doc);
    return rc;
}

/* Reads the archive from the start and hands every entry to fn; -1 on the
 * first failure (fn's, or a corrupt archive, recorded with fail()). */
static int for_each_entry(run *R, bool store,
                          int (*fn)(run *, struct archive *, struct archive_entry *))
{
    struct archive *a = NULL;
    struct archive_entry *e;
    int r, rc = 0;
    if (open_archive(R, store, &a)) return -1;
    while ((r = archive_read_next_header(a, &e)) == ARCHIVE_OK || r == ARCHIVE_WARN) {
        if (fn(R, a, e)) {
            rc = -1;
            break;
        }
    }
    if (!rc && r != ARCHIVE_EOF)
        rc = fail(R, "corrupt archive: %s",
                  archive_error_string(a) ? archive_error_string(a) : "unreadable entry");
    archive_read_free(a);
    return rc;
}

static int scan(run *R)
{
    int rc = for_each_entry(R, false, scan_entry);
    if (!rc && !R->meta) rc = fail(R, "asset.json missing at the root of the archive");
    if (!rc) rc = check_duplicates(R);
    if (!rc) rc = check_adopted(R);
    if (!rc) rc = check_unpacked(R, R->declared);
    if (!rc) rc = index_given(R);
    if (!rc) rc = check_meta(R);
    return rc;
}

/* --- pass 2: store --- */

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Writes progress to the job store when forced, or when PROGRESS_EVERY
 * bytes or PROGRESS_MS have passed since the last record. */
static void record_progress(run *R, bool force)
{
    ad_error err = {0};
    int64_t t = 0;
    if (!force && R->job->bytes_done - R->last_progress < PROGRESS_EVERY &&
        (t = now_ms()) - R->last_progress_ms < PROGRESS_MS)
        return;
    R->last_progress = R->job->bytes_done;
    R->last_progress_ms = t ? t : now_ms();
    if (R->o->jobs->ops->progress(R->o->jobs, R->job, &err))
        ad_log(AD_LOG_WARN, "msg=\"cannot record progress\" upload=%s error=\"%s\"", R->job->id,
               err.msg);
}

/* The stage's block callback: the limits on bytes really produced, and
 * progress, for each block of an entry before it is written. */
static int take_block(run *R, size_t n)
{
    if (atomic_load(R->stop)) {
        R->interrupted = true;
        return fail(R, "interrupted by shutdown");
    }
    R->unpacked += n;
    R->job->bytes_done += n;
    if (check_unpacked(R, R->unpacked)) return -1;
    record_progress(R, false);
    return 0;
}

/* Drops from the page cache the spool bytes libarchive has read, every
 * DROP_STEP bytes: a few megabytes of pages are then recycled instead of
 * gigabytes of new ones touched (see zip_upload.c's spool_writeback). A
 * job run again reads the spool back from the disk. */
static void drop_behind(run *R, struct archive *a)
{
    la_int64_t pos = archive_filter_bytes(a, 0);
    if (R->spool_fd < 0 || pos < 0 || (uint64_t)pos < R->dropped + DROP_STEP) return;
    posix_fadvise(R->spool_fd, (off_t)R->dropped, (off_t)((uint64_t)pos - R->dropped),
                  POSIX_FADV_DONTNEED);
    R->dropped = (uint64_t)pos;
}

/* The entry being stored: what the stage's callbacks read. */
typedef struct entry_src {
    run *R;
    struct archive *a;
    const ad_zip_entry *ze;
    const char *name;
} entry_src;

/* The stage's pull callback: the entry's next bytes from libarchive. */
static long pull_entry(void *ctx, char *buf, size_t cap)
{
    entry_src *es = ctx;
    la_ssize_t n = archive_read_data(es->a, buf, cap);
    drop_behind(es->R, es->a);
    if (n < 0)
        return fail(es->R, "corrupt archive: entry \"%.200s\": %s", es->name,
                    archive_error_string(es->a) ? archive_error_string(es->a) : "unreadable data");
    return (long)n;
}

static int block_entry(void *ctx, size_t n)
{
    return take_block(((entry_src *)ctx)->R, n);
}

/* libarchive's own CRC check is off in the store pass (zip:ignorecrc32) so
 * each byte goes through CRC-32 once, in the stage: its result and the
 * size are compared here with the central directory. */
static int check_entry(void *ctx, const ad_stage_sum *s)
{
    entry_src *es = ctx;
    if (s->size != es->ze->usize)
        return fail(es->R,
                    "corrupt archive: entry \"%.200s\": %llu bytes, the central directory says "
                    "%llu",
                    es->name, (unsigned long long)s->size, (unsigned long long)es->ze->usize);
    if (s->crc != es->ze->crc)
        return fail(es->R,
                    "corrupt archive: entry \"%.200s\": bad CRC-32 (%08lx, the archive says %08lx)",
                    es->name, (unsigned long)s->crc, (unsigned long)es->ze->crc);
    return 0;
}

/* The files[] entry of a stored file: asset.json's entry for it, if any,
 * completed with what was measured. */
static int add_file_entry(run *R, const char *name, const ad_stage_sum *s)
{
    json_t *given = json_object_get(R->given, name), *e;
    char base[AD_JOB_ID_MAX + 2048], *url;
    size_t n = strlen(R->o->public_url);
    while (n && R->o->public_url[n - 1] == '/') n--;
    /* <public_url>[/buckets/<bucket>]/files/<upload_id>/<path> */
    if ((size_t)snprintf(base, sizeof(base), "%.*s%s%s/files/%s", (int)n, R->o->public_url,
                         R->job->bucket ? "/buckets/" : "", R->job->bucket ? R->job->bucket : "",
                         R->job->id) >= sizeof(base))
        return fail(R, "public URL too long");
    url = ad_stage_file_url(base, name);
    e = url ? ad_stage_file_entry(given, name, s, url) : NULL;
    free(url);
    if (!e || json_array_append_new(R->files, e)) return fail(R, "out of memory");
    if (given) json_object_del(R->given, name);
    return 0;
}

static int write_entry(run *R, struct archive *a, const ad_zip_entry *ze, const char *key,
                       const char *name)
{
    entry_src es = {R, a, ze, name};
    ad_stage st = {.jobs = R->o->jobs,
                   .job_id = R->job->id,
                   .blobs = R->dest, /* the main store or the job's bucket */
                   .magic = R->magic,
                   .hp = R->hp,
                   .pull = pull_entry,
                   .block = block_entry,
                   .done = check_entry,
                   .ctx = &es};
    ad_stage_sum s;
    ad_error err = {0};
    if (ad_stage_file(&st, key, &s, &err)) return fail(R, "%s", err.msg);
    return add_file_entry(R, name, &s);
}

/* An entry stored while the upload arrived and adopted by the scan: its
 * object is in place, its sums are the manifest's (libarchive skips its
 * data, which the spool does not have). */
static int adopted_entry(run *R, const ad_spec_file *sp)
{
    ad_stage_sum s = {.crc = sp->crc, .size = sp->size};
    memcpy(s.sha256, sp->sha256, sizeof(s.sha256));
    snprintf(s.mime, sizeof(s.mime), "%s", sp->mime);
    if (take_block(R, sp->size)) return -1; /* limits and progress, as if read */
    R->adopted++;
    return add_file_entry(R, sp->name, &s);
}

static int store_entry(run *R, struct archive *a, struct archive_entry *e)
{
    const char *name = entry_name(e);
    char key[AD_BLOB_KEY_MAX + 1];
    ad_error err = {0};
    const ad_zip_entry *ze;
    const ad_spec_file *sp;
    if (archive_entry_filetype(e) != AE_IFREG || !name || strcmp(name, "asset.json") == 0) return 0;
    if ((size_t)snprintf(key, sizeof(key), "%s/%s", R->job->id, name) >= sizeof(key) ||
        ad_blob_key_check(key, &err))
        return fail(R, "entry \"%.200s\": cannot be stored under that name", name);
    /* libarchive has just read the local header: its position is the
     * first byte of the entry's data, which names the directory record */
    ze = ad_zip_dir_find(&R->dir, (uint64_t)archive_filter_bytes(a, 0));
    if (!ze)
        return fail(R,
                    "corrupt archive: entry \"%.200s\" is not where the central directory "
                    "puts it",
                    name);
    sp = R->spec.n ? ad_spec_list_find(&R->spec, ze->data_off) : NULL;
    if (sp && sp->adopted) { /* the scan matched its name, size and CRC-32 */
        if (adopted_entry(R, sp)) return -1;
    } else if (write_entry(R, a, ze, key, name)) {
        return -1;
    }
    R->job->files_done++;
    record_progress(R, false);
    return 0;
}

static int store(run *R)
{
    ad_error err = {0};
    R->job->files_total = R->nnames ? R->nnames - 1 : 0; /* all but asset.json */
    R->job->bytes_total = R->declared;
    record_progress(R, true);
    R->files = json_array();
    if (!R->files) return fail(R, "out of memory");
    if (ad_hashpipe_new(&R->hp, &err)) return fail(R, "%s", err.msg);
    R->spool_fd = open(R->src, O_RDONLY | O_CLOEXEC); /* -1: nothing dropped */
    return for_each_entry(R, true, store_entry);
}

/* --- register --- */

/* files[] = the stored files in archive order, then asset.json's entries
 * that name no file of the archive; asset_file_ids = all their ids. */
static int build_asset(run *R)
{
    json_t *given = json_object_get(R->meta, "files"), *f, *ids = json_array();
    size_t i;
    if (!ids) return fail(R, "out of memory");
    json_array_foreach(given, i, f)
    {
        /* add_file_entry removed from the index the entries it used */
        const char *id = json_string_value(json_object_get(f, "asset_file_id"));
        if ((!id || json_object_get(R->given, id)) && json_array_append(R->files, f))
            return fail(R, "out of memory");
    }
    json_array_foreach(R->files, i, f)
    {
        if (json_array_append(ids, json_object_get(f, "asset_file_id"))) {
            json_decref(ids);
            return fail(R, "out of memory");
        }
    }
    json_object_set(R->meta, "files", R->files);
    json_object_set_new(R->meta, "asset_file_ids", ids);
    return 0;
}

static int register_asset(run *R)
{
    ad_error err = {0};
    ad_doc doc = {0};
    const char *id = json_string_value(json_object_get(R->meta, "asset_id"));
    ad_code rc;
    if (build_asset(R)) return -1;
    if (id) {
        free(R->job->asset_id);
        R->job->asset_id = strdup(id);
        record_progress(R, true); /* so a restart can tell whether the asset exists */
    }
    rc = ad_registry_create(R->o->reg, R->meta, &doc, &err);
    ad_doc_free(&doc);
    if (rc == AD_E_INVALID || rc == AD_E_BAD_JSON)
        return fail(R, "asset.json failed validation: %s", err.msg);
    if (rc == AD_E_EXISTS) return fail(R, "%s", err.msg);
    if (rc) return fail(R, "registering the asset: %s", err.msg);
    return 0;
}

/* --- one job --- */

static int remove_key(void *ctx, const char *key)
{
    ad_blob *b = ctx;
    ad_error err = {0};
    char k[AD_BLOB_KEY_MAX + 1], e[AD_ERROR_MSG_MAX];
    if (b->ops->remove(b, key, &err))
        ad_log(AD_LOG_WARN, "msg=\"cannot remove an object\" key=\"%s\" error=\"%s\"",
               ad_log_safe(k, sizeof(k), key), ad_log_safe(e, sizeof(e), err.msg));
    return 0;
}

/* The store a job's files go to: the main one, or its bucket's. */
static ad_code job_store(const ad_ingest_opts *o, const ad_job *job, ad_blob **out, ad_error *err)
{
    *out = o->blobs;
    if (!job->bucket) return AD_OK;
    if (!o->buckets) return ad_fail(err, AD_E_BAD_REQUEST, "this server has no buckets");
    return ad_buckets_store(o->buckets, job->bucket, out, err);
}

/* Removes every object the job recorded, then forgets the keys. */
static void remove_objects(const ad_ingest_opts *o, const ad_job *job)
{
    ad_error err = {0};
    const char *id = job->id;
    ad_blob *b = NULL;
    if (job_store(o, job, &b, &err) || o->jobs->ops->keys(o->jobs, id, remove_key, b, &err) ||
        o->jobs->ops->clear_keys(o->jobs, id, &err))
        ad_log(AD_LOG_ERROR, "msg=\"cannot clean up an upload\" upload=%s error=\"%s\"", id,
               err.msg);
}

static const char *staged_key(const ad_job *job);

/* Removes what an upload stored while it arrived (core/zipspec.h), unless
 * keep_objects (they are the asset's files), and its manifest. */
static void drop_spec(const ad_ingest_opts *o, const ad_job *job, bool keep_objects)
{
    char manifest[PATH_MAX], e[AD_ERROR_MSG_MAX];
    ad_error err = {0};
    if (!job->source || staged_key(job) ||
        !ad_zipspec_manifest_path(job->source, manifest, sizeof(manifest)))
        return;
    if (ad_zipspec_drop(manifest, job->id, keep_objects, o->blobs, o->buckets, &err))
        ad_log(AD_LOG_ERROR,
               "msg=\"cannot clean up what an upload stored while it arrived\" upload=%s "
               "error=\"%s\"",
               job->id, ad_log_safe(e, sizeof(e), err.msg));
}

/* Removes a finished job's archive: the spool file (and, when it failed,
 * what the upload stored while it arrived), or the staged object. */
static void discard_source(const ad_ingest_opts *o, const ad_job *job, bool failed)
{
    const char *key = staged_key(job);
    ad_error err = {0};
    if (!job->source) return;
    if (!key) {
        drop_spec(o, job, !failed);
        unlink(job->source);
    } else if (o->blobs->ops->remove(o->blobs, key, &err)) {
        char e[AD_ERROR_MSG_MAX];
        ad_log(AD_LOG_WARN, "msg=\"cannot remove a staged archive\" upload=%s error=\"%s\"",
               job->id, ad_log_safe(e, sizeof(e), err.msg));
    }
}

/* Whether a job's archive is still there to run it again. */
static bool source_exists(const ad_ingest_opts *o, const ad_job *job)
{
    const char *key = staged_key(job);
    uint64_t size;
    if (!job->source) return false;
    if (!key) return access(job->source, R_OK) == 0;
    return o->blobs->ops->stat(o->blobs, key, &size, NULL) == AD_OK;
}

static void run_free(run *R)
{
    size_t i;
    for (i = 0; i < R->nnames; i++) free(R->names[i]);
    free(R->names);
    free(R->buf);
    json_decref(R->meta);
    json_decref(R->given);
    json_decref(R->files);
    ad_zip_dir_free(&R->dir);
    ad_hashpipe_free(R->hp);
    if (R->spool_fd >= 0) close(R->spool_fd);
    if (R->fetched[0]) unlink(R->fetched);
    ad_spec_list_free(&R->spec);
}

/* The raw central directory, before libarchive (see core/zip_cd.h). */
static int check_directory(run *R)
{
    ad_error err = {0};
    int fd = open(R->src, O_RDONLY | O_CLOEXEC);
    ad_code rc;
    if (fd < 0) return fail(R, "cannot open the uploaded archive: %s", strerror(errno));
    rc = ad_zip_cd_read(fd, R->spool_size, R->o->max_entries, &R->dir, &err);
    close(fd);
    return rc ? fail(R, "%s", err.msg) : 0;
}

static const char *staged_key(const ad_job *job)
{
    size_t n = strlen(AD_INGEST_STAGED);
    return job->source && strncmp(job->source, AD_INGEST_STAGED, n) == 0 ? job->source + n : NULL;
}

/* A staged archive is copied from the blob store to this instance's spool
 * directory (<id>.fetch; libarchive and the central-directory check want a
 * seekable local file), through the streaming reader when the store has
 * one. The copy is removed when the run ends. */
static int fetch_source(run *R, const char *key)
{
    ad_blob *b = R->o->blobs;
    ad_blob_reader *rd = NULL;
    ad_error err = {0};
    uint64_t off = 0;
    int fd;
    ad_code rc = AD_OK;
    if (!R->o->spool_dir) return fail(R, "no spool directory to fetch the staged archive to");
    if ((size_t)snprintf(R->fetched, sizeof(R->fetched), "%s/%s.fetch", R->o->spool_dir,
                         R->job->id) >= sizeof(R->fetched))
        return fail(R, "spool path too long");
    fd = open(R->fetched, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0640);
    if (fd < 0) {
        R->fetched[0] = '\0';
        return fail(R, "cannot create a local copy of the staged archive: %s", strerror(errno));
    }
    if (b->ops->reader_open) rc = b->ops->reader_open(b, key, 0, UINT64_MAX, &rd, &err);
    for (; !rc;) {
        size_t got = 0, done = 0;
        rc = rd ? b->ops->reader_read(rd, R->buf, AD_INGEST_BUF, &got, &err)
                : b->ops->read(b, key, off, R->buf, AD_INGEST_BUF, &got, &err);
        if (rc || got == 0) break;
        while (done < got) {
            ssize_t w = write(fd, R->buf + done, got - done);
            if (w < 0 && errno == EINTR) continue;
            if (w <= 0) {
                int e = errno;
                close(fd);
                if (rd) b->ops->reader_close(rd);
                return fail(R, "cannot write a local copy of the staged archive: %s", strerror(e));
            }
            done += (size_t)w;
        }
        off += got;
    }
    close(fd);
    if (rd) b->ops->reader_close(rd);
    if (rc == AD_E_NOT_FOUND) return fail(R, "the uploaded archive is gone (staged %s)", key);
    if (rc) return fail(R, "cannot read the staged archive: %s", err.msg);
    R->src = R->fetched;
    return 0;
}

/* The job's bucket must exist and be Ready; its store is where files go. */
static int open_dest(run *R)
{
    ad_error err = {0};
    char why[AD_ERROR_MSG_MAX];
    bool ready = false;
    if (R->job->bucket && R->o->buckets &&
        ad_buckets_ready(R->o->buckets, R->job->bucket, &ready, why, sizeof(why), &err) == AD_OK &&
        !ready)
        return fail(R, "%s", why);
    if (job_store(R->o, R->job, &R->dest, &err))
        return fail(R, "bucket \"%.60s\": %s", R->job->bucket ? R->job->bucket : "", err.msg);
    return 0;
}

/* The manifest of what the upload stored while it arrived, if any. */
static int load_spec(run *R)
{
    char manifest[PATH_MAX];
    ad_error err = {0};
    ad_code rc;
    const char *b = R->job->bucket;
    if (!ad_zipspec_manifest_path(R->src, manifest, sizeof(manifest))) return 0;
    rc = ad_zipspec_load(manifest, R->job->id, &R->spec, &err);
    if (rc == AD_E_NOT_FOUND) return 0;
    if (rc) return fail(R, "%s", err.msg);
    if ((b == NULL) != (R->spec.bucket == NULL) || (b && strcmp(b, R->spec.bucket) != 0))
        return fail(R, "the upload's manifest is damaged (it names another bucket)");
    return 0;
}

static int run_steps(run *R)
{
    struct stat st;
    const char *key = staged_key(R->job);
    R->buf = malloc(AD_INGEST_BUF);
    if (!R->buf) return fail(R, "out of memory");
    if (open_dest(R)) return -1;
    R->src = R->job->source;
    if (key && fetch_source(R, key)) return -1;
    if (!R->src || stat(R->src, &st) != 0)
        return fail(R, "the uploaded archive is gone (%s)", strerror(errno));
    R->spool_size = (uint64_t)st.st_size;
    if (!key && load_spec(R)) return -1;
    if (check_directory(R) || scan(R) || store(R)) return -1;
    return register_asset(R);
}

/* One log line per job. */
static void log_end(run *R, ad_job_state state, int rc)
{
    char reason[AD_JOB_REASON_MAX], asset[256];
    ad_log(state == AD_JOB_FAILED ? AD_LOG_WARN : AD_LOG_INFO,
           "msg=\"upload %s\" upload=%s asset=\"%s\" files=%llu bytes=%llu stored_early=%zu "
           "reason=\"%s\"",
           ad_job_state_name(state), R->job->id,
           ad_log_safe(asset, sizeof(asset), R->job->asset_id),
           (unsigned long long)R->job->files_done, (unsigned long long)R->job->bytes_done,
           R->adopted, ad_log_safe(reason, sizeof(reason), rc ? R->reason : ""));
}

/* Ends the job in the job store: success, failed with the reason, or
 * queued again when shutdown interrupted it. */
static ad_job_state settle(run *R, int rc)
{
    const ad_ingest_opts *o = R->o;
    ad_job *job = R->job;
    ad_job_state state = rc ? (R->interrupted ? AD_JOB_QUEUED : AD_JOB_FAILED) : AD_JOB_SUCCESS;
    ad_error err = {0};
    if (rc)
        remove_objects(o, job);
    else if (o->jobs->ops->clear_keys(o->jobs, job->id, &err))
        ad_log(AD_LOG_WARN, "msg=\"cannot forget keys\" upload=%s", job->id);
    if (rc && R->interrupted) job->bytes_done = job->files_done = 0;
    /* the objects stored while the upload arrived are the asset's now: the
     * manifest goes before success is recorded, so no sweep after a crash
     * can take them for an abandoned upload's */
    if (!rc) drop_spec(o, job, true);
    record_progress(R, true);
    if (o->jobs->ops->finish(o->jobs, job->id, state, rc && !R->interrupted ? R->reason : NULL,
                             &err))
        ad_log(AD_LOG_ERROR, "msg=\"cannot record a job's end\" upload=%s error=\"%s\"", job->id,
               err.msg);
    if (state != AD_JOB_QUEUED) discard_source(o, job, state == AD_JOB_FAILED);
    log_end(R, state, rc);
    return state;
}

static ad_job_state run_job(const ad_ingest_opts *o, const atomic_bool *stop, magic_t magic,
                            ad_job *job)
{
    run R = {.o = o, .stop = stop, .magic = magic, .job = job, .spool_fd = -1};
    ad_job_state state;
    int rc = run_steps(&R);
    state = settle(&R, rc);
    run_free(&R);
    return state;
}

/* libarchive converts entry names through the thread's locale; in the
 * process's "C" locale every non-ASCII name would fail to decode, so the
 * ingest threads use C.UTF-8. Returns the locale to free (or 0). */
static locale_t utf8_locale(void)
{
    locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", (locale_t)0);
    if (loc) uselocale(loc);
    return loc;
}

static void locale_done(locale_t loc)
{
    if (!loc) return;
    uselocale(LC_GLOBAL_LOCALE);
    freelocale(loc);
}

/* A reconcile job of the asset store (source "asset:<id>#<generation>"):
 * the controller runs it with this worker's libmagic cookie. */
static ad_job_state run_asset(const ad_ingest_opts *o, const atomic_bool *stop, magic_t magic,
                              ad_job *job)
{
    ad_error err = {0};
    if (!o->controller) {
        o->jobs->ops->finish(o->jobs, job->id, AD_JOB_FAILED, "no asset controller", &err);
        return AD_JOB_FAILED;
    }
    if (job->recovered) ad_controller_recover(o->controller, job);
    return ad_controller_run(o->controller, job, stop, magic);
}

ad_job_state ad_ingest_run(const ad_ingest_opts *o, ad_job *job)
{
    static const atomic_bool never = false;
    locale_t loc = utf8_locale();
    magic_t m = (magic_t)ad_stage_magic_new();
    ad_job_state s =
        ad_controller_is_job(job) ? run_asset(o, &never, m, job) : run_job(o, &never, m, job);
    if (m) magic_close(m);
    locale_done(loc);
    return s;
}

/* --- recovery, expiry, workers --- */

/* A claimed job whose previous attempt's lease expired: the worker that
 * ran it died (a crash or kill -9 of this or another instance). Cleans up
 * what that attempt left. Returns true when the job is settled here
 * (success: the crash came after the asset was registered; failed: the
 * archive is gone), false when it is clean and should run again. */
static bool take_over(const ad_ingest_opts *o, ad_job *job)
{
    ad_doc doc = {0};
    ad_error err = {0};
    const char *outcome = "run again";
    ad_code found =
        job->asset_id ? ad_registry_get(o->reg, job->asset_id, &doc, &err) : AD_E_NOT_FOUND;
    bool registered = found == AD_OK && strstr(doc.json, job->id), settled = true;
    ad_doc_free(&doc);
    if (found != AD_OK && found != AD_E_NOT_FOUND) {
        /* cannot tell: touch nothing; the lease runs out and a worker tries again */
        char e[AD_ERROR_MSG_MAX];
        ad_log(AD_LOG_WARN,
               "msg=\"cannot recover an interrupted upload yet\" upload=%s error=\"%s\"", job->id,
               ad_log_safe(e, sizeof(e), err.msg));
        return true;
    }
    if (registered) {
        o->jobs->ops->clear_keys(o->jobs, job->id, &err);
        drop_spec(o, job, true);
        o->jobs->ops->finish(o->jobs, job->id, AD_JOB_SUCCESS, NULL, &err);
        discard_source(o, job, false);
        outcome = "success";
    } else {
        remove_objects(o, job);
        job->bytes_done = job->files_done = 0;
        o->jobs->ops->progress(o->jobs, job, &err);
        if (source_exists(o, job)) {
            settled = false;
        } else {
            o->jobs->ops->finish(o->jobs, job->id, AD_JOB_FAILED,
                                 "interrupted (the process running it stopped), and the uploaded "
                                 "archive is gone",
                                 &err);
            discard_source(o, job, true);
            outcome = "failed";
        }
    }
    ad_log(AD_LOG_INFO,
           "msg=\"recovered an interrupted upload\" upload=%s attempt=%u outcome=\"%s\"", job->id,
           job->attempt, outcome);
    return settled;
}

static void expire(const ad_ingest_opts *o)
{
    ad_error err = {0};
    size_t n = 0;
    if (o->jobs->ops->expire(o->jobs, (int64_t)time(NULL) - o->status_ttl, &n, &err))
        ad_log(AD_LOG_WARN, "msg=\"cannot expire upload records\" error=\"%s\"", err.msg);
    else if (n)
        ad_log(AD_LOG_INFO, "msg=\"expired upload records\" count=%zu", n);
}

typedef struct worker_arg {
    ad_ingest *g;
    unsigned index;
} worker_arg;

static void *worker_main(void *p)
{
    worker_arg *wa = p;
    ad_ingest *g = wa->g;
    locale_t loc = utf8_locale();
    magic_t m = (magic_t)ad_stage_magic_new();
    time_t next_expire = time(NULL) + EXPIRE_EVERY;
    while (!atomic_load(&g->stop)) {
        ad_job job;
        ad_error err = {0};
        ad_code rc;
        if (wa->index == 0 && time(NULL) >= next_expire) {
            expire(&g->o);
            next_expire = time(NULL) + EXPIRE_EVERY;
        }
        rc = g->o.jobs->ops->claim(g->o.jobs, 250, &job, &err);
        if (rc == AD_E_NOT_FOUND) continue;
        if (rc) {
            ad_log(AD_LOG_ERROR, "msg=\"cannot take a job\" error=\"%s\"", err.msg);
            sleep(1);
            continue;
        }
        if (ad_controller_is_job(&job))
            run_asset(&g->o, &g->stop, m, &job);
        else if (!job.recovered || !take_over(&g->o, &job))
            run_job(&g->o, &g->stop, m, &job);
        ad_job_clear(&job);
    }
    if (m) magic_close(m);
    locale_done(loc);
    free(wa);
    return NULL;
}

ad_code ad_ingest_start(const ad_ingest_opts *o, ad_ingest **out, ad_error *err)
{
    ad_ingest *g = calloc(1, sizeof(*g));
    unsigned i;
    ad_code rc;
    if (!g) return ad_fail(err, AD_E_NOMEM, "out of memory");
    g->o = *o;
    atomic_init(&g->stop, false);
    expire(&g->o);
    g->threads = calloc(o->workers ? o->workers : 1, sizeof(*g->threads));
    rc = g->threads ? AD_OK : ad_fail(err, AD_E_NOMEM, "out of memory");
    for (i = 0; !rc && i < (o->workers ? o->workers : 1); i++) {
        worker_arg *wa = malloc(sizeof(*wa));
        if (!wa) rc = ad_fail(err, AD_E_NOMEM, "out of memory");
        if (!rc) *wa = (worker_arg){g, i};
        if (!rc && pthread_create(&g->threads[i], NULL, worker_main, wa) != 0) {
            free(wa);
            rc = ad_fail(err, AD_E_INTERNAL, "cannot start an ingest worker");
        }
        if (!rc) g->nthreads++;
    }
    if (rc) {
        ad_ingest_stop(g);
        return rc;
    }
    *out = g;
    return AD_OK;
}

void ad_ingest_stop(ad_ingest *g)
{
    unsigned i;
    if (!g) return;
    atomic_store(&g->stop, true);
    for (i = 0; i < g->nthreads; i++) pthread_join(g->threads[i], NULL);
    free(g->threads);
    free(g);
}
