"""tokenizer.json configurations beyond the common ones, each against HF on the same file
(GPT-2's vocabulary with one part replaced, or a real file that uses the configuration):
split behaviors, chained splits, Digits/Punctuation/Whitespace splits, ByteLevel's prefix
space, added-token flags and passes, split_special_tokens."""

import json

import pytest
from tokenizers import Tokenizer as HFTokenizer

import warptok
import warptok.encodings
from conftest import corpus, data, hf_json, reference

TEXTS = ["Hello, world! It's 2024-05-01 and 12345 items cost $3.50...", "  leading and trailing  ",
         "the-final--countdown", "a\tb\nc\r\nd  e", "ÜBER straße ΣΊΣΥΦΟΣ ǅ 中文 한국어 😀👍🏽",
         "<|begin_of_text|>hi<|eot_id|> <|eot_id|>x", "x <tok>  y<tok>z", "١٢٣ ٤٥ Ⅻ ½", "",
         "don't  STOP   ", "==> <!-- comment --> {\"k\": [1, 2]}"]
LLAMA3_PATTERN = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
                  r"|\s*[\r\n]+|\s+(?!\S)|\s+")


def variant(pre_tokenizer=None, added=None, normalizer=None):
    """GPT-2's tokenizer.json with one part replaced."""
    j = json.loads(hf_json("gpt2-hf"))
    if pre_tokenizer is not None:
        j["pre_tokenizer"] = pre_tokenizer
    if normalizer is not None:
        j["normalizer"] = normalizer
    for tok in added or []:
        j["added_tokens"].append(tok)
    return json.dumps(j)


def split(pattern, behavior="Isolated", invert=False):
    return {"type": "Split", "pattern": {"Regex": pattern}, "behavior": behavior, "invert": invert}


def byte_level(add_prefix_space=False, use_regex=False):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": True, "use_regex": use_regex}


def seq(*steps):
    return {"type": "Sequence", "pretokenizers": list(steps)}


def check_same(text_json, texts=TEXTS, **kwargs):
    ours, ref = warptok.Tokenizer.from_str(text_json), HFTokenizer.from_str(text_json)
    docs = list(texts) + corpus("english")[:20] + corpus("multilingual")[:5]
    for d in docs:
        ids = ref.encode(d, **kwargs).ids
        assert ours.encode(d, **kwargs) == ids, d[:80]
        assert ours.count(d, **kwargs) == len(ids), d[:80]      # normalizers included: count takes encode's paths
    assert ours.encode_batch(docs, **kwargs) == [e.ids for e in ref.encode_batch(docs, **kwargs)]
    return ours, ref


@pytest.mark.parametrize("behavior", ["Isolated", "Removed", "MergedWithPrevious", "MergedWithNext", "Contiguous"])
@pytest.mark.parametrize("invert", [False, True])
@pytest.mark.parametrize("pattern", [r"-", r"\s+", r"\p{N}", LLAMA3_PATTERN])
def test_split_behaviors(pattern, behavior, invert):
    check_same(variant(seq(split(pattern, behavior, invert), byte_level())))


@pytest.mark.parametrize("model", ["deepseek-coder-33b-base", "deepseek-v2", "deepseek-v3", "minimax"])
def test_chained_splits_of_real_files(model):
    # DeepSeek: three to five chained Isolated splits (raw CJK ranges) and Digits;
    # MiniMax: Removed + invert after NFC.
    check_same(hf_json(model).decode())


@pytest.mark.parametrize("step", [
    {"type": "Digits", "individual_digits": False}, {"type": "Digits", "individual_digits": True},
    {"type": "Punctuation", "behavior": "Isolated"}, {"type": "Punctuation", "behavior": "MergedWithNext"},
    {"type": "Whitespace"}, {"type": "WhitespaceSplit"},
])
def test_predicate_splits(step):
    check_same(variant(seq(step, byte_level())))


@pytest.mark.parametrize("add_prefix_space", [False, True])
@pytest.mark.parametrize("use_regex", [False, True])
def test_byte_level_options(add_prefix_space, use_regex):
    check_same(variant(seq(split(r"\n"), byte_level(add_prefix_space, use_regex))))
    check_same(variant(byte_level(add_prefix_space, use_regex)))


@pytest.mark.parametrize("flags", [dict(lstrip=True), dict(rstrip=True), dict(lstrip=True, rstrip=True),
                                   dict(normalized=True), dict(special=True), dict(normalized=True, special=True)])
def test_added_token_flags(flags):
    tok = {"id": 50257, "content": "<tok>", "single_word": False, "lstrip": False, "rstrip": False,
           "normalized": False, "special": False, **flags}
    check_same(variant(added=[tok]))
    check_same(variant(added=[tok], normalizer={"type": "NFC"}))


def test_normalized_pass_runs_after_raw_pass():
    # HF splits normalized=False tokens first; "ab" (normalized) cannot take "b" from "bc".
    toks = [{"id": 50257, "content": "<bc>", "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": False},
            {"id": 50258, "content": "<ab", "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": True, "special": False}]
    check_same(variant(added=toks), texts=["<abc>", "x<abc>x", "<ab <bc> <abc>"])


def test_added_token_already_in_vocabulary_keeps_its_id():
    toks = [{"id": 50257, "content": "bc", "single_word": False, "lstrip": False, "rstrip": False,
             "normalized": False, "special": False}]
    ours, _ = check_same(variant(added=toks), texts=["abc", "bc bcd"])
    assert ours.added_tokens["bc"] != 50257


@pytest.mark.parametrize("name", ["gpt2-hf", "bert", "llama2", "botchan"])
def test_added_token_ids_are_hfs_not_the_files(name):
    """HF does not take an added token's "id" from the file: content in the vocabulary keeps
    its id, new content gets the next id after the vocabulary and the added tokens before
    it, a repeated content its first id. A hand-edited file whose ids disagree (a gap past
    the vocabulary, ids out of order, the id of another vocabulary token) encodes and
    decodes as HF numbers it, on each model family's reader."""
    if name == "bert":
        j = json.loads(data("vocab", "bert-base-uncased", "tokenizer.json").read_bytes())
        in_vocab, other = "hello", "the"
    elif name == "botchan":
        j = json.loads(data("vocab", "sentencepiece", "botchan_en_unigram_1000.tokenizer.json").read_bytes())
        in_vocab, other = "\u2581the", "\u2581a"
    else:
        j = json.loads(hf_json(name))
        in_vocab, other = ("\u0120the", "\u0120a") if name == "gpt2-hf" else ("\u2581the", "\u2581a")
    vocab = j["model"]["vocab"]
    ids = dict(vocab) if isinstance(vocab, dict) else {t: i for i, (t, _) in enumerate(vocab)}
    top = max([len(vocab) - 1] + [a["id"] for a in j["added_tokens"]])

    def tok(content, i, special):
        return {"id": i, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
                "normalized": False, "special": special}

    j["added_tokens"] += [tok("<<gap>>", top + 5, False), tok("<<next>>", top + 1, True),
                          tok(in_vocab, top + 9, False), tok("<<taken>>", ids[other], True),
                          tok("<<gap>>", top + 3, False)]
    text = json.dumps(j)
    ours, ref = warptok.Tokenizer.from_str(text), HFTokenizer.from_str(text)
    for content in ("<<gap>>", "<<next>>", in_vocab, "<<taken>>"):
        assert ours.added_tokens[content] == ref.token_to_id(content), content
    assert ours.added_tokens["<<gap>>"] == max(len(vocab), top + 1)
    docs = ["<<gap>> and <<next>>x", "a<<taken>>b the a", "<<next>><<gap>><<taken>>", "the <<gap>>"]
    for d in docs:
        want = ref.encode(d).ids
        assert ours.encode(d) == want, d
        for skip in (False, True):
            assert ours.decode(want, skip_special_tokens=skip) == ref.decode(want, skip_special_tokens=skip), d


# Added tokens whose "normalized" content the normalizer may change: special or not, with a
# twin of the normalized form (special, not normalized), one already in the vocabulary
# ("Hello"/"Hi"), several characters a normalizer rewrites (case, accents, CJK, width,
# a combining mark, a space, a zero-width space).
NORMALIZED_ADDED = [("NeW", False, True), ("OlD", False, False), ("SpC", True, True), ("SpR", True, False),
                    ("spx", True, True), ("Hello", True, True), ("hello", False, True), ("a b", False, True),
                    ("Über", False, True), ("中文", True, True), ("ＡＢ", False, True), ("e\u0301", True, True),
                    ("\u00e9", False, True), ("<s>", True, True), ("[MASK]", False, True), ("Hi", True, True),
                    ("  x ", True, True), ("x\u200by", False, True), ("ZzZ", True, True), ("zzz", True, False)]


def with_normalized_added(name: str) -> str:
    """A real tokenizer.json with NORMALIZED_ADDED appended (HF numbers them)."""
    if name == "bert":
        j = json.loads(data("vocab", "bert-base-uncased", "tokenizer.json").read_bytes())
    elif name == "botchan":
        j = json.loads(data("vocab", "sentencepiece", "botchan_en_unigram_1000.tokenizer.json").read_bytes())
    else:
        j = json.loads(hf_json(name))
    j["added_tokens"] += [{"id": 0, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                           "normalized": norm, "special": special} for c, special, norm in NORMALIZED_ADDED]
    return json.dumps(j)


@pytest.mark.parametrize("name", ["bert", "llama2", "llama3", "qwen3", "botchan", "gemma3"])
def test_normalized_added_tokens_decode_as_hf(name):
    """HF decodes a "normalized" added token as its content after the normalizer (BERT's
    "NeW" as "new", Llama-2's as " NeW", Qwen3's "e" + U+0301 as NFC's "é" through the
    ByteLevel decoder), and skip_special_tokens drops a token only when that string is a
    special token's content: a special "SpC" that decodes "spc" stays, one whose form is
    another special's content ("ZzZ" -> "zzz" on BERT) goes. Over sequences mixing them with
    ordinary tokens, both skip settings."""
    import random

    text = with_normalized_added(name)
    ours, ref = warptok.Tokenizer.from_str(text), HFTokenizer.from_str(text)
    added = sorted({ref.token_to_id(c) for c, _, _ in NORMALIZED_ADDED})
    assert [ours.added_tokens[c] for c, _, _ in NORMALIZED_ADDED] == [ref.token_to_id(c) for c, _, _ in NORMALIZED_ADDED]
    plain = ref.encode("Hello world, the café is 中文 open.", add_special_tokens=False).ids
    rng = random.Random(0)
    seqs = [[i] for i in added] + [[plain[0], i, plain[-1]] for i in added]
    seqs += [rng.sample(added + plain, 8) for _ in range(200)]
    for ids in seqs:
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip), (ids, skip)
            got = ours.decode_bytes(ids, skip_special_tokens=skip).decode("utf-8", "replace")
            assert got == ref.decode(ids, skip_special_tokens=skip), (ids, skip)


def test_split_special_tokens():
    text = hf_json("qwen2.5").decode()
    ours, ref = warptok.Tokenizer.from_str(text), HFTokenizer.from_str(text)
    docs = ["<|im_start|>user\nhi<|im_end|>", "a<|endoftext|>b <tool_call>x</tool_call>"] + TEXTS
    ref.encode_special_tokens = True
    assert [ours.encode(d, split_special_tokens=True) for d in docs] == [ref.encode(d).ids for d in docs]
    assert ours.encode_batch(docs, split_special_tokens=True) == [ref.encode(d).ids for d in docs]
    ref.encode_special_tokens = False
    assert [ours.encode(d) for d in docs] == [ref.encode(d).ids for d in docs]


@pytest.mark.parametrize("form", ["NFC", "NFD", "NFKC", "NFKD"])
def test_unicode_normalizers(form):
    check_same(variant(normalizer={"type": form}), texts=TEXTS + ["ﬁ ① ｶ ẛ̣ e\u0301 \u1100\u1161"])


@pytest.mark.parametrize("normalizer", [
    {"type": "Lowercase"},
    {"type": "Replace", "pattern": {"String": " "}, "content": "\u2581"},
    {"type": "Replace", "pattern": {"Regex": r"\s+"}, "content": " "},
    {"type": "Replace", "pattern": {"Regex": r"^\p{Lu}"}, "content": "X"},
    {"type": "Prepend", "prepend": "\u2581"},
    {"type": "Strip", "strip_left": True, "strip_right": True},
    {"type": "Strip", "strip_left": False, "strip_right": True},
    {"type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
                                         {"type": "Prepend", "prepend": " "}]},
    {"type": "Sequence", "normalizers": []},
])
def test_text_normalizers(normalizer):
    tok = {"id": 50257, "content": "<tok>", "single_word": False, "lstrip": False, "rstrip": False,
           "normalized": True, "special": False}
    texts = TEXTS + ["ΣΑΣ İstanbul ǅ Ɤ 𐵐 ß", " \u3000x\u00a0 ", "A<tok>B <TOK> <|endoftext|> C"]
    check_same(variant(normalizer=normalizer, added=[tok]), texts=texts)


def test_byte_fallback_is_a_no_op_on_a_complete_byte_alphabet():
    j = json.loads(hf_json("gpt2-hf"))
    j["model"]["byte_fallback"] = True
    check_same(json.dumps(j))


def test_first_character_dispatch_equals_plain_alternation():
    """The ALT fast path (alternatives filtered by their first character) against the
    plain backtracking chain, on whole corpora."""
    from warptok._compile import pattern as _pattern
    from warptok._compile import tiktoken_file as _load

    for pattern in (LLAMA3_PATTERN, warptok.encodings.O200K_PATTERN, warptok.encodings.CL100K_PATTERN):
        fast = _load.tiktoken_spec(_load.load_tiktoken_ranks(warptok.encodings.BUNDLED_GPT2), pattern, None)
        try:
            _pattern.FAST_SCANNERS = False        # the generic matcher on both sides
            tok_fast = warptok.Tokenizer(fast)
            _pattern.FIRST_CHARACTER_DISPATCH = False
            tok_plain = warptok.Tokenizer(fast)
        finally:
            _pattern.FIRST_CHARACTER_DISPATCH = True
            _pattern.FAST_SCANNERS = True
        for doc in corpus("english")[:300] + corpus("multilingual") + corpus("adversarial")[:400]:
            assert tok_fast.pre_tokenize(doc) == tok_plain.pre_tokenize(doc)


def test_normalizing_path_equals_fast_path():
    """Texts the C path takes (already normalized) give the same ids through the Python
    path that normalizes between added tokens (Qwen2.5 with NFKC, which the core
    leaves to that path)."""
    config = json.loads(hf_json("qwen2.5"))
    config["normalizer"] = {"type": "NFKC"}
    tok = warptok.Tokenizer.from_str(json.dumps(config))
    assert tok._normalizer is not None
    docs = TEXTS + corpus("multilingual")[:40] + ["<|im_start|>user\nhé<|im_end|>"]
    fast = [tok.encode(d) for d in docs]
    options = tok._call_options(True, None, (), "all")
    assert [tok._encode_normalizing([d], *options, 1)[0] for d in docs] == fast
    assert tok._encode_normalizing(docs, *options, 2) == fast      # every segment in one pool batch


def test_core_nfc_equals_reference():
    """Qwen2.5's NFC runs in the core, on each segment between raw-text added tokens:
    ids equal HF's on text that needs it (decomposed, marks out of order, marks next to
    added tokens), one by one, in batches and flat."""
    import unicodedata

    tok, ref = warptok.Tokenizer.from_str(hf_json("qwen2.5")), reference("qwen2.5")
    assert tok._normalizer is None                  # nothing left to the Python path
    docs = corpus("multilingual")[:150]
    docs += [unicodedata.normalize("NFD", d) for d in docs[:150]]
    docs += ["\u0301<|im_start|>\u0301user\u0323\u0302\nA\u0323\u0302<|im_end|>\u0301", "\u1100\u1161\u11a8 \u0344",
             "e" + "\u0301" * 5000, "<|endoftext|>\u0301e\u0301"]
    want = [e.ids for e in ref.encode_batch(docs)]
    assert [tok.encode(d) for d in docs] == want
    assert tok.encode_batch(docs, num_threads=2) == want
    ids, offsets = tok.encode_batch_flat(docs, num_threads=2)
    assert [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(docs))] == want


def test_compiled_vocabulary_reader_equals_the_byte_level_alphabet():
    # _core.bytelevel_vocab is the compiled form of _bytelevel.to_bytes over a whole
    # vocabulary: both must agree on every real token and on characters at the edges.
    from warptok._compile import bytelevel as _bytelevel
    from warptok._native import _core

    edge = {chr(c) for c in (0, 0x20, 0x7F, 0xA0, 0xAD, 0xFF, 0x100, 0x143, 0x144, 0x4E00, 0x1F600)}
    for name in ("llama3", "qwen3"):
        vocab = json.loads(hf_json(name))["model"]["vocab"]
        vocab.update({w: 10**6 + i for i, w in enumerate(sorted(edge | {"Ġ" + c for c in edge} | {""}))})
        token_bytes, bpe_ids = _core.bytelevel_vocab(vocab, _bytelevel.char_byte_table())
        for tok, i in vocab.items():
            b = _bytelevel.to_bytes(tok)
            assert token_bytes[i] == (b if b is not None else tok.encode()), tok
            assert (i in bpe_ids) == (b is not None), tok


def test_tokens_longer_than_any_buffer_load_and_encode_as_hf():
    # Merges whose parts run to 1024 bytes and a token of 2048: the compiled merge
    # reader sizes its buffer by the longest token.
    tokenizers = pytest.importorskip("tokenizers")
    j = json.loads(hf_json("gpt2-hf"))
    vocab, merges = j["model"]["vocab"], j["model"]["merges"]
    for k in range(1, 12):
        half, whole = "Ġ" * (1 << (k - 1)), "Ġ" * (1 << k)
        if whole not in vocab:
            vocab[whole] = len(vocab)
            merges.append(f"{half} {half}")
    text = json.dumps(j)
    ours, ref = warptok.Tokenizer.from_str(text), tokenizers.Tokenizer.from_str(text)
    assert vocab["Ġ" * 2048] in ours.encode(" " * 2049 + "x")
    for sample in (" " * 2049 + "x", " " * 5000, "a" + " " * 1500 + "b"):
        assert ours.encode(sample) == ref.encode(sample).ids
