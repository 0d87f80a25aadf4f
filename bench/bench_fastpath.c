/* bench_fastpath - instructions per malloc+free pair (for callgrind).
 *
 * usage: bench_fastpath [size] [iters] [warm]
 * defaults 64 10000000 0.
 *
 * One thread runs, in the non-inlined function fastpath_loop(),
 *     for (i = 0; i < iters; i++) {
 *       p = malloc(size);
 *       if (!p) { failures++; continue; }
 *       *(volatile char *)p = 1;
 *       free(p);
 *     }
 * `warm` (a number of pairs, or the word "warm" = 1000 pairs) first runs the
 * same loop untimed so caches and the allocator's per-thread state exist.
 * Nothing else happens in the loop, so under valgrind the instruction count
 * per pair is the allocator's malloc+free fast path plus the loop's own 12.
 *
 * Counting instructions per pair with callgrind (either way):
 *  a) difference of two runs (cancels start-up, warm-up and exit cost):
 *       valgrind --tool=callgrind --callgrind-out-file=cg.N1 ./bench_fastpath 64 N1
 *       valgrind --tool=callgrind --callgrind-out-file=cg.N2 ./bench_fastpath 64 N2
 *     Ir/pair = (total Ir(N2) - total Ir(N1)) / (N2 - N1)
 *     (totals: the "totals:" line of each output file; e.g. N1 = 100000,
 *     N2 = 1100000; LD_PRELOAD goes in valgrind's own environment);
 *  b) one run, counting only the loop:
 *       valgrind --tool=callgrind --toggle-collect=fastpath_loop ./bench_fastpath 64 N 1000
 *     Ir/pair = collected Ir / (N + warm pairs) (the warm call is collected
 *     too; its first pairs take slow paths, so use a large N).
 * Both include the loop itself: 12 Ir per pair (gcc 12 -O2, x86-64: 10 loop
 * instructions + 2 PLT jumps).
 * Without valgrind it prints ns per pair.
 */
#include "bench_common.h"

static const bench_cli cli = {
    "bench_fastpath",
    "[size] [iters] [warm]\n"
    "  size   bytes per malloc, 1..1073741824 (default 64)\n"
    "  iters  malloc+free pairs in the measured loop, >= 1 (default 10000000)\n"
    "  warm   untimed warm-up pairs before the loop: a count or the word 'warm' (= 1000); default 0"};

/* Not static and never inlined: callgrind --toggle-collect=fastpath_loop. */
__attribute__((noinline)) uint64_t fastpath_loop(size_t size, uint64_t iters);

__attribute__((noinline)) uint64_t fastpath_loop(size_t size, uint64_t iters) {
  uint64_t failures = 0;
  for (uint64_t i = 0; i < iters; i++) {
    void *p = malloc(size);
    if (__builtin_expect(p == NULL, 0)) {
      failures++;
      continue;
    }
    *(volatile char *)p = 1;
    free(p);
  }
  return failures;
}

int main(int argc, char **argv) {
  bench_check_argc(&cli, argc, argv, 3);
  uint64_t size = bench_arg_u64(&cli, argc, argv, 1, "size", 64, 1, 1ull << 30);
  uint64_t iters = bench_arg_u64(&cli, argc, argv, 2, "iters", 10000000, 1, UINT64_MAX / 8);
  uint64_t warm = 0;
  if (argc > 3) {
    if (strcmp(argv[3], "warm") == 0)
      warm = 1000;
    else
      warm = bench_arg_u64(&cli, argc, argv, 3, "warm", 0, 0, UINT64_MAX / 8);
  }

  uint64_t failures = 0;
  if (warm) failures += fastpath_loop((size_t)size, warm);
  double t0 = bench_now();
  failures += fastpath_loop((size_t)size, iters);
  double secs = bench_now() - t0;

  printf("bench_fastpath: size=%llu iters=%llu warm=%llu time=%.6f ns/pair=%.3f alloc_failures=%llu\n",
         (unsigned long long)size, (unsigned long long)iters, (unsigned long long)warm, secs,
         secs * 1e9 / (double)iters, (unsigned long long)failures);
  bench_result("fastpath", iters, secs, " size=%llu iters=%llu warm=%llu ns_per_pair=%.3f alloc_failures=%llu",
               (unsigned long long)size, (unsigned long long)iters, (unsigned long long)warm,
               secs * 1e9 / (double)iters, (unsigned long long)failures);
  return 0;
}
