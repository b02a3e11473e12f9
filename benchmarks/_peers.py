"""The libraries the benchmarks compare, each behind one small adapter: how it loads a
tokenizer, and its calls for each mode. One place for every peer's API, shared by
bench_tokenize.py (in its cell processes and its fresh-process children), _worker.py (in
another venv), bench_worst.py and bench_load.py.

Standard library only at import time (the worker runs under HF tokenizers 1.0's venv);
each library and numpy are imported when first used.

A tokenizer is described by a JSON-able dict (``spec``), made by bench_tokenize.py:

    name       gpt2, cl100k_base, o200k_base, llama3, qwen2.5, qwen3, deepseek-v3, glm-4
    family     "tiktoken" (reference: tiktoken) or "json" (reference: HF tokenizers 0.23)
    json       path of its tokenizer.json (for the tiktoken family: built / converted, see
               bench_tokenize.tokenizer_json), or None
    tiktoken   path of the .tiktoken rank file (cl100k_base, o200k_base), or None
    gpt2_files [vocab.bpe, encoder.json] (gpt2 only)
    pattern, specials   the tiktoken family's split pattern and special tokens
    quicktok   [encoding name, data dir] for quicktok, or None (see prepare_quicktok)
    threads    threads for the batch calls

Modes (the calls an adapter may offer; each takes documents, gives every id):

    single        one call per document, ids as a Python list
    single-array  one call per document, ids as a numpy array
    batch         one call for all documents, a list of Python lists
    flat          one call for all documents, flat numpy (ids, offsets)

Per mode an adapter lists candidate calls, in the order tried; the caller keeps the fastest
one whose ids are exact (``calibrate``), so no library is held to a slower call than it has.
"""

from __future__ import annotations

import contextlib
import gc
import io
import os
import time
from pathlib import Path

LIBS = ("warptok", "tiktoken", "tokenizers", "tokenizers-1.0", "gigatoken", "fastokens", "tokie", "kitoken",
        "quicktok", "bpe_openai")
MODES = ("single", "single-array", "batch", "flat")
PER_DOCUMENT = ("single", "single-array")
MODULES = {"tokenizers-1.0": "tokenizers"}                       # library -> module, where they differ
DISTRIBUTIONS = {"quicktok": "quicktok-v1", "bpe_openai": "bpe-openai", "tokenizers-1.0": "tokenizers"}
QUICKTOK_BUNDLED = {"cl100k_base": "cl100k_base", "o200k_base": "o200k_base"}
BPE_OPENAI_NAMES = ("cl100k_base", "o200k_base")               # the rank files it ships


class Unsupported(Exception):
    """The library has no way to run this tokenizer (the message says why)."""


class Adapter:
    """One loaded tokenizer of one library: ``calls[mode]`` = [(label, fn), ...]."""

    def __init__(self, lib: str, load: str):
        self.lib = lib
        self.load = load                  # how it was loaded, for the notes
        self.calls: dict = {}

    def add(self, mode, label, fn):
        self.calls.setdefault(mode, []).append((label, fn))


def set_thread_env(threads: int):
    """Pool sizes for the libraries that read them at start-up (before they are imported)."""
    os.environ["RAYON_NUM_THREADS"] = str(threads)          # HF tokenizers, gigatoken, tokie, ...
    os.environ["FASTOKENS_BPE_THREADS"] = str(threads)      # fastokens' own pool (default: all cores)
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")


def version(lib: str) -> str:
    from importlib import metadata
    try:
        return metadata.version(DISTRIBUTIONS.get(lib, lib))
    except Exception:
        return "?"


# ---------------------------------------------------------------- loading

def _tiktoken_encoding(spec):
    import tiktoken
    import tiktoken.load
    saved = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = ""                   # read the local files as they are, no cache
    try:
        if spec["name"] == "gpt2":
            ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(*spec["gpt2_files"])
        else:
            ranks = tiktoken.load.load_tiktoken_bpe(spec["tiktoken"])
    finally:
        if saved is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = saved
    return tiktoken.Encoding(spec["name"], pat_str=spec["pattern"], mergeable_ranks=ranks,
                             special_tokens=spec["specials"])


def _need_json(spec, lib):
    if not spec.get("json"):
        raise Unsupported(f"{lib} needs a tokenizer.json, and there is none for {spec['name']}")
    return spec["json"]


def load_warptok(spec):
    import warptok
    n = spec["threads"]
    if spec["family"] == "tiktoken":
        wt = warptok.get_encoding(spec["name"])
        a = Adapter("warptok", f"warptok.get_encoding({spec['name']!r})")
        a.add("single", "encode_ordinary", wt.encode_ordinary)
        if hasattr(wt, "encode_to_numpy"):
            a.add("single-array", "encode_to_numpy", wt.encode_to_numpy)
        a.add("batch", f"encode_ordinary_batch(num_threads={n})",
              lambda texts: wt.encode_ordinary_batch(texts, num_threads=n))
        a.add("flat", f"encode_ordinary_batch_flat(num_threads={n})",
              lambda texts: wt.encode_ordinary_batch_flat(texts, num_threads=n))
        return a
    wt = warptok.Tokenizer.from_file(_need_json(spec, "warptok"))
    a = Adapter("warptok", "warptok.Tokenizer.from_file(tokenizer.json)")
    a.add("single", "encode(add_special_tokens=False)", lambda t: wt.encode(t, add_special_tokens=False))
    if hasattr(wt, "encode_to_numpy"):
        a.add("single-array", "encode_to_numpy(add_special_tokens=False)",
              lambda t: wt.encode_to_numpy(t, add_special_tokens=False))
        a.add("single-array", "encode_to_numpy", wt.encode_to_numpy)
    a.add("batch", f"encode_batch(add_special_tokens=False, num_threads={n})",
          lambda texts: wt.encode_batch(texts, add_special_tokens=False, num_threads=n))
    a.add("flat", f"encode_batch_flat(add_special_tokens=False, num_threads={n})",
          lambda texts: wt.encode_batch_flat(texts, add_special_tokens=False, num_threads=n))
    return a


def load_tiktoken(spec):
    if spec["family"] != "tiktoken":
        raise Unsupported("tiktoken runs the OpenAI encodings only")
    enc = _tiktoken_encoding(spec)
    n = spec["threads"]
    a = Adapter("tiktoken", "tiktoken.Encoding from the local rank file")
    a.add("single", "encode_ordinary", enc.encode_ordinary)
    a.add("single-array", "encode_to_numpy(disallowed_special=())",
          lambda t: enc.encode_to_numpy(t, disallowed_special=()))
    a.add("batch", f"encode_ordinary_batch(num_threads={n})",
          lambda texts: enc.encode_ordinary_batch(texts, num_threads=n))
    return a


def load_tokenizers(spec, lib="tokenizers"):
    """HF tokenizers, 0.23 here or 1.0 in its own venv (same calls, minus 0.23's
    encode_batch_fast, plus 1.0's ids_array)."""
    import tokenizers
    hf = tokenizers.Tokenizer.from_file(_need_json(spec, lib))
    a = Adapter(lib, "tokenizers.Tokenizer.from_file(tokenizer.json)")
    a.add("single", "encode(add_special_tokens=False).ids", lambda t: hf.encode(t, add_special_tokens=False).ids)
    if hasattr(tokenizers.Encoding, "ids_array"):              # 1.0
        a.add("single-array", "encode(add_special_tokens=False).ids_array",
              lambda t: hf.encode(t, add_special_tokens=False).ids_array)
    if hasattr(hf, "encode_batch_fast"):                        # 0.23: no offsets, its fastest batch call
        a.add("batch", "encode_batch_fast(add_special_tokens=False)",
              lambda texts: [e.ids for e in hf.encode_batch_fast(texts, add_special_tokens=False)])
    a.add("batch", "encode_batch(add_special_tokens=False)",
          lambda texts: [e.ids for e in hf.encode_batch(texts, add_special_tokens=False)])
    return a


def load_gigatoken(spec):
    import gigatoken
    if spec.get("tiktoken"):
        tok = gigatoken.Tokenizer.from_tiktoken(spec["tiktoken"])   # its pretokenizer picked by file name
        how = "gigatoken.Tokenizer.from_tiktoken(rank file)"
    else:
        tok = gigatoken.Tokenizer.from_json(Path(_need_json(spec, "gigatoken")).read_text(encoding="utf-8"))
        how = "gigatoken.Tokenizer.from_json(tokenizer.json)"
    b = tok.backend                                          # the Rust tokenizer, no Python wrapper per call
    a = Adapter("gigatoken", how + ".backend")
    a.add("single", "encode(t).tolist()", lambda t: b.encode(t).tolist())
    a.add("single", "encode_batch_list([t], parallel=False)[0]", lambda t: b.encode_batch_list([t], parallel=False)[0])
    a.add("single-array", "encode(t)", b.encode)
    a.add("batch", "encode_batch_list(parallel=True)", lambda texts: b.encode_batch_list(texts, parallel=True))

    def flat(texts):                                         # its awkward array's own buffers, no copy
        layout = b.encode_batch(texts, parallel=True).layout
        return layout.content.data, layout.offsets.data
    a.add("flat", "encode_batch(parallel=True) -> awkward buffers (content, offsets)", flat)
    return a


def load_fastokens(spec):
    import fastokens
    if spec.get("tiktoken"):
        tok = fastokens.Tokenizer.from_tiktoken(spec["tiktoken"], encoding=spec["name"])
        how = f"fastokens.Tokenizer.from_tiktoken(rank file, encoding={spec['name']!r})"
    else:
        tok = fastokens.Tokenizer.from_json_str(Path(_need_json(spec, "fastokens")).read_text(encoding="utf-8"))
        how = "fastokens.Tokenizer.from_json_str(tokenizer.json)"
    import numpy as np
    a = Adapter("fastokens", how)
    a.add("single", "encode(t).ids", lambda t: tok.encode(t).ids)
    a.add("single", "encode_ordinary(t).ids", lambda t: tok.encode_ordinary(t).ids)
    a.add("single-array", "encode_batch_flat([t]) -> frombuffer",
          lambda t: np.frombuffer(tok.encode_batch_flat([t])[0], np.uint32))
    a.add("batch", "encode_batch -> .ids", lambda texts: [e.ids for e in tok.encode_batch(texts)])

    def flat(texts):
        ids, offsets = tok.encode_batch_flat(texts)
        return np.frombuffer(ids, np.uint32), np.frombuffer(offsets, np.uint64)
    a.add("flat", "encode_batch_flat -> frombuffer", flat)
    return a


def load_tokie(spec):
    import tokie
    tok = tokie.Tokenizer.from_json(_need_json(spec, "tokie"))
    a = Adapter("tokie", "tokie.Tokenizer.from_json(tokenizer.json)")
    a.add("single", "encode(add_special_tokens=False).ids", lambda t: tok.encode(t, add_special_tokens=False).ids)
    a.add("batch", "encode_batch(add_special_tokens=False) -> .ids",
          lambda texts: [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)])
    return a


def load_kitoken(spec):
    import kitoken
    if spec.get("tiktoken"):
        tok = kitoken.Kitoken.from_tiktoken_file(spec["tiktoken"])
        how = "kitoken.Kitoken.from_tiktoken_file(rank file)"
    else:
        tok = kitoken.Kitoken.from_tokenizers_file(_need_json(spec, "kitoken"))
        how = "kitoken.Kitoken.from_tokenizers_file(tokenizer.json)"
    a = Adapter("kitoken", how)
    a.add("single", "encode(t, False)", lambda t: tok.encode(t, False))
    a.add("batch", "encode_all(texts, False)", lambda texts: tok.encode_all(texts, False))
    return a


def prepare_quicktok(spec, data_dir) -> tuple:
    """quicktok's own form of the tokenizer: its bundled cl100k_base / o200k_base, else the
    tokenizer.json imported (and verified against HF by quicktok itself) into ``data_dir``.
    Returns ([name, dir] or None, a note)."""
    if spec["name"] in QUICKTOK_BUNDLED:
        return [QUICKTOK_BUNDLED[spec["name"]], ""], "bundled"
    if not spec.get("json"):
        return None, "no tokenizer.json"
    import quicktok
    os.makedirs(data_dir, exist_ok=True)
    name = "bench-" + spec["name"].replace(".", "_")
    try:
        with contextlib.redirect_stdout(io.StringIO()):      # it prints what it did
            quicktok.import_tokenizer(spec["json"], name, str(data_dir))
    except BaseException as e:                                # ImportRefused is a SystemExit-free Exception
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        return None, f"import_tokenizer refused it: {first[:160]}"
    return [name, str(data_dir)], f"imported by quicktok.import_tokenizer into {data_dir}"


def load_quicktok(spec):
    import quicktok
    if not spec.get("quicktok"):
        raise Unsupported("quicktok has no form of this tokenizer (see the notes)")
    name, data_dir = spec["quicktok"]
    tok = quicktok.Tokenizer(name, data_dir)                  # get_encoding without its cache
    n = spec["threads"]
    a = Adapter("quicktok", f"quicktok.Tokenizer({name!r}, {'bundled' if not data_dir else 'imported'})")
    a.add("single", "encode_ordinary", tok.encode_ordinary)
    a.add("single-array", "encode_batch([t], 1)[0]", lambda t: tok.encode_batch([t], 1, False)[0])
    a.add("flat", f"encode_batch(texts, {n})", lambda texts: tok.encode_batch(texts, n, False))
    return a


def load_bpe_openai(spec):
    if spec["name"] not in BPE_OPENAI_NAMES:
        raise Unsupported("bpe_openai ships cl100k_base and o200k_base only")
    import bpe_openai
    enc = bpe_openai.get_encoding(spec["name"])
    raw = enc._backend                                        # the Rust binding its encode_ordinary wraps
    n = spec["threads"]
    a = Adapter("bpe_openai", f"bpe_openai.get_encoding({spec['name']!r})")
    a.add("single", "encode_ordinary", enc.encode_ordinary)
    a.add("single", "_bindings PyTokenizer.encode", raw.encode)
    a.add("single-array", "encode_to_numpy", enc.encode_to_numpy)
    a.add("batch", f"encode_ordinary_batch(num_threads={n})",
          lambda texts: enc.encode_ordinary_batch(texts, num_threads=n))
    return a


LOADERS = {"warptok": load_warptok, "tiktoken": load_tiktoken, "tokenizers": load_tokenizers,
           "tokenizers-1.0": lambda spec: load_tokenizers(spec, "tokenizers-1.0"),
           "gigatoken": load_gigatoken, "fastokens": load_fastokens, "tokie": load_tokie, "kitoken": load_kitoken,
           "quicktok": load_quicktok, "bpe_openai": load_bpe_openai}


def reference_lib(spec) -> str:
    return "tiktoken" if spec["family"] == "tiktoken" else "tokenizers"


def load(lib: str, spec: dict) -> Adapter:
    return LOADERS[lib](spec)


# ---------------------------------------------------------------- running and checking

def runner(fn, mode):
    """docs -> output, for one call path of one mode."""
    if mode in PER_DOCUMENT:
        return lambda docs: [fn(d) for d in docs]
    return fn


def timed(run, docs):
    """(wall s, process CPU s, output) of run(docs), with the garbage collector off while it runs.
    Process CPU time counts every thread of the process (a library's pool too)."""
    gc.collect()
    gc.disable()
    try:
        w0, c0 = time.perf_counter(), time.process_time()
        out = run(docs)
        c1, w1 = time.process_time(), time.perf_counter()
    finally:
        gc.enable()
    return w1 - w0, c1 - c0, out


def flat_of_lists(lists):
    """(ids uint32, offsets int64) of a list of id sequences."""
    import itertools
    import numpy as np
    offsets = np.zeros(len(lists) + 1, dtype=np.int64)
    np.cumsum([len(x) for x in lists], out=offsets[1:])
    if lists and not isinstance(lists[0], list) and hasattr(lists[0], "dtype"):
        ids = np.concatenate([np.asarray(x, dtype=np.uint32) for x in lists]) if lists else np.zeros(0, np.uint32)
    else:
        ids = np.fromiter(itertools.chain.from_iterable(lists), dtype=np.uint32, count=int(offsets[-1]))
    return ids, offsets


def as_flat(out):
    """Any mode's output as (ids uint32, offsets int64)."""
    import numpy as np
    if isinstance(out, tuple):
        return np.asarray(out[0]).astype(np.uint32, copy=False), np.asarray(out[1]).astype(np.int64, copy=False)
    return flat_of_lists(out)


def compare(out, n_docs: int, ref_lists, ref_flat) -> str | None:
    """None if ``out`` holds exactly the reference ids of every document, else what differs."""
    import numpy as np
    if type(out) is list and len(out) == n_docs and ref_lists is not None and out and type(out[0]) is list:
        if out == ref_lists:                                  # the common case, at C speed
            return None
    try:
        ids, offsets = as_flat(out)
    except Exception as e:
        return f"output not readable as ids: {e!r}"
    ref_ids, ref_offsets = ref_flat
    if len(offsets) != n_docs + 1:
        return f"{len(offsets) - 1} results for {n_docs} documents"
    if ids.shape == ref_ids.shape and np.array_equal(offsets, ref_offsets) and np.array_equal(ids, ref_ids):
        return None
    bad = [i for i in range(n_docs)
           if not np.array_equal(ids[offsets[i]:offsets[i + 1]], ref_ids[ref_offsets[i]:ref_offsets[i + 1]])]
    if not bad:
        return None
    i = bad[0]
    got, exp = ids[offsets[i]:offsets[i + 1]].tolist(), ref_ids[ref_offsets[i]:ref_offsets[i + 1]].tolist()
    k = next((j for j, (x, y) in enumerate(zip(got, exp)) if x != y), min(len(got), len(exp)))
    return (f"{len(bad)} of {n_docs} documents differ; first: document {i} at token {k}: "
            f"got {got[k:k + 6]} expected {exp[k:k + 6]}")


def calibrate(adapter: Adapter, mode: str, docs: list, ref_lists, ref_flat, time_them=True):
    """The fastest exact call of ``mode`` on ``docs`` (each candidate: once for the ids, then
    once timed, both on the same documents; without ``time_them``, the first exact one).
    Returns (label, fn, notes), or (None, None, notes) when no candidate is exact."""
    best, notes = None, []
    candidates = adapter.calls.get(mode, [])
    for label, fn in candidates:
        run = runner(fn, mode)
        try:
            out = run(docs)
        except Exception as e:
            notes.append(f"{label}: ERROR {type(e).__name__}: {str(e)[:160]}")
            continue
        diff = compare(out, len(docs), ref_lists, ref_flat)
        del out
        if diff:
            notes.append(f"{label}: MISMATCH {diff}")
            continue
        if len(candidates) == 1 or not time_them:
            return label, fn, notes
        wall, _, out = timed(run, docs)
        del out
        if best is None or wall < best[0]:
            best = (wall, label, fn)
    if best is None:
        return None, None, notes
    if len(candidates) > 1:
        notes.append(f"chose {best[1]} (fastest exact of {len(candidates)} on the warm-up set)")
    return best[1], best[2], notes


def call_by_label(adapter: Adapter, mode: str, label: str):
    for lab, fn in adapter.calls.get(mode, []):
        if lab == label:
            return fn
    raise KeyError(f"{adapter.lib} has no {mode} call {label!r}")


# ---------------------------------------------------------------- one cell: warm-up, unseen sets, repeated set

def set_bytes(docs) -> int:
    return sum(len(d.encode("utf-8")) for d in docs)


def execute_cell(adapters: dict, modes, warm, unseen: dict, refs: dict, repeat: int, seed: int, progress=None,
                 slow_s: float = 0):
    """Time every adapter on one cell's document sets.

    ``warm``: the warm-up set (documents); ``unseen[mode]``: one list of documents per round,
    each set new to every library in that mode; ``refs[key]`` = (lists, flat) reference ids,
    keys "W" and "U/<mode>/<round>".

    1. warm-up: every library, in every mode, encodes the warm-up set (calibrate: its
       fastest exact call is chosen there; its ids are checked);
    2. unseen: round after round, every (library, mode) in a new seeded random order
       encodes its round's set, once;
    3. repeated: ``repeat`` rounds, every (library, mode) encodes the warm-up set again.

    A library whose warm-up in a mode took more than ``slow_s`` seconds (if set) runs that
    mode in the first round of each table only: it is far from the fastest, and would
    otherwise take most of the time.

    Every output of every timed run is compared with the reference. A library whose ids
    differ anywhere is reported as a MISMATCH and dropped from the whole cell; a call that
    raises drops that mode only (ERROR). Returns {lib: {"modes": {mode: {"label", "unseen":
    [[wall, cpu, bytes]], "repeated": [...]}}, "notes": [...], "problem": str | None,
    "bad": {"set": key, "doc": i} | None}}.
    """
    import random
    progress = progress or (lambda *a: None)
    gc.collect()
    gc.freeze()            # what exists now (reference ids, vocabularies) is never scanned by gc.collect again
    out = {lib: {"modes": {}, "notes": [], "problem": None, "bad": None} for lib in adapters}
    nbytes = {"W": set_bytes(warm)}
    for mode, rounds in unseen.items():
        for r, docs in enumerate(rounds):
            nbytes[f"U/{mode}/{r}"] = set_bytes(docs)
    chosen = {}                                                   # (lib, mode) -> fn
    slow = set()                                                  # (lib, mode)

    def fail(lib, mode, kind, text, key=None, diff_doc=None):
        res = out[lib]
        if kind == "MISMATCH":
            res["problem"] = f"MISMATCH {lib} {mode}: {text}"
            res["bad"] = {"set": key, "mode": mode} if key else None
            for m in list(res["modes"]):
                chosen.pop((lib, m), None)
        else:
            res["notes"].append(f"ERROR in {mode}: {text}")
            chosen.pop((lib, mode), None)
            res["modes"].pop(mode, None)

    libs = list(adapters)
    random.Random(seed).shuffle(libs)
    for lib in libs:
        adapter = adapters[lib]
        for mode in modes:
            if mode not in adapter.calls or out[lib]["problem"]:
                continue
            progress(lib, mode, "warm-up")
            lists, flat = refs["W"]
            t0 = time.perf_counter()
            try:
                label, fn, notes = calibrate(adapter, mode, warm, lists, flat, time_them=nbytes["W"] < 2_000_000)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:                            # pyo3's PanicException is a BaseException
                fail(lib, mode, "ERROR", f"{type(e).__name__}: {str(e)[:200]}")
                continue
            out[lib]["notes"] += [f"{mode}: {n}" for n in notes]
            if label is None:
                mism = [n for n in notes if "MISMATCH" in n]
                if mism:
                    fail(lib, mode, "MISMATCH", "; ".join(mism), key="W")
                else:
                    fail(lib, mode, "ERROR", "; ".join(notes) or "no call")
                continue
            chosen[(lib, mode)] = fn
            out[lib]["modes"][mode] = {"label": label, "unseen": [], "repeated": []}
            if slow_s and time.perf_counter() - t0 > slow_s:
                slow.add((lib, mode))
                out[lib]["notes"].append(f"{mode}: warm-up took {time.perf_counter() - t0:.1f} s: one run per table")

    def run_round(kind, key_of, r):
        plan = [key for key in chosen if r == 0 or key not in slow]
        random.Random(seed * 7919 + r * 31 + (kind == "repeated")).shuffle(plan)
        for lib, mode in plan:
            if (lib, mode) not in chosen:                         # dropped earlier in this round
                continue
            key = key_of(mode)
            docs = warm if key == "W" else unseen[mode][int(key.rsplit("/", 1)[1])]
            progress(lib, mode, f"{kind} {r}")
            try:
                wall, cpu, result = timed(runner(chosen[(lib, mode)], mode), docs)
            except (KeyboardInterrupt, SystemExit):
                raise
            except BaseException as e:
                fail(lib, mode, "ERROR", f"{type(e).__name__}: {str(e)[:200]}")
                continue
            lists, flat = refs[key]
            diff = compare(result, len(docs), lists, flat)
            del result
            if diff:
                fail(lib, mode, "MISMATCH", f"{kind} set {key}: {diff}", key=key)
                continue
            out[lib]["modes"][mode][kind].append([wall, cpu, nbytes[key]])

    rounds = max((len(v) for v in unseen.values()), default=0)
    for r in range(rounds):
        run_round("unseen", lambda mode, r=r: f"U/{mode}/{r}" if r < len(unseen.get(mode, ())) else "W", r)
    for r in range(repeat):
        run_round("repeated", lambda mode: "W", r)
    for lib, res in out.items():
        if res["problem"]:
            res["modes"] = {}
    gc.unfreeze()
    return out
