/* hz4 remote frees: outboxes, inboxes, collection.
 *
 * A free of another heap's object stores its pointer, with no atomic
 * operation and without touching the object, into the freeing heap's open
 * buffer for that (owner, class) (see hz4_rbuf). A buffer is sent to the
 * owner's inbox for the class with one CAS when it reaches its limit, when
 * its outbox slot is wanted by another key, when the outbox as a whole holds
 * too many bytes, or when the freeing thread is about to take a new page or
 * exits.
 *
 * An inbox is an MPSC stack of messages linked through their first word: a
 * buffer, or (bit 0 set in the link) a single object whose first word is the
 * link, for threads past their exit hook and when no buffer could be had.
 * The owner takes a whole class with one exchange when its cache list for
 * the class runs dry, links the pointers into that list (the objects'
 * lines are usually still in its own cache: nobody else wrote them) and keeps
 * the emptied buffers for its own remote frees. */
#ifndef HZ4_REMOTE_H
#define HZ4_REMOTE_H

#include "hz4_heap.h"

/* Set when a message lands in a parked heap's inbox: a dead thread's objects
 * came home and its pages may now be freed (hz4_parked_reclaim_flagged). */
extern _Atomic int hz4_parked_flag;

/* After the class table (hz4_classes_init). */
void hz4_remote_init(void);

void hz4_outbox_flush_all(hz4_heap *heap);
/* Sends outbox slot `slot` to its owner. */
void hz4_outbox_flush(hz4_heap *heap, unsigned slot);
/* The outbox holds too many bytes: sends its largest buffers until it is down
 * to three quarters (sending every one would send many short ones). */
void hz4_outbox_shrink(hz4_heap *heap);

/* An outbox buffer reached its limit, or the outbox its byte bound. */
void hz4_outbox_full(hz4_heap *heap, hz4_outbox *box);
/* Opens (or continues) the outbox buffer of `tag` with `p` (`size` bytes)
 * for `owner`. */
void hz4_remote_free(hz4_heap *heap, hz4_heap *owner, uint32_t tag, size_t size, void *p);
/* The slot of `tag` is not open (or holds another key): opens it. */
void hz4_remote_open(hz4_heap *heap, hz4_heap *owner, uint32_t tag, size_t size, void *p);

/* Sends one object on its own (no buffer). */
void hz4_inbox_push_one(hz4_heap *owner, unsigned cls, void *p);

static inline bool hz4_inbox_pending(hz4_heap *heap, unsigned cls) {
  return atomic_load_explicit(&heap->inbox[cls].head, memory_order_relaxed) != 0;
}
/* Collects inbox `cls` into its bin (no trimming: the caller is about to
 * allocate from it). */
void hz4_collect_class(hz4_heap *heap, unsigned cls);
/* Collects every inbox: into the bins up to their limits (`to_bins`), the
 * rest to their pages; one-block pages are released. Returns objects. */
uint64_t hz4_collect_all(hz4_heap *heap, bool to_bins);

/* Returns the heap's spare buffers to the global pool (thread exit). */
void hz4_rbufs_release(hz4_heap *heap);
void hz4_rbufs_lock(void);
void hz4_rbufs_unlock(void);
void hz4_rbufs_reset_lock(void);

#endif
