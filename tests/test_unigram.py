"""Unigram models and the Precompiled normalizer (SentencePiece's charsmap), against HF
tokenizers 0.23: the real botchan (English) and kyoto (Japanese) models converted by HF's
from_spm, SentencePiece's four built-in charsmaps (nfkc, nmt_nfkc and their case-folding
forms, the ones T5, ALBERT and XLM-R carry), and models trained here with HF's
UnigramTrainer, edited to cover each option (byte_fallback, unk_id, prepend schemes,
split, T5/XLM-R/ALBERT-style normalizer sequences, Nmt), on the corpora and adversarial
files, every code point, grapheme-cluster fuzz, random vocabularies with tied scores,
the batch forms, threads and decoding."""

import base64
import json
import threading
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer
from tokenizers import normalizers as hf_normalizers

import warptok
from conftest import corpus, data
from warptok._native._core import Precompiled, graphemes

CPS = [c for c in range(1, 0x110000) if not 0xD800 <= c < 0xE000]
REP = "\u2581"
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]
RULES = ("nfkc", "nmt_nfkc", "nfkc_cf", "nmt_nfkc_cf")


def real(name) -> str:
    return data("vocab", "sentencepiece", f"{name}.tokenizer.json").read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def charsmap(rule) -> bytes:
    return data("vocab", "sentencepiece", f"{rule}.charsmap").read_bytes()


def precompiled(rule) -> dict:
    return {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(charsmap(rule)).decode()}


@lru_cache(maxsize=None)
def trained() -> str:
    """A Unigram model trained by HF's UnigramTrainer on part of big.txt and UDHR (Metaspace
    pre-tokenizer), as tokenizer.json. Its scores use every bit of an f64."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    tok = Tokenizer(models.Unigram())
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=REP, prepend_scheme="always")
    trainer = trainers.UnigramTrainer(vocab_size=1500, special_tokens=["<unk>", "<s>", "</s>"], unk_token="<unk>",
                                      show_progress=False)
    english = data("english", "big.txt").read_text(encoding="utf-8")[:300_000]
    udhr = data("multilingual", "udhr_dev.txt").read_text(encoding="utf-8")[:200_000]
    tok.train_from_iterator([english, udhr], trainer)
    return tok.to_str()


def variant(base: str, *, model=None, byte_tokens=False, **parts) -> str:
    """base with model options changed, SentencePiece's <0xXX> tokens appended to the
    vocabulary (at the minimum score), and whole components replaced."""
    j = json.loads(base)
    vocab = j["model"]["vocab"]
    if byte_tokens:
        low = min(s for _, s in vocab)
        vocab += [[t, low] for t in BYTE_TOKENS]
    j["model"].update(model or {})
    j.update(parts)
    return json.dumps(j)


def metaspace(scheme="always", split=True):
    return {"type": "Metaspace", "replacement": REP, "prepend_scheme": scheme, "split": split}


def seq(*steps):
    return {"type": "Sequence", "normalizers": list(steps)}


SQUEEZE = {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": " "}
SQUEEZE_REP = {"type": "Replace", "pattern": {"Regex": " {2,}"}, "content": REP}
STRIP_RIGHT = {"type": "Strip", "strip_left": False, "strip_right": True}
METASPACE_DECODER = {"type": "Metaspace", "replacement": REP, "prepend_scheme": "always", "split": True}
BYTE_DECODER = {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": REP}, "content": " "},
                                                 {"type": "ByteFallback"}, {"type": "Fuse"},
                                                 {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}


def added(content, i, special=True, normalized=False, lstrip=False, rstrip=False):
    """An added_tokens entry. Its "id" is not read: HF (and warptok) number added tokens
    themselves (the vocabulary's id, else the next one)."""
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


SPECIALS = [added("<unk>", 0), added("<s>", 1), added("</s>", 2)]
ADDED = SPECIALS + [added("[X]", 1500, special=False), added("yo", 1501, special=False, normalized=True),
                    added("<R>", 1502, rstrip=True), added("<L>", 1503, lstrip=True)]


def template(*, prefix=(), suffix=("</s>",)):
    ids = {"<s>": 1, "</s>": 2}
    single = [{"SpecialToken": {"id": t, "type_id": 0}} for t in prefix] + [{"Sequence": {"id": "A", "type_id": 0}}] + \
        [{"SpecialToken": {"id": t, "type_id": 0}} for t in suffix]
    return {"type": "TemplateProcessing", "single": single, "pair": single,
            "special_tokens": {t: {"id": t, "ids": [ids[t]], "tokens": [t]} for t in set(prefix) | set(suffix)}}


def configs() -> dict:
    """name -> tokenizer.json text (built on first use: the data may be fetched)."""
    base = trained()
    return {
        "botchan": real("botchan_en_unigram_1000"),
        "kyoto": real("kyoto_ja_unigram_8000"),
        # T5: nmt_nfkc, Strip right, runs of spaces to U+2581, "</s>" after every text
        "t5-style": variant(base, normalizer=seq(precompiled("nmt_nfkc"), STRIP_RIGHT, SQUEEZE_REP),
                            pre_tokenizer=metaspace(), decoder=METASPACE_DECODER, added_tokens=SPECIALS,
                            post_processor=template()),
        # XLM-R: nmt_nfkc and runs of spaces to one, "<s> $A </s>", added tokens next to text
        "xlmr-style": variant(base, normalizer=seq(precompiled("nmt_nfkc"), SQUEEZE), pre_tokenizer=metaspace(),
                              decoder=METASPACE_DECODER, added_tokens=ADDED,
                              post_processor=template(prefix=("<s>",))),
        # ALBERT: quotes, NFKD, accents, lowercase, then the charsmap: normalized in Python
        "albert-style": variant(base, normalizer=seq(
            {"type": "Replace", "pattern": {"String": "``"}, "content": "\""},
            {"type": "Replace", "pattern": {"String": "''"}, "content": "\""},
            {"type": "NFKD"}, {"type": "StripAccents"}, {"type": "Lowercase"}, precompiled("nmt_nfkc_cf"), SQUEEZE),
            pre_tokenizer=metaspace(), decoder=METASPACE_DECODER, added_tokens=ADDED),
        "byte_fallback-first": variant(base, model=dict(byte_fallback=True), byte_tokens=True,
                                       normalizer=seq(precompiled("nfkc_cf"), SQUEEZE),
                                       pre_tokenizer=metaspace("first"), decoder=BYTE_DECODER, added_tokens=ADDED),
        "byte_fallback-nosplit": variant(base, model=dict(byte_fallback=True), byte_tokens=True,
                                         normalizer=precompiled("nfkc"), pre_tokenizer=metaspace("first", False),
                                         decoder=BYTE_DECODER),
        "never-nosplit": variant(base, normalizer=None, pre_tokenizer=metaspace("never", False),
                                 decoder={"type": "Metaspace", "replacement": REP, "prepend_scheme": "never"}),
        "no-unk": variant(base, model=dict(unk_id=None), normalizer=precompiled("nmt_nfkc"),
                          pre_tokenizer=metaspace()),
        # the unknown token is an ordinary piece in the middle of the vocabulary
        "unk-elsewhere": variant(base, model=dict(unk_id=700), pre_tokenizer=metaspace("first"),
                                 normalizer={"type": "Nmt"}),
        "nmt-lowercase": variant(base, normalizer=seq({"type": "Nmt"}, {"type": "Lowercase"}, SQUEEZE),
                                 pre_tokenizer=metaspace()),
        "whitespace-split": variant(base, normalizer=precompiled("nmt_nfkc_cf"),
                                    pre_tokenizer={"type": "WhitespaceSplit"}),
    }


CONFIG_NAMES = ["botchan", "kyoto", "t5-style", "xlmr-style", "albert-style", "byte_fallback-first",
                "byte_fallback-nosplit", "never-nosplit", "no-unk", "unk-elsewhere", "nmt-lowercase",
                "whitespace-split"]


@lru_cache(maxsize=None)
def pair(name):
    text = configs()[name]
    return warptok.Tokenizer.from_str(text), HFTokenizer.from_str(text)


@lru_cache(maxsize=None)
def docs():
    # the adversarial files' lines (test_whole_corpora_real_files has the whole files)
    return corpus("english")[:200] + corpus("multilingual")[::2] + [d for d in corpus("adversarial") if len(d) < 20_000]


TRICKY = ["", " ", "  ", "a", " a", "a ", "  a  b  ", REP, REP + "a", "a" + REP + REP + "b", "\t\n x\u3000y",
          "<s>", "<s>hello", "hi<s>", " <s> x", "<s><s>", "x[X]y", "[X] y", "yo yo", "xyo", " yo", "<R>  a",
          "a  <L>b", "<L>x", "<unk>", "a<unk>\u00e9", "\x01abc", "\x01 <s>\x01", "\r\nx\r\n", "ＡＢＣ ｘ\u0301",
          "\u00e9\u0301 \U0001F600\x00\x7f\U0010FFFF", "日本語のテキスト", "ｶﾞｷﾞ", "\ufb01\u2168 \u3392",
          "\u0000\u0080\u0081\u0098\u00e4 \u4e00\u4e01", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "\U0001F1E6\U0001F1E8",
          "\U0001F468\u200d\U0001F469\u200d\U0001F467", "\u1100\u1161\u11a8", "e\u0301\u0308x", "क्षि"]


def check(ours, ref, texts, **kwargs):
    expected = [e.ids for e in ref.encode_batch(texts, **kwargs)]
    got = [ours.encode(t, **kwargs) for t in texts]
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert not bad, f"{len(bad)} of {len(texts)} differ; first: {texts[bad[0]][:120]!r}"
    assert ours.encode_batch(texts, **kwargs) == expected
    return expected


def safe(ref, texts):
    """The texts HF encodes (without the unknown token a no-unk model fails on)."""
    out = []
    for t in texts:
        try:
            ref.encode(t)
        except Exception:       # noqa: BLE001  (HF's MissingUnkId)
            continue
        out.append(t)
    return out


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_corpora(name):
    ours, ref = pair(name)
    texts = TRICKY + docs()
    if name == "no-unk":
        texts = safe(ref, texts)
    expected = check(ours, ref, texts)
    check(ours, ref, texts[:200], add_special_tokens=False)
    ids, offsets = ours.encode_batch_flat(texts)
    assert [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(texts))] == expected
    for t, e in zip(texts[:300], expected):
        assert ours.count(t) == len(e)
        assert ours.encode_to_numpy(t).tolist() == e
    if ours._spec.decoder.unsupported is None:
        for ids in expected[:300] + expected[-100:]:
            for skip in (False, True):
                assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip)


def test_whole_corpora_real_files():
    """Whole big.txt (by paragraph) through the real botchan file, UDHR through kyoto, and
    every line of the adversarial files through both."""
    for name, texts in (("botchan", corpus("english") + corpus("adversarial")),
                        ("kyoto", corpus("multilingual") + corpus("adversarial"))):
        ours, ref = pair(name)
        expected = [e.ids for e in ref.encode_batch(texts)]
        assert ours.encode_batch(texts) == expected, name


@pytest.mark.parametrize("rule", RULES)
def test_charsmap_every_code_point(rule):
    """Each built-in charsmap against HF's Precompiled on every code point: alone, after a
    letter, before combining marks (clusters under 6 bytes are looked up whole), with CR LF."""
    ours, ref = Precompiled(charsmap(rule)), hf_normalizers.Precompiled(charsmap(rule))
    for i in range(0, len(CPS), 512):
        run = [chr(c) for c in CPS[i:i + 512]]
        for text in ("".join(run), " ".join(run), "".join("a" + c for c in run), "".join(c + "\u0301" for c in run),
                     "".join(c + "\u200d" for c in run), "\r\n".join(run), "".join("\ufb01" + c for c in run)):
            assert ours.normalize(text) == ref.normalize_str(text), (rule, hex(CPS[i]))


# Characters the charsmaps rewrite (fullwidth, ligatures, compatibility forms, controls, CR)
# beside everything that joins a grapheme cluster: combining marks, ZWJ, variation
# selectors, emoji modifiers, Hangul jamo, regional indicators, Prepend, SpacingMark,
# Indic consonants and viramas (GB9c).
GRAPHEME_ALPHABET = [
    "a", "e", "x", " ", "\r", "\n", "\t", "\x01", "\x00", "\u00a0", "ｘ", "Ａ", "\ufb01", "\u2168", "\u3392", "ｶ",
    "\uff9e", "\u0301", "\u0308", "\u0327", "\u200d", "\u200c", "\ufe0f", "\U0001F3FB", "\U0001F600", "\U0001F468",
    "\u2764", "\u1100", "\u1161", "\u11a8", "\uac00", "\uac01", "\U0001F1E6", "\U0001F1E8", "\u0600", "\u0903",
    "\u0915", "\u094d", "\u0937", "\u093f", "\u0e33", "\u00e9", "\u0130", "\u03a3", "\u1e9e", "\u2126", "\u3000",
    "\U000E0020", "\u0345", "\u05b0", "\u0f73", "\U0001D15E"]


@pytest.mark.parametrize("rule", RULES)
def test_charsmap_grapheme_fuzz(rule):
    ours, ref = Precompiled(charsmap(rule)), hf_normalizers.Precompiled(charsmap(rule))

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(st.sampled_from(GRAPHEME_ALPHABET), max_size=24).map("".join))
    def run(text):
        assert ours.normalize(text) == ref.normalize_str(text)

    run()


def test_graphemes_on_emoji_and_normalization_tests():
    """The segmenter's clusters rebuild the text; a ZWJ sequence or a flag of emoji-test.txt is
    one cluster; each shortest cluster (under 6 bytes) of the test files normalizes as HF's."""
    lines = [line.split(";")[0].strip() for line in data("adversarial", "emoji-test.txt").read_text("utf-8").splitlines()
             if "; fully-qualified" in line]
    for codes in lines:
        text = "".join(chr(int(c, 16)) for c in codes.split())
        assert graphemes(text) == [text], codes
        assert graphemes("a" + text + "b") == ["a", text, "b"], codes
    text = data("adversarial", "NormalizationTest.txt").read_text("utf-8")
    assert "".join(graphemes(text)) == text
    ours, ref = Precompiled(charsmap("nmt_nfkc")), hf_normalizers.Precompiled(charsmap("nmt_nfkc"))
    assert ours.normalize(text) == ref.normalize_str(text)


def test_grapheme_break_test():
    """Unicode 17.0's GraphemeBreakTest.txt (the version of HF's unicode-segmentation crate)."""
    lines = data("unicode", "GraphemeBreakTest-17.0.0.txt").read_text("utf-8").splitlines()
    cases = 0
    for line in lines:
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        clusters, cur = [], ""
        for tok in line.split()[1:]:
            if tok == "\u00f7":
                clusters.append(cur)
                cur = ""
            elif tok != "\u00d7":
                cur += chr(int(tok, 16))
        if any(0xD800 <= ord(c) < 0xE000 for c in cur + "".join(clusters)):
            continue          # a Rust str never holds a surrogate
        assert graphemes("".join(clusters)) == clusters, line
        cases += 1
    assert cases > 700


def test_nmt_every_code_point():
    ours, ref = pair("nmt-lowercase")
    for i in range(0, len(CPS), 2048):
        text = "".join(chr(c) for c in CPS[i:i + 2048])
        assert ours._core.normalized(text) == ref.normalizer.normalize_str(text), hex(CPS[i])


@pytest.mark.parametrize("name", ["botchan", "byte_fallback-nosplit"])
def test_every_code_point(name):
    """Every code point, in runs joined by a space and by nothing: unknown characters (fused),
    byte fallback, and what the normalizer rewrites."""
    ours, ref = pair(name)
    texts = []
    for i in range(0, len(CPS), 1024):
        run = [chr(c) for c in CPS[i:i + 1024]]
        texts += [" ".join(run), "".join(run)]
    check(ours, ref, texts)


ALPHABET = list("ab xyz.,\n\t>se-") + [
    "-a", ".-", "\u2603", "s ", "e  ", "> ", "\u2603 ", "\u00e9 ", "  ", REP, "<s>", "</s>", "[X]", "yo", "<R>", "<L>",
    "<unk>", "\u00e9", "e\u0301", "\u4e2d", "\U0001F600", "\x00", "\x01", "\r\n", "\u0080", "\u00e4", "ｘ", "\u3000",
    "the", " of", "ing", "\ufb01", "ｶﾞ", "\u200d", "\U0001F1E6", "\u1100\u1161"]


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_fuzz(name):
    ours, ref = pair(name)

    @settings(max_examples=120, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(st.sampled_from(ALPHABET), max_size=30).map("".join))
    def run(text):
        try:
            expected = ref.encode(text).ids
        except Exception:       # noqa: BLE001
            with pytest.raises(warptok.WarptokError):
                ours.encode(text)
            return
        assert ours.encode(text) == expected
        assert ours.encode(text, add_special_tokens=False) == ref.encode(text, add_special_tokens=False).ids
        assert ours.encode_batch([text, "a" + text]) == [e.ids for e in ref.encode_batch([text, "a" + text])]

    run()


PIECES = ["a", "b", "c", "ab", "bc", "abc", "ca", "aa", "<unk>", "é", "e", "\u0301", "<0x61>", "<0xC3>", "<0xA9>"]


@settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(vocab=st.lists(st.tuples(st.sampled_from(PIECES), st.sampled_from([0.0, -1.0, -2.0, -3.0, -12.0, -0.1, -0.2,
                                                                        -0.30000000000000004, 5.0])),
                      min_size=1, max_size=14),
       unk=st.integers(-1, 13), byte_fallback=st.booleans(),
       text=st.lists(st.sampled_from(["a", "b", "c", "ab", "x", "é", "e\u0301", "<unk>", " ", "a"]), max_size=20)
       .map("".join))
def test_viterbi_ties_and_unknowns(vocab, unk, byte_fallback, text):
    """Random vocabularies over a few strings, scores that tie (or tie only after rounding,
    0.1 + 0.2), duplicated strings, the unknown token anywhere (or none), <0xXX> tokens or
    not: the path HF's Viterbi takes, unknown runs fused and looked up, byte fallback."""
    unk = None if unk < 0 else unk % len(vocab)
    model = {"type": "Unigram", "unk_id": unk, "vocab": [list(v) for v in vocab], "byte_fallback": byte_fallback}
    text_json = json.dumps({"version": "1.0", "model": model, "pre_tokenizer": {"type": "WhitespaceSplit"},
                            "added_tokens": [], "normalizer": None, "post_processor": None, "decoder": None})
    ref = HFTokenizer.from_str(text_json)
    ours = warptok.Tokenizer.from_str(text_json)
    try:
        expected = ref.encode(text).ids
    except Exception:       # noqa: BLE001  (MissingUnkId)
        with pytest.raises(warptok.WarptokError):
            ours.encode(text)
        return
    assert ours.encode(text) == expected
    texts = [text, text[::-1] + " " + text]        # the same characters: the same unknowns
    assert ours.encode_batch(texts) == [e.ids for e in ref.encode_batch(texts)]


def test_ties_every_order():
    """Every choice of scores from {0, -1, -2} for a, b, ab, ba, aab and every order of the
    vocabulary (which changes nothing but the ids): equal paths resolve as HF's (the first
    offer to a position stays; only a strictly better one replaces it)."""
    import itertools

    strings = ["a", "b", "ab", "ba", "aab"]
    texts = ["ab", "aab", "abab", "baab", "aabba", "ababab"]
    for scores in itertools.product([0.0, -1.0, -2.0], repeat=len(strings)):
        for order in (strings, strings[::-1]):
            vocab = [["<unk>", -5.0]] + [[t, scores[strings.index(t)]] for t in order]
            model = {"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": False}
            text_json = json.dumps({"version": "1.0", "model": model, "pre_tokenizer": {"type": "WhitespaceSplit"},
                                    "added_tokens": [], "normalizer": None, "post_processor": None, "decoder": None})
            ours, ref = warptok.Tokenizer.from_str(text_json), HFTokenizer.from_str(text_json)
            assert ours.encode_batch(texts) == [e.ids for e in ref.encode_batch(texts)], vocab


def test_unknown_penalty_decides():
    """HF's unknown score is min_score - 10: a character without a token of its own goes
    through a longer token or as the unknown, whichever path scores higher."""
    # z's -20 is the minimum: an unknown "c" scores -30, then "d" (+10.5) makes -19.5 against cd's
    for long_score in (-20.0, -19.4, -19.0, -18.6, -18.0):
        vocab = [["<unk>", 0.0], ["d", 10.5], ["cd", long_score], ["z", -20.0]]
        model = {"type": "Unigram", "unk_id": 0, "vocab": vocab, "byte_fallback": False}
        text_json = json.dumps({"version": "1.0", "model": model, "added_tokens": [], "normalizer": None,
                                "pre_tokenizer": None, "post_processor": None, "decoder": None})
        ref, ours = HFTokenizer.from_str(text_json), warptok.Tokenizer.from_str(text_json)
        for text in ("cd", "cdcd", "ccd", "cdz", "xcd"):
            assert ours.encode(text) == ref.encode(text).ids, (long_score, text)


def test_long_pieces_are_linear():
    """A piece of a megabyte (no split) encodes as HF's, in about linear time."""
    import time

    ours, ref = pair("never-nosplit")
    text = " ".join(corpus("english")[:2000])[:1_000_000]
    t0 = time.perf_counter()
    got = ours.encode(text)
    took = time.perf_counter() - t0
    assert got == ref.encode(text).ids
    assert took < 5.0


def test_refusals_and_errors():
    base = trained()
    with pytest.raises(warptok.WarptokError, match="unk_id"):
        warptok.Tokenizer.from_str(variant(base, model=dict(unk_id=5000)))
    j = json.loads(base)
    j["model"]["vocab"] = {"a": 0}
    with pytest.raises(warptok.WarptokError, match="Unigram"):
        warptok.Tokenizer.from_str(json.dumps(j))
    bad = {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(b"\x10\x00\x00\x00ab").decode()}
    with pytest.raises(warptok.WarptokError, match="charsmap"):
        warptok.Tokenizer.from_str(variant(base, normalizer=bad))
    with pytest.raises(BaseException):        # HF panics
        HFTokenizer.from_str(variant(base, normalizer=bad))
    with pytest.raises(warptok.WarptokError, match="base64"):
        warptok.Tokenizer.from_str(variant(base, normalizer={"type": "Precompiled", "precompiled_charsmap": "!!"}))
    # other regexes in a Replace still load (normalized in Python)
    other = seq(precompiled("nmt_nfkc"), {"type": "Replace", "pattern": {"Regex": " +$"}, "content": ""})
    text_json = variant(base, normalizer=other, pre_tokenizer=metaspace())
    ours, ref = warptok.Tokenizer.from_str(text_json), HFTokenizer.from_str(text_json)
    check(ours, ref, TRICKY + ["a b   ", "x\x01  "])
    # a text that needs the unknown token the model does not have
    ours, ref = pair("no-unk")
    with pytest.raises(Exception):
        ref.encode("\U0001F600")
    with pytest.raises(warptok.WarptokError):
        ours.encode("\U0001F600")


def test_core_runs_the_normalizer():
    """The SentencePiece sequences run in C (no text takes the Python path), and Replace of
    "c{2,}" squeezes runs as HF's regex does."""
    for name in ("botchan", "kyoto", "t5-style", "xlmr-style", "byte_fallback-first", "nmt-lowercase"):
        ours, ref = pair(name)
        assert ours._normalizer is None, name
        for text in ("a  b   c", "a b  c", "   ", "  x", "x  ", "\u3000\u3000a", REP + REP + " " + REP, "a \x01 b"):
            assert ours._core.normalized(text) == ref.normalizer.normalize_str(text), (name, text)
    assert pair("albert-style")[0]._normalizer is not None        # NFKD: the Python path


def test_threads_share_one_tokenizer():
    ours, ref = pair("xlmr-style")
    texts = TRICKY + docs()[:400]
    expected = [e.ids for e in ref.encode_batch(texts)]
    errors = []

    def work(k):
        try:
            for _ in range(2):
                for i in range(k, len(texts), 4):
                    assert ours.encode(texts[i]) == expected[i]
                assert ours.encode_batch(texts[k::4]) == expected[k::4]
        except BaseException as e:     # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[0]
    assert ours.encode_batch(texts, num_threads=2) == expected


def test_tiny_piece_table_with_nothing_seeded():
    """A few slots, nothing seeded: every piece goes through the Viterbi."""
    from conftest import with_core

    for name in ("botchan", "byte_fallback-first"):
        ours, ref = pair(name)
        tiny = with_core(ours, piece_cache_sets=1)
        texts = TRICKY + docs()[:150] + ["a" * k for k in range(1, 140)]
        expected = [e.ids for e in ref.encode_batch(texts)]
        for _ in range(2):
            assert [tiny.encode(t) for t in texts] == expected
            assert tiny.encode_batch(texts, num_threads=2) == expected


def test_pickle_round_trip():
    import pickle

    ours, ref = pair("kyoto")
    again = pickle.loads(pickle.dumps(ours))
    texts = TRICKY + corpus("multilingual")[:20]
    assert again.encode_batch(texts) == [e.ids for e in ref.encode_batch(texts)]


def test_scores_read_as_hf_reads_them():
    """HF's JSON reader (serde_json without float_roundtrip) is not always correctly rounded:
    the scores it reads, written back by HF (the shortest string of each f64), are the ones
    warptok reads, and on a vocabulary where that last unit decides a tie, both take the
    same path."""
    import random

    from warptok._compile.json_numbers import serde_float

    rng = random.Random(7)
    texts = []
    for _ in range(2000):
        k = rng.choice([1, 3, 15, 16, 17, 18, 19, 20, 21, 25])
        digits = str(rng.randint(10 ** (k - 1), 10 ** k - 1))
        at = rng.randint(0, len(digits))
        s = (digits[:at] or "0") + "." + (digits[at:] or "0")
        if rng.random() < 0.3:
            s += "e%d" % rng.randint(-40, 40)
        texts.append(("-" if rng.random() < 0.5 else "") + s)
    vocab = ", ".join(f'["t{i}", {s}]' for i, s in enumerate(texts))
    text_json = ('{"version": "1.0", "model": {"type": "Unigram", "unk_id": 0, "vocab": [["<unk>", 0.0], '
                 + vocab + ']}, "added_tokens": [], "normalizer": null, "pre_tokenizer": null, '
                 '"post_processor": null, "decoder": null}')
    back = json.loads(HFTokenizer.from_str(text_json).to_str())["model"]["vocab"][1:]
    assert [v for _, v in back] == [serde_float(s) for s in texts]
    assert sum(serde_float(s) != float(s) for s in texts) > 100      # the cases that matter are there

    # "ab" as one token, or as "a" + "b" (taken only when strictly better): the two readings
    # of the scores disagree on the path for one of these "ab" scores
    a, b = "-2.0237213644788285", "-8.9922054172509764"
    disagree = 0
    for ab in (repr(float(a) + float(b)), repr(serde_float(a) + serde_float(b))):
        split_python = float(a) + float(b) > float(ab)
        split_hf = serde_float(a) + serde_float(b) > serde_float(ab)
        disagree += split_python != split_hf
        vocab = f'[["<unk>", 0.0], ["a", {a}], ["b", {b}], ["ab", {ab}]]'
        text_json = ('{"version": "1.0", "model": {"type": "Unigram", "unk_id": 0, "vocab": ' + vocab + '}, '
                     '"added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, '
                     '"decoder": null}')
        ours, ref = warptok.Tokenizer.from_str(text_json), HFTokenizer.from_str(text_json)
        assert ours.encode("ab") == ref.encode("ab").ids == ([1, 2] if split_hf else [3])
    assert disagree


def test_parsed_document_reads_as_its_text():
    """Tokenizer.from_str of a parsed document (a dict) is HF's from_str(json.dumps(d)), and
    equals its own pickle (which keeps that text): the dict's floats are read as HF reads
    them printed, not taken as they are. Here json.loads reads "a"'s score one unit below
    what HF reads from json.dumps(d), and "a" + "bc" against "abc" is that close."""
    import pickle

    from warptok._compile.json_numbers import serde_float

    a, bc = "-3.1393894650049313", "-1.5"
    abc = repr(float(a) + float(bc))        # a tie for json.loads's floats
    assert serde_float(repr(float(a))) != float(a)
    vocab = f'[["<unk>", 0.0], ["a", {a}], ["bc", {bc}], ["abc", {abc}]]'
    text_json = ('{"version": "1.0", "model": {"type": "Unigram", "unk_id": 0, "vocab": ' + vocab + '}, '
                 '"added_tokens": [], "normalizer": null, "pre_tokenizer": null, "post_processor": null, '
                 '"decoder": null}')
    document = json.loads(text_json)
    ours = warptok.Tokenizer.from_str(document)
    want = HFTokenizer.from_str(json.dumps(document)).encode("abc").ids
    assert ours.encode("abc") == want == warptok.Tokenizer.from_str(json.dumps(document)).encode("abc")
    assert pickle.loads(pickle.dumps(ours)).encode("abc") == want
    assert document == json.loads(text_json)        # the dict is not changed
    with pytest.raises(warptok.WarptokError, match="not a tokenizer.json document"):
        warptok.Tokenizer.from_str({"model": {"type": "Unigram", "vocab": [["a", {1}]]}})
