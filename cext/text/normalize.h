/* HF's normalizers beyond NFC, compiled: a program of steps applied in order to
 * each segment that pass 0's added tokens leave (HF normalizes each on its own).
 *
 * - MAP: a per-code-point table (the Python compiler composes every run of
 *   per-character steps into one: BertNormalizer, Lowercase, StripAccents,
 *   Replace of one character): keep, delete, replace by a string, or surround
 *   with spaces (BERT's CJK ideographs);
 * - PREPEND: a string before a non-empty text;
 * - REPLACE: every non-overlapping occurrence of a string, leftmost first;
 * - STRIP: White_Space characters at either end;
 * - RUNS: every run of two or more copies of a string, by another (HF's Replace of
 *   the regex "c{2,}", which SentencePiece conversions use to squeeze spaces);
 * - PRECOMPILED: SentencePiece's charsmap (text/precompiled.c).
 * Immutable once built; any number of threads apply one at once. */
#ifndef WT_NORMALIZE_H
#define WT_NORMALIZE_H

#include "common/wt_common.h"

#define WT_MAP_BLOCK 64          /* code points per block of a map */
#define WT_MAP_DELETE 0xFFFFFFFFu
#define WT_MAP_PAD 0x80000000u   /* the character with a space on each side */
/* Otherwise an entry is 0 (keep) or (offset << 8 | length) of the replacement in the blob. */

typedef struct {
    uint32_t *block_of;      /* 0x110000 / WT_MAP_BLOCK: the block of each group of code points */
    uint32_t *entries;       /* n_blocks * WT_MAP_BLOCK */
    uint8_t *blob;
    uint32_t ascii[128];     /* the entries of ASCII, for the byte loop */
    uint8_t ascii_keep;      /* every ASCII character is kept */
    uint8_t makes_space;     /* some character becomes text with a space in it */
    uint8_t n_changed;       /* how many ASCII characters the map changes, */
    uint8_t changed[4];      /* and which, when at most 4 (SIMD skips the rest) */
} wt_charmap;

enum {
    WT_NORM_MAP = 1,
    WT_NORM_PREPEND = 2,
    WT_NORM_REPLACE = 3,
    WT_NORM_STRIP = 4,
    WT_NORM_PRECOMPILED = 5,
    WT_NORM_RUNS = 6,
};

struct wt_precompiled;

typedef struct {
    int kind;
    wt_charmap map;
    uint8_t *a, *b;          /* PREPEND: a; REPLACE and RUNS: a -> b */
    size_t na, nb;
    int left, right;         /* STRIP */
    struct wt_precompiled *pc;
} wt_norm_step;

#define WT_NORM_MAX_STEPS 16

typedef struct {
    wt_norm_step steps[WT_NORM_MAX_STEPS];
    int n_steps;
} wt_norm;

/* Building: an empty program, then steps appended. Tables are copied. */
wt_norm *wt_norm_new(void);
void wt_norm_free(wt_norm *nm);
int wt_norm_add_map(wt_norm *nm, const uint32_t *block_of, size_t n_block_of, const uint32_t *entries,
                    size_t n_entries, const uint8_t *blob, size_t n_blob);
int wt_norm_add_bytes(wt_norm *nm, int kind, const uint8_t *a, size_t na, const uint8_t *b, size_t nb);
int wt_norm_add_strip(wt_norm *nm, int left, int right);
int wt_norm_add_precompiled(wt_norm *nm, const uint8_t *data, size_t n);

/* A growable byte buffer a thread reuses. */
typedef struct {
    uint8_t *p;
    size_t cap;
} wt_norm_buf;

/* Grows b to at least need bytes (doubling): 0 or WT_ENOMEM. */
int wt_norm_buf_reserve(wt_norm_buf *b, size_t need);

/* The program applied to valid UTF-8 s[0..n): 0 when it leaves s as it is, 1 when
 * the result is in *out[0..*out_n) (one of the thread's buffers or a slice of s,
 * valid until the thread's next call), or WT_ENOMEM. *lost_start is set when the
 * text's first character was removed (the result no longer starts at offset 0). */
int wt_norm_apply(const wt_norm *nm, const uint8_t *s, size_t n, const uint8_t **out, size_t *out_n,
                  int *lost_start);

/* The entry of code point cp (0: kept). */
uint32_t wt_charmap_entry(const wt_charmap *m, uint32_t cp);
/* One map applied alone (tests): the same contract, into buf. */
int wt_charmap_apply(const wt_charmap *m, const uint8_t *s, size_t n, wt_norm_buf *buf, size_t *out_n);

#endif
