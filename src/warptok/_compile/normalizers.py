"""HF's normalizers, with HF's exact results.

``build(config)`` turns a tokenizer.json ``normalizer`` object into a Normalizer:
a function str -> str plus what the fast path needs to know. Unicode forms use
HF's Unicode 9.0 data (unicode_forms), Lowercase HF's per-character table
(ucd/lowercase.py); Replace with a regex uses warptok's own matcher in the
Oniguruma dialect, as HF does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Callable

from .. import errors
from . import spec, unicode_forms

# Rust's char::is_whitespace (Unicode White_Space), which Strip uses.
_WHITE_SPACE = "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009" \
               "\u200a\u2028\u2029\u202f\u205f\u3000"


@dataclass
class Normalizer:
    apply: Callable[[str], str]
    form: str | None             # the Unicode form when that is all it does (unicodedata quick check)
    substring_closed: bool       # text unchanged => every substring unchanged (the C fast path is exact)
    core: list | None = None     # the core's program (Core's norm): the core normalizes every segment
    unsafe: bytes | None = None  # with core: code points whose texts take the Python path instead
    loses_start: Callable[[str], bool] = lambda text: False
    steps: tuple = ()            # the tokenizer.json steps, for offsets (warptok/offsets.py)
    # ^ whether normalizing text deletes its first character, so that HF no longer places the
    # result at the original text's start (Metaspace's prepend_scheme "first"); the core's rule


def build(config) -> Normalizer | None:
    key = json.dumps(config, sort_keys=True)
    got = _built.get(key)
    if got is None:
        got = _build(config)
        if len(_built) < 32:
            _built[key] = got      # the same normalizer: building its tables again gives equal ones
    return got


_built: dict = {}


def _build(config) -> Normalizer | None:
    steps = spec.steps(config, "normalizers")
    if not steps:
        return None
    fns, closed, forms = [], True, []
    for step in steps:
        fn, step_closed = _step(step)
        fns.append((fn, _start_deleter(step)))
        closed = closed and step_closed
        forms.append(step["type"] if step["type"] in unicode_forms.FORMS else None)

    def apply(text: str) -> str:
        for fn, _ in fns:
            text = fn(text)
        return text

    def loses_start(text: str) -> bool:
        for fn, deletes_start in fns:
            if text and deletes_start is not None and deletes_start(text):
                return True
            text = fn(text)
        return False

    form = forms[0] if len(forms) == 1 else None
    core, unsafe = _core_program(steps) if form != "NFC" else (None, None)
    return Normalizer(apply, form, closed, core, unsafe, loses_start, tuple(steps))


def _start_deleter(n):
    """A test of whether the step deletes the first character of a (non-empty) text, as
    text/normalize.c's wt_norm_apply decides it (lost_start), or None: it never does."""
    kind = n.get("type")
    char = _char_step(n)
    if char is not None:
        return lambda text: char.char(text[0]) == ""
    if kind == "Replace" and not n.get("content"):
        pattern = n.get("pattern", {})
        if "String" in pattern and pattern["String"]:
            return lambda text, needle=pattern["String"]: text.startswith(needle)
        if "Regex" in pattern:
            spans = _regex_spans(pattern["Regex"])
            return lambda text: any(start == 0 < end for start, end in spans(text.encode("utf-8"))[:1])
    if kind == "Strip" and n.get("strip_left", True):
        return lambda text: text[0] in _WHITE_SPACE and bool(text.strip(_WHITE_SPACE))
    return None


def _char_step(n):
    """The step as a charmap.CharStep when it maps each character on its own, else None."""
    from . import charmap
    kind = n.get("type")
    if kind == "Lowercase":
        return charmap.lowercase_step()
    if kind == "StripAccents":
        return charmap.strip_accents_step()
    if kind == "Nmt":
        return charmap.nmt_step()
    if kind == "BertNormalizer":
        lower = n.get("lowercase", True)
        strip = n.get("strip_accents")
        return charmap.bert_step(bool(n.get("clean_text", True)), bool(n.get("handle_chinese_chars", True)),
                                 bool(lower if strip is None else strip), bool(lower))
    if kind == "Replace" and "String" in n.get("pattern", {}) and len(n["pattern"]["String"]) == 1:
        return charmap.replace_char_step(n["pattern"]["String"], n.get("content", ""))
    return None


def _core_program(steps):
    """(program, unsafe bits) when the core can run every step, else (None, None): runs of
    per-character steps become one map; Prepend, Replace of a string and Strip are steps
    of their own."""
    from . import charmap
    program, run, all_char = [], [], []

    def flush():
        if run:
            program.append(("map", *charmap.compose_map(run)))
            all_char.extend(run)
            run.clear()

    for n in steps:
        step = _char_step(n)
        if step is not None:
            run.append(step)
            continue
        flush()
        kind = n.get("type")
        if kind == "Prepend":
            program.append(("prepend", n.get("prepend", "").encode()))
        elif kind == "Replace" and "String" in n.get("pattern", {}) and n["pattern"]["String"]:
            program.append(("replace", n["pattern"]["String"].encode(), n.get("content", "").encode()))
        elif kind == "Strip":
            program.append(("strip", bool(n.get("strip_left", True)), bool(n.get("strip_right", True))))
        elif kind == "Precompiled":
            program.append(("precompiled", _charsmap(n)))
        elif kind == "Replace" and _repeated_char(n.get("pattern", {}).get("Regex")) is not None:
            program.append(("runs", _repeated_char(n["pattern"]["Regex"]).encode(), n.get("content", "").encode()))
        else:
            return None, None
    flush()
    return program, charmap.unsafe_bits(all_char)


def _step(n):
    kind = n.get("type")
    char = _char_step(n)
    if char is not None and kind != "Replace":
        return char.text, True
    if kind in unicode_forms.FORMS:
        return (lambda text, form=kind: unicode_forms.normalize(form, text)), True
    if kind == "Replace":
        pattern, content = n.get("pattern", {}), n.get("content", "")
        if "String" in pattern:
            needle = pattern["String"]
            if not needle:
                raise errors.UnsupportedNormalizer("Replace with an empty pattern")
            return (lambda text: text.replace(needle, content)), True
        if "Regex" in pattern:
            return _regex_replace(pattern["Regex"], content), False
        raise errors.UnsupportedNormalizer(f"Replace pattern {pattern!r}")
    if kind == "Precompiled":
        from .._native._core import Precompiled
        return Precompiled(_charsmap(n)).normalize, False
    if kind == "Prepend":
        prefix = n.get("prepend", "")
        return (lambda text: prefix + text if text else text), False
    if kind == "Strip":
        left, right = n.get("strip_left", True), n.get("strip_right", True)

        def strip(text):
            if left:
                text = text.lstrip(_WHITE_SPACE)
            if right:
                text = text.rstrip(_WHITE_SPACE)
            return text
        return strip, False
    raise errors.UnsupportedNormalizer(f"normalizer {kind}")


def _charsmap(n) -> bytes:
    """A Precompiled step's charsmap, checked as HF loads it."""
    import base64
    import binascii

    from .._native._core import Precompiled
    data = n.get("precompiled_charsmap")
    if not isinstance(data, str):
        raise errors.UnsupportedNormalizer(f"Precompiled without a charsmap ({data!r})")
    try:
        blob = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        raise errors.ValueError("not a tokenizer.json file: Precompiled charsmap is not base64") from None
    Precompiled(blob)            # raises on a blob HF cannot load
    return blob


_REGEX_META = set("\\.^$|?*+()[]{}")


def _repeated_char(regex) -> str | None:
    """c when regex is "c{2,}" for one literal character c (runs of it), else None."""
    if isinstance(regex, str) and len(regex) == 5 and regex.endswith("{2,}") and regex[0] not in _REGEX_META:
        return regex[0]
    return None


def _regex_spans(regex: str):
    """UTF-8 bytes -> the (start, end) of every match, in the Oniguruma dialect."""
    from array import array

    from .._native._core import Pattern
    from .pattern import compile_pattern

    c = compile_pattern(regex, "onig")
    return Pattern(array("i", c.prog), array("i", c.classes), c.dialect).spans


def _regex_replace(regex: str, content: str):
    find = _regex_spans(regex)
    replacement = content.encode("utf-8")

    def replace(text: str) -> str:
        data = text.encode("utf-8")
        spans = find(data)
        if not spans:
            return text
        out, pos = [], 0
        for start, end in spans:
            out += [data[pos:start], replacement]
            pos = end
        out.append(data[pos:])
        return b"".join(out).decode("utf-8")
    return replace
