/* hz3 remote frees: a free of another heap's object goes into an outbox lane
 * (per class with HZ3_REMOTE_SPLICE, else hashed by owner), and a full lane is
 * pushed onto the owner's inbox with one atomic; the owner collects its inbox
 * at refill (hz3_collect). Design and measurements: docs/hz3.md, Remote frees. */
#include "hz3_heap_internal.h"
#include "hz_stats.h"

/* A chain head .. tail of `count` objects onto one of an owner's MPSC stacks
 * (the tail's link names what was on top), with one CAS. */
static inline void hz3_stack_push(_Atomic(void *) *top, void *head, void *tail, uint32_t count) {
  void *old = atomic_load_explicit(top, memory_order_relaxed);
  do {
    *(void **)tail = old;
  } while (!atomic_compare_exchange_weak_explicit(top, &old, head, memory_order_release, memory_order_relaxed));
  hz3_idle_note();  /* the owner may be idle: its inbox is drained for it then */
  hz_stat_add(HZ_STAT_REMOTE_SENT, count);
  hz_stat_add(HZ_STAT_REMOTE_BATCHES, 1);
}

void hz3_inbox_push(uint32_t owner, void *head, void *tail, uint32_t count) {
  hz3_stack_push(&hz3_heap_by_slot(owner)->inbox, head, tail, count);
}

#if HZ3_REMOTE_SPLICE
/* Objects per lane push, per class: HZ3_REMOTE_BATCH, fewer for large
 * classes (HZ3_REMOTE_BATCH_BYTES). Set once in hz3_remote_init. */
uint8_t hz3_remote_batch[HZ3_CLASS_COUNT];

/* A batch's header, in its head object's words 2 and 3 (word 0 is the link,
 * word 1 the free key): its tail, and its count and class. */
static inline void hz3_batch_header(void *head, void *tail, uint32_t count, unsigned cls) {
  uintptr_t *h = head;
  h[2] = (uintptr_t)tail;
  h[3] = (uintptr_t)count | ((uintptr_t)cls << 32);
}

/* A headed batch (tail and count in its header) onto the class's stash. */
static inline void hz3_stash_push(hz3_heap *heap, unsigned cls, void *head, void *tail, uint32_t count) {
  *(void **)tail = heap->stash[cls];
  heap->stash[cls] = head;
  heap->stash_bytes += (size_t)count * hz3_classes[cls].size;
  hz3_idle_note();
}

/* One headed batch onto the owner's batch stack: the tail's link names the
 * batch pushed before it. */
void hz3_batch_push(uint32_t owner, void *head, void *tail, uint32_t count, unsigned cls) {
  hz3_batch_header(head, tail, count, cls);
  hz3_stack_push(&hz3_heap_by_slot(owner)->inbox_batches, head, tail, count);
}
#endif


/* Every refill flushes: visit only the lanes that hold objects (68 lanes). */
void hz3_outbox_flush_all(hz3_heap *heap) {
  for (unsigned w = 0; w < (HZ3_OUTBOX_COUNT + 63) / 64; w++) {
    while (heap->outbox_pending[w] != 0) {
      unsigned lane = w * 64 + (unsigned)__builtin_ctzll(heap->outbox_pending[w]);
      hz3_outbox_flush(heap, &heap->outbox[lane]);
    }
  }
}

#if HZ3_REMOTE_SPLICE && HZ3_OVERFLOW_SEND_RECENT && HZ3_SEND_RUN
/* The send loop of a cache overflow (hz3_bin_overflow). Every object is of
 * one class, so the foreign ones all go to one lane: its state is held in
 * locals across the loop (the stores through each object made the compiler
 * reload the lane, its batch size and the class size for every object) and
 * written back only around a push. The byte bound over all lanes is checked
 * once, after the loop. */
void *hz3_send_run(hz3_heap *heap, unsigned cls, void *p, uint32_t n) {
  hz3_outbox *box = &heap->outbox[cls];
  const uint32_t self = heap->slot, batch = hz3_remote_batch[cls];
  const size_t size = hz3_classes[cls].size;
  const uintptr_t key = hz3_free_key;
  void *head = box->head, *tail = box->tail;
  uint32_t owner = box->owner, count = box->count, added = 0;
#if HZ3_LOCAL_STASH
  /* Own objects go to the class's stash as one batch when it has room for all
   * n (decided up front, so none is walked twice): a later refill takes the
   * batch whole instead of walking the spans' free lists object by object. */
  bool stash = size >= HZ3_BATCH_MIN_SIZE && hz3_bin_limit(&heap->bins[cls]) != 0 &&
               heap->stash_bytes + (size_t)n * size <= HZ3_LOCAL_STASH_BYTES;
  void *own_head = NULL, *own_tail = NULL;
  uint32_t own_count = 0;
#endif
#define HZ3_LANE_STORE()                                              \
  do {                                                                \
    box->head = head;                                                 \
    box->tail = tail;                                                 \
    box->owner = owner;                                               \
    box->count = count;                                               \
    heap->outbox_objects += added;                                    \
    heap->outbox_bytes += (size_t)added * size;                       \
    if (count != 0) heap->outbox_pending[cls / 64] |= 1ull << (cls % 64); \
    added = 0;                                                        \
  } while (0)
  for (uint32_t i = 0; i < n; i++) {
    void *next = *(void **)p;
    uint32_t to = hz3_tags[hz3_tag_index(p)] >> HZ3_OWNER_SHIFT;
    if (to == self) {
#if HZ3_LOCAL_STASH
      if (stash) {
        if (own_tail != NULL) *(void **)own_tail = p;
        else own_head = p;
        own_tail = p;
        own_count++;
      } else
#endif
        hz3_span_put(heap, hz3_span_of(p), p);
    } else {
      if (count != 0 && to != owner) {
        HZ3_LANE_STORE();
        hz3_outbox_flush(heap, box);
        head = tail = NULL;
        count = 0;
      }
      *(void **)p = head;
      ((uintptr_t *)p)[1] = key;
      if (count == 0) tail = p;
      head = p;
      owner = to;
      count++;
      added++;
      if (count >= batch) {
        HZ3_LANE_STORE();
        hz3_outbox_flush(heap, box);
        head = tail = NULL;
        count = 0;
      }
    }
    p = next;
  }
  HZ3_LANE_STORE();
#undef HZ3_LANE_STORE
#if HZ3_LOCAL_STASH
  if (own_count != 0) {
    hz3_batch_header(own_head, own_tail, own_count, cls);
    hz3_stash_push(heap, cls, own_head, own_tail, own_count);
  }
#endif
  if (heap->outbox_bytes > HZ3_REMOTE_BATCH_BYTES) hz3_outbox_flush_all(heap);
  return p;
}
#endif

void hz3_free_remote(hz3_heap *heap, void *p, uint32_t tag) { hz3_outbox_add(heap, p, tag); }

/* One remote object arrives: into the thread cache while it has room (it is
 * about to be reused), else back to its span (returns true then). */
static inline bool hz3_collect_one(hz3_heap *heap, hz3_bin *bin, void *p, bool to_cache) {
  if (to_cache && hz3_bin_count(bin) < hz3_bin_limit(bin)) {
    *(void **)p = bin->head;
    bin->head = p;
    hz3_bin_add_count(bin, 1);
    bin->net++;
    return false;
  }
  hz3_span_put(heap, hz3_span_of(p), p);
  return true;
}

/* Takes every pending remote free with one exchange per stack. `to_cache`
 * keeps them in the thread cache while it has room (they are about to be
 * reused). */
void hz3_collect(hz3_heap *heap, bool to_cache) {
  uint64_t count = 0;
  bool spans = false;  /* some went back to spans: the interior purge may want them */
#if HZ3_REMOTE_SPLICE
  void *batch = atomic_exchange_explicit(&heap->inbox_batches, NULL, memory_order_acquire);
  while (batch != NULL) {
    const uintptr_t *h = batch;
    void *tail = (void *)h[2];
    uint32_t n = (uint32_t)h[3];
    hz3_bin *bin = &heap->bins[h[3] >> 32];
    void *next = *(void **)tail;
    count += n;
    unsigned cls = (unsigned)(h[3] >> 32);
    if (to_cache && hz3_bin_count(bin) + n <= hz3_bin_limit(bin)) {
      /* The splice: two objects touched, whatever the batch's length. */
      *(void **)tail = bin->head;
      bin->head = batch;
      hz3_bin_add_count(bin, (int32_t)n);
      bin->net += n;
    } else if (to_cache && hz3_bin_limit(bin) != 0 &&
               heap->stash_bytes + (size_t)n * hz3_classes[cls].size <= HZ3_STASH_BYTES) {
      /* The bin is full (between half and all of its limit most of the
       * time): keep the batch whole for a later refill of the class instead
       * of walking it back to its spans (each object a miss on a line the
       * sender wrote). */
      hz3_stash_push(heap, cls, batch, tail, n);
    } else {
      void *p = batch;
      for (uint32_t i = 0; i < n; i++) {
        void *after = *(void **)p;  /* the tail's link is the next batch: stop by count */
        spans |= hz3_collect_one(heap, bin, p, to_cache);
        p = after;
      }
    }
    batch = next;
  }
#endif
  void *p = atomic_exchange_explicit(&heap->inbox, NULL, memory_order_acquire);
  while (p != NULL) {
    void *next = *(void **)p;
    unsigned cls = hz3_tags[hz3_tag_index(p)] & 0xFFu;
    spans |= hz3_collect_one(heap, &heap->bins[cls], p, to_cache);
    p = next;
    count++;
  }
  if (spans) hz3_interior_note(HZ3_CLASS_COUNT - 1);
  hz_stat_add(HZ_STAT_REMOTE_COLLECTED, count);
}

#if HZ3_REMOTE_SPLICE
/* One class's stashed batches go back to their spans (a stale class). */
void hz3_stash_drain_class(hz3_heap *heap, unsigned cls) {
  void *p = heap->stash[cls];
  heap->stash[cls] = NULL;
  while (p != NULL) {
    void *next = *(void **)p;
    heap->stash_bytes -= hz3_classes[cls].size;
    hz3_span_put(heap, hz3_span_of(p), p);
    p = next;
  }
}

/* Stashed batches go back to their spans (thread exit, trim). */
void hz3_stash_drain(hz3_heap *heap) {
  for (unsigned cls = 0; cls < HZ3_CLASS_COUNT; cls++) hz3_stash_drain_class(heap, cls);
}
#endif

void hz3_remote_init(void) {
#if HZ3_REMOTE_SPLICE
  for (unsigned cls = 0; cls < HZ3_CLASS_COUNT; cls++) {
    size_t batch = HZ3_REMOTE_BATCH_BYTES / hz3_classes[cls].size;
    hz3_remote_batch[cls] = (uint8_t)(batch > HZ3_REMOTE_BATCH ? HZ3_REMOTE_BATCH : batch ? batch : 1);
  }
#endif
}
