/* Unicode NFC with the data of the reference (HF tokenizers carries Unicode 9.0,
 * which Python's unicodedata does not): the tables come from _normalize.py at
 * load, so C and the Python table path share one source. Immutable once built;
 * any number of threads may normalize with one wt_nfc at once. */
#ifndef WT_NFC_H
#define WT_NFC_H

#include "common/wt_common.h"

typedef struct {
    uint32_t cp, info;       /* info: ccc (bits 0-7), decomposition length (8-15) and start (16-31) */
} wt_nfc_char;

typedef struct {
    uint64_t key;            /* (first << 21) | second; 0 = empty */
    uint32_t composite, unused;
} wt_nfc_pair;

typedef struct {
    uint8_t *unstable;       /* bit set over code points: may change under NFC or join the one before */
    uint64_t stable64[16];   /* bit b: code points 64b .. 64b+63 (below U+10000) are all stable */
    wt_nfc_char *chars;      /* open addressing by code point; cp 0 = empty (U+0000 is inert) */
    size_t chars_mask;
    uint32_t *decomp;        /* full canonical decompositions, concatenated */
    wt_nfc_pair *pairs;      /* primary composites (Hangul is algorithmic) */
    size_t pairs_mask;
    size_t max_decomp;       /* the most code points one decomposes to */
} wt_nfc;

/* Build from the reference's data: unstable (0x110000 / 8 bytes), n_chars code
 * points with their combining class and full decomposition (decomp_len[i] code
 * points each, concatenated in decomp; Hangul syllables are algorithmic and not
 * listed), n_pairs (first, second) -> composite. Copies every table. */
int wt_nfc_init(wt_nfc *f, const uint8_t *unstable, size_t n_chars, const uint32_t *char_cp,
                const uint8_t *char_ccc, const uint8_t *decomp_len, const uint32_t *decomp,
                size_t n_pairs, const uint32_t *pair_first, const uint32_t *pair_second,
                const uint32_t *pair_composite);
void wt_nfc_free(wt_nfc *f);

/* A thread's buffers for wt_nfc_apply, reused between calls; zero-initialise. */
typedef struct {
    uint8_t *out;            /* the normalized text */
    uint32_t *cps;           /* one region's code points while it is rebuilt */
    uint8_t *cls;            /* their combining classes */
    size_t out_cap, cps_cap, cls_cap;
    uint64_t work;           /* steps done by this thread's wt_nfc_apply calls (wt_work_counters) */
} wt_nfc_scratch;
void wt_nfc_scratch_free(wt_nfc_scratch *sc);

/* NFC of the valid UTF-8 s[0..n). Returns 0 when s is already normalized, 1 when
 * the result is in sc->out[0..*out_n), or WT_ENOMEM. */
int wt_nfc_apply(const wt_nfc *f, const uint8_t *s, size_t n, wt_nfc_scratch *sc, size_t *out_n);

#endif
