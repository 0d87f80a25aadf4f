/* bench_st_churn - single-thread small-object churn.
 *
 * usage: bench_st_churn [iters] [min] [max] [ws]
 * defaults 10000000 16 256 1000.
 *
 * One thread, a working set of `ws` slots (default 1000). Every iteration
 * picks a random slot: full -> free it, empty -> malloc(uniform[min, max])
 * with the first and last byte written. Measures the allocator's
 * single-thread fast paths with a realistic mix of sizes and reuse distances.
 * ops = malloc + free calls (= iterations, minus allocation failures).
 */
#include "bench_common.h"

static const bench_cli cli = {
    "bench_st_churn",
    "[iters] [min] [max] [ws]\n"
    "  iters    iterations, >= 1 (default 10000000)\n"
    "  min max  block size range in bytes, 1 <= min <= max (default 16 256)\n"
    "  ws       working-set slots, >= 1 (default 1000)"};

int main(int argc, char **argv) {
  bench_check_argc(&cli, argc, argv, 4);
  uint64_t iters = bench_arg_u64(&cli, argc, argv, 1, "iters", 10000000, 1, UINT64_MAX / 8);
  uint64_t min = bench_arg_u64(&cli, argc, argv, 2, "min", 16, 1, BENCH_MAX_SIZE);
  uint64_t max = bench_arg_u64(&cli, argc, argv, 3, "max", min > 256 ? min : 256, 1, BENCH_MAX_SIZE);
  if (max < min) bench_usage_fail(&cli, "max (%llu) < min (%llu)", (unsigned long long)max, (unsigned long long)min);
  uint64_t ws = bench_arg_u64(&cli, argc, argv, 4, "ws", 1000, 1, 1ull << 32);

  void **slots = (void **)bench_xcalloc(cli.prog, (size_t)ws, sizeof(void *));
  bench_rng rng;
  bench_rng_seed(&rng, BENCH_SEED, 0);
  uint64_t allocs = 0, frees = 0, fails = 0;

  double t0 = bench_now();
  for (uint64_t i = 0; i < iters; i++) {
    uint64_t idx = bench_rng_below(&rng, ws);
    void *p = slots[idx];
    if (p) {
      free(p);
      slots[idx] = NULL;
      frees++;
    } else {
      size_t sz = (size_t)bench_rng_range(&rng, min, max);
      p = malloc(sz);
      if (!p) {
        fails++;
        continue;
      }
      bench_touch(p, sz);
      slots[idx] = p;
      allocs++;
    }
  }
  double secs = bench_now() - t0;

  for (uint64_t j = 0; j < ws; j++) free(slots[j]);
  free(slots);

  uint64_t ops = allocs + frees;
  printf("bench_st_churn: iters=%llu size=%llu..%llu ws=%llu time=%.6f ops/s=%.2f alloc_failures=%llu\n",
         (unsigned long long)iters, (unsigned long long)min, (unsigned long long)max, (unsigned long long)ws,
         secs, bench_rate((double)ops, secs), (unsigned long long)fails);
  bench_result("st_churn", ops, secs, " iters=%llu min=%llu max=%llu ws=%llu allocs=%llu frees=%llu alloc_failures=%llu",
               (unsigned long long)iters, (unsigned long long)min, (unsigned long long)max, (unsigned long long)ws,
               (unsigned long long)allocs, (unsigned long long)frees, (unsigned long long)fails);
  return 0;
}
