/* bench_matrix - the integrated matrix: one named row per run.
 *
 * usage: bench_matrix <row> [threads] [iters] [ws]      (bench_matrix list)
 * defaults threads 4, iters 1000000, ws 400.
 *
 * Rows (sizes uniform in [min, max] bytes):
 *   guard_local0               16..2048   remote 0%   interleaved
 *   main_local0                16..32768  remote 0%   interleaved
 *   main_interleaved_r50       16..32768  remote 50%  interleaved
 *   main_interleaved_r90       16..32768  remote 90%  interleaved
 *   small_interleaved_remote90 16..256    remote 90%  interleaved
 *   medium_interleaved_r50     2049..32768 remote 50% interleaved
 *   main_phase_r50             16..32768  remote 50%  phase
 *
 * Interleaved mode: each thread owns `ws` slots; one iteration drains the
 * thread's inbox (freeing what thread i-1 handed over), then replaces a random
 * slot: its old block (if any) is freed locally or, with remote_pct %, pushed
 * to thread (i+1)%T's inbox -- remote sends are mixed into the local op
 * stream. The push never falls back: when the inbox (65536 slots) is full the
 * sender drains its own inbox, yields and retries, so the remote share is
 * exact. Then malloc(uniform[min,max]) goes into the slot (first/last byte
 * written). ops = iterations = malloc/free pairs (the seed's counting).
 *
 * Phase mode: rounds of ws blocks per thread, ceil(iters/ws) rounds.
 * Phase A every thread allocates its whole working set (ws blocks); barrier;
 * phase B it frees 50 % locally and hands the other 50 % over to thread
 * (i+1)%T (stockpiled in a per-thread hand-over array); barrier; phase C every
 * thread frees what it was handed; the next round reallocates. ops = blocks
 * cycled (each one malloc + one free).
 *
 * Post RSS (VmRSS) and peak (VmHWM) are sampled from /proc/self/status after
 * all workers have been joined and every block was freed, so thread-exit
 * handling of the allocator is part of the number.
 */
#include "bench_common.h"
#include "bench_ring.h"

#include <stdatomic.h>

#define INBOX_SLOTS 65536u

typedef enum { MODE_INTERLEAVED, MODE_PHASE } row_mode;

typedef struct row {
  const char *name;
  uint64_t min, max;
  unsigned remote_pct;
  row_mode mode;
} row;

static const row rows[] = {
    {"guard_local0", 16, 2048, 0, MODE_INTERLEAVED},
    {"main_local0", 16, 32768, 0, MODE_INTERLEAVED},
    {"main_interleaved_r50", 16, 32768, 50, MODE_INTERLEAVED},
    {"main_interleaved_r90", 16, 32768, 90, MODE_INTERLEAVED},
    {"small_interleaved_remote90", 16, 256, 90, MODE_INTERLEAVED},
    {"medium_interleaved_r50", 2049, 32768, 50, MODE_INTERLEAVED},
    {"main_phase_r50", 16, 32768, 50, MODE_PHASE},
};
#define NROWS (sizeof(rows) / sizeof(rows[0]))

static const bench_cli cli = {
    "bench_matrix",
    "<row> [threads] [iters] [ws]   |   bench_matrix list\n"
    "  row      guard_local0 main_local0 main_interleaved_r50 main_interleaved_r90\n"
    "           small_interleaved_remote90 medium_interleaved_r50 main_phase_r50\n"
    "  threads  worker threads, 1..4096 (default 4)\n"
    "  iters    iterations (malloc/free pairs) per thread, >= 1 (default 1000000)\n"
    "  ws       live slots per thread, >= 1 (default 400)"};

typedef struct worker {
  char pad0[BENCH_PAD];
  unsigned id, threads;
  const row *r;
  uint64_t iters, ws;
  bench_ring *in, *out;      /* interleaved */
  void ***handoff;           /* phase: handoff[i] = blocks handed to thread i */
  uint64_t *handoff_n;       /* phase: count per receiver */
  _Atomic int *done;
  pthread_barrier_t *barrier;
  bench_rng rng;
  uint64_t ops, sends, local_frees, recv_frees, push_waits, alloc_failures;
  char pad1[BENCH_PAD];
} worker;

static void *interleaved_main(void *arg) {
  worker *w = (worker *)arg;
  bench_rng rng = w->rng;
  const uint64_t ws = w->ws, min = w->r->min, max = w->r->max;
  const unsigned remote_pct = w->threads > 1 ? w->r->remote_pct : 0;
  void **slots = (void **)calloc((size_t)ws, sizeof(void *));
  if (!slots) {
    fprintf(stderr, "bench_matrix: cannot allocate the slot array\n");
    exit(1);
  }
  uint64_t ops = 0, sends = 0, local = 0, recv = 0, waits = 0, fails = 0;
  pthread_barrier_wait(w->barrier); /* start together */
  for (uint64_t i = 0; i < w->iters; i++) {
    recv += bench_ring_drain_free(w->in);
    uint64_t idx = bench_rng_below(&rng, ws);
    void *old = slots[idx];
    if (old) {
      if (remote_pct && bench_rng_pct(&rng) < remote_pct) {
        while (!bench_ring_push(w->out, old)) {
          recv += bench_ring_drain_free(w->in);
          waits++;
          sched_yield();
        }
        sends++;
      } else {
        free(old);
        local++;
      }
    }
    size_t sz = (size_t)bench_rng_range(&rng, min, max);
    void *p = malloc(sz);
    slots[idx] = p;
    if (!p) {
      fails++;
      continue;
    }
    bench_touch(p, sz);
    ops++;
  }
  /* Free the working set, then drain until the producer is done too. */
  for (uint64_t j = 0; j < ws; j++) free(slots[j]); /* cleanup, not counted */
  free(slots);
  atomic_store_explicit(&w->done[w->id], 1, memory_order_release);
  unsigned prev = (w->id + w->threads - 1) % w->threads;
  for (;;) {
    uint64_t n = bench_ring_drain_free(w->in);
    recv += n;
    if (atomic_load_explicit(&w->done[prev], memory_order_acquire)) {
      recv += bench_ring_drain_free(w->in);
      break;
    }
    if (n == 0) sched_yield();
  }
  w->ops = ops;
  w->sends = sends;
  w->local_frees = local;
  w->recv_frees = recv;
  w->push_waits = waits;
  w->alloc_failures = fails;
  return NULL;
}

static void *phase_main(void *arg) {
  worker *w = (worker *)arg;
  bench_rng rng = w->rng;
  const uint64_t ws = w->ws, min = w->r->min, max = w->r->max;
  const unsigned remote_pct = w->threads > 1 ? w->r->remote_pct : 0;
  const unsigned next = (w->id + 1) % w->threads;
  const uint64_t rounds = (w->iters + ws - 1) / ws;
  void **slots = (void **)calloc((size_t)ws, sizeof(void *));
  if (!slots) {
    fprintf(stderr, "bench_matrix: cannot allocate the slot array\n");
    exit(1);
  }
  uint64_t ops = 0, sends = 0, local = 0, recv = 0, fails = 0;
  pthread_barrier_wait(w->barrier); /* start together */
  for (uint64_t r = 0; r < rounds; r++) {
    /* A: allocate the whole working set. */
    for (uint64_t j = 0; j < ws; j++) {
      size_t sz = (size_t)bench_rng_range(&rng, min, max);
      void *p = malloc(sz);
      slots[j] = p;
      if (!p) {
        fails++;
        continue;
      }
      bench_touch(p, sz);
      ops++;
    }
    pthread_barrier_wait(w->barrier);
    /* B: free locally or hand over to the next thread. */
    void **out = w->handoff[next];
    uint64_t n_out = 0;
    for (uint64_t j = 0; j < ws; j++) {
      void *p = slots[j];
      if (!p) continue;
      slots[j] = NULL;
      if (remote_pct && bench_rng_pct(&rng) < remote_pct) {
        out[n_out++] = p;
        sends++;
      } else {
        free(p);
        local++;
      }
    }
    w->handoff_n[next] = n_out;
    pthread_barrier_wait(w->barrier);
    /* C: free what the previous thread handed to us. The previous thread
     * rewrites our array only after the next round's first barrier, which we
     * reach after this loop. */
    void **in = w->handoff[w->id];
    uint64_t n_in = w->handoff_n[w->id];
    for (uint64_t j = 0; j < n_in; j++) free(in[j]);
    recv += n_in;
  }
  free(slots);
  w->ops = ops;
  w->sends = sends;
  w->local_frees = local;
  w->recv_frees = recv;
  w->alloc_failures = fails;
  return NULL;
}

int main(int argc, char **argv) {
  bench_check_argc(&cli, argc, argv, 4);
  if (argc < 2) bench_usage_fail(&cli, "missing <row>");
  if (strcmp(argv[1], "list") == 0) {
    for (size_t i = 0; i < NROWS; i++)
      printf("%-28s %llu..%llu remote_pct=%u mode=%s\n", rows[i].name,
             (unsigned long long)rows[i].min, (unsigned long long)rows[i].max, rows[i].remote_pct,
             rows[i].mode == MODE_PHASE ? "phase" : "interleaved");
    return 0;
  }
  const row *r = NULL;
  for (size_t i = 0; i < NROWS; i++)
    if (strcmp(argv[1], rows[i].name) == 0) r = &rows[i];
  if (!r) bench_usage_fail(&cli, "unknown row '%s'", argv[1]);
  unsigned threads = (unsigned)bench_arg_u64(&cli, argc, argv, 2, "threads", 4, 1, BENCH_MAX_THREADS);
  uint64_t iters = bench_arg_u64(&cli, argc, argv, 3, "iters", 1000000, 1, UINT64_MAX / 8);
  uint64_t ws = bench_arg_u64(&cli, argc, argv, 4, "ws", 400, 1, 1ull << 32);

  worker *ws_ = (worker *)bench_xcalloc(cli.prog, threads, sizeof(worker));
  pthread_t *tids = (pthread_t *)bench_xcalloc(cli.prog, threads, sizeof(pthread_t));
  _Atomic int *done = (_Atomic int *)bench_xcalloc(cli.prog, threads, sizeof(_Atomic int));
  bench_ring *rings = NULL;
  void ***handoff = NULL;
  uint64_t *handoff_n = NULL;
  if (r->mode == MODE_INTERLEAVED) {
    rings = (bench_ring *)bench_xcalloc(cli.prog, threads, sizeof(bench_ring));
    for (unsigned i = 0; i < threads; i++) bench_ring_init(cli.prog, &rings[i], INBOX_SLOTS);
  } else {
    handoff = (void ***)bench_xcalloc(cli.prog, threads, sizeof(void **));
    handoff_n = (uint64_t *)bench_xcalloc(cli.prog, threads, sizeof(uint64_t));
    for (unsigned i = 0; i < threads; i++)
      handoff[i] = (void **)bench_xcalloc(cli.prog, (size_t)ws, sizeof(void *));
  }
  pthread_barrier_t barrier;
  pthread_barrier_init(&barrier, NULL, threads);
  for (unsigned i = 0; i < threads; i++) {
    worker *w = &ws_[i];
    w->id = i;
    w->threads = threads;
    w->r = r;
    w->iters = iters;
    w->ws = ws;
    if (rings) {
      w->out = &rings[i];
      w->in = &rings[(i + threads - 1) % threads];
    }
    w->handoff = handoff;
    w->handoff_n = handoff_n;
    w->done = done;
    w->barrier = &barrier;
    atomic_init(&done[i], 0);
    bench_rng_seed(&w->rng, BENCH_SEED, i);
  }

  void *(*entry)(void *) = r->mode == MODE_PHASE ? phase_main : interleaved_main;
  double t0 = bench_now();
  for (unsigned i = 0; i < threads; i++) bench_spawn(cli.prog, &tids[i], entry, &ws_[i]);
  for (unsigned i = 0; i < threads; i++) bench_join(tids[i]);
  double secs = bench_now() - t0;

  uint64_t ops = 0, sends = 0, local = 0, recv = 0, waits = 0, fails = 0;
  for (unsigned i = 0; i < threads; i++) {
    ops += ws_[i].ops;
    sends += ws_[i].sends;
    local += ws_[i].local_frees;
    recv += ws_[i].recv_frees;
    waits += ws_[i].push_waits;
    fails += ws_[i].alloc_failures;
  }
  pthread_barrier_destroy(&barrier);
  if (rings) {
    for (unsigned i = 0; i < threads; i++) bench_ring_destroy(&rings[i]);
    free(rings);
  }
  if (handoff) {
    for (unsigned i = 0; i < threads; i++) free(handoff[i]);
    free(handoff);
    free(handoff_n);
  }
  free((void *)done);
  free(tids);
  free(ws_);

  const char *mode = r->mode == MODE_PHASE ? "phase" : "interleaved";
  double actual = bench_pct(sends, sends + local);
  bench_mem m = bench_read_mem();
  printf("row=%s mode=%s threads=%u iters=%llu ws=%llu size=%llu..%llu remote_pct=%u\n", r->name, mode,
         threads, (unsigned long long)iters, (unsigned long long)ws, (unsigned long long)r->min,
         (unsigned long long)r->max, r->remote_pct);
  printf("ops/s=%.3f post_rss=%ld peak_rss=%ld (kB) remote_actual=%.2f%% push_waits=%llu alloc_failures=%llu\n",
         bench_rate((double)ops, secs), m.rss_kb, m.hwm_kb, actual, (unsigned long long)waits,
         (unsigned long long)fails);
  if (recv != sends)
    fprintf(stderr, "bench_matrix: internal error: sent %llu, received %llu\n", (unsigned long long)sends,
            (unsigned long long)recv);
  bench_result("matrix", ops, secs,
               " row=%s mode=%s threads=%u iters=%llu ws=%llu min=%llu max=%llu remote_pct=%u"
               " remote_pct_actual=%.2f push_waits=%llu alloc_failures=%llu",
               r->name, mode, threads, (unsigned long long)iters, (unsigned long long)ws,
               (unsigned long long)r->min, (unsigned long long)r->max, r->remote_pct, actual,
               (unsigned long long)waits, (unsigned long long)fails);
  return recv == sends ? 0 : 1;
}
