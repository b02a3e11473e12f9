/* The core's hashes of integers and byte strings (tables index by the low bits). */
#ifndef WT_HASH_H
#define WT_HASH_H

#include "common/wt_common.h"

/* A product's low bits see only its factors' low bits, so the high half is
 * folded in first: without it a packed key's last bytes never reach the index. */
WT_INLINE uint64_t wt_hash_u64(uint64_t k)
{
    k ^= k >> 32;
    k *= 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 29);
}

/* Any length; the tail is one load (overlapping the body, or the bytes packed
 * into one word), never a byte loop. */
WT_INLINE uint64_t wt_hash_mem(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n, w = 0;
    if (n < 8) {
        if (n >= 4) {
            uint32_t head, tail;
            memcpy(&head, p, 4);
            memcpy(&tail, p + n - 4, 4);
            w = head | (uint64_t)tail << 32;
        } else if (n) {
            w = p[0] | (uint64_t)p[n / 2] << 8 | (uint64_t)p[n - 1] << 16;
        }
    } else {
        for (size_t i = 0; i + 8 < n; i += 8) {
            memcpy(&w, p + i, 8);
            h = (h ^ w) * 0xff51afd7ed558ccdull;
            h ^= h >> 32;
        }
        memcpy(&w, p + n - 8, 8);
    }
    h ^= w;
    h ^= h >> 32;
    h *= 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

/* n >= 8: 8-byte compares, the last one overlapping. */
WT_INLINE int wt_mem_equal8(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint64_t x, y;
    for (size_t i = 0; i + 8 < n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y) return 0;
    }
    memcpy(&x, a + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return x == y;
}

#endif
