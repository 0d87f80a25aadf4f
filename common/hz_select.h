/* Branch-free selects for fast paths whose branch outcome is random.
 *
 * Both lines map a size to a class through one byte table: 16-byte steps up
 * to a small limit, then 128-byte steps, the second part of the table shifted
 * by a bias. Computing both indexes and picking one with a conditional move
 * costs one instruction per malloc more than a branch, and with sizes spread
 * across the limit (16..2048) saves a mispredicted branch on half the
 * mallocs (hz3 guard_r0 CPU 0.83x, hz4 0.79x; docs/hz3.md, Fast paths). */
#ifndef HZ_SELECT_H
#define HZ_SELECT_H

#include <stdbool.h>
#include <stddef.h>

/* `value <= limit ? if_le : otherwise` without a branch, for selects whose
 * outcome is random (malloc's size -> class index with sizes spread across
 * the limit): one cmp and one cmov on x86-64, where gcc 12 keeps `?:` as a
 * branch even with __builtin_expect_with_probability(.., 0.5). */
static inline size_t hz_select_le(size_t value, size_t limit, size_t if_le, size_t otherwise) {
#if defined(__x86_64__)
  __asm__("cmpq %[limit], %[value]\n\tcmovbe %[if_le], %[out]"
          : [out] "+r"(otherwise)
          : [value] "r"(value), [limit] "re"(limit), [if_le] "r"(if_le)
          : "cc");
  return otherwise;
#else
  size_t mask = (size_t)0 - (size_t)(value > limit);
  return if_le ^ ((if_le ^ otherwise) & mask);
#endif
}

/* Index into a two-part class table: (size + 15) >> 4 up to small_max,
 * then ((size + 127) >> 7) + bias (the bias folded into the add). With
 * `branchless` false (a line's compile-time switch) it is a plain branch. */
static inline size_t hz_class_table_index(size_t size, size_t small_max, size_t bias, bool branchless) {
  size_t small_index = (size + 15) >> 4;
  size_t medium_index = (size + 127 + (bias << 7)) >> 7;
  if (branchless) return hz_select_le(size, small_max, small_index, medium_index);
  return size <= small_max ? small_index : medium_index;
}

#endif
