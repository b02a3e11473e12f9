"""The piece table (cext/bpe/piece_table.c) is a cache: seeded at load with every
vocabulary string's encoding, added to as pieces are merged. Whatever it holds,
ids equal the references'."""

import random

import pytest

import warptok
from warptok._native._core import piece_key_mismatch, work_counters
from conftest import (ALL_NAMES, TIKTOKEN_NAMES, corpus, hf_json, ours, ours_encode, reference, reference_encode,
                      with_core)

# Among them tokenizers whose merges do not rebuild some of their own tokens (Qwen3.5):
# a seed must be what the merges make of the string, not the token.
SEED_NAMES = ["llama3", "qwen2.5", "qwen3", "qwen-3.5", "deepseek-v3", "glm-4", "minimax", "gpt2-hf"] + TIKTOKEN_NAMES


def fresh(name):
    """A tokenizer nobody has encoded with: its table holds the seeds alone."""
    if name in TIKTOKEN_NAMES:
        return with_core(ours(name))
    return warptok.Tokenizer.from_str(hf_json(name))


def byte_level_decoder():
    """GPT-2's byte-level alphabet, character -> byte."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(0xA1, 0xAD)) + list(range(0xAE, 0x100))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return {chr(c): b for b, c in zip(bs, cs)}


def encode(tok, name, text):
    return tok.encode_ordinary(text) if name in TIKTOKEN_NAMES else tok.encode(text, add_special_tokens=False)


def ref_encode(name, text):
    if name in TIKTOKEN_NAMES:
        return reference(name).encode_ordinary(text)
    return reference(name).encode(text, add_special_tokens=False).ids


def vocabulary_strings(name):
    """Every token that decodes to text on its own (the seeds a text can meet as a piece)."""
    if name in TIKTOKEN_NAMES:
        ref = reference(name)
        raw = list(ref._mergeable_ranks)
    else:
        ref = reference(name)
        to_byte = byte_level_decoder()
        specials = {t.content for t in ref.get_added_tokens_decoder().values()}
        raw = [bytes(to_byte[c] for c in t) for t in ref.get_vocab() if t not in specials]
    out = []
    for b in raw:
        try:
            out.append(b.decode("utf-8"))
        except UnicodeDecodeError:
            pass
    return out


@pytest.mark.parametrize("name", SEED_NAMES)
def test_every_vocabulary_string_encodes_as_the_reference_on_first_sight(name):
    # Alone, as its own text, each string is one piece for most patterns, so this
    # reads the seeds (and, for strings the pattern splits, the pieces they make).
    tok = fresh(name)
    strings = vocabulary_strings(name)
    bad = [s for s in strings if encode(tok, name, s) != ref_encode(name, s)]
    assert not bad, f"{len(bad)} of {len(strings)} differ, first {bad[:5]!r}"


def vocabulary_bytes(name):
    """Every token but the added ones, as bytes."""
    ref = reference(name)
    if name in TIKTOKEN_NAMES:
        return list(ref._mergeable_ranks)
    to_byte = byte_level_decoder()
    specials = {t.content for t in ref.get_added_tokens_decoder().values()}
    return [bytes(to_byte[c] for c in t) for t in ref.get_vocab() if t not in specials]


@pytest.mark.parametrize("name", SEED_NAMES)
def test_every_token_is_seeded(name):
    # The few seeds whose lines are full spill to the long map: found there too, so
    # a piece the table lacks is known not to be a token (whole_seeded).
    core = fresh(name)._core
    info = core.piece_table
    assert info["whole_seeded"], info
    assert info["slots"] <= 5 * 2 * len(vocabulary_bytes(name)), info   # bounded: no doubling
    missing = [b for b in vocabulary_bytes(name) if len(b) <= 128 and core.piece_table_find(b) is None]
    assert not missing, f"{len(missing)} tokens not in the table ({info}), first {missing[:5]!r}"


@pytest.mark.parametrize("name", ALL_NAMES)
def test_learned_pieces_read_back_equal(name):
    # First pass: misses merged and learned; second pass: the same pieces read back.
    tok = fresh(name)
    docs = corpus("multilingual")[:60] + corpus("english")[:300]
    first = [encode(tok, name, d) for d in docs]
    second = [encode(tok, name, d) for d in docs]
    want = [reference_encode(name, d) for d in docs]
    assert first == want
    assert second == want


def test_a_piece_is_keyed_alike_in_text_and_alone():
    # Every piece of 1..15 bytes at every offset of texts of 1..40 bytes: near the
    # ends the encoder reads fewer bytes around a piece, inside it reads 16 from it.
    rng = random.Random(3)
    for n in range(1, 41):
        for _ in range(20):
            text = bytes(rng.choice((0, 0x20, 0x41, 0x80, 0xFF, rng.randrange(256))) for _ in range(n))
            assert piece_key_mismatch(text) is None, text


@pytest.mark.parametrize("name", ["llama3", "o200k_base", "gpt2"])
def test_seen_pieces_are_found_without_merging(name):
    # The encoder keys a piece from the running text around it, the table from the
    # piece's own bytes: if the two keys ever differed, pieces would miss and be merged
    # again, with the same ids. A second pass over real text merges almost nothing (the
    # few pieces whose lines were full: ~0.01-0.15% of the first pass's merge work);
    # over made-up words of each length (pieces of 1..16 bytes, followed by text or
    # not), nothing.
    rng = random.Random(5)
    words = [" ".join("".join(rng.choice("bcdfgkmpqvwxz") for _ in range(n)) for _ in range(40))
             for n in range(1, 16)]
    real = corpus("english")[:100] + corpus("multilingual")[:30]
    for docs, most in ((real, 0.01), (words + [w[-k:] for w in words for k in (1, 7, 15)], 0)):
        tok = fresh(name)
        work_counters(reset=True)
        for d in docs:
            encode(tok, name, d)
        first = work_counters()[0]
        work_counters(reset=True)
        for d in docs:
            encode(tok, name, d)
        assert work_counters()[0] <= most * first, (first, docs[:2])


@pytest.mark.parametrize("name", ["llama3", "gpt2"])
def test_a_piece_missed_many_times_at_once_is_kept_once(name):
    # A block that misses one new piece many times resolves each miss: the table must
    # keep the piece once, or its copies fill its home and the pieces that share the
    # home can never be learned (merged on every sight).
    for piece in (" qzxvk", " " + "qzxvkw" * 5):      # a short piece, a long one
        counts = []
        for repeats in (1, 60):
            tok = fresh(name)
            text = piece * repeats
            assert encode(tok, name, text) == ref_encode(name, text)
            info = tok._core.piece_table
            counts.append((info["entries"], info["long_entries"]))
        assert counts[0] == counts[1], (piece, counts)


@pytest.mark.parametrize("name", ["llama3", "o200k_base"])
def test_pieces_of_every_length_and_id_count(name):
    # Runs of rare characters make pieces of 1..300 bytes with many ids each: inline
    # entries, arena entries, the long-piece map (16..128 bytes) and merged-every-time
    # pieces beyond it; each read twice (learned, then from the table).
    tok = fresh(name)
    rng = random.Random(7)
    alphabet = "\u0416\u00e9\u4e2d\u0939\u093f\U0001F600zq\u05d0\u0e01"
    texts = []
    for n in list(range(1, 40)) + [60, 100, 127, 128, 129, 200, 300]:
        texts.append(" " + "".join(rng.choice(alphabet) for _ in range(n)))
    for _ in range(2):
        for t in texts:
            assert encode(tok, name, t) == ref_encode(name, t), len(t)


@pytest.mark.parametrize("name", ["llama3", "cl100k_base"])
def test_tiny_table_with_nothing_seeded_stays_exact(name):
    # 16 slots, nothing seeded: whole tokens come from the vocabulary check, every
    # line is full at once, and pieces with equal padded bytes meet in the same lines.
    tok = with_core(ours(name), piece_cache_sets=1)
    docs = corpus("english")[:100] + corpus("multilingual")[:20]
    docs += ["x" + "\0" * k + "y" for k in range(2, 70)]
    for d in docs + docs:
        assert encode(tok, name, d) == ours_encode(name, d) == reference_encode(name, d)
