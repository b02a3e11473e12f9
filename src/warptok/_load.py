"""A tokenizer by name, as the ``warptok`` commands (``--model``) and ``warptok.ray`` take it."""

from __future__ import annotations

import os
from pathlib import Path

from . import errors

MODEL_HELP = ("an encoding name (gpt2, cl100k_base, o200k_base), a tokenizer.json, a model directory, "
              "or a repo id in the Hugging Face cache")


def load_tokenizer(model):
    """The tokenizer ``model`` names: an encoding name (``warptok.get_encoding``), a
    ``tokenizer.json`` (``Tokenizer.from_file``), or a model directory or a repo id already
    in the Hugging Face cache (``Tokenizer.from_pretrained``: the tokenizer transformers
    builds from the directory, with its ``eos_token``)."""
    import warptok
    from warptok import encodings

    if isinstance(model, warptok.Tokenizer):
        return model
    if not isinstance(model, (str, os.PathLike)):
        raise errors.TypeError(f"model must be a name or a path, not {type(model).__name__}")
    name = os.fspath(model)
    if name in encodings.ENCODINGS:
        return warptok.get_encoding(name)
    path = Path(name)
    if path.is_file():
        return warptok.Tokenizer.from_file(path)
    if path.is_dir():
        return warptok.Tokenizer.from_pretrained(path)
    try:
        return warptok.Tokenizer.from_pretrained(name)
    except FileNotFoundError:
        raise errors.FileNotFoundError(f"{name!r} is none of: {MODEL_HELP}") from None
