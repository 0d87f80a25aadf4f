/* Runtime options, read once from HZ_* environment variables at start-up.
 *
 * HZ_OPTION_TABLE is the single table of every option: name, environment
 * variable, default, and what it does. docs/options.md mirrors it; a test
 * checks the two agree. Parsing walks `environ` directly because getenv-like
 * helpers may allocate in some libcs and we run before our heap exists. */
#ifndef HZ_OPTIONS_H
#define HZ_OPTIONS_H

#include <stdint.h>

/*        field            env variable          default  meaning */
#define HZ_OPTION_TABLE(X)                                                                     \
  X(stats,           "HZ_STATS",           0,    "1: print one summary of allocator counters to stderr at exit; json: the same as one JSON object")      \
  X(verbose,         "HZ_VERBOSE",         0,    "1: print the options in force to stderr at start-up")                \
  X(tcache,          "HZ_TCACHE",          1,    "0: disable per-thread caches (every free returns to its span)")      \
  X(tcache_scale,    "HZ_TCACHE_SCALE",    100,  "per-thread cache size in percent of the built-in limits (1..1000)") \
  X(purge_delay_ms,  "HZ_PURGE_DELAY_MS",  100,  "ms a free page run stays committed before it is returned to the OS; 0 = at once, -1 = never") \
  X(dirty_max_mb,    "HZ_DIRTY_MAX_MB",    16,   "MiB of free page runs kept committed while they wait out HZ_PURGE_DELAY_MS; beyond it the oldest go back to the OS at once (-1 = no limit)") \
  X(madv_free,       "HZ_MADV_FREE",       0,    "1: return pages with MADV_FREE (lazy) instead of MADV_DONTNEED")     \
  X(thp,             "HZ_THP",             0,    "1: ask for transparent huge pages on the arena (MADV_HUGEPAGE)")     \
  X(large_cache_mb,  "HZ_LARGE_CACHE_MB",  64,   "MiB of freed large blocks kept mapped for reuse (0 = no cache)")     \
  X(arena_gb,        "HZ_ARENA_GB",        1024, "GiB of address space for the small/medium arena (1..4096)") \
  HZ_OPTION_FAULT(X)

/* Fault injection exists only in test builds (-DHZ_FAULT_INJECTION=ON). */
#ifdef HZ_FAULT_INJECTION
#define HZ_OPTION_FAULT(X) \
  X(fault_mmap,      "HZ_FAULT_MMAP",      0,    "test builds only: the N-th OS mapping fails with ENOMEM (0 = never)")
#else
#define HZ_OPTION_FAULT(X)
#endif

typedef struct hz_options_t {
#define HZ_OPTION_FIELD(field, env, def, doc) int64_t field;
  HZ_OPTION_TABLE(HZ_OPTION_FIELD)
#undef HZ_OPTION_FIELD
} hz_options_t;

extern hz_options_t hz_options;

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
