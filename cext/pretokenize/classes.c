#include "pretokenize/classes.h"

#include "common/alloc.h"
#include "common/utf8.h"

int wt_classes_init(wt_classes *c, const uint32_t *block_of, size_t n_block_of, const uint8_t *classes,
                    size_t n_classes)
{
    memset(c, 0, sizeof *c);
    if (n_block_of != 0x110000 / WT_CLASS_BLOCK || !n_classes || n_classes % WT_CLASS_BLOCK) return WT_EINVAL;
    for (size_t i = 0; i < n_block_of; i++)
        if ((size_t)block_of[i] * WT_CLASS_BLOCK >= n_classes) return WT_EINVAL;
    c->block_of = wt_malloc(n_block_of * sizeof(uint32_t));
    c->classes = wt_malloc(n_classes);
    if (!c->block_of || !c->classes) {
        wt_classes_free(c);
        return WT_ENOMEM;
    }
    memcpy(c->block_of, block_of, n_block_of * sizeof(uint32_t));
    memcpy(c->classes, classes, n_classes);
    for (uint32_t b = 0; b < 128; b++)
        c->ascii[b] = c->classes[(size_t)c->block_of[b / WT_CLASS_BLOCK] * WT_CLASS_BLOCK + b % WT_CLASS_BLOCK];
    return 0;
}

void wt_classes_free(wt_classes *c)
{
    wt_free(c->block_of);
    wt_free(c->classes);
    memset(c, 0, sizeof *c);
}

WT_INLINE uint8_t class_at(const wt_classes *c, const uint8_t *s, size_t n, size_t pos, size_t *len)
{
    uint8_t b = s[pos];
    if (WT_LIKELY(b < 0x80)) {
        *len = 1;
        return c->ascii[b];
    }
    uint32_t cp = wt_utf8_decode(s, n, pos, len);
    return c->classes[(size_t)c->block_of[cp / WT_CLASS_BLOCK] * WT_CLASS_BLOCK + cp % WT_CLASS_BLOCK];
}

size_t wt_classes_split(const wt_classes *c, const uint8_t *s, size_t n, size_t *pos, size_t *starts,
                        size_t *ends, size_t max)
{
    size_t p = *pos, count = 0, len;
    while (p < n && count < max) {
        uint8_t k = class_at(c, s, n, p, &len);
        if (k == WT_CLASS_REMOVED) {
            p += len;
            continue;
        }
        size_t start = p;
        p += len;
        if (k != WT_CLASS_ISOLATED) {
            /* ASCII in a run: a byte loop on the table */
            while (p < n) {
                uint8_t b = s[p];
                if (b < 0x80) {
                    if (c->ascii[b] != k) break;
                    p++;
                    continue;
                }
                if (class_at(c, s, n, p, &len) != k) break;
                p += len;
            }
        }
        starts[count] = start;
        ends[count++] = p;
    }
    *pos = p;
    return count;
}

size_t wt_metaspace_rewrite(const wt_metaspace *m, const uint8_t *s, size_t n, int at_start, uint8_t *out)
{
    size_t o = 0;
    int has_rep = n >= m->rep_len && memcmp(s, m->rep, m->rep_len) == 0;
    int starts_space = n > 0 && s[0] == ' ';
    int prepend = !has_rep && !starts_space && n > 0 &&
                  (m->scheme == WT_PREPEND_ALWAYS || (m->scheme == WT_PREPEND_FIRST && at_start));
    if (prepend) {
        memcpy(out, m->rep, m->rep_len);
        o = m->rep_len;
    }
    for (size_t i = 0; i < n; i++) {
        if (s[i] == ' ') {
            memcpy(out + o, m->rep, m->rep_len);
            o += m->rep_len;
        } else {
            out[o++] = s[i];
        }
    }
    return o;
}

size_t wt_metaspace_next(const wt_metaspace *m, const uint8_t *s, size_t n, size_t pos)
{
    size_t p = pos;
    if (!m->split) return n;
    if (p + m->rep_len <= n && memcmp(s + p, m->rep, m->rep_len) == 0) p += m->rep_len;
    while (p < n) {
        const uint8_t *hit = memchr(s + p, m->rep[0], n - p);
        if (!hit) return n;
        p = (size_t)(hit - s);
        if (p + m->rep_len <= n && memcmp(s + p, m->rep, m->rep_len) == 0) return p;
        p++;
    }
    return n;
}
