"""The Tokenizer: one immutable object, options per call, safe to share across threads."""

from __future__ import annotations

import json
import re
import threading
from array import array
from collections.abc import Set
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Sequence

from . import encodings, errors
from ._compile import core_tables, json_numbers, model_dir, post, source, tiktoken_file, tokenizer_json, unicode_forms
from ._compile.source import Source
from ._compile.spec import Spec, added_passes, in_core_normalizer
from ._native._core import RESULT_ARRAY, RESULT_COUNT, RESULT_LIST, Core, first_flagged

if TYPE_CHECKING:
    from .offsets import EncodingWithOffsets


class Tokenizer:
    """A byte-level BPE tokenizer with ids identical to its reference:
    HF ``tokenizers`` for a tokenizer.json, ``tiktoken`` for a rank file.

    Build one with :meth:`from_file`, :meth:`from_pretrained`, :meth:`from_tiktoken` or
    :func:`warptok.get_encoding`. Nothing about it changes after construction:
    every option is an argument of the call.

    Loaded from a model directory (:meth:`from_pretrained`) it also carries what the
    directory says for chat templates: ``chat_template`` (``str``, a ``dict`` name ->
    template, or ``None``), ``special_tokens_map`` (named special token -> text, what
    transformers passes to the template), ``split_special_tokens`` (the config's flag, which
    transformers applies when it encodes a rendered chat) and ``name_or_path``; otherwise
    these are ``None``, ``None``, ``False`` and ``None``.

    A tokenizer pickles as the file it was loaded from, compressed, and is rebuilt from it
    on load (no file is read then): ``multiprocessing``, ``datasets.map(num_proc=...)``,
    Spark and Ray can ship it to workers, and two loads of one file pickle to the same
    bytes. ``copy.copy`` and ``copy.deepcopy`` return the tokenizer itself (it is immutable).
    """

    def __init__(self, spec: Spec, name: str | None = None, *, _model: model_dir.ModelFiles | None = None,
                 _origin: Source | None = None):
        self._origin = _origin        # what it was loaded from, for pickling (None: not picklable)
        self._core = Core(**core_tables.core_tables(spec))
        # The per-token tables now live in the core (tens of MB of Python objects otherwise):
        # _token_bytes() reads them back when a rare call needs them. A tokenizer built from
        # a Spec (not loaded from a file: tests) keeps them, its only source.
        self._spec = spec.without_tables() if _origin is not None else spec
        self.name = name
        self.source = spec.source
        self.special_tokens = {a.content: a.id for a in spec.added if a.special}
        # decode as HF: the ids skip_special_tokens drops, and each id's string (an added
        # "normalized" token's is its content after the normalizer; tokenizer_json._read_added)
        self._skip_ids = frozenset(spec.skipped_ids())
        self._decode_tokens = ({**spec.id_to_token, **spec.added_decoded} if spec.added_decoded
                               else spec.id_to_token)
        self.added_tokens = {a.content: a.id for a in spec.added}
        self._passes = [tokens for tokens, _ in added_passes(spec)]   # added tokens per pass
        # Per-call options resolve to these precomputed masks (HF: by split_special_tokens).
        self._hf_masks = {split: tuple(bytes(not (split and a.special) for a in tokens) if tokens else None
                                       for tokens in self._passes) for split in (False, True)}
        self._hf_plain = self._hf_masks[False]      # encode's common call
        self._mask_cache = {}
        self._special_set = frozenset(self.special_tokens)
        self._special_re = re.compile("|".join(map(re.escape, sorted(self.special_tokens, key=len, reverse=True))))
        # The special tokens of pass 0 (tiktoken's all are), for the core's search of a text.
        self._special_mask = (bytes(a.special for a in self._passes[0])
                              if self._passes and self.special_tokens else None)
        self._regex_cache = {}
        self._n_post = len(spec.prefix) + len(spec.suffix)
        # The Python path normalizes between added tokens, unless the core does it itself.
        self._normalizer = None if in_core_normalizer(spec) else spec.normalizer
        # Metaspace with prepend_scheme "first": a segment's ids depend on whether it begins the text.
        self._prepend_first = any(st.other is not None and st.other[0] == "metaspace" and st.other[2] == "first"
                                  for st in spec.stages)
        self._hf = self.source == "huggingface"
        self._tiktoken = self.source == "tiktoken" and spec.normalizer is None
        self.chat_template = _model.chat_template if _model else None
        self.special_tokens_map = dict(_model.special_tokens_map) if _model else None
        self.split_special_tokens = _model.split_special_tokens if _model else False
        self.name_or_path = name if _model else None

    def _token_bytes(self) -> dict:
        """Every id's bytes (added tokens included), read back from the core."""
        return self._core.token_bytes()

    # ------------------------------------------------------------ construction

    @classmethod
    def from_file(cls, path) -> "Tokenizer":
        """Load a Hugging Face ``tokenizer.json``: byte-level BPE, or WordPiece (BERT)."""
        with open(path, "rb") as f:
            data = f.read()
        return cls(tokenizer_json.parse_tokenizer_json(data), name=str(path), _origin=Source("json", data))

    @classmethod
    def from_str(cls, json_text: str | bytes, name: str | None = None) -> "Tokenizer":
        """Load the text of a ``tokenizer.json``, or a parsed one (a dict): that is read as
        its text, ``json.dumps(d)``, as HF's ``from_str(json.dumps(d))`` reads it."""
        if isinstance(json_text, dict):
            # Its floats (Unigram scores) as HF reads them from that text, not as they are:
            # HF's reader can round a printed float to a neighbour, which changes Viterbi's
            # choices between close scores. The text is also what a pickle keeps, so the
            # tokenizer and its unpickled copy are the same.
            try:
                json_text = json.dumps(json_text, ensure_ascii=False)
            except (TypeError, ValueError) as e:
                raise errors.ValueError(f"not a tokenizer.json document: {e}") from None
        spec = tokenizer_json.parse_tokenizer_json(json_text)
        if not isinstance(json_text, (str, bytes)):
            json_text = bytes(json_text)
        return cls(spec, name=name, _origin=Source("json", json_text))

    @classmethod
    def from_pretrained(cls, path, *, revision: str | None = None, cache_dir=None) -> "Tokenizer":
        """Load a local model directory (tokenizer.json, tokenizer_config.json, chat
        template) or a repo id already in the Hugging Face cache; never downloads. The
        tokenizer has the added tokens transformers gives it when it loads the directory,
        and the directory's chat template and special tokens (see the class)."""
        return cls._from_model(model_dir.read_model_dir(path, revision=revision, cache_dir=cache_dir), str(path))

    @classmethod
    def _from_model(cls, files: model_dir.ModelFiles, name: str) -> "Tokenizer":
        origin = Source("pretrained", files.raw, added=list(files.added), chat_template=files.chat_template,
                        special_tokens_map=files.special_tokens_map,
                        split_special_tokens=files.split_special_tokens)
        return cls(tokenizer_json.parse_tokenizer_json(files.document), name=name, _model=files, _origin=origin)

    @classmethod
    def from_tiktoken(cls, path, pattern: str, special_tokens: dict | None = None,
                      name: str | None = None) -> "Tokenizer":
        """Load a tiktoken rank file (``.tiktoken``, optionally gzipped) with its
        pre-tokenizer pattern, interpreted as tiktoken (fancy-regex) does."""
        return cls._from_ranks(Path(path).read_bytes(), pattern, special_tokens, name or str(path), where=path)

    @classmethod
    def _from_ranks(cls, data: bytes, pattern: str, special_tokens, name, *, where="rank file",
                    origin: Source | None = None) -> "Tokenizer":
        ranks = tiktoken_file.parse_tiktoken_ranks(data, where)
        special_tokens = dict(special_tokens or {})
        if origin is None:
            origin = Source("tiktoken", data, pattern=pattern, special_tokens=special_tokens)
        return cls(tiktoken_file.tiktoken_spec(ranks, pattern, special_tokens), name=name, _origin=origin)

    # ------------------------------------------------------------ pickling and copying

    def __reduce__(self):
        """Pickled as what it was loaded from (see the class); rebuilt by the loader."""
        if self._origin is None:
            raise errors.TypeError("this Tokenizer was built from a Spec, not loaded from a file, and cannot be "
                                   "pickled")
        return _restore, source.pack(self._origin, {"name": self.name})

    def __copy__(self):
        return self             # immutable, like a str

    def __deepcopy__(self, memo):
        return self

    # ------------------------------------------------------------ properties

    @property
    def n_vocab(self) -> int:
        """One more than the largest id."""
        return self._core.n_ids

    def __repr__(self):
        return f"<warptok.Tokenizer {self.name or ''} source={self.source} n_vocab={self.n_vocab}>"

    # ------------------------------------------------------------ encoding

    def _encoder(result: int):
        """encode, count and encode_to_numpy: one body, fast paths included, whose core
        call returns the ids as a list, their number or an array (a shared private
        method would cost each call a call)."""

        def call(self, text: str, *, add_special_tokens: bool = True, max_length: int | None = None,
                 split_special_tokens: bool = False,
                 allowed_special: "Iterable[str] | str" = (), disallowed_special: "Iterable[str] | str" = "all"):
            if (self._hf and max_length is None and not split_special_tokens and type(text) is str
                    and (self._normalizer is None or not self._needs_normalizing(text))):
                try:        # the common HF call: its masks are precomputed, nothing to check
                    return self._core.encode(text, self._hf_plain, False, -1, add_special_tokens, result)
                except UnicodeEncodeError:
                    pass    # lone surrogates: the general path raises as HF does
            elif (self._tiktoken and max_length is None and not allowed_special and disallowed_special == "all"
                  and type(text) is str):
                try:        # tiktoken's default call on text without special tokens: ordinary text
                    got = self._core.encode(text, _NO_SPLIT, False, -1, False, result, self._special_mask)
                    if got is not None:
                        return got  # else a disallowed special token: the general path raises
                except UnicodeEncodeError:
                    pass    # lone surrogates: the general path replaces them as tiktoken does
            active, max_body, add = self._call_options(add_special_tokens, max_length, allowed_special,
                                                       disallowed_special, split_special_tokens)
            if type(text) is not str:
                text = _as_str(text)        # raises, or a str subclass's characters as a str
            self._check_disallowed((text,), allowed_special, disallowed_special)
            return self._encode_one(text, active, max_body, add, result)
        return call

    encode = _encoder(RESULT_LIST)
    encode.__name__, encode.__qualname__ = "encode", "Tokenizer.encode"
    encode.__annotations__["return"] = "list[int]"
    encode.__doc__ = """Token ids of ``text``.

        tokenizer.json: HF's ``Tokenizer.encode(text).ids`` — added tokens are split
        out (special ones too, unless ``split_special_tokens``), ``add_special_tokens``
        runs the post-processor, and ``max_length`` truncates from the right keeping
        room for the special tokens.

        tiktoken: ``Encoding.encode`` — special tokens in ``allowed_special`` are
        encoded as such; one in ``disallowed_special`` raises tiktoken's ValueError.
        """

    count = _encoder(RESULT_COUNT)
    count.__name__, count.__qualname__ = "count", "Tokenizer.count"
    count.__annotations__["return"] = "int"
    count.__doc__ = """``len(self.encode(text, ...))`` with the same options, without building the list."""

    encode_to_numpy = _encoder(RESULT_ARRAY)
    encode_to_numpy.__name__, encode_to_numpy.__qualname__ = "encode_to_numpy", "Tokenizer.encode_to_numpy"
    encode_to_numpy.__annotations__["return"] = "numpy.ndarray"
    encode_to_numpy.__doc__ = """``encode(text, ...)`` as a uint32 ndarray (tiktoken's ``encode_to_numpy``),
        with the same options, without building the list."""
    del _encoder

    def encode_ordinary(self, text: str) -> list[int]:
        """Ids of ``text`` with no special-token recognition and no post-processor
        (tiktoken's ``encode_ordinary``)."""
        if type(text) is not str:
            text = _as_str(text)
        return self._encode_one(text, _NO_SPLIT, -1, False)

    def encode_batch(self, texts: Sequence[str], *, add_special_tokens: bool = True,
                     max_length: int | None = None, num_threads: int | None = None,
                     split_special_tokens: bool = False, allowed_special: "Iterable[str] | str" = (),
                     disallowed_special: "Iterable[str] | str" = "all") -> list[list[int]]:
        """``[self.encode(t, ...) for t in texts]`` on the native worker pool, order
        preserved. The GIL is released while encoding; the calling thread takes it
        only to build the lists of documents already done, while the pool goes on."""
        return self._batch(texts, False, num_threads, add_special_tokens, max_length, allowed_special,
                           disallowed_special, split_special_tokens)

    def encode_ordinary_batch(self, texts: Sequence[str], *, num_threads: int | None = None) -> list[list[int]]:
        """``[self.encode_ordinary(t) for t in texts]`` on the worker pool."""
        return self._batch(texts, False, num_threads, None, None, None, None, False)

    def encode_batch_flat(self, texts: Sequence[str], *, add_special_tokens: bool = True,
                          max_length: int | None = None, num_threads: int | None = None,
                          split_special_tokens: bool = False, allowed_special: "Iterable[str] | str" = (),
                          disallowed_special: "Iterable[str] | str" = "all"):
        """Like :meth:`encode_batch`, returned as ``(ids, offsets)`` numpy arrays
        (uint32, int64): document i is ``ids[offsets[i]:offsets[i+1]]``."""
        return self._batch(texts, True, num_threads, add_special_tokens, max_length, allowed_special,
                           disallowed_special, split_special_tokens)

    def encode_ordinary_batch_flat(self, texts: Sequence[str], *, num_threads: int | None = None):
        """Like :meth:`encode_ordinary_batch`, as flat ``(ids, offsets)`` arrays."""
        return self._batch(texts, True, num_threads, None, None, None, None, False)

    # ------------------------------------------------------------ pairs of texts

    def encode_pair(self, text: str, text_pair: str, *, add_special_tokens: bool = True,
                    max_length: int | None = None, truncation: str = "longest_first",
                    split_special_tokens: bool = False) -> tuple[list[int], list[int]]:
        """``(ids, type_ids)`` of a pair of texts: HF's ``encode(text, text_pair)`` ids and
        type ids (tokenizer.json only).

        Each text is encoded as by :meth:`encode` without special tokens; with ``max_length``
        the two are cut from the right to ``max_length`` ids in all, keeping room for the
        special tokens, as HF's ``truncation`` strategy says: ``"longest_first"`` (the longer
        one first; both to about half when both are long), ``"only_first"``, ``"only_second"``
        (a :class:`warptok.errors.TruncationError` when that text is too short to make room, as in
        HF). Then the post-processor's pair template puts the special tokens around them
        (``add_special_tokens``) and gives each id its type id (without a template: 0 for
        the first text, 1 for the second). ``warptok.hf`` adds overflowing parts, strides and
        left truncation on top of this."""
        ids, types = self.encode_pair_batch([text], [text_pair], add_special_tokens=add_special_tokens,
                                            max_length=max_length, truncation=truncation,
                                            split_special_tokens=split_special_tokens, num_threads=1)
        return ids[0], types[0]

    def encode_pair_batch(self, texts: Sequence[str], text_pairs: Sequence[str], *, add_special_tokens: bool = True,
                          max_length: int | None = None, truncation: str = "longest_first",
                          num_threads: int | None = None, split_special_tokens: bool = False) -> tuple:
        """:meth:`encode_pair` of each ``(texts[i], text_pairs[i])``, as two lists: the ids
        and the type ids. Every text of both lists is encoded in one :meth:`encode_batch`
        call (GIL released); only the truncation and the template run in Python."""
        if self.source != "huggingface":
            raise errors.TypeError("pairs of texts need a tokenizer.json tokenizer (a post-processor's template)")
        if isinstance(texts, str) or isinstance(text_pairs, str):
            raise errors.TypeError("texts and text_pairs must be sequences of str, not a single str")
        texts, text_pairs = list(texts), list(text_pairs)
        if len(texts) != len(text_pairs):
            raise errors.ValueError(f"{len(texts)} texts but {len(text_pairs)} text_pairs")
        if truncation not in post.TRUNCATION_STRATEGIES:
            raise errors.ValueError(f"truncation must be one of {post.TRUNCATION_STRATEGIES}, not {truncation!r}")
        template = self._pair_template(add_special_tokens)
        budget = None
        if max_length is not None:
            if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 0:
                raise errors.ValueError(f"max_length must be a non-negative int or None, not {max_length!r}")
            budget = max_length - post.n_special(template)
            if budget < 0:
                raise errors.ValueError(f"max_length={max_length} leaves no room for the {post.n_special(template)} "
                                        "special tokens the post-processor adds to a pair")
        bodies = self.encode_batch(texts + text_pairs, add_special_tokens=False, num_threads=num_threads,
                                   split_special_tokens=split_special_tokens)
        all_ids, all_types = [], []
        for a, b in zip(bodies[:len(texts)], bodies[len(texts):]):
            if budget is not None:
                keep_a, keep_b = post.truncation_targets(len(a), len(b), budget, truncation)
                a, b = a[:keep_a], b[:keep_b]
            ids, types = post.apply(template, a, b)
            all_ids.append(ids)
            all_types.append(types)
        return all_ids, all_types

    def _pair_template(self, add_special_tokens: bool = True) -> list:
        """The post-processor's template for a pair (``_compile/post.py``): ``("A", type_id)``,
        ``("B", type_id)`` for the texts, ``(ids, type_id)`` for special tokens (dropped
        without ``add_special_tokens``)."""
        template = post.templates(self._spec)[1] if self.source == "huggingface" else None
        if template is None:
            raise errors.UnsupportedTokenizer("this tokenizer's post-processor has no template for pairs of texts")
        return template if add_special_tokens else [(item, t) for item, t in template if item in ("A", "B")]

    # ------------------------------------------------------------ offsets

    def encode_with_offsets(self, text: str, *, add_special_tokens: bool = True, max_length: int | None = None,
                            split_special_tokens: bool = False, allowed_special: "Iterable[str] | str" = (),
                            disallowed_special: "Iterable[str] | str" = "all",
                            word_ids: bool = False) -> "EncodingWithOffsets":
        """``encode(text, ...)`` with, for every token, its ``(start, end)`` characters in
        ``text``: HF's ``Encoding.offsets`` (special tokens the post-processor adds are
        ``(0, 0)``). With ``word_ids``, also HF's ``Encoding.word_ids``: the index of the
        pre-token (or added token) each token came from, None for those special tokens.
        Returns ``(ids, offsets, word_ids)`` (word_ids None unless asked). Tokenizers whose
        offsets warptok cannot reproduce exactly raise NotImplementedError."""
        if type(text) is not str:
            text = _as_str(text)
        return self._with_offsets([text], add_special_tokens, max_length, split_special_tokens, allowed_special,
                                  disallowed_special, word_ids, 1)[0]

    def encode_batch_with_offsets(self, texts: Sequence[str], *, add_special_tokens: bool = True,
                                  max_length: int | None = None, num_threads: int | None = None,
                                  split_special_tokens: bool = False, allowed_special: "Iterable[str] | str" = (),
                                  disallowed_special: "Iterable[str] | str" = "all",
                                  word_ids: bool = False) -> "list[EncodingWithOffsets]":
        """``[self.encode_with_offsets(t, ...) for t in texts]``, the ids on the worker pool."""
        if isinstance(texts, str):
            raise errors.TypeError("texts must be a sequence of str, not a single str")
        texts = [t if type(t) is str else _as_str(t, i) for i, t in enumerate(texts)]
        return self._with_offsets(texts, add_special_tokens, max_length, split_special_tokens, allowed_special,
                                  disallowed_special, word_ids, threads_argument(num_threads))

    def _with_offsets(self, texts, add_special_tokens, max_length, split_special_tokens, allowed_special,
                      disallowed_special, word_ids, threads):
        from .offsets import EncodingWithOffsets
        active, max_body, add = self._call_options(add_special_tokens, max_length, allowed_special,
                                                   disallowed_special, split_special_tokens)
        self._check_disallowed(texts, allowed_special, disallowed_special)
        plan = self._offsets()
        return [EncodingWithOffsets(*r) for r in plan.encode(texts, active, max_body, add, threads, word_ids)]

    def _offsets(self):
        """What laying tokens over text needs (offsets.Offsets), built on first use."""
        from .offsets import Offsets
        plan = self.__dict__.get("_offsets_plan")
        if plan is None:
            plan = self._offsets_plan = Offsets(self)     # built once; two threads may both build one
        return plan

    # ------------------------------------------------------------ decoding

    def decode_bytes(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> bytes:
        """The bytes ``ids`` stand for."""
        if self._spec.model is not None:
            return self.decode(ids, skip_special_tokens=skip_special_tokens).encode()
        if self._spec.decode_unsupported:
            raise errors.UnsupportedTokenizer(f"decoding is not supported for {self._spec.decode_unsupported}")
        # HF drops ids it does not know; tiktoken raises KeyError.
        return self._core.decode_bytes(ids, skip_special_tokens, self.source == "huggingface")

    def decode(self, ids: Sequence[int], *, skip_special_tokens: bool = False) -> str:
        """Text of ``ids``; invalid UTF-8 becomes U+FFFD, as in both references."""
        spec = self._spec
        if spec.model is not None:          # HF: the tokens' strings through the file's decoder
            tokens, specials, known = [], self._skip_ids, self._decode_tokens
            for i, v in enumerate(ids):
                if type(v) is not int:
                    v = _id_of(v, i)
                if skip_special_tokens and v in specials:
                    continue
                t = known.get(v)
                if t is not None:
                    tokens.append(t)
            return spec.decoder.decode(tokens)
        return self.decode_bytes(ids, skip_special_tokens=skip_special_tokens).decode("utf-8", "replace")

    def pre_tokenize(self, text: str) -> list[str]:
        """The pre-tokenizer's pieces of ``text`` (before BPE, no added-token split)."""
        if type(text) is not str:
            text = _as_str(text)
        return self._core.pieces(self._surrogates_fixed(text))

    # ------------------------------------------------------------ segments
    # HF's first step, as warptok reproduces it: the added tokens matched on the raw text
    # (pass 0) cut it into segments; each segment is normalized and encoded on its own
    # (pass 1's normalized added tokens, the pre-tokenizer, BPE). The Python path of
    # encode (normalizers the core does not run) and warptok.chat's counting are both
    # built on these two methods. ``active`` is a call's masks (_call_options).

    def _split_added(self, data: bytes, active) -> list:
        """(start, end, k) of the added tokens that split UTF-8 ``data`` before normalization,
        leftmost-longest; k indexes the pass-0 added tokens (``self._passes[0]``)."""
        return self._core.find_added(data, 0, active[0]) if active[0] is not None else []

    def _encode_segments(self, segments: list, active, threads: int, *, count: bool = False,
                         max_body: int = -1, starts=None) -> list:
        """Each segment's ids (with ``count``, their number): the segments lie between
        _split_added's tokens, and are normalized (here, or by the core's NFC) and encoded
        from pass 1 on, all in one batch on the worker pool (``threads``: 0 for every CPU).
        ``max_body`` >= 0 bounds each segment's ids. ``starts``: per segment, whether it
        begins its text (None: all do), which Metaspace's prepend_scheme "first" needs."""
        first_pass = 1
        mid = [False] * len(segments) if starts is None or not self._prepend_first else [not s for s in starts]
        if self._normalizer is not None:
            if self._prepend_first:     # HF: a segment whose first character goes no longer begins the text
                mid = [m or self._normalizer.loses_start(t) for m, t in zip(mid, segments)]
            segments = [self._normalized(t) for t in segments]
            first_pass = 2             # the core must not normalize them again
        if any(mid):                    # two batches: the segments that begin their texts, the others
            parts = [[i for i, m in enumerate(mid) if m == want] for want in (False, True)]
            got = [self._encode_segments_as(segments, part, active, threads, count, max_body, first_pass, want)
                   for part, want in zip(parts, (False, True))]
            out = [None] * len(segments)
            for part, values in zip(parts, got):
                for i, v in zip(part, values):
                    out[i] = v
            return out
        return self._encode_segments_as(segments, range(len(segments)), active, threads, count, max_body,
                                        first_pass, False)

    def _encode_segments_as(self, segments, which, active, threads, count, max_body, first_pass, mid_text):
        texts = [segments[i] for i in which]
        if not texts:
            return []
        out = self._core.encode_batch(texts, active, max_body, False, threads, count, first_pass, mid_text)
        if count:
            offsets = out[1]
            return (offsets[1:] - offsets[:-1]).tolist()
        return out

    def _normalized(self, text: str) -> str:
        """HF's normalization of a segment (the Python normalizer's)."""
        norm = self._normalizer
        if norm.form and unicode_forms.ucd_is_normalized(norm.form, text):
            return text         # Python's "normalized" implies HF's (see _needs_normalizing)
        return norm.apply(text)

    def _encode_normalizing(self, texts, active, max_body, add, threads):
        """HF's order: pass-0 added tokens on the raw text, then normalize what lies
        between them, and encode each normalized segment from pass 1 on. The segments
        of all the texts are encoded in one batch on the pool. A list of id lists."""
        segments, layouts, starts = [], [], []
        for text in texts:
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError as e:
                raise _unicode_error(e) from None
            layout, pos = [], 0       # the text's parts: a segment's index, or ~id of an added token
            for start, end, k in self._split_added(data, active) + [(len(data), len(data), None)]:
                if start > pos:
                    layout.append(len(segments))
                    segments.append(data[pos:start].decode("utf-8"))
                    starts.append(pos == 0)
                if k is not None:
                    layout.append(~self._passes[0][k].id)
                pos = end
            layouts.append(layout)
        # max_body bounds each segment's ids too: no segment needs more.
        encoded = self._encode_segments(segments, active, threads, max_body=max_body, starts=starts)
        spec, out = self._spec, []
        for layout in layouts:
            body = []
            for part in layout:
                if part >= 0:
                    body += encoded[part]
                else:
                    body.append(~part)
            if max_body >= 0:
                del body[max_body:]
            out.append(spec.prefix + body + spec.suffix if add else body)
        return out

    # ------------------------------------------------------------ internals

    def _encode_one(self, text, active, max_body, add, result=RESULT_LIST):
        """text's ids as a list, their number or an array (Core.encode's result)."""
        if self._normalizer is not None and self._needs_normalizing(text):
            ids = self._encode_normalizing([text], active, max_body, add, 1)[0]
            if result == RESULT_COUNT:
                return len(ids)
            if result == RESULT_ARRAY:
                import numpy as np
                return np.array(ids, dtype=np.uint32)
            return ids
        try:
            return self._core.encode(text, active, False, max_body, add, result)
        except UnicodeEncodeError:
            fixed = self._surrogates_fixed(text)      # raises for HF, as HF does
            return self._core.encode(fixed, active, False, max_body, add, result)

    def _surrogates_fixed(self, text):
        """tiktoken's own fix-up: lone surrogates become U+FFFD. HF refuses them."""
        try:
            text.encode("utf-8")
            return text
        except UnicodeEncodeError as e:
            if self.source != "tiktoken":
                raise _unicode_error(e) from None
            return text.encode("utf-16", "surrogatepass").decode("utf-16", "replace")

    def _call_options(self, add_special_tokens, max_length, allowed_special, disallowed_special,
                      split_special_tokens=False):
        """(active masks per pass, max body ids, add post-processor ids) for one call."""
        if self.source == "tiktoken":
            active, add = self._tiktoken_masks(allowed_special), False
        else:
            active, add = self._hf_masks[bool(split_special_tokens)], bool(add_special_tokens)
        max_body = -1
        if max_length is not None:
            if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 0:
                raise errors.ValueError(f"max_length must be a non-negative int or None, not {max_length!r}")
            max_body = max_length - (self._n_post if add else 0)
            if max_body < 0:
                raise errors.ValueError(f"max_length={max_length} leaves no room for the {self._n_post} special "
                                        "tokens the post-processor adds")
        return active, max_body, add

    def _tiktoken_masks(self, allowed_special):
        if allowed_special == "all":
            allowed = self._special_set
        else:
            allowed = frozenset(allowed_special or ())
        masks = self._mask_cache.get(allowed)
        if masks is None:
            unknown = allowed - set(self.added_tokens)
            if unknown:
                raise errors.ValueError(f"allowed_special names tokens this encoding does not have: {sorted(unknown)}")
            masks = (bytes(a.content in allowed for a in self._passes[0]) if allowed else None, None)
            if len(self._mask_cache) < 64:
                self._mask_cache[allowed] = masks
        return masks

    def _check_disallowed(self, texts, allowed_special, disallowed_special):
        """tiktoken's check, for every tiktoken call here and in warptok.tiktoken_compat: a
        text holding a special token that is disallowed (by default: every one not allowed)
        raises tiktoken's ValueError, naming the first one found. tokenizer.json: no check."""
        if self.source != "tiktoken" or not disallowed_special or not self.special_tokens:
            return
        if disallowed_special == "all":
            if not allowed_special:
                if not any(self._special_re.search(t) for t in texts):
                    return              # the common case: one scan finds no special token
                disallowed = self._special_set
            else:
                allowed = self._special_set if allowed_special == "all" else allowed_special
                disallowed = self._special_set - (allowed if isinstance(allowed, Set) else frozenset(allowed))
        else:
            disallowed = disallowed_special if isinstance(disallowed_special, frozenset) \
                else frozenset(disallowed_special)
        if not disallowed:
            return
        regex = self._regex_cache.get(disallowed)
        if regex is None:
            # tiktoken's regex, alternatives in the set's order: the same token is named
            regex = re.compile("(" + "|".join(re.escape(t) for t in disallowed) + ")")
            if len(self._regex_cache) < 128:
                self._regex_cache[disallowed] = regex
        for text in texts:
            found = regex.search(text)
            if found:
                raise _disallowed_special_token(found.group())

    def _needs_normalizing(self, text: str) -> bool:
        """Whether text must take the Python path that normalizes between added tokens.
        The C path normalizes only with NFC (in_core_normalizer); with another
        normalizer it is exact when normalizing would change no segment, which a
        substring-closed normalizer shows on the whole text."""
        norm = self._normalizer
        if norm is None:
            return False
        if norm.core is not None:      # the core normalizes, but not texts with these (non-ASCII) characters
            return norm.unsafe is not None and not text.isascii() and first_flagged(text, norm.unsafe) >= 0
        if norm.form:      # Python's "normalized" implies HF's (HF's data is older, see unicode_forms)
            return not unicode_forms.ucd_is_normalized(norm.form, text)
        return not norm.substring_closed or norm.apply(text) != text

    def _texts_needing_normalizing(self, texts: list) -> list:
        """The indices of the texts that _needs_normalizing."""
        if self._normalizer is None:
            return []
        return [i for i, t in enumerate(texts) if self._needs_normalizing(t)]

    def _batch(self, texts, flat, num_threads, add_special_tokens, max_length, allowed_special, disallowed_special,
               split_special_tokens):
        if isinstance(texts, str):
            raise errors.TypeError("texts must be a sequence of str, not a single str")
        texts = list(texts)
        for i, t in enumerate(texts):
            if type(t) is not str:
                texts[i] = _as_str(t, i)
        if add_special_tokens is None:           # the *_ordinary variants
            active, max_body, add = _NO_SPLIT, -1, False
        else:
            active, max_body, add = self._call_options(add_special_tokens, max_length, allowed_special,
                                                       disallowed_special, split_special_tokens)
            self._check_disallowed(texts, allowed_special, disallowed_special)
        threads = threads_argument(num_threads)
        slow = self._texts_needing_normalizing(texts)
        if any(not t.isascii() for t in texts) and self.source == "tiktoken":
            texts = [t if t.isascii() else self._surrogates_fixed(t) for t in texts]
        try:
            if not slow:
                return self._core.encode_batch(texts, active, max_body, add, threads, flat)
            # Texts that need normalizing take the Python path; the rest stay parallel.
            slow_ids = dict(zip(slow, self._encode_normalizing([texts[i] for i in slow], active, max_body, add,
                                                               threads)))
            fast = [t if i not in slow_ids else "" for i, t in enumerate(texts)]
            out = self._core.encode_batch(fast, active, max_body, add, threads, flat)
        except UnicodeEncodeError as e:          # HF refuses lone surrogates
            raise _unicode_error(e) from None
        if not flat:
            for i, ids in slow_ids.items():
                out[i] = ids
            return out
        return _splice_flat(out, slow_ids)


def _splice_flat(flat, replacements):
    """(ids, offsets) with the documents in ``replacements`` (index -> ids) swapped in:
    the runs of documents between them are copied as whole slices."""
    import numpy as np

    ids, offsets = flat
    pieces, lengths, prev = [], np.diff(offsets), 0
    for i in sorted(replacements):
        # array("I") reads a list of ints much faster than np.asarray does
        pieces += [ids[offsets[prev]:offsets[i]], np.frombuffer(array("I", replacements[i]), dtype=np.uint32)]
        lengths[i] = len(replacements[i])
        prev = i + 1
    pieces.append(ids[offsets[prev]:])
    new_offsets = np.zeros_like(offsets)
    np.cumsum(lengths, out=new_offsets[1:])
    return np.concatenate(pieces), new_offsets


_NO_SPLIT = (None, None)      # no added-token pass: encode_ordinary

# ---------------------------------------------------------------- OpenAI's encodings, and pickles

_encodings: dict = {}
_encodings_lock = threading.Lock()


def get_encoding(name: str) -> Tokenizer:
    """An OpenAI encoding (``gpt2``, ``r50k_base``, ``cl100k_base``, ``o200k_base``) with
    tiktoken's ids. GPT-2's ranks ship with warptok; the others are looked up on this
    machine (see ``warptok.encodings.candidate_paths``). Cached: one object per name."""
    with _encodings_lock:
        tok = _encodings.get(name)
        if tok is None:
            path = encodings.find_rank_file(name)
            data = path.read_bytes()
            encodings.check_hash(name, path, data)
            tok = _encoding(name, data, bundled=path == encodings.BUNDLED_GPT2)
            _encodings[name] = tok
        return tok


def _encoding(name: str, data: bytes, *, bundled: bool) -> Tokenizer:
    """Encoding ``name`` from its rank file's bytes. It pickles by name and those bytes (by
    name alone for the rank file that ships with warptok)."""
    pattern, specials, _ = encodings.ENCODINGS[name]
    return Tokenizer._from_ranks(data, pattern, specials, name, where=name,
                                 origin=Source("encoding", None if bundled else data))


def _restore(version, header: str, payload: bytes) -> Tokenizer:
    """A pickled Tokenizer (Tokenizer.__reduce__), rebuilt from its file's bytes."""
    h, data = source.unpack_state(version, header, payload)
    tok = _rebuild(h, data)
    if tok._origin.kind == h["kind"]:
        tok._origin.adopt(h["codec"], payload)      # no second compression if pickled again
    return tok


def _rebuild(h: dict, data) -> Tokenizer:
    kind, name = h["kind"], h["name"]
    if kind == "encoding":
        # The process's own encoding when it has one (a pickle of get_encoding(name) is it).
        with _encodings_lock:
            tok = _encodings.get(name)
        if tok is None:
            tok = get_encoding(name) if data is None else _encoding(name, data, bundled=False)
            with _encodings_lock:
                tok = _encodings.setdefault(name, tok)
        return tok
    if kind == "json":
        return Tokenizer(tokenizer_json.parse_tokenizer_json(data), name=name, _origin=Source("json", data))
    if kind == "tiktoken":
        return Tokenizer._from_ranks(data, h["pattern"], h["special_tokens"], name)
    if kind == "pretrained":
        document = json_numbers.loads(data)
        document["added_tokens"] = (document.get("added_tokens") or []) + h["added"]
        files = model_dir.ModelFiles(Path(name), document, {}, h["chat_template"], h["special_tokens_map"], (),
                                     h["split_special_tokens"], data, tuple(h["added"]))
        return Tokenizer._from_model(files, name)
    raise errors.ValueError(f"a warptok pickle of an unknown kind {kind!r}")


def _as_str(text, i=None) -> str:
    """``text`` as an exact str: a subclass's characters (``numpy.str_``, a user's class), or
    TypeError. Exact strs never come here, so the common call pays nothing."""
    if isinstance(text, str):
        return str.__str__(text)        # a str holding the same characters, whatever __str__ says
    where = "text" if i is None else f"texts[{i}]"
    raise errors.TypeError(f"{where} must be str, not {type(text).__name__}")


def _id_of(v, i):
    import operator
    try:
        return operator.index(v)
    except TypeError:
        raise errors.TypeError(f"ids[{i}] must be an int, not {type(v).__name__}: {repr(v)[:60]}") from None


def threads_argument(num_threads) -> int:
    """A call's ``num_threads`` for the worker pool: a positive int, or None for every CPU (0)."""
    if num_threads is None:
        return 0
    if isinstance(num_threads, bool) or not isinstance(num_threads, int) or num_threads < 1:
        raise errors.ValueError(f"num_threads must be a positive int or None, not {num_threads!r}")
    return num_threads


def _unicode_error(e: UnicodeEncodeError) -> errors.UnicodeEncodeError:
    return errors.UnicodeEncodeError(e.encoding, e.object, e.start, e.end, e.reason)


def _disallowed_special_token(token: str) -> errors.ValueError:
    """tiktoken's error, word for word (tiktoken_compat promises it)."""
    return errors.ValueError(
        f"Encountered text corresponding to disallowed special token {token!r}.\n"
        "If you want this text to be encoded as a special token, "
        f"pass it to `allowed_special`, e.g. `allowed_special={{{token!r}, ...}}`.\n"
        f"If you want this text to be encoded as normal text, disable the check for this token "
        f"by passing `disallowed_special=(enc.special_tokens_set - {{{token!r}}})`.\n"
        "To disable this check for all special tokens, pass `disallowed_special=()`.\n"
    )
