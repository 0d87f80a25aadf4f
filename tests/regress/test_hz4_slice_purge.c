/* Regression: hz4 kept the free slices of a live heap's segments resident
 * for as long as the heap's thread made no page slow-path call. The
 * background purger could return only pooled segments and cached huge
 * blocks, since free slices belong to their heap without a lock; a server
 * thread that freed most of a burst and went idle kept it (bench_release
 * T=2 order 0: 113 MiB for a 52 MiB live set). Each heap now has a slice
 * lock the purger tries (HZ4_SLICE_PURGE, docs/hz4.md). The same held for
 * free objects of 64 KiB and more in pages one live object pins ("loose",
 * HZ4_LOOSE_PURGE): order 1 kept 213 MiB with the slices returned.
 *
 * Checks (hz4 only; other lines print a skip): a worker fills 16 MiB of
 * 512 KiB blocks (one-block pages, seven to a segment), frees three in four
 * (12 MiB, under the dirty budget, and every segment keeps a live block, so
 * none is pooled) and then blocks in sem_wait with its heap alive. While it
 * waits, RSS falls by most of the 12 MiB. Then it fills 12 MiB of 96 KiB
 * objects (class pages of ten), frees three in four (9 MiB of loose objects,
 * each page keeps live ones) and waits again: RSS falls by most of the 9 MiB.
 * Kept blocks and objects keep their contents; afterwards the freed slices come back writable and calloc'ed
 * ones read zero. A fork child of the idle process allocates and frees
 * (no lock left held). With HZ_PURGE_THREAD=0 (a re-exec of itself) RSS
 * does not fall, which shows the check measures the purger. */
#include "hz_test.h"

#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define BLOCK_BYTES ((size_t)512 << 10)
#define BLOCKS 32 /* 16 MiB, 12 of them freed */
#define LOOSE_BYTES ((size_t)96 << 10)
#define LOOSE 128 /* 12 MiB, 9 of them freed */

static unsigned char *blocks[BLOCKS];
static unsigned char *loose[LOOSE];
static sem_t freed, resume;
static long full_kib;
static int bad_contents, nonzero, failures;

/* VmRSS in KiB without allocating (fopen would): -1 without /proc. */
static long rss_kib(void) {
  static char buf[4096];
  int fd = open("/proc/self/status", O_RDONLY);
  if (fd < 0) return -1;
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  if (n <= 0) return -1;
  buf[n] = 0;
  char *at = strstr(buf, "VmRSS:");
  return at ? strtol(at + 6, NULL, 10) : -1;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0) {
  }
}

/* Fills n blocks (block i with byte i % 128 + 1), notes the RSS, frees all
 * but every fourth and tells main. */
static void fill_keep_quarter(unsigned char **arr, int n, size_t bytes) {
  for (int i = 0; i < n; i++) {
    arr[i] = malloc(bytes);
    if (arr[i] == NULL) {
      failures++;
      continue;
    }
    memset(arr[i], (i & 0x7f) + 1, bytes);
  }
  full_kib = rss_kib();
  for (int i = 0; i < n; i++)
    if (i % 4 != 0) {
      free(arr[i]);
      arr[i] = NULL;
    }
  sem_post(&freed);
}

/* The kept blocks still hold their bytes; the freed ones come back writable,
 * and zero from calloc (every other one); then all are freed. */
static void check_refill_free(unsigned char **arr, int n, size_t bytes) {
  for (int i = 0; i < n; i += 4)
    for (size_t k = 0; k < bytes; k += 4096)
      if (arr[i] != NULL && arr[i][k] != (unsigned char)((i & 0x7f) + 1)) bad_contents++;
  for (int i = 0; i < n; i++) {
    if (arr[i] != NULL) continue;
    arr[i] = i % 2 ? calloc(1, bytes) : malloc(bytes);
    if (arr[i] == NULL) {
      failures++;
      continue;
    }
    if (i % 2)
      for (size_t k = 0; k < bytes; k += 512)
        if (arr[i][k] != 0) nonzero++;
    memset(arr[i], 0xa5, bytes);
  }
  for (int i = 0; i < n; i++) free(arr[i]);
}

static void *worker(void *arg) {
  (void)arg;
  fill_keep_quarter(blocks, BLOCKS, BLOCK_BYTES);
  while (sem_wait(&resume) != 0) {
  }
  fill_keep_quarter(loose, LOOSE, LOOSE_BYTES);
  while (sem_wait(&resume) != 0) {
  }
  check_refill_free(loose, LOOSE, LOOSE_BYTES);
  check_refill_free(blocks, BLOCKS, BLOCK_BYTES);
  return NULL;
}

/* Waits for the worker's next idle wait, sleeps, and returns the KiB of RSS
 * that went back meanwhile; the worker is left waiting. */
static long idle_drop(void) {
  while (sem_wait(&freed) != 0) {
  }
  /* RSS from before the frees: with a tiny HZ_PURGE_DELAY_MS the worker's
   * own page paths may return some while it frees. */
  long full = full_kib;
  /* The purge delay (100 ms by default), a quarter delay between purger
   * walks and its wake-up: six delays leave room for a slow machine. */
  sleep_ms(600);
  long idle = rss_kib();
  return full < 0 || idle < 0 ? -1 : full - idle;
}

static long start_and_idle(pthread_t *thread) {
  sem_init(&freed, 0, 0);
  sem_init(&resume, 0, 0);
  if (pthread_create(thread, NULL, worker, NULL) != 0) return -1;
  return idle_drop();
}

static long next_idle(void) {
  sem_post(&resume);
  return idle_drop();
}

static void finish(pthread_t thread) {
  sem_post(&resume);
  pthread_join(thread, NULL);
}

int main(int argc, char **argv) {
  const char *line = getenv("HZ_TEST_LINE");
  if (line == NULL || strcmp(line, "hz4") != 0 || rss_kib() < 0) {
    printf("hz4 only (HZ_TEST_LINE=%s) or no /proc: skipped\n1 passed, 0 failed\n", line ? line : "unset");
    return 0;
  }
  pthread_t thread;
  if (argc > 1 && strcmp(argv[1], "off") == 0) {
    long dropped = start_and_idle(&thread);
    CHECK(dropped >= 0 && dropped < 2048, "without the purger %ld KiB went back while idle", dropped);
    dropped = next_idle();
    CHECK(dropped >= 0 && dropped < 2048, "without the purger %ld KiB of loose objects went back", dropped);
    finish(thread);
    return hz_test_finish();
  }

  long dropped = start_and_idle(&thread);
  CHECK(dropped >= 9216, "only %ld KiB of the 12 MiB an idle live thread freed went back", dropped);

  pid_t child = fork();
  if (child == 0) {
    for (int round = 0; round < 4; round++) {
      void *p[8];
      for (int i = 0; i < 8; i++) p[i] = malloc(BLOCK_BYTES);
      for (int i = 0; i < 8; i++) free(p[i]);
      sleep_ms(150);
    }
    _exit(0);
  }
  int status = 0;
  CHECK(child > 0 && waitpid(child, &status, 0) == child, "fork/wait");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fork child failed (status %d)", status);

  dropped = next_idle();
  CHECK(dropped >= 6144, "only %ld KiB of 9 MiB of loose objects an idle live thread freed went back", dropped);

  finish(thread);
  CHECK(failures == 0, "%d allocations failed", failures);
  CHECK(bad_contents == 0, "%d pages of kept blocks lost their contents", bad_contents);
  CHECK(nonzero == 0, "calloc returned %d non-zero words from purged slices", nonzero);

  child = fork();
  if (child == 0) {
    setenv("HZ_PURGE_THREAD", "0", 1);
    setenv("HZ_PURGE_DELAY_MS", "100", 1);  /* the owner's own tick must not reach it either */
    execl("/proc/self/exe", argv[0], "off", (char *)NULL);
    _exit(127);
  }
  CHECK(child > 0 && waitpid(child, &status, 0) == child, "fork/wait");
  CHECK(WIFEXITED(status) && WEXITSTATUS(status) == 0, "HZ_PURGE_THREAD=0 run failed (status %d)", status);
  return hz_test_finish();
}
