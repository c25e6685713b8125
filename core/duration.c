/* Parsing and formatting of "250ms"/"10s"/"5m"/"1h" durations. */
#include "core/duration.h"

#include <stdio.h>
#include <string.h>

#define DURATION_MAX_MS (30LL * 24 * 3600 * 1000)

static const struct {
    const char *suffix;
    int64_t ms;
} duration_units[] = {{"h", 3600000}, {"m", 60000}, {"s", 1000}, {"ms", 1}};

wr_status wr_duration_parse(const char *text, int64_t *ms_out)
{
    const char *p = text;
    int64_t value = 0;
    if (!text || *p < '0' || *p > '9')
        return WR_ERR_INVALID;
    while (*p >= '0' && *p <= '9') {
        value = value * 10 + (*p - '0');
        if (value > DURATION_MAX_MS)
            return WR_ERR_INVALID;
        p++;
    }
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
        if (strcmp(p, duration_units[i].suffix) == 0) {
            int64_t ms = value * duration_units[i].ms;
            if (ms <= 0 || ms > DURATION_MAX_MS)
                return WR_ERR_INVALID;
            *ms_out = ms;
            return WR_OK;
        }
    }
    return WR_ERR_INVALID;
}

void wr_duration_format(int64_t ms, char *out, size_t out_size)
{
    for (size_t i = 0; i < sizeof duration_units / sizeof duration_units[0]; i++) {
        if (ms > 0 && ms % duration_units[i].ms == 0) {
            snprintf(out, out_size, "%lld%s", (long long)(ms / duration_units[i].ms),
                     duration_units[i].suffix);
            return;
        }
    }
    snprintf(out, out_size, "%lldms", (long long)ms);
}
