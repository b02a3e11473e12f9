"""Token offsets: for every token, the (start, end) characters of the original text it
stands for, as HF tokenizers' ``Encoding.offsets`` gives them, and the word (pre-token)
it came from (``Encoding.word_ids``).

Off the fast path: the ids come from the core as usual, cut where HF cuts a text into
splits (added tokens on the raw text, then on each normalized segment), and this module
lays each split's tokens over its normalized text and maps them back to the original.
HF keeps, for every byte of a normalized string, the span of the original it stands
for; each normalizer step updates these spans by HF's rules (its NormalizedString:
a character that replaces one takes that one's span, an inserted one the span of the
character before it, a removed one is gone). ``_Aligned`` keeps the same spans per
character and reproduces each step; the text it builds must equal the normalizer's own
result, else the call refuses rather than guess. A token's span is that of its first
character's start to its last character's end (a byte-level or ``<0xXX>`` token that
covers part of a character covers the whole of it); HF's Python API then counts in
characters, and the post-processor trims (ByteLevel, RobertaProcessing ``trim_offsets``)
and adds special tokens at (0, 0).

Byte-level BPE with no normalizer (GPT-2, Llama-3, tiktoken files) takes a vectorized
path: token byte lengths, their cumulative sums, and a byte -> character table.
"""

from __future__ import annotations

import bisect
import functools
import re
from typing import NamedTuple

import numpy as np

from . import errors
from ._compile import bytelevel, charmap, normalizers, unicode_forms
from ._native import _core


class EncodingWithOffsets(NamedTuple):
    """What ``Tokenizer.encode_with_offsets`` returns."""
    ids: list
    offsets: list            # (start, end) characters of the text, per token
    word_ids: list | None    # per token: its word's index, None for a post-processor's token


_TRIMMED = "\u0120" + normalizers._WHITE_SPACE      # Ġ (a space in byte-level strings) and whitespace


def _spaces(t: str):
    """(leading, trailing) characters of t that trim_offsets trims, each counted on the
    whole string (a string of spaces has both)."""
    return len(t) - len(t.lstrip(_TRIMMED)), len(t) - len(t.rstrip(_TRIMMED))


def _refuse(what: str) -> errors.NotImplementedError:
    return errors.NotImplementedError(f"token offsets are not supported for {what}")


# ---------------------------------------------------------------- aligned strings

class _Aligned:
    """A normalized text and, per character, the (start, end) UTF-8 byte span of the
    original text it stands for (absolute: bytes of the whole original text)."""

    __slots__ = ("text", "spans")

    def __init__(self, text: str, spans: list):
        self.text = text
        self.spans = spans

    @classmethod
    def original(cls, text: str, shift: int) -> "_Aligned":
        if text.isascii():
            return cls(text, list(zip(range(shift, shift + len(text)), range(shift + 1, shift + len(text) + 1))))
        b = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
        bounds = np.append(np.flatnonzero((b & 0xC0) != 0x80), len(b)) + shift    # each character's first byte
        return cls(text, list(zip(bounds[:-1].tolist(), bounds[1:].tolist())))

    def transform(self, dest, initial: int = 0) -> int:
        """HF's transform over the whole text: dest is (char, change) — 0 replaces the
        next character, 1 inserts one (taking the previous character's span), -n
        replaces the next and removes n more; ``initial`` characters go first. Returns
        how many characters of the old text it went through."""
        old, chars, spans, at = self.spans, [], [], initial
        for c, change in dest:
            if change > 0:
                if at < 1:
                    raise _refuse("a normalizer that inserts before the first character")
                span = old[at - 1]
            else:
                span = old[at]
                at += 1 - change
            chars.append(c)
            spans.append(span)
        self.text = "".join(chars)
        self.spans = spans
        return at

    def per_char(self, fn) -> None:
        """A step that maps each character on its own to a string (maybe empty): every
        character of the result takes its source's span (HF's filter, map and expansions)."""
        chars, spans = [], []
        for c, span in zip(self.text, self.spans):
            out = fn(c)
            if out == c:
                chars.append(c)
                spans.append(span)
            elif out:
                chars.append(out)
                spans += [span] * len(out)
        self.text = "".join(chars)
        self.spans = spans

    def spaced(self, runs) -> None:
        """per_char of ``" " + c + " "`` for each character of the runs (a regex of runs of
        them), every other character kept: each of the three takes c's span."""
        text, spans = self.text, self.spans
        chars, out, pos = [], [], 0
        for m in runs.finditer(text):
            s, e = m.span()
            chars += [text[pos:s], " " + "  ".join(text[s:e]) + " "]
            out += spans[pos:s]
            for span in spans[s:e]:
                out += (span, span, span)
            pos = e
        chars.append(text[pos:])
        out += spans[pos:]
        self.text = "".join(chars)
        self.spans = out

    def removed(self, runs, gone) -> None:
        """per_char of "" for each character whose code point is in gone, every other kept;
        runs: a regex of runs of characters that holds every one of them (maybe others)."""
        text, spans = self.text, self.spans
        chars, out, pos = [], [], 0
        for m in runs.finditer(text):
            s, e = m.span()
            chars.append(text[pos:s])
            out += spans[pos:s]
            for i in range(s, e):
                if ord(text[i]) not in gone:
                    chars.append(text[i])
                    out.append(spans[i])
            pos = e
        chars.append(text[pos:])
        out += spans[pos:]
        self.text = "".join(chars)
        self.spans = out

    def per_char_table(self, table: dict, lengthy) -> bool:
        """per_char by ``str.translate(table)`` when no character of the text maps to other
        than exactly one character (``lengthy`` finds those): every span stays. False (and
        nothing done) otherwise."""
        if lengthy.search(self.text):
            return False
        self.text = self.text.translate(table)
        return True

    def replace_spans(self, matches, content: str) -> None:
        """HF's replace: each match (start, end in characters) is removed and content's
        characters inserted, all taking the span of the match's last character."""
        if not matches:
            return
        text, old = self.text, self.spans
        chars, spans, pos = [], [], 0
        for start, end in matches:
            chars.append(text[pos:start])
            spans += old[pos:start]
            if content:
                chars.append(content)
                spans += [old[end - 1]] * len(content)
            pos = end
        chars.append(text[pos:])
        spans += old[pos:]
        self.text = "".join(chars)
        self.spans = spans

    def prepend(self, s: str) -> None:
        if self.text and s:
            self.spans = [self.spans[0]] * len(s) + self.spans
            self.text = s + self.text

    def slice(self, start: int, end: int) -> "_Aligned":
        return _Aligned(self.text[start:end], self.spans[start:end])

    def span(self, i: int):
        return self.spans[i]


def _char_of(char_at: dict, byte: int) -> int:
    """The character that holds a byte, from each character's first byte."""
    while byte not in char_at:
        byte -= 1
    return char_at[byte]


def _is_byte_token(t) -> bool:
    return t is not None and len(t) == 6 and t.startswith("<0x") and t.endswith(">")


_IS_SPACE = np.array([chr(c).isspace() for c in range(0x3001)])     # (U+3000 the last)


def _between_spaces(text: str, found: list):
    """[(start, end)] of pieces that are the text's characters other than whitespace
    (str.isspace) in order, each a run of consecutive characters of the text: where
    ``str.find`` from the end of the one before finds each (it can start at no space).
    None when they are not."""
    if not found:
        return None
    joined = "".join(found)
    whole = joined == text
    if not whole and joined != "".join(text.split()):
        return None
    lens = np.fromiter(map(len, found), dtype=np.int64, count=len(found))
    if not lens.all():
        return None
    ends = np.cumsum(lens)
    if whole:
        return list(zip((ends - lens).tolist(), ends.tolist()))
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    spaces = np.zeros(len(codes), dtype=bool)
    low = codes < len(_IS_SPACE)
    spaces[low] = _IS_SPACE[codes[low]]
    kept = np.flatnonzero(~spaces)
    starts, last = kept[ends - lens], kept[ends - 1]
    if (last - starts + 1 != lens).any():
        return None
    return list(zip(starts.tolist(), (last + 1).tolist()))


def _hex(s: str) -> bool:
    return all(c in "0123456789ABCDEFabcdef" for c in s)


def _string_matches(text: str, needle: str) -> list:
    out, at = [], text.find(needle)
    while at >= 0:
        out.append((at, at + len(needle)))
        at = text.find(needle, at + len(needle))
    return out


def _char_index_of_bytes(text: str):
    """byte offset -> character index, for every byte of text's UTF-8 form and its end."""
    data = text.encode("utf-8")
    if len(data) == len(text):
        return None         # ASCII: the same
    b = np.frombuffer(data, dtype=np.uint8)
    idx = np.cumsum((b & 0xC0) != 0x80) - 1
    return np.append(idx, len(text))


# ---------------------------------------------------------------- Unicode forms (HF's crate)

def _decomposed(text: str, compat: bool) -> list:
    """(char, change) of HF's NFD/NFKD: each character's decomposition (its first
    character replaces it, the others are inserted), non-starters then sorted by class
    (stably) between starters, changes travelling with their characters."""
    t = unicode_forms._tables()
    table, ccc = (t.nfkd if compat else t.nfd), t.ccc
    out, block = [], 0
    for ch in text:
        for i, x in enumerate(table.get(ord(ch), ch)):
            if x not in ccc:
                if len(out) - block > 1:
                    out[block:] = sorted(out[block:], key=lambda item: ccc.get(item[0], 0))
                block = len(out)
            out.append((x, 0 if i == 0 else 1))
    if len(out) - block > 1:
        out[block:] = sorted(out[block:], key=lambda item: ccc.get(item[0], 0))
    return out


def _composed(items: list) -> list:
    """(char, change) of HF's canonical composition of decomposed items: a composed
    pair carries the sum of both changes minus one."""
    t = unicode_forms._tables()
    ccc, pairs = t.ccc, t.pairs
    out, buffer, composee, last = [], [], None, None
    for ch, change in items:
        cc = ccc.get(ch, 0)
        if composee is None:
            if cc:
                out.append((ch, change))
            else:
                composee = (ch, change)
            continue
        if last is not None and last >= cc:          # blocked
            if cc == 0:
                out.append(composee)
                out += buffer
                buffer, composee, last = [], (ch, change), None
            else:
                buffer.append((ch, change))
                last = cc
            continue
        r = pairs.get(composee[0] + ch)
        if r is not None:
            composee = (r, composee[1] + change - 1)
            continue
        if last is None and cc == 0:
            out.append(composee)
            composee = (ch, change)
            continue
        buffer.append((ch, change))
        last = cc
    if composee is not None:
        out.append(composee)
    return out + buffer


def _unicode_form(a: _Aligned, form: str) -> None:
    """NFD and NFKD followed only around runs of characters that decompose or reorder
    (each run with the character before it, a starter that stays: what HF's insertions
    there may take the span of), the general path elsewhere."""
    if form not in ("NFD", "NFKD"):
        _unicode_form_general(a, form)
        return
    compat = form == "NFKD"
    runs = list(_decomposing(compat).finditer(a.text))
    if not runs:
        return
    t = unicode_forms._tables()
    table = t.nfkd if compat else t.nfd
    if not _reorders(a.text.translate(table), t):
        # each character's decomposition in place: its characters all take its span
        text, texts, spans, pos = a.text, [], [], 0
        for m in runs:
            s, e = m.span()
            texts.append(text[pos:s])
            spans += a.spans[pos:s]
            for i in range(s, e):
                d = table.get(ord(text[i]), text[i])
                texts.append(d)
                spans += [a.spans[i]] * len(d)
            pos = e
        texts.append(text[pos:])
        spans += a.spans[pos:]
        a.text, a.spans = "".join(texts), spans
        return
    text, texts, spans, pos = a.text, [], [], 0
    for m in runs:
        lo, hi = max(m.start() - 1, 0), m.end()
        texts.append(text[pos:lo])
        spans += a.spans[pos:lo]
        run = a.slice(lo, hi)
        if run.transform(_decomposed(run.text, compat)) != hi - lo:
            _unicode_form_general(a, form)      # (not seen: a decomposition keeps every character)
            return
        texts.append(run.text)
        spans += run.spans
        pos = hi
    if pos:
        texts.append(text[pos:])
        spans += a.spans[pos:]
        a.text, a.spans = "".join(texts), spans


def _reorders(decomposed: str, t) -> bool:
    """Whether canonical ordering would move a character of this decomposed text: some
    run of non-starters not already sorted by class."""
    ccc = t.ccc
    for m in t.runs.finditer(decomposed):
        classes = [ccc.get(c, 0) for c in m.group()]
        if classes != sorted(classes):
            return True
    return False


@functools.lru_cache(maxsize=None)
def _decomposing(compat: bool):
    """Runs of characters that HF's NFD (NFKD) changes or reorders (and maybe others)."""
    t = unicode_forms._tables()
    table = t.nfkd if compat else t.nfd
    chars = {chr(cp) for cp, d in table.items() if d != chr(cp)} | set(t.ccc)
    return re.compile(unicode_forms._char_class(chars) + "+")


def _unicode_form_general(a: _Aligned, form: str) -> None:
    items = _decomposed(a.text, form in ("NFKC", "NFKD"))
    if form in ("NFC", "NFKC"):
        items = _composed(items)
    a.transform(items)


# ---------------------------------------------------------------- normalizers

def _precompiled(a: _Aligned, step) -> None:
    """HF's Precompiled: per grapheme cluster (under 6 bytes) its replacement whole, else
    each character's; a replacement's characters replace the old ones in order, extra ones
    are inserted, the last takes the removal of missing ones.

    Only the clusters it may change are followed (those of more than one character, or
    with a character it maps to another string), each with the cluster before it, as
    pieces of their own; a piece whose changes do not consume exactly its own characters
    sends the whole text to the general path (``_precompiled_general``)."""
    p, same = _precompiled_of(step)
    text = a.text
    changed = {c for c in set(text) - same if p.normalize(c) != c}
    same.update(set(text) - changed)
    gs = _core.graphemes(text)
    if not changed and len(gs) == len(text):
        return                  # every cluster one character the map keeps
    hot = [i for i, g in enumerate(gs) if len(g) > 1 or g in changed]
    chunks = []                 # [first, last] clusters, each hot one with the one before it
    for i in hot:
        lo = max(i - 1, 0)
        if chunks and lo <= chunks[-1][1] + 1:
            chunks[-1][1] = i
        else:
            chunks.append([lo, i])
    starts = [0]
    for g in gs:
        starts.append(starts[-1] + len(g))
    texts, spans, pos = [], [], 0
    for lo, hi in chunks:
        texts.append(text[pos:starts[lo]])
        spans += a.spans[pos:starts[lo]]
        piece = a.slice(starts[lo], starts[hi + 1])
        try:
            dest = _precompiled_dest(p, gs[lo:hi + 1])
            fits = dest is None or piece.transform(dest) == starts[hi + 1] - starts[lo]
        except (IndexError, errors.NotImplementedError):
            fits = False
        if not fits:        # the chunk does not consume exactly its own characters
            _precompiled_general(a, p)
            return
        texts.append(piece.text)
        spans += piece.spans
        pos = starts[hi + 1]
    texts.append(text[pos:])
    spans += a.spans[pos:]
    a.text, a.spans = "".join(texts), spans


def _precompiled_general(a: _Aligned, p) -> None:
    dest = _precompiled_dest(p, _core.graphemes(a.text))
    if dest is not None:
        a.transform(dest)


def _precompiled_dest(p, graphemes):
    """The (char, change) of HF's transform for these clusters, None when nothing changes."""
    dest, modified = [], False

    def replace(old: str, new: str):
        dest.extend((c, 0) for c in new)
        diff = len(new) - len(old)
        if diff > 0:
            for i in range(len(dest) - diff, len(dest)):
                dest[i] = (dest[i][0], 1)
        elif diff < 0 and dest:
            dest[-1] = (dest[-1][0], dest[-1][1] + diff)

    def per_char(g, per):
        for c, r in zip(g, per):
            if r != c:
                replace(c, r)
            else:
                dest.append((c, 0))

    for g in graphemes:
        whole = p.normalize(g) if len(g.encode("utf-8")) < 6 else None
        per = [p.normalize(c) for c in g]
        if all(r == c for r, c in zip(per, g)) and whole in (None, g):
            dest.extend((c, 0) for c in g)
            continue
        modified = True
        if whole is None or len(g) == 1:
            per_char(g, per)
            continue
        at = len(dest)
        replace(g, whole)           # the cluster's own entry, if it has one
        if whole == "".join(per):   # or none, each character's: the same text, maybe other changes
            mine = dest[at:]
            del dest[at:]
            per_char(g, per)
            if dest[at:] != mine:
                raise _refuse(f"a Precompiled normalizer on {g!r}: whether the cluster has an entry of its own "
                              "is not known here, and changes its offsets")
    return dest if modified else None


_precompiled_cache: dict = {}


def _precompiled_of(step):
    """(the map, the set of characters it is known to keep)."""
    key = step.get("precompiled_charsmap")
    got = _precompiled_cache.get(key)
    if got is None:
        got = _precompiled_cache[key] = (_core.Precompiled(normalizers._charsmap(step)), set())
    return got


def _bert(a: _Aligned, step) -> None:
    """HF's BertNormalizer, its steps in its order: clean_text (control characters out,
    whitespace to spaces), spaces around CJK characters, strip_accents (NFD, then marks
    out), lowercase. A step that keeps every character of the text one character runs as
    one ``str.translate``, and one with nothing to do is skipped."""
    lower = step.get("lowercase", True)
    strip = step.get("strip_accents")
    strip = lower if strip is None else strip
    clean, marks, chinese = charmap._bert_data()[:3]
    fast = _bert_tables()
    if step.get("clean_text", True) and not a.per_char_table(*fast["clean"]):
        a.per_char(lambda c: c if ord(c) not in clean else (clean[ord(c)] or ""))
    if step.get("handle_chinese_chars", True) and chinese.search(a.text):
        a.spaced(fast["chinese"])
    if strip:
        if not unicode_forms.ucd_is_normalized("NFD", a.text):
            _unicode_form(a, "NFD")
        if fast["marks"].search(a.text):
            a.removed(fast["marks"], marks)
    if lower and not a.per_char_table(*fast["lower"]):
        table = charmap._lower_table()
        a.per_char(lambda c: table.get(ord(c), c))


@functools.lru_cache(maxsize=None)
def _bert_tables() -> dict:
    """BertNormalizer's per-character steps as translate tables, each with a regex of the
    characters it does not map to exactly one character; a regex of runs of the marks
    (with every astral character), and of runs of the CJK characters."""
    clean, marks = charmap._bert_data()[:2]
    lower = charmap._lower_table()
    clean_table = {cp: (out or None) for cp, out in clean.items()}
    out = {"clean": (clean_table, [chr(cp) for cp, v in clean.items() if len(v or "") != 1]),
           "lower": (lower, [chr(cp) for cp, v in lower.items() if len(v) != 1])}
    out = {k: (table, re.compile(unicode_forms._char_class(chars))) for k, (table, chars) in out.items()}
    out["marks"] = re.compile(unicode_forms._char_class([chr(cp) for cp in marks]) + "+")
    out["chinese"] = re.compile("(?:" + charmap._bert_data()[2].pattern + ")+")
    return out


def _normalize(a: _Aligned, steps) -> None:
    for step in steps:
        kind = step.get("type")
        if kind in unicode_forms.FORMS:
            _unicode_form(a, kind)
        elif kind == "BertNormalizer":
            _bert(a, step)
        elif kind in ("Lowercase", "StripAccents", "Nmt"):
            fn = normalizers._char_step(step).char
            a.per_char(fn)
        elif kind == "Replace":
            pattern, content = step.get("pattern", {}), step.get("content", "")
            if "String" in pattern:
                needle = pattern["String"]
                if len(needle) == 1 and len(content) == 1:
                    a.text = a.text.replace(needle, content)    # each takes its own span: spans stay
                else:
                    a.replace_spans(_string_matches(a.text, needle), content)
            else:
                spans = normalizers._regex_spans(pattern["Regex"])(a.text.encode("utf-8"))
                idx = _char_index_of_bytes(a.text)
                if idx is not None:
                    spans = [(int(idx[s]), int(idx[e])) for s, e in spans]
                a.replace_spans([(s, e) for s, e in spans if e > s], content)
        elif kind == "Prepend":
            a.prepend(step.get("prepend", ""))
        elif kind == "Strip":
            text, ws = a.text, normalizers._WHITE_SPACE
            left = len(text) - len(text.lstrip(ws)) if step.get("strip_left", True) else 0
            right = len(text.rstrip(ws)) if step.get("strip_right", True) else len(text)
            right = max(right, left)
            a.text, a.spans = text[left:right], a.spans[left:right]
        elif kind == "Precompiled":
            _precompiled(a, step)
        else:
            raise _refuse(f"the normalizer {kind}")


def _identity_when_unchanged(steps) -> bool:
    """Whether a text the normalizer leaves unchanged (or, in ASCII, changes character by
    character, as Lowercase does) keeps every character's own span: true of per-character
    steps and the Unicode forms, not of Replace or Prepend."""
    return all(s.get("type") in ("NFC", "NFD", "NFKC", "NFKD", "BertNormalizer", "Lowercase", "StripAccents", "Nmt",
                                 "Strip") for s in steps)


def _spans_of(a, first, last) -> tuple:
    """(the start of each character in first, the end of each in last): lists of original
    bytes, from arrays of character indices of a's text (an _Aligned or a _Lazy)."""
    if isinstance(a, _Lazy):
        if a.source.isascii():
            return (first + a.shift).tolist(), (last + 1 + a.shift).tolist()
        u = np.frombuffer(a.source.encode("utf-8"), dtype=np.uint8)
        bounds = np.append(np.flatnonzero((u & 0xC0) != 0x80), len(u)) + a.shift
        return bounds[first].tolist(), bounds[last + 1].tolist()
    spans = a.spans
    return [spans[c][0] for c in first.tolist()], [spans[c][1] for c in last.tolist()]


def _one_for_one(steps, text: str) -> bool:
    """Whether every step replaces each character of this text by one character: Replace
    of a string of one character by one; Lowercase and BertNormalizer when the text has no
    character they lower to more than one, remove or space (CJK), and (strip_accents) each
    character strips to one (whitespace, which clean_text makes a space, is none of these).
    Each character of the result then takes its source's span."""
    fast = None
    for step in steps:
        kind = step.get("type")
        if kind == "Replace":
            if len(step.get("pattern", {}).get("String") or "") != 1 or len(step.get("content", "")) != 1:
                return False
            continue
        if kind not in ("Lowercase", "BertNormalizer"):
            return False
        fast = fast or _bert_tables()
        lower = kind == "Lowercase" or step.get("lowercase", True)
        if lower and fast["lower"][1].search(text):
            return False
        if kind == "Lowercase":
            continue
        strip = step.get("strip_accents")
        if step.get("clean_text", True) and fast["clean"][1].search(text):
            return False
        if step.get("handle_chinese_chars", True) and fast["chinese"].search(text):
            return False
        if (lower if strip is None else strip) and not text.isascii() and \
                not all(_strips_to_one(c) for c in set(text)):
            return False
    return True


@functools.lru_cache(maxsize=4096)
def _strips_to_one(c: str) -> bool:
    """Whether BertNormalizer's strip_accents (NFD, marks out) leaves one starter of this
    character, which lowercases to one: with others, the marks that NFD adds (and canonical
    ordering moves) all go, and the starter keeps the character's span."""
    t = unicode_forms._tables()
    marks = charmap._bert_data()[1]
    kept = [x for x in t.nfd.get(ord(c), c) if ord(x) not in marks]
    return len(kept) == 1 and kept[0] not in t.ccc and len(charmap._lower_table().get(ord(kept[0]), kept[0])) == 1


_RENAMED = object()


class _Lazy:
    """A part of the original whose character i spans the bytes of the original's
    character i: unnormalized (source is the text), or normalized by steps that replace
    characters one for one (source: the original part). The spans are only built when a
    step needs them (a slice keeps the byte shift)."""

    __slots__ = ("text", "shift", "source", "_spans")

    def __init__(self, text: str, shift: int, source: str | None = None):
        self.text = text
        self.shift = shift
        self.source = text if source is None else source
        self._spans = None

    @property
    def spans(self) -> list:
        if self._spans is None:
            self._spans = _Aligned.original(self.source, self.shift).spans
        return self._spans

    def slice(self, start: int, end: int) -> "_Lazy":
        return _Lazy(self.text[start:end], self.shift + len(self.source[:start].encode("utf-8")),
                     self.source[start:end])

    def span(self, i: int):
        s = self.shift + len(self.source[:i].encode("utf-8"))
        return (s, s + len(self.source[i].encode("utf-8")))

    def aligned(self) -> _Aligned:
        return _Aligned(self.text, self.spans)


# ---------------------------------------------------------------- the per-tokenizer plan

class Offsets:
    """What a tokenizer needs to lay tokens over text, built once per tokenizer."""

    def __init__(self, tok):
        spec = tok._spec
        self.tok = tok
        self.norm = spec.normalizer
        self.steps = self.norm.steps if self.norm is not None else ()
        model = spec.model
        self.kind = "bytelevel" if model is None else model["kind"]
        self.metaspace = None
        other_stages = []
        for st in spec.stages:
            if st.other is not None and st.other[0] == "metaspace":
                self.metaspace = (st.other[1].decode("utf-8"), st.other[2], st.other[3])
            else:
                other_stages.append(st)
        if self.metaspace is not None and self.kind == "bytelevel":
            raise _refuse("a Metaspace pre-tokenizer with a byte-level model")
        if self.metaspace is not None and other_stages:
            raise _refuse("a Metaspace pre-tokenizer in a sequence with other splits")
        self.prefix_space = any(st.prefix_space for st in spec.stages)
        self.has_stages = bool(spec.stages)
        self.trims = []
        for p in spec.post_offsets:
            if p.get("trim_offsets", True):
                self.trims.append(bool(p.get("add_prefix_space", True)))
        if self.kind == "bytelevel":
            tb = tok._core.token_bytes()
            lens = np.zeros(tok.n_vocab + 1, dtype=np.int64)
            lens[list(tb)] = [len(b) for b in tb.values()]
            self.lens = lens
            self.token_bytes = tb
        else:
            self.id_to_token = spec.id_to_token
            self.unk = model.get("unk")
            self.byte_fallback = bool(model.get("byte_fallback"))
            self.fuse_unk = bool(model.get("fuse_unk"))
            self.prefix = model.get("prefix", b"").decode("utf-8")
            self.suffix = model.get("suffix", b"").decode("utf-8") if self.kind == "BPE" else ""
            self.vocab_strings = None
        if tok.source == "tiktoken" and spec.normalizer is not None:
            raise _refuse("a tiktoken encoding with a normalizer")

    # ------------------------------------------------------------ one text

    def splits(self, text: str, data: bytes, active):
        """HF's splits of a text before pre-tokenization, in order: ("added", id, start, end,
        value) for an added token (bytes of the original; value: the text it matched,
        stripped spaces included), ("text", part) for the normalized text between them (an
        _Aligned, or a _Lazy when normalizing changed nothing). Empty parts are dropped, as
        HF drops them."""
        tok, out, pos = self.tok, [], 0
        for start, end, k in tok._split_added(data, active) + [(len(data), len(data), None)]:
            if start > pos:
                self._segment(data[pos:start].decode("utf-8"), pos, active, out)
            if k is not None:
                out.append(("added", tok._passes[0][k].id, start, end, data[start:end].decode("utf-8")))
            pos = end
        return out

    def _segment(self, seg: str, shift: int, active, out):
        """The splits of a segment between raw-text added tokens (at byte ``shift``):
        normalized, then cut at the added tokens matched after normalization (pass 1)."""
        norm = self.norm
        if norm is None:
            a = None
            normalized = seg
        else:
            normalized = norm.apply(seg)
            if (normalized == seg or (len(normalized) == len(seg) and seg.isascii() and normalized.isascii())) \
                    and _identity_when_unchanged(self.steps):
                # per-character steps that keep every ASCII character one character (and
                # delete none: the length is kept) leave each where it was
                a = None
            elif len(normalized) == len(seg) and _one_for_one(self.steps, seg):
                a = _RENAMED
            else:
                a = _Aligned.original(seg, shift)
                _normalize(a, self.steps)
                if a.text != normalized:
                    raise _refuse(f"this normalizer on {seg[:40]!r} (its spans could not be followed)")
        if not normalized:
            return
        if a is None:
            a = _Lazy(normalized, shift)
        elif a is _RENAMED:
            a = _Lazy(normalized, shift, seg)
        mask = active[1]
        matches = self.tok._core.find_added(normalized.encode("utf-8"), 1, mask) if mask is not None else []
        if not matches:
            out.append(("text", a))
            return
        idx = _char_index_of_bytes(normalized)
        conv = (lambda b: b) if idx is None else (lambda b: int(idx[b]))
        pos = 0
        for start, end, k in matches:
            s, e = conv(start), conv(end)
            if s > pos:
                out.append(("text", a.slice(pos, s)))
            part = a.slice(s, e)
            first, last = part.span(0), part.span(e - s - 1)
            out.append(("added", self.tok._passes[1][k].id, first[0], last[1], part.text))
            pos = e
        if pos < len(normalized):
            out.append(("text", a.slice(pos, len(normalized))))

    # ------------------------------------------------------------ encoding

    def encode(self, texts: list, active, max_body: int, add: bool, threads: int, words: bool,
               raw: bool = False) -> list:
        """(ids, offsets, word ids or None) per text. raw: (ids, offsets before trim_offsets,
        word ids or None, the added tokens' matched strings by index) with no truncation and
        no special tokens, for callers that cut the ids first (``trim`` then, per part)."""
        tok = self.tok
        plans, parts = [], []
        for text in texts:
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError:
                text = tok._surrogates_fixed(text)     # raises for HF, as HF does
                data = text.encode("utf-8")
            splits = self.splits(text, data, active)
            for s in splits:
                if s[0] == "text":
                    parts.append(s[1])
            plans.append((text, data, splits))
        ids = self._encode_parts(parts, active, threads)
        out, k = [], 0
        for text, data, splits in plans:
            body_ids, starts, ends, wids, w, values = [], [], [], [], 0, {}
            for s in splits:
                if s[0] == "added":
                    values[len(body_ids)] = s[4]
                    body_ids.append(s[1])
                    starts.append(s[2])
                    ends.append(s[3])
                    wids.append(w)
                    w += 1
                    continue
                part, part_ids = s[1], ids[k]
                k += 1
                if self.kind == "bytelevel":
                    st, en, wd, nw = self._bytelevel(part, part_ids, words)
                else:
                    st, en, wd, nw = self._model(part, part_ids)
                body_ids += part_ids
                starts += st
                ends += en
                wids += [x + w for x in wd] if words else []
                w += nw
            out.append(self._finish(text, data, body_ids, starts, ends, wids if words else None, max_body, add,
                                    values, raw))
        return out

    def _encode_parts(self, parts: list, active, threads: int) -> list:
        """Each part's ids, from pass 1 on with nothing left to normalize; Metaspace's
        prepend_scheme "first" sees whether the part begins the original text."""
        if not parts:
            return []
        core, texts = self.tok._core, [p.text for p in parts]
        first = self.metaspace is not None and self.metaspace[1] == "first"
        mid = [first and p.span(0)[0] != 0 for p in parts]
        out = [None] * len(parts)
        for want in (False, True):
            which = [i for i, m in enumerate(mid) if m == want]
            if which:
                got = core.encode_batch([texts[i] for i in which], active, -1, False, threads, False, 2, want)
                for i, v in zip(which, got):
                    out[i] = v
        return out

    def _bytelevel(self, part, ids, words):
        """Byte-level tokens tile the part's bytes (after ByteLevel's prefix space):
        (original byte starts, ends, local word index per token, number of words)."""
        text = part.text
        data = text.encode("utf-8")
        pieces = self.tok._core.pieces(text) if words or self.prefix_space else None
        lens = self.lens[np.asarray(ids, dtype=np.int64)] if ids else np.zeros(0, dtype=np.int64)
        ends = np.cumsum(lens)
        starts = ends - lens
        last = ends - 1
        if self.prefix_space:
            # ByteLevel's add_prefix_space gives each split that does not start with a space
            # one (its first piece holds it), standing for the split's first character as
            # HF's prepend makes it: tokens are laid over the pieces, mapped back byte by byte
            src, pos = [], 0
            for p in pieces:
                b = p.encode("utf-8")
                if data.startswith(b, pos):
                    src.append(np.arange(pos, pos + len(b)))
                elif b[:1] == b" " and data.startswith(b[1:], pos):
                    src.append(np.arange(pos - 1, pos + len(b) - 1).clip(pos))
                    b = b[1:]
                else:
                    raise _refuse(f"this pre-tokenizer on {text[:40]!r}: a piece could not be found")
                pos += len(b)
            src = np.concatenate(src) if src else np.zeros(0, dtype=np.int64)
            if pos != len(data) or int(ends[-1] if len(ends) else 0) != len(src):
                raise _refuse(f"this tokenizer on {text[:40]!r}: its tokens do not cover the text's bytes")
            if len(src):
                starts, last = src[starts], src[last]
        elif int(ends[-1] if len(ends) else 0) != len(data):
            raise _refuse(f"this tokenizer on {text[:40]!r}: its tokens do not cover the text's bytes")
        if isinstance(part, _Lazy) and part.source == text:
            # a token spans the characters that hold its first and last bytes
            st, en = starts, last + 1
            if len(data) != len(text):
                b = np.frombuffer(data, dtype=np.uint8)
                char_starts = np.append(np.flatnonzero((b & 0xC0) != 0x80), len(data))
                idx = np.cumsum((b & 0xC0) != 0x80) - 1
                st, en = char_starts[idx[starts]], char_starts[idx[last] + 1]
            st, en = (st + part.shift).tolist(), (en + part.shift).tolist()
        else:
            idx = _char_index_of_bytes(text)
            if idx is not None:
                c1, c2 = idx[starts].tolist(), idx[last].tolist()
            else:
                c1, c2 = starts.tolist(), last.tolist()
            spans = part.spans
            st = [spans[c][0] for c in c1]
            en = [spans[c][1] for c in c2]
        wd, nw = [], 0
        if words:
            plen = np.array([len(p.encode("utf-8")) for p in pieces], dtype=np.int64)
            bounds = np.cumsum(plen)
            wd = np.searchsorted(bounds, ends - lens, side="right").tolist()
            nw = len(pieces)
        return st, en, wd, nw

    def _pieces(self, part):
        """(the pre-tokenized text as an _Aligned, [(start, end) characters of each piece])."""
        a = part
        if self.metaspace is not None:
            a = part.aligned() if isinstance(part, _Lazy) else _Aligned(part.text, part.spans)
            rep, scheme, split = self.metaspace
            if len(rep) == 1:
                a.text = a.text.replace(" ", rep)       # each takes its own span: spans stay
            else:
                a.replace_spans(_string_matches(a.text, " "), rep)
            if not a.text.startswith(rep) and (scheme == "always" or (scheme == "first" and a.spans[0][0] == 0)):
                a.prepend(rep)
            if not split:
                return a, [(0, len(a.text))]
            if len(rep) == 1:
                codes = np.frombuffer(a.text.encode("utf-32-le"), dtype=np.uint32)
                cuts = np.flatnonzero(codes[1:] == ord(rep)) + 1
                bounds = [0] + cuts.tolist() + [len(a.text)]
            else:
                bounds = [0] + [i for i, c in enumerate(a.text) if c == rep and i > 0] + [len(a.text)]
            return a, [(s, e) for s, e in zip(bounds, bounds[1:]) if e > s]
        if not self.has_stages:
            return a, [(0, len(a.text))]
        text, found = a.text, self.tok._core.pieces(a.text)
        got = _between_spaces(text, found)
        if got is not None:
            return a, got
        pieces, pos = [], 0
        for p in found:
            at = text.find(p, pos)
            if at < 0 or not p:
                raise _refuse(f"this pre-tokenizer on {text[:40]!r}: a piece could not be found")
            pieces.append((at, at + len(p)))
            pos = at + len(p)
        return a, pieces

    def _model(self, part, ids):
        """Tokens of a WordPiece, WordLevel, BPE or Unigram model over each piece."""
        a, pieces = self._pieces(part)
        if self.kind in ("BPE", "Unigram"):
            got = self._tiled(a, pieces, ids)
            if got is not None:
                return got
        if self.kind == "BPE":
            return self._bpe(a, pieces, ids)
        if self.kind == "WordPiece":
            got = self._wordpiece_arrays(a, pieces, ids)
            if got is None:
                got = self._wordpiece(a, pieces, ids)
            if got is not None:
                return got
        if self.kind == "Unigram":
            got = self._around_unknown(a, pieces, ids)
            if got is not None:
                return got
        st, en, wd = [], [], []
        k = 0
        for w, (ps, pe) in enumerate(pieces):
            k = self._piece(a, ps, pe, ids, k, w, st, en, wd)
        if k != len(ids):
            raise self._lost(a.text)
        return st, en, wd, len(pieces)

    def _piece(self, a, ps, pe, ids, k, w, st, en, wd) -> int:
        """The general path over one piece from ids[k]: appends each token's span and word;
        returns the next k."""
        text, spans = a.text, a.spans
        pos, first = ps, True
        while pos < pe:
            if k >= len(ids):
                raise self._lost(text)
            n, used = self._token(text, pos, ps, pe, ids, k, first)
            for j in range(used):
                st.append(spans[pos][0])
                en.append(spans[pos + n - 1][1])
                wd.append(w)
            k += used
            pos += n
            first = False
        return k

    def _around_unknown(self, a, pieces, ids):
        """Unigram when some tokens are not in ``_tiled``'s table (the unknown token, byte
        tokens): the tokens tile the text in order, so each stretch of tokens in the table
        is laid from their lengths (its spelling checked, no token across two pieces) and
        each other token through the general path (``_token``, in its piece). None when
        the table does not serve, the pieces do not tile the text or a check fails."""
        table = self.__dict__.get("_tile_table")
        text = a.text
        if not table or not ids or not pieces or pieces[0][0] != 0 or pieces[-1][1] != len(text) or \
                any(e != s for (_, e), (s, _) in zip(pieces, pieces[1:])):
            return None
        strings, lens = table
        tids = np.asarray(ids, dtype=np.int64)
        if tids.min() < 0 or tids.max() >= len(strings):
            return None
        spelled = [strings[i] for i in ids]
        cum = np.concatenate(([0], np.cumsum(lens[tids])))
        cuml = cum.tolist()
        bad = [k for k, b in enumerate(spelled) if b is None] + [len(ids)]
        data = text.encode("utf-8")
        u = np.frombuffer(data, dtype=np.uint8)
        cb = np.append(np.flatnonzero((u & 0xC0) != 0x80), len(data)).tolist()     # each character's first byte
        byte_to_char = np.append(np.cumsum((u & 0xC0) != 0x80) - 1, len(text))
        b2c = byte_to_char.tolist()
        ends = [e for _, e in pieces]
        counts, laid, bases = [], [], []        # per run of tokens: how many, laid by lengths, byte base
        other_first, other_last = [], []        # characters of the tokens through the general path
        pos, k = 0, 0
        for b in bad:
            if b < k:
                continue                        # (taken with the bad token before it: byte tokens)
            if b > k:                           # tokens k..b-1, in the table
                b0 = cb[pos]
                b1 = b0 + cuml[b] - cuml[k]
                if b1 > len(data) or cb[b2c[b1]] != b1 or b"".join(spelled[k:b]) != data[b0:b1]:
                    return None
                counts.append(b - k)
                laid.append(True)
                bases.append(b0 - cuml[k])
                pos, k = b2c[b1], b
            if b == len(ids):
                break
            if pos >= len(text):
                return None
            ps, pe = pieces[bisect.bisect_right(ends, pos)]
            try:
                n, used = self._token(text, pos, ps, pe, ids, b, pos == ps)
            except errors.NotImplementedError:
                return None                     # (the general path says why)
            counts.append(used)
            laid.append(False)
            bases.append(0)
            other_first += [pos] * used
            other_last += [pos + n - 1] * used
            pos, k = pos + n, b + used
        if k != len(ids) or pos != len(text):
            return None
        counts = np.array(counts, dtype=np.int64)
        by_length = np.repeat(np.array(laid, dtype=bool), counts)
        base = np.repeat(np.array(bases, dtype=np.int64), counts)
        first, last = np.empty(len(ids), dtype=np.int64), np.empty(len(ids), dtype=np.int64)
        first[by_length] = byte_to_char[(base + cum[:-1])[by_length]]
        last[by_length] = byte_to_char[(base + cum[1:] - 1)[by_length]]
        first[~by_length] = other_first
        last[~by_length] = other_last
        piece_ends = np.array(ends, dtype=np.int64)
        words = np.searchsorted(piece_ends, first, side="right")
        if (words != np.searchsorted(piece_ends, last, side="right")).any():
            return None                         # a token across two pieces
        st, en = _spans_of(a, first, last)
        return st, en, words.tolist(), len(pieces)

    def _tiled(self, a, pieces, ids):
        """The common case of BPE and Unigram: the tokens spell the pieces, which tile the
        text, each token covering its string's bytes (a BPE byte_fallback token ``<0xXX>``
        its byte), so the layout is the cumulative sum of per-id byte lengths. Taken only
        when the tokens' bytes joined equal the text's, with no unknown token, no Unigram
        byte token and no BPE prefix or suffix among them; None (the general path then)
        otherwise."""
        table = self.__dict__.get("_tile_table")
        if table is None:
            table = self._tile_table = self._tiling()
        text = a.text
        if table is False or not ids or not pieces or pieces[0][0] != 0 or pieces[-1][1] != len(text) or \
                any(e != s for (_, e), (s, _) in zip(pieces, pieces[1:])):
            return None
        strings, lens = table
        try:
            spelled = b"".join([strings[i] for i in ids])
        except (IndexError, TypeError):     # an id outside the table, or one it leaves out (None)
            return None
        if spelled != text.encode("utf-8"):
            return None
        n = lens[np.asarray(ids, dtype=np.int64)]
        ends = np.cumsum(n)
        starts, last = ends - n, ends - 1
        idx = _char_index_of_bytes(text)
        if idx is not None:
            starts, last = idx[starts], idx[last]
        st, en = _spans_of(a, starts, last)
        if len(pieces) == 1:
            wd = [0] * len(ids)
        else:
            wd = np.searchsorted(np.array([e for _, e in pieces]), starts, side="right").tolist()
        return st, en, wd, len(pieces)

    def _tiling(self):
        """Per id (a list by id): the bytes its token stands for in ``_tiled``, None for
        the ids it leaves to the general path; and their lengths (an array). False when the
        model has a BPE prefix or suffix."""
        if self.kind == "BPE" and (self.prefix or self.suffix):
            return False
        size = max(self.id_to_token, default=-1) + 1
        strings = [None] * size
        for i, t in self.id_to_token.items():
            if i == self.unk or not t:
                continue
            if self.byte_fallback and _is_byte_token(t):
                if self.kind == "BPE" and _hex(t[3:5]) and t == f"<0x{int(t[3:5], 16):02X}>":   # as _symbols spells them
                    strings[i] = bytes([int(t[3:5], 16)])
                continue
            strings[i] = t.encode("utf-8")
        lens = np.array([len(b) if b is not None else 0 for b in strings], dtype=np.int64)
        return strings, lens

    def _wordpiece_arrays(self, a, pieces, ids):
        """``_wordpiece`` with arrays: a token starts a piece unless its string has the
        continuing prefix (then the count of starting tokens is the count of pieces, else
        a piece started with a prefixed token: None); the unknown token covers its piece.
        Lengths from per-id tables, each piece filled exactly, one spelling check. None
        when anything does not fit."""
        got = self.__dict__.get("_wp_arrays")
        if got is None:
            got = self._wp_arrays = self._wordpiece_tables()
        if not got or not ids or not pieces:
            return None
        first_len, cont_len, first_str, cont_str = got
        tids = np.asarray(ids, dtype=np.int64)
        if tids.min() < 0 or tids.max() >= len(first_len):
            return None
        unk = tids == (self.unk if self.unk is not None else -1)
        cont = (cont_len[tids] >= 0) & ~unk
        first = ~cont
        if not first[0] or int(first.sum()) != len(pieces):
            return None
        bounds = np.array(pieces, dtype=np.int64)
        w = np.cumsum(first) - 1
        lens = np.where(cont, cont_len[tids], first_len[tids])
        lens[unk] = (bounds[:, 1] - bounds[:, 0])[w[unk]]
        if (lens <= 0).any():
            return None
        before = np.cumsum(lens) - lens
        starts_at = np.flatnonzero(first)
        pos = bounds[w, 0] + before - before[starts_at][w]
        last = pos + lens - 1
        if (last[np.append(starts_at[1:], len(ids)) - 1] + 1 != bounds[:, 1]).any():
            return None
        text = a.text
        spelled = np.where(cont, cont_str[tids], first_str[tids])
        for k in np.flatnonzero(unk).tolist():
            spelled[k] = text[pos[k]:last[k] + 1]
        if "".join(spelled.tolist()) != "".join([text[ps:pe] for ps, pe in pieces]):
            return None
        return (*_spans_of(a, pos, last), w.tolist(), len(pieces))

    def _wordpiece_tables(self):
        """Per id (arrays by id): its length and string as a piece's first token, and
        without the continuing prefix as a later one (-1 and "" for ids without it).
        False when there is no prefix."""
        prefix, strings = self.prefix, self.id_to_token
        if not prefix:
            return False
        size = max(strings, default=-1) + 1
        first_len, cont_len = np.full(size, -1, dtype=np.int64), np.full(size, -1, dtype=np.int64)
        first_str, cont_str = np.full(size, "", dtype=object), np.full(size, "", dtype=object)
        for i, t in strings.items():
            first_len[i], first_str[i] = len(t), t
            if t.startswith(prefix):
                cont_len[i], cont_str[i] = len(t) - len(prefix), t[len(prefix):]
        return first_len, cont_len, first_str, cont_str

    def _wordpiece(self, a, pieces, ids):
        """WordPiece's tokens tile each piece: the first as its string, the others without
        the continuing prefix, or the unknown token the whole piece. The lengths come from
        per-id tables and the text the tokens spell is checked once for the whole part;
        None (the general path then) when anything does not fit."""
        lens = self.__dict__.get("_wp_lens")
        if lens is None:
            lens = self._wp_lens = self._wordpiece_lengths()
        first_len, cont_len, strings = lens
        text, spans = a.text, a.spans
        st, en, wd, spelled, k, n_ids = [], [], [], [], 0, len(ids)
        for w, (ps, pe) in enumerate(pieces):
            if k >= n_ids:
                return None
            tid = ids[k]
            if tid == self.unk:
                st.append(spans[ps][0])
                en.append(spans[pe - 1][1])
                wd.append(w)
                spelled.append(text[ps:pe])
                k += 1
                continue
            pos, n = ps, first_len.get(tid, -1)
            while True:
                if n <= 0 or pos + n > pe:
                    return None
                st.append(spans[pos][0])
                en.append(spans[pos + n - 1][1])
                wd.append(w)
                spelled.append(strings[tid][len(strings[tid]) - n:])
                k += 1
                pos += n
                if pos == pe:
                    break
                if k >= n_ids:
                    return None
                tid = ids[k]
                n = cont_len.get(tid, -1)
        if k != n_ids or "".join(spelled) != "".join(text[ps:pe] for ps, pe in pieces):
            return None
        return st, en, wd, len(pieces)

    def _wordpiece_lengths(self):
        """Per id: its string's length as a word's first token, and without the continuing
        prefix as a later one (only ids that have it); and the strings."""
        prefix, strings = self.prefix, self.id_to_token
        first = {i: len(t) for i, t in strings.items()}
        cont = {i: len(t) - len(prefix) for i, t in strings.items() if prefix and t.startswith(prefix)}
        return first, cont, strings

    def _bpe(self, a, pieces, ids):
        """HF's BPE places a word's tokens by the byte lengths of the symbols they merge,
        counted from the word's start: one per character (with its prefix and suffix),
        a byte token per byte of a character with none (byte_fallback), the unknown token
        for the others (fused or not; kept pending until a character with a token comes,
        so byte tokens may go first), nothing when there is no unknown token. Each id takes
        the next symbols whose strings join into its own."""
        text, spans = a.text, a.spans
        starts = [0]
        for c in text:
            starts.append(starts[-1] + (len(c.encode("utf-8")) if c > "\x7f" else 1))
        char_at = {b: i for i, b in enumerate(starts[:-1])}
        unk_string = self.id_to_token.get(self.unk) if self.unk is not None else None
        prefix, tokens = self.prefix, self.id_to_token
        st, en, wd, k = [], [], [], 0
        for w, (ps, pe) in enumerate(pieces):
            symbols = self._symbols(text[ps:pe], unk_string)
            cursor, j = starts[ps], 0
            while j < len(symbols):
                if k >= len(ids):
                    raise self._lost(text)
                t = tokens.get(ids[k])
                joined, size = symbols[j][0], symbols[j][1]
                j += 1
                while joined != t and j < len(symbols) and t is not None and len(joined) < len(t):
                    s = symbols[j][0]
                    joined += s[len(prefix):] if prefix and s.startswith(prefix) else s
                    size += symbols[j][1]
                    j += 1
                if joined != t:
                    raise self._lost(text)
                st.append(spans[_char_of(char_at, cursor)][0])
                en.append(spans[_char_of(char_at, cursor + size - 1)][1])
                wd.append(w)
                cursor += size
                k += 1
        if k != len(ids):
            raise self._lost(text)
        return st, en, wd, len(pieces)

    def _symbols(self, word: str, unk_string):
        """(string, bytes) of HF's BPE symbols of a word, before any merge."""
        v, out, pending, last = self._vocab(), [], None, len(word) - 1
        for i, c in enumerate(word):
            size = len(c.encode("utf-8"))
            s = (self.prefix if i and self.prefix else "") + c + (self.suffix if i == last else "")
            if s in v:
                if pending is not None:
                    out.append(pending)
                    pending = None
                out.append((s, size))
                continue
            if self.byte_fallback:
                b = [f"<0x{x:02X}>" for x in c.encode("utf-8")]
                if all(x in v for x in b):
                    out += [(x, 1) for x in b]
                    continue
            if unk_string is None:
                continue            # dropped
            if pending is not None and self.fuse_unk:
                pending = (unk_string, pending[1] + size)
            else:
                if pending is not None:
                    out.append(pending)
                pending = (unk_string, size)
        if pending is not None:
            out.append(pending)
        return out

    def _lost(self, text):
        return _refuse(f"this tokenizer on {text[:40]!r}: its tokens could not be laid over the text")

    def _vocab(self):
        if self.vocab_strings is None:
            self.vocab_strings = set(self.id_to_token.values())
        return self.vocab_strings

    def _token(self, text, pos, ps, pe, ids, k, first):
        """(characters the token at ids[k] covers from pos, tokens used for them)."""
        tid = ids[k]
        t = self.id_to_token.get(tid)
        kind = self.kind
        if tid == self.unk:
            if kind in ("WordPiece", "WordLevel"):
                if not first:
                    raise self._lost(text)
                return pe - ps, 1
            return self._unigram_unk(text, pos, pe, ids, k), 1
        if self.byte_fallback and _is_byte_token(t):
            # Unigram: a run of unknown characters (fused) as bytes, every one spanning the run
            n, used = 0, 0
            while pos + n < pe:
                b = text[pos + n].encode("utf-8")
                if [self.id_to_token.get(i) for i in ids[k + used:k + used + len(b)]] != \
                        [f"<0x{x:02X}>" for x in b]:
                    break
                n, used = n + 1, used + len(b)
                if not _is_byte_token(self.id_to_token.get(ids[k + used]) if k + used < len(ids)
                                                       else None):
                    break
            if n:
                return n, used
        if t is None:
            raise self._lost(text)
        if kind == "WordPiece" and not first:
            if not t.startswith(self.prefix):
                raise self._lost(text)
            t = t[len(self.prefix):]
        if kind == "WordLevel":
            if text[ps:pe] != t:
                raise self._lost(text)
            return pe - ps, 1
        if not t or text[pos:pos + len(t)] != t or pos + len(t) > pe:
            raise self._lost(text)
        return len(t), 1

    def _unigram_unk(self, text, pos, pe, ids, k):
        """Unigram's unknown token covers a run of characters with no token of their own
        (fused), or its own piece where the vocabulary holds it; where it ends is where
        the next token matches. Refused when that is ambiguous."""
        v, own = self._vocab(), self.id_to_token.get(self.unk)
        nxt = self.id_to_token.get(ids[k + 1]) if k + 1 < len(ids) and ids[k + 1] != self.unk else None
        if nxt is not None and _is_byte_token(nxt) and self.byte_fallback:
            nxt = None
        ok, q = [], pos
        while q < pe:
            if own and text.startswith(own, q):
                q += len(own)
            elif text[q] not in v:
                q += 1
            else:
                break
            if q == pe or (nxt is not None and text.startswith(nxt, q)):
                ok.append(q)
        if len(ok) != 1:
            raise _refuse(f"this Unigram tokenizer on {text[:40]!r}: where its unknown token ends is ambiguous")
        return ok[0] - pos

    # ------------------------------------------------------------ the post-processor

    def _finish(self, text, data, ids, starts, ends, wids, max_body, add, values, raw=False):
        n = len(data)
        if max_body >= 0:
            del ids[max_body:], starts[max_body:], ends[max_body:]
            if wids is not None:
                del wids[max_body:]
        # bytes -> characters (HF's Python API counts characters); every offset here is at a
        # character's start or the text's end
        if n == len(text):
            st, en = starts, ends
        elif starts:
            b = np.frombuffer(data, dtype=np.uint8)
            idx = np.append(np.cumsum((b & 0xC0) != 0x80) - 1, len(text))
            st, en = idx[starts].tolist(), idx[ends].tolist()
        else:
            st, en = [], []
        offsets = list(zip(st, en))
        if raw:
            return ids, offsets, wids, values
        offsets = self.trim(ids, offsets, values)
        if add:
            spec = self.tok._spec
            ids = spec.prefix + ids + spec.suffix
            offsets = [(0, 0)] * len(spec.prefix) + offsets + [(0, 0)] * len(spec.suffix)
            if wids is not None:
                wids = [None] * len(spec.prefix) + wids + [None] * len(spec.suffix)
        return ids, offsets, wids

    def trim(self, ids, offsets, values):
        """The post-processor's trim_offsets over one sequence's ids (as HF: after truncation,
        on the kept part and on each overflowing part alone); values: the added tokens'
        matched strings by index in ids."""
        for add_prefix_space in self.trims:
            offsets = self._trim(ids, offsets, add_prefix_space, values)
        return offsets

    def _trim(self, ids, offsets, add_prefix_space, values):
        """ByteLevel's trim_offsets: leading and trailing spaces of a token's string (Ġ or
        whitespace; an added token's string is the text it matched) leave its offsets; one
        leading space stays on the first token when the pre-tokenizer added it."""
        if not ids:
            return offsets
        leads, trails = self._spaces()
        tids = np.asarray(ids, dtype=np.int64)
        lead, trail = leads[tids], trails[tids]
        for i, t in values.items():
            if i < len(ids):        # (truncation may have cut it)
                lead[i], trail[i] = _spaces(t)
        pos = np.asarray(offsets, dtype=np.int64)
        s, e = pos[:, 0], pos[:, 1]
        if add_prefix_space:
            first = (np.arange(len(ids)) == 0) | (s == 0)
            lead[first & (lead == 1)] = 0
        s = np.where(lead > 0, np.minimum(s + lead, e), s)
        e = np.where((trail > 0) & (e >= trail), np.maximum(e - trail, s), e)
        return list(zip(s.tolist(), e.tolist()))

    def _spaces(self):
        """Per id: how many spaces its string starts and ends with (two arrays)."""
        got = self.__dict__.get("_space_counts")
        if got is None:
            n = self.tok.n_vocab + 1
            leads, trails = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
            for tid in (self.token_bytes if self.kind == "bytelevel" else self.id_to_token):
                if 0 <= tid < n:
                    leads[tid], trails[tid] = _spaces(self._token_string(tid))
            got = self._space_counts = (leads, trails)
        return got

    def _token_string(self, tid):
        if self.kind == "bytelevel":
            m = bytelevel.byte_to_char()
            return "".join(m[b] for b in self.token_bytes.get(tid, b""))
        return self.id_to_token.get(tid, "")
