#!/usr/bin/env python3
"""Two builds of warptok in one process: an A/B of a change to the compiled core.

On a busy 2-core VM one library's speed moves by 10-30% from run to run, so two builds timed
in separate processes (or even taking turns) cannot show a 3% change. Here the baseline
build (a checkout with its extension built in place, e.g. a `git worktree` at the parent
commit) is copied under another package name and imported beside the installed warptok;
each round times both on the same documents, in random order, and the result is the median
of the rounds' ratios (CPU time): a slow spell slows both sides of a round alike.

    python benchmarks/bench_ab.py --baseline ../base -t qwen3 -c multilingual
    python benchmarks/bench_ab.py --baseline ../base -t gpt2 -c code --mode seen --rounds 15
    python benchmarks/bench_ab.py --baseline ../base -t llama3 --worst "CJK 3e5"

Modes: `unseen` (each round loads both tokenizers afresh, warms them on 20 documents, then
times one call per document on the rest: text the piece table has not learned) and `seen`
(one tokenizer each, the same documents every round: the hit path). Calls go to arrays
(`encode_to_numpy`), or to lists with --lists. Ids are checked equal before timing.
--worst NAME times one of bench_worst.py's pathological inputs instead, as one document
(no warm-up).

Only compiled code is compared reliably: the baseline's extension imports warptok's own
Python modules by absolute name, so both sides run the installed build's Python code.
"""

from __future__ import annotations

import argparse
import importlib
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import bench_tokenize as bt  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--baseline", type=Path, required=True,
                   help="a checkout whose extension is built in place (its src/warptok is copied)")
    p.add_argument("-t", "--tokenizer", default="qwen3", help="gpt2, cl100k_base, o200k_base, llama3, qwen2.5, "
                   "qwen3, deepseek-v3, glm-4 (default: qwen3)")
    p.add_argument("-c", "--corpus", default="multilingual", choices=["english", "multilingual", "code"])
    p.add_argument("-s", "--size", type=int, default=6500, help="document size in bytes (default: 6500)")
    p.add_argument("--docs", type=int, default=250, help="documents (20 of them for warm-up; default: 250)")
    p.add_argument("--mode", default="unseen", choices=["unseen", "seen"])
    p.add_argument("--rounds", type=int, default=11)
    p.add_argument("--lists", action="store_true", help="encode to lists, not arrays")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--worst", metavar="NAME", help="one of bench_worst.py's inputs ('CJK 3e5', 'emoji 1e5', ...) "
                   "as the only document, at --scale of its size")
    p.add_argument("--scale", type=float, default=1.0, help="with --worst: the input's size (default: 1)")
    bt.add_source_args(p)
    return p.parse_args(argv)


def import_baseline(checkout: Path, workdir: Path):
    """The baseline build's package, imported as warptok_baseline (after the installed warptok)."""
    src = checkout / "src" / "warptok"
    if not any((src / "_native").glob("_core*.so")):
        sys.exit(f"{src}/_native has no built extension: build the baseline in place first "
                 "(python setup.py build_ext --inplace)")
    shutil.copytree(src, workdir / "warptok_baseline", ignore=shutil.ignore_patterns("__pycache__"))
    importlib.import_module("warptok")      # first: the baseline's extension imports warptok.* by name
    sys.path.insert(0, str(workdir))
    return importlib.import_module("warptok_baseline")


def encoder(mod, name, json_text, lists):
    """One call per document, to an array (or a list): the function, for this build's module."""
    if name in bt.TIKTOKEN_STYLE:
        mod.tokenizer._encodings.pop(name, None)       # get_encoding caches: a new object, a new piece table
        enc = mod.get_encoding(name)
        return enc.encode_ordinary if lists else enc.encode_to_numpy
    tok = mod.Tokenizer.from_str(json_text)
    if lists:
        return lambda t: tok.encode(t, add_special_tokens=False)
    return lambda t: tok.encode_to_numpy(t, add_special_tokens=False)


def main(argv=None):
    args = parse_args(argv)
    os.environ.setdefault("WARPTOK_DATA_DIR", str(args.data / "vocab"))
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    json_text = None
    if args.tokenizer not in bt.TIKTOKEN_STYLE:
        json_text, source = bt.tokenizer_json(args.tokenizer, args)
        if json_text is None:
            sys.exit(source)
    if args.worst:
        import bench_worst
        inputs = bench_worst.cases(args.scale)
        if args.worst not in inputs:
            sys.exit(f"--worst: one of {', '.join(map(repr, inputs))}")
        docs = [inputs[args.worst]]
        warm, timed = [], docs
    else:
        data, _ = bt.load_corpus(args.corpus, args.data, max_mb=0)
        docs = bt.split_documents(data, args.size)
        random.Random(args.seed).shuffle(docs)
        docs = docs[:args.docs]
        warm, timed = docs[:20], docs[20:]
    if not timed:
        sys.exit(f"--docs {args.docs}: nothing left to time after 20 warm-up documents")
    nbytes = sum(len(d.encode()) for d in timed)
    with tempfile.TemporaryDirectory() as tmp:
        mods = {"baseline": import_baseline(args.baseline, Path(tmp)), "this build": importlib.import_module("warptok")}
        load = lambda: {k: encoder(m, args.tokenizer, json_text, args.lists) for k, m in mods.items()}  # noqa: E731
        fns = load()
        for d in docs:
            a, b = fns["baseline"](d), fns["this build"](d)
            if list(a) != list(b):
                sys.exit("the two builds' ids differ: nothing to time")
        speeds, ratios = {k: [] for k in mods}, []
        for _ in range(args.rounds):
            if args.mode == "unseen":           # the id check above taught the first ones every document
                fns = load()
            cpu = {}
            for k in random.sample(list(mods), 2):
                if args.mode == "unseen":
                    for d in warm:
                        fns[k](d)
                t0 = time.process_time()
                for d in timed:
                    fns[k](d)
                cpu[k] = time.process_time() - t0
                speeds[k].append(nbytes / cpu[k] / 1e6)
            ratios.append(cpu["baseline"] / cpu["this build"])
    what = f"{args.worst!r} x {args.scale:g}" if args.worst else f"{args.corpus}, {bt.size_label(args.size)} documents"
    print(f"{args.tokenizer}, {what}, {args.mode}, "
          f"{'lists' if args.lists else 'arrays'}: {len(timed)} documents, {nbytes / 1e6:.2f} MB, {args.rounds} rounds")
    for k in mods:
        print(f"  {k:>10}: {statistics.median(speeds[k]):7.1f} MB per CPU-second (median)")
    print(f"  this build / baseline speed: {statistics.median(ratios):.3f} "
          f"(rounds: {' '.join(f'{x:.2f}' for x in ratios)})")


if __name__ == "__main__":
    main()
