/* Copying C strings into fixed buffers, for hot paths where snprintf's
 * format parsing costs more than the copy. */
#ifndef WARREN_CORE_TEXT_H
#define WARREN_CORE_TEXT_H

#include <stddef.h>
#include <string.h>

/* Appends src to dst[*len..size), cut to fit, and keeps dst NUL-terminated
 * (*len < size). */
static inline void wr_append_text(char *dst, size_t size, size_t *len, const char *src)
{
    size_t n = strnlen(src, size - *len - 1);
    memcpy(dst + *len, src, n);
    *len += n;
    dst[*len] = '\0';
}

/* Copies src into dst[size] (size > 0), cut to fit; returns the length copied. */
static inline size_t wr_copy_text(char *dst, size_t size, const char *src)
{
    size_t len = 0;
    wr_append_text(dst, size, &len, src);
    return len;
}

#endif
