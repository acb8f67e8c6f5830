/*
 * hashpipe.c — SHA-256 on a second thread (see hashpipe.h).
 *
 * SHA-256 is the most expensive thing done to each ingested byte (about
 * 0.7 ns per byte with SHA-NI, more than reading, CRC-32 and writing
 * together), and one stream cannot be split across cores. So the ingest
 * worker hands each filled block to this thread and computes CRC-32 and
 * writes the block itself meanwhile: a file then takes as long as the
 * slower of the two sides instead of their sum.
 *
 * Blocks are used in ring order. Counters, under one mutex: `given` blocks
 * handed to the caller, `submitted` of them queued, `hashed` of them done.
 * Block g (g % AD_HASHPIPE_BLOCKS) is free for the caller once block
 * g - AD_HASHPIPE_BLOCKS is hashed; the caller is done with a block when it
 * asks for the next one. The digest context is only touched by the thread
 * while a block is queued, and by the caller only once the queue is empty.
 */
#include "core/hashpipe.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

struct ad_hashpipe {
    pthread_mutex_t mu;
    pthread_cond_t work; /* a block was queued, or quit */
    pthread_cond_t done; /* a block was hashed */
    pthread_t thread;
    bool threaded, quit, failed;
    uint64_t given, submitted, hashed;
    size_t len[AD_HASHPIPE_BLOCKS];
    char *block[AD_HASHPIPE_BLOCKS];
    EVP_MD_CTX *md;
};

static void *hasher(void *p)
{
    ad_hashpipe *h = p;
    pthread_mutex_lock(&h->mu);
    for (;;) {
        size_t i;
        while (h->hashed == h->submitted && !h->quit) pthread_cond_wait(&h->work, &h->mu);
        if (h->hashed == h->submitted) break; /* quit, nothing left */
        i = (size_t)(h->hashed % AD_HASHPIPE_BLOCKS);
        pthread_mutex_unlock(&h->mu);
        bool ok = EVP_DigestUpdate(h->md, h->block[i], h->len[i]) == 1;
        pthread_mutex_lock(&h->mu);
        if (!ok) h->failed = true;
        h->hashed++;
        pthread_cond_signal(&h->done);
    }
    pthread_mutex_unlock(&h->mu);
    return NULL;
}

ad_code ad_hashpipe_new(ad_hashpipe **out, ad_error *err)
{
    ad_hashpipe *h = calloc(1, sizeof(*h));
    size_t i;
    *out = NULL;
    if (!h) return ad_fail(err, AD_E_NOMEM, "out of memory");
    pthread_mutex_init(&h->mu, NULL);
    pthread_cond_init(&h->work, NULL);
    pthread_cond_init(&h->done, NULL);
    h->md = EVP_MD_CTX_new();
    for (i = 0; i < AD_HASHPIPE_BLOCKS; i++) h->block[i] = malloc(AD_HASHPIPE_BLOCK);
    for (i = 0; i < AD_HASHPIPE_BLOCKS && h->block[i]; i++) {
    }
    if (!h->md || i < AD_HASHPIPE_BLOCKS || !EVP_DigestInit_ex(h->md, EVP_sha256(), NULL)) {
        ad_hashpipe_free(h);
        return ad_fail(err, AD_E_NOMEM, "out of memory starting SHA-256");
    }
    h->threaded = pthread_create(&h->thread, NULL, hasher, h) == 0;
    *out = h;
    return AD_OK;
}

char *ad_hashpipe_block(ad_hashpipe *h)
{
    uint64_t g;
    pthread_mutex_lock(&h->mu);
    if (h->given == h->submitted) h->given++;
    g = h->given - 1;
    while (g >= AD_HASHPIPE_BLOCKS && h->hashed < g - AD_HASHPIPE_BLOCKS + 1)
        pthread_cond_wait(&h->done, &h->mu);
    pthread_mutex_unlock(&h->mu);
    return h->block[g % AD_HASHPIPE_BLOCKS];
}

void ad_hashpipe_submit(ad_hashpipe *h, size_t n)
{
    size_t i;
    pthread_mutex_lock(&h->mu);
    if (h->given == h->submitted) h->given++; /* submit without block(): the same block */
    i = (size_t)(h->submitted % AD_HASHPIPE_BLOCKS);
    h->len[i] = n;
    h->submitted++;
    if (h->threaded) {
        pthread_cond_signal(&h->work);
        pthread_mutex_unlock(&h->mu);
        return;
    }
    if (EVP_DigestUpdate(h->md, h->block[i], n) != 1) h->failed = true;
    h->hashed++;
    pthread_mutex_unlock(&h->mu);
}

int ad_hashpipe_digest(ad_hashpipe *h, unsigned char dig[32])
{
    unsigned len = 0;
    bool ok;
    pthread_mutex_lock(&h->mu);
    while (h->hashed < h->submitted) pthread_cond_wait(&h->done, &h->mu);
    ok = !h->failed && EVP_DigestFinal_ex(h->md, dig, &len) == 1 && len == 32;
    ok = EVP_DigestInit_ex(h->md, EVP_sha256(), NULL) == 1 && ok;
    h->failed = false;
    pthread_mutex_unlock(&h->mu);
    return ok ? 0 : -1;
}

void ad_hashpipe_free(ad_hashpipe *h)
{
    size_t i;
    if (!h) return;
    if (h->threaded) {
        pthread_mutex_lock(&h->mu);
        h->quit = true;
        pthread_cond_signal(&h->work);
        pthread_mutex_unlock(&h->mu);
        pthread_join(h->thread, NULL);
    }
    for (i = 0; i < AD_HASHPIPE_BLOCKS; i++) free(h->block[i]);
    EVP_MD_CTX_free(h->md);
    pthread_cond_destroy(&h->done);
    pthread_cond_destroy(&h->work);
    pthread_mutex_destroy(&h->mu);
    free(h);
}
