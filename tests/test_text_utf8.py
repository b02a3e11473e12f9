"""The UTF-8 a single-text call encodes: warptok's own encoder of a str's 1-, 2- and
4-byte units (no copy left inside the str), checked against str.encode on text of every
kind, at every alignment of its ASCII runs, and with surrogates. (str subclasses reach
the core as plain str: tests/test_str_subclass.py.)"""

from __future__ import annotations

import random
import sys

import pytest

import warptok
from conftest import ours
from warptok._native import _core

# Characters by the UTF-8 length they take, and the str kind they make.
POOLS = {
    "ascii": [chr(c) for c in range(128)],
    "latin1": [chr(c) for c in range(0x80, 0x100)],
    "bmp2": [chr(c) for c in range(0x100, 0x800, 7)],
    "bmp3": [chr(c) for c in list(range(0x800, 0xD800, 97)) + list(range(0xE000, 0x10000, 89))],
    "astral": [chr(c) for c in range(0x10000, 0x110000, 4099)],
}


def texts(seed: int, count: int):
    """Random texts mixing ASCII runs of every length with characters of one or more
    wider pools, so that the word and vector paths start at every offset."""
    rng = random.Random(seed)
    wide = ["latin1", "bmp2", "bmp3", "astral"]
    for _ in range(count):
        pools = ["ascii"] + rng.sample(wide, rng.randint(1, len(wide)))
        out = []
        for _ in range(rng.randint(1, 12)):
            pool = rng.choice(pools)
            run = rng.randint(1, 40) if pool == "ascii" else rng.randint(1, 3)
            out.extend(rng.choice(POOLS[pool]) for _ in range(run))
        yield "".join(out)


def test_every_kind_encodes_as_str_encode():
    seen_kinds = set()
    for text in texts(0, 3000):
        seen_kinds.add(max(map(ord, text)).bit_length() // 8)
        assert _core.call_utf8(text) == text.encode("utf-8"), repr(text)
    assert seen_kinds >= {0, 1, 2}


@pytest.mark.parametrize("pool", sorted(POOLS))
def test_every_length_of_one_pool(pool):
    chars = POOLS[pool]
    for n in range(0, 70):
        text = "".join(chars[(i * 31) % len(chars)] for i in range(n))
        for prefix in ("", "a", "é", "\u20ac", "\U0001F600"):       # each kind, each alignment
            assert _core.call_utf8(prefix + text) == (prefix + text).encode("utf-8")


@pytest.mark.parametrize("surrogate", ["\ud800", "\udfff", "\udc00"])
@pytest.mark.parametrize("around", ["", "abcdefghijklmnop", "é" * 9, "\u20ac" * 9, "\U0001F600" * 3])
def test_lone_surrogates_raise_as_str_encode(surrogate, around):
    text = around + surrogate + around
    with pytest.raises(UnicodeEncodeError):
        text.encode("utf-8")
    with pytest.raises(UnicodeEncodeError):
        _core.call_utf8(text)


def test_no_copy_is_left_inside_the_str():
    """PyUnicode_AsUTF8AndSize keeps the UTF-8 inside a non-ASCII str for its lifetime
    (sys.getsizeof counts it); a call encodes without leaving it there."""
    tok = warptok.get_encoding("gpt2")
    for text in ["".join(["caf\u00e9 "] * 500), "".join(["\u4e16\u754c "] * 500), "x\U0001F600" * 300]:
        fresh = (text + " ")[:-1]                    # a new object, nothing cached in it
        before = sys.getsizeof(fresh)
        ids = tok.encode_ordinary(fresh)
        assert sys.getsizeof(fresh) == before
        assert tok.count(fresh) == len(ids)
        assert ids == tok.encode_ordinary(text.encode("utf-8").decode("utf-8"))


def test_batches_encode_every_kind_as_single_calls():
    """A batch encodes its non-ASCII texts into one buffer of its own: ids as one call per
    text, ASCII and wider texts side by side, str subclasses too, and nothing left in the strs."""
    tok = ours("gpt2")

    class Sub(str):
        pass

    batch = list(texts(1, 200)) + ["plain ascii text", "", Sub("sub h\u00e9llo \u4e16\u754c"), "\U0001F600" * 40]
    fresh = [(t + " ")[:-1] for t in batch]
    sizes = [sys.getsizeof(t) for t in fresh]
    expect = [tok.encode_ordinary(t) for t in batch]
    assert tok.encode_ordinary_batch(fresh, num_threads=2) == expect
    ids, offsets = tok.encode_ordinary_batch_flat(fresh, num_threads=2)
    assert [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(batch))] == expect
    assert [sys.getsizeof(t) for t in fresh] == sizes


def test_a_surrogate_in_a_batch_raises_as_single_calls():
    tok = ours("gpt2-hf")                           # tokenizer.json: lone surrogates raise, as HF
    batch = ["fine text", "caf\u00e9 \ud800 here", "more"]
    with pytest.raises(UnicodeEncodeError):
        tok.encode(batch[1])
    with pytest.raises(UnicodeEncodeError):
        tok.encode_batch(batch)
    assert tok.encode_batch([batch[0], batch[2]]) == [tok.encode(batch[0]), tok.encode(batch[2])]


def test_a_text_beyond_the_kept_buffer_then_small_ones():
    """The per-thread buffer is dropped after a text bigger than it keeps (4 MiB) and
    made anew: the calls after it are still right."""
    big = "\u4e16\u754c ab\u00e9 " * 300_000                       # 2.1M units, 5.7 MB of UTF-8
    assert _core.call_utf8(big) == big.encode("utf-8")
    for text in ["small \u00e9", "\U0001F600" * 5, big[:1000]]:
        assert _core.call_utf8(text) == text.encode("utf-8")
    tok = ours("gpt2")
    assert tok.count(big) == len(tok.encode_ordinary(big))


def test_a_utf8_copy_already_in_the_str_is_used():
    """Where another extension left CPython's UTF-8 copy in a str, a call reads that copy
    rather than encoding the units again: the ids are the same either way."""
    import ctypes

    as_utf8 = ctypes.pythonapi.PyUnicode_AsUTF8AndSize
    as_utf8.restype = ctypes.c_void_p
    as_utf8.argtypes = [ctypes.py_object, ctypes.c_void_p]
    tok = ours("gpt2")
    for text in ["caf\u00e9 au lait " * 50, "\u4e16\u754c " * 80, "x\U0001F600y " * 40]:
        fresh = (text + " ")[:-1]
        address = as_utf8(fresh, None)              # CPython's copy, kept in the str from now on
        assert address and sys.getsizeof(fresh) > sys.getsizeof(text)
        assert _core.call_utf8(fresh) == text.encode("utf-8")
        assert tok.encode_ordinary(fresh) == tok.encode_ordinary(text)
        assert tok.encode_ordinary_batch([fresh, text]) == [tok.encode_ordinary(text)] * 2
