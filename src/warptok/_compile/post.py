"""HF's post-processors as templates: the special tokens and sequences of a single text
and of a pair, with their type ids.

A template is a list of items: ``("A", type_id)`` / ``("B", type_id)`` for a sequence, or
``(ids, type_id)`` for special tokens (a list of ids). ByteLevel and RobertaProcessing's
``trim_offsets`` change offsets only (stage D); a Sequence may hold at most one template.
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
