/*
 * hashpipe.h — SHA-256 of a stream, computed on a second thread while the
 * caller goes on with the same bytes (CRC-32, writing them out) and reads
 * the next ones.
 *
 * The caller fills blocks the pipe owns: ad_hashpipe_block() gives a free
 * block, ad_hashpipe_submit() queues its first n bytes for hashing, and the
 * caller may keep reading that block (never writing it) until it asks for
 * the next one. A few blocks circulate, so memory is fixed whatever the
 * stream's length. When no thread can be started, submit hashes inline.
 */
#ifndef ASSETD_CORE_HASHPIPE_H
#define ASSETD_CORE_HASHPIPE_H

#include <stddef.h>

#include "util/err.h"

#define AD_HASHPIPE_BLOCK  ((size_t)256 << 10) /* bytes of one block */
#define AD_HASHPIPE_BLOCKS 4                   /* blocks in circulation */

typedef struct ad_hashpipe ad_hashpipe;

ad_code ad_hashpipe_new(ad_hashpipe **out, ad_error *err);
/* A block of AD_HASHPIPE_BLOCK bytes to fill, waiting while every other
 * block is still queued or being hashed. Until it is submitted, the same
 * block is returned again. */
char *ad_hashpipe_block(ad_hashpipe *h);
/* Queues the first n bytes of the block from ad_hashpipe_block(). */
void ad_hashpipe_submit(ad_hashpipe *h, size_t n);
/* Waits until every queued byte is hashed, writes the SHA-256 of the bytes
 * submitted since the last digest (or since new) to dig, and starts a new
 * stream. 0, or -1 when libcrypto failed. */
int ad_hashpipe_digest(ad_hashpipe *h, unsigned char dig[32]);
/* Stops the thread and frees everything. NULL is a no-op. */
void ad_hashpipe_free(ad_hashpipe *h);

#endif
