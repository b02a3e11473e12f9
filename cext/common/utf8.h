/* UTF-8 stepping for the matcher. Input normally comes from Python str objects
 * (valid UTF-8), but every byte sequence is handled without reading out of
 * bounds: an invalid byte decodes as U+FFFD and advances one byte. */
#ifndef WT_UTF8_H
#define WT_UTF8_H

#include "common/wt_common.h"

/* Decode the code point at s[pos] (pos < n); *len receives its byte length.
 * Each length has its own test of its lead byte's range (C2..DF, E0..EF, F0..F4),
 * continuation bytes and overlong forms, no loop over the count. */
WT_INLINE uint32_t wt_utf8_decode(const uint8_t *s, size_t n, size_t pos, size_t *len)
{
    uint32_t c = s[pos];
    if (WT_LIKELY(c < 0x80)) { *len = 1; return c; }
    size_t left = n - pos;
    if (c - 0xC2 < 0x1E) {                                 /* C2..DF: 2 bytes, never overlong */
        if (left >= 2 && (s[pos + 1] & 0xC0) == 0x80) {
            *len = 2;
            return (c & 0x1F) << 6 | (s[pos + 1] & 0x3Fu);
        }
    } else if (c - 0xE0 < 0x10) {                          /* E0..EF: 3 bytes */
        if (left >= 3 && ((s[pos + 1] & 0xC0) | (s[pos + 2] & 0xC0) << 8) == 0x8080) {
            uint32_t cp = (c & 0x0F) << 12 | (s[pos + 1] & 0x3Fu) << 6 | (s[pos + 2] & 0x3Fu);
            if (cp >= 0x800) { *len = 3; return cp; }
        }
    } else if (c - 0xF0 < 0x05) {                          /* F0..F4: 4 bytes */
        if (left >= 4 && ((s[pos + 1] & 0xC0) | (s[pos + 2] & 0xC0) << 8 | (uint32_t)(s[pos + 3] & 0xC0) << 16) == 0x808080) {
            uint32_t cp = (c & 0x07) << 18 | (s[pos + 1] & 0x3Fu) << 12 | (s[pos + 2] & 0x3Fu) << 6 | (s[pos + 3] & 0x3Fu);
            if (cp - 0x10000 < 0x100000) { *len = 4; return cp; }
        }
    }
    *len = 1;
    return 0xFFFD;
}

/* pos moved over whole 8-byte words of ASCII that hold no byte in lo..hi (none
 * when lo > hi): where a search for a non-ASCII code point or such a byte goes
 * on byte by byte. Per byte, 7-bit b + (0x80 - lo) has its high bit set iff
 * b >= lo, b + (0x80 - hi - 1) iff b > hi, and never carries into the next. */
WT_INLINE size_t wt_skip_ascii_words(const uint8_t *s, size_t n, size_t pos, uint8_t lo, uint8_t hi)
{
    const uint64_t ones = 0x0101010101010101ull, high = ones * 0x80;
    for (uint64_t x; pos + 8 <= n; pos += 8) {
        memcpy(&x, s + pos, 8);
        if (x & high) break;
        if ((x + ones * (0x80 - lo)) & ~(x + ones * (0x80 - hi - 1)) & high) break;
    }
    return pos;
}

/* Start of the code point that ends just before pos (pos > floor). Exact for
 * valid UTF-8, which is all the bindings ever pass (Python str contents). */
WT_INLINE size_t wt_utf8_prev(const uint8_t *s, size_t floor, size_t pos)
{
    size_t p = pos - 1;
    /* A valid sequence has at most three continuation bytes before its lead. */
    for (int i = 0; i < 3 && p > floor && (s[p] & 0xC0) == 0x80; i++) p--;
    return p;
}

#endif
