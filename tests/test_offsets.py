"""Token offsets and word ids (Tokenizer.encode_with_offsets, warptok.hf's
return_offsets_mapping) against HF tokenizers 0.23's Encoding.offsets / word_ids and
transformers: every family the other tests load (byte-level BPE, SentencePiece-style BPE,
WordPiece, Unigram, with their normalizers, added tokens and post-processors), on samples
of big.txt, UDHR and the adversarial files (NormalizationTest's strings included), with a
seeded hypothesis fuzz per family; tiktoken files against tiktoken's own offsets."""

from __future__ import annotations

import json
import random
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer

import warptok
from conftest import corpus, data, hf_json
from warptok._compile import charmap

REP = "\u2581"


# ---------------------------------------------------------------- configurations

def _gpt2(**parts) -> str:
    j = json.loads(hf_json("gpt2-hf"))
    j.update(parts)
    return json.dumps(j)


def _added(content, i, special=False, normalized=False, lstrip=False, rstrip=False):
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


def _byte_level(add_prefix_space=False, trim=True):
    return {"type": "ByteLevel", "add_prefix_space": add_prefix_space, "trim_offsets": trim, "use_regex": True}


def _roberta(trim=True, add_prefix_space=True):
    return {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 50256], "cls": ["<|endoftext|>", 50256],
            "trim_offsets": trim, "add_prefix_space": add_prefix_space}


def _gpt2_added():
    return json.loads(hf_json("gpt2-hf"))["added_tokens"] + [
        _added("<mask>", 50257, special=True, lstrip=True), _added("<R>", 50258, special=True, rstrip=True),
        _added(" hello", 50259, normalized=True), _added("wor", 50260)]


def _bert(**parts) -> str:
    j = json.loads(data("vocab", "bert-base-uncased", "tokenizer.json").read_text(encoding="utf-8"))
    j.update(parts)
    return json.dumps(j)


def _unigram(name):
    import test_unigram
    return test_unigram.configs()[name]


def _sp_bpe(name):
    import test_sentencepiece_bpe
    return test_sentencepiece_bpe.configs()[name]


CONFIGS = {
    # byte-level BPE
    "gpt2": lambda: hf_json("gpt2-hf").decode(),
    "llama3": lambda: hf_json("llama3").decode(),
    "qwen3": lambda: hf_json("qwen3").decode(),                          # NFC
    "gpt2-bytelevel-trim-prefix-space": lambda: _gpt2(pre_tokenizer=_byte_level(True),
                                                      post_processor=_byte_level(True, True)),
    # ByteLevel's prefix space goes on every split of the Split before it
    "gpt2-split-then-prefix-space": lambda: _gpt2(pre_tokenizer={"type": "Sequence", "pretokenizers": [
        {"type": "Split", "pattern": {"Regex": "\\n"}, "behavior": "Isolated", "invert": False},
        _byte_level(True)]}),
    "gpt2-roberta-trim": lambda: _gpt2(pre_tokenizer=_byte_level(False), post_processor=_roberta(True, False),
                                       added_tokens=_gpt2_added()),
    "gpt2-roberta-prefix-space": lambda: _gpt2(pre_tokenizer=_byte_level(True), post_processor=_roberta(True, True),
                                               added_tokens=_gpt2_added()),
    "gpt2-nfkc-added": lambda: _gpt2(normalizer={"type": "NFKC"}, added_tokens=_gpt2_added(),
                                     post_processor=_byte_level(False, True)),
    "gpt2-lowercase-accents": lambda: _gpt2(normalizer={"type": "Sequence", "normalizers": [
        {"type": "NFD"}, {"type": "Lowercase"}, {"type": "StripAccents"},
        {"type": "Replace", "pattern": {"Regex": "\\s+"}, "content": " "}]}, added_tokens=_gpt2_added()),
    "gpt2-prepend-strip-replace": lambda: _gpt2(normalizer={"type": "Sequence", "normalizers": [
        {"type": "Prepend", "prepend": "  "}, {"type": "Strip", "strip_left": False, "strip_right": True},
        {"type": "Replace", "pattern": {"String": "e"}, "content": "EEE"}]}, added_tokens=_gpt2_added()),
    # Replace of one character by one of another UTF-8 length: spans followed without building them
    "gpt2-replace-one-for-one": lambda: _gpt2(normalizer={"type": "Sequence", "normalizers": [
        {"type": "Replace", "pattern": {"String": "a"}, "content": "\u00e4"},
        {"type": "Replace", "pattern": {"String": "\u00e9"}, "content": "e"}]}, added_tokens=_gpt2_added()),
    # SentencePiece-style BPE
    "llama2": lambda: hf_json("llama2").decode(),
    "gemma3": lambda: hf_json("gemma3").decode(),
    "sp-bpe-first-added": lambda: _sp_bpe("first-split-added"),
    "sp-bpe-missing-bytes": lambda: _sp_bpe("missing-bytes-fuse"),
    "sp-bpe-never-unk": lambda: _sp_bpe("never-split-unk"),
    "sp-bpe-dropped": lambda: _sp_bpe("llama-style-glued-drop"),
    "sp-bpe-glued-unk": lambda: _sp_bpe("llama-style-glued-unk"),
    "sp-bpe-prefix-suffix": lambda: _sp_bpe("prefix-and-suffix"),
    "sp-bpe-python-normalizer": lambda: _sp_bpe("first-python-normalizer"),
    # WordPiece
    "bert-uncased": lambda: _bert(),
    "bert-cased-strip-accents": lambda: _bert(normalizer=dict(
        type="BertNormalizer", clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=False)),
    "bert-no-clean-no-chinese": lambda: _bert(normalizer=dict(
        type="BertNormalizer", clean_text=False, handle_chinese_chars=False, strip_accents=False, lowercase=True)),
    "bert-replace-one-for-one": lambda: _bert(normalizer={"type": "Replace", "pattern": {"String": "\u00e9"},
                                                         "content": "E"}),
    "bert-sequence-whitespace": lambda: _bert(pre_tokenizer={"type": "Whitespace"}, normalizer={
        "type": "Sequence", "normalizers": [{"type": "NFKC"}, {"type": "Lowercase"},
                                            {"type": "Replace", "pattern": {"String": "er"}, "content": "ER"},
                                            {"type": "Prepend", "prepend": "a "}]}),
    # Unigram
    "botchan": lambda: _unigram("botchan"),
    "kyoto": lambda: _unigram("kyoto"),
    "jiutian": lambda: hf_json("jiutian-139moe-chat").decode(),
    "unigram-t5": lambda: _unigram("t5-style"),
    "unigram-xlmr-added": lambda: _unigram("xlmr-style"),
    "unigram-albert": lambda: _unigram("albert-style"),
    "unigram-byte-fallback": lambda: _unigram("byte_fallback-first"),
    "unigram-unk-elsewhere": lambda: _unigram("unk-elsewhere"),
    "unigram-whitespace-split": lambda: _unigram("whitespace-split"),
}
NAMES = list(CONFIGS)


@lru_cache(maxsize=None)
def pair(name):
    text = CONFIGS[name]()
    return warptok.Tokenizer.from_str(text), HFTokenizer.from_str(text)


# ---------------------------------------------------------------- texts

def _normalization_test_strings(n, seed):
    lines = [line for line in data("adversarial", "NormalizationTest.txt").read_text(encoding="utf-8").split("\n")
             if line and not line.startswith(("#", "@"))]
    picked = random.Random(seed).sample(lines, n)
    return [" x".join("".join(chr(int(h, 16)) for h in f.split()) for f in line.split(";")[:5]) for line in picked]


TRICKY = ["", " ", "  a  ", "Hello <mask> world<R>  x", " hello  world wor", "<|endoftext|> hi<|endoftext|>",
          "[CLS] hello [SEP] world[MASK]x", "<s>x</s> <unk>", "x" * 300,
          "héllo\u0301 ÅSTRÖM ǅ ﬁ İstanbul ß",
          "中文 naïve 한국어", "😀👍🏽 \U0001F468\u200d\U0001F469", "\t\n\r \u3000\u00a0x", REP + "a " + REP * 2,
          "a\u0345\u0301 e\u0301\u0323", "\ufffd\x00\x7f\u0085"]


@lru_cache(maxsize=None)
def texts() -> list:
    rng = random.Random(24)
    adversarial = [d[:2000] for d in rng.sample(corpus("adversarial"), 40)]
    multilingual = [d[:1500] for d in rng.sample(corpus("multilingual"), 25)]
    return (rng.sample(corpus("english"), 25) + multilingual + adversarial + _normalization_test_strings(150, 24)
            + TRICKY)


def check(ours, ref, docs, **kwargs):
    """ids, offsets and word ids of every text equal HF's; one batch call, compared text by text."""
    hf_kwargs = {k: v for k, v in kwargs.items() if k == "add_special_tokens"}
    got = ours.encode_batch_with_offsets(docs, word_ids=True, **kwargs)
    want = ref.encode_batch(docs, **hf_kwargs)
    for text, g, w in zip(docs, got, want):
        assert g.ids == w.ids, text[:80]
        assert g.offsets == [tuple(o) for o in w.offsets], text[:80]
        assert g.word_ids == w.word_ids, text[:80]


# ---------------------------------------------------------------- every family, against HF

@pytest.mark.parametrize("name", NAMES)
def test_offsets_equal_hf(name):
    ours, ref = pair(name)
    check(ours, ref, texts())


@pytest.mark.parametrize("name", ["gpt2", "qwen3", "gpt2-roberta-trim", "llama2", "bert-uncased",
                                  "unigram-xlmr-added", "sp-bpe-first-added"])
def test_options(name):
    ours, ref = pair(name)
    docs = texts()[::4]
    check(ours, ref, docs, add_special_tokens=False)
    # split_special_tokens: HF's encode_special_tokens
    split = HFTokenizer.from_str(ref.to_str())
    split.encode_special_tokens = True
    got = ours.encode_batch_with_offsets(docs, split_special_tokens=True)
    assert [(g.ids, g.offsets) for g in got] == [(w.ids, [tuple(o) for o in w.offsets])
                                                for w in split.encode_batch(docs)]
    # max_length: HF's truncation keeps room for the post-processor's tokens
    for max_length in (7, 40):
        cut = HFTokenizer.from_str(ref.to_str())
        cut.enable_truncation(max_length)
        got = ours.encode_batch_with_offsets(docs, max_length=max_length, word_ids=True)
        assert [(g.ids, g.offsets, g.word_ids) for g in got] == \
            [(w.ids, [tuple(o) for o in w.offsets], w.word_ids) for w in cut.encode_batch(docs)]
    # one text at a time is the batch; word ids only when asked
    for text, g in zip(docs[:10], ours.encode_batch_with_offsets(docs[:10])):
        one = ours.encode_with_offsets(text)
        assert one == g and one.word_ids is None
        assert one.ids == ours.encode(text)


def test_tiktoken_encodings_against_tiktoken():
    """tiktoken files have no HF reference: the starts are tiktoken's decode_with_offsets
    (the character that holds a token's first byte), the ends the end of the character that
    holds its last byte; GPT-2's equal HF's on the same vocabulary."""
    pytest.importorskip("tiktoken")
    from conftest import reference

    docs = texts()[::3]
    for name in ("cl100k_base", "o200k_base"):
        tok, ref = warptok.get_encoding(name), reference(name)
        for text, got in zip(docs, tok.encode_batch_with_offsets(docs, allowed_special="all", word_ids=True)):
            assert got.ids == ref.encode(text, allowed_special="all")
            _, starts = ref.decode_with_offsets(got.ids)
            assert [s for s, _ in got.offsets] == starts, text[:80]
            data_ = text.encode("utf-8")
            char_of = [i for i, c in enumerate(text) for _ in c.encode("utf-8")]
            at, ends = 0, []
            for i in got.ids:
                at += len(ref.decode_single_token_bytes(i))
                ends.append(char_of[at - 1] + 1)
            assert [e for _, e in got.offsets] == ends and at == len(data_), text[:80]
            pieces = tok.pre_tokenize(text)
            assert got.word_ids[-1:] in ([], [len(pieces) - 1]) or "<|" in text
    # GPT-2's file trims offsets (its ByteLevel post-processor): without it, HF's are tiktoken's
    untrimmed = HFTokenizer.from_str(_gpt2(post_processor=_byte_level(False, False)))
    gpt2 = warptok.get_encoding("gpt2")
    for a, b in zip(gpt2.encode_batch_with_offsets(docs, word_ids=True), untrimmed.encode_batch(docs)):
        assert (a.ids, a.offsets, a.word_ids) == (b.ids, [tuple(o) for o in b.offsets], b.word_ids)


# ---------------------------------------------------------------- fuzz

ALPHABET = list("aZ0 9'sS\n\r\t .,!?-_=/\\<>|$+^`~") + [
    "\u00a0", "\u3000", "\u0301", "\u0323", "\u0345", "\u4e2d", "\u6587", "\u3042", "\uac00", "\u1100\u1161",
    "\u0410", "\u03a3", "\u0130", "\u00df", "\ufb01", "\u01c5", "\U0001F600", "\U0001F3FD", "\u200d", "e\u0301",
    "\ufffd", "\x00", "\x7f", "\u0085", "\uf900", "\U0001d165\U0001d16d", "\u0e01\u0e34", REP, "  ", "é",
    "<|endoftext|>", "<mask>", "<R>", " hello", "wor", "[CLS]", "[MASK]", "##", "<s>", "</s>", "<unk>", "[X]",
    "yo", "<L>", "\u2163", "\uff21", "\u00bd",
]


@pytest.mark.parametrize("name", ["gpt2-roberta-prefix-space", "gpt2-split-then-prefix-space", "qwen3",
                                  "gpt2-prepend-strip-replace", "llama2",
                                  "sp-bpe-missing-bytes", "sp-bpe-dropped", "bert-cased-strip-accents",
                                  "bert-sequence-whitespace", "unigram-xlmr-added", "unigram-albert",
                                  "unigram-byte-fallback", "jiutian"])
def test_fuzz(name):
    ours, ref = pair(name)

    @settings(max_examples=80, deadline=None, derandomize=True, database=None,
              suppress_health_check=list(HealthCheck))
    @given(st.lists(st.sampled_from(ALPHABET), max_size=24))
    def run(parts):
        check(ours, ref, ["".join(parts)])
    run()


# Characters SentencePiece's charsmaps delete (zero-width, soft hyphen, controls), expand
# (ligatures, circled and Roman numbers, squared units) or fold (fullwidth, halfwidth kana),
# and grapheme clusters of several characters, for Precompiled among other steps
PRECOMPILED_ALPHABET = list("ab xyZ.") + [
    "  ", "\t", "\n", "\r\n", "\u3000", "\u00a0", "\u200b", "\u00ad", "\u200d", "\u200c", "\ufeff", "\u2060",
    "\x00", "\x01", "\x1f", "\x7f", "\x85", "\u009f", "\uff21\uff22\uff23", "\uff58", "\ufb01", "\ufb03", "\u0301",
    "\u0308", "\u2460", "\u2473", "\u2168", "\u3392", "\uff76\uff9e", "\uff9f", "e\u0301", "\u00bd", "\U0001d400",
    "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\U0001F44D\U0001F3FD", "\U0001F1E6\U0001F1E8", "\u2764\ufe0f",
    "\u65e5\u672c", "\u1100\u1161\u11a8", "\u0915\u094d\u0937\u093f", REP,
]


def test_precompiled_among_other_steps():
    """Precompiled with the steps around it that remove, insert or move characters (Replace
    that deletes or expands, Prepend before it, Strip on both sides, a second Precompiled):
    offsets and word ids as HF's on texts made of what the charsmaps change."""
    import test_unigram as tu

    bot = tu.real("botchan_en_unigram_1000")
    strip = {"type": "Strip", "strip_left": True, "strip_right": True}
    normalizers = [
        tu.seq({"type": "Replace", "pattern": {"Regex": "[\u200b\u00ad]+"}, "content": "--"}, tu.precompiled("nmt_nfkc"),
               strip, {"type": "Replace", "pattern": {"String": "ab"}, "content": ""}, tu.SQUEEZE_REP),
        tu.seq({"type": "Prepend", "prepend": REP}, tu.precompiled("nfkc_cf"), tu.SQUEEZE, tu.precompiled("nmt_nfkc"),
               tu.STRIP_RIGHT),
    ]
    rng = random.Random(11)
    docs = ["".join(rng.choice(PRECOMPILED_ALPHABET) for _ in range(rng.randint(1, 20))) for _ in range(1500)]
    for normalizer in normalizers:
        text = tu.variant(bot, normalizer=normalizer)
        check(warptok.Tokenizer.from_str(text), HFTokenizer.from_str(text), docs)


# ---------------------------------------------------------------- refusals and API

def test_refused_configuration_names_its_part():
    # Metaspace after other splits: HF prepends per piece of the earlier splits, which warptok does not follow
    tok = warptok.Tokenizer.from_str(_sp_bpe("split-then-first"))
    with pytest.raises(warptok.errors.NotImplementedError, match="Metaspace"):
        tok.encode_with_offsets("a-b")
    assert isinstance(warptok.errors.NotImplementedError("x"), NotImplementedError)


def test_arguments():
    ours, _ = pair("gpt2")
    with pytest.raises(TypeError):
        ours.encode_batch_with_offsets("a str")
    with pytest.raises(TypeError):
        ours.encode_with_offsets(b"bytes")
    with pytest.raises(ValueError):
        ours.encode_with_offsets("a", max_length=-1)
    with pytest.raises(UnicodeEncodeError):
        ours.encode_with_offsets("\ud800")
    tik = warptok.get_encoding("cl100k_base")
    with pytest.raises(ValueError, match="disallowed special token"):
        tik.encode_with_offsets("<|endoftext|>")
    ids, offsets, words = tik.encode_with_offsets("a<|endoftext|>b", allowed_special="all", word_ids=True)
    assert ids == tik.encode("a<|endoftext|>b", allowed_special="all") and offsets == [(0, 1), (1, 14), (14, 15)]
    assert words == [0, 1, 2]


# ---------------------------------------------------------------- warptok.hf against transformers

HF_OPTIONS = [{}, dict(add_special_tokens=False), dict(truncation=True, max_length=6), dict(padding=True),
              dict(padding=True, padding_side="left", return_length=True, return_token_type_ids=True),
              dict(padding="max_length", max_length=12, truncation=True, return_tensors="np"),
              dict(return_tensors="np"), dict(split_special_tokens=True)]


@pytest.mark.parametrize("name", ["qwen-2.5", "janus-1.3b", "jiutian-139moe-chat"])
@pytest.mark.parametrize("side", ["right", "left"])
def test_hf_return_offsets_mapping(name, side):
    import test_hf
    from warptok import hf

    ref = test_hf.reference(name, truncation_side=side)
    ours = hf.from_transformers(ref)
    docs = test_hf.texts_for(ref)
    for kwargs in HF_OPTIONS:
        if "padding" in kwargs and ref.pad_token is None:
            continue
        for inp in (docs, docs[0], docs[3], "", [""]):
            a = test_hf.run(lambda: ours(inp, return_offsets_mapping=True, **kwargs))
            b = test_hf.run(lambda: ref(inp, return_offsets_mapping=True, **kwargs))
            test_hf.same(a, b, f"{name} {kwargs}")
            rows = inp if isinstance(inp, list) else [inp]
            for i, text in enumerate(rows):
                assert a.word_ids(i) == b.word_ids(i), (kwargs, i)
                width = len(b.word_ids(i))
                assert [a.token_to_chars(i, t) for t in range(width)] == \
                    [b.token_to_chars(i, t) for t in range(width)]
                step = max(1, len(text) // 40)
                assert [a.char_to_token(i, c) for c in range(0, len(text) + 1, step)] == \
                    [b.char_to_token(i, c) for c in range(0, len(text) + 1, step)]
    with pytest.raises(ValueError):
        ours("a").word_ids()


# ---------------------------------------------------------------- fast paths against the general path

EDGES = [
    "", " ", "   ", REP, REP * 3, " a", "a ", "a  b", "  a  b  ", REP + "a " + REP * 2 + "b",
    "café cafe\u0301 naïve ÅSTRÖM Ǆ ﬁne ﬀ ½ ℌ Ａｂｃ ｶﾀｶﾅ",            # precomposed, decomposing, compatibility
    "a\u0345\u0301 e\u0301\u0323 o\u0308\u0304 \u1e0b\u0323 \u0301start",     # marks to reorder, a leading mark
    "Déclaration universelle: égalité, ÉTÉ, Ǆ ǅ, Ångström, Ελληνικά Άλφα ΐ, Ёлка, Straße",   # each strips to one
    "égalité İstanbul", "égalité \u0301", "égalité 中文",
    "\u200bzero\u200b width\u200d\ufeff joiners \u00ad soft",                    # characters a normalizer removes
    "\u200b\u200bx", "\u200b", "\x00\x01x\x7f",
    "中文字符 漢字 かな カナ 한국어 ไทย हिन्दी مرحبا",                       # unknown to small vocabularies
    "😀👍🏽 \U0001F468\u200d\U0001F469\u200d\U0001F467 🇫🇷 \U0001F3F3\ufe0f\u200d\U0001F308",  # byte fallback
    "\r\n\r\nx\r\ny \t\u3000\u00a0\u2028z",
    "<s> x</s>y<unk> <unk><unk> [UNK]", "<0x41> <0xE2> <0x>",
    "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx qqqqzzzz",
]

FAST_PATH_NAMES = ["llama2", "gemma3", "sp-bpe-first-added", "sp-bpe-missing-bytes", "sp-bpe-never-unk",
                   "sp-bpe-dropped", "sp-bpe-glued-unk", "sp-bpe-prefix-suffix", "botchan", "kyoto", "jiutian",
                   "unigram-t5", "unigram-xlmr-added", "unigram-albert", "unigram-byte-fallback",
                   "unigram-unk-elsewhere", "unigram-whitespace-split", "bert-uncased", "bert-cased-strip-accents",
                   "bert-sequence-whitespace", "bert-replace-one-for-one", "gpt2-replace-one-for-one"]


def _general_only(monkeypatch):
    """Every fast path of warptok.offsets off: the general path alone."""
    from warptok import offsets
    for name in ("_tiled", "_around_unknown", "_wordpiece_arrays", "_wordpiece"):
        monkeypatch.setattr(offsets.Offsets, name, lambda self, *args: None)
    monkeypatch.setattr(offsets, "_precompiled",
                        lambda a, step: offsets._precompiled_general(a, offsets._precompiled_of(step)[0]))
    monkeypatch.setattr(offsets, "_unicode_form", offsets._unicode_form_general)
    monkeypatch.setattr(offsets, "_between_spaces", lambda text, found: None)
    monkeypatch.setattr(offsets, "_one_for_one", lambda steps, text: False)
    chinese = charmap._bert_data()[2]
    monkeypatch.setattr(offsets._Aligned, "spaced",
                        lambda self, runs: self.per_char(lambda c: " " + c + " " if chinese.match(c) else c))
    monkeypatch.setattr(offsets._Aligned, "removed",
                        lambda self, runs, gone: self.per_char(lambda c: "" if ord(c) in gone else c))


def _edge_texts() -> list:
    rng = random.Random(7)
    mixed = []
    for _ in range(60):     # the edges glued together in random order, with real text between
        parts = rng.sample(EDGES, 4) + [rng.choice(corpus("english"))[:200], rng.choice(corpus("multilingual"))[:200]]
        rng.shuffle(parts)
        mixed.append(rng.choice(["", " ", "  "]).join(parts))
    return EDGES + mixed + texts()[::3]


@pytest.mark.parametrize("name", FAST_PATH_NAMES)
def test_fast_paths_equal_general_path(name, monkeypatch):
    """Each fast path (tokens laid from per-id lengths, Unigram's stretches between unknown
    tokens laid that way, Precompiled followed only around what it changes, NFD only around
    what decomposes or in place, pieces found without str.find, parts normalized character
    for character left lazy, CJK spacing and mark removal by runs) gives what the general
    path gives, and both what HF gives; and some fast path is taken."""
    from warptok import offsets
    text = CONFIGS[name]()
    ours = warptok.Tokenizer.from_str(text)
    docs = _edge_texts()
    taken = []
    with monkeypatch.context() as m:
        for method in ("_tiled", "_around_unknown", "_wordpiece_arrays"):
            def counted(self, *args, _f=getattr(offsets.Offsets, method), _name=method):
                got = _f(self, *args)
                if got is not None:
                    taken.append(_name)
                return got
            m.setattr(offsets.Offsets, method, counted)
        fast = ours.encode_batch_with_offsets(docs, word_ids=True)
    if name not in ("sp-bpe-prefix-suffix", "gpt2-replace-one-for-one"):   # (BPE prefix, suffix: the general path)
        assert taken, name
    with monkeypatch.context() as m:
        _general_only(m)
        general = warptok.Tokenizer.from_str(text).encode_batch_with_offsets(docs, word_ids=True)
    for d, f, g in zip(docs, fast, general):
        assert f == g, (name, d[:80])
    check(ours, HFTokenizer.from_str(text), docs)
