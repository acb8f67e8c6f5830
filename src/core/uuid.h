/*
 * uuid.h — random (version 4) UUIDs from the kernel's random source, for
 * upload ids.
 */
#ifndef ASSETD_CORE_UUID_H
#define ASSETD_CORE_UUID_H

#include <stdbool.h>
#include <stddef.h>

#define AD_UUID_LEN 36

/* Fills b with n bytes from the kernel's random source (getrandom). */
void ad_random_bytes(unsigned char *b, size_t n);
/* Writes a lowercase uuid4 and its NUL into out. */
void ad_uuid4(char out[AD_UUID_LEN + 1]);
/* True when s is a lowercase 8-4-4-4-12 hex UUID. */
bool ad_uuid_valid(const char *s);

#endif
