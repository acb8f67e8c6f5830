/*
 * zipwrite.h — a deterministic zip (and zip64) writer for stored entries,
 * built as a layout engine: given the entries' names, sizes and CRC-32s it
 * computes where every byte of the archive goes, so the exact length is
 * known before the first byte and any byte range can be produced on demand
 * (Content-Length and Range requests for downloads built on the fly).
 *
 * File data is pulled through a callback; everything else (local headers,
 * central directory, zip64 records) is generated from the layout. The same
 * entries and mtime always give the same bytes.
 */
#ifndef ASSETD_CORE_ZIPWRITE_H
#define ASSETD_CORE_ZIPWRITE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

#define AD_ZIP_NAME_MAX    4096    /* bytes of an entry name */
#define AD_ZIP_ENTRIES_MAX 1000000 /* entries in one archive */

typedef struct ad_zip_entry {
    const char *name; /* '/'-separated relative path, UTF-8; copied */
    uint64_t size;    /* bytes of data */
    uint32_t crc32;
} ad_zip_entry;

typedef struct ad_zip ad_zip;

/* Lays out an archive of n entries, in the order given, every one stamped
 * with mtime (seconds since the epoch, shown as UTC). AD_E_BAD_REQUEST for
 * a name that is empty, absolute, over AD_ZIP_NAME_MAX, holds "..", ".",
 * an empty segment, a backslash or a control byte, or repeats another. */
ad_code ad_zip_new(const ad_zip_entry *entries, size_t n, int64_t mtime, ad_zip **out,
                   ad_error *err);
void ad_zip_free(ad_zip *z);

/* Exact length of the archive in bytes. */
uint64_t ad_zip_length(const ad_zip *z);
/* A 64-bit digest of everything but the file data (names, sizes, CRCs,
 * times, offsets): with the length, a validator for the archive's bytes. */
uint64_t ad_zip_digest(const ad_zip *z);

/* Reads up to n bytes of entry i's data at off into buf; *got < n only at
 * the end of the entry's data. */
typedef ad_code (*ad_zip_read_fn)(void *ctx, size_t i, uint64_t off, void *buf, size_t n,
                                  size_t *got, ad_error *err);

/* Produces up to n bytes of the archive at offset off into buf (fewer only
 * at the end of the archive; 0 past it). A data source that ends early is
 * AD_E_BACKEND: the archive would not match its layout. */
ad_code ad_zip_read(const ad_zip *z, uint64_t off, void *buf, size_t n, size_t *got,
                    ad_zip_read_fn fn, void *ctx, ad_error *err);

#endif
