"""The models beyond byte-level BPE (WordPiece, WordLevel, BPE over characters, Unigram)
and the pre-tokenizers they come with, read from a tokenizer.json into a Spec.

A Spec of these has ``model``: the model's vocabulary (id -> UTF-8 bytes) and options, which
core_tables hands to the core (cext/models/). Token strings are text (UTF-8), not byte-level
characters; decoding goes through the file's decoder (decoders.py).
"""

from __future__ import annotations

from array import array

from .. import errors
from .._native import _core
from .._native._core import MAX_STAGES, SPLIT_BEHAVIORS
from . import charmap
from .spec import Spec, Stage
from .spec import steps as spec_steps


def _dict_vocab(model) -> dict:
    vocab = model.get("vocab")
    if not isinstance(vocab, dict):
        raise errors.ValueError("not a tokenizer.json file: model.vocab is not an object")
    for tok, i in vocab.items():
        if not isinstance(i, int) or isinstance(i, bool) or i < 0:
            raise errors.ValueError(f"not a tokenizer.json file: vocabulary id of {tok!r} is {i!r}")
    return vocab


def _spec(kind: str, id_to_token: dict, **model) -> Spec:
    """A Spec of a model's vocabulary (id_to_token: a new dict, which the Spec keeps)."""
    token_bytes = {i: t.encode() for i, t in id_to_token.items()}     # encoded once, for both tables
    spec = Spec("huggingface", token_bytes, set(), mode_tiktoken=False)
    # The model's own vocabulary as UTF-8 (added tokens may replace ids of token_bytes later).
    spec.model = dict(kind=kind, vocab=dict(token_bytes), **model)
    spec.id_to_token = id_to_token
    return spec


def read_model(kind: str, model: dict) -> Spec:
    if kind == "WordPiece":
        return _wordpiece(model)
    if kind == "WordLevel":
        return _wordlevel(model)
    if kind == "BPE":
        return _bpe(model)
    if kind == "Unigram":
        return _unigram(model)
    raise errors.unsupported("model type", kind)


def _wordpiece(model) -> Spec:
    vocab = _dict_vocab(model)
    id_to_token = {i: t for t, i in vocab.items()}
    unk = model.get("unk_token", "[UNK]")
    prefix = model.get("continuing_subword_prefix", "##")
    max_chars = model.get("max_input_chars_per_word", 100)
    if not isinstance(prefix, str) or not isinstance(max_chars, int) or max_chars < 0:
        raise errors.ValueError("not a tokenizer.json file: bad WordPiece options")
    return _spec("WordPiece", id_to_token, unk=vocab.get(unk), prefix=prefix.encode(), max_chars=max_chars)


def _wordlevel(model) -> Spec:
    vocab = _dict_vocab(model)
    id_to_token = {i: t for t, i in vocab.items()}
    return _spec("WordLevel", id_to_token, unk=vocab.get(model.get("unk_token")))


def _bpe(model) -> Spec:
    """BPE over characters (SentencePiece style): the merges as (left, right, merged) id
    rows in rank order. As HF builds its merge map: the merged token is left + right
    without right's continuing prefix."""
    vocab = _dict_vocab(model)
    id_to_token = {i: t for t, i in vocab.items()}
    prefix = model.get("continuing_subword_prefix") or ""
    suffix = model.get("end_of_word_suffix") or ""
    if not isinstance(prefix, str) or not isinstance(suffix, str):
        raise errors.ValueError("not a tokenizer.json file: bad BPE options")
    byte_fallback = bool(model.get("byte_fallback"))
    if byte_fallback and (prefix or suffix):
        # HF falls back to the bytes of the character with its prefix or suffix: more ids than bytes
        raise errors.unsupported("model: byte_fallback with continuing_subword_prefix or end_of_word_suffix",
                                 {"continuing_subword_prefix": prefix, "end_of_word_suffix": suffix})
    merges = model.get("merges")
    if merges is None:
        merges = []
    if not isinstance(merges, list):
        raise errors.ValueError("not a tokenizer.json file: model.merges is not a list")
    rows, bad = _core.model_merge_rows(merges, vocab, prefix.encode())
    if bad >= 0:
        _merge_error(merges, vocab, prefix)
        raise errors.ValueError(f"not a tokenizer.json file: merge {merges[bad]!r} is not two tokens of the "
                                "vocabulary making a third")
    unk = model.get("unk_token")
    if unk is not None and not isinstance(unk, str):
        raise errors.ValueError("not a tokenizer.json file: bad unk_token")
    # HF looks the unknown token up when a text needs it and fails then if it is missing.
    return _spec("BPE", id_to_token, unk=vocab.get(unk) if unk is not None else None,
                 unk_missing=unk is not None and unk not in vocab, prefix=prefix.encode(), suffix=suffix.encode(),
                 merges=rows, byte_fallback=byte_fallback, fuse_unk=bool(model.get("fuse_unk")),
                 ignore_merges=bool(model.get("ignore_merges")))


def _unigram(model) -> Spec:
    """Unigram: the vocabulary as HF reads it (a list of [piece, score], ids in order), the
    scores as f64, the unknown token's id (optional) and byte_fallback."""
    vocab = model.get("vocab")
    if not isinstance(vocab, list):
        raise errors.ValueError("not a tokenizer.json file: Unigram model.vocab is not a list")
    pieces, scores = [], array("d")
    for entry in vocab:
        if (not isinstance(entry, (list, tuple)) or len(entry) != 2 or not isinstance(entry[0], str)
                or not isinstance(entry[1], (int, float)) or isinstance(entry[1], bool)):
            raise errors.ValueError(f"not a tokenizer.json file: Unigram vocabulary entry {entry!r}")
        pieces.append(entry[0])
        scores.append(float(entry[1]))
    unk = model.get("unk_id")
    if unk is not None and (not isinstance(unk, int) or isinstance(unk, bool) or not 0 <= unk < len(pieces)):
        raise errors.ValueError(f"not a tokenizer.json file: Unigram unk_id {unk!r} is not in the vocabulary")
    byte_fallback = model.get("byte_fallback", False)
    if not isinstance(byte_fallback, bool):
        raise errors.ValueError("not a tokenizer.json file: bad Unigram byte_fallback")
    return _spec("Unigram", dict(enumerate(pieces)), unk=unk, scores=scores, byte_fallback=byte_fallback)


def _merge_error(merges, vocab, prefix):
    """Raise what is wrong with the first bad merge (_core.model_merge_rows refused one).
    The (left, right, merged) rows are in the order of the merges; a pair listed twice:
    bpe_sym.c keeps the last."""
    for m in merges:
        parts = m.split(" ") if isinstance(m, str) else m
        if not isinstance(parts, (list, tuple)) or len(parts) != 2 or not all(isinstance(x, str) for x in parts):
            raise errors.ValueError(f"not a tokenizer.json file: merge {m!r} is not two tokens")
        a, b = parts
        try:
            made = (a.encode() + b.encode()[len(prefix.encode()):]).decode()
        except UnicodeDecodeError:
            made = None
        for t in (a, b, made):
            if t not in vocab:
                raise errors.ValueError(f"not a tokenizer.json file: merge {m!r} uses {t!r}, which is not in "
                                        "the vocabulary")


# ---------------------------------------------------------------- pre-tokenizers

def read_pre_tokenizer(p, spec: Spec):
    """The pre-tokenizer of a model that is not byte-level BPE, as the core's stages."""
    for step in spec_steps(p, "pretokenizers"):
        kind = step.get("type")
        if kind == "BertPreTokenizer":
            spec.stages.append(Stage(None, other=("classes", *charmap.bert_classes())))
        elif kind == "WhitespaceSplit":
            spec.stages.append(Stage(None, other=("classes", *charmap.whitespace_split_classes())))
        elif kind == "Whitespace":
            spec.stages.append(Stage(None, other=("classes", *charmap.whitespace_classes())))
        elif kind == "CharDelimiterSplit":
            delim = step.get("delimiter")
            if not isinstance(delim, str) or len(delim) != 1:
                raise errors.unsupported("CharDelimiterSplit delimiter", step)
            spec.stages.append(Stage(None, other=("classes", *charmap.delimiter_classes(ord(delim)))))
        elif kind == "Punctuation":
            behavior = step.get("behavior", "Isolated")
            if behavior not in SPLIT_BEHAVIORS:
                raise errors.unsupported("Punctuation behavior", step)
            if behavior == "Isolated":
                spec.stages.append(Stage(None, other=("classes", *charmap.punctuation_classes())))
            else:
                spec.stages.append(Stage(charmap.punctuation_class_regex(), "onig", behavior))
        elif kind == "Digits":
            spec.stages.append(Stage(charmap.digits_class_regex(), "onig",
                                     "Isolated" if step.get("individual_digits") else "Contiguous"))
        elif kind == "Split":
            behavior = step.get("behavior")
            if behavior not in SPLIT_BEHAVIORS:
                raise errors.unsupported("Split behavior", step)
            pat = step.get("pattern", {})
            if "Regex" in pat:
                pattern = pat["Regex"]
            elif "String" in pat:
                # a literal: every character but ASCII letters and digits by its code point
                pattern = "".join(c if c.isascii() and c.isalnum() else "\\x{%x}" % ord(c) for c in pat["String"])
            else:
                raise errors.unsupported("Split pattern", step)
            spec.stages.append(Stage(pattern, "onig", behavior, bool(step.get("invert"))))
        elif kind == "Metaspace":
            spec.stages.append(Stage(None, other=_metaspace(step)))
        elif kind == "ByteLevel":
            raise errors.unsupported(f"ByteLevel pre-tokenizer with a {spec.model['kind']} model", step)
        else:
            raise errors.unsupported("pre-tokenizer", step)
    if len(spec.stages) > MAX_STAGES:
        raise errors.unsupported(f"pre-tokenizer with more than {MAX_STAGES} splits", p)


def _metaspace(step) -> tuple:
    """("metaspace", replacement, prepend scheme, split) as HF reads it: prepend_scheme
    "always" by default; the old add_prefix_space false must come with "never"."""
    rep = step.get("replacement", "\u2581")
    scheme = step.get("prepend_scheme", "always")
    if step.get("add_prefix_space") is False and scheme != "never":
        raise errors.ValueError("not a tokenizer.json file: Metaspace add_prefix_space does not match "
                                "prepend_scheme")
    if not isinstance(rep, str) or len(rep) != 1 or scheme not in ("always", "never", "first"):
        raise errors.ValueError(f"not a tokenizer.json file: bad Metaspace {step!r}")
    return ("metaspace", rep.encode(), scheme, bool(step.get("split", True)))
