#!/usr/bin/env python3
"""Run a benchmark script and put what it printed into its section of docs/benchmarks.md.

    python benchmarks/write_docs.py bench_worst.py                 # the script's defaults
    python benchmarks/write_docs.py bench_isl.py -m qwen3 --no-pool  # arguments go to the script

The section is the text between ``<!-- begin SCRIPT -->`` and ``<!-- end SCRIPT -->``
(added at the end of the file when missing). It is replaced with the command, where and
when it ran, and the script's standard output, which the scripts print as markdown
tables. Notes written by hand go outside the markers and are kept. A script that fails
changes nothing. A script may also write its section itself with ``write_section``.
"""

from __future__ import annotations

import datetime
import os
import platform
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DOCS = REPO / "docs" / "benchmarks.md"


def write_section(script: str, body: str, path: Path = DOCS) -> None:
    """Replace script's section of docs/benchmarks.md with body."""
    begin, end = f"<!-- begin {script} -->", f"<!-- end {script} -->"
    text = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    block = f"{begin}\n{body.rstrip()}\n{end}"
    pattern = re.compile(re.escape(begin) + r".*?" + re.escape(end), re.S)
    if pattern.search(text):
        text = pattern.sub(lambda _: block, text, count=1)
    else:
        text = text.rstrip() + f"\n\n## {script}\n\n{block}\n"
    path.write_text(text, encoding="utf-8")


def where() -> str:
    """The commit, the date, the machine and Python: what a reader needs to weigh the numbers."""
    try:
        commit = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"], capture_output=True,
                                text=True, check=True).stdout.strip()
        if subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "--untracked-files=no"],
                          capture_output=True, text=True).stdout.strip():
            commit += " with local changes"
    except (OSError, subprocess.CalledProcessError):
        commit = "no git"
    return (f"at `{commit}`, {datetime.date.today().isoformat()}, {os.cpu_count()} CPUs "
            f"({platform.machine()}), Python {platform.python_version()}")


def main(argv: list) -> int:
    if not argv or argv[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if argv else 2
    script, args = argv[0], argv[1:]
    path = REPO / "benchmarks" / script
    if not path.is_file():
        print(f"write_docs: no benchmarks/{script}", file=sys.stderr)
        return 2
    run = subprocess.run([sys.executable, str(path), *args], stdout=subprocess.PIPE, text=True)
    sys.stdout.write(run.stdout)
    if run.returncode != 0:
        print(f"write_docs: {script} exited with {run.returncode}; docs/benchmarks.md unchanged", file=sys.stderr)
        return run.returncode
    command = " ".join(["python", f"benchmarks/{script}", *args])
    write_section(script, f"`{command}` ({where()}):\n\n{run.stdout}")
    print(f"write_docs: wrote the {script} section of {DOCS.relative_to(REPO)}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
