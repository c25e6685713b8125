/* Names and formatting for warren's single status type. */
#include "core/status.h"

#include <stdio.h>
#include <string.h>

const char *wr_status_str(wr_status status)
{
    switch (status) {
    case WR_OK: return "ok";
    case WR_ERR_NOMEM: return "out of memory";
    case WR_ERR_INVALID: return "invalid";
    case WR_ERR_IO: return "i/o error";
    case WR_ERR_TIMEOUT: return "timeout";
    case WR_ERR_NOT_FOUND: return "not found";
    case WR_ERR_HTTP: return "http error";
    case WR_ERR_CONFLICT: return "conflict";
    case WR_ERR_RETRY: return "retry";
    case WR_ERR_CONNECTION: return "connection";
    case WR_ERR_CHANNEL_CLOSED: return "channel closed";
    case WR_ERR_NACK: return "nack";
    case WR_ERR_UNROUTABLE: return "unroutable";
    case WR_ERR_PROTOCOL: return "protocol";
    case WR_ERR_CONFIG: return "config";
    case WR_ERR_TOPOLOGY: return "topology";
    case WR_ERR_DRIFT: return "drift";
    }
    return "unknown status";
}

wr_status wr_error_setv(struct wr_error *err, wr_status code, const char *fmt, va_list ap)
{
    if (err) {
        err->code = code;
        err->reply_code = 0;
        vsnprintf(err->message, sizeof err->message, fmt, ap);
    }
    return code;
}

wr_status wr_error_set(struct wr_error *err, wr_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    wr_error_setv(err, code, fmt, ap);
    va_end(ap);
    return code;
}

void wr_error_clear(struct wr_error *err)
{
    if (err) {
        err->code = WR_OK;
        err->reply_code = 0;
        err->message[0] = '\0';
    }
}
