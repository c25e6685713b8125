/* Private to dlq/: what store.c and replay.c share. */
#ifndef WARREN_DLQ_INTERNAL_H
#define WARREN_DLQ_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* A failure group's id: the same queue, type and fingerprint, hashed. The
 * store's index on it is built from this very text. */
#define DLQ_GROUP_ID_SQL "left(md5(queue || '|' || coalesce(type, '') || '|' || fingerprint), 12)"

/* The bytes of a bytea's text form ("\x6869"), NUL-terminated after *len
 * bytes; NULL when out of memory. */
unsigned char *dlq_bytea_decode(const char *text, size_t *len);

/* "{1,2,3}": ids as a PostgreSQL array literal (malloc'd), NULL when out of memory. */
char *dlq_id_array(const int64_t *ids, size_t count);

#endif
