"""GPT-2 in Hugging Face's tokenizer.json layout, built from its MIT-licensed
encoder.json and vocab.bpe (the files tiktoken reads): the HF reference for GPT-2
in the tests and the benchmarks, which import it from here."""

import json
from pathlib import Path


def gpt2_tokenizer_json(vocab_dir) -> str:
    """tokenizer.json text from vocab_dir/gpt2_encoder.json and vocab_dir/gpt2_vocab.bpe."""
    vocab_dir = Path(vocab_dir)
    encoder = json.loads((vocab_dir / "gpt2_encoder.json").read_text(encoding="utf-8"))
    merges = [line for line in (vocab_dir / "gpt2_vocab.bpe").read_text(encoding="utf-8").splitlines()[1:] if line]
    byte_level = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    return json.dumps({
        "version": "1.0", "truncation": None, "padding": None,
        "added_tokens": [{"id": 50256, "content": "<|endoftext|>", "single_word": False, "lstrip": False,
                          "rstrip": False, "normalized": False, "special": True}],
        "normalizer": None, "pre_tokenizer": byte_level, "post_processor": byte_level, "decoder": byte_level,
        "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": "",
                  "end_of_word_suffix": "", "fuse_unk": False, "byte_fallback": False, "vocab": encoder,
                  "merges": merges}})
