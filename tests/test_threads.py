"""One tokenizer shared by real threads, and the worker pool across fork."""

import os
import random
import subprocess
import sys
import threading

import pytest

from conftest import corpus, ours, with_core


def test_threads_share_one_tokenizer_with_mixed_calls():
    tok = ours("llama3")
    docs = corpus("english")[:400] + corpus("multilingual")[:40]
    serial = {(i, add, m): tok.encode(d, add_special_tokens=add, max_length=m)
              for i, d in enumerate(docs) for add in (True, False) for m in (None, 16)}
    errors, mismatches = [], []

    def worker(seed):
        rnd = random.Random(seed)
        try:
            for _ in range(60):
                add, m = rnd.choice((True, False)), rnd.choice((None, 16))
                if rnd.random() < 0.5:
                    i = rnd.randrange(len(docs))
                    if tok.encode(docs[i], add_special_tokens=add, max_length=m) != serial[(i, add, m)]:
                        mismatches.append(i)
                else:
                    idx = rnd.sample(range(len(docs)), 20)
                    got = tok.encode_batch([docs[i] for i in idx], add_special_tokens=add, max_length=m,
                                           num_threads=rnd.choice((None, 1, 2, 4)))
                    mismatches.extend(i for i, g in zip(idx, got) if g != serial[(i, add, m)])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors and not mismatches


@pytest.mark.parametrize("sets", [1, 4])
def test_threads_contending_for_a_few_cache_sets_stay_exact(sets):
    # The piece cache is one per tokenizer, shared by the threads without locks.
    # With one set (four entries) or four, each thread's new pieces are written
    # over entries the others are reading at that moment: a torn read taken as a
    # hit, or a write lost half-way, would give wrong ids.
    tok = ours("llama3")
    small = with_core(tok, piece_cache_sets=sets)
    docs = corpus("multilingual")[:200] + corpus("english")[:200]
    want = [tok.encode(d) for d in docs]
    for threads in (2, 8):
        assert small.encode_batch(docs, num_threads=threads) == want
    mismatches = []

    def worker(seed):
        order = random.Random(seed).sample(range(len(docs)), 150)
        mismatches.extend(i for i in order if small.encode(docs[i]) != want[i])

    threads = [threading.Thread(target=worker, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not mismatches


def test_batch_order_is_preserved_with_uneven_documents():
    tok = ours("cl100k_base")
    docs = [("x" * (i * 997 % 5000)) + str(i) for i in range(500)]
    assert tok.encode_ordinary_batch(docs, num_threads=4) == [tok.encode_ordinary(d) for d in docs]
    assert tok.encode_ordinary_batch([]) == []
    ids, offsets = tok.encode_ordinary_batch_flat([])
    assert len(ids) == 0 and offsets.tolist() == [0]


@pytest.mark.parametrize("threads", [1, 2, 3, 8])
def test_batch_lists_built_while_encoding_equal_the_flat_result(threads):
    # Lists are built for the chunks done while the pool encodes later ones:
    # many chunks of uneven documents, finished out of order by the threads.
    tok = ours("llama3")
    docs = corpus("english")[:300] + corpus("multilingual")[:60] + ["", "x" * 70000, " "] * 3
    random.Random(threads).shuffle(docs)
    lists = tok.encode_batch(docs, add_special_tokens=True, num_threads=threads)
    ids, offsets = tok.encode_batch_flat(docs, add_special_tokens=True, num_threads=threads)
    assert lists == [ids[offsets[i]:offsets[i + 1]].tolist() for i in range(len(docs))]
    assert lists == [tok.encode(d, add_special_tokens=True) for d in docs]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_pool_works_in_a_forked_child():
    # The pool has threads in the parent; the child must start its own.
    code = r"""
import os, sys, warptok
enc = warptok.get_encoding("gpt2")
docs = ["hello world %d " % i * 50 for i in range(2000)]
want = enc.encode_ordinary_batch(docs, num_threads=2)
pid = os.fork()
if pid == 0:
    ok = enc.encode_ordinary_batch(docs, num_threads=2) == want
    os._exit(0 if ok else 3)
_, status = os.waitpid(pid, 0)
sys.exit(os.waitstatus_to_exitcode(status))
"""
    r = subprocess.run([sys.executable, "-W", "error", "-c", code], timeout=120, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr


def test_first_array_results_from_many_threads_at_once():
    """The first encode_to_numpy of a process imports numpy and finds its C API,
    under a lock (the module is free-threading compatible): 16 threads racing to be first
    all get uint32 arrays equal to encode. A fresh process, so that none has gone first."""
    code = """if True:
        import sys, threading
        import warptok
        enc = warptok.get_encoding("gpt2")
        texts = ["hello world " * (i + 1) for i in range(16)]
        out = [None] * 16
        start = threading.Barrier(16)
        def go(i):
            start.wait()
            out[i] = enc.encode_to_numpy(texts[i])
        threads = [threading.Thread(target=go, args=(i,)) for i in range(16)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert all(str(a.dtype) == "uint32" and a.tolist() == enc.encode(t) for a, t in zip(out, texts))
    """
    subprocess.run([sys.executable, "-c", code], check=True, timeout=300)
