"""The reader of tiktoken rank files: base64 token and rank per line, plain or gzipped.
A Spec for them is the ranks under the encoding's pattern, in tiktoken's dialect and
with tiktoken's BPE semantics (any adjacent pair that is a token merges)."""

from __future__ import annotations

import base64
from pathlib import Path

from .. import errors
from .._native import _core
from .spec import AddedToken, Spec, Stage


def read_maybe_gzipped(path) -> bytes:
    return gunzipped(Path(path).read_bytes())


def gunzipped(raw: bytes) -> bytes:
    """A rank file's bytes, gunzipped when they are gzipped."""
    if raw[:2] == b"\x1f\x8b":
        import gzip
        raw = gzip.decompress(raw)
    return raw


def load_tiktoken_ranks(path) -> dict:
    """A tiktoken rank file (plain or .gz): {token bytes: rank}."""
    return parse_tiktoken_ranks(Path(path).read_bytes(), path)


def parse_tiktoken_ranks(data: bytes, where="rank file") -> dict:
    """The bytes of a tiktoken rank file (plain or gzipped): {token bytes: rank}.
    ``where`` names it in errors."""
    raw = gunzipped(data)
    ranks = _core.tiktoken_ranks(raw)       # the usual layout, compiled
    if ranks is not None:
        return ranks
    ranks = {}
    for n, line in enumerate(raw.splitlines(), 1):
        if not line:
            continue
        try:
            tok, rank = line.split()
            ranks[base64.b64decode(tok, validate=True)] = int(rank)
        except ValueError:
            raise errors.ValueError(f"{where}:{n}: not a tiktoken rank line: {line[:60]!r}") from None
    return ranks


def tiktoken_spec(ranks: dict, pattern: str, special_tokens: dict | None) -> Spec:
    token_bytes = {r: b for b, r in ranks.items()}
    if len(token_bytes) != len(ranks):        # a rank listed twice: find it for the message
        seen = set()
        for r in ranks.values():
            if r in seen:
                raise errors.ValueError(f"rank {r} appears twice in the rank file")
            seen.add(r)
    # tiktoken keeps only what the pattern matches: HF's Removed split, inverted.
    spec = Spec("tiktoken", token_bytes, set(token_bytes), mode_tiktoken=True,
                stages=[Stage(pattern, "fancy", "Removed", invert=True)])
    for content, i in (special_tokens or {}).items():
        if i in token_bytes:
            raise errors.ValueError(f"special token {content!r} reuses rank {i}")
        token_bytes[i] = content.encode()
        spec.added.append(AddedToken(content, i, True))
    return spec
