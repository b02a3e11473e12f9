"""warptok: exact, fast byte-level BPE tokenization with a compiled core.

    >>> import warptok
    >>> enc = warptok.get_encoding("gpt2")
    >>> enc.encode("hello world")
    [31373, 995]
"""

from __future__ import annotations

import threading

from ._native._core import allocator, cpu_count, release_memory
from .errors import UnsupportedPattern, UnsupportedTokenizer, WarptokError
from .tokenizer import Tokenizer

__all__ = ["Tokenizer", "get_encoding", "allocator", "cpu_count", "release_memory",
           "WarptokError", "UnsupportedTokenizer", "UnsupportedPattern", "__version__"]
__version__ = "0.1.0"

_cache: dict = {}
_cache_lock = threading.Lock()


def get_encoding(name: str) -> Tokenizer:
    """An OpenAI encoding (``gpt2``, ``r50k_base``, ``cl100k_base``, ``o200k_base``) with
    tiktoken's ids. GPT-2's ranks ship with warptok; the others are looked up on this
    machine (see ``warptok.encodings.candidate_paths``). Cached: one object per name."""
    from . import encodings

    with _cache_lock:
        if name not in _cache:
            path = encodings.find_rank_file(name)
            encodings.check_hash(name, path)
            pattern, specials, _ = encodings.ENCODINGS[name]
            _cache[name] = Tokenizer.from_tiktoken(path, pattern, specials, name=name)
        return _cache[name]
