#include "bpe/internal.h"
#include "common/alloc.h"

_Static_assert(WT_BPE_JOBS <= 256, "a job index fits a byte");

/* ---- merging ---- */

int wt_bpe_scratch_reserve(wt_bpe_scratch *sc, size_t n)
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
 * pieces of a batch in turn, and their probes overlap. The parts are a linked
 * list over slots 0..slots-1 (the first parts), so a merge moves nothing: the
 * right part's slot dies. ids[i] is the part in slot i, keys[i] the rank of
 * the pair (slot i, next[i]) and the slot, as rank_key makes them; WT_NO_KEY
 * for a dead or last slot and past the last, up to a multiple of four. The
 * ones at fresh[] are still to be read. The least key is the merge
 * to make, the leftmost of its rank: a min over the keys, four at a time, with
 * no branch on the ranks (which text varies too irregularly to predict). */
#define WT_NONE_SLOT 0xFF
_Static_assert(WT_BPE_SHORT <= WT_NONE_SLOT && WT_BPE_SHORT % 4 == 0, "a slot fits a key's low byte; keys in fours");
_Static_assert(WT_PAIR_LIMIT <= (1u << 21), "a rank's key is below WT_NONE_KEYS");
typedef struct {
    uint32_t *ids;
    int32_t keys[WT_BPE_SHORT];
    uint8_t next[WT_BPE_SHORT], prev[WT_BPE_SHORT];
    uint32_t slots, m;
    uint8_t fresh[2], n_fresh;
} small_merge;

/* The key of the pair at slot i of this rank: ranks are below 2^21, so keys are
 * below 2^29, positive as int32 (SSE2 has no unsigned 32-bit compare); none
 * (UINT32_MAX) keeps 31 bits, a key of WT_NONE_KEYS or more, and so does
 * WT_NO_KEY, for a dead slot. */
#define WT_NONE_KEYS (1 << 29)
#define WT_NO_KEY INT32_MAX
WT_INLINE int32_t rank_key(uint32_t rank, size_t i)
{
    return (int32_t)((rank << 8 | (uint32_t)i) & (uint32_t)WT_NO_KEY);
}

typedef int32_t wt_i32x4 __attribute__((vector_size(16)));

/* The least of keys[0..count), read in fours (keys up to the next multiple of four are WT_NO_KEY). */
WT_INLINE int32_t least_key(const int32_t *keys, size_t count)
{
    wt_i32x4 least;
    memcpy(&least, keys, sizeof least);
    for (size_t i = 4; i < count; i += 4) {
        wt_i32x4 x, lt;
        memcpy(&x, keys + i, sizeof x);
        lt = x < least;
        least = (x & lt) | (least & ~lt);
    }
    int32_t a = least[0] < least[1] ? least[0] : least[1], b = least[2] < least[3] ? least[2] : least[3];
    return a < b ? a : b;
}

/* The token a rank merges into is read only for the pair that merges, a step
 * or more after its rank: loaded ahead as the rank is known, it is in cache then. */
WT_INLINE void merged_prefetch(const wt_bpe *b, uint32_t rank)
{
    if (b->pairs.rank_merged && rank != UINT32_MAX) __builtin_prefetch(&b->pairs.rank_merged[rank]);
}

/* The first part of p[i..n): a preformed character's token (its byte length in
 * *len), else the byte's. Only a well-formed character counts: merges also take
 * arbitrary bytes (two tokens' bytes, with a character cut between them). */
WT_INLINE uint32_t first_part(const wt_bpe *b, const uint8_t *p, size_t n, size_t i, size_t *len)
{
    uint8_t c = p[i];
    uint32_t cp = 0, t;
    if (c >= 0xC2 && c < 0xE0 && i + 1 < n && (p[i + 1] & 0xC0) == 0x80) {
        cp = (uint32_t)(c & 0x1F) << 6 | (p[i + 1] & 0x3F);
    } else if (c >= 0xE0 && c < 0xF0 && i + 2 < n && (p[i + 1] & 0xC0) == 0x80 && (p[i + 2] & 0xC0) == 0x80) {
        cp = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(p[i + 1] & 0x3F) << 6 | (p[i + 2] & 0x3F);
        cp = cp >= 0x800 ? cp : 0;             /* overlong: not that character's bytes */
    }
    if (cp && (t = b->preformed[cp]) != WT_NO_ID) {
        *len = cp < 0x800 ? 2 : 3;
        return t;
    }
    *len = 1;
    return b->byte_id[c];
}

/* The parts' links before any merge: slot i between slots i - 1 and i + 1. */
static const uint8_t chain_next[WT_BPE_SHORT] = {
#define L8(b) (b) + 1, (b) + 2, (b) + 3, (b) + 4, (b) + 5, (b) + 6, (b) + 7, (b) + 8
    L8(0), L8(8), L8(16), L8(24), L8(32), L8(40)};
#undef L8
static const uint8_t chain_prev[WT_BPE_SHORT] = {
#define L8(b) (b) - 1, (b), (b) + 1, (b) + 2, (b) + 3, (b) + 4, (b) + 5, (b) + 6
    WT_NONE_SLOT, 0, 1, 2, 3, 4, 5, 6, L8(8), L8(16), L8(24), L8(32), L8(40)};
#undef L8
_Static_assert(WT_BPE_SHORT == 48, "chain_next and chain_prev list 48 slots");

/* The parts to merge: bytes, but (with preform) a character whose bytes surely
 * merge first is its token already (b->preformed). Pairs of bytes are read from the byte-pair
 * grid (a quarter MiB, mostly in cache), not probed in the pair table. */
static void small_begin(const wt_bpe *b, small_merge *s, const uint8_t *p, size_t n, uint32_t *ids,
                        int preform, uint64_t *work)
{
    uint16_t byte[WT_BPE_SHORT];               /* part i's byte, or 0x100: a preformed character */
    size_t m = 0;
    for (size_t i = 0, len; i < n; m++, i += len) {
        if (preform) {
            ids[m] = first_part(b, p, n, i, &len);
        } else {
            ids[m] = b->byte_id[p[i]];
            len = 1;
        }
        byte[m] = len == 1 ? p[i] : 0x100;
    }
    memcpy(s->next, chain_next, sizeof s->next);    /* slot i's neighbours are i - 1 and i + 1 */
    memcpy(s->prev, chain_prev, sizeof s->prev);
    if (m) s->next[m - 1] = WT_NONE_SLOT;
    for (size_t i = m ? m - 1 : 0; i < ((m + 3) & ~(size_t)3); i++) s->keys[i] = WT_NO_KEY;
    for (size_t i = 0; i + 1 < m; i++) {
        uint32_t rank = (byte[i] | byte[i + 1]) < 0x100 ? b->byte_ranks[(size_t)byte[i] << 8 | byte[i + 1]]
                                                        : pair_rank(b, ids[i], ids[i + 1]);
        s->keys[i] = rank_key(rank, i);
        merged_prefetch(b, rank);
    }
    s->ids = ids;
    s->slots = s->m = (uint32_t)m;
    s->n_fresh = 0;
    *work += n;
}

/* One merge: 1 when it merged, 0 when the piece is done (small_finish then
 * lines its parts up). top (optional) receives the parts of the merge that left
 * a single part. */
WT_INLINE int small_step(const wt_bpe *b, small_merge *s, uint32_t *top, uint64_t *work)
{
    uint32_t *ids = s->ids;
    int32_t *keys = s->keys;
    for (size_t k = 0; k < s->n_fresh; k++) {
        size_t i = s->fresh[k];
        uint32_t rank = pair_rank(b, ids[i], ids[s->next[i]]);
        keys[i] = rank_key(rank, i);
        merged_prefetch(b, rank);
    }
    s->n_fresh = 0;
    if (s->m < 2) return 0;
    int32_t least = least_key(keys, s->slots);
    *work += s->slots;
    if (least >= WT_NONE_KEYS) return 0;
    size_t best = least & 0xFF, right = s->next[best], after = s->next[right], before = s->prev[best];
    if (top && s->m == 2) { top[0] = ids[best]; top[1] = ids[right]; }
    ids[best] = rank_merged(b, (uint32_t)least >> 8);
    keys[right] = keys[best] = WT_NO_KEY;
    s->next[best] = (uint8_t)after;
    s->m--;
    if (after == WT_NONE_SLOT) s->slots = (uint32_t)best + 1;   /* the slots after the last part are dead */
    if (after != WT_NONE_SLOT) {
        s->prev[after] = (uint8_t)best;
        s->fresh[s->n_fresh++] = (uint8_t)best;
        pair_prefetch(b, ids[best], ids[after]);
    }
    if (before != WT_NONE_SLOT) {
        s->fresh[s->n_fresh++] = (uint8_t)before;
        pair_prefetch(b, ids[before], ids[best]);
    }
    return 1;
}

/* The parts left, lined up in ids[0..m) (slot 0 is always a part's): m. */
WT_INLINE size_t small_finish(small_merge *s)
{
    size_t k = 0;
    if (!s->slots) return 0;
    for (size_t i = 0; i != WT_NONE_SLOT; i = s->next[i]) s->ids[k++] = s->ids[i];
    return k;
}

/* One piece of n <= WT_BPE_SHORT bytes; ids needs room for n. */
size_t wt_merge_small(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *ids, uint32_t *top,
                          uint64_t *work)
{
    small_merge s;
    small_begin(b, &s, p, n, ids, top == NULL, work);   /* top wants the true last merge: from bytes */
    while (small_step(b, &s, top, work)) {}
    return small_finish(&s);
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
    int32_t before = -1;
    for (size_t i = 0, len = 1; i < n; i += len) {   /* the parts: bytes, or preformed characters */
        if (top) ids[i] = b->byte_id[p[i]];         /* top wants the true last merge: from bytes */
        else ids[i] = first_part(b, p, n, i, &len);
        prev[i] = before;
        next[i] = i + len < n ? (int32_t)(i + len) : -1;
        before = (int32_t)i;
    }
    for (int32_t i = 0; next[i] >= 0; i = next[i]) {
        uint32_t r = pair_rank(b, ids[i], ids[next[i]]);
        if (r != UINT32_MAX) heap_push(heap, &hlen, ((uint64_t)r << 32) | (uint32_t)i);
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

int64_t wt_merge_heap(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc,
                                uint32_t *top)
{
    if (n > UINT32_MAX / 2) return WT_EINVAL;
    int rc = wt_bpe_scratch_reserve(sc, n);
    if (rc) return rc;
    return (int64_t)merge_heap(b, p, n, out, sc, top);
}

/* Short pieces merge in a small array; longer ones take the linear path when the
 * vocabulary allows, else the heap. Measured on cl100k: on runs (a_7 -=.) of
 * 64..1024 bytes the linear path is 3-6x faster than the heap; on long pieces
 * glued from real words it is within 10% of the heap up to ~200 bytes and faster
 * beyond. Below 48 bytes merge_small beats both. */
int64_t wt_merge_piece(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc)
{
    if (n <= WT_BPE_SHORT) return (int64_t)wt_merge_small(b, p, n, out, NULL, &sc->work);
    if (b->linear_status == WT_LINEAR_ON) {
        int64_t k = wt_linear_piece(b, p, n, out, sc);
        if (WT_LIKELY(k != WT_LINEAR_NONE)) return k;
    }
    return wt_merge_heap(b, p, n, out, sc, NULL);
}

int64_t wt_bpe_merge_with(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc,
                          int algo)
{
    int64_t k;
    if (n == 0) return 0;
    switch (algo) {
    case WT_ALGO_HEAP:
        return wt_merge_heap(b, p, n, out, sc, NULL);
    case WT_ALGO_SMALL:
        return n <= WT_BPE_SHORT ? (int64_t)wt_merge_small(b, p, n, out, NULL, &sc->work) : WT_EINVAL;
    case WT_ALGO_LINEAR:
        if (b->linear_status != WT_LINEAR_ON) return WT_EINVAL;
        k = wt_linear_piece(b, p, n, out, sc);
        return k != WT_LINEAR_NONE ? k : WT_EINVAL;
    case WT_ALGO_CUTS:
        return wt_cuts_merge(b, p, n, out, sc, NULL);
    default:
        return wt_merge_piece(b, p, n, out, sc);
    }
}

int64_t wt_bpe_merge(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc,
                     wt_piece_table *table)
{
    if (n > WT_BPE_SHORT) return wt_cuts_merge(b, p, n, out, sc, table);
    return wt_merge_piece(b, p, n, out, sc);
}

void wt_bpe_merge_short(const wt_bpe *b, wt_bpe_job *jobs, size_t count, wt_bpe_scratch *sc)
{
    small_merge st[WT_BPE_JOBS];
    uint8_t live[WT_BPE_JOBS];
    size_t n_live = 0;
    uint64_t work = 0;
    for (size_t j = 0; j < count; j++) {
        small_begin(b, &st[j], jobs[j].p, jobs[j].n, jobs[j].out, 1, &work);
        live[n_live++] = (uint8_t)j;
    }
    while (n_live) {                            /* a merge of each piece in turn */
        size_t still = 0;
        for (size_t k = 0; k < n_live; k++)
            if (small_step(b, &st[live[k]], NULL, &work)) live[still++] = live[k];
        n_live = still;
    }
    for (size_t j = 0; j < count; j++) jobs[j].k = small_finish(&st[j]);
    sc->work += work;
}

