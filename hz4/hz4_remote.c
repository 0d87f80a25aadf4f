/* hz4 remote frees: outbox chains, inbox pushes, collection. */
#include "hz4_remote.h"
#include "hz4_page.h"
#include "hz_options.h"
#include "hz_stats.h"

_Atomic int hz4_parked_flag;

#define HZ4_META_SHIFT 48
#define HZ4_META_PTR   ((UINT64_C(1) << HZ4_META_SHIFT) - 1)

void hz4_inbox_push(hz4_heap *owner, unsigned cls, void *head, void *tail, uint32_t count) {
  ((uintptr_t *)head)[1] = (uintptr_t)tail | ((uintptr_t)count << HZ4_META_SHIFT);
  _Atomic(void *) *box = &owner->inbox[cls];
  void *old = atomic_load_explicit(box, memory_order_relaxed);
  do {
    *(void **)tail = old;
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
  hz4_inbox_push(box->owner, box->cls, box->head, box->tail, box->count);
  heap->outbox_bytes -= box->bytes;
  heap->outbox_used &= ~(1ull << slot);
  box->owner = NULL;
  box->head = box->tail = NULL;
  box->count = 0;
  box->bytes = 0;
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
  uint64_t limit = (uint64_t)hz4_classes[cls].tcache_limit + bin->count;
  bin->limit = limit > UINT32_MAX ? UINT32_MAX : (uint32_t)limit;
}

/* Whether p lies in one of `heap`'s segments: batch links are checked with
 * it before they are followed, so a double free that rewrote one costs a
 * lost batch, not a wild read. */
static inline bool hz4_is_mine(hz4_heap *heap, const void *p) {
  return hz4_map_kind(p) == HZ4_MAP_SEGMENT && hz4_segment_of(p)->owner == heap;
}

/* Takes inbox `cls` whole; returns the object count and the list's ends. */
static uint32_t hz4_inbox_take(hz4_heap *heap, unsigned cls, void **head_out, void **tail_out) {
  void *head = atomic_exchange_explicit(&heap->inbox[cls], NULL, memory_order_seq_cst);
  if (head == NULL) return 0;
  uint32_t total = 0;
  void *batch = head, *tail = NULL;
  for (;;) {
    uintptr_t meta = ((uintptr_t *)batch)[1];
    void *batch_tail = (void *)(meta & HZ4_META_PTR);
    uint32_t count = (uint32_t)(meta >> HZ4_META_SHIFT);
    if (hz_unlikely(count == 0 || !hz4_is_mine(heap, batch_tail))) {
      /* A double free rewrote a link: keep what was read so far. */
      hz_stat_add(HZ_STAT_INVALID_FREES, 1);
      if (tail == NULL) {
        batch_tail = batch;  /* at least the first object is ours (checked below) */
        count = 1;
      } else {
        *(void **)tail = NULL;
        break;
      }
    }
    tail = batch_tail;
    total += count;
    void *next = *(void **)tail;
    if (next == NULL) break;
    if (hz_unlikely(!hz4_is_mine(heap, next))) {
      hz_stat_add(HZ_STAT_INVALID_FREES, 1);
      *(void **)tail = NULL;
      break;
    }
    batch = next;
  }
  *head_out = head;
  *tail_out = tail;
  if (hz_options.stats) hz_stat_add(HZ_STAT_REMOTE_COLLECTED, total);
  return total;
}

void hz4_collect_class(hz4_heap *heap, unsigned cls) {
  void *head, *tail;
  uint32_t n = hz4_inbox_take(heap, cls, &head, &tail);
  if (n == 0) return;
  hz4_bin_take_chain(heap, cls, head, tail, n);
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
    void *head, *tail;
    uint32_t n = hz4_inbox_take(heap, cls, &head, &tail);
    if (n == 0) continue;
    total += n;
    if (cls == HZ4_CLS_BLOCK) {
      for (void *p = head; p != NULL;) {
        void *next = *(void **)p;
        if (!hz4_block_release(heap, p)) hz_stat_add(HZ_STAT_INVALID_FREES, 1);
        p = next;
      }
    } else if (to_bins) {
      hz4_bin_take_chain(heap, cls, head, tail, n);
    } else {
      hz4_put_list(heap, head);
    }
  }
  return total;
}
