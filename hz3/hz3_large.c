#include "hz3_large.h"
#include "hz3_arena.h"
#include "hz3_heap.h"
#include "hz_os.h"
#include "hz_stats.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

static uint64_t *hz3_large_bytes;   /* mapped bytes, indexed by first slot */
static _Atomic uint64_t hz3_large_live;

bool hz3_large_init(void) {
  if (hz3_large_bytes != NULL) return true;
  size_t slots = hz3_arena_size >> HZ3_SLOT_SHIFT;
  hz3_large_bytes = hz_os_map(slots * sizeof(uint64_t), NULL);
  return hz3_large_bytes != NULL;
}

/* Rounds to four steps per power of two (pages at least), so freed blocks
 * fit later requests of similar size. */
static size_t hz3_large_round(size_t size) {
  size_t page = hz_os_page_size();
  unsigned log2 = 63u - (unsigned)__builtin_clzll((unsigned long long)size);
  size_t step = ((size_t)1 << log2) / 4;
  if (step < page) step = page;
  size_t rounded = (size + step - 1) & ~(step - 1);
  return rounded < size ? 0 : rounded;
}

static size_t hz3_slots_for(size_t bytes) {
  return (bytes + HZ3_SLOT_SIZE - 1) >> HZ3_SLOT_SHIFT;
}

static void hz3_large_publish(void *p, size_t bytes) {
  uint64_t slot = hz3_slot_of(p);
  hz3_large_bytes[slot] = bytes;
  hz3_tags[hz3_tag_index(p)] = HZ3_TAG_LARGE;
  atomic_fetch_add_explicit(&hz3_large_live, bytes, memory_order_relaxed);
}

static void hz3_large_unmap(void *p, size_t bytes) {
  hz3_slots_unmap(hz3_slot_of(p), hz3_slots_for(bytes), bytes);
}

/* Invariant: a block owns exactly hz3_slots_for(its bytes) slots. After an
 * in-place shrink, the slots past the new end go back (mremap already
 * unmapped their pages). */
static void hz3_large_trim_slots(uint64_t slot, uint64_t old_bytes, uint64_t new_bytes) {
  size_t old_slots = hz3_slots_for(old_bytes), new_slots = hz3_slots_for(new_bytes);
  if (new_slots < old_slots) hz3_slots_unmap(slot + new_slots, old_slots - new_slots, 0);
}

/* A cached block takes any length within its slot run in place (never moves). */
static bool hz3_large_resize(void *p, size_t old_bytes, size_t bytes) {
  if (mremap(p, old_bytes, bytes, 0) == MAP_FAILED) {
    hz3_large_unmap(p, old_bytes);
    return false;
  }
  hz3_large_trim_slots(hz3_slot_of(p), old_bytes, bytes);
  return true;
}

hz_large_cache hz3_large_cache = HZ_LARGE_CACHE_INIT(HZ3_SLOT_SHIFT, hz3_large_unmap, hz3_large_resize);

void *hz3_large_alloc(size_t size, size_t align, bool *fresh) {
  size_t bytes = hz3_large_round(size);
  if (bytes == 0) return NULL;
  uint64_t align_slots = align > HZ3_SLOT_SIZE ? align >> HZ3_SLOT_SHIFT : 1;
  int saved = errno;
  void *p = hz_large_cache_take(&hz3_large_cache, bytes, align);
  *fresh = false;
  if (p == NULL) {
    hz3_large_purge(false);
    uint64_t slot;
    p = hz3_slots_map(hz3_slots_for(bytes), bytes, align_slots, &slot);
    if (p == NULL) {
      hz3_oom_reclaim(NULL);  /* out of memory: give back all cached pages, retry once */
      p = hz3_slots_map(hz3_slots_for(bytes), bytes, align_slots, &slot);
    }
    if (p == NULL) {
      errno = saved;
      return NULL;
    }
    *fresh = true;
  }
  errno = saved;
  hz3_large_publish(p, bytes);
  hz_stat_large(1, bytes);
  return p;
}

size_t hz3_large_usable(const void *p) {
  return hz3_large_bytes[hz3_slot_of(p)];
}

void hz3_large_free(void *p) {
  uint64_t slot = hz3_slot_of(p);
  uint64_t bytes = hz3_large_bytes[slot];
  hz3_tags[hz3_tag_index(p)] = 0;  /* a second free now lands on tag 0: ignored */
  atomic_fetch_sub_explicit(&hz3_large_live, bytes, memory_order_relaxed);
  hz_stat_large(-1, bytes);
  hz_large_cache_put(&hz3_large_cache, p, bytes, hz_os_now_ms());
}

void *hz3_large_realloc(void *p, size_t size) {
  uint64_t slot = hz3_slot_of(p);
  uint64_t old_bytes = hz3_large_bytes[slot];
  size_t bytes = hz3_large_round(size);
  if (bytes == 0) return NULL;
  if (bytes == old_bytes) return p;
  if (hz3_slots_for(bytes) <= hz3_slots_for(old_bytes)) {
    /* Shrinking, or growing inside the slot run we already own. */
    int saved = errno;
    if (mremap(p, old_bytes, bytes, 0) != MAP_FAILED) {
      hz3_large_trim_slots(slot, old_bytes, bytes);
      hz3_large_bytes[slot] = bytes;
      atomic_fetch_add_explicit(&hz3_large_live, bytes - old_bytes, memory_order_relaxed);
      return p;
    }
    errno = saved;
  }
  /* Move: a new block, then let the kernel move the pages instead of copying. */
  bool fresh;
  void *q = hz3_large_alloc(size, 0, &fresh);
  if (q == NULL) return NULL;
  size_t new_bytes = hz3_large_bytes[hz3_slot_of(q)];
  int saved = errno;
  void *moved = mremap(p, old_bytes, new_bytes, MREMAP_MAYMOVE | MREMAP_FIXED, q);
  errno = saved;
  if (moved == q) {
    /* The old range is gone; release its slots and the bookkeeping. */
    hz3_tags[hz3_tag_index(p)] = 0;
    atomic_fetch_sub_explicit(&hz3_large_live, old_bytes, memory_order_relaxed);
    hz3_slots_unmap(slot, hz3_slots_for(old_bytes), 0);
    hz_stat_add(HZ_STAT_OS_UNMAPPED, old_bytes);
    hz_stat_large(-1, old_bytes);
    return q;
  }
  memcpy(q, p, old_bytes < size ? old_bytes : size);
  hz3_large_free(p);
  return q;
}

size_t hz3_large_purge(bool force) { return hz_large_cache_purge(&hz3_large_cache, force); }

uint64_t hz3_large_live_bytes(void) {
  return atomic_load_explicit(&hz3_large_live, memory_order_relaxed);
}
