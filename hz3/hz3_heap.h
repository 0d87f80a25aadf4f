/* hz3 thread heaps: per-class thread caches, the spans each heap owns, and
 * the remote-free machinery between heaps.
 *
 * A heap is the whole allocation state of one thread and is named by its slot
 * number, which is also the owner field of every tag of its spans. When the
 * thread exits the heap is parked on a free list with its slot, flushed or
 * (thread churn, hz3_config.h) warm; the next new thread adopts it, pending
 * remote frees included. So slots are
 * recycled, there is no thread limit, and a dead thread's pages are reused
 * instead of leaked. */
#ifndef HZ3_HEAP_H
#define HZ3_HEAP_H

#include <stdbool.h>

#include "hz3_arena.h"
#include "hz3_classes.h"
#include "hz_budget.h"

/* A thread cache list for one class.
 *
 * Statistics (HZ_STATS) cost one add per malloc and nothing per free:
 * `allocs` counts every pop; `net` counts blocks moved into the list other
 * than by a free (refills from spans, collected remote frees) minus blocks
 * moved out other than by a malloc (overflow, drain) and minus frees by this
 * heap that bypass the list. Frees by this heap are then
 * allocs - net + count (see hz3_class_frees); 32 bytes keep the index a shift. */
typedef struct hz3_bin {
  void *head;
#if HZ3_BIN_ROOM
  int32_t room_;    /* limit - count: below 0 when the count exceeds the limit */
#else
  uint32_t count_;
#endif
  uint32_t limit_;  /* flush when count exceeds this (0: caching off) */
  uint64_t allocs;  /* pops, ever */
  int64_t net;      /* see above: slow paths only */
} hz3_bin;

/* The list length and limit, read and written only through these (the fast
 * paths keep the count as the room left, HZ3_BIN_ROOM). */
#if HZ3_BIN_ROOM
static inline uint32_t hz3_bin_count(const hz3_bin *b) { return (uint32_t)((int64_t)b->limit_ - b->room_); }
static inline void hz3_bin_set_count(hz3_bin *b, uint32_t n) { b->room_ = (int32_t)((int64_t)b->limit_ - n); }
static inline void hz3_bin_add_count(hz3_bin *b, int32_t n) { b->room_ -= n; }
/* One more object on the list: true when the count now exceeds the limit. */
static inline bool hz3_bin_push_over(hz3_bin *b) { return --b->room_ < 0; }
#else
static inline uint32_t hz3_bin_count(const hz3_bin *b) { return b->count_; }
static inline void hz3_bin_set_count(hz3_bin *b, uint32_t n) { b->count_ = n; }
static inline void hz3_bin_add_count(hz3_bin *b, int32_t n) { b->count_ += (uint32_t)n; }
static inline bool hz3_bin_push_over(hz3_bin *b) { return ++b->count_ > b->limit_; }
#endif
/* Another thread's count, read while it runs (statistics). */
static inline int64_t hz3_bin_count_racy(const volatile hz3_bin *b) {
#if HZ3_BIN_ROOM
  return (int64_t)b->limit_ - b->room_;
#else
  return (int64_t)b->count_;
#endif
}
static inline uint32_t hz3_bin_limit(const hz3_bin *b) { return b->limit_; }
static inline void hz3_bin_set_limit(hz3_bin *b, uint32_t limit) {
  uint32_t n = hz3_bin_count(b);
  b->limit_ = limit;
  hz3_bin_set_count(b, n);
}

/* Remote frees bound for one owner, pushed with one atomic when full. */
typedef struct hz3_outbox {
  void *head;
  void *tail;
  uint32_t owner;
  uint32_t count;
} hz3_outbox;

/* Objects of one span freed one after another while solo (hz3_solo.c),
 * linked through their first word, head .. tail. */
typedef struct hz3_solo_run {
  void *head, *tail;
  struct hz3_span *span;
  uint32_t count;
} hz3_solo_run;
#define HZ3_SOLO_RUNS 16  /* run slots, by class modulo: pins at most this many spans */

typedef struct hz3_heap {
  uint32_t slot;                        /* owner id in tags; HZ3_OWNER_NONE for the empty heap */
  uint32_t live;                        /* a thread owns this heap now */
  hz3_bin bins[HZ3_CLASS_COUNT];
  hz3_span *partial[HZ3_CLASS_COUNT];   /* spans with free objects, per class */
  hz3_outbox outbox[HZ3_OUTBOX_COUNT];  /* per class (HZ3_REMOTE_SPLICE) or hashed by owner */
  uint32_t outbox_objects;
  uint64_t outbox_pending[(HZ3_OUTBOX_COUNT + 63) / 64];  /* lanes holding objects */
#if HZ3_REMOTE_SPLICE
  /* Remote batches that found their bin full, a chain of whole batches per
   * class: a refill of the class takes batches from it before its spans. */
  void *stash[HZ3_CLASS_COUNT];
  size_t stash_bytes;                   /* at most HZ3_STASH_BYTES */
  size_t outbox_bytes;                  /* in all lanes: at most HZ3_REMOTE_BATCH_BYTES */
#endif
  uint32_t gc_events;                   /* slow-path calls since the last stale-bin check */
  uint64_t gc_last_ms;                  /* time of the last stale-bin check */
  void *gc_head[HZ3_CLASS_COUNT];       /* each bin's head and count at that check */
  uint32_t gc_count[HZ3_CLASS_COUNT];
  uint8_t overflowed[HZ3_CLASS_COUNT];  /* cache overflowed since the class's last refill */
  uint8_t sent_remote;                  /* pushed objects to another heap since the last stale-bin check */
  /* Most objects the next refill of each class may cut from never-used span
   * memory (0: not started; see HZ3_CARVE_START_BYTES). */
  uint16_t carve_goal[HZ3_CLASS_COUNT];
#if HZ3_CARVE_RESTART
  uint32_t carve_allocs[HZ3_CLASS_COUNT];  /* the bin's allocs at its last span refill */
#endif
#if HZ3_SPAN_RESERVE
  hz3_span *reserve[HZ3_CLASS_COUNT];   /* kept empty spans per class, linked by next */
  uint8_t reserve_n[HZ3_CLASS_COUNT];
  uint8_t reserve_keep[HZ3_CLASS_COUNT];  /* how many the class may keep now */
  uint8_t reserve_hit[HZ3_CLASS_COUNT];   /* taken from since the last stale-bin check */
  uint32_t released_tick[HZ3_CLASS_COUNT];  /* span_tick of the class's last release */
  uint32_t span_tick;                   /* span takes and releases of this heap */
  size_t reserve_bytes;                 /* at most HZ3_RESERVE_BYTES */
#endif
  struct hz3_heap *next_free;           /* on the parked-heap list */
#if HZ3_INTERIOR_PURGE
  /* Held by the owner in every slow path that touches its spans' free and
   * partial lists, tried by the purger (hz3_interior.c). */
  hz_lock spans_lock;
  uint32_t spans_epoch;                 /* holds of spans_lock by slow paths (not the purger's) */
  uint8_t interior_skip;                /* a fork child's heap of a thread that is gone */
  /* The purger's own (HZ3_IDLE_DRAIN_MS): spans_epoch at its last look, and
   * since when it has not moved. */
  uint32_t idle_epoch;
  uint64_t idle_since_ms;
#endif
  uint64_t loose_bytes;                 /* resident free objects of large classes in live spans (HZ3_LOOSE_BUDGET) */
  hz_refault refault;                   /* their budget's back-off (common/hz_budget.h) */
  uint64_t warm_bytes;                  /* cached bytes it was parked with (HZ3_CHURN_PARK_MB) */
  uint64_t attach_ms;                   /* when the current thread adopted it (HZ3_EXIT_PURGE_CHURN) */
  uint8_t solo;                         /* draining as the one live heap, caches at limit 0 (HZ3_SOLO_RETURN) */
  /* While solo: freed objects waiting to go back to their span together
   * (one lock per run instead of one per free), one run per class slot. */
  hz3_solo_run solo_runs[HZ3_SOLO_RUNS];
  int64_t published[HZ3_CLASS_COUNT];   /* live share last added to the peak gauges (HZ_STATS) */
  /* Written by other threads: keep it off the owner's cache lines. */
  _Alignas(64) _Atomic(void *) inbox;
  _Atomic(void *) inbox_batches;        /* headed (owner, class) batches: HZ3_REMOTE_SPLICE */
  char pad[64 - 2 * sizeof(void *)];
} hz3_heap;

/* Written into the second word of every freed object and cleared when the
 * object is handed out again: a free that finds it there is a double free
 * (or a free of a never-allocated slot) and is ignored instead of linking the
 * object into a cache list twice. Random per process (AT_RANDOM), so program
 * data matches it with probability 2^-64. */
#define hz3_free_key (hz3_map.free_key)
void hz3_free_key_init(void);
/* Counts and drops a free whose object already carries the key. */
void hz3_free_twice(void *p);

/* The calling thread's heap; points at a read-only empty heap until the
 * thread's first slow path, so "no heap yet" costs the fast path nothing. */
extern __thread hz3_heap *hz3_tls_heap;

void hz3_heaps_init(void);

/* Slow paths behind the inline fast paths. */
void *hz3_alloc_slow(unsigned cls);
/* Every free the fast path did not finish: NULL, remote owner, full cache,
 * large block, no heap yet, and pointers that are not ours (forwarded). */
void hz3_free_slow(void *p);
void hz3_bin_overflow(hz3_heap *heap, unsigned cls);
void hz3_free_remote(hz3_heap *heap, void *p, uint32_t tag);

/* Pops one object of `cls` for the calling thread (any path). */
void *hz3_alloc_class(unsigned cls);

/* Out of memory: flushes `heap` (or the calling thread's), the parked heaps,
 * and returns every free page and cached large block to the OS. A non-NULL
 * `heap` comes with its span lock held (and the shared-heap lock, if it is
 * that heap), and no other lock. */
void hz3_oom_reclaim(hz3_heap *heap);

/* Gives back what thread caches and parked heaps hold; true if any. */
bool hz3_heaps_trim(void);
/* Bytes of free objects held in heaps' stashes (approximate). */
uint64_t hz3_heaps_stash_bytes(void);
/* Purger hook: flushes heaps parked warm that no thread adopted within the
 * purge delay; returns when to call again (0: nothing pending). */
uint64_t hz3_parked_purge_due(uint64_t now);
uint64_t hz3_heaps_live(void);
/* Allocations and frees of class `cls` over every heap (racy for live
 * threads), for hz_line_get_class_stats. */
void hz3_class_counts(unsigned cls, uint64_t *allocs, uint64_t *frees);

/* The background purger's pass over the heaps' partly used spans
 * (HZ3_INTERIOR_PURGE, hz3_interior.c): decommits what is due at `now`, adds
 * the bytes to *released; returns the next due time, 0 if none. */
uint64_t hz3_interior_purge_due(uint64_t now, size_t *released);

void hz3_heaps_lock_all(void);
void hz3_heaps_unlock_all(void);
void hz3_heaps_after_fork_child(void);

#endif
