/* Room for one more item in a growable array (pointer, count, capacity):
 * the one place that doubles such an array. */
#ifndef WARREN_CORE_GROW_H
#define WARREN_CORE_GROW_H

#include <stdbool.h>
#include <stddef.h>

/* Makes *items hold at least count + 1 items of item_size bytes,
 * doubling *capacity (first when it is 0). False when out of memory
 * (*items and *capacity unchanged). */
bool wr_grow(void *items, size_t *capacity, size_t count, size_t item_size, size_t first);

#endif
