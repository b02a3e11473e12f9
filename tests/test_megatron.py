"""Megatron-LM's indexed dataset: ``warptok.io.megatron.MegatronWriter`` and
``warptok encode --format megatron``, each checked with the independent reader of
tests/megatron_layout.py against single-process encoding."""

from __future__ import annotations

import json
import struct
import sys

import numpy as np
import pytest
from conftest import data
from megatron_layout import read_indexed

import warptok
from warptok import errors
from warptok.cli import main
from warptok.io.megatron import MegatronWriter, end_of_document_id, token_dtype


def qwen3():
    return data("vocab", "qwen3")


def llama3():
    return data("vocab", "llama3")


def encode(argv):
    return main(["encode", "--quiet", *map(str, argv)])


def fails(argv, capsys) -> str:
    with pytest.raises(SystemExit) as info:
        encode(argv)
    assert info.value.code == 1
    return capsys.readouterr().err


# ------------------------------------------------------------------ the writer


def test_header_and_arrays_byte_for_byte(tmp_path):
    with MegatronWriter(tmp_path / "x", 50257) as w:
        w.add_documents(np.array([5, 6, 7, 8, 9], np.uint32), np.array([0, 2, 2, 5]))
    raw = (tmp_path / "x.idx").read_bytes()
    assert raw == (b"MMIDIDX\x00\x00" + struct.pack("<QBQQ", 1, 8, 3, 4)
                   + struct.pack("<3i", 2, 0, 3) + struct.pack("<3q", 0, 4, 4) + struct.pack("<4q", 0, 1, 2, 3))
    assert (tmp_path / "x.bin").read_bytes() == struct.pack("<5H", 5, 6, 7, 8, 9)


def test_dtype_follows_megatron_rule():
    assert token_dtype(50257) == np.uint16 and token_dtype(65499) == np.uint16
    assert token_dtype(65500) == np.int32 and token_dtype(151669) == np.int32


@pytest.mark.parametrize("vocab, code", [(50257, 8), (200019, 4)])
def test_writer_documents_parts_and_eod(tmp_path, vocab, code):
    rng = np.random.default_rng(3)
    docs = [rng.integers(0, vocab, n).tolist() for n in (0, 1, 17, 0, 4000, 3)]
    flat = np.array([t for d in docs for t in d], np.uint32)
    offsets = np.cumsum([0] + [len(d) for d in docs])
    for eod in (None, vocab - 1):
        prefix = tmp_path / f"w{eod}"
        with MegatronWriter(prefix, vocab, eod_id=eod) as w:
            w.add_documents(flat, offsets)
            # offsets that do not start at 0: the documents of a slice of a bigger batch
            w.add_documents(np.concatenate([[1, 2, 3], flat]).astype(np.uint32), offsets[2:] + 3)
            for part in np.array_split(flat, 7):          # one long document in parts
                w.add_tokens(part)
            w.end_document()
            w.end_document()                              # an empty one
            w.add_tokens(flat[:5])                        # left open: close() ends it
        tail = [[] if eod is None else [eod]]
        expect = [d + tail[0] for d in docs + docs[2:] + [flat.tolist(), [], flat[:5].tolist()]]
        got = read_indexed(prefix)
        assert got.code == code and got.documents() == expect
        assert got.document_indices.tolist() == list(range(len(expect) + 1))
        assert w.n_documents == len(expect) and w.n_tokens == sum(map(len, expect))


def test_writer_refuses_and_leaves_nothing(tmp_path):
    with pytest.raises(errors.ValueError, match="not below vocab_size"):
        with MegatronWriter(tmp_path / "bad.bin", 1000) as w:
            w.add_documents(np.arange(10), [0, 4, 10])
            w.add_documents(np.array([1, 1000]), [0, 2])
    with pytest.raises(errors.ValueError, match="end_document first"):
        with MegatronWriter(tmp_path / "bad", 1000) as w:
            w.add_tokens([1])
            w.add_documents(np.array([1]), [0, 1])
    assert list(tmp_path.iterdir()) == []
    for kwargs in ({"eod_id": 1000}, {"dtype": "uint16", "vocab_size": 70000}, {"dtype": "int64"},
                   {"vocab_size": 0}):
        with pytest.raises(errors.ValueError):
            MegatronWriter(tmp_path / "x", **{"vocab_size": 1000, **kwargs})
    w = MegatronWriter(tmp_path / "x", 1000)
    w.close()
    w.close()
    with pytest.raises(errors.ValueError, match="closed"):
        w.add_tokens([1])
    assert read_indexed(tmp_path / "x").documents() == []


def test_end_of_document_id():
    gpt2 = warptok.get_encoding("gpt2")
    assert end_of_document_id(gpt2) == 50256
    qwen = warptok.Tokenizer.from_pretrained(qwen3())
    assert end_of_document_id(qwen) == qwen.added_tokens["<|im_end|>"]              # the config's eos_token
    assert end_of_document_id(qwen, "<|endoftext|>") == qwen.added_tokens["<|endoftext|>"]
    assert end_of_document_id(qwen, 7) == 7 and end_of_document_id(qwen, "7") == 7
    llama = warptok.Tokenizer.from_pretrained(llama3())
    assert end_of_document_id(llama) == llama.added_tokens["<|end_of_text|>"]
    bare = warptok.Tokenizer.from_file(llama3() / "tokenizer.json")                   # no config: no eos_token
    with pytest.raises(errors.ValueError, match="no end-of-document token"):
        end_of_document_id(bare)
    for bad in (10 ** 9, -1, "not a token", 1.5):
        with pytest.raises((errors.ValueError, errors.TypeError)):
            end_of_document_id(gpt2, bad)


# ------------------------------------------------------------------ warptok encode --format megatron


def test_cli_files_equal_encoding_whole_files(tmp_path):
    a = tmp_path / "a.txt"
    a.write_bytes(data("english", "big.txt").read_bytes()[:1_500_000] + "\n\nümlaut  \n".encode() * 40)
    b = tmp_path / "b.txt"
    b.write_bytes(data("multilingual", "udhr_dev.txt").read_bytes()[:200_000])
    e = tmp_path / "empty.txt"
    e.write_bytes(b"")
    tok = warptok.get_encoding("gpt2")
    ref = [tok.encode_ordinary(p.read_bytes().decode("utf-8", "replace")) for p in (a, b, e)]
    assert encode([a, b, e, "--format", "megatron", "--out", tmp_path / "m", "--block-mb", "1"]) == 0
    got = read_indexed(tmp_path / "m")
    assert got.code == 8 and got.documents() == ref
    assert encode([a, b, e, "--format", "megatron", "--out", tmp_path / "m.bin", "--append-eod",
                   "--block-mb", "1"]) == 0
    assert read_indexed(tmp_path / "m").documents() == [r + [50256] for r in ref]


def test_cli_jsonl(tmp_path):
    rows = [{"text": "Hello world", "id": 1}, {"text": ""}, {"text": "<|im_end|> and <|endoftext|> as text"},
            {"text": "ünïcödé, 中文, emoji 🎉", "meta": {"x": [1, 2]}}]
    p = tmp_path / "d.jsonl"
    p.write_text(json.dumps(rows[0]) + "\n\n  \n" + "\n".join(json.dumps(r, ensure_ascii=False) for r in rows[1:]),
                 encoding="utf-8")                      # blank lines skipped; no final newline
    tok = warptok.Tokenizer.from_pretrained(qwen3())
    texts = [r["text"] for r in rows]
    ref = tok.encode_ordinary_batch(texts)
    im_end = tok.added_tokens["<|im_end|>"]
    assert encode([p, "--jsonl-key", "text", "--model", qwen3(), "--format", "megatron", "--out",
                   tmp_path / "q", "--append-eod", "--block-mb", "1"]) == 0
    got = read_indexed(tmp_path / "q")
    assert got.code == 4 and got.documents() == [r + [im_end] for r in ref]           # int32: 151k ids
    assert encode([p, "--jsonl-key", "text", "--model", qwen3(), "--format", "megatron", "--out",
                   tmp_path / "q", "--append-eod", "--eod-id", "<|endoftext|>"]) == 0
    assert read_indexed(tmp_path / "q").documents() == [r + [tok.added_tokens["<|endoftext|>"]] for r in ref]
    # the special tokens recognized, and the tokenizer's own BOS/EOS (none for Qwen3)
    assert encode([p, "--jsonl-key", "text", "--model", qwen3(), "--format", "megatron", "--out",
                   tmp_path / "q", "--allow-special", "--add-special-tokens"]) == 0
    assert read_indexed(tmp_path / "q").documents() == tok.encode_batch(texts, allowed_special="all")
    # the warptok layout takes --jsonl-key and --append-eod too
    assert encode([p, "--jsonl-key", "text", "--model", qwen3(), "--out", tmp_path / "w.bin", "--append-eod"]) == 0
    ids, offs = np.fromfile(tmp_path / "w.bin", "<u4"), np.fromfile(tmp_path / "w.idx", "<i8")
    assert [ids[offs[i]:offs[i + 1]].tolist() for i in range(len(texts))] == [r + [im_end] for r in ref]


def test_cli_lines_uint16(tmp_path):
    lines = ["first", "", "second <|endoftext|> line", "last"]
    p = tmp_path / "l.txt"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert encode([p, "--docs", "line", "--format", "megatron", "--out", tmp_path / "l", "--append-eod"]) == 0
    tok = warptok.get_encoding("gpt2")
    assert read_indexed(tmp_path / "l").documents() == [d + [50256] for d in tok.encode_ordinary_batch(lines)]


def test_cli_errors(tmp_path, capsys):
    p = tmp_path / "d.jsonl"
    p.write_text('{"text": "a"}\n{"text": 3}\n', encoding="utf-8")
    out = tmp_path / "o"
    assert "2: 'text' is a int" in fails([p, "--jsonl-key", "text", "--format", "megatron", "--out", out], capsys)
    p.write_text('{"text": "a"}\n{"text": "b"\n', encoding="utf-8")
    assert f"{p}:2: not a JSON line" in fails([p, "--jsonl-key", "text", "--format", "megatron", "--out", out],
                                                capsys)
    assert "no key 'body'" in fails([p, "--jsonl-key", "body", "--out", tmp_path / "o.bin"], capsys)
    assert list(tmp_path.iterdir()) == [p]              # nothing left by the failed runs
    assert "no end-of-document token" in fails([p, "--model", llama3() / "tokenizer.json", "--append-eod",
                                                "--format", "megatron", "--out", out], capsys)
    assert "--eod-id needs --append-eod" in fails([p, "--eod-id", "5", "--out", out], capsys)
    assert "does not take --docs file" in fails([p, "--jsonl-key", "text", "--docs", "file", "--out", out], capsys)
    assert "--index is for --format warptok" in fails([p, "--format", "megatron", "--index", out, "--out", out],
                                                      capsys)
    assert list(tmp_path.iterdir()) == [p]


def test_cli_progress_bar_on_a_terminal(tmp_path, capsys, monkeypatch):
    p = tmp_path / "a.txt"
    p.write_bytes(data("english", "big.txt").read_bytes()[:3_000_000])
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    assert main(["encode", str(p), "--format", "megatron", "--out", str(tmp_path / "m"), "--block-mb", "1"]) == 0
    out, err = capsys.readouterr()
    assert "encode [" in err and "100.0%" in err and "tokens" in err       # the bar, redrawn to its end
    assert "1 documents" in out and "(uint16)" in out and "Megatron's index" in out
