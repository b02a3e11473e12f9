/* Where a long piece can be cut without changing its merges.
 *
 * Every part a merge makes is a token. If no token holds bytes from both sides
 * of a position, no merge ever joins across it, and the merges on each side run
 * as they would alone (each side's merges keep their order; the other side's
 * only interleave): the piece's ids are the two sides' ids end to end. So a long
 * piece is cut at every such position between two characters, and its parts,
 * mostly short, take the short merge. A run of distinct CJK characters, which
 * few tokens join in pairs, then costs a few short merges a character instead
 * of one long merge.
 *
 * The test at a position i (p[i] starts a character): some token would hold
 * p[j..i] for j >= s, where p[s..i) is the character before i. Tokens are read
 * at load into keys (the bytes of the character before each of their inner
 * character starts, the byte after): a token that begins inside that character
 * gives a key of its tail of it, flagged "partial". At i the key of p[s..i) is
 * looked up, and the partial keys of its tails when the token table has any
 * with those last and next bytes. Any key found: no cut. Two ASCII characters
 * are a bit in a 128 x 128 table instead. */
#include "bpe/internal.h"
#include "common/alloc.h"

/* Bytes after a cut (or the start) past which no cut is looked for. */
#define WT_CUTS_GIVE_UP 1024

WT_INLINE int is_cont(uint8_t c) { return (c & 0xC0) == 0x80; }

/* bytes (1-4) | next << 32 | len << 40 | partial << 43: never 0 (len >= 1). */
WT_INLINE uint64_t cut_key(const uint8_t *p, size_t len, uint8_t next, int partial)
{
    uint32_t w = 0;
    for (size_t k = 0; k < len; k++) w |= (uint32_t)p[k] << (8 * k);
    return w | (uint64_t)next << 32 | (uint64_t)len << 40 | (uint64_t)partial << 43;
}

/* Where the character before position q starts: back over continuation bytes,
 * at most four bytes in all, not before lo. */
WT_INLINE size_t char_start(const uint8_t *p, size_t lo, size_t q)
{
    size_t j = q - 1;
    while (j > lo && j + 4 > q && is_cont(p[j])) j--;
    return j;
}

static int key_put(wt_bpe_cuts *c, uint64_t key)
{
    size_t i = wt_hash_u64(key) & c->mask;
    while (c->keys[i] && c->keys[i] != key) i = (i + 1) & c->mask;
    if (!c->keys[i]) {
        if (++c->count * 2 > c->mask + 1) return WT_ENOMEM;   /* sized from a count of positions: cannot happen */
        c->keys[i] = key;
    }
    return 0;
}

WT_INLINE int key_has(const wt_bpe_cuts *c, uint64_t key)
{
    for (size_t i = wt_hash_u64(key) & c->mask;; i = (i + 1) & c->mask) {
        if (c->keys[i] == key) return 1;
        if (!c->keys[i]) return 0;
    }
}

int wt_cuts_init(wt_bpe *b)
{
    wt_bpe_cuts *c = &b->cuts;
    size_t positions = 0;
    for (uint32_t id = 0; id < b->n_ids; id++) {
        if (!(b->tok_flags[id] & WT_TOK_BPE)) continue;
        const uint8_t *t = b->tok_bytes + b->tok_off[id];
        size_t m = b->tok_off[id + 1] - b->tok_off[id];
        for (size_t q = 1; q < m; q++) positions += !is_cont(t[q]) && (t[q] >= 0x80 || t[q - 1] >= 0x80);
    }
    c->mask = wt_pow2_at_least(positions * 2 + 16) - 1;
    if (!(c->keys = wt_calloc(c->mask + 1, sizeof(uint64_t)))) return WT_ENOMEM;
    for (uint32_t id = 0; id < b->n_ids; id++) {
        if (!(b->tok_flags[id] & WT_TOK_BPE)) continue;
        const uint8_t *t = b->tok_bytes + b->tok_off[id];
        size_t m = b->tok_off[id + 1] - b->tok_off[id];
        for (size_t q = 1; q < m; q++) {
            if (is_cont(t[q])) continue;
            size_t j = char_start(t, 0, q);
            int partial = j == 0 && is_cont(t[0]) && q < 4;
            if (t[q] < 0x80 && q - j == 1 && t[j] < 0x80) {
                c->ascii[t[j]][t[q] >> 6] |= 1ull << (t[q] & 63);
                continue;
            }
            int rc = key_put(c, cut_key(t + j, q - j, t[q], partial));
            if (rc) return rc;
            if (partial) c->partial[t[q - 1] & 0x3F][t[q] >> 6] |= 1ull << (t[q] & 63);
        }
    }
    return 0;
}

void wt_cuts_free(wt_bpe_cuts *c)
{
    wt_free(c->keys);
    memset(c, 0, sizeof *c);
}

/* What a piece's scan has seen: the last answers of may_cut and the last parts'
 * ids, a few of each (a run of a few characters repeated asks the same again). */
#define WT_CUTS_MEMO 8
typedef struct {
    uint64_t key[WT_CUTS_MEMO];      /* a cut key << 1 | the answer; 0: none */
    uint64_t part[WT_CUTS_MEMO];     /* a part of up to 8 bytes, packed with its length; 0: none */
    uint32_t ids[WT_CUTS_MEMO][WT_PT_INLINE];
    uint8_t k[WT_CUTS_MEMO];
} cuts_memo;

WT_INLINE size_t memo_slot(uint64_t x) { return (size_t)(wt_hash_u64(x) >> 61); }

/* May the piece be cut before p[i] (0 < i < n, p[i] not a continuation byte), the
 * character before it starting at s (char_start's answer, which the caller keeps)? */
WT_INLINE int may_cut(const wt_bpe_cuts *c, const uint8_t *p, size_t n, size_t s, size_t i, cuts_memo *memo)
{
    if (p[i] < 0x80 && p[i - 1] < 0x80) return !(c->ascii[p[i - 1]][p[i] >> 6] >> (p[i] & 63) & 1);
    int partial_s = s == 0 && is_cont(p[0]) && i < 4;
    uint64_t key;
    if (s + 4 <= n) {                          /* one load, the bytes past the character masked off */
        uint32_t w;
        memcpy(&w, p + s, 4);
        if (i - s < 4) w &= (1u << (8 * (i - s))) - 1;
        key = w | (uint64_t)p[i] << 32 | (uint64_t)(i - s) << 40 | (uint64_t)partial_s << 43;
    } else {
        key = cut_key(p + s, i - s, p[i], partial_s);
    }
    uint64_t *seen = &memo->key[memo_slot(key)];
    if ((*seen >> 1) == key) return *seen & 1;   /* keys use 44 bits */
    int cut = !key_has(c, key);
    if (cut && i - s > 1 && (c->partial[p[i - 1] & 0x3F][p[i] >> 6] >> (p[i] & 63) & 1))
        for (size_t j = s + 1; j < i && cut; j++)
            cut = !key_has(c, cut_key(p + j, i - j, p[i], 1));
    *seen = key << 1 | (uint64_t)cut;
    return cut;
}

/* A part's ids: from the memo, or the piece table when it holds the part's merges,
 * else merged (and learned). The table holds what a whole piece encodes to, which
 * for a token the merges do not rebuild is the token, not the merges' result: such
 * a part is merged, and its merges are never learned. */
static int64_t part_ids(const wt_bpe *b, const uint8_t *p, size_t n, const uint8_t *end, uint32_t *out,
                        size_t room, wt_bpe_scratch *sc, wt_piece_table *table, cuts_memo *memo)
{
    uint64_t word = 0, h = 0;
    size_t slot = 0;
    if (n <= 8) {
        if (p + 8 <= end) {                    /* one load, the bytes past the part masked off */
            memcpy(&word, p, 8);
            if (n < 8) word &= (1ull << (8 * n)) - 1;
        } else {
            for (size_t q = 0; q < n; q++) word |= (uint64_t)p[q] << (8 * q);
        }
        word = word ^ (uint64_t)n << 60 ^ (n == 8 ? 0 : 1ull << 63);   /* never 0; no two lengths alike */
        slot = memo_slot(word);
        if (memo->part[slot] == word) {
            if (room >= WT_PT_INLINE) memcpy(out, memo->ids[slot], sizeof memo->ids[slot]);
            else memcpy(out, memo->ids[slot], memo->k[slot] * sizeof(uint32_t));   /* no more than out holds */
            return memo->k[slot];
        }
    }
    int64_t k = -1;
    if (table && n <= WT_PT_LONG) {
        h = wt_pt_hash_of(p, n);
        k = wt_pt_find(table, p, n, h, out);
        if (k == 1 && !(b->tok_flags[out[0]] & WT_TOK_SELF_BUILT)) k = -1;
    }
    if (k < 0) {
        k = wt_merge_piece(b, p, n, out, sc);
        if (table && n <= WT_PT_LONG && k > 0 && (k == 1 || wt_bpe_whole(b, p, n) == WT_NO_ID))
            wt_pt_add(table, p, n, h, out, (size_t)k);
    }
    if (n <= 8 && k > 0 && k <= WT_PT_INLINE) {
        memo->part[slot] = word;
        memo->k[slot] = (uint8_t)k;
        memcpy(memo->ids[slot], out, (size_t)k * sizeof(uint32_t));
    }
    return k;
}

int64_t wt_cuts_merge(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc,
                      wt_piece_table *table)
{
    size_t start = 0, k = 0;
    cuts_memo memo;
    memset(memo.key, 0, sizeof memo.key);
    memset(memo.part, 0, sizeof memo.part);
    size_t lead = 0;                           /* the last byte before i that is not a continuation byte */
    for (size_t i = 1; i <= n; i++) {
        if (i - start > WT_CUTS_GIVE_UP) i = n;   /* a run no cut splits ('a' * 10**6, emoji): as it was */
        if (i < n) {
            if (is_cont(p[i])) continue;
            size_t s = lead + 4 < i ? i - 4 : lead;   /* char_start(p, 0, i): at most four bytes back */
            lead = i;
            if (!may_cut(&b->cuts, p, n, s, i, &memo)) continue;
        }
        int64_t got = part_ids(b, p + start, i - start, p + n, out + k, n - k, sc, table, &memo);
        if (got < 0) return got;
        k += (size_t)got;
        start = i;
    }
    return (int64_t)k;
}
