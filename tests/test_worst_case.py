"""Worst-case inputs stay linear: the work the core does (merge steps and pattern-matcher
steps, counted per thread, independent of the machine) is bounded by a constant per
byte, and doubling the input at most about doubles it. Ids equal the heap path's."""

from functools import lru_cache

import pytest

import warptok
from warptok._native._core import work_counters
from conftest import TIKTOKEN_NAMES, hf_json, with_core

NAMES = TIKTOKEN_NAMES + ["llama3", "qwen3", "deepseek-v3"]
SIZE = 200_000          # bytes of the smaller input of each pair
WORK_PER_BYTE = 40      # generous: a few times what the worst input (gpt2, a run of digits) needs


def inputs(size):
    """The pathological inputs (one repeated character, long runs, marks), about size bytes each."""
    return {
        "a": "a" * size, "_": "_" * size, "7": "7" * size, "cjk": "\u4e2d\u6587" * (size // 6),
        "spaces+x": " " * size + "x", "emoji": "\U0001F44D\U0001F3FD" * (size // 8), "x=": "x=" * (size // 2),
        "newlines": " \n" * (size // 2) + "x", "dots": ".:" * (size // 2),
        "marks": "e" + "\u0323\u0301" * (size // 4),   # one NFC region (Qwen), one punctuation run
    }


@lru_cache(maxsize=None)
def pair(name):
    """The tokenizer, and a copy whose long pieces take the heap path."""
    tok = warptok.get_encoding(name) if name in TIKTOKEN_NAMES else warptok.Tokenizer.from_str(hf_json(name))
    return tok, with_core(tok, linear=False)


def encode(tok, name, text):
    return tok.encode_ordinary(text) if name in TIKTOKEN_NAMES else tok.encode(text)


def work(tok, name, text):
    work_counters(reset=True)
    ids = encode(tok, name, text)
    bpe, regex = work_counters()
    return ids, bpe + regex


@pytest.mark.parametrize("name", NAMES)
def test_work_is_linear_on_worst_cases(name):
    tok, heap = pair(name)
    assert tok._core.linear_status["status"] == "on"
    small, large = inputs(SIZE), inputs(2 * SIZE)
    for label in small:
        ids, w1 = work(tok, name, small[label])
        _, w2 = work(tok, name, large[label])
        n1, n2 = len(small[label].encode()), len(large[label].encode())
        assert w1 <= WORK_PER_BYTE * n1, (label, w1 / n1)
        assert w2 <= WORK_PER_BYTE * n2, (label, w2 / n2)
        assert w2 / n2 <= 1.3 * w1 / n1 + 0.05, (label, w1, w2)   # doubling about doubles
        assert ids == encode(heap, name, small[label]), label


def test_counters_are_per_thread_and_reset():
    tok, _ = pair("cl100k_base")
    work_counters(reset=True)
    assert work_counters() == (0, 0)
    tok.encode_ordinary("a" * 1000 + " " * 1000 + "x")
    bpe, regex = work_counters(reset=True)
    assert bpe > 0 and regex > 0
    assert work_counters() == (0, 0)
