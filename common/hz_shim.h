/* Internal entry points the C++ operator shim shares with the C shim. */
#ifndef HZ_SHIM_H
#define HZ_SHIM_H
#include <stddef.h>

void *hz_shim_malloc(size_t size);
void *hz_shim_aligned(size_t align, size_t size);
void hz_shim_free(void *p);

#endif
