"""``warptok encode``: tokenize large local or http:// inputs into a flat id file.

    warptok encode INPUT... --model M --out FILE.bin [--docs file|line] [--threads N]

Inputs are read through :class:`warptok.io.PrefetchReader` in blocks (the next
block is fetched while this one is tokenized) and tokenized with the batch
encoder on every core. Two files are written:

* ``FILE.bin``: the token ids, uint32 little-endian, all documents back to back;
* ``FILE.idx`` (or ``--index``): int64 little-endian offsets, one per document
  plus one: document i is ``ids[idx[i]:idx[i+1]]``.

``--docs file`` (default) makes every input one document, with the ids of
encoding the whole file at once: blocks are cut only after a newline followed by
an ASCII non-space character, a point no pre-tokenizer of the supported families
matches across, and every cut is checked by encoding the text around it both
ways. ``--docs line`` makes every line (without its newline) one document.

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
        "encode", help="tokenize large local or http:// inputs into a flat uint32 id file",
        description="Tokenize local files or http:// URLs (read through warptok.io.PrefetchReader) "
                    "into FILE.bin (uint32 ids) and FILE.idx (int64 document offsets).")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="local paths or http:// URLs")
    p.add_argument("--model", default="gpt2", help=MODEL_HELP)
    p.add_argument("--out", required=True, help="the id file to write (uint32 little-endian)")
    p.add_argument("--index", default=None, help="the offsets file (default: --out with suffix .idx)")
    p.add_argument("--docs", choices=("file", "line"), default="file",
                   help="what one document is: a whole input (default) or one line")
    p.add_argument("--allow-special", action="store_true",
                   help="recognize special tokens written in the text (default: encode them as text)")
    p.add_argument("--add-special-tokens", action="store_true",
                   help="add the tokenizer's BOS/EOS tokens to every document (with --docs line)")
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


def run(args) -> int:
    import numpy as np

    from ..io import PrefetchReader

    if args.add_special_tokens and args.docs != "line":
        raise CommandError("--add-special-tokens needs --docs line "
                           "(a whole input is encoded in blocks, which must not each get BOS/EOS)")
    out_path = Path(args.out)
    idx_path = Path(args.index) if args.index else out_path.with_suffix(".idx")
    for option, path in (("--out", out_path), ("--index", idx_path)):
        if not path.parent.is_dir():        # before any work; the directory is not made for you
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
        prog = Progress(total, not args.quiet and sys.stderr.isatty(), "encode", unit="MB", scale=1e6, tqdm=False)
        n_tokens = n_docs = 0
        start = time.perf_counter()
        f_ids = None
        try:
            f_ids = open(out_path, "wb")
            f_idx = open(idx_path, "wb")
        except OSError as e:
            if f_ids is not None:
                f_ids.close()
            raise CommandError(f"cannot write {e.filename}: {e.strerror}") from None
        with f_ids, f_idx:
            np.zeros(1, dtype="<i8").tofile(f_idx)

            def emit(texts: List[str], doc_ends: List[int], nbytes: int) -> None:
                """Encodes texts; doc_ends[i] = number of texts ending document i."""
                nonlocal n_tokens, n_docs
                if texts:
                    ids, offs = enc.batch(texts)
                    ids.astype("<u4", copy=False).tofile(f_ids)
                else:
                    ids, offs = np.zeros(0, np.uint32), np.zeros(1, np.int64)
                ends = np.asarray([int(offs[k]) for k in doc_ends], dtype="<i8") + n_tokens
                ends.tofile(f_idx)
                n_tokens += len(ids)
                n_docs += len(doc_ends)
                prog.update(nbytes, f"{n_tokens:,} tokens")

            for r in readers:
                rest, pos = b"", 0
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
                        texts = [ln.decode("utf-8", "replace") for ln in lines]
                        emit(texts, list(range(1, len(texts) + 1)), len(data))
                    else:
                        pieces, rest = _pieces(enc, buf, final, piece)
                        texts = [p.decode("utf-8", "replace") for p in pieces]
                        emit(texts, [len(texts)] if final else [], len(data))
                    if final:
                        break
        prog.close(f"{n_tokens:,} tokens")
    finally:
        for r in readers:
            r.close()
    seconds = time.perf_counter() - start
    if not args.quiet:
        print(f"{len(readers)} inputs  {n_docs:,} documents  {total:,} bytes  {n_tokens:,} tokens  {seconds:.2f} s  "
              f"{total / max(seconds, 1e-9) / 1e6:.1f} MB/s  -> {out_path} (uint32), {idx_path} (int64 offsets)")
    return 0
