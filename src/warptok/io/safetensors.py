"""safetensors files as numpy arrays, read through a PrefetchReader: everything at once
(:func:`load_safetensors`) or tensor by tensor (:class:`safe_open`)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Dict, Iterator, List, Optional, Tuple

from .. import errors
from .._native import _io
from .header import DTYPES, TensorInfo
from .reader import PrefetchReader

if TYPE_CHECKING:
    import numpy

MiB = 1 << 20


def read_safetensors_header(source, **reader_options) -> Tuple[Optional[dict], List[TensorInfo]]:
    """``(metadata, tensors in file order)`` of a safetensors file, strictly checked."""
    with PrefetchReader(source, safetensors=True, **reader_options) as r:
        return r.metadata, list(r.tensors.values())


def _numpy_dtype(t: TensorInfo):
    import numpy as np

    np_name = DTYPES[t.dtype][1]
    if np_name is None:
        raise errors.TypeError(f"tensor {t.name!r} is {t.dtype}, which has no numpy dtype "
                               f"(safetensors' numpy loader refuses it too)")
    return np.dtype(np_name)


def _default_threads(reader: PrefetchReader) -> int:
    return 8 if "://" in reader.source else max(2, min(8, os.cpu_count() or 2))


PAGES_MIN = 1 * MiB                 # tensors this big get their own huge-page-friendly mapping


def _empty(t: TensorInfo):
    """A new writable array for tensor t. Big ones live in their own 2 MiB-aligned
    mapping advised for transparent huge pages: filling fresh memory then costs one
    page fault per 2 MiB instead of 512 (numpy's own buffers are only 16-byte
    aligned), which is most of the cost of a load from a warm page cache."""
    import numpy as np

    dtype = _numpy_dtype(t)
    if t.nbytes >= PAGES_MIN:
        return np.frombuffer(_io.Pages(t.nbytes), dtype=dtype).reshape(t.shape)
    return np.empty(t.shape, dtype=dtype)


def _load_all(reader: PrefetchReader, threads: Optional[int]):
    out, offsets, arrays = {}, [], []
    for t in reader.tensors.values():
        arr = _empty(t)
        out[t.name] = arr
        if t.nbytes:
            offsets.append(t.start)
            arrays.append(arr)
    reader._read_many(offsets, arrays, threads or _default_threads(reader))
    return out


def load_safetensors(source, *, threads: Optional[int] = None, **reader_options) -> Dict[str, "numpy.ndarray"]:
    """Every tensor of a safetensors file (local path or ``http(s)://`` URL) as numpy
    arrays, in file order: the same names, dtypes, shapes and values as
    ``safetensors.numpy.load_file``. The header is checked strictly
    (:class:`InvalidSafetensors`); the data is read in parallel (``threads``,
    default 8 for a URL, the CPU count up to 8 locally) straight into preallocated,
    writable arrays. ``reader_options`` go to :class:`PrefetchReader`."""
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise errors.ValueError(f"threads must be a positive int, not {threads!r}")
    if threads is not None:
        reader_options.setdefault("io_threads", threads - 1)   # the caller's thread reads too
    with PrefetchReader(source, safetensors=True, **reader_options) as r:
        return _load_all(r, threads)


class safe_open:
    """Lazy access to a safetensors file, like ``safetensors.safe_open(path, "np")``:
    ``keys()``, ``offset_keys()``, ``metadata()``, ``get_tensor(name)``,
    ``get_tensors()``. Tensors are read on demand through a :class:`PrefetchReader`,
    so reading them in file order streams the file with read-ahead."""

    def __init__(self, source, framework: str = "np", device: str = "cpu", **reader_options):
        if framework not in ("np", "numpy"):
            raise errors.ValueError(f"warptok.io.safe_open gives numpy arrays only (framework='np'), not {framework!r}")
        if device != "cpu":
            raise errors.ValueError(f"device must be 'cpu', not {device!r}")
        self._reader = PrefetchReader(source, safetensors=True, **reader_options)

    @property
    def reader(self) -> PrefetchReader:
        return self._reader

    def keys(self) -> List[str]:
        """Tensor names, sorted (as safetensors' ``keys()``)."""
        return sorted(self._reader.tensors)

    def offset_keys(self) -> List[str]:
        """Tensor names in file order."""
        return list(self._reader.tensors)

    def metadata(self) -> Optional[Dict[str, str]]:
        return self._reader.metadata

    def tensor_info(self, name: str) -> TensorInfo:
        try:
            return self._reader.tensors[name]
        except KeyError:
            raise errors.KeyError(f"{self._reader.source} has no tensor {name!r}") from None

    def get_tensor(self, name: str):
        """The tensor as a new writable numpy array."""
        t = self.tensor_info(name)
        arr = _empty(t)
        if t.nbytes:
            self._reader.readinto(t.start, arr)
        return arr

    def get_tensors(self) -> Dict[str, "numpy.ndarray"]:
        """Every tensor, read in parallel (as :func:`load_safetensors`)."""
        return _load_all(self._reader, None)

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self._reader.tensors)

    def close(self) -> None:
        self._reader.close()

    def __enter__(self) -> "safe_open":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
