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

enum { HZ_PURGER_IDLE, HZ_PURGER_RUNNING, HZ_PURGER_FAILED };

static _Atomic int hz_purger_state;

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

/* Sleeps until the earliest pending memory is due, purges it, and ends after
 * HZ_PURGER_LINGER_MS with nothing pending. */
static void *hz_purger_main(void *arg) {
  (void)arg;
  uint64_t idle_since = 0;
  /* The pending memory's due times come from a coarse clock (a tick of a few
   * ms): waking a little late is cheaper than waking twice. It also keeps a
   * due time already past from spinning the loop: the hooks need not clamp. */
  uint64_t slack = 2;
  for (;;) {
    uint64_t now = hz_os_now_ms();
    size_t released = 0;
    uint64_t due = hz_line_purge_due(now, &released);
    if (released != 0) hz_stat_add(HZ_STAT_PURGER_BYTES, released);
    if (due != 0) {
      idle_since = 0;
      hz_purger_sleep((due > now ? due - now : 0) + slack);
      continue;
    }
    if (idle_since == 0) idle_since = now;
    if (now - idle_since < HZ_PURGER_LINGER_MS) {
      hz_purger_sleep((uint64_t)hz_options.purge_delay_ms);
      continue;
    }
    /* Exit, unless memory was left pending after the last pass: a request
     * that still saw RUNNING did not start a thread. The fences pair with
     * hz_purger_request's: one side sees the other's store. */
    hz_store_relaxed(&hz_purger_state, HZ_PURGER_IDLE);
    atomic_thread_fence(memory_order_seq_cst);
    released = 0;
    due = hz_line_purge_due(hz_os_now_ms(), &released);
    if (released != 0) hz_stat_add(HZ_STAT_PURGER_BYTES, released);
    if (due == 0) break;
    int expected = HZ_PURGER_IDLE;
    if (!atomic_compare_exchange_strong(&hz_purger_state, &expected, HZ_PURGER_RUNNING)) break;
    idle_since = 0;
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

void hz_purger_request(void) {
  if (hz_options.purge_thread == 0 || hz_options.purge_delay_ms <= 0) return;
  atomic_thread_fence(memory_order_seq_cst);
  if (hz_likely(hz_load_relaxed(&hz_purger_state) != HZ_PURGER_IDLE)) return;
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
  /* Memory the parent left pending is pending here too, and no transition
   * from "none pending" will ask again: the child's next poll starts a thread
   * (which ends after its linger if there is nothing). */
  if (atomic_compare_exchange_strong(&hz_purger_state, &expected, HZ_PURGER_IDLE))
    hz_store_relaxed(&hz_purger_start_wanted, 1);
}
