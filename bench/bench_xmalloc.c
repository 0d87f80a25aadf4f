/* bench_xmalloc - xmalloc-style producer/consumer.
 *
 * usage: bench_xmalloc [threads] [iters] [size_min] [size_max]
 * defaults 4 1000000 8 64.
 *
 * Written from the published description of xmalloc-test: ceil(threads/2)
 * producers and floor(threads/2) consumers (threads >= 2). Producer p mallocs
 * `iters` blocks of uniform[size_min, size_max] bytes (first/last byte
 * written), collects them in batches of 256 pointers and passes each batch
 * through the mutex/condvar-protected queue of consumer p % consumers; the
 * consumer frees every block of the batch (and the batch itself, which the
 * producer malloc'd). A queue holds at most 64 batches; a producer waits when
 * its consumer's queue is full, so the live set stays bounded. Every block is
 * freed by a thread that did not allocate it.
 * ops = block mallocs + block frees (batch headers are not counted).
 */
#include "bench_common.h"

#define BATCH 256
#define QUEUE_MAX 64

static const bench_cli cli = {
    "bench_xmalloc",
    "[threads] [iters] [size_min] [size_max]\n"
    "  threads            producers+consumers, 2..4096 (default 4): ceil(T/2) produce, floor(T/2) consume\n"
    "  iters              blocks allocated by each producer, >= 1 (default 1000000)\n"
    "  size_min size_max  block size range in bytes, 1 <= min <= max (default 8 64)"};

typedef struct batch {
  struct batch *next;
  unsigned n;
  void *p[BATCH];
} batch;

typedef struct queue {
  char pad0[BENCH_PAD];
  pthread_mutex_t mu;
  pthread_cond_t not_empty, not_full;
  batch *head, *tail;
  unsigned len;
  unsigned producers_left;
  char pad1[BENCH_PAD];
} queue;

typedef struct worker {
  char pad0[BENCH_PAD];
  queue *q;
  uint64_t iters, min, max;
  bench_rng rng;
  uint64_t allocs, frees, alloc_failures;
  char pad1[BENCH_PAD];
} worker;

static void queue_put(queue *q, batch *b) {
  pthread_mutex_lock(&q->mu);
  while (q->len >= QUEUE_MAX) pthread_cond_wait(&q->not_full, &q->mu);
  b->next = NULL;
  if (q->tail)
    q->tail->next = b;
  else
    q->head = b;
  q->tail = b;
  q->len++;
  pthread_cond_signal(&q->not_empty);
  pthread_mutex_unlock(&q->mu);
}

static batch *new_batch(uint64_t *fails) {
  batch *b;
  while ((b = (batch *)malloc(sizeof(batch))) == NULL) {
    (*fails)++;
    if (*fails > 1000000) {
      fprintf(stderr, "bench_xmalloc: cannot allocate a batch header\n");
      exit(1);
    }
    sched_yield();
  }
  b->n = 0;
  return b;
}

static void *producer_main(void *arg) {
  worker *w = (worker *)arg;
  bench_rng rng = w->rng;
  uint64_t allocs = 0, fails = 0;
  batch *b = new_batch(&fails);
  for (uint64_t i = 0; i < w->iters; i++) {
    size_t sz = (size_t)bench_rng_range(&rng, w->min, w->max);
    void *p = malloc(sz);
    if (!p) {
      fails++;
      continue;
    }
    bench_touch(p, sz);
    allocs++;
    b->p[b->n++] = p;
    if (b->n == BATCH) {
      queue_put(w->q, b);
      b = new_batch(&fails);
    }
  }
  queue_put(w->q, b); /* possibly partial, possibly empty */
  pthread_mutex_lock(&w->q->mu);
  w->q->producers_left--;
  pthread_cond_broadcast(&w->q->not_empty);
  pthread_mutex_unlock(&w->q->mu);
  w->allocs = allocs;
  w->alloc_failures = fails;
  return NULL;
}

static void *consumer_main(void *arg) {
  worker *w = (worker *)arg;
  queue *q = w->q;
  uint64_t frees = 0;
  for (;;) {
    pthread_mutex_lock(&q->mu);
    while (!q->head && q->producers_left > 0) pthread_cond_wait(&q->not_empty, &q->mu);
    batch *b = q->head;
    if (!b) { /* empty and no producer left */
      pthread_mutex_unlock(&q->mu);
      break;
    }
    q->head = b->next;
    if (!q->head) q->tail = NULL;
    q->len--;
    pthread_cond_signal(&q->not_full);
    pthread_mutex_unlock(&q->mu);
    for (unsigned i = 0; i < b->n; i++) free(b->p[i]);
    frees += b->n;
    free(b);
  }
  w->frees = frees;
  return NULL;
}

int main(int argc, char **argv) {
  bench_check_argc(&cli, argc, argv, 4);
  unsigned threads = (unsigned)bench_arg_u64(&cli, argc, argv, 1, "threads", 4, 2, BENCH_MAX_THREADS);
  uint64_t iters = bench_arg_u64(&cli, argc, argv, 2, "iters", 1000000, 1, UINT64_MAX / 8);
  uint64_t min = bench_arg_u64(&cli, argc, argv, 3, "size_min", 8, 1, BENCH_MAX_SIZE);
  uint64_t max = bench_arg_u64(&cli, argc, argv, 4, "size_max", min > 64 ? min : 64, 1, BENCH_MAX_SIZE);
  if (max < min)
    bench_usage_fail(&cli, "size_max (%llu) < size_min (%llu)", (unsigned long long)max, (unsigned long long)min);

  unsigned producers = (threads + 1) / 2, consumers = threads / 2;
  queue *queues = (queue *)bench_xcalloc(cli.prog, consumers, sizeof(queue));
  worker *ws = (worker *)bench_xcalloc(cli.prog, threads, sizeof(worker));
  pthread_t *tids = (pthread_t *)bench_xcalloc(cli.prog, threads, sizeof(pthread_t));
  for (unsigned c = 0; c < consumers; c++) {
    pthread_mutex_init(&queues[c].mu, NULL);
    pthread_cond_init(&queues[c].not_empty, NULL);
    pthread_cond_init(&queues[c].not_full, NULL);
  }
  for (unsigned p = 0; p < producers; p++) queues[p % consumers].producers_left++;
  for (unsigned i = 0; i < threads; i++) {
    worker *w = &ws[i];
    w->iters = iters;
    w->min = min;
    w->max = max;
    /* workers [0, producers) produce, the rest consume */
    w->q = i < producers ? &queues[i % consumers] : &queues[i - producers];
    bench_rng_seed(&w->rng, BENCH_SEED, i);
  }

  double t0 = bench_now();
  for (unsigned i = 0; i < threads; i++)
    bench_spawn(cli.prog, &tids[i], i < producers ? producer_main : consumer_main, &ws[i]);
  for (unsigned i = 0; i < threads; i++) bench_join(tids[i]);
  double secs = bench_now() - t0;

  uint64_t allocs = 0, frees = 0, fails = 0;
  for (unsigned i = 0; i < threads; i++) {
    allocs += ws[i].allocs;
    frees += ws[i].frees;
    fails += ws[i].alloc_failures;
  }
  for (unsigned c = 0; c < consumers; c++) {
    pthread_mutex_destroy(&queues[c].mu);
    pthread_cond_destroy(&queues[c].not_empty);
    pthread_cond_destroy(&queues[c].not_full);
  }
  free(queues);
  free(ws);
  free(tids);

  uint64_t ops = allocs + frees;
  printf("bench_xmalloc: producers=%u consumers=%u iters=%llu size=%llu..%llu time=%.6f ops/s=%.2f "
         "alloc_failures=%llu\n",
         producers, consumers, (unsigned long long)iters, (unsigned long long)min,
         (unsigned long long)max, secs, bench_rate((double)ops, secs), (unsigned long long)fails);
  if (allocs != frees)
    fprintf(stderr, "bench_xmalloc: internal error: allocated %llu, freed %llu\n",
            (unsigned long long)allocs, (unsigned long long)frees);
  bench_result("xmalloc", ops, secs,
               " threads=%u producers=%u consumers=%u iters=%llu min=%llu max=%llu allocs=%llu frees=%llu"
               " alloc_failures=%llu",
               threads, producers, consumers, (unsigned long long)iters, (unsigned long long)min,
               (unsigned long long)max, (unsigned long long)allocs, (unsigned long long)frees,
               (unsigned long long)fails);
  return allocs == frees ? 0 : 1;
}
