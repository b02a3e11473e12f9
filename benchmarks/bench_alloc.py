#!/usr/bin/env python3
"""The allocator trade-off, measured: warptok with mimalloc vs the system allocator.

A published measurement of mimalloc inside HF tokenizers showed +35-56% throughput at one
thread for about 3x the resident memory. This script builds (once) a second copy of warptok
with ``WARPTOK_ALLOCATOR=system`` and runs both builds in fresh subprocesses on the same work:
50 large batches (``encode_batch_flat`` of ~6.5 KB documents from big.txt, ``--mb`` MB per
batch), at 1 thread and at all threads. For each it reports

  MB/s        input bytes per second over the 50 batches
  base        RSS after loading the tokenizer, before any batch
  peak        the highest RSS during the batches (VmHWM, reset after loading)
  steady      RSS after the 50 batches, their results freed
  released    RSS after ``warptok.release_memory()`` as well

Builds: ``mimalloc`` is the warptok importable here (it must report ``allocator() ==
'mimalloc'``), or ``--build-mimalloc`` builds one from this checkout too; ``system`` is
``WARPTOK_ALLOCATOR=system pip install --no-build-isolation --no-deps --target DIR .``
(DIR: ``--system-dir``, kept between runs; ``--rebuild`` to redo it).

    python benchmarks/bench_alloc.py
    python benchmarks/bench_alloc.py --mb 4 --batches 50 --tokenizer cl100k_base
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("WARPTOK_BENCH_DATA") or REPO.parent / "shared" / "data")
DEFAULT_DIR = Path(tempfile.gettempdir()) / "warptok-bench-alloc"


def log(*a):
    print(*a, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- the measured child

def status_mb(key: str) -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def reset_peak():
    """Make VmHWM start again from the current RSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        pass


def documents(mb: float) -> list[str]:
    text = (DATA / "english" / "big.txt").read_text(encoding="utf-8")
    docs, at, limit = [], 0, int(mb * 1e6)
    while at < len(text) and at < limit:
        end = text.find(" ", at + 6500)
        end = len(text) if end < 0 else end
        docs.append(text[at:end])
        at = end
    return docs


def child(args) -> dict:
    import warptok

    if args.tokenizer in ("gpt2", "r50k_base", "cl100k_base", "o200k_base"):
        os.environ.setdefault("WARPTOK_DATA_DIR", str(DATA / "vocab"))
        tok = warptok.get_encoding(args.tokenizer)
        encode = tok.encode_ordinary_batch_flat
    else:
        tok = warptok.Tokenizer.from_file(DATA / "vocab" / args.tokenizer / "tokenizer.json")

        def encode(texts, num_threads):
            return tok.encode_batch_flat(texts, add_special_tokens=False, num_threads=num_threads)
    docs = documents(args.mb)
    nbytes = sum(len(d.encode()) for d in docs)
    threads = args.threads or warptok.cpu_count()
    gc.collect()
    base = status_mb("VmRSS")
    reset_peak()
    n_ids = 0
    t0 = time.perf_counter()
    for _ in range(args.batches):
        ids, offsets = encode(docs, num_threads=threads)
        n_ids += len(ids)
        del ids, offsets
    elapsed = time.perf_counter() - t0
    gc.collect()
    time.sleep(0.2)
    steady = status_mb("VmRSS")
    peak = status_mb("VmHWM")
    warptok.release_memory()
    released = status_mb("VmRSS")
    return {"allocator": warptok.allocator(), "threads": threads, "mb_s": nbytes * args.batches / elapsed / 1e6,
            "base": base, "peak": peak, "steady": steady, "released": released, "ids": n_ids,
            "batch_mb": nbytes / 1e6, "file": warptok.__file__}


# ---------------------------------------------------------------- builds and the table

def build(target: Path, allocator: str, rebuild: bool):
    marker = target / "warptok" / "__init__.py"
    if marker.exists() and not rebuild:
        return
    if target.exists():
        import shutil

        shutil.rmtree(target)
    log(f"building warptok with WARPTOK_ALLOCATOR={allocator} into {target} (a minute or two) ...")
    env = dict(os.environ, WARPTOK_ALLOCATOR=allocator)
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-build-isolation", "--no-deps", "-q",
                    "--target", str(target), str(REPO)], check=True, env=env)


def run_child(path: Path | None, args, threads: int) -> dict:
    env = dict(os.environ)
    if path is not None:
        env["PYTHONPATH"] = os.pathsep.join([str(path)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    cmd = [sys.executable, __file__, "--child", "--threads", str(threads), "--mb", str(args.mb),
           "--batches", str(args.batches), "--tokenizer", args.tokenizer]
    out = subprocess.run(cmd, check=True, env=env, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=2.0, help="MB of text per batch (default 2)")
    ap.add_argument("--batches", type=int, default=50)
    ap.add_argument("--tokenizer", default="llama3", help="llama3 | qwen3 (shared/data/vocab) or cl100k_base ...")
    ap.add_argument("--threads", type=int, default=0, help=argparse.SUPPRESS)
    ap.add_argument("--system-dir", type=Path, default=DEFAULT_DIR / "system")
    ap.add_argument("--build-mimalloc", action="store_true", help="also build the mimalloc copy from this checkout")
    ap.add_argument("--mimalloc-dir", type=Path, default=DEFAULT_DIR / "mimalloc")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args)))
        return 0

    import warptok

    builds = {}
    if args.build_mimalloc:
        build(args.mimalloc_dir, "mimalloc", args.rebuild)
        builds["mimalloc"] = args.mimalloc_dir
    else:
        if warptok.allocator() != "mimalloc":
            sys.exit("the installed warptok is not built with mimalloc: pass --build-mimalloc")
        builds["mimalloc"] = None
    build(args.system_dir, "system", args.rebuild)
    builds["system"] = args.system_dir

    n_cpu = warptok.cpu_count()
    results = {}
    for threads in sorted({1, n_cpu}):
        for name, path in builds.items():
            r = run_child(path, args, threads)
            if r["allocator"] != name:
                sys.exit(f"the {name} build reports allocator {r['allocator']!r} ({r['file']})")
            results[(name, threads)] = r
            log(f"{name} {threads}T: {r['mb_s']:.1f} MB/s, steady {r['steady']:.0f} MB")
    ids = {r["ids"] for r in results.values()}
    assert len(ids) == 1, f"the builds disagree on the number of ids: {ids}"

    r0 = next(iter(results.values()))
    print(f"# bench_alloc: {args.tokenizer}, {args.batches} batches of {r0['batch_mb']:.1f} MB "
          f"(encode_batch_flat, ~6.5 KB documents), {n_cpu} CPUs, python {sys.version.split()[0]}")
    print("# RSS in MB: base = after loading, peak = during the batches, steady = after them, "
          "released = after warptok.release_memory()")
    print()
    print("| allocator | threads | MB/s | base | peak | steady | released | peak - base | steady - base |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for (name, threads), r in results.items():
        print(f"| {name} | {threads} | {r['mb_s']:.1f} | {r['base']:.0f} | {r['peak']:.0f} | {r['steady']:.0f} | "
              f"{r['released']:.0f} | {r['peak'] - r['base']:.0f} | {r['steady'] - r['base']:.0f} |")
    print()
    for threads in sorted({1, n_cpu}):
        m, s = results[("mimalloc", threads)], results[("system", threads)]
        print(f"{threads} thread(s): mimalloc / system throughput {m['mb_s'] / s['mb_s']:.2f}x, "
              f"steady RSS {m['steady'] / s['steady']:.2f}x, peak RSS {m['peak'] / s['peak']:.2f}x, "
              f"after release_memory {m['released'] / s['released']:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
