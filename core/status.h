/* The one status type of warren: every fallible function returns a
 * wr_status (WR_OK or a negative code) and, where the caller needs more
 * than the code, fills a struct wr_error with a readable message. */
#ifndef WARREN_CORE_STATUS_H
#define WARREN_CORE_STATUS_H

#include <stdarg.h>

#define WR_MUST_CHECK __attribute__((warn_unused_result))

typedef enum wr_status {
    WR_OK = 0,
    /* general: -1 .. -99 */
    WR_ERR_NOMEM = -1,     /* allocation failed */
    WR_ERR_INVALID = -2,   /* invalid argument or input */
    WR_ERR_IO = -3,        /* file or socket I/O failed */
    WR_ERR_TIMEOUT = -4,   /* a deadline passed */
    WR_ERR_NOT_FOUND = -5, /* the thing asked for does not exist */
    WR_ERR_HTTP = -6,      /* an HTTP peer failed or answered an error */
    WR_ERR_CONFLICT = -7,  /* the thing exists already (e.g. a unique key) */
    WR_ERR_RETRY = -8,     /* a transient conflict: try the same work again */
    /* broker: -100 .. -199 */
    WR_ERR_CONNECTION = -100,     /* TCP/AMQP connection failed or was lost */
    WR_ERR_CHANNEL_CLOSED = -101, /* the broker closed the channel (reply code set) */
    WR_ERR_NACK = -102,           /* the broker nacked a publish */
    WR_ERR_UNROUTABLE = -103,     /* a mandatory publish was returned: no queue bound */
    WR_ERR_PROTOCOL = -104,       /* an unexpected frame or library error */
    /* configuration and topology: -200 .. -299 */
    WR_ERR_CONFIG = -200,   /* a bad configuration value */
    WR_ERR_TOPOLOGY = -201, /* a bad topology file */
    WR_ERR_DRIFT = -202,    /* the broker differs from the topology */
} wr_status;

/* A status with the detail a person needs to act on it. */
struct wr_error {
    wr_status code;
    int reply_code;    /* AMQP reply code for WR_ERR_CHANNEL_CLOSED/CONNECTION, else 0 */
    char message[512]; /* NUL-terminated, human readable */
};

/* Short fixed name of a status, e.g. "unroutable". Never NULL. */
const char *wr_status_str(wr_status status);

/* Sets err (if not NULL) to code with a printf-style message; returns code
 * so callers can write `return wr_error_set(err, WR_ERR_IO, "...")`. */
wr_status wr_error_set(struct wr_error *err, wr_status code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
wr_status wr_error_setv(struct wr_error *err, wr_status code, const char *fmt, va_list ap);

/* Clears err to WR_OK with an empty message. */
void wr_error_clear(struct wr_error *err);

#endif
