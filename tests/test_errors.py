"""A tokenizer.json warptok cannot reproduce exactly is refused, naming the part."""

import json

import pytest

import warptok
from conftest import hf_json


def variant(**changes):
    j = json.loads(hf_json("llama3"))
    for path, value in changes.items():
        node = j
        keys = path.split("__")
        for k in keys[:-1]:
            node = node[int(k)] if k.isdigit() else node[k]
        node[keys[-1]] = value
    return json.dumps(j)


@pytest.mark.parametrize("change, named", [
    (dict(model__type="Bogus"), "model type"),
    (dict(model__dropout=0.1), "dropout"),
    (dict(normalizer={"type": "ByteLevel"}), "normalizer"),
    (dict(pre_tokenizer__pretokenizers__0__behavior="Bogus"), "Split behavior"),
    (dict(pre_tokenizer={"type": "Sequence", "pretokenizers": [{"type": "UnicodeScripts"}, {
        "type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}]}), "pre-tokenizer"),
    (dict(post_processor={"type": "Bogus", "sep": ["x", 1], "cls": ["y", 2]}), "post-processor"),
    (dict(added_tokens__0__single_word=True), "single_word"),
    (dict(pre_tokenizer__pretokenizers__0__pattern={"Regex": r"(a)\1"}), r"\\1"),
])
def test_unsupported_configuration_is_named(change, named):
    with pytest.raises((warptok.UnsupportedTokenizer, warptok.UnsupportedPattern), match=named):
        warptok.Tokenizer.from_str(variant(**change))


def test_not_a_tokenizer_file():
    with pytest.raises(ValueError, match="not a tokenizer.json"):
        warptok.Tokenizer.from_str("{}")
    with pytest.raises(ValueError, match="not a tokenizer.json"):
        warptok.Tokenizer.from_str("not json")
    for wrong in (5, None, [1]):      # json's own TypeError, as a warptok error
        with pytest.raises(warptok.WarptokError, match="str, bytes or a dict"):
            warptok.Tokenizer.from_str(wrong)


def _with_merges(extra, vocab=None):
    j = json.loads(hf_json("llama3"))
    j["model"]["vocab"].update(vocab or {})
    j["model"]["merges"].append(extra)
    return json.dumps(j)


@pytest.mark.parametrize("extra, vocab, message", [
    ("Ġ zzzz_not_a_token", None, "uses a token that is not in the vocabulary: 'zzzz_not_a_token'"),
    (["Ġ", "zzzz_not_a_token"], None, "uses a token that is not in the vocabulary: 'zzzz_not_a_token'"),
    ("Ġthe Ġthe", None, "makes 'ĠtheĠthe', which is not in the vocabulary"),
    ("Ġ", None, "is not two tokens"),
    (["Ġ"], None, "is not two tokens"),
    ("一 Ġ", {"一": 200000, "一Ġ": 200001}, "merge of tokens that are not byte-level"),
])
def test_bad_merge_is_refused_naming_it(extra, vocab, message):
    with pytest.raises((ValueError, warptok.UnsupportedTokenizer), match=message):
        warptok.Tokenizer.from_str(_with_merges(extra, vocab))


def test_repeated_merge_keeps_its_last_rank_as_hf():
    # GPT-2 merges every piece (no ignore_merges); "Ġ t" is an early merge, and
    # repeated last it ranks after every other one.
    tokenizers = pytest.importorskip("tokenizers")
    j = json.loads(hf_json("gpt2-hf"))
    j["model"]["merges"].append("Ġ t")
    text = json.dumps(j)
    ours, ref = warptok.Tokenizer.from_str(text), tokenizers.Tokenizer.from_str(text)
    sample = " the cat sat on the mat, then two more tests took time: tzatziki, tsetse, tvtropes"
    assert ours.encode(sample) == ref.encode(sample).ids
    assert ours.encode(sample) != warptok.Tokenizer.from_str(hf_json("gpt2-hf")).encode(sample)


def test_unsupported_decoder_only_blocks_decoding():
    tok = warptok.Tokenizer.from_str(variant(decoder={"type": "WordPiece", "prefix": "##", "cleanup": True}))
    assert tok.encode("hello") == [15339]
    with pytest.raises(warptok.UnsupportedTokenizer, match="WordPiece"):
        tok.decode([15339])


def test_unknown_encoding_and_missing_rank_file(monkeypatch, tmp_path):
    with pytest.raises(ValueError, match="unknown encoding"):
        warptok.get_encoding("p99k")
    bad = tmp_path / "ranks.tiktoken"
    bad.write_bytes(b"not base64 !!\n")
    with pytest.raises(ValueError, match="not a tiktoken rank line"):
        warptok.Tokenizer.from_tiktoken(bad, r"\S+|\s+")


def test_rank_file_with_wrong_hash_is_refused(monkeypatch, tmp_path):
    import warptok.encodings as enc

    fake = tmp_path / "cl100k_base.tiktoken"
    fake.write_bytes(enc.BUNDLED_GPT2.read_bytes())
    monkeypatch.setenv("WARPTOK_DATA_DIR", str(tmp_path))
    path = enc.find_rank_file("cl100k_base")
    assert path == fake
    with pytest.raises(ValueError, match="not the published"):
        enc.check_hash("cl100k_base", path)


def _python_ranks(raw: bytes) -> dict:
    # The rank file format as tiktoken reads it: base64 token, space, rank, per line.
    import base64

    return {base64.b64decode(tok): int(rank) for tok, rank in (line.split() for line in raw.splitlines() if line)}


def test_compiled_rank_reader_equals_the_format_on_real_files():
    from warptok._compile import tiktoken_file as _load
    from warptok._native import _core

    names = ["gpt2"] + [n for n in ("cl100k_base", "o200k_base") if _rank_file_or_none(n)]
    for name in names:
        raw = _load.read_maybe_gzipped(_rank_file_or_none(name))
        assert _core.tiktoken_ranks(raw) == _python_ranks(raw), name
        assert _core.tiktoken_ranks(raw.rstrip(b"\n")) == _python_ranks(raw), name


def _rank_file_or_none(name):
    from warptok import encodings

    try:
        return encodings.find_rank_file(name)
    except (FileNotFoundError, ValueError):
        return None


@pytest.mark.parametrize("layout", ["no final newline", "CRLF", "tabs", "blank lines"])
def test_rank_file_layouts_read_alike(tmp_path, layout):
    # Layouts beyond the compiled reader's go through the Python one, to the same ranks.
    from warptok import encodings
    from warptok._compile import tiktoken_file as _load

    raw = _load.read_maybe_gzipped(encodings.BUNDLED_GPT2)
    variant = {"no final newline": raw.rstrip(b"\n"), "CRLF": raw.replace(b"\n", b"\r\n"),
               "tabs": raw.replace(b" ", b"\t"), "blank lines": raw.replace(b"\n", b"\n\n")}[layout]
    path = tmp_path / "ranks.tiktoken"
    path.write_bytes(variant)
    assert _load.load_tiktoken_ranks(path) == _python_ranks(raw)


@pytest.mark.parametrize("bad_line", [b"@@@@ 5", b"IQ== 5 6", b"IQ== x", b"IQ=", b"IQ"])
def test_bad_rank_line_is_named(tmp_path, bad_line):
    from warptok._compile import tiktoken_file as _load

    path = tmp_path / "ranks.tiktoken"
    path.write_bytes(b"IQ== 0\nIg== 1\n" + bad_line + b"\nIw== 3\n")
    with pytest.raises(ValueError, match=r"ranks.tiktoken:3: not a tiktoken rank line"):
        _load.load_tiktoken_ranks(path)


def test_core_calls_check_their_pass_masks():
    """The compiled core indexes its two pass masks unchecked: a wrong tuple is an
    error before that, not a crash (a segfault before this check)."""
    tok = warptok.get_encoding("gpt2")
    text = "hello world " * 20000                      # long enough for the long-text planner too
    for bad in [(), (None,), (None, None, None)]:
        with pytest.raises(TypeError, match="two masks"):
            tok._core.encode(text, bad, 0, -1, False)
        with pytest.raises(TypeError, match="two masks"):
            tok._core.long_parts(text, bad)
    assert tok._core.encode("hello", tok._hf_plain, 0, -1, False) == tok.encode("hello")
