"""HF's decoders for the models beyond byte-level BPE: token strings -> text, with HF's
exact results (checked against HF by the tests). Decoding is not on the hot path, so
they are plain Python.

``build(config)`` returns a Decoder: ``decode(tokens) -> str``. With no decoder HF
joins the tokens with spaces.
"""

from __future__ import annotations

import json
import re

from .. import errors
from .spec import steps as spec_steps


def _fail(d) -> errors.UnsupportedTokenizer:
    return errors.UnsupportedTokenizer(f"unsupported decoder: {json.dumps(d, ensure_ascii=False)[:200]}")


class Decoder:
    def __init__(self, chain, unsupported=None):
        self.chain = chain           # functions list[str] -> list[str], applied in order
        self.unsupported = unsupported   # an UnsupportedTokenizer raised by decode (encoding still works)

    def decode(self, tokens: list) -> str:
        if self.unsupported is not None:
            raise errors.UnsupportedTokenizer(str(self.unsupported))
        if not self.chain:
            return " ".join(tokens)
        for fn in self.chain:
            tokens = fn(tokens)
        return "".join(tokens)


def build(config) -> Decoder:
    try:
        return Decoder([_step(d) for d in spec_steps(config, "decoders")])
    except errors.UnsupportedTokenizer as e:
        return Decoder([], f"decoding is not supported for {str(e).replace('unsupported ', '', 1)}")


_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" do not", " don't"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


def cleanup(text: str) -> str:
    """HF's clean_up_tokenization: spaces before punctuation and English contractions removed."""
    for a, b in _CLEANUP:
        text = text.replace(a, b)
    return text


_BYTE = re.compile(r"<0x([0-9A-F]{2})>")


def _step(d):
    kind = d.get("type")
    if kind == "WordPiece":
        prefix, clean = d.get("prefix", "##"), d.get("cleanup", True)

        def wordpiece(tokens):
            out = []
            for i, t in enumerate(tokens):
                if i:
                    t = t.replace(prefix, "", 1) if t.startswith(prefix) else " " + t
                out.append(cleanup(t) if clean else t)
            return out
        return wordpiece
    if kind == "ByteFallback":
        def byte_fallback(tokens):
            out, pending = [], []

            def flush():
                if pending:
                    try:
                        out.append(bytes(pending).decode("utf-8"))
                    except UnicodeDecodeError:
                        out.extend("\ufffd" * len(pending))
                    pending.clear()
            for t in tokens:
                m = _BYTE.fullmatch(t) if len(t) == 6 else None
                if m:
                    pending.append(int(m.group(1), 16))
                else:
                    flush()
                    out.append(t)
            flush()
            return out
        return byte_fallback
    if kind == "Fuse":
        return lambda tokens: ["".join(tokens)]
    if kind == "Strip":
        content, start, stop = d.get("content", " "), d.get("start", 0), d.get("stop", 0)

        def strip(tokens):
            out = []
            for t in tokens:
                chars = list(t)
                a = 0
                while a < start and a < len(chars) and chars[a] == content:
                    a += 1
                b = len(chars)
                while len(chars) - b < stop and b > a and chars[b - 1] == content:
                    b -= 1
                out.append("".join(chars[a:b]))
            return out
        return strip
    if kind == "Replace":
        pattern, content = d.get("pattern", {}), d.get("content", "")
        if "String" in pattern:
            needle = pattern["String"]
            return lambda tokens: [t.replace(needle, content) for t in tokens]
        raise _fail(d)
    if kind == "Metaspace":
        rep = d.get("replacement", "\u2581")
        scheme = d.get("prepend_scheme")
        if scheme is None:
            scheme = "always" if d.get("add_prefix_space", True) else "never"

        def metaspace(tokens):
            out = []
            for i, t in enumerate(tokens):
                t = t.replace(rep, " ")
                if i == 0 and scheme != "never" and t.startswith(" "):
                    t = t[1:]
                out.append(t)
            return out
        return metaspace
    raise _fail(d)
