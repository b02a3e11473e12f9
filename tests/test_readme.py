"""What the README shows works as written: its snippets, the command line it names, and
the messages a user meets first."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
from conftest import REPO, data, gpt2_tokenizer_json

import warptok
from warptok import errors
from warptok.cli import main

README = (REPO / "README.md").read_text(encoding="utf-8")


def python_block(first_line: str) -> str:
    """The README's ```python block that contains ``first_line``."""
    for block in re.findall(r"```python\n(.*?)```", README, re.S):
        if first_line in block:
            return block
    raise AssertionError(f"no python block with {first_line!r} in README.md")


def test_readme_stays_short():
    assert len(README.splitlines()) <= 250


def test_use_block_runs_on_a_machine_without_rank_files(tmp_path):
    """The first lines need only what ships with warptok (no cl100k rank file)."""
    (tmp_path / "tokenizer.json").write_bytes(gpt2_tokenizer_json())
    code = python_block("warptok.get_encoding(")
    assert 'get_encoding("gpt2")' in code.splitlines()[2]
    script = ("import os\nos.environ['WARPTOK_DATA_DIR'] = '/nonexistent'\nos.environ['TIKTOKEN_CACHE_DIR'] = '/x'\n"
              "texts = ['hello world', 'more text']\ntext = texts[0]\nids = [31373, 995]\n" + code)
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True)


def test_chat_block_runs_after_a_plain_import(tmp_path):
    pytest.importorskip("jinja2")
    code = python_block("warptok.chat.read_conversations")
    code = code.replace("path/to/model", str(data("vocab", "qwen3")))
    code = code.replace("data.jsonl", str(data("chat", "agentic_coding_2.5h.jsonl")))
    code = code.replace("progress=True", "progress=False")
    script = "import warptok\n" + code + "\nassert len(counts) == 20 and all(counts)\n"
    subprocess.run([sys.executable, "-c", script], cwd=tmp_path, check=True)


def test_version(capsys):
    with pytest.raises(SystemExit) as info:
        main(["--version"])
    assert info.value.code == 0 and capsys.readouterr().out.strip() == f"warptok {warptok.__version__}"


def test_count_says_which_pass_is_cold(tmp_path, capsys):
    text = tmp_path / "a.txt"
    text.write_text("hello world, once more\n" * 200, encoding="utf-8")
    assert main(["count", str(text)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].startswith("1 files  4,600 bytes")
    assert lines[2].startswith("pass 1 cold") and lines[3].startswith("pass 2 warm") and len(lines) == 4
    assert main(["count", str(text), "--passes", "1"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3


def test_encode_into_a_missing_directory_is_one_line(tmp_path, capsys):
    text = tmp_path / "a.txt"
    text.write_text("hello", encoding="utf-8")
    with pytest.raises(SystemExit) as info:
        main(["encode", str(text), "--out", str(tmp_path / "missing" / "dir" / "x.bin")])
    err = capsys.readouterr().err
    assert info.value.code == 1 and err.count("\n") == 1
    assert err.startswith("warptok encode: --out ") and "no directory" in err
    with pytest.raises(SystemExit):
        main(["encode", str(text), "--out", str(tmp_path / "x.bin"), "--index", str(tmp_path / "no" / "x.idx")])
    assert "--index" in capsys.readouterr().err
    assert not (tmp_path / "x.bin").exists()              # failed before writing anything


@pytest.mark.parametrize("name", ["gpt2", "llama3"])
def test_decode_names_the_bad_item(name):
    from conftest import ours

    tok = ours(name)
    for ids, where in ((["a"], "ids[0]"), ([1, 2.5], "ids[1]"), ([1, 2, None], "ids[2]")):
        with pytest.raises(errors.TypeError, match=re.escape(where) + " must be an int, not "):
            tok.decode(ids)
    import numpy as np

    assert tok.decode(np.array(tok.encode("héllo"), dtype=np.uint32)) == "héllo"
    assert tok.decode([np.int64(i) for i in tok.encode("héllo")]) == "héllo"


def test_download_hint_names_the_current_command(tmp_path):
    with pytest.raises(errors.FileNotFoundError) as info:
        warptok.Tokenizer.from_pretrained("someone/some-model", cache_dir=tmp_path)
    assert "hf download someone/some-model" in str(info.value)
    assert "huggingface-cli" not in str(info.value)
