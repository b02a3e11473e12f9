#!/usr/bin/env bash
# The extensions built with AddressSanitizer + UndefinedBehaviorSanitizer, then
# with ThreadSanitizer, each run over the parity, fuzz, io, concurrency, threads,
# worst-case, piece-table and long-document tests (and the long-piece cuts, the scanner's block-edge
# test, its fuzz in many scripts and the class-run chains; WordPiece's fuzz, threads, tiny-table and batch
# tests; SentencePiece BPE's fuzzes, threads, tiny-table and merge-order tests; Unigram's).
# Any report fails.
#
#   tools/sanitize.sh                          # both builds, the default tests
#   tools/sanitize.sh address                  # one build: address or thread
#   tools/sanitize.sh thread tests/test_io.py -k probe    # other tests / pytest arguments
#   SANITIZE_REUSE=1 tools/sanitize.sh ...     # keep the last sanitized build (Python-only edits)
#
# Needs GCC (its libasan/libtsan are preloaded into an uninstrumented Python),
# Cython and the test dependencies. The sanitized modules are built under
# build/sanitize/<kind>/ and imported from a copy of the package there: the tree's
# own in-place build (src/warptok/*.so) is neither used nor touched.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${PYTHON:-python}
CC_=${CC:-gcc}
DEFAULT_TESTS=(tests/test_parity.py tests/test_fuzz.py tests/test_io.py tests/test_io_https.py tests/test_concurrency.py
               tests/test_threads.py tests/test_worst_case.py tests/test_piece_table.py tests/test_long_documents.py
               tests/test_merges.py::test_cut_merges_equal_the_heap tests/test_merges.py::test_long_pieces_equal_the_reference
               tests/test_merges.py::test_long_pieces_learned_by_threads_at_once
               tests/test_scan.py::test_runs_to_a_blocks_last_byte_split_the_same
               tests/test_scan.py::test_run_chains_encode_the_same tests/test_scan.py::test_fuzzed_run_chains_encode_the_same
               tests/test_scan.py::test_fuzzed_scripts_split_the_same
               tests/test_wordpiece.py::test_fuzz tests/test_wordpiece.py::test_threads_share_one_tokenizer
               tests/test_wordpiece.py::test_tiny_piece_table_with_nothing_seeded
               tests/test_wordpiece.py::test_batch_options_and_threads
               tests/test_sentencepiece_bpe.py::test_fuzz tests/test_sentencepiece_bpe.py::test_threads_share_one_tokenizer
               tests/test_sentencepiece_bpe.py::test_tiny_piece_table_with_nothing_seeded
               tests/test_sentencepiece_bpe.py::test_merge_order_and_ties
               tests/test_sentencepiece_bpe.py::test_fuzz_cuts_between_ascii
               tests/test_unigram.py::test_fuzz tests/test_unigram.py::test_charsmap_grapheme_fuzz
               tests/test_unigram.py::test_viterbi_ties_and_unknowns tests/test_unigram.py::test_threads_share_one_tokenizer
               tests/test_unigram.py::test_tiny_piece_table_with_nothing_seeded)

kinds=(address thread)
if [[ $# -gt 0 && ( $1 == address || $1 == thread ) ]]; then
    kinds=("$1")
    shift
fi
custom=0
if [[ $# -gt 0 ]]; then tests=("$@"); custom=1; else tests=("${DEFAULT_TESTS[@]}"); fi

run_pytest() {   # kind, pytest arguments; env: run_kind's
    local kind=$1
    shift
    echo "== $kind: pytest $*"
    (cd "$ROOT" && env "${env[@]}" "$PY" -m pytest --capture=sys -p no:cacheprovider -q "$@")
}

run_kind() {
    local kind=$1 out="$ROOT/build/sanitize/$1" flags runtime
    if [[ $kind == address ]]; then flags=address,undefined; runtime=libasan.so; else flags=thread; runtime=libtsan.so; fi
    local lib
    lib=$("$CC_" -print-file-name="$runtime")
    [[ -f $lib ]] || { echo "sanitize.sh: $CC_ has no $runtime" >&2; return 1; }

    rm -rf "$out/reports"
    mkdir -p "$out/reports"
    if [[ ${SANITIZE_REUSE:-0} == 1 && -d $out/pkg ]]; then
        echo "== $kind: reusing the build in $out (SANITIZE_REUSE=1)"
    else
        echo "== $kind: building with -fsanitize=$flags into $out"
        rm -rf "$out/pkg"
        mkdir -p "$out/pkg"
        (cd "$ROOT" && WARPTOK_SANITIZE=$flags WARPTOK_ALLOCATOR=system \
            "$PY" setup.py -q build_ext --force --build-lib "$out/lib" --build-temp "$out/temp") > "$out/build.log" 2>&1 \
            || { tail -30 "$out/build.log"; return 1; }
        cp -r "$ROOT/src/warptok" "$out/pkg/"
        find "$out/pkg" \( -name '*.so' -o -name '*.c' -o -name __pycache__ \) -prune -exec rm -rf {} +
        (cd "$out/lib" && find warptok -name '*.so' -exec cp --parents {} "$out/pkg/" \;)
    fi

    # Reports go to files (children of the fork tests included) as well as failing the run.
    local common="halt_on_error=1:log_path=$out/reports/report"
    local -a env=(LD_PRELOAD="$lib" PYTHONPATH="$out/pkg" WARPTOK_ALLOCATOR=system
                  UBSAN_OPTIONS="$common:print_stacktrace=1")
    if [[ $kind == address ]]; then
        # Python's own allocator hides its objects from ASan; CPython leaks at exit by design.
        env+=(PYTHONMALLOC=malloc ASAN_OPTIONS="$common:detect_leaks=0:allocator_may_return_null=1")
    else
        # die_after_fork=0: the fork tests fork while threads run (the pool's are joined first).
        # HF tokenizers' trainer (the SentencePiece tests train vocabularies with it) hands
        # buffers between its own threads with synchronization TSan cannot see in the
        # uninstrumented library: one thread there.
        env+=(TSAN_OPTIONS="$common:die_after_fork=0:second_deadlock_stack=1"
              TOKENIZERS_PARALLELISM=false RAYON_NUM_THREADS=1)
    fi
    (cd "$ROOT" && env "${env[@]}" "$PY" -c \
        "import warptok, sys; sys.exit(not warptok.__file__.startswith('$out/pkg/'))") \
        || { echo "sanitize.sh: the sanitized build is not the one imported" >&2; return 1; }

    # One process per test file: a sanitized process keeps the shadow of everything it
    # touched, and the whole list in one process outgrew 15 GB under TSan.
    local rc=0 t
    if [[ $custom == 1 ]]; then
        run_pytest "$kind" "${tests[@]}" || rc=$?
    else
        for t in "${tests[@]}"; do run_pytest "$kind" "$t" || rc=$?; done
    fi
    if compgen -G "$out/reports/report*" > /dev/null; then
        echo "== $kind: sanitizer reports:"
        cat "$out"/reports/report*
        return 1
    fi
    return $rc
}

status=0
for kind in "${kinds[@]}"; do
    start=$SECONDS
    if run_kind "$kind"; then result=clean; else result=FAILED; status=1; fi
    echo "== $kind: $result in $((SECONDS - start)) s"
done
exit $status
