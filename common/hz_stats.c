/* HZ_STATS: the counters, the peak gauges and the report printed at exit
 * (one table, or with HZ_STATS=json one JSON object). Shared by every line:
 * a line supplies its per-class counts (hz_line_get_class_stats) and its
 * memory figures (hz_line_get_usage). Nothing here allocates. */
#include "hz_stats.h"
#include "hz_atomic.h"
#include "hz_line.h"
#include "hz_options.h"

#include <string.h>

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

static const uint64_t hz_band_bound[HZ_STAT_BANDS] = {
#define HZ_STAT_BAND_BOUND(bound) bound,
  HZ_STAT_BAND_TABLE(HZ_STAT_BAND_BOUND)
#undef HZ_STAT_BAND_BOUND
  0 /* large */
};

/* ---- peak gauges: index HZ_STAT_BANDS is the total over all bands ---- */

static _Atomic int64_t hz_band_live[HZ_STAT_BANDS + 1], hz_band_live_bytes[HZ_STAT_BANDS + 1];
static _Atomic int64_t hz_band_peak[HZ_STAT_BANDS + 1], hz_band_peak_bytes[HZ_STAT_BANDS + 1];

static void hz_peak_raise(_Atomic int64_t *peak, int64_t v) {
  int64_t old = atomic_load_explicit(peak, memory_order_relaxed);
  while (v > old &&
         !atomic_compare_exchange_weak_explicit(peak, &old, v, memory_order_relaxed, memory_order_relaxed)) {
  }
}

static void hz_gauge_add(unsigned i, int64_t blocks, int64_t bytes) {
  int64_t n = atomic_fetch_add_explicit(&hz_band_live[i], blocks, memory_order_relaxed) + blocks;
  int64_t b = atomic_fetch_add_explicit(&hz_band_live_bytes[i], bytes, memory_order_relaxed) + bytes;
  if (blocks > 0) hz_peak_raise(&hz_band_peak[i], n);
  if (bytes > 0) hz_peak_raise(&hz_band_peak_bytes[i], b);
}

void hz_stat_band_sample(unsigned band, int64_t blocks, int64_t bytes) {
  if (band >= HZ_STAT_BANDS) band = HZ_STAT_BAND_LARGE;
  hz_gauge_add(band, blocks, bytes);
  hz_gauge_add(HZ_STAT_BANDS, blocks, bytes);
}

void hz_stat_large(int sign, uint64_t bytes) {
  hz_stat_add(sign > 0 ? HZ_STAT_LARGE_ALLOCS : HZ_STAT_LARGE_FREES, 1);
  if (hz_options.stats) hz_stat_band_sample(HZ_STAT_BAND_LARGE, sign, sign * (int64_t)bytes);
}

/* ---- gathering ---- */

typedef struct hz_band_row {
  uint64_t allocs, frees, live, live_bytes, peak, peak_bytes;
} hz_band_row;

typedef struct hz_report {
  hz_band_row band[HZ_STAT_BANDS + 1];  /* the last row: total */
  hz_line_usage usage;
} hz_report;

static uint64_t hz_max_u64(uint64_t a, int64_t b) { return b > 0 && (uint64_t)b > a ? (uint64_t)b : a; }

static void hz_report_gather(hz_report *r) {
  memset(r, 0, sizeof(*r));
  hz_line_get_usage(&r->usage);
  hz_line_class_stats cls[256];
  unsigned n = hz_line_get_class_stats(cls, 256);
  if (n > 256) n = 256;
  for (unsigned i = 0; i < n; i++) {
    hz_band_row *row = &r->band[hz_stat_band_of(cls[i].size)];
    /* Derived frees of a live thread are read racily: never below zero live. */
    uint64_t frees = cls[i].frees < cls[i].allocs ? cls[i].frees : cls[i].allocs;
    row->allocs += cls[i].allocs;
    row->frees += frees;
    row->live += cls[i].allocs - frees;
    row->live_bytes += (cls[i].allocs - frees) * cls[i].size;
  }
  hz_band_row *large = &r->band[HZ_STAT_BAND_LARGE];
  large->allocs = hz_stat_get(HZ_STAT_LARGE_ALLOCS);
  large->frees = hz_stat_get(HZ_STAT_LARGE_FREES);
  if (large->frees > large->allocs) large->frees = large->allocs;
  large->live = large->allocs - large->frees;
  large->live_bytes = r->usage.large_bytes;
  hz_band_row *total = &r->band[HZ_STAT_BANDS];
  for (unsigned b = 0; b < HZ_STAT_BANDS; b++) {
    hz_band_row *row = &r->band[b];
    /* The report itself is a sample: a peak is never below the live count. */
    row->peak = hz_max_u64(row->live, atomic_load_explicit(&hz_band_peak[b], memory_order_relaxed));
    row->peak_bytes =
        hz_max_u64(row->live_bytes, atomic_load_explicit(&hz_band_peak_bytes[b], memory_order_relaxed));
    total->allocs += row->allocs;
    total->frees += row->frees;
    total->live += row->live;
    total->live_bytes += row->live_bytes;
  }
  total->peak = hz_max_u64(total->live, atomic_load_explicit(&hz_band_peak[HZ_STAT_BANDS], memory_order_relaxed));
  total->peak_bytes =
      hz_max_u64(total->live_bytes, atomic_load_explicit(&hz_band_peak_bytes[HZ_STAT_BANDS], memory_order_relaxed));
}

/* ---- formatting (write(2) only) ---- */

static void hz_write_pad(int fd, const char *s, unsigned width, bool right) {
  size_t len = strlen(s);
  char spaces[40];
  unsigned pad = len < width ? (unsigned)(width - len) : 0;
  if (pad >= sizeof(spaces)) pad = sizeof(spaces) - 1;
  memset(spaces, ' ', pad);
  spaces[pad] = '\0';
  if (right) hz_write_str(fd, spaces);
  hz_write_str(fd, s);
  if (!right) hz_write_str(fd, spaces);
}

static char *hz_fmt_u64(char *buf, size_t size, uint64_t v) {
  char *p = buf + size - 1;
  *p = '\0';
  do {
    *--p = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0 && p > buf);
  return p;
}

/* Appends `s` to the string in `out` (capacity `size`), truncating. Written
 * out instead of strncat: gcc 12 -O2/-O3 dropped the terminating NUL store of
 * hz_fmt_u64's buffer before an inlined strncat of it (the "<= 1 KiB" label
 * came out with stack bytes after the digit). */
static void hz_append(char *out, size_t size, const char *s) {
  size_t n = strlen(out);
  while (*s != '\0' && n + 1 < size) out[n++] = *s++;
  out[n] = '\0';
}

/* "512 B", "1.5 KiB", "12.0 MiB" ... (rounded down to a tenth) */
static void hz_fmt_bytes(char *out, size_t size, uint64_t v) {
  static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  unsigned u = 0;
  uint64_t scale = 1;
  while (u + 1 < sizeof(units) / sizeof(units[0]) && v / scale >= 1024) {
    scale *= 1024;
    u++;
  }
  char num[24];
  out[0] = '\0';
  if (u == 0) {
    hz_append(out, size, hz_fmt_u64(num, sizeof(num), v));
  } else {
    uint64_t tenths = (uint64_t)((__uint128_t)v * 10 / scale);
    hz_append(out, size, hz_fmt_u64(num, sizeof(num), tenths / 10));
    char d[3] = {'.', (char)('0' + tenths % 10), '\0'};
    hz_append(out, size, d);
  }
  hz_append(out, size, " ");
  hz_append(out, size, units[u]);
}

static void hz_band_label(char *out, size_t size, unsigned band) {
  out[0] = '\0';
  if (band == HZ_STAT_BAND_LARGE) {
    hz_append(out, size, "large");
    return;
  }
  hz_append(out, size, "<= ");
  uint64_t bound = hz_band_bound[band];
  char text[24];
  if (bound >= 1024) {
    hz_append(out, size, hz_fmt_u64(text, sizeof(text), bound >> 10));
    hz_append(out, size, " KiB");
  } else {
    hz_fmt_bytes(text, sizeof(text), bound);
    hz_append(out, size, text);
  }
}

static void hz_cell_u64(int fd, uint64_t v, unsigned width) {
  char num[24];
  hz_write_pad(fd, hz_fmt_u64(num, sizeof(num), v), width, true);
}

static void hz_cell_bytes(int fd, uint64_t v, unsigned width) {
  char text[32];
  hz_fmt_bytes(text, sizeof(text), v);
  hz_write_pad(fd, text, width, true);
}

static void hz_line_bytes(int fd, const char *label, uint64_t v, const char *note) {
  hz_write_str(fd, "  ");
  hz_write_pad(fd, label, 22, false);
  hz_cell_bytes(fd, v, 12);
  hz_write_str(fd, "  ");
  hz_write_str(fd, note);
  hz_write_str(fd, "\n");
}

static void hz_line_u64(int fd, const char *label, uint64_t v, const char *note) {
  hz_write_str(fd, "  ");
  hz_write_pad(fd, label, 22, false);
  hz_cell_u64(fd, v, 12);
  hz_write_str(fd, "  ");
  hz_write_str(fd, note);
  hz_write_str(fd, "\n");
}

static uint64_t hz_returned_bytes(void) {
  return hz_stat_get(HZ_STAT_OS_DECOMMITTED) + hz_stat_get(HZ_STAT_OS_UNMAPPED);
}

hz_export void hz_stats_print(int fd) {
  hz_report r;
  hz_report_gather(&r);
  hz_write_str(fd, "[hakozuna " HZ_LINE_NAME "] statistics\n");
  hz_write_str(fd, "  size band       allocs        frees         live    live bytes    peak live*   peak bytes*\n");
  for (unsigned b = 0; b <= HZ_STAT_BANDS; b++) {
    const hz_band_row *row = &r.band[b];
    char label[32] = "total";
    if (b < HZ_STAT_BANDS) hz_band_label(label, sizeof(label), b);
    hz_write_str(fd, "  ");
    hz_write_pad(fd, label, 10, false);
    hz_cell_u64(fd, row->allocs, 13);
    hz_cell_u64(fd, row->frees, 13);
    hz_cell_u64(fd, row->live, 13);
    hz_cell_bytes(fd, row->live_bytes, 14);
    hz_cell_u64(fd, row->peak, 14);
    hz_cell_bytes(fd, row->peak_bytes, 13);
    hz_write_str(fd, "\n");
  }
  hz_write_str(fd, "  * peak: the highest live count sampled at thread-cache refills and flushes\n"
                   "    (large blocks: at every allocation and free) and at exit; a thread's share\n"
                   "    may be up to one cache's worth out of date (docs/options.md).\n");
  hz_write_str(fd, "memory\n");
  hz_line_bytes(fd, "mapped now", r.usage.mapped_bytes, "address space held read-write (reserved)");
  hz_line_bytes(fd, "committed now", r.usage.committed_bytes,
                "at most: mapped minus free pages returned to the OS or never touched");
  hz_line_bytes(fd, "in use now", r.usage.in_use_bytes, "live blocks and thread caches");
  hz_line_bytes(fd, "returned to the OS", hz_returned_bytes(), "in total: madvise plus munmap");
  hz_line_bytes(fd, "mapped in total", hz_stat_get(HZ_STAT_OS_MAPPED), "in total, over the whole run");
  hz_write_str(fd, "remote frees\n");
  hz_line_u64(fd, "sent", hz_stat_get(HZ_STAT_REMOTE_SENT), "blocks sent to the thread that owns them");
  hz_line_u64(fd, "received", hz_stat_get(HZ_STAT_REMOTE_COLLECTED), "blocks collected by their owner");
  hz_write_str(fd, "threads\n");
  hz_line_u64(fd, "seen", hz_stat_get(HZ_STAT_THREADS_STARTED), "threads that allocated (heaps attached)");
  hz_line_u64(fd, "live now", r.usage.threads_live, "threads owning a heap now");
  hz_write_str(fd, "counters\n");
  for (int i = 0; i < HZ_STAT_COUNT; i++) {
    hz_write_str(fd, "  ");
    hz_write_u64(fd, hz_stat_get((hz_stat_id)i));
    hz_write_str(fd, "\t");
    hz_write_str(fd, hz_stat_docs[i]);
    hz_write_str(fd, "\n");
  }
  hz_write_str(fd, "  ");
  hz_write_u64(fd, r.usage.mapped_bytes);
  hz_write_str(fd, "\tbytes mapped now\n  ");
  hz_write_u64(fd, r.usage.in_use_bytes);
  hz_write_str(fd, "\tbytes in use (live blocks and thread caches)\n  ");
  hz_write_u64(fd, r.usage.large_bytes);
  hz_write_str(fd, "\tbytes in large blocks\n  ");
  hz_write_u64(fd, r.usage.threads_live);
  hz_write_str(fd, "\tthreads with a heap now\n");
}

/* ---- JSON ---- */

static void hz_json_key(int fd, const char *name, int *first) {
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
}

static void hz_json_field(int fd, const char *name, uint64_t value, int *first) {
  hz_json_key(fd, name, first);
  hz_write_u64(fd, value);
}

static void hz_json_row(int fd, const hz_band_row *row, int *first) {
  hz_json_field(fd, "allocs", row->allocs, first);
  hz_json_field(fd, "frees", row->frees, first);
  hz_json_field(fd, "live", row->live, first);
  hz_json_field(fd, "live_bytes", row->live_bytes, first);
  hz_json_field(fd, "peak_live", row->peak, first);
  hz_json_field(fd, "peak_bytes", row->peak_bytes, first);
}

void hz_stats_print_json(int fd) {
  hz_report r;
  hz_report_gather(&r);
  int first = 1;
  hz_write_str(fd, "{\"hakozuna\":{\"line\":\"" HZ_LINE_NAME "\",\"bands\":[");
  for (unsigned b = 0; b < HZ_STAT_BANDS; b++) {
    char label[32];
    hz_band_label(label, sizeof(label), b);
    hz_write_str(fd, b ? ",{\"band\":\"" : "{\"band\":\"");
    hz_write_str(fd, label);
    hz_write_str(fd, "\",");
    first = 1;
    hz_json_field(fd, "max_size", b == HZ_STAT_BAND_LARGE ? 0 : hz_band_bound[b], &first);
    hz_json_row(fd, &r.band[b], &first);
    hz_write_str(fd, "}");
  }
  hz_write_str(fd, "],\"total\":{");
  first = 1;
  hz_json_row(fd, &r.band[HZ_STAT_BANDS], &first);
  hz_write_str(fd, "},\"memory\":{");
  first = 1;
  hz_json_field(fd, "mapped_now", r.usage.mapped_bytes, &first);
  hz_json_field(fd, "committed_now", r.usage.committed_bytes, &first);
  hz_json_field(fd, "in_use_now", r.usage.in_use_bytes, &first);
  hz_json_field(fd, "returned_to_os", hz_returned_bytes(), &first);
  hz_json_field(fd, "mapped_total", hz_stat_get(HZ_STAT_OS_MAPPED), &first);
  hz_write_str(fd, "},\"remote_frees\":{");
  first = 1;
  hz_json_field(fd, "sent", hz_stat_get(HZ_STAT_REMOTE_SENT), &first);
  hz_json_field(fd, "received", hz_stat_get(HZ_STAT_REMOTE_COLLECTED), &first);
  hz_write_str(fd, "},\"threads\":{");
  first = 1;
  hz_json_field(fd, "seen", hz_stat_get(HZ_STAT_THREADS_STARTED), &first);
  hz_json_field(fd, "live", r.usage.threads_live, &first);
  hz_write_str(fd, "},\"counters\":{");
  first = 1;
  for (int i = 0; i < HZ_STAT_COUNT; i++)
    hz_json_field(fd, hz_stat_names[i], hz_stat_get((hz_stat_id)i), &first);
  hz_write_str(fd, "},\"now\":{");
  first = 1;
  hz_json_field(fd, "MAPPED_BYTES", r.usage.mapped_bytes, &first);
  hz_json_field(fd, "IN_USE_BYTES", r.usage.in_use_bytes, &first);
  hz_json_field(fd, "LARGE_BYTES", r.usage.large_bytes, &first);
  hz_json_field(fd, "FREE_BYTES", r.usage.free_bytes, &first);
  hz_json_field(fd, "COMMITTED_BYTES", r.usage.committed_bytes, &first);
  hz_json_field(fd, "THREADS_LIVE", r.usage.threads_live, &first);
  hz_write_str(fd, "}}}\n");
}
