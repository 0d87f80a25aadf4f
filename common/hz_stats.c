#include "hz_stats.h"
#include "hz_atomic.h"
#include "hz_line.h"
#include "hz_options.h"

_Atomic uint64_t hz_stat_counters[HZ_STAT_COUNT];

static const char *const hz_stat_names[HZ_STAT_COUNT] = {
#define HZ_STAT_NAME(name, doc) #name,
  HZ_STAT_TABLE(HZ_STAT_NAME)
#undef HZ_STAT_NAME
};

static const char *const hz_stat_docs[HZ_STAT_COUNT] = {
#define HZ_STAT_DOC(name, doc) doc,
  HZ_STAT_TABLE(HZ_STAT_DOC)
#undef HZ_STAT_DOC
};

hz_export void hz_stats_print(int fd) {
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

static void hz_json_field(int fd, const char *name, uint64_t value, int *first) {
  hz_write_str(fd, *first ? "\"" : ",\"");
  *first = 0;
  /* Counter names are upper-case C identifiers: emit them in lower case. */
  char key[64];
  size_t i = 0;
  for (; name[i] != '\0' && i + 1 < sizeof(key); i++)
    key[i] = (name[i] >= 'A' && name[i] <= 'Z') ? (char)(name[i] - 'A' + 'a') : name[i];
  key[i] = '\0';
  hz_write_str(fd, key);
  hz_write_str(fd, "\":");
  hz_write_u64(fd, value);
}

void hz_stats_print_json(int fd) {
  hz_line_usage usage;
  hz_line_get_usage(&usage);
  int first = 1;
  hz_write_str(fd, "{\"hakozuna\":{\"line\":\"" HZ_LINE_NAME "\",\"counters\":{");
  for (int i = 0; i < HZ_STAT_COUNT; i++)
    hz_json_field(fd, hz_stat_names[i], hz_stat_get((hz_stat_id)i), &first);
  hz_write_str(fd, "},\"now\":{");
  first = 1;
  hz_json_field(fd, "MAPPED_BYTES", usage.mapped_bytes, &first);
  hz_json_field(fd, "IN_USE_BYTES", usage.in_use_bytes, &first);
  hz_json_field(fd, "LARGE_BYTES", usage.large_bytes, &first);
  hz_json_field(fd, "FREE_BYTES", usage.free_bytes, &first);
  hz_json_field(fd, "THREADS_LIVE", usage.threads_live, &first);
  hz_write_str(fd, "}}}\n");
}
