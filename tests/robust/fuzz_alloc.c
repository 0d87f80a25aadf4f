/* Allocation-sequence fuzzer with a shadow model (prior-art.md §2 "Fuzzers over
 * random alloc/free/realloc sequences with shadow bookkeeping").
 *
 * The input is decoded into a sequence of operations on 64 slots: malloc,
 * calloc, realloc (grow, shrink, to 0, from NULL), posix_memalign /
 * aligned_alloc / memalign / valloc / pvalloc, free, free_sized,
 * malloc_usable_size, frees done by a helper thread (cross-thread frees),
 * blocks allocated by the helper and freed here, helper thread exit and
 * restart, malloc_trim, and calls that must fail (overflow, bad alignment).
 * A shadow model checks every result:
 *   - 16-byte alignment of every block and the requested alignment,
 *   - malloc_usable_size >= requested size, and [p, p+usable) is writable,
 *   - calloc memory reads zero,
 *   - realloc keeps min(old, new) bytes of content,
 *   - no two live blocks overlap (by usable size),
 *   - the contents of every live block are intact when it is freed,
 *   - failing calls return NULL / the error code with the documented errno,
 *     and a failed realloc leaves the old block valid.
 * A violation prints what went wrong and aborts (libFuzzer saves the input).
 *
 * Two builds of this file:
 *   - with clang -fsanitize=fuzzer (no HZ_FUZZ_REPLAY): the libFuzzer target,
 *     linked against a coverage-instrumented build of the line's DSO;
 *   - with -DHZ_FUZZ_REPLAY (any compiler): a main() that replays files and
 *     directories given as arguments (the corpus seeds and the regression
 *     inputs) and then runs `--random N` pseudo-random inputs; registered as
 *     an ordinary suite test, so it also runs where clang is missing.
 *
 * Input format (see docs/reliability.md): a stream of one-byte opcodes, each
 * followed by the parameter bytes it reads; reads past the end return 0, so
 * every byte string is a valid program. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* C23 entry points; glibc 2.36 headers do not declare them yet. Weak so the
 * replay build also runs on plain libc (they are skipped there). */
extern void free_sized(void *p, size_t size) __attribute__((weak));
extern void free_aligned_sized(void *p, size_t align, size_t size) __attribute__((weak));

#define NSLOT 64
#define LIVE_CAP ((size_t)160 << 20) /* total live bytes the model allows */
#define FULL_CHECK ((size_t)128 << 10) /* blocks above are checked sparsely */

typedef struct {
  unsigned char *p;
  size_t size;    /* requested */
  size_t usable;  /* malloc_usable_size at allocation */
  size_t align;   /* requested alignment (16 for plain calls) */
  uint64_t seed;  /* content pattern */
  const char *how;
} slot_t;

static slot_t slots[NSLOT];
static size_t live_bytes;
static uint64_t seed_counter;
static const uint8_t *in_cur, *in_end;
static unsigned long op_index;
static const char *op_name = "?";

/* ---- failure reporting ---------------------------------------------------- */

static void fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
#include <stdarg.h>
static void fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fprintf(stderr, "fuzz_alloc: op #%lu (%s): ", op_index, op_name);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stderr);
  abort();
}

/* ---- input decoding ------------------------------------------------------- */

static unsigned byte_in(void) { return in_cur < in_end ? *in_cur++ : 0; }
static unsigned u16_in(void) {
  unsigned lo = byte_in();
  return lo | (byte_in() << 8);
}

/* Sizes: tiny 0..255, small up to 4 KiB, medium up to 320 KiB (across hz3's
 * 256 KiB class limit), large 256 KiB .. 2 MiB, huge 4 MiB - 64 KiB .. 6 MiB
 * (more than one 4 MiB slot). */
static size_t size_in(void) {
  unsigned sel = byte_in();
  size_t v = u16_in();
  if (sel < 0x50) return v & 0xff;
  if (sel < 0xA0) return v & 0xfff;
  if (sel < 0xE0) return v * 5;
  if (sel < 0xFC) return ((size_t)256 << 10) + v * 28;
  return ((size_t)4 << 20) - 65536 + v * 32;
}

static slot_t *slot_in(void) { return &slots[byte_in() % NSLOT]; }

/* ---- content pattern (position-addressable, so big blocks can be checked
 * sparsely) -------------------------------------------------------------- */

typedef uint64_t __attribute__((may_alias, aligned(1))) u64a;

static inline uint64_t pat_word(uint64_t seed, size_t word) {
  uint64_t x = seed + word * 0x9E3779B97F4A7C15ull;
  x ^= x >> 31;
  x *= 0xBF58476D1CE4E5B9ull;
  x ^= x >> 29;
  return x;
}

static void pat_range(unsigned char *p, size_t from, size_t to, uint64_t seed, int check,
                      const char *what) {
  /* word-granular; `to` may end mid-word: only bytes below `to` are used */
  for (size_t off = from & ~(size_t)7; off < to; off += 8) {
    uint64_t w = pat_word(seed, off / 8);
    size_t lo = off < from ? from - off : 0;
    size_t hi = to - off < 8 ? to - off : 8;
    if (lo == 0 && hi == 8) {
      if (check) {
        if (*(u64a *)(p + off) != w)
          fail("%s: content of block %p (+%zu) changed: %016llx, expected %016llx", what,
               (void *)p, off, (unsigned long long)*(u64a *)(p + off), (unsigned long long)w);
      } else {
        *(u64a *)(p + off) = w;
      }
      continue;
    }
    for (size_t b = lo; b < hi; b++) {
      unsigned char e = (unsigned char)(w >> (8 * b));
      if (check) {
        if (p[off + b] != e)
          fail("%s: content of block %p (+%zu) changed: %02x, expected %02x", what, (void *)p,
               off + b, p[off + b], e);
      } else {
        p[off + b] = e;
      }
    }
  }
}

/* Fills (check=0) or verifies (check=1) the pattern of a block of `size`
 * bytes: all of them for blocks up to FULL_CHECK, else the first 64 KiB, the
 * first 64 bytes of every page and the last 4 KiB. Only bytes below `limit`
 * are touched (a realloc checks the kept prefix of the old layout). */
static void clip_range(unsigned char *p, size_t from, size_t to, size_t limit, uint64_t seed,
                       int check, const char *what) {
  if (to > limit) to = limit;
  if (from < to) pat_range(p, from, to, seed, check, what);
}

static void pattern_upto(unsigned char *p, size_t size, size_t limit, uint64_t seed, int check,
                         const char *what) {
  if (size <= FULL_CHECK) {
    clip_range(p, 0, size, limit, seed, check, what);
    return;
  }
  clip_range(p, 0, 65536, limit, seed, check, what);
  for (size_t off = 65536; off < size - 4096; off += 4096)
    clip_range(p, off, off + 64, limit, seed, check, what);
  clip_range(p, size - 4096, size, limit, seed, check, what);
}

static void pattern(unsigned char *p, size_t size, uint64_t seed, int check, const char *what) {
  pattern_upto(p, size, size, seed, check, what);
}

static void check_zero(const unsigned char *p, size_t size, const char *what) {
  size_t step = size <= FULL_CHECK ? 1 : 509; /* odd stride: every page is sampled */
  for (size_t i = 0; i < size; i += step)
    if (p[i] != 0) fail("%s: byte %zu of %zu is %02x, not zero", what, i, size, p[i]);
  if (size && p[size - 1] != 0) fail("%s: last byte is %02x, not zero", what, p[size - 1]);
}

/* ---- the model ------------------------------------------------------------ */

static size_t extent(const slot_t *s) { return s->usable > s->size ? s->usable : (s->size ? s->size : 1); }

static void check_no_overlap(const slot_t *s) {
  uintptr_t a0 = (uintptr_t)s->p, a1 = a0 + extent(s);
  for (int i = 0; i < NSLOT; i++) {
    const slot_t *o = &slots[i];
    if (o == s || o->p == NULL) continue;
    uintptr_t b0 = (uintptr_t)o->p, b1 = b0 + extent(o);
    if (a0 < b1 && b0 < a1)
      fail("new block [%p, +%zu) (%s) overlaps live block [%p, +%zu) (%s, slot %d)",
           (void *)s->p, extent(s), s->how, (void *)o->p, extent(o), o->how, i);
  }
}

/* A block just came back from the allocator: check it and record it. */
static void adopt(slot_t *s, void *p, size_t size, size_t align, const char *how, int zeroed) {
  if (p == NULL) fail("%s(%zu, align %zu) returned NULL (errno %d)", how, size, align, errno);
  if ((uintptr_t)p % 16 != 0) fail("%s(%zu) = %p is not 16-byte aligned", how, size, p);
  if (align > 16 && (uintptr_t)p % align != 0)
    fail("%s(%zu, align %zu) = %p is misaligned", how, size, align, p);
  size_t usable = malloc_usable_size(p);
  if (usable < size) fail("%s(%zu) = %p: malloc_usable_size %zu < request", how, size, p, usable);
  s->p = p;
  s->size = size;
  s->usable = usable;
  s->align = align;
  s->how = how;
  s->seed = ++seed_counter * 0xD1B54A32D192ED03ull;
  check_no_overlap(s);
  if (zeroed) check_zero(p, size, how);
  pattern(p, size, s->seed, 0, how);
  live_bytes += size;
}

static void forget(slot_t *s) {
  live_bytes -= s->size;
  memset(s, 0, sizeof(*s));
}

static void verify(const slot_t *s, const char *what) { pattern(s->p, s->size, s->seed, 1, what); }

static int room_for(size_t size) { return live_bytes + size <= LIVE_CAP; }

/* Releases what a slot holds (verified) so it can take a new block. */
static void release(slot_t *s) {
  if (!s->p) return;
  verify(s, "free");
  free(s->p);
  forget(s);
}

/* ---- the helper thread (cross-thread frees and foreign-owned blocks) ------ */

enum { REQ_NONE, REQ_FREE, REQ_ALLOC, REQ_EXIT };
static struct {
  pthread_mutex_t mu;
  pthread_cond_t cv;
  int req, done, running;
  void *ptr;
  size_t size;
  pthread_t tid;
} helper = {PTHREAD_MUTEX_INITIALIZER, PTHREAD_COND_INITIALIZER, REQ_NONE, 0, 0, NULL, 0, 0};

static void *helper_main(void *arg) {
  (void)arg;
  pthread_mutex_lock(&helper.mu);
  for (;;) {
    while (helper.req == REQ_NONE) pthread_cond_wait(&helper.cv, &helper.mu);
    int req = helper.req;
    if (req == REQ_FREE) {
      free(helper.ptr);
    } else if (req == REQ_ALLOC) {
      helper.ptr = malloc(helper.size);
    }
    helper.req = REQ_NONE;
    helper.done = 1;
    pthread_cond_broadcast(&helper.cv);
    if (req == REQ_EXIT) break;
  }
  pthread_mutex_unlock(&helper.mu);
  return NULL;
}

/* Runs one request on the helper and waits for it (keeps runs deterministic). */
static void *helper_call(int req, void *ptr, size_t size) {
  if (!helper.running) {
    if (pthread_create(&helper.tid, NULL, helper_main, NULL) != 0) fail("pthread_create failed");
    helper.running = 1;
  }
  pthread_mutex_lock(&helper.mu);
  helper.req = req;
  helper.ptr = ptr;
  helper.size = size;
  helper.done = 0;
  pthread_cond_broadcast(&helper.cv);
  while (!helper.done) pthread_cond_wait(&helper.cv, &helper.mu);
  void *r = helper.ptr;
  pthread_mutex_unlock(&helper.mu);
  if (req == REQ_EXIT) {
    pthread_join(helper.tid, NULL);
    helper.running = 0;
  }
  return r;
}

/* ---- operations ----------------------------------------------------------- */

static volatile size_t v_zero; /* keeps the compiler from folding bad requests */

static void op_must_fail(void) {
  unsigned which = byte_in() % 8;
  void *const SENT = (void *)(uintptr_t)0x5e471e1;
  size_t huge = (size_t)PTRDIFF_MAX + 1 + v_zero;
  errno = 0;
  switch (which) {
  case 0: {
    op_name = "malloc(PTRDIFF_MAX+1)";
    void *p = malloc(huge);
    if (p != NULL || errno != ENOMEM) fail("= %p, errno %d (want NULL, ENOMEM)", p, errno);
    break;
  }
  case 1: {
    op_name = "calloc overflow";
    void *p = calloc(((size_t)1 << 33) + v_zero, (size_t)1 << 33);
    if (p != NULL || errno != ENOMEM) fail("= %p, errno %d (want NULL, ENOMEM)", p, errno);
    break;
  }
  case 2: {
    op_name = "posix_memalign(bad alignment)";
    void *m = SENT;
    size_t align = (byte_in() % 3 == 0) ? 24 + v_zero : (4 + v_zero);
    int r = posix_memalign(&m, align, 64);
    if (r != EINVAL || m != SENT) fail("align %zu: = %d, *memptr %p (want EINVAL, untouched)", align, r, m);
    break;
  }
  case 3: {
    op_name = "aligned_alloc(non-power-of-two)";
    /* C17 (DR 460) and glibc >= 2.38: EINVAL; older glibc rounds the
     * alignment up to 64. Either is accepted. */
    void *p = aligned_alloc(48 + v_zero, 96);
    if (p == NULL ? errno != EINVAL : (uintptr_t)p % 64 != 0)
      fail("= %p, errno %d (want NULL with EINVAL, or a 64-aligned block)", p, errno);
    free(p);
    break;
  }
  case 4: {
    op_name = "realloc(p, PTRDIFF_MAX+1)";
    slot_t *s = slot_in();
    if (!s->p) break;
    void *p = realloc(s->p, huge);
    if (p != NULL || errno != ENOMEM) fail("= %p, errno %d (want NULL, ENOMEM)", p, errno);
    verify(s, "block after failed realloc");
    break;
  }
  case 5: {
    op_name = "reallocarray overflow";
    slot_t *s = slot_in();
    void *p = reallocarray(s->p, ((size_t)1 << 40) + v_zero, (size_t)1 << 40);
    if (p != NULL || errno != ENOMEM) fail("= %p, errno %d (want NULL, ENOMEM)", p, errno);
    if (s->p) verify(s, "block after failed reallocarray");
    break;
  }
  case 6: {
    op_name = "posix_memalign(huge)";
    void *m = SENT;
    int r = posix_memalign(&m, 64, huge);
    if (r != ENOMEM || m != SENT) fail("= %d, *memptr %p (want ENOMEM, untouched)", r, m);
    break;
  }
  default: {
    op_name = "free(NULL) keeps errno";
    errno = 1234;
    free(NULL);
    if (errno != 1234) fail("errno changed to %d", errno);
    break;
  }
  }
}

static void op_aligned(unsigned kind) {
  slot_t *s = slot_in();
  unsigned lg = byte_in() % 23; /* 1 .. 4 MiB */
  size_t align = (size_t)1 << lg;
  size_t size = size_in();
  release(s);
  if (!room_for(size)) return;
  void *p = NULL;
  switch (kind) {
  case 0: {
    op_name = "posix_memalign";
    void *const SENT = (void *)(uintptr_t)0x5e471e1;
    void *m = SENT;
    errno = 4321;
    int r = posix_memalign(&m, align, size);
    if (align < sizeof(void *)) {
      if (r != EINVAL || m != SENT) fail("align %zu: = %d, *memptr %p (want EINVAL)", align, r, m);
      return;
    }
    if (r != 0) fail("align %zu size %zu: = %d", align, size, r);
    if (errno != 4321) fail("errno changed to %d on success", errno);
    p = m;
    break;
  }
  case 1:
    op_name = "aligned_alloc";
    p = aligned_alloc(align, size);
    break;
  case 2:
    op_name = "memalign";
    if (lg > 4 && (byte_in() & 1)) { /* glibc rounds a non-power-of-two up */
      p = memalign(align - 8, size);
      break;
    }
    p = memalign(align, size);
    break;
  default:
    if (byte_in() & 1) {
      op_name = "valloc";
      align = 4096;
      p = valloc(size);
      break;
    } else {
    op_name = "pvalloc";
    align = 4096;
    p = pvalloc(size);
    if (p && malloc_usable_size(p) < ((size + 4095) & ~(size_t)4095))
      fail("pvalloc(%zu): usable %zu not rounded up to a page", size, malloc_usable_size(p));
    break;
    }
  }
  adopt(s, p, size, align < 16 ? 16 : align, op_name, 0);
}

static void run_op(unsigned code) {
  switch (code % 20) {
  case 0: case 1: case 2: { /* malloc is the most common call */
    op_name = "malloc";
    slot_t *s = slot_in();
    size_t size = size_in();
    release(s);
    if (!room_for(size)) return;
    adopt(s, malloc(size), size, 16, "malloc", 0);
    break;
  }
  case 3: {
    op_name = "calloc";
    slot_t *s = slot_in();
    size_t size = size_in();
    size_t n = 1 + byte_in() % 4;
    size_t each = size / n;
    release(s);
    if (!room_for(n * each)) return;
    adopt(s, calloc(n, each), n * each, 16, "calloc", 1);
    break;
  }
  case 4: case 5: {
    op_name = "realloc";
    slot_t *s = slot_in();
    size_t size = size_in();
    if (size == 0) size = 1; /* realloc(p, 0) is its own operation */
    if (!s->p) {
      if (!room_for(size)) return;
      adopt(s, realloc(NULL, size), size, 16, "realloc(NULL)", 0);
      return;
    }
    if (!room_for(size)) return;
    verify(s, "before realloc");
    slot_t old = *s;
    errno = 0;
    void *q = realloc(s->p, size);
    if (q == NULL) fail("realloc(%p, %zu -> %zu) failed, errno %d", (void *)old.p, old.size, size, errno);
    size_t keep = old.size < size ? old.size : size;
    pattern_upto(q, old.size, keep, old.seed, 1, "content kept by realloc");
    forget(s);
    /* refill under a new seed, then adopt (adopt writes the new pattern) */
    adopt(s, q, size, 16, "realloc", 0);
    break;
  }
  case 6: {
    op_name = "realloc(p, 0)";
    slot_t *s = slot_in();
    if (!s->p) return;
    verify(s, "before realloc(p, 0)");
    void *q = realloc(s->p, 0);
    if (q != NULL) fail("realloc(p, 0) = %p (glibc frees and returns NULL)", q);
    forget(s);
    break;
  }
  case 7: case 8:
    op_name = "free";
    release(slot_in());
    break;
  case 9: {
    op_name = "free_sized";
    slot_t *s = slot_in();
    if (!s->p) return;
    verify(s, "before free_sized");
    if (free_sized != NULL && s->align <= 16) free_sized(s->p, s->size);
    else if (free_aligned_sized != NULL) free_aligned_sized(s->p, s->align, s->size);
    else free(s->p);
    forget(s);
    break;
  }
  case 10: {
    op_name = "malloc_usable_size";
    slot_t *s = slot_in();
    if (!s->p) {
      if (malloc_usable_size(NULL) != 0) fail("malloc_usable_size(NULL) != 0");
      return;
    }
    size_t u = malloc_usable_size(s->p);
    if (u != s->usable) fail("usable size of %p changed: %zu, was %zu", (void *)s->p, u, s->usable);
    if (u > s->size) s->p[u - 1] = 0xA5; /* the whole usable range is ours */
    verify(s, "after touching the usable tail");
    break;
  }
  case 11: {
    op_name = "cross-thread free";
    slot_t *s = slot_in();
    if (!s->p) return;
    verify(s, "before cross-thread free");
    helper_call(REQ_FREE, s->p, 0);
    forget(s);
    break;
  }
  case 12: {
    op_name = "helper malloc";
    slot_t *s = slot_in();
    size_t size = size_in();
    release(s);
    if (!room_for(size)) return;
    adopt(s, helper_call(REQ_ALLOC, NULL, size), size, 16, "helper malloc", 0);
    break;
  }
  case 13: /* costly (a thread exit and a new thread): gated by a second byte */
    op_name = "helper exit";
    if (helper.running && byte_in() < 64) helper_call(REQ_EXIT, NULL, 0);
    break;
  case 14: /* costly (unmaps everything free): gated by a second byte */
    op_name = "malloc_trim";
    if (byte_in() < 32) malloc_trim(0);
    break;
  case 15:
    op_must_fail();
    break;
  default:
    op_aligned(code % 20 - 16); /* 16..19: posix_memalign, aligned_alloc, memalign, v/pvalloc */
    break;
  }
}

static void reset_all(void) {
  op_name = "end of input: free all";
  for (int i = 0; i < NSLOT; i++) release(&slots[i]);
  live_bytes = 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  in_cur = data;
  in_end = data + size;
  op_index = 0;
  while (in_cur < in_end) {
    unsigned code = byte_in();
    op_index++;
    run_op(code);
  }
  reset_all();
  return 0;
}

#ifdef HZ_FUZZ_REPLAY
/* ---- replay driver -------------------------------------------------------- */
#include <dirent.h>
#include <sys/stat.h>

static unsigned long replayed;

static int cmp_names(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

static void replay_file(const char *path) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    fprintf(stderr, "fuzz_replay: cannot open %s\n", path);
    exit(1);
  }
  static uint8_t buf[1 << 20];
  size_t n = fread(buf, 1, sizeof buf, f);
  fclose(f);
  uint8_t *copy = malloc(n ? n : 1); /* like libFuzzer: the input lives on the heap */
  memcpy(copy, buf, n);
  fprintf(stderr, "fuzz_replay: %s (%zu bytes)\n", path, n);
  LLVMFuzzerTestOneInput(copy, n);
  free(copy);
  replayed++;
}

static void replay_path(const char *path) {
  struct stat st;
  if (stat(path, &st) != 0) {
    fprintf(stderr, "fuzz_replay: %s does not exist\n", path);
    exit(1);
  }
  if (!S_ISDIR(st.st_mode)) {
    replay_file(path);
    return;
  }
  DIR *d = opendir(path);
  if (!d) exit(1);
  char **names = NULL;
  size_t count = 0;
  for (struct dirent *e; (e = readdir(d)) != NULL;) {
    if (e->d_name[0] == '.' || strstr(e->d_name, ".md")) continue;
    names = realloc(names, (count + 1) * sizeof *names);
    size_t len = strlen(path) + strlen(e->d_name) + 2;
    names[count] = malloc(len);
    snprintf(names[count], len, "%s/%s", path, e->d_name);
    count++;
  }
  closedir(d);
  qsort(names, count, sizeof *names, cmp_names);
  for (size_t i = 0; i < count; i++) {
    replay_path(names[i]);
    free(names[i]);
  }
  free(names);
}

int main(int argc, char **argv) {
  unsigned long random_runs = 0, seed = 1;
  for (int i = 1; i < argc; i++) {
    if (strcmp(argv[i], "--random") == 0 && i + 1 < argc) {
      random_runs = strtoul(argv[++i], NULL, 10);
    } else if (strcmp(argv[i], "--seed") == 0 && i + 1 < argc) {
      seed = strtoul(argv[++i], NULL, 10);
    } else {
      replay_path(argv[i]);
    }
  }
  /* Pseudo-random inputs: what the fuzzer would start from without corpus. */
  uint64_t x = seed * 0x9E3779B97F4A7C15ull + 1;
  static uint8_t buf[4096];
  for (unsigned long r = 0; r < random_runs; r++) {
    size_t len = 256 + (size_t)(r * 37 % 3841);
    for (size_t i = 0; i < len; i++) {
      x ^= x << 13;
      x ^= x >> 7;
      x ^= x << 17;
      buf[i] = (uint8_t)(x >> 24);
    }
    LLVMFuzzerTestOneInput(buf, len);
    replayed++;
  }
  if (helper.running) helper_call(REQ_EXIT, NULL, 0);
  printf("fuzz_replay: %lu inputs, %lu random (seed %lu)\n", replayed, random_runs, seed);
  printf("%lu passed, 0 failed\n", replayed);
  return replayed > 0 ? 0 : 1;
}
#endif
