/* The OS page source: the only place that talks to the kernel about memory.
 *
 * Every optional call (MADV_FREE, MADV_HUGEPAGE, MAP_FIXED_NOREPLACE) falls
 * back silently when the kernel refuses it, because seccomp sandboxes and old
 * kernels answer EINVAL/ENOSYS/EPERM and a malloc must not die of that. */
#ifndef HZ_OS_H
#define HZ_OS_H

#include <stddef.h>
#include <stdint.h>
#include <stdbool.h>

size_t hz_os_page_size(void);

/* Map `size` bytes read-write. `fixed_hint` != NULL asks for exactly that
 * address without replacing anything mapped there; NULL is returned if the
 * kernel would put the mapping anywhere else. */
void *hz_os_map(size_t size, void *fixed_hint);
/* Map read-write with the start aligned to `align` (a power of two >= page). */
void *hz_os_map_aligned(size_t size, size_t align);
/* Reserve address space only (PROT_NONE, no swap accounting). */
void *hz_os_reserve(size_t size);
void hz_os_unmap(void *p, size_t size);
/* Give the physical pages back; the range stays mapped and reads as zero
 * (MADV_DONTNEED) or as old-or-zero (MADV_FREE when HZ_MADV_FREE=1). */
void hz_os_decommit(void *p, size_t size);
/* Decommits the whole pages of [p + keep, p + size): a free object's interior
 * past the words it keeps in use (free-list link, free key, marks), which the
 * caller may write again at once. Returns the bytes given back. */
size_t hz_os_decommit_interior(void *p, size_t size, size_t keep);
/* Grow or shrink a mapping, moving it if needed; NULL on failure. */
void *hz_os_remap(void *p, size_t old_size, size_t new_size);
void hz_os_hint_hugepages(void *p, size_t size);
/* Monotonic milliseconds, cheap (vDSO coarse clock). */
uint64_t hz_os_now_ms(void);

#endif
