/* API keys: constant-time lookup by SHA-256 and per-key token buckets. */
#include "api/keyring.h"

#include "core/random.h"

#include <math.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

struct token_bucket {
    pthread_mutex_t lock;
    double tokens;
    int64_t last_ms;
};

struct api_keyring {
    struct cfg_api_key *keys;
    struct token_bucket *buckets;
    size_t count;
};

struct api_keyring *api_keyring_create(struct cfg_api_key *keys, size_t count)
{
    struct api_keyring *ring = calloc(1, sizeof *ring);
    struct token_bucket *buckets = calloc(count ? count : 1, sizeof *buckets);
    if (!ring || !buckets) {
        free(ring);
        free(buckets);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        pthread_mutex_init(&buckets[i].lock, NULL);
        buckets[i].tokens = keys[i].burst;
        buckets[i].last_ms = -1;
    }
    ring->keys = keys;
    ring->buckets = buckets;
    ring->count = count;
    return ring;
}

void api_keyring_free(struct api_keyring *ring)
{
    if (!ring)
        return;
    for (size_t i = 0; i < ring->count; i++)
        pthread_mutex_destroy(&ring->buckets[i].lock);
    cfg_api_keys_free(ring->keys, ring->count);
    free(ring->buckets);
    free(ring);
}

bool api_keyring_find(const struct api_keyring *ring, const char *presented,
                      struct api_caller *caller)
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256((const unsigned char *)presented, strlen(presented), digest);
    size_t found = ring->count;
    for (size_t i = 0; i < ring->count; i++) {
        /* no early exit: the time taken does not depend on which key matched */
        bool match = CRYPTO_memcmp(digest, ring->keys[i].sha256, sizeof digest) == 0;
        found = match ? i : found;
    }
    if (found == ring->count)
        return false;
    caller->name = ring->keys[found].name;
    caller->kind = ring->keys[found].kind;
    caller->index = found;
    return true;
}

bool api_keyring_take(struct api_keyring *ring, const struct api_caller *caller, int64_t now_ms,
                      int *retry_after_s)
{
    struct token_bucket *bucket = &ring->buckets[caller->index];
    const struct cfg_api_key *key = &ring->keys[caller->index];
    pthread_mutex_lock(&bucket->lock);
    if (bucket->last_ms >= 0 && now_ms > bucket->last_ms)
        bucket->tokens =
            fmin(key->burst, bucket->tokens + (double)(now_ms - bucket->last_ms) * key->rate / 1000);
    bucket->last_ms = now_ms;
    bool granted = bucket->tokens >= 1;
    if (granted)
        bucket->tokens -= 1;
    else
        *retry_after_s = (int)ceil((1 - bucket->tokens) / key->rate);
    pthread_mutex_unlock(&bucket->lock);
    if (!granted && *retry_after_s < 1)
        *retry_after_s = 1;
    return granted;
}

void api_sha256_hex(const void *data, size_t len, char out[65])
{
    unsigned char digest[SHA256_DIGEST_LENGTH];
    SHA256(data, len, digest);
    wr_hex_lower(out, digest, sizeof digest);
}
