"""The reader of Hugging Face ``tokenizer.json`` files (the byte-level BPE family).

It produces a ``Spec``: plain tables that ``_native._core.Core`` takes (through
core_tables), plus what the Python layer needs (normalizer, added tokens,
post-processor ids). A configuration warptok cannot reproduce exactly raises
``UnsupportedTokenizer`` naming the part, never a silently different tokenizer.
"""

from __future__ import annotations

import json

from .. import errors
from .._native import _core
from .._native._core import MAX_STAGES, SPLIT_BEHAVIORS
from . import bytelevel, decoders, json_numbers, models, normalizers, post
from .spec import AddedToken, Spec, Stage
from .spec import steps as spec_steps

# The pattern HF's ByteLevel pre-tokenizer uses when use_regex is true.
GPT2_PATTERN = r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""


def load_tokenizer_json(path) -> Spec:
    with open(path, "rb") as f:
        return parse_tokenizer_json(f.read())


def parse_tokenizer_json(data) -> Spec:
    """A Spec from a tokenizer.json's text (str or bytes) or its parsed JSON object (not
    changed; its floats are taken as they are, so it must have been read as HF reads the
    text: json_numbers.loads. Tokenizer.from_str reads a user's dict through its text)."""
    if isinstance(data, dict):
        j = data
    else:
        try:
            j = json_numbers.loads(data)
        except (ValueError, UnicodeDecodeError) as e:
            raise errors.ValueError(f"not a tokenizer.json file: {e}") from None
        except TypeError as e:      # json's own: neither text nor bytes
            raise errors.TypeError(f"a tokenizer.json is read from str, bytes or a dict: {e}") from None
    if not isinstance(j, dict) or not isinstance(j.get("model"), dict):
        raise errors.ValueError("not a tokenizer.json file: no 'model' object")
    model = j["model"]
    kind = model.get("type") or _model_type(model)
    if model.get("dropout") not in (None, 0, 0.0):
        raise errors.unsupported("model.dropout (BPE dropout samples merges at random; no exact result to match)",
                    model.get("dropout"))
    if kind == "BPE" and _byte_level_pre_tokenizer(j.get("pre_tokenizer")):
        spec = _byte_level_bpe(model)
    elif kind in ("WordPiece", "WordLevel", "BPE", "Unigram"):
        spec = models.read_model(kind, model)
    else:
        raise errors.unsupported("model type", kind)
    spec.normalizer = _read_normalizer(j.get("normalizer"))      # before the added tokens: they decode through it
    _read_added(j.get("added_tokens") or [], spec, model.get("vocab"))
    if spec.model is None:
        _read_pre_tokenizer(j.get("pre_tokenizer"), spec)
        _read_post_processor(j.get("post_processor"), spec)
        spec.decode_unsupported = _check_decoder(j.get("decoder"))
    else:
        models.read_pre_tokenizer(j.get("pre_tokenizer"), spec)
        _read_post_processor(j.get("post_processor"), spec)
        spec.decoder = decoders.build(j.get("decoder"))
    return spec


def _model_type(model) -> str:
    """HF's guess when a model has no "type" (old files): by its fields."""
    if "merges" in model:
        return "BPE"
    if "max_input_chars_per_word" in model or "continuing_subword_prefix" in model:
        return "WordPiece"
    if isinstance(model.get("vocab"), list):
        return "Unigram"
    return "WordLevel"


def _byte_level_pre_tokenizer(p) -> bool:
    return any(step.get("type") == "ByteLevel" for step in spec_steps(p, "pretokenizers"))


def _byte_level_bpe(model) -> Spec:
    for key in ("continuing_subword_prefix", "end_of_word_suffix"):
        if model.get(key):
            raise errors.unsupported(f"model.{key} with a ByteLevel pre-tokenizer", model[key])
    if "merges" not in model:
        raise errors.ValueError("not a tokenizer.json file: a BPE model without merges")
    # byte_fallback only acts on a character missing from the vocabulary; with every byte
    # that UTF-8 text can contain present (checked below) it never does.
    vocab = model["vocab"]
    if not isinstance(vocab, dict):
        raise errors.ValueError("not a tokenizer.json file: model.vocab is not an object")
    token_bytes, bpe_ids = _core.bytelevel_vocab(vocab, bytelevel.char_byte_table())
    # Bytes that never occur in UTF-8 (C0, C1, F5-FF) may be absent: text is always valid UTF-8.
    never_in_utf8 = {0xC0, 0xC1, *range(0xF5, 0x100)}
    missing = [hex(b) for b in range(256) if bytelevel.byte_to_char()[b] not in vocab and b not in never_in_utf8]
    if missing:
        raise errors.unsupported("byte-level BPE vocabulary without every byte-level character (missing bytes)",
                    ", ".join(missing[:8]))

    merges, bad = _core.merge_rows(model["merges"], token_bytes, bpe_ids, bytelevel.char_byte_table())
    if bad >= 0:
        _merge_error(model["merges"][bad], vocab, bpe_ids)
    return Spec("huggingface", token_bytes, bpe_ids, mode_tiktoken=False, merges=merges,
                ignore_merges=bool(model.get("ignore_merges")))


def _merge_error(m, vocab: dict, bpe_ids: set):
    """Raise what is wrong with a merge that _core.merge_rows refused."""
    parts = m.split(" ", 1) if isinstance(m, str) else m
    if not isinstance(parts, (list, tuple)) or len(parts) != 2 or not all(isinstance(p, str) for p in parts):
        raise errors.ValueError(f"merge {m!r} is not two tokens")
    a, b = parts
    for part in (a, b):
        if part not in vocab:
            raise errors.ValueError(f"merge {m!r} uses a token that is not in the vocabulary: {part!r}")
    if a + b not in vocab:
        raise errors.ValueError(f"merge {m!r} makes {a + b!r}, which is not in the vocabulary")
    if vocab[a] not in bpe_ids or vocab[b] not in bpe_ids or vocab[a + b] not in bpe_ids:
        raise errors.unsupported("merge of tokens that are not byte-level", m)
    raise errors.AssertionError(f"merge {m!r} was refused by the compiled reader but looks valid")


def _read_added(entries, spec: Spec, vocab):
    """The added tokens, numbered as HF numbers them when it loads the file: HF does not
    take an entry's "id". Content that is already an added token keeps that token's id,
    else content in the vocabulary keeps its vocabulary id, else the token gets the next
    id: the vocabulary's size (its number of entries), or one past the highest added id
    given so far when that is higher. A file whose ids disagree (edited by hand) therefore
    gets HF's ids, not its own."""
    size = len(vocab) if isinstance(vocab, (dict, list)) else 0
    if not isinstance(vocab, dict):          # Unigram: a list of [piece, score]
        vocab = {}
        if spec.model is not None:
            for i, piece in sorted(spec.id_to_token.items()):
                vocab[piece] = i
    given: dict = {}        # content -> its id, for the entries read so far
    top = -1                # the highest id given so far
    # What HF decodes an added id to: the content of its last entry, except that a
    # "normalized" entry whose content the normalizer changes leaves that normalized form
    # (tokenizers' normalized_cache, by id, which a later entry of the id does not clear).
    # So BERT (lowercase) decodes an added "NeW" as "new", Llama-2 (Prepend) as " NeW".
    decoded: dict = {}
    normalized: dict = {}
    specials = set()        # the special entries' contents (HF's special_tokens_set)
    for e in entries:
        if e.get("single_word"):
            raise errors.unsupported("added token flag single_word", e)
        content = e["content"]
        if not content:
            raise errors.unsupported("empty added token", e)
        i = given.get(content)
        if i is None:
            i = vocab.get(content)
        if i is None:
            i = max(size, top + 1)
        given[content] = i
        top = max(top, i)
        spec.added.append(AddedToken(content, i, bool(e.get("special")), normalized=bool(e.get("normalized")),
                                     lstrip=bool(e.get("lstrip")), rstrip=bool(e.get("rstrip"))))
        decoded[i] = content
        if e.get("normalized") and spec.normalizer is not None:
            form = spec.normalizer.apply(content)
            if form != content:
                normalized[i] = form
        if e.get("special"):
            specials.add(content)
        if spec.model is not None:
            spec.token_bytes[i] = content.encode()
            spec.id_to_token[i] = content
    decoded.update(normalized)
    spec.added_decoded = normalized
    # skip_special_tokens: HF drops a token when the string it decodes to is in its special
    # set, so a special token that decodes to its normalized form (not a special content) stays.
    spec.decode_skip = {i for i, text in decoded.items() if text in specials}
    if spec.model is None:
        # HF decodes added tokens through the ByteLevel decoder too (UTF-8 when not byte-level).
        for i, text in decoded.items():
            spec.token_bytes[i] = bytelevel.to_bytes(text) or text.encode()


def _read_normalizer(n):
    try:
        return normalizers.build(n)
    except errors.UnsupportedNormalizer as e:
        raise errors.unsupported("normalizer", str(e)) from None


# HF pre-tokenizers that are splits on a character predicate or a fixed regex.
_PUNCT = r"[\p{P}!-/:-@\[-`{-~]"      # char::is_ascii_punctuation || Unicode P*


def _read_pre_tokenizer(p, spec: Spec):
    steps = spec_steps(p, "pretokenizers")
    if not steps or steps[-1].get("type") != "ByteLevel":
        raise errors.unsupported("pre-tokenizer without a final ByteLevel (not byte-level BPE)", p)
    for step in steps:
        kind = step.get("type")
        if kind == "Split":
            behavior = step.get("behavior")
            if behavior not in SPLIT_BEHAVIORS:
                raise errors.unsupported("Split behavior", step)
            pat = step.get("pattern", {})
            if "Regex" in pat:
                pattern = pat["Regex"]
            elif "String" in pat:
                pattern = "".join("\\" + c if not c.isalnum() else c for c in pat["String"])
            else:
                raise errors.unsupported("Split pattern", step)
            spec.stages.append(Stage(pattern, "onig", behavior, bool(step.get("invert"))))
        elif kind == "Digits":
            spec.stages.append(Stage(r"\p{N}", "onig", "Isolated" if step.get("individual_digits") else "Contiguous"))
        elif kind == "Punctuation":
            behavior = step.get("behavior", "Isolated")
            if behavior not in SPLIT_BEHAVIORS:
                raise errors.unsupported("Punctuation behavior", step)
            spec.stages.append(Stage(_PUNCT, "onig", behavior))
        elif kind == "Whitespace":
            spec.stages.append(Stage(r"\w+|[^\w\s]+", "onig", "Removed", invert=True))
        elif kind == "WhitespaceSplit":
            spec.stages.append(Stage(r"\s", "onig", "Removed"))
        elif kind == "ByteLevel":
            if step is not steps[-1]:
                raise errors.unsupported("pre-tokenizer step after ByteLevel", p)
            regex = GPT2_PATTERN if step.get("use_regex", True) else None
            if regex or step.get("add_prefix_space"):
                spec.stages.append(Stage(regex, "onig", "Isolated", prefix_space=bool(step.get("add_prefix_space"))))
        else:
            raise errors.unsupported("pre-tokenizer", step)
    if len(spec.stages) > MAX_STAGES:
        raise errors.unsupported(f"pre-tokenizer with more than {MAX_STAGES} splits", p)


def _read_post_processor(p, spec: Spec):
    post.read(p, spec)


def _check_decoder(d):
    if d is None:
        return "no decoder (HF joins tokens with spaces)"
    if d.get("type") == "ByteLevel":
        return None
    if d.get("type") == "Sequence" and all(x.get("type") == "ByteLevel" for x in d.get("decoders", [])):
        return None
    return f"decoder {json.dumps(d)[:200]}"
