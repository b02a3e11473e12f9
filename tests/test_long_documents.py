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


@pytest.mark.parametrize("batch", [False, True])
def test_long_lists_hold_one_reference_an_item(batch):
    # A list of 65,536 ids or more has its references counted per id (over 2^19 ids, on
    # two threads) and each int's count raised once: by as many as the list holds. A
    # second call (one of another size between, 2^16 ids on one thread) raises them by as
    # much again: counters kept from call to call would have to be zero again (a version
    # that kept them failed here when the number of tasks changed).
    import sys
    tok = tokenizer("o200k_base")
    text = data("english", "big.txt").read_text(encoding="utf-8")[:2_600_000]
    held = list({i: i for i in tok.encode_ordinary(text[:3000]) if i > 256}.values())   # its own int objects
    before = [sys.getrefcount(x) for x in held]
    call = (lambda t: tok.encode_batch([t])[0]) if batch else tok.encode_ordinary
    ids = call(text)
    assert len(ids) > 1 << 19 and ids == reference("o200k_base").encode_ordinary(text)
    after = [sys.getrefcount(x) for x in held]
    assert [a - b for a, b in zip(after, before)] == [ids.count(x) for x in held]
    short = call(text[:400_000])
    assert 1 << 16 < len(short) < 1 << 18 and short == reference("o200k_base").encode_ordinary(text[:400_000])
    del short
    again = call(text)
    assert again == ids
    twice = [sys.getrefcount(x) for x in held]
    assert [t - b for t, b in zip(twice, before)] == [2 * ids.count(x) for x in held]
    del ids, again
    assert [sys.getrefcount(x) for x in held] == before


# ---- text with no space: cut before ASCII punctuation after an ASCII letter ----

BYTE_LEVEL = TIKTOKEN_NAMES + ["llama3", "qwen2.5", "qwen3", "qwen-3.5", "deepseek-v3", "glm-4", "minimax", "gpt2-hf"]
O200K_FAMILY = {"o200k_base", "minimax"}         # letter runs take a contraction: no cut before an apostrophe
NEVER_CUT = {"minimax"}                          # added tokens hold spaces (']<]start of speech[>[')


def no_space_texts(name):
    sp = special(name)
    code = "self.x=foo.bar(baz)[qux];{a:b}<tag>path/to/file?q=v&r=w#frag;ÉCOLE.x\u0301=é-ß_x\u20ac\n7.x"
    return {
        "x=": "x=" * 150_000,
        "code": (code * (LONG // len(code) + 1))[:LONG],
        # the added token right after a letter, and ending before one (a cut never falls inside it)
        "glued": (("abc" + sp + "def=ghi" + sp + ";") * LONG)[:LONG],
        "apostrophes": ("don't'S'x's" * LONG)[:LONG],
    }


def test_each_split_family_is_cut_at_punctuation():
    # the test below would pass with no cut at all: the cuts are there
    assert len(parts(tokenizer("llama3"), "x=" * 150_000)) > 4


@pytest.mark.parametrize("name", BYTE_LEVEL)
def test_text_without_spaces_equals_reference(name):
    tok = tokenizer(name)
    for label, text in no_space_texts(name).items():
        at = parts(tok, text)
        if label == "apostrophes" and name in O200K_FAMILY or name in NEVER_CUT:
            assert at == [0], label
        elif label != "glued" or name != "deepseek-v3":    # its special token is not ASCII: fewer cuts, still some
            assert len(at) > 1, label
        assert encode(tok, name, text) == ref_encode(name, text), label


def _variant(name, edit):
    import json
    j = json.loads(hf_json(name))
    edit(j)
    s = json.dumps(j)
    from tokenizers import Tokenizer as HFTokenizer
    return warptok.Tokenizer.from_str(s), HFTokenizer.from_str(s)


def test_no_cut_where_a_split_would_see_another_text():
    # Punctuation after a letter inside an added token (cl100k's <|endoftext|>: 't|'): not cut before '|'.
    tok = ours("cl100k_base")
    text = "a|b" * 100_000
    assert parts(tok, text) == [0]
    assert tok.encode(text, allowed_special="all") == reference("cl100k_base").encode(text, allowed_special="all")

    # ByteLevel's add_prefix_space would give the part after the cut a space: no cut before punctuation.
    def prefix_space(j):
        j["pre_tokenizer"]["add_prefix_space"] = True
    tok, hf = _variant("gpt2-hf", prefix_space)
    text = "x=" * 150_000
    assert parts(tok, text) == [0]
    assert tok.encode(text) == hf.encode(text).ids

    # A split by a class run with ASCII members ([ a-z]+) holds spaces and punctuation between
    # letters: not cut at all.
    def ascii_run(j):
        j["pre_tokenizer"] = {"type": "Sequence", "pretokenizers": [
            {"type": "Split", "pattern": {"Regex": "[ a-z=]+"}, "behavior": "Isolated", "invert": False},
            {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": False}]}
    tok, hf = _variant("llama3", ascii_run)
    for text in ("Hello world foo bar Baz qux " * 20_000, "x=" * 150_000):
        assert parts(tok, text) == [0]
        assert tok.encode(text) == hf.encode(text).ids


@pytest.mark.parametrize("name", ["llama3", "o200k_base"])
def test_cut_texts_to_arrays_counts_and_batches(name):
    # The parts' ids go straight from the pool's buffers into a list, an array or a count.
    tok = tokenizer(name)
    text = no_space_texts(name)["code"] + " " + long_texts(name)["english"]
    want = ref_encode(name, text)
    kw = {"allowed_special": "all"} if name in TIKTOKEN_NAMES else {}
    assert tok.encode_to_numpy(text, **kw).tolist() == want
    assert tok.count(text, **kw) == len(want)
    assert encode(tok, name, text) == want


# ---- SentencePiece BPE and Metaspace (Unigram) tokenizers: long texts of every script ----
# Llama-2 and Gemma 3 are cut at a space between letters of any script that their map keeps
# where the model cuts before U+2581; a Metaspace tokenizer at a space between letters that
# every normalizer step keeps (with Precompiled: ASCII ones only).

def _sp_json(name) -> str:
    import json

    from test_unigram import ADDED, configs, variant
    if name in ("llama2", "gemma3", "llama2-added"):
        return hf_json(name).decode()
    if name == "llama2-cyrillic":
        # pass-0 added tokens of Cyrillic letters: their first and last bytes are letters' too
        j = json.loads(hf_json("llama2"))
        for k, word in enumerate(("Жук", "ёлка")):
            j["added_tokens"].append({"id": len(j["model"]["vocab"]) + k, "content": word, "single_word": False,
                                      "lstrip": False, "rstrip": False, "normalized": False, "special": False})
        return json.dumps(j)
    if name == "llama2-nfc":
        # NFC first: it may change the letter before a space, where the model's cut is tested
        j = json.loads(hf_json("llama2"))
        j["normalizer"]["normalizers"].insert(0, {"type": "NFC"})
        return json.dumps(j)
    if name == "jiutian":
        return hf_json("jiutian-139moe-chat").decode()
    if name in ("xlmr-lstrip", "nmt-added"):
        # every kind of added token but rstrip (which refuses cuts): lstrip, normalized, plain
        base = configs()["xlmr-style" if name == "xlmr-lstrip" else "nmt-lowercase"]
        return variant(base, added_tokens=[dict(a, rstrip=False) for a in ADDED])
    return configs()[name]


SP_NAMES = ["llama2", "gemma3", "llama2-added", "llama2-cyrillic", "llama2-nfc", "jiutian", "botchan", "kyoto", "nmt-lowercase",
            "nmt-added", "xlmr-lstrip"]
PRECOMPILED = {"botchan", "kyoto", "xlmr-lstrip"}      # cut only between ASCII letters
SP_TOKENS = {"llama2": ["<s>"], "llama2-nfc": [], "gemma3": ["<start_of_turn>"], "llama2-added": ["Zorg"],
             "llama2-cyrillic": ["Жук", "ёлка", "</s>"], "jiutian": ["</s>", "<s>"], "botchan": [],
             "kyoto": [], "nmt-lowercase": ["</s>"], "nmt-added": ["<L>", "yo", "[X]", "</s>"],
             "xlmr-lstrip": ["<L>", "yo", "[X]", "</s>"]}


def _script(paragraph):
    import unicodedata
    for ch in paragraph:
        if ch.isalpha():
            return unicodedata.name(ch, "?").split()[0]
    return None


SP_LONG = 200_000        # characters: still over 128 KiB in any script


def _repeat(text, n=SP_LONG):
    return (text * (n // len(text) + 1))[:n]


_SCRIPT_CACHE = {}


def script_texts():
    """Long single-script texts from UDHR's paragraphs (name -> text), and Chinese with spaces."""
    if _SCRIPT_CACHE:
        return _SCRIPT_CACHE
    multi = data("multilingual", "udhr_dev.txt").read_text(encoding="utf-8")
    groups = {}
    for p in multi.split("\n"):
        groups.setdefault(_script(p), []).append(p)
    for s in ("LATIN", "CYRILLIC", "ARABIC", "DEVANAGARI"):
        _SCRIPT_CACHE[s] = _repeat("\n".join(groups[s]) + "\n")
    rng = random.Random(5)
    han = [c for c in "".join(groups["CJK"]) if _script(c) == "CJK"]
    words = ["".join(han[i:i + rng.randint(1, 4)]) for i in range(0, len(han), 3)]
    _SCRIPT_CACHE["CJK spaced"] = _repeat(" ".join(words))
    return _SCRIPT_CACHE


def _cut_expected(name, script):
    if name == "llama2-nfc":
        return False        # NFC keeps a text whole
    if script == "LATIN":
        return True
    return name not in PRECOMPILED


def sp_texts(name):
    """Texts with added tokens glued to the words on either side of spaces (every kind of
    neighbour a cut can have), other neighbours, and texts with no cut."""
    rng = random.Random(7)
    cyr = script_texts()["CYRILLIC"][:60_000].split(" ")
    out = {}
    tokens = SP_TOKENS[name]
    if tokens:
        glued = []
        for w in cyr:
            r, tok = rng.random(), rng.choice(tokens)
            glued.append(w + tok if r < 0.05 else tok + w if r < 0.1 else w)
        out["glued"] = _repeat(" ".join(glued))
    for tok in tokens[:2]:
        out[f"token after each space {tok}"] = _repeat("слово " + tok)
        out[f"token before each space {tok}"] = _repeat("слово" + tok + " ")
    pieces = ["слово", "Ελληνικά", "中文", "日本語", "한국어", "e\u0301", "\u0301", "\u0d4e", "\u0600x", "x\u0600",
              "ǅemal", "ʰa", "שלום", "مرحبا", "👍🏽", "7", "ÉCOLE", "naïve", "ß", "ﬁ", "\u200d", "\\s", "s\\", "ｗｉｄｅ",
              "a\r", "\na", "Zorg", "\u2581", "x\u2581", "\u2581x", "ΣΑΣ",
              "\u212b", "\u2126", "\u1100\u1161", "\u0928\u093c", "\u0929", "\uf900", "\u2f800"]
    out["neighbours"] = "".join(rng.choice(pieces) + rng.choice([" ", " ", " ", "  ", "\n", "", " \u3000", "\u00a0 "])
                                for _ in range(SP_LONG // 4))
    out["NFC changes the letters by spaces"] = _repeat("слово\u212b \u2126 \u212bслово x\u2126 \uf900 ")
    out["no cut: no space"] = "абв" * (SP_LONG // 3)
    out["no cut: double spaces"] = _repeat("слово  word\u3000")
    out["no cut: marks after spaces"] = _repeat("слово \u0301word \u0301")
    return out


_SP_CACHE = {}


def sp_pair(name):
    from tokenizers import Tokenizer as HFTokenizer
    if name not in _SP_CACHE:
        text = _sp_json(name)
        _SP_CACHE[name] = warptok.Tokenizer.from_str(text), HFTokenizer.from_str(text)
    return _SP_CACHE[name]


def parts(tok, text):
    return tok._core.long_parts(text, tok._hf_plain)


@pytest.mark.parametrize("name", SP_NAMES)
def test_sentencepiece_and_unigram_long_texts(name):
    tok, ref = sp_pair(name)
    checks = {s: (t, _cut_expected(name, s)) for s, t in script_texts().items()}
    checks |= {label: (t, False if label.startswith("no cut") else None) for label, t in sp_texts(name).items()}
    for label, (text, cut) in checks.items():
        at = parts(tok, text)
        if cut is not None:
            assert (len(at) > 1) == cut, (label, len(at))
        raw = text.encode()
        for p in at[1:]:                        # at a space, or just past it (Llama-2's Prepend)
            assert raw[p] == 32 or raw[p - 1] == 32, (label, p)
        want = ref.encode(text).ids
        assert tok.encode(text) == want, label
        # the same on one core (a limit keeps a text whole); as an array and a count
        assert tok.encode(text, max_length=10 ** 9) == want, label
        if cut:
            assert tok.encode_to_numpy(text).tolist() == want, label
            assert tok.count(text) == len(want), label


@pytest.mark.parametrize("name", ["jiutian", "xlmr-lstrip"])
def test_sentencepiece_and_unigram_long_texts_in_batches(name):
    tok, ref = sp_pair(name)
    texts = script_texts()
    docs = [texts["CYRILLIC"], "short one", texts["LATIN"], "", sp_texts(name)["neighbours"]]
    want = [ref.encode(d).ids for d in docs]
    for threads in (1, 2):
        assert tok.encode_batch(docs, num_threads=threads) == want
