/* JSON strings and numbers written by hand (see json_text.h). */
#include "core/json_text.h"

#include <stdbool.h>
#include <string.h>

static const char hex_digits[] = "0123456789abcdef";

/* A byte a JSON string holds as it is (most of them). */
static bool is_plain(unsigned char c)
{
    return c >= 0x20 && c != '"' && c != '\\';
}

/* Writes the escape of a byte that is not plain into out; returns its length. */
static size_t escape_of(unsigned char c, char out[6])
{
    if (c == '"' || c == '\\') {
        out[0] = '\\';
        out[1] = (char)c;
        return 2;
    }
    if (c == '\n') {
        memcpy(out, "\\n", 2);
        return 2;
    }
    memcpy(out, "\\u00", 4);
    out[4] = hex_digits[c >> 4];
    out[5] = hex_digits[c & 0xf];
    return 6;
}

void wr_json_escape_append(char *buf, size_t size, size_t *len, const char *text)
{
    if (size == 0)
        return;
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        if (is_plain(*p)) {
            if (*len + 2 > size)
                break;
            buf[(*len)++] = (char)*p;
            continue;
        }
        char escaped[6];
        size_t n = escape_of(*p, escaped);
        if (*len + n + 1 > size)
            break;
        memcpy(buf + *len, escaped, n);
        *len += n;
    }
    buf[*len] = '\0';
}

size_t wr_json_escaped_length(const char *text)
{
    size_t n = 0;
    char escaped[6];
    for (const unsigned char *p = (const unsigned char *)text; *p; p++)
        n += is_plain(*p) ? 1 : escape_of(*p, escaped);
    return n;
}

void wr_decimal_append(char *buf, size_t size, size_t *len, long long value)
{
    char digits[24];
    size_t count = 0;
    unsigned long long magnitude =
        value < 0 ? 0ULL - (unsigned long long)value : (unsigned long long)value;
    do {
        digits[count++] = (char)('0' + magnitude % 10);
        magnitude /= 10;
    } while (magnitude);
    if (value < 0)
        digits[count++] = '-';
    if (*len + count + 1 > size)
        return;
    for (size_t i = 0; i < count; i++)
        buf[*len + i] = digits[count - 1 - i];
    *len += count;
    buf[*len] = '\0';
}
