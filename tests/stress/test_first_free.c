/* A brand-new thread whose very first allocator call touches an object it
 * does not own, for a sweep of sizes covering every class and band:
 *   - free of an object allocated by a thread that has already exited
 *     (then the rest of that dead thread's objects, emptying its pages),
 *   - free of an object the (live) main thread allocated,
 *   - realloc of a dead thread's object (grow or shrink),
 *   - malloc_usable_size of a dead thread's object (then write all of it),
 *   - free(NULL) first, then a dead thread's object.
 * Sizes run from 1 byte to 2 MiB, plus a few huge ones (4..9 MiB).
 * Then a storm: several new threads released together, each starting with
 * frees of the same dead thread's objects.
 *
 * The threads verify content before their first call; verification does
 * not call the allocator (except to report a failure).
 *
 * usage: test_first_free [scale] */
#include <malloc.h>
#include <stdatomic.h>

#include "stress.h"

#define MAX_SIZES 1024
static size_t sizes[MAX_SIZES];
static int nsizes;

static void add_size(size_t s) {
  if (s < 1 || s > ST_HUGE_HI || nsizes == MAX_SIZES) return;
  for (int i = 0; i < nsizes; i++)
    if (sizes[i] == s) return;
  sizes[nsizes++] = s;
}

static int cmp_size(const void *a, const void *b) {
  size_t x = *(const size_t *)a, y = *(const size_t *)b;
  return x < y ? -1 : x > y;
}

static void build_sizes(void) {
  size_t s;
  for (s = 1; s <= 256; s++) add_size(s);
  for (s = 264; s <= 2048; s += 8) add_size(s);
  for (s = 2048; s <= 4096; s += 64) {
    add_size(s - 1);
    add_size(s);
    add_size(s + 1);
  }
  /* Geometric with 8 steps per doubling, plus +-1 around powers of two. */
  for (size_t base = 4096; base < st_band_hi[ST_LARGE]; base *= 2) {
    for (int k = 0; k < 8; k++) add_size(base + base * (size_t)k / 8);
    add_size(base - 1);
    add_size(base + 1);
  }
  add_size(2048);
  add_size(2049);
  add_size(4096);
  add_size(4097);
  add_size(65535);
  add_size(65536);
  add_size(65537);
  add_size(100 * 1024);
  add_size(st_band_hi[ST_LARGE] - 1);
  add_size(st_band_hi[ST_LARGE]);
  /* a few huge sizes (blocks spanning several 4 MiB arena slots in hz3) */
  add_size(((size_t)4 << 20) - 1);
  add_size((size_t)4 << 20);
  add_size(((size_t)4 << 20) + 1);
  add_size(((size_t)6 << 20) + 123);
  add_size(((size_t)8 << 20) + 1);
  add_size(ST_HUGE_HI);
  qsort(sizes, (size_t)nsizes, sizeof sizes[0], cmp_size);
}

/* ------------------------------------------------------------------------ */
#define NOBJ 24 /* per dead thread: groups for each first-call kind */

typedef struct {
  size_t size;
  int n;
  uint64_t idbase;
  void *p[NOBJ];
} dead_set;

static void *dead_alloc_thread(void *vp) {
  dead_set *d = (dead_set *)vp;
  for (int i = 0; i < d->n; i++) d->p[i] = st_alloc(d->size, d->idbase + (uint64_t)i, "dead owner alloc");
  return NULL;
}

/* Runs fn in a new thread and waits for it. */
static void run_thread(void *(*fn)(void *), void *arg) {
  pthread_t t;
  st_create(&t, NULL, fn, arg);
  st_join(t);
}

typedef struct {
  dead_set *d;
  int from, to; /* object range this thread handles */
  size_t rsize; /* realloc target */
  st_tally t;
} job;

/* First call: free of a dead thread's object, then the rest of its range. */
static void *first_free(void *vp) {
  job *j = (job *)vp;
  dead_set *d = j->d;
  int ok = st_verify(d->p[j->from], d->size, d->idbase + (uint64_t)j->from, "first free (pre)");
  free(d->p[j->from]); /* the thread's first allocator call */
  st_count(&j->t, ok);
  d->p[j->from] = NULL;
  for (int i = j->from + 1; i < j->to; i++) {
    st_count(&j->t, st_free(d->p[i], d->size, d->idbase + (uint64_t)i, "first free (rest)"));
    d->p[i] = NULL;
  }
  /* Then ordinary use of the same size on this thread. */
  void *q = st_alloc(d->size, 77, "after first free");
  if (q) st_count(&j->t, st_free(q, d->size, 77, "after first free"));
  return NULL;
}

/* First call: free(NULL), then like first_free. */
static void *first_free_null(void *vp) {
  free(NULL);
  return first_free(vp);
}

/* First call: realloc of a dead thread's object. */
static void *first_realloc(void *vp) {
  job *j = (job *)vp;
  dead_set *d = j->d;
  void *p = d->p[j->from];
  uint64_t id = d->idbase + (uint64_t)j->from;
  uint64_t seed = st_seed(p, d->size, id);
  st_count(&j->t, st_verify_seed(p, d->size, seed, "first realloc (pre)", id));
  void *q = realloc(p, j->rsize); /* the thread's first allocator call */
  d->p[j->from] = NULL;
  if (!q) {
    ST_FAIL("first realloc(%p, %zu -> %zu) returned NULL", p, d->size, j->rsize);
  } else {
    size_t keep = d->size < j->rsize ? d->size : j->rsize;
    st_count(&j->t, st_verify_seed(q, keep, seed, "first realloc (copy)", id));
    st_fill(q, j->rsize, id + 1000);
    st_count(&j->t, st_free(q, j->rsize, id + 1000, "first realloc result"));
  }
  for (int i = j->from + 1; i < j->to; i++) {
    st_count(&j->t, st_free(d->p[i], d->size, d->idbase + (uint64_t)i, "first realloc (rest)"));
    d->p[i] = NULL;
  }
  return NULL;
}

/* First call: malloc_usable_size of a dead thread's object. */
static void *first_usable(void *vp) {
  job *j = (job *)vp;
  dead_set *d = j->d;
  void *p = d->p[j->from];
  uint64_t id = d->idbase + (uint64_t)j->from;
  size_t us = malloc_usable_size(p); /* the thread's first allocator call */
  if (us < d->size) {
    ST_FAIL("first malloc_usable_size(%p) = %zu < requested %zu", p, us, d->size);
    us = d->size;
  } else {
    j->t.ok++;
  }
  st_count(&j->t, st_verify(p, d->size, id, "first usable (pre)"));
  /* All usable bytes are ours: fill and verify them. */
  st_fill(p, us, id);
  st_count(&j->t, st_free(p, us, id, "first usable (whole)"));
  d->p[j->from] = NULL;
  for (int i = j->from + 1; i < j->to; i++) {
    st_count(&j->t, st_free(d->p[i], d->size, d->idbase + (uint64_t)i, "first usable (rest)"));
    d->p[i] = NULL;
  }
  return NULL;
}

static void phase_sweep(long reps) {
  st_phase_begin("first call per size");
  st_tally all = {0, 0};
  long threads = 0;
  for (long rep = 0; rep < reps; rep++) {
    for (int si = 0; si < nsizes; si++) {
      size_t s = sizes[si];
      dead_set d;
      memset(&d, 0, sizeof d);
      d.size = s;
      /* Fewer objects for big sizes, but at least one per first-call kind. */
      d.n = s <= 4096 ? NOBJ : s <= 65536 ? 12 : 4;
      d.idbase = ((uint64_t)(rep * MAX_SIZES + si) << 16);
      run_thread(dead_alloc_thread, &d);
      threads++;
      int per = d.n / 4;
      job jobs[4];
      for (int k = 0; k < 4; k++) {
        jobs[k] = (job){&d, k * per, (k + 1) * per, 0, {0, 0}};
        jobs[k].rsize = (si + k) % 2 ? s * 2 + 1 : s / 2 + 1;
        if (jobs[k].rsize > ST_HUGE_HI) jobs[k].rsize = s / 2 + 1;
      }
      jobs[3].to = d.n;
      run_thread(first_free, &jobs[0]);
      run_thread(first_realloc, &jobs[1]);
      run_thread(first_usable, &jobs[2]);
      run_thread(first_free_null, &jobs[3]);
      threads += 4;
      /* A live (main-thread) object freed first by a new thread. */
      dead_set m;
      memset(&m, 0, sizeof m);
      m.size = s;
      m.n = 2;
      m.idbase = d.idbase + 0x8000;
      for (int i = 0; i < m.n; i++) m.p[i] = st_alloc(s, m.idbase + (uint64_t)i, "main object");
      job jm = {&m, 0, m.n, 0, {0, 0}};
      run_thread(first_free, &jm);
      threads++;
      for (int k = 0; k < 4; k++) {
        all.ok += jobs[k].t.ok;
        all.bad += jobs[k].t.bad;
      }
      all.ok += jm.t.ok;
      all.bad += jm.t.bad;
      for (int i = 0; i < d.n; i++)
        if (d.p[i]) ST_FAIL("size %zu: object %d was not freed", s, i);
    }
  }
  CHECK(all.bad == 0, "sweep: %ld of %ld checks failed", all.bad, all.ok + all.bad);
  CHECK(all.ok > 0, "sweep ran");
  printf("   %d sizes x %ld reps, %ld threads, %ld checks\n", nsizes, reps, threads, all.ok);
  st_phase_end("first call per size");
}

/* ------------------------------------------------------------------------ */
/* storm: several fresh threads start together, each first freeing objects
 * of the same dead thread */
#define STORM_THREADS 8
#define STORM_PER 8
static pthread_barrier_t storm_bar;

typedef struct {
  void **p;
  size_t size;
  uint64_t idbase;
  int from;
  st_tally t;
} storm_job;

typedef struct {
  size_t size;
  uint64_t idbase;
  void *p[STORM_THREADS * STORM_PER];
} storm_set;

static void *storm_alloc(void *vp) {
  storm_set *s = (storm_set *)vp;
  for (int i = 0; i < STORM_THREADS * STORM_PER; i++)
    s->p[i] = st_alloc(s->size, s->idbase + (uint64_t)i, "storm owner alloc");
  return NULL;
}

static void *storm_thread(void *vp) {
  storm_job *j = (storm_job *)vp;
  pthread_barrier_wait(&storm_bar);
  for (int i = j->from; i < j->from + STORM_PER; i++) {
    /* The first iteration's free is this thread's first allocator call. */
    st_count(&j->t, st_free(j->p[i], j->size, j->idbase + (uint64_t)i, "storm first free"));
    j->p[i] = NULL;
  }
  return NULL;
}

static void phase_storm(long reps) {
  st_phase_begin("first-free storm");
  st_tally all = {0, 0};
  for (long rep = 0; rep < reps; rep++) {
    for (int si = 0; si < nsizes; si += 5) {
      storm_set s;
      s.size = sizes[si] > 262144 ? 262144 : sizes[si];
      s.idbase = (uint64_t)(rep * MAX_SIZES + si + 1) << 20;
      run_thread(storm_alloc, &s);
      pthread_barrier_init(&storm_bar, NULL, STORM_THREADS);
      pthread_t th[STORM_THREADS];
      storm_job jobs[STORM_THREADS];
      for (int k = 0; k < STORM_THREADS; k++) {
        jobs[k] = (storm_job){s.p, s.size, s.idbase, k * STORM_PER, {0, 0}};
        st_create(&th[k], NULL, storm_thread, &jobs[k]);
      }
      for (int k = 0; k < STORM_THREADS; k++) {
        st_join(th[k]);
        all.ok += jobs[k].t.ok;
        all.bad += jobs[k].t.bad;
      }
      pthread_barrier_destroy(&storm_bar);
    }
  }
  CHECK(all.bad == 0, "storm: %ld of %ld objects corrupted", all.bad, all.ok + all.bad);
  printf("   %ld objects freed first by fresh threads\n", all.ok + all.bad);
  st_phase_end("first-free storm");
}

int main(int argc, char **argv) {
  double scale = st_scale(argc, argv);
  double t0 = st_now();
  build_sizes();
  long reps = st_scaled(3, scale);
  phase_sweep(reps);
  phase_storm(reps);
  printf("test_first_free: total %.2f s (scale %.2f)\n", st_now() - t0, scale);
  return hz_test_finish();
}
