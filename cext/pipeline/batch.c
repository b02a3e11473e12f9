/* Batches: many texts, and long ones in parts, on the worker pool. */
#include "pipeline/tokenizer.h"

#include <stdatomic.h>

#include "common/alloc.h"
#include "common/pool.h"
#include "common/utf8.h"
#include "text/precompiled.h"
#include "text/unicode_data.h"

#ifdef __SSE2__
#include <emmintrin.h>
#endif

/* A batch is a list of units: a whole document, or a part of a long one, cut
 * where the pre-tokenizer provably starts afresh, so that one long text keeps
 * every thread busy. Units are grouped into chunks of about equal bytes; a
 * chunk is one pool task with its own output buffer. Chunks finish in any
 * order; ready counts the leading chunks that are done, so a caller can use
 * their documents while later chunks are still being encoded. */
#define WT_SPLIT_MIN ((size_t)128 << 10)    /* shorter texts stay whole */
#define WT_SPLIT_PART ((size_t)64 << 10)    /* the least bytes of a part */

typedef struct {
    size_t doc, start, end;  /* bytes [start, end) of texts[doc] */
    int first, last;         /* the document's first and last part */
} wt_unit;

struct wt_batch {
    const wt_tokenizer *t;
    const wt_text *texts;
    wt_encode_opts o;
    size_t n_texts, n_units, n_chunks;
    wt_unit *units;
    size_t *chunk_first;     /* chunk c encodes units [chunk_first[c], chunk_first[c+1]) */
    wt_ids *chunk_out;
    atomic_uchar *chunk_done;
    size_t *unit_len;        /* ids of unit u, at unit_at[u] in its chunk's buffer */
    size_t *unit_at;
    int64_t *doc_len;        /* set as the caller sees the doc's last chunk done */
    const uint32_t **doc_ids;
    uint32_t **joined;       /* a document in parts: its ids in one buffer */
    size_t ready, ready_units, ready_docs;   /* chunks, units and documents done (the caller's view) */
    wt_job *job;
    atomic_int err;
};

/* A model's tokenizer (WordPiece, WordLevel) may be cut at a space when its first
 * split drops spaces by class (BertPreTokenizer, Whitespace, WhitespaceSplit: no
 * piece crosses one; later splits work inside those pieces) and its normalizer
 * maps each character on its own, a space to itself (the parts then normalize
 * to the whole's; Prepend, Strip and Replace of a string would not). */
static int model_splittable(const wt_tokenizer *t)
{
    const wt_stage *first = &t->stages[0];
    if (first->kind != WT_STAGE_CLASSES || first->classes.ascii[' '] != WT_CLASS_REMOVED) return 0;
    for (uint32_t k = 0; k < t->n_stages; k++)
        if (t->stages[k].kind == WT_STAGE_METASPACE) return 0;
    if (t->norm)
        for (int i = 0; i < t->norm->n_steps; i++)
            if (t->norm->steps[i].kind != WT_NORM_MAP || t->norm->steps[i].map.ascii[' '] != 0) return 0;
    return 1;
}

/* How a long text is cut into parts (plan_units): not at all; at a space that
 * find_cut accepts (the part after the cut starts with the space); or, for a model
 * cut before U+2581 (SentencePiece BPE) whose normalizer maps a space to U+2581,
 * at a space that rep_cut accepts, where a normalizer that prepends U+2581 to a
 * text brings it back to the part after it (REP_PREPENDED: that part starts after
 * the space); or, for a Metaspace split (Unigram), at a space that meta_cut_at
 * accepts (the part after starts with the space). */
enum { CUT_NONE, CUT_SPACE, CUT_REP, CUT_REP_PREPENDED, CUT_META };

static const uint8_t REP[3] = {0xE2, 0x96, 0x81};

/* Whether a model tokenizer cuts at U+2581: one per-character map that sends a space
 * to U+2581 (each code point on its own: a part normalizes to its share of the whole)
 * and never makes a space, at most one Prepend of U+2581 (CUT_REP_PREPENDED then), and
 * no split but on a pattern that starts with a space (Gemma 3's): after the map it
 * never matches. */
static int rep_cut_mode(const wt_tokenizer *t)
{
    if (!wt_model_cuts(t->model) || !t->norm) return CUT_NONE;
    for (uint32_t k = 0; k < t->n_stages; k++) {
        const wt_stage *st = &t->stages[k];
        if (st->kind != WT_STAGE_PATTERN || !st->re || st->scan.family || st->invert || st->prefix_space ||
            st->re->start_byte != ' ')
            return CUT_NONE;
    }
    int prepends = 0, maps = 0;
    for (int i = 0; i < t->norm->n_steps; i++) {
        const wt_norm_step *st = &t->norm->steps[i];
        if (st->kind == WT_NORM_PREPEND && st->na == 3 && !memcmp(st->a, REP, 3)) {
            prepends++;
        } else if (st->kind == WT_NORM_MAP) {
            uint32_t e = st->map.ascii[' '];
            if ((e & 0xff) != 3 || e == WT_MAP_DELETE || e == WT_MAP_PAD || st->map.makes_space ||
                memcmp(st->map.blob + (e >> 8), REP, 3))
                return CUT_NONE;
            maps++;
        } else {
            return CUT_NONE;
        }
    }
    if (maps != 1 || prepends > 1) return CUT_NONE;
    /* A token matched after normalization could hold U+2581 (its last byte checked). */
    const wt_added *a = &t->added[1];
    if (a->n_nodes && memchr(a->edge_byte, REP[2], a->first_edge[a->n_nodes])) return CUT_NONE;
    return prepends ? CUT_REP_PREPENDED : CUT_REP;
}

/* Whether a tokenizer whose one pre-tokenizer is a Metaspace that splits may be cut
 * at a space. Its pieces each begin at a U+2581 and the model sees each alone, so
 * parts that normalize to the whole's normalized text, cut before the space's U+2581,
 * make the whole's pieces; the part after starts with the space, so no prepend_scheme
 * adds to it. Each step must normalize the whole as the parts joined, and keep the
 * space:
 * - a per-character map keeping a space: always;
 * - Replace of a string without a space: no match crosses the space;
 * - runs of spaces squeezed: when the space's neighbours stay non-spaces (meta_cut_at
 *   asks for letters every step keeps, so no Replace may change them);
 * - Precompiled (one; grapheme clusters): when it keeps a space, and the neighbours
 *   are ASCII letters or digits it keeps, each a cluster of its own (meta_cut_at).
 * Prepend, Strip and NFC are refused. An lstrip added token after the space would
 * strip it and the spaces before it in the whole only: the letter before the space
 * stops that, unless a Replace changed it. */
static int meta_cut_mode(const wt_tokenizer *t)
{
    const wt_stage *st = &t->stages[0];
    if (t->n_stages != 1 || st->kind != WT_STAGE_METASPACE || st->re || !st->ms.split || t->nfc.unstable)
        return CUT_NONE;
    int replaces = 0, squeezes = 0, precompiled = 0;
    for (int i = 0; t->norm && i < t->norm->n_steps; i++) {
        const wt_norm_step *ns = &t->norm->steps[i];
        if (ns->kind == WT_NORM_MAP && ns->map.ascii[' '] == 0) continue;
        if (ns->kind == WT_NORM_REPLACE && ns->na && !memchr(ns->a, ' ', ns->na)) {
            replaces++;
        } else if (ns->kind == WT_NORM_RUNS && ns->na == 1 && ns->a[0] == ' ') {
            squeezes++;
        } else if (ns->kind == WT_NORM_PRECOMPILED) {
            wt_norm_buf buf = {0};
            size_t out_n = 0;
            int rc = wt_precompiled_apply(ns->pc, (const uint8_t *)" ", 1, &buf, &out_n);
            int kept = rc == 0 || (rc == 1 && out_n == 1 && buf.p[0] == ' ');
            wt_free(buf.p);
            if (!kept) return CUT_NONE;
            precompiled++;
        } else {
            return CUT_NONE;
        }
    }
    if (precompiled > 1 || (replaces && (squeezes || precompiled))) return CUT_NONE;
    for (int pass = 0; replaces && pass < 2; pass++)
        for (uint32_t k = 0; k < t->added[pass].n_added; k++)
            if (t->added[pass].added_flags[k] & WT_ADDED_LSTRIP) return CUT_NONE;
    return CUT_META;
}

/* A split by one repeated class of listed characters with ASCII members ([a-z ]+,
 * say): its runs may hold a space or punctuation between letters. */
static int ascii_run(const wt_scanner *sc)
{
    for (int k = 0; sc->family == WT_SCAN_RUN && k < sc->n_ranges; k++)
        if (sc->ranges[k][0] < 0x80) return 1;
    return 0;
}

/* How a text may be cut (see above): with CUT_SPACE every split is a scanner's that
 * keeps its matches (or, with a model, model_splittable) and no class run of ASCII
 * (ascii_run); and no added token holds a space or takes the spaces after it. */
static int cut_mode(const wt_tokenizer *t)
{
    int mode = t->model ? rep_cut_mode(t) : CUT_NONE;
    if (mode == CUT_NONE && t->model && t->n_stages) mode = meta_cut_mode(t);
    if (mode == CUT_NONE) {
        if (t->n_stages == 0) return CUT_NONE;
        if (t->model) {
            if (!model_splittable(t)) return CUT_NONE;
        } else {
            if (t->norm) return CUT_NONE;
            for (uint32_t k = 0; k < t->n_stages; k++) {
                const wt_stage *st = &t->stages[k];
                int keeps_matches = st->behavior == WT_SPLIT_ISOLATED || (st->behavior == WT_SPLIT_REMOVED && st->invert);
                if (!st->re || !st->scan.family || !keeps_matches || ascii_run(&st->scan)) return CUT_NONE;
            }
        }
        mode = CUT_SPACE;
    }
    for (int pass = 0; pass < 2; pass++) {
        const wt_added *a = &t->added[pass];
        if (a->n_nodes == 0) continue;
        if (memchr(a->edge_byte, ' ', a->first_edge[a->n_nodes])) return CUT_NONE;
        for (uint32_t k = 0; k < a->n_added; k++)
            if (a->added_flags[k] & WT_ADDED_RSTRIP) return CUT_NONE;
    }
    return mode;
}

/* What plan_units needs to find cuts. */
typedef struct {
    const wt_tokenizer *t;
    int mode, dialect;
    uint8_t ends_added[256];     /* CUT_REP_PREPENDED: the last bytes of pass 0's added tokens */
    int strict;                  /* CUT_META with Precompiled: ASCII neighbours, */
    uint8_t keep[128];           /* that every map and the charsmap keep (each alone) */
    uint8_t punct[128];          /* CUT_SPACE: the ASCII punctuation a text may also be cut before (punct_cut_at) */
} cut_plan;

/* CUT_META: which ASCII characters every step keeps, the charsmap's on their own
 * (out of memory: none, so no cut). */
static void meta_plan_init(cut_plan *cp, const wt_tokenizer *t)
{
    wt_norm_buf buf = {0};
    memset(cp->keep, 1, sizeof cp->keep);
    for (int i = 0; t->norm && i < t->norm->n_steps; i++) {
        const wt_norm_step *ns = &t->norm->steps[i];
        for (int c = 0; c < 128; c++) {
            if (ns->kind == WT_NORM_MAP && ns->map.ascii[c]) cp->keep[c] = 0;
            if (ns->kind != WT_NORM_PRECOMPILED) continue;
            cp->strict = 1;
            uint8_t ch = (uint8_t)c;
            size_t out_n = 0;
            int rc = wt_precompiled_apply(ns->pc, &ch, 1, &buf, &out_n);
            if (!(rc == 0 || (rc == 1 && out_n == 1 && buf.p[0] == ch))) cp->keep[c] = 0;
        }
    }
    wt_free(buf.p);
}

WT_INLINE int ascii_letter(uint8_t c) { return (uint8_t)((c | 0x20) - 'a') < 26; }
WT_INLINE int ascii_punct(uint8_t c) { return c > ' ' && c < 0x7F && !ascii_letter(c) && (uint8_t)(c - '0') >= 10; }

/* CUT_SPACE: the punctuation punct_cut_at may cut before. None when a split adds a
 * space to a piece that lacks one (ByteLevel's add_prefix_space: the part after the
 * cut would get one); not '\'' for o200k's letter runs, which take a contraction after
 * them; and not a byte that follows an ASCII letter inside an added token. */
static void punct_plan_init(cut_plan *cp, const wt_tokenizer *t)
{
    for (int c = 0; c < 128; c++) cp->punct[c] = (uint8_t)ascii_punct((uint8_t)c);
    for (uint32_t k = 0; k < t->n_stages; k++) {
        if (t->stages[k].prefix_space) memset(cp->punct, 0, sizeof cp->punct);
        if (t->stages[k].scan.family == WT_SCAN_O200K) cp->punct['\''] = 0;
    }
    for (int pass = 0; pass < 2; pass++) {
        const wt_added *a = &t->added[pass];
        if (a->n_nodes == 0) continue;
        uint8_t *into = wt_calloc(a->n_nodes, 1);   /* the byte of the edge into each node (the root: 0) */
        if (!into) {
            memset(cp->punct, 0, sizeof cp->punct);   /* out of memory: no such cut */
            return;
        }
        for (uint32_t e = 0; e < a->first_edge[a->n_nodes]; e++) into[a->edge_target[e]] = a->edge_byte[e];
        for (uint32_t k = 0; k < a->n_nodes; k++)
            for (uint32_t e = a->first_edge[k]; e < a->first_edge[k + 1]; e++)
                if (ascii_letter(into[k]) && a->edge_byte[e] < 0x80) cp->punct[a->edge_byte[e]] = 0;
        wt_free(into);
    }
}

static void cut_plan_init(cut_plan *cp, const wt_tokenizer *t, int mode)
{
    memset(cp, 0, sizeof *cp);
    cp->t = t;
    cp->mode = mode;
    if (mode == CUT_SPACE) {
        cp->dialect = t->stages[t->n_stages - 1].scan.dialect;
        punct_plan_init(cp, t);
    }
    if (mode == CUT_META) meta_plan_init(cp, t);
    if (mode != CUT_REP_PREPENDED) return;
    const wt_added *a = &t->added[0];
    for (uint32_t k = 0; k < a->n_nodes; k++)
        for (uint32_t e = a->first_edge[k]; e < a->first_edge[k + 1]; e++)
            if (a->node_added[a->edge_target[e]] >= 0) cp->ends_added[a->edge_byte[e]] = 1;
}

/* \p{L}, or with digits \p{L} or \p{N}, in the tokenizer's Unicode tables. */
static int letter(int dialect, uint32_t cp, int digits)
{
    unsigned gc = wt_uc_props(dialect, cp) & WT_UC_GC_MASK;
    return (gc >= WT_GC_Lu && gc <= WT_GC_Lo) || (digits && gc >= WT_GC_Nd && gc <= WT_GC_No);
}

/* Whether text s (n bytes) can be cut before byte i (1 <= i < n - 1): a space
 * after a letter or digit and before a letter, in any script. No piece of the
 * scanner families crosses it (their letter and digit runs end before a space,
 * and the space begins the next word's piece, whatever came before; DeepSeek-V3's
 * CJK and digit runs end there too), nor does an added token (cut_mode), and
 * NFC neither changes a space nor composes across it. */
static int cut_at(int dialect, const uint8_t *s, size_t n, size_t i)
{
    size_t len;
    uint8_t before = s[i - 1], after = s[i + 1];
    if (s[i] != ' ' || !(after < 0x80 ? ascii_letter(after) : letter(dialect, wt_utf8_decode(s, n, i + 1, &len), 0)))
        return 0;
    if (before < 0x80) return ascii_letter(before) || (uint8_t)(before - '0') < 10;
    return letter(dialect, wt_utf8_decode(s, n, wt_utf8_prev(s, 0, i), &len), 1);
}

/* Whether text s can be cut before byte i (1 <= i): ASCII punctuation (cp->punct)
 * after an ASCII letter. No piece of the scanner families holds both: letter runs end
 * at punctuation (o200k's take a contraction after them: '\'' is not in cp->punct), and
 * punctuation runs and the prefix character of a letter run begin after a letter; so
 * every piece either ends by i or begins there, and matching from i looks only ahead.
 * DeepSeek-V3's digit and CJK runs end there too, no added token holds the pair
 * (punct_plan_init), and NFC composes neither with the punctuation (a starter that no
 * composition ends with) nor across it. Text with no space (code, URLs, 'x=' * 10**6)
 * is cut there. */
WT_INLINE int punct_cut_at(const cut_plan *cp, const uint8_t *s, size_t i)
{
    return s[i] < 0x80 && cp->punct[s[i]] && ascii_letter(s[i - 1]);
}

/* Whether every map step of the normalizer keeps the code point c. */
static int maps_keep(const wt_norm *nm, uint32_t c)
{
    for (int k = 0; nm && k < nm->n_steps; k++) {
        const wt_norm_step *st = &nm->steps[k];
        if (st->kind == WT_NORM_MAP && (c < 0x80 ? st->map.ascii[c] : wt_charmap_entry(&st->map, c))) return 0;
    }
    return 1;
}

/* The characters on either side of the space s[i] (1 <= i < n - 1): a letter or digit
 * before it (at *at, *blen bytes) and a letter after it, in any script, that every map
 * keeps; 0 if not so. */
static int kept_letters(const cut_plan *cp, const uint8_t *s, size_t n, size_t i, size_t *at, size_t *blen)
{
    uint8_t before = s[i - 1], after = s[i + 1];
    size_t len;
    if (before < 0x80 && after < 0x80) {
        *at = i - 1;
        *blen = 1;
        return ascii_letter(after) && (ascii_letter(before) || (uint8_t)(before - '0') < 10) &&
               maps_keep(cp->t->norm, before) && maps_keep(cp->t->norm, after);
    }
    *at = wt_utf8_prev(s, 0, i);
    uint32_t b = wt_utf8_decode(s, n, *at, blen), a = wt_utf8_decode(s, n, i + 1, &len);
    return letter(cp->dialect, a, 0) && letter(cp->dialect, b, 1) && maps_keep(cp->t->norm, b) &&
           maps_keep(cp->t->norm, a);
}

/* Whether text s (n bytes) can be cut at the space s[i] by rep_cut_mode (1 <= i < n - 1):
 * it follows a letter or digit the normalizer keeps and the model cuts after (the
 * model's own test for the whole text's piece), and a letter the normalizer keeps comes
 * next. With a Prepend, the part after the cut starts at that letter, so no added token
 * of pass 0 may start there or end before the space (HF prepends to each segment the
 * added tokens leave: the whole's would differ from the parts'); the tests are by the
 * first and last byte of the tokens. */
static int rep_cut_at(const cut_plan *cp, const uint8_t *s, size_t n, size_t i)
{
    const wt_tokenizer *t = cp->t;
    size_t at, blen;
    /* NFC before the map could change a non-ASCII letter, and the model tests the result */
    if (t->nfc.unstable && (s[i - 1] >= 0x80 || s[i + 1] >= 0x80)) return 0;
    if (!kept_letters(cp, s, n, i, &at, &blen)) return 0;
    if (cp->mode == CUT_REP_PREPENDED && (t->added[0].root_bytes[s[i + 1]] || cp->ends_added[s[i - 1]])) return 0;
    return wt_model_cuts_after_char(t->model, s + at, blen);
}

/* Whether text s can be cut at the space s[i] by meta_cut_mode (1 <= i < n - 1): a
 * letter or digit before it and a letter after it that every step keeps. With
 * Precompiled, ASCII ones, and ASCII characters around them (not before the space:
 * GB9b's Prepend; not after it: GB9's marks), so that the two and the space are
 * clusters of their own. */
static int meta_cut_at(const cut_plan *cp, const uint8_t *s, size_t n, size_t i)
{
    size_t at, blen;
    if (!cp->strict) return kept_letters(cp, s, n, i, &at, &blen);
    uint8_t b = s[i - 1], a = s[i + 1], bb = i >= 2 ? s[i - 2] : ' ', aa = i + 2 < n ? s[i + 2] : ' ';
    return (ascii_letter(b) || (uint8_t)(b - '0') < 10) && ascii_letter(a) && bb < 0x80 && aa < 0x80 &&
           cp->keep[b] && cp->keep[a] && cp->keep[bb] && cp->keep[aa];
}

/* The first space in [from, to) that cut_at accepts, or 0. */
static size_t space_cut_in(int dialect, const uint8_t *s, size_t n, size_t from, size_t to)
{
    size_t i = from;
#ifdef __SSE2__
    /* 16 at a time, the spaces before an ASCII letter or a non-ASCII character
     * first: a run of spaces is passed quickly. */
    const __m128i space = _mm_set1_epi8(' '), case_bit = _mm_set1_epi8(0x20);
    const __m128i shift = _mm_set1_epi8((char)(0x80 - 'a')), limit = _mm_set1_epi8((char)(26 - 128));
    for (; i + 16 < to; i += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(s + i)), y = _mm_loadu_si128((const __m128i *)(s + i + 1));
        __m128i letter_next = _mm_cmplt_epi8(_mm_add_epi8(_mm_or_si128(y, case_bit), shift), limit);
        unsigned m = (unsigned)_mm_movemask_epi8(_mm_cmpeq_epi8(x, space))
                     & ((unsigned)_mm_movemask_epi8(letter_next) | (unsigned)_mm_movemask_epi8(y));
        for (; m; m &= m - 1)
            if (cut_at(dialect, s, n, i + (unsigned)__builtin_ctz(m))) return i + (unsigned)__builtin_ctz(m);
    }
#endif
    for (; i < to; i++)
        if (cut_at(dialect, s, n, i)) return i;
    return 0;
}

/* The first position in [from, to) where s can be cut, or 0 (1 <= from, to < n - 1).
 * CUT_SPACE looks a stretch at a time for a space, then for punctuation (text
 * without spaces is cut there too, and text with them pays nothing more). */
static size_t find_cut(const cut_plan *cp, const uint8_t *s, size_t n, size_t from, size_t to)
{
    if (cp->mode != CUT_SPACE) {
        for (size_t i = from; i < to; i++) {
            const uint8_t *hit = memchr(s + i, ' ', to - i);
            if (!hit) return 0;
            i = (size_t)(hit - s);
            if (cp->mode == CUT_META ? meta_cut_at(cp, s, n, i) : rep_cut_at(cp, s, n, i)) return i;
        }
        return 0;
    }
    enum { STRETCH = 4096 };
    for (size_t lo = from, hi; lo < to; lo = hi) {
        hi = to - lo > STRETCH ? lo + STRETCH : to;
        size_t i = space_cut_in(cp->dialect, s, n, lo, hi);
        if (i) return i;
        for (i = lo; i < hi; i++)
            if (punct_cut_at(cp, s, i)) return i;
    }
    return 0;
}

static int encode_unit(const wt_batch *b, const wt_unit *u, wt_ids *out)
{
    const wt_text *tx = &b->texts[u->doc];
    if (u->first && u->last) return wt_encode(b->t, tx->s, tx->n, &b->o, out);
    const wt_tokenizer *t = b->t;
    wt_encode_opts o = b->o;
    int rc;
    o.add_special = 0;
    if (u->first && b->o.add_special && (rc = wt_ids_push(out, t->prefix, t->n_prefix))) return rc;
    if ((rc = wt_encode(t, tx->s + u->start, u->end - u->start, &o, out))) return rc;
    if (u->last && b->o.add_special && (rc = wt_ids_push(out, t->suffix, t->n_suffix))) return rc;
    return 0;
}

static void batch_task(void *ctx, size_t c)
{
    wt_batch *b = ctx;
    if (atomic_load(&b->err)) return;
    /* Encode into a buffer of this thread's own: the chunk_out entries of
     * neighbouring chunks share a cache line, and the update of out.len at
     * every piece would bounce it between the threads (two threads encoded
     * at 1.4x one thread's speed that way, where two processes make 2x). */
    wt_ids out = {0};
    /* Room for the ids of most text at once (about one id for every 4 bytes of
     * English, 2 to 3 of other text): growing by doubling copied a part's ids
     * over and over, into pages touched for the first time. */
    size_t bytes = 0;
    for (size_t u = b->chunk_first[c]; u < b->chunk_first[c + 1]; u++) bytes += b->units[u].end - b->units[u].start;
    int rc = wt_ids_reserve(&out, bytes / 2 + 64);
    for (size_t u = b->chunk_first[c]; !rc && u < b->chunk_first[c + 1]; u++) {
        size_t before = out.len;
        rc = encode_unit(b, &b->units[u], &out);
        if (rc) break;
        b->unit_at[u] = before;
        b->unit_len[u] = out.len - before;
    }
    if (rc) {
        int zero = 0;
        atomic_compare_exchange_strong(&b->err, &zero, rc);
        wt_ids_free(&out);
        return;
    }
    b->chunk_out[c] = out;
    atomic_store_explicit(&b->chunk_done[c], 1, memory_order_release);
}

void wt_batch_free(wt_batch *b)
{
    if (!b) return;
    if (b->job) {                             /* stop the tasks not yet started, wait for the rest */
        int zero = 0;
        atomic_compare_exchange_strong(&b->err, &zero, WT_EINVAL);
        wt_pool_finish(b->job);
    }
    if (b->chunk_out)
        for (size_t c = 0; c < b->n_chunks; c++) wt_ids_free(&b->chunk_out[c]);
    if (b->joined)
        for (size_t i = 0; i < b->n_texts; i++) wt_free(b->joined[i]);
    wt_free(b->units);
    wt_free(b->chunk_out);
    wt_free(b->chunk_first);
    wt_free((void *)b->chunk_done);
    wt_free(b->unit_len);
    wt_free(b->unit_at);
    wt_free(b->doc_len);
    wt_free(b->doc_ids);
    wt_free(b->joined);
    wt_free(b);
}

/* The units of a batch: each document whole, or cut into parts of at least
 * part bytes. Returns the count, or 0 if out of memory (b->units then NULL). */
static size_t plan_units(wt_batch *b, size_t part)
{
    const wt_text *texts = b->texts;
    int cut = CUT_NONE;          /* under a limit, the first part is enough; short texts stay whole */
    for (size_t i = 0; i < b->n_texts && b->o.max_body == SIZE_MAX; i++)
        if (texts[i].n >= WT_SPLIT_MIN) {
            cut = cut_mode(b->t);
            break;
        }
    cut_plan cp;
    cut_plan_init(&cp, b->t, cut);
    size_t skip = cut == CUT_REP_PREPENDED;    /* the space the Prepend brings back */
    size_t count = 0;
    for (int pass = 0; pass < 2; pass++) {        /* count, then fill */
        size_t u = 0;
        for (size_t i = 0; i < b->n_texts; i++) {
            size_t n = texts[i].n, start = 0;
            /* A cut is looked for in a window after each part's least size, and
             * each byte is looked at once (text with no cut costs one pass). */
            for (size_t from = part; cut && n >= WT_SPLIT_MIN && from + 1 < n;) {
                size_t to = from + WT_SPLIT_PART < n - 1 ? from + WT_SPLIT_PART : n - 1;
                size_t end = find_cut(&cp, texts[i].s, n, from, to);
                if (!end) {
                    from = to;
                    continue;
                }
                if (pass) b->units[u] = (wt_unit){.doc = i, .start = start, .end = end, .first = start == 0};
                u++;
                start = end + skip;
                from = end + part;
            }
            if (pass) b->units[u] = (wt_unit){.doc = i, .start = start, .end = n, .first = start == 0, .last = 1};
            u++;
        }
        if (!pass && !(b->units = wt_malloc((u + 1) * sizeof(wt_unit)))) return 0;
        count = u;
    }
    return count;
}

/* The bytes of a chunk. Split by bytes, not by count: several chunks per thread
 * balance uneven documents, and keep the part left after the last chunk small. */
static size_t chunk_target(size_t total, int n_threads)
{
    size_t target = total / ((size_t)n_threads * 8) + 1;
    return target < 16384 ? 16384 : target;
}

wt_batch *wt_batch_begin(const wt_tokenizer *t, const wt_text *texts, size_t n_texts,
                         const wt_encode_opts *o, int n_threads, int *rc)
{
    *rc = WT_ENOMEM;
    wt_batch *b = wt_calloc(1, sizeof *b);
    if (!b) return NULL;
    *b = (wt_batch){.t = t, .texts = texts, .o = *o, .n_texts = n_texts};
    atomic_init(&b->err, 0);
    if (n_threads <= 0) n_threads = wt_cpu_count();
    size_t total = 0;
    for (size_t i = 0; i < n_texts; i++) total += texts[i].n;
    size_t target = chunk_target(total, n_threads);
    b->n_units = plan_units(b, target > WT_SPLIT_PART ? target : WT_SPLIT_PART);
    size_t max_chunks = b->n_units ? b->n_units : 1;
    b->chunk_first = wt_malloc((max_chunks + 1) * sizeof(size_t));
    b->chunk_out = wt_calloc(max_chunks, sizeof(wt_ids));
    b->chunk_done = wt_calloc(max_chunks, sizeof(atomic_uchar));
    b->unit_len = wt_calloc(max_chunks, sizeof(size_t));
    b->unit_at = wt_calloc(max_chunks, sizeof(size_t));
    b->doc_len = wt_calloc(n_texts + 1, sizeof(int64_t));
    b->doc_ids = wt_calloc(n_texts + 1, sizeof(uint32_t *));
    b->joined = wt_calloc(n_texts + 1, sizeof(uint32_t *));
    if (!b->units || !b->chunk_first || !b->chunk_out || !b->chunk_done || !b->unit_len || !b->unit_at ||
        !b->doc_len || !b->doc_ids || !b->joined) {
        wt_batch_free(b);
        return NULL;
    }
    size_t acc = 0;
    b->chunk_first[0] = 0;
    for (size_t u = 0; u < b->n_units; u++) {
        acc += b->units[u].end - b->units[u].start;
        if (acc >= target || u + 1 == b->n_units) {
            b->chunk_first[++b->n_chunks] = u + 1;
            acc = 0;
        }
    }
    if (b->n_chunks && !(b->job = wt_pool_begin(batch_task, b, b->n_chunks, n_threads))) {
        wt_batch_free(b);
        return NULL;
    }
    *rc = 0;
    return b;
}

int wt_batch_step(wt_batch *b)
{
    return b->job ? wt_pool_step(b->job) : 0;
}

/* The ids of units [first, last] (one document's), in their chunks' buffers. */
static const uint32_t *unit_ids(const wt_batch *b, size_t chunk, size_t u)
{
    return b->chunk_out[chunk].ids + b->unit_at[u];
}

size_t wt_batch_ready(wt_batch *b)
{
    while (b->ready < b->n_chunks && atomic_load_explicit(&b->chunk_done[b->ready], memory_order_acquire)) {
        /* The chunk's units: whole documents point into its buffer; a document
         * in parts, once its last part is done, is joined into one. */
        size_t c = b->ready++;
        for (size_t u = b->chunk_first[c]; u < b->chunk_first[c + 1]; u++) {
            const wt_unit *un = &b->units[u];
            b->doc_len[un->doc] += (int64_t)b->unit_len[u];
            if (un->first && un->last) b->doc_ids[un->doc] = unit_ids(b, c, u);
            if (!un->last || un->first) continue;
            size_t first = u;
            while (!b->units[first].first) first--;
            uint32_t *all = wt_malloc(((size_t)b->doc_len[un->doc] + 1) * sizeof(uint32_t));
            if (!all) {
                int zero = 0;
                atomic_compare_exchange_strong(&b->err, &zero, WT_ENOMEM);
                b->ready = b->n_chunks;        /* nothing more is handed out */
                return b->ready_docs;
            }
            size_t at = 0, chunk = c;
            while (b->chunk_first[chunk] > first) chunk--;
            for (size_t v = first; v <= u; v++) {
                while (b->chunk_first[chunk + 1] <= v) chunk++;
                memcpy(all + at, unit_ids(b, chunk, v), b->unit_len[v] * sizeof(uint32_t));
                at += b->unit_len[v];
            }
            b->joined[un->doc] = all;
            b->doc_ids[un->doc] = all;
        }
        b->ready_units = b->chunk_first[b->ready];
        const wt_unit *lastu = &b->units[b->ready_units - 1];
        b->ready_docs = lastu->doc + (lastu->last ? 1 : 0);
    }
    return b->ready_docs;
}

const uint32_t *wt_batch_doc(const wt_batch *b, size_t i, size_t *n)
{
    *n = (size_t)b->doc_len[i];
    return b->doc_ids[i];
}

int wt_batch_finish(wt_batch *b)
{
    if (b->job) {
        wt_pool_finish(b->job);
        b->job = NULL;
    }
    return atomic_load(&b->err);
}

/* res: zeroed by the caller. */
static int batch_flat(const wt_batch *b, wt_flat *res)
{
    if (!(res->offsets = wt_calloc(b->n_texts + 1, sizeof(int64_t)))) return WT_ENOMEM;
    for (size_t u = 0; u < b->n_units; u++) res->offsets[b->units[u].doc + 1] += (int64_t)b->unit_len[u];
    for (size_t i = 0; i < b->n_texts; i++) res->offsets[i + 1] += res->offsets[i];
    size_t n_ids = (size_t)res->offsets[b->n_texts];
    if (!(res->ids = wt_malloc((n_ids + 1) * sizeof(uint32_t)))) {
        wt_flat_free(res);
        return WT_ENOMEM;
    }
    size_t at = 0;
    for (size_t c = 0; c < b->n_chunks; c++) {
        if (b->chunk_out[c].len) memcpy(res->ids + at, b->chunk_out[c].ids, b->chunk_out[c].len * sizeof(uint32_t));
        at += b->chunk_out[c].len;
    }
    res->n_docs = b->n_texts;
    return 0;
}

int wt_encode_batch(const wt_tokenizer *t, const wt_text *texts, size_t n_texts,
                    const wt_encode_opts *o, int n_threads, wt_flat *res)
{
    int rc;
    memset(res, 0, sizeof *res);
    wt_batch *b = wt_batch_begin(t, texts, n_texts, o, n_threads, &rc);
    if (!b) return rc;
    if (!(rc = wt_batch_finish(b))) rc = batch_flat(b, res);
    wt_batch_free(b);
    return rc;
}

int wt_encode_long(const wt_tokenizer *t, const uint8_t *s, size_t n, const wt_encode_opts *o, int n_threads,
                   wt_ids *out, wt_batch **parts)
{
    *parts = NULL;
    if (n < WT_SPLIT_MIN || o->max_body != SIZE_MAX || cut_mode(t) == CUT_NONE) return wt_encode(t, s, n, o, out);
    wt_text text = {s, n};
    int rc;
    wt_batch *b = wt_batch_begin(t, &text, 1, o, n_threads, &rc);
    if (!b) return rc;
    if ((rc = wt_batch_finish(b))) {
        wt_batch_free(b);
        return rc;
    }
    if (b->n_chunks == 1 && out->len == 0) {  /* one part (no cut found): its buffer, not a copy */
        wt_ids_free(out);
        *out = b->chunk_out[0];
        b->chunk_out[0] = (wt_ids){0};
        wt_batch_free(b);
        return 0;
    }
    *parts = b;
    return 0;
}

size_t wt_batch_chunks(const wt_batch *b) { return b->n_chunks; }

const uint32_t *wt_batch_chunk(const wt_batch *b, size_t c, size_t *n)
{
    *n = b->chunk_out[c].len;
    return b->chunk_out[c].ids;
}

/* For tests: where wt_encode_long would start each part of text s (up to max into
 * starts); the count, or 0 if out of memory. */
size_t wt_long_parts(const wt_tokenizer *t, const uint8_t *s, size_t n, const wt_encode_opts *o, int n_threads,
                     size_t *starts, size_t max)
{
    wt_text text = {s, n};
    wt_batch b = {.t = t, .texts = &text, .o = *o, .n_texts = 1};   /* planned, not encoded */
    size_t target = chunk_target(n, n_threads <= 0 ? wt_cpu_count() : n_threads);
    size_t count = plan_units(&b, target > WT_SPLIT_PART ? target : WT_SPLIT_PART);
    for (size_t u = 0; u < count && u < max; u++) starts[u] = b.units[u].start;
    wt_free(b.units);
    return count;
}

void wt_flat_free(wt_flat *f)
{
    wt_free(f->ids);
    wt_free(f->offsets);
    memset(f, 0, sizeof *f);
}

