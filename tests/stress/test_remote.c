/* Remote (cross-thread) frees under load, with content verification.
 *
 * 1. producer/consumer: P producers allocate objects of every size band and
 *    pass them in batches (the batch array is itself a heap object) through a
 *    bounded queue to C consumers, which verify and free them, realloc some
 *    first, and keep a few for a while before freeing them.
 * 2. ring: T threads, thread i sends most of its objects to thread i+1 over
 *    a lock-free SPSC ring; each thread verifies and frees (or reallocs then
 *    frees) what its neighbour allocated.
 * 3. remote realloc: owners keep allocating while other threads grow, shrink
 *    and move their objects with realloc across all bands (and now and then
 *    into a huge 4..9 MiB block).
 * 4. shared slots (xmalloc/larson style): threads swap their fresh objects
 *    into random slots of a shared table and free whatever they swapped out.
 *
 * usage: test_remote [scale] */
#include <sched.h>
#include <stdatomic.h>

#include "stress.h"

static double scale = 1.0;

/* ------------------------------------------------------------------------ */
/* 1. producer / consumer                                                    */
/* ------------------------------------------------------------------------ */
#define PC_PRODUCERS 3
#define PC_CONSUMERS 2
#define PC_BATCH 32
#define PC_QCAP 64

typedef struct {
  int n;
  st_obj o[PC_BATCH];
} pc_batch;

static struct {
  pthread_mutex_t mu;
  pthread_cond_t not_empty, not_full;
  pc_batch *q[PC_QCAP];
  int head, count, producers_left;
} pcq = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, PTHREAD_COND_INITIALIZER,
         {0}, 0, 0, 0};

static long pc_per_producer;
static atomic_long pc_produced, pc_consumed, pc_realloced;

static void pc_push(pc_batch *b) {
  pthread_mutex_lock(&pcq.mu);
  while (pcq.count == PC_QCAP) pthread_cond_wait(&pcq.not_full, &pcq.mu);
  pcq.q[(pcq.head + pcq.count) % PC_QCAP] = b;
  pcq.count++;
  pthread_cond_signal(&pcq.not_empty);
  pthread_mutex_unlock(&pcq.mu);
}

static pc_batch *pc_pop(void) {
  pc_batch *b = NULL;
  pthread_mutex_lock(&pcq.mu);
  while (pcq.count == 0 && pcq.producers_left > 0) pthread_cond_wait(&pcq.not_empty, &pcq.mu);
  if (pcq.count > 0) {
    b = pcq.q[pcq.head];
    pcq.head = (pcq.head + 1) % PC_QCAP;
    pcq.count--;
    pthread_cond_signal(&pcq.not_full);
  }
  pthread_mutex_unlock(&pcq.mu);
  return b;
}

static void *pc_producer(void *arg) {
  long me = (long)arg;
  st_rng r;
  st_rng_init(&r, 1000 + me);
  st_tally t = {0, 0};
  uint64_t idbase = (uint64_t)(me + 1) << 40;
  pc_batch *b = NULL;
  for (long i = 0; i < pc_per_producer; i++) {
    if (!b) {
      b = (pc_batch *)malloc(sizeof *b);
      CHECK(b != NULL, "batch malloc");
      if (!b) break;
      b->n = 0;
    }
    size_t sz = st_size(&r, 2);
    uint64_t id = idbase + (uint64_t)i;
    void *p = st_alloc(sz, id, "pc producer");
    if (!p) continue;
    if (st_below(&r, 8) == 0) {
      /* Some local traffic mixed in. */
      st_count(&t, st_free(p, sz, id, "pc producer local"));
      continue;
    }
    b->o[b->n++] = (st_obj){p, sz, id};
    atomic_fetch_add(&pc_produced, 1);
    if (b->n == PC_BATCH) {
      pc_push(b);
      b = NULL;
    }
  }
  if (b && b->n) pc_push(b);
  else free(b);
  pthread_mutex_lock(&pcq.mu);
  pcq.producers_left--;
  pthread_cond_broadcast(&pcq.not_empty);
  pthread_mutex_unlock(&pcq.mu);
  CHECK(t.bad == 0, "producer %ld: %ld local objects corrupted", me, t.bad);
  return NULL;
}

#define PC_STASH 64
static void *pc_consumer(void *arg) {
  long me = (long)arg;
  st_rng r;
  st_rng_init(&r, 2000 + me);
  st_tally t = {0, 0};
  st_obj stash[PC_STASH];
  int nstash = 0;
  uint64_t nid = (uint64_t)(100 + me) << 40;
  pc_batch *b;
  while ((b = pc_pop()) != NULL) {
    for (int k = 0; k < b->n; k++) {
      st_obj o = b->o[k];
      uint64_t pick = st_below(&r, 16);
      if (pick < 2) {
        /* Realloc a remote object: grow or shrink, often into another band. */
        size_t ns = st_size(&r, 2);
        void *q = st_realloc(o.p, o.size, o.id, ns, nid, "pc consumer realloc");
        atomic_fetch_add(&pc_realloced, 1);
        if (q) o = (st_obj){q, ns, nid++};
        else {
          t.bad++;
          atomic_fetch_add(&pc_consumed, 1);
          continue;
        }
      }
      if (pick >= 2 && pick < 4) {
        /* Keep it for a while; free a random stashed one when full. */
        if (nstash == PC_STASH) {
          int j = (int)st_below(&r, PC_STASH);
          st_count(&t, st_free(stash[j].p, stash[j].size, stash[j].id, "pc consumer stash"));
          stash[j] = o;
        } else {
          stash[nstash++] = o;
        }
      } else {
        st_count(&t, st_free(o.p, o.size, o.id, "pc consumer"));
      }
      atomic_fetch_add(&pc_consumed, 1);
    }
    free(b); /* the batch array came from a producer too */
  }
  for (int j = 0; j < nstash; j++)
    st_count(&t, st_free(stash[j].p, stash[j].size, stash[j].id, "pc consumer stash"));
  CHECK(t.bad == 0, "consumer %ld: %ld of %ld objects corrupted", me, t.bad, t.ok + t.bad);
  return NULL;
}

static void phase_producer_consumer(void) {
  st_phase_begin("producer/consumer");
  pc_per_producer = st_scaled(120000, scale);
  pcq.producers_left = PC_PRODUCERS;
  pthread_t p[PC_PRODUCERS], c[PC_CONSUMERS];
  for (long i = 0; i < PC_CONSUMERS; i++) st_create(&c[i], NULL, pc_consumer, (void *)i);
  for (long i = 0; i < PC_PRODUCERS; i++) st_create(&p[i], NULL, pc_producer, (void *)i);
  for (int i = 0; i < PC_PRODUCERS; i++) st_join(p[i]);
  for (int i = 0; i < PC_CONSUMERS; i++) st_join(c[i]);
  CHECK(pcq.count == 0, "queue not drained: %d batches left", pcq.count);
  CHECK(atomic_load(&pc_produced) == atomic_load(&pc_consumed),
        "produced %ld objects, consumed %ld", atomic_load(&pc_produced),
        atomic_load(&pc_consumed));
  printf("   %ld objects passed, %ld realloced remotely\n", atomic_load(&pc_consumed),
         atomic_load(&pc_realloced));
  st_phase_end("producer/consumer");
}

/* ------------------------------------------------------------------------ */
/* 2. ring of threads, each freeing its neighbour's objects                  */
/* ------------------------------------------------------------------------ */
#define RING_THREADS 4
#define RING_CAP 1024 /* power of two */

typedef struct {
  _Alignas(64) atomic_ulong head; /* consumer */
  _Alignas(64) atomic_ulong tail; /* producer */
  _Alignas(64) atomic_int producer_done;
  st_obj slot[RING_CAP];
} spsc_ring;

static spsc_ring *rings; /* rings[i] carries objects from thread i-1 to thread i */
static long ring_per_thread;
static atomic_long ring_sent, ring_freed, ring_full_spins;

static int ring_push(spsc_ring *q, st_obj o) {
  unsigned long t = atomic_load_explicit(&q->tail, memory_order_relaxed);
  unsigned long h = atomic_load_explicit(&q->head, memory_order_acquire);
  if (t - h == RING_CAP) return 0;
  q->slot[t & (RING_CAP - 1)] = o;
  atomic_store_explicit(&q->tail, t + 1, memory_order_release);
  return 1;
}

static int ring_pop(spsc_ring *q, st_obj *o) {
  unsigned long h = atomic_load_explicit(&q->head, memory_order_relaxed);
  unsigned long t = atomic_load_explicit(&q->tail, memory_order_acquire);
  if (h == t) return 0;
  *o = q->slot[h & (RING_CAP - 1)];
  atomic_store_explicit(&q->head, h + 1, memory_order_release);
  return 1;
}

static int ring_drain(spsc_ring *in, st_rng *r, st_tally *t, uint64_t *nid, int max) {
  st_obj o;
  int n = 0;
  while (n < max && ring_pop(in, &o)) {
    if (st_below(r, 8) == 0) {
      size_t ns = st_size(r, 1);
      void *q = st_realloc(o.p, o.size, o.id, ns, *nid, "ring realloc");
      if (q) {
        o = (st_obj){q, ns, (*nid)++};
      } else {
        t->bad++;
        n++;
        continue;
      }
    }
    st_count(t, st_free(o.p, o.size, o.id, "ring neighbour free"));
    n++;
  }
  atomic_fetch_add(&ring_freed, n);
  return n;
}

static void *ring_thread(void *arg) {
  long me = (long)arg;
  spsc_ring *in = &rings[me], *out = &rings[(me + 1) % RING_THREADS];
  st_rng r;
  st_rng_init(&r, 3000 + me);
  st_tally t = {0, 0};
  uint64_t id = (uint64_t)(200 + me) << 40, nid = (uint64_t)(300 + me) << 40;
  long sent = 0;
  for (long i = 0; i < ring_per_thread; i++) {
    size_t sz = st_size(&r, 1);
    void *p = st_alloc(sz, id, "ring alloc");
    if (!p) continue;
    if (st_below(&r, 10) == 0) {
      st_count(&t, st_free(p, sz, id++, "ring local free"));
    } else {
      st_obj o = {p, sz, id++};
      while (!ring_push(out, o)) {
        atomic_fetch_add(&ring_full_spins, 1);
        if (!ring_drain(in, &r, &t, &nid, RING_CAP)) sched_yield();
      }
      sent++;
    }
    if ((i & 7) == 0) ring_drain(in, &r, &t, &nid, 16);
  }
  atomic_fetch_add(&ring_sent, sent);
  atomic_store(&out->producer_done, 1);
  for (;;) {
    int done = atomic_load(&in->producer_done);
    if (!ring_drain(in, &r, &t, &nid, RING_CAP)) {
      if (done) break;
      sched_yield();
    }
  }
  CHECK(t.bad == 0, "ring thread %ld: %ld of %ld objects corrupted", me, t.bad, t.ok + t.bad);
  return NULL;
}

static void phase_ring(void) {
  st_phase_begin("ring");
  ring_per_thread = st_scaled(120000, scale);
  rings = (spsc_ring *)calloc(RING_THREADS, sizeof *rings);
  CHECK(rings != NULL, "ring calloc");
  if (!rings) return;
  pthread_t th[RING_THREADS];
  for (long i = 0; i < RING_THREADS; i++) st_create(&th[i], NULL, ring_thread, (void *)i);
  for (int i = 0; i < RING_THREADS; i++) st_join(th[i]);
  CHECK(atomic_load(&ring_sent) == atomic_load(&ring_freed), "ring sent %ld, freed %ld",
        atomic_load(&ring_sent), atomic_load(&ring_freed));
  printf("   %ld objects freed by the neighbour (%ld ring-full waits)\n",
         atomic_load(&ring_freed), atomic_load(&ring_full_spins));
  free(rings);
  st_phase_end("ring");
}

/* ------------------------------------------------------------------------ */
/* 3. realloc of objects owned by other (live, busy) threads                 */
/* ------------------------------------------------------------------------ */
#define RR_OWNERS 2
#define RR_OBJS 256

static st_obj rr_objs[RR_OWNERS][RR_OBJS];
static pthread_barrier_t rr_ready;
static atomic_int rr_stop;

static void *rr_owner(void *arg) {
  long me = (long)arg;
  st_rng r;
  st_rng_init(&r, 4000 + me);
  st_tally t = {0, 0};
  uint64_t id = (uint64_t)(400 + me) << 40;
  for (int i = 0; i < RR_OBJS; i++) {
    int band = i % 16 == 15 ? ST_LARGE : i % 3;
    size_t sz = st_size_in_band(&r, band);
    rr_objs[me][i] = (st_obj){st_alloc(sz, id, "rr owner"), sz, id};
    id++;
  }
  pthread_barrier_wait(&rr_ready);
  /* Keep the owner's heap busy while others realloc its objects. */
  enum { LIVE = 64 };
  st_obj live[LIVE] = {{0}};
  while (!atomic_load(&rr_stop)) {
    int j = (int)st_below(&r, LIVE);
    if (live[j].p) st_count(&t, st_free(live[j].p, live[j].size, live[j].id, "rr owner churn"));
    size_t sz = st_size(&r, 0);
    live[j] = (st_obj){st_alloc(sz, id, "rr owner churn"), sz, id};
    id++;
  }
  for (int j = 0; j < LIVE; j++)
    if (live[j].p) st_count(&t, st_free(live[j].p, live[j].size, live[j].id, "rr owner churn"));
  CHECK(t.bad == 0, "rr owner %ld: %ld objects corrupted", me, t.bad);
  return NULL;
}

static void *rr_reallocer(void *arg) {
  long me = (long)arg; /* reallocs the objects of owner `me` */
  st_rng r;
  st_rng_init(&r, 5000 + me);
  st_tally t = {0, 0};
  uint64_t nid = (uint64_t)(500 + me) << 40;
  pthread_barrier_wait(&rr_ready);
  long rounds = st_scaled(40, scale);
  for (long round = 0; round < rounds; round++) {
    for (int i = 0; i < RR_OBJS; i++) {
      st_obj *o = &rr_objs[me][i];
      if (!o->p) continue;
      size_t ns;
      switch (st_below(&r, 6)) {
        case 0: ns = o->size; break;                                      /* same size */
        case 1: ns = o->size / 2 + 1; break;                              /* shrink */
        case 2: ns = o->size + 1 + st_below(&r, o->size < 4096 ? o->size : 4096); break;
        case 3: ns = 1 + st_below(&r, 16); break;                         /* tiny */
        case 4: ns = st_size_in_band(&r, (int)st_below(&r, 3)); break;
        default: ns = st_size(&r, 30); break;                             /* any band */
      }
      if (ns > st_band_hi[ST_LARGE]) ns = st_band_hi[ST_LARGE];
      if (i == (int)(round % RR_OBJS)) ns = (size_t)st_range(&r, ST_HUGE_LO, ST_HUGE_HI);
      void *q = st_realloc(o->p, o->size, o->id, ns, nid, "remote realloc");
      t.ok++;
      *o = (st_obj){q, ns, nid++};
    }
  }
  for (int i = 0; i < RR_OBJS; i++) {
    st_obj *o = &rr_objs[me][i];
    if (o->p) st_count(&t, st_free(o->p, o->size, o->id, "remote realloc final free"));
    o->p = NULL;
  }
  CHECK(t.bad == 0, "reallocer %ld: %ld objects corrupted", me, t.bad);
  return NULL;
}

static void phase_remote_realloc(void) {
  st_phase_begin("remote realloc");
  pthread_barrier_init(&rr_ready, NULL, 2 * RR_OWNERS);
  pthread_t own[RR_OWNERS], rea[RR_OWNERS];
  atomic_store(&rr_stop, 0);
  for (long i = 0; i < RR_OWNERS; i++) st_create(&own[i], NULL, rr_owner, (void *)i);
  for (long i = 0; i < RR_OWNERS; i++) st_create(&rea[i], NULL, rr_reallocer, (void *)i);
  for (int i = 0; i < RR_OWNERS; i++) st_join(rea[i]);
  atomic_store(&rr_stop, 1);
  for (int i = 0; i < RR_OWNERS; i++) st_join(own[i]);
  pthread_barrier_destroy(&rr_ready);
  st_phase_end("remote realloc");
}

/* ------------------------------------------------------------------------ */
/* 4. shared slot table: every free is of a random thread's object           */
/* ------------------------------------------------------------------------ */
#define SLOT_THREADS 4
#define SLOTS 4096
static _Atomic(void *) slots[SLOTS];

static void *slot_thread(void *arg) {
  long me = (long)arg;
  st_rng r;
  st_rng_init(&r, 6000 + me);
  st_tally t = {0, 0};
  uint64_t id = (uint64_t)(600 + me) << 40;
  long iters = st_scaled(150000, scale);
  for (long i = 0; i < iters; i++) {
    size_t sz = st_size(&r, 1);
    void *p = st_hdr_alloc(sz, id++, "slot alloc");
    if (!p) continue;
    void *old = atomic_exchange(&slots[st_below(&r, SLOTS)], p);
    if (old) st_count(&t, st_hdr_free(old, "slot swap free"));
  }
  CHECK(t.bad == 0, "slot thread %ld: %ld objects corrupted", me, t.bad);
  return NULL;
}

static void phase_slots(void) {
  st_phase_begin("shared slots");
  pthread_t th[SLOT_THREADS];
  for (long i = 0; i < SLOT_THREADS; i++) st_create(&th[i], NULL, slot_thread, (void *)i);
  for (int i = 0; i < SLOT_THREADS; i++) st_join(th[i]);
  st_tally t = {0, 0};
  for (int i = 0; i < SLOTS; i++) {
    void *p = atomic_exchange(&slots[i], NULL);
    if (p) st_count(&t, st_hdr_free(p, "slot final free"));
  }
  CHECK(t.bad == 0, "slots: %ld leftover objects corrupted", t.bad);
  st_phase_end("shared slots");
}

int main(int argc, char **argv) {
  scale = st_scale(argc, argv);
  double t0 = st_now();
  phase_producer_consumer();
  phase_ring();
  phase_remote_realloc();
  phase_slots();
  printf("test_remote: total %.2f s (scale %.2f)\n", st_now() - t0, scale);
  return hz_test_finish();
}
