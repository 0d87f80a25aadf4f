/* Workload for out-of-memory robustness: every entry point under failing OS
 * mappings, with content verification.
 *
 *   fault_workload walk     run once under HZ_FAULT_MMAP=N (a line built with
 *                           -DHZ_FAULT_INJECTION=ON: the N-th OS mapping fails
 *                           with ENOMEM); tests/robust/fault_walk.sh runs it
 *                           for N = 1, 2, 3, ...
 *   fault_workload rlimit   RLIMIT_AS exhaustion by several threads at once,
 *                           then recovery (extends tests/conformance/test_oom.c:
 *                           threads, aligned, calloc and realloc under
 *                           exhaustion, repeated exhaust/free rounds)
 *
 * walk: a main thread and three workers do mixed malloc / calloc / realloc /
 * posix_memalign / aligned_alloc / memalign / free (small, medium, large,
 * huge; alignments up to 2 MiB) and hand blocks to each other. Every failed
 * call must return NULL with errno ENOMEM (posix_memalign: ENOMEM, *memptr
 * untouched; realloc: the old block intact); since only one mapping fails,
 * repeating the failed call must succeed. Afterwards the main thread keeps
 * allocating (a few thousand blocks), verifies every block and that no two
 * live blocks overlap, frees everything and trims.
 *
 * Prints "faults: <failed calls>" and the closing "N passed, N failed". */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

#include "../hz_test.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)

static int walk_mode;
static atomic_long failed_calls;   /* API calls that returned out-of-memory */
static atomic_long reported;

#define REPORT(...)                                    \
  do {                                                 \
    if (atomic_fetch_add(&reported, 1) < 30) {         \
      CHECK(0, __VA_ARGS__);                           \
    } else {                                           \
      atomic_fetch_add(&hz_test_failed, 1);            \
    }                                                  \
  } while (0)

typedef uint64_t __attribute__((may_alias, aligned(1))) u64a;

typedef struct {
  unsigned char *p;
  size_t size;
  size_t align;
  uint64_t seed;
} blk_t;

static uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return x;
}

typedef struct {
  uint64_t s;
} rng_t;
static uint64_t rnd(rng_t *r) {
  r->s ^= r->s << 13;
  r->s ^= r->s >> 7;
  r->s ^= r->s << 17;
  return r->s;
}

/* Which words carry the pattern: all below 4 KiB, then one every 256 bytes up
 * to 64 KiB, then one every 64 KiB (big blocks cost a few page faults, not
 * one per page: the walk runs this program hundreds of times), plus the
 * last byte. */
static size_t next_off(size_t off) {
  return off < 4 * KiB ? off + 8 : off < 64 * KiB ? off + 256 : off + 64 * KiB;
}
static void fill(blk_t *b) {
  for (size_t off = 0; off + 8 < b->size; off = next_off(off))
    *(u64a *)(b->p + off) = mix(b->seed + off);
  if (b->size) b->p[b->size - 1] = (unsigned char)b->seed;
}
static int intact_upto(const blk_t *b, size_t limit) {
  for (size_t off = 0; off + 8 < b->size && off + 8 <= limit; off = next_off(off))
    if (*(u64a *)(b->p + off) != mix(b->seed + off)) return 0;
  return limit < b->size || b->size == 0 || b->p[b->size - 1] == (unsigned char)b->seed;
}
static int intact(const blk_t *b) { return intact_upto(b, b->size); }

static size_t pick_size(rng_t *r) {
  uint64_t x = rnd(r), v = x >> 16;
  switch (x % 20) {
  case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: return v % 1024;
  case 8: case 9: case 10: case 11: case 12: return 1024 + v % (63 * KiB);
  case 13: case 14: case 15: return 64 * KiB + v % (240 * KiB);
  case 16: case 17: case 18: return 256 * KiB + v % (3 * MiB);
  default: return 4 * MiB - 64 * KiB + v % (2 * MiB);
  }
}

/* ---- checked calls ---------------------------------------------------------
 * kind: 0 malloc, 1 calloc, 2 posix_memalign, 3 aligned_alloc, 4 memalign */
static const char *const kind_name[] = {"malloc", "calloc", "posix_memalign", "aligned_alloc",
                                        "memalign"};

static void *call_alloc(int kind, size_t size, size_t align, int *oom) {
  void *const SENT = (void *)(uintptr_t)0xfa17;
  void *p = NULL;
  *oom = 0;
  errno = 0;
  switch (kind) {
  case 0: p = malloc(size); break;
  case 1: p = calloc(1, size); break;
  case 2: {
    void *m = SENT;
    int rc = posix_memalign(&m, align, size);
    if (rc == 0) {
      p = m;
    } else {
      if (rc != ENOMEM || m != SENT)
        REPORT("posix_memalign(%zu, %zu) failed with %d, *memptr %p (want ENOMEM, untouched)",
               align, size, rc, m);
      *oom = 1;
      return NULL;
    }
    break;
  }
  case 3: p = aligned_alloc(align, size); break;
  default: p = memalign(align, size); break;
  }
  if (p == NULL) {
    if (errno != ENOMEM)
      REPORT("%s(%zu, align %zu) = NULL with errno %d, not ENOMEM", kind_name[kind], size, align,
             errno);
    *oom = 1;
  }
  return p;
}

/* Allocates into b; on out-of-memory, walk mode repeats the call once and
 * requires success (only one mapping fails). Returns 0 if b stays empty. */
static int alloc_block(blk_t *b, int kind, size_t size, size_t align, rng_t *r) {
  int oom;
  void *p = call_alloc(kind, size, align, &oom);
  if (p == NULL) {
    atomic_fetch_add(&failed_calls, 1);
    if (!walk_mode) return 0;
    p = call_alloc(kind, size, align, &oom);
    if (p == NULL) {
      REPORT("%s(%zu, align %zu) failed again when repeated: one failed mapping is permanent",
             kind_name[kind], size, align);
      return 0;
    }
  }
  if ((uintptr_t)p % (align > 16 ? align : 16) != 0)
    REPORT("%s(%zu, align %zu) = %p misaligned", kind_name[kind], size, align, p);
  if (malloc_usable_size(p) < size)
    REPORT("%s(%zu) = %p: usable size %zu", kind_name[kind], size, p, malloc_usable_size(p));
  if (kind == 1) {
    const unsigned char *c = p;
    for (size_t i = 0; i < size; i += (size > 64 * KiB ? 4093 : 1))
      if (c[i]) {
        REPORT("calloc(%zu) = %p: byte %zu is %02x", size, p, i, c[i]);
        break;
      }
  }
  b->p = p;
  b->size = size;
  b->align = align;
  b->seed = rnd(r);
  fill(b);
  return 1;
}

static void free_block(blk_t *b, const char *when) {
  if (!b->p) return;
  if (!intact(b)) REPORT("%s: block %p (%zu bytes) corrupted", when, (void *)b->p, b->size);
  free(b->p);
  memset(b, 0, sizeof(*b));
}

/* realloc; on failure the old block must be intact and still ours. */
static void realloc_block(blk_t *b, size_t size, rng_t *r) {
  if (!intact(b)) REPORT("before realloc: block %p corrupted", (void *)b->p);
  errno = 0;
  void *q = realloc(b->p, size);
  if (q == NULL && size != 0) {
    if (errno != ENOMEM) REPORT("realloc(%p, %zu) = NULL with errno %d", (void *)b->p, size, errno);
    atomic_fetch_add(&failed_calls, 1);
    if (!intact(b)) REPORT("failed realloc damaged block %p", (void *)b->p);
    if (walk_mode) {
      q = realloc(b->p, size);
      if (q == NULL) {
        REPORT("realloc(%p, %zu) failed again when repeated", (void *)b->p, size);
        return;
      }
    } else {
      return;
    }
  }
  size_t keep = b->size < size ? b->size : size;
  blk_t old = *b;
  old.p = q;
  if (!intact_upto(&old, keep)) REPORT("realloc %zu -> %zu lost content", b->size, size);
  b->p = q;
  b->size = size;
  b->align = 16;
  b->seed = rnd(r);
  fill(b);
}

/* ---- walk mode ---------------------------------------------------------- */

#define NSLOT 48
#define NSHARED 16
static blk_t shared[NSHARED];
static pthread_mutex_t shared_mu = PTHREAD_MUTEX_INITIALIZER;

static void random_op(blk_t *slots, int nslot, rng_t *r) {
  blk_t *b = &slots[rnd(r) % (uint64_t)nslot];
  uint64_t x = rnd(r);
  switch (x % 10) {
  case 0: case 1: case 2:
    free_block(b, "free");
    alloc_block(b, 0, pick_size(r), 16, r);
    break;
  case 3:
    free_block(b, "free");
    alloc_block(b, 1, pick_size(r), 16, r);
    break;
  case 4: {
    free_block(b, "free");
    size_t align = (size_t)32 << ((x >> 8) % 17); /* 32 .. 2 MiB */
    alloc_block(b, 2 + (int)((x >> 16) % 3), pick_size(r) % (align * 4 + 1), align, r);
    break;
  }
  case 5: case 6:
    if (b->p) realloc_block(b, pick_size(r) + 1, r);
    else alloc_block(b, 0, pick_size(r), 16, r);
    break;
  case 7: {
    /* hand a block over: swap with a shared slot and free what comes back */
    pthread_mutex_lock(&shared_mu);
    blk_t *s = &shared[(x >> 8) % NSHARED];
    blk_t tmp = *s;
    *s = *b;
    *b = tmp;
    pthread_mutex_unlock(&shared_mu);
    free_block(b, "free of a block from another thread");
    break;
  }
  default:
    free_block(b, "free");
    break;
  }
}

static void *worker(void *arg) {
  rng_t r = {(uint64_t)(uintptr_t)arg * 0x9E3779B97F4A7C15ull + 7};
  blk_t *slots = calloc(NSLOT, sizeof(blk_t));
  if (slots == NULL) { /* the fault may hit this very call */
    atomic_fetch_add(&failed_calls, 1);
    slots = calloc(NSLOT, sizeof(blk_t));
    if (slots == NULL) {
      REPORT("worker: calloc of its slot table failed twice");
      return NULL;
    }
  }
  for (int i = 0; i < 300; i++) random_op(slots, NSLOT, &r);
  for (int i = 0; i < NSLOT; i++) free_block(&slots[i], "worker end");
  free(slots);
  return NULL;
}

static int cmp_blk(const void *a, const void *b) {
  uintptr_t x = (uintptr_t)((const blk_t *)a)->p, y = (uintptr_t)((const blk_t *)b)->p;
  return x < y ? -1 : x > y;
}

static void check_overlaps(blk_t *v, int n, const char *when) {
  blk_t *sorted = mmap(NULL, (size_t)n * sizeof(blk_t), PROT_READ | PROT_WRITE,
                       MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (sorted == MAP_FAILED) return;
  int m = 0;
  for (int i = 0; i < n; i++)
    if (v[i].p) sorted[m++] = v[i];
  qsort(sorted, (size_t)m, sizeof(blk_t), cmp_blk);
  for (int i = 1; i < m; i++) {
    size_t ext = malloc_usable_size(sorted[i - 1].p);
    if ((uintptr_t)sorted[i - 1].p + ext > (uintptr_t)sorted[i].p)
      REPORT("%s: live blocks %p (+%zu) and %p overlap", when, (void *)sorted[i - 1].p, ext,
             (void *)sorted[i].p);
  }
  munmap(sorted, (size_t)n * sizeof(blk_t));
}

static int walk(void) {
  rng_t r = {12345};
  pthread_t t[3];
  int started[3] = {0, 0, 0};
  blk_t *mine = calloc(NSLOT, sizeof(blk_t));
  if (mine == NULL) {
    atomic_fetch_add(&failed_calls, 1);
    mine = calloc(NSLOT, sizeof(blk_t));
    CHECK(mine != NULL, "main: calloc failed twice");
    if (!mine) return hz_test_finish();
  }
  for (int i = 0; i < 3; i++) {
    int rc = pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    if (rc != 0) /* libc allocates the thread's TLS with our calloc: may fail once */
      rc = pthread_create(&t[i], NULL, worker, (void *)(uintptr_t)(i + 1));
    CHECK(rc == 0, "pthread_create failed twice (%d)", rc);
    started[i] = rc == 0;
  }
  for (int i = 0; i < 300; i++) random_op(mine, NSLOT, &r);
  for (int i = 0; i < 3; i++)
    if (started[i]) pthread_join(t[i], NULL);

  /* afterwards: the allocator keeps working */
  blk_t *many = calloc(2048, sizeof(blk_t));
  if (many == NULL) {
    atomic_fetch_add(&failed_calls, 1);
    many = calloc(2048, sizeof(blk_t));
  }
  CHECK(many != NULL, "after the run: calloc failed twice");
  if (many) {
    for (int round = 0; round < 2; round++) {
      for (int i = 0; i < 2048; i++) {
        size_t size = i % 64 == 0 ? pick_size(&r) : rnd(&r) % 2048;
        if (!many[i].p) alloc_block(&many[i], (int)(i % 7 == 0), size, 16, &r);
      }
      check_overlaps(many, 2048, "after the run");
      for (int i = round; i < 2048; i += 2) free_block(&many[i], "after the run");
    }
    for (int i = 0; i < 2048; i++) free_block(&many[i], "after the run");
    free(many);
  }
  for (int i = 0; i < NSLOT; i++) free_block(&mine[i], "main end");
  for (int i = 0; i < NSHARED; i++) free_block(&shared[i], "shared end");
  free(mine);
  malloc_trim(0);
  blk_t last = {0};
  CHECK(alloc_block(&last, 0, 100, 16, &r), "final malloc failed");
  free_block(&last, "final");
  printf("faults: %ld failed calls\n", atomic_load(&failed_calls));
  return hz_test_finish();
}

/* ---- rlimit mode ------------------------------------------------------- */

#define RL_THREADS 3
#define RL_MAX 200000
static pthread_barrier_t rl_barrier;
static blk_t *rl_blocks[RL_THREADS];
static long rl_count[RL_THREADS], rl_again[RL_THREADS];

/* Allocates until 8 calls in a row fail; returns how many blocks it holds. */
static long exhaust(blk_t *v, long from, rng_t *r) {
  long n = from, fails = 0;
  while (n < RL_MAX && fails < 8) {
    uint64_t x = rnd(r);
    int kind = (int)(x % 8 < 5 ? 0 : x % 8 - 4); /* mostly malloc; calloc, aligned */
    size_t align = kind >= 2 ? (size_t)64 << ((x >> 8) % 10) : 16;
    size_t size = pick_size(r);
    if (x % 16 == 0 && n > from) { /* grow an existing block */
      blk_t *b = &v[n - 1];
      size_t before = b->size;
      realloc_block(b, b->size * 2 + 1, r);
      if (b->size == before) fails++;
      continue;
    }
    if (alloc_block(&v[n], kind, size, align, r)) {
      n++;
      fails = 0;
    } else {
      fails++;
    }
  }
  return n;
}

static void *rl_thread(void *arg) {
  int id = (int)(uintptr_t)arg;
  rng_t r = {(uint64_t)id * 7919 + 3};
  blk_t *v = rl_blocks[id];
  pthread_barrier_wait(&rl_barrier); /* the limit is set now */
  long n = exhaust(v, 0, &r);
  rl_count[id] = n;
  pthread_barrier_wait(&rl_barrier);
  /* everyone is out of memory: verify, free every other block, refill */
  for (long i = 0; i < n; i++)
    if (!intact(&v[i])) REPORT("thread %d: block %ld corrupted after exhaustion", id, i);
  long kept = 0;
  for (long i = 0; i < n; i++) {
    if (i % 2) free_block(&v[i], "half free");
    else v[kept++] = v[i];
  }
  memset(&v[kept], 0, (size_t)(n - kept) * sizeof(blk_t)); /* moved down, not duplicated */
  pthread_barrier_wait(&rl_barrier);
  rl_again[id] = exhaust(v, kept, &r) - kept;
  pthread_barrier_wait(&rl_barrier);
  for (long i = 0; i < RL_MAX; i++) free_block(&v[i], "final free");
  return NULL;
}

static int rlimit_run(void) {
  pthread_t t[RL_THREADS];
  for (int i = 0; i < RL_THREADS; i++) {
    rl_blocks[i] = mmap(NULL, RL_MAX * sizeof(blk_t), PROT_READ | PROT_WRITE,
                        MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (rl_blocks[i] == MAP_FAILED) return 1;
  }
  pthread_barrier_init(&rl_barrier, NULL, RL_THREADS + 1);
  for (int i = 0; i < RL_THREADS; i++) pthread_create(&t[i], NULL, rl_thread, (void *)(uintptr_t)i);
  /* warm every thread's heap, then the limit: VmSize + 384 MiB */
  long vm = hz_test_vm_size_kib();
  struct rlimit old, lim;
  getrlimit(RLIMIT_AS, &old);
  lim = old;
  lim.rlim_cur = (rlim_t)vm * 1024 + 384 * MiB;
  CHECK(setrlimit(RLIMIT_AS, &lim) == 0, "setrlimit failed");
  printf("rlimit: VmSize %ld MiB, limit %ld MiB\n", vm / 1024, (long)(lim.rlim_cur / MiB));
  pthread_barrier_wait(&rl_barrier);
  pthread_barrier_wait(&rl_barrier);
  long total = 0;
  for (int i = 0; i < RL_THREADS; i++) total += rl_count[i];
  printf("rlimit: exhausted with %ld blocks, %ld failed calls\n", total, atomic_load(&failed_calls));
  CHECK(atomic_load(&failed_calls) > 0, "the limit was never reached");
  pthread_barrier_wait(&rl_barrier);
  pthread_barrier_wait(&rl_barrier);
  long again = 0;
  for (int i = 0; i < RL_THREADS; i++) again += rl_again[i];
  printf("rlimit: after freeing half, %ld new blocks\n", again);
  CHECK(again > total / 8, "freed memory was not reusable: only %ld new blocks after freeing %ld",
        again, total / 2);
  for (int i = 0; i < RL_THREADS; i++) pthread_join(t[i], NULL);
  /* everything is free: a big block must fit again */
  malloc_trim(0);
  void *big = malloc(256 * MiB);
  CHECK(big != NULL, "malloc(256 MiB) after freeing everything failed (errno %d)", errno);
  if (big) memset(big, 1, 256 * MiB);
  free(big);
  void *al = aligned_alloc(2 * MiB, 64 * MiB);
  CHECK(al != NULL && (uintptr_t)al % (2 * MiB) == 0, "aligned_alloc(2 MiB, 64 MiB) = %p", al);
  free(al);
  setrlimit(RLIMIT_AS, &old);
  return hz_test_finish();
}

int main(int argc, char **argv) {
  setvbuf(stdout, NULL, _IOLBF, 0);
  if (argc == 2 && !strcmp(argv[1], "walk")) {
    walk_mode = 1;
    return walk();
  }
  if (argc == 2 && !strcmp(argv[1], "rlimit")) return rlimit_run();
  fprintf(stderr, "usage: fault_workload walk|rlimit\n");
  return 2;
}
