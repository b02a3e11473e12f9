"""warptok.io over https:// and through redirects: a loopback HTTPS RangeServer
(benchmarks/bench_io.py) with a throwaway CA made by the `openssl` command at test
time. Every read is checked byte for byte; refused certificates, names and
redirects must end in a clear FetchError, never in bytes from the wrong place or a hang."""

from __future__ import annotations

import importlib.util
import random
import shutil
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest

from warptok import errors
from warptok.io import FetchError, FetchTimeout, PrefetchReader, load_safetensors, safe_open

REPO = Path(__file__).resolve().parents[1]
MiB = 1 << 20

pytestmark = pytest.mark.skipif(not shutil.which("openssl"), reason="the openssl command makes the test certificates")


def _load_bench():
    spec = importlib.util.spec_from_file_location("bench_io", REPO / "benchmarks" / "bench_io.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


bench = _load_bench()


# ------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return bench.make_certs(tmp_path_factory.mktemp("certs"))


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    from safetensors.numpy import save_file

    d = tmp_path_factory.mktemp("tls-files")
    rng = np.random.default_rng(11)
    blob = rng.bytes(12 * MiB + 777)
    (d / "blob.dat").write_bytes(blob)
    (d / "tiny.dat").write_bytes(b"0123456789")
    save_file({"embed": rng.standard_normal((1024, 1536), dtype=np.float32),
               "w": rng.standard_normal((300, 77)).astype(np.float16),
               "ids": rng.integers(-9, 9, size=(5, 3), dtype=np.int64),
               "empty": np.zeros((0, 2), dtype=np.float32)},
              str(d / "model.safetensors"), metadata={"format": "np"})
    return d, blob


def _serve(files, ctx):
    d, _ = files
    return bench.RangeServer({"blob.dat": d / "blob.dat", "tiny.dat": d / "tiny.dat",
                              "model.safetensors": d / "model.safetensors"}, ssl_context=ctx)


@pytest.fixture(scope="module")
def servers(files, certs):
    """Two HTTPS servers (a redirect from one to the other changes the port), one
    with a certificate for another name, and a plain HTTP one."""
    with _serve(files, bench.server_context(certs)) as a, _serve(files, bench.server_context(certs)) as b, \
            _serve(files, bench.server_context(certs, "wrongname")) as wrong, _serve(files, None) as plain:
        yield {"a": a, "b": b, "wrong": wrong, "plain": plain}


def _reset(s):
    s.latency, s.fault, s.stall, s.trickle, s.handshake_drops = 0.0, None, 5.0, 0.4, 0
    s.redirects.clear()
    with s._lock:
        s.requests.clear()
        s.headers.clear()
        s._n = 0


@pytest.fixture
def srv(servers):
    for s in servers.values():
        _reset(s)
    yield servers["a"]
    for s in servers.values():
        _reset(s)


@pytest.fixture
def ctx(certs):
    return ssl.create_default_context(cafile=str(certs["ca"]))


@pytest.fixture
def trusted(certs, monkeypatch):
    """The throwaway CA as the system trust store (SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(certs["ca"]))
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    return certs["ca"]


def check_reads(r, blob, plan):
    for off, n in plan:
        assert r.pread(off, n) == blob[off:off + n], f"wrong bytes at {off}+{n}"


def run_threads(n, target, timeout=60):
    errs = []

    def wrap(i):
        try:
            target(i)
        except BaseException as e:       # re-raised in the test thread
            errs.append(e)

    threads = [threading.Thread(target=wrap, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout)
        assert not t.is_alive(), "a reader thread hung"
    if errs:
        raise errs[0]


def seen(s, path):
    """The request headers server s received for path, in order."""
    with s._lock:
        return [h for p, h in s.headers if p == path]


# ------------------------------------------------------------- exact bytes


def test_https_reads_match_the_file(files, srv, ctx):
    _, blob = files
    size = len(blob)
    with PrefetchReader(srv.url("blob.dat"), floor=MiB, max_slots=6, io_threads=4, ssl_context=ctx) as r:
        assert r.size == size and r.prefetching
        check_reads(r, blob, [(0, 1), (size - 1, 5), (MiB - 3, 7), (3 * MiB + 1, 5 * MiB), (0, size)])
        arr = np.empty(3 * MiB // 4, dtype=np.float32)
        assert r.readinto(7 * MiB, arr) == 3 * MiB and arr.tobytes() == blob[7 * MiB:10 * MiB]

        def work(i):
            rng = random.Random(i)
            plan = [(rng.randrange(0, size), rng.choice([1, 4096, 128 * 1024, MiB + 3, 4 * MiB])) for _ in range(25)]
            start = rng.randrange(0, size - 2 * MiB)
            check_reads(r, blob, plan + [(start + k, 64 * 1024) for k in range(0, 2 * MiB, 64 * 1024)])

        run_threads(6, work)


def test_load_safetensors_and_safe_open_over_https(files, srv, ctx):
    from safetensors.numpy import load_file

    path = files[0] / "model.safetensors"
    ref = load_file(str(path))
    got = load_safetensors(srv.url("model.safetensors"), ssl_context=ctx)
    assert list(got) == list(ref)
    for k in ref:
        assert got[k].dtype == ref[k].dtype and got[k].shape == ref[k].shape and np.array_equal(got[k], ref[k]), k
    with safe_open(srv.url("model.safetensors"), ssl_context=ctx) as f:
        assert np.array_equal(f.get_tensor("w"), ref["w"])


# ------------------------------------------------------------------- trust


def test_an_untrusted_certificate_is_refused_clearly(srv, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("SSL_CERT_DIR", raising=False)
    t = time.perf_counter()
    with pytest.raises(FetchError, match=r"certificate verify failed for 127\.0\.0\.1 port \d+: "
                                         r"unable to get local issuer certificate \(trust store") as ei:
        PrefetchReader(srv.url("tiny.dat"), retries=3)
    assert ei.value.status is None
    assert time.perf_counter() - t < 2                  # not retried
    assert srv.headers == []                            # no request was sent
    assert isinstance(ei.value, errors.WarptokError) and isinstance(ei.value, OSError)


def test_the_trust_store_comes_from_ssl_cert_file(srv, trusted):
    with PrefetchReader(srv.url("tiny.dat")) as r:
        assert r.pread(0, 100) == b"0123456789"
    with PrefetchReader(srv.url("tiny.dat", host="localhost")) as r:   # checked as a name, not an address
        assert r.pread(2, 3) == b"234"


def test_the_trust_store_comes_from_ssl_cert_dir(srv, certs, tmp_path, monkeypatch):
    h = subprocess.run(["openssl", "x509", "-hash", "-noout", "-in", str(certs["ca"])], capture_output=True,
                       text=True, check=True).stdout.strip()
    d = tmp_path / "hashed"
    d.mkdir()
    shutil.copy(certs["ca"], d / f"{h}.0")
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "none.pem"))     # not a file: only the directory
    monkeypatch.setenv("SSL_CERT_DIR", str(d))
    with PrefetchReader(srv.url("tiny.dat")) as r:
        assert r.pread(0, 100) == b"0123456789"


def test_the_trust_comes_from_an_ssl_context(srv, certs, monkeypatch):
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    with PrefetchReader(srv.url("tiny.dat"), ssl_context=ssl.create_default_context(cafile=str(certs["ca"]))) as r:
        assert r.pread(0, 4) == b"0123"
    cadata = ssl.create_default_context(cadata=certs["ca"].read_text())
    with PrefetchReader(srv.url("tiny.dat"), ssl_context=cadata) as r:
        assert r.pread(0, 4) == b"0123"
    # only the context's certificates: the system store does not widen them
    other = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    other.load_verify_locations(cadata=ssl.DER_cert_to_PEM_cert(_another_ca(certs)))
    with pytest.raises(FetchError, match="certificate verify failed.*of the ssl_context"):
        PrefetchReader(srv.url("tiny.dat"), ssl_context=other)
    # verification off, explicitly
    off = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    off.check_hostname = False
    off.verify_mode = ssl.CERT_NONE
    with PrefetchReader(srv.url("tiny.dat"), ssl_context=off) as r:
        assert r.pread(0, 4) == b"0123"
    with pytest.raises(ValueError, match="lists no CA certificates"):
        PrefetchReader(srv.url("tiny.dat"), ssl_context=ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT))
    with pytest.raises(TypeError, match="ssl_context"):
        PrefetchReader(srv.url("tiny.dat"), ssl_context="yes")


def _another_ca(certs):
    """A CA that signed nothing here (DER)."""
    d = certs["ca"].parent / "other"
    other = bench.make_certs(d) if not (d / "ca.pem").exists() else {"ca": d / "ca.pem"}
    return ssl.PEM_cert_to_DER_cert(other["ca"].read_text())


@pytest.mark.parametrize("host, why", [("127.0.0.1", "IP address mismatch"), ("localhost", "hostname mismatch")])
def test_a_certificate_for_another_name_is_refused(servers, srv, trusted, host, why):
    wrong = servers["wrong"]
    with pytest.raises(FetchError, match=f"certificate verify failed for {host} port \\d+: {why}"):
        PrefetchReader(wrong.url("tiny.dat", host=host))
    ctx = ssl.create_default_context(cafile=str(trusted))
    ctx.check_hostname = False                          # the chain alone, explicitly
    with PrefetchReader(wrong.url("tiny.dat", host=host), ssl_context=ctx) as r:
        assert r.pread(0, 4) == b"0123"


def test_a_plain_http_server_behind_an_https_url_fails_the_handshake(servers, srv, trusted):
    plain = servers["plain"]
    url = plain.url("tiny.dat").replace("http://", "https://")
    t = time.perf_counter()
    with pytest.raises(FetchError, match="TLS handshake with 127.0.0.1 port .* failed"):
        PrefetchReader(url, retries=3)
    assert time.perf_counter() - t < 2


def test_a_silent_server_times_out_in_the_handshake(trusted):
    with socket.socket() as ls:                         # accepts connections (backlog), never answers
        ls.bind(("127.0.0.1", 0))
        ls.listen(8)
        t = time.perf_counter()
        with pytest.raises(FetchTimeout, match="TLS handshake with 127.0.0.1 .* timed out"):
            PrefetchReader(f"https://127.0.0.1:{ls.getsockname()[1]}/x", timeout=0.3, retries=1)
        assert time.perf_counter() - t < 3


# ------------------------------------------------------------------ faults


@pytest.mark.parametrize("mode", ["drop", "short", "503", "close", "tlscut", "tlsjunk"])
def test_faults_over_https_are_retried_to_exact_bytes(files, srv, ctx, mode):
    _, blob = files
    with PrefetchReader(srv.url("blob.dat"), floor=MiB, retries=5, timeout=5, ssl_context=ctx) as r:
        srv.fault = lambda n, p, a, b: mode if n % 3 == 2 else None

        def work(i):
            rng = random.Random(i)
            check_reads(r, blob, [(rng.randrange(0, len(blob)), rng.choice([1000, 300 * 1024, 3 * MiB]))
                                  for _ in range(12)])

        run_threads(4, work)
        if mode != "close":
            assert r.stats()["retries"] > 0


def test_a_connection_cut_before_the_handshake_is_retried(files, srv, ctx):
    _, blob = files
    srv.handshake_drops = 2
    with PrefetchReader(srv.url("blob.dat"), retries=3, timeout=5, ssl_context=ctx, prefetch=False) as r:
        assert r.stats()["retries"] == 2
        assert r.pread(5 * MiB, 2 * MiB) == blob[5 * MiB:7 * MiB]
    srv.handshake_drops = 10
    with pytest.raises(FetchError, match="closed the connection during the TLS handshake.*gave up after 2 attempts"):
        PrefetchReader(srv.url("blob.dat"), retries=1, timeout=5, ssl_context=ctx)


def test_a_cut_tls_body_resumes_after_the_bytes_received(files, srv, ctx):
    _, blob = files
    with PrefetchReader(srv.url("blob.dat"), prefetch=False, ssl_context=ctx) as r:
        srv.fault = lambda n, p, a, b: "tlscut" if n == 1 else None
        assert r.pread(MiB, 4 * MiB) == blob[MiB:5 * MiB]
    sent = [(a, b, f) for p, a, b, f in srv.requests if p == "/blob.dat"][1:]
    assert sent == [(MiB, 5 * MiB - 1, "tlscut"), (3 * MiB, 5 * MiB - 1, None)]


def test_a_trickling_https_server_meets_the_deadline(srv, ctx):
    srv.fault = lambda n, p, a, b: "trickle"
    t = time.perf_counter()
    with pytest.raises(FetchTimeout, match="took longer than"):
        PrefetchReader(srv.url("blob.dat"), retries=0, timeout=1, ssl_context=ctx)
    assert time.perf_counter() - t < 5


def test_close_interrupts_https_readers(srv, ctx):
    r = PrefetchReader(srv.url("blob.dat"), floor=MiB, timeout=10, ssl_context=ctx)
    srv.latency = 3.0
    results = []

    def work(i):
        try:
            results.append(r.pread((i + 1) * 2 * MiB, 1000))
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


# --------------------------------------------------------------- redirects


@pytest.mark.parametrize("scheme", ["https", "http"])
def test_redirects_on_one_origin_keep_range_and_headers(files, servers, srv, trusted, scheme):
    _, blob = files
    s = servers["a"] if scheme == "https" else servers["plain"]
    s.redirects.update({"/start": (301, "/hop/one"),             # an absolute path
                        "/hop/one": (302, "two?x=1"),            # relative to /hop/
                        "/hop/two": (307, s.url("hop/three")),   # a whole URL of the same origin
                        "/hop/three": (308, "../blob.dat")})     # with dots
    with PrefetchReader(s.url("start"), headers={"Authorization": "Bearer t", "X-Id": "7"}, prefetch=False) as r:
        assert r.size == len(blob)
        assert r.pread(3 * MiB, MiB) == blob[3 * MiB:4 * MiB]
        assert r.source == s.url("start")
    chain = ["/start", "/hop/one", "/hop/two", "/hop/three", "/blob.dat"]
    with s._lock:
        paths = [p for p, h in s.headers]
    assert paths[:5] == chain and paths[5:] == ["/blob.dat"]
    for p in chain:
        h = seen(s, p)[0]
        assert h["Range"] == "bytes=0-65535" and h["Authorization"] == "Bearer t" and h["X-Id"] == "7", p
    assert seen(s, "/blob.dat")[1]["Authorization"] == "Bearer t"   # later requests too


@pytest.mark.parametrize("to", ["port", "host", "scheme"])
def test_a_redirect_to_another_origin_drops_authorization(files, servers, srv, trusted, to):
    """The second server (another port; or the same server named `localhost`; or
    http -> https) gets the Range but none of the caller's headers."""
    _, blob = files
    a, b = servers["a"], servers["b"]
    if to == "port":
        first, target, dest = a, b.url("blob.dat"), b
    elif to == "host":
        first, target, dest = a, a.url("blob.dat", host="localhost"), a
    else:
        first, target, dest = servers["plain"], a.url("blob.dat"), a
    first.redirects["/start"] = (302, target)
    with PrefetchReader(first.url("start"), headers={"Authorization": "Bearer secret", "X-Token": "t"},
                        prefetch=False) as r:
        assert r.pread(MiB, 2 * MiB) == blob[MiB:3 * MiB]
    assert seen(first, "/start")[0]["Authorization"] == "Bearer secret"
    got = seen(dest, "/blob.dat")
    assert len(got) == 2 and got[0]["Range"] == "bytes=0-65535" and got[1]["Range"] == f"bytes={MiB}-{3 * MiB - 1}"
    assert all("Authorization" not in h and "X-Token" not in h for h in got)


def test_a_redirect_loop_is_bounded(srv, trusted):
    srv.redirects.update({"/a": (302, "/b"), "/b": (307, "/a")})
    with pytest.raises(FetchError, match=r"more than 5 redirects \(the last, HTTP 307, to /a\)") as ei:
        PrefetchReader(srv.url("a"))
    assert ei.value.status == 307
    assert len(seen(srv, "/a")) == 3 and len(seen(srv, "/b")) == 3


def test_https_to_http_is_refused(servers, srv, trusted):
    srv.redirects["/start"] = (302, servers["plain"].url("blob.dat"))
    with pytest.raises(FetchError, match="refusing a redirect .*from https:// to http://"):
        PrefetchReader(srv.url("start"), headers={"Authorization": "Bearer secret"})
    assert servers["plain"].headers == []


@pytest.mark.parametrize("status, location, match", [
    (303, "/blob.dat", None),
    (300, "/blob.dat", "HTTP 300 from the server"),
    (305, "/blob.dat", "HTTP 305 from the server"),
    (302, None, "HTTP 302 redirect without a Location"),
    (301, "ftp://127.0.0.1/blob.dat", "redirected to an unsupported location"),
])
def test_which_redirects_are_followed(files, srv, trusted, status, location, match):
    srv.redirects["/start"] = (status, location or "")
    if match is None:
        with PrefetchReader(srv.url("start")) as r:
            assert r.pread(0, 10) == files[1][:10]
        return
    with pytest.raises(FetchError if "unsupported" not in match else ValueError, match=match):
        PrefetchReader(srv.url("start"))


@pytest.mark.parametrize("base, location, lands", [
    ("/d/e/f", "g/../../blob.dat", "/d/blob.dat"),
    ("/d/e/f", "./x/./../g", "/d/e/g"),
    ("/d/e/f?q=1", "?r=2", "/d/e/f?r=2"),
    ("/d/e/f", "/a/../b", "/b"),
    ("/d/e/f", "#frag", "/d/e/f"),
])
def test_relative_locations_resolve_as_rfc_3986_says(srv, trusted, base, location, lands):
    srv.redirects[base.split("?")[0]] = (302, location)
    if lands.split("?")[0] == base.split("?")[0]:       # the same URL again: a loop, bounded
        with pytest.raises(FetchError, match="more than 5 redirects"):
            PrefetchReader(srv.url(base))
        return
    with pytest.raises(FileNotFoundError):
        PrefetchReader(srv.url(base))
    with srv._lock:
        paths = [p for p, h in srv.headers]
    assert paths[-1] == lands.split("?")[0]


def test_without_the_ssl_module_https_is_an_unsupported_source(files, servers, srv, monkeypatch):
    from warptok.io import UnsupportedSource, reader

    monkeypatch.setattr(reader, "_tls_settings", lambda ssl_context: None)   # as in a Python built without ssl
    with pytest.raises(UnsupportedSource, match="needs Python's ssl module"):
        PrefetchReader(srv.url("tiny.dat"))
    plain = servers["plain"]
    plain.redirects["/start"] = (302, srv.url("tiny.dat"))
    with pytest.raises(UnsupportedSource, match="needs Python's ssl module"):
        PrefetchReader(plain.url("start"))
    with PrefetchReader(plain.url("tiny.dat")) as r:                        # http:// needs no TLS
        assert r.pread(0, 3) == b"012"
