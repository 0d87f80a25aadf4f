/* hz3 thread heaps: span lists, thread caches, refill, thread attach and exit.
 * Remote frees: hz3_remote.c. */
#include "hz3_heap_internal.h"
#include "hz3_large.h"
#include "hz_line.h"
#include "hz_options.h"
#include "hz_os.h"
#include "hz_purger.h"
#include "hz_stats.h"

#include <pthread.h>
#include <string.h>
#include <sys/auxv.h>

enum { HZ3_THREAD_NEW = 0, HZ3_THREAD_ATTACHED = 1, HZ3_THREAD_EXITED = 2 };

static const hz3_heap hz3_heap_empty = {.slot = HZ3_OWNER_NONE};

void hz3_free_key_init(void) {
  const unsigned char *random = (const unsigned char *)getauxval(AT_RANDOM);
  uintptr_t key = 0;
  if (random != NULL) memcpy(&key, random + 8, sizeof(key));
  key ^= (uintptr_t)&hz3_map;  /* differs per process even without AT_RANDOM (ASLR) */
  if (key != 0) hz3_free_key = key;
}

hz_cold void hz3_free_twice(void *p) {
  (void)p;
  hz_stat_add(HZ_STAT_INVALID_FREES, 1);
}

__thread hz3_heap *hz3_tls_heap = (hz3_heap *)&hz3_heap_empty;
static __thread uint8_t hz3_tls_state;

static pthread_key_t hz3_exit_key;
hz_lock hz3_heaps_lock = HZ_LOCK_INIT;           /* slots, directory, parked list */
static hz3_heap *hz3_parked;                      /* heaps of exited threads */
static uint32_t hz3_max_slot;
uint64_t hz3_live_count;
static uint64_t hz3_parked_count;
static uint64_t hz3_parked_warm_bytes;            /* caches kept by HZ3_CHURN_PARK_MB */
static _Atomic uint64_t hz3_parked_warm_due_ms;   /* the purger flushes them then; 0: none */

/* Threads that already ran their exit hook but still allocate (other key
 * destructors, libc teardown) use this shared heap under a lock; they never
 * own a heap again, so nothing they do is stranded in a dead thread cache. */
static hz_lock hz3_shared_lock = HZ_LOCK_INIT;
hz3_heap *hz3_shared_heap;

hz3_heap **hz3_heap_dir[(HZ3_OWNER_MAX >> HZ3_DIR_BITS) + 1];

/* ---- statistics (HZ_STATS; see hz3_bin) ---- */

/* Frees by threads past their exit hook: they have no heap to count them. */
static _Atomic uint64_t hz3_exited_frees[HZ3_CLASS_COUNT];

/* Adds the change in this heap's live blocks of `cls` since its last sample
 * to the process-wide peak gauges. Called only when HZ_STATS is set. */
static hz_noinline void hz3_stats_publish(hz3_heap *heap, unsigned cls) {
  hz3_bin *bin = &heap->bins[cls];
  hz_stat_publish_share(bin->net - (int64_t)hz3_bin_count(bin), &heap->published[cls], hz3_classes[cls].size);
}

#define HZ3_STATS_SAMPLE(heap, cls) \
  do { if (hz_unlikely(hz_options.stats)) hz3_stats_publish(heap, cls); } while (0)

void hz3_class_counts(unsigned cls, uint64_t *allocs, uint64_t *frees) {
  uint64_t a = 0;
  int64_t f = (int64_t)atomic_load_explicit(&hz3_exited_frees[cls], memory_order_relaxed);
  uint32_t max = __atomic_load_n(&hz3_max_slot, __ATOMIC_ACQUIRE);
  for (uint32_t slot = 1; slot <= max; slot++) {
    hz3_heap *heap = hz3_heap_at(slot);
    if (heap == NULL) continue;
    const volatile hz3_bin *bin = &heap->bins[cls];
    uint64_t pops = bin->allocs;
    a += pops;
    f += (int64_t)pops - bin->net + hz3_bin_count_racy(bin);
  }
  *allocs = a;
  *frees = f > 0 ? (uint64_t)f : 0;
}

/* Bytes of free objects every heap holds in its stash (racy reads; for the
 * usage report, where they count as free, not in use). */
uint64_t hz3_heaps_stash_bytes(void) {
  uint64_t bytes = 0;
#if HZ3_REMOTE_SPLICE
  uint32_t max = hz3_heaps_max_slot();
  for (uint32_t slot = 1; slot <= max; slot++) {
    hz3_heap *heap = hz3_heap_at(slot);
    if (heap != NULL) bytes += *(const volatile size_t *)&heap->stash_bytes;
  }
#endif
  return bytes;
}

/* ---- span lists ---- */

void hz3_span_drop(hz3_heap *heap, hz3_span *span) {
  hz3_partial_remove(heap, span);
#if HZ3_LOOSE_BUDGET
  heap->loose_bytes -= (uint64_t)span->loose * hz3_classes[span->cls].size;
  span->loose = 0;
#endif
  hz3_span_release(span);
}

#if HZ3_LOOSE_BUDGET
/* Over HZ_DIRTY_MAX_MB of loose objects (HZ3_LOOSE_MIN_SIZE) in this heap's
 * live spans, their interiors go back to the OS, largest classes first. */
static void hz3_loose_budget(hz3_heap *heap) {
  uint64_t limit = hz_dirty_budget_units(0, HZ3_UNIT_SHIFT), loose = heap->loose_bytes >> HZ3_UNIT_SHIFT;
  if (loose <= hz_refault_budget(&heap->refault, limit)) return;
  uint64_t now = hz_os_now_ms(), before = heap->loose_bytes;
  uint64_t want = hz_refault_pass_begin(&heap->refault, limit, loose, now) << HZ3_UNIT_SHIFT;
  if (want == 0) return;
  uint64_t goal = before > want ? before - want : 0;
  for (unsigned cls = HZ3_CLASS_COUNT; cls-- > 0 && heap->loose_bytes > goal;) {
    size_t size = hz3_classes[cls].size;
    if (size < HZ3_LOOSE_MIN_SIZE) break;
    for (hz3_span *span = heap->partial[cls]; span != NULL && heap->loose_bytes > goal; span = span->next) {
      for (uintptr_t *p = span->free; p != NULL && span->loose != 0; p = *(void **)p) {
        if (p[2] != HZ3_LOOSE_RESIDENT) continue;
        hz_os_decommit_interior(p, size, 3 * sizeof(void *));  /* link, key, mark */
        p[2] = HZ3_LOOSE_RETURNED;
        span->loose--;
        heap->loose_bytes -= size;
      }
    }
  }
  hz_refault_pass_end(&heap->refault, (before - heap->loose_bytes) >> HZ3_UNIT_SHIFT, now);
  hz_stat_add(HZ_STAT_BUDGET_DECOMMITS, 1);
}
#endif

#if HZ3_LOOSE_BUDGET
/* The first class of HZ3_LOOSE_MIN_SIZE or more; set in hz3_heaps_init. */
unsigned hz3_loose_first_cls = HZ3_CLASS_COUNT;

/* A loose object stays in its live span: mark it, count it, check the budget.
 * Out of line so hz3_span_put stays inlined into its callers (inline, the
 * mark cost main_r50 +6 % instructions under callgrind). */
hz_noinline void hz3_loose_put(hz3_heap *heap, hz3_span *span, void *p) {
  ((uintptr_t *)p)[2] = HZ3_LOOSE_RESIDENT;
  span->loose++;
  heap->loose_bytes += hz3_classes[span->cls].size;
  hz3_loose_budget(heap);
}
#endif

static void hz3_release_empty_spans(hz3_heap *heap) {
  for (unsigned cls = 0; cls < HZ3_CLASS_COUNT; cls++) {
    hz3_span *span = heap->partial[cls];
    while (span != NULL) {
      hz3_span *next = span->next;
      if (span->used == 0) hz3_span_drop(heap, span);
      span = next;
    }
  }
}

/* ---- thread cache ---- */

/* An object leaving a thread cache goes back to its span when this heap owns
 * it, else to its owner (HZ3_CACHE_FOREIGN lets caches hold any object). */
static inline void hz3_send_home(hz3_heap *heap, void *p) {
  uint32_t tag = hz3_tags[hz3_tag_index(p)];
  if ((tag >> HZ3_OWNER_SHIFT) == heap->slot) hz3_span_put(heap, hz3_span_of(p), p);
  else hz3_outbox_add(heap, p, tag);
}

static void hz3_tcache_gc(hz3_heap *heap, unsigned active);

void hz3_bin_overflow(hz3_heap *heap, unsigned cls) {
#if HZ3_SOLO_RETURN
  if (hz_unlikely(heap->solo || atomic_load_explicit(&hz3_solo_armed, memory_order_relaxed)) &&
      ((heap->solo && hz3_solo_join_run(heap, cls)) || hz3_solo_overflow(heap, cls)))
    return;
#endif
  hz3_bin *bin = &heap->bins[cls];
  hz3_spans_lock(heap);
  uint32_t keep = hz3_bin_limit(bin) / 2;
#if HZ3_OVERFLOW_SEND_RECENT
  /* Send the most recently freed objects (still in this core's cache) and
   * keep the older ones: the walk that finds each object's owner then reads
   * hot lines instead of chasing a chain of misses through the cold half. A
   * thread that only frees (a consumer) never touches its older objects
   * again; one that allocates takes the miss in malloc, next to its own first
   * write, instead of one after another here. */
  uint32_t send = hz3_bin_count(bin) - keep;
  void *p = bin->head;
  bin->net -= (int64_t)send;
  hz3_bin_set_count(bin, keep);
#if HZ3_REMOTE_SPLICE && HZ3_SEND_RUN
  bin->head = hz3_send_run(heap, cls, p, send);
#else
  for (uint32_t i = 0; i < send; i++) {
    void *next = *(void **)p;
    hz3_send_home(heap, p);
    p = next;
  }
  bin->head = p;
#endif
#else
  /* Keep the most recently freed half (warm in cache), return the rest. */
  void *rest = bin->head;
  void **link = &bin->head;
  for (uint32_t i = 0; i < keep; i++) {
    link = (void **)rest;
    rest = *link;
  }
  *link = NULL;
  if (keep == 0) bin->head = NULL;
  bin->net -= (int64_t)hz3_bin_count(bin) - keep;
  hz3_bin_set_count(bin, keep);
  while (rest != NULL) {
    void *next = *(void **)rest;
    hz3_send_home(heap, rest);
    rest = next;
  }
#endif
  heap->overflowed[cls] = 1;
  HZ3_STATS_SAMPLE(heap, cls);
  hz3_tcache_gc(heap, cls);
  hz3_spans_unlock(heap);
  hz3_interior_note(cls);
}

static void hz3_bin_drain(hz3_heap *heap, unsigned cls) {
  hz3_bin *bin = &heap->bins[cls];
  void *p = bin->head;
  bin->head = NULL;
  bin->net -= hz3_bin_count(bin);
  hz3_bin_set_count(bin, 0);
  while (p != NULL) {
    void *next = *(void **)p;
    hz3_send_home(heap, p);
    p = next;
  }
  HZ3_STATS_SAMPLE(heap, cls);
  hz3_interior_note(cls);
}

/* Drains the bins that nobody touched since the previous check (see
 * HZ3_TCACHE_GC_MS), except `active`. A bin popped and pushed back to the same
 * head and count in between looks untouched: it is drained once and refilled
 * on its next use, which costs a refill, never correctness. */
static void hz3_tcache_gc(hz3_heap *heap, unsigned active) {
#if HZ3_TCACHE_GC_MS > 0
  if (++heap->gc_events < 64) return;  /* the clock read is amortised */
  heap->gc_events = 0;
  uint64_t now = hz_os_now_ms();
  if (now - heap->gc_last_ms < HZ3_TCACHE_GC_MS) return;
  heap->gc_last_ms = now;
  heap->sent_remote = 0;
#if HZ3_SPAN_RESERVE
  hz3_reserve_decay(heap);
#endif
  for (unsigned cls = 0; cls < HZ3_CLASS_COUNT; cls++) {
    hz3_bin *bin = &heap->bins[cls];
    if (hz3_bin_count(bin) != 0 && cls != active && bin->head == heap->gc_head[cls] &&
        hz3_bin_count(bin) == heap->gc_count[cls]) {
      hz3_bin_drain(heap, cls);
#if HZ3_REMOTE_SPLICE
      if (heap->stash[cls] != NULL) hz3_stash_drain_class(heap, cls);  /* as stale as its bin */
#endif
    }
    heap->gc_head[cls] = bin->head;
    heap->gc_count[cls] = hz3_bin_count(bin);
    uint32_t base = hz_options.tcache ? hz3_classes[cls].tcache_limit : 0;
    if (hz3_bin_limit(bin) > base) hz3_bin_set_limit(bin, hz3_bin_limit(bin) / 2 > base ? hz3_bin_limit(bin) / 2 : base);
  }
#else
  (void)heap;
  (void)active;
#endif
}

static void hz3_heap_flush_locked(hz3_heap *heap);
static void hz3_flush_parked(void);

/* This refill's carving allowance (HZ3_CARVE_START_BYTES, HZ3_CARVE_LINEAR). */
static uint32_t hz3_carve_goal(hz3_heap *heap, unsigned cls, const hz3_class_info *info) {
  if (HZ3_CARVE_START_BYTES == 0) return UINT32_MAX;
  uint32_t step = HZ3_CARVE_START_BYTES / info->size;
#if HZ3_CARVE_RESTART
  /* Recycled many times what the last allowance was since the last span
   * refill: the class is at its working size and only creeps past its high
   * mark now; carve one step, not a growing allowance. */
  uint32_t allocs = (uint32_t)heap->bins[cls].allocs;
  if ((uint32_t)(allocs - heap->carve_allocs[cls]) > 2u * heap->carve_goal[cls]) heap->carve_goal[cls] = 0;
  heap->carve_allocs[cls] = allocs;
#endif
  return hz_carve_allowance(&heap->carve_goal[cls], step ? step : 1, info->refill, HZ3_CARVE_LINEAR);
}

/* Remote frees wait in the heap's inbox (or batch stack). */
static inline bool hz3_inbox_pending(hz3_heap *heap) {
  return atomic_load_explicit(&heap->inbox, memory_order_relaxed) != NULL ||
         (HZ3_REMOTE_SPLICE && atomic_load_explicit(&heap->inbox_batches, memory_order_relaxed) != NULL);
}

/* Fills an empty bin from the heap's spans (new span if none) and pops one. */
static void *hz3_refill_locked(hz3_heap *heap, unsigned cls);

/* Every path below touches the heap's spans under its span lock. */
static void *hz3_refill(hz3_heap *heap, unsigned cls) {
  hz3_spans_lock(heap);
  void *p = hz3_refill_locked(heap, cls);
  hz3_spans_unlock(heap);
  return p;
}

static void *hz3_refill_locked(hz3_heap *heap, unsigned cls) {
  hz3_bin *bin = &heap->bins[cls];
#if HZ3_SOLO_RETURN
  if (hz_unlikely(heap->solo)) hz3_solo_end(heap, true);  /* allocating again: caches back on */
#endif
  if (hz3_inbox_pending(heap)) {
    hz3_collect(heap, true);
    if (bin->head != NULL) goto pop;
  }
  if (heap->outbox_objects != 0) hz3_outbox_flush_all(heap);
  hz3_tcache_gc(heap, cls);
  hz3_arena_purge_tick();
#if HZ3_REMOTE_SPLICE
  if (heap->stash[cls] != NULL) {
    /* Whole batches (each head still carries its tail and count) while they
     * fit in the bin's limit, at least one: two objects touched per batch.
     * After the outbox flush and the purge check, like a refill from spans,
     * so a thread living off its stash still sends and purges. */
    do {
      uintptr_t *h = heap->stash[cls];
      void *tail = (void *)h[2];
      uint32_t n = (uint32_t)h[3];
      heap->stash[cls] = *(void **)tail;
      heap->stash_bytes -= (size_t)n * hz3_classes[cls].size;
      *(void **)tail = bin->head;
      bin->head = h;
      hz3_bin_add_count(bin, (int32_t)n);
      bin->net += n;
    } while (heap->stash[cls] != NULL &&
             hz3_bin_count(bin) + (uint32_t)((uintptr_t *)heap->stash[cls])[3] <= hz3_bin_limit(bin));
    goto pop;
  }
#endif

  const hz3_class_info *info = &hz3_classes[cls];
  if (HZ3_ADAPTIVE_FACTOR > 1 && heap->overflowed[cls]) {
    /* Overflowed, and now back to the spans: the program cycles more objects
     * of this class than the cache holds (see HZ3_ADAPTIVE_FACTOR). */
    heap->overflowed[cls] = 0;
    uint32_t max = (uint32_t)info->tcache_limit * HZ3_ADAPTIVE_FACTOR;
    if (!heap->sent_remote && max < HZ3_ADAPTIVE_LOCAL_OBJECTS && info->tcache_limit != 0)
      max = HZ3_ADAPTIVE_LOCAL_OBJECTS;
    if (hz3_bin_limit(bin) != 0 && hz3_bin_limit(bin) < max)
      hz3_bin_set_limit(bin, hz3_bin_limit(bin) * 2 < max ? hz3_bin_limit(bin) * 2 : max);
  }
  uint32_t want = info->refill, got = 0;
  uint32_t carve_left = hz3_carve_goal(heap, cls, info);
  void *head = NULL;
  void **tail = &head;
  hz3_span *span = heap->partial[cls];
  bool reclaimed = false;
  bool loose = HZ3_LOOSE_BUDGET && info->size >= HZ3_LOOSE_MIN_SIZE;
  uint64_t returned = 0;  /* bytes of decommitted loose objects taken again */
  while (got < want) {
    if (span == NULL) {
#if HZ3_SPAN_RESERVE
      span = hz3_reserve_take(heap, cls);
      if (span == NULL)
#endif
        span = hz3_span_alloc(cls, heap->slot);
      if (span == NULL && got == 0 && !reclaimed) {
        /* Out of memory: give back every cached page, then try once more. */
        hz3_oom_reclaim(heap);
        reclaimed = true;
        span = heap->partial[cls];
        continue;
      }
      if (span == NULL) break;
      hz3_partial_push(heap, span);
    }
    while (got < want && span->free != NULL) {
      void *p = span->free;
      span->free = *(void **)p;
      if (loose) {
        uintptr_t *w = p;
        if (w[2] == HZ3_LOOSE_RETURNED) {
          returned += info->size;
        } else if (w[2] == HZ3_LOOSE_RESIDENT && span->loose != 0) {
          span->loose--;
          heap->loose_bytes -= info->size;
        }
        w[2] = 0;
      }
      *tail = p;
      tail = (void **)p;
      span->used++;
      got++;
    }
    hz3_interior_popped(span);
    uint32_t carve = span->capacity - span->carved;
    if (carve > want - got) carve = want - got;
    if (carve > carve_left) carve = carve_left;
    carve_left -= carve;
    char *p = span->start + (size_t)span->carved * info->size;
    for (uint32_t i = 0; i < carve; i++, p += info->size) {
      *tail = p;
      tail = (void **)p;
    }
    span->carved += carve;
    span->used += carve;
    got += carve;
    if (span->free == NULL && span->carved == span->capacity) {
      hz3_partial_remove(heap, span);
      span = heap->partial[cls];
    }
    if (carve_left == 0 && got != 0) break;
  }
#if HZ3_LOOSE_BUDGET
  if (returned != 0) hz_refault_note(&heap->refault, returned >> HZ3_UNIT_SHIFT);
#else
  (void)returned;
#endif
  if (got == 0) return NULL;
  *tail = NULL;
  bin->head = head;
  hz3_bin_set_count(bin, got);
  bin->net += got;
pop:
  HZ3_STATS_SAMPLE(heap, cls);
  void *p = bin->head;
  bin->head = *(void **)p;
  hz3_bin_add_count(bin, -1);
  bin->allocs++;
  ((uintptr_t *)p)[1] = 0;
  return p;
}

static inline void *hz3_heap_pop(hz3_heap *heap, unsigned cls) {
  hz3_bin *bin = &heap->bins[cls];
  void *p = bin->head;
  if (hz_likely(p != NULL)) {
    bin->head = *(void **)p;
    hz3_bin_add_count(bin, -1);
    bin->allocs++;
    ((uintptr_t *)p)[1] = 0;
    return p;
  }
  return hz3_refill(heap, cls);
}

/* ---- heaps and threads ---- */

void hz3_heap_set_limits(hz3_heap *heap) {
  for (unsigned cls = 0; cls < HZ3_CLASS_COUNT; cls++)
    hz3_bin_set_limit(&heap->bins[cls], hz_options.tcache ? hz3_classes[cls].tcache_limit : 0);
}

/* A fresh heap with a new slot; caller holds hz3_heaps_lock. */
static hz3_heap *hz3_heap_create_locked(void) {
  if (hz3_max_slot >= HZ3_OWNER_MAX) return NULL;
  uint32_t slot = hz3_max_slot + 1;
  hz3_heap ***dir_entry = &hz3_heap_dir[slot >> HZ3_DIR_BITS];
  if (*dir_entry == NULL) {
    hz3_heap **chunk = hz3_meta_alloc(sizeof(hz3_heap *) << HZ3_DIR_BITS);
    if (chunk == NULL) return NULL;
    __atomic_store_n(dir_entry, chunk, __ATOMIC_RELEASE);
  }
  hz3_heap *heap = hz3_meta_alloc(sizeof(hz3_heap));
  if (heap == NULL) return NULL;
  memset(heap, 0, sizeof(*heap));
  heap->slot = slot;
  hz3_heap_set_limits(heap);
  __atomic_store_n(&(*dir_entry)[slot & ((1u << HZ3_DIR_BITS) - 1)], heap, __ATOMIC_RELEASE);
  __atomic_store_n(&hz3_max_slot, slot, __ATOMIC_RELEASE);
  return heap;
}

static hz3_heap *hz3_heap_attach(void) {
  hz_lock_acquire(&hz3_heaps_lock);
  hz3_heap *heap = hz3_parked;
  bool adopted = heap != NULL;
  if (adopted) {
    hz3_parked = heap->next_free;
    hz3_parked_count--;
    hz3_parked_warm_bytes -= heap->warm_bytes;
    heap->warm_bytes = 0;
  }
  else heap = hz3_heap_create_locked();
#if HZ3_SOLO_RETURN
  hz3_solo_disarm();  /* a second thread again: no solo drain */
  if (heap != NULL && heap->solo) {  /* parked while draining: caches back on */
    heap->solo = 0;
    hz3_heap_set_limits(heap);
  }
#endif
  if (heap != NULL) {
    __atomic_store_n(&heap->live, 1, __ATOMIC_RELAXED);
    heap->next_free = NULL;
    hz3_live_count++;
  }
  hz_lock_release(&hz3_heaps_lock);
  if (heap == NULL) return NULL;
#if HZ3_SOLO_RETURN
  /* A solo drain that saw this heap parked under its span lock finishes its
   * put before this thread touches the spans (hz3_solo.c). */
  if (adopted) {
    hz3_spans_lock(heap);
    hz3_spans_unlock(heap);
  }
#endif
  hz3_tls_heap = heap;
  hz3_tls_state = HZ3_THREAD_ATTACHED;
  if (HZ3_EXIT_PURGE_CHURN) heap->attach_ms = hz_os_now_ms();
  /* May allocate (keys past 32): the heap is already in place for that. */
  pthread_setspecific(hz3_exit_key, heap);
  hz_stat_add(HZ_STAT_THREADS_STARTED, 1);
  if (adopted) hz_stat_add(HZ_STAT_HEAPS_ADOPTED, 1);
  return heap;
}

/* Everything the heap holds in caches goes back to its spans; the caller
 * holds the heap's span lock. */
static void hz3_heap_flush_locked(hz3_heap *heap) {
#if HZ3_SOLO_RETURN
  hz3_solo_flush_runs(heap, true);
#endif
  /* Caches first: draining them may queue objects for other owners. */
  for (unsigned cls = 0; cls < HZ3_CLASS_COUNT; cls++) hz3_bin_drain(heap, cls);
  hz3_outbox_flush_all(heap);
  hz3_collect(heap, false);
#if HZ3_REMOTE_SPLICE
  hz3_stash_drain(heap);
#endif
  hz3_release_empty_spans(heap);
#if HZ3_SPAN_RESERVE
  hz3_reserve_release(heap);
#endif
  hz3_interior_note(HZ3_CLASS_COUNT - 1);
}

#if HZ3_INTERIOR_PURGE
/* Called by the purger with the heap's span lock (tried, not taken: the
 * owner is not inside a slow path). Only what the owner itself touches under
 * that lock goes: the inbox (one exchange, as the owner's collect), the stash
 * and the span reserve; never the thread caches or outbox lanes, which the
 * owner's fast paths and frees use without it. */
bool hz3_heap_idle_drain_locked(hz3_heap *heap, uint64_t now) {
#if HZ3_IDLE_DRAIN_MS > 0
  if (heap->solo) return false;
  if (heap->spans_epoch != heap->idle_epoch) {  /* used since the last look */
    heap->idle_epoch = heap->spans_epoch;
    heap->idle_since_ms = now;
  }
  bool holds = hz3_inbox_pending(heap);
#if HZ3_REMOTE_SPLICE
  holds |= heap->stash_bytes != 0;
#endif
#if HZ3_SPAN_RESERVE
  holds |= heap->reserve_bytes != 0;
#endif
  if (!holds) return false;
  if (now - heap->idle_since_ms < (uint64_t)HZ3_IDLE_DRAIN_MS) return true;
  hz3_collect(heap, false);
#if HZ3_REMOTE_SPLICE
  hz3_stash_drain(heap);
#endif
#if HZ3_SPAN_RESERVE
  hz3_reserve_release(heap);
#endif
  hz_stat_add(HZ_STAT_IDLE_DRAINS, 1);
#else
  (void)heap;
  (void)now;
#endif
  return false;
}
#endif

static void hz3_heap_flush(hz3_heap *heap) {
  hz3_spans_lock(heap);
  hz3_heap_flush_locked(heap);
  hz3_spans_unlock(heap);
}

/* Bytes a heap holds in its caches, stash and span reserve (HZ3_CHURN_PARK_MB). */
static uint64_t hz3_heap_cached_bytes(const hz3_heap *heap) {
  uint64_t bytes = 0;
  for (unsigned cls = 0; cls < HZ3_CLASS_COUNT; cls++)
    bytes += (uint64_t)hz3_bin_count(&heap->bins[cls]) * hz3_classes[cls].size;
#if HZ3_REMOTE_SPLICE
  bytes += heap->stash_bytes;
#endif
#if HZ3_SPAN_RESERVE
  bytes += heap->reserve_bytes;
#endif
  return bytes;
}

/* pthread key destructor: runs at thread exit with the thread's heap. */
static void hz3_thread_exit(void *arg) {
  hz3_heap *heap = arg;
  if (heap == NULL || heap != hz3_tls_heap) return;
  /* Parked warm (caches, stash and spans stay; only objects bound for other
   * heaps leave) when the next thread to start is likely to adopt this heap:
   * other workers run and fewer heaps are parked than threads live
   * (HZ3_PARK_KEEPS_CACHES), or this thread lived shorter than the purge
   * delay, so threads come in generations (HZ3_CHURN_PARK_MB bounds what
   * such heaps keep). A later long-lived last exit, trim or OOM flushes
   * parked heaps. */
  bool short_lived = HZ3_EXIT_PURGE_CHURN && hz_options.purge_delay_ms >= 0 &&
                     hz_os_now_ms() - heap->attach_ms < (uint64_t)hz_options.purge_delay_ms;
  bool keep = HZ3_PARK_KEEPS_CACHES && __atomic_load_n(&hz3_live_count, __ATOMIC_RELAXED) > 2 &&
              __atomic_load_n(&hz3_parked_count, __ATOMIC_RELAXED) + 1 < __atomic_load_n(&hz3_live_count, __ATOMIC_RELAXED);
  uint64_t warm = 0;
  if (HZ3_CHURN_PARK_MB > 0 && short_lived && !keep) {
    warm = hz3_heap_cached_bytes(heap);
    keep = __atomic_load_n(&hz3_parked_warm_bytes, __ATOMIC_RELAXED) + warm <= ((uint64_t)HZ3_CHURN_PARK_MB << 20);
    if (!keep) warm = 0;
  }
  if (keep) {
#if HZ3_SOLO_RETURN
    hz3_solo_flush_runs(heap, false);  /* a warm park keeps caches, not these */
#endif
    hz3_outbox_flush_all(heap);
  } else {
    hz3_heap_flush(heap);
  }
  hz3_tls_heap = (hz3_heap *)&hz3_heap_empty;
  hz3_tls_state = HZ3_THREAD_EXITED;
  hz_lock_acquire(&hz3_heaps_lock);
  __atomic_store_n(&heap->live, 0, __ATOMIC_RELAXED);
  heap->next_free = hz3_parked;
  hz3_parked = heap;
  hz3_parked_count++;
  heap->warm_bytes = warm;
  hz3_parked_warm_bytes += warm;
  if (warm != 0)
    atomic_store_explicit(&hz3_parked_warm_due_ms, hz_os_now_ms() + (uint64_t)hz_options.purge_delay_ms,
                          memory_order_relaxed);
  uint64_t live = --hz3_live_count;
  hz_lock_release(&hz3_heaps_lock);
  if (warm != 0) hz_purger_request();
  hz_stat_add(HZ_STAT_THREADS_EXITED, 1);
  /* The last worker is gone (typically: all joined, the main thread goes on
   * alone): nothing will refill soon, so return what the workers held now
   * instead of waiting for traffic that may never come. Unless the worker
   * lived shorter than the purge delay (HZ3_EXIT_PURGE_CHURN): the next
   * generation is likely to start within the delay and would fault every
   * returned page back in and refill every flushed cache, so parked heaps
   * stay as they are and only pages already idle for the delay go. */
  if (live <= 1 && hz_options.purge_delay_ms >= 0) {
#if HZ3_SOLO_RETURN
    if (live == 1) hz3_solo_arm();
#endif
    bool churn = short_lived;
    if (churn) {
      /* Bounded: a program that goes idle after its short threads keeps at
       * most this much resident beyond what it uses. */
      uint64_t mapped, in_use, free_bytes, committed;
      hz3_arena_usage(&mapped, &in_use, &free_bytes, &committed);
      churn = committed - in_use <= ((uint64_t)HZ3_EXIT_CHURN_KEEP_MB << 20);
    }
    if (!churn || HZ3_CHURN_PARK_MB == 0) hz3_flush_parked();
    hz3_arena_purge(!churn);
    hz3_large_purge(!churn);
  }
}

void hz3_heaps_init(void) {
#if HZ3_LOOSE_BUDGET
  hz3_loose_first_cls = hz3_first_class_from(HZ3_LOOSE_MIN_SIZE);
#endif
  hz3_remote_init();
  hz3_interior_init();
  pthread_key_create(&hz3_exit_key, hz3_thread_exit);
}

static hz_cold void *hz3_shared_alloc(unsigned cls) {
  hz_lock_acquire(&hz3_shared_lock);
  if (hz3_shared_heap == NULL) {
    hz_lock_acquire(&hz3_heaps_lock);
    hz3_shared_heap = hz3_heap_create_locked();
    hz_lock_release(&hz3_heaps_lock);
  }
  void *p = hz3_shared_heap ? hz3_heap_pop(hz3_shared_heap, cls) : NULL;
  hz_lock_release(&hz3_shared_lock);
  return p;
}

/* The calling thread's heap, attaching one on first use; NULL when the thread
 * has exited (or no heap can be made) and must use the shared paths. */
static hz3_heap *hz3_current_heap(void) {
  hz3_heap *heap = hz3_tls_heap;
  if (hz_likely(heap->slot != HZ3_OWNER_NONE)) return heap;
  if (hz3_tls_state == HZ3_THREAD_EXITED) return NULL;
  return hz3_heap_attach();
}

void *hz3_alloc_slow(unsigned cls) {
  hz3_heap *heap = hz3_current_heap();
  if (heap == NULL) return hz3_shared_alloc(cls);
  return hz3_refill(heap, cls);
}

void *hz3_alloc_class(unsigned cls) {
  hz3_heap *heap = hz3_current_heap();
  if (heap == NULL) return hz3_shared_alloc(cls);
  return hz3_heap_pop(heap, cls);
}

void hz3_free_slow(void *p) {
  if (!hz3_in_arena(p)) {
    if (p != NULL) hz_shim_free_foreign(p);
    return;
  }
  uint32_t tag = hz3_tags[hz3_tag_index(p)];
  if (tag == 0) {
    /* Inside our arena but not allocated (double free, interior pointer of
     * a released span): never hand it to another allocator. */
    hz_stat_add(HZ_STAT_INVALID_FREES, 1);
    return;
  }
  if ((tag & 0xFFu) == HZ3_TAG_LARGE) {
    hz3_large_free(p);
    return;
  }
  if (hz3_is_marked_free(p)) {
    hz3_free_twice(p);
    return;
  }
  uint32_t owner = tag >> HZ3_OWNER_SHIFT;
  hz3_heap *heap = hz3_current_heap();
  if (heap == NULL) {
    unsigned cls = tag & 0xFFu;
    atomic_fetch_add_explicit(&hz3_exited_frees[cls], 1, memory_order_relaxed);
    if (hz_options.stats) hz_stat_band_sample(hz_stat_band_of(hz3_classes[cls].size), -1, -(int64_t)hz3_classes[cls].size);
    hz3_mark_free(p);
    hz3_inbox_push(owner, p, p, 1);
  } else if (owner == heap->slot || (HZ3_CACHE_FOREIGN && !HZ3_FIRST_FREE_HOME)) {
    hz3_bin *bin = &heap->bins[tag & 0xFFu];
    *(void **)p = bin->head;
    hz3_mark_free(p);
    bin->head = p;
    if (hz3_bin_push_over(bin)) hz3_bin_overflow(heap, tag & 0xFFu);
  } else {
    /* With HZ3_CACHE_FOREIGN the fast path caches every other foreign
     * object, so this is a thread's first free, before it had a heap: an
     * object handed over by its allocating thread (HZ3_FIRST_FREE_HOME). */
    hz3_bin *bin = &heap->bins[tag & 0xFFu];  /* a free that bypasses the cache */
    bin->net--;
    if (hz_unlikely(hz_options.stats) && heap->published[tag & 0xFFu] - (bin->net - (int64_t)hz3_bin_count(bin)) >= 64)
      hz3_stats_publish(heap, tag & 0xFFu);
    hz3_outbox_add(heap, p, tag);
  }
}


/* ---- trim, introspection, fork ---- */

void hz3_flush_parked_locked(void) {
  for (hz3_heap *parked = hz3_parked; parked != NULL; parked = parked->next_free) {
    hz3_heap_flush(parked);
    parked->warm_bytes = 0;
  }
  /* Draining one parked heap's caches sends its foreign objects to their
   * owners, some of them parked heaps flushed earlier in the loop: collect
   * those once more. Their caches are empty now, so this pass sends nothing. */
  for (hz3_heap *parked = hz3_parked; parked != NULL; parked = parked->next_free)
    if (hz3_inbox_pending(parked)) hz3_heap_flush(parked);
  hz3_parked_warm_bytes = 0;
}

/* Heaps parked warm by short-lived threads (HZ3_CHURN_PARK_MB) wait for the
 * next generation of threads to adopt them. When none came within the purge
 * delay of the last such park, the program has stopped making threads (it
 * idles, or goes on in the main thread): their caches go back to their spans,
 * and the spans' pages to the OS after the arena's own delay. Before, they
 * stayed resident until a trim, an OOM or a long-lived thread's exit. */
uint64_t hz3_parked_purge_due(uint64_t now) {
  uint64_t due = atomic_load_explicit(&hz3_parked_warm_due_ms, memory_order_relaxed);
  if (due == 0 || now < due) return due;
  hz_lock_acquire(&hz3_heaps_lock);
  due = atomic_load_explicit(&hz3_parked_warm_due_ms, memory_order_relaxed);
  if (due != 0 && now >= due) {  /* no warm park since this pass read the clock */
    hz3_flush_parked_locked();
    atomic_store_explicit(&hz3_parked_warm_due_ms, 0, memory_order_relaxed);
    due = 0;
  }
  hz_lock_release(&hz3_heaps_lock);
  return due;
}

static void hz3_flush_parked(void) {
  hz_lock_acquire(&hz3_heaps_lock);
  hz3_flush_parked_locked();
  hz_lock_release(&hz3_heaps_lock);
}

void hz3_oom_reclaim(hz3_heap *heap) {
  if (heap != NULL) hz3_heap_flush_locked(heap);
  else if (hz3_tls_heap->slot != HZ3_OWNER_NONE) hz3_heap_flush(hz3_tls_heap);
  hz3_flush_parked();
  hz3_arena_purge(true);
  hz3_large_purge(true);
}

bool hz3_heaps_trim(void) {
  hz3_heap *heap = hz3_tls_heap;
  if (heap->slot != HZ3_OWNER_NONE) hz3_heap_flush(heap);
  hz3_flush_parked();
  hz_lock_acquire(&hz3_shared_lock);
  if (hz3_shared_heap != NULL) hz3_heap_flush(hz3_shared_heap);
  hz_lock_release(&hz3_shared_lock);
  return true;
}

uint64_t hz3_heaps_live(void) { return hz3_live_count; }

uint32_t hz3_heaps_max_slot(void) { return __atomic_load_n(&hz3_max_slot, __ATOMIC_ACQUIRE); }

void hz3_heaps_lock_all(void) {
  hz3_interior_lock_all();
  hz_lock_acquire(&hz3_shared_lock);
  hz_lock_acquire(&hz3_heaps_lock);
}

void hz3_heaps_unlock_all(void) {
  hz_lock_release(&hz3_heaps_lock);
  hz_lock_release(&hz3_shared_lock);
  hz3_interior_unlock_all();
}

/* In the child only the forking thread exists. Heaps of the other threads
 * stay marked live and are never reused there: their caches may have been
 * mid-update when the fork happened. Their objects can still be freed (they
 * go to those heaps' inboxes); only that memory is not recycled in the child. */
void hz3_heaps_after_fork_child(void) {
  hz_lock_reset(&hz3_heaps_lock);
  hz_lock_reset(&hz3_shared_lock);
  hz3_live_count = hz3_tls_heap->slot != HZ3_OWNER_NONE ? 1 : 0;
  hz3_interior_after_fork_child(hz3_tls_heap->slot != HZ3_OWNER_NONE ? hz3_tls_heap : NULL);
}
