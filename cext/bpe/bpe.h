/* Byte-pair encoding of one pre-tokenized piece.
 * Both reference semantics reduce to one table of pair merges:
 *  - tiktoken: any adjacent pair whose concatenation is a token merges, lowest
 *    rank first; the pair table is derived from the vocabulary;
 *  - HF: only listed merges, rank = position in `merges` (the last listing wins).
 * Ties go to the leftmost pair in both. */
#ifndef WT_BPE_H
#define WT_BPE_H

#include <stdatomic.h>

#include "bpe/piece_table.h"
#include "common/wt_common.h"

/* (left, right) -> rank, one word a pair: left << 42 | right << 21 | rank, so
 * ids and ranks are below 2^21 (WT_PAIR_LIMIT); UINT64_MAX = empty. The merged
 * token is rank_merged[rank] (tiktoken: the rank itself), read only for the
 * pair that merges. */
#define WT_PAIR_LIMIT (1u << 21)
typedef struct {
    uint64_t *slots;
    size_t mask;
    uint64_t *filter;        /* a bit per pair's hash (high bits): most pairs that do not
                              * merge are known so here, in cache, without a probe */
    size_t filter_mask;      /* bits - 1 */
    uint32_t *rank_merged;   /* NULL: the rank is the merged token (tiktoken) */
} wt_pair_map;

/* Tables of the linear-time path (see bpe.c, "linear BPE"): built at load when the
 * vocabulary allows it, immutable after. */
typedef struct {
    uint32_t *split;         /* 2 per id: left and right part of the id's last merge */
    uint32_t *tree_rank;     /* per id: 1 + rank of that merge; 0 for a byte */
    uint32_t *shorter;       /* per id: longest proper prefix that is a trie token, or WT_NO_ID */
    uint32_t *node_first;    /* trie: node k's children are edges [node_first[k], node_first[k+1]) */
    uint8_t *edge_byte;      /* sorted within a node */
    uint32_t *edge_node;
    uint32_t *node_id;       /* token ending at node k, or WT_NO_ID */
    uint32_t root[256];      /* the root's child per byte; 0 = none (node 0 is the root) */
    uint32_t n_nodes;
    /* Runs of one byte c: entry run_first[c] + k - 1 holds the node of c^k and the
     * longest token among c^1..c^k, for every k the trie has (a long run then
     * costs one lookup per position instead of a walk as deep as its longest token). */
    uint32_t run_first[257];
    uint32_t *run_node, *run_best;
} wt_bpe_linear;

/* Where long pieces may be cut (cuts.c): keys of the characters that tokens
 * join to the next byte, in open addressing (0 = empty); two ASCII characters and
 * the tails of characters that tokens begin inside are bits. */
typedef struct {
    uint64_t *keys;
    size_t mask, count;
    uint64_t ascii[128][2];
    uint64_t partial[64][4];
} wt_bpe_cuts;

/* Why a tokenizer stays on the heap path (wt_bpe.linear_status). */
enum {
    WT_LINEAR_ON = 0,
    WT_LINEAR_BROKEN = 1,    /* a token's last merge joins parts the merges do not rebuild */
    WT_LINEAR_OFF = 2,       /* switched off when loading (tests, comparisons) */
};

typedef struct {
    uint32_t serial;         /* unique per tokenizer: the key of its entries in per-thread memos */
    uint32_t n_ids;          /* ids are 0..n_ids-1 */
    uint32_t max_len;        /* the longest WT_TOK_BPE token's byte length */
    uint32_t *tok_off;       /* n_ids + 1 offsets into tok_bytes: the bytes an id decodes to */
    uint8_t *tok_bytes;
    uint8_t *tok_flags;      /* WT_TOK_* */
    uint64_t *vocab;         /* ids flagged WT_TOK_BPE by their bytes (open addressing): the high
                              * half of the bytes' hash above the id (UINT64_MAX: empty), so a
                              * probe reads the token's bytes only when the hashes agree */
    size_t vocab_mask;
    wt_pair_map pairs;
    uint32_t *byte_ranks;    /* 256 x 256: the rank of the pair of two bytes' tokens (UINT32_MAX: none) */
    uint32_t *preformed;     /* per code point below 0x10000: the token its bytes surely merge into
                              * before anything else touches them, or WT_NO_ID (build.c) */
    uint64_t *char_ids;      /* per code point of 2 or 3 bytes: what its bytes alone merge into,
                              * ids of 21 bits from the lowest, WT_CHAR_NONE after the last */
    uint64_t *symbol_ids;    /* the same for U+1F000.. (WT_SYMBOL_COUNT: emoji, mahjong, cards),
                              * UINT64_MAX where that is more than three ids */
    uint32_t byte_id[256];
    int linear_status;       /* WT_LINEAR_*: ON when the tables below are built */
    uint32_t linear_bad_id;  /* with BROKEN: the first token found so */
    uint32_t n_unordered;    /* tokens flagged WT_TOK_UNORDERED */
    wt_bpe_linear lin;
    wt_bpe_cuts cuts;
    wt_piece_table pieces;   /* the one mutable part: added to by any thread, without locks */
    int whole_seeded;        /* every WT_TOK_WHOLE token of up to WT_PT_LONG bytes is in pieces */
} wt_bpe;

#define WT_CHAR_NONE 0x1FFFFFu      /* no id (ids are below WT_PAIR_LIMIT - 1) */
#define WT_SYMBOL_FIRST 0x1F000u
#define WT_SYMBOL_COUNT 0xB00u

enum {
    WT_TOK_BPE = 1,          /* reachable by merging bytes: in the vocabulary lookup */
    WT_TOK_SPECIAL = 2,      /* an added special token: dropped by skip_special_tokens */
    WT_TOK_WHOLE = 4,        /* a piece equal to these bytes encodes to this id alone */
    WT_TOK_PRESENT = 8,      /* the id exists */
    WT_TOK_UNORDERED = 16,   /* its merges on their own are not in increasing rank order:
                              * the linear path checks its pairs by merging them */
    WT_TOK_SELF_BUILT = 32,  /* merging its bytes gives this token (known when the merges ran) */
};

typedef struct {
    uint32_t *ids;           /* part token ids */
    uint32_t *ranks;         /* rank of (part i, part i+1) */
    uint32_t *starts;        /* byte start of part i (heap path) */
    int32_t *prev, *next;    /* linked parts (heap path) */
    uint64_t *heap;          /* (rank << 32) | start (heap path) */
    size_t cap;
    uint64_t *dead;          /* linear path: bit i set = no encoding of the piece has a token end at i */
    size_t dead_words;
    uint64_t *memo;          /* linear path: recent pair checks done by merging (see bpe.c) */
    uint64_t work;           /* steps done by this thread's merges (wt_work_counters) */
} wt_bpe_scratch;

/* Build from the token table. mode_tiktoken != 0: derive pairs from the
 * vocabulary, rank = id. Otherwise merges holds n_merges rows (left, right, rank).
 * ignore_merges: a piece that is a token is that token (HF's flag; tiktoken does it always).
 * linear = 0 keeps long pieces on the heap path (for comparisons). test_slots: 0,
 * or a small piece table of test_slots * 16 slots with nothing seeded, so that
 * every piece contends for a few lines (tests). */
int wt_bpe_init(wt_bpe *b, uint32_t n_ids, const uint32_t *tok_off, const uint8_t *tok_bytes,
                const uint8_t *tok_flags, int mode_tiktoken, const uint32_t *merges,
                size_t n_merges, int ignore_merges, int linear, size_t test_slots);
void wt_bpe_free(wt_bpe *b);

/* Pieces of up to WT_BPE_SHORT bytes merge in a small array, up to WT_BPE_JOBS
 * of them side by side (each merge waits on the pair lookups the one before
 * made: interleaved, the lookups of different pieces overlap). Each job's ids
 * go to its out (room for n), their count to k. */
#define WT_BPE_SHORT 48
#define WT_BPE_JOBS 16
typedef struct {
    const uint8_t *p;
    size_t n;
    uint32_t *out;
    size_t k;
} wt_bpe_job;
void wt_bpe_merge_short(const wt_bpe *b, wt_bpe_job *jobs, size_t count, wt_bpe_scratch *sc);

/* The token a piece equal to its bytes encodes to alone (WT_TOK_WHOLE), or WT_NO_ID.
 * Pieces the piece table does not hold are looked up here before they are merged:
 * the table is a cache, and exactness never depends on what it holds. */
uint32_t wt_bpe_whole(const wt_bpe *b, const uint8_t *p, size_t n);

/* The merges' result for a piece of any length (out: room for n ids): the count or WT_E*.
 * table: where the parts of a long piece are looked up and learned (NULL: none). */
int64_t wt_bpe_merge(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc,
                     wt_piece_table *table);

/* Merge one piece with a chosen algorithm, for tests: no table, no whole-piece lookup. */
enum { WT_ALGO_AUTO = 0, WT_ALGO_HEAP = 1, WT_ALGO_LINEAR = 2, WT_ALGO_SMALL = 3, WT_ALGO_CUTS = 4 };
int64_t wt_bpe_merge_with(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc,
                          int algo);

void wt_bpe_scratch_free(wt_bpe_scratch *sc);

#endif
