"""Chat-dataset token counting: the input length (ISL) of every client turn, exactly.

For a conversation ``messages`` and each client turn ``i`` (a user or tool message that the
next message, if any, answers as assistant) the count is the one transformers gives::

    len(tokenizer.apply_chat_template(messages[:i+1], tools=tools, add_generation_prompt=True,
                                      tokenize=True, return_dict=False))

:func:`count_chat_tokens` returns these counts for a whole dataset with tokenization work that
grows with the text, not with turns². Each turn is still rendered, with transformers' Jinja
environment (reproduced in ``template.py``: the immutable sandbox, ``trim_blocks``/``lstrip_blocks``,
``loopcontrols``, the ``generation`` tag, ``tojson``, ``raise_exception``, ``strftime_now``;
two exact shortcuts make its attribute checks cheaper); what is not redone is the
tokenization. Hugging Face ``tokenizers`` first splits the added tokens matched on the raw
text out of it (leftmost-longest), then normalizes and tokenizes each piece between them on
its own, so

    count(rendered) = number of added tokens + sum of count(piece) over the pieces between them.

A piece is counted once per distinct text (cached by its exact bytes) and all new pieces are
tokenized together on the native worker pool. Within a conversation, the prefix of a turn's
rendered text that is byte-identical to the previous turn's, with identical added-token
spans, keeps the previous turn's running counts, so each turn costs Python work only for its
new part. Nothing assumes that a template only appends: a template that rewrites earlier
turns (dropping old reasoning, say) only loses the reuse of what changed.

Verification: ``verify=N`` compares N sampled turns (``"all"``: every turn) with a full
encode of the rendered text; any difference makes the whole run fall back to full encoding
of every turn, with a warning — never a silently wrong count.

Readers for the usual dataset shapes (:func:`read_conversations`): OpenAI ``messages``
JSON/JSONL, ShareGPT ``conversations``, and flat one-row-per-message JSONL
(``conversation_id``, ``turn``, ``role``, ``content``, ``tools``, ``tool_calls``,
``tool_results``, ``system``, ...).

Here: the counting. ``template.py`` renders (transformers' Jinja environment),
``datasets.py`` reads datasets; the tokenizer's segment API (``Tokenizer._split_added``,
``Tokenizer._encode_segments``) splits and encodes exactly as ``encode`` does.
"""

from __future__ import annotations

import dataclasses
import random
import time
import warnings
from collections.abc import Mapping
from typing import Iterable, Sequence

from .. import errors
from .._progress import Progress
from ..errors import ChatCountMismatch, ChatTemplateError
from ..tokenizer import Tokenizer, threads_argument
from .datasets import conversations_from_records, parse_tool_arguments, read_conversations
from .template import (Renderer, apply_chat_template, compile_template, prepare_messages, render_chat,
                       select_template, template_of)

__all__ = ["count_chat_tokens", "count_chat_tokens_detailed", "count_chat_tokens_full", "ISLResult",
           "apply_chat_template", "render_chat", "client_turns", "prepare_messages", "read_conversations",
           "conversations_from_records", "parse_tool_arguments", "compile_template", "select_template",
           "ChatTemplateError", "ChatCountMismatch"]


# ====================================================================== turns

CLIENT_ROLES = ("user", "tool")


def client_turns(messages: Sequence[Mapping]) -> list[int]:
    """Indices of the client turns: a user or tool message that the next message (if any)
    answers as assistant."""
    n = len(messages)
    return [i for i, m in enumerate(messages)
            if m.get("role") in CLIENT_ROLES and (i + 1 == n or messages[i + 1].get("role") == "assistant")]


def _split(conversation, default_tools):
    """(messages, tools, id) of one conversation given as a list of messages or a record."""
    if isinstance(conversation, Mapping):
        messages = conversation.get("messages")
        if messages is None:
            raise errors.TypeError("a conversation record needs a 'messages' list "
                                   "(read datasets with warptok.chat.read_conversations)")
        tools = conversation.get("tools")
        return messages, default_tools if tools is None else tools, conversation.get("id")
    if hasattr(conversation, "messages"):
        return conversation.messages, default_tools, None
    return conversation, default_tools, None


# ====================================================================== counting

@dataclasses.dataclass
class ISLResult:
    """What a run counted and how it checked itself."""
    counts: list                      # per conversation: one count per client turn (None: skipped)
    turn_indices: list                # per conversation: the message index of each client turn
    n_turns: int = 0
    verified: int = 0                 # turns compared with a full encode
    mismatches: int = 0               # of those, how many differed (then fallback is True)
    fallback: bool = False            # counts come from full encoding of every turn
    errors: dict = dataclasses.field(default_factory=dict)   # conversation index -> message (on_error="skip")
    unique_segments: int = 0
    unique_bytes: int = 0
    rendered_bytes: int = 0
    seconds: float = 0.0


class _Segments:
    """Distinct text pieces (between added tokens), by exact bytes, and by whether they begin
    the rendered text when that changes their tokens (Metaspace's prepend_scheme "first")."""

    def __init__(self, by_start: bool = False):
        self.index = {(b"", False): 0}
        self.texts = [b""]
        self.starts = [False]
        self.by_start = by_start

    def id_of(self, data: bytes, at_start: bool = False) -> int:
        key = (data, at_start and self.by_start)
        k = self.index.get(key)
        if k is None:
            k = self.index[key] = len(self.texts)
            self.texts.append(data)
            self.starts.append(key[1])
        return k


def _reuse_point(data: bytes, spans: list, prev: bytes, prev_spans: list) -> int:
    """The largest r such that the first r added-token spans are the previous turn's and the
    text up to the end of span r-1 is byte-identical: the running counts up to there carry over."""
    m = min(len(spans), len(prev_spans))
    if m == 0:
        return 0
    view = memoryview(prev)

    def same(r):
        if r == 0:
            return True
        last = spans[r - 1]
        return (last == prev_spans[r - 1] and data.startswith(view[:last[1]])
                and spans[:r] == prev_spans[:r])

    # Gallop down from the top (the usual answer is near the end), then bisect.
    if same(m):
        return m
    lo, hi, step = 0, m, 1
    while hi - step > 0:
        if same(hi - step):
            lo = hi - step
            break
        hi, step = hi - step, step * 2
    while hi - lo > 1:               # same(lo) holds, same(hi) does not
        mid = (lo + hi) // 2
        if same(mid):
            lo = mid
        else:
            hi = mid
    return lo


def _check_tokenizer(tokenizer):
    if not isinstance(tokenizer, Tokenizer) or tokenizer.source != "huggingface":
        raise errors.TypeError("count_chat_tokens needs a warptok.Tokenizer loaded from a tokenizer.json "
                               "(Tokenizer.from_pretrained / from_file)")


def _sample(n_turns: int, verify) -> set:
    """Global turn numbers to verify: all, none, or ``verify`` of them (the last turn, which
    is usually the longest, and a seeded random choice of the rest)."""
    if verify is None or verify is False or verify == 0 or n_turns == 0:
        return set()
    if verify is True or verify == "all" or verify == -1:
        return set(range(n_turns))
    if isinstance(verify, bool) or not isinstance(verify, int) or verify < 0:
        raise errors.ValueError(f"verify must be a non-negative int, 'all', True or False, not {verify!r}")
    if verify >= n_turns:
        return set(range(n_turns))
    rng = random.Random(0x15C)
    return {n_turns - 1, *rng.sample(range(n_turns - 1), verify - 1)}


def count_chat_tokens(conversations: Iterable, tokenizer, *, chat_template: str | None = None, tools=None,
                      add_generation_prompt: bool = True, chat_template_kwargs: dict | None = None,
                      num_threads: int | None = None, progress=False, verify=8, on_error: str = "raise",
                      ) -> list[list[int]]:
    """Per conversation, the token count of every client turn: ``len(apply_chat_template(
    messages[:i+1], tools=tools, add_generation_prompt=True, tokenize=True))`` for each user or
    tool message ``i`` that the next message (if any) answers as assistant.

    ``conversations``: lists of OpenAI-style messages (``tool_calls``, tool messages and
    ``reasoning_content`` included), or records ``{"messages": [...], "tools": [...]}`` whose
    own ``tools`` override ``tools`` (what :func:`read_conversations` returns).
    ``tokenizer``: a :class:`warptok.Tokenizer` — from :meth:`Tokenizer.from_pretrained` for
    the model's own template and special tokens, or any tokenizer.json one with
    ``chat_template`` given. ``chat_template``: a template, or the name of one of the
    tokenizer's named templates. ``chat_template_kwargs``: extra template variables
    (``enable_thinking=False``, ...). ``num_threads``: threads for tokenizing (default: all
    CPUs). ``progress``: a tqdm bar (or any object with ``update``). ``verify``: how many
    sampled turns to compare with a full encode (``"all"``/``True``: every turn, 0: none); a
    mismatch makes the whole run fall back to full encoding, with a
    :class:`ChatCountMismatch` warning. ``on_error``: ``"raise"`` (default) raises
    :class:`ChatTemplateError` naming the conversation; ``"skip"`` gives ``None`` for it.
    """
    return count_chat_tokens_detailed(conversations, tokenizer, chat_template=chat_template, tools=tools,
                                      add_generation_prompt=add_generation_prompt,
                                      chat_template_kwargs=chat_template_kwargs, num_threads=num_threads,
                                      progress=progress, verify=verify, on_error=on_error).counts


def _render_turns(renderer, messages, turns):
    """Yield, per client turn, its rendered UTF-8 bytes or the exception that stopped it."""
    try:
        prepared = prepare_messages(messages)
    except (TypeError, ValueError) as e:
        for _ in turns:
            yield e
        return
    for i in turns:
        try:
            yield renderer.render(prepared[: i + 1]).encode("utf-8")
        except Exception as e:                # the template raised: transformers raises the same
            yield e


def _rendered(jobs):
    """(conversation index, rendered bytes or exception) for every client turn, in order."""
    for ci, (renderer, messages, turns) in enumerate(jobs):
        for item in _render_turns(renderer, messages, turns):
            yield ci, item


def count_chat_tokens_detailed(conversations: Iterable, tokenizer, *, chat_template=None, tools=None,
                               add_generation_prompt=True, chat_template_kwargs=None, num_threads=None,
                               progress=False, verify=8, on_error="raise") -> ISLResult:
    """:func:`count_chat_tokens` returning an :class:`ISLResult` (counts, turn indices,
    verification figures, cache sizes, time). With ``on_error="skip"`` a turn the template
    cannot render counts as ``None`` and ``errors`` keeps the first message per conversation."""
    start = time.perf_counter()
    _check_tokenizer(tokenizer)
    if on_error not in ("raise", "skip"):
        raise errors.ValueError("on_error must be 'raise' or 'skip'")
    special = getattr(tokenizer, "special_tokens_map", None)
    convs = [_split(c, tools) for c in conversations]
    turn_lists = [client_turns(m) for m, _, _ in convs]
    n_turns = sum(len(t) for t in turn_lists)
    sample = _sample(n_turns, verify)
    renderers, jobs = {}, []
    for messages, conv_tools, _ in convs:
        key = id(conv_tools)
        if key not in renderers or renderers[key][0] is not conv_tools:
            source = template_of(tokenizer, chat_template, conv_tools)
            renderers[key] = (conv_tools, Renderer(source, conv_tools, add_generation_prompt, special,
                                                   chat_template_kwargs))
        jobs.append((renderers[key][1], messages, turn_lists[len(jobs)]))
    rendered = _rendered(jobs)

    # The segment API of warptok.Tokenizer: its added tokens cut each rendered turn into
    # segments (spans), and the segments are encoded on their own (_segment_counts).
    split_special = bool(getattr(tokenizer, "split_special_tokens", False))
    active = tokenizer._call_options(False, None, (), "all", split_special)[0]
    segments = _Segments(tokenizer._prepend_first)
    plans = [[] for _ in convs]   # per conversation, per turn: (reuse point, new piece ids, tail piece id) or None
    full_counts = {}              # global turn number -> count of a full encode (verification)
    failed = {}                   # conversation index -> first error message
    rendered_bytes = 0
    turn_no = 0
    last_ci, prev, prev_spans = -1, b"", []
    bar = Progress(n_turns, progress, "isl", unit="turns")
    try:
        for ci, data in rendered:
            if ci != last_ci:
                last_ci, prev, prev_spans = ci, b"", []
            plan = plans[ci]
            if isinstance(data, Exception):
                message = f"conversation {ci}{_conv_name(convs[ci][2])}: {type(data).__name__}: {data}"
                if on_error == "raise":
                    raise ChatTemplateError(message) from data
                failed.setdefault(ci, message)
                plan.append(None)
            else:
                rendered_bytes += len(data)
                spans = tokenizer._split_added(data, active)
                r = _reuse_point(data, spans, prev, prev_spans)
                pos = spans[r - 1][1] if r else 0
                ids = []
                for s, e, _ in (spans[r:] if r else spans):
                    ids.append(segments.id_of(data[pos:s], pos == 0))
                    pos = e
                plan.append((r, ids, segments.id_of(data[pos:], pos == 0)))
                if turn_no in sample:
                    full_counts[turn_no] = tokenizer.count(data.decode("utf-8"), add_special_tokens=False,
                                                           split_special_tokens=split_special)
                prev, prev_spans = data, spans
            turn_no += 1
            bar.update(1)
    finally:
        bar.close()

    # Tokenize every distinct piece once, in parallel.
    counts_of = _segment_counts(tokenizer, active, segments.texts, segments.starts, num_threads)

    result = ISLResult(counts=[], turn_indices=turn_lists, n_turns=n_turns, errors=failed,
                       unique_segments=len(segments.texts) - 1,
                       unique_bytes=sum(len(t) for t in segments.texts), rendered_bytes=rendered_bytes)
    turn_no = 0
    for plan in plans:
        out, cum = [], []          # cum[j]: tokens up to the end of added-token span j
        for step in plan:
            if step is not None:
                r, ids, tail = step
                del cum[r:]
                base = cum[-1] if cum else 0
                for k in ids:
                    base += counts_of[k] + 1
                    cum.append(base)
                n = base + counts_of[tail]
                if turn_no in full_counts:
                    result.verified += 1
                    result.mismatches += n != full_counts[turn_no]
                out.append(n)
            else:
                out.append(None)
            turn_no += 1
        result.counts.append(out)

    if result.mismatches:
        warnings.warn(f"warptok.chat: {result.mismatches} of {result.verified} verified turns differ from the "
                      "full encode; every turn was recounted by full encoding", ChatCountMismatch, stacklevel=2)
        result.counts = count_chat_tokens_full(
            [{"messages": m, "tools": t} for m, t, _ in convs], tokenizer, chat_template=chat_template,
            add_generation_prompt=add_generation_prompt, chat_template_kwargs=chat_template_kwargs,
            num_threads=num_threads, on_error="skip")
        result.fallback = True
    result.seconds = time.perf_counter() - start
    return result


def _conv_name(name):
    return f" ({name})" if name is not None else ""


def _segment_counts(tokenizer, active, texts: list, starts: list, num_threads) -> list:
    """Token count of every distinct segment (UTF-8 bytes; starts: whether each begins its
    text), tokenized together on the worker pool."""
    if len(texts) <= 1:
        return [0] * len(texts)
    return tokenizer._encode_segments([t.decode("utf-8") for t in texts], active, threads_argument(num_threads),
                                      count=True, starts=starts)


def count_chat_tokens_full(conversations: Iterable, tokenizer, *, chat_template=None, tools=None,
                           add_generation_prompt=True, chat_template_kwargs=None, num_threads=None,
                           progress=False, on_error="raise") -> list:
    """The direct computation: render every client turn and encode all of its text (the
    rendering is the same as :func:`count_chat_tokens`'s; the encoding runs in parallel batches).
    The reference the incremental count is verified against, and its fallback."""
    _check_tokenizer(tokenizer)
    convs = [_split(c, tools) for c in conversations]
    special = getattr(tokenizer, "special_tokens_map", None)
    out = []
    bar = Progress(sum(len(client_turns(m)) for m, _, _ in convs), progress, "isl (full)", unit="turns")
    try:
        for ci, (messages, conv_tools, name) in enumerate(convs):
            turns = client_turns(messages)
            source = template_of(tokenizer, chat_template, conv_tools)
            renderer = Renderer(source, conv_tools, add_generation_prompt, special, chat_template_kwargs)
            texts = []
            try:
                prepared = prepare_messages(messages)
            except (TypeError, ValueError) as e:
                if on_error == "raise":
                    raise ChatTemplateError(f"conversation {ci}{_conv_name(name)}: {type(e).__name__}: {e}") from e
                prepared = None
            for i in turns:
                try:
                    texts.append(renderer.render(prepared[: i + 1]) if prepared is not None else None)
                except Exception as e:
                    if on_error == "raise":
                        raise ChatTemplateError(f"conversation {ci}{_conv_name(name)}: {type(e).__name__}: {e}") from e
                    texts.append(None)
            good = [t for t in texts if t is not None]
            lengths = iter([])
            if good:
                _, offsets = tokenizer.encode_batch_flat(
                    good, add_special_tokens=False, num_threads=num_threads,
                    split_special_tokens=bool(getattr(tokenizer, "split_special_tokens", False)))
                lengths = iter((offsets[1:] - offsets[:-1]).tolist())
            out.append([None if t is None else next(lengths) for t in texts])
            bar.update(len(turns))
    finally:
        bar.close()
    return out
