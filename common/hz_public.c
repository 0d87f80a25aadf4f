/* The hz_* calls of include/hakozuna.h. */
#include "../include/hakozuna.h"
#include "hz_atomic.h"
#include "hz_line.h"
#include "hz_options.h"
#include "hz_stats.h"

#ifndef HZ_VERSION_STRING
#define HZ_VERSION_STRING "0.0.0"
#endif

hz_export const char *hz_version(void) { return HZ_VERSION_STRING; }

hz_export const char *hz_line_name(void) { return HZ_LINE_NAME; }

/* hz_stats_print is defined in hz_stats.c; exported from there. */

hz_export int64_t hz_option_get(const char *name, int *found) {
  hz_line_init();
  return hz_options_lookup(name, found);
}
