"""WordPiece (BERT) and the parts that come with it, against HF tokenizers: BertNormalizer
in every configuration (on every code point, and on the corpora), BertPreTokenizer and the
other class splits, the WordPiece model's options, BertProcessing, the WordPiece decoder,
and a differential fuzz."""

import json
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
import tokenizers
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


def hf_ids(ref, texts, **kwargs) -> list:
    """HF's ids one text at a time: its encode_batch runs rayon threads, which ThreadSanitizer
    (tools/sanitize.sh runs the thread tests here) reports races in."""
    return [ref.encode(t, **kwargs).ids for t in texts]


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
    "Split-regex": ({"type": "Split", "pattern": {"Regex": "\\s+|[0-9]"}, "behavior": "Removed", "invert": False},
                    P.Split(tokenizers.Regex("\\s+|[0-9]"), "removed")),
    "Split-string": ({"type": "Split", "pattern": {"String": ". "}, "behavior": "MergedWithNext", "invert": False},
                     P.Split(". ", "merged_with_next")),
    "Split-string-unicode": ({"type": "Split", "pattern": {"String": "\u2581\n"}, "behavior": "Isolated",
                              "invert": False}, P.Split("\u2581\n", "isolated")),
    "Split-string-invert": ({"type": "Split", "pattern": {"String": "a.|"}, "behavior": "Contiguous",
                             "invert": True}, P.Split("a.|", "contiguous", invert=True)),
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
    texts = ["x\u2581\ny\u2581\n\u2581\n z a.|b a.|a.|. . 12 3-4--5 ,,!? \u00a0\u3000"] + texts
    for t in texts:
        assert ours.pre_tokenize(t) == [p for p, _ in ref.pre_tokenize_str(t)], t[:80]
    check_docs(variant(pre_tokenizer=config), texts[:80])


def test_pre_tokenizer_classes_on_every_code_point():
    for name in ("BertPreTokenizer", "Whitespace", "WhitespaceSplit", "Punctuation", "Punctuation-merged", "Digits"):
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
    # a composed map whose texts with reorderable marks take the Python path (not normalized twice)
    dict(type="Sequence", normalizers=[{"type": "BertNormalizer", "clean_text": True, "handle_chinese_chars": True,
                                        "strip_accents": True, "lowercase": True},
                                       {"type": "Replace", "pattern": {"String": "e"}, "content": "ee"}]),
])
def test_fuzz(config):
    if config is None:
        text_json = bert()
    elif "type" in config:
        text_json = variant(normalizer=config)
    else:
        text_json = variant(**config)
    ours, ref = pair(text_json)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(st.sampled_from(ALPHABET), max_size=40).map("".join))
    def check(text):
        assert ours.encode(text) == ref.encode(text).ids
        assert ours.encode_batch([text, text + " x"]) == hf_ids(ref, [text, text + " x"])

    check()


def test_wordpiece_refusals_name_the_part():
    with pytest.raises(warptok.UnsupportedTokenizer, match="ByteLevel pre-tokenizer with a WordPiece"):
        warptok.Tokenizer.from_str(variant(pre_tokenizer={"type": "ByteLevel", "add_prefix_space": False,
                                                          "trim_offsets": True, "use_regex": True}))
    tok = warptok.Tokenizer.from_str(variant(decoder={"type": "CTC"}))
    assert tok.encode("hello") == [101, 7592, 102]
    with pytest.raises(warptok.UnsupportedTokenizer, match="decoder.*CTC"):
        tok.decode([7592])


DECODER_TOKENS = ["##", "##a", "a", "##ing", "Hello", ".", ",", "?", "!", "'", "n't", "'m", "'s", "'ve", "'re", "do",
                  "not", " ", "  ", "\u2581", "\u2581a", "\u2581\u2581b", "a\u2581", "<0x41>", "<0xE2>", "<0x82>",
                  "<0xAC>", "<0xab>", "<0x+F>", "<0xZZ>", "<0x4>", "<0x41", "<0x\u00e9>", "\u00e9", "[CLS]", " do not",
                  "x y", "##\u2581"]
DECODERS = [
    {"type": "WordPiece", "prefix": "##", "cleanup": True},
    {"type": "WordPiece", "prefix": "##", "cleanup": False},
    {"type": "WordPiece", "prefix": "\u2581", "cleanup": True},
    {"type": "ByteFallback"},
    {"type": "Fuse"},
    {"type": "Strip", "content": " ", "start": 1, "stop": 0},
    {"type": "Strip", "content": "\u2581", "start": 2, "stop": 1},
    {"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
    {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "always", "split": True},
    {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "first", "split": True},
    {"type": "Metaspace", "replacement": "\u2581", "prepend_scheme": "never", "split": False},
    {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": "\u2581"}, "content": " "},
                                      {"type": "ByteFallback"}, {"type": "Fuse"},
                                      {"type": "Strip", "content": " ", "start": 1, "stop": 0}]},
]


@pytest.mark.parametrize("config", DECODERS, ids=lambda c: json.dumps(c, ensure_ascii=False))
def test_decoders(config):
    """Each decoder against HF's, on random token lists (HF panics in Strip on some: then both raise)."""
    from warptok._compile import decoders
    ours = decoders.build(config)
    ref = HFTokenizer.from_str(variant(decoder=config)).decoder

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(st.sampled_from(DECODER_TOKENS), max_size=12))
    def check(tokens):
        try:
            expected = ref.decode(tokens)
        except BaseException:                 # a Rust panic: pyo3's PanicException
            with pytest.raises(warptok.WarptokError):
                ours.decode(tokens)
            return
        assert ours.decode(tokens) == expected

    check()


def test_decode_through_the_tokenizer():
    """Tokenizer.decode: specials skipped or kept, unknown ids dropped, any decoder above."""
    for config in (None, *DECODERS[:4], DECODERS[-1]):
        ours, ref = pair(variant(decoder=config) if config else variant(decoder=None))
        ids_list = [[101, 7592, 1010, 2088, 999, 102], [100, 7592, 2075, 2075, 1005, 1055], [0, 1, 30521, 40000],
                    [101, 102], []]
        for ids in ids_list + [ref.encode(t).ids for t in docs()[:20]]:
            for skip in (False, True):
                assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip)


def test_wordlevel_trained_model(tmp_path):
    """A WordLevel model (HF's trainer on the shared corpora) with BERT's normalizer and Whitespace."""
    from tokenizers import Tokenizer as T
    from tokenizers import models, trainers

    tok = T(models.WordLevel(unk_token="[UNK]"))
    tok.normalizer = N.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = P.Whitespace()
    tok.train([str(data("english", "big.txt"))], trainers.WordLevelTrainer(vocab_size=5000,
                                                                            special_tokens=["[UNK]", "[PAD]"]))
    check_docs(tok.to_str(), docs()[::2])


def test_normalized_added_tokens():
    """Added tokens matched after normalization (normalized: true), next to special ones."""
    j = json.loads(bert())
    j["added_tokens"] += [
        {"id": 30522, "content": "Hello World", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": True, "special": False},
        {"id": 30523, "content": "na\u00efve", "single_word": False, "lstrip": False, "rstrip": False,
         "normalized": True, "special": False},
        {"id": 30524, "content": "<raw>", "single_word": False, "lstrip": True, "rstrip": True,
         "normalized": False, "special": True},
    ]
    texts = ["hello world", "HELLO WORLD!", "naive NA\u00cfVE na\u00efve", "a <raw> b<raw>c [SEP]hello world",
             "x\u00a0hello world\u3000", "Hello\tWorld"] + docs()[:40]
    check_docs(json.dumps(j), texts)
    check_docs(json.dumps(j), texts, add_special_tokens=False)


def test_batch_options_and_threads():
    """encode_batch with per-call options, threads, flat output and count, against HF's encode_batch."""
    ours, ref = pair(bert())
    texts = docs()[:300]
    for kwargs in ({"add_special_tokens": False}, {}):
        expected = hf_ids(ref, texts, **kwargs)
        for threads in (1, 2, None):
            assert ours.encode_batch(texts, num_threads=threads, **kwargs) == expected
        ids, offsets = ours.encode_batch_flat(texts, **kwargs)
        assert [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(texts))] == expected
        assert [ours.count(t, **kwargs) for t in texts[:50]] == [len(e) for e in expected[:50]]
        assert [ours.encode_to_numpy(t, **kwargs).tolist() for t in texts[:50]] == expected[:50]
    for max_length in (2, 7, 64):
        expected = [ref.encode(t).ids for t in texts[:50]]
        want = [e if len(e) <= max_length else e[:max_length - 1] + [e[-1]] for e in expected]
        assert ours.encode_batch(texts[:50], max_length=max_length) == want
    long_text = " ".join(docs()[:400])          # one long text: cut into parts only for byte-level BPE
    assert ours.encode(long_text) == ref.encode(long_text).ids


def test_tiny_piece_table_with_nothing_seeded():
    """16 slots, nothing seeded: every word goes through the model, the table fills at once."""
    from conftest import with_core

    ours, ref = pair(bert())
    tiny = with_core(ours, piece_cache_sets=1)
    texts = docs()[:200] + ["x" + "\0" * k + "y" for k in range(2, 70)] + ["a" * k for k in range(1, 140)]
    expected = hf_ids(ref, texts)
    for _ in range(2):
        assert [tiny.encode(t) for t in texts] == expected
        assert tiny.encode_batch(texts, num_threads=2) == expected


def test_threads_share_one_tokenizer():
    """Python threads encoding with one tokenizer at once (the piece table learns without locks)."""
    import threading

    ours, ref = pair(variant(model={"max_input_chars_per_word": 40}))
    texts = docs()[::3]
    expected = hf_ids(ref, texts)
    errors = []

    def work(k):
        try:
            for j in range(3):
                part = texts[(k + j) % 4::4]
                want = expected[(k + j) % 4::4]
                if ours.encode_batch(part, num_threads=2) != want or [ours.encode(t) for t in part[:30]] != want[:30]:
                    errors.append(k)
        except Exception as e:          # noqa: BLE001  (reported below)
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_no_pre_tokenizer():
    """No pre-tokenizer: each segment is one word (long ones too)."""
    text_json = variant(pre_tokenizer=None, model={"max_input_chars_per_word": 1000})
    j = json.loads(text_json)
    j["pre_tokenizer"] = None
    check_docs(json.dumps(j), docs()[:300] + ["hello", "", "a" * 900, "ab" * 600, "x" * 1001])


def test_hf_wrapper_of_a_bert_tokenizer():
    """warptok.hf.from_transformers on transformers' BertTokenizerFast: the same batch encoding
    (ids, token types, attention mask, padding, truncation) and decoding."""
    transformers = pytest.importorskip("transformers")
    from warptok import hf as warptok_hf

    path = data("vocab", "bert-base-uncased", "tokenizer.json")
    theirs = transformers.BertTokenizerFast(tokenizer_file=str(path))
    ours = warptok_hf.from_transformers(theirs)
    texts = docs()[:100] + ["a [MASK] b", "", "Hello, World! na\u00efve caf\u00e9 \u4e2d\u6587"]
    for kwargs in ({}, {"padding": True, "truncation": True, "max_length": 16}, {"add_special_tokens": False}):
        assert dict(ours(texts, **kwargs)) == dict(theirs(texts, **kwargs))
    for ids in theirs(texts[:30])["input_ids"]:
        for skip in (False, True):
            assert ours.decode(ids, skip_special_tokens=skip) == theirs.decode(ids, skip_special_tokens=skip)


def test_pickle_round_trip():
    """A WordPiece tokenizer pickles as its file and comes back the same (workers get it)."""
    import pickle

    ours, ref = pair(bert())
    back = pickle.loads(pickle.dumps(ours))
    texts = docs()[:50]
    assert back.encode_batch(texts) == hf_ids(ref, texts)
    ids = ref.encode(texts[0]).ids
    assert back.decode(ids, skip_special_tokens=False) == ref.decode(ids, skip_special_tokens=False)
    assert pickle.dumps(back) == pickle.dumps(ours)


def test_marks_nfd_reorders_take_the_python_path():
    """BertNormalizer's strip_accents is NFD, which reorders kept marks (U+1D16D, ccc 226,
    before U+1D165, ccc 216) across characters: the per-character map cannot, so such texts
    take the Python path. Visible in ids only when the vocabulary has the reordered string."""
    j = json.loads(bert())
    vocab = j["model"]["vocab"]
    for token in ["a\U0001d165\U0001d16d", "##\U0001d165\U0001d16d", "\U0001d165\U0001d16d"]:
        vocab[token] = len(vocab)
    j["normalizer"]["strip_accents"] = True
    texts = ["a\U0001d16d\U0001d165", "xa\U0001d16d\U0001d165 a\U0001d16d\U0001d165b", "\U0001d16d\U0001d165",
             "b\U0001d16d\u0301\U0001d165", "[CLS]a\U0001d16d\U0001d165[SEP]"]
    ours, ref = pair(json.dumps(j))
    expected = hf_ids(ref, texts)
    assert any(len(vocab) - 3 <= i for ids in expected for i in ids)     # the new tokens are used
    assert [ours.encode(t) for t in texts] == expected
    assert ours.encode_batch(texts) == expected


@pytest.mark.parametrize("changes", [
    {},
    {"pre_tokenizer": {"type": "Whitespace"}},
    # not cut: Prepend adds to each part, Strip trims each part's ends
    {"normalizer": {"type": "Sequence", "normalizers": [{"type": "Lowercase"}, {"type": "Prepend", "prepend": "x "}]}},
    {"normalizer": {"type": "Sequence", "normalizers": [{"type": "Strip", "strip_left": True, "strip_right": True},
                                                        {"type": "Lowercase"}]}},
    # not cut: the first split keeps spaces inside its pieces
    {"pre_tokenizer": {"type": "Punctuation", "behavior": "Isolated"}, "model": {"max_input_chars_per_word": 10000}},
], ids=["bert", "whitespace", "prepend", "strip", "punctuation"])
def test_long_texts_cut_for_the_pool(changes):
    """Texts of 128 KiB or more are cut at spaces and encoded on the pool when the
    pre-tokenizer starts afresh there; whole otherwise. Both as HF."""
    english = "\n\n".join(docs()[:2000])
    multilingual = " [SEP] ".join(corpus("multilingual"))
    texts = [english[:300_000] + " [MASK]  [SEP] x", multilingual, "short one"]
    ours, ref = pair(variant(**changes))
    expected = hf_ids(ref, texts)
    assert [ours.encode(t) for t in texts] == expected
    assert ours.encode_batch(texts, num_threads=2) == expected
    assert ours.encode_batch(texts, add_special_tokens=False) == hf_ids(ref, texts, add_special_tokens=False)
