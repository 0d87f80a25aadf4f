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
 * cache overflow claims it: its outboxes go out, every parked heap is
 * flushed (hz3_flush_parked_locked collects what one sends another), and its
 * own caches are emptied straight into the spans with the cache limits at 0. Until its next
 * malloc miss (which turns the caches back on) or a new thread, every free
 * then goes to its span, the parked owners' spans included: a parked heap's
 * span lock keeps it from being adopted meanwhile, and a span that empties
 * goes to the arena, where the dirty budget and the purge delay see it.
 * Consecutive frees of one span wait in a run (one per class slot) and go
 * back together (one lock per run): a loop that frees in allocation order
 * pays the overflow path per free and a lock per span, one in random order a
 * lock per free. The runs pin at most HZ3_SOLO_RUNS spans. One claim per
 * arming. */
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

/* Returns a chain of freed objects: own objects to their spans, parked
 * owners' objects to theirs, live owners' (a thread started meanwhile)
 * through the outbox. Takes this heap's span lock before any parked heap's
 * (the order of hz3_oom_reclaim). */
static void hz3_solo_put_chain(hz3_heap *heap, void *p, bool own_locked) {
  if (p == NULL) return;
  bool own_lock_taken = false;
  hz3_heap *held = NULL;  /* the parked heap whose span lock is held */
  if (HZ3_SOLO_LIST_LOCK) hz_lock_acquire(&hz3_heaps_lock);
  while (p != NULL) {
    void *next = *(void **)p;
    uint32_t tag = hz3_tags[hz3_tag_index(p)];
    hz3_heap *owner = hz3_heap_by_slot(tag >> HZ3_OWNER_SHIFT);
    /* A live owner's span lock is never taken here: in a fork child the
     * heaps of threads that did not survive the fork may hold theirs. */
    bool parked = owner != heap && owner != hz3_shared_heap && !__atomic_load_n(&owner->live, __ATOMIC_RELAXED);
    if (owner != held && (owner == heap || parked)) {
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
    else if (owner == held && !__atomic_load_n(&owner->live, __ATOMIC_RELAXED)) hz3_span_put_chain(owner, hz3_span_of(p), p, p, 1, true);
    else hz3_outbox_add(heap, p, tag);
    p = next;
  }
  if (held != NULL) hz3_spans_unlock(held);
  if (own_lock_taken && !own_locked) hz3_spans_unlock(heap);
  if (HZ3_SOLO_LIST_LOCK) hz_lock_release(&hz3_heaps_lock);
  if (heap->outbox_objects != 0) hz3_outbox_flush_all(heap);
}

/* Detaches one bin's objects. */
static void *hz3_solo_take_bin(hz3_heap *heap, unsigned cls) {
  hz3_bin *bin = &heap->bins[cls];
  void *p = bin->head;
  bin->head = NULL;
  bin->net -= hz3_bin_count(bin);
  hz3_bin_set_count(bin, 0);
  return p;
}

static void hz3_solo_flush_run(hz3_heap *heap, hz3_solo_run *run, bool own_locked) {
  void *head = run->head;
  if (head == NULL) return;
  hz3_span *span = run->span;
  unsigned cls = span->cls;
  run->head = NULL;
  run->span = NULL;
  hz3_heap *owner = hz3_heap_by_slot(hz3_tags[hz3_tag_index(head)] >> HZ3_OWNER_SHIFT);
#if HZ3_LOOSE_BUDGET
  bool loose = cls >= hz3_loose_first_cls;  /* counts each object: one by one */
#else
  bool loose = false;
#endif
  if (loose || owner == hz3_shared_heap || (owner != heap && __atomic_load_n(&owner->live, __ATOMIC_RELAXED))) {
    hz3_solo_put_chain(heap, head, own_locked);
  } else {
    /* One span, one owner: one lock and a splice. */
    bool lock = owner != heap || !own_locked;
    if (HZ3_SOLO_LIST_LOCK) hz_lock_acquire(&hz3_heaps_lock);
    if (lock) hz3_spans_lock(owner);
    bool put = owner == heap || !__atomic_load_n(&owner->live, __ATOMIC_RELAXED);
    if (put) hz3_span_put_chain(owner, span, head, run->tail, run->count, owner != heap);
    if (lock) hz3_spans_unlock(owner);
    if (HZ3_SOLO_LIST_LOCK) hz_lock_release(&hz3_heaps_lock);
    if (!put) hz3_solo_put_chain(heap, head, own_locked);  /* adopted meanwhile: through the outbox */
  }
  hz3_interior_note(cls);
}

void hz3_solo_flush_runs(hz3_heap *heap, bool own_locked) {
  for (unsigned i = 0; i < HZ3_SOLO_RUNS; i++) hz3_solo_flush_run(heap, &heap->solo_runs[i], own_locked);
}

/* A drain's objects join their class slot's run while they come from its
 * span (a loop freeing what a worker allocated in order frees each class
 * span by span, the classes interleaved); an object of another span sends
 * the run home first. */
static void hz3_solo_add_to_run(hz3_heap *heap, unsigned cls, void *p) {
  hz3_solo_run *run = &heap->solo_runs[cls % HZ3_SOLO_RUNS];
  while (p != NULL) {
    void *next = *(void **)p;
    hz3_span *span = hz3_span_of(p);
    if (span != run->span) {
      hz3_solo_flush_run(heap, run, false);
      run->span = span;
      run->tail = p;
      run->count = 0;
    }
    *(void **)p = run->head;
    run->head = p;
    run->count++;
    p = next;
  }
}

void hz3_solo_end(hz3_heap *heap, bool own_locked) {
  heap->solo = 0;
  hz3_solo_flush_runs(heap, own_locked);
  for (unsigned c = 0; c < HZ3_CLASS_COUNT; c++) hz3_solo_put_chain(heap, hz3_solo_take_bin(heap, c), own_locked);
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
    if (HZ3_SOLO_RUN) {
      hz3_solo_add_to_run(heap, cls, hz3_solo_take_bin(heap, cls));
    } else {
      hz3_solo_put_chain(heap, hz3_solo_take_bin(heap, cls), false);
      hz3_interior_note(cls);
    }
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
    hz3_solo_put_chain(heap, hz3_solo_take_bin(heap, c), false);
    if (hz3_bin_limit(&heap->bins[c]) > HZ3_SOLO_LIMIT) hz3_bin_set_limit(&heap->bins[c], HZ3_SOLO_LIMIT);
  }
  hz_stat_add(HZ_STAT_SOLO_DRAINS, 1);
  hz3_interior_note(HZ3_CLASS_COUNT - 1);
  return true;
}
