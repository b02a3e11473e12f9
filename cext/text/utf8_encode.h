/* A Python str's code points (its 1-, 2- or 4-byte units) as UTF-8: what
 * PyUnicode_AsUTF8AndSize gives, without keeping a copy inside the str and, on
 * text that is mostly ASCII, several times faster (8 bytes of units at a time). */
#ifndef WT_UTF8_ENCODE_H
#define WT_UTF8_ENCODE_H

#include "common/wt_common.h"

/* The most bytes n units of kind (1, 2 or 4 bytes each) encode to. */
#define WT_UTF8_ROOM(kind, n) ((n) * ((kind) == 1 ? 2 : (kind) == 2 ? 3 : 4))

/* UTF-8 of units[0..n) of the kind into out (WT_UTF8_ROOM bytes): the byte
 * count, or SIZE_MAX when a unit is a surrogate (U+D800..U+DFFF), which has no
 * UTF-8 (CPython's encoder raises UnicodeEncodeError there). */
size_t wt_utf8_encode_units(int kind, const void *units, size_t n, uint8_t *out);

#endif
