/* The 20 replaceable C++ operators new/delete.
 *
 * A C program that preloads us must not load libstdc++, so every C++ runtime
 * symbol this file needs (exception allocation and throw, catch, the
 * personality routine, std::bad_alloc, std::get_new_handler) is a weak
 * reference: it resolves when the program already has libstdc++ loaded, which
 * is the only case in which these operators are called at all. The DSO is
 * linked as C, so no DT_NEEDED on libstdc++ appears.
 *
 * Semantics are libstdc++'s: operator new loops on the installed new_handler
 * and throws std::bad_alloc when there is none; the nothrow forms return
 * nullptr instead, also when the handler throws. */
#include <cstddef>
#include <cstdlib>
#include <new>

extern "C" {
#include "hz_options.h"
#include "hz_shim.h"
}

asm(".weak __gxx_personality_v0\n"
    ".weak __cxa_begin_catch\n"
    ".weak __cxa_end_catch\n"
    ".weak __cxa_allocate_exception\n"
    ".weak __cxa_free_exception\n"
    ".weak __cxa_throw\n"
    ".weak _ZTISt9bad_alloc\n"
    ".weak _ZTVSt9bad_alloc\n"
    ".weak _ZNSt9bad_allocD1Ev\n"
    ".weak _ZNSt9exceptionD2Ev\n"
    ".weak _ZSt15get_new_handlerv\n");

/* Weak probes of the runtime: their address is null when libstdc++ is absent
 * (the compiler may assume a normally declared function is never null). */
extern "C" char hz_probe_cxa_throw __asm__("__cxa_throw") __attribute__((weak));
extern "C" char hz_probe_get_new_handler __asm__("_ZSt15get_new_handlerv") __attribute__((weak));

namespace {

bool hz_cxx_runtime_present() {
  return &hz_probe_cxa_throw != nullptr && &hz_probe_get_new_handler != nullptr;
}

[[noreturn]] __attribute__((cold, noinline)) void hz_throw_bad_alloc() {
  if (hz_cxx_runtime_present()) throw std::bad_alloc();
  hz_write_str(2, "[hakozuna] operator new: out of memory and no C++ runtime to throw std::bad_alloc\n");
  std::abort();
}

void *hz_cxx_new(std::size_t size, std::size_t align) {
  for (;;) {
    void *p = align <= 16 ? hz_shim_malloc(size) : hz_shim_aligned(align, size);
    if (__builtin_expect(p != nullptr, 1)) return p;
    std::new_handler handler = hz_cxx_runtime_present() ? std::get_new_handler() : nullptr;
    if (handler == nullptr) hz_throw_bad_alloc();
    handler();
  }
}

void *hz_cxx_new_nothrow(std::size_t size, std::size_t align) noexcept {
  void *p = align <= 16 ? hz_shim_malloc(size) : hz_shim_aligned(align, size);
  if (__builtin_expect(p != nullptr, 1)) return p;
  if (!hz_cxx_runtime_present() || std::get_new_handler() == nullptr) return nullptr;
  try {
    return hz_cxx_new(size, align);
  } catch (...) {
    return nullptr;
  }
}

}  // namespace

#define HZ_CXX __attribute__((visibility("default")))
using std::size_t;
using std::align_val_t;
using std::nothrow_t;

HZ_CXX void *operator new(size_t n) { return hz_cxx_new(n, 0); }
HZ_CXX void *operator new[](size_t n) { return hz_cxx_new(n, 0); }
HZ_CXX void *operator new(size_t n, const nothrow_t &) noexcept { return hz_cxx_new_nothrow(n, 0); }
HZ_CXX void *operator new[](size_t n, const nothrow_t &) noexcept { return hz_cxx_new_nothrow(n, 0); }
HZ_CXX void *operator new(size_t n, align_val_t a) { return hz_cxx_new(n, static_cast<size_t>(a)); }
HZ_CXX void *operator new[](size_t n, align_val_t a) { return hz_cxx_new(n, static_cast<size_t>(a)); }
HZ_CXX void *operator new(size_t n, align_val_t a, const nothrow_t &) noexcept {
  return hz_cxx_new_nothrow(n, static_cast<size_t>(a));
}
HZ_CXX void *operator new[](size_t n, align_val_t a, const nothrow_t &) noexcept {
  return hz_cxx_new_nothrow(n, static_cast<size_t>(a));
}

HZ_CXX void operator delete(void *p) noexcept { hz_shim_free(p); }
HZ_CXX void operator delete[](void *p) noexcept { hz_shim_free(p); }
HZ_CXX void operator delete(void *p, size_t) noexcept { hz_shim_free(p); }
HZ_CXX void operator delete[](void *p, size_t) noexcept { hz_shim_free(p); }
HZ_CXX void operator delete(void *p, const nothrow_t &) noexcept { hz_shim_free(p); }
HZ_CXX void operator delete[](void *p, const nothrow_t &) noexcept { hz_shim_free(p); }
HZ_CXX void operator delete(void *p, align_val_t) noexcept { hz_shim_free(p); }
HZ_CXX void operator delete[](void *p, align_val_t) noexcept { hz_shim_free(p); }
HZ_CXX void operator delete(void *p, size_t, align_val_t) noexcept { hz_shim_free(p); }
HZ_CXX void operator delete[](void *p, size_t, align_val_t) noexcept { hz_shim_free(p); }
HZ_CXX void operator delete(void *p, align_val_t, const nothrow_t &) noexcept { hz_shim_free(p); }
HZ_CXX void operator delete[](void *p, align_val_t, const nothrow_t &) noexcept { hz_shim_free(p); }
