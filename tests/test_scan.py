"""The hand-fused scanners (cext/pretokenize/scan.c) against the generic matcher (cext/pretokenize/regex.c)
for every pattern _compile/pattern.py hands to them, in both dialects it lists: same pieces
on whole corpora and on fuzzed text built from the characters where the families'
rules differ. The generic matcher itself is checked against the reference engines
in test_pattern.py, and the scanners against the references in test_parity.py and
test_models.py, which run with them on."""

from __future__ import annotations

import platform
import sys
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import warptok
from conftest import corpus, with_core
from warptok import encodings
from warptok._compile import pattern as _pattern
from warptok._compile import tiktoken_file as _load
from warptok._compile.spec import Stage

# Splits by one repeated class (DeepSeek's digits and CJK runs, and variants).
CLASS_RUNS = [r"\p{N}{1,3}", r"\p{N}", r"\p{N}+", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+",
              "[\u4e00-\u9fa5\u0800-\u4e00\uac00-\ud7ff]+", "[\r\n]", "[a-c]+", "[ab9]"]
KNOWN = sorted(_pattern._SCANNERS, key=repr) + [(p, d) for p in CLASS_RUNS for d in ("onig", "fancy")]


def family(key) -> int:
    return _pattern.scanner_for(*key)[0]


def pair(pattern: str, dialect: str):
    """([with the scanner, ...], generic matcher only) for pattern over GPT-2's vocabulary.
    Where the scanner splits ASCII 64 bytes at a time, the list holds it with each kind of
    block masks the machine has: the widest (AVX2), vectors (SSE2, NEON), 8-byte words."""
    spec = _load.tiktoken_spec(_load.load_tiktoken_ranks(encodings.BUNDLED_GPT2), pattern, None)
    spec.stages[0].dialect = dialect
    spec.stages[0].behavior, spec.stages[0].invert = "Isolated", False
    fasts = [warptok.Tokenizer(spec)]
    widest = fasts[0]._core.block_masks[0]
    if widest is not None:
        for kind in ("vector", "words"):
            if kind != widest:
                narrower = with_core(fasts[0], block_masks=kind)
                assert narrower._core.block_masks == [kind]
                fasts.append(narrower)
    return fasts, generic_only(spec)


def generic_only(spec):
    """The spec's tokenizer with every split on the generic matcher."""
    try:
        _pattern.FAST_SCANNERS = False
        return warptok.Tokenizer(spec)
    finally:
        _pattern.FAST_SCANNERS = True


@pytest.fixture(scope="module", params=KNOWN, ids=lambda k: f"{family(k)}-{k[1]}-{hash(k[0]) & 0xffff:x}")
def tokenizers(request):
    return pair(*request.param)


def test_every_known_pattern_gets_a_scanner():
    for pattern, dialect in KNOWN:
        assert _pattern.scanner_for(pattern, dialect) is not None
    assert _pattern.scanner_for(encodings.CL100K_PATTERN + "|x", "fancy") is None
    assert _pattern.scanner_for(encodings.CL100K_PATTERN, "onig") is None
    # DeepSeek-V3's pattern and the class runs leave gaps, which their scanners
    # report as pieces: Isolated only
    for pattern, dialect in KNOWN:
        gaps = family((pattern, dialect)) in (_pattern._DS3, _pattern._RUN)
        assert (_pattern.scanner_for(pattern, dialect, isolated=False) is None) == gaps
    # class-like patterns the class-run scanner does not take
    for pattern in ["[a-]", "[-a]", "[a-c-e]", "[^a]+", r"[\d]+", "[a-z]*", "[z-a]", "[[:alpha:]]", "[a&&b]",
                    "[abcdefghij]", r"\p{N}{2,3}", r"\p{L}+", "[a]{1,3}", "[]"]:
        assert _pattern.scanner_for(pattern, "onig") is None, pattern


def test_block_families_split_ascii_by_vector_masks():
    # x86-64 (SSE2; AVX2 where the CPU has it) and aarch64 (NEON) build the block masks
    # with vectors (a 32-bit build on such a CPU may lack them); every little-endian CPU
    # can take the words.
    # A build that lost the block path would leave the tests above comparing only
    # the piece-by-piece scanner.
    for pattern, dialect in KNOWN:
        tok = _pairs((pattern, dialect))[0][0]
        if family((pattern, dialect)) in (_pattern._GPT2, _pattern._CL100K, _pattern._O200K, _pattern._DS3):
            if platform.machine().lower() in ("x86_64", "amd64", "aarch64", "arm64") and sys.maxsize > 2**32:
                assert tok._core.block_masks in (["vector"], ["avx2"]), (pattern, dialect)
        else:
            assert tok._core.block_masks[0] is None


def test_class_run_ranges():
    assert _pattern.scanner_for("[\u4e00-\u9fa5\u3040-\u309f]+", "onig") == (
        _pattern._RUN, 0, 0, 0, 0, 0, ((0x4E00, 0x9FA5), (0x3040, 0x309F)))
    assert _pattern.scanner_for("[\r\n]", "onig")[2:] == (1, 0, 0, 0, ((13, 13), (10, 10)))
    assert _pattern.scanner_for(r"\p{N}{1,3}", "fancy")[2] == 3


def test_corpora_split_the_same(tokenizers):
    fasts, generic = tokenizers
    docs = corpus("english")[:3000] + corpus("multilingual") + corpus("adversarial")
    joined = "\n\n".join(docs[:500])
    for fast in fasts:
        for doc in docs:
            assert fast.pre_tokenize(doc) == generic.pre_tokenize(doc), doc[:200]
        assert fast.encode_ordinary(joined) == generic.encode_ordinary(joined)


# Fragments where the families' rules turn: contractions in every case (with the
# long s, which folds to s), cased and uncased letters (Lu Ll Lt Lm Lo), marks of
# each kind, numbers of each kind, \s that are and are not ASCII, \r\n runs, '/',
# punctuation and symbols. Random concatenations make rare neighbours common.
FRAGMENTS = ["'s", "'S", "'\u017f", "'t", "'M", "'d", "'re", "'RE", "'rE", "'ve", "'VE", "'ll", "'Ll", "'l",
             "'r", "'", "''", "a", "s", "Z", "abc", "ABC", "Abc", "aBC", "\u01c5", "\u02b0", "\u4e2d\u6587",
             "\u00e9", "\u00df", "\u03a3\u03c3", "\u0130", "\u212a", "\ufb05", "\u0301", "\u0903", "\u20dd",
             "0", "12", "1234", "\u0663", "\u216b", "\u00bd", " ", "  ", "   ", "        ", "\t", "\n", "\r\n", "\n\n",
             " \n ", "\x0b", "\x0c", "\u00a0", "\u0085", "\u1680", "\u2028", "\u3000", ".", ",", "-", "!?",
             "_", "/", "//", "\u20ac", "\U0001F44D", "\U0001F3FD", "\ufffd", "\u200d",
             # DeepSeek-V3: punctuation or symbol then ASCII letters, code points no
             # alternative matches (controls, format, private use, unassigned), kana
             "$", "#x", "@Ab", "+=", "~", "`", "\\", "\x00", "\x01", "\x7f", "\u200b", "\ue000",
             "\U000e0080", "\u0378", "\u3042", "\u309b", "\u30fb", "\u4e00", "\u00a7", "\u00b4",
             # the class runs' range edges (in and just outside), and their ASCII members
             "\u4dff", "\u9fa5", "\u9fa6", "\u303f", "\u309f", "\u30a0", "\u30ff", "\u3100", "\u07ff",
             "\u0800", "\uabff", "\uac00", "\ud7ff", "\ue000", "b", "c", "d", "9", "\r"]


def test_hand_picked_turns_split_the_same():
    texts = ["x'\u017fa", "'\u017f", "I'\u017fM", "don'tgo", "DON'T", "they'RE", "HELLO'S world", "ABCdef",
             "ABC\u01c5def", "\u02b0\u02b0a", "A\u0301b", " \u0301x", "\u0301", "a  b", "a \n b",
             "a\n  ", "  ", " \u3000x", "\n        def", "x" + " " * 17 + "y", " " * 8, " " * 9 + "\n",
             "\t" + " " * 8 + "x", " " * 16 + "\u3000x", "a" + " " * 8 + "\r\n" + " " * 8, "\u3000", "x \u00a0y", "1234567", " 12", "\u0663\u0663\u0663\u0663",
             "a/b//\n", "!!\n\n", " !!\r\n x", "\t\tx", "\tx", "\t!", "x\r\n\r\n", "\u0085\u0085x",
             "$abc\u00e9", "#\u00e9", "\x00\x01ab", "\x00", "\u200b\u200bx", "1abc", "12 ", "\u0301\u0301",
             "a\u0301!", " \u0301", "\ue000\ue000", "x\x00\n", ".\r\n\r\n", " .\n", "\u3042\u309b!"]
    for key in KNOWN:
        fasts, generic = _pairs(key)
        for fast in fasts:
            for text in texts:
                assert fast.pre_tokenize(text) == generic.pre_tokenize(text), (key, text)


def test_runs_to_a_blocks_last_byte_split_the_same():
    """A 64-byte block of digits only (its run's length is 64), an apostrophe as a
    block's last byte (a contraction's mask reaches bit 64), and their neighbours:
    under UBSan these are the shifts by 64 and ctz(0) that scan.c must not do."""
    texts = []
    for lead in ("", "x", " ", "ab "):
        for n in (62, 63, 64, 65, 127, 128):
            texts += [lead + "7" * n + " and more", lead + "a" * n + "'ll be fine", lead + "A" * n + "'S",
                      lead + "a" * n + "'", lead + "'" * n + "s"]
    for key in KNOWN:
        fasts, generic = _pairs(key)
        for fast in fasts:
            for text in texts:
                assert fast.pre_tokenize(text) == generic.pre_tokenize(text), (key, text)


def test_runs_broken_at_every_offset_split_the_same():
    """Runs of one class (punctuation, digits, one byte repeated or mixed) long enough
    for run_end's 8-byte steps, ended or broken at each offset of a word by a byte of
    another class, a space, a newline or a non-ASCII character."""
    texts = []
    for run in ("_", "=", "-=", "!?.,", "7", "12", "'"):
        for n in range(1, 26):
            body = (run * 26)[:n]
            for stop in ("a", " ", "\n", "9", "\u00e9", "\u2014", ""):
                texts += [body + stop + body, " " + body + stop, body + stop + "x" * n]
    for key in KNOWN:
        fasts, generic = _pairs(key)
        for fast in fasts:
            for text in texts:
                assert fast.pre_tokenize(text) == generic.pre_tokenize(text), (key, text)


def splits_alike(text):
    """Every known pattern's scanners (vector and word masks) split text as the generic matcher does."""
    for key in KNOWN:
        fasts, generic = _pairs(key)
        for fast in fasts:
            assert fast.pre_tokenize(text) == generic.pre_tokenize(text), (key, text)


@settings(max_examples=3000, deadline=None)
@given(text=st.lists(st.sampled_from(FRAGMENTS), max_size=24).map("".join))
def test_fuzzed_text_splits_the_same(text):
    splits_alike(text)


# ASCII text is split 64 bytes at a time by masks where the pattern allows it
# (scan.c, cl100k family): long ASCII strings of the fragments where its rules
# turn, and code, whose runs of spaces, newlines and punctuation the prose
# corpora lack. A text's last run and what follows non-ASCII take the
# one-piece path, so these carry a non-ASCII character only now and then.
ASCII_FRAGMENTS = [f for f in FRAGMENTS if f.isascii()] + [
    "x", "Ab", "it", "    ", " \n", "\n ", "  \n  ", "\t\t", " \t", "\t ", "\r", "\n\n\n", " .", ". ", "..",
    "'", "!'", " '", "''s", "(", "):", " =", "==", "12345", "007", " 9", "9x", "x9", "\x0b\x0c", "#", " #"]


@settings(max_examples=1500, deadline=None)
@given(text=st.lists(st.sampled_from(ASCII_FRAGMENTS + ["\u00e9"]), min_size=8, max_size=120).map("".join))
def test_fuzzed_ascii_splits_the_same(text):
    splits_alike(text)


# Beyond ASCII, letters and punctuation join the block's masks with all their bytes
# (o200k's Lm and Lo letters only in letter runs with no cased letter, its marks
# never); digits, spaces and a character the block's end may cut end what a block
# knows.
LETTER_FRAGMENTS = ASCII_FRAGMENTS + [
    "\u00e9", "\u00c9", "\u00df", "\u01c5", "\u02b0", "\u00aa", "\u03a9", "\u03c9", "\u0416", "\u0436", "\u0627",
    "\u4e2d", "\u0301", "\u00a0", "\u00ab", "\u00bf", "\u0663", "\U0001d400", "\U0001d41a", "Stra\u00dfe",
    "\u00c4rger", "na\u00efve", "\u00c9COLE", "\u041c\u043e\u0441\u043a\u0432\u0430", "\u0391\u0398\u0397\u039d\u0391",
    "l'\u00e9t\u00e9", "l\u2019\u00e9t\u00e9", "'\u00c9", "\u00e9'S", " \u00e9", "\u00e9 ", "\n\u00e9", "\u00e91"]


@settings(max_examples=1500, deadline=None)
@given(text=st.lists(st.sampled_from(LETTER_FRAGMENTS), min_size=8, max_size=120).map("".join))
def test_fuzzed_letters_split_the_same(text):
    splits_alike(text)


# Text in many scripts, where punctuation and marks of two to four bytes meet
# letters of every kind: a one-character prefix before letters is any of them,
# o200k's uncased letters (Lo, Lm) run into cased ones, and long fragments put
# each width across a block's last bytes.
SCRIPT_FRAGMENTS = [
    " ", "  ", "\n", "a", "Ab", "x.", ".", "'", "'s", "1", "\u00ab", "\u00bb", "\u2019", "\u201c", "\u2014",
    "\u2026", "\u00b7", "\u00ad", "\u200c", "\u3001", "\u3002", "\uff01", "\U0001F600", "\U0001F3FD",
    "\U00010400", "\U0001d41a", "\u0928\u092e\u0938\u094d\u0924\u0947", "\u0915\u093f", "\u094d", "\u0902",
    "\u0e20\u0e32\u0e29\u0e32\u0e44\u0e17\u0e22", "\u0e31", "\u0627\u0644\u0639\u0631\u0628\u064a\u0629",
    "\u064e", "\u4e2d\u6587", "\u3042\u3044", "\u00aa", "\u00ba", "\u02b0", "\u02bc", "A\u00aa", "\u00bab",
    "n\u00ba", "\u00e9", "\u00c9", "\u0416\u0436", "\u0301", "e\u0301", "\u05e9\u05dc\u05d5\u05dd", "\u00a0",
    "\u0663", "\u00b2", "\u2028", "\u3000", "x" * 13, "\u0416" * 11, "\u4e2d" * 7, "\U0001F600" * 5]


@settings(max_examples=1500, deadline=None)
@given(text=st.lists(st.sampled_from(SCRIPT_FRAGMENTS), min_size=8, max_size=120).map("".join))
def test_fuzzed_scripts_split_the_same(text):
    splits_alike(text)


def test_code_splits_the_same():
    sources = sorted((Path(warptok.__file__).parent).rglob("*.py")) + sorted(Path(__file__).parent.glob("*.py"))
    texts = [f.read_text(encoding="utf-8") for f in sources]
    assert sum(map(len, texts)) > 200_000
    for key in KNOWN:
        fasts, generic = _pairs(key)
        for fast in fasts:
            for text in texts:
                assert fast.pre_tokenize(text) == generic.pre_tokenize(text), (key, text[:200])


_cache = {}


def _pairs(key):
    if key not in _cache:
        _cache[key] = pair(*key)
    return _cache[key]


# Class-run splits before a scanner's split are encoded in one pass (tokenizer.c,
# runs_then_scan), which pre_tokenize does not take: it goes stage by stage. So the
# chains are checked on encode, against the generic matcher. The third and fourth
# chains' classes overlap: a run of a later class stops at a code point of an
# earlier one, which split the text first.
_DS3 = next(k for k in _pattern._SCANNERS if _pattern._SCANNERS[k][0] == _pattern._DS3)
# A digit split first and DeepSeek-V3's split last are one scanner's pass (digits_apart)
# where no class between holds a digit: the fourth value, the split it starts from.
RUN_CHAINS = [
    ([r"\p{N}{1,3}", "[\u4e00-\u9fa5\u3040-\u309f\u30a0-\u30ff]+"], _DS3, 0),    # DeepSeek-V3's
    ([r"\p{N}{1,3}"], (r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+", "onig"), None),
    ([r"\p{N}+", "[0-9a-c]+"], _DS3, None),                      # the class between holds digits
    (["[ab9]", r"\p{N}{1,2}", "[a-c\u4e00-\u9fa5]+"], (encodings.CL100K_PATTERN, "fancy"), None),
    ([r"\p{N}+"], _DS3, 0),
    ([r"\p{N}", "[a-c]+", "[\u4e00-\u9fa5]+"], _DS3, 0),
    (["[\u4e00-\u9fa5]+", r"\p{N}{1,3}"], _DS3, None),          # the digits are not split first
]


def whitespace_ranks():
    """GPT-2's ranks and whitespace runs as tokens: a run cut into two pieces encodes
    differently from one piece (GPT-2 alone encodes "  " as two " " either way)."""
    ranks = _load.load_tiktoken_ranks(encodings.BUNDLED_GPT2)
    runs = [c * k for c in (b" ", b"\t", b"\n") for k in range(2, 65)]
    runs += [a + b for a in (b" ", b"\t", b"\n") for b in (b" ", b"\t", b"\n")]
    runs += [a + b for a in (b" ", b"\t", b"\n") for b in runs if len(b) < 4]
    for r in runs:
        ranks.setdefault(r, len(ranks))
    return ranks


def chain_pair(runs, last, fused_at):
    spec = _load.tiktoken_spec(whitespace_ranks(), last[0], None)
    spec.stages = [Stage(r, "onig", "Isolated") for r in runs] + [Stage(last[0], last[1], "Isolated")]
    fast = warptok.Tokenizer(spec)
    assert fast._core.block_masks[:len(runs)] == [None] * len(runs)   # the runs have scanners: no masks
    assert fast._core.digits_fused_at == fused_at
    return fast, generic_only(spec)


@pytest.fixture(scope="module")
def chains():
    return [chain_pair(*c) for c in RUN_CHAINS]


def test_run_chains_encode_the_same(chains):
    code = sorted((Path(warptok.__file__).parent).rglob("*.py")) + sorted(Path(__file__).parent.glob("*.py"))
    docs = corpus("english")[:300] + corpus("multilingual") + corpus("adversarial")
    docs += [f.read_text(encoding="utf-8") for f in code]
    docs.append("\n".join(["x = 12345 + 0.5 * (abc9 - 中文123) ", "1" * 1000, "中" * 500 + "1", "a9b8c7" * 300,
                           "x  1\n  2 \t3\u0663\u00b2 !1a 1!a   \n1\r\n  ab1\u0301c\u00bd"]))
    for fast, generic in chains:
        for doc in docs:
            assert fast.encode_ordinary(doc) == generic.encode_ordinary(doc), doc[:200]


@settings(max_examples=1500, deadline=None)
@given(text=st.lists(st.sampled_from(FRAGMENTS + ["123", "9999", "a9", "9a", "abc", "ba9", "\u4e2d9",
                                                  "\u30a1\u30fc", "1 2", " 7", "7 ", "  ", "\n", "\u0663",
                                                  "\u00b2", "!", "\t"]), max_size=30).map("".join))
def test_fuzzed_run_chains_encode_the_same(chains, text):
    for fast, generic in chains:
        assert fast.encode_ordinary(text) == generic.encode_ordinary(text), text
