"""``warptok isl``: the input length of every client turn of a chat dataset.

    warptok isl DATASET --model DIR [--out FILE] [--verify N]

DATASET is OpenAI ``messages`` JSON/JSONL, ShareGPT ``conversations`` JSON/JSONL, or flat
one-row-per-message JSONL (see :func:`warptok.chat.read_conversations`). --model is a model
directory (tokenizer.json + tokenizer_config.json / chat_template.jinja) or a repo id in the
local Hugging Face cache. Prints totals; --out writes one row per client turn (JSONL, or CSV
when the name ends in .csv).
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from pathlib import Path

from ..errors import CommandError, WarptokError
from .common import add_threads, run as run_command


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "isl", help="count the input tokens of every client turn of a chat dataset (chat template applied)",
        description="Exact per-turn input lengths (transformers' apply_chat_template counts) of a chat dataset.")
    p.add_argument("dataset", help="OpenAI messages / ShareGPT / flat per-message rows, .json or .jsonl")
    p.add_argument("--model", required=True,
                   help="model directory (tokenizer.json, tokenizer_config.json) or a repo id in the HF cache")
    p.add_argument("--out", help="per-turn counts: .jsonl (default) or .csv")
    p.add_argument("--format", choices=("jsonl", "csv"), help="format of --out (default: from its suffix)")
    p.add_argument("--verify", default="8",
                   help="compare N sampled turns with a full encode ('all' for every turn, 0 for none; default 8); "
                        "any mismatch recounts everything by full encoding")
    add_threads(p)
    p.add_argument("--chat-template", help="a template file, or the name of one of the model's named templates")
    p.add_argument("--template-kwargs", default=None,
                   help='extra template variables as JSON, e.g. \'{"enable_thinking": false}\'')
    p.add_argument("--no-generation-prompt", action="store_true",
                   help="render without add_generation_prompt (default: with it)")
    p.add_argument("--tool-arguments", choices=("string", "object"), default="string",
                   help="pass tool-call arguments as the JSON strings of the data (default) or parsed objects "
                        "(templates that iterate over arguments, e.g. Qwen3.5)")
    p.add_argument("--skip-errors", action="store_true",
                   help="skip conversations the template cannot render (default: stop with the error)")
    p.add_argument("--limit", type=int, default=None, help="only the first N conversations")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.set_defaults(run=run)


def _verify_arg(text: str):
    if text.lower() in ("all", "true"):
        return "all"
    try:
        n = int(text)
    except ValueError:
        raise CommandError(f"--verify takes a number or 'all', not {text!r}") from None
    if n < 0:
        raise CommandError("--verify must be >= 0")
    return n


def run(args) -> int:
    from .. import chat
    from ..tokenizer import Tokenizer

    verify = _verify_arg(args.verify)
    template_kwargs = None
    if args.template_kwargs:
        try:
            template_kwargs = json.loads(args.template_kwargs)
        except ValueError as e:
            raise CommandError(f"--template-kwargs is not JSON: {e}") from None
        if not isinstance(template_kwargs, dict):
            raise CommandError("--template-kwargs must be a JSON object")

    t0 = time.perf_counter()
    try:
        tok = Tokenizer.from_pretrained(args.model)
    except (FileNotFoundError, ValueError) as e:
        raise CommandError(f"--model: {e}") from None
    chat_template = args.chat_template
    if chat_template and Path(chat_template).is_file():
        chat_template = Path(chat_template).read_text(encoding="utf-8")
    try:
        conversations = chat.read_conversations(args.dataset, tool_arguments=args.tool_arguments)
    except (OSError, ValueError) as e:
        raise CommandError(f"{args.dataset}: {e}") from None
    if args.limit is not None:
        conversations = conversations[: args.limit]
    t_load = time.perf_counter() - t0

    try:
        res = chat.count_chat_tokens_detailed(
            conversations, tok, chat_template=chat_template, add_generation_prompt=not args.no_generation_prompt,
            chat_template_kwargs=template_kwargs, num_threads=args.threads, progress=not args.no_progress,
            verify=verify, on_error="skip" if args.skip_errors else "raise")
    except chat.ChatTemplateError as e:
        raise CommandError(f"{e}\n(--skip-errors skips such conversations; --tool-arguments object "
                           "helps templates that iterate over tool-call arguments)") from None
    except (ValueError, WarptokError) as e:
        raise CommandError(str(e)) from None

    counts = [c for conv in res.counts if conv is not None for c in conv]
    n_msgs = sum(len(c["messages"]) for c in conversations)
    print(f"model {args.model}  dataset {args.dataset}")
    print(f"{len(conversations)} conversations  {n_msgs} messages  {len(counts)} client turns"
          + (f"  ({len(res.errors)} conversations skipped)" if res.errors else ""))
    if counts:
        print(f"input tokens: total {sum(counts):,}  mean {sum(counts) / len(counts):,.1f}  "
              f"max {max(counts):,}  min {min(counts):,}")
    rate = res.n_turns / res.seconds if res.seconds > 0 else 0.0
    print(f"time: load {t_load:.2f} s  count {res.seconds:.2f} s  {rate:,.0f} turns/s  "
          f"(rendered {res.rendered_bytes / 1e6:,.1f} MB, tokenized {res.unique_bytes / 1e6:,.2f} MB "
          f"in {res.unique_segments:,} distinct pieces)")
    if res.fallback:
        print(f"verification: {res.mismatches} of {res.verified} sampled turns differed: every turn was recounted "
              "by full encoding")
    else:
        print(f"verification: {res.verified} turns compared with a full encode, all equal")
    for ci, msg in list(res.errors.items())[:5]:
        print(f"skipped: {msg}", file=sys.stderr)

    if args.out:
        fmt = args.format or ("csv" if args.out.lower().endswith(".csv") else "jsonl")
        _write(args.out, fmt, conversations, res)
        print(f"wrote {len(counts)} rows to {args.out}")
    return 0


def _rows(conversations, res):
    for conv, counts, turns in zip(conversations, res.counts, res.turn_indices):
        if counts is None:
            continue
        for k, (i, n) in enumerate(zip(turns, counts), 1):
            yield {"conversation": conv.get("id"), "turn": k, "message_index": i,
                   "role": conv["messages"][i].get("role"), "isl": n}


def _write(path, fmt, conversations, res):
    fields = ["conversation", "turn", "message_index", "role", "isl"]
    with open(path, "w", encoding="utf-8", newline="") as f:
        if fmt == "csv":
            w = csv.DictWriter(f, fieldnames=fields)
            w.writeheader()
            w.writerows(_rows(conversations, res))
        else:
            for row in _rows(conversations, res):
                f.write(json.dumps(row, ensure_ascii=False) + "\n")


def main(argv=None) -> int:
    """Run ``isl`` alone (``python -m warptok.cli.isl DATASET --model DIR``)."""
    parser = argparse.ArgumentParser(prog="warptok")
    sub = parser.add_subparsers(dest="command", required=True)
    register(sub)
    return run_command(parser, ["isl", *(sys.argv[1:] if argv is None else argv)])


if __name__ == "__main__":
    sys.exit(main())
