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

WT_INLINE int key_has_hashed(const wt_bpe_cuts *c, uint64_t key, uint64_t hash)
{
    for (size_t i = hash & c->mask;; i = (i + 1) & c->mask) {
        if (c->keys[i] == key) return 1;
        if (!c->keys[i]) return 0;
    }
}

WT_INLINE int key_has(const wt_bpe_cuts *c, uint64_t key) { return key_has_hashed(c, key, wt_hash_u64(key)); }

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

/* The key of the character p[s..i) and the byte p[i] (0 < i < n, p[i] not a
 * continuation byte, s where that character starts: at most four bytes back). */
WT_INLINE uint64_t boundary_key(const uint8_t *p, size_t n, size_t s, size_t i)
{
    int partial_s = s == 0 && is_cont(p[0]) && i < 4;
    if (s + 4 <= n) {                          /* one load, the bytes past the character masked off */
        uint32_t w;
        memcpy(&w, p + s, 4);
        if (i - s < 4) w &= (1u << (8 * (i - s))) - 1;
        return w | (uint64_t)p[i] << 32 | (uint64_t)(i - s) << 40 | (uint64_t)partial_s << 43;
    }
    return cut_key(p + s, i - s, p[i], partial_s);
}

/* May the piece be cut at the boundary of that key (hash: wt_hash_u64 of it), which
 * the memo does not answer? */
WT_INLINE int may_cut(const wt_bpe_cuts *c, const uint8_t *p, size_t s, size_t i, uint64_t key, uint64_t hash,
                      cuts_memo *memo)
{
    int cut = !key_has_hashed(c, key, hash);
    if (cut && i - s > 1 && (c->partial[p[i - 1] & 0x3F][p[i] >> 6] >> (p[i] & 63) & 1))
        for (size_t j = s + 1; j < i && cut; j++)
            cut = !key_has(c, cut_key(p + j, i - j, p[i], 1));
    memo->key[hash >> 61] = key << 1 | (uint64_t)cut;
    return cut;
}

/* A part of up to 8 bytes as a memo word (never 0; no two lengths alike). */
WT_INLINE uint64_t part_word(const uint8_t *p, size_t n, const uint8_t *end)
{
    uint64_t word = 0;
    if (p + 8 <= end) {                        /* one load, the bytes past the part masked off */
        memcpy(&word, p, 8);
        if (n < 8) word &= (1ull << (8 * n)) - 1;
    } else {
        for (size_t q = 0; q < n; q++) word |= (uint64_t)p[q] << (8 * q);
    }
    return word ^ (uint64_t)n << 60 ^ (n == 8 ? 0 : 1ull << 63);
}

/* What a part that is one byte, one character of two or three bytes or one of
 * b->symbol_ids' merges into alone, packed as b->char_ids holds it; else
 * UINT64_MAX. No memo or table needed. */
WT_INLINE uint64_t one_char_ids(const wt_bpe *b, const uint8_t *p, size_t n)
{
    uint32_t c = p[0];
    if (n == 1) return (UINT64_MAX << 21) | b->byte_id[c];
    if (n == 2 && c >= 0xC2 && c < 0xE0 && is_cont(p[1])) return b->char_ids[(c & 0x1F) << 6 | (p[1] & 0x3Fu)];
    if (n == 3 && (c & 0xF0) == 0xE0 && is_cont(p[1]) && is_cont(p[2])) {
        uint32_t cp = (c & 0x0F) << 12 | (p[1] & 0x3Fu) << 6 | (p[2] & 0x3Fu);
        if (cp >= 0x800) return b->char_ids[cp];
    }
    if (n == 4 && c == 0xF0 && p[1] == 0x9F && is_cont(p[2]) && is_cont(p[3])) {
        uint32_t k = ((p[2] & 0x3Fu) << 6 | (p[3] & 0x3Fu)) - (WT_SYMBOL_FIRST & 0xFFF);
        if (k < WT_SYMBOL_COUNT) return b->symbol_ids[k];
    }
    return UINT64_MAX;
}

/* The packed ids of one_char_ids to out (room for a byte's worth of ids a byte): their count. */
WT_INLINE size_t unpack_ids(uint64_t x, uint32_t *out)
{
    out[0] = (uint32_t)x & WT_CHAR_NONE;
    if ((x >> 21 & WT_CHAR_NONE) == WT_CHAR_NONE) return 1;
    out[1] = (uint32_t)(x >> 21) & WT_CHAR_NONE;
    if ((x >> 42 & WT_CHAR_NONE) == WT_CHAR_NONE) return 2;
    out[2] = (uint32_t)(x >> 42) & WT_CHAR_NONE;
    return 3;
}

/* A part's ids from the memo when it holds them (word: part_word, or 0 for a part
 * of over 8 bytes; slot: memo_slot of it): the count, or -1. */
WT_INLINE int64_t from_memo(const cuts_memo *memo, uint64_t word, size_t slot, uint32_t *out, size_t room)
{
    if (!word || memo->part[slot] != word) return -1;
    if (room >= WT_PT_INLINE) memcpy(out, memo->ids[slot], sizeof memo->ids[slot]);
    else memcpy(out, memo->ids[slot], memo->k[slot] * sizeof(uint32_t));   /* no more than out holds */
    return memo->k[slot];
}

/* The ids of a part the memo does not hold (word as for from_memo; hash: its
 * wt_pt_hash_of, or NULL when not yet known): from the piece table when it holds
 * the part's merges, else merged (and learned); then kept in the memo. The table
 * holds what a whole piece encodes to, which for a token the merges do not rebuild
 * is the token, not the merges' result: such a part is merged, and its merges are
 * never learned. */
static int64_t part_ids(const wt_bpe *b, const uint8_t *p, size_t n, uint64_t word, const uint64_t *hash,
                        uint32_t *out, wt_bpe_scratch *sc, wt_piece_table *table, cuts_memo *memo)
{
    int64_t k = -1;
    uint64_t h = 0;
    if (table && n <= WT_PT_LONG) {
        h = hash ? *hash : wt_pt_hash_of(p, n);
        k = wt_pt_find(table, p, n, h, out);
        if (k == 1 && !(b->tok_flags[out[0]] & WT_TOK_SELF_BUILT)) k = -1;
    }
    if (k < 0) {
        k = wt_merge_piece(b, p, n, out, sc);
        if (table && n <= WT_PT_LONG && k > 0 && (k == 1 || wt_bpe_whole(b, p, n) == WT_NO_ID))
            wt_pt_add(table, p, n, h, out, (size_t)k);
    }
    if (word && k > 0 && k <= WT_PT_INLINE) {
        size_t slot = memo_slot(word);
        memo->part[slot] = word;
        memo->k[slot] = (uint8_t)k;
        memcpy(memo->ids[slot], out, (size_t)k * sizeof(uint32_t));
    }
    return k;
}

/* Boundaries between characters taken a window at a time: each step of a window
 * runs over all of it (keys, then cuts, then the parts' hashes, then their ids),
 * so that the lookups of one step, in tables of megabytes, are prefetched by the
 * step before and wait on memory together, not one after another. */
#define WT_CUTS_WINDOW 32

int64_t wt_cuts_merge(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc,
                      wt_piece_table *table)
{
    const wt_bpe_cuts *c = &b->cuts;
    size_t done = 0, k = 0, i = 1;             /* done: where the next part starts */
    size_t lead = 0;                           /* the last byte before i that is not a continuation byte */
    cuts_memo memo;
    memset(memo.key, 0, sizeof memo.key);
    memset(memo.part, 0, sizeof memo.part);
    size_t at[WT_CUTS_WINDOW], from[WT_CUTS_WINDOW], ends[WT_CUTS_WINDOW + 1];
    uint64_t keys[WT_CUTS_WINDOW], key_hash[WT_CUTS_WINDOW], part_hash[WT_CUTS_WINDOW + 1], words[WT_CUTS_WINDOW + 1];
    uint64_t packed[WT_CUTS_WINDOW + 1];
    uint8_t cut[WT_CUTS_WINDOW], hashed[WT_CUTS_WINDOW + 1], memo_at[WT_CUTS_WINDOW + 1];
    while (done < n) {
        /* The window's boundaries: two ASCII characters answered at once, the
         * others keyed and their slots prefetched. */
        size_t w = 0;
        for (; i < n && w < WT_CUTS_WINDOW; i++) {
            if (is_cont(p[i])) continue;
            size_t s = lead + 4 < i ? i - 4 : lead;   /* char_start(p, 0, i): at most four bytes back */
            lead = i;
            at[w] = i;
            from[w] = s;
            if (p[i] < 0x80 && p[i - 1] < 0x80) {
                cut[w++] = !(c->ascii[p[i - 1]][p[i] >> 6] >> (p[i] & 63) & 1);
                continue;
            }
            uint64_t key = boundary_key(p, n, s, i), hash = wt_hash_u64(key), seen = memo.key[hash >> 61];
            if ((seen >> 1) == key) {          /* keys use 44 bits */
                cut[w++] = seen & 1;
                continue;
            }
            __builtin_prefetch(&c->keys[hash & c->mask]);
            keys[w] = key;
            key_hash[w] = hash;
            cut[w++] = 2;                      /* to be looked up */
        }
        /* The cuts: the ends of the window's parts (the last one's at the piece's end). */
        size_t parts = 0, open = done;
        for (size_t j = 0; j < w; j++) {
            if (at[j] - open > WT_CUTS_GIVE_UP) {   /* a run no cut splits ('a' * 10**6, emoji): as it was */
                i = n;
                break;
            }
            if (cut[j] == 2) cut[j] = (uint8_t)may_cut(c, p, from[j], at[j], keys[j], key_hash[j], &memo);
            if (cut[j]) ends[parts++] = open = at[j];
        }
        if (i >= n) ends[parts++] = n;
        /* The parts' hashes, their homes in the piece table prefetched (but for
         * parts the memo holds now); then their ids. */
        for (size_t q = 0, lo = done; q < parts; lo = ends[q++]) {
            size_t len = ends[q] - lo;
            if (((packed[q] = one_char_ids(b, p + lo, len)) & WT_CHAR_NONE) != WT_CHAR_NONE) continue;
            uint64_t word = len <= 8 ? part_word(p + lo, len, p + n) : 0;
            words[q] = word;
            memo_at[q] = (uint8_t)memo_slot(word);
            hashed[q] = table && len <= WT_PT_LONG && !(word && memo.part[memo_at[q]] == word);
            if (!hashed[q]) continue;
            part_hash[q] = wt_pt_hash_of(p + lo, len);
            if (len <= WT_PT_SHORT) __builtin_prefetch(wt_pt_home(table, part_hash[q]));
            else __builtin_prefetch(&table->long_slots[part_hash[q] & table->long_mask]);
        }
        for (size_t q = 0; q < parts; q++) {
            if ((packed[q] & WT_CHAR_NONE) != WT_CHAR_NONE) {
                k += unpack_ids(packed[q], out + k);
                done = ends[q];
                continue;
            }
            int64_t got = from_memo(&memo, words[q], memo_at[q], out + k, n - k);
            if (got < 0)
                got = part_ids(b, p + done, ends[q] - done, words[q], hashed[q] ? &part_hash[q] : NULL, out + k, sc,
                               table, &memo);
            if (got < 0) return got;
            k += (size_t)got;
            done = ends[q];
        }
    }
    return (int64_t)k;
}
