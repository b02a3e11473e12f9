"""``warptok count``: tokenize files and report tokens and speed.

    warptok count [FILE ...] [--model gpt2] [--threads N] [--passes 2]

Tokenizes the files (default: the Python standard library's top-level sources,
which every machine with Python has) and prints tokens, and MB/s and tokens/s of each
pass: the first is cold (every distinct piece is new to the tokenizer and is merged),
the second warm (the same text again: its pieces come from the tokenizer's cache).
"""

from __future__ import annotations

import sys
import sysconfig
import time
from pathlib import Path

from ..errors import CommandError
from .common import MODEL_HELP, add_threads, load_model, positive_int


def register(subparsers) -> None:
    p = subparsers.add_parser("count", help="count the tokens of files and report the speed")
    p.add_argument("files", nargs="*", help="text files (default: the Python standard library's sources)")
    p.add_argument("--model", default="gpt2", help=MODEL_HELP)
    add_threads(p, "worker threads")
    p.add_argument("--per-file", action="store_true", help="print the count of every file")
    p.add_argument("--passes", type=positive_int, default=2,
                   help="passes over the files (default 2: a cold first pass, then a warm one)")
    p.set_defaults(run=run)


def default_inputs() -> list[Path]:
    return sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))


def read_texts(paths: list[Path]) -> list[str]:
    texts = []
    for p in paths:
        try:
            texts.append(p.read_bytes().decode("utf-8", "replace"))
        except OSError as e:
            raise CommandError(f"cannot read {p}: {e.strerror}") from None
    return texts


def run(args) -> int:
    import warptok

    tok = load_model(args.model)
    paths = [Path(f) for f in args.files] if args.files else default_inputs()
    if not args.files:
        print(f"no files given: counting the {len(paths)} top-level sources of the Python standard library "
              f"({paths[0].parent if paths else '?'})", file=sys.stderr)
    texts = read_texts(paths)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    times = []
    for _ in range(args.passes):
        start = time.perf_counter()
        ids, offsets = tok.encode_ordinary_batch_flat(texts, num_threads=args.threads)
        times.append(time.perf_counter() - start)
    if args.per_file:
        for p, a, b in zip(paths, offsets[:-1], offsets[1:]):
            print(f"{int(b - a):>10}  {p}")
    n_tokens = len(ids)
    print(f"model {tok.name or args.model}  allocator {warptok.allocator()}  "
          f"threads {args.threads or warptok.cpu_count()}")
    print(f"{len(texts)} files  {n_bytes:,} bytes  {n_tokens:,} tokens")
    for k, seconds in enumerate(times):
        what = PASSES[min(k, 1)]
        rate = n_bytes / seconds / 1e6 if seconds > 0 else float("inf")
        print(f"pass {k + 1} {what:<32} {seconds:7.3f} s  {rate:7.1f} MB/s  "
              f"{n_tokens / seconds if seconds > 0 else 0:>13,.0f} tokens/s")
    return 0


# The first pass meets each distinct piece of the text for the first time and merges it;
# later passes find the pieces in the tokenizer's cache, as a long run over similar text does.
PASSES = ("cold (new text: pieces merged)", "warm (same text: pieces cached)")
