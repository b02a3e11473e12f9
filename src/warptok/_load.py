"""Readers for tokenizer.json and tiktoken rank files.

Each reader produces a ``Spec``: plain tables that ``_core.Core`` takes, plus what
the Python layer needs (normalizer, added tokens, post-processor ids). A
configuration warptok cannot reproduce exactly raises ``UnsupportedTokenizer``
naming the part, never a silently different tokenizer.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from pathlib import Path

from . import _bytelevel, _core, _normalize
from ._core import ADDED_LSTRIP, ADDED_RSTRIP, MAX_STAGES, SPLIT_BEHAVIORS

# The pattern HF's ByteLevel pre-tokenizer uses when use_regex is true.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


class UnsupportedTokenizer(ValueError):
    """The file configures something warptok does not reproduce exactly."""


@dataclass
class AddedToken:
    content: str
    id: int
    special: bool
    normalized: bool = False      # matched after normalization (HF's second pass)
    lstrip: bool = False
    rstrip: bool = False


@dataclass
class Stage:
    """One pre-tokenizer split: a pattern (None: no split) and HF's behavior."""
    pattern: str | None
    dialect: str = "onig"
    behavior: str = "Isolated"
    invert: bool = False
    prefix_space: bool = False


@dataclass
class Spec:
    source: str                          # "huggingface" or "tiktoken"
    token_bytes: dict                    # id -> bytes it decodes to
    bpe_ids: set                         # ids reachable by merging bytes
    mode_tiktoken: bool
    merges: object = None                # HF: flat uint32 array of (left, right, rank) rows
    ignore_merges: bool = False
    stages: list = field(default_factory=list)   # Stage, applied in order
    added: list = field(default_factory=list)    # AddedToken, in file order
    normalizer: object = None            # a _normalizers.Normalizer, or None
    prefix: list = field(default_factory=list)   # post-processor ids before the text
    suffix: list = field(default_factory=list)
    decode_unsupported: str | None = None


def _fail(part: str, value) -> UnsupportedTokenizer:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    if len(text) > 200:
        text = text[:200] + "..."
    return UnsupportedTokenizer(f"unsupported {part}: {text}")


# ---------------------------------------------------------------- tokenizer.json

def load_tokenizer_json(path) -> Spec:
    with open(path, "rb") as f:
        return parse_tokenizer_json(f.read())


def parse_tokenizer_json(data) -> Spec:
    try:
        j = json.loads(data)
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"not a tokenizer.json file: {e}") from None
    if not isinstance(j, dict) or not isinstance(j.get("model"), dict):
        raise ValueError("not a tokenizer.json file: no 'model' object")
    model = j["model"]
    if model.get("type", "BPE") != "BPE" or "merges" not in model:
        raise _fail("model type (only byte-level BPE is supported)", model.get("type"))
    if model.get("dropout") not in (None, 0, 0.0):
        raise _fail("model.dropout", model.get("dropout"))
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            raise _fail(f"model.{key}", model[key])
    # byte_fallback only acts on a character missing from the vocabulary; with every byte
    # that UTF-8 text can contain present (checked below) it never does.

    vocab = model["vocab"]
    if not isinstance(vocab, dict):
        raise ValueError("not a tokenizer.json file: model.vocab is not an object")
    token_bytes, bpe_ids = _core.bytelevel_vocab(vocab, _bytelevel.char_byte_table())
    # Bytes that never occur in UTF-8 (C0, C1, F5-FF) may be absent: text is always valid UTF-8.
    never_in_utf8 = {0xC0, 0xC1, *range(0xF5, 0x100)}
    missing = [hex(b) for b in range(256) if _bytelevel.byte_to_char()[b] not in vocab and b not in never_in_utf8]
    if missing:
        raise _fail("vocabulary without every byte-level character (missing bytes)", ", ".join(missing[:8]))

    merges, bad = _core.merge_rows(model["merges"], token_bytes, bpe_ids, _bytelevel.char_byte_table())
    if bad >= 0:
        _merge_error(model["merges"][bad], vocab, bpe_ids)

    spec = Spec("huggingface", token_bytes, bpe_ids, mode_tiktoken=False, merges=merges,
                ignore_merges=bool(model.get("ignore_merges")))
    _read_added(j.get("added_tokens") or [], spec, vocab)
    spec.normalizer = _read_normalizer(j.get("normalizer"))
    _read_pre_tokenizer(j.get("pre_tokenizer"), spec)
    _read_post_processor(j.get("post_processor"), spec)
    spec.decode_unsupported = _check_decoder(j.get("decoder"))
    return spec


def _merge_error(m, vocab: dict, bpe_ids: set):
    """Raise what is wrong with a merge that _core.merge_rows refused."""
    parts = m.split(" ", 1) if isinstance(m, str) else m
    if not isinstance(parts, (list, tuple)) or len(parts) != 2 or not all(isinstance(p, str) for p in parts):
        raise ValueError(f"merge {m!r} is not two tokens")
    a, b = parts
    for part in (a, b):
        if part not in vocab:
            raise ValueError(f"merge {m!r} uses a token that is not in the vocabulary: {part!r}")
    if a + b not in vocab:
        raise ValueError(f"merge {m!r} makes {a + b!r}, which is not in the vocabulary")
    if vocab[a] not in bpe_ids or vocab[b] not in bpe_ids or vocab[a + b] not in bpe_ids:
        raise _fail("merge of tokens that are not byte-level", m)
    raise AssertionError(f"merge {m!r} was refused by the compiled reader but looks valid")


def _read_added(entries, spec: Spec, vocab: dict):
    for e in entries:
        if e.get("single_word"):
            raise _fail("added token flag single_word", e)
        # As HF: content that is already a vocabulary token keeps that token's id.
        content = e["content"]
        i = vocab.get(content, e["id"])
        if not content:
            raise _fail("empty added token", e)
        spec.added.append(AddedToken(content, i, bool(e.get("special")), normalized=bool(e.get("normalized")),
                                     lstrip=bool(e.get("lstrip")), rstrip=bool(e.get("rstrip"))))
        # HF decodes added tokens through the ByteLevel decoder too (UTF-8 when not byte-level).
        spec.token_bytes[i] = _bytelevel.to_bytes(content) or content.encode()


def _read_normalizer(n):
    from ._normalizers import UnsupportedNormalizer, build

    try:
        return build(n)
    except UnsupportedNormalizer as e:
        raise _fail("normalizer", str(e)) from None


def _flatten(p):
    if p is None:
        return []
    if p.get("type") == "Sequence":
        return [x for q in p.get("pretokenizers", []) for x in _flatten(q)]
    return [p]


# HF pre-tokenizers that are splits on a character predicate or a fixed regex.
_PUNCT = r"[\p{P}!-/:-@\[-`{-~]"      # char::is_ascii_punctuation || Unicode P*


def _read_pre_tokenizer(p, spec: Spec):
    steps = _flatten(p)
    if not steps or steps[-1].get("type") != "ByteLevel":
        raise _fail("pre-tokenizer without a final ByteLevel (not byte-level BPE)", p)
    for step in steps:
        kind = step.get("type")
        if kind == "Split":
            behavior = step.get("behavior")
            if behavior not in SPLIT_BEHAVIORS:
                raise _fail("Split behavior", step)
            pat = step.get("pattern", {})
            if "Regex" in pat:
                pattern = pat["Regex"]
            elif "String" in pat:
                pattern = "".join("\\" + c if not c.isalnum() else c for c in pat["String"])
            else:
                raise _fail("Split pattern", step)
            spec.stages.append(Stage(pattern, "onig", behavior, bool(step.get("invert"))))
        elif kind == "Digits":
            spec.stages.append(Stage(r"\p{N}", "onig", "Isolated" if step.get("individual_digits") else "Contiguous"))
        elif kind == "Punctuation":
            behavior = step.get("behavior", "Isolated")
            if behavior not in SPLIT_BEHAVIORS:
                raise _fail("Punctuation behavior", step)
            spec.stages.append(Stage(_PUNCT, "onig", behavior))
        elif kind == "Whitespace":
            spec.stages.append(Stage(r"\w+|[^\w\s]+", "onig", "Removed", invert=True))
        elif kind == "WhitespaceSplit":
            spec.stages.append(Stage(r"\s", "onig", "Removed"))
        elif kind == "ByteLevel":
            if step is not steps[-1]:
                raise _fail("pre-tokenizer step after ByteLevel", p)
            regex = GPT2_PATTERN if step.get("use_regex", True) else None
            if regex or step.get("add_prefix_space"):
                spec.stages.append(Stage(regex, "onig", "Isolated", prefix_space=bool(step.get("add_prefix_space"))))
        else:
            raise _fail("pre-tokenizer", step)
    if len(spec.stages) > MAX_STAGES:
        raise _fail(f"pre-tokenizer with more than {MAX_STAGES} splits", p)


def _read_post_processor(p, spec: Spec):
    if p is None:
        return
    kind = p.get("type")
    if kind == "Sequence":
        for q in p.get("processors", []):
            _read_post_processor(q, spec)
    elif kind == "ByteLevel":
        pass                             # changes offsets only
    elif kind == "TemplateProcessing":
        if spec.prefix or spec.suffix:
            raise _fail("more than one template post-processor", p)
        specials = p.get("special_tokens", {})
        seen_a = False
        for item in p.get("single", []):
            if "Sequence" in item:
                if item["Sequence"].get("id") != "A" or seen_a:
                    raise _fail("template item", item)
                seen_a = True
            elif "SpecialToken" in item:
                name = item["SpecialToken"]["id"]
                if name not in specials:
                    raise ValueError(f"template names special token {name!r} it does not define")
                (spec.suffix if seen_a else spec.prefix).extend(specials[name]["ids"])
            else:
                raise _fail("template item", item)
        if not seen_a:
            raise _fail("template without the sequence $A", p)
    elif kind == "RobertaProcessing":
        spec.prefix.append(p["cls"][1])
        spec.suffix.append(p["sep"][1])
    else:
        raise _fail("post-processor", p)


def _check_decoder(d):
    if d is None:
        return "no decoder (HF joins tokens with spaces)"
    if d.get("type") == "ByteLevel":
        return None
    if d.get("type") == "Sequence" and all(x.get("type") == "ByteLevel" for x in d.get("decoders", [])):
        return None
    return f"decoder {json.dumps(d)[:200]}"


# ---------------------------------------------------------------- tiktoken

def read_maybe_gzipped(path) -> bytes:
    raw = Path(path).read_bytes()
    if raw[:2] == b"\x1f\x8b":
        import gzip
        raw = gzip.decompress(raw)
    return raw


def load_tiktoken_ranks(path) -> dict:
    """A tiktoken rank file (plain or .gz): {token bytes: rank}."""
    path = Path(path)
    raw = read_maybe_gzipped(path)
    ranks = _core.tiktoken_ranks(raw)       # the usual layout, compiled
    if ranks is not None:
        return ranks
    ranks = {}
    for n, line in enumerate(raw.splitlines(), 1):
        if not line:
            continue
        try:
            tok, rank = line.split()
            ranks[base64.b64decode(tok, validate=True)] = int(rank)
        except ValueError:
            raise ValueError(f"{path}:{n}: not a tiktoken rank line: {line[:60]!r}") from None
    return ranks


def tiktoken_spec(ranks: dict, pattern: str, special_tokens: dict | None) -> Spec:
    token_bytes = {}
    for b, r in ranks.items():
        if r in token_bytes:
            raise ValueError(f"rank {r} appears twice in the rank file")
        token_bytes[r] = b
    # tiktoken keeps only what the pattern matches: HF's Removed split, inverted.
    spec = Spec("tiktoken", token_bytes, set(token_bytes), mode_tiktoken=True,
                stages=[Stage(pattern, "fancy", "Removed", invert=True)])
    for content, i in (special_tokens or {}).items():
        if i in token_bytes:
            raise ValueError(f"special token {content!r} reuses rank {i}")
        token_bytes[i] = content.encode()
        spec.added.append(AddedToken(content, i, True))
    return spec


def tables(spec: Spec) -> dict:
    """Keyword arguments for _core.Core built from a Spec."""
    from array import array

    ids = set(spec.token_bytes) | {a.id for a in spec.added} | set(spec.prefix) | set(spec.suffix)
    n_ids = max(ids) + 1
    if n_ids > 1 << 31:
        raise ValueError("token ids beyond 2**31")
    offsets, blob, flags = _core.token_tables(spec.token_bytes, n_ids, spec.bpe_ids,
                                              {a.id for a in spec.added if a.special})
    if not all(i in spec.token_bytes for i in spec.prefix + spec.suffix):
        raise ValueError("post-processor names an id with no token")

    stages = []
    if spec.stages:
        from ._pattern import compile_pattern, scanner_for
    for st in spec.stages:
        prog, classes, dialect, scanner = array("i"), array("i"), 0, None
        if st.pattern is not None:
            c = compile_pattern(st.pattern, st.dialect)
            prog, classes, dialect = array("i", c.prog), array("i", c.classes), c.dialect
            scanner = scanner_for(st.pattern, st.dialect, isolated=st.behavior == "Isolated" and not st.invert)
        stages.append((prog, classes, dialect, SPLIT_BEHAVIORS[st.behavior], st.invert, st.prefix_space, scanner))
    passes = [_pass_tables(tokens, contents) for tokens, contents in added_passes(spec)]
    return dict(
        nfc=_normalize.nfc_tables() if in_core_normalizer(spec) else None,
        tok_off=offsets, tok_bytes=blob, tok_flags=flags, mode_tiktoken=spec.mode_tiktoken,
        merges=spec.merges if spec.merges is not None else array("I"), ignore_merges=spec.ignore_merges,
        stages=stages, passes=passes, prefix=array("I", spec.prefix), suffix=array("I", spec.suffix))


def in_core_normalizer(spec: Spec) -> bool:
    """Whether the C core applies the normalizer itself: NFC (Qwen2/2.5/3) alone."""
    return spec.normalizer is not None and spec.normalizer.form == "NFC"


def added_passes(spec: Spec):
    """The added tokens of each pass, with the text each is matched as: pass 0 on the
    raw text, pass 1 (HF's normalized: true tokens, content normalized) after normalization."""
    raw = [a for a in spec.added if not a.normalized or spec.source == "tiktoken"]
    norm = [a for a in spec.added if a.normalized and spec.source != "tiktoken"]
    norm_contents = [spec.normalizer.apply(a.content) if spec.normalizer else a.content for a in norm]
    return [(raw, [a.content for a in raw]), (norm, norm_contents)]


def _pass_tables(tokens, contents):
    from array import array

    first, byte_, target, added = _added_trie([c.encode() for c in contents])
    flags = bytes((ADDED_LSTRIP if a.lstrip else 0) | (ADDED_RSTRIP if a.rstrip else 0) for a in tokens)
    return first, byte_, target, added, array("I", [a.id for a in tokens]), flags


def _added_trie(words):
    """Byte trie in breadth-first layout: children of node k at edges first[k]..first[k+1]."""
    from array import array

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
