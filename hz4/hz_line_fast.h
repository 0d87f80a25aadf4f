/* hz4 fast paths, inlined into the shared shim's malloc and free.
 *
 * malloc: size -> class (a table load up to 32 KiB, a few ALU ops above),
 *         pop the thread cache list.
 * free:   one bounds check and one segmap byte say "one of our segments";
 *         then the slice's tag in the segment header (found by masking)
 *         gives owner and class. Owner == this thread: push on the cache
 *         list. Another owner (a remote free: a pointer stored into a message
 *         buffer), a one-block page or a thread without a heap: one call out
 *         of line. Huge blocks and pointers
 *         that are not ours: the slow path. */
#ifndef HZ4_LINE_FAST_H
#define HZ4_LINE_FAST_H

#include "hz4_heap.h"
#include "hz_atomic.h"

/* malloc ends in tail calls (see common/hz_line.h): the slow paths set errno.
 * free takes any pointer (NULL and foreign ones reach hz4_free_slow, which
 * forwards what is not ours), so it too ends in tail calls with no frame. */
#define HZ_LINE_MALLOC_ANY_SIZE 1
#define HZ_LINE_FREE_ANY 1

void *hz4_malloc_miss(size_t size);
void *hz4_malloc_large(size_t size);
void hz4_free_slow(void *p);
void hz4_free_repeated(void *p);

static inline void *hz_line_malloc(size_t size) {
  unsigned cls;
  if (hz_likely(size <= HZ4_MEDIUM_MAX)) cls = hz4_class_table(size);
  else if (hz_likely(size <= HZ4_CLASS_MAX_SIZE)) cls = hz4_class_mid(size);
  else return hz4_malloc_large(size);
  hz4_bin *bin = &hz4_tls_heap->bins[cls];
  void *p = bin->head;
  if (hz_likely(p != NULL)) {
    void *next = *(void **)p;
    bin->head = next;
    hz4_bin_popped(bin);
    bin->allocs++;  /* the only statistics cost of the fast paths */
    /* Objects that came home from other threads are cold here: start
     * fetching the next one now, so the next malloc does not stall on it. */
    if (HZ4_PREFETCH_NEXT) __builtin_prefetch(next);
    return p;
  }
  return hz4_malloc_miss(size);  /* recomputes the class: the table may be unset before init */
}

static inline bool hz_line_free(void *p) {
  uintptr_t index = (uintptr_t)p >> HZ4_SEG_SHIFT;
  if (hz_likely(index < HZ4_MAP_ENTRIES && hz4_segmap[index] == HZ4_MAP_SEGMENT)) {
    const hz4_segment *seg = hz4_segment_of(p);
    uint32_t tag = seg->tags[hz4_slice_of(p)];
    hz4_heap *heap = hz4_tls_heap;
    if (hz_likely((tag >> HZ4_OWNER_SHIFT) == heap->id)) {
      unsigned cls = tag & 0xFFu;
      hz4_bin *bin = &heap->bins[cls];
      void *head = bin->head;
      if (hz_unlikely(p == head)) {  /* an immediate double free */
        hz4_free_repeated(p);
        return true;
      }
      *(void **)p = head;
      bin->head = p;
      if (hz_unlikely(hz4_bin_push_over(bin))) hz4_bin_overflow(heap, cls);
      return true;
    }
    hz4_free_other(p, tag);
    return true;
  }
  hz4_free_slow(p);  /* NULL (segmap entry 0 is never ours), huge blocks, foreign pointers */
  return true;
}

#endif
