/* hz3 span reserve (HZ3_SPAN_RESERVE): empty spans a heap keeps while their
 * class takes spans back soon after releasing them (docs/hz3.md,
 * main_phase_r50). */
#include "hz3_heap_internal.h"

#if HZ3_SPAN_RESERVE
static void hz3_reserve_drop_one(hz3_heap *heap, unsigned cls) {
  hz3_span *span = heap->reserve[cls];
  heap->reserve[cls] = span->next;
  span->next = NULL;
  heap->reserve_n[cls]--;
  heap->reserve_bytes -= (size_t)span->units << HZ3_UNIT_SHIFT;
  hz3_span_release(span);
}

void hz3_span_retire(hz3_heap *heap, hz3_span *span) {
  unsigned cls = span->cls;
  size_t bytes = (size_t)span->units << HZ3_UNIT_SHIFT;
  heap->span_tick++;
  if (heap->reserve_n[cls] < heap->reserve_keep[cls] && heap->reserve_bytes + bytes <= HZ3_RESERVE_BYTES &&
      hz3_classes[cls].size <= HZ3_RESERVE_MAX_SIZE) {
    hz3_partial_remove(heap, span);
#if HZ3_LOOSE_BUDGET
    heap->loose_bytes -= (uint64_t)span->loose * hz3_classes[cls].size;
    span->loose = 0;
#endif
    span->next = heap->reserve[cls];
    heap->reserve[cls] = span;
    heap->reserve_n[cls]++;
    heap->reserve_bytes += bytes;
    hz3_idle_note();
    return;
  }
  heap->released_tick[cls] = heap->span_tick;
  hz3_span_drop(heap, span);
}

hz3_span *hz3_reserve_take(hz3_heap *heap, unsigned cls) {
  uint32_t tick = ++heap->span_tick;
  hz3_span *span = heap->reserve[cls];
  if (span != NULL) {
    heap->reserve[cls] = span->next;
    span->next = NULL;
    heap->reserve_n[cls]--;
    heap->reserve_bytes -= (size_t)span->units << HZ3_UNIT_SHIFT;
    heap->reserve_hit[cls] = 1;
    return span;
  }
  /* A span of this class went back to the arena only a few span events ago:
   * the class churns, keep one more of its empty spans next time. */
  if (heap->released_tick[cls] != 0 && tick - heap->released_tick[cls] <= HZ3_RESERVE_WINDOW &&
      heap->reserve_keep[cls] < HZ3_RESERVE_MAX_KEEP) {
    heap->reserve_keep[cls]++;
    heap->released_tick[cls] = 0;
  }
  return NULL;
}

void hz3_reserve_decay(hz3_heap *heap) {
  for (unsigned cls = 0; cls < HZ3_CLASS_COUNT; cls++) {
    if (!heap->reserve_hit[cls]) heap->reserve_keep[cls] /= 2;
    heap->reserve_hit[cls] = 0;
    while (heap->reserve_n[cls] > heap->reserve_keep[cls]) hz3_reserve_drop_one(heap, cls);
  }
}

void hz3_reserve_release(hz3_heap *heap) {
  for (unsigned cls = 0; cls < HZ3_CLASS_COUNT; cls++) {
    while (heap->reserve[cls] != NULL) hz3_reserve_drop_one(heap, cls);
    heap->reserve_keep[cls] = 0;
    heap->released_tick[cls] = 0;
  }
}
#endif
