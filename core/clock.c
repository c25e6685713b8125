/* RFC 3339 timestamps and the monotonic clock. */
#include "core/clock.h"

#include <string.h>
#include <time.h>

static void two_digits(char *out, int value)
{
    out[0] = (char)('0' + value / 10 % 10);
    out[1] = (char)('0' + value % 10);
}

/* "YYYY-MM-DDTHH:MM:SS" (19 characters) of a second since the epoch. */
static void format_second(time_t second, char out[19])
{
    struct tm tm;
    gmtime_r(&second, &tm);
    int year = (tm.tm_year + 1900) % 10000;
    two_digits(out, year / 100);
    two_digits(out + 2, year % 100);
    out[4] = '-';
    two_digits(out + 5, tm.tm_mon + 1);
    out[7] = '-';
    two_digits(out + 8, tm.tm_mday);
    out[10] = 'T';
    two_digits(out + 11, tm.tm_hour);
    out[13] = ':';
    two_digits(out + 14, tm.tm_min);
    out[16] = ':';
    two_digits(out + 17, tm.tm_sec);
}

void wr_rfc3339_now(char out[WR_RFC3339_SIZE])
{
    /* Every log line and every order asks for this: the date and time of
     * the current second are formatted once per thread and second. */
    static _Thread_local time_t cached_second = -1;
    static _Thread_local char cached[19];
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (now.tv_sec != cached_second) {
        format_second(now.tv_sec, cached);
        cached_second = now.tv_sec;
    }
    unsigned millis = (unsigned)(now.tv_nsec / 1000000) % 1000u;
    memcpy(out, cached, 19);
    out[19] = '.';
    out[20] = (char)('0' + millis / 100);
    two_digits(out + 21, (int)(millis % 100));
    out[23] = 'Z';
    out[24] = '\0';
}

int64_t wr_monotonic_ms(void)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000;
}
