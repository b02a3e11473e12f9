"""Short pieces merge in a small array that starts from preformed characters (a
character whose bytes surely merge into one token before any neighbour touches
them is that token at once, cext/bpe/build.c: preformed_init). Their ids equal
the heap's, which merges from bytes, on every short piece of the corpora, on
random strings of many-byte characters between ASCII neighbours, and on bytes
that are not all characters (cut, overlong)."""

import random
from array import array
from functools import lru_cache

import pytest

import warptok
from conftest import TIKTOKEN_NAMES, corpus, hf_json

NAMES = TIKTOKEN_NAMES + ["llama3", "qwen3", "qwen2.5", "qwen-3.5", "deepseek-v3", "glm-4", "minimax"]
SHORT = 48


@lru_cache(maxsize=None)
def tok(name):
    return warptok.get_encoding(name) if name in TIKTOKEN_NAMES else warptok.Tokenizer.from_str(hf_json(name))


def merge(name, pieces, algo):
    return tok(name)._core.merge_pieces(b"".join(pieces), array("I", map(len, pieces)), algo)


def short_pieces(name):
    out = set()
    for doc in corpus("multilingual") + corpus("english")[:2000] + corpus("adversarial"):
        for piece in tok(name)._core.pieces(doc):
            b = piece.encode("utf-8", "surrogatepass")
            if 1 < len(b) <= SHORT:
                out.add(b)
    return sorted(out)


def random_pieces(seed, count=20000):
    rng = random.Random(seed)
    # Latin-1, Greek, Cyrillic, Hebrew, Arabic, Devanagari (marks), Thai, CJK, Hangul,
    # punctuation and symbols of two and three bytes, and ASCII around them.
    ranges = [(0xA0, 0x24F), (0x370, 0x4FF), (0x590, 0x6FF), (0x900, 0x97F), (0xE00, 0xE7F), (0x2000, 0x206F),
              (0x3000, 0x30FF), (0x4E00, 0x9FFF), (0xAC00, 0xD7A3), (0xFF00, 0xFFEF)]
    ascii_ = " etaoinshrdlu.,'!?-_0123456789"
    out = []
    for _ in range(count):
        chars = []
        while len("".join(chars).encode()) < rng.randrange(2, SHORT - 3):
            if rng.random() < 0.3:
                chars.append(rng.choice(ascii_))
            else:
                lo, hi = rng.choice(ranges)
                chars.append(chr(rng.randrange(lo, hi + 1)))
        b = "".join(chars).encode()
        if len(b) <= SHORT:
            out.append(b)
    return out


def broken_pieces(seed, count=20000):
    """Bytes that are not (all) characters: merges also take two tokens' bytes with a
    character cut between them. Characters cut, shuffled, overlong (E0 82 A9 is not
    U+00A9's bytes) or led by C0/C1."""
    rng = random.Random(seed)
    chars = [chr(c).encode() for c in (0xE9, 0x416, 0x4E2D, 0x65E5, 0x939, 0x93F, 0xAC00, 0x2019, 0x3002)]
    odd = [b"\xe0\x82\xa9", b"\xc0\xa9", b"\xc1\xbf", b"\xe0\x80\x80", b"\xed\xa0\x80", b"\xc3", b"\xa9", b"\xe4\xb8"]
    out = []
    for _ in range(count):
        parts = []
        while sum(map(len, parts)) < rng.randrange(2, SHORT - 4):
            r = rng.random()
            c = rng.choice(chars)
            parts.append(rng.choice(odd) if r < 0.3 else c[rng.randrange(len(c)):] if r < 0.5 else
                         c[:rng.randrange(1, len(c) + 1)] if r < 0.7 else c if r < 0.9 else rng.choice([b"a", b" ", b"."]))
        b = b"".join(parts)
        if len(b) <= SHORT:
            out.append(b)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_short_merges_equal_the_heap(name):
    seed = sum(map(ord, name))
    for pieces in (short_pieces(name), random_pieces(seed), broken_pieces(seed)):
        assert merge(name, pieces, "small") == merge(name, pieces, "heap")
