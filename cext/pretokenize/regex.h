/* A backtracking matcher for the regex subset that tokenizer pre-tokenizers use.
 * Patterns are compiled in Python (src/warptok/_pattern.py) into a flat int32
 * program; this file only runs programs. Priority order is the backtracking
 * order of Oniguruma and fancy-regex, so the first match found is theirs. */
#ifndef WT_REGEX_H
#define WT_REGEX_H

#include "common/wt_common.h"

/* Opcodes; keep in sync with _pattern.py (it imports them from _core). */
enum {
    WT_OP_MATCH = 0,        /* MATCH */
    WT_OP_CHAR = 1,         /* CHAR cp */
    WT_OP_CLASS = 2,        /* CLASS k */
    WT_OP_REP = 3,          /* REP k min max(-1 = unbounded) possessive ascii0..3 other: one class,
                             * repeated greedily; then the follow set (what can start the rest of
                             * the match: ASCII set, other = 0 no non-ASCII, 1 maybe, 2 anything) */
    WT_OP_SPLIT = 4,        /* SPLIT first second */
    WT_OP_JMP = 5,          /* JMP target */
    WT_OP_ATOMIC_BEGIN = 6, /* ATOMIC_BEGIN */
    WT_OP_ATOMIC_END = 7,   /* ATOMIC_END: forget the alternatives left inside the group */
    WT_OP_LOOK = 8,         /* LOOK negate next: sub-program follows, ends with MATCH */
    WT_OP_ASSERT = 9,       /* ASSERT kind */
    WT_OP_ALT = 10,         /* ALT n, then n x (ascii0..3, other, pc): alternatives that can start here, in order */
};

#define WT_REP_WIDTH 10

/* An ALT entry: which ASCII characters may start the alternative (a 128-bit
 * set), whether anything else may (a non-ASCII character, or nothing at all
 * when the alternative can match empty), and where its code starts. */
#define WT_ALT_ENTRY 6

enum { WT_ASSERT_BOT = 0, WT_ASSERT_EOT = 1, WT_ASSERT_BOL = 2, WT_ASSERT_EOL = 3, WT_ASSERT_EOT_NL = 4 };

/* Items of a character class: kind, a, b, negate (4 int32 each in the table). */
enum { WT_ITEM_RANGE = 0, WT_ITEM_GC = 1, WT_ITEM_PROP = 2 };

typedef struct {
    int32_t kind, negate;
    uint32_t a, b;
} wt_class_item;

typedef struct {
    uint32_t ascii[4];       /* the class evaluated for U+0000..U+007F */
    int32_t negate;
    int32_t n_items;
    wt_class_item *items;
} wt_class;

typedef struct {
    int32_t *prog;
    size_t n_prog;
    wt_class *classes;
    size_t n_classes;
    wt_class_item *items;
    int dialect;             /* WT_DIALECT_ONIG or WT_DIALECT_FANCY: property tables and \s */
    /* What a match can start with, from the program's first instruction: a class
     * (start_class >= 0, exact), or ASCII characters plus maybe any non-ASCII one. */
    int32_t start_class;
    uint32_t start_ascii[4];
    int start_other;
    int start_byte;          /* the one ASCII character a match starts with (memchr finds it), or -1 */
} wt_regex;

/* Backtracking stack: lives in per-thread scratch, reused across calls. */
typedef struct {
    int32_t kind, pc;
    size_t pos, aux;
} wt_bt_entry;

typedef struct {
    wt_bt_entry *items;
    size_t len, cap;
    uint64_t work;           /* steps done by this thread's matches (wt_work_counters) */
    /* The last long unbounded class run of this match: alternatives that start with
     * the same class at the same place (\s++$ | \s*[\r\n] | \s+(?!\S)) scan it once. */
    size_t memo_start, memo_end;
    int32_t memo_class;
} wt_restack;

/* Build from the compiled tables. classes: per class [negate, n_items, then
 * n_items x (kind, negate, a, b)]. Returns NULL on bad tables or no memory. */
wt_regex *wt_regex_new(const int32_t *prog, size_t n_prog, const int32_t *classes,
                       size_t n_classes_words, int dialect, int *err);
void wt_regex_free(wt_regex *re);

/* Match anchored at pos within s[0..n). Returns 1 (and *end), 0, or WT_E*. */
int wt_regex_match_at(const wt_regex *re, const uint8_t *s, size_t n, size_t pos,
                      size_t *end, wt_restack *st);


/* The first position after pos (pos < n) where a match could start, or n. */
size_t wt_regex_next_start(const wt_regex *re, const uint8_t *s, size_t n, size_t pos);

void wt_restack_free(wt_restack *st);

/* Whitespace as HF's char::is_whitespace (Unicode White_Space; Oniguruma's \s agrees). */
int wt_is_space(uint32_t cp);

#endif
