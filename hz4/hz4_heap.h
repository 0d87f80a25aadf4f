/* hz4 thread heaps.
 *
 * A heap is the whole allocation state of one thread: per-class caches
 * (bins), the segments it owns and their partly used pages, its outbox of
 * remote frees bound for other heaps, and its inbox, where other threads
 * leave frees of its objects. Its id is the owner field of its pages' tags.
 *
 * At thread exit the heap is flushed and parked; the next new thread adopts
 * it (pages, and any remote frees that arrived meanwhile), so ids are
 * recycled and there is no thread limit. Heaps are never unmapped, so a
 * pointer to one (in a segment header, an outbox) stays valid. */
#ifndef HZ4_HEAP_H
#define HZ4_HEAP_H

#include "hz4_classes.h"
#include "hz4_segment.h"
#include "hz_budget.h"
#include "hz_options.h"

/* A thread cache list for one class. */
typedef struct hz4_bin {
  void *head;
  /* The list length, read and written only through hz4_bin_count and its
   * siblings below: kept as the room left (limit - count, HZ4_BIN_ROOM), so
   * that free's overflow check is one decrement and a sign test. */
#if HZ4_BIN_ROOM
  int32_t room_;
#else
  uint32_t count_;
#endif
  /* Flush when the count exceeds this. It is the heap's limit for the class
   * (bin_base; 0: caching off), raised by the number of collected remote
   * frees until the bin next runs dry: those objects were in transit anyway
   * and are about to be reused, so sending them to their pages only to pull
   * them back would touch each one twice. At most INT32_MAX. */
  uint32_t limit_;
  /* Statistics (HZ_STATS) cost one add per malloc and nothing per free:
   * `allocs` counts every pop; `net` counts blocks moved into the list
   * other than by a free (refills from pages, collected remote frees) minus
   * blocks moved out other than by a malloc (overflow, trim) and minus frees
   * by this heap that bypass the list (remote frees). Frees by this heap are
   * then allocs - net + count. 32 bytes keep the index a shift. */
  uint64_t allocs;
  int64_t net;
} hz4_bin;

#if HZ4_BIN_ROOM
static inline uint32_t hz4_bin_count(const hz4_bin *b) { return (uint32_t)((int64_t)b->limit_ - b->room_); }
static inline void hz4_bin_set_count(hz4_bin *b, uint32_t n) { b->room_ = (int32_t)((int64_t)b->limit_ - n); }
static inline void hz4_bin_add_count(hz4_bin *b, int32_t n) { b->room_ -= n; }
/* One more object on the list: true when the count now exceeds the limit. */
static inline bool hz4_bin_push_over(hz4_bin *b) { return --b->room_ < 0; }
static inline void hz4_bin_popped(hz4_bin *b) { b->room_++; }
#else
static inline uint32_t hz4_bin_count(const hz4_bin *b) { return b->count_; }
static inline void hz4_bin_set_count(hz4_bin *b, uint32_t n) { b->count_ = n; }
static inline void hz4_bin_add_count(hz4_bin *b, int32_t n) { b->count_ += (uint32_t)n; }
static inline bool hz4_bin_push_over(hz4_bin *b) { return ++b->count_ > b->limit_; }
static inline void hz4_bin_popped(hz4_bin *b) { b->count_--; }
#endif
/* Another thread's count, read while it runs (statistics). */
static inline int64_t hz4_bin_count_racy(const volatile hz4_bin *b) {
#if HZ4_BIN_ROOM
  return (int64_t)b->limit_ - b->room_;
#else
  return (int64_t)b->count_;
#endif
}
static inline uint32_t hz4_bin_limit(const hz4_bin *b) { return b->limit_; }
static inline void hz4_bin_set_limit(hz4_bin *b, uint64_t limit) {
  uint32_t n = hz4_bin_count(b);
  b->limit_ = limit > INT32_MAX ? INT32_MAX : (uint32_t)limit;
  hz4_bin_set_count(b, n);
}

/* A remote-free buffer: pointers to objects of one (owner, class), sent to
 * the owner as one message. Buffers are hz4's own memory, never the
 * objects': the freeing thread writes nothing into the objects it frees, so
 * an object's cache lines stay with its owner (and a double free cannot
 * corrupt a message). Buffers travel with the messages and are recycled by
 * whoever empties them. */
typedef struct hz4_rbuf {
  struct hz4_rbuf *next;    /* in an inbox, a spare or returned list, or the pool */
  union {
    struct hz4_heap *sender;      /* who filled it: gets it back when the receiver has enough */
    struct hz4_rbuf *chain_tail;  /* on a returned stack, in a chain's first buffer: its last */
  };
  uint32_t count;           /* pointers held; on a returned stack, a chain's first: its length */
  uint32_t pad;
  void *ptrs[HZ4_RBUF_CAP];
} hz4_rbuf;                 /* 512 bytes */

/* The open buffer of one (owner, class). The key is the complement of the
 * objects' tag, so a zeroed slot (key 0) matches no tag, not even tag 0. */
typedef struct hz4_outbox {
  uint32_t key;             /* ~tag of the buffer's objects; 0: slot unused */
  uint32_t limit;           /* the buffer is sent when it holds this many */
  uint32_t size;            /* bytes per object */
  uint32_t pad;
  hz4_rbuf *buf;
  struct hz4_heap *owner;
} hz4_outbox;

/* Outbox slot of a tag: the class plus 8 x the owner id (the classes of one
 * owner never collide: cls + (cls >> 5) is one-to-one below 64). */
static inline unsigned hz4_outbox_slot(uint32_t tag) {
  return (tag + (tag >> 5)) & (HZ4_OUTBOX_SLOTS - 1);
}

/* One inbox head. With HZ4_INBOX_PAD each has its own line: the owner's
 * exchange on one class and its look at whether another has mail then do
 * not take the line from a sender pushing to a neighbouring class. */
typedef struct hz4_inbox_head {
#if HZ4_INBOX_PAD
  _Alignas(64)
#endif
  _Atomic(uintptr_t) head;
} hz4_inbox_head;

typedef struct hz4_heap {
  uint32_t id;                           /* owner id in tags; HZ4_OWNER_NONE: the empty heap */
  uint16_t attached;                     /* a thread (or the shared lock) uses this heap */
  uint16_t draining;                     /* being flushed: keep empty segments for the final pass */
  hz4_bin bins[HZ4_CLASS_COUNT];
  hz4_page *partial[HZ4_CLASS_COUNT];    /* pages with free or uncarved objects */
  uint16_t bin_base[HZ4_CLASS_COUNT];    /* each bin's limit, adaptive (HZ4_ADAPTIVE_CACHE) */
  uint8_t bin_overflowed[HZ4_CLASS_COUNT]; /* overflowed since its last refill from pages */
  uint8_t remote_seen;                   /* sent or collected remote frees since the last purge tick */
  uint16_t carve_goal[HZ4_CLASS_COUNT];  /* objects the next refill from pages may take (HZ4_CARVE_START_BYTES) */
  hz4_segment *segs;                     /* segments owned, those with free slices first */
  uint64_t outbox_used;                  /* bit i: outbox[i] holds a buffer */
  size_t outbox_bytes;                   /* bytes of the objects in open buffers */
  hz4_outbox outbox[HZ4_OUTBOX_SLOTS];
  hz4_rbuf *spare;                       /* empty buffers for our own remote frees */
  uint32_t spare_count;
  _Alignas(64) _Atomic(hz4_rbuf *) returned; /* our buffers, sent back by receivers that had enough */
  uint64_t purge_last_ms;
  /* HZ4_SLICE_PURGE: held by whoever changes the free slices of the heap's
   * segments (free/dirty bits, dirty_count, the segs list); the background
   * purger only tries it. */
  hz_lock slices_lock;
  uint64_t dirty_count;                  /* dirty slices of the segments this heap owns */
  uint64_t slices_used;                  /* slices held by this heap's pages */
  hz_refault refault;                    /* the partial stage of the dirty budget (HZ4_BUDGET_PARTIAL) */
  uint64_t loose_bytes;                  /* resident free objects of large classes in live pages */
  uint64_t loose_put_ms;                 /* last loose put (HZ4_LOOSE_PURGE) */
  int64_t published[HZ4_CLASS_COUNT];    /* live share last added to the peak gauges (HZ_STATS) */
  struct hz4_heap *parked_next;          /* on the parked list (heaps lock) */
  uint64_t attach_ms;                    /* when the current thread attached (HZ4_EXIT_PURGE_CHURN) */
  uint64_t adopted;                      /* ... to a heap an exited thread had parked */
  uint64_t warm_bytes;                   /* cached bytes it was parked with (HZ4_CHURN_PARK_MB) */
  struct hz4_heap *all_next;             /* every heap ever made */
  /* The purger's own (HZ4_IDLE_INBOX_MS): each inbox's head at its last
   * look, and since when it has not moved (UINT64_MAX: handled). */
  uintptr_t idle_head[HZ4_INBOXES];
  uint64_t idle_since_ms[HZ4_INBOXES];
  /* Written by other threads: kept off the owner's cache lines. `live` is 0
   * while parked; a thread that pushes to a parked heap flags it for
   * reclaim, so frees of a dead thread's objects are not stranded. */
  _Alignas(64) _Atomic uint32_t live;
  hz4_inbox_head inbox[HZ4_INBOXES];     /* stacks of messages, see hz4_remote.h */
} hz4_heap;

/* The calling thread's heap; a read-only empty heap until the thread's
 * first slow path, so "no heap yet" costs the fast paths nothing. */
extern __thread hz4_heap *hz4_tls_heap;

void hz4_heaps_init(void);
/* Collects parked heaps that were flagged (hz4_parked_flag). */
void hz4_parked_reclaim_flagged(void);

/* Slow paths behind the inline fast paths. */
void *hz4_alloc_slow(unsigned cls);
void hz4_bin_overflow(hz4_heap *heap, unsigned cls);
/* The purge tick: halves cache limits that grew (HZ4_ADAPTIVE_CACHE). */
void hz4_bins_decay(hz4_heap *heap);
/* Keeps the `keep` most recent objects of a bin, the rest go home. */
void hz4_bin_trim(hz4_heap *heap, unsigned cls, uint32_t keep);
/* A free whose tag did not name the calling thread's heap as a class page:
 * remote frees, one-block pages, invalid frees, threads without a heap. */
void hz4_free_other(void *p, uint32_t tag);

/* At most one thread has a heap (HZ4_SOLO_DIRECT). */
bool hz4_heaps_solo(void);
/* With at most one thread left, a class object of the parked heap `owner`
 * goes straight to its page; an emptied page is released and decommitted.
 * False (nothing done) if `owner` is not parked or other threads run. */
bool hz4_free_to_parked(hz4_heap *owner, void *p);

/* One object of `cls` for the calling thread (any path). */
void *hz4_alloc_class(unsigned cls);
/* A block of `size` bytes (<= HZ4_BLOCK_MAX_SIZE) on its own page, aligned
 * to `align` (a power of two <= HZ4_BLOCK_MAX_SIZE); *zero says it reads
 * zero (its slices were never used). */
void *hz4_alloc_block(size_t size, size_t align, bool *zero);

/* Out of memory: flushes the calling thread's heap (or `heap`, whose lock
 * the caller may hold), reclaims parked heaps and returns every free page
 * and cached block to the OS. */
void hz4_oom_reclaim(hz4_heap *heap);
/* malloc_trim: the same, without OOM's urgency. */
void hz4_heaps_trim(void);
uint64_t hz4_heaps_live(void);
/* Allocations and frees of class `cls` over every heap (racy for live
 * threads), for hz_line_get_class_stats. */
void hz4_class_counts(unsigned cls, uint64_t *allocs, uint64_t *frees);
/* Adds the change in the heap's live blocks of `cls` since its last sample
 * to the peak gauges; only with HZ_STATS set. */
void hz4_stats_publish(hz4_heap *heap, unsigned cls);
#define HZ4_STATS_SAMPLE(heap, cls) \
  do { if (hz_unlikely(hz_options.stats)) hz4_stats_publish(heap, cls); } while (0)

/* The background purger's pass over every heap's free slices
 * (HZ4_SLICE_PURGE): decommits those idle past the purge delay, adds the
 * bytes to *released; the next due time, 0 if none. */
uint64_t hz4_heaps_slices_due(uint64_t now, size_t *released);
/* The purger's flush of parked heaps no thread adopted (hz4_heap.c). */
uint64_t hz4_parked_purge_due(uint64_t now);

void hz4_heaps_lock_all(void);
void hz4_heaps_unlock_all(void);
void hz4_heaps_after_fork_child(void);

#endif
