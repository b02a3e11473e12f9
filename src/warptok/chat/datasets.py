"""Chat datasets as conversations ``{"id", "messages", "tools"}``: OpenAI ``messages``
JSON/JSONL, ShareGPT ``conversations``, and flat one-row-per-message JSONL."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Iterable

from .. import errors

_SHAREGPT_ROLES = {
    "human": "user", "user": "user",
    "gpt": "assistant", "assistant": "assistant", "chatgpt": "assistant", "bard": "assistant",
    "bing": "assistant", "model": "assistant",
    "system": "system",
    "tool": "tool", "observation": "tool", "function": "tool", "ipython": "tool",
    "function_call": "function_call",
}


def parse_tool_arguments(messages: list) -> list:
    """Copies of ``messages`` whose ``tool_calls[*].function.arguments`` JSON strings are parsed
    into objects (templates such as Qwen3.5's iterate over the arguments; serving stacks parse
    them before templating). Strings that are not JSON objects stay as they are."""
    out = []
    for m in messages:
        calls = m.get("tool_calls") if isinstance(m, Mapping) else None
        if calls:
            new_calls = []
            for call in calls:
                fn = call.get("function") if isinstance(call, Mapping) else None
                args = fn.get("arguments") if isinstance(fn, Mapping) else None
                if isinstance(args, str):
                    try:
                        parsed = json.loads(args)
                    except ValueError:
                        parsed = None
                    if isinstance(parsed, dict):
                        call = {**call, "function": {**fn, "arguments": parsed}}
                new_calls.append(call)
            m = {**m, "tool_calls": new_calls}
        out.append(m)
    return out


def _load_records(path) -> list:
    path = Path(path)
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if path.suffix != ".jsonl" and stripped[:1] in ("[", "{"):
        try:
            value = json.loads(text)
        except ValueError:
            value = None                         # JSONL that starts with '{'
        if isinstance(value, list):
            return value
        if isinstance(value, dict):
            for key in ("conversations", "data", "rows", "records"):
                if isinstance(value.get(key), list) and value[key] and isinstance(value[key][0], dict) \
                        and not {"from", "role"} & set(value[key][0]):
                    return value[key]
            return [value]
    records = []
    for n, line in enumerate(text.splitlines(), 1):
        if line.strip():
            try:
                records.append(json.loads(line))
            except ValueError as e:
                raise errors.ValueError(f"{path}:{n}: not a JSON line: {e}") from None
    return records


def read_conversations(path, *, tool_arguments: str = "string") -> list[dict]:
    """Conversations ``{"id", "messages", "tools"}`` from a dataset file.

    Shapes (recognised per record): OpenAI ``{"messages": [...], "tools": [...]}`` (JSON array
    or JSONL); ShareGPT ``{"conversations": [{"from": "human", "value": ...}, ...]}``; flat rows,
    one message per line, grouped by ``conversation_id`` and ordered by ``turn``: ``role``,
    ``content``, ``system`` (a system message first), ``tools`` (the conversation's tools),
    ``reasoning_content``, ``tool_calls``, ``tool_results`` (one tool message per result).
    ``tool_arguments="object"`` parses tool-call argument strings into objects (see
    :func:`parse_tool_arguments`)."""
    return conversations_from_records(_load_records(path), tool_arguments=tool_arguments, source=str(path))


def conversations_from_records(records: Iterable, *, tool_arguments: str = "string", source="records") -> list:
    """:func:`read_conversations` for records already loaded."""
    if tool_arguments not in ("string", "object"):
        raise errors.ValueError("tool_arguments must be 'string' or 'object'")
    out, flat = [], {}
    for n, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise errors.ValueError(f"{source}: record {n} is not an object")
        if "messages" in rec:
            out.append({"id": rec.get("id", n), "messages": list(rec["messages"]), "tools": _tools(rec.get("tools"))})
        elif "conversations" in rec or "conversation" in rec:
            out.append(_from_sharegpt(rec, n))
        elif "role" in rec and ("conversation_id" in rec or "session_id" in rec):
            cid = rec.get("conversation_id", rec.get("session_id"))
            group = flat.get(cid)
            if group is None:
                group = flat[cid] = []
                out.append(("flat", cid))
            group.append(rec)
        elif "turns" in rec:
            raise errors.ValueError(f"{source}: record {n} has only 'turns' (questions without answers, like "
                                    "MT-Bench): later turns depend on the model's replies, so their input length "
                                    "is not in the data")
        else:
            raise errors.ValueError(f"{source}: record {n} is not a conversation (expected 'messages', "
                                    "'conversations', or flat rows with 'conversation_id' and 'role'); "
                                    f"keys: {sorted(rec)[:10]}")
    result = []
    for item in out:
        if isinstance(item, tuple):
            item = _from_flat(item[1], flat[item[1]])
        if tool_arguments == "object":
            item["messages"] = parse_tool_arguments(item["messages"])
        result.append(item)
    return result


def _tools(tools):
    if isinstance(tools, str):
        tools = json.loads(tools) if tools.strip() else None
    return tools or None


def _from_sharegpt(rec, n):
    turns = rec.get("conversations", rec.get("conversation"))
    messages = []
    if rec.get("system"):
        messages.append({"role": "system", "content": rec["system"]})
    for t in turns:
        role = t.get("from", t.get("role"))
        content = t.get("value", t.get("content"))
        mapped = _SHAREGPT_ROLES.get(str(role).lower())
        if mapped is None:
            raise errors.ValueError(f"ShareGPT record {n}: unknown speaker {role!r}")
        if mapped == "function_call":
            call = json.loads(content) if isinstance(content, str) else content
            args = call.get("arguments", {})
            messages.append({"role": "assistant", "content": "", "tool_calls": [{
                "type": "function",
                "function": {"name": call.get("name"),
                             "arguments": args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)}}]})
        else:
            messages.append({"role": mapped, "content": content})
    return {"id": rec.get("id", n), "messages": messages, "tools": _tools(rec.get("tools"))}


def _from_flat(cid, rows):
    if any("turn" in r for r in rows):
        rows = sorted(rows, key=lambda r: r.get("turn", 0))      # stable: file order within a turn
    messages, tools = [], None
    for r in rows:
        role = r["role"]
        if r.get("tools") and tools is None:
            tools = _tools(r["tools"])
        if r.get("system") and not messages:
            messages.append({"role": "system", "content": r["system"]})
        if role == "tool" and r.get("tool_results"):
            for res in r["tool_results"]:
                m = {"role": "tool", "content": res.get("content", "")}
                for key in ("tool_call_id", "name"):
                    if res.get(key) is not None:
                        m[key] = res[key]
                messages.append(m)
            continue
        m = {"role": role, "content": r.get("content") if r.get("content") is not None else ""}
        for key in ("reasoning_content", "tool_calls", "tool_call_id", "name"):
            if r.get(key) is not None:
                m[key] = r[key]
        messages.append(m)
    return {"id": cid, "messages": messages, "tools": tools}
