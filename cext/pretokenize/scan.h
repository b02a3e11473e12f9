/* Hand-fused pre-tokenizers for the pattern families nearly every tokenizer
 * uses (GPT-2, cl100k / Llama-3 / Qwen2, o200k / MiniMax). Each is the exact
 * backtracking result of its regex, worked out once by hand per alternative,
 * over code points with the same Unicode tables as the generic matcher; the
 * tests check them against it (regex.c) on whole corpora and fuzzed text.
 * _pattern.py decides which pattern strings are a family (scanner_for). */
#ifndef WT_SCAN_H
#define WT_SCAN_H

#include "common/wt_common.h"

enum {
    WT_SCAN_GPT2 = 1,        /* 's|'t|..| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
    WT_SCAN_CL100K = 2,      /* contractions|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,k}| ?[^\s\p{L}\p{N}]+[\r\n]*|ws */
    WT_SCAN_O200K = 3,       /* two cased letter alternatives with contraction suffixes, then as cl100k */
    WT_SCAN_DS3 = 4,         /* DeepSeek-V3's last split: [punct][A-Za-z]+|..?[\p{L}\p{M}]+| ?[\p{P}\p{S}]+[\r\n]*|ws */
    WT_SCAN_RUN = 5,         /* one class repeated: \p{N}{1,k} or [ranges]+ (DeepSeek's digit and CJK splits) */
};

#define WT_SCAN_RANGES 4

enum { WT_CONTRACT_NONE = 0, WT_CONTRACT_LOWER = 1, WT_CONTRACT_ANY_CASE = 2 };

typedef struct {
    int family;              /* WT_SCAN_* */
    int dialect;             /* WT_DIALECT_*: which Unicode tables (\s differs) */
    int contractions;        /* the leading 's|'t|... alternative: WT_CONTRACT_* */
    int max_digits;          /* \p{N}{1,k}: k; 0 = \p{N}+ (WT_SCAN_RUN: at most k code points of its class) */
    int marks_are_letters;   /* [\p{L}\p{M}]+ (Qwen3.5): marks join letter runs, not punctuation */
    int ws_end_first;        /* tiktoken's \s++$ comes before the newline rule */
    int trail_slash;         /* o200k: punctuation runs take [\r\n/]*, not [\r\n]* */
    int digits_apart;        /* DeepSeek-V3: \p{N}{1,k} runs (k = max_digits; 0: no limit) are split off
                              * first, and the rest of the pattern reads each as the text's end and start */
    int n_ranges;            /* WT_SCAN_RUN: its class is these code point ranges, or \p{N} when 0 */
    uint32_t ranges[WT_SCAN_RANGES][2];   /* first, last */
    int gap_words;           /* WT_SCAN_RUN: its ASCII members are the bytes gap_lo..gap_hi (none when lo > hi), */
    uint8_t gap_lo, gap_hi;  /* so a gap skips 8 ASCII bytes at a time */
    uint8_t lead_lo, lead_hi;/* WT_SCAN_RUN: the first bytes of its members beyond ASCII lie in lead_lo..lead_hi
                              * (none when lo > hi), so a gap skips other text 16 bytes at a time */
    uint16_t ascii[128];     /* class bits of each ASCII code point */
    uint16_t wide[64];       /* and of the others, by general category and \s flag */
    uint8_t block_wide[64];  /* what a block does with a character beyond ASCII (scan.c), by the same index */
    uint8_t block_two[0x800 - 0x80];   /* and with each two-byte one, by code point - 0x80 */
    int masks;               /* WT_MASKS_*: the widest the CPU has, or (tests) narrower ones */
    int blocks;              /* WT_BLOCKS_*: how wt_scan_pieces splits ASCII 64 bytes at a time (scan.c) */
} wt_scanner;

enum { WT_MASKS_WIDEST = 0, WT_MASKS_VECTOR = 1, WT_MASKS_WORDS = 2 };
/* VECTOR: SSE2 or NEON; WIDE: AVX2; WORDS: 8-byte words */
enum { WT_BLOCKS_NONE = 0, WT_BLOCKS_VECTOR = 1, WT_BLOCKS_WORDS = 2, WT_BLOCKS_WIDE = 3 };

/* Fill the class table; 0 or WT_EINVAL for an unknown family. */
int wt_scanner_init(wt_scanner *sc);

/* The ends of the next pieces from pos < n: at least one, at most WT_SCAN_BLOCK.
 * Each is the end of the match starting where the one before ends, as
 * wt_regex_match_at would find it with the family's pattern; these patterns
 * match at every position, except DeepSeek-V3's and the class runs, whose
 * scanners return the end of the gap before the next match where none starts
 * (so they serve Isolated splits only).
 * Linear over a text: a match looks past its end only within the \s run or the
 * cased-letter run it stops in, and the next match takes the rest of that run,
 * so each byte is examined a bounded number of times. Adds the steps taken to
 * *steps (a code point or an 8-byte word examined: the work counters' unit). */
#define WT_SCAN_BLOCK 64
size_t wt_scan_pieces(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, size_t *ends, uint64_t *steps);

/* wt_scan_pieces without the list where a block finds the ends: then *mask has
 * bit i set for an end at pos + (*offs)[i] (room: WT_SCAN_BLOCK + 1 offsets the
 * block may use) and 0 is returned; else *mask is 0 and the ends are in ends[]. */
size_t wt_scan_block(const wt_scanner *sc, const uint8_t *s, size_t n, size_t pos, uint64_t *mask,
                     const uint16_t **offs, uint16_t *room, size_t *ends, uint64_t *steps);

/* Whether a class-run scanner's class holds a \p{N} code point. */
int wt_scan_run_has_digits(const wt_scanner *sc);

/* Isolated splits by class runs (WT_SCAN_RUN) applied in turn, runs[0] first,
 * at pos < n: the end of the piece that starts there, a run of one of their
 * classes (*is_run = 1; of runs[j]'s, holding no code point of an earlier
 * one's, which split it first), or the gap up to the next code point of any
 * of them (0), which a later split reads as a text of its own. */
size_t wt_scan_runs(const wt_scanner *const *runs, size_t count, const uint8_t *s, size_t n, size_t pos,
                    int *is_run, uint64_t *steps);

#endif
