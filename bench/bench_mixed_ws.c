/* bench_mixed_ws - thread-local mixed working set with occasional realloc.
 *
 * usage: bench_mixed_ws [threads] [iters] [ws] [min] [max]
 * defaults 4 1000000 8192 16 1024 (the seed's).
 *
 * Each thread owns `ws` slots. Every iteration is one op:
 *   - every 64th iteration (i % 64 == 63) reallocs a random live slot to a
 *     new uniform[min, max] size (up to 8 probes for a live slot; when all
 *     are empty, realloc(NULL, size) fills the last probed one);
 *   - otherwise a random slot: full -> free, empty -> malloc(uniform[min,max]).
 * New/reallocated blocks get their first min(64, size) bytes and their last
 * byte written. Nothing crosses threads. Reports peak and post RSS.
 */
#include "bench_common.h"

static const bench_cli cli = {
    "bench_mixed_ws",
    "[threads] [iters] [ws] [min] [max]\n"
    "  threads  worker threads, 1..4096 (default 4)\n"
    "  iters    iterations per thread, >= 1 (default 1000000)\n"
    "  ws       working-set slots per thread, >= 1 (default 8192)\n"
    "  min max  block size range in bytes, 1 <= min <= max (default 16 1024)"};

typedef struct worker {
  char pad0[BENCH_PAD];
  uint64_t iters, ws, min, max;
  bench_rng rng;
  uint64_t ops, allocs, frees, reallocs, alloc_failures;
  char pad1[BENCH_PAD];
} worker;

static inline void fill(void *p, size_t sz) {
  memset(p, 0xA5, sz < 64 ? sz : 64);
  bench_touch(p, sz);
}

static void *worker_main(void *arg) {
  worker *w = (worker *)arg;
  bench_rng rng = w->rng;
  const uint64_t ws = w->ws;
  void **slots = (void **)calloc((size_t)ws, sizeof(void *));
  if (!slots) {
    fprintf(stderr, "bench_mixed_ws: cannot allocate the slot array\n");
    exit(1);
  }
  uint64_t allocs = 0, frees = 0, reallocs = 0, fails = 0;
  for (uint64_t i = 0; i < w->iters; i++) {
    if ((i & 63) == 63) {
      uint64_t idx = 0;
      for (int probe = 0; probe < 8; probe++) {
        idx = bench_rng_below(&rng, ws);
        if (slots[idx]) break;
      }
      size_t sz = (size_t)bench_rng_range(&rng, w->min, w->max);
      void *q = realloc(slots[idx], sz);
      if (!q) { /* the old block (if any) is still valid and stays */
        fails++;
        continue;
      }
      fill(q, sz);
      slots[idx] = q;
      reallocs++;
      continue;
    }
    uint64_t idx = bench_rng_below(&rng, ws);
    if (slots[idx]) {
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
      fill(p, sz);
      slots[idx] = p;
      allocs++;
    }
  }
  for (uint64_t j = 0; j < ws; j++) free(slots[j]);
  free(slots);
  w->allocs = allocs;
  w->frees = frees;
  w->reallocs = reallocs;
  w->alloc_failures = fails;
  w->ops = allocs + frees + reallocs;
  return NULL;
}

int main(int argc, char **argv) {
  bench_check_argc(&cli, argc, argv, 5);
  unsigned threads = (unsigned)bench_arg_u64(&cli, argc, argv, 1, "threads", 4, 1, BENCH_MAX_THREADS);
  uint64_t iters = bench_arg_u64(&cli, argc, argv, 2, "iters", 1000000, 1, UINT64_MAX / 8);
  uint64_t ws = bench_arg_u64(&cli, argc, argv, 3, "ws", 8192, 1, 1ull << 32);
  uint64_t min = bench_arg_u64(&cli, argc, argv, 4, "min", 16, 1, BENCH_MAX_SIZE);
  uint64_t max = bench_arg_u64(&cli, argc, argv, 5, "max", min > 1024 ? min : 1024, 1, BENCH_MAX_SIZE);
  if (max < min) bench_usage_fail(&cli, "max (%llu) < min (%llu)", (unsigned long long)max, (unsigned long long)min);

  worker *ws_ = (worker *)bench_xcalloc(cli.prog, threads, sizeof(worker));
  pthread_t *tids = (pthread_t *)bench_xcalloc(cli.prog, threads, sizeof(pthread_t));
  for (unsigned i = 0; i < threads; i++) {
    ws_[i].iters = iters;
    ws_[i].ws = ws;
    ws_[i].min = min;
    ws_[i].max = max;
    bench_rng_seed(&ws_[i].rng, BENCH_SEED, i);
  }
  double t0 = bench_now();
  for (unsigned i = 0; i < threads; i++) bench_spawn(cli.prog, &tids[i], worker_main, &ws_[i]);
  for (unsigned i = 0; i < threads; i++) bench_join(tids[i]);
  double secs = bench_now() - t0;

  uint64_t ops = 0, allocs = 0, frees = 0, reallocs = 0, fails = 0;
  for (unsigned i = 0; i < threads; i++) {
    ops += ws_[i].ops;
    allocs += ws_[i].allocs;
    frees += ws_[i].frees;
    reallocs += ws_[i].reallocs;
    fails += ws_[i].alloc_failures;
  }
  free(tids);
  free(ws_);

  bench_mem m = bench_read_mem();
  printf("threads=%u iters=%llu ws=%llu size=%llu..%llu time=%.3f ops/s=%.3f peak_kb=%ld current_kb=%ld\n",
         threads, (unsigned long long)iters, (unsigned long long)ws, (unsigned long long)min,
         (unsigned long long)max, secs, bench_rate((double)ops, secs), m.hwm_kb, m.rss_kb);
  bench_result("mixed_ws", ops, secs,
               " threads=%u iters=%llu ws=%llu min=%llu max=%llu allocs=%llu frees=%llu reallocs=%llu"
               " alloc_failures=%llu",
               threads, (unsigned long long)iters, (unsigned long long)ws, (unsigned long long)min,
               (unsigned long long)max, (unsigned long long)allocs, (unsigned long long)frees,
               (unsigned long long)reallocs, (unsigned long long)fails);
  return 0;
}
