"""A transformers drop-in that is safe to share between threads: ``warptok.hf``.

    tok = warptok.hf.from_transformers(AutoTokenizer.from_pretrained(path))   # wrap a loaded tokenizer
    tok = warptok.hf.from_pretrained(path)                                    # or load a model directory
    batch = tok(texts, padding=True, truncation=True, max_length=512, return_tensors="np")
    ids = tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True, return_dict=False)

The object answers the calls of transformers' ``PreTrainedTokenizerFast`` that serving and
training code use — ``__call__`` on a string or a list of strings, and on pairs of them
(``text_pair``, or a list of ``(text, text_pair)`` tuples), with ``add_special_tokens``,
``truncation`` (``True``/``"longest_first"``, ``"only_first"``, ``"only_second"``,
``"do_not_truncate"``), ``max_length``, ``stride``, ``return_overflowing_tokens`` (and its
``overflow_to_sample_mapping``), ``padding``, ``pad_to_multiple_of``, ``padding_side``,
``return_attention_mask``, ``return_token_type_ids``, ``return_special_tokens_mask``,
``return_length``, ``return_tensors`` ``"np"``/``"pt"``; ``encode``, ``decode``,
``batch_decode``, ``apply_chat_template``, ``tokenize``, ``num_special_tokens_to_add``,
``convert_ids_to_tokens``/``convert_tokens_to_ids`` and the usual attributes — with the
outputs transformers gives for the same model. Pairs, overflowing tokens and special-token
masks follow HF's ``Encoding`` (truncation, then the post-processor's template; its
overflowing parts and their combinations in HF's order); HF's own errors are raised where it
raises them (:class:`warptok.errors.TruncationError` for its bare ``Exception``), and where HF
panics (a ``stride`` not below what a truncated text keeps) a ``ValueError`` saying so.

Thread safety, by construction rather than by locking
-----------------------------------------------------
transformers' fast tokenizer keeps truncation and padding *on the shared Rust object*: every
call first writes the call's settings into it (``set_truncation_and_padding``), then encodes.
Two threads with different settings race on that state — "RuntimeError: Already borrowed"
on older versions, silently wrong lengths on newer ones (see ``benchmarks/bench_threads.py``).

Here nothing is written after construction. Every option is an argument of the call and
lives in the call's local variables; the object holds only immutable data (str, int, tuple,
frozenset, and dicts that are never modified after ``__init__``); assigning an attribute
raises (:meth:`HFTokenizer.with_options` returns a configured copy that shares the compiled
tokenizer). The encoding itself is ``warptok.Tokenizer``'s: per-thread scratch in C, a
piece cache shared without locks (an entry read while it is written counts as missing),
and the worker pool's one mutex taken once to publish a batch and once to collect it
(``cext/common/pool.c``), never per text or per piece. So one ``HFTokenizer`` can serve
any number of threads, with or without the GIL, with no lock in this module.

Differences from transformers, on purpose
-----------------------------------------
* Immutable: ``tok.pad_token = ...`` / ``tok.padding_side = ...`` raise ``AttributeError``;
  use ``tok.with_options(pad_token=..., padding_side=...)`` (or configure the transformers
  tokenizer before :func:`from_transformers`).
* Features not reproduced raise instead of being ignored: ``text_target``/``text_pair_target``,
  ``is_split_into_words``, ``return_assistant_tokens_mask``, ``sanitize_control_tokens``,
  and unknown keyword arguments. ``return_offsets_mapping`` is reproduced, with pairs and
  overflowing parts too (``Tokenizer.encode_with_offsets``; a tokenizer whose offsets warptok
  cannot follow exactly raises NotImplementedError). The result's ``word_ids``,
  ``token_to_chars`` and ``char_to_token`` answer after a call with it, ``sequence_ids`` after
  that or any call with a pair or overflowing tokens; otherwise they raise (transformers
  answers them on every call of a fast tokenizer), and its other maps (``char_to_word``,
  ``word_to_tokens``, ...) are not there.
* The result of ``__call__`` is :class:`BatchEncoding`, a ``dict`` with attribute access
  (not transformers' class, so that this module does not need transformers).
"""

from __future__ import annotations

import inspect
import json
import os
import sys
import warnings
from types import MappingProxyType
from typing import Mapping, NamedTuple, Sequence

from . import errors
from ._compile import model_dir, post
from .tokenizer import Tokenizer, threads_argument

__all__ = ["HFTokenizer", "BatchEncoding", "from_transformers", "from_pretrained"]

# transformers' VERY_LARGE_INTEGER / LARGE_INTEGER (tokenization_utils_base).
VERY_LARGE_INTEGER = int(1e30)
LARGE_INTEGER = int(1e20)

_PADDING = {"longest": "longest", "max_length": "max_length", "do_not_pad": "do_not_pad"}
_TRUNCATION = {"longest_first": "longest_first", "only_first": "only_first", "only_second": "only_second",
               "do_not_truncate": "do_not_truncate"}

# transformers 5 tokenizer classes that, on the byte-level BPE models tested (tests/test_hf.py),
# encode exactly with the pipeline of the model's tokenizer.json. Other classes may rebuild the
# pipeline from the vocabulary (GPT2Tokenizer replaces the pre-tokenizer and drops the
# normalizer, for example), so from_pretrained(..., backend="files") refuses them.
FILE_CLASSES = frozenset({None, "PreTrainedTokenizerFast", "PreTrainedTokenizer", "TokenizersBackend",
                          "LlamaTokenizerFast", "LlamaTokenizer", "Qwen2Tokenizer", "Qwen2TokenizerFast"})

_CLEANUP = ((" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
            (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"))


class BatchEncoding(dict):
    """The result of a tokenizer call: ``input_ids``, ``attention_mask``, ... as keys and
    as attributes (``enc.input_ids``), like transformers' ``BatchEncoding``."""

    def __getattr__(self, name):
        try:
            return self[name]
        except KeyError:
            raise errors.AttributeError(name) from None

    @property
    def data(self) -> dict:
        return dict(self)

    def to(self, device):
        """transformers moves torch tensors to ``device``; other values stay as they are."""
        out = BatchEncoding({k: (v.to(device) if hasattr(v, "to") and not isinstance(v, list) else v)
                             for k, v in self.items()})
        if "_spans" in self.__dict__:
            out.__dict__["_spans"] = self.__dict__["_spans"]
        return out

    # transformers' maps between tokens, words and characters. Per row, _spans holds
    # (offsets or None, word ids or None, sequence ids): the offsets and word ids from a call
    # with return_offsets_mapping=True, the sequence ids from it or from any call with a pair,
    # overflowing tokens, a stride or special-token masks (transformers keeps its encodings on
    # every fast call)

    def _span(self, i, need_offsets=True):
        spans = self.__dict__.get("_spans")
        if spans is None or (need_offsets and spans[i][0] is None):
            raise errors.ValueError("warptok.hf: word_ids, token_to_chars and char_to_token need the call's "
                                    "return_offsets_mapping=True; sequence_ids that or a pair of texts")
        return spans[i]

    def word_ids(self, batch_index: int = 0) -> list:
        """Per token, the index of the word (pre-token) it came from; None for special tokens."""
        return list(self._span(batch_index)[1])

    def sequence_ids(self, batch_index: int = 0) -> list:
        """Per token, 0 for the first text's, 1 for the second's, None for special tokens and padding."""
        return list(self._span(batch_index, need_offsets=False)[2])

    def token_to_chars(self, batch_or_token_index: int, token_index: int | None = None):
        """The (start, end) characters of a token (a ``CharSpan``), None for a special token."""
        batch, token = (0, batch_or_token_index) if token_index is None else (batch_or_token_index, token_index)
        offsets, _, seqs = self._span(batch)
        if seqs[token] is None:
            return None
        return CharSpan(*offsets[token])

    def char_to_token(self, batch_or_char_index: int, char_index: int | None = None, sequence_index: int = 0):
        """The index of the first token of the text ``sequence_index`` whose characters hold the
        character, or None."""
        batch, char = (0, batch_or_char_index) if char_index is None else (batch_or_char_index, char_index)
        offsets, _, seqs = self._span(batch)
        for i, (seq, (start, end)) in enumerate(zip(seqs, offsets)):
            if seq == sequence_index and start <= char < end:
                return i
        return None


class CharSpan(NamedTuple):
    """transformers' CharSpan: a token's characters."""
    start: int
    end: int


class HFTokenizer:
    """An immutable ``PreTrainedTokenizerFast`` look-alike over a :class:`warptok.Tokenizer`.

    Build one with :func:`from_transformers` or :func:`from_pretrained`. All options are call
    arguments; the object is safe to share between threads (see the module docstring)."""

    def __init__(self, tokenizer: Tokenizer, *, special_tokens: Mapping[str, str] | None = None,
                 special_ids: Mapping[str, int | None] | None = None, all_special_tokens: Sequence[str] = (),
                 all_special_ids: Sequence[int] = (), padding_side: str = "right",
                 truncation_side: str = "right", model_max_length: int = VERY_LARGE_INTEGER,
                 model_input_names: Sequence[str] = ("input_ids", "attention_mask"), pad_token_type_id: int = 0,
                 chat_template=None, split_special_tokens: bool = False,
                 clean_up_tokenization_spaces: bool = False, clean_up_bpe: bool = False,
                 name_or_path: str = "", vocab: Mapping[str, int] | None = None,
                 n_tokens: int | None = None, vocab_size: int | None = None,
                 chat_return_dict: bool = True):
        if padding_side not in ("left", "right"):
            raise errors.ValueError(f"padding_side must be 'left' or 'right', not {padding_side!r}")
        if truncation_side not in ("left", "right"):
            raise errors.ValueError(f"truncation_side must be 'left' or 'right', not {truncation_side!r}")
        if tokenizer.source != "huggingface":
            raise errors.TypeError("warptok.hf wraps a tokenizer.json tokenizer; for a tiktoken encoding use "
                                   "warptok.tiktoken_compat")
        s = object.__setattr__
        s(self, "_tok", tokenizer)
        special_tokens = {k: str(v) for k, v in (special_tokens or {}).items() if v is not None}
        s(self, "_special", MappingProxyType(special_tokens))
        ids = dict(special_ids or {})
        for key, text in special_tokens.items():
            if ids.get(key) is None and isinstance(text, str):
                ids[key] = tokenizer.added_tokens.get(text)
        s(self, "_special_ids", MappingProxyType(ids))
        s(self, "_all_special_tokens", tuple(all_special_tokens))
        s(self, "_all_special_ids", tuple(all_special_ids))
        s(self, "padding_side", padding_side)
        s(self, "truncation_side", truncation_side)
        s(self, "model_max_length", int(model_max_length))
        s(self, "_model_input_names", tuple(model_input_names))
        s(self, "pad_token_type_id", int(pad_token_type_id))
        s(self, "chat_template", MappingProxyType(dict(chat_template)) if isinstance(chat_template, dict)
          else chat_template)
        s(self, "split_special_tokens", bool(split_special_tokens))
        s(self, "clean_up_tokenization_spaces", bool(clean_up_tokenization_spaces))
        s(self, "_clean_up_bpe", bool(clean_up_bpe))
        s(self, "name_or_path", str(name_or_path))
        s(self, "_vocab", dict(vocab) if vocab is not None else None)
        s(self, "_n_tokens", n_tokens)
        s(self, "_vocab_size", vocab_size)
        s(self, "_chat_return_dict", bool(chat_return_dict))
        spec = tokenizer._spec
        s(self, "_prefix", list(spec.prefix))
        s(self, "_suffix", list(spec.suffix))
        s(self, "_id_to_token", None)
        s(self, "_options", dict(
            special_tokens=special_tokens, special_ids=dict(ids), all_special_tokens=list(all_special_tokens),
            all_special_ids=list(all_special_ids), padding_side=padding_side, truncation_side=truncation_side,
            model_max_length=model_max_length, model_input_names=list(model_input_names),
            pad_token_type_id=pad_token_type_id, chat_template=chat_template,
            split_special_tokens=split_special_tokens, clean_up_tokenization_spaces=clean_up_tokenization_spaces,
            clean_up_bpe=clean_up_bpe, name_or_path=name_or_path, vocab=vocab,
            n_tokens=n_tokens, vocab_size=vocab_size, chat_return_dict=chat_return_dict))

    # ------------------------------------------------------------ immutability

    def __setattr__(self, name, value):
        raise errors.AttributeError(f"warptok.hf tokenizers are immutable (safe to share between threads): "
                                    f"use tok.with_options({name}=...) for a configured copy")

    def __delattr__(self, name):
        raise errors.AttributeError("warptok.hf tokenizers are immutable")

    def with_options(self, **changes) -> "HFTokenizer":
        """A copy with other defaults (``pad_token``, ``padding_side``, ``truncation_side``,
        ``model_max_length``, ``model_input_names``, ``chat_template``, ``split_special_tokens``,
        ``clean_up_tokenization_spaces``, or any named special token such as ``eos_token``).
        The compiled tokenizer is shared, so this is cheap."""
        opts = dict(self._options)
        opts["special_tokens"] = dict(opts["special_tokens"])
        opts["special_ids"] = dict(opts["special_ids"])
        for key, value in changes.items():
            if key.endswith("_token") and key not in ("split_special_tokens",):
                if value is None:
                    opts["special_tokens"].pop(key, None)
                    opts["special_ids"].pop(key, None)
                else:
                    value = str(value)
                    opts["special_tokens"][key] = value
                    opts["special_ids"][key] = self.convert_tokens_to_ids(value)
            elif key in opts and key not in ("special_tokens", "special_ids", "vocab"):
                opts[key] = value
            else:
                raise errors.TypeError(f"with_options() got an unexpected option {key!r}")
        return HFTokenizer(self._tok, **opts)

    def __reduce__(self):
        """Pickled as its :class:`warptok.Tokenizer` (the tokenizer.json, compressed) and its
        settings as JSON, without the vocabulary, which is read again from the tokenizer.json
        on first use (``datasets.map(num_proc=...)`` and ``multiprocessing`` pickle the tokenizer)."""
        options = dict(self._options, vocab=None)
        return _rebuild, (self._tok, json.dumps(options, ensure_ascii=False))

    def __copy__(self):
        return self             # immutable

    def __deepcopy__(self, memo):
        return self

    # ------------------------------------------------------------ attributes

    @property
    def warptok(self) -> Tokenizer:
        """The underlying :class:`warptok.Tokenizer`."""
        return self._tok

    @property
    def is_fast(self) -> bool:
        return True

    @property
    def special_tokens_map(self) -> dict:
        return dict(self._special)

    # Lists, as transformers returns them: fresh copies, so that changing one changes nothing here.
    all_special_tokens = property(lambda self: list(self._all_special_tokens))
    all_special_ids = property(lambda self: list(self._all_special_ids))
    model_input_names = property(lambda self: list(self._model_input_names))

    def _named(self, key):
        return self._special.get(key)

    def _named_id(self, key):
        return self._special_ids.get(key)

    bos_token = property(lambda self: self._named("bos_token"))
    eos_token = property(lambda self: self._named("eos_token"))
    unk_token = property(lambda self: self._named("unk_token"))
    pad_token = property(lambda self: self._named("pad_token"))
    sep_token = property(lambda self: self._named("sep_token"))
    cls_token = property(lambda self: self._named("cls_token"))
    mask_token = property(lambda self: self._named("mask_token"))
    bos_token_id = property(lambda self: self._named_id("bos_token"))
    eos_token_id = property(lambda self: self._named_id("eos_token"))
    unk_token_id = property(lambda self: self._named_id("unk_token"))
    pad_token_id = property(lambda self: self._named_id("pad_token"))
    sep_token_id = property(lambda self: self._named_id("sep_token"))
    cls_token_id = property(lambda self: self._named_id("cls_token"))
    mask_token_id = property(lambda self: self._named_id("mask_token"))

    @property
    def vocab_size(self) -> int:
        """Size of the base vocabulary (without added tokens), as transformers reports it."""
        if self._vocab_size is None:
            vocab, added = self._vocab_tables()
            object.__setattr__(self, "_vocab_size", len(set(vocab.values()) - set(added.values())))
        return self._vocab_size

    def __len__(self) -> int:
        if self._n_tokens is None:
            vocab, added = self._vocab_tables()
            object.__setattr__(self, "_n_tokens", len(set(vocab.values()) | set(added.values())))
        return self._n_tokens

    def __repr__(self):
        return (f"<warptok.hf.HFTokenizer {self.name_or_path!r} padding_side={self.padding_side!r} "
                f"truncation_side={self.truncation_side!r} pad_token={self.pad_token!r}>")

    def num_special_tokens_to_add(self, pair: bool = False) -> int:
        if pair:
            return post.n_special(self._tok._pair_template())
        return len(self._prefix) + len(self._suffix)

    # ------------------------------------------------------------ vocabulary

    def _vocab_tables(self):
        """(token -> id for every token, added token -> id). Built once on first use; a race
        between two first uses builds two equal tables, one of which is kept (no lock needed)."""
        vocab = self._vocab
        if vocab is None:
            j = self._tok._origin.document()
            vocab = dict(model_dir.vocab_ids(j["model"]) or {})
            vocab.update(self._tok.added_tokens)     # the ids HF gives them, not the file's "id"
            object.__setattr__(self, "_vocab", vocab)
        return vocab, self._tok.added_tokens

    def get_vocab(self) -> dict:
        return dict(self._vocab_tables()[0])

    @property
    def vocab(self) -> dict:
        return self.get_vocab()

    def get_added_vocab(self) -> dict:
        return dict(sorted(self._tok.added_tokens.items(), key=lambda kv: kv[1]))

    def _inverse(self) -> dict:
        inv = self._id_to_token
        if inv is None:
            vocab, added = self._vocab_tables()
            inv = {i: t for t, i in vocab.items()}
            inv.update({i: t for t, i in added.items()})
            # an added "normalized" token's string is its content after the normalizer, as
            # transformers' backend gives it (tokenizer_json._read_added)
            inv.update(self._tok._spec.added_decoded)
            object.__setattr__(self, "_id_to_token", inv)
        return inv

    def convert_tokens_to_ids(self, tokens):
        if tokens is None:
            return None
        vocab, added = self._vocab_tables()
        unk = self.unk_token_id

        def one(t):
            i = added.get(t)
            return i if i is not None else vocab.get(t, unk)

        return one(tokens) if isinstance(tokens, str) else [one(t) for t in tokens]

    def convert_ids_to_tokens(self, ids, skip_special_tokens: bool = False):
        inv = self._inverse()
        if isinstance(ids, int) or _is_np_integer(ids):
            return inv.get(int(ids))
        skip = set(self._all_special_ids) if skip_special_tokens else ()
        return [inv.get(int(i)) for i in _to_py(ids) if int(i) not in skip]

    def tokenize(self, text: str, pair: str | None = None, add_special_tokens: bool = False, **kwargs) -> list[str]:
        """The token strings of ``text`` (and ``pair``), as in the vocabulary."""
        return self.convert_ids_to_tokens(self.encode(text, text_pair=pair, add_special_tokens=add_special_tokens,
                                                      **kwargs))

    # ------------------------------------------------------------ encoding

    def __call__(self, text=None, text_pair=None, text_target=None, text_pair_target=None, *,
                 add_special_tokens: bool = True, padding=False, truncation=None, max_length: int | None = None,
                 stride: int = 0, is_split_into_words: bool = False, pad_to_multiple_of: int | None = None,
                 padding_side: str | None = None, return_tensors=None, return_token_type_ids: bool | None = None,
                 return_attention_mask: bool | None = None, return_overflowing_tokens: bool = False,
                 return_special_tokens_mask: bool = False, return_offsets_mapping: bool = False,
                 return_length: bool = False, verbose: bool = True, split_special_tokens: bool | None = None,
                 tokenizer_kwargs: dict | None = None, num_threads: int | None = None, **kwargs) -> BatchEncoding:
        """transformers' ``tokenizer(text, ...)`` for a string or a list of strings, and pairs of
        them (``text_pair``, or a list of 2-tuples).

        ``num_threads`` (warptok's own) sizes the worker pool for a list (default: all CPUs)."""
        options = dict(add_special_tokens=add_special_tokens, padding=padding, truncation=truncation,
                       max_length=max_length, stride=stride, pad_to_multiple_of=pad_to_multiple_of,
                       padding_side=padding_side, return_tensors=return_tensors,
                       return_token_type_ids=return_token_type_ids, return_attention_mask=return_attention_mask,
                       return_length=return_length, verbose=verbose, split_special_tokens=split_special_tokens,
                       num_threads=num_threads, return_overflowing_tokens=return_overflowing_tokens,
                       return_special_tokens_mask=return_special_tokens_mask)
        if tokenizer_kwargs:
            options.update(tokenizer_kwargs)
        unsupported = dict(text_target=text_target, text_pair_target=text_pair_target,
                           is_split_into_words=is_split_into_words)
        for key in list(kwargs):
            if key in unsupported or key in ("sanitize_control_tokens", "max_target_length"):
                unsupported[key] = kwargs.pop(key)
        if kwargs:
            raise errors.TypeError(f"warptok.hf: unexpected keyword argument(s) {sorted(kwargs)}")
        for key, value in unsupported.items():
            if value not in (None, False):
                raise errors.NotImplementedError(f"warptok.hf does not support {key}={value!r}")
        for key in list(options):
            if key not in _CALL_OPTIONS:
                raise errors.TypeError(f"warptok.hf: unexpected keyword argument {key!r}")
        if text is None:
            raise errors.ValueError("You need to specify either `text` or `text_target`.")
        if _needs_pair_path(text, text_pair, options):
            return self._call_pairs(text, text_pair, return_offsets_mapping=return_offsets_mapping, **options)
        del options["return_overflowing_tokens"], options["return_special_tokens_mask"]
        if return_offsets_mapping:
            return self._call_with_offsets(text, options)
        return self._call(text, **options)

    def _call(self, text, *, add_special_tokens=True, padding=False, truncation=None, max_length=None, stride=0,
              pad_to_multiple_of=None, padding_side=None, return_tensors=None, return_token_type_ids=None,
              return_attention_mask=None, return_length=False, verbose=True, split_special_tokens=None,
              num_threads=None):
        pad, trunc, max_length = self._strategies(padding, truncation, max_length, pad_to_multiple_of, verbose)
        if isinstance(text, str):
            batched, texts = False, [text]
        elif isinstance(text, (list, tuple)):
            batched, texts = True, list(text)
            for i, t in enumerate(texts):
                if not isinstance(t, str):
                    raise errors.ValueError("text input must be of type `str` (single example) or `list[str]` (batch); "
                                            f"texts[{i}] is {type(t).__name__}")
        else:
            raise errors.ValueError("text input must be of type `str` (single example) or `list[str]` (batch), "
                                    f"not {type(text).__name__}")
        split_special_tokens, side, tensors, return_token_type_ids, return_attention_mask = self._output_options(
            split_special_tokens, padding_side, return_tensors, return_token_type_ids, return_attention_mask)

        seqs = self._encode_many(texts, batched, bool(add_special_tokens), trunc, max_length,
                                 bool(split_special_tokens), num_threads)
        lengths = [len(s) for s in seqs]
        target = None
        if pad != "do_not_pad":
            target = max(lengths, default=0) if pad == "longest" else max_length
            if pad_to_multiple_of and target % pad_to_multiple_of:
                target += pad_to_multiple_of - target % pad_to_multiple_of
        if tensors is not None and (target is not None or len(set(lengths)) <= 1):
            return self._as_arrays(seqs, lengths, target, side, tensors, return_token_type_ids,
                                   return_attention_mask, return_length)
        pad_id = self.pad_token_id
        out = {"input_ids": []}
        if return_token_type_ids:
            out["token_type_ids"] = []
        if return_attention_mask:
            out["attention_mask"] = []
        if return_length:
            out["length"] = []
        for ids, n in zip(seqs, lengths):
            missing = target - n if target is not None and target > n else 0
            mask = [1] * n
            types = [0] * n
            if missing:
                fill = [pad_id] * missing
                if side == "right":
                    ids = ids + fill
                    mask = mask + [0] * missing
                    types = types + [self.pad_token_type_id] * missing
                else:
                    ids = fill + ids
                    mask = [0] * missing + mask
                    types = [self.pad_token_type_id] * missing + types
            out["input_ids"].append(ids)
            if return_token_type_ids:
                out["token_type_ids"].append(types)
            if return_attention_mask:
                out["attention_mask"].append(mask)
            if return_length:
                out["length"].append(len(ids))
        if tensors is not None:
            return BatchEncoding({k: _convert(v, tensors) for k, v in out.items()})
        if not batched:
            out = {k: (v[0] if v and isinstance(v[0], list) else v) for k, v in out.items()}
        return BatchEncoding(out)

    def _output_options(self, split_special_tokens, padding_side, return_tensors, return_token_type_ids,
                        return_attention_mask):
        """A call's options with the tokenizer's defaults filled in (one place for _call and
        _call_pairs): (split_special_tokens, padding side, tensor type, type ids?, mask?)."""
        if split_special_tokens is None:
            split_special_tokens = self.split_special_tokens
        side = padding_side if padding_side is not None else self.padding_side
        if side not in ("left", "right"):
            raise errors.ValueError(f"padding_side must be 'left' or 'right', not {side!r}")
        if return_token_type_ids is None:
            return_token_type_ids = "token_type_ids" in self._model_input_names
        if return_attention_mask is None:
            return_attention_mask = "attention_mask" in self._model_input_names
        return split_special_tokens, side, _tensor_type(return_tensors), return_token_type_ids, return_attention_mask

    def _strategies(self, padding, truncation, max_length, pad_to_multiple_of, verbose):
        """transformers' _get_padding_truncation_strategies: (padding, truncation, max_length)."""
        if max_length is not None and padding is False and truncation is None:
            truncation = "longest_first"
        if padding is not False:
            if padding is True:
                if verbose and max_length is not None and truncation in (None, False, "do_not_truncate"):
                    warnings.warn("`max_length` is ignored when `padding`=`True` and there is no truncation "
                                  "strategy. To pad to max length, use `padding='max_length'`.", stacklevel=4)
                pad = "longest"
            else:
                pad = _PADDING.get(_enum_value(padding))
                if pad is None:
                    raise errors.ValueError(f"{padding!r} is not a valid PaddingStrategy")
        else:
            pad = "do_not_pad"
        if truncation is not False and truncation is not None:
            if truncation is True:
                trunc = "longest_first"
            else:
                trunc = _TRUNCATION.get(_enum_value(truncation))
                if trunc is None:
                    raise errors.ValueError(f"{truncation!r} is not a valid TruncationStrategy")
        else:
            trunc = "do_not_truncate"
        if max_length is None:
            if pad == "max_length":
                if self.model_max_length > LARGE_INTEGER:
                    pad = "do_not_pad"
                else:
                    max_length = self.model_max_length
            if trunc != "do_not_truncate":
                if self.model_max_length > LARGE_INTEGER:
                    trunc = "do_not_truncate"
                else:
                    max_length = self.model_max_length
        if max_length is not None and (isinstance(max_length, bool) or not isinstance(max_length, int)
                                       or max_length < 0):
            raise errors.ValueError(f"max_length must be a non-negative int or None, not {max_length!r}")
        if pad != "do_not_pad" and (self.pad_token is None or self.pad_token_id is None or self.pad_token_id < 0):
            raise errors.ValueError(
                "Asking to pad but the tokenizer does not have a padding token. Please select a token to use as "
                "`pad_token` (warptok: tok = tok.with_options(pad_token=tok.eos_token)).")
        if (trunc != "do_not_truncate" and pad != "do_not_pad" and pad_to_multiple_of is not None
                and max_length is not None and max_length % pad_to_multiple_of != 0):
            raise errors.ValueError("Truncation and padding are both activated but truncation length "
                                    f"({max_length}) is not a multiple of pad_to_multiple_of ({pad_to_multiple_of}).")
        return pad, trunc, max_length

    def _encode_many(self, texts, batched, add, trunc, max_length, split, num_threads) -> list:
        """Ids of each text, truncated as HF tokenizers does: the body is cut to
        ``max_length`` minus the post-processor's special tokens, on ``truncation_side``; when
        ``max_length`` is smaller than those special tokens HF does not truncate at all."""
        limit = None
        tok = self._tok
        if trunc != "do_not_truncate" and max_length is not None:
            n_post = len(self._prefix) + len(self._suffix) if add else 0
            if max_length >= n_post:
                limit = max_length
            if trunc == "only_second" and limit is not None and limit > n_post:
                # HF fails only when a text is too long (a bare Exception, as HF raises it).
                seqs = self._encode_many(texts, batched, add, "do_not_truncate", None, split, num_threads)
                if any(len(s) > limit for s in seqs):
                    raise errors.TruncationError("Truncation error: Second sequence not provided")
                return seqs
        if limit is None or self.truncation_side == "right":
            if not batched:
                return [tok.encode(texts[0], add_special_tokens=add, max_length=limit, split_special_tokens=split)]
            return tok.encode_batch(texts, add_special_tokens=add, max_length=limit, split_special_tokens=split,
                                    num_threads=num_threads)
        # Left truncation: the last tokens of the body, then the post-processor's tokens.
        if not batched:
            bodies = [tok.encode(texts[0], add_special_tokens=False, split_special_tokens=split)]
        else:
            bodies = tok.encode_batch(texts, add_special_tokens=False, split_special_tokens=split,
                                      num_threads=num_threads)
        keep = limit - (len(self._prefix) + len(self._suffix) if add else 0)
        out = []
        for body in bodies:
            body = body[max(0, len(body) - keep):]
            out.append(self._prefix + body + self._suffix if add else body)
        return out

    def _call_with_offsets(self, text, options) -> BatchEncoding:
        """``__call__`` with ``return_offsets_mapping``: the usual result, plus
        ``offset_mapping`` (each token's (start, end) characters, HF's ``Encoding.offsets``;
        padding is (0, 0)), and the token/word/character maps on the result."""
        out = self._call(text, **options)
        batched = not isinstance(text, str)
        texts = list(text) if batched else [text]
        split = options["split_special_tokens"]
        if split is None:
            split = self.split_special_tokens
        _, trunc, max_length = self._strategies(options["padding"], options["truncation"], options["max_length"],
                                                options["pad_to_multiple_of"], False)
        encoded = self._offsets_many(texts, bool(options["add_special_tokens"]), trunc, max_length, bool(split),
                                     options["num_threads"])
        side = options["padding_side"] if options["padding_side"] is not None else self.padding_side
        rows = out["input_ids"] if batched or _tensor_type(options["return_tensors"]) is not None \
            else [out["input_ids"]]
        add = bool(options["add_special_tokens"])
        n_prefix, n_post = (len(self._prefix), len(self._prefix) + len(self._suffix)) if add else (0, 0)
        spans = []      # per text: offsets, word ids, sequence ids (all padded)
        for (ids, offsets, words), row in zip(encoded, rows):
            if list(row[len(row) - len(ids):] if side == "left" else row[:len(ids)]) != ids:
                raise errors.RuntimeError("warptok.hf: offsets and ids disagree (a bug: please report it)")
            pad = len(row) - len(ids)
            left = pad if side == "left" else 0
            offsets = [(0, 0)] * left + offsets + [(0, 0)] * (pad - left)
            words = [None] * left + words + [None] * (pad - left)
            first, end = left + n_prefix, left + len(ids) - (n_post - n_prefix)
            spans.append((offsets, words, [None] * first + [0] * (end - first) + [None] * (len(row) - end)))
        mapping = [sp[0] for sp in spans]
        tensors = _tensor_type(options["return_tensors"])
        if tensors is not None:
            import numpy as np
            # as transformers converts them: int64 when rectangular; ragged, numpy's own
            # conversion of each row (an empty one: float64)
            if len({len(m) for m in mapping}) <= 1:
                value = np.asarray(mapping, dtype=np.int64)
            else:
                value = np.empty(len(mapping), dtype=object)
                value[:] = [np.asarray(m) for m in mapping]
            if tensors == "pt":
                import torch
                value = torch.from_numpy(value)
        else:
            value = mapping if batched else mapping[0]
        items = list(out.items())
        at = next((i for i, (k, _) in enumerate(items) if k == "length"), len(items))
        result = BatchEncoding(items[:at] + [("offset_mapping", value)] + items[at:])
        result.__dict__["_spans"] = spans
        return result

    def _offsets_many(self, texts, add, trunc, max_length, split, num_threads) -> list:
        """(ids, offsets, word ids) of each text, truncated as _encode_many truncates."""
        tok = self._tok
        limit = None
        if trunc not in ("do_not_truncate", "only_second") and max_length is not None:
            n_post = len(self._prefix) + len(self._suffix) if add else 0
            if max_length >= n_post:
                limit = max_length
        if limit is None or self.truncation_side == "right":
            return tok.encode_batch_with_offsets(texts, add_special_tokens=add, max_length=limit,
                                                 split_special_tokens=split, num_threads=num_threads, word_ids=True)
        keep = limit - (len(self._prefix) + len(self._suffix) if add else 0)
        out = []
        for ids, offsets, words in tok.encode_batch_with_offsets(texts, add_special_tokens=False,
                                                                 split_special_tokens=split,
                                                                 num_threads=num_threads, word_ids=True):
            cut = max(0, len(ids) - keep)
            ids, offsets, words = ids[cut:], offsets[cut:], words[cut:]
            if add:
                ids = self._prefix + ids + self._suffix
                offsets = [(0, 0)] * len(self._prefix) + offsets + [(0, 0)] * len(self._suffix)
                words = [None] * len(self._prefix) + words + [None] * len(self._suffix)
            out.append((ids, offsets, words))
        return out

    def _as_arrays(self, seqs, lengths, target, side, tensors, types, mask, return_length):
        """Rectangular results straight into numpy (transformers' values, dtype int64)."""
        import numpy as np

        n = len(seqs)
        width = max(max(lengths, default=0), target or 0)
        lens = np.asarray(lengths, dtype=np.int64)
        cols = np.arange(width, dtype=np.int64)
        if side == "right":
            real = cols[None, :] < lens[:, None]
        else:
            real = cols[None, :] >= (width - lens)[:, None]
        ids = np.full((n, width), self.pad_token_id if width and target else 0, dtype=np.int64)
        if n and width:
            ids[real] = np.fromiter((i for s in seqs for i in s), dtype=np.int64, count=int(lens.sum()))
        out = {"input_ids": ids}
        if types:
            t = np.zeros((n, width), dtype=np.int64)
            if self.pad_token_type_id:
                t[~real] = self.pad_token_type_id
            out["token_type_ids"] = t
        if mask:
            out["attention_mask"] = real.astype(np.int64)
        if return_length:
            out["length"] = np.full(n, width, dtype=np.int64)
        if tensors == "pt":
            import torch

            out = {k: torch.from_numpy(v) for k, v in out.items()}
        return BatchEncoding(out)

    # ------------------------------------------------------------ pairs, overflowing parts, special-token masks

    def _call_pairs(self, text, text_pair, *, add_special_tokens=True, padding=False, truncation=None,
                    max_length=None, stride=0, pad_to_multiple_of=None, padding_side=None, return_tensors=None,
                    return_token_type_ids=None, return_attention_mask=None, return_overflowing_tokens=False,
                    return_special_tokens_mask=False, return_offsets_mapping=False, return_length=False,
                    verbose=True, split_special_tokens=None, num_threads=None):
        """``__call__`` as transformers' fast tokenizer does it through HF's ``Encoding``s: each
        input truncated (with its overflowing parts), put in the template, padded, and
        flattened into rows (``overflow_to_sample_mapping`` says whose row is whose)."""
        pad, trunc, max_length = self._strategies(padding, truncation, max_length, pad_to_multiple_of, verbose)
        batched, inputs = _pair_inputs(text, text_pair)
        if not isinstance(stride, int) or isinstance(stride, bool) or stride < 0:
            raise errors.ValueError(f"stride must be a non-negative int, not {stride!r}")
        if trunc != "do_not_truncate" and max_length is not None:
            # HF's check when truncation is set, with a single text's special tokens (for a pair
            # too); below them HF's unsigned subtraction wraps around and nothing is checked.
            effective = max_length - (len(self._prefix) + len(self._suffix))
            if 0 <= effective < stride:
                raise errors.ValueError(
                    f"tokenizer stride set to {stride}, which is greater than or equal to its effective max length "
                    f"of {effective} (= {max_length} original max length - {max_length - effective} added special "
                    "tokens), ")
        if not inputs:
            raise errors.IndexError("an empty batch (transformers raises IndexError here too)")
        split_special_tokens, side, tensors, return_token_type_ids, return_attention_mask = self._output_options(
            split_special_tokens, padding_side, return_tensors, return_token_type_ids, return_attention_mask)

        tok = self._tok
        single = post.templates(tok._spec)[0]
        if not add_special_tokens:
            single = [(item, t) for item, t in single if item == "A"]
        pair = tok._pair_template(bool(add_special_tokens)) if any(b is not None for _, b in inputs) else None
        # Every text, first and second, in one batch on the pool, without the post-processor.
        seconds = [b for _, b in inputs if b is not None]
        texts = [a for a, _ in inputs] + seconds
        spans = None        # with offsets: per text, its offsets before trim_offsets and its added tokens' strings
        if return_offsets_mapping:
            plan = tok._offsets()
            active = tok._call_options(False, None, (), "all", bool(split_special_tokens))[0]
            raw = plan.encode(texts, active, -1, False, threads_argument(num_threads), True, raw=True)
            bodies = [r[0] for r in raw]
            spans = (iter([(r[1], r[2], r[3]) for r in raw[:len(inputs)]]),
                     iter([(r[1], r[2], r[3]) for r in raw[len(inputs):]]))
        else:
            bodies = tok.encode_batch(texts, add_special_tokens=False, split_special_tokens=bool(split_special_tokens),
                                      num_threads=num_threads)
        firsts, later = bodies[:len(inputs)], iter(bodies[len(inputs):])
        # RobertaProcessing gives its overflowing parts type id 0; the others their sequence's index.
        roberta = bool(add_special_tokens) and any(p.get("type") == "RobertaProcessing"
                                                   for p in tok._spec.post_offsets)
        cut = trunc if max_length is not None else "do_not_truncate"
        rows, owner, main_lengths = [], [], []
        for i, (a, (_, b)) in enumerate(zip(firsts, inputs)):
            b = next(later) if b is not None else None
            offs = None
            if spans is not None:
                offs = (next(spans[0]), next(spans[1]) if b is not None else None, plan.trim)
            encodings = _post_process(a, b, single if b is None else pair, cut, max_length, stride,
                                      self.truncation_side, roberta, return_overflowing_tokens, offs)
            main_lengths.append(len(encodings[0][0]))
            rows += encodings
            owner += [i] * len(encodings)

        target = None
        if pad != "do_not_pad":
            target = max(main_lengths) if pad == "longest" else max_length
            if pad_to_multiple_of and target % pad_to_multiple_of:
                target += pad_to_multiple_of - target % pad_to_multiple_of
        out = {"input_ids": []}
        for key, wanted in (("token_type_ids", return_token_type_ids), ("attention_mask", return_attention_mask),
                            ("special_tokens_mask", return_special_tokens_mask),
                            ("offset_mapping", return_offsets_mapping), ("length", return_length)):
            if wanted:
                out[key] = []
        maps = []               # per row: offsets, word ids and sequence ids, for BatchEncoding's maps
        for ids, types, specials, offsets, words, seqs in rows:
            mask = [1] * len(ids)
            missing = target - len(ids) if target is not None and target > len(ids) else 0
            if missing:         # HF pads every row, overflowing ones too, to the target of the main rows
                ids, types, specials, mask, offsets, words, seqs = (
                    _padded(ids, self.pad_token_id, missing, side), _padded(types, self.pad_token_type_id, missing, side),
                    _padded(specials, 1, missing, side), _padded(mask, 0, missing, side),
                    _padded(offsets, (0, 0), missing, side), _padded(words, None, missing, side),
                    _padded(seqs, None, missing, side))
            maps.append((offsets if return_offsets_mapping else None, words if return_offsets_mapping else None, seqs))
            out["input_ids"].append(ids)
            if return_token_type_ids:
                out["token_type_ids"].append(types)
            if return_attention_mask:
                out["attention_mask"].append(mask)
            if return_special_tokens_mask:
                out["special_tokens_mask"].append(specials)
            if return_offsets_mapping:
                out["offset_mapping"].append(offsets)
            if return_length:
                out["length"].append(len(ids))
        if return_overflowing_tokens:
            out["overflow_to_sample_mapping"] = owner
        if tensors is not None:
            result = BatchEncoding({k: _convert(v, tensors) for k, v in out.items()})
        else:
            if not batched and not return_overflowing_tokens:
                out = {k: (v[0] if v and isinstance(v[0], list) else v) for k, v in out.items()}
            result = BatchEncoding(out)
        result.__dict__["_spans"] = maps
        return result

    def encode(self, text, text_pair=None, add_special_tokens: bool = True, padding=False, truncation=None,
               max_length: int | None = None, stride: int = 0, padding_side: str | None = None,
               return_tensors=None, **kwargs):
        """transformers' ``encode``: the ``input_ids`` of ``__call__`` (a list for a string)."""
        return self(text, text_pair=text_pair, add_special_tokens=add_special_tokens, padding=padding,
                    truncation=truncation, max_length=max_length, stride=stride, padding_side=padding_side,
                    return_tensors=return_tensors, **kwargs)["input_ids"]

    # ------------------------------------------------------------ decoding

    def decode(self, token_ids, skip_special_tokens: bool = False, clean_up_tokenization_spaces: bool | None = None,
               **kwargs):
        """transformers' ``decode``: a string for one sequence, a list of strings for a batch."""
        kwargs.pop("use_source_tokenizer", None)
        kwargs.pop("spaces_between_special_tokens", None)
        if kwargs:
            raise errors.TypeError(f"warptok.hf decode: unexpected keyword argument(s) {sorted(kwargs)}")
        token_ids = _to_py(token_ids)
        if isinstance(token_ids, (list, tuple)) and token_ids and isinstance(token_ids[0], (list, tuple)):
            return [self._decode(seq, skip_special_tokens, clean_up_tokenization_spaces) for seq in token_ids]
        return self._decode(token_ids, skip_special_tokens, clean_up_tokenization_spaces)

    def batch_decode(self, sequences, skip_special_tokens: bool = False,
                     clean_up_tokenization_spaces: bool | None = None, **kwargs) -> list[str]:
        sequences = _to_py(sequences)
        return [self.decode(seq, skip_special_tokens=skip_special_tokens,
                            clean_up_tokenization_spaces=clean_up_tokenization_spaces, **kwargs)
                for seq in sequences]

    def _decode(self, ids, skip_special_tokens, clean_up):
        if isinstance(ids, int):
            ids = [ids]
        text = self._tok.decode(ids, skip_special_tokens=skip_special_tokens)
        if clean_up is None:
            clean_up = self.clean_up_tokenization_spaces
        # transformers 5 skips this WordPiece-era clean-up for BPE models (every model here)
        # unless clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output is set.
        if clean_up and self._clean_up_bpe:
            for a, b in _CLEANUP:
                text = text.replace(a, b)
        return text

    # ------------------------------------------------------------ chat

    def get_chat_template(self, chat_template: str | None = None, tools=None) -> str:
        from .chat.template import select_template

        template = self.chat_template
        if isinstance(template, MappingProxyType):
            template = dict(template)
        return select_template(template, chat_template, tools)

    def apply_chat_template(self, conversation, tools=None, documents=None, chat_template: str | None = None,
                            add_generation_prompt: bool = False, continue_final_message=False,
                            tokenize: bool = True, padding=False, truncation: bool = False,
                            max_length: int | None = None, return_tensors=None, return_dict: bool | None = None,
                            return_assistant_tokens_mask: bool = False, tokenizer_kwargs: dict | None = None,
                            sanitize_control_tokens: bool = False, **kwargs):
        """transformers' ``apply_chat_template``, rendered by ``warptok.chat`` (the same Jinja
        environment) and tokenized by ``__call__`` with ``add_special_tokens=False``.
        ``return_dict`` defaults as in the transformers version the tokenizer came from (True in 5.x)."""
        from .chat import template as chat

        if return_dict is None:
            return_dict = self._chat_return_dict
        if not tokenize:
            return_dict = False
        if return_assistant_tokens_mask:
            raise errors.NotImplementedError("warptok.hf does not support return_assistant_tokens_mask")
        if sanitize_control_tokens:
            raise errors.NotImplementedError("warptok.hf does not support sanitize_control_tokens")
        source = self.get_chat_template(chat_template, tools)
        if isinstance(conversation, (list, tuple)) and len(conversation) == 0:
            raise errors.ValueError("Cannot apply chat template to an empty conversation. "
                                    "Provide at least one message.")
        if isinstance(conversation, (list, tuple)) and (isinstance(conversation[0], (list, tuple))
                                                        or hasattr(conversation[0], "messages")):
            conversations, batched = list(conversation), True
        else:
            conversations, batched = [conversation], False
        if continue_final_message and add_generation_prompt:
            raise errors.ValueError("continue_final_message and add_generation_prompt are not compatible. Use "
                                    "continue_final_message when you want the model to continue the final "
                                    "message, and add_generation_prompt when you want to add a header that will "
                                    "prompt it to start a new assistant message instead.")
        template = chat.compile_template(source)
        tool_schemas = chat.plain_tools(tools)
        if documents is not None:
            for document in documents:
                if not isinstance(document, dict):
                    raise errors.TypeError("Documents should be a list of dicts with 'title' and 'text' keys!")
        docs = chat.plain(documents)
        template_kwargs = chat.plain({**self.special_tokens_map, **kwargs})
        rendered = []
        for conv in conversations:
            messages = chat.prepare_messages(conv)
            tag, final = None, None
            if continue_final_message:
                messages, final, tag = _mark_final(messages, continue_final_message, source)
            text = template.render(messages=messages, tools=tool_schemas, documents=docs,
                                   add_generation_prompt=add_generation_prompt, **template_kwargs)
            if continue_final_message:
                text = _cut_final(text, final, tag)
            rendered.append(text)
        if not tokenize:
            return rendered if batched else rendered[0]
        out = self(rendered if batched else rendered[0], padding=padding, truncation=truncation,
                   max_length=max_length, add_special_tokens=False, return_tensors=return_tensors,
                   tokenizer_kwargs=tokenizer_kwargs)
        return out if return_dict else out["input_ids"]


def _rebuild(tokenizer, options: str):
    return HFTokenizer(tokenizer, **json.loads(options))


_CALL_OPTIONS = frozenset(inspect.signature(HFTokenizer._call_pairs).parameters) - {"self", "text", "text_pair"}
_FINAL_TAG = "CONTINUE_FINAL_MESSAGE_TAG "
_REASONING_FIELDS = ("reasoning_content", "thinking", "reasoning")


def _mark_final(messages, field, source):
    """transformers' continue_final_message: tag the end of the final message's text."""
    field = field if isinstance(field, str) else "content"
    last = dict(messages[-1])
    final = last.get(field)
    if final is None:
        raise errors.ValueError(f'continue_final_message is set but the final message has no "{field}" to continue!')
    fields = [field]
    if field in _REASONING_FIELDS:
        fields = [f for f in _REASONING_FIELDS if last.get(f) == final]
    if not any(f in source for f in fields):
        raise errors.ValueError(f'continue_final_message is set to "{field}" but this is not an accepted field in the '
                                "chat_template")
    if isinstance(final, (list, tuple)):
        blocks = [dict(b) if isinstance(b, dict) else b for b in final]
        for block in reversed(blocks):
            if "text" in block:
                final = block["text"]
                block["text"] = block["text"] + _FINAL_TAG
                break
        else:
            raise errors.ValueError("continue_final_message is set but we could not find any text to continue in the "
                                    "final message!")
        last[field] = blocks
    else:
        for f in fields:
            last[f] = last[f] + _FINAL_TAG
    return messages[:-1] + [last], final, _FINAL_TAG


def _cut_final(text, final, tag):
    if final.strip() not in text or tag.strip() not in text:
        raise errors.ValueError("continue_final_message is set but the final message does not appear in the chat after "
                                "applying the chat template!")
    at = text.rindex(tag.strip())
    if text[at:at + len(tag)] == tag:
        return text[:at]
    return text[:at].rstrip()


# ---------------------------------------------------------------- helpers: pairs and overflowing parts

def _needs_pair_path(text, text_pair, options) -> bool:
    """Whether a call needs HF's Encoding semantics (_call_pairs) rather than plain ids (_call):
    a second text, overflowing parts, special-token masks, or a stride (HF checks it)."""
    if options["return_overflowing_tokens"] or options["return_special_tokens_mask"] or options["stride"]:
        return True
    if isinstance(text, (list, tuple)):
        return text_pair is not None or any(not isinstance(t, str) for t in text)
    return bool(text_pair)      # transformers: a single text with an empty text_pair is a single text


def _pair_inputs(text, text_pair) -> tuple:
    """(batched, [(first, second or None)]) as transformers' _encode_plus reads its arguments:
    a str and an optional str; or a list of str with an optional list of str of the same
    length; or a list of str and (str, str) pairs."""
    if text_pair is not None and not isinstance(text_pair, (str, list, tuple)):
        raise errors.ValueError(f"text_pair must be a str or a list of str, not {type(text_pair).__name__}")
    if isinstance(text, str):
        if not text_pair:           # None, "" or []: a single text (transformers tests truthiness)
            return False, [(text, None)]
        if not isinstance(text_pair, str):
            raise errors.TypeError("TextInputSequence must be str: text_pair of a single text must be a str, "
                                   f"not {type(text_pair).__name__}")
        return False, [(text, text_pair)]
    if not isinstance(text, (list, tuple)):
        raise errors.ValueError("text input must be of type `str` (single example) or `list[str]` (batch), "
                                f"not {type(text).__name__}")
    if text_pair is None:
        inputs = []
        for i, t in enumerate(text):
            if isinstance(t, str):
                inputs.append((t, None))
            elif isinstance(t, (list, tuple)) and len(t) == 2 and all(isinstance(x, str) for x in t):
                inputs.append((t[0], t[1]))
            else:
                raise errors.ValueError("text input must be of type `str` (single example), `list[str]` (batch) or "
                                        f"a list of (str, str) pairs; texts[{i}] is {type(t).__name__}")
        return True, inputs
    if isinstance(text_pair, str):
        raise errors.TypeError("when tokenizing batches of text, `text_pair` must be a list or tuple with the same "
                               "length as `text`.")
    if len(text) != len(text_pair):
        raise errors.ValueError(f"batch length of `text`: {len(text)} does not match batch length of `text_pair`:"
                                f" {len(text_pair)}.")
    for i, (a, b) in enumerate(zip(text, text_pair)):
        if not isinstance(a, str) or not isinstance(b, str):
            raise errors.TypeError(f"TextInputSequence must be str: texts[{i}] and text_pair[{i}] must be str")
    return True, list(zip(text, text_pair))


def _post_process(a, b, template, truncation, max_length, stride, side, roberta, overflowing, offs=None) -> list:
    """HF's post_process of one input, body ids ``a`` (and ``b``) without special tokens:
    truncation to ``max_length`` minus the template's special tokens, then the template.
    [(ids, type_ids, special_tokens_mask, offsets, word ids, sequence ids)], the main row
    first, then (with ``overflowing``) the overflowing rows in HF's order. offs: (a's, b's
    (offsets before trim_offsets, word ids, added tokens' strings), the trim) or None
    (offsets (0, 0), word ids None); HF trims each part after truncation, on its own."""
    parts_a = [(0, len(a))]
    parts_b = [(0, len(b))] if b is not None else None
    budget = max_length - post.n_special(template) if truncation != "do_not_truncate" else -1
    if budget >= 0:             # below 0, HF's unsigned subtraction wraps around: nothing is cut
        keep_a, keep_b = post.truncation_targets(len(a), None if b is None else len(b), budget, truncation)
        parts_a = post.windows(len(a), keep_a, stride, side)
        if b is not None:
            parts_b = post.windows(len(b), keep_b, stride, side)

    def part(item, start, stop, type_id):
        body, seq = (a, 0) if item == "A" else (b, 1)
        n = stop - start
        if offs is None:
            offsets, words = [(0, 0)] * n, [None] * n
        else:
            (offsets, words, values), trim = offs[seq], offs[2]
            part_values = {i - start: v for i, v in values.items() if start <= i < stop}
            offsets, words = trim(body[start:stop], offsets[start:stop], part_values), words[start:stop]
        return body[start:stop], [type_id] * n, [0] * n, offsets, words, [seq] * n

    blocks = []
    for item, type_id in template:
        if item == "A" or item == "B":
            parts = parts_a if item == "A" else parts_b
            over_type = 0 if roberta or item == "A" else 1
            (start, stop), rest = parts[0], parts[1:] if overflowing else ()
            blocks.append((part(item, start, stop, type_id), [part(item, s, e, over_type) for s, e in rest]))
        else:
            n = len(item)
            blocks.append(((item, [type_id] * n, [1] * n, [(0, 0)] * n, [None] * n, [None] * n), []))
    return _merge(blocks)


def _merge(blocks) -> list:
    """HF's Encoding.merge of the template's parts in order, each (main, overflowing parts):
    every overflowing row so far is joined with the part and with each of its overflowing
    parts, then the main row with each of them. HF nests deeper combinations inside those
    rows, where transformers never looks."""
    main, over = ([], [], [], [], [], []), []
    for part, part_over in blocks:
        over = [_joined(o, x) for o in over for x in [part] + part_over] + [_joined(main, x) for x in part_over]
        main = _joined(main, part)
    return [main] + over


def _joined(x, y):
    return tuple(u + v for u, v in zip(x, y))


def _padded(values, fill, n, side):
    return values + [fill] * n if side == "right" else [fill] * n + values


# ---------------------------------------------------------------- helpers

def _enum_value(v):
    return getattr(v, "value", v)


def _tensor_type(return_tensors):
    if return_tensors is None:
        return None
    kind = _enum_value(return_tensors)
    if kind not in ("np", "pt"):
        raise errors.NotImplementedError(f"warptok.hf supports return_tensors='np' and 'pt', not {return_tensors!r}")
    return kind


def _convert(value, tensors):
    """transformers' BatchEncoding.convert_to_tensors for one value (ragged lists become an
    object array of arrays, as there)."""
    import numpy as np

    if isinstance(value, list) and value and isinstance(value[0], list) and len({len(v) for v in value}) > 1:
        if tensors == "pt":
            raise errors.ValueError("Unable to create tensor, you should probably activate truncation and/or "
                                    "padding with 'padding=True' 'truncation=True' to have batched tensors with "
                                    "the same length.")
        arr = np.empty(len(value), dtype=object)
        arr[:] = [np.asarray(v) for v in value]
        return arr
    arr = np.asarray(value, dtype=np.int64)
    if tensors == "pt":
        import torch

        return torch.from_numpy(arr)
    return arr


def _is_np_integer(x):
    np = sys.modules.get("numpy")
    return np is not None and isinstance(x, np.integer)


def _to_py(obj):
    """transformers' to_py_obj for ids: numpy arrays/scalars and tensors become lists/ints."""
    if isinstance(obj, (list, tuple)):
        if obj and not isinstance(obj[0], int):
            return [_to_py(o) for o in obj]
        return obj
    if hasattr(obj, "tolist"):
        return obj.tolist()
    return obj


# ---------------------------------------------------------------- construction

def from_transformers(tokenizer) -> HFTokenizer:
    """Wrap a loaded transformers fast tokenizer (``AutoTokenizer.from_pretrained(...)``).

    The pipeline is taken from the tokenizer's own backend (``backend_tokenizer.to_str()``),
    so what transformers changed at load time (a rebuilt pre-tokenizer or post-processor,
    added special tokens) is what warptok reproduces; the settings (pad token, padding and
    truncation side, model_max_length, chat template, ...) are copied once. Later changes
    to ``tokenizer`` do not reach the result."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    if backend is None:
        raise errors.TypeError(f"from_transformers needs a fast tokenizer (one with backend_tokenizer), "
                               f"not {type(tokenizer).__name__}")
    source = backend.to_str()
    core = Tokenizer.from_str(source, name=getattr(tokenizer, "name_or_path", None))
    special = {}
    ids = {}
    for key, value in dict(getattr(tokenizer, "special_tokens_map", {}) or {}).items():
        if isinstance(value, (list, tuple)):
            continue
        special[key] = str(value)
        ids[key] = tokenizer.convert_tokens_to_ids(str(value))
    try:
        chat_return_dict = inspect.signature(tokenizer.apply_chat_template).parameters["return_dict"].default
        chat_return_dict = bool(chat_return_dict) if isinstance(chat_return_dict, bool) else True
    except (KeyError, TypeError, ValueError):
        chat_return_dict = True
    template = getattr(tokenizer, "chat_template", None)
    return HFTokenizer(
        core, special_tokens=special, special_ids=ids,
        all_special_tokens=[str(t) for t in tokenizer.all_special_tokens],
        all_special_ids=list(tokenizer.all_special_ids),
        padding_side=tokenizer.padding_side, truncation_side=tokenizer.truncation_side,
        model_max_length=tokenizer.model_max_length, model_input_names=list(tokenizer.model_input_names),
        pad_token_type_id=getattr(tokenizer, "pad_token_type_id", 0) or 0,
        chat_template=dict(template) if isinstance(template, dict) else template,
        split_special_tokens=bool(getattr(tokenizer, "split_special_tokens", False)),
        clean_up_tokenization_spaces=bool(getattr(tokenizer, "clean_up_tokenization_spaces", False)),
        clean_up_bpe=bool(getattr(tokenizer, "clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output",
                                  False)),
        name_or_path=getattr(tokenizer, "name_or_path", ""), vocab=tokenizer.get_vocab(),
        n_tokens=len(tokenizer), vocab_size=tokenizer.vocab_size, chat_return_dict=chat_return_dict)


def from_pretrained(path, *, backend: str = "auto", revision: str | None = None, cache_dir=None,
                    **transformers_kwargs) -> HFTokenizer:
    """Load a local model directory (or a repo id already in the Hugging Face cache; nothing is
    downloaded).

    ``backend``: ``"transformers"`` loads it with ``AutoTokenizer.from_pretrained(path,
    local_files_only=True)`` and wraps it (:func:`from_transformers`): exact by construction;
    ``"files"`` reads tokenizer.json and tokenizer_config.json without importing transformers,
    for the tokenizer classes whose transformers 5 pipeline is the file's (``FILE_CLASSES``),
    raising :class:`warptok.UnsupportedTokenizer` for the others; ``"auto"`` (default):
    transformers when it is installed, else the files."""
    if backend not in ("auto", "transformers", "files"):
        raise errors.ValueError(f"backend must be 'auto', 'transformers' or 'files', not {backend!r}")
    if backend == "auto":
        import importlib.util

        backend = "transformers" if importlib.util.find_spec("transformers") is not None else "files"
    if backend == "transformers":
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        from transformers import AutoTokenizer

        kwargs = dict(local_files_only=True, **transformers_kwargs)
        if revision is not None:
            kwargs["revision"] = revision
        if cache_dir is not None:
            kwargs["cache_dir"] = cache_dir
        return from_transformers(AutoTokenizer.from_pretrained(str(path), **kwargs))
    if transformers_kwargs:
        raise errors.TypeError(f"unexpected keyword argument(s) for backend='files': {sorted(transformers_kwargs)}")
    return _from_files(path, revision=revision, cache_dir=cache_dir)


def _from_files(path, *, revision=None, cache_dir=None) -> HFTokenizer:
    files = model_dir.read_model_dir(path, revision=revision, cache_dir=cache_dir)
    config, j = files.config, files.document
    cls = config.get("tokenizer_class")
    if cls not in FILE_CLASSES:
        raise errors.UnsupportedTokenizer(
            f"tokenizer_class {cls!r}: transformers 5 may rebuild this class's pipeline instead of using "
            "tokenizer.json as it is; load it with transformers and wrap it with warptok.hf.from_transformers, "
            "or use from_pretrained(..., backend='transformers')")
    core = Tokenizer._from_model(files, str(path))
    special = files.special_tokens_map
    all_tokens = list(files.all_special_tokens)
    json_padding = j.get("padding") or {}
    json_truncation = j.get("truncation") or {}
    vocab = dict(model_dir.vocab_ids(j["model"]) or {})
    vocab_size = len(vocab)
    added = core.added_tokens
    vocab.update(added)         # the ids HF gives the added tokens, not the file's "id"
    ids = {k: added.get(v, vocab.get(v)) for k, v in special.items()}
    unk = ids.get("unk_token")
    for k, v in list(ids.items()):
        if v is None:
            ids[k] = unk
    padding_side = config.get("padding_side") or (json_padding.get("direction") or "right").lower()
    truncation_side = config.get("truncation_side") or (json_truncation.get("direction") or "right").lower()
    model_max_length = config.get("model_max_length") or json_truncation.get("max_length") or VERY_LARGE_INTEGER
    return HFTokenizer(
        core, special_tokens=special, special_ids=ids, all_special_tokens=all_tokens,
        all_special_ids=[added.get(t, vocab.get(t, unk)) for t in all_tokens],
        padding_side=padding_side, truncation_side=truncation_side, model_max_length=int(model_max_length),
        model_input_names=config.get("model_input_names") or ("input_ids", "attention_mask"),
        pad_token_type_id=json_padding.get("pad_type_id", 0) or 0,
        chat_template=files.chat_template, split_special_tokens=files.split_special_tokens,
        clean_up_tokenization_spaces=bool(config.get("clean_up_tokenization_spaces", False)),
        clean_up_bpe=bool(config.get("clean_up_tokenization_spaces_for_bpe_even_though_it_will_corrupt_output",
                                     False)),
        name_or_path=str(path), vocab=vocab, n_tokens=len(set(vocab.values())), vocab_size=vocab_size,
        chat_return_dict=True)
