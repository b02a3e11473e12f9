"""Build of warptok's extension: Cython bindings over our C core, with mimalloc
compiled in as its private allocator on the targets where we test it.

Environment switches (the default build is -O3 with LTO and, with GCC, PGO):

    WARPTOK_ALLOCATOR=auto|system|mimalloc   the core's allocator (see use_mimalloc)
    WARPTOK_OPT=-O1                          the optimization flag instead of -O3
    WARPTOK_LTO=off                          no link-time optimization
    WARPTOK_PGO=off                          no profile-guided build
    WARPTOK_SANITIZE=address,undefined       -fsanitize= with these (or thread), -g and
                                             frame pointers; implies WARPTOK_LTO=off,
                                             WARPTOK_PGO=off, WARPTOK_OPT=-O1 unless set,
                                             and the system allocator

tools/sanitize.sh builds with WARPTOK_SANITIZE outside the source tree and runs the
tests under it (docs/development.md)."""

import os
import platform
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from pathlib import Path

from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

ROOT = Path(__file__).parent.resolve()


def switched_off(name: str) -> bool:
    return os.environ.get(name, "auto").lower() in ("off", "0", "no")


SANITIZE = os.environ.get("WARPTOK_SANITIZE", "").strip()
if SANITIZE and not all(k in ("address", "undefined", "thread") for k in SANITIZE.split(",")):
    sys.exit(f"WARPTOK_SANITIZE must list address, undefined or thread, not {SANITIZE!r}")
OPT = os.environ.get("WARPTOK_OPT", "-O1" if SANITIZE else "-O3")
if OPT not in ("-O0", "-O1", "-O2", "-O3", "-Os", "-Og"):
    sys.exit(f"WARPTOK_OPT must be one of -O0 -O1 -O2 -O3 -Os -Og, not {OPT!r}")
# A sanitizer's reports need frame pointers and line numbers; LTO and PGO only blur them.
SANITIZE_FLAGS = [f"-fsanitize={SANITIZE}", "-fno-omit-frame-pointer", "-g"] if SANITIZE else []


def use_mimalloc() -> bool:
    """The one platform predicate: glibc Linux on x86_64/aarch64 and macOS arm64.
    WARPTOK_ALLOCATOR=system forces the system allocator anywhere, as does a
    sanitizer build (the sanitizers must see every allocation)."""
    choice = os.environ.get("WARPTOK_ALLOCATOR", "auto")
    if choice not in ("auto", "system", "mimalloc"):
        sys.exit(f"WARPTOK_ALLOCATOR must be auto, system or mimalloc, not {choice!r}")
    if SANITIZE and choice == "mimalloc":
        sys.exit("WARPTOK_SANITIZE needs the system allocator, not WARPTOK_ALLOCATOR=mimalloc")
    if choice == "system" or SANITIZE:
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
extra_compile_args = ["-std=gnu11", OPT, "-fvisibility=hidden", "-Wall", "-Wno-unused-function",
                      "-Werror=implicit-function-declaration"] + SANITIZE_FLAGS
if use_mimalloc():
    sys.path.insert(0, str(ROOT / "vendor"))
    from fetch_mimalloc import ensure_mimalloc

    try:
        ensure_mimalloc(ROOT)
    except Exception as e:  # noqa: BLE001 - no network, a proxy, a changed index: one line, no traceback
        sys.exit(f"warptok: mimalloc's sources are not in vendor/mimalloc and could not be fetched ({e}). "
                 "Fix: build with WARPTOK_ALLOCATOR=system, or run `python vendor/fetch_mimalloc.py` where "
                 "PyPI is reachable, or build from the sdist (it ships vendor/mimalloc).")
    # MI_NO_THP: mimalloc's own memory is not advised for transparent huge pages. A
    # long text's buffers are megabytes that the first calls take fresh from the OS;
    # fresh 2 MiB pages cost ~3 ms each to fault in on a VM (docs/performance-log.md).
    # The piece table keeps its huge pages (wt_pages_alloc): it is read at random.
    define_macros += [("WT_USE_MIMALLOC", "1"), ("MI_DEBUG", "0"), ("MI_SECURE", "0"),
                      ("MI_TLS_MODEL_THREAD_LOCAL", "1"), ("MI_NO_THP", "1")]
    include_dirs.append("vendor/mimalloc/include")
    extra_compile_args += ["-ftls-model=local-dynamic", "-Wno-error=date-time"]

# Every header: an extension is rebuilt when one of them is newer than it (setuptools
# looks at the listed sources only, so a header edit alone left a stale build).
HEADERS = sorted(str(p.relative_to(ROOT)) for p in (ROOT / "cext").rglob("*.h"))

extension = Extension(
    "warptok._native._core",
    sources=["src/warptok/_native/_core.pyx", "cext/common/alloc.c", "cext/common/pool.c", "cext/text/nfc.c",
             "cext/pretokenize/regex.c", "cext/pretokenize/scan.c", "cext/bpe/build.c", "cext/bpe/merge.c",
             "cext/bpe/linear.c", "cext/bpe/cuts.c", "cext/bpe/piece_table.c", "cext/pipeline/tokenizer.c",
             "cext/pipeline/batch.c", "cext/text/normalize.c", "cext/text/precompiled.c", "cext/text/grapheme.c",
             "cext/text/utf8_encode.c", "cext/pretokenize/classes.c", "cext/models/model.c",
             "cext/models/wordpiece.c", "cext/models/bpe_sym.c", "cext/models/unigram.c"],
    depends=HEADERS,
    include_dirs=include_dirs,
    define_macros=define_macros,
    extra_compile_args=extra_compile_args,
    extra_link_args=["-pthread"] + SANITIZE_FLAGS,
)

# warptok.io's prefetch reader is a second extension with the same flags. Its
# native memory is a few large, reused buffers (MiBs each), where mimalloc gains
# nothing, so it goes through the same cext/common/alloc.h door in its system-allocator
# mode rather than linking a second private copy of mimalloc into the process.
io_extension = Extension(
    "warptok._native._io",
    sources=["src/warptok/_native/_io.pyx", "cext/io/reader.c", "cext/io/reader_src.c", "cext/io/tls.c"],
    depends=HEADERS,
    include_dirs=include_dirs,
    define_macros=[m for m in define_macros if m[0] != "WT_USE_MIMALLOC"],
    extra_compile_args=extra_compile_args,
    # dlopen/dlsym (io/tls.c finds the OpenSSL that Python's ssl loaded): in libc from
    # glibc 2.34 and on macOS, in libdl before.
    extra_link_args=["-pthread"] + (["-ldl"] if sys.platform.startswith("linux") else []) + SANITIZE_FLAGS,
)


def pgo_blocker(compiler):
    """Why the core cannot be built with a GCC profile here, or None."""
    if SANITIZE:
        return "WARPTOK_SANITIZE"
    if switched_off("WARPTOK_PGO"):
        return "WARPTOK_PGO=off"
    if compiler.compiler_type != "unix":
        return f"{compiler.compiler_type} compiler"
    cc = compiler.compiler_so[0]
    try:
        about = subprocess.run([cc, "--version"], capture_output=True, text=True, timeout=60).stdout
        major = int(subprocess.run([cc, "-dumpversion"], capture_output=True, text=True,
                                   timeout=60).stdout.split(".")[0])
    except (OSError, ValueError, subprocess.SubprocessError) as e:
        return f"{cc}: {e}"
    if "Free Software Foundation" not in about:
        return f"{cc} is not GCC"
    if major < 10:                       # -fprofile-partial-training
        return f"GCC {major} < 10"
    return None


LTO_COMPILE = ["-flto"]
LTO_LINK = ["-flto=auto", OPT]         # auto: the link's code generation on all cores


def lto_blocker(compiler):
    """Why the core cannot be linked with link-time optimization here, or None: a
    trial compile and link of a one-line file with -flto (a Clang without an LTO
    linker plugin, say, fails it)."""
    if SANITIZE:
        return "WARPTOK_SANITIZE"
    if switched_off("WARPTOK_LTO"):
        return "WARPTOK_LTO=off"
    if compiler.compiler_type != "unix":
        return f"{compiler.compiler_type} compiler"
    with tempfile.TemporaryDirectory() as tmp:
        probe = Path(tmp, "lto_probe.c")
        probe.write_text("int wt_lto_probe(int x) { return x + 1; }\n")
        try:
            objects = compiler.compile([str(probe)], output_dir=tmp, extra_postargs=LTO_COMPILE)
            compiler.link_shared_object(objects, str(Path(tmp, "lto_probe.so")), extra_postargs=LTO_LINK)
        except Exception as e:  # noqa: BLE001 - CompileError, LinkError or the OS's: all mean no LTO
            return f"{compiler.compiler_so[0]} cannot compile and link with -flto: {type(e).__name__}"
    return None


class BuildExt(build_ext):
    """The core, optimized in two ways where the compiler allows, each falling back to a
    plain build with a printed reason:
    - link-time optimization (lto_blocker), so that the per-piece loop in tokenizer.c
      inlines bpe.c's vocabulary probes: llama3 1 KB documents, one thread, English and
      code 13% faster, multilingual 2% (A/B builds, one interleaved run);
    - with GCC, a profile: built instrumented, then, after tools/pgo_train.py has encoded
      sample text with it, with the branch counts (-fprofile-use). English and code single
      thread 5-7% faster, multilingual unchanged. Not with other compilers, WARPTOK_PGO=off,
      or a failure of the instrumented build or its run.
    Neither with WARPTOK_SANITIZE (see the module's docstring)."""

    def build_extensions(self):
        core = next(e for e in self.extensions if e.name == "warptok._native._core")
        why = lto_blocker(self.compiler)      # first: the profiled build is then optimized the same way
        if why:
            print(f"warptok: building without link-time optimization ({why})")
        else:
            core.extra_compile_args = core.extra_compile_args + LTO_COMPILE
            core.extra_link_args = core.extra_link_args + LTO_LINK
            core.define_macros = core.define_macros + [("WT_LTO", "1")]
        why = pgo_blocker(self.compiler)
        if why is None:
            try:
                self.profile(core)
            except Exception as e:  # noqa: BLE001 - any failure means a plain build
                why = f"the profiling run failed: {e}"
        if why:
            print(f"warptok: building without a profile ({why})")
        super().build_extensions()

    def profile(self, core):
        data = Path(self.build_temp).resolve() / "pgo"
        shutil.rmtree(data, ignore_errors=True)
        compile_args, link_args = core.extra_compile_args, core.extra_link_args
        generate = [f"-fprofile-generate={data}", "-fprofile-update=atomic"]   # the pool's threads count too
        core.extra_compile_args, core.extra_link_args = compile_args + generate, link_args + generate
        self.force = True                    # and the final build recompiles every object it made
        try:
            self.build_extension(core)
        finally:
            core.extra_compile_args, core.extra_link_args = compile_args, link_args
        with tempfile.TemporaryDirectory() as tmp:           # the package as installed, instrumented core
            shutil.copytree(ROOT / "src" / "warptok", Path(tmp) / "warptok",
                            ignore=shutil.ignore_patterns("*.so", "*.pyd", "*.c", "__pycache__"))
            built = Path(self.get_ext_fullpath(core.name))
            shutil.copy2(built, Path(tmp).joinpath(*core.name.split(".")[:-1], built.name))
            subprocess.run([sys.executable, str(ROOT / "tools" / "pgo_train.py")], check=True, timeout=1800,
                           env=dict(os.environ, PYTHONPATH=tmp))
        core.extra_compile_args = compile_args + [f"-fprofile-use={data}", "-fprofile-partial-training",
                                                  "-Wno-missing-profile"]
        core.define_macros = core.define_macros + [("WT_PGO", "1")]


setup(ext_modules=cythonize([extension, io_extension], language_level=3), cmdclass={"build_ext": BuildExt})
