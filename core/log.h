/* JSON-lines logging on stderr, shared by every warren program.
 * One line per event: {"ts":"...","level":"info","component":"broker","msg":"..."}.
 * Never log secrets: URLs go through wr_redact_url() first. */
#ifndef WARREN_CORE_LOG_H
#define WARREN_CORE_LOG_H

#include <stddef.h>

#include "core/status.h"

enum wr_log_level { WR_LOG_DEBUG, WR_LOG_INFO, WR_LOG_WARN, WR_LOG_ERROR };

/* Sets the lowest level written (default WR_LOG_INFO). The threshold is the
 * one piece of process-wide state in core/: every module logs to the same
 * stderr, and threading a logger through every call would add nothing. */
void wr_log_set_level(enum wr_log_level level);

/* Parses "debug", "info", "warn" or "error"; returns 0 or -1 if unknown. */
int wr_log_level_parse(const char *text, enum wr_log_level *out);

/* Writes one JSON line; the message is printf-formatted and JSON-escaped. */
void wr_log(enum wr_log_level level, const char *component, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* One more key of a log line: a JSON string, or a number when text is NULL. */
struct wr_log_field {
    const char *key;
    const char *text;
    long long number;
};

/* Writes one JSON line with msg (not a format) followed by each field as a
 * key of its own, for events that tools read (a transition, a count):
 * {"ts":...,"msg":"outage entered","service":"payment","consecutive_failures":5}. */
void wr_log_fields(enum wr_log_level level, const char *component, const char *msg,
                   const struct wr_log_field *fields, size_t count);

/* Writes a line like wr_log_fields at level info, whatever the threshold:
 * for records that are a program's output rather than its diagnostics
 * (warren-api's access log, one line per request). */
void wr_log_record(const char *component, const char *msg, const struct wr_log_field *fields,
                   size_t count);

/* From now on lines are collected in a 64 KiB buffer and written together:
 * when it is full, every flush_ms (default 100) from a thread of its own,
 * at once for a warning or an error (with the lines before it), and at
 * wr_log_buffer_stop(). For a process that logs a line per request: one
 * write() per many lines instead of one each. A crash loses at most the
 * last flush_ms of info lines. WR_OK, or err set if the thread cannot
 * start (lines are then written one by one, as before). */
wr_status wr_log_buffer_start(int flush_ms, struct wr_error *err) WR_MUST_CHECK;

/* Writes what is buffered, ends the flusher thread and goes back to one
 * write per line. Safe to call when buffering was never started. */
void wr_log_buffer_stop(void);

/* Copies url into out with any password replaced by "***"
 * (amqp://user:secret@host -> amqp://user:***@host). Always NUL-terminates. */
void wr_redact_url(const char *url, char *out, size_t out_size);

#endif
