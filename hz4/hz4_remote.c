/* hz4 remote frees: outbox chains, inbox pushes, collection. */
#include "hz4_remote.h"
#include "hz4_page.h"
#include "hz_options.h"
#include "hz_stats.h"

_Atomic int hz4_parked_flag;

#define HZ4_META_SHIFT 48
#define HZ4_META_PTR   ((UINT64_C(1) << HZ4_META_SHIFT) - 1)

void hz4_inbox_push(hz4_heap *owner, unsigned cls, void *head, void *tail, uint32_t count) {
  _Atomic(void *) *box = &owner->inbox[cls];
  void *old = atomic_load_explicit(box, memory_order_relaxed);
  do {
    *(void **)tail = old;
    ((uintptr_t *)head)[1] = (uintptr_t)old | ((uintptr_t)count << HZ4_META_SHIFT);
  } while (!atomic_compare_exchange_weak_explicit(box, &old, head, memory_order_seq_cst,
                                                  memory_order_relaxed));
  /* Pairs with the exiting owner's store of live = 0 before its last
   * collection: either it saw this batch or we see that it is parked. */
  if (hz_unlikely(!atomic_load_explicit(&owner->live, memory_order_seq_cst)))
    atomic_store_explicit(&hz4_parked_flag, 1, memory_order_relaxed);
  if (hz_options.stats) {  /* shared counters: only when someone reads them */
    hz_stat_add(HZ_STAT_REMOTE_SENT, count);
    hz_stat_add(HZ_STAT_REMOTE_BATCHES, 1);
  }
}

void hz4_outbox_flush(hz4_heap *heap, unsigned slot) {
  hz4_outbox *box = &heap->outbox[slot];
  hz4_inbox_push(box->owner, ~box->key & 0xFFu, box->head, box->tail, box->count);
  heap->outbox_bytes -= (size_t)box->count * box->size;
  heap->outbox_used &= ~(1ull << slot);
  box->key = 0;
  box->count = 0;
  box->owner = NULL;
  box->head = box->tail = NULL;
}

void hz4_remote_free(hz4_heap *heap, hz4_heap *owner, uint32_t tag, size_t size, void *p) {
  unsigned slot = hz4_outbox_slot(tag);
  hz4_outbox *box = &heap->outbox[slot];
  if (box->key != ~tag) {
    if (box->key != 0) hz4_outbox_flush(heap, slot);  /* another key wants the slot */
    unsigned cls = tag & 0xFFu;
    box->key = ~tag;
    box->owner = owner;
    box->size = (uint32_t)size;
    box->limit = cls < HZ4_CLASS_COUNT ? hz4_classes[cls].batch : 1;
    box->tail = p;
    heap->outbox_used |= 1ull << slot;
  }
  if (hz_unlikely(p == box->head)) {  /* an immediate double free */
    hz_stat_add(HZ_STAT_INVALID_FREES, 1);
    return;
  }
  *(void **)p = box->head;
  box->head = p;
  heap->outbox_bytes += box->size;
  if (++box->count >= box->limit || heap->outbox_bytes > HZ4_OUTBOX_BYTES) hz4_outbox_full(heap, box);
}

void hz4_outbox_full(hz4_heap *heap, hz4_outbox *box) {
  if (box->count >= box->limit) hz4_outbox_flush(heap, (unsigned)(box - heap->outbox));
  if (heap->outbox_bytes > HZ4_OUTBOX_BYTES) hz4_outbox_shrink(heap);
}

void hz4_outbox_shrink(hz4_heap *heap) {
  while (heap->outbox_bytes > HZ4_OUTBOX_BYTES / 4 * 3 && heap->outbox_used) {
    unsigned best = 0;
    size_t best_bytes = 0;
    for (uint64_t used = heap->outbox_used; used; used &= used - 1) {
      unsigned slot = (unsigned)__builtin_ctzll(used);
      size_t bytes = (size_t)heap->outbox[slot].count * heap->outbox[slot].size;
      if (bytes > best_bytes) {
        best_bytes = bytes;
        best = slot;
      }
    }
    hz4_outbox_flush(heap, best);
  }
}

void hz4_outbox_flush_all(hz4_heap *heap) {
  for (uint64_t used = heap->outbox_used; used; used &= used - 1)
    hz4_outbox_flush(heap, (unsigned)__builtin_ctzll(used));
}

/* A collected chain joins the bin and raises its limit (see hz4_bin). */
static void hz4_put_list(hz4_heap *heap, void *p);

static void hz4_bin_take_chain(hz4_heap *heap, unsigned cls, void *head, void *tail, uint32_t n) {
  if (hz4_classes[cls].tcache_limit == 0) {  /* HZ_TCACHE=0: no caching, home they go */
    hz4_put_list(heap, head);
    return;
  }
  hz4_bin *bin = &heap->bins[cls];
  *(void **)tail = bin->head;
  bin->head = head;
  bin->count += n;
  if (HZ4_CHAIN_RAISES_LIMIT) {
    uint64_t limit = (uint64_t)hz4_classes[cls].tcache_limit + bin->count;
    bin->limit = limit > UINT32_MAX ? UINT32_MAX : (uint32_t)limit;
  }
}

/* Whether p lies in one of `heap`'s segments: batch links are checked with
 * it before they are followed, so a double free that rewrote one costs a
 * lost batch, not a wild read. */
static inline bool hz4_is_mine(hz4_heap *heap, const void *p) {
  return hz4_map_kind(p) == HZ4_MAP_SEGMENT && hz4_segment_of(p)->owner == heap;
}

/* Takes inbox `cls` whole: returns its first object, the object count and
 * the head of its last batch. Only batch heads are read (one line per batch,
 * a line the objects' reuse needs anyway). */
static uint32_t hz4_inbox_take(hz4_heap *heap, unsigned cls, void **head_out, void **last_out) {
  void *head = atomic_exchange_explicit(&heap->inbox[cls], NULL, memory_order_seq_cst);
  if (head == NULL) return 0;
  uint32_t total = 0;
  void *batch = head;
  for (;;) {
    uintptr_t meta = ((uintptr_t *)batch)[1];
    void *next = (void *)(meta & HZ4_META_PTR);
    uint32_t count = (uint32_t)(meta >> HZ4_META_SHIFT);
    if (hz_unlikely(count == 0 || count > HZ4_BATCH_MAX ||
                    (next != NULL && !hz4_is_mine(heap, next)))) {
      /* A double free rewrote this batch head: keep the object, drop the
       * rest (lost, never handed out twice). */
      hz_stat_add(HZ_STAT_INVALID_FREES, 1);
      count = 1;
      next = NULL;
    }
    /* A one-object batch is its own tail: its link must agree with the
     * head word (a double free may have rewritten it). */
    if (count == 1) *(void **)batch = next;
    total += count;
    if (next == NULL) break;
    batch = next;
  }
  *head_out = head;
  *last_out = batch;
  if (hz_options.stats) hz_stat_add(HZ_STAT_REMOTE_COLLECTED, total);
  return total;
}

/* The last object of the batch that starts at `last` (count taken from its
 * head word; the walk stops early at a link that leaves the heap). */
static void *hz4_batch_tail(hz4_heap *heap, void *last) {
  uint32_t count = (uint32_t)(((uintptr_t *)last)[1] >> HZ4_META_SHIFT);
  void *p = last;
  for (uint32_t i = 1; i < count; i++) {
    void *next = *(void **)p;
    if (next == NULL || !hz4_is_mine(heap, next)) break;
    p = next;
  }
  *(void **)p = NULL;
  return p;
}

void hz4_collect_class(hz4_heap *heap, unsigned cls) {
  void *head, *last;
  uint32_t n = hz4_inbox_take(heap, cls, &head, &last);
  if (n == 0) return;
  hz4_bin *bin = &heap->bins[cls];
  if (bin->head != NULL) {  /* (the refill path only calls with an empty bin) */
    hz4_bin_take_chain(heap, cls, head, hz4_batch_tail(heap, last), n);
    return;
  }
  if (hz4_classes[cls].tcache_limit == 0) {  /* HZ_TCACHE=0: no caching, home they go */
    hz4_put_list(heap, head);
    return;
  }
  /* The chain ends in NULL: it becomes the bin as it is, no tail needed. */
  bin->head = head;
  bin->count = n;
  if (HZ4_CHAIN_RAISES_LIMIT) bin->limit = hz4_classes[cls].tcache_limit + n;
}

/* Returns objects to their pages, one by one (they may belong to any of the
 * heap's pages of the class). */
static void hz4_put_list(hz4_heap *heap, void *p) {
  while (p != NULL) {
    void *next = *(void **)p;
    hz4_page_put(heap, hz4_page_of(p), p);
    p = next;
  }
}

uint64_t hz4_collect_all(hz4_heap *heap, bool to_bins) {
  uint64_t total = 0;
  for (unsigned cls = 0; cls < HZ4_INBOXES; cls++) {
    if (!hz4_inbox_pending(heap, cls)) continue;
    void *head, *last;
    uint32_t n = hz4_inbox_take(heap, cls, &head, &last);
    if (n == 0) continue;
    total += n;
    if (cls == HZ4_CLS_BLOCK) {
      for (void *p = head; p != NULL;) {
        void *next = *(void **)p;
        if (!hz4_block_release(heap, p)) hz_stat_add(HZ_STAT_INVALID_FREES, 1);
        p = next;
      }
    } else if (to_bins) {
      hz4_bin_take_chain(heap, cls, head, hz4_batch_tail(heap, last), n);
    } else {
      hz4_put_list(heap, head);
    }
  }
  return total;
}
