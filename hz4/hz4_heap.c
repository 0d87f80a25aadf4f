/* hz4 thread heaps: refill, overflow, the out-of-line free, thread attach,
 * exit and adoption, the shared heap for threads past their exit hook. */
#include "hz4_heap.h"
#include "hz4_large.h"
#include "hz4_page.h"
#include "hz4_remote.h"
#include "hz_options.h"
#include "hz_os.h"
#include "hz_purger.h"
#include "hz_stats.h"

#include <pthread.h>

enum { HZ4_THREAD_NEW = 0, HZ4_THREAD_ATTACHED = 1, HZ4_THREAD_EXITED = 2 };

static const hz4_heap hz4_heap_empty = {.id = HZ4_OWNER_NONE};
__thread hz4_heap *hz4_tls_heap = (hz4_heap *)&hz4_heap_empty;
static __thread uint8_t hz4_tls_state;

static pthread_key_t hz4_exit_key;
/* Lock order (fork takes them in this order): the slice pass, shared, heaps,
 * remote buffers, large, segments. A heap's slice lock comes after the
 * heaps lock and before the segment lock; an owner never waits for the
 * heaps lock while holding its own. */
static hz_lock hz4_heaps_lock = HZ_LOCK_INIT;   /* ids, the parked and all-heaps lists */
static hz4_heap *hz4_parked;                     /* heaps of exited threads, to adopt */
static uint64_t hz4_parked_count;
static hz4_heap *hz4_all_heaps;
static uint32_t hz4_next_id = 1;
static uint64_t hz4_live_count;
/* HZ4_EXIT_PURGE_CHURN (heaps lock): cached bytes of heaps parked warm, and
 * whether a short-lived last exit deferred the return of everything. */
static uint64_t hz4_parked_warm_bytes;
static bool hz4_churn_deferred;
/* When the purger flushes heaps parked warm or deferred by a short-lived
 * exit if no thread adopted them by then (hz4_parked_purge_due); 0: none. */
static _Atomic uint64_t hz4_parked_warm_due_ms;

/* Threads that already ran their exit hook but still allocate (other key
 * destructors, libc teardown) use this heap under a lock; they never own a
 * heap again, so nothing they do is stranded in a dead thread's cache. */
static hz_lock hz4_shared_lock = HZ_LOCK_INIT;
static hz4_heap *hz4_shared_heap;

/* HZ4_SLICE_PURGE: held by the purger for a pass over the heaps' free
 * slices, and across fork, so that the child never inherits a slice lock
 * the purger held. */
static hz_lock hz4_slices_pass_lock = HZ_LOCK_INIT;

/* ---- statistics (HZ_STATS; see hz4_bin) ---- */

/* Frees by threads past their exit hook: they have no heap to count them. */
static _Atomic uint64_t hz4_exited_frees[HZ4_CLASS_COUNT];

hz_noinline void hz4_stats_publish(hz4_heap *heap, unsigned cls) {
  hz4_bin *bin = &heap->bins[cls];
  hz_stat_publish_share(bin->net - (int64_t)hz4_bin_count(bin), &heap->published[cls], hz4_classes[cls].size);
}

void hz4_class_counts(unsigned cls, uint64_t *allocs, uint64_t *frees) {
  uint64_t a = 0;
  int64_t f = (int64_t)atomic_load_explicit(&hz4_exited_frees[cls], memory_order_relaxed);
  hz_lock_acquire(&hz4_heaps_lock);
  for (hz4_heap *heap = hz4_all_heaps; heap != NULL; heap = heap->all_next) {
    const volatile hz4_bin *bin = &heap->bins[cls];  /* racy for live threads */
    uint64_t pops = bin->allocs;
    a += pops;
    f += (int64_t)pops - bin->net + hz4_bin_count_racy(bin);
  }
  hz_lock_release(&hz4_heaps_lock);
  *allocs = a;
  *frees = f > 0 ? (uint64_t)f : 0;
}

/* ---- bins ---- */

void hz4_bin_trim(hz4_heap *heap, unsigned cls, uint32_t keep) {
  hz4_bin *bin = &heap->bins[cls];
  void *rest = bin->head;
  void **link = &bin->head;
  for (uint32_t i = 0; i < keep && rest != NULL; i++) {
    link = (void **)rest;
    rest = *link;
  }
  *link = NULL;
  if (hz4_bin_count(bin) > keep) {
    bin->net -= (int64_t)(hz4_bin_count(bin) - keep);
    hz4_bin_set_count(bin, keep);
  }
  while (rest != NULL) {
    void *next = *(void **)rest;
    hz4_page_put(heap, hz4_page_of(rest), rest);
    rest = next;
  }
  HZ4_STATS_SAMPLE(heap, cls);
}

/* Keep half the limit, the most recently freed (warm in cache), send the rest
 * home, and drop any raise from collected remote frees. */
void hz4_bin_overflow(hz4_heap *heap, unsigned cls) {
  uint32_t base = heap->bin_base[cls];
  hz4_bin_set_limit(&heap->bins[cls], base);
  heap->bin_overflowed[cls] = 1;
  hz4_bin_trim(heap, cls, base / 2);
}

/* The bin runs dry and must go to its pages: if it overflowed since the last
 * time, the program cycles more objects of this class than the cache holds,
 * so the limit doubles (up to the class maximum). */
static void hz4_bin_adapt(hz4_heap *heap, unsigned cls) {
  if (heap->bin_overflowed[cls]) {
    heap->bin_overflowed[cls] = 0;
    uint32_t base = (uint32_t)heap->bin_base[cls] * 2, max = hz4_classes[cls].tcache_max;
    /* Only in a heap without remote traffic: there the bins' objects are
     * its own and nobody else waits for them (HZ4_ADAPTIVE_LOCAL_OBJECTS). */
    if (!heap->remote_seen && max < HZ4_ADAPTIVE_LOCAL_OBJECTS && hz4_classes[cls].tcache_limit != 0)
      max = HZ4_ADAPTIVE_LOCAL_OBJECTS;
    heap->bin_base[cls] = (uint16_t)(base < max ? base : max);
  }
  hz4_bin_set_limit(&heap->bins[cls], heap->bin_base[cls]);
}

void hz4_bins_decay(hz4_heap *heap) {
  heap->remote_seen = 0;
  for (unsigned cls = 0; cls < HZ4_CLASS_COUNT; cls++) {
    uint32_t start = hz4_classes[cls].tcache_limit, base = heap->bin_base[cls];
    if (base > start) {
      base = base / 2 > start ? base / 2 : start;
      heap->bin_base[cls] = (uint16_t)base;
      hz4_bin *bin = &heap->bins[cls];
      if (hz4_bin_limit(bin) > base && hz4_bin_count(bin) <= base) hz4_bin_set_limit(bin, base);
    }
  }
}

/* Slow start of refills from pages (HZ4_CARVE_START_BYTES): the first takes
 * at most that many bytes of objects, each later one twice as many, up to
 * the bin's limit. A full first refill carves (and so touches) up to 128 KiB
 * of a class whose program may keep a dozen objects of it. */
static uint32_t hz4_carve_goal(hz4_heap *heap, unsigned cls, uint32_t want) {
  uint32_t step = (uint32_t)(HZ4_CARVE_START_BYTES / hz4_classes[cls].size);
  return hz_carve_allowance(&heap->carve_goal[cls], step ? step : 1, want, false);
}

/* Fills an empty bin and pops one. Order: remote frees of this class, then
 * the heap's pages of the class; only then, before a new page, flush our own
 * outbox and collect every inbox; then a new page; out of memory: give
 * everything back and try once more. */
static void *hz4_refill(hz4_heap *heap, unsigned cls) {
  hz4_bin *bin = &heap->bins[cls];
  if (hz4_inbox_pending(heap, cls)) {
    hz4_collect_class(heap, cls);
    if (bin->head != NULL) goto pop;
  }
  hz4_bin_adapt(heap, cls);
  uint32_t want = heap->bin_base[cls] ? heap->bin_base[cls] : 1;
  if (HZ4_CARVE_START_BYTES != 0) want = hz4_carve_goal(heap, cls, want);
  void *head, *tail;
  uint32_t got = hz4_page_take(heap, cls, want, false, &head, &tail);
  if (got == 0) {
    if (heap->outbox_used) hz4_outbox_flush_all(heap);
    if (hz4_collect_all(heap, true) != 0 && bin->head != NULL) goto pop;
    got = hz4_page_take(heap, cls, want, true, &head, &tail);
    if (got == 0) {
      hz4_oom_reclaim(heap);
      got = hz4_page_take(heap, cls, want, true, &head, &tail);
      if (got == 0) return NULL;
    }
  }
  *(void **)tail = bin->head;
  bin->head = head;
  hz4_bin_add_count(bin, (int32_t)got);
  bin->net += got;
pop:
  HZ4_STATS_SAMPLE(heap, cls);
  void *p = bin->head;
  bin->head = *(void **)p;
  hz4_bin_popped(bin);
  bin->allocs++;
  return p;
}

static inline void *hz4_heap_pop(hz4_heap *heap, unsigned cls) {
  hz4_bin *bin = &heap->bins[cls];
  void *p = bin->head;
  if (hz_likely(p != NULL)) {
    bin->head = *(void **)p;
    hz4_bin_popped(bin);
    bin->allocs++;
    return p;
  }
  return hz4_refill(heap, cls);
}

static inline void hz4_heap_push(hz4_heap *heap, unsigned cls, void *p) {
  hz4_bin *bin = &heap->bins[cls];
  if (hz_unlikely(p == bin->head)) {  /* an immediate double free */
    hz_stat_add(HZ_STAT_INVALID_FREES, 1);
    return;
  }
  *(void **)p = bin->head;
  bin->head = p;
  if (hz4_bin_push_over(bin)) hz4_bin_overflow(heap, cls);
}

/* Everything the heap holds in caches goes home; empty pages are released
 * (spares too) and empty segments pooled, after returning free slices to
 * the OS when `decommit`. With `keep_caches` (a heap parked for adoption,
 * HZ4_PARK_KEEPS_CACHES) the caches, their limits and the spare buffers
 * stay as they are (inboxes are collected into them, up to the limits):
 * the adopting thread starts with them warm, instead of every cached
 * object going to its page by a walk over cold lists and being carved back
 * out (larson T=16: a quarter of the user time). */
static void hz4_heap_flush(hz4_heap *heap, bool decommit, bool keep_caches) {
  heap->draining = 1;
  hz4_outbox_flush_all(heap);
  hz4_collect_all(heap, keep_caches);
  for (unsigned cls = 0; cls < HZ4_CLASS_COUNT && !keep_caches; cls++) {
    hz4_bin_trim(heap, cls, 0);
    heap->bin_base[cls] = hz4_classes[cls].tcache_limit;
    heap->bin_overflowed[cls] = 0;
    hz4_bin_set_limit(&heap->bins[cls], heap->bin_base[cls]);
  }
  if (!keep_caches) hz4_rbufs_release(heap);
  hz4_heap_release_empty(heap, decommit);
  heap->draining = 0;
}

/* ---- heaps ---- */

static void hz4_heap_set_limits(hz4_heap *heap) {
  /* (tcache_limit is 0 for every class with HZ_TCACHE=0) */
  for (unsigned cls = 0; cls < HZ4_CLASS_COUNT; cls++) {
    heap->bin_base[cls] = hz4_classes[cls].tcache_limit;
    hz4_bin_set_limit(&heap->bins[cls], heap->bin_base[cls]);
  }
}

/* A fresh heap with a new id; caller holds hz4_heaps_lock. */
static hz4_heap *hz4_heap_create_locked(void) {
  if (hz4_next_id > HZ4_OWNER_MAX) return NULL;
  size_t page = hz_os_page_size();
  hz4_heap *heap = hz_os_map((sizeof(hz4_heap) + page - 1) & ~(page - 1), NULL);
  if (heap == NULL) return NULL;
  heap->id = hz4_next_id++;
  hz4_heap_set_limits(heap);
  heap->all_next = hz4_all_heaps;
  /* Published for the purger's walk, which takes no lock (heaps are never
   * unmapped, and all_next is not written again). */
  __atomic_store_n(&hz4_all_heaps, heap, __ATOMIC_RELEASE);
  return heap;
}

static hz4_heap *hz4_heap_attach(void) {
  hz_lock_acquire(&hz4_heaps_lock);
  hz4_heap *heap = hz4_parked;
  bool adopted = heap != NULL;
  if (adopted) {
    hz4_parked = heap->parked_next;
    hz4_parked_count--;
    hz4_parked_warm_bytes -= heap->warm_bytes;
    heap->warm_bytes = 0;
  }
  else heap = hz4_heap_create_locked();
  if (heap != NULL) {
    heap->attached = 1;
    heap->parked_next = NULL;
    atomic_store_explicit(&heap->live, 1, memory_order_seq_cst);
    hz4_live_count++;
  }
  hz_lock_release(&hz4_heaps_lock);
  if (heap == NULL) return NULL;
  hz4_tls_heap = heap;
  hz4_tls_state = HZ4_THREAD_ATTACHED;
  if (HZ4_EXIT_PURGE_CHURN) {
    heap->attach_ms = hz_os_now_ms();
    heap->adopted = adopted;
  }
  /* May allocate (keys past 32): the heap is already in place for that. */
  pthread_setspecific(hz4_exit_key, heap);
  hz_stat_add(HZ_STAT_THREADS_STARTED, 1);
  if (adopted) hz_stat_add(HZ_STAT_HEAPS_ADOPTED, 1);
  return heap;
}

/* Parked heaps whose inboxes got frees since they were parked: collect them,
 * so the dead thread's pages can be released. Caller holds no lock other
 * than possibly the shared heap's. */
static void hz4_parked_reclaim(bool all) {
  hz_lock_acquire(&hz4_heaps_lock);
  /* An exchange, not a store: the inbox loads below must not move before it. */
  atomic_exchange_explicit(&hz4_parked_flag, 0, memory_order_seq_cst);
  uint64_t position = 0;
  for (hz4_heap *heap = hz4_parked; heap != NULL; heap = heap->parked_next, position++) {
    if (!all) {
      bool pending = false;
      for (unsigned i = 0; i < HZ4_INBOXES && !pending; i++) pending = hz4_inbox_pending(heap, i);
      if (!pending) continue;
    }
    /* A flag says objects came home, not that memory is short: with
     * HZ4_EXIT_PURGE_LAST the freed slices wait for the delayed purge while
     * workers run (the heap is likely adopted soon and would fault them back
     * in); with at most one thread left nobody is likely to adopt it. */
    /* (After a short-lived last exit the next generation is expected to
     * adopt every parked heap: HZ4_EXIT_PURGE_CHURN.) */
    bool decommit = all || !HZ4_EXIT_PURGE_LAST || (hz4_live_count <= 1 && !hz4_churn_deferred);
    /* The most recently parked heaps, as many as threads run, are the next
     * to be adopted (the list is LIFO): they keep their caches. */
    bool keep = HZ4_PARK_KEEPS_CACHES && !decommit && (position < hz4_live_count || hz4_churn_deferred);
    if (!keep) {
      hz4_parked_warm_bytes -= heap->warm_bytes;
      heap->warm_bytes = 0;
    }
    hz4_heap_flush(heap, decommit, keep);
    if (!decommit) {
      hz4_heap_decommit_beyond(heap, HZ4_PARKED_KEEP_BYTES);
      hz4_heap_purge(heap);
    }
  }
  if (all) hz4_churn_deferred = false;
  hz_lock_release(&hz4_heaps_lock);
}

void hz4_parked_reclaim_flagged(void) {
  if (hz_unlikely(atomic_load_explicit(&hz4_parked_flag, memory_order_relaxed)))
    hz4_parked_reclaim(false);
}

/* Bytes of objects in the heap's caches (HZ4_CHURN_PARK_MB). */
static uint64_t hz4_heap_cached_bytes(const hz4_heap *heap) {
  uint64_t bytes = 0;
  for (unsigned cls = 0; cls < HZ4_CLASS_COUNT; cls++)
    bytes += (uint64_t)hz4_bin_count(&heap->bins[cls]) * hz4_classes[cls].size;
  return bytes;
}

/* HZ4_EXIT_PURGE_CHURN: the last worker lived shorter than the purge delay
 * in a heap an earlier thread left, so threads come in generations
 * (mstress: a pair every 2 ms), and the free memory resident is within the
 * bound. Returning everything at such an exit made every generation fault
 * its pages back in (mstress T=2: 89k faults, 1.4 GB madvised in 400
 * threads). A first generation of short workers, perhaps the only one,
 * still returns everything: its program may never free into a parked heap
 * to run the deferred return. (The usage walk is per segment, and only at
 * short-lived last exits.) */
static bool hz4_exit_is_churn(const hz4_heap *heap) {
  int64_t delay = hz_options.purge_delay_ms;
  if (!HZ4_EXIT_PURGE_CHURN || !HZ4_EXIT_PURGE_LAST || delay < 0) return false;
  if (!heap->adopted || hz_os_now_ms() - heap->attach_ms >= (uint64_t)delay) return false;
  uint64_t mapped, in_use, committed;
  hz4_segments_usage(&mapped, &in_use, &committed);
  return committed <= in_use + ((uint64_t)HZ4_EXIT_CHURN_KEEP_MB << 20);
}

/* The last worker is gone (at most the main thread is left): nothing is
 * likely to reuse pooled segments or cached huge blocks soon, and nobody
 * may allocate again to run the delayed purge, so return them now, with
 * the free slices heaps parked by earlier exits kept (HZ4_EXIT_PURGE_LAST). */
static void hz4_last_exit_return(void) {
  if (HZ4_EXIT_PURGE_LAST) hz4_parked_reclaim(true);
  hz4_pool_purge(true);
  hz4_large_purge(true);
}

/* Heaps parked warm (HZ4_PARK_KEEPS_CACHES, HZ4_CHURN_PARK_MB) or left by a
 * short-lived last exit (HZ4_EXIT_PURGE_CHURN) wait for the next thread to
 * adopt them. When none came within the purge delay of the last such park,
 * the program has stopped making threads (it idles, or goes on in the main
 * thread): their caches go back to their pages and the free pages to the OS.
 * Before, they stayed resident until a free into a parked heap, a trim or
 * a long-lived last exit (regress_warm_park_purge: +5.4 MiB when the second
 * of two workers, delayed by a busy machine, adopted the first's heap). */
uint64_t hz4_parked_purge_due(uint64_t now) {
  uint64_t due = atomic_load_explicit(&hz4_parked_warm_due_ms, memory_order_relaxed);
  if (due == 0 || now < due) return due;
  /* Claimed only if no warm park moved it since the load (then it is due
   * later). A park after the claim sets a new due time; the flush of its
   * heap then is early, not wrong (reclaim and attach share the heaps lock). */
  if (!atomic_compare_exchange_strong_explicit(&hz4_parked_warm_due_ms, &due, 0, memory_order_relaxed,
                                               memory_order_relaxed))
    return due;
  if (__atomic_load_n(&hz4_live_count, __ATOMIC_RELAXED) <= 1) hz4_last_exit_return();
  else hz4_parked_reclaim(true);
  return 0;
}

/* pthread key destructor: runs at thread exit with the thread's heap. */
static void hz4_thread_exit(void *arg) {
  hz4_heap *heap = arg;
  if (heap == NULL || heap != hz4_tls_heap) return;
  /* From here, a thread pushing to our inbox flags us for reclaim. */
  atomic_store_explicit(&heap->live, 0, memory_order_seq_cst);
  /* HZ4_EXIT_PURGE_LAST: decommit at once only when no other worker is
   * left (a racy read: a wrong guess only moves the decommit to the delayed
   * purge or to the last exit below). Under thread churn (larson: a new
   * thread per round) the next thread adopts this heap and would fault
   * every decommitted slice back in. */
  bool last = __atomic_load_n(&hz4_live_count, __ATOMIC_RELAXED) <= 2;
  bool churn = last && HZ4_EXIT_PURGE && hz4_exit_is_churn(heap);
  bool decommit = HZ4_EXIT_PURGE && (!HZ4_EXIT_PURGE_LAST || (last && !churn));
  /* Keep the caches for the adopter only while fewer heaps are parked than
   * threads run: parked caches pin their pages until adoption, reclaim or
   * the last exit. */
  bool keep = HZ4_PARK_KEEPS_CACHES && !decommit &&
              __atomic_load_n(&hz4_parked_count, __ATOMIC_RELAXED) < __atomic_load_n(&hz4_live_count, __ATOMIC_RELAXED);
  uint64_t warm = keep ? hz4_heap_cached_bytes(heap) : 0;
  if (churn && keep &&
      __atomic_load_n(&hz4_parked_warm_bytes, __ATOMIC_RELAXED) + warm > ((uint64_t)HZ4_CHURN_PARK_MB << 20)) {
    keep = false;
    warm = 0;
  }
  hz4_heap_flush(heap, decommit, keep);
  if (!decommit) {
    hz4_heap_decommit_beyond(heap, HZ4_PARKED_KEEP_BYTES);
    hz4_heap_purge(heap);  /* and pooled segments idle past the purge delay */
  }
  hz4_tls_heap = (hz4_heap *)&hz4_heap_empty;
  hz4_tls_state = HZ4_THREAD_EXITED;
  hz_lock_acquire(&hz4_heaps_lock);
  heap->attached = 0;
  heap->parked_next = hz4_parked;
  hz4_parked = heap;
  hz4_parked_count++;
  heap->warm_bytes = warm;
  hz4_parked_warm_bytes += warm;
  uint64_t still_live = --hz4_live_count;
  if (still_live <= 1) hz4_churn_deferred = churn;
  bool warm_due = hz_options.purge_delay_ms >= 0 && (warm != 0 || (still_live <= 1 && churn));
  if (warm_due)
    atomic_store_explicit(&hz4_parked_warm_due_ms, hz_os_now_ms() + (uint64_t)hz_options.purge_delay_ms,
                          memory_order_relaxed);
  hz_lock_release(&hz4_heaps_lock);
  if (warm_due) hz_purger_request();
  /* A message that reached us between our last collection and the parking
   * may have had its flag consumed by a thread that did not see us parked
   * yet: look once more, now that we are. Messages after this look find us
   * parked. Our own last frees may also have gone to parked heaps. */
  for (unsigned i = 0; i < HZ4_INBOXES; i++) {
    if (atomic_load_explicit(&heap->inbox[i].head, memory_order_seq_cst) != 0) {
      atomic_store_explicit(&hz4_parked_flag, 1, memory_order_seq_cst);
      break;
    }
  }
  hz4_parked_reclaim_flagged();
  /* After a short-lived last exit (HZ4_EXIT_PURGE_CHURN) the return waits
   * for the remaining thread's first free into a parked heap (a program
   * freeing what its workers left: hz4_free_to_parked) or the next
   * long-lived last exit. */
  if (HZ4_EXIT_PURGE && still_live <= 1 && !churn) hz4_last_exit_return();
  hz_stat_add(HZ_STAT_THREADS_EXITED, 1);
}

void hz4_heaps_init(void) {
  pthread_key_create(&hz4_exit_key, hz4_thread_exit);
}

/* The calling thread's heap, attaching one on first use; NULL when the
 * thread has exited (or no heap can be made) and must use the shared heap. */
static inline hz4_heap *hz4_current_heap(void) {
  hz4_heap *heap = hz4_tls_heap;
  if (hz_likely(heap->id != HZ4_OWNER_NONE)) return heap;
  if (hz4_tls_state == HZ4_THREAD_EXITED) return NULL;
  return hz4_heap_attach();
}

/* The shared heap, locked; NULL (unlocked) if it cannot be made. */
static hz4_heap *hz4_shared_enter(void) {
  hz_lock_acquire(&hz4_shared_lock);
  if (hz4_shared_heap == NULL) {
    hz_lock_acquire(&hz4_heaps_lock);
    hz4_heap *heap = hz4_heap_create_locked();
    if (heap != NULL) {
      heap->attached = 1;
      atomic_store_explicit(&heap->live, 1, memory_order_seq_cst);
    }
    hz_lock_release(&hz4_heaps_lock);
    hz4_shared_heap = heap;
  }
  if (hz4_shared_heap == NULL) hz_lock_release(&hz4_shared_lock);
  return hz4_shared_heap;
}

static void hz4_shared_leave(void) { hz_lock_release(&hz4_shared_lock); }

void *hz4_alloc_slow(unsigned cls) {
  hz4_heap *heap = hz4_current_heap();
  if (heap != NULL) return hz4_refill(heap, cls);
  heap = hz4_shared_enter();
  if (heap == NULL) return NULL;
  void *p = hz4_heap_pop(heap, cls);
  hz4_shared_leave();
  return p;
}

void *hz4_alloc_class(unsigned cls) {
  hz4_heap *heap = hz4_current_heap();
  if (heap != NULL) return hz4_heap_pop(heap, cls);
  return hz4_alloc_slow(cls);
}

static void *hz4_block_alloc_in(hz4_heap *heap, size_t size, size_t align, bool *zero) {
  if (hz4_inbox_pending(heap, HZ4_CLS_BLOCK)) hz4_collect_all(heap, true);
  unsigned slices = (unsigned)((size + HZ4_SLICE_SIZE - 1) >> HZ4_SLICE_SHIFT);
  if (slices == 0) slices = 1;
  unsigned align_slices = align > HZ4_SLICE_SIZE ? (unsigned)(align >> HZ4_SLICE_SHIFT) : 1;
  hz4_page *page = hz4_page_alloc(heap, HZ4_CLS_BLOCK, slices, align_slices);
  if (page == NULL) {
    hz4_oom_reclaim(heap);
    page = hz4_page_alloc(heap, HZ4_CLS_BLOCK, slices, align_slices);
    if (page == NULL) return NULL;
  }
  page->used = 1;
  *zero = page->zero;
  hz4_block_counted(page->size, 1);
  return hz4_page_start(page);
}

void *hz4_alloc_block(size_t size, size_t align, bool *zero) {
  hz4_heap *heap = hz4_current_heap();
  if (heap != NULL) return hz4_block_alloc_in(heap, size, align, zero);
  heap = hz4_shared_enter();
  if (heap == NULL) return NULL;
  void *p = hz4_block_alloc_in(heap, size, align, zero);
  hz4_shared_leave();
  return p;
}

/* A free from a thread past its exit hook: the shared heap's own objects
 * under its lock, anything else straight to its owner's inbox. */
static hz_cold void hz4_free_exited(void *p, hz4_heap *owner, unsigned cls) {
  hz4_heap *shared = hz4_shared_heap;
  if (owner == shared && shared != NULL) {
    hz_lock_acquire(&hz4_shared_lock);
    if (cls == HZ4_CLS_BLOCK) {
      uint32_t size = hz4_page_of(p)->size;
      if (!hz4_block_release(shared, p)) hz_stat_add(HZ_STAT_INVALID_FREES, 1);
      else hz4_block_counted(size, -1);
    } else {
      hz4_heap_push(shared, cls, p);
    }
    hz_lock_release(&hz4_shared_lock);
    return;
  }
  if (cls == HZ4_CLS_BLOCK) {
    hz4_block_counted(hz4_page_of(p)->size, -1);
  } else {
    atomic_fetch_add_explicit(&hz4_exited_frees[cls], 1, memory_order_relaxed);
    if (hz_options.stats)
      hz_stat_band_sample(hz_stat_band_of(hz4_classes[cls].size), -1, -(int64_t)hz4_classes[cls].size);
  }
  hz4_inbox_push_one(owner, cls, p);
}

/* Everything but a class object of a live heap freed by another live
 * heap's thread: kept out of hz4_free_other so that the common case is a
 * few loads and a tail call. */
static hz_noinline void hz4_free_other_rare(void *p, uint32_t tag) {
  if (tag == 0) {
    /* In one of our segments but in no page (double free of a released
     * page, wild pointer): never hand it to another allocator. */
    hz_stat_add(HZ_STAT_INVALID_FREES, 1);
    return;
  }
  unsigned cls = tag & 0xFFu;
  uint32_t owner_id = (tag & ~HZ4_TAG_BLOCK) >> HZ4_OWNER_SHIFT;
  hz4_segment *seg = hz4_segment_of(p);
  hz4_heap *owner = seg->owner;
  hz4_heap *heap = hz4_current_heap();
  if (hz_unlikely(owner == NULL)) {
    hz_stat_add(HZ_STAT_INVALID_FREES, 1);
    return;
  }
  if (heap == NULL) {
    hz4_free_exited(p, owner, cls);
    return;
  }
  if (owner_id == heap->id) {
    if (cls == HZ4_CLS_BLOCK) {
      uint32_t size = hz4_page_of(p)->size;
      if (!hz4_block_release(heap, p)) hz_stat_add(HZ_STAT_INVALID_FREES, 1);
      else hz4_block_counted(size, -1);
    } else {
      hz4_heap_push(heap, cls, p);  /* first call of a thread that adopted this heap */
    }
    return;
  }
  size_t size;
  if (cls == HZ4_CLS_BLOCK) {
    size = hz4_page_of(p)->size;
    hz4_block_counted(size, -1);  /* released by its owner later */
  } else {
    size = hz4_classes[cls].size;
    if (!HZ4_NET_PER_MESSAGE) {
      hz4_bin *bin = &heap->bins[cls];  /* a free that bypasses the cache (see hz4_bin) */
      bin->net--;
      if (hz_unlikely(hz_options.stats) && heap->published[cls] - (bin->net - (int64_t)hz4_bin_count(bin)) >= 64)
        hz4_stats_publish(heap, cls);
    }
  }
  hz4_remote_free(heap, owner, tag, size, p);
}

/* hz4_free_other's statistics (HZ4_NET_PER_MESSAGE=0) and (HZ4_REMOTE_INLINE=0)
 * its call. */
static hz_noinline void hz4_free_other_tail(hz4_heap *heap, hz4_heap *owner, uint32_t tag, void *p) {
  unsigned cls = tag & 0xFFu;
  hz4_bin *bin = &heap->bins[cls];
  if (!HZ4_NET_PER_MESSAGE && hz_unlikely(hz_options.stats) &&
      heap->published[cls] - (bin->net - (int64_t)hz4_bin_count(bin)) >= 64)
    hz4_stats_publish(heap, cls);
  hz4_remote_free(heap, owner, tag, hz4_classes[cls].size, p);
}

void hz4_free_other(void *p, uint32_t tag) {
  /* The common case: a class object (not a one-block page) of a live
   * owner, freed by a thread with a heap of its own. The empty heap's id
   * (HZ4_OWNER_NONE) and a block tag send the rest to the rare path. */
  hz4_heap *heap = hz4_tls_heap;
  unsigned cls = tag & 0xFFu;
  /* (The caller, hz_line_free, has seen that the tag's owner is not this
   * heap: no test for that here.) A non-zero class tag means a live page, so
   * its segment has an owner: the owner (another line of the segment header)
   * is read only where a buffer is opened for it. */
  if (hz_unlikely(tag == 0 || (tag & HZ4_TAG_BLOCK) || heap->id == HZ4_OWNER_NONE)) {
    hz4_free_other_rare(p, tag);
    return;
  }
  if (!HZ4_NET_PER_MESSAGE) heap->bins[cls].net--;  /* a free that bypasses the cache (see hz4_bin) */
  if (!HZ4_REMOTE_INLINE || (!HZ4_NET_PER_MESSAGE && hz_unlikely(hz_options.stats))) {
    hz4_heap *owner = hz4_segment_of(p)->owner;
    if (hz_unlikely(owner == NULL)) {
      hz4_free_other_rare(p, tag);
      return;
    }
    hz4_free_other_tail(heap, owner, tag, p);
    return;
  }
  /* hz4_remote_free's common case with every call a tail call, so that no
   * register is saved (main_r50: 65 -> 45 instructions per remote free). */
  hz4_outbox *box = &heap->outbox[hz4_outbox_slot(tag)];
  if (hz_unlikely(box->key != ~tag)) {
    hz4_heap *owner = hz4_segment_of(p)->owner;
    if (hz_unlikely(owner == NULL)) {
      hz4_free_other_rare(p, tag);
      return;
    }
    hz4_remote_open(heap, owner, tag, hz4_classes[cls].size, p);
    return;
  }
  hz4_rbuf *buf = box->buf;
  uint32_t n = buf->count;
  buf->ptrs[n] = p;  /* (a pointer twice in a row is dropped on collection) */
  buf->count = ++n;
  size_t bytes = heap->outbox_bytes + box->size;
  heap->outbox_bytes = bytes;
  if (hz_unlikely(n >= box->limit || bytes > HZ4_OUTBOX_BYTES)) hz4_outbox_full(heap, box);
}

bool hz4_heaps_solo(void) { return __atomic_load_n(&hz4_live_count, __ATOMIC_RELAXED) <= 1; }

bool hz4_free_to_parked(hz4_heap *owner, void *p) {
  /* The workers are done: the return a short-lived last exit deferred. */
  if (HZ4_EXIT_PURGE_CHURN && __atomic_load_n(&hz4_churn_deferred, __ATOMIC_RELAXED) &&
      __atomic_load_n(&hz4_live_count, __ATOMIC_RELAXED) <= 1)
    hz4_last_exit_return();
  hz_lock_acquire(&hz4_heaps_lock);
  bool ok = hz4_live_count <= 1 && !owner->attached && owner != hz4_shared_heap;
  bool released = false;
  if (ok) {
    hz4_page *page = hz4_page_of(p);
    /* Read before the put: a page it empties may take its segment to the
     * pool, which unmaps at once with HZ_PURGE_DELAY_MS=0 (this read after
     * the put crashed there). An emptied page kept as the class's spare is
     * released by the sweep below too. */
    released = page->used == 1 && page->slices != 0;
    hz4_page_put(owner, page, p);
    if (released) hz4_heap_release_empty(owner, true);
  }
  hz_lock_release(&hz4_heaps_lock);
  if (released) hz4_pool_purge(true);
  return ok;
}

/* ---- trim, out of memory, introspection, fork ---- */

static void hz4_shared_flush(void) {
  hz_lock_acquire(&hz4_shared_lock);
  if (hz4_shared_heap != NULL) hz4_heap_flush(hz4_shared_heap, true, false);
  hz_lock_release(&hz4_shared_lock);
}

void hz4_oom_reclaim(hz4_heap *heap) {
  hz4_heap *mine = hz4_tls_heap;
  if (heap == NULL && mine->id != HZ4_OWNER_NONE) heap = mine;
  if (heap != NULL) hz4_heap_flush(heap, true, false);
  hz4_parked_reclaim(true);
  if (heap != hz4_shared_heap) hz4_shared_flush();  /* else its lock is ours already */
  hz4_pool_purge(true);
  hz4_large_purge(true);
}

void hz4_heaps_trim(void) { hz4_oom_reclaim(NULL); }

uint64_t hz4_heaps_live(void) { return hz4_live_count; }

uint64_t hz4_heaps_slices_due(uint64_t now, size_t *released) {
#if HZ4_SLICE_PURGE
  hz_lock_acquire(&hz4_slices_pass_lock);
  uint64_t due = hz4_slices_purge_due(&hz4_all_heaps, now, released);
  hz_lock_release(&hz4_slices_pass_lock);
  return due;
#else
  (void)now;
  (void)released;
  return 0;
#endif
}

void hz4_heaps_lock_all(void) {
  hz_lock_acquire(&hz4_slices_pass_lock);
  hz_lock_acquire(&hz4_shared_lock);
  hz_lock_acquire(&hz4_heaps_lock);
  hz4_rbufs_lock();
}

void hz4_heaps_unlock_all(void) {
  hz4_rbufs_unlock();
  hz_lock_release(&hz4_heaps_lock);
  hz_lock_release(&hz4_shared_lock);
  hz_lock_release(&hz4_slices_pass_lock);
}

/* In the child only the forking thread exists. Heaps of the other threads
 * stay attached and are never reused there: their caches may have been
 * mid-update at the fork. Their objects can still be freed (into those
 * heaps' inboxes); only that memory is not recycled in the child. */
void hz4_heaps_after_fork_child(void) {
  hz4_rbufs_reset_lock();
  hz_lock_reset(&hz4_heaps_lock);
  hz_lock_reset(&hz4_shared_lock);
  /* No purger pass was running (prepare held this), so every slice lock not
   * held by a thread that is gone in the child is free; those that are stay
   * held, and the purger skips their heaps. */
  hz_lock_reset(&hz4_slices_pass_lock);
  hz4_live_count = hz4_tls_heap->id != HZ4_OWNER_NONE ? 1 : 0;
}
