/* Regression: free objects in a span that one live object pins stayed
 * resident for ever. hz3 spans of 48 KiB objects hold 4 of them; a program
 * that keeps one object in four (bench_release order 1: a random tenth of
 * 16 B..256 KiB blocks) kept every span, so RSS stayed near its peak without
 * malloc_trim. The background purger now decommits the interiors of such
 * free objects once their span was left alone for the purge delay
 * (HZ3_INTERIOR_PURGE, hz3/hz3_interior.c).
 *
 * Checks (hz3 only; other lines print a skip): after keeping one 48 KiB
 * block in four of 12 MiB and idling 600 ms without allocator calls, RSS
 * falls by most of the 9 MiB freed; the kept blocks keep their contents; the
 * freed blocks come back writable, and calloc'ed ones read zero. */
#include "hz_test.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BLOCK_BYTES ((size_t)48 << 10)
#define BLOCKS 256 /* 12 MiB, 9 of them freed */

static unsigned char *blocks[BLOCKS];

static long rss_kib(void) {
  FILE *f = fopen("/proc/self/status", "r");
  if (!f) return -1;
  char line[256];
  long kib = -1;
  while (fgets(line, sizeof line, f))
    if (sscanf(line, "VmRSS: %ld kB", &kib) == 1) break;
  fclose(f);
  return kib;
}

static void sleep_ms(long ms) {
  struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
  nanosleep(&ts, NULL);
}

int main(void) {
  const char *line = getenv("HZ_TEST_LINE");
  if (line == NULL || strcmp(line, "hz3") != 0 || rss_kib() < 0) {
    printf("hz3 only (HZ_TEST_LINE=%s) or no /proc: skipped\n1 passed, 0 failed\n", line ? line : "unset");
    return 0;
  }
  for (int i = 0; i < BLOCKS; i++) {
    blocks[i] = malloc(BLOCK_BYTES);
    CHECK(blocks[i] != NULL, "malloc %d", i);
    if (blocks[i] == NULL) return hz_test_finish();
    memset(blocks[i], (int)(i & 0x7f) + 1, BLOCK_BYTES);
  }
  long full = rss_kib();
  for (int i = 0; i < BLOCKS; i++)
    if (i % 4 != 0) {
      free(blocks[i]);
      blocks[i] = NULL;
    }
  /* A pass records the spans, the next one a purge delay later (100 ms by
   * default) decommits them: six delays leave room for a slow machine. */
  sleep_ms(600);
  long idle = rss_kib();
  long dropped = full - idle;
  CHECK(dropped >= 6144, "only %ld KiB of the 9 MiB freed in pinned spans went back while idle", dropped);

  int bad = 0;
  for (int i = 0; i < BLOCKS; i += 4)
    for (size_t k = 0; k < BLOCK_BYTES; k += 4096)
      if (blocks[i][k] != (unsigned char)((i & 0x7f) + 1) || blocks[i][BLOCK_BYTES - 1] != (unsigned char)((i & 0x7f) + 1))
        bad++;
  CHECK(bad == 0, "%d pages of kept blocks lost their contents", bad);

  int nonzero = 0;
  for (int i = 0; i < BLOCKS; i++) {
    if (blocks[i] != NULL) continue;
    if (i % 2) {
      blocks[i] = calloc(1, BLOCK_BYTES);
      CHECK(blocks[i] != NULL, "calloc %d", i);
      if (blocks[i] == NULL) continue;
      for (size_t k = 0; k < BLOCK_BYTES; k += 512)
        if (blocks[i][k] != 0) nonzero++;
    } else {
      blocks[i] = malloc(BLOCK_BYTES);
      CHECK(blocks[i] != NULL, "malloc again %d", i);
      if (blocks[i] == NULL) continue;
    }
    memset(blocks[i], 0xa5, BLOCK_BYTES);
  }
  CHECK(nonzero == 0, "calloc returned %d non-zero words from recycled blocks", nonzero);
  for (int i = 0; i < BLOCKS; i++) free(blocks[i]);
  return hz_test_finish();
}
