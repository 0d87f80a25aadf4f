/* Atomics and the small lock every line uses.
 *
 * The lock is a three-state futex mutex (0 free, 1 held, 2 held with
 * waiters): uncontended lock/unlock is one atomic each, contended waiters
 * sleep in the kernel instead of burning the other core, and it needs no
 * initialisation call and never allocates, so it works before init and is
 * trivially reset in a fork child. */
#ifndef HZ_ATOMIC_H
#define HZ_ATOMIC_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#define hz_likely(x)   __builtin_expect(!!(x), 1)
#define hz_unlikely(x) __builtin_expect(!!(x), 0)
#define hz_noinline    __attribute__((noinline))
#define hz_cold        __attribute__((cold, noinline))
#define hz_hidden      __attribute__((visibility("hidden")))
#define hz_export      __attribute__((visibility("default")))

#define hz_load_relaxed(p)     atomic_load_explicit((p), memory_order_relaxed)
#define hz_store_relaxed(p, v) atomic_store_explicit((p), (v), memory_order_relaxed)
#define hz_load_acquire(p)     atomic_load_explicit((p), memory_order_acquire)
#define hz_store_release(p, v) atomic_store_explicit((p), (v), memory_order_release)
#define hz_add_relaxed(p, v)   atomic_fetch_add_explicit((p), (v), memory_order_relaxed)

typedef struct hz_lock {
  _Atomic int state;
} hz_lock;

#define HZ_LOCK_INIT {0}

void hz_lock_slow(hz_lock *lock);
void hz_unlock_wake(hz_lock *lock);

/* One attempt, never waits: true when the lock was taken. */
static inline bool hz_lock_try(hz_lock *lock) {
  int expected = 0;
  return atomic_compare_exchange_strong_explicit(&lock->state, &expected, 1, memory_order_acquire,
                                                 memory_order_relaxed);
}

static inline void hz_lock_acquire(hz_lock *lock) {
  if (hz_likely(hz_lock_try(lock))) return;
  hz_lock_slow(lock);
}

static inline void hz_lock_release(hz_lock *lock) {
  if (hz_unlikely(atomic_exchange_explicit(&lock->state, 0, memory_order_release) == 2))
    hz_unlock_wake(lock);
}

/* Only for a fork child: the forking thread held every lock in prepare. */
static inline void hz_lock_reset(hz_lock *lock) {
  atomic_store_explicit(&lock->state, 0, memory_order_relaxed);
}

#endif
