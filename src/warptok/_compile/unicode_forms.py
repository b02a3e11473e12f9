"""Unicode normalization (NFC, NFD, NFKC, NFKD) identical to Hugging Face `tokenizers`.

HF's normalizers carry Unicode 9.0 data (``ucd/normalization.py``'s ``UNICODE_VERSION``, probed from
HF by ``tools/gen_normalize_tables.py``), while Python's ``unicodedata`` follows its own,
usually newer, version (3.9: 13.0, 3.11: 14.0, 3.12: 15.0, 3.13: 15.1, 3.14: 16.0).
Two paths give HF's exact result:

* The table path (`normalize_tables`) runs the standard algorithm on HF's data: full
  decomposition (Hangul algorithmically), stable sort of each run of non-starters by
  combining class, and for NFC/NFKC canonical composition: a character joins the last
  starter if they form a primary composite (or Hangul LV/LVT) and no character between
  them is a starter or has a class >= its own.
* ``unicodedata`` is used when the text holds no character of `differing()`: those whose
  normalization data differs between HF and the running Python (combining class, full
  NFD/NFKD, or a composition pair it is part of), closed under "decomposes into / composes
  with / composes to a differing character". A text without them is normalized by both
  with identical data, hence identically, whichever version is newer. By the stability
  policy the set is the post-9.0 characters that are not inert in Python (new marks,
  decompositions and composition partners, e.g. U+11935 U+11930 -> U+11938, which HF
  leaves apart); if Python were older than HF it would hold HF's extra characters instead.
  It is computed once per process (stored for the Python version that made the tables).
  This relies on ``unicodedata.normalize`` using the data that ``combining`` and
  ``decomposition`` report, which holds for the module but not for the hybrid
  ``unicodedata.ucd_3_2_0``. As a precaution a ``unicodedata`` older than HF's data is
  never used (no supported Python has one).

`is_normalized` answers whether HF's normalize leaves the text unchanged, by the same rule:
ASCII -> True; no differing character -> ``unicodedata.is_normalized``; else compare the
table path's result. ``unicodedata.is_normalized`` alone is not enough, even on a newer
Python: it says False for NFC of U+11935 U+11930, which HF keeps as is.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from itertools import compress, groupby

from .. import errors

FORMS = ("NFC", "NFD", "NFKC", "NFKD")
UNICODE_VERSION = "9.0.0"  # of ucd/normalization.py (tests/test_normalize.py checks they agree)


def _hf_data():
    """HF's tables (``ucd/normalization.py``), imported when a tokenizer first normalizes:
    they take ~40 ms to import."""
    from .ucd import normalization
    return normalization
_ucd = unicodedata  # what the fast path trusts (tests swap in unicodedata.ucd_3_2_0)

# Hangul syllables: S = 0xAC00 + (L * 21 + V) * 28 + T
_S0, _L0, _V0, _T0, _NV, _NT = 0xAC00, 0x1100, 0x1161, 0x11A7, 21, 28
_NS = 19 * _NV * _NT


def _char_class(chars) -> str:
    """A regex character class matching `chars` and, if any of them is astral, every astral
    character (a class with many astral ranges makes `re` scan text far slower)."""
    cps, out, i = sorted({ord(c) for c in chars if c < "\U00010000"}), [], 0
    while i < len(cps):
        j = i
        while j + 1 < len(cps) and cps[j + 1] == cps[j] + 1:
            j += 1
        out.append("\\u%04x" % cps[i] + ("-\\u%04x" % cps[j] if j > i else ""))
        i = j + 1
    if any(c >= "\U00010000" for c in chars):
        out.append("\\U00010000-\\U0010ffff")
    return "[" + "".join(out) + "]" if out else "[^\\x00-\\U0010ffff]"


class _Tables:
    """HF's data in the shapes the table path uses."""

    def __init__(self):
        hangul = {}
        for s in range(_NS):
            lv, t = divmod(s, _NT)
            hangul[_S0 + s] = chr(_L0 + lv // _NV) + chr(_V0 + lv % _NV) + (chr(_T0 + t) if t else "")
        self.nfd = {**_hf_data().NFD, **hangul}    # translate tables: cp -> full decomposition
        self.nfkd = {**self.nfd, **_hf_data().NFKD}
        self.ccc = {chr(cp): c for cp, c in _hf_data().CCC.items()}  # non-starters only
        self.pairs = {ab: chr(cp) for cp, ab in _hf_data().PRIMARY_COMPOSITES.items()}
        for s in range(0, _NS, _NT):                            # LV = L + V, LVT = LV + T
            lv = s // _NT
            self.pairs[chr(_L0 + lv // _NV) + chr(_V0 + lv % _NV)] = chr(_S0 + s)
            for t in range(1, _NT):
                self.pairs[chr(_S0 + s) + chr(_T0 + t)] = chr(_S0 + s + t)
        # runs to reorder; runs of characters that may compose backwards or block (both
        # may also hold astral characters that do neither, see _char_class)
        self.runs = re.compile(_char_class(self.ccc) + "{2,}")
        self.tails = re.compile(_char_class(set(self.ccc) | {ab[1] for ab in self.pairs}) + "+")

    def reorder(self, m):
        """Stable sort by class of each run of non-starters in the match."""
        ccc = self.ccc
        return "".join(c for marks, run in groupby(m.group(), ccc.__contains__)
                       for c in (sorted(run, key=ccc.__getitem__) if marks else run))

    def compose_all(self, s):
        """Canonical composition of a decomposed, reordered string. It splits before each
        starter that never composes with what precedes it: the segments are such a starter
        (or the start of the text) and the run of characters that follows it."""
        out, pos = [], 0
        for m in self.tails.finditer(s):
            start = max(m.start() - 1, 0)
            out += (s[pos:start], self.compose(s[start:m.end()]))
            pos = m.end()
        out.append(s[pos:])
        return "".join(out)

    def compose(self, seg):
        if len(seg) == 2:                                   # the usual case: nothing can block
            return self.pairs.get(seg, seg)
        ccc, pairs = self.ccc, self.pairs
        out, pending, starter, last = [], [], None, -1   # last: ccc of the last pending char
        for ch in seg:
            cc = ccc.get(ch, 0)
            if starter is None:
                if cc:
                    out.append(ch)
                else:
                    starter = ch
                continue
            if last < cc:                                    # not blocked
                c = pairs.get(starter + ch)
                if c is not None:
                    starter = c
                    continue
            if cc == 0:
                out.append(starter)
                out += pending
                pending, last, starter = [], -1, ch
            else:
                pending.append(ch)
                last = cc
        if starter is not None:
            out.append(starter)
        return "".join(out + pending)


@functools.lru_cache(maxsize=None)
def _tables() -> _Tables:
    return _Tables()


def normalize_tables(form: str, text: str) -> str:
    """HF's normalization of `text`, computed from HF's tables only."""
    _check(form)
    t = _tables()
    s = text.translate(t.nfkd if "K" in form else t.nfd)
    s = t.runs.sub(t.reorder, s)
    if form in ("NFC", "NFKC"):
        s = t.compose_all(s)
    return s


@functools.lru_cache(maxsize=None)
def nfc_tables() -> dict:
    """HF's NFC data as the C core takes it (keyword arguments of _core.Core's nfc):
    the unstable code points as a bit set (a nonzero class, changed by NFC on their
    own, the second part of a pair, or decomposing to one that starts with such a
    code point: text splits safely before any other), every code point with a class
    or a decomposition, and the primary composites. Hangul is algorithmic in C too."""
    from array import array

    t = _tables()
    seconds = {ab[1] for ab in t.pairs}
    chars = sorted({ord(c) for c in t.ccc} | {cp for cp in _hf_data().NFD})
    candidates = {chr(cp) for cp in chars} | seconds

    def moves(c):
        return c in t.ccc or c in seconds

    unstable = [ord(c) for c in candidates
                if moves(c) or normalize_tables("NFC", c) != c or moves(t.nfd.get(ord(c), c)[0])]
    decomp = [_hf_data().NFD.get(cp, "") for cp in chars]
    return dict(
        unstable=_bit_set(unstable),
        char_cp=array("I", chars),
        char_ccc=bytes(t.ccc.get(chr(cp), 0) for cp in chars),
        decomp_len=bytes(map(len, decomp)),
        decomp=array("I", map(ord, "".join(decomp))),
        pair_first=array("I", (ord(ab[0]) for ab in _hf_data().PRIMARY_COMPOSITES.values())),
        pair_second=array("I", (ord(ab[1]) for ab in _hf_data().PRIMARY_COMPOSITES.values())),
        pair_composite=array("I", _hf_data().PRIMARY_COMPOSITES))


@functools.lru_cache(maxsize=None)
def differing(ucd=unicodedata) -> frozenset:
    """Characters whose normalization data differs between HF and `ucd` (see module doc)."""
    stored = _hf_data().DIFFERING.get(ucd.unidata_version)
    if ucd is unicodedata and stored is not None:
        return frozenset(stored)
    return _compute_differing(ucd)


def _compute_differing(ucd) -> frozenset:
    t = _tables()
    every = "".join(map(chr, range(0xD800))) + "".join(map(chr, range(0xE000, 0x110000)))
    marks = list(compress(every, map(ucd.combining, every)))
    decomposable = list(compress(every, map(ucd.decomposition, every)))
    py = {f: {c: ucd.normalize(f, c) for c in decomposable} for f in ("NFD", "NFKD")}
    # classes of canonically decomposable characters never matter: they are decomposed first
    py_ccc = {c: n for c, n in zip(marks, map(ucd.combining, marks)) if py["NFD"].get(c, c) == c}
    hf = {f: {chr(cp): d for cp, d in tab.items() if not _S0 <= cp < _S0 + _NS}
          for f, tab in (("NFD", t.nfd), ("NFKD", t.nfkd))}
    py_pairs = {}
    for c in decomposable:
        parts = ucd.decomposition(c).split()
        if len(parts) == 2 and parts[0][0] != "<" and ucd.normalize("NFC", c) == c:
            py_pairs[chr(int(parts[0], 16)) + chr(int(parts[1], 16))] = c
    hf_pairs = {ab: c for ab, c in t.pairs.items() if not _S0 <= ord(c) < _S0 + _NS}

    diff = {c for c in py_ccc.keys() | t.ccc.keys() if py_ccc.get(c, 0) != t.ccc.get(c, 0)}
    for f in ("NFD", "NFKD"):
        diff.update(c for c in py[f].keys() | hf[f].keys() if py[f].get(c, c) != hf[f].get(c, c))
    for ab in py_pairs.keys() | hf_pairs.keys():
        if py_pairs.get(ab) != hf_pairs.get(ab):
            diff.update(ab + py_pairs.get(ab, "") + hf_pairs.get(ab, ""))
    decomps = [(c, d) for tab in (*py.values(), *hf.values()) for c, d in tab.items()]
    composes = [(ab, c) for tab in (py_pairs, hf_pairs) for ab, c in tab.items()]
    size = 0
    while size != len(diff):  # close: decomposing into / composing to a differing character
        size = len(diff)
        diff.update(c for c, d in decomps if not diff.isdisjoint(d))
        diff.update(x for ab, c in composes if c in diff for x in ab)
    return frozenset(diff)


def _check(form):
    if form not in FORMS:
        raise errors.ValueError(f"unknown normalization form {form!r}")


def _version(v: str):
    return tuple(map(int, v.split(".")))


def _ucd_agrees(text: str) -> bool:
    """Whether `_ucd` provably normalizes `text` as HF does (see the module doc)."""
    if _version(_ucd.unidata_version) < _version(UNICODE_VERSION):
        return False
    return _compiled().first_flagged(text, _differing_bits(_ucd)) < 0


@functools.lru_cache(maxsize=None)
def _differing_bits(ucd) -> bytes:
    """`differing(ucd)` as a bit set, which a compiled scan tests per character
    (a set of the text's characters costs far more)."""
    return _bit_set(map(ord, differing(ucd)))


def _bit_set(cps) -> bytes:
    """Code points as a bit set over 0..0x10FFFF: bit cp & 7 of byte cp >> 3."""
    bits = bytearray(0x110000 // 8)
    for cp in cps:
        bits[cp >> 3] |= 1 << (cp & 7)
    return bytes(bits)


def normalize(form: str, text: str) -> str:
    """`text` normalized exactly as HF ``tokenizers.normalizers.<form>()`` would."""
    _check(form)
    if text.isascii():
        return text
    if _ucd_agrees(text):
        return _ucd.normalize(form, text)
    return normalize_tables(form, text)


def is_normalized(form: str, text: str) -> bool:
    """Whether HF's normalizer `form` leaves `text` unchanged."""
    _check(form)
    if text.isascii():
        return True
    if _ucd_agrees(text):
        return _ucd.is_normalized(form, text)
    return normalize_tables(form, text) == text


def ucd_is_normalized(form: str, text: str) -> bool:
    """``unicodedata.is_normalized(form, text)``, skipping ASCII text."""
    return text.isascii() or unicodedata.is_normalized(form, text)


@functools.lru_cache(maxsize=None)
def _compiled():
    """warptok._native._core, imported at the first call: tools/ load this module without it."""
    from .._native import _core
    return _core
