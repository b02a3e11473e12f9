"""HF's post-processors as templates: the special tokens and sequences of a single text
and of a pair, with their type ids.

A template is a list of items: ``("A", type_id)`` / ``("B", type_id)`` for a sequence, or
``(ids, type_id)`` for special tokens (a list of ids). ByteLevel and RobertaProcessing's
``trim_offsets`` change offsets only (stage D); a Sequence may hold at most one template.

At encode time (pairs, ``Tokenizer.encode_pair_batch`` and ``warptok.hf``): HF truncates the
sequences first (``truncation_targets``; ``windows`` for the overflowing parts), then applies
the template (``apply``).
"""

from __future__ import annotations

import json

from .. import errors
from .spec import Spec


def _fail(part: str, value) -> errors.UnsupportedTokenizer:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    return errors.UnsupportedTokenizer(f"unsupported {part}: {text[:200]}")


def read(p, spec: Spec):
    """Sets spec.single, spec.pair, spec.prefix and spec.suffix from a post_processor."""
    if p is None:
        return
    kind = p.get("type")
    if kind == "Sequence":
        for q in p.get("processors", []):
            read(q, spec)
        return
    if kind == "ByteLevel":
        spec.post_offsets = spec.post_offsets + [dict(p)]
        return
    if spec.single is not None:
        raise _fail("more than one template post-processor", p)
    if kind == "TemplateProcessing":
        specials = p.get("special_tokens", {})
        spec.single = _template(p.get("single", []), specials, ("A",))
        spec.pair = _template(p.get("pair", []), specials, ("A", "B")) if p.get("pair") else None
    elif kind == "BertProcessing":
        cls, sep = [p["cls"][1]], [p["sep"][1]]
        spec.single = [(cls, 0), ("A", 0), (sep, 0)]
        spec.pair = [(cls, 0), ("A", 0), (sep, 0), ("B", 1), (sep, 1)]
    elif kind == "RobertaProcessing":
        cls, sep = [p["cls"][1]], [p["sep"][1]]
        spec.single = [(cls, 0), ("A", 0), (sep, 0)]
        spec.pair = [(cls, 0), ("A", 0), (sep, 0), (sep, 0), ("B", 0), (sep, 0)]
        spec.post_offsets = spec.post_offsets + [dict(p)]
    else:
        raise _fail("post-processor", p)
    seen = False
    for item, _ in spec.single:
        if item == "A":
            seen = True
        elif item == "B":
            raise _fail("single template with the sequence $B", p)
        else:
            (spec.suffix if seen else spec.prefix).extend(item)
    if not seen:
        raise _fail("template without the sequence $A", p)


def _template(items, specials, allowed) -> list:
    out = []
    for item in items:
        if "Sequence" in item:
            name = item["Sequence"].get("id")
            if name not in allowed or any(x == name for x, _ in out):
                raise _fail("template item", item)
            out.append((name, int(item["Sequence"].get("type_id", 0))))
        elif "SpecialToken" in item:
            name = item["SpecialToken"]["id"]
            if name not in specials:
                raise errors.ValueError(f"template names special token {name!r} it does not define")
            out.append((list(specials[name]["ids"]), int(item["SpecialToken"].get("type_id", 0))))
        else:
            raise _fail("template item", item)
    return out


def apply(template: list, a: list, b: list | None = None) -> tuple:
    """(ids, type_ids) of the template around sequence ids a (and b)."""
    ids, types = [], []
    for item, type_id in template:
        part = a if item == "A" else b if item == "B" else item
        ids += part
        types += [type_id] * len(part)
    return ids, types


# Without a template post-processor HF merges the sequences as they are, each with its own index as type id.
_PLAIN_SINGLE = [("A", 0)]
_PLAIN_PAIR = [("A", 0), ("B", 1)]
TRUNCATION_STRATEGIES = ("longest_first", "only_first", "only_second")


def templates(spec: Spec) -> tuple:
    """(single, pair) templates of a tokenizer; pair is None when its template has none."""
    if spec.single is None:
        return _PLAIN_SINGLE, _PLAIN_PAIR
    return spec.single, spec.pair


def n_special(template: list) -> int:
    """How many special-token ids a template adds."""
    return sum(len(item) for item, _ in template if item not in ("A", "B"))


def truncation_targets(n1: int, n2: int | None, max_length: int, strategy: str) -> tuple:
    """HF's truncate_encodings: the length the first (and second) sequence of ``n1`` (``n2``)
    ids is cut to, for ``max_length`` ids of sequences (the template's specials already taken
    off); n2 is None for a single sequence. A length may exceed the sequence (nothing cut).
    Raises TruncationError with HF's messages where HF refuses."""
    if max_length == 0:                  # HF's special case: both sequences are emptied
        return 0, (None if n2 is None else 0)
    total = n1 + (n2 or 0)
    if total <= max_length:
        return n1, n2
    remove = total - max_length
    if strategy == "longest_first":
        if n2 is None:
            return max_length, None
        short, long = min(n1, n2), max(n1, n2)
        # the shorter one kept whole and the longer one cut to fill, or both cut to about half
        long = short if short > max_length else max(short, max_length - short)
        if short + long > max_length:
            short = max_length // 2
            long = short + max_length % 2
        return (long, short) if n1 > n2 else (short, long)
    if strategy == "only_second" and n2 is None:
        raise errors.TruncationError("Truncation error: Second sequence not provided")
    target = n1 if strategy == "only_first" else n2
    if target <= remove:
        raise errors.TruncationError("Truncation error: Sequence to truncate too short to respect the provided "
                                     "max_length")
    return (n1 - remove, n2) if strategy == "only_first" else (n1, n2 - remove)


def windows(n: int, keep: int, stride: int, side: str = "right") -> list:
    """HF's Encoding.truncate of ``n`` ids to ``keep``: the (start, stop) of the part kept,
    then of each overflowing part; consecutive parts share ``stride`` ids. ``side`` "left"
    keeps the last ids and walks back."""
    if keep >= n:
        return [(0, n)]
    if keep == 0:                        # everything overflows, in one part
        return [(0, 0), (0, n)]
    if stride >= keep:                   # HF panics here
        raise errors.ValueError(f"stride={stride} must be less than the {keep} ids a truncated sequence keeps "
                                "(max_length minus the special tokens the template adds, shared between a pair)")
    step = keep - stride
    parts = []
    if side == "right":
        for start in range(0, n, step):
            parts.append((start, min(start + keep, n)))
            if start + keep >= n:
                break
    else:
        for stop in range(n, 0, -step):
            parts.append((max(0, stop - keep), stop))
            if stop - keep <= 0:
                break
    return parts
