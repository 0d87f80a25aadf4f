/* Out of memory under RLIMIT_AS (prior-art.md §2 item 23): allocation fails
 * cleanly with ENOMEM, every entry point reports its documented failure, the
 * process survives, and freed memory is usable again.
 *
 * The limit is the current VmSize + 512 MiB. Blocks are touched so they are
 * real. Bookkeeping arrays are mmap'ed before the limit is set so they
 * neither count against it nor go through the allocator under test. */
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <time.h>

#include "hz_test.h"

#define KiB ((size_t)1 << 10)
#define MiB ((size_t)1 << 20)
#define HEADROOM (512 * MiB)
#define MAX_SMALL 6000000 /* enough to exhaust 512 MiB: the small-block refill path must fail cleanly too */

static volatile size_t v_zero;
static size_t opaque(size_t x) { return x + v_zero; }

static double now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

static void *map_array(size_t bytes) {
  void *p = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

/* Allocates blocks of `sz` until NULL or `max`; every block is fully
 * written. Returns the count; *err gets errno of the failing call (or -1). */
static size_t fill_up(void **v, size_t max, size_t sz, int *err) {
  size_t n = 0;
  *err = -1;
  while (n < max) {
    errno = 0;
    void *p = malloc(sz);
    if (!p) {
      *err = errno;
      break;
    }
    memset(p, (int)(n & 0xff) | 1, sz);
    v[n++] = p;
  }
  return n;
}

static size_t damaged(void **v, size_t n, size_t sz) {
  size_t bad = 0;
  for (size_t i = 0; i < n; i++) {
    const unsigned char *b = v[i];
    unsigned char c = (unsigned char)((i & 0xff) | 1);
    if (b[0] != c || b[sz / 2] != c || b[sz - 1] != c) bad++;
  }
  return bad;
}

static void free_all(void **v, size_t n) {
  for (size_t i = 0; i < n; i++) free(v[i]);
}

/* Requests that cannot fit under the limit whatever the heap state. */
static void impossible_requests(void *victim, size_t victim_sz, const char *when) {
  const size_t big = opaque(1024 * MiB); /* more than the whole headroom */
  errno = 0;
  void *p = malloc(big);
  int e = errno;
  CHECK(p == NULL && e == ENOMEM, "%s: malloc(1 GiB) = %p errno %d", when, p, e);
  free(p);
  errno = 0;
  p = calloc(1024, MiB);
  e = errno;
  CHECK(p == NULL && e == ENOMEM, "%s: calloc(1024, 1 MiB) = %p errno %d", when, p, e);
  free(p);
  errno = 0;
  p = calloc(1, big);
  e = errno;
  CHECK(p == NULL && e == ENOMEM, "%s: calloc(1, 1 GiB) = %p errno %d", when, p, e);
  free(p);
  void *const SENT = (void *)(uintptr_t)0xdead0;
  void *m = SENT;
  int r = posix_memalign(&m, 64, big);
  CHECK(r == ENOMEM && m == SENT, "%s: posix_memalign(64, 1 GiB) = %d, *memptr %p", when,
        r, m);
  m = SENT;
  r = posix_memalign(&m, 2 * MiB, big);
  CHECK(r == ENOMEM && m == SENT, "%s: posix_memalign(2 MiB, 1 GiB) = %d, *memptr %p",
        when, r, m);
  errno = 0;
  p = aligned_alloc(4096, big);
  e = errno;
  CHECK(p == NULL && e == ENOMEM, "%s: aligned_alloc(4096, 1 GiB) = %p errno %d", when, p,
        e);
  free(p);
  errno = 0;
  p = memalign(64, big);
  e = errno;
  CHECK(p == NULL && e == ENOMEM, "%s: memalign(64, 1 GiB) = %p errno %d", when, p, e);
  free(p);
  errno = 0;
  p = valloc(big);
  e = errno;
  CHECK(p == NULL && e == ENOMEM, "%s: valloc(1 GiB) = %p errno %d", when, p, e);
  free(p);
  if (victim) {
    errno = 0;
    p = realloc(victim, big);
    e = errno;
    CHECK(p == NULL && e == ENOMEM, "%s: realloc(%zu-byte block, 1 GiB) = %p errno %d",
          when, victim_sz, p, e);
    const unsigned char *b = victim;
    unsigned char c = b[0];
    size_t bad = 0;
    for (size_t i = 0; i < victim_sz; i++) bad += b[i] != c;
    CHECK(bad == 0, "%s: failed realloc damaged the old block (%zu bytes differ)", when,
          bad);
    errno = 0;
    p = reallocarray(victim, 1024, MiB);
    e = errno;
    CHECK(p == NULL && e == ENOMEM, "%s: reallocarray(p, 1024, 1 MiB) = %p errno %d",
          when, p, e);
  }
}

int main(void) {
  double t0 = now();
  setvbuf(stdout, NULL, _IOLBF, 0);
  const char *line = getenv("HZ_TEST_LINE");
  printf("test_oom: allocator line %s\n", line && *line ? line : "(none: plain libc)");

  void **big = map_array(2048 * sizeof(void *));
  void **mid = map_array(32768 * sizeof(void *));
  void **small = map_array(MAX_SMALL * sizeof(void *));
  CHECK(big && mid && small, "mmap bookkeeping arrays");
  if (!big || !mid || !small) return hz_test_finish();
  /* Warm the allocator up (and stdio) before measuring VmSize. */
  void *warm = malloc(100);
  free(warm);

  struct rlimit old;
  getrlimit(RLIMIT_AS, &old);
  long vm = hz_test_vm_size_kib();
  CHECK(vm > 0, "VmSize from /proc/self/status");
  if (vm <= 0) return hz_test_finish();
  struct rlimit lim = old;
  lim.rlim_cur = (rlim_t)vm * 1024 + HEADROOM;
  if (old.rlim_max != RLIM_INFINITY && lim.rlim_cur > old.rlim_max) lim.rlim_cur = old.rlim_max;
  int rc = setrlimit(RLIMIT_AS, &lim);
  CHECK(rc == 0, "setrlimit(RLIMIT_AS, VmSize + 512 MiB): errno %d", errno);
  if (rc != 0) return hz_test_finish();
  printf("   VmSize %ld KiB, RLIMIT_AS %llu MiB\n", vm,
         (unsigned long long)(lim.rlim_cur / MiB));

  impossible_requests(NULL, 0, "fresh");

  /* Phase 1: 1 MiB blocks. */
  int err;
  size_t n1 = fill_up(big, 2048, MiB, &err);
  printf("   phase 1: %zu x 1 MiB before NULL (errno %d), VmSize %ld KiB\n", n1, err,
         hz_test_vm_size_kib());
  CHECK(n1 < 2048 && err == ENOMEM, "1 MiB phase ended with errno %d after %zu blocks",
        err, n1);
  CHECK(n1 >= 300, "only %zu MiB obtained in 1 MiB blocks under a 512 MiB headroom", n1);
  {
    /* At exhaustion: the same request fails again, cleanly. */
    errno = 0;
    void *p = malloc(MiB);
    int e = errno;
    CHECK(p == NULL ? e == ENOMEM : 1, "malloc(1 MiB) at exhaustion: NULL with errno %d",
          e);
    free(p);
    errno = 0;
    p = calloc(256, 4096);
    e = errno;
    CHECK(p == NULL ? e == ENOMEM : 1, "calloc(256, 4096) at exhaustion: NULL with errno %d",
          e);
    free(p);
  }
  impossible_requests(n1 ? big[0] : NULL, MiB, "after 1 MiB phase");
  CHECK(damaged(big, n1, MiB) == 0, "1 MiB blocks damaged");
  free_all(big, n1);
  printf("   VmSize after freeing the 1 MiB blocks: %ld KiB\n", hz_test_vm_size_kib());
  {
    void *p = malloc(MiB);
    CHECK(p != NULL, "malloc(1 MiB) after freeing the 1 MiB phase");
    free(p);
  }

  /* Phase 2: 64 KiB blocks. */
  size_t n2 = fill_up(mid, 32768, 64 * KiB, &err);
  printf("   phase 2: %zu x 64 KiB = %zu MiB before NULL (errno %d)\n", n2, n2 / 16, err);
  CHECK(n2 < 32768 && err == ENOMEM, "64 KiB phase ended with errno %d after %zu blocks",
        err, n2);
  CHECK(n2 / 16 >= 300, "only %zu MiB obtained in 64 KiB blocks after the 1 MiB blocks "
        "were freed", n2 / 16);
  impossible_requests(n2 ? mid[n2 / 2] : NULL, 64 * KiB, "after 64 KiB phase");
  CHECK(damaged(mid, n2, 64 * KiB) == 0, "64 KiB blocks damaged");
  free_all(mid, n2);
  printf("   VmSize after freeing the 64 KiB blocks: %ld KiB\n", hz_test_vm_size_kib());
  {
    void *p = malloc(64 * KiB), *q = malloc(MiB);
    CHECK(p != NULL && q != NULL, "malloc after freeing the 64 KiB phase: %p %p", p, q);
    free(p);
    free(q);
  }

  /* Phase 3: 100-byte blocks. */
  size_t n3 = fill_up(small, MAX_SMALL, 100, &err);
  printf("   phase 3: %zu x 100 B before %s (errno %d)\n", n3,
         n3 == MAX_SMALL ? "the cap" : "NULL", err);
  if (n3 < MAX_SMALL)
    CHECK(err == ENOMEM, "100-byte phase ended with errno %d after %zu blocks", err, n3);
  CHECK(n3 == MAX_SMALL || n3 * 100 >= 150 * MiB,
        "100-byte blocks ran out after only %zu (%zu MiB of payload)", n3, n3 * 100 / MiB);
  impossible_requests(n3 ? small[n3 - 1] : NULL, 100, "after 100-byte phase");
  CHECK(damaged(small, n3, 100) == 0, "100-byte blocks damaged");
  free_all(small, n3);
  printf("   VmSize after freeing the 100-byte blocks: %ld KiB\n", hz_test_vm_size_kib());

  /* Recovery: everything freed is usable again, for other size classes too. */
  {
    void *p = malloc(100), *q = malloc(64 * KiB), *r = malloc(MiB);
    CHECK(p && q && r, "malloc after freeing everything: %p %p %p", p, q, r);
    free(p);
    free(q);
    free(r);
  }
  size_t n4 = fill_up(big, 2048, MiB, &err);
  printf("   recovery: %zu x 1 MiB before NULL (errno %d)\n", n4, err);
  CHECK(err == ENOMEM, "recovery round ended with errno %d", err);
  CHECK(n4 >= 256, "only %zu MiB obtainable in 1 MiB blocks after all phases were freed "
        "(phase 1 got %zu)", n4, n1);
  free_all(big, n4);

  setrlimit(RLIMIT_AS, &old);
  void *p = malloc(opaque(768 * MiB));
  CHECK(p != NULL, "malloc(768 MiB) after lifting the limit");
  if (p) memset(p, 1, MiB);
  free(p);
  double dt = now() - t0;
  printf("   %.2f s\n", dt);
  CHECK(dt < 20, "test took %.1f s", dt);
  return hz_test_finish();
}
