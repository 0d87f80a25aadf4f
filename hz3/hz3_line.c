/* hz3's side of the line contract (common/hz_line.h): initialisation, the
 * calls the fast paths fall back to, and the rarer entry points. */
#include "hz_line.h"
#include "hz_line_fast.h"
#include "hz3_large.h"
#include "hz_options.h"
#include "hz_purger.h"

#include <errno.h>
#include <string.h>

static _Atomic int hz3_ready;
static hz_lock hz3_init_lock = HZ_LOCK_INIT;

/* Returns whether hz3 is usable. A failed step (a mapping refused under a
 * tight RLIMIT_AS or by fault injection) leaves hz3 not ready; the call fails
 * with ENOMEM and the next call tries again, so the allocator recovers once
 * memory is available. */
static hz_cold bool hz3_init_slow(void) {
  static bool options_read, key_made;
  hz_lock_acquire(&hz3_init_lock);
  if (atomic_load_explicit(&hz3_ready, memory_order_relaxed)) {
    hz_lock_release(&hz3_init_lock);
    return true;
  }
  /* Nothing below allocates: we are the allocator and not ready yet. */
  if (!options_read) {
    hz_options_init();
    hz3_classes_init(hz_options.tcache ? hz_options.tcache_scale : 0);
    options_read = true;
  }
  if (!hz3_arena_init() || !hz3_large_init()) {
    hz_lock_release(&hz3_init_lock);
    return false;
  }
  if (!key_made) {
    hz3_free_key_init();
  hz3_heaps_init();
    key_made = true;
  }
  atomic_store_explicit(&hz3_ready, 1, memory_order_release);
  hz_lock_release(&hz3_init_lock);
  hz_shim_process_init();  /* may allocate (pthread_atfork): we are ready now */
  return true;
}

static inline bool hz3_ensure_ready(void) {
  return hz_likely(atomic_load_explicit(&hz3_ready, memory_order_acquire)) || hz3_init_slow();
}

void hz_line_init(void) { (void)hz3_ensure_ready(); }

void *hz3_malloc_miss(size_t size) {
  if (!hz3_ensure_ready()) return hz_shim_enomem();
  void *p = hz3_alloc_slow(hz3_class_of(size));
  hz_purger_poll();
  return p != NULL ? p : hz_shim_enomem();
}

void *hz3_malloc_large(size_t size) {
  if (size > HZ_MAX_REQUEST || !hz3_ensure_ready()) return hz_shim_enomem();
  bool fresh;
  void *p = hz3_large_alloc(size, 0, &fresh);
  hz_purger_poll();
  return p != NULL ? p : hz_shim_enomem();
}

void *hz_line_calloc(size_t size) {
  if (size <= HZ3_CLASS_MAX_SIZE) {
    void *p = hz_line_malloc(size);
    if (p != NULL) memset(p, 0, size);
    return p;
  }
  if (!hz3_ensure_ready()) return NULL;
  bool fresh;
  void *p = hz3_large_alloc(size, 0, &fresh);
  if (p != NULL && !fresh) memset(p, 0, size);  /* fresh OS pages are already zero */
  return p;
}

void *hz_line_aligned(size_t align, size_t size) {
  if (!hz3_ensure_ready()) return NULL;
  if (align <= HZ3_UNIT_SIZE && size <= HZ3_CLASS_MAX_SIZE) {
    /* Spans start unit-aligned, so objects of a class whose size is a
     * multiple of `align` are all aligned; powers of two are classes. */
    unsigned cls = hz3_class_of(size);
    while (cls < HZ3_CLASS_COUNT && hz3_classes[cls].size % align != 0) cls++;
    if (cls < HZ3_CLASS_COUNT) return hz3_alloc_class(cls);
  }
  bool fresh;
  return hz3_large_alloc(size ? size : 1, align, &fresh);
}

size_t hz_line_usable_size(const void *p) {
  if (!hz3_in_arena(p)) return 0;
  uint32_t tag = hz3_tags[hz3_tag_index(p)];
  if (tag == 0) return 0;
  unsigned cls = tag & 0xFFu;
  return cls == HZ3_TAG_LARGE ? hz3_large_usable(p) : hz3_classes[cls].size;
}

bool hz_line_claims(const void *p) { return hz3_in_arena(p); }

void *hz_line_realloc(void *p, size_t usable, size_t size) {
  bool large = (hz3_tags[hz3_tag_index(p)] & 0xFFu) == HZ3_TAG_LARGE;
  if (!large && ((const uintptr_t *)p)[1] == hz3_free_key) {
    hz3_free_twice(p);  /* realloc of a freed block: refuse, never hand it out */
    errno = EINVAL;
    return NULL;
  }
  if (large && size > HZ3_CLASS_MAX_SIZE) {
    void *q = hz3_large_realloc(p, size);
    hz_purger_poll();
    return q;
  }
  if (!large && hz_realloc_fits_in_place(usable, size)) return p;
  return hz_shim_realloc_move(p, usable, size);
}

bool hz_line_trim(size_t pad) {
  (void)pad;
  if (!atomic_load_explicit(&hz3_ready, memory_order_acquire)) return false;
  hz3_heaps_trim();
  size_t released = hz3_arena_purge(true) + hz3_large_purge(true);
  hz_purger_poll();
  return released != 0;
}

uint64_t hz_line_purge_due(uint64_t now, size_t *released) {
  if (!atomic_load_explicit(&hz3_ready, memory_order_acquire)) return 0;
  uint64_t due = hz_due_min(hz3_arena_purge_due(now, released),
                            hz_large_cache_purge_due(&hz3_large_cache, now, released));
  due = hz_due_min(due, hz3_parked_purge_due(now));
  return hz_due_min(due, hz3_interior_purge_due(now, released));
}

void hz_line_get_usage(hz_line_usage *usage) {
  memset(usage, 0, sizeof(*usage));
  if (!atomic_load_explicit(&hz3_ready, memory_order_acquire)) return;
  uint64_t mapped, in_use, free_bytes, committed;
  hz3_arena_usage(&mapped, &in_use, &free_bytes, &committed);
  uint64_t stashed = hz3_heaps_stash_bytes();  /* free, though their spans count them used */
  if (stashed > in_use) stashed = in_use;
  in_use -= stashed;
  free_bytes += stashed;
  uint64_t large = hz3_large_live_bytes(), cached = hz3_large_cache.total;
  usage->mapped_bytes = mapped + large + cached;
  usage->committed_bytes = committed + large + cached;
  usage->in_use_bytes = in_use + large;
  usage->large_bytes = large;
  usage->free_bytes = free_bytes + cached;
  usage->threads_live = hz3_heaps_live();
}

unsigned hz_line_get_class_stats(hz_line_class_stats *out, unsigned max) {
  bool ready = atomic_load_explicit(&hz3_ready, memory_order_acquire);
  for (unsigned cls = 0; cls < HZ3_CLASS_COUNT && cls < max; cls++) {
    out[cls].size = hz3_classes[cls].size;
    out[cls].allocs = out[cls].frees = 0;
    if (ready) hz3_class_counts(cls, &out[cls].allocs, &out[cls].frees);
  }
  return HZ3_CLASS_COUNT;
}

void hz_line_fork_prepare(void) {
  hz3_heaps_lock_all();
  hz_lock_acquire(&hz3_large_cache.lock);
  hz3_arena_lock_all();
}

void hz_line_fork_parent(void) {
  hz3_arena_unlock_all();
  hz_lock_release(&hz3_large_cache.lock);
  hz3_heaps_unlock_all();
}

void hz_line_fork_child(void) {
  hz3_arena_reset_locks();
  hz_lock_reset(&hz3_large_cache.lock);
  hz3_heaps_after_fork_child();
}
