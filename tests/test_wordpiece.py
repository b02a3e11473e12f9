"""WordPiece (BERT) and the parts that come with it, against HF tokenizers: BertNormalizer
in every configuration (on every code point, and on the corpora), BertPreTokenizer and the
other class splits, the WordPiece model's options, BertProcessing, the WordPiece decoder,
and a differential fuzz."""

import json
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import normalizers as N
from tokenizers import pre_tokenizers as P

import warptok
from conftest import corpus, data


@lru_cache(maxsize=None)
def bert() -> str:
    """bert-base-uncased's tokenizer.json (a call, not a module constant: the data is fetched on first use)."""
    return data("vocab", "bert-base-uncased", "tokenizer.json").read_text(encoding="utf-8")


CPS = [c for c in range(1, 0x110000) if not 0xD800 <= c < 0xE000]


def variant(normalizer=None, pre_tokenizer=None, model=None, **extra):
    j = json.loads(bert())
    if normalizer is not None:
        j["normalizer"] = normalizer
    if pre_tokenizer is not None:
        j["pre_tokenizer"] = pre_tokenizer
    if model:
        j["model"].update(model)
    j.update(extra)
    return json.dumps(j)


@lru_cache(maxsize=8)
def pair(text_json):
    return warptok.Tokenizer.from_str(text_json), HFTokenizer.from_str(text_json)


def docs():
    return corpus("english")[:400] + corpus("multilingual") + corpus("adversarial")[:1500]


def check_docs(text_json, texts, **kwargs):
    ours, ref = pair(text_json)
    expected = [e.ids for e in ref.encode_batch(texts, **kwargs)]
    got = [ours.encode(t, **kwargs) for t in texts]
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert not bad, f"{len(bad)} of {len(texts)} differ; first: {texts[bad[0]][:120]!r}"
    assert ours.encode_batch(texts, **kwargs) == expected
    return ours, ref, expected


def test_bert_base_uncased_corpora():
    ours, ref, expected = check_docs(bert(), docs())
    for ids in expected[:100] + expected[-100:]:
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip)
    assert ours.count(docs()[0]) == len(expected[0])
    ids, offsets = ours.encode_batch_flat(docs()[:50])
    assert [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(50)] == expected[:50]


@pytest.mark.parametrize("clean_text", [True, False])
@pytest.mark.parametrize("handle_chinese_chars", [True, False])
@pytest.mark.parametrize("strip_accents", [None, True, False])
@pytest.mark.parametrize("lowercase", [True, False])
def test_bert_normalizer_every_code_point(clean_text, handle_chinese_chars, strip_accents, lowercase):
    config = dict(type="BertNormalizer", clean_text=clean_text, handle_chinese_chars=handle_chinese_chars,
                  strip_accents=strip_accents, lowercase=lowercase)
    ours = warptok.Tokenizer.from_str(variant(normalizer=config))
    ref = N.BertNormalizer(clean_text=clean_text, handle_chinese_chars=handle_chinese_chars,
                           strip_accents=strip_accents, lowercase=lowercase)
    norm = ours._spec.normalizer
    chunk = 2048
    for i in range(0, len(CPS), chunk):
        text = "|".join(chr(c) for c in CPS[i:i + chunk])
        expected = ref.normalize_str(text)
        assert norm.apply(text) == expected, hex(CPS[i])           # the Python path (reference twin)
        if norm.unsafe is None or warptok._native._core.first_flagged(text, norm.unsafe) < 0:
            assert ours._core.normalized(text) == expected, hex(CPS[i])   # the core's map


@pytest.mark.parametrize("strip_accents", [None, True, False])
@pytest.mark.parametrize("lowercase", [True, False])
def test_bert_normalizer_configs_on_corpora(strip_accents, lowercase):
    config = dict(type="BertNormalizer", clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents,
                  lowercase=lowercase)
    check_docs(variant(normalizer=config), docs()[::3])


def test_cased_vocabulary_from_bert_wordpiece_trainer(tmp_path):
    """BertWordPieceTokenizer(lowercase=False), trained on the shared corpora: cased, accents kept."""
    from tokenizers.implementations import BertWordPieceTokenizer

    files = [str(data("english", "big.txt")), str(data("multilingual", "udhr_dev.txt"))]
    for lowercase, chinese in ((False, True), (True, False)):
        trainer = BertWordPieceTokenizer(lowercase=lowercase, handle_chinese_chars=chinese, strip_accents=None)
        trainer.train(files, vocab_size=8000, min_frequency=2, show_progress=False)
        check_docs(trainer._tokenizer.to_str(), docs()[::2])


@pytest.mark.parametrize("max_chars", [0, 1, 5, 100])
def test_max_input_chars_per_word(max_chars):
    texts = ["a ab abc abcdef tokenization hello 中文 naïve", "x" * 150, "éééééé"] + docs()[:60]
    check_docs(variant(model={"max_input_chars_per_word": max_chars}), texts)


def test_continuing_prefix_and_unknown_token():
    j = json.loads(bert())
    vocab = {(("@@" + t[2:]) if t.startswith("##") else t): i for t, i in j["model"]["vocab"].items()}
    text = variant(model={"vocab": vocab, "continuing_subword_prefix": "@@"})
    check_docs(text, docs()[:200])
    # An unknown token that is not in the vocabulary: HF fails on a word that needs it.
    ours, ref = pair(variant(model={"unk_token": "<nope>"}))
    assert ours.encode("hello world") == ref.encode("hello world").ids
    with pytest.raises(Exception):
        ref.encode("hello \u2603\u2603")
    with pytest.raises(warptok.WarptokError, match="unknown token"):
        ours.encode("hello \u2603\u2603")


PRE_TOKENIZERS = {
    "BertPreTokenizer": ({"type": "BertPreTokenizer"}, P.BertPreTokenizer()),
    "Whitespace": ({"type": "Whitespace"}, P.Whitespace()),
    "WhitespaceSplit": ({"type": "WhitespaceSplit"}, P.WhitespaceSplit()),
    "Punctuation": ({"type": "Punctuation", "behavior": "Isolated"}, P.Punctuation()),
    "Punctuation-merged": ({"type": "Punctuation", "behavior": "MergedWithPrevious"},
                           P.Punctuation("merged_with_previous")),
    "CharDelimiterSplit": ({"type": "CharDelimiterSplit", "delimiter": "-"}, P.CharDelimiterSplit("-")),
    "Digits": ({"type": "Digits", "individual_digits": True}, P.Digits(True)),
    "Sequence": ({"type": "Sequence", "pretokenizers": [{"type": "WhitespaceSplit"},
                                                        {"type": "Punctuation", "behavior": "Isolated"},
                                                        {"type": "Digits", "individual_digits": False}]},
                 P.Sequence([P.WhitespaceSplit(), P.Punctuation(), P.Digits(False)])),
}


@pytest.mark.parametrize("name", sorted(PRE_TOKENIZERS))
def test_pre_tokenizer_pieces(name):
    config, ref = PRE_TOKENIZERS[name]
    ours = warptok.Tokenizer.from_str(variant(pre_tokenizer=config, normalizer=None))
    texts = docs()[::5] + ["".join(chr(c) for c in CPS[i:i + 512]) for i in range(0, len(CPS), 512 * 17)]
    for t in texts:
        assert ours.pre_tokenize(t) == [p for p, _ in ref.pre_tokenize_str(t)], t[:80]
    check_docs(variant(pre_tokenizer=config), texts[:80])


def test_pre_tokenizer_classes_on_every_code_point():
    for name in ("BertPreTokenizer", "Whitespace", "WhitespaceSplit", "Punctuation"):
        config, ref = PRE_TOKENIZERS[name]
        ours = warptok.Tokenizer.from_str(variant(pre_tokenizer=config, normalizer=None))
        for i in range(0, len(CPS), 4096):
            text = "a".join(chr(c) for c in CPS[i:i + 4096])
            assert ours.pre_tokenize(text) == [p for p, _ in ref.pre_tokenize_str(text)], (name, hex(CPS[i]))


def test_post_processors_and_options():
    ours, ref = pair(bert())
    text = "The quick brown fox, naïvely! " * 20
    for kwargs in ({}, {"add_special_tokens": False}):
        assert ours.encode(text, **kwargs) == ref.encode(text, **kwargs).ids
    assert ours.encode(text, max_length=10) == ref.encode(text).ids[:9] + [102]
    template = {"type": "TemplateProcessing",
                "single": [{"SpecialToken": {"id": "[CLS]", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}},
                           {"SpecialToken": {"id": "[SEP]", "type_id": 0}}, {"SpecialToken": {"id": "[SEP]",
                                                                                               "type_id": 0}}],
                "pair": [{"Sequence": {"id": "A", "type_id": 0}}, {"Sequence": {"id": "B", "type_id": 1}}],
                "special_tokens": {"[CLS]": {"id": "[CLS]", "ids": [101], "tokens": ["[CLS]"]},
                                   "[SEP]": {"id": "[SEP]", "ids": [102], "tokens": ["[SEP]"]}}}
    check_docs(variant(post_processor=template), docs()[:30])


def test_added_tokens_and_special_splitting():
    ours, ref = pair(bert())
    texts = ["[CLS] hello [SEP] world[MASK]x", "[mask] [MASK][MASK]", "a[UNK]b [PAD]"]
    for t in texts:
        assert ours.encode(t) == ref.encode(t).ids
        assert ours.encode(t, add_special_tokens=False) == ref.encode(t, add_special_tokens=False).ids


ALPHABET = list("aZ0 9'sS\n\r\t .,!?-_=/\\<>|$+^`~") + [
    "\u00a0", "\u3000", "\u0301", "\u4e2d", "\u6587", "\u3042", "\uac00", "\u0410", "\u03a3", "\u0130",
    "\U0001F600", "\u200d", "e\u0301", "\ufffd", "\x00", "\x7f", "\u0085", "\U000e0001", "\uf900", "\u1d165",
    "[CLS]", "[MASK]", "##", "unaffable", "tokenization", "\u00c0", "\uff21", "\u0e01\u0e34", "\U0001d165\U0001d16d",
    "\U0001d16d\U0001d165\u0301",
]


@pytest.mark.parametrize("config", [
    None,
    dict(type="BertNormalizer", clean_text=True, handle_chinese_chars=True, strip_accents=True, lowercase=False),
    dict(type="Sequence", normalizers=[{"type": "NFD"}, {"type": "Lowercase"}, {"type": "StripAccents"}]),
    dict(type="Sequence", normalizers=[{"type": "Lowercase"}, {"type": "Strip", "strip_left": True,
                                                                 "strip_right": True},
                                       {"type": "Replace", "pattern": {"String": "er"}, "content": "ER"},
                                       {"type": "Prepend", "prepend": "a "}]),
])
def test_fuzz(config):
    text_json = bert() if config is None else variant(normalizer=config)
    ours, ref = pair(text_json)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(st.sampled_from(ALPHABET), max_size=40).map("".join))
    def check(text):
        assert ours.encode(text) == ref.encode(text).ids
        assert ours.encode_batch([text, text + " x"]) == [e.ids for e in ref.encode_batch([text, text + " x"])]

    check()


def test_wordpiece_refusals_name_the_part():
    with pytest.raises(warptok.UnsupportedTokenizer, match="ByteLevel pre-tokenizer with a WordPiece"):
        warptok.Tokenizer.from_str(variant(pre_tokenizer={"type": "ByteLevel", "add_prefix_space": False,
                                                          "trim_offsets": True, "use_regex": True}))
    tok = warptok.Tokenizer.from_str(variant(decoder={"type": "CTC"}))
    assert tok.encode("hello") == [101, 7592, 102]
    with pytest.raises(warptok.UnsupportedTokenizer, match="decoder.*CTC"):
        tok.decode([7592])
