"""Worst-case inputs stay linear: the work the core does (merge steps, pre-tokenizer steps
-- the pattern matcher's, and the scanners' code points and 8-byte words examined --
and NFC steps, counted per thread, independent of the machine) is bounded by a constant
per byte, and doubling the input at most about doubles it. Ids equal the heap path's."""

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
    """The ids and the work, all of it on this thread: a long text cut into parts runs
    them on the pool, whose threads count their own (one thread: the caller runs all)."""
    work_counters(reset=True)
    ids = (tok.encode_ordinary_batch([text], num_threads=1) if name in TIKTOKEN_NAMES
           else tok.encode_batch([text], num_threads=1))[0]
    return ids, sum(work_counters())


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
    assert work_counters() == (0, 0, 0)
    tok.encode_ordinary("a" * 1000 + " " * 1000 + "x")
    bpe, split, normalize = work_counters(reset=True)
    assert bpe > 0 and split > 0 and normalize == 0
    assert work_counters() == (0, 0, 0)


@pytest.mark.parametrize("name", ["cl100k_base", "o200k_base", "llama3", "deepseek-v3"])
def test_scanner_steps_are_what_it_examines(name):
    """A scanner counts what it reads, not what it matched: a text read twice costs
    about twice the steps, and a long run of spaces (read by code point) costs more a
    byte than a letter run (read a block or a word at a time)."""
    tok, _ = pair(name)
    text = "The quick brown fox jumps over the lazy dog. " * 1000   # twice: one call on this thread
    work(tok, name, text)
    _, split, _ = work_counters()
    assert len(text) / 64 <= split <= 2 * len(text), split
    _, once = work(tok, name, text)
    _, twice = work(tok, name, text + text)
    assert 1.8 * once <= twice <= 2.2 * once
    _, spaces = work(tok, name, "\u3000" * 30000 + "x")     # ideographic spaces: code point by code point
    assert spaces >= 30000


def test_nfc_steps_are_counted():
    """Qwen's NFC (in the core) counts its steps: canonical ordering of a run of
    marks is work too, and stays linear when the run is long."""
    tok, _ = pair("qwen3")
    work_counters(reset=True)
    tok.encode("plain ascii " * 100)
    assert work_counters()[2] > 0
    short, long = "e" + "\u0301\u0323" * 1000, "e" + "\u0301\u0323" * 2000
    work_counters(reset=True)
    tok.encode(short)
    n1 = work_counters(reset=True)[2]
    tok.encode(long)
    n2 = work_counters(reset=True)[2]
    assert n1 >= 2000 and n2 <= 2.2 * n1
