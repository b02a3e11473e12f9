"""str subclasses (``numpy.str_``, a user's class) are accepted wherever str is, with the ids
of the plain str; so do the drop-ins, whose references accept them too."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import data, ours, reference

import warptok
from warptok import errors


class Weird(str):
    """A subclass whose __str__ lies: its characters are what counts."""

    def __str__(self):
        return "not the text"


TEXT = "Hello world! <|endoftext|> héllo 日本語 123\n\n  x"
KINDS = [str, np.str_, Weird]


def calls(tok):
    special = dict(allowed_special="all") if tok.source == "tiktoken" else {}
    out = {
        "encode": lambda t: tok.encode(t, **special),
        "encode_default": lambda t: _outcome(lambda: tok.encode(t)),
        "encode_max_length": lambda t: tok.encode(t, max_length=5, **special),
        "count": lambda t: tok.count(t, **special),
        "encode_to_numpy": lambda t: tok.encode_to_numpy(t, **special).tolist(),
        "encode_ordinary": tok.encode_ordinary,
        "encode_batch": lambda t: tok.encode_batch([t, "b", t], **special),
        "encode_batch_flat": lambda t: [a.tolist() for a in tok.encode_batch_flat([t, t], **special)],
        "encode_ordinary_batch": lambda t: tok.encode_ordinary_batch([t]),
        "pre_tokenize": tok.pre_tokenize,
    }
    if tok.source == "tiktoken":
        out["allowed_special"] = lambda t: tok.encode(t, allowed_special={type(t)("<|endoftext|>")})
    else:
        out["split_special_tokens"] = lambda t: tok.encode(t, split_special_tokens=True)
    return out


def _outcome(fn):
    try:
        return fn()
    except errors.WarptokError as e:
        return type(e).__name__, str(e)


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base", "llama3", "qwen2.5"])
def test_tokenizer_methods(name):
    tok = ours(name)
    for what, call in calls(tok).items():
        plain = call(TEXT)
        for kind in KINDS[1:]:
            assert call(kind(TEXT)) == plain, (what, kind)


def test_normalizing_and_surrogates():
    """The Python normalizer's path (Qwen3's NFC runs in C; GPT-2 with a Lowercase
    normalizer runs in Python) and tiktoken's lone-surrogate fix-up."""
    import json

    from conftest import gpt2_tokenizer_json

    j = json.loads(gpt2_tokenizer_json())
    j["normalizer"] = {"type": "Lowercase"}
    lower = warptok.Tokenizer.from_str(json.dumps(j))
    qwen3 = warptok.Tokenizer.from_file(data("vocab", "qwen3", "tokenizer.json"))
    for tok, text in ((lower, "HeLLo WORLD"), (qwen3, "e\u0301 caf\u00e9"),
                      (ours("cl100k_base"), "a\ud800b")):
        for kind in KINDS[1:]:
            assert tok.encode(kind(text)) == tok.encode(text)
            assert tok.encode_batch([kind(text)] * 3) == [tok.encode(text)] * 3


def test_references_agree():
    for name in ("cl100k_base", "llama3"):
        ref = reference(name)
        for kind in KINDS[1:]:
            t = kind("héllo world 123")
            got = ref.encode_ordinary(t) if name == "cl100k_base" else ref.encode(t).ids
            assert ours(name).encode_ordinary(t) == got


def test_non_str_still_raises():
    tok = ours("gpt2")
    for bad in (b"bytes", 3, None, ["a"]):
        with pytest.raises(errors.TypeError, match="must be str"):
            tok.encode(bad)
        with pytest.raises(errors.TypeError, match=r"texts\[1\] must be str"):
            tok.encode_batch(["a", bad])
    with pytest.raises(errors.TypeError, match="single str"):
        tok.encode_batch(np.str_("a"))


def test_drop_ins():
    import transformers

    import warptok.hf
    import warptok.tiktoken_compat as tc

    path = data("vocab", "qwen3")
    ref = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    ours_hf = warptok.hf.from_transformers(ref)
    for kind in KINDS[1:]:
        t = kind(TEXT)
        assert ours_hf(t) == ours_hf(TEXT) == dict(ref(TEXT))
        assert ours_hf([t, TEXT], padding=True) == ours_hf([TEXT, TEXT], padding=True)
        assert dict(ref([t, TEXT], padding=True)) == ours_hf([t, TEXT], padding=True)
        assert ours_hf.encode(t) == ref.encode(t)
        assert ours_hf.tokenize(t) == ref.tokenize(TEXT)
        assert ours_hf.convert_tokens_to_ids(kind("hello")) == ref.convert_tokens_to_ids("hello")

    import tiktoken

    enc, ref_enc = tc.get_encoding("cl100k_base"), reference("cl100k_base")
    assert isinstance(ref_enc, tiktoken.Encoding)
    for kind in KINDS[1:]:
        t = kind(TEXT)
        assert enc.encode(t, allowed_special="all") == ref_enc.encode(t, allowed_special="all")
        assert enc.encode_ordinary(t) == ref_enc.encode_ordinary(t)
        assert enc.encode_batch([t], disallowed_special=()) == ref_enc.encode_batch([t], disallowed_special=())
        assert enc.encode_single_token(kind("hello")) == ref_enc.encode_single_token("hello")
        assert enc.encode_to_numpy(t, disallowed_special=()).tolist() == \
            ref_enc.encode_to_numpy(t, disallowed_special=()).tolist()
