"""A long text is cut where the pre-tokenizer starts afresh and its parts are encoded
on the pool (cext/pipeline/tokenizer.c, find_cut): the joined ids equal the references' for
every pattern family, with added tokens next to the cut points, and in batches."""

import random

import numpy as np
import pytest

import warptok
from conftest import TIKTOKEN_NAMES, corpus, data, hf_json, ours, reference

# SentencePiece BPE (Llama-2's Prepend, Gemma 3's map) is cut before a U+2581
FAMILIES = TIKTOKEN_NAMES + ["llama3", "qwen2.5", "qwen3", "qwen-3.5", "deepseek-v3", "glm-4", "minimax", "gpt2-hf",
                             "llama2", "llama2-added", "gemma3"]
SPECIAL = {"gpt2": "<|endoftext|>", "cl100k_base": "<|endoftext|>", "o200k_base": "<|endoftext|>",
           "llama3": "<|begin_of_text|>", "glm-4": "<|endoftext|>", "gpt2-hf": "<|endoftext|>",
           "llama2": "<s>", "llama2-added": "Zorg", "gemma3": "<start_of_turn>"}
LONG = 300_000           # characters: over the 128 KiB a text needs to be cut


def tokenizer(name):
    return ours(name) if name in TIKTOKEN_NAMES else warptok.Tokenizer.from_str(hf_json(name))


def special(name):
    return SPECIAL.get(name, "<|endoftext|>" if "qwen" in name or name == "minimax" else "<｜end▁of▁sentence｜>")


def encode(tok, name, text, **kw):
    if name in TIKTOKEN_NAMES:
        return tok.encode(text, allowed_special="all")
    return tok.encode(text, **kw)


def ref_encode(name, text, add_special_tokens=True):
    ref = reference(name)
    if name in TIKTOKEN_NAMES:
        return ref.encode(text, allowed_special="all")
    return ref.encode(text, add_special_tokens=add_special_tokens).ids


def long_texts(name):
    english = data("english", "big.txt").read_text(encoding="utf-8")
    multi = data("multilingual", "udhr_dev.txt").read_text(encoding="utf-8")
    sp = special(name)
    rng = random.Random(3)
    # Added tokens glued to both sides of spaces between words: every kind of neighbour a cut can have.
    words = english[:40_000].split(" ")
    glued = []
    for w in words:
        r = rng.random()
        glued.append(w + sp if r < 0.05 else sp + w if r < 0.1 else w)
    glued = " ".join(glued)
    glued = (glued * (LONG // len(glued) + 1))[:LONG]
    # Spaces between words of every script, and around marks, digits of other systems,
    # modifier and titlecase letters, jamo NFC would join, emoji: every kind of neighbour
    # a cut between non-ASCII letters can have.
    pieces = ["слово", "Ελληνικά", "中文", "日本語", "한국어", "\u1100", "\u1161", "e\u0301", "\u0301", "\u0323\u0301",
              "١٢٣", "Ⅻ", "x²", "'s", "ǅemal", "ʰa", "שלום", "مرحبا", "👍🏽", "7", "ÉCOLE", "naïve", "ß", "ﬁ", "\u200d"]
    scripts = "".join(rng.choice(pieces) + rng.choice([" ", " ", " ", "  ", "\n", "", " \u3000", "\u3000  ", "\u00a0  "])
                      for _ in range(LONG // 4))
    around = {}
    if sp[0].isalpha() and sp[-1].isalpha():
        # Every space has the added token on one side: HF prepends U+2581 to the segment
        # after it, so a Llama-2 text may not be cut there.
        around = {"token before each space": ("word" + sp + " ") * (LONG // 9),
                  "token after each space": ("a " + sp) * (LONG // 6)}
    return around | {
        "english": english[:LONG],
        "multilingual": multi[:LONG],
        "mixed": (multi[:50_000] + "\n" + english[100_000:200_000] + sp + " 12345 67" + english[300_000:450_000]),
        "glued": glued,
        "code": "".join(corpus("english")[:3])[:1000] + "    def f(x):\n        return x + 1\n" * 8000,
        "no cut": "abc" * (LONG // 3),
        "scripts": scripts,
    }


@pytest.mark.parametrize("name", FAMILIES)
def test_long_texts_equal_reference(name):
    tok = tokenizer(name)
    for label, text in long_texts(name).items():
        assert encode(tok, name, text) == ref_encode(name, text), label


@pytest.mark.parametrize("name", ["glm-4", "llama3", "cl100k_base", "llama2"])
def test_long_texts_in_batches_equal_reference(name):
    # Long documents between short ones, as lists and flat, on 1, 2 and 4 threads;
    # GLM-4 puts its post-processor's ids around the whole document, not each part.
    tok = tokenizer(name)
    texts = list(long_texts(name).values())
    docs = [texts[0], "short one", texts[3], "", texts[1], "x " * 70_000]
    want = [ref_encode(name, d) for d in docs]
    batch = tok.encode_batch if name not in TIKTOKEN_NAMES else (
        lambda ds, num_threads=None: tok.encode_batch(ds, allowed_special="all", num_threads=num_threads))
    flat = tok.encode_batch_flat if name not in TIKTOKEN_NAMES else (
        lambda ds, num_threads=None: tok.encode_batch_flat(ds, allowed_special="all", num_threads=num_threads))
    for threads in (1, 2, 4):
        assert batch(docs, num_threads=threads) == want
        ids, offsets = flat(docs, num_threads=threads)
        assert [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(docs))] == want
        assert ids.dtype == np.uint32


def test_truncated_long_text_is_the_prefix():
    # Under a limit the text is not cut: the first max_length ids, as the reference's.
    tok = tokenizer("llama3")
    text = long_texts("llama3")["english"]
    full = ref_encode("llama3", text)
    for m in (1, 1000, len(full) - 1, len(full) + 5):
        assert tok.encode(text, max_length=m, add_special_tokens=False) == full[:m]
