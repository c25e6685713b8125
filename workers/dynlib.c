/* wrk_dlopen (workers/dynlib.h). */
#include "workers/dynlib.h"

#include <dlfcn.h>
#include <string.h>

void *wrk_dlopen(const char *library, const struct wrk_symbol *symbols, size_t count, void *api,
                 struct wr_error *err)
{
    void *lib = dlopen(library, RTLD_NOW | RTLD_LOCAL);
    if (!lib) {
        wr_error_set(err, WR_ERR_CONFIG, "cannot load %s: %s", library, dlerror());
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        void *address = dlsym(lib, symbols[i].name);
        if (!address) {
            dlclose(lib);
            wr_error_set(err, WR_ERR_CONFIG, "%s lacks %s", library, symbols[i].name);
            return NULL;
        }
        /* a data pointer into a function pointer field: copied bytewise, as
         * POSIX allows for what dlsym returns */
        memcpy((char *)api + symbols[i].offset, &address, sizeof address);
    }
    return lib;
}
