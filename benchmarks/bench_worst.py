#!/usr/bin/env python3
"""Worst-case inputs: time per byte of pathological texts over the time per byte of
big.txt, for every tokenizer (issue 4 asks for at most 3x; anything quadratic shows
up as a ratio that grows with the input size).

    python benchmarks/bench_worst.py [--scale 1.0]

CPU time of this process is measured (time.process_time), so other load on the
machine disturbs the ratios less than wall time would.
"""

import argparse
import os
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("WARPTOK_SHARED_DATA", REPO.parent / "shared" / "data"))


def cases(scale):
    n = lambda x: max(1, int(x * scale))  # noqa: E731
    return {
        "a*1e6": "a" * n(1e6), "_*2e5": "_" * n(2e5), "7*1e6": "7" * n(1e6),
        "CJK 3e5": "\u4e2d\u6587" * n(1.5e5), "spaces+x": " " * n(1e6) + "x",
        "emoji 1e5": "\U0001F44D\U0001F3FD" * n(5e4), "x= 5e5": "x=" * n(5e5),
    }


def per_byte(fn, text, repeat=3):
    size = len(text.encode("utf-8"))
    best = float("inf")
    for _ in range(repeat):
        start = time.process_time()
        fn(text)
        best = min(best, time.process_time() - start)
    return best / size


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every input size")
    args = parser.parse_args()
    os.environ.setdefault("WARPTOK_DATA_DIR", str(DATA / "vocab"))
    import warptok

    tokenizers = {name: warptok.get_encoding(name) for name in ("gpt2", "cl100k_base", "o200k_base")}
    tokenizers["llama3"] = warptok.Tokenizer.from_file(DATA / "vocab" / "llama3" / "tokenizer.json")
    tokenizers["qwen3"] = warptok.Tokenizer.from_file(DATA / "vocab" / "qwen3" / "tokenizer.json")
    big = (DATA / "english" / "big.txt").read_text(encoding="utf-8")
    inputs = cases(args.scale)
    print(f"{'tokenizer':12} " + " ".join(f"{k:>10}" for k in inputs) + "   (time per byte / big.txt's)")
    worst = 0.0
    for name, tok in tokenizers.items():
        base = per_byte(tok.encode_ordinary, big)
        ratios = [per_byte(tok.encode_ordinary, text) / base for text in inputs.values()]
        worst = max(worst, *ratios)
        print(f"{name:12} " + " ".join(f"{r:>9.1f}x" for r in ratios))
    print(f"worst ratio: {worst:.1f}x (target: <= 3x)")


if __name__ == "__main__":
    main()
