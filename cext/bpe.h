/* Byte-pair encoding of one pre-tokenized piece.
 * Both reference semantics reduce to one table of pair merges:
 *  - tiktoken: any adjacent pair whose concatenation is a token merges, lowest
 *    rank first; the pair table is derived from the vocabulary;
 *  - HF: only listed merges, rank = position in `merges` (the last listing wins).
 * Ties go to the leftmost pair in both. */
#ifndef WT_BPE_H
#define WT_BPE_H

#include <stdatomic.h>

#include "wt_common.h"

/* Key, rank and result side by side: one cache line per probe. */
typedef struct {
    uint64_t key;            /* (left << 32) | right; UINT64_MAX = empty */
    uint32_t rank, merged;
} wt_pair_slot;

typedef struct {
    wt_pair_slot *slots;
    size_t mask;
} wt_pair_map;

/* Table entries hold id | WT_VAL_WHOLE when the token is flagged WT_TOK_WHOLE,
 * so the common case (a piece that is one token) is decided by one probe. */
#define WT_VAL_WHOLE 0x80000000u

/* Tokens of up to 15 bytes: their first 8 bytes (zero past the end) and, from
 * 8 bytes on, their last 8 (overlapping below 16; else 0). */
typedef struct {
    uint64_t head, tail;
    uint32_t val, len;       /* len 0 = empty */
} wt_small_slot;

typedef struct {
    uint32_t tag;            /* the hash's high half: most non-matches skip the memcmp */
    uint32_t val;            /* WT_NO_ID = empty */
} wt_long_slot;

/* bytes -> id in two tables, so that most lookups touch one cache line:
 * tokens of up to 15 bytes keyed by two words and their length, compared
 * without a branch on the length; longer ones by a hash (then compared with
 * the token's bytes). */
typedef struct {
    wt_small_slot *small_slots;
    wt_long_slot *long_slots;
    size_t small_mask, long_mask;
} wt_bytes_map;

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

/* Why a tokenizer stays on the heap path (wt_bpe.linear_status). */
enum {
    WT_LINEAR_ON = 0,
    WT_LINEAR_BROKEN = 1,    /* a token's last merge joins parts the merges do not rebuild */
    WT_LINEAR_OFF = 2,       /* switched off when loading (tests, comparisons) */
};

/* The piece cache: text repeats its pieces (Zipf), so the ids of each piece
 * that is not a token itself are kept, keyed by its exact bytes. One per
 * tokenizer, shared by the threads that encode with it (a piece one thread
 * merged is a hit for the others, and memory does not grow with the thread
 * count). Two tables of 4-way sets: one-line entries for the common pieces (up
 * to 24 bytes and 8 ids), and 256-byte ones for pieces of up to 48 bytes and 48
 * ids, which are rarer but merge at a quadratic cost. Fixed size (20 MiB by
 * default), mapped at load and paged in as used: memory stays bounded whatever
 * the input. Per 2 MB, English prose has ~13,000 distinct such pieces, UDHR's
 * 400 languages ~63,000 short and ~3,500 wide ones; at 10 MiB the sets' conflicts
 * cost those 2 MB of UDHR, re-encoded, 14-21% of their speed (English and code
 * nothing).
 * No locks: an entry's head word holds a sequence number, odd while a thread
 * writes the entry; a reader copies the entry and takes it as missing if the
 * head was odd or changed meanwhile (and merges the piece itself, which is
 * always right). Writers claim an entry by making its number odd, and give up
 * if another thread holds it. */
#define WT_CACHE_WAYS 4
#define WT_PIECE_CACHE_SETS 65536    /* the default; wt_bpe_init can take fewer (tests) */
#define WT_PIECE_CACHE_KEY 24
#define WT_PIECE_CACHE_IDS 8
#define WT_WIDE_PER_PIECE_SETS 16    /* one wide set per 16 short ones */
#define WT_WIDE_CACHE_KEY 48
#define WT_WIDE_CACHE_IDS 48

/* head: sequence number (bits 0-31; 0 = never written, odd = being written),
 * key length (32-39), id count (40-47). body: the key's bytes, then the ids. */
typedef struct {
    _Atomic uint64_t head;
    uint64_t body[(WT_PIECE_CACHE_KEY + 4 * WT_PIECE_CACHE_IDS) / 8];
} wt_piece_entry;

typedef struct {
    _Alignas(64) _Atomic uint64_t head;
    uint64_t body[(WT_WIDE_CACHE_KEY + 4 * WT_WIDE_CACHE_IDS) / 8];
} wt_wide_entry;

typedef struct {
    wt_piece_entry *short_sets;   /* WT_CACHE_WAYS entries per set, then the wide ones in the same mapping */
    wt_wide_entry *wide_sets;
    size_t short_mask, wide_mask; /* set count - 1 */
    size_t bytes;                 /* of the mapping */
} wt_piece_cache;

typedef struct {
    uint32_t serial;         /* unique per tokenizer: the key of its entries in per-thread memos */
    uint32_t n_ids;          /* ids are 0..n_ids-1 */
    uint32_t *tok_off;       /* n_ids + 1 offsets into tok_bytes: the bytes an id decodes to */
    uint8_t *tok_bytes;
    uint8_t *tok_flags;      /* WT_TOK_* */
    wt_bytes_map vocab;      /* bytes -> id, for ids flagged WT_TOK_BPE */
    wt_pair_map pairs;
    uint32_t byte_id[256];
    int linear_status;       /* WT_LINEAR_*: ON when the tables below are built */
    uint32_t linear_bad_id;  /* with BROKEN: the first token found so */
    uint32_t n_unordered;    /* tokens flagged WT_TOK_UNORDERED */
    wt_bpe_linear lin;
    wt_piece_cache cache;    /* the one mutable part: written by any thread, without locks */
} wt_bpe;

enum {
    WT_TOK_BPE = 1,          /* reachable by merging bytes: in the vocabulary lookup */
    WT_TOK_SPECIAL = 2,      /* an added special token: dropped by skip_special_tokens */
    WT_TOK_WHOLE = 4,        /* a piece equal to these bytes encodes to this id alone */
    WT_TOK_PRESENT = 8,      /* the id exists */
    WT_TOK_UNORDERED = 16,   /* its merges on their own are not in increasing rank order:
                              * the linear path checks its pairs by merging them */
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
 * linear = 0 keeps long pieces on the heap path (for comparisons). cache_sets:
 * the piece cache's short sets (a power of two up to the default; 0 for the
 * default; 1 makes every piece contend for one set, for tests). */
int wt_bpe_init(wt_bpe *b, uint32_t n_ids, const uint32_t *tok_off, const uint8_t *tok_bytes,
                const uint8_t *tok_flags, int mode_tiktoken, const uint32_t *merges,
                size_t n_merges, int ignore_merges, int linear, size_t cache_sets);
void wt_bpe_free(wt_bpe *b);

/* The hash of p[0..n) that the lookups take (wt_bpe_prefetch returns it too). */
uint64_t wt_bpe_hash(const uint8_t *p, size_t n);

/* Append the ids of one piece (n >= 1, h its hash) to out (room for
 * n + WT_PIECE_CACHE_IDS ids is required: a cached piece's ids are copied as
 * one block). Returns the count or WT_E*. */
int64_t wt_bpe_encode_piece(const wt_bpe *b, const uint8_t *p, size_t n, uint64_t h, uint32_t *out,
                            wt_bpe_scratch *sc);

/* The same in two halves, so that a batch of pieces can merge together:
 * wt_bpe_encode_known (h: the piece's wt_bpe_hash) answers a piece that is one
 * token or in the piece cache, else returns WT_BPE_UNKNOWN; such a piece then
 * takes wt_bpe_encode_piece, or, when it has at most WT_BPE_SHORT bytes, joins
 * up to WT_BPE_JOBS others in
 * wt_bpe_merge_short, which sets each job's k (its ids are then out[0..k); out
 * needs room for n) and caches the results. */
#define WT_BPE_UNKNOWN INT64_MIN
#define WT_BPE_SHORT 48
#define WT_BPE_JOBS 16
typedef struct {
    const uint8_t *p;
    size_t n;
    uint64_t h;              /* the piece's hash, from wt_bpe_prefetch */
    uint32_t *out;
    size_t k;
} wt_bpe_job;
int64_t wt_bpe_encode_known(const wt_bpe *b, const uint8_t *p, size_t n, const uint8_t *lo, const uint8_t *hi,
                            uint64_t h, uint32_t *out);
void wt_bpe_merge_short(const wt_bpe *b, wt_bpe_job *jobs, size_t count, wt_bpe_scratch *sc);

/* Merge one piece with a chosen algorithm, for tests: no cache, no whole-piece lookup. */
enum { WT_ALGO_AUTO = 0, WT_ALGO_HEAP = 1, WT_ALGO_LINEAR = 2, WT_ALGO_SMALL = 3 };
int64_t wt_bpe_merge_with(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc,
                          int algo);

/* Prefetch what wt_bpe_encode_known(p, n) will look up first, and return the
 * piece's wt_bpe_hash, which it takes (a piece is hashed once). Both may read
 * the bytes of [lo, hi) around the piece (the text it is in): 8-byte loads then
 * key it without a branch on its length. */
uint64_t wt_bpe_prefetch(const wt_bpe *b, const uint8_t *p, size_t n, const uint8_t *lo, const uint8_t *hi);

uint32_t wt_bpe_lookup(const wt_bpe *b, const uint8_t *p, size_t n);
/* The hash the tables use, for other byte-keyed tables (the loader's). */
uint64_t wt_hash_bytes(const uint8_t *p, size_t n);
void wt_bpe_scratch_free(wt_bpe_scratch *sc);

#endif
