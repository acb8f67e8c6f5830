/*
 * zipspec.c — storing the entries of a ZIP upload while its body arrives
 * (see zipspec.h for the design and the manifest's format).
 *
 * The scanner of local headers is written by hand: libarchive's streaming
 * zip reader would read the same headers, but it pulls its input (it would
 * need a thread per upload fed from libmicrohttpd's callbacks), it copies
 * entry data through its own buffers, and it cannot say "these bytes were
 * not consumed by me, write them to the spool" — which is what lets the
 * spool keep every offset of the archive. The scanner trusts nothing it
 * reads: the job re-checks every entry against the central directory
 * (core/zip_cd.h, libarchive), and only an exact match is kept.
 */
#include "core/zipspec.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <jansson.h>
#include <magic.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "core/hashpipe.h"
#include "core/stage_store.h"
#include "core/zip_cd.h"
#include "util/log.h"

#define LFH_LEN      30
#define LFH_SIG      0x04034b50u
#define FLAG_CRYPT   0x0001u
#define FLAG_DESC    0x0008u
#define LINE_MAX_LEN (AD_BLOB_KEY_MAX + 256)
#define MANIFEST_MAX ((size_t)64 << 20) /* bytes of a manifest the job reads */

enum { ST_HDR, ST_VAR, ST_DATA, ST_PASS };

/* --- scanner --- */

void ad_zipscan_init(ad_zipscan *s, const ad_zipscan_ops *ops, void *ctx)
{
    memset(s, 0, sizeof(*s));
    s->ops = ops;
    s->ctx = ctx;
    s->state = ST_HDR;
    s->hneed = LFH_LEN;
}

void ad_zipscan_free(ad_zipscan *s)
{
    free(s->hdr);
    s->hdr = NULL;
    s->hcap = 0;
}

bool ad_zipscan_cut(const ad_zipscan *s)
{
    return s->state == ST_DATA && s->taking;
}

/* The sizes from the zip64 extra field (APPNOTE 4.5.3): each 64-bit value
 * is there only when the header's 32-bit one is 0xffffffff, usize first.
 * false when the field is missing or short. */
static bool zip64_sizes(const unsigned char *x, size_t xlen, ad_zipscan_entry *e)
{
    bool need_u = e->usize == 0xffffffffu, need_c = e->csize == 0xffffffffu;
    while (xlen >= 4) {
        uint16_t id = ad_zip_u16(x), len = ad_zip_u16(x + 2);
        if ((size_t)len > xlen - 4) return false;
        if (id == 0x0001) {
            size_t at = 4, want = (size_t)(need_u + need_c) * 8;
            if (len < want) return false;
            if (need_u) e->usize = ad_zip_u64(x + at), at += 8;
            if (need_c) e->csize = ad_zip_u64(x + at);
            return true;
        }
        x += 4 + len;
        xlen -= 4 + (size_t)len;
    }
    return false;
}

/* The fixed part is in: a local header goes on to its name and extra
 * field; anything else ends the scan. */
static void fixed_done(ad_zipscan *s)
{
    const unsigned char *h = s->hdr;
    if (ad_zip_u32(h) != LFH_SIG) {
        s->state = ST_PASS;
        return;
    }
    s->hneed = LFH_LEN + (size_t)ad_zip_u16(h + 26) + (size_t)ad_zip_u16(h + 28);
    s->state = ST_VAR;
}

/* The whole header is in: asks begin about the entry. -1 on error. */
static int header_done(ad_zipscan *s, ad_error *err)
{
    const unsigned char *h = s->hdr;
    ad_zipscan_entry *e = &s->cur;
    size_t nlen = ad_zip_u16(h + 26), xlen = ad_zip_u16(h + 28);
    int r;
    memset(e, 0, sizeof(*e));
    e->header_off = s->off - s->hneed;
    e->data_off = s->off;
    e->flags = ad_zip_u16(h + 6);
    e->method = ad_zip_u16(h + 8);
    e->crc = ad_zip_u32(h + 14);
    e->csize = ad_zip_u32(h + 18);
    e->usize = ad_zip_u32(h + 22);
    if ((e->csize == 0xffffffffu || e->usize == 0xffffffffu) &&
        !zip64_sizes(h + LFH_LEN + nlen, xlen, e)) {
        s->state = ST_PASS; /* sizes unknown: the rest is the job's */
        return 0;
    }
    if (e->flags & FLAG_DESC) {
        /* the sizes come after the data (the header's may be zero or
         * wrong): where the data ends is not known here */
        s->state = ST_PASS;
        return 0;
    }
    e->name = (const char *)h + LFH_LEN;
    e->name_len = nlen;
    r = s->ops->begin(s->ctx, e, err);
    if (r < 0) return -1;
    s->taking = r == 1;
    s->left = e->csize;
    s->state = ST_DATA;
    return 0;
}

static ad_code entry_done(ad_zipscan *s, ad_error *err)
{
    ad_code rc = s->taking ? s->ops->end(s->ctx, err) : AD_OK;
    s->taking = false;
    s->state = ST_HDR;
    s->hlen = 0;
    s->hneed = LFH_LEN;
    return rc;
}

static ad_code grow(ad_zipscan *s, size_t need, ad_error *err)
{
    unsigned char *p;
    size_t cap = s->hcap ? s->hcap : 256;
    if (need <= s->hcap) return AD_OK;
    while (cap < need) cap *= 2;
    p = realloc(s->hdr, cap);
    if (!p) return ad_fail(err, AD_E_NOMEM, "out of memory");
    s->hdr = p;
    s->hcap = cap;
    return AD_OK;
}

ad_code ad_zipscan_feed(ad_zipscan *s, const char *p, size_t n, ad_error *err)
{
    ad_code rc;
    while (n) {
        size_t k;
        if (s->state == ST_PASS) {
            s->off += n;
            return s->ops->pass(s->ctx, p, n, err);
        }
        if (s->state == ST_DATA) {
            k = s->left < n ? (size_t)s->left : n;
            rc = s->taking ? s->ops->take(s->ctx, p, k, err) : s->ops->pass(s->ctx, p, k, err);
            if (rc) return rc;
            s->off += k, s->left -= k, p += k, n -= k;
            if (!s->left && (rc = entry_done(s, err))) return rc;
            continue;
        }
        /* a header: its bytes go to the spool as they come, and are
         * gathered */
        k = s->hneed - s->hlen < n ? s->hneed - s->hlen : n;
        if ((rc = grow(s, s->hneed, err))) return rc;
        memcpy(s->hdr + s->hlen, p, k);
        if ((rc = s->ops->pass(s->ctx, p, k, err))) return rc;
        s->hlen += k, s->off += k, p += k, n -= k;
        if (s->hlen < s->hneed) continue;
        if (s->state == ST_HDR) {
            fixed_done(s);
            if (s->state != ST_VAR || s->hneed > s->hlen) continue;
        }
        if (header_done(s, err)) return err->code ? err->code : AD_E_INTERNAL;
        if (s->state == ST_DATA && !s->left && (rc = entry_done(s, err))) return rc;
    }
    return AD_OK;
}

/* --- the speculation of an upload --- */

struct ad_zipspec {
    char *upload_id, *manifest;
    ad_blob *blobs;
    uint64_t min_entry;
    ad_archive_limits limits;
    ad_zipspec_sink sink;
    ad_zipscan scan;
    int mfd;       /* the manifest */
    json_t *names; /* names taken so far (a set) */
    ad_hashpipe *hp;
    void *magic;
    ad_stage stage;
    ad_stage_push push;
    bool open; /* an entry is being stored */
    uint64_t header_off, data_off;
    size_t taken;
    uint64_t taken_bytes;
};

static ad_code mf_write(ad_zipspec *z, ad_error *err, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Appends one line to the manifest. */
static ad_code mf_write(ad_zipspec *z, ad_error *err, const char *fmt, ...)
{
    char line[LINE_MAX_LEN];
    va_list ap;
    int n;
    size_t done = 0;
    va_start(ap, fmt);
    n = vsnprintf(line, sizeof(line), fmt, ap);
    va_end(ap);
    if (n < 0 || (size_t)n >= sizeof(line))
        return ad_fail(err, AD_E_INTERNAL, "manifest line too long");
    while (done < (size_t)n) {
        ssize_t w = write(z->mfd, line + done, (size_t)n - done);
        if (w < 0 && errno == EINTR) continue;
        if (w <= 0)
            return ad_fail(err, errno == ENOSPC ? AD_E_UNAVAILABLE : AD_E_BACKEND,
                           "cannot write the upload's manifest: %s", strerror(errno));
        done += (size_t)w;
    }
    return AD_OK;
}

static ad_code mf_sync(ad_zipspec *z, ad_error *err)
{
    if (fdatasync(z->mfd) != 0)
        return ad_fail(err, AD_E_BACKEND, "cannot sync the upload's manifest: %s", strerror(errno));
    return AD_OK;
}

/* The name as the job will see it (libarchive's, without leading "./"),
 * into buf; false when the entry is not one to take: anything but
 * printable ASCII (libarchive converts other names from the archive's
 * charset, so the job's name could differ), a backslash, a directory,
 * asset.json (the job reads it), or a name the rules refuse. */
static bool plain_name(const ad_zipscan_entry *e, char *buf, size_t cap)
{
    const char *n = e->name;
    size_t len = e->name_len, i;
    while (len >= 2 && n[0] == '.' && n[1] == '/') n += 2, len -= 2;
    if (len == 0 || len >= cap || n[len - 1] == '/') return false;
    for (i = 0; i < len; i++)
        if ((unsigned char)n[i] < 0x20 || (unsigned char)n[i] > 0x7e || n[i] == '\\') return false;
    memcpy(buf, n, len);
    buf[len] = '\0';
    return strcmp(buf, "asset.json") != 0 && ad_archive_name_check(buf, NULL) == AD_OK;
}

static ad_code start_tools(ad_zipspec *z, ad_error *err)
{
    if (z->hp) return AD_OK;
    if (ad_hashpipe_new(&z->hp, err)) return err->code;
    z->magic = ad_stage_magic_new();
    z->stage.blobs = z->blobs;
    z->stage.hp = z->hp;
    z->stage.magic = z->magic;
    return AD_OK;
}

static int zs_begin(void *ctx, const ad_zipscan_entry *e, ad_error *err)
{
    ad_zipspec *z = ctx;
    char name[AD_ARCHIVE_NAME_MAX + 1], key[AD_BLOB_KEY_MAX + 1];
    if (e->method != 0 || (e->flags & FLAG_CRYPT) || e->csize != e->usize ||
        e->usize < z->min_entry || !plain_name(e, name, sizeof(name)) ||
        z->taken + 1 > z->limits.max_entries || e->usize > z->limits.max_unpacked - z->taken_bytes)
        return 0;
    if (json_object_get(z->names, name)) return 0; /* a duplicate: the job will refuse it */
    if ((size_t)snprintf(key, sizeof(key), "%s/%s", z->upload_id, name) >= sizeof(key) ||
        ad_blob_key_check(key, NULL))
        return 0;
    if (start_tools(z, err) || mf_write(z, err, "K %" PRIu64 " %s\n", e->header_off, key) ||
        mf_sync(z, err) || ad_stage_push_open(&z->push, &z->stage, key, err))
        return -1;
    if (json_object_set_new(z->names, name, json_true())) {
        ad_stage_push_abort(&z->push);
        ad_fail(err, AD_E_NOMEM, "out of memory");
        return -1;
    }
    z->open = true;
    z->header_off = e->header_off;
    z->data_off = e->data_off;
    z->taken++;
    z->taken_bytes += e->usize;
    return 1;
}

static ad_code zs_take(void *ctx, const char *p, size_t n, ad_error *err)
{
    ad_zipspec *z = ctx;
    ad_code rc = ad_stage_push_write(&z->push, p, n, err);
    return rc ? rc : z->sink.hole(z->sink.ctx, n, err);
}

static ad_code zs_end(void *ctx, ad_error *err)
{
    static const char hex[] = "0123456789abcdef";
    ad_zipspec *z = ctx;
    ad_stage_sum sum;
    char sha[65];
    int i;
    ad_code rc = ad_stage_push_commit(&z->push, &sum, err);
    z->open = false;
    if (rc) return rc;
    for (i = 0; i < 32; i++)
        sha[2 * i] = hex[sum.sha256[i] >> 4], sha[2 * i + 1] = hex[sum.sha256[i] & 15];
    sha[64] = '\0';
    return mf_write(z, err, "S %" PRIu64 " %" PRIu64 " %" PRIu64 " %08lx %s %s\n", z->header_off,
                    z->data_off, sum.size, (unsigned long)sum.crc, sha, sum.mime);
}

static ad_code zs_pass(void *ctx, const char *p, size_t n, ad_error *err)
{
    ad_zipspec *z = ctx;
    return z->sink.spool(z->sink.ctx, p, n, err);
}

static const ad_zipscan_ops zs_ops = {zs_begin, zs_take, zs_end, zs_pass};

ad_code ad_zipspec_new(const ad_zipspec_opts *o, const ad_zipspec_sink *sink, ad_zipspec **out,
                       ad_error *err)
{
    ad_zipspec *z = calloc(1, sizeof(*z));
    ad_code rc;
    *out = NULL;
    if (!z) return ad_fail(err, AD_E_NOMEM, "out of memory");
    z->mfd = -1;
    z->upload_id = strdup(o->upload_id);
    z->manifest = strdup(o->manifest);
    z->names = json_object();
    z->blobs = o->blobs;
    z->min_entry = o->min_entry ? o->min_entry : AD_ZIPSPEC_MIN;
    z->limits = o->limits;
    z->sink = *sink;
    ad_zipscan_init(&z->scan, &zs_ops, z);
    if (!z->upload_id || !z->manifest || !z->names) {
        ad_zipspec_free(z);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    z->mfd = open(z->manifest, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
    if (z->mfd < 0) {
        rc = ad_fail(err, AD_E_BACKEND, "cannot create the upload's manifest: %s", strerror(errno));
        free(z->manifest);
        z->manifest = NULL; /* not ours to remove */
        ad_zipspec_free(z);
        return rc;
    }
    rc = mf_write(z, err, "assetd-zipspec 1\nB %s\n", o->bucket ? o->bucket : "-");
    if (!rc) rc = mf_sync(z, err);
    if (rc) {
        ad_zipspec_discard(z);
        ad_zipspec_free(z);
        return rc;
    }
    *out = z;
    return AD_OK;
}

ad_code ad_zipspec_feed(ad_zipspec *z, const char *p, size_t n, ad_error *err)
{
    return ad_zipscan_feed(&z->scan, p, n, err);
}

ad_code ad_zipspec_finish(ad_zipspec *z, ad_error *err)
{
    if (z->open) { /* the archive ends inside it: the job will say so */
        ad_stage_push_abort(&z->push);
        z->open = false;
    }
    return mf_sync(z, err);
}

size_t ad_zipspec_taken(const ad_zipspec *z)
{
    return z->taken;
}

void ad_zipspec_discard(ad_zipspec *z)
{
    const char *name;
    json_t *v;
    bool kept = false;
    if (z->open) {
        ad_stage_push_abort(&z->push);
        z->open = false;
    }
    json_object_foreach(z->names, name, v)
    {
        char key[AD_BLOB_KEY_MAX + 1], e[AD_ERROR_MSG_MAX];
        ad_error err = {0};
        snprintf(key, sizeof(key), "%s/%s", z->upload_id, name);
        if (z->blobs->ops->remove(z->blobs, key, &err) && err.code != AD_E_NOT_FOUND) {
            kept = true;
            ad_log(AD_LOG_WARN, "msg=\"cannot remove an object\" key=\"%s\" error=\"%s\"",
                   ad_log_safe(key, sizeof(key), key), ad_log_safe(e, sizeof(e), err.msg));
        }
    }
    json_object_clear(z->names);
    /* an object that could not be removed stays listed: the start-up sweep
     * tries again */
    if (z->manifest && !kept) unlink(z->manifest);
}

void ad_zipspec_free(ad_zipspec *z)
{
    if (!z) return;
    if (z->open) ad_stage_push_abort(&z->push);
    ad_hashpipe_free(z->hp);
    if (z->magic) magic_close((magic_t)z->magic);
    ad_zipscan_free(&z->scan);
    if (z->mfd >= 0) close(z->mfd);
    json_decref(z->names);
    free(z->upload_id);
    free(z->manifest);
    free(z);
}

/* --- the job's side --- */

bool ad_zipspec_manifest_path(const char *spool, char *buf, size_t cap)
{
    size_t n = strlen(spool);
    if (n < 4 || strcmp(spool + n - 4, ".zip") != 0) return false;
    return (size_t)snprintf(buf, cap, "%.*s.spec", (int)(n - 4), spool) < cap;
}

void ad_spec_list_free(ad_spec_list *l)
{
    size_t i;
    for (i = 0; i < l->n; i++) free(l->f[i].key);
    free(l->f);
    free(l->bucket);
    memset(l, 0, sizeof(*l));
}

static bool parse_u64(const char **p, uint64_t *out)
{
    char *end;
    if (**p < '0' || **p > '9') return false;
    errno = 0;
    *out = strtoull(*p, &end, 10);
    if (errno || *end != ' ') return false;
    *p = end + 1;
    return true;
}

static bool parse_hex(const char *p, size_t n, unsigned char *out)
{
    size_t i;
    for (i = 0; i < n; i++) {
        int hi = p[2 * i], lo = p[2 * i + 1];
        hi = hi >= '0' && hi <= '9' ? hi - '0' : hi >= 'a' && hi <= 'f' ? hi - 'a' + 10 : -1;
        lo = lo >= '0' && lo <= '9' ? lo - '0' : lo >= 'a' && lo <= 'f' ? lo - 'a' + 10 : -1;
        if (hi < 0 || lo < 0) return false;
        out[i] = (unsigned char)(hi << 4 | lo);
    }
    return true;
}

/* One K or S line (without its newline) into l. */
static bool parse_line(ad_spec_list *l, const char *id, const char *line, size_t cap)
{
    const char *p = line + 2;
    uint64_t hoff;
    if (line[0] == 'K' && line[1] == ' ') {
        ad_spec_file *f;
        size_t idn = strlen(id);
        if (!parse_u64(&p, &hoff) || strncmp(p, id, idn) != 0 || p[idn] != '/' ||
            ad_blob_key_check(p, NULL) || l->n >= cap)
            return false;
        if (l->n && hoff <= l->f[l->n - 1].header_off) return false; /* archive order */
        f = &l->f[l->n];
        memset(f, 0, sizeof(*f));
        f->header_off = hoff;
        f->key = strdup(p);
        if (!f->key) return false;
        f->name = f->key + idn + 1;
        l->n++;
        return true;
    }
    if (line[0] == 'S' && line[1] == ' ') {
        ad_spec_file *f = l->n ? &l->f[l->n - 1] : NULL;
        unsigned char crc[4];
        if (!f || f->complete || !parse_u64(&p, &hoff) || hoff != f->header_off ||
            !parse_u64(&p, &f->data_off) || f->data_off <= hoff || !parse_u64(&p, &f->size) ||
            strlen(p) < 8 + 1 + 64 + 1 || !parse_hex(p, 4, crc) || p[8] != ' ' ||
            !parse_hex(p + 9, 32, f->sha256) || p[9 + 64] != ' ' ||
            strlen(p + 74) >= sizeof(f->mime))
            return false;
        f->crc = (uint32_t)crc[0] << 24 | (uint32_t)crc[1] << 16 | (uint32_t)crc[2] << 8 | crc[3];
        snprintf(f->mime, sizeof(f->mime), "%s", p + 74);
        f->complete = true;
        return true;
    }
    return false;
}

static char *read_small(const char *path, size_t max, size_t *len, ad_error *err, ad_code *rc)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    char *buf = NULL;
    size_t n = 0, cap = 0;
    *rc = AD_OK;
    if (fd < 0) {
        *rc = ad_fail(err, errno == ENOENT ? AD_E_NOT_FOUND : AD_E_BACKEND,
                      "cannot open the upload's manifest: %s", strerror(errno));
        return NULL;
    }
    for (;;) {
        ssize_t r;
        if (n + 4096 + 1 > cap) {
            char *nb;
            cap = cap ? cap * 2 : 8192;
            if (cap > max + 4096 + 1 || !(nb = realloc(buf, cap))) {
                *rc = ad_fail(err, cap > max ? AD_E_INVALID : AD_E_NOMEM,
                              cap > max ? "the upload's manifest is too large" : "out of memory");
                break;
            }
            buf = nb;
        }
        r = read(fd, buf + n, cap - n - 1);
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) {
            *rc = ad_fail(err, AD_E_BACKEND, "cannot read the upload's manifest: %s",
                          strerror(errno));
            break;
        }
        if (r == 0) break;
        n += (size_t)r;
    }
    close(fd);
    if (*rc) {
        free(buf);
        return NULL;
    }
    if (!buf && !(buf = malloc(1))) {
        *rc = ad_fail(err, AD_E_NOMEM, "out of memory");
        return NULL;
    }
    buf[n] = '\0';
    *len = n;
    return buf;
}

ad_code ad_zipspec_load(const char *manifest, const char *upload_id, ad_spec_list *out,
                        ad_error *err)
{
    size_t len = 0, cap = 0, i, lines = 0;
    ad_code rc;
    char *buf = read_small(manifest, MANIFEST_MAX, &len, err, &rc), *p, *nl;
    memset(out, 0, sizeof(*out));
    if (!buf) return rc;
    for (i = 0; i < len; i++) lines += buf[i] == '\n';
    if (strncmp(buf, "assetd-zipspec 1\nB ", 19) != 0 || (nl = strchr(buf + 19, '\n')) == NULL) {
        free(buf);
        return ad_fail(err, AD_E_INVALID, "the upload's manifest is damaged (no header)");
    }
    *nl = '\0';
    if (strcmp(buf + 19, "-") != 0 && !(out->bucket = strdup(buf + 19))) {
        free(buf);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    cap = lines;
    out->f = cap ? calloc(cap, sizeof(*out->f)) : NULL;
    if (cap && !out->f) {
        free(buf);
        ad_spec_list_free(out);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    for (p = nl + 1; *p; p = nl + 1) {
        nl = strchr(p, '\n');
        if (!nl) break; /* a line cut by a crash: its object, if any, has no K line yet */
        *nl = '\0';
        if (strlen(p) < 2 || !parse_line(out, upload_id, p, cap)) {
            char shown[64];
            ad_fail(err, AD_E_INVALID, "the upload's manifest is damaged (line \"%s\")",
                    ad_log_safe(shown, sizeof(shown), p));
            free(buf);
            ad_spec_list_free(out);
            return AD_E_INVALID;
        }
    }
    free(buf);
    return AD_OK;
}

ad_spec_file *ad_spec_list_find(ad_spec_list *l, uint64_t data_off)
{
    /* records are in archive order and their data do not overlap: the
     * one holding data_off is the last whose header lies before it */
    size_t lo = 0, hi = l->n;
    ad_spec_file *f;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (l->f[mid].header_off < data_off)
            lo = mid + 1;
        else
            hi = mid;
    }
    if (lo == 0) return NULL;
    f = &l->f[lo - 1];
    return f->complete && f->data_off == data_off ? f : NULL;
}

ad_code ad_zipspec_drop(const char *manifest, const char *upload_id, bool keep_objects,
                        ad_blob *main, ad_buckets *buckets, ad_error *err)
{
    ad_spec_list l;
    ad_blob *b = main;
    ad_code rc = AD_OK;
    size_t i;
    if (keep_objects) {
        if (unlink(manifest) != 0 && errno != ENOENT)
            return ad_fail(err, AD_E_BACKEND, "cannot remove the upload's manifest: %s",
                           strerror(errno));
        return AD_OK;
    }
    rc = ad_zipspec_load(manifest, upload_id, &l, err);
    if (rc == AD_E_NOT_FOUND) return AD_OK;
    if (rc) return rc;
    if (l.bucket) {
        if (!buckets)
            rc = ad_fail(err, AD_E_BAD_REQUEST, "this server has no buckets");
        else
            rc = ad_buckets_store(buckets, l.bucket, &b, err);
    }
    for (i = 0; !rc && i < l.n; i++) {
        ad_error e = {0};
        ad_code r = b->ops->remove(b, l.f[i].key, &e);
        if (r && r != AD_E_NOT_FOUND) {
            char k[AD_BLOB_KEY_MAX + 1];
            rc = ad_fail(err, r, "removing %s: %s", ad_log_safe(k, sizeof(k), l.f[i].key), e.msg);
        }
    }
    ad_spec_list_free(&l);
    if (!rc && unlink(manifest) != 0 && errno != ENOENT)
        rc = ad_fail(err, AD_E_BACKEND, "cannot remove the upload's manifest: %s", strerror(errno));
    return rc;
}
