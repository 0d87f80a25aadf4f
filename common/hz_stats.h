/* Process-wide allocator counters and the HZ_STATS report.
 *
 * Counters are relaxed atomics bumped only on slow paths (span, segment,
 * large-block and thread events), so the fast paths stay free of shared
 * writes. Allocations per size class are counted by each line in its thread
 * caches and read through hz_line_get_class_stats (common/hz_line.h).
 * HZ_STATS=1 prints one table at exit through write(2), HZ_STATS=json the
 * same as one JSON object. */
#ifndef HZ_STATS_H
#define HZ_STATS_H

#include <stdatomic.h>
#include <stdint.h>

#define HZ_STAT_TABLE(X)                                                        \
  X(OS_MAPPED,          "bytes mapped from the OS")                              \
  X(OS_UNMAPPED,        "bytes unmapped")                                        \
  X(OS_DECOMMITTED,     "bytes returned to the OS (madvise)")                    \
  X(OS_MAP_CALLS,       "mmap calls")                                            \
  X(SEGMENTS_MAPPED,    "segments mapped")                                       \
  X(SEGMENTS_RELEASED,  "segments unmapped")                                     \
  X(SPANS_ALLOCATED,    "page runs handed to size classes")                      \
  X(SPANS_RELEASED,     "page runs returned empty")                              \
  X(LARGE_ALLOCS,       "large blocks allocated")                                \
  X(LARGE_FREES,        "large blocks freed")                                    \
  X(LARGE_CACHE_HITS,   "large blocks served from the cache")                    \
  X(REMOTE_SENT,        "objects freed by a thread other than the owner")        \
  X(REMOTE_BATCHES,     "remote batches pushed (one atomic each)")               \
  X(REMOTE_COLLECTED,   "remote objects collected by owners")                    \
  X(THREADS_STARTED,    "thread heaps attached")                                 \
  X(THREADS_EXITED,     "thread heaps released at thread exit")                  \
  X(HEAPS_ADOPTED,      "heaps of exited threads adopted by new threads")        \
  X(IDLE_DRAINS,        "heaps drained by the purger after their thread stopped using them (hz3)") \
  X(SOLO_DRAINS,        "caches emptied into their spans when one thread was left (hz3)") \
  X(FOREIGN_FREES,      "frees of pointers not ours, forwarded to the next allocator") \
  X(INVALID_FREES,      "frees of unallocated pointers inside our arena (ignored)") \
  X(TRIMS,              "malloc_trim calls")                                     \
  X(BUDGET_DECOMMITS,   "passes over the dirty budget that decommitted partly used memory") \
  X(PURGER_STARTS,      "background purge threads started (HZ_PURGE_THREAD)")   \
  X(PURGER_BYTES,       "bytes returned to the OS by the background purger")   \
  X(INTERIOR_BYTES,     "of those, interiors of free objects in partly used spans (hz3)") \
  X(SLICE_PURGE_BYTES,  "of those, free slices in live and parked heaps' segments (hz4)") \
  X(IDLE_INBOX_BYTES,   "of those, interiors of objects waiting in idle owners' inboxes (hz4)")

typedef enum hz_stat_id {
#define HZ_STAT_ENUM(name, doc) HZ_STAT_##name,
  HZ_STAT_TABLE(HZ_STAT_ENUM)
#undef HZ_STAT_ENUM
  HZ_STAT_COUNT
} hz_stat_id;

extern _Atomic uint64_t hz_stat_counters[HZ_STAT_COUNT];

static inline void hz_stat_add(hz_stat_id id, uint64_t n) {
  atomic_fetch_add_explicit(&hz_stat_counters[id], n, memory_order_relaxed);
}

static inline uint64_t hz_stat_get(hz_stat_id id) {
  return atomic_load_explicit(&hz_stat_counters[id], memory_order_relaxed);
}

/* ---- size bands (HZ_STATS=1 prints one row per band) ----
 * A class belongs to the first band whose bound is >= its block size; blocks
 * outside the size classes are the last band, "large". */
#define HZ_STAT_BAND_TABLE(X) \
  X(64)                      \
  X(256)                     \
  X(1024)                    \
  X(4096)                    \
  X(16384)                   \
  X(65536)                   \
  X(262144)
enum {
#define HZ_STAT_BAND_COUNT_ONE(bound) +1
  HZ_STAT_BAND_LARGE = 0 HZ_STAT_BAND_TABLE(HZ_STAT_BAND_COUNT_ONE),
#undef HZ_STAT_BAND_COUNT_ONE
  HZ_STAT_BANDS
};

static inline unsigned hz_stat_band_of(uint64_t size) {
  unsigned band = 0;
#define HZ_STAT_BAND_STEP(bound) if (size > (bound)) band++;
  HZ_STAT_BAND_TABLE(HZ_STAT_BAND_STEP)
#undef HZ_STAT_BAND_STEP
  return band;
}

/* Peak sampling (only with HZ_STATS set; slow paths only). A line adds the
 * change in live blocks it has seen since its last sample (a thread's share
 * of one class, published at cache refills and flushes; or one large block
 * at its allocation and free); the gauge's highest value is kept. */
void hz_stat_band_sample(unsigned band, int64_t blocks, int64_t bytes);

/* A heap's live blocks of one class (`share`: its cache entry's net moves
 * minus what the cache holds) go to the peak gauges as the change since the
 * last call, remembered in *published. Shared by the lines' slow paths. */
static inline void hz_stat_publish_share(int64_t share, int64_t *published, uint32_t size) {
  int64_t delta = share - *published;
  if (delta == 0) return;
  *published = share;
  hz_stat_band_sample(hz_stat_band_of(size), delta, delta * (int64_t)size);
}
/* A block outside the size classes allocated (sign +1) or freed (-1):
 * HZ_STAT_LARGE_ALLOCS / _FREES, and the large band's peak gauge. */
void hz_stat_large(int sign, uint64_t bytes);

/* Prints every counter plus the line's own figures to fd, as a table or
 * (json = 1) as one JSON object on one line. */
void hz_stats_print(int fd);
void hz_stats_print_json(int fd);

#endif
