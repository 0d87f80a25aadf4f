/* Regression: with HZ_PURGE_DELAY_MS=0 hz4 crashed when the last thread
 * freed what exited workers left.
 *
 * With every other thread gone, hz4 puts such an object straight back into
 * the dead thread's page (HZ4_SOLO_DIRECT, hz4_free_to_parked) and then read
 * that page's header to see whether the put had emptied it. An emptied page
 * can take its segment to the pool, and with a purge delay of 0 the pool
 * unmaps it at once: the read after the put touched unmapped memory
 * (stress_remote, stress_outlive and stress_fork all died that way under
 * HZ_PURGE_DELAY_MS=0).
 *
 * Checks (every line): workers fill objects of several sizes, small to
 * 28 KiB, write a pattern and exit; the main thread checks and frees them
 * all, in rounds, under HZ_PURGE_DELAY_MS=0 (the test re-runs itself with
 * it set). Nothing crashes, no object was corrupted, and a reuse afterwards
 * works. */
#include "hz_test.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WORKERS 3
#define PER_WORKER 3000
#define ROUNDS 4

static unsigned char *objects[WORKERS][PER_WORKER];
static size_t sizes[WORKERS][PER_WORKER];

static size_t size_of(unsigned w, unsigned i) {
  static const size_t pick[] = {24, 200, 1500, 4096, 9000, 20000, 28672};
  return pick[(w * 7 + i) % (sizeof pick / sizeof pick[0])];
}

static void *worker(void *arg) {
  unsigned w = (unsigned)(uintptr_t)arg;
  for (unsigned i = 0; i < PER_WORKER; i++) {
    size_t size = size_of(w, i);
    unsigned char *p = malloc(size);
    if (p == NULL) return (void *)1;
    memset(p, (int)((w * 31 + i) & 0xff), size);
    objects[w][i] = p;
    sizes[w][i] = size;
  }
  return NULL;
}

int main(int argc, char **argv) {
  const char *delay = getenv("HZ_PURGE_DELAY_MS");
  if (delay == NULL || strcmp(delay, "0") != 0) {
    /* Options are read once, at load: run again with the delay set. */
    setenv("HZ_PURGE_DELAY_MS", "0", 1);
    execv("/proc/self/exe", argv);
    CHECK(0, "re-exec with HZ_PURGE_DELAY_MS=0 failed");
    return hz_test_finish();
  }
  (void)argc;
  long bad = 0;
  for (int round = 0; round < ROUNDS; round++) {
    pthread_t threads[WORKERS];
    for (uintptr_t w = 0; w < WORKERS; w++)
      CHECK(pthread_create(&threads[w], NULL, worker, (void *)w) == 0, "pthread_create");
    for (int w = 0; w < WORKERS; w++) {
      void *result = NULL;
      pthread_join(threads[w], &result);
      CHECK(result == NULL, "round %d worker %d: out of memory", round, w);
    }
    /* Only this thread is left: every free goes to an exited worker's heap. */
    for (unsigned w = 0; w < WORKERS; w++) {
      for (unsigned i = 0; i < PER_WORKER; i++) {
        unsigned char *p = objects[w][i];
        if (p == NULL) continue;
        unsigned char want = (unsigned char)((w * 31 + i) & 0xff);
        bad += p[0] != want || p[sizes[w][i] - 1] != want;
        free(p);
        objects[w][i] = NULL;
      }
    }
  }
  CHECK(bad == 0, "%ld objects came back corrupted", bad);
  /* The line still serves this thread after all that was unmapped. */
  for (int i = 0; i < 1000; i++) {
    unsigned char *p = malloc(28672);
    CHECK(p != NULL, "malloc after the frees");
    if (p == NULL) break;
    memset(p, 0x5a, 28672);
    free(p);
  }
  printf("%d rounds of %d x %d objects freed by the last thread\n", ROUNDS, WORKERS, PER_WORKER);
  return hz_test_finish();
}
