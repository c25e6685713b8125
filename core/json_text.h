/* Writing JSON text by hand where a JSON library would cost more than the
 * work itself: the log lines and warren-api's hot path. Strings are
 * escaped as RFC 8259 requires; nothing here allocates. */
#ifndef WARREN_CORE_JSON_TEXT_H
#define WARREN_CORE_JSON_TEXT_H

#include <stddef.h>

/* Appends text to buf[*len..size) as the inside of a JSON string (without
 * the quotes) and keeps buf NUL-terminated. Stops before a character whose
 * escape would not fit, so the result is always valid JSON. */
void wr_json_escape_append(char *buf, size_t size, size_t *len, const char *text);

/* The length text has once escaped by wr_json_escape_append. */
size_t wr_json_escaped_length(const char *text);

/* Appends the decimal digits of value to buf[*len..size) when they fit
 * whole (with the NUL); otherwise appends nothing. */
void wr_decimal_append(char *buf, size_t size, size_t *len, long long value);

#endif
