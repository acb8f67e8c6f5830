/*
 * zip_cd.c — central directory checks of a zip archive (see zip_cd.h).
 * Record layouts: PKWARE APPNOTE.TXT 6.3.10, sections 4.3.12 (central
 * directory header), 4.3.14–4.3.16 (zip64 and classic end records) and
 * 4.5.3 (zip64 extended information extra field).
 */
#include "core/zip_cd.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define EOCD_LEN     22
#define EOCD_SEARCH  (EOCD_LEN + 65535) /* the comment is at most 64 KiB */
#define CDH_LEN      46
#define LFH_LEN      30
#define Z64_LOC_LEN  20
#define Z64_EOCD_LEN 56
#define VAR_MAX      (3 * 65535) /* name + extra + comment of one record */

typedef struct cd_info {
    uint64_t count, size, off;
} cd_info;

static ad_code read_at(int fd, void *buf, size_t n, uint64_t off, ad_error *err)
{
    size_t got = 0;
    while (got < n) {
        ssize_t r = pread(fd, (char *)buf + got, n - got, (off_t)(off + got));
        if (r < 0 && errno == EINTR) continue;
        if (r < 0) return ad_fail(err, AD_E_BACKEND, "reading the archive: %s", strerror(errno));
        if (r == 0) return ad_fail(err, AD_E_INVALID, "corrupt archive: truncated");
        got += (size_t)r;
    }
    return AD_OK;
}

static ad_code zip64_end(int fd, uint64_t size, uint64_t loc_off, cd_info *cd, ad_error *err)
{
    unsigned char loc[Z64_LOC_LEN], rec[Z64_EOCD_LEN];
    uint64_t off;
    ad_code rc = read_at(fd, loc, sizeof(loc), loc_off, err);
    if (rc || ad_zip_u32(loc) != 0x07064b50) return rc; /* no zip64 locator: classic values stand */
    off = ad_zip_u64(loc + 8);
    if (off > size - Z64_EOCD_LEN)
        return ad_fail(err, AD_E_INVALID, "corrupt archive: zip64 end record out of range");
    rc = read_at(fd, rec, sizeof(rec), off, err);
    if (rc) return rc;
    if (ad_zip_u32(rec) != 0x06064b50)
        return ad_fail(err, AD_E_INVALID, "corrupt archive: bad zip64 end record");
    cd->count = ad_zip_u64(rec + 32), cd->size = ad_zip_u64(rec + 40),
    cd->off = ad_zip_u64(rec + 48);
    return AD_OK;
}

/* Finds the end of central directory record (the last one in the file). */
static ad_code find_end(int fd, uint64_t size, cd_info *cd, ad_error *err)
{
    size_t n = size < EOCD_SEARCH ? (size_t)size : EOCD_SEARCH, i;
    unsigned char *buf;
    uint64_t base = size - n;
    ad_code rc;
    if (size < EOCD_LEN) return ad_fail(err, AD_E_INVALID, "corrupt archive: too short");
    buf = malloc(n);
    if (!buf) return ad_fail(err, AD_E_NOMEM, "out of memory");
    rc = read_at(fd, buf, n, base, err);
    for (i = n - EOCD_LEN + 1; !rc && i-- > 0;) {
        if (ad_zip_u32(buf + i) != 0x06054b50) continue;
        cd->count = ad_zip_u16(buf + i + 10), cd->size = ad_zip_u32(buf + i + 12),
        cd->off = ad_zip_u32(buf + i + 16);
        free(buf);
        if (base + i >= Z64_LOC_LEN) return zip64_end(fd, size, base + i - Z64_LOC_LEN, cd, err);
        return AD_OK;
    }
    free(buf);
    return rc ? rc
              : ad_fail(err, AD_E_INVALID,
                        "corrupt archive: no end of central directory record (truncated?)");
}

static const char *special_type(unsigned mode)
{
    switch (mode & 0170000) {
    case 0120000:
        return "is a symbolic link";
    case 0020000:
    case 0060000:
        return "is a device";
    case 0010000:
        return "is a FIFO, not a regular file";
    case 0140000:
        return "is a socket, not a regular file";
    }
    return NULL;
}

/* The zip64 extended information of one record, where the classic fields
 * are saturated (0xffffffff): they come in the order uncompressed size,
 * compressed size, local header offset. */
static void zip64_extra(const unsigned char *x, size_t n, ad_zip_entry *e)
{
    while (n >= 4) {
        uint16_t id = ad_zip_u16(x), len = ad_zip_u16(x + 2);
        const unsigned char *p = x + 4, *end;
        if ((size_t)len + 4 > n) return;
        end = p + len;
        if (id == 0x0001) {
            if (e->usize == 0xffffffffu && p + 8 <= end) e->usize = ad_zip_u64(p), p += 8;
            if (e->csize == 0xffffffffu && p + 8 <= end) e->csize = ad_zip_u64(p), p += 8;
            if (e->header_off == 0xffffffffu && p + 8 <= end) e->header_off = ad_zip_u64(p);
            return;
        }
        x += 4 + len;
        n -= 4 + (size_t)len;
    }
}

static ad_code check_record(const unsigned char *h, const unsigned char *var, ad_zip_entry *e,
                            ad_error *err)
{
    size_t nlen = ad_zip_u16(h + 28), xlen = ad_zip_u16(h + 30);
    const char *why = NULL;
    unsigned sys = ad_zip_u16(h + 4) >> 8;
    int shown = nlen > 200 ? 200 : (int)nlen;
    if (memchr(var, '\0', nlen))
        why = "name contains a NUL byte";
    else if (memchr(var, '\\', nlen))
        why = "name contains a backslash";
    else if (ad_zip_u16(h + 8) & 1)
        why = "is encrypted";
    else if (sys == 3 || sys == 19)
        why = special_type(ad_zip_u32(h + 38) >> 16);
    if (why) {
        char name[201];
        size_t i;
        for (i = 0; i < (size_t)shown; i++) name[i] = var[i] ? (char)var[i] : '?';
        name[shown] = '\0';
        return ad_fail(err, AD_E_INVALID, "entry \"%s\" %s", name, why);
    }
    e->method = ad_zip_u16(h + 10);
    e->crc = ad_zip_u32(h + 16);
    e->csize = ad_zip_u32(h + 20);
    e->usize = ad_zip_u32(h + 24);
    e->header_off = ad_zip_u32(h + 42);
    zip64_extra(var + nlen, xlen, e);
    return AD_OK;
}

static int cmp_entry(const void *a, const void *b)
{
    const ad_zip_entry *x = a, *y = b;
    return x->header_off < y->header_off ? -1 : x->header_off > y->header_off;
}

static ad_code overlap(uint64_t off, ad_error *err)
{
    return ad_fail(err, AD_E_INVALID,
                   "overlapping entries: entry data at offset %llu runs into the next entry or "
                   "the central directory (zip bomb?)",
                   (unsigned long long)off);
}

/* Sorts the entries by offset, checks that each local header and its data
 * end before the next header (or the directory) and finds where the data
 * starts: after the local header's own name and extra field, whose lengths
 * may differ from the directory's. */
static ad_code check_spans(int fd, ad_zip_entry *e, uint64_t n, uint64_t cd_off, ad_error *err)
{
    uint64_t i;
    qsort(e, (size_t)n, sizeof(*e), cmp_entry);
    for (i = 0; i < n; i++) {
        uint64_t end = i + 1 < n ? e[i + 1].header_off : cd_off;
        unsigned char lh[LFH_LEN];
        ad_code rc;
        if (e[i].header_off > end || end - e[i].header_off < LFH_LEN ||
            e[i].csize > end - e[i].header_off - LFH_LEN)
            return overlap(e[i].header_off, err);
        rc = read_at(fd, lh, LFH_LEN, e[i].header_off, err);
        if (rc) return rc;
        if (ad_zip_u32(lh) != 0x04034b50)
            return ad_fail(err, AD_E_INVALID, "corrupt archive: no local header at offset %llu",
                           (unsigned long long)e[i].header_off);
        e[i].data_off = e[i].header_off + LFH_LEN + ad_zip_u16(lh + 26) + ad_zip_u16(lh + 28);
        if (e[i].data_off > end || e[i].csize > end - e[i].data_off)
            return overlap(e[i].header_off, err);
    }
    return AD_OK;
}

static ad_code walk(int fd, const cd_info *cd, ad_zip_entry *entries, ad_error *err)
{
    unsigned char h[CDH_LEN], *var = malloc(VAR_MAX);
    uint64_t pos = cd->off, end = cd->off + cd->size, i;
    ad_code rc = var ? AD_OK : ad_fail(err, AD_E_NOMEM, "out of memory");
    for (i = 0; !rc && i < cd->count; i++) {
        size_t vlen;
        if (pos + CDH_LEN > end) {
            rc = ad_fail(err, AD_E_INVALID, "corrupt archive: central directory ends early");
            break;
        }
        rc = read_at(fd, h, CDH_LEN, pos, err);
        if (!rc && ad_zip_u32(h) != 0x02014b50)
            rc = ad_fail(err, AD_E_INVALID, "corrupt archive: bad central directory record");
        if (rc) break;
        vlen = (size_t)ad_zip_u16(h + 28) + ad_zip_u16(h + 30) + ad_zip_u16(h + 32);
        if (pos + CDH_LEN + vlen > end) {
            rc = ad_fail(err, AD_E_INVALID, "corrupt archive: central directory ends early");
            break;
        }
        rc = read_at(fd, var, vlen, pos + CDH_LEN, err);
        if (!rc) rc = check_record(h, var, &entries[i], err);
        pos += CDH_LEN + vlen;
    }
    free(var);
    return rc;
}

ad_code ad_zip_cd_read(int fd, uint64_t file_size, uint64_t max_entries, ad_zip_dir *out,
                       ad_error *err)
{
    cd_info cd = {0};
    ad_zip_entry *entries;
    ad_code rc;
    out->e = NULL;
    out->n = 0;
    rc = find_end(fd, file_size, &cd, err);
    if (rc) return rc;
    if (cd.count > max_entries)
        return ad_fail(err, AD_E_INVALID, "more than %llu entries (the limit): %llu",
                       (unsigned long long)max_entries, (unsigned long long)cd.count);
    if (cd.off > file_size || cd.size > file_size - cd.off)
        return ad_fail(err, AD_E_INVALID, "corrupt archive: central directory out of range");
    if (cd.count > cd.size / CDH_LEN)
        return ad_fail(err, AD_E_INVALID, "corrupt archive: entry count larger than the directory");
    entries = calloc((size_t)(cd.count ? cd.count : 1), sizeof(*entries));
    if (!entries) return ad_fail(err, AD_E_NOMEM, "out of memory");
    rc = walk(fd, &cd, entries, err);
    if (!rc) rc = check_spans(fd, entries, cd.count, cd.off, err);
    if (rc) {
        free(entries);
        return rc;
    }
    out->e = entries;
    out->n = (size_t)cd.count;
    return AD_OK;
}

const ad_zip_entry *ad_zip_dir_find(const ad_zip_dir *d, uint64_t data_off)
{
    size_t lo = 0, hi = d->n;
    /* sorted by header offset, and the data of entry i lies between its
     * header and header i + 1, so data offsets are sorted too */
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (d->e[mid].data_off < data_off)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo < d->n && d->e[lo].data_off == data_off ? &d->e[lo] : NULL;
}

void ad_zip_dir_free(ad_zip_dir *d)
{
    free(d->e);
    d->e = NULL;
    d->n = 0;
}

ad_code ad_zip_cd_check(int fd, uint64_t file_size, uint64_t max_entries, ad_error *err)
{
    ad_zip_dir d;
    ad_code rc = ad_zip_cd_read(fd, file_size, max_entries, &d, err);
    ad_zip_dir_free(&d);
    return rc;
}
