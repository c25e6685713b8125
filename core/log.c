/* JSON-lines logger: formats, escapes and writes one line per call to
 * stderr, or into a buffer written out in bulk (wr_log_buffer_start). */
#include "core/log.h"

#include "core/clock.h"
#include "core/json_text.h"
#include "core/text.h"

#include <errno.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static enum wr_log_level log_threshold = WR_LOG_INFO;

/* Lines waiting to be written, while buffering is on (see log.h). */
#define LOG_BUFFER_SIZE (64 * 1024)
static struct {
    pthread_mutex_t lock;
    pthread_cond_t wake;
    pthread_t flusher;
    bool on;       /* between wr_log_buffer_start and wr_log_buffer_stop */
    bool stopping; /* the flusher is asked to end */
    int flush_ms;
    size_t len;
    char bytes[LOG_BUFFER_SIZE];
} buffered = {.lock = PTHREAD_MUTEX_INITIALIZER, .wake = PTHREAD_COND_INITIALIZER};

/* Writes all of text to stderr's descriptor (no FILE buffering in between). */
static void write_out(const char *text, size_t len)
{
    while (len > 0) {
        ssize_t n = write(STDERR_FILENO, text, len);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno == EAGAIN) {
            struct pollfd out = {.fd = STDERR_FILENO, .events = POLLOUT};
            (void)poll(&out, 1, 100);
            continue;
        }
        if (n <= 0)
            return; /* nowhere to log to: nothing better to do */
        text += n;
        len -= (size_t)n;
    }
}

static void flush_locked(void)
{
    write_out(buffered.bytes, buffered.len);
    buffered.len = 0;
}

/* One whole line: into the buffer when buffering is on (written at once
 * when it is a warning or an error, with what came before it), else
 * straight to stderr. */
static void emit(enum wr_log_level level, const char *line, size_t len)
{
    pthread_mutex_lock(&buffered.lock);
    if (!buffered.on) {
        pthread_mutex_unlock(&buffered.lock);
        write_out(line, len);
        return;
    }
    if (buffered.len + len > sizeof buffered.bytes)
        flush_locked();
    if (len > sizeof buffered.bytes) {
        write_out(line, len);
    } else {
        memcpy(buffered.bytes + buffered.len, line, len);
        buffered.len += len;
    }
    if (level >= WR_LOG_WARN)
        flush_locked();
    pthread_mutex_unlock(&buffered.lock);
}

static void *flush_periodically(void *unused)
{
    (void)unused;
    pthread_mutex_lock(&buffered.lock);
    while (!buffered.stopping) {
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += (long)buffered.flush_ms * 1000000L;
        until.tv_sec += until.tv_nsec / 1000000000L;
        until.tv_nsec %= 1000000000L;
        (void)pthread_cond_timedwait(&buffered.wake, &buffered.lock, &until);
        flush_locked();
    }
    pthread_mutex_unlock(&buffered.lock);
    return NULL;
}

wr_status wr_log_buffer_start(int flush_ms, struct wr_error *err)
{
    pthread_mutex_lock(&buffered.lock);
    bool already = buffered.on;
    buffered.flush_ms = flush_ms > 0 ? flush_ms : 100;
    buffered.stopping = false;
    buffered.on = true;
    pthread_mutex_unlock(&buffered.lock);
    if (already)
        return WR_OK;
    if (pthread_create(&buffered.flusher, NULL, flush_periodically, NULL) == 0)
        return WR_OK;
    pthread_mutex_lock(&buffered.lock);
    buffered.on = false;
    pthread_mutex_unlock(&buffered.lock);
    return wr_error_set(err, WR_ERR_NOMEM, "cannot start the log flusher thread");
}

void wr_log_buffer_stop(void)
{
    pthread_mutex_lock(&buffered.lock);
    bool was_on = buffered.on;
    buffered.stopping = true;
    pthread_cond_signal(&buffered.wake);
    pthread_mutex_unlock(&buffered.lock);
    if (!was_on)
        return;
    pthread_join(buffered.flusher, NULL);
    pthread_mutex_lock(&buffered.lock);
    flush_locked();
    buffered.on = false;
    pthread_mutex_unlock(&buffered.lock);
}

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void wr_log_set_level(enum wr_log_level level)
{
    log_threshold = level;
}

int wr_log_level_parse(const char *text, enum wr_log_level *out)
{
    for (size_t i = 0; i < sizeof level_names / sizeof level_names[0]; i++) {
        if (strcmp(text, level_names[i]) == 0) {
            *out = (enum wr_log_level)i;
            return 0;
        }
    }
    return -1;
}

void wr_log(enum wr_log_level level, const char *component, const char *fmt, ...)
{
    if (level < log_threshold)
        return;
    char msg[2048];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    wr_log_fields(level, component, msg, NULL, 0);
}

/* Appends ,"key":"text" or ,"key":number; a field that does not fit is
 * left out whole (never cut), and room for the closing "}\n" is kept. */
static void append_field(char *line, size_t size, size_t *len, const struct wr_log_field *field)
{
    size_t need = wr_json_escaped_length(field->key) +
                  (field->text ? wr_json_escaped_length(field->text) : 20);
    if (*len + need + 16 > size)
        return;
    wr_append_text(line, size, len, ",\"");
    wr_json_escape_append(line, size, len, field->key);
    if (field->text) {
        wr_append_text(line, size, len, "\":\"");
        wr_json_escape_append(line, size, len, field->text);
        wr_append_text(line, size, len, "\"");
    } else {
        wr_append_text(line, size, len, "\":");
        wr_decimal_append(line, size, len, field->number);
    }
}

static void write_line(enum wr_log_level level, const char *component, const char *msg,
                       const struct wr_log_field *fields, size_t count)
{
    char stamp[WR_RFC3339_SIZE];
    wr_rfc3339_now(stamp);
    char line[4096];
    size_t len = 0;
    wr_append_text(line, sizeof line, &len, "{\"ts\":\"");
    wr_append_text(line, sizeof line, &len, stamp);
    wr_append_text(line, sizeof line, &len, "\",\"level\":\"");
    wr_append_text(line, sizeof line, &len, level_names[level]);
    wr_append_text(line, sizeof line, &len, "\",\"component\":\"");
    wr_json_escape_append(line, sizeof line, &len, component);
    wr_append_text(line, sizeof line, &len, "\",\"msg\":\"");
    wr_json_escape_append(line, sizeof line - 3, &len, msg);
    line[len++] = '"';
    for (size_t i = 0; i < count; i++)
        append_field(line, sizeof line, &len, &fields[i]);
    memcpy(line + len, "}\n", 2);
    len += 2;
    emit(level, line, len);
}

void wr_log_fields(enum wr_log_level level, const char *component, const char *msg,
                   const struct wr_log_field *fields, size_t count)
{
    if (level >= log_threshold)
        write_line(level, component, msg, fields, count);
}

void wr_log_record(const char *component, const char *msg, const struct wr_log_field *fields,
                   size_t count)
{
    write_line(WR_LOG_INFO, component, msg, fields, count);
}

void wr_redact_url(const char *url, char *out, size_t out_size)
{
    snprintf(out, out_size, "%s", url);
    char *scheme = strstr(out, "://");
    if (!scheme)
        return;
    char *userinfo = scheme + 3;
    char *at = strchr(userinfo, '@');
    char *colon = strchr(userinfo, ':');
    if (!at || !colon || colon > at)
        return;
    char rest[1024];
    snprintf(rest, sizeof rest, "%s", at);
    snprintf(colon, out_size - (size_t)(colon - out), ":***%s", rest);
}
