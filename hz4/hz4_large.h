/* hz4 huge blocks (above HZ4_BLOCK_MAX_SIZE, or aligned beyond what a page
 * can give): each is its own mapping, aligned to the segment size and a
 * whole number of segments long, so the segmap can name every 4 MiB of it
 * as ours and no foreign mapping can share one of its segmap entries.
 *
 * The header (base, length, user pointer) sits at the start of the mapping,
 * before the user pointer; an over-aligned block (alignment >= 4 MiB) keeps
 * it in the 64 bytes below its user pointer. free() reads it only after the
 * segmap said the address is the start of one of our huge blocks. */
#ifndef HZ4_LARGE_H
#define HZ4_LARGE_H

#include "hz_large_cache.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Freed blocks wait here; the purger hook and fork handlers use it directly. */
extern hz_large_cache hz4_large_cache;

/* `align` is 0 or a power of two; *fresh says the memory reads zero. */
void *hz4_large_alloc(size_t size, size_t align, bool *fresh);
/* `kind` is p's segmap entry (a huge kind). Invalid pointers are ignored. */
void hz4_large_free(void *p, unsigned kind);
/* Usable bytes of the block starting at p; 0 if none starts there. */
size_t hz4_large_usable(const void *p, unsigned kind);
void *hz4_large_realloc(void *p, unsigned kind, size_t size);
size_t hz4_large_purge(bool force);
uint64_t hz4_large_live_bytes(void);

#endif
