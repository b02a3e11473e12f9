#include "text/utf8_encode.h"

#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "units are packed from little-endian words");

/* Each function takes whole runs of ASCII units 8 or 16 bytes of units at a time
 * and everything else one unit at a time. */

static size_t from_ucs1(const uint8_t *u, size_t n, uint8_t *out)
{
    uint8_t *o = out;
    size_t i = 0;
    while (i < n) {
#ifdef __SSE2__
        if (n - i >= 16) {
            __m128i v = _mm_loadu_si128((const __m128i *)(u + i));
            if (!_mm_movemask_epi8(v)) {
                _mm_storeu_si128((__m128i *)o, v);
                o += 16;
                i += 16;
                continue;
            }
        }
#endif
        if (n - i >= 8) {
            uint64_t w;
            memcpy(&w, u + i, 8);
            if (!(w & 0x8080808080808080ull)) {
                memcpy(o, &w, 8);
                o += 8;
                i += 8;
                continue;
            }
        }
        uint8_t c = u[i++];
        if (c < 0x80) {
            *o++ = c;
        } else {
            o[0] = (uint8_t)(0xC0 | c >> 6);
            o[1] = (uint8_t)(0x80 | (c & 0x3F));
            o += 2;
        }
    }
    return (size_t)(o - out);
}

/* Code point c >= 0x80 of the BMP, not a surrogate: its 2 or 3 bytes at o; the new o. */
WT_INLINE uint8_t *put_bmp(uint8_t *o, uint32_t c)
{
    if (c < 0x800) {
        o[0] = (uint8_t)(0xC0 | c >> 6);
        o[1] = (uint8_t)(0x80 | (c & 0x3F));
        return o + 2;
    }
    o[0] = (uint8_t)(0xE0 | c >> 12);
    o[1] = (uint8_t)(0x80 | (c >> 6 & 0x3F));
    o[2] = (uint8_t)(0x80 | (c & 0x3F));
    return o + 3;
}

static size_t from_ucs2(const uint16_t *u, size_t n, uint8_t *out)
{
    uint8_t *o = out;
    size_t i = 0;
    while (i < n) {
#ifdef __SSE2__
        if (n - i >= 8) {
            __m128i v = _mm_loadu_si128((const __m128i *)(u + i));
            __m128i high = _mm_and_si128(v, _mm_set1_epi16((short)0xFF80));
            if (_mm_movemask_epi8(_mm_cmpeq_epi8(high, _mm_setzero_si128())) == 0xFFFF) {
                _mm_storel_epi64((__m128i *)o, _mm_packus_epi16(v, v));
                o += 8;
                i += 8;
                continue;
            }
        }
#endif
        if (n - i >= 4) {
            uint64_t w;
            memcpy(&w, u + i, 8);
            if (!(w & 0xFF80FF80FF80FF80ull)) {
                uint32_t b = (uint32_t)(w & 0xFF) | (uint32_t)(w >> 8 & 0xFF00) | (uint32_t)(w >> 16 & 0xFF0000)
                             | (uint32_t)(w >> 24 & 0xFF000000);
                memcpy(o, &b, 4);
                o += 4;
                i += 4;
                continue;
            }
        }
        uint32_t c = u[i++];
        if (c < 0x80) {
            *o++ = (uint8_t)c;
        } else {
            if (c - 0xD800 < 0x800) return SIZE_MAX;
            o = put_bmp(o, c);
        }
    }
    return (size_t)(o - out);
}

static size_t from_ucs4(const uint32_t *u, size_t n, uint8_t *out)
{
    uint8_t *o = out;
    size_t i = 0;
    while (i < n) {
        if (n - i >= 2) {
            uint64_t w;
            memcpy(&w, u + i, 8);
            if (!(w & 0xFFFFFF80FFFFFF80ull)) {
                o[0] = (uint8_t)w;
                o[1] = (uint8_t)(w >> 32);
                o += 2;
                i += 2;
                continue;
            }
        }
        uint32_t c = u[i++];
        if (c < 0x80) {
            *o++ = (uint8_t)c;
        } else if (c < 0x10000) {
            if (c - 0xD800 < 0x800) return SIZE_MAX;
            o = put_bmp(o, c);
        } else {
            o[0] = (uint8_t)(0xF0 | c >> 18);
            o[1] = (uint8_t)(0x80 | (c >> 12 & 0x3F));
            o[2] = (uint8_t)(0x80 | (c >> 6 & 0x3F));
            o[3] = (uint8_t)(0x80 | (c & 0x3F));
            o += 4;
        }
    }
    return (size_t)(o - out);
}

size_t wt_utf8_encode_units(int kind, const void *units, size_t n, uint8_t *out)
{
    if (kind == 1) return from_ucs1(units, n, out);
    if (kind == 2) return from_ucs2(units, n, out);
    return from_ucs4(units, n, out);
}
