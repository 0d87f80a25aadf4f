/* hz3 fast paths, inlined into the shared shim's malloc and free.
 *
 * malloc: size -> class (one table load), pop the thread cache list.
 * free:   one range check, one tag load; if the tag's owner is this thread's
 *         heap, push on the thread cache list. Everything else (empty cache,
 *         full cache, remote owner, large block, not ours, no heap yet) is one
 *         call into the slow path. */
#ifndef HZ3_LINE_FAST_H
#define HZ3_LINE_FAST_H

#include "hz3_heap.h"
#include "hz_atomic.h"

/* Both fast paths end in tail calls (see common/hz_line.h). */
#define HZ_LINE_MALLOC_ANY_SIZE 1
#define HZ_LINE_FREE_ANY 1

void *hz3_malloc_miss(size_t size);
void *hz3_malloc_large(size_t size);

static inline void *hz_line_malloc(size_t size) {
  if (hz_likely(size <= HZ3_CLASS_MAX_SIZE)) {
    hz3_heap *heap = hz3_tls_heap;
    hz3_bin *bin = &heap->bins[hz3_class_of(size)];
    void *p = bin->head;
    if (hz_likely(p != NULL)) {
      bin->allocs++;            /* the only statistics cost of the fast paths */
      void *next = *(void **)p;
      bin->head = next;
      hz3_bin_add_count(bin, -1);
      ((uintptr_t *)p)[1] = 0;  /* no longer free: see hz3_free_key */
      /* Objects other threads freed into this list were last written on
       * their cores: start fetching the next one now, so the next malloc of
       * the class does not stall on its link (see HZ3_PREFETCH_NEXT). */
      if (HZ3_PREFETCH_NEXT) __builtin_prefetch(next, 1);
      return p;
    }
    return hz3_malloc_miss(size);  /* recomputes the class: tables may be unset before init */
  }
  return hz3_malloc_large(size);
}

static inline bool hz_line_free(void *p) {
  uintptr_t offset = (uintptr_t)p - hz3_arena_base;
  hz3_heap *heap = hz3_tls_heap;
  if (hz_likely(offset < hz3_arena_size)) {
    uint32_t tag = hz3_tags[offset >> HZ3_UNIT_SHIFT];
#if HZ3_CACHE_FOREIGN
    /* Any class object (owner bits set: not free, not large) goes to this
     * thread's cache, once the thread has a heap. */
    if (hz_likely(tag >= (1u << HZ3_OWNER_SHIFT) && heap->slot != HZ3_OWNER_NONE)) {
#else
    if (hz_likely((tag >> HZ3_OWNER_SHIFT) == heap->slot)) {
#endif
      uintptr_t *words = p;
      uintptr_t key = hz3_free_key;
      if (hz_unlikely(words[1] == key)) {
        hz3_free_twice(p);
        return true;
      }
      unsigned cls = tag & 0xFFu;
      hz3_bin *bin = &heap->bins[cls];
      words[0] = (uintptr_t)bin->head;
      words[1] = key;
      bin->head = p;
      if (hz_unlikely(hz3_bin_push_over(bin))) hz3_bin_overflow(heap, cls);
      return true;
    }
  }
  hz3_free_slow(p);
  return true;
}

#endif
