# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: freethreading_compatible=True
"""Thin bindings over the C core in cext/. Everything here converts between
Python objects and C tables; the work happens in C with the GIL released.
Error codes from C become exceptions in one place: ``_check``."""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.list cimport PyList_New, PyList_SET_ITEM
from cpython.ref cimport Py_INCREF
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_AsUTF8AndSize
from libc.stdint cimport int16_t, int32_t, int64_t, uint8_t, uint16_t, uint32_t, uint64_t, SIZE_MAX
from libc.string cimport memcmp, memcpy, memmove, memset

cimport cython

from warptok._native.capi cimport *

import operator

from warptok import errors

cdef extern from *:
    """
    #include "common/pool.h"

    /* Raw item arrays, so building a list of cached ints is a store and an incref. */
    #define _tuple_items(t) (((PyTupleObject *)(t))->ob_item)
    #define _list_items(l) (((PyListObject *)(l))->ob_item)

    /* dest[i] = a new reference to ints[ids[i]]. The int objects are scattered over
     * megabytes that the tokenizer's tables have pushed out of cache, so each is
     * fetched 128 ids ahead, its slot 256 ahead (for the first ids, before the
     * loop): nearer, the increfs wait on memory (docs/architecture.md). */
    static void _fill_ints_each(PyObject **dest, PyObject **ints, const uint32_t *ids, size_t n)
    {
        enum { AHEAD = 128 };
        size_t m = n < 2 * AHEAD ? n : 2 * AHEAD;
        for (size_t i = 0; i < m; i++) __builtin_prefetch(&ints[ids[i]]);
        m = n < AHEAD ? n : AHEAD;
        for (size_t i = 0; i < m; i++) __builtin_prefetch(ints[ids[i]], 1);
        for (size_t i = 0; i < n; i++) {
            if (i + 2 * AHEAD < n) __builtin_prefetch(&ints[ids[i + 2 * AHEAD]]);
            if (i + AHEAD < n) __builtin_prefetch(ints[ids[i + AHEAD]], 1);
            PyObject *o = ints[ids[i]];
            Py_INCREF(o);
            dest[i] = o;
        }
    }

    /* A long result's references counted per id first, in counters that stay in
     * cache (the int objects, megabytes of them, do not), on up to 4 threads of the
     * pool (nothing there touches an object), then each int's count raised once,
     * in order, by the caller. Where reference counts are not one plain field (the
     * free-threaded build), or the counters cannot be had, one incref each. */
    typedef struct {
        PyObject **dest, **ints;
        const uint32_t *ids;
        size_t n, n_ints, n_tasks;
        uint32_t *counts;              /* n_tasks rows of n_ints */
    } _fill_job;

    static void _fill_task(void *ctx, size_t task)
    {
        _fill_job *j = ctx;
        size_t lo = j->n * task / j->n_tasks, hi = j->n * (task + 1) / j->n_tasks;
        uint32_t *count = j->counts + task * j->n_ints;
        for (size_t i = lo; i < hi; i++) {
            uint32_t id = j->ids[i];
            j->dest[i] = j->ints[id];
            count[id]++;
        }
    }

    static void _fill_ints(PyObject **dest, PyObject **ints, size_t n_ints, const uint32_t *ids, size_t n)
    {
    #ifndef Py_GIL_DISABLED
        enum { COUNTED = 1 << 16, PER_TASK = 1 << 18 };
        if (n >= COUNTED && n < UINT32_MAX) {
            size_t cpus = (size_t)wt_cpu_count(), tasks = n / PER_TASK;
            tasks = tasks < 1 ? 1 : tasks > 4 ? 4 : tasks;
            tasks = tasks > cpus ? cpus : tasks;
            _fill_job j = {dest, ints, ids, n, n_ints, tasks, PyMem_Calloc(tasks * n_ints, sizeof(uint32_t))};
            if (j.counts) {
                wt_job *job = tasks > 1 ? wt_pool_begin(_fill_task, &j, tasks, (int)tasks) : NULL;
                if (job) wt_pool_finish(job);
                else for (size_t t = 0; t < tasks; t++) _fill_task(&j, t);
                for (size_t id = 0; id < n_ints; id++) {
                    Py_ssize_t c = 0;
                    for (size_t t = 0; t < tasks; t++) c += j.counts[t * n_ints + id];
                    if (c) Py_SET_REFCNT(ints[id], Py_REFCNT(ints[id]) + c);
                }
                PyMem_Free(j.counts);
                return;
            }
        }
    #endif
        _fill_ints_each(dest, ints, ids, n);
    }

    /* The first index in [i, n) of a str's data (of PyUnicode kind 1, 2 or 4) whose
     * code point is in the bit set `bits`, else n:
     * one loop per kind, so the scan has no per-character switch. */
    static Py_ssize_t _next_flagged(int kind, const void *data, Py_ssize_t i, Py_ssize_t n,
                                    const uint8_t *bits)
    {
        if (kind == 1) {
            const uint8_t *d = data;
            for (; i < n; i++)
                if ((bits[d[i] >> 3] >> (d[i] & 7)) & 1) return i;
        } else if (kind == 2) {
            const uint16_t *d = data;
            for (; i < n; i++)
                if ((bits[d[i] >> 3] >> (d[i] & 7)) & 1) return i;
        } else {
            const uint32_t *d = data;
            for (; i < n; i++)
                if ((bits[d[i] >> 3] >> (d[i] & 7)) & 1) return i;
        }
        return n;
    }
    """
    PyObject **_tuple_items(object t)
    PyObject **_list_items(object l)
    void _fill_ints(PyObject **dest, PyObject **ints, size_t n_ints, const uint32_t *ids, size_t n)
    Py_ssize_t _next_flagged(int kind, const void *data, Py_ssize_t i, Py_ssize_t n,
                             const uint8_t *bits) nogil

# The C core's constants, for the load-time compiler (warptok._compile): exported from the
# headers, so the Python layer never types a C value again.
OPCODES = dict(MATCH=WT_OP_MATCH, CHAR=WT_OP_CHAR, CLASS=WT_OP_CLASS, REP=WT_OP_REP,
               SPLIT=WT_OP_SPLIT, JMP=WT_OP_JMP, ATOMIC_BEGIN=WT_OP_ATOMIC_BEGIN,
               ATOMIC_END=WT_OP_ATOMIC_END, LOOK=WT_OP_LOOK, ASSERT=WT_OP_ASSERT, ALT=WT_OP_ALT,
               BOT=WT_ASSERT_BOT, EOT=WT_ASSERT_EOT, BOL=WT_ASSERT_BOL, EOL=WT_ASSERT_EOL,
               EOT_NL=WT_ASSERT_EOT_NL, RANGE=WT_ITEM_RANGE, GC=WT_ITEM_GC, PROP=WT_ITEM_PROP)
ALT_ENTRY = WT_ALT_ENTRY          # int32 words per alternative of an ALT instruction
REP_WIDTH = WT_REP_WIDTH          # int32 words of a REP instruction
DIALECTS = {"onig": WT_DIALECT_ONIG, "fancy": WT_DIALECT_FANCY}
# General categories: name -> the value wt_uc_props reports (its low bits); then the flags.
GENERAL_CATEGORIES = dict(
    Cn=WT_GC_Cn, Lu=WT_GC_Lu, Ll=WT_GC_Ll, Lt=WT_GC_Lt, Lm=WT_GC_Lm, Lo=WT_GC_Lo, Mn=WT_GC_Mn,
    Mc=WT_GC_Mc, Me=WT_GC_Me, Nd=WT_GC_Nd, Nl=WT_GC_Nl, No=WT_GC_No, Pc=WT_GC_Pc, Pd=WT_GC_Pd,
    Ps=WT_GC_Ps, Pe=WT_GC_Pe, Pi=WT_GC_Pi, Pf=WT_GC_Pf, Po=WT_GC_Po, Sm=WT_GC_Sm, Sc=WT_GC_Sc,
    Sk=WT_GC_Sk, So=WT_GC_So, Zs=WT_GC_Zs, Zl=WT_GC_Zl, Zp=WT_GC_Zp, Cc=WT_GC_Cc, Cf=WT_GC_Cf,
    Cs=WT_GC_Cs, Co=WT_GC_Co)
PROP_GC_MASK, PROP_SPACE, PROP_DIGIT, PROP_WORD = WT_UC_GC_MASK, WT_UC_SPACE, WT_UC_DIGIT, WT_UC_WORD
# The fast scanners (cext/pretokenize/scan.h): families, contraction modes, ranges of a class run.
SCAN_FAMILIES = dict(GPT2=WT_SCAN_GPT2, CL100K=WT_SCAN_CL100K, O200K=WT_SCAN_O200K, DS3=WT_SCAN_DS3,
                     RUN=WT_SCAN_RUN)
SCAN_CONTRACTIONS = dict(NONE=WT_CONTRACT_NONE, LOWER=WT_CONTRACT_LOWER, ANY_CASE=WT_CONTRACT_ANY_CASE)
SCAN_RANGES = WT_SCAN_RANGES
SPLIT_BEHAVIORS = {"Isolated": WT_SPLIT_ISOLATED, "Removed": WT_SPLIT_REMOVED,
                   "MergedWithPrevious": WT_SPLIT_MERGED_PREV, "MergedWithNext": WT_SPLIT_MERGED_NEXT,
                   "Contiguous": WT_SPLIT_CONTIGUOUS}
ADDED_LSTRIP = WT_ADDED_LSTRIP
ADDED_RSTRIP = WT_ADDED_RSTRIP
MAX_STAGES = WT_MAX_STAGES
TOK_BPE = WT_TOK_BPE
TOK_SPECIAL = WT_TOK_SPECIAL
TOK_PRESENT = WT_TOK_PRESENT
UNICODE_VERSION = WT_UNICODE_VERSION.decode()
MAP_BLOCK = WT_MAP_BLOCK
CLASS_BLOCK = WT_CLASS_BLOCK
CLASS_REMOVED = WT_CLASS_REMOVED
CLASS_ISOLATED = WT_CLASS_ISOLATED
_MODEL_KINDS = {"WordPiece": WT_MODEL_WORDPIECE, "WordLevel": WT_MODEL_WORDLEVEL, "BPE": WT_MODEL_BPE,
                "Unigram": WT_MODEL_UNIGRAM}
_NORM_BYTE_STEPS = {"prepend": WT_NORM_PREPEND, "replace": WT_NORM_REPLACE, "runs": WT_NORM_RUNS}
_PREPEND_SCHEMES = {"always": WT_PREPEND_ALWAYS, "never": WT_PREPEND_NEVER, "first": WT_PREPEND_FIRST}
from array import array as _array
_EMPTY_U32 = _array("I")
_EMPTY_F64 = _array("d")


cdef class Precompiled:
    """SentencePiece's precompiled charsmap (HF's Precompiled normalizer) on its own: the
    Python path's normalizer step, and tests."""
    cdef wt_precompiled *pc

    def __cinit__(self, bytes data):
        cdef int rc = wt_precompiled_new(&self.pc, <const uint8_t *>data, len(data))
        if rc == WT_EINVAL:
            raise errors.ValueError("not a precompiled charsmap (SentencePiece's normalizer blob)")
        _check(rc)

    def __dealloc__(self):
        wt_precompiled_free(self.pc)

    def normalize(self, str text):
        cdef Py_ssize_t n
        cdef const uint8_t *s = _utf8(text, &n)
        cdef wt_norm_buf buf
        cdef size_t out_n = 0
        cdef int rc
        memset(&buf, 0, sizeof(buf))
        try:
            with nogil:
                rc = wt_precompiled_apply(self.pc, s, n, &buf, &out_n)
            _check(rc)
            return (<char *>buf.p)[:out_n].decode("utf-8") if rc == 1 else text
        finally:
            wt_free(buf.p)


def graphemes(str text):
    """text's extended grapheme clusters as the Precompiled normalizer walks them: for tests."""
    cdef Py_ssize_t n
    cdef const uint8_t *s = _utf8(text, &n)
    cdef size_t pos = 0, end
    out = []
    while pos < <size_t>n:
        end = wt_grapheme_end(s, n, pos)
        out.append((<const char *>s)[pos:end].decode("utf-8"))
        pos = end
    return out


cdef int _check(int rc) except -1:
    """The one place where a C error code becomes a Python exception."""
    if rc >= 0:
        return 0
    if rc == WT_ENOMEM:
        raise errors.MemoryError("warptok: out of memory")
    if rc == WT_ETHREAD:
        raise errors.RuntimeError("warptok: could not start a worker thread")
    if rc == WT_EREGEX_STACK:
        raise errors.RuntimeError("warptok: the pre-tokenizer pattern backtracked too deeply on this input")
    if rc == WT_EUNK:
        raise errors.ValueError("warptok: the text needs the unknown token, and the model has none "
                                "(HF tokenizers fails on it too)")
    raise errors.ValueError(f"warptok: invalid table or input (code {rc})")


wt_alloc_init()


def allocator():
    """'mimalloc' when mimalloc is compiled into this extension, else 'system'."""
    return WT_ALLOCATOR_NAME.decode()


def cpu_count():
    """CPUs this process may run on; the default size of the worker pool."""
    return wt_cpu_count()


cdef extern from *:
    """
    #ifndef WT_PGO
    #define WT_PGO 0    /* setup.py defines it 1 for the build that uses a GCC profile */
    #endif
    #ifndef WT_LTO
    #define WT_LTO 0    /* and this 1 when it links with -flto */
    #endif
    """
    const int WT_PGO
    const int WT_LTO

profile_guided = bool(WT_PGO)   # built from setup.py's training run (see BuildExt there)
link_time_optimized = bool(WT_LTO)


def release_memory():
    """Hand memory cached by the allocator back to the OS."""
    with nogil:
        wt_alloc_collect()


def piece_key_mismatch(bytes text):
    """For tests: None when every piece of text of up to 15 bytes is keyed alike
    in the text (as the encoder reads it) and alone (as the piece table does), else
    the first that is not, as (offset, length)."""
    cdef int64_t k = wt_pt_key_mismatch(text, len(text))
    return None if k < 0 else (k // 16, k % 16)


def work_counters(bint reset=False):
    """(merge steps, pre-tokenizer steps, NFC steps) done by this thread so far: a
    measure of work that does not depend on the machine, each step examining a
    bounded number of bytes (tests bound it on worst-case inputs)."""
    cdef uint64_t bpe = 0, split = 0, normalize = 0
    _check(wt_work_counters(&bpe, &split, &normalize, reset))
    return bpe, split, normalize


_MASKS = {None: WT_MASKS_WIDEST, "vector": WT_MASKS_VECTOR, "words": WT_MASKS_WORDS}
_ALGOS = {"auto": WT_ALGO_AUTO, "heap": WT_ALGO_HEAP, "linear": WT_ALGO_LINEAR, "small": WT_ALGO_SMALL,
          "cuts": WT_ALGO_CUTS}
_LINEAR_STATUS = {WT_LINEAR_ON: "on", WT_LINEAR_BROKEN: "broken", WT_LINEAR_OFF: "off"}


cdef extern from "Python.h":
    int PyUnicode_KIND(object o)
    int PyUnicode_IS_ASCII(object o)
    void *PyUnicode_DATA(object o)
    uint32_t PyUnicode_READ(int kind, void *data, Py_ssize_t i)


def first_flagged(str text, const uint8_t[::1] bits):
    """The index of text's first code point in the bit set `bits` (bit cp & 7 of byte
    cp >> 3, covering every code point), or -1."""
    cdef Py_ssize_t n = len(text)
    cdef Py_ssize_t i = _next_flagged(PyUnicode_KIND(text), PyUnicode_DATA(text), 0, n, _bits_of(bits))
    return -1 if i == n else i


cdef const uint8_t *_bits_of(const uint8_t[::1] bits) except NULL:
    if bits.shape[0] * 8 < 0x110000:
        raise errors.ValueError("warptok: the bit set must cover every code point")
    return &bits[0]


# ---- loading tokenizer.json: the per-token and per-merge loops, compiled ----

def bytelevel_vocab(dict vocab, const int16_t[::1] char_byte):
    """(id -> bytes, set of byte-level ids) of a tokenizer.json vocabulary.
    char_byte[c]: the byte that byte-level character c stands for, or -1 (its length
    bounds the characters that have one). A token with another character is not
    byte-level and stands for its UTF-8 (HF's ByteLevel decoder falls back so)."""
    cdef dict token_bytes = {}
    cdef set bpe_ids = set()
    cdef Py_ssize_t n
    cdef bytearray buf = bytearray(256)
    for tok, i in vocab.items():
        if not isinstance(tok, str):
            raise errors.TypeError(f"vocabulary key {tok!r} is not a string")
        if len(<str>tok) > len(buf):
            buf = bytearray(len(<str>tok))
        n = _to_bytes(tok, 0, len(<str>tok), char_byte, buf, len(buf))
        if n < 0:
            token_bytes[i] = (<str>tok).encode()
        else:
            token_bytes[i] = PyBytes_FromStringAndSize(<char *><unsigned char *>buf, n)
            bpe_ids.add(i)
    return token_bytes, bpe_ids


def token_tables(dict token_bytes, uint32_t n_ids, set bpe_ids, set specials):
    """(offsets uint32[n_ids + 1], blob, flags[n_ids]) for Core: token i's bytes are
    blob[offsets[i]:offsets[i + 1]]; its flags say present, byte-level, special."""
    from array import array
    cdef Py_ssize_t total = 0
    for b in token_bytes.values():
        total += len(<bytes>b)
    offsets = array("I", bytes(4 * (n_ids + 1)))
    cdef uint32_t[::1] off = offsets
    cdef bytearray blob = bytearray(total)
    cdef bytearray flags = bytearray(n_ids)
    cdef unsigned char *bp = blob
    cdef unsigned char *fp = flags
    cdef Py_ssize_t at = 0, n
    cdef uint32_t i
    for i in range(n_ids):
        off[i] = <uint32_t>at
        tb = token_bytes.get(i)
        if tb is None:
            continue
        n = len(<bytes>tb)
        memcpy(bp + at, <const char *>(<bytes>tb), n)
        at += n
        fp[i] = WT_TOK_PRESENT | (WT_TOK_BPE if i in bpe_ids else 0) | (WT_TOK_SPECIAL if i in specials else 0)
    off[n_ids] = <uint32_t>at
    return offsets, bytes(blob[:at]), bytes(flags)


cdef signed char _B64[256]
_B64[:] = [-1] * 256
for _k, _c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"):
    _B64[ord(_c)] = _k
del _k, _c


def tiktoken_ranks(const unsigned char[::1] raw):
    """{token bytes: rank} of a tiktoken rank file whose every line is exactly
    "<padded base64> <decimal rank>" ending in LF (or the end of the file); None for
    any other layout, which the Python reader then handles (and explains, if wrong)."""
    cdef dict ranks = {}
    cdef Py_ssize_t n = raw.shape[0], pos = 0, sp, end, k, tlen, pad, at
    cdef unsigned char out[1024]
    cdef uint32_t acc
    cdef uint64_t rank
    cdef signed char v
    while pos < n:
        sp = pos
        while sp < n and raw[sp] != 0x20 and raw[sp] != 0x0A:
            sp += 1
        if sp >= n or raw[sp] != 0x20:
            return None
        end = sp + 1
        rank = 0
        while end < n and 0x30 <= raw[end] <= 0x39 and end - sp <= 10:
            rank = rank * 10 + (raw[end] - 0x30)
            end += 1
        if end == sp + 1 or (end < n and raw[end] != 0x0A) or rank > 0xFFFFFFFF:
            return None
        tlen = sp - pos
        pad = 0
        while pad < 2 and tlen > pad and raw[pos + tlen - 1 - pad] == 0x3D:
            pad += 1
        if tlen == 0 or tlen % 4 or tlen // 4 * 3 > 1024:
            return None
        at = 0
        acc = 0
        for k in range(tlen - pad):
            v = _B64[raw[pos + k]]
            if v < 0:
                return None
            acc = (acc << 6) | <uint32_t>v
            if k % 4 == 3:
                out[at] = <unsigned char>(acc >> 16)
                out[at + 1] = <unsigned char>(acc >> 8)
                out[at + 2] = <unsigned char>acc
                at += 3
                acc = 0
        if pad == 2:
            out[at] = <unsigned char>(acc >> 4)
            at += 1
        elif pad == 1:
            out[at] = <unsigned char>(acc >> 10)
            out[at + 1] = <unsigned char>(acc >> 2)
            at += 2
        ranks[PyBytes_FromStringAndSize(<char *>out, at)] = rank
        pos = end + 1
    return ranks


cdef class _BytesIds:
    """Byte strings -> ids, open addressing over one blob: the loader's lookups of
    merge parts, without a Python object per lookup."""
    cdef bytearray blob
    cdef uint64_t[::1] slot_entry   # the hash's high half << 32 | entry + 1; 0 = empty
    cdef uint32_t[::1] entry_id
    cdef uint32_t[::1] entry_start
    cdef uint32_t[::1] entry_len
    cdef size_t mask
    cdef readonly Py_ssize_t max_len   # the longest entry

    def __init__(self, dict token_bytes, set ids, dict vocab=None):
        """token_bytes[i] for each id in ids; or, with vocab (str -> id), each key's UTF-8."""
        from array import array
        cdef size_t cap = 1, i
        cdef Py_ssize_t k = 0, n = len(ids) if vocab is None else len(vocab), m, cap_bytes = 0
        cdef bytes tb
        while cap < 2 * <size_t>n + 2:
            cap <<= 1
        self.mask = cap - 1
        self.slot_entry = array("Q", bytes(8 * cap))
        self.entry_id = array("I", bytes(4 * n + 4))
        self.entry_start = array("I", bytes(4 * n + 4))
        self.entry_len = array("I", bytes(4 * n + 4))
        self.blob = bytearray()
        cdef unsigned char *bp
        if vocab is not None:                # two passes: the lengths, then the bytes
            for tok in vocab:
                if type(tok) is not str:
                    raise errors.TypeError(f"vocabulary key {tok!r} is not a string")
                m = _utf8_len(tok, 0, len(<str>tok))
                self.entry_start[k] = cap_bytes
                self.entry_len[k] = <uint32_t>m
                cap_bytes += m
                if m > self.max_len:
                    self.max_len = m
                k += 1
            self.blob = bytearray(cap_bytes)
            bp = self.blob
            k = 0
            for tok, i_ in vocab.items():
                self.entry_id[k] = <uint32_t>i_
                _utf8_into(tok, 0, len(<str>tok), bp + self.entry_start[k], self.entry_len[k])
                k += 1
        for i_ in (ids if vocab is None else ()):
            tb = token_bytes[i_]
            self.entry_id[k] = <uint32_t>i_
            self.entry_start[k] = len(self.blob)
            self.entry_len[k] = len(tb)
            self.blob += tb
            if len(tb) > self.max_len:
                self.max_len = len(tb)
            k += 1
        cdef const unsigned char *base = self.blob
        cdef uint64_t h
        for k in range(n):
            h = wt_hash_bytes(base + self.entry_start[k], self.entry_len[k])
            i = h & self.mask
            while self.slot_entry[i]:
                i = (i + 1) & self.mask
            self.slot_entry[i] = (h >> 32) << 32 | <uint64_t>(k + 1)

    cdef int64_t find(self, const unsigned char *p, Py_ssize_t n):
        cdef const unsigned char *base = self.blob
        cdef uint64_t h = wt_hash_bytes(p, n), slot
        cdef size_t i = h & self.mask
        cdef uint32_t e
        while True:
            slot = self.slot_entry[i]
            if slot == 0:
                return -1
            e = <uint32_t>slot - 1
            # the entry's own arrays are read only when the hashes' high halves agree
            if slot >> 32 == h >> 32 and self.entry_len[e] == <uint32_t>n and memcmp(base + self.entry_start[e], p, n) == 0:
                return self.entry_id[e]
            i = (i + 1) & self.mask


cdef Py_ssize_t _to_bytes(str s, Py_ssize_t start, Py_ssize_t end, const int16_t[::1] char_byte,
                          unsigned char *out, Py_ssize_t cap):
    """s[start:end]'s byte-level characters as bytes into out: the count, or -1 if it
    has another character or does not fit."""
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef Py_ssize_t k
    cdef uint32_t cp
    cdef int16_t b
    if end - start > cap:
        return -1
    for k in range(start, end):
        cp = PyUnicode_READ(kind, data, k)
        b = char_byte[cp] if cp < <uint32_t>char_byte.shape[0] else -1
        if b < 0:
            return -1
        out[k - start] = <unsigned char>b
    return end - start


cdef Py_ssize_t _find_space(str s, Py_ssize_t start=0):
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef Py_ssize_t k
    for k in range(start, len(s)):
        if PyUnicode_READ(kind, data, k) == 0x20:
            return k
    return -1


def merge_rows(merges, dict token_bytes, set bpe_ids, const int16_t[::1] char_byte):
    """tokenizer.json merges ("a b" strings or [a, b] pairs) as flat uint32 rows
    (left, right, rank), in first-seen order, a repeated pair keeping its last rank
    (as HF). Both parts and their concatenation must be byte-level tokens (ids in
    bpe_ids, bytes in token_bytes). Returns (rows, -1), or (None, index) of the
    first merge that is not so; the caller says what is wrong with it."""
    from array import array
    cdef _BytesIds by_bytes = _BytesIds(token_bytes, bpe_ids)
    cdef Py_ssize_t n = len(merges), i, k = 0, la, lb, sp
    cdef int64_t l, r
    cdef uint64_t key
    cdef size_t cap = 1, h
    while cap < 2 * <size_t>n + 2:
        cap <<= 1
    cdef uint64_t[::1] seen_key = array("Q", bytes(8 * cap))      # pair key + 1, 0 = empty
    cdef uint32_t[::1] seen_row = array("I", bytes(4 * cap))
    out = array("I", bytes(12 * n))
    cdef uint32_t[::1] rows = out
    # Room for two parts; a longer part cannot be a token, so it is refused.
    cdef Py_ssize_t half = by_bytes.max_len + 1
    cdef bytearray scratch = bytearray(2 * half)
    cdef unsigned char *buf = scratch
    for i in range(n):
        m = merges[i]
        if isinstance(m, str):               # "a b": split at the first space (no token has one)
            sp = _find_space(m)
            if sp < 0:
                return None, i
            la = _to_bytes(m, 0, sp, char_byte, buf, half)
            lb = _to_bytes(m, sp + 1, len(<str>m), char_byte, buf + half, half)
        else:                                # ["a", "b"]
            if len(m) != 2 or not isinstance(m[0], str) or not isinstance(m[1], str):
                return None, i
            la = _to_bytes(m[0], 0, len(m[0]), char_byte, buf, half)
            lb = _to_bytes(m[1], 0, len(m[1]), char_byte, buf + half, half)
        if la < 0 or lb < 0:
            return None, i
        l = by_bytes.find(buf, la)
        r = by_bytes.find(buf + half, lb)
        if l < 0 or r < 0:
            return None, i
        memmove(buf + la, buf + half, lb)
        if by_bytes.find(buf, la + lb) < 0:
            return None, i
        key = (<uint64_t>l << 32 | <uint64_t>r) + 1
        h = wt_hash_bytes(<const uint8_t *>&key, 8) & (cap - 1)
        while seen_key[h] and seen_key[h] != key:
            h = (h + 1) & (cap - 1)
        if seen_key[h]:
            rows[3 * seen_row[h] + 2] = <uint32_t>i
        else:
            seen_key[h] = key
            seen_row[h] = <uint32_t>k
            rows[3 * k], rows[3 * k + 1], rows[3 * k + 2] = <uint32_t>l, <uint32_t>r, <uint32_t>i
            k += 1
    return out[:3 * k], -1


cdef Py_ssize_t _utf8_len(str s, Py_ssize_t start, Py_ssize_t end):
    """The length of s[start:end] in UTF-8 (a surrogate as 3 bytes, as "surrogatepass")."""
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef Py_ssize_t k, n = 0
    cdef uint32_t cp
    if kind == 1 and PyUnicode_IS_ASCII(s):
        return end - start
    for k in range(start, end):
        cp = PyUnicode_READ(kind, data, k)
        n += 1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4
    return n


cdef Py_ssize_t _utf8_into(str s, Py_ssize_t start, Py_ssize_t end, unsigned char *out, Py_ssize_t cap):
    """s[start:end] as UTF-8 into out (a surrogate as 3 bytes): the count, or -1 if it does not fit."""
    cdef int kind = PyUnicode_KIND(s)
    cdef void *data = PyUnicode_DATA(s)
    cdef Py_ssize_t k, n = 0
    cdef uint32_t cp
    for k in range(start, end):
        cp = PyUnicode_READ(kind, data, k)
        if n + (1 if cp < 0x80 else 2 if cp < 0x800 else 3 if cp < 0x10000 else 4) > cap:
            return -1
        if cp < 0x80:
            out[n] = <unsigned char>cp
            n += 1
        elif cp < 0x800:
            out[n] = <unsigned char>(0xC0 | cp >> 6)
            out[n + 1] = <unsigned char>(0x80 | (cp & 0x3F))
            n += 2
        elif cp < 0x10000:
            out[n] = <unsigned char>(0xE0 | cp >> 12)
            out[n + 1] = <unsigned char>(0x80 | ((cp >> 6) & 0x3F))
            out[n + 2] = <unsigned char>(0x80 | (cp & 0x3F))
            n += 3
        else:
            out[n] = <unsigned char>(0xF0 | cp >> 18)
            out[n + 1] = <unsigned char>(0x80 | ((cp >> 12) & 0x3F))
            out[n + 2] = <unsigned char>(0x80 | ((cp >> 6) & 0x3F))
            out[n + 3] = <unsigned char>(0x80 | (cp & 0x3F))
            n += 4
    return n


def model_merge_rows(merges, dict vocab, bytes prefix):
    """The (left, right, merged) id rows of a BPE model over characters, one per merge in
    order: merged is the token whose UTF-8 is left's followed by right's past the first
    len(prefix) bytes (HF's merge map with a continuing_subword_prefix). Merges are
    "a b" strings (exactly one space) or [a, b] pairs of strings. Returns (rows, -1),
    or (None, index) of the first merge that is not so; the caller says what is wrong."""
    from array import array
    cdef _BytesIds by_bytes = _BytesIds(None, None, vocab)
    cdef Py_ssize_t n = len(merges), i, la, lb, sp, cut, plen = len(prefix)
    cdef int64_t l, r, mid
    out = array("I", bytes(12 * n))
    cdef uint32_t[::1] rows = out
    # Room for two parts; a longer part cannot be a token, so it is refused.
    cdef Py_ssize_t half = by_bytes.max_len + 1
    cdef bytearray scratch = bytearray(2 * half)
    cdef unsigned char *buf = scratch
    for i in range(n):
        m = merges[i]
        if type(m) is str:                  # "a b": split at the space (exactly one, as str.split)
            sp = _find_space(m)
            if sp < 0 or _find_space(m, sp + 1) >= 0:
                return None, i
            la = _utf8_into(m, 0, sp, buf, half)
            lb = _utf8_into(m, sp + 1, len(<str>m), buf + half, half)
        else:                                # ["a", "b"]
            if not isinstance(m, (list, tuple)) or len(m) != 2:
                return None, i
            a, b = m
            if type(a) is not str or type(b) is not str:
                return None, i
            la = _utf8_into(a, 0, len(<str>a), buf, half)
            lb = _utf8_into(b, 0, len(<str>b), buf + half, half)
        if la < 0 or lb < 0:
            return None, i
        l = by_bytes.find(buf, la)
        r = by_bytes.find(buf + half, lb)
        if l < 0 or r < 0:
            return None, i
        cut = plen if plen < lb else lb
        memmove(buf + la, buf + half + cut, lb - cut)
        mid = by_bytes.find(buf, la + lb - cut)
        if mid < 0:
            return None, i
        rows[3 * i], rows[3 * i + 1], rows[3 * i + 2] = <uint32_t>l, <uint32_t>r, <uint32_t>mid
    return out, -1


def unicode_props(int dialect, uint32_t cp):
    """General category | flags of cp in the reference engine's tables (for tests)."""
    return wt_uc_props(dialect, cp)


cdef class _Buffer:
    """Owns memory from wt_malloc and exposes it through the buffer protocol,
    so numpy arrays can view it without a copy; freed with wt_free."""
    cdef void *ptr
    cdef Py_ssize_t nbytes
    cdef Py_ssize_t itemsize
    cdef Py_ssize_t shape[1]
    cdef Py_ssize_t strides[1]
    cdef bytes fmt

    def __getbuffer__(self, Py_buffer *view, int flags):
        self.shape[0] = self.nbytes // self.itemsize
        self.strides[0] = self.itemsize
        view.buf = self.ptr
        view.obj = self
        view.len = self.nbytes
        view.readonly = 0
        view.itemsize = self.itemsize
        view.format = self.fmt
        view.ndim = 1
        view.shape = self.shape
        view.strides = self.strides
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer *view):
        pass

    def __dealloc__(self):
        wt_free(self.ptr)


cdef _Buffer _own(void *ptr, Py_ssize_t n, Py_ssize_t itemsize, bytes fmt):
    cdef _Buffer b = _Buffer.__new__(_Buffer)
    b.ptr = ptr
    b.nbytes = n * itemsize
    b.itemsize = itemsize
    b.fmt = fmt
    return b


cdef inline const uint8_t *_utf8(str text, Py_ssize_t *n) except NULL:
    # Raises UnicodeEncodeError on lone surrogates; the Python layer decides
    # beforehand what each reference does with them.
    return <const uint8_t *>PyUnicode_AsUTF8AndSize(text, n)


cdef extern from *:
    """
    /* A str's units: its data, their count in *n, their kind in *kind (0: UTF-8
     * already, an ASCII str's own data or the UTF-8 copy another extension left in
     * it; else 1, 2 or 4 bytes a unit). NULL with an error set. */
    static const void *wt_str_units(PyObject *s, int *kind, Py_ssize_t *n)
    {
    #if PY_VERSION_HEX < 0x030C0000
        if (PyUnicode_READY(s) < 0) return NULL;
    #endif
        if (PyUnicode_IS_ASCII(s)) {
            *kind = 0;
            *n = PyUnicode_GET_LENGTH(s);
            return PyUnicode_DATA(s);
        }
        /* set once, never changed while s lives (free-threaded builds set it under a lock) */
        const char *utf8 = __atomic_load_n(&((PyCompactUnicodeObject *)s)->utf8, __ATOMIC_ACQUIRE);
        if (utf8) {
            *kind = 0;
            *n = ((PyCompactUnicodeObject *)s)->utf8_length;
            return utf8;
        }
        *kind = (int)PyUnicode_KIND(s);
        *n = PyUnicode_GET_LENGTH(s);
        return PyUnicode_DATA(s);
    }
    """
    const void *wt_str_units(object s, int *kind, Py_ssize_t *n) except NULL


cdef inline const uint8_t *_call_utf8(str text, Py_ssize_t *n) except NULL:
    """text's UTF-8 for one single-text call: an ASCII str's own data (or the UTF-8 a
    PyUnicode_AsUTF8AndSize call left in it), else encoded into this thread's buffer (valid
    until its next call): no copy is left inside the str, as PyUnicode_AsUTF8AndSize leaves,
    and mostly-ASCII text encodes several times faster. Lone surrogates raise
    UnicodeEncodeError, as _utf8."""
    cdef int kind, rc
    cdef Py_ssize_t units
    cdef size_t m
    cdef const void *data = wt_str_units(text, &kind, &units)
    if kind == 0:
        n[0] = units
        return <const uint8_t *>data
    cdef const uint8_t *s = wt_thread_utf8(kind, data, <size_t>units, &m, &rc)
    if s == NULL:
        if rc == WT_EINVAL:
            return _utf8(text, n)           # a surrogate: CPython's encoder raises the error
        _check(rc)
    n[0] = <Py_ssize_t>m
    return s



def call_utf8(str text):
    """For tests: the UTF-8 a single-text call encodes (text.encode() but for how)."""
    cdef Py_ssize_t n
    cdef const uint8_t *s = _call_utf8(text, &n)
    return PyBytes_FromStringAndSize(<const char *>s, n)

# What Core.encode returns.
RESULT_LIST, RESULT_COUNT, RESULT_ARRAY = 0, 1, 2

# numpy, imported on the first array result (import warptok stays without it), and
# its C API found then in the capsule every numpy extension reads, so no numpy headers
# are needed to build. The module is declared free-threading compatible: the lock
# makes that first call's initialization safe without the GIL; later calls read one
# flag, stored after the table (release) and read before it (acquire).
cdef cython.pymutex _numpy_lock

cdef extern from *:
    """
    /* numpy's C API: a table of pointers whose slots numpy never renumbers (its ABI):
     * 2 the ndarray type, 93 PyArray_New. NPY_UINT (6) is uint32 where int is 32 bits,
     * as on every target we build. An ndarray's data pointer is the first field
     * after the object header (PyArray_DATA, in every compiled extension). */
    typedef PyObject *(*wt_array_new_fn)(PyTypeObject *, int, const Py_ssize_t *, int,
                                         const Py_ssize_t *, void *, int, int, PyObject *);
    static PyTypeObject *wt_ndarray_type;
    static wt_array_new_fn wt_array_new;
    static int wt_numpy_ready_flag;

    static int wt_numpy_api(PyObject *capsule)
    {
        void **api = PyCapsule_GetPointer(capsule, NULL);
        if (!api) return -1;
        wt_ndarray_type = (PyTypeObject *)api[2];
        wt_array_new = (wt_array_new_fn)api[93];
        return 0;
    }
    static int wt_numpy_ready(void) { return __atomic_load_n(&wt_numpy_ready_flag, __ATOMIC_ACQUIRE); }
    static void wt_numpy_set_ready(void) { __atomic_store_n(&wt_numpy_ready_flag, 1, __ATOMIC_RELEASE); }
    static void *wt_ndarray_data(PyObject *a) { return *(void **)((char *)a + sizeof(PyObject)); }
    /* A new 1-d uint32 array of n items, uninitialized; NULL with an exception set. */
    static PyObject *wt_uint32_array(Py_ssize_t n)
    {
        return wt_array_new(wt_ndarray_type, 1, &n, 6, NULL, NULL, 0, 0, NULL);
    }
    """
    int wt_numpy_api(object capsule) except -1
    int wt_numpy_ready()
    void wt_numpy_set_ready()
    void *wt_ndarray_data(object a)
    object wt_uint32_array(Py_ssize_t n)


cdef int _numpy_init() except -1:
    """Find numpy's C API, and check it makes what we expect before it is ever used."""
    with _numpy_lock:
        if wt_numpy_ready():
            return 0
        import numpy as np
        try:
            from numpy._core import _multiarray_umath as api
        except ImportError:                 # numpy 1.x
            from numpy.core import _multiarray_umath as api
        wt_numpy_api(api._ARRAY_API)
        probe = wt_uint32_array(3)
        if type(probe) is not np.ndarray or probe.dtype != np.uint32 or probe.shape != (3,):
            raise errors.TypeError(f"warptok: numpy {np.__version__}'s C API made {probe!r}")
        wt_numpy_set_ready()
    return 0


cdef object _new_array(size_t n):
    """A new uint32 ndarray of n items, uninitialized."""
    if not wt_numpy_ready():
        _numpy_init()
    return wt_uint32_array(<Py_ssize_t>n)


cdef object _as_array(const uint32_t *ids, size_t n):
    """A uint32 ndarray of its own holding a copy of ids[0..n) (a view of our own
    buffer through numpy.frombuffer cost 3x the time)."""
    arr = _new_array(n)
    if n:
        memcpy(wt_ndarray_data(arr), ids, n * sizeof(uint32_t))
    return arr


cdef class Core:
    """One immutable tokenizer: vocabulary, merges, pattern, added tokens and
    the post-processor's ids. Safe to use from any number of threads."""
    cdef wt_tokenizer t
    cdef readonly uint32_t n_ids
    cdef readonly tuple n_added    # added tokens in pass 0 and pass 1
    cdef tuple _ints       # Python ints for every id, so building lists only increfs
    cdef PyObject **_int_items  # _ints' item array, read without reference counting

    def __cinit__(self):
        memset(&self.t, 0, sizeof(self.t))

    def __init__(self, *, const uint32_t[::1] tok_off, const uint8_t[::1] tok_bytes,
                 const uint8_t[::1] tok_flags, bint mode_tiktoken, const uint32_t[::1] merges,
                 bint ignore_merges, list stages, list passes, const uint32_t[::1] prefix,
                 const uint32_t[::1] suffix, dict nfc=None, bint linear=True, size_t piece_cache_sets=0,
                 str block_masks=None, dict model=None, list norm=None):
        """nfc: None, or HF's NFC data (_compile.unicode_forms.nfc_tables()) to normalize what
        pass 0 leaves; stages: (prog, classes, dialect, behavior, invert, prefix_space, scanner)
        per split, scanner: None or the fast scanner's parameters (_compile.pattern.scanner_for);
        passes: two (trie_first, trie_byte, trie_target, trie_added, ids, flags) tuples;
        piece_cache_sets: 0 for the default, else fewer (a power of two), for tests;
        block_masks: None for the widest block masks the CPU has, or (tests) "vector" (SSE2 or
        NEON even with AVX2) or "words" (the portable 8-byte-word ones);
        model: None for byte-level BPE, else the model's tables (_compile.core_tables); a stage
        may then carry an eighth item, ("classes", block_of, classes) or ("metaspace",
        replacement, scheme, split); norm: None, or the normalizer's steps (_compile.charmap)."""
        cdef uint32_t n_ids = <uint32_t>(tok_off.shape[0] - 1)
        cdef int rc
        if tok_flags.shape[0] != n_ids or merges.shape[0] % 3:
            raise errors.ValueError("warptok: inconsistent token tables")
        if len(stages) > WT_MAX_STAGES or len(passes) != 2:
            raise errors.ValueError(f"warptok: at most {WT_MAX_STAGES} pre-tokenizer splits")
        if model is None:
            with nogil:
                rc = wt_bpe_init(&self.t.bpe, n_ids, &tok_off[0], &tok_bytes[0] if tok_bytes.shape[0] else NULL,
                                 &tok_flags[0], mode_tiktoken,
                                 &merges[0] if merges.shape[0] else NULL, merges.shape[0] // 3, ignore_merges,
                                 linear, piece_cache_sets)
            _check(rc)
        else:
            self._set_tokens(n_ids, tok_off, tok_bytes, tok_flags)
            self._set_model(model, piece_cache_sets)
        for k, stage in enumerate(stages):
            prog, classes, dialect, behavior, invert, prefix_space, scanner = stage[:7]
            self._set_stage(k, prog, classes, dialect, behavior, invert, prefix_space, scanner,
                            _MASKS[block_masks])
            if len(stage) > 7 and stage[7] is not None:
                self._set_other_stage(k, stage[7])
            self.t.n_stages = k + 1
        wt_tokenizer_fuse(&self.t)
        if norm:
            self._set_norm(norm)
        for k, (first, byte_, target, added, ids, flags) in enumerate(passes):
            self._set_pass(k, first, byte_, target, added, ids, flags)
        self.n_added = (len(passes[0][4]), len(passes[1][4]))
        self.t.filter_inactive = mode_tiktoken
        self.t.prefix = <uint32_t *>wt_malloc((prefix.shape[0] + 1) * sizeof(uint32_t))
        self.t.suffix = <uint32_t *>wt_malloc((suffix.shape[0] + 1) * sizeof(uint32_t))
        if self.t.prefix == NULL or self.t.suffix == NULL:
            raise errors.MemoryError()
        for i in range(prefix.shape[0]):
            self.t.prefix[i] = prefix[i]
        for i in range(suffix.shape[0]):
            self.t.suffix[i] = suffix[i]
        self.t.n_prefix = prefix.shape[0]
        self.t.n_suffix = suffix.shape[0]
        if nfc is not None:
            self._set_nfc(nfc["unstable"], nfc["char_cp"], nfc["char_ccc"], nfc["decomp_len"], nfc["decomp"],
                          nfc["pair_first"], nfc["pair_second"], nfc["pair_composite"])
        self.n_ids = n_ids
        self._ints = tuple(range(n_ids))
        self._int_items = _tuple_items(self._ints)

    cdef _set_stage(self, int k, const int32_t[::1] prog, const int32_t[::1] classes, int dialect,
                    int behavior, bint invert, bint prefix_space, tuple scanner, int masks):
        cdef int err = 0, i
        cdef wt_scanner *sc = &self.t.stages[k].scan
        cdef tuple ranges
        if prog.shape[0]:
            self.t.stages[k].re = wt_regex_new(&prog[0], prog.shape[0],
                                               &classes[0] if classes.shape[0] else NULL, classes.shape[0],
                                               dialect, &err)
            _check(err)
        if scanner is not None:
            (sc.family, sc.contractions, sc.max_digits, sc.marks_are_letters, sc.ws_end_first,
             sc.trail_slash, ranges) = scanner
            if len(ranges) > WT_SCAN_RANGES:
                raise errors.ValueError("warptok: too many ranges for a class-run scanner")
            sc.n_ranges = len(ranges)
            for i in range(sc.n_ranges):
                sc.ranges[i][0], sc.ranges[i][1] = ranges[i]
            sc.dialect = dialect
            sc.masks = masks
            _check(wt_scanner_init(sc))
        self.t.stages[k].behavior = behavior
        self.t.stages[k].invert = invert
        self.t.stages[k].prefix_space = prefix_space

    cdef _set_tokens(self, uint32_t n_ids, const uint32_t[::1] tok_off, const uint8_t[::1] tok_bytes,
                     const uint8_t[::1] tok_flags):
        """The token tables decode reads, when the model is not byte-level BPE (no wt_bpe_init)."""
        cdef size_t nbytes = tok_off[n_ids]
        if <size_t>tok_bytes.shape[0] < nbytes:
            raise errors.ValueError("warptok: inconsistent token tables")
        self.t.bpe.n_ids = n_ids
        self.t.bpe.tok_off = <uint32_t *>wt_malloc((n_ids + 1) * sizeof(uint32_t))
        self.t.bpe.tok_bytes = <uint8_t *>wt_malloc(nbytes + 1)
        self.t.bpe.tok_flags = <uint8_t *>wt_malloc(n_ids + 1)
        if self.t.bpe.tok_off == NULL or self.t.bpe.tok_bytes == NULL or self.t.bpe.tok_flags == NULL:
            raise errors.MemoryError()
        memcpy(self.t.bpe.tok_off, &tok_off[0], (n_ids + 1) * sizeof(uint32_t))
        if nbytes:
            memcpy(self.t.bpe.tok_bytes, &tok_bytes[0], nbytes)
        memcpy(self.t.bpe.tok_flags, &tok_flags[0], n_ids)

    cdef _set_model(self, dict model, size_t piece_cache_sets):
        cdef wt_model_def d
        cdef const uint32_t[::1] off = model["off"]
        cdef const uint8_t[::1] data = model["bytes"]
        cdef const uint8_t[::1] present = model["present"]
        cdef bytes prefix = model.get("prefix", b"")
        cdef bytes suffix = model.get("suffix", b"")
        cdef const uint32_t[::1] merges = model.get("merges") if model.get("merges") is not None else _EMPTY_U32
        cdef const double[::1] scores = model.get("scores") if model.get("scores") is not None else _EMPTY_F64
        cdef int rc
        memset(&d, 0, sizeof(d))
        d.kind = _MODEL_KINDS[model["kind"]]
        d.n_ids = <uint32_t>(off.shape[0] - 1)
        if present.shape[0] != d.n_ids or <size_t>data.shape[0] < off[d.n_ids] or merges.shape[0] % 3 or (
                scores.shape[0] and scores.shape[0] != d.n_ids):
            raise errors.ValueError("warptok: inconsistent model tables")
        d.off = &off[0]
        d.bytes = &data[0] if data.shape[0] else <const uint8_t *>b""
        d.present = &present[0] if present.shape[0] else NULL
        d.unk = model["unk"] if model.get("unk") is not None else 0xFFFFFFFF
        d.prefix = <const uint8_t *>prefix
        d.prefix_len = len(prefix)
        d.suffix = <const uint8_t *>suffix
        d.suffix_len = len(suffix)
        d.max_chars = model.get("max_chars", 0)
        d.merges = &merges[0] if merges.shape[0] else NULL
        d.n_merges = merges.shape[0] // 3
        d.byte_fallback = model.get("byte_fallback", False)
        d.fuse_unk = model.get("fuse_unk", False)
        d.ignore_merges = model.get("ignore_merges", False)
        d.unk_missing = model.get("unk_missing", False)
        d.scores = &scores[0] if scores.shape[0] else NULL
        d.test_slots = piece_cache_sets
        with nogil:
            rc = wt_model_new(&self.t.model, &d, &self.t.bpe.pieces)
        _check(rc)

    cdef _set_other_stage(self, int k, tuple other):
        cdef const uint32_t[::1] block_of
        cdef const uint8_t[::1] classes
        cdef bytes rep
        if other[0] == "classes":
            block_of, classes = other[1], other[2]
            self.t.stages[k].kind = WT_STAGE_CLASSES
            _check(wt_classes_init(&self.t.stages[k].classes, &block_of[0], block_of.shape[0], &classes[0],
                                   classes.shape[0]))
        elif other[0] == "metaspace":
            rep = other[1]
            if not 1 <= len(rep) <= 4:
                raise errors.ValueError("warptok: Metaspace replacement must be one character")
            self.t.stages[k].kind = WT_STAGE_METASPACE
            memcpy(self.t.stages[k].ms.rep, <const char *>rep, len(rep))
            self.t.stages[k].ms.rep_len = len(rep)
            self.t.stages[k].ms.scheme = _PREPEND_SCHEMES[other[2]]
            self.t.stages[k].ms.split = other[3]
        else:
            raise errors.ValueError(f"warptok: unknown stage {other[0]!r}")

    cdef _set_norm(self, list steps):
        cdef const uint32_t[::1] block_of
        cdef const uint32_t[::1] entries
        cdef bytes a, b
        self.t.norm = wt_norm_new()
        if self.t.norm == NULL:
            raise errors.MemoryError()
        for step in steps:
            kind = step[0]
            if kind == "map":
                block_of, entries, a = step[1], step[2], step[3]
                _check(wt_norm_add_map(self.t.norm, &block_of[0], block_of.shape[0], &entries[0],
                                       entries.shape[0], <const uint8_t *>a, len(a)))
            elif kind == "prepend" or kind == "replace" or kind == "runs":
                a, b = step[1], step[2] if len(step) > 2 else b""
                _check(wt_norm_add_bytes(self.t.norm, _NORM_BYTE_STEPS[kind],
                                         <const uint8_t *>a, len(a), <const uint8_t *>b, len(b)))
            elif kind == "strip":
                _check(wt_norm_add_strip(self.t.norm, step[1], step[2]))
            elif kind == "precompiled":
                a = step[1]
                _check(wt_norm_add_precompiled(self.t.norm, <const uint8_t *>a, len(a)))
            else:
                raise errors.ValueError(f"warptok: unknown normalizer step {kind!r}")

    cdef _set_nfc(self, const uint8_t[::1] unstable, const uint32_t[::1] char_cp, const uint8_t[::1] char_ccc,
                  const uint8_t[::1] decomp_len, const uint32_t[::1] decomp, const uint32_t[::1] pair_first,
                  const uint32_t[::1] pair_second, const uint32_t[::1] pair_composite):
        cdef Py_ssize_t n_chars = char_cp.shape[0], n_pairs = pair_first.shape[0], total = 0, i
        if decomp_len.shape[0] == n_chars:
            for i in range(n_chars):
                total += decomp_len[i]
        if (unstable.shape[0] != 0x110000 // 8 or char_ccc.shape[0] != n_chars or decomp_len.shape[0] != n_chars
                or total != decomp.shape[0] or not n_chars or not n_pairs
                or pair_second.shape[0] != n_pairs or pair_composite.shape[0] != n_pairs):
            raise errors.ValueError("warptok: inconsistent normalization tables")
        _check(wt_nfc_init(&self.t.nfc, &unstable[0], n_chars, &char_cp[0], &char_ccc[0], &decomp_len[0],
                           &decomp[0], n_pairs, &pair_first[0], &pair_second[0], &pair_composite[0]))

    cdef _set_pass(self, int k, const uint32_t[::1] first, const uint8_t[::1] byte_, const uint32_t[::1] target,
                   const int32_t[::1] added, const uint32_t[::1] ids, const uint8_t[::1] flags):
        if first.shape[0] <= 1:
            return
        if flags.shape[0] != ids.shape[0] or added.shape[0] != first.shape[0] - 1:
            raise errors.ValueError("warptok: inconsistent added-token tables")
        _check(wt_added_init(&self.t.added[k], <uint32_t>(first.shape[0] - 1), &first[0],
                             &byte_[0] if byte_.shape[0] else NULL, &target[0] if target.shape[0] else NULL,
                             &added[0], <uint32_t>ids.shape[0], &ids[0] if ids.shape[0] else NULL,
                             &flags[0] if flags.shape[0] else NULL))

    def __dealloc__(self):
        wt_tokenizer_free(&self.t)

    cdef list _as_list(self, const uint32_t *ids, size_t n):
        cdef list out = PyList_New(n)
        _fill_ints(_list_items(out), self._int_items, self.n_ids, ids, n)
        return out

    cdef const uint8_t *_active_ptr(self, int k, active) except? NULL:
        """Pass k's mask, a bytes object the caller keeps alive (read in place: a typed
        memoryview would cost more than a short encode), or NULL for None."""
        if active is None:
            return NULL
        if type(active) is not bytes:
            raise errors.TypeError(f"warptok: an active mask is bytes, not {type(active).__name__}")
        if len(<bytes>active) != self.n_added[k]:
            raise errors.ValueError("warptok: active mask has the wrong length")
        return <const uint8_t *>PyBytes_AS_STRING(active)

    cdef int _opts(self, wt_encode_opts *o, tuple active, int first_pass, Py_ssize_t max_body,
                   bint add_special, bint mid_text=False) except -1:
        if active is None or len(active) != 2:      # indexed unchecked below
            raise errors.TypeError("warptok: active is a tuple of two masks (passes 0 and 1)")
        o.active[0] = self._active_ptr(0, active[0])
        o.active[1] = self._active_ptr(1, active[1])
        o.first_pass = first_pass
        o.max_body = SIZE_MAX if max_body < 0 else <size_t>max_body
        o.add_special = add_special
        o.mid_text = mid_text
        return 0

    def encode(self, str text, tuple active, int first_pass, Py_ssize_t max_body, bint add_special,
               int result=RESULT_LIST, refuse=None):
        """Ids of one text: a list, their number (RESULT_COUNT: nothing built) or a uint32
        ndarray (RESULT_ARRAY). active: per pass, a bytes mask of the added tokens to split
        out, or None to skip the pass; first_pass: start at pass 1 (a segment pass 0
        produced); max_body < 0: no truncation. refuse: a mask of pass 0's added tokens:
        None is returned, nothing encoded, when the text holds one (tiktoken's disallowed
        special tokens: the caller raises), with the text read once for both."""
        cdef Py_ssize_t n
        cdef wt_encode_opts o
        cdef wt_ids *out
        cdef int rc
        cdef size_t start, end
        cdef uint32_t k
        self._opts(&o, active, first_pass, max_body, add_special)
        cdef const uint8_t *refused = NULL if refuse is None else self._active_ptr(0, refuse)
        cdef const uint8_t *s = _call_utf8(text, &n)
        if refused != NULL and wt_find_added(&self.t, 0, s, n, 0, refused, &start, &end, &k):
            return None
        cdef wt_batch *parts = NULL
        with nogil:
            out = wt_thread_ids()          # reused by this thread's next call
            rc = wt_encode_long(&self.t, s, n, &o, 0, out, &parts) if out != NULL else WT_ENOMEM
        _check(rc)
        if parts != NULL:
            try:
                return self._from_parts(parts, result)
            finally:
                wt_batch_free(parts)
        if result == RESULT_COUNT:
            return out.len
        if result == RESULT_ARRAY:
            return _as_array(out.ids, out.len)
        return self._as_list(out.ids, out.len)

    cdef object _from_parts(self, const wt_batch *parts, int result):
        """A long text's result from its parts' ids where the pool left them (joining
        them first cost a copy of every id, into pages of its own)."""
        cdef size_t c, m, at = 0, total = 0, n_chunks = wt_batch_chunks(parts)
        cdef const uint32_t *ids
        for c in range(n_chunks):
            wt_batch_chunk(parts, c, &m)
            total += m
        if result == RESULT_COUNT:
            return total
        if result == RESULT_ARRAY:
            arr = _new_array(total)
            for c in range(n_chunks):
                ids = wt_batch_chunk(parts, c, &m)
                if m:
                    memcpy(<uint32_t *>wt_ndarray_data(arr) + at, ids, m * sizeof(uint32_t))
                at += m
            return arr
        cdef list lst = PyList_New(total)
        cdef PyObject **items = _list_items(lst)
        cdef uint32_t *joined
        if total >= 1 << 16:
            # one fill over all ids: _fill_ints counts references per call, in a
            # vocabulary-sized table, which per part cost more than a copy of the ids
            joined = <uint32_t *>wt_malloc(total * sizeof(uint32_t))
            if joined != NULL:
                for c in range(n_chunks):
                    ids = wt_batch_chunk(parts, c, &m)
                    memcpy(joined + at, ids, m * sizeof(uint32_t))
                    at += m
                _fill_ints(items, self._int_items, self.n_ids, joined, total)
                wt_free(joined)
                return lst
        for c in range(n_chunks):
            ids = wt_batch_chunk(parts, c, &m)
            _fill_ints(items + at, self._int_items, self.n_ids, ids, m)
            at += m
        return lst

    def encode_batch(self, texts, tuple active, Py_ssize_t max_body, bint add_special,
                     int num_threads, bint flat, int first_pass=0, bint mid_text=False):
        """Many texts on the worker pool. flat: (ids uint32, offsets int64) numpy arrays;
        otherwise a list of lists, built while the pool still encodes later texts.
        first_pass: as in encode, for every text; mid_text: every text is a segment that
        does not begin its original text (Metaspace's prepend_scheme "first" skips it)."""
        cdef tuple keep = tuple(texts)   # holds every str alive while C reads it
        cdef Py_ssize_t n_texts = len(keep), i, n
        cdef wt_text *arr = <wt_text *>wt_calloc(n_texts + 1, sizeof(wt_text))
        cdef wt_encode_opts o
        cdef wt_batch *b = NULL
        cdef wt_flat res
        cdef int rc = 0, more = 1
        cdef size_t ready, len_
        cdef const uint32_t *ids
        cdef list out, doc
        cdef int kind
        cdef const void *units
        cdef size_t room = 0, at = 0, m
        cdef uint8_t *utf8 = NULL        # the UTF-8 of the texts that are not ASCII, one after another
        if arr == NULL:
            raise errors.MemoryError()
        try:
            for i in range(n_texts):
                t = keep[i]
                if not isinstance(t, str):
                    raise errors.TypeError(f"warptok: texts[{i}] is {type(t).__name__}, not str")
                wt_str_units(t, &kind, &n)
                if kind:
                    room += WT_UTF8_ROOM(kind, <size_t>n)
            if room and (utf8 := <uint8_t *>wt_malloc(room)) == NULL:
                raise errors.MemoryError()
            for i in range(n_texts):
                t = keep[i]
                units = wt_str_units(t, &kind, &n)
                if not kind:
                    arr[i].s = <const uint8_t *>units
                    arr[i].n = n
                    continue
                m = wt_utf8_encode_units(kind, units, <size_t>n, utf8 + at)
                if m == SIZE_MAX:
                    _utf8(t, &n)            # a surrogate: CPython's encoder raises the error
                arr[i].s = utf8 + at
                arr[i].n = m
                at += m
            self._opts(&o, active, first_pass, max_body, add_special, mid_text)
            if flat:
                with nogil:
                    rc = wt_encode_batch(&self.t, arr, n_texts, &o, num_threads, &res)
                _check(rc)
                import numpy as np
                ids_buf = _own(res.ids, res.offsets[n_texts], 4, b"I")
                off_buf = _own(res.offsets, n_texts + 1, 8, b"q")
                return np.frombuffer(ids_buf, dtype=np.uint32), np.frombuffer(off_buf, dtype=np.int64)
            # The GIL is released while this thread encodes a chunk, and held
            # while it turns the documents done so far (by any thread) into lists.
            with nogil:
                b = wt_batch_begin(&self.t, arr, n_texts, &o, num_threads, &rc)
            _check(rc)
            out = PyList_New(n_texts)
            i = 0
            while more:
                with nogil:
                    more = wt_batch_step(b)
                    if not more:
                        rc = wt_batch_finish(b)
                _check(rc)
                ready = wt_batch_ready(b)
                while <size_t>i < ready:
                    ids = wt_batch_doc(b, i, &len_)
                    doc = self._as_list(ids, len_)
                    Py_INCREF(doc)             # PyList_SET_ITEM steals it
                    PyList_SET_ITEM(out, i, doc)
                    i += 1
            if i < n_texts:                    # a long document's parts could not be joined
                raise errors.MemoryError("warptok: out of memory joining a long document")
            return out
        finally:
            with nogil:
                wt_batch_free(b)
            wt_free(arr)
            wt_free(utf8)

    @property
    def linear_status(self):
        """Whether long pieces take the linear-time path: a dict with status ("on", "off",
        or "broken" with the first token found so in bad_id), the trie's node count and
        how many tokens have their pairs checked by merging (merges out of rank order)."""
        st = _LINEAR_STATUS[self.t.bpe.linear_status]
        return dict(status=st, bad_id=self.t.bpe.linear_bad_id if st == "broken" else None,
                    trie_nodes=self.t.bpe.lin.n_nodes, unordered=self.t.bpe.n_unordered)

    @property
    def piece_table(self):
        """The piece table's size: slots, entries held (short pieces in slots, long ones
        in the long map), seeds spilled to the long map (their lines had no room), and
        whether every whole token was seeded."""
        cdef size_t n_short, n_long
        wt_pt_count(&self.t.bpe.pieces, &n_short, &n_long)
        return dict(slots=self.t.bpe.pieces.mask + 1, entries=n_short, long_entries=n_long,
                    spilled=self.t.bpe.pieces.spilled, whole_seeded=bool(self.t.bpe.whole_seeded))

    def piece_table_find(self, bytes piece):
        """The ids the piece table holds for a piece, or None (for tests)."""
        cdef const uint8_t *p = piece
        cdef size_t n = len(piece)
        cdef uint32_t *out = <uint32_t *>wt_malloc((n + 1) * sizeof(uint32_t))
        if out == NULL:
            raise errors.MemoryError("warptok: out of memory")
        try:
            k = wt_pt_find(&self.t.bpe.pieces, p, n, wt_pt_hash_of(p, n), out)
            return None if k < 0 else [out[i] for i in range(k)]
        finally:
            wt_free(out)

    @property
    def block_masks(self):
        """Per pre-tokenizer split, how its scanner classifies ASCII 64 bytes at a time:
        "avx2", "vector" (SSE2 or NEON), "words" (portable 8-byte words: other CPUs, or
        the block_masks option), or None (piece by piece)."""
        return [(None, "vector", "words", "avx2")[self.t.stages[k].scan.blocks] if self.t.stages[k].scan.family
                else None
                for k in range(self.t.n_stages)]

    @property
    def digits_fused_at(self):
        """The pre-tokenizer split of digits that the last split's scanner does in the same
        pass (DeepSeek-V3's), or None."""
        return self.t.fused_at if self.t.fused_at < self.t.n_stages else None

    def long_parts(self, str text, tuple active, int num_threads=0):
        """For tests: the UTF-8 byte offsets where encode starts each part of a long text
        on the pool ([0]: not cut)."""
        cdef Py_ssize_t n
        cdef const uint8_t *s = _utf8(text, &n)
        cdef wt_encode_opts o
        cdef size_t max_parts = <size_t>n // 1024 + 2
        cdef size_t *starts = <size_t *>wt_malloc(max_parts * sizeof(size_t))
        if starts == NULL:
            raise errors.MemoryError("warptok: out of memory")
        self._opts(&o, active, 0, -1, False)
        cdef size_t count = wt_long_parts(&self.t, s, n, &o, num_threads, starts, max_parts)
        try:
            if count == 0 or count > max_parts:
                raise errors.MemoryError("warptok: out of memory")
            return [starts[i] for i in range(count)]
        finally:
            wt_free(starts)

    def unordered_ids(self):
        """For tests: ids whose merges run out of rank order (their pairs are checked by merging)."""
        return [i for i in range(self.t.bpe.n_ids) if self.t.bpe.tok_flags[i] & WT_TOK_UNORDERED]

    def merge_pieces(self, bytes data, const uint32_t[::1] lens, str algo="auto", bint collect=True):
        """For tests: the merges of each piece (consecutive spans of data, lengths lens)
        by one algorithm ("heap", "linear", "small", "cuts" or "auto"), with no cache and no
        whole-piece lookup. A list of id lists; with collect=False only the total count
        of ids (for timing the merges alone)."""
        cdef int a = _ALGOS[algo]
        cdef const uint8_t *s = data
        cdef size_t n = len(data), at = 0, i, total = 0
        cdef int64_t k = 0, j
        cdef uint32_t *out
        cdef wt_bpe_scratch *sc
        for i in range(<size_t>lens.shape[0]):
            total += lens[i]
        if total != n:
            raise errors.ValueError("warptok: piece lengths do not add up to the data")
        out = <uint32_t *>wt_malloc((n + 1) * sizeof(uint32_t))
        if out == NULL:
            raise errors.MemoryError()
        result = []
        try:
            sc = wt_thread_bpe_scratch()
            if sc == NULL:
                raise errors.MemoryError()
            if not collect:
                with nogil:
                    for i in range(<size_t>lens.shape[0]):
                        k = wt_bpe_merge_with(&self.t.bpe, s + at, lens[i], out, sc, a)
                        if k < 0:
                            break
                        total += <size_t>k
                        at += lens[i]
                _check(<int>k if k < 0 else 0)
                return total - n
            for i in range(<size_t>lens.shape[0]):
                with nogil:
                    k = wt_bpe_merge_with(&self.t.bpe, s + at, lens[i], out, sc, a)
                _check(<int>k if k < 0 else 0)
                result.append([out[j] for j in range(k)])
                at += lens[i]
        finally:
            wt_free(out)
        return result

    def find_added(self, bytes data, int pass_, active):
        """Spans (start, end, index) of a pass's added tokens in UTF-8 data."""
        cdef const uint8_t *s = data
        cdef size_t n = len(data), pos = 0, start, end
        cdef uint32_t k
        cdef const uint8_t *act = self._active_ptr(pass_, active)
        spans = []
        while wt_find_added(&self.t, pass_, s, n, pos, act, &start, &end, &k):
            spans.append((start, end, k))
            pos = end
        return spans

    def normalized(self, str text):
        """text after the core's own normalizer (the one of segments between raw-text
        added tokens), or as it is when the core has none: for tests."""
        cdef Py_ssize_t n
        cdef const uint8_t *s = _utf8(text, &n)
        cdef wt_nfc_scratch sc
        cdef size_t out_n = 0
        cdef int rc, lost = 0
        cdef const uint8_t *res = NULL
        if self.t.norm != NULL:
            with nogil:
                rc = wt_norm_apply(self.t.norm, s, n, &res, &out_n, &lost)
            _check(rc)
            return (<char *>res)[:out_n].decode("utf-8") if rc == 1 else text
        if self.t.nfc.unstable == NULL:
            return text
        memset(&sc, 0, sizeof(sc))
        try:
            with nogil:
                rc = wt_nfc_apply(&self.t.nfc, s, n, &sc, &out_n)
            _check(rc)
            return (<char *>sc.out)[:out_n].decode("utf-8") if rc == 1 else text
        finally:
            wt_nfc_scratch_free(&sc)

    def pieces(self, str text):
        """The pre-tokenizer's pieces of text (no added-token split): for tests and debugging."""
        cdef Py_ssize_t n
        cdef const uint8_t *s = _utf8(text, &n)
        cdef wt_bytes out
        cdef wt_ids lens
        cdef int rc
        memset(&out, 0, sizeof(out))
        memset(&lens, 0, sizeof(lens))
        try:
            with nogil:
                rc = wt_pre_tokenize(&self.t, s, n, &out, &lens)
            _check(rc)
            data = (<char *>out.p)[:out.len] if out.len else b""
            pieces, at = [], 0
            for i in range(lens.len):
                pieces.append(data[at:at + lens.ids[i]].decode("utf-8", "replace"))
                at += lens.ids[i]
            return pieces
        finally:
            wt_bytes_free(&out)
            wt_ids_free(&lens)

    def token_bytes(self):
        """Every id's bytes, as a dict id -> bytes (the ids that exist)."""
        cdef dict out = {}
        cdef uint32_t i
        cdef const uint32_t *off = self.t.bpe.tok_off
        for i in range(self.t.bpe.n_ids):
            if self.t.bpe.tok_flags[i] & WT_TOK_PRESENT:
                out[i] = PyBytes_FromStringAndSize(<const char *>self.t.bpe.tok_bytes + off[i], off[i + 1] - off[i])
        return out

    def decode_bytes(self, ids, bint skip_special, bint skip_unknown):
        """The bytes ids stand for. Unknown ids are skipped or raise KeyError."""
        cdef Py_ssize_t n = len(ids), i
        cdef uint32_t *arr = <uint32_t *>wt_malloc((n + 1) * sizeof(uint32_t))
        cdef uint8_t *out = NULL
        cdef size_t out_len = 0, bad = 0
        cdef int rc
        if arr == NULL:
            raise errors.MemoryError()
        try:
            for i in range(n):
                v = ids[i]
                if type(v) is not int:
                    v = _id_at(v, i)         # numpy integers and bools become ints; anything else raises
                if v < 0 or v > 0xFFFFFFFF:
                    if skip_unknown:
                        arr[i] = 0xFFFFFFFF
                        continue
                    raise errors.KeyError(v)
                arr[i] = <uint32_t>v
            with nogil:
                rc = wt_decode(&self.t, arr, n, skip_special, skip_unknown, &out, &out_len, &bad)
            if rc == WT_EINVAL:
                raise errors.KeyError(ids[bad])
            _check(rc)
            try:
                return PyBytes_FromStringAndSize(<char *>out, out_len)
            finally:
                wt_free(out)
        finally:
            wt_free(arr)


cdef object _id_at(object v, Py_ssize_t i):
    """ids[i] as an int (numpy integers, bools): a TypeError naming the item otherwise."""
    try:
        return operator.index(v)
    except TypeError:
        raise errors.TypeError(f"ids[{i}] must be an int, not {type(v).__name__}: {repr(v)[:60]}") from None


cdef class Pattern:
    """A compiled pre-tokenizer pattern on its own: leftmost, non-overlapping match
    spans, as HF's Regex finds them (used by the Replace normalizer)."""
    cdef wt_regex *re

    def __init__(self, const int32_t[::1] prog, const int32_t[::1] classes, int dialect):
        cdef int err = 0
        if not prog.shape[0]:
            raise errors.ValueError("warptok: empty pattern program")
        self.re = wt_regex_new(&prog[0], prog.shape[0], &classes[0] if classes.shape[0] else NULL,
                               classes.shape[0], dialect, &err)
        _check(err)

    def __dealloc__(self):
        wt_regex_free(self.re)

    def spans(self, bytes data):
        """(start, end) byte spans of the matches in UTF-8 data."""
        cdef const uint8_t *s = data
        cdef size_t n = len(data), pos = 0, end
        cdef wt_restack st
        cdef int rc
        memset(&st, 0, sizeof(st))
        out = []
        try:
            while pos < n:
                rc = wt_regex_match_at(self.re, s, n, pos, &end, &st)
                _check(rc)
                if rc == 1 and end > pos:
                    out.append((pos, end))
                    pos = end
                else:
                    pos += 1
                    while pos < n and (s[pos] & 0xC0) == 0x80:
                        pos += 1
        finally:
            wt_restack_free(&st)
        return out
