/* hz4 huge blocks: own mappings, registered in the segmap, with a cache. */
#include "hz4_large.h"
#include "hz4_heap.h"
#include "hz4_segment.h"
#include "hz_os.h"
#include "hz_purger.h"
#include "hz_stats.h"

#include <errno.h>
#include <string.h>
#include <sys/mman.h>

#define HZ4_HUGE_HEADER 64       /* header room below the user pointer */

typedef struct hz4_huge {
  char *base;                    /* mapping start, segment-aligned */
  size_t bytes;                  /* mapping length, a multiple of the segment size */
  char *user;                    /* the block; NULL once freed */
  size_t usable;
} hz4_huge;

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

static void hz4_huge_unmap(void *base, size_t bytes) {
  hz4_map_clear(base, bytes);
  hz_os_unmap(base, bytes);
}

/* Both are whole segments, so a taken mapping is never short: only cut. */
static bool hz4_huge_cut(void *base, size_t old_bytes, size_t bytes) {
  hz4_huge_unmap((char *)base + bytes, old_bytes - bytes);
  return true;
}

hz_large_cache hz4_large_cache = HZ_LARGE_CACHE_INIT(HZ4_SEG_SHIFT, hz4_huge_unmap, hz4_huge_cut);

static char *hz4_huge_map(size_t bytes, size_t align) {
  char *base = hz_os_map_aligned(bytes, align);
  if (base != NULL && ((uintptr_t)base + bytes) >> HZ4_ADDR_BITS) {
    hz_os_unmap(base, bytes);
    base = NULL;
  }
  if (base != NULL) hz_purger_note_mapped(bytes);
  return base;
}

void *hz4_large_alloc(size_t size, size_t align, bool *fresh) {
  bool over = align >= HZ4_SEG_SIZE;
  size_t off = over ? align : (align > HZ4_HUGE_HEADER ? align : HZ4_HUGE_HEADER);
  size_t bytes = size + off < size ? 0 : hz4_round_seg(size + off);
  if (bytes == 0) return NULL;
  int saved = errno;
  *fresh = false;
  char *base = over ? NULL : hz_large_cache_take(&hz4_large_cache, bytes, 0);
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
  /* A cached mapping is reused with its segmap entries as they stand, and an
   * over-aligned block's name its start at the user pointer, not the base. */
  if (kind == HZ4_MAP_HUGE) hz_large_cache_put(&hz4_large_cache, base, bytes, hz_os_now_ms());
  else hz4_huge_unmap(base, bytes);
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

size_t hz4_large_purge(bool force) { return hz_large_cache_purge(&hz4_large_cache, force); }

uint64_t hz4_large_live_bytes(void) {
  return atomic_load_explicit(&hz4_huge_live, memory_order_relaxed);
}
