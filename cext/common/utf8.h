/* UTF-8 stepping for the matcher. Input normally comes from Python str objects
 * (valid UTF-8), but every byte sequence is handled without reading out of
 * bounds: an invalid byte decodes as U+FFFD and advances one byte. */
#ifndef WT_UTF8_H
#define WT_UTF8_H

#include "common/wt_common.h"

/* Decode the code point at s[pos] (pos < n); *len receives its byte length. */
WT_INLINE uint32_t wt_utf8_decode(const uint8_t *s, size_t n, size_t pos, size_t *len)
{
    uint32_t c = s[pos];
    if (WT_LIKELY(c < 0x80)) { *len = 1; return c; }
    size_t need; uint32_t min;
    if ((c & 0xE0) == 0xC0) { need = 1; c &= 0x1F; min = 0x80; }
    else if ((c & 0xF0) == 0xE0) { need = 2; c &= 0x0F; min = 0x800; }
    else if ((c & 0xF8) == 0xF0) { need = 3; c &= 0x07; min = 0x10000; }
    else { *len = 1; return 0xFFFD; }
    if (pos + need >= n) { *len = 1; return 0xFFFD; }
    for (size_t i = 1; i <= need; i++) {
        uint32_t b = s[pos + i];
        if ((b & 0xC0) != 0x80) { *len = 1; return 0xFFFD; }
        c = (c << 6) | (b & 0x3F);
    }
    if (c < min || c > 0x10FFFF) { *len = 1; return 0xFFFD; }
    *len = need + 1;
    return c;
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
