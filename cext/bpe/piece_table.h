/* The piece table: the ids of pre-tokenized pieces, keyed by their exact bytes.
 *
 * Seeded at load with every vocabulary string (as a piece, its encoding: the
 * token itself where a piece maps to its token, else what the merges make of
 * it), so a word of the vocabulary is a hit the first time it is seen. Pieces
 * merged while encoding are added where their home has room: an entry lies at
 * most WT_PT_REACH lines from its home, so a lookup reads at most that many,
 * and as the table fills, new pieces find no room and are merged each time.
 * Entries are written once and never
 * changed or removed, so any number of threads read and add without locks: a
 * writer claims an empty slot with a compare-and-swap, fills it, and publishes
 * it by storing its key word last (release); a reader loads that word first
 * (acquire). Two threads adding the same piece at once may leave two equal
 * entries, which is harmless.
 *
 * Pieces of up to WT_PT_SHORT bytes: 32-byte entries, two to a cache line, key
 * inline (two words), up to WT_PT_INLINE ids inline. A piece's home is one
 * line (two slots): one memory access decides most pieces.
 * Pieces of WT_PT_SHORT+1 .. WT_PT_LONG bytes: a map of tagged references to
 * records in an arena (bytes and ids). Both are bounded: memory does not grow
 * with the text. */
#ifndef WT_PIECE_TABLE_H
#define WT_PIECE_TABLE_H

#include "common/wt_common.h"

#define WT_PT_SHORT 15
#define WT_PT_INLINE 3
#define WT_PT_LONG 128
#define WT_PT_REACH 4        /* lines (of two slots) from its home an entry may lie */

/* k1: bytes 8..14 of the piece (zero past its end) with its length in the top
 * byte, so never 0 for a piece; 0 marks an empty slot, WT_PT_BUSY one being
 * written. k0: bytes 0..7, zero past the end. v0, v1: ids 0, 1, 2 and a meta
 * word, in this order as 32-bit words (so one 16-byte copy writes the ids out);
 * meta: the id count, and with more than WT_PT_INLINE ids the arena word where
 * they all are (<< 8). Fields are read and written with atomic builtins. */
typedef struct {
    uint64_t k1, k0, v0, v1;
} wt_pt_entry;

/* A short piece's bit in spill_filter (hash bits the home line and the long map's slot do not use). */
#define WT_PT_SPILL_BIT(h) ((size_t)((h) >> 20) & 4095)

#define WT_PT_COUNT(v1) ((uint32_t)((v1) >> 32) & 0xff)
#define WT_PT_REF(v1) ((uint32_t)((v1) >> 40))

#define WT_PT_BUSY (0xFFull << 56)
/* The key of a piece longer than WT_PT_SHORT: matches no slot. */
#define WT_PT_NO_KEY (0xFEull << 56)

typedef struct {
    wt_pt_entry *slots;      /* mask + 1 of them, a power of two, 64-byte aligned */
    size_t mask;
    uint64_t *long_slots;    /* hash tag (high 32 bits) | arena word + 1 (low 32); 0 = empty */
    size_t long_mask;
    uint32_t *arena;         /* records: len | count << 16, then the bytes (padded to words), then the ids */
    size_t arena_words;
    size_t slots_bytes, long_bytes, arena_bytes;  /* of the mappings */
    _Atomic size_t arena_used;
    size_t spilled;          /* short seeds kept in the long map: their lines had no room */
    uint64_t spill_filter[64];   /* a bit per spilled seed's hash (WT_PT_SPILL_BIT): most misses skip the map */
} wt_piece_table;

typedef struct {
    uint64_t k0, k1;
} wt_pt_key;

/* Keys are words loaded from the text: byte i of a piece at bits 8i .. 8i+7. */
_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "keys assume little-endian loads");

/* Per length n: the key words' masks of the piece's bytes 0..7 and 8..14. */
static const uint64_t wt_pt_mask0[WT_PT_SHORT + 1] = {
    0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFF, 0xFFFFFFFFFFFF, 0xFFFFFFFFFFFFFF,
    ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull, ~0ull};
static const uint64_t wt_pt_mask1[WT_PT_SHORT + 1] = {
    0, 0, 0, 0, 0, 0, 0, 0,
    0, 0xFF, 0xFFFF, 0xFFFFFF, 0xFFFFFFFF, 0xFFFFFFFFFF, 0xFFFFFFFFFFFF, 0xFFFFFFFFFFFFFF};

/* The key of p[0..n), 1 <= n <= WT_PT_SHORT, where [lo, hi) around it may be
 * read: with 16 bytes from p, as in running text, two 8-byte loads and masks
 * (no branch on the length, which text varies too irregularly to predict);
 * else loads of the piece's ends (a piece alone in a short text: its own). */
WT_INLINE wt_pt_key wt_pt_key_of(const uint8_t *p, size_t n, const uint8_t *lo, const uint8_t *hi)
{
    uint64_t a, z;
    if (WT_LIKELY((size_t)(hi - p) >= 16)) {
        memcpy(&a, p, 8);
        memcpy(&z, p + 8, 8);
        return (wt_pt_key){a & wt_pt_mask0[n], (z & wt_pt_mask1[n]) | (uint64_t)n << 56};
    }
    if ((size_t)(hi - p) >= 8 && (size_t)(p - lo) + n >= 8) {
        memcpy(&a, p, 8);
        memcpy(&z, p + n - 8, 8);    /* bytes n-8 .. n-1: from 8 bytes on, the second word's */
    } else {                         /* n < 8 here: 8 bytes always fit a longer piece */
        if (n >= 4) {
            uint32_t head, tail;
            memcpy(&head, p, 4);
            memcpy(&tail, p + n - 4, 4);
            a = head | (uint64_t)tail << (8 * (n - 4));
        } else {
            a = p[0] | (uint64_t)p[n / 2] << (8 * (n / 2)) | (uint64_t)p[n - 1] << (8 * (n - 1));
        }
        z = 0;
    }
    uint64_t wide = -(uint64_t)(n >= 8);
    uint64_t k0 = a & (~0ull >> ((64 - 8 * n) & ~wide & 63));
    uint64_t tail = ((z >> 8) >> ((8 * (15 - n)) & 63)) & wide;   /* bytes 8 .. n-1 */
    return (wt_pt_key){k0, tail | (uint64_t)n << 56};
}

/* As wt_hash_u64: the high half folded in before the product, or bytes 6..7 and
 * the length would never reach the home line's index. */
WT_INLINE uint64_t wt_pt_hash(wt_pt_key k)
{
    uint64_t x = k.k0 ^ (k.k1 * 0x9E3779B97F4A7C15ull);
    x ^= x >> 32;
    x *= 0xD6E8FEB86659FD93ull;
    return x ^ (x >> 32);
}

/* The two slots of a hash's home line. */
WT_INLINE const wt_pt_entry *wt_pt_home(const wt_piece_table *t, uint64_t h)
{
    return &t->slots[h & t->mask & ~(size_t)1];
}

/* Any-length hash, for pieces over WT_PT_SHORT bytes and other byte-keyed tables. */
uint64_t wt_hash_bytes(const uint8_t *p, size_t n);

/* Build: slots and long_slots powers of two (at least 2); arena_words for the records. */
int wt_pt_init(wt_piece_table *t, size_t slots, size_t long_slots, size_t arena_words);
void wt_pt_free(wt_piece_table *t);

/* Lookup beyond the home line, and of long pieces: the count of the ids written
 * to out (room for as many ids as the piece has bytes), or -1. */
int64_t wt_pt_find(const wt_piece_table *t, const uint8_t *p, size_t n, uint64_t h, uint32_t *out);

/* wt_pt_find for a piece of up to WT_PT_SHORT bytes whose key the caller has. */
int64_t wt_pt_find_short(const wt_piece_table *t, wt_pt_key key, const uint8_t *p, size_t n, uint64_t h,
                         uint32_t *out);

/* Add a piece's ids (n <= WT_PT_LONG bytes, h its wt_pt_hash_of), unless its
 * home has no room or the arena is full (then 0, else 1). A piece already there
 * is not added again (1): a block that misses one piece many times would fill its
 * home with copies, and the pieces that share that home could never be learned.
 * Thread-safe (two threads adding one piece at once may still leave two copies). */
int wt_pt_add(wt_piece_table *t, const uint8_t *p, size_t n, uint64_t h, const uint32_t *ids, size_t k);

/* wt_pt_add for seeding (one thread, before any lookup): a short piece whose
 * lines are full goes to the long map, where wt_pt_find still finds it, so a
 * seed is kept unless the long map or the arena is full (then 0). */
int wt_pt_seed(wt_piece_table *t, const uint8_t *p, size_t n, uint64_t h, const uint32_t *ids, size_t k);

/* The hash of p[0..n) as the table keys it (any n >= 1). */
uint64_t wt_pt_hash_of(const uint8_t *p, size_t n);

/* For tests: the entries held, short pieces (in slots) and long ones (in the long map). */
void wt_pt_count(const wt_piece_table *t, size_t *short_entries, size_t *long_entries);

/* For tests: whether every piece of s[0..n) of up to WT_PT_SHORT bytes has the
 * same key read in the text (as the encoder reads it) as read alone (as the table
 * does): -1, or the first that does not, as its offset * 16 + its length. */
int64_t wt_pt_key_mismatch(const uint8_t *s, size_t n);

#endif
