"""Fast concurrent reads of large files, local or over HTTP(S), and safetensors loading.

    >>> from warptok.io import PrefetchReader, load_safetensors, safe_open
    >>> with PrefetchReader("https://host/model.safetensors") as r:
    ...     head = r.pread(0, 4096)                 # bytes; safe from many threads at once
    ...     r.readinto(1 << 30, array)              # straight into a numpy array
    >>> tensors = load_safetensors("model.safetensors")   # dict[str, numpy.ndarray]

A :class:`PrefetchReader` serves reads through a few shared buffers ("slots")
filled by fetches of at least a floor size (4 MiB; 32 MiB for ``.safetensors``,
``.bin``, ``.pt`` and ``.gguf``), so that a stream of small reads (the 128 KiB
reads of a memory map or a FUSE mount) costs one round trip per floor, not per
read. The compiled manager (cext/io/reader.c) holds its lock only to plan and to
store, never across I/O; a fetch in flight is shared by every reader who needs
its bytes, and they copy them out as they arrive. Past 75% of a buffer read as a
stream, or of a safetensors tensor of at least 4 MiB, the next range is fetched
ahead by an I/O thread. Inside a known tensor the rest of the tensor is fetched
(up to 64 MiB). A big read that continues no stream goes straight into the
caller's memory, in parallel pieces when it is very big. All buffers of all
readers share one memory budget (:func:`set_memory_budget`).

HTTP: ``http://`` and ``https://`` URLs, range requests over kept-alive
connections, with a per-request timeout (seconds without progress, and a
deadline for the whole request) and bounded retries that resume where a broken
response stopped, ending in :class:`FetchError`. TLS goes through the OpenSSL
that Python's ``ssl`` module uses, from the reader's own threads: the server's
certificate and name are checked against the system trust store (as Python's
``ssl`` finds it; ``SSL_CERT_FILE``/``SSL_CERT_DIR`` honoured) or an
``ssl_context``; a refusal is a :class:`FetchError` saying why. Redirects (301,
302, 303, 307, 308; at most 5) are followed when the file is opened, asking for
the same Range; a redirect to another scheme, host or port drops the
``headers`` (``Authorization``), and one from https:// to http:// is refused.
"""

from __future__ import annotations

from .._native._io import memory_budget, memory_used, set_memory_budget
from ..errors import FetchError, FetchTimeout, InvalidSafetensors, UnsupportedSource
from .header import DTYPES, MAX_HEADER, TensorInfo
from .reader import (DEFAULT_FLOOR, DIRECT_MIN, HEADER_PROBE, TENSOR_CAP, URL_PROBE, WEIGHT_FLOOR, WEIGHT_SUFFIXES,
                     PrefetchReader)
from .safetensors import PAGES_MIN, TensorSlice, load_safetensors, read_safetensors_header, safe_open

__all__ = ["PrefetchReader", "load_safetensors", "safe_open", "TensorSlice", "TensorInfo", "read_safetensors_header",
           "FetchError", "FetchTimeout", "UnsupportedSource", "InvalidSafetensors",
           "set_memory_budget", "memory_budget", "memory_used",
           # the reader's defaults and the format's limits
           "DEFAULT_FLOOR", "WEIGHT_FLOOR", "WEIGHT_SUFFIXES", "TENSOR_CAP", "DIRECT_MIN", "HEADER_PROBE",
           "URL_PROBE", "PAGES_MIN", "MAX_HEADER", "DTYPES"]
