/* Shared conventions of warptok's C core: one prefix (wt_/WT_), 0 or a negative
 * WT_E* code from every fallible function, and never any call into Python. */
#ifndef WT_COMMON_H
#define WT_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#if defined(__GNUC__) || defined(__clang__)
#define WT_INLINE static inline __attribute__((always_inline))
#define WT_NOINLINE __attribute__((noinline))
#define WT_LIKELY(x) __builtin_expect(!!(x), 1)
#define WT_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define WT_INLINE static inline
#define WT_NOINLINE
#define WT_LIKELY(x) (x)
#define WT_UNLIKELY(x) (x)
#endif

/* Error codes; Cython turns them into exceptions in one place (_core.pyx: check). */
enum {
    WT_OK = 0,
    WT_ENOMEM = -1,          /* allocation failed */
    WT_EINVAL = -2,          /* bad table handed to a constructor */
    WT_ETHREAD = -3,         /* a worker thread could not be started */
    WT_EREGEX_STACK = -4,    /* the regex backtracking stack exceeded its bound */
};

#define WT_NO_ID UINT32_MAX

/* The least power of two >= n, at least 16: the capacity of an open-addressing table. */
static inline size_t wt_pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

#endif
