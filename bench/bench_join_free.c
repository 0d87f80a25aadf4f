/* bench_join_free - the main thread frees what its joined workers built.
 *
 * usage: bench_join_free [threads] [objects] [min] [max]
 * defaults 4 1000000 16 128.
 *
 * A common shape at the end of a parallel phase (a server tearing down
 * per-thread structures, a build step whose workers return their results,
 * larson's final loop): `threads` workers each malloc `objects` blocks of
 * min..max bytes (uniform, first/last byte written) and exit; the main thread
 * joins them and then frees every block, in the order the workers made them.
 * Every block is then owned by a thread that no longer exists.
 *
 * Timed: only the main thread's free loop. ops = the frees. post_rss is read
 * after the loop, with nothing live but the pointer arrays
 * (threads * objects * 8 bytes), so it shows what the allocator keeps
 * resident of memory whose owners are gone; peak_rss is the built set.
 */
#include "bench_common.h"

static const bench_cli cli = {
    "bench_join_free",
    "[threads] [objects] [min] [max]\n"
    "  threads  worker threads, 1..4096 (default 4)\n"
    "  objects  blocks each worker allocates, 1..2^28 (default 1000000)\n"
    "  min      smallest block size, 1..2^30 (default 16)\n"
    "  max      largest block size, min..2^30 (default 128)"};

typedef struct worker {
  char pad0[BENCH_PAD];
  void **blocks;
  uint64_t objects, min, max;
  uint64_t alloc_failures;
  bench_rng rng;
  char pad1[BENCH_PAD];
} worker;

static void *worker_main(void *arg) {
  worker *w = (worker *)arg;
  for (uint64_t i = 0; i < w->objects; i++) {
    size_t size = (size_t)bench_rng_range(&w->rng, w->min, w->max);
    void *p = malloc(size);
    if (p != NULL) bench_touch(p, size);
    else w->alloc_failures++;
    w->blocks[i] = p;
  }
  return NULL;
}

int main(int argc, char **argv) {
  bench_check_argc(&cli, argc, argv, 4);
  unsigned threads = (unsigned)bench_arg_u64(&cli, argc, argv, 1, "threads", 4, 1, BENCH_MAX_THREADS);
  uint64_t objects = bench_arg_u64(&cli, argc, argv, 2, "objects", 1000000, 1, 1ull << 28);
  uint64_t min = bench_arg_u64(&cli, argc, argv, 3, "min", 16, 1, 1ull << 30);
  uint64_t max = bench_arg_u64(&cli, argc, argv, 4, "max", 128, min, 1ull << 30);

  worker *ws = (worker *)bench_xcalloc(cli.prog, threads, sizeof(worker));
  pthread_t *tids = (pthread_t *)bench_xcalloc(cli.prog, threads, sizeof(pthread_t));
  for (unsigned i = 0; i < threads; i++) {
    ws[i].blocks = (void **)bench_xcalloc(cli.prog, (size_t)objects, sizeof(void *));
    ws[i].objects = objects;
    ws[i].min = min;
    ws[i].max = max;
    bench_rng_seed(&ws[i].rng, BENCH_SEED, i);
  }
  double b0 = bench_now();
  for (unsigned i = 0; i < threads; i++) bench_spawn(cli.prog, &tids[i], worker_main, &ws[i]);
  for (unsigned i = 0; i < threads; i++) bench_join(tids[i]);
  double build_secs = bench_now() - b0;

  uint64_t frees = 0, fails = 0;
  double t0 = bench_now();
  for (unsigned i = 0; i < threads; i++) {
    for (uint64_t k = 0; k < objects; k++) {
      free(ws[i].blocks[k]);
      frees += ws[i].blocks[k] != NULL;
    }
  }
  double secs = bench_now() - t0;
  for (unsigned i = 0; i < threads; i++) fails += ws[i].alloc_failures;

  printf("bench_join_free: threads=%u objects=%llu size=%llu..%llu build=%.6f free_time=%.6f frees/s=%.2f "
         "alloc_failures=%llu\n",
         threads, (unsigned long long)objects, (unsigned long long)min, (unsigned long long)max, build_secs, secs,
         bench_rate((double)frees, secs), (unsigned long long)fails);
  /* The pointer arrays stay allocated until after the RSS sample: they are the
   * only live memory, the same for every allocator. */
  bench_result("join_free", frees, secs, " threads=%u objects=%llu min=%llu max=%llu build_seconds=%.6f alloc_failures=%llu",
               threads, (unsigned long long)objects, (unsigned long long)min, (unsigned long long)max, build_secs,
               (unsigned long long)fails);
  for (unsigned i = 0; i < threads; i++) free(ws[i].blocks);
  free(ws);
  free(tids);
  return 0;
}
