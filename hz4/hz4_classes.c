#include "hz4_classes.h"

hz4_class_info hz4_classes[HZ4_CLASS_COUNT];
uint8_t hz4_class_index[HZ4_CLASS_INDEX_COUNT];

static uint32_t hz4_class_size_at(unsigned i) {
  if (i < 8) return 16u * (i + 1);
  i -= 8;
  unsigned lg = 7 + i / 4;
  return (1u << lg) + ((i % 4 + 1) << (lg - 2));
}

/* Objects of a class whose size is a multiple of 1 KiB would start at the
 * same few offsets modulo 4 KiB, so their first lines (the free-list link,
 * and usually the program's first touch) would compete for 4 of the L1's
 * 64 sets and a few dozen of L2's. Such classes lay their objects out one
 * cache line apart more than their size, so each object of a page lands in
 * another set. Powers of two keep stride == size: aligned_alloc serves an
 * alignment A from a class whose stride is a multiple of A. */
static uint32_t hz4_class_stride(uint32_t size) {
  if (HZ4_COLOR && size >= 1024 && size % 1024 == 0 && (size & (size - 1)) != 0) return size + 64;
  return size;
}

/* Slices per page: the fewest that hold at least 8 objects (classes above
 * 128 KiB settle for what 16 slices hold), then more if that wastes less
 * than the tail it leaves: a page is only as resident as what was carved
 * from it, but a big page keeps its slices out of other classes' reach. */
static unsigned hz4_pick_slices(uint32_t size) {
  unsigned slices = 1;
  while (slices < HZ4_PAGE_MAX_SLICES && (slices * HZ4_SLICE_SIZE) / size < 8) slices++;
  unsigned best = slices;
  uint64_t best_waste = (slices * HZ4_SLICE_SIZE) % size * 1000 / (slices * HZ4_SLICE_SIZE);
  for (unsigned s = slices + 1; s <= HZ4_PAGE_MAX_SLICES && best_waste > 20; s++) {
    uint64_t waste = (s * HZ4_SLICE_SIZE) % size * 1000 / (s * HZ4_SLICE_SIZE);
    if (waste + 5 < best_waste) {
      best = s;
      best_waste = waste;
    }
  }
  return best;
}

void hz4_classes_init(int64_t tcache_percent) {
  for (unsigned i = 0; i < HZ4_CLASS_COUNT; i++) {
    hz4_class_info *c = &hz4_classes[i];
    c->size = hz4_class_size_at(i);
    c->stride = hz4_class_stride(c->size);
    /* Pages as long as without the spacing (picked for the size: a longer
     * page that wastes less tail holds more free objects resident, peak RSS
     * of main_r50 T=2 rose 1-2.5 MB), one slice more where the spacing
     * would leave fewer than 8 objects. */
    unsigned slices = hz4_pick_slices(c->size);
    while (slices < HZ4_PAGE_MAX_SLICES && (slices * HZ4_SLICE_SIZE) / c->stride < 8) slices++;
    c->slices = (uint16_t)slices;
    c->capacity = (uint32_t)((c->slices * HZ4_SLICE_SIZE) / c->stride);
    /* A spaced class's page also starts its first object a few lines in,
     * in the room its tail leaves: each page's objects then take other
     * sets than the same objects of other pages. */
    uint64_t room = (c->slices * HZ4_SLICE_SIZE - (uint64_t)c->capacity * c->stride) / 64;
    c->colors = (uint16_t)(c->stride != c->size ? (room >= 63 ? 64 : room + 1) : 1);
    /* Cache about HZ4_TCACHE_BYTES per class, between HZ4_TCACHE_MIN and 256
     * objects. */
    uint32_t limit = (uint32_t)(HZ4_TCACHE_BYTES / c->size);
    if (limit < HZ4_TCACHE_MIN) limit = HZ4_TCACHE_MIN;
    if (limit > 256) limit = 256;
    limit = (uint32_t)((int64_t)limit * tcache_percent / 100);
    if (limit > 65535) limit = 65535;
    c->tcache_limit = (uint16_t)limit;
    uint32_t max = (uint32_t)(HZ4_TCACHE_MAX_BYTES / c->size);
    if (max > 1024) max = 1024;
    max = (uint32_t)((int64_t)max * tcache_percent / 100);
    if (max < limit) max = limit;
    if (max > 65535) max = 65535;
    c->tcache_max = HZ4_ADAPTIVE_CACHE ? (uint16_t)max : (uint16_t)limit;
    uint32_t batch = (uint32_t)(HZ4_BATCH_BYTES / c->size);
    if (batch < 2) batch = 2;
    if (batch > HZ4_RBUF_CAP) batch = HZ4_RBUF_CAP;
    c->batch = HZ4_REMOTE_BATCHING ? batch : 1;
  }
  for (unsigned idx = 0; idx <= (HZ4_SMALL_MAX >> 4); idx++) {
    uint32_t size = idx << 4;
    unsigned cls = 0;
    while (hz4_classes[cls].size < size) cls++;
    hz4_class_index[idx] = (uint8_t)cls;
  }
  for (unsigned idx = (HZ4_SMALL_MAX + 128) >> 7; idx <= (HZ4_MEDIUM_MAX >> 7); idx++) {
    uint32_t size = idx << 7;
    unsigned cls = 0;
    while (hz4_classes[cls].size < size) cls++;
    hz4_class_index[idx + HZ4_CLASS_MEDIUM_BIAS] = (uint8_t)cls;
  }
}
