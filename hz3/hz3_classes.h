/* hz3 size classes: 16-byte steps to 256 B, eight classes per doubling to
 * 2 KiB, four per doubling to 256 KiB (worst-case rounding 12.5 % below 2 KiB,
 * 25 % above; no 2 KiB -> 4 KiB cliff). Every power of two is a class, so an
 * aligned request can always be served from a class whose size is a multiple
 * of the alignment. */
#ifndef HZ3_CLASSES_H
#define HZ3_CLASSES_H

#include "hz3_config.h"
#include "hz_select.h"
#include <stdint.h>

typedef struct hz3_class_info {
  uint32_t size;          /* object size in bytes */
  uint16_t span_units;    /* units per span for this class */
  uint16_t tcache_limit;  /* objects a thread cache may hold before flushing */
  uint32_t capacity;      /* objects per span */
  uint32_t refill;        /* objects moved per cache refill */
} hz3_class_info;

extern hz3_class_info hz3_classes[HZ3_CLASS_COUNT];
/* Size -> class, one byte table in two parts: entries 0..64 by (size + 15) >> 4
 * for sizes up to 1 KiB, then by ((size + 127) >> 7) + HZ3_CLASS_MID_BIAS up to
 * 256 KiB. One table lets the lookup pick its index without a branch. */
#define HZ3_CLASS_MID_BIAS ((HZ3_SMALL_MAX >> 4) + 1 - ((HZ3_SMALL_MAX + 128) >> 7))
#define HZ3_CLASS_INDEX_COUNT (((HZ3_CLASS_MAX_SIZE + 127) >> 7) + HZ3_CLASS_MID_BIAS + 1)
extern uint8_t hz3_class_index[HZ3_CLASS_INDEX_COUNT];

/* Fills the tables; the thread-cache limits scale by `tcache_percent`
 * (0 disables thread caches). */
void hz3_classes_init(int64_t tcache_percent);

/* The branchless lookup: common/hz_select.h (HZ3_CLASS_BRANCHLESS). */
static inline size_t hz3_class_of(size_t size) {
  return hz3_class_index[hz_class_table_index(size, HZ3_SMALL_MAX, HZ3_CLASS_MID_BIAS, HZ3_CLASS_BRANCHLESS)];
}

/* The first class of `size` bytes or more; HZ3_CLASS_COUNT if none (a size
 * threshold above the classes). Valid after hz3_classes_init. */
static inline unsigned hz3_first_class_from(size_t size) {
  return size > HZ3_CLASS_MAX_SIZE ? HZ3_CLASS_COUNT : (unsigned)hz3_class_of(size);
}

#endif
