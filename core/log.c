/* JSON-lines logger: formats, escapes and writes one line per call to stderr. */
#include "core/log.h"

#include "core/clock.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static enum wr_log_level log_threshold = WR_LOG_INFO;

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

/* Appends text to buf[*len..size) as the inside of a JSON string. */
static void append_json_escaped(char *buf, size_t size, size_t *len, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p && *len + 7 < size; p++) {
        if (*p == '"' || *p == '\\') {
            buf[(*len)++] = '\\';
            buf[(*len)++] = (char)*p;
        } else if (*p == '\n') {
            buf[(*len)++] = '\\';
            buf[(*len)++] = 'n';
        } else if (*p < 0x20) {
            *len += (size_t)snprintf(buf + *len, size - *len, "\\u%04x", *p);
        } else {
            buf[(*len)++] = (char)*p;
        }
    }
    buf[*len] = '\0';
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
static size_t escaped_length(const char *text)
{
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        n += *p == '"' || *p == '\\' || *p == '\n' ? 2 : *p < 0x20 ? 6 : 1;
    return n;
}

static void append_field(char *line, size_t size, size_t *len, const struct wr_log_field *field)
{
    size_t need = escaped_length(field->key) + (field->text ? escaped_length(field->text) : 20);
    if (*len + need + 16 > size)
        return;
    line[(*len)++] = ',';
    line[(*len)++] = '"';
    append_json_escaped(line, size, len, field->key);
    if (field->text) {
        memcpy(line + *len, "\":\"", 3);
        *len += 3;
        append_json_escaped(line, size, len, field->text);
        line[(*len)++] = '"';
    } else {
        *len += (size_t)snprintf(line + *len, size - *len, "\":%lld", field->number);
    }
}

void wr_log_fields(enum wr_log_level level, const char *component, const char *msg,
                   const struct wr_log_field *fields, size_t count)
{
    if (level < log_threshold)
        return;
    char stamp[WR_RFC3339_SIZE];
    wr_rfc3339_now(stamp);
    char line[4096];
    size_t len = (size_t)snprintf(line, sizeof line,
                                  "{\"ts\":\"%s\",\"level\":\"%s\",\"component\":\"", stamp,
                                  level_names[level]);
    append_json_escaped(line, sizeof line, &len, component);
    len += (size_t)snprintf(line + len, sizeof line - len, "\",\"msg\":\"");
    append_json_escaped(line, sizeof line - 3, &len, msg);
    line[len++] = '"';
    for (size_t i = 0; i < count; i++)
        append_field(line, sizeof line, &len, &fields[i]);
    len += (size_t)snprintf(line + len, sizeof line - len, "}\n");
    fwrite(line, 1, len, stderr);
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
