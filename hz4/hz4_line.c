/* hz4's side of the line contract (common/hz_line.h): initialisation, the
 * calls the fast paths fall back to, and the rarer entry points. */
#include "hz_line.h"
#include "hz_line_fast.h"
#include "hz4_large.h"
#include "hz4_page.h"
#include "hz4_remote.h"
#include "hz_options.h"
#include "hz_purger.h"
#include "hz_stats.h"

#include <string.h>

static _Atomic int hz4_ready;
static hz_lock hz4_init_lock = HZ_LOCK_INIT;

/* Nothing here maps or allocates: the segmap is .bss and every table is
 * static, so init cannot fail, and calls before it (or during it, from
 * another thread) simply find empty caches. */
static hz_cold void hz4_init_slow(void) {
  hz_lock_acquire(&hz4_init_lock);
  if (atomic_load_explicit(&hz4_ready, memory_order_relaxed)) {
    hz_lock_release(&hz4_init_lock);
    return;
  }
  hz_options_init();
  hz4_classes_init(hz_options.tcache ? hz_options.tcache_scale : 0);
  hz4_remote_init();
  hz4_heaps_init();
  atomic_store_explicit(&hz4_ready, 1, memory_order_release);
  hz_lock_release(&hz4_init_lock);
  hz_shim_process_init();  /* may allocate (pthread_atfork): we are ready now */
}

static inline void hz4_ensure_ready(void) {
  if (hz_unlikely(!atomic_load_explicit(&hz4_ready, memory_order_acquire))) hz4_init_slow();
}

void hz_line_init(void) { hz4_ensure_ready(); }

/* Both set errno themselves (HZ_LINE_MALLOC_ANY_SIZE), so the shim's malloc
 * is a tail call with no stack frame. */
void *hz4_malloc_miss(size_t size) {
  hz4_ensure_ready();
  void *p = hz4_alloc_slow(hz4_class_of(size));
  hz_purger_poll();
  return p != NULL ? p : hz_shim_enomem();
}

void *hz4_malloc_large(size_t size) {
  if (size > HZ_MAX_REQUEST) return hz_shim_enomem();
  hz4_ensure_ready();
  bool fresh;
  void *p = size <= HZ4_BLOCK_MAX_SIZE ? hz4_alloc_block(size, 0, &fresh) : hz4_large_alloc(size, 0, &fresh);
  hz_purger_poll();
  return p != NULL ? p : hz_shim_enomem();
}

void hz4_free_slow(void *p) {
  if (p == NULL) return;
  unsigned kind = hz4_map_kind(p);
  if (kind == HZ4_MAP_NONE) {
    hz_shim_free_foreign(p);
    return;
  }
  /* Segments are handled inline; here only huge kinds remain. */
  hz4_large_free(p, kind);
}

void hz4_free_repeated(void *p) {
  (void)p;
  hz_stat_add(HZ_STAT_INVALID_FREES, 1);
}

void *hz_line_calloc(size_t size) {
  if (size <= HZ4_CLASS_MAX_SIZE) {
    void *p = hz_line_malloc(size);
    if (p != NULL) memset(p, 0, size);
    return p;
  }
  hz4_ensure_ready();
  bool fresh;
  void *p = size <= HZ4_BLOCK_MAX_SIZE ? hz4_alloc_block(size, 0, &fresh)
                                       : hz4_large_alloc(size, 0, &fresh);
  if (p != NULL && !fresh) memset(p, 0, size);  /* fresh OS pages are already zero */
  return p;
}

void *hz_line_aligned(size_t align, size_t size) {
  hz4_ensure_ready();
  if (align <= HZ4_SLICE_SIZE && size <= HZ4_CLASS_MAX_SIZE) {
    /* Pages start slice-aligned, so objects of a class whose size and
     * stride are multiples of `align` are all aligned; powers of two are
     * classes (and keep stride == size). */
    unsigned cls = hz4_class_of(size);
    while (cls < HZ4_CLASS_COUNT && (hz4_classes[cls].size % align != 0 || hz4_classes[cls].stride % align != 0))
      cls++;
    if (cls < HZ4_CLASS_COUNT) return hz4_alloc_class(cls);
  }
  bool fresh;
  if (size <= HZ4_BLOCK_MAX_SIZE && align <= HZ4_BLOCK_MAX_SIZE)
    return hz4_alloc_block(size ? size : 1, align, &fresh);
  return hz4_large_alloc(size ? size : 1, align, &fresh);
}

size_t hz_line_usable_size(const void *p) {
  unsigned kind = hz4_map_kind(p);
  if (kind == HZ4_MAP_NONE) return 0;
  if (kind != HZ4_MAP_SEGMENT) return hz4_large_usable(p, kind);
  uint32_t tag = hz4_segment_of(p)->tags[hz4_slice_of(p)];
  if (tag == 0) return 0;
  unsigned cls = tag & 0xFFu;
  if (cls != HZ4_CLS_BLOCK) return hz4_classes[cls].size;
  const hz4_page *page = hz4_page_of(p);
  return hz4_page_start(page) == (const char *)p ? page->size : 0;
}

bool hz_line_claims(const void *p) { return hz4_map_kind(p) != HZ4_MAP_NONE; }

void *hz_line_realloc(void *p, size_t usable, size_t size) {
  unsigned kind = hz4_map_kind(p);
  /* A huge block stays one while it is not class-sized: mremap moves or
   * resizes its pages, nothing is copied. */
  if (kind != HZ4_MAP_SEGMENT && size > HZ4_CLASS_MAX_SIZE) return hz4_large_realloc(p, kind, size);
  if (kind == HZ4_MAP_SEGMENT && size > HZ4_CLASS_MAX_SIZE && size <= HZ4_BLOCK_MAX_SIZE &&
      (hz4_segment_of(p)->tags[hz4_slice_of(p)] & HZ4_TAG_BLOCK) &&
      hz4_block_resize(hz4_tls_heap, p, size))
    return p;  /* a block of this thread, resized in its segment: no copy */
  if (hz_realloc_fits_in_place(usable, size)) return p;
  return hz_shim_realloc_move(p, usable, size);
}

/* The process-wide stores, and (HZ4_SLICE_PURGE) the free slices of every
 * heap's segments, so that an idle thread's freed pages go back too. */
uint64_t hz_line_purge_due(uint64_t now, size_t *released) {
  uint64_t due = hz_due_min(hz4_pool_purge_due(now, released),
                            hz_large_cache_purge_due(&hz4_large_cache, now, released));
  due = hz_due_min(due, hz4_parked_purge_due(now));
  return hz_due_min(due, hz4_heaps_slices_due(now, released));
}

bool hz_line_trim(size_t pad) {
  (void)pad;
  if (!atomic_load_explicit(&hz4_ready, memory_order_acquire)) return false;
  uint64_t before = hz_stat_get(HZ_STAT_OS_DECOMMITTED) + hz_stat_get(HZ_STAT_OS_UNMAPPED);
  hz4_heaps_trim();
  return hz_stat_get(HZ_STAT_OS_DECOMMITTED) + hz_stat_get(HZ_STAT_OS_UNMAPPED) != before;
}

void hz_line_get_usage(hz_line_usage *usage) {
  memset(usage, 0, sizeof(*usage));
  if (!atomic_load_explicit(&hz4_ready, memory_order_acquire)) return;
  uint64_t mapped, in_use, committed;
  hz4_segments_usage(&mapped, &in_use, &committed);
  uint64_t large = hz4_large_live_bytes(), cached = hz4_large_cache.total;
  usage->mapped_bytes = mapped + large + cached;
  usage->committed_bytes = committed + large + cached;
  usage->in_use_bytes = in_use + large;  /* (in_use counts one-block pages already) */
  usage->large_bytes = large + hz4_block_live_bytes();
  usage->free_bytes = mapped - in_use + cached;
  usage->threads_live = hz4_heaps_live();
}

unsigned hz_line_get_class_stats(hz_line_class_stats *out, unsigned max) {
  bool ready = atomic_load_explicit(&hz4_ready, memory_order_acquire);
  for (unsigned cls = 0; cls < HZ4_CLASS_COUNT && cls < max; cls++) {
    out[cls].size = hz4_classes[cls].size;
    out[cls].allocs = out[cls].frees = 0;
    if (ready) hz4_class_counts(cls, &out[cls].allocs, &out[cls].frees);
  }
  return HZ4_CLASS_COUNT;
}

void hz_line_fork_prepare(void) {
  hz4_heaps_lock_all();
  hz_lock_acquire(&hz4_large_cache.lock);
  hz4_segments_lock();
}

void hz_line_fork_parent(void) {
  hz4_segments_unlock();
  hz_lock_release(&hz4_large_cache.lock);
  hz4_heaps_unlock_all();
}

void hz_line_fork_child(void) {
  hz4_segments_reset_lock();
  hz_lock_reset(&hz4_large_cache.lock);
  hz4_heaps_after_fork_child();
}
