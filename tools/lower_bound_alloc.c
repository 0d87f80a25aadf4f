/* lower_bound_alloc - the least work a malloc/free pair can do, to bound what
 * any allocator can gain on a benchmark row (docs/lower_bound.md).
 *
 * NOT an allocator: single-threaded programs only (no locks, no thread
 * caches), never returns memory, no checks of any kind, no aligned
 * allocation. Classes: 16-byte steps to 1 KiB, then 4 per doubling to
 * 32 KiB (one 2049-entry byte table: 2049 classes of 16-byte steps had each
 * medium object on pages of its own, 8 times hz3's page faults on main_r0).
 * Each class has its own 4 MiB region (objects of one class contiguous), so
 * free finds the class from the address; larger blocks are mmap'd and never
 * freed. malloc is a table load and a list pop, free a subtraction, a compare
 * and a list push: 11-12 instructions each.
 *
 * With -DLB_THREADS (the multi-thread bound, docs/lower_bound.md): the lists
 * are per thread and a free goes onto the freeing thread's list, whoever
 * carved the object (objects migrate, nothing goes home: only for programs
 * whose threads free as much as they allocate, as main_r50/main_r90 do, not
 * for producer/consumer ones, whose memory would grow without end); the
 * regions are 64 MiB, their first 2 MiB faulted in at set-up, and carved
 * with an atomic add. Set up by the first call,
 * which must come before the second thread (every benchmark prints first).
 *
 * build: gcc -O2 -fno-builtin -fPIC -shared -o liblb.so tools/lower_bound_alloc.c
 *        gcc -O2 -fno-builtin -fPIC -shared -DLB_THREADS -o liblb_mt.so tools/lower_bound_alloc.c
 * use:   LD_PRELOAD=./liblb.so bench_st_churn 10000000 16 256 1000
 * (-fno-builtin: gcc would otherwise turn calloc's malloc + memset into a
 * call to calloc, i.e. an endless loop.) */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define LB_STEPS 2049 /* 16-byte steps to 32 KiB */
#define LB_CLASSES 84   /* 64 to 1 KiB, 4 per doubling to 32 KiB */
#ifdef LB_THREADS
#define LB_REGION_SHIFT 26
#define LB_LOCAL __thread __attribute__((tls_model("initial-exec")))
#define LB_PREFAULT_MB 2
#else
#define LB_REGION_SHIFT 22
#define LB_LOCAL
#endif
#define LB_SPAN ((size_t)LB_CLASSES << LB_REGION_SHIFT)

static char *lb_base;
static LB_LOCAL void *lb_head[LB_CLASSES];
static char *lb_bump[LB_CLASSES];
static uint32_t lb_size[LB_CLASSES];
static uint8_t lb_class[LB_STEPS]; /* all 0 (a class with no size) until set up */

static size_t lb_class_size(size_t cls) {
  if (cls < 64) return (cls + 1) << 4;
  size_t base = (size_t)1024 << ((cls - 64) / 4);
  return base + (base / 4) * ((cls - 64) % 4 + 1);
}

__attribute__((noinline)) static void *lb_carve(size_t n) {
  if (!lb_base) {
    void *m = mmap(NULL, LB_SPAN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return NULL;
    lb_base = m;
    size_t cls = 0;
    for (size_t i = 0; i < LB_CLASSES; i++) {
      lb_bump[i] = lb_base + (i << LB_REGION_SHIFT);
      lb_size[i] = (uint32_t)lb_class_size(i);
    }
    for (size_t step = 0; step < LB_STEPS; step++) {
      while (lb_size[cls] < step * 16) cls++;
      lb_class[step] = (uint8_t)cls;
    }
#ifdef LB_THREADS
    /* Fault in the start of every region now, before the program's clock
     * runs: migrating objects make this bound carve more than an allocator
     * that sends them home (main_r50 T=2: 13.9 k page faults against hz4's
     * 5.4 k), and those faults are not the cost being bounded. */
    for (size_t i = 0; i < LB_CLASSES; i++)
      (void)madvise(lb_base + (i << LB_REGION_SHIFT), (size_t)LB_PREFAULT_MB << 20, 23 /* MADV_POPULATE_WRITE */);
#endif
  }
  size_t cls = lb_class[(n + 15) >> 4];
  void *p = lb_head[cls];
  if (p) {
    lb_head[cls] = *(void **)p;
    return p;
  }
#ifdef LB_THREADS
  char *q = __atomic_fetch_add(&lb_bump[cls], lb_size[cls], __ATOMIC_RELAXED);
#else
  char *q = lb_bump[cls];
  lb_bump[cls] = q + lb_size[cls];
#endif
  if ((size_t)(q + lb_size[cls] - lb_base) > ((cls + 1) << LB_REGION_SHIFT)) return NULL; /* region full */
  return q;
}

void *malloc(size_t n) {
  if (n > 32768) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
  }
  size_t cls = lb_class[(n + 15) >> 4];
  void *p = lb_head[cls];
  if (__builtin_expect(p != NULL, 1)) {
    lb_head[cls] = *(void **)p;
    return p;
  }
  return lb_carve(n);
}

void free(void *p) {
  uintptr_t off = (uintptr_t)p - (uintptr_t)lb_base;
  if (off < LB_SPAN) {
    size_t cls = off >> LB_REGION_SHIFT;
    *(void **)p = lb_head[cls];
    lb_head[cls] = p;
  }
}

void *calloc(size_t a, size_t b) {
  size_t n;
  if (__builtin_mul_overflow(a, b, &n)) return NULL;
  void *p = malloc(n);
  if (p) memset(p, 0, n);
  return p;
}

size_t malloc_usable_size(void *p) {
  uintptr_t off = (uintptr_t)p - (uintptr_t)lb_base;
  return off < LB_SPAN ? lb_size[off >> LB_REGION_SHIFT] : 0;
}

void *realloc(void *p, size_t n) {
  if (!p) return malloc(n);
  size_t old = malloc_usable_size(p);
  if (old == 0) { /* an mmap'd block: its size is not kept */
    errno = ENOMEM;
    return NULL;
  }
  if (n <= old && old - n < 16) return p;
  void *q = malloc(n);
  if (!q) return NULL;
  memcpy(q, p, old < n ? old : n);
  free(p);
  return q;
}

int posix_memalign(void **r, size_t al, size_t n) {
  (void)r, (void)al, (void)n;
  return ENOMEM;
}
void *aligned_alloc(size_t al, size_t n) {
  (void)al, (void)n;
  errno = ENOMEM;
  return NULL;
}
void *memalign(size_t al, size_t n) { return aligned_alloc(al, n); }
