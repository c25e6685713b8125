/* Wall-clock and monotonic time in the forms warren writes everywhere. */
#ifndef WARREN_CORE_CLOCK_H
#define WARREN_CORE_CLOCK_H

#include <stdint.h>

#define WR_RFC3339_SIZE 32

/* The current UTC time as RFC 3339 with milliseconds:
 * "2026-11-25T08:57:56.548Z". */
void wr_rfc3339_now(char out[WR_RFC3339_SIZE]);

/* CLOCK_MONOTONIC in milliseconds. */
int64_t wr_monotonic_ms(void);

#endif
