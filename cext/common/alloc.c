#include "common/alloc.h"

#ifdef WT_USE_MIMALLOC
/* mimalloc's single-file build; setup.py compiles it without MI_MALLOC_OVERRIDE. */
#include "../../vendor/mimalloc/src/static.c"

void wt_alloc_collect(void) { mi_collect(0); }

/* Pages freed a second ago go back with MADV_FREE (the kernel takes them when
 * it needs memory), not MADV_DONTNEED: a long text's buffers are then not faulted
 * in afresh on every call that comes after a pause (docs/performance-log.md).
 * MIMALLOC_PURGE_DECOMMITS=1 in the environment still decides otherwise. */
void wt_alloc_init(void) { mi_option_set_default(mi_option_purge_decommits, 0); }
#else
void wt_alloc_collect(void) {}
void wt_alloc_init(void) {}
#endif
