#include "pretokenize/regex.h"
#include "common/alloc.h"
#include "common/utf8.h"
#include "text/unicode_data.h"

/* The stack holds at most one entry per alternative still open; a single class
 * loop needs one entry however long it runs. The cap stops runaway patterns. */
#define WT_RESTACK_MAX ((size_t)1 << 24)

/* Class runs at least this long are remembered (wt_restack.memo_*). */
#define WT_MEMO_MIN 64

enum { BT_PC = 0, BT_REP = 1, BT_BARRIER = 2 };

static int class_has_slow(int dialect, const wt_class *c, uint32_t cp)
{
    unsigned props = wt_uc_props(dialect, cp);
    int hit = 0;
    for (int32_t i = 0; i < c->n_items && !hit; i++) {
        const wt_class_item *it = &c->items[i];
        int m;
        switch (it->kind) {
        case WT_ITEM_RANGE: m = cp >= it->a && cp <= it->b; break;
        case WT_ITEM_GC: m = (it->a >> (props & WT_UC_GC_MASK)) & 1; break;
        default: m = (props & it->a) != 0; break;
        }
        hit = m ^ it->negate;
    }
    return hit ^ c->negate;
}

WT_INLINE int class_has(const wt_regex *re, const wt_class *c, uint32_t cp)
{
    if (WT_LIKELY(cp < 128)) return (c->ascii[cp >> 5] >> (cp & 31)) & 1;
    return class_has_slow(re->dialect, c, cp);
}

int wt_is_space(uint32_t cp)
{
    return cp <= 0x10FFFF && (wt_uc_props(WT_DIALECT_ONIG, cp) & WT_UC_SPACE) != 0;
}

/* What a match can start with, read off the first instruction (anything when in doubt):
 * the stage loop skips the other positions instead of trying a match at each. */
static void start_set(wt_regex *re)
{
    const int32_t *prog = re->prog;
    re->start_class = -1;
    re->start_byte = -1;
    re->start_other = 1;
    memset(re->start_ascii, 0xff, sizeof re->start_ascii);
    switch (prog[0]) {
    case WT_OP_CHAR:
        if (prog[1] < 128) {
            memset(re->start_ascii, 0, sizeof re->start_ascii);
            re->start_ascii[prog[1] >> 5] = 1u << (prog[1] & 31);
            re->start_other = 0;
            re->start_byte = prog[1];
        }
        break;
    case WT_OP_CLASS:
        re->start_class = prog[1];
        break;
    case WT_OP_REP:
        if (prog[2] >= 1) re->start_class = prog[1];
        break;
    case WT_OP_ALT:
        memset(re->start_ascii, 0, sizeof re->start_ascii);
        re->start_other = 0;
        for (int32_t k = 0; k < prog[1]; k++) {
            const int32_t *a = prog + 2 + k * WT_ALT_ENTRY;
            for (int w = 0; w < 4; w++) re->start_ascii[w] |= (uint32_t)a[w];
            re->start_other |= a[4] != 0;
        }
        break;
    default:
        break;
    }
}

wt_regex *wt_regex_new(const int32_t *prog, size_t n_prog, const int32_t *classes,
                       size_t n_words, int dialect, int *err)
{
    *err = WT_EINVAL;
    wt_regex *re = wt_calloc(1, sizeof *re);
    if (!re) { *err = WT_ENOMEM; return NULL; }
    re->dialect = dialect;
    re->prog = wt_malloc((n_prog + 1) * sizeof(int32_t));
    if (!re->prog) { *err = WT_ENOMEM; goto fail; }
    memcpy(re->prog, prog, n_prog * sizeof(int32_t));
    re->prog[n_prog] = WT_OP_MATCH;
    re->n_prog = n_prog;

    /* Two passes over the class table: count, then fill. */
    size_t n_classes = 0, n_items = 0;
    for (size_t w = 0; w < n_words;) {
        if (w + 2 > n_words || classes[w + 1] < 0) goto fail;
        size_t k = (size_t)classes[w + 1];
        if (w + 2 + 4 * k > n_words) goto fail;
        n_classes++; n_items += k; w += 2 + 4 * k;
    }
    re->classes = wt_calloc(n_classes + 1, sizeof(wt_class));
    re->items = wt_calloc(n_items + 1, sizeof(wt_class_item));
    if (!re->classes || !re->items) { *err = WT_ENOMEM; goto fail; }
    re->n_classes = n_classes;
    size_t ci = 0, ii = 0;
    for (size_t w = 0; w < n_words; ci++) {
        wt_class *c = &re->classes[ci];
        c->negate = classes[w] != 0;
        c->n_items = classes[w + 1];
        c->items = &re->items[ii];
        w += 2;
        for (int32_t j = 0; j < c->n_items; j++, ii++, w += 4) {
            wt_class_item *it = &re->items[ii];
            it->kind = classes[w]; it->negate = classes[w + 1] != 0;
            it->a = (uint32_t)classes[w + 2]; it->b = (uint32_t)classes[w + 3];
            if (it->kind < WT_ITEM_RANGE || it->kind > WT_ITEM_PROP) goto fail;
        }
        for (uint32_t cp = 0; cp < 128; cp++)
            if (class_has_slow(dialect, c, cp)) c->ascii[cp >> 5] |= 1u << (cp & 31);
    }

    /* Validate the program so the matcher never reads past it. */
    for (size_t pc = 0; pc < n_prog;) {
        int32_t op = prog[pc];
        size_t width;
        switch (op) {
        case WT_OP_MATCH: case WT_OP_ATOMIC_BEGIN: case WT_OP_ATOMIC_END: width = 1; break;
        case WT_OP_CHAR: case WT_OP_JMP: case WT_OP_ASSERT: width = 2; break;
        case WT_OP_CLASS: width = 2; break;
        case WT_OP_SPLIT: case WT_OP_LOOK: width = 3; break;
        case WT_OP_REP:
            width = WT_REP_WIDTH;
            if (pc + width <= n_prog && (prog[pc + 9] < 0 || prog[pc + 9] > 2)) goto fail;
            break;
        case WT_OP_ALT:
            if (pc + 2 > n_prog || prog[pc + 1] < 1) goto fail;
            width = 2 + (size_t)prog[pc + 1] * WT_ALT_ENTRY;
            if (pc + width > n_prog) goto fail;
            for (int32_t k = 0; k < prog[pc + 1]; k++) {
                int32_t target = prog[pc + 2 + k * WT_ALT_ENTRY + 5];
                if (target < 0 || (size_t)target > n_prog) goto fail;
            }
            break;
        default: goto fail;
        }
        if (pc + width > n_prog) goto fail;
        if ((op == WT_OP_CLASS || op == WT_OP_REP) && (prog[pc + 1] < 0 || (size_t)prog[pc + 1] >= n_classes)) goto fail;
        if (op == WT_OP_JMP && (prog[pc + 1] < 0 || (size_t)prog[pc + 1] > n_prog)) goto fail;
        if (op == WT_OP_SPLIT && (prog[pc + 1] < 0 || (size_t)prog[pc + 1] > n_prog ||
                                  prog[pc + 2] < 0 || (size_t)prog[pc + 2] > n_prog)) goto fail;
        if (op == WT_OP_LOOK && (prog[pc + 2] < 0 || (size_t)prog[pc + 2] > n_prog)) goto fail;
        pc += width;
    }
    start_set(re);
    *err = WT_OK;
    return re;
fail:
    wt_regex_free(re);
    return NULL;
}

size_t wt_regex_next_start(const wt_regex *re, const uint8_t *s, size_t n, size_t pos)
{
    size_t len;
    wt_utf8_decode(s, n, pos, &len);
    pos += len;
    if (re->start_class >= 0) {
        const wt_class *c = &re->classes[re->start_class];
        int no_ascii = !(c->ascii[0] | c->ascii[1] | c->ascii[2] | c->ascii[3]);
        while (pos < n) {
            uint8_t b = s[pos];
            if (b >= 0x80) {
                if (class_has_slow(re->dialect, c, wt_utf8_decode(s, n, pos, &len))) break;
                pos += len;
            } else if (no_ascii) {          /* e.g. a CJK class: skip ASCII text 8 bytes a step */
                pos = wt_skip_ascii_words(s, n, pos, 1, 0);
                while (pos < n && s[pos] < 0x80) pos++;
            } else {
                if (class_has(re, c, b)) break;
                pos++;
            }
        }
        return pos;
    }
    if (re->start_byte >= 0) {
        const uint8_t *hit = pos < n ? memchr(s + pos, re->start_byte, n - pos) : NULL;
        return hit ? (size_t)(hit - s) : n;
    }
    for (; pos < n; pos += len) {
        uint32_t b = s[pos];
        if (b < 128) {
            if ((re->start_ascii[b >> 5] >> (b & 31)) & 1) break;
            len = 1;
        } else {
            if (re->start_other) break;
            wt_utf8_decode(s, n, pos, &len);
        }
    }
    return pos;
}

void wt_regex_free(wt_regex *re)
{
    if (!re) return;
    wt_free(re->prog);
    wt_free(re->classes);
    wt_free(re->items);
    wt_free(re);
}

void wt_restack_free(wt_restack *st)
{
    wt_free(st->items);
    st->items = NULL;
    st->len = st->cap = 0;
}

WT_INLINE int push(wt_restack *st, int32_t kind, int32_t pc, size_t pos, size_t aux)
{
    if (WT_UNLIKELY(st->len == st->cap)) {
        size_t cap = st->cap ? st->cap * 2 : 256;
        if (cap > WT_RESTACK_MAX) return WT_EREGEX_STACK;
        wt_bt_entry *p = wt_realloc(st->items, cap * sizeof *p);
        if (!p) return WT_ENOMEM;
        st->items = p; st->cap = cap;
    }
    wt_bt_entry *e = &st->items[st->len++];
    e->kind = kind; e->pc = pc; e->pos = pos; e->aux = aux;
    return 0;
}

static int run(const wt_regex *re, const uint8_t *s, size_t n, size_t pos, int32_t pc,
               size_t *end, wt_restack *st)
{
    const int32_t *prog = re->prog;
    const size_t base = st->len;
    int rc;
    size_t len;
    uint32_t cp;
    uint64_t steps = 0;      /* added to st->work on return */
    for (;;) {
        steps++;
        switch (prog[pc]) {
        case WT_OP_MATCH:
            *end = pos;
            st->len = base;
            st->work += steps;
            return 1;
        case WT_OP_CHAR:
            if (pos < n) {
                cp = wt_utf8_decode(s, n, pos, &len);
                if (cp == (uint32_t)prog[pc + 1]) { pos += len; pc += 2; continue; }
            }
            goto fail;
        case WT_OP_CLASS:
            if (pos < n) {
                cp = wt_utf8_decode(s, n, pos, &len);
                if (class_has(re, &re->classes[prog[pc + 1]], cp)) { pos += len; pc += 2; continue; }
            }
            goto fail;
        case WT_OP_REP: {
            const int32_t k = prog[pc + 1], min = prog[pc + 2], max = prog[pc + 3];
            const wt_class *c = &re->classes[k];
            size_t p = pos, min_pos = pos;
            if (max < 0 && min <= 1 && st->memo_start == pos && st->memo_class == k) {
                /* The same run, scanned by an earlier alternative. */
                p = st->memo_end;
                if (p == pos && min) goto fail;
                if (min) { wt_utf8_decode(s, n, pos, &len); min_pos = pos + len; }
            } else {
                int32_t count = 0;
                while ((max < 0 || count < max) && p < n) {
                    cp = wt_utf8_decode(s, n, p, &len);
                    if (!class_has(re, c, cp)) break;
                    p += len;
                    if (++count == min) min_pos = p;
                }
                steps += p - pos;
                if (count < min) goto fail;
                if (max < 0 && min <= 1 && p - pos >= WT_MEMO_MIN) {
                    st->memo_start = pos; st->memo_end = p; st->memo_class = k;
                }
            }
            if (!prog[pc + 4] && p > min_pos && (rc = push(st, BT_REP, pc, p, min_pos))) return rc;
            pos = p;
            pc += WT_REP_WIDTH;
            continue;
        }
        case WT_OP_SPLIT:
            if ((rc = push(st, BT_PC, prog[pc + 2], pos, 0))) return rc;
            pc = prog[pc + 1];
            continue;
        case WT_OP_JMP:
            pc = prog[pc + 1];
            continue;
        case WT_OP_ATOMIC_BEGIN:
            if ((rc = push(st, BT_BARRIER, 0, 0, 0))) return rc;
            pc++;
            continue;
        case WT_OP_ATOMIC_END:
            while (st->len > base && st->items[--st->len].kind != BT_BARRIER) {}
            pc++;
            continue;
        case WT_OP_LOOK: {
            size_t sub_end;
            rc = run(re, s, n, pos, pc + 3, &sub_end, st);
            if (rc < 0) return rc;
            if (rc ^ prog[pc + 1]) { pc = prog[pc + 2]; continue; }
            goto fail;
        }
        case WT_OP_ALT: {
            /* Try, in order, only the alternatives that can start with this
             * character: the others would fail at once. */
            const int32_t n_alt = prog[pc + 1];
            const int32_t *e = prog + pc + 2;
            uint32_t c = pos < n ? s[pos] : 256;
            int32_t first = -1;
            for (int32_t k = n_alt - 1; k >= 0; k--) {
                const int32_t *a = e + k * WT_ALT_ENTRY;
                int ok = c < 128 ? (int)(((uint32_t)a[c >> 5] >> (c & 31)) & 1) : a[4];
                if (!ok) continue;
                if (first >= 0 && (rc = push(st, BT_PC, first, pos, 0))) return rc;
                first = a[5];
            }
            if (first < 0) goto fail;
            pc = first;
            continue;
        }
        case WT_OP_ASSERT: {
            int ok;
            switch (prog[pc + 1]) {
            case WT_ASSERT_BOT: ok = pos == 0; break;
            case WT_ASSERT_EOT: ok = pos == n; break;
            case WT_ASSERT_BOL: ok = pos == 0 || s[pos - 1] == '\n'; break;
            case WT_ASSERT_EOL: ok = pos == n || s[pos] == '\n'; break;
            default: ok = pos == n || (pos + 1 == n && s[pos] == '\n'); break;
            }
            if (ok) { pc += 2; continue; }
            goto fail;
        }
        default:
            return WT_EINVAL;
        }
    fail:
        for (;;) {
            if (st->len == base) { st->work += steps; return 0; }
            wt_bt_entry *e = &st->items[--st->len];
            steps++;
            if (e->kind == BT_PC) { pc = e->pc; pos = e->pos; break; }
            if (e->kind == BT_REP) {
                /* Give back characters of the loop, one at a time, but stop only where
                 * the rest of the match can start (the REP's follow set). */
                const int32_t *f = prog + e->pc + 5;
                size_t p = e->pos, floor = e->aux;
                int found = 0;
                while (p > floor) {
                    p = wt_utf8_prev(s, floor, p);
                    steps++;
                    uint32_t c = s[p];
                    if (c < 128 ? ((uint32_t)f[c >> 5] >> (c & 31)) & 1 : f[4] != 0) { found = 1; break; }
                }
                if (!found) continue;              /* no position left where the rest can start */
                if (p > floor) { e->pos = p; st->len++; }
                pc = e->pc + WT_REP_WIDTH; pos = p;
                break;
            }
        }
    }
}

int wt_regex_match_at(const wt_regex *re, const uint8_t *s, size_t n, size_t pos,
                      size_t *end, wt_restack *st)
{
    st->len = 0;
    st->memo_start = SIZE_MAX;
    return run(re, s, n, pos, 0, end, st);
}
