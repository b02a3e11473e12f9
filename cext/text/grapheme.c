/* UAX #29's extended grapheme cluster rules, GB3 to GB999, walked forward from a
 * cluster's start. The rules that look further back than one character (GB9c's
 * conjuncts, GB11's emoji ZWJ sequences, GB12/13's regional indicator pairs) only
 * ever join characters no rule breaks between, so their state starts afresh at
 * each cluster. */
#include "text/grapheme.h"

#include "common/utf8.h"
#include "text/grapheme_data.h"

/* Grapheme_Cluster_Break values, as tools/gen_grapheme_tables.py numbers them. */
enum {
    GB_OTHER, GB_CR, GB_LF, GB_CONTROL, GB_EXTEND, GB_ZWJ, GB_RI, GB_PREPEND, GB_SPACING_MARK,
    GB_L, GB_V, GB_T, GB_LV, GB_LVT,
};
/* Indic_Conjunct_Break (bits 4-5) and Extended_Pictographic (bit 6). */
enum { INCB_NONE, INCB_LINKER, INCB_CONSONANT, INCB_EXTEND };
#define EXT_PICT 0x40

WT_INLINE uint8_t props_of(uint32_t cp)
{
    return wt_gb_stage2[(size_t)wt_gb_stage1[cp / WT_GRAPHEME_BLOCK] * WT_GRAPHEME_BLOCK + cp % WT_GRAPHEME_BLOCK];
}

/* GB9c: where a conjunct stands after a consonant and its marks. */
enum { CONJ_NONE, CONJ_CONSONANT, CONJ_LINKED };
/* GB11: where an emoji sequence stands. */
enum { EMOJI_NONE, EMOJI_PICT, EMOJI_ZWJ };

size_t wt_grapheme_end(const uint8_t *s, size_t n, size_t pos)
{
    size_t len;
    uint8_t prev = props_of(wt_utf8_decode(s, n, pos, &len));
    pos += len;
    int conj = CONJ_NONE, emoji = EMOJI_NONE, ri = 0;

    for (;;) {
        /* the state after prev */
        int gb = prev & 15, incb = (prev >> 4) & 3;
        if (incb == INCB_CONSONANT) conj = CONJ_CONSONANT;
        else if (incb == INCB_LINKER) conj = conj != CONJ_NONE ? CONJ_LINKED : CONJ_NONE;
        else if (incb != INCB_EXTEND) conj = CONJ_NONE;
        if (prev & EXT_PICT) emoji = EMOJI_PICT;
        else if (gb == GB_ZWJ) emoji = emoji == EMOJI_PICT ? EMOJI_ZWJ : EMOJI_NONE;
        else if (gb != GB_EXTEND) emoji = EMOJI_NONE;
        ri = gb == GB_RI ? ri + 1 : 0;

        if (pos >= n) return n;
        uint8_t next = props_of(wt_utf8_decode(s, n, pos, &len));
        int nb = next & 15;
        int join;
        if (gb == GB_CR && nb == GB_LF) join = 1;                                     /* GB3 */
        else if (gb == GB_CONTROL || gb == GB_CR || gb == GB_LF) join = 0;             /* GB4 */
        else if (nb == GB_CONTROL || nb == GB_CR || nb == GB_LF) join = 0;             /* GB5 */
        else if (gb == GB_L && (nb == GB_L || nb == GB_V || nb == GB_LV || nb == GB_LVT)) join = 1;  /* GB6 */
        else if ((gb == GB_LV || gb == GB_V) && (nb == GB_V || nb == GB_T)) join = 1;  /* GB7 */
        else if ((gb == GB_LVT || gb == GB_T) && nb == GB_T) join = 1;                 /* GB8 */
        else if (nb == GB_EXTEND || nb == GB_ZWJ) join = 1;                             /* GB9 */
        else if (nb == GB_SPACING_MARK) join = 1;                                       /* GB9a */
        else if (gb == GB_PREPEND) join = 1;                                            /* GB9b */
        else if (((next >> 4) & 3) == INCB_CONSONANT) join = conj == CONJ_LINKED;       /* GB9c */
        else if (gb == GB_ZWJ && (next & EXT_PICT)) join = emoji == EMOJI_ZWJ;          /* GB11 */
        else if (gb == GB_RI && nb == GB_RI) join = ri % 2 == 1;                        /* GB12, GB13 */
        else join = 0;                                                                  /* GB999 */
        if (!join) return pos;
        prev = next;
        pos += len;
    }
}
