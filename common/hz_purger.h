/* The background purger: one thread that gives freed memory back to the OS
 * once the purge delay (HZ_PURGE_DELAY_MS) has passed, also when the program
 * has stopped calling the allocator's slow paths.
 *
 * Why a thread: the lines check the delay from their slow paths (refills,
 * span and large-block releases). A program that frees most of its memory
 * and then idles, or keeps running off its thread caches (a server between
 * bursts), never reaches one again, so its freed pages stayed resident for
 * ever (bench_release: 210 MiB of RSS for a 53 MiB live set).
 *
 * The thread exists only while something waits for its delay: a line asks
 * for it (hz_purger_request) when it leaves memory pending, it sleeps until
 * the earliest pending memory is due, purges through the line's hook
 * (hz_line_purge_due, common/hz_line.h) and ends itself after
 * HZ_PURGER_LINGER_MS with nothing pending. It blocks every signal (the
 * program's handlers never run on it) and never allocates. HZ_PURGE_THREAD=0
 * turns it off: pages then go back only from slow paths, as before. */
#ifndef HZ_PURGER_H
#define HZ_PURGER_H

/* How long the thread waits with nothing pending before it exits. */
#define HZ_PURGER_LINGER_MS 1000u

#include <stdatomic.h>
#include <stdint.h>

/* The earlier of two due times, where 0 means "nothing pending". */
static inline uint64_t hz_due_min(uint64_t a, uint64_t b) {
  return a == 0 ? b : b == 0 ? a : a < b ? a : b;
}

/* Asks for the thread unless it runs. A line calls it when its pending
 * memory goes from none to some (the thread ends only after it saw none, so
 * later additions find it running); any context, locks held or not. */
void hz_purger_request(void);

/* Thread creation calls malloc, so a request only raises this flag and the
 * thread is started by the next hz_purger_poll: the line calls it at the end
 * of its outermost slow paths, where it holds no lock and its state is
 * consistent. One load on slow paths only. */
extern _Atomic int hz_purger_start_wanted;
void hz_purger_start_wanted_now(void);
static inline void hz_purger_poll(void) {
  if (__builtin_expect(atomic_load_explicit(&hz_purger_start_wanted, memory_order_relaxed), 0))
    hz_purger_start_wanted_now();
}
/* Fork child: the thread did not survive the fork; if it ran, the child's
 * next poll starts a new one. */
void hz_purger_after_fork_child(void);

#endif
