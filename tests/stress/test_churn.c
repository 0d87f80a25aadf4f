/* Thread churn: thousands of threads over the run, hundreds alive at once,
 * each on a small (64 KiB) stack. The allocator must have no thread limit and
 * must hand back (or adopt) the caches of exited threads.
 *
 * 1. waves: waves of 300 threads start together from a barrier (allocation
 *    storm at startup), allocate, free, keep survivors, exit.
 * 2. rolling: 300 threads are always alive, each holding live objects while
 *    it waits; the main thread releases and joins the oldest and starts a new
 *    one in its place, for thousands of threads in total.
 * Every thread leaves a few survivors in a shared table; a later thread
 * swaps them out and frees them (verifying their content first).
 *
 * usage: test_churn [scale] */
#include <semaphore.h>
#include <stdatomic.h>

#include "stress.h"

#define ALIVE 300
#define STACK_SIZE (64 * 1024)
#define SURVIVOR_SLOTS 2048
#define SURVIVORS_PER_THREAD 4
#define HELD 12

static double scale = 1.0;
static _Atomic(void *) survivors[SURVIVOR_SLOTS];
static atomic_long threads_run, survivors_freed, bad_total;
static pthread_attr_t small_stack;

typedef struct {
  long id;
  sem_t *hold; /* NULL: do not wait */
} churn_arg;

static churn_arg args[ALIVE];
static sem_t holds[ALIVE];

/* One thread's life: churn, hold live objects (optionally until released),
 * leave survivors, free an earlier thread's survivors, exit. */
static void *churn_thread(void *vp) {
  churn_arg *a = (churn_arg *)vp;
  long me = a->id;
  st_rng r;
  st_rng_init(&r, 100000 + (uint64_t)me);
  st_tally t = {0, 0};
  uint64_t id = (uint64_t)(me + 1) << 32;

  /* Objects held across the wait: every live thread owns some memory. */
  st_obj held[HELD];
  for (int i = 0; i < HELD; i++) {
    size_t sz = st_size(&r, 0);
    held[i] = (st_obj){st_alloc(sz, id, "churn held"), sz, id};
    id++;
  }
  /* Short-lived churn. */
  for (int i = 0; i < 48; i++) {
    size_t sz = i == 47 && me % 16 == 0 ? st_size_in_band(&r, ST_LARGE) : st_size(&r, 0);
    void *p = st_alloc(sz, id, "churn temp");
    if (p) st_count(&t, st_free(p, sz, id, "churn temp"));
    id++;
  }

  if (a->hold) sem_wait(a->hold);

  /* Realloc a couple of held objects, then free everything held. */
  for (int i = 0; i < HELD; i++) {
    if (!held[i].p) continue;
    if (i % 4 == 0) {
      size_t ns = st_size(&r, 0);
      void *q = st_realloc(held[i].p, held[i].size, held[i].id, ns, id, "churn realloc");
      held[i] = (st_obj){q, ns, id};
      id++;
      if (!q) continue;
    }
    st_count(&t, st_free(held[i].p, held[i].size, held[i].id, "churn held free"));
  }
  /* Survivors: swap fresh ones in, free what an earlier thread left. */
  for (int i = 0; i < SURVIVORS_PER_THREAD; i++) {
    void *p = st_hdr_alloc(st_size(&r, 0), id++, "churn survivor");
    if (!p) continue;
    void *old = atomic_exchange(&survivors[st_below(&r, SURVIVOR_SLOTS)], p);
    if (old) {
      st_count(&t, st_hdr_free(old, "earlier thread's survivor"));
      atomic_fetch_add(&survivors_freed, 1);
    }
  }
  if (t.bad) atomic_fetch_add(&bad_total, t.bad);
  atomic_fetch_add(&threads_run, 1);
  return NULL;
}

static int create_small(pthread_t *th, churn_arg *a) {
  int rc = pthread_create(th, &small_stack, churn_thread, a);
  if (rc) ST_FAIL("pthread_create with a %d KiB stack failed after %ld threads: %s",
                  STACK_SIZE / 1024, atomic_load(&threads_run), strerror(rc));
  return rc == 0;
}

/* ------------------------------------------------------------------------ */
static pthread_barrier_t wave_bar;
static churn_arg wave_args[ALIVE];

static void *wave_thread(void *vp) {
  pthread_barrier_wait(&wave_bar);
  return churn_thread(vp);
}

static void phase_waves(long waves) {
  st_phase_begin("waves");
  pthread_t th[ALIVE];
  for (long w = 0; w < waves; w++) {
    int n = 0;
    pthread_barrier_init(&wave_bar, NULL, ALIVE + 1);
    for (int i = 0; i < ALIVE; i++) {
      wave_args[i] = (churn_arg){1000000 + w * ALIVE + i, NULL};
      int rc = pthread_create(&th[i], &small_stack, wave_thread, &wave_args[i]);
      if (rc) {
        ST_FAIL("wave %ld: pthread_create #%d with a %d KiB stack failed: %s", w, i,
                STACK_SIZE / 1024, strerror(rc));
        break;
      }
      n++;
    }
    if (n < ALIVE) {
      /* Cannot complete the barrier; give up the phase (failure reported). */
      fflush(stderr);
      printf("%ld passed, %ld failed\n", atomic_load(&hz_test_passed),
             atomic_load(&hz_test_failed));
      fflush(stdout);
      _exit(1);
    }
    pthread_barrier_wait(&wave_bar);
    for (int i = 0; i < n; i++) st_join(th[i]);
    pthread_barrier_destroy(&wave_bar);
  }
  printf("   %ld waves of %d threads\n", waves, ALIVE);
  st_phase_end("waves");
}

static void phase_rolling(long total) {
  st_phase_begin("rolling");
  pthread_t th[ALIVE];
  int live[ALIVE] = {0};
  long created = 0;
  for (int i = 0; i < ALIVE; i++) sem_init(&holds[i], 0, 0);
  for (long t = 0; t < total; t++) {
    int s = (int)(t % ALIVE);
    if (live[s]) {
      sem_post(&holds[s]);
      st_join(th[s]);
      live[s] = 0;
    }
    args[s] = (churn_arg){t, &holds[s]};
    if (!create_small(&th[s], &args[s])) break;
    live[s] = 1;
    created++;
    /* Now and then the main thread frees survivors itself. */
    if (t % 500 == 499) {
      st_tally tl = {0, 0};
      for (int k = 0; k < 64; k++) {
        void *p = atomic_exchange(&survivors[(t * 7 + k * 31) % SURVIVOR_SLOTS], NULL);
        if (p) st_count(&tl, st_hdr_free(p, "main frees survivor"));
      }
      CHECK(tl.bad == 0, "main survivor frees: %ld corrupted", tl.bad);
    }
  }
  for (int s = 0; s < ALIVE; s++) {
    if (!live[s]) continue;
    sem_post(&holds[s]);
    st_join(th[s]);
  }
  for (int i = 0; i < ALIVE; i++) sem_destroy(&holds[i]);
  CHECK(created == total, "created %ld of %ld threads", created, total);
  printf("   %ld threads, %d alive at once\n", created, ALIVE);
  st_phase_end("rolling");
}

int main(int argc, char **argv) {
  scale = st_scale(argc, argv);
  double t0 = st_now();
  pthread_attr_init(&small_stack);
  int rc = pthread_attr_setstacksize(&small_stack, STACK_SIZE);
  CHECK(rc == 0, "pthread_attr_setstacksize(%d): %s", STACK_SIZE, strerror(rc));

  long waves = st_scaled(4, scale);
  long rolling = st_scaled(3000, scale);
  phase_waves(waves);
  phase_rolling(rolling);

  st_tally t = {0, 0};
  for (int i = 0; i < SURVIVOR_SLOTS; i++) {
    void *p = atomic_exchange(&survivors[i], NULL);
    if (p) st_count(&t, st_hdr_free(p, "final survivor free"));
  }
  long expect = waves * ALIVE + rolling;
  CHECK(atomic_load(&threads_run) == expect, "%ld threads ran, expected %ld",
        atomic_load(&threads_run), expect);
  CHECK(atomic_load(&bad_total) == 0 && t.bad == 0, "%ld objects corrupted in threads, %ld at the end",
        atomic_load(&bad_total), t.bad);
  printf("   %ld survivors freed by later threads\n", atomic_load(&survivors_freed));
  pthread_attr_destroy(&small_stack);
  printf("test_churn: total %.2f s (scale %.2f)\n", st_now() - t0, scale);
  return hz_test_finish();
}
