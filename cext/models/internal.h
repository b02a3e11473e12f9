/* What the model files share; not part of the core's API. */
#ifndef WT_MODELS_INTERNAL_H
#define WT_MODELS_INTERNAL_H

#include "models/models.h"

typedef struct wt_bpe_sym wt_bpe_sym;
typedef struct wt_unigram wt_unigram;

/* The vocabulary's strings as a byte trie (WordPiece's longest match is one walk):
 * node 0 is the root; node k's children are edges [first[k], first[k+1]), sorted
 * by byte. */
typedef struct {
    uint32_t *first;
    uint8_t *edge_byte;
    uint32_t *edge_node;
    uint32_t *node_id;       /* the token ending at node k, or WT_NO_ID */
    uint32_t root[256];      /* the root's child per byte; 0: none */
    uint32_t n_nodes;
} wt_vocab_trie;

int wt_vocab_trie_init(wt_vocab_trie *t, const uint32_t *off, const uint8_t *bytes, const uint8_t *present,
                       uint32_t n_ids);
void wt_vocab_trie_free(wt_vocab_trie *t);

/* Node `node`'s child by byte c, or 0: none. */
WT_INLINE uint32_t wt_vocab_trie_child(const wt_vocab_trie *t, uint32_t node, uint8_t c)
{
    if (node == 0) return t->root[c];
    uint32_t lo = t->first[node], hi = t->first[node + 1];
    if (hi - lo > 8) {                      /* binary search: edges are sorted by byte */
        uint32_t end = hi;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (t->edge_byte[mid] < c) lo = mid + 1; else hi = mid;
        }
        return lo < end && t->edge_byte[lo] == c ? t->edge_node[lo] : 0;
    }
    for (; lo < hi; lo++)
        if (t->edge_byte[lo] >= c) return t->edge_byte[lo] == c ? t->edge_node[lo] : 0;
    return 0;
}

struct wt_model {
    int kind;
    uint32_t n_ids;
    uint32_t *off;           /* the model's strings, copied */
    uint8_t *bytes;
    uint8_t *present;
    uint32_t unk;
    wt_strmap vocab;         /* every string */
    /* WordPiece */
    wt_vocab_trie trie;      /* every string */
    uint32_t cont_root;      /* the trie's node of the continuing prefix, or WT_NO_ID: none */
    size_t max_chars, max_len;
    wt_bpe_sym *bpe;
    wt_unigram *uni;
};

int64_t wt_wordpiece_encode(const wt_model *m, const uint8_t *p, size_t n, uint32_t *out);
int64_t wt_wordlevel_encode(const wt_model *m, const uint8_t *p, size_t n, uint32_t *out);

int wt_bpe_sym_new(wt_model *m, const wt_model_def *def);
void wt_bpe_sym_free(wt_bpe_sym *b);
int64_t wt_bpe_sym_encode(const wt_model *m, const uint8_t *p, size_t n, uint32_t *out);

int wt_unigram_new(wt_model *m, const wt_model_def *def);
void wt_unigram_free(wt_unigram *u);
int64_t wt_unigram_encode(const wt_model *m, const uint8_t *p, size_t n, uint32_t *out);

/* A thread's scratch memory for the models: grown on demand, kept between calls. */
typedef struct {
    void *p;
    size_t cap;
} wt_model_buf;
/* Buffer slot i (0..7) of this thread with room for `bytes`; NULL if out of memory. */
void *wt_model_scratch(int i, size_t bytes);

#endif
