#!/usr/bin/env python3
"""warptok.io against direct range requests and the safetensors package.

Serves generated files from a loopback HTTP server, and the same over HTTPS
(a throwaway CA made with the `openssl` command), with added latency per
request (20 ms by default), and measures, with every byte checked against the
file:

  random    8 threads x 30 random 4 MiB reads               (load-weights pattern)
  scan      8 threads, each scanning its own region in 128 KiB reads (mmap / FUSE pattern)
  load      a whole safetensors model into numpy arrays

over HTTP (warptok.io.PrefetchReader vs one keep-alive http.client connection
per thread doing a range request per read; load_safetensors vs one GET of the
file + safetensors.numpy.load; over HTTPS the same with http.client's
HTTPSConnection) and locally (vs os.pread and safetensors.numpy.load_file on a
warm page cache). Prints MiB/s, p50/p99/max latency per read and warptok's ratio
to the baseline, then warptok's HTTPS figures as a ratio of its HTTP ones.

    python benchmarks/bench_io.py                      # the full run (about 3 minutes)
    python benchmarks/bench_io.py --quick              # a short look
    python benchmarks/bench_io.py --latency 20,50 --only random,scan --where https

The server (RangeServer) is also used by tests/test_io.py: Range support,
keep-alive, injectable latency and faults.
"""

from __future__ import annotations

import argparse
import email.utils
import http.client
import os
import random
import socket
import ssl
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Callable, Dict, Optional

MiB = 1 << 20

# ----------------------------------------------------------------- the server


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: "RangeServer"

    def log_message(self, *args):        # quiet
        pass

    def handle(self):
        if isinstance(self.connection, ssl.SSLSocket):
            if self.server._handshake_drop():
                return                       # closed before the handshake
            try:
                self.connection.do_handshake()
            except (ssl.SSLError, OSError):  # the client refused us, or left
                return
        super().handle()

    def do_GET(self):
        try:
            self.server._serve(self)
        except (ConnectionError, BrokenPipeError, socket.timeout, OSError):
            self.close_connection = True

    def do_HEAD(self):
        self.do_GET()


class RangeServer(ThreadingHTTPServer):
    """A loopback HTTP/1.1 file server with single byte-range support (206, 416,
    ETag, Last-Modified), keep-alive, `latency` seconds added before every
    response, and `fault(n, path, first, last) -> mode or None` to break request n:

      drop        close the connection without answering
      short       announce the full range, send half of it, close
      stall       answer after `stall` seconds (longer than the client's timeout)
      503         HTTP 503 (kept alive)
      404         HTTP 404
      norange     ignore Range: 200 with the whole file
      wrongrange  206 for a range one byte later than asked
      etag        answer with a different ETag (the file "changed")
      close       answer correctly, then close the connection
      restart     206 from byte 0 to the asked end, whatever start was asked
      trickle     send the response one byte every `trickle` seconds
      lf          end the head's lines with LF alone
      status2000  status line "HTTP/1.1 2000 OK"
      tlscut      (HTTPS) send half the body, then the start of a TLS record, close
      tlsjunk     (HTTPS) send half the body, then bytes that are no TLS record, close

    Modes combine with "+": "norange+short" is a 200 cut after half its body.
    Bodies go out with os.sendfile. `requests` logs (path, first, last, fault),
    `headers` (path, request headers) of every request.

    With `ssl_context` (a server-side ssl.SSLContext) it serves HTTPS; then
    `handshake_drops` connections in a row are closed before the TLS handshake.
    `redirects` maps a path to (status, Location): answered before any fault."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, files: Dict[str, str], latency: float = 0.0,
                 fault: Optional[Callable[[int, str, int, int], Optional[str]]] = None, stall: float = 5.0,
                 ssl_context: Optional[ssl.SSLContext] = None):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.ssl_context = ssl_context
        self.handshake_drops = 0
        self.redirects: Dict[str, tuple] = {}
        self.headers = []
        self.files = {("/" + k.lstrip("/")): os.fspath(v) for k, v in files.items()}
        self.latency = latency
        self.fault = fault
        self.stall = stall
        self.trickle = 0.4
        self.requests = []
        self._n = 0
        self._lock = threading.Lock()
        self._conns = set()
        self._thread = None

    def get_request(self):
        sock, addr = super().get_request()
        if self.ssl_context is not None:      # the handshake runs in the connection's thread
            sock = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        return sock, addr

    def _handshake_drop(self) -> bool:
        with self._lock:
            if self.handshake_drops <= 0:
                return False
            self.handshake_drops -= 1
            return True

    # connections are tracked so that stop() can cut the kept-alive ones
    def process_request(self, request, client_address):
        with self._lock:
            self._conns.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request):
        with self._lock:
            self._conns.discard(request)
        super().shutdown_request(request)

    def url(self, name: str, host: str = "127.0.0.1") -> str:
        scheme = "https" if self.ssl_context is not None else "http"
        return f"{scheme}://{host}:{self.server_address[1]}/{name.lstrip('/')}"

    def start(self) -> "RangeServer":
        self._thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        with self._lock:
            conns = list(self._conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread:
            self._thread.join(5)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def count(self, path: Optional[str] = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path is None or r[0] == path)

    def _serve(self, h: _Handler) -> None:
        path = h.path.split("?", 1)[0]
        fn = self.files.get(path)
        with self._lock:
            n = self._n
            self._n += 1
            self.headers.append((path, dict(h.headers)))
        if self.latency:
            time.sleep(self.latency)
        if path in self.redirects:
            status, location = self.redirects[path]
            h.send_response(status)
            h.send_header("Location", location)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if fn is None:
            return self._error(h, 404)
        st = os.stat(fn)
        size = st.st_size
        etag = f'"{size:x}-{st.st_mtime_ns:x}"'
        rng = h.headers.get("Range")
        first, last, partial = 0, size - 1, False
        if rng:
            try:
                unit, spec = rng.split("=", 1)
                a, b = spec.strip().split("-", 1)
                if unit.strip() != "bytes" or "," in spec:
                    raise ValueError
                if a == "":
                    first, last = max(0, size - int(b)), size - 1
                else:
                    first, last = int(a), (int(b) if b else size - 1)
                last = min(last, size - 1)
                partial = True
            except ValueError:
                return self._error(h, 400)
            if first >= size or first > last:
                with self._lock:
                    self.requests.append((path, first, last, "416"))
                h.send_response(416)
                h.send_header("Content-Range", f"bytes */{size}")
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
        mode = self.fault(n, path, first, last) if self.fault else None
        with self._lock:
            self.requests.append((path, first, last, mode))
        modes = set(mode.split("+")) if mode else set()
        if "drop" in modes:
            h.close_connection = True
            return
        if "stall" in modes:
            time.sleep(self.stall)
            h.close_connection = True
            return
        if modes & {"503", "404"}:
            return self._error(h, int(min(modes & {"503", "404"})))
        if "norange" in modes:
            partial, first, last = False, 0, size - 1
        if "restart" in modes and partial:
            first = 0
        if "wrongrange" in modes and partial:
            first, last = first + 1, min(last + 1, size - 1)
        if "etag" in modes:
            etag = '"changed"'
        length = last - first + 1 if size else 0
        headers = [("Content-Range", f"bytes {first}-{last}/{size}")] if partial else []
        headers += [("Content-Length", str(length)), ("Accept-Ranges", "bytes"), ("ETag", etag),
                    ("Last-Modified", email.utils.formatdate(st.st_mtime, usegmt=True))]
        if modes & {"short", "close", "tlscut", "tlsjunk"}:
            headers.append(("Connection", "close"))
            h.close_connection = True
        send = length // 2 if modes & {"short", "tlscut", "tlsjunk"} else length
        if modes & {"trickle", "lf", "status2000"}:      # a head written byte by byte, as the mode says
            h.close_connection = True
            eol = "\n" if "lf" in modes else "\r\n"
            status = "2000" if "status2000" in modes else "206" if partial else "200"
            head = f"HTTP/1.1 {status} OK{eol}" + "".join(f"{k}: {v}{eol}" for k, v in headers) + eol
            with open(fn, "rb") as f:
                f.seek(first)
                data = head.encode("latin-1") + (f.read(send) if h.command != "HEAD" else b"")
            if "trickle" in modes:
                for i in range(len(data)):
                    h.wfile.write(data[i:i + 1])
                    h.wfile.flush()
                    time.sleep(self.trickle)
            else:
                h.wfile.write(data)
            return
        h.send_response(206 if partial else 200)
        for k, v in headers:
            h.send_header(k, v)
        h.end_headers()
        if h.command == "HEAD":
            return
        with open(fn, "rb") as f:
            off, left, sock = first, send, h.connection
            while left > 0:
                if isinstance(sock, ssl.SSLSocket):   # encrypted here: no sendfile
                    sent = sock.send(os.pread(f.fileno(), min(left, 4 * MiB), off))
                else:
                    sent = os.sendfile(sock.fileno(), f.fileno(), off, min(left, 16 * MiB))
                if sent == 0:
                    break
                off += sent
                left -= sent
        if modes & {"tlscut", "tlsjunk"} and isinstance(sock, ssl.SSLSocket):
            # past the TLS layer, straight onto the socket: an application-data record
            # announcing 16 KiB cut after 5 bytes, or 64 bytes that decrypt to nothing
            if "tlscut" in modes:
                raw = b"\x17\x03\x03\x40\x00" + b"\x00" * 5
            else:
                raw = b"\x17\x03\x03\x00\x3b" + os.urandom(59)
            os.write(sock.fileno(), raw)

    def _error(self, h: _Handler, code: int) -> None:
        body = f"error {code}\n".encode()
        h.send_response(code)
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        h.wfile.write(body)


# ------------------------------------------------------------------ certificates

_CERT_CONFIG = """\
[req]
distinguished_name = dn
prompt = no
[dn]
CN = warptok
[ca]
basicConstraints = critical, CA:TRUE
keyUsage = critical, keyCertSign, cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical, CA:FALSE
keyUsage = critical, digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = {san}
"""


def make_certs(d: Path) -> Dict[str, Path]:
    """A throwaway CA and two server certificates it signs, made with the `openssl`
    command: `localhost` for 127.0.0.1/::1/localhost and `wrongname` for
    wrong.invalid only. Returns the paths: ca (PEM), localhost.pem/.key, wrongname.pem/.key."""
    import shutil
    import subprocess

    exe = shutil.which("openssl")
    if not exe:
        raise RuntimeError("the openssl command is needed to make test certificates")
    d.mkdir(parents=True, exist_ok=True)

    def run(*args, san="DNS:localhost"):
        cfg = d / "openssl.cnf"
        cfg.write_text(_CERT_CONFIG.format(san=san))
        subprocess.run([exe, *args], check=True, capture_output=True, timeout=60,
                       env={**os.environ, "OPENSSL_CONF": str(cfg)})

    out = {"ca": d / "ca.pem", "ca_key": d / "ca.key"}
    run("req", "-x509", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "3650",
        "-config", str(d / "openssl.cnf"), "-extensions", "ca", "-subj", "/CN=warptok test CA",
        "-keyout", str(out["ca_key"]), "-out", str(out["ca"]))
    for name, san in (("localhost", "DNS:localhost, IP:127.0.0.1, IP:::1"), ("wrongname", "DNS:wrong.invalid")):
        key, csr, pem = d / f"{name}.key", d / f"{name}.csr", d / f"{name}.pem"
        run("req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256", "-config", str(d / "openssl.cnf"),
            "-subj", f"/CN={name}", "-keyout", str(key), "-out", str(csr), san=san)
        run("x509", "-req", "-in", str(csr), "-CA", str(out["ca"]), "-CAkey", str(out["ca_key"]),
            "-set_serial", str(int.from_bytes(os.urandom(8), "big")), "-sha256", "-days", "3650",
            "-extfile", str(d / "openssl.cnf"), "-extensions", "leaf", "-out", str(pem), san=san)
        out[f"{name}.pem"], out[f"{name}.key"] = pem, key
    return out


def server_context(certs: Dict[str, Path], name: str = "localhost") -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs[f"{name}.pem"], certs[f"{name}.key"])
    return ctx


# ------------------------------------------------------------------ test data


def make_data_file(path: Path, size: int) -> None:
    """`size` pseudo-random bytes (every 4 KiB differs, so a misplaced byte shows)."""
    import numpy as np

    if path.exists() and path.stat().st_size == size:
        return
    rng = np.random.default_rng(1234)
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(left, 64 * MiB)
            f.write(rng.bytes(n))
            left -= n


def make_model(path: Path, size: int) -> None:
    """A safetensors file shaped like a small LLM: embedding, then per layer 4
    attention matrices, 3 MLP matrices and 2 norms (f16/f32), about `size` bytes."""
    import numpy as np
    from safetensors.numpy import save_file

    if path.exists():
        return
    rng = np.random.default_rng(7)
    d = 1024
    tensors = {"embed.weight": rng.standard_normal((8192, d), dtype=np.float32).astype(np.float16)}
    total, layer = tensors["embed.weight"].nbytes, 0
    while total < size:
        p = f"layers.{layer}."
        for name in ("q", "k", "v", "o"):
            tensors[p + f"attn.{name}.weight"] = rng.standard_normal((d, d), dtype=np.float32)
        for name, shape in (("up", (2816, d)), ("gate", (2816, d)), ("down", (d, 2816))):
            tensors[p + f"mlp.{name}.weight"] = rng.standard_normal(shape, dtype=np.float32).astype(np.float16)
        tensors[p + "norm1.weight"] = np.ones(d, np.float32)
        tensors[p + "norm2.weight"] = np.ones(d, np.float32)
        total = sum(t.nbytes for t in tensors.values())
        layer += 1
    save_file(tensors, str(path), metadata={"format": "np", "layers": str(layer)})


# ------------------------------------------------------------------- clients


class DirectHTTP:
    """The baseline: one keep-alive http.client connection per thread (HTTPS with
    `context`), one range request per read."""

    def __init__(self, url: str, context: Optional[ssl.SSLContext] = None):
        self.context = context
        rest = url.split("://", 1)[1]
        hostport, self.path = rest.split("/", 1)
        self.host, port = hostport.rsplit(":", 1)
        self.port = int(port)
        self.path = "/" + self.path
        self.local = threading.local()

    def _conn(self) -> http.client.HTTPConnection:
        c = getattr(self.local, "conn", None)
        if c is None:
            if self.context is not None:
                c = http.client.HTTPSConnection(self.host, self.port, timeout=60, context=self.context)
            else:
                c = http.client.HTTPConnection(self.host, self.port, timeout=60)
            c.connect()
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.local.conn = c
        return c

    def pread(self, off: int, n: int) -> bytes:
        c = self._conn()
        c.request("GET", self.path, headers={"Range": f"bytes={off}-{off + n - 1}"})
        r = c.getresponse()
        body = r.read()
        if r.status != 206 or len(body) != n:
            raise IOError(f"HTTP {r.status}, {len(body)} bytes")
        return body

    def get_all(self) -> bytes:
        c = self._conn()
        c.request("GET", self.path)
        r = c.getresponse()
        return r.read()


class LocalPread:
    def __init__(self, path):
        self.fd = os.open(path, os.O_RDONLY)

    def pread(self, off: int, n: int) -> bytes:
        return os.pread(self.fd, n, off)

    def close(self):
        os.close(self.fd)


# --------------------------------------------------------------- measurement


class Result:
    def __init__(self, name: str, nbytes: int, seconds: float, lat: list):
        self.name, self.nbytes, self.seconds = name, nbytes, seconds
        lat = sorted(lat) or [seconds]
        self.p50 = lat[len(lat) // 2]
        self.p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        self.max = lat[-1]
        self.stalls = 0

    @property
    def mibs(self) -> float:
        return self.nbytes / self.seconds / MiB


def run_threads(name: str, n_threads: int, plans, read, truth: bytes, budget_s: float = 1e9) -> Result:
    """Each thread i reads plans[i] = [(off, n), ...] in order through read(off, n),
    checking every byte against truth; a thread stops early after budget_s."""
    lat, done, errors = [], [0], []
    lock = threading.Lock()
    start = time.perf_counter()

    def work(plan):
        mine, got = [], 0
        try:
            for off, n in plan:
                t = time.perf_counter()
                b = read(off, n)
                mine.append(time.perf_counter() - t)
                if b != truth[off:off + n]:
                    raise AssertionError(f"{name}: wrong bytes at {off}+{n}")
                got += n
                if time.perf_counter() - start > budget_s:
                    break
        except BaseException as e:      # reported after join
            errors.append(e)
        with lock:
            lat.extend(mine)
            done[0] += got

    threads = [threading.Thread(target=work, args=(p,)) for p in plans]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    seconds = time.perf_counter() - start
    if errors:
        raise errors[0]
    return Result(name, done[0], seconds, lat)


def random_plans(size: int, threads: int, reads: int, n: int, seed: int):
    rng = random.Random(seed)
    return [[(rng.randrange(0, size - n), n) for _ in range(reads)] for _ in range(threads)]


def scan_plans(size: int, threads: int, region: int, n: int, seed: int):
    """Disjoint regions: thread i scans `region` bytes from a random n-aligned start
    inside the i-th of `threads` equal stripes of the file."""
    rng = random.Random(seed)
    stripe = size // threads
    region = min(region, stripe) // n * n
    starts = [i * stripe + rng.randrange(0, (stripe - region) // n + 1) * n for i in range(threads)]
    return [[(s + k, n) for k in range(0, region, n)] for s in starts]


def print_table(title: str, rows, baseline: Optional[str] = None):
    print(f"\n{title}")
    print(f"  {'':<34}{'MiB/s':>9}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'ratio':>8}")
    base = next((r for r in rows if r.name == baseline), None)
    for r in rows:
        ratio = f"{r.mibs / base.mibs:7.2f}x" if base and r is not base else ""
        print(f"  {r.name:<34}{r.mibs:9.1f}{r.p50 * 1e3:9.1f}{r.p99 * 1e3:9.1f}{r.max * 1e3:9.1f}{ratio:>8}")
    sys.stdout.flush()


# ------------------------------------------------------------------- benches


def bench_http(args, data_path: Path, model_path: Path, truth: bytes, latency: float,
               certs: Optional[Dict[str, Path]] = None, schemes=("http",)):
    """The HTTP benches, over each of `schemes` (http, https: verified against the CA
    of certs), the runs of all schemes interleaved so that they share the machine's
    load alike. Returns {scheme: {workload: rows}}."""
    from warptok.io import PrefetchReader, load_safetensors

    size = len(truth)
    results = {sc: {} for sc in schemes}
    client = ssl.create_default_context(cafile=str(certs["ca"])) if "https" in schemes else None
    files = {"data.bin": data_path, "model.safetensors": model_path}
    servers = {sc: RangeServer(files, latency=latency, ssl_context=server_context(certs) if sc == "https" else None)
               for sc in schemes}
    for srv in servers.values():
        srv.start()
    try:
        ctx = {sc: client if sc == "https" else None for sc in schemes}
        url = {sc: servers[sc].url("data.bin") for sc in schemes}
        tag = {sc: f"{sc.upper()} +{latency * 1e3:.0f} ms" for sc in schemes}

        def ours(sc, plans):
            with PrefetchReader(url[sc], ssl_context=ctx[sc]) as r:   # a new reader (and connections) every run
                return run_threads("warptok PrefetchReader", args.threads, plans, r.pread, truth)

        def direct(sc, plans, **kw):
            return run_threads("direct range request per read", args.threads, plans,
                               DirectHTTP(url[sc], ctx[sc]).pread, truth, **kw)

        def each(workload, title, runs, baseline):
            """runs(sc) -> [run(k), ...] per scheme; all of them interleaved by repeat()."""
            per = {sc: runs(sc) for sc in schemes}
            rows = repeat(args.repeat, [run for sc in schemes for run in per[sc]])
            for sc in schemes:
                mine, rows = rows[:len(per[sc])], rows[len(per[sc]):]
                print_table(f"{tag[sc]}: {title} (median of {args.repeat})", mine, baseline)
                results[sc][workload] = mine

        if "random" in args.only:
            plans = lambda k: random_plans(size, args.threads, args.reads, 4 * MiB, seed=10 + k)  # noqa: E731
            each("random", f"{args.threads} threads x {args.reads} random 4 MiB reads",
                 lambda sc: [lambda k: direct(sc, plans(k)), lambda k: ours(sc, plans(k))],
                 "direct range request per read")
        if "scan" in args.only:
            plans = lambda k: scan_plans(size, args.threads, args.region * MiB, 128 * 1024, seed=20 + k)  # noqa: E731
            each("scan", f"{args.threads} threads scanning {args.region} MiB each in 128 KiB reads",
                 lambda sc: [lambda k: direct(sc, plans(k), budget_s=args.direct_budget), lambda k: ours(sc, plans(k))],
                 "direct range request per read")
        if "load" in args.only:
            from safetensors.numpy import load as st_load
            from safetensors.numpy import load_file as st_load_file

            ref = st_load_file(str(model_path))
            msize = model_path.stat().st_size

            def base(sc):
                def run(k):
                    t = time.perf_counter()
                    out = st_load(DirectHTTP(servers[sc].url("model.safetensors"), ctx[sc]).get_all())
                    res = Result("one GET + safetensors.numpy.load", msize, time.perf_counter() - t, [])
                    check_equal(ref, out)
                    return res
                return run

            def mine(sc):
                def run(k):
                    t = time.perf_counter()
                    out = load_safetensors(servers[sc].url("model.safetensors"), ssl_context=ctx[sc])
                    res = Result("warptok load_safetensors", msize, time.perf_counter() - t, [])
                    check_equal(ref, out)
                    return res
                return run

            each("load", f"load {msize / MiB:.0f} MiB safetensors model into numpy",
                 lambda sc: [base(sc), mine(sc)], "one GET + safetensors.numpy.load")
            del ref
    finally:
        for srv in servers.values():
            srv.stop()
    if "http" in results and "https" in results:
        print(f"\nHTTPS / HTTP +{latency * 1e3:.0f} ms, same runs interleaved "
              f"(warptok: its HTTPS MiB/s over its HTTP MiB/s; baseline: the same for the baseline)")
        for w in results["https"]:
            a, b = results["http"][w], results["https"][w]
            print(f"  {w:<8} warptok {b[1].mibs / a[1].mibs:5.2f}x   baseline {b[0].mibs / a[0].mibs:5.2f}x")
        sys.stdout.flush()
    return results


def repeat(n: int, runs) -> list:
    """Runs every run(k) n times, interleaved; for each, the run with the median
    throughput (its latencies are that run's)."""
    got = [[] for _ in runs]
    for k in range(n):
        for i, run in enumerate(runs):
            got[i].append(run(k))
    return [sorted(rs, key=lambda r: r.mibs)[len(rs) // 2] for rs in got]


def check_equal(ref, got):
    import numpy as np

    assert sorted(ref) == sorted(got), "tensor names differ"
    for k in ref:
        a, b = ref[k], got[k]
        assert a.dtype == b.dtype and a.shape == b.shape and np.array_equal(a, b), k


def bench_local(args, data_path: Path, model_path: Path, truth: bytes):
    from warptok.io import PrefetchReader, load_safetensors

    size = len(truth)
    results = {}

    def pread_run(plans):
        p = LocalPread(data_path)
        try:
            return run_threads("os.pread", args.threads, plans, p.pread, truth)
        finally:
            p.close()

    def ours(plans):
        with PrefetchReader(data_path) as r:
            return run_threads("warptok PrefetchReader", args.threads, plans, r.pread, truth)

    if "random" in args.only:
        rows = repeat(args.repeat, [
            lambda k: pread_run(random_plans(size, args.threads, args.reads, 4 * MiB, seed=30 + k)),
            lambda k: ours(random_plans(size, args.threads, args.reads, 4 * MiB, seed=30 + k))])
        print_table(f"local: {args.threads} threads x {args.reads} random 4 MiB reads (median of {args.repeat})",
                    rows, "os.pread")
        results["random"] = rows
    if "scan" in args.only:
        rows = repeat(args.repeat, [
            lambda k: pread_run(scan_plans(size, args.threads, args.region * MiB, 128 * 1024, seed=40 + k)),
            lambda k: ours(scan_plans(size, args.threads, args.region * MiB, 128 * 1024, seed=40 + k))])
        print_table(f"local: {args.threads} threads scanning {args.region} MiB each in 128 KiB reads "
                    f"(median of {args.repeat})", rows, "os.pread")
        results["scan"] = rows
    if "load" in args.only:
        from safetensors.numpy import load_file as st_load_file

        msize = model_path.stat().st_size
        check_equal(st_load_file(str(model_path)), load_safetensors(model_path))
        n = max(5, args.repeat)
        times = {"safetensors.numpy.load_file": [], "warptok load_safetensors": []}
        for _ in range(n):                  # interleaved, warm page cache
            for name, fn in (("safetensors.numpy.load_file", lambda: st_load_file(str(model_path))),
                             ("warptok load_safetensors", lambda: load_safetensors(model_path))):
                t = time.perf_counter()
                out = fn()
                times[name].append(time.perf_counter() - t)
                del out
        rows = [Result(name, msize, statistics.median(ts), ts) for name, ts in times.items()]
        print_table(f"local, warm cache: load {msize / MiB:.0f} MiB safetensors model into numpy "
                    f"(median of {n}; p50/p99/max over the runs)", rows, "safetensors.numpy.load_file")
        results["load"] = rows
    return results


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--latency", default="20", help="ms added per HTTP request, comma-separated (default 20)")
    ap.add_argument("--threads", type=int, default=8)
    ap.add_argument("--reads", type=int, default=30, help="random reads per thread (default 30)")
    ap.add_argument("--region", type=int, default=64, help="MiB each scanning thread reads (default 64)")
    ap.add_argument("--size", type=int, default=1024, help="MiB of the data file (default 1024)")
    ap.add_argument("--model-size", type=int, default=512, help="MiB of the safetensors model (default 512)")
    ap.add_argument("--repeat", type=int, default=3, help="runs of every measurement; the median is shown")
    ap.add_argument("--direct-budget", type=float, default=4.0,
                    help="seconds the per-read baseline of a scan may run (its rate is what counts)")
    ap.add_argument("--only", default="random,scan,load", help="which of random,scan,load")
    ap.add_argument("--where", default="http,https,local", help="any of http, https, local (default all)")
    ap.add_argument("--dir", default=None, help="where to keep the generated files (default: a temp dir)")
    ap.add_argument("--quick", action="store_true", help="small files and few reads")
    args = ap.parse_args(argv)
    args.only = set(args.only.split(","))
    args.where = set(args.where.split(","))
    if args.quick:
        args.size, args.model_size, args.reads, args.region, args.repeat = 256, 128, 8, 16, 1
        args.direct_budget = 1.0
    import numpy as np  # noqa: F401  (fail early when missing)

    import warptok
    from warptok import io as wio

    tmp = None
    if args.dir:
        d = Path(args.dir)
        d.mkdir(parents=True, exist_ok=True)
    else:
        tmp = tempfile.TemporaryDirectory(prefix="warptok-bench-io-")
        d = Path(tmp.name)
    try:
        data_path, model_path = d / f"data-{args.size}.bin", d / f"model-{args.model_size}.safetensors"
        t = time.perf_counter()
        make_data_file(data_path, args.size * MiB)
        make_model(model_path, args.model_size * MiB)
        print(f"warptok {warptok.__version__}  cpus {os.cpu_count()}  budget {wio.memory_budget() / MiB:.0f} MiB  "
              f"data {args.size} MiB  model {model_path.stat().st_size / MiB:.0f} MiB  "
              f"(files ready in {time.perf_counter() - t:.1f} s)")
        with open(data_path, "rb") as f:
            truth = f.read()       # bytes: slicing + == is a memcmp (a memoryview compares item by item)
        with open(model_path, "rb") as f:     # warm the page cache
            while f.read(64 * MiB):
                pass
        schemes = tuple(sc for sc in ("http", "https") if sc in args.where)
        certs = make_certs(d / "certs") if "https" in schemes else None
        if schemes:
            for ms in args.latency.split(","):
                bench_http(args, data_path, model_path, truth, float(ms) / 1e3, certs, schemes)
        if "local" in args.where:
            bench_local(args, data_path, model_path, truth)
    finally:
        if tmp:
            tmp.cleanup()
    return 0


if __name__ == "__main__":
    sys.exit(main())
