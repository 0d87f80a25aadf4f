/* bench_cache_scratch / bench_cache_thrash - false-sharing probes.
 * One source, two programs (BENCH_CACHE_SCRATCH=1 or 0).
 *
 * usage: bench_cache_scratch [threads] [iters] [objsize] [repeats]
 *        bench_cache_thrash  [threads] [iters] [objsize] [repeats]
 * defaults 4 1000 8 1000.
 *
 * Written from the published descriptions of Hoard's cache-thrash and
 * cache-scratch:
 *   cache-thrash  (active false sharing): every thread repeats `iters` times
 *                 "malloc(objsize); write every byte of it `repeats` times;
 *                 free". An allocator that hands neighbouring small blocks to
 *                 different threads makes the threads write the same cache
 *                 lines.
 *   cache-scratch (passive false sharing): the main thread first mallocs one
 *                 objsize block per thread, back to back (so they share cache
 *                 lines), and hands block t to thread t, which frees it and
 *                 then runs the cache-thrash loop. An allocator that reuses
 *                 the freed block for the thread's own objects re-creates the
 *                 sharing the main thread set up.
 * Threads start together (barrier). iters and repeats are per thread.
 * ops = malloc + free calls; writes = byte writes done (extra key).
 */
#include "bench_common.h"

#ifndef BENCH_CACHE_SCRATCH
#error "define BENCH_CACHE_SCRATCH to 1 (cache-scratch) or 0 (cache-thrash)"
#endif

#if BENCH_CACHE_SCRATCH
#define PROG "bench_cache_scratch"
#define NAME "cache_scratch"
#else
#define PROG "bench_cache_thrash"
#define NAME "cache_thrash"
#endif

static const bench_cli cli = {
    PROG,
    "[threads] [iters] [objsize] [repeats]\n"
    "  threads  worker threads, 1..4096 (default 4)\n"
    "  iters    malloc/write/free cycles per thread, >= 1 (default 1000)\n"
    "  objsize  object size in bytes, 1..1048576 (default 8)\n"
    "  repeats  times every byte of an object is written per cycle, >= 1 (default 1000)"};

typedef struct worker {
  char pad0[BENCH_PAD];
  void *initial; /* cache-scratch: the block the main thread gave us */
  uint64_t iters, objsize, repeats;
  pthread_barrier_t *barrier;
  uint64_t allocs, frees, alloc_failures, writes;
  char pad1[BENCH_PAD];
} worker;

static void *worker_main(void *arg) {
  worker *w = (worker *)arg;
  const size_t objsize = (size_t)w->objsize;
  uint64_t allocs = 0, frees = 0, fails = 0, writes = 0;
  pthread_barrier_wait(w->barrier);
  if (w->initial) {
    free(w->initial);
    frees++;
  }
  for (uint64_t i = 0; i < w->iters; i++) {
    volatile unsigned char *p = (volatile unsigned char *)malloc(objsize);
    if (!p) {
      fails++;
      continue;
    }
    allocs++;
    for (uint64_t r = 0; r < w->repeats; r++)
      for (size_t k = 0; k < objsize; k++) p[k] = (unsigned char)(p[k] + 1);
    writes += w->repeats * objsize;
    free((void *)p);
    frees++;
  }
  w->allocs = allocs;
  w->frees = frees;
  w->alloc_failures = fails;
  w->writes = writes;
  return NULL;
}

int main(int argc, char **argv) {
  bench_check_argc(&cli, argc, argv, 4);
  unsigned threads = (unsigned)bench_arg_u64(&cli, argc, argv, 1, "threads", 4, 1, BENCH_MAX_THREADS);
  uint64_t iters = bench_arg_u64(&cli, argc, argv, 2, "iters", 1000, 1, 1ull << 40);
  uint64_t objsize = bench_arg_u64(&cli, argc, argv, 3, "objsize", 8, 1, 1ull << 20);
  uint64_t repeats = bench_arg_u64(&cli, argc, argv, 4, "repeats", 1000, 1, 1ull << 40);

  worker *ws = (worker *)bench_xcalloc(cli.prog, threads, sizeof(worker));
  pthread_t *tids = (pthread_t *)bench_xcalloc(cli.prog, threads, sizeof(pthread_t));
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, threads);
  uint64_t main_allocs = 0, main_fails = 0;
  for (unsigned i = 0; i < threads; i++) {
    ws[i].iters = iters;
    ws[i].objsize = objsize;
    ws[i].repeats = repeats;
    ws[i].barrier = &barrier;
  }
#if BENCH_CACHE_SCRATCH
  /* Back-to-back small blocks from the main thread: one per worker. */
  for (unsigned i = 0; i < threads; i++) {
    void *p = malloc((size_t)objsize);
    if (!p) {
      main_fails++;
      continue;
    }
    memset(p, 0x5A, (size_t)objsize);
    bench_touch(p, (size_t)objsize);
    ws[i].initial = p;
    main_allocs++;
  }
#endif

  double t0 = bench_now();
  for (unsigned i = 0; i < threads; i++) bench_spawn(cli.prog, &tids[i], worker_main, &ws[i]);
  for (unsigned i = 0; i < threads; i++) bench_join(tids[i]);
  double secs = bench_now() - t0;

  uint64_t allocs = 0, frees = 0, fails = main_fails, writes = 0;
  for (unsigned i = 0; i < threads; i++) {
    allocs += ws[i].allocs;
    frees += ws[i].frees;
    fails += ws[i].alloc_failures;
    writes += ws[i].writes;
  }
  pthread_barrier_destroy(&barrier);
  free(ws);
  free(tids);

  uint64_t ops = allocs + frees;
  printf("%s: threads=%u iters=%llu objsize=%llu repeats=%llu time=%.6f ops/s=%.2f writes/s=%.0f "
         "alloc_failures=%llu\n",
         PROG, threads, (unsigned long long)iters, (unsigned long long)objsize,
         (unsigned long long)repeats, secs, bench_rate((double)ops, secs), bench_rate((double)writes, secs),
         (unsigned long long)fails);
  bench_result(NAME, ops, secs,
               " threads=%u iters=%llu objsize=%llu repeats=%llu writes=%llu writes_per_s=%.0f"
               " main_allocs=%llu alloc_failures=%llu",
               threads, (unsigned long long)iters, (unsigned long long)objsize, (unsigned long long)repeats,
               (unsigned long long)writes, bench_rate((double)writes, secs), (unsigned long long)main_allocs,
               (unsigned long long)fails);
  return 0;
}
