/* bench_release - does RSS fall after a program frees most of its memory?
 *
 * usage: bench_release [threads] [mib] [keep_pct] [settle_ms] [order]
 * defaults 2 512 10 1000 0.
 *
 * Phases (every thread stays alive throughout, like a server's workers):
 *   fill    each thread allocates mib/threads MiB in blocks of log-uniform
 *           size 16 B .. 256 KiB, touching every page of each block;
 *   release each thread frees all but keep_pct % of its blocks: the oldest
 *           first (order 0: a cache dropping old entries, a finished phase) or
 *           a random choice (order 1: the fragmenting case);
 *   idle    nobody calls the allocator for settle_ms;
 *   active  each thread makes 64 malloc/free pairs of 16..512 B every 1 ms
 *           for settle_ms (an allocator that returns memory from its own
 *           calls gets the chance to).
 * No malloc_trim is called. The RESULT line's post_rss_kb is the RSS at the
 * end of the active phase WITH THE KEPT BLOCKS STILL LIVE (not after freeing
 * everything as in the other programs); extra keys: live_kb (bytes requested
 * by the kept blocks), full_rss_kb (after fill), freed_rss_kb (right after
 * release), idle_rss_kb, active_rss_kb. ops = blocks allocated + freed in
 * fill and release; seconds = the wall time of those two phases.
 */
#include "bench_common.h"

static const bench_cli cli = {
    "bench_release",
    "[threads] [mib] [keep_pct] [settle_ms] [order]\n"
    "  threads    worker threads, 1..4096 (default 2)\n"
    "  mib        MiB allocated in the fill phase, all threads together, 1..65536 (default 512)\n"
    "  keep_pct   percent of the blocks kept live, 0..100 (default 10)\n"
    "  settle_ms  length of the idle and of the active phase, 0..600000 (default 1000)\n"
    "  order      0: free the oldest blocks first, 1: free a random choice (default 0)"};

typedef struct worker {
  char pad0[BENCH_PAD];
  uint64_t bytes_goal, keep_pct, settle_ms, order;
  bench_rng rng;
  void **blocks;
  size_t *sizes;
  uint64_t count, kept_bytes, ops, fails;
  char pad1[BENCH_PAD];
} worker;

static pthread_barrier_t phase_barrier;

/* Log-uniform 16 B .. 256 KiB: as many 16..32 B blocks as 128..256 KiB ones. */
static size_t block_size(bench_rng *rng) {
  unsigned shift = 4 + (unsigned)bench_rng_below(rng, 14); /* 16 .. 128 Ki */
  return (size_t)bench_rng_range(rng, 1ull << shift, (2ull << shift) - 1);
}

static void touch_pages(void *p, size_t n) {
  volatile unsigned char *c = (volatile unsigned char *)p;
  for (size_t i = 0; i < n; i += 4096) c[i] = (unsigned char)i;
  c[n - 1] = 1;
}

static void sleep_ms(uint64_t ms) {
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

static void *worker_main(void *arg) {
  worker *w = (worker *)arg;
  /* fill: the block table grows by doubling (its own allocations are few). */
  size_t cap = 1024, n = 0;
  w->blocks = (void **)malloc(cap * sizeof(void *));
  w->sizes = (size_t *)malloc(cap * sizeof(size_t));
  if (!w->blocks || !w->sizes) {
    fprintf(stderr, "bench_release: cannot allocate the block table\n");
    exit(1);
  }
  for (uint64_t total = 0; total < w->bytes_goal;) {
    if (n == cap) {
      cap *= 2;
      void **b = (void **)realloc(w->blocks, cap * sizeof(void *));
      size_t *s = (size_t *)realloc(w->sizes, cap * sizeof(size_t));
      if (!b || !s) {
        fprintf(stderr, "bench_release: cannot grow the block table\n");
        exit(1);
      }
      w->blocks = b;
      w->sizes = s;
    }
    size_t sz = block_size(&w->rng);
    void *p = malloc(sz);
    total += sz;
    w->ops++;
    if (!p) {
      w->fails++;
      continue;
    }
    touch_pages(p, sz);
    w->blocks[n] = p;
    w->sizes[n++] = sz;
  }
  w->count = n;
  pthread_barrier_wait(&phase_barrier); /* main samples full_rss */
  pthread_barrier_wait(&phase_barrier);

  /* release: keep every block whose index passes the test, free the rest. */
  size_t first_kept = n - (size_t)((n * w->keep_pct) / 100);
  for (size_t i = 0; i < n; i++) {
    int keep = w->order == 0 ? i >= first_kept : bench_rng_below(&w->rng, 100) < w->keep_pct;
    if (keep) {
      w->kept_bytes += w->sizes[i];
      continue;
    }
    free(w->blocks[i]);
    w->blocks[i] = NULL;
    w->ops++;
  }
  pthread_barrier_wait(&phase_barrier); /* main samples freed_rss, then idles */
  pthread_barrier_wait(&phase_barrier); /* main sampled idle_rss */

  /* active: light traffic for settle_ms. */
  double end = bench_now() + (double)w->settle_ms / 1000.0;
  while (bench_now() < end) {
    void *tmp[64];
    for (int k = 0; k < 64; k++) tmp[k] = malloc((size_t)bench_rng_range(&w->rng, 16, 512));
    for (int k = 0; k < 64; k++) free(tmp[k]);
    sleep_ms(1);
  }
  pthread_barrier_wait(&phase_barrier); /* main samples active_rss */
  pthread_barrier_wait(&phase_barrier);

  for (size_t i = 0; i < n; i++) free(w->blocks[i]);
  free(w->blocks);
  free(w->sizes);
  return NULL;
}

int main(int argc, char **argv) {
  bench_check_argc(&cli, argc, argv, 5);
  unsigned threads = (unsigned)bench_arg_u64(&cli, argc, argv, 1, "threads", 2, 1, BENCH_MAX_THREADS);
  uint64_t mib = bench_arg_u64(&cli, argc, argv, 2, "mib", 512, 1, 65536);
  uint64_t keep_pct = bench_arg_u64(&cli, argc, argv, 3, "keep_pct", 10, 0, 100);
  uint64_t settle_ms = bench_arg_u64(&cli, argc, argv, 4, "settle_ms", 1000, 0, 600000);
  uint64_t order = bench_arg_u64(&cli, argc, argv, 5, "order", 0, 0, 1);

  /* Print now, so stdout's buffer exists before the measured phases: the
   * first printf allocates it, and that allocation (after the active phase)
   * gave an allocator's delayed purge the call it waits for, so the RSS
   * printed later was not the RSS at the end of the active phase. */
  printf("bench_release: threads=%u mib=%llu keep_pct=%llu settle_ms=%llu order=%llu\n", threads,
         (unsigned long long)mib, (unsigned long long)keep_pct, (unsigned long long)settle_ms,
         (unsigned long long)order);
  fflush(stdout);
  worker *ws = (worker *)bench_xcalloc(cli.prog, threads, sizeof(worker));
  pthread_t *tids = (pthread_t *)bench_xcalloc(cli.prog, threads, sizeof(pthread_t));
  if (pthread_barrier_init(&phase_barrier, NULL, threads + 1) != 0) {
    fprintf(stderr, "bench_release: pthread_barrier_init failed\n");
    return 1;
  }
  for (unsigned i = 0; i < threads; i++) {
    ws[i].bytes_goal = (mib << 20) / threads;
    ws[i].keep_pct = keep_pct;
    ws[i].settle_ms = settle_ms;
    ws[i].order = order;
    bench_rng_seed(&ws[i].rng, BENCH_SEED, i);
  }
  double t0 = bench_now();
  for (unsigned i = 0; i < threads; i++) bench_spawn(cli.prog, &tids[i], worker_main, &ws[i]);
  pthread_barrier_wait(&phase_barrier);
  double fill_secs = bench_now() - t0;
  long full_rss = bench_read_mem().rss_kb;
  double t1 = bench_now();
  pthread_barrier_wait(&phase_barrier);
  pthread_barrier_wait(&phase_barrier);
  double secs = fill_secs + (bench_now() - t1);
  long freed_rss = bench_read_mem().rss_kb;
  sleep_ms(settle_ms);
  long idle_rss = bench_read_mem().rss_kb;
  pthread_barrier_wait(&phase_barrier);
  pthread_barrier_wait(&phase_barrier);
  long active_rss = bench_read_mem().rss_kb;

  uint64_t ops = 0, fails = 0, kept = 0;
  for (unsigned i = 0; i < threads; i++) {
    ops += ws[i].ops;
    fails += ws[i].fails;
    kept += ws[i].kept_bytes;
  }
  printf("threads=%u mib=%llu keep_pct=%llu order=%s: RSS full %ld KiB, after release %ld, idle %ld, "
         "active %ld; live %llu KiB\n",
         threads, (unsigned long long)mib, (unsigned long long)keep_pct, order ? "random" : "oldest", full_rss,
         freed_rss, idle_rss, active_rss, (unsigned long long)(kept >> 10));
  /* post_rss_kb is sampled now: the kept blocks are still live (see top). */
  bench_result("release", ops, secs,
               " live_kb=%llu full_rss_kb=%ld freed_rss_kb=%ld idle_rss_kb=%ld active_rss_kb=%ld alloc_failures=%llu",
               (unsigned long long)(kept >> 10), full_rss, freed_rss, idle_rss, active_rss,
               (unsigned long long)fails);
  pthread_barrier_wait(&phase_barrier);
  for (unsigned i = 0; i < threads; i++) bench_join(tids[i]);
  pthread_barrier_destroy(&phase_barrier);
  free(ws);
  free(tids);
  return 0;
}
