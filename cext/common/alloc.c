#include "common/alloc.h"

#ifdef WT_USE_MIMALLOC
/* mimalloc's single-file build; setup.py compiles it without MI_MALLOC_OVERRIDE. */
#include "../../vendor/mimalloc/src/static.c"

void wt_alloc_collect(void) { mi_collect(0); }
#else
void wt_alloc_collect(void) {}
#endif
