/* hz3 geometry. All sizes are powers of two so every lookup is a shift.
 *
 *   arena    one address range (default 1 TiB) at a fixed hint, never fully
 *            mapped: 4 MiB slots are mapped on demand with MAP_FIXED_NOREPLACE,
 *            so RLIMIT_AS and RSS see only what is in use.
 *   slot     4 MiB of the arena: either a segment or (part of) one large block.
 *   segment  a slot cut into 64 units of 64 KiB; unit 0 holds the segment
 *            header and the span descriptors, units 1..63 hold objects.
 *   span     1..8 contiguous units serving one size class for one owner heap.
 *   tag      one uint32 per unit in a flat table: (owner slot << 8) | class.
 *            0 = not allocated. free() needs only this one load. */
#ifndef HZ3_CONFIG_H
#define HZ3_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define HZ3_ARENA_HINT      ((uintptr_t)0x100000000000ull)  /* 16 TiB: far from heap, libs, stacks */
#define HZ3_UNIT_SHIFT      16
#define HZ3_UNIT_SIZE       ((size_t)1 << HZ3_UNIT_SHIFT)
#define HZ3_SLOT_SHIFT      22
#define HZ3_SLOT_SIZE       ((size_t)1 << HZ3_SLOT_SHIFT)
#define HZ3_UNITS_PER_SEG   (HZ3_SLOT_SIZE / HZ3_UNIT_SIZE)     /* 64 */
#define HZ3_SPAN_MAX_UNITS  8

#define HZ3_CLASS_COUNT     68
#define HZ3_SMALL_MAX       1024                 /* sizes served by the first lookup table */
#define HZ3_CLASS_MAX_SIZE  ((size_t)256 << 10)  /* larger requests are large blocks */
#define HZ3_TAG_LARGE       0xFFu                /* class byte of a large block's first unit */

#define HZ3_OWNER_SHIFT     8
#define HZ3_OWNER_MAX       ((1u << 24) - 1)     /* owner slots (heaps) recycled, never a limit in practice */
#define HZ3_OWNER_NONE      0xFFFFFFFFu          /* the empty heap: never matches a tag */

/* 1: a thread cache list keeps "room" (limit - count) instead of its count,
 * so free's push is one decrement and a sign test instead of a load, an add,
 * a store and a compare with the limit (docs/hz3.md, Fast paths).
 * 0: the count itself. */
#ifndef HZ3_BIN_ROOM
#define HZ3_BIN_ROOM        1
#endif

/* 1: a thread caches every object it frees, whoever owns it (the tcmalloc
 * model); objects go home to their owner only when a cache overflows. A
 * receiving thread that allocates again reuses them at local-free cost.
 * 0: only the owner caches its objects; each remote free is sent at once. */
#ifndef HZ3_CACHE_FOREIGN
#define HZ3_CACHE_FOREIGN   1
#endif

/* 1 (with HZ3_CACHE_FOREIGN): a thread's first free, made before it has a
 * heap, sends a foreign object home instead of caching it. A thread handed
 * one block of a batch its creator carved back to back (cache-scratch) would
 * otherwise get that very block from each of its mallocs, in the cache line
 * its siblings write: bench_cache_scratch 2 1000 8 50000 ran at 0.43x of the
 * peers. Later foreign frees are cached as before (the fast path does not
 * look at the owner). 0: the first free is cached like the others. */
#ifndef HZ3_FIRST_FREE_HOME
#define HZ3_FIRST_FREE_HOME 1
#endif

/* Bytes a thread cache may hold per size class (HZ_TCACHE_SCALE scales it). */
#ifndef HZ3_TCACHE_CLASS_BYTES
#define HZ3_TCACHE_CLASS_BYTES (256u << 10)
#endif

/* 1: a cache that overflows sends its most recently freed objects home and
 * keeps the older ones (docs/hz3.md, Remote frees). 0: keeps the recent half
 * and walks the older half home, a chain of cache misses. */
#ifndef HZ3_OVERFLOW_SEND_RECENT
#define HZ3_OVERFLOW_SEND_RECENT 1
#endif
/* With HZ3_OVERFLOW_SEND_RECENT and HZ3_REMOTE_SPLICE: the overflow's send
 * loop keeps the class lane in locals (one class per bin, so one lane) and
 * writes it back only around a push. 0: each object through hz3_send_home. */
#ifndef HZ3_SEND_RUN
#define HZ3_SEND_RUN 1
#endif

/* A thread's cache bins untouched for this long (same head, same count at two
 * checks this far apart) go back to their spans: a program that moved on to
 * other sizes does not keep the old sizes' memory in its caches. Checked from
 * refills and cache overflows, so the fast paths pay nothing. 0: never. */
#ifndef HZ3_TCACHE_GC_MS
#define HZ3_TCACHE_GC_MS    1000
#endif

/* Span churn (main_phase_r50: phases empty and refill whole spans): a heap
 * keeps up to a per-class count of its empty spans instead of releasing them
 * to the arena. The count grows by one each time the class takes a span from
 * the arena within HZ3_RESERVE_WINDOW span events (takes and releases in
 * this heap) of releasing one, halves at each stale-bin check
 * (HZ3_TCACHE_GC_MS) without a take from the reserve, and all kept spans go
 * back at trim, thread exit and OOM reclaim. At most HZ3_RESERVE_BYTES per
 * heap (docs/hz3.md, main_phase_r50). 0: every empty span but the class's
 * last goes back at once. */
#ifndef HZ3_SPAN_RESERVE
#define HZ3_SPAN_RESERVE 1
#endif
#ifndef HZ3_RESERVE_WINDOW
#define HZ3_RESERVE_WINDOW 32
#endif
#ifndef HZ3_RESERVE_BYTES
#define HZ3_RESERVE_BYTES ((size_t)4 << 20)
#endif
#ifndef HZ3_RESERVE_MAX_KEEP
#define HZ3_RESERVE_MAX_KEEP 16
#endif
/* Largest class the reserve keeps spans of: with the 64..256 KiB classes kept
 * too, cross128_r90 T=16 ran at 0.67x (4.7 M against 7.1 M ops/s with the
 * reserve off; docs/hz3_tuning.md, span reserve). */
#ifndef HZ3_RESERVE_MAX_SIZE
#define HZ3_RESERVE_MAX_SIZE ((size_t)32 << 10)
#endif

/* A class whose cache overflowed and then had to refill from its spans cycles
 * more objects than the cache holds: its limit doubles, up to this factor of
 * the built-in limit, and halves again at each stale-bin check
 * (HZ3_TCACHE_GC_MS) while above it. 1: fixed limits. */
#ifndef HZ3_ADAPTIVE_FACTOR
#define HZ3_ADAPTIVE_FACTOR 4
#endif

/* With HZ3_ADAPTIVE_FACTOR, in a heap that sent nothing to other heaps since
 * its last stale-bin check (HZ3_TCACHE_GC_MS): a class limit may grow to at
 * least this many objects. Classes above 32 KiB hold few objects (128 KiB: 2,
 * 8 at four times), too few to absorb a thread's working set of them swinging
 * up and down: their spans emptied and were carved again at new addresses, a
 * page fault per touched page (cross128_r90 T=1: 0.71x tcmalloc). Only without
 * remote traffic: a cache full of other heaps' objects holds them away from
 * their owners (cross128_r90 T=16 lost a fifth). 0: the factor alone. */
#ifndef HZ3_ADAPTIVE_LOCAL_OBJECTS
#define HZ3_ADAPTIVE_LOCAL_OBJECTS 32
#endif

/* 1: when the last worker exits after living shorter than the purge delay
 * (HZ_PURGE_DELAY_MS), free pages are left to the delayed purge instead of
 * all returned at once: thread generations that short (mstress: a new pair
 * of threads every 3 ms; larson: a thread per round) faulted every returned
 * page back in at the next generation. 7 interleaved runs, medians:
 * mstress T=2 130 k -> 6.6 k page faults, task-clock 446 -> 184 ms;
 * larson T=1 41 k -> 2.6 k faults, 267 -> 104 ms; larson T=2 61 k -> 5.8 k,
 * 405 -> 272 ms. The cost is peak RSS (the free pages stay resident between
 * generations): mstress 13 -> 26 MB, larson T=2 19 -> 23 MB on their own;
 * with HZ3_CHURN_PARK_MB below 13 -> 22 MB (mimalloc 32, tcmalloc 27) and
 * 19 -> 18..21 MB (jemalloc 14, tcmalloc 21); docs/hz3.md.
 * 0: the last exit always returns every free page. */
#ifndef HZ3_EXIT_PURGE_CHURN
#define HZ3_EXIT_PURGE_CHURN 1
#endif
/* ...as long as the free memory left resident (committed minus in use) is at
 * most this many MiB; beyond it everything goes as without the flag, so a
 * program that idles after its short threads keeps at most this much.
 * mstress and larson keep 10-17 MiB of free units dirty there next to
 * 9-13 MiB of spans: 16 kept half the mstress gain (302 ms, 55 k faults,
 * 19 MB), 8 none of it. */
#ifndef HZ3_EXIT_CHURN_KEEP_MB
#define HZ3_EXIT_CHURN_KEEP_MB 32
#endif

/* 1: a thread that exits while other workers run, and while fewer heaps are
 * parked than threads live, parks its heap with its caches, stash and spans
 * (only its outboxes are sent): the next thread to start adopts it and
 * allocates from warm caches instead of refilling from spans it just
 * emptied. A small gain: larson (a new thread per round, overlapping its
 * predecessor) T=2, 7 interleaved runs, task-clock median 282 -> 267 ms,
 * peak RSS unchanged (24 MB); callgrind (larson 2 100 ...) -1.8 %
 * instructions; T=1 122 -> 118 ms. The last exit, malloc_trim and out of
 * memory flush parked heaps as before. 0: every exit flushes its heap. */
#ifndef HZ3_PARK_KEEPS_CACHES
#define HZ3_PARK_KEEPS_CACHES 1
#endif

/* With HZ3_EXIT_PURGE_CHURN: a worker that lived shorter than the purge
 * delay parks its heap warm (caches, stash, spans kept, as with
 * HZ3_PARK_KEEPS_CACHES), even when it is the last worker, while the warm
 * parked heaps hold at most this many MiB of cached objects together; its
 * last exit then leaves the parked heaps as they are. The next generation
 * adopts them and allocates from their caches instead of refilling from the
 * spans the flush had just emptied (and made dirty). On top of
 * HZ3_EXIT_PURGE_CHURN, 5 interleaved runs, medians: mstress T=2 task-clock
 * 271 -> 137 ms, peak RSS 26.6 -> 19.7 MB; larson T=2 308 -> 173 ms,
 * 23.4 -> 18.3 MB (base 17.8); larson T=1 129 -> 71 ms, 10.0 -> 8.5 MB.
 * malloc_trim, out of memory and the last exit of a long-lived worker flush
 * them. 0: short-lived workers are flushed like the others. */
#ifndef HZ3_CHURN_PARK_MB
#define HZ3_CHURN_PARK_MB 32
#endif

/* 1: when the last worker exits and one thread goes on alone, its next cache
 * overflow sends every cached object home and parks its caches (limit 0)
 * until its next malloc miss or a new thread: the frees that follow (a
 * program freeing what its workers built, larson's final free loop) go
 * straight into the spans of the parked owners, under each owner's span lock,
 * and emptied spans go back to the arena instead of being pinned by one
 * cached object each. hz3/hz3_solo.c; docs/hz3.md. 0: off. */
#ifndef HZ3_SOLO_RETURN
#define HZ3_SOLO_RETURN 1
#endif
/* Cache limit while draining: 0 leaves nothing pinned when the program reads
 * its RSS (larson T=16 10-13 MB; 32: 20-25 MB, but post-join free loops ~1.7x
 * faster). */
#ifndef HZ3_SOLO_LIMIT
#define HZ3_SOLO_LIMIT 0
#endif
/* 1: while draining, consecutive frees of one span wait in a run (one per
 * class slot, HZ3_SOLO_RUNS) and go back together under one lock: a loop
 * freeing in allocation order frees each class span by span. The runs pin at
 * most 16 spans. 0: one span lock per free. bench_join_free figures:
 * docs/hz3_tuning.md. */
#ifndef HZ3_SOLO_RUN
#define HZ3_SOLO_RUN 1
#endif

/* Slow start of carving: the first refill of a class cuts at most this many
 * bytes of objects from never-used span memory, and each later carving refill
 * of the class may cut more (HZ3_CARVE_LINEAR), up to the class's refill count. Cutting
 * a full refill at once (up to 256 objects) touched every page of them: a
 * program that used a few objects of each of 60 classes paid ~4 MiB of RSS
 * for nothing (guard_r0 peak 6.2 MiB against mimalloc's 4.7 MiB; a trivial
 * program 2.2 MiB against glibc's 1.6). Objects coming back from span free
 * lists are already resident and are not limited. 0: carve a whole refill. */
#ifndef HZ3_CARVE_START_BYTES
#define HZ3_CARVE_START_BYTES 4096u
#endif

/* 1: each later carving refill may cut HZ3_CARVE_START_BYTES more than the
 * one before (4, 8, 12 KiB ...) instead of twice as much. Doubling overshot
 * a class's need by up to 2x in every class of every thread: guard_r0 at
 * T=16 peaked at 19.5 MB against jemalloc's 12.5 (docs/hz3.md, RSS policy). */
#ifndef HZ3_CARVE_LINEAR
#define HZ3_CARVE_LINEAR 1
#endif

/* 1 (with HZ3_CARVE_LINEAR): a class that recycled more than twice its
 * carving allowance through the cache since its last span refill starts the
 * allowance again at HZ3_CARVE_START_BYTES: it has reached its working size
 * and a new carve only follows its high mark by a few objects, so an
 * allowance grown during its start-up overshot that mark in every class of
 * every thread (guard_r0 T=16; docs/hz3.md, RSS policy). A class that only
 * grows (allocations without frees) keeps growing its allowance. */
#ifndef HZ3_CARVE_RESTART
#define HZ3_CARVE_RESTART 1
#endif

/* 1: malloc's size -> class lookup selects between its two table indexes
 * with a conditional move instead of a branch (hz3_classes.h). */
#ifndef HZ3_CLASS_BRANCHLESS
#define HZ3_CLASS_BRANCHLESS 1
#endif

/* 1: over the dirty budget (HZ_DIRTY_MAX_MB) with no wholly free segment
 * left to unmap, free units of partly used segments are decommitted too,
 * least recently freed first, down to half the budget, backing off when the
 * program takes them back at once (common/hz_budget.h; docs/hz3.md, RSS
 * policy). 0: only wholly free segments go back before the purge delay. */
#ifndef HZ3_BUDGET_PARTIAL
#define HZ3_BUDGET_PARTIAL  1
#endif

/* 1: free objects of classes of HZ3_LOOSE_MIN_SIZE or more that sit in a
 * heap's live spans count against a budget of HZ_DIRTY_MAX_MB per heap; over
 * it, the heap decommits their interior (all but the first OS page: link,
 * free key and mark), with the back-off of hz_budget.h. A span of 1..8 such
 * objects is pinned by any one of them (bench_release order 1). Off: it took
 * bench_release order 1 only from 212 to 195 MiB and cost cross128_r90
 * (half its blocks are that large) +7 % instructions in refill and collect
 * (docs/hz3.md, RSS policy). hz4, whose pages hold 4..16 such objects, has
 * it on (HZ4_LOOSE_MIN_SIZE). */
#ifndef HZ3_LOOSE_BUDGET
#define HZ3_LOOSE_BUDGET    0
#endif
#ifndef HZ3_LOOSE_MIN_SIZE
#define HZ3_LOOSE_MIN_SIZE  ((size_t)64 << 10)
#endif
#define HZ3_LOOSE_RESIDENT  ((uintptr_t)0x6c6f6f7365526573ull)  /* word 2 of a loose free object */
#define HZ3_LOOSE_RETURNED  ((uintptr_t)0x6c6f6f736552746eull)  /* ... whose interior was decommitted */

/* 1: the background purger (common/hz_purger.h) decommits the interior (all
 * but the page holding the link and free key) of free objects of
 * HZ3_INTERIOR_MIN_SIZE or more that sit in a heap's partly used spans, once
 * such a span has been left untouched for a purge delay (hz3/hz3_interior.c).
 * One live object pins a span of 2..8 large objects, so a program that freed
 * most of its memory at random kept it resident (bench_release order 1).
 * The owner takes a per-heap lock in the slow paths that touch its spans'
 * free lists; the purger only tries it. Needs HZ3_LOOSE_BUDGET off.
 * 0: such objects stay resident until their span empties. */
#ifndef HZ3_INTERIOR_PURGE
#define HZ3_INTERIOR_PURGE  1
#endif
/* The smallest class whose free objects' interiors go back: 8 KiB is the
 * first size that always holds a whole page past its first 16 bytes. */
#ifndef HZ3_INTERIOR_MIN_SIZE
#define HZ3_INTERIOR_MIN_SIZE ((size_t)8 << 10)
#endif
/* The background purger drains heaps whose thread stopped calling the slow
 * paths: after this many milliseconds without one (and at least a purge
 * delay), the heap's pending remote frees (inbox), its stashed batches and
 * its kept empty spans go back to their spans, whose pages then go back to
 * the OS like any other free memory. A thread pool that frees other threads'
 * objects and then waits for work kept them all resident: with eight threads
 * swapping 16..128 KiB objects, 262 MiB stayed after the last free while the
 * threads slept (none of it live). The thread caches themselves stay (their
 * lists are the owner's, without a lock). Needs HZ3_INTERIOR_PURGE (its span
 * lock). 0: off, such memory waits for the thread's next slow path or exit. */
#ifndef HZ3_IDLE_DRAIN_MS
#define HZ3_IDLE_DRAIN_MS 1000
#endif
#if HZ3_INTERIOR_PURGE && HZ3_LOOSE_BUDGET
#error "HZ3_INTERIOR_PURGE and HZ3_LOOSE_BUDGET both write free objects' interiors: enable one"
#endif

#define HZ3_OUTBOX_LANES    8                    /* remote-free lanes per thread, hashed by owner */
#ifndef HZ3_REMOTE_BATCH
#define HZ3_REMOTE_BATCH    64                   /* objects per lane before one atomic push (at most 255) */
#endif

/* 1: remote frees travel as batches of one (owner, class). The sender keeps
 * one outbox lane per class; a pushed batch's head object carries its tail
 * and its count (words 2 and 3: word 0 is the link, word 1 the free key), and
 * the owner splices the whole batch into its thread cache by touching two
 * objects instead of walking every one. perf put 23 % of main_r50 (T=2) in
 * the owner's walk, nearly all of it the miss on each object's first word
 * (the line the sender wrote last); spliced, that miss moves to the later
 * malloc, where it can overlap the program's own work. Measured gains and
 * limits (main_r50 itself is not helped): docs/hz3.md, Remote frees. The
 * 16-byte class has no room for the header and keeps the walked chain.
 * 0: HZ3_OUTBOX_LANES lanes hashed by owner; the owner walks every object. */
#ifndef HZ3_REMOTE_SPLICE
#define HZ3_REMOTE_SPLICE   1
#endif
/* With per-class lanes a lane also stops at this many bytes, so 68 lanes of
 * large objects cannot hold much memory away from its owner (every refill
 * flushes all lanes anyway). 256 KiB made batches of 2..8 large objects
 * whose per-batch cost (header, CAS) outweighed the walk they save:
 * cross128_r90 +3.9 % instructions against the walked chains; 1 MiB: even. */
#ifndef HZ3_REMOTE_BATCH_BYTES
#define HZ3_REMOTE_BATCH_BYTES ((size_t)1 << 20)
#endif
/* Remote batches whose bin is full wait whole for a later refill, up to this
 * many bytes per heap (beyond it they are walked back to their spans). */
#ifndef HZ3_STASH_BYTES
#define HZ3_STASH_BYTES ((size_t)4 << 20)
#endif
/* 1 (with HZ3_REMOTE_SPLICE and HZ3_SEND_RUN): an overflowing cache's own
 * objects go to the class's stash as one batch (while HZ3_LOCAL_STASH_BYTES has
 * room) instead of back to their spans one by one; the next refill of the class takes
 * the batch whole. Phase workloads (main_phase_r50: rounds that free and then
 * reallocate their whole working set) walked each object to its span and back. */
#ifndef HZ3_LOCAL_STASH
#define HZ3_LOCAL_STASH 1
#endif
/* Own objects are stashed only while the heap's stash holds less than this:
 * a stash stays resident until the thread's next slow path or, a second
 * later, the purger's idle drain (HZ3_IDLE_DRAIN_MS), so this bounds what a
 * pausing thread keeps beyond its caches (regress_purger_start, before the
 * idle drain: with 4 MiB, 4 of 12 MiB freed stayed). */
#ifndef HZ3_LOCAL_STASH_BYTES
#define HZ3_LOCAL_STASH_BYTES ((size_t)2 << 20)
#endif
#if HZ3_REMOTE_SPLICE
#define HZ3_OUTBOX_COUNT    HZ3_CLASS_COUNT
#else
#define HZ3_OUTBOX_COUNT    HZ3_OUTBOX_LANES
#endif

#ifndef HZ3_PREFETCH_NEXT
#define HZ3_PREFETCH_NEXT    1   /* 1: malloc prefetches (for writing) the object its cache list now starts
                                    with: producer/consumer traffic hands over lists of objects last
                                    written on another core, and each pop stalled on its link */
#endif

#endif
