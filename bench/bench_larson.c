/* bench_larson - larson-style server churn with thread hand-over.
 *
 * usage: bench_larson [threads] [rounds] [min] [max] [chunks] [ops_per_round]
 * defaults 4 10 8 1000 1000 10000.
 *
 * Written from the published description of Larson & Krishnan's server
 * benchmark, with a fixed op count instead of a time limit (deterministic):
 * there are `threads` lanes, each owning an array of `chunks` blocks of
 * uniform[min, max] bytes, all allocated by the main thread before the clock
 * starts. A lane runs `rounds` rounds; each round is one thread that does
 * `ops_per_round` steps "free a random chunk, malloc a new random-size one in
 * its place" and then hands the array over to a newly created thread (it
 * calls pthread_create for the next round and exits), so most blocks are
 * freed by a thread that did not allocate them, and a thread's exit overlaps
 * its successor's work. Lanes run concurrently and independently (no barrier
 * between rounds). If a successor cannot be created the current thread runs
 * the next round itself (counted as spawn_failures).
 * ops = malloc + free calls in the workers.
 */
#include "bench_common.h"

static const bench_cli cli = {
    "bench_larson",
    "[threads] [rounds] [min] [max] [chunks] [ops_per_round]\n"
    "  threads        concurrent lanes (one live thread each), 1..4096 (default 4)\n"
    "  rounds         thread generations per lane, >= 1 (default 10)\n"
    "  min max        block size range in bytes, 1 <= min <= max (default 8 1000)\n"
    "  chunks         blocks owned by each lane, >= 1 (default 1000)\n"
    "  ops_per_round  free+malloc steps per thread, >= 1 (default 10000)"};

typedef struct lane {
  char pad0[BENCH_PAD];
  uint64_t rounds, min, max, chunks, ops_per_round;
  void **blocks;
  bench_rng rng;
  uint64_t round;       /* current round, advanced by the lane's thread */
  pthread_t *tids;      /* tids[r] = thread of round r, written by round r-1 */
  unsigned char *valid; /* valid[r] = 1 if tids[r] is a thread to join */
  uint64_t allocs, frees, alloc_failures, spawn_failures;
  char pad1[BENCH_PAD];
} lane;

static void *lane_worker(void *arg) {
  lane *l = (lane *)arg;
  for (;;) {
    bench_rng rng = l->rng;
    uint64_t allocs = 0, frees = 0, fails = 0;
    for (uint64_t k = 0; k < l->ops_per_round; k++) {
      uint64_t idx = bench_rng_below(&rng, l->chunks);
      if (l->blocks[idx]) {
        free(l->blocks[idx]);
        frees++;
      }
      size_t sz = (size_t)bench_rng_range(&rng, l->min, l->max);
      void *p = malloc(sz);
      l->blocks[idx] = p;
      if (!p) {
        fails++;
        continue;
      }
      bench_touch(p, sz);
      allocs++;
    }
    l->rng = rng;
    l->allocs += allocs;
    l->frees += frees;
    l->alloc_failures += fails;
    uint64_t next = ++l->round;
    if (next >= l->rounds) return NULL;
    /* Hand the lane over to a new thread and exit. */
    if (pthread_create(&l->tids[next], NULL, lane_worker, l) == 0) {
      l->valid[next] = 1;
      return NULL;
    }
    l->spawn_failures++; /* keep going in this thread */
  }
}

int main(int argc, char **argv) {
  bench_check_argc(&cli, argc, argv, 6);
  unsigned threads = (unsigned)bench_arg_u64(&cli, argc, argv, 1, "threads", 4, 1, BENCH_MAX_THREADS);
  uint64_t rounds = bench_arg_u64(&cli, argc, argv, 2, "rounds", 10, 1, 1ull << 24);
  uint64_t min = bench_arg_u64(&cli, argc, argv, 3, "min", 8, 1, BENCH_MAX_SIZE);
  uint64_t max = bench_arg_u64(&cli, argc, argv, 4, "max", min > 1000 ? min : 1000, 1, BENCH_MAX_SIZE);
  if (max < min) bench_usage_fail(&cli, "max (%llu) < min (%llu)", (unsigned long long)max, (unsigned long long)min);
  uint64_t chunks = bench_arg_u64(&cli, argc, argv, 5, "chunks", 1000, 1, 1ull << 32);
  uint64_t opr = bench_arg_u64(&cli, argc, argv, 6, "ops_per_round", 10000, 1, UINT64_MAX / (1ull << 26));

  lane *lanes = (lane *)bench_xcalloc(cli.prog, threads, sizeof(lane));
  uint64_t warm_failures = 0;
  for (unsigned i = 0; i < threads; i++) {
    lane *l = &lanes[i];
    l->rounds = rounds;
    l->min = min;
    l->max = max;
    l->chunks = chunks;
    l->ops_per_round = opr;
    l->blocks = (void **)bench_xcalloc(cli.prog, (size_t)chunks, sizeof(void *));
    l->tids = (pthread_t *)bench_xcalloc(cli.prog, (size_t)rounds, sizeof(pthread_t));
    l->valid = (unsigned char *)bench_xcalloc(cli.prog, (size_t)rounds, 1);
    bench_rng_seed(&l->rng, BENCH_SEED, i);
    /* The main thread allocates the initial chunks (larson's warm-up). */
    for (uint64_t j = 0; j < chunks; j++) {
      size_t sz = (size_t)bench_rng_range(&l->rng, min, max);
      void *p = malloc(sz);
      if (!p) {
        warm_failures++;
        continue;
      }
      bench_touch(p, sz);
      l->blocks[j] = p;
    }
  }

  double t0 = bench_now();
  for (unsigned i = 0; i < threads; i++) {
    bench_spawn(cli.prog, &lanes[i].tids[0], lane_worker, &lanes[i]);
    lanes[i].valid[0] = 1;
  }
  /* Join each lane's chain in order: tids[r] was written by the thread of an
   * earlier round before it exited, i.e. before our join of it returned. */
  for (unsigned i = 0; i < threads; i++)
    for (uint64_t r = 0; r < rounds; r++)
      if (lanes[i].valid[r]) bench_join(lanes[i].tids[r]);
  double secs = bench_now() - t0;

  uint64_t allocs = 0, frees = 0, fails = warm_failures, spawn_fail = 0;
  for (unsigned i = 0; i < threads; i++) {
    lane *l = &lanes[i];
    allocs += l->allocs;
    frees += l->frees;
    fails += l->alloc_failures;
    spawn_fail += l->spawn_failures;
    for (uint64_t j = 0; j < chunks; j++) free(l->blocks[j]);
    free(l->blocks);
    free(l->tids);
    free(l->valid);
  }
  free(lanes);

  uint64_t ops = allocs + frees;
  printf("bench_larson: threads=%u rounds=%llu size=%llu..%llu chunks=%llu ops_per_round=%llu "
         "time=%.6f ops/s=%.2f spawn_failures=%llu alloc_failures=%llu\n",
         threads, (unsigned long long)rounds, (unsigned long long)min, (unsigned long long)max,
         (unsigned long long)chunks, (unsigned long long)opr, secs, bench_rate((double)ops, secs),
         (unsigned long long)spawn_fail, (unsigned long long)fails);
  bench_result("larson", ops, secs,
               " threads=%u rounds=%llu min=%llu max=%llu chunks=%llu ops_per_round=%llu"
               " allocs=%llu frees=%llu alloc_failures=%llu spawn_failures=%llu",
               threads, (unsigned long long)rounds, (unsigned long long)min, (unsigned long long)max,
               (unsigned long long)chunks, (unsigned long long)opr, (unsigned long long)allocs,
               (unsigned long long)frees, (unsigned long long)fails, (unsigned long long)spawn_fail);
  return 0;
}
