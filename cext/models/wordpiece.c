/* WordPiece (HF's): a word of more than max_chars characters is the unknown
 * token; otherwise, from its start, the longest prefix that is a token, then
 * from there the longest continuation (prefix + rest) that is a token, and so
 * on; if some position has none, the whole word is the unknown token. */
#include "models/internal.h"

#include "common/utf8.h"

static int64_t unknown(const wt_model *m, uint32_t *out)
{
    if (m->unk == WT_NO_ID) return WT_EUNK;
    out[0] = m->unk;
    return 1;
}

/* Where the character before `end` starts (end > start, at a character boundary). */
WT_INLINE size_t char_before(const uint8_t *p, size_t start, size_t end)
{
    return wt_utf8_prev(p, start, end);
}

/* The largest character boundary <= end in p[start..n). */
WT_INLINE size_t boundary_at_or_before(const uint8_t *p, size_t n, size_t start, size_t end)
{
    while (end > start && end < n && (p[end] & 0xC0) == 0x80) end--;
    return end;
}

int64_t wt_wordpiece_encode(const wt_model *m, const uint8_t *p, size_t n, uint32_t *out)
{
    size_t chars = 0;
    for (size_t i = 0; i < n; i++) chars += (p[i] & 0xC0) != 0x80;
    if (chars > m->max_chars) return unknown(m, out);
    size_t start = 0, k = 0;
    while (start < n) {
        const wt_strmap *map = start ? &m->cont : &m->vocab;
        size_t longest = start ? m->max_cont_len : m->max_len;
        size_t end = n - start > longest ? boundary_at_or_before(p, n, start, start + longest) : n;
        uint32_t id = WT_NO_ID;
        while (end > start) {
            if ((id = wt_strmap_get(map, p + start, end - start)) != WT_NO_ID) break;
            end = char_before(p, start, end);
        }
        if (id == WT_NO_ID) return unknown(m, out);
        out[k++] = id;
        start = end;
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
