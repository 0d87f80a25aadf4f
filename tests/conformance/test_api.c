/* Conformance of every exported C entry point against glibc semantics
 * (prior-art.md §2 items 1-12, 14 and the §3.1 symbol list).
 *
 * Usage: test_api [section...]   (no argument = every section, in order)
 * Each section prints "== name" first, so a crash is easy to place.
 * HZ_TEST_LINE set (the suite sets it for both preload and linked runs) turns
 * on the assertions that plain glibc only satisfies loosely or differently
 * in 2.36 (mallinfo2 accounting, aligned_alloc rejecting bad alignments). */
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "hz_test.h"

/* mallinfo() is deprecated in glibc 2.33+ but still exported: we test it. */
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"

/* Not declared by glibc 2.36 headers, or only present in some libraries:
 * weak, so the plain binary links and the test skips what is absent. */
extern void free_sized(void *, size_t) __attribute__((weak));
extern void free_aligned_sized(void *, size_t, size_t) __attribute__((weak));
extern void cfree(void *) __attribute__((weak));
extern void *__libc_malloc(size_t);
extern void __libc_free(void *);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void *__libc_valloc(size_t);
extern void *__libc_pvalloc(size_t);
extern int __posix_memalign(void **, size_t, size_t) __attribute__((weak));

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define ERRNO_MARK 4242 /* a value no allocator would set by accident */

static int line_set;    /* HZ_TEST_LINE present: testing one of our lines */
static size_t page_sz;

/* Opaque sizes so the compiler neither folds nor warns about huge requests. */
static volatile size_t v_size_max = SIZE_MAX;
#define HUGE(x) ((size_t)(x) + (v_size_max - SIZE_MAX))

/* ---------- helpers ---------------------------------------------------- */

typedef uint64_t __attribute__((may_alias)) u64a;

static uint64_t pat_word(uint64_t seed, size_t k) {
  uint64_t x = seed ^ (k * 0x9E3779B97F4A7C15ull);
  x ^= x >> 29;
  return x ? x : 0x5a5a5a5a5a5a5a5aull; /* never all-zero: zero is "fresh" */
}

/* Byte i of the pattern is byte (i%8) of pat_word(seed, i/8): a prefix of a
 * filled block checks out against the same seed, whatever the lengths. */
static void fill(void *p, size_t n, uint64_t seed) {
  unsigned char *b = p;
  size_t k, nw = n / 8;
  for (k = 0; k < nw; k++) ((u64a *)b)[k] = pat_word(seed, k);
  if (n % 8) {
    uint64_t w = pat_word(seed, nw);
    memcpy(b + nw * 8, &w, n % 8);
  }
}

/* Returns the offset of the first wrong byte, or SIZE_MAX if all good. */
static size_t verify(const void *p, size_t n, uint64_t seed) {
  const unsigned char *b = p;
  size_t k, nw = n / 8;
  for (k = 0; k < nw; k++)
    if (((const u64a *)b)[k] != pat_word(seed, k)) {
      uint64_t w = pat_word(seed, k);
      const unsigned char *wb = (const unsigned char *)&w;
      for (size_t j = 0; j < 8; j++)
        if (b[k * 8 + j] != wb[j]) return k * 8 + j;
    }
  if (n % 8) {
    uint64_t w = pat_word(seed, nw);
    const unsigned char *wb = (const unsigned char *)&w;
    for (size_t j = 0; j < n % 8; j++)
      if (b[nw * 8 + j] != wb[j]) return nw * 8 + j;
  }
  return SIZE_MAX;
}

static size_t first_nonzero(const void *p, size_t n) {
  const unsigned char *b = p;
  size_t k, nw = n / 8;
  for (k = 0; k < nw; k++)
    if (((const u64a *)b)[k] != 0)
      for (size_t j = 0; j < 8; j++)
        if (b[k * 8 + j]) return k * 8 + j;
  for (size_t i = nw * 8; i < n; i++)
    if (b[i]) return i;
  return SIZE_MAX;
}

static int aligned_to(const void *p, size_t a) {
  return ((uintptr_t)p & (a - 1)) == 0;
}

static uint64_t rng_state = 0x243F6A8885A308D3ull;
static uint64_t rnd(void) { /* xorshift64* */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return rng_state * 2685821657736338717ull;
}

static long rss_kib(void) {
  long pages = 0, resident = 0;
  FILE *f = fopen("/proc/self/statm", "r");
  if (!f) return -1;
  if (fscanf(f, "%ld %ld", &pages, &resident) != 2) resident = -1;
  fclose(f);
  return resident < 0 ? -1 : resident * (long)(page_sz / 1024);
}

static int cmp_ptr(const void *a, const void *b) {
  uintptr_t x = *(const uintptr_t *)a, y = *(const uintptr_t *)b;
  return x < y ? -1 : x > y;
}

/* ---------- sections --------------------------------------------------- */

/* Runs first so the heap is fresh: uordblks must follow 8 MiB of small
 * blocks up and back down. */
static void t_mallinfo(void) {
  enum { N = 65536, SZ = 128 }; /* 8 MiB in 128-byte blocks */
  void **v = malloc(N * sizeof *v);
  CHECK(v != NULL, "pointer array");
  if (!v) return;
  struct mallinfo2 a = mallinfo2();
  struct mallinfo ai = mallinfo();
  for (int i = 0; i < N; i++) {
    v[i] = malloc(SZ);
    if (v[i]) memset(v[i], 0x11, SZ);
  }
  struct mallinfo2 b = mallinfo2();
  struct mallinfo bi = mallinfo();
  int nulls = 0;
  for (int i = 0; i < N; i++) nulls += v[i] == NULL;
  CHECK(nulls == 0, "%d of %d small mallocs returned NULL", nulls, N);
  for (int i = 0; i < N; i++) free(v[i]);
  struct mallinfo2 c = mallinfo2();
  free(v);
  printf("   mallinfo2 before: arena=%zu uordblks=%zu fordblks=%zu hblkhd=%zu\n",
         a.arena, a.uordblks, a.fordblks, a.hblkhd);
  printf("   mallinfo2 peak:   arena=%zu uordblks=%zu fordblks=%zu hblkhd=%zu\n",
         b.arena, b.uordblks, b.fordblks, b.hblkhd);
  printf("   mallinfo2 after:  arena=%zu uordblks=%zu fordblks=%zu hblkhd=%zu\n",
         c.arena, c.uordblks, c.fordblks, c.hblkhd);
  if (!line_set) {
    printf("   (HZ_TEST_LINE unset: mallinfo accounting not asserted)\n");
    return;
  }
  size_t want = 7 * MiB;
  CHECK(b.uordblks >= a.uordblks + want,
        "mallinfo2.uordblks did not grow by >= 7 MiB after 8 MiB of 128-byte "
        "blocks: before %zu peak %zu", a.uordblks, b.uordblks);
  CHECK(b.arena > a.arena, "mallinfo2.arena did not grow: before %zu peak %zu",
        a.arena, b.arena);
  CHECK(b.arena >= b.uordblks, "mallinfo2.arena %zu < uordblks %zu", b.arena,
        b.uordblks);
  CHECK(c.uordblks + want <= b.uordblks,
        "mallinfo2.uordblks did not drop by >= 7 MiB after free: peak %zu after %zu",
        b.uordblks, c.uordblks);
  CHECK((long)bi.uordblks >= (long)ai.uordblks + (long)want,
        "mallinfo().uordblks did not grow: before %d peak %d", ai.uordblks,
        bi.uordblks);
}

static void t_malloc_basic(void) {
  void *p = malloc(0), *q = malloc(0);
  CHECK(p != NULL && q != NULL, "malloc(0) returned %p %p", p, q);
  CHECK(p != q, "two malloc(0) returned the same pointer %p", p);
  CHECK(aligned_to(p, 16) && aligned_to(q, 16), "malloc(0) misaligned %p %p", p, q);
  free(p);
  free(q);

  enum { NZ = 1000 };
  static void *z[NZ];
  int nulls = 0, dups = 0;
  for (int i = 0; i < NZ; i++) nulls += (z[i] = malloc(0)) == NULL;
  qsort(z, NZ, sizeof z[0], cmp_ptr);
  for (int i = 1; i < NZ; i++) dups += z[i] == z[i - 1] && z[i] != NULL;
  CHECK(nulls == 0 && dups == 0, "1000 x malloc(0): %d NULL, %d duplicates", nulls,
        dups);
  for (int i = 0; i < NZ; i++) free(z[i]);

  errno = ERRNO_MARK;
  free(NULL);
  CHECK(errno == ERRNO_MARK, "free(NULL) changed errno to %d", errno);

  /* free must preserve errno, whatever path the block takes. */
  static const size_t fsz[] = {1, 16, 100, 1000, 4096, 20000, 65536, 100000,
                               MiB, 4 * MiB, 32 * MiB, 100 * MiB};
  for (size_t i = 0; i < sizeof fsz / sizeof fsz[0]; i++) {
    p = malloc(fsz[i]);
    CHECK(p != NULL, "malloc(%zu)", fsz[i]);
    if (!p) continue;
    memset(p, 0x22, fsz[i]);
    errno = ERRNO_MARK;
    free(p);
    CHECK(errno == ERRNO_MARK, "free of a %zu-byte block set errno to %d", fsz[i],
          errno);
  }
  {
    enum { NF = 20000 };
    void **v = malloc(NF * sizeof *v);
    int bad = 0;
    for (int i = 0; i < NF; i++) v[i] = malloc(16 + (size_t)(i % 61) * 24);
    for (int i = 0; i < NF; i++) {
      errno = ERRNO_MARK;
      free(v[i]);
      if (errno != ERRNO_MARK && bad++ == 0)
        fprintf(stderr, "   free #%d set errno to %d\n", i, errno);
    }
    CHECK(bad == 0, "%d of %d frees changed errno", bad, NF);
    free(v);
  }

  /* Impossible sizes: NULL with ENOMEM, no crash. */
  static const size_t huge[] = {SIZE_MAX,          SIZE_MAX - 1,
                                SIZE_MAX - 15,     SIZE_MAX - 4096,
                                SIZE_MAX - MiB,    (size_t)PTRDIFF_MAX + 1,
                                (size_t)PTRDIFF_MAX, (size_t)1 << 62,
                                (size_t)1 << 50};
  for (size_t i = 0; i < sizeof huge / sizeof huge[0]; i++) {
    errno = 0;
    p = malloc(HUGE(huge[i]));
    int e = errno;
    CHECK(p == NULL, "malloc(%#zx) returned %p", huge[i], p);
    CHECK(e == ENOMEM, "malloc(%#zx) errno %d, want ENOMEM", huge[i], e);
    if (p) free(p);
  }
  p = malloc(64);
  CHECK(p != NULL, "malloc works after failed huge requests");
  free(p);
}

static void t_align_sweep(void) {
  /* Every size 1..70000 with a ring of live blocks so results are not just
   * the block freed one step earlier. */
  enum { RING = 64 };
  void *ring[RING] = {0};
  size_t ringsz[RING] = {0};
  size_t misaligned = 0, nulls = 0, clobbered = 0, first_bad = 0;
  for (size_t s = 1; s <= 70000; s++) {
    int r = (int)(s % RING);
    if (ring[r]) {
      unsigned char *b = ring[r];
      size_t n = ringsz[r];
      unsigned char c = (unsigned char)(n * 31 + 7);
      if (b[0] != c || b[n - 1] != c || b[n / 2] != c) {
        if (!clobbered++) first_bad = n;
      } else if (n % 97 == 0) {
        for (size_t i = 0; i < n; i++)
          if (b[i] != c) {
            if (!clobbered++) first_bad = n;
            break;
          }
      }
      free(ring[r]);
      ring[r] = NULL;
    }
    void *p = malloc(s);
    if (!p) {
      nulls++;
      continue;
    }
    if (!aligned_to(p, 16) && !misaligned++) first_bad = s;
    memset(p, (unsigned char)(s * 31 + 7), s);
    ring[r] = p;
    ringsz[r] = s;
  }
  for (int r = 0; r < RING; r++) free(ring[r]);
  CHECK(nulls == 0, "%zu NULL results in the 1..70000 sweep", nulls);
  CHECK(misaligned == 0, "%zu results not 16-byte aligned (first size %zu)",
        misaligned, first_bad);
  CHECK(clobbered == 0, "%zu blocks lost their contents (first size %zu)",
        clobbered, first_bad);

  /* Around every power of two up to 64 MiB: aligned and content kept. */
  for (int k = 4; k <= 26; k++) {
    size_t base = (size_t)1 << k;
    size_t sizes[] = {base - 16, base - 1, base, base + 1, base + 16,
                      base + base / 2};
    for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
      size_t s = sizes[j];
      void *p = malloc(s);
      CHECK(p != NULL, "malloc(%zu)", s);
      if (!p) continue;
      CHECK(aligned_to(p, 16), "malloc(%zu) = %p not 16-aligned", s, p);
      fill(p, s, s);
      size_t off = verify(p, s, s);
      CHECK(off == SIZE_MAX, "malloc(%zu): content lost at offset %zu", s, off);
      free(p);
    }
  }

  /* calloc and realloc results are aligned too. */
  size_t bad = 0;
  for (size_t s = 1; s < 5000; s += 7) {
    void *p = calloc(1, s);
    void *q = malloc(s / 2 + 1);
    void *r = q ? realloc(q, s) : NULL;
    if (!p || !r || !aligned_to(p, 16) || !aligned_to(r, 16)) {
      if (!bad++) fprintf(stderr, "   size %zu: calloc %p realloc %p\n", s, p, r);
    }
    free(p);
    free(r ? r : q);
  }
  CHECK(bad == 0, "%zu calloc/realloc results NULL or misaligned", bad);
}

static void t_calloc(void) {
  static const size_t ovf[][2] = {
      {SIZE_MAX, SIZE_MAX},
      {SIZE_MAX / 2 + 1, 2},
      {2, SIZE_MAX / 2 + 1},
      {SIZE_MAX, 2},
      {(size_t)1 << 32, (size_t)1 << 32},
      {((size_t)1 << 32) + 1, (size_t)1 << 32},
      {(size_t)1 << 60, 16},
      {65537, SIZE_MAX / 65537 + 1},
      {SIZE_MAX / 3 + 1, 3},
      {1, SIZE_MAX},            /* no overflow, just impossible */
      {SIZE_MAX, 1},
      {(size_t)PTRDIFF_MAX + 1, 1},
  };
  for (size_t i = 0; i < sizeof ovf / sizeof ovf[0]; i++) {
    errno = 0;
    void *p = calloc(HUGE(ovf[i][0]), ovf[i][1]);
    int e = errno;
    CHECK(p == NULL && e == ENOMEM, "calloc(%#zx, %#zx) = %p errno %d, want NULL/ENOMEM",
          ovf[i][0], ovf[i][1], p, e);
    if (p) free(p);
  }

  void *a = calloc(0, 16), *b = calloc(16, 0), *c = calloc(0, 0);
  CHECK(a && b && c, "calloc with a zero factor: %p %p %p", a, b, c);
  CHECK(a != b && b != c && a != c, "calloc zero-size results not distinct");
  free(a);
  free(b);
  free(c);

  /* Recycled memory: dirty a block, free it, calloc the same size. */
  static const size_t sizes[] = {1,    8,    16,   24,   32,    48,    64,
                                 100,  128,  256,  500,  1024,  2048,  3000,
                                 4096, 8192, 16384, 32768, 65536, 100000, 262144,
                                 MiB,  4 * MiB, 16 * MiB};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t s = sizes[i];
    int reps = s >= 4 * MiB ? 6 : s >= 262144 ? 20 : 60;
    size_t dirty = 0, nulls = 0, off = 0;
    for (int r = 0; r < reps; r++) {
      void *p = malloc(s);
      if (!p) {
        nulls++;
        continue;
      }
      memset(p, 0xAB, s);
      free(p);
      void *q = calloc(1, s);
      if (!q) {
        nulls++;
        continue;
      }
      size_t o = first_nonzero(q, s);
      if (o != SIZE_MAX && !dirty++) off = o;
      free(q);
    }
    CHECK(nulls == 0, "calloc(1,%zu) recycle loop: %zu NULL", s, nulls);
    CHECK(dirty == 0, "calloc(1,%zu) after free of a 0xAB block: %zu of %d not "
          "zero (first at offset %zu)", s, dirty, reps, off);
  }
  /* Batches: many dirty blocks freed, then as many callocs. */
  static const size_t bsz[] = {16, 40, 128, 512, 2000, 4096, 20000, 65536};
  enum { NB = 256 };
  void *v[NB];
  for (size_t i = 0; i < sizeof bsz / sizeof bsz[0]; i++) {
    size_t s = bsz[i], dirty = 0;
    for (int j = 0; j < NB; j++) {
      v[j] = malloc(s);
      if (v[j]) memset(v[j], 0xAB, s);
    }
    for (int j = 0; j < NB; j++) free(v[j]);
    for (int j = 0; j < NB; j++) {
      v[j] = calloc(s / 8 ? s / 8 : 1, 8);
      if (v[j] && first_nonzero(v[j], s) != SIZE_MAX) dirty++;
    }
    for (int j = 0; j < NB; j++) free(v[j]);
    CHECK(dirty == 0, "batch calloc(%zu): %zu of %d blocks not zeroed", s, dirty, NB);
  }
  /* Fresh memory from the OS. */
  static const size_t fresh[] = {16 * MiB, 64 * MiB, 3 * MiB + 5};
  for (size_t i = 0; i < sizeof fresh / sizeof fresh[0]; i++) {
    void *p = calloc(1, fresh[i]);
    CHECK(p != NULL, "calloc(1, %zu)", fresh[i]);
    if (!p) continue;
    size_t o = first_nonzero(p, fresh[i]);
    CHECK(o == SIZE_MAX, "calloc(1, %zu) not zero at offset %zu", fresh[i], o);
    free(p);
  }
  void *p = calloc(4096, 4096);
  CHECK(p != NULL && first_nonzero(p, 16 * MiB) == SIZE_MAX,
        "calloc(4096, 4096) = %p not a zeroed 16 MiB block", p);
  free(p);
  p = calloc(1000, 33);
  CHECK(p != NULL && first_nonzero(p, 33000) == SIZE_MAX, "calloc(1000, 33)");
  free(p);
}

static void t_realloc(void) {
  void *p = realloc(NULL, 100);
  CHECK(p != NULL && aligned_to(p, 16), "realloc(NULL, 100) = %p", p);
  if (p) {
    fill(p, 100, 1);
    CHECK(verify(p, 100, 1) == SIZE_MAX, "realloc(NULL,100) block not writable");
  }
  free(p);
  p = realloc(NULL, 200000);
  CHECK(p != NULL, "realloc(NULL, 200000)");
  if (p) memset(p, 1, 200000);
  free(p);
  p = realloc(NULL, 0);
  CHECK(p != NULL, "realloc(NULL, 0) returned NULL (glibc returns malloc(0))");
  free(p);

  /* realloc(p, 0) frees p and returns NULL (glibc). A leak would show in RSS. */
  p = malloc(100);
  errno = ERRNO_MARK;
  void *q = realloc(p, 0);
  CHECK(q == NULL, "realloc(p, 0) returned %p; glibc frees and returns NULL", q);
  CHECK(errno == ERRNO_MARK, "realloc(p, 0) changed errno to %d", errno);
  if (q) free(q);
  {
    long before = rss_kib();
    int nonnull = 0;
    for (int i = 0; i < 200000; i++) {
      void *b = malloc(1000);
      if (!b) break;
      memset(b, 0x33, 1000);
      void *r = realloc(b, 0);
      if (r) {
        nonnull++;
        free(r);
      }
    }
    long after = rss_kib();
    CHECK(nonnull == 0, "realloc(p, 0) returned non-NULL %d times", nonnull);
    CHECK(after - before < 64 * 1024,
          "RSS grew %ld KiB over 200000 x malloc(1000)+realloc(p,0): leak",
          after - before);
  }

  /* Every pair of sizes across the bands: contents kept both ways. */
  static const size_t sz[] = {1,      7,      16,     24,      100,     1000,
                              2048,   2500,   3000,   4095,    4096,    65536,
                              65537,  262144, 262145, 4 * MiB, 4 * MiB + 1};
  enum { NS = sizeof sz / sizeof sz[0] };
  size_t bad = 0;
  for (int i = 0; i < NS; i++)
    for (int j = 0; j < NS; j++) {
      size_t a = sz[i], b = sz[j];
      uint64_t seed = (uint64_t)i * 100 + (uint64_t)j;
      void *x = malloc(a);
      if (!x) {
        CHECK(0, "malloc(%zu)", a);
        continue;
      }
      fill(x, a, seed);
      void *y = realloc(x, b);
      if (!y) {
        CHECK(0, "realloc(%zu -> %zu) returned NULL", a, b);
        free(x);
        continue;
      }
      size_t keep = a < b ? a : b, off = verify(y, keep, seed);
      size_t us = malloc_usable_size(y);
      if (off != SIZE_MAX || !aligned_to(y, 16) || us < b) {
        if (bad++ < 5)
          fprintf(stderr,
                  "   realloc %zu -> %zu: first wrong byte %zd, ptr %p, usable %zu\n",
                  a, b, off == SIZE_MAX ? (ssize_t)-1 : (ssize_t)off, y, us);
      }
      fill(y, b, seed + 1); /* the whole new size is writable */
      if (verify(y, b, seed + 1) != SIZE_MAX) bad++;
      free(y);
    }
  CHECK(bad == 0, "%zu of %d realloc size pairs lost contents/alignment", bad,
        NS * NS);

  /* One block walked up to 64 MiB and back down. */
  static const size_t chain[] = {1,       16,       1000,    4096,    65536,
                                  262144,  4 * MiB,  64 * MiB, 64 * MiB + 100,
                                  4 * MiB, 262144,   3000,    16,      5};
  size_t cur = chain[0];
  p = malloc(cur);
  fill(p, cur, 77);
  for (size_t i = 1; p && i < sizeof chain / sizeof chain[0]; i++) {
    size_t n = chain[i];
    q = realloc(p, n);
    CHECK(q != NULL, "realloc chain %zu -> %zu returned NULL", cur, n);
    if (!q) break;
    p = q;
    size_t keep = cur < n ? cur : n, off = verify(p, keep, 77);
    CHECK(off == SIZE_MAX, "realloc chain %zu -> %zu: content lost at %zu", cur, n,
          off);
    fill(p, n, 77); /* extend the pattern over the new size */
    cur = n;
  }
  free(p);

  /* Growth in small steps (in-place growth paths). */
  cur = 1;
  p = malloc(cur);
  fill(p, cur, 99);
  bad = 0;
  while (p && cur < 8 * MiB) {
    size_t n = cur + cur / 4 + 1 + (size_t)(rnd() % 64);
    q = realloc(p, n);
    if (!q) {
      bad++;
      break;
    }
    p = q;
    if (verify(p, cur, 99) != SIZE_MAX && bad++ < 3)
      fprintf(stderr, "   stepwise realloc %zu -> %zu lost contents\n", cur, n);
    fill(p, n, 99);
    cur = n;
  }
  free(p);
  CHECK(bad == 0, "stepwise growth to 8 MiB: %zu failures", bad);

  /* Impossible growth: NULL, ENOMEM, old block untouched and still usable. */
  static const size_t keep_sz[] = {24, 3000, 100000, 5 * MiB};
  static const size_t imp[] = {SIZE_MAX, SIZE_MAX - 4096, (size_t)PTRDIFF_MAX + 1};
  for (size_t i = 0; i < sizeof keep_sz / sizeof keep_sz[0]; i++)
    for (size_t j = 0; j < sizeof imp / sizeof imp[0]; j++) {
      size_t s = keep_sz[i];
      p = malloc(s);
      if (!p) {
        CHECK(0, "malloc(%zu)", s);
        continue;
      }
      fill(p, s, s + j);
      errno = 0;
      q = realloc(p, HUGE(imp[j]));
      int e = errno;
      CHECK(q == NULL && e == ENOMEM, "realloc(%zu-byte block, %#zx) = %p errno %d", s,
            imp[j], q, e);
      if (q) {
        free(q);
        continue;
      }
      size_t off = verify(p, s, s + j);
      CHECK(off == SIZE_MAX, "failed realloc damaged the old %zu-byte block at %zu", s,
            off);
      q = realloc(p, s * 2);
      CHECK(q != NULL && verify(q, s, s + j) == SIZE_MAX,
            "old block not usable after failed realloc (%zu)", s);
      free(q ? q : p);
    }
}

static void t_reallocarray(void) {
  void *p = reallocarray(NULL, 10, 10);
  CHECK(p != NULL, "reallocarray(NULL, 10, 10)");
  free(p);
  p = malloc(100);
  fill(p, 100, 5);
  static const size_t ovf[][2] = {{SIZE_MAX, 2},
                                  {2, SIZE_MAX},
                                  {(size_t)1 << 32, (size_t)1 << 32},
                                  {SIZE_MAX / 2 + 1, 2},
                                  {SIZE_MAX, SIZE_MAX}};
  for (size_t i = 0; i < sizeof ovf / sizeof ovf[0]; i++) {
    errno = 0;
    void *q = reallocarray(p, HUGE(ovf[i][0]), ovf[i][1]);
    int e = errno;
    CHECK(q == NULL && e == ENOMEM, "reallocarray(p, %#zx, %#zx) = %p errno %d",
          ovf[i][0], ovf[i][1], q, e);
    if (q) {
      p = q; /* keep testing with whatever we hold */
      fill(p, 100, 5);
    }
    CHECK(verify(p, 100, 5) == SIZE_MAX, "original block damaged by failed "
          "reallocarray #%zu", i);
  }
  void *q = reallocarray(p, 25, 40);
  CHECK(q != NULL && verify(q, 100, 5) == SIZE_MAX, "reallocarray(p, 25, 40) lost data");
  if (q) {
    memset(q, 1, 1000);
    free(q);
  } else {
    free(p);
  }
}

static void t_posix_memalign(void) {
  void *const SENT = (void *)(uintptr_t)0x1234560;
  static const size_t bad_al[] = {0,  1,    2,   3,  4,   12,  24,  48,
                                  100, 4097, 640, 65535, SIZE_MAX, (size_t)1 << 63 | 8};
  for (size_t i = 0; i < sizeof bad_al / sizeof bad_al[0]; i++) {
    void *m = SENT;
    int r = posix_memalign(&m, bad_al[i], 64);
    CHECK(r == EINVAL, "posix_memalign(align %#zx) = %d, want EINVAL", bad_al[i], r);
    CHECK(m == SENT, "posix_memalign(align %#zx) wrote *memptr = %p on error",
          bad_al[i], m);
    if (r == 0 && m != SENT) free(m);
  }
  static const size_t sizes[] = {0, 1, 100, 4096, 100000};
  size_t bad = 0;
  for (size_t a = sizeof(void *); a <= MiB; a *= 2)
    for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
      void *m = SENT;
      int r = posix_memalign(&m, a, sizes[j]);
      if (r != 0 || m == SENT || (sizes[j] && !m) || !aligned_to(m, a)) {
        if (bad++ < 5)
          fprintf(stderr, "   posix_memalign(%zu, %zu) = %d, %p\n", a, sizes[j], r, m);
        continue;
      }
      if (sizes[j]) memset(m, 0x44, sizes[j]);
      free(m);
    }
  CHECK(bad == 0, "%zu valid posix_memalign calls failed or misaligned", bad);
  void *m = SENT;
  int r = posix_memalign(&m, 64, 0);
  CHECK(r == 0 && m != SENT, "posix_memalign(64, 0) = %d, %p", r, m);
  if (r == 0) free(m);

  static const size_t imp[][2] = {{16, SIZE_MAX},
                                  {4096, SIZE_MAX},
                                  {4096, SIZE_MAX - 4096},
                                  {(size_t)1 << 20, SIZE_MAX - ((size_t)1 << 20) + 1},
                                  {64, (size_t)PTRDIFF_MAX + 1}};
  for (size_t i = 0; i < sizeof imp / sizeof imp[0]; i++) {
    m = SENT;
    r = posix_memalign(&m, imp[i][0], HUGE(imp[i][1]));
    CHECK(r == ENOMEM, "posix_memalign(%zu, %#zx) = %d, want ENOMEM", imp[i][0],
          imp[i][1], r);
    CHECK(m == SENT, "posix_memalign(%zu, %#zx) wrote *memptr on failure", imp[i][0],
          imp[i][1]);
  }
}

static void t_aligned(void) {
  static const size_t sizes[] = {0, 8, 512, 4096, 65536, MiB};
  size_t bad_aa = 0, bad_ma = 0;
  for (int k = 0; k <= 28; k++) {
    size_t a = (size_t)1 << k;
    for (size_t j = 0; j < sizeof sizes / sizeof sizes[0]; j++) {
      size_t s = sizes[j];
      if (a + s > 600 * MiB) continue;
      for (int fn = 0; fn < 2; fn++) {
        void *p = fn == 0 ? aligned_alloc(a, s) : memalign(a, s);
        size_t us = p ? malloc_usable_size(p) : 0;
        if (!p || !aligned_to(p, a) || us < s) {
          if ((fn == 0 ? bad_aa++ : bad_ma++) < 5)
            fprintf(stderr, "   %s(%zu, %zu) = %p usable %zu\n",
                    fn == 0 ? "aligned_alloc" : "memalign", a, s, p, us);
          if (!p) continue;
        }
        if (s) {
          memset(p, 0x55, s);
          fill(p, s, a ^ s);
          if (verify(p, s, a ^ s) != SIZE_MAX) (fn == 0 ? bad_aa++ : bad_ma++);
        }
        free(p);
      }
    }
  }
  CHECK(bad_aa == 0, "%zu aligned_alloc(2^0..2^28, size) results wrong", bad_aa);
  CHECK(bad_ma == 0, "%zu memalign(2^0..2^28, size) results wrong", bad_ma);

  /* Non-power-of-two alignment: C17/glibc>=2.38 reject with EINVAL; glibc
   * 2.36 still rounds up, so the plain run only checks it is not broken. */
  static const size_t bad_al[] = {0, 3, 24, 48, 100, 4097, 12288};
  for (size_t i = 0; i < sizeof bad_al / sizeof bad_al[0]; i++) {
    errno = 0;
    void *p = aligned_alloc(bad_al[i], 96);
    int e = errno;
    if (line_set) {
      CHECK(p == NULL && e == EINVAL, "aligned_alloc(%zu, 96) = %p errno %d, want "
            "NULL/EINVAL", bad_al[i], p, e);
    } else {
      CHECK(p == NULL ? e == EINVAL : aligned_to(p, 16),
            "aligned_alloc(%zu, 96) = %p errno %d", bad_al[i], p, e);
    }
    if (p) free(p);
    /* memalign keeps glibc's rounding: either rounded up to the next power
     * of two or rejected with EINVAL. */
    if (bad_al[i] == 0) continue;
    errno = 0;
    p = memalign(bad_al[i], 96);
    e = errno;
    size_t want = 1;
    while (want < bad_al[i]) want <<= 1;
    CHECK(p == NULL ? e == EINVAL : aligned_to(p, want),
          "memalign(%zu, 96) = %p errno %d (want NULL/EINVAL or %zu-aligned)",
          bad_al[i], p, e, want);
    if (p) {
      memset(p, 1, 96);
      free(p);
    }
  }

  /* Size not a multiple of the alignment is accepted (C17, glibc). */
  static const size_t odd[][2] = {{64, 100}, {4096, 1}, {4096, 5000}, {256, 257},
                                  {65536, 3}, {32, 33}};
  for (size_t i = 0; i < sizeof odd / sizeof odd[0]; i++) {
    void *p = aligned_alloc(odd[i][0], odd[i][1]);
    CHECK(p != NULL && aligned_to(p, odd[i][0]), "aligned_alloc(%zu, %zu) = %p",
          odd[i][0], odd[i][1], p);
    if (p) {
      memset(p, 2, odd[i][1]);
      free(p);
    }
  }

  static const size_t imp[][2] = {{64, SIZE_MAX},
                                  {4096, SIZE_MAX - 4096},
                                  {(size_t)1 << 28, SIZE_MAX - MiB},
                                  {16, (size_t)PTRDIFF_MAX + 1}};
  for (size_t i = 0; i < sizeof imp / sizeof imp[0]; i++) {
    errno = 0;
    void *p = aligned_alloc(imp[i][0], HUGE(imp[i][1]));
    int e = errno;
    CHECK(p == NULL && e == ENOMEM, "aligned_alloc(%zu, %#zx) = %p errno %d", imp[i][0],
          imp[i][1], p, e);
    if (p) free(p);
    errno = 0;
    p = memalign(imp[i][0], HUGE(imp[i][1]));
    e = errno;
    CHECK(p == NULL && e == ENOMEM, "memalign(%zu, %#zx) = %p errno %d", imp[i][0],
          imp[i][1], p, e);
    if (p) free(p);
  }

  /* Many aligned blocks live at once, no overlap. */
  enum { N = 2000 };
  static void *v[N];
  static size_t vs[N];
  size_t bad = 0;
  for (int i = 0; i < N; i++) {
    size_t a = (size_t)16 << (rnd() % 9); /* 16 .. 4096 */
    vs[i] = 1 + (size_t)(rnd() % 3000);
    v[i] = (i & 1) ? aligned_alloc(a, vs[i]) : memalign(a, vs[i]);
    if (!v[i] || !aligned_to(v[i], a)) bad++;
    if (v[i]) fill(v[i], vs[i], (uint64_t)i);
  }
  for (int i = 0; i < N; i++)
    if (v[i] && verify(v[i], vs[i], (uint64_t)i) != SIZE_MAX) bad++;
  for (int i = 0; i < N; i++) free(v[i]);
  CHECK(bad == 0, "%zu of %d live aligned blocks NULL/misaligned/overlapping", bad, N);
}

static void t_valloc(void) {
  size_t pg = page_sz;
  const size_t sizes[] = {1, 100, pg - 1, pg, pg + 1, 3 * pg, 100000, MiB, MiB + 1};
  for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
    size_t s = sizes[i];
    void *p = valloc(s);
    CHECK(p != NULL && aligned_to(p, pg), "valloc(%zu) = %p", s, p);
    if (p) {
      CHECK(malloc_usable_size(p) >= s, "valloc(%zu) usable %zu", s,
            malloc_usable_size(p));
      memset(p, 3, s);
      free(p);
    }
    size_t round = (s + pg - 1) / pg * pg;
    p = pvalloc(s);
    CHECK(p != NULL && aligned_to(p, pg), "pvalloc(%zu) = %p", s, p);
    if (p) {
      size_t us = malloc_usable_size(p);
      CHECK(us >= round, "pvalloc(%zu): usable %zu < rounded size %zu", s, us, round);
      memset(p, 4, round); /* the whole rounded size is ours */
      free(p);
    }
  }
  void *p = valloc(0);
  CHECK(p != NULL && aligned_to(p, pg), "valloc(0) = %p", p);
  free(p);
  p = pvalloc(0);
  CHECK(p != NULL && aligned_to(p, pg), "pvalloc(0) = %p", p);
  free(p);

  const size_t imp[] = {SIZE_MAX, SIZE_MAX - pg + 2, SIZE_MAX - 100,
                        (size_t)PTRDIFF_MAX + 1};
  for (size_t i = 0; i < sizeof imp / sizeof imp[0]; i++) {
    errno = 0;
    p = valloc(HUGE(imp[i]));
    int e = errno;
    CHECK(p == NULL && e == ENOMEM, "valloc(%#zx) = %p errno %d", imp[i], p, e);
    if (p) free(p);
    errno = 0;
    p = pvalloc(HUGE(imp[i]));
    e = errno;
    CHECK(p == NULL && e == ENOMEM, "pvalloc(%#zx) = %p errno %d (size rounding "
          "must not wrap)", imp[i], p, e);
    if (p) free(p);
  }
}

static void t_usable_size(void) {
  CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL) = %zu",
        malloc_usable_size(NULL));
  size_t bad = 0, first = 0;
  for (size_t s = 1; s <= 8 * MiB; s = s <= 9000 ? s + 1 : s + s / 5) {
    void *p = malloc(s);
    size_t us = p ? malloc_usable_size(p) : 0;
    if (!p || us < s) {
      if (!bad++) first = s;
      free(p);
      continue;
    }
    memset(p, 0x66, us);
    free(p);
  }
  CHECK(bad == 0, "%zu sizes with usable size < request (first %zu)", bad, first);

  bad = 0;
  for (size_t a = 16; a <= MiB; a *= 4)
    for (size_t s = 1; s < 200000; s = s * 3 + 1) {
      void *p = aligned_alloc(a, s);
      size_t us = p ? malloc_usable_size(p) : 0;
      if (!p || us < s) {
        if (bad++ < 3) fprintf(stderr, "   aligned_alloc(%zu,%zu) usable %zu\n", a, s, us);
        free(p);
        continue;
      }
      memset(p, 0x67, us);
      free(p);
    }
  CHECK(bad == 0, "%zu aligned blocks with usable size < request", bad);

  /* Usable size of calloc/realloc results, and writing the full usable size
   * of every live block must not touch its neighbours. */
  enum { N = 3000 };
  static unsigned char *v[N];
  static size_t us[N];
  bad = 0;
  for (int i = 0; i < N; i++) {
    size_t s = 1 + (size_t)(rnd() % (i % 10 == 0 ? 70000 : 600));
    switch (i % 4) {
      case 0: v[i] = malloc(s); break;
      case 1: v[i] = calloc(1, s); break;
      case 2: v[i] = realloc(malloc(s / 2 + 1), s); break;
      default: v[i] = memalign(64, s); break;
    }
    us[i] = v[i] ? malloc_usable_size(v[i]) : 0;
    if (!v[i] || us[i] < s) bad++;
    if (v[i]) memset(v[i], (unsigned char)(i * 13 + 1), us[i]);
  }
  for (int i = 0; i < N; i++) {
    if (!v[i]) continue;
    unsigned char c = (unsigned char)(i * 13 + 1);
    for (size_t k = 0; k < us[i]; k++)
      if (v[i][k] != c) {
        if (bad++ < 3)
          fprintf(stderr, "   block %d (usable %zu) overwritten at %zu\n", i, us[i], k);
        break;
      }
  }
  for (int i = 0; i < N; i++) free(v[i]);
  CHECK(bad == 0, "%zu usable-size overlaps/short blocks among %d live blocks", bad, N);
}

static void t_sized_free(void) {
  if (!free_sized) {
    printf("   SKIP free_sized: not provided by this allocator\n");
  } else {
    free_sized(NULL, 0);
    free_sized(NULL, 100);
    size_t bad = 0;
    for (size_t s = 1; s <= 32 * MiB; s = s < 4096 ? s + 13 : s * 2 + 7) {
      void *p = malloc(s);
      if (!p) {
        bad++;
        continue;
      }
      memset(p, 0x77, s);
      free_sized(p, s);
    }
    CHECK(bad == 0, "%zu mallocs failed in the free_sized loop", bad);
    void *p = calloc(100, 30);
    free_sized(p, 3000);
    p = malloc(10);
    p = realloc(p, 70000);
    free_sized(p, 70000);
    p = malloc(0);
    free_sized(p, 0);
    /* The heap is still consistent. */
    enum { N = 1000 };
    static void *v[N];
    for (int i = 0; i < N; i++) {
      v[i] = malloc((size_t)i * 7 + 1);
      if (v[i]) fill(v[i], (size_t)i * 7 + 1, (uint64_t)i);
    }
    bad = 0;
    for (int i = 0; i < N; i++) {
      if (!v[i] || verify(v[i], (size_t)i * 7 + 1, (uint64_t)i) != SIZE_MAX) bad++;
      free_sized(v[i], (size_t)i * 7 + 1);
    }
    CHECK(bad == 0, "%zu blocks damaged around free_sized", bad);
  }

  if (!free_aligned_sized) {
    printf("   SKIP free_aligned_sized: not provided by this allocator\n");
  } else {
    free_aligned_sized(NULL, 64, 0);
    size_t bad = 0;
    for (size_t a = 1; a <= 4 * MiB; a *= 2)
      for (size_t s = a; s <= 4 * a && s <= 8 * MiB; s += a) {
        void *p = aligned_alloc(a, s);
        if (!p || !aligned_to(p, a)) {
          bad++;
          free(p);
          continue;
        }
        memset(p, 0x78, s);
        free_aligned_sized(p, a, s);
      }
    CHECK(bad == 0, "%zu aligned_alloc failures in the free_aligned_sized loop", bad);
    void *p = malloc(100);
    CHECK(p != NULL, "heap usable after free_aligned_sized");
    free(p);
  }

  if (!cfree) {
    printf("   SKIP cfree: not provided by this allocator\n");
  } else {
    cfree(NULL);
    for (size_t s = 1; s <= 4 * MiB; s *= 3) {
      void *p = malloc(s);
      if (p) memset(p, 0x79, s);
      cfree(p);
    }
    void *p = malloc(50);
    CHECK(p != NULL, "heap usable after cfree");
    free(p);
  }
}

static void t_introspection(void) {
  /* malloc_info writes XML. */
  FILE *f = tmpfile();
  CHECK(f != NULL, "tmpfile");
  if (f) {
    int r = malloc_info(0, f);
    CHECK(r == 0, "malloc_info(0, f) = %d", r);
    fflush(f);
    rewind(f);
    char buf[64] = {0};
    size_t n = fread(buf, 1, sizeof buf - 1, f);
    CHECK(n >= 7 && strncmp(buf, "<malloc", 7) == 0,
          "malloc_info output does not start with \"<malloc\": \"%.20s\"", buf);
    fclose(f);
  }
  f = tmpfile();
  if (f) {
    errno = 0;
    int r = malloc_info(1, f);
    CHECK(r == EINVAL, "malloc_info(1, f) = %d, glibc returns EINVAL for options != 0",
          r);
    fclose(f);
  }

  /* mallopt with an unknown parameter: glibc 2.36 returns 1 (its switch has
   * no default case) and leaves errno alone. */
  static const int unknown[] = {12345, -12345, 99};
  for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
    errno = ERRNO_MARK;
    int r = mallopt(unknown[i], 0);
    int e = errno;
    CHECK(r == 1, "mallopt(%d, 0) = %d, glibc returns 1 for unknown params",
          unknown[i], r);
    CHECK(e == ERRNO_MARK, "mallopt(%d, 0) changed errno to %d", unknown[i], e);
  }
  /* Known parameters: accepted or ignored, never harmful. */
  errno = ERRNO_MARK;
  int r1 = mallopt(M_TRIM_THRESHOLD, 256 * 1024);
  int r2 = mallopt(M_MMAP_THRESHOLD, 1024 * 1024);
  int r3 = mallopt(M_ARENA_MAX, 8);
  CHECK(errno == ERRNO_MARK, "mallopt(known param) changed errno to %d", errno);
  CHECK((r1 == 0 || r1 == 1) && (r2 == 0 || r2 == 1) && (r3 == 0 || r3 == 1),
        "mallopt(known) returned %d %d %d", r1, r2, r3);

  /* malloc_trim with live and freed blocks around. */
  enum { N = 4000 };
  static void *v[N];
  for (int i = 0; i < N; i++) {
    size_t s = (size_t)(i % 50) * 100 + 1 + (i % 97 == 0 ? MiB : 0);
    v[i] = malloc(s);
    if (v[i]) fill(v[i], s, (uint64_t)i);
  }
  for (int i = 0; i < N; i += 2) {
    free(v[i]);
    v[i] = NULL;
  }
  int t = malloc_trim(0);
  CHECK(t == 0 || t == 1, "malloc_trim(0) = %d", t);
  t = malloc_trim(1 << 20);
  CHECK(t == 0 || t == 1, "malloc_trim(1 MiB) = %d", t);
  size_t bad = 0;
  for (int i = 1; i < N; i += 2) {
    size_t s = (size_t)(i % 50) * 100 + 1 + (i % 97 == 0 ? MiB : 0);
    if (!v[i] || verify(v[i], s, (uint64_t)i) != SIZE_MAX) bad++;
    free(v[i]);
  }
  CHECK(bad == 0, "%zu live blocks damaged by malloc_trim", bad);
  for (int i = 0; i < N; i++) {
    v[i] = malloc((size_t)i + 1);
    if (v[i]) fill(v[i], (size_t)i + 1, 3);
  }
  bad = 0;
  for (int i = 0; i < N; i++) {
    if (!v[i] || verify(v[i], (size_t)i + 1, 3) != SIZE_MAX) bad++;
    free(v[i]);
  }
  CHECK(bad == 0, "%zu blocks wrong when allocating after malloc_trim", bad);

  /* malloc_stats prints to stderr; keep the test log clean. */
  fflush(stderr);
  int saved = dup(2), devnull = open("/dev/null", O_WRONLY);
  CHECK(saved >= 0 && devnull >= 0, "dup/open for malloc_stats");
  if (saved >= 0 && devnull >= 0) {
    dup2(devnull, 2);
    malloc_stats();
    fflush(stderr);
    dup2(saved, 2);
  }
  if (saved >= 0) close(saved);
  if (devnull >= 0) close(devnull);
  void *p = malloc(123);
  CHECK(p != NULL, "heap usable after malloc_stats");
  free(p);

  struct mallinfo mi = mallinfo();
  struct mallinfo2 mi2 = mallinfo2();
  CHECK(mi.arena >= 0 && mi.uordblks >= 0 && mi.fordblks >= 0,
        "mallinfo has negative fields: arena %d uordblks %d fordblks %d", mi.arena,
        mi.uordblks, mi.fordblks);
  (void)mi2;
}

static void t_libc_aliases(void) {
  /* __libc_* family -> plain free, and plain family -> __libc_free. */
  void *p = __libc_malloc(100);
  CHECK(p != NULL && malloc_usable_size(p) >= 100, "__libc_malloc(100) = %p", p);
  if (p) memset(p, 1, 100);
  free(p);
  p = malloc(200);
  if (p) memset(p, 2, 200);
  __libc_free(p);
  __libc_free(NULL);

  p = __libc_calloc(10, 10);
  CHECK(p != NULL && first_nonzero(p, 100) == SIZE_MAX, "__libc_calloc(10,10) = %p", p);
  free(p);
  p = calloc(20, 20);
  __libc_free(p);

  p = __libc_malloc(40);
  fill(p, 40, 8);
  p = realloc(p, 4000);
  CHECK(p != NULL && verify(p, 40, 8) == SIZE_MAX, "realloc of a __libc_malloc block");
  __libc_free(p);
  p = malloc(40);
  fill(p, 40, 9);
  p = __libc_realloc(p, 100000);
  CHECK(p != NULL && verify(p, 40, 9) == SIZE_MAX, "__libc_realloc of a malloc block");
  free(p);
  p = __libc_realloc(NULL, 64);
  CHECK(p != NULL, "__libc_realloc(NULL, 64)");
  __libc_free(p);

  p = __libc_memalign(256, 1000);
  CHECK(p != NULL && aligned_to(p, 256), "__libc_memalign(256, 1000) = %p", p);
  if (p) memset(p, 3, 1000);
  free(p);
  p = memalign(4096, 10000);
  __libc_free(p);
  void *m = NULL;
  int r = posix_memalign(&m, 64, 300);
  CHECK(r == 0 && aligned_to(m, 64), "posix_memalign");
  __libc_free(m);

  p = __libc_valloc(5000);
  CHECK(p != NULL && aligned_to(p, page_sz), "__libc_valloc(5000) = %p", p);
  if (p) memset(p, 4, 5000);
  free(p);
  p = __libc_pvalloc(5000);
  CHECK(p != NULL && aligned_to(p, page_sz) && malloc_usable_size(p) >= 2 * page_sz,
        "__libc_pvalloc(5000) = %p", p);
  if (p) memset(p, 5, 2 * page_sz);
  free(p);
  p = valloc(300);
  __libc_free(p);
  p = pvalloc(300);
  __libc_free(p);

  if (!__posix_memalign) {
    printf("   SKIP __posix_memalign: not provided (glibc 2.36 does not export it)\n");
  } else {
    m = NULL;
    r = __posix_memalign(&m, 128, 1000);
    CHECK(r == 0 && aligned_to(m, 128), "__posix_memalign(128, 1000) = %d %p", r, m);
    if (m) memset(m, 6, 1000);
    free(m);
    m = (void *)1;
    r = __posix_memalign(&m, 24, 1000);
    CHECK(r == EINVAL && m == (void *)1, "__posix_memalign(24) = %d", r);
    m = NULL;
    r = __posix_memalign(&m, 64, 64);
    __libc_free(m);
  }

  /* Interleaved: half with each family, freed crosswise. */
  enum { N = 2000 };
  static void *v[N];
  for (int i = 0; i < N; i++) {
    size_t s = (size_t)(i * 37 % 5000) + 1 + (i % 200 == 0 ? 2 * MiB : 0);
    v[i] = (i & 1) ? __libc_malloc(s) : malloc(s);
    if (v[i]) fill(v[i], s, (uint64_t)i);
  }
  size_t bad = 0;
  for (int i = 0; i < N; i++) {
    size_t s = (size_t)(i * 37 % 5000) + 1 + (i % 200 == 0 ? 2 * MiB : 0);
    if (!v[i] || verify(v[i], s, (uint64_t)i) != SIZE_MAX) bad++;
    if (i & 1)
      free(v[i]);
    else
      __libc_free(v[i]);
  }
  CHECK(bad == 0, "%zu blocks wrong in interleaved __libc_*/plain use", bad);
}

static void t_mixed(void) {
  enum { N = 20000, OPS = 60000 };
  void **v = calloc(N, sizeof *v);
  size_t *vs = calloc(N, sizeof *vs);
  uint64_t *seed = calloc(N, sizeof *seed);
  CHECK(v && vs && seed, "bookkeeping arrays");
  if (!v || !vs || !seed) return;
  size_t bad = 0, nulls = 0;
  for (int i = 0; i < N; i++) {
    uint64_t r = rnd();
    unsigned pick = (unsigned)(r % 100);
    size_t s = pick < 70   ? 1 + (size_t)(r >> 8) % 128
               : pick < 90 ? 129 + (size_t)(r >> 8) % 3968
               : pick < 99 ? 4097 + (size_t)(r >> 8) % 61440
                           : 65537 + (size_t)(r >> 8) % 200000;
    v[i] = malloc(s);
    vs[i] = s;
    seed[i] = r;
    if (!v[i]) {
      nulls++;
      continue;
    }
    fill(v[i], s, r);
  }
  for (int op = 0; op < OPS; op++) {
    int i = (int)(rnd() % N);
    if (v[i] && verify(v[i], vs[i], seed[i]) != SIZE_MAX && bad++ < 3)
      fprintf(stderr, "   block %d (%zu bytes) damaged\n", i, vs[i]);
    uint64_t r = rnd();
    size_t s = (r & 3) == 0 ? 1 + (size_t)(r >> 8) % 70000 : 1 + (size_t)(r >> 8) % 300;
    if ((r & 4) && v[i]) {
      void *q = realloc(v[i], s);
      if (!q) {
        nulls++;
        continue;
      }
      if (verify(q, vs[i] < s ? vs[i] : s, seed[i]) != SIZE_MAX) bad++;
      v[i] = q;
    } else {
      free(v[i]);
      v[i] = (r & 8) ? calloc(1, s) : malloc(s);
      if (!v[i]) {
        nulls++;
        continue;
      }
      if ((r & 8) && first_nonzero(v[i], s) != SIZE_MAX) bad++;
    }
    vs[i] = s;
    seed[i] = r;
    fill(v[i], s, r);
  }
  for (int i = 0; i < N; i++) {
    if (v[i] && verify(v[i], vs[i], seed[i]) != SIZE_MAX) bad++;
    free(v[i]);
  }
  free(v);
  free(vs);
  free(seed);
  CHECK(nulls == 0, "%zu NULL results in the mixed workload", nulls);
  CHECK(bad == 0, "%zu blocks overlapping/damaged in the mixed workload", bad);
}

/* ---------- driver ----------------------------------------------------- */

static const struct {
  const char *name;
  void (*fn)(void);
} sections[] = {
    {"mallinfo", t_mallinfo},         {"malloc_basic", t_malloc_basic},
    {"align_sweep", t_align_sweep},   {"calloc", t_calloc},
    {"realloc", t_realloc},           {"reallocarray", t_reallocarray},
    {"posix_memalign", t_posix_memalign}, {"aligned", t_aligned},
    {"valloc", t_valloc},             {"usable_size", t_usable_size},
    {"sized_free", t_sized_free},     {"introspection", t_introspection},
    {"libc_aliases", t_libc_aliases}, {"mixed", t_mixed},
};

int main(int argc, char **argv) {
  const char *line = getenv("HZ_TEST_LINE");
  line_set = line && *line;
  page_sz = (size_t)sysconf(_SC_PAGESIZE);
  setvbuf(stdout, NULL, _IOLBF, 0);
  printf("test_api: allocator line %s\n", line_set ? line : "(none: plain libc)");
  size_t n = sizeof sections / sizeof sections[0];
  for (size_t i = 0; i < n; i++) {
    int run = argc < 2;
    for (int a = 1; a < argc; a++) run |= strcmp(argv[a], sections[i].name) == 0;
    if (!run) continue;
    printf("== %s\n", sections[i].name);
    long f0 = atomic_load(&hz_test_failed);
    sections[i].fn();
    long f1 = atomic_load(&hz_test_failed);
    if (f1 != f0) printf("   %s: %ld failure(s)\n", sections[i].name, f1 - f0);
  }
  return hz_test_finish();
}
