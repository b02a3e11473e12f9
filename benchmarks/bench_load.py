#!/usr/bin/env python3
"""Start-up time and memory of a loaded tokenizer, per library, and warptok's memory over a long run.

Load: for every tokenizer and every library that can load it, a fresh process measures

  import ms      importing the library
  first load ms  the first load of the tokenizer in that process (what a program pays at start-up)
  load ms        the median of --loads further loads, each after freeing the previous one
  import MB      resident memory (VmRSS) added by the import
  load MB        resident memory added by the first load (after it minus after the import)
  encode MB      resident memory added by then encoding 1 MB of big.txt, one 1 KB document
                 per call on one thread (caches and buffers filled on first use)

Long run: warptok alone, in a fresh process, encodes the english, multilingual and code
corpora of bench_tokenize.py --passes times with every tokenizer (per document on one
thread, batch to lists and batch to numpy on all threads) and prints VmRSS after every
pass; its caches are of fixed size, so the resident memory should level off after the first pass.

Libraries: warptok, tiktoken (gpt2 / cl100k_base / o200k_base, from the local rank files),
HF tokenizers 0.23 and 1.0 (the latter in its own venv, --hf1-python, as in
bench_tokenize.py; gpt2 / cl100k_base / o200k_base as tokenizer.json files built the same
way), quicktok (cl100k_base, o200k_base, llama3, and its qwen3 vocabulary for qwen2.5) and
bpe_openai (cl100k_base, o200k_base), whichever are installed.

    python benchmarks/bench_load.py
    python benchmarks/bench_load.py -t llama3 --libs warptok,tokenizers --passes 3
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

# Only the standard library at the top: the measuring child also runs under HF 1.0's venv.

LIBRARIES = ("warptok", "tiktoken", "tokenizers", "tokenizers-1.0", "quicktok", "bpe_openai")
MODULES = {"tokenizers-1.0": "tokenizers"}       # library -> module, where they differ
TIKTOKEN_STYLE = ("gpt2", "cl100k_base", "o200k_base")
TOKENIZERS = TIKTOKEN_STYLE + ("llama3", "qwen2.5")
QUICKTOK_NAMES = {"cl100k_base": "cl100k_base", "o200k_base": "o200k_base", "llama3": "llama3",
                  "qwen2.5": "qwen3"}
BPE_OPENAI_NAMES = ("cl100k_base", "o200k_base")
ENCODE_SAMPLE_BYTES = 1_000_000


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS in /proc/self/status (Linux only)")


# ---------------------------------------------------------------- the measuring child

def loader(lib: str, mod, spec: dict):
    """(a call that loads the tokenizer uncached, a call that encodes one text with it)."""
    name = spec["tokenizer"]
    if lib == "warptok":
        if "json" in spec:
            return (lambda: mod.Tokenizer.from_file(spec["json"]),
                    lambda tok, text: tok.encode(text, add_special_tokens=False))

        def load():          # warptok.get_encoding without its cache
            import warptok.encodings as encodings
            path = encodings.find_rank_file(name)
            encodings.check_hash(name, path)
            pattern, specials, _ = encodings.ENCODINGS[name]
            return mod.Tokenizer.from_tiktoken(path, pattern, specials, name=name)
        return load, lambda tok, text: tok.encode_ordinary(text)
    if lib == "tiktoken":
        import tiktoken.load

        def load():
            if name == "gpt2":
                ranks = tiktoken.load.data_gym_to_mergeable_bpe_ranks(spec["vocab_bpe"], spec["encoder_json"])
            else:
                ranks = tiktoken.load.load_tiktoken_bpe(spec["ranks"])
            return mod.Encoding(name, pat_str=spec["pattern"], mergeable_ranks=ranks,
                                special_tokens=spec["specials"])
        return load, lambda tok, text: tok.encode_ordinary(text)
    if lib in ("tokenizers", "tokenizers-1.0"):
        return (lambda: mod.Tokenizer.from_file(spec["json"]),
                lambda tok, text: tok.encode(text, add_special_tokens=False).ids)
    if lib == "quicktok":
        return (lambda: mod.Tokenizer(QUICKTOK_NAMES[name], ""),        # quicktok.get_encoding, uncached
                lambda tok, text: tok.encode_ordinary(text))
    if lib == "bpe_openai":
        return (lambda: mod.get_encoding(name),                          # caches its ranks: see "cached"
                lambda tok, text: tok.encode_ordinary(text))
    raise ValueError(lib)


def measure_load(spec: dict) -> dict:
    lib = spec["library"]
    with open(spec["sample"], encoding="utf-8") as f:
        text = f.read(ENCODE_SAMPLE_BYTES)
    docs = [text[i:i + 1000] for i in range(0, len(text), 1000)]
    gc.collect()
    rss_start = rss_mb()
    t0 = time.perf_counter()
    mod = importlib.import_module(MODULES.get(lib, lib))
    import_s = time.perf_counter() - t0
    load, encode = loader(lib, mod, spec)
    gc.collect()
    rss_imported = rss_mb()
    t0 = time.perf_counter()
    tok = load()
    first_s = time.perf_counter() - t0
    gc.collect()
    rss_loaded = rss_mb()
    for doc in docs:
        encode(tok, doc)
    gc.collect()
    rss_encoded = rss_mb()
    del tok
    again = []
    for _ in range(spec["loads"]):
        gc.collect()
        t0 = time.perf_counter()
        load()                                                 # freed at once, before the next load
        again.append(time.perf_counter() - t0)
    return {"version": getattr(mod, "__version__", "?"), "import_ms": import_s * 1e3, "first_ms": first_s * 1e3,
            "load_ms": statistics.median(again) * 1e3, "import_mb": rss_imported - rss_start,
            "load_mb": rss_loaded - rss_imported, "encode_mb": rss_encoded - rss_loaded}


def long_run(tokenizers: list, passes: int, data: Path, llama3, qwen25) -> dict:
    """warptok's VmRSS after each pass over the corpora, every tokenizer loaded in one process."""
    import bench_tokenize as bt
    import warptok
    threads = warptok.cpu_count()
    corpora = [bt.load_corpus(c, data, 0)[0] for c in bt.CORPORA]
    nbytes = sum(len(c) for c in corpora)
    long_docs = [d for c in corpora for d in bt.split_documents(c, 6500)]
    short_docs = [d for c in corpora for d in bt.split_documents(c, 1000)]
    args = argparse.Namespace(data=data, llama3=llama3, qwen25=qwen25)
    encoders = []
    for name in tokenizers:
        if name in TIKTOKEN_STYLE:
            tok = warptok.get_encoding(name)
            encoders.append((tok.encode_ordinary,
                             lambda texts, tok=tok: tok.encode_ordinary_batch(texts, num_threads=threads),
                             lambda texts, tok=tok: tok.encode_ordinary_batch_flat(texts, num_threads=threads)))
            continue
        text, _ = bt.tokenizer_json(name, args)
        tok = warptok.Tokenizer.from_str(text)
        encoders.append((lambda t, tok=tok: tok.encode(t, add_special_tokens=False),
                         lambda texts, tok=tok: tok.encode_batch(texts, add_special_tokens=False, num_threads=threads),
                         lambda texts, tok=tok: tok.encode_batch_flat(texts, add_special_tokens=False,
                                                                      num_threads=threads)))
    gc.collect()
    rss = {"loaded": rss_mb()}
    t0 = time.perf_counter()
    for n in range(1, passes + 1):
        for single, batch, flat in encoders:
            for doc in long_docs:
                single(doc)
            batch(short_docs)
            flat(short_docs)
        gc.collect()
        rss[n] = rss_mb()
        log(f"long run: pass {n}/{passes}, VmRSS {rss[n]:.1f} MB")
    return {"rss": rss, "mb_per_pass": 3 * nbytes * len(encoders) / 1e6, "seconds": time.perf_counter() - t0,
            "threads": threads, "corpora_mb": nbytes / 1e6}


# ---------------------------------------------------------------- memory after encoding, every library

MEMORY_MODES = ("single", "batch")


def rss_peak_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def measure_memory(job: dict) -> dict:
    """One library, one mode, a fresh process: VmRSS before the import, after loading the
    tokenizer, and as ``job['mb']`` MB of documents are encoded (the mixed corpus of
    ``memory_text``, again from its start when it runs out); VmHWM (the peak) at the end."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import _peers
    _peers.set_thread_env(job["threads"])
    os.environ.setdefault("WARPTOK_DATA_DIR", str(Path(job["data"]) / "vocab"))
    docs = memory_text(Path(job["data"]))
    sizes = [len(d.encode("utf-8")) for d in docs]
    gc.collect()
    rss = {"start": rss_mb()}
    try:                                  # the peak so far is the text's preparation: start it again here
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
    except OSError:
        rss["peak_not_reset"] = 1
    try:
        adapter = _peers.load(job["library"], job["spec"])
    except _peers.Unsupported as e:
        return {"unsupported": str(e)}
    gc.collect()
    rss["loaded"] = rss_mb()
    calls = adapter.calls.get(job["mode"]) or adapter.calls.get("flat" if job["mode"] == "batch" else "")
    if not calls:
        return {"unsupported": f"no {job['mode']} call", "rss": rss}
    label, fn = calls[0]
    target, done, i, marks = job["mb"] * 1e6, 0, 0, {}
    t0 = time.perf_counter()
    step = 1 if job["mode"] == "single" else job["batch"]
    while done < target:
        chunk = [docs[(i + k) % len(docs)] for k in range(step)]
        fn(chunk[0]) if job["mode"] == "single" else fn(chunk)      # the ids are dropped at once
        done += sum(sizes[(i + k) % len(docs)] for k in range(step))
        i += step
        quarter = int(4 * done / target)
        if quarter not in marks and quarter >= 1:
            gc.collect()
            marks[quarter] = rss_mb()
    rss.update({f"{25 * q}%": v for q, v in sorted(marks.items()) if q <= 4})
    rss["peak"] = rss_peak_mb()
    return {"rss": rss, "label": label, "seconds": time.perf_counter() - t0, "mb": done / 1e6,
            "version": _peers.version(job["library"]) if job["library"] != "tokenizers-1.0" else
            __import__("tokenizers").__version__}


def memory_text(data: Path) -> list:
    """The documents every library encodes: english, multilingual and the whole stdlib code
    corpus (about 40 MB of distinct text), cut into documents of about 6.5 KB."""
    import bench_tokenize as bt
    docs = []
    for corpus in bt.CORPORA:
        raw, _ = bt.load_corpus(corpus, data, 0, code_cap=int(32.5e6))
        docs += bt.split_documents(raw, 6500)
    return docs


def memory_table(args, spec) -> tuple[str, str]:
    """Text and markdown of the memory table: one fresh process per (library, mode)."""
    import _peers
    head = ("library", "mode", "call", "before MB", "loaded MB", "import+load", "after 25%", "after 100%",
            "encode +MB", "peak MB", "s")
    body = []
    for lib in _peers.LIBS:
        if lib not in args.memory_libs:
            continue
        python = args.hf1_python if lib == "tokenizers-1.0" else sys.executable
        if lib == "tokenizers-1.0" and not python:
            continue
        for mode in MEMORY_MODES:
            log(f"memory: {lib} {mode}")
            job = {"library": lib, "mode": mode, "spec": spec, "mb": args.memory_mb, "batch": 256,
                   "threads": args.threads or os.cpu_count() or 1, "data": str(args.data)}
            r = run_child(python, "--child-memory", job)
            if "error" in r:
                body.append((lib, mode, "error: " + r["error"][:60]) + ("",) * 8)
                continue
            if "unsupported" in r:
                if mode == MEMORY_MODES[0]:
                    body.append((lib, "-", "n/a: " + r["unsupported"][:60]) + ("",) * 8)
                continue
            m = r["rss"]
            body.append((lib, mode, r["label"][:44], f"{m['start']:.0f}", f"{m['loaded']:.0f}",
                         f"{m['loaded'] - m['start']:+.0f}", f"{m.get('25%', float('nan')):.0f}",
                         f"{m.get('100%', float('nan')):.0f}", f"{m.get('100%', float('nan')) - m['loaded']:+.0f}",
                         f"{m['peak']:.0f}", f"{r['seconds']:.0f}"))
    md = ["| " + " | ".join(head) + " |", "|---|---|---|" + "---:|" * (len(head) - 3)]
    md += ["| " + " | ".join(b) + " |" for b in body]
    widths = [max(len(head[i]), *(len(b[i]) for b in body)) if body else len(head[i]) for i in range(len(head))]

    def fmt(cols):
        return "  ".join(c.ljust(w) if i < 3 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths)))
    text = [f"memory: {spec['name']}, {args.memory_mb:g} MB of documents (~6.5 KB each; english, multilingual and "
            "the stdlib code corpus, about 40 MB distinct) per library and mode, each in a fresh process; VmRSS in "
            "MB (2^20 bytes): before the import (the text already in memory), after the load, after 25% and 100% "
            "of the text; peak = VmHWM from the import on",
            fmt(head), "-" * len(fmt(head))] + [fmt(b) for b in body]
    return "\n".join(text), "\n".join(md)


# ---------------------------------------------------------------- the parent

def prepare_specs(args, workdir: Path) -> tuple[list, list]:
    """The (library, tokenizer) pairs to measure as child specs, and notes on what was left out."""
    import bench_tokenize as bt
    import warptok.encodings
    vocab = args.data / "vocab"
    specs, notes, json_paths = [], [], {}
    versions = {lib: library_version(lib, args) for lib in args.libs}
    notes += [f"{lib}: {version}" for lib, version in versions.items()]
    hf_args = argparse.Namespace(data=args.data, llama3=args.llama3, qwen25=args.qwen25)
    for name in args.tokenizers:
        for lib in args.libs:
            if versions[lib].startswith("not installed"):
                continue
            spec = {"library": lib, "tokenizer": name, "loads": args.loads,
                    "sample": str(args.data / bt.CORPUS_FILES["english"])}
            if lib == "tiktoken" and name not in TIKTOKEN_STYLE or \
                    lib == "quicktok" and name not in QUICKTOK_NAMES or \
                    lib == "bpe_openai" and name not in BPE_OPENAI_NAMES:
                continue
            if lib == "tiktoken":
                pattern, specials, _ = warptok.encodings.ENCODINGS[name]
                spec.update(pattern=warptok.encodings.R50K_PATTERN if name == "gpt2" else pattern,
                            specials=specials, ranks=str(vocab / f"{name}.tiktoken"),
                            vocab_bpe=str(vocab / "gpt2_vocab.bpe"), encoder_json=str(vocab / "gpt2_encoder.json"))
            needs_json = lib in ("tokenizers", "tokenizers-1.0") or lib == "warptok" and name not in TIKTOKEN_STYLE
            if needs_json:
                if name not in json_paths:
                    text, source = bt.tokenizer_json(name, hf_args)
                    if text is None:
                        json_paths[name] = None
                        notes.append(f"{name}: no tokenizer.json ({source})")
                    else:
                        json_paths[name] = workdir / f"{name}.tokenizer.json"
                        json_paths[name].write_text(text, encoding="utf-8")
                if json_paths[name] is None:
                    continue
                spec["json"] = str(json_paths[name])
            specs.append(spec)
    return specs, notes


def library_version(lib: str, args) -> str:
    """The library's version, or "not installed (...)"."""
    if lib == "tokenizers-1.0":
        import bench_tokenize as bt
        return bt.hf1_version(args.hf1_python)
    import importlib.util
    if importlib.util.find_spec(lib) is None:
        return "not installed"
    from importlib import metadata
    return metadata.version({"quicktok": "quicktok-v1", "bpe_openai": "bpe-openai"}.get(lib, lib))


def run_child(python: str, flag: str, payload: dict) -> dict:
    done = subprocess.run([python, __file__, flag, json.dumps(payload)], capture_output=True, text=True)
    if done.returncode != 0:
        return {"error": (done.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(done.stdout)


def render_load_table(results: list, markdown: bool) -> str:
    head = ("tokenizer", "library", "import ms", "first load ms", "load ms", "import MB", "load MB", "encode MB")
    body, errors = [], []
    for spec, r in results:
        if "error" in r:
            body.append((spec["tokenizer"], spec["library"], "error", "", "", "", "", ""))
            errors.append(f"{spec['library']} on {spec['tokenizer']}: {r['error']}")
            continue
        repeat = "cached" if spec["library"] == "bpe_openai" else f"{r['load_ms']:.0f}"
        body.append((spec["tokenizer"], spec["library"], f"{r['import_ms']:.0f}", f"{r['first_ms']:.0f}", repeat,
                     f"{r['import_mb']:.1f}", f"{r['load_mb']:.1f}", f"{r['encode_mb']:.1f}"))
    if markdown:
        lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
        lines += ["| " + " | ".join(b) + " |" for b in body]
        return "\n".join(lines + ([""] if errors else []) + [f"- error: {e}" for e in errors])
    widths = [max(len(head[i]), *(len(b[i]) for b in body)) for i in range(len(head))]

    def fmt(cols):
        return "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(cols, widths)))
    lines = [fmt(head), "-" * len(fmt(head))] + [fmt(b) for b in body]
    return "\n".join(lines + [f"error: {e}" for e in errors])


def render_long_run(r: dict, tokenizers: list) -> str:
    if "error" in r:
        return f"long run: error: {r['error']}"
    rss = r["rss"]
    passes = [k for k in rss if k != "loaded"]
    first, last = rss[passes[0]], rss[passes[-1]]
    return "\n".join([
        f"long run (warptok with {', '.join(tokenizers)} loaded in one process; {r['corpora_mb']:.1f} MB of corpora per pass "
        f"in 3 modes, {r['mb_per_pass']:.0f} MB encoded per pass, {r['threads']} threads, {r['seconds']:.0f} s):",
        f"  VmRSS MB after loading: {rss['loaded']:.1f}; after pass " +
        ", ".join(f"{k}: {v:.1f}" for k, v in rss.items() if k != "loaded"),
        f"  after every pass between {min(rss[k] for k in passes):.1f} and {max(rss[k] for k in passes):.1f} MB; "
        f"pass {passes[-1]} minus pass {passes[0]}: {last - first:+.1f} MB ({(last - first) / first * 100:+.1f}%)"])


def parse_args(argv=None):
    import bench_tokenize as bt
    from bench_tokenize import csv

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-t", "--tokenizers", type=csv(TOKENIZERS), default=list(TOKENIZERS),
                   help=f"comma-separated subset of {','.join(TOKENIZERS)} (default: all)")
    p.add_argument("--libs", type=csv(LIBRARIES), default=list(LIBRARIES),
                   help=f"comma-separated subset of {','.join(LIBRARIES)} (default: all that are installed)")
    p.add_argument("--loads", type=int, default=5, help="loads after the first, for the median (default: 5)")
    p.add_argument("--passes", type=int, default=20, help="passes of the long run; 0 to skip it (default: 20)")
    p.add_argument("--memory-mb", type=float, default=100,
                   help="memory table: MB each library encodes, per mode (single, batch), in a fresh process "
                        "(default: 100; 0 skips it)")
    p.add_argument("--memory-tokenizer", default="llama3", choices=bt.ALL_TOKENIZERS,
                   help="memory table: the tokenizer (default: llama3)")
    import _peers
    p.add_argument("--memory-libs", type=csv(_peers.LIBS), default=list(_peers.LIBS),
                   help="memory table: libraries, where installed (default: all)")
    p.add_argument("--threads", type=int, help="memory table: threads for batch calls (default: all cores)")
    p.add_argument("--docs", nargs="?", type=Path, const=bt.DOCS_FILE,
                   help="write the run into its section (<!-- begin/end bench_load.py -->) of this markdown file "
                        "(default: docs/benchmarks.md)")
    bt.add_source_args(p)
    args = p.parse_args(argv)
    if args.loads < 1:
        p.error("--loads must be >= 1")
    return args


def main(argv=None):
    if len(sys.argv) == 3 and sys.argv[1] in ("--child-load", "--child-long-run", "--child-memory"):
        payload = json.loads(sys.argv[2])
        if sys.argv[1] == "--child-memory":
            result = measure_memory(payload)
        elif sys.argv[1] == "--child-load":
            result = measure_load(payload)
        else:
            result = long_run(payload["tokenizers"], payload["passes"], Path(payload["data"]),
                              payload["llama3"], payload["qwen25"])
        json.dump(result, sys.stdout)
        return 0

    args = parse_args(argv)
    command = "python benchmarks/bench_load.py " + " ".join(sys.argv[1:] if argv is None else argv)
    os.environ.setdefault("WARPTOK_DATA_DIR", str(args.data / "vocab"))
    os.environ["TIKTOKEN_CACHE_DIR"] = ""                    # tiktoken reads the local rank files as they are
    import bench_tokenize as bt
    import warptok
    header = [f"CPU: {bt.cpu_model()}, {warptok.cpu_count()} cores; Python {sys.version.split()[0]}",
              f"warptok {warptok.__version__} (allocator: {warptok.allocator()})",
              f"each (library, tokenizer) in a fresh process; load ms = median of {args.loads} loads after the first; "
              f"MB = VmRSS added (2^20 bytes)"]
    with tempfile.TemporaryDirectory(prefix="warptok-bench-load-") as workdir:
        specs, notes = prepare_specs(args, Path(workdir))
        header[2:2] = ["libraries: " + "; ".join(notes)]
        print("# warptok load time and memory")
        for h in header:
            print("#", h)
        print(flush=True)
        results = []
        for spec in specs:
            log(f"load: {spec['tokenizer']} with {spec['library']}")
            python = args.hf1_python if spec["library"] == "tokenizers-1.0" else sys.executable
            results.append((spec, run_child(python, "--child-load", spec)))
    table = render_load_table(results, markdown=False)
    print(table)
    long_text = ""
    if args.passes:
        log(f"long run: {args.passes} passes")
        run = run_child(sys.executable, "--child-long-run",
                        {"tokenizers": args.tokenizers, "passes": args.passes, "data": str(args.data),
                         "llama3": args.llama3, "qwen25": args.qwen25})
        long_text = render_long_run(run, args.tokenizers)
        print()
        print(long_text)
    memory_text_out = memory_md = ""
    if args.memory_mb:
        with tempfile.TemporaryDirectory(prefix="warptok-bench-mem-") as workdir:
            spec, notes = bt.build_spec(args.memory_tokenizer, args, Path(workdir), args.threads or
                                        warptok.cpu_count(), list(args.memory_libs))
            if spec is None:
                memory_text_out = f"memory: {args.memory_tokenizer} skipped: {'; '.join(notes)}"
            else:
                memory_text_out, memory_md = memory_table(args, spec)
        print()
        print(memory_text_out)
    if args.markdown or args.docs:
        md = [f"`{command}`", ""]
        md += [f"- {h}" for h in header] + ["", render_load_table(results, markdown=True)]
        if long_text:
            md += ["", "```", long_text, "```"]
        if memory_md:
            md += ["", memory_text_out.splitlines()[0] + ":", "", memory_md]
        if args.markdown:
            args.markdown.write_text("<!-- generated by benchmarks/bench_load.py -->\n\n" + "\n".join(md) + "\n",
                                     encoding="utf-8")
            print(f"markdown written to {args.markdown}")
        if args.docs:
            bt.write_docs_section(args.docs, "\n".join(["## Load time and memory", ""] + md) + "\n", "bench_load.py")
            print(f"section bench_load of {args.docs} written")
    return 0


if __name__ == "__main__":
    sys.exit(main())
