/* The contract between the shared shim (common/hz_shim*.c) and one allocator
 * line. The shim owns every libc rule (errno, overflow, alignment checks,
 * realloc semantics, foreign pointers, fork and thread wiring); a line owns
 * only memory.
 *
 * A line supplies `hz_line_fast.h` in its own folder with two static inline
 * functions the shim's malloc and free are built around:
 *   void *hz_line_malloc(size_t size);  size <= HZ_MAX_REQUEST; NULL = out of memory
 *   bool  hz_line_free(void *p);        p != NULL; false = not ours (shim forwards it)
 * and implements the functions below.
 *
 * Two optional promises let the shim's malloc and free be pure tail calls
 * (no stack frame on the fast path); a line states them in hz_line_fast.h:
 *   #define HZ_LINE_MALLOC_ANY_SIZE 1  hz_line_malloc takes any size (also
 *       > HZ_MAX_REQUEST) and sets errno = ENOMEM itself when it returns NULL;
 *   #define HZ_LINE_FREE_ANY 1  hz_line_free takes any pointer (NULL too),
 *       forwards pointers that are not its own with hz_shim_free_foreign()
 *       and always returns true. */
#ifndef HZ_LINE_H
#define HZ_LINE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Larger requests fail with ENOMEM before reaching a line (glibc's bound). */
#define HZ_MAX_REQUEST ((size_t)PTRDIFF_MAX)

typedef struct hz_line_usage {
  uint64_t mapped_bytes;   /* address space mapped read-write now */
  uint64_t in_use_bytes;   /* handed out to the program or held in thread caches */
  uint64_t large_bytes;    /* of which in large blocks */
  uint64_t free_bytes;     /* mapped but free (committed or not) */
  uint64_t threads_live;   /* threads currently owning a heap */
  uint64_t committed_bytes; /* upper bound of what is committed: mapped minus free pages
                               known to be returned (or never touched) */
} hz_line_usage;

/* Allocation counts of one size class, for HZ_STATS (common/hz_stats.c sorts
 * classes into size bands by `size`). Exact when no other thread runs;
 * racy reads of live threads' counters otherwise. */
typedef struct hz_line_class_stats {
  uint64_t size;     /* bytes per block */
  uint64_t allocs;   /* blocks handed out, ever */
  uint64_t frees;    /* blocks given back, ever (derived, see docs/options.md) */
} hz_line_class_stats;

/* Zeroed memory of `size` bytes; may skip the memset for fresh OS pages. */
void *hz_line_calloc(size_t size);
/* `align` is a power of two > 16 (and <= 2^40). */
void *hz_line_aligned(size_t align, size_t size);
/* Usable bytes of an allocation of ours; 0 when p is not ours. */
size_t hz_line_usable_size(const void *p);
/* True when p lies in memory the line manages, allocated or not: such a
 * pointer must never be handed to another allocator. */
bool hz_line_claims(const void *p);
/* Resize p (ours, usable bytes `usable`) to `size` > 0; NULL leaves p valid
 * (errno EINVAL: p is not an allocated block, e.g. already freed; anything
 * else is reported as ENOMEM). */
void *hz_line_realloc(void *p, size_t usable, size_t size);
/* Return every free page that can be returned; true if anything was. */
bool hz_line_trim(size_t pad);
void hz_line_get_usage(hz_line_usage *usage);
/* Fills up to `max` entries, one per size class; returns the class count.
 * Blocks outside the classes are the "large" band: HZ_STAT_LARGE_ALLOCS,
 * HZ_STAT_LARGE_FREES and hz_line_usage.large_bytes. */
unsigned hz_line_get_class_stats(hz_line_class_stats *out, unsigned max);
/* Global initialisation, idempotent and safe to call from any entry point. */
void hz_line_init(void);
/* For the background purger (common/hz_purger.h): returns to the OS what has
 * waited out the purge delay at `now` (adds its bytes to *released) and
 * returns when the next pending memory is due, 0 when nothing is pending.
 * Called without locks, from the purger's own thread. */
uint64_t hz_line_purge_due(uint64_t now, size_t *released);
/* Fork hooks: prepare takes every line lock in a fixed order. */
void hz_line_fork_prepare(void);
void hz_line_fork_parent(void);
void hz_line_fork_child(void);

/* Provided by the shim for lines: hands a pointer that is not the line's to
 * the next allocator (errno preserved). */
void hz_shim_free_foreign(void *p);
/* Sets errno = ENOMEM and returns NULL, for slow paths that report failure. */
void *hz_shim_enomem(void);

/* realloc's shared policy. A block is kept when the new size fits without
 * wasting more than half of it (blocks of 256 bytes or less always): shrinking
 * a large buffer in place would pin memory the program said it no longer needs.
 * Otherwise hz_shim_realloc_move allocates, copies min(usable, size) bytes and
 * frees p; NULL (p untouched) when the allocation fails. */
static inline bool hz_realloc_fits_in_place(size_t usable, size_t size) {
  return size <= usable && (size > usable / 2 || usable <= 256);
}
void *hz_shim_realloc_move(void *p, size_t usable, size_t size);

/* Provided by the shim for lines: one-time process set-up (options, atfork,
 * verbose print). Call from hz_line_init with the line's init lock held. */
void hz_shim_process_init(void);

#endif
