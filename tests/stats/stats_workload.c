/* A known allocation pattern for the HZ_STATS test (tests/stats/test_stats.sh).
 *
 * Two threads, one size per band: the main thread allocates blocks the
 * worker frees (cross-thread frees while the owner lives); the worker
 * allocates and frees blocks of its own (all live at once, then freed:
 * a peak), and allocates blocks the main thread frees after the worker has
 * exited (frees of a dead thread's blocks) except a few kept to the end.
 * Prints what it did as one JSON object on stdout; the line prints its
 * statistics to stderr at exit. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

#define NS 7
static const size_t sizes[NS] = {48, 200, 10000, 40000, 200000, (size_t)1 << 20, (size_t)3 << 20};
static const unsigned counts[NS] = {400, 300, 64, 32, 16, 8, 4};   /* per group */
static const unsigned kept[NS] = {7, 6, 5, 4, 3, 2, 1};           /* left allocated at exit */

static void *from_main[NS][400];    /* allocated by main, freed by the worker */
static void *from_worker[NS][400];  /* allocated by the worker, freed (all but kept) by main */
static unsigned long n_allocs[NS], n_frees[NS], n_live_peak[NS];

static void *get(size_t size) {
  char *p = malloc(size);
  if (p == NULL) {
    fprintf(stderr, "malloc(%zu) failed\n", size);
    exit(1);
  }
  p[0] = 1;
  p[size - 1] = 1;
  return p;
}

static void *worker(void *arg) {
  (void)arg;
  static void *local[400];
  for (unsigned i = 0; i < NS; i++) {
    for (unsigned k = 0; k < counts[i]; k++) local[k] = get(sizes[i]);
    for (unsigned k = 0; k < counts[i]; k++) free(local[k]);
    for (unsigned k = 0; k < counts[i]; k++) free(from_main[i][k]);  /* remote: main is alive */
    for (unsigned k = 0; k < counts[i]; k++) from_worker[i][k] = get(sizes[i]);
  }
  return NULL;
}

int main(void) {
  for (unsigned i = 0; i < NS; i++)
    for (unsigned k = 0; k < counts[i]; k++) from_main[i][k] = get(sizes[i]);
  pthread_t t;
  if (pthread_create(&t, NULL, worker, NULL) != 0 || pthread_join(t, NULL) != 0) return 1;
  for (unsigned i = 0; i < NS; i++) {
    for (unsigned k = kept[i]; k < counts[i]; k++) free(from_worker[i][k]);  /* owner gone */
    /* from_main (counts), the worker's local set and from_worker (counts each) */
    n_allocs[i] = 3ul * counts[i];
    n_frees[i] = 3ul * counts[i] - kept[i];
    /* while the worker held its local set, main's blocks were live too */
    n_live_peak[i] = 2ul * counts[i];
  }
  printf("{\"sizes\":[");
  for (unsigned i = 0; i < NS; i++) printf("%s%zu", i ? "," : "", sizes[i]);
  printf("],\"allocs\":[");
  for (unsigned i = 0; i < NS; i++) printf("%s%lu", i ? "," : "", n_allocs[i]);
  printf("],\"frees\":[");
  for (unsigned i = 0; i < NS; i++) printf("%s%lu", i ? "," : "", n_frees[i]);
  printf("],\"live\":[");
  for (unsigned i = 0; i < NS; i++) printf("%s%u", i ? "," : "", kept[i]);
  printf("],\"peak\":[");
  for (unsigned i = 0; i < NS; i++) printf("%s%lu", i ? "," : "", n_live_peak[i]);
  printf("]}\n");
  fflush(stdout);
  return 0;
}
