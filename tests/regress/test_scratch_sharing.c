/* Regression: cache-scratch false sharing. The main thread allocates one
 * small block per worker back to back (they share a cache line) and hands
 * block t to worker t, which frees it and then allocates its own blocks.
 * hz3 once cached the handed-over block in the worker's thread cache, so
 * every malloc of the worker returned it, in the line its sibling writes
 * (bench_cache_scratch ran at 0.43x of the peers). No block a worker gets may
 * share a cache line with the handed-over blocks. */
#include "hz_test.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>

#define WORKERS 2
#define ROUNDS 64

static void *handed[WORKERS];
static pthread_barrier_t barrier;
static int shared_lines;

static int same_line(const void *a, const void *b) {
  return ((uintptr_t)a >> 6) == ((uintptr_t)b >> 6);
}

static void *worker(void *arg) {
  long t = (long)arg;
  pthread_barrier_wait(&barrier);
  free(handed[t]);
  for (int i = 0; i < ROUNDS; i++) {
    void *p = malloc(8);
    for (int k = 0; k < WORKERS; k++)
      if (same_line(p, handed[k])) __atomic_add_fetch(&shared_lines, 1, __ATOMIC_RELAXED);
    *(volatile char *)p = 1;
    free(p);
  }
  return NULL;
}

int main(void) {
  pthread_t threads[WORKERS];
  pthread_barrier_init(&barrier, NULL, WORKERS);
  for (int i = 0; i < WORKERS; i++) handed[i] = malloc(8);
  for (long i = 0; i < WORKERS; i++) pthread_create(&threads[i], NULL, worker, (void *)i);
  for (int i = 0; i < WORKERS; i++) pthread_join(threads[i], NULL);
  CHECK(shared_lines == 0, "%d worker mallocs returned a block in a handed-over block's cache line", shared_lines);
  return hz_test_finish();
}
