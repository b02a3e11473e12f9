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
    ``get_slice(name)``, ``get_tensors()``. Tensors are read on demand through a :class:`PrefetchReader`,
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

    def get_slice(self, name: str) -> "TensorSlice":
        """A view of the tensor that reads only what it is indexed with (safetensors'
        ``get_slice``): ``f.get_slice("w")[10:20]`` reads rows 10 to 19."""
        return TensorSlice(self._reader, self.tensor_info(name))

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


class TensorSlice:
    """One tensor of a :class:`safe_open` file, read when indexed, as safetensors'
    ``get_slice`` gives: ``get_shape()``, ``get_dtype()`` and ``[...]`` with ints, slices
    (steps too) and one Ellipsis per dimension, numpy's semantics (negative indices and
    out-of-range slice bounds too). Only the rows of the first dimension that the index
    selects are asked of the reader (one read for a run of rows, one per row for a step;
    over HTTP its read-ahead rules still apply); the other dimensions are indexed in
    memory. The result is a new writable numpy array."""

    def __init__(self, reader: PrefetchReader, info: TensorInfo):
        self._reader, self._info = reader, info

    def get_shape(self) -> List[int]:
        return list(self._info.shape)

    def get_dtype(self) -> str:
        return self._info.dtype

    def __repr__(self):
        return f"<warptok.io.TensorSlice {self._info.name!r} {self._info.dtype} {list(self._info.shape)}>"

    def __getitem__(self, key):
        import numpy as np

        t = self._info
        shape = t.shape
        key = _index(key, shape, t.name)
        dtype = _numpy_dtype(t)
        if not shape:                                # a scalar: () or ... only
            arr = np.empty((), dtype=dtype)
            if t.nbytes:
                self._reader.readinto(t.start, arr)
            return arr
        first, rest = key[0], key[1:]
        n = shape[0]
        row = t.nbytes // n if n else 0
        if isinstance(first, int):
            rows = range(first, first + 1)
        else:
            rows = range(*first.indices(n))
        if rows.step == 1 or len(rows) <= 1:
            block = np.empty((len(rows),) + tuple(shape[1:]), dtype=dtype)
            if block.nbytes:
                self._reader.readinto(t.start + rows.start * row, block)
        else:                                        # a step: each row read on its own
            block = np.empty((len(rows),) + tuple(shape[1:]), dtype=dtype)
            if row:
                for k, r in enumerate(rows):
                    self._reader.readinto(t.start + r * row, block[k:k + 1])
        if all(k == slice(None) for k in rest):
            return block.reshape(block.shape[1:]) if isinstance(first, int) else block
        local = 0 if isinstance(first, int) else slice(None)
        return np.array(block[(local,) + rest])         # a new array (a 0-d one for a single element)


def _index(key, shape, name: str) -> tuple:
    """``key`` as one int or slice per dimension of ``shape``: Ellipsis expanded, numpy
    integers taken as ints, negative ints counted from the end and checked."""
    import operator

    ndim = len(shape)
    key = key if isinstance(key, tuple) else (key,)
    out, ellipsis = [], False
    for k in key:
        if k is Ellipsis:
            if ellipsis:
                raise errors.IndexError("an index can only have a single ellipsis ('...')")
            ellipsis = True
            out.append(k)
        elif isinstance(k, slice):
            out.append(k)
        else:
            try:
                out.append(operator.index(k))
            except TypeError:
                raise errors.TypeError(f"tensor {name!r}: unsupported index {k!r} (ints, slices and '...' "
                                       "only, as safetensors' get_slice)") from None
    n_real = len(out) - ellipsis
    if n_real > ndim:
        raise errors.IndexError(f"tensor {name!r}: {n_real} indices for {ndim} dimensions")
    if ellipsis:
        at = next(i for i, k in enumerate(out) if k is Ellipsis)
        out[at:at + 1] = [slice(None)] * (ndim - n_real)
    else:
        out += [slice(None)] * (ndim - n_real)
    for dim, (k, n) in enumerate(zip(out, shape)):
        if isinstance(k, int):
            if not -n <= k < n:
                raise errors.IndexError(f"tensor {name!r}: index {k} is out of bounds for dimension {dim} "
                                        f"of size {n}")
            out[dim] = k + n if k < 0 else k
    return tuple(out)
