/*
 * archive_rules.h — what an archive entry may be before assetd stores it:
 * the rules on entry names (relative, no "..", no backslash or control
 * bytes, valid UTF-8, short enough to be a blob key) and the percent-
 * encoding of a name for a file URL.
 */
#ifndef ASSETD_CORE_ARCHIVE_RULES_H
#define ASSETD_CORE_ARCHIVE_RULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/buf.h"
#include "util/err.h"

#define AD_ARCHIVE_NAME_MAX 900 /* bytes; leaves room for "<upload_id>/" in a blob key */

/* AD_OK when name (a file's path in an archive, without a trailing '/')
 * may be stored; otherwise AD_E_INVALID with a message naming the
 * problem. */
ad_code ad_archive_name_check(const char *name, ad_error *err);

/* The limits on what an archive may unpack to, the same for a ZIP upload
 * and a package pulled from a URL (--zip-max-entries, --zip-max-unpacked,
 * --zip-max-ratio). */
typedef struct ad_archive_limits {
    uint64_t max_entries;
    uint64_t max_unpacked; /* bytes, all entries together */
    uint64_t max_ratio;    /* unpacked bytes per archive byte */
} ad_archive_limits;

/* AD_E_INVALID "more than N entries (the limit)" when entries is over. */
ad_code ad_archive_check_entries(const ad_archive_limits *l, uint64_t entries, ad_error *err);
/* AD_E_INVALID when unpacked bytes (declared or really produced) from an
 * archive of archive_size bytes are over the total or the ratio. */
ad_code ad_archive_check_unpacked(const ad_archive_limits *l, uint64_t unpacked,
                                  uint64_t archive_size, ad_error *err);

/* Appends name to b with each '/'-separated segment percent-encoded (RFC
 * 3986 unreserved characters kept, slashes kept). */
ad_code ad_url_path_append(ad_buf *b, const char *name);

#endif
