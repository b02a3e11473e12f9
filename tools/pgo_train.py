"""The training run of setup.py's profile-guided build: encode sample text with the
instrumented extension, so that GCC lays out the hot paths from real branch counts.

It uses only what every build machine has: the GPT-2 ranks that ship with warptok (under
three pre-tokenizer patterns, so that three scanner families are trained), this
repository's README.md and the Python standard library's sources (English in
docstrings and comments, and code). Any exception fails the build step, and setup.py
then builds without a profile.

    PYTHONPATH=<dir holding the built warptok package> python tools/pgo_train.py
"""

import sys
import sysconfig
from pathlib import Path

import warptok
from warptok import encodings

SAMPLE_BYTES = 1_500_000     # ~2 s instrumented on x86-64; the profile needs coverage, not volume
DOC_CHARS = 3000


def sample_documents() -> list:
    texts = []
    readme = Path(__file__).resolve().parent.parent / "README.md"
    if readme.exists():
        texts.append(readme.read_text(encoding="utf-8"))
    size = sum(map(len, texts))
    for path in sorted(Path(sysconfig.get_paths()["stdlib"]).glob("*.py")):
        if size >= SAMPLE_BYTES:
            break
        text = path.read_text(encoding="utf-8", errors="replace")
        texts.append(text)
        size += len(text)
    if size < 100_000:
        raise RuntimeError(f"only {size} characters of sample text found")
    return [t[i:i + DOC_CHARS] for t in texts for i in range(0, len(t), DOC_CHARS)]


def main() -> int:
    docs = sample_documents()
    gpt2 = encodings.BUNDLED_GPT2
    tokenizers = [warptok.get_encoding("gpt2")] + [
        warptok.Tokenizer.from_tiktoken(gpt2, pattern) for pattern in (encodings.CL100K_PATTERN, encodings.O200K_PATTERN)]
    for tok in tokenizers:
        for _ in range(2):                           # the second pass hits the piece cache
            ids = [tok.encode_ordinary(d) for d in docs]
            assert tok.encode_ordinary_batch(docs) == ids
            assert [tok.count(d, disallowed_special=()) for d in docs] == [len(x) for x in ids]
    print(f"pgo_train: {len(docs)} documents, {sum(map(len, docs))} characters, {len(tokenizers)} patterns")
    return 0


if __name__ == "__main__":
    sys.exit(main())
