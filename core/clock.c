/* RFC 3339 timestamps and the monotonic clock. */
#include "core/clock.h"

#include <stdio.h>
#include <time.h>

void wr_rfc3339_now(char out[WR_RFC3339_SIZE])
{
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    unsigned millis = (unsigned)(now.tv_nsec / 1000000) % 1000u;
    snprintf(out, WR_RFC3339_SIZE, "%04d-%02d-%02dT%02d:%02d:%02d.%03uZ", (tm.tm_year + 1900) % 10000,
             (tm.tm_mon + 1) % 100, tm.tm_mday % 100, tm.tm_hour % 100, tm.tm_min % 100,
             tm.tm_sec % 100, millis);
}

int64_t wr_monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
