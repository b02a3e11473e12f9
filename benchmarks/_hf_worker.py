#!/usr/bin/env python3
"""HF `tokenizers` in an interpreter of its own, for bench_tokenize.py.

tokenizers 1.0 cannot share a process (or a venv) with the 0.23 that the rest of the
benchmark uses, so bench_tokenize.py runs this file with the other venv's python, on the
same documents, while it waits. In one run it

1. encodes every document in every mode and saves the ids to --ids-out (.npz with
   ``{mode}_ids`` uint32 and ``{mode}_offsets`` int64), for bench_tokenize's id check;
2. times every mode --repeat times (modes interleaved within each repeat, the garbage
   collector off while a run is timed, as in bench_tokenize) and prints one JSON object:
   ``{"version": ..., "seconds": {mode: [seconds, ...]}}``.

Modes: ``single`` (one ``encode`` per document) and ``batch`` (one ``encode_batch`` on all
threads; its rayon pool is sized by --threads). Needs only tokenizers and numpy.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from bench_tokenize import timed   # stdlib-only module beside this one: one timing rule


def flat(id_lists):
    import numpy as np
    offsets = np.zeros(len(id_lists) + 1, dtype=np.int64)
    np.cumsum([len(ids) for ids in id_lists], out=offsets[1:])
    ids = np.fromiter((i for doc in id_lists for i in doc), dtype=np.uint32, count=int(offsets[-1]))
    return ids, offsets


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--tokenizer", required=True, help="tokenizer.json")
    p.add_argument("--docs", required=True, help="JSON list of the documents")
    p.add_argument("--modes", default="single,batch", help="comma-separated subset of single,batch")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--threads", type=int, required=True, help="threads for encode_batch")
    p.add_argument("--ids-out", required=True, help="where to save every mode's ids (.npz)")
    args = p.parse_args(argv)
    os.environ["RAYON_NUM_THREADS"] = str(args.threads)      # read when rayon's pool starts
    os.environ["TOKENIZERS_PARALLELISM"] = "true"
    import numpy as np
    import tokenizers

    tok = tokenizers.Tokenizer.from_file(args.tokenizer)
    with open(args.docs, encoding="utf-8") as f:
        docs = json.load(f)
    calls = {
        "single": lambda: [tok.encode(d, add_special_tokens=False).ids for d in docs],
        "batch": lambda: [e.ids for e in tok.encode_batch(docs, add_special_tokens=False)],
    }
    modes = args.modes.split(",")
    saved = {}
    for mode in modes:
        saved[f"{mode}_ids"], saved[f"{mode}_offsets"] = flat(calls[mode]())
    np.savez(args.ids_out, **saved)
    del saved
    seconds = {mode: [] for mode in modes}
    for _ in range(args.repeat):
        for mode in modes:
            seconds[mode].append(timed(calls[mode]))
    json.dump({"version": tokenizers.__version__, "seconds": seconds}, sys.stdout)


if __name__ == "__main__":
    main()
