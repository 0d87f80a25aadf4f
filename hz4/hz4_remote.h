/* hz4 remote frees: outboxes, inboxes, collection.
 *
 * A free of another heap's object is appended, with no atomic operation, to
 * one of the freeing heap's outbox chains, keyed by (owner, class). A chain
 * is pushed onto the owner's inbox for that class with one CAS when it is
 * full, when its slot is wanted by another key, when the outbox as a whole
 * holds too many bytes, or when the freeing thread itself is about to take
 * fresh memory or exits.
 *
 * Batch format: objects linked through their first word; the head's second
 * word holds `next batch head | count << 48` (user addresses fit in 47
 * bits). An inbox is a stack of batches, each batch's tail linking to the
 * next batch's head, so the whole inbox is one NULL-terminated list: the
 * owner takes a class with one exchange and, its cache list being empty,
 * makes it the cache list after reading one word per batch head (to count
 * it). Collection costs O(batches), not O(objects), and the objects' lines
 * are touched only when reused. */
#ifndef HZ4_REMOTE_H
#define HZ4_REMOTE_H

#include "hz4_heap.h"

/* Set when a batch lands in a parked heap's inbox: a dead thread's objects
 * came home and its pages may now be freed (hz4_parked_reclaim_flagged). */
extern _Atomic int hz4_parked_flag;

void hz4_outbox_flush_all(hz4_heap *heap);
/* The outbox holds too many bytes: pushes its largest chains until it is
 * down to three quarters (pushing every chain would send many short ones). */
void hz4_outbox_shrink(hz4_heap *heap);
/* Pushes outbox slot `slot` to its owner. */
void hz4_outbox_flush(hz4_heap *heap, unsigned slot);

/* Starts (or continues) the outbox chain of `tag` with `p` (`size` bytes) for
 * `owner`: no atomic, no write to the owner's memory. */
void hz4_remote_free(hz4_heap *heap, hz4_heap *owner, uint32_t tag, size_t size, void *p);

/* Pushes the list head..tail of `count` objects onto owner's inbox `cls`. */
void hz4_inbox_push(hz4_heap *owner, unsigned cls, void *head, void *tail, uint32_t count);

static inline bool hz4_inbox_pending(hz4_heap *heap, unsigned cls) {
  return atomic_load_explicit(&heap->inbox[cls], memory_order_relaxed) != NULL;
}
/* Collects inbox `cls` into its bin (no trimming: the caller is about to
 * allocate from it). */
void hz4_collect_class(hz4_heap *heap, unsigned cls);
/* Collects every inbox: into the bins up to their limits (`to_bins`), the
 * rest to their pages; one-block pages are released. Returns objects. */
uint64_t hz4_collect_all(hz4_heap *heap, bool to_bins);

#endif
