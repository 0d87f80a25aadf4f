/* hz3 large blocks (> 256 KiB): each is its own mapping at the start of a run
 * of arena slots, so it is found by the same tag table as everything else
 * (its first unit carries HZ3_TAG_LARGE) and can grow or shrink in place with
 * mremap up to the end of its slot run. */
#ifndef HZ3_LARGE_H
#define HZ3_LARGE_H

#include "hz_large_cache.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Freed blocks wait here; the purger hook and fork handlers use it directly. */
extern hz_large_cache hz3_large_cache;

bool hz3_large_init(void);
/* `align` is 0 or a power of two; *fresh says the memory reads zero. */
void *hz3_large_alloc(size_t size, size_t align, bool *fresh);
void hz3_large_free(void *p);
size_t hz3_large_usable(const void *p);
void *hz3_large_realloc(void *p, size_t size);
size_t hz3_large_purge(bool force);
uint64_t hz3_large_live_bytes(void);

#endif
