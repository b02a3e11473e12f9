"""A reader of Megatron-LM's indexed dataset (``PREFIX.bin`` + ``PREFIX.idx``, ``MMIDIDX``
version 1), written for the tests from the layout as megatron-core's API reference and
``IndexedDataset`` describe it, and kept apart from warptok's writer: it shares no code or
constant with ``warptok.io.megatron``, so a mistake in one is not repeated in the other.

    magic b"MMIDIDX\\x00\\x00" | uint64 version (1) | uint8 dtype code | uint64 sequence count S
    | uint64 document-index count D | int32 lengths[S] | int64 byte pointers[S]
    | int64 document indices[D]                                         (little-endian, packed)
"""

from __future__ import annotations

import os
import struct
from dataclasses import dataclass

import numpy as np

# megatron.core.datasets.indexed_dataset.DType: the code of each dtype.
CODES = {1: np.uint8, 2: np.int8, 3: np.int16, 4: np.int32, 5: np.int64, 6: np.float64, 7: np.float32,
         8: np.uint16}


@dataclass
class Indexed:
    code: int
    dtype: np.dtype
    lengths: np.ndarray           # int32 [S]
    pointers: np.ndarray          # int64 [S]
    document_indices: np.ndarray  # int64 [D]
    data: np.ndarray              # every id of PREFIX.bin

    def sequence(self, i: int) -> list:
        """Sequence i, read as Megatron reads it: ``lengths[i]`` items at byte ``pointers[i]``."""
        start = int(self.pointers[i]) // self.dtype.itemsize
        return self.data[start:start + int(self.lengths[i])].tolist()

    def documents(self) -> list:
        """The ids of every document (its sequences joined)."""
        d = self.document_indices
        return [[t for s in range(int(d[k]), int(d[k + 1])) for t in self.sequence(s)] for k in range(len(d) - 1)]


def read_indexed(prefix) -> Indexed:
    """Reads and checks one pair: the header, that every array fills the index exactly,
    that the pointers are the running byte sums of the lengths and cover PREFIX.bin."""
    prefix = os.fspath(prefix)
    with open(prefix + ".idx", "rb") as f:
        raw = f.read()
    assert raw[:9] == b"MMIDIDX\x00\x00", raw[:9]
    version, code, n_seq, n_doc = struct.unpack_from("<QBQQ", raw, 9)
    assert version == 1
    dtype = np.dtype(CODES[code]).newbyteorder("<")
    at = 9 + 8 + 1 + 8 + 8
    lengths = np.frombuffer(raw, "<i4", n_seq, at)
    pointers = np.frombuffer(raw, "<i8", n_seq, at + 4 * n_seq)
    doc_idx = np.frombuffer(raw, "<i8", n_doc, at + 12 * n_seq)
    assert len(raw) == at + 12 * n_seq + 8 * n_doc, "trailing or missing bytes in the index"
    size = os.path.getsize(prefix + ".bin")
    data = np.memmap(prefix + ".bin", dtype=dtype, mode="r") if size else np.zeros(0, dtype)
    running = 0
    for n, p in zip(lengths.tolist(), pointers.tolist()):
        assert n >= 0 and p == running
        running += n * dtype.itemsize
    assert running == size, (running, size)
    assert n_doc >= 1 and doc_idx[0] == 0 and doc_idx[-1] == n_seq and np.all(np.diff(doc_idx) >= 0)
    return Indexed(code, dtype, lengths, pointers, doc_idx, data)
