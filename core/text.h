/* Copying C strings into fixed buffers, for hot paths where snprintf's
 * format parsing costs more than the copy. */
#ifndef WARREN_CORE_TEXT_H
#define WARREN_CORE_TEXT_H

#include <stddef.h>
#include <string.h>

/* Copies src into dst[size], cut to fit and always NUL-terminated (size > 0);
 * returns the length copied. */
static inline size_t wr_copy_text(char *dst, size_t size, const char *src)
{
    size_t len = strnlen(src, size - 1);
    memcpy(dst, src, len);
    dst[len] = '\0';
    return len;
}

#endif
