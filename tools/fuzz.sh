#!/usr/bin/env bash
# Builds the fuzz targets of tests/fuzz/ (clang libFuzzer + ASan + UBSan) and runs each for a
# while, from a scratch corpus seeded with the committed seeds (tests/fuzz/seeds/<target>/):
#
#   bash tools/fuzz.sh [SECONDS-PER-TARGET] [TARGET...]     # default: 60 s, every target
#
# Fails (exit 1) when any target crashes, leaks, times out (-timeout=10 s per input) or exceeds
# -rss_limit_mb=2048; the input that did it is kept as <build>/crashes/<target>/<kind>-<sha1> and
# its path printed. Ends with a table: target, executions, exec/s, corpus size.
#
# Environment: EMBEDFLOW_FUZZ_BUILD_DIR (default build-fuzz in the checkout), EMBEDFLOW_FUZZ_JOBS
# (build jobs, default nproc), EMBEDFLOW_FUZZ_ARGS (more libFuzzer flags, e.g. "-jobs=4
# -workers=4" or "-max_len=1024"), EMBEDFLOW_WERROR=ON (warnings are errors, as CI sets it).
# The scratch corpora (<build>/corpus/<target>) are kept, so a later run, or a long campaign,
# starts where the last one stopped. Missing packages (clang-14, its runtime libraries, the fuzz
# build's dependencies) are installed when run as root.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${EMBEDFLOW_FUZZ_BUILD_DIR:-$root/build-fuzz}"
case "$build" in /*) ;; *) build="$PWD/$build" ;; esac
seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [ "$seconds" -lt 1 ]; then
  echo "usage: bash tools/fuzz.sh [SECONDS-PER-TARGET] [TARGET...]" >&2
  exit 2
fi
shift || true
all_targets=(config_fuzz wordpiece_fuzz clip_bpe_fuzz audio_load_fuzz hub_response_fuzz
  safetensors_fuzz image_header_fuzz)
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=("${all_targets[@]}")
for t in "${targets[@]}"; do
  case " ${all_targets[*]} " in
    *" $t "*) ;;
    *)
      echo "error: unknown fuzz target '$t' (targets: ${all_targets[*]})" >&2
      exit 2
      ;;
  esac
done

# clang with libFuzzer and the sanitizer runtimes, llvm-symbolizer for readable stacks, and what
# the targets link (the main build's libraries minus torch).
packages=(clang-14 libclang-rt-14-dev llvm-14 cmake ninja-build pkg-config libtbb-dev
  libyaml-cpp-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libssl-dev libopencv-dev
  libfftw3-dev libsndfile1-dev libsoxr-dev libutf8proc-dev libpcre2-dev libcurl4-openssl-dev)
# shellcheck source=tools/lib/packages.sh
source "$root/tools/lib/packages.sh"
install_missing "${packages[@]}"

echo "== configuring $build (clang++-14, libFuzzer + ASan + UBSan)"
cmake -S "$root/tests/fuzz" -B "$build" -G Ninja -DCMAKE_C_COMPILER=clang-14 \
  -DCMAKE_CXX_COMPILER=clang++-14 -DEMBEDFLOW_WERROR="${EMBEDFLOW_WERROR:-OFF}" >/dev/null
start=$(date +%s)
cmake --build "$build" -j "${EMBEDFLOW_FUZZ_JOBS:-$(nproc)}" --target "${targets[@]}"
echo "== built in $(($(date +%s) - start)) s"

# Which dictionary helps which target.
declare -A dict=([config_fuzz]=config.dict [hub_response_fuzz]=hub.dict [clip_bpe_fuzz]=clip.dict
  [audio_load_fuzz]=audio.dict)
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
symbolizer="$(command -v llvm-symbolizer-14 || command -v llvm-symbolizer || true)"
[ -z "$symbolizer" ] || export ASAN_SYMBOLIZER_PATH="$symbolizer"

failed=()
rows=()
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  crashes="$build/crashes/$t"
  work="$build/work/$t"  # the working directory: whatever a target writes stays in here
  log="$build/logs/$t.log"
  mkdir -p "$corpus" "$crashes" "$work" "$(dirname "$log")"
  cp -n "$root/tests/fuzz/seeds/$t/"* "$corpus/" 2>/dev/null || true
  # -entropic_scale_per_exec_time=1 schedules fast inputs more: a long audio_load_fuzz corpus
  # holds inputs of 100+ channels at a 1:92 rate that soxr flushes for ~2 ms per channel, and
  # without it a campaign on this corpus ran 27 executions/s; with it, 546 (same corpus, 60 s).
  flags=(-max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    -entropic_scale_per_exec_time=1 -artifact_prefix="$crashes/")
  [ -z "${dict[$t]:-}" ] || flags+=(-dict="$root/tests/fuzz/dicts/${dict[$t]}")
  # shellcheck disable=SC2206  # EMBEDFLOW_FUZZ_ARGS is a list of flags, split on purpose
  extra=(${EMBEDFLOW_FUZZ_ARGS:-})
  echo "== $t: ${seconds} s (log: $log)"
  marker="$build/logs/$t.started"
  touch "$marker"
  set +e
  (cd "$work" && "$build/$t" "${flags[@]}" "${extra[@]}" "$corpus") >"$log" 2>&1
  rc=$?
  set -e
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  size=$(find "$corpus" -type f | wc -l)
  found=$(find "$crashes" -type f -newer "$marker")
  status=ok
  if [ "$rc" -ne 0 ] || [ -n "$found" ]; then
    status=FAILED
    failed+=("$t")
    echo "!! $t failed (exit $rc); the end of its log:"
    tail -n 60 "$log" | sed 's/^/   /'
    for f in $found; do
      echo "!! crashing input: $f"
      echo "   reproduce: $build/$t $f"
    done
  fi
  rows+=("$(printf '%-20s %12s %10s %8s  %s' "$t" "${execs:-?}" "${rate:-?}" "$size" "$status")")
done

echo
printf '%-20s %12s %10s %8s  %s\n' target executions exec/s corpus status
printf '%s\n' "${rows[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzzing found problems in: ${failed[*]}" >&2
  exit 1
fi
