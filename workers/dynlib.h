/* Loading an optional library with dlopen into a struct of function
 * pointers: how http_form.c (libcurl) and email.c (libesmtp) keep those
 * libraries out of the workers that never use them. */
#ifndef WARREN_WORKERS_DYNLIB_H
#define WARREN_WORKERS_DYNLIB_H

#include <stddef.h>

#include "core/status.h"

/* One function to resolve: its symbol, and where its pointer goes in the
 * caller's struct (offsetof). */
struct wrk_symbol {
    const char *name;
    size_t offset;
};

/* Opens library (one more reference if it is loaded already) and fills
 * api with every symbol's address. The handle, or NULL with err set
 * (WR_ERR_CONFIG) when the library or one of the symbols cannot be
 * found. Release the handle with dlclose(). */
void *wrk_dlopen(const char *library, const struct wrk_symbol *symbols, size_t count, void *api,
                 struct wr_error *err);

#endif
