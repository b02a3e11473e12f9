"""A tiktoken-shaped facade: ``warptok.tiktoken_compat.get_encoding(name)``.

    from warptok import tiktoken_compat as tiktoken
    enc = tiktoken.get_encoding("cl100k_base")
    enc.encode("hello <|endoftext|>", allowed_special="all")
    enc.encode_batch(texts)                       # the native pool, GIL released
    enc.decode(ids)

:class:`Encoding` has tiktoken's methods and arguments — ``encode`` (``allowed_special``,
``disallowed_special``), ``encode_ordinary``, ``encode_batch``, ``encode_ordinary_batch``,
``encode_to_numpy``, ``encode_single_token``, ``decode``, ``decode_bytes``,
``decode_single_token_bytes``, ``decode_tokens_bytes``, ``decode_with_offsets``,
``decode_batch``, ``decode_bytes_batch``, ``token_byte_values``, ``special_tokens_set``,
``eot_token``, ``n_vocab``, ``max_token_value``, ``is_special_token`` — with tiktoken's ids,
results and error messages. ``encode_with_unstable`` is not provided.

Differences: batches run on warptok's worker pool (one call, GIL released) rather than a
``ThreadPoolExecutor`` per call; ``num_threads`` is capped at the CPUs this process may use.
An ``Encoding`` is immutable and safe to share between threads: it holds the shared
``warptok.Tokenizer`` and tables built once; the per-name cache of :func:`get_encoding` is
guarded by one lock, taken once per ``get_encoding`` call.
"""

from __future__ import annotations

import threading
from typing import AbstractSet, Collection, Literal, Sequence

from . import errors
from . import get_encoding as _warptok_encoding
from ._native._core import cpu_count
from .tokenizer import Tokenizer, threads_argument

__all__ = ["Encoding", "get_encoding", "encoding_for_model", "encoding_name_for_model", "list_encoding_names"]

# Model names -> encoding, for the encodings warptok has (tiktoken.model's table, abridged).
MODEL_TO_ENCODING = {
    "gpt-4o": "o200k_base", "gpt-4": "cl100k_base", "gpt-3.5-turbo": "cl100k_base", "gpt-3.5": "cl100k_base",
    "gpt-35-turbo": "cl100k_base", "davinci-002": "cl100k_base", "babbage-002": "cl100k_base",
    "text-embedding-ada-002": "cl100k_base", "text-embedding-3-small": "cl100k_base",
    "text-embedding-3-large": "cl100k_base", "davinci": "r50k_base", "curie": "r50k_base",
    "babbage": "r50k_base", "ada": "r50k_base", "gpt2": "gpt2", "gpt-2": "gpt2",
}
MODEL_PREFIX_TO_ENCODING = {
    "o1-": "o200k_base", "o3-": "o200k_base", "o4-mini-": "o200k_base", "gpt-5-": "o200k_base",
    "gpt-4.5-": "o200k_base", "gpt-4.1-": "o200k_base", "chatgpt-4o-": "o200k_base", "gpt-4o-": "o200k_base",
    "gpt-4-": "cl100k_base", "gpt-3.5-turbo-": "cl100k_base", "gpt-35-turbo-": "cl100k_base",
    "ft:gpt-4o": "o200k_base", "ft:gpt-4": "cl100k_base", "ft:gpt-3.5-turbo": "cl100k_base",
    "ft:davinci-002": "cl100k_base", "ft:babbage-002": "cl100k_base",
}
for _m in ("o1", "o3", "o4-mini", "gpt-5", "gpt-4.1", "gpt-4.5"):
    MODEL_TO_ENCODING[_m] = "o200k_base"

_cache: dict = {}
_cache_lock = threading.Lock()


class Encoding:
    """tiktoken's ``Encoding`` over a :class:`warptok.Tokenizer` (ids identical to tiktoken)."""

    def __init__(self, tokenizer: Tokenizer, name: str | None = None):
        if tokenizer.source != "tiktoken":
            raise errors.TypeError("tiktoken_compat.Encoding wraps a tiktoken encoding; for a tokenizer.json use "
                                   "warptok.hf")
        self._tok = tokenizer
        self.name = name or tokenizer.name
        self._special_tokens = dict(tokenizer.special_tokens)
        self._special_token_values = frozenset(self._special_tokens.values())
        self.special_tokens_set = frozenset(self._special_tokens)
        self.max_token_value = tokenizer.n_vocab - 1
        self._bytes_to_id = None          # built on first encode_single_token (an idempotent race)

    def __repr__(self) -> str:
        return f"<Encoding {self.name!r}>"

    def __reduce__(self):
        """Pickled as its :class:`warptok.Tokenizer` (the rank file's bytes, or the name of
        the one that ships with warptok). A pickle of ``get_encoding(name)`` loads as the
        process's own ``get_encoding(name)``."""
        return _rebuild, (self._tok, self.name)

    def __copy__(self):
        return self             # immutable

    def __deepcopy__(self, memo):
        return self

    @property
    def warptok(self) -> Tokenizer:
        """The underlying :class:`warptok.Tokenizer`."""
        return self._tok

    # ------------------------------------------------------------ encoding

    def encode_ordinary(self, text: str) -> list[int]:
        return self._tok.encode_ordinary(text)

    # tiktoken checks disallowed special tokens before anything else (Tokenizer.encode looks
    # at allowed_special first): the check runs here, then the encode without it.

    def encode(self, text: str, *, allowed_special: Literal["all"] | AbstractSet[str] = frozenset(),
               disallowed_special: Literal["all"] | Collection[str] = "all") -> list[int]:
        self._tok._check_disallowed((text,), allowed_special, disallowed_special)
        return self._tok.encode(text, allowed_special=allowed_special, disallowed_special=())

    def encode_to_numpy(self, text: str, *, allowed_special: Literal["all"] | AbstractSet[str] = frozenset(),
                        disallowed_special: Literal["all"] | Collection[str] = "all"):
        self._tok._check_disallowed((text,), allowed_special, disallowed_special)
        return self._tok.encode_to_numpy(text, allowed_special=allowed_special, disallowed_special=())

    def encode_ordinary_batch(self, text: list[str], *, num_threads: int = 8) -> list[list[int]]:
        return self._tok.encode_ordinary_batch(text, num_threads=_threads(num_threads))

    def encode_batch(self, text: list[str], *, num_threads: int = 8,
                     allowed_special: Literal["all"] | AbstractSet[str] = frozenset(),
                     disallowed_special: Literal["all"] | Collection[str] = "all") -> list[list[int]]:
        self._tok._check_disallowed(text, allowed_special, disallowed_special)
        return self._tok.encode_batch(text, allowed_special=allowed_special, disallowed_special=(),
                                      num_threads=_threads(num_threads))

    def encode_with_unstable(self, text, **kwargs):
        raise errors.NotImplementedError("warptok.tiktoken_compat does not provide encode_with_unstable")

    def encode_single_token(self, text_or_bytes: str | bytes) -> int:
        if isinstance(text_or_bytes, str):
            text_or_bytes = text_or_bytes.encode("utf-8")
        table = self._bytes_to_id
        if table is None:
            table = {b: i for i, b in self._tok._token_bytes().items()}
            self._bytes_to_id = table
        try:
            return table[text_or_bytes]
        except KeyError:
            raise errors.KeyError(text_or_bytes) from None

    # ------------------------------------------------------------ decoding

    def decode_bytes(self, tokens: Sequence[int]) -> bytes:
        return self._tok.decode_bytes(tokens)

    def decode(self, tokens: Sequence[int], errors: str = "replace") -> str:
        return self._tok.decode_bytes(tokens).decode("utf-8", errors=errors)

    def decode_single_token_bytes(self, token: int) -> bytes:
        return self._tok.decode_bytes([token])

    def decode_tokens_bytes(self, tokens: Sequence[int]) -> list[bytes]:
        return [self.decode_single_token_bytes(token) for token in tokens]

    def decode_with_offsets(self, tokens: Sequence[int]) -> tuple[str, list[int]]:
        token_bytes = self.decode_tokens_bytes(tokens)
        text_len = 0
        offsets = []
        for token in token_bytes:
            offsets.append(max(0, text_len - (0x80 <= token[0] < 0xC0)))
            text_len += sum(1 for c in token if not 0x80 <= c < 0xC0)
        text = b"".join(token_bytes).decode("utf-8", errors="strict")
        return text, offsets

    def decode_batch(self, batch: Sequence[Sequence[int]], *, errors: str = "replace",
                     num_threads: int = 8) -> list[str]:
        return [self.decode(tokens, errors=errors) for tokens in batch]

    def decode_bytes_batch(self, batch: Sequence[Sequence[int]], *, num_threads: int = 8) -> list[bytes]:
        return [self.decode_bytes(tokens) for tokens in batch]

    # ------------------------------------------------------------ vocabulary

    def token_byte_values(self) -> list[bytes]:
        """Every ordinary token's bytes, sorted (tiktoken's)."""
        specials = self._special_token_values
        return sorted(b for i, b in self._tok._token_bytes().items() if i not in specials)

    @property
    def eot_token(self) -> int:
        return self._special_tokens["<|endoftext|>"]

    def is_special_token(self, token: int) -> bool:
        if not isinstance(token, int):
            raise errors.AssertionError()          # tiktoken asserts it
        return token in self._special_token_values

    @property
    def n_vocab(self) -> int:
        return self.max_token_value + 1


def _threads(num_threads) -> int:
    """tiktoken's num_threads, capped at the CPUs this process may use (0: all of them)."""
    n = threads_argument(num_threads)
    return min(n, cpu_count()) if n else 0


def get_encoding(encoding_name: str) -> Encoding:
    """tiktoken's ``get_encoding``: one shared, immutable :class:`Encoding` per name (``gpt2``,
    ``r50k_base``, ``cl100k_base``, ``o200k_base``; rank files are found on this machine as
    :func:`warptok.get_encoding` finds them)."""
    enc = _cache.get(encoding_name)
    if enc is not None:
        return enc
    with _cache_lock:
        enc = _cache.get(encoding_name)
        if enc is None:
            from .encodings import ENCODINGS

            if encoding_name not in ENCODINGS:
                raise errors.ValueError(f"Unknown encoding {encoding_name}.\nPlugins found: []\n"
                                        f"Available encodings: {sorted(ENCODINGS)}")
            enc = Encoding(_warptok_encoding(encoding_name), encoding_name)
            _cache[encoding_name] = enc
        return enc


def _rebuild(tokenizer: Tokenizer, name: str) -> Encoding:
    from .tokenizer import _encodings

    if _encodings.get(name) is tokenizer:      # warptok's own encoding: this module's one for it
        return get_encoding(name)
    return Encoding(tokenizer, name)


def list_encoding_names() -> list[str]:
    from .encodings import ENCODINGS

    return list(ENCODINGS)


def encoding_name_for_model(model_name: str) -> str:
    if model_name in MODEL_TO_ENCODING:
        return MODEL_TO_ENCODING[model_name]
    for prefix, name in MODEL_PREFIX_TO_ENCODING.items():
        if model_name.startswith(prefix):
            return name
    raise errors.KeyError(f"Could not automatically map {model_name} to a tokeniser. "
                          "Please use `tiktoken.get_encoding` to explicitly get the tokeniser you expect.") from None


def encoding_for_model(model_name: str) -> Encoding:
    return get_encoding(encoding_name_for_model(model_name))
