/*
 * zipwrite.c — the stored-entry zip/zip64 layout engine (see zipwrite.h).
 *
 * Written by hand because no packaged library does this job: libarchive and
 * minizip write archives as a forward-only stream, so the length is known
 * only at the end and a byte range in the middle can only be had by writing
 * everything before it. Here nothing is compressed and every size and CRC
 * is known up front, so the archive is a pure function of its entries: the
 * layout (offsets of every header and every file's data) is computed once,
 * and any range is produced by generating the few header bytes it covers
 * and reading the file data it covers through the caller's callback.
 *
 * Format choices (APPNOTE 6.3.x), all for the widest reader support:
 *  - method 0 (stored), sizes and CRC in the local header, no data
 *    descriptor (macOS Archive Utility needs that for stored entries);
 *  - zip64 extra fields only for entries that need them (size or local
 *    header offset at or over 0xFFFFFFFF), zip64 end records only when the
 *    entry count, central directory size or offset overflow;
 *  - flag bit 11 (UTF-8 names) when a name has non-ASCII bytes;
 *  - "made by" Unix, regular file mode 0644, DOS time from mtime in UTC.
 */
#include "core/zipwrite.h"

#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "util/str.h"

#define LOCAL_FIXED   30
#define CENTRAL_FIXED 46
#define Z64_EOCD_LEN  56
#define Z64_LOC_LEN   20
#define EOCD_LEN      22
#define MAX32         0xFFFFFFFFu
#define MAX16         0xFFFFu
#define HDR_CAP       (CENTRAL_FIXED + AD_ZIP_NAME_MAX + 32)
#define DATA_CHUNK    (256 * 1024) /* largest single callback read */

typedef struct zentry {
    char *name;
    uint16_t namelen;
    bool utf8;
    uint32_t crc;
    uint64_t size;
    uint64_t lh_off; /* local header */
    uint64_t cd_off; /* its central directory record */
} zentry;

struct ad_zip {
    zentry *e;
    size_t n;
    uint16_t dos_time, dos_date;
    uint64_t cd_start, cd_end, length;
    bool z64_end;
    uint64_t digest;
};

/* --- little-endian output --- */

static unsigned char *put16(unsigned char *p, uint32_t v)
{
    p[0] = (unsigned char)v, p[1] = (unsigned char)(v >> 8);
    return p + 2;
}

static unsigned char *put32(unsigned char *p, uint32_t v)
{
    p = put16(p, v & 0xFFFFu);
    return put16(p, v >> 16);
}

static unsigned char *put64(unsigned char *p, uint64_t v)
{
    p = put32(p, (uint32_t)v);
    return put32(p, (uint32_t)(v >> 32));
}

/* --- layout --- */

static bool big_size(const zentry *e)
{
    return e->size >= MAX32;
}

static bool big_off(const zentry *e)
{
    return e->lh_off >= MAX32;
}

static uint64_t local_len(const zentry *e)
{
    return LOCAL_FIXED + (uint64_t)e->namelen + (big_size(e) ? 20 : 0);
}

static uint16_t central_extra_len(const zentry *e)
{
    uint16_t n = (uint16_t)((big_size(e) ? 16 : 0) + (big_off(e) ? 8 : 0));
    return n ? (uint16_t)(n + 4) : 0;
}

static uint64_t central_len(const zentry *e)
{
    return CENTRAL_FIXED + (uint64_t)e->namelen + central_extra_len(e);
}

static uint16_t version_needed(const zentry *e)
{
    return big_size(e) || big_off(e) ? 45 : 10;
}

static void dos_stamp(int64_t mtime, uint16_t *t, uint16_t *d)
{
    struct tm tm;
    time_t tt = (time_t)mtime;
    if (mtime < 315532800 || !gmtime_r(&tt, &tm)) { /* before 1980-01-01: the format's floor */
        *t = 0, *d = (uint16_t)((0 << 9) | (1 << 5) | 1);
        return;
    }
    if (tm.tm_year + 1900 > 2107) {
        *t = (uint16_t)((23 << 11) | (59 << 5) | 29), *d = (uint16_t)((127 << 9) | (12 << 5) | 31);
        return;
    }
    *t = (uint16_t)((tm.tm_hour << 11) | (tm.tm_min << 5) | (tm.tm_sec / 2));
    *d = (uint16_t)(((tm.tm_year - 80) << 9) | ((tm.tm_mon + 1) << 5) | tm.tm_mday);
}

/* --- header generation --- */

static size_t gen_local(const ad_zip *z, const zentry *e, unsigned char *buf)
{
    unsigned char *p = buf;
    bool big = big_size(e);
    p = put32(p, 0x04034b50u);
    p = put16(p, version_needed(e));
    p = put16(p, e->utf8 ? 0x0800u : 0);
    p = put16(p, 0);
    p = put16(p, z->dos_time);
    p = put16(p, z->dos_date);
    p = put32(p, e->crc);
    p = put32(p, big ? MAX32 : (uint32_t)e->size);
    p = put32(p, big ? MAX32 : (uint32_t)e->size);
    p = put16(p, e->namelen);
    p = put16(p, big ? 20 : 0);
    memcpy(p, e->name, e->namelen);
    p += e->namelen;
    if (big) {
        p = put16(p, 0x0001);
        p = put16(p, 16);
        p = put64(p, e->size);
        p = put64(p, e->size);
    }
    return (size_t)(p - buf);
}

static size_t gen_central(const ad_zip *z, const zentry *e, unsigned char *buf)
{
    unsigned char *p = buf;
    uint16_t xlen = central_extra_len(e);
    p = put32(p, 0x02014b50u);
    p = put16(p, (3u << 8) | 45u); /* made by: Unix, spec 4.5 */
    p = put16(p, version_needed(e));
    p = put16(p, e->utf8 ? 0x0800u : 0);
    p = put16(p, 0);
    p = put16(p, z->dos_time);
    p = put16(p, z->dos_date);
    p = put32(p, e->crc);
    p = put32(p, big_size(e) ? MAX32 : (uint32_t)e->size);
    p = put32(p, big_size(e) ? MAX32 : (uint32_t)e->size);
    p = put16(p, e->namelen);
    p = put16(p, xlen);
    p = put16(p, 0);              /* comment */
    p = put16(p, 0);              /* disk */
    p = put16(p, 0);              /* internal attributes */
    p = put32(p, 0100644u << 16); /* external: a regular file, rw-r--r-- */
    p = put32(p, big_off(e) ? MAX32 : (uint32_t)e->lh_off);
    memcpy(p, e->name, e->namelen);
    p += e->namelen;
    if (xlen) {
        p = put16(p, 0x0001);
        p = put16(p, (uint32_t)(xlen - 4));
        if (big_size(e)) p = put64(put64(p, e->size), e->size);
        if (big_off(e)) p = put64(p, e->lh_off);
    }
    return (size_t)(p - buf);
}

static size_t gen_trailer(const ad_zip *z, unsigned char *buf)
{
    unsigned char *p = buf;
    uint64_t cd_size = z->cd_end - z->cd_start;
    if (z->z64_end) {
        p = put32(p, 0x06064b50u);
        p = put64(p, Z64_EOCD_LEN - 12);
        p = put16(p, (3u << 8) | 45u);
        p = put16(p, 45);
        p = put32(p, 0);
        p = put32(p, 0);
        p = put64(p, z->n);
        p = put64(p, z->n);
        p = put64(p, cd_size);
        p = put64(p, z->cd_start);
        p = put32(p, 0x07064b50u);
        p = put32(p, 0);
        p = put64(p, z->cd_end); /* where the zip64 end record starts */
        p = put32(p, 1);
    }
    p = put32(p, 0x06054b50u);
    p = put16(p, 0);
    p = put16(p, 0);
    p = put16(p, z->n >= MAX16 ? MAX16 : (uint32_t)z->n);
    p = put16(p, z->n >= MAX16 ? MAX16 : (uint32_t)z->n);
    p = put32(p, cd_size >= MAX32 ? MAX32 : (uint32_t)cd_size);
    p = put32(p, z->cd_start >= MAX32 ? MAX32 : (uint32_t)z->cd_start);
    p = put16(p, 0);
    return (size_t)(p - buf);
}

/* --- names --- */

static ad_code check_name(const char *name, ad_error *err)
{
    size_t n = strlen(name), i, seg = 0;
    if (n == 0 || n > AD_ZIP_NAME_MAX)
        return ad_fail(err, AD_E_BAD_REQUEST, "zip entry name \"%.200s\": empty or over %d bytes",
                       name, AD_ZIP_NAME_MAX);
    if (!ad_utf8_valid(name, n))
        return ad_fail(err, AD_E_BAD_REQUEST, "zip entry name: not valid UTF-8");
    for (i = 0; i <= n; i++) {
        unsigned char c = (unsigned char)name[i];
        if (c == '/' || c == '\0') {
            size_t len = i - seg;
            if (len == 0 || (len == 1 && name[seg] == '.') ||
                (len == 2 && name[seg] == '.' && name[seg + 1] == '.'))
                return ad_fail(err, AD_E_BAD_REQUEST,
                               "zip entry name \"%.200s\": empty, \".\" or \"..\" segment", name);
            seg = i + 1;
        } else if (c < 0x20 || c == 0x7F || c == '\\') {
            return ad_fail(err, AD_E_BAD_REQUEST,
                           "zip entry name \"%.200s\": control byte or backslash", name);
        }
    }
    return AD_OK;
}

static int cmp_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* No name twice, and no name that is also a directory of another ("a" and
 * "a/b" cannot both be extracted). */
static ad_code check_unique(const ad_zip *z, ad_error *err)
{
    char **sorted = malloc((z->n ? z->n : 1) * sizeof(*sorted));
    char prefix[AD_ZIP_NAME_MAX + 1];
    ad_code rc = AD_OK;
    size_t i;
    if (!sorted) return ad_fail(err, AD_E_NOMEM, "out of memory");
    for (i = 0; i < z->n; i++) sorted[i] = z->e[i].name;
    qsort(sorted, z->n, sizeof(*sorted), cmp_name);
    for (i = 0; i + 1 < z->n && !rc; i++)
        if (strcmp(sorted[i], sorted[i + 1]) == 0)
            rc = ad_fail(err, AD_E_BAD_REQUEST, "zip entry name \"%.200s\" appears twice",
                         sorted[i]);
    for (i = 0; i < z->n && !rc; i++) {
        const char *s = z->e[i].name, *slash;
        for (slash = strchr(s, '/'); slash && !rc; slash = strchr(slash + 1, '/')) {
            const char *key = prefix;
            memcpy(prefix, s, (size_t)(slash - s));
            prefix[slash - s] = '\0';
            if (bsearch(&key, sorted, z->n, sizeof(*sorted), cmp_name))
                rc = ad_fail(err, AD_E_BAD_REQUEST,
                             "zip entry \"%.200s\" is also the directory of \"%.200s\"", prefix, s);
        }
    }
    free(sorted);
    return rc;
}

/* --- construction --- */

static uint64_t fnv(uint64_t h, const unsigned char *p, size_t n)
{
    while (n--) h = (h ^ *p++) * 1099511628211ull;
    return h;
}

static void lay_out(ad_zip *z)
{
    unsigned char hdr[HDR_CAP];
    uint64_t off = 0;
    size_t i;
    for (i = 0; i < z->n; i++) {
        z->e[i].lh_off = off;
        off += local_len(&z->e[i]) + z->e[i].size;
    }
    z->cd_start = off;
    z->digest = 14695981039346656037ull;
    for (i = 0; i < z->n; i++) {
        z->e[i].cd_off = off;
        off += central_len(&z->e[i]);
        z->digest = fnv(z->digest, hdr, gen_central(z, &z->e[i], hdr));
    }
    z->cd_end = off;
    z->z64_end = z->n >= MAX16 || z->cd_start >= MAX32 || z->cd_end - z->cd_start >= MAX32;
    z->length = off + (z->z64_end ? Z64_EOCD_LEN + Z64_LOC_LEN : 0) + EOCD_LEN;
    z->digest = fnv(z->digest, hdr, gen_trailer(z, hdr));
}

ad_code ad_zip_new(const ad_zip_entry *entries, size_t n, int64_t mtime, ad_zip **out,
                   ad_error *err)
{
    ad_zip *z;
    ad_code rc = AD_OK;
    size_t i;
    *out = NULL;
    if (n > AD_ZIP_ENTRIES_MAX)
        return ad_fail(err, AD_E_BAD_REQUEST, "zip: %zu entries, over the limit of %d", n,
                       AD_ZIP_ENTRIES_MAX);
    z = calloc(1, sizeof(*z));
    if (!z || !(z->e = calloc(n ? n : 1, sizeof(*z->e)))) {
        free(z);
        return ad_fail(err, AD_E_NOMEM, "out of memory");
    }
    for (i = 0; i < n && !rc; i++) {
        const char *p;
        rc = check_name(entries[i].name, err);
        if (rc) break;
        if (!(z->e[i].name = strdup(entries[i].name))) {
            rc = ad_fail(err, AD_E_NOMEM, "out of memory");
            break;
        }
        z->n = i + 1;
        z->e[i].namelen = (uint16_t)strlen(entries[i].name);
        z->e[i].size = entries[i].size;
        z->e[i].crc = entries[i].crc32;
        for (p = entries[i].name; *p; p++)
            if ((unsigned char)*p >= 0x80) z->e[i].utf8 = true;
    }
    if (!rc) rc = check_unique(z, err);
    if (rc) {
        ad_zip_free(z);
        return rc;
    }
    dos_stamp(mtime, &z->dos_time, &z->dos_date);
    lay_out(z);
    *out = z;
    return AD_OK;
}

void ad_zip_free(ad_zip *z)
{
    size_t i;
    if (!z) return;
    for (i = 0; i < z->n; i++) free(z->e[i].name);
    free(z->e);
    free(z);
}

uint64_t ad_zip_length(const ad_zip *z)
{
    return z->length;
}

uint64_t ad_zip_digest(const ad_zip *z)
{
    return z->digest;
}

/* --- production --- */

/* The last entry whose field at `which` offset is <= off. */
static size_t find_entry(const ad_zip *z, uint64_t off, bool central)
{
    size_t lo = 0, hi = z->n;
    while (hi - lo > 1) {
        size_t mid = lo + (hi - lo) / 2;
        uint64_t at = central ? z->e[mid].cd_off : z->e[mid].lh_off;
        if (at <= off)
            lo = mid;
        else
            hi = mid;
    }
    return lo;
}

static size_t copy_part(const unsigned char *src, size_t len, uint64_t skip, void *buf, size_t n)
{
    size_t k;
    if (skip >= len) return 0;
    k = len - (size_t)skip < n ? len - (size_t)skip : n;
    memcpy(buf, src + skip, k);
    return k;
}

static ad_code read_data(const zentry *e, size_t i, uint64_t at, char *buf, size_t n, size_t *got,
                         ad_zip_read_fn fn, void *ctx, ad_error *err)
{
    uint64_t left = e->size - at;
    size_t want = left < n ? (size_t)left : n, done = 0;
    if (want > DATA_CHUNK) want = DATA_CHUNK;
    while (done < want) {
        size_t k = 0;
        ad_code rc = fn(ctx, i, at + done, buf + done, want - done, &k, err);
        if (rc) return rc;
        if (k == 0)
            return ad_fail(err, AD_E_BACKEND,
                           "zip: the data of \"%.200s\" ended at %llu of %llu bytes", e->name,
                           (unsigned long long)(at + done), (unsigned long long)e->size);
        done += k;
    }
    *got = done;
    return AD_OK;
}

/* Produces bytes at off (< length) into buf: one piece (a header, a run of
 * data or the trailer), *got > 0. */
static ad_code read_piece(const ad_zip *z, uint64_t off, char *buf, size_t n, size_t *got,
                          ad_zip_read_fn fn, void *ctx, ad_error *err)
{
    unsigned char hdr[HDR_CAP];
    if (off < z->cd_start) {
        size_t i = find_entry(z, off, false);
        const zentry *e = &z->e[i];
        uint64_t data = e->lh_off + local_len(e);
        if (off < data) {
            *got = copy_part(hdr, gen_local(z, e, hdr), off - e->lh_off, buf, n);
            return AD_OK;
        }
        return read_data(e, i, off - data, buf, n, got, fn, ctx, err);
    }
    if (off < z->cd_end) {
        const zentry *e = &z->e[find_entry(z, off, true)];
        *got = copy_part(hdr, gen_central(z, e, hdr), off - e->cd_off, buf, n);
        return AD_OK;
    }
    *got = copy_part(hdr, gen_trailer(z, hdr), off - z->cd_end, buf, n);
    return AD_OK;
}

ad_code ad_zip_read(const ad_zip *z, uint64_t off, void *buf, size_t n, size_t *got,
                    ad_zip_read_fn fn, void *ctx, ad_error *err)
{
    char *out = buf;
    size_t done = 0;
    *got = 0;
    while (done < n && off + done < z->length) {
        size_t k = 0;
        ad_code rc = read_piece(z, off + done, out + done, n - done, &k, fn, ctx, err);
        if (rc) return rc;
        done += k;
    }
    *got = done;
    return AD_OK;
}
