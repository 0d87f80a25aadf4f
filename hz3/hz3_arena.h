/* The hz3 arena: the address range, its page-tag table, slots, segments and
 * spans. Everything here except the tag reads is done under one lock; it is
 * reached only when a heap needs a whole span or a large block. */
#ifndef HZ3_ARENA_H
#define HZ3_ARENA_H

#include "hz3_config.h"
#include "hz_atomic.h"

#include <stdbool.h>
#include <stdint.h>

/* A run of units serving one class for one heap. Lives in its segment's
 * header (unit 0), never in user memory, so no free can corrupt it. */
typedef struct hz3_span {
  void *free;                  /* objects given back to this span, linked through their first word */
  struct hz3_span *next;       /* owner heap's list of spans with free objects */
  struct hz3_span *prev;
  char *start;                 /* first object (unit-aligned) */
  uint32_t used;               /* objects outside the span: program, thread caches, inboxes */
  uint32_t capacity;
  uint32_t carved;             /* objects cut from the never-used tail so far */
  uint32_t owner;              /* heap slot; equals the owner bits of the tags */
  uint8_t cls;
  uint8_t units;               /* 0 for a unit that does not start a span */
  uint8_t first;               /* index of the unit that starts this unit's span */
  uint8_t in_partial;
  uint8_t fresh;               /* units came straight from the OS: carved objects read zero */
  uint8_t loose;               /* free objects of a large class still resident (HZ3_LOOSE_BUDGET) */
#if HZ3_INTERIOR_PURGE
  /* hz3_interior.c, under the owner heap's span lock: the last `purged`
   * objects of the free list have their interiors decommitted; the free
   * list's head and length when the purger last looked, and that pass. */
  uint32_t purged;
  uint32_t seen_len;
  void *seen_head;
  uint32_t seen_pass;
#endif
} hz3_span;

typedef struct hz3_segment {
  uint64_t free_units;         /* bit i: unit i belongs to no span */
  uint64_t dirty_units;        /* free units whose pages may still be resident */
  uint64_t dirty_since_ms;     /* last time a unit became dirty */
  struct hz3_segment *next;    /* arena list of segments that have free units */
  struct hz3_segment *prev;
  uint32_t slot;
  uint32_t in_list;
  /* On the list of wholly free segments, least recently emptied first (the
   * dirty budget unmaps from its head). */
  struct hz3_segment *empty_next;
  struct hz3_segment *empty_prev;
  uint32_t in_empty;
  hz3_span spans[HZ3_UNITS_PER_SEG];
} hz3_segment;

/* Read-only after init; zero before, which sends every pointer to the slow
 * path (nothing is ours before init). */
typedef struct hz3_arena_map {
  uintptr_t base;       /* first byte of the arena */
  uintptr_t size;       /* bytes of address space; 0 until init */
  uint32_t *tags;       /* one tag per unit */
  uintptr_t free_key;   /* see hz3_free_key (hz3_heap.h) */
} hz3_arena_map;
/* One struct so the fast paths reach all four with one address. */
extern hz3_arena_map hz3_map;
#define hz3_arena_base (hz3_map.base)
#define hz3_arena_size (hz3_map.size)
#define hz3_tags (hz3_map.tags)

static inline uint32_t hz3_tag_index(const void *p) {
  return (uint32_t)(((uintptr_t)p - hz3_arena_base) >> HZ3_UNIT_SHIFT);
}
static inline bool hz3_in_arena(const void *p) {
  return (uintptr_t)p - hz3_arena_base < hz3_arena_size;
}
static inline hz3_span *hz3_span_of(const void *p) {
  hz3_segment *seg = (hz3_segment *)((uintptr_t)p & ~(uintptr_t)(HZ3_SLOT_SIZE - 1));
  unsigned unit = (unsigned)(((uintptr_t)p >> HZ3_UNIT_SHIFT) & (HZ3_UNITS_PER_SEG - 1));
  return &seg->spans[seg->spans[unit].first];
}

bool hz3_arena_init(void);
/* A span of `cls` for heap `owner`; tags are set. NULL when out of memory. */
hz3_span *hz3_span_alloc(unsigned cls, uint32_t owner);
/* The span's objects are all back: clear its tags and free its units. */
void hz3_span_release(hz3_span *span);

/* Maps `bytes` read-write over `count` free slots in a row whose first slot
 * index is a multiple of `align` (a large block); NULL when out of address
 * space or memory. */
void *hz3_slots_map(size_t count, size_t bytes, uint64_t align, uint64_t *slot_out);
static inline uint64_t hz3_slot_of(const void *p) {
  return ((uintptr_t)p - hz3_arena_base) >> HZ3_SLOT_SHIFT;
}
/* Unmaps `bytes` at the run and frees its `count` slots. */
void hz3_slots_unmap(uint64_t first, size_t count, size_t bytes);
static inline void *hz3_slot_addr(uint64_t slot) {
  return (void *)(hz3_arena_base + (slot << HZ3_SLOT_SHIFT));
}

/* Returns free units to the OS: those idle longer than the purge delay, or
 * all of them when `force`. Returns bytes released. */
size_t hz3_arena_purge(bool force);
/* The background purger's pass (hz_line_purge_due): purges what is due at
 * `now`, adds the bytes to *released; returns the next due time, 0 if none. */
uint64_t hz3_arena_purge_due(uint64_t now, size_t *released);
/* Cheap check from refill paths: purges when the oldest dirty run is due. */
void hz3_arena_purge_tick(void);
/* `committed`: mapped minus free units known clean (returned or never touched). */
void hz3_arena_usage(uint64_t *mapped, uint64_t *in_use, uint64_t *free_bytes, uint64_t *committed);

/* Metadata memory (heaps, directories) from outside the arena, never freed. */
void *hz3_meta_alloc(size_t size);

void hz3_arena_lock_all(void);
void hz3_arena_unlock_all(void);
void hz3_arena_reset_locks(void);

#endif
