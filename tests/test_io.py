"""warptok.io: the prefetch reader, local and over a real loopback HTTP server
(benchmarks/bench_io.py's RangeServer, started here on 127.0.0.1 with injectable
latency and faults), safetensors loading against the safetensors package, and
`warptok encode`. Every read is checked byte for byte against the file."""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import warptok
from warptok import errors as wterrors
from warptok import io as wio
from warptok.io import (FetchError, FetchTimeout, InvalidSafetensors, PrefetchReader, UnsupportedSource,
                        load_safetensors, safe_open)

REPO = Path(__file__).resolve().parents[1]
MiB = 1 << 20


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_io", REPO / "benchmarks" / "bench_io.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


RangeServer = _load_bench().RangeServer


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("io")
    rng = np.random.default_rng(42)
    blob = rng.bytes(24 * MiB + 12345)          # odd size: the last fetch is short
    (d / "blob.dat").write_bytes(blob)
    (d / "empty.dat").write_bytes(b"")
    (d / "tiny.dat").write_bytes(b"0123456789")
    return d, blob


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """A safetensors file written by the safetensors package: every numpy dtype it
    supports, scalars, empty tensors, big tensors (> 4 MiB) and metadata."""
    from safetensors.numpy import save_file

    d = tmp_path_factory.mktemp("model")
    rng = np.random.default_rng(5)
    t = {
        "embed": rng.standard_normal((1024, 2048), dtype=np.float32),            # 8 MiB
        "layer0.w": rng.standard_normal((1536, 1024)).astype(np.float16),         # 3 MiB
        "layer0.b": rng.standard_normal(1024).astype(np.float64),
        "layer1.w": rng.standard_normal((2048, 1280), dtype=np.float32),          # 10 MiB
        "counts": rng.integers(-2**62, 2**62, size=(17, 3), dtype=np.int64),
        "u64": rng.integers(0, 2**63, size=5, dtype=np.uint64),
        "i32": rng.integers(-9, 9, size=(2, 3, 4), dtype=np.int32),
        "u32": np.arange(7, dtype=np.uint32), "i16": np.arange(-3, 3, dtype=np.int16),
        "u16": np.arange(9, dtype=np.uint16), "i8": np.arange(-5, 5, dtype=np.int8),
        "u8": np.arange(255, dtype=np.uint8), "mask": rng.random(33) > 0.5,
        "cplx": (rng.standard_normal(6) + 1j * rng.standard_normal(6)).astype(np.complex64),
        "scalar": np.array(3.5, dtype=np.float32), "empty": np.zeros((0, 4), dtype=np.float32),
        "empty2": np.zeros(0, dtype=np.int8),
    }
    path = d / "model.safetensors"
    save_file(t, str(path), metadata={"format": "np", "note": "ünïcode"})
    return path


@pytest.fixture(scope="module")
def server(files, model):
    d, _ = files
    srv = RangeServer({"blob.dat": d / "blob.dat", "empty.dat": d / "empty.dat", "tiny.dat": d / "tiny.dat",
                       "model.safetensors": model, "blob.safetensors": d / "blob.dat"})
    with srv:
        yield srv


@pytest.fixture
def srv(server):
    """The shared server, with latency and faults reset after the test."""
    server.latency, server.fault, server.stall, server.trickle = 0.0, None, 5.0, 0.4
    with server._lock:
        server.requests.clear()
        server._n = 0                                   # fault(n, ...) counts from the test's start
    yield server
    server.latency, server.fault, server.stall, server.trickle = 0.0, None, 5.0, 0.4


def check_reads(r, blob, plan):
    for off, n in plan:
        got = r.pread(off, n)
        assert got == blob[off:off + n], f"wrong bytes at {off}+{n}"


def random_plan(rng, size, count, sizes):
    return [(rng.randrange(0, size), rng.choice(sizes)) for _ in range(count)]


def run_threads(n, target, timeout=60):
    errors = []

    def wrap(i):
        try:
            target(i)
        except BaseException as e:       # re-raised in the test thread
            errors.append(e)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a reader thread hung"
    if errors:
        raise errors[0]


# -------------------------------------------------------------- basic reads


WHERE = ["local", "local-buffered", "http"]


def source(where, files, srv, name="blob.dat"):
    """(source, reader options): a local disk reads directly by default; with
    prefetch=True the same slots as for HTTP serve it."""
    if where == "http":
        return srv.url(name), {}
    return files[0] / name, ({"prefetch": True} if where == "local-buffered" else {})


@pytest.mark.parametrize("where", WHERE)
def test_pread_and_readinto_match_the_file(files, srv, where):
    d, blob = files
    src, opts = source(where, files, srv)
    size = len(blob)
    with PrefetchReader(src, floor=MiB, **opts) as r:
        assert r.prefetching == (where != "local")
        assert r.size == size
        edges = [(0, 0), (0, 1), (0, 100), (size - 1, 1), (size - 1, 10), (size, 5), (size + 100, 5),
                 (MiB - 3, 7), (3 * MiB + 1, 5 * MiB), (size - 9 * MiB, 9 * MiB), (0, size + 10)]
        check_reads(r, blob, edges)
        rng = random.Random(1)
        check_reads(r, blob, random_plan(rng, size, 60, [1, 17, 4096, 128 * 1024, MiB + 3, 4 * MiB, 20 * MiB]))
        buf = bytearray(1000)
        assert r.readinto(5, buf) == 1000 and bytes(buf) == blob[5:1005]
        arr = np.empty(3 * MiB // 4, dtype=np.float32)
        assert r.readinto(7 * MiB, arr) == 3 * MiB
        assert arr.tobytes() == blob[7 * MiB:10 * MiB]
        tail = np.zeros(100, np.uint8)
        assert r.readinto(size - 40, tail) == 40 and tail[:40].tobytes() == blob[-40:]
        assert r.readinto(size, tail) == 0
        with pytest.raises(BufferError):
            r.readinto(0, b"immutable")
        with pytest.raises((BufferError, ValueError)):
            r.readinto(0, np.zeros((4, 4))[:, 1])            # not contiguous
        with pytest.raises(ValueError):
            r.pread(-1, 5)
        with pytest.raises(TypeError):
            r.pread(1.5, 5)
    assert r.closed


@pytest.mark.parametrize("where", WHERE)
def test_empty_and_tiny_files(files, srv, where):
    for name, content in (("empty.dat", b""), ("tiny.dat", b"0123456789")):
        src, opts = source(where, files, srv, name)
        with PrefetchReader(src, **opts) as r:
            assert r.size == len(content)
            assert r.pread(0, 100) == content
            assert r.pread(3, 4) == content[3:7]


# ----------------------------------------------------------- concurrency


@pytest.mark.parametrize("where", WHERE)
def test_randomized_concurrent_readers(files, srv, where):
    """8 threads of random reads of every size; few small buffers, so slots are
    evicted, reused and waited on while others fetch."""
    d, blob = files
    srv.latency = 0.002
    src, opts = source(where, files, srv)
    with PrefetchReader(src, floor=MiB, max_slots=6, io_threads=4, **opts) as r:
        def work(i):
            rng = random.Random(100 + i)
            plan = random_plan(rng, len(blob), 50, [1, 333, 64 * 1024, 128 * 1024, 700 * 1024, 2 * MiB + 1, 5 * MiB])
            # and stretches of sequential small reads, which prefetch
            start = rng.randrange(0, len(blob) - 4 * MiB)
            plan += [(start + k, 128 * 1024) for k in range(0, 4 * MiB, 128 * 1024)]
            rng.shuffle(plan[:50])
            check_reads(r, blob, plan)

        run_threads(8, work)
        assert r.stats()["buffered_bytes"] <= wio.memory_budget()
    assert wio.memory_used() == 0 or wio.memory_used() <= wio.memory_budget()


def _ranges(srv, path="/blob.dat"):
    with srv._lock:
        return sorted((a, b) for p, a, b, fault in srv.requests if p == path)


def test_concurrent_readers_of_one_range_share_one_fetch(files, srv):
    """8 threads wanting the same bytes while the fetch is slow: one request."""
    _, blob = files
    with PrefetchReader(srv.url("blob.dat"), floor=MiB) as r:
        srv.latency = 0.2
        with srv._lock:
            srv.requests.clear()
        barrier = threading.Barrier(8)

        def work(i):
            barrier.wait()
            off = 5 * MiB + i * 1000
            assert r.pread(off, 5000) == blob[off:off + 5000]

        run_threads(8, work)
        assert _ranges(srv) == [(5 * MiB, 6 * MiB - 1)]
        assert r.stats()["waits"] >= 1


def test_scanning_threads_never_download_a_byte_twice(files, srv):
    """8 threads scanning overlapping regions in 64 KiB reads (the mmap/FUSE
    pattern) with 20 ms per request: requests are floor-sized, read ahead, and no
    two requests overlap."""
    _, blob = files
    srv.latency = 0.02
    with PrefetchReader(srv.url("blob.dat"), floor=2 * MiB) as r:
        with srv._lock:
            srv.requests.clear()
        t = time.perf_counter()

        def work(i):
            start = (i % 4) * 4 * MiB + (i // 4) * 64 * 1024     # pairs of threads share a region
            check_reads(r, blob, [(start + k, 64 * 1024) for k in range(0, 6 * MiB, 64 * 1024)])

        run_threads(8, work)
        seconds = time.perf_counter() - t
        ranges = _ranges(srv)
        for (a0, b0), (a1, b1) in zip(ranges, ranges[1:]):
            assert a1 > b0, f"requests overlap: {a0}-{b0} and {a1}-{b1}"
        fetched = sum(b - a + 1 for a, b in ranges)
        assert fetched <= 4 * 6 * MiB + 64 * 1024 + 8 * 2 * MiB       # the regions + one read-ahead each
        assert len(ranges) <= 24
        assert r.stats()["spec_fetches"] > 0
    # 8 x 96 reads at 20 ms each would take 1.9 s per thread one by one
    assert seconds < 1.5


def test_big_random_reads_fetch_exactly_what_was_asked(files, srv):
    _, blob = files
    with PrefetchReader(srv.url("blob.safetensors"), safetensors=False) as r:   # 32 MiB floor name
        with srv._lock:
            srv.requests.clear()
        rng = random.Random(3)
        plan = [(rng.randrange(0, len(blob) - 4 * MiB), 4 * MiB) for _ in range(6)]
        check_reads(r, blob, plan)
        assert _ranges(srv, "/blob.safetensors") == sorted((a, a + n - 1) for a, n in plan)


def test_sequential_big_reads_become_a_prefetched_stream(files, srv):
    _, blob = files
    with PrefetchReader(srv.url("blob.dat"), floor=MiB) as r:
        check_reads(r, blob, [(k, 2 * MiB) for k in range(0, 16 * MiB, 2 * MiB)])
        st = r.stats()
        assert st["spec_fetches"] >= 3 and st["hit_bytes"] >= 8 * MiB


def test_memory_budget_is_shared_and_respected(files, srv):
    d, blob = files
    old = wio.memory_budget()
    wio.set_memory_budget(4 * MiB)
    try:
        readers = [PrefetchReader(d / "blob.dat", floor=MiB, prefetch=True),
                   PrefetchReader(srv.url("blob.dat"), floor=MiB)]
        peak = [0]

        def work(i):
            r = readers[i % 2]
            rng = random.Random(i)
            for _ in range(40):
                off = rng.randrange(0, len(blob))
                assert r.pread(off, 100_000) == blob[off:off + 100_000]
                peak[0] = max(peak[0], wio.memory_used())

        run_threads(6, work)
        assert 0 < peak[0] <= 4 * MiB
        for r in readers:
            r.close()
        assert wio.memory_used() == 0
    finally:
        wio.set_memory_budget(old)
    with pytest.raises(ValueError):
        wio.set_memory_budget(0)


# ---------------------------------------------------------------- faults


def every(k, mode, limit=None):
    count = [0]

    def fault(n, path, first, last):
        if n % k == k - 1 and (limit is None or count[0] < limit):
            count[0] += 1
            return mode
        return None

    return fault


@pytest.mark.parametrize("mode", ["drop", "short", "503", "close"])
def test_faults_are_retried_to_exact_bytes(files, srv, mode):
    _, blob = files
    with PrefetchReader(srv.url("blob.dat"), floor=MiB, retries=5, timeout=5) as r:
        srv.fault = every(3, mode)
        rng = random.Random(7)

        def work(i):
            check_reads(r, blob, random_plan(random.Random(i), len(blob), 15, [1000, 300 * 1024, 3 * MiB]))

        run_threads(4, work)
        if mode != "close":
            assert r.stats()["retries"] > 0
        del rng


def test_short_body_resumes_after_the_bytes_received(files, srv):
    _, blob = files
    with PrefetchReader(srv.url("blob.dat"), prefetch=False) as r:
        srv.fault = every(2, "short", limit=1)            # the second request (the first read)
        assert r.pread(MiB, 4 * MiB) == blob[MiB:5 * MiB]
    ranges = [(a, b, f) for p, a, b, f in srv.requests if p == "/blob.dat"][1:]
    assert ranges == [(MiB, 5 * MiB - 1, "short"), (3 * MiB, 5 * MiB - 1, None)]


def test_a_stalled_request_times_out_and_is_retried(files, srv):
    _, blob = files
    with PrefetchReader(srv.url("blob.dat"), prefetch=False, timeout=0.3, retries=2) as r:
        srv.stall = 2.0
        srv.fault = every(2, "stall", limit=1)
        t = time.perf_counter()
        assert r.pread(100, 1000) == blob[100:1100]
        assert time.perf_counter() - t < 1.5
        assert r.stats()["retries"] == 1


def test_persistent_failures_end_in_a_clear_error(files, srv):
    with PrefetchReader(srv.url("blob.dat"), prefetch=False, retries=2, timeout=2) as r:
        srv.fault = lambda n, p, a, b: "503"
        t = time.perf_counter()
        with pytest.raises(FetchError, match=r"HTTP 503.*gave up after 3 attempts") as ei:
            r.pread(0, 100)
        assert ei.value.status == 503 and ei.value.attempts == 3
        assert time.perf_counter() - t < 2
        srv.fault = None
    with PrefetchReader(srv.url("blob.dat"), prefetch=False, retries=1, timeout=0.2) as r:
        srv.stall = 3.0
        srv.fault = lambda n, p, a, b: "stall"
        t = time.perf_counter()
        with pytest.raises(FetchTimeout, match="no response within"):
            r.pread(0, 100)
        assert time.perf_counter() - t < 2
        assert isinstance(FetchTimeout("x"), TimeoutError)


def test_waiters_see_the_fetchers_error(files, srv):
    """Readers waiting on a fetch that fails get its error, not a hang."""
    with PrefetchReader(srv.url("blob.dat"), floor=MiB, retries=0, timeout=5) as r:
        srv.latency = 0.1
        srv.fault = lambda n, p, a, b: "503"
        errors = []

        def work(i):
            try:
                r.pread(2 * MiB + i, 10)
            except FetchError as e:
                errors.append(e)

        run_threads(6, work)
        assert len(errors) == 6


@pytest.mark.parametrize("mode, error, match", [
    ("wrongrange", FetchError, "the server sent bytes"),
    ("etag", FetchError, "changed since it was opened"),
    ("404", FileNotFoundError, "not found"),
])
def test_wrong_answers_are_errors_never_wrong_bytes(files, srv, mode, error, match):
    with PrefetchReader(srv.url("blob.dat"), prefetch=False, retries=3) as r:
        srv.fault = lambda n, p, a, b: mode
        with pytest.raises(error, match=match):
            r.pread(1000, 5000)
        n = srv.count("/blob.dat")
    assert n == 2                                       # the probe and one request: no retries


def test_open_errors(files, srv):
    srv.fault = lambda n, p, a, b: "norange"
    with pytest.raises(FetchError, match="does not support range requests"):
        PrefetchReader(srv.url("blob.dat"))
    srv.fault = None
    with pytest.raises(FileNotFoundError):
        PrefetchReader(srv.url("missing.dat"))
    with pytest.raises(FileNotFoundError):
        PrefetchReader(files[0] / "missing.dat")
    with pytest.raises(IsADirectoryError):
        PrefetchReader(files[0])
    with pytest.raises(UnsupportedSource, match="http:// or https://"):
        PrefetchReader("s3://bucket/key")
    with pytest.raises(UnsupportedSource, match="port"):
        PrefetchReader("http://127.0.0.1:99999/x")
    with pytest.raises(ValueError):
        PrefetchReader(srv.url("blob.dat"), headers={"X-Bad": "a\r\nb"})
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()                                           # nothing listens there now
    t = time.perf_counter()
    with pytest.raises(FetchError, match="cannot connect"):
        PrefetchReader(f"http://127.0.0.1:{port}/x", retries=1)
    assert time.perf_counter() - t < 2


# The probe at open (URL_PROBE bytes; it learns the size) cut after half its body,
# then retried, for files below, at and above the probe's size.
PROBE = wio.URL_PROBE
PROBE_SIZES = [10_000, 60_000, PROBE, 100_000]
NO_RANGES = "does not support range requests"
# case: (first answer, the retry's answer, error when the file is bigger than the probe, error always)
CUT_PROBE = {
    "resumed": ("short", None, None, None),              # 206 from where the cut stopped
    "200-twice": ("norange+short", "norange", NO_RANGES, None),
    "206-from-0-again": ("short", "restart", None, None),
    "206-then-200": ("short", "norange", NO_RANGES, None),
    "206-elsewhere": ("short", "wrongrange", None, "the server sent bytes"),
    "206-changed": ("short", "etag", None, "changed since it was opened"),
}


@pytest.fixture(scope="module")
def probe_files(tmp_path_factory, server):
    d = tmp_path_factory.mktemp("probe")
    rng = np.random.default_rng(27)
    out = {}
    for n in PROBE_SIZES:
        out[n] = rng.bytes(n)
        (d / f"p{n}.dat").write_bytes(out[n])
        server.files[f"/p{n}.dat"] = str(d / f"p{n}.dat")
    return out


@pytest.mark.parametrize("size", PROBE_SIZES)
@pytest.mark.parametrize("case", list(CUT_PROBE))
def test_a_cut_probe_resumes_exactly_restarts_or_fails_clearly(probe_files, srv, case, size):
    first, retry, too_big, always = CUT_PROBE[case]
    data, path = probe_files[size], f"/p{size}.dat"
    srv.fault = lambda n, p, a, b: {0: first, 1: retry}.get(n) if p == path else None
    error = always or (too_big if size > PROBE else None)
    if error:
        with pytest.raises(FetchError, match=error):
            PrefetchReader(srv.url(path), retries=2, timeout=5)
        return
    with PrefetchReader(srv.url(path), retries=2, timeout=5) as r:
        assert r.size == size
        assert r.pread(0, size) == data
        assert r.pread(size - 1000, 2000) == data[-1000:]
    sent = [(a, b, f) for p, a, b, f in srv.requests if p == path]
    assert sent[1][:2] == (min(size, PROBE) // 2, min(size, PROBE) - 1)     # the retry asked for the rest


@pytest.mark.parametrize("at", ["open", "read"])
def test_a_status_of_four_digits_is_malformed(files, srv, at):
    srv.fault = lambda n, p, a, b: "status2000" if at == "open" or n > 0 else None
    with pytest.raises(FetchError, match="malformed HTTP response head"):
        with PrefetchReader(srv.url("blob.dat"), prefetch=False, retries=2) as r:
            r.pread(1000, 5000)
    assert srv.count("/blob.dat") == (1 if at == "open" else 2)           # not retried


@pytest.mark.parametrize("at", ["open", "read"])
def test_head_lines_ending_in_lf_alone_are_read(files, srv, at):
    _, blob = files
    srv.fault = lambda n, p, a, b: "lf" if at == "open" or n > 0 else None
    with PrefetchReader(srv.url("blob.dat"), prefetch=False) as r:
        assert r.size == len(blob)
        assert r.pread(1000, 5000) == blob[1000:6000]


@pytest.mark.parametrize("at", ["open", "read"])
def test_a_trickling_server_meets_the_deadline_of_a_request(files, srv, at):
    """One byte every 0.4 s is progress within timeout=1, but no request may take
    longer than its deadline (2 s for a request of at most 1 MiB)."""
    srv.fault = lambda n, p, a, b: "trickle" if at == "open" or n > 0 else None
    t = time.perf_counter()
    with pytest.raises(FetchTimeout, match="took longer than"):
        with PrefetchReader(srv.url("blob.dat"), prefetch=False, retries=1, timeout=1) as r:
            r.pread(1000, 5000)
    assert time.perf_counter() - t < 6


def test_extra_headers_are_sent(files, srv):
    seen = []

    def fault(n, path, first, last):
        return None

    srv.fault = fault
    orig = srv._serve

    def spy(h):
        seen.append(h.headers.get("Authorization"))
        return orig(h)

    srv._serve = spy
    try:
        with PrefetchReader(srv.url("tiny.dat"), headers={"Authorization": "Bearer xyz"}) as r:
            assert r.pread(0, 4) == b"0123"
    finally:
        del srv._serve
    assert seen and all(v == "Bearer xyz" for v in seen)


# ---------------------------------------------------------------- closing


def test_close_interrupts_readers_and_never_hangs(files, srv):
    srv.latency = 3.0
    r = PrefetchReader(srv.url("blob.dat"), floor=MiB, timeout=10)   # the probe waits 3 s once
    results = []

    def work(i):
        try:
            results.append(r.pread((i + 1) * 3 * MiB, 1000))     # not in the probe's 64 KiB
        except ValueError as e:
            results.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    time.sleep(0.3)
    t0 = time.perf_counter()
    r.close()
    assert time.perf_counter() - t0 < 1.0
    for t in threads:
        t.join(2)
        assert not t.is_alive()
    assert len(results) == 4 and all(isinstance(x, ValueError) for x in results)
    with pytest.raises(ValueError, match="closed"):
        r.pread(0, 1)
    r.close()                                             # idempotent
    assert "closed" in repr(r)


@pytest.mark.parametrize("where", ["local-buffered", "http"])
def test_close_races_with_readers(files, srv, where):
    """Readers of every kind racing close(), many times: each read returns the
    right bytes or 'closed', nothing hangs or crashes, and memory goes back."""
    _, blob = files
    src, opts = source(where, files, srv)
    for k in range(12):
        r = PrefetchReader(src, floor=MiB, max_slots=4, io_threads=3, **opts)
        stop = threading.Event()

        def work(i):
            rng = random.Random(k * 10 + i)
            while not stop.is_set():
                off, n = rng.randrange(0, len(blob)), rng.choice([100, 200_000, 3 * MiB, 20 * MiB])
                try:
                    assert r.pread(off, n) == blob[off:off + n]
                except ValueError:
                    return

        threads = [threading.Thread(target=work, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        time.sleep(0.01 * (k % 4))
        r.close()
        stop.set()
        for t in threads:
            t.join(5)
            assert not t.is_alive()
    assert wio.memory_used() == 0


def test_fork_child_gets_a_clear_error(files):
    if not hasattr(os, "fork"):
        pytest.skip("no fork")
    d, _ = files
    r = PrefetchReader(d / "blob.dat")
    assert r.pread(0, 10)
    rd, wr = os.pipe()
    pid = os.fork()
    if pid == 0:                                          # the child
        try:
            r.pread(0, 10)
            os.write(wr, b"no error")
        except RuntimeError as e:
            os.write(wr, b"ok" if "another process" in str(e) else str(e).encode())
        except BaseException as e:                        # noqa: BLE001
            os.write(wr, repr(e).encode())
        os._exit(0)
    os.close(wr)
    os.waitpid(pid, 0)
    assert os.read(rd, 1000) == b"ok"
    os.close(rd)
    r.close()


# ------------------------------------------------------------ safetensors


def assert_same_tensors(ref, got):
    assert list(ref) == list(got)
    for k in ref:
        assert ref[k].dtype == got[k].dtype, k
        assert ref[k].shape == got[k].shape, k
        assert np.array_equal(ref[k], got[k]), k


@pytest.mark.parametrize("where", ["local", "http"])
def test_load_safetensors_equals_the_safetensors_package(model, srv, where):
    from safetensors.numpy import load_file

    ref = load_file(str(model))
    src = model if where == "local" else srv.url("model.safetensors")
    got = load_safetensors(src)
    assert_same_tensors(ref, got)
    assert all(a.flags.writeable and a.flags.c_contiguous for a in got.values())
    assert_same_tensors(ref, load_safetensors(src, threads=1))
    assert_same_tensors(ref, load_safetensors(src, threads=3, prefetch=True))
    # big tensors own page-aligned memory that outlives the dict and is theirs alone
    embed = got.pop("embed")
    del got
    embed[0, 0] = 1.5
    assert embed[0, 0] == 1.5 and np.array_equal(embed[1:], ref["embed"][1:])
    assert embed.ctypes.data % 4096 == 0


@pytest.mark.parametrize("where", ["local", "http"])
def test_safe_open_equals_the_safetensors_package(model, srv, where):
    from safetensors import safe_open as st_open

    src = model if where == "local" else srv.url("model.safetensors")
    with st_open(str(model), framework="np") as ref, safe_open(src) as f:
        assert f.keys() == ref.keys()
        assert f.offset_keys() == ref.offset_keys()
        assert f.metadata() == ref.metadata()
        for k in reversed(ref.keys()):
            a, b = ref.get_tensor(k), f.get_tensor(k)
            assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), k
        assert_same_tensors({k: ref.get_tensor(k) for k in ref.offset_keys()}, f.get_tensors())
        with pytest.raises(KeyError):
            f.get_tensor("nope")
    with pytest.raises(ValueError):
        safe_open(src, framework="pt")


SLICES = [slice(None), slice(1, 3), 1, -1, 0, (1, 2), (slice(1, 3), slice(0, 2)), slice(None, None, 2),
          slice(1, 9, 4), Ellipsis, (Ellipsis, 1), (slice(1, 3), Ellipsis), (1, Ellipsis, 2), (), np.int64(1),
          (slice(None), 1), slice(0, 2, 1)]
# Where safetensors 0.8 fails (negative or out-of-range bounds, empty or reversed ranges): numpy's answer.
NUMPY_ONLY = [slice(-2, None), slice(None, -1), slice(3, 1), slice(10, 10 ** 6), slice(4, 0, -2), slice(None, None, -1)]


@pytest.mark.parametrize("where", ["local", "http"])
def test_get_slice_equals_the_safetensors_package(model, srv, where):
    from safetensors import SafetensorError
    from safetensors import safe_open as st_open

    src = model if where == "local" else srv.url("model.safetensors")
    with st_open(str(model), framework="np") as ref, safe_open(src) as f:
        for name in ("counts", "i32", "u8", "layer0.w", "mask", "cplx", "scalar", "empty"):
            ours, theirs, full = f.get_slice(name), ref.get_slice(name), ref.get_tensor(name)
            assert ours.get_shape() == theirs.get_shape() and ours.get_dtype() == theirs.get_dtype()
            for key, same_as_theirs in [(k, True) for k in SLICES] + [(k, False) for k in NUMPY_ONLY]:
                try:
                    expected = np.asarray(full[key])
                except IndexError:
                    with pytest.raises(wterrors.IndexError):
                        ours[key]
                    continue
                got = ours[key]
                assert type(got) is np.ndarray and got.flags.writeable and got.dtype == full.dtype, (name, key)
                assert got.shape == expected.shape and np.array_equal(got, expected), (name, key)
                if same_as_theirs and expected.size:
                    try:
                        reference = theirs[key]
                    except SafetensorError:             # an out-of-range bound: numpy's answer, above
                        continue
                    assert reference.shape == got.shape and np.array_equal(reference, got), (name, key)
        with pytest.raises(wterrors.KeyError):
            f.get_slice("nope")
        s = f.get_slice("i32")
        for bad, err in (((0, 0, 0, 0), wterrors.IndexError), (5, wterrors.IndexError), ((0, -4), wterrors.IndexError),
                         ([0, 1], wterrors.TypeError), (None, wterrors.TypeError), ((..., ...), wterrors.IndexError)):
            with pytest.raises(err):
                s[bad]


def test_get_slice_reads_only_its_rows(model):
    """What the slice asks of the reader: the selected rows of the first dimension."""
    with safe_open(model) as f:
        t = f.tensor_info("layer1.w")                      # 2048 x 1280 float32: 5120 bytes a row
        row = 1280 * 4
        asked = []
        real = f.reader.readinto

        class Spy:
            def readinto(self, offset, arr):
                asked.append((offset, arr.nbytes))
                return real(offset, arr)

        s = f.get_slice("layer1.w")
        s._reader = Spy()
        full = f.get_tensor("layer1.w")
        assert np.array_equal(s[100:104, 7:9], full[100:104, 7:9])
        assert asked == [(t.start + 100 * row, 4 * row)]
        asked.clear()
        assert np.array_equal(s[10:2000:1000], full[10:2000:1000])
        assert asked == [(t.start + 10 * row, row), (t.start + 1010 * row, row)]
        asked.clear()
        assert np.array_equal(s[-1, 5], full[-1, 5])
        assert asked == [(t.start + 2047 * row, row)]


def test_tensor_aware_fetches_over_http(model, srv):
    """Reading tensors in file order: the rest of a tensor is fetched with its
    first bytes, and the next tensor is fetched ahead once 75% of a big one is read."""
    srv.latency = 0.01
    with safe_open(srv.url("model.safetensors"), floor=MiB) as f:
        r = f.reader
        t = f.tensor_info("embed")                         # 8 MiB, the first tensor
        with srv._lock:
            srv.requests.clear()
        assert r.pread(t.start + 2 * MiB, 1000)            # inside the tensor, past the probe: fetch its rest
        assert _ranges(srv, "/model.safetensors") == [((t.start + 2 * MiB) & ~0xFFFF, t.end - 1)]
        for k in range(t.start, t.end, 256 * 1024):        # stream through it
            r.pread(k, 256 * 1024)
        nxt = next(f.tensor_info(k) for k in f.offset_keys() if f.tensor_info(k).start == t.end)
        time.sleep(0.2)
        assert any(a == nxt.start for a, b in _ranges(srv, "/model.safetensors"))
        assert r.stats()["spec_fetches"] >= 1


def test_the_header_probe_seeds_the_first_buffer(model, srv):
    with PrefetchReader(srv.url("model.safetensors")) as r:
        first = min(t.start for t in r.tensors.values())
        assert r.pread(first, 64) == model.read_bytes()[first:first + 64]
        assert srv.count("/model.safetensors") == 1      # served from the probe's bytes


def test_dtypes_numpy_cannot_hold_are_refused_clearly(tmp_path):
    header = {"x": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]},
              "y": {"dtype": "F4", "shape": [4], "data_offsets": [4, 6]}}
    path = write_st(tmp_path / "bf.safetensors", header, b"\0" * 6)
    with safe_open(path) as f:
        assert f.keys() == ["x", "y"]
        with pytest.raises(TypeError, match="BF16"):
            f.get_tensor("x")
    with pytest.raises(TypeError, match="BF16"):
        load_safetensors(path)


def write_st(path, header, data=b"", raw_header=None, length=None):
    h = raw_header if raw_header is not None else json.dumps(header).encode()
    path.write_bytes(struct.pack("<Q", len(h) if length is None else length) + h + data)
    return path


F32 = {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}
CORRUPT = [
    ("too_small", None, b"", b"", 3, "too small"),
    ("huge_length", None, b"{}", b"", 200_000_000, "exceeds 100,000,000"),
    ("length_past_end", None, b"{}", b"", 50, "do not fit"),
    ("not_json", None, b"{not json", b"", None, "not valid JSON"),
    ("not_utf8", None, b'{"\xff": 1}', b"", None, "not UTF-8"),
    ("not_object", None, b'[1, 2]', b"", None, "start with '{'"),
    ("duplicate", None, b'{"a": %s, "a": %s}' % (json.dumps(F32).encode(), json.dumps(F32).encode()),
     b"\0" * 8, None, "duplicate key"),
    ("nan", None, b'{"a": NaN}', b"", None, "NaN"),
    ("float_offset", {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0.0, 8]}}, None, b"\0" * 8, None,
     "not an integer"),
    ("unknown_dtype", {"a": {"dtype": "F128", "shape": [1], "data_offsets": [0, 16]}}, None, b"\0" * 16, None,
     "unknown dtype"),
    ("missing_key", {"a": {"dtype": "F32", "shape": [2]}}, None, b"\0" * 8, None, "lacks data_offsets"),
    ("negative_dim", {"a": {"dtype": "F32", "shape": [-2], "data_offsets": [0, 8]}}, None, b"\0" * 8, None,
     "non-negative"),
    ("bool_dim", {"a": {"dtype": "F32", "shape": [True], "data_offsets": [0, 4]}}, None, b"\0" * 4, None,
     "non-negative integers"),
    ("wrong_size", {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}, None, b"\0" * 8, None,
     "needs 12"),
    ("end_before_begin", {"a": {"dtype": "F32", "shape": [0], "data_offsets": [8, 0]}}, None, b"\0" * 8, None,
     "end before"),
    ("overlap", {"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]},
                 "b": {"dtype": "F32", "shape": [2], "data_offsets": [4, 12]}}, None, b"\0" * 12, None, "overlaps"),
    ("gap", {"a": {"dtype": "F32", "shape": [1], "data_offsets": [0, 4]},
             "b": {"dtype": "F32", "shape": [1], "data_offsets": [8, 12]}}, None, b"\0" * 12, None, "gap"),
    ("past_end", {"a": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, None, b"\0" * 8, None,
     "holds only 8"),
    ("trailing_data", {"a": F32}, None, b"\0" * 12, None, "file holds 12"),
    ("overflow_shape", {"a": {"dtype": "F32", "shape": [2**40, 2**40], "data_offsets": [0, 8]}}, None, b"\0" * 8,
     None, "2\\*\\*64"),
    ("offset_over_64_bits", {"a": {"dtype": "U8", "shape": [0], "data_offsets": [2**64, 2**64]}}, None, b"", None,
     "64 bits"),
    ("bad_metadata", {"__metadata__": {"a": 1}}, None, b"", None, "__metadata__"),
]


@pytest.mark.parametrize("name, header, raw, data, length, match", CORRUPT, ids=[c[0] for c in CORRUPT])
def test_corrupt_headers_are_refused_with_a_clear_error(tmp_path, srv, name, header, raw, data, length, match):
    path = tmp_path / f"{name}.safetensors"
    if name == "too_small":
        path.write_bytes(b"abc")
    else:
        write_st(path, header, data, raw_header=raw, length=length)
    with pytest.raises(InvalidSafetensors, match=match):
        load_safetensors(path)
    with pytest.raises(InvalidSafetensors, match=match):
        safe_open(path)
    # ... and the reference refuses the file too (its own words); it lets the last
    # of duplicate names win, where an ambiguous header is an error here.
    from safetensors.numpy import load_file
    if name != "duplicate":
        with pytest.raises(Exception):
            load_file(str(path))


def test_corrupt_header_over_http(tmp_path, server):
    path = write_st(tmp_path / "bad.safetensors", {"a": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}},
                    b"\0" * 8)
    server.files["/bad.safetensors"] = str(path)
    with pytest.raises(InvalidSafetensors, match="needs 12"):
        load_safetensors(server.url("bad.safetensors"))


def test_big_header_beyond_the_probe(tmp_path):
    """A header longer than the 1 MiB probe is read in a second request."""
    from safetensors.numpy import load_file, save_file

    t = {f"t{i:05d}_" + "x" * 40: np.full(3, i, np.int16) for i in range(20000)}
    path = tmp_path / "many.safetensors"
    save_file(t, str(path))
    assert struct.unpack("<Q", path.read_bytes()[:8])[0] > wio.HEADER_PROBE
    assert_same_tensors(load_file(str(path)), load_safetensors(path))


# ------------------------------------------------------------------- CLI


def _encode_cli(argv):
    from warptok.cli import encode as io_cli

    ap = argparse.ArgumentParser()
    io_cli.register(ap.add_subparsers())
    a = ap.parse_args(["encode", *argv])
    return a.run(a)


def test_encode_cli_equals_encoding_whole_files(tmp_path, srv):
    from conftest import data

    text = data("english", "big.txt")
    body = text.read_bytes()[:2_000_000] + "\n\n  ümlaut\n\n\n   spaces\n".encode() * 50
    a = tmp_path / "a.txt"
    a.write_bytes(body)
    b = tmp_path / "b.txt"
    b.write_bytes(b"no newline at all " * 1000)
    srv.files["/a.txt"] = str(a)
    out = tmp_path / "ids.bin"
    assert _encode_cli([str(a), srv.url("a.txt"), str(b), "--out", str(out), "--block-mb", "1", "--quiet"]) == 0
    ids, idx = np.fromfile(out, "<u4"), np.fromfile(tmp_path / "ids.idx", "<i8")
    tok = warptok.get_encoding("gpt2")
    ref = [tok.encode_ordinary(p.read_bytes().decode("utf-8", "replace")) for p in (a, a, b)]
    assert idx.tolist() == np.cumsum([0] + [len(r) for r in ref]).tolist()
    assert ids.tolist() == [i for r in ref for i in r]


def test_encode_cli_lines(tmp_path, srv):
    lines = ["first line", "", "second  <|endoftext|> line", "ünïcödé", "last without newline"]
    p = tmp_path / "l.txt"
    p.write_text("\n".join(lines), encoding="utf-8")
    out = tmp_path / "o.bin"
    _encode_cli([str(p), "--docs", "line", "--out", str(out), "--index", str(tmp_path / "o.offsets"), "--quiet"])
    tok = warptok.get_encoding("gpt2")
    ids, offs = tok.encode_ordinary_batch_flat(lines)
    assert np.fromfile(out, "<u4").tolist() == ids.tolist()
    assert np.fromfile(tmp_path / "o.offsets", "<i8").tolist() == offs.tolist()
    _encode_cli([str(p), "--docs", "line", "--allow-special", "--out", str(out), "--quiet"])
    assert 50256 in np.fromfile(out, "<u4").tolist()


# ------------------------------------------------------------------ build


@pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("nm"), reason="nm -D on Linux")
def test_io_extension_exports_only_its_init():
    import warptok._native._io

    out = subprocess.run(["nm", "-D", "--defined-only", warptok._native._io.__file__],
                         capture_output=True, text=True, check=True).stdout
    exported = [line.split()[-1] for line in out.splitlines() if line.strip()]
    assert exported == ["PyInit__io"], exported
