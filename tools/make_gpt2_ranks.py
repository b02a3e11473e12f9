"""Write src/warptok/data/gpt2.tiktoken.gz from GPT-2's encoder.json (MIT).

GPT-2's ranks are its encoder.json ids (tiktoken asserts as much when it builds
them from vocab.bpe), so the bundled file is encoder.json with each byte-level
token turned back into raw bytes, in tiktoken's "base64 rank" format.

    python tools/make_gpt2_ranks.py ../shared/data/vocab/gpt2_encoder.json
"""

import base64
import gzip
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src" / "warptok" / "_compile"))
from bytelevel import to_bytes  # noqa: E402  (plain module, no build needed)


def main(encoder_json: str):
    encoder = json.loads(Path(encoder_json).read_text(encoding="utf-8"))
    lines = []
    for token, rank in sorted(encoder.items(), key=lambda kv: kv[1]):
        if token == "<|endoftext|>":
            continue                      # a special token, not a rank
        lines.append(base64.b64encode(to_bytes(token)) + b" " + str(rank).encode())
    out = Path(__file__).resolve().parents[1] / "src" / "warptok" / "data" / "gpt2.tiktoken.gz"
    out.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", mtime=0))
    print(f"wrote {out} ({len(lines)} ranks)")


if __name__ == "__main__":
    main(sys.argv[1])
