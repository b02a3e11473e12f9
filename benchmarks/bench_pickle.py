#!/usr/bin/env python3
"""What shipping a tokenizer to a worker costs: pickle size, pickling time, and the time
``pickle.loads`` takes in a fresh worker process, for warptok and its references.

  MB           the pickle's size (pickle.dumps, highest protocol)
  dumps ms     the first pickle of a loaded object (warptok compresses its file's bytes then),
               and the median of 5 more (warptok keeps the compressed bytes)
  loads ms     in a fresh process that has imported the library but loaded nothing:
               ``pickle.loads`` of the bytes (the median of --workers processes)

Rows: warptok.get_encoding (gpt2 ships with warptok and pickles by name; cl100k_base and
o200k_base pickle their rank file's bytes, so a worker needs no file), tiktoken's
registered encodings (pickled by name: a worker reads the rank file from tiktoken's cache,
filled here from the local files, or downloads it) and an unregistered tiktoken.Encoding
(its ranks dict); warptok.Tokenizer.from_file / from_pretrained beside HF tokenizers
(its JSON); warptok.hf beside transformers' fast tokenizer. Each worker checks its ids.

    python benchmarks/bench_pickle.py
    python benchmarks/write_docs.py bench_pickle.py
"""

from __future__ import annotations

import argparse
import hashlib
import os
import pickle
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DATA = Path(os.environ.get("WARPTOK_SHARED_DATA", REPO.parent / "shared" / "data"))
VOCAB = DATA / "vocab"
SAMPLE = "Hello world! <|endoftext|> héllo 日本語 123"

_TIKTOKEN_FILES = {   # tiktoken's download URLs -> the same files here (SOURCES.md: equal sha256)
    "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/vocab.bpe": "gpt2_vocab.bpe",
    "https://openaipublic.blob.core.windows.net/gpt-2/encodings/main/encoder.json": "gpt2_encoder.json",
    "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken": "cl100k_base.tiktoken",
    "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken": "o200k_base.tiktoken",
}


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def fill_tiktoken_cache(cache: Path):
    cache.mkdir(parents=True, exist_ok=True)
    for url, name in _TIKTOKEN_FILES.items():
        (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes((VOCAB / name).read_bytes())
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)


def cases():
    """(tokenizer, library label, loader, import line for the worker, how it encodes SAMPLE)."""
    import warptok

    out = []
    for name in ("gpt2", "cl100k_base", "o200k_base"):
        out.append((name, "warptok.get_encoding", lambda n=name: warptok.get_encoding(n), "import warptok",
                    "x.encode(s, allowed_special='all')"))
        try:
            import tiktoken

            out.append((name, "tiktoken.get_encoding (by name)", lambda n=name: tiktoken.get_encoding(n),
                        "import tiktoken", "x.encode(s, allowed_special='all')"))
            out.append((name, "tiktoken.Encoding (its ranks)",
                        lambda n=name: tiktoken.Encoding(n + "_copy", **_unregistered(n)), "import tiktoken",
                        "x.encode(s, allowed_special='all')"))
        except ImportError:
            pass
    for name, path, load in (("llama3", VOCAB / "llama3" / "tokenizer.json", "from_file"),
                             ("qwen3", VOCAB / "qwen3", "from_pretrained")):
        out.append((name, f"warptok.Tokenizer.{load}", lambda p=path, m=load: getattr(warptok.Tokenizer, m)(p),
                    "import warptok", "x.encode(s)"))
        try:
            import tokenizers

            json_path = path if path.suffix == ".json" else path / "tokenizer.json"
            out.append((name, "tokenizers.Tokenizer.from_file", lambda p=json_path: tokenizers.Tokenizer.from_file(
                str(p)), "import tokenizers", "x.encode(s).ids"))
        except ImportError:
            pass
    llama3 = VOCAB / "llama3"
    out.append(("llama3", "warptok.hf.from_pretrained", lambda: _hf(llama3), "import warptok.hf",
                "x(s)['input_ids']"))
    try:
        import transformers  # noqa: F401

        out.append(("llama3", "transformers.AutoTokenizer", lambda: _transformers(llama3),
                    "import transformers", "x(s)['input_ids']"))
    except ImportError:
        pass
    return out


def _unregistered(name):
    import tiktoken

    enc = tiktoken.get_encoding(name)
    return dict(pat_str=enc._pat_str, mergeable_ranks=enc._mergeable_ranks, special_tokens=enc._special_tokens)


def _hf(path):
    import warptok.hf

    return warptok.hf.from_pretrained(path, backend="files")


def _transformers(path):
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(path), local_files_only=True)


WORKER = r"""
import pickle, sys, time
{imports}
blob = open(sys.argv[1], "rb").read()
t = time.perf_counter()
x = pickle.loads(blob)
t = time.perf_counter() - t
s = {sample!r}
print(t * 1e3, {encode})
"""


def in_worker(blob: bytes, imports: str, encode: str, n: int) -> tuple:
    """(median loads ms over n fresh processes, the ids the last one encoded)."""
    with tempfile.NamedTemporaryFile(suffix=".pkl", delete=False) as f:
        f.write(blob)
    try:
        times, ids = [], None
        code = WORKER.format(imports=imports, sample=SAMPLE, encode=encode)
        for _ in range(n):
            out = subprocess.run([sys.executable, "-c", code, f.name], capture_output=True, text=True,
                                 env=dict(os.environ, TRANSFORMERS_VERBOSITY="error"))
            if out.returncode:
                raise RuntimeError(out.stderr.strip().splitlines()[-1])
            ms, _, ids = out.stdout.strip().splitlines()[-1].partition(" ")
            times.append(float(ms))
        return statistics.median(times), ids
    finally:
        os.unlink(f.name)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--workers", type=int, default=3, help="fresh processes per row (default 3)")
    args = ap.parse_args(argv)
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        fill_tiktoken_cache(Path(tmp) / "tiktoken")
        os.environ.setdefault("WARPTOK_DATA_DIR", str(VOCAB))
        rows, expected = [], {}
        for name, lib, load, imports, encode in cases():
            log(f"{name}: {lib}")
            try:
                obj = load()
            except Exception as e:                       # a peer that cannot load it here
                log(f"  skipped: {type(e).__name__}: {e}")
                continue
            t = time.perf_counter()
            blob = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
            first = (time.perf_counter() - t) * 1e3
            again = []
            for _ in range(5):
                t = time.perf_counter()
                pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
                again.append((time.perf_counter() - t) * 1e3)
            loads, ids = in_worker(blob, imports, encode, args.workers)
            if expected.setdefault(name, ids) != ids:
                raise SystemExit(f"{name}: {lib} encodes differently in a worker: {ids} != {expected[name]}")
            rows.append((name, lib, len(blob) / 1e6, first, statistics.median(again), loads))
            del obj
    print(f"{args.workers} fresh worker processes per row, {time.time() - t0:.0f} s; every worker's ids were "
          "checked.\n")
    print("| tokenizer | library | pickle MB | dumps ms, first / again | loads ms in a worker |")
    print("|---|---|---:|---:|---:|")
    for name, lib, mb, first, again, loads in rows:
        size = f"{mb:.1f}" if mb >= 0.05 else f"{mb * 1e6:.0f} B"
        print(f"| {name} | {lib} | {size} | {first:.0f} / {again:.0f} | {loads:.0f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
