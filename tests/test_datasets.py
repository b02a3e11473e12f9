"""Hugging Face ``datasets``: ``Dataset.map(..., batched=True, num_proc=N)`` with a warptok
tokenizer works, equals the serial map, and a second run (a new tokenizer object, in
another process too) finds the first run's cache: the tokenizer's fingerprint
(``datasets.fingerprint.Hasher.hash``, a hash of its pickle) depends on the file only.
Skipped when ``datasets`` is not installed (``pip install ".[datasets]"``)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import data, gpt2_tokenizer_json

datasets = pytest.importorskip("datasets")
from datasets.fingerprint import Hasher  # noqa: E402

import warptok  # noqa: E402


@pytest.fixture(autouse=True)
def _quiet():
    datasets.disable_progress_bars()
    yield
    datasets.enable_progress_bars()


def _hash_in_subprocess(code: str) -> str:
    """The last line ``code`` prints, run in a new interpreter."""
    out = subprocess.run([sys.executable, "-c", "import warptok\nfrom datasets.fingerprint import Hasher\n" + code],
                         capture_output=True, text=True, check=True)
    return out.stdout.strip().splitlines()[-1]


def test_fingerprint_is_stable(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_bytes(gpt2_tokenizer_json())
    qwen3 = data("vocab", "qwen3")
    cases = {
        f"warptok.Tokenizer.from_file({str(path)!r})": lambda: warptok.Tokenizer.from_file(path),
        f"warptok.Tokenizer.from_pretrained({str(qwen3)!r})": lambda: warptok.Tokenizer.from_pretrained(qwen3),
        "warptok.get_encoding('cl100k_base')": lambda: warptok.get_encoding("cl100k_base"),
        "warptok.get_encoding('gpt2')": lambda: warptok.get_encoding("gpt2"),
    }
    for code, load in cases.items():
        a = Hasher.hash(load())
        assert Hasher.hash(load()) == a, code
        assert _hash_in_subprocess(f"print(Hasher.hash({code}))") == a, code


def test_fingerprint_of_the_hf_drop_in():
    import warptok.hf

    def load():
        return warptok.hf.from_pretrained(data("vocab", "qwen3"), backend="files").with_options(padding_side="left")

    a = Hasher.hash(load())
    assert Hasher.hash(load()) == a


def _tokenize_fn(tok):
    return lambda batch: {"input_ids": tok.encode_batch(batch["text"])}


def _cache_state(ds):
    return {f["filename"]: (os.stat(f["filename"]).st_ino, os.stat(f["filename"]).st_mtime_ns)
            for f in ds.cache_files}


def test_map_num_proc_equals_serial_and_reuses_the_cache(tmp_path):
    path = tmp_path / "tokenizer.json"
    path.write_bytes(gpt2_tokenizer_json())
    texts = [f"document {i}: héllo wörld {i * 7} " * (i % 5) for i in range(300)]
    datasets.Dataset.from_dict({"text": texts}).save_to_disk(str(tmp_path / "src"))
    ds = datasets.load_from_disk(str(tmp_path / "src"))      # on disk, so map writes cache files beside it

    tok = warptok.Tokenizer.from_file(path)
    expected = tok.encode_batch(texts)
    out = ds.map(_tokenize_fn(tok), batched=True, num_proc=2)
    assert out["input_ids"] == expected
    assert len(out.cache_files) == 2                          # one per process
    serial = ds.map(_tokenize_fn(tok), batched=True, batch_size=64)
    assert serial["input_ids"] == expected
    first = _cache_state(out)

    # A second run with a tokenizer loaded again: the same fingerprint, the files not rewritten.
    again = ds.map(_tokenize_fn(warptok.Tokenizer.from_file(path)), batched=True, num_proc=2)
    assert again._fingerprint == out._fingerprint
    assert _cache_state(again) == first
    assert again["input_ids"] == expected

    # And a script run twice: the second run finds the first one's files.
    script = tmp_path / "job.py"
    script.write_text(
        "import os, sys, datasets, warptok\n"
        "datasets.disable_progress_bars()\n"
        "ds = datasets.load_from_disk(sys.argv[1])\n"
        "tok = warptok.Tokenizer.from_file(sys.argv[2])\n"
        "out = ds.map(lambda batch: {'input_ids': tok.encode_batch(batch['text'])}, batched=True, num_proc=2)\n"
        "assert out['input_ids'] == tok.encode_batch(ds['text'])\n"
        "print(out._fingerprint, sorted((f['filename'], os.stat(f['filename']).st_mtime_ns) for f in out.cache_files))\n")

    def run():
        return subprocess.run([sys.executable, str(script), str(tmp_path / "src"), str(path)], capture_output=True,
                              text=True, check=True).stdout.strip().splitlines()[-1]

    assert run() == run()
