/* The 20 replaceable C++ operators new/delete, written in C.
 *
 * A C program that preloads us must not load libstdc++, so the C++ runtime is
 * reached through weak references: they resolve only when the program already
 * has libstdc++ loaded, which is the only case in which these operators are
 * called at all. operator new loops on the installed new_handler and throws
 * std::bad_alloc exactly as libstdc++'s own operator new does. */
#include "hz_atomic.h"
#include "hz_options.h"
#include "hz_shim.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdlib.h>

typedef void (*hz_new_handler)(void);

extern hz_new_handler _ZSt15get_new_handlerv(void) __attribute__((weak));
extern void *__cxa_allocate_exception(size_t) __attribute__((weak));
extern void __cxa_throw(void *, void *, void (*)(void *)) __attribute__((weak, noreturn));
extern char _ZTISt9bad_alloc[] __attribute__((weak));    /* typeinfo for std::bad_alloc */
extern void *_ZTVSt9bad_alloc[] __attribute__((weak));   /* its vtable */
extern void _ZNSt9bad_allocD1Ev(void *) __attribute__((weak));

static hz_cold void hz_throw_bad_alloc(void) {
  if (__cxa_allocate_exception && __cxa_throw && _ZTISt9bad_alloc && _ZTVSt9bad_alloc) {
    void **exc = __cxa_allocate_exception(sizeof(void *));
    *exc = &_ZTVSt9bad_alloc[2];  /* vptr points past offset-to-top and RTTI */
    __cxa_throw(exc, _ZTISt9bad_alloc, _ZNSt9bad_allocD1Ev);
  }
  hz_write_str(2, "[hakozuna] operator new: out of memory and no C++ runtime to throw std::bad_alloc\n");
  abort();
}

static void *hz_cxx_new(size_t size, size_t align, bool nothrow) {
  for (;;) {
    void *p = align <= 16 ? hz_shim_malloc(size) : hz_shim_aligned(align, size);
    if (hz_likely(p != NULL)) return p;
    hz_new_handler handler = _ZSt15get_new_handlerv ? _ZSt15get_new_handlerv() : NULL;
    if (handler == NULL) {
      if (nothrow) return NULL;
      hz_throw_bad_alloc();
    }
    handler();
  }
}

#define HZ_CXX hz_export __attribute__((used))

HZ_CXX void *_Znwm(size_t n) { return hz_cxx_new(n, 0, false); }
HZ_CXX void *_Znam(size_t n) { return hz_cxx_new(n, 0, false); }
HZ_CXX void *_ZnwmRKSt9nothrow_t(size_t n, const void *nt) { (void)nt; return hz_cxx_new(n, 0, true); }
HZ_CXX void *_ZnamRKSt9nothrow_t(size_t n, const void *nt) { (void)nt; return hz_cxx_new(n, 0, true); }
HZ_CXX void *_ZnwmSt11align_val_t(size_t n, size_t a) { return hz_cxx_new(n, a, false); }
HZ_CXX void *_ZnamSt11align_val_t(size_t n, size_t a) { return hz_cxx_new(n, a, false); }
HZ_CXX void *_ZnwmSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *nt) { (void)nt; return hz_cxx_new(n, a, true); }
HZ_CXX void *_ZnamSt11align_val_tRKSt9nothrow_t(size_t n, size_t a, const void *nt) { (void)nt; return hz_cxx_new(n, a, true); }

HZ_CXX void _ZdlPv(void *p) { hz_shim_free(p); }
HZ_CXX void _ZdaPv(void *p) { hz_shim_free(p); }
HZ_CXX void _ZdlPvm(void *p, size_t n) { (void)n; hz_shim_free(p); }
HZ_CXX void _ZdaPvm(void *p, size_t n) { (void)n; hz_shim_free(p); }
HZ_CXX void _ZdlPvRKSt9nothrow_t(void *p, const void *nt) { (void)nt; hz_shim_free(p); }
HZ_CXX void _ZdaPvRKSt9nothrow_t(void *p, const void *nt) { (void)nt; hz_shim_free(p); }
HZ_CXX void _ZdlPvSt11align_val_t(void *p, size_t a) { (void)a; hz_shim_free(p); }
HZ_CXX void _ZdaPvSt11align_val_t(void *p, size_t a) { (void)a; hz_shim_free(p); }
HZ_CXX void _ZdlPvmSt11align_val_t(void *p, size_t n, size_t a) { (void)n; (void)a; hz_shim_free(p); }
HZ_CXX void _ZdaPvmSt11align_val_t(void *p, size_t n, size_t a) { (void)n; (void)a; hz_shim_free(p); }
HZ_CXX void _ZdlPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *nt) { (void)a; (void)nt; hz_shim_free(p); }
HZ_CXX void _ZdaPvSt11align_val_tRKSt9nothrow_t(void *p, size_t a, const void *nt) { (void)a; (void)nt; hz_shim_free(p); }
