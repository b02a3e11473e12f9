/* The one door for native memory. With WT_USE_MIMALLOC (decided once, in setup.py)
 * everything goes to the mimalloc compiled into this extension, which never
 * replaces the process malloc; otherwise to the system allocator.
 * Memory from wt_malloc must be released with wt_free, never with free(). */
#ifndef WT_ALLOC_H
#define WT_ALLOC_H

#include <stddef.h>

#ifdef WT_USE_MIMALLOC
#include "mimalloc.h"
#define wt_malloc(n) mi_malloc(n)
#define wt_calloc(n, sz) mi_calloc((n), (sz))
#define wt_realloc(p, n) mi_realloc((p), (n))
#define wt_free(p) mi_free(p)
#define WT_ALLOCATOR_NAME "mimalloc"
#else
#include <stdlib.h>
#define wt_malloc(n) malloc(n)
#define wt_calloc(n, sz) calloc((n), (sz))
#define wt_realloc(p, n) realloc((p), (n))
#define wt_free(p) free(p)
#define WT_ALLOCATOR_NAME "system"
#endif

/* Return memory that freed blocks still hold to the OS (after a large batch). */
void wt_alloc_collect(void);

#endif
