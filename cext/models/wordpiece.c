/* WordPiece (HF's): a word of more than max_chars characters is the unknown
 * token; otherwise, from its start, the longest prefix that is a token, then
 * from there the longest continuation (prefix + rest) that is a token, and so
 * on; if some position has none, the whole word is the unknown token.
 *
 * HF tries every end from the word's end down, one map lookup each; a walk down
 * the vocabulary's trie finds the same longest token in one pass over its bytes.
 * A token's string is whole UTF-8 characters, so the match ends on a character
 * boundary of the word, as HF's does. */
#include "models/internal.h"

#include <stdlib.h>

#include "common/alloc.h"

/* ---- the trie ---- */

/* A string to sort: its bytes carried along, so the comparison needs no global
 * (tokenizers may load on several threads at once). */
typedef struct {
    const uint8_t *p;
    uint32_t len, id;
} sort_key;

/* Byte order, then shorter first, then by id (a later id keeps the node, as in the string map). */
static int cmp_strings(const void *a, const void *b)
{
    const sort_key *x = a, *y = b;
    int r = memcmp(x->p, y->p, x->len < y->len ? x->len : y->len);
    if (r) return r;
    if (x->len != y->len) return x->len < y->len ? -1 : 1;
    return (x->id > y->id) - (x->id < y->id);
}

int wt_vocab_trie_init(wt_vocab_trie *t, const uint32_t *off, const uint8_t *bytes, const uint8_t *present,
                       uint32_t n_ids)
{
    memset(t, 0, sizeof *t);
    size_t total = 0, max_len = 0;
    uint32_t m = 0;
    for (uint32_t id = 0; id < n_ids; id++) {
        size_t len = off[id + 1] - off[id];
        if (!present[id] || len == 0) continue;
        m++;
        total += len;
        if (len > max_len) max_len = len;
    }
    if (total >= UINT32_MAX) return WT_EINVAL;
    int rc = WT_ENOMEM;
    size_t max_nodes = total + 1;
    sort_key *keys = wt_malloc(((size_t)m + 1) * sizeof(sort_key));
    uint32_t *parent = wt_malloc(max_nodes * sizeof(uint32_t));
    uint8_t *byte = wt_malloc(max_nodes);
    uint32_t *path = wt_malloc((max_len + 1) * sizeof(uint32_t));
    uint32_t *cursor = NULL;
    t->node_id = wt_malloc(max_nodes * sizeof(uint32_t));
    if (!keys || !parent || !byte || !path || !t->node_id) goto out;
    m = 0;
    for (uint32_t id = 0; id < n_ids; id++)
        if (present[id] && off[id + 1] > off[id])
            keys[m++] = (sort_key){bytes + off[id], off[id + 1] - off[id], id};
    qsort(keys, m, sizeof(sort_key), cmp_strings);

    /* Nodes in lexicographic order, so each node's children come out sorted by byte;
     * path[d] is the node at depth d of the current string. */
    uint32_t n_nodes = 1;
    path[0] = 0;
    t->node_id[0] = WT_NO_ID;
    const uint8_t *prev = NULL;
    size_t prev_len = 0;
    for (uint32_t i = 0; i < m; i++) {
        uint32_t id = keys[i].id;
        const uint8_t *q = keys[i].p;
        size_t len = keys[i].len, d = 0;
        while (d < len && d < prev_len && q[d] == prev[d]) d++;
        for (; d < len; d++) {
            uint32_t node = n_nodes++;
            parent[node] = path[d];
            byte[node] = q[d];
            t->node_id[node] = WT_NO_ID;
            path[d + 1] = node;
        }
        t->node_id[path[len]] = id;
        prev = q;
        prev_len = len;
    }

    t->n_nodes = n_nodes;
    t->first = wt_calloc((size_t)n_nodes + 1, sizeof(uint32_t));
    t->edge_byte = wt_malloc(n_nodes);
    t->edge_node = wt_malloc((size_t)n_nodes * sizeof(uint32_t));
    cursor = wt_malloc((size_t)n_nodes * sizeof(uint32_t));
    if (!t->first || !t->edge_byte || !t->edge_node || !cursor) goto out;
    for (uint32_t k = 1; k < n_nodes; k++) t->first[parent[k] + 1]++;
    for (uint32_t k = 0; k < n_nodes; k++) t->first[k + 1] += t->first[k];
    /* Children were made in byte order: each goes to the end of its parent's range. */
    memcpy(cursor, t->first, (size_t)n_nodes * sizeof(uint32_t));
    for (uint32_t k = 1; k < n_nodes; k++) {
        uint32_t e = cursor[parent[k]]++;
        t->edge_byte[e] = byte[k];
        t->edge_node[e] = k;
    }
    for (uint32_t e = t->first[0]; e < t->first[1]; e++) t->root[t->edge_byte[e]] = t->edge_node[e];
    rc = 0;
out:
    wt_free(keys);
    wt_free(parent);
    wt_free(byte);
    wt_free(path);
    wt_free(cursor);
    if (rc) wt_vocab_trie_free(t);
    return rc;
}

void wt_vocab_trie_free(wt_vocab_trie *t)
{
    wt_free(t->first);
    wt_free(t->edge_byte);
    wt_free(t->edge_node);
    wt_free(t->node_id);
    memset(t, 0, sizeof *t);
}

/* ---- encoding ---- */

static int64_t unknown(const wt_model *m, uint32_t *out)
{
    if (m->unk == WT_NO_ID) return WT_EUNK;
    out[0] = m->unk;
    return 1;
}

/* The longest token s[0..n) starts with, walking from `node` (0: the root), not
 * counting `node` itself; its length goes to *len. WT_NO_ID: none. */
WT_INLINE uint32_t longest_token(const wt_vocab_trie *t, uint32_t node, const uint8_t *s, size_t n, size_t *len)
{
    uint32_t best = WT_NO_ID;
    for (size_t i = 0; i < n; i++) {
        if (!(node = wt_vocab_trie_child(t, node, s[i]))) break;
        if (t->node_id[node] != WT_NO_ID) {
            best = t->node_id[node];
            *len = i + 1;
        }
    }
    return best;
}

int64_t wt_wordpiece_encode(const wt_model *m, const uint8_t *p, size_t n, uint32_t *out)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) chars += (p[i] & 0xC0) != 0x80;
    if (chars > m->max_chars) return unknown(m, out);
    size_t start = 0, k = 0;
    while (start < n) {
        size_t len = 0;
        uint32_t id;
        if (start == 0) id = longest_token(&m->trie, 0, p, n, &len);
        else if (m->cont_root == WT_NO_ID) id = WT_NO_ID;     /* no token starts with the prefix */
        else id = longest_token(&m->trie, m->cont_root, p + start, n - start, &len);
        if (id == WT_NO_ID) return unknown(m, out);
        out[k++] = id;
        start += len;
    }
    return (int64_t)k;
}

int64_t wt_wordlevel_encode(const wt_model *m, const uint8_t *p, size_t n, uint32_t *out)
{
    uint32_t id = wt_strmap_get(&m->vocab, p, n);
    if (id == WT_NO_ID) return unknown(m, out);
    out[0] = id;
    return 1;
}
