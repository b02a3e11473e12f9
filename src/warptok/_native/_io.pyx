# cython: language_level=3, boundscheck=False, wraparound=False, cdivision=True
# cython: freethreading_compatible=True
"""Thin bindings over the prefetch reader in cext/io/reader.c (the public API is
warptok.io). Every call releases the GIL once, for all of its I/O and copies;
C error codes become exceptions in one place: ``_raise``."""

import errno as _errno

from cpython.buffer cimport (PyBUF_C_CONTIGUOUS, PyBUF_FORMAT, PyBUF_ND, PyBUF_STRIDES, PyBUF_WRITABLE,
                             PyBuffer_Release, PyObject_GetBuffer)
from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.stdint cimport uint8_t, uint32_t, uint64_t
from libc.string cimport memset

from warptok._native.capi cimport *

from warptok import errors
from warptok.errors import FetchError, FetchTimeout, UnsupportedSource


cdef int _raise(int rc, wt_rerr *err, object source) except -1:
    """The one place where a reader error code becomes a Python exception."""
    msg = err.msg[:sizeof(err.msg)].split(b"\0", 1)[0].decode("utf-8", "replace")
    where = f"{source}: {msg}"
    if rc == WT_ENOMEM:
        raise errors.MemoryError(f"warptok: out of memory ({where})")
    if rc == WT_ECLOSED or rc == WT_ECANCELED:
        raise errors.ReaderClosed("I/O operation on a closed PrefetchReader")
    if rc == WT_ENOTFOUND:
        raise errors.source_error(_errno.ENOENT, where, str(source))
    if rc == WT_EURL:
        raise UnsupportedSource(where)
    if rc == WT_EFORK:
        raise errors.RuntimeError(f"{where}; open a new PrefetchReader in this process")
    if rc == WT_ERANGE or rc == WT_EINVAL:
        raise errors.ValueError(where)
    if rc == WT_EIO and err.sys_errno:
        raise errors.source_error(err.sys_errno, where, str(source))   # PermissionError, IsADirectoryError, ...
    if rc == WT_ETIMEOUT:
        exc = FetchTimeout(where)
    else:
        exc = FetchError(where)
    exc.status = err.http_status or None
    exc.attempts = err.attempts or None
    raise exc


cdef inline uint64_t _u64(object v, str what) except? 0:
    if isinstance(v, bool) or not isinstance(v, int):
        raise errors.TypeError(f"{what} must be an int, not {type(v).__name__}")
    if v < 0:
        raise errors.ValueError(f"{what} must be >= 0, not {v}")
    if v >= (1 << 63):
        raise errors.OverflowError(f"{what} is too large: {v}")
    return <uint64_t>v


cdef int _writable_buffer(object obj, Py_buffer *view) except -1:
    """A writable, C-contiguous view of obj: what reads are copied into."""
    try:
        PyObject_GetBuffer(obj, view, PyBUF_WRITABLE | PyBUF_C_CONTIGUOUS)
    except BufferError as e:
        raise errors.BufferError(str(e)) from None
    except ValueError as e:                      # numpy: "ndarray is not C-contiguous"
        raise errors.ValueError(str(e)) from None
    return 0


def set_memory_budget(nbytes):
    """Sets the most memory (bytes) all readers' buffers together may hold."""
    cdef uint64_t b = _u64(nbytes, "nbytes")
    if b == 0:
        raise errors.ValueError("the memory budget must be positive")
    wt_io_set_budget(b)


def memory_budget():
    """The byte budget of all readers' buffers (default: min(1 GiB, RAM / 4))."""
    return wt_io_budget()


def memory_used():
    """Bytes all readers' buffers hold now."""
    return wt_io_used()


cdef class Reader:
    """The compiled reader; see warptok.io.PrefetchReader for the public class."""
    cdef wt_reader *_r
    cdef readonly uint64_t size
    cdef readonly object source
    cdef bint _closed

    def __cinit__(self, *args, **kwargs):
        self._r = NULL
        self.size = 0
        self._closed = False

    def __dealloc__(self):
        cdef wt_reader *r = self._r
        self._r = NULL
        if r != NULL:
            with nogil:
                wt_reader_free(r)

    def _open(self, str source, bint is_url, uint64_t floor, uint64_t tensor_cap, uint64_t direct_min,
              uint64_t unit, uint64_t probe, uint32_t max_slots, uint32_t io_threads, double timeout,
              int retries, int prefetch, bytes headers, tuple tls=None):
        """Opens the source; returns the first ``probe`` bytes (fewer if the file is shorter).
        ``tls``: how https:// is verified, (module linked with libssl, CA file, CA directory,
        DER CA certificates, verify, check hostname, X509 verify flags, lowest version), each
        path or bytes None when absent; None: no TLS in this process."""
        import os
        if self._r != NULL:
            raise errors.RuntimeError("reader already open")
        cdef bytes c_source = source.encode("utf-8") if is_url else os.fsencode(source)
        if b"\0" in c_source:
            raise errors.ValueError("embedded null byte in source")
        cdef wt_reader_opts o
        memset(&o, 0, sizeof(o))
        o.floor = floor
        o.tensor_cap = tensor_cap
        o.direct_min = direct_min
        o.unit = unit
        o.probe = probe
        o.max_slots = max_slots
        o.io_threads = io_threads
        o.timeout = timeout
        o.retries = retries
        o.prefetch = prefetch
        o.headers = <const char *>headers if headers else NULL
        cdef bytes t_lib = None, t_file = None, t_dir = None, t_der = None
        if tls is not None:
            t_lib, t_file, t_dir, t_der = tls[0], tls[1], tls[2], tls[3]
            o.tls.available = 1
            o.tls.lib = <const char *>t_lib if t_lib is not None else NULL
            o.tls.ca_file = <const char *>t_file if t_file is not None else NULL
            o.tls.ca_dir = <const char *>t_dir if t_dir is not None else NULL
            o.tls.ca_der = <const uint8_t *><const char *>t_der if t_der is not None else NULL
            o.tls.ca_der_len = len(t_der) if t_der is not None else 0
            o.tls.verify = 1 if tls[4] else 0
            o.tls.check_hostname = 1 if tls[5] else 0
            o.tls.verify_flags = tls[6]
            o.tls.min_version = tls[7]
        cdef const char *c_src = c_source
        cdef const uint8_t *head = NULL
        cdef size_t head_len = 0
        cdef wt_rerr err
        cdef wt_reader *r
        memset(&err, 0, sizeof(err))
        with nogil:
            r = wt_reader_open(c_src, is_url, &o, &head, &head_len, &err)
        if r == NULL:
            _raise(err.code, &err, source)
        self._r = r
        self.size = wt_reader_size(r)
        self.source = source
        first = PyBytes_FromStringAndSize(<const char *>head, head_len) if head_len else b""
        wt_reader_drop_probe(r)
        return first

    cdef wt_reader *_live(self) except NULL:
        if self._r == NULL or self._closed:
            raise errors.ReaderClosed("I/O operation on a closed PrefetchReader")
        return self._r

    def pread(self, offset, size):
        """``size`` bytes at ``offset`` (fewer at the end of the file, b'' past it)."""
        cdef wt_reader *r = self._live()
        cdef uint64_t off = _u64(offset, "offset"), n = _u64(size, "size")
        if off >= self.size:
            return b""
        if n > self.size - off:
            n = self.size - off
        cdef bytes out = PyBytes_FromStringAndSize(NULL, <Py_ssize_t>n)
        cdef uint8_t *dst = <uint8_t *>PyBytes_AS_STRING(out)
        cdef wt_rerr err
        cdef int rc
        err.code = 0
        with nogil:
            rc = wt_reader_read(r, off, n, dst, &err)
        if rc < 0:
            _raise(rc, &err, self.source)
        return out

    def readinto(self, offset, buffer):
        """Reads into a writable C-contiguous buffer (bytearray, memoryview, numpy
        array) from ``offset``; returns the number of bytes read (fewer than
        ``len(buffer)`` bytes only at the end of the file)."""
        cdef wt_reader *r = self._live()
        cdef uint64_t off = _u64(offset, "offset"), n
        cdef Py_buffer view
        cdef wt_rerr err
        cdef int rc = 0
        err.code = 0
        _writable_buffer(buffer, &view)
        try:
            n = <uint64_t>view.len
            if off >= self.size:
                return 0
            if n > self.size - off:
                n = self.size - off
            if n:
                with nogil:
                    rc = wt_reader_read(r, off, n, <uint8_t *>view.buf, &err)
            if rc < 0:
                _raise(rc, &err, self.source)
            return n
        finally:
            PyBuffer_Release(&view)

    def _read_many(self, offsets, buffers, uint32_t threads):
        """Fills every buffer (writable, C-contiguous) from its offset, in parallel."""
        cdef wt_reader *r = self._live()
        cdef Py_ssize_t n = len(buffers), i, got = 0
        if len(offsets) != n:
            raise errors.ValueError("offsets and buffers differ in length")
        cdef Py_buffer *views = <Py_buffer *>wt_calloc(n if n else 1, sizeof(Py_buffer))
        cdef wt_rjob *jobs = <wt_rjob *>wt_calloc(n if n else 1, sizeof(wt_rjob))
        cdef wt_rerr err
        cdef int rc = 0
        err.code = 0
        if views == NULL or jobs == NULL:
            wt_free(views)
            wt_free(jobs)
            raise errors.MemoryError("warptok: out of memory")
        try:
            for i in range(n):
                _writable_buffer(buffers[i], &views[i])
                got += 1
                jobs[i].off = _u64(offsets[i], "offset")
                jobs[i].len = <uint64_t>views[i].len
                jobs[i].dst = <uint8_t *>views[i].buf
            with nogil:
                rc = wt_reader_read_many(r, jobs, <size_t>n, threads, &err)
            if rc < 0:
                _raise(rc, &err, self.source)
        finally:
            for i in range(got):
                PyBuffer_Release(&views[i])
            wt_free(views)
            wt_free(jobs)

    def _set_tensors(self, bounds):
        """Known tensor ranges: a sequence of (start, end) absolute offsets, sorted."""
        cdef wt_reader *r = self._live()
        cdef Py_ssize_t n = len(bounds), i
        cdef uint64_t *b = <uint64_t *>wt_malloc(2 * (n if n else 1) * sizeof(uint64_t))
        cdef wt_rerr err
        cdef int rc
        err.code = 0
        if b == NULL:
            raise errors.MemoryError("warptok: out of memory")
        try:
            for i in range(n):
                b[2 * i] = _u64(bounds[i][0], "start")
                b[2 * i + 1] = _u64(bounds[i][1], "end")
            rc = wt_reader_set_tensors(r, b, <size_t>n, &err)
            if rc < 0:
                _raise(rc, &err, self.source)
        finally:
            wt_free(b)

    def stats(self):
        """Counters: requests and bytes fetched, retries, slot/speculative/direct
        fetches, bytes served from buffers, waits on in-flight fetches, evictions,
        and the bytes this reader's buffers hold now."""
        cdef wt_rstats s
        if self._r == NULL:
            raise errors.ValueError("the reader was never opened")
        wt_reader_stats(self._r, &s)
        return {"requests": s.requests, "bytes_fetched": s.bytes_fetched, "retries": s.retries,
                "slot_fetches": s.slot_fetches, "spec_fetches": s.spec_fetches,
                "direct_fetches": s.direct_fetches, "hit_bytes": s.hit_bytes, "waits": s.waits,
                "evictions": s.evictions, "buffered_bytes": s.slot_bytes}

    def close(self):
        """Aborts fetches in flight, waits for calls in progress to return and frees
        the buffers and connections. Idempotent."""
        cdef wt_reader *r = self._r
        self._closed = True
        if r != NULL:
            with nogil:
                wt_reader_shutdown(r)

    @property
    def prefetching(self):
        """True when reads go through the prefetch buffers (an http(s):// source, or a
        local file on a network/FUSE filesystem, unless prefetch=False)."""
        return self._r != NULL and wt_reader_prefetching(self._r) != 0

    @property
    def closed(self):
        """True after close()."""
        return self._r == NULL or self._closed


cdef char *_FORMAT_B = b"B"


cdef class Pages:
    """``nbytes`` of zeroed, page-aligned memory for one tensor, its 2 MiB-aligned
    interior advised for transparent huge pages, exposed as a writable buffer
    (the base of a numpy array; unmapped when the last user is gone)."""
    cdef void *_p
    cdef readonly Py_ssize_t nbytes
    cdef Py_ssize_t _shape[1]
    cdef Py_ssize_t _strides[1]

    def __cinit__(self, Py_ssize_t nbytes):
        if nbytes < 0:
            raise errors.ValueError("nbytes must be >= 0")
        self._p = NULL
        self.nbytes = nbytes
        self._shape[0] = nbytes      # set once: __getbuffer__ only reads them (threads may share one)
        self._strides[0] = 1
        with nogil:
            self._p = wt_pages_alloc(<size_t>nbytes)
        if self._p == NULL:
            raise errors.MemoryError(f"warptok: cannot map {nbytes} bytes")

    def __dealloc__(self):
        if self._p != NULL:
            wt_pages_free(self._p, <size_t>self.nbytes)
            self._p = NULL

    def __getbuffer__(self, Py_buffer *view, int flags):
        view.buf = self._p
        view.obj = self
        view.len = self.nbytes
        view.readonly = 0
        view.itemsize = 1
        view.format = NULL
        if flags & PyBUF_FORMAT:
            view.format = _FORMAT_B
        view.ndim = 1
        view.shape = self._shape if (flags & PyBUF_ND) else NULL
        view.strides = self._strides if (flags & PyBUF_STRIDES) == PyBUF_STRIDES else NULL
        view.suboffsets = NULL
        view.internal = NULL

    def __releasebuffer__(self, Py_buffer *view):
        pass
