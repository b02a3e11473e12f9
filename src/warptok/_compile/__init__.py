"""The load-time compiler: tokenizer files in, the compiled core's tables out.

    tokenizer_json.py   tokenizer.json  ─┐
    tiktoken_file.py    rank file       ─┴─> spec.Spec ──core_tables.py──> _native._core.Core(**tables)
    model_dir.py        a model directory: tokenizer.json plus what transformers adds from its config

On the way: ``pattern.py`` compiles each pre-tokenizer regex into a program for the C
matcher (or picks a fused scanner), ``normalizers.py`` builds HF's normalizers as Python
functions, ``unicode_forms.py`` is HF's NFC/NFD/NFKC/NFKD (the C core's NFC tables come
from it), ``bytelevel.py`` GPT-2's byte alphabet. ``ucd/`` holds the generated Unicode
tables these use (tools/README.md says how to regenerate each).

Nothing here runs per call: it all happens once, when a tokenizer is built.
"""
