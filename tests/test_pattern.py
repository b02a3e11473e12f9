"""The pattern compiler: each dialect's meaning, checked against the engines themselves."""

from functools import lru_cache

import pytest
from tokenizers import Regex
from tokenizers.pre_tokenizers import Split

import warptok
from conftest import reference
from warptok._compile import tiktoken_file as _load
from warptok._compile.pattern import compile_pattern
from warptok._compile.spec import Stage
from warptok.encodings import BUNDLED_GPT2
from warptok.errors import UnsupportedPattern
from warptok.encodings import CL100K_PATTERN, O200K_PATTERN, R50K_PATTERN

LLAMA3 = r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"""
PATTERNS = [
    LLAMA3, R50K_PATTERN, CL100K_PATTERN, O200K_PATTERN,
    r"\p{N}{1,3}+", r"\p{N}{2}|.", r"\s+$|\S+|\s", r"a+?b|.", r"(?>a+)ab|.", r"(?:ab|a)c|.",
    r"[^\p{L}\p{N}\s]+|\p{Lu}\p{Ll}*|\p{Ll}+|\p{N}|\s+", r"(?i:ab|cd)|.", r"x{2,}|x|.", r"(?=a)\w+|\W|\w",
]
TEXTS = ["12345678 abc", "Don't  STOP'S ſ'ſ 'Ll", "hello   \n\n  world  ", "aaab aab ab b", "abc ac",
         "ΑΒΓ αβγ Ǆǅǆ ＡＢＣ", "中文字符 かな カナ 한국어", "x=1; y == 22\r\n\tz", "e\u0301 \u0915\u093f", "😀👍🏽 🇫🇷",
         "xxxxx xx x", "", "   ", "\n", "ab\u2028cd\u00a0ef\u3000"]


def hf_pieces(pattern, text):
    return [p for p, _ in Split(Regex(pattern), "isolated").pre_tokenize_str(text)]


@lru_cache(maxsize=None)
def pattern_tokenizer(pattern, dialect):
    """GPT-2's vocabulary with the pattern in the dialect (and gap handling) of HF or tiktoken."""
    spec = _load.tiktoken_spec(_load.load_tiktoken_ranks(BUNDLED_GPT2), pattern, None)
    if dialect == "onig":                 # HF's Split: Isolated, gaps kept
        spec.stages = [Stage(pattern, "onig", "Isolated")]
    return warptok.Tokenizer(spec)


def ours_pieces(pattern, dialect, text):
    return pattern_tokenizer(pattern, dialect).pre_tokenize(text)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_oniguruma_dialect_matches_hf_pieces(pattern):
    for text in TEXTS:
        assert ours_pieces(pattern, "onig", text) == hf_pieces(pattern, text), (pattern, text)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_fancy_dialect_matches_tiktoken_ids(pattern):
    import tiktoken

    ranks = reference("gpt2")._mergeable_ranks
    ref = tiktoken.Encoding("probe", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
    tok = pattern_tokenizer(pattern, "fancy")
    for text in TEXTS:
        assert tok.encode_ordinary(text) == ref.encode_ordinary(text), (pattern, text)


def test_dialects_differ_where_engines_do():
    # Oniguruma: (?:\p{N}{1,3})+ ; fancy-regex: possessive {1,3}.
    assert hf_pieces(r"\p{N}{1,3}+", "12345678") == ["12345678"]
    assert ours_pieces(r"\p{N}{1,3}+", "onig", "12345678") == ["12345678"]
    assert ours_pieces(r"\p{N}{1,3}+", "fancy", "12345678") == ["123", "456", "78"]


@pytest.mark.parametrize("pattern, construct", [
    (r"(a)\1", r"\1"), (r"(?<n>a)", "(?<"), (r"\bword", r"\b"), (r"[a&&b]", "&&"), (r"[[a]]", "nested"),
    (r"(?:a*)*", "empty"), (r"a|", "empty"), (r"\p{Greek}", "Greek"), (r"(?i:ss)", "folds across"),
])
def test_unsupported_constructs_are_named(pattern, construct):
    with pytest.raises(UnsupportedPattern, match=construct.replace("\\", "\\\\").replace("(", "\\(").replace("[", "\\[")
                       .replace("?", "\\?")):
        compile_pattern(pattern, "onig")


# Greedy class loops followed by something that can only start with some characters
# (REP's follow set), and alternatives sharing a long class run (the run memo).
RESCAN_PATTERNS = [
    r"\s*[\r\n]+|\s+(?!\S)|\s+", r"\s++$|\s*[\r\n]|\s+(?!\S)|\s", r"a*b|a+c|.", r"[ab]*c[ab]*d|\w+|.",
    r"\s+$|\s+x|.", r"(?:\s*[\r\n])+|\S+|\s", r"x*[xy]|.", r"\s*(?:\r\n|\n)|\s*\p{L}|.", r"\p{L}*\p{N}|\p{L}+|.",
    r"(?i:k*s)|.", r"(?>\s*)x|\s+(?=x)|.", r"[^\n]*\n|.",
]
RESCAN_TEXTS = [" " * 300 + "x", " " * 70 + "\n" + " " * 70 + "x", "\r\n" * 40 + "  x", "\t " * 50 + "\u3000\n",
                "a" * 80 + "b" + "a" * 80 + "c" + "ab" * 40 + "cd", "x" * 100 + "y" + "x" * 100, "ſ" * 70 + "K" * 70 + "s",
                "\u00a0" * 80 + "\u4e2d" + " " * 65 + "\n" * 3, "word" * 30 + "7", " " * 64, " " * 65 + "\n", "   x\n  \n"]


@pytest.mark.parametrize("pattern", RESCAN_PATTERNS + [LLAMA3, CL100K_PATTERN, O200K_PATTERN])
def test_long_runs_match_the_references(pattern):
    import tiktoken

    ranks = reference("gpt2")._mergeable_ranks
    ref = tiktoken.Encoding("probe", pat_str=pattern, mergeable_ranks=ranks, special_tokens={})
    fancy = pattern_tokenizer(pattern, "fancy")
    for text in RESCAN_TEXTS + TEXTS:
        assert ours_pieces(pattern, "onig", text) == hf_pieces(pattern, text), (pattern, text)
        assert fancy.encode_ordinary(text) == ref.encode_ordinary(text), (pattern, text)


@pytest.mark.parametrize("pattern", RESCAN_PATTERNS + PATTERNS)
def test_follow_sets_equal_plain_backtracking(pattern):
    from warptok._compile import pattern as _pattern

    texts = RESCAN_TEXTS + TEXTS + [a + b for a in RESCAN_TEXTS for b in TEXTS[:6]]
    for dialect in ("onig", "fancy"):
        fast = pattern_tokenizer(pattern, dialect)
        try:
            _pattern.FOLLOW_SETS = False
            pattern_tokenizer.cache_clear()
            plain = pattern_tokenizer(pattern, dialect)
        finally:
            _pattern.FOLLOW_SETS = True
            pattern_tokenizer.cache_clear()
        for text in texts:
            assert fast.pre_tokenize(text) == plain.pre_tokenize(text), (pattern, dialect, text)


def test_long_s_and_kelvin_fold_like_the_references():
    text = "it'ſ IT'S Kelvin \u212a 'K"
    assert ours_pieces(LLAMA3, "onig", text) == hf_pieces(LLAMA3, text)
