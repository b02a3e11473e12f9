#!/usr/bin/env python3
"""First pass over new text: each library in a fresh process, per document to lists.

bench_tokenize.py times warm runs: the same documents again and again, with every
library's caches full of their pieces. A user who tokenizes a corpus once meets new
text in a new process. Here every timed run is a process of its own that loads one
library (untimed), then encodes the documents one by one, single thread, to Python
lists twice: the first pass (new text, empty caches, memory touched for the first
time) and the second (the same text again). Libraries run one at a time, each in
its own process, so none runs after another's memory churn. Before the table, each
library's ids of the first pass are checked against the reference's (a digest of
every document's ids).

    python benchmarks/bench_first_pass.py --max-mb 2 -r 3

Peers as in bench_tokenize.py: tiktoken (OpenAI encodings), HF tokenizers 0.23 (the
reference for llama3 and qwen2.5), HF tokenizers 1.0 (--hf1-python), quicktok and
bpe_openai where installed. Prints MB/s per library (median of -r processes), for
both passes, and warptok's first-pass ratio to the fastest peer's.
"""

from __future__ import annotations

import argparse
import hashlib
from array import array
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_tokenize as bt  # noqa: E402  (stdlib-only at import: one place for data and peers)

LIBS = ("warptok", "tiktoken", "tokenizers", "tokenizers-1.0", "quicktok", "bpe_openai")


# ---------------------------------------------------------------- the child: one library, one process

def load_encoder(lib: str, name: str, json_path: str | None, data: Path):
    """text -> ids for one library, or None where it has no such tokenizer."""
    if lib == "warptok":
        import warptok
        if name in bt.TIKTOKEN_STYLE:
            return warptok.get_encoding(name).encode_ordinary
        w = warptok.Tokenizer.from_file(json_path)
        return lambda t: w.encode(t, add_special_tokens=False)
    if lib == "tiktoken":
        if name not in bt.TIKTOKEN_STYLE:
            return None
        return bt.tiktoken_reference(name, data / "vocab").encode_ordinary
    if lib in ("tokenizers", "tokenizers-1.0"):
        import tokenizers
        hf = tokenizers.Tokenizer.from_file(json_path)
        return lambda t: hf.encode(t, add_special_tokens=False).ids
    if lib == "quicktok":
        if name not in bt.QUICKTOK_NAMES:
            return None
        import quicktok
        return quicktok.get_encoding(bt.QUICKTOK_NAMES[name]).encode_ordinary
    if lib == "bpe_openai":
        if name not in bt.BPE_OPENAI_NAMES:
            return None
        import bpe_openai
        return bpe_openai.get_encoding(bt.BPE_OPENAI_NAMES[name]).encode_ordinary
    raise ValueError(lib)


def child(args):
    os.environ.setdefault("WARPTOK_DATA_DIR", str(args.data / "vocab"))   # as bench_tokenize does
    encode = load_encoder(args.child, args.tokenizer, args.json, args.data)
    if encode is None:
        print(json.dumps(None))
        return
    docs = json.loads(Path(args.docs).read_text(encoding="utf-8"))
    first = []                                  # the first pass's ids, kept for the digest
    seconds = [bt.timed(lambda: first.extend(encode(d) for d in docs) or first)]
    digest = hashlib.sha256()
    for ids in first:
        digest.update(array("I", ids).tobytes() + b"|")
    first.clear()                               # the second pass runs with no more memory held
    seconds.append(bt.timed(lambda: [encode(d) for d in docs]))
    print(json.dumps({"seconds": seconds, "digest": digest.hexdigest()}))


# ---------------------------------------------------------------- the parent

def run_child(python: str, lib: str, name: str, json_path: Path | None, docs_path: Path, data: Path):
    cmd = [python, str(Path(__file__).resolve()), "--child", lib, "--tokenizer", name, "--docs", str(docs_path),
           "--data", str(data)] + (["--json", str(json_path)] if json_path else [])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        last = (done.stderr.strip().splitlines() or ["?"])[-1]
        return f"ERROR: {last}"
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-t", "--tokenizers", type=bt.csv(bt.ALL_TOKENIZERS), default=["llama3", "o200k_base", "qwen2.5"],
                   help="comma-separated subset of %s (default: llama3,o200k_base,qwen2.5)" % ",".join(bt.ALL_TOKENIZERS))
    p.add_argument("-c", "--corpora", type=bt.csv(bt.CORPORA), default=list(bt.CORPORA))
    p.add_argument("-s", "--doc-size", type=int, default=6500, help="document size in bytes (default: 6500)")
    p.add_argument("-r", "--repeat", type=int, default=3, help="fresh processes per library; the median is shown")
    p.add_argument("--max-mb", type=float, default=2, help="the first N MB of each corpus (default: 2)")
    p.add_argument("--libs", type=bt.csv(LIBS), default=list(LIBS), help="libraries to run where available")
    p.add_argument("--child", choices=LIBS, help=argparse.SUPPRESS)
    p.add_argument("--tokenizer", help=argparse.SUPPRESS)
    p.add_argument("--docs", help=argparse.SUPPRESS)
    p.add_argument("--json", help=argparse.SUPPRESS)
    bt.add_source_args(p)
    args = p.parse_args(argv)
    if args.child:
        return child(args)

    rows, problems = [], []
    wall0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="wt_first_") as tmp:
        tmp = Path(tmp)
        for name in args.tokenizers:
            text, source = bt.tokenizer_json(name, SimpleNamespace(data=args.data, llama3=args.llama3,
                                                                   qwen25=args.qwen25))
            json_path = None
            if text is not None:
                json_path = tmp / f"{name}.json"
                json_path.write_text(text, encoding="utf-8")
            for corpus in args.corpora:
                data, _ = bt.load_corpus(corpus, args.data, args.max_mb)
                docs = bt.split_documents(data, args.doc_size)
                docs_path = tmp / "docs.json"
                docs_path.write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
                ref_lib = "tiktoken" if name in bt.TIKTOKEN_STYLE else "tokenizers"
                results = {}
                for lib in [ref_lib] + [x for x in args.libs if x != ref_lib]:
                    python = args.hf1_python if lib == "tokenizers-1.0" else sys.executable
                    needs_json = lib in ("tokenizers", "tokenizers-1.0") or (
                        lib == "warptok" and name not in bt.TIKTOKEN_STYLE)
                    if not python or (needs_json and json_path is None):
                        continue
                    runs = [run_child(python, lib, name, json_path, docs_path, args.data) for _ in range(args.repeat)]
                    if runs[0] is None:
                        continue                    # no such tokenizer in this library
                    bad = [r for r in runs if isinstance(r, str)]
                    if bad:
                        problems.append(f"{lib} on {name}/{corpus}: {bad[0]}")
                        continue
                    results[lib] = runs
                    bt.log(f"[{name}/{corpus}] {lib:14} first " + " ".join(
                        f"{len(data) / r['seconds'][0] / 1e6:.1f}" for r in runs) + " MB/s")
                ref_digest = results.get(ref_lib, [{}])[0].get("digest")
                for lib, runs in results.items():
                    if any(r["digest"] != ref_digest for r in runs):
                        problems.append(f"MISMATCH {lib} on {name}/{corpus}: ids differ from {ref_lib}'s")
                        continue
                    first = statistics.median(len(data) / r["seconds"][0] / 1e6 for r in runs)
                    second = statistics.median(len(data) / r["seconds"][1] / 1e6 for r in runs)
                    rows.append((name, corpus, f"{bt.size_label(args.doc_size)} x{len(docs)}", lib, first, second))

    print(f"first pass: each run a fresh process, one library; {args.repeat} runs, median; "
          f"per document, single thread, to lists; {bt.cpu_model()}")
    print("| tokenizer | corpus | docs | warptok 1st MB/s | best peer | peer 1st MB/s | ratio | "
          "warptok 2nd | peer 2nd |")
    print("|---|---|---|---:|---|---:|---:|---:|---:|")
    cells = {}
    for row in rows:
        cells.setdefault(row[:3], []).append(row[3:])
    for key, libs in cells.items():
        ours = next((x for x in libs if x[0] == "warptok"), None)
        peers = [x for x in libs if x[0] != "warptok"]
        if ours is None or not peers:
            continue
        best = max(peers, key=lambda x: x[1])
        print(f"| {' | '.join(key)} | {ours[1]:.1f} | {best[0]} | {best[1]:.1f} | {ours[1] / best[1]:.2f}x | "
              f"{ours[2]:.1f} | {best[2]:.1f} |")
    for line in problems:
        print(line)
    print(f"wall time: {time.perf_counter() - wall0:.0f} s")
    return 1 if any("warptok" in x for x in problems) else 0


if __name__ == "__main__":
    sys.exit(main())
