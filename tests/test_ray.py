"""warptok.ray: tokenizing a Ray Dataset on a local cluster (2 CPUs) equals encoding in one
process, and its Megatron shards read back (with the independent reader of
tests/megatron_layout.py) as the same documents. Ray is optional (``warptok[ray]``): without
it these tests skip, except the one for the error that names the extra."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from conftest import data
from megatron_layout import read_indexed

import warptok
import warptok.ray as wray
from warptok import errors


def llama3():
    return data("vocab", "llama3")


# Ray warns about its own settings (DataContext's deprecated fields) as it runs: not ours.
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning:ray")


def texts() -> list:
    lines = data("english", "big.txt").read_text(encoding="utf-8").splitlines()[:1500]
    udhr = data("multilingual", "udhr_dev.txt").read_text(encoding="utf-8").splitlines()[:300]
    return lines + udhr + ["", "<|endoftext|> in the text", "ünïcödé 中文 🎉", " " * 40]


def test_without_ray_the_error_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)              # import ray raises ImportError
    with pytest.raises(errors.ImportError, match=r"warptok\[ray\]"):
        wray.tokenize(object(), "gpt2")
    with pytest.raises(ImportError):
        wray.write_megatron(object(), "x", vocab_size=10)


# ------------------------------------------------------------------ without a cluster (pyarrow only)


def test_tokenize_class_and_arrow_buffers():
    pa = pytest.importorskip("pyarrow")
    ts = texts()
    table = pa.table({"id": np.arange(len(ts)), "text": ts, "input_ids": np.zeros(len(ts))})
    out = wray.Tokenize("gpt2", allowed_special="all")(table)
    assert out.column_names == ["id", "text", "input_ids"]            # replaced in place
    assert out.schema.field("input_ids").type == pa.list_(pa.uint32())
    tok = warptok.get_encoding("gpt2")
    ref = tok.encode_batch(ts, allowed_special="all")
    assert out.column("input_ids").to_pylist() == ref
    # back to flat buffers: a sliced array, chunks, and an int64 large_list
    col = out.column("input_ids")
    for c in (col, col.combine_chunks().slice(7, 500), pa.chunked_array([col.combine_chunks().slice(0, 3),
                                                                         col.combine_chunks().slice(3)]),
              col.cast(pa.large_list(pa.int64()))):
        ids, offsets = wray.flat_ids(c)
        assert [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(offsets) - 1)] == c.to_pylist()
    with pytest.raises(errors.ValueError, match="null"):
        wray.Tokenize("gpt2")(pa.table({"text": ["a", None]}))
    with pytest.raises(errors.KeyError, match="no column 'body'"):
        wray.Tokenize("gpt2", column="body")(table)
    with pytest.raises(errors.TypeError, match="unknown encode option"):
        wray.Tokenize("gpt2", num_thread=2)
    with pytest.raises(errors.TypeError, match="list of ints"):
        wray.flat_ids(table.column("text"))


# ------------------------------------------------------------------ on a local cluster

@pytest.fixture(scope="module")
def ray():
    ray = pytest.importorskip("ray")
    pytest.importorskip("ray.data")
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=256 << 20, log_to_driver=False)
    try:
        yield ray
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def tokenized(ray):
    """One dataset of three blocks, tokenized twice in one run, in order: GPT-2 (an
    encoding name) and Llama-3 (a model directory: BOS added, truncated to 16)."""
    import pyarrow as pa

    ts = texts()
    blocks = [pa.table({"id": np.arange(i, min(i + 700, len(ts))), "text": ts[i:i + 700]})
              for i in range(0, len(ts), 700)]
    options = ray.data.DataContext.get_current().execution_options
    kept, options.preserve_order = options.preserve_order, True
    try:
        ds = ray.data.from_arrow(blocks)
        ds = wray.tokenize(ds, "gpt2", output_column="gpt2", concurrency=1, batch_size=256, allowed_special="all")
        ds = wray.tokenize(ds, llama3(), output_column="llama", concurrency=1, batch_size=300, max_length=16)
        ds = ds.materialize()
    finally:
        options.preserve_order = kept
    return ts, ds, ray.get(ds.to_arrow_refs())


def test_tokenize_equals_one_process(tokenized):
    import pyarrow as pa

    ts, _, tables = tokenized
    for t in tables:
        assert t.schema.field("gpt2").type == pa.list_(pa.uint32()) == t.schema.field("llama").type
    rows = sorted((r for t in tables for r in t.to_pylist()), key=lambda r: r["id"])
    assert [r["text"] for r in rows] == ts
    assert [r["gpt2"] for r in rows] == warptok.get_encoding("gpt2").encode_batch(ts, allowed_special="all")
    llama = warptok.Tokenizer.from_pretrained(llama3())
    assert [r["llama"] for r in rows] == llama.encode_batch(ts, max_length=16)


def test_write_megatron_shards(tokenized, tmp_path):
    ts, ds, _ = tokenized
    shards = wray.write_megatron(ds, tmp_path / "gpt2", model="gpt2", column="gpt2", append_eod=True)
    assert shards and all(p.startswith(str(tmp_path / "gpt2" / "shard_")) for p in shards)
    docs = []
    for p in shards:
        r = read_indexed(p)
        assert r.code == 8                                          # uint16: GPT-2's 50,257 ids
        docs += r.documents()
    ref = [d + [50256] for d in warptok.get_encoding("gpt2").encode_batch(ts, allowed_special="all")]
    assert sorted(docs) == sorted(ref)
    llama = warptok.Tokenizer.from_pretrained(llama3())
    shards = wray.write_megatron(ds, tmp_path / "llama", vocab_size=llama.n_vocab, column="llama", name="ll")
    docs = [d for p in shards for d in read_indexed(p).documents()]
    assert {read_indexed(p).code for p in shards} == {4}            # int32: 128k ids
    assert sorted(docs) == sorted(llama.encode_batch(ts, max_length=16))


def test_driver_side_recipe_keeps_the_order(tokenized, tmp_path):
    """docs/pipelines.md: one file in the dataset's order, written by the driver from iter_batches."""
    from warptok.io.megatron import MegatronWriter

    ts, ds, _ = tokenized
    tok = warptok.get_encoding("gpt2")
    with MegatronWriter(tmp_path / "all", tok.n_vocab, eod_id=50256) as w:
        for batch in ds.iter_batches(batch_format="pyarrow", batch_size=500):
            w.add_documents(*wray.flat_ids(batch["gpt2"]))
    assert read_indexed(tmp_path / "all").documents() == [d + [50256] for d in
                                                          tok.encode_batch(ts, allowed_special="all")]


def test_argument_errors(ray):
    ds = ray.data.from_items([{"text": "a"}])
    with pytest.raises(errors.ValueError, match="concurrency"):
        wray.tokenize(ds, "gpt2", concurrency=0)
    with pytest.raises(errors.TypeError, match="unknown encode option"):
        wray.tokenize(ds, "gpt2", maxlength=3)
    with pytest.raises(errors.TypeError, match="model must be"):
        wray.tokenize(ds, warptok.get_encoding("gpt2"))
    with pytest.raises(errors.ValueError, match="model= or vocab_size="):
        wray.write_megatron(ds, "x")
    with pytest.raises(errors.ValueError, match="eod_id"):
        wray.write_megatron(ds, "x", vocab_size=100, append_eod=True)
