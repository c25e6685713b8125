/* JSON-lines logging on stderr, shared by every warren program.
 * One line per event: {"ts":"...","level":"info","component":"broker","msg":"..."}.
 * Never log secrets: URLs go through wr_redact_url() first. */
#ifndef WARREN_CORE_LOG_H
#define WARREN_CORE_LOG_H

#include <stddef.h>

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

/* Copies url into out with any password replaced by "***"
 * (amqp://user:secret@host -> amqp://user:***@host). Always NUL-terminates. */
void wr_redact_url(const char *url, char *out, size_t out_size);

#endif
