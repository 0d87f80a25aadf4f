/* Runtime options, read once from HZ_* environment variables at start-up.
 *
 * HZ_OPTION_TABLE is the single table of every option: name, environment
 * variable, default, range and what it does. docs/options.md and the
 * README's table are generated from it (tools/gen_options_md.py). Parsing
 * walks `environ` directly because getenv-like helpers may allocate in some
 * libcs and we run before our heap exists. */
#ifndef HZ_OPTIONS_H
#define HZ_OPTIONS_H

#include <stdint.h>

/* Each entry: X(field, env variable, default, range,
 *                 summary (one line: HZ_VERBOSE=1 and the README table),
 *                 details (docs/options.md)).
 * docs/options.md and the README's option table are generated from this
 * table by tools/gen_options_md.py; tests/docs/test_options_doc.sh fails when
 * they are stale. Keep every value a plain literal (the script parses them). */
#define HZ_OPTION_TABLE(X)                                                                     \
  X(stats, "HZ_STATS", 0, "0/1/json",                                                          \
    "1: print one table of allocator statistics to stderr at exit; `json`: the same as one JSON object", \
    "Print one table to stderr at exit, with `write(2)`: allocations, frees, live and peak live "    \
    "blocks and bytes per size band, memory mapped, committed and returned to the OS, remote "      \
    "frees, threads, and every raw counter (see [HZ_STATS](#hz_stats-the-report) below). `json` "   \
    "writes the same data as one JSON object on one line, for scripts.")                           \
  X(verbose, "HZ_VERBOSE", 0, "0/1",                                                           \
    "1: print the options in force to stderr at start-up",                                     \
    "Print the options in force to stderr at start-up.")                                       \
  X(tcache, "HZ_TCACHE", 1, "0/1",                                                             \
    "0: no per-thread caches (every free goes straight back to its span)",                     \
    "Per-thread caches. 0 sets every cache limit to 0: each free returns its object to its "   \
    "span at once (slower, lowest retained memory).")                                          \
  X(tcache_scale, "HZ_TCACHE_SCALE", 100, "1..1000",                                           \
    "per-thread cache size in percent of the built-in limits (1..1000)",                       \
    "Thread-cache limits in percent of the built-in ones (about 256 KiB per class, 2..512 "    \
    "objects).")                                                                               \
  X(purge_delay_ms, "HZ_PURGE_DELAY_MS", 100, "-1..",                                          \
    "how long a free page run stays committed before it goes back to the OS; 0 = at once, -1 = never (only `malloc_trim`)", \
    "Milliseconds a free page run stays committed before it is returned to the OS, and a "     \
    "freed large block stays cached. 0 returns at once (and disables the large cache); -1 "    \
    "never returns pages except through `malloc_trim` or out-of-memory recovery.")             \
  X(purge_thread, "HZ_PURGE_THREAD", 1, "0/1",                                                 \
    "1: a background thread returns freed pages once `HZ_PURGE_DELAY_MS` has passed, also while the program makes no allocator calls", \
    "A background thread gives free page runs (and cached large blocks) back to the OS once "  \
    "`HZ_PURGE_DELAY_MS` has passed, also when the program idles or lives off its thread "     \
    "caches and never reaches a slow path again. It is started once, from an allocation "     \
    "slow path, when the program has mapped 8 MiB of data or freed memory first waits; it "   \
    "parks with nothing pending, blocks every signal and never allocates. Set 0 in a "         \
    "program that must stay single-threaded (`unshare(CLONE_NEWUSER)` fails with EINVAL "     \
    "once a second thread exists). 0: no thread; pages go back only from the allocator's "    \
    "own slow paths (and `malloc_trim`). Not used with `HZ_PURGE_DELAY_MS` 0 or -1.")                              \
  X(dirty_max_mb, "HZ_DIRTY_MAX_MB", 16, "-1..",                                               \
    "MiB of free pages kept beyond the delay's reach; over it, free memory goes back at once, wholly free segments first (-1 = no budget)", \
    "MiB of free page runs (hz3) or empty segments (hz4) kept while they wait out `HZ_PURGE_DELAY_MS` (at "   \
    "least half the memory held by spans); beyond it wholly free segments are unmapped at "    \
    "once, least recently freed first, then free runs of partly used segments and the "         \
    "interiors of free objects of 64 KiB and more are decommitted (docs/hz3.md and "          \
    "docs/hz4.md, RSS policy; that stage's budget grows for a while when the program takes "   \
    "the memory back at once). -1: no budget, only the delay.")                                \
  X(madv_free, "HZ_MADV_FREE", 0, "0/1",                                                       \
    "1: return pages with `MADV_FREE` instead of `MADV_DONTNEED`",                             \
    "Return pages with `MADV_FREE` (the kernel reclaims them lazily; RSS falls only under "    \
    "pressure) instead of `MADV_DONTNEED`. Falls back silently when the kernel refuses it.")   \
  X(thp, "HZ_THP", 0, "0/1",                                                                   \
    "1: ask for transparent huge pages on segments (`MADV_HUGEPAGE`)",                         \
    "Ask for transparent huge pages on each 4 MiB segment (`MADV_HUGEPAGE`). Faster TLB "      \
    "behaviour, coarser RSS.")                                                                 \
  X(large_cache_mb, "HZ_LARGE_CACHE_MB", 64, "0..",                                            \
    "MiB of freed large blocks kept mapped for reuse (0 = none)",                              \
    "MiB of freed large blocks (> 256 KiB) kept mapped for reuse; only blocks up to a quarter " \
    "of this are cached. 0 disables the cache.")                                               \
  X(arena_gb, "HZ_ARENA_GB", 1024, "1..4096",                                                  \
    "GiB of address space for the arena (reserved lazily, 4 MiB at a time)",                   \
    "GiB of address space for the arena. Only the tag table (4 bytes per 64 KiB, demand-zero) " \
    "is mapped up front; slots are mapped 4 MiB at a time when used.")                         \
  HZ_OPTION_FAULT(X)

/* Fault injection exists only in test builds (-DHZ_FAULT_INJECTION=ON). */
#ifdef HZ_FAULT_INJECTION
#define HZ_OPTION_FAULT(X)                                                                     \
  X(fault_mmap, "HZ_FAULT_MMAP", 0, "0..",                                                     \
    "test builds only (`-DHZ_FAULT_INJECTION=ON`): the N-th OS mapping fails",                 \
    "Test builds only (`-DHZ_FAULT_INJECTION=ON`): the N-th OS mapping of the process fails "  \
    "with `ENOMEM`, to prove every caller handles it. Ignored (not compiled) in release builds.")
#else
#define HZ_OPTION_FAULT(X)
#endif

typedef struct hz_options_t {
#define HZ_OPTION_FIELD(field, env, def, range, doc, help) int64_t field;
  HZ_OPTION_TABLE(HZ_OPTION_FIELD)
#undef HZ_OPTION_FIELD
} hz_options_t;

extern hz_options_t hz_options;

/* The free memory a line may keep waiting for HZ_PURGE_DELAY_MS, in units of
 * 1 << unit_shift bytes: HZ_DIRTY_MAX_MB, or half of `units_in_use` if that
 * is more (a large heap churning its memory keeps the delay's protection);
 * UINT64_MAX when the budget is off (-1). One rule for every line. */
static inline uint64_t hz_dirty_budget_units(uint64_t units_in_use, unsigned unit_shift) {
  if (hz_options.dirty_max_mb < 0) return UINT64_MAX;
  uint64_t limit = ((uint64_t)hz_options.dirty_max_mb << 20) >> unit_shift;
  return limit > units_in_use / 2 ? limit : units_in_use / 2;
}

/* Reads the environment; idempotent, allocation-free. */
void hz_options_init(void);
/* The value of the option whose environment name is `name`; 0 and
 * *found = 0 (if found is not NULL) when there is none. */
int64_t hz_options_lookup(const char *name, int *found);
/* Writes the options in force to stderr (HZ_VERBOSE=1). */
void hz_options_print(void);

/* write(2)-based formatting helpers shared by options, stats and reports. */
void hz_write_str(int fd, const char *s);
void hz_write_u64(int fd, uint64_t v);
void hz_write_i64(int fd, int64_t v);

#endif
