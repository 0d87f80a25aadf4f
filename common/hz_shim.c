/* The exported malloc surface, shared by every line.
 *
 * This file owns the libc contract (glibc's documented behaviour): errno on
 * failure, overflow checks, alignment validation, realloc rules, what happens
 * to pointers that are not ours, and the process-level wiring (options,
 * atfork, exit statistics). Lines only see valid requests. */
#include "hz_shim.h"
#include "hz_atomic.h"
#include "hz_line.h"
#include "hz_line_fast.h"
#include "hz_options.h"
#include "hz_os.h"
#include "hz_purger.h"
#include "hz_stats.h"

#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

/* ---------------------------------------------------------------------------
 * Pointers that are not ours: memory from before the library was loaded, from
 * a DEEPBIND library, or from a libc-internal path. They go to the next
 * allocator in symbol order (libc), resolved once and cached. */

typedef void (*hz_free_fn)(void *);
typedef void *(*hz_realloc_fn)(void *, size_t);
typedef size_t (*hz_usable_fn)(void *);

static _Atomic(hz_free_fn) hz_next_free;
static _Atomic(hz_realloc_fn) hz_next_realloc;
static _Atomic(hz_usable_fn) hz_next_usable;

static void *hz_next_symbol(const char *name, void *self) {
  void *sym = dlsym(RTLD_NEXT, name);
  return sym == self ? NULL : sym;  /* never loop back into ourselves */
}

static hz_cold void hz_foreign_free(void *p) {
  hz_stat_add(HZ_STAT_FOREIGN_FREES, 1);
  hz_free_fn fn = hz_load_acquire(&hz_next_free);
  if (fn == NULL) {
    fn = (hz_free_fn)hz_next_symbol("free", (void *)free);
    hz_store_release(&hz_next_free, fn);
  }
  if (fn != NULL) fn(p);  /* else: nobody to give it to; leaking beats crashing */
}

static hz_cold void *hz_foreign_realloc(void *p, size_t size) {
  hz_realloc_fn fn = hz_load_acquire(&hz_next_realloc);
  if (fn == NULL) {
    fn = (hz_realloc_fn)hz_next_symbol("realloc", (void *)realloc);
    hz_store_release(&hz_next_realloc, fn);
  }
  if (fn == NULL) {
    errno = ENOMEM;
    return NULL;
  }
  return fn(p, size);
}

static hz_cold size_t hz_foreign_usable_size(void *p) {
  hz_usable_fn fn = hz_load_acquire(&hz_next_usable);
  if (fn == NULL) {
    fn = (hz_usable_fn)hz_next_symbol("malloc_usable_size", (void *)malloc_usable_size);
    hz_store_release(&hz_next_usable, fn);
  }
  return fn != NULL ? fn(p) : 0;
}

/* ---------------------------------------------------------------------------
 * Process set-up: called once by the line's init. Nothing here allocates
 * before the line is usable; pthread_atfork may allocate, which is why the
 * line calls this after its own state is ready. */

static void hz_atfork_prepare(void) { hz_line_fork_prepare(); }
static void hz_atfork_parent(void) { hz_line_fork_parent(); }
static void hz_atfork_child(void) {
  hz_purger_after_fork_child();
  hz_line_fork_child();
}

void hz_shim_process_init(void) {
  pthread_atfork(hz_atfork_prepare, hz_atfork_parent, hz_atfork_child);
  if (hz_options.verbose) hz_options_print();
}

/* Initialise before main so atfork is registered before user threads exist. */
__attribute__((constructor)) static void hz_shim_constructor(void) {
  hz_line_init();
}

__attribute__((destructor)) static void hz_shim_destructor(void) {
  if (hz_options.stats == 2) hz_stats_print_json(2);
  else if (hz_options.stats) hz_stats_print(2);
}

/* ---------------------------------------------------------------------------
 * The API. */

#define HZ_ALIAS(name) __attribute__((alias(#name), visibility("default")))
/* glibc's prototypes carry nothrow/leaf/malloc attributes that an alias
 * cannot restate; the aliases are the same functions, so that is fine. */
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmissing-attributes"
#endif

static inline bool hz_is_pow2(size_t x) { return x != 0 && (x & (x - 1)) == 0; }

void *hz_shim_enomem(void) {
  errno = ENOMEM;
  return NULL;
}

void hz_shim_free_foreign(void *p) {
  int saved = errno;  /* free must preserve errno; the next allocator may not */
  hz_foreign_free(p);
  errno = saved;
}

hz_export void *malloc(size_t size) {
#if HZ_LINE_MALLOC_ANY_SIZE
  return hz_line_malloc(size);
#else
  if (hz_likely(size <= HZ_MAX_REQUEST)) {
    void *p = hz_line_malloc(size);
    if (hz_likely(p != NULL)) return p;
  }
  errno = ENOMEM;
  return NULL;
#endif
}

hz_export void free(void *p) {
#if HZ_LINE_FREE_ANY
  (void)hz_line_free(p);
#else
  if (hz_unlikely(p == NULL)) return;
  if (hz_likely(hz_line_free(p))) return;
  hz_shim_free_foreign(p);
#endif
}

hz_export void *calloc(size_t count, size_t size) {
  size_t total;
  if (hz_unlikely(__builtin_mul_overflow(count, size, &total) || total > HZ_MAX_REQUEST)) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = hz_line_calloc(total);
  if (hz_unlikely(p == NULL)) errno = ENOMEM;
  return p;
}

void *hz_shim_realloc_move(void *p, size_t usable, size_t size) {
  void *q = hz_line_malloc(size);
  if (q == NULL) return NULL;
  memcpy(q, p, usable < size ? usable : size);
  hz_line_free(p);
  return q;
}

hz_export void *realloc(void *p, size_t size) {
  if (p == NULL) return malloc(size);
  if (size == 0) {  /* glibc: frees and returns NULL */
    free(p);
    return NULL;
  }
  size_t usable = hz_line_usable_size(p);
  if (hz_unlikely(usable == 0)) {
    if (hz_line_claims(p)) {  /* ours but not allocated: refuse, never forward */
      errno = EINVAL;
      return NULL;
    }
    return hz_foreign_realloc(p, size);
  }
  if (hz_unlikely(size > HZ_MAX_REQUEST)) {
    errno = ENOMEM;
    return NULL;
  }
  int saved = errno;
  errno = 0;
  void *q = hz_line_realloc(p, usable, size);
  if (hz_likely(q != NULL)) {
    errno = saved;
  } else if (errno != EINVAL) {  /* a line reports a freed block with EINVAL */
    errno = ENOMEM;
  }
  return q;
}

hz_export void *reallocarray(void *p, size_t count, size_t size) {
  size_t total;
  if (__builtin_mul_overflow(count, size, &total)) {
    errno = ENOMEM;
    return NULL;
  }
  return realloc(p, total);
}

/* Shared by every aligned entry point: `align` is already a power of two. */
static void *hz_aligned_alloc_checked(size_t align, size_t size) {
  if (hz_unlikely(size > HZ_MAX_REQUEST || align > ((size_t)1 << 40))) {
    errno = ENOMEM;
    return NULL;
  }
  void *p = align <= 16 ? hz_line_malloc(size) : hz_line_aligned(align, size);
  if (hz_unlikely(p == NULL)) errno = ENOMEM;
  return p;
}

hz_export int posix_memalign(void **out, size_t align, size_t size) {
  if (!hz_is_pow2(align) || align % sizeof(void *) != 0) return EINVAL;
  int saved = errno;
  void *p = hz_aligned_alloc_checked(align, size);
  errno = saved;
  if (p == NULL) return ENOMEM;
  *out = p;
  return 0;
}

hz_export void *aligned_alloc(size_t align, size_t size) {
  if (!hz_is_pow2(align)) {
    errno = EINVAL;
    return NULL;
  }
  return hz_aligned_alloc_checked(align, size);
}

hz_export void *memalign(size_t align, size_t size) {
  /* glibc rounds a non-power-of-two alignment up to the next power of two. */
  if (align > ((size_t)1 << (sizeof(size_t) * 8 - 1))) {
    errno = EINVAL;
    return NULL;
  }
  if (align == 0) align = 1;
  if (!hz_is_pow2(align)) align = (size_t)1 << (64 - __builtin_clzll((unsigned long long)align));
  return hz_aligned_alloc_checked(align, size);
}

hz_export void *valloc(size_t size) {
  return hz_aligned_alloc_checked(hz_os_page_size(), size);
}

hz_export void *pvalloc(size_t size) {
  size_t page = hz_os_page_size();
  size_t rounded;
  if (__builtin_add_overflow(size, page - 1, &rounded)) {
    errno = ENOMEM;
    return NULL;
  }
  rounded &= ~(page - 1);
  return hz_aligned_alloc_checked(page, rounded == 0 ? page : rounded);
}

hz_export size_t malloc_usable_size(void *p) {
  if (p == NULL) return 0;
  size_t usable = hz_line_usable_size(p);
  if (usable != 0 || hz_line_claims(p)) return usable;
  return hz_foreign_usable_size(p);
}

hz_export void cfree(void *p) HZ_ALIAS(free);

hz_export void free_sized(void *p, size_t size) {
  (void)size;
  free(p);
}

hz_export void free_aligned_sized(void *p, size_t align, size_t size) {
  (void)align;
  (void)size;
  free(p);
}

hz_export int malloc_trim(size_t pad) {
  hz_stat_add(HZ_STAT_TRIMS, 1);
  int saved = errno;
  int released = hz_line_trim(pad) ? 1 : 0;
  errno = saved;
  return released;
}

static size_t hz_clamp_int(uint64_t v) { return v > INT_MAX ? INT_MAX : (size_t)v; }

hz_export struct mallinfo2 mallinfo2(void) {
  hz_line_usage u;
  hz_line_get_usage(&u);
  struct mallinfo2 mi;
  memset(&mi, 0, sizeof(mi));
  mi.arena = u.mapped_bytes - u.large_bytes;
  mi.hblks = 0;
  mi.hblkhd = u.large_bytes;
  mi.uordblks = u.in_use_bytes - u.large_bytes;
  mi.fordblks = u.free_bytes;
  mi.keepcost = 0;
  return mi;
}

hz_export struct mallinfo mallinfo(void) {
  struct mallinfo2 m2 = mallinfo2();
  struct mallinfo mi;
  memset(&mi, 0, sizeof(mi));
  mi.arena = (int)hz_clamp_int(m2.arena);
  mi.hblkhd = (int)hz_clamp_int(m2.hblkhd);
  mi.uordblks = (int)hz_clamp_int(m2.uordblks);
  mi.fordblks = (int)hz_clamp_int(m2.fordblks);
  return mi;
}

hz_export int mallopt(int param, int value) {
  /* Every glibc tunable is accepted and ignored (glibc returns 1, also for
   * unknown parameters): the line manages its own thresholds. */
  (void)param;
  (void)value;
  return 1;
}

hz_export void malloc_stats(void) { hz_stats_print(2); }

hz_export int malloc_info(int options, FILE *fp) {
  if (options != 0 || fp == NULL) return EINVAL;  /* glibc returns the code */
  hz_line_usage u;
  hz_line_get_usage(&u);
  fprintf(fp,
          "<malloc version=\"hakozuna-1\" line=\"%s\">\n"
          "<total type=\"mapped\" size=\"%llu\"/>\n"
          "<total type=\"in_use\" size=\"%llu\"/>\n"
          "<total type=\"large\" size=\"%llu\"/>\n"
          "<total type=\"free\" size=\"%llu\"/>\n"
          "<system type=\"current\" size=\"%llu\"/>\n"
          "</malloc>\n",
          HZ_LINE_NAME, (unsigned long long)u.mapped_bytes,
          (unsigned long long)u.in_use_bytes, (unsigned long long)u.large_bytes,
          (unsigned long long)u.free_bytes, (unsigned long long)u.mapped_bytes);
  return 0;
}

/* glibc's internal names: old binaries and static-link users call these. */
hz_export void *__libc_malloc(size_t size) HZ_ALIAS(malloc);
hz_export void __libc_free(void *p) HZ_ALIAS(free);
hz_export void *__libc_calloc(size_t n, size_t size) HZ_ALIAS(calloc);
hz_export void *__libc_realloc(void *p, size_t size) HZ_ALIAS(realloc);
hz_export void *__libc_memalign(size_t align, size_t size) HZ_ALIAS(memalign);
hz_export void *__libc_valloc(size_t size) HZ_ALIAS(valloc);
hz_export void *__libc_pvalloc(size_t size) HZ_ALIAS(pvalloc);
hz_export int __posix_memalign(void **out, size_t align, size_t size) HZ_ALIAS(posix_memalign);

/* For the C++ operator shim. */
void *hz_shim_malloc(size_t size) { return malloc(size); }
void *hz_shim_aligned(size_t align, size_t size) {
  if (!hz_is_pow2(align)) return NULL;
  return hz_aligned_alloc_checked(align, size);
}
void hz_shim_free(void *p) { free(p); }
