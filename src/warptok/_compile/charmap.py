"""Per-character tables for the core: a normalizer map (text/normalize.h, WT_NORM_MAP)
composed from a run of per-character normalizer steps, and a class table
(pretokenize/classes.h) for pre-tokenizers that split by a class per character.

A per-character step is a ``CharStep``: what it does to one character (``char``), the
code points it may change (``sparse``, plus ``ranges`` of whole blocks it deletes or
surrounds with spaces, which would be slow to list), and the same on a whole text
(``text``, HF's exact result: the Python path, and the reference the map is checked
against). Composing steps per code point equals applying them in turn to a text when
each maps characters independently; BertNormalizer's strip_accents (NFD, which reorders
marks) is the one exception, and the code points where it may differ are ``unsafe``:
a text holding one takes the Python path.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Callable

from .. import errors
from .._native._core import CLASS_BLOCK, CLASS_ISOLATED, CLASS_REMOVED, MAP_BLOCK

DELETE, PAD = 0xFFFFFFFF, 0x80000000
N_CP = 0x110000


@dataclass
class CharStep:
    char: Callable[[str], str]            # one character -> its result
    text: Callable[[str], str]            # a whole text -> HF's result
    sparse: frozenset = frozenset()       # code points it may change (besides ranges)
    ranges: tuple = ()                    # (lo, hi, "delete" | "pad"), inclusive
    unsafe: frozenset = frozenset()       # code points whose text result may differ from per-character
    name: str = ""


def _expand(ranges) -> set:
    return {c for lo, hi in ranges for c in range(lo, hi + 1)}


def compose_map(steps: list) -> tuple:
    """(block_of uint32, entries uint32, blob bytes): the map of the steps applied in order."""
    import numpy as np     # here, not at import: warptok imports without numpy (setup.py's profile run)
    entries = np.zeros(N_CP, dtype=np.uint32)
    sparse = set()
    for s in steps:
        sparse |= s.sparse
    big = [k for k, s in enumerate(steps) if s.ranges]
    if len(big) == 1:
        k = big[0]
        later_space = any(0x20 in s.sparse for s in steps[k + 1:])
        for lo, hi, kind in steps[k].ranges:
            if kind == "delete":
                entries[lo:hi + 1] = DELETE
            elif later_space:
                sparse |= set(range(lo, hi + 1))
            else:
                entries[lo:hi + 1] = PAD
    else:
        for s in steps:
            for lo, hi, _ in s.ranges:
                sparse |= set(range(lo, hi + 1))
    blob, at = bytearray(), {}
    for cp in sparse:
        if 0xD800 <= cp < 0xE000:
            continue
        c = chr(cp)
        r = c
        for s in steps:
            r = "".join(s.char(x) for x in r)
        if r == c:
            e = 0
        elif r == "":
            e = DELETE
        elif r == " " + c + " ":
            e = PAD
        else:
            b = r.encode()
            if len(b) > 255:
                raise errors.UnsupportedNormalizer(f"a character that becomes {len(b)} bytes")
            off = at.get(b)
            if off is None:
                off = at[b] = len(blob)
                blob += b
            e = off << 8 | len(b)
        entries[cp] = e
    if len(blob) >= 1 << 23:
        raise errors.UnsupportedNormalizer("a normalizer map too large")
    block_of, blocks = _blocks(entries, MAP_BLOCK)
    return block_of, blocks, bytes(blob)


def _blocks(values: np.ndarray, size: int):
    """Two-level form of a per-code-point array: (block index per group, the distinct groups)."""
    import numpy as np
    groups = values.reshape(-1, size)
    raw = groups.tobytes()
    width = size * values.itemsize
    seen, index, order = {}, np.empty(len(groups), dtype=np.uint32), []
    for i in range(len(groups)):
        key = raw[i * width:(i + 1) * width]
        k = seen.get(key)
        if k is None:
            k = seen[key] = len(order)
            order.append(i)
        index[i] = k
    return index, np.ascontiguousarray(groups[order].reshape(-1))


def unsafe_bits(steps: list) -> bytes | None:
    """A bit set of the code points that send a text to the Python path, or None."""
    cps = set()
    for s in steps:
        cps |= s.unsafe
    if not cps:
        return None
    if min(cps) < 0x80:            # Tokenizer._needs_normalizing lets ASCII texts skip the scan
        raise errors.AssertionError("an ASCII character among the code points for the Python path")
    bits = bytearray(N_CP // 8)
    for c in cps:
        bits[c >> 3] |= 1 << (c & 7)
    return bytes(bits)


# ---------------------------------------------------------------- the steps

def _tables():
    from .ucd import models
    return models


@functools.lru_cache(maxsize=None)
def _lower_table() -> dict:
    from .ucd.lowercase import LOWER
    return LOWER


def lowercase_text(text: str) -> str:
    if text.isascii():
        return text.lower()
    return text.translate(_lower_table())


def lowercase_step() -> CharStep:
    lower = _lower_table()
    return CharStep(lambda c: lower.get(ord(c), c), lowercase_text, frozenset(lower), name="Lowercase")


@functools.lru_cache(maxsize=None)
def _strip_marks() -> dict:
    return dict.fromkeys(_expand(_tables().STRIP_ACCENTS_MARKS))


def strip_accents_step() -> CharStep:
    marks = _strip_marks()
    return CharStep(lambda c: "" if ord(c) in marks else c, lambda t: t.translate(marks), frozenset(marks),
                    name="StripAccents")


# HF's Nmt normalizer: ASCII and C1 control characters dropped, other spaces made ' '.
_NMT_DROPPED = [*range(0x01, 0x09), 0x0B, *range(0x0E, 0x20), 0x7F, 0x8F, 0x9F]
_NMT_SPACE = [0x09, 0x0A, 0x0C, 0x0D, 0x1680, *range(0x200B, 0x2010), 0x2028, 0x2029, 0x2581, 0xFEFF, 0xFFFD]


def nmt_step() -> CharStep:
    table = dict.fromkeys(_NMT_DROPPED, "") | dict.fromkeys(_NMT_SPACE, " ")
    return CharStep(lambda c: table.get(ord(c), c), lambda t: t.translate(table), frozenset(table), name="Nmt")


def replace_char_step(needle: str, content: str) -> CharStep:
    return CharStep(lambda c: content if c == needle else c, lambda t: t.replace(needle, content),
                    frozenset([ord(needle)]), name="Replace")


@functools.lru_cache(maxsize=None)
def _bert_data():
    from . import unicode_forms
    t = _tables()
    clean = dict.fromkeys(_expand(t.CLEAN_REMOVED))
    clean.update(dict.fromkeys(_expand(t.CLEAN_SPACE), " "))
    marks = dict.fromkeys(_expand(t.BERT_MARKS))
    chinese = "".join("\\U%08x-\\U%08x" % (lo, hi) for lo, hi in t.CHINESE)
    chinese_re = re.compile("[" + chinese + "]")
    tables = unicode_forms._tables()
    nfd_keys = frozenset(tables.nfd)
    # Code points whose decomposition keeps a non-starter: NFD's reordering could move it.
    ccc = {ord(c) for c in tables.ccc}
    unsafe = set()
    for cp in nfd_keys | ccc:
        d = tables.nfd.get(cp, chr(cp))
        if any(ord(x) in ccc and ord(x) not in marks for x in d):
            unsafe.add(cp)
    return clean, marks, chinese_re, nfd_keys, frozenset(unsafe)


def bert_step(clean_text: bool, chinese: bool, strip_accents: bool, lowercase: bool) -> CharStep:
    from . import unicode_forms
    clean, marks, chinese_re, nfd_keys, unsafe = _bert_data()
    lower = _lower_table()
    t = _tables()
    clean_space = _expand(t.CLEAN_SPACE)
    nfd = unicode_forms._tables().nfd

    def char(c):
        if clean_text and ord(c) in clean:
            c = clean[ord(c)] or ""
            if not c:
                return ""
        if chinese and chinese_re.match(c):
            c = " " + c + " "
        if strip_accents:
            c = "".join(x for y in c for x in nfd.get(ord(y), y) if ord(x) not in marks)
        if lowercase:
            c = "".join(lower.get(ord(x), x) for x in c)
        return c

    def text(s):
        if clean_text:
            s = s.translate(clean)
        if chinese:
            s = chinese_re.sub(r" \g<0> ", s)
        if strip_accents:
            s = unicode_forms.normalize("NFD", s).translate(marks)
        if lowercase:
            s = lowercase_text(s)
        return s

    sparse = set()
    ranges = []
    if clean_text:
        sparse |= clean_space
        ranges += [(lo, hi, "delete") for lo, hi in t.CLEAN_REMOVED]
    if chinese:
        ranges += [(lo, hi, "pad") for lo, hi in t.CHINESE]
    if strip_accents:
        sparse |= nfd_keys | set(marks)
    if lowercase:
        sparse |= set(lower)
    return CharStep(char, text, frozenset(sparse), tuple(ranges), unsafe if strip_accents else frozenset(),
                    name="BertNormalizer")


# ---------------------------------------------------------------- pre-tokenizer classes

RUN, RUN2 = 0, 1


def class_table(default: int, assignments: list) -> tuple:
    """(block_of, classes) for pretokenize/classes.h: every code point `default`, then
    each (ranges, class) in order."""
    import numpy as np
    table = np.full(N_CP, default, dtype=np.uint8)
    for ranges, cls in assignments:
        for lo, hi in ranges:
            table[lo:hi + 1] = cls
    return _blocks(table, CLASS_BLOCK)


@functools.lru_cache(maxsize=None)
def bert_classes():
    t = _tables()
    return class_table(RUN, [(t.BERT_PUNCTUATION, CLASS_ISOLATED), (t.BERT_WHITESPACE, CLASS_REMOVED)])


@functools.lru_cache(maxsize=None)
def whitespace_split_classes():
    return class_table(RUN, [(_tables().WHITESPACE, CLASS_REMOVED)])


@functools.lru_cache(maxsize=None)
def punctuation_classes():
    return class_table(RUN, [(_tables().PUNCTUATION, CLASS_ISOLATED)])


def delimiter_classes(cp: int):
    return class_table(RUN, [([(cp, cp)], CLASS_REMOVED)])


@functools.lru_cache(maxsize=None)
def whitespace_classes():
    """HF's Whitespace pre-tokenizer, \\w+|[^\\w\\s]+: runs of word characters, runs of
    others, spaces dropped (the classes probed from HF)."""
    t = _tables()
    return class_table(RUN2, [(t.WORD, RUN), (t.SPACE, CLASS_REMOVED)])


def _class_regex(ranges) -> str:
    return "[" + "".join("\\x{%x}-\\x{%x}" % (lo, hi) if hi > lo else "\\x{%x}" % lo for lo, hi in ranges) + "]"


def punctuation_class_regex() -> str:
    """A character class of HF's punctuation (for Punctuation with other behaviors)."""
    return _class_regex(_tables().PUNCTUATION)


def digits_class_regex() -> str:
    """A character class of HF's Digits (Rust's char::is_numeric, which is not the regex tables' \\p{N})."""
    return _class_regex(_tables().DIGITS)
