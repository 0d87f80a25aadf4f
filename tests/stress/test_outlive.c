/* Objects that outlive the thread that allocated them.
 *
 * 1. allocate and exit: threads allocate objects of every band and exit;
 *    the main thread verifies them all, frees half, and later threads free
 *    the rest.
 * 2. generations: a shared pool of objects is passed down through many
 *    generations of short-lived threads (two generations alive at a time);
 *    each thread takes random objects (owned by live or dead threads),
 *    verifies them, frees some, reallocs some and puts them back, leaves
 *    some untouched, adds new ones, churns locally and exits.
 * 3. large and huge: threads allocate 100 KiB..2 MiB (and a few 4..9 MiB)
 *    objects and exit;
 *    another thread reallocs them, a third frees them.
 * 4. detached threads: detached threads allocate and exit; main frees.
 * The main thread frees whatever is left at the end.
 *
 * usage: test_outlive [scale] */
#include <stdatomic.h>

#include "stress.h"

static double scale = 1.0;

/* ------------------------------------------------------------------------ */
/* shared pool                                                               */
/* ------------------------------------------------------------------------ */
#define POOL_CAP 65536
static struct {
  pthread_mutex_t mu;
  int n;
  st_obj o[POOL_CAP];
} pool = {PTHREAD_MUTEX_INITIALIZER, 0, {{0}}};

static void pool_put(st_obj o, st_tally *t) {
  pthread_mutex_lock(&pool.mu);
  if (pool.n < POOL_CAP) {
    pool.o[pool.n++] = o;
    o.p = NULL;
  }
  pthread_mutex_unlock(&pool.mu);
  if (o.p) st_count(t, st_free(o.p, o.size, o.id, "pool overflow free"));
}

static int pool_take(st_rng *r, st_obj *o) {
  int ok = 0;
  pthread_mutex_lock(&pool.mu);
  if (pool.n > 0) {
    int i = (int)st_below(r, (uint64_t)pool.n);
    *o = pool.o[i];
    pool.o[i] = pool.o[--pool.n];
    ok = 1;
  }
  pthread_mutex_unlock(&pool.mu);
  return ok;
}

static void pool_free_all(const char *what) {
  st_tally t = {0, 0};
  pthread_mutex_lock(&pool.mu);
  for (int i = 0; i < pool.n; i++) st_count(&t, st_free(pool.o[i].p, pool.o[i].size, pool.o[i].id, what));
  long n = pool.n;
  pool.n = 0;
  pthread_mutex_unlock(&pool.mu);
  CHECK(t.bad == 0, "%s: %ld of %ld pool objects corrupted", what, t.bad, n);
}

/* ------------------------------------------------------------------------ */
/* 1. allocate and exit                                                      */
/* ------------------------------------------------------------------------ */
#define AE_THREADS 8
static long ae_per_thread;
static st_obj *ae_objs[AE_THREADS];

static void *ae_alloc_thread(void *arg) {
  long me = (long)arg;
  st_rng r;
  st_rng_init(&r, 100 + me);
  st_obj *v = (st_obj *)malloc(sizeof(st_obj) * (size_t)ae_per_thread);
  CHECK(v != NULL, "ae array");
  if (!v) return NULL;
  uint64_t id = (uint64_t)(1 + me) << 40;
  for (long i = 0; i < ae_per_thread; i++) {
    size_t sz = st_size(&r, 2);
    v[i] = (st_obj){st_alloc(sz, id, "ae alloc"), sz, id};
    id++;
    /* Some local frees so the dying thread leaves partly used pages. */
    if (i > 0 && st_below(&r, 4) == 0) {
      long j = (long)st_below(&r, (uint64_t)i);
      if (v[j].p) {
        st_free(v[j].p, v[j].size, v[j].id, "ae local free");
        v[j].p = NULL;
      }
    }
  }
  ae_objs[me] = v; /* the array itself also outlives this thread */
  return NULL;
}

static void *ae_free_thread(void *arg) {
  long me = (long)arg;
  st_tally t = {0, 0};
  /* Frees the odd-index survivors of a thread that exited long ago. */
  st_obj *v = ae_objs[me];
  for (long i = 1; i < ae_per_thread; i += 2)
    if (v[i].p) st_count(&t, st_free(v[i].p, v[i].size, v[i].id, "ae later thread free"));
  free(v);
  CHECK(t.bad == 0, "ae later thread %ld: %ld objects corrupted", me, t.bad);
  return NULL;
}

static void phase_alloc_exit(void) {
  st_phase_begin("allocate and exit");
  ae_per_thread = st_scaled(2500, scale);
  pthread_t th[AE_THREADS];
  for (long i = 0; i < AE_THREADS; i++) st_create(&th[i], NULL, ae_alloc_thread, (void *)i);
  for (int i = 0; i < AE_THREADS; i++) st_join(th[i]);
  /* Main verifies everything and frees the even-index objects. */
  st_tally t = {0, 0};
  for (int k = 0; k < AE_THREADS; k++) {
    st_obj *v = ae_objs[k];
    if (!v) continue;
    for (long i = 0; i < ae_per_thread; i++) {
      if (!v[i].p) continue;
      if (i % 2 == 0) {
        st_count(&t, st_free(v[i].p, v[i].size, v[i].id, "ae main free"));
        v[i].p = NULL;
      } else {
        st_count(&t, st_verify(v[i].p, v[i].size, v[i].id, "ae main verify"));
      }
    }
  }
  CHECK(t.bad == 0, "ae main: %ld of %ld objects corrupted", t.bad, t.ok + t.bad);
  /* Fresh threads (which may reuse the dead threads' heaps) free the rest. */
  for (long i = 0; i < AE_THREADS; i++)
    if (ae_objs[i]) st_create(&th[i], NULL, ae_free_thread, (void *)i);
  for (int i = 0; i < AE_THREADS; i++)
    if (ae_objs[i]) st_join(th[i]);
  st_phase_end("allocate and exit");
}

/* ------------------------------------------------------------------------ */
/* 2. generations                                                            */
/* ------------------------------------------------------------------------ */
#define GEN_WIDTH 4
static long gen_count, gen_take, gen_new;
static atomic_long gen_freed, gen_realloced, gen_kept;

static void *gen_thread(void *arg) {
  long tag = (long)arg; /* generation * GEN_WIDTH + index */
  st_rng r;
  st_rng_init(&r, 7000 + (uint64_t)tag);
  st_tally t = {0, 0};
  uint64_t id = (uint64_t)(1000 + tag) << 32;
  long freed = 0, realloced = 0, kept = 0;
  /* Local churn first, so this thread owns partly used pages of several
   * classes when it exits. */
  enum { CHURN = 128 };
  st_obj *tmp = (st_obj *)calloc(CHURN, sizeof *tmp);
  CHECK(tmp != NULL, "gen tmp");
  if (!tmp) return NULL;
  for (int i = 0; i < CHURN; i++) {
    size_t sz = st_size(&r, 4);
    tmp[i] = (st_obj){st_alloc(sz, id, "gen churn"), sz, id};
    id++;
  }
  for (int i = 0; i < CHURN; i += 2) {
    st_count(&t, st_free(tmp[i].p, tmp[i].size, tmp[i].id, "gen churn free"));
    tmp[i].p = NULL;
  }
  /* Take objects from earlier generations. */
  for (long k = 0; k < gen_take; k++) {
    st_obj o;
    if (!pool_take(&r, &o)) break;
    uint64_t pick = st_below(&r, 10);
    if (pick < 4) {
      st_count(&t, st_free(o.p, o.size, o.id, "gen free"));
      freed++;
    } else if (pick < 7) {
      size_t ns = st_size(&r, 4);
      void *q = st_realloc(o.p, o.size, o.id, ns, id, "gen realloc");
      if (q) {
        pool_put((st_obj){q, ns, id}, &t);
        t.ok++;
      }
      id++;
      realloced++;
    } else {
      st_count(&t, st_verify(o.p, o.size, o.id, "gen verify"));
      pool_put(o, &t);
      kept++;
    }
  }
  /* New objects for later generations, including the churn survivors. */
  for (long k = 0; k < gen_new; k++) {
    size_t sz = st_size(&r, 4);
    void *p = st_alloc(sz, id, "gen new");
    if (p) pool_put((st_obj){p, sz, id}, &t);
    id++;
  }
  for (int i = 1; i < CHURN; i += 2) pool_put(tmp[i], &t);
  free(tmp);
  atomic_fetch_add(&gen_freed, freed);
  atomic_fetch_add(&gen_realloced, realloced);
  atomic_fetch_add(&gen_kept, kept);
  CHECK(t.bad == 0, "generation thread %ld: %ld objects corrupted", tag, t.bad);
  return NULL;
}

static void phase_generations(void) {
  st_phase_begin("generations");
  gen_count = st_scaled(200, scale);
  gen_take = 400;
  gen_new = 64;
  pthread_t prev[GEN_WIDTH], cur[GEN_WIDTH];
  int have_prev = 0;
  for (long g = 0; g < gen_count; g++) {
    for (long i = 0; i < GEN_WIDTH; i++)
      st_create(&cur[i], NULL, gen_thread, (void *)(g * GEN_WIDTH + i));
    /* Two generations overlap: join the previous one only now. */
    if (have_prev)
      for (int i = 0; i < GEN_WIDTH; i++) st_join(prev[i]);
    memcpy(prev, cur, sizeof cur);
    have_prev = 1;
    /* The main thread takes part too, every few generations. */
    if (g % 8 == 7) {
      st_rng r;
      st_rng_init(&r, 9000 + (uint64_t)g);
      st_tally t = {0, 0};
      for (int k = 0; k < 100; k++) {
        st_obj o;
        if (!pool_take(&r, &o)) break;
        st_count(&t, st_free(o.p, o.size, o.id, "gen main free"));
      }
      CHECK(t.bad == 0, "generation main: %ld objects corrupted", t.bad);
    }
  }
  for (int i = 0; i < GEN_WIDTH; i++) st_join(prev[i]);
  printf("   %ld threads; remote objects freed %ld, realloced %ld, passed on %ld; pool %d\n",
         gen_count * GEN_WIDTH, atomic_load(&gen_freed), atomic_load(&gen_realloced),
         atomic_load(&gen_kept), pool.n);
  st_phase_end("generations");
}

/* ------------------------------------------------------------------------ */
/* 3. large and huge objects outliving their threads                         */
/* ------------------------------------------------------------------------ */
#define BIG_N 24
static st_obj big[BIG_N];

static void *big_alloc(void *arg) {
  long round = (long)arg;
  st_rng r;
  st_rng_init(&r, 11000 + (uint64_t)round);
  for (int i = 0; i < BIG_N; i++) {
    size_t sz = i % 4 == 0 ? st_size_in_band(&r, ST_MEDIUM) : st_size_in_band(&r, ST_LARGE);
    if (i == BIG_N - 1) sz = (size_t)st_range(&r, ST_HUGE_LO, ST_HUGE_HI); /* multi-slot */
    uint64_t id = ((uint64_t)(2000 + round) << 32) + (uint64_t)i;
    big[i] = (st_obj){st_alloc(sz, id, "big alloc"), sz, id};
  }
  return NULL;
}

static void *big_realloc(void *arg) {
  long round = (long)arg;
  st_rng r;
  st_rng_init(&r, 12000 + (uint64_t)round);
  for (int i = 0; i < BIG_N; i++) {
    if (!big[i].p) continue;
    size_t ns = st_below(&r, 3) == 0 ? st_size(&r, 0) : st_size_in_band(&r, ST_LARGE);
    if (i == BIG_N - 2) ns = (size_t)st_range(&r, ST_HUGE_LO, ST_HUGE_HI); /* grow to multi-slot */
    uint64_t nid = ((uint64_t)(3000 + round) << 32) + (uint64_t)i;
    big[i] = (st_obj){st_realloc(big[i].p, big[i].size, big[i].id, ns, nid, "big realloc"), ns,
                      nid};
  }
  return NULL;
}

static void *big_free(void *arg) {
  (void)arg;
  st_tally t = {0, 0};
  for (int i = 0; i < BIG_N; i++) {
    if (big[i].p) st_count(&t, st_free(big[i].p, big[i].size, big[i].id, "big free"));
    big[i].p = NULL;
  }
  CHECK(t.bad == 0, "big free: %ld objects corrupted", t.bad);
  return NULL;
}

static void phase_big(void) {
  st_phase_begin("large and huge");
  long rounds = st_scaled(12, scale);
  for (long round = 0; round < rounds; round++) {
    pthread_t a, b, c;
    st_create(&a, NULL, big_alloc, (void *)round);
    st_join(a);
    st_create(&b, NULL, big_realloc, (void *)round);
    st_join(b);
    if (round % 3 == 2) {
      big_free(NULL); /* main frees */
    } else {
      st_create(&c, NULL, big_free, (void *)round);
      st_join(c);
    }
  }
  st_phase_end("large and huge");
}

/* ------------------------------------------------------------------------ */
/* 4. detached threads                                                       */
/* ------------------------------------------------------------------------ */
static pthread_mutex_t det_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t det_cv = PTHREAD_COND_INITIALIZER;
static int det_running;

static void *det_thread(void *arg) {
  long me = (long)arg;
  st_rng r;
  st_rng_init(&r, 13000 + (uint64_t)me);
  st_tally t = {0, 0};
  for (int i = 0; i < 64; i++) {
    size_t sz = st_size(&r, 5);
    uint64_t id = ((uint64_t)(4000 + me) << 32) + (uint64_t)i;
    void *p = st_alloc(sz, id, "detached alloc");
    if (p) pool_put((st_obj){p, sz, id}, &t);
  }
  pthread_mutex_lock(&det_mu);
  det_running--;
  pthread_cond_signal(&det_cv);
  pthread_mutex_unlock(&det_mu);
  return NULL;
}

static void phase_detached(void) {
  st_phase_begin("detached threads");
  pool_free_all("detached pre-clear");
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  long n = st_scaled(200, scale);
  for (long i = 0; i < n; i++) {
    pthread_mutex_lock(&det_mu);
    while (det_running >= 16) pthread_cond_wait(&det_cv, &det_mu);
    det_running++;
    pthread_mutex_unlock(&det_mu);
    pthread_t t;
    st_create(&t, &attr, det_thread, (void *)i);
    if (i % 16 == 15) {
      /* main frees some detached threads' objects while others still run */
      st_rng r;
      st_rng_init(&r, 14000 + (uint64_t)i);
      st_tally tl = {0, 0};
      for (int k = 0; k < 256; k++) {
        st_obj o;
        if (!pool_take(&r, &o)) break;
        st_count(&tl, st_free(o.p, o.size, o.id, "detached main free"));
      }
      CHECK(tl.bad == 0, "detached main: %ld objects corrupted", tl.bad);
    }
  }
  pthread_mutex_lock(&det_mu);
  while (det_running > 0) pthread_cond_wait(&det_cv, &det_mu);
  pthread_mutex_unlock(&det_mu);
  pthread_attr_destroy(&attr);
  st_phase_end("detached threads");
}

int main(int argc, char **argv) {
  scale = st_scale(argc, argv);
  double t0 = st_now();
  phase_alloc_exit();
  phase_generations();
  phase_big();
  phase_detached();
  pool_free_all("final main free");
  printf("test_outlive: total %.2f s (scale %.2f)\n", st_now() - t0, scale);
  return hz_test_finish();
}
