/* Random identifiers (order ids, message ids, W3C trace ids) from the
 * kernel's CSPRNG, drawn a kilobyte at a time into a per-thread pool, so an
 * identifier costs a copy instead of a system call or a generator's
 * locking and fork checks. Not for keys: a process that forks without
 * exec shares its pool with the child. */
#ifndef WARREN_CORE_RANDOM_H
#define WARREN_CORE_RANDOM_H

#include <stddef.h>

/* Fills out[0..len) with random bytes. Never fails: it aborts if
 * getrandom() does (Linux 3.17 and later have it; an identifier that is
 * not random would break uniqueness silently). */
void wr_random_bytes(void *out, size_t len);

/* A version 4 UUID in lower case: "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx". */
void wr_random_uuid(char out[37]);

/* Writes len bytes as 2 * len lower-case hex digits and a NUL. */
void wr_hex_lower(char *out, const unsigned char *bytes, size_t len);

#endif
