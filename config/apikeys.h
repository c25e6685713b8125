/* The API keys file (api.keys_file): storefront and admin keys, stored
 * only as SHA-256 hashes, each with its own rate limit. Example:
 *
 *   keys:
 *     - name: demo-shop          # the storefront's name (scopes its orders)
 *       kind: storefront         # storefront | admin
 *       sha256: 9f86d08...       # hex SHA-256 of the key (`warrenctl key hash`)
 *       rate: 1000               # requests per second (default 1000)
 *       burst: 2000              # bucket size (default 2000)
 */
#ifndef WARREN_CONFIG_APIKEYS_H
#define WARREN_CONFIG_APIKEYS_H

#include <stddef.h>
#include <stdio.h>

#include "core/status.h"

enum cfg_api_key_kind { CFG_KEY_STOREFRONT, CFG_KEY_ADMIN };

struct cfg_api_key {
    char *name;
    enum cfg_api_key_kind kind;
    unsigned char sha256[32];
    double rate;  /* tokens per second */
    double burst; /* bucket capacity */
};

/* Loads path; on WR_OK *keys holds *count entries (free with
 * cfg_api_keys_free). On WR_ERR_CONFIG one line per problem, as
 * "FILE:LINE:COLUMN: message", has been written to problems. */
wr_status cfg_api_keys_load(const char *path, FILE *problems, struct cfg_api_key **keys,
                            size_t *count) WR_MUST_CHECK;

void cfg_api_keys_free(struct cfg_api_key *keys, size_t count);

#endif
