/* lower_bound_alloc - the least work a malloc/free pair can do, to bound what
 * any allocator can gain on a benchmark row (docs/hz3.md, "A lower bound").
 *
 * NOT an allocator: single-threaded programs only (no locks, no thread
 * caches), never returns memory, no checks of any kind, no aligned
 * allocation. Class = 16-byte steps up to 32 KiB; each class has its own
 * 4 MiB region (objects of one class contiguous), so free finds the class
 * from the address; larger blocks are mmap'd and never freed. malloc is a
 * shift and a list pop, free a subtraction, a compare and a list push:
 * 11-12 instructions each.
 *
 * build: gcc -O2 -fno-builtin -fPIC -shared -o liblb.so tools/lower_bound_alloc.c
 * use:   LD_PRELOAD=./liblb.so bench_st_churn 10000000 16 256 1000
 * (-fno-builtin: gcc would otherwise turn calloc's malloc + memset into a
 * call to calloc, i.e. an endless loop.) */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>

#define LB_CLASSES 2049 /* 16-byte steps to 32 KiB */
#define LB_REGION_SHIFT 22
#define LB_SPAN ((size_t)LB_CLASSES << LB_REGION_SHIFT)

static char *lb_base;
static void *lb_head[LB_CLASSES];
static char *lb_bump[LB_CLASSES];

__attribute__((noinline)) static void *lb_carve(size_t cls) {
  if (!lb_base) {
    void *m = mmap(NULL, LB_SPAN, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) return NULL;
    lb_base = m;
    for (size_t i = 0; i < LB_CLASSES; i++) lb_bump[i] = lb_base + (i << LB_REGION_SHIFT);
  }
  char *p = lb_bump[cls];
  if ((size_t)(p + (cls << 4) - lb_base) > ((cls + 1) << LB_REGION_SHIFT)) return NULL;  /* region full */
  lb_bump[cls] = p + (cls << 4);
  return p;
}

void *malloc(size_t n) {
  size_t cls = (n + 15) >> 4;
  if (cls == 0) cls = 1;
  if (cls >= LB_CLASSES) {
    void *p = mmap(NULL, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    return p == MAP_FAILED ? NULL : p;
  }
  void *p = lb_head[cls];
  if (__builtin_expect(p != NULL, 1)) {
    lb_head[cls] = *(void **)p;
    return p;
  }
  return lb_carve(cls);
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
  return off < LB_SPAN ? (off >> LB_REGION_SHIFT) << 4 : 0;
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
