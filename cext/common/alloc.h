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

/* The allocator's options, once, when the extension is imported. */
void wt_alloc_init(void);

/* Large buffers (tensors, read-ahead slots) are page mappings, not heap blocks:
 * n bytes of zeroed anonymous pages whose 2 MiB-aligned interior is advised for
 * transparent huge pages (one fault per 2 MiB instead of 512 when first written).
 * Released with wt_pages_free(p, n), never wt_free. */
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#define WT_HUGE ((size_t)2 << 20)

static inline void *wt_pages_alloc(size_t n)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE), len = (n + page - 1) / page * page;
    if (len == 0)
        len = page;
    if (len < WT_HUGE) {
        void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        return p == MAP_FAILED ? NULL : p;
    }
    size_t over = len + WT_HUGE;                  /* room to start at a 2 MiB boundary */
    uint8_t *p = mmap(NULL, over, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED)
        return NULL;
    uint8_t *a = (uint8_t *)(((uintptr_t)p + WT_HUGE - 1) & ~(uintptr_t)(WT_HUGE - 1));
    if (a > p)
        munmap(p, (size_t)(a - p));
    if (p + over > a + len)
        munmap(a + len, (size_t)(p + over - (a + len)));
#ifdef MADV_HUGEPAGE
    madvise(a, len, MADV_HUGEPAGE);
#endif
    return a;
}

static inline void wt_pages_free(void *p, size_t n)
{
    if (!p)
        return;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), len = (n + page - 1) / page * page;
    munmap(p, len ? len : page);
}


#endif
