#!/usr/bin/env bash
# The test suites under sanitizers (after `bash tools/setup.sh test` installed the packages):
#
#   bash tools/sanitize.sh ci     the torch-free suites under ASan+UBSan (engine, io, segments,
#                                 CPU dispatch, audio, hub, tokenizers, batch jobs), then the
#                                 executor and batch-job tests under TSan; what CI runs
#   bash tools/sanitize.sh full   the whole project (CLI and libtorch suites included) under
#                                 ASan+UBSan, then the whole ctest suite; too long for CI
#
# Any finding fails the run (exit 1): UBSan is built with -fno-sanitize-recover, ASan and TSan
# halt on the first report. Build folders: EMBEDFLOW_ASAN_BUILD_DIR (default build-asan),
# EMBEDFLOW_TSAN_BUILD_DIR (build-tsan); EMBEDFLOW_WERROR=ON as in tools/setup.sh; EMBEDFLOW_JOBS
# (default nproc) parallel compiles and tests. Suppressions (third-party code only, each with its
# reason) are in tools/sanitizers/.
set -euo pipefail

mode="${1:-ci}"
case "$mode" in ci | full) ;; *)
  echo "usage: bash tools/sanitize.sh ci|full" >&2
  exit 2
  ;;
esac
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
asan_dir="${EMBEDFLOW_ASAN_BUILD_DIR:-$root/build-asan}"
tsan_dir="${EMBEDFLOW_TSAN_BUILD_DIR:-$root/build-tsan}"
jobs="${EMBEDFLOW_JOBS:-$(nproc)}"
supp="$root/tools/sanitizers"

# What the sanitizers report, and that the first report ends the process with an error.
suppressions() { # tool: its suppressions file as an option, if there is one
  if [ -f "$supp/$1.supp" ]; then echo ":suppressions=$supp/$1.supp"; fi
}
export ASAN_OPTIONS="halt_on_error=1:detect_leaks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1:print_stacktrace=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1$(suppressions ubsan)"
export LSAN_OPTIONS="print_suppressions=0$(suppressions lsan)"
export TSAN_OPTIONS="halt_on_error=1:second_deadlock_stack=1:print_suppressions=0$(suppressions tsan)"

phase_start=0
phase() {
  phase_start=$(date +%s)
  echo "== $*"
}
phase_done() {
  echo "== $1: $(($(date +%s) - phase_start)) s"
  timings+=("$1: $(($(date +%s) - phase_start)) s")
}
timings=()

tbb_dir="${EMBEDFLOW_TSAN_TBB_DIR:-$tsan_dir/onetbb}"
build_tsan_tbb() {
  if [ -f "$tbb_dir/install/lib/cmake/TBB/TBBConfig.cmake" ]; then
    echo "   (already built)"
    return
  fi
  local package version
  package="$(dpkg-query -W -f='${source:Package}' libtbb-dev)"
  version="$(dpkg-query -W -f='${source:Version}' libtbb-dev)"
  rm -rf "$tbb_dir"
  mkdir -p "$tbb_dir/apt/lists/partial"
  # The source package through apt with lists of its own: the machine's apt setup stays as is.
  local apt_opts=(-q -o Dir::Etc::SourceList="$tbb_dir/apt/sources.list" -o Dir::Etc::SourceParts=-
    -o Dir::State::Lists="$tbb_dir/apt/lists" -o APT::Sandbox::User=root)
  sed -n 's/^deb \(.*\)/deb-src \1/p' /etc/apt/sources.list 2>/dev/null >"$tbb_dir/apt/sources.list" || true
  # deb822 sources (Debian 12's default): the same URIs and suites, as source lines.
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -f "$f" ] || continue
    awk 'function out() { n = split(suites, list, " ")
                          for (i = 1; i <= n; i++) print "deb-src", uri, list[i], comps
                          uri = suites = comps = "" }
      /^URIs:/ { uri = $2 }
      /^Suites:/ { $1 = ""; suites = $0 }
      /^Components:/ { $1 = ""; comps = $0 }
      /^[ \t]*$/ { if (uri) out() }
      END { if (uri) out() }' "$f" \
      >>"$tbb_dir/apt/sources.list"
  done
  apt-get "${apt_opts[@]}" update >/dev/null
  (cd "$tbb_dir" && apt-get "${apt_opts[@]}" source --download-only "$package=$version" >/dev/null &&
    dpkg-source -x ./*.dsc src >/dev/null)
  cmake -S "$tbb_dir/src" -B "$tbb_dir/build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DTBB_SANITIZE=thread -DTBB_TEST=OFF -DTBB_STRICT=OFF -DTBBMALLOC_BUILD=OFF \
    -DCMAKE_INSTALL_PREFIX="$tbb_dir/install" -DCMAKE_INSTALL_LIBDIR=lib >/dev/null
  cmake --build "$tbb_dir/build" -j "$jobs"
  cmake --install "$tbb_dir/build" >/dev/null
}

configure() { # dir sanitizers [cmake args...]
  local dir="$1" sanitizers="$2"
  shift 2
  # -O1 -g: whole stacks with line numbers at a fraction of -O0's run time.
  cmake -S "$root" -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -g -DNDEBUG" -DEMBEDFLOW_SANITIZE="$sanitizers" \
    -DEMBEDFLOW_BUILD_BENCH=OFF -DEMBEDFLOW_WERROR="${EMBEDFLOW_WERROR:-OFF}" "$@" >/dev/null
}

if [ "$mode" = ci ]; then
  # Suites that link neither libtorch nor the CLI (io_tests registers text.stats from its own
  # torch-free library, embedflow_stages_text_stats).
  asan_suites=(core_tests io_tests segment_tests cpu_tests audio_tests hub_tests tokenizer_tests
    jobs_tests)
  # Test cases of these suites that run the embedflow CLI (built with libtorch): `full` runs
  # them. Listed, not skipped silently: the summary names them.
  cli_cases=("audio_tests:embedflow run: bad audio files become error records, the others are processed"
    "audio_tests:configs/audio_spectrograms.yaml runs on the bundled example audio")

  phase "ASan+UBSan: configure and build ${asan_suites[*]} in $asan_dir"
  configure "$asan_dir" address,undefined
  cmake --build "$asan_dir" -j "$jobs" --target "${asan_suites[@]}"
  phase_done "asan build"

  phase "ASan+UBSan: ctest"
  regex="^($(
    IFS='|'
    echo "${asan_suites[*]}"
  )):"
  exclude="^($(
    IFS='|'
    printf '%s' "${cli_cases[*]}" | sed 's/[][().*+?^$\\]/\\&/g'
  ))\$"
  (cd "$asan_dir" && ctest --output-on-failure -j "$jobs" --timeout 1500 -R "$regex" -E "$exclude")
  phase_done "asan ctest"

  # TSan sees only synchronisation in instrumented code. Debian's libtbb is not, so every flow
  # graph task looks like a race between its spawner and the worker that runs it (a write in
  # graph_task's constructor, a read in finalize: the hand-off is atomics inside libtbb.so).
  # The suites therefore link oneTBB built from Debian's source of the installed version with
  # -fsanitize=thread (its TBB_SANITIZE option), kept in the build folder between runs.
  phase "TSan: oneTBB with -fsanitize=thread in $tbb_dir"
  build_tsan_tbb
  phase_done "tsan oneTBB"

  phase "TSan: configure and build core_tests jobs_tests in $tsan_dir"
  configure "$tsan_dir" thread -DTBB_DIR="$tbb_dir/install/lib/cmake/TBB"
  cmake --build "$tsan_dir" -j "$jobs" --target core_tests jobs_tests
  phase_done "tsan build"

  # One process per suite (the executor's test cases, then the batch jobs'); --warn NoTests
  # fails if the filter matches nothing.
  phase "TSan: executor tests (core_tests) and jobs_tests"
  (cd "$tsan_dir" && tests/core/core_tests --warn NoTests -# "[#executor_test]")
  (cd "$tsan_dir" && tests/jobs/jobs_tests --warn NoTests)
  phase_done "tsan tests"

  echo "== not run under sanitizers here (they run the CLI; bash tools/sanitize.sh full does):"
  printf '   %s\n' "${cli_cases[@]}"
else
  phase "ASan+UBSan: configure and build everything in $asan_dir"
  configure "$asan_dir" address,undefined
  cmake --build "$asan_dir" -j "$jobs"
  phase_done "asan build"

  phase "ASan+UBSan: the whole ctest suite"
  (cd "$asan_dir" && ctest --output-on-failure -j "$jobs" --timeout 3000)
  phase_done "asan ctest"
fi

echo "== sanitizers: no findings"
printf '   %s\n' "${timings[@]}"
