/* fork while other threads allocate and free.
 *
 * Worker threads run alloc/verify/free loops in all size bands (local
 * working sets, cross-thread swaps through a shared table, realloc, large
 * objects) and publish some objects in lock-free slots. Meanwhile the
 * process forks repeatedly, alternately from the main thread and from a
 * non-main thread. Each child, under an alarm() deadline (a deadlock
 * becomes SIGALRM):
 *   - allocates a batch of new objects and keeps them,
 *   - verifies and frees the objects the main thread allocated before the
 *     fork and the objects the (now absent) workers had published, plus
 *     some from the shared table,
 *   - verifies its own batch (so it did not get memory that was live at
 *     fork time), frees it, runs threads of its own, sometimes forks a
 *     grandchild, and exits with status 0 (exit() or _exit()).
 * The parent checks each child's wait status and that its own copies of
 * the objects are intact. Finally fork + exec /bin/true, with and without
 * allocating in the child first.
 *
 * usage: test_fork [scale] */
#include <signal.h>
#include <stdatomic.h>
#include <sys/wait.h>

#include "stress.h"

#define WORKERS 3
#define PUB 32
#define SHARED 512
#define MAIN_OBJS 64
#define CHILD_DEADLINE 8 /* seconds; a healthy child needs well under 0.1 s */
#define MAX_BAD_CHILDREN 3 /* stop forking after this many failures */

static double scale = 1.0;
static _Atomic(void *) published[WORKERS][PUB];
static _Atomic(void *) shared[SHARED];
static atomic_int stop;
/* Set by the parent while a child runs (after fork returned), so the child
 * is not starved of CPU on a 2-core machine; the fork itself always happens
 * under full load. */
static atomic_int throttle;
static atomic_long worker_ops, worker_bad;
static st_obj main_objs[MAIN_OBJS];

/* ------------------------------------------------------------------------ */
/* workers (parent side)                                                     */
/* ------------------------------------------------------------------------ */
static void *worker(void *arg) {
  long me = (long)arg;
  st_rng r;
  st_rng_init(&r, 100 + (uint64_t)me);
  st_tally t = {0, 0};
  uint64_t id = (uint64_t)(me + 1) << 40;
  enum { WS = 64 };
  st_obj ws[WS];
  memset(ws, 0, sizeof ws);
  for (int i = 0; i < PUB; i++) atomic_store(&published[me][i], st_hdr_alloc(st_size(&r, 10), id++, "publish"));
  long ops = 0;
  while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
    uint64_t pick = st_below(&r, 16);
    if (pick < 9) {
      /* local working set; worker 2 favours large objects */
      int j = (int)st_below(&r, WS);
      if (ws[j].p) st_count(&t, st_free(ws[j].p, ws[j].size, ws[j].id, "worker ws"));
      size_t sz = st_size(&r, me == 2 ? 60 : 3);
      ws[j] = (st_obj){st_alloc(sz, id, "worker ws"), sz, id};
      id++;
    } else if (pick < 11) {
      int j = (int)st_below(&r, WS);
      if (ws[j].p) {
        size_t ns = st_size(&r, 3);
        void *q = st_realloc(ws[j].p, ws[j].size, ws[j].id, ns, id, "worker realloc");
        ws[j] = (st_obj){q, ns, id};
        id++;
      }
    } else if (pick < 14) {
      /* swap with the shared table: frees other workers' objects */
      void *p = st_hdr_alloc(st_size(&r, 3), id++, "worker shared");
      void *old = atomic_exchange(&shared[st_below(&r, SHARED)], p);
      if (old) st_count(&t, st_hdr_free(old, "worker shared free"));
    } else {
      /* replace a published object (fully written before it is visible) */
      void *p = st_hdr_alloc(st_size(&r, 10), id++, "publish");
      void *old = atomic_exchange(&published[me][st_below(&r, PUB)], p);
      if (old) st_count(&t, st_hdr_free(old, "publish replaced"));
    }
    ops++;
    if ((ops & 255) == 0) atomic_fetch_add(&worker_ops, 256);
    if ((ops & 31) == 0 && atomic_load_explicit(&throttle, memory_order_relaxed)) usleep(500);
  }
  for (int j = 0; j < WS; j++)
    if (ws[j].p) st_count(&t, st_free(ws[j].p, ws[j].size, ws[j].id, "worker ws final"));
  atomic_fetch_add(&worker_bad, t.bad);
  return NULL;
}

/* ------------------------------------------------------------------------ */
/* child side                                                                */
/* ------------------------------------------------------------------------ */
static atomic_long child_bad; /* the child's own tally (starts at 0 after fork) */

static void cbad(int ok) {
  if (!ok) atomic_fetch_add(&child_bad, 1);
}

static void *child_thread(void *arg) {
  long me = (long)arg;
  st_rng r;
  st_rng_init(&r, 7000 + (uint64_t)me);
  uint64_t id = (uint64_t)(50 + me) << 40;
  for (int i = 0; i < 200; i++) {
    void *p = st_hdr_alloc(st_size(&r, 5), id++, "child thread");
    if (!p) continue;
    void *old = atomic_exchange(&shared[st_below(&r, SHARED)], p);
    if (old) cbad(st_hdr_free(old, "child thread shared free"));
  }
  return NULL;
}

static void grandchild(void) {
  alarm(CHILD_DEADLINE);
  st_rng r;
  st_rng_init(&r, 31337);
  for (int i = 0; i < 200; i++) {
    size_t sz = st_size(&r, 20);
    void *p = st_alloc(sz, (uint64_t)i, "grandchild");
    if (p) cbad(st_free(p, sz, (uint64_t)i, "grandchild"));
  }
  _exit(atomic_load(&child_bad) ? 2 : 0);
}

static long bad_children; /* parent side: over the whole run */

static int wait_child_status(pid_t pid, const char *what, long n);
static int wait_child(pid_t pid, const char *what, long n) {
  int ok = wait_child_status(pid, what, n);
  if (!ok) bad_children++;
  return ok;
}

static int wait_child_status(pid_t pid, const char *what, long n) {
  int status = 0;
  pid_t w;
  do {
    w = waitpid(pid, &status, 0);
  } while (w < 0 && errno == EINTR);
  if (w != pid) {
    ST_FAIL("%s #%ld: waitpid: %s", what, n, strerror(errno));
    return 0;
  }
  if (WIFSIGNALED(status)) {
    ST_FAIL("%s #%ld: child killed by signal %d%s", what, n, WTERMSIG(status),
            WTERMSIG(status) == SIGALRM ? " (alarm deadline: deadlock in the child)" : "");
    return 0;
  }
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    ST_FAIL("%s #%ld: child exited with status %d%s", what, n, WEXITSTATUS(status),
            WEXITSTATUS(status) == 2 ? " (content verification failed in the child)" : "");
    return 0;
  }
  return 1;
}

static void child_body(long n) {
  alarm(CHILD_DEADLINE);
  atomic_store(&child_bad, 0);
  st_rng r;
  st_rng_init(&r, 5000 + (uint64_t)n);
  /* 1. a batch of fresh objects, held while we look at the old ones */
  enum { BATCH = 256 };
  st_obj *batch = (st_obj *)malloc(sizeof(st_obj) * BATCH);
  if (!batch) _exit(5);
  for (int i = 0; i < BATCH; i++) {
    size_t sz = i % 64 == 63 ? st_size_in_band(&r, ST_LARGE) : st_size(&r, 0);
    uint64_t id = ((uint64_t)(9000 + n) << 32) + (uint64_t)i;
    batch[i] = (st_obj){st_alloc(sz, id, "child batch"), sz, id};
  }
  /* 2. the parent main thread's objects from before the fork */
  for (int i = 0; i < MAIN_OBJS; i++)
    if (main_objs[i].p)
      cbad(st_free(main_objs[i].p, main_objs[i].size, main_objs[i].id, "child frees main's"));
  /* 3. the workers' published objects (their owners do not exist here) */
  for (int w = 0; w < WORKERS; w++)
    for (int i = 0; i < PUB; i++) {
      void *p = atomic_exchange(&published[w][i], NULL);
      if (p) cbad(st_hdr_free(p, "child frees worker's"));
    }
  for (int i = 0; i < SHARED; i += 2) {
    void *p = atomic_exchange(&shared[i], NULL);
    if (p) cbad(st_hdr_free(p, "child frees shared"));
  }
  /* 4. the batch is intact, then new allocations reuse the freed memory */
  for (int i = 0; i < BATCH; i++)
    if (batch[i].p) cbad(st_free(batch[i].p, batch[i].size, batch[i].id, "child batch"));
  free(batch);
  for (int i = 0; i < 600; i++) {
    size_t sz = st_size(&r, 3);
    void *p = st_alloc(sz, (uint64_t)i, "child churn");
    if (p) cbad(st_free(p, sz, (uint64_t)i, "child churn"));
  }
  /* 5. threads in the child */
  pthread_t t[2];
  for (long i = 0; i < 2; i++)
    if (pthread_create(&t[i], NULL, child_thread, (void *)i)) _exit(4);
  for (int i = 0; i < 2; i++) pthread_join(t[i], NULL);
  /* 6. now and then a grandchild */
  if (n % 10 == 3) {
    pid_t g = fork();
    if (g == 0) grandchild();
    if (g < 0 || !wait_child(g, "grandchild", n)) atomic_fetch_add(&child_bad, 1);
  }
  int code = atomic_load(&child_bad) ? 2 : 0;
  if (n % 2) exit(code);
  _exit(code);
}

/* ------------------------------------------------------------------------ */
/* parent side                                                               */
/* ------------------------------------------------------------------------ */
static int fork_and_check(long n) {
  fflush(stdout);
  fflush(stderr);
  pid_t pid = fork();
  if (pid < 0) {
    ST_FAIL("fork #%ld: %s", n, strerror(errno));
    return 0;
  }
  if (pid == 0) child_body(n);
  /* every fifth child runs while the workers keep full speed */
  if (n % 5 != 4) atomic_store(&throttle, 1);
  int ok = wait_child(pid, "fork", n);
  atomic_store(&throttle, 0);
  return ok;
}

static void verify_main_objs(const char *what) {
  st_tally t = {0, 0};
  for (int i = 0; i < MAIN_OBJS; i++)
    if (main_objs[i].p) st_count(&t, st_verify(main_objs[i].p, main_objs[i].size, main_objs[i].id, what));
  CHECK(t.bad == 0, "%s: %ld of the main thread's objects corrupted", what, t.bad);
}

typedef struct {
  long n;
  int ok;
} fork_req;

static void *forker_thread(void *arg) {
  fork_req *q = (fork_req *)arg;
  /* allocate a bit first so this thread has a heap of its own */
  void *p = st_alloc(1000, 1, "forker");
  q->ok = fork_and_check(q->n);
  if (p) st_free(p, 1000, 1, "forker");
  return NULL;
}

static void phase_fork_under_load(void) {
  st_phase_begin("fork while threads allocate");
  st_rng r;
  st_rng_init(&r, 1);
  for (int i = 0; i < MAIN_OBJS; i++) {
    size_t sz = i % 16 == 15 ? st_size_in_band(&r, ST_LARGE) : st_size_in_band(&r, i % 3);
    main_objs[i] = (st_obj){st_alloc(sz, (uint64_t)i, "main pre-fork"), sz, (uint64_t)i};
  }
  pthread_t w[WORKERS];
  for (long i = 0; i < WORKERS; i++) st_create(&w[i], NULL, worker, (void *)i);
  while (atomic_load(&worker_ops) < 3000) usleep(1000);

  long forks = st_scaled(50, scale), ok = 0, from_thread = 0;
  long n;
  for (n = 0; n < forks && bad_children < MAX_BAD_CHILDREN; n++) {
    long before = atomic_load(&worker_ops);
    if (n % 2 == 0) {
      ok += fork_and_check(n);
    } else {
      fork_req q = {n, 0};
      pthread_t f;
      st_create(&f, NULL, forker_thread, &q);
      st_join(f);
      ok += q.ok;
      from_thread++;
    }
    verify_main_objs("parent after fork");
    /* let the workers run a little between forks */
    while (atomic_load(&worker_ops) < before + 256) usleep(200);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < WORKERS; i++) st_join(w[i]);
  CHECK(ok == forks, "%ld of %ld forked children exited cleanly%s", ok, forks,
        n < forks ? " (stopped early)" : "");
  CHECK(atomic_load(&worker_bad) == 0, "workers saw %ld corrupted objects",
        atomic_load(&worker_bad));

  st_tally t = {0, 0};
  for (int i = 0; i < MAIN_OBJS; i++)
    if (main_objs[i].p) st_count(&t, st_free(main_objs[i].p, main_objs[i].size, main_objs[i].id, "main final"));
  for (int k = 0; k < WORKERS; k++)
    for (int i = 0; i < PUB; i++) {
      void *p = atomic_exchange(&published[k][i], NULL);
      if (p) st_count(&t, st_hdr_free(p, "published final"));
    }
  for (int i = 0; i < SHARED; i++) {
    void *p = atomic_exchange(&shared[i], NULL);
    if (p) st_count(&t, st_hdr_free(p, "shared final"));
  }
  CHECK(t.bad == 0, "parent final frees: %ld corrupted", t.bad);
  printf("   %ld forks (%ld from a non-main thread), workers did %ld ops\n", n, from_thread,
         atomic_load(&worker_ops));
  st_phase_end("fork while threads allocate");
}

static void phase_fork_exec(void) {
  st_phase_begin("fork + exec /bin/true");
  atomic_store(&stop, 0);
  pthread_t w[WORKERS];
  for (long i = 0; i < WORKERS; i++) st_create(&w[i], NULL, worker, (void *)i);
  long n = st_scaled(10, scale), ok = 0;
  long k;
  for (k = 0; k < n && bad_children < MAX_BAD_CHILDREN; k++) {
    fflush(stdout);
    fflush(stderr);
    pid_t pid = fork();
    if (pid == 0) {
      alarm(CHILD_DEADLINE);
      if (k % 2) {
        void *p = malloc(100 + (size_t)k * 1000);
        if (!p) _exit(5);
        memset(p, 1, 100);
        free(p);
      }
      char *const argv[] = {(char *)"/bin/true", NULL};
      execv("/bin/true", argv);
      _exit(127);
    }
    if (pid < 0) {
      ST_FAIL("fork: %s", strerror(errno));
      continue;
    }
    ok += wait_child(pid, "fork+exec", k);
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < WORKERS; i++) st_join(w[i]);
  CHECK(ok == n, "%ld of %ld fork+exec children exited cleanly%s", ok, n,
        k < n ? " (stopped early)" : "");
  for (int k = 0; k < WORKERS; k++)
    for (int i = 0; i < PUB; i++) {
      void *p = atomic_exchange(&published[k][i], NULL);
      if (p) CHECK(st_hdr_free(p, "published final"), "published object");
    }
  for (int i = 0; i < SHARED; i++) {
    void *p = atomic_exchange(&shared[i], NULL);
    if (p) CHECK(st_hdr_free(p, "shared final"), "shared object");
  }
  st_phase_end("fork + exec /bin/true");
}

int main(int argc, char **argv) {
  scale = st_scale(argc, argv);
  double t0 = st_now();
  /* single-threaded fork first */
  CHECK(fork_and_check(-1), "fork from a single-threaded process");
  phase_fork_under_load();
  phase_fork_exec();
  printf("test_fork: total %.2f s (scale %.2f)\n", st_now() - t0, scale);
  return hz_test_finish();
}
