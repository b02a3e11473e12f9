"""The built extension: the allocator chosen for this platform, nothing of mimalloc exported."""

import os
import platform
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

import warptok
import warptok._native._core


def switched_off(name):
    return os.environ.get(name, "auto").lower() in ("off", "0", "no")


def expected_allocator():
    if "WARPTOK_EXPECT_ALLOCATOR" in os.environ:      # set by the wheel builds per target
        return os.environ["WARPTOK_EXPECT_ALLOCATOR"]
    plat = sysconfig.get_platform()
    tested = (plat.startswith("linux-") and plat.endswith(("x86_64", "aarch64")) and platform.libc_ver()[0] == "glibc") \
        or (plat.startswith("macosx-") and plat.endswith("arm64"))
    return "mimalloc" if tested else "system"


def test_allocator_is_the_platforms():
    assert warptok.allocator() == expected_allocator()


def test_core_is_profile_guided_where_gcc_builds_it():
    """setup.py builds the core with a GCC profile; anything that breaks its training run
    falls back to a plain build, which only this test would notice. Expected on glibc
    Linux x86_64/aarch64 (GCC there), unless WARPTOK_PGO=off, WARPTOK_SANITIZE or
    WARPTOK_EXPECT_PGO says."""
    if "WARPTOK_EXPECT_PGO" in os.environ:
        expected = os.environ["WARPTOK_EXPECT_PGO"] == "1"
    elif switched_off("WARPTOK_PGO") or os.environ.get("WARPTOK_SANITIZE"):
        expected = False
    elif sysconfig.get_platform().startswith("linux-") and expected_allocator() == "mimalloc":
        expected = True
    else:
        pytest.skip("a compiler other than GCC may have built it")
    assert warptok._native._core.profile_guided is expected


def test_core_is_link_time_optimized_where_gcc_builds_it():
    """setup.py links the core with -flto when a trial link with it works, else builds it
    without (printing why), which only this test would notice. Expected on glibc Linux
    x86_64/aarch64 (GCC there), unless WARPTOK_LTO=off, WARPTOK_SANITIZE or WARPTOK_EXPECT_LTO
    says."""
    if "WARPTOK_EXPECT_LTO" in os.environ:
        expected = os.environ["WARPTOK_EXPECT_LTO"] == "1"
    elif switched_off("WARPTOK_LTO") or os.environ.get("WARPTOK_SANITIZE"):
        expected = False
    elif sysconfig.get_platform().startswith("linux-") and expected_allocator() == "mimalloc":
        expected = True
    else:
        pytest.skip("another compiler may lack LTO")
    assert warptok._native._core.link_time_optimized is expected


@pytest.mark.skipif(not sys.platform.startswith("linux") or not shutil.which("nm"), reason="nm -D on Linux")
def test_no_mimalloc_symbol_is_exported():
    out = subprocess.run(["nm", "-D", "--defined-only", warptok._native._core.__file__],
                         capture_output=True, text=True, check=True).stdout
    exported = [line.split()[-1] for line in out.splitlines() if line.strip()]
    assert exported, "nm listed nothing"
    # mimalloc stays private: no mi_* symbol, and no malloc of ours replacing the process's.
    leaked = [s for s in exported if s.startswith(("mi_", "_mi_", "wt_"))
              or s in ("malloc", "free", "calloc", "realloc", "posix_memalign", "aligned_alloc")]
    assert not leaked, leaked
    assert any(s.startswith("PyInit__core") for s in exported)


@pytest.mark.skipif(not sysconfig.get_config_var("Py_GIL_DISABLED"), reason="free-threaded CPython only")
def test_importing_warptok_leaves_the_gil_off():
    """Both extensions declare free-threading support (freethreading_compatible): importing
    them must not turn the GIL back on (CPython would, with a RuntimeWarning)."""
    env = {k: v for k, v in os.environ.items() if k != "PYTHON_GIL"}
    code = "import sys, warptok, warptok._native._core, warptok._native._io; assert not sys._is_gil_enabled()"
    subprocess.run([sys.executable, "-W", "error::RuntimeWarning", "-c", code], env=env, check=True, timeout=120)


def test_release_memory_and_cpu_count():
    warptok.release_memory()
    assert warptok.cpu_count() >= 1


def test_a_clone_built_offline_without_mimalloc_stops_with_one_line(tmp_path):
    """setup.py where vendor/mimalloc is absent and PyPI cannot be reached (pip and the
    direct download pointed at a closed port): one line naming the fixes, no traceback."""
    pytest.importorskip("Cython")
    pytest.importorskip("setuptools")
    root = Path(__file__).resolve().parents[1]
    if not (root / "setup.py").is_file() or not (root / "vendor" / "mimalloc.json").is_file():
        pytest.skip("needs a checkout or sdist (setup.py, vendor/)")
    shutil.copy(root / "setup.py", tmp_path)
    (tmp_path / "vendor").mkdir()
    for f in ("fetch_mimalloc.py", "mimalloc.json"):
        shutil.copy(root / "vendor" / f, tmp_path / "vendor" / f)
    closed = "http://127.0.0.1:9"
    env = {k: v for k, v in os.environ.items() if not k.upper().startswith(("PIP_", "HTTP_PROXY", "HTTPS_PROXY"))}
    env.update(PIP_CONFIG_FILE=os.devnull, PIP_INDEX_URL=f"{closed}/simple", WARPTOK_PYPI_URL=closed,
               HTTP_PROXY=closed, HTTPS_PROXY=closed, http_proxy=closed, https_proxy=closed,
               WARPTOK_ALLOCATOR="mimalloc", PYTHONWARNINGS="ignore")
    r = subprocess.run([sys.executable, "setup.py", "--name"], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=600)
    if "only supported on tested targets" in r.stderr:
        pytest.skip("mimalloc is not built on this platform")
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert r.returncode != 0 and len(lines) == 1, r.stderr
    for fix in ("WARPTOK_ALLOCATOR=system", "python vendor/fetch_mimalloc.py", "sdist"):
        assert fix in lines[0]
    assert not (tmp_path / "vendor" / "mimalloc").exists()


def test_warptok_imports_and_encodes_without_numpy():
    """setup.py's profile run (tools/pgo_train.py) runs in pip's build environment, which
    has no numpy: importing warptok and encoding lists must not need it (else the build
    silently loses its profile)."""
    code = ("import sys; sys.modules['numpy'] = None\n"
            "import warptok\n"
            "assert warptok.get_encoding('gpt2').encode('hello world') == [31373, 995]\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=120)
