"""The ``warptok`` command.

    warptok count  [FILE ...] [--model gpt2] [--threads N]      tokens, a cold and a warm pass's speed (count.py)
    warptok encode INPUT... --model M --out FILE.bin             a corpus to token files, warptok's or Megatron's (encode.py)
    warptok isl    DATASET --model DIR [--out FILE]             per-turn chat input lengths (isl.py)
    warptok --version

Each command module has ``register(subparsers)``, which adds its parser with
``set_defaults(run=...)``; ``common.py`` holds what they share.
"""

from __future__ import annotations

import argparse

from . import common, count, encode, isl

COMMANDS = (count, encode, isl)


def parser() -> argparse.ArgumentParser:
    from .. import __version__

    p = argparse.ArgumentParser(prog="warptok", description="Exact, fast BPE tokenization.")
    p.add_argument("--version", action="version", version=f"warptok {__version__}")
    sub = p.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.register(sub)
    return p


def main(argv=None) -> int:
    """The ``warptok`` command (also ``python -m warptok``)."""
    return common.run(parser(), argv)
