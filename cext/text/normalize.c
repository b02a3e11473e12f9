#include "text/normalize.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include <pthread.h>

#include "common/alloc.h"
#include "common/utf8.h"
#include "text/precompiled.h"

/* ---- per-thread buffers ---- */

typedef struct {
    wt_norm_buf buf[2];
} norm_scratch;

static pthread_key_t scratch_key;
static pthread_once_t scratch_once = PTHREAD_ONCE_INIT;

static void scratch_destroy(void *p)
{
    norm_scratch *sc = p;
    wt_free(sc->buf[0].p);
    wt_free(sc->buf[1].p);
    wt_free(sc);
}

static void scratch_key_init(void) { pthread_key_create(&scratch_key, scratch_destroy); }

static norm_scratch *scratch_get(void)
{
    pthread_once(&scratch_once, scratch_key_init);
    norm_scratch *sc = pthread_getspecific(scratch_key);
    if (!sc) {
        sc = wt_calloc(1, sizeof *sc);
        if (sc && pthread_setspecific(scratch_key, sc) != 0) { wt_free(sc); sc = NULL; }
    }
    return sc;
}

int wt_norm_buf_reserve(wt_norm_buf *b, size_t need)
{
    if (need <= b->cap) return 0;
    size_t cap = b->cap ? b->cap : 256;
    while (cap < need) cap *= 2;
    uint8_t *p = wt_realloc(b->p, cap);
    if (!p) return WT_ENOMEM;
    b->p = p;
    b->cap = cap;
    return 0;
}

/* ---- building ---- */

wt_norm *wt_norm_new(void)
{
    return wt_calloc(1, sizeof(wt_norm));
}

void wt_norm_free(wt_norm *nm)
{
    if (!nm) return;
    for (int i = 0; i < nm->n_steps; i++) {
        wt_norm_step *st = &nm->steps[i];
        wt_free(st->map.block_of);
        wt_free(st->map.entries);
        wt_free(st->map.blob);
        wt_free(st->a);
        wt_free(st->b);
        wt_precompiled_free(st->pc);
    }
    wt_free(nm);
}

static wt_norm_step *next_step(wt_norm *nm)
{
    if (nm->n_steps == WT_NORM_MAX_STEPS) return NULL;
    wt_norm_step *st = &nm->steps[nm->n_steps++];
    memset(st, 0, sizeof *st);
    return st;
}

static void *copy_of(const void *p, size_t n)
{
    void *q = wt_malloc(n + 1);
    if (q && n) memcpy(q, p, n);
    return q;
}

uint32_t wt_charmap_entry(const wt_charmap *m, uint32_t cp)
{
    return m->entries[(size_t)m->block_of[cp / WT_MAP_BLOCK] * WT_MAP_BLOCK + cp % WT_MAP_BLOCK];
}

int wt_norm_add_map(wt_norm *nm, const uint32_t *block_of, size_t n_block_of, const uint32_t *entries,
                    size_t n_entries, const uint8_t *blob, size_t n_blob)
{
    if (n_block_of != 0x110000 / WT_MAP_BLOCK || n_entries % WT_MAP_BLOCK || !n_entries) return WT_EINVAL;
    for (size_t i = 0; i < n_block_of; i++)
        if ((size_t)block_of[i] * WT_MAP_BLOCK >= n_entries) return WT_EINVAL;
    int makes_space = n_blob && memchr(blob, ' ', n_blob);
    for (size_t i = 0; i < n_entries; i++) {
        uint32_t e = entries[i];
        makes_space |= e == WT_MAP_PAD;
        if (e == 0 || e == WT_MAP_DELETE || e == WT_MAP_PAD) continue;
        if ((e & WT_MAP_PAD) || (e & 0xff) == 0 || (size_t)(e >> 8) + (e & 0xff) > n_blob) return WT_EINVAL;
    }
    wt_norm_step *st = next_step(nm);
    if (!st) return WT_EINVAL;
    st->kind = WT_NORM_MAP;
    wt_charmap *m = &st->map;
    m->makes_space = (uint8_t)makes_space;
    m->block_of = copy_of(block_of, n_block_of * sizeof(uint32_t));
    m->entries = copy_of(entries, n_entries * sizeof(uint32_t));
    if ((m->blob = wt_calloc(1, n_blob + 8)) && n_blob) memcpy(m->blob, blob, n_blob);   /* padded: put_entry */
    if (!m->block_of || !m->entries || !m->blob) return WT_ENOMEM;
    m->ascii_keep = 1;
    for (uint32_t c = 0; c < 128; c++) {
        m->ascii[c] = wt_charmap_entry(m, c);
        if (!m->ascii[c]) continue;
        m->ascii_keep = 0;
        if (m->n_changed < sizeof m->changed) m->changed[m->n_changed] = (uint8_t)c;
        if (m->n_changed < UINT8_MAX) m->n_changed++;
    }
    return 0;
}

int wt_norm_add_bytes(wt_norm *nm, int kind, const uint8_t *a, size_t na, const uint8_t *b, size_t nb)
{
    if ((kind != WT_NORM_PREPEND && kind != WT_NORM_REPLACE && kind != WT_NORM_RUNS)
        || (kind != WT_NORM_PREPEND && na == 0))
        return WT_EINVAL;
    wt_norm_step *st = next_step(nm);
    if (!st) return WT_EINVAL;
    st->kind = kind;
    st->a = copy_of(a, na);
    st->b = copy_of(b, nb);
    st->na = na;
    st->nb = nb;
    return st->a && st->b ? 0 : WT_ENOMEM;
}

int wt_norm_add_strip(wt_norm *nm, int left, int right)
{
    wt_norm_step *st = next_step(nm);
    if (!st) return WT_EINVAL;
    st->kind = WT_NORM_STRIP;
    st->left = left;
    st->right = right;
    return 0;
}

int wt_norm_add_precompiled(wt_norm *nm, const uint8_t *data, size_t n)
{
    wt_norm_step *st = next_step(nm);
    if (!st) return WT_EINVAL;
    st->kind = WT_NORM_PRECOMPILED;
    int rc = wt_precompiled_new(&st->pc, data, n);
    return rc;
}

/* ---- the steps ---- */

/* Bytes one entry writes for a character of `len` bytes at s. */
WT_INLINE uint8_t *put_entry(const wt_charmap *m, uint32_t e, const uint8_t *s, size_t len, uint8_t *o)
{
    if (e == 0) {
        memcpy(o, s, len);
        return o + len;
    }
    if (e == WT_MAP_DELETE) return o;
    if (e == WT_MAP_PAD) {
        o[0] = ' ';
        memcpy(o + 1, s, len);
        o[len + 1] = ' ';
        return o + len + 2;
    }
    if ((e & 0xff) <= 8) memcpy(o, m->blob + (e >> 8), 8);   /* the blob has 8 bytes of padding */
    else memcpy(o, m->blob + (e >> 8), e & 0xff);
    return o + (e & 0xff);
}

/* Whether the map changes few enough ASCII characters for the SIMD loop (then
 * c[0..4) compare with them; unused slots with 0x80, which the sign mask catches). */
#ifdef __SSE2__
static int simd_changed(const wt_charmap *m, __m128i c[4])
{
    if (m->n_changed > sizeof m->changed) return 0;
    for (int i = 0; i < 4; i++) c[i] = _mm_set1_epi8((char)(i < m->n_changed ? m->changed[i] : 0x80));
    return 1;
}

/* The bytes of x that are not ASCII or are one of the changed characters. */
WT_INLINE unsigned stop_mask(__m128i x, const __m128i c[4])
{
    __m128i hit = _mm_or_si128(_mm_or_si128(_mm_cmpeq_epi8(x, c[0]), _mm_cmpeq_epi8(x, c[1])),
                               _mm_or_si128(_mm_cmpeq_epi8(x, c[2]), _mm_cmpeq_epi8(x, c[3])));
    return (unsigned)_mm_movemask_epi8(_mm_or_si128(hit, x));
}
#endif

int wt_charmap_apply(const wt_charmap *m, const uint8_t *s, size_t n, wt_norm_buf *buf, size_t *out_n)
{
#ifdef __SSE2__
    __m128i c16[4];
    int simd = simd_changed(m, c16);
#endif
    /* The first character the map changes; before it, nothing to copy. */
    size_t pos = 0, len;
    for (;;) {
#ifdef __SSE2__
        if (simd)
            for (unsigned mask; pos + 16 <= n; pos += 16)
                if ((mask = stop_mask(_mm_loadu_si128((const __m128i *)(s + pos)), c16))) {
                    pos += (unsigned)__builtin_ctz(mask);
                    break;
                }
#endif
        while (pos < n && s[pos] < 0x80 && !m->ascii[s[pos]]) pos++;
        if (pos == n) return 0;
        uint8_t c = s[pos];
        if (c < 0x80) break;
        uint32_t cp = wt_utf8_decode(s, n, pos, &len);
        if (wt_charmap_entry(m, cp)) break;
        pos += len;
    }
    if (wt_norm_buf_reserve(buf, n + 64)) return WT_ENOMEM;
    memcpy(buf->p, s, pos);
    uint8_t *o = buf->p + pos;
    while (pos < n) {
        /* Room for the rest unchanged, and one character's longest output: the
         * kept bytes are copied 16 at a time, past what they keep. */
        size_t at = (size_t)(o - buf->p);
        if (WT_UNLIKELY(at + (n - pos) + 264 > buf->cap)) {
            if (wt_norm_buf_reserve(buf, at + (n - pos) + 264 + (n - pos) / 2)) return WT_ENOMEM;
            o = buf->p + at;
        }
#ifdef __SSE2__
        if (simd) {
            unsigned mask = 0;
            for (; pos + 16 <= n; pos += 16, o += 16) {
                __m128i x = _mm_loadu_si128((const __m128i *)(s + pos));
                _mm_storeu_si128((__m128i *)o, x);
                if ((mask = stop_mask(x, c16))) break;
            }
            if (mask) {
                unsigned k = (unsigned)__builtin_ctz(mask);
                pos += k;
                o += k;
            }
        }
#endif
        while (pos < n && s[pos] < 0x80 && !m->ascii[s[pos]]) *o++ = s[pos++];
        if (pos == n) break;
        uint8_t c = s[pos];
        if (c < 0x80) {
            o = put_entry(m, m->ascii[c], s + pos, 1, o);
            pos++;
            continue;
        }
        uint32_t cp = wt_utf8_decode(s, n, pos, &len);
        o = put_entry(m, wt_charmap_entry(m, cp), s + pos, len, o);
        pos += len;
    }
    *out_n = (size_t)(o - buf->p);
    return 1;
}

/* The first occurrence of a[0..na) in s[pos..n), or n. */
static size_t find_from(const uint8_t *s, size_t n, size_t pos, const uint8_t *a, size_t na)
{
    while (pos + na <= n) {
        const uint8_t *hit = memchr(s + pos, a[0], n - pos - na + 1);
        if (!hit) return n;
        size_t at = (size_t)(hit - s);
        if (memcmp(hit, a, na) == 0) return at;
        pos = at + 1;
    }
    return n;
}

static int first_deleted(const wt_charmap *m, const uint8_t *s, size_t n)
{
    size_t len;
    return wt_charmap_entry(m, wt_utf8_decode(s, n, 0, &len)) == WT_MAP_DELETE;
}

/* The copies of a[0..na) back to back from s[pos]. */
static size_t run_length(const uint8_t *s, size_t n, size_t pos, const uint8_t *a, size_t na)
{
    size_t k = 0;
    while (pos + na <= n && memcmp(s + pos, a, na) == 0) {
        pos += na;
        k++;
    }
    return k;
}

/* The next match of a REPLACE (an occurrence of a) or RUNS (two or more back to
 * back) step in s[pos..n), its bytes in *len; n if none. */
static size_t next_match(const wt_norm_step *st, const uint8_t *s, size_t n, size_t pos, size_t *len)
{
    for (size_t at = find_from(s, n, pos, st->a, st->na); at < n; at = find_from(s, n, at + st->na, st->a, st->na)) {
        size_t k = st->kind == WT_NORM_RUNS ? run_length(s, n, at, st->a, st->na) : 1;
        if (st->kind != WT_NORM_RUNS || k >= 2) {
            *len = k * st->na;
            return at;
        }
    }
    return n;
}

/* A REPLACE or RUNS step: each match becomes b. */
static int replace_apply(const wt_norm_step *st, const uint8_t *s, size_t n, wt_norm_buf *buf, size_t *out_n)
{
    size_t len = 0, at = next_match(st, s, n, 0, &len);
    if (at == n) return 0;
    size_t o = 0, pos = 0;
    for (;;) {
        if (wt_norm_buf_reserve(buf, o + (at - pos) + st->nb + 1)) return WT_ENOMEM;
        memcpy(buf->p + o, s + pos, at - pos);
        o += at - pos;
        if (at == n) break;
        memcpy(buf->p + o, st->b, st->nb);
        o += st->nb;
        pos = at + len;
        at = next_match(st, s, n, pos, &len);
    }
    *out_n = o;
    return 1;
}

/* Rust's char::is_whitespace (Unicode White_Space). */
static int is_white_space(uint32_t c)
{
    return (c >= 9 && c <= 13) || c == 0x20 || c == 0x85 || c == 0xA0 || c == 0x1680 || (c >= 0x2000 && c <= 0x200A)
           || c == 0x2028 || c == 0x2029 || c == 0x202F || c == 0x205F || c == 0x3000;
}

static void strip_bounds(const wt_norm_step *st, const uint8_t *s, size_t n, size_t *lo, size_t *hi)
{
    size_t a = 0, b = n, len;
    if (st->left)
        while (a < b && is_white_space(wt_utf8_decode(s, n, a, &len))) a += len;
    if (st->right)
        while (b > a) {
            size_t p = wt_utf8_prev(s, a, b);
            if (!is_white_space(wt_utf8_decode(s, n, p, &len))) break;
            b = p;
        }
    *lo = a;
    *hi = b;
}

int wt_norm_apply(const wt_norm *nm, const uint8_t *s, size_t n, const uint8_t **out, size_t *out_n,
                  int *lost_start)
{
    norm_scratch *sc = scratch_get();
    if (!sc) return WT_ENOMEM;
    const uint8_t *cur = s;
    size_t cur_n = n;
    int changed = 0, in_buf = -1;    /* the buffer cur lies in, or -1: the input */
    for (int i = 0; i < nm->n_steps; i++) {
        const wt_norm_step *st = &nm->steps[i];
        /* Write into the buffer the current text is not in. */
        int to = in_buf == 0 ? 1 : 0;
        wt_norm_buf *dst = &sc->buf[to];
        size_t got = 0;
        int rc = 0;
        switch (st->kind) {
        case WT_NORM_MAP:
            if (cur_n && first_deleted(&st->map, cur, cur_n)) *lost_start = 1;
            rc = wt_charmap_apply(&st->map, cur, cur_n, dst, &got);
            break;
        case WT_NORM_REPLACE:
            if (st->nb == 0 && cur_n >= st->na && memcmp(cur, st->a, st->na) == 0) *lost_start = 1;
            rc = replace_apply(st, cur, cur_n, dst, &got);
            break;
        case WT_NORM_RUNS:
            if (st->nb == 0 && run_length(cur, cur_n, 0, st->a, st->na) >= 2) *lost_start = 1;
            rc = replace_apply(st, cur, cur_n, dst, &got);
            break;
        case WT_NORM_PREPEND:
            if (cur_n == 0 || st->na == 0) break;
            if (wt_norm_buf_reserve(dst, cur_n + st->na + 1)) return WT_ENOMEM;
            memcpy(dst->p, st->a, st->na);
            memcpy(dst->p + st->na, cur, cur_n);
            got = cur_n + st->na;
            rc = 1;
            break;
        case WT_NORM_STRIP: {
            size_t lo, hi;
            strip_bounds(st, cur, cur_n, &lo, &hi);
            if (lo == 0 && hi == cur_n) break;
            if (lo) *lost_start = 1;
            cur += lo;              /* a slice of the current text: nothing copied */
            cur_n = hi - lo;
            changed = 1;
            continue;
        }
        case WT_NORM_PRECOMPILED:
            rc = wt_precompiled_apply(st->pc, cur, cur_n, dst, &got);
            break;
        default:
            return WT_EINVAL;
        }
        if (rc < 0) return rc;
        if (rc == 1) {
            cur = dst->p;
            cur_n = got;
            changed = 1;
            in_buf = to;
        }
    }
    if (!changed) return 0;
    *out = cur;
    *out_n = cur_n;
    return 1;
}
