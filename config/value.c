/* Type checks for configuration values, driven by the key table. */
#include "config/internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core/duration.h"

static int enum_has(const char *choices, const char *text)
{
    size_t len = strlen(text);
    for (const char *p = choices; *p;) {
        const char *comma = strchr(p, ',');
        size_t item = comma ? (size_t)(comma - p) : strlen(p);
        if (item == len && strncmp(p, text, len) == 0)
            return 1;
        p += item + (comma ? 1 : 0);
    }
    return 0;
}

const char *cfg_check_value(enum cfg_key key, const char *text, int64_t *number, char *why,
                            size_t why_size)
{
    const struct cfg_key_def *def = &cfg_key_defs[key];
    *number = 0;
    switch (def->type) {
    case CFG_TYPE_STRING:
        if (*text)
            return NULL;
        snprintf(why, why_size, "expected a non-empty string");
        return why;
    case CFG_TYPE_URL:
        if (strstr(text, "://") && strstr(text, "://") != text && !strpbrk(text, " \t\r\n"))
            return NULL;
        snprintf(why, why_size, "expected a URL like scheme://host:port");
        return why;
    case CFG_TYPE_DURATION:
        if (wr_duration_parse(text, number) != WR_OK) {
            snprintf(why, why_size, "expected a duration like 250ms, 10s, 5m or 1h");
            return why;
        }
        if (def->max > 0 && (*number < def->min || *number > def->max)) {
            snprintf(why, why_size, "expected a duration from %lldh to %lldh",
                     def->min / 3600000, def->max / 3600000);
            return why;
        }
        return NULL;
    case CFG_TYPE_OPTIONAL:
    case CFG_TYPE_SECRET:
        return NULL;
    case CFG_TYPE_INT: {
        char *end = NULL;
        errno = 0;
        long long value = strtoll(text, &end, 10);
        if (end != text && !*end && !errno && value >= def->min && value <= def->max) {
            *number = value;
            return NULL;
        }
        snprintf(why, why_size, "expected a whole number from %lld to %lld", def->min, def->max);
        return why;
    }
    case CFG_TYPE_ENUM:
        if (enum_has(def->choices, text))
            return NULL;
        snprintf(why, why_size, "expected one of %s", def->choices);
        return why;
    }
    snprintf(why, why_size, "unknown type");
    return why;
}
