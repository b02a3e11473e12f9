"""Build of warptok's extension: Cython bindings over our C core, with mimalloc
compiled in as its private allocator on the targets where we test it."""

import os
import platform
import sys
import sysconfig
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup

ROOT = Path(__file__).parent.resolve()


def use_mimalloc() -> bool:
    """The one platform predicate: glibc Linux on x86_64/aarch64 and macOS arm64.
    WARPTOK_ALLOCATOR=system forces the system allocator anywhere."""
    choice = os.environ.get("WARPTOK_ALLOCATOR", "auto")
    if choice not in ("auto", "system", "mimalloc"):
        sys.exit(f"WARPTOK_ALLOCATOR must be auto, system or mimalloc, not {choice!r}")
    if choice == "system":
        return False
    plat = sysconfig.get_platform()          # honours cross-compilation settings
    tested = (plat.startswith("linux-") and plat.endswith(("x86_64", "aarch64"))
              and platform.libc_ver()[0] == "glibc") or (plat.startswith("macosx-") and plat.endswith("arm64"))
    if choice == "mimalloc" and not tested:
        sys.exit(f"WARPTOK_ALLOCATOR=mimalloc is only supported on tested targets, not {plat}")
    return tested


define_macros = []
include_dirs = ["cext"]
# A call to an undeclared function is an error in GCC 14 and Clang 16: fail here too.
extra_compile_args = ["-std=gnu11", "-O3", "-fvisibility=hidden", "-Wall", "-Wno-unused-function",
                      "-Werror=implicit-function-declaration"]
if use_mimalloc():
    sys.path.insert(0, str(ROOT / "vendor"))
    from fetch_mimalloc import ensure_mimalloc

    ensure_mimalloc(ROOT)
    define_macros += [("WT_USE_MIMALLOC", "1"), ("MI_DEBUG", "0"), ("MI_SECURE", "0"),
                      ("MI_TLS_MODEL_THREAD_LOCAL", "1")]
    include_dirs.append("vendor/mimalloc/include")
    extra_compile_args += ["-ftls-model=local-dynamic", "-Wno-error=date-time"]

extension = Extension(
    "warptok._core",
    sources=["src/warptok/_core.pyx", "cext/alloc.c", "cext/bpe.c", "cext/nfc.c", "cext/pool.c",
             "cext/regex.c", "cext/scan.c", "cext/tokenizer.c"],
    include_dirs=include_dirs,
    define_macros=define_macros,
    extra_compile_args=extra_compile_args,
    extra_link_args=["-pthread"],
)

# warptok.io's prefetch reader is a second extension with the same flags. Its
# native memory is a few large, reused buffers (MiBs each), where mimalloc gains
# nothing, so it goes through the same cext/alloc.h door in its system-allocator
# mode rather than linking a second private copy of mimalloc into the process.
io_extension = Extension(
    "warptok._io",
    sources=["src/warptok/_io.pyx", "cext/reader.c", "cext/reader_src.c"],
    include_dirs=include_dirs,
    define_macros=[m for m in define_macros if m[0] != "WT_USE_MIMALLOC"],
    extra_compile_args=extra_compile_args,
    extra_link_args=["-pthread"],
)

setup(ext_modules=cythonize([extension, io_extension], language_level=3))
