/* hz3 arena: slots, segments, spans and the page-tag table. */
#include "hz3_arena.h"
#include "hz3_classes.h"
#include "hz_budget.h"
#include "hz_bits.h"
#include "hz_options.h"
#include "hz_os.h"
#include "hz_purger.h"
#include "hz_stats.h"

#include <errno.h>
#include <string.h>

hz3_arena_map hz3_map = {.free_key = 0x9e3779b97f4a7c15u};

static hz_lock hz3_arena_lock = HZ_LOCK_INIT;
static hz_lock hz3_meta_lock = HZ_LOCK_INIT;

static uint64_t *hz3_slot_used;     /* bit per slot: mapped, reserved, or unusable */
static uint64_t *hz3_slot_segment;  /* bit per slot: holds a segment (for usage walks) */
static uint64_t hz3_slot_count;
static uint64_t hz3_slot_hint;      /* no free slot below this index */
static hz3_segment *hz3_seg_free_list;  /* segments with at least one free unit */
static uint64_t hz3_seg_count;
static uint64_t hz3_purge_last_ms;
/* When the oldest dirty run becomes due for return (0: none pending). Read
 * without the lock by refills, so an idle-but-running program still gives
 * pages back without waiting for its next span operation. */
static _Atomic uint64_t hz3_purge_due_ms;
/* Free units whose pages may be resident, over all segments: bounded by
 * HZ_DIRTY_MAX_MB so that a program that frees most of its memory at once gets
 * it back without waiting for a later allocator call to notice the delay. */
static uint64_t hz3_dirty_units_total;
static uint64_t hz3_span_units_total;  /* units held by spans (in use) */

static inline uint64_t hz3_run_mask(unsigned first, unsigned count) {
  return (count >= 64 ? ~0ull : ((1ull << count) - 1)) << first;
}

bool hz3_arena_init(void) {
  if (hz3_arena_size != 0) return true;  /* an earlier attempt got this far */
  uint64_t size = (uint64_t)hz_options.arena_gb << 30;
  for (; size >= ((uint64_t)1 << 30); size >>= 1) {
    uint64_t tag_bytes = (size >> HZ3_UNIT_SHIFT) * sizeof(uint32_t);
    uint64_t slots = size >> HZ3_SLOT_SHIFT;
    uint64_t bitmap_bytes = (slots + 63) / 64 * 8;
    uint32_t *tags = hz_os_map(tag_bytes, NULL);
    if (tags == NULL) continue;
    uint64_t *bitmap = hz_os_map(2 * bitmap_bytes, NULL);
    if (bitmap == NULL) {
      hz_os_unmap(tags, tag_bytes);
      continue;
    }
    hz3_tags = tags;
    hz3_slot_used = bitmap;
    hz3_slot_segment = bitmap + bitmap_bytes / 8;
    hz3_slot_count = slots;
    hz3_arena_base = HZ3_ARENA_HINT;
    hz3_arena_size = size;
    return true;
  }
  return false;
}

/* ---- slots ---- */

static bool hz3_slot_is_used(uint64_t i) { return (hz3_slot_used[i >> 6] >> (i & 63)) & 1; }
static void hz3_slot_set(uint64_t i, bool used) {
  if (used) hz3_slot_used[i >> 6] |= 1ull << (i & 63);
  else hz3_slot_used[i >> 6] &= ~(1ull << (i & 63));
}

/* Finds `count` free slots in a row starting at a multiple of `align`
 * slots; caller holds the arena lock. */
static int64_t hz3_slots_find_locked(size_t count, uint64_t align) {
  uint64_t run_start = hz3_slot_hint, run_len = 0;
  for (uint64_t i = hz3_slot_hint; i < hz3_slot_count; i++) {
    if ((i & 63) == 0 && run_len == 0 && hz3_slot_used[i >> 6] == ~0ull) {
      i += 63;  /* skip a full word */
      continue;
    }
    if (hz3_slot_is_used(i)) {
      run_len = 0;
      continue;
    }
    if (run_len == 0) {
      if (i % align != 0) continue;
      run_start = i;
    }
    if (++run_len == count) return (int64_t)run_start;
  }
  return -1;
}

/* Maps `bytes` (<= count slots) at the first free run; a run someone else
 * already mapped into (EEXIST) is marked unusable and skipped. */
static void *hz3_slots_map_locked(size_t count, size_t bytes, uint64_t align,
                                  uint64_t *slot_out) {
  int saved = errno;
  for (;;) {
    int64_t first = hz3_slots_find_locked(count, align);
    if (first < 0) break;
    for (size_t i = 0; i < count; i++) hz3_slot_set((uint64_t)first + i, true);
    void *p = hz_os_map(bytes, hz3_slot_addr((uint64_t)first));
    if (p != NULL) {
      hz_purger_note_mapped(bytes);
      *slot_out = (uint64_t)first;
      errno = saved;
      return p;
    }
    if (errno != EEXIST) {
      for (size_t i = 0; i < count; i++) hz3_slot_set((uint64_t)first + i, false);
      break;
    }
    /* Someone else's mapping lives there: leave those slots marked used. */
  }
  errno = saved;
  return NULL;
}

void *hz3_slots_map(size_t count, size_t bytes, uint64_t align, uint64_t *slot_out) {
  hz_lock_acquire(&hz3_arena_lock);
  void *p = hz3_slots_map_locked(count, bytes, align ? align : 1, slot_out);
  hz_lock_release(&hz3_arena_lock);
  return p;
}

void hz3_slots_unmap(uint64_t first, size_t count, size_t bytes) {
  hz_os_unmap(hz3_slot_addr(first), bytes);
  hz_lock_acquire(&hz3_arena_lock);
  for (size_t i = 0; i < count; i++) hz3_slot_set(first + i, false);
  if (first < hz3_slot_hint) hz3_slot_hint = first;
  hz_lock_release(&hz3_arena_lock);
}

/* ---- segments ---- */

static void hz3_seg_list_add(hz3_segment *seg) {
  if (seg->in_list) return;
  seg->in_list = 1;
  seg->prev = NULL;
  seg->next = hz3_seg_free_list;
  if (hz3_seg_free_list) hz3_seg_free_list->prev = seg;
  hz3_seg_free_list = seg;
}

static void hz3_seg_list_remove(hz3_segment *seg) {
  if (!seg->in_list) return;
  seg->in_list = 0;
  if (seg->prev) seg->prev->next = seg->next;
  else hz3_seg_free_list = seg->next;
  if (seg->next) seg->next->prev = seg->prev;
  seg->next = seg->prev = NULL;
}

static hz3_segment *hz3_empty_head, *hz3_empty_tail;  /* wholly free segments, oldest first */

static void hz3_empty_push(hz3_segment *seg) {
  if (seg->in_empty) return;
  seg->in_empty = 1;
  seg->empty_next = NULL;
  seg->empty_prev = hz3_empty_tail;
  if (hz3_empty_tail) hz3_empty_tail->empty_next = seg;
  else hz3_empty_head = seg;
  hz3_empty_tail = seg;
}

static void hz3_empty_remove(hz3_segment *seg) {
  if (!seg->in_empty) return;
  seg->in_empty = 0;
  if (seg->empty_prev) seg->empty_prev->empty_next = seg->empty_next;
  else hz3_empty_head = seg->empty_next;
  if (seg->empty_next) seg->empty_next->empty_prev = seg->empty_prev;
  else hz3_empty_tail = seg->empty_prev;
}

static hz3_segment *hz3_segment_new_locked(void) {
  uint64_t slot;
  hz3_segment *seg = hz3_slots_map_locked(1, HZ3_SLOT_SIZE, 1, &slot);
  if (seg == NULL) return NULL;
  hz_os_hint_hugepages(seg, HZ3_SLOT_SIZE);
  /* Fresh anonymous memory is zero: only the non-zero fields are set. */
  seg->slot = (uint32_t)slot;
  seg->free_units = ~1ull;  /* unit 0 is this header */
  hz3_slot_segment[slot >> 6] |= 1ull << (slot & 63);
  hz3_seg_count++;
  hz_stat_add(HZ_STAT_SEGMENTS_MAPPED, 1);
  hz3_seg_list_add(seg);
  return seg;
}

static void hz3_segment_unmap_locked(hz3_segment *seg) {
  uint64_t slot = seg->slot;
  hz3_dirty_units_total -= hz_popcount64(seg->dirty_units);
  hz3_empty_remove(seg);
  hz3_seg_list_remove(seg);
  hz3_slot_segment[slot >> 6] &= ~(1ull << (slot & 63));
  hz_os_unmap(seg, HZ3_SLOT_SIZE);
  hz3_slot_set(slot, false);
  if (slot < hz3_slot_hint) hz3_slot_hint = slot;
  hz3_seg_count--;
  hz_stat_add(HZ_STAT_SEGMENTS_RELEASED, 1);
}

/* First position where `count` bits of `mask` are set in a row, or -1. */
static int hz3_find_bit_run(uint64_t mask, unsigned count) {
  uint64_t run = mask;
  for (unsigned i = 1; i < count && run; i++) run &= mask >> i;
  return run ? __builtin_ctzll(run) : -1;
}

/* ---- purge ---- */

static size_t hz3_segment_decommit_locked(hz3_segment *seg) {
  size_t released = 0;
  uint64_t dirty = seg->dirty_units;
  while (dirty) {
    unsigned first = (unsigned)__builtin_ctzll(dirty);
    /* Unit 0 is never dirty, so the shifted word always ends in a zero. */
    unsigned len = (unsigned)__builtin_ctzll(~(dirty >> first));
    hz_os_decommit((char *)seg + ((size_t)first << HZ3_UNIT_SHIFT), (size_t)len << HZ3_UNIT_SHIFT);
    released += (size_t)len << HZ3_UNIT_SHIFT;
    dirty &= ~hz3_run_mask(first, len);
  }
  hz3_dirty_units_total -= hz_popcount64(seg->dirty_units);
  seg->dirty_units = 0;
  return released;
}

static size_t hz3_purge_locked(uint64_t now, bool force) {
  int64_t delay = hz_options.purge_delay_ms;
  size_t released = 0;
  hz3_purge_last_ms = now;
  /* What stays dirty (or empty) becomes due one delay after it was freed:
   * found in the same pass. */
  uint64_t due = 0;
  hz3_segment *seg = hz3_seg_free_list;
  while (seg != NULL) {
    hz3_segment *next = seg->next;
    bool idle = force || (delay >= 0 && hz_aged(now, seg->dirty_since_ms, (uint64_t)delay));
    if (idle) {
      if (seg->free_units == ~1ull) {
        released += HZ3_SLOT_SIZE;
        hz3_segment_unmap_locked(seg);
      } else if (seg->dirty_units) {
        released += hz3_segment_decommit_locked(seg);
      }
    } else if (delay >= 0 && (seg->dirty_units || seg->free_units == ~1ull)) {
      due = hz_due_min(due, seg->dirty_since_ms + (uint64_t)delay);
    }
    seg = next;
  }
  atomic_store_explicit(&hz3_purge_due_ms, due, memory_order_relaxed);
  return released;
}

void hz3_arena_purge_tick(void) {
  uint64_t due = atomic_load_explicit(&hz3_purge_due_ms, memory_order_relaxed);
  if (hz_likely(due == 0)) return;
  uint64_t now = hz_os_now_ms();
  if (now < due) return;
  hz_lock_acquire(&hz3_arena_lock);
  hz3_purge_locked(now, false);
  hz_lock_release(&hz3_arena_lock);
}

uint64_t hz3_arena_purge_due(uint64_t now, size_t *released) {
  uint64_t due = atomic_load_explicit(&hz3_purge_due_ms, memory_order_relaxed);
  if (due == 0 || now < due) return due;
  hz_lock_acquire(&hz3_arena_lock);
  *released += hz3_purge_locked(now, false);
  due = atomic_load_explicit(&hz3_purge_due_ms, memory_order_relaxed);
  hz_lock_release(&hz3_arena_lock);
  return due;
}

static void hz3_maybe_purge_locked(void) {
  int64_t delay = hz_options.purge_delay_ms;
  if (delay < 0) return;
  uint64_t now = hz_os_now_ms();
  uint64_t interval = (uint64_t)delay / 4;
  if (hz_aged(now, hz3_purge_last_ms, interval)) hz3_purge_locked(now, false);
}

#if HZ3_BUDGET_PARTIAL
static hz_refault hz3_refault;

/* The second stage of the budget (common/hz_budget.h): free units of partly
 * used segments, least recently freed first. */
static void hz3_purge_partial_locked(uint64_t limit) {
  if (hz3_dirty_units_total <= hz_refault_budget(&hz3_refault, limit)) return;
  uint64_t now = hz_os_now_ms();
  uint64_t want = hz_refault_pass_begin(&hz3_refault, limit, hz3_dirty_units_total, now);
  if (want == 0) return;
  uint64_t units[HZ_AGE_BUCKETS] = {0}, before = hz3_dirty_units_total, from_cut;
  unsigned cut;
  for (hz3_segment *seg = hz3_seg_free_list; seg != NULL; seg = seg->next)
    if (seg->dirty_units)
      units[hz_age_bucket(now, seg->dirty_since_ms)] += hz_popcount64(seg->dirty_units);
  hz_age_cut(units, want, &cut, &from_cut);
  for (hz3_segment *seg = hz3_seg_free_list; seg != NULL; seg = seg->next) {
    if (seg->dirty_units &&
        hz_age_take(hz_age_bucket(now, seg->dirty_since_ms), hz_popcount64(seg->dirty_units),
                    cut, &from_cut))
      hz3_segment_decommit_locked(seg);
  }
  hz_refault_pass_end(&hz3_refault, before - hz3_dirty_units_total, now);
  hz_stat_add(HZ_STAT_BUDGET_DECOMMITS, 1);
}
#endif

/* Over the dirty budget, wholly free segments are unmapped at once, least
 * recently emptied first (a list kept in that order, so each is O(1) under
 * the arena lock: a scan of every segment for the oldest cost 16 threads
 * churning 128 KiB blocks 3x their run time), down to half the budget. A
 * program that frees most of its memory in one phase empties whole segments
 * and gets them back without waiting for a later allocator call to notice the
 * purge delay. The budget: hz_dirty_budget_units (common/hz_options.h).
 * Partly used segments come second (HZ3_BUDGET_PARTIAL): decommitting them
 * whenever over budget doubled the CPU time of the remote-free lanes (page
 * faults on reuse; docs/hz3.md), hence the back-off of hz_budget.h. */
static void hz3_purge_over_budget_locked(void) {
  uint64_t limit = hz_dirty_budget_units(hz3_span_units_total, HZ3_UNIT_SHIFT);
  if (hz3_dirty_units_total <= limit) return;
  while (hz3_dirty_units_total > limit / 2 && hz3_empty_head != NULL) hz3_segment_unmap_locked(hz3_empty_head);
#if HZ3_BUDGET_PARTIAL
  hz3_purge_partial_locked(limit);
#endif
}

size_t hz3_arena_purge(bool force) {
  hz_lock_acquire(&hz3_arena_lock);
  size_t released = hz3_purge_locked(hz_os_now_ms(), force);
  hz_lock_release(&hz3_arena_lock);
  return released;
}

/* ---- spans ---- */

hz3_span *hz3_span_alloc(unsigned cls, uint32_t owner) {
  const hz3_class_info *info = &hz3_classes[cls];
  unsigned units = info->span_units;
  hz_lock_acquire(&hz3_arena_lock);
  hz3_segment *seg;
  int first = -1;
  /* Prefer units that are still resident in any segment (no page faults, no
   * RSS growth) over fresh ones: taking clean units while dirty ones wait in
   * another segment let freed memory pile up under span churn. */
  if (hz3_dirty_units_total != 0) {
    for (seg = hz3_seg_free_list; seg != NULL; seg = seg->next) {
      first = hz3_find_bit_run(seg->free_units & seg->dirty_units, units);
      if (first >= 0) break;
    }
  }
  if (first < 0) {
    for (seg = hz3_seg_free_list; seg != NULL; seg = seg->next) {
      first = hz3_find_bit_run(seg->free_units, units);
      if (first >= 0) break;
    }
  }
  if (first < 0) {
    seg = hz3_segment_new_locked();
    if (seg == NULL) {
      hz_lock_release(&hz3_arena_lock);
      return NULL;
    }
    first = 1;
  }
  uint64_t run = hz3_run_mask((unsigned)first, units);
  hz3_span_units_total += units;
  hz3_empty_remove(seg);
  seg->free_units &= ~run;
  hz3_dirty_units_total -= hz_popcount64(seg->dirty_units & run);
#if HZ3_BUDGET_PARTIAL
  hz_refault_note(&hz3_refault, hz_popcount64(run & ~seg->dirty_units));
#endif
  seg->dirty_units &= ~run;
  if (seg->free_units == 0) hz3_seg_list_remove(seg);
  hz3_maybe_purge_locked();
  hz_lock_release(&hz3_arena_lock);

  hz3_span *span = &seg->spans[first];
  for (unsigned i = 1; i < units; i++) {
    seg->spans[first + i].first = (uint8_t)first;
    seg->spans[first + i].units = 0;
  }
  memset(span, 0, sizeof(*span));
  span->first = (uint8_t)first;
  span->units = (uint8_t)units;
  span->cls = (uint8_t)cls;
  span->owner = owner;
  span->capacity = info->capacity;
  span->start = (char *)seg + ((size_t)first << HZ3_UNIT_SHIFT);
  uint32_t tag = (owner << HZ3_OWNER_SHIFT) | cls;
  uint32_t index = hz3_tag_index(span->start);
  for (unsigned i = 0; i < units; i++) hz3_tags[index + i] = tag;
  hz_stat_add(HZ_STAT_SPANS_ALLOCATED, 1);
  return span;
}

void hz3_span_release(hz3_span *span) {
  uint32_t index = hz3_tag_index(span->start);
  for (unsigned i = 0; i < span->units; i++) hz3_tags[index + i] = 0;
  hz3_segment *seg = (hz3_segment *)((uintptr_t)span->start & ~(uintptr_t)(HZ3_SLOT_SIZE - 1));
  unsigned first = span->first, units = span->units;
  span->units = 0;
  span->used = 0;
  span->free = NULL;
  uint64_t run = hz3_run_mask(first, units);
  hz_lock_acquire(&hz3_arena_lock);
  hz3_span_units_total -= units;
  seg->free_units |= run;
  hz3_dirty_units_total += hz_popcount64(run & ~seg->dirty_units);
  seg->dirty_units |= run;
  seg->dirty_since_ms = hz_os_now_ms();
  hz3_seg_list_add(seg);
  bool first_pending = false;  /* nothing was waiting: the purger may have ended */
  if (hz_options.purge_delay_ms > 0) {
    uint64_t when = seg->dirty_since_ms + (uint64_t)hz_options.purge_delay_ms;
    uint64_t due = atomic_load_explicit(&hz3_purge_due_ms, memory_order_relaxed);
    first_pending = due == 0;
    if (due == 0 || when < due) atomic_store_explicit(&hz3_purge_due_ms, when, memory_order_relaxed);
  }
  if (hz_options.purge_delay_ms == 0) {
    hz3_purge_locked(seg->dirty_since_ms, false);
  } else {
    if (seg->free_units == ~1ull) hz3_empty_push(seg);
    hz3_maybe_purge_locked();
    hz3_purge_over_budget_locked();
  }
  hz_lock_release(&hz3_arena_lock);
  if (first_pending) hz_purger_request();
  hz_stat_add(HZ_STAT_SPANS_RELEASED, 1);
}

/* ---- introspection ---- */

void hz3_arena_usage(uint64_t *mapped, uint64_t *in_use, uint64_t *free_bytes, uint64_t *committed) {
  uint64_t used = 0, total = 0, clean = 0;
  hz_lock_acquire(&hz3_arena_lock);
  for (uint64_t w = 0; w < (hz3_slot_count + 63) / 64; w++) {
    for (uint64_t bits = hz3_slot_segment[w]; bits; bits &= bits - 1) {
      hz3_segment *seg = hz3_slot_addr(w * 64 + (uint64_t)__builtin_ctzll(bits));
      total += HZ3_SLOT_SIZE;
      /* Free units not dirty were returned to the OS or never touched. */
      clean += hz_popcount64(seg->free_units & ~seg->dirty_units) << HZ3_UNIT_SHIFT;
      for (unsigned u = 1; u < HZ3_UNITS_PER_SEG; u++) {
        hz3_span *s = &seg->spans[u];
        if (s->units) used += (uint64_t)s->used * hz3_classes[s->cls].size;
      }
    }
  }
  hz_lock_release(&hz3_arena_lock);
  *mapped = total;
  *in_use = used;
  *free_bytes = total - used;
  *committed = total - clean;
}

/* ---- metadata ---- */

void *hz3_meta_alloc(size_t size) {
  static char *chunk;
  static size_t left;
  size = (size + 63) & ~(size_t)63;
  hz_lock_acquire(&hz3_meta_lock);
  if (size > left) {
    size_t chunk_size = size > ((size_t)256 << 10) ? size : ((size_t)256 << 10);
    char *p = hz_os_map(chunk_size, NULL);
    if (p == NULL) {
      hz_lock_release(&hz3_meta_lock);
      return NULL;
    }
    chunk = p;
    left = chunk_size;
  }
  void *result = chunk;
  chunk += size;
  left -= size;
  hz_lock_release(&hz3_meta_lock);
  return result;
}

void hz3_arena_lock_all(void) {
  hz_lock_acquire(&hz3_meta_lock);
  hz_lock_acquire(&hz3_arena_lock);
}

void hz3_arena_unlock_all(void) {
  hz_lock_release(&hz3_arena_lock);
  hz_lock_release(&hz3_meta_lock);
}

void hz3_arena_reset_locks(void) {
  hz_lock_reset(&hz3_arena_lock);
  hz_lock_reset(&hz3_meta_lock);
}
