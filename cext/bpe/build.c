/* Building the BPE tables of a tokenizer from its tokens and merges, and seeding
 * its piece table. */
#include "bpe/internal.h"
#include "common/alloc.h"

#include <stdatomic.h>

/* ---- bytes -> id, while building ---- */

static uint32_t lookup(const wt_bpe *b, const uint8_t *p, size_t n)
{
    const uint32_t *off = b->tok_off;
    uint64_t h = wt_hash_mem(p, n), tag = h >> 32;
    for (size_t i = h & b->vocab_mask;; i = (i + 1) & b->vocab_mask) {
        uint64_t e = b->vocab[i];
        if (e == UINT64_MAX) return WT_NO_ID;
        uint32_t id = (uint32_t)e;
        if (e >> 32 == tag && off[id + 1] - off[id] == n && memcmp(b->tok_bytes + off[id], p, n) == 0) return id;
    }
}

static int vocab_insert(wt_bpe *b, uint32_t id)
{
    const uint8_t *p = b->tok_bytes + b->tok_off[id];
    size_t n = b->tok_off[id + 1] - b->tok_off[id];
    if (n == 0 || lookup(b, p, n) != WT_NO_ID) return WT_EINVAL;   /* empty, or two ids with the same bytes */
    uint64_t h = wt_hash_mem(p, n);
    size_t i = h & b->vocab_mask;
    while (b->vocab[i] != UINT64_MAX) i = (i + 1) & b->vocab_mask;
    b->vocab[i] = (h >> 32) << 32 | id;     /* ids are below WT_PAIR_LIMIT: never UINT64_MAX */
    return 0;
}

/* ---- the pair table ---- */

/* Ranks are unique: a later listing of the same pair replaces the earlier. */
static void pair_put(wt_pair_map *m, uint32_t l, uint32_t r, uint32_t rank)
{
    uint64_t key = pair_key(l, r);
    size_t i = pair_home(m, key);
    while (m->slots[i] != UINT64_MAX && (m->slots[i] & ~WT_RANK_BITS) != key) i = (i + 1) & m->mask;
    m->slots[i] = key | rank;
    size_t bit = pair_filter_bit(m, wt_hash_u64(key));
    m->filter[bit / 64] |= 1ull << (bit % 64);
}

/* At most half full (pairs absent from it are the common probe: a miss ends
 * at an empty slot). The filter has 8 to 16 bits a pair: one in 8 to 16 of the
 * pairs absent passes it. */
static int pairs_alloc(wt_pair_map *m, size_t n)
{
    size_t cap = wt_pow2_at_least(n * 2 + 1), bits = wt_pow2_at_least(n * 8 + 4096);
    m->slots = wt_malloc(cap * sizeof(uint64_t));
    m->filter = wt_calloc(bits / 64, sizeof(uint64_t));
    if (!m->slots || !m->filter) return WT_ENOMEM;
    memset(m->slots, 0xff, cap * sizeof(uint64_t));
    m->mask = cap - 1;
    m->filter_mask = bits - 1;
    return 0;
}

uint32_t wt_bpe_whole(const wt_bpe *b, const uint8_t *p, size_t n)
{
    if (n > b->max_len) return WT_NO_ID;       /* not hashed: a piece can be megabytes */
    uint32_t id = lookup(b, p, n);
    return id != WT_NO_ID && (b->tok_flags[id] & WT_TOK_WHOLE) ? id : WT_NO_ID;
}

/* ---- characters merged before their neighbours ---- */

/* For every code point of two or three bytes, the token its bytes merge into
 * when they surely do so before any of its parts merges with a neighbour, so
 * that a piece's merges may start from that token (fewer parts, fewer steps).
 * Sure: each merge that could join a part at the character's edge to anything
 * outside ranks after every merge inside it (ranks decide the order of merges
 * wherever they are in a piece, so the inside ones all come first). */
static int preformed_init(wt_bpe *b)
{
    size_t n_ids = b->n_ids;
    uint32_t *as_left = wt_malloc((n_ids + 1) * sizeof(uint32_t)), *as_right = wt_malloc((n_ids + 1) * sizeof(uint32_t));
    b->preformed = wt_malloc(0x10000 * sizeof(uint32_t));
    b->char_ids = wt_malloc(0x10000 * sizeof(uint64_t));
    if (!as_left || !as_right || !b->preformed || !b->char_ids) {
        wt_free(as_left);
        wt_free(as_right);
        return WT_ENOMEM;
    }
    memset(as_left, 0xff, (n_ids + 1) * sizeof(uint32_t));
    memset(as_right, 0xff, (n_ids + 1) * sizeof(uint32_t));
    memset(b->preformed, 0xff, 0x10000 * sizeof(uint32_t));
    memset(b->char_ids, 0xff, 0x10000 * sizeof(uint64_t));
    /* The first merge of each token as the left part, and as the right part. */
    for (size_t i = 0; i <= b->pairs.mask; i++) {
        uint64_t slot = b->pairs.slots[i];
        if (slot == UINT64_MAX) continue;
        uint32_t l = (uint32_t)(slot >> 42), r = (uint32_t)(slot >> 21) & (WT_PAIR_LIMIT - 1);
        uint32_t rank = (uint32_t)(slot & WT_RANK_BITS);
        if (rank < as_left[l]) as_left[l] = rank;
        if (rank < as_right[r]) as_right[r] = rank;
    }
    for (uint32_t cp = 0x80; cp < 0x10000; cp++) {
        if (cp >= 0xD800 && cp < 0xE000) continue;
        uint8_t u[3];
        size_t m = cp < 0x800 ? 2 : 3;
        if (m == 2) { u[0] = (uint8_t)(0xC0 | cp >> 6); u[1] = (uint8_t)(0x80 | (cp & 0x3F)); }
        else { u[0] = (uint8_t)(0xE0 | cp >> 12); u[1] = (uint8_t)(0x80 | ((cp >> 6) & 0x3F)); u[2] = (uint8_t)(0x80 | (cp & 0x3F)); }
        uint32_t part[3], edge_left[3], edge_right[3], last = 0;   /* last: the highest rank inside */
        size_t edges = 0;
        for (size_t i = 0; i < m; i++) part[i] = b->byte_id[u[i]];
        while (m > 1) {
            edge_left[edges] = part[0];
            edge_right[edges++] = part[m - 1];
            size_t best = 0;
            uint32_t best_rank = pair_rank(b, part[0], part[1]);
            if (m == 3) {
                uint32_t r = pair_rank(b, part[1], part[2]);
                if (r < best_rank) { best_rank = r; best = 1; }
            }
            if (best_rank == UINT32_MAX) break;
            if (best_rank > last) last = best_rank;   /* the last merge inside is the latest */
            part[best] = rank_merged(b, best_rank);
            if (best + 2 < m) part[best + 1] = part[best + 2];
            m--;
        }
        b->char_ids[cp] = pack_ids(part, m);
        if (m != 1) continue;
        int sure = 1;
        for (size_t e = 0; e < edges; e++)
            sure &= as_right[edge_left[e]] > last && as_left[edge_right[e]] > last;
        if (sure) b->preformed[cp] = part[0];
    }
    wt_free(as_left);
    wt_free(as_right);
    return 0;
}

/* What the four bytes of each code point from WT_SYMBOL_FIRST merge into alone
 * (b->symbol_ids): a long run of emoji is cut between characters, and a part of
 * one then needs no lookup. */
static int symbols_init(wt_bpe *b)
{
    if (!(b->symbol_ids = wt_malloc(WT_SYMBOL_COUNT * sizeof(uint64_t)))) return WT_ENOMEM;
    uint64_t work = 0;
    for (uint32_t k = 0; k < WT_SYMBOL_COUNT; k++) {
        uint32_t cp = WT_SYMBOL_FIRST + k, part[4];
        uint8_t u[4] = {(uint8_t)(0xF0 | cp >> 18), (uint8_t)(0x80 | ((cp >> 12) & 0x3F)),
                        (uint8_t)(0x80 | ((cp >> 6) & 0x3F)), (uint8_t)(0x80 | (cp & 0x3F))};
        b->symbol_ids[k] = pack_ids(part, wt_merge_small(b, u, 4, part, NULL, &work));
    }
    return 0;
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

/* The piece table, seeded: room for the seeds five times over, so that most
 * pieces lie in their home line and the text's own pieces find room too. The
 * few seeds whose lines are full spill to the long map; when every whole token
 * is kept, a piece missing from the table is known not to be one.
 * test_slots: a small table, nothing seeded. */
static int seed_table(wt_bpe *b, const wt_seeds *seeds, size_t n_short, size_t test_slots)
{
    if (test_slots) return wt_pt_init(&b->pieces, 16 * test_slots, 16, 4096);
    const uint32_t *off = b->tok_off;
    int rc = wt_pt_init(&b->pieces, wt_pow2_at_least(5 * n_short), 1 << 16, 1 << 21), all_whole = 1;
    if (rc) return rc;
    for (size_t at = 0; at < seeds->len;) {
        uint32_t id = seeds->ids[at], k = seeds->ids[at + 1];
        const uint8_t *tok = b->tok_bytes + off[id];
        size_t n = off[id + 1] - off[id];
        int added = wt_pt_seed(&b->pieces, tok, n, wt_pt_hash_of(tok, n), seeds->ids + at + 2, k);
        if (b->tok_flags[id] & WT_TOK_WHOLE) all_whole &= added;
        at += 2 + k;
    }
    b->whole_seeded = all_whole;
    return 0;
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
        b->tok_flags[id] &= (uint8_t)~(WT_TOK_WHOLE | WT_TOK_UNORDERED | WT_TOK_SELF_BUILT);
        if (!(b->tok_flags[id] & WT_TOK_BPE)) continue;
        n_bpe++;
        n_short += tok_off[id + 1] - tok_off[id] <= WT_PT_SHORT;
        if (tok_off[id + 1] - tok_off[id] > b->max_len) b->max_len = tok_off[id + 1] - tok_off[id];
    }
    b->vocab_mask = wt_pow2_at_least(n_bpe * 2 + 1) - 1;
    if (!(b->vocab = wt_malloc((b->vocab_mask + 1) * sizeof(uint64_t)))) goto fail;
    memset(b->vocab, 0xff, (b->vocab_mask + 1) * sizeof(uint64_t));
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
    if ((rc = preformed_init(b))) goto fail;
    if ((rc = symbols_init(b))) goto fail;
    if ((rc = wt_cuts_init(b))) goto fail;

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
        if (n == 1) b->tok_flags[id] |= WT_TOK_SELF_BUILT;
        int64_t k_merged = 0;    /* ids in tmp: the merges' result, when they ran */
        if (n > 1 && (!whole || linear)) {
            if (n > tmp_cap) {
                wt_free(tmp);
                tmp_cap = n * 2;
                if (!(tmp = wt_malloc(tmp_cap * sizeof(uint32_t)))) { rc = WT_ENOMEM; break; }
            }
            uint32_t top[2] = {WT_NO_ID, WT_NO_ID};
            int64_t k = n <= WT_BPE_SHORT ? (int64_t)wt_merge_small(b, tok_bytes + tok_off[id], n, tmp, top, &sc.work)
                                          : wt_merge_heap(b, tok_bytes + tok_off[id], n, tmp, &sc, top);
            if (k < 0) { rc = (int)k; break; }
            k_merged = k;
            int self_built = k == 1 && tmp[0] == id;
            whole = whole || self_built;
            if (self_built) b->tok_flags[id] |= WT_TOK_SELF_BUILT;
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
    if (linear && (rc = wt_linear_init(b)) < 0) goto fail;
    return 0;
fail:
    wt_bpe_free(b);
    return rc;
}

void wt_bpe_free(wt_bpe *b)
{
    wt_free(b->tok_off); wt_free(b->tok_bytes); wt_free(b->tok_flags);
    wt_free(b->vocab);
    wt_free(b->pairs.slots);
    wt_free(b->pairs.filter);
    wt_free(b->byte_ranks);
    wt_free(b->preformed);
    wt_free(b->char_ids);
    wt_free(b->symbol_ids);
    wt_free(b->pairs.rank_merged);
    wt_linear_free(&b->lin);
    wt_cuts_free(&b->cuts);
    wt_pt_free(&b->pieces);
    memset(b, 0, sizeof *b);
}
