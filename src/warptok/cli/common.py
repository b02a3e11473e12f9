"""What the ``warptok`` commands share: loading ``--model``, checking ``--threads``, and
how a command fails (``CommandError``: the message, exit status 1)."""

from __future__ import annotations

from .. import _load, errors
from ..errors import CommandError, WarptokError

MODEL_HELP = _load.MODEL_HELP


def load_model(name: str):
    """``--model``: see :func:`warptok._load.load_tokenizer`; a failure is a CommandError."""
    try:
        return _load.load_tokenizer(name)
    except (WarptokError, OSError) as e:
        raise CommandError(f"--model {name}: {e}") from None


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
