"""The models beyond byte-level BPE (WordPiece, WordLevel, BPE over characters, Unigram)
and the pre-tokenizers they come with, read from a tokenizer.json into a Spec.

A Spec of these has ``model``: the model's vocabulary (id -> string) and options, which
core_tables hands to the core (cext/models/). Token strings are text (UTF-8), not byte-level
characters; decoding goes through the file's decoder (decoders.py).
"""

from __future__ import annotations


from .. import errors
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
    spec = Spec("huggingface", {i: t.encode() for i, t in id_to_token.items()}, set(), mode_tiktoken=False)
    spec.model = dict(kind=kind, vocab=dict(id_to_token), **model)
    spec.id_to_token = dict(id_to_token)
    return spec


def read_model(kind: str, model: dict) -> Spec:
    if kind == "WordPiece":
        return _wordpiece(model)
    if kind == "WordLevel":
        return _wordlevel(model)
    if kind == "BPE":
        raise errors.unsupported("model: BPE without a ByteLevel pre-tokenizer (SentencePiece style) is not supported yet",
                    {k: model.get(k) for k in ("byte_fallback", "unk_token", "fuse_unk")})
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
            # pretokenize/classes.c rewrites and splits pieces, but prepend_scheme "first"
            # needs each piece's place in the original text, which the segment path
            # (texts normalized in Python) does not carry yet.
            raise errors.unsupported("Metaspace pre-tokenizer (not yet: comes with the SentencePiece models)", step)
        elif kind == "ByteLevel":
            raise errors.unsupported(f"ByteLevel pre-tokenizer with a {spec.model['kind']} model", step)
        else:
            raise errors.unsupported("pre-tokenizer", step)
    if len(spec.stages) > MAX_STAGES:
        raise errors.unsupported(f"pre-tokenizer with more than {MAX_STAGES} splits", p)
