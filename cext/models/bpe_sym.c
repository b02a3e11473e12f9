/* BPE over characters (SentencePiece style), with HF tokenizers' exact results.
 *
 * A piece starts as one symbol per character: the character's token (with the
 * continuing prefix when not first, the word suffix when last), else its bytes'
 * <0xXX> tokens (byte_fallback), else the unknown token (fused with the unknown
 * before it with fuse_unk), else nothing. Then the adjacent pair of lowest rank
 * merges, the leftmost among equal ranks, until no pair has a merge: the order
 * HF's priority queue of (rank, position) gives. Short pieces scan an array of
 * the pairs' ranks; long ones (a pre-tokenizer-less Llama-2 text is one piece)
 * use a binary heap with HF's stale-entry check. */
#include "models/internal.h"

#include <stdio.h>

#include "common/alloc.h"
#include "common/hash.h"
#include "common/utf8.h"

#define NO_PAIR UINT64_MAX
#define SHORT_SYMBOLS 48     /* up to this many symbols: the rank-array scan */

struct wt_bpe_sym {
    uint64_t *pair_key;      /* left << 32 | right, or NO_PAIR */
    uint64_t *pair_val;      /* rank << 32 | merged id */
    size_t pair_mask;
    uint32_t byte_id[256];   /* <0xXX>'s id, or WT_NO_ID */
    uint32_t ascii_id[128];  /* a lone ASCII character's id (no prefix or suffix), or WT_NO_ID */
    uint8_t *affix;          /* prefix then suffix */
    size_t prefix_len, suffix_len;
    int byte_fallback, fuse_unk, ignore_merges, unk_missing;
    /* Cuts (wt_model_cut): a piece may be cut before a U+2581 that follows another
     * character, unless that character is one of `glued` (some token holds it before a
     * U+2581), or has no token of its own while a fallback symbol's string ends in a
     * glued character or characters may be dropped (glued_fallback). Between two ASCII
     * characters, or after U+2581 and before an ASCII one, it may be cut unless the
     * bit of the pair is set in ascii_glued or rep_glued (see ascii_cuts_init). */
    int cuts, glued_fallback;
    uint32_t glued[16];
    size_t n_glued;
    uint64_t ascii_glued[128][2], rep_glued[2];
    uint64_t glued_before_rep[2];   /* ASCII characters not cut from a U+2581 after them */
};

WT_INLINE size_t pair_slot(uint64_t key, size_t mask) { return (size_t)wt_hash_u64(key) & mask; }

/* The merge of (a, b): 1 with its rank and merged id, 0 if none. */
WT_INLINE int pair_get(const wt_bpe_sym *b, uint32_t a, uint32_t c, uint32_t *rank, uint32_t *merged)
{
    uint64_t key = (uint64_t)a << 32 | c;
    for (size_t i = pair_slot(key, b->pair_mask);; i = (i + 1) & b->pair_mask) {
        uint64_t k = b->pair_key[i];
        if (k == key) {
            *rank = (uint32_t)(b->pair_val[i] >> 32);
            *merged = (uint32_t)b->pair_val[i];
            return 1;
        }
        if (k == NO_PAIR) return 0;
    }
}

static const uint8_t REP[3] = {0xE2, 0x96, 0x81};    /* U+2581, SentencePiece's space */

/* The last code point of s[0..n) (n > 0). */
static uint32_t last_cp(const uint8_t *s, size_t n)
{
    size_t len, at = wt_utf8_prev(s, 0, n);
    return wt_utf8_decode(s, n, at, &len);
}

static int is_glued(const wt_bpe_sym *b, uint32_t cp)
{
    for (size_t i = 0; i < b->n_glued; i++)
        if (b->glued[i] == cp) return 1;
    return 0;
}

WT_INLINE size_t char_len(const uint8_t *s, size_t n, size_t i)
{
    uint8_t c = s[i];
    size_t len = c < 0x80 ? 1 : c < 0xE0 ? 2 : c < 0xF0 ? 3 : 4;
    if (c >= 0x80 && c < 0xC0) len = 1;          /* not a lead byte (never from a str) */
    return i + len > n ? n - i : len;
}

/* The first or last code point of the symbol strings an ASCII character starts as
 * (initial_symbols): its token, its <0xXX> token, or the unknown token; 0 when it
 * has none (it is dropped: nothing may be cut beside it). */
static uint32_t ascii_symbol_edge(const wt_model *m, const wt_bpe_sym *b, uint8_t c, int last)
{
    if (b->ascii_id[c] != WT_NO_ID) return c;
    if (b->byte_fallback && b->byte_id[c] != WT_NO_ID) return last ? '>' : '<';
    if (m->unk == WT_NO_ID || m->off[m->unk + 1] == m->off[m->unk]) return 0;
    const uint8_t *s = m->bytes + m->off[m->unk];
    size_t n = m->off[m->unk + 1] - m->off[m->unk], len;
    return last ? last_cp(s, n) : wt_utf8_decode(s, n, 0, &len);
}

/* The set of adjacent code-point pairs in the vocabulary's strings, open addressing. */
typedef struct {
    uint64_t *keys;
    size_t mask;
} pair_set;

static int pair_set_has(const pair_set *ps, uint64_t key)
{
    for (size_t i = pair_slot(key, ps->mask);; i = (i + 1) & ps->mask) {
        if (ps->keys[i] == key) return 1;
        if (ps->keys[i] == NO_PAIR) return 0;
    }
}

/* Cuts between ASCII characters, and after U+2581 before an ASCII one. A merge across
 * a cut between characters a and c makes a token holding the last character of a's
 * symbol string then the first of c's: where no token holds that pair, no merge
 * crosses the cut. Nor is a text cut beside a dropped character (its neighbours meet),
 * nor between two characters without tokens of their own when some character may
 * become the unknown token: a pending unknown moves past <0xXX> tokens, and fuses
 * with the next unknown (initial_symbols). Returns WT_ENOMEM or 0. */
static int ascii_cuts_init(const wt_model *m, wt_bpe_sym *b)
{
    size_t total = 0;
    for (uint32_t id = 0; id < m->n_ids; id++)
        if (m->present[id]) total += m->off[id + 1] - m->off[id];
    pair_set ps = {.mask = wt_pow2_at_least(2 * total + 2) - 1};
    if (!(ps.keys = wt_malloc((ps.mask + 1) * sizeof(uint64_t)))) return WT_ENOMEM;
    memset(ps.keys, 0xff, (ps.mask + 1) * sizeof(uint64_t));
    for (uint32_t id = 0; id < m->n_ids; id++) {
        if (!m->present[id]) continue;
        const uint8_t *s = m->bytes + m->off[id];
        size_t n = m->off[id + 1] - m->off[id], len;
        uint32_t prev = UINT32_MAX;
        for (size_t i = 0; i < n; i += len) {
            uint32_t cp = wt_utf8_decode(s, n, i, &len);
            if (prev != UINT32_MAX) {
                uint64_t key = (uint64_t)prev << 32 | cp;
                size_t k = pair_slot(key, ps.mask);
                while (ps.keys[k] != NO_PAIR && ps.keys[k] != key) k = (k + 1) & ps.mask;
                ps.keys[k] = key;
            }
            prev = cp;
        }
    }
    int unk_possible = m->unk != WT_NO_ID && !b->byte_fallback;
    for (int c = 0; c < 256; c++) unk_possible |= m->unk != WT_NO_ID && b->byte_id[c] == WT_NO_ID;
    for (int a = 0; a < 128; a++) {
        uint32_t last = ascii_symbol_edge(m, b, (uint8_t)a, 1);
        for (int c = 0; c < 128; c++) {
            uint32_t first = ascii_symbol_edge(m, b, (uint8_t)c, 0);
            int lacking = b->ascii_id[a] == WT_NO_ID && b->ascii_id[c] == WT_NO_ID;
            int glue = !last || !first || (lacking && unk_possible) || pair_set_has(&ps, (uint64_t)last << 32 | first);
            if (glue) b->ascii_glued[a][c >> 6] |= 1ull << (c & 63);
            if (a == 0 && (!first || pair_set_has(&ps, (uint64_t)0x2581 << 32 | first)))
                b->rep_glued[c >> 6] |= 1ull << (c & 63);
        }
    }
    wt_free(ps.keys);
    return 0;
}

/* Whether pieces may be cut before a U+2581 (see wt_model_cut), and where not. A merge
 * across such a cut would make a token holding the left symbol's last character then
 * U+2581: cutting where no token holds that pair changes no merge, so the pieces' ids
 * joined are the whole's. Not with a prefix, a suffix or ignore_merges (they look at the
 * whole piece), nor when U+2581 has no token (unknowns could fuse across the cut). */
static void cuts_init(const wt_model *m, wt_bpe_sym *b)
{
    b->cuts = 0;
    if (b->prefix_len || b->suffix_len || b->ignore_merges || wt_strmap_get(&m->vocab, REP, 3) == WT_NO_ID) return;
    for (uint32_t id = 0; id < m->n_ids; id++) {
        if (!m->present[id]) continue;
        const uint8_t *s = m->bytes + m->off[id];
        size_t n = m->off[id + 1] - m->off[id];
        for (size_t i = 1; i + 3 <= n; i++) {
            if (memcmp(s + i, REP, 3) != 0) continue;
            if (i >= 3 && memcmp(s + i - 3, REP, 3) == 0) continue;
            uint32_t cp = last_cp(s, i);
            if (is_glued(b, cp)) continue;
            if (b->n_glued == sizeof b->glued / sizeof b->glued[0]) return;   /* too many: no cuts */
            b->glued[b->n_glued++] = cp;
        }
    }
    /* A character without a token becomes <0xXX> symbols or the unknown token, whose
     * strings end in '>' or the unknown's last character; with no unknown token it may
     * be dropped, and the symbol before it meets the U+2581. */
    int glued_fallback = b->byte_fallback && is_glued(b, '>');
    if (m->unk != WT_NO_ID && m->off[m->unk + 1] > m->off[m->unk])
        glued_fallback |= is_glued(b, last_cp(m->bytes + m->off[m->unk], m->off[m->unk + 1] - m->off[m->unk]));
    if (m->unk == WT_NO_ID && b->n_glued) glued_fallback = 1;
    b->glued_fallback = glued_fallback;
    for (int a = 0; a < 128; a++)
        if (is_glued(b, (uint32_t)a) || (glued_fallback && b->ascii_id[a] == WT_NO_ID))
            b->glued_before_rep[a >> 6] |= 1ull << (a & 63);
    b->cuts = ascii_cuts_init(m, b) == 0;
}

int wt_model_cuts(const wt_model *m) { return m->kind == WT_MODEL_BPE && m->bpe->cuts; }

WT_INLINE int glued_bit(const uint64_t row[2], uint8_t c) { return (int)(row[c >> 6] >> (c & 63)) & 1; }

WT_INLINE int after_rep(const uint8_t *s, size_t pos, size_t p)
{
    return p >= pos + 3 && s[p - 1] == REP[2] && s[p - 2] == REP[1] && s[p - 3] == REP[0];
}

int wt_model_cuts_after(const wt_model *m, uint8_t a)
{
    return a < 0x80 && !glued_bit(m->bpe->glued_before_rep, a);
}

/* wt_model_cut's own test before a U+2581 that follows the character c[0..len)
 * (not U+2581): the cut the whole text's piece gets there. */
int wt_model_cuts_after_char(const wt_model *m, const uint8_t *c, size_t len)
{
    const wt_bpe_sym *b = m->bpe;
    if (len == 1) return wt_model_cuts_after(m, c[0]);
    size_t n;
    uint32_t cp = wt_utf8_decode(c, len, 0, &n);
    return n == len && !is_glued(b, cp) && (!b->glued_fallback || wt_strmap_get(&m->vocab, c, len) != WT_NO_ID);
}

size_t wt_model_cut(const wt_model *m, const uint8_t *s, size_t n, size_t pos)
{
    const wt_bpe_sym *b = m->bpe;
    for (size_t p = pos + 1; p < n;) {
        uint8_t c = s[p], a = s[p - 1];
        if (c < 0x80) {
            if (a < 0x80) {
                if (!glued_bit(b->ascii_glued[a], c)) return p;
            } else if (after_rep(s, pos, p)) {
                if (!glued_bit(b->rep_glued, c)) return p;
            }
            p++;
            continue;
        }
        if (c != REP[0] || p + 3 > n || s[p + 1] != REP[1] || s[p + 2] != REP[2]) {
            p += char_len(s, n, p);
            continue;
        }
        if (a < 0x80) {
            if (!glued_bit(b->glued_before_rep, a)) return p;
        } else if (!after_rep(s, pos, p)) {
            size_t at = wt_utf8_prev(s, pos, p), len;
            uint32_t cp = wt_utf8_decode(s, n, at, &len);
            if (!is_glued(b, cp) && (!b->glued_fallback || wt_strmap_get(&m->vocab, s + at, p - at) != WT_NO_ID))
                return p;
        }
        p += 3;
    }
    return n;
}

int wt_bpe_sym_new(wt_model *m, const wt_model_def *def)
{
    wt_bpe_sym *b = wt_calloc(1, sizeof *b);
    if (!b) return WT_ENOMEM;
    m->bpe = b;
    b->byte_fallback = def->byte_fallback;
    b->fuse_unk = def->fuse_unk;
    b->ignore_merges = def->ignore_merges;
    b->unk_missing = def->unk_missing;
    b->prefix_len = def->prefix_len;
    b->suffix_len = def->suffix_len;
    if (!(b->affix = wt_malloc(def->prefix_len + def->suffix_len + 1))) return WT_ENOMEM;
    if (def->prefix_len) memcpy(b->affix, def->prefix, def->prefix_len);
    if (def->suffix_len) memcpy(b->affix + def->prefix_len, def->suffix, def->suffix_len);

    size_t cap = wt_pow2_at_least(2 * def->n_merges + 2);
    b->pair_key = wt_malloc(cap * sizeof(uint64_t));
    b->pair_val = wt_malloc(cap * sizeof(uint64_t));
    if (!b->pair_key || !b->pair_val) return WT_ENOMEM;
    memset(b->pair_key, 0xff, cap * sizeof(uint64_t));
    b->pair_mask = cap - 1;
    for (size_t r = 0; r < def->n_merges; r++) {
        const uint32_t *row = def->merges + 3 * r;
        for (int j = 0; j < 3; j++)
            if (row[j] >= m->n_ids || !m->present[row[j]]) return WT_EINVAL;
        uint64_t key = (uint64_t)row[0] << 32 | row[1];
        size_t i = pair_slot(key, b->pair_mask);
        while (b->pair_key[i] != NO_PAIR && b->pair_key[i] != key) i = (i + 1) & b->pair_mask;
        b->pair_key[i] = key;                  /* a pair listed again: its later rank (HF's map keeps the last) */
        b->pair_val[i] = (uint64_t)r << 32 | row[2];
    }
    for (int c = 0; c < 256; c++) {
        char tok[8];
        snprintf(tok, sizeof tok, "<0x%02X>", c);
        b->byte_id[c] = wt_strmap_get(&m->vocab, (const uint8_t *)tok, 6);
    }
    for (int c = 0; c < 128; c++) {
        uint8_t ch = (uint8_t)c;
        b->ascii_id[c] = wt_strmap_get(&m->vocab, &ch, 1);
    }
    cuts_init(m, b);
    return 0;
}

void wt_bpe_sym_free(wt_bpe_sym *b)
{
    if (!b) return;
    wt_free(b->pair_key);
    wt_free(b->pair_val);
    wt_free(b->affix);
    wt_free(b);
}

/* The token of the character s[i..j) of a piece of n bytes, with the prefix
 * (not first) and suffix (last) HF puts around it; WT_NO_ID if none. */
static uint32_t char_id(const wt_model *m, const uint8_t *s, size_t i, size_t j, size_t n, uint8_t *key)
{
    const wt_bpe_sym *b = m->bpe;
    size_t pre = i > 0 ? b->prefix_len : 0, suf = j == n ? b->suffix_len : 0;
    if (!pre && !suf) {
        if (j - i == 1 && s[i] < 0x80) return b->ascii_id[s[i]];
        return wt_strmap_get(&m->vocab, s + i, j - i);
    }
    memcpy(key, b->affix, pre);
    memcpy(key + pre, s + i, j - i);
    memcpy(key + pre + (j - i), b->affix + b->prefix_len, suf);
    return wt_strmap_get(&m->vocab, key, pre + (j - i) + suf);
}

/* The piece's first symbols into ids (room for n), as HF's merge_word makes them:
 * their count, or WT_EUNK. */
static int64_t initial_symbols(const wt_model *m, const uint8_t *s, size_t n, uint32_t *ids)
{
    const wt_bpe_sym *b = m->bpe;
    uint8_t small[64];
    uint8_t *key = small;
    if (b->prefix_len + b->suffix_len + 4 > sizeof small &&
        !(key = wt_model_scratch(3, b->prefix_len + b->suffix_len + 4)))
        return WT_ENOMEM;
    size_t k = 0;
    int unk_pending = 0;
    for (size_t i = 0; i < n;) {
        size_t j = i + char_len(s, n, i);
        uint32_t id = char_id(m, s, i, j, n, key);
        if (id != WT_NO_ID) {
            if (unk_pending) { ids[k++] = m->unk; unk_pending = 0; }
            ids[k++] = id;
            i = j;
            continue;
        }
        if (b->byte_fallback) {                  /* (byte_fallback comes without prefix or suffix) */
            size_t q = i;
            while (q < j && b->byte_id[s[q]] != WT_NO_ID) q++;
            if (q == j) {
                /* HF leaves an unknown token before these pending: it follows them. */
                for (q = i; q < j; q++) ids[k++] = b->byte_id[s[q]];
                i = j;
                continue;
            }
        }
        if (b->unk_missing) return WT_EUNK;
        if (m->unk != WT_NO_ID) {
            if (unk_pending && !b->fuse_unk) ids[k++] = m->unk;
            unk_pending = 1;
        }
        i = j;
    }
    if (unk_pending) ids[k++] = m->unk;
    return (int64_t)k;
}

/* Few symbols: rank[i] is the rank of the pair (i, next), UINT32_MAX if it has no
 * merge; each step merges the lowest, leftmost on ties, and updates its neighbours. */
static size_t merge_short(const wt_bpe_sym *b, uint32_t *ids, size_t k)
{
    uint32_t rank[SHORT_SYMBOLS], merged[SHORT_SYMBOLS];
    for (size_t i = 0; i + 1 < k; i++)
        if (!pair_get(b, ids[i], ids[i + 1], &rank[i], &merged[i])) rank[i] = UINT32_MAX;
    if (k) rank[k - 1] = UINT32_MAX;
    while (k > 1) {
        size_t best = 0;
        for (size_t i = 1; i + 1 < k; i++)
            if (rank[i] < rank[best]) best = i;
        if (rank[best] == UINT32_MAX) break;
        ids[best] = merged[best];
        memmove(ids + best + 1, ids + best + 2, (k - best - 2) * sizeof(uint32_t));
        memmove(rank + best + 1, rank + best + 2, (k - best - 2) * sizeof(uint32_t));
        memmove(merged + best + 1, merged + best + 2, (k - best - 2) * sizeof(uint32_t));
        k--;
        if (best + 1 < k) {
            if (!pair_get(b, ids[best], ids[best + 1], &rank[best], &merged[best])) rank[best] = UINT32_MAX;
        } else {
            rank[best] = UINT32_MAX;
        }
        if (best > 0 && !pair_get(b, ids[best - 1], ids[best], &rank[best - 1], &merged[best - 1]))
            rank[best - 1] = UINT32_MAX;
    }
    return k;
}

/* Many symbols: HF's queue of (rank, position, merged) entries, smallest rank then
 * position first; an entry whose pair has changed since (its left symbol merged
 * away, or the pair no longer makes the same token) is skipped. */
typedef struct {
    uint32_t rank, pos, merged;
} heap_entry;

WT_INLINE int entry_less(heap_entry a, heap_entry b) { return a.rank < b.rank || (a.rank == b.rank && a.pos < b.pos); }

static void heap_push(heap_entry *h, size_t *len, heap_entry e)
{
    size_t i = (*len)++;
    while (i > 0) {
        size_t parent = (i - 1) / 2;
        if (!entry_less(e, h[parent])) break;
        h[i] = h[parent];
        i = parent;
    }
    h[i] = e;
}

static heap_entry heap_pop(heap_entry *h, size_t *len)
{
    heap_entry top = h[0], last = h[--(*len)];
    size_t i = 0, n = *len;
    for (;;) {
        size_t c = 2 * i + 1;
        if (c >= n) break;
        if (c + 1 < n && entry_less(h[c + 1], h[c])) c++;
        if (!entry_less(h[c], last)) break;
        h[i] = h[c];
        i = c;
    }
    if (n) h[i] = last;
    return top;
}

static int64_t merge_long(const wt_bpe_sym *b, uint32_t *ids, size_t k)
{
    /* next/prev links (k: none), a dead flag per symbol; at most k - 1 merges push
     * two entries each, on top of the k - 1 first ones. */
    uint32_t *next = wt_model_scratch(0, k * sizeof(uint32_t));
    uint32_t *prev = wt_model_scratch(1, k * sizeof(uint32_t));
    heap_entry *heap = wt_model_scratch(2, 3 * k * sizeof(heap_entry));
    if (!next || !prev || !heap) return WT_ENOMEM;
    size_t len = 0;
    for (size_t i = 0; i < k; i++) {
        next[i] = (uint32_t)(i + 1);
        prev[i] = i ? (uint32_t)(i - 1) : (uint32_t)k;
    }
    uint32_t rank, merged;
    for (size_t i = 0; i + 1 < k; i++)
        if (pair_get(b, ids[i], ids[i + 1], &rank, &merged))
            heap_push(heap, &len, (heap_entry){rank, (uint32_t)i, merged});
    const uint32_t dead = WT_NO_ID;
    while (len) {
        heap_entry e = heap_pop(heap, &len);
        uint32_t p = e.pos;
        if (ids[p] == dead || next[p] == k) continue;
        uint32_t q = next[p];
        if (!pair_get(b, ids[p], ids[q], &rank, &merged) || merged != e.merged) continue;
        ids[p] = e.merged;
        ids[q] = dead;
        next[p] = next[q];
        if (next[q] < k) prev[next[q]] = p;
        if (prev[p] < k && pair_get(b, ids[prev[p]], ids[p], &rank, &merged))
            heap_push(heap, &len, (heap_entry){rank, prev[p], merged});
        if (next[p] < k && pair_get(b, ids[p], ids[next[p]], &rank, &merged))
            heap_push(heap, &len, (heap_entry){rank, p, merged});
    }
    size_t o = 0;
    for (size_t i = 0; i < k; i++)
        if (ids[i] != dead) ids[o++] = ids[i];
    return (int64_t)o;
}

int64_t wt_bpe_sym_encode(const wt_model *m, const uint8_t *p, size_t n, uint32_t *out)
{
    const wt_bpe_sym *b = m->bpe;
    if (b->ignore_merges) {                 /* HF: a piece that is a token is that token */
        uint32_t id = wt_strmap_get(&m->vocab, p, n);
        if (id != WT_NO_ID) {
            out[0] = id;
            return 1;
        }
    }
    int64_t k = initial_symbols(m, p, n, out);
    if (k < 0) return k;
    if (k <= SHORT_SYMBOLS) return (int64_t)merge_short(b, out, (size_t)k);
    return merge_long(b, out, (size_t)k);
}
