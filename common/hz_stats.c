#include "hz_stats.h"
#include "hz_line.h"
#include "hz_options.h"

_Atomic uint64_t hz_stat_counters[HZ_STAT_COUNT];

static const char *const hz_stat_docs[HZ_STAT_COUNT] = {
#define HZ_STAT_DOC(name, doc) doc,
  HZ_STAT_TABLE(HZ_STAT_DOC)
#undef HZ_STAT_DOC
};

void hz_stats_print(int fd) {
  hz_line_usage usage;
  hz_line_get_usage(&usage);
  hz_write_str(fd, "[hakozuna " HZ_LINE_NAME "] statistics\n");
  for (int i = 0; i < HZ_STAT_COUNT; i++) {
    hz_write_str(fd, "  ");
    uint64_t v = hz_stat_get((hz_stat_id)i);
    hz_write_u64(fd, v);
    hz_write_str(fd, "\t");
    hz_write_str(fd, hz_stat_docs[i]);
    hz_write_str(fd, "\n");
  }
  hz_write_str(fd, "  ");
  hz_write_u64(fd, usage.mapped_bytes);
  hz_write_str(fd, "\tbytes mapped now\n  ");
  hz_write_u64(fd, usage.in_use_bytes);
  hz_write_str(fd, "\tbytes in use (live blocks and thread caches)\n  ");
  hz_write_u64(fd, usage.large_bytes);
  hz_write_str(fd, "\tbytes in large blocks\n  ");
  hz_write_u64(fd, usage.threads_live);
  hz_write_str(fd, "\tthreads with a heap now\n");
}
