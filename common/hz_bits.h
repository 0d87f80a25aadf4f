/* Bit counting without a library call.
 *
 * Without -mpopcnt (the baseline x86-64 target), __builtin_popcountll is a
 * call into libgcc's __popcountdi2; the arena's unit and slice masks are
 * counted on every span and page allocation and release, where the call was
 * ~2 % of hz3's instructions on cross128_r90 (callgrind). The SWAR form
 * below is 12 inline ALU operations; a build for a CPU with POPCNT uses the
 * instruction. */
#ifndef HZ_BITS_H
#define HZ_BITS_H

#include <stdint.h>

static inline uint64_t hz_popcount64(uint64_t bits) {
#if defined(__POPCNT__) || !defined(__x86_64__)
  return (uint64_t)__builtin_popcountll(bits);
#else
  bits = bits - ((bits >> 1) & 0x5555555555555555ull);
  bits = (bits & 0x3333333333333333ull) + ((bits >> 2) & 0x3333333333333333ull);
  bits = (bits + (bits >> 4)) & 0x0f0f0f0f0f0f0f0full;
  return (bits * 0x0101010101010101ull) >> 56;
#endif
}

#endif
