/* hz4 pages: slice runs in segments, page free lists, the heap's lists of
 * pages and segments. */
#include "hz4_page.h"
#include "hz_bits.h"
#include "hz_options.h"
#include "hz_os.h"
#include "hz_purger.h"
#include "hz_stats.h"

#define HZ4_LOOSE_LOCKED (HZ4_LOOSE_PURGE && HZ4_SLICE_PURGE && HZ4_BUDGET_PARTIAL)

#if HZ4_SLICE_PURGE
/* Uncontended but for a purger pass over this heap: one atomic pair per
 * page slow path, never on the object fast paths. */
static inline void hz4_slices_lock(hz4_heap *heap) { hz_lock_acquire(&heap->slices_lock); }
static inline void hz4_slices_unlock(hz4_heap *heap) { hz_lock_release(&heap->slices_lock); }

/* Some heap may have dirty slices the purger has not seen: set by the owner
 * (under its slice lock) when the purger may be idle, cleared by a purger
 * pass that finds nothing left to wait for. */
_Atomic int hz4_slices_pending;

hz_noinline void hz4_slices_note_slow(void) {
  atomic_store_explicit(&hz4_slices_pending, 1, memory_order_relaxed);
  hz_purger_request();
}
/* Only from HZ4_SLICE_PURGE_MIN_BYTES of dirty slices in the heap: waking
 * the thread (a system call) costs more than a few slices are worth. */
static inline void hz4_slices_note(const hz4_heap *heap) {
  uint64_t dirty = heap->dirty_count + (HZ4_LOOSE_LOCKED ? heap->loose_bytes >> HZ4_SLICE_SHIFT : 0);
  if (dirty >= (HZ4_SLICE_PURGE_MIN_BYTES >> HZ4_SLICE_SHIFT) &&
      !atomic_load_explicit(&hz4_slices_pending, memory_order_relaxed))
    hz4_slices_note_slow();
}
#else
static inline void hz4_slices_lock(hz4_heap *heap) { (void)heap; }
static inline void hz4_slices_unlock(hz4_heap *heap) { (void)heap; }
static inline void hz4_slices_note(const hz4_heap *heap) { (void)heap; }
#endif

static inline uint64_t hz4_run_mask(unsigned first, unsigned count) {
  return (count >= 64 ? ~0ull : ((1ull << count) - 1)) << first;
}

/* First position, a multiple of `align`, where `count` bits of `mask` are
 * set in a row; -1 if none. */
static int hz4_find_run(uint64_t mask, unsigned count, unsigned align) {
  uint64_t run = mask;
  for (unsigned i = 1; i < count && run; i++) run &= mask >> i;
  if (align > 1) {
    uint64_t starts = 0;
    for (unsigned i = 0; i < 64; i += align) starts |= 1ull << i;
    run &= starts;
  }
  return run ? __builtin_ctzll(run) : -1;
}

/* Every decommit of a heap's segment goes through here, to keep the heap's
 * dirty count (the budget's measure) exact. */
static void hz4_seg_decommit(hz4_heap *heap, hz4_segment *seg) {
  heap->dirty_count -= hz_popcount64(seg->dirty_slices);
  hz4_segment_decommit(seg);
}

/* ---- the heap's segment list: segments with at least one free slice ---- */

static void hz4_segs_add(hz4_heap *heap, hz4_segment *seg) {
  seg->prev = NULL;
  seg->next = heap->segs;
  if (heap->segs) heap->segs->prev = seg;
  heap->segs = seg;
}

static void hz4_segs_remove(hz4_heap *heap, hz4_segment *seg) {
  if (seg->prev) seg->prev->next = seg->next;
  else heap->segs = seg->next;
  if (seg->next) seg->next->prev = seg->prev;
  seg->next = seg->prev = NULL;
}

/* ---- the heap's per-class lists of pages with room ---- */

static void hz4_partial_push(hz4_heap *heap, hz4_page *page) {
  page->in_partial = 1;
  page->prev = NULL;
  page->next = heap->partial[page->cls];
  if (page->next) page->next->prev = page;
  heap->partial[page->cls] = page;
}

static void hz4_partial_remove(hz4_heap *heap, hz4_page *page) {
  page->in_partial = 0;
  if (page->prev) page->prev->next = page->next;
  else heap->partial[page->cls] = page->next;
  if (page->next) page->next->prev = page->prev;
  page->next = page->prev = NULL;
}

#if HZ4_BUDGET_PARTIAL
/* The dirty budget's second stage (common/hz_budget.h), per heap: the pool
 * bounds empty segments (hz4_segment_release), this bounds the free slices
 * of segments that still hold pages, which otherwise wait for a purge that
 * runs only from this heap's page slow paths. */
static inline uint64_t hz4_heap_dirty(const hz4_heap *heap) {
  return heap->dirty_count + (heap->loose_bytes >> HZ4_SLICE_SHIFT);
}

/* All of a loose object but its first two words (the link and the mark). */
static void hz4_loose_return(hz4_heap *heap, hz4_page *page, void *p) {
  hz_os_decommit_interior(p, page->size, 2 * sizeof(void *));  /* the link and the mark */
  ((uintptr_t *)p)[1] = HZ4_LOOSE_RETURNED;
  page->loose--;
  heap->loose_bytes -= page->size;
}

/* Loose objects (HZ4_LOOSE_MIN_SIZE) of the heap's live pages, until about
 * `want` slices' worth are returned. */
static void hz4_heap_return_loose(hz4_heap *heap, uint64_t want) {
  uint64_t goal = heap->loose_bytes > (want << HZ4_SLICE_SHIFT) ? heap->loose_bytes - (want << HZ4_SLICE_SHIFT) : 0;
  for (unsigned cls = HZ4_CLASS_COUNT; cls-- > 0 && heap->loose_bytes > goal;) {
    if (hz4_classes[cls].size < HZ4_LOOSE_MIN_SIZE) break;
    for (hz4_page *page = heap->partial[cls]; page != NULL && heap->loose_bytes > goal; page = page->next) {
      for (void *p = page->free; p != NULL && page->loose != 0; p = *(void **)p)
        if (((uintptr_t *)p)[1] == HZ4_LOOSE_RESIDENT) hz4_loose_return(heap, page, p);
    }
  }
}

static void hz4_heap_over_budget(hz4_heap *heap) {
  uint64_t limit = hz_dirty_budget_units(heap->slices_used, HZ4_SLICE_SHIFT);
  uint64_t dirty = hz4_heap_dirty(heap);
  if (dirty <= hz_refault_budget(&heap->refault, limit)) return;
  uint64_t now = hz_os_now_ms();
  uint64_t want = hz_refault_pass_begin(&heap->refault, limit, dirty, now);
  if (want == 0) return;
  uint64_t units[HZ_AGE_BUCKETS] = {0}, before = dirty, from_cut;
  unsigned cut;
  for (hz4_segment *seg = heap->segs; seg != NULL; seg = seg->next)
    if (seg->dirty_slices) units[hz_age_bucket(now, seg->dirty_since_ms)] += hz_popcount64(seg->dirty_slices);
  hz_age_cut(units, want, &cut, &from_cut);
  for (hz4_segment *seg = heap->segs; seg != NULL; seg = seg->next) {
    if (seg->dirty_slices &&
        hz_age_take(hz_age_bucket(now, seg->dirty_since_ms), hz_popcount64(seg->dirty_slices), cut, &from_cut))
      hz4_seg_decommit(heap, seg);
  }
  uint64_t done = before - hz4_heap_dirty(heap);
  if (done < want) hz4_heap_return_loose(heap, want - done);
  hz_refault_pass_end(&heap->refault, before - hz4_heap_dirty(heap), now);
  hz_stat_add(HZ_STAT_BUDGET_DECOMMITS, 1);
}
#endif

/* ---- pages ---- */

static void hz4_page_release_locked(hz4_heap *heap, hz4_page *page);
static void hz4_heap_purge_locked(hz4_heap *heap);

static hz4_page *hz4_page_carve(hz4_heap *heap, hz4_segment *seg, int first, unsigned cls, unsigned slices);

/* Called and returns with the slice lock held; drops it for a new segment. */
static hz4_page *hz4_page_alloc_locked(hz4_heap *heap, unsigned cls, unsigned slices, unsigned align_slices) {
  hz4_segment *seg;
  int first = -1;
  for (seg = heap->segs; seg != NULL; seg = seg->next) {
    /* Prefer slices that are still resident: no page faults, no RSS growth. */
    first = hz4_find_run(seg->free_slices & seg->dirty_slices, slices, align_slices);
    if (first < 0) first = hz4_find_run(seg->free_slices, slices, align_slices);
    if (first >= 0) break;
  }
  if (first < 0) {
    /* The reclaim takes the heaps lock and parked heaps' slice locks: not
     * under ours. The new segment is nobody else's until it is listed. */
    hz4_slices_unlock(heap);
    /* Before new memory: dead threads' heaps whose objects came home. */
    hz4_parked_reclaim_flagged();
    seg = hz4_segment_acquire(heap);
    hz4_slices_lock(heap);
    if (seg == NULL) return NULL;
    hz4_segs_add(heap, seg);
    heap->dirty_count += hz_popcount64(seg->dirty_slices);
    if (seg->dirty_slices != 0) hz4_slices_note(heap);  /* resident slices from the pool */
    first = hz4_find_run(seg->free_slices & seg->dirty_slices, slices, align_slices);
    if (first < 0) first = hz4_find_run(seg->free_slices, slices, align_slices);
    if (first < 0) return NULL;  /* cannot happen for slices <= 32, align <= 32 */
  }
  return hz4_page_carve(heap, seg, first, cls, slices);
}

hz4_page *hz4_page_alloc(hz4_heap *heap, unsigned cls, unsigned slices, unsigned align_slices) {
  hz4_slices_lock(heap);
  hz4_page *page = hz4_page_alloc_locked(heap, cls, slices, align_slices);
  hz4_slices_unlock(heap);
  return page;
}

/* Takes the run at `first` of `seg` for a new page; under the slice lock. */
static hz4_page *hz4_page_carve(hz4_heap *heap, hz4_segment *seg, int first, unsigned cls, unsigned slices) {
  uint64_t run = hz4_run_mask((unsigned)first, slices);
  bool zero = (seg->zero_slices & run) == run;
  heap->slices_used += slices;
  heap->dirty_count -= hz_popcount64(seg->dirty_slices & run);
#if HZ4_BUDGET_PARTIAL
  hz_refault_note(&heap->refault, hz_popcount64(run & ~seg->dirty_slices));
#endif
  seg->free_slices &= ~run;
  seg->dirty_slices &= ~run;
  seg->zero_slices &= ~run;
  if (seg->free_slices == 0) hz4_segs_remove(heap, seg);

  hz4_page *page = &seg->pages[first];
  page->free = NULL;
  page->next = page->prev = NULL;
  page->used = 0;
  page->carved = 0;
  page->cls = (uint8_t)cls;
  page->slices = (uint8_t)slices;
  page->in_partial = 0;
  page->loose = 0;
  page->zero = zero;
  page->color = 0;
  if (cls == HZ4_CLS_BLOCK) {
    page->size = (uint32_t)(slices * HZ4_SLICE_SIZE);
    page->capacity = 1;
  } else {
    page->size = hz4_classes[cls].size;
    page->capacity = hz4_classes[cls].capacity;
    /* Spread over the colours by the page's address (slice number). */
    uintptr_t slice_no = (uintptr_t)hz4_page_start(page) >> HZ4_SLICE_SHIFT;
    page->color = (uint8_t)((slice_no * 13) % hz4_classes[cls].colors);
  }
  uint32_t tag = (heap->id << HZ4_OWNER_SHIFT) | cls;
  if (cls == HZ4_CLS_BLOCK) tag |= HZ4_TAG_BLOCK;
  for (unsigned i = 0; i < slices; i++) {
    seg->page_of[first + i] = (uint8_t)first;
    seg->tags[first + i] = tag;
  }
  hz_stat_add(HZ_STAT_SPANS_ALLOCATED, 1);
  return page;
}

void hz4_page_release(hz4_heap *heap, hz4_page *page) {
  hz4_slices_lock(heap);
  hz4_page_release_locked(heap, page);
  hz4_slices_unlock(heap);
}

static void hz4_page_release_locked(hz4_heap *heap, hz4_page *page) {
  hz4_segment *seg = hz4_segment_of(page);
  unsigned first = (unsigned)(page - seg->pages), slices = page->slices;
  for (unsigned i = 0; i < slices; i++) seg->tags[first + i] = 0;
  heap->loose_bytes -= (uint64_t)page->loose * page->size;
  page->loose = 0;
  page->slices = 0;
  page->used = 0;
  page->free = NULL;
  uint64_t run = hz4_run_mask(first, slices);
  if (seg->free_slices == 0) hz4_segs_add(heap, seg);
  seg->free_slices |= run;
  heap->slices_used -= slices;
  uint64_t now = hz_os_now_ms();
  if (hz_options.purge_delay_ms == 0) {  /* (a draining heap decommits in its final pass) */
    hz_os_decommit((char *)seg + ((size_t)first << HZ4_SLICE_SHIFT), (size_t)slices << HZ4_SLICE_SHIFT);
  } else {
    heap->dirty_count += hz_popcount64(run & ~seg->dirty_slices);
    seg->dirty_slices |= run;
    seg->dirty_since_ms = now;
    hz4_slices_note(heap);
  }
  hz_stat_add(HZ_STAT_SPANS_RELEASED, 1);
  /* An empty segment goes to the pool unless it is the heap's only one. */
  if (seg->free_slices == HZ4_SEG_EMPTY && !heap->draining &&
      (heap->segs != seg || seg->next != NULL)) {
    hz4_segs_remove(heap, seg);
    heap->dirty_count -= hz_popcount64(seg->dirty_slices);
    hz4_segment_release(seg);
  }
  hz4_heap_purge_locked(heap);
#if HZ4_BUDGET_PARTIAL
  hz4_heap_over_budget(heap);
#endif
}

#if HZ4_BUDGET_PARTIAL
/* A loose object stays in its live page: mark it, count it, check the budget
 * (out of line: the common page_put stays as short as before). */
static void hz4_loose_put_locked(hz4_heap *heap, hz4_page *page, void *p) {
  ((uintptr_t *)p)[1] = HZ4_LOOSE_RESIDENT;
  page->loose++;
  heap->loose_bytes += page->size;
#if HZ4_LOOSE_LOCKED
  heap->loose_put_ms = hz_os_now_ms();
  hz4_slices_note(heap);
#endif
  hz4_heap_over_budget(heap);
}

static hz_noinline void hz4_loose_put(hz4_heap *heap, hz4_page *page, void *p) {
  hz4_slices_lock(heap);
  hz4_loose_put_locked(heap, page, p);
  hz4_slices_unlock(heap);
}
#endif

/* `locked`: the caller holds the slice lock (HZ4_LOOSE_PURGE's classes). */
static inline __attribute__((always_inline)) void hz4_page_put_in(hz4_heap *heap, hz4_page *page, void *p,
                                                                  bool locked) {
  /* Cheap guards against a double free reaching the page: a second copy of
   * the object must not make a page with live objects look empty. */
  if (hz_unlikely(page->used == 0 || p == page->free || page->slices == 0)) {
    hz_stat_add(HZ_STAT_INVALID_FREES, 1);
    return;
  }
  *(void **)p = page->free;
  page->free = p;
  page->used--;
  if (!page->in_partial) hz4_partial_push(heap, page);
  if (page->used == 0 &&
      (!HZ4_SPARE_PAGE || heap->partial[page->cls] != page || page->next != NULL)) {
    hz4_partial_remove(heap, page);
    if (locked) hz4_page_release_locked(heap, page);
    else hz4_page_release(heap, page);
  }
#if HZ4_BUDGET_PARTIAL
  /* (With HZ4_LOOSE_LOCKED these classes come here only locked.) */
  else if ((locked || !HZ4_LOOSE_LOCKED) && hz_unlikely(page->size >= HZ4_LOOSE_MIN_SIZE) &&
           page->cls != HZ4_CLS_BLOCK) {
    if (locked) hz4_loose_put_locked(heap, page, p);
    else hz4_loose_put(heap, page, p);
  }
#endif
}

#if HZ4_LOOSE_LOCKED
/* The purger walks these classes' partial pages and free lists. */
static hz_noinline void hz4_page_put_loose(hz4_heap *heap, hz4_page *page, void *p) {
  hz4_slices_lock(heap);
  hz4_page_put_in(heap, page, p, true);
  hz4_slices_unlock(heap);
}
#endif

void hz4_page_put(hz4_heap *heap, hz4_page *page, void *p) {
#if HZ4_LOOSE_LOCKED
  if (hz_unlikely(page->size >= HZ4_LOOSE_MIN_SIZE) && page->cls != HZ4_CLS_BLOCK) {
    hz4_page_put_loose(heap, page, p);
    return;
  }
#endif
  hz4_page_put_in(heap, page, p, false);
}

static _Atomic uint64_t hz4_block_live;

void hz4_block_counted(uint64_t size, int sign) {
  if (sign > 0) atomic_fetch_add_explicit(&hz4_block_live, size, memory_order_relaxed);
  else atomic_fetch_sub_explicit(&hz4_block_live, size, memory_order_relaxed);
  hz_stat_large(sign, size);
}

uint64_t hz4_block_live_bytes(void) {
  return atomic_load_explicit(&hz4_block_live, memory_order_relaxed);
}

bool hz4_block_release(hz4_heap *heap, void *p) {
  hz4_page *page = hz4_page_of(p);
  if (page->slices == 0 || page->cls != HZ4_CLS_BLOCK || page->used != 1 ||
      hz4_page_start(page) != (char *)p || hz4_segment_of(p)->owner != heap)
    return false;
  page->used = 0;
  hz4_page_release(heap, page);
  return true;
}

bool hz4_block_resize(hz4_heap *heap, void *p, size_t size) {
  hz4_page *page = hz4_page_of(p);
  hz4_segment *seg = hz4_segment_of(p);
  if (page->slices == 0 || page->cls != HZ4_CLS_BLOCK || hz4_page_start(page) != (char *)p ||
      seg->owner != heap)
    return false;
  unsigned first = (unsigned)(page - seg->pages), old = page->slices;
  unsigned want = (unsigned)((size + HZ4_SLICE_SIZE - 1) >> HZ4_SLICE_SHIFT);
  if (want == 0) want = 1;
  if (want == old) return true;
  hz4_slices_lock(heap);
  if (want < old) {  /* shrink: the tail slices go back to the segment */
    uint64_t run = hz4_run_mask(first + want, old - want);
    for (unsigned i = first + want; i < first + old; i++) seg->tags[i] = 0;
    if (seg->free_slices == 0) hz4_segs_add(heap, seg);
    seg->free_slices |= run;
    heap->slices_used -= old - want;
    heap->dirty_count += hz_popcount64(run & ~seg->dirty_slices);
    seg->dirty_slices |= run;
    seg->dirty_since_ms = hz_os_now_ms();
    hz4_slices_note(heap);
  } else {           /* grow into free slices right behind the block */
    uint64_t run = first + want > HZ4_SLICES ? 0 : hz4_run_mask(first + old, want - old);
    if (run == 0 || (seg->free_slices & run) != run) {
      hz4_slices_unlock(heap);
      return false;
    }
    seg->free_slices &= ~run;
    heap->slices_used += want - old;
    heap->dirty_count -= hz_popcount64(seg->dirty_slices & run);
    seg->dirty_slices &= ~run;
    seg->zero_slices &= ~run;
    uint32_t tag = seg->tags[first];
    for (unsigned i = first + old; i < first + want; i++) {
      seg->page_of[i] = (uint8_t)first;
      seg->tags[i] = tag;
    }
    if (seg->free_slices == 0) hz4_segs_remove(heap, seg);
  }
  hz4_slices_unlock(heap);
  int64_t grown = (int64_t)(want * HZ4_SLICE_SIZE) - (int64_t)page->size;
  atomic_fetch_add_explicit(&hz4_block_live, (uint64_t)grown, memory_order_relaxed);
  if (hz_options.stats) hz_stat_band_sample(HZ_STAT_BAND_LARGE, 0, grown);
  page->slices = (uint8_t)want;
  page->size = (uint32_t)(want * HZ4_SLICE_SIZE);
  return true;
}

uint32_t hz4_page_take(hz4_heap *heap, unsigned cls, uint32_t want, bool new_page,
                       void **head_out, void **tail_out) {
  const hz4_class_info *info = &hz4_classes[cls];
  uint32_t got = 0;
  void *head = NULL, *tail = NULL;
  hz4_page *page = heap->partial[cls];
  bool loose = HZ4_BUDGET_PARTIAL && info->size >= HZ4_LOOSE_MIN_SIZE;
  uint64_t returned = 0;  /* bytes of decommitted loose objects taken again */
  bool locked = HZ4_LOOSE_LOCKED && loose;
  if (locked) hz4_slices_lock(heap);
  /* Every listed page yields at least one object, so this walk is as long
   * as the number of objects taken. */
  while (got < want) {
    if (page == NULL) {
      if (!new_page || got != 0) break;
      page = locked ? hz4_page_alloc_locked(heap, cls, info->slices, 1)
                    : hz4_page_alloc(heap, cls, info->slices, 1);
      if (page == NULL) break;
      hz4_partial_push(heap, page);
    }
    hz4_page *next = page->next;
    char *lo = hz4_page_start(page) + (size_t)page->color * 64, *hi = lo + (size_t)page->carved * info->stride;
    while (got < want && page->free != NULL) {
      void *p = page->free;
      if (hz_unlikely((char *)p < lo || (char *)p >= hi || page->used >= page->capacity)) {
        /* The list left the page: a double free overwrote a link. Drop the
         * rest of it rather than hand out objects of other pages twice. */
        hz_stat_add(HZ_STAT_INVALID_FREES, 1);
        page->free = NULL;
        break;
      }
      page->free = *(void **)p;
      if (loose) {
        uintptr_t mark = ((uintptr_t *)p)[1];
        if (mark == HZ4_LOOSE_RETURNED) {
          returned += info->size;
        } else if (mark == HZ4_LOOSE_RESIDENT && page->loose != 0) {
          page->loose--;
          heap->loose_bytes -= info->size;
        }
        ((uintptr_t *)p)[1] = 0;
      }
      if (tail) *(void **)tail = p;
      else head = p;
      tail = p;
      page->used++;
      got++;
    }
    if (got < want && page->carved < page->capacity) {
      uint32_t carve = page->capacity - page->carved;
      if (carve > want - got) carve = want - got;
      char *p = lo + (size_t)page->carved * info->stride;
      for (uint32_t i = 0; i < carve; i++, p += info->stride) {
        if (tail) *(void **)tail = p;
        else head = p;
        tail = p;
      }
      page->carved += carve;
      page->used += carve;
      got += carve;
    }
    if (page->free == NULL && page->carved == page->capacity) hz4_partial_remove(heap, page);
    page = next;
  }
  if (tail) *(void **)tail = NULL;
  if (locked) hz4_slices_unlock(heap);
#if HZ4_BUDGET_PARTIAL
  if (returned != 0) hz_refault_note(&heap->refault, returned >> HZ4_SLICE_SHIFT);
#else
  (void)returned;
#endif
  *head_out = head;
  *tail_out = tail;
  return got;
}

void hz4_heap_release_empty(hz4_heap *heap, bool decommit) {
  hz4_slices_lock(heap);
  for (unsigned cls = 0; cls < HZ4_CLASS_COUNT; cls++) {
    hz4_page *page = heap->partial[cls];
    while (page != NULL) {
      hz4_page *next = page->next;
      if (page->used == 0) {
        hz4_partial_remove(heap, page);
        hz4_page_release_locked(heap, page);
      }
      page = next;
    }
  }
  hz4_segment *seg = heap->segs;
  while (seg != NULL) {
    hz4_segment *next = seg->next;
    if (decommit && seg->dirty_slices != 0) hz4_seg_decommit(heap, seg);
    if (seg->free_slices == HZ4_SEG_EMPTY) {
      hz4_segs_remove(heap, seg);
      heap->dirty_count -= hz_popcount64(seg->dirty_slices);
      hz4_segment_release(seg);
    }
    seg = next;
  }
  hz4_slices_unlock(heap);
}

void hz4_heap_purge(hz4_heap *heap) {
  hz4_slices_lock(heap);
  hz4_heap_purge_locked(heap);
  hz4_slices_unlock(heap);
}

static void hz4_heap_purge_locked(hz4_heap *heap) {
  int64_t delay = hz_options.purge_delay_ms;
  if (delay < 0) return;
  uint64_t now = hz_os_now_ms();
  if (now - heap->purge_last_ms < (uint64_t)delay / 4) return;
  heap->purge_last_ms = now;
  if (HZ4_ADAPTIVE_CACHE) hz4_bins_decay(heap);
  for (hz4_segment *seg = heap->segs; seg != NULL; seg = seg->next) {
    if (seg->dirty_slices != 0 && hz_aged(now, seg->dirty_since_ms, (uint64_t)delay))
      hz4_seg_decommit(heap, seg);
  }
  hz4_pool_purge(false);
}

void hz4_heap_decommit_beyond(hz4_heap *heap, size_t keep) {
  size_t kept = 0;
  hz4_slices_lock(heap);
  for (hz4_segment *seg = heap->segs; seg != NULL; seg = seg->next) {
    if (seg->dirty_slices == 0) continue;
    size_t bytes = (size_t)hz_popcount64(seg->dirty_slices) << HZ4_SLICE_SHIFT;
    if (kept + bytes <= keep) kept += bytes;
    else hz4_seg_decommit(heap, seg);
  }
  hz4_slices_unlock(heap);
}

#if HZ4_SLICE_PURGE
/* The purger's look at one heap: segments whose free slices were all freed
 * a purge delay ago go back, as the owner's own tick would do on its next
 * page slow path, which an idle thread never reaches. A busy heap is looked
 * at again a delay later. */
static uint64_t hz4_heap_slices_due(hz4_heap *heap, uint64_t now, uint64_t delay, size_t *released) {
  if (!hz_lock_try(&heap->slices_lock)) return now + delay;
  uint64_t due = 0;
  for (hz4_segment *seg = heap->segs; seg != NULL; seg = seg->next) {
    if (seg->dirty_slices == 0) continue;
    if (hz_aged(now, seg->dirty_since_ms, delay)) {
      heap->dirty_count -= hz_popcount64(seg->dirty_slices);
      size_t bytes = hz4_segment_decommit(seg);
      *released += bytes;
      hz_stat_add(HZ_STAT_SLICE_PURGE_BYTES, bytes);
    } else {
      due = hz_due_min(due, seg->dirty_since_ms + delay);
    }
  }
#if HZ4_LOOSE_LOCKED
  /* Loose objects go back once the heap put none for a delay: an idle
   * heap's, all at once, under one hold of the lock. */
  if (heap->loose_bytes != 0) {
    if (hz_aged(now, heap->loose_put_ms, delay)) {
      uint64_t before = heap->loose_bytes;
      hz4_heap_return_loose(heap, (before >> HZ4_SLICE_SHIFT) + 1);
      *released += before - heap->loose_bytes;
      hz_stat_add(HZ_STAT_SLICE_PURGE_BYTES, before - heap->loose_bytes);
    } else {
      due = hz_due_min(due, heap->loose_put_ms + delay);
    }
  }
#endif
  hz4_slices_unlock(heap);
  return due;
}

static uint64_t hz4_slices_last_ms;  /* the last walk (under the caller's pass lock) */

uint64_t hz4_slices_purge_due(hz4_heap *const *first, uint64_t now, size_t *released) {
  int64_t delay = hz_options.purge_delay_ms;
  if (delay <= 0 || !atomic_load_explicit(&hz4_slices_pending, memory_order_relaxed)) return 0;
  /* Busy heaps re-dirty segments all the time, each with its own due time:
   * at most one walk (a try of every heap's lock) per quarter delay. */
  uint64_t gap = (uint64_t)delay / 4;
  if (now - hz4_slices_last_ms < gap) return hz4_slices_last_ms + gap;
  hz4_slices_last_ms = now;
  /* Cleared before the walk: a note made during it stays for the next. */
  atomic_exchange_explicit(&hz4_slices_pending, 0, memory_order_seq_cst);
  uint64_t due = 0;
  for (hz4_heap *heap = __atomic_load_n(first, __ATOMIC_ACQUIRE); heap != NULL; heap = heap->all_next) {
    due = hz_due_min(due, hz4_heap_slices_due(heap, now, (uint64_t)delay, released));
    due = hz_due_min(due, hz4_inbox_idle_purge(heap, now, released));
  }
  if (due != 0) atomic_store_explicit(&hz4_slices_pending, 1, memory_order_relaxed);
  return due;
}
#endif
