/* The large-mapping cache (hz_large_cache.h). */
#include "hz_large_cache.h"

#include "hz_options.h"
#include "hz_os.h"
#include "hz_purger.h"
#include "hz_stats.h"

#include <string.h>

/* Removes entries[i] and returns it (the last entry fills the hole). */
static hz_large_entry hz_large_cache_remove_locked(hz_large_cache *c, unsigned i) {
  hz_large_entry e = c->entries[i];
  c->entries[i] = c->entries[--c->count];
  c->total -= e.bytes;
  return e;
}

/* After the lock is dropped: an munmap (TLB shootdowns) would stall every free. */
static size_t hz_large_cache_unmap_all(hz_large_cache *c, const hz_large_entry *v, unsigned n) {
  size_t released = 0;
  for (unsigned i = 0; i < n; i++) {
    c->unmap(v[i].base, v[i].bytes);
    released += v[i].bytes;
  }
  return released;
}

void *hz_large_cache_take(hz_large_cache *c, size_t bytes, size_t align) {
  if (c->count == 0) return NULL;
  unsigned shift = c->grain_shift;
  uint64_t round = ((uint64_t)1 << shift) - 1, want = (bytes + round) >> shift;
  uintptr_t mask = align ? align - 1 : 0;
  hz_lock_acquire(&c->lock);
  /* Best fit: the closest length, which an exact one ends (no resize). */
  unsigned best = c->count;
  uint64_t best_gap = UINT64_MAX;
  for (unsigned i = 0; i < c->count; i++) {
    const hz_large_entry *e = &c->entries[i];
    uint64_t gap = e->bytes > bytes ? e->bytes - bytes : bytes - e->bytes;
    if (gap >= best_gap || ((uintptr_t)e->base & mask) != 0 || (e->bytes + round) >> shift < want) continue;
    best = i;
    best_gap = gap;
    if (gap == 0) break;
  }
  hz_large_entry taken = {NULL, 0, 0};
  if (best < c->count) taken = hz_large_cache_remove_locked(c, best);
  hz_lock_release(&c->lock);
  if (taken.bytes == 0 || (taken.bytes != bytes && !c->resize(taken.base, taken.bytes, bytes))) return NULL;
  hz_stat_add(HZ_STAT_LARGE_CACHE_HITS, 1);
  return taken.base;
}

/* Moves what is due at `now` (all when `force`) to victims[n..], returns the
 * new n; the same pass finds when the rest is next due, for the purger. Due
 * is freed_ms + delay <= now: now - freed_ms wraps for a free after `now`. */
static inline unsigned hz_large_cache_expire_locked(hz_large_cache *c, uint64_t now, bool force,
                                                    hz_large_entry *victims, unsigned n) {
  int64_t delay = hz_options.purge_delay_ms;
  /* Most calls come from frees and misses with nothing due yet: no scan. */
  if (!force && (delay < 0 || now < c->next_due)) return n;
  uint64_t due = 0;
  for (unsigned i = 0; i < c->count;) {
    uint64_t when = c->entries[i].freed_ms + (uint64_t)delay;
    if (force || when <= now) {
      victims[n++] = hz_large_cache_remove_locked(c, i);  /* entries[i] is another now: look again */
    } else {
      due = hz_due_min(due, when);
      i++;
    }
  }
  c->next_due = due;
  return n;
}

static uint64_t hz_large_cache_purge_at(hz_large_cache *c, uint64_t now, bool force, size_t *released) {
  if (c->count == 0 || (!force && hz_options.purge_delay_ms < 0)) return 0;
  hz_large_entry victims[HZ_LARGE_CACHE_ENTRIES];
  hz_lock_acquire(&c->lock);
  unsigned n = hz_large_cache_expire_locked(c, now, force, victims, 0);
  uint64_t next = c->count != 0 ? c->next_due : 0;
  hz_lock_release(&c->lock);
  *released += hz_large_cache_unmap_all(c, victims, n);
  return next;
}

size_t hz_large_cache_purge(hz_large_cache *c, bool force) {
  size_t released = 0;
  if (c->count != 0) hz_large_cache_purge_at(c, hz_os_now_ms(), force, &released);
  return released;
}

uint64_t hz_large_cache_purge_due(hz_large_cache *c, uint64_t now, size_t *released) {
  return hz_large_cache_purge_at(c, now, false, released);
}

void hz_large_cache_put(hz_large_cache *c, void *base, size_t bytes, uint64_t now) {
  uint64_t cap = (uint64_t)hz_options.large_cache_mb << 20;
  int64_t delay = hz_options.purge_delay_ms;
  if (bytes > cap / 4 || delay == 0) {
    c->unmap(base, bytes);
    return;
  }
  /* Each entry lands here at most once: evicted, or expired after the new
   * one went in (which is not due: the delay is not 0). */
  hz_large_entry victims[HZ_LARGE_CACHE_ENTRIES];
  unsigned n = 0;
  hz_lock_acquire(&c->lock);
  unsigned count = c->count;
  uint64_t total = c->total;
  /* Make room: the oldest go, past the count or the byte bound. */
  for (; n < count && (count - n == HZ_LARGE_CACHE_ENTRIES || total + bytes > cap); n++) {
    victims[n] = c->entries[n];
    total -= victims[n].bytes;
  }
  count -= n;
  if (n > 0) memmove(&c->entries[0], &c->entries[n], count * sizeof(hz_large_entry));
  bool first_pending = count == 0;  /* the purger may have ended */
  c->entries[count] = (hz_large_entry){base, bytes, now};
  c->count = count + 1;
  c->total = total + bytes;
  if (delay > 0) c->next_due = hz_due_min(first_pending ? 0 : c->next_due, now + (uint64_t)delay);
  n = hz_large_cache_expire_locked(c, now, false, victims, n);
  hz_lock_release(&c->lock);
  hz_large_cache_unmap_all(c, victims, n);
  if (first_pending) hz_purger_request();
}
