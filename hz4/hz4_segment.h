/* hz4 segments: the OS side (map, pool, unmap) and the registry that says
 * which addresses are ours.
 *
 * The registry (segmap) is a byte per 4 MiB of user address space. An entry
 * is written under the segment lock before a segment or huge block is handed
 * out and cleared before it is unmapped, so any pointer the program got from
 * us reads a non-zero entry, and any other pointer reads 0 without us ever
 * touching the memory it points to. */
#ifndef HZ4_SEGMENT_H
#define HZ4_SEGMENT_H

#include "hz4_config.h"
#include "hz_atomic.h"

#include <stdbool.h>

enum {
  HZ4_MAP_NONE = 0,
  HZ4_MAP_SEGMENT = 1,       /* a segment: header at the masked address */
  HZ4_MAP_HUGE = 2,          /* first 4 MiB of a huge block: header at the masked address */
  HZ4_MAP_HUGE_ALIGNED = 3,  /* start of an over-aligned huge block: header in the 64 bytes below */
  HZ4_MAP_HUGE_TAIL = 4,     /* the rest of a huge mapping: ours, but no block starts here */
};

extern uint8_t hz4_segmap[HZ4_MAP_ENTRIES];

static inline unsigned hz4_map_kind(const void *p) {
  uintptr_t index = (uintptr_t)p >> HZ4_SEG_SHIFT;
  return index < HZ4_MAP_ENTRIES ? hz4_segmap[index] : HZ4_MAP_NONE;
}

struct hz4_heap;

/* One page: a run of slices serving one class (or one block) for the
 * segment's owner. Lives in the segment header, never in user memory, and
 * only the owner heap writes it. */
typedef struct hz4_page {
  void *free;                /* objects back home, linked through their first word */
  struct hz4_page *next;     /* owner heap's list of pages of this class with room */
  struct hz4_page *prev;
  uint32_t used;             /* objects out of the page: program, caches, outboxes, inboxes */
  uint32_t capacity;
  uint32_t carved;           /* objects cut from the never-used tail so far */
  uint32_t size;             /* object size; the block's usable size for a one-block page */
  uint8_t cls;               /* class, or HZ4_CLS_BLOCK */
  uint8_t slices;            /* page length; 0 in a descriptor that starts no page */
  uint8_t in_partial;
  uint8_t zero;              /* every slice came straight from the OS: the page reads zero */
  uint8_t loose;             /* free objects of a large class still resident (HZ4_BUDGET_PARTIAL) */
  uint8_t color;             /* lines before the first object (HZ4_COLOR) */
  uint8_t pad[2];
} hz4_page;

typedef struct hz4_segment {
  /* Read by every free, from any thread. */
  uint32_t tags[HZ4_SLICES];       /* per slice: (owner id << 8) | class, 0 = in no page */
  struct hz4_heap *owner;          /* NULL while pooled */
  /* The owner heap's from here (the pool's while pooled). */
  _Alignas(64) uint64_t free_slices;  /* bit i: slice i is in no page */
  uint64_t dirty_slices;           /* free slices that may still be resident */
  uint64_t dirty_since_ms;         /* last time a slice became dirty */
  uint64_t zero_slices;            /* never used since mapped: read zero (calloc skips memset) */
  struct hz4_segment *next;        /* owner's list of segments, or the pool */
  struct hz4_segment *prev;
  uint64_t pooled_ms;
  /* Under the segment lock: every mapped segment, for usage walks. */
  struct hz4_segment *all_next;
  struct hz4_segment *all_prev;
  uint8_t page_of[HZ4_SLICES];     /* slice -> first slice of its page */
  hz4_page pages[HZ4_SLICES];      /* indexed by a page's first slice */
} hz4_segment;

#define HZ4_SEG_EMPTY (~(uint64_t)1)   /* free_slices of a segment with no page */

static inline hz4_segment *hz4_segment_of(const void *p) {
  return (hz4_segment *)((uintptr_t)p & ~(uintptr_t)(HZ4_SEG_SIZE - 1));
}
static inline unsigned hz4_slice_of(const void *p) {
  return (unsigned)(((uintptr_t)p >> HZ4_SLICE_SHIFT) & (HZ4_SLICES - 1));
}

/* An empty segment for `owner`: from the pool (still-resident slices marked
 * dirty, so they are reused first) or freshly mapped. NULL when out of
 * memory. */
hz4_segment *hz4_segment_acquire(struct hz4_heap *owner);
/* An empty segment goes back to the pool; unmapped after the purge delay. */
void hz4_segment_release(hz4_segment *seg);
/* Decommits the segment's dirty slices; the owner calls it. Returns bytes. */
size_t hz4_segment_decommit(hz4_segment *seg);
/* Unmaps pooled segments idle past the purge delay (all when `force`). */
size_t hz4_pool_purge(bool force);
/* The background purger's pass over the pool (hz_line_purge_due): purges
 * what is due, adds its bytes to *released; the next due time, 0 if none. */
uint64_t hz4_pool_purge_due(uint64_t now, size_t *released);

/* Registry entries for a huge mapping [base, base + bytes), both multiples
 * of the segment size; `first` is the kind of the entry for `start`. */
void hz4_map_set(void *base, size_t bytes, void *start, unsigned first);
void hz4_map_clear(void *base, size_t bytes);

/* Mapped segment bytes, and bytes of objects out of their pages. */
/* `committed`: mapped minus free slices known clean (returned or never touched). */
void hz4_segments_usage(uint64_t *mapped, uint64_t *in_use, uint64_t *committed);

void hz4_segments_lock(void);
void hz4_segments_unlock(void);
void hz4_segments_reset_lock(void);

#endif
