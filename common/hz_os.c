#include "hz_os.h"
#include "hz_atomic.h"
#include "hz_options.h"
#include "hz_stats.h"

#include <errno.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#ifndef MAP_FIXED_NOREPLACE
#define MAP_FIXED_NOREPLACE 0x100000
#endif
#ifndef MADV_FREE
#define MADV_FREE 8
#endif

/* ---- the lock (lives here to keep the syscall in one file) ---- */

/* Both keep errno: a wait that finds the lock already changed fails with
 * EAGAIN, and free() must not change errno (a heap's slice or span lock is
 * contended by the background purger inside free). */
void hz_lock_slow(hz_lock *lock) {
  int saved = errno;
  int state = atomic_exchange_explicit(&lock->state, 2, memory_order_acquire);
  while (state != 0) {
    syscall(SYS_futex, &lock->state, FUTEX_WAIT_PRIVATE, 2, NULL, NULL, 0);
    state = atomic_exchange_explicit(&lock->state, 2, memory_order_acquire);
  }
  errno = saved;
}

void hz_unlock_wake(hz_lock *lock) {
  int saved = errno;
  syscall(SYS_futex, &lock->state, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
  errno = saved;
}

/* ---- pages ---- */

static size_t hz_page_size_cached;
static _Atomic int hz_madv_free_broken;
static _Atomic int hz_noreplace_broken;

size_t hz_os_page_size(void) {
  if (hz_unlikely(hz_page_size_cached == 0)) {
    long ps = sysconf(_SC_PAGESIZE);
    hz_page_size_cached = ps > 0 ? (size_t)ps : 4096;
  }
  return hz_page_size_cached;
}

#ifdef HZ_FAULT_INJECTION
/* Test builds: HZ_FAULT_MMAP=N makes exactly the N-th mapping fail. */
static _Atomic uint64_t hz_fault_mmap_count;
static bool hz_fault_mmap_fires(void) {
  if (hz_options.fault_mmap <= 0) return false;
  return atomic_fetch_add(&hz_fault_mmap_count, 1) + 1 == (uint64_t)hz_options.fault_mmap;
}
#else
static inline bool hz_fault_mmap_fires(void) { return false; }
#endif

static void *hz_mmap_raw(void *addr, size_t size, int prot, int flags) {
  if (hz_fault_mmap_fires()) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = mmap(addr, size, prot, flags | MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return p == MAP_FAILED ? NULL : p;
}

void *hz_os_map(size_t size, void *fixed_hint) {
  void *p;
  if (fixed_hint == NULL) {
    p = hz_mmap_raw(NULL, size, PROT_READ | PROT_WRITE, MAP_NORESERVE);
  } else {
    int flags = MAP_NORESERVE;
    if (!hz_load_relaxed(&hz_noreplace_broken)) flags |= MAP_FIXED_NOREPLACE;
    p = hz_mmap_raw(fixed_hint, size, PROT_READ | PROT_WRITE, flags);
    if (p == NULL && errno == EINVAL && (flags & MAP_FIXED_NOREPLACE)) {
      /* Kernel rejects the flag combination: use a plain hint instead. */
      hz_store_relaxed(&hz_noreplace_broken, 1);
      p = hz_mmap_raw(fixed_hint, size, PROT_READ | PROT_WRITE, MAP_NORESERVE);
    }
    if (p != NULL && p != fixed_hint) {
      /* Pre-4.17 kernels ignore MAP_FIXED_NOREPLACE and treat it as a hint. */
      munmap(p, size);
      p = NULL;
    }
  }
  if (p != NULL) {
    hz_stat_add(HZ_STAT_OS_MAPPED, size);
    hz_stat_add(HZ_STAT_OS_MAP_CALLS, 1);
  }
  return p;
}

void *hz_os_map_aligned(size_t size, size_t align) {
  size_t page = hz_os_page_size();
  if (align <= page) return hz_os_map(size, NULL);
  size_t over = size + align - page;
  if (over < size) return NULL;
  char *raw = hz_mmap_raw(NULL, over, PROT_READ | PROT_WRITE, MAP_NORESERVE);
  if (raw == NULL) return NULL;
  uintptr_t start = ((uintptr_t)raw + align - 1) & ~(uintptr_t)(align - 1);
  size_t head = start - (uintptr_t)raw;
  size_t tail = over - head - size;
  if (head) munmap(raw, head);
  if (tail) munmap((char *)start + size, tail);
  hz_stat_add(HZ_STAT_OS_MAPPED, size);
  hz_stat_add(HZ_STAT_OS_MAP_CALLS, 1);
  return (void *)start;
}

void *hz_os_reserve(size_t size) {
  return hz_mmap_raw(NULL, size, PROT_NONE, MAP_NORESERVE);
}

void hz_os_unmap(void *p, size_t size) {
  if (p == NULL || size == 0) return;
  munmap(p, size);
  hz_stat_add(HZ_STAT_OS_UNMAPPED, size);
}

size_t hz_os_decommit_interior(void *p, size_t size, size_t keep) {
  size_t page = hz_os_page_size();
  uintptr_t lo = ((uintptr_t)p + keep + page - 1) & ~(uintptr_t)(page - 1);
  uintptr_t hi = ((uintptr_t)p + size) & ~(uintptr_t)(page - 1);
  if (hi <= lo) return 0;
  hz_os_decommit((void *)lo, hi - lo);
  return hi - lo;
}

void hz_os_decommit(void *p, size_t size) {
  if (size == 0) return;
  int saved = errno;
  if (hz_options.madv_free && !hz_load_relaxed(&hz_madv_free_broken)) {
    if (madvise(p, size, MADV_FREE) == 0) goto done;
    hz_store_relaxed(&hz_madv_free_broken, 1);  /* EINVAL on pre-4.5 kernels */
  }
  if (madvise(p, size, MADV_DONTNEED) != 0) {
    /* Sandboxes may forbid madvise; the pages just stay resident. */
    errno = saved;
    return;
  }
done:
  hz_stat_add(HZ_STAT_OS_DECOMMITTED, size);
  errno = saved;
}

void *hz_os_remap(void *p, size_t old_size, size_t new_size) {
  void *q = mremap(p, old_size, new_size, MREMAP_MAYMOVE);
  return q == MAP_FAILED ? NULL : q;
}

void hz_os_hint_hugepages(void *p, size_t size) {
#ifdef MADV_HUGEPAGE
  if (hz_options.thp) {
    int saved = errno;
    (void)madvise(p, size, MADV_HUGEPAGE);
    errno = saved;
  }
#else
  (void)p; (void)size;
#endif
}

uint64_t hz_os_now_ms(void) {
  struct timespec ts;
#ifdef CLOCK_MONOTONIC_COARSE
  if (clock_gettime(CLOCK_MONOTONIC_COARSE, &ts) != 0)
#endif
    clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
