"""``warptok encode``: tokenize large local or http:// inputs into token files.

    warptok encode INPUT... --model M --out FILE.bin [--docs file|line] [--threads N]
    warptok encode INPUT... --model M --format megatron --out PREFIX [--jsonl-key text] [--append-eod]

Inputs are read through :class:`warptok.io.PrefetchReader` in blocks (the next
block is fetched while this one is tokenized) and tokenized with the batch
encoder on every core. ``--format warptok`` (default) writes two files:

* ``FILE.bin``: the token ids, uint32 little-endian, all documents back to back;
* ``FILE.idx`` (or ``--index``): int64 little-endian offsets, one per document
  plus one: document i is ``ids[idx[i]:idx[i+1]]``.

``--format megatron`` writes ``PREFIX.bin`` and ``PREFIX.idx`` in Megatron-LM's
indexed-dataset layout (:mod:`warptok.io.megatron`): uint16 ids when the
vocabulary has fewer than 65,500 ids, else int32; one sequence per document.

``--docs file`` (default) makes every input one document, with the ids of
encoding the whole file at once: blocks are cut only after a newline followed by
an ASCII non-space character, a point no pre-tokenizer of the supported families
matches across, and every cut is checked by encoding the text around it both
ways. ``--docs line`` makes every line (without its newline) one document.
``--jsonl-key KEY`` reads every non-blank line as a JSON object and makes its
``KEY`` string one document (Megatron's ``preprocess_data.py --json-keys``).

``--append-eod`` ends every document with the end-of-document id: ``--eod-id``
(an id or a token's text), else the model directory's ``eos_token``, else
``<|endoftext|>`` (:func:`warptok.io.megatron.end_of_document_id`).

"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import List

from .._progress import Progress
from ..errors import CommandError, WarptokError
from .common import MODEL_HELP, add_threads, load_model, positive_int

MiB = 1 << 20
_CUT_CONTEXT = 256                 # chars each side of a cut that are encoded to check it


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "encode", help="tokenize large local or http:// inputs into token files (warptok's or Megatron's)",
        description="Tokenize local files or http:// URLs (read through warptok.io.PrefetchReader) "
                    "into FILE.bin (uint32 ids) and FILE.idx (int64 document offsets), or with "
                    "--format megatron into Megatron-LM's PREFIX.bin and PREFIX.idx.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="local paths or http:// URLs")
    p.add_argument("--model", default="gpt2", help=MODEL_HELP)
    p.add_argument("--format", choices=("warptok", "megatron"), default="warptok",
                   help="warptok: uint32 ids + int64 offsets (default); megatron: Megatron-LM's indexed dataset")
    p.add_argument("--out", required=True,
                   help="the id file to write (warptok), or the prefix of PREFIX.bin and PREFIX.idx (megatron)")
    p.add_argument("--index", default=None,
                   help="the offsets file (warptok format; default: --out with suffix .idx)")
    p.add_argument("--docs", choices=("file", "line"), default=None,
                   help="what one document is: a whole input (default) or one line")
    p.add_argument("--jsonl-key", default=None, metavar="KEY",
                   help="inputs are JSON lines: every non-blank line is an object whose KEY string is one document")
    p.add_argument("--append-eod", action="store_true",
                   help="end every document with the end-of-document id (see --eod-id)")
    p.add_argument("--eod-id", default=None, metavar="ID",
                   help="the id (or token text) --append-eod appends; default: the model directory's eos_token, "
                        "else <|endoftext|>")
    p.add_argument("--allow-special", action="store_true",
                   help="recognize special tokens written in the text (default: encode them as text)")
    p.add_argument("--add-special-tokens", action="store_true",
                   help="add the tokenizer's BOS/EOS tokens to every document (with --docs line or --jsonl-key)")
    add_threads(p)
    p.add_argument("--block-mb", type=positive_int, default=16, help="MiB read per block (default 16)")
    p.add_argument("--quiet", action="store_true", help="no progress bar or summary")
    p.set_defaults(run=run)


def _safe_cut(buf: bytes, lo: int, hi: int) -> int:
    """The last position p in (lo, hi] with buf[p-1] == '\\n' and buf[p] an ASCII
    non-space, or -1."""
    p = buf.rfind(b"\n", lo, hi)
    while p >= lo:
        q = p + 1
        if q < len(buf) and q > lo and buf[q] < 0x80 and buf[q] not in b" \t\n\r\x0b\x0c":
            return q
        p = buf.rfind(b"\n", lo, p)
    return -1


class _Encoder:
    def __init__(self, tok, args):
        self.tok, self.args = tok, args

    def batch(self, texts: List[str]):
        a = self.args
        if not a.allow_special and not a.add_special_tokens:
            return self.tok.encode_ordinary_batch_flat(texts, num_threads=a.threads)
        return self.tok.encode_batch_flat(texts, num_threads=a.threads, add_special_tokens=a.add_special_tokens,
                                          allowed_special="all" if a.allow_special else (),
                                          disallowed_special=())

    def one(self, text: str) -> list:
        ids, _ = self.batch([text])
        return ids.tolist()

    def cut_is_exact(self, buf: bytes, cut: int) -> bool:
        left = buf[max(0, cut - 4 * _CUT_CONTEXT):cut].decode("utf-8", "replace")[-_CUT_CONTEXT:]
        right = buf[cut:cut + 4 * _CUT_CONTEXT].decode("utf-8", "replace")[:_CUT_CONTEXT]
        return self.one(left + right) == self.one(left) + self.one(right)


def _pieces(enc: _Encoder, buf: bytes, final: bool, piece: int) -> tuple:
    """Cuts buf into pieces of about `piece` bytes at checked safe points; returns
    (pieces, rest) where rest is carried to the next block (empty when final)."""
    out, pos, n = [], 0, len(buf)
    while n - pos > piece or (final and pos < n):
        if final and n - pos <= piece:
            out.append(buf[pos:])
            pos = n
            break
        hi = min(n - 1, pos + piece)
        cut = -1
        while hi > pos:
            c = _safe_cut(buf, pos, hi)
            if c < 0:
                break
            if enc.cut_is_exact(buf, c):
                cut = c
                break
            hi = c - 1
        if cut < 0:                      # none before the target size: take the first one after it
            c = pos + piece
            while True:
                c = _safe_cut(buf, c, min(n - 1, c + 64 * piece)) if c < n - 1 else -1
                if c < 0 or enc.cut_is_exact(buf, c):
                    break
            if c < 0:
                if final:
                    out.append(buf[pos:])
                    pos = n
                break
            cut = c
        out.append(buf[pos:cut])
        pos = cut
    return out, buf[pos:]


class _FlatFiles:
    """warptok's layout: uint32 ids, int64 document offsets (a leading 0). The same calls
    as :class:`warptok.io.megatron.MegatronWriter`."""

    def __init__(self, out_path: Path, idx_path: Path, eod_id):
        import numpy as np

        self.np, self.eod_id = np, eod_id
        self.out_path, self.idx_path = out_path, idx_path
        self.n_tokens = self.n_documents = 0
        self.f_ids = open(out_path, "wb")
        self.f_idx = open(idx_path, "wb")
        np.zeros(1, dtype="<i8").tofile(self.f_idx)

    def add_documents(self, ids, offsets) -> None:
        np = self.np
        n = len(offsets) - 1
        ends = offsets[1:] - offsets[0]
        if self.eod_id is not None:
            ids = np.insert(ids, ends, np.uint32(self.eod_id))
            ends = ends + np.arange(1, n + 1)
        ids.astype("<u4", copy=False).tofile(self.f_ids)
        (ends + self.n_tokens).astype("<i8").tofile(self.f_idx)
        self.n_tokens += len(ids)
        self.n_documents += n

    def add_tokens(self, ids) -> None:
        ids.astype("<u4", copy=False).tofile(self.f_ids)
        self.n_tokens += len(ids)

    def end_document(self) -> None:
        if self.eod_id is not None:
            self.add_tokens(self.np.asarray([self.eod_id], dtype="<u4"))
        self.np.asarray([self.n_tokens], dtype="<i8").tofile(self.f_idx)
        self.n_documents += 1

    def close(self) -> None:
        self.f_ids.close()
        self.f_idx.close()

    def abort(self) -> None:
        """Closes and removes both files (a run that failed)."""
        self.close()
        for path in (self.out_path, self.idx_path):
            path.unlink(missing_ok=True)


def _writer(args, tok):
    """The output files, as a writer with add_documents / add_tokens / end_document."""
    from ..io import megatron

    eod = None
    if args.append_eod:
        try:
            eod = megatron.end_of_document_id(tok, args.eod_id)
        except WarptokError as e:
            raise CommandError(str(e)) from None
    elif args.eod_id is not None:
        raise CommandError("--eod-id needs --append-eod")
    if args.format == "megatron" and args.index:
        raise CommandError("--index is for --format warptok; --format megatron writes PREFIX.bin and PREFIX.idx")
    out_path = Path(args.out)
    try:
        if args.format == "megatron":
            return megatron.MegatronWriter(args.out, tok.n_vocab, eod_id=eod)
        return _FlatFiles(out_path, Path(args.index) if args.index else out_path.with_suffix(".idx"), eod)
    except (OSError, WarptokError) as e:
        raise CommandError(str(e)) from None


def _describe(out) -> str:
    if isinstance(out, _FlatFiles):
        return f"{out.out_path} (uint32), {out.idx_path} (int64 offsets)"
    return f"{out.bin_path} ({out.dtype}), {out.idx_path} (Megatron's index)"


def _json_texts(lines: list, key: str, where: str, first_line: int) -> list:
    """The ``key`` string of every non-blank JSON line."""
    import json

    texts = []
    for n, line in enumerate(lines, first_line):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except ValueError as e:
            raise CommandError(f"{where}:{n}: not a JSON line ({e})") from None
        if not isinstance(obj, dict) or key not in obj:
            raise CommandError(f"{where}:{n}: no key {key!r} (--jsonl-key)")
        text = obj[key]
        if not isinstance(text, str):
            raise CommandError(f"{where}:{n}: {key!r} is a {type(text).__name__}, not a string")
        texts.append(text)
    return texts


def run(args) -> int:
    from ..io import PrefetchReader

    if args.jsonl_key is not None:
        if args.docs == "file":
            raise CommandError("--jsonl-key makes every line a document: it does not take --docs file")
        args.docs = "line"
    args.docs = args.docs or "file"
    if args.add_special_tokens and args.docs != "line":
        raise CommandError("--add-special-tokens needs --docs line or --jsonl-key "
                           "(a whole input is encoded in blocks, which must not each get BOS/EOS)")
    out_path = Path(args.out)
    for option, path in (("--out", out_path), ("--index", Path(args.index) if args.index else None)):
        if path is not None and not path.parent.is_dir():   # before any work; the directory is not made for you
            raise CommandError(f"{option} {path}: no directory {path.parent}")
    tok = load_model(args.model)
    enc = _Encoder(tok, args)
    block = args.block_mb * MiB
    piece = max(64 * 1024, min(MiB, block // 8))

    readers = []
    try:
        for src in args.inputs:
            try:
                readers.append(PrefetchReader(src, safetensors=False))
            except (OSError, ValueError, WarptokError) as e:
                raise CommandError(str(e)) from None
        total = sum(r.size for r in readers)
        out = _writer(args, tok)
        prog = Progress(total, not args.quiet and sys.stderr.isatty(), "encode", unit="MB", scale=1e6, tqdm=False)
        start = time.perf_counter()
        try:
            for src, r in zip(args.inputs, readers):
                rest, pos, line_no = b"", 0, 1
                while True:
                    data = r.pread(pos, block) if pos < r.size else b""
                    pos += len(data)
                    final = pos >= r.size
                    buf = rest + data if rest else data
                    if args.docs == "line":
                        lines = buf.split(b"\n")
                        rest = lines.pop()         # the unfinished last line (b"" after a final newline)
                        if final and rest:
                            lines.append(rest)
                            rest = b""
                        if args.jsonl_key is not None:
                            texts = _json_texts(lines, args.jsonl_key, src, line_no)
                        else:
                            texts = [ln.decode("utf-8", "replace") for ln in lines]
                        line_no += len(lines)
                        if texts:
                            out.add_documents(*enc.batch(texts))
                    else:
                        pieces, rest = _pieces(enc, buf, final, piece)
                        if pieces:
                            out.add_tokens(enc.batch([p.decode("utf-8", "replace") for p in pieces])[0])
                        if final:
                            out.end_document()
                    prog.update(len(data), f"{out.n_tokens:,} tokens")
                    if final:
                        break
        except BaseException:
            out.abort()
            raise
        out.close()
        prog.close(f"{out.n_tokens:,} tokens")
    finally:
        for r in readers:
            r.close()
    seconds = time.perf_counter() - start
    if not args.quiet:
        print(f"{len(readers)} inputs  {out.n_documents:,} documents  {total:,} bytes  {out.n_tokens:,} tokens  "
              f"{seconds:.2f} s  {total / max(seconds, 1e-9) / 1e6:.1f} MB/s  -> {_describe(out)}")
    return 0
