/* hz4 pages: runs of slices in a heap's own segments. Everything here is
 * done by the owner heap only (a thread, or the shared heap under its lock);
 * the heap's slice lock (HZ4_SLICE_PURGE) is there only to keep the
 * background purger out while free slices, or the free lists of loose-object
 * classes (HZ4_LOOSE_PURGE), change. The segment lock is taken only when a
 * whole segment comes from or goes to the pool. */
#ifndef HZ4_PAGE_H
#define HZ4_PAGE_H

#include "hz4_heap.h"

static inline hz4_page *hz4_page_of(const void *p) {
  hz4_segment *seg = hz4_segment_of(p);
  return &seg->pages[seg->page_of[hz4_slice_of(p)]];
}

static inline char *hz4_page_start(const hz4_page *page) {
  hz4_segment *seg = hz4_segment_of(page);  /* descriptors live in their segment's header */
  return (char *)seg + ((size_t)(page - seg->pages) << HZ4_SLICE_SHIFT);
}

/* A page of `slices` slices starting at a multiple of `align_slices`, for
 * class `cls` (or HZ4_CLS_BLOCK) of `heap`; tags are set. NULL when out of
 * memory. */
hz4_page *hz4_page_alloc(hz4_heap *heap, unsigned cls, unsigned slices, unsigned align_slices);
/* The page's objects are all home: clear its tags and free its slices. */
void hz4_page_release(hz4_heap *heap, hz4_page *page);

/* One object comes home. A page whose objects are all home is released,
 * unless it is the heap's only page of its class (HZ4_SPARE_PAGE). */
void hz4_page_put(hz4_heap *heap, hz4_page *page, void *p);

/* Frees the one-block page that starts at p; false if p starts no live
 * block of this heap (the free is invalid). */
bool hz4_block_release(hz4_heap *heap, void *p);

/* Counts a one-block page of `size` bytes allocated (+1) or freed (-1) as
 * a large block (HZ_STAT_LARGE_ALLOCS / _FREES, live bytes, the peak
 * gauges). Frees are counted where the program frees (a remote free
 * reaches hz4_block_release later, maybe never before exit). */
void hz4_block_counted(uint64_t size, int sign);
/* Bytes in live one-block pages. */
uint64_t hz4_block_live_bytes(void);

/* Resizes the one-block page at p (this heap's) in place to hold `size`
 * bytes: shrinking gives the tail slices back, growing takes the free
 * slices right behind it. False when that is not possible. */
bool hz4_block_resize(hz4_heap *heap, void *p, size_t size);

/* Up to `want` objects of `cls` from the heap's pages as a NULL-terminated
 * list: objects back home first, then never-used ones carved from a page's
 * tail; a new page only when `new_page` and the heap has none with room.
 * Returns the count (0: none / out of memory). */
uint32_t hz4_page_take(hz4_heap *heap, unsigned cls, uint32_t want, bool new_page,
                       void **head_out, void **tail_out);

/* Releases every empty page (spares too) and hands every empty segment to
 * the pool; with `decommit`, first returns every free slice to the OS. */
void hz4_heap_release_empty(hz4_heap *heap, bool decommit);
/* A parked heap keeps up to `keep` bytes of free slices resident (whole
 * segments' worth, first segments first) for the thread that adopts it;
 * the rest is decommitted now (HZ4_EXIT_PURGE_LAST). */
void hz4_heap_decommit_beyond(hz4_heap *heap, size_t keep);
/* The purge tick, at most every quarter delay: decommits dirty slices idle
 * past the purge delay and unmaps pooled segments idle past it. */
void hz4_heap_purge(hz4_heap *heap);
#if HZ4_SLICE_PURGE
/* The purger's pass over the free slices of every heap on the list that
 * starts at *first (HZ4_SLICE_PURGE): decommits those idle past the purge
 * delay, skips heaps whose owner holds the slice lock. */
uint64_t hz4_slices_purge_due(hz4_heap *const *first, uint64_t now, size_t *released);
#endif
#if HZ4_SLICE_PURGE
/* Wakes the purger's pass over the heaps (any context: a load, and a
 * request when the pass was not pending). */
extern _Atomic int hz4_slices_pending;
void hz4_slices_note_slow(void);
static inline void hz4_slices_wake(void) {
  if (!atomic_load_explicit(&hz4_slices_pending, memory_order_relaxed)) hz4_slices_note_slow();
}
#else
static inline void hz4_slices_wake(void) {}
#endif
/* The purger's look at a heap's inboxes (HZ4_IDLE_INBOX_MS, hz4_remote.c):
 * under the pass lock; returns when to look again, 0 if nothing waits. */
uint64_t hz4_inbox_idle_purge(hz4_heap *heap, uint64_t now, size_t *released);

#endif
