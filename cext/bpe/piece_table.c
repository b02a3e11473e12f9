#include "bpe/piece_table.h"

#include "common/alloc.h"
#include "common/hash.h"

#include <stdatomic.h>

_Static_assert(sizeof(wt_pt_entry) == 32, "two entries to a cache line");

#define LOAD(p) __atomic_load_n((p), __ATOMIC_RELAXED)
#define STORE(p, v) __atomic_store_n((p), (v), __ATOMIC_RELAXED)

uint64_t wt_hash_bytes(const uint8_t *p, size_t n)
{
    return wt_hash_mem(p, n);
}

uint64_t wt_pt_hash_of(const uint8_t *p, size_t n)
{
    return n <= WT_PT_SHORT ? wt_pt_hash(wt_pt_key_of(p, n, p, p + n)) : wt_hash_mem(p, n);
}

int64_t wt_pt_key_mismatch(const uint8_t *s, size_t n)
{
    for (size_t at = 0; at < n; at++)
        for (size_t len = 1; len <= WT_PT_SHORT && at + len <= n; len++) {
            wt_pt_key a = wt_pt_key_of(s + at, len, s, s + n), b = wt_pt_key_of(s + at, len, s + at, s + at + len);
            if (a.k0 != b.k0 || a.k1 != b.k1) return (int64_t)(at * 16 + len);
        }
    return -1;
}

int wt_pt_init(wt_piece_table *t, size_t slots, size_t long_slots, size_t arena_words)
{
    memset(t, 0, sizeof *t);
    if (slots < 2 || (slots & (slots - 1)) || long_slots < 2 || (long_slots & (long_slots - 1))
        || arena_words >= ((size_t)1 << 24))
        return WT_EINVAL;
    t->slots_bytes = slots * sizeof(wt_pt_entry);
    t->long_bytes = long_slots * sizeof(uint64_t);
    t->arena_bytes = arena_words * sizeof(uint32_t);
    /* Page mappings: zeroed (every slot empty), and only the pages written are resident. */
    t->slots = wt_pages_alloc(t->slots_bytes);
    t->long_slots = wt_pages_alloc(t->long_bytes);
    t->arena = wt_pages_alloc(t->arena_bytes);
    if (!t->slots || !t->long_slots || !t->arena) {
        wt_pt_free(t);
        return WT_ENOMEM;
    }
    t->mask = slots - 1;
    t->long_mask = long_slots - 1;
    t->arena_words = arena_words;
    atomic_init(&t->arena_used, 1);    /* word 0 unused: a reference is never 0 */
    return 0;
}

void wt_pt_free(wt_piece_table *t)
{
    wt_pages_free(t->slots, t->slots_bytes);
    wt_pages_free(t->long_slots, t->long_bytes);
    wt_pages_free(t->arena, t->arena_bytes);
    memset(t, 0, sizeof *t);
}

/* Room for a record of `words` words in the arena: its first word, or 0. */
static uint32_t arena_take(wt_piece_table *t, size_t words)
{
    size_t at = atomic_fetch_add_explicit(&t->arena_used, words, memory_order_relaxed);
    return at + words <= t->arena_words ? (uint32_t)at : 0;
}

static int64_t find_short(const wt_piece_table *t, wt_pt_key key, uint64_t h, uint32_t *out)
{
    size_t i = h & t->mask & ~(size_t)1;
    for (int line = 0; line < WT_PT_REACH; line++, i = (i + 2) & t->mask) {
        for (int w = 0; w < 2; w++) {
            const wt_pt_entry *e = &t->slots[i + w];
            uint64_t k1 = __atomic_load_n(&e->k1, __ATOMIC_ACQUIRE);
            if (k1 == 0) return -1;                     /* entries fill their line in order */
            if (k1 != key.k1 || LOAD(&e->k0) != key.k0) continue;
            uint64_t v0 = LOAD(&e->v0), v1 = LOAD(&e->v1);
            size_t k = WT_PT_COUNT(v1);
            if (k <= WT_PT_INLINE) {       /* exactly k: out may have room for no more */
                uint32_t ids[4];
                memcpy(ids, &v0, 8);
                memcpy(ids + 2, &v1, 8);
                memcpy(out, ids, k * sizeof(uint32_t));
            } else {
                memcpy(out, t->arena + WT_PT_REF(v1), k * sizeof(uint32_t));
            }
            return (int64_t)k;
        }
    }
    return -1;
}

/* Whether the arena's record at word `at` is the piece p[0..n). */
static int record_is(const wt_piece_table *t, uint32_t at, const uint8_t *p, size_t n)
{
    const uint32_t *rec = t->arena + at;
    const uint8_t *bytes = (const uint8_t *)(rec + 1);   /* a spilled seed may be under 8 bytes */
    return (rec[0] & 0xffff) == n && (n >= 8 ? wt_mem_equal8(bytes, p, n) : memcmp(bytes, p, n) == 0);
}

static int64_t find_long(const wt_piece_table *t, const uint8_t *p, size_t n, uint64_t h, uint32_t *out)
{
    uint32_t tag = (uint32_t)(h >> 32);
    size_t i = h & t->long_mask;
    for (int step = 0; step < 8 * WT_PT_REACH; step++, i = (i + 1) & t->long_mask) {
        uint64_t word = __atomic_load_n(&t->long_slots[i], __ATOMIC_ACQUIRE);
        if (word == 0) return -1;
        if ((uint32_t)(word >> 32) != tag) continue;
        if (!record_is(t, (uint32_t)word - 1, p, n)) continue;
        const uint32_t *rec = t->arena + (uint32_t)word - 1;
        size_t k = rec[0] >> 16;
        memcpy(out, rec + 1 + (n + 3) / 4, k * sizeof(uint32_t));
        return (int64_t)k;
    }
    return -1;
}

int64_t wt_pt_find_short(const wt_piece_table *t, wt_pt_key key, const uint8_t *p, size_t n, uint64_t h,
                         uint32_t *out)
{
    int64_t k = find_short(t, key, h, out);
    size_t bit = WT_PT_SPILL_BIT(h);
    if (k < 0 && (t->spill_filter[bit / 64] >> (bit % 64) & 1)) k = find_long(t, p, n, h, out);
    return k;
}

int64_t wt_pt_find(const wt_piece_table *t, const uint8_t *p, size_t n, uint64_t h, uint32_t *out)
{
    if (n <= WT_PT_SHORT) return wt_pt_find_short(t, wt_pt_key_of(p, n, p, p + n), p, n, h, out);
    if (n <= WT_PT_LONG) return find_long(t, p, n, h, out);
    return -1;
}

static int add_short(wt_piece_table *t, wt_pt_key key, uint64_t h, const uint32_t *ids, size_t k)
{
    size_t i = h & t->mask & ~(size_t)1;
    for (int slot = 0; slot < 2 * WT_PT_REACH; slot++, i = (i + 1) & t->mask) {
        wt_pt_entry *e = &t->slots[i];
        uint64_t empty = 0, k1 = __atomic_load_n(&e->k1, __ATOMIC_ACQUIRE);
        if (k1 == key.k1 && LOAD(&e->k0) == key.k0) return 1;    /* there already */
        if (k1 != 0 ||
            !__atomic_compare_exchange_n(&e->k1, &empty, WT_PT_BUSY, 0, __ATOMIC_RELAXED, __ATOMIC_RELAXED))
            continue;
        uint32_t v[4] = {0, 0, 0, (uint32_t)k};
        if (k <= WT_PT_INLINE) {
            memcpy(v, ids, k * sizeof(uint32_t));
        } else {
            uint32_t at = arena_take(t, k);    /* < 2^24: the arena is smaller */
            if (at == 0) {
                STORE(&e->k1, WT_PT_BUSY);      /* stays claimed and unmatched: lookups pass it */
                return 0;
            }
            memcpy(t->arena + at, ids, k * sizeof(uint32_t));
            v[3] |= at << 8;
        }
        uint64_t v0, v1;
        memcpy(&v0, v, 8);
        memcpy(&v1, v + 2, 8);
        STORE(&e->k0, key.k0);
        STORE(&e->v0, v0);
        STORE(&e->v1, v1);
        __atomic_store_n(&e->k1, key.k1, __ATOMIC_RELEASE);
        return 1;
    }
    return 0;
}

static int add_long(wt_piece_table *t, const uint8_t *p, size_t n, uint64_t h, const uint32_t *ids, size_t k)
{
    uint32_t at = 0;
    size_t i = h & t->long_mask;
    for (int step = 0; step < 8 * WT_PT_REACH; step++, i = (i + 1) & t->long_mask) {
        uint64_t empty = 0, held = __atomic_load_n(&t->long_slots[i], __ATOMIC_ACQUIRE);
        if (held != 0) {
            if (held >> 32 == h >> 32 && record_is(t, (uint32_t)held - 1, p, n)) return 1;   /* there already */
            continue;
        }
        if (!at) {                              /* the record, once: published by the slot's word */
            size_t words = 1 + (n + 3) / 4 + k;
            if (!(at = arena_take(t, words))) return 0;
            uint32_t *rec = t->arena + at;
            rec[0] = (uint32_t)n | (uint32_t)k << 16;
            rec[(n + 3) / 4] = 0;               /* the last byte word's padding */
            memcpy(rec + 1, p, n);
            memcpy(rec + 1 + (n + 3) / 4, ids, k * sizeof(uint32_t));
        }
        uint64_t word = (h >> 32) << 32 | (uint64_t)(at + 1);
        if (__atomic_compare_exchange_n(&t->long_slots[i], &empty, word, 0, __ATOMIC_RELEASE, __ATOMIC_RELAXED))
            return 1;
    }
    return 0;
}

int wt_pt_add(wt_piece_table *t, const uint8_t *p, size_t n, uint64_t h, const uint32_t *ids, size_t k)
{
    if (n == 0 || k == 0 || k > 0xff) return 0;
    if (n <= WT_PT_SHORT) return add_short(t, wt_pt_key_of(p, n, p, p + n), h, ids, k);
    return n <= WT_PT_LONG && add_long(t, p, n, h, ids, k);
}

int wt_pt_seed(wt_piece_table *t, const uint8_t *p, size_t n, uint64_t h, const uint32_t *ids, size_t k)
{
    if (wt_pt_add(t, p, n, h, ids, k)) return 1;
    if (n == 0 || n > WT_PT_SHORT || k == 0 || k > 0xff || !add_long(t, p, n, h, ids, k)) return 0;
    t->spilled++;
    size_t bit = WT_PT_SPILL_BIT(h);
    t->spill_filter[bit / 64] |= 1ull << (bit % 64);
    return 1;
}

void wt_pt_count(const wt_piece_table *t, size_t *short_entries, size_t *long_entries)
{
    size_t a = 0, b = 0;
    for (size_t i = 0; i <= t->mask; i++) a += LOAD(&t->slots[i].k1) != 0;
    for (size_t i = 0; i <= t->long_mask; i++) b += LOAD(&t->long_slots[i]) != 0;
    *short_entries = a;
    *long_entries = b;
}
