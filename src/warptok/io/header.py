"""The safetensors header, parsed strictly: its length (at most 100 MB), then the JSON
(UTF-8, no duplicate keys, integers only), every tensor's dtype, shape and offsets
checked, and the tensors sorted, contiguous and filling the file exactly."""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

from .. import errors
from ..errors import InvalidSafetensors

MAX_HEADER = 100_000_000          # the safetensors format's own limit


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


def _u64(v, what):
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise errors.TypeError(what)
    if v >= 1 << 64:
        raise errors.OverflowError(what)
    return v


def parse_header(raw: bytes, file_size: int, source) -> Tuple[Optional[dict], List[TensorInfo]]:
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


def header_length(prefix: bytes, file_size: int, source) -> int:
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
