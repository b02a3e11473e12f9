"""PrefetchReader: concurrent reads of a large local file or ``http(s)://`` URL through
shared, prefetched buffers (the compiled manager is cext/io/reader.c, bound in
_native/_io.pyx). See the package docstring for what it does."""

from __future__ import annotations

import os
from typing import Dict, Mapping, Optional

from .. import errors
from .._native import _io
from ..errors import UnsupportedSource
from .header import TensorInfo, header_length, parse_header

MiB = 1 << 20
DEFAULT_FLOOR = 4 * MiB
WEIGHT_FLOOR = 32 * MiB
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".pt", ".gguf")
TENSOR_CAP = 64 * MiB
DIRECT_MIN = 1 * MiB
HEADER_PROBE = 1 * MiB            # bytes read at open for a safetensors file
URL_PROBE = 64 * 1024             # bytes read at open for other URLs (learns the size)

if "WARPTOK_IO_BUDGET" in os.environ:
    _io.set_memory_budget(int(os.environ["WARPTOK_IO_BUDGET"]))


def _is_url(source) -> bool:
    if not isinstance(source, str):
        return False
    head = source[:10].lower()
    if head.startswith(("http://", "https://")):
        return True
    if "://" in source[:32] and source.split("://", 1)[0].isalnum():
        raise UnsupportedSource(f"{source}: only local paths and http:// or https:// URLs can be read")
    return False


def _tls_settings(ssl_context) -> Optional[tuple]:
    """How the C client verifies https:// (see _io.Reader._open): the OpenSSL that
    Python's ssl module loaded, with the system trust store as Python's ssl finds it
    (honouring SSL_CERT_FILE and SSL_CERT_DIR), or what an SSLContext says: its CA
    certificates, verify mode, hostname check, verify flags and lowest version.
    None when this Python has no ssl module."""
    try:
        import _ssl
        import ssl
    except ImportError:
        if ssl_context is not None:
            raise errors.ImportError("ssl_context needs Python's ssl module, which this Python does not have") from None
        return None
    lib = getattr(_ssl, "__file__", None)
    lib = os.fsencode(lib) if lib else None
    if ssl_context is None:
        paths = ssl.get_default_verify_paths()
        return (lib, os.fsencode(paths.cafile) if paths.cafile else None,
                os.fsencode(paths.capath) if paths.capath else None, None, True, True, 0, 0)
    if not isinstance(ssl_context, ssl.SSLContext):
        raise errors.TypeError(f"ssl_context must be an ssl.SSLContext, not {type(ssl_context).__name__}")
    verify = ssl_context.verify_mode != ssl.CERT_NONE
    der = b"".join(ssl_context.get_ca_certs(binary_form=True)) if verify else b""
    if verify and not der:
        raise errors.ValueError(
            "ssl_context lists no CA certificates (those of a capath directory are not listed by "
            "SSLContext.get_ca_certs()): load them with load_verify_locations(cafile=...) or cadata=, "
            "or leave ssl_context out to use the system trust store")
    low = int(getattr(ssl_context, "minimum_version", 0))
    return (lib, None, None, der if verify else None, verify, bool(ssl_context.check_hostname),
            int(ssl_context.verify_flags), max(low, 0))


def _suffix(source, is_url: bool) -> str:
    if is_url:
        path = source.split("://", 1)[1]
        path = path.split("#", 1)[0].split("?", 1)[0]
        path = path[path.find("/"):] if "/" in path else ""
        return os.path.splitext(path)[1].lower()
    return os.path.splitext(os.fspath(source))[1].lower()


class PrefetchReader(_io.Reader):
    """Concurrent reads of a large local file or ``http://``/``https://`` URL through
    shared, prefetched buffers. Every method may be called from many threads at once.

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
    * ``headers``: extra HTTP request headers (e.g. ``{"Authorization": ...}``); they
      are not sent after a redirect to another scheme, host or port.
    * ``ssl_context``: how ``https://`` servers are verified. Default: the system
      trust store as Python's ``ssl`` finds it (``SSL_CERT_FILE``/``SSL_CERT_DIR``
      honoured), certificate and host name checked. An ``ssl.SSLContext`` gives its
      CA certificates (``get_ca_certs()``: loaded with ``cafile=``/``cadata=``), its
      ``verify_mode``, ``check_hostname``, ``verify_flags`` and ``minimum_version``;
      client certificates and ciphers are not taken from it.
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
                 safetensors: Optional[bool] = None, ssl_context=None):
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
            raise errors.ValueError(f"floor must be a positive int, not {floor!r}")
        if io_threads is None:
            io_threads = 16 if is_url else max(2, min(8, os.cpu_count() or 2))
        if not (isinstance(max_slots, int) and max_slots >= 1):
            raise errors.ValueError(f"max_slots must be a positive int, not {max_slots!r}")
        if not (isinstance(io_threads, int) and 0 <= io_threads <= 256):
            raise errors.ValueError(f"io_threads must be an int in [0, 256], not {io_threads!r}")
        if not (isinstance(retries, int) and 0 <= retries <= 100):
            raise errors.ValueError(f"retries must be an int in [0, 100], not {retries!r}")
        if not (isinstance(timeout, (int, float)) and timeout > 0):
            raise errors.ValueError(f"timeout must be a positive number of seconds, not {timeout!r}")
        header_block = b""
        for k, v in (headers or {}).items():
            if any(c in str(k) + str(v) for c in "\r\n\0") or ":" in str(k) or not str(k).strip():
                raise errors.ValueError(f"invalid HTTP header {k!r}: {v!r}")
            header_block += f"{k}: {v}\r\n".encode("latin-1")
        tls = _tls_settings(ssl_context) if is_url else None
        if tls is not None and any(b"\0" in p for p in tls[:3] if p is not None):
            raise errors.ValueError("embedded null byte in a trust store path")
        probe = HEADER_PROBE if safetensors else (URL_PROBE if is_url else 0)
        head = self._open(source, is_url, floor, max(TENSOR_CAP, floor), DIRECT_MIN,
                          16 * MiB if is_url else 8 * MiB, probe, max_slots, io_threads, float(timeout),
                          retries, -1 if prefetch is None else int(bool(prefetch)), header_block, tls)
        self.tensors: Optional[Dict[str, TensorInfo]] = None
        self.metadata: Optional[Dict[str, str]] = None
        if safetensors:
            try:
                self._load_header(head)
            except BaseException:
                self.close()
                raise

    def _load_header(self, head: bytes) -> None:
        n = header_length(head, self.size, self.source)
        raw = head[8:8 + n]
        if len(raw) < n:
            raw += self.pread(len(head), 8 + n - len(head))
        self.metadata, tensors = parse_header(raw, self.size, self.source)
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
        raise errors.TypeError("a PrefetchReader cannot be pickled; open one in each process")
