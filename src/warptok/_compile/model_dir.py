"""Model directories: a local directory, or a repo id in the local Hugging Face cache.

Reads what ``transformers`` reads to build a tokenizer and its chat template, from local
files only (nothing is downloaded):

* ``tokenizer.json`` — the tokenizer itself;
* ``tokenizer_config.json`` — ``chat_template`` (a string, or a list of named templates),
  the named special tokens (``bos_token``, ``eos_token``, ...) that chat templates use, and
  ``added_tokens_decoder``: tokens that transformers adds to the tokenizer when it loads the
  directory, as it adds the named special tokens the file lacks;
* ``chat_template.jinja`` and ``additional_chat_templates/*.jinja`` — which take priority
  over the config's template, as in transformers 4.5x/5.x;
* ``special_tokens_map.json`` — legacy special tokens, read when the config has no
  ``added_tokens_decoder`` (as transformers does).

:func:`read_model_dir` is the one reader: ``Tokenizer.from_pretrained`` and
``warptok.hf.from_pretrained(..., backend="files")`` both build on its result, so both
have the same added tokens.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .. import errors
from . import json_numbers

# transformers' SPECIAL_TOKENS_ATTRIBUTES, in its order.
NAMED_SPECIAL_TOKENS = ("bos_token", "eos_token", "unk_token", "sep_token", "pad_token", "cls_token", "mask_token")


@dataclass(frozen=True)
class ModelFiles:
    """What a model directory says about its tokenizer."""
    directory: Path
    document: dict                 # tokenizer.json with the tokens transformers adds on load
    config: dict                   # tokenizer_config.json ({} when absent)
    chat_template: object          # str, dict name -> template, or None
    special_tokens_map: dict       # named special token -> text, as the template sees them
    all_special_tokens: tuple      # their texts and the config's extra special tokens, in order
    split_special_tokens: bool     # the config's flag, applied when encoding a rendered chat
    raw: bytes = b""               # tokenizer.json's bytes as read (pickles rebuild from them)
    added: tuple = ()              # the entries of document["added_tokens"] that are not in raw


def vocab_ids(model) -> dict | None:
    """token -> id of a tokenizer.json model: its ``vocab`` object, or Unigram's list of
    ``[piece, score]`` by position; None when it has neither."""
    vocab = model.get("vocab") if isinstance(model, dict) else None
    if isinstance(vocab, dict):
        return vocab
    if isinstance(vocab, list) and all(isinstance(e, list) and e and isinstance(e[0], str) for e in vocab):
        return {e[0]: i for i, e in enumerate(vocab)}
    return None


def read_model_dir(path, *, revision: str | None = None, cache_dir=None) -> ModelFiles:
    """Read a local model directory or a repo id (``"Qwen/Qwen3-8B"``) from the Hugging Face
    cache. Raises ``FileNotFoundError`` naming where it looked when there is no ``tokenizer.json``."""
    directory = resolve_model_dir(path, revision=revision, cache_dir=cache_dir)
    raw = (directory / "tokenizer.json").read_bytes()
    document = _parse_json(raw, directory / "tokenizer.json")
    if not isinstance(document, dict):
        raise errors.ValueError(f"{directory / 'tokenizer.json'} is not a tokenizer.json file")
    cfg_path = directory / "tokenizer_config.json"
    config = _read_json(cfg_path) if cfg_path.is_file() else {}
    info = read_chat_config(directory)
    special = dict(info["special_tokens_map"])
    padding = document.get("padding") or {}
    if "pad_token" not in special and padding.get("pad_token"):
        special["pad_token"] = padding["pad_token"]
    extra = config.get("extra_special_tokens")
    if not isinstance(extra, list):
        extra = config.get("additional_special_tokens")
    extra = [t for t in (_token_text(x) for x in (extra if isinstance(extra, list) else [])) if t is not None]
    all_tokens = tuple(dict.fromkeys(list(special.values()) + extra))
    added = _add_config_tokens(document, config, all_tokens)
    return ModelFiles(directory, document, config, info["chat_template"], special, all_tokens,
                      info["split_special_tokens"], raw, tuple(added))


# ---------------------------------------------------------------- where the files are

def hf_cache_dir() -> Path:
    """The Hugging Face hub cache, resolved from the environment as huggingface_hub does."""
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            return Path(os.environ[var]).expanduser()
    if os.environ.get("HF_HOME"):
        return Path(os.environ["HF_HOME"]).expanduser() / "hub"
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(xdg) / "huggingface" / "hub"


def resolve_model_dir(path, *, revision: str | None = None, cache_dir=None) -> Path:
    """A directory holding ``tokenizer.json``: ``path`` itself, the directory of a given
    ``tokenizer.json``, or the cached snapshot of repo id ``path``."""
    p = Path(path).expanduser()
    if p.is_file() and p.name == "tokenizer.json":
        return p.parent
    if p.is_dir():
        if (p / "tokenizer.json").is_file():
            return p
        raise errors.FileNotFoundError(f"no tokenizer.json in {p}")
    repo = str(path)
    if repo.count("/") > 1 or not repo or repo.startswith(("/", ".")):
        raise errors.FileNotFoundError(f"{path!r} is neither a model directory nor a repo id")
    cache = Path(cache_dir).expanduser() if cache_dir else hf_cache_dir()
    root = cache / ("models--" + repo.replace("/", "--"))
    snapshots = root / "snapshots"
    if not snapshots.is_dir():
        raise errors.FileNotFoundError(f"{repo!r} is not a local directory and is not in the Hugging Face cache "
                                       f"({root}); warptok never downloads: fetch it first with huggingface_hub's "
                                       f"command: hf download {repo}")
    candidates = []
    ref = root / "refs" / (revision or "main")
    if ref.is_file():
        candidates.append(snapshots / ref.read_text().strip())
    elif revision:
        candidates.append(snapshots / revision)           # a commit hash
    else:
        # No refs/main (a cache filled by revision): the most recently written snapshot.
        candidates += sorted((d for d in snapshots.iterdir() if d.is_dir()),
                             key=lambda d: d.stat().st_mtime, reverse=True)
    for snap in candidates:
        if (snap / "tokenizer.json").is_file():
            return snap
    raise errors.FileNotFoundError(f"no tokenizer.json for {repo!r} in the Hugging Face cache ({snapshots})"
                                   + (f" at revision {revision!r}" if revision else ""))


# ---------------------------------------------------------------- what the files say

def _read_json(path: Path):
    with open(path, "rb") as f:
        return _parse_json(f.read(), path)


def _parse_json(data: bytes, path: Path):
    try:
        return json_numbers.loads(data)      # HF's reading of fractional numbers (Unigram's scores)
    except (ValueError, UnicodeDecodeError) as e:
        raise errors.ValueError(f"{path} is not a JSON file: {e}") from None


def _token_text(value):
    """A special token as a config stores it: a string or an AddedToken dict."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and isinstance(value.get("content"), str):
        return value["content"]
    return None


def read_chat_config(directory) -> dict:
    """``{"chat_template": ..., "special_tokens_map": {...}}`` from a model directory,
    with transformers' rules of precedence."""
    directory = Path(directory)
    cfg_path = directory / "tokenizer_config.json"
    config = _read_json(cfg_path) if cfg_path.is_file() else {}

    # Templates: chat_template.jinja and additional_chat_templates/*.jinja win over the config.
    templates = {}
    jinja = directory / "chat_template.jinja"
    if jinja.is_file():
        templates["default"] = jinja.read_text(encoding="utf-8")
    extra_dir = directory / "additional_chat_templates"
    if extra_dir.is_dir():
        for f in sorted(extra_dir.glob("*.jinja")):
            templates[f.name[: -len(".jinja")]] = f.read_text(encoding="utf-8")
    if len(templates) == 1 and "default" in templates:
        chat_template = templates["default"]
    elif templates:
        chat_template = templates
    else:
        chat_template = config.get("chat_template")
        if chat_template is None and (directory / "chat_template.json").is_file():
            chat_template = _read_json(directory / "chat_template.json").get("chat_template")
        if isinstance(chat_template, (list, tuple)):
            chat_template = {t["name"]: t["template"] for t in chat_template}

    # Special tokens the template sees (transformers 5: named tokens only, plus model-specific ones).
    values = dict(config)
    if "additional_special_tokens" in values and not values.get("extra_special_tokens"):
        values["extra_special_tokens"] = values.pop("additional_special_tokens")
    legacy = directory / "special_tokens_map.json"
    if "added_tokens_decoder" not in config and legacy.is_file():
        for key, value in _read_json(legacy).items():
            if key not in ("extra_special_tokens", "additional_special_tokens"):
                values[key] = value
            elif isinstance(value, dict):
                values["extra_special_tokens"] = value
    special = {}
    for key in NAMED_SPECIAL_TOKENS:
        text = _token_text(values.get(key))
        if text is not None:
            special[key] = text
    model_specific = {k: v for k, v in values.items()
                      if k.endswith("_token") and k not in NAMED_SPECIAL_TOKENS and isinstance(v, str)}
    if isinstance(values.get("extra_special_tokens"), dict):
        model_specific.update(values["extra_special_tokens"])
    for key, value in model_specific.items():
        text = _token_text(value)
        if text is not None:
            special[key] = text
    return {"chat_template": chat_template, "special_tokens_map": special,
            "split_special_tokens": bool(config.get("split_special_tokens", False))}


def _add_config_tokens(j: dict, config: dict, special_texts):
    """Add to the tokenizer.json what transformers adds when it loads the directory: the
    config's ``added_tokens_decoder`` entries the file lacks (with their flags, in the order
    of their keys), then the named and extra special tokens that are not added tokens yet
    (special, no strip, not normalized). Returns the entries added. They carry no "id":
    transformers adds them through the backend, which numbers them as it numbers the file's
    own (the vocabulary's id, else the next one; tokenizer_json._read_added), whatever the
    config's keys say."""
    entries = j.setdefault("added_tokens", [])
    n_file = len(entries)
    have = {a["content"] for a in entries}
    for _, value in sorted((config.get("added_tokens_decoder") or {}).items(), key=lambda kv: int(kv[0])):
        if not isinstance(value, dict) or value.get("content") in have:
            continue
        entries.append({"content": value["content"], "single_word": bool(value.get("single_word")),
                        "lstrip": bool(value.get("lstrip")), "rstrip": bool(value.get("rstrip")),
                        "normalized": bool(value.get("normalized", not value.get("special"))),
                        "special": bool(value.get("special"))})
        have.add(value["content"])
    for text in special_texts:
        if text in have:
            continue
        entries.append({"content": text, "single_word": False, "lstrip": False, "rstrip": False,
                        "normalized": False, "special": True})
        have.add(text)
    return entries[n_file:]
