/*
 * blob_contract.h — the contract suite of the blob store port
 * (store/blob.h).
 *
 * Every blob store adapter (the data directory, S3) runs the same suite.
 * It reaches the adapter only through ad_blob_open() and the slots of
 * ad_blob_ops, so nothing in it knows where the bytes live.
 *
 * What it checks, in order:
 *   - ping, a missing key, the mandatory slots;
 *   - a streamed write in many odd-sized chunks, invisible until commit,
 *     then ranged reads at every edge (first byte, last byte, across the
 *     end, at and far past the end, at UINT64_MAX) and reassembly;
 *   - abort leaves nothing (not even an old object's loss), replace by a
 *     longer and a shorter object, two writers on one key (the last commit
 *     wins, whole), the empty object, remove (also of a missing key and of
 *     a key that is only a prefix of others);
 *   - key rules: bad keys refused by every slot, keys with unicode,
 *     spaces, '%', '+', '&', '?', '#', '=', 255-byte parts and the longest
 *     key allowed, each written and read back;
 *   - a large object (opts.large_size, meant to cross the adapter's
 *     multipart threshold) written in 64 KiB pieces and read back
 *     byte-exact by reads and by the streaming reader, and ranged reads
 *     around every part boundary;
 *   - head: sizes, and a version that changes when the object is replaced;
 *   - the streaming reader: whole objects, ranges clamped at the end,
 *     empty ranges, reads of 1 byte to 1 MiB, several readers interleaved,
 *     closing early, missing and bad keys;
 *   - concurrency: threads writing their own objects and racing on one
 *     key (which ends as exactly one writer's bytes);
 *   - the bucket slots: name rules, create/exists/remove, objects in a
 *     bucket opened with bucket_open, removal of a bucket that is not
 *     empty refused unless forced.
 * After every commit and abort the adapter's leftovers (temporary files,
 * multipart uploads) are counted through opts.leftovers and must be zero.
 */
#ifndef ASSETD_TESTS_BLOB_CONTRACT_H
#define ASSETD_TESTS_BLOB_CONTRACT_H

#include <stddef.h>

typedef struct blob_contract_opts {
    const char *url;   /* the store to test; it should hold no objects */
    size_t large_size; /* bytes of the large object; 0: 3 MiB + 17 */
    size_t key_max;    /* the longest key to try; 0: AD_BLOB_KEY_MAX */
    /* Temporary things the adapter has left (files in a .tmp directory,
     * unfinished multipart uploads), or -1 when it cannot tell. NULL: not
     * checked. */
    int (*leftovers)(void *ctx);
    void *ctx;
} blob_contract_opts;

/* Runs the suite. Prints "blob contract <url without credentials>: N
 * passed, M failed" and returns M (0 when every check passed). */
int blob_contract_run(const blob_contract_opts *opts);

#endif
