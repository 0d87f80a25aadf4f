/* hz4 remote frees: outbox buffers, inbox messages, collection, buffers. */
#include "hz4_remote.h"
#include "hz4_page.h"
#include "hz_options.h"
#include "hz_os.h"
#include "hz_purger.h"
#include "hz_stats.h"

_Atomic int hz4_parked_flag;

#define HZ4_MSG_OBJECT ((uintptr_t)1)   /* link bit: the message is a single object */
#define HZ4_SPARE_MAX  32               /* spare buffers a heap keeps; more go back to their sender */
#define HZ4_RBUF_CHUNK ((size_t)64 << 10)

/* ---- buffers ----
 * A heap sends from its spares. A receiver keeps emptied buffers as its own
 * spares up to HZ4_SPARE_MAX and sends the rest back to their sender's
 * `returned` stack (any thread pushes, only the owner takes the whole stack:
 * no ABA), so two threads trading frees trade buffers with no lock. Out of
 * spares: take the returned stack, else the global pool (filled by exiting
 * threads), else a new chunk of hz4's own metadata memory (never unmapped:
 * buffers are recycled). */

static hz_lock hz4_rbuf_lock = HZ_LOCK_INIT;
static hz4_rbuf *hz4_rbuf_pool;

static void hz4_spare_push_list(hz4_heap *heap, hz4_rbuf *list) {
  while (list != NULL) {
    hz4_rbuf *next = list->next;
    list->next = heap->spare;
    heap->spare = list;
    heap->spare_count++;
    list = next;
  }
}

static hz_noinline void hz4_rbuf_refill(hz4_heap *heap) {
  hz4_rbuf *back = atomic_exchange_explicit(&heap->returned, NULL, memory_order_acquire);
  if (back != NULL) {
#if HZ4_RETURN_COUNTED
    /* The stack is whole chains, each first buffer holding its chain's length
     * and last buffer: the spares are the stack as it is, counted by a walk
     * over two buffers per chain. Walking every buffer (last written by the
     * receiver's core) was 6.5 % of cross128_r90 T=2's samples, one miss each. */
    uint32_t total = 0;
    for (hz4_rbuf *first = back; first != NULL; first = first->chain_tail->next) total += first->count;
    heap->spare = back;  /* empty: refills come only from hz4_rbuf_get */
    heap->spare_count = total;
#else
    hz4_spare_push_list(heap, back);
#endif
    return;
  }
  if (hz4_rbuf_pool != NULL) {
    hz_lock_acquire(&hz4_rbuf_lock);
    for (unsigned i = 0; i < HZ4_SPARE_MAX / 2 && hz4_rbuf_pool != NULL; i++) {
      hz4_rbuf *b = hz4_rbuf_pool;
      hz4_rbuf_pool = b->next;
      b->next = heap->spare;
      heap->spare = b;
      heap->spare_count++;
    }
    hz_lock_release(&hz4_rbuf_lock);
    if (heap->spare != NULL) return;
  }
  hz4_rbuf *chunk = hz_os_map(HZ4_RBUF_CHUNK, NULL);
  if (chunk == NULL) return;
  for (size_t i = 0; i < HZ4_RBUF_CHUNK / sizeof(hz4_rbuf); i++) {
    chunk[i].next = heap->spare;
    heap->spare = &chunk[i];
    heap->spare_count++;
  }
}

static inline hz4_rbuf *hz4_rbuf_get(hz4_heap *heap) {
  if (hz_unlikely(heap->spare == NULL)) {
    hz4_rbuf_refill(heap);
    if (heap->spare == NULL) return NULL;
  }
  hz4_rbuf *b = heap->spare;
  heap->spare = b->next;
  heap->spare_count--;
#if HZ4_COLLECT_PREFETCH
  /* The next spare's first line (its link) was last written by the heap
   * that returned it: fetch it now, not at the next open. */
  if (heap->spare != NULL) __builtin_prefetch(heap->spare, 1, 3);
#endif
  b->sender = heap;
  b->count = 0;
  return b;
}

/* Buffers a drain sends back to one sender, pushed with one CAS when the
 * drain ends (or another sender's buffer comes up). */
typedef struct hz4_rbuf_chain {
  hz4_heap *sender;
  hz4_rbuf *head, *tail;
  uint32_t count;
} hz4_rbuf_chain;

static void hz4_rbuf_chain_send(hz4_rbuf_chain *c) {
  if (c->head == NULL) return;
  c->head->count = c->count;  /* the buffers are empty: see hz4_rbuf_refill */
  c->head->chain_tail = c->tail;
  c->count = 0;
  hz4_rbuf *old = atomic_load_explicit(&c->sender->returned, memory_order_relaxed);
  do {
    c->tail->next = old;
  } while (!atomic_compare_exchange_weak_explicit(&c->sender->returned, &old, c->head, memory_order_release,
                                                  memory_order_relaxed));
  c->head = c->tail = NULL;
  c->sender = NULL;
}

static inline void hz4_rbuf_put(hz4_heap *heap, hz4_rbuf *b, hz4_rbuf_chain *c) {
  hz4_heap *sender = b->sender;
  if (heap->spare_count < HZ4_SPARE_MAX || sender == NULL || sender == heap) {
    b->next = heap->spare;
    heap->spare = b;
    heap->spare_count++;
    return;
  }
  /* We have enough: back to the heap that needs buffers to send to us.
   * A receiver with enough spares returns nearly every buffer it collects
   * (main_r50 T=2: 114k of 115k), and a CAS per buffer, right after the
   * stores that linked its objects, waited for them all: the chain goes
   * with one CAS when the drain ends (HZ4_RETURN_BATCH; 0: one CAS each). */
  if (c->sender != sender) {
    hz4_rbuf_chain_send(c);
    c->sender = sender;
  }
  b->next = NULL;
  if (c->tail) c->tail->next = b;
  else c->head = b;
  c->tail = b;
  c->count++;
  if (!HZ4_RETURN_BATCH) hz4_rbuf_chain_send(c);
}

void hz4_rbufs_release(hz4_heap *heap) {
  hz4_spare_push_list(heap, atomic_exchange_explicit(&heap->returned, NULL, memory_order_acquire));
  if (heap->spare == NULL) return;
  hz4_rbuf *first = heap->spare, *last = first;
  while (last->next != NULL) last = last->next;
  hz_lock_acquire(&hz4_rbuf_lock);
  last->next = hz4_rbuf_pool;
  hz4_rbuf_pool = first;
  hz_lock_release(&hz4_rbuf_lock);
  heap->spare = NULL;
  heap->spare_count = 0;
}

void hz4_rbufs_lock(void) { hz_lock_acquire(&hz4_rbuf_lock); }
void hz4_rbufs_unlock(void) { hz_lock_release(&hz4_rbuf_lock); }
void hz4_rbufs_reset_lock(void) { hz_lock_reset(&hz4_rbuf_lock); }

/* ---- sending ---- */

/* Inboxes whose waiting objects the purger decommits (HZ4_IDLE_INBOX_MS):
 * the classes of HZ4_IDLE_INBOX_MIN_SIZE and up, and one-block pages (the
 * last inbox). Set at init; before, none. */
unsigned hz4_idle_first_inbox = HZ4_INBOXES;

void hz4_remote_init(void) {
  unsigned cls = 0;
  while (cls < HZ4_CLASS_COUNT && hz4_classes[cls].size < HZ4_IDLE_INBOX_MIN_SIZE) cls++;
  hz4_idle_first_inbox = cls;
}

static inline bool hz4_idle_inbox_class(unsigned cls) {
#if HZ4_SLICE_PURGE && HZ4_IDLE_INBOX_MS > 0
  return cls >= hz4_idle_first_inbox;
#else
  (void)cls;
  return false;
#endif
}
/* Pushes a chain of messages, `first` .. the one whose link is `last_link`,
 * onto owner's inbox `cls`: a sender's one message, or the purger giving
 * back what it took (hz4_inbox_idle_purge). */
static inline __attribute__((always_inline)) void hz4_inbox_push_chain(hz4_heap *owner, unsigned cls, uintptr_t first,
                                                                       uintptr_t *last_link) {
  _Atomic(uintptr_t) *box = &owner->inbox[cls].head;
  uintptr_t old = atomic_load_explicit(box, memory_order_relaxed);
  do {
    *last_link = old;
  } while (!atomic_compare_exchange_weak_explicit(box, &old, first, memory_order_seq_cst,
                                                  memory_order_relaxed));
  /* Pairs with the exiting owner's store of live = 0 before its last
   * collection: either it saw this message or we see that it is parked. */
  if (hz_unlikely(!atomic_load_explicit(&owner->live, memory_order_seq_cst)))
    atomic_store_explicit(&hz4_parked_flag, 1, memory_order_seq_cst);
}

/* Pushes one message (its first word is the link) onto owner's inbox. */
static inline __attribute__((always_inline)) void hz4_inbox_push(hz4_heap *owner, unsigned cls, uintptr_t msg,
                                                                 uint32_t count) {
  hz4_inbox_push_chain(owner, cls, msg, (uintptr_t *)(msg & ~HZ4_MSG_OBJECT));
  if (hz4_idle_inbox_class(cls)) hz4_slices_wake();  /* the owner may never collect it */
  if (hz_options.stats) {  /* shared counters: only when someone reads them */
    hz_stat_add(HZ_STAT_REMOTE_SENT, count);
    hz_stat_add(HZ_STAT_REMOTE_BATCHES, 1);
  }
}

void hz4_inbox_push_one(hz4_heap *owner, unsigned cls, void *p) {
  hz4_inbox_push(owner, cls, (uintptr_t)p | HZ4_MSG_OBJECT, 1);
}

/* Remote frees that bypassed the bin of class `cls` (see hz4_bin). */
static inline void hz4_net_sent(hz4_heap *heap, unsigned cls, uint32_t n) {
  if (cls >= HZ4_CLASS_COUNT) return;  /* one-block pages are counted apart */
  hz4_bin *bin = &heap->bins[cls];
  bin->net -= n;
  if (hz_unlikely(hz_options.stats) && heap->published[cls] - (bin->net - (int64_t)hz4_bin_count(bin)) >= 64)
    hz4_stats_publish(heap, cls);
}

void hz4_outbox_flush(hz4_heap *heap, unsigned slot) {
  hz4_outbox *box = &heap->outbox[slot];
  hz4_rbuf *buf = box->buf;
  unsigned cls = ~box->key & 0xFFu;
  heap->outbox_bytes -= (size_t)buf->count * box->size;
  heap->outbox_used &= ~(1ull << slot);
  if (HZ4_NET_PER_MESSAGE) hz4_net_sent(heap, cls, buf->count);
  heap->remote_seen = 1;
  hz4_inbox_push(box->owner, cls, (uintptr_t)buf, buf->count);
  box->key = 0;
  box->buf = NULL;
  box->owner = NULL;
}

/* Opens the outbox slot of `tag` (sending what another key left there)
 * and stores `p`. Out of line: it needs registers the common case, an
 * append to an open buffer, does not. */
hz_noinline void hz4_remote_open(hz4_heap *heap, hz4_heap *owner, uint32_t tag, size_t size, void *p) {
  unsigned slot = hz4_outbox_slot(tag), cls = tag & 0xFFu;
  hz4_outbox *box = &heap->outbox[slot];
  if (HZ4_SOLO_DIRECT && cls < HZ4_CLASS_COUNT &&
      !atomic_load_explicit(&owner->live, memory_order_relaxed) && hz4_heaps_solo()) {
    /* Every other thread is gone (main freeing what its workers left):
     * nobody would collect a message to a parked heap until this thread
     * next needs a page, and the objects would pin their pages. Send what
     * is buffered and collect it now, then put objects home directly. */
    if (heap->outbox_used) {
      hz4_outbox_flush_all(heap);
      hz4_parked_reclaim_flagged();
    }
    if (hz4_free_to_parked(owner, p)) {
      if (HZ4_NET_PER_MESSAGE) hz4_net_sent(heap, cls, 1);
      return;
    }
  }
  if (box->key != 0) hz4_outbox_flush(heap, slot);  /* another key wants the slot */
  hz4_rbuf *buf = hz4_rbuf_get(heap);
  if (buf == NULL) {  /* out of memory even for a buffer: send the object alone */
    if (HZ4_NET_PER_MESSAGE) hz4_net_sent(heap, cls, 1);
    hz4_inbox_push_one(owner, cls, p);
    return;
  }
  box->key = ~tag;
  box->owner = owner;
  box->size = (uint32_t)size;
  box->limit = cls < HZ4_CLASS_COUNT ? hz4_classes[cls].batch : 1;
  box->buf = buf;
  heap->outbox_used |= 1ull << slot;
  buf->ptrs[buf->count++] = p;
  heap->outbox_bytes += box->size;
  if (buf->count >= box->limit || heap->outbox_bytes > HZ4_OUTBOX_BYTES) hz4_outbox_full(heap, box);
}

void hz4_remote_free(hz4_heap *heap, hz4_heap *owner, uint32_t tag, size_t size, void *p) {
  hz4_outbox *box = &heap->outbox[hz4_outbox_slot(tag)];
  if (hz_unlikely(box->key != ~tag)) {
    hz4_remote_open(heap, owner, tag, size, p);
    return;
  }
  hz4_rbuf *buf = box->buf;
  buf->ptrs[buf->count++] = p;  /* (a pointer twice in a row is dropped on collection) */
  heap->outbox_bytes += box->size;
  if (buf->count >= box->limit || heap->outbox_bytes > HZ4_OUTBOX_BYTES) hz4_outbox_full(heap, box);
}

hz_noinline void hz4_outbox_full(hz4_heap *heap, hz4_outbox *box) {
  unsigned slot = (unsigned)(box - heap->outbox);
  if (box->buf->count >= box->limit) {
    hz4_outbox_flush(heap, slot);
  } else if (HZ4_SHRINK_CURRENT && (size_t)box->buf->count * box->size >= HZ4_OUTBOX_BYTES / 32) {
    /* Over the bound, and the buffer that crossed it is a large one (it
     * usually is: bytes pile up in the large classes' buffers): sending it
     * alone costs nothing to find, where the shrink looks at every buffer. */
    hz4_outbox_flush(heap, slot);
  }
  if (heap->outbox_bytes > HZ4_OUTBOX_BYTES) hz4_outbox_shrink(heap);
}

void hz4_outbox_shrink(hz4_heap *heap) {
  if (HZ4_SHRINK_ONE_PASS) {
    /* Large objects cross the bound every few frees (main_r50: 16..32768
     * bytes over ~40 open buffers), and a search over every open buffer per
     * send cost ~45 instructions per remote free. Largest first to the
     * power of two instead: one pass sums the bytes per size octave, the
     * second sends the buffers of the top octaves that make up the excess;
     * and down to half the bound, so the next crossing is twice as far. */
    const size_t target = HZ4_OUTBOX_SHRINK_TO;
    size_t octave_bytes[64] = {0};
    uint8_t octave[HZ4_OUTBOX_SLOTS];
    unsigned top = 0;
    for (uint64_t used = heap->outbox_used; used; used &= used - 1) {
      unsigned slot = (unsigned)__builtin_ctzll(used);
      size_t bytes = (size_t)heap->outbox[slot].buf->count * heap->outbox[slot].size;
      unsigned o = bytes ? 63u - (unsigned)__builtin_clzll(bytes) : 0;
      octave[slot] = (uint8_t)o;
      octave_bytes[o] += bytes;
      if (o > top) top = o;
    }
    size_t excess = heap->outbox_bytes - target, sum = 0;
    unsigned cut = top;
    while (cut > 0 && sum + octave_bytes[cut] < excess) sum += octave_bytes[cut--];
    for (uint64_t used = heap->outbox_used; used && heap->outbox_bytes > target; used &= used - 1) {
      unsigned slot = (unsigned)__builtin_ctzll(used);
      if (octave[slot] >= cut) hz4_outbox_flush(heap, slot);
    }
    return;
  }
  while (heap->outbox_bytes > HZ4_OUTBOX_BYTES / 4 * 3 && heap->outbox_used) {
    /* Start from a used slot: with a stale byte count every buffer could
     * weigh 0 and slot 0 (perhaps closed) would be flushed (clang-tidy). */
    unsigned best = (unsigned)__builtin_ctzll(heap->outbox_used);
    size_t best_bytes = 0;
    for (uint64_t used = heap->outbox_used; used; used &= used - 1) {
      unsigned slot = (unsigned)__builtin_ctzll(used);
      size_t bytes = (size_t)heap->outbox[slot].buf->count * heap->outbox[slot].size;
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

/* ---- collection ---- */

/* Where collected objects go: the bin (to_bin), their pages, or (one-block
 * pages) released. */
typedef struct hz4_sink {
  hz4_heap *heap;
  unsigned cls;
  bool to_bin;
  uint32_t taken;
} hz4_sink;

static inline void hz4_sink_put(hz4_sink *s, void *p) {
  hz4_heap *heap = s->heap;
  if (s->cls == HZ4_CLS_BLOCK) {
    if (!hz4_block_release(heap, p)) hz_stat_add(HZ_STAT_INVALID_FREES, 1);
    return;
  }
  if (!s->to_bin) {
    hz4_page_put(heap, hz4_page_of(p), p);
    return;
  }
  hz4_bin *bin = &heap->bins[s->cls];
  if (hz_unlikely(p == bin->head)) {  /* a double free: the same object twice in a row */
    hz_stat_add(HZ_STAT_INVALID_FREES, 1);
    return;
  }
  *(void **)p = bin->head;
  bin->head = p;
  s->taken++;
}

/* A buffer's objects onto the bin, in the order hz4_sink_put would push
 * them. Written apart because there the bin head is reloaded after every
 * link store (the store might alias it) and the sink's kind is tested per
 * object: ~20 instructions per object against ~6 here. Returns the objects
 * linked (an object equal to the one before it, a double free, is not). */
static uint32_t hz4_splice(hz4_heap *heap, unsigned cls, void *const *ptrs, uint32_t n) {
  hz4_bin *bin = &heap->bins[cls];
  void *head = bin->head;
  uint32_t dropped = 0;
  for (uint32_t i = 0; i < n; i++) {
    void *p = ptrs[i];
#if HZ4_COLLECT_PREFETCH
    /* Each object's line is in the sender's cache: ask for lines ahead so
     * their transfers overlap instead of queueing behind the stores. */
    if (i + HZ4_COLLECT_PREFETCH < n) __builtin_prefetch(ptrs[i + HZ4_COLLECT_PREFETCH], 1, 3);
#endif
    if (hz_unlikely(p == head)) {
      dropped++;
      continue;
    }
    *(void **)p = head;
    head = p;
  }
  bin->head = head;
  if (hz_unlikely(dropped)) hz_stat_add(HZ_STAT_INVALID_FREES, dropped);
  return n - dropped;
}

/* Takes inbox `cls` whole and hands every object to the sink; emptied
 * buffers become the heap's spares. Returns the objects collected. */
static uint32_t hz4_inbox_drain(hz4_sink *s) {
  hz4_heap *heap = s->heap;
  uintptr_t msg = atomic_exchange_explicit(&heap->inbox[s->cls].head, 0, memory_order_seq_cst);
  uint32_t total = 0;
  hz4_rbuf_chain back = {NULL, NULL, NULL, 0};
  while (msg != 0) {
    if (msg & HZ4_MSG_OBJECT) {
      void *p = (void *)(msg & ~HZ4_MSG_OBJECT);
      msg = *(uintptr_t *)p;  /* read the link before the object is reused */
      hz4_sink_put(s, p);
      total++;
    } else {
      hz4_rbuf *buf = (hz4_rbuf *)msg;
      msg = (uintptr_t)buf->next;
#if HZ4_COLLECT_PREFETCH
      if (msg != 0) __builtin_prefetch((void *)(msg & ~HZ4_MSG_OBJECT), 0, 3);
#endif
      uint32_t n = buf->count;
      if (HZ4_COLLECT_SPLICE && s->to_bin && s->cls != HZ4_CLS_BLOCK)
        s->taken += hz4_splice(heap, s->cls, buf->ptrs, n);
      else
        for (uint32_t i = 0; i < n; i++) hz4_sink_put(s, buf->ptrs[i]);
      total += n;
      hz4_rbuf_put(heap, buf, &back);
    }
  }
  hz4_rbuf_chain_send(&back);
  if (total) heap->remote_seen = 1;
  if (hz_options.stats && total) hz_stat_add(HZ_STAT_REMOTE_COLLECTED, total);
  return total;
}

/* Collected objects joined the bin: raise its limit (see hz4_bin). */
static void hz4_bin_raise(hz4_heap *heap, unsigned cls, uint32_t added) {
  hz4_bin *bin = &heap->bins[cls];
  hz4_bin_add_count(bin, (int32_t)added);
  bin->net += added;  /* moved in, not freed here (statistics, see hz4_bin) */
  if (HZ4_CHAIN_RAISES_LIMIT) {
    hz4_bin_set_limit(bin, (uint64_t)heap->bin_base[cls] + hz4_bin_count(bin));
  }
}

void hz4_collect_class(hz4_heap *heap, unsigned cls) {
  /* HZ_TCACHE=0: no caching, home they go (the refill takes them back). */
  hz4_sink s = {heap, cls, hz4_classes[cls].tcache_limit != 0, 0};
  hz4_inbox_drain(&s);
  if (s.taken) hz4_bin_raise(heap, cls, s.taken);
}

uint64_t hz4_collect_all(hz4_heap *heap, bool to_bins) {
  uint64_t total = 0;
  for (unsigned cls = 0; cls < HZ4_INBOXES; cls++) {
    if (!hz4_inbox_pending(heap, cls)) continue;
    bool to_bin = to_bins && cls < HZ4_CLASS_COUNT && hz4_classes[cls].tcache_limit != 0;
    hz4_sink s = {heap, cls, to_bin, 0};
    total += hz4_inbox_drain(&s);
    if (s.taken) {
      hz4_bin_raise(heap, cls, s.taken);
      hz4_bin *bin = &heap->bins[cls];
      if (hz4_bin_count(bin) > hz4_bin_limit(bin)) hz4_bin_trim(heap, cls, hz4_bin_limit(bin));
    }
  }
  return total;
}

/* ---- idle inboxes (the purger's side) ---- */

#if HZ4_SLICE_PURGE && HZ4_IDLE_INBOX_MS > 0
/* Every page of a waiting object of inbox `cls` past its first two words
 * (an object message's link lives in the first) goes back to the OS. */
static size_t hz4_idle_decommit(unsigned cls, void *p) {
  size_t size = cls == HZ4_CLS_BLOCK ? hz4_page_of(p)->size : hz4_classes[cls].size;
  return hz_os_decommit_interior(p, size, 2 * sizeof(void *));
}

/* An owner that stopped allocating never collects what other threads freed
 * to it: a thread pool that swapped large objects and went to sleep kept
 * them all resident. The purger cannot put them into their pages (the
 * owner updates those without a lock), so it takes the inbox whole with the
 * owner's own exchange (the messages are then its alone: free objects nobody
 * else may touch), decommits the objects' interiors and pushes the messages
 * back for the owner to collect as usual; they read zero when reused. */
uint64_t hz4_inbox_idle_purge(hz4_heap *heap, uint64_t now, size_t *released) {
  uint64_t due = 0;
  for (unsigned cls = 0; cls < HZ4_INBOXES; cls++) {
    if (!hz4_idle_inbox_class(cls)) continue;
    _Atomic(uintptr_t) *box = &heap->inbox[cls].head;
    uintptr_t head = atomic_load_explicit(box, memory_order_relaxed);
    if (head != heap->idle_head[cls]) {  /* moved since the last look (or emptied) */
      heap->idle_head[cls] = head;
      heap->idle_since_ms[cls] = now;
    }
    if (head == 0 || heap->idle_since_ms[cls] == UINT64_MAX) continue;
    if (now - heap->idle_since_ms[cls] < (uint64_t)HZ4_IDLE_INBOX_MS) {
      due = hz_due_min(due, heap->idle_since_ms[cls] + (uint64_t)HZ4_IDLE_INBOX_MS);
      continue;
    }
    uintptr_t msgs = atomic_exchange_explicit(box, 0, memory_order_seq_cst);
    if (msgs == 0) continue;  /* the owner collected meanwhile */
    size_t bytes = 0;
    uintptr_t *last_link = NULL;
    for (uintptr_t m = msgs; m != 0;) {
      if (m & HZ4_MSG_OBJECT) {
        void *p = (void *)(m & ~HZ4_MSG_OBJECT);
        bytes += hz4_idle_decommit(cls, p);
        last_link = (uintptr_t *)p;
        m = *last_link;
      } else {
        hz4_rbuf *buf = (hz4_rbuf *)m;
        for (uint32_t i = 0; i < buf->count; i++) bytes += hz4_idle_decommit(cls, buf->ptrs[i]);
        last_link = (uintptr_t *)&buf->next;
        m = (uintptr_t)buf->next;
      }
    }
    hz4_inbox_push_chain(heap, cls, msgs, last_link);  /* as a sender: a parked owner learns of it */
    heap->idle_head[cls] = msgs;
    heap->idle_since_ms[cls] = UINT64_MAX;  /* done until the inbox moves */
    *released += bytes;
    hz_stat_add(HZ_STAT_IDLE_INBOX_BYTES, bytes);
  }
  return due;
}
#else
uint64_t hz4_inbox_idle_purge(hz4_heap *heap, uint64_t now, size_t *released) {
  (void)heap;
  (void)now;
  (void)released;
  return 0;
}
#endif
