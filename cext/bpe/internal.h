/* What the BPE files (build.c, merge.c, linear.c) share; not part of the core's API. */
#ifndef WT_BPE_INTERNAL_H
#define WT_BPE_INTERNAL_H

#include "bpe/bpe.h"
#include "common/hash.h"

/* ---- (left, right) -> rank ---- */

WT_INLINE uint64_t pair_key(uint32_t l, uint32_t r) { return (uint64_t)l << 42 | (uint64_t)r << 21; }

#define WT_RANK_BITS (((uint64_t)1 << 21) - 1)

/* Where the probe for a pair starts. */
WT_INLINE size_t pair_home(const wt_pair_map *m, uint64_t key) { return wt_hash_u64(key) & m->mask; }

/* The pair's bit in the filter (hash bits the home does not use). */
WT_INLINE size_t pair_filter_bit(const wt_pair_map *m, uint64_t hash) { return (size_t)(hash >> 40) & m->filter_mask; }

/* The pair's rank, or UINT32_MAX when it does not merge. */
WT_INLINE uint32_t pair_rank(const wt_bpe *b, uint32_t l, uint32_t r)
{
    const wt_pair_map *m = &b->pairs;
    uint64_t key = pair_key(l, r), hash = wt_hash_u64(key);
    size_t bit = pair_filter_bit(m, hash);
    if (!(m->filter[bit / 64] >> (bit % 64) & 1)) return UINT32_MAX;
    for (size_t i = hash & m->mask;; i = (i + 1) & m->mask) {
        uint64_t slot = m->slots[i];
        if ((slot & ~WT_RANK_BITS) == key) return (uint32_t)(slot & WT_RANK_BITS);
        if (slot == UINT64_MAX) return UINT32_MAX;
    }
}

/* The token a pair of this rank merges into. */
WT_INLINE uint32_t rank_merged(const wt_bpe *b, uint32_t rank)
{
    return b->pairs.rank_merged ? b->pairs.rank_merged[rank] : rank;
}

WT_INLINE void pair_prefetch(const wt_bpe *b, uint32_t l, uint32_t r)
{
    const wt_pair_map *m = &b->pairs;
    uint64_t hash = wt_hash_u64(pair_key(l, r));
    size_t bit = pair_filter_bit(m, hash);
    __builtin_prefetch(&m->filter[bit / 64]);
    __builtin_prefetch(&m->slots[hash & m->mask]);
}

/* The byte length of token id (0 for WT_NO_ID). */
WT_INLINE size_t token_len(const wt_bpe *b, uint32_t id)
{
    return id == WT_NO_ID ? 0 : b->tok_off[id + 1] - b->tok_off[id];
}

/* Up to three ids packed as b->char_ids holds them: 21 bits each from the lowest,
 * WT_CHAR_NONE after the last; UINT64_MAX for more than three. */
WT_INLINE uint64_t pack_ids(const uint32_t *ids, size_t m)
{
    uint64_t x = UINT64_MAX;
    if (m <= 3)
        for (size_t k = m; k-- > 0;) x = x << 21 | ids[k];
    return x;
}

/* ---- merge.c ---- */

/* The merges of one piece of n <= WT_BPE_SHORT bytes in a small array (ids: room for n);
 * top (optional) receives the parts of the merge that left a single part. */
size_t wt_merge_small(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *ids, uint32_t *top, uint64_t *work);
/* The same for any n, with a heap: the count or WT_E*. */
int64_t wt_merge_heap(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc,
                      uint32_t *top);
/* Any piece, by the path for its length. */
int64_t wt_merge_piece(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc);
/* Room in the heap's arrays for n parts. */
int wt_bpe_scratch_reserve(wt_bpe_scratch *sc, size_t n);

/* ---- linear.c ---- */

/* wt_linear_piece found no encoding: impossible when the load-time checks hold; the
 * caller then takes the heap. */
#define WT_LINEAR_NONE (-1000)
/* A long piece in linear time (linear_status ON): the count, WT_E* or WT_LINEAR_NONE. */
int64_t wt_linear_piece(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc);
/* The linear path's tables, from split[] and tree_rank[] (see linear.c). */
int wt_linear_init(wt_bpe *b);
void wt_linear_free(wt_bpe_linear *L);

/* ---- cuts.c ---- */

/* The cut tables (wt_bpe.cuts), from the tokens' bytes. */
int wt_cuts_init(wt_bpe *b);
void wt_cuts_free(wt_bpe_cuts *c);
/* A long piece's merges, cut where no token joins the two sides: the count or WT_E*. */
int64_t wt_cuts_merge(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc,
                      wt_piece_table *table);

#endif
