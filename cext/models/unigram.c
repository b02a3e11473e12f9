/* Unigram (HF tokenizers' optimized Viterbi), with HF's exact results.
 *
 * best[i] is the best path's score over the piece's first i bytes. From each
 * character boundary, in order, every vocabulary string starting there (a walk
 * down the trie, shortest first) offers best[start] + score at its end; a
 * character with no token of exactly its length also offers the unknown token
 * at min_score - 10 (HF's penalty). An offer replaces the end's best only when
 * strictly greater, so the first offer wins a tie, as in HF. Scores are HF's
 * f64 and each sum is one double addition, as HF's.
 *
 * The path, read back from the end, gives strings: consecutive unknown-token
 * nodes (also a literal unknown token's string matched in the text) are fused
 * into one string, as HF always fuses for Unigram. Each string then becomes
 * the id its string has in the vocabulary (the last id of a duplicated
 * string), else with byte_fallback its bytes' <0xXX> ids when all exist,
 * else the unknown token. */
#include "models/internal.h"

#include <stdio.h>

#include "common/alloc.h"

#define UNK_PENALTY 10.0

struct wt_unigram {
    double *node_score;      /* per trie node: the score of its token (the string's last id) */
    double unk_score;        /* min_score - UNK_PENALTY */
    uint32_t byte_id[256];   /* <0xXX>'s id, or WT_NO_ID */
    int byte_fallback;
};

int wt_unigram_new(wt_model *m, const wt_model_def *def)
{
    if (!def->scores) return WT_EINVAL;
    wt_unigram *u = wt_calloc(1, sizeof *u);
    if (!u) return WT_ENOMEM;
    m->uni = u;
    int rc = wt_vocab_trie_init(&m->trie, m->off, m->bytes, m->present, m->n_ids);
    if (rc) return rc;
    if (!(u->node_score = wt_malloc(((size_t)m->trie.n_nodes + 1) * sizeof(double)))) return WT_ENOMEM;
    for (uint32_t k = 0; k < m->trie.n_nodes; k++) {
        uint32_t id = m->trie.node_id[k];
        u->node_score[k] = id == WT_NO_ID ? 0.0 : def->scores[id];
    }
    /* HF's minimum runs over every vocabulary entry (duplicates and the unknown too). */
    double min_score = 0.0;
    int any = 0;
    for (uint32_t id = 0; id < m->n_ids; id++) {
        if (!m->present[id]) continue;
        if (!any || def->scores[id] < min_score) min_score = def->scores[id];
        any = 1;
    }
    u->unk_score = min_score - UNK_PENALTY;
    u->byte_fallback = def->byte_fallback;
    for (int c = 0; c < 256; c++) {
        char tok[8];
        snprintf(tok, sizeof tok, "<0x%02X>", c);
        u->byte_id[c] = wt_strmap_get(&m->vocab, (const uint8_t *)tok, 6);
    }
    return 0;
}

void wt_unigram_free(wt_unigram *u)
{
    if (!u) return;
    wt_free(u->node_score);
    wt_free(u);
}

WT_INLINE size_t lead_len(uint8_t c)
{
    if (c < 0x80) return 1;
    if (c >= 0xF0) return 4;
    if (c >= 0xE0) return 3;
    return c >= 0xC0 ? 2 : 1;
}

/* The ids of the string s[0..n) that a fused run of unknown nodes made. */
static size_t unknown_ids(const wt_model *m, const uint8_t *s, size_t n, uint32_t *out)
{
    const wt_unigram *u = m->uni;
    uint32_t id = wt_strmap_get(&m->vocab, s, n);
    if (id != WT_NO_ID) {
        out[0] = id;
        return 1;
    }
    if (u->byte_fallback) {
        size_t i = 0;
        while (i < n && u->byte_id[s[i]] != WT_NO_ID) i++;
        if (i == n) {
            for (i = 0; i < n; i++) out[i] = u->byte_id[s[i]];
            return n;
        }
    }
    out[0] = m->unk;
    return 1;
}

int64_t wt_unigram_encode(const wt_model *m, const uint8_t *p, size_t n, uint32_t *out)
{
    const wt_unigram *u = m->uni;
    const wt_vocab_trie *t = &m->trie;
    double *score = wt_model_scratch(0, (n + 1) * sizeof(double));
    uint32_t *start = wt_model_scratch(1, (n + 1) * sizeof(uint32_t));   /* WT_NO_ID: not reached */
    uint32_t *node_id = wt_model_scratch(2, (n + 1) * sizeof(uint32_t));
    if (!score || !start || !node_id) return WT_ENOMEM;
    for (size_t i = 0; i <= n; i++) start[i] = WT_NO_ID;
    score[0] = 0.0;

    for (size_t pos = 0; pos < n;) {
        double here = score[pos];
        size_t mblen = lead_len(p[pos]);
        if (mblen > n - pos) mblen = n - pos;
        int single = 0;
        uint32_t node = 0;
        for (size_t end = pos; end < n;) {
            node = wt_vocab_trie_child(t, node, p[end++]);
            if (!node) break;
            uint32_t id = t->node_id[node];
            if (id == WT_NO_ID) continue;
            double cand = u->node_score[node] + here;
            if (start[end] == WT_NO_ID || cand > score[end]) {
                score[end] = cand;
                start[end] = (uint32_t)pos;
                node_id[end] = id;
            }
            single |= end - pos == mblen;
        }
        if (!single) {
            if (m->unk == WT_NO_ID) return WT_EUNK;
            size_t end = pos + mblen;
            double cand = u->unk_score + here;
            if (start[end] == WT_NO_ID || cand > score[end]) {
                score[end] = cand;
                start[end] = (uint32_t)pos;
                node_id[end] = m->unk;
            }
        }
        pos += mblen;
    }

    /* The path's ends, read back from the end; then forward, unknown runs fused. */
    uint32_t *ends = wt_model_scratch(3, (n + 1) * sizeof(uint32_t));
    if (!ends) return WT_ENOMEM;
    size_t k = 0;
    for (size_t end = n; end > 0; end = start[end]) ends[k++] = (uint32_t)end;
    size_t o = 0, at = 0;
    while (k > 0) {
        size_t end = ends[--k];
        uint32_t id = node_id[end];
        if (id != m->unk || m->unk == WT_NO_ID) {
            out[o++] = id;
            at = end;
            continue;
        }
        while (k > 0 && node_id[ends[k - 1]] == m->unk) end = ends[--k];
        o += unknown_ids(m, p + at, end - at, out + o);
        at = end;
    }
    return (int64_t)o;
}
