/* hz4 segments: registry, mapping, the pool of empty segments. */
#include "hz4_segment.h"
#include "hz_bits.h"
#include "hz_options.h"
#include "hz_os.h"
#include "hz_purger.h"
#include "hz_stats.h"

/* Demand-zero .bss: usable before init, and only the pages covering address
 * ranges we actually used ever become resident (one 4 KiB page of the map
 * covers 16 GiB of address space). */
hz_hidden uint8_t hz4_segmap[HZ4_MAP_ENTRIES];

static hz_lock hz4_seg_lock = HZ_LOCK_INIT;
static hz4_segment *hz4_pool;        /* empty segments, most recently released first */
static hz4_segment *hz4_all;         /* every mapped segment */
static uint64_t hz4_seg_mapped;      /* segments on hz4_all */
static uint64_t hz4_pool_count;      /* segments on hz4_pool */

static void hz4_all_add_locked(hz4_segment *seg) {
  hz4_seg_mapped++;
  seg->all_prev = NULL;
  seg->all_next = hz4_all;
  if (hz4_all) hz4_all->all_prev = seg;
  hz4_all = seg;
}

static void hz4_all_remove_locked(hz4_segment *seg) {
  hz4_seg_mapped--;
  if (seg->all_prev) seg->all_prev->all_next = seg->all_next;
  else hz4_all = seg->all_next;
  if (seg->all_next) seg->all_next->all_prev = seg->all_prev;
}

static hz4_segment *hz4_segment_map(void) {
  hz4_segment *seg = hz_os_map_aligned(HZ4_SEG_SIZE, HZ4_SEG_SIZE);
  if (seg == NULL) return NULL;
  if ((uintptr_t)seg >> HZ4_ADDR_BITS) {  /* beyond what the map covers (never without a hint) */
    hz_os_unmap(seg, HZ4_SEG_SIZE);
    return NULL;
  }
  hz_purger_note_mapped(HZ4_SEG_SIZE);
  hz_os_hint_hugepages(seg, HZ4_SEG_SIZE);
  /* Fresh anonymous memory is zero: only the non-zero fields are set. */
  seg->free_slices = HZ4_SEG_EMPTY;
  seg->zero_slices = HZ4_SEG_EMPTY;
  hz_lock_acquire(&hz4_seg_lock);
  hz4_all_add_locked(seg);
  hz4_segmap[(uintptr_t)seg >> HZ4_SEG_SHIFT] = HZ4_MAP_SEGMENT;
  hz_lock_release(&hz4_seg_lock);
  hz_stat_add(HZ_STAT_SEGMENTS_MAPPED, 1);
  return seg;
}

hz4_segment *hz4_segment_acquire(struct hz4_heap *owner) {
  hz4_segment *seg = NULL;
  if (hz4_pool != NULL) {
    hz_lock_acquire(&hz4_seg_lock);
    seg = hz4_pool;
    if (seg != NULL) {
      hz4_pool = seg->next;
      hz4_pool_count--;
    }
    hz_lock_release(&hz4_seg_lock);
  }
  if (seg == NULL) seg = hz4_segment_map();
  if (seg == NULL) return NULL;
  seg->next = seg->prev = NULL;
  seg->owner = owner;
  return seg;
}

/* The pool of empty segments is bounded like hz3's dirty pages
 * (HZ_DIRTY_MAX_MB, or half the segments in use if that is more): over it,
 * the least recently pooled are unmapped at once, down to half the bound, so
 * a program that frees most of its memory in one phase gets it back without
 * waiting for a later allocator call to notice the purge delay. */
/* Takes a pooled segment (already unlinked from the pool) out of the registry
 * and the segment list; the caller unmaps it after dropping the lock. */
static void hz4_pool_retire_locked(hz4_segment *seg) {
  hz4_pool_count--;
  hz4_all_remove_locked(seg);
  hz4_segmap[(uintptr_t)seg >> HZ4_SEG_SHIFT] = HZ4_MAP_NONE;
}

/* Unmaps a chain of retired segments (linked by next); returns the bytes. */
static size_t hz4_segments_unmap(hz4_segment *victims) {
  size_t released = 0;
  while (victims != NULL) {
    hz4_segment *next = victims->next;
    hz_os_unmap(victims, HZ4_SEG_SIZE);
    hz_stat_add(HZ_STAT_SEGMENTS_RELEASED, 1);
    released += HZ4_SEG_SIZE;
    victims = next;
  }
  return released;
}

void hz4_segment_release(hz4_segment *seg) {
  seg->owner = NULL;
  seg->pooled_ms = hz_os_now_ms();
  hz4_segment *victims = NULL;
  hz_lock_acquire(&hz4_seg_lock);
  seg->prev = NULL;
  seg->next = hz4_pool;
  bool first_pending = hz4_pool == NULL;  /* the purger may have ended */
  hz4_pool = seg;
  hz4_pool_count++;
  uint64_t limit = hz_dirty_budget_units(hz4_seg_mapped - hz4_pool_count, HZ4_SEG_SHIFT);
  if (hz4_pool_count > limit) {
    hz4_segment **link = &hz4_pool;  /* keep the newest limit/2, detach the rest */
    for (uint64_t kept = 0; *link != NULL && kept < limit / 2; kept++) link = &(*link)->next;
    victims = *link;
    *link = NULL;
    for (hz4_segment *v = victims; v != NULL; v = v->next) hz4_pool_retire_locked(v);
  }
  hz_lock_release(&hz4_seg_lock);
  hz4_segments_unmap(victims);
  if (first_pending) hz_purger_request();
}

size_t hz4_segment_decommit(hz4_segment *seg) {
  size_t released = 0;
  uint64_t dirty = seg->dirty_slices;
  while (dirty) {
    unsigned first = (unsigned)__builtin_ctzll(dirty);
    /* Slice 0 is never dirty, so the shifted word always ends in a zero. */
    unsigned len = (unsigned)__builtin_ctzll(~(dirty >> first));
    hz_os_decommit((char *)seg + ((size_t)first << HZ4_SLICE_SHIFT), (size_t)len << HZ4_SLICE_SHIFT);
    released += (size_t)len << HZ4_SLICE_SHIFT;
    dirty &= ~((len >= 64 ? ~0ull : ((1ull << len) - 1)) << first);
  }
  seg->dirty_slices = 0;
  return released;
}

/* Unmaps what is due at `now` (all when `force`) and returns when the rest is
 * next due (0: none). Not now - pooled_ms >= delay: it wraps if pooled later. */
static uint64_t hz4_pool_purge_at(uint64_t now, bool force, size_t *released) {
  int64_t delay = hz_options.purge_delay_ms;
  if (hz4_pool == NULL || (!force && delay < 0)) return 0;
  hz4_segment *victims = NULL;
  uint64_t due = 0;
  hz_lock_acquire(&hz4_seg_lock);
  hz4_segment **link = &hz4_pool;
  while (*link != NULL) {
    hz4_segment *seg = *link;
    uint64_t when = seg->pooled_ms + (uint64_t)delay;
    if (force || when <= now) {
      *link = seg->next;
      hz4_pool_retire_locked(seg);
      seg->next = victims;
      victims = seg;
    } else {
      due = hz_due_min(due, when);
      link = &seg->next;
    }
  }
  hz_lock_release(&hz4_seg_lock);
  *released += hz4_segments_unmap(victims);
  return due;
}

size_t hz4_pool_purge(bool force) {
  size_t released = 0;
  if (hz4_pool != NULL) hz4_pool_purge_at(hz_os_now_ms(), force, &released);
  return released;
}

uint64_t hz4_pool_purge_due(uint64_t now, size_t *released) {
  return hz4_pool_purge_at(now, false, released);
}

void hz4_map_set(void *base, size_t bytes, void *start, unsigned first) {
  uintptr_t lo = (uintptr_t)base >> HZ4_SEG_SHIFT, hi = ((uintptr_t)base + bytes) >> HZ4_SEG_SHIFT;
  uintptr_t s = (uintptr_t)start >> HZ4_SEG_SHIFT;
  hz_lock_acquire(&hz4_seg_lock);
  for (uintptr_t i = lo; i < hi; i++) hz4_segmap[i] = (uint8_t)(i == s ? first : HZ4_MAP_HUGE_TAIL);
  hz_lock_release(&hz4_seg_lock);
}

void hz4_map_clear(void *base, size_t bytes) {
  uintptr_t lo = (uintptr_t)base >> HZ4_SEG_SHIFT, hi = ((uintptr_t)base + bytes) >> HZ4_SEG_SHIFT;
  hz_lock_acquire(&hz4_seg_lock);
  for (uintptr_t i = lo; i < hi; i++) hz4_segmap[i] = HZ4_MAP_NONE;
  hz_lock_release(&hz4_seg_lock);
}

void hz4_segments_usage(uint64_t *mapped, uint64_t *in_use, uint64_t *committed) {
  uint64_t total = 0, used = 0, clean = 0;
  hz_lock_acquire(&hz4_seg_lock);
  for (hz4_segment *seg = hz4_all; seg != NULL; seg = seg->all_next) {
    total += HZ4_SEG_SIZE;
    /* Free slices not dirty were returned to the OS or never touched. */
    clean += hz_popcount64(seg->free_slices & ~seg->dirty_slices) << HZ4_SLICE_SHIFT;
    /* Racy reads of other heaps' pages: an estimate, as mallinfo allows. */
    for (unsigned s = 1; s < HZ4_SLICES; s++) {
      const hz4_page *page = &seg->pages[s];
      if (page->slices != 0) used += (uint64_t)page->used * page->size;
    }
  }
  hz_lock_release(&hz4_seg_lock);
  *mapped = total;
  *in_use = used;
  *committed = total - clean;
}

void hz4_segments_lock(void) { hz_lock_acquire(&hz4_seg_lock); }
void hz4_segments_unlock(void) { hz_lock_release(&hz4_seg_lock); }
void hz4_segments_reset_lock(void) { hz_lock_reset(&hz4_seg_lock); }
