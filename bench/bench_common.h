/* bench_common.h - shared helpers of the hakozuna benchmark programs.
 *
 * Every program uses only malloc/free/realloc/calloc so any allocator can be
 * LD_PRELOADed underneath; nothing here links or names an allocator.
 *
 * Provides: a seeded per-thread PRNG (splitmix64 seeding + xorshift64*),
 * CLOCK_MONOTONIC timing, VmHWM/VmRSS from /proc/self/status (read with
 * open/read into a stack buffer, so sampling does not allocate), strict
 * argument parsing (usage on stderr + exit 2 on any bad argument), a helper
 * that writes the first and last byte of a block, a thread-spawn wrapper, and
 * the one RESULT line every program ends with (see bench/README.md).
 */
#ifndef HZ_BENCH_COMMON_H
#define HZ_BENCH_COMMON_H

#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BENCH_UNUSED __attribute__((unused))

/* Upper bounds applied by the argument checks (a typo must not turn into a
 * multi-hour or multi-terabyte run by accident). */
#define BENCH_MAX_THREADS 4096u
#define BENCH_MAX_SIZE (1ull << 34) /* 16 GiB per block */

/* ---- PRNG ------------------------------------------------------------- */

typedef struct bench_rng {
  uint64_t s;
} bench_rng;

static inline uint64_t bench_splitmix64(uint64_t *x) {
  uint64_t z = (*x += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

/* Stream `stream` of seed `seed`: independent sequences per thread/lane. */
static inline void bench_rng_seed(bench_rng *r, uint64_t seed, uint64_t stream) {
  uint64_t x = seed ^ (stream * 0xD1B54A32D192ED03ull);
  r->s = bench_splitmix64(&x);
  if (r->s == 0) r->s = 0x2545F4914F6CDD1Dull;
}

static inline uint64_t bench_rng_next(bench_rng *r) {
  uint64_t x = r->s;
  x ^= x >> 12;
  x ^= x << 25;
  x ^= x >> 27;
  r->s = x;
  return x * 0x2545F4914F6CDD1Dull;
}

/* Uniform in [lo, hi] (inclusive), multiply-shift reduction. */
static inline uint64_t bench_rng_range(bench_rng *r, uint64_t lo, uint64_t hi) {
  if (hi <= lo) return lo;
  uint64_t span = hi - lo + 1u;
  return lo + (uint64_t)(((unsigned __int128)bench_rng_next(r) * span) >> 64);
}

/* Uniform in [0, n). */
static inline uint64_t bench_rng_below(bench_rng *r, uint64_t n) {
  return (uint64_t)(((unsigned __int128)bench_rng_next(r) * n) >> 64);
}

/* Uniform in [0, 100). */
static inline unsigned bench_rng_pct(bench_rng *r) {
  return (unsigned)bench_rng_below(r, 100);
}

/* Default base seed; every program uses it so runs are reproducible. */
#define BENCH_SEED 0x48414B4F5A554E41ull /* "HAKOZUNA" */

/* ---- time ------------------------------------------------------------- */

static inline double bench_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

/* ---- memory ----------------------------------------------------------- */

/* Write the first and last byte so the block's pages are really resident. */
static inline void bench_touch(void *p, size_t n) {
  volatile unsigned char *c = (volatile unsigned char *)p;
  c[0] = (unsigned char)n;
  c[n - 1] = (unsigned char)(n >> 8);
}

typedef struct bench_mem {
  long hwm_kb; /* VmHWM: peak resident set */
  long rss_kb; /* VmRSS: current resident set */
} bench_mem;

static long bench_status_field(const char *buf, const char *key) {
  const char *p = strstr(buf, key);
  if (!p) return -1;
  p += strlen(key);
  while (*p == ' ' || *p == '\t') p++;
  long v = 0;
  int any = 0;
  while (*p >= '0' && *p <= '9') {
    v = v * 10 + (*p - '0');
    p++;
    any = 1;
  }
  return any ? v : -1;
}

/* -1 in a field when /proc is unavailable. Does not call malloc. */
static BENCH_UNUSED bench_mem bench_read_mem(void) {
  bench_mem m = {-1, -1};
  char buf[8192];
  int fd = open("/proc/self/status", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return m;
  size_t len = 0;
  for (;;) {
    ssize_t n = read(fd, buf + len, sizeof(buf) - 1 - len);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    len += (size_t)n;
    if (len >= sizeof(buf) - 1) break;
  }
  close(fd);
  buf[len] = '\0';
  m.hwm_kb = bench_status_field(buf, "\nVmHWM:");
  m.rss_kb = bench_status_field(buf, "\nVmRSS:");
  return m;
}

/* ---- arguments -------------------------------------------------------- */

typedef struct bench_cli {
  const char *prog;  /* program name printed in messages */
  const char *usage; /* argument synopsis + explanation */
} bench_cli;

static BENCH_UNUSED __attribute__((noreturn, format(printf, 2, 3))) void
bench_usage_fail(const bench_cli *cli, const char *fmt, ...) {
  va_list ap;
  fprintf(stderr, "%s: ", cli->prog);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fprintf(stderr, "\nusage: %s %s\n", cli->prog, cli->usage);
  exit(2);
}

/* Handles -h/--help (usage on stdout, exit 0) and too many arguments. */
static BENCH_UNUSED void bench_check_argc(const bench_cli *cli, int argc, char **argv,
                                          int max_positional) {
  if (argc > 1 && (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0)) {
    printf("usage: %s %s\n", cli->prog, cli->usage);
    exit(0);
  }
  if (argc - 1 > max_positional)
    bench_usage_fail(cli, "too many arguments (%d, at most %d)", argc - 1, max_positional);
}

/* Strict unsigned decimal: digits only, no sign, no suffix, no overflow. */
static BENCH_UNUSED int bench_parse_u64(const char *s, uint64_t *out) {
  if (!s || !*s) return -1;
  uint64_t v = 0;
  for (const char *p = s; *p; p++) {
    if (*p < '0' || *p > '9') return -1;
    unsigned d = (unsigned)(*p - '0');
    if (v > (UINT64_MAX - d) / 10u) return -1;
    v = v * 10u + d;
  }
  *out = v;
  return 0;
}

/* Positional argument `idx` (1-based) named `name`, in [lo, hi]; `def` when
 * absent. Anything else prints the usage on stderr and exits 2. */
static BENCH_UNUSED uint64_t bench_arg_u64(const bench_cli *cli, int argc, char **argv, int idx,
                                           const char *name, uint64_t def, uint64_t lo,
                                           uint64_t hi) {
  if (idx >= argc) return def;
  uint64_t v;
  if (bench_parse_u64(argv[idx], &v) != 0)
    bench_usage_fail(cli, "%s: '%s' is not an unsigned decimal integer (digits only, < 2^64)", name, argv[idx]);
  if (v < lo || v > hi)
    bench_usage_fail(cli, "%s=%llu out of range [%llu, %llu]", name, (unsigned long long)v,
                     (unsigned long long)lo, (unsigned long long)hi);
  return v;
}

/* ---- threads ---------------------------------------------------------- */

/* pthread_create or die (exit 1): a benchmark that silently runs with fewer
 * threads than asked would report a wrong number. */
static BENCH_UNUSED void bench_spawn(const char *prog, pthread_t *t, void *(*fn)(void *),
                                     void *arg) {
  int rc = pthread_create(t, NULL, fn, arg);
  if (rc != 0) {
    fprintf(stderr, "%s: pthread_create failed: %s\n", prog, strerror(rc));
    exit(1);
  }
}

static BENCH_UNUSED void bench_join(pthread_t t) {
  int rc = pthread_join(t, NULL);
  if (rc != 0) {
    fprintf(stderr, "bench: pthread_join failed: %s\n", strerror(rc));
    exit(1);
  }
}

/* Infrastructure allocation (thread states, rings, ...): failure is fatal. */
static BENCH_UNUSED void *bench_xcalloc(const char *prog, size_t n, size_t sz) {
  void *p = calloc(n ? n : 1, sz ? sz : 1);
  if (!p) {
    fprintf(stderr, "%s: cannot allocate benchmark state (%zu x %zu bytes)\n", prog, n, sz);
    exit(1);
  }
  return p;
}

/* Padding so per-thread hot fields of different threads never share a line
 * (128 B covers adjacent-line prefetch). */
#define BENCH_PAD 128

/* ---- result ----------------------------------------------------------- */

static inline double bench_rate(double n, double secs) { return secs > 0.0 ? n / secs : 0.0; }

static inline double bench_pct(uint64_t part, uint64_t whole) {
  return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

/* The final line of every program:
 *   RESULT bench=<name> ops=<n> seconds=<wall> ops_per_s=<float>
 *          peak_rss_kb=<VmHWM> post_rss_kb=<VmRSS> [extra key=value ...]
 * Memory is sampled here, so call it after all workers were joined and
 * everything was freed. `extra` is a printf format producing " k=v k=v" (may
 * be NULL). */
static BENCH_UNUSED __attribute__((format(printf, 4, 5))) void
bench_result(const char *name, uint64_t ops, double secs, const char *extra, ...) {
  bench_mem m = bench_read_mem();
  fflush(stderr);
  printf("RESULT bench=%s ops=%llu seconds=%.6f ops_per_s=%.2f peak_rss_kb=%ld post_rss_kb=%ld",
         name, (unsigned long long)ops, secs, bench_rate((double)ops, secs), m.hwm_kb, m.rss_kb);
  if (extra) {
    va_list ap;
    va_start(ap, extra);
    vprintf(extra, ap);
    va_end(ap);
  }
  printf("\n");
  fflush(stdout);
}

#endif /* HZ_BENCH_COMMON_H */
