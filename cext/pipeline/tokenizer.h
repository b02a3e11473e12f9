/* The encoding pipeline: added-token split -> pre-tokenizer -> BPE per piece,
 * with the post-processor's fixed ids around the result. A wt_tokenizer is
 * immutable once built; per-call state lives in thread-local scratch, so any
 * number of threads may encode with one tokenizer at once without locks. */
#ifndef WT_TOKENIZER_H
#define WT_TOKENIZER_H

#include "bpe/bpe.h"
#include "text/nfc.h"
#include "pretokenize/regex.h"
#include "pretokenize/scan.h"
#include "models/models.h"
#include "pretokenize/classes.h"
#include "text/normalize.h"

/* Added tokens of one pass, as a byte trie: children of node k at edges
 * [first_edge[k], first_edge[k+1]). */
typedef struct {
    uint32_t n_nodes, n_added;
    uint32_t *first_edge;    /* n_nodes + 1 */
    uint8_t *edge_byte;
    uint32_t *edge_target;
    int32_t *node_added;     /* added-token index ending at the node, or -1 */
    uint32_t *added_id;      /* n_added token ids */
    uint8_t *added_flags;    /* n_added WT_ADDED_* */
    uint8_t root_bytes[256]; /* bytes that can start an added token */
    int only_root;           /* the one such byte (memchr finds candidates), or -1 */
    uint8_t n_roots, roots[6]; /* the bytes that start one, when 2 to 6 (SIMD finds candidates) */
} wt_added;

enum { WT_ADDED_LSTRIP = 1, WT_ADDED_RSTRIP = 2 };

/* How a pre-tokenizer split turns matches and the gaps between them into
 * pieces: HF's SplitDelimiterBehavior. */
enum {
    WT_SPLIT_ISOLATED = 0,
    WT_SPLIT_REMOVED = 1,
    WT_SPLIT_MERGED_PREV = 2,
    WT_SPLIT_MERGED_NEXT = 3,
    WT_SPLIT_CONTIGUOUS = 4,
};

#define WT_MAX_STAGES 16

typedef struct {
    wt_regex *re;            /* NULL: the stage does not split */
    wt_scanner scan;         /* family != 0: a hand-fused matcher for re's pattern, used instead */
    int behavior, invert;
    int prefix_space;        /* ByteLevel add_prefix_space: ' ' before a piece that lacks one */
    int kind;                /* WT_STAGE_*: how it splits when re is NULL */
    wt_classes classes;      /* WT_STAGE_CLASSES */
    wt_metaspace ms;         /* WT_STAGE_METASPACE */
} wt_stage;

enum { WT_STAGE_PATTERN = 0, WT_STAGE_CLASSES = 1, WT_STAGE_METASPACE = 2 };

typedef struct {
    wt_bpe bpe;
    wt_nfc nfc;              /* HF's NFC normalizer, applied to what pass 0 leaves; unset: none */
    wt_stage stages[WT_MAX_STAGES];  /* applied in order, each to every piece of the one before */
    uint32_t n_stages;
    /* Pass 0 runs on the raw text; pass 1 on what pass 0 leaves (HF's tokens
     * matched after normalization). HF matches every token of a pass and then
     * ignores inactive ones; tiktoken (filter_inactive) only looks for active ones. */
    wt_added added[2];
    int filter_inactive;
    uint32_t *prefix, *suffix;
    uint32_t n_prefix, n_suffix;
    wt_norm *norm;           /* normalizers beyond NFC (text/normalize.h), on what pass 0 leaves; NULL: none */
    wt_model *model;         /* the model when not byte-level BPE (models/models.h); NULL: byte-level BPE */
    uint32_t fused_at;       /* the stage whose digit split fused_last does (wt_tokenizer_fuse); WT_MAX_STAGES: none */
    wt_scanner fused_last;   /* the last stage's scanner with that split in it (digits_apart) */
} wt_tokenizer;

typedef struct {
    const uint8_t *active[2];/* per added token of each pass: split out or not; NULL: pass off */
    int first_pass;          /* 1: the text is a segment pass 0 already produced; 2: one already normalized */
    size_t max_body;         /* ids kept from the text itself (truncation); SIZE_MAX: all */
    int add_special;         /* surround with the post-processor's prefix and suffix */
    int mid_text;            /* the text is a segment that does not begin the original text (it
                              * follows an added token): Metaspace's prepend_scheme "first" skips it */
} wt_encode_opts;

typedef struct {
    uint32_t *ids;
    size_t len, cap;
} wt_ids;

typedef struct {
    uint8_t *p;
    size_t len, cap;
} wt_bytes;

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
/* Append ids[0..n). */
int wt_ids_push(wt_ids *out, const uint32_t *ids, size_t n);
/* This thread's reusable result buffer, emptied; NULL if out of memory. */
wt_ids *wt_thread_ids(void);
/* The UTF-8 of a str's n units of kind (1, 2, 4) in this thread's reusable text
 * buffer (until its next call here), its length in *len; NULL with *rc WT_ENOMEM,
 * or WT_EINVAL where a unit is a surrogate (which has no UTF-8). */
const uint8_t *wt_thread_utf8(int kind, const void *units, size_t n, size_t *len, int *rc);
void wt_ids_free(wt_ids *b);

/* Build: takes copies of every table. See _core.pyx for the table layouts. */
int wt_added_init(wt_added *a, uint32_t n_nodes, const uint32_t *first_edge, const uint8_t *edge_byte,
                  const uint32_t *edge_target, const int32_t *node_added, uint32_t n_added,
                  const uint32_t *added_id, const uint8_t *added_flags);
void wt_tokenizer_free(wt_tokenizer *t);

/* After the stages are set: a class split of digits before DeepSeek-V3's split
 * (and other class splits with no digits in them) is done by that split's
 * scanner in the same pass, where the result is provably the same. */
void wt_tokenizer_fuse(wt_tokenizer *t);

/* Encode one text, appending to out. */
int wt_encode(const wt_tokenizer *t, const uint8_t *s, size_t n, const wt_encode_opts *o, wt_ids *out);

/* The same, on up to n_threads threads of the pool for a long text that can be
 * cut where the pre-tokenizer starts afresh (the parts' ids, end to end, are the
 * whole text's); other texts as wt_encode. *parts is NULL when the text's ids are
 * in out, else a finished batch whose chunks (wt_batch_chunk, in order) hold them,
 * left where the pool put them; the caller frees it (wt_batch_free). */
typedef struct wt_batch wt_batch;
int wt_encode_long(const wt_tokenizer *t, const uint8_t *s, size_t n, const wt_encode_opts *o, int n_threads,
                   wt_ids *out, wt_batch **parts);
size_t wt_batch_chunks(const wt_batch *b);
const uint32_t *wt_batch_chunk(const wt_batch *b, size_t c, size_t *n);

/* For tests: where wt_encode_long starts each part of s (up to max into starts), the count. */
size_t wt_long_parts(const wt_tokenizer *t, const uint8_t *s, size_t n, const wt_encode_opts *o, int n_threads,
                     size_t *starts, size_t max);

/* The next added token of a pass in s[pos..n), leftmost-longest, with HF's
 * lstrip/rstrip applied: 1 with its span and index, 0 if none. */
int wt_find_added(const wt_tokenizer *t, int pass, const uint8_t *s, size_t n, size_t pos,
                  const uint8_t *active, size_t *start, size_t *end, uint32_t *index);

/* The pre-tokenizer's pieces of s (no added-token split): bytes into out,
 * piece lengths into lens. For tests and debugging. */
int wt_pre_tokenize(const wt_tokenizer *t, const uint8_t *s, size_t n, wt_bytes *out, wt_ids *lens);
int wt_bytes_reserve(wt_bytes *b, size_t extra);
void wt_bytes_free(wt_bytes *b);

/* Encode many texts on the worker pool into one flat result (free with wt_flat_free). */
int wt_encode_batch(const wt_tokenizer *t, const wt_text *texts, size_t n_texts,
                    const wt_encode_opts *o, int n_threads, wt_flat *res);
void wt_flat_free(wt_flat *f);

/* A batch in steps, so the caller can turn finished documents into results
 * while the pool encodes the rest. texts must outlive the batch.
 * begin: the pool starts (NULL and *rc on failure); step: the caller encodes
 * one chunk (0 when none is left); ready: documents [0, ready) are encoded
 * and wt_batch_doc gives their ids; finish: the caller encodes what is left
 * and waits for all, returning the first error; free: stops the batch if it
 * is still running. */
wt_batch *wt_batch_begin(const wt_tokenizer *t, const wt_text *texts, size_t n_texts,
                         const wt_encode_opts *o, int n_threads, int *rc);
int wt_batch_step(wt_batch *b);
size_t wt_batch_ready(wt_batch *b);
const uint32_t *wt_batch_doc(const wt_batch *b, size_t i, size_t *n);
int wt_batch_finish(wt_batch *b);
void wt_batch_free(wt_batch *b);

/* This thread's merge scratch (tests drive wt_bpe_merge_with with it); NULL if out of memory. */
wt_bpe_scratch *wt_thread_bpe_scratch(void);

/* Work done by this thread so far, in steps that each examine a bounded number
 * of bytes: merges, pre-tokenizer (pattern matcher and scanners), NFC. reset
 * zeroes them after reading. Returns WT_ENOMEM if the thread has no scratch. */
int wt_work_counters(uint64_t *bpe, uint64_t *split, uint64_t *normalize, int reset);

/* Bytes that ids decode to, concatenated into out; unknown ids are reported. */
int wt_decode(const wt_tokenizer *t, const uint32_t *ids, size_t n, int skip_special,
              int skip_unknown, uint8_t **out, size_t *out_len, size_t *bad_index);

#endif
