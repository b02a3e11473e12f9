"""Megatron-LM's indexed dataset: ``PREFIX.bin`` (token ids) and ``PREFIX.idx`` (the index).

    >>> from warptok.io.megatron import MegatronWriter
    >>> with MegatronWriter("out/corpus", vocab_size=tok.n_vocab, eod_id=eod) as w:
    ...     w.add_documents(*tok.encode_batch_flat(texts))    # whole documents
    ...     w.add_tokens(ids_part); w.end_document()          # or one document in parts

This is the layout Megatron-LM's ``MMapIndexedDataset`` / ``IndexedDataset`` (megatron.core)
reads, version 1, written here from its published description (NVIDIA's megatron-core API
reference for ``core.datasets.indexed_dataset``: the ``DType`` codes, ``optimal_dtype``,
``_IndexWriter``). Everything is little-endian.

``PREFIX.bin``: the ids of every sequence back to back, each id one item of the dtype below.

``PREFIX.idx``:

=====================  ==============  =================================================
bytes                  type            what
=====================  ==============  =================================================
9                      ``MMIDIDX\\0\\0``  magic
8                      uint64          version, 1
1                      uint8           dtype code of ``.bin``: 8 = uint16, 4 = int32
                                       (Megatron's codes: 1 uint8, 2 int8, 3 int16, 4 int32,
                                       5 int64, 6 float64, 7 float32, 8 uint16)
8                      uint64          S, the number of sequences
8                      uint64          D, the number of document indices (documents + 1)
4 * S                  int32           the length of each sequence, in tokens
8 * S                  int64           the byte offset of each sequence in ``.bin``
8 * D                  int64           document indices: 0, then the index of the sequence
                                       after each document's last (the last one is S)
=====================  ==============  =================================================

The dtype is uint16 when the vocabulary has fewer than 65,500 ids, else int32 (Megatron's
``optimal_dtype`` rule, so the files are what Megatron's own ``preprocess_data.py`` writes for
the same ids). warptok writes one sequence per document: document i is sequence i, and the
document indices are ``0, 1, ..., S``. A document may be empty (a sequence of length 0), so
document i is always input document i.

Only the lengths (4 bytes a document) stay in memory; ids go to disk as they come. Both files
are written under temporary names and renamed when :meth:`MegatronWriter.close` succeeds; a
writer left by an exception (the ``with`` block) removes them.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

import numpy as np

from .. import errors

MAGIC = b"MMIDIDX\x00\x00"
VERSION = 1
#: Megatron's dtype codes (megatron.core.datasets.indexed_dataset.DType).
DTYPE_CODES = {np.dtype(np.uint8): 1, np.dtype(np.int8): 2, np.dtype(np.int16): 3, np.dtype(np.int32): 4,
               np.dtype(np.int64): 5, np.dtype(np.float64): 6, np.dtype(np.float32): 7, np.dtype(np.uint16): 8}
#: Vocabularies smaller than this are written as uint16, larger ones as int32.
UINT16_VOCAB_LIMIT = 65500

_INT32_MAX = (1 << 31) - 1
_CHUNK = 1 << 22                    # index entries converted and written at a time


def token_dtype(vocab_size: int) -> np.dtype:
    """The dtype Megatron picks for a vocabulary of ``vocab_size`` ids: uint16 below 65,500,
    else int32."""
    return np.dtype(np.uint16 if vocab_size < UINT16_VOCAB_LIMIT else np.int32)


def paths(prefix) -> tuple:
    """``(PREFIX.bin, PREFIX.idx)``; a ``prefix`` ending in ``.bin`` or ``.idx`` loses that suffix."""
    prefix = os.fspath(prefix)
    if prefix.endswith((".bin", ".idx")):
        prefix = prefix[:-4]
    return Path(prefix + ".bin"), Path(prefix + ".idx")


def end_of_document_id(tokenizer, eod_id=None) -> int:
    """The id ``--append-eod`` appends: ``eod_id`` when given (an int, or a token's text);
    else the tokenizer's EOS token when it was loaded from a model directory (its
    ``tokenizer_config.json``'s ``eos_token``, what Megatron's Hugging Face tokenizer uses);
    else ``<|endoftext|>`` when the tokenizer has it (GPT-2, cl100k, o200k, Qwen). Raises
    ValueError when there is none."""
    if eod_id is not None:
        if isinstance(eod_id, str):
            if eod_id.lstrip("-").isdigit():
                eod_id = int(eod_id)
            elif eod_id in tokenizer.added_tokens:
                return tokenizer.added_tokens[eod_id]
            else:
                raise errors.ValueError(f"the end-of-document token {eod_id!r} is not an added or special token of "
                                        f"this tokenizer; give its id")
        if isinstance(eod_id, bool) or not isinstance(eod_id, (int, np.integer)):
            raise errors.TypeError(f"eod_id must be an int or a token's text, not {type(eod_id).__name__}")
        if not 0 <= eod_id < tokenizer.n_vocab:
            raise errors.ValueError(f"eod_id {eod_id} is not an id of this tokenizer (0 .. {tokenizer.n_vocab - 1})")
        return int(eod_id)
    eos = (getattr(tokenizer, "special_tokens_map", None) or {}).get("eos_token")
    if eos is not None and eos in tokenizer.added_tokens:
        return tokenizer.added_tokens[eos]
    if "<|endoftext|>" in tokenizer.added_tokens:
        return tokenizer.added_tokens["<|endoftext|>"]
    raise errors.ValueError("this tokenizer names no end-of-document token (no eos_token in a model directory's "
                            "tokenizer_config.json, no <|endoftext|>): give one (--eod-id, or eod_id=)")


def _os_error(e: OSError, path) -> errors.SourceError:
    return errors.source_error(e.errno or 0, e.strerror or str(e), str(path))


class MegatronWriter:
    """Writes ``PREFIX.bin`` and ``PREFIX.idx`` in Megatron-LM's indexed-dataset layout
    (see the module), one sequence per document.

    ``vocab_size``: the tokenizer's ``n_vocab``; it picks the dtype (uint16 below 65,500,
    else int32; ``dtype=`` overrides with ``"uint16"`` or ``"int32"``) and every id written
    is checked against it. ``eod_id``: appended to every document when not None (see
    :func:`end_of_document_id`).

    Use it as a context manager, or call :meth:`close` (or :meth:`abort`) yourself.
    """

    def __init__(self, prefix, vocab_size: int, *, eod_id: int | None = None, dtype=None):
        if isinstance(vocab_size, bool) or not isinstance(vocab_size, (int, np.integer)) or vocab_size < 1:
            raise errors.ValueError(f"vocab_size must be a positive int, not {vocab_size!r}")
        self.vocab_size = int(vocab_size)
        self.dtype = token_dtype(self.vocab_size) if dtype is None else np.dtype(dtype)
        if self.dtype not in (np.dtype(np.uint16), np.dtype(np.int32)):
            raise errors.ValueError(f"dtype must be uint16 or int32, not {self.dtype}")
        if self.vocab_size > np.iinfo(self.dtype).max + 1:
            raise errors.ValueError(f"a vocabulary of {self.vocab_size} ids does not fit {self.dtype}")
        if eod_id is not None and not (isinstance(eod_id, (int, np.integer)) and 0 <= eod_id < self.vocab_size):
            raise errors.ValueError(f"eod_id {eod_id!r} is not an id below vocab_size {self.vocab_size}")
        self.eod_id = None if eod_id is None else int(eod_id)
        self.bin_path, self.idx_path = paths(prefix)
        self._bin_tmp = self.bin_path.with_name(self.bin_path.name + ".tmp")
        self._idx_tmp = self.idx_path.with_name(self.idx_path.name + ".tmp")
        self._lengths = np.zeros(1024, dtype=np.int32)
        self.n_documents = 0
        self.n_tokens = 0               # ids written, end-of-document ids included
        self._open = 0                  # ids of the document not yet ended
        self._open_any = False          # add_tokens was called since the last end_document
        self._closed = False
        try:
            self._bin = open(self._bin_tmp, "wb")
        except OSError as e:
            raise _os_error(e, self._bin_tmp) from None

    # ------------------------------------------------------------ writing

    def _ids(self, ids) -> np.ndarray:
        ids = np.asarray(ids)
        if ids.ndim != 1:
            raise errors.ValueError(f"ids must be one-dimensional, not of shape {ids.shape}")
        if ids.size and ids.dtype.kind not in "iu":
            raise errors.TypeError(f"ids must be integers, not {ids.dtype}")
        if ids.size and (int(ids.max()) >= self.vocab_size or (ids.dtype.kind == "i" and int(ids.min()) < 0)):
            bad = ids[(ids >= self.vocab_size) | (ids < 0)][0]
            raise errors.ValueError(f"id {int(bad)} is not below vocab_size {self.vocab_size}")
        return ids.astype(self.dtype, copy=False)

    def _write(self, ids: np.ndarray) -> None:
        self._check_open()
        try:
            self._bin.write(np.ascontiguousarray(ids).data)
        except OSError as e:
            raise _os_error(e, self._bin_tmp) from None
        self.n_tokens += len(ids)

    def _push_lengths(self, lengths: np.ndarray) -> None:
        n = self.n_documents + len(lengths)
        if n > len(self._lengths):
            grown = np.zeros(max(n, 2 * len(self._lengths)), dtype=np.int32)
            grown[:self.n_documents] = self._lengths[:self.n_documents]
            self._lengths = grown
        self._lengths[self.n_documents:n] = lengths
        self.n_documents = n

    def add_documents(self, ids, offsets) -> None:
        """Whole documents from flat arrays, as ``Tokenizer.encode_batch_flat`` returns them:
        document i is ``ids[offsets[i]:offsets[i+1]]`` (``offsets[0]`` need not be 0)."""
        self._check_open()
        if self._open_any:
            raise errors.ValueError("add_documents while a document from add_tokens is open: call end_document first")
        offsets = np.asarray(offsets, dtype=np.int64)
        if offsets.ndim != 1 or len(offsets) < 1:
            raise errors.ValueError("offsets must be a one-dimensional array of at least one offset")
        lengths = np.diff(offsets)
        ids = np.asarray(ids)
        if len(lengths) and (lengths.min() < 0 or offsets[0] < 0 or offsets[-1] > len(ids)):
            raise errors.ValueError("offsets must be non-decreasing and within ids")
        ids = self._ids(ids[offsets[0]:offsets[-1]])
        if self.eod_id is not None:
            ids = np.insert(ids, offsets[1:] - offsets[0], np.asarray(self.eod_id, dtype=self.dtype))
            lengths = lengths + 1
        if len(lengths) and lengths.max() > _INT32_MAX:
            raise errors.OverflowError(f"a document of {int(lengths.max())} ids: Megatron's lengths are int32")
        self._write(ids)
        self._push_lengths(lengths)

    def add_tokens(self, ids) -> None:
        """Ids of the open document (the one :meth:`end_document` ends), in parts of any size."""
        ids = self._ids(ids)
        if self._open + len(ids) > _INT32_MAX:
            raise errors.OverflowError(f"a document of more than {_INT32_MAX} ids: Megatron's lengths are int32")
        self._write(ids)
        self._open += len(ids)
        self._open_any = True

    def end_document(self) -> None:
        """Ends the open document (an empty one when :meth:`add_tokens` added nothing),
        appending ``eod_id`` first when it is set."""
        if self.eod_id is not None:
            self.add_tokens(np.asarray([self.eod_id], dtype=self.dtype))
        self._check_open()
        self._push_lengths(np.asarray([self._open], dtype=np.int32))
        self._open, self._open_any = 0, False

    # ------------------------------------------------------------ finishing

    def _check_open(self) -> None:
        if self._closed:
            raise errors.ValueError("the MegatronWriter is closed")

    def close(self) -> None:
        """Writes the index and puts both files in place. A document still open (from
        :meth:`add_tokens`) is ended first."""
        if self._closed:
            return
        try:
            if self._open_any:
                self.end_document()
            try:
                self._bin.close()
                self._write_index()
                os.replace(self._bin_tmp, self.bin_path)
                os.replace(self._idx_tmp, self.idx_path)
            except OSError as e:
                raise _os_error(e, e.filename or self.idx_path) from None
        except BaseException:
            self.abort()
            raise
        self._closed = True

    def _write_index(self) -> None:
        n = self.n_documents
        lengths = self._lengths[:n]
        item = self.dtype.itemsize
        with open(self._idx_tmp, "wb") as f:
            f.write(MAGIC)
            f.write(struct.pack("<QB", VERSION, DTYPE_CODES[self.dtype]))
            f.write(struct.pack("<QQ", n, n + 1))
            f.write(lengths.astype("<i4", copy=False).data)
            at = 0
            for lo in range(0, n, _CHUNK):
                part = lengths[lo:lo + _CHUNK].astype(np.int64) * item
                ends = np.cumsum(part) + at
                f.write((ends - part).astype("<i8", copy=False).data)      # each sequence's start
                at = int(ends[-1])
            for lo in range(0, n + 1, _CHUNK):
                f.write(np.arange(lo, min(n + 1, lo + _CHUNK), dtype="<i8").data)

    def abort(self) -> None:
        """Closes without writing the index; removes what was written."""
        self._closed = True
        try:
            self._bin.close()
        finally:
            for p in (self._bin_tmp, self._idx_tmp):
                try:
                    p.unlink()
                except FileNotFoundError:
                    pass

    def __enter__(self) -> "MegatronWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def __repr__(self):
        return (f"<MegatronWriter {str(self.bin_path)[:-4]} {self.dtype} documents={self.n_documents} "
                f"tokens={self.n_tokens}{' closed' if self._closed else ''}>")
