/* hakozuna: the few calls beyond the standard malloc API.
 *
 * Every hakozuna library (libhz3.so, libhz4.so, ...) exports the complete
 * glibc malloc surface plus these functions. A program does not need them to
 * use hakozuna: LD_PRELOAD or linking is enough. */
#ifndef HAKOZUNA_H
#define HAKOZUNA_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The library version, e.g. "0.1.0". */
const char *hz_version(void);
/* The allocator line of the loaded library, e.g. "hz3". */
const char *hz_line_name(void);
/* Writes the HZ_STATS summary to file descriptor fd (no allocation). */
void hz_stats_print(int fd);
/* The value in force of option `name` (e.g. "HZ_PURGE_DELAY_MS");
 * 0 and *found = 0 when there is no such option. `found` may be NULL. */
int64_t hz_option_get(const char *name, int *found);

#ifdef __cplusplus
}
#endif
#endif
