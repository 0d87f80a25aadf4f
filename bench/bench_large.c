/* bench_large - large-object churn.
 *
 * usage: bench_large [threads] [iters] [min] [max] [ws]
 * defaults 4 2000 262144 4194304 16 (256 KiB .. 4 MiB, 16 slots per thread).
 *
 * Each thread owns `ws` slots (default 16). Every iteration is one op:
 *   - every 8th iteration (i % 8 == 7) reallocs a random slot to a new
 *     uniform[min, max] size (realloc(NULL, size) when the slot is empty);
 *   - otherwise a random slot: full -> free, empty -> malloc(uniform[min,max]).
 * New and reallocated blocks get their first and last byte written (so each
 * block costs at least two resident pages, not its full size: this measures
 * the allocator's large path -- mapping, caching, returning memory -- rather
 * than memset bandwidth). Nothing crosses threads.
 */
#include "bench_common.h"

static const bench_cli cli = {
    "bench_large",
    "[threads] [iters] [min] [max] [ws]\n"
    "  threads  worker threads, 1..4096 (default 4)\n"
    "  iters    iterations per thread, >= 1 (default 2000)\n"
    "  min max  block size range in bytes, 1 <= min <= max (default 262144 4194304)\n"
    "  ws       slots per thread, >= 1 (default 16)"};

typedef struct worker {
  char pad0[BENCH_PAD];
  uint64_t iters, min, max, ws;
  bench_rng rng;
  uint64_t allocs, frees, reallocs, alloc_failures;
  char pad1[BENCH_PAD];
} worker;

static void *worker_main(void *arg) {
  worker *w = (worker *)arg;
  bench_rng rng = w->rng;
  void **slots = (void **)calloc((size_t)w->ws, sizeof(void *));
  if (!slots) {
    fprintf(stderr, "bench_large: cannot allocate the slot array\n");
    exit(1);
  }
  uint64_t allocs = 0, frees = 0, reallocs = 0, fails = 0;
  for (uint64_t i = 0; i < w->iters; i++) {
    uint64_t idx = bench_rng_below(&rng, w->ws);
    if ((i & 7) == 7) {
      size_t sz = (size_t)bench_rng_range(&rng, w->min, w->max);
      void *q = realloc(slots[idx], sz);
      if (!q) { /* the old block stays valid */
        fails++;
        continue;
      }
      bench_touch(q, sz);
      slots[idx] = q;
      reallocs++;
    } else if (slots[idx]) {
      free(slots[idx]);
      slots[idx] = NULL;
      frees++;
    } else {
      size_t sz = (size_t)bench_rng_range(&rng, w->min, w->max);
      void *p = malloc(sz);
      if (!p) {
        fails++;
        continue;
      }
      bench_touch(p, sz);
      slots[idx] = p;
      allocs++;
    }
  }
  for (uint64_t j = 0; j < w->ws; j++) free(slots[j]);
  free(slots);
  w->allocs = allocs;
  w->frees = frees;
  w->reallocs = reallocs;
  w->alloc_failures = fails;
  return NULL;
}

int main(int argc, char **argv) {
  bench_check_argc(&cli, argc, argv, 5);
  unsigned threads = (unsigned)bench_arg_u64(&cli, argc, argv, 1, "threads", 4, 1, BENCH_MAX_THREADS);
  uint64_t iters = bench_arg_u64(&cli, argc, argv, 2, "iters", 2000, 1, UINT64_MAX / 8);
  uint64_t min = bench_arg_u64(&cli, argc, argv, 3, "min", 262144, 1, BENCH_MAX_SIZE);
  uint64_t max = bench_arg_u64(&cli, argc, argv, 4, "max", min > 4194304 ? min : 4194304, 1, BENCH_MAX_SIZE);
  if (max < min) bench_usage_fail(&cli, "max (%llu) < min (%llu)", (unsigned long long)max, (unsigned long long)min);
  uint64_t ws = bench_arg_u64(&cli, argc, argv, 5, "ws", 16, 1, 1ull << 24);

  worker *ws_ = (worker *)bench_xcalloc(cli.prog, threads, sizeof(worker));
  pthread_t *tids = (pthread_t *)bench_xcalloc(cli.prog, threads, sizeof(pthread_t));
  for (unsigned i = 0; i < threads; i++) {
    ws_[i].iters = iters;
    ws_[i].min = min;
    ws_[i].max = max;
    ws_[i].ws = ws;
    bench_rng_seed(&ws_[i].rng, BENCH_SEED, i);
  }
  double t0 = bench_now();
  for (unsigned i = 0; i < threads; i++) bench_spawn(cli.prog, &tids[i], worker_main, &ws_[i]);
  for (unsigned i = 0; i < threads; i++) bench_join(tids[i]);
  double secs = bench_now() - t0;

  uint64_t allocs = 0, frees = 0, reallocs = 0, fails = 0;
  for (unsigned i = 0; i < threads; i++) {
    allocs += ws_[i].allocs;
    frees += ws_[i].frees;
    reallocs += ws_[i].reallocs;
    fails += ws_[i].alloc_failures;
  }
  free(ws_);
  free(tids);

  uint64_t ops = allocs + frees + reallocs;
  printf("bench_large: threads=%u iters=%llu size=%llu..%llu ws=%llu time=%.6f ops/s=%.2f reallocs=%llu "
         "alloc_failures=%llu\n",
         threads, (unsigned long long)iters, (unsigned long long)min, (unsigned long long)max,
         (unsigned long long)ws, secs, bench_rate((double)ops, secs), (unsigned long long)reallocs,
         (unsigned long long)fails);
  bench_result("large", ops, secs,
               " threads=%u iters=%llu min=%llu max=%llu ws=%llu allocs=%llu frees=%llu reallocs=%llu"
               " alloc_failures=%llu",
               threads, (unsigned long long)iters, (unsigned long long)min, (unsigned long long)max,
               (unsigned long long)ws, (unsigned long long)allocs, (unsigned long long)frees,
               (unsigned long long)reallocs, (unsigned long long)fails);
  return 0;
}
