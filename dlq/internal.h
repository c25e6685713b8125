/* Private to dlq/: what store.c and replay.c share. */
#ifndef WARREN_DLQ_INTERNAL_H
#define WARREN_DLQ_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* A failure group's id: the same queue, type and fingerprint, hashed. */
#define DLQ_GROUP_ID_SQL "left(md5(queue || '|' || coalesce(type, '') || '|' || fingerprint), 12)"

/* The failure fingerprint of an error text: UUIDs and long hex ids become
 * "<id>", numbers "<n>" (so "order 42 timed out" and "order 7 timed out"
 * are one cause). */
#define DLQ_FINGERPRINT_SQL(error)                                                                 \
    "regexp_replace(regexp_replace(regexp_replace(coalesce(" error ", ''),"                        \
    " '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}', '<id>', 'g'),"  \
    " '\\m[0-9a-fA-F]{16,}\\M', '<id>', 'g'), '[0-9]+', '<n>', 'g')"

/* "{1,2,3}": ids as a PostgreSQL array literal (malloc'd), NULL when out of memory. */
char *dlq_id_array(const int64_t *ids, size_t count);

#endif
