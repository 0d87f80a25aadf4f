#include "hz3_classes.h"

hz3_class_info hz3_classes[HZ3_CLASS_COUNT];
uint8_t hz3_class_index[HZ3_CLASS_INDEX_COUNT];

static uint32_t hz3_class_size_at(unsigned i) {
  if (i < 16) return 16u * (i + 1);                       /* 16 .. 256 */
  i -= 16;
  if (i < 24) {                                           /* 8 per doubling to 2 KiB */
    uint32_t base = 256u << (i / 8);
    return base + (base / 8) * (i % 8 + 1);
  }
  i -= 24;                                                /* 4 per doubling to 256 KiB */
  uint32_t base = 2048u << (i / 4);
  return base + (base / 4) * (i % 4 + 1);
}

/* The span length with the least tail waste, preferring short spans: a span
 * is only as resident as the objects carved from it, but a longer span holds
 * its segment units longer. */
static unsigned hz3_pick_span_units(uint32_t size) {
  unsigned best = 1;
  uint64_t best_waste_ppm = UINT64_MAX;
  for (unsigned units = 1; units <= HZ3_SPAN_MAX_UNITS; units++) {
    uint64_t bytes = (uint64_t)units * HZ3_UNIT_SIZE;
    uint64_t count = bytes / size;
    if (count == 0) continue;
    uint64_t waste_ppm = (bytes - count * size) * 1000000u / bytes;
    if (waste_ppm + 5000 < best_waste_ppm) {  /* a longer span must win by 0.5 % */
      best = units;
      best_waste_ppm = waste_ppm;
    }
    if (waste_ppm <= 20000) break;  /* <= 2 % is good enough */
  }
  return best;
}

void hz3_classes_init(int64_t tcache_percent) {
  for (unsigned i = 0; i < HZ3_CLASS_COUNT; i++) {
    hz3_class_info *c = &hz3_classes[i];
    c->size = hz3_class_size_at(i);
    c->span_units = (uint16_t)hz3_pick_span_units(c->size);
    c->capacity = (uint32_t)((c->span_units * HZ3_UNIT_SIZE) / c->size);
    /* Cache about HZ3_TCACHE_CLASS_BYTES per class, between 2 and 512
     * objects. 64 KiB left medium classes (2..32 KiB) with 2..32 objects and
     * sent main_local0 through span refills: 0.39x tcmalloc (docs/hz3.md). */
    uint32_t limit = (uint32_t)(HZ3_TCACHE_CLASS_BYTES / c->size);
    if (limit < 2) limit = 2;
    if (limit > 512) limit = 512;
    limit = (uint32_t)((int64_t)limit * tcache_percent / 100);
    if (limit > 65535) limit = 65535;
    c->tcache_limit = (uint16_t)limit;
    c->refill = limit / 2 ? limit / 2 : 1;
    if (c->refill > c->capacity) c->refill = c->capacity;
  }
  unsigned cls = 0;
  for (size_t idx = 0; idx <= (HZ3_SMALL_MAX >> 4); idx++) {
    size_t size = idx << 4;
    while (hz3_classes[cls].size < size) cls++;
    hz3_class_index[idx] = (uint8_t)cls;
  }
  for (size_t idx = (HZ3_SMALL_MAX + 128) >> 7; idx <= (HZ3_CLASS_MAX_SIZE >> 7); idx++) {
    size_t size = idx << 7;
    while (hz3_classes[cls].size < size) cls++;
    hz3_class_index[idx + HZ3_CLASS_MID_BIAS] = (uint8_t)cls;
  }
}
