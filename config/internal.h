/* Private declarations of config/: the key table and value checks. */
#ifndef WARREN_CONFIG_INTERNAL_H
#define WARREN_CONFIG_INTERNAL_H

#include <stddef.h>

#include "config/config.h"

enum cfg_type {
    CFG_TYPE_STRING,   /* any non-empty text */
    CFG_TYPE_URL,      /* scheme://..., may hold a password: redacted when shown */
    CFG_TYPE_DURATION, /* 250ms, 10s, 5m, 1h; stored in ms */
    CFG_TYPE_ENUM,     /* one of a comma-separated list */
    CFG_TYPE_INT,      /* a whole number from min to max */
    CFG_TYPE_OPTIONAL, /* any text, or empty for "not set" */
    CFG_TYPE_SECRET,   /* like OPTIONAL, but never shown (API keys, passwords) */
};

struct cfg_key_def {
    const char *name;
    enum cfg_type type;
    const char *default_value;
    const char *choices; /* CFG_TYPE_ENUM only */
    const char *help;
    long long min, max;  /* CFG_TYPE_INT only */
};

extern const struct cfg_key_def cfg_key_defs[CFG_KEY_COUNT];

/* Checks text against the key's type; on success stores the number (for
 * durations) in *number and returns NULL, else returns what was expected
 * ("expected a duration like ...") written into why. */
const char *cfg_check_value(enum cfg_key key, const char *text, int64_t *number, char *why,
                            size_t why_size);

#endif
