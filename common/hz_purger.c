/* The background purger (hz_purger.h). */
#include "hz_purger.h"

#include "hz_atomic.h"
#include "hz_line.h"
#include "hz_options.h"
#include "hz_os.h"
#include "hz_stats.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>
#if defined(__linux__)
#include <linux/futex.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

enum { HZ_PURGER_IDLE, HZ_PURGER_RUNNING, HZ_PURGER_FAILED };

static _Atomic int hz_purger_state;

/* Bumped by every request the running thread may not have seen: the thread
 * parks on it (a futex) with nothing pending, and a bump between its last
 * pass and the park makes the park return at once. */
static _Atomic uint32_t hz_purger_wake_seq;
/* 1 while the thread is parked: only then does a request pay the wake call. */
static _Atomic int hz_purger_parked;

/* Bytes the lines have mapped for data (hz_purger_note_mapped). */
static _Atomic uint64_t hz_purger_mapped;

/* Virtual size only; the purge pass needs a few KiB of it. */
#define HZ_PURGER_STACK ((size_t)256 << 10)
/* Longest single sleep: bounds how late a pass runs if the clock jumps. */
#define HZ_PURGER_MAX_SLEEP_MS 1000u

static void hz_purger_sleep(uint64_t ms) {
  if (ms > HZ_PURGER_MAX_SLEEP_MS) ms = HZ_PURGER_MAX_SLEEP_MS;
  struct timespec ts = {(time_t)(ms / 1000), (long)(ms % 1000) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

/* Waits for a request after `seq` (or returns at once if one came). */
static void hz_purger_park(uint32_t seq) {
  hz_store_relaxed(&hz_purger_parked, 1);
  atomic_thread_fence(memory_order_seq_cst);
  if (atomic_load_explicit(&hz_purger_wake_seq, memory_order_relaxed) == seq) {
#if defined(__linux__)
    syscall(SYS_futex, &hz_purger_wake_seq, FUTEX_WAIT_PRIVATE, seq, NULL, NULL, 0);
#else
    hz_purger_sleep(HZ_PURGER_MAX_SLEEP_MS);
#endif
  }
  hz_store_relaxed(&hz_purger_parked, 0);
}

/* Sleeps until the earliest pending memory is due and purges it; with
 * nothing pending it parks until a request. It never exits: starting a
 * thread is what is unsafe (see hz_purger.h), so it is done once. */
static void *hz_purger_main(void *arg) {
  (void)arg;
  /* The pending memory's due times come from a coarse clock (a tick of a few
   * ms): waking a little late is cheaper than waking twice. It also keeps a
   * due time already past from spinning the loop: the hooks need not clamp. */
  uint64_t slack = 2;
  for (;;) {
    /* Read before the pass: memory left pending after the pass looked comes
     * with a request, which bumps it, so the park below cannot miss it. */
    uint32_t seq = atomic_load_explicit(&hz_purger_wake_seq, memory_order_seq_cst);
    uint64_t now = hz_os_now_ms();
    size_t released = 0;
    uint64_t due = hz_line_purge_due(now, &released);
    if (released != 0) hz_stat_add(HZ_STAT_PURGER_BYTES, released);
    if (due != 0) hz_purger_sleep((due > now ? due - now : 0) + slack);
    else hz_purger_park(seq);
  }
  return NULL;
}

static bool hz_purger_start(void) {
  pthread_attr_t attr;
  if (pthread_attr_init(&attr) != 0) return false;
  (void)pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  (void)pthread_attr_setstacksize(&attr, HZ_PURGER_STACK);
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  pthread_t thread;
  int rc = pthread_create(&thread, &attr, hz_purger_main, NULL);
  if (rc == EINVAL) {
    /* A program with a large static TLS needs more than our small stack. */
    (void)pthread_attr_setstacksize(&attr, (size_t)8 << 20);
    rc = pthread_create(&thread, &attr, hz_purger_main, NULL);
  }
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  pthread_attr_destroy(&attr);
  if (rc == 0) hz_stat_add(HZ_STAT_PURGER_STARTS, 1);
  return rc == 0;
}

_Atomic int hz_purger_start_wanted;

static bool hz_purger_enabled(void) {
  return hz_options.purge_thread != 0 && hz_options.purge_delay_ms > 0;
}

void hz_purger_request(void) {
  if (!hz_purger_enabled()) return;
  int state = hz_load_relaxed(&hz_purger_state);
  if (hz_likely(state == HZ_PURGER_RUNNING)) {
    atomic_fetch_add_explicit(&hz_purger_wake_seq, 1, memory_order_seq_cst);
#if defined(__linux__)
    if (hz_load_relaxed(&hz_purger_parked))
      syscall(SYS_futex, &hz_purger_wake_seq, FUTEX_WAKE_PRIVATE, 1, NULL, NULL, 0);
#endif
    return;
  }
  if (state == HZ_PURGER_IDLE) hz_store_relaxed(&hz_purger_start_wanted, 1);
}

void hz_purger_note_mapped(size_t bytes) {
  uint64_t before = atomic_fetch_add_explicit(&hz_purger_mapped, bytes, memory_order_relaxed);
  if (before < HZ_PURGER_START_BYTES && before + bytes >= HZ_PURGER_START_BYTES && hz_purger_enabled() &&
      hz_load_relaxed(&hz_purger_state) == HZ_PURGER_IDLE)
    hz_store_relaxed(&hz_purger_start_wanted, 1);
}

void hz_purger_start_wanted_now(void) {
  if (!atomic_exchange(&hz_purger_start_wanted, 0)) return;
  int expected = HZ_PURGER_IDLE;
  if (!atomic_compare_exchange_strong(&hz_purger_state, &expected, HZ_PURGER_RUNNING)) return;
  int saved = errno;
  /* Failure (thread limit, sandbox) is final: the slow paths still purge. */
  if (!hz_purger_start()) hz_store_relaxed(&hz_purger_state, HZ_PURGER_FAILED);
  errno = saved;
}

void hz_purger_after_fork_child(void) {
  int expected = HZ_PURGER_RUNNING;
  hz_store_relaxed(&hz_purger_parked, 0);
  /* Memory the parent left pending is pending here too, and no transition
   * from "none pending" will ask again: the child's next allocation poll
   * starts a thread. */
  if (atomic_compare_exchange_strong(&hz_purger_state, &expected, HZ_PURGER_IDLE))
    hz_store_relaxed(&hz_purger_start_wanted, 1);
}
