#include "bpe/internal.h"
#include "common/alloc.h"

#include <stdlib.h>      /* qsort */

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
        m = wt_merge_small(b, xy, n, ids, NULL, &sc->work);
    } else {
        /* The heap's own arrays; ranks[] is free for its output (the caller uses none
         * of them), and reserved first, so that wt_merge_heap does not move it. */
        int rc = wt_bpe_scratch_reserve(sc, n);
        if (rc) return rc;
        ids = sc->ranks;
        int64_t k = wt_merge_heap(b, xy, n, ids, sc, NULL);
        if (k < 0) return (int)k;
        m = (size_t)k;
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
            int64_t m = wt_merge_piece(b, p, rest, tail, sc);
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
int64_t wt_linear_piece(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc)
{
    int rc = dead_reserve(sc, n);
    if (rc) return rc;
    int64_t k = n > 1 && p[0] == p[n - 1] ? merge_run(b, p, n, out, sc) : WT_LINEAR_NONE;
    return k != WT_LINEAR_NONE ? k : merge_linear(b, p, n, out, sc);
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
int wt_linear_init(wt_bpe *b)
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
            wt_linear_free(L);
            b->linear_status = WT_LINEAR_BROKEN;
            b->linear_bad_id = id;
            return 0;
        }
    }
    /* A tree is ordered when each merge ranks after those below it, down to the bytes;
     * parts are shorter than the token, so visiting by length sees them first. */
    uint32_t *by_len = wt_malloc(((size_t)n_tok + 1) * sizeof(uint32_t));
    uint32_t *start = wt_calloc(max_len + 2, sizeof(uint32_t));
    if (!by_len || !start) { wt_free(by_len); wt_free(start); wt_linear_free(L); return WT_ENOMEM; }
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
    if (rc) wt_linear_free(L);
    return rc;
}

void wt_linear_free(wt_bpe_linear *L)
{
    wt_free(L->split); wt_free(L->tree_rank); wt_free(L->shorter);
    wt_free(L->node_first); wt_free(L->edge_byte); wt_free(L->edge_node); wt_free(L->node_id);
    wt_free(L->run_node); wt_free(L->run_best);
    memset(L, 0, sizeof *L);
}

