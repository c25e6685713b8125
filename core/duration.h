/* Durations as written in warren's YAML files: "250ms", "10s", "5m", "1h". */
#ifndef WARREN_CORE_DURATION_H
#define WARREN_CORE_DURATION_H

#include <stddef.h>
#include <stdint.h>

#include "core/status.h"

/* Parses a positive integer followed by ms, s, m or h into milliseconds.
 * Returns WR_OK, or WR_ERR_INVALID (with *ms_out untouched) for anything
 * else: no unit, no digits, zero, a sign, spaces, or more than 30 days. */
wr_status wr_duration_parse(const char *text, int64_t *ms_out) WR_MUST_CHECK;

/* Writes ms in the largest unit that divides it exactly ("90s", "10m",
 * "250ms") into out. Always NUL-terminates. */
void wr_duration_format(int64_t ms, char *out, size_t out_size);

#endif
