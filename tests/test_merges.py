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


# ---- long pieces, cut where no token joins the two sides (cext/bpe/cuts.c) ----

def long_pieces(name, seed, count=300):
    """Pieces of 49-400 bytes: runs of distinct CJK characters, CJK text of the corpus
    with its spaces removed, emoji with modifiers and ZWJ, stacked combining marks,
    non-ASCII tokens of the vocabulary end to end (some split mid-character), and
    the short random and broken pieces joined."""
    rng = random.Random(seed)
    vocab = [b for i, b in tok(name)._token_bytes().items() if max(b) >= 0x80 and len(b) > 1]
    cjk_text = "".join(c for c in "".join(corpus("multilingual")) if 0x3000 <= ord(c) <= 0x9FFF)
    emoji = [chr(c) for c in (0x1F44D, 0x1F44B, 0x1F469, 0x1F468, 0x1F3FB, 0x1F3FD, 0x1F3FF, 0x200D, 0x2764, 0xFE0F)]
    marks = [chr(c) for c in (0x301, 0x323, 0x308, 0x300, 0x30A)]
    shorts, broken = random_pieces(seed, 400), broken_pieces(seed, 400)
    out = []
    for i in range(count):
        size = rng.randrange(SHORT + 1, 400)
        kind = i % 6
        b = b""
        while len(b) < size:
            if kind == 0:
                b += chr(0x4E00 + rng.randrange(20000)).encode()
            elif kind == 1:
                at = rng.randrange(max(1, len(cjk_text) - 64))
                b += cjk_text[at:at + 64].encode()
            elif kind == 2:
                b += rng.choice(emoji).encode()
            elif kind == 3:
                b += (rng.choice("aeo") + "".join(rng.choices(marks, k=rng.randrange(1, 6)))).encode()
            elif kind == 4:
                t = rng.choice(vocab)
                b += t if rng.random() < 0.8 else t[rng.randrange(len(t)):]
            else:
                b += rng.choice(shorts if rng.random() < 0.7 else broken)
        out.append(b)
    return out


@pytest.mark.parametrize("name", NAMES)
def test_cut_merges_equal_the_heap(name):
    pieces = long_pieces(name, sum(map(ord, name)))
    assert merge(name, pieces, "cuts") == merge(name, pieces, "heap")


def not_self_built(name):
    """Tokens whose bytes, merged, do not give them back (a whole piece of those bytes
    is the token; a part of a longer piece is what the merges make)."""
    items = [(i, b) for i, b in tok(name)._token_bytes().items() if len(b) > 1 and i not in tok(name).special_tokens.values()]
    got = merge(name, [b for _, b in items], "heap")
    return [b for (i, b), ids in zip(items, got) if ids != [i]]


@pytest.mark.parametrize("name", ["cl100k_base", "llama3", "qwen-3.5", "deepseek-v3"])
def test_long_pieces_equal_the_reference(name):
    """Through the whole pipeline (parts looked up in and learned by the piece table)
    against tiktoken / HF: long CJK and emoji pieces with tokens the merges do not
    rebuild inside them, twice (the second time from what the table learned)."""
    from conftest import ours_encode, reference_encode
    rng = random.Random(7)
    odd = [b.decode() for b in not_self_built(name) if all(0x80 <= c for c in b[:1]) and _is_text(b)]
    texts = []
    for i in range(200):
        chars = []
        while len("".join(chars).encode()) < rng.randrange(60, 600):
            r = rng.random()
            chars.append(chr(0x4E00 + rng.randrange(20000)) if r < 0.6 else
                         rng.choice(odd) if odd and r < 0.8 else chr(rng.choice((0x1F44D, 0x1F3FD, 0x2764))))
        texts.append("".join(chars))
    for _ in range(2):
        for t in texts:
            assert ours_encode(name, t) == reference_encode(name, t), t


def _is_text(b):
    try:
        b.decode()
        return True
    except UnicodeDecodeError:
        return False


def test_long_pieces_learned_by_threads_at_once():
    """Threads cut long pieces of the same characters at once, each learning parts into
    the one shared piece table: every thread's ids equal those of a tokenizer that
    learned alone."""
    import threading
    name = "llama3"
    rng = random.Random(11)
    chars = [chr(0x4E00 + rng.randrange(3000)) for _ in range(400)]
    texts = ["".join(rng.choices(chars, k=rng.randrange(40, 400))) for _ in range(64)]
    alone = warptok.Tokenizer.from_str(hf_json(name))
    want = [alone.encode(t, add_special_tokens=False) for t in texts]
    shared = warptok.Tokenizer.from_str(hf_json(name))
    got, errors = {}, []

    def work(k):
        try:
            for i in list(range(len(texts)))[k::2] + list(range(len(texts))):
                got[(k, i)] = shared.encode(texts[i], add_special_tokens=False)
        except BaseException as e:        # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    for (k, i), ids in got.items():
        assert ids == want[i], (k, i)
