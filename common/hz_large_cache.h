/* The cache of freed large mappings in front of munmap, for hz3's large and
 * hz4's huge blocks. Without it every free of one is an munmap (with its TLB
 * shootdown) and the next allocation of a similar size an mmap plus fresh
 * page faults: programs that cycle big buffers paid that every round. A freed
 * mapping waits up to the purge delay (HZ_PURGE_DELAY_MS) for a request it
 * fits. Bounds: HZ_LARGE_CACHE_MB bytes (a block over a quarter of it is
 * never kept, so one block cannot flush the rest) and HZ_LARGE_CACHE_ENTRIES
 * entries; past either, the oldest go. */
#ifndef HZ_LARGE_CACHE_H
#define HZ_LARGE_CACHE_H

#include "hz_atomic.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HZ_LARGE_CACHE_ENTRIES 64  /* a take's scan stays cheap next to the mmap it saves */

typedef struct hz_large_entry {
  void *base;         /* the mapping */
  size_t bytes;       /* its length */
  uint64_t freed_ms;  /* hz_os_now_ms() at the free: due one purge delay later */
} hz_large_entry;

/* One line's cache; what differs between the lines comes in here. A static
 * initialiser (HZ_LARGE_CACHE_INIT): usable before the line's init. */
typedef struct hz_large_cache {
  hz_lock lock;      /* guards the fields below but the callbacks; held across fork */
  unsigned count;    /* entries[0..count); read unlocked as a hint that it is empty */
  uint64_t total;    /* bytes of the entries: the line's "cached" usage */
  /* No entry is due before this (0: none): frees and misses skip the scan
   * until then. Takes and evictions leave it low (one scan finds nothing). */
  uint64_t next_due;
  /* A mapping fits a request of as many units of 1 << grain_shift or fewer:
   * hz3 resizes in place within its slot run, hz4 cuts whole segments. */
  unsigned grain_shift;
  /* Both called without the lock. unmap: hz4 clears its segmap first, hz3
   * frees its slots. resize: to exactly `bytes`; on failure it unmaps. */
  void (*unmap)(void *base, size_t bytes);
  bool (*resize)(void *base, size_t old_bytes, size_t bytes);
  /* Insertion order, but a take or purge moves the last entry into the hole
   * it leaves: entries[0], evicted first, is only nearly the oldest. */
  hz_large_entry entries[HZ_LARGE_CACHE_ENTRIES];
} hz_large_cache;

#define HZ_LARGE_CACHE_INIT(shift, unmap_fn, resize_fn) \
  { HZ_LOCK_INIT, 0, 0, 0, (shift), (unmap_fn), (resize_fn), {{NULL, 0, 0}} }

/* Best fit: of the mappings aligned to `align` (0 or a power of two), the one
 * closest to `bytes` long (exact if cached), resized to it. Counts
 * HZ_STAT_LARGE_CACHE_HITS. NULL on a miss or a failed resize. */
void *hz_large_cache_take(hz_large_cache *c, size_t bytes, size_t align);
/* A freed mapping: cached if the options allow, else unmapped at once. */
void hz_large_cache_put(hz_large_cache *c, void *base, size_t bytes, uint64_t now);
/* Unmaps the entries past the purge delay, or all when `force`; returns bytes. */
size_t hz_large_cache_purge(hz_large_cache *c, bool force);
/* The background purger's pass: purges what is due at `now`, adds the bytes
 * to *released, returns when the next entry is due (0: none pending). */
uint64_t hz_large_cache_purge_due(hz_large_cache *c, uint64_t now, size_t *released);

#endif
