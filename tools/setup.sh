#!/usr/bin/env bash
# One entry point for a fresh Debian 12 machine (as root) or a developer's checkout:
#   bash tools/setup.sh demo    install what is missing, build (Release), run the demo pipelines
#   bash tools/setup.sh test    install what is missing (incl. the Python oracles), build, run ctest
#   bash tools/setup.sh build   install and build only
# Idempotent: packages already installed are skipped, the build is incremental (ccache if present).
# EMBEDFLOW_WERROR=ON makes warnings in embedflow's own code errors (CI sets it).
set -euo pipefail

mode="${1:-demo}"
case "$mode" in demo | test | build) ;; *)
  echo "usage: bash tools/setup.sh demo|test|build" >&2
  exit 2
  ;;
esac
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${EMBEDFLOW_BUILD_DIR:-$root/build}"

# What embedflow builds and runs with. libopenblas0-openmp replaces Debian's reference BLAS,
# which runs libtorch's GEMMs ~30x slower.
packages=(build-essential cmake ninja-build ccache pkg-config git
  libtorch-dev libopenblas0-openmp libfftw3-dev libsndfile1-dev libsoxr-dev libopencv-dev libpng-dev
  libtbb-dev libyaml-cpp-dev nlohmann-json3-dev libcli11-dev libspdlog-dev libfmt-dev
  libutf8proc-dev libpcre2-dev libsentencepiece-dev libcurl4-openssl-dev libssl-dev catch2 libdnnl-dev
  libfaiss-dev  # write.index / search.index (stages/index/)
  pybind11-dev python3-dev  # the Python module (python/)
  python3-numpy)  # the demo's offline random-weight resnet18 (tests/fixtures/image/make_random_resnet.py)
# Independent reference implementations, used only to generate test fixtures and by benchmarks.
if [ "$mode" = test ]; then
  packages+=(python3-torch python3-torchvision python3-torchaudio python3-scipy python3-numpy
    python3-regex python3-opencv slurm-wlm munge python3-pytest)
fi

# shellcheck source=tools/lib/packages.sh
source "$root/tools/lib/packages.sh"
install_missing "${packages[@]}"

jobs="$(nproc)"
echo "== configuring $build_dir"
cmake -S "$root" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DEMBEDFLOW_WERROR="${EMBEDFLOW_WERROR:-OFF}" >/dev/null
echo "== building ($jobs jobs)"
start=$(date +%s)
cmake --build "$build_dir" -j "$jobs"
echo "== built in $(($(date +%s) - start)) s"

case "$mode" in
  demo) exec bash "$root/tools/demo.sh" "$build_dir" ;;
  test)
    cd "$build_dir"
    exec ctest --output-on-failure -j "$jobs" --timeout 1500
    ;;
esac
