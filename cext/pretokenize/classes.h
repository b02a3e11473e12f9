/* Pre-tokenizers that split by a class per code point (HF's BertPreTokenizer,
 * Whitespace, WhitespaceSplit, CharDelimiterSplit, Punctuation(Isolated),
 * Digits): each character is dropped, a piece of its own, or part of a run of
 * its class; a piece is a maximal run of one class. And Metaspace's rewrite of
 * a piece (spaces to its replacement, the replacement put in front) before it
 * splits on the replacement. Tables are built at load (_compile/charmap.py). */
#ifndef WT_CLASSES_H
#define WT_CLASSES_H

#include "common/wt_common.h"

#define WT_CLASS_BLOCK 64
enum {
    WT_CLASS_REMOVED = 0xFF,     /* dropped, and ends the piece before it */
    WT_CLASS_ISOLATED = 0xFE,    /* a piece of its own */
    /* any other value: a run class */
};

typedef struct {
    uint32_t *block_of;          /* 0x110000 / WT_CLASS_BLOCK */
    uint8_t *classes;            /* n_blocks * WT_CLASS_BLOCK */
    uint8_t ascii[128];
} wt_classes;

int wt_classes_init(wt_classes *c, const uint32_t *block_of, size_t n_block_of, const uint8_t *classes,
                    size_t n_classes);
void wt_classes_free(wt_classes *c);

/* Up to max pieces of s[0..n) from *pos on: starts and ends, their count; *pos
 * moves past them (n when the text is done). */
size_t wt_classes_split(const wt_classes *c, const uint8_t *s, size_t n, size_t *pos, size_t *starts,
                        size_t *ends, size_t max);

/* Metaspace. */
enum { WT_PREPEND_ALWAYS = 0, WT_PREPEND_NEVER = 1, WT_PREPEND_FIRST = 2 };
typedef struct {
    uint8_t rep[4];              /* the replacement character's UTF-8 */
    size_t rep_len;
    int scheme, split;
} wt_metaspace;

/* The piece s[0..n) rewritten into out (room for 3 * n + 4 bytes): spaces become
 * the replacement, which is put in front when the scheme says so (first: only a
 * piece at the start of the text, at_start). Its length. */
size_t wt_metaspace_rewrite(const wt_metaspace *m, const uint8_t *s, size_t n, int at_start, uint8_t *out);

/* Where the piece that starts at pos ends when splitting on the replacement
 * with MergedWithNext (a replacement starts a piece). */
size_t wt_metaspace_next(const wt_metaspace *m, const uint8_t *s, size_t n, size_t pos);

#endif
