#include "hz_options.h"
#include "hz_atomic.h"

#include <string.h>
#include <unistd.h>

extern char **environ;

hz_options_t hz_options = {
#define HZ_OPTION_DEFAULT(field, env, def, range, doc, help) .field = (def),
  HZ_OPTION_TABLE(HZ_OPTION_DEFAULT)
#undef HZ_OPTION_DEFAULT
};

typedef struct hz_option_desc {
  const char *env;
  int64_t *value;
  const char *doc;
} hz_option_desc;

static const hz_option_desc hz_option_descs[] = {
#define HZ_OPTION_DESC(field, env, def, range, doc, help) {env, &hz_options.field, doc},
  HZ_OPTION_TABLE(HZ_OPTION_DESC)
#undef HZ_OPTION_DESC
};

#define HZ_OPTION_COUNT (sizeof(hz_option_descs) / sizeof(hz_option_descs[0]))

static const char *hz_env_lookup(const char *name) {
  size_t len = strlen(name);
  if (environ == NULL) return NULL;
  for (char **e = environ; *e != NULL; e++)
    if (strncmp(*e, name, len) == 0 && (*e)[len] == '=') return *e + len + 1;
  return NULL;
}

/* Accepts decimal integers, "on/yes/true" and "off/no/false"; anything else
 * (like HZ_STATS=json) maps to 1 so a switch still turns on. */
static int64_t hz_parse_value(const char *s, int64_t fallback) {
  if (s == NULL || *s == '\0') return fallback;
  if (!strcmp(s, "on") || !strcmp(s, "yes") || !strcmp(s, "true")) return 1;
  if (!strcmp(s, "off") || !strcmp(s, "no") || !strcmp(s, "false")) return 0;
  if (!strcmp(s, "json")) return 2;  /* HZ_STATS=json */
  int neg = 0;
  if (*s == '-') { neg = 1; s++; }
  if (*s < '0' || *s > '9') return 1;
  int64_t v = 0;
  for (; *s >= '0' && *s <= '9'; s++) {
    if (v > (INT64_MAX - 9) / 10) break;
    v = v * 10 + (*s - '0');
  }
  return neg ? -v : v;
}

static int64_t hz_clamp(int64_t v, int64_t lo, int64_t hi) {
  return v < lo ? lo : v > hi ? hi : v;
}

void hz_options_init(void) {
  for (size_t i = 0; i < HZ_OPTION_COUNT; i++) {
    const char *s = hz_env_lookup(hz_option_descs[i].env);
    if (s != NULL) *hz_option_descs[i].value = hz_parse_value(s, *hz_option_descs[i].value);
  }
  hz_options.tcache_scale = hz_clamp(hz_options.tcache_scale, 1, 1000);
  hz_options.arena_gb = hz_clamp(hz_options.arena_gb, 1, 4096);
  hz_options.large_cache_mb = hz_clamp(hz_options.large_cache_mb, 0, 1 << 20);
  if (hz_options.purge_delay_ms < -1) hz_options.purge_delay_ms = -1;
}

int64_t hz_options_lookup(const char *name, int *found) {
  for (size_t i = 0; name != NULL && i < HZ_OPTION_COUNT; i++) {
    if (strcmp(hz_option_descs[i].env, name) == 0) {
      if (found) *found = 1;
      return *hz_option_descs[i].value;
    }
  }
  if (found) *found = 0;
  return 0;
}

void hz_write_str(int fd, const char *s) {
  size_t len = strlen(s);
  while (len > 0) {
    ssize_t n = write(fd, s, len);
    if (n <= 0) return;
    s += n;
    len -= (size_t)n;
  }
}

void hz_write_u64(int fd, uint64_t v) {
  char buf[24];
  int i = (int)sizeof(buf) - 1;
  buf[i] = '\0';
  do {
    buf[--i] = (char)('0' + v % 10);
    v /= 10;
  } while (v != 0);
  hz_write_str(fd, buf + i);
}

void hz_write_i64(int fd, int64_t v) {
  if (v < 0) {
    hz_write_str(fd, "-");
    hz_write_u64(fd, (uint64_t)0 - (uint64_t)v);
  } else {
    hz_write_u64(fd, (uint64_t)v);
  }
}

void hz_options_print(void) {
  hz_write_str(2, "[hakozuna " HZ_LINE_NAME "] options:\n");
  for (size_t i = 0; i < HZ_OPTION_COUNT; i++) {
    hz_write_str(2, "  ");
    hz_write_str(2, hz_option_descs[i].env);
    hz_write_str(2, "=");
    hz_write_i64(2, *hz_option_descs[i].value);
    hz_write_str(2, "  (");
    hz_write_str(2, hz_option_descs[i].doc);
    hz_write_str(2, ")\n");
  }
}
