/*
 * urlsource.h — reading a file that lives outside the registry's store,
 * by its http(s) URL, the way the blob port reads an object: its size, a
 * byte range, its CRC-32. Used by ZIP downloads when --fetch-external is
 * on. One handle keeps one connection alive between calls; it is not
 * shared between threads.
 */
#ifndef ASSETD_CORE_URLSOURCE_H
#define ASSETD_CORE_URLSOURCE_H

#include <stddef.h>
#include <stdint.h>

#include "util/err.h"

typedef struct ad_urlsrc ad_urlsrc;

ad_urlsrc *ad_urlsrc_new(void);
void ad_urlsrc_free(ad_urlsrc *s);

/* The size of url (HEAD, which must give a Content-Length). AD_E_NOT_FOUND
 * for 404/410, AD_E_BACKEND for other failures, with the reason. */
ad_code ad_urlsrc_size(ad_urlsrc *s, const char *url, uint64_t *size, ad_error *err);
/* Up to n bytes at off (a Range request; a 200 answer is accepted when off
 * is 0). *got < n only at the end. */
ad_code ad_urlsrc_read(ad_urlsrc *s, const char *url, uint64_t off, void *buf, size_t n,
                       size_t *got, ad_error *err);
/* Reads all of url once: its CRC-32, checking it has exactly size bytes. */
ad_code ad_urlsrc_crc32(ad_urlsrc *s, const char *url, uint64_t size, uint32_t *crc, ad_error *err);

#endif
