#!/usr/bin/env python3
"""One library in an interpreter of its own, for bench_tokenize.py.

Two jobs, each described by a JSON file that bench_tokenize.py writes:

``cell JOB``  a library that cannot share the benchmark's process or venv (HF tokenizers
    1.0 cannot be installed beside the 0.23 that transformers needs): the same warm-up,
    unseen sets and repeated set as the libraries in the cell process
    (``_peers.execute_cell``), with its ids checked against the reference ids that come
    with the job. Its timings never overlap the others' (bench_tokenize waits), but are
    not interleaved with theirs either.

``fresh JOB``  the "first pass in a fresh process" table: load the library (timed), then
    encode one set once in one mode with the call chosen in the cell (timed), and check
    the ids.

Prints one JSON object. Needs only the library itself and numpy; run it with the
python of whatever venv holds the library.
"""

from __future__ import annotations

import json
import sys
import time

import _peers   # stdlib-only at import: it sits beside this file


def load_refs(path):
    """{key: (lists, flat)} from the .npz bench_tokenize wrote (keys "<key>|ids", "<key>|offsets")."""
    import numpy as np
    refs = {}
    with np.load(path) as z:
        for name in z.files:
            key, part = name.rsplit("|", 1)
            refs.setdefault(key, {})[part] = z[name]
    out = {}
    for key, d in refs.items():
        ids, offsets = d["ids"], d["offsets"]
        out[key] = ([ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(offsets) - 1)], (ids, offsets))
    return out


def cell(job):
    _peers.set_thread_env(job["threads"])
    with open(job["sets"], encoding="utf-8") as f:
        sets = json.load(f)
    refs = {k.replace(":", "/"): v for k, v in load_refs(job["refs"]).items()}
    lib = job["lib"]
    try:
        adapter = _peers.load(lib, job["spec"])
    except _peers.Unsupported as e:
        return {"unsupported": str(e)}
    result = _peers.execute_cell({lib: adapter}, job["modes"], sets["W"], sets["U"], refs, job["repeat"], job["seed"],
                                 slow_s=job.get("slow_s", 0))
    return {"version": _peers.version(lib), "load": adapter.load, "result": result[lib]}


def fresh(job):
    _peers.set_thread_env(job["threads"])
    with open(job["docs"], encoding="utf-8") as f:
        docs = json.load(f)
    refs = load_refs(job["ref"])
    lists, flat = refs["set"]
    t0 = time.perf_counter()
    adapter = _peers.load(job["lib"], job["spec"])
    load_s = time.perf_counter() - t0
    fn = _peers.call_by_label(adapter, job["mode"], job["label"])
    wall, cpu, out = _peers.timed(_peers.runner(fn, job["mode"]), docs)
    problem = _peers.compare(out, len(docs), lists, flat)
    return {"load_s": load_s, "wall": wall, "cpu": cpu, "bytes": _peers.set_bytes(docs), "problem": problem}


def main():
    kind, path = sys.argv[1], sys.argv[2]
    with open(path, encoding="utf-8") as f:
        job = json.load(f)
    result = {"cell": cell, "fresh": fresh}[kind](job)
    sys.stdout.write(json.dumps(result))


if __name__ == "__main__":
    main()
