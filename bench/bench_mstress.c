/* bench_mstress - thread churn with survivors (mstress-style).
 *
 * usage: bench_mstress [threads] [rounds] [objects]
 * defaults 4 10 10000.
 *
 * Written from the published description of mimalloc-bench's mstress: every
 * round creates `threads` new threads and joins them all. Thread t of round r
 *   1. frees the survivors thread t-1 (mod T) of round r-1 left for it,
 *   2. mallocs `objects` blocks (sizes: 90 % uniform 16..256, 9 % 257..8192,
 *      1 % 8193..131072; first/last byte written),
 *   3. frees 7/8 of them in random order (interleaved with the allocation:
 *      each new block first replaces a random earlier one with probability
 *      1/2, then a shuffled sweep frees the rest down to the survivors),
 *   4. leaves the remaining objects/8 blocks as survivors for thread t+1 of
 *      round r+1 and exits.
 * So blocks outlive the thread that allocated them and are freed by a thread
 * created later; the allocator sees many thread births/exits. After the last
 * round the main thread frees the final survivors.
 * ops = malloc + free calls in the workers (including the survivors of the
 * previous round; the final survivors are freed by main, untimed, uncounted).
 */
#include "bench_common.h"

static const bench_cli cli = {
    "bench_mstress",
    "[threads] [rounds] [objects]\n"
    "  threads  threads per round, 1..4096 (default 4)\n"
    "  rounds   rounds (thread generations), >= 1 (default 10)\n"
    "  objects  blocks allocated by each thread per round, 8..2^28 (default 10000)"};

typedef struct survivors {
  void **p;
  uint64_t n;
} survivors;

typedef struct worker {
  char pad0[BENCH_PAD];
  uint64_t objects;
  survivors *in, *out; /* in: left for us last round; out: for the next round */
  bench_rng rng;
  uint64_t allocs, frees, alloc_failures;
  char pad1[BENCH_PAD];
} worker;

static size_t pick_size(bench_rng *rng) {
  unsigned c = (unsigned)bench_rng_below(rng, 100);
  if (c < 90) return (size_t)bench_rng_range(rng, 16, 256);
  if (c < 99) return (size_t)bench_rng_range(rng, 257, 8192);
  return (size_t)bench_rng_range(rng, 8193, 131072);
}

static void *worker_main(void *arg) {
  worker *w = (worker *)arg;
  bench_rng rng = w->rng;
  uint64_t allocs = 0, frees = 0, fails = 0;

  /* 1. survivors of the previous round (allocated by an exited thread) */
  if (w->in->p) {
    for (uint64_t i = 0; i < w->in->n; i++) {
      free(w->in->p[i]);
      frees++;
    }
    free(w->in->p);
    w->in->p = NULL;
    w->in->n = 0;
  }

  /* 2+3. allocate, with random early frees */
  const uint64_t n = w->objects;
  void **live = (void **)malloc((size_t)n * sizeof(void *));
  if (!live) {
    fprintf(stderr, "bench_mstress: cannot allocate the object array\n");
    exit(1);
  }
  uint64_t nlive = 0;
  for (uint64_t i = 0; i < n; i++) {
    size_t sz = pick_size(&rng);
    void *p = malloc(sz);
    if (!p) {
      fails++;
      continue;
    }
    bench_touch(p, sz);
    allocs++;
    if (nlive > 0 && (bench_rng_next(&rng) & 1)) {
      uint64_t k = bench_rng_below(&rng, nlive);
      free(live[k]);
      frees++;
      live[k] = p;
    } else {
      live[nlive++] = p;
    }
  }
  /* shuffled sweep down to objects/8 survivors */
  uint64_t keep = n / 8;
  while (nlive > keep) {
    uint64_t k = bench_rng_below(&rng, nlive);
    free(live[k]);
    frees++;
    live[k] = live[--nlive];
  }
  /* 4. hand the survivors to the next round */
  w->out->p = live;
  w->out->n = nlive;
  w->allocs = allocs;
  w->frees = frees;
  w->alloc_failures = fails;
  w->rng = rng;
  return NULL;
}

int main(int argc, char **argv) {
  bench_check_argc(&cli, argc, argv, 3);
  unsigned threads = (unsigned)bench_arg_u64(&cli, argc, argv, 1, "threads", 4, 1, BENCH_MAX_THREADS);
  uint64_t rounds = bench_arg_u64(&cli, argc, argv, 2, "rounds", 10, 1, 1ull << 32);
  uint64_t objects = bench_arg_u64(&cli, argc, argv, 3, "objects", 10000, 8, 1ull << 28);

  worker *ws = (worker *)bench_xcalloc(cli.prog, threads, sizeof(worker));
  pthread_t *tids = (pthread_t *)bench_xcalloc(cli.prog, threads, sizeof(pthread_t));
  /* two survivor generations, swapped every round */
  survivors *gen[2];
  gen[0] = (survivors *)bench_xcalloc(cli.prog, threads, sizeof(survivors));
  gen[1] = (survivors *)bench_xcalloc(cli.prog, threads, sizeof(survivors));
  for (unsigned i = 0; i < threads; i++) bench_rng_seed(&ws[i].rng, BENCH_SEED, i);

  uint64_t allocs = 0, frees = 0, fails = 0;
  double t0 = bench_now();
  for (uint64_t r = 0; r < rounds; r++) {
    survivors *in = gen[r & 1], *out = gen[(r + 1) & 1];
    for (unsigned i = 0; i < threads; i++) {
      ws[i].objects = objects;
      ws[i].in = &in[i];
      ws[i].out = &out[(i + 1) % threads]; /* our survivors go to the next thread */
      bench_spawn(cli.prog, &tids[i], worker_main, &ws[i]);
    }
    for (unsigned i = 0; i < threads; i++) {
      bench_join(tids[i]);
      allocs += ws[i].allocs;
      frees += ws[i].frees;
      fails += ws[i].alloc_failures;
    }
  }
  double secs = bench_now() - t0;

  /* final survivors, freed by the main thread (not timed, not counted) */
  survivors *last = gen[rounds & 1];
  uint64_t leftover = 0;
  for (unsigned i = 0; i < threads; i++) {
    for (uint64_t k = 0; k < last[i].n; k++) free(last[i].p[k]);
    leftover += last[i].n;
    free(last[i].p);
  }
  free(gen[0]);
  free(gen[1]);
  free(ws);
  free(tids);

  uint64_t ops = allocs + frees;
  printf("bench_mstress: threads=%u rounds=%llu objects=%llu time=%.6f ops/s=%.2f threads_created=%llu "
         "final_survivors=%llu alloc_failures=%llu\n",
         threads, (unsigned long long)rounds, (unsigned long long)objects, secs, bench_rate((double)ops, secs),
         (unsigned long long)rounds * threads, (unsigned long long)leftover, (unsigned long long)fails);
  bench_result("mstress", ops, secs,
               " threads=%u rounds=%llu objects=%llu allocs=%llu frees=%llu threads_created=%llu"
               " final_survivors=%llu alloc_failures=%llu",
               threads, (unsigned long long)rounds, (unsigned long long)objects, (unsigned long long)allocs,
               (unsigned long long)frees, (unsigned long long)rounds * threads, (unsigned long long)leftover,
               (unsigned long long)fails);
  return 0;
}
