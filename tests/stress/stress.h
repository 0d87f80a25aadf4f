/* Shared helpers for the multithreaded stress programs (tests/stress/).
 *
 * Every object a stress test allocates is filled with a pattern derived from
 * (address, size, id) right after allocation and verified right before it is
 * freed or reallocated, so a block handed out twice, a lost free, a bad
 * realloc copy or a cross-thread mix-up shows up as a content mismatch.
 *
 * Sizes are drawn from four bands: small 1..2048, page 2049..4096,
 * medium 4097..65536, large 100 KiB..2 MiB.
 *
 * Each program takes an optional scale factor as argv[1] (default 1.0) that
 * multiplies its iteration counts. */
#ifndef HZ_STRESS_H
#define HZ_STRESS_H

#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "hz_test.h"

/* Reports a failure; after the first 40 only counts them, so a broken
 * allocator does not bury the log. */
static atomic_long st_reported;
#define ST_FAIL(...)                                                          \
  do {                                                                        \
    if (atomic_fetch_add(&st_reported, 1) < 40) {                             \
      CHECK(0, __VA_ARGS__);                                                \
    } else {                                                                  \
      atomic_fetch_add(&hz_test_failed, 1);                                   \
    }                                                                         \
  } while (0)

/* Unaligned-tolerant, alias-safe word access (the suite builds with
 * -fno-builtin, so memcpy would be a real call per word). */
typedef uint64_t __attribute__((may_alias, aligned(1))) st_u64;

#define ST_K1 0x9E3779B97F4A7C15ULL
#define ST_K2 0xC2B2AE3D27D4EB4FULL

enum { ST_SMALL, ST_PAGE, ST_MEDIUM, ST_LARGE, ST_NBANDS };
static const size_t st_band_lo[ST_NBANDS] = {1, 2049, 4097, 100 * 1024};
static const size_t st_band_hi[ST_NBANDS] = {2048, 4096, 65536, 2 * 1024 * 1024};

/* A few tests also use "huge" objects beyond the bands (several MiB: large
 * blocks that span more than one 4 MiB arena slot in hz3). */
#define ST_HUGE_LO (((size_t)4 << 20) - 65536)
#define ST_HUGE_HI ((size_t)9 << 20)

/* ---- random numbers (xorshift64*) ---------------------------------------- */
typedef struct {
  uint64_t s;
} st_rng;

static inline uint64_t st_mix(uint64_t x) {
  x ^= x >> 30;
  x *= 0xBF58476D1CE4E5B9ULL;
  x ^= x >> 27;
  x *= 0x94D049BB133111EBULL;
  x ^= x >> 31;
  return x;
}

static inline void st_rng_init(st_rng *r, uint64_t seed) {
  r->s = st_mix(seed + ST_K1) | 1;
}

static inline uint64_t st_next(st_rng *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1DULL;
}

static inline uint64_t st_below(st_rng *r, uint64_t n) {
  return n ? st_next(r) % n : 0;
}

/* Inclusive range. */
static inline uint64_t st_range(st_rng *r, uint64_t lo, uint64_t hi) {
  return lo + st_below(r, hi - lo + 1);
}

/* ---- sizes --------------------------------------------------------------- */
static inline size_t st_size_in_band(st_rng *r, int band) {
  if (band == ST_SMALL) {
    /* Skewed towards small objects, as real programs are. */
    uint64_t k = st_below(r, 10);
    if (k < 5) return (size_t)st_range(r, 1, 128);
    if (k < 8) return (size_t)st_range(r, 129, 512);
    return (size_t)st_range(r, 513, 2048);
  }
  return (size_t)st_range(r, st_band_lo[band], st_band_hi[band]);
}

/* A size from every band: large with probability large_permille / 1000,
 * otherwise 70 % small, 12 % page, 18 % medium. */
static inline size_t st_size(st_rng *r, unsigned large_permille) {
  if (large_permille && st_below(r, 1000) < large_permille)
    return st_size_in_band(r, ST_LARGE);
  uint64_t k = st_below(r, 100);
  if (k < 70) return st_size_in_band(r, ST_SMALL);
  if (k < 82) return st_size_in_band(r, ST_PAGE);
  return st_size_in_band(r, ST_MEDIUM);
}

/* ---- content patterns ---------------------------------------------------- */
static inline uint64_t st_seed(const void *p, size_t size, uint64_t id) {
  return st_mix((uint64_t)(uintptr_t)p ^ (size * ST_K2) ^ st_mix(id + ST_K1));
}

static inline uint64_t st_word(uint64_t seed, size_t i) {
  return seed ^ ((uint64_t)(i + 1) * ST_K1);
}

static inline void st_fill_seed(void *p, size_t n, uint64_t seed) {
  unsigned char *b = (unsigned char *)p;
  size_t words = n / 8, i;
  for (i = 0; i < words; i++) ((st_u64 *)b)[i] = st_word(seed, i);
  if (n % 8) {
    uint64_t w = st_word(seed, words);
    for (size_t k = 0; k < n % 8; k++) b[words * 8 + k] = (unsigned char)(w >> (8 * k));
  }
}

/* Offset of the first byte that differs from the pattern, or (size_t)-1. */
static inline size_t st_bad_seed(const void *p, size_t n, uint64_t seed) {
  const unsigned char *b = (const unsigned char *)p;
  size_t words = n / 8, i;
  for (i = 0; i < words; i++) {
    uint64_t got = ((const st_u64 *)b)[i], want = st_word(seed, i);
    if (got != want) {
      for (size_t k = 0; k < 8; k++)
        if ((unsigned char)(got >> (8 * k)) != (unsigned char)(want >> (8 * k)))
          return i * 8 + k;
    }
  }
  if (n % 8) {
    uint64_t w = st_word(seed, words);
    for (size_t k = 0; k < n % 8; k++)
      if (b[words * 8 + k] != (unsigned char)(w >> (8 * k))) return words * 8 + k;
  }
  return (size_t)-1;
}

static inline unsigned st_expected_byte(uint64_t seed, size_t off) {
  return (unsigned char)(st_word(seed, off / 8) >> (8 * (off % 8)));
}

static inline void st_fill(void *p, size_t size, uint64_t id) {
  st_fill_seed(p, size, st_seed(p, size, id));
}

/* Verifies n bytes at p against a seed; reports a CHECK failure naming
 * `what` on mismatch. Does not call the allocator unless it fails. */
static inline int st_verify_seed(const void *p, size_t n, uint64_t seed, const char *what,
                                 uint64_t id) {
  size_t off = st_bad_seed(p, n, seed);
  if (off == (size_t)-1) return 1;
  const unsigned char *b = (const unsigned char *)p;
  ST_FAIL("%s: object %p (%zu bytes checked, id %llu) corrupted at offset %zu: "
           "got 0x%02x, expected 0x%02x",
        what, p, n, (unsigned long long)id, off, b[off], st_expected_byte(seed, off));
  return 0;
}

static inline int st_verify(const void *p, size_t size, uint64_t id, const char *what) {
  return st_verify_seed(p, size, st_seed(p, size, id), what, id);
}

/* Alignment the stress tests insist on: 16 bytes, except that objects of at
 * most 8 bytes may be 8-aligned (C allows it, and jemalloc, tcmalloc and
 * mimalloc do it; the conformance tests hold our lines to 16). */
static inline int st_misaligned(const void *p, size_t size) {
  return ((uintptr_t)p & (size <= 8 ? 7 : 15)) != 0;
}

/* malloc + fill; reports a CHECK failure (and returns NULL) on NULL, and a
 * CHECK failure on a misaligned result. */
static inline void *st_alloc(size_t size, uint64_t id, const char *what) {
  void *p = malloc(size);
  if (!p) {
    ST_FAIL("%s: malloc(%zu) returned NULL (errno %d)", what, size, errno);
    return NULL;
  }
  if (st_misaligned(p, size)) ST_FAIL("%s: malloc(%zu) = %p is misaligned", what, size, p);
  st_fill(p, size, id);
  return p;
}

/* verify + free. */
static inline int st_free(void *p, size_t size, uint64_t id, const char *what) {
  int ok = st_verify(p, size, id, what);
  free(p);
  return ok;
}

/* realloc p (size old, id) to nsize with the new id; verifies the kept
 * prefix and refills. Returns the new pointer or NULL (failure reported). */
static inline void *st_realloc(void *p, size_t old, uint64_t id, size_t nsize, uint64_t nid,
                               const char *what) {
  uint64_t seed = st_seed(p, old, id);
  if (!st_verify_seed(p, old, seed, what, id)) {
    /* Already corrupt: refill so the copy check below stays meaningful. */
    st_fill_seed(p, old, seed);
  }
  void *q = realloc(p, nsize);
  if (!q) {
    ST_FAIL("%s: realloc(%p, %zu -> %zu) returned NULL (errno %d)", what, p, old, nsize,
          errno);
    return NULL;
  }
  if (st_misaligned(q, nsize))
    ST_FAIL("%s: realloc(..., %zu) = %p is misaligned", what, nsize, q);
  st_verify_seed(q, old < nsize ? old : nsize, seed, what, id);
  st_fill(q, nsize, nid);
  return q;
}

/* ---- self-describing objects (size >= 16) ---------------------------------
 * The first 16 bytes hold (size, id); the rest is the pattern. Used where an
 * object travels through a plain pointer slot. */
#define ST_HDR_MIN 16
static inline void *st_hdr_alloc(size_t size, uint64_t id, const char *what) {
  if (size < ST_HDR_MIN) size = ST_HDR_MIN;
  void *p = malloc(size);
  if (!p) {
    ST_FAIL("%s: malloc(%zu) returned NULL (errno %d)", what, size, errno);
    return NULL;
  }
  if (st_misaligned(p, size)) ST_FAIL("%s: malloc(%zu) = %p is misaligned", what, size, p);
  ((st_u64 *)p)[0] = size;
  ((st_u64 *)p)[1] = id;
  st_fill_seed((char *)p + 16, size - 16, st_seed(p, size, id));
  return p;
}

/* Verifies a self-describing object; returns its size, 0 if corrupt. */
static inline size_t st_hdr_verify(const void *p, const char *what) {
  uint64_t size = ((const st_u64 *)p)[0], id = ((const st_u64 *)p)[1];
  if (size < ST_HDR_MIN || size > ST_HUGE_HI) {
    ST_FAIL("%s: object %p has a corrupt header (size field %llu, id %llu)", what, p,
          (unsigned long long)size, (unsigned long long)id);
    return 0;
  }
  if (!st_verify_seed((const char *)p + 16, size - 16, st_seed(p, size, id), what, id))
    return 0;
  return size;
}

static inline int st_hdr_free(void *p, const char *what) {
  int ok = st_hdr_verify(p, what) != 0;
  free(p);
  return ok;
}

/* Per-thread pass/fail tally reported as one CHECK, so hot loops do not
 * hammer the shared counters. */
typedef struct {
  long ok, bad;
} st_tally;
static inline void st_count(st_tally *t, int ok) {
  if (ok)
    t->ok++;
  else
    t->bad++;
}

/* ---- misc ---------------------------------------------------------------- */
static inline double st_scale(int argc, char **argv) {
  if (argc > 1) {
    double s = strtod(argv[1], NULL);
    if (s > 0) return s;
  }
  return 1.0;
}

static inline long st_scaled(long n, double scale) {
  double v = (double)n * scale;
  return v < 1 ? 1 : (long)v;
}

static inline double st_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* One progress line per phase, so a ctest timeout shows where it hung. */
static double st_phase_t0;
static inline void st_phase_begin(const char *name) {
  printf("-- %s\n", name);
  fflush(stdout);
  st_phase_t0 = st_now();
}
static inline void st_phase_end(const char *name) {
  printf("   %s done in %.2f s\n", name, st_now() - st_phase_t0);
  fflush(stdout);
}

static inline void st_create(pthread_t *t, const pthread_attr_t *attr, void *(*fn)(void *),
                             void *arg) {
  int rc = pthread_create(t, attr, fn, arg);
  if (rc) {
    ST_FAIL("pthread_create failed: %s", strerror(rc));
    fflush(stderr);
    abort();
  }
}

static inline void st_join(pthread_t t) {
  int rc = pthread_join(t, NULL);
  if (rc) ST_FAIL("pthread_join failed: %s", strerror(rc));
}

/* An object handed between threads. */
typedef struct {
  void *p;
  size_t size;
  uint64_t id;
} st_obj;

#endif
