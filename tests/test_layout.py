"""The package's shape: every module imports, the imports between warptok's modules form
no cycle (function-level imports included), the stubs of the compiled modules match them,
and every exception warptok raises is a WarptokError."""

from __future__ import annotations

import ast
import builtins
import importlib
import inspect
import re
from pathlib import Path

import pytest

import warptok
from warptok import errors
from warptok.errors import WarptokError

SRC = Path(warptok.__file__).parent


def module_files() -> dict:
    """Dotted module name -> source file, for every .py and .pyx under src/warptok."""
    out = {}
    for path in sorted(SRC.rglob("*")):
        if path.suffix not in (".py", ".pyx") or "__pycache__" in path.parts:
            continue
        parts = list(path.relative_to(SRC.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        out[".".join(parts)] = path
    return out


MODULES = module_files()


def test_every_module_imports():
    for name in MODULES:
        if name == "warptok.__main__":            # runs the command line
            continue
        importlib.import_module(name)


# ---------------------------------------------------------------- the import graph

_PYX_IMPORT = re.compile(r"^\s*(?:from\s+(\S+)\s+import\s+([^#]+)|import\s+([^#]+))$")


def _imports(name: str, path: Path) -> list:
    """(module, imported names) of every import statement in the file, at any depth;
    relative modules resolved. names is () for ``import module``."""
    package = name if path.name.startswith("__init__.") else name.rpartition(".")[0]
    found = []
    if path.suffix == ".pyx":
        for line in path.read_text(encoding="utf-8").splitlines():
            m = _PYX_IMPORT.match(line)
            if m and "cimport" not in line:
                if m.group(1):
                    found.append((m.group(1), [n.split(" as ")[0].strip() for n in m.group(2).split(",")]))
                else:
                    found += [(n.split(" as ")[0].strip(), ()) for n in m.group(3).split(",")]
        return found
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(a.name, ()) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            found.append((base, [a.name for a in node.names]))
    return found


def import_graph() -> dict:
    """module -> warptok modules it imports. ``from pkg import x`` is an edge to pkg.x when
    that is a module, else to pkg. A module's parent packages, which Python imports first
    anyway, count only when named."""
    graph = {}
    for name, path in MODULES.items():
        edges = set()
        for module, names in _imports(name, path):
            if not module.startswith("warptok"):
                continue
            targets = [f"{module}.{n}" for n in names if f"{module}.{n}" in MODULES]
            if len(targets) < len(names) or not names:
                while module not in MODULES:         # `import warptok._native._core`: that module
                    module = module.rpartition(".")[0]
                targets.append(module)
            edges.update(t for t in targets if t != name)
        graph[name] = edges
    return graph


def test_import_leaves_the_unicode_tables_for_later():
    """``import warptok`` and loading a tokenizer that neither folds case nor normalizes
    do not import the generated Unicode tables (~40 ms each); GPT-2 loads without them."""
    import subprocess
    import sys
    code = ("import sys, warptok; warptok.get_encoding('gpt2'); "
            "print(sorted(m for m in sys.modules if m.startswith('warptok._compile.ucd.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_import_graph_has_no_cycle():
    graph = import_graph()
    assert graph["warptok.cli"] >= {"warptok.cli.count", "warptok.cli.encode", "warptok.cli.isl"}
    assert "warptok.errors" in graph["warptok._native._core"]       # the .pyx files are in it
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == "open":
                cycle = stack[stack.index(nxt):] + [nxt]
                pytest.fail("import cycle: " + " -> ".join(cycle))
            if nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = "done"

    for node in sorted(graph):
        if node not in state:
            visit(node)


def test_layers_import_downward():
    """The compiler and the bindings never import the API, the applications or the drop-ins."""
    graph = import_graph()
    upper = ("warptok.tokenizer", "warptok.chat", "warptok.io", "warptok.cli", "warptok.hf",
             "warptok.tiktoken_compat")
    for name, edges in graph.items():
        if name.startswith(("warptok._compile", "warptok._native", "warptok.errors")):
            bad = [e for e in edges if e == "warptok" or e.startswith(upper)]
            assert not bad, (name, bad)


# ---------------------------------------------------------------- stubs of the compiled modules

def _stub(path: Path) -> dict:
    """name -> ast node of the stub's module-level functions, classes and annotated names."""
    out = {}
    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            out[node.name] = node
        elif isinstance(node, ast.AnnAssign):
            out[node.target.id] = node
    return out


def _stub_params(fn: ast.FunctionDef) -> list:
    """(name, kind, default source or None) of a stub function's parameters."""
    a = fn.args
    plain = a.posonlyargs + a.args
    defaults = [None] * (len(plain) - len(a.defaults)) + [ast.unparse(d) for d in a.defaults]
    out = [(p.arg, "positional", d) for p, d in zip(plain, defaults)]
    out += [(p.arg, "keyword", None if d is None else ast.unparse(d)) for p, d in zip(a.kwonlyargs, a.kw_defaults)]
    return out


def _params(sig: inspect.Signature) -> list:
    kinds = {inspect.Parameter.KEYWORD_ONLY: "keyword"}
    return [(p.name, kinds.get(p.kind, "positional"), None if p.default is p.empty else repr(p.default))
            for p in sig.parameters.values()]


def _pyx_init_params(pyx: str, cls: str) -> list:
    """The constructor's parameters of a cdef class, from its ``def __init__`` (or, without
    one, ``def __cinit__``) in the .pyx source: Cython does not expose them at run time."""
    body = pyx[pyx.index(f"cdef class {cls}"):]
    nxt = re.search(r"\n(?:cdef )?class ", body[1:])
    body = body[:nxt.start() + 1] if nxt else body
    m = re.search(r"def __init__\((.*?)\):", body, re.S) or re.search(r"def __cinit__\((.*?)\):", body, re.S)
    out, kind = [], "positional"
    for part in (p.strip() for p in m.group(1).split(",")):
        if part == "*":
            kind = "keyword"
            continue
        decl, _, default = part.partition("=")
        name = decl.split()[-1].lstrip("*")
        out.append((name, kind, ast.unparse(ast.parse(default.strip(), mode="eval").body) if default else None))
    return out


@pytest.mark.parametrize("module", ["_core", "_io"])
def test_compiled_stubs_match_the_modules(module):
    mod = importlib.import_module(f"warptok._native.{module}")
    stub = _stub(SRC / "_native" / f"{module}.pyi")
    pyx = (SRC / "_native" / f"{module}.pyx").read_text(encoding="utf-8")
    public = {n for n, v in vars(mod).items() if not n.startswith("_") and not inspect.ismodule(v)
              and getattr(v, "__module__", mod.__name__) == mod.__name__}     # not the imported error classes
    declared = {n for n in stub if not n.startswith("_")}
    assert public == declared, f"in the module only: {sorted(public - declared)}; in the stub only: " \
                               f"{sorted(declared - public)}"
    for name in sorted(declared):
        obj, node = getattr(mod, name), stub[name]
        if isinstance(node, ast.FunctionDef):
            assert _stub_params(node) == _params(inspect.signature(obj)), name
        elif isinstance(node, ast.ClassDef):
            members = {n.name: n for n in node.body if isinstance(n, ast.FunctionDef)}
            attrs = {n.target.id for n in node.body if isinstance(n, ast.AnnAssign)}
            real = {n for n in vars(obj) if not n.startswith("__")}
            real -= {n for n in real if n.startswith("_") and n not in members}
            assert real == set(members) - {"__init__"} | attrs, name
            for mname, fn in members.items():
                if mname == "__init__":
                    assert _stub_params(fn) == _pyx_init_params(pyx, name), f"{name}.__init__"
                elif any(isinstance(d, ast.Name) and d.id == "property" for d in fn.decorator_list):
                    assert type(vars(obj)[mname]).__name__ == "getset_descriptor", f"{name}.{mname}"
                else:
                    assert _stub_params(fn) == _params(inspect.signature(getattr(obj, mname))), f"{name}.{mname}"
        else:
            assert not callable(obj) or isinstance(obj, type), name


# ---------------------------------------------------------------- one error family

_BUILTIN_EXCEPTIONS = {n for n, v in vars(builtins).items() if isinstance(v, type) and issubclass(v, BaseException)}


def _resolve(expr, namespace):
    """The object a Name/Attribute chain names in namespace, or None when it is not there
    (a local variable such as ``raise exc``)."""
    if isinstance(expr, ast.Name):
        return namespace.get(expr.id)
    if isinstance(expr, ast.Attribute):
        base = _resolve(expr.value, namespace)
        return getattr(base, expr.attr, None) if base is not None else None
    return None


def _is_warptok_error(obj, namespace) -> bool:
    if isinstance(obj, type):
        return issubclass(obj, WarptokError)
    if callable(obj):                      # a helper that returns the exception: its annotation says which
        ret = getattr(obj, "__annotations__", {}).get("return")
        cls = eval(ret, getattr(obj, "__globals__", namespace)) if isinstance(ret, str) else ret
        return isinstance(cls, type) and issubclass(cls, WarptokError)
    return False


def raise_sites():
    """(module, line, source) of every ``raise X`` in warptok's .py and .pyx files."""
    for name, path in MODULES.items():
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".pyx":
            for n, line in enumerate(text.splitlines(), 1):
                m = re.match(r"\s*raise\s+([\w.]+)", line)
                if m:
                    yield name, n, m.group(1)
            continue
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.Raise) and node.exc is not None:
                exc = node.exc.func if isinstance(node.exc, ast.Call) else node.exc
                yield name, node.lineno, exc


def test_every_raise_is_a_warptok_error():
    bad, checked = [], 0
    for name, line, exc in raise_sites():
        if name == "warptok.__main__":
            continue
        namespace = vars(importlib.import_module(name))
        if isinstance(exc, str):                 # .pyx: a dotted name
            expr = ast.parse(exc, mode="eval").body
        else:
            expr = exc
        obj = _resolve(expr, namespace)
        where = f"{name}:{line}: raise {ast.unparse(expr)}"
        if obj is None:
            # A local variable or nested helper (raise exc, raise bad(...)): never a builtin by name.
            if isinstance(expr, ast.Name) and expr.id in _BUILTIN_EXCEPTIONS:
                bad.append(where)
        elif not _is_warptok_error(obj, namespace):
            bad.append(where)
        checked += 1
    assert checked > 150
    assert not bad, "\n".join(bad)


def test_every_error_class_keeps_its_builtin_base():
    for name, cls in vars(errors).items():
        if not isinstance(cls, type) or not issubclass(cls, BaseException):
            continue
        assert issubclass(cls, WarptokError), name
        if hasattr(builtins, name):              # the generic ones: the builtin's name and base
            assert issubclass(cls, getattr(builtins, name)) and cls.__name__ == name, name
    assert issubclass(errors.FetchTimeout, TimeoutError) and issubclass(errors.FetchError, OSError)
    assert warptok.UnsupportedTokenizer is errors.UnsupportedTokenizer
    from warptok import chat, io
    assert chat.ChatTemplateError is errors.ChatTemplateError and io.FetchError is errors.FetchError


def _error_paths(tmp_path):
    """(what, call, builtin base the error keeps) of the main ways a caller meets an error."""
    import numpy as np

    from conftest import data, hf_json
    from warptok import chat, hf, io, tiktoken_compat
    from warptok._compile.pattern import compile_pattern
    from warptok.cli import main

    gpt2, llama3 = warptok.get_encoding("gpt2"), warptok.Tokenizer.from_str(hf_json("llama3"))
    enc = tiktoken_compat.get_encoding("gpt2")
    wrapped = hf.from_pretrained(data("vocab", "llama3"), backend="files")
    blob = tmp_path / "blob.bin"
    blob.write_bytes(b"x" * 100)
    closed, reader = io.PrefetchReader(blob), io.PrefetchReader(blob)
    closed.close()
    bad_header = tmp_path / "bad.safetensors"
    bad_header.write_bytes((5).to_bytes(8, "little") + b"{}}}}")
    hi = [{"role": "user", "content": "hi"}]
    return [
        ("not a tokenizer.json", lambda: warptok.Tokenizer.from_str("{}"), ValueError),
        ("unsupported model", lambda: warptok.Tokenizer.from_str(hf_json("llama3").replace(b'"BPE"', b'"Unigram"')),
         ValueError),
        ("unsupported pattern", lambda: compile_pattern(r"(a)\1", "onig"), ValueError),
        ("unknown encoding", lambda: warptok.get_encoding("p99k"), ValueError),
        ("no model directory", lambda: warptok.Tokenizer.from_pretrained(tmp_path), FileNotFoundError),
        ("text of the wrong type", lambda: gpt2.encode(b"bytes"), TypeError),
        ("bad max_length", lambda: llama3.encode("x", max_length=-1), ValueError),
        ("bad num_threads", lambda: gpt2.encode_batch(["x"], num_threads=0), ValueError),
        ("disallowed special token", lambda: gpt2.encode("<|endoftext|>"), ValueError),
        ("lone surrogate (HF)", lambda: llama3.encode("a\ud800"), UnicodeEncodeError),
        ("lone surrogate in a batch (HF)", lambda: llama3.encode_batch(["a\ud800"]), UnicodeEncodeError),
        ("unknown id (tiktoken)", lambda: gpt2.decode([10 ** 9]), KeyError),
        ("tiktoken_compat disallowed special", lambda: enc.encode("<|endoftext|>"), ValueError),
        ("tiktoken_compat unknown token", lambda: enc.encode_single_token("not one token at all"), KeyError),
        ("tiktoken_compat unknown model", lambda: tiktoken_compat.encoding_name_for_model("nope"), KeyError),
        ("hf: immutable", lambda: setattr(wrapped, "padding_side", "left"), AttributeError),
        ("hf: only_second on one text", lambda: wrapped("a b c d e f", truncation="only_second", max_length=2),
         Exception),
        ("hf: stride too large", lambda: wrapped("a b c d e f", "g", max_length=4, stride=3), ValueError),
        ("hf: no padding token", lambda: wrapped(["a", "bb"], padding=True), ValueError),
        ("chat: not a tokenizer.json tokenizer", lambda: chat.count_chat_tokens([hi], gpt2, chat_template="x"),
         TypeError),
        ("chat: no template", lambda: chat.count_chat_tokens([hi], llama3), ValueError),
        ("chat: the template raises", lambda: chat.count_chat_tokens(
            [hi], llama3, chat_template="{{ raise_exception('no') }}"), ValueError),
        ("chat: raise_exception", lambda: chat.render_chat(llama3, hi, chat_template="{{ raise_exception('no') }}"),
         Exception),
        ("chat: not a dataset", lambda: chat.read_conversations(blob), ValueError),
        ("io: missing file", lambda: io.PrefetchReader(tmp_path / "missing"), FileNotFoundError),
        ("io: a directory", lambda: io.PrefetchReader(tmp_path), IsADirectoryError),
        ("io: another scheme", lambda: io.PrefetchReader("s3://bucket/x"), ValueError),
        ("io: ssl_context not a context", lambda: io.PrefetchReader("https://127.0.0.1:1/x", ssl_context="x"),
         TypeError),
        ("io: nothing listens", lambda: io.PrefetchReader("https://127.0.0.1:1/x", retries=0), OSError),
        ("io: closed reader", lambda: closed.pread(0, 1), ValueError),
        ("io: read-only buffer", lambda: reader.readinto(0, b"immutable"), BufferError),
        ("io: not C-contiguous", lambda: reader.readinto(0, np.zeros((4, 4))[:, 1]), ValueError),
        ("io: negative offset", lambda: reader.pread(-1, 1), ValueError),
        ("io: bad safetensors header", lambda: io.load_safetensors(bad_header), ValueError),
        ("cli: a command that cannot run", lambda: main(["count", "--model", str(tmp_path / "none")]), SystemExit),
    ], reader


def test_main_error_paths_are_warptok_errors(tmp_path, capsys):
    paths, reader = _error_paths(tmp_path)
    for what, call, base in paths:
        with pytest.raises(base) as info:
            call()
        if base is SystemExit:                   # the command line's exit: the CommandError before it
            assert info.value.code == 1 and "warptok count: --model" in capsys.readouterr().err, what
            continue
        assert isinstance(info.value, WarptokError), (what, info.value)
    reader.close()
