/* hz3 solo return (HZ3_SOLO_RETURN): what the last worker's objects pin once
 * one thread goes on alone.
 *
 * A program that joins its workers and then frees what they built (larson's
 * final loop, a server tearing down per-thread structures) frees objects of
 * parked heaps. With foreign caching those frees land in the remaining
 * thread's cache, and what overflows goes to the parked owners' inboxes,
 * which nobody collects until a new thread adopts the heap: a few cached or
 * queued objects per span keep every span resident (larson T=16: 1257 spans,
 * ~13 objects each, ~50 MB after everything was freed; docs/hz3_tuning.md).
 *
 * So the exit that leaves one live heap arms the drain; that heap's next
 * cache overflow claims it: its outboxes go out, every parked heap is flushed
 * (hz3_flush_parked_locked collects what one sends another), and its own caches are
 * emptied straight into the spans with the cache limits at 0. Until its next
 * malloc miss (which turns the caches back on) or a new thread, every free
 * then goes to its span at once, the parked owners' spans included: a parked
 * heap's span lock keeps it from being adopted meanwhile, and a span
 * that empties goes to the arena, where the dirty budget and the purge delay
 * see it. One claim per arming; each later free costs the overflow path and
 * one uncontended span lock. */
#include "hz3_heap_internal.h"
#include "hz_options.h"
#include "hz_stats.h"

_Atomic int hz3_solo_armed;

/* The lock that keeps a parked heap parked while objects go into its spans:
 * its span lock, which an adopting thread passes through after it marked the
 * heap live (hz3_heap_attach), so a put that saw `live` at 0 under it
 * finishes before the new owner touches the spans. Without the interior
 * purge span locks are no-ops: the heap-list lock, held for the whole drain. */
#if HZ3_INTERIOR_PURGE
#define HZ3_SOLO_LIST_LOCK 0
#else
#define HZ3_SOLO_LIST_LOCK 1
#endif

/* Empties one bin: own objects to their spans, parked owners' objects to
 * theirs, live owners' (a thread started meanwhile) through the outbox.
 * Takes this heap's span lock before any parked heap's (the order of
 * hz3_oom_reclaim). */
static void hz3_solo_drain_bin(hz3_heap *heap, unsigned cls, bool own_locked) {
  hz3_bin *bin = &heap->bins[cls];
  void *p = bin->head;
  if (p == NULL) return;
  bin->head = NULL;
  bin->net -= hz3_bin_count(bin);
  hz3_bin_set_count(bin, 0);
  bool own_lock_taken = false;
  hz3_heap *held = NULL;  /* the parked heap whose span lock is held */
  if (HZ3_SOLO_LIST_LOCK) hz_lock_acquire(&hz3_heaps_lock);
  while (p != NULL) {
    void *next = *(void **)p;
    uint32_t tag = hz3_tags[hz3_tag_index(p)];
    uint32_t slot = tag >> HZ3_OWNER_SHIFT;
    hz3_heap *owner = slot == heap->slot ? heap : hz3_heap_by_slot(slot);
    if (owner != held && owner != hz3_shared_heap) {
      if (held != NULL) hz3_spans_unlock(held);
      held = NULL;
      if (owner == heap) {
        if (!own_locked && !own_lock_taken) hz3_spans_lock(heap);
        own_lock_taken = true;
      } else {
        hz3_spans_lock(owner);
        held = owner;
      }
    }
    if (owner == heap) hz3_span_put(heap, hz3_span_of(p), p);
    else if (owner == held && !__atomic_load_n(&owner->live, __ATOMIC_RELAXED)) hz3_span_put_to(owner, hz3_span_of(p), p, true);
    else hz3_outbox_add(heap, p, tag);
    p = next;
  }
  if (held != NULL) hz3_spans_unlock(held);
  if (own_lock_taken && !own_locked) hz3_spans_unlock(heap);
  if (HZ3_SOLO_LIST_LOCK) hz_lock_release(&hz3_heaps_lock);
  if (heap->outbox_objects != 0) hz3_outbox_flush_all(heap);
}

void hz3_solo_end(hz3_heap *heap, bool own_locked) {
  heap->solo = 0;
  for (unsigned c = 0; c < HZ3_CLASS_COUNT; c++) hz3_solo_drain_bin(heap, c, own_locked);
  hz3_heap_set_limits(heap);
  /* Allocating again while still alone: what the drain emptied has no
   * reason to stay resident. Not when a thread started (it may need it). */
  if (own_locked && __atomic_load_n(&hz3_live_count, __ATOMIC_RELAXED) == 1) hz3_arena_purge(true);
}

bool hz3_solo_overflow(hz3_heap *heap, unsigned cls) {
  if (heap->solo) {
    /* Relaxed: a thread that started meanwhile only ends the drain later. */
    if (__atomic_load_n(&hz3_live_count, __ATOMIC_RELAXED) != 1) {
      hz3_solo_end(heap, false);  /* empties every bin, this one included */
      return true;
    }
    hz3_solo_drain_bin(heap, cls, false);
    hz3_interior_note(cls);
    return true;
  }
  int armed = 1;
  if (!atomic_compare_exchange_strong_explicit(&hz3_solo_armed, &armed, 0, memory_order_relaxed, memory_order_relaxed))
    return false;
  hz3_spans_lock(heap);
  hz_lock_acquire(&hz3_heaps_lock);
  bool alone = hz3_live_count == 1 && heap->live;
  if (alone) {
    heap->solo = 1;
    hz3_outbox_flush_all(heap);
    hz3_flush_parked_locked();
    hz3_collect(heap, false);
  }
  hz_lock_release(&hz3_heaps_lock);
  hz3_spans_unlock(heap);
  if (!alone) return false;
  for (unsigned c = 0; c < HZ3_CLASS_COUNT; c++) {
    hz3_solo_drain_bin(heap, c, false);
    if (hz3_bin_limit(&heap->bins[c]) > HZ3_SOLO_LIMIT) hz3_bin_set_limit(&heap->bins[c], HZ3_SOLO_LIMIT);
  }
  hz_stat_add(HZ_STAT_SOLO_DRAINS, 1);
  hz3_interior_note(HZ3_CLASS_COUNT - 1);
  return true;
}
