/* Authentication and rate limiting of API keys: a presented bearer key is
 * hashed (SHA-256) and compared in constant time against every configured
 * hash; each key has its own token bucket. */
#ifndef WARREN_API_KEYRING_H
#define WARREN_API_KEYRING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/apikeys.h"

struct api_keyring;

/* One authenticated caller (borrowed from the keyring). */
struct api_caller {
    const char *name;            /* storefront or admin name */
    enum cfg_api_key_kind kind;
    size_t index;                /* for api_keyring_take */
};

/* Takes ownership of keys (count entries) on success; NULL when out of
 * memory (keys are then still the caller's). Free with api_keyring_free(). */
struct api_keyring *api_keyring_create(struct cfg_api_key *keys, size_t count);
void api_keyring_free(struct api_keyring *ring);

/* Finds the key whose hash matches presented (NUL-terminated). Every
 * configured hash is compared, in constant time, whatever matches. */
bool api_keyring_find(const struct api_keyring *ring, const char *presented,
                      struct api_caller *caller);

/* Takes one token from the caller's bucket at now_ms (monotonic). false
 * when empty, with *retry_after_s the whole seconds until a token is back. */
bool api_keyring_take(struct api_keyring *ring, const struct api_caller *caller, int64_t now_ms,
                      int *retry_after_s);

/* Hex SHA-256 of text into out[65]. */
void api_sha256_hex(const void *data, size_t len, char out[65]);

#endif
