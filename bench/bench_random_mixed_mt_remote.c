/* bench_random_mixed_mt_remote - the seed's MT random_mixed remote-free bench.
 *
 * usage: bench_random_mixed_mt_remote [threads] [iters] [ws] [min] [max]
 *                                     [remote_pct] [ring_slots] [matched_remote]
 * defaults 16 2000000 400 16 2048 90 65536 0 (the seed's).
 *
 * Per thread `ws` slots. Each iteration first drains the thread's inbound
 * SPSC ring (freeing what thread i-1 sent), then picks a random slot:
 *   full  -> with remote_pct % (only when threads > 1) push the block onto the
 *            outbound ring to thread (i+1) % T; when that ring is full the
 *            block is freed locally ("fallback"), or with matched_remote=1 the
 *            sender drains its own inbound ring, yields and retries;
 *            otherwise free it locally;
 *   empty -> malloc(uniform[min, max]), first/last byte written.
 * iters is per thread. Every op counts: alloc, local free, remote send (also
 * a fallback free), and every received free (also in the final drain).
 * At the end each thread frees its own slots and drains its inbound ring until
 * its producer has finished; post RSS is sampled after all threads joined.
 */
#include "bench_common.h"
#include "bench_ring.h"

#include <stdatomic.h>

static const bench_cli cli = {
    "bench_random_mixed_mt_remote",
    "[threads] [iters] [ws] [min] [max] [remote_pct] [ring_slots] [matched_remote]\n"
    "  threads         worker threads, 1..4096 (default 16)\n"
    "  iters           iterations per thread, >= 1 (default 2000000)\n"
    "  ws              working-set slots per thread, >= 1 (default 400)\n"
    "  min max         block size range in bytes, 1 <= min <= max (default 16 2048)\n"
    "  remote_pct      % of frees sent to the next thread, 0..100 (default 90)\n"
    "  ring_slots      capacity of each SPSC ring, >= 1 (default 65536)\n"
    "  matched_remote  1: a full ring makes the sender drain+retry instead of\n"
    "                  freeing locally (default 0)"};

typedef struct worker {
  char pad0[BENCH_PAD];
  unsigned id;
  unsigned threads;
  uint64_t iters, ws, min, max;
  unsigned remote_pct;
  int matched;
  void **slots;
  bench_ring *out; /* ring id: we produce */
  bench_ring *in;  /* ring id-1: we consume */
  _Atomic int *done;
  pthread_barrier_t *end_barrier;
  bench_rng rng;
  /* results */
  uint64_t ops, allocs, local_frees, sends, fallbacks, recv_frees, push_waits, alloc_failures;
  double t_end;
  char pad1[BENCH_PAD];
} worker;

static void *worker_main(void *arg) {
  worker *w = (worker *)arg;
  bench_rng rng = w->rng;
  void **slots = w->slots;
  bench_ring *in = w->in, *out = w->out;
  const uint64_t ws = w->ws, min = w->min, max = w->max;
  const unsigned remote_pct = w->threads > 1 ? w->remote_pct : 0;
  uint64_t allocs = 0, local = 0, sends = 0, fallbacks = 0, recv = 0, waits = 0, fails = 0;

  for (uint64_t i = 0; i < w->iters; i++) {
    recv += bench_ring_drain_free(in);
    uint64_t idx = bench_rng_below(&rng, ws);
    void *p = slots[idx];
    if (p) {
      slots[idx] = NULL;
      if (remote_pct && bench_rng_pct(&rng) < remote_pct) {
        if (bench_ring_push(out, p)) {
          sends++;
        } else if (w->matched) {
          do {
            recv += bench_ring_drain_free(in);
            waits++;
            sched_yield();
          } while (!bench_ring_push(out, p));
          sends++;
        } else {
          free(p);
          fallbacks++;
        }
      } else {
        free(p);
        local++;
      }
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

  /* Tail: we send nothing more; drain until our producer is done too. */
  atomic_store_explicit(&w->done[w->id], 1, memory_order_release);
  unsigned prev = (w->id + w->threads - 1) % w->threads;
  for (;;) {
    uint64_t n = bench_ring_drain_free(in);
    recv += n;
    if (atomic_load_explicit(&w->done[prev], memory_order_acquire)) {
      recv += bench_ring_drain_free(in);
      break;
    }
    if (n == 0) sched_yield();
  }
  w->t_end = bench_now();

  /* Cleanup after every thread stopped the clock (not timed, not counted,
   * like the seed's post-join cleanup). */
  pthread_barrier_wait(w->end_barrier);
  for (uint64_t j = 0; j < ws; j++) free(slots[j]);

  w->allocs = allocs;
  w->local_frees = local;
  w->sends = sends;
  w->fallbacks = fallbacks;
  w->recv_frees = recv;
  w->push_waits = waits;
  w->alloc_failures = fails;
  w->ops = allocs + local + sends + fallbacks + recv;
  return NULL;
}

int main(int argc, char **argv) {
  bench_check_argc(&cli, argc, argv, 8);
  unsigned threads = (unsigned)bench_arg_u64(&cli, argc, argv, 1, "threads", 16, 1, BENCH_MAX_THREADS);
  uint64_t iters = bench_arg_u64(&cli, argc, argv, 2, "iters", 2000000, 1, UINT64_MAX / 8);
  uint64_t ws = bench_arg_u64(&cli, argc, argv, 3, "ws", 400, 1, 1ull << 32);
  uint64_t min = bench_arg_u64(&cli, argc, argv, 4, "min", 16, 1, BENCH_MAX_SIZE);
  uint64_t max = bench_arg_u64(&cli, argc, argv, 5, "max", min > 2048 ? min : 2048, 1, BENCH_MAX_SIZE);
  if (max < min) bench_usage_fail(&cli, "max (%llu) < min (%llu)", (unsigned long long)max, (unsigned long long)min);
  unsigned remote_pct = (unsigned)bench_arg_u64(&cli, argc, argv, 6, "remote_pct", 90, 0, 100);
  uint64_t ring_slots = bench_arg_u64(&cli, argc, argv, 7, "ring_slots", 65536, 1, 1ull << 30);
  int matched = (int)bench_arg_u64(&cli, argc, argv, 8, "matched_remote", 0, 0, 1);

  printf("[BENCH_ARGS] threads=%u iters=%llu ws=%llu min=%llu max=%llu remote_pct=%u ring_slots=%llu matched_remote=%d\n",
         threads, (unsigned long long)iters, (unsigned long long)ws, (unsigned long long)min,
         (unsigned long long)max, remote_pct, (unsigned long long)ring_slots, matched);
  fflush(stdout);

  worker *ws_ = (worker *)bench_xcalloc(cli.prog, threads, sizeof(worker));
  bench_ring *rings = (bench_ring *)bench_xcalloc(cli.prog, threads, sizeof(bench_ring));
  _Atomic int *done = (_Atomic int *)bench_xcalloc(cli.prog, threads, sizeof(_Atomic int));
  pthread_t *tids = (pthread_t *)bench_xcalloc(cli.prog, threads, sizeof(pthread_t));
  pthread_barrier_t end_barrier;
  pthread_barrier_init(&end_barrier, NULL, threads);
  for (unsigned i = 0; i < threads; i++) {
    bench_ring_init(cli.prog, &rings[i], ring_slots);
    atomic_init(&done[i], 0);
  }
  for (unsigned i = 0; i < threads; i++) {
    worker *w = &ws_[i];
    w->id = i;
    w->threads = threads;
    w->iters = iters;
    w->ws = ws;
    w->min = min;
    w->max = max;
    w->remote_pct = remote_pct;
    w->matched = matched;
    w->slots = (void **)bench_xcalloc(cli.prog, (size_t)ws, sizeof(void *));
    w->out = &rings[i];
    w->in = &rings[(i + threads - 1) % threads];
    w->done = done;
    w->end_barrier = &end_barrier;
    bench_rng_seed(&w->rng, BENCH_SEED, i);
  }

  double t0 = bench_now();
  for (unsigned i = 0; i < threads; i++) bench_spawn(cli.prog, &tids[i], worker_main, &ws_[i]);
  for (unsigned i = 0; i < threads; i++) bench_join(tids[i]);
  double t_end = t0;
  for (unsigned i = 0; i < threads; i++)
    if (ws_[i].t_end > t_end) t_end = ws_[i].t_end;
  double secs = t_end - t0;
  pthread_barrier_destroy(&end_barrier);

  uint64_t ops = 0, allocs = 0, local = 0, sends = 0, fallbacks = 0, recv = 0, waits = 0, fails = 0;
  for (unsigned i = 0; i < threads; i++) {
    worker *w = &ws_[i];
    ops += w->ops;
    allocs += w->allocs;
    local += w->local_frees;
    sends += w->sends;
    fallbacks += w->fallbacks;
    recv += w->recv_frees;
    waits += w->push_waits;
    fails += w->alloc_failures;
    free(w->slots);
  }
  for (unsigned i = 0; i < threads; i++) bench_ring_destroy(&rings[i]);
  free(rings);
  free((void *)done);
  free(tids);
  free(ws_);

  /* Seed definitions: actual = sends / all frees decided in the loop;
   * fallback = ring-full frees / remote attempts. */
  double actual = bench_pct(sends, sends + local + fallbacks);
  double fb = bench_pct(fallbacks, sends + fallbacks);
  printf("bench_random_mixed_mt_remote: threads=%u ops=%llu time=%.6f ops/s=%.2f\n", threads,
         (unsigned long long)ops, secs, bench_rate((double)ops, secs));
  printf("[EFFECTIVE_REMOTE] target=%u actual=%.2f fallback_rate=%.2f sends=%llu local_frees=%llu "
         "fallback_frees=%llu recv_frees=%llu push_waits=%llu matched=%d\n",
         remote_pct, actual, fb, (unsigned long long)sends, (unsigned long long)local,
         (unsigned long long)fallbacks, (unsigned long long)recv, (unsigned long long)waits, matched);
  printf("[ALLOC_FAILURES] count=%llu\n", (unsigned long long)fails);
  if (recv != sends)
    fprintf(stderr, "bench_random_mixed_mt_remote: internal error: sent %llu, received %llu\n",
            (unsigned long long)sends, (unsigned long long)recv);
  bench_result("random_mixed_mt_remote", ops, secs,
               " threads=%u iters=%llu ws=%llu min=%llu max=%llu remote_pct=%u ring_slots=%llu"
               " matched_remote=%d remote_pct_actual=%.2f fallback_pct=%.2f alloc_failures=%llu"
               " allocs=%llu local_frees=%llu remote_sends=%llu fallback_frees=%llu recv_frees=%llu"
               " push_waits=%llu",
               threads, (unsigned long long)iters, (unsigned long long)ws, (unsigned long long)min,
               (unsigned long long)max, remote_pct, (unsigned long long)ring_slots, matched, actual, fb,
               (unsigned long long)fails, (unsigned long long)allocs, (unsigned long long)local,
               (unsigned long long)sends, (unsigned long long)fallbacks, (unsigned long long)recv,
               (unsigned long long)waits);
  return recv == sends ? 0 : 1;
}
