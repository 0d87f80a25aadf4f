/* bench_ring.h - bounded single-producer/single-consumer pointer ring.
 *
 * Thread i pushes into ring i, thread i+1 pops from it. head (consumer) and
 * tail (producer) live on separate cache lines; push/pop are wait-free.
 */
#ifndef HZ_BENCH_RING_H
#define HZ_BENCH_RING_H

#include "bench_common.h"

#include <stdatomic.h>

typedef struct bench_ring {
  char pad0[BENCH_PAD];
  _Atomic uint64_t head; /* next slot to pop, written by the consumer */
  char pad1[BENCH_PAD - sizeof(uint64_t)];
  _Atomic uint64_t tail; /* next slot to push, written by the producer */
  char pad2[BENCH_PAD - sizeof(uint64_t)];
  void **items;
  uint64_t cap;
  char pad3[BENCH_PAD];
} bench_ring;

static BENCH_UNUSED void bench_ring_init(const char *prog, bench_ring *r, uint64_t cap) {
  r->items = (void **)bench_xcalloc(prog, (size_t)cap, sizeof(void *));
  r->cap = cap;
  atomic_init(&r->head, 0);
  atomic_init(&r->tail, 0);
}

static BENCH_UNUSED void bench_ring_destroy(bench_ring *r) {
  free(r->items);
  r->items = NULL;
}

/* Producer side; 0 when full. */
static inline int bench_ring_push(bench_ring *r, void *p) {
  uint64_t t = atomic_load_explicit(&r->tail, memory_order_relaxed);
  uint64_t h = atomic_load_explicit(&r->head, memory_order_acquire);
  if (t - h >= r->cap) return 0;
  r->items[t % r->cap] = p;
  atomic_store_explicit(&r->tail, t + 1, memory_order_release);
  return 1;
}

/* Consumer side; NULL when empty. */
static inline void *bench_ring_pop(bench_ring *r) {
  uint64_t h = atomic_load_explicit(&r->head, memory_order_relaxed);
  uint64_t t = atomic_load_explicit(&r->tail, memory_order_acquire);
  if (h == t) return NULL;
  void *p = r->items[h % r->cap];
  atomic_store_explicit(&r->head, h + 1, memory_order_release);
  return p;
}

/* Pop and free everything currently in the ring; returns the count. */
static inline uint64_t bench_ring_drain_free(bench_ring *r) {
  uint64_t n = 0;
  void *p;
  while ((p = bench_ring_pop(r)) != NULL) {
    free(p);
    n++;
  }
  return n;
}

#endif /* HZ_BENCH_RING_H */
