/*
 * zip_cd.h — a check of a zip archive's central directory, before
 * libarchive reads the entries.
 *
 * Written by hand because libarchive's reader hides what these checks
 * need: it hands out entry names already decoded (a NUL cuts a name short,
 * backslashes become slashes), it silently merges central directory
 * entries that share a local header (the "overlapping entries" zip bomb
 * then unpacks as one file, the other names dropped without a word), and
 * it has no compressed sizes. This reads only the end records and the
 * central directory, record by record with pread, in bounded buffers.
 */
#ifndef ASSETD_CORE_ZIP_CD_H
#define ASSETD_CORE_ZIP_CD_H

#include <stdint.h>

#include "util/err.h"

/* AD_OK, or AD_E_INVALID with a message naming the problem: no end of
 * central directory record, more than max_entries entries, a raw entry
 * name with a NUL or a backslash, an encrypted entry, an entry whose Unix
 * mode is a symbolic link, device, FIFO or socket, entries whose data
 * overlap or lie outside the archive. AD_E_BACKEND on a read error. */
ad_code ad_zip_cd_check(int fd, uint64_t file_size, uint64_t max_entries, ad_error *err);

#endif
