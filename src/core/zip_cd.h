/*
 * zip_cd.h — a check of a zip archive's central directory, before
 * libarchive reads the entries.
 *
 * Written by hand because libarchive's reader hides what these checks
 * need: it hands out entry names already decoded (a NUL cuts a name short,
 * backslashes become slashes), it silently merges central directory
 * entries that share a local header (the "overlapping entries" zip bomb
 * then unpacks as one file, the other names dropped without a word), and
 * it has no compressed sizes. This reads only the end records, the
 * central directory, record by record with pread, in bounded buffers, and
 * the fixed part of each local header (to find where the entry's data
 * starts).
 *
 * The table it keeps (ad_zip_dir, one small record per entry, at most
 * max_entries of them) lets the ingest pipeline check each entry's CRC-32
 * itself while libarchive skips its own check, so every byte goes through
 * CRC-32 once instead of twice: an entry libarchive returns is matched to
 * its record by where its data starts (archive_filter_bytes() after the
 * header is read).
 */
#ifndef ASSETD_CORE_ZIP_CD_H
#define ASSETD_CORE_ZIP_CD_H

#include <stdint.h>

#include "util/err.h"

/* Little-endian fields of zip records. */
static inline uint16_t ad_zip_u16(const unsigned char *p)
{
    return (uint16_t)(p[0] | p[1] << 8);
}

static inline uint32_t ad_zip_u32(const unsigned char *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static inline uint64_t ad_zip_u64(const unsigned char *p)
{
    return (uint64_t)ad_zip_u32(p) | (uint64_t)ad_zip_u32(p + 4) << 32;
}

/* One entry of the central directory. */
typedef struct ad_zip_entry {
    uint64_t header_off; /* its local header in the archive */
    uint64_t data_off;   /* first byte of its data */
    uint64_t csize;      /* compressed size */
    uint64_t usize;      /* uncompressed size */
    uint32_t crc;        /* CRC-32 of the uncompressed data */
    uint16_t method;     /* 0 stored, 8 deflated, … */
} ad_zip_entry;

/* Every entry, in the order of their data in the archive. */
typedef struct ad_zip_dir {
    ad_zip_entry *e;
    size_t n;
} ad_zip_dir;

/* AD_OK, or AD_E_INVALID with a message naming the problem: no end of
 * central directory record, more than max_entries entries, a raw entry
 * name with a NUL or a backslash, an encrypted entry, an entry whose Unix
 * mode is a symbolic link, device, FIFO or socket, no local header where a
 * record says one starts, entries whose data overlap or lie outside the
 * archive. AD_E_BACKEND on a read error. On AD_OK *out holds the table
 * (free it with ad_zip_dir_free). */
ad_code ad_zip_cd_read(int fd, uint64_t file_size, uint64_t max_entries, ad_zip_dir *out,
                       ad_error *err);
/* The entry whose data starts at data_off, or NULL. */
const ad_zip_entry *ad_zip_dir_find(const ad_zip_dir *d, uint64_t data_off);
void ad_zip_dir_free(ad_zip_dir *d);

/* ad_zip_cd_read without keeping the table. */
ad_code ad_zip_cd_check(int fd, uint64_t file_size, uint64_t max_entries, ad_error *err);

#endif
