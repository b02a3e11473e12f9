/* What every model shares: the string map, the per-thread scratch, building
 * (with the piece table's seeds) and resolving a block's misses. */
#include "models/internal.h"

#include <pthread.h>

#include "common/alloc.h"
#include "common/hash.h"

/* ---- strings -> ids ---- */

WT_INLINE int strmap_key(const wt_strmap *sm, uint32_t id, const uint8_t **p, size_t *n)
{
    size_t len = sm->off[id + 1] - sm->off[id];
    *p = sm->bytes + sm->off[id] + sm->skip;
    *n = len - sm->skip;
    return 0;
}

uint32_t wt_strmap_get(const wt_strmap *sm, const uint8_t *p, size_t n)
{
    for (size_t i = wt_hash_mem(p, n) & sm->mask;; i = (i + 1) & sm->mask) {
        uint32_t id = sm->slots[i];
        if (id == WT_NO_ID) return WT_NO_ID;
        const uint8_t *q;
        size_t m;
        strmap_key(sm, id, &q, &m);
        if (m == n && memcmp(q, p, n) == 0) return id;
    }
}

int wt_strmap_init(wt_strmap *sm, const uint32_t *off, const uint8_t *bytes, const uint8_t *present,
                   uint32_t n_ids, size_t skip, const uint8_t *need, size_t need_len)
{
    memset(sm, 0, sizeof *sm);
    sm->off = off;
    sm->bytes = bytes;
    sm->skip = skip;
    size_t count = 0;
    for (uint32_t id = 0; id < n_ids; id++) count += present[id] != 0;
    size_t cap = wt_pow2_at_least(2 * count + 2);
    if (!(sm->slots = wt_malloc(cap * sizeof(uint32_t)))) return WT_ENOMEM;
    memset(sm->slots, 0xff, cap * sizeof(uint32_t));
    sm->mask = cap - 1;
    for (uint32_t id = 0; id < n_ids; id++) {
        if (!present[id]) continue;
        size_t len = off[id + 1] - off[id];
        const uint8_t *s = bytes + off[id];
        if (need && (len < need_len || memcmp(s, need, need_len) != 0)) continue;
        /* A later id with the same string replaces the earlier (HF's maps keep the last). */
        size_t i = wt_hash_mem(s + skip, len - skip) & sm->mask;
        for (;; i = (i + 1) & sm->mask) {
            uint32_t other = sm->slots[i];
            if (other == WT_NO_ID) break;
            const uint8_t *q;
            size_t m;
            strmap_key(sm, other, &q, &m);
            if (m == len - skip && memcmp(q, s + skip, m) == 0) break;
        }
        sm->slots[i] = id;
    }
    return 0;
}

void wt_strmap_free(wt_strmap *sm)
{
    wt_free(sm->slots);
    memset(sm, 0, sizeof *sm);
}

/* ---- per-thread scratch ---- */

#define N_BUFS 8
typedef struct {
    wt_model_buf bufs[N_BUFS];
} model_scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *p)
{
    model_scratch *sc = p;
    for (int i = 0; i < N_BUFS; i++) wt_free(sc->bufs[i].p);
    wt_free(sc);
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_destroy); }

void *wt_model_scratch(int i, size_t bytes)
{
    pthread_once(&scratch_once, scratch_key_init);
    model_scratch *sc = pthread_getspecific(scratch_key);
    if (!sc) {
        sc = wt_calloc(1, sizeof *sc);
        if (!sc) return NULL;
        if (pthread_setspecific(scratch_key, sc) != 0) { wt_free(sc); return NULL; }
    }
    wt_model_buf *b = &sc->bufs[i];
    if (bytes > b->cap) {
        size_t cap = b->cap ? b->cap : 1024;
        while (cap < bytes) cap *= 2;
        void *p = wt_realloc(b->p, cap);
        if (!p) return NULL;
        b->p = p;
        b->cap = cap;
    }
    return b->p;
}

/* ---- build ---- */

int wt_model_new(wt_model **out, const wt_model_def *def, wt_piece_table *table)
{
    *out = NULL;
    wt_model *m = wt_calloc(1, sizeof *m);
    if (!m) return WT_ENOMEM;
    int rc = WT_ENOMEM;
    uint32_t n_ids = def->n_ids;
    size_t nbytes = def->off[n_ids];
    m->kind = def->kind;
    m->n_ids = n_ids;
    m->unk = def->unk;
    m->off = wt_malloc((n_ids + 1) * sizeof(uint32_t));
    m->bytes = wt_malloc(nbytes + 1);
    m->present = wt_malloc(n_ids + 1);
    if (!m->off || !m->bytes || !m->present) goto fail;
    memcpy(m->off, def->off, (n_ids + 1) * sizeof(uint32_t));
    memcpy(m->bytes, def->bytes, nbytes);
    memcpy(m->present, def->present, n_ids);
    rc = WT_EINVAL;
    if (def->unk != WT_NO_ID && (def->unk >= n_ids || !def->present[def->unk])) goto fail;
    for (uint32_t id = 0; id < n_ids; id++)
        if (m->off[id + 1] < m->off[id] || m->off[id + 1] > nbytes) goto fail;
    if ((rc = wt_strmap_init(&m->vocab, m->off, m->bytes, m->present, n_ids, 0, NULL, 0))) goto fail;
    size_t n_short = 0;
    for (uint32_t id = 0; id < n_ids; id++) {
        size_t len = m->off[id + 1] - m->off[id];
        if (!m->present[id]) continue;
        if (len > m->max_len) m->max_len = len;
        n_short += len <= WT_PT_SHORT;
    }
    switch (m->kind) {
    case WT_MODEL_WORDPIECE:
        if ((rc = wt_vocab_trie_init(&m->trie, m->off, m->bytes, m->present, n_ids))) goto fail;
        /* Continuations are the strings under the prefix's node: the walk starts there. */
        m->cont_root = 0;
        for (size_t i = 0; i < def->prefix_len && m->cont_root != WT_NO_ID; i++) {
            uint32_t next = wt_vocab_trie_child(&m->trie, m->cont_root, def->prefix[i]);
            m->cont_root = next ? next : WT_NO_ID;
        }
        m->max_chars = def->max_chars;
        break;
    case WT_MODEL_WORDLEVEL:
        break;
    case WT_MODEL_BPE:
        if ((rc = wt_bpe_sym_new(m, def))) goto fail;
        break;
    case WT_MODEL_UNIGRAM:
        if ((rc = wt_unigram_new(m, def))) goto fail;
        break;
    default:
        rc = WT_EINVAL;
        goto fail;
    }

    /* The piece table, seeded with what each vocabulary string encodes to as a piece:
     * room for the seeds five times over, as bpe/build.c sizes it (seeds whose lines
     * are full spill to the long map, where lookups still find them). */
    if (def->test_slots) {
        rc = wt_pt_init(table, 16 * def->test_slots, 16, 4096);
    } else {
        rc = wt_pt_init(table, wt_pow2_at_least(5 * n_short + 1024), 1 << 16, 1 << 21);
    }
    if (rc) goto fail;
    if (!def->test_slots) {
        uint32_t ids[WT_PT_LONG];
        for (uint32_t id = 0; id < n_ids; id++) {
            size_t len = m->off[id + 1] - m->off[id];
            if (!m->present[id] || len == 0 || len > WT_PT_LONG) continue;
            const uint8_t *s = m->bytes + m->off[id];
            int64_t k = wt_model_encode(m, s, len, ids);
            if (k == WT_EUNK) continue;
            if (k < 0) { rc = (int)k; goto fail; }
            wt_pt_seed(table, s, len, wt_pt_hash_of(s, len), ids, (size_t)k);
        }
    }
    *out = m;
    return 0;
fail:
    wt_model_free(m);
    return rc;
}

void wt_model_free(wt_model *m)
{
    if (!m) return;
    wt_strmap_free(&m->vocab);
    wt_vocab_trie_free(&m->trie);
    wt_bpe_sym_free(m->bpe);
    wt_unigram_free(m->uni);
    wt_free(m->off);
    wt_free(m->bytes);
    wt_free(m->present);
    wt_free(m);
}

/* ---- encode ---- */

int64_t wt_model_encode(const wt_model *m, const uint8_t *p, size_t n, uint32_t *out)
{
    if (n == 0) return 0;
    switch (m->kind) {
    case WT_MODEL_WORDPIECE: return wt_wordpiece_encode(m, p, n, out);
    case WT_MODEL_WORDLEVEL: return wt_wordlevel_encode(m, p, n, out);
    case WT_MODEL_BPE: return wt_bpe_sym_encode(m, p, n, out);
    case WT_MODEL_UNIGRAM: return wt_unigram_encode(m, p, n, out);
    default: return WT_EINVAL;
    }
}

int wt_model_resolve(const wt_model *m, wt_piece_table *table, const uint8_t *const *p, const size_t *len,
                     const uint64_t *h, uint32_t *base, const uint16_t *mi, const size_t *at, size_t *k,
                     size_t n_miss)
{
    for (size_t j = 0; j < n_miss; j++) {
        const uint8_t *s = p[mi[j]];
        size_t n = len[mi[j]];
        uint64_t hash = h[mi[j]];
        int64_t got = wt_pt_find(table, s, n, hash, base + at[j]);
        if (got < 0) {
            if ((got = wt_model_encode(m, s, n, base + at[j])) < 0) return (int)got;
            wt_pt_add(table, s, n, hash, base + at[j], (size_t)got);
        }
        k[j] = (size_t)got;
    }
    return 0;
}
