"""Ids identical to the references on whole corpora, one by one and in batches."""

import random

import numpy as np
import pytest

from conftest import (ALL_NAMES, CORPORA, TIKTOKEN_NAMES, corpus, ours, ours_encode, reference, reference_encode,
                      with_core)


@pytest.mark.parametrize("which", CORPORA)
@pytest.mark.parametrize("name", ALL_NAMES)
def test_corpus_matches_reference(name, which):
    docs = corpus(which)
    mismatches = [d for d in docs if ours_encode(name, d) != reference_encode(name, d)]
    assert not mismatches, f"{len(mismatches)}/{len(docs)} documents differ, first: {mismatches[0][:200]!r}"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_whole_files_match_reference(name):
    # One long text: pieces cross paragraph boundaries, and long runs stay exact.
    from conftest import data

    for f in [data("english", "big.txt"), data("multilingual", "udhr_dev.txt")]:
        text = f.read_text(encoding="utf-8")
        assert ours_encode(name, text) == reference_encode(name, text), f.name


def test_two_tokenizers_interleaved_stay_exact():
    # Each tokenizer has its own piece cache (UDHR alone has ~63,000 short and
    # ~3,500 wide merged pieces, for 131,072 and 8,192 entries, so passes evict
    # entries), and the same bytes have other ids in the other tokenizer: one
    # thread alternating between them keeps the reference ids.
    names = ["llama3", "qwen2.5"]
    docs = corpus("multilingual")
    expected = {n: [reference_encode(n, d) for d in docs] for n in names}
    for _ in range(2):
        for i, d in enumerate(docs):
            for n in names:
                assert ours_encode(n, d) == expected[n][i], (n, d[:80])


@pytest.mark.parametrize("name", ["llama3", "qwen2.5"])
def test_new_pieces_merged_together_keep_their_place(name):
    # A tokenizer loaded anew starts with none of its pieces cached, so every piece
    # that is not one token is merged while the scan loop holds room for it in the
    # output, with the batch's other new pieces. Between them: pieces that are one
    # token, pieces too long to wait (> 48 bytes), and a truncated encode, which
    # cannot wait at all. All must come out where the reference puts them.
    import random

    import warptok
    from conftest import hf_json

    rng = random.Random(5)
    words = " ".join(corpus("multilingual")[:200]).split()
    parts = []
    for _ in range(3000):
        r = rng.random()
        parts.append(rng.choice(words) if r < 0.8 else
                     "".join(rng.choice(words) for _ in range(8)) if r < 0.9 else  # a long glued piece
                     rng.choice(["the", "and", "of", ",", "\n", "  "]))
    text = " ".join(parts)
    expected = reference_encode(name, text)
    assert warptok.Tokenizer.from_str(hf_json(name)).encode(text) == expected
    fresh = warptok.Tokenizer.from_str(hf_json(name))
    assert fresh.encode(text, max_length=len(expected) - 7) == expected[:len(expected) - 7]
    assert fresh.encode(text) == expected


@pytest.mark.parametrize("which", CORPORA)
@pytest.mark.parametrize("name", ALL_NAMES)
def test_batches_match_one_by_one(name, which):
    docs = corpus(which)[:3000]
    tok = ours(name)
    expected = [ours_encode(name, d) for d in docs]
    if name in TIKTOKEN_NAMES:
        lists = tok.encode_ordinary_batch(docs)
        ids, offsets = tok.encode_ordinary_batch_flat(docs, num_threads=2)
    else:
        lists = tok.encode_batch(docs)
        ids, offsets = tok.encode_batch_flat(docs, num_threads=2)
    assert lists == expected
    assert ids.dtype == np.uint32 and offsets.dtype == np.int64
    assert len(offsets) == len(docs) + 1 and offsets[0] == 0
    assert [ids[a:b].tolist() for a, b in zip(offsets[:-1], offsets[1:])] == expected


@pytest.mark.parametrize("name", ALL_NAMES)
def test_decode_matches_reference_and_round_trips(name):
    tok, ref = ours(name), reference(name)
    for d in corpus("multilingual")[:40] + corpus("adversarial")[:300]:
        ids = reference_encode(name, d)
        text = tok.decode(ids)
        assert text == (ref.decode(ids) if name in TIKTOKEN_NAMES else ref.decode(ids, skip_special_tokens=False))
        if ref.decode(ids) == d:          # where the reference round-trips, so do we
            assert text == d


def test_bundled_gpt2_ranks_equal_tiktokens():
    from warptok import encodings
    from warptok._compile import tiktoken_file as _load

    ranks = _load.load_tiktoken_ranks(encodings.BUNDLED_GPT2)
    assert ranks == reference("gpt2")._mergeable_ranks


@pytest.mark.parametrize("name", ALL_NAMES)
def test_short_tokens_at_every_offset_from_the_text_ends(name):
    # Pieces of up to 15 bytes are keyed with 8-byte loads around them when the
    # text has 8 bytes on both sides, and from a copy near its start or end:
    # every short token, as a piece 0..9 bytes from either end, has the
    # reference's ids.
    tok = ours(name)
    texts = []
    for i in range(tok.n_vocab):
        try:
            t = tok.decode_bytes([i]).decode("utf-8")
        except (UnicodeDecodeError, ValueError, KeyError):
            continue
        if 1 <= len(t.encode()) <= 15 and t not in tok.special_tokens:
            texts.append(t)
    rnd = random.Random(0)
    for t in rnd.sample(texts, 1500):
        k, j = rnd.randrange(10), rnd.randrange(10)
        for text in (t, "A" * k + "\n" + t, t + "\n" + "B" * j, "A" * k + "\n" + t + "\n" + "B" * j):
            assert ours_encode(name, text) == reference_encode(name, text), (name, text)


@pytest.mark.parametrize("name", ["llama3", "o200k_base"])
def test_cache_tells_apart_pieces_that_differ_in_trailing_zero_bytes(name):
    # Cache entries hold a piece's bytes zero-padded, and its length: with one
    # set (four entries), runs of NUL (one punctuation piece each) of every
    # length up to past the wide entries' 48 bytes meet entries of other lengths
    # whose padded bytes are the same.
    tok = ours(name)
    small = with_core(tok, piece_cache_sets=1)
    rng = random.Random(0)
    texts = ["x" + "\0" * rng.randrange(2, 60) + "y" for _ in range(400)]
    for text in texts + texts:
        assert small.encode_ordinary(text) == reference_encode(name, text), len(text)
