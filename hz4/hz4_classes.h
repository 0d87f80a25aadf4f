/* hz4 size classes: 16..128 in 16-byte steps, then four per doubling up to
 * 256 KiB (52 classes, worst-case rounding 25 %).
 *
 * Why not hz3's finer classes: hz4 batches remote frees per (owner, class),
 * and fewer classes mean longer chains per atomic push and fewer inboxes for
 * an owner to scan. Every power of two is a class, so an aligned request can
 * be served from a class whose size is a multiple of the alignment. */
#ifndef HZ4_CLASSES_H
#define HZ4_CLASSES_H

#include "hz4_config.h"
#include "hz_select.h"

typedef struct hz4_class_info {
  uint32_t size;          /* object size in bytes */
  uint16_t slices;        /* slices per page of this class */
  uint16_t tcache_limit;  /* objects a thread cache may hold before flushing (at start) */
  uint16_t tcache_max;    /* what an adaptive cache limit may grow to */
  uint32_t capacity;      /* objects per page */
  uint32_t stride;        /* bytes from one object to the next in a page (HZ4_COLOR) */
  uint16_t colors;        /* first-object offsets (in lines) a page may take: 1 + its spare lines, at most 64 */
  uint32_t batch;         /* objects per remote chain before it is pushed */
} hz4_class_info;

extern hz4_class_info hz4_classes[HZ4_CLASS_COUNT];
/* Size -> class for sizes up to HZ4_MEDIUM_MAX, one byte table in two parts:
 * entries 0..64 by (size + 15) >> 4 up to HZ4_SMALL_MAX, then by
 * ((size + 127) >> 7) + HZ4_CLASS_MEDIUM_BIAS. Zero before init, which maps
 * everything to class 0; the empty heap's bins are empty, so such calls fall
 * into the slow path, which recomputes the class after init. */
#define HZ4_CLASS_MEDIUM_BIAS ((HZ4_SMALL_MAX >> 4) + 1 - ((HZ4_SMALL_MAX + 128) >> 7))
#define HZ4_CLASS_INDEX_COUNT ((HZ4_MEDIUM_MAX >> 7) + HZ4_CLASS_MEDIUM_BIAS + 1)
extern uint8_t hz4_class_index[HZ4_CLASS_INDEX_COUNT];

/* Fills the tables; thread-cache limits scale by `tcache_percent`
 * (0 disables thread caches). */
void hz4_classes_init(int64_t tcache_percent);

/* 128 < size <= HZ4_CLASS_MAX_SIZE: four classes per doubling, computed. */
static inline unsigned hz4_class_mid(size_t size) {
  size_t s = size - 1;
  unsigned lg = 63u - (unsigned)__builtin_clzll((unsigned long long)s);
  return 4u * lg - 20u + (unsigned)((s >> (lg - 2)) & 3u);
}

/* size <= HZ4_MEDIUM_MAX; branchless: common/hz_select.h (HZ4_CLASS_BRANCHLESS). */
static inline unsigned hz4_class_table(size_t size) {
  return hz4_class_index[hz_class_table_index(size, HZ4_SMALL_MAX, HZ4_CLASS_MEDIUM_BIAS, HZ4_CLASS_BRANCHLESS)];
}

static inline unsigned hz4_class_of(size_t size) {
  if (size <= HZ4_MEDIUM_MAX) return hz4_class_table(size);
  return hz4_class_mid(size);
}

#endif
