"""What the ``warptok`` commands share: loading ``--model``, checking ``--threads``, and
how a command fails (``CommandError``: the message, exit status 1)."""

from __future__ import annotations

from pathlib import Path

from .. import errors
from ..errors import CommandError, WarptokError

MODEL_HELP = "encoding name (gpt2, cl100k_base, o200k_base), a tokenizer.json or a model directory"


def load_model(name: str):
    """``--model``: an encoding name, a tokenizer.json, or a directory holding one."""
    import warptok
    from warptok import encodings

    path = Path(name)
    if path.is_dir():
        path = path / "tokenizer.json"
    try:
        if name in encodings.ENCODINGS:
            return warptok.get_encoding(name)
        if path.is_file():
            return warptok.Tokenizer.from_file(path)
    except (WarptokError, OSError) as e:
        raise CommandError(f"--model {name}: {e}") from None
    raise CommandError(f"--model {name!r} is neither an encoding name "
                       f"({', '.join(sorted(encodings.ENCODINGS))}) nor a tokenizer.json / model directory")


def positive_int(text: str) -> int:
    """argparse type of counts such as ``--threads``: an int of at least 1 (argparse reports
    "invalid positive int value" otherwise)."""
    value = int(text)
    if value < 1:
        raise errors.ValueError(f"{value} < 1")
    return value


positive_int.__name__ = "positive int"


def add_threads(parser, what: str = "tokenizer threads") -> None:
    parser.add_argument("--threads", type=positive_int, default=None, help=f"{what} (default: every CPU)")


def run(parser, argv) -> int:
    """Parse argv and run the chosen command; a CommandError exits with its message."""
    args = parser.parse_args(argv)
    try:
        return args.run(args)
    except CommandError as e:
        parser.exit(1, f"warptok {args.command}: {e}\n")
