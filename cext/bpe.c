#include "bpe.h"
#include "alloc.h"
#include "hash.h"

#include <stdatomic.h>
#include <stdlib.h>      /* qsort */

/* Pieces up to WT_BPE_SHORT bytes merge with a quadratic scan over a small
 * array, which beats the other paths on the short pieces that dominate text;
 * longer ones stay linear or O(n log n) (see merge_piece). */
_Static_assert(WT_BPE_JOBS <= 256, "a job index fits a byte");

/* ---- bytes -> id, while building ---- */

static uint32_t lookup(const wt_bpe *b, const uint8_t *p, size_t n)
{
    const uint32_t *off = b->tok_off;
    for (size_t i = wt_hash_mem(p, n) & b->vocab_mask;; i = (i + 1) & b->vocab_mask) {
        uint32_t id = b->vocab[i];
        if (id == WT_NO_ID) return WT_NO_ID;
        if (off[id + 1] - off[id] == n && memcmp(b->tok_bytes + off[id], p, n) == 0) return id;
    }
}

static int vocab_insert(wt_bpe *b, uint32_t id)
{
    const uint8_t *p = b->tok_bytes + b->tok_off[id];
    size_t n = b->tok_off[id + 1] - b->tok_off[id];
    if (n == 0 || lookup(b, p, n) != WT_NO_ID) return WT_EINVAL;   /* empty, or two ids with the same bytes */
    size_t i = wt_hash_mem(p, n) & b->vocab_mask;
    while (b->vocab[i] != WT_NO_ID) i = (i + 1) & b->vocab_mask;
    b->vocab[i] = id;
    return 0;
}

/* ---- (left, right) -> rank ---- */

WT_INLINE uint64_t pair_key(uint32_t l, uint32_t r) { return (uint64_t)l << 42 | (uint64_t)r << 21; }

#define WT_RANK_BITS (((uint64_t)1 << 21) - 1)

/* Where the probe for a pair starts. */
WT_INLINE size_t pair_home(const wt_pair_map *m, uint64_t key) { return wt_hash_u64(key) & m->mask; }

/* The pair's rank, or UINT32_MAX when it does not merge. */
WT_INLINE uint32_t pair_rank(const wt_bpe *b, uint32_t l, uint32_t r)
{
    const wt_pair_map *m = &b->pairs;
    uint64_t key = pair_key(l, r);
    for (size_t i = pair_home(m, key);; i = (i + 1) & m->mask) {
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

/* Ranks are unique: a later listing of the same pair replaces the earlier. */
static void pair_put(wt_pair_map *m, uint32_t l, uint32_t r, uint32_t rank)
{
    uint64_t key = pair_key(l, r);
    size_t i = pair_home(m, key);
    while (m->slots[i] != UINT64_MAX && (m->slots[i] & ~WT_RANK_BITS) != key) i = (i + 1) & m->mask;
    m->slots[i] = key | rank;
}

/* At most half full (pairs absent from it are the common probe: a miss ends
 * at an empty slot). */
static int pairs_alloc(wt_pair_map *m, size_t n)
{
    size_t cap = wt_pow2_at_least(n * 2 + 1);
    m->slots = wt_malloc(cap * sizeof(uint64_t));
    if (!m->slots) return WT_ENOMEM;
    memset(m->slots, 0xff, cap * sizeof(uint64_t));
    m->mask = cap - 1;
    return 0;
}

/* ---- merging ---- */

static int scratch_reserve(wt_bpe_scratch *sc, size_t n)
{
    if (n <= sc->cap) return 0;
    size_t cap = wt_pow2_at_least(n);
    uint64_t *dead = sc->dead, *memo = sc->memo;
    size_t dead_words = sc->dead_words;
    sc->dead = NULL; sc->memo = NULL;
    wt_bpe_scratch_free(sc);
    sc->dead = dead; sc->dead_words = dead_words; sc->memo = memo;
    sc->ids = wt_malloc(cap * sizeof(uint32_t));
    sc->ranks = wt_malloc(cap * sizeof(uint32_t));
    sc->starts = wt_malloc(cap * sizeof(uint32_t));
    sc->prev = wt_malloc(cap * sizeof(int32_t));
    sc->next = wt_malloc(cap * sizeof(int32_t));
    sc->heap = wt_malloc(cap * 2 * sizeof(uint64_t));
    if (!sc->ids || !sc->ranks || !sc->starts || !sc->prev || !sc->next || !sc->heap) {
        wt_bpe_scratch_free(sc);
        return WT_ENOMEM;
    }
    sc->cap = cap;
    return 0;
}

void wt_bpe_scratch_free(wt_bpe_scratch *sc)
{
    wt_free(sc->ids); wt_free(sc->ranks); wt_free(sc->starts);
    wt_free(sc->prev); wt_free(sc->next); wt_free(sc->heap);
    wt_free(sc->dead); wt_free(sc->memo);
    uint64_t work = sc->work;
    memset(sc, 0, sizeof *sc);
    sc->work = work;
}

/* ---- short pieces ----
 * The merges' own result, by a scan over a small array: it beats a heap on the
 * short pieces that dominate text. Each merge waits on the pair-table probes
 * the one before made, so a piece is a state that a step advances by one
 * merge, prefetching the probes of its next step: wt_bpe_merge_short steps the
 * pieces of a batch in turn, and their probes overlap. Parts are ids[0..m);
 * ranks[i] is the rank of the pair (part i, part i + 1); the ones at fresh[]
 * (all of them when all_fresh) are still to be read. */
typedef struct {
    uint32_t *ids;
    uint32_t ranks[WT_BPE_SHORT];
    uint32_t m;
    uint8_t fresh[2], n_fresh, all_fresh;
} small_merge;

WT_INLINE void pair_prefetch(const wt_bpe *b, uint32_t l, uint32_t r)
{
    __builtin_prefetch(&b->pairs.slots[pair_home(&b->pairs, pair_key(l, r))]);
}

/* The first round's pairs are pairs of bytes: read from the byte-pair grid
 * (a quarter MiB, mostly in cache), not probed in the pair table. */
static void small_begin(const wt_bpe *b, small_merge *s, const uint8_t *p, size_t n, uint32_t *ids,
                        uint64_t *work)
{
    for (size_t i = 0; i < n; i++) ids[i] = b->byte_id[p[i]];
    for (size_t i = 0; i + 1 < n; i++) s->ranks[i] = b->byte_ranks[(size_t)p[i] << 8 | p[i + 1]];
    s->ids = ids;
    s->m = (uint32_t)n;
    s->n_fresh = 0;
    s->all_fresh = 0;
    *work += n;
}

/* One merge: 1 when it merged, 0 when the piece is done (its parts are then
 * s->ids[0..s->m)). top (optional) receives the parts of the merge that left a
 * single part. */
WT_INLINE int small_step(const wt_bpe *b, small_merge *s, uint32_t *top, uint64_t *work)
{
    uint32_t *ids = s->ids, *ranks = s->ranks;
    size_t m = s->m;
    if (s->all_fresh)
        for (size_t i = 0; i + 1 < m; i++) ranks[i] = pair_rank(b, ids[i], ids[i + 1]);
    for (size_t k = 0; k < s->n_fresh; k++) {
        size_t i = s->fresh[k];
        ranks[i] = pair_rank(b, ids[i], ids[i + 1]);
    }
    s->all_fresh = s->n_fresh = 0;
    if (m < 2) return 0;
    size_t best = 0;
    uint32_t best_rank = ranks[0];
    for (size_t i = 1; i + 1 < m; i++)
        if (ranks[i] < best_rank) { best_rank = ranks[i]; best = i; }
    *work += m;
    if (best_rank == UINT32_MAX) return 0;
    if (top && m == 2) { top[0] = ids[0]; top[1] = ids[1]; }
    ids[best] = rank_merged(b, best_rank);
    m--;
    for (size_t i = best + 1; i < m; i++) ids[i] = ids[i + 1];    /* short: loops beat memmove calls */
    for (size_t i = best + 1; i + 1 < m; i++) ranks[i] = ranks[i + 1];
    if (best > 0) {
        s->fresh[s->n_fresh++] = (uint8_t)(best - 1);
        pair_prefetch(b, ids[best - 1], ids[best]);
    }
    if (best + 1 < m) {
        s->fresh[s->n_fresh++] = (uint8_t)best;
        pair_prefetch(b, ids[best], ids[best + 1]);
    }
    s->m = (uint32_t)m;
    return 1;
}

/* One piece of n <= WT_BPE_SHORT bytes; ids needs room for n. */
static size_t merge_small(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *ids, uint32_t *top,
                          uint64_t *work)
{
    small_merge s;
    small_begin(b, &s, p, n, ids, work);
    while (small_step(b, &s, top, work)) {}
    return s.m;
}

/* Min-heap of (rank << 32 | start): lowest rank first, then leftmost. */
static void heap_push(uint64_t *h, size_t *len, uint64_t v)
{
    size_t i = (*len)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (h[parent] <= v) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = v;
}

static uint64_t heap_pop(uint64_t *h, size_t *len)
{
    uint64_t top = h[0], v = h[--(*len)];
    size_t i = 0, n = *len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && h[c + 1] < h[c]) c++;
        if (v <= h[c]) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = v;
    return top;
}

static size_t merge_heap(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc,
                         uint32_t *top)
{
    /* Parts are indexed by their first byte; part i is alive while ids[i] != WT_NO_ID. */
    uint32_t *ids = sc->ids;
    int32_t *prev = sc->prev, *next = sc->next;
    uint64_t *heap = sc->heap;
    size_t hlen = 0, pops = 0;
    uint32_t last_l = WT_NO_ID, last_r = WT_NO_ID;
    for (size_t i = 0; i < n; i++) {
        ids[i] = b->byte_id[p[i]];
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t r = pair_rank(b, ids[i], ids[i + 1]);
        if (r != UINT32_MAX) heap_push(heap, &hlen, ((uint64_t)r << 32) | i);
    }
    while (hlen) {
        uint64_t e = heap_pop(heap, &hlen);
        uint32_t rank = (uint32_t)(e >> 32), i = (uint32_t)e;
        pops++;
        if (ids[i] == WT_NO_ID || next[i] < 0) continue;
        int32_t j = next[i];
        /* Stale entry: the pair at i changed since it was pushed. */
        if (pair_rank(b, ids[i], ids[j]) != rank) continue;
        last_l = ids[i]; last_r = ids[j];
        ids[i] = rank_merged(b, rank);
        ids[j] = WT_NO_ID;
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = (int32_t)i;
        if (prev[i] >= 0) {
            uint32_t r = pair_rank(b, ids[prev[i]], ids[i]);
            if (r != UINT32_MAX) heap_push(heap, &hlen, ((uint64_t)r << 32) | (uint32_t)prev[i]);
        }
        if (next[i] >= 0) {
            uint32_t r = pair_rank(b, ids[i], ids[next[i]]);
            if (r != UINT32_MAX) heap_push(heap, &hlen, ((uint64_t)r << 32) | i);
        }
    }
    size_t m = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) out[m++] = ids[i];
    if (top) { top[0] = last_l; top[1] = last_r; }
    sc->work += n + pops;
    return m;
}

/* ---- linear BPE ----
 * A run of a million letters is one pre-token; the heap costs O(n log n) with poor
 * constants there. Long pieces take the backtracking method of GitHub's rust-gems
 * `bpe` crate instead (this is our own code), which rests on three facts:
 *  - a token is *self-built* when the merges turn its bytes into it alone; every
 *    token of any encoding is (the merges inside its span are exactly those it
 *    would do alone). Its *tree* is that run: split[] holds the parts of its
 *    last merge, tree_rank[] that merge's rank;
 *  - tokens a, b are *compatible* when the merges leave the bytes of a b as [a, b];
 *    adjacent tokens of any encoding are;
 *  - when every tree merges in increasing rank order (checked at load, else the
 *    tokenizer keeps the heap), the merges of a text run the trees of its tokens
 *    interleaved in (rank, position) order unless some boundary pair merges first.
 *    So an encoding is exactly a split into self-built tokens whose adjacent pairs
 *    are compatible: there is one, and each prefix of it encodes that prefix.
 * The search is depth-first, longest token first. When no token continues from a
 * position, that position is marked dead: whatever reaches it is the encoding of
 * the prefix, always the same, so the position can never be part of the answer.
 * Each position dies once and is tried with at most one token of each length, so
 * the work is linear in the piece (times vocabulary constants). */

static void linear_free(wt_bpe_linear *L);

WT_INLINE uint32_t trie_child(const wt_bpe_linear *L, uint32_t node, uint8_t c)
{
    uint32_t lo = L->node_first[node], hi = L->node_first[node + 1];
    if (hi - lo > 8) {                      /* binary search: edges are sorted by byte */
        uint32_t end = hi;
        while (lo < hi) {
            uint32_t mid = (lo + hi) / 2;
            if (L->edge_byte[mid] < c) lo = mid + 1; else hi = mid;
        }
        return lo < end && L->edge_byte[lo] == c ? L->edge_node[lo] : 0;
    }
    for (; lo < hi; lo++)
        if (L->edge_byte[lo] >= c) return L->edge_byte[lo] == c ? L->edge_node[lo] : 0;
    return 0;
}

/* Chains of one byte at least this deep take the run tables. */
#define WT_RUN_MIN 2

/* How many bytes equal to c begin p[0..n), counting at most cap. */
WT_INLINE size_t run_length(const uint8_t *p, size_t n, uint8_t c, size_t cap)
{
    size_t lim = n < cap ? n : cap, i = 0;
    uint64_t pat = 0x0101010101010101ull * c, w;
    for (; i + 8 <= lim; i += 8) {
        memcpy(&w, p + i, 8);
        if (w != pat) break;
    }
    while (i < lim && p[i] == c) i++;
    return i;
}

/* The byte length of token id (0 for WT_NO_ID). */
WT_INLINE size_t token_len(const wt_bpe *b, uint32_t id)
{
    return id == WT_NO_ID ? 0 : b->tok_off[id + 1] - b->tok_off[id];
}

/* The longest self-built token that p[0..n) starts with (n >= 1), or WT_NO_ID; *len
 * gets its length from the walk, not from the token table: the next token's search
 * starts there, and each load on that chain delays every token of a long piece. */
WT_INLINE uint32_t longest_token(const wt_bpe *b, const uint8_t *p, size_t n, size_t *len, size_t *steps)
{
    const wt_bpe_linear *L = &b->lin;
    uint32_t node = L->root[p[0]];
    if (!node) return WT_NO_ID;
    uint32_t best = L->node_id[node];
    size_t i = 1, best_len = 1;
    const uint32_t first = L->run_first[p[0]], depth = L->run_first[p[0] + 1] - first;
    if (depth >= WT_RUN_MIN) {
        /* In a run of p[0]: jump to the node of the whole run (or of the chain's end). */
        size_t r = run_length(p, n, p[0], (size_t)depth + 1);
        *steps += r / 8 + 1;
        if (r > depth) {
            best = L->run_best[first + depth - 1];
            *len = token_len(b, best);
            return best;
        }
        node = L->run_node[first + r - 1];
        best = L->run_best[first + r - 1];
        best_len = token_len(b, best);
        i = r;
    }
    for (; i < n; i++) {
        if (!(node = trie_child(L, node, p[i]))) break;
        if (L->node_id[node] != WT_NO_ID) {
            best = L->node_id[node];
            best_len = i + 1;
        }
    }
    *steps += i;
    *len = best_len;
    return best;
}

/* 1 when the merges leave the bytes of x y as [x, y], for tokens whose merges run in
 * increasing rank order. Walks back in time from the end: the parts facing each other
 * across the boundary are a suffix part of x's tree and a prefix part of y's; going
 * back, the later-made of the two is split. A facing pair merges iff it comes before
 * the merge that ends its time, in (rank, position) order: x's merges lie left of the
 * boundary, y's right of it. */
static int compatible_ordered(const wt_bpe *b, uint32_t x, uint32_t y, size_t *steps)
{
    const uint32_t *tr = b->lin.tree_rank, *split = b->lin.split;
    uint64_t limit = UINT64_MAX;             /* a facing pair of rank r merges if 2 r + 1 < limit */
    for (;;) {
        uint32_t r = pair_rank(b, x, y);
        ++*steps;
        if (r != UINT32_MAX && 2 * (uint64_t)r + 1 < limit) return 0;
        uint32_t rx = tr[x], ry = tr[y];
        if (rx > ry) {                       /* x was made last: before, its right part faced y */
            limit = 2 * (uint64_t)(rx - 1);
            x = split[2 * x + 1];
        } else if (ry) {                     /* y was made last (ties: y lies to the right) */
            limit = 2 * (uint64_t)(ry - 1) + 2;
            y = split[2 * y];
        } else {
            return 1;                        /* two bytes: nothing earlier */
        }
    }
}

#define WT_MEMO_SLOTS 1024

/* The same for any tokens, by merging their bytes xy (n of them): used for the few
 * tokens whose merges are out of rank order. 1, 0 or WT_E*. */
static int compatible_merged(const wt_bpe *b, uint32_t x, uint32_t y, const uint8_t *xy, size_t n,
                             wt_bpe_scratch *sc)
{
    size_t m;
    uint32_t small[WT_BPE_SHORT], *ids = small;
    if (n <= WT_BPE_SHORT) {
        m = merge_small(b, xy, n, ids, NULL, &sc->work);
    } else {
        /* The heap's own arrays; ranks[] is free for its output (the caller uses none of them). */
        int rc = scratch_reserve(sc, n);
        if (rc) return rc;
        ids = sc->ranks;
        m = merge_heap(b, xy, n, ids, sc, NULL);
    }
    return m == 2 && ids[0] == x && ids[1] == y;
}

static int dead_reserve(wt_bpe_scratch *sc, size_t n)
{
    if (WT_UNLIKELY(!sc->memo) && !(sc->memo = wt_calloc(2 * WT_MEMO_SLOTS, sizeof(uint64_t)))) return WT_ENOMEM;
    size_t words = (n >> 6) + 1;
    if (words <= sc->dead_words) return 0;
    words = wt_pow2_at_least(words);
    wt_free(sc->dead);
    sc->dead_words = 0;
    if (!(sc->dead = wt_malloc(words * sizeof(uint64_t)))) return WT_ENOMEM;
    sc->dead_words = words;
    return 0;
}

/* Whether x, y are compatible (xy: their bytes, n of them), remembered per thread:
 * a long piece tends to repeat its pairs. 1, 0 or WT_E*. */
WT_INLINE int compatible(const wt_bpe *b, uint32_t x, uint32_t y, const uint8_t *xy, size_t n,
                         wt_bpe_scratch *sc, size_t *steps)
{
    uint64_t key = pair_key(x, y), *e = &sc->memo[2 * (wt_hash_u64(key) & (WT_MEMO_SLOTS - 1))];
    ++*steps;
    if (e[0] == key && (e[1] >> 1) == b->serial) return (int)(e[1] & 1);
    int ok;
    if (WT_LIKELY(!((b->tok_flags[x] | b->tok_flags[y]) & WT_TOK_UNORDERED))) ok = compatible_ordered(b, x, y, steps);
    else if ((ok = compatible_merged(b, x, y, xy, n, sc)) < 0) return ok;
    e[0] = key;
    e[1] = ((uint64_t)b->serial << 1) | (uint64_t)ok;
    return ok;
}

/* merge_linear found no encoding: impossible when the load-time checks hold; the
 * caller then takes the heap. */
#define WT_LINEAR_NONE (-1000)

/* The encoding of p[0..n) into out (room for n), WT_LINEAR_NONE or WT_E*. */
static int64_t merge_linear(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc)
{
    const wt_bpe_linear *L = &b->lin;
    uint64_t *dead = sc->dead;
    memset(dead, 0, ((n >> 6) + 1) * sizeof(uint64_t));
    size_t k = 0, pos = 0, steps = 0;
    size_t len, last_len = 0;      /* of tok, and of out[k - 1] */
    uint32_t tok = longest_token(b, p, n, &len, &steps);
    while (pos < n) {
        if (WT_UNLIKELY(tok == WT_NO_ID)) {
            /* Nothing continues from pos: it is dead; retry the last token shorter. */
            if (k == 0) { sc->work += steps; return WT_LINEAR_NONE; }
            dead[pos >> 6] |= 1ull << (pos & 63);
            uint32_t last = out[--k];
            pos -= last_len;
            tok = L->shorter[last];
            len = token_len(b, tok);
            last_len = k ? token_len(b, out[k - 1]) : 0;
            steps++;
            continue;
        }
        size_t end = pos + len;
        steps++;
        int ok = !((dead[end >> 6] >> (end & 63)) & 1);
        if (ok && k) {
            size_t start = pos - last_len;
            if ((ok = compatible(b, out[k - 1], tok, p + start, end - start, sc, &steps)) < 0) return ok;
        }
        if (ok) {
            out[k++] = tok;
            last_len = len;
            pos = end;
            if (pos < n) tok = longest_token(b, p + pos, n - pos, &len, &steps);
        } else {
            tok = L->shorter[tok];
            len = token_len(b, tok);
        }
    }
    sc->work += steps;
    return (int64_t)k;
}

static int64_t merge_heap_piece(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc,
                                uint32_t *top)
{
    if (n > UINT32_MAX / 2) return WT_EINVAL;
    int rc = scratch_reserve(sc, n);
    if (rc) return rc;
    return (int64_t)merge_heap(b, p, n, out, sc, top);
}

static int64_t merge_piece(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc);

/* A piece that is one byte repeated, c^n, in O(n / L) steps: as a tokenization
 * whose neighbours are all compatible is the encoding (the linear path's
 * criterion), c^n is the block token B = c^L repeated, when B is compatible with
 * itself, next to the encoding of what is left, when their junction is too. Both
 * sides of the rest are tried, for a few block counts; WT_LINEAR_NONE otherwise.
 * Without it, greedy longest-first search on such runs refutes longer blocks at
 * every position (MiniMax's 96 underscores before its 64: ~21 steps a byte). */
static int64_t merge_run(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc)
{
    const wt_bpe_linear *L = &b->lin;
    const uint32_t *off = b->tok_off;
    const uint32_t first = L->run_first[p[0]], depth = L->run_first[p[0] + 1] - first;
    size_t steps = n / 8 + 1, len = 0;
    uint32_t block = WT_NO_ID;
    if (run_length(p, n, p[0], n) != n) return WT_LINEAR_NONE;
    for (uint32_t k = depth; k >= 1 && block == WT_NO_ID; k--) {   /* at most one c^L is self-compatible */
        uint32_t t = L->node_id[L->run_node[first + k - 1]];
        if (t == WT_NO_ID || 2 * (size_t)k > n) continue;
        int ok = compatible(b, t, t, p, 2 * (size_t)k, sc, &steps);
        if (ok < 0) return ok;
        if (ok) { block = t; len = k; }
    }
    sc->work += steps;
    if (block == WT_NO_ID) return WT_LINEAR_NONE;
    for (size_t extra = 0; extra < 4 && (n / len) > extra; extra++) {
        size_t q = n / len - extra, rest = n - q * len;
        if (rest == 0) {
            for (size_t i = 0; i < q; i++) out[i] = block;
            return (int64_t)q;
        }
        for (int tail_right = 1; tail_right >= 0; tail_right--) {
            uint32_t *tail = tail_right ? out + q : out;
            int64_t m = merge_piece(b, p, rest, tail, sc);
            if (m <= 0) return m < 0 ? m : WT_LINEAR_NONE;
            uint32_t x = tail_right ? block : tail[m - 1], y = tail_right ? tail[0] : block;
            size_t xy = (off[x + 1] - off[x]) + (off[y + 1] - off[y]);
            int ok = compatible(b, x, y, p, xy, sc, &steps);
            if (ok < 0) return ok;
            if (ok) {
                for (size_t i = 0; i < q; i++) out[tail_right ? i : (size_t)m + i] = block;
                return (int64_t)q + m;
            }
        }
    }
    return WT_LINEAR_NONE;
}

/* The linear path (linear_status ON): a run of one byte by its block, else the
 * backtracking search. The count, WT_E*, or WT_LINEAR_NONE. */
static int64_t linear_piece(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc)
{
    int rc = dead_reserve(sc, n);
    if (rc) return rc;
    int64_t k = n > 1 && p[0] == p[n - 1] ? merge_run(b, p, n, out, sc) : WT_LINEAR_NONE;
    return k != WT_LINEAR_NONE ? k : merge_linear(b, p, n, out, sc);
}

/* Short pieces merge in a small array; longer ones take the linear path when the
 * vocabulary allows, else the heap. Measured on cl100k: on runs (a_7 -=.) of
 * 64..1024 bytes the linear path is 3-6x faster than the heap; on long pieces
 * glued from real words it is within 10% of the heap up to ~200 bytes and faster
 * beyond. Below 48 bytes merge_small beats both. */
static int64_t merge_piece(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc)
{
    if (n <= WT_BPE_SHORT) return (int64_t)merge_small(b, p, n, out, NULL, &sc->work);
    if (b->linear_status == WT_LINEAR_ON) {
        int64_t k = linear_piece(b, p, n, out, sc);
        if (WT_LIKELY(k != WT_LINEAR_NONE)) return k;
    }
    return merge_heap_piece(b, p, n, out, sc, NULL);
}

int64_t wt_bpe_merge_with(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc,
                          int algo)
{
    int64_t k;
    if (n == 0) return 0;
    switch (algo) {
    case WT_ALGO_HEAP:
        return merge_heap_piece(b, p, n, out, sc, NULL);
    case WT_ALGO_SMALL:
        return n <= WT_BPE_SHORT ? (int64_t)merge_small(b, p, n, out, NULL, &sc->work) : WT_EINVAL;
    case WT_ALGO_LINEAR:
        if (b->linear_status != WT_LINEAR_ON) return WT_EINVAL;
        k = linear_piece(b, p, n, out, sc);
        return k != WT_LINEAR_NONE ? k : WT_EINVAL;
    default:
        return merge_piece(b, p, n, out, sc);
    }
}

uint32_t wt_bpe_whole(const wt_bpe *b, const uint8_t *p, size_t n)
{
    uint32_t id = lookup(b, p, n);
    return id != WT_NO_ID && (b->tok_flags[id] & WT_TOK_WHOLE) ? id : WT_NO_ID;
}

int64_t wt_bpe_merge(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc)
{
    return merge_piece(b, p, n, out, sc);
}

void wt_bpe_merge_short(const wt_bpe *b, wt_bpe_job *jobs, size_t count, wt_bpe_scratch *sc)
{
    small_merge st[WT_BPE_JOBS];
    uint8_t live[WT_BPE_JOBS];
    size_t n_live = 0;
    for (size_t j = 0; j < count; j++) {
        small_begin(b, &st[j], jobs[j].p, jobs[j].n, jobs[j].out, &sc->work);
        live[n_live++] = (uint8_t)j;
    }
    while (n_live) {                            /* a merge of each piece in turn */
        size_t still = 0;
        for (size_t k = 0; k < n_live; k++)
            if (small_step(b, &st[live[k]], NULL, &sc->work)) live[still++] = live[k];
        n_live = still;
    }
    for (size_t j = 0; j < count; j++) jobs[j].k = st[j].m;
}

/* Sorting token ids by their bytes; qsort has no context argument. */
static _Thread_local const wt_bpe *sort_bpe;

static int cmp_token_bytes(const void *pa, const void *pb)
{
    uint32_t a = *(const uint32_t *)pa, c = *(const uint32_t *)pb;
    const uint32_t *off = sort_bpe->tok_off;
    size_t la = off[a + 1] - off[a], lc = off[c + 1] - off[c];
    int r = memcmp(sort_bpe->tok_bytes + off[a], sort_bpe->tok_bytes + off[c], la < lc ? la : lc);
    return r ? r : (la > lc) - (la < lc);
}

/* Flag the tokens whose merges run out of rank order and build the trie of the
 * self-built tokens; split[] and tree_rank[] are filled (split[2 id] == WT_NO_ID:
 * id is not self-built). */
static int linear_init(wt_bpe *b)
{
    wt_bpe_linear *L = &b->lin;
    const uint32_t *off = b->tok_off;
    uint32_t n_ids = b->n_ids, n_tok = 0;
    size_t total = 0, max_len = 0;
    for (uint32_t id = 0; id < n_ids; id++) {
        if (L->split[2 * id] == WT_NO_ID) continue;
        size_t len = off[id + 1] - off[id];
        uint32_t l = L->split[2 * id], r = L->split[2 * id + 1];
        n_tok++;
        total += len;
        if (len > max_len) max_len = len;
        /* The parts of a merges' own run are self-built (checked, not assumed). */
        if (len > 1 && (L->split[2 * l] == WT_NO_ID || L->split[2 * r] == WT_NO_ID)) {
            linear_free(L);
            b->linear_status = WT_LINEAR_BROKEN;
            b->linear_bad_id = id;
            return 0;
        }
    }
    /* A tree is ordered when each merge ranks after those below it, down to the bytes;
     * parts are shorter than the token, so visiting by length sees them first. */
    uint32_t *by_len = wt_malloc(((size_t)n_tok + 1) * sizeof(uint32_t));
    uint32_t *start = wt_calloc(max_len + 2, sizeof(uint32_t));
    if (!by_len || !start) { wt_free(by_len); wt_free(start); linear_free(L); return WT_ENOMEM; }
    for (uint32_t id = 0; id < n_ids; id++)
        if (L->split[2 * id] != WT_NO_ID) start[off[id + 1] - off[id] + 1]++;
    for (size_t d = 1; d <= max_len + 1; d++) start[d] += start[d - 1];
    for (uint32_t id = 0; id < n_ids; id++)
        if (L->split[2 * id] != WT_NO_ID) by_len[start[off[id + 1] - off[id]]++] = id;
    b->n_unordered = 0;
    for (uint32_t i = 0; i < n_tok; i++) {
        uint32_t id = by_len[i], l = L->split[2 * id], r = L->split[2 * id + 1];
        b->tok_flags[id] &= (uint8_t)~WT_TOK_UNORDERED;
        if (off[id + 1] - off[id] == 1) continue;
        if (((b->tok_flags[l] | b->tok_flags[r]) & WT_TOK_UNORDERED) ||
            L->tree_rank[id] <= L->tree_rank[l] || L->tree_rank[id] <= L->tree_rank[r]) {
            b->tok_flags[id] |= WT_TOK_UNORDERED;
            b->n_unordered++;
        }
    }
    wt_free(by_len);
    wt_free(start);

    int rc = WT_ENOMEM;
    size_t max_nodes = total + 1;
    uint32_t *ids = wt_malloc(((size_t)n_tok + 1) * sizeof(uint32_t));
    uint32_t *parent = wt_malloc(max_nodes * sizeof(uint32_t));
    uint8_t *byte = wt_malloc(max_nodes);
    uint32_t *path = wt_malloc((max_len + 1) * sizeof(uint32_t));
    uint32_t *best = wt_malloc((max_len + 1) * sizeof(uint32_t));
    L->shorter = wt_malloc(((size_t)n_ids + 1) * sizeof(uint32_t));
    L->node_id = wt_malloc(max_nodes * sizeof(uint32_t));
    if (!ids || !parent || !byte || !path || !best || !L->shorter || !L->node_id) goto out;

    uint32_t m = 0;
    for (uint32_t id = 0; id < n_ids; id++) {
        L->shorter[id] = WT_NO_ID;
        if (L->split[2 * id] != WT_NO_ID) ids[m++] = id;
    }
    sort_bpe = b;
    qsort(ids, m, sizeof(uint32_t), cmp_token_bytes);

    /* Nodes in lexicographic order, so each node's children come out sorted by byte.
     * path[d] is the node at depth d of the current token, best[d] the deepest token on it. */
    uint32_t n_nodes = 1;
    path[0] = 0; best[0] = WT_NO_ID; L->node_id[0] = WT_NO_ID;
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t id = ids[i];
        const uint8_t *q = b->tok_bytes + off[id];
        size_t len = off[id + 1] - off[id], d = 0;
        while (d < len && d < prev_len && q[d] == prev[d]) d++;
        for (; d < len; d++) {
            uint32_t node = n_nodes++;
            parent[node] = path[d];
            byte[node] = q[d];
            L->node_id[node] = WT_NO_ID;
            path[d + 1] = node;
            best[d + 1] = best[d];
        }
        L->node_id[path[len]] = id;
        L->shorter[id] = best[len - 1];
        best[len] = id;
        prev = q;
        prev_len = len;
    }

    L->n_nodes = n_nodes;
    L->node_first = wt_calloc((size_t)n_nodes + 1, sizeof(uint32_t));
    L->edge_byte = wt_malloc(n_nodes);
    L->edge_node = wt_malloc((size_t)n_nodes * sizeof(uint32_t));
    if (!L->node_first || !L->edge_byte || !L->edge_node) goto out;
    for (uint32_t k = 1; k < n_nodes; k++) L->node_first[parent[k] + 1]++;
    for (uint32_t k = 0; k < n_nodes; k++) L->node_first[k + 1] += L->node_first[k];
    /* Children were created in byte order: append each to its parent's edge range. */
    uint32_t *cursor = wt_malloc((size_t)n_nodes * sizeof(uint32_t));
    if (!cursor) goto out;
    memcpy(cursor, L->node_first, (size_t)n_nodes * sizeof(uint32_t));
    for (uint32_t k = 1; k < n_nodes; k++) {
        uint32_t e = cursor[parent[k]]++;
        L->edge_byte[e] = byte[k];
        L->edge_node[e] = k;
    }
    wt_free(cursor);
    for (uint32_t e = L->node_first[0]; e < L->node_first[1]; e++) L->root[L->edge_byte[e]] = L->edge_node[e];
    uint32_t *shrunk = wt_realloc(L->node_id, (size_t)n_nodes * sizeof(uint32_t));
    if (shrunk) L->node_id = shrunk;
    /* The chains c, cc, ccc, ... of each byte c. */
    size_t n_run = 0;
    for (int c = 0; c < 256; c++)
        for (uint32_t node = L->root[c]; node; node = trie_child(L, node, (uint8_t)c)) n_run++;
    L->run_node = wt_malloc((n_run + 1) * sizeof(uint32_t));
    L->run_best = wt_malloc((n_run + 1) * sizeof(uint32_t));
    if (!L->run_node || !L->run_best) goto out;
    n_run = 0;
    for (int c = 0; c < 256; c++) {
        uint32_t longest = WT_NO_ID;
        L->run_first[c] = (uint32_t)n_run;
        for (uint32_t node = L->root[c]; node; node = trie_child(L, node, (uint8_t)c), n_run++) {
            if (L->node_id[node] != WT_NO_ID) longest = L->node_id[node];
            L->run_node[n_run] = node;
            L->run_best[n_run] = longest;
        }
    }
    L->run_first[256] = (uint32_t)n_run;
    b->linear_status = WT_LINEAR_ON;
    rc = 0;
out:
    wt_free(ids); wt_free(parent); wt_free(byte); wt_free(path); wt_free(best);
    if (rc) linear_free(L);
    return rc;
}

/* The tokens to seed the piece table with: per token its id, the count k of
 * the ids of its bytes as a piece, the ids. */
typedef struct {
    uint32_t *ids;
    size_t len, cap;
} wt_seeds;

static int seed_push(wt_seeds *seeds, uint32_t id, size_t k, const uint32_t *ids)
{
    if (seeds->len + k + 2 > seeds->cap) {
        size_t cap = seeds->cap ? seeds->cap * 2 : 1 << 16;
        while (cap < seeds->len + k + 2) cap *= 2;
        uint32_t *more = wt_realloc(seeds->ids, cap * sizeof(uint32_t));
        if (!more) return WT_ENOMEM;
        seeds->ids = more;
        seeds->cap = cap;
    }
    seeds->ids[seeds->len++] = id;
    seeds->ids[seeds->len++] = (uint32_t)k;
    memcpy(seeds->ids + seeds->len, ids, k * sizeof(uint32_t));
    seeds->len += k;
    return 0;
}

/* The piece table, seeded: room for the seeds three times over, so that most
 * pieces lie in their home line and the text's own pieces find room too; twice
 * that again while a whole token finds none (a piece missing from the table is
 * then known not to be one). test_slots: a small table, nothing seeded. */
static int seed_table(wt_bpe *b, const wt_seeds *seeds, size_t n_short, size_t test_slots)
{
    if (test_slots) return wt_pt_init(&b->pieces, 16 * test_slots, 16, 4096);
    const uint32_t *off = b->tok_off;
    for (size_t slots = wt_pow2_at_least(3 * n_short), tries = 0;; slots *= 2, tries++) {
        int rc = wt_pt_init(&b->pieces, slots, 1 << 16, 1 << 21), all_whole = 1;
        if (rc) return rc;
        for (size_t at = 0; at < seeds->len;) {
            uint32_t id = seeds->ids[at], k = seeds->ids[at + 1];
            const uint8_t *tok = b->tok_bytes + off[id];
            size_t n = off[id + 1] - off[id];
            int added = wt_pt_add(&b->pieces, tok, n, wt_pt_hash_of(tok, n), seeds->ids + at + 2, k);
            if (b->tok_flags[id] & WT_TOK_WHOLE) all_whole &= added;
            at += 2 + k;
        }
        if (all_whole || tries == 2) {
            b->whole_seeded = all_whole;
            return 0;
        }
        wt_pt_free(&b->pieces);
    }
}

int wt_bpe_init(wt_bpe *b, uint32_t n_ids, const uint32_t *tok_off, const uint8_t *tok_bytes,
                const uint8_t *tok_flags, int mode_tiktoken, const uint32_t *merges,
                size_t n_merges, int ignore_merges, int linear, size_t test_slots)
{
    int rc = WT_ENOMEM;
    static atomic_uint next_serial = 1;
    memset(b, 0, sizeof *b);
    b->serial = atomic_fetch_add(&next_serial, 1);
    b->n_ids = n_ids;
    size_t nbytes = tok_off[n_ids];
    b->tok_off = wt_malloc((n_ids + 1) * sizeof(uint32_t));
    b->tok_bytes = wt_malloc(nbytes + 1);
    b->tok_flags = wt_malloc(n_ids + 1);
    if (!b->tok_off || !b->tok_bytes || !b->tok_flags) goto fail;
    memcpy(b->tok_off, tok_off, (n_ids + 1) * sizeof(uint32_t));
    memcpy(b->tok_bytes, tok_bytes, nbytes);
    memcpy(b->tok_flags, tok_flags, n_ids);

    if (n_ids >= WT_PAIR_LIMIT - 1) { rc = WT_EINVAL; goto fail; }
    size_t n_bpe = 0, n_short = 0;   /* BPE tokens, and those of up to WT_PT_SHORT bytes */
    for (uint32_t id = 0; id < n_ids; id++) {
        if (tok_off[id + 1] < tok_off[id]) { rc = WT_EINVAL; goto fail; }
        b->tok_flags[id] &= (uint8_t)~(WT_TOK_WHOLE | WT_TOK_UNORDERED);
        if (!(b->tok_flags[id] & WT_TOK_BPE)) continue;
        n_bpe++;
        n_short += tok_off[id + 1] - tok_off[id] <= WT_PT_SHORT;
    }
    b->vocab_mask = wt_pow2_at_least(n_bpe * 2 + 1) - 1;
    if (!(b->vocab = wt_malloc((b->vocab_mask + 1) * sizeof(uint32_t)))) goto fail;
    memset(b->vocab, 0xff, (b->vocab_mask + 1) * sizeof(uint32_t));
    for (uint32_t id = 0; id < n_ids; id++)
        if ((b->tok_flags[id] & WT_TOK_BPE) && (rc = vocab_insert(b, id))) goto fail;

    rc = WT_EINVAL;
    for (int c = 0; c < 256; c++) {
        uint8_t byte = (uint8_t)c;
        if ((b->byte_id[c] = lookup(b, &byte, 1)) != WT_NO_ID) continue;
        /* Bytes that never occur in valid UTF-8 may be missing: the bindings only
         * pass Python str contents. Any other missing byte is an error. */
        if (c != 0xC0 && c != 0xC1 && c < 0xF5) goto fail;
        b->byte_id[c] = 0;
    }

    if (mode_tiktoken) {
        /* Every split of a token into two tokens is a pair, ranked by the token.
         * Collected first, so the table is sized by the pairs that exist, not by
         * the splits tried (a few times fewer: a sparse table costs memory and
         * cache misses at every merge). */
        size_t n_pairs = 0, cap = 1 << 16;
        uint32_t *found = wt_malloc(cap * 3 * sizeof(uint32_t));
        if (!found) { rc = WT_ENOMEM; goto fail; }
        for (uint32_t id = 0; id < n_ids; id++) {
            if (!(b->tok_flags[id] & WT_TOK_BPE)) continue;
            const uint8_t *p = tok_bytes + tok_off[id];
            size_t n = tok_off[id + 1] - tok_off[id];
            for (size_t k = 1; k < n; k++) {
                uint32_t l = lookup(b, p, k), r;
                if (l == WT_NO_ID || (r = lookup(b, p + k, n - k)) == WT_NO_ID) continue;
                if (n_pairs == cap) {
                    uint32_t *more = wt_realloc(found, cap * 2 * 3 * sizeof(uint32_t));
                    if (!more) { wt_free(found); rc = WT_ENOMEM; goto fail; }
                    found = more;
                    cap *= 2;
                }
                found[3 * n_pairs] = l; found[3 * n_pairs + 1] = r; found[3 * n_pairs + 2] = id;
                n_pairs++;
            }
        }
        if ((rc = pairs_alloc(&b->pairs, n_pairs))) { wt_free(found); goto fail; }
        for (size_t i = 0; i < n_pairs; i++) pair_put(&b->pairs, found[3 * i], found[3 * i + 1], found[3 * i + 2]);
        wt_free(found);
    } else {
        uint32_t max_rank = 0;
        for (size_t i = 0; i < n_merges; i++) max_rank = merges[3 * i + 2] > max_rank ? merges[3 * i + 2] : max_rank;
        if (max_rank >= WT_PAIR_LIMIT - 1) { rc = WT_EINVAL; goto fail; }
        if ((rc = pairs_alloc(&b->pairs, n_merges))) goto fail;
        if (!(b->pairs.rank_merged = wt_calloc((size_t)max_rank + 1, sizeof(uint32_t)))) { rc = WT_ENOMEM; goto fail; }
        rc = WT_EINVAL;
        for (size_t i = 0; i < n_merges; i++) {
            uint32_t l = merges[3 * i], r = merges[3 * i + 1], rank = merges[3 * i + 2];
            if (l >= n_ids || r >= n_ids) goto fail;
            /* The merged token is the concatenation; the loader checked it exists. */
            size_t ln = tok_off[l + 1] - tok_off[l], rn = tok_off[r + 1] - tok_off[r];
            uint8_t stackbuf[256];
            uint8_t *cat = ln + rn <= sizeof stackbuf ? stackbuf : wt_malloc(ln + rn);
            if (!cat) { rc = WT_ENOMEM; goto fail; }
            memcpy(cat, tok_bytes + tok_off[l], ln);
            memcpy(cat + ln, tok_bytes + tok_off[r], rn);
            uint32_t m = lookup(b, cat, ln + rn);
            if (cat != stackbuf) wt_free(cat);
            if (m == WT_NO_ID) goto fail;
            pair_put(&b->pairs, l, r, rank);
            b->pairs.rank_merged[rank] = m;
        }
    }

    if (!(b->byte_ranks = wt_malloc(65536 * sizeof(uint32_t)))) { rc = WT_ENOMEM; goto fail; }
    for (size_t x = 0; x < 65536; x++) b->byte_ranks[x] = pair_rank(b, b->byte_id[x >> 8], b->byte_id[x & 0xff]);

    /* Which tokens a piece may map to directly: all with ignore_merges (and
     * always for tiktoken); otherwise those the merges rebuild on their own.
     * The linear path needs every token's own run: which are self-built, and the
     * last merge of each (the top of its tree). */
    b->linear_status = WT_LINEAR_OFF;
    if (linear) {
        b->lin.split = wt_malloc(((size_t)n_ids * 2 + 1) * sizeof(uint32_t));
        b->lin.tree_rank = wt_calloc((size_t)n_ids + 1, sizeof(uint32_t));
        if (!b->lin.split || !b->lin.tree_rank) { rc = WT_ENOMEM; goto fail; }
    }
    wt_bpe_scratch sc = {0};
    uint32_t *tmp = NULL;
    size_t tmp_cap = 0;
    wt_seeds seeds = {0};
    rc = 0;
    for (uint32_t id = 0; id < n_ids; id++) {
        if (linear) b->lin.split[2 * id] = b->lin.split[2 * id + 1] = WT_NO_ID;
        if (!(b->tok_flags[id] & WT_TOK_BPE)) continue;
        size_t n = tok_off[id + 1] - tok_off[id];
        int whole = mode_tiktoken || ignore_merges || n == 1;
        if (n == 1 && linear) b->lin.split[2 * id] = b->lin.split[2 * id + 1] = id;
        int64_t k_merged = 0;    /* ids in tmp: the merges' result, when they ran */
        if (n > 1 && (!whole || linear)) {
            if (n > tmp_cap) {
                wt_free(tmp);
                tmp_cap = n * 2;
                if (!(tmp = wt_malloc(tmp_cap * sizeof(uint32_t)))) { rc = WT_ENOMEM; break; }
            }
            uint32_t top[2] = {WT_NO_ID, WT_NO_ID};
            int64_t k = n <= WT_BPE_SHORT ? (int64_t)merge_small(b, tok_bytes + tok_off[id], n, tmp, top, &sc.work)
                                          : merge_heap_piece(b, tok_bytes + tok_off[id], n, tmp, &sc, top);
            if (k < 0) { rc = (int)k; break; }
            k_merged = k;
            int self_built = k == 1 && tmp[0] == id;
            whole = whole || self_built;
            if (self_built && linear) {
                b->lin.split[2 * id] = top[0];
                b->lin.split[2 * id + 1] = top[1];
                b->lin.tree_rank[id] = pair_rank(b, top[0], top[1]) + 1;
            }
        }
        if (whole) b->tok_flags[id] |= WT_TOK_WHOLE;
        /* The seed: what encoding the token's bytes as a piece gives (not always the token). */
        if (n <= WT_PT_LONG) {
            size_t k = whole ? 1 : (size_t)k_merged;
            if ((rc = seed_push(&seeds, id, k, whole ? &id : tmp))) break;
        }
    }
    wt_free(tmp);
    wt_bpe_scratch_free(&sc);
    if (!rc) rc = seed_table(b, &seeds, n_short, test_slots);
    wt_free(seeds.ids);
    if (rc) goto fail;
    if (linear && (rc = linear_init(b)) < 0) goto fail;
    return 0;
fail:
    wt_bpe_free(b);
    return rc;
}

static void linear_free(wt_bpe_linear *L)
{
    wt_free(L->split); wt_free(L->tree_rank); wt_free(L->shorter);
    wt_free(L->node_first); wt_free(L->edge_byte); wt_free(L->edge_node); wt_free(L->node_id);
    wt_free(L->run_node); wt_free(L->run_best);
    memset(L, 0, sizeof *L);
}

void wt_bpe_free(wt_bpe *b)
{
    wt_free(b->tok_off); wt_free(b->tok_bytes); wt_free(b->tok_flags);
    wt_free(b->vocab);
    wt_free(b->pairs.slots);
    wt_free(b->byte_ranks);
    wt_free(b->pairs.rank_merged);
    linear_free(&b->lin);
    wt_pt_free(&b->pieces);
    memset(b, 0, sizeof *b);
}
