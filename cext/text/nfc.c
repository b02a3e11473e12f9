/* Unicode NFC (see nfc.h). Text is split at stable code points (a combining
 * class of 0, unchanged by NFC, never joined to the one before): NFC of the
 * whole is NFC of each part. Most text has no unstable code point at all and
 * is only scanned; around each unstable one, the region from the stable code
 * point before it to the next stable one is decomposed, put in canonical
 * order and composed again, and copied out only if that changed it. */
#include "text/nfc.h"

#include "common/alloc.h"
#include "common/utf8.h"

/* Hangul syllables: S = S0 + (L * V_COUNT + V) * T_COUNT + T. */
enum {
    S0 = 0xAC00, L0 = 0x1100, V0 = 0x1161, T0 = 0x11A7,
    L_COUNT = 19, V_COUNT = 21, T_COUNT = 28, N_COUNT = V_COUNT * T_COUNT, S_COUNT = L_COUNT * N_COUNT,
};

#define MAX_CP 0x110000u

WT_INLINE size_t cp_home(uint32_t cp, size_t mask) { return ((uint64_t)cp * 0x9E3779B97F4A7C15ull >> 40) & mask; }
WT_INLINE size_t pair_home(uint64_t key, size_t mask) { return (key * 0x9E3779B97F4A7C15ull >> 40) & mask; }
WT_INLINE uint64_t pair_key(uint32_t a, uint32_t b) { return ((uint64_t)a << 21) | b; }

WT_INLINE int unstable(const wt_nfc *f, uint32_t cp) { return (f->unstable[cp >> 3] >> (cp & 7)) & 1; }

static const wt_nfc_char *char_find(const wt_nfc *f, uint32_t cp)
{
    for (size_t i = cp_home(cp, f->chars_mask);; i = (i + 1) & f->chars_mask) {
        if (f->chars[i].cp == cp) return &f->chars[i];
        if (f->chars[i].cp == 0) return NULL;
    }
}

WT_INLINE uint32_t ccc(const wt_nfc *f, uint32_t cp)
{
    const wt_nfc_char *c = char_find(f, cp);
    return c ? c->info & 0xFF : 0;
}

/* The primary composite of a and b, or 0. */
static uint32_t compose(const wt_nfc *f, uint32_t a, uint32_t b)
{
    if (a - L0 < L_COUNT && b - V0 < V_COUNT) return S0 + ((a - L0) * V_COUNT + (b - V0)) * T_COUNT;
    if (a - S0 < S_COUNT && (a - S0) % T_COUNT == 0 && b - T0 - 1 < T_COUNT - 1) return a + (b - T0);
    uint64_t key = pair_key(a, b);
    for (size_t i = pair_home(key, f->pairs_mask);; i = (i + 1) & f->pairs_mask) {
        if (f->pairs[i].key == key) return f->pairs[i].composite;
        if (f->pairs[i].key == 0) return 0;
    }
}

void wt_nfc_free(wt_nfc *f)
{
    wt_free(f->unstable);
    wt_free(f->chars);
    wt_free(f->decomp);
    wt_free(f->pairs);
    memset(f, 0, sizeof *f);
}

int wt_nfc_init(wt_nfc *f, const uint8_t *unstable_bits, size_t n_chars, const uint32_t *char_cp,
                const uint8_t *char_ccc, const uint8_t *decomp_len, const uint32_t *decomp,
                size_t n_pairs, const uint32_t *pair_first, const uint32_t *pair_second,
                const uint32_t *pair_composite)
{
    memset(f, 0, sizeof *f);
    size_t total = 0;
    for (size_t i = 0; i < n_chars; i++) total += decomp_len[i];
    if (total > 0xFFFF) return WT_EINVAL;         /* starts are 16 bits */
    f->chars_mask = wt_pow2_at_least(n_chars * 2 + 1) - 1;
    f->pairs_mask = wt_pow2_at_least(n_pairs * 2 + 1) - 1;
    f->unstable = wt_malloc(MAX_CP / 8);
    f->chars = wt_calloc(f->chars_mask + 1, sizeof *f->chars);
    f->decomp = wt_malloc((total + 1) * sizeof *f->decomp);
    f->pairs = wt_calloc(f->pairs_mask + 1, sizeof *f->pairs);
    if (!f->unstable || !f->chars || !f->decomp || !f->pairs) {
        wt_nfc_free(f);
        return WT_ENOMEM;
    }
    memcpy(f->unstable, unstable_bits, MAX_CP / 8);
    for (size_t b = 0; b < 1024; b++) {
        uint64_t bits;
        memcpy(&bits, f->unstable + 8 * b, 8);
        if (!bits) f->stable64[b / 64] |= 1ull << (b % 64);
    }
    f->max_decomp = 3;                            /* a Hangul syllable */
    for (size_t i = 0; i < n_chars; i++)
        if (decomp_len[i] > f->max_decomp) f->max_decomp = decomp_len[i];
    memcpy(f->decomp, decomp, total * sizeof *f->decomp);
    for (size_t i = 0, start = 0; i < n_chars; start += decomp_len[i++]) {
        uint32_t cp = char_cp[i];
        if (cp == 0 || cp >= MAX_CP || char_find(f, cp)) { wt_nfc_free(f); return WT_EINVAL; }
        size_t k = cp_home(cp, f->chars_mask);
        while (f->chars[k].cp) k = (k + 1) & f->chars_mask;
        f->chars[k] = (wt_nfc_char){cp, char_ccc[i] | (uint32_t)decomp_len[i] << 8 | (uint32_t)start << 16};
    }
    for (size_t i = 0; i < n_pairs; i++) {
        uint64_t key = pair_key(pair_first[i], pair_second[i]);
        if (pair_first[i] == 0 || pair_first[i] >= MAX_CP || pair_second[i] >= MAX_CP) {
            wt_nfc_free(f);
            return WT_EINVAL;
        }
        size_t k = pair_home(key, f->pairs_mask);
        while (f->pairs[k].key) k = (k + 1) & f->pairs_mask;
        f->pairs[k] = (wt_nfc_pair){.key = key, .composite = pair_composite[i]};
    }
    return 0;
}

void wt_nfc_scratch_free(wt_nfc_scratch *sc)
{
    wt_free(sc->out);
    wt_free(sc->cps);
    wt_free(sc->cls);
    memset(sc, 0, sizeof *sc);
}

static int grow(void **p, size_t *cap, size_t need, size_t size)
{
    if (need <= *cap) return 0;
    size_t c = wt_pow2_at_least(need);
    void *q = wt_realloc(*p, c * size);
    if (!q) return WT_ENOMEM;
    *p = q;
    *cap = c;
    return 0;
}

/* Stable sort of a run of non-starters (code points cp, classes cls) by class:
 * insertion for the usual few, counting for long runs (a text of 10^5 marks
 * must stay linear). */
static int sort_run(uint32_t *cp, uint8_t *cls, size_t n, uint64_t *work)
{
    if (n <= 32) {
        for (size_t i = 1; i < n; i++) {
            uint32_t c = cp[i];
            uint8_t k = cls[i];
            size_t j = i;
            for (; j > 0 && cls[j - 1] > k; j--) { cp[j] = cp[j - 1]; cls[j] = cls[j - 1]; }
            *work += 1 + (i - j);
            cp[j] = c;
            cls[j] = k;
        }
        return 0;
    }
    *work += 3 * n + 256;
    size_t start[257] = {0};
    uint32_t *tmp = wt_malloc(n * sizeof *tmp);
    if (!tmp) return WT_ENOMEM;
    for (size_t i = 0; i < n; i++) start[cls[i] + 1]++;
    for (int k = 0; k < 256; k++) start[k + 1] += start[k];
    for (size_t i = 0; i < n; i++) tmp[start[cls[i]]++] = cp[i];
    memcpy(cp, tmp, n * sizeof *tmp);
    wt_free(tmp);
    for (size_t i = 0, k = 0; k < 256; k++)    /* start[k] is now the end of class k */
        while (i < start[k]) cls[i++] = (uint8_t)k;
    return 0;
}

/* NFC of the code points cp[0..m) (classes cls) in place; returns the new count. */
static size_t compose_all(const wt_nfc *f, uint32_t *cp, const uint8_t *cls, size_t m)
{
    size_t w = 0, starter = SIZE_MAX;
    int last = -1;               /* class of the last code point kept after the starter */
    for (size_t i = 0; i < m; i++) {
        uint32_t c = cp[i];
        int k = cls[i];
        if (starter != SIZE_MAX && last < k) {      /* not blocked */
            uint32_t joined = compose(f, cp[starter], c);
            if (joined) {
                cp[starter] = joined;
                continue;
            }
        }
        if (k == 0) {
            starter = w;
            last = -1;
        } else {
            last = k;
        }
        cp[w++] = c;
    }
    return w;
}

static int encode_utf8(uint32_t c, uint8_t *o)
{
    if (c < 0x80) { o[0] = (uint8_t)c; return 1; }
    if (c < 0x800) { o[0] = (uint8_t)(0xC0 | c >> 6); o[1] = (uint8_t)(0x80 | (c & 0x3F)); return 2; }
    if (c < 0x10000) {
        o[0] = (uint8_t)(0xE0 | c >> 12); o[1] = (uint8_t)(0x80 | (c >> 6 & 0x3F)); o[2] = (uint8_t)(0x80 | (c & 0x3F));
        return 3;
    }
    o[0] = (uint8_t)(0xF0 | c >> 18); o[1] = (uint8_t)(0x80 | (c >> 12 & 0x3F));
    o[2] = (uint8_t)(0x80 | (c >> 6 & 0x3F)); o[3] = (uint8_t)(0x80 | (c & 0x3F));
    return 4;
}

/* Decompose s[0..n) into sc->cps (their classes in sc->cls), put each run of
 * non-starters in canonical order, compose; returns the code point count or
 * WT_ENOMEM. */
static int64_t region_nfc(const wt_nfc *f, const uint8_t *s, size_t n, wt_nfc_scratch *sc)
{
    size_t need = n * f->max_decomp;
    if (grow((void **)&sc->cps, &sc->cps_cap, need, sizeof *sc->cps) ||
        grow((void **)&sc->cls, &sc->cls_cap, need, 1))
        return WT_ENOMEM;
    uint32_t *cp = sc->cps;
    uint8_t *cls = sc->cls;
    size_t m = 0;
    for (size_t p = 0, len; p < n; p += len) {
        uint32_t c = wt_utf8_decode(s, n, p, &len);
        const wt_nfc_char *ch;
        if (c - S0 < S_COUNT) {                 /* Hangul: L V (T), all starters */
            uint32_t k = c - S0;
            cls[m] = 0; cp[m++] = L0 + k / N_COUNT;
            cls[m] = 0; cp[m++] = V0 + k % N_COUNT / T_COUNT;
            if (k % T_COUNT) { cls[m] = 0; cp[m++] = T0 + k % T_COUNT; }
        } else if ((ch = char_find(f, c)) && (ch->info >> 8 & 0xFF)) {
            const uint32_t *d = f->decomp + (ch->info >> 16);
            for (size_t i = 0, len_d = ch->info >> 8 & 0xFF; i < len_d; i++) {
                cls[m] = (uint8_t)ccc(f, d[i]);
                cp[m++] = d[i];
            }
        } else {
            cls[m] = ch ? (uint8_t)(ch->info & 0xFF) : 0;
            cp[m++] = c;
        }
    }
    for (size_t i = 0; i < m;) {
        if (cls[i] == 0) { i++; continue; }
        size_t j = i + 1;
        while (j < m && cls[j] != 0) j++;
        if (j - i > 1 && sort_run(cp + i, cls + i, j - i, &sc->work)) return WT_ENOMEM;
        i = j;
    }
    sc->work += 2 * m;                         /* decomposed, then composed */
    return (int64_t)compose_all(f, cp, cls, m);
}

int wt_nfc_apply(const wt_nfc *f, const uint8_t *s, size_t n, wt_nfc_scratch *sc, size_t *out_n)
{
    size_t pos = 0, copied = 0, o = 0;     /* s[0..copied) is out[0..o) */
    int changed = 0;
    while (pos < n) {
        if (s[pos] < 0x80) {
            size_t from = pos;
            pos = wt_skip_ascii_words(s, n, pos + 1, 1, 0);
            sc->work += 1 + (pos - from) / 8;  /* a word a step */
            continue;
        }
        /* A two- or three-byte character from a stable run of 64 code points (most
         * scripts' letters): known from its first two bytes, with no decoding. */
        uint8_t b0 = s[pos];
        size_t blen = b0 < 0xE0 ? 2 : 3;
        if (b0 < 0xF0 && pos + blen <= n) {
            size_t blk = b0 < 0xE0 ? (b0 & 0x1Fu) : (size_t)(b0 & 0x0F) << 6 | (s[pos + 1] & 0x3Fu);
            if (f->stable64[blk / 64] >> (blk % 64) & 1) {
                pos += blen;
                sc->work++;
                continue;
            }
        }
        size_t len;
        uint32_t c = wt_utf8_decode(s, n, pos, &len);
        sc->work++;
        if (!unstable(f, c)) { pos += len; continue; }
        /* The region: from the stable code point before (or the start) to the next stable one. */
        size_t rs = pos > copied ? wt_utf8_prev(s, copied, pos) : pos, re = pos + len;
        while (re < n) {
            size_t l2;
            uint32_t c2 = wt_utf8_decode(s, n, re, &l2);
            sc->work++;
            if (!unstable(f, c2)) break;
            re += l2;
        }
        int64_t m = region_nfc(f, s + rs, re - rs, sc);
        if (m < 0) return (int)m;
        size_t at = o + (rs - copied);
        if (grow((void **)&sc->out, &sc->out_cap, at + 4 * (size_t)m, 1)) return WT_ENOMEM;
        size_t k = 0;
        for (int64_t i = 0; i < m; i++) k += (size_t)encode_utf8(sc->cps[i], sc->out + at + k);
        if (k != re - rs || memcmp(sc->out + at, s + rs, k) != 0) {   /* changed: keep it */
            memcpy(sc->out + o, s + copied, rs - copied);
            o = at + k;
            copied = re;
            changed = 1;
        }
        pos = re;
    }
    if (!changed) return 0;
    if (grow((void **)&sc->out, &sc->out_cap, o + (n - copied), 1)) return WT_ENOMEM;
    memcpy(sc->out + o, s + copied, n - copied);
    *out_n = o + (n - copied);
    return 1;
}
