#include "pretokenize/scan.h"
#include "text/unicode_data.h"
#include "common/utf8.h"

/* How blocks of ASCII get their class masks (see "64 ASCII bytes at a time"):
 * AVX2, SSE2 or NEON vectors, else 8-byte words on little-endian CPUs, else no blocks. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define WT_LITTLE_ENDIAN 1
#endif
#if defined(__SSE2__)
#define WT_VECTOR_MASKS masks_sse2
#if defined(__x86_64__) && defined(__GNUC__)
#define WT_WIDE_MASKS masks_avx2       /* where the CPU has AVX2 (checked at run time) */
#endif
#elif defined(__ARM_NEON) && defined(__aarch64__) && defined(WT_LITTLE_ENDIAN)
#define WT_VECTOR_MASKS masks_neon
#endif

/* Class bits of a code point, per scanner. */
enum {
    C_LET = 1,     /* the letter run: \p{L} ([\p{L}\p{M}] with marks_are_letters) */
    C_NUM = 2,     /* \p{N} */
    C_WS = 4,      /* \s */
    C_PRE = 8,     /* [^\r\n\p{L}\p{N}]: the optional character before a letter run */
    C_PUN = 16,    /* [^\s\p{L}\p{N}] ([^\s\p{L}\p{M}\p{N}] with marks_are_letters) */
    C_UP = 32,     /* o200k: [\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}] */
    C_LO = 64,     /* o200k: [\p{Ll}\p{Lm}\p{Lo}\p{M}] */
    C_NL = 128,    /* [\r\n] */
    C_TRAIL = 256, /* what a punctuation run takes after it: [\r\n] or [\r\n/] */
    C_PS = 512,    /* DeepSeek-V3: [\p{P}\p{S}] */
    C_PRE_PS = 1024, /* DeepSeek-V3: [^\r\n\p{L}\p{P}\p{S}], the character before a letter run */
    C_RUN = 2048,  /* WT_SCAN_RUN: its class */
};

static int in_ranges(const wt_scanner *sc, uint32_t cp)
{
    for (int i = 0; i < sc->n_ranges; i++)
        if (cp - sc->ranges[i][0] <= sc->ranges[i][1] - sc->ranges[i][0]) return 1;
    return 0;
}

/* The class bits of a code point from its properties (general category and \s
 * flag) and, for ASCII, the code point itself; the class runs' ranges aside. */
static unsigned class_bits(const wt_scanner *sc, unsigned props, uint32_t cp)
{
    unsigned gc = props & WT_UC_GC_MASK, c = 0;
    int letter = gc >= WT_GC_Lu && gc <= WT_GC_Lo, mark = gc >= WT_GC_Mn && gc <= WT_GC_Me;
    int number = gc >= WT_GC_Nd && gc <= WT_GC_No, space = (props & WT_UC_SPACE) != 0;
    int nl = cp == '\r' || cp == '\n';
    if (letter || (mark && sc->marks_are_letters)) c |= C_LET;
    if (number) c |= C_NUM;
    if (space) c |= C_WS;
    if (!nl && !letter && !number) c |= C_PRE;
    if (!space && !(c & C_LET) && !number) c |= C_PUN;
    if (gc == WT_GC_Lu || gc == WT_GC_Lt || gc == WT_GC_Lm || gc == WT_GC_Lo || mark) c |= C_UP;
    if (gc == WT_GC_Ll || gc == WT_GC_Lm || gc == WT_GC_Lo || mark) c |= C_LO;
    if (nl) c |= C_NL;
    if (nl || (sc->trail_slash && cp == '/')) c |= C_TRAIL;
    int ps = gc >= WT_GC_Pc && gc <= WT_GC_So;
    if (ps) c |= C_PS;
    if (!nl && !letter && !ps) c |= C_PRE_PS;
    if (sc->family == WT_SCAN_RUN && !sc->n_ranges && number) c |= C_RUN;
    return c;
}

/* C_RUN from a class run's literal ranges (its \p{N} class comes with the properties). */
WT_INLINE unsigned range_bit(const wt_scanner *sc, uint32_t cp)
{
    return sc->n_ranges && sc->family == WT_SCAN_RUN && in_ranges(sc, cp) ? C_RUN : 0;
}

/* Beyond ASCII the class depends on the properties alone: one table lookup. */
WT_INLINE unsigned classify(const wt_scanner *sc, uint32_t cp)
{
    if (cp < 128) return sc->ascii[cp];
    return sc->wide[wt_uc_props(sc->dialect, cp) & (WT_UC_GC_MASK | WT_UC_SPACE)] | range_bit(sc, cp);
}

static int blocks_exact(const wt_scanner *sc);
static uint8_t block_action(const wt_scanner *sc, unsigned cls);

static size_t skip_to_bytes(const uint8_t *s, size_t n, size_t pos, uint8_t lo, uint8_t hi, uint8_t lead_lo,
                            uint8_t lead_hi);

/* The first byte of the UTF-8 of cp >= 0x80. */
static uint8_t lead_byte(uint32_t cp)
{
    return (uint8_t)(cp < 0x800 ? 0xC0 | cp >> 6 : cp < 0x10000 ? 0xE0 | cp >> 12 : 0xF0 | cp >> 18);
}

int wt_scanner_init(wt_scanner *sc)
{
    if (sc->family < WT_SCAN_GPT2 || sc->family > WT_SCAN_RUN) return WT_EINVAL;
    if (sc->n_ranges < 0 || sc->n_ranges > WT_SCAN_RANGES || sc->max_digits < 0) return WT_EINVAL;
    for (int i = 0; i < sc->n_ranges; i++)
        if (sc->ranges[i][0] > sc->ranges[i][1]) return WT_EINVAL;
    for (uint32_t cp = 0; cp < 128; cp++)
        sc->ascii[cp] = (uint16_t)(class_bits(sc, wt_uc_props(sc->dialect, cp), cp) | range_bit(sc, cp));
    for (unsigned props = 0; props <= (WT_UC_GC_MASK | WT_UC_SPACE); props++) {   /* 0x80: not \r, \n or / */
        sc->wide[props] = (uint16_t)class_bits(sc, props, 0x80);
        sc->block_wide[props] = block_action(sc, sc->wide[props]);
    }
    for (uint32_t cp = 0x80; cp < 0x800; cp++) sc->block_two[cp - 0x80] = block_action(sc, classify(sc, cp));
    int lo = 128, hi = -1, members = 0;
    for (int cp = 0; cp < 128; cp++)
        if (sc->ascii[cp] & C_RUN) { members++; if (cp < lo) lo = cp; hi = cp; }
    sc->gap_words = members == 0 || members == hi - lo + 1;
    sc->gap_lo = members ? (uint8_t)lo : 1;
    sc->gap_hi = members ? (uint8_t)hi : 0;
    sc->lead_lo = 0xFF;
    sc->lead_hi = 0;
    if (sc->family == WT_SCAN_RUN && !sc->n_ranges) {   /* \p{N}: digits in many scripts */
        sc->lead_lo = 0xC2;
        sc->lead_hi = 0xF4;
    }
    for (int i = 0; i < sc->n_ranges; i++) {           /* the lead byte grows with the code point */
        uint32_t a = sc->ranges[i][0] < 0x80 ? 0x80 : sc->ranges[i][0], b = sc->ranges[i][1];
        if (b < 0x80) continue;
        uint8_t la = lead_byte(a), lb = lead_byte(b > 0x10FFFF ? 0x10FFFF : b);
        if (la < sc->lead_lo) sc->lead_lo = la;
        if (lb > sc->lead_hi) sc->lead_hi = lb;
    }
    sc->blocks = WT_BLOCKS_NONE;
    if (blocks_exact(sc)) {
#ifdef WT_VECTOR_MASKS
        sc->blocks = sc->masks == WT_MASKS_WORDS ? WT_BLOCKS_WORDS : WT_BLOCKS_VECTOR;
#ifdef WT_WIDE_MASKS
        if (sc->masks == WT_MASKS_WIDEST && __builtin_cpu_supports("avx2")) sc->blocks = WT_BLOCKS_WIDE;
#endif
#elif defined(WT_LITTLE_ENDIAN)
        sc->blocks = WT_BLOCKS_WORDS;          /* the word masks read byte i at bits 8i.. */
#endif
    }
    return 0;
}

WT_INLINE unsigned class_at(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, size_t *len, uint64_t *w)
{
    (*w)++;
    if (WT_LIKELY(s[pos] < 0x80)) { *len = 1; return sc->ascii[s[pos]]; }
    return classify(sc, wt_utf8_decode(s, n, pos, len));
}

/* Past ASCII of the class `bit` from pos, 8 bytes a step while all 8 are (a line
 * of '=' or '_', a run of digits): one branch a word instead of one a byte. Out of
 * line: few runs reach it, and run_end is inlined wherever a pattern has a run. */
static WT_NOINLINE size_t ascii_words_end(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, unsigned bit, uint64_t *w)
{
    const uint16_t *a = sc->ascii;
    while (pos + 8 <= n) {
        uint64_t x;
        memcpy(&x, s + pos, 8);
        if (x & 0x8080808080808080ull) break;
        unsigned all = x == (x & 0x7F) * 0x0101010101010101ull   /* one byte repeated */
                           ? a[x & 0x7F]
                           : a[x & 0x7F] & a[x >> 8 & 0x7F] & a[x >> 16 & 0x7F] & a[x >> 24 & 0x7F]
                                 & a[x >> 32 & 0x7F] & a[x >> 40 & 0x7F] & a[x >> 48 & 0x7F] & a[x >> 56];
        if (!(all & bit)) break;
        pos += 8;
        (*w)++;
    }
    return pos;
}

/* The end of the run of code points with `bit` starting at pos; a run that reaches 8
 * bytes goes on by words (short runs, most of them, never pay for a word's test). */
WT_INLINE size_t run_end(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, unsigned bit, uint64_t *w)
{
    size_t len, begin = pos;
    int worded = 0;
    while (pos < n && (class_at(sc, s, n, pos, &len, w) & bit)) {
        pos += len;
        if (!worded && pos - begin >= 8) {
            worded = 1;
            pos = ascii_words_end(sc, s, n, pos, bit, w);
        }
    }
    return pos;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "the 8-byte scans below read byte i of a word at bits 8i"
#endif

/* The high bit of each byte of x that lies in 'a'..'z' (lower) or, with the case
 * bit set first, is any ASCII letter, [A-Za-z]: the only ASCII code points of
 * \p{L} (and of [\p{L}\p{M}]), and of o200k's lowercase class. Per byte, b +
 * (0x80 - 'a') has its high bit set iff b >= 'a', b + (0x80 - 'z' - 1) iff
 * b > 'z'; 7-bit bytes never carry into the next one. */
WT_INLINE uint64_t ascii_in(uint64_t x, int any_case)
{
    const uint64_t ones = 0x0101010101010101ull, high = ones * 0x80;
    uint64_t l = (any_case ? x | ones * 0x20 : x) & ~high;
    uint64_t ge_a = l + ones * (0x80 - 'a'), gt_z = l + ones * (0x80 - 'z' - 1);
    return ge_a & ~gt_z & ~x & high;
}

/* run_end for C_LET (any_case = 1) or C_LO (0), whose ASCII members are exactly
 * those of ascii_in: 8 bytes a step while they all are, so the end of an
 * English word costs no per-byte branch. */
WT_INLINE size_t letters_end(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, int any_case, uint64_t *w)
{
    const uint64_t high = 0x8080808080808080ull;
    while (pos + 8 <= n) {
        uint64_t x;
        memcpy(&x, s + pos, 8);
        (*w)++;
        uint64_t stop = ~ascii_in(x, any_case) & high;
        if (!stop) { pos += 8; continue; }
        pos += (size_t)__builtin_ctzll(stop) / 8;
        if (s[pos] < 0x80) return pos;             /* ASCII and not in the class: the end */
        break;                                     /* a non-ASCII code point decides */
    }
    return run_end(sc, s, n, pos, any_case ? C_LET : C_LO, w);
}

WT_INLINE uint8_t ascii_lower(uint8_t b) { return b >= 'A' && b <= 'Z' ? (uint8_t)(b + 32) : b; }

/* The contraction at pos ('s 't 're 've 'm 'll 'd; s[pos] == '\''): its end, or 0.
 * Case-insensitively, 's also matches U+017F (LATIN SMALL LETTER LONG S), as the
 * references' simple case folding does. */
static size_t contraction(int mode, const uint8_t *s, size_t n, size_t pos)
{
    if (pos + 1 >= n) return 0;
    uint8_t a = s[pos + 1], b = pos + 2 < n ? s[pos + 2] : 0;
    if (mode == WT_CONTRACT_ANY_CASE) {
        if (a == 0xC5 && b == 0xBF) return pos + 3;
        a = ascii_lower(a);
        b = ascii_lower(b);
    }
    switch (a) {
    case 's': case 't': case 'm': case 'd': return pos + 2;
    case 'r': case 'v': return b == 'e' ? pos + 3 : 0;
    case 'l': return b == 'l' ? pos + 3 : 0;
    default: return 0;
    }
}

/* Whitespace at pos (a \s code point), for the tail alternatives
 *   [\s++$ |] [\s*[\r\n]+ |] \s+(?!\S) | \s+
 * With W the whole run of \s from pos: \s++$ takes W when it ends the text;
 * \s*[\r\n]+ backs off from the end of W to its last \r or \n and ends just
 * after it; \s+(?!\S) takes W at the end of the text, else W without its last
 * code point (if that leaves any); \s+ and \s then take what is left. */
static size_t whitespace(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, int newline_rule, uint64_t *w)
{
    size_t p = pos, len, last = pos, last_nl = SIZE_MAX, count = 0;
    unsigned c = 0;
    while (p < n) {
        uint64_t x;                  /* indentation: 8 spaces a step */
        if (p + 8 <= n && (memcpy(&x, s + p, 8), x == 0x2020202020202020ull)) {
            last = p + 7;
            p += 8;
            (*w)++;
            count += 8;
            continue;
        }
        c = class_at(sc, s, n, p, &len, w);
        if (!(c & C_WS)) break;
        if (c & C_NL) last_nl = p;
        last = p;
        p += len;
        count++;
    }
    if (sc->ws_end_first && p == n) return n;
    if (newline_rule && last_nl != SIZE_MAX) return last_nl + 1;
    if (p == n || (sc->digits_apart && (c & C_NUM))) return p;    /* the text's end */
    return count >= 2 ? last : p;
}

/* \p{N}{1,k} (k = 0: \p{N}+) at pos, a \p{N} code point. */
static size_t digits(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, uint64_t *w)
{
    if (!sc->max_digits) return run_end(sc, s, n, pos, C_NUM, w);
    size_t len;
    for (int k = 0; k < sc->max_digits && pos < n; k++) {
        if (!(class_at(sc, s, n, pos, &len, w) & C_NUM)) break;
        pos += len;
    }
    return pos;
}

static size_t match_gpt2(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, uint64_t *w)
{
    size_t len, e;
    if (s[pos] == '\'' && (e = contraction(sc->contractions, s, n, pos))) return e;
    size_t q = pos;
    unsigned c = class_at(sc, s, n, pos, &len, w);
    if (s[pos] == ' ' && pos + 1 < n) {       /* ' ?' before a letter, number or punctuation run */
        unsigned next = class_at(sc, s, n, pos + 1, &len, w);
        if (next & (C_LET | C_NUM | C_PUN)) { q = pos + 1; c = next; }
    }
    if (c & C_LET) return letters_end(sc, s, n, q, 1, w);
    if (c & C_NUM) return run_end(sc, s, n, q, C_NUM, w);
    if (c & C_PUN) return run_end(sc, s, n, q, C_PUN, w);
    return whitespace(sc, s, n, pos, 0, w);
}

/* The alternatives after the letters, shared by cl100k and o200k:
 * \p{N}{1,k} | ' ?[^\s\p{L}\p{N}]+[\r\n]*' | whitespace. */
static size_t match_rest(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, unsigned c, uint64_t *w)
{
    size_t len;
    if (c & C_NUM) return digits(sc, s, n, pos, w);
    size_t q = pos;
    if (s[pos] == ' ' && pos + 1 < n && (class_at(sc, s, n, pos + 1, &len, w) & C_PUN)) { q = pos + 1; c = C_PUN; }
    if (c & C_PUN) return run_end(sc, s, n, run_end(sc, s, n, q, C_PUN, w), C_TRAIL, w);
    return whitespace(sc, s, n, pos, 1, w);
}

static size_t match_cl100k(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, uint64_t *w)
{
    size_t len, len1, e;
    if (s[pos] == '\'' && sc->contractions && (e = contraction(sc->contractions, s, n, pos))) return e;
    unsigned c = class_at(sc, s, n, pos, &len, w);
    /* [^\r\n\p{L}\p{N}]?\p{L}+: a letter run, or one prefix character and a letter run. */
    if (c & C_LET) return letters_end(sc, s, n, pos + len, 1, w);
    if ((c & C_PRE) && pos + len < n && (class_at(sc, s, n, pos + len, &len1, w) & C_LET))
        return letters_end(sc, s, n, pos + len + len1, 1, w);
    return match_rest(sc, s, n, pos, c, w);
}

/* o200k's letter alternatives from q, without the optional prefix character:
 *   upper_first = 0:  [UP]*[LO]+ contraction?
 *   upper_first = 1:  [UP]+[LO]* contraction?
 * The greedy [UP]* gives code points back until [LO]+ can start: at the end of
 * the [UP] run if a [LO] follows it, else at the last [LO] inside the run
 * (Lm, Lo and marks are in both classes), which then matches just itself.
 * Returns the end, or 0 if the alternative fails. */
static size_t o200k_letters(const wt_scanner *sc, const uint8_t *s, size_t n, size_t q, int upper_first, uint64_t *w)
{
    size_t p = q, len, last_lo_end = 0, e;
    unsigned c = 0;
    while (p < n) {
        c = class_at(sc, s, n, p, &len, w);
        if (!(c & C_UP)) break;
        p += len;
        if (c & C_LO) last_lo_end = p;
    }
    int lo_follows = p < n && (c & C_LO) && !(c & C_UP);
    if (upper_first) {
        if (p == q) return 0;
        e = lo_follows ? letters_end(sc, s, n, p, 0, w) : p;
    } else if (lo_follows) {
        e = letters_end(sc, s, n, p, 0, w);
    } else if (last_lo_end) {
        e = last_lo_end;
    } else {
        return 0;
    }
    size_t k;
    if (e < n && s[e] == '\'' && (k = contraction(WT_CONTRACT_ANY_CASE, s, n, e))) return k;
    return e;
}

static size_t match_o200k(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, uint64_t *w)
{
    size_t len, len1, e;
    unsigned c = class_at(sc, s, n, pos, &len, w);
    int pre = (c & C_PRE) && pos + len < n;
    /* The letter alternatives need a cased-class code point where they start
     * (punctuation and spaces, much of code, skip them at once). Each is tried
     * first with the prefix character (when there is one), then without. */
    unsigned next = pre ? class_at(sc, s, n, pos + len, &len1, w) : 0;
    if ((c | next) & (C_UP | C_LO))
        for (int upper_first = 0; upper_first < 2; upper_first++) {
            if (pre && (e = o200k_letters(sc, s, n, pos + len, upper_first, w))) return e;
            if ((e = o200k_letters(sc, s, n, pos, upper_first, w))) return e;
        }
    return match_rest(sc, s, n, pos, c, w);
}

/* DeepSeek-V3's last split, from pos, or pos when no alternative matches there:
 *   [!-/:-@[-`{-~][A-Za-z]+ | [^\r\n\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+
 *   | ?[\p{P}\p{S}]+[\r\n]* | whitespace as in match_rest
 * (its letter runs are C_LET with marks_are_letters set). */
static size_t ds3_at(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, uint64_t *w)
{
    size_t len, len1, q = pos;
    uint8_t b = s[pos];
    if (b < 0x80 && (sc->ascii[b] & C_PS) && pos + 1 < n && s[pos + 1] < 0x80 && (sc->ascii[s[pos + 1]] & C_LET)) {
        for (q = pos + 2; q < n && s[q] < 0x80 && (sc->ascii[s[q]] & C_LET); q++) {}
        *w += q - pos;
        return q;                                   /* ASCII punctuation, then ASCII letters only */
    }
    unsigned c = class_at(sc, s, n, pos, &len, w);
    if (c & C_LET) return letters_end(sc, s, n, pos + len, 1, w);
    if ((c & C_PRE_PS) && pos + len < n && (class_at(sc, s, n, pos + len, &len1, w) & C_LET))
        return letters_end(sc, s, n, pos + len + len1, 1, w);
    if (b == ' ' && pos + 1 < n && (class_at(sc, s, n, pos + 1, &len1, w) & C_PS)) { q = pos + 1; c = C_PS; }
    if (c & C_PS) return run_end(sc, s, n, run_end(sc, s, n, q, C_PS, w), C_NL, w);
    if (c & C_WS) return whitespace(sc, s, n, pos, 1, w);
    return pos;
}

/* Unlike the other families' patterns, DeepSeek-V3's does not match everywhere
 * (controls, format and unassigned code points...): the end of the match at
 * pos, or of the gap before the next match. Only for Isolated splits, where
 * gaps are pieces as matches are (_pattern.scanner_for). */
static size_t match_ds3(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, uint64_t *w)
{
    size_t len;
    if (sc->digits_apart && (class_at(sc, s, n, pos, &len, w) & C_NUM)) return digits(sc, s, n, pos, w);
    size_t e = ds3_at(sc, s, n, pos, w);
    if (e > pos) return e;
    do {
        wt_utf8_decode(s, n, pos, &len);         /* step over one code point */
        pos += len;
        (*w)++;
    } while (pos < n && !(sc->digits_apart && (class_at(sc, s, n, pos, &len, w) & C_NUM)) &&
             ds3_at(sc, s, n, pos, w) == pos);
    return pos;
}

/* Is the code point at pos in the class (its length in *len)? Ranges need no
 * property lookup. */
WT_INLINE int run_member(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, size_t *len, uint64_t *w)
{
    (*w)++;
    if (WT_LIKELY(s[pos] < 0x80)) { *len = 1; return (sc->ascii[s[pos]] & C_RUN) != 0; }
    uint32_t cp = wt_utf8_decode(s, n, pos, len);
    return sc->n_ranges ? in_ranges(sc, cp) : (classify(sc, cp) & C_RUN) != 0;
}

/* A run of the class, at most max_digits code points of it (0: no limit), or
 * the gap up to the next code point of it; *is_run says which. */
static size_t match_run(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, int *is_run, uint64_t *w)
{
    size_t len, count = 0;
    if ((*is_run = run_member(sc, s, n, pos, &len, w))) {
        do {
            pos += len;
            count++;
        } while (pos < n && count != (size_t)sc->max_digits && run_member(sc, s, n, pos, &len, w));
        return pos;
    }
    for (pos += len;; pos += len) {
        size_t from = pos;
        pos = skip_to_bytes(s, n, pos, sc->gap_words ? sc->gap_lo : 0, sc->gap_words ? sc->gap_hi : 0x7F,
                            sc->lead_lo, sc->lead_hi);
        *w += (pos - from) / 8;                /* a word a step */
        if (pos >= n || run_member(sc, s, n, pos, &len, w)) return pos;
    }
}

static size_t match_at(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, uint64_t *w)
{
    int is_run;
    switch (sc->family) {
    case WT_SCAN_GPT2: return match_gpt2(sc, s, n, pos, w);
    case WT_SCAN_CL100K: return match_cl100k(sc, s, n, pos, w);
    case WT_SCAN_O200K: return match_o200k(sc, s, n, pos, w);
    case WT_SCAN_RUN: return match_run(sc, s, n, pos, &is_run, w);
    default: return match_ds3(sc, s, n, pos, w);
    }
}

/* ---- cl100k-, o200k- and GPT-2-family pieces, 64 ASCII bytes at a time ----
 *
 * On ASCII the family's pattern (contractions | [^\r\n\p{L}\p{N}]?\p{L}+ |
 * \p{N}{1,k} | ' ?[^\s\p{L}\p{N}]+[\r\n]*' | whitespace) cuts text where masks
 * of the byte classes say, so a block's piece starts come from bit operations,
 * not from a branch per piece on its kind (on code the branch mispredicted
 * about once a piece). Bit i is byte pos + i; pos is a piece start, so what
 * comes before it does not matter. With L letters, D digits, P punctuation
 * ([^\s\p{L}\p{N}]: controls too), SP ' ', OS the other \s but \r\n, NL \r\n:
 *  - a P alone (one character, not after SP) before an L run is its prefix: "LP".
 *    It is a start, as is every other P run's first byte but one after SP,
 *    which the SP's piece takes (" ?P+"). A P run ends at its end, except for
 *    LP, and takes the NL run right after it ([\r\n]*);
 *  - an L run starts at its first byte unless after LP, SP or OS (the last
 *    byte of a whitespace run is always a piece start), and ends at its end;
 *  - a D run is cut every k digits;
 *  - a whitespace run (\s not taken by a P run) starts a piece; with an NL in
 *    it, that piece ends after its last NL; the spaces after the last NL (or
 *    all of them, with no NL), when non-empty, split before their last byte
 *    ("\s+(?!\S)"), which the next piece may take as its prefix;
 *  - an apostrophe that is LP starts a contraction when one follows.
 * o200k's letters split too where a lowercase letter meets an uppercase one,
 * its contractions are the suffix of the letters before them instead, and its
 * punctuation runs take [\r\n/]*: a '/' after an NL is left unknown.
 * Each rule reads a byte's neighbours and the run it is in, so letters and
 * punctuation beyond ASCII join the masks with every byte (block_load); LP, the
 * one rule that counts characters, steps over the bytes after its first. Bytes
 * from the first character the masks cannot hold (or the text's end) on are
 * unknown, and a piece is kept
 * only when its end is a start no unknown byte decides: starts before the
 * unknown bytes are, except inside a whitespace run that reaches them, which
 * has none marked. The next block starts at the last start kept. The tests
 * check these pieces against the generic matcher on corpora and fuzzed text. */

/* Defined where ctz(0) and a shift by 64 are not, without a branch: bsf+cmov (or
 * tzcnt); one shift, as (1 << n) - 1 was (a bigger mask kept with_contractions
 * from being inlined). */
WT_INLINE unsigned ctz_or_64(uint64_t x) { return x ? (unsigned)__builtin_ctzll(x) : 64u; }
WT_INLINE uint64_t low_bits(unsigned n) { return ~0ull >> (64 - n); }   /* 1 <= n <= 64 */

/* Does the scanner's ASCII table match the masks' model? */
static int blocks_exact(const wt_scanner *sc)
{
    int o200k = sc->family == WT_SCAN_O200K, ds3 = sc->family == WT_SCAN_DS3;
    if (sc->family != WT_SCAN_CL100K && sc->family != WT_SCAN_GPT2 && !ds3 && !o200k) return 0;
    if (sc->trail_slash != o200k) return 0;
    for (unsigned b = 0; b < 128; b++) {
        int let = (b | 0x20) >= 'a' && (b | 0x20) <= 'z', dig = b >= '0' && b <= '9';
        int nl = b == '\r' || b == '\n', ws = b == ' ' || (b >= 9 && b <= 13);
        unsigned want = (let ? C_LET : 0) | (dig ? C_NUM : 0) | (ws ? C_WS : 0) | (nl ? C_NL : 0)
                        | (!nl && !let && !dig ? C_PRE : 0) | (!ws && !let && !dig ? C_PUN : 0);
        if (o200k)                             /* its cased classes: A-Z and a-z */
            want |= (let && b < 'a' ? C_UP : 0) | (let && b >= 'a' ? C_LO : 0) | (nl || b == '/' ? C_TRAIL : 0);
        if (ds3)                               /* punctuation and symbols: [\p{P}\p{S}] */
            want |= !ws && !let && !dig && b >= 0x20 && b != 0x7F ? C_PS : 0;
        unsigned mask = C_LET | C_NUM | C_WS | C_NL | C_PRE | C_PUN | (o200k ? C_UP | C_LO | C_TRAIL : 0)
                        | (ds3 ? C_PS : 0);
        if ((sc->ascii[b] & mask) != want) return 0;
    }
    return 1;
}

/* A block's class masks: bit i is the class of byte i (offs NULL: the block is
 * 64 bytes of mostly ASCII) or of code point i (offs[i]: its byte offset; see
 * block_load_chars). */
typedef struct {
    uint64_t let, up, dig, pun, sp, os, nl, apos, slash;
    uint64_t ctl;            /* ASCII controls other than \s (DeepSeek-V3's pattern matches them apart) */
    uint64_t cont;           /* the bytes of a character after its first (units are bytes, offs NULL) */
    uint64_t wide;           /* the bytes of characters beyond ASCII (DeepSeek-V3 reads them apart) */
    unsigned known;          /* units [0, known) are in the text and classified */
    const uint16_t *offs;    /* code points: offs[0..known] */
} wt_block;

/* The class masks of the block: bit i of each is byte i's class. With SSE2 or
 * NEON (16 bytes a compare), else from 8-byte words. All three must agree on every
 * byte: test_scan.py checks the vector masks (the machine's) and the word ones
 * (forced by Core(word_blocks=True)) against the generic matcher. */
#if defined(__SSE2__)
#include <emmintrin.h>

/* Unsigned x - lo < count, per byte: a signed compare after moving 0 to -128. */
WT_INLINE __m128i bytes_in(__m128i x, uint8_t lo, uint8_t count)
{
    return _mm_cmplt_epi8(_mm_add_epi8(x, _mm_set1_epi8((char)(0x80 - lo))), _mm_set1_epi8((char)(count - 128)));
}

static void masks_sse2(const uint8_t *p, uint64_t *hi, wt_block *c)
{
    for (int k = 0; k < WT_SCAN_BLOCK / 16; k++) {
        __m128i x = _mm_loadu_si128((const __m128i *)(p + 16 * k));
        __m128i nl = _mm_or_si128(_mm_cmpeq_epi8(x, _mm_set1_epi8('\n')), _mm_cmpeq_epi8(x, _mm_set1_epi8('\r')));
        int sh = 16 * k;
        *hi |= (uint64_t)(uint16_t)_mm_movemask_epi8(x) << sh;
        c->let |= (uint64_t)(uint16_t)_mm_movemask_epi8(bytes_in(_mm_or_si128(x, _mm_set1_epi8(0x20)), 'a', 26)) << sh;
        c->dig |= (uint64_t)(uint16_t)_mm_movemask_epi8(bytes_in(x, '0', 10)) << sh;
        c->sp |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(' '))) << sh;
        c->os |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_andnot_si128(nl, bytes_in(x, 9, 5))) << sh;
        c->nl |= (uint64_t)(uint16_t)_mm_movemask_epi8(nl) << sh;
        c->apos |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('\''))) << sh;
        c->up |= (uint64_t)(uint16_t)_mm_movemask_epi8(bytes_in(x, 'A', 26)) << sh;
        c->slash |= (uint64_t)(uint16_t)_mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8('/'))) << sh;
        __m128i ctl = _mm_or_si128(_mm_andnot_si128(bytes_in(x, 9, 5), bytes_in(x, 0, 32)),
                                   _mm_cmpeq_epi8(x, _mm_set1_epi8(0x7F)));
        c->ctl |= (uint64_t)(uint16_t)_mm_movemask_epi8(ctl) << sh;
    }
}

#ifdef WT_WIDE_MASKS
#include <immintrin.h>

/* masks_sse2 32 bytes at a time: half the compares. */
#define WT_AVX2 __attribute__((target("avx2")))
WT_AVX2 static inline __m256i bytes_in32(__m256i x, uint8_t lo, uint8_t count)
{
    return _mm256_cmpgt_epi8(_mm256_set1_epi8((char)(count - 128)), _mm256_add_epi8(x, _mm256_set1_epi8((char)(0x80 - lo))));
}

WT_AVX2 static inline uint64_t bits32(__m256i m, int sh)
{
    return (uint64_t)(uint32_t)_mm256_movemask_epi8(m) << sh;
}

WT_AVX2 static void masks_avx2(const uint8_t *p, uint64_t *hi, wt_block *c)
{
    uint64_t h = 0, let = 0, dig = 0, sp = 0, os = 0, nl_ = 0, apos = 0, up = 0, slash = 0, ctl_ = 0;
    for (int sh = 0; sh < WT_SCAN_BLOCK; sh += 32) {
        __m256i x = _mm256_loadu_si256((const __m256i *)(p + sh));
        __m256i nl = _mm256_or_si256(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('\n')), _mm256_cmpeq_epi8(x, _mm256_set1_epi8('\r')));
        __m256i ws = bytes_in32(x, 9, 5);
        __m256i ctl = _mm256_or_si256(_mm256_andnot_si256(ws, bytes_in32(x, 0, 32)), _mm256_cmpeq_epi8(x, _mm256_set1_epi8(0x7F)));
        h |= bits32(x, sh);
        let |= bits32(bytes_in32(_mm256_or_si256(x, _mm256_set1_epi8(0x20)), 'a', 26), sh);
        dig |= bits32(bytes_in32(x, '0', 10), sh);
        sp |= bits32(_mm256_cmpeq_epi8(x, _mm256_set1_epi8(' ')), sh);
        os |= bits32(_mm256_andnot_si256(nl, ws), sh);
        nl_ |= bits32(nl, sh);
        apos |= bits32(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('\'')), sh);
        up |= bits32(bytes_in32(x, 'A', 26), sh);
        slash |= bits32(_mm256_cmpeq_epi8(x, _mm256_set1_epi8('/')), sh);
        ctl_ |= bits32(ctl, sh);
    }
    *hi |= h;
    c->let |= let; c->dig |= dig; c->sp |= sp; c->os |= os; c->nl |= nl_;
    c->apos |= apos; c->up |= up; c->slash |= slash; c->ctl |= ctl_;
}
#endif
#elif defined(WT_VECTOR_MASKS)
#include <arm_neon.h>

/* Unsigned x - lo < count, per byte (as bytes_in above). */
WT_INLINE uint8x16_t neon_in(uint8x16_t x, uint8_t lo, uint8_t count)
{
    return vcltq_u8(vsubq_u8(x, vdupq_n_u8(lo)), vdupq_n_u8(count));
}

/* The 64 bits of four all-or-nothing byte masks: each byte keeps its bit's
 * weight, and three rounds of pairwise adds sum every 8 bytes into one. */
WT_INLINE uint64_t neon_bits(uint8x16_t m0, uint8x16_t m1, uint8x16_t m2, uint8x16_t m3)
{
    static const uint8_t weights[16] = {1, 2, 4, 8, 16, 32, 64, 128, 1, 2, 4, 8, 16, 32, 64, 128};
    const uint8x16_t w = vld1q_u8(weights);
    uint8x16_t a = vpaddq_u8(vandq_u8(m0, w), vandq_u8(m1, w)), b = vpaddq_u8(vandq_u8(m2, w), vandq_u8(m3, w));
    a = vpaddq_u8(a, b);
    a = vpaddq_u8(a, a);
    return vgetq_lane_u64(vreinterpretq_u64_u8(a), 0);
}

static void masks_neon(const uint8_t *p, uint64_t *hi, wt_block *c)
{
    uint8x16_t x[4], nl[4], m[10][4];
    for (int k = 0; k < 4; k++) {
        x[k] = vld1q_u8(p + 16 * k);
        nl[k] = vorrq_u8(vceqq_u8(x[k], vdupq_n_u8('\n')), vceqq_u8(x[k], vdupq_n_u8('\r')));
        m[0][k] = vcgeq_u8(x[k], vdupq_n_u8(0x80));
        m[1][k] = neon_in(vorrq_u8(x[k], vdupq_n_u8(0x20)), 'a', 26);
        m[2][k] = neon_in(x[k], '0', 10);
        m[3][k] = vceqq_u8(x[k], vdupq_n_u8(' '));
        m[4][k] = vbicq_u8(neon_in(x[k], 9, 5), nl[k]);
        m[5][k] = nl[k];
        m[6][k] = vceqq_u8(x[k], vdupq_n_u8('\''));
        m[7][k] = neon_in(x[k], 'A', 26);
        m[8][k] = vceqq_u8(x[k], vdupq_n_u8('/'));
        m[9][k] = vorrq_u8(vbicq_u8(vcltq_u8(x[k], vdupq_n_u8(32)), neon_in(x[k], 9, 5)), vceqq_u8(x[k], vdupq_n_u8(0x7F)));
    }
    uint64_t bits[10];
    for (int j = 0; j < 10; j++) bits[j] = neon_bits(m[j][0], m[j][1], m[j][2], m[j][3]);
    *hi = bits[0];
    c->let = bits[1]; c->dig = bits[2]; c->sp = bits[3]; c->os = bits[4]; c->nl = bits[5];
    c->apos = bits[6]; c->up = bits[7]; c->slash = bits[8]; c->ctl = bits[9];
}
#endif

/* The same from 8-byte words, in portable C (little-endian CPUs with neither). A byte's
 * predicate is its high bit: for ASCII t, t + (0x80 - lo) has it set iff t >= lo,
 * without a carry into the next byte; gather() packs the 8 high bits. */
#define WT_BYTES(c) (0x0101010101010101ull * (uint8_t)(c))
#define WT_HIGH WT_BYTES(0x80)

WT_INLINE uint64_t word_in(uint64_t x, uint8_t lo, uint8_t count)   /* lo >= 1, lo + count <= 0x80 */
{
    uint64_t t = x & ~WT_HIGH;
    return (t + WT_BYTES(0x80 - lo)) & ~(t + WT_BYTES(0x80 - lo - count)) & ~x & WT_HIGH;
}

WT_INLINE uint64_t gather(uint64_t high_bits) { return ((high_bits >> 7) * 0x0102040810204080ull) >> 56; }

static void masks_words(const uint8_t *p, uint64_t *hi, wt_block *c)
{
    for (int k = 0; k < WT_SCAN_BLOCK / 8; k++) {
        uint64_t x;
        memcpy(&x, p + 8 * k, 8);              /* little-endian (wt_scanner_init): byte i is bits 8i.. */
        uint64_t nl = word_in(x, '\n', 1) | word_in(x, '\r', 1);
        int sh = 8 * k;
        *hi |= gather(x & WT_HIGH) << sh;
        c->let |= gather(word_in(x | WT_BYTES(0x20), 'a', 26)) << sh;
        c->dig |= gather(word_in(x, '0', 10)) << sh;
        c->sp |= gather(word_in(x, ' ', 1)) << sh;
        c->os |= gather(word_in(x, 9, 5) & ~nl) << sh;
        c->nl |= gather(nl) << sh;
        c->apos |= gather(word_in(x, '\'', 1)) << sh;
        c->up |= gather(word_in(x, 'A', 26)) << sh;
        c->slash |= gather(word_in(x, '/', 1)) << sh;
        uint64_t t = x & ~WT_HIGH, below_space = ~(t + WT_BYTES(0x80 - 0x20)) & ~x & WT_HIGH;
        c->ctl |= gather((below_space & ~word_in(x, 9, 5)) | word_in(x, 0x7F, 1)) << sh;
    }
}

/* What block_load does with a character beyond ASCII of class bits cls. */
enum { B_LET = 1, B_UP = 4, B_BOTH = 8, B_MARK = 16, B_STOP = 32 };

static uint8_t block_action(const wt_scanner *sc, unsigned cls)
{
    int o200k = sc->family == WT_SCAN_O200K, both = (cls & (C_UP | C_LO)) == (C_UP | C_LO);
    if (sc->family == WT_SCAN_DS3)             /* [\p{L}\p{M}] and [\p{P}\p{S}]; nothing else matches alike */
        return cls & C_LET ? B_LET : cls & C_PS ? 0 : B_STOP;
    if (cls & C_LET) return B_LET | (o200k && both ? B_BOTH : o200k && (cls & C_UP) ? B_UP : 0);
    if (o200k && both) return B_MARK;          /* a mark: in both cased classes, not \p{L} */
    if ((cls & C_PUN) && !(o200k && (cls & (C_UP | C_LO)))) return 0;   /* punctuation */
    return B_STOP;                             /* a digit or a space */
}

/* The block's masks. A character beyond ASCII joins the masks with all its
 * bytes when the rules of block_starts read it right as a run of bytes: a letter
 * (o200k: cased one way, or in both cased classes (Lm, Lo, marks not after
 * punctuation) in a letter run with no character cased one way) or punctuation
 * ([^\s\p{L}\p{N}]; o200k's marks aside); cont marks the bytes after its first, which
 * the one-character rules (a punctuation character before letters) step over.
 * Any other character (a digit or space beyond ASCII, one the block's end may
 * cut) ends what is known: then 1 (when the known part is short, the block is
 * read again by code point, block_load_chars). */
static int block_load(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, wt_block *c, uint64_t *w)
{
    uint8_t pad[WT_SCAN_BLOCK];
    const uint8_t *p = s + pos;
    if (n - pos < WT_SCAN_BLOCK) {             /* the text's end: what follows it is unknown */
        memset(pad, 0xFF, sizeof pad);         /* never part of a character */
        memcpy(pad, p, n - pos);
        p = pad;
    }
    uint64_t hi = 0;
    memset(c, 0, sizeof *c);
    *w += WT_SCAN_BLOCK / 8;                   /* as many steps as 8-byte words */
#ifdef WT_WIDE_MASKS
    if (sc->blocks == WT_BLOCKS_WIDE) WT_WIDE_MASKS(p, &hi, c);
    else
#endif
#ifdef WT_VECTOR_MASKS
    if (sc->blocks == WT_BLOCKS_VECTOR) WT_VECTOR_MASKS(p, &hi, c);
    else
#endif
        masks_words(p, &hi, c);
    int stopped = 0;
    c->known = n - pos < WT_SCAN_BLOCK ? (unsigned)(n - pos) : WT_SCAN_BLOCK;   /* >= 16: block_ends */
    c->offs = NULL;
    if (sc->family == WT_SCAN_DS3) {
        /* Controls end what is known, as its pattern does not match them as the
         * cl100k family's does; so do digits, unless they are split off here
         * (digits_apart: D runs, the rules below read them as text ends). */
        uint64_t stop = ((sc->digits_apart ? 0 : c->dig) | c->ctl) & low_bits(c->known);
        if (stop) c->known = (unsigned)__builtin_ctzll(stop);
    }
    uint64_t both = 0;                         /* o200k: bytes of Lm, Lo and marks */
    uint64_t rest = c->known ? hi & low_bits(c->known) : 0;
    while (rest) {                             /* each non-ASCII character in turn */
        unsigned i = (unsigned)__builtin_ctzll(rest), act;
        size_t len = 2;
        if (p[i] - 0xC2u < 0x1E && i < WT_SCAN_BLOCK - 1 && (p[i + 1] & 0xC0) == 0x80) {
            act = sc->block_two[((p[i] & 0x1Fu) << 6 | (p[i + 1] & 0x3Fu)) - 0x80];
        } else {
            uint32_t cp = wt_utf8_decode(p, WT_SCAN_BLOCK, i, &len);
            act = sc->block_wide[wt_uc_props(sc->dialect, cp) & (WT_UC_GC_MASK | WT_UC_SPACE)];
            if (i > WT_SCAN_BLOCK - 4 && i + (p[i] >= 0xF0 ? 4u : p[i] >= 0xE0 ? 3u : 2u) > WT_SCAN_BLOCK)
                act = B_STOP;                  /* the block's end may cut it */
        }
        if (act & B_MARK)                      /* o200k: a letter, but after punctuation its P run takes it */
            act = i && !(((c->let | c->dig | c->sp | c->os | c->nl) >> (i - 1)) & 1) ? B_STOP : B_LET | B_BOTH;
        if (act & B_STOP) {
            c->known = i;
            stopped = 1;
            break;
        }
        uint64_t bytes = low_bits((unsigned)len) << i;
        c->let |= bytes & -(uint64_t)(act & B_LET);
        c->up |= bytes & -(uint64_t)((act & B_UP) >> 2);
        both |= bytes & -(uint64_t)((act & B_BOTH) >> 3);
        c->cont |= bytes & (bytes << 1);
        rest &= ~bytes;
    }
    uint64_t valid = c->known == 64 ? ~0ull : (1ull << c->known) - 1;
    if (both) {                                /* o200k: a letter run of Lm/Lo and cased letters ends it */
        uint64_t L = c->let & valid, one_way = L & ~both, mixed = (both & (one_way << 1)) | (one_way & (both << 1));
        if (mixed) {
            uint64_t run_starts = L & ~(L << 1) & low_bits((unsigned)__builtin_ctzll(mixed) + 1);
            c->known = 63u - (unsigned)__builtin_clzll(run_starts);
            stopped = 1;
            valid = (1ull << c->known) - 1;
        }
    }
    c->let &= valid; c->up &= valid; c->dig &= valid; c->sp &= valid; c->os &= valid; c->nl &= valid;
    c->apos &= valid; c->slash &= valid; c->cont &= valid;
    c->wide = hi & valid;
    c->pun = valid & ~(c->let | c->dig | c->sp | c->os | c->nl);
    return stopped && sc->family != WT_SCAN_DS3;   /* block_load_chars has cl100k's rules */
}

/* The block's masks by code point, from pos (a piece start): up to 64 code
 * points, to the text's end, or to the first one o200k's case split cannot put
 * in one cased class (Lm, Lo, marks: in both; its letter runs take them). Each rule of block_starts reads
 * a unit's neighbours and the run it is in, whatever its bytes, so the same
 * rules cut text in any script, and \p{N}{1,k} and \s+(?!\S) count code points
 * as the patterns do. offs: room for 65. */
static void block_load_chars(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, wt_block *c,
                             uint16_t *offs, uint64_t *w)
{
    int o200k = sc->family == WT_SCAN_O200K;
    memset(c, 0, sizeof *c);
    unsigned k = 0;
    size_t b = pos;
    for (; k < WT_SCAN_BLOCK && b < n; k++) {
        uint8_t x = s[b];
        size_t len = 1;
        unsigned cls;
        uint64_t bit = 1ull << k;
        (*w)++;
        if (x < 0x80) {
            cls = sc->ascii[x];
            c->sp |= (uint64_t)(x == ' ') << k;
            c->apos |= (uint64_t)(x == '\'') << k;
            c->slash |= (uint64_t)(x == '/') << k;
        } else {
            cls = classify(sc, wt_utf8_decode(s, n, b, &len));
            /* o200k's letter runs take marks, Lm and Lo, which are in both cased classes */
            if (o200k && (cls & (C_UP | C_LO)) && (!(cls & C_LET) || !(cls & C_UP) == !(cls & C_LO))) break;
        }
        offs[k] = (uint16_t)(b - pos);
        if (cls & C_LET) c->let |= bit;
        if (cls & C_UP) c->up |= bit;
        if (cls & C_NUM) c->dig |= bit;
        if (cls & C_NL) c->nl |= bit;
        else if ((cls & C_WS) && x != ' ') c->os |= bit;
        b += len;
    }
    offs[k] = (uint16_t)(b - pos);
    c->known = k;
    c->offs = offs;
    uint64_t valid = k == 64 ? ~0ull : (1ull << k) - 1;
    c->pun = valid & ~(c->let | c->dig | c->sp | c->os | c->nl);
}

/* The unit of the block where byte offset e (from its start) begins, when a
 * contraction that starts at unit j ends there; WT_SCAN_BLOCK when past the
 * known units. */
WT_INLINE size_t unit_at(const wt_block *c, unsigned j, size_t e)
{
    if (!c->offs) return e;
    for (unsigned k = j + 1; k <= c->known && k <= j + 4; k++)
        if (c->offs[k] == e) return k;
    return WT_SCAN_BLOCK;
}

/* A contraction at each apostrophe j of `at` that has one: its end e becomes a
 * start, with none inside. As a piece of its own (suffix = 0) j stays a start;
 * as the suffix of the letters before it (o200k) it does not, and a
 * contraction's own letters take no suffix. A contraction past the block
 * keeps only the starts before it. */
static uint64_t with_contractions(int mode, int suffix, const uint8_t *s, size_t n, size_t pos,
                                  const wt_block *c, uint64_t T, uint64_t at)
{
    unsigned last = 0;                         /* where the last contraction ended */
    for (; at; at &= at - 1) {
        unsigned j = (unsigned)__builtin_ctzll(at), from = suffix ? j : j + 1;
        size_t start = c->offs ? c->offs[j] : j;
        size_t e = suffix && j == last ? 0 : contraction(mode, s, n, pos + start);
        if (!e) continue;
        size_t u = unit_at(c, j, e - pos);
        last = (unsigned)u;
        /* from >= 1 (a suffix's apostrophe follows a letter); 64 after an apostrophe at 63 */
        if (u >= WT_SCAN_BLOCK) return T & low_bits(from);
        T &= ~(((1ull << u) - 1) & ~low_bits(from));
        T |= 1ull << u;
    }
    return T;
}

/* GPT-2's pattern ('s|'t|..| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)
 * on a block: every L, D and P run starts a piece, but one after SP, which the
 * SP's piece takes, and ends one; a whitespace run (any \s) starts a piece and
 * splits before its last byte; an apostrophe that starts a P run starts a
 * contraction when one follows, which ends at its end instead of the P run. */
static uint64_t block_starts_gpt2(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, const wt_block *c)
{
    const uint64_t S = c->sp | c->os | c->nl, after_sp = c->sp << 1;
    uint64_t valid = c->known == 64 ? ~0ull : (1ull << c->known) - 1, T = 0;
    for (int k = 0; k < 3; k++) {
        uint64_t X = k == 0 ? c->let : k == 1 ? c->dig : c->pun;
        T |= (X & ~(X << 1) & ~after_sp) | (~X & (X << 1));
    }
    T |= S & ~(S << 1);
    T |= (~S & (S << 1) & valid) >> 1;
    T &= valid;
    if (sc->contractions)                      /* at an apostrophe that starts a punctuation run */
        T = with_contractions(sc->contractions, 0, s, n, pos, c, T, c->pun & ~(c->pun << 1) & ~after_sp & c->apos);
    return T & ~1ull;
}

/* The piece starts in (0, 64) that the block's known bytes decide (see above). */
WT_INLINE uint64_t block_starts(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, const wt_block *c,
                                int ds3)
{
    int o200k = sc->family == WT_SCAN_O200K;
    unsigned known = c->known;
    uint64_t cut = o200k ? c->slash & (c->nl << 1) : 0;
    if (cut) known = (unsigned)__builtin_ctzll(cut);   /* o200k's [\r\n/]*: a '/' after NL is left unknown */
    uint64_t valid = known == 64 ? ~0ull : (1ull << known) - 1;
    const uint64_t L = c->let & valid, D = c->dig & valid, P = c->pun & valid, SP = c->sp & valid,
                   OS = c->os & valid, NL = c->nl & valid;
    /* LP: a punctuation character before letters, which their piece takes (not
     * after a space, whose piece takes it); after_LP: the unit after it. A carry
     * from each punctuation run's start over the bytes after its first character
     * lands on the unit after that character. */
    const uint64_t P_start = P & ~(P << 1) & ~(SP << 1), cont = c->cont & valid;
    uint64_t after_LP = ((cont | P_start) + P_start) & ~(cont | P_start) & L, T = 0;
    if (ds3) {
        /* [!-/:-@[-`{-~][A-Za-z]+: ASCII both (a byte after a longer character is
         * its own), and its piece ends where the letters leave ASCII (a carry over
         * them lands there) */
        const uint64_t A = L & ~c->wide;
        after_LP = (P_start << 1) & A;
        T |= (A + after_LP) & ~A & L;
    }
    /* letters; o200k's also split where a lowercase letter meets an uppercase one */
    T |= L & ~(L << 1) & ~((SP | OS) << 1) & ~after_LP;
    T |= ~L & (L << 1);
    if (o200k) T |= c->up & ((L & ~c->up) << 1) & valid;
    /* digits, cut every k */
    T |= (D & ~(D << 1)) | (~D & (D << 1));
    int k = sc->max_digits;
    if (k == 1) {
        T |= D;
    } else if (k > 1) {
        uint64_t longer = D;                   /* a digit with k before it in its run */
        for (int t = 1; t <= k; t++) longer &= D << t;
        if (longer)
            for (uint64_t r = D & ~(D << 1); r; r &= r - 1) {
                unsigned a = (unsigned)__builtin_ctzll(r), len = ctz_or_64(~(D >> a));   /* 64: all digits */
                for (unsigned i = a + (unsigned)k; i < a + len; i += (unsigned)k) T |= 1ull << i;
            }
    }
    /* punctuation, and the newlines a punctuation run takes */
    T |= P & ~(P << 1) & ~(SP << 1);
    uint64_t p_end = ~P & (P << 1) & ~after_LP;
    uint64_t taken = NL + (p_end & NL);        /* each seeded NL run carries to the byte after it */
    uint64_t absorbed = NL & ~taken;
    T |= (p_end & ~NL) | (taken & ~NL);
    /* whitespace */
    uint64_t W = (SP | OS | NL) & ~absorbed, Q = SP | OS;
    T |= W & ~(W << 1);
    /* before the last byte of the spaces that end a run; DeepSeek-V3's digits end its text */
    T |= ((~Q & (Q << 1) & valid & ~NL & ~(ds3 ? D : 0)) >> 1);
    for (uint64_t m = Q & ((NL & W) << 1); m; m &= m - 1) {   /* spaces after an NL: after the last? */
        unsigned i = (unsigned)__builtin_ctzll(m), e = i + (unsigned)__builtin_ctzll(~(Q >> i));
        if (e < known && !((NL >> e) & 1)) T |= 1ull << i;
    }
    T &= valid;
    if (o200k)                                 /* after letters */
        T = with_contractions(WT_CONTRACT_ANY_CASE, 1, s, n, pos, c, T, c->apos & (L << 1) & valid);
    else if (sc->contractions)                 /* at an apostrophe that is LP (one byte) */
        T = with_contractions(sc->contractions, 0, s, n, pos, c, T, P_start & c->apos & (L >> 1));
    return T & ~1ull;
}

/* block_starts made twice, so that the cl100k and o200k families' copy carries no
 * test of DeepSeek-V3's rule. */
static uint64_t block_starts_ds3(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, const wt_block *c)
{
    return block_starts(sc, s, n, pos, c, 1);
}

static uint64_t block_starts_cl100k(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, const wt_block *c)
{
    return block_starts(sc, s, n, pos, c, 0);
}

/* Byte offsets of the units of an ASCII block: unit i is byte i. */
#define OFFS8(b) (b), (b) + 1, (b) + 2, (b) + 3, (b) + 4, (b) + 5, (b) + 6, (b) + 7
static const uint16_t ascii_offs[WT_SCAN_BLOCK + 1] = {
    OFFS8(0), OFFS8(8), OFFS8(16), OFFS8(24), OFFS8(32), OFFS8(40), OFFS8(48), OFFS8(56), 64};
#undef OFFS8

/* The piece ends found by the block at pos, as a mask (bit i: an end at
 * pos + (*offs)[i]; room: 65 offsets for a block read by code point), or 0
 * where the block path finds none. A block needs 16 bytes at least; it is read
 * by code point when a non-ASCII character other than a letter ends the bytes
 * known early in it. */
static uint64_t block_ends(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, const uint16_t **offs,
                           uint16_t *room, uint64_t *w)
{
    wt_block c;
    if (n - pos < 16) return 0;
    if (block_load(sc, s, n, pos, &c, w) && c.known < WT_SCAN_BLOCK / 2) block_load_chars(sc, s, n, pos, &c, room, w);
    *offs = c.offs ? c.offs : ascii_offs;
    switch (sc->family) {
    case WT_SCAN_GPT2: return block_starts_gpt2(sc, s, n, pos, &c);
    case WT_SCAN_DS3: return block_starts_ds3(sc, s, n, pos, &c);
    default: return block_starts_cl100k(sc, s, n, pos, &c);
    }
}

/* The ends of pieces from pos one match at a time: over the block (non-ASCII
 * text near, or one long run), so that text with few ASCII stretches pays one
 * load a block; one piece where blocks are off. */
static size_t match_pieces(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, size_t *ends, uint64_t *w)
{
    if (!sc->blocks) {
        ends[0] = match_at(sc, s, n, pos, w);
        return 1;
    }
    size_t count = 0, stop = pos + WT_SCAN_BLOCK;
    do {
        pos = ends[count++] = match_at(sc, s, n, pos, w);
    } while (pos < stop && pos < n && count < WT_SCAN_BLOCK);
    return count;
}

size_t wt_scan_block(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, uint64_t *mask,
                     const uint16_t **offs, uint16_t *room, size_t *ends, uint64_t *steps)
{
    uint64_t w = 0;                    /* a local: no store through steps can alias ends */
    *mask = sc->blocks ? block_ends(sc, s, n, pos, offs, room, &w) : 0;
    size_t count = *mask ? 0 : match_pieces(sc, s, n, pos, ends, &w);
    *steps += w;
    return count;
}

size_t wt_scan_pieces(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, size_t *ends, uint64_t *steps)
{
    uint16_t room[WT_SCAN_BLOCK + 1];
    const uint16_t *offs;
    uint64_t T;
    size_t count = wt_scan_block(sc, s, n, pos, &T, &offs, room, ends, steps);
    for (; T; T &= T - 1) ends[count++] = pos + offs[__builtin_ctzll(T)];
    return count;
}

int wt_scan_run_has_digits(const wt_scanner *sc)
{
    if (sc->family != WT_SCAN_RUN || !sc->n_ranges) return 1;
    for (int i = 0; i < sc->n_ranges; i++)
        for (uint32_t cp = sc->ranges[i][0]; cp <= sc->ranges[i][1] && cp <= 0x10FFFF; cp++)
            if (classify(sc, cp) & C_NUM) return 1;
    return 0;
}

/* Whether the code point at pos is in runs[j]'s class and in no earlier one's. */
WT_INLINE int runs_member(const wt_scanner *const *runs, size_t j, const uint8_t *s, size_t n, size_t pos,
                          size_t *len, uint64_t *w)
{
    if (!run_member(runs[j], s, n, pos, len, w)) return 0;
    for (size_t i = 0; i < j; i++)
        if (run_member(runs[i], s, n, pos, len, w)) return 0;
    return 1;
}

/* From pos, the first byte in lo..hi or lead_lo..lead_hi (n if none): 16 bytes a
 * compare where SSE2 is. Such a byte starts a code point (ASCII, or a lead byte). */
static size_t skip_to_bytes(const uint8_t *s, size_t n, size_t pos, uint8_t lo, uint8_t hi, uint8_t lead_lo,
                            uint8_t lead_hi)
{
    uint8_t count = lo <= hi ? (uint8_t)(hi - lo + 1) : 0;
    uint8_t lead_count = lead_lo <= lead_hi ? (uint8_t)(lead_hi - lead_lo + 1) : 0;
#if defined(__SSE2__)
    for (; pos + 16 <= n; pos += 16) {
        __m128i x = _mm_loadu_si128((const __m128i *)(s + pos));
        __m128i hit = _mm_or_si128(bytes_in(x, lo, count), bytes_in(x, lead_lo, lead_count));
        unsigned m = (unsigned)_mm_movemask_epi8(hit);
        if (m) return pos + (unsigned)__builtin_ctz(m);
    }
#endif
    while (pos < n && (uint8_t)(s[pos] - lo) >= count && (uint8_t)(s[pos] - lead_lo) >= lead_count) pos++;
    return pos;
}

size_t wt_scan_runs(const wt_scanner *const *runs, size_t count, const uint8_t *s, size_t n, size_t pos,
                    int *is_run, uint64_t *steps)
{
    uint64_t w = 0;
    size_t len, j = 0;
    while (j < count && !run_member(runs[j], s, n, pos, &len, &w)) j++;
    *is_run = j < count;
    if (j < count) {                           /* a run of runs[j]: split before, none of an earlier class is in it */
        size_t k = 0;
        do {
            pos += len;
            k++;
        } while (pos < n && k != (size_t)runs[j]->max_digits && runs_member(runs, j, s, n, pos, &len, &w));
    } else {                                   /* a gap: to the next code point of any class */
        uint8_t lo = 0x7F, hi = 0, lead_lo = 0xFF, lead_hi = 0;   /* the first bytes of their members */
        for (size_t i = 0; i < count; i++) {
            uint8_t a = runs[i]->gap_words ? runs[i]->gap_lo : 0, b = runs[i]->gap_words ? runs[i]->gap_hi : 0x7F;
            if (a <= b) { lo = a < lo ? a : lo; hi = b > hi ? b : hi; }
            if (runs[i]->lead_lo <= runs[i]->lead_hi) {
                lead_lo = runs[i]->lead_lo < lead_lo ? runs[i]->lead_lo : lead_lo;
                lead_hi = runs[i]->lead_hi > lead_hi ? runs[i]->lead_hi : lead_hi;
            }
        }
        for (pos += len; pos < n; pos += len) {
            size_t from = pos;
            pos = skip_to_bytes(s, n, pos, lo, hi, lead_lo, lead_hi);
            w += (pos - from) / 8;             /* a word a step */
            if (pos >= n) break;
            size_t i = 0;
            while (i < count && !run_member(runs[i], s, n, pos, &len, &w)) i++;
            if (i < count) break;
        }
    }
    *steps += w;
    return pos;
}
