"""What a tokenizer file says, as plain tables: the ``Spec`` both readers produce
(tokenizer_json, tiktoken_file) and core_tables turns into the compiled core's arguments,
plus the two facts about a Spec that the Python layer also needs."""

from __future__ import annotations

from dataclasses import dataclass, field, replace


@dataclass
class AddedToken:
    content: str
    id: int
    special: bool
    normalized: bool = False      # matched after normalization (HF's second pass)
    lstrip: bool = False
    rstrip: bool = False


@dataclass
class Stage:
    """One pre-tokenizer split: a pattern (None: no split) and HF's behavior."""
    pattern: str | None
    dialect: str = "onig"
    behavior: str = "Isolated"
    invert: bool = False
    prefix_space: bool = False
    other: tuple | None = None    # a split of pretokenize/classes.h instead: ("classes", block_of, classes)
                                  # or ("metaspace", replacement bytes, prepend scheme, split)


@dataclass
class Spec:
    source: str                          # "huggingface" or "tiktoken"
    token_bytes: dict                    # id -> bytes it decodes to
    bpe_ids: set                         # ids reachable by merging bytes
    mode_tiktoken: bool
    merges: object = None                # HF: flat uint32 array of (left, right, rank) rows
    ignore_merges: bool = False
    stages: list = field(default_factory=list)   # Stage, applied in order
    added: list = field(default_factory=list)    # AddedToken, in file order
    normalizer: object = None            # a normalizers.Normalizer, or None
    prefix: list = field(default_factory=list)   # post-processor ids before the text
    suffix: list = field(default_factory=list)
    decode_unsupported: str | None = None
    model: dict | None = None            # None: byte-level BPE; else the model's tables (_compile/models.py)
    id_to_token: dict = field(default_factory=dict)   # models: id -> token string (HF's id_to_token)
    decoder: object = None               # models: a _compile.decoders.Decoder
    pair: list | None = None             # the post-processor's pair template (_compile/post.py)
    single: list | None = None           # and its single one
    post_offsets: list = field(default_factory=list)  # post-processors that change offsets only
    added_decoded: dict = field(default_factory=dict)  # added id -> the normalized form HF decodes it to
    decode_skip: set | None = None       # ids skip_special_tokens drops (None: the special added ones)

    def skipped_ids(self) -> set:
        """The ids decode drops with skip_special_tokens."""
        if self.decode_skip is not None:
            return self.decode_skip
        return {a.id for a in self.added if a.special}

    def without_tables(self) -> "Spec":
        """The spec without its per-token tables (token bytes, BPE ids, merges): what a
        built tokenizer keeps, once the core holds them. A model's vocabulary goes too
        (id_to_token, which decode reads, stays)."""
        model = None if self.model is None else {k: v for k, v in self.model.items() if k != "vocab"}
        return replace(self, token_bytes=None, bpe_ids=None, merges=None, model=model)


def in_core_normalizer(spec: Spec) -> bool:
    """Whether the C core applies the normalizer itself to every text: NFC (Qwen2/2.5/3) alone,
    or a program of the core's steps that no text needs the Python path for."""
    n = spec.normalizer
    return n is not None and (n.form == "NFC" or (n.core is not None and n.unsafe is None))


def added_passes(spec: Spec):
    """The added tokens of each pass, with the text each is matched as: pass 0 on the
    raw text, pass 1 (HF's normalized: true tokens, content normalized) after normalization."""
    raw = [a for a in spec.added if not a.normalized or spec.source == "tiktoken"]
    norm = [a for a in spec.added if a.normalized and spec.source != "tiktoken"]
    norm_contents = [spec.normalizer.apply(a.content) if spec.normalizer else a.content for a in norm]
    return [(raw, [a.content for a in raw]), (norm, norm_contents)]


def steps(component, key: str) -> list:
    """A tokenizer.json component as the list of its steps: a ``Sequence``'s members under
    ``key`` (``"normalizers"``, ``"pretokenizers"``), nested Sequences flattened; the
    component alone; or none for null."""
    if component is None:
        return []
    if component.get("type") == "Sequence":
        return [x for member in component.get(key, []) for x in steps(member, key)]
    return [component]
