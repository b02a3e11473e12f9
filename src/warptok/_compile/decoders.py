"""HF's decoders for the models beyond byte-level BPE: token strings -> text, with HF's
exact results (checked against HF by the tests). Decoding is not on the hot path, so
they are plain Python.

``build(config)`` returns a Decoder: ``decode(tokens) -> str``. With no decoder HF
joins the tokens with spaces.
"""

from __future__ import annotations

import json

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


_HEX = frozenset("0123456789abcdefABCDEF")


def _fallback_byte(token: str):
    """The byte of a ``<0xHH>`` token as HF reads it (six UTF-8 bytes, then Rust's
    u8::from_str_radix(.., 16) of the two in the middle: either case, a leading '+' too),
    else None."""
    if len(token) != 6 or not token.startswith("<0x") or not token.endswith(">"):
        return None          # six characters of six bytes: ASCII, the only kind that parses
    digits = token[3:5]
    if digits[0] == "+":
        digits = digits[1:]
    return int(digits, 16) if digits and all(c in _HEX for c in digits) else None


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
                byte = _fallback_byte(t)
                if byte is not None:
                    pending.append(byte)
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
            # HF's loops as written: up to `start` leading and `stop` trailing `content`
            # characters cut; where its indices would leave the token, HF panics.
            out = []
            for t in tokens:
                start_cut = 0
                for i, c in enumerate(t[:start]):
                    if c != content:
                        break
                    start_cut = i + 1
                stop_cut = len(t)
                for i in range(stop):
                    index = len(t) - i - 1
                    if index < 0:
                        raise errors.ValueError("the Strip decoder fails on this token (HF tokenizers panics)")
                    if t[index] != content:
                        break
                    stop_cut = index
                if stop_cut < start_cut:
                    raise errors.ValueError("the Strip decoder fails on this token (HF tokenizers panics)")
                out.append(t[start_cut:stop_cut])
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
            # HF drops every replacement of the first token (not only a leading one)
            # unless the scheme is never, and turns the others into spaces.
            return [t.replace(rep, "" if i == 0 and scheme != "never" else " ") for i, t in enumerate(tokens)]
        return metaspace
    raise _fail(d)
