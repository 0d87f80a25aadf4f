/* bench_redis_like - synthetic redis-like key/value workload.
 *
 * usage: bench_redis_like [threads] [iters] [keys]
 * defaults 4 1000000 10000.
 *
 * Each thread runs its own in-memory database (like one redis-server
 * instance): a chained hash table (bucket array sized once, no rehash), every
 * entry, key string, value and list node its own malloc block. Keys are
 * "key:<n>" (string keys, n < keys) and "list:<n>" (list keys, n < keys/10).
 * Every command first allocates its argument objects like a server parsing a
 * request (command name and key copied into fresh blocks, freed after the
 * command), then runs, drawn with fixed probabilities:
 *   SET    30 %  value of uniform 16..512 bytes; replaces (frees) an existing
 *                value, or inserts a new entry + key copy
 *   GET    40 %  lookup, read the value (first/last byte)
 *   LPUSH  10 %  push a 16..512-byte node onto a list (creating the list key);
 *                a list longer than 1024 drops its tail node (LTRIM)
 *   LPOP   10 %  pop the head node into a reply block, free both; an emptied
 *                list key is deleted
 *   RANDOM 10 %  RANDOMKEY (copy a random existing key into a reply block)
 *                followed by DEL of that key (expiry/eviction churn)
 * Threads share nothing. ops = commands executed (all threads); per-command
 * counts are extra RESULT keys. Everything is freed at the end.
 */
#include "bench_common.h"

static const bench_cli cli = {
    "bench_redis_like",
    "[threads] [iters] [keys]\n"
    "  threads  independent instances (one thread each), 1..4096 (default 4)\n"
    "  iters    commands per thread, >= 1 (default 1000000)\n"
    "  keys     string key space per thread, 10..2^26 (default 10000; lists: keys/10)"};

#define VAL_MIN 16
#define VAL_MAX 512
#define LIST_CAP 1024

typedef struct node {
  struct node *prev, *next;
  uint32_t len;
  unsigned char data[];
} node;

enum { T_STRING, T_LIST };

typedef struct entry {
  struct entry *next;
  char *key;
  uint64_t hash;
  int type;
  unsigned char *val; /* T_STRING */
  uint32_t vlen;
  node *head, *tail; /* T_LIST */
  uint32_t llen;
} entry;

typedef struct db {
  entry **b;
  uint64_t mask;
  uint64_t nkeys;
} db;

enum { C_SET, C_GET, C_LPUSH, C_LPOP, C_RANDOM, C_N };
static const char *const cmd_names[C_N] = {"SET", "GET", "LPUSH", "LPOP", "RANDOM"};

typedef struct worker {
  char pad0[BENCH_PAD];
  uint64_t iters, keys;
  bench_rng rng;
  uint64_t count[C_N];
  uint64_t hits, misses, alloc_failures, checksum, keys_final;
  char pad1[BENCH_PAD];
} worker;

static uint64_t fnv1a(const char *s, size_t n) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (size_t i = 0; i < n; i++) h = (h ^ (unsigned char)s[i]) * 0x100000001b3ull;
  return h;
}

/* malloc + fill; NULL counted as a failure by the caller */
static void *dup_bytes(const void *src, size_t n) {
  unsigned char *p = (unsigned char *)malloc(n);
  if (p) memcpy(p, src, n);
  return p;
}

static entry **find_slot(db *d, const char *key, uint64_t h) {
  entry **pp = &d->b[h & d->mask];
  while (*pp && ((*pp)->hash != h || strcmp((*pp)->key, key) != 0)) pp = &(*pp)->next;
  return pp;
}

static void free_entry(entry *e) {
  if (e->type == T_STRING) {
    free(e->val);
  } else {
    node *n = e->head;
    while (n) {
      node *nx = n->next;
      free(n);
      n = nx;
    }
  }
  free(e->key);
  free(e);
}

static void fill_value(unsigned char *v, size_t n, uint64_t r) {
  memset(v, (int)(r & 0xFF), n < 32 ? n : 32);
  v[n - 1] = (unsigned char)(r >> 8);
}

static void *worker_main(void *arg) {
  worker *w = (worker *)arg;
  bench_rng rng = w->rng;
  const uint64_t lists = w->keys / 10;
  db d;
  uint64_t nb = 1;
  while (nb < w->keys + w->keys / 4) nb <<= 1;
  d.b = (entry **)calloc((size_t)nb, sizeof(entry *));
  if (!d.b) {
    fprintf(stderr, "bench_redis_like: cannot allocate the hash table\n");
    exit(1);
  }
  d.mask = nb - 1;
  d.nkeys = 0;
  uint64_t fails = 0, hits = 0, misses = 0, sum = 0, count[C_N] = {0};
  char key[48];
  unsigned char valbuf[VAL_MAX];

  for (uint64_t i = 0; i < w->iters; i++) {
    unsigned c = bench_rng_pct(&rng);
    int cmd = c < 30 ? C_SET : c < 70 ? C_GET : c < 80 ? C_LPUSH : c < 90 ? C_LPOP : C_RANDOM;
    count[cmd]++;
    int klen;
    if (cmd == C_LPUSH || cmd == C_LPOP)
      klen = snprintf(key, sizeof key, "list:%llu", (unsigned long long)bench_rng_below(&rng, lists));
    else
      klen = snprintf(key, sizeof key, "key:%llu", (unsigned long long)bench_rng_below(&rng, w->keys));
    /* request parsing: argv objects for the command name and the key */
    const char *name = cmd_names[cmd];
    char *argv0 = (char *)dup_bytes(name, strlen(name) + 1);
    char *argv1 = (char *)dup_bytes(key, (size_t)klen + 1);
    if (!argv0 || !argv1) fails++;
    uint64_t h = fnv1a(key, (size_t)klen);
    entry **pp = find_slot(&d, key, h);
    entry *e = *pp;

    switch (cmd) {
    case C_SET: {
      size_t vlen = (size_t)bench_rng_range(&rng, VAL_MIN, VAL_MAX);
      fill_value(valbuf, vlen, i);
      unsigned char *v = (unsigned char *)dup_bytes(valbuf, vlen); /* the argv value object, kept */
      if (!v) {
        fails++;
        break;
      }
      if (e) {
        free(e->val);
        e->val = v;
        e->vlen = (uint32_t)vlen;
        hits++;
      } else {
        e = (entry *)malloc(sizeof(entry));
        char *k = (char *)dup_bytes(key, (size_t)klen + 1);
        if (!e || !k) {
          fails++;
          free(e);
          free(k);
          free(v);
          break;
        }
        memset(e, 0, sizeof *e);
        e->key = k;
        e->hash = h;
        e->type = T_STRING;
        e->val = v;
        e->vlen = (uint32_t)vlen;
        *pp = e;
        d.nkeys++;
        misses++;
      }
      break;
    }
    case C_GET:
      if (e) {
        sum += e->val[0] + e->val[e->vlen - 1];
        hits++;
      } else {
        misses++;
      }
      break;
    case C_LPUSH: {
      size_t vlen = (size_t)bench_rng_range(&rng, VAL_MIN, VAL_MAX);
      node *n = (node *)malloc(sizeof(node) + vlen);
      if (!n) {
        fails++;
        break;
      }
      fill_value(n->data, vlen, i);
      n->len = (uint32_t)vlen;
      n->prev = NULL;
      if (!e) {
        e = (entry *)malloc(sizeof(entry));
        char *k = (char *)dup_bytes(key, (size_t)klen + 1);
        if (!e || !k) {
          fails++;
          free(e);
          free(k);
          free(n);
          break;
        }
        memset(e, 0, sizeof *e);
        e->key = k;
        e->hash = h;
        e->type = T_LIST;
        *pp = e;
        d.nkeys++;
      }
      n->next = e->head;
      if (e->head) e->head->prev = n;
      else e->tail = n;
      e->head = n;
      if (++e->llen > LIST_CAP) { /* LTRIM the tail */
        node *t = e->tail;
        e->tail = t->prev;
        e->tail->next = NULL;
        free(t);
        e->llen--;
      }
      break;
    }
    case C_LPOP:
      if (e && e->head) {
        node *n = e->head;
        e->head = n->next;
        if (e->head) e->head->prev = NULL;
        else e->tail = NULL;
        e->llen--;
        void *reply = dup_bytes(n->data, n->len); /* bulk reply */
        if (reply) {
          sum += ((unsigned char *)reply)[0];
          free(reply);
        } else {
          fails++;
        }
        free(n);
        hits++;
        if (e->llen == 0) { /* redis deletes empty lists */
          *pp = e->next;
          free_entry(e);
          d.nkeys--;
        }
      } else {
        misses++;
      }
      break;
    case C_RANDOM:
      if (d.nkeys > 0) {
        uint64_t bi = bench_rng_below(&rng, nb);
        while (!d.b[bi]) bi = (bi + 1) & d.mask;
        entry *victim = d.b[bi];
        char *reply = (char *)dup_bytes(victim->key, strlen(victim->key) + 1); /* RANDOMKEY reply */
        if (reply) {
          sum += (unsigned char)reply[0];
          free(reply);
        } else {
          fails++;
        }
        d.b[bi] = victim->next; /* DEL: first entry of its chain */
        free_entry(victim);
        d.nkeys--;
        hits++;
      } else {
        misses++;
      }
      break;
    }
    free(argv0);
    free(argv1);
  }

  w->keys_final = d.nkeys;
  for (uint64_t bi = 0; bi < nb; bi++) {
    entry *e = d.b[bi];
    while (e) {
      entry *nx = e->next;
      free_entry(e);
      e = nx;
    }
  }
  free(d.b);
  memcpy(w->count, count, sizeof count);
  w->hits = hits;
  w->misses = misses;
  w->alloc_failures = fails;
  w->checksum = sum;
  return NULL;
}

int main(int argc, char **argv) {
  bench_check_argc(&cli, argc, argv, 3);
  unsigned threads = (unsigned)bench_arg_u64(&cli, argc, argv, 1, "threads", 4, 1, BENCH_MAX_THREADS);
  uint64_t iters = bench_arg_u64(&cli, argc, argv, 2, "iters", 1000000, 1, UINT64_MAX / 8);
  uint64_t keys = bench_arg_u64(&cli, argc, argv, 3, "keys", 10000, 10, 1ull << 26);

  worker *ws = (worker *)bench_xcalloc(cli.prog, threads, sizeof(worker));
  pthread_t *tids = (pthread_t *)bench_xcalloc(cli.prog, threads, sizeof(pthread_t));
  for (unsigned i = 0; i < threads; i++) {
    ws[i].iters = iters;
    ws[i].keys = keys;
    bench_rng_seed(&ws[i].rng, BENCH_SEED, i);
  }
  double t0 = bench_now();
  for (unsigned i = 0; i < threads; i++) bench_spawn(cli.prog, &tids[i], worker_main, &ws[i]);
  for (unsigned i = 0; i < threads; i++) bench_join(tids[i]);
  double secs = bench_now() - t0;

  uint64_t cnt[C_N] = {0}, hits = 0, misses = 0, fails = 0, sum = 0, keys_final = 0;
  for (unsigned i = 0; i < threads; i++) {
    for (int c = 0; c < C_N; c++) cnt[c] += ws[i].count[c];
    hits += ws[i].hits;
    misses += ws[i].misses;
    fails += ws[i].alloc_failures;
    sum += ws[i].checksum;
    keys_final += ws[i].keys_final;
  }
  free(ws);
  free(tids);

  uint64_t ops = 0;
  for (int c = 0; c < C_N; c++) ops += cnt[c];
  printf("bench_redis_like: threads=%u iters=%llu keys=%llu time=%.6f ops/s=%.2f (%.3f M ops/sec)\n", threads,
         (unsigned long long)iters, (unsigned long long)keys, secs, bench_rate((double)ops, secs),
         bench_rate((double)ops, secs) / 1e6);
  printf("commands: SET=%llu GET=%llu LPUSH=%llu LPOP=%llu RANDOM=%llu hits=%llu misses=%llu keys_at_end=%llu "
         "checksum=%llu alloc_failures=%llu\n",
         (unsigned long long)cnt[C_SET], (unsigned long long)cnt[C_GET], (unsigned long long)cnt[C_LPUSH],
         (unsigned long long)cnt[C_LPOP], (unsigned long long)cnt[C_RANDOM], (unsigned long long)hits,
         (unsigned long long)misses, (unsigned long long)keys_final, (unsigned long long)sum,
         (unsigned long long)fails);
  bench_result("redis_like", ops, secs,
               " threads=%u iters=%llu keys=%llu set=%llu get=%llu lpush=%llu lpop=%llu random=%llu hits=%llu"
               " misses=%llu keys_at_end=%llu alloc_failures=%llu",
               threads, (unsigned long long)iters, (unsigned long long)keys, (unsigned long long)cnt[C_SET],
               (unsigned long long)cnt[C_GET], (unsigned long long)cnt[C_LPUSH], (unsigned long long)cnt[C_LPOP],
               (unsigned long long)cnt[C_RANDOM], (unsigned long long)hits, (unsigned long long)misses,
               (unsigned long long)keys_final, (unsigned long long)fails);
  return 0;
}
