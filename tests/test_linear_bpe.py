"""The linear-time BPE (long pieces) gives the heap's ids on every piece it is given:
whole corpora with the linear path forced on pieces of any length, pathological runs,
random concatenations of vocabulary tokens and random bytes; and the references' ids
on the pathological inputs at sizes where they run in seconds."""

from array import array
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import warptok
from conftest import TIKTOKEN_NAMES, data, hf_json, reference_encode

NAMES = TIKTOKEN_NAMES + ["llama3", "qwen3", "qwen2.5", "deepseek-v3", "glm-4", "minimax"]


def pathological(scale):
    """The worst-case inputs (scale 1: the sizes benchmarks/bench_worst.py times)."""
    n = lambda x: max(1, int(x * scale))  # noqa: E731
    return {
        "a": "a" * n(1e6), "_": "_" * n(2e5), "7": "7" * n(1e6), "cjk": "\u4e2d\u6587" * n(1.5e5),
        "spaces+x": " " * n(1e6) + "x", "emoji": "\U0001F44D\U0001F3FD" * n(5e4), "x=": "x=" * n(5e5),
        "dots": ".:" * n(5e5), "newlines": " \n" * n(2e5) + "x",
    }


@lru_cache(maxsize=None)
def tok(name):
    if name in TIKTOKEN_NAMES:
        return warptok.get_encoding(name)
    return warptok.Tokenizer.from_str(hf_json(name))


def merge(name, pieces, algo):
    pieces = list(pieces)
    return tok(name)._core.merge_pieces(b"".join(pieces), array("I", map(len, pieces)), algo)


def assert_linear_is_heap(name, pieces):
    pieces = sorted(set(pieces))
    heap, linear = merge(name, pieces, "heap"), merge(name, pieces, "linear")
    bad = [p for p, h, li in zip(pieces, heap, linear) if h != li]
    assert not bad, f"{name}: {len(bad)} of {len(pieces)} pieces differ, first {bad[0][:80]!r}"


@pytest.mark.parametrize("name", NAMES)
def test_linear_path_is_on(name):
    status = tok(name)._core.linear_status
    assert status["status"] == "on", status
    # Only Llama-3 and GLM-4 have tokens whose own merges run out of rank order.
    assert (status["unordered"] > 0) == (name in ("llama3", "glm-4")), status


@pytest.mark.parametrize("name", NAMES)
def test_every_corpus_piece_linear_equals_heap(name):
    # The linear path forced on every piece, however short, of big.txt and UDHR.
    core = tok(name)._core
    pieces = set()
    for f in [data("english", "big.txt"), data("multilingual", "udhr_dev.txt")]:
        pieces.update(p.encode("utf-8") for p in core.pieces(f.read_text(encoding="utf-8")))
    assert_linear_is_heap(name, pieces)


@pytest.mark.parametrize("name", NAMES)
def test_pathological_pieces_linear_equals_heap(name):
    core = tok(name)._core
    pieces = set()
    for text in pathological(0.2).values():
        pieces.update(p.encode("utf-8") for p in core.pieces(text))
        pieces.add(text.encode("utf-8"))           # and each input as one piece
    assert_linear_is_heap(name, pieces)


@pytest.mark.parametrize("name", NAMES)
def test_runs_of_one_byte_equal_heap(name):
    # A run c^n is a repeated self-compatible block next to the encoding of the rest
    # (bpe.c: merge_run): every byte, at lengths on and around multiples of the blocks.
    lengths = [49, 50, 63, 64, 65, 95, 96, 97, 127, 128, 129, 191, 192, 193, 255, 256, 257, 1000, 1001, 4099]
    assert_linear_is_heap(name, [bytes([c]) * n for c in range(256) for n in lengths])


@pytest.mark.parametrize("name", ["llama3", "glm-4"])
def test_tokens_out_of_rank_order(name):
    # Runs of each unordered token and of it glued to its neighbours in the vocabulary.
    t = tok(name)
    ids = t._core.unordered_ids()
    assert ids
    toks = [t._core.decode_bytes([i], False, False) for i in ids]
    pieces = [b * k for b in toks for k in (1, 2, 3, 7)]
    pieces += [a + b for a in toks[:60] for b in toks[:60]]
    pieces += [a + b + a for a, b in zip(toks, toks[1:] + toks[:1])]
    assert_linear_is_heap(name, pieces)


@lru_cache(maxsize=None)
def vocab_bytes(name):
    core = tok(name)._core
    return [core.decode_bytes([i], False, True) for i in range(core.n_ids)]


def valid_bytes(name):
    """Bytes the vocabulary has a token for (byte-level vocabularies: all 256)."""
    return sorted({b[0] for b in vocab_bytes(name) if len(b) == 1})


SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)


@SETTINGS
@given(data=st.data())
def test_random_token_concatenations(data):
    for name in NAMES:
        words = vocab_bytes(name)
        ids = data.draw(st.lists(st.integers(0, len(words) - 1), min_size=1, max_size=40), label=name)
        pieces = [b"".join(words[i] for i in ids)]
        repeat = data.draw(st.integers(1, 30), label="repeat")
        pieces.append(pieces[0] * repeat)
        assert_linear_is_heap(name, [p for p in pieces if p])


@SETTINGS
@given(data=st.data())
def test_random_bytes(data):
    for name in NAMES:
        raw = data.draw(st.lists(st.sampled_from(valid_bytes(name)), min_size=1, max_size=300), label=name)
        assert_linear_is_heap(name, [bytes(raw)])


@pytest.mark.parametrize("name", ["gpt2", "cl100k_base", "o200k_base", "llama3", "qwen3", "qwen2.5", "deepseek-v3"])
def test_pathological_inputs_match_the_reference(name):
    # Sizes where the references (tiktoken is quadratic on long pieces) take seconds.
    for label, text in pathological(0.01).items():
        ours = tok(name).encode_ordinary(text) if name in TIKTOKEN_NAMES else tok(name).encode(text)
        assert ours == reference_encode(name, text), label
