/* hz3 interior purge (HZ3_INTERIOR_PURGE): the background purger gives back
 * the interiors of free objects that sit in a heap's partly used spans.
 *
 * One live object pins its span: a span of 2..8 objects of 64..256 KiB (or
 * 8..64 of 8..32 KiB) whose other objects were freed stays resident until that
 * one goes, so a program that freed most of its memory at random kept it
 * (bench_release order 1). A free object in a span holds only its free-list
 * link and the free key in its first 16 bytes; the pages after the one that
 * holds them can go back to the OS and read zero when reused (malloc does not
 * care, calloc zeroes class-sized blocks anyway).
 *
 * Span free lists are the owner's: the owner holds its heap's span lock in
 * every slow path that touches them (refill, overflow, collect, flush), one
 * uncontended atomic pair per call; the purger only tries that lock and
 * skips a busy heap until its next pass. Spans are found through the slot
 * directory, so parked heaps (exited threads) are purged as well.
 *
 * No work per object on the owner's side: a span's free list is a stack, so
 * the purger keeps, per span, how many objects at its bottom are decommitted
 * (`purged`; a refill that pops below it lowers it) and the list's head and
 * length at its last look. A span whose head and length did not change
 * between two passes at least a purge delay apart was left alone for that
 * long: the objects above the decommitted bottom go back, and the span is
 * not looked at again until its list changes. */
#include "hz3_heap_internal.h"
#include "hz_options.h"
#include "hz_os.h"
#include "hz_purger.h"
#include "hz_stats.h"

#if HZ3_INTERIOR_PURGE

unsigned hz3_interior_first_cls = HZ3_CLASS_COUNT;
_Atomic int hz3_interior_pending;

/* One pass at a time; held across fork (hz3_heaps_lock_all). */
static hz_lock hz3_interior_lock = HZ_LOCK_INIT;
static uint64_t hz3_interior_last_ms;
static uint32_t hz3_interior_pass;  /* passes so far (a span seen in this one waits) */

/* Bytes decommitted under one hold of a heap's span lock: the owner waits
 * for at most this much madvise work if it needs the lock meanwhile. */
#define HZ3_INTERIOR_HOLD_BYTES ((size_t)4 << 20)

void hz3_interior_init(void) {
  hz3_interior_first_cls = hz3_first_class_from(HZ3_INTERIOR_MIN_SIZE);
}

void hz3_interior_note_slow(void) {
  atomic_store_explicit(&hz3_interior_pending, 1, memory_order_relaxed);
  hz_purger_request();
}

/* Decommits the interiors of the `n` objects at the head of the span's free
 * list; returns the bytes. */
static size_t hz3_interior_span(hz3_span *span, uint32_t n) {
  size_t size = hz3_classes[span->cls].size, bytes = 0;
  void *p = span->free;
  for (uint32_t i = 0; i < n && p != NULL; i++) {
    bytes += hz_os_decommit_interior(p, size, 2 * sizeof(void *));  /* link and free key stay */
    p = *(void **)p;
  }
  return bytes;
}

/* One heap; true when it has spans to look at again (changed since the last
 * pass, or busy). */
static bool hz3_interior_heap(hz3_heap *heap, uint64_t now, size_t *released) {
  if (!hz_lock_try(&heap->spans_lock)) return true;
  /* An idle heap's inbox, stash and reserve first: they land in the spans
   * looked at next (HZ3_IDLE_DRAIN_MS). */
  bool more = hz3_heap_idle_drain_locked(heap, now);
  size_t held = 0;
  for (unsigned cls = hz3_interior_first_cls; cls < HZ3_CLASS_COUNT; cls++) {
  restart:
    for (hz3_span *span = heap->partial[cls]; span != NULL; span = span->next) {
      uint32_t len = span->carved - span->used;
      if (len <= span->purged) continue;
      if (span->seen_head != span->free || span->seen_len != len || span->seen_pass == hz3_interior_pass) {
        if (span->seen_pass != hz3_interior_pass) {
          span->seen_head = span->free;
          span->seen_len = len;
          span->seen_pass = hz3_interior_pass;
        }
        more = true;
        continue;
      }
      size_t bytes = hz3_interior_span(span, len - span->purged);
      span->purged = len;
      *released += bytes;
      hz_stat_add(HZ_STAT_INTERIOR_BYTES, bytes);
      held += bytes;
      if (held >= HZ3_INTERIOR_HOLD_BYTES) {
        /* Let a waiting owner in; processed spans are skipped at once. */
        hz_lock_release(&heap->spans_lock);
        held = 0;
        if (!hz_lock_try(&heap->spans_lock)) return true;
        goto restart;
      }
    }
  }
  hz_lock_release(&heap->spans_lock);
  return more;
}

uint64_t hz3_interior_purge_due(uint64_t now, size_t *released) {
  if (hz_options.purge_delay_ms <= 0) return 0;
  if (!atomic_load_explicit(&hz3_interior_pending, memory_order_relaxed)) return 0;
  uint64_t delay = (uint64_t)hz_options.purge_delay_ms;
  hz_lock_acquire(&hz3_interior_lock);
  uint64_t last = hz3_interior_last_ms;
  if (now - last < delay) {
    hz_lock_release(&hz3_interior_lock);
    return last + delay;
  }
  hz3_interior_last_ms = now;
  if (++hz3_interior_pass == 0) hz3_interior_pass = 1;  /* 0: never seen (a new span) */
  /* Cleared before the scan: a note made during it stays for the next. */
  atomic_exchange_explicit(&hz3_interior_pending, 0, memory_order_seq_cst);
  bool more = false;
  uint32_t max = hz3_heaps_max_slot();
  for (uint32_t slot = 1; slot <= max; slot++) {
    hz3_heap *heap = hz3_heap_at(slot);
    if (heap == NULL || heap->interior_skip) continue;
    if (hz3_interior_heap(heap, now, released)) more = true;
  }
  if (more) atomic_store_explicit(&hz3_interior_pending, 1, memory_order_relaxed);
  hz_lock_release(&hz3_interior_lock);
  return more ? now + delay : 0;
}

void hz3_interior_lock_all(void) { hz_lock_acquire(&hz3_interior_lock); }
void hz3_interior_unlock_all(void) { hz_lock_release(&hz3_interior_lock); }

/* In the child only the forking thread exists: its heap's span lock was free
 * (the pass lock kept the purger out), the heaps of the other threads may be
 * mid-update and are never purged there. */
void hz3_interior_after_fork_child(hz3_heap *own) {
  hz_lock_reset(&hz3_interior_lock);
  uint32_t max = hz3_heaps_max_slot();
  for (uint32_t slot = 1; slot <= max; slot++) {
    hz3_heap *heap = hz3_heap_at(slot);
    if (heap != NULL && heap->live && heap != own) heap->interior_skip = 1;
  }
  if (own != NULL) hz_lock_reset(&own->spans_lock);
}

#else

void hz3_interior_init(void) {}
uint64_t hz3_interior_purge_due(uint64_t now, size_t *released) {
  (void)now;
  (void)released;
  return 0;
}
void hz3_interior_lock_all(void) {}
void hz3_interior_unlock_all(void) {}
void hz3_interior_after_fork_child(hz3_heap *own) { (void)own; }

#endif
