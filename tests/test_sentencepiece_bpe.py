"""SentencePiece-style BPE (merges over characters: Llama-2, Mistral, Gemma, ...) and the
Metaspace pre-tokenizer, against HF tokenizers: the real Llama-2 and Gemma 3 files, and
models trained here with HF's BpeTrainer on the shared corpora, edited to cover each
option (prepend schemes, split, byte_fallback, unk_token and fuse_unk, continuing prefix,
word suffix, ignore_merges), next to added tokens, on the corpora and adversarial files,
every code point, a fuzz, the batch forms, threads, decoding and transformers' wrapper."""

import json
import threading
from functools import lru_cache

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer as HFTokenizer

import warptok
from conftest import corpus, data

CPS = [c for c in range(1, 0x110000) if not 0xD800 <= c < 0xE000]
REP = "\u2581"
BYTE_TOKENS = [f"<0x{b:02X}>" for b in range(256)]


def real(name) -> str:
    return data("vocab", name, "tokenizer.json").read_text(encoding="utf-8")


@lru_cache(maxsize=None)
def trained(prefix: str = "", suffix: str = "") -> str:
    """A BPE model trained by HF's BpeTrainer on part of big.txt and UDHR (with a Metaspace
    pre-tokenizer; with a continuing prefix or word suffix when asked), as tokenizer.json."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers

    affixes = dict(continuing_subword_prefix=prefix) if prefix else {}
    if suffix:
        affixes["end_of_word_suffix"] = suffix
    tok = Tokenizer(models.BPE(unk_token="<unk>", **affixes))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement=REP, prepend_scheme="always")
    trainer = trainers.BpeTrainer(vocab_size=1500, special_tokens=["<unk>", "<s>", "</s>"], show_progress=False,
                                  limit_alphabet=300, **affixes)
    english = data("english", "big.txt").read_text(encoding="utf-8")[:400_000]
    udhr = data("multilingual", "udhr_dev.txt").read_text(encoding="utf-8")[:300_000]
    tok.train_from_iterator([english, udhr], trainer)
    return tok.to_str()


def variant(base: str, *, model=None, byte_tokens=False, drop_bytes=(), **parts) -> str:
    """base with model options changed, the <0xXX> tokens added to its vocabulary (SentencePiece's
    byte_fallback vocabulary; drop_bytes left out), and whole components replaced."""
    j = json.loads(base)
    if byte_tokens:
        vocab = j["model"]["vocab"]
        for b, t in enumerate(BYTE_TOKENS):
            if b not in drop_bytes and t not in vocab:
                vocab[t] = len(vocab)
    j["model"].update(model or {})
    j.update(parts)
    return json.dumps(j)


LLAMA_NORMALIZER = {"type": "Sequence", "normalizers": [
    {"type": "Prepend", "prepend": REP}, {"type": "Replace", "pattern": {"String": " "}, "content": REP}]}


REP_GLUED = [(a, REP) for a in ("e", "s", ">", "<0x83>", "<unk>", "\u00e9")]
# ASCII pairs no trained token holds, some through a fallback symbol's '<' or '>' (U+0001 and
# U+0002 have no token of their own), and U+2581 before an ASCII character
ASCII_GLUED = [("x", "<0x01>"), ("<0x02>", "q"), ("<0x01>", "<0x02>"), (".", ","), ("~", "~"), (REP, "~"),
               ("<unk>", "z"), ("q", "<unk>")]


def glued(base: str, pairs=REP_GLUED, drop_bytes=(), **model) -> str:
    """base Llama-style (no pre-tokenizer: a whole text is one piece), with tokens that join
    the pairs, made first by the merges: where the core must not cut a text."""
    j = json.loads(variant(base, model={"byte_fallback": True, "fuse_unk": True, **model}, byte_tokens=True,
                           drop_bytes=drop_bytes, normalizer=LLAMA_NORMALIZER, pre_tokenizer=None,
                           decoder=DECODER))
    vocab = j["model"]["vocab"]
    new = []
    for a, b in pairs:
        for t in (a, b, a + b):
            if t not in vocab:
                vocab[t] = len(vocab)
        new.append([a, b])
    j["model"]["merges"] = new + [m.split(" ") if isinstance(m, str) else m for m in j["model"]["merges"]]
    return json.dumps(j)


def metaspace(scheme="always", split=True):
    return {"type": "Metaspace", "replacement": REP, "prepend_scheme": scheme, "split": split}


DECODER = {"type": "Sequence", "decoders": [{"type": "Replace", "pattern": {"String": REP}, "content": " "},
                                            {"type": "ByteFallback"}, {"type": "Fuse"},
                                            {"type": "Strip", "content": " ", "start": 1, "stop": 0}]}


def added(content, i, special=True, normalized=False, lstrip=False, rstrip=False):
    """An added_tokens entry. Its "id" is not read: HF (and warptok) number added tokens
    themselves (the vocabulary's id, else the next one)."""
    return {"id": i, "content": content, "single_word": False, "lstrip": lstrip, "rstrip": rstrip,
            "normalized": normalized, "special": special}


ADDED = [added("<unk>", 0), added("<s>", 1), added("</s>", 2), added("[X]", 1500, special=False),
         added("yo", 1501, special=False, normalized=True), added("<R>", 1502, rstrip=True),
         added("<L>", 1503, lstrip=True)]


def configs() -> dict:
    """name -> tokenizer.json text (built on first use: the data may be fetched)."""
    base = trained()
    bf = dict(byte_fallback=True, fuse_unk=True)
    return {
        "always-split-byte_fallback": variant(base, model=bf, byte_tokens=True, pre_tokenizer=metaspace(),
                                              decoder=DECODER),
        "first-nosplit-byte_fallback": variant(base, model=bf, byte_tokens=True,
                                               pre_tokenizer=metaspace("first", False), decoder=DECODER),
        "first-split-added": variant(base, model=bf, byte_tokens=True, pre_tokenizer=metaspace("first"),
                                     added_tokens=ADDED, decoder=DECODER),
        "never-split-unk": variant(base, model=dict(fuse_unk=False), pre_tokenizer=metaspace("never"),
                                   decoder={"type": "Metaspace", "replacement": REP, "prepend_scheme": "never"}),
        "always-nosplit-fuse_unk": variant(base, model=dict(fuse_unk=True), pre_tokenizer=metaspace("always", False),
                                           decoder={"type": "Metaspace", "replacement": REP}),
        "no-unk": variant(base, model=dict(unk_token=None), pre_tokenizer=metaspace("first"), decoder=DECODER),
        "missing-bytes-unk": variant(base, model=dict(byte_fallback=True, fuse_unk=False), byte_tokens=True,
                                     drop_bytes=(0x80, 0x81, 0x98, 0xE4), pre_tokenizer=metaspace()),
        "missing-bytes-fuse": variant(base, model=dict(byte_fallback=True, fuse_unk=True), byte_tokens=True,
                                      drop_bytes=(0x80, 0x81, 0x98, 0xE4), pre_tokenizer=metaspace("first")),
        # the last merges dropped: their tokens stay in the vocabulary, reachable only whole
        "ignore_merges": variant(base, model=dict(ignore_merges=True, byte_fallback=True,
                                                  merges=json.loads(base)["model"]["merges"][:-500]),
                                 byte_tokens=True, pre_tokenizer=metaspace()),
        "prefix": variant(trained("##"), pre_tokenizer={"type": "WhitespaceSplit"},
                          decoder={"type": "WordPiece", "prefix": "##", "cleanup": False}),
        "suffix": variant(trained("", "</w>"), model=dict(fuse_unk=True), pre_tokenizer={"type": "Whitespace"}),
        "prefix-and-suffix": variant(trained("##"), model=dict(end_of_word_suffix="##"),
                                     pre_tokenizer={"type": "WhitespaceSplit"}),
        # normalizers around Metaspace "first": the core runs Strip+Lowercase itself; NFKC
        # (and what comes with it) is normalized in Python between the added tokens
        "first-core-normalizer": variant(base, model=bf, byte_tokens=True, pre_tokenizer=metaspace("first"),
                                         added_tokens=ADDED, normalizer={"type": "Sequence", "normalizers": [
                                             {"type": "Strip", "strip_left": True, "strip_right": False},
                                             {"type": "Lowercase"}]}),
        "first-python-normalizer": variant(base, model=bf, byte_tokens=True, pre_tokenizer=metaspace("first"),
                                           added_tokens=ADDED, normalizer={"type": "Sequence", "normalizers": [
                                               {"type": "NFKC"},
                                               {"type": "Strip", "strip_left": True, "strip_right": False},
                                               {"type": "Replace", "pattern": {"Regex": "^x+"}, "content": ""}]}),
        "always-python-normalizer": variant(base, model=bf, byte_tokens=True, pre_tokenizer=metaspace("always"),
                                            added_tokens=ADDED, normalizer={"type": "NFKC"}),
        # Metaspace after another split: "first" prepends only to the piece at the text's start
        "split-then-first": variant(base, model=bf, byte_tokens=True, added_tokens=ADDED, pre_tokenizer={
            "type": "Sequence", "pretokenizers": [
                {"type": "Split", "pattern": {"String": "-"}, "behavior": "Removed", "invert": False},
                {"type": "Split", "pattern": {"Regex": "[.,]"}, "behavior": "Isolated", "invert": False},
                metaspace("first")]}),
        "llama-style": variant(base, model=bf, byte_tokens=True, normalizer=LLAMA_NORMALIZER, pre_tokenizer=None,
                               decoder=DECODER),
        "llama-style-glued": glued(base),
        "llama-style-glued-unk": glued(base, byte_fallback=False),
        "llama-style-glued-drop": glued(base, byte_fallback=False, unk_token=None),
        "llama-style-ascii-glued": glued(base, ASCII_GLUED),
        "llama-style-ascii-glued-unk": glued(base, ASCII_GLUED, byte_fallback=False, fuse_unk=False),
        "llama-style-ascii-glued-fuse": glued(base, ASCII_GLUED, byte_fallback=False),
        # U+0002 and U+00E9's second byte have no <0xXX> token: unknowns, pending past other bytes
        "llama-style-ascii-glued-missing": glued(base, ASCII_GLUED, drop_bytes=(0x02, 0xA9), fuse_unk=False),
        "llama-style-ascii-glued-drop": glued(base, ASCII_GLUED, byte_fallback=False, unk_token=None),
        "llama2": real("llama2"),
        "gemma3": real("gemma3"),
    }


CONFIG_NAMES = ["always-split-byte_fallback", "first-nosplit-byte_fallback", "first-split-added", "never-split-unk",
                "always-nosplit-fuse_unk", "no-unk", "missing-bytes-unk", "missing-bytes-fuse", "ignore_merges",
                "prefix", "suffix", "prefix-and-suffix", "first-core-normalizer", "first-python-normalizer",
                "always-python-normalizer", "split-then-first", "llama-style", "llama-style-glued",
                "llama-style-glued-unk", "llama-style-glued-drop", "llama-style-ascii-glued",
                "llama-style-ascii-glued-unk", "llama-style-ascii-glued-fuse", "llama-style-ascii-glued-missing",
                "llama-style-ascii-glued-drop", "llama2", "gemma3"]


@lru_cache(maxsize=None)
def pair(name):
    text = configs()[name]
    return warptok.Tokenizer.from_str(text), HFTokenizer.from_str(text)


@lru_cache(maxsize=None)
def docs():
    return corpus("english")[:300] + corpus("multilingual") + corpus("adversarial")[::2]


TRICKY = ["", " ", "  ", "a", " a", "a ", "  a  b  ", REP, REP + "a", "a" + REP + REP + "b", "\t\n x\u3000y",
          "<s>", "<s>hello", "hi<s>", " <s> x", "<s><s>", "x[X]y", "[X] y", "yo yo", "xyo", " yo", "<R>  a",
          "a  <L>b", "<L>x", "xxx abc", "  xxab<s>xx a", "ＡＢＣ ｘ", "\u00e9\u0301 \U0001F600\x00\x7f\U0010FFFF",
          "日本語のテキスト", "\u0000\u0080\u0081\u0098\u00e4 \u4e00\u4e01", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"]


def check(ours, ref, texts, **kwargs):
    expected = [e.ids for e in ref.encode_batch(texts, **kwargs)]
    got = [ours.encode(t, **kwargs) for t in texts]
    bad = [i for i, (g, e) in enumerate(zip(got, expected)) if g != e]
    assert not bad, f"{len(bad)} of {len(texts)} differ; first: {texts[bad[0]][:120]!r}"
    assert ours.encode_batch(texts, **kwargs) == expected
    return expected


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_corpora(name):
    ours, ref = pair(name)
    texts = TRICKY + docs()
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
    """Whole big.txt (by paragraph) and UDHR, Llama-2 and Gemma 3."""
    texts = corpus("english") + corpus("multilingual")
    for name in ("llama2", "gemma3"):
        ours, ref = pair(name)
        expected = [e.ids for e in ref.encode_batch(texts)]
        assert ours.encode_batch(texts) == expected, name


@pytest.mark.parametrize("name", ["llama2", "first-split-added", "never-split-unk", "missing-bytes-fuse", "prefix",
                                  "always-nosplit-fuse_unk"])
def test_every_code_point(name):
    """Every code point, in runs joined by a space and by nothing: the pre-tokenizer's pieces
    (Metaspace's rewrite) and the model's characters, byte fallback and unknowns."""
    ours, ref = pair(name)
    texts = []
    for i in range(0, len(CPS), 1024):
        run = [chr(c) for c in CPS[i:i + 1024]]
        texts += [" ".join(run), "".join(run)]
    check(ours, ref, texts)
    if ref.pre_tokenizer is not None:
        for t in texts[::7]:
            assert ours.pre_tokenize(t) == [p for p, _ in ref.pre_tokenizer.pre_tokenize_str(t)]


ALPHABET = list("ab xyz.,\n\t>se-") + [
    "-a", ".-", "\u2603", "s ", "e  ", "> ", "\u2603 ", "\u00e9 ", "  ", REP, "<s>", "</s>", "[X]", "yo", "<R>", "<L>",
    "\u00e9", "e\u0301", "\u4e2d", "\U0001F600", "\x00", "\u0080", "\u00e4", "ｘ", "\u3000", "the", " of", "ing"]


@pytest.mark.parametrize("name", CONFIG_NAMES)
def test_fuzz(name):
    ours, ref = pair(name)

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(st.sampled_from(ALPHABET), max_size=30).map("".join))
    def run(text):
        try:
            expected = ref.encode(text).ids
        except Exception:
            with pytest.raises(warptok.WarptokError):
                ours.encode(text)
            return
        assert ours.encode(text) == expected
        assert ours.encode(text, add_special_tokens=False) == ref.encode(text, add_special_tokens=False).ids
        assert ours.encode_batch([text, "a" + text]) == [e.ids for e in ref.encode_batch([text, "a" + text])]

    run()


ASCII_ALPHABET = list("xqz.,~a \n") + ["\x01", "\x02", "\x01\x02", "<unk>", "\u00e9", REP, "  ", "x\x01", "~~"]


@pytest.mark.parametrize("name", ["llama-style-ascii-glued", "llama-style-ascii-glued-unk",
                                  "llama-style-ascii-glued-fuse", "llama-style-ascii-glued-missing",
                                  "llama-style-ascii-glued-drop", "llama2", "gemma3"])
def test_fuzz_cuts_between_ascii(name):
    """Texts of ASCII characters whose pairs some token joins (directly or through a fallback
    symbol), characters without tokens, unknowns and U+2581: where the core may cut a piece."""
    ours, ref = pair(name)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
    @given(st.lists(st.sampled_from(ASCII_ALPHABET), max_size=40).map("".join))
    def run(text):
        assert ours.encode(text) == ref.encode(text).ids

    run()


@pytest.mark.parametrize("scheme", ["always", "first", "never"])
@pytest.mark.parametrize("split", [True, False])
def test_added_tokens_next_to_metaspace(scheme, split):
    """Each prepend scheme beside added tokens (HF: "first" prepends only to the split that
    begins the original text), special tokens split or kept as text, with normalizers the core
    runs and ones Python runs between the added tokens."""
    base = trained()
    texts = [t for t in TRICKY if "<" in t or "[" in t or "yo" in t] + [
        "<s> a</s>b", "a<s>", "</s></s> x", " <s>", "<s> ", "<L> <R> <L>", "  yo", "yo", "[X]", "[X][X] a"]
    # the same with characters NFKC changes: those texts take the Python path
    texts += [t.replace("x", "\uff58").replace("a", "\uff41").replace(" ", "\u3000") for t in texts]
    texts += ["\u3000<s>", "\uff58<s>\uff58", "  \uff58[X]", "\u3000a", "\u00a0\u00a0b<s>"]
    for normalizer in (None, {"type": "Lowercase"}, {"type": "NFKC"},
                       {"type": "Sequence", "normalizers": [
                           {"type": "NFKC"}, {"type": "Strip", "strip_left": True, "strip_right": True}]}):
        text_json = variant(base, model=dict(byte_fallback=True), byte_tokens=True,
                            pre_tokenizer=metaspace(scheme, split), added_tokens=ADDED, normalizer=normalizer)
        ours, ref = warptok.Tokenizer.from_str(text_json), HFTokenizer.from_str(text_json)
        check(ours, ref, texts)
        ref.encode_special_tokens = True          # HF's split_special_tokens
        for t in texts:
            assert ours.encode(t, split_special_tokens=True) == ref.encode(t).ids, (normalizer, t)
        assert ours.encode_batch(texts, split_special_tokens=True) == [e.ids for e in ref.encode_batch(texts)]


def test_merge_order_and_ties():
    """A vocabulary built so that the order of merges decides the result: equal ranks resolve
    leftmost first, a lower rank later in the word goes first, a pair listed twice keeps its
    last rank, and long words (the heap) agree with short ones."""
    vocab = {t: i for i, t in enumerate(["<unk>", "a", "b", "c", "ab", "bc", "abc", "aa", "aaa", "aaaa", "ca", "bca"])}
    for merges in (["a b", "b c", "ab c", "a a", "aa a", "aa aa", "c a", "bc a"],
                   ["b c", "a b", "a bc", "aa aa", "a a", "aa a", "c a", "b ca"],
                   ["a a", "c a", "b c", "a b", "ab c", "bc a", "aa a", "a a"],
                   ["aa a", "a a", "b ca", "a b", "c a", "b c", "aa aa"]):
        model = {"type": "BPE", "vocab": vocab, "merges": merges, "unk_token": "<unk>", "fuse_unk": False,
                 "byte_fallback": False, "dropout": None, "continuing_subword_prefix": None,
                 "end_of_word_suffix": None}
        text_json = json.dumps({"version": "1.0", "model": model, "pre_tokenizer": {"type": "WhitespaceSplit"},
                                "added_tokens": [], "normalizer": None, "post_processor": None, "decoder": None})
        ours, ref = warptok.Tokenizer.from_str(text_json), HFTokenizer.from_str(text_json)

        @settings(max_examples=200, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(st.lists(st.sampled_from(["a", "b", "c", "x", " "]), max_size=120).map("".join))
        def run(text):
            assert ours.encode(text) == ref.encode(text).ids

        run()

        # words of more than 48 symbols take the heap
        @settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
        @given(st.lists(st.sampled_from(["a", "b", "c", "aa", "bc", "x"]), min_size=40, max_size=200).map("".join))
        def run_long(text):
            assert ours.encode(text) == ref.encode(text).ids

        run_long()


def test_unknown_token_named_but_not_in_vocabulary():
    text_json = variant(trained(), model=dict(unk_token="<nope>"), pre_tokenizer=metaspace())
    ours, ref = warptok.Tokenizer.from_str(text_json), HFTokenizer.from_str(text_json)
    assert ours.encode("the cat") == ref.encode("the cat").ids
    with pytest.raises(Exception):
        ref.encode("\U0001F600")
    with pytest.raises(warptok.WarptokError):
        ours.encode("\U0001F600")


def test_refusals_name_the_part():
    base = trained()
    with pytest.raises(warptok.UnsupportedTokenizer, match="dropout"):
        warptok.Tokenizer.from_str(variant(base, model=dict(dropout=0.1)))
    assert warptok.Tokenizer.from_str(variant(base, model=dict(dropout=0.0))).encode("the") == \
        HFTokenizer.from_str(base).encode("the").ids
    with pytest.raises(warptok.UnsupportedTokenizer, match="byte_fallback with continuing_subword_prefix"):
        warptok.Tokenizer.from_str(variant(trained("##"), model=dict(byte_fallback=True)))
    # the message of byte-level BPE about missing bytes is not what a SentencePiece file gets
    for name in ("llama2", "gemma3"):
        warptok.Tokenizer.from_str(real(name))


def test_threads_share_one_tokenizer():
    ours, ref = pair("first-split-added")
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
    """A few slots, nothing seeded: every piece goes through the merge loop."""
    from conftest import with_core

    for name in ("always-split-byte_fallback", "llama2"):
        ours, ref = pair(name)
        tiny = with_core(ours, piece_cache_sets=1)
        texts = TRICKY + docs()[:150] + ["a" * k for k in range(1, 140)]
        expected = [e.ids for e in ref.encode_batch(texts)]
        for _ in range(2):
            assert [tiny.encode(t) for t in texts] == expected
            assert tiny.encode_batch(texts, num_threads=2) == expected


def test_from_transformers_llama():
    transformers = pytest.importorskip("transformers")
    from warptok import hf

    ref = transformers.LlamaTokenizerFast(tokenizer_file=str(data("vocab", "llama2", "tokenizer.json")))
    ours = hf.from_transformers(ref)
    texts = TRICKY + docs()[:100]
    assert ours(texts)["input_ids"] == ref(texts)["input_ids"]
    assert ours(texts[5], add_special_tokens=False)["input_ids"] == ref(texts[5], add_special_tokens=False)["input_ids"]
    for ids in ref(texts)["input_ids"][:60]:
        assert ours.decode(ids) == ref.decode(ids)
        assert ours.decode(ids, skip_special_tokens=True) == ref.decode(ids, skip_special_tokens=True)


@pytest.mark.parametrize("template", [
    "{% for m in messages %}<s>{{ m['role'] }}: {{ m['content'] }}</s>{% endfor %}",
    "{% for m in messages %}{{ m['role'] }} {{ m['content'] }}</s>\n{% endfor %}",
])
def test_chat_counts_with_prepend_first(template):
    """warptok.chat counts each segment once: one that begins the rendered text is told apart
    from the same bytes after an added token (Metaspace "first" prepends only to the former)."""
    from warptok import chat

    for name in ("first-split-added", "first-python-normalizer", "always-split-byte_fallback"):
        ours, _ = pair(name)
        convs = [[{"role": "user", "content": c}, {"role": "assistant", "content": "ｘ" + c},
                  {"role": "user", "content": " user " + c}] for c in ("hello", " a<s>b", "user hi", "")]
        assert chat.count_chat_tokens(convs, ours, chat_template=template, verify=0) == \
            chat.count_chat_tokens_full(convs, ours, chat_template=template)
