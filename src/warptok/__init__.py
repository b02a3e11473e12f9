"""warptok: exact, fast byte-level BPE tokenization with a compiled core.

    >>> import warptok
    >>> enc = warptok.get_encoding("gpt2")
    >>> enc.encode("hello world")
    [31373, 995]
"""

from __future__ import annotations

from ._native._core import allocator, cpu_count, release_memory
from .errors import UnsupportedPattern, UnsupportedTokenizer, WarptokError
from .tokenizer import Tokenizer, get_encoding

__all__ = ["Tokenizer", "get_encoding", "allocator", "cpu_count", "release_memory",
           "WarptokError", "UnsupportedTokenizer", "UnsupportedPattern", "__version__"]
__version__ = "0.1.0"
