/* hz4 huge blocks: own mappings, registered in the segmap, with a cache. */
#include "hz4_large.h"
#include "hz4_heap.h"
#include "hz4_segment.h"
#include "hz_options.h"
#include "hz_os.h"
#include "hz_purger.h"
#include "hz_stats.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define HZ4_HUGE_HEADER 64       /* header room below the user pointer */
#define HZ4_HUGE_CACHE_ENTRIES 64

typedef struct hz4_huge {
  char *base;                    /* mapping start, segment-aligned */
  size_t bytes;                  /* mapping length, a multiple of the segment size */
  char *user;                    /* the block; NULL once freed */
  size_t usable;
} hz4_huge;

typedef struct hz4_huge_cached {
  char *base;
  size_t bytes;
  uint64_t freed_ms;
} hz4_huge_cached;

static hz_lock hz4_huge_lock = HZ_LOCK_INIT;
static hz4_huge_cached hz4_huge_cache[HZ4_HUGE_CACHE_ENTRIES];
static unsigned hz4_huge_cache_count;
static uint64_t hz4_huge_cache_total;
static _Atomic uint64_t hz4_huge_live;

static size_t hz4_round_seg(size_t n) {
  size_t r = (n + HZ4_SEG_SIZE - 1) & ~(HZ4_SEG_SIZE - 1);
  return r < n ? 0 : r;
}

static hz4_huge *hz4_huge_of(const void *p, unsigned kind) {
  char *seg = (char *)((uintptr_t)p & ~(uintptr_t)(HZ4_SEG_SIZE - 1));
  hz4_huge *h;
  if (kind == HZ4_MAP_HUGE) h = (hz4_huge *)seg;
  else if (kind == HZ4_MAP_HUGE_ALIGNED) h = (hz4_huge *)(seg - HZ4_HUGE_HEADER);
  else return NULL;
  return h->user == (const char *)p ? h : NULL;
}

static void hz4_huge_unmap(char *base, size_t bytes) {
  hz4_map_clear(base, bytes);
  hz_os_unmap(base, bytes);
}

/* A cached mapping of at least `bytes`, cut down to exactly `bytes`. */
static char *hz4_huge_from_cache(size_t bytes) {
  if (hz4_huge_cache_count == 0) return NULL;
  hz_lock_acquire(&hz4_huge_lock);
  int best = -1;
  for (unsigned i = 0; i < hz4_huge_cache_count; i++) {
    size_t b = hz4_huge_cache[i].bytes;
    if (b >= bytes && (best < 0 || b < hz4_huge_cache[best].bytes)) best = (int)i;
  }
  hz4_huge_cached taken = {NULL, 0, 0};
  if (best >= 0) {
    taken = hz4_huge_cache[best];
    hz4_huge_cache[best] = hz4_huge_cache[--hz4_huge_cache_count];
    hz4_huge_cache_total -= taken.bytes;
  }
  hz_lock_release(&hz4_huge_lock);
  if (taken.base == NULL) return NULL;
  if (taken.bytes > bytes) hz4_huge_unmap(taken.base + bytes, taken.bytes - bytes);
  hz_stat_add(HZ_STAT_LARGE_CACHE_HITS, 1);
  return taken.base;
}

static char *hz4_huge_map(size_t bytes, size_t align) {
  char *base = hz_os_map_aligned(bytes, align);
  if (base != NULL && ((uintptr_t)base + bytes) >> HZ4_ADDR_BITS) {
    hz_os_unmap(base, bytes);
    base = NULL;
  }
  return base;
}

void *hz4_large_alloc(size_t size, size_t align, bool *fresh) {
  bool over = align >= HZ4_SEG_SIZE;
  size_t off = over ? align : (align > HZ4_HUGE_HEADER ? align : HZ4_HUGE_HEADER);
  size_t bytes = size + off < size ? 0 : hz4_round_seg(size + off);
  if (bytes == 0) return NULL;
  int saved = errno;
  *fresh = false;
  char *base = over ? NULL : hz4_huge_from_cache(bytes);
  if (base == NULL) {
    hz4_large_purge(false);
    size_t map_align = over ? align : HZ4_SEG_SIZE;
    base = hz4_huge_map(bytes, map_align);
    if (base == NULL) {
      hz4_oom_reclaim(NULL);  /* out of memory: give back all cached pages, retry once */
      base = hz4_huge_map(bytes, map_align);
    }
    if (base == NULL) {
      errno = saved;
      return NULL;
    }
    *fresh = true;
    hz4_map_set(base, bytes, base + (over ? off : 0), over ? HZ4_MAP_HUGE_ALIGNED : HZ4_MAP_HUGE);
  }
  errno = saved;
  char *user = base + off;
  hz4_huge *h = over ? (hz4_huge *)(user - HZ4_HUGE_HEADER) : (hz4_huge *)base;
  h->base = base;
  h->bytes = bytes;
  h->usable = bytes - off;
  h->user = user;
  atomic_fetch_add_explicit(&hz4_huge_live, bytes, memory_order_relaxed);
  hz_stat_large(1, bytes);
  return user;
}

size_t hz4_large_usable(const void *p, unsigned kind) {
  hz4_huge *h = hz4_huge_of(p, kind);
  return h ? h->usable : 0;
}

void hz4_large_free(void *p, unsigned kind) {
  hz4_huge *h = hz4_huge_of(p, kind);
  if (h == NULL) {
    hz_stat_add(HZ_STAT_INVALID_FREES, 1);
    return;
  }
  char *base = h->base;
  size_t bytes = h->bytes;
  h->user = NULL;  /* a second free now finds no block: ignored */
  atomic_fetch_sub_explicit(&hz4_huge_live, bytes, memory_order_relaxed);
  hz_stat_large(-1, bytes);
  uint64_t cap = (uint64_t)hz_options.large_cache_mb << 20;
  if (kind == HZ4_MAP_HUGE && bytes <= cap / 4 && hz_options.purge_delay_ms != 0) {
    hz_lock_acquire(&hz4_huge_lock);
    /* Make room: evict the oldest entries past the count or byte bound. */
    while (hz4_huge_cache_count > 0 && (hz4_huge_cache_count == HZ4_HUGE_CACHE_ENTRIES ||
                                        hz4_huge_cache_total + bytes > cap)) {
      hz4_huge_cached old = hz4_huge_cache[0];
      memmove(&hz4_huge_cache[0], &hz4_huge_cache[1],
              (hz4_huge_cache_count - 1) * sizeof(hz4_huge_cached));
      hz4_huge_cache_count--;
      hz4_huge_cache_total -= old.bytes;
      hz_lock_release(&hz4_huge_lock);
      hz4_huge_unmap(old.base, old.bytes);
      hz_lock_acquire(&hz4_huge_lock);
    }
    bool first_pending = hz4_huge_cache_count == 0;  /* the purger may have ended */
    hz4_huge_cache[hz4_huge_cache_count++] = (hz4_huge_cached){base, bytes, hz_os_now_ms()};
    hz4_huge_cache_total += bytes;
    hz_lock_release(&hz4_huge_lock);
    hz4_large_purge(false);
    if (first_pending) hz_purger_request();
    return;
  }
  hz4_huge_unmap(base, bytes);
}

void *hz4_large_realloc(void *p, unsigned kind, size_t size) {
  hz4_huge *h = hz4_huge_of(p, kind);
  if (h == NULL) return NULL;
  if (kind == HZ4_MAP_HUGE) {
    size_t off = (size_t)(h->user - h->base);
    size_t bytes = size + off < size ? 0 : hz4_round_seg(size + off);
    if (bytes == 0) return NULL;
    if (bytes == h->bytes) return p;  /* already mapped */
    int saved = errno;
    char *base = h->base;
    size_t old = h->bytes;
    if (bytes < old) {
      hz4_huge_unmap(base + bytes, old - bytes);
    } else if (mremap(base, old, bytes, 0) != MAP_FAILED) {
      hz4_map_set(base + old, bytes - old, NULL, HZ4_MAP_HUGE_TAIL);
    } else {
      /* Move: reserve an aligned range, let the kernel move the pages there. */
      char *dest = hz4_huge_map(bytes, HZ4_SEG_SIZE);
      if (dest == NULL) {
        hz4_oom_reclaim(NULL);
        dest = hz4_huge_map(bytes, HZ4_SEG_SIZE);
      }
      if (dest == NULL) {
        errno = saved;
        return NULL;
      }
      /* The old range is unmapped by the move itself, and another thread may
       * map a segment there at once: its registry entries must be gone
       * before, not after (they come back if the move fails). */
      hz4_map_clear(base, old);
      if (mremap(base, old, bytes, MREMAP_MAYMOVE | MREMAP_FIXED, dest) == MAP_FAILED) {
        hz4_map_set(base, old, base, HZ4_MAP_HUGE);
        hz_os_unmap(dest, bytes);
        errno = saved;
        return NULL;
      }
      hz4_map_set(dest, bytes, dest, HZ4_MAP_HUGE);
      hz_stat_add(HZ_STAT_OS_UNMAPPED, old);
      h = (hz4_huge *)dest;
      base = dest;
      p = dest + off;
    }
    errno = saved;
    h->base = base;
    h->bytes = bytes;
    h->user = base + off;
    h->usable = bytes - off;
    atomic_fetch_add_explicit(&hz4_huge_live, bytes - old, memory_order_relaxed);
    return p;
  }
  /* Over-aligned: realloc need not keep the alignment; copy. */
  bool fresh;
  void *q = hz4_large_alloc(size, 0, &fresh);
  if (q == NULL) return NULL;
  memcpy(q, p, h->usable < size ? h->usable : size);
  hz4_large_free(p, kind);
  return q;
}

size_t hz4_large_purge(bool force) {
  if (hz4_huge_cache_count == 0) return 0;
  uint64_t now = hz_os_now_ms();
  int64_t delay = hz_options.purge_delay_ms;
  size_t released = 0;
  for (;;) {
    hz4_huge_cached victim = {NULL, 0, 0};
    hz_lock_acquire(&hz4_huge_lock);
    for (unsigned i = 0; i < hz4_huge_cache_count; i++) {
      hz4_huge_cached *c = &hz4_huge_cache[i];
      if (force || (delay >= 0 && now - c->freed_ms >= (uint64_t)delay)) {
        victim = *c;
        hz4_huge_cache[i] = hz4_huge_cache[--hz4_huge_cache_count];
        hz4_huge_cache_total -= victim.bytes;
        break;
      }
    }
    hz_lock_release(&hz4_huge_lock);
    if (victim.base == NULL) break;
    hz4_huge_unmap(victim.base, victim.bytes);
    released += victim.bytes;
  }
  return released;
}

uint64_t hz4_large_purge_due(uint64_t now, size_t *released) {
  int64_t delay = hz_options.purge_delay_ms;
  if (hz4_huge_cache_count == 0 || delay < 0) return 0;
  *released += hz4_large_purge(false);
  uint64_t due = 0;
  hz_lock_acquire(&hz4_huge_lock);
  for (unsigned i = 0; i < hz4_huge_cache_count; i++)
    due = hz_due_min(due, hz4_huge_cache[i].freed_ms + (uint64_t)delay);
  hz_lock_release(&hz4_huge_lock);
  return due != 0 && due <= now ? now + 1 : due;
}

uint64_t hz4_large_live_bytes(void) {
  return atomic_load_explicit(&hz4_huge_live, memory_order_relaxed);
}

uint64_t hz4_large_cached_bytes(void) { return hz4_huge_cache_total; }

void hz4_large_lock(void) { hz_lock_acquire(&hz4_huge_lock); }
void hz4_large_unlock(void) { hz_lock_release(&hz4_huge_lock); }
void hz4_large_reset_lock(void) { hz_lock_reset(&hz4_huge_lock); }
