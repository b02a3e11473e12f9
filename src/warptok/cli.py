"""The ``warptok`` command.

    warptok count [FILE ...] [--model gpt2] [--threads N]

Tokenizes the files (default: the Python standard library's top-level sources,
which every machine with Python has) and prints tokens, MB/s and tokens/s.
"""

from __future__ import annotations

import argparse
import sys
import sysconfig
import time
from pathlib import Path


def load_model(name: str):
    import warptok
    from warptok import encodings

    if name in encodings.ENCODINGS:
        return warptok.get_encoding(name)
    path = Path(name)
    if path.is_dir():
        path = path / "tokenizer.json"
    if path.is_file():
        return warptok.Tokenizer.from_file(path)
    raise SystemExit(f"warptok: --model {name!r} is neither an encoding name "
                     f"({', '.join(sorted(encodings.ENCODINGS))}) nor a tokenizer.json / model directory")


def default_inputs() -> list[Path]:
    return sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py"))


def read_texts(paths: list[Path]) -> list[str]:
    texts = []
    for p in paths:
        try:
            texts.append(p.read_bytes().decode("utf-8", "replace"))
        except OSError as e:
            raise SystemExit(f"warptok: cannot read {p}: {e.strerror}")
    return texts


def cmd_count(args) -> int:
    tok = load_model(args.model)
    paths = [Path(f) for f in args.files] if args.files else default_inputs()
    if not args.files:
        print(f"no files given: counting the {len(paths)} top-level sources of the Python standard library "
              f"({paths[0].parent if paths else '?'})", file=sys.stderr)
    texts = read_texts(paths)
    n_bytes = sum(len(t.encode("utf-8")) for t in texts)
    start = time.perf_counter()
    ids, offsets = tok.encode_ordinary_batch_flat(texts, num_threads=args.threads)
    seconds = time.perf_counter() - start
    if args.per_file:
        for p, a, b in zip(paths, offsets[:-1], offsets[1:]):
            print(f"{int(b - a):>10}  {p}")
    n_tokens = len(ids)
    rate = n_bytes / seconds / 1e6 if seconds > 0 else float("inf")
    print(f"model {tok.name or args.model}  allocator {__import__('warptok').allocator()}  "
          f"threads {args.threads or __import__('warptok').cpu_count()}")
    print(f"{len(texts)} files  {n_bytes:,} bytes  {n_tokens:,} tokens  {seconds:.3f} s  "
          f"{rate:.1f} MB/s  {n_tokens / seconds if seconds > 0 else 0:,.0f} tokens/s")
    return 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="warptok", description="Exact, fast BPE tokenization.")
    sub = parser.add_subparsers(dest="command", required=True)
    count = sub.add_parser("count", help="count the tokens of files and report the speed")
    count.add_argument("files", nargs="*", help="text files (default: the Python standard library's sources)")
    count.add_argument("--model", default="gpt2",
                       help="encoding name (gpt2, cl100k_base, o200k_base), a tokenizer.json or a model directory")
    count.add_argument("--threads", type=int, default=None, help="worker threads (default: every CPU)")
    count.add_argument("--per-file", action="store_true", help="print the count of every file")
    count.set_defaults(run=cmd_count)
    for register in _more_commands():
        register(sub)
    args = parser.parse_args(argv)
    if getattr(args, "threads", None) is not None and args.threads < 1:
        parser.error("--threads must be at least 1")
    return args.run(args)


def _more_commands():
    """Subcommands that live beside the feature they drive: each module has
    ``register(subparsers)``, which adds its parser with ``set_defaults(run=...)``."""
    from . import chat_cli, io_cli
    return [chat_cli.register, io_cli.register]


if __name__ == "__main__":
    sys.exit(main())
