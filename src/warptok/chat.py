"""Chat-dataset token counting: the input length (ISL) of every client turn, exactly.

For a conversation ``messages`` and each client turn ``i`` (a user or tool message that the
next message, if any, answers as assistant) the count is the one transformers gives::

    len(tokenizer.apply_chat_template(messages[:i+1], tools=tools, add_generation_prompt=True,
                                      tokenize=True, return_dict=False))

:func:`count_chat_tokens` returns these counts for a whole dataset with tokenization work that
grows with the text, not with turns². Each turn is still rendered, with transformers' Jinja
environment (reproduced here: the immutable sandbox, ``trim_blocks``/``lstrip_blocks``,
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
"""

from __future__ import annotations

import dataclasses
import json
import random
import sys
import time
import warnings
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Iterable, Sequence

__all__ = ["count_chat_tokens", "count_chat_tokens_detailed", "count_chat_tokens_full", "ISLResult",
           "apply_chat_template", "render_chat", "client_turns", "prepare_messages", "read_conversations", "conversations_from_records",
           "parse_tool_arguments", "compile_template", "select_template", "ChatTemplateError",
           "ChatCountMismatch"]


class ChatTemplateError(ValueError):
    """Rendering a conversation failed (the template raised, or the input does not fit it)."""


class ChatCountMismatch(RuntimeWarning):
    """Verification found a turn whose incremental count differs from the full count; the
    run was redone with full encoding (so the returned counts are still exact)."""


# ====================================================================== the Jinja environment
#
# Rendering must equal transformers' (utils/chat_template_utils.py): an
# ImmutableSandboxedEnvironment with trim_blocks and lstrip_blocks, the loopcontrols extension,
# a `generation` block tag that renders its body, a `tojson` filter that does not escape HTML,
# and the globals raise_exception, strftime_now, a restricted `dict` and `namespace`.

_ENV = None


def _make_environment():
    import jinja2
    import jinja2.ext
    from jinja2 import nodes
    from jinja2.runtime import LoopContext, Macro, Undefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from markupsafe import Markup

    class GenerationBlock(jinja2.ext.Extension):
        """``{% generation %}...{% endgeneration %}`` marks assistant text for masks; the
        text renders unchanged."""
        tags = {"generation"}

        def parse(self, parser):
            lineno = next(parser.stream).lineno
            body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
            return nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

        @staticmethod
        def _body(caller):
            return caller()

    # The sandbox's attribute check (is_internal_attribute + modifies_known_mutable) depends
    # only on the object's type and the attribute name; for these concrete types its answer
    # cannot change, so it is remembered. The answers themselves are the sandbox's own.
    cacheable = {str, dict, list, tuple, int, float, bool, type(None), LoopContext, Macro, Markup}
    dict_attributes = frozenset(dir(dict))
    plain_values = {str, int, float, bool, type(None), list, dict, tuple}
    loop_attributes = frozenset({"index", "index0", "revindex", "revindex0", "first", "last", "length",
                                 "depth", "depth0", "previtem", "nextitem", "cycle", "changed"})

    class ChatEnvironment(ImmutableSandboxedEnvironment):
        def __init__(self):
            super().__init__(trim_blocks=True, lstrip_blocks=True,
                             extensions=[GenerationBlock, jinja2.ext.loopcontrols])
            self._safe_attr = {}

        def getattr(self, obj, attribute):
            # Two exact shortcuts for what templates do most (message.role, loop.last):
            # * a plain dict has a fixed set of attributes; any other name makes the sandbox
            #   fall back to obj[name], and then to undefined;
            # * every public attribute of a LoopContext is safe and none is str.format.
            kind = type(obj)
            if kind is dict and attribute not in dict_attributes and type(attribute) is str:
                try:
                    return obj[attribute]
                except (TypeError, LookupError):
                    return self.undefined(obj=obj, name=attribute)
            if kind is LoopContext and attribute in loop_attributes:
                return getattr(obj, attribute)
            if kind is _TemplateNamespace and type(attribute) is str and not attribute.startswith("_"):
                # A namespace's public attributes are safe; only a stored str.format needs the sandbox.
                try:
                    value = getattr(obj, attribute)
                except AttributeError:
                    return self.undefined(obj=obj, name=attribute)
                if type(value) in plain_values:
                    return value
            return super().getattr(obj, attribute)

        def is_safe_attribute(self, obj, attr, value):
            kind = type(obj)
            if kind in cacheable or isinstance(obj, (_TemplateNamespace, Undefined)):
                key = (kind, attr)
                known = self._safe_attr.get(key)
                if known is None:
                    known = self._safe_attr[key] = super().is_safe_attribute(obj, attr, value)
                return known
            return super().is_safe_attribute(obj, attr, value)

    class _TemplateNamespace(jinja2.utils.Namespace):
        """``namespace()`` that refuses underscore names (no reaching into internals)."""

        def __init__(*args, **kwargs):
            self, args = args[0], args[1:]
            values = dict(*args, **kwargs)
            for key in values:
                _TemplateNamespace._check(key)
            jinja2.utils.Namespace.__init__(self, values)

        def __setitem__(self, name, value):
            _TemplateNamespace._check(name)
            jinja2.utils.Namespace.__setitem__(self, name, value)

        @staticmethod
        def _check(name):
            if isinstance(name, str) and name.startswith("_"):
                raise jinja2.exceptions.SecurityError(
                    f"a chat template may not set the underscore attribute {name!r} on a namespace")

    class _DictFactory:
        """``dict(...)`` and ``dict.fromkeys(...)`` and nothing else of the dict type."""

        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    def raise_exception(message):
        raise jinja2.exceptions.TemplateError(message)

    def tojson(value, ensure_ascii=False, indent=None, separators=None, sort_keys=False):
        return json.dumps(value, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                          sort_keys=sort_keys)

    def strftime_now(fmt):
        return datetime.now().strftime(fmt)

    env = ChatEnvironment()
    env.filters["tojson"] = tojson
    env.globals["raise_exception"] = raise_exception
    env.globals["strftime_now"] = strftime_now
    env.globals["dict"] = _DictFactory()
    env.globals["namespace"] = _TemplateNamespace
    return env


@lru_cache(maxsize=64)
def compile_template(source: str):
    """The compiled Jinja template for ``source``, in the transformers-equivalent environment."""
    global _ENV
    if _ENV is None:
        try:
            import jinja2
        except ImportError as e:            # pragma: no cover - depends on the environment
            raise ImportError("warptok.chat needs jinja2 (pip install 'jinja2>=3.1.6')") from e
        if tuple(int(x) for x in jinja2.__version__.split(".")[:2]) < (3, 1):
            raise ImportError(f"warptok.chat needs jinja2>=3.1.6, found {jinja2.__version__}")
        _ENV = _make_environment()
    return _ENV.from_string(source)


def select_template(tokenizer_template, chat_template: str | None = None, tools=None) -> str:
    """The template source transformers' ``get_chat_template`` picks: ``chat_template`` may be a
    template or the name of one of the tokenizer's named templates; with several templates and
    tools, ``tool_use`` wins over ``default``."""
    if isinstance(tokenizer_template, dict):
        if chat_template is not None and chat_template in tokenizer_template:
            return tokenizer_template[chat_template]
        if chat_template is None:
            if tools is not None and "tool_use" in tokenizer_template:
                return tokenizer_template["tool_use"]
            if "default" in tokenizer_template:
                return tokenizer_template["default"]
            raise ValueError("the tokenizer has several chat templates and none is 'default': pass chat_template "
                             f"(one of {sorted(tokenizer_template)})")
        return chat_template
    if chat_template is not None:
        return chat_template
    if tokenizer_template is None:
        raise ValueError("no chat template: the tokenizer has none (load it with Tokenizer.from_pretrained) "
                         "and chat_template was not given")
    return tokenizer_template


# ====================================================================== messages as the template sees them

_REASONING_KEYS = ("reasoning_content", "thinking", "reasoning")


def _plain(value):
    """Plain JSON-like data (what transformers lets a template see): exact scalars as they
    are, subclasses stripped to the base type, mappings/lists/tuples rebuilt, dataclasses and
    pydantic models as dicts, anything else as the placeholder ``<TypeName>``."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is float or kind is bool:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {_plain(k): _plain(v) for k, v in value.items()}
    if kind is list:
        return [_plain(v) for v in value]
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_plain(v) for v in value)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic):
        return _plain(value.item())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return _plain(value.model_dump())
    return f"<{kind.__name__}>"


def prepare_messages(messages: Sequence[Mapping]) -> list[dict]:
    """The messages as transformers hands them to the template: top-level ``None`` values
    dropped, plain data, and reasoning aliased (``thinking`` and ``reasoning_content`` both set
    from whichever of reasoning_content / thinking / reasoning is present)."""
    if hasattr(messages, "messages"):
        messages = messages.messages
    out = []
    for m in messages:
        if not isinstance(m, Mapping):
            raise TypeError(f"a chat message must be a dict, not {type(m).__name__}: {m!r:.80}")
        m = _plain({k: v for k, v in m.items() if v is not None})
        reasoning = next((m[k] for k in _REASONING_KEYS if m.get(k) is not None), None)
        if reasoning is not None:
            m = {"thinking": reasoning, **m, "reasoning_content": reasoning}
        out.append(m)
    return out


def _plain_tools(tools):
    if tools is None:
        return None
    schemas = []
    for tool in tools:
        if isinstance(tool, Mapping):
            schemas.append(tool)
        elif callable(tool):
            try:
                from transformers.utils import get_json_schema
            except ImportError as e:
                raise TypeError("tools given as functions need transformers (get_json_schema); "
                                "pass JSON schemas instead") from e
            schemas.append(get_json_schema(tool))
        else:
            raise TypeError("tools must be JSON schemas (dicts) or functions")
    return _plain(schemas)


class _Renderer:
    """One template with its fixed arguments; renders prepared messages."""

    def __init__(self, source: str, tools, add_generation_prompt: bool, special_tokens_map, template_kwargs):
        self.template = compile_template(source)
        self.tools = _plain_tools(tools)
        self.add_generation_prompt = bool(add_generation_prompt)
        self.kwargs = _plain({**(special_tokens_map or {}), **(template_kwargs or {})})
        for reserved in ("messages", "tools", "documents", "add_generation_prompt"):
            self.kwargs.pop(reserved, None)

    def render(self, prepared: list) -> str:
        return self.template.render(messages=prepared, tools=self.tools, documents=None,
                                    add_generation_prompt=self.add_generation_prompt, **self.kwargs)


def _template_of(tokenizer, chat_template, tools) -> str:
    return select_template(getattr(tokenizer, "chat_template", None), chat_template, tools)


def render_chat(tokenizer, messages, *, tools=None, chat_template=None, add_generation_prompt=False,
                chat_template_kwargs=None) -> str:
    """transformers' ``apply_chat_template(messages, tokenize=False, ...)``."""
    if not messages:
        raise ValueError("cannot render an empty conversation")
    source = _template_of(tokenizer, chat_template, tools)
    renderer = _Renderer(source, tools, add_generation_prompt, getattr(tokenizer, "special_tokens_map", None),
                         chat_template_kwargs)
    return renderer.render(prepare_messages(messages))


def apply_chat_template(tokenizer, messages, *, tools=None, chat_template=None, add_generation_prompt=False,
                        tokenize=True, chat_template_kwargs=None):
    """transformers' ``apply_chat_template(..., return_dict=False)``: the rendered text, or its
    ids (encoded without the post-processor's special tokens, as transformers does)."""
    text = render_chat(tokenizer, messages, tools=tools, chat_template=chat_template,
                       add_generation_prompt=add_generation_prompt, chat_template_kwargs=chat_template_kwargs)
    if not tokenize:
        return text
    return tokenizer.encode(text, add_special_tokens=False,
                            split_special_tokens=bool(getattr(tokenizer, "split_special_tokens", False)))


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
            raise TypeError("a conversation record needs a 'messages' list "
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
    """Distinct text pieces (between added tokens), by exact bytes."""

    def __init__(self):
        self.index = {b"": 0}
        self.texts = [b""]

    def id_of(self, data: bytes) -> int:
        k = self.index.get(data)
        if k is None:
            k = self.index[data] = len(self.texts)
            self.texts.append(data)
        return k


class _Splitter:
    """HF's first step as warptok reproduces it: the added tokens matched on the raw text
    (warptok's pass 0) cut the text into segments; each segment is normalized and tokenized
    on its own (normalized added tokens, pre-tokenizer, BPE). This is the one place that
    touches the Tokenizer's internals."""

    def __init__(self, tokenizer, split_special_tokens=False):
        active, _, _ = tokenizer._call_options(False, None, (), "all", split_special_tokens)
        self.tokenizer = tokenizer
        self.first = active[0]
        self.rest = (None,) + tuple(active[1:])

    def spans(self, data: bytes) -> list:
        """(start, end, index) of the raw-text added tokens in UTF-8 data, leftmost-longest."""
        return self.tokenizer._core.find_added(data, 0, self.first) if self.first is not None else []

    def counts(self, segments: list, num_threads) -> list:
        """Token count of every segment (UTF-8 bytes)."""
        tok = self.tokenizer
        texts = []
        for b in segments:
            t = b.decode("utf-8")
            texts.append(tok._normalizer.apply(t) if tok._needs_normalizing(t) else t)
        _, offsets = tok._core.encode_batch(texts, self.rest, -1, False, num_threads or 0, True)
        return (offsets[1:] - offsets[:-1]).tolist()


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


class _Progress:
    def __init__(self, total, enabled, desc):
        self.bar = None
        self.enabled = enabled
        self.total, self.done, self.last = total, 0, 0.0
        self.start = time.perf_counter()
        self.desc = desc
        if not enabled:
            return
        if enabled is not True and hasattr(enabled, "update"):
            self.bar = enabled                       # a caller's own bar
            return
        try:
            from tqdm.auto import tqdm
        except ImportError:
            return
        self.bar = tqdm(total=total, unit="turn", desc=desc, dynamic_ncols=True, smoothing=0.1)

    def update(self, n):
        if not self.enabled:
            return
        if self.bar is not None:
            self.bar.update(n)
            return
        self.done += n
        now = time.perf_counter()
        if now - self.last > 0.5 or self.done == self.total:
            self.last = now
            rate = self.done / max(now - self.start, 1e-9)
            print(f"\r{self.desc}: {self.done}/{self.total} turns  {rate:,.0f} turns/s", end="",
                  file=sys.stderr, flush=True)

    def close(self):
        if self.bar is not None and self.enabled is True:
            self.bar.close()
        elif self.enabled and self.bar is None:
            print(file=sys.stderr)


def _check_tokenizer(tokenizer):
    if getattr(tokenizer, "source", None) != "huggingface" or not hasattr(tokenizer, "_core"):
        raise TypeError("count_chat_tokens needs a warptok.Tokenizer loaded from a tokenizer.json "
                        "(Tokenizer.from_pretrained / from_file)")


def _sample(n_turns: int, verify) -> set:
    """Global turn numbers to verify: all, none, or ``verify`` of them (the last turn, which
    is usually the longest, and a seeded random choice of the rest)."""
    if verify is None or verify is False or verify == 0 or n_turns == 0:
        return set()
    if verify is True or verify == "all" or verify == -1:
        return set(range(n_turns))
    if isinstance(verify, bool) or not isinstance(verify, int) or verify < 0:
        raise ValueError(f"verify must be a non-negative int, 'all', True or False, not {verify!r}")
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
        raise ValueError("on_error must be 'raise' or 'skip'")
    special = getattr(tokenizer, "special_tokens_map", None)
    convs = [_split(c, tools) for c in conversations]
    turn_lists = [client_turns(m) for m, _, _ in convs]
    n_turns = sum(len(t) for t in turn_lists)
    sample = _sample(n_turns, verify)
    renderers, jobs = {}, []
    for messages, conv_tools, _ in convs:
        key = id(conv_tools)
        if key not in renderers or renderers[key][0] is not conv_tools:
            source = _template_of(tokenizer, chat_template, conv_tools)
            renderers[key] = (conv_tools, _Renderer(source, conv_tools, add_generation_prompt, special,
                                                    chat_template_kwargs))
        jobs.append((renderers[key][1], messages, turn_lists[len(jobs)]))
    rendered = _rendered(jobs)

    split_special = bool(getattr(tokenizer, "split_special_tokens", False))
    splitter = _Splitter(tokenizer, split_special)
    segments = _Segments()
    plans = [[] for _ in convs]   # per conversation, per turn: (reuse point, new piece ids, tail piece id) or None
    full_counts = {}              # global turn number -> count of a full encode (verification)
    errors = {}
    rendered_bytes = 0
    turn_no = 0
    last_ci, prev, prev_spans = -1, b"", []
    bar = _Progress(n_turns, progress, "isl")
    try:
        for ci, data in rendered:
            if ci != last_ci:
                last_ci, prev, prev_spans = ci, b"", []
            plan = plans[ci]
            if isinstance(data, Exception):
                message = f"conversation {ci}{_conv_name(convs[ci][2])}: {type(data).__name__}: {data}"
                if on_error == "raise":
                    raise ChatTemplateError(message) from data
                errors.setdefault(ci, message)
                plan.append(None)
            else:
                rendered_bytes += len(data)
                spans = splitter.spans(data)
                r = _reuse_point(data, spans, prev, prev_spans)
                pos = spans[r - 1][1] if r else 0
                ids = []
                for s, e, _ in (spans[r:] if r else spans):
                    ids.append(segments.id_of(data[pos:s]))
                    pos = e
                plan.append((r, ids, segments.id_of(data[pos:])))
                if turn_no in sample:
                    full_counts[turn_no] = tokenizer.count(data.decode("utf-8"), add_special_tokens=False,
                                                           split_special_tokens=split_special)
                prev, prev_spans = data, spans
            turn_no += 1
            bar.update(1)
    finally:
        bar.close()

    # Tokenize every distinct piece once, in parallel.
    counts_of = _segment_counts(splitter, segments.texts, num_threads)

    result = ISLResult(counts=[], turn_indices=turn_lists, n_turns=n_turns, errors=errors,
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


def _segment_counts(splitter, texts: list, num_threads) -> list:
    """Token count of every distinct segment, tokenized together on the worker pool."""
    return splitter.counts(texts, num_threads) if len(texts) > 1 else [0] * len(texts)


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
    bar = _Progress(sum(len(client_turns(m)) for m, _, _ in convs), progress, "isl (full)")
    try:
        for ci, (messages, conv_tools, name) in enumerate(convs):
            turns = client_turns(messages)
            source = _template_of(tokenizer, chat_template, conv_tools)
            renderer = _Renderer(source, conv_tools, add_generation_prompt, special, chat_template_kwargs)
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


# ====================================================================== dataset readers

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
                raise ValueError(f"{path}:{n}: not a JSON line: {e}") from None
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
        raise ValueError("tool_arguments must be 'string' or 'object'")
    out, flat = [], {}
    for n, rec in enumerate(records):
        if not isinstance(rec, Mapping):
            raise ValueError(f"{source}: record {n} is not an object")
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
            raise ValueError(f"{source}: record {n} has only 'turns' (questions without answers, like MT-Bench): "
                             "later turns depend on the model's replies, so their input length is not in the data")
        else:
            raise ValueError(f"{source}: record {n} is not a conversation (expected 'messages', 'conversations', "
                             f"or flat rows with 'conversation_id' and 'role'); keys: {sorted(rec)[:10]}")
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
            raise ValueError(f"ShareGPT record {n}: unknown speaker {role!r}")
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
