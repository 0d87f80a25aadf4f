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
 * A line asks for the thread (hz_purger_request) when it leaves memory
 * pending; the thread sleeps until the earliest pending memory is due, purges
 * through the line's hook (hz_line_purge_due, common/hz_line.h), and with
 * nothing pending parks on a futex until the next request. It blocks every
 * signal (the program's handlers never run on it) and never allocates.
 * HZ_PURGE_THREAD=0 turns it off: pages then go back only from slow paths.
 *
 * Starting it is the delicate part. pthread_create takes glibc's lock of its
 * stack cache, and glibc calls free() under that same lock (pthread_join and
 * exiting threads free a dead thread's TLS there): a thread started from a
 * free path deadlocked larson at T=16. pthread_create also calls malloc,
 * which in a free path would hand out the block being freed. So it is
 * started only from allocation paths (malloc misses, large allocations,
 * realloc, trim: hz_purger_poll), once, and never exits. Because a program
 * may free everything and then idle without another allocation, it is
 * started as soon as the program has mapped HZ_PURGER_START_BYTES of data
 * (hz_purger_note_mapped), before there is anything to purge; smaller
 * programs get it at their first allocation after a request, or never. */
#ifndef HZ_PURGER_H
#define HZ_PURGER_H

/* Data mapped before the thread is started ahead of any request: below it a
 * program has little to give back, and short-lived tools (sort, gcc's
 * drivers) do not pay for a thread. */
#define HZ_PURGER_START_BYTES ((uint64_t)8 << 20)

#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>

/* The earlier of two due times, where 0 means "nothing pending". */
static inline uint64_t hz_due_min(uint64_t a, uint64_t b) {
  return a == 0 ? b : b == 0 ? a : a < b ? a : b;
}

/* Wakes the thread, or asks for it to be started. A line calls it when its
 * pending memory goes from none to some (the thread parks only after a pass
 * saw none, so later additions come with a request); any context, locks held
 * or not: an atomic add, and a futex wake if the thread is parked. */
void hz_purger_request(void);

/* A line mapped `bytes` of data (spans, segments, large blocks): at
 * HZ_PURGER_START_BYTES in all it asks for the thread. Any context. */
void hz_purger_note_mapped(size_t bytes);

/* A request only raises this flag and the thread is started by the next
 * hz_purger_poll: the line calls it at the end of its outermost allocation
 * slow paths (never a free path: see above), where it holds no lock and its
 * state is consistent. One load on slow paths only. */
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
