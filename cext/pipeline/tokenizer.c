#include "pipeline/tokenizer.h"

#include <pthread.h>
#include <stdatomic.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "common/alloc.h"
#include "common/utf8.h"
#include "text/utf8_encode.h"

/* ---- per-thread scratch ---- */

#define WT_BLOCK 256
#define WT_AHEAD 16          /* pieces between a line's second prefetch and its use */

typedef struct {
    const uint8_t *p[WT_BLOCK];
    size_t n[WT_BLOCK];
    uint64_t k0[WT_BLOCK], k1[WT_BLOCK];
    uint64_t h[WT_BLOCK + WT_AHEAD];   /* past count: stale hashes, prefetched for nothing (no branch) */
    size_t count, bytes;
} wt_block;


typedef struct {
    wt_restack stack;
    wt_bpe_scratch bpe;
    wt_ids out;              /* the result buffer of single-text calls */
    wt_bytes text;           /* their text's UTF-8, when the str is not ASCII */
    wt_bytes prefixed[WT_MAX_STAGES];  /* a piece with the space a stage put before it */
    wt_nfc_scratch nfc;      /* the normalized segment of pass 1 */
    wt_block block;          /* pieces waiting to be encoded */
} wt_scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *p)
{
    wt_scratch *sc = p;
    wt_restack_free(&sc->stack);
    wt_bpe_scratch_free(&sc->bpe);
    wt_ids_free(&sc->out);
    wt_bytes_free(&sc->text);
    for (int k = 0; k < WT_MAX_STAGES; k++) wt_bytes_free(&sc->prefixed[k]);
    wt_nfc_scratch_free(&sc->nfc);
    wt_free(sc);
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_destroy); }

static wt_scratch *scratch_get(void)
{
    pthread_once(&scratch_once, scratch_key_init);
    wt_scratch *sc = pthread_getspecific(scratch_key);
    if (!sc) {
        sc = wt_calloc(1, sizeof *sc);
        if (sc && pthread_setspecific(scratch_key, sc) != 0) { wt_free(sc); sc = NULL; }
    }
    return sc;
}

wt_ids *wt_thread_ids(void)
{
    wt_scratch *sc = scratch_get();
    if (!sc) return NULL;
    /* Keep the buffer between calls, but not a huge one from a rare huge text. */
    if (sc->out.cap > ((size_t)1 << 20)) wt_ids_free(&sc->out);
    sc->out.len = 0;
    return &sc->out;
}

const uint8_t *wt_thread_utf8(int kind, const void *units, size_t n, size_t *len, int *rc)
{
    wt_scratch *sc = scratch_get();
    *rc = WT_ENOMEM;
    if (!sc || n > SIZE_MAX / 8) return NULL;
    wt_bytes *b = &sc->text;
    if (b->cap > ((size_t)4 << 20)) wt_bytes_free(b);   /* as wt_thread_ids: no more than 4 MiB kept */
    b->len = 0;
    if (wt_bytes_reserve(b, WT_UTF8_ROOM(kind, n) + 1)) return NULL;
    size_t m = wt_utf8_encode_units(kind, units, n, b->p);
    if (m == SIZE_MAX) {
        *rc = WT_EINVAL;
        return NULL;
    }
    *len = m;
    *rc = 0;
    return b->p;
}

wt_bpe_scratch *wt_thread_bpe_scratch(void)
{
    wt_scratch *sc = scratch_get();
    return sc ? &sc->bpe : NULL;
}

int wt_work_counters(uint64_t *bpe, uint64_t *split, uint64_t *normalize, int reset)
{
    wt_scratch *sc = scratch_get();
    if (!sc) return WT_ENOMEM;
    *bpe = sc->bpe.work;
    *split = sc->stack.work;
    *normalize = sc->nfc.work;
    if (reset) sc->bpe.work = sc->stack.work = sc->nfc.work = 0;
    return 0;
}

/* ---- id buffers ---- */

int wt_ids_reserve(wt_ids *b, size_t extra)
{
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 64;
    while (cap < b->len + extra) cap *= 2;
    uint32_t *p = wt_realloc(b->ids, cap * sizeof(uint32_t));
    if (!p) return WT_ENOMEM;
    b->ids = p;
    b->cap = cap;
    return 0;
}

void wt_ids_free(wt_ids *b)
{
    wt_free(b->ids);
    b->ids = NULL;
    b->len = b->cap = 0;
}

int wt_bytes_reserve(wt_bytes *b, size_t extra)
{
    if (b->len + extra <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + extra) cap *= 2;
    uint8_t *p = wt_realloc(b->p, cap);
    if (!p) return WT_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

void wt_bytes_free(wt_bytes *b)
{
    wt_free(b->p);
    memset(b, 0, sizeof *b);
}

/* ---- added tokens ---- */

int wt_added_init(wt_added *a, uint32_t n_nodes, const uint32_t *first_edge, const uint8_t *edge_byte,
                  const uint32_t *edge_target, const int32_t *node_added, uint32_t n_added,
                  const uint32_t *added_id, const uint8_t *added_flags)
{
    memset(a, 0, sizeof *a);
    a->only_root = -1;
    if (n_nodes == 0) return 0;
    uint32_t n_edges = first_edge[n_nodes];
    a->first_edge = wt_malloc((n_nodes + 1) * sizeof(uint32_t));
    a->edge_byte = wt_malloc(n_edges + 1);
    a->edge_target = wt_malloc((n_edges + 1) * sizeof(uint32_t));
    a->node_added = wt_malloc(n_nodes * sizeof(int32_t));
    a->added_id = wt_malloc((n_added + 1) * sizeof(uint32_t));
    a->added_flags = wt_malloc(n_added + 1);
    if (!a->first_edge || !a->edge_byte || !a->edge_target || !a->node_added || !a->added_id || !a->added_flags)
        return WT_ENOMEM;
    memcpy(a->first_edge, first_edge, (n_nodes + 1) * sizeof(uint32_t));
    memcpy(a->edge_byte, edge_byte, n_edges);
    memcpy(a->edge_target, edge_target, n_edges * sizeof(uint32_t));
    memcpy(a->node_added, node_added, n_nodes * sizeof(int32_t));
    memcpy(a->added_id, added_id, n_added * sizeof(uint32_t));
    memcpy(a->added_flags, added_flags, n_added);
    a->n_nodes = n_nodes;
    a->n_added = n_added;
    for (uint32_t k = 0; k < n_nodes; k++) {
        if (first_edge[k] > first_edge[k + 1] || first_edge[k + 1] > n_edges) return WT_EINVAL;
        if (node_added[k] >= (int32_t)n_added) return WT_EINVAL;
    }
    for (uint32_t e = 0; e < n_edges; e++)
        if (edge_target[e] >= n_nodes) return WT_EINVAL;
    for (uint32_t e = first_edge[0]; e < first_edge[1]; e++) a->root_bytes[edge_byte[e]] = 1;
    a->only_root = first_edge[1] - first_edge[0] == 1 ? edge_byte[first_edge[0]] : -1;
    if (first_edge[1] - first_edge[0] <= sizeof a->roots) {
        a->n_roots = (uint8_t)(first_edge[1] - first_edge[0]);
        memcpy(a->roots, edge_byte + first_edge[0], a->n_roots);
    }
    return 0;
}

static void added_free(wt_added *a)
{
    wt_free(a->first_edge); wt_free(a->edge_byte); wt_free(a->edge_target);
    wt_free(a->node_added); wt_free(a->added_id); wt_free(a->added_flags);
    memset(a, 0, sizeof *a);
}

/* Longest token starting exactly at pos; with only_active, only active ones count. */
static int added_at(const wt_added *a, const uint8_t *s, size_t n, size_t pos, const uint8_t *active,
                    int only_active, size_t *end, uint32_t *index)
{
    uint32_t node = 0;
    int found = 0;
    for (size_t p = pos; p < n; p++) {
        uint32_t e = a->first_edge[node], stop = a->first_edge[node + 1];
        while (e < stop && a->edge_byte[e] != s[p]) e++;
        if (e == stop) break;
        node = a->edge_target[e];
        int32_t k = a->node_added[node];
        if (k >= 0 && (!only_active || active[k])) { found = 1; *end = p + 1; *index = (uint32_t)k; }
    }
    return found;
}

static int is_space_at(const uint8_t *s, size_t n, size_t pos, size_t *len)
{
    return wt_is_space(wt_utf8_decode(s, n, pos, len));
}

int wt_find_added(const wt_tokenizer *t, int pass, const uint8_t *s, size_t n, size_t pos,
                  const uint8_t *active, size_t *start, size_t *end, uint32_t *index)
{
    const wt_added *a = &t->added[pass];
    if (!active || a->n_nodes == 0) return 0;
    const size_t floor = pos;   /* lstrip never reaches into the previous split */
#ifdef __SSE2__
    __m128i root[6];
    for (int i = 0; i < 6; i++) root[i] = _mm_set1_epi8((char)a->roots[i < a->n_roots ? i : 0]);
#endif
    for (size_t p = pos; p < n; p++) {
        if (a->only_root >= 0) {             /* e.g. every special token starts with '<' */
            const uint8_t *c = memchr(s + p, a->only_root, n - p);
            if (!c) return 0;
            p = (size_t)(c - s);
        }
#ifdef __SSE2__
        else if (a->n_roots) {               /* e.g. Gemma 3's '<', '[', '\n', '\t' and U+2581's lead byte */
            for (; p + 16 <= n; p += 16) {
                __m128i x = _mm_loadu_si128((const __m128i *)(s + p));
                __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, root[0]), _mm_cmpeq_epi8(x, root[1])),
                                           _mm_or_si128(_mm_cmpeq_epi8(x, root[2]), _mm_cmpeq_epi8(x, root[3])));
                hit = _mm_or_si128(hit, _mm_or_si128(_mm_cmpeq_epi8(x, root[4]), _mm_cmpeq_epi8(x, root[5])));
                unsigned m = (unsigned)_mm_movemask_epi8(hit);
                if (m) {
                    p += (unsigned)__builtin_ctz(m);
                    break;
                }
            }
            if (p >= n) return 0;
        }
#endif
        if (!a->root_bytes[s[p]] || !added_at(a, s, n, p, active, t->filter_inactive, end, index)) continue;
        if (!active[*index]) {           /* HF: matched, then ignored as text */
            p = *end - 1;
            continue;
        }
        *start = p;
        uint8_t flags = a->added_flags[*index];
        size_t len;
        if (flags & WT_ADDED_LSTRIP)
            while (*start > floor) {
                size_t q = wt_utf8_prev(s, floor, *start);
                if (!is_space_at(s, n, q, &len)) break;
                *start = q;
            }
        if (flags & WT_ADDED_RSTRIP)
            while (*end < n && is_space_at(s, n, *end, &len)) *end += len;
        return 1;
    }
    return 0;
}

/* ---- pre-tokenize and merge ---- */

/* Pieces become ids a block at a time. As a piece arrives it is keyed, hashed
 * and its home line in the piece table prefetched; the block is then looked up
 * in one pass that copies each hit's inline ids out unconditionally and
 * advances by their count, with no branch on the count or the length (which
 * text varies too irregularly to predict); a piece of more than WT_PT_INLINE
 * ids takes a branch, to copy them from the arena, and so does a miss (rare
 * once the table has learned a text's words). Misses hold room for n ids and
 * are resolved together after: the table beyond the home line, long pieces,
 * merges (several side by side), then the room is closed up. */
typedef struct wt_run wt_run;
struct wt_run {
    const wt_tokenizer *t;
    wt_ids *out;
    size_t limit;            /* stop once out->len reaches it */
    wt_scratch *sc;
    wt_block *block;         /* the pieces not yet encoded */
    int (*piece)(wt_run *r, const uint8_t *p, size_t n);   /* instead of encoding (wt_pre_tokenize) */
    wt_bytes *piece_bytes;   /* wt_pre_tokenize only */
    wt_ids *piece_lens;
    const uint8_t *origin;   /* where the text's first character is (Metaspace's prepend_scheme "first") */
};

/* The misses of a block (its pieces mi[0..n_miss)), resolved. at[j]: where miss
 * j's room (as many ids as its bytes) begins in base; its ids are written there,
 * their count to k[j]. */
static int resolve_misses(wt_run *r, const wt_block *bk, uint32_t *base, const uint16_t *mi, const size_t *at,
                          size_t *k, size_t n_miss)
{
    const wt_bpe *b = &r->t->bpe;
    wt_piece_table *table = (wt_piece_table *)&b->pieces;   /* the mutable part: learns without locks */
    if (r->t->model) return wt_model_resolve(r->t->model, table, bk->p, bk->n, bk->h, base, mi, at, k, n_miss);
    wt_bpe_scratch *bsc = &r->sc->bpe;
    wt_bpe_job jobs[WT_BPE_JOBS];
    size_t job_miss[WT_BPE_JOBS], n_jobs = 0;
    for (size_t j = 0; j <= n_miss; j++) {
        if (n_jobs == WT_BPE_JOBS || (j == n_miss && n_jobs)) {
            wt_bpe_merge_short(b, jobs, n_jobs, bsc);
            for (size_t q = 0; q < n_jobs; q++) {
                size_t m = job_miss[q];
                k[m] = jobs[q].k;
                wt_pt_add(table, jobs[q].p, jobs[q].n, bk->h[mi[m]], jobs[q].out, jobs[q].k);
            }
            n_jobs = 0;
        }
        if (j == n_miss) break;
        const uint8_t *p = bk->p[mi[j]];
        size_t n = bk->n[mi[j]];
        uint64_t h = bk->h[mi[j]];
        int64_t got = n <= WT_PT_SHORT   /* the block's key: not read from the text again */
                          ? wt_pt_find_short(table, (wt_pt_key){bk->k0[mi[j]], bk->k1[mi[j]]}, p, n, h, base + at[j])
                          : wt_pt_find(table, p, n, h, base + at[j]);
        uint32_t id;
        if (got < 0 && !(b->whole_seeded && n <= WT_PT_LONG) && (id = wt_bpe_whole(b, p, n)) != WT_NO_ID) {
            base[at[j]] = id;
            wt_pt_add(table, p, n, h, &id, 1);
            got = 1;
        }
        if (got < 0 && n > WT_BPE_SHORT) {
            if ((got = wt_bpe_merge(b, p, n, base + at[j], bsc, table)) < 0) return (int)got;
            wt_pt_add(table, p, n, h, base + at[j], (size_t)got);
        }
        if (got >= 0) {
            k[j] = (size_t)got;
        } else {
            jobs[n_jobs] = (wt_bpe_job){.p = p, .n = n, .out = base + at[j]};
            job_miss[n_jobs++] = j;
        }
    }
    return 0;
}

/* Encode the block's pieces onto r->out: 1 when the limit is reached, 0 to go on, <0 on error. */
static int block_flush(wt_run *r)
{
    wt_block *bk = r->block;
    size_t m = bk->count;
    if (!m) return 0;
    bk->count = 0;
    wt_ids *out = r->out;
    int rc = wt_ids_reserve(out, bk->bytes + 4);   /* a piece gives at most n ids; +4: the copies' overhang */
    bk->bytes = 0;
    if (rc) return rc;
    const wt_piece_table *table = &r->t->bpe.pieces;
    const wt_pt_entry *slots = table->slots;
    const size_t line_mask = table->mask & ~(size_t)1;
    const uint32_t *arena = table->arena;
    uint32_t *base = out->ids + out->len, *o = base;
    uint16_t mi[WT_BLOCK];
    size_t n_miss = 0, miss_at[WT_BLOCK], miss_k[WT_BLOCK];
    for (size_t i = 0; i < m; i++) {
        __builtin_prefetch(&slots[bk->h[i + WT_AHEAD] & line_mask]);
        const wt_pt_entry *e = &slots[bk->h[i] & line_mask];
        uint64_t k0 = bk->k0[i], k1 = bk->k1[i];
        uint64_t a1 = __atomic_load_n(&e[0].k1, __ATOMIC_ACQUIRE), b1 = __atomic_load_n(&e[1].k1, __ATOMIC_ACQUIRE);
        uint64_t a0 = __atomic_load_n(&e[0].k0, __ATOMIC_RELAXED), b0 = __atomic_load_n(&e[1].k0, __ATOMIC_RELAXED);
        size_t in_a = ((a1 ^ k1) | (a0 ^ k0)) == 0, in_b = ((b1 ^ k1) | (b0 ^ k0)) == 0;
        if (WT_UNLIKELY(!(in_a | in_b))) {      /* a miss: room for its ids, resolved below */
            mi[n_miss] = (uint16_t)i;
            miss_at[n_miss++] = (size_t)(o - base);
            o += bk->n[i];
            continue;
        }
        const wt_pt_entry *s = e + in_b;
        uint64_t v0 = __atomic_load_n(&s->v0, __ATOMIC_RELAXED), v1 = __atomic_load_n(&s->v1, __ATOMIC_RELAXED);
        size_t c = WT_PT_COUNT(v1);
        memcpy(o, &v0, 8);
        memcpy(o + 2, &v1, 8);
        if (WT_UNLIKELY(c > WT_PT_INLINE)) memcpy(o, arena + WT_PT_REF(v1), c * sizeof(uint32_t));
        o += c;
    }
    size_t len = (size_t)(o - base);
    if (n_miss) {
        if ((rc = resolve_misses(r, bk, base, mi, miss_at, miss_k, n_miss))) return rc;
        /* Close up each miss's room: its k ids, then what came after it. */
        size_t to = miss_at[0];
        for (size_t j = 0; j < n_miss; j++) {
            size_t from = miss_at[j] + bk->n[mi[j]], upto = j + 1 < n_miss ? miss_at[j + 1] : len;
            memmove(base + to, base + miss_at[j], miss_k[j] * sizeof(uint32_t));
            to += miss_k[j];
            memmove(base + to, base + from, (upto - from) * sizeof(uint32_t));
            to += upto - from;
        }
        len = to;
    }
    out->len += len;
    if (out->len >= r->limit) {
        out->len = r->limit;
        return 1;
    }
    return 0;
}

/* Piece p[0..n) of the text [lo, hi) into slot i of the block: keyed, hashed,
 * its home line prefetched. Its bytes must stay in place until the block is flushed. */
WT_INLINE void block_put(wt_block *bk, size_t i, const uint8_t *p, size_t n, const uint8_t *lo, const uint8_t *hi,
                         const wt_piece_table *table, const wt_pt_entry *slots, size_t line_mask)
{
    uint64_t h;
    if (WT_LIKELY(n <= WT_PT_SHORT)) {
        wt_pt_key key = wt_pt_key_of(p, n, lo, hi);
        h = wt_pt_hash(key);
        bk->k0[i] = key.k0;
        bk->k1[i] = key.k1;
        __builtin_prefetch(&slots[h & line_mask]);
    } else {
        h = n <= WT_PT_LONG ? wt_hash_bytes(p, n) : 0;   /* longer: never in the table */
        bk->k0[i] = 0;
        bk->k1[i] = WT_PT_NO_KEY;
        __builtin_prefetch(&table->long_slots[h & table->long_mask]);
    }
    bk->h[i] = h;
    bk->p[i] = p;
    bk->n[i] = n;
}

/* One piece into the block (a full block is flushed): for splits other than
 * the fused scanners'. */
static int block_add(wt_run *r, const uint8_t *p, size_t n)
{
    wt_block *bk = r->block;
    const wt_piece_table *table = &r->t->bpe.pieces;
    block_put(bk, bk->count, p, n, p, p + n, table, table->slots, table->mask & ~(size_t)1);
    bk->bytes += n;
    return ++bk->count == WT_BLOCK ? block_flush(r) : 0;
}

static int stage_run(wt_run *r, uint32_t k, const uint8_t *s, size_t n);

/* A piece cut where the model says its parts encode to its ids (SentencePiece BPE
 * without a pre-tokenizer: a whole text is one piece), so the parts go through the
 * piece table. */
static int model_parts(wt_run *r, const uint8_t *s, size_t n)
{
    int rc;
    for (size_t pos = 0; pos < n;) {
        size_t end = wt_model_cut(r->t->model, s, n, pos);
        if ((rc = block_add(r, s + pos, end - pos))) return rc;
        pos = end;
    }
    return 0;
}
static int split_stage(wt_run *r, uint32_t k, const wt_stage *st, const uint8_t *s, size_t n);
static int other_stage(wt_run *r, uint32_t k, const wt_stage *st, const uint8_t *s, size_t n);

/* A scanner's piece ends, found up to WT_SCAN_BLOCK at a time, handed out one
 * by one: the end of the piece that starts at pos. */
typedef struct {
    size_t ends[WT_SCAN_BLOCK], count, next;
} wt_scan_queue;

WT_INLINE size_t scan_next(wt_scan_queue *q, const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos,
                           uint64_t *steps)
{
    if (q->next == q->count) {
        q->count = wt_scan_pieces(sc, s, n, pos, q->ends, steps);
        q->next = 0;
    }
    return q->ends[q->next++];
}

/* A block that has just filled up (*i == WT_BLOCK): flushed, and the counts
 * of the next one started. */
WT_INLINE int block_full(wt_run *r, size_t *i, size_t *bytes)
{
    r->block->count = *i;
    r->block->bytes = *bytes;
    *i = *bytes = 0;
    return block_flush(r);
}

/* Pieces ending at ends[0..count) (the first starting at *pos) into the block,
 * which is flushed when full. */
WT_INLINE int block_put_all(wt_run *r, const uint8_t *s, size_t n, size_t *pos, const size_t *ends, size_t count)
{
    wt_block *bk = r->block;
    const wt_piece_table *table = &r->t->bpe.pieces;
    const wt_pt_entry *slots = table->slots;
    const size_t line_mask = table->mask & ~(size_t)1;
    size_t i = bk->count, bytes = bk->bytes, p = *pos;
    int rc;
    for (size_t j = 0; j < count; j++) {
        block_put(bk, i, s + p, ends[j] - p, s, s + n, table, slots, line_mask);
        bytes += ends[j] - p;
        p = ends[j];
        if (++i == WT_BLOCK && (rc = block_full(r, &i, &bytes))) return rc;
    }
    bk->count = i;
    bk->bytes = bytes;
    *pos = p;
    return 0;
}

/* The pieces a scanner's block found (bit i of mask: a piece ends at
 * *pos + offs[i]; the first starts at *pos) into the block, as block_put_all. */
WT_INLINE int block_put_mask(wt_run *r, const uint8_t *s, size_t n, size_t *pos, uint64_t mask, const uint16_t *offs)
{
    wt_block *bk = r->block;
    const wt_piece_table *table = &r->t->bpe.pieces;
    const wt_pt_entry *slots = table->slots;
    const size_t line_mask = table->mask & ~(size_t)1;
    size_t i = bk->count, bytes = bk->bytes;
    const uint8_t *at = s + *pos, *p = at;
    int rc;
    for (; mask; mask &= mask - 1) {
        const uint8_t *end = at + offs[(unsigned)__builtin_ctzll(mask)];
        block_put(bk, i, p, (size_t)(end - p), s, s + n, table, slots, line_mask);
        bytes += (size_t)(end - p);
        p = end;
        if (++i == WT_BLOCK && (rc = block_full(r, &i, &bytes))) return rc;
    }
    bk->count = i;
    bk->bytes = bytes;
    *pos = (size_t)(p - s);
    return 0;
}

/* The common case in one loop: the last split is a fast scanner isolating
 * pieces, and each piece goes straight to the block. */
static int scan_and_encode(wt_run *r, const wt_scanner *scan, const uint8_t *s, size_t n)
{
    size_t ends[WT_SCAN_BLOCK];
    uint16_t room[WT_SCAN_BLOCK + 1];
    for (size_t pos = 0; pos < n;) {
        uint64_t mask;
        const uint16_t *offs;
        size_t count = wt_scan_block(scan, s, n, pos, &mask, &offs, room, ends, &r->sc->stack.work);
        int rc = mask ? block_put_mask(r, s, n, &pos, mask, offs) : block_put_all(r, s, n, &pos, ends, count);
        if (rc) return rc;
    }
    return 0;
}

/* Whether stages k.. are Isolated splits by class runs (DeepSeek's digits,
 * then its CJK runs) before a last split by a scanner that keeps its matches,
 * none with a prefix space after stage k. */
static int runs_then_scanner(const wt_tokenizer *t, uint32_t k)
{
    if (k + 1 >= t->n_stages) return 0;
    for (uint32_t j = k; j < t->n_stages; j++) {
        const wt_stage *st = &t->stages[j];
        if (st->kind || !st->re || !st->scan.family || (j > k && st->prefix_space)) return 0;
        if (j + 1 < t->n_stages && st->scan.family != WT_SCAN_RUN) return 0;   /* those are Isolated */
        if (j + 1 == t->n_stages && st->behavior != WT_SPLIT_ISOLATED && !(st->behavior == WT_SPLIT_REMOVED && st->invert))
            return 0;
    }
    return 1;
}

/* Stages k.. of runs_then_scanner in one pass, as stage_run would split them:
 * a run of a stage's class is a piece, and the last stage's scanner reads each
 * gap between runs as a text of its own. A gap's end is found once and kept
 * while the scanner works through it, so the pass stays linear. This spares
 * each run (a digit group, a CJK word) a trip through the stages. From
 * t->fused_at, the digit split is the last scanner's own (fused_last). */
static int runs_then_scan(wt_run *r, uint32_t k, const uint8_t *s, size_t n)
{
    const wt_tokenizer *t = r->t;
    const uint32_t last = t->n_stages - 1;
    const wt_scanner *scan = &t->stages[last].scan;
    if (k == t->fused_at) {
        scan = &t->fused_last;
        if (++k == last) return scan_and_encode(r, scan, s, n);
    }
    const wt_scanner *runs[WT_MAX_STAGES];
    for (uint32_t j = k; j < last; j++) runs[j - k] = &t->stages[j].scan;
    uint64_t *w = &r->sc->stack.work;
    size_t gap_end = 0, ends[WT_SCAN_BLOCK];
    uint16_t room[WT_SCAN_BLOCK + 1];
    for (size_t pos = 0; pos < n;) {
        if (pos >= gap_end) {
            int is_run;
            size_t e = wt_scan_runs(runs, last - k, s, n, pos, &is_run, w);
            if (is_run) {
                ends[0] = e;
                int rc = block_put_all(r, s, n, &pos, ends, 1);
                if (rc) return rc;
                continue;
            }
            gap_end = e;
        }
        uint64_t mask;
        const uint16_t *offs;
        size_t count = wt_scan_block(scan, s, gap_end, pos, &mask, &offs, room, ends, w);
        int rc = mask ? block_put_mask(r, s, n, &pos, mask, offs) : block_put_all(r, s, n, &pos, ends, count);
        if (rc) return rc;
    }
    return 0;
}

/* Whether stage k's class runs (a runs_then_scanner chain starts there), split
 * off first, may be left to the last split's scanner: they are \p{N}{1,k} (or
 * \p{N}+), the last split is DeepSeek-V3's, and no class split between holds a
 * \p{N} code point (each would have seen the digits taken out before it). */
static int digits_fusable(const wt_tokenizer *t, uint32_t k)
{
    const uint32_t last = t->n_stages - 1;
    if (t->stages[k].scan.n_ranges || t->stages[last].scan.family != WT_SCAN_DS3) return 0;
    for (uint32_t j = k + 1; j < last; j++)
        if (wt_scan_run_has_digits(&t->stages[j].scan)) return 0;
    return 1;
}

void wt_tokenizer_fuse(wt_tokenizer *t)
{
    t->fused_at = WT_MAX_STAGES;
    for (uint32_t k = 0; k + 1 < t->n_stages; k++) {
        if (!runs_then_scanner(t, k)) continue;
        if (digits_fusable(t, k)) {        /* the first chain's stage is where runs_then_scan starts */
            t->fused_at = k;
            t->fused_last = t->stages[t->n_stages - 1].scan;
            t->fused_last.digits_apart = 1;
            t->fused_last.max_digits = t->stages[k].scan.max_digits;
        }
        return;
    }
}

/* A split's behavior, streamed: ranges arrive in order, matches and gaps. */
typedef struct {
    size_t start, end;       /* the pending piece */
    int has, prev_match;
} wt_behavior;

static int emit(wt_run *r, uint32_t k, const uint8_t *s, size_t start, size_t end)
{
    return stage_run(r, k + 1, s + start, end - start);
}

static int feed(wt_run *r, uint32_t k, wt_behavior *b, const uint8_t *s, size_t start, size_t end, int is_match)
{
    int rc = 0;
    switch (r->t->stages[k].behavior) {
    case WT_SPLIT_ISOLATED:
        return emit(r, k, s, start, end);
    case WT_SPLIT_REMOVED:
        return is_match ? 0 : emit(r, k, s, start, end);
    case WT_SPLIT_CONTIGUOUS:           /* runs of matches (or of gaps) become one piece */
    case WT_SPLIT_MERGED_PREV:          /* a match joins the gap before it */
        if (b->has && (r->t->stages[k].behavior == WT_SPLIT_CONTIGUOUS ? is_match == b->prev_match
                                                                       : is_match && !b->prev_match)) {
            b->end = end;
        } else {
            if (b->has && (rc = emit(r, k, s, b->start, b->end))) return rc;
            b->start = start; b->end = end; b->has = 1;
        }
        b->prev_match = is_match;
        return 0;
    default:                            /* WT_SPLIT_MERGED_NEXT: a match joins the gap after it */
        if (b->has) {                   /* a match is held */
            b->has = 0;
            if (!is_match) return emit(r, k, s, b->start, end);
            if ((rc = emit(r, k, s, b->start, b->end))) return rc;
        }
        if (is_match) { b->start = start; b->end = end; b->has = 1; return 0; }
        return emit(r, k, s, start, end);
    }
}

static int stage_run(wt_run *r, uint32_t k, const uint8_t *s, size_t n)
{
    if (n == 0) return 0;
    const wt_tokenizer *t = r->t;
    if (k == t->n_stages) {
        if (r->piece) return r->piece(r, s, n);
        if (t->model && wt_model_cuts(t->model)) return model_parts(r, s, n);
        return block_add(r, s, n);
    }
    const wt_stage *st = &t->stages[k];
    if (st->prefix_space && s[0] != ' ') {
        /* The pieces of the copy must be encoded before the next piece of stage
         * k - 1 reuses its buffer. */
        wt_bytes *buf = &r->sc->prefixed[k];
        buf->len = 0;
        int rc = wt_bytes_reserve(buf, n + 1);
        if (rc) return rc;
        buf->p[0] = ' ';
        memcpy(buf->p + 1, s, n);
        if ((rc = split_stage(r, k, st, buf->p, n + 1))) return rc;
        return r->piece ? 0 : block_flush(r);
    }
    return split_stage(r, k, st, s, n);
}

/* Stage k's split of s[0..n) (after any prefix space). */
static int split_stage(wt_run *r, uint32_t k, const wt_stage *st, const uint8_t *s, size_t n)
{
    const wt_tokenizer *t = r->t;
    if (st->kind) return other_stage(r, k, st, s, n);
    if (!st->re) return stage_run(r, k + 1, s, n);
    /* A scanner reports every stretch of text as a match (DeepSeek-V3's and the
     * class runs' their gaps too, so _pattern.scanner_for gives those to Isolated
     * splits only): for it, isolating matches and keeping them while removing
     * what lies between (inverted Removed) are the same split. */
    int keeps_matches = st->behavior == WT_SPLIT_ISOLATED || (st->behavior == WT_SPLIT_REMOVED && st->invert);
    if (st->scan.family && keeps_matches && k + 1 == t->n_stages && !r->piece)
        return scan_and_encode(r, &st->scan, s, n);
    if (st->scan.family == WT_SCAN_RUN && !r->piece && runs_then_scanner(t, k)) return runs_then_scan(r, k, s, n);
    wt_behavior b = {0};
    size_t pos = 0, gap = 0, end;
    wt_scan_queue q;               /* its ends are written before they are read */
    q.count = q.next = 0;
    int rc;
    while (pos < n) {
        if (st->scan.family) {
            end = scan_next(&q, &st->scan, s, n, pos, &r->sc->stack.work);
            rc = 1;
        } else if ((rc = wt_regex_match_at(st->re, s, n, pos, &end, &r->sc->stack)) < 0) {
            return rc;
        }
        if (rc == 1 && end > pos) {
            if (gap < pos && (rc = feed(r, k, &b, s, gap, pos, st->invert))) return rc;
            if ((rc = feed(r, k, &b, s, pos, end, !st->invert))) return rc;
            pos = gap = end;
        } else {
            pos = wt_regex_next_start(st->re, s, n, pos);
        }
    }
    if (gap < n && (rc = feed(r, k, &b, s, gap, n, st->invert))) return rc;
    if (b.has) return emit(r, k, s, b.start, b.end);
    return 0;
}

/* The splits of pretokenize/classes.h: by a class per character, or Metaspace's
 * rewrite (into the stage's buffer, whose pieces are encoded before it is
 * reused) and its split on the replacement. */
static int other_stage(wt_run *r, uint32_t k, const wt_stage *st, const uint8_t *s, size_t n)
{
    int rc;
    if (st->kind == WT_STAGE_CLASSES) {
        size_t pos = 0, starts[64], ends[64];
        while (pos < n) {
            size_t count = wt_classes_split(&st->classes, s, n, &pos, starts, ends, 64);
            for (size_t j = 0; j < count; j++)
                if ((rc = stage_run(r, k + 1, s + starts[j], ends[j] - starts[j]))) return rc;
        }
        return 0;
    }
    wt_bytes *buf = &r->sc->prefixed[k];
    buf->len = 0;
    if ((rc = wt_bytes_reserve(buf, 3 * n + 8))) return rc;
    size_t m = wt_metaspace_rewrite(&st->ms, s, n, s == r->origin, buf->p);
    if (s == r->origin) r->origin = buf->p;
    for (size_t pos = 0; pos < m;) {
        size_t end = wt_metaspace_next(&st->ms, buf->p, m, pos);
        if ((rc = stage_run(r, k + 1, buf->p + pos, end - pos))) return rc;
        pos = end;
    }
    return r->piece ? 0 : block_flush(r);
}

int wt_ids_push(wt_ids *out, const uint32_t *ids, size_t n)
{
    if (n == 0) return 0;                  /* out->ids and ids may be NULL: no memcpy(NULL, ..., 0) */
    int rc = wt_ids_reserve(out, n);
    if (rc) return rc;
    memcpy(out->ids + out->len, ids, n * sizeof(uint32_t));
    out->len += n;
    return 0;
}

/* Split s by the added tokens of a pass, then the next pass, then the stages. */
static int encode_pass(wt_run *r, const wt_encode_opts *o, int pass, const uint8_t *s, size_t n)
{
    if (pass == 2) return stage_run(r, 0, s, n);
    size_t pos = 0, start, end;
    uint32_t k;
    int rc;
    int normalized = 0;
    if (pass == 1 && r->t->nfc.unstable) {   /* HF normalizes each segment pass 0 leaves */
        size_t normalized_n;
        if ((rc = wt_nfc_apply(&r->t->nfc, s, n, &r->sc->nfc, &normalized_n)) < 0) return rc;
        if ((normalized = rc == 1)) { s = r->sc->nfc.out; n = normalized_n; }
    }
    if (pass == 1 && r->t->norm && o->first_pass != 2) {
        const uint8_t *normalized_s;
        size_t normalized_n;
        int lost_start = 0;
        if ((rc = wt_norm_apply(r->t->norm, s, n, &normalized_s, &normalized_n, &lost_start)) < 0) return rc;
        if ((normalized = rc == 1)) {
            if (s == r->origin) r->origin = lost_start ? NULL : normalized_s;
            s = normalized_s;
            n = normalized_n;
        }
    }
    while (wt_find_added(r->t, pass, s, n, pos, o->active[pass], &start, &end, &k)) {
        if ((rc = encode_pass(r, o, pass + 1, s + pos, start - pos)) || (rc = block_flush(r))) return rc;
        if ((rc = wt_ids_push(r->out, &r->t->added[pass].added_id[k], 1))) return rc;
        if (r->out->len >= r->limit) return 1;
        pos = end;
    }
    if ((rc = encode_pass(r, o, pass + 1, s + pos, n - pos))) return rc;
    /* The pieces of the normalized copy, before the next segment reuses its buffer. */
    return normalized ? block_flush(r) : 0;
}

int wt_encode(const wt_tokenizer *t, const uint8_t *s, size_t n, const wt_encode_opts *o, wt_ids *out)
{
    wt_scratch *sc = scratch_get();
    if (!sc) return WT_ENOMEM;
    int rc;
    if (o->add_special && (rc = wt_ids_push(out, t->prefix, t->n_prefix))) return rc;
    wt_run r = {.t = t, .out = out, .sc = sc, .block = &sc->block, .origin = o->mid_text ? NULL : s};
    sc->block.count = sc->block.bytes = 0;     /* left over by a call that failed */
    r.limit = o->max_body > SIZE_MAX - out->len ? SIZE_MAX : out->len + o->max_body;
    if (r.limit > out->len) {
        if ((rc = encode_pass(&r, o, o->first_pass ? 1 : 0, s, n)) == 0) rc = block_flush(&r);
        if (rc < 0) return rc;
    }
    if (o->add_special && (rc = wt_ids_push(out, t->suffix, t->n_suffix))) return rc;
    return 0;
}

static int collect_piece(wt_run *r, const uint8_t *p, size_t n)
{
    int rc = wt_bytes_reserve(r->piece_bytes, n);
    if (rc || (rc = wt_ids_reserve(r->piece_lens, 1))) return rc;
    memcpy(r->piece_bytes->p + r->piece_bytes->len, p, n);
    r->piece_bytes->len += n;
    r->piece_lens->ids[r->piece_lens->len++] = (uint32_t)n;
    return 0;
}

int wt_pre_tokenize(const wt_tokenizer *t, const uint8_t *s, size_t n, wt_bytes *out, wt_ids *lens)
{
    wt_scratch *sc = scratch_get();
    if (!sc) return WT_ENOMEM;
    if (n > UINT32_MAX / 2) return WT_EINVAL;
    wt_run r = {.t = t, .sc = sc, .piece = collect_piece, .piece_bytes = out, .piece_lens = lens,
                .limit = SIZE_MAX, .block = &sc->block, .origin = s};
    sc->block.count = sc->block.bytes = 0;
    int rc = stage_run(&r, 0, s, n);
    return rc < 0 ? rc : 0;
}

/* ---- decode ---- */

int wt_decode(const wt_tokenizer *t, const uint32_t *ids, size_t n, int skip_special,
              int skip_unknown, uint8_t **out, size_t *out_len, size_t *bad_index)
{
    const wt_bpe *b = &t->bpe;
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];
        if (id >= b->n_ids || !(b->tok_flags[id] & WT_TOK_PRESENT)) {
            if (skip_unknown) continue;
            *bad_index = i;
            return WT_EINVAL;
        }
        total += b->tok_off[id + 1] - b->tok_off[id];
    }
    uint8_t *buf = wt_malloc(total + 1);
    if (!buf) return WT_ENOMEM;
    size_t at = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t id = ids[i];
        if (id >= b->n_ids || !(b->tok_flags[id] & WT_TOK_PRESENT)) continue;
        if (skip_special && (b->tok_flags[id] & WT_TOK_SPECIAL)) continue;
        size_t len = b->tok_off[id + 1] - b->tok_off[id];
        memcpy(buf + at, b->tok_bytes + b->tok_off[id], len);
        at += len;
    }
    *out = buf;
    *out_len = at;
    return 0;
}

void wt_tokenizer_free(wt_tokenizer *t)
{
    wt_bpe_free(&t->bpe);
    wt_nfc_free(&t->nfc);
    for (uint32_t k = 0; k < t->n_stages; k++) {
        wt_regex_free(t->stages[k].re);
        wt_classes_free(&t->stages[k].classes);
    }
    wt_norm_free(t->norm);
    wt_model_free(t->model);
    added_free(&t->added[0]);
    added_free(&t->added[1]);
    wt_free(t->prefix);
    wt_free(t->suffix);
    memset(t, 0, sizeof *t);
}
