/* Soak workload for tests/soak.sh: mixed allocation patterns over a constant
 * live set, for a given time, with RSS sampled every second.
 *
 * THREADS workers each keep their live bytes at BUDGET (allocating while
 * below, freeing a random block while above), so the program's live set is
 * constant while the pattern changes every 5 seconds:
 *   small    16 B .. 1 KiB
 *   mixed    16 B .. 64 KiB, 1 in 10 up to 512 KiB
 *   large    256 KiB .. 4 MiB
 *   remote   16 B .. 16 KiB, every free is done by the next thread (blocks
 *            handed over through a bounded queue)
 * One op in 10 is a realloc of a live block to a new size of the pattern.
 * Every block carries a pattern in its first and last words, verified before
 * it is freed or reallocated.
 *
 * A monitor thread appends "seconds,rss_kb,live_kb,ops" to CSV once a second
 * (RSS from /proc/self/statm, read with open/read: no allocation).
 *
 * usage: soak_workload SECONDS CSV [THREADS [BUDGET_MIB_PER_THREAD]]
 * Prints "N passed, N failed" (failures: corrupted blocks). */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define MAXT 16
#define QCAP 512
#define PHASE_SECONDS 5

typedef struct {
  unsigned char *p;
  size_t size;
} blk_t;

typedef struct {
  pthread_mutex_t mu;
  blk_t q[QCAP];
  int head, count;
} inbox_t;

static int nthreads = 4;
static size_t budget;
static double seconds_total;
static atomic_int stop;
static atomic_llong live_total, ops_total, corrupted;
static inbox_t inbox[MAXT];
static struct timespec t_start;

static double elapsed(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)(t.tv_sec - t_start.tv_sec) + (double)(t.tv_nsec - t_start.tv_nsec) * 1e-9;
}

static uint64_t rnd(uint64_t *s) {
  *s ^= *s << 13;
  *s ^= *s >> 7;
  *s ^= *s << 17;
  return *s;
}

typedef uint64_t __attribute__((may_alias, aligned(1))) u64a;
static uint64_t tag_of(const blk_t *b) { return ((uint64_t)(uintptr_t)b->p * 31) ^ b->size; }
static void mark(blk_t *b) {
  if (b->size >= 16) {
    *(u64a *)b->p = tag_of(b);
    *(u64a *)(b->p + b->size - 8) = ~tag_of(b);
  }
}
static void check(const blk_t *b) {
  if (b->size >= 16 && (*(u64a *)b->p != tag_of(b) || *(u64a *)(b->p + b->size - 8) != ~tag_of(b)))
    atomic_fetch_add(&corrupted, 1);
}

static int phase_now(void) { return (int)(elapsed() / PHASE_SECONDS) % 4; }

static size_t pick_size(int phase, uint64_t *s) {
  uint64_t x = rnd(s);
  switch (phase) {
  case 0: return 16 + x % 1009;
  case 1: return x % 10 == 0 ? 64 * KiB + (x >> 8) % (448 * KiB) : 16 + (x >> 8) % (64 * KiB);
  case 2: return 256 * KiB + (x >> 8) % (3840 * KiB);
  default: return 16 + (x >> 8) % (16 * KiB);
  }
}

typedef struct {
  int id;
  blk_t *v;
  size_t n, cap;
  size_t live;
  uint64_t rng;
} worker_t;

static void give_away(worker_t *w, size_t i) {
  blk_t b = w->v[i];
  w->v[i] = w->v[--w->n];
  w->live -= b.size;
  atomic_fetch_sub(&live_total, (long long)b.size);
  inbox_t *in = &inbox[(w->id + 1) % nthreads];
  pthread_mutex_lock(&in->mu);
  if (in->count < QCAP) {
    in->q[(in->head + in->count) % QCAP] = b;
    in->count++;
    atomic_fetch_add(&live_total, (long long)b.size); /* still live, in transit */
    b.p = NULL;
  }
  pthread_mutex_unlock(&in->mu);
  if (b.p) { /* queue full: free it here */
    check(&b);
    free(b.p);
  }
}

static void drain_inbox(worker_t *w, int max) {
  inbox_t *in = &inbox[w->id];
  for (int k = 0; k < max; k++) {
    pthread_mutex_lock(&in->mu);
    if (in->count == 0) {
      pthread_mutex_unlock(&in->mu);
      return;
    }
    blk_t b = in->q[in->head];
    in->head = (in->head + 1) % QCAP;
    in->count--;
    pthread_mutex_unlock(&in->mu);
    check(&b);
    free(b.p);
    atomic_fetch_sub(&live_total, (long long)b.size);
  }
}

static void *worker(void *arg) {
  worker_t *w = arg;
  w->rng = 0x9E3779B97F4A7C15ull * (uint64_t)(w->id + 1);
  w->cap = 1024;
  w->v = malloc(w->cap * sizeof(blk_t));
  long long ops = 0;
  while (!atomic_load(&stop)) {
    int phase = phase_now();
    for (int k = 0; k < 256; k++, ops++) {
      drain_inbox(w, 2);
      uint64_t x = rnd(&w->rng);
      if (w->n > 0 && x % 10 == 0) { /* realloc */
        blk_t *b = &w->v[(x >> 8) % w->n];
        size_t size = pick_size(phase, &w->rng);
        if (size > b->size && w->live + (size - b->size) > budget + budget / 8) continue;
        check(b);
        void *q = realloc(b->p, size);
        if (q == NULL) continue;
        w->live += size - b->size;
        atomic_fetch_add(&live_total, (long long)size - (long long)b->size);
        b->p = q;
        b->size = size;
        mark(b);
      } else if (w->live < budget) {
        size_t size = pick_size(phase, &w->rng);
        void *p = malloc(size);
        if (p == NULL) continue;
        if (w->n == w->cap) {
          w->cap *= 2;
          w->v = realloc(w->v, w->cap * sizeof(blk_t));
        }
        blk_t *b = &w->v[w->n++];
        b->p = p;
        b->size = size;
        memset(p, (int)(x & 0xff), size < 4096 ? size : 4096); /* touch it */
        mark(b);
        w->live += size;
        atomic_fetch_add(&live_total, (long long)size);
      } else if (w->n > 0) {
        size_t i = (size_t)((x >> 8) % w->n);
        if (phase == 3) {
          give_away(w, i);
        } else {
          blk_t b = w->v[i];
          w->v[i] = w->v[--w->n];
          check(&b);
          free(b.p);
          w->live -= b.size;
          atomic_fetch_sub(&live_total, (long long)b.size);
        }
      }
    }
    atomic_fetch_add(&ops_total, 256);
  }
  drain_inbox(w, QCAP);
  return NULL;
}

static long rss_kb(void) {
  char buf[128];
  int fd = open("/proc/self/statm", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  long size = 0, res = 0;
  if (sscanf(buf, "%ld %ld", &size, &res) != 2) return -1;
  return res * (sysconf(_SC_PAGESIZE) / 1024);
}

int main(int argc, char **argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: soak_workload SECONDS CSV [THREADS [BUDGET_MIB_PER_THREAD]]\n");
    return 2;
  }
  seconds_total = atof(argv[1]);
  const char *csv = argv[2];
  if (argc > 3) nthreads = atoi(argv[3]);
  if (nthreads < 1 || nthreads > MAXT) nthreads = 4;
  budget = (argc > 4 ? (size_t)atoi(argv[4]) : 16) * MiB;
  int fd = open(csv, O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) {
    perror(csv);
    return 2;
  }
  dprintf(fd, "seconds,rss_kb,live_kb,ops\n");
  clock_gettime(CLOCK_MONOTONIC, &t_start);
  for (int i = 0; i < nthreads; i++) pthread_mutex_init(&inbox[i].mu, NULL);
  pthread_t t[MAXT];
  worker_t w[MAXT];
  memset(w, 0, sizeof w);
  for (int i = 0; i < nthreads; i++) {
    w[i].id = i;
    pthread_create(&t[i], NULL, worker, &w[i]);
  }
  /* the monitor: one sample per second */
  for (int s = 1; s <= (int)seconds_total; s++) {
    struct timespec until = {t_start.tv_sec + s, t_start.tv_nsec};
    while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &until, NULL) == EINTR) {
    }
    dprintf(fd, "%d,%ld,%lld,%lld\n", s, rss_kb(), atomic_load(&live_total) / 1024,
            atomic_load(&ops_total));
  }
  atomic_store(&stop, 1);
  for (int i = 0; i < nthreads; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < nthreads; i++) drain_inbox(&w[i], QCAP);
  for (int i = 0; i < nthreads; i++) {
    for (size_t k = 0; k < w[i].n; k++) {
      check(&w[i].v[k]);
      free(w[i].v[k].p);
    }
    free(w[i].v);
  }
  close(fd);
  long long bad = atomic_load(&corrupted);
  printf("soak_workload: %d threads, %zu MiB live each, %lld ops, %lld corrupted blocks\n", nthreads,
         budget / MiB, atomic_load(&ops_total), bad);
  printf("%lld passed, %lld failed\n", bad ? 0LL : 1LL, bad);
  return bad ? 1 : 0;
}
