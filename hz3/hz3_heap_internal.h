/* What hz3_heap.c and hz3_remote.c share and nothing else needs: the slot
 * directory, the free mark, the per-heap span lists and their hot inline
 * helpers. */
#ifndef HZ3_HEAP_INTERNAL_H
#define HZ3_HEAP_INTERNAL_H

#include "hz3_heap.h"
#include "hz_line.h"

static inline void hz3_mark_free(void *p) { ((uintptr_t *)p)[1] = hz3_free_key; }
static inline bool hz3_is_marked_free(const void *p) { return ((const uintptr_t *)p)[1] == hz3_free_key; }

/* Heaps by owner slot: a directory of chunks, filled as slots are created. */
#define HZ3_DIR_BITS 12
extern hz3_heap **hz3_heap_dir[(HZ3_OWNER_MAX >> HZ3_DIR_BITS) + 1];

static inline hz3_heap *hz3_heap_by_slot(uint32_t slot) {
  hz3_heap **chunk = __atomic_load_n(&hz3_heap_dir[slot >> HZ3_DIR_BITS], __ATOMIC_ACQUIRE);
  return chunk[slot & ((1u << HZ3_DIR_BITS) - 1)];
}

/* The heap of any slot up to hz3_heaps_max_slot(), NULL if not made yet: for
 * walks over every heap from threads that own none of them (stats, purger). */
static inline hz3_heap *hz3_heap_at(uint32_t slot) {
  hz3_heap **chunk = __atomic_load_n(&hz3_heap_dir[slot >> HZ3_DIR_BITS], __ATOMIC_ACQUIRE);
  return chunk ? __atomic_load_n(&chunk[slot & ((1u << HZ3_DIR_BITS) - 1)], __ATOMIC_ACQUIRE) : NULL;
}

/* The heap list (hz3_heap.c): `hz3_heaps_lock` guards the slots, the parked
 * list, every heap's `live` and `hz3_live_count`; `hz3_shared_heap` (threads
 * past their exit hook) is guarded by its own lock, never by that one. */
extern hz_lock hz3_heaps_lock;
extern uint64_t hz3_live_count;
extern hz3_heap *hz3_shared_heap;
/* Flushes every parked heap; the caller holds hz3_heaps_lock. */
void hz3_flush_parked_locked(void);
/* The built-in cache limits (HZ_TCACHE) on every bin of `heap`. */
void hz3_heap_set_limits(hz3_heap *heap);

/* ---- one thread left (hz3_solo.c, HZ3_SOLO_RETURN) ---- */
#if HZ3_SOLO_RETURN
/* Set by the exit that leaves one live heap, cleared by the next attach. */
extern _Atomic int hz3_solo_armed;
static inline void hz3_solo_arm(void) { atomic_store_explicit(&hz3_solo_armed, 1, memory_order_relaxed); }
static inline void hz3_solo_disarm(void) {
  if (atomic_load_explicit(&hz3_solo_armed, memory_order_relaxed))
    atomic_store_explicit(&hz3_solo_armed, 0, memory_order_relaxed);
}
/* A cache overflow while armed or draining; false: not solo (any more), the
 * caller overflows as usual. */
bool hz3_solo_overflow(hz3_heap *heap, unsigned cls);
/* Leaves the drain: what the caches hold goes to the spans, then the
 * built-in cache limits again (owner thread, or the thread adopting the
 * heap); `own_locked`: the caller holds the heap's span lock. */
void hz3_solo_end(hz3_heap *heap, bool own_locked);
/* The common free while solo, inline in the overflow: the one object just
 * cached joins its class slot's run, which holds objects of the same span.
 * false: anything else (hz3_solo_overflow). */
static inline bool hz3_solo_join_run(hz3_heap *heap, unsigned cls) {
  hz3_bin *bin = &heap->bins[cls];
  void *p = bin->head;
  hz3_solo_run *run = &heap->solo_runs[cls % HZ3_SOLO_RUNS];
  if (!HZ3_SOLO_RUN || hz3_bin_count(bin) != 1 || hz3_span_of(p) != run->span ||
      __atomic_load_n(&hz3_live_count, __ATOMIC_RELAXED) != 1)
    return false;
  bin->head = NULL;
  bin->net--;
  hz3_bin_set_count(bin, 0);
  *(void **)p = run->head;
  run->head = p;
  run->count++;
  return true;
}
/* The pending runs (hz3_heap.solo_runs) back to their spans. */
void hz3_solo_flush_runs(hz3_heap *heap, bool own_locked);
#endif

/* ---- span lists (hz3_heap.c) ---- */

/* The owner's side of the interior purge (hz3_interior.c): the slow paths
 * that touch a heap's span free lists or partial lists hold its span lock. */
#if HZ3_INTERIOR_PURGE
static inline void hz3_spans_lock(hz3_heap *heap) {
  hz_lock_acquire(&heap->spans_lock);
  heap->spans_epoch++;  /* the heap is in use: see HZ3_IDLE_DRAIN_MS */
}
static inline void hz3_spans_unlock(hz3_heap *heap) { hz_lock_release(&heap->spans_lock); }
extern unsigned hz3_interior_first_cls;
extern _Atomic int hz3_interior_pending;
void hz3_interior_note_slow(void);
/* Free objects of class `cls` may have gone back to spans: wake the purger. */
static inline void hz3_interior_note(unsigned cls) {
  if (cls >= hz3_interior_first_cls && !atomic_load_explicit(&hz3_interior_pending, memory_order_relaxed))
    hz3_interior_note_slow();
}
/* A span's free list got shorter (refill): its decommitted tail is too. */
static inline void hz3_interior_popped(hz3_span *span) {
  uint32_t left = span->carved - span->used;
  if (span->purged > left) span->purged = left;
}
/* Memory an idle heap may be holding went into its inbox, stash or span
 * reserve: make sure the purger's pass runs (HZ3_IDLE_DRAIN_MS). */
static inline void hz3_idle_note(void) {
  if (HZ3_IDLE_DRAIN_MS > 0) hz3_interior_note(HZ3_CLASS_COUNT - 1);
}
/* The purger's side (hz3_heap.c), under the heap's span lock: drains what an
 * idle heap holds; true while it holds memory not drained yet. */
bool hz3_heap_idle_drain_locked(hz3_heap *heap, uint64_t now);
#else
static inline void hz3_idle_note(void) {}
static inline void hz3_spans_lock(hz3_heap *heap) { (void)heap; }
static inline void hz3_spans_unlock(hz3_heap *heap) { (void)heap; }
static inline void hz3_interior_note(unsigned cls) { (void)cls; }
static inline void hz3_interior_popped(hz3_span *span) { (void)span; }
#endif
void hz3_interior_init(void);
void hz3_interior_lock_all(void);
void hz3_interior_unlock_all(void);
void hz3_interior_after_fork_child(hz3_heap *own);
uint32_t hz3_heaps_max_slot(void);

static inline void hz3_partial_push(hz3_heap *heap, hz3_span *span) {
  span->in_partial = 1;
  span->prev = NULL;
  span->next = heap->partial[span->cls];
  if (span->next) span->next->prev = span;
  heap->partial[span->cls] = span;
}

static inline void hz3_partial_remove(hz3_heap *heap, hz3_span *span) {
  span->in_partial = 0;
  if (span->prev) span->prev->next = span->next;
  else heap->partial[span->cls] = span->next;
  if (span->next) span->next->prev = span->prev;
  span->next = span->prev = NULL;
}

void hz3_span_drop(hz3_heap *heap, hz3_span *span);
#if HZ3_SPAN_RESERVE
/* hz3_reserve.c (HZ3_SPAN_RESERVE): an empty span is kept or released; a
 * refill that found no span takes a kept one (NULL: none); the stale-bin
 * check decays the counts; a flush releases every kept span. */
void hz3_span_retire(hz3_heap *heap, hz3_span *span);
hz3_span *hz3_reserve_take(hz3_heap *heap, unsigned cls);
void hz3_reserve_decay(hz3_heap *heap);
void hz3_reserve_release(hz3_heap *heap);
#endif
#if HZ3_LOOSE_BUDGET
extern unsigned hz3_loose_first_cls;
void hz3_loose_put(hz3_heap *heap, hz3_span *span, void *p);
#endif

/* Objects of `span` (a chain of `count`, head .. tail) come home. An empty span
 * is released unless it is the heap's only span of that class (a spare against
 * alloc/free ping-pong). `parked`: the heap is parked (hz3_solo.c) and nobody
 * allocates from it, so an emptied span goes to the arena, neither kept as the
 * spare nor put in the reserve. The loose budget counts one object at a time:
 * chains of its classes are put one by one. `parked` and `count` are constants
 * at every call site of one object: those branches fold away. */
static inline void hz3_span_put_chain(hz3_heap *heap, hz3_span *span, void *head, void *tail, uint32_t count,
                                      bool parked) {
  *(void **)tail = span->free;
  span->free = head;
  span->used -= count;
  if (!span->in_partial) hz3_partial_push(heap, span);
  if (span->used == 0 && (parked || heap->partial[span->cls] != span || span->next != NULL)) {
#if HZ3_SPAN_RESERVE
    if (!parked) hz3_span_retire(heap, span);
    else
#endif
      hz3_span_drop(heap, span);
  }
#if HZ3_LOOSE_BUDGET
  else if (hz_unlikely(span->cls >= hz3_loose_first_cls)) hz3_loose_put(heap, span, head);
#endif
}

static inline void hz3_span_put(hz3_heap *heap, hz3_span *span, void *p) { hz3_span_put_chain(heap, span, p, p, 1, false); }

/* ---- remote frees (hz3_remote.c) ---- */

void hz3_remote_init(void);
#if HZ3_REMOTE_SPLICE
/* Objects per lane push, per class (HZ3_REMOTE_BATCH, fewer for large classes). */
extern uint8_t hz3_remote_batch[HZ3_CLASS_COUNT];
#endif
/* Pushes a chain of remote frees onto `owner`'s inbox with one atomic. */
void hz3_inbox_push(uint32_t owner, void *head, void *tail, uint32_t count);
#if HZ3_REMOTE_SPLICE
/* Words 2 and 3 of a batch's head object (the class is >= 32 bytes). */
#define HZ3_BATCH_MIN_SIZE (4 * sizeof(void *))
/* One headed (owner, class) batch onto the owner's batch stack. */
void hz3_batch_push(uint32_t owner, void *head, void *tail, uint32_t count, unsigned cls);
#endif

/* Pushes one outbox lane to its owner. */
static inline void hz3_outbox_flush(hz3_heap *heap, hz3_outbox *box) {
  if (box->count == 0) return;
#if HZ3_REMOTE_SPLICE
  unsigned cls = (unsigned)(box - heap->outbox);
  if (hz3_classes[cls].size >= HZ3_BATCH_MIN_SIZE)
    hz3_batch_push(box->owner, box->head, box->tail, box->count, cls);
  else
#endif
    hz3_inbox_push(box->owner, box->head, box->tail, box->count);
  heap->sent_remote = 1;
  heap->outbox_objects -= box->count;
#if HZ3_REMOTE_SPLICE
  heap->outbox_bytes -= (size_t)box->count * hz3_classes[cls].size;
#endif
  box->head = box->tail = NULL;
  box->count = 0;
  unsigned lane = (unsigned)(box - heap->outbox);
  heap->outbox_pending[lane / 64] &= ~(1ull << (lane % 64));
}
void hz3_outbox_flush_all(hz3_heap *heap);

/* A free of another heap's object: into its outbox lane, pushed when full.
 * Inline here so a cache overflow sending many objects home pays no call per
 * object (out of line it cost main_r50 +1.7 % instructions). */
static inline void hz3_outbox_add(hz3_heap *heap, void *p, uint32_t tag) {
  uint32_t owner = tag >> HZ3_OWNER_SHIFT;
#if HZ3_REMOTE_SPLICE
  unsigned cls = tag & 0xFFu;
  hz3_outbox *box = &heap->outbox[cls];
  uint32_t batch = hz3_remote_batch[cls];
#else
  hz3_outbox *box = &heap->outbox[owner & (HZ3_OUTBOX_LANES - 1)];
  uint32_t batch = HZ3_REMOTE_BATCH;
#endif
  if (box->count != 0 && box->owner != owner) hz3_outbox_flush(heap, box);
  *(void **)p = box->head;
  hz3_mark_free(p);
  if (box->count == 0) {
    box->tail = p;
    unsigned lane = (unsigned)(box - heap->outbox);
    heap->outbox_pending[lane / 64] |= 1ull << (lane % 64);
  }
  box->head = p;
  box->owner = owner;
  box->count++;
  heap->outbox_objects++;
#if HZ3_REMOTE_SPLICE
  heap->outbox_bytes += hz3_classes[cls].size;
#endif
  if (box->count >= batch) hz3_outbox_flush(heap, box);
#if HZ3_REMOTE_SPLICE
  /* 68 class lanes could together hold far more than the 8 owner lanes did
   * (main_r50: +6 MB peak RSS, +3 % CPU): past HZ3_REMOTE_BATCH_BYTES in
   * all lanes together, every lane goes home. */
  else if (heap->outbox_bytes > HZ3_REMOTE_BATCH_BYTES)
    hz3_outbox_flush_all(heap);
#endif
}

#if HZ3_REMOTE_SPLICE && HZ3_OVERFLOW_SEND_RECENT && HZ3_SEND_RUN
/* Sends the first `n` objects of a class-`cls` cache list home (own ones to
 * their spans, the others to the class's outbox lane); returns the rest. */
void *hz3_send_run(hz3_heap *heap, unsigned cls, void *p, uint32_t n);
#endif

/* Takes every pending remote free with one exchange per stack. `to_cache`
 * keeps them in the thread cache while it has room. */
void hz3_collect(hz3_heap *heap, bool to_cache);
#if HZ3_REMOTE_SPLICE
/* Stashed remote batches go back to their spans (thread exit, trim). */
void hz3_stash_drain(hz3_heap *heap);
void hz3_stash_drain_class(hz3_heap *heap, unsigned cls);
#endif

#endif
