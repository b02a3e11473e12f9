"""Per-call options against the references: post-processor, truncation, added and
special tokens, tiktoken's allowed/disallowed specials, decode options."""

import json

import numpy as np
import pytest

import warptok
from conftest import TIKTOKEN_NAMES, corpus, hf_json, ours, reference

TEXTS = ["hello world how are you", "", " ", "Hello <|begin_of_text|>there<|eot_id|>\n\n  x",
         "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant", "a<|endoftext|>b<|fim_prefix|>c",
         "<|im_start|><|im_start|>", "<|im_start", "ünïcödé <tool_call>{\"a\": 1}</tool_call>"]


def llama3_with_bos():
    """Meta's Llama-3 tokenizer.json: ByteLevel then a template that prepends <|begin_of_text|>."""
    j = json.loads(hf_json("llama3"))
    j["post_processor"] = {"type": "Sequence", "processors": [
        {"type": "ByteLevel", "add_prefix_space": True, "trim_offsets": False, "use_regex": True},
        {"type": "TemplateProcessing",
         "single": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
         "pair": [{"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                  {"SpecialToken": {"id": "<|begin_of_text|>", "type_id": 1}}, {"Sequence": {"id": "B", "type_id": 1}}],
         "special_tokens": {"<|begin_of_text|>": {"id": "<|begin_of_text|>", "ids": [128000],
                                                  "tokens": ["<|begin_of_text|>"]}}}]}
    return json.dumps(j)


@pytest.fixture(scope="module")
def bos_pair():
    from tokenizers import Tokenizer as HFTokenizer

    text = llama3_with_bos()
    return warptok.Tokenizer.from_str(text), HFTokenizer.from_str(text)


def test_post_processor_and_truncation_match_hf(bos_pair):
    tok, ref = bos_pair
    docs = TEXTS + corpus("english")[:50]
    for max_length in [None, 1, 2, 3, 16, 200]:
        if max_length is None:
            ref.no_truncation()
        else:
            ref.enable_truncation(max_length)
        for add in (True, False):
            for d in docs:
                assert tok.encode(d, add_special_tokens=add, max_length=max_length) == \
                    ref.encode(d, add_special_tokens=add).ids, (max_length, add, d[:60])
            got = tok.encode_batch(docs, add_special_tokens=add, max_length=max_length)
            assert got == [ref.encode(d, add_special_tokens=add).ids for d in docs]
    ref.no_truncation()


def test_max_length_too_small_for_specials_is_a_clear_error(bos_pair):
    tok, _ = bos_pair
    with pytest.raises(ValueError, match="no room"):
        tok.encode("hello", max_length=0)
    assert tok.encode("hello", max_length=0, add_special_tokens=False) == []
    with pytest.raises(ValueError, match="max_length"):
        tok.encode("hello", max_length=-1)


@pytest.mark.parametrize("name", ["llama3", "qwen2.5"])
def test_added_tokens_glued_to_text_match_hf(name):
    tok, ref = ours(name), reference(name)
    added = list(tok.added_tokens)[:40]
    docs = TEXTS + [f"x{a}y{b}z" for a, b in zip(added, reversed(added))] + ["".join(added)]
    for d in docs:
        assert tok.encode(d) == ref.encode(d).ids, d
        assert tok.decode(ref.encode(d).ids, skip_special_tokens=True) == \
            ref.decode(ref.encode(d).ids, skip_special_tokens=True), d


@pytest.mark.parametrize("name", TIKTOKEN_NAMES)
def test_tiktoken_special_token_options(name):
    tok, ref = ours(name), reference(name)
    specials = sorted(ref.special_tokens_set)
    text = "hi " + " ".join(specials) + " there" + specials[0]
    assert tok.encode(text, allowed_special="all") == ref.encode(text, allowed_special="all")
    assert tok.encode(text, disallowed_special=()) == ref.encode(text, disallowed_special=())
    one = {specials[-1]}
    assert tok.encode(text, allowed_special=one, disallowed_special=()) == \
        ref.encode(text, allowed_special=one, disallowed_special=())
    with pytest.raises(ValueError, match="disallowed special token"):
        tok.encode(text)
    with pytest.raises(ValueError):
        ref.encode(text)
    assert tok.encode_ordinary(text) == ref.encode_ordinary(text)
    assert tok.encode_batch([text, "x"], allowed_special="all") == [ref.encode(t, allowed_special="all")
                                                                      for t in [text, "x"]]
    with pytest.raises(ValueError, match="does not have"):
        tok.encode(text, allowed_special={"<|nope|>"})


@pytest.mark.parametrize("name", TIKTOKEN_NAMES)
def test_tiktoken_surrogates_become_replacement_chars(name):
    tok, ref = ours(name), reference(name)
    text = "ab\ud800cd\udfff"
    assert tok.encode(text) == ref.encode(text)
    assert tok.encode_ordinary(text) == ref.encode_ordinary(text)
    assert tok.encode_ordinary_batch([text]) == [ref.encode_ordinary(text)]


def test_hf_surrogates_raise_like_hf():
    for encode in (ours("llama3").encode, ours("llama3").encode_ordinary):
        with pytest.raises(UnicodeEncodeError):
            encode("ab\ud800")


def test_decode_unknown_ids_follow_each_reference():
    with pytest.raises(KeyError):
        ours("gpt2").decode([1, 10**6])
    hf, ref = ours("llama3"), reference("llama3")
    assert hf.decode([9906, 10**6, 1917]) == ref.decode([9906, 10**6, 1917])


def test_wrong_argument_types_are_clear():
    tok = ours("gpt2")
    with pytest.raises(TypeError):
        tok.encode(b"bytes")
    with pytest.raises(TypeError):
        tok.encode_ordinary_batch("a single string")
    with pytest.raises(TypeError):
        tok.encode_ordinary_batch(["ok", 3])
    with pytest.raises(ValueError):
        tok.encode_ordinary_batch(["ok"], num_threads=0)


COUNT_OPTIONS = {
    "hf": [{}, {"add_special_tokens": False}, {"max_length": 7}, {"split_special_tokens": True},
           {"max_length": 0, "add_special_tokens": False}],
    "tiktoken": [{}, {"allowed_special": "all"}, {"disallowed_special": ()}, {"max_length": 5},
                 {"allowed_special": {"<|endoftext|>"}, "disallowed_special": ()}],
}


@pytest.mark.parametrize("name", ["cl100k_base", "llama3", "qwen2.5"])
def test_count_and_array_equal_encode_with_every_option(name):
    # count and encode_to_numpy share encode's body (its fast paths too) but return
    # the core's count or an array instead of a list: every path must agree
    # (normalizers: test_configs' check_same).
    tok = ours(name)
    kind = "tiktoken" if name in TIKTOKEN_NAMES else "hf"
    texts = TEXTS + ["cafe\u0301 <|im_end|> x", "lone \ud800 surrogate"] + corpus("english")[:40] + corpus("multilingual")[:10]
    for options in COUNT_OPTIONS[kind]:
        for text in texts:
            try:
                expected = tok.encode(text, **options)
            except (ValueError, UnicodeEncodeError) as e:      # disallowed special, surrogate (HF)
                with pytest.raises(type(e)):
                    tok.count(text, **options)
                with pytest.raises(type(e)):
                    tok.encode_to_numpy(text, **options)
                continue
            assert tok.count(text, **options) == len(expected), (options, text[:60])
            array = tok.encode_to_numpy(text, **options)
            assert array.dtype == np.uint32 and array.tolist() == expected, (options, text[:60])
            # made through numpy's C API: an array of its own, like numpy.empty's
            assert array.shape == (len(expected),) and array.flags.owndata and array.flags.writeable
            assert array.flags.c_contiguous and array.base is None
    for call in (tok.count, tok.encode_to_numpy):
        with pytest.raises(TypeError):
            call(b"bytes")
        with pytest.raises(TypeError):
            call("x", no_such_option=1)


def test_text_that_needs_normalizing_truncates_as_hf():
    # Qwen2.5 normalizes to NFC: the core normalizes each segment between raw-text
    # added tokens, and truncation counts the ids of the normalized text.
    import unicodedata

    tok, ref = ours("qwen2.5"), reference("qwen2.5")
    docs = [n for d in corpus("multilingual") if (n := unicodedata.normalize("NFD", d)) != d][:8]
    docs += ["e\u0301<|im_start|>user\nhe\u0301llo<|im_end|> x\u0323\u0302" * 3, "ascii only", ""]
    assert sum(tok._core.normalized(d) != d for d in docs) == 9
    for max_length in [None, 1, 7, 64, 100_000]:
        if max_length is None:
            ref.no_truncation()
        else:
            ref.enable_truncation(max_length)
        want = [ref.encode(d).ids for d in docs]
        assert [tok.encode(d, max_length=max_length) for d in docs] == want, max_length
        assert tok.encode_batch(docs, max_length=max_length, num_threads=2) == want, max_length
        ids, offsets = tok.encode_batch_flat(docs, max_length=max_length, num_threads=2)
        assert [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(docs))] == want, max_length
    ref.no_truncation()
