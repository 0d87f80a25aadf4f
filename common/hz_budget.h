/* The dirty budget's second stage, one rule for every line.
 *
 * Over the dirty budget (hz_dirty_budget_units) a line first unmaps wholly
 * free segments. If that is not enough (a program freed most of its memory
 * but a few live objects pin every segment: bench_release order 1), it also
 * decommits free runs of partly used segments, least recently freed first,
 * down to half the budget, so the scan and the madvise calls are paid once
 * per half a budget of memory returned.
 *
 * A partial decommit that the program undoes at once (it takes a quarter as
 * many clean units again within HZ_REFAULT_WINDOW_MS: span churn, such as a
 * remote-free ring draining and refilling) only buys page faults; a program
 * that has shrunk takes nothing back. So each such refault quadruples the
 * budget this stage works against (up to HZ_PARTIAL_SCALE_MAX times the
 * dirty budget), and a pass not undone at least HZ_PARTIAL_DECAY_MS after
 * the last refault halves it again. Doubling on a refault and halving at the
 * next pass cost cross128_r90 (16 threads, loaded machine) 10-25 % more page
 * faults than no partial decommit; see docs/hz3.md, RSS policy.
 *
 * Callers hold whatever lock guards their segments (hz3: the arena lock;
 * hz4: each heap has its own controller, used by its owner only). */
#ifndef HZ_BUDGET_H
#define HZ_BUDGET_H

#include "hz_os.h"

#include <stdbool.h>
#include <stdint.h>

#define HZ_REFAULT_WINDOW_MS 1000
#define HZ_PARTIAL_SCALE_MAX 64
#define HZ_PARTIAL_DECAY_MS  5000

typedef struct hz_refault {
  uint64_t scale;        /* the budget multiplier; 0 reads as 1 (zeroed state) */
  uint64_t watch;        /* units the last pass decommitted; 0: not watching */
  uint64_t units;        /* clean units taken since that pass */
  uint64_t until_ms;     /* end of the watch */
  uint64_t last_ms;      /* time of the last refault */
  bool refaulted;        /* the last pass was undone */
} hz_refault;

/* The budget for partly used memory, given the line's dirty budget `limit`;
 * called at the start of a pass (may halve the multiplier). */
static inline uint64_t hz_refault_budget(hz_refault *r, uint64_t limit) {
  uint64_t scale = r->scale ? r->scale : 1;
  return limit > UINT64_MAX / scale ? UINT64_MAX : limit * scale;
}

/* A pass is starting at `now`: returns the number of units to decommit
 * (0: none) to bring `dirty` to half the partial budget. */
static inline uint64_t hz_refault_pass_begin(hz_refault *r, uint64_t limit, uint64_t dirty,
                                             uint64_t now) {
  if (dirty <= hz_refault_budget(r, limit)) return 0;
  if (!r->refaulted && r->scale > 1 && now - r->last_ms >= HZ_PARTIAL_DECAY_MS) r->scale /= 2;
  r->refaulted = false;
  uint64_t target = hz_refault_budget(r, limit) / 2;
  return dirty > target ? dirty - target : 0;
}

/* The pass returned `units`: watch for them being taken back. */
static inline void hz_refault_pass_end(hz_refault *r, uint64_t units, uint64_t now) {
  r->watch = units;
  r->units = 0;
  r->until_ms = now + HZ_REFAULT_WINDOW_MS;
}

/* `clean` units (not resident: they will fault) were just taken for a span
 * or page. Cheap unless a watch is on. */
static inline void hz_refault_take(hz_refault *r, uint64_t clean, uint64_t now) {
  if (now > r->until_ms) {
    r->watch = 0;
    return;
  }
  r->units += clean;
  if (r->units * 4 < r->watch) return;
  uint64_t scale = (r->scale ? r->scale : 1) * 4;
  r->scale = scale < HZ_PARTIAL_SCALE_MAX ? scale : HZ_PARTIAL_SCALE_MAX;
  r->refaulted = true;
  r->last_ms = now;
  r->watch = 0;
}

/* `clean` units taken back: counted only while a pass is being watched, so
 * the clock is read only then. */
static inline void hz_refault_note(hz_refault *r, uint64_t clean) {
  if (r->watch != 0) hz_refault_take(r, clean, hz_os_now_ms());
}

/* Slow start of carving never-used memory into a thread cache: this refill
 * may take `*goal` objects (`step` the first time), the next one `step` more
 * (`linear`) or twice as many, never more than `cap`. Carving writes a link
 * into every object, so an allowance of a whole refill made pages resident
 * that a program holding a few objects of the class never needed. */
static inline uint32_t hz_carve_allowance(uint16_t *goal_slot, uint32_t step, uint32_t cap, bool linear) {
  uint32_t goal = *goal_slot != 0 ? *goal_slot : step;
  if (goal >= cap) return cap;
  uint32_t next = linear ? goal + step : goal * 2;
  *goal_slot = (uint16_t)(next < cap ? next : cap);
  return goal;
}

/* Whether memory last freed at `since_ms` has waited `delay` ms at `now`.
 * `now` is often read before the lock under which another thread stamped
 * `since_ms`, so it can be the earlier of the two: that is "not yet", not a
 * difference that wraps to ~2^64 and purges at once. */
static inline bool hz_aged(uint64_t now, uint64_t since_ms, uint64_t delay) {
  return now >= since_ms && now - since_ms >= delay;
}

/* Oldest first without sorting: a pass files each segment's dirty units
 * under the log2 of the milliseconds since its last free, then decommits
 * from the oldest bucket down. */
#define HZ_AGE_BUCKETS 24  /* up to ~2 h; older ones share the last bucket */

static inline unsigned hz_age_bucket(uint64_t now, uint64_t since_ms) {
  uint64_t age = now > since_ms ? now - since_ms : 0;
  unsigned b = age ? 64u - (unsigned)__builtin_clzll(age) : 0;
  return b < HZ_AGE_BUCKETS ? b : HZ_AGE_BUCKETS - 1;
}

/* Given the units per bucket, the youngest bucket the pass must touch
 * (`*cut`: every older bucket is decommitted whole) and how many units it
 * takes from that bucket (`*from_cut`) to decommit about `want`. */
static inline void hz_age_cut(const uint64_t units[HZ_AGE_BUCKETS], uint64_t want, unsigned *cut,
                              uint64_t *from_cut) {
  unsigned c = HZ_AGE_BUCKETS;
  uint64_t older = 0;
  while (c > 0 && older < want) older += units[--c];
  if (c < HZ_AGE_BUCKETS && older >= want) older -= units[c];  /* bucket c is taken in part */
  *cut = c;
  *from_cut = want > older ? want - older : 0;
}

/* A segment in bucket `b` with `n` dirty units: decommit it? */
static inline bool hz_age_take(unsigned b, uint64_t n, unsigned cut, uint64_t *from_cut) {
  if (b > cut) return true;
  if (b < cut || *from_cut == 0) return false;
  *from_cut = n < *from_cut ? *from_cut - n : 0;
  return true;
}

#endif
