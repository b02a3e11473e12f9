/* The models beyond byte-level BPE, each a function piece -> ids with HF's exact
 * results: WordPiece (greedy longest match), WordLevel (the whole piece), BPE over
 * characters (SentencePiece style: byte fallback, unknown tokens, subword
 * prefix and word suffix) and Unigram (Viterbi over scores). A piece is the
 * UTF-8 of a pre-tokenized word; a piece of n bytes has at most n ids.
 *
 * A model owns the tokenizer's piece table like byte-level BPE does: seeded at
 * load with every vocabulary string's ids, it learns the pieces it resolves
 * (pipeline/tokenizer.c asks wt_model_resolve for a block's misses). Immutable
 * once built, except for that table. */
#ifndef WT_MODELS_H
#define WT_MODELS_H

#include "bpe/piece_table.h"
#include "common/wt_common.h"

enum {
    WT_MODEL_WORDPIECE = 1,
    WT_MODEL_WORDLEVEL = 2,
    WT_MODEL_BPE = 3,
    WT_MODEL_UNIGRAM = 4,
};

/* A text needs the unknown token and the model has none (HF raises too). */
#define WT_EUNK (-20)

/* Token strings -> ids: open addressing over the model's own vocabulary. */
typedef struct {
    uint32_t *slots;         /* id, or WT_NO_ID */
    size_t mask;
    const uint32_t *off;     /* the strings (the model's) */
    const uint8_t *bytes;
    size_t skip;             /* bytes of each string not part of its key (a prefix) */
} wt_strmap;

typedef struct wt_model wt_model;

/* What every model is built from: its vocabulary (id i's string is
 * bytes[off[i] .. off[i+1]), present[i] != 0 when id i is in it) and options. */
typedef struct {
    int kind;
    uint32_t n_ids;
    const uint32_t *off;
    const uint8_t *bytes;
    const uint8_t *present;
    uint32_t unk;            /* the unknown token's id, or WT_NO_ID */
    /* WordPiece: the continuing prefix ("##"), the longest word in characters */
    const uint8_t *prefix;
    size_t prefix_len;
    size_t max_chars;
    /* BPE: merges as (left, right, merged) rows in rank order; the subword
     * prefix and word suffix (empty: none); byte_fallback, fuse_unk, ignore_merges */
    const uint32_t *merges;
    size_t n_merges;
    const uint8_t *suffix;
    size_t suffix_len;
    int byte_fallback, fuse_unk, ignore_merges;
    int unk_missing;         /* BPE: an unknown token is named but not in the vocabulary (WT_EUNK when needed) */
    /* Unigram: a score per id (HF's f64) */
    const double *scores;
    size_t test_slots;       /* 0, or a small unseeded piece table (tests) */
} wt_model_def;

int wt_model_new(wt_model **out, const wt_model_def *def, wt_piece_table *table);
void wt_model_free(wt_model *m);

/* The ids of one piece (out: room for n), or WT_E*. */
int64_t wt_model_encode(const wt_model *m, const uint8_t *p, size_t n, uint32_t *out);

/* BPE over characters may cut a piece into parts whose ids, joined, are the piece's
 * (where no merge can join the characters on either side: before a U+2581, between
 * ASCII characters, after a U+2581): whether it does, and the end of the part that
 * starts at pos. */
int wt_model_cuts(const wt_model *m);
size_t wt_model_cut(const wt_model *m, const uint8_t *s, size_t n, size_t pos);
/* Whether (with cuts) a piece is cut before a U+2581 that follows ASCII character a. */
int wt_model_cuts_after(const wt_model *m, uint8_t a);
/* The same after any character c[0..len) but U+2581 (its UTF-8). */
int wt_model_cuts_after_char(const wt_model *m, const uint8_t *c, size_t len);

/* A block's misses: piece j is p[mi[j]][0 .. len[mi[j]]) with piece-table hash
 * h[mi[j]]; its ids go to base + at[j], their count to k[j]. Learns them. */
int wt_model_resolve(const wt_model *m, wt_piece_table *table, const uint8_t *const *p, const size_t *len,
                     const uint64_t *h, uint32_t *base, const uint16_t *mi, const size_t *at, size_t *k,
                     size_t n_miss);

/* ---- shared by the model files ---- */

int wt_strmap_init(wt_strmap *sm, const uint32_t *off, const uint8_t *bytes, const uint8_t *present,
                   uint32_t n_ids, size_t skip, const uint8_t *need, size_t need_len);
void wt_strmap_free(wt_strmap *sm);
uint32_t wt_strmap_get(const wt_strmap *sm, const uint8_t *p, size_t n);

#endif
