"""Chat templates rendered as transformers renders them.

The environment is transformers' (utils/chat_template_utils.py): the immutable sandbox,
``trim_blocks``/``lstrip_blocks``, ``loopcontrols``, the ``generation`` tag, ``tojson``,
``raise_exception``, ``strftime_now``, a restricted ``dict`` and ``namespace``; two exact
shortcuts make its attribute checks cheaper. Messages reach the template as transformers
hands them over (:func:`prepare_messages`). jinja2 is imported at the first template.
"""

from __future__ import annotations

import dataclasses
import json
import sys
from collections.abc import Mapping
from datetime import datetime
from functools import lru_cache
from typing import Sequence

from .. import errors

# ====================================================================== the Jinja environment

_ENV = None


def _make_environment():
    import jinja2
    import jinja2.ext
    from jinja2 import nodes
    from jinja2.runtime import LoopContext, Macro, Undefined
    from jinja2.sandbox import ImmutableSandboxedEnvironment
    from markupsafe import Markup

    # jinja2's exceptions, as transformers' environment raises them, and WarptokErrors.
    class TemplateError(errors.WarptokError, jinja2.exceptions.TemplateError):
        """The template called raise_exception(message)."""

    class SecurityError(errors.WarptokError, jinja2.exceptions.SecurityError):
        """The template tried what the sandbox forbids."""

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
                raise SecurityError(
                    f"a chat template may not set the underscore attribute {name!r} on a namespace")

    class _DictFactory:
        """``dict(...)`` and ``dict.fromkeys(...)`` and nothing else of the dict type."""

        def __call__(self, *args, **kwargs):
            return dict(*args, **kwargs)

        def fromkeys(self, *args, **kwargs):
            return dict.fromkeys(*args, **kwargs)

    def raise_exception(message):
        raise TemplateError(message)

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
            raise errors.ImportError("warptok.chat needs jinja2 (pip install 'jinja2>=3.1.6')") from e
        if tuple(int(x) for x in jinja2.__version__.split(".")[:2]) < (3, 1):
            raise errors.ImportError(f"warptok.chat needs jinja2>=3.1.6, found {jinja2.__version__}")
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
            raise errors.ValueError("the tokenizer has several chat templates and none is 'default': pass "
                                    f"chat_template (one of {sorted(tokenizer_template)})")
        return chat_template
    if chat_template is not None:
        return chat_template
    if tokenizer_template is None:
        raise errors.ValueError("no chat template: the tokenizer has none (load it with Tokenizer.from_pretrained) "
                                "and chat_template was not given")
    return tokenizer_template


# ====================================================================== messages as the template sees them

_REASONING_KEYS = ("reasoning_content", "thinking", "reasoning")


def plain(value):
    """Plain JSON-like data (what transformers lets a template see): exact scalars as they
    are, subclasses stripped to the base type, mappings/lists/tuples rebuilt, dataclasses and
    pydantic models as dicts, anything else as the placeholder ``<TypeName>``."""
    kind = type(value)
    if value is None or kind is str or kind is int or kind is float or kind is bool:
        return value
    if kind is dict or isinstance(value, Mapping):
        return {plain(k): plain(v) for k, v in value.items()}
    if kind is list:
        return [plain(v) for v in value]
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, int):
        return int.__int__(value)
    if isinstance(value, float):
        return float.__float__(value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    np = sys.modules.get("numpy")
    if np is not None and isinstance(value, np.generic):
        return plain(value.item())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if callable(getattr(value, "model_dump", None)):
        return plain(value.model_dump())
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
            raise errors.TypeError(f"a chat message must be a dict, not {type(m).__name__}: {m!r:.80}")
        m = plain({k: v for k, v in m.items() if v is not None})
        reasoning = next((m[k] for k in _REASONING_KEYS if m.get(k) is not None), None)
        if reasoning is not None:
            m = {"thinking": reasoning, **m, "reasoning_content": reasoning}
        out.append(m)
    return out


def plain_tools(tools):
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
                raise errors.TypeError("tools given as functions need transformers (get_json_schema); "
                                       "pass JSON schemas instead") from e
            schemas.append(get_json_schema(tool))
        else:
            raise errors.TypeError("tools must be JSON schemas (dicts) or functions")
    return plain(schemas)


class Renderer:
    """One template with its fixed arguments; renders prepared messages."""

    def __init__(self, source: str, tools, add_generation_prompt: bool, special_tokens_map, template_kwargs):
        self.template = compile_template(source)
        self.tools = plain_tools(tools)
        self.add_generation_prompt = bool(add_generation_prompt)
        self.kwargs = plain({**(special_tokens_map or {}), **(template_kwargs or {})})
        for reserved in ("messages", "tools", "documents", "add_generation_prompt"):
            self.kwargs.pop(reserved, None)

    def render(self, prepared: list) -> str:
        return self.template.render(messages=prepared, tools=self.tools, documents=None,
                                    add_generation_prompt=self.add_generation_prompt, **self.kwargs)


def template_of(tokenizer, chat_template, tools) -> str:
    return select_template(getattr(tokenizer, "chat_template", None), chat_template, tools)


def render_chat(tokenizer, messages, *, tools=None, chat_template=None, add_generation_prompt=False,
                chat_template_kwargs=None) -> str:
    """transformers' ``apply_chat_template(messages, tokenize=False, ...)``."""
    if not messages:
        raise errors.ValueError("cannot render an empty conversation")
    source = template_of(tokenizer, chat_template, tools)
    renderer = Renderer(source, tools, add_generation_prompt, getattr(tokenizer, "special_tokens_map", None),
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
