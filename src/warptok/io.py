"""Fast concurrent reads of large files, local or over HTTP, and safetensors loading.

    >>> from warptok.io import PrefetchReader, load_safetensors, safe_open
    >>> with PrefetchReader("http://host:8000/model.safetensors") as r:
    ...     head = r.pread(0, 4096)                 # bytes; safe from many threads at once
    ...     r.readinto(1 << 30, array)              # straight into a numpy array
    >>> tensors = load_safetensors("model.safetensors")   # dict[str, numpy.ndarray]

A :class:`PrefetchReader` serves reads through a few shared buffers ("slots")
filled by fetches of at least a floor size (4 MiB; 32 MiB for ``.safetensors``,
``.bin``, ``.pt`` and ``.gguf``), so that a stream of small reads (the 128 KiB
reads of a memory map or a FUSE mount) costs one round trip per floor, not per
read. The compiled manager (cext/reader.c) holds its lock only to plan and to
store, never across I/O; a fetch in flight is shared by every reader who needs
its bytes, and they copy them out as they arrive. Past 75% of a buffer read as a
stream, or of a safetensors tensor of at least 4 MiB, the next range is fetched
ahead by an I/O thread. Inside a known tensor the rest of the tensor is fetched
(up to 64 MiB). A big read that continues no stream goes straight into the
caller's memory, in parallel pieces when it is very big. All buffers of all
readers share one memory budget (:func:`set_memory_budget`).

HTTP: ``http://`` URLs, range requests over kept-alive connections, with a
per-request timeout (seconds without progress, and a deadline for the whole
request) and bounded retries that resume where a broken response stopped,
ending in :class:`FetchError`. ``https://`` is
refused with :class:`UnsupportedSource`: warptok's HTTP client has no TLS (put a
TLS-terminating proxy on localhost, or read through a mount).
"""

from __future__ import annotations

import json
import os
import struct
from dataclasses import dataclass
from typing import TYPE_CHECKING, Dict, Iterator, List, Mapping, Optional, Tuple

from . import _io
from ._io import FetchError, FetchTimeout, UnsupportedSource, memory_budget, memory_used, set_memory_budget

if TYPE_CHECKING:
    import numpy

__all__ = ["PrefetchReader", "load_safetensors", "safe_open", "TensorInfo", "read_safetensors_header",
           "FetchError", "FetchTimeout", "UnsupportedSource", "InvalidSafetensors",
           "set_memory_budget", "memory_budget", "memory_used"]

MiB = 1 << 20
DEFAULT_FLOOR = 4 * MiB
WEIGHT_FLOOR = 32 * MiB
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
TENSOR_CAP = 64 * MiB
DIRECT_MIN = 1 * MiB
MAX_HEADER = 100_000_000          # the safetensors format's own limit
HEADER_PROBE = 1 * MiB            # bytes read at open for a safetensors file
URL_PROBE = 64 * 1024             # bytes read at open for other URLs (learns the size)

if "WARPTOK_IO_BUDGET" in os.environ:
    set_memory_budget(int(os.environ["WARPTOK_IO_BUDGET"]))


class InvalidSafetensors(ValueError):
    """The file is not a valid safetensors file; the message says what is wrong."""


# dtype -> (bits per element, numpy dtype string or None when numpy has none)
DTYPES: Dict[str, Tuple[int, Optional[str]]] = {
    "BOOL": (8, "?"), "U8": (8, "u1"), "I8": (8, "i1"), "F8_E5M2": (8, None), "F8_E4M3": (8, None),
    "F8_E8M0": (8, None), "F4": (4, None), "F6_E2M3": (6, None), "F6_E3M2": (6, None),
    "I16": (16, "<i2"), "U16": (16, "<u2"), "F16": (16, "<f2"), "BF16": (16, None),
    "I32": (32, "<i4"), "U32": (32, "<u4"), "F32": (32, "<f4"),
    "I64": (64, "<i8"), "U64": (64, "<u8"), "F64": (64, "<f8"), "C64": (64, "<c8"),
}


@dataclass(frozen=True)
class TensorInfo:
    """One tensor of a safetensors file: ``start``/``end`` are absolute file offsets."""
    name: str
    dtype: str
    shape: Tuple[int, ...]
    start: int
    end: int

    @property
    def nbytes(self) -> int:
        return self.end - self.start


def _is_url(source) -> bool:
    if not isinstance(source, str):
        return False
    head = source[:10].lower()
    if head.startswith(("http://", "https://")):
        return True
    if "://" in source[:32] and source.split("://", 1)[0].isalnum():
        raise UnsupportedSource(f"{source}: only local paths and http:// URLs can be read")
    return False


def _suffix(source, is_url: bool) -> str:
    if is_url:
        path = source.split("://", 1)[1]
        path = path.split("#", 1)[0].split("?", 1)[0]
        path = path[path.find("/"):] if "/" in path else ""
        return os.path.splitext(path)[1].lower()
    return os.path.splitext(os.fspath(source))[1].lower()


def _u64(v, what):
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise TypeError(what)
    if v >= 1 << 64:
        raise OverflowError(what)
    return v


def _parse_header(raw: bytes, file_size: int, source) -> Tuple[Optional[dict], List[TensorInfo]]:
    """Strict parse of a safetensors header (the bytes after the 8-byte length)."""
    def bad(msg):
        return InvalidSafetensors(f"{source}: invalid safetensors header: {msg}")

    n = len(raw)
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise bad(f"not UTF-8 ({e.reason} at byte {e.start})") from None
    if not text.startswith("{"):
        raise bad("it does not start with '{'")

    def pairs(items):
        d = {}
        for k, v in items:
            if k in d:
                raise bad(f"duplicate key {k!r}")
            d[k] = v
        return d

    def no_constant(c):
        raise bad(f"{c} is not allowed")

    def no_float(s):
        raise bad(f"{s} is not an integer")

    try:
        obj = json.loads(text, object_pairs_hook=pairs, parse_constant=no_constant, parse_float=no_float)
    except InvalidSafetensors:
        raise
    except (ValueError, RecursionError) as e:
        raise bad(f"not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise bad("the JSON is not an object")
    metadata = obj.pop("__metadata__", None)
    if metadata is not None:
        if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
            raise bad("__metadata__ must map strings to strings")
    tensors = []
    for name, info in obj.items():
        where = f"tensor {name!r}"
        if not isinstance(info, dict):
            raise bad(f"{where} is not an object")
        missing = {"dtype", "shape", "data_offsets"} - info.keys()
        if missing:
            raise bad(f"{where} lacks {', '.join(sorted(missing))}")
        dtype, shape, offsets = info["dtype"], info["shape"], info["data_offsets"]
        if not isinstance(dtype, str) or dtype not in DTYPES:
            raise bad(f"{where} has an unknown dtype {dtype!r}")
        if not isinstance(shape, list):
            raise bad(f"{where}: shape must be a list of integers")
        if not isinstance(offsets, list) or len(offsets) != 2:
            raise bad(f"{where}: data_offsets must be [begin, end]")
        try:
            shape = tuple(_u64(d, "shape") for d in shape)
            begin, end = (_u64(o, "data_offsets") for o in offsets)
        except TypeError:
            raise bad(f"{where}: shape and data_offsets must hold non-negative integers") from None
        except OverflowError:
            raise bad(f"{where}: a shape or offset does not fit in 64 bits") from None
        if end < begin:
            raise bad(f"{where}: data_offsets [{begin}, {end}] end before they begin")
        count = 1
        for d in shape:
            count *= d
        if count >= 1 << 64:
            raise bad(f"{where}: shape {list(shape)} has more than 2**64 elements")
        bits = count * DTYPES[dtype][0]
        if bits % 8:
            raise bad(f"{where}: {count} elements of {dtype} are not a whole number of bytes")
        if end - begin != bits // 8:
            raise bad(f"{where}: data_offsets [{begin}, {end}] hold {end - begin} bytes, but shape "
                      f"{list(shape)} of {dtype} needs {bits // 8}")
        tensors.append(TensorInfo(name, dtype, shape, begin, end))
    tensors.sort(key=lambda t: (t.start, t.end))
    data_start, data_len = 8 + n, file_size - 8 - n
    pos = 0
    for t in tensors:
        if t.start != pos:
            what = "overlaps the previous tensor" if t.start < pos else f"leaves a gap after byte {pos}"
            raise bad(f"tensor {t.name!r} at data_offsets [{t.start}, {t.end}] {what}")
        pos = t.end
    if pos != data_len:
        raise bad(f"the tensors end at byte {pos} of the data but the file holds {data_len} bytes of data"
                  if pos < data_len else
                  f"tensor data runs to byte {pos} but the file holds only {max(data_len, 0)} bytes of data")
    return metadata, [TensorInfo(t.name, t.dtype, t.shape, t.start + data_start, t.end + data_start)
                      for t in tensors]


def _header_length(prefix: bytes, file_size: int, source) -> int:
    if file_size < 8 or len(prefix) < 8:
        raise InvalidSafetensors(f"{source}: {file_size} bytes is too small for a safetensors file")
    (n,) = struct.unpack("<Q", prefix[:8])
    if n > MAX_HEADER:
        raise InvalidSafetensors(f"{source}: invalid safetensors header: its length {n} exceeds "
                                 f"{MAX_HEADER:,} bytes")
    if n < 2:
        raise InvalidSafetensors(f"{source}: invalid safetensors header: its length is {n}")
    if 8 + n > file_size:
        raise InvalidSafetensors(f"{source}: invalid safetensors header: {n} bytes of header do not fit "
                                 f"in a file of {file_size} bytes")
    return n


class PrefetchReader(_io.Reader):
    """Concurrent reads of a large local file or ``http://`` URL through shared,
    prefetched buffers. Every method may be called from many threads at once.

    Options (all keyword-only):

    * ``floor``: smallest fetch into a buffer, in bytes (default 4 MiB; 32 MiB for
      ``.safetensors``, ``.bin``, ``.pt``, ``.gguf``).
    * ``max_slots``: buffers of this reader (default 32); ``memory``: see
      :func:`set_memory_budget` for the budget they share with other readers.
    * ``io_threads``: threads for read-ahead and parallel pieces of big reads
      (default 16 for a URL, the CPU count up to 8 for a local file).
    * ``timeout``: seconds an HTTP request may make no progress (default 30); a
      request must also end within ``timeout`` seconds per MiB it asks for, plus
      ``timeout``, so that a server trickling bytes cannot hold it forever.
      ``retries``: attempts after the first (default 3), resuming where a broken
      response stopped. Then :class:`FetchError` (:class:`FetchTimeout`).
    * ``headers``: extra HTTP request headers (e.g. ``{"Authorization": ...}``).
    * ``prefetch``: True/False to force the buffers on/off. The default turns them
      on for URLs and for local files on network or FUSE filesystems (NFS, SMB,
      s3fs/gcsfuse, 9p, Lustre, ...), and off for local disks, whose page cache and
      kernel read-ahead already make small reads cheap (``prefetching`` tells).
    * ``safetensors``: parse the file's safetensors header (default: when the name
      ends in ``.safetensors``) to align fetches to tensors; ``tensors`` and
      ``metadata`` then describe it.
    """

    def __init__(self, source, *, floor: Optional[int] = None, max_slots: int = 32,
                 io_threads: Optional[int] = None, timeout: float = 30.0, retries: int = 3,
                 headers: Optional[Mapping[str, str]] = None, prefetch: Optional[bool] = None,
                 safetensors: Optional[bool] = None):
        is_url = _is_url(source)
        if not is_url:
            source = os.fspath(source)
            if not isinstance(source, str):
                source = os.fsdecode(source)
        suffix = _suffix(source, is_url)
        if safetensors is None:
            safetensors = suffix == ".safetensors"
        if floor is None:
            floor = WEIGHT_FLOOR if suffix in WEIGHT_SUFFIXES else DEFAULT_FLOOR
        if isinstance(floor, bool) or not isinstance(floor, int) or floor < 1:
            raise ValueError(f"floor must be a positive int, not {floor!r}")
        if io_threads is None:
            io_threads = 16 if is_url else max(2, min(8, os.cpu_count() or 2))
        if not (isinstance(max_slots, int) and max_slots >= 1):
            raise ValueError(f"max_slots must be a positive int, not {max_slots!r}")
        if not (isinstance(io_threads, int) and 0 <= io_threads <= 256):
            raise ValueError(f"io_threads must be an int in [0, 256], not {io_threads!r}")
        if not (isinstance(retries, int) and 0 <= retries <= 100):
            raise ValueError(f"retries must be an int in [0, 100], not {retries!r}")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        header_block = b""
        for k, v in (headers or {}).items():
            if any(c in str(k) + str(v) for c in "\r\n\0") or ":" in str(k) or not str(k).strip():
                raise ValueError(f"invalid HTTP header {k!r}: {v!r}")
            header_block += f"{k}: {v}\r\n".encode("latin-1")
        probe = HEADER_PROBE if safetensors else (URL_PROBE if is_url else 0)
        head = self._open(source, is_url, floor, max(TENSOR_CAP, floor), DIRECT_MIN,
                          16 * MiB if is_url else 8 * MiB, probe, max_slots, io_threads, float(timeout),
                          retries, -1 if prefetch is None else int(bool(prefetch)), header_block)
        self.tensors: Optional[Dict[str, TensorInfo]] = None
        self.metadata: Optional[Dict[str, str]] = None
        if safetensors:
            try:
                self._load_header(head)
            except BaseException:
                self.close()
                raise

    def _load_header(self, head: bytes) -> None:
        n = _header_length(head, self.size, self.source)
        raw = head[8:8 + n]
        if len(raw) < n:
            raw += self.pread(len(head), 8 + n - len(head))
        self.metadata, tensors = _parse_header(raw, self.size, self.source)
        self.tensors = {t.name: t for t in tensors}
        self._set_tensors([(t.start, t.end) for t in tensors if t.end > t.start])

    def __enter__(self) -> "PrefetchReader":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self.closed else f"{self.size} bytes"
        return f"<warptok.io.PrefetchReader {self.source!r} ({state})>"

    def __reduce__(self):
        raise TypeError("a PrefetchReader cannot be pickled; open one in each process")


def read_safetensors_header(source, **reader_options) -> Tuple[Optional[dict], List[TensorInfo]]:
    """``(metadata, tensors in file order)`` of a safetensors file, strictly checked."""
    with PrefetchReader(source, safetensors=True, **reader_options) as r:
        return r.metadata, list(r.tensors.values())


def _numpy_dtype(t: TensorInfo):
    import numpy as np

    np_name = DTYPES[t.dtype][1]
    if np_name is None:
        raise TypeError(f"tensor {t.name!r} is {t.dtype}, which has no numpy dtype "
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
    """Every tensor of a safetensors file (local path or ``http://`` URL) as numpy
    arrays, in file order: the same names, dtypes, shapes and values as
    ``safetensors.numpy.load_file``. The header is checked strictly
    (:class:`InvalidSafetensors`); the data is read in parallel (``threads``,
    default 8 for a URL, the CPU count up to 8 locally) straight into preallocated,
    writable arrays. ``reader_options`` go to :class:`PrefetchReader`."""
    if threads is not None and (not isinstance(threads, int) or threads < 1):
        raise ValueError(f"threads must be a positive int, not {threads!r}")
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
            raise ValueError(f"warptok.io.safe_open gives numpy arrays only (framework='np'), not {framework!r}")
        if device != "cpu":
            raise ValueError(f"device must be 'cpu', not {device!r}")
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
            raise KeyError(f"{self._reader.source} has no tensor {name!r}") from None

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
