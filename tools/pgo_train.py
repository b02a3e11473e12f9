"""The training run of setup.py's profile-guided build: encode sample text with the
instrumented extension, so that GCC lays out the hot paths from real branch counts.

It uses only what every build machine has: the GPT-2 ranks that ship with warptok (under
three pre-tokenizer patterns, so that three scanner families are trained, and once more
under cl100k's with HF's NFC normalizer, as Qwen2/3 run), the Python standard library's
sources (English in docstrings and comments, and code), and two pathological pieces, one
word of 50,000 letters and a letter followed by 20,000 combining marks: the paths that keep
such input linear are trained too, or a build that speeds up text leaves them behind.
Nothing it reads belongs to this repository, so editing the docs does not change the
binary. (Generated accented text in bulk made English slower; see the history.) Any
exception fails the build step, and setup.py then builds without a profile.

    PYTHONPATH=<dir holding the built warptok package> python tools/pgo_train.py
"""

import itertools
import random
import sys
import sysconfig
import unicodedata
from pathlib import Path

import warptok
from warptok import encodings
from warptok._compile import normalizers, tiktoken_file

SAMPLE_BYTES = 1_500_000     # ~2 s instrumented on x86-64; the profile needs coverage, not volume
DOC_CHARS = 3000


def sample_documents() -> list:
    texts, size = [], 0
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        if size >= SAMPLE_BYTES:
            break
        text = path.read_text(encoding="utf-8", errors="replace")
        texts.append(text)
        size += len(text)
    if size < 100_000:
        raise RuntimeError(f"only {size} characters of sample text found")
    return [t[i:i + DOC_CHARS] for t in texts for i in range(0, len(t), DOC_CHARS)]


def pathological_pieces(docs) -> list:
    rng = random.Random(0)
    word = "".join(itertools.islice((c for d in docs for c in d if c.isascii() and c.isalpha()), 50_000))
    marks = "e" + "".join(chr(rng.randrange(0x300, 0x370)) for _ in range(20_000))
    return [word, marks]


def nfc_tokenizer(ranks_path):
    """The bundled ranks under cl100k's pattern (the scanner family Qwen2/3 use) with HF's
    NFC normalizer, which the core applies as it does for Qwen2/3."""
    ranks = tiktoken_file.load_tiktoken_ranks(ranks_path)
    spec = tiktoken_file.tiktoken_spec(ranks, encodings.CL100K_PATTERN, None)
    spec.normalizer = normalizers.build({"type": "NFC"})
    return warptok.Tokenizer(spec)


def train(tok, docs):
    for _ in range(2):                               # the second pass hits the piece cache
        ids = [tok.encode_ordinary(d) for d in docs]
        assert tok.encode_ordinary_batch(docs) == ids
        assert [tok.count(d, disallowed_special=()) for d in docs] == [len(x) for x in ids]


def main() -> int:
    docs = sample_documents()
    odd = pathological_pieces(docs)
    gpt2 = encodings.BUNDLED_GPT2
    tokenizers = [warptok.get_encoding("gpt2")] + [
        warptok.Tokenizer.from_tiktoken(gpt2, pattern) for pattern in (encodings.CL100K_PATTERN, encodings.O200K_PATTERN)]
    for tok in tokenizers:
        train(tok, docs + odd[:1])
    nfc = nfc_tokenizer(gpt2)
    assert nfc.encode_ordinary(unicodedata.normalize("NFD", "caf\u00e9")) == nfc.encode_ordinary("caf\u00e9")
    train(nfc, docs[: len(docs) // 4] + odd)
    print(f"pgo_train: {len(docs)} documents, {sum(map(len, docs))} characters, {len(tokenizers)} patterns, "
          f"then cl100k's with NFC; pieces of {', '.join(str(len(p)) for p in odd)} characters")
    return 0


if __name__ == "__main__":
    sys.exit(main())
