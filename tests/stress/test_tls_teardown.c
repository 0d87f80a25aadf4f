/* malloc/free/realloc during thread and process teardown (no C++).
 *
 * 1. key destructors: several pthread keys, some created before the
 *    program's first malloc (in a constructor), some after, and some with an
 *    index above 32 (glibc then callocs a second-level block inside
 *    pthread_setspecific and frees it at thread exit). Each destructor
 *    verifies and frees its value, allocates and frees temporaries, and for
 *    rounds 1-2 allocates (or reallocs) a new value and re-sets the key, so
 *    glibc runs several destructor rounds - some after the allocator's own
 *    thread-exit hook has already run.
 * 2. thread-local destructors: a __thread object registered with
 *    __cxa_thread_atexit_impl (what C++ thread_local uses) whose destructor
 *    frees, allocates, and hands a value to a key destructor; a thread whose
 *    first allocator call is libc's calloc inside pthread_setspecific.
 * 3. threads that only free: their only allocator calls are frees of other
 *    threads' objects; some exit through pthread_exit.
 * 4. exit() while other threads still allocate: in child processes (forked
 *    while this process is single-threaded) worker threads allocate, verify
 *    and free (and create/exit threads) in a loop while the main thread -
 *    or a worker - calls exit(); an atexit handler allocates too. The child
 *    must exit with status 0 within its alarm() deadline.
 *
 * usage: test_tls_teardown [scale] */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "stress.h"

extern int __cxa_thread_atexit_impl(void (*fn)(void *), void *obj, void *dso_symbol);
extern void *__dso_handle;

static double scale = 1.0;

/* ------------------------------------------------------------------------ */
/* keys                                                                      */
/* ------------------------------------------------------------------------ */
#define EARLY_KEYS 3
#define LATE_KEYS 3
#define HIGH_KEYS 2
#define NKEYS (EARLY_KEYS + LATE_KEYS + HIGH_KEYS)
#define ROUNDS 3 /* destructor calls per key per thread; glibc allows 4 */

static pthread_key_t keys[NKEYS];
static int early_keys_ok;
static atomic_long dtor_calls[ROUNDS + 1], dtor_bad;

/* A key value is a self-describing object whose id encodes the round. */
static uint64_t value_id(long thread, int key, int round) {
  return ((uint64_t)thread << 24) | ((uint64_t)key << 8) | (uint64_t)round;
}

static void key_dtor(void *v, int key) {
  uint64_t id = ((st_u64 *)v)[1];
  int round = (int)(id & 0xff);
  long thread = (long)(id >> 24);
  size_t size = st_hdr_verify(v, "key destructor value");
  if (!size || round < 1 || round > ROUNDS || (int)((id >> 8) & 0xff) != key) {
    atomic_fetch_add(&dtor_bad, 1);
    if (size) ST_FAIL("key %d destructor got a value for key %d round %d", key,
                      (int)((id >> 8) & 0xff), round);
    return;
  }
  atomic_fetch_add(&dtor_calls[round], 1);
  st_rng r;
  st_rng_init(&r, id);
  /* Temporaries of every band, freed in this same destructor. */
  for (int i = 0; i < 6; i++) {
    size_t sz = st_size_in_band(&r, i == 5 && key == 0 ? ST_LARGE : i % 3);
    void *p = st_alloc(sz, id + 100 + (uint64_t)i, "dtor temp");
    if (p && !st_free(p, sz, id + 100 + (uint64_t)i, "dtor temp")) atomic_fetch_add(&dtor_bad, 1);
  }
  if (round == ROUNDS) {
    free(v);
    return;
  }
  void *nv;
  uint64_t nid = value_id(thread, key, round + 1);
  size_t nsize = 16 + st_size(&r, 0);
  if (round == 1 && key % 2 == 0) {
    /* realloc the value into the next round's value */
    nv = realloc(v, nsize);
    if (!nv) {
      ST_FAIL("realloc in key destructor returned NULL");
      atomic_fetch_add(&dtor_bad, 1);
      free(v);
      return;
    }
    size_t keep = size < nsize ? size : nsize;
    if (st_bad_seed((char *)nv + 16, keep - 16, st_seed(v, size, id)) != (size_t)-1) {
      ST_FAIL("realloc in key destructor lost the contents (%zu -> %zu)", size, nsize);
      atomic_fetch_add(&dtor_bad, 1);
    }
    ((st_u64 *)nv)[0] = nsize;
    ((st_u64 *)nv)[1] = nid;
    st_fill_seed((char *)nv + 16, nsize - 16, st_seed(nv, nsize, nid));
  } else {
    free(v);
    nv = st_hdr_alloc(nsize, nid, "dtor next value");
    if (!nv) return;
  }
  int rc = pthread_setspecific(keys[key], nv);
  if (rc) ST_FAIL("pthread_setspecific in destructor: %s", strerror(rc));
}

#define DTOR(k) \
  static void key_dtor_##k(void *v) { key_dtor(v, k); }
DTOR(0)
DTOR(1)
DTOR(2)
DTOR(3)
DTOR(4)
DTOR(5)
DTOR(6)
DTOR(7)
static void (*const dtors[NKEYS])(void *) = {key_dtor_0, key_dtor_1, key_dtor_2, key_dtor_3,
                                            key_dtor_4, key_dtor_5, key_dtor_6, key_dtor_7};

/* Created before main's first malloc. */
__attribute__((constructor)) static void make_early_keys(void) {
  early_keys_ok = 1;
  for (int k = 0; k < EARLY_KEYS; k++)
    if (pthread_key_create(&keys[k], dtors[k])) early_keys_ok = 0;
}

static void make_late_keys(void) {
  for (int k = EARLY_KEYS; k < EARLY_KEYS + LATE_KEYS; k++) {
    int rc = pthread_key_create(&keys[k], dtors[k]);
    CHECK(rc == 0, "pthread_key_create: %s", strerror(rc));
  }
  /* Filler keys push the next ones past glibc's first-level block (32). */
  pthread_key_t filler;
  int guard = 0;
  do {
    if (pthread_key_create(&filler, NULL)) break;
  } while (filler < 40 && ++guard < 100);
  for (int k = EARLY_KEYS + LATE_KEYS; k < NKEYS; k++) {
    int rc = pthread_key_create(&keys[k], dtors[k]);
    CHECK(rc == 0, "pthread_key_create: %s", strerror(rc));
    CHECK(keys[k] >= 32, "high key has index %u", (unsigned)keys[k]);
  }
}

static void set_all_keys(long thread, st_rng *r) {
  for (int k = 0; k < NKEYS; k++) {
    uint64_t id = value_id(thread, k, 1);
    void *v = st_hdr_alloc(16 + st_size(r, k == 1 ? 20 : 0), id, "key value");
    if (!v) continue;
    int rc = pthread_setspecific(keys[k], v);
    if (rc) ST_FAIL("pthread_setspecific: %s", strerror(rc));
  }
}

/* ------------------------------------------------------------------------ */
/* thread-local object with a registered destructor                          */
/* ------------------------------------------------------------------------ */
typedef struct {
  st_obj o;
  long thread;
  int armed;
} tls_thing;
static __thread tls_thing tls_obj;
static atomic_long tls_dtor_calls;

static void tls_dtor(void *vp) {
  tls_thing *t = (tls_thing *)vp;
  atomic_fetch_add(&tls_dtor_calls, 1);
  if (t != &tls_obj) ST_FAIL("thread-local destructor got %p, expected %p", vp, (void *)&tls_obj);
  if (!t->armed) return;
  if (!st_free(t->o.p, t->o.size, t->o.id, "thread_local object")) atomic_fetch_add(&dtor_bad, 1);
  t->o.p = NULL;
  /* Allocate again and hand the object to a key destructor, which runs
   * after all thread-local destructors. */
  uint64_t id = value_id(t->thread, 3, 1);
  void *v = st_hdr_alloc(3000, id, "thread_local dtor -> key value");
  void *old = pthread_getspecific(keys[3]);
  if (old) {
    /* Replaced: the key destructor sees the new round-1 value instead. */
    if (!st_hdr_free(old, "replaced key value")) atomic_fetch_add(&dtor_bad, 1);
  }
  if (v) pthread_setspecific(keys[3], v);
  t->armed = 0;
}

static void arm_tls(long thread, st_rng *r) {
  size_t sz = st_size(r, 0);
  tls_obj.thread = thread;
  tls_obj.o = (st_obj){st_alloc(sz, (uint64_t)thread << 20, "thread_local alloc"), sz,
                       (uint64_t)thread << 20};
  tls_obj.armed = tls_obj.o.p != NULL;
  int rc = __cxa_thread_atexit_impl(tls_dtor, &tls_obj, &__dso_handle);
  CHECK(rc == 0, "__cxa_thread_atexit_impl failed");
}

/* ------------------------------------------------------------------------ */
/* worker kinds                                                              */
/* ------------------------------------------------------------------------ */
enum { W_KEYS, W_KEYS_TLS, W_SETSPECIFIC_FIRST, W_PTHREAD_EXIT, W_NKINDS };
static atomic_long keyed_threads;

static void churn(long thread, st_rng *r, st_tally *t) {
  st_obj live[16];
  for (int i = 0; i < 16; i++) {
    size_t sz = st_size(r, 8);
    uint64_t id = ((uint64_t)thread << 20) + 1000 + (uint64_t)i;
    live[i] = (st_obj){st_alloc(sz, id, "worker churn"), sz, id};
  }
  for (int i = 0; i < 16; i++)
    if (live[i].p) st_count(t, st_free(live[i].p, live[i].size, live[i].id, "worker churn"));
}

/* pthread_exit from a few frames down (called through a volatile pointer so
 * gcc does not flag the recursion as infinite). */
static void nested_exit(int depth);
static void (*volatile nested_exit_ptr)(int) = nested_exit;
static void nested_exit(int depth) {
  if (depth > 0) nested_exit_ptr(depth - 1);
  pthread_exit(NULL);
}

static void *worker(void *arg) {
  long me = (long)arg;
  int kind = (int)(me % W_NKINDS);
  st_rng r;
  st_rng_init(&r, 500 + (uint64_t)me);
  st_tally t = {0, 0};
  if (kind == W_SETSPECIFIC_FIRST) {
    /* First allocator call of this thread happens inside libc (calloc of
     * the second-level key block), then the values are replaced by real
     * objects. */
    pthread_setspecific(keys[NKEYS - 1], NULL);
    int rc = pthread_setspecific(keys[NKEYS - 1], (void *)&r);
    if (rc) ST_FAIL("pthread_setspecific(high key) first: %s", strerror(rc));
    pthread_setspecific(keys[NKEYS - 1], NULL);
  }
  set_all_keys(me, &r);
  atomic_fetch_add(&keyed_threads, 1);
  if (kind == W_KEYS_TLS) arm_tls(me, &r);
  churn(me, &r, &t);
  if (t.bad) atomic_fetch_add(&dtor_bad, t.bad);
  if (kind == W_PTHREAD_EXIT) nested_exit(3);
  return NULL;
}

/* Threads whose only allocator calls are frees. */
typedef struct {
  st_obj o[32];
  int n;
  long bad;
} free_job;

static void *free_only(void *arg) {
  free_job *j = (free_job *)arg;
  for (int i = 0; i < j->n; i++)
    if (!st_free(j->o[i].p, j->o[i].size, j->o[i].id, "free-only thread")) j->bad++;
  if (j->n % 2) pthread_exit(NULL);
  return NULL;
}

static void phase_threads(void) {
  st_phase_begin("key and thread-local destructors");
  long n = st_scaled(400, scale);
  n -= n % W_NKINDS;
  int width = 8;
  pthread_t th[8];
  for (long base = 0; base < n; base += width) {
    for (int i = 0; i < width; i++) st_create(&th[i], NULL, worker, (void *)(base + i));
    for (int i = 0; i < width; i++) st_join(th[i]);
  }
  long threads = atomic_load(&keyed_threads);
  long want = threads * NKEYS;
  for (int round = 1; round <= ROUNDS; round++)
    CHECK(atomic_load(&dtor_calls[round]) == want, "round %d: %ld destructor calls, expected %ld",
          round, atomic_load(&dtor_calls[round]), want);
  CHECK(atomic_load(&tls_dtor_calls) == n / W_NKINDS, "%ld thread-local destructor calls, expected %ld",
        atomic_load(&tls_dtor_calls), n / W_NKINDS);
  CHECK(atomic_load(&dtor_bad) == 0, "%ld corrupted objects in destructors",
        atomic_load(&dtor_bad));
  printf("   %ld threads x %d keys x %d rounds\n", threads, NKEYS, ROUNDS);
  st_phase_end("key and thread-local destructors");

  st_phase_begin("free-only threads");
  st_rng r;
  st_rng_init(&r, 77);
  long m = st_scaled(200, scale), bad = 0;
  for (long k = 0; k < m; k += width) {
    free_job jobs[8];
    for (int i = 0; i < width; i++) {
      jobs[i].n = 1 + (int)st_below(&r, 32);
      jobs[i].bad = 0;
      for (int q = 0; q < jobs[i].n; q++) {
        size_t sz = st_size(&r, 10);
        uint64_t id = ((uint64_t)(k + i) << 8) + (uint64_t)q;
        jobs[i].o[q] = (st_obj){st_alloc(sz, id, "for free-only"), sz, id};
      }
      st_create(&th[i], NULL, free_only, &jobs[i]);
    }
    for (int i = 0; i < width; i++) {
      st_join(th[i]);
      bad += jobs[i].bad;
    }
  }
  CHECK(bad == 0, "free-only threads: %ld objects corrupted", bad);
  st_phase_end("free-only threads");
}

/* ------------------------------------------------------------------------ */
/* exit() while other threads allocate (in child processes)                  */
/* ------------------------------------------------------------------------ */
#define CH_WORKERS 4
#define CH_SLOTS 256
static _Atomic(void *) ch_slots[CH_SLOTS];
static atomic_int ch_bad;
static atomic_long ch_ops;

static void *child_worker(void *arg) {
  long me = (long)arg;
  st_rng r;
  st_rng_init(&r, 900 + (uint64_t)me);
  uint64_t id = (uint64_t)(me + 1) << 40;
  for (;;) {
    /* Allocate, swap into a shared slot, free what was there (often
     * another thread's object). */
    void *p = st_hdr_alloc(st_size(&r, 3), id++, "child worker");
    if (!p) continue;
    void *old = atomic_exchange(&ch_slots[st_below(&r, CH_SLOTS)], p);
    if (old && !st_hdr_free(old, "child worker free")) atomic_fetch_add(&ch_bad, 1);
    if ((id & 1023) == 0) {
      void *q = st_hdr_alloc(st_size(&r, 0), id++, "child worker realloc");
      if (q) {
        size_t sz = ((st_u64 *)q)[0];
        void *q2 = realloc(q, sz * 3);
        free(q2 ? q2 : q);
      }
    }
    atomic_fetch_add_explicit(&ch_ops, 1, memory_order_relaxed);
  }
  return NULL;
}

/* Threads that start and exit in a loop, so exit() also meets thread
 * teardown in progress. */
static void *child_short(void *arg) {
  long me = (long)arg;
  st_rng r;
  st_rng_init(&r, 950 + (uint64_t)me);
  set_all_keys(me, &r);
  void *p = st_hdr_alloc(st_size(&r, 0), 5, "short thread");
  if (p) st_hdr_free(p, "short thread");
  return NULL;
}

static void *child_spawner(void *arg) {
  (void)arg;
  pthread_attr_t a;
  pthread_attr_init(&a);
  pthread_attr_setdetachstate(&a, PTHREAD_CREATE_DETACHED);
  for (long i = 0;; i++) {
    pthread_t t;
    if (pthread_create(&t, &a, child_short, (void *)(100000 + i)) != 0) sched_yield();
    if (i % 8 == 7) usleep(100);
  }
  return NULL;
}

static void child_atexit(void) {
  /* Allocates while the workers are still running. */
  st_rng r;
  st_rng_init(&r, 4242);
  for (int i = 0; i < 32; i++) {
    size_t sz = st_size(&r, 30);
    void *p = st_alloc(sz, (uint64_t)i, "atexit handler");
    if (p && !st_free(p, sz, (uint64_t)i, "atexit handler")) atomic_fetch_add(&ch_bad, 1);
  }
  if (atomic_load(&ch_bad) || atomic_load(&dtor_bad)) _exit(3);
}

static atomic_int exiter_go;
static void *child_exiter(void *arg) {
  (void)arg;
  while (!atomic_load(&exiter_go)) sched_yield();
  exit(0); /* a non-main thread ends the process */
  return NULL;
}

static int run_exit_child(int variant, int delay_us) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    ST_FAIL("fork: %s", strerror(errno));
    return 0;
  }
  if (pid == 0) {
    alarm(8); /* a healthy child needs well under 0.1 s */
    atexit(child_atexit);
    pthread_t t;
    for (long i = 0; i < CH_WORKERS; i++) {
      if (pthread_create(&t, NULL, child_worker, (void *)i)) _exit(4);
      pthread_detach(t);
    }
    if (variant >= 1) {
      if (pthread_create(&t, NULL, child_spawner, NULL)) _exit(4);
      pthread_detach(t);
    }
    if (variant == 2) {
      if (pthread_create(&t, NULL, child_exiter, NULL)) _exit(4);
    }
    /* Let the workers get going. */
    while (atomic_load(&ch_ops) < 2000) sched_yield();
    if (delay_us) usleep((useconds_t)delay_us);
    if (variant == 2) {
      /* The main thread keeps allocating while another thread exits. */
      atomic_store(&exiter_go, 1);
      for (uint64_t i = 0;; i++) {
        void *p = st_hdr_alloc(64 + (i % 4000), i, "main during exit");
        if (p && !st_hdr_free(p, "main during exit")) _exit(3);
      }
    }
    if (atomic_load(&ch_bad)) _exit(3);
    exit(0);
  }
  int status = 0;
  pid_t w;
  do {
    w = waitpid(pid, &status, 0);
  } while (w < 0 && errno == EINTR);
  CHECK(w == pid, "waitpid: %s", strerror(errno));
  if (WIFSIGNALED(status)) {
    CHECK(0, "exit-while-allocating child (variant %d, delay %d us) killed by signal %d%s",
          variant, delay_us, WTERMSIG(status),
          WTERMSIG(status) == SIGALRM ? " (deadline: hang during exit)" : "");
    return 0;
  }
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0,
        "exit-while-allocating child (variant %d, delay %d us) exited with status %d%s", variant,
        delay_us, WEXITSTATUS(status),
        WEXITSTATUS(status) == 3 ? " (content verification failed in the child)" : "");
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

static void phase_exit_children(void) {
  st_phase_begin("exit() while threads allocate");
  long reps = st_scaled(6, scale), runs = 0, bad = 0;
  for (long rep = 0; rep < reps && bad < 3; rep++)
    for (int variant = 0; variant < 3 && bad < 3; variant++) {
      bad += !run_exit_child(variant, (int)((rep * 3 + variant) % 5) * 2000);
      runs++;
    }
  printf("   %ld children%s\n", runs, bad >= 3 ? " (stopped after 3 failures)" : "");
  st_phase_end("exit() while threads allocate");
}

int main(int argc, char **argv) {
  scale = st_scale(argc, argv);
  double t0 = st_now();
  CHECK(early_keys_ok, "pthread_key_create in a constructor failed");
  void *first = malloc(100); /* the program's first malloc */
  CHECK(first != NULL, "first malloc");
  make_late_keys();
  free(first);
  /* Fork the exit() children while this process is still single-threaded. */
  phase_exit_children();
  phase_threads();
  printf("test_tls_teardown: total %.2f s (scale %.2f)\n", st_now() - t0, scale);
  return hz_test_finish();
}
