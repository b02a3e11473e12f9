"""What a tokenizer was built from, kept so that it can be pickled and rebuilt.

A ``Tokenizer`` pickles as the bytes of the file it was loaded from (a tokenizer.json,
or a tiktoken rank file with its pattern and special tokens) and the few settings around
them, never as the compiled tables: unpickling runs the loader again on those bytes, in
the worker, without reading any file. The bytes are kept as they were read (a rank file
that came gzipped stays gzipped) until the first pickle, which compresses them with zlib
at a fixed level and keeps only that, so the pickles of one file are always the same bytes
(no timestamps, no dict-order noise) and hash alike across processes (``datasets``' cache).
"""

from __future__ import annotations

import json
import zlib

from .. import errors

# The pickle's layout (``pack``). A pickle of another version raises on load.
FORMAT = 1
# zlib level 1: a Llama-3 tokenizer.json (8.9 MB) compresses to 2.7 MB in ~0.1 s, once per
# object; level 6 saves another 0.4 MB for 3-4x the time, and decompressing costs the same.
LEVEL = 1

_GZIP = b"\x1f\x8b"


class Source:
    """The input of one load: ``kind`` ("json", "pretrained", "tiktoken" or "encoding"),
    the file's bytes (str for tokenizer.json text given as str; None for the rank file that
    ships with warptok), and ``extra``: what else the loader took (pattern, special tokens,
    the added tokens and chat settings of a model directory). Immutable, apart from the
    one-time swap of the bytes for their compressed form."""

    __slots__ = ("kind", "extra", "_data", "_packed")

    def __init__(self, kind: str, data, **extra):
        self.kind = kind
        self.extra = extra
        self._data = data
        self._packed = None

    def packed(self) -> tuple:
        """(codec, payload): the bytes as stored in a pickle. Computed once; two threads
        computing it at once compute the same thing."""
        p = self._packed
        if p is None:
            data = self._data
            if data is None:
                p = self._packed         # another thread packed it and dropped the bytes
                if p is not None:
                    return p
                return (None, b"")
            if isinstance(data, str):
                data = data.encode("utf-8", "surrogatepass")
            p = ("gzip", bytes(data)) if data[:2] == _GZIP else ("zlib", zlib.compress(data, LEVEL))
            self._packed = p
            self._data = None            # packed first, so a reader that sees None finds it
        return p

    def adopt(self, codec, payload: bytes) -> "Source":
        """Take a pickle's payload as the packed form (a rebuilt tokenizer pickles as it came)."""
        if codec is not None:
            self._packed = (codec, payload)
            self._data = None
        return self

    def data(self) -> bytes | str | None:
        """The file's bytes, unpacked again when a pickle has packed them."""
        data = self._data
        if data is None and self._packed is not None:
            return unpack(*self._packed)
        return data

    def document(self) -> dict:
        """The tokenizer.json as parsed JSON (with a model directory's added tokens)."""
        if self.kind not in ("json", "pretrained"):
            raise errors.TypeError(f"a {self.kind} tokenizer has no tokenizer.json")
        j = json.loads(self.data())
        if self.kind == "pretrained":
            added = j.get("added_tokens")
            j["added_tokens"] = (added or []) + [dict(a) for a in self.extra["added"]]
        return j


def unpack(codec, payload: bytes):
    if codec is None:
        return None
    if codec == "zlib":
        return zlib.decompress(payload)
    if codec == "gzip":
        return payload                   # the readers take gzipped rank files as they are
    raise errors.ValueError(f"a warptok pickle with an unknown codec {codec!r}")


def pack(source: Source, header: dict) -> tuple:
    """The pickled state: (FORMAT, header JSON, payload). The header is built by the caller
    in a fixed order; the codec joins it."""
    codec, payload = source.packed()
    header = {"kind": source.kind, "codec": codec, **header, **source.extra}
    return FORMAT, json.dumps(header, ensure_ascii=False), payload


def unpack_state(version, header: str, payload: bytes) -> tuple:
    """(header dict, the file's bytes) of a pickled state."""
    if version != FORMAT:
        raise errors.ValueError(f"a warptok pickle of format {version!r}; this warptok reads format {FORMAT}")
    h = json.loads(header)
    return h, unpack(h["codec"], payload)
