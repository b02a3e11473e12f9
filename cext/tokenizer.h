/* The encoding pipeline: added-token split -> pre-tokenizer -> BPE per piece,
 * with the post-processor's fixed ids around the result. A wt_tokenizer is
 * immutable once built; per-call state lives in thread-local scratch, so any
 * number of threads may encode with one tokenizer at once without locks. */
#ifndef WT_TOKENIZER_H
#define WT_TOKENIZER_H

#include "bpe.h"
#include "regex.h"

typedef struct {
    /* Byte trie of added tokens, children of node k at edges [first[k], first[k+1]). */
    uint32_t n_nodes, n_added;
    uint32_t *first_edge;    /* n_nodes + 1 */
    uint8_t *edge_byte;
    uint32_t *edge_target;
    int32_t *node_added;     /* added-token index ending at the node, or -1 */
    uint32_t *added_id;      /* n_added token ids */
    uint8_t root_bytes[256]; /* bytes that can start an added token */
} wt_added;

typedef struct {
    wt_bpe bpe;
    wt_regex *re;            /* NULL: the whole segment is one piece */
    int keep_unmatched;      /* HF Split keeps text between matches; tiktoken drops it */
    wt_added added;
    uint32_t *prefix, *suffix;
    uint32_t n_prefix, n_suffix;
} wt_tokenizer;

typedef struct {
    const uint8_t *active;   /* per added token: split it out (1) or not; NULL: no split */
    size_t max_body;         /* ids kept from the text itself (truncation); SIZE_MAX: all */
    int add_special;         /* surround with the post-processor's prefix and suffix */
} wt_encode_opts;

typedef struct {
    uint32_t *ids;
    size_t len, cap;
} wt_ids;

typedef struct {
    const uint8_t *s;
    size_t n;
} wt_text;

/* The flat result of a batch: doc i is ids[offsets[i] .. offsets[i+1]). */
typedef struct {
    uint32_t *ids;
    int64_t *offsets;
    size_t n_docs;
} wt_flat;

int wt_ids_reserve(wt_ids *b, size_t extra);
/* This thread's reusable result buffer, emptied; NULL if out of memory. */
wt_ids *wt_thread_ids(void);
void wt_ids_free(wt_ids *b);

/* Build: takes copies of every table. See _core.pyx for the table layouts. */
int wt_added_init(wt_added *a, uint32_t n_nodes, const uint32_t *first_edge, const uint8_t *edge_byte,
                  const uint32_t *edge_target, const int32_t *node_added, uint32_t n_added,
                  const uint32_t *added_id);
void wt_tokenizer_free(wt_tokenizer *t);

/* Encode one text, appending to out. */
int wt_encode(const wt_tokenizer *t, const uint8_t *s, size_t n, const wt_encode_opts *o, wt_ids *out);

/* Leftmost-longest active added token in s[pos..n): 1 with its span and index, or 0. */
int wt_find_added(const wt_added *a, const uint8_t *s, size_t n, size_t pos, const uint8_t *active,
                  size_t *start, size_t *end, uint32_t *index);

/* Encode many texts on the worker pool into one flat result (free with wt_flat_free). */
int wt_encode_batch(const wt_tokenizer *t, const wt_text *texts, size_t n_texts,
                    const wt_encode_opts *o, int n_threads, wt_flat *res);
void wt_flat_free(wt_flat *f);

/* Bytes that ids decode to, concatenated into out; unknown ids are reported. */
int wt_decode(const wt_tokenizer *t, const uint32_t *ids, size_t n, int skip_special,
              int skip_unknown, uint8_t **out, size_t *out_len, size_t *bad_index);

#endif
