#include "bpe.h"
#include "alloc.h"

#include <stdatomic.h>

/* Pieces up to this length merge with a quadratic scan over a small array,
 * which beats a heap on the short pieces that dominate text; longer ones use
 * the heap and stay O(n log n). */
#define WT_BPE_SMALL 48

WT_INLINE uint64_t hash_bytes(const uint8_t *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ n, w;
    for (; n >= 8; p += 8, n -= 8) {
        memcpy(&w, p, 8);
        h = (h ^ w) * 0xff51afd7ed558ccdull;
        h ^= h >> 32;
    }
    w = 0;
    memcpy(&w, p, n);
    h = (h ^ w) * 0xc4ceb9fe1a85ec53ull;
    return h ^ (h >> 29);
}

/* The one integer hash: packed short keys and (left, right) pairs. */
WT_INLINE uint64_t hash_u64(uint64_t k)
{
    k *= 0x9E3779B97F4A7C15ull;
    return k ^ (k >> 29);
}

static size_t pow2_at_least(size_t n)
{
    size_t c = 16;
    while (c < n) c <<= 1;
    return c;
}

/* ---- bytes -> id ---- */

#define WT_SHORT_MAX 7

/* The bytes of a piece of 1..7 bytes and its length, packed little-endian into
 * one integer with two overlapping loads instead of a byte loop. */
WT_INLINE uint64_t short_key(const uint8_t *p, size_t n)
{
    uint64_t k;
    if (n >= 4) {
        uint32_t lo, hi;
        memcpy(&lo, p, 4);
        memcpy(&hi, p + n - 4, 4);
        k = lo | ((uint64_t)hi << ((n - 4) * 8));
    } else {
        k = p[0] | ((uint64_t)p[n / 2] << (n / 2 * 8)) | ((uint64_t)p[n - 1] << ((n - 1) * 8));
    }
    return k | ((uint64_t)n << 56);
}

#define WT_MID_MAX 15

WT_INLINE uint64_t mid_hash(uint64_t head, uint64_t tail, size_t n)
{
    return hash_u64(head ^ (tail * 0xff51afd7ed558ccdull) ^ n);
}

/* n >= 8: 8-byte compares, the last one overlapping. */
WT_INLINE int bytes_equal(const uint8_t *a, const uint8_t *b, size_t n)
{
    uint64_t x, y;
    for (size_t i = 0; i + 8 < n; i += 8) {
        memcpy(&x, a + i, 8);
        memcpy(&y, b + i, 8);
        if (x != y) return 0;
    }
    memcpy(&x, a + n - 8, 8);
    memcpy(&y, b + n - 8, 8);
    return x == y;
}

/* The value word of the entry for p[0..n), or NULL. */
WT_INLINE uint32_t *vocab_find(const wt_bpe *b, const uint8_t *p, size_t n)
{
    const wt_bytes_map *m = &b->vocab;
    if (n <= WT_SHORT_MAX) {
        uint64_t k = short_key(p, n);
        for (size_t i = hash_u64(k) & m->short_mask;; i = (i + 1) & m->short_mask) {
            wt_short_slot *s = &m->short_slots[i];
            if (s->key == k) return &s->val;
            if (!s->key) return NULL;
        }
    }
    if (n <= WT_MID_MAX) {
        uint64_t head, tail;
        memcpy(&head, p, 8);
        memcpy(&tail, p + n - 8, 8);
        for (size_t i = mid_hash(head, tail, n) & m->mid_mask;; i = (i + 1) & m->mid_mask) {
            wt_mid_slot *s = &m->mid_slots[i];
            if (s->head == head && s->tail == tail && s->len == n) return &s->val;
            if (!s->len) return NULL;
        }
    }
    uint64_t h = hash_bytes(p, n);
    uint32_t tag = (uint32_t)(h >> 32);
    for (size_t i = h & m->long_mask;; i = (i + 1) & m->long_mask) {
        wt_long_slot *s = &m->long_slots[i];
        if (s->val == WT_NO_ID) return NULL;
        if (s->tag == tag) {
            uint32_t id = s->val & ~WT_VAL_WHOLE;
            uint32_t off = b->tok_off[id], len = b->tok_off[id + 1] - off;
            if (len == n && bytes_equal(b->tok_bytes + off, p, n)) return &s->val;
        }
    }
}

uint32_t wt_bpe_lookup(const wt_bpe *b, const uint8_t *p, size_t n)
{
    const uint32_t *v = vocab_find(b, p, n);
    return v ? *v & ~WT_VAL_WHOLE : WT_NO_ID;
}

static int vocab_insert(wt_bpe *b, uint32_t id)
{
    wt_bytes_map *m = &b->vocab;
    const uint8_t *p = b->tok_bytes + b->tok_off[id];
    size_t n = b->tok_off[id + 1] - b->tok_off[id];
    if (n == 0) return WT_EINVAL;
    if (vocab_find(b, p, n)) return WT_EINVAL;  /* two ids, same bytes */
    if (n <= WT_SHORT_MAX) {
        uint64_t k = short_key(p, n);
        size_t i = hash_u64(k) & m->short_mask;
        while (m->short_slots[i].key) i = (i + 1) & m->short_mask;
        m->short_slots[i] = (wt_short_slot){.key = k, .val = id};
    } else if (n <= WT_MID_MAX) {
        uint64_t head, tail;
        memcpy(&head, p, 8);
        memcpy(&tail, p + n - 8, 8);
        size_t i = mid_hash(head, tail, n) & m->mid_mask;
        while (m->mid_slots[i].len) i = (i + 1) & m->mid_mask;
        m->mid_slots[i] = (wt_mid_slot){.head = head, .tail = tail, .val = id, .len = (uint32_t)n};
    } else {
        uint64_t h = hash_bytes(p, n);
        size_t i = h & m->long_mask;
        while (m->long_slots[i].val != WT_NO_ID) i = (i + 1) & m->long_mask;
        m->long_slots[i] = (wt_long_slot){.tag = (uint32_t)(h >> 32), .val = id};
    }
    return 0;
}

/* ---- (left, right) -> (rank, merged) ---- */

WT_INLINE size_t pair_find(const wt_pair_map *m, uint64_t key)
{
    size_t i = hash_u64(key) & m->mask;
    while (m->slots[i].key != key && m->slots[i].key != UINT64_MAX) i = (i + 1) & m->mask;
    return i;
}

WT_INLINE uint32_t pair_rank(const wt_bpe *b, uint32_t l, uint32_t r, uint32_t *merged)
{
    const wt_pair_map *m = &b->pairs;
    size_t i = pair_find(m, ((uint64_t)l << 32) | r);
    if (m->slots[i].key == UINT64_MAX) return UINT32_MAX;
    *merged = m->slots[i].merged;
    return m->slots[i].rank;
}

static void pair_put(wt_pair_map *m, uint32_t l, uint32_t r, uint32_t rank, uint32_t merged)
{
    uint64_t key = ((uint64_t)l << 32) | r;
    size_t i = pair_find(m, key);
    m->slots[i].key = key; m->slots[i].rank = rank; m->slots[i].merged = merged;
}

static int pairs_alloc(wt_pair_map *m, size_t n)
{
    size_t cap = pow2_at_least(n * 2 + 1);
    m->slots = wt_malloc(cap * sizeof(wt_pair_slot));
    if (!m->slots) return WT_ENOMEM;
    memset(m->slots, 0xff, cap * sizeof(wt_pair_slot));
    m->mask = cap - 1;
    return 0;
}

/* ---- merging ---- */

static int scratch_reserve(wt_bpe_scratch *sc, size_t n)
{
    if (n <= sc->cap) return 0;
    size_t cap = pow2_at_least(n);
    wt_piece_entry *cache = sc->cache;
    sc->cache = NULL;
    wt_bpe_scratch_free(sc);
    sc->cache = cache;
    sc->ids = wt_malloc(cap * sizeof(uint32_t));
    sc->ranks = wt_malloc(cap * sizeof(uint32_t));
    sc->starts = wt_malloc(cap * sizeof(uint32_t));
    sc->prev = wt_malloc(cap * sizeof(int32_t));
    sc->next = wt_malloc(cap * sizeof(int32_t));
    sc->heap = wt_malloc(cap * 2 * sizeof(uint64_t));
    if (!sc->ids || !sc->ranks || !sc->starts || !sc->prev || !sc->next || !sc->heap) {
        wt_bpe_scratch_free(sc);     /* the cache goes too; it is rebuilt on demand */
        return WT_ENOMEM;
    }
    sc->cap = cap;
    return 0;
}

void wt_bpe_scratch_free(wt_bpe_scratch *sc)
{
    wt_free(sc->cache);
    wt_free(sc->ids); wt_free(sc->ranks); wt_free(sc->starts);
    wt_free(sc->prev); wt_free(sc->next); wt_free(sc->heap);
    memset(sc, 0, sizeof *sc);
}

static size_t merge_small(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *ids)
{
    uint32_t ranks[WT_BPE_SMALL], merged[WT_BPE_SMALL];
    size_t m = n;
    for (size_t i = 0; i < n; i++) ids[i] = b->byte_id[p[i]];
    for (size_t i = 0; i + 1 < m; i++) ranks[i] = pair_rank(b, ids[i], ids[i + 1], &merged[i]);
    while (m > 1) {
        size_t best = 0;
        uint32_t best_rank = ranks[0];
        for (size_t i = 1; i + 1 < m; i++)
            if (ranks[i] < best_rank) { best_rank = ranks[i]; best = i; }
        if (best_rank == UINT32_MAX) break;
        ids[best] = merged[best];
        m--;
        memmove(ids + best + 1, ids + best + 2, (m - best - 1) * sizeof(uint32_t));
        memmove(ranks + best + 1, ranks + best + 2, (m > best + 2 ? m - best - 2 : 0) * sizeof(uint32_t));
        memmove(merged + best + 1, merged + best + 2, (m > best + 2 ? m - best - 2 : 0) * sizeof(uint32_t));
        if (best > 0) ranks[best - 1] = pair_rank(b, ids[best - 1], ids[best], &merged[best - 1]);
        if (best + 1 < m) ranks[best] = pair_rank(b, ids[best], ids[best + 1], &merged[best]);
    }
    return m;
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

static size_t merge_heap(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc)
{
    /* Parts are indexed by their first byte; part i is alive while ids[i] != WT_NO_ID. */
    uint32_t *ids = sc->ids;
    int32_t *prev = sc->prev, *next = sc->next;
    uint64_t *heap = sc->heap;
    size_t hlen = 0;
    uint32_t merged;
    for (size_t i = 0; i < n; i++) {
        ids[i] = b->byte_id[p[i]];
        prev[i] = (int32_t)i - 1;
        next[i] = i + 1 < n ? (int32_t)(i + 1) : -1;
    }
    for (size_t i = 0; i + 1 < n; i++) {
        uint32_t r = pair_rank(b, ids[i], ids[i + 1], &merged);
        if (r != UINT32_MAX) heap_push(heap, &hlen, ((uint64_t)r << 32) | i);
    }
    while (hlen) {
        uint64_t top = heap_pop(heap, &hlen);
        uint32_t rank = (uint32_t)(top >> 32), i = (uint32_t)top;
        if (ids[i] == WT_NO_ID || next[i] < 0) continue;
        int32_t j = next[i];
        /* Stale entry: the pair at i changed since it was pushed. */
        if (pair_rank(b, ids[i], ids[j], &merged) != rank) continue;
        ids[i] = merged;
        ids[j] = WT_NO_ID;
        next[i] = next[j];
        if (next[j] >= 0) prev[next[j]] = (int32_t)i;
        if (prev[i] >= 0) {
            uint32_t r = pair_rank(b, ids[prev[i]], ids[i], &merged);
            if (r != UINT32_MAX) heap_push(heap, &hlen, ((uint64_t)r << 32) | (uint32_t)prev[i]);
        }
        if (next[i] >= 0) {
            uint32_t r = pair_rank(b, ids[i], ids[next[i]], &merged);
            if (r != UINT32_MAX) heap_push(heap, &hlen, ((uint64_t)r << 32) | i);
        }
    }
    size_t m = 0;
    for (int32_t i = 0; i >= 0; i = next[i]) out[m++] = ids[i];
    return m;
}

static int64_t merge_piece(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc)
{
    if (n <= WT_BPE_SMALL) return (int64_t)merge_small(b, p, n, out);
    if (n > UINT32_MAX / 2) return WT_EINVAL;
    int rc = scratch_reserve(sc, n);
    if (rc) return rc;
    return (int64_t)merge_heap(b, p, n, out, sc);
}

int64_t wt_bpe_encode_piece(const wt_bpe *b, const uint8_t *p, size_t n, uint32_t *out, wt_bpe_scratch *sc)
{
    if (n == 1) { out[0] = b->byte_id[p[0]]; return 1; }
    /* Most pieces are one token: a vocabulary hit needs no cache. */
    const uint32_t *v = vocab_find(b, p, n);
    if (v && (*v & WT_VAL_WHOLE)) {
        out[0] = *v & ~WT_VAL_WHOLE;
        return 1;
    }
    wt_piece_entry *e = NULL;
    if (n <= WT_PIECE_CACHE_KEY) {
        if (WT_UNLIKELY(!sc->cache) && !(sc->cache = wt_calloc(WT_PIECE_CACHE_SLOTS, sizeof(wt_piece_entry))))
            return WT_ENOMEM;
        e = &sc->cache[hash_bytes(p, n) & (WT_PIECE_CACHE_SLOTS - 1)];
        if (e->serial == b->serial && e->len == n && memcmp(e->key, p, n) == 0) {
            memcpy(out, e->ids, e->n_ids * sizeof(uint32_t));
            return e->n_ids;
        }
    }
    int64_t k = merge_piece(b, p, n, out, sc);
    if (e && k > 0 && k <= WT_PIECE_CACHE_IDS) {
        e->serial = b->serial;
        e->len = (uint8_t)n;
        e->n_ids = (uint8_t)k;
        memcpy(e->key, p, n);
        memcpy(e->ids, out, (size_t)k * sizeof(uint32_t));
    }
    return k;
}

int wt_bpe_init(wt_bpe *b, uint32_t n_ids, const uint32_t *tok_off, const uint8_t *tok_bytes,
                const uint8_t *tok_flags, int mode_tiktoken, const uint32_t *merges,
                size_t n_merges, int ignore_merges)
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

    if (n_ids >= WT_VAL_WHOLE) { rc = WT_EINVAL; goto fail; }
    size_t n_short = 0, n_mid = 0, n_long = 0;
    for (uint32_t id = 0; id < n_ids; id++) {
        if (tok_off[id + 1] < tok_off[id]) { rc = WT_EINVAL; goto fail; }
        b->tok_flags[id] &= (uint8_t)~WT_TOK_WHOLE;
        if (!(b->tok_flags[id] & WT_TOK_BPE)) continue;
        size_t n = tok_off[id + 1] - tok_off[id];
        if (n <= WT_SHORT_MAX) n_short++;
        else if (n <= WT_MID_MAX) n_mid++;
        else n_long++;
    }
    wt_bytes_map *m = &b->vocab;
    m->short_mask = pow2_at_least(n_short * 2 + 1) - 1;
    m->mid_mask = pow2_at_least(n_mid * 2 + 1) - 1;
    m->long_mask = pow2_at_least(n_long * 2 + 1) - 1;
    m->short_slots = wt_calloc(m->short_mask + 1, sizeof(wt_short_slot));
    m->mid_slots = wt_calloc(m->mid_mask + 1, sizeof(wt_mid_slot));
    m->long_slots = wt_malloc((m->long_mask + 1) * sizeof(wt_long_slot));
    if (!m->short_slots || !m->mid_slots || !m->long_slots) goto fail;
    memset(m->long_slots, 0xff, (m->long_mask + 1) * sizeof(wt_long_slot));
    for (uint32_t id = 0; id < n_ids; id++)
        if ((b->tok_flags[id] & WT_TOK_BPE) && (rc = vocab_insert(b, id))) goto fail;

    rc = WT_EINVAL;
    for (int c = 0; c < 256; c++) {
        uint8_t byte = (uint8_t)c;
        if ((b->byte_id[c] = wt_bpe_lookup(b, &byte, 1)) != WT_NO_ID) continue;
        /* Bytes that never occur in valid UTF-8 may be missing: the bindings only
         * pass Python str contents. Any other missing byte is an error. */
        if (c != 0xC0 && c != 0xC1 && c < 0xF5) goto fail;
        b->byte_id[c] = 0;
    }

    if (mode_tiktoken) {
        size_t n_pairs = 0;
        for (uint32_t id = 0; id < n_ids; id++)
            if (b->tok_flags[id] & WT_TOK_BPE) n_pairs += tok_off[id + 1] - tok_off[id] - 1;
        if ((rc = pairs_alloc(&b->pairs, n_pairs))) goto fail;
        for (uint32_t id = 0; id < n_ids; id++) {
            if (!(b->tok_flags[id] & WT_TOK_BPE)) continue;
            const uint8_t *p = tok_bytes + tok_off[id];
            size_t n = tok_off[id + 1] - tok_off[id];
            for (size_t k = 1; k < n; k++) {
                uint32_t l = wt_bpe_lookup(b, p, k), r = wt_bpe_lookup(b, p + k, n - k);
                if (l != WT_NO_ID && r != WT_NO_ID) pair_put(&b->pairs, l, r, id, id);
            }
        }
    } else {
        if ((rc = pairs_alloc(&b->pairs, n_merges))) goto fail;
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
            uint32_t m = wt_bpe_lookup(b, cat, ln + rn);
            if (cat != stackbuf) wt_free(cat);
            if (m == WT_NO_ID) goto fail;
            pair_put(&b->pairs, l, r, rank, m);
        }
    }

    /* Which tokens a piece may map to directly: all with ignore_merges (and
     * always for tiktoken); otherwise those the merges rebuild on their own. */
    wt_bpe_scratch sc = {0};
    uint32_t *tmp = NULL;
    size_t tmp_cap = 0;
    rc = 0;
    for (uint32_t id = 0; id < n_ids; id++) {
        if (!(b->tok_flags[id] & WT_TOK_BPE)) continue;
        size_t n = tok_off[id + 1] - tok_off[id];
        int whole = mode_tiktoken || ignore_merges || n == 1;
        if (!whole) {
            if (n > tmp_cap) {
                wt_free(tmp);
                tmp_cap = n * 2;
                if (!(tmp = wt_malloc(tmp_cap * sizeof(uint32_t)))) { rc = WT_ENOMEM; break; }
            }
            int64_t k = merge_piece(b, tok_bytes + tok_off[id], n, tmp, &sc);
            if (k < 0) { rc = (int)k; break; }
            whole = k == 1 && tmp[0] == id;
        }
        if (whole) {
            b->tok_flags[id] |= WT_TOK_WHOLE;
            *vocab_find(b, tok_bytes + tok_off[id], n) |= WT_VAL_WHOLE;
        }
    }
    wt_free(tmp);
    wt_bpe_scratch_free(&sc);
    if (rc) goto fail;
    return 0;
fail:
    wt_bpe_free(b);
    return rc;
}

void wt_bpe_free(wt_bpe *b)
{
    wt_free(b->tok_off); wt_free(b->tok_bytes); wt_free(b->tok_flags);
    wt_free(b->vocab.short_slots); wt_free(b->vocab.mid_slots); wt_free(b->vocab.long_slots);
    wt_free(b->pairs.slots);
    memset(b, 0, sizeof *b);
}
