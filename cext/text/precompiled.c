/* SentencePiece's precompiled charsmap as HF tokenizers 0.23 applies it (its
 * Precompiled normalizer and the spm_precompiled crate).
 *
 * The blob: a little-endian u32 byte size of the trie, the trie as u32 units (a
 * darts-clone double array over UTF-8 bytes), then the replacement strings, each
 * ended by a NUL. A key's replacement is the string at the value of the
 * *shortest* of its prefixes that the trie holds (HF takes the first result of a
 * common-prefix search), and it replaces the whole key. HF walks the text by
 * extended grapheme cluster: a cluster of fewer than 6 bytes is first looked up
 * whole; otherwise, or when it has no replacement, each character is looked up
 * on its own and kept when it has none. */
#include "text/precompiled.h"

#include "common/alloc.h"
#include "common/utf8.h"
#include "text/grapheme.h"

#define NO_REPLACEMENT UINT32_MAX

struct wt_precompiled {
    uint32_t *units;
    size_t n_units;
    uint8_t *strings;        /* the replacements, NUL-ended (one more NUL after the blob) */
    size_t n_strings;
    uint32_t ascii[128];     /* each ASCII character's replacement offset, or NO_REPLACEMENT */
};

/* A double-array unit's fields (darts-clone's layout). */
WT_INLINE int unit_has_leaf(uint32_t u) { return (u >> 8) & 1; }
WT_INLINE uint32_t unit_value(uint32_t u) { return u & 0x7FFFFFFFu; }
WT_INLINE uint32_t unit_label(uint32_t u) { return u & 0x800000FFu; }
WT_INLINE size_t unit_offset(uint32_t u) { return (size_t)(u >> 10) << ((u & (1u << 9)) >> 6); }

/* The offset of the replacement of key[0..n) (its shortest prefix in the trie), or
 * NO_REPLACEMENT. A NUL byte ends the key, as in HF. An index outside the array
 * (a malformed blob, where HF would panic) finds nothing. */
static uint32_t lookup(const wt_precompiled *pc, const uint8_t *key, size_t n)
{
    size_t node = unit_offset(pc->units[0]);
    for (size_t i = 0; i < n && key[i]; i++) {
        node ^= key[i];
        if (node >= pc->n_units) return NO_REPLACEMENT;
        uint32_t u = pc->units[node];
        if (unit_label(u) != key[i]) return NO_REPLACEMENT;
        node ^= unit_offset(u);
        if (unit_has_leaf(u)) {
            if (node >= pc->n_units) return NO_REPLACEMENT;
            uint32_t at = unit_value(pc->units[node]);
            /* past the strings, or inside a character: HF would panic */
            if (at > pc->n_strings || (at < pc->n_strings && (pc->strings[at] & 0xC0) == 0x80)) return NO_REPLACEMENT;
            return at;
        }
    }
    return NO_REPLACEMENT;
}

static int valid_utf8(const uint8_t *s, size_t n)
{
    for (size_t i = 0, len; i < n; i += len) {
        uint32_t c = wt_utf8_decode(s, n, i, &len);
        if (c == 0xFFFD && !(len == 3 && s[i] == 0xEF)) return 0;
        if (c >= 0xD800 && c < 0xE000) return 0;
    }
    return 1;
}

int wt_precompiled_new(wt_precompiled **out, const uint8_t *data, size_t n)
{
    *out = NULL;
    if (n < 4) return WT_EINVAL;
    uint32_t trie_bytes = (uint32_t)data[0] | (uint32_t)data[1] << 8 | (uint32_t)data[2] << 16
                          | (uint32_t)data[3] << 24;
    size_t n_units = trie_bytes / 4;
    /* HF reads trie_bytes / 4 units; whatever follows them is the strings, which must be UTF-8.
     * An empty trie loads in HF and panics on the first text: refused here. */
    if (n_units == 0 || n_units > (n - 4) / 4) return WT_EINVAL;
    const uint8_t *strings = data + 4 + 4 * n_units;
    size_t n_strings = n - 4 - 4 * n_units;
    if (!valid_utf8(strings, n_strings)) return WT_EINVAL;
    wt_precompiled *pc = wt_calloc(1, sizeof *pc);
    if (!pc) return WT_ENOMEM;
    pc->units = wt_malloc(n_units * sizeof(uint32_t));
    pc->strings = wt_malloc(n_strings + 1);
    if (!pc->units || !pc->strings) {
        wt_precompiled_free(pc);
        return WT_ENOMEM;
    }
    for (size_t i = 0; i < n_units; i++) {
        const uint8_t *p = data + 4 + 4 * i;
        pc->units[i] = (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
    }
    pc->n_units = n_units;
    if (n_strings) memcpy(pc->strings, strings, n_strings);
    pc->strings[n_strings] = 0;
    pc->n_strings = n_strings;
    for (uint8_t c = 0; c < 128; c++) pc->ascii[c] = lookup(pc, &c, 1);
    *out = pc;
    return 0;
}

void wt_precompiled_free(wt_precompiled *pc)
{
    if (!pc) return;
    wt_free(pc->units);
    wt_free(pc->strings);
    wt_free(pc);
}

/* Appends bytes to buf at *o. */
WT_INLINE int put(wt_norm_buf *buf, size_t *o, const uint8_t *p, size_t n)
{
    if (WT_UNLIKELY(*o + n > buf->cap) && wt_norm_buf_reserve(buf, *o + n + 64)) return WT_ENOMEM;
    memcpy(buf->p + *o, p, n);
    *o += n;
    return 0;
}

/* The replacement at offset `at`: up to its NUL. */
WT_INLINE size_t replacement_len(const wt_precompiled *pc, uint32_t at)
{
    const uint8_t *end = memchr(pc->strings + at, 0, pc->n_strings - at + 1);
    return (size_t)(end - (pc->strings + at));
}

int wt_precompiled_apply(const wt_precompiled *pc, const uint8_t *s, size_t n, wt_norm_buf *buf, size_t *out_n)
{
    size_t o = 0, pos = 0;
    int changed = 0;
    if (wt_norm_buf_reserve(buf, n + 64)) return WT_ENOMEM;
    while (pos < n) {
        uint8_t c = s[pos];
        /* An ASCII character before another (or the end) is a cluster of its own, CR LF aside. */
        if (c < 0x80 && (pos + 1 == n || (s[pos + 1] < 0x80 && !(c == '\r' && s[pos + 1] == '\n')))) {
            uint32_t at = pc->ascii[c];
            if (WT_LIKELY(at == NO_REPLACEMENT)) {
                if (WT_UNLIKELY(o + 1 > buf->cap) && wt_norm_buf_reserve(buf, o + 65)) return WT_ENOMEM;
                buf->p[o++] = c;
            } else {
                changed = 1;
                if (put(buf, &o, pc->strings + at, replacement_len(pc, at))) return WT_ENOMEM;
            }
            pos++;
            continue;
        }
        size_t end = wt_grapheme_end(s, n, pos);
        if (end - pos < 6) {
            uint32_t at = lookup(pc, s + pos, end - pos);
            if (at != NO_REPLACEMENT) {
                changed = 1;
                if (put(buf, &o, pc->strings + at, replacement_len(pc, at))) return WT_ENOMEM;
                pos = end;
                continue;
            }
        }
        while (pos < end) {
            size_t len;
            wt_utf8_decode(s, n, pos, &len);
            uint32_t at = lookup(pc, s + pos, len);
            if (at == NO_REPLACEMENT) {
                if (put(buf, &o, s + pos, len)) return WT_ENOMEM;
            } else {
                changed = 1;
                if (put(buf, &o, pc->strings + at, replacement_len(pc, at))) return WT_ENOMEM;
            }
            pos += len;
        }
    }
    if (!changed) return 0;
    *out_n = o;
    return 1;
}
