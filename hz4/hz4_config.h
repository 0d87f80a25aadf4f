/* hz4 geometry and compile-time switches.
 *
 *   segment  4 MiB, aligned to its size, mapped anywhere by the OS. Slice 0
 *            holds the segment header: the per-slice tags every free reads,
 *            the owner heap and the page descriptors. A segment belongs to
 *            one heap (thread) at a time; all its pages are that heap's.
 *   slice    64 KiB, the unit pages are made of.
 *   page     1..16 slices serving one size class (or one block of up to
 *            2 MiB) for the segment's owner; its descriptor sits in the
 *            segment header at the index of its first slice.
 *   segmap   one byte per 4 MiB of the 47-bit user address space (32 MiB of
 *            demand-zero .bss): 0 = not ours. free() reads it before it
 *            touches anything at the masked address, so a foreign pointer is
 *            never dereferenced.
 *   huge     blocks above 2 MiB: their own mapping, 4 MiB-aligned and a
 *            whole number of segments long, registered in the segmap. */
#ifndef HZ4_CONFIG_H
#define HZ4_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define HZ4_SEG_SHIFT        22
#define HZ4_SEG_SIZE         ((size_t)1 << HZ4_SEG_SHIFT)
#define HZ4_SLICE_SHIFT      16
#define HZ4_SLICE_SIZE       ((size_t)1 << HZ4_SLICE_SHIFT)
#define HZ4_SLICES           64                       /* per segment; slice 0 is the header */
#define HZ4_PAGE_MAX_SLICES  16                       /* a class page is at most 1 MiB */
#define HZ4_ADDR_BITS        47                       /* x86-64/arm64 user space without hints */
#define HZ4_MAP_ENTRIES      ((size_t)1 << (HZ4_ADDR_BITS - HZ4_SEG_SHIFT))

#define HZ4_CLASS_COUNT      52                       /* 16..128 step 16, then 4 per doubling */
#define HZ4_SMALL_MAX        1024                     /* sizes served by the 16-byte-step table */
#define HZ4_MEDIUM_MAX       ((size_t)32 << 10)       /* sizes served by the 128-byte-step table */
#define HZ4_CLASS_MAX_SIZE   ((size_t)256 << 10)      /* larger: one-block pages or huge */
#define HZ4_BLOCK_MAX_SIZE   ((size_t)2 << 20)        /* larger: huge mappings */

/* A tag is (owner id << 8) | class. Pages holding one large block set the
 * top bit as well, so their tag never equals a live heap's id in the inline
 * free path and they take the out-of-line path. 0 = slice not in a page. */
#define HZ4_OWNER_SHIFT      8
#define HZ4_OWNER_MAX        ((1u << 23) - 1)
#define HZ4_OWNER_NONE       0xFFFFFFFFu              /* the empty heap: matches no tag */
#define HZ4_TAG_BLOCK        0x80000000u
#define HZ4_CLS_BLOCK        HZ4_CLASS_COUNT          /* inbox index of one-block pages */
#define HZ4_INBOXES          (HZ4_CLASS_COUNT + 1)

/* Thread caches: about this many bytes per class, at least this many objects
 * (before HZ_TCACHE_SCALE). */
#ifndef HZ4_TCACHE_BYTES
#define HZ4_TCACHE_BYTES     ((size_t)128 << 10)
#endif
#ifndef HZ4_TCACHE_MIN
#define HZ4_TCACHE_MIN       4
#endif
/* A class cache that overflows and then runs dry with nothing from other
 * threads doubles its limit, up to this many bytes (1024 objects at most);
 * the purge tick halves grown limits again. */
#ifndef HZ4_TCACHE_MAX_BYTES
#define HZ4_TCACHE_MAX_BYTES ((size_t)1 << 20)
#endif

/* Remote frees: a thread stores pointers to other heaps' objects in buffers
 * keyed by (owner, class) and sends a buffer with one CAS when it holds
 * HZ4_RBUF_CAP objects or HZ4_BATCH_BYTES of them, when its slot is needed by
 * another key, or when the whole outbox passes HZ4_OUTBOX_BYTES. */
#define HZ4_OUTBOX_SLOTS     64
#define HZ4_RBUF_CAP         61                       /* pointers per 512-byte buffer */
#ifndef HZ4_BATCH_BYTES
#define HZ4_BATCH_BYTES      ((size_t)1 << 20)
#endif
#ifndef HZ4_OUTBOX_BYTES
#define HZ4_OUTBOX_BYTES     ((size_t)2 << 20)
#endif
#ifndef HZ4_OUTBOX_SHRINK_TO
/* An outbox over its bound sends its largest buffers down to this. A quarter
 * of the bound: 27 % fewer shrink instructions on main_r90 but 11-12 % more
 * messages (docs/hz4.md, tuning log), so not taken. */
#define HZ4_OUTBOX_SHRINK_TO (HZ4_OUTBOX_BYTES / 2)
#endif

/* Switches (1 = on). Each is an optimization or policy that can be turned
 * off to measure it or to rule it out. */
#ifndef HZ4_REMOTE_BATCHING
#define HZ4_REMOTE_BATCHING  1   /* 0: every remote free is pushed to the owner at once */
#endif
#ifndef HZ4_EXIT_PURGE
#define HZ4_EXIT_PURGE       1   /* 1: an exiting thread returns its free pages at once, and the
                                    last one (at most one thread left) empties the segment pool
                                    and the huge-block cache */
#endif
#ifndef HZ4_EXIT_PURGE_LAST
#define HZ4_EXIT_PURGE_LAST  1   /* 1 (with HZ4_EXIT_PURGE): only the last worker's exit decommits at
                                    once (its heap and every parked one); other exits and the reclaim
                                    of flagged parked heaps leave free slices to the delayed purge,
                                    since a new thread adopts the heap and would fault them back in */
#endif
#ifndef HZ4_PARK_KEEPS_CACHES
#define HZ4_PARK_KEEPS_CACHES 1  /* 1 (with HZ4_EXIT_PURGE_LAST): a heap parked while other threads
                                    run keeps its caches for its adopter, as long as fewer heaps
                                    are parked than threads run */
#endif
#ifndef HZ4_EXIT_PURGE_CHURN
#define HZ4_EXIT_PURGE_CHURN 1   /* 1 (with HZ4_EXIT_PURGE_LAST): the last worker's exit, when it lived
                                    shorter than the purge delay (threads come in generations:
                                    mstress, larson), treats itself like any other exit (caches parked
                                    warm, free slices left to the delayed purge, pool kept) as long as
                                    the free memory left resident is at most HZ4_EXIT_CHURN_KEEP_MB;
                                    the full last-exit return is deferred to the remaining thread's
                                    first free into a parked heap, the next long-lived last exit, or
                                    the purger once no thread adopted a heap for the purge delay */
#endif
#ifndef HZ4_EXIT_CHURN_KEEP_MB
#define HZ4_EXIT_CHURN_KEEP_MB 32 /* the bound of HZ4_EXIT_PURGE_CHURN: committed minus in use */
#endif
#ifndef HZ4_CHURN_PARK_MB
#define HZ4_CHURN_PARK_MB    32  /* with HZ4_EXIT_PURGE_CHURN: bytes of cached objects all heaps parked
                                    warm by short-lived last exits may hold together */
#endif
#ifndef HZ4_SOLO_DIRECT
#define HZ4_SOLO_DIRECT      1   /* 1: with at most one thread left, its frees of parked heaps'
                                    objects go straight to their pages (no buffer, no inbox) and
                                    emptied pages are decommitted at once */
#endif
#ifndef HZ4_PARKED_KEEP_BYTES
#define HZ4_PARKED_KEEP_BYTES ((size_t)4 << 20) /* free slices a parked heap keeps resident
                                                   under HZ4_EXIT_PURGE_LAST; the rest is
                                                   decommitted when it is parked or reclaimed */
#endif
#ifndef HZ4_BUDGET_PARTIAL
#define HZ4_BUDGET_PARTIAL   1   /* 1: a heap whose free slices pass the dirty budget (HZ_DIRTY_MAX_MB,
                                    or half the slices its pages hold) decommits those of its partly
                                    used segments, least recently freed first, down to half the
                                    budget, backing off when they are taken back at once
                                    (common/hz_budget.h); 0: only the delayed purge returns them */
#endif
/* With HZ4_BUDGET_PARTIAL: free objects of classes this large that sit in
 * pages still holding live objects count against the dirty budget, and its
 * pass decommits their interior (all but the first OS page, which keeps the
 * free-list link and a mark) when free slices are not enough. A page of 4..16
 * such objects is pinned by any one of them: bench_release order 1 kept
 * 270 MiB for 52 MiB live even with every free slice returned. */
#ifndef HZ4_LOOSE_MIN_SIZE
#define HZ4_LOOSE_MIN_SIZE   ((size_t)64 << 10)
#endif
#define HZ4_LOOSE_RESIDENT   ((uintptr_t)0x6c6f6f7365526573ull)  /* word 1 of a loose free object */
#define HZ4_LOOSE_RETURNED   ((uintptr_t)0x6c6f6f736552746eull)  /* ... whose interior was decommitted */
#ifndef HZ4_SLICE_PURGE
#define HZ4_SLICE_PURGE      1   /* 1: the background purger also decommits free slices of live and
                                    parked heaps' segments idle past HZ_PURGE_DELAY_MS; each heap's
                                    slice lock, taken by its owner where free slices change, is only
                                    tried by the purger, which skips a busy heap (0: they go back
                                    only from the owner's own slow paths, so an idle thread keeps
                                    them) */
#endif
#ifndef HZ4_LOOSE_PURGE
#define HZ4_LOOSE_PURGE      1   /* 1 (with HZ4_SLICE_PURGE and HZ4_BUDGET_PARTIAL): the purger also
                                    decommits the interiors of loose objects (HZ4_LOOSE_MIN_SIZE) of
                                    a heap that put none back for HZ_PURGE_DELAY_MS; pages of those
                                    classes change their free and partial lists under the slice lock */
#endif
#ifndef HZ4_IDLE_INBOX_MS
#define HZ4_IDLE_INBOX_MS    1000 /* with HZ4_SLICE_PURGE: messages of HZ4_IDLE_INBOX_MIN_SIZE or larger
                                    objects left in an inbox this long (the owner stopped
                                    allocating) are taken by the purger, the interiors of their
                                    objects decommitted, and given back to the inbox (0: they stay
                                    resident until the owner collects them) */
#endif
#ifndef HZ4_IDLE_INBOX_MIN_SIZE
#define HZ4_IDLE_INBOX_MIN_SIZE ((size_t)8 << 10) /* smallest class whose waiting objects
                                                     HZ4_IDLE_INBOX_MS decommits */
#endif
#ifndef HZ4_SLICE_PURGE_MIN_BYTES
#define HZ4_SLICE_PURGE_MIN_BYTES ((size_t)2 << 20) /* with HZ4_SLICE_PURGE: a heap asks for the purger
                                                       thread once its dirty slices reach this */
#endif
#ifndef HZ4_CHAIN_RAISES_LIMIT
#define HZ4_CHAIN_RAISES_LIMIT 1 /* 1: collected remote frees raise their bin's limit until the
                                    bin runs dry (0: the next local free trims it) */
#endif
#ifndef HZ4_REMOTE_INLINE
#define HZ4_REMOTE_INLINE    1   /* 1: a remote free's append to its open buffer is written into
                                    hz4_free_other with tail calls only (0: a call to
                                    hz4_remote_free, three registers saved and restored per remote
                                    free): ~60 -> ~45 instructions per remote free; callgrind
                                    main_r50/main_r90 T=2 scaled, whole program 73.3M/87.4M with
                                    0 vs 71.2M/83.6M */
#endif
#ifndef HZ4_NET_PER_MESSAGE
#define HZ4_NET_PER_MESSAGE  1   /* 1: the statistics' count of frees that bypass the bin (hz4_bin.net)
                                    is charged a message at a time when a buffer is sent, not per
                                    remote free (the counts lag by what sits in the outbox, at most
                                    HZ4_OUTBOX_BYTES, until it is sent: at the latest at thread
                                    exit); saves the bin line's update and the HZ_STATS test per
                                    remote free */
#endif
#ifndef HZ4_COLLECT_SPLICE
#define HZ4_COLLECT_SPLICE   1   /* 1: collection links a buffer's objects onto the bin in a loop that
                                    keeps the list head in a register (0: the generic per-object sink,
                                    which reloads the head after every link store, ~20 instead of
                                    ~6 instructions per object): callgrind main_r50/main_r90 T=2
                                    scaled 72.5M/85.9M with 0 vs 71.2M/83.6M */
#endif
#ifndef HZ4_CLASS_BRANCHLESS
#define HZ4_CLASS_BRANCHLESS 1   /* 1: malloc picks its class table index with a conditional move, not a branch */
#endif
#ifndef HZ4_ADAPTIVE_CACHE
#define HZ4_ADAPTIVE_CACHE   1   /* 1: class cache limits grow with demand (HZ4_TCACHE_MAX_BYTES) */
#endif
#ifndef HZ4_BIN_ROOM
#define HZ4_BIN_ROOM         1   /* 1: a cache list keeps its room left (limit - count), so free's
                                    overflow check is one decrement and a sign test (0: count and
                                    compare with the limit, 3 more instructions per free) */
#endif
#ifndef HZ4_ADAPTIVE_LOCAL_OBJECTS
#define HZ4_ADAPTIVE_LOCAL_OBJECTS 32 /* with HZ4_ADAPTIVE_CACHE, in a heap that neither sent nor
                                         collected remote frees since the last purge tick: a class
                                         limit may grow to this many objects (classes above 32 KiB
                                         held 8 at most, so a thread cycling a few dozen of them
                                         kept emptying and re-carving their pages); 0: the byte
                                         bound alone */
#endif
#ifndef HZ4_PREFETCH_NEXT
#define HZ4_PREFETCH_NEXT    1   /* 1: malloc prefetches the next object of the cache list */
#endif
#ifndef HZ4_SHRINK_ONE_PASS
#define HZ4_SHRINK_ONE_PASS  1   /* 1: an outbox over its byte bound sends its largest buffers (to
                                    the power of two) in two passes (0: exactly largest first, a
                                    search over every buffer per send) */
#endif
#ifndef HZ4_SHRINK_CURRENT
#define HZ4_SHRINK_CURRENT   1   /* 1: an outbox over its bound first sends the buffer that crossed it
                                    if that holds 1/32 of the bound or more: with objects of 16..32768
                                    bytes the bound is crossed every few dozen frees, and the shrink's
                                    look at every open buffer cost ~22 instructions per remote free;
                                    the large buffer that crossed it is usually among those the
                                    shrink would pick. Callgrind main_r50/main_r90 T=2 scaled
                                    72.8M/87.6M with 0 vs 71.2M/83.6M; messages 8 % fewer */
#endif
#ifndef HZ4_RETURN_BATCH
#define HZ4_RETURN_BATCH     1   /* 1: buffers a collection sends back to their sender (the receiver
                                    keeps 32 spares) go as one chain, one CAS per drain and sender
                                    (0: one CAS per buffer: main_r50 T=2 114k CAS instead of <= 3.5k,
                                    each waiting for the link stores before it) */
#endif
#ifndef HZ4_COLLECT_PREFETCH
#define HZ4_COLLECT_PREFETCH 8   /* objects ahead a collection prefetches the lines it links
                                    through, and the next message and next spare buffer (0: off) */
#endif
#ifndef HZ4_RETURN_COUNTED
#define HZ4_RETURN_COUNTED   1   /* 1: a returned chain's first buffer holds its length and last
                                    buffer, so a heap out of spares takes its returned stack as
                                    it is, walking two buffers per chain (0: every buffer, each
                                    a miss: 6.5 % of cross128_r90 T=2's samples) */
#endif
#ifndef HZ4_COLOR
#define HZ4_COLOR            1   /* 1: classes whose size is a multiple of 1 KiB (powers of two
                                    excepted) space their objects one cache line more than their
                                    size, and a page's first object starts 0..63 lines in, so that
                                    their first lines do not all fall into the same few cache sets
                                    (cachegrind, local-only random_mixed 16..32768: D1 misses
                                    657k -> 414k; docs/hz4.md, tuning log) */
#endif
#ifndef HZ4_INBOX_PAD
#define HZ4_INBOX_PAD        1   /* 1: each inbox head on its own cache line (53 lines per heap instead
                                    of 7): main_r50 T=2, 25 interleaved pairs, wall 0.97 (quiet) and
                                    1.00 (loaded) */
#endif
#ifndef HZ4_CARVE_START_BYTES
#define HZ4_CARVE_START_BYTES 4096u /* a heap's first refill of a class from its pages takes at most this
                                       many bytes of objects, each later one twice as many, up to the
                                       bin's limit (0: a whole limit's worth at once) */
#endif
#ifndef HZ4_SPARE_PAGE
#define HZ4_SPARE_PAGE       1   /* 1: keep one empty page per class against ping-pong */
#endif

#endif
