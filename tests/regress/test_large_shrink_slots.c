/* Regression: an in-place realloc shrink of a large block across a 4 MiB slot
 * boundary must give the tail slots back. It once kept them reserved forever,
 * so a loop of malloc(12 MiB) / realloc(5 MiB) / free ran out of address
 * space. Re-executes itself with a 1 GiB arena (256 slots) and no large
 * cache, where 2000 iterations would exhaust the arena if one slot leaked. */
#include "hz_test.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int main(int argc, char **argv) {
  (void)argc;
  if (getenv("HZ_REGRESS_CHILD") == NULL) {
    setenv("HZ_REGRESS_CHILD", "1", 1);
    setenv("HZ_ARENA_GB", "1", 1);
    setenv("HZ_LARGE_CACHE_MB", "0", 1);
    execv("/proc/self/exe", argv);
    perror("execv");
    return 1;
  }
  int failures = 0;
  for (int i = 0; i < 2000 && failures < 5; i++) {
    char *p = malloc(12u << 20);
    if (p == NULL) { failures++; continue; }
    memset(p, 0x5a, 4096);
    p[(5u << 20) - 1] = 7;
    char *q = realloc(p, 5u << 20);
    if (q == NULL) { failures++; free(p); continue; }
    if (q[0] != 0x5a || q[(5u << 20) - 1] != 7) failures++;
    char *r = realloc(q, 9u << 20);  /* grow again: in place or moved */
    if (r == NULL) { failures++; free(q); continue; }
    if (r[4095] != 0x5a || r[(5u << 20) - 1] != 7) failures++;
    free(r);
  }
  CHECK(failures == 0, "%d allocation or content failures in the shrink/grow loop (errno %d)", failures, errno);
  return hz_test_finish();
}
