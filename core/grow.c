/* wr_grow (core/grow.h). */
#include "core/grow.h"

#include <stdlib.h>
#include <string.h>

bool wr_grow(void *items, size_t *capacity, size_t count, size_t item_size, size_t first)
{
    if (count < *capacity)
        return true;
    size_t bigger = *capacity ? *capacity * 2 : first;
    void *old;
    memcpy(&old, items, sizeof old); /* items is the address of a T * */
    void *grown = realloc(old, bigger * item_size);
    if (!grown)
        return false;
    memcpy(items, &grown, sizeof grown);
    *capacity = bigger;
    return true;
}
