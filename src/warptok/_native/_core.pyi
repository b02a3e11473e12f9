"""Type stubs for the compiled bindings (_core.pyx); tests/test_layout.py checks them
against the built module, name by name and parameter by parameter."""

from array import array
from typing import Sequence

import numpy as np

# The C core's constants (cext/*/*.h).
OPCODES: dict[str, int]
ALT_ENTRY: int
REP_WIDTH: int
DIALECTS: dict[str, int]
GENERAL_CATEGORIES: dict[str, int]
PROP_GC_MASK: int
PROP_SPACE: int
PROP_DIGIT: int
PROP_WORD: int
SCAN_FAMILIES: dict[str, int]
SCAN_CONTRACTIONS: dict[str, int]
SCAN_RANGES: int
SPLIT_BEHAVIORS: dict[str, int]
ADDED_LSTRIP: int
ADDED_RSTRIP: int
MAX_STAGES: int
TOK_BPE: int
TOK_SPECIAL: int
TOK_PRESENT: int
UNICODE_VERSION: str

profile_guided: bool
link_time_optimized: bool

def allocator() -> str: ...
def cpu_count() -> int: ...
def release_memory() -> None: ...
def work_counters(reset: bool = False) -> tuple[int, int, int]: ...
def first_flagged(text: str, bits: bytes) -> int: ...
def unicode_props(dialect: int, cp: int) -> int: ...

# The loader's compiled loops (warptok._compile).
def bytelevel_vocab(vocab: dict[str, int], char_byte: array) -> tuple[dict[int, bytes], set[int]]: ...
def token_tables(token_bytes: dict[int, bytes], n_ids: int, bpe_ids: set[int],
                 specials: set[int]) -> tuple[array, bytes, bytes]: ...
def tiktoken_ranks(raw: bytes) -> dict[bytes, int] | None: ...
def merge_rows(merges: Sequence, token_bytes: dict[int, bytes], bpe_ids: set[int],
               char_byte: array) -> tuple[array | None, int]: ...

_Mask = bytes | None

RESULT_LIST: int
RESULT_COUNT: int
RESULT_ARRAY: int

class Core:
    n_ids: int
    n_added: tuple[int, int]
    def __init__(self, *, tok_off, tok_bytes, tok_flags, mode_tiktoken: bool, merges, ignore_merges: bool,
                 stages: list, passes: list, prefix, suffix, nfc: dict | None = None, linear: bool = True,
                 piece_cache_sets: int = 0, word_blocks: bool = False) -> None: ...
    def encode(self, text: str, active: tuple[_Mask, _Mask], first_pass: bool, max_body: int,
               add_special: bool, result: int = 0) -> list[int] | int | np.ndarray: ...
    def encode_batch(self, texts: Sequence[str], active: tuple[_Mask, _Mask], max_body: int, add_special: bool,
                     num_threads: int, flat: bool, first_pass: bool = False
                     ) -> list[list[int]] | tuple[np.ndarray, np.ndarray]: ...
    @property
    def linear_status(self) -> dict: ...
    @property
    def block_masks(self) -> list[str | None]: ...
    def unordered_ids(self) -> list[int]: ...
    def merge_pieces(self, data: bytes, lens, algo: str = "auto", collect: bool = True) -> list[list[int]] | int: ...
    def find_added(self, data: bytes, pass_: int, active: _Mask) -> list[tuple[int, int, int]]: ...
    def normalized(self, text: str) -> str: ...
    def pieces(self, text: str) -> list[str]: ...
    def token_bytes(self) -> dict[int, bytes]: ...
    def decode_bytes(self, ids: Sequence[int], skip_special: bool, skip_unknown: bool) -> bytes: ...

class Pattern:
    def __init__(self, prog, classes, dialect: int) -> None: ...
    def spans(self, data: bytes) -> list[tuple[int, int]]: ...
