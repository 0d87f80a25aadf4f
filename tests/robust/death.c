/* One misuse per run (prior-art.md §2 items 26-27): `death CASE MODE` sets up
 * a few hundred live "witness" blocks, commits the misuse CASE once, then
 * checks what the line promises:
 *   - the witnesses' contents are intact right after the bad call;
 *   - the allocator keeps working: a few thousand blocks are allocated,
 *     written, verified and freed, and no two live blocks ever overlap;
 *   - at the end everything verifies and a final malloc/free works.
 * It prints "N passed, N failed" and exits 0 when every check passed; a line
 * that detects the misuse instead aborts (SIGABRT) with its own message, which
 * tests/robust/death.sh matches against the expectation table
 * tests/robust/death_expectations.md.
 *
 * MODE is how much damage the line's promise tolerates:
 *   strict  nothing at all: the bad call must be harmless;
 *   taint   the misused address itself may be handed out again (at most
 *           TAINT_MAX times; such blocks are kept but never written), and a
 *           live witness that contains the misused address counts as lost.
 *           Everything else must stay intact. This is hz3's documented
 *           promise for misuse it does not detect (an interior pointer into a
 *           live span): other blocks stay intact.
 *
 * usage: death CASE strict|taint     death --list */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../hz_test.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define NWIT 320      /* witness blocks */
#define NCHURN 768    /* live blocks during the churn */
#define CHURN_OPS 6000
#define TAINT_MAX 2   /* returns of a misused address tolerated in taint mode */

typedef struct {
  unsigned char *p;
  size_t size, usable;
  uint64_t seed;
  int lost;     /* taint mode: contained a misused address, no longer checked */
  int tainted;  /* taint mode: returned at a misused address, never written */
} blk_t;

static blk_t wit[NWIT], churn[NCHURN];
static int taint_mode;
static void *bad[4]; /* the misused addresses */
static int nbad;
static long tainted_returns;
static const char *case_name;

/* ---- patterns -------------------------------------------------------------- */

typedef uint64_t __attribute__((may_alias, aligned(1))) u64a;
static uint64_t mix(uint64_t x) {
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return x;
}
static uint64_t rng_state = 0x1234567;
static uint64_t rnd(void) {
  rng_state ^= rng_state << 13;
  rng_state ^= rng_state >> 7;
  rng_state ^= rng_state << 17;
  return rng_state;
}

/* Whole words only up to 64 KiB, then one word per 512 bytes plus the end. */
static size_t stride_for(size_t size) { return size <= 64 * KiB ? 8 : 512; }

static void fill(blk_t *b) {
  size_t st = stride_for(b->size);
  for (size_t off = 0; off + 8 < b->size; off += st) *(u64a *)(b->p + off) = mix(b->seed + off);
  if (b->size) b->p[b->size - 1] = (unsigned char)b->seed;
}

static int intact(const blk_t *b) {
  size_t st = stride_for(b->size);
  for (size_t off = 0; off + 8 < b->size; off += st)
    if (*(u64a *)(b->p + off) != mix(b->seed + off)) return 0;
  return b->size == 0 || b->p[b->size - 1] == (unsigned char)b->seed;
}

static int is_bad(const void *p) {
  for (int i = 0; i < nbad; i++)
    if (p == bad[i]) return 1;
  return 0;
}

static int contains_bad(const blk_t *b) {
  for (int i = 0; i < nbad; i++)
    if ((uintptr_t)bad[i] >= (uintptr_t)b->p && (uintptr_t)bad[i] < (uintptr_t)b->p + b->usable)
      return 1;
  return 0;
}

static size_t extent(const blk_t *b) { return b->usable ? b->usable : 1; }

/* ---- the live set ---------------------------------------------------------- */

static int checked(const blk_t *b) { return b->p && !b->lost && !b->tainted; }

static int overlaps(const blk_t *a, const blk_t *b) {
  uintptr_t a0 = (uintptr_t)a->p, b0 = (uintptr_t)b->p;
  return a0 < b0 + extent(b) && b0 < a0 + extent(a);
}

static void check_against_all(const blk_t *n, const char *when) {
  blk_t *sets[2] = {wit, churn};
  int sizes[2] = {NWIT, NCHURN};
  for (int s = 0; s < 2; s++)
    for (int i = 0; i < sizes[s]; i++) {
      const blk_t *o = &sets[s][i];
      if (o == n || !checked(o)) continue;
      if (overlaps(n, o)) {
        CHECK(0, "%s: new block %p (+%zu) overlaps live block %p (+%zu)", when, (void *)n->p,
              n->usable, (void *)o->p, o->usable);
        /* writing the new block would now damage the old one: stop here */
        printf("giving up after the first overlap\n");
        exit(hz_test_finish());
      }
    }
}

static void new_block(blk_t *b, size_t size, const char *when) {
  errno = 0;
  void *p = malloc(size);
  CHECK(p != NULL, "%s: malloc(%zu) failed, errno %d", when, size, errno);
  if (!p) return;
  memset(b, 0, sizeof(*b));
  b->p = p;
  b->size = size;
  b->usable = malloc_usable_size(p);
  CHECK(b->usable >= size, "%s: usable %zu < %zu", when, b->usable, size);
  if (b->usable < size) b->usable = size;
  b->seed = rnd();
  if (taint_mode && is_bad(p)) {
    b->tainted = 1; /* kept, never written, never freed */
    tainted_returns++;
    printf("note: %s: the misused address %p was handed out again (%ld)\n", when, p,
           tainted_returns);
    CHECK(tainted_returns <= TAINT_MAX,
          "%s: the misused address %p was handed out %ld times: the allocator keeps returning "
          "the same block", when, p, tainted_returns);
    if (tainted_returns > TAINT_MAX + 20) {
      printf("giving up: every allocation returns the misused address\n");
      exit(hz_test_finish());
    }
    return;
  }
  check_against_all(b, when);
  fill(b);
}

static void drop_block(blk_t *b, const char *when) {
  if (!b->p) return;
  if (checked(b)) {
    CHECK(intact(b), "%s: block %p (%zu bytes) was corrupted", when, (void *)b->p, b->size);
    free(b->p);
  }
  memset(b, 0, sizeof(*b));
}

/* ---- witnesses ---------------------------------------------------------- */

static size_t witness_size(int i) {
  static const size_t sizes[] = {16, 24, 48, 64, 100, 256, 1000, 4096, 20000,
                                 65536, 100 * KiB, 256 * KiB, 300 * KiB, 1 * MiB, 5 * MiB};
  return sizes[i % (sizeof sizes / sizeof sizes[0])];
}

static void make_witnesses(void) {
  for (int i = 0; i < NWIT; i++) new_block(&wit[i], witness_size(i), "witness");
}

static void verify_witnesses(const char *when) {
  int lost = 0, bad_count = 0;
  for (int i = 0; i < NWIT; i++) {
    blk_t *b = &wit[i];
    if (!b->p || b->lost) continue;
    if (taint_mode && contains_bad(b)) {
      b->lost = 1;
      lost++;
      continue;
    }
    if (!intact(b)) bad_count++;
  }
  CHECK(bad_count == 0, "%s: %d live witness blocks corrupted", when, bad_count);
  if (lost) printf("note: %s: %d witness block(s) contain the misused address (not checked)\n", when, lost);
}

/* ---- the misuses ------------------------------------------------------------ */

static volatile size_t v_zero; /* keeps bad calls opaque to the compiler */
static void *opaque(void *p) { return (char *)p + v_zero; }

static void free_others_of(size_t size, int count) {
  /* Frees `count` blocks of one size (a thread cache overflows, spans fill
   * up again), so the misused block moves on from where it was freed. */
  void **v = calloc((size_t)count, sizeof(void *));
  for (int i = 0; i < count; i++) v[i] = malloc(size);
  for (int i = 0; i < count; i++) free(v[i]);
  free(v);
}

static void *thread_free(void *p) {
  free(p);
  return NULL;
}

static void free_in_thread(void *p) {
  pthread_t t;
  if (pthread_create(&t, NULL, thread_free, p) != 0) {
    CHECK(0, "pthread_create failed");
    return;
  }
  pthread_join(t, NULL);
}

static void double_free(size_t size, int delayed) {
  void *p = malloc(size);
  memset(p, 0x5A, size);
  bad[nbad++] = p;
  free(p);
  if (delayed) {
    free_others_of(size, size <= 4096 ? 600 : 16);
    free_others_of(size * 2 + 16, 16);
  }
  free(opaque(p));
}

static unsigned char global_buf[256] __attribute__((aligned(64))); /* zeros before the pointer */

static void run_case(const char *name) {
  if (!strcmp(name, "double_free_small_immediate")) {
    double_free(48, 0);
  } else if (!strcmp(name, "double_free_small_delayed")) {
    double_free(48, 1);
  } else if (!strcmp(name, "double_free_medium_immediate")) {
    double_free(100 * KiB, 0);
  } else if (!strcmp(name, "double_free_medium_delayed")) {
    double_free(100 * KiB, 1);
  } else if (!strcmp(name, "double_free_large_immediate")) {
    double_free(1 * MiB, 0);
  } else if (!strcmp(name, "double_free_large_delayed")) {
    double_free(1 * MiB, 1);
  } else if (!strcmp(name, "double_free_cross_thread")) {
    /* freed here, then again by another thread (a remote free) */
    void *p = malloc(48);
    bad[nbad++] = p;
    free(p);
    free_in_thread(opaque(p));
  } else if (!strcmp(name, "double_free_cross_thread_remote_first")) {
    /* freed by another thread (a remote free), then again here */
    void *p = malloc(48);
    bad[nbad++] = p;
    free_in_thread(p);
    free(opaque(p));
  } else if (!strcmp(name, "double_free_small_tcache_off")) {
    /* meant to run with HZ_TCACHE=0 (set by the expectation table's env) */
    double_free(48, 0);
  } else if (!strcmp(name, "double_free_then_trim")) {
    /* an immediate double free, then malloc_trim flushes the thread cache */
    double_free(48, 0);
    malloc_trim(0);
  } else if (!strcmp(name, "double_free_span_release")) {
    /* A delayed double free whose two frees both reach the block's run of
     * memory (malloc_trim flushes the thread cache after each): the run
     * must not be released while an innocent block in it is still live. */
    enum { N = 2000 };
    void **v = calloc(N, sizeof(void *));
    for (int i = 0; i < N; i++) v[i] = malloc(80);
    void *p = v[10], *q = v[11];
    blk_t *w = &wit[NWIT - 1]; /* q replaces a witness: it must stay intact */
    drop_block(w, "witness swap");
    w->p = q;
    w->size = 80;
    w->usable = malloc_usable_size(q);
    w->seed = rnd();
    fill(w);
    for (int i = 0; i < N; i++)
      if (i != 10 && i != 11 && i != N - 1) free(v[i]);
    free(v);
    bad[nbad++] = p;
    free(p);
    malloc_trim(0);
    free(opaque(p));
    malloc_trim(0);
  } else if (!strcmp(name, "free_stack")) {
    unsigned char buf[256] __attribute__((aligned(64)));
    memset(buf, 0, sizeof buf);
    bad[nbad++] = buf + 64;
    free(opaque(buf + 64));
    buf[0] = 1; /* keep buf alive past the call */
  } else if (!strcmp(name, "free_global")) {
    bad[nbad++] = global_buf + 64;
    free(opaque(global_buf + 64));
  } else if (!strcmp(name, "free_interior_small")) {
    blk_t *w = &wit[2]; /* 48 bytes */
    bad[nbad++] = w->p + 16;
    free(opaque(w->p + 16));
  } else if (!strcmp(name, "free_interior_large")) {
    blk_t *w = &wit[13]; /* 1 MiB: a pointer in its first 64 KiB */
    bad[nbad++] = w->p + 4096;
    free(opaque(w->p + 4096));
  } else if (!strcmp(name, "free_interior_large_far")) {
    blk_t *w = &wit[13]; /* 1 MiB: a pointer 512 KiB in */
    bad[nbad++] = w->p + 512 * KiB;
    free(opaque(w->p + 512 * KiB));
  } else if (!strcmp(name, "free_misaligned")) {
    blk_t *w = &wit[5]; /* 256 bytes: an odd address inside it */
    bad[nbad++] = w->p + 7;
    free(opaque(w->p + 7));
  } else if (!strcmp(name, "realloc_freed_small")) {
    void *p = malloc(48);
    bad[nbad++] = p;
    free(p);
    errno = 0;
    void *q = realloc(opaque(p), 100);
    int e = errno;
    printf("realloc(freed %p, 100) = %s, errno %d\n", p, q ? (q == p ? "same" : "new block") : "NULL", e);
    if (q && q != p) bad[nbad++] = q; /* not ours to free: the outcome of a misuse */
  } else if (!strcmp(name, "realloc_freed_large")) {
    void *p = malloc(1 * MiB);
    bad[nbad++] = p;
    free(p);
    errno = 0;
    void *q = realloc(opaque(p), 2 * MiB);
    int e = errno;
    printf("realloc(freed %p, 2 MiB) = %s, errno %d\n", p, q ? (q == p ? "same" : "new block") : "NULL", e);
    if (q && q != p) bad[nbad++] = q;
  } else if (!strcmp(name, "free_never_allocated_far")) {
    /* inside the arena of a line that maps one big range (hz3: 1 TiB from
     * its hint), far from anything allocated: never mapped */
    unsigned char *p = (unsigned char *)(((uintptr_t)wit[0].p + ((uintptr_t)64 << 30)) & ~(uintptr_t)15);
    bad[nbad++] = p;
    free(opaque(p));
    printf("malloc_usable_size(never allocated) = %zu\n", malloc_usable_size(p));
    errno = 0;
    void *q = realloc(opaque(p), 64);
    printf("realloc(never allocated, 64) = %s, errno %d\n", q ? "a block" : "NULL", errno);
  } else if (!strcmp(name, "free_never_allocated_header")) {
    /* the first page of a 4 MiB-aligned region holding small blocks (hz3:
     * the segment header, never handed out) */
    unsigned char *p = (unsigned char *)(((uintptr_t)wit[0].p & ~(uintptr_t)(4 * MiB - 1)) + 256);
    bad[nbad++] = p;
    free(opaque(p));
    printf("malloc_usable_size(header) = %zu\n", malloc_usable_size(p));
  } else if (!strcmp(name, "free_never_allocated_in_span")) {
    /* an object-aligned address in a live run of 48-byte blocks that was
     * never handed out (beyond what was carved so far) */
    unsigned char *p = wit[2].p + 48 * 1000;
    bad[nbad++] = p;
    free(opaque(p));
  } else {
    fprintf(stderr, "death: unknown case %s\n", name);
    exit(2);
  }
}

static const char *const all_cases[] = {
    "double_free_small_immediate", "double_free_small_delayed", "double_free_medium_immediate",
    "double_free_medium_delayed", "double_free_large_immediate", "double_free_large_delayed",
    "double_free_cross_thread", "double_free_cross_thread_remote_first",
    "double_free_small_tcache_off", "double_free_then_trim", "double_free_span_release", "free_stack", "free_global", "free_interior_small",
    "free_interior_large", "free_interior_large_far", "free_misaligned", "realloc_freed_small",
    "realloc_freed_large", "free_never_allocated_far", "free_never_allocated_header",
    "free_never_allocated_in_span"};

/* ---- after the misuse: keep working ------------------------------------- */

static size_t churn_size(void) {
  uint64_t r = rnd();
  switch (r % 8) {
  case 0: case 1: case 2: return 48;               /* the misused small class */
  case 3: return 1 + (r >> 8) % 1024;
  case 4: return 1 + (r >> 8) % 65536;
  case 5: return 100 * KiB;                        /* the misused medium class */
  case 6: return (r >> 8) % 4 == 0 ? 1 * MiB : 16 + (r >> 8) % 4096;
  default: return (r >> 8) % 16 == 0 ? 2 * MiB + (r >> 12) % MiB : 256;
  }
}

static void churn_phase(void) {
  for (long i = 0; i < CHURN_OPS; i++) {
    blk_t *b = &churn[rnd() % NCHURN];
    if (b->p) drop_block(b, "churn free");
    else new_block(b, churn_size(), "churn");
    if (i % 1000 == 999) verify_witnesses("during churn");
  }
  for (int i = 0; i < NCHURN; i++) drop_block(&churn[i], "churn end");
}

static void *thread_churn(void *arg) {
  (void)arg;
  /* another thread allocates and frees in the classes the misuse touched */
  for (int i = 0; i < 2000; i++) {
    void *p = malloc(i % 2 ? 48 : 100 * KiB);
    if (p == NULL) return (void *)1;
    memset(p, 0x33, 48);
    free(p);
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc == 2 && !strcmp(argv[1], "--list")) {
    for (size_t i = 0; i < sizeof all_cases / sizeof all_cases[0]; i++) puts(all_cases[i]);
    return 0;
  }
  if (argc != 3 || (strcmp(argv[2], "strict") && strcmp(argv[2], "taint"))) {
    fprintf(stderr, "usage: death CASE strict|taint   (death --list)\n");
    return 2;
  }
  setvbuf(stdout, NULL, _IOLBF, 0);
  case_name = argv[1];
  taint_mode = !strcmp(argv[2], "taint");
  printf("death: case %s, mode %s, line %s\n", case_name, argv[2],
         getenv("HZ_TEST_LINE") ? getenv("HZ_TEST_LINE") : "(plain libc)");
  make_witnesses();
  verify_witnesses("before the misuse");
  printf("misuse: %s\n", case_name);
  run_case(case_name);
  printf("survived the misuse\n");
  verify_witnesses("right after the misuse");
  churn_phase();
  verify_witnesses("after the churn");
  pthread_t t;
  void *tr = NULL;
  if (pthread_create(&t, NULL, thread_churn, NULL) == 0) pthread_join(t, &tr);
  CHECK(tr == NULL, "a second thread could not allocate");
  for (int i = 0; i < NWIT; i++) drop_block(&wit[i], "witness end");
  malloc_trim(0);
  blk_t last;
  new_block(&last, 1000, "final");
  drop_block(&last, "final");
  printf("tainted returns: %ld\n", tainted_returns);
  return hz_test_finish();
}
