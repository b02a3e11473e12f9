/* What the model files share; not part of the core's API. */
#ifndef WT_MODELS_INTERNAL_H
#define WT_MODELS_INTERNAL_H

#include "models/models.h"

typedef struct wt_bpe_sym wt_bpe_sym;
typedef struct wt_unigram wt_unigram;

struct wt_model {
    int kind;
    uint32_t n_ids;
    uint32_t *off;           /* the model's strings, copied */
    uint8_t *bytes;
    uint8_t *present;
    uint32_t unk;
    wt_strmap vocab;         /* every string */
    /* WordPiece */
    wt_strmap cont;          /* strings that start with the prefix, keyed by the rest */
    size_t max_chars, max_len, max_cont_len;
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
