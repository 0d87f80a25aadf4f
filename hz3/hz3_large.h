/* hz3 large blocks (> 256 KiB): each is its own mapping at the start of a run
 * of arena slots, so it is found by the same tag table as everything else
 * (its first unit carries HZ3_TAG_LARGE) and can grow or shrink in place with
 * mremap up to the end of its slot run. Freed blocks wait in a small cache,
 * bounded in bytes and purged after the purge delay. */
#ifndef HZ3_LARGE_H
#define HZ3_LARGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

bool hz3_large_init(void);
/* `align` is 0 or a power of two; *fresh says the memory reads zero. */
void *hz3_large_alloc(size_t size, size_t align, bool *fresh);
void hz3_large_free(void *p);
size_t hz3_large_usable(const void *p);
void *hz3_large_realloc(void *p, size_t size);
size_t hz3_large_purge(bool force);
/* The background purger's pass over the cache: like hz3_arena_purge_due. */
uint64_t hz3_large_purge_due(uint64_t now, size_t *released);
uint64_t hz3_large_live_bytes(void);
uint64_t hz3_large_cached_bytes(void);

void hz3_large_lock(void);
void hz3_large_unlock(void);
void hz3_large_reset_lock(void);

#endif
