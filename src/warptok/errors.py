"""Every exception warptok raises is a :class:`WarptokError`.

Each one also keeps the builtin base it had before this module existed (``ValueError``,
``OSError``, ...), so ``except ValueError`` clauses written against earlier versions, or
against the libraries warptok stands in for, still catch it:

    try:
        tok = warptok.Tokenizer.from_file(path)
    except warptok.WarptokError as e:        # or: except ValueError
        ...

Two kinds of classes:

* errors with a name of their own, for conditions a caller may want to tell apart
  (:class:`UnsupportedTokenizer`, :class:`FetchError`, :class:`ChatTemplateError`, ...);
* generic errors named after their builtin base (``warptok.errors.ValueError`` is a
  ``WarptokError`` and a ``ValueError``): bad argument values and types, unknown keys,
  features a drop-in does not reproduce. They keep the builtin's name because the drop-ins
  promise the reference's exceptions (``tiktoken_compat`` raises what tiktoken raises, and
  callers compare ``type(e).__name__``). Inside warptok they are always written
  ``errors.ValueError``, never imported bare, so the builtin names stay the builtins.

Not here: the two jinja2 exception types a chat template raises (``raise_exception`` in a
template, a namespace's underscore attribute) subclass jinja2's own classes, so they are
made with the template environment (``warptok.chat.template``), still as WarptokErrors.
"""

from __future__ import annotations

import builtins
import errno as _errno

# The generic classes shadow builtin names in this module only; `import *` does not export them.
__all__ = ["WarptokError", "UnsupportedTokenizer", "UnsupportedPattern", "UnsupportedNormalizer",
           "ChatTemplateError", "ChatCountMismatch", "TruncationError", "CommandError",
           "SourceError", "FetchError", "FetchTimeout", "UnsupportedSource", "InvalidSafetensors", "ReaderClosed"]


class WarptokError(Exception):
    """The base of every exception warptok raises."""


# ---------------------------------------------------------------- generic, named after their base

class ValueError(WarptokError, builtins.ValueError):
    """An argument or input with a value warptok cannot take (the message says which)."""


class TypeError(WarptokError, builtins.TypeError):
    """An argument of the wrong type."""


class KeyError(WarptokError, builtins.KeyError):
    """A token, id, model or tensor name that is not there."""


class IndexError(WarptokError, builtins.IndexError):
    """An index out of a tensor's range, or more indices than it has dimensions."""


class AttributeError(WarptokError, builtins.AttributeError):
    """An attribute that does not exist, or cannot be set on an immutable object."""


class NotImplementedError(WarptokError, builtins.NotImplementedError):
    """A feature of the library a drop-in stands in for that warptok does not reproduce."""


class UnicodeEncodeError(WarptokError, builtins.UnicodeEncodeError):
    """Text that is not valid Unicode (a lone surrogate) where the reference refuses it too."""


class OverflowError(WarptokError, builtins.OverflowError):
    """A number too large for the native layer (offsets and sizes are 64-bit)."""


class BufferError(WarptokError, builtins.BufferError):
    """A buffer that cannot take a read: read-only, or not C-contiguous."""


class MemoryError(WarptokError, builtins.MemoryError):
    """The native layer could not allocate memory."""


class RuntimeError(WarptokError, builtins.RuntimeError):
    """The native layer could not go on: a worker thread that did not start, a pattern that
    backtracked too deeply, a reader used in a process it was not opened in."""


class ImportError(WarptokError, builtins.ImportError):
    """An optional dependency (jinja2 for chat templates) is missing or too old."""


class AssertionError(WarptokError, builtins.AssertionError):
    """An internal inconsistency (a bug in warptok: please report it), or where a drop-in
    repeats its reference's assertion (tiktoken's ``is_special_token`` of a non-int)."""


class FileNotFoundError(WarptokError, builtins.FileNotFoundError):
    """A file warptok looks for (a model directory's tokenizer.json, a rank file) is not
    on this machine; warptok never downloads."""


# ---------------------------------------------------------------- loading a tokenizer

class UnsupportedTokenizer(WarptokError, builtins.ValueError):
    """The file configures something warptok does not reproduce exactly."""


class UnsupportedPattern(WarptokError, builtins.ValueError):
    """The pattern uses a construct warptok does not compile exactly."""


class UnsupportedNormalizer(UnsupportedTokenizer):
    """A normalizer step warptok does not reproduce (reported as the tokenizer's)."""


# ---------------------------------------------------------------- the drop-ins

class TruncationError(WarptokError):
    """Truncation that HF tokenizers refuses (``only_second`` without a second sequence).
    HF raises a bare ``Exception`` there; this is one."""


# ---------------------------------------------------------------- chat

class ChatTemplateError(WarptokError, builtins.ValueError):
    """Rendering a conversation failed (the template raised, or the input does not fit it)."""


class ChatCountMismatch(WarptokError, builtins.RuntimeWarning):
    """A warning: verification found a turn whose incremental count differs from the full
    count; the run was redone with full encoding (so the returned counts are still exact)."""


# ---------------------------------------------------------------- io

class SourceError(WarptokError, builtins.OSError):
    """Reading a source failed at the operating system's level; ``errno`` says why. The
    subclasses below keep the builtin subclass that the errno gives (FileNotFoundError, ...)."""


class SourceNotFound(SourceError, builtins.FileNotFoundError):
    pass


class SourcePermissionError(SourceError, builtins.PermissionError):
    pass


class SourceIsADirectory(SourceError, builtins.IsADirectoryError):
    pass


class SourceNotADirectory(SourceError, builtins.NotADirectoryError):
    pass


_BY_ERRNO = {_errno.ENOENT: SourceNotFound, _errno.EACCES: SourcePermissionError,
             _errno.EPERM: SourcePermissionError, _errno.EISDIR: SourceIsADirectory,
             _errno.ENOTDIR: SourceNotADirectory}


def source_error(code: int, message: str, filename) -> SourceError:
    """``OSError(code, message, filename)`` as a SourceError of the matching subclass."""
    return _BY_ERRNO.get(code, SourceError)(code, message, filename)


class FetchError(SourceError):
    """Reading from the source failed: every retry was used, or the server's answer
    can never be right (an error status, a wrong range, a changed file, a TLS
    certificate that is not trusted or names another host, a refused redirect).
    ``status`` is the HTTP status involved (or None), ``attempts`` how many requests
    were made."""
    status = None
    attempts = None


class FetchTimeout(FetchError, builtins.TimeoutError):
    """The source made no progress within ``timeout`` seconds, or a request passed
    its deadline, on every attempt."""


class UnsupportedSource(WarptokError, builtins.ValueError):
    """A source warptok cannot read: a URL scheme other than http:// and https://
    (also as a redirect's target), a malformed URL, or https:// in a Python whose
    ssl module is missing or older than OpenSSL 1.1.1."""


class InvalidSafetensors(WarptokError, builtins.ValueError):
    """The file is not a valid safetensors file; the message says what is wrong."""


class ReaderClosed(WarptokError, builtins.ValueError):
    """An I/O call on a closed PrefetchReader (a ValueError, as for a closed Python file)."""


# ---------------------------------------------------------------- the command line

class CommandError(WarptokError):
    """A ``warptok`` command cannot run as asked; the CLI prints the message and exits 1."""


def unsupported(part: str, value) -> UnsupportedTokenizer:
    """The error for a tokenizer.json part warptok does not support, quoting it (200 characters)."""
    import json
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else value
    if len(text) > 200:
        text = text[:200] + "..."
    return UnsupportedTokenizer(f"unsupported {part}: {text}")
