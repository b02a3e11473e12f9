"""Ray Data: tokenize a Dataset's text column on a cluster, and write Megatron-LM shards.

    import ray, warptok.ray
    ds = ray.data.read_parquet("/data/corpus/")                       # a "text" column
    ds = warptok.ray.tokenize(ds, model="/models/Qwen3-8B", concurrency=8)
    shards = warptok.ray.write_megatron(ds, "/shared/tokens", model="/models/Qwen3-8B", append_eod=True)
    # shards: ["/shared/tokens/shard_00000", ...], each a PREFIX of PREFIX.bin + PREFIX.idx

Needs Ray Data (``pip install "warptok[ray]"``); ray is imported only when these run.

:func:`tokenize` maps :class:`Tokenize`, a callable class, over the dataset with
``map_batches``: each actor loads the tokenizer once, then encodes every batch it gets
with ``encode_batch_flat`` (GIL released, ``num_cpus`` threads) and adds the ids as an
Arrow ``list<uint32>`` column built from the flat buffers (offsets and values), with no
Python int per id. Its ids are those of ``Tokenizer.encode_batch`` with the same options.

:func:`write_megatron` writes the id column as Megatron-LM indexed datasets
(:mod:`warptok.io.megatron`): every write task writes its blocks to one shard,
``DIRECTORY/NAME_#####`` (the task's index). The directory must be one every worker can
write and the trainer can read (a shared file system).
"""

from __future__ import annotations

import os

import numpy as np

from . import errors
from ._load import load_tokenizer
from .io.megatron import MegatronWriter, end_of_document_id

#: The options of ``Tokenizer.encode_batch_flat`` that :func:`tokenize` forwards.
ENCODE_OPTIONS = ("add_special_tokens", "max_length", "split_special_tokens", "allowed_special",
                  "disallowed_special")

_INT32_MAX = (1 << 31) - 1


def _ray():
    try:
        import ray
        import ray.data
    except ImportError as e:
        raise errors.ImportError(f"warptok.ray needs Ray Data: pip install \"warptok[ray]\" ({e})") from None
    return ray


def _arrow():
    try:
        import pyarrow as pa
    except ImportError as e:
        raise errors.ImportError(f"warptok.ray needs pyarrow: pip install \"warptok[ray]\" ({e})") from None
    return pa


def _check_options(options: dict) -> None:
    unknown = sorted(set(options) - set(ENCODE_OPTIONS))
    if unknown:
        raise errors.TypeError(f"unknown encode option(s) {', '.join(unknown)}; known: {', '.join(ENCODE_OPTIONS)}")


def _check_model(model) -> None:
    if not isinstance(model, (str, os.PathLike)):
        raise errors.TypeError(f"model must be a name or a path (each actor loads it), not {type(model).__name__}")


def _threads(num_cpus) -> int:
    if isinstance(num_cpus, bool) or not isinstance(num_cpus, (int, float)) or num_cpus <= 0:
        raise errors.ValueError(f"num_cpus must be a positive number, not {num_cpus!r}")
    return max(1, int(num_cpus))


def list_array(ids, offsets):
    """``pyarrow`` ``list<uint32>`` array of the documents ``ids[offsets[i]:offsets[i+1]]``,
    made from the two buffers (no Python object per id)."""
    pa = _arrow()
    offsets = np.asarray(offsets)
    if len(offsets) and int(offsets[-1]) > _INT32_MAX:
        raise errors.OverflowError(f"{int(offsets[-1])} ids in one batch: a list<uint32> column's offsets are "
                                   f"int32; use a smaller batch_size")
    return pa.ListArray.from_arrays(pa.array(offsets.astype(np.int32)),
                                    pa.array(np.asarray(ids, dtype=np.uint32), type=pa.uint32()))


class Tokenize:
    """The callable class of :func:`tokenize`, for ``map_batches(..., batch_format="pyarrow")``:
    loads ``model`` once (see :func:`warptok._load.load_tokenizer`), then maps a
    ``pyarrow.Table`` to the same table with ``output_column`` (``list<uint32>``) set to the
    ids of ``column``. ``encode_options`` go to ``encode_batch_flat``."""

    def __init__(self, model, column: str = "text", output_column: str = "input_ids", num_threads: int = 1,
                 **encode_options):
        _check_options(encode_options)
        self.tokenizer = load_tokenizer(model)
        self.column, self.output_column = column, output_column
        self.num_threads, self.options = num_threads, encode_options

    def __call__(self, batch):
        pa = _arrow()
        if not isinstance(batch, pa.Table):
            raise errors.TypeError(f"Tokenize takes pyarrow Tables (batch_format=\"pyarrow\"), "
                                   f"not {type(batch).__name__}")
        if self.column not in batch.column_names:
            raise errors.KeyError(f"no column {self.column!r} in the batch; columns: {batch.column_names}")
        col = batch.column(self.column)
        if col.null_count:
            raise errors.ValueError(f"column {self.column!r} has {col.null_count} null value(s)")
        ids, offsets = self.tokenizer.encode_batch_flat(col.to_pylist(), num_threads=self.num_threads,
                                                        **self.options)
        out = list_array(ids, offsets)
        at = batch.schema.get_field_index(self.output_column)
        if at >= 0:
            return batch.set_column(at, self.output_column, out)
        return batch.append_column(self.output_column, out)


def _compute(concurrency):
    """``concurrency`` (as map_batches takes it) as an actor pool."""
    from ray.data import ActorPoolStrategy

    if concurrency is None:
        return ActorPoolStrategy(min_size=1, max_size=None)
    if isinstance(concurrency, int) and not isinstance(concurrency, bool) and concurrency >= 1:
        return ActorPoolStrategy(size=concurrency)
    if (isinstance(concurrency, tuple) and len(concurrency) == 2
            and all(isinstance(c, int) and c >= 1 for c in concurrency) and concurrency[0] <= concurrency[1]):
        return ActorPoolStrategy(min_size=concurrency[0], max_size=concurrency[1])
    raise errors.ValueError(f"concurrency must be None, an int >= 1 or a (min, max) tuple, not {concurrency!r}")


def tokenize(ds, model, *, column: str = "text", output_column: str = "input_ids", batch_size: int = 1024,
             concurrency=None, num_cpus: float = 1, **encode_options):
    """``ds`` with ``output_column``, a ``list<uint32>`` column of the ids of ``column``
    (a string column), equal to ``Tokenizer.encode_batch(texts, **encode_options)``.

    ``model``: an encoding name, a tokenizer.json, a model directory or a cached repo id,
    loaded once by each actor (so it must be readable where the actors run).
    ``concurrency``: the actor pool, as ``map_batches`` takes it: an int (that many
    actors), a ``(min, max)`` tuple, or None (autoscaling from 1). ``num_cpus``: CPUs per
    actor, and its encoding threads. ``encode_options``: ``add_special_tokens``,
    ``max_length``, ``split_special_tokens``, ``allowed_special``, ``disallowed_special``.
    Other columns are kept; the result is lazy, like every Ray Data transform.
    """
    _ray()
    _check_model(model)
    _check_options(encode_options)
    threads = _threads(num_cpus)
    return ds.map_batches(
        Tokenize, batch_format="pyarrow", batch_size=batch_size, compute=_compute(concurrency), num_cpus=num_cpus,
        fn_constructor_kwargs=dict(model=os.fspath(model), column=column, output_column=output_column,
                                   num_threads=threads, **encode_options))


def flat_ids(column):
    """``(ids, offsets)`` numpy arrays of a pyarrow list column (an Array or ChunkedArray)
    of ints: document i is ``ids[offsets[i]:offsets[i+1]]``, without a Python int per id."""
    pa = _arrow()
    chunks = column.chunks if isinstance(column, pa.ChunkedArray) else [column]
    all_ids, all_offsets, base = [], [np.zeros(1, np.int64)], 0
    for chunk in chunks:
        if not (pa.types.is_list(chunk.type) or pa.types.is_large_list(chunk.type)):
            raise errors.TypeError(f"the id column must be a list of ints, not {chunk.type}")
        if chunk.null_count:
            raise errors.ValueError(f"the id column has {chunk.null_count} null list(s)")
        offsets = np.asarray(chunk.offsets, dtype=np.int64)       # this slice's, into the whole child array
        values = chunk.values[int(offsets[0]):int(offsets[-1])]
        if values.null_count:
            raise errors.ValueError("the id column has null ids")
        all_ids.append(values.to_numpy(zero_copy_only=False))
        all_offsets.append(offsets[1:] - offsets[0] + base)
        base += int(offsets[-1] - offsets[0])
    ids = np.concatenate(all_ids) if all_ids else np.zeros(0, np.uint32)
    return ids, np.concatenate(all_offsets)


_DATASINK = None


def _datasink_class():
    """The Datasink subclass, made when ray is there."""
    global _DATASINK
    if _DATASINK is None:
        from ray.data.block import BlockAccessor
        from ray.data.datasource import Datasink

        class MegatronDatasink(Datasink):
            """Each write task writes its blocks to DIRECTORY/NAME_##### (its task index)."""

            def __init__(self, directory, name, column, vocab_size, eod_id, min_rows):
                self.directory, self.name, self.column = directory, name, column
                self.vocab_size, self.eod_id, self.min_rows = vocab_size, eod_id, min_rows
                self.results = []

            def write(self, blocks, ctx):
                prefix = os.path.join(self.directory, f"{self.name}_{ctx.task_idx:05d}")
                w = None                                  # no rows, no shard
                try:
                    for block in blocks:
                        table = BlockAccessor.for_block(block).to_arrow()
                        if table.num_rows and self.column not in table.column_names:
                            raise errors.KeyError(f"no column {self.column!r}; columns: {table.column_names}")
                        if table.num_rows:
                            w = w or MegatronWriter(prefix, self.vocab_size, eod_id=self.eod_id)
                            w.add_documents(*flat_ids(table.column(self.column)))
                except BaseException:
                    if w is not None:
                        w.abort()
                    raise
                if w is None:
                    return None
                w.close()
                return {"prefix": prefix, "documents": w.n_documents, "tokens": w.n_tokens}

            def on_write_complete(self, write_result):
                # Ray >= 2.38 passes a WriteResult; earlier versions the list of write() returns.
                self.results = list(getattr(write_result, "write_returns", write_result))

            @property
            def min_rows_per_write(self):
                return self.min_rows

        _DATASINK = MegatronDatasink
    return _DATASINK


def write_megatron(ds, directory, *, model=None, vocab_size: int | None = None, column: str = "input_ids",
                   append_eod: bool = False, eod_id=None, name: str = "shard",
                   min_documents_per_shard: int | None = None, concurrency: int | None = None) -> list:
    """Writes the id column of ``ds`` (``list<uint32>``, as :func:`tokenize` makes it) as
    Megatron-LM indexed datasets: one shard, ``DIRECTORY/NAME_#####.bin`` + ``.idx``, per
    write task (``min_documents_per_shard`` asks Ray for bigger writes; ``ds.repartition``
    sets the count). Returns the shards' prefixes, sorted: the list Megatron's
    ``--data-path`` takes.

    The dtype comes from the vocabulary (``vocab_size``, or ``model``'s ``n_vocab``): uint16
    below 65,500 ids, else int32. ``append_eod`` ends every document with ``eod_id``, or
    with the one :func:`warptok.io.megatron.end_of_document_id` finds in ``model``.
    Documents keep their order within a shard; across shards, Ray Data's order (set
    ``DataContext.get_current().execution_options.preserve_order`` to keep the input's).
    """
    _ray()
    eod = None
    if model is not None:
        _check_model(model)
        tok = load_tokenizer(model)
        if vocab_size is None:
            vocab_size = tok.n_vocab
        if append_eod:
            eod = end_of_document_id(tok, eod_id)
    elif append_eod:
        if eod_id is None or isinstance(eod_id, str):
            raise errors.ValueError("append_eod without model= needs eod_id= as an int")
        eod = eod_id
    if vocab_size is None:
        raise errors.ValueError("write_megatron needs model= or vocab_size= (it picks the dtype)")
    if not append_eod and eod_id is not None:
        raise errors.ValueError("eod_id is appended only with append_eod=True")
    if eod is not None and not 0 <= eod < vocab_size:
        raise errors.ValueError(f"eod_id {eod} is not below vocab_size {vocab_size}")
    directory = os.fspath(directory)
    os.makedirs(directory, exist_ok=True)
    sink = _datasink_class()(directory, name, column, int(vocab_size), eod, min_documents_per_shard)
    kwargs = {} if concurrency is None else {"concurrency": concurrency}
    ds.write_datasink(sink, **kwargs)
    return sorted(r["prefix"] for r in sink.results if r)
