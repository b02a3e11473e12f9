"""A Spec as the compiled core's arguments: token tables, compiled patterns with their
fast scanners, the added-token tries of both passes, and the NFC tables when the core
normalizes itself. ``Core(**core_tables(spec))`` is a tokenizer."""

from __future__ import annotations

from array import array

from .. import errors
from .._native import _core
from .._native._core import ADDED_LSTRIP, ADDED_RSTRIP, SPLIT_BEHAVIORS
from . import unicode_forms
from .pattern import compile_pattern, scanner_for
from .spec import Spec, added_passes


def core_tables(spec: Spec) -> dict:
    """Keyword arguments for _core.Core built from a Spec."""
    ids = set(spec.token_bytes) | {a.id for a in spec.added} | set(spec.prefix) | set(spec.suffix)
    n_ids = max(ids) + 1
    if n_ids > 1 << 31:
        raise errors.ValueError("token ids beyond 2**31")
    offsets, blob, flags = _core.token_tables(spec.token_bytes, n_ids, spec.bpe_ids, spec.skipped_ids())
    if not all(i in spec.token_bytes for i in spec.prefix + spec.suffix):
        raise errors.ValueError("post-processor names an id with no token")

    stages = []
    for st in spec.stages:
        prog, classes, dialect, scanner = array("i"), array("i"), 0, None
        if st.pattern is not None:
            c = compile_pattern(st.pattern, st.dialect)
            prog, classes, dialect = array("i", c.prog), array("i", c.classes), c.dialect
            scanner = scanner_for(st.pattern, st.dialect, isolated=st.behavior == "Isolated" and not st.invert)
        stages.append((prog, classes, dialect, SPLIT_BEHAVIORS[st.behavior], st.invert, st.prefix_space, scanner,
                       st.other))
    passes = [_pass_tables(tokens, contents) for tokens, contents in added_passes(spec)]
    norm = spec.normalizer.core if spec.normalizer is not None else None
    return dict(
        model=_model_tables(spec) if spec.model is not None else None, norm=norm,
        nfc=unicode_forms.nfc_tables() if spec.normalizer is not None and spec.normalizer.form == "NFC" else None,
        tok_off=offsets, tok_bytes=blob, tok_flags=flags, mode_tiktoken=spec.mode_tiktoken,
        merges=spec.merges if spec.merges is not None else array("I"), ignore_merges=spec.ignore_merges,
        stages=stages, passes=passes, prefix=array("I", spec.prefix), suffix=array("I", spec.suffix))


_PRESENT = bytes([0]) + bytes([1]) * 255     # token_tables' flags -> 0/1


def _model_tables(spec: Spec) -> dict:
    """The model's own vocabulary (not the added tokens) and options, for Core's model."""
    m = spec.model
    vocab = m["vocab"]                   # id -> UTF-8 (models._spec)
    n_ids = max(vocab, default=-1) + 1
    off, blob, flags = _core.token_tables(vocab, n_ids, set(), set())
    present = flags.translate(_PRESENT)
    out = {k: v for k, v in m.items() if k != "vocab"}
    out.update(off=off, bytes=blob, present=present)
    return out


def _pass_tables(tokens, contents):
    first, byte_, target, added = _added_trie([c.encode() for c in contents])
    flags = bytes((ADDED_LSTRIP if a.lstrip else 0) | (ADDED_RSTRIP if a.rstrip else 0) for a in tokens)
    return first, byte_, target, added, array("I", [a.id for a in tokens]), flags


def _added_trie(words):
    """Byte trie in breadth-first layout: children of node k at edges first[k]..first[k+1]."""
    children = [{}]
    ends = [-1]
    for k, w in enumerate(words):
        node = 0
        for byte in w:
            nxt = children[node].get(byte)
            if nxt is None:
                nxt = children[node][byte] = len(children)
                children.append({})
                ends.append(-1)
            node = nxt
        if ends[node] == -1:              # the first of duplicate contents wins
            ends[node] = k
    if not words:
        return array("I"), b"", array("I"), array("i")
    order = [0]                          # renumber breadth-first so edges are contiguous
    for node in order:
        order.extend(children[node][b] for b in sorted(children[node]))
    new = {old: i for i, old in enumerate(order)}
    first, byte_, target, added = array("I", [0]), bytearray(), array("I"), array("i")
    for old in order:
        for b in sorted(children[old]):
            byte_.append(b)
            target.append(new[children[old][b]])
        first.append(len(byte_))
        added.append(ends[old])
    return first, bytes(byte_), target, added
