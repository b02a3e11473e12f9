"""Tokenizers pickle, deep-copy, and load in other processes (multiprocessing, datasets,
Spark, Ray): every way of building one, the drop-ins too. A pickle holds the file the
tokenizer was loaded from, so it is the same bytes for two loads of one file and needs no
file in the worker."""

from __future__ import annotations

import copy
import gzip
import multiprocessing
import pickle
import subprocess
import sys

import pytest
from conftest import data, gpt2_tokenizer_json

import warptok
from warptok import encodings, errors

TEXTS = ["Hello world! <|endoftext|> héllo 123 \n\n  spaces", "日本語のテキスト", "", "a" * 300]


def loaders(tmp_path):
    """name -> a function that loads a fresh tokenizer (tmp_path holds the copies of files)."""
    gpt2_json = tmp_path / "gpt2.json"
    gpt2_json.write_bytes(gpt2_tokenizer_json())
    cl100k = data("vocab", "cl100k_base.tiktoken")
    cl100k_gz = tmp_path / "cl100k.tiktoken.gz"
    cl100k_gz.write_bytes(gzip.compress(cl100k.read_bytes(), mtime=0))
    pattern, specials, _ = encodings.ENCODINGS["cl100k_base"]
    return {
        "from_file": lambda: warptok.Tokenizer.from_file(gpt2_json),
        "from_str": lambda: warptok.Tokenizer.from_str(gpt2_tokenizer_json().decode(), name="g"),
        "from_str_bytes": lambda: warptok.Tokenizer.from_str(gpt2_tokenizer_json()),
        "from_pretrained": lambda: warptok.Tokenizer.from_pretrained(data("vocab", "qwen3")),
        "from_tiktoken": lambda: warptok.Tokenizer.from_tiktoken(cl100k, pattern, specials),
        "from_tiktoken_gz": lambda: warptok.Tokenizer.from_tiktoken(cl100k_gz, pattern, specials, name="c"),
    }


def encodes(tok):
    if tok.source == "tiktoken":
        return [tok.encode(t, allowed_special="all") for t in TEXTS]
    return [tok.encode(t) for t in TEXTS] + [tok.encode(t, add_special_tokens=False) for t in TEXTS]


def same_tokenizer(a, b):
    assert type(a) is type(b) and a.name == b.name and a.source == b.source
    assert a.special_tokens == b.special_tokens and a.added_tokens == b.added_tokens
    assert a.chat_template == b.chat_template and a.special_tokens_map == b.special_tokens_map
    assert a.split_special_tokens == b.split_special_tokens and a.name_or_path == b.name_or_path
    assert encodes(a) == encodes(b)
    assert a.decode(a.encode("héllo wörld")) == "héllo wörld"


@pytest.mark.parametrize("how", ["from_file", "from_str", "from_str_bytes", "from_pretrained", "from_tiktoken",
                                 "from_tiktoken_gz"])
def test_round_trip_is_deterministic(how, tmp_path):
    load = loaders(tmp_path)[how]
    a, b = load(), load()
    blob = pickle.dumps(a)
    assert pickle.dumps(b) == blob                         # two loads of one file: the same bytes
    assert pickle.dumps(a) == blob                         # and the same again
    assert pickle.dumps(a, protocol=2) == pickle.dumps(b, protocol=2)
    restored = pickle.loads(blob)
    assert restored is not a
    same_tokenizer(restored, a)
    assert pickle.dumps(restored) == blob                  # a rebuilt tokenizer pickles as it came
    assert len(blob) < 3_000_000                           # compressed (Qwen3's tokenizer.json is 11 MB)


def test_no_file_needed_on_load(tmp_path):
    src = tmp_path / "tokenizer.json"
    src.write_bytes(gpt2_tokenizer_json())
    tok = warptok.Tokenizer.from_file(src)
    blob = pickle.dumps(tok)
    src.unlink()
    same_tokenizer(pickle.loads(blob), tok)


@pytest.mark.parametrize("name", ["gpt2", "r50k_base", "cl100k_base", "o200k_base"])
def test_get_encoding(name):
    tok = warptok.get_encoding(name)
    blob = pickle.dumps(tok)
    assert pickle.loads(blob) is tok                       # this process's own encoding
    if name in ("gpt2", "r50k_base"):
        assert len(blob) < 200                             # the rank file ships with warptok: by name
    # Another process (no rank file on its path) builds it from the pickle's bytes.
    code = ("import os, pickle, sys, warptok\n"
            "os.environ['WARPTOK_DATA_DIR'] = '/nonexistent'\n"
            "tok = pickle.loads(sys.stdin.buffer.read())\n"
            "assert tok is warptok.get_encoding(tok.name)\n"
            f"print(tok.name, [tok.encode(t, allowed_special='all') for t in {TEXTS!r}])")
    out = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, check=True).stdout
    assert out.decode().strip() == f"{name} {encodes(tok)}"


def test_copy_returns_the_tokenizer(tmp_path):
    for load in loaders(tmp_path).values():
        tok = load()
        assert copy.copy(tok) is tok and copy.deepcopy(tok) is tok
        assert copy.deepcopy([tok, {"t": tok}])[1]["t"] is tok
        break
    enc = warptok.get_encoding("gpt2")
    assert copy.deepcopy(enc) is enc


def test_spec_built_tokenizer_does_not_pickle():
    from warptok._compile import tiktoken_file

    spec = tiktoken_file.tiktoken_spec(tiktoken_file.load_tiktoken_ranks(encodings.BUNDLED_GPT2),
                                       encodings.R50K_PATTERN, None)
    with pytest.raises(errors.TypeError, match="cannot be pickled"):
        pickle.dumps(warptok.Tokenizer(spec))


def test_other_format_raises():
    from warptok.tokenizer import _restore

    with pytest.raises(errors.ValueError, match="format"):
        _restore(99, "{}", b"")


def _encode_in_worker(args):
    tok, text = args
    return tok.encode(text)


def test_multiprocessing_spawn(tmp_path):
    """Pool.map with a tokenizer in the arguments, and a bound method as the function."""
    tok = loaders(tmp_path)["from_file"]()
    texts = TEXTS * 2
    with multiprocessing.get_context("spawn").Pool(2) as pool:
        assert pool.map(tok.encode, texts) == [tok.encode(t) for t in texts]
        assert pool.map(_encode_in_worker, [(tok, t) for t in texts]) == [tok.encode(t) for t in texts]


def test_drop_ins(tmp_path):
    import warptok.hf
    import warptok.tiktoken_compat as tc

    hf1 = warptok.hf.from_pretrained(data("vocab", "qwen3"), backend="files").with_options(padding_side="left")
    hf2 = warptok.hf.from_pretrained(data("vocab", "qwen3"), backend="files").with_options(padding_side="left")
    blob = pickle.dumps(hf1)
    assert blob == pickle.dumps(hf2) and len(blob) < 3_000_000
    back = pickle.loads(blob)
    assert back.padding_side == "left" and back.special_tokens_map == hf1.special_tokens_map
    assert back(TEXTS, padding=True) == hf1(TEXTS, padding=True)
    assert back.get_vocab() == hf1.get_vocab() and len(back) == len(hf1)
    assert pickle.dumps(back) == blob
    assert copy.deepcopy(hf1) is hf1 and copy.copy(hf1) is hf1

    enc = tc.get_encoding("cl100k_base")
    assert pickle.loads(pickle.dumps(enc)) is enc and copy.deepcopy(enc) is enc
    pattern, specials, _ = encodings.ENCODINGS["cl100k_base"]
    custom = tc.Encoding(warptok.Tokenizer.from_tiktoken(data("vocab", "cl100k_base.tiktoken"), pattern, specials,
                                                         name="mine"))
    back = pickle.loads(pickle.dumps(custom))
    assert back.name == "mine" and back.encode_batch(TEXTS, allowed_special="all") == \
        custom.encode_batch(TEXTS, allowed_special="all")
