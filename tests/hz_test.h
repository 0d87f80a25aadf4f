/* Tiny test harness shared by the suite's C programs.
 * CHECK(cond, fmt, ...) counts a pass or prints the failure with file:line;
 * hz_test_finish() prints the closing "N passed, N failed" line that CI reads
 * and returns the process exit status. Output uses stdio only after the
 * allocator is already in use, so the harness itself exercises it. */
#ifndef HZ_TEST_H
#define HZ_TEST_H
#include <stdio.h>
#include <string.h>
#include <stdatomic.h>

static atomic_long hz_test_passed;
static atomic_long hz_test_failed;

#define CHECK(cond, ...)                                                      \
  do {                                                                        \
    if (cond) {                                                               \
      atomic_fetch_add(&hz_test_passed, 1);                                   \
    } else {                                                                  \
      atomic_fetch_add(&hz_test_failed, 1);                                   \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
      fprintf(stderr, "" __VA_ARGS__);                                        \
      fputc('\n', stderr);                                                    \
    }                                                                         \
  } while (0)

static inline int hz_test_finish(void) {
  long p = atomic_load(&hz_test_passed), f = atomic_load(&hz_test_failed);
  fflush(stderr);
  printf("%ld passed, %ld failed\n", p, f);
  fflush(stdout);
  return f == 0 && p > 0 ? 0 : 1;
}

/* A "Key:   N kB" field of /proc/self/status in KiB, -1 without /proc. */
static inline long hz_test_status_kib(const char *key) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  size_t len = strlen(key);
  while (fgets(line, sizeof line, f))
    if (strncmp(line, key, len) == 0 && line[len] == ':' && sscanf(line + len + 1, "%ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

/* VmSize of this process in KiB (what RLIMIT_AS limits), -1 without /proc. */
static inline long hz_test_vm_size_kib(void) { return hz_test_status_kib("VmSize"); }
#endif
