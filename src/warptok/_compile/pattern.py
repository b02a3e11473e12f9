"""Compile a pre-tokenizer pattern into a program for the C matcher (cext/pretokenize/regex.c).

Supports the regex subset tokenizer files use: alternation, groups ``(?:)``,
``(?i:)``, ``(?>)``, look-ahead ``(?=)``/``(?!)``, classes with ``\\p{..}``,
``\\s\\d\\w`` and their negations, ranges and negation, ``. ^ $ \\z \\Z``, and
``? * + {m,n}`` in greedy, lazy and possessive forms. Anything else raises
``UnsupportedPattern`` naming the construct, so a pattern is never matched
with a meaning its source engine would not give it.

Two dialects, because the same string can mean different things:
``onig`` (Oniguruma, HF tokenizers) and ``fancy`` (fancy-regex, tiktoken).
In Oniguruma ``x{1,3}+`` is ``(?:x{1,3})+`` and ``$`` is end of line; in
fancy-regex ``{1,3}+`` is possessive and ``$`` is end of text.
"""

from __future__ import annotations

import functools

import operator
import re
from dataclasses import dataclass, field
from functools import reduce

from .. import errors
from .._native._core import (ALT_ENTRY, DIALECTS, GENERAL_CATEGORIES, PROP_DIGIT, PROP_GC_MASK, PROP_SPACE,
                             PROP_WORD, REP_WIDTH, SCAN_CONTRACTIONS, SCAN_FAMILIES, SCAN_RANGES)
from .._native._core import OPCODES as OP

INF = -1

_GC_BIT = {name: 1 << value for name, value in GENERAL_CATEGORIES.items()}
_GC_GROUPS = {g: sum(bit for name, bit in _GC_BIT.items() if name[0] == g) for g in "LMNPSZC"}
_LONG_NAMES = {"Letter": "L", "Mark": "M", "Number": "N", "Punctuation": "P", "Symbol": "S",
               "Separator": "Z", "Other": "C", "Uppercase_Letter": "Lu", "Lowercase_Letter": "Ll",
               "Titlecase_Letter": "Lt", "Modifier_Letter": "Lm", "Other_Letter": "Lo",
               "Nonspacing_Mark": "Mn", "Spacing_Mark": "Mc", "Enclosing_Mark": "Me",
               "Decimal_Number": "Nd", "Letter_Number": "Nl", "Other_Number": "No"}


@dataclass
class Class:
    negate: bool = False
    items: list = field(default_factory=list)   # (kind, negate, a, b)

    def key(self):
        return (self.negate, tuple(self.items))


def _gc_mask(name: str, where: str) -> int:
    name = _LONG_NAMES.get(name, name)
    if name in _GC_GROUPS:
        return _GC_GROUPS[name]
    if name in _GC_BIT:
        return _GC_BIT[name]
    if name == "L&":
        return _GC_BIT["Lu"] | _GC_BIT["Ll"] | _GC_BIT["Lt"]
    raise errors.UnsupportedPattern(f"unsupported Unicode property \\p{{{name}}} {where}")


class _Parser:
    def __init__(self, pattern: str, dialect: str):
        if dialect not in DIALECTS:
            raise errors.ValueError(f"unknown regex dialect {dialect!r}")
        self.p = pattern
        self.i = 0
        self.dialect = dialect

    @functools.cached_property
    def fold(self) -> dict:
        """The dialect's case folding (read on the first case-insensitive item: the table
        takes ~40 ms to import)."""
        from .ucd import casefold
        return casefold.FOLD[self.dialect]

    # -- helpers --
    def error(self, what: str):
        raise errors.UnsupportedPattern(f"{what} at offset {self.i} of pattern {self.p!r}")

    def peek(self, k: int = 0):
        j = self.i + k
        return self.p[j] if j < len(self.p) else None

    def take(self):
        c = self.peek()
        if c is None:
            self.error("unexpected end of pattern")
        self.i += 1
        return c

    def eat(self, s: str) -> bool:
        if self.p.startswith(s, self.i):
            self.i += len(s)
            return True
        return False

    # -- grammar --
    def parse(self):
        node = self.alt(icase=False)
        if self.i != len(self.p):
            self.error("unbalanced ')'")
        return node

    def alt(self, icase):
        branches = [self.concat(icase)]
        while self.eat("|"):
            branches.append(self.concat(icase))
        return branches[0] if len(branches) == 1 else ("alt", branches)

    def concat(self, icase):
        items = []
        start = self.i
        while self.peek() not in (None, "|", ")"):
            items.append(self.repeat(icase))
        if icase and self.dialect == "onig":
            self.check_multichar_fold(items, start)
        return ("cat", items)

    def check_multichar_fold(self, items, start):
        # Oniguruma folds across characters: (?i:ss) matches 'ß', (?i:st) the ligature 'ﬆ'.
        # Single-character fold tables cannot express that, so refuse such literals.
        run = ""
        for node in items + [None]:
            if node is not None and node[0] in ("char", "class") and _literal_of(node) is not None:
                run += _literal_of(node)
                continue
            folded = run.casefold()
            if any(len(ch.casefold()) > 1 for ch in run) or any(t in folded for t in _multichar_fold_targets()):
                self.i = start
                self.error(f"case-insensitive literal {run!r} that Oniguruma folds across characters")
            run = ""

    def repeat(self, icase):
        node = self.atom(icase)
        while True:
            q = self.quantifier()
            if q is None:
                return node
            lo, hi, counted = q
            if node[0] in ("assert", "look"):
                self.error("quantifier on an assertion")
            mode = "greedy"
            if self.eat("?"):
                mode = "lazy"
            elif self.peek() == "+":
                # Oniguruma (Ruby syntax) has no possessive interval: x{n,m}+ nests a '+'.
                if not (counted and self.dialect == "onig"):
                    self.i += 1
                    mode = "possessive"
            node = ("rep", node, lo, hi, mode)

    def quantifier(self):
        c = self.peek()
        if c == "?":
            self.i += 1
            return 0, 1, False
        if c == "*":
            self.i += 1
            return 0, INF, False
        if c == "+":
            self.i += 1
            return 1, INF, False
        if c == "{":
            j = self.p.find("}", self.i)
            body = self.p[self.i + 1:j] if j > 0 else ""
            parts = body.split(",")
            if j < 0 or len(parts) > 2 or not all(x.strip().isdigit() or x == "" for x in parts) or parts[0] == "" and len(parts) == 1:
                self.error("'{' that is not a counted repetition")
            if parts[0] == "":
                self.error("'{,n}' repetition")
            lo = int(parts[0])
            hi = lo if len(parts) == 1 else (INF if parts[1] == "" else int(parts[1]))
            if hi != INF and hi < lo:
                self.error("repetition {m,n} with n < m")
            self.i = j + 1
            return lo, hi, True
        return None

    def atom(self, icase):
        c = self.take()
        if c == "(":
            return self.group(icase)
        if c == "[":
            return ("class", self.char_class(icase))
        if c == ".":
            return ("class", Class(negate=True, items=[(OP["RANGE"], 0, 10, 10)]))
        if c == "^":
            return ("assert", OP["BOL"] if self.dialect == "onig" else OP["BOT"])
        if c == "$":
            return ("assert", OP["EOL"] if self.dialect == "onig" else OP["EOT"])
        if c == "\\":
            return self.escape(icase, in_class=False)
        if c in ")|":
            self.error(f"unexpected {c!r}")
        if c in "*+?{":
            self.error(f"nothing to repeat before {c!r}")
        return self.literal(ord(c), icase)

    def literal(self, cp, icase):
        if icase and cp in self.fold:
            return ("class", Class(items=[(OP["RANGE"], 0, x, x) for x in sorted(self.fold[cp])]))
        return ("char", cp)

    def group(self, icase):
        if self.eat("?:"):
            node = self.alt(icase)
        elif self.eat("?i:"):
            node = self.alt(True)
        elif self.eat("?-i:"):
            node = self.alt(False)
        elif self.eat("?>"):
            node = ("atomic", self.alt(icase))
        elif self.eat("?="):
            node = ("look", self.alt(icase), False)
        elif self.eat("?!"):
            node = ("look", self.alt(icase), True)
        elif self.peek() == "?":
            self.error("unsupported group syntax '(?" + (self.peek(1) or "") + "'")
        else:
            node = self.alt(icase)  # capturing group: captures are not used
        if not self.eat(")"):
            self.error("missing ')'")
        return node

    def hex_escape(self):
        if self.eat("{"):
            j = self.p.find("}", self.i)
            if j < 0:
                self.error("unterminated \\x{")
            digits, self.i = self.p[self.i:j], j + 1
        else:
            digits = self.p[self.i:self.i + 2]
            self.i += 2
        try:
            cp = int(digits, 16)
        except ValueError:
            self.error("bad hex escape")
        if cp > 0x10FFFF:
            self.error("hex escape beyond U+10FFFF")
        return cp

    def escape(self, icase, in_class):
        """An escape after '\\': a class item list, a code point, or an assertion."""
        c = self.take()
        simple = {"n": 10, "r": 13, "t": 9, "f": 12, "v": 11, "a": 7, "e": 27, "0": 0}
        props = {"s": PROP_SPACE, "d": PROP_DIGIT, "w": PROP_WORD}
        if c in simple:
            cp = simple[c]
        elif c == "x":
            cp = self.hex_escape()
        elif c == "u" and self.dialect == "fancy":
            cp = self.hex_escape()
        elif c.lower() in props:
            item = (OP["PROP"], int(c.isupper()), props[c.lower()], 0)
            return [item] if in_class else ("class", Class(items=[item]))
        elif c in "pP":
            if self.eat("{"):
                j = self.p.find("}", self.i)
                if j < 0:
                    self.error("unterminated \\p{")
                name, self.i = self.p[self.i:j], j + 1
            else:
                name = self.take()
            neg = c == "P"
            if name.startswith("^"):
                neg, name = not neg, name[1:]
            if icase and name not in ("L", "M", "N", "P", "S", "Z", "C"):
                self.error(f"\\p{{{name}}} inside a case-insensitive group")
            item = (OP["GC"], int(neg), _gc_mask(name, f"at offset {self.i}"), 0)
            return [item] if in_class else ("class", Class(items=[item]))
        elif not in_class and c in "zZAG":
            kinds = {"z": OP["EOT"], "Z": OP["EOT_NL"], "A": OP["BOT"]}
            if c not in kinds:
                self.error(f"unsupported escape \\{c}")
            return ("assert", kinds[c])
        elif c.isalnum():
            self.error(f"unsupported escape \\{c}")
        else:
            cp = ord(c)
        if in_class:
            return cp
        return self.literal(cp, icase)

    def char_class(self, icase):
        cls = Class()
        if self.eat("^"):
            cls.negate = True
        first = True
        while True:
            c = self.peek()
            if c is None:
                self.error("unterminated '['")
            if c == "]" and not first:
                self.i += 1
                break
            first = False
            if c == "[":
                self.error("nested character class")
            if self.p.startswith("&&", self.i):
                self.error("class intersection '&&'")
            self.i += 1
            if c == "\\":
                got = self.escape(icase, in_class=True)
                if isinstance(got, list):
                    cls.items.extend(got)
                    continue
                lo = got
            else:
                lo = ord(c)
            hi = lo
            if self.peek() == "-" and self.peek(1) not in ("]", None):
                self.i += 1
                c2 = self.take()
                if c2 == "\\":
                    got = self.escape(icase, in_class=True)
                    if isinstance(got, list):
                        self.error("range ending in a class escape")
                    hi = got
                elif c2 == "[":
                    self.error("nested character class")
                else:
                    hi = ord(c2)
                if hi < lo:
                    self.error("range out of order")
            cls.items.append((OP["RANGE"], 0, lo, hi))
            if icase:
                for cp, group in self.fold.items():
                    if lo <= cp <= hi:
                        cls.items.extend((OP["RANGE"], 0, x, x) for x in group)
        return cls


def _literal_of(node):
    """The lowercase letter a literal (or its case-fold class) stands for, else None."""
    if node[0] == "char":
        return chr(node[1]).lower()
    items = node[1].items
    if not node[1].negate and items and all(k == OP["RANGE"] and a == b for k, _, a, b in items):
        return chr(min(a for _, _, a, _ in items)).lower()
    return None


_FOLD_TARGETS = None


def _multichar_fold_targets():
    """Strings of two or more characters that some character case-folds to (all in the BMP)."""
    global _FOLD_TARGETS
    if _FOLD_TARGETS is None:
        _FOLD_TARGETS = {f for f in (chr(c).casefold() for c in range(0x10000) if not 0xD800 <= c < 0xE000)
                         if len(f) > 1}
    return _FOLD_TARGETS


def _nullable(node) -> bool:
    kind = node[0]
    if kind in ("char", "class"):
        return False
    if kind in ("assert", "look"):
        return True
    if kind == "cat":
        return all(_nullable(x) for x in node[1])
    if kind == "alt":
        return any(_nullable(x) for x in node[1])
    if kind == "atomic":
        return _nullable(node[1])
    if kind == "rep":
        return node[2] == 0 or _nullable(node[1])
    raise errors.AssertionError(kind)


def _single(node):
    """A node matching exactly one code point, as a Class, or None."""
    if node[0] == "class":
        return node[1]
    if node[0] == "char":
        return Class(items=[(OP["RANGE"], 0, node[1], node[1])])
    if node[0] == "cat" and len(node[1]) == 1:
        return _single(node[1][0])
    return None


FIRST_CHARACTER_DISPATCH = True   # tests turn it off to check ALT against the plain chain
FOLLOW_SETS = True                # tests turn it off to check REP's skipping against plain backtracking
_ANY = ((1 << 128) - 1, True)     # a follow set that rules out nothing


def _start_set(node, dialect):
    """(ASCII characters that may start a match, whether anything else may), over-approximated:
    'anything else' covers non-ASCII starts and an alternative that can match empty."""
    mask, other, nullable = _first(node, dialect)
    if nullable:
        return (1 << 128) - 1, True
    return mask, other


def _first(node, dialect):
    """(ASCII first-character mask, may start non-ASCII, can match empty) of a node."""
    kind = node[0]
    if kind == "char":
        return (1 << node[1], False, False) if node[1] < 128 else (0, True, False)
    if kind == "class":
        return sum(1 << cp for cp in range(128) if _class_has(node[1], cp, dialect)), True, False
    if kind == "cat":
        mask, other = 0, False
        for x in node[1]:
            m, o, nullable = _first(x, dialect)
            mask, other = mask | m, other or o
            if not nullable:
                return mask, other, False
        return mask, other, True
    if kind == "alt":
        parts = [_first(x, dialect) for x in node[1]]
        return (reduce(operator.or_, (p[0] for p in parts), 0), any(p[1] for p in parts),
                any(p[2] for p in parts))
    if kind == "rep":
        m, o, nullable = _first(node[1], dialect)
        return m, o, node[2] == 0 or nullable
    if kind == "atomic":
        return _first(node[1], dialect)
    return 0, False, True           # look-around and assertions consume nothing


def _follow_of(items, follow, dialect):
    """What may start a match of the nodes items followed by something whose start set is
    follow, as (ASCII mask, may start non-ASCII); _ANY when that could be empty."""
    mask, other = 0, False
    for x in items:
        m, o, nullable = _first(x, dialect)
        mask, other = mask | m, other or o
        if not nullable:
            return mask, other
    return mask | follow[0], other or follow[1]


def _class_has(cls: Class, cp: int, dialect: str) -> bool:
    from .._native._core import unicode_props

    props = unicode_props(DIALECTS[dialect], cp)
    hit = False
    for kind, neg, a, b in cls.items:
        if kind == OP["RANGE"]:
            m = a <= cp <= b
        elif kind == OP["GC"]:
            m = bool((a >> (props & PROP_GC_MASK)) & 1)
        else:
            m = bool(props & a)
        if m != bool(neg):
            hit = True
            break
    return hit != cls.negate


class _Emitter:
    def __init__(self, dialect):
        self.dialect = dialect
        self.prog: list[int] = []
        self.classes: list[Class] = []
        self.class_index: dict = {}

    def cls(self, c: Class) -> int:
        # Merge positive category items into one mask: one test instead of several.
        items, mask = [], 0
        for it in c.items:
            if it[0] == OP["GC"] and not it[1]:
                mask |= it[2]
            elif it not in items:
                items.append(it)
        if mask:
            items.insert(0, (OP["GC"], 0, mask, 0))
        c = Class(c.negate, items)
        k = self.class_index.get(c.key())
        if k is None:
            k = self.class_index[c.key()] = len(self.classes)
            self.classes.append(c)
        return k

    def emit(self, *words) -> int:
        at = len(self.prog)
        self.prog.extend(words)
        return at

    def node(self, n, follow=_ANY):
        """Emit n; follow over-approximates what can start the rest of the match after it
        (REP uses it to skip backtracking positions where the rest cannot start)."""
        kind = n[0]
        if kind == "char":
            self.emit(OP["CHAR"], n[1])
        elif kind == "class":
            self.emit(OP["CLASS"], self.cls(n[1]))
        elif kind == "cat":
            items = n[1]
            for i, x in enumerate(items):
                self.node(x, _follow_of(items[i + 1:], follow, self.dialect))
        elif kind == "alt" and len(n[1]) >= 3 and FIRST_CHARACTER_DISPATCH:
            # ALT: only alternatives that can start with the next character are tried.
            branches = n[1]
            at = self.emit(OP["ALT"], len(branches), *([0] * (ALT_ENTRY * len(branches))))
            jumps = []
            for k, x in enumerate(branches):
                mask, other = _start_set(x, self.dialect)
                entry = at + 2 + k * ALT_ENTRY
                self.prog[entry:entry + ALT_ENTRY] = [_i32((mask >> (32 * w)) & 0xFFFFFFFF) for w in range(4)] + \
                    [int(other), len(self.prog)]
                self.node(x, follow)
                jumps.append(self.emit(OP["JMP"], 0))
            for j in jumps:
                self.prog[j + 1] = len(self.prog)
        elif kind == "alt":
            jumps = []
            for x in n[1][:-1]:
                split = self.emit(OP["SPLIT"], 0, 0)
                self.prog[split + 1] = len(self.prog)
                self.node(x, follow)
                jumps.append(self.emit(OP["JMP"], 0))
                self.prog[split + 2] = len(self.prog)
            self.node(n[1][-1], follow)
            for j in jumps:
                self.prog[j + 1] = len(self.prog)
        elif kind == "atomic":
            self.emit(OP["ATOMIC_BEGIN"])
            self.node(n[1], follow)
            self.emit(OP["ATOMIC_END"])
        elif kind == "look":
            at = self.emit(OP["LOOK"], int(n[2]), 0)
            self.node(n[1])                 # the sub-program ends with MATCH: anything follows
            self.emit(OP["MATCH"])
            self.prog[at + 2] = len(self.prog)
        elif kind == "assert":
            self.emit(OP["ASSERT"], n[1])
        elif kind == "rep":
            self.rep(*n[1:], follow)
        else:
            raise errors.AssertionError(kind)

    def rep(self, body, lo, hi, mode, follow=_ANY):
        single = _single(body)
        if single is not None and mode != "lazy":
            mask, other = follow if FOLLOW_SETS and mode != "possessive" else _ANY
            # other: 0 = no non-ASCII start, 1 = maybe, 2 = anything (no skipping at all)
            other = 2 if (mask, other) == _ANY else int(other)
            at = self.emit(OP["REP"], self.cls(single), lo, hi, int(mode == "possessive"),
                           *[_i32((mask >> (32 * w)) & 0xFFFFFFFF) for w in range(4)], other)
            if len(self.prog) - at != REP_WIDTH:
                raise errors.AssertionError("a REP instruction does not have the matcher's width")
            return
        # The body repeats: what follows one pass of it is another pass or the rest.
        m, o, _ = _first(body, self.dialect)
        inner = (m | follow[0], o or follow[1])
        if hi == INF and _nullable(body):
            raise errors.UnsupportedPattern("a repeated group that can match the empty string")
        if mode == "possessive":
            self.emit(OP["ATOMIC_BEGIN"])
        for _ in range(lo):
            self.node(body, inner)
        if hi == INF:
            loop = len(self.prog)
            split = self.emit(OP["SPLIT"], 0, 0)
            self.node(body, inner)
            self.emit(OP["JMP"], loop)
            self._split_targets(split, split + 3, len(self.prog), mode == "lazy")
        else:
            splits = []
            for _ in range(hi - lo):
                splits.append(self.emit(OP["SPLIT"], 0, 0))
                self.node(body, inner)
            end = len(self.prog)
            for s in splits:
                self._split_targets(s, s + 3, end, mode == "lazy")
        if mode == "possessive":
            self.emit(OP["ATOMIC_END"])

    def _split_targets(self, at, take, skip, lazy):
        self.prog[at + 1], self.prog[at + 2] = (skip, take) if lazy else (take, skip)


@dataclass
class Compiled:
    prog: list
    classes: list          # flat int32 words: per class [negate, n_items, (kind, negate, a, b)*]
    dialect: int


def compile_pattern(pattern: str, dialect: str) -> Compiled:
    tree = _Parser(pattern, dialect).parse()
    if _nullable(tree):
        raise errors.UnsupportedPattern(f"pattern {pattern!r} can match the empty string")
    em = _Emitter(dialect)
    em.node(tree)
    em.emit(OP["MATCH"])
    words = []
    for c in em.classes:
        words += [int(c.negate), len(c.items)]
        for kind, neg, a, b in c.items:
            words += [kind, neg, _i32(a), _i32(b)]
    return Compiled(em.prog, words, DIALECTS[dialect])


def _i32(v: int) -> int:
    return v - (1 << 32) if v >= 1 << 31 else v


# ---------------------------------------------------------------- fast scanners

# Patterns that cext/pretokenize/scan.c matches with a hand-fused scanner instead of the
# generic matcher, keyed by (pattern, dialect). Values: (family, contractions,
# max_digits, marks_are_letters, ws_end_first, trail_slash) as in cext/pretokenize/scan.h.
# A pattern string not listed here (even one differing by a character) runs on
# the generic matcher, so this table can only make known patterns faster.
FAST_SCANNERS = True   # tests turn it off to check the scanners against the generic matcher

_GPT2, _CL100K, _O200K, _DS3, _RUN = (SCAN_FAMILIES[k] for k in ("GPT2", "CL100K", "O200K", "DS3", "RUN"))
_LOWER, _ANY_CASE = SCAN_CONTRACTIONS["LOWER"], SCAN_CONTRACTIONS["ANY_CASE"]
_CONTRACTIONS = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)"
_HF_TAIL = r"\s*[\r\n]+|\s+(?!\S)|\s+"
_O200K_HF = "|".join([
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+" + _CONTRACTIONS + "?",
    r"[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*" + _CONTRACTIONS + "?",
    r"\p{N}{1,3}", r" ?[^\s\p{L}\p{N}]+[\r\n/]*", _HF_TAIL])
_SCANNERS = {
    # GPT-2: HF's ByteLevel regex, and tiktoken's r50k/gpt2
    (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", "onig"):
        (_GPT2, _LOWER, 0, 0, 0, 0),
    (r"'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s", "fancy"):
        (_GPT2, _LOWER, 0, 0, 1, 0),
    # tiktoken's cl100k_base
    (r"'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"
     r"|\s++$|\s*[\r\n]|\s+(?!\S)|\s", "fancy"):
        (_CL100K, _ANY_CASE, 3, 0, 1, 0),
    # Llama-3, GLM-4, DeepSeek-R1-Distill-Llama
    (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|" + _HF_TAIL, "onig"):
        (_CL100K, _ANY_CASE, 3, 0, 0, 0),
    # Qwen2, Qwen2.5, Qwen3 and their derivatives
    (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|" + _HF_TAIL, "onig"):
        (_CL100K, _ANY_CASE, 1, 0, 0, 0),
    # Qwen3.5: marks join letter runs
    (_CONTRACTIONS + r"|[^\r\n\p{L}\p{N}]?[\p{L}\p{M}]+|\p{N}| ?[^\s\p{L}\p{M}\p{N}]+[\r\n]*|" + _HF_TAIL, "onig"):
        (_CL100K, _ANY_CASE, 1, 1, 0, 0),
    # o200k_base (tiktoken) and MiniMax (HF) share one string
    (_O200K_HF, "fancy"): (_O200K, _ANY_CASE, 3, 0, 0, 1),
    (_O200K_HF, "onig"): (_O200K, _ANY_CASE, 3, 0, 0, 1),
    # DeepSeek-V3/V3.1/V3.2/V4/R1/OCR/VL2, the last of three splits (digits and
    # CJK runs are cut out by the first two, class runs: _class_run); its
    # tokenizer.json holds real CR and LF characters, not \r and \n escapes
    (r"""[!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~][A-Za-z]+|[^""" "\r\n" r"""\p{L}\p{P}\p{S}]?[\p{L}\p{M}]+"""
     r"| ?[\p{P}\p{S}]+[" "\r\n" r"]*|\s*[" "\r\n" r"]+|\s+(?!\S)|\s+", "onig"): (_DS3, 0, 0, 1, 0, 0),
}


def scanner_for(pattern: str, dialect: str, isolated: bool = True) -> tuple | None:
    """The fast scanner's parameters for a known pattern or a class run, or None:
    (family, contractions, max_digits, marks_are_letters, ws_end_first, trail_slash,
    ranges). isolated: the split keeps both matches and gaps as pieces (DeepSeek-V3's
    scanner and the class runs need it: their patterns do not match everywhere, and
    they report gaps as pieces too)."""
    if not FAST_SCANNERS:
        return None
    scanner = _SCANNERS.get((pattern, dialect))
    if scanner is not None:
        return scanner + ((),) if isolated or scanner[0] != _DS3 else None
    return _class_run(pattern) if isolated else None


def _class_run(pattern: str) -> tuple | None:
    r"""The scanner of a split by one repeated class, as DeepSeek's digit and CJK splits
    are: \p{N}, \p{N}+ or \p{N}{1,k}; or a bracket of literal characters and ranges,
    alone or with +. Anything else (escapes, properties, negation, set operations,
    other quantifiers) is None and stays on the generic matcher."""
    m = re.fullmatch(r"\\p\{N\}(?:(\+)|\{1,([1-9][0-9]{0,2})\})?", pattern)
    if m:
        return (_RUN, 0, 0 if m.group(1) else int(m.group(2) or 1), 0, 0, 0, ())
    m = re.fullmatch(r"\[([^\]]+)\](\+?)", pattern, re.S)
    if not m or any(c in "\\[]^&~:" for c in m.group(1)):
        return None
    body, ranges, i = m.group(1), [], 0
    while i < len(body):
        if i + 2 < len(body) and body[i + 1] == "-":
            lo, hi, i = ord(body[i]), ord(body[i + 2]), i + 3
        else:
            lo = hi = ord(body[i])
            i += 1
        if "-" in (chr(lo), chr(hi)) or lo > hi:   # a '-' outside a range's middle, a reversed range
            return None
        ranges.append((lo, hi))
    if len(ranges) > SCAN_RANGES:
        return None
    return (_RUN, 0, 0 if m.group(2) else 1, 0, 0, 0, tuple(ranges))
