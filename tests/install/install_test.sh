#!/bin/sh
# install_test.sh BUILD_DIR SOURCE_DIR CMAKE: installs BUILD_DIR into a temporary prefix and
# checks that what is installed works from there alone: the CLI (and the stage libraries it
# loads on demand), the CMake package (examples/text_api built standalone with find_package),
# and the Python module.
set -eu
build=$1
src=$2
cmake=$3
prefix=$(mktemp -d "${TMPDIR:-/tmp}/embedflow-install-XXXXXX")
trap 'rm -rf "$prefix"' EXIT
fail() {
  echo "FAIL: $*" >&2
  exit 1
}
tiny="$src/tests/fixtures/text/tiny-bert"

"$cmake" --install "$build" --prefix "$prefix" >"$prefix.log" 2>&1 || {
  cat "$prefix.log"
  rm -f "$prefix.log"
  fail "cmake --install"
}
rm -f "$prefix.log"

lib=$prefix/lib
for f in bin/embedflow lib/libembedflow_core.so lib/libembedflow_stages_common.so \
  lib/libembedflow_model_stages.so lib/libembedflow_image_decoding.so lib/libembedflow_models.so \
  lib/cmake/embedflow/embedflowConfig.cmake lib/cmake/embedflow/embedflowConfigVersion.cmake \
  lib/cmake/embedflow/embedflowTargets.cmake include/embedflow/executor.h \
  include/models/sentence_transformer.h include/stages/common/stage_library.h; do
  [ -e "$prefix/$f" ] || fail "$f is not installed"
done
module=$(ls "$lib"/python3/dist-packages/embedflow*.so 2>/dev/null) || fail "no Python module"

# $ORIGIN-relative search paths only: nothing of the build tree.
for f in "$prefix/bin/embedflow" "$lib/libembedflow_model_stages.so" "$module"; do
  runpath=$(readelf -d "$f" | grep -E 'RUNPATH|RPATH' || true)
  case "$runpath" in *'$ORIGIN'*) ;; *) fail "$f: no \$ORIGIN search path ($runpath)" ;; esac
  case "$runpath" in *"$build"*) fail "$f: searches the build tree ($runpath)" ;; esac
done
ldd "$prefix/bin/embedflow" | grep -q "libembedflow_core.so => $prefix/bin/../lib/" ||
  fail "the installed CLI does not load the installed libembedflow_core.so"

# The CLI from the prefix: its version names the installed model-stages library, and a model
# pipeline runs (the on-demand library found beside libembedflow_stages_common.so).
"$prefix/bin/embedflow" --version | grep -q "model stages: $prefix/.*libembedflow_model_stages.so" ||
  fail "embedflow --version: $("$prefix/bin/embedflow" --version)"
printf 'The weather is lovely today.\nHe drove to the stadium.\n' >"$prefix/texts.txt"
MODEL=$tiny TEXTS=$prefix/texts.txt OUT=$prefix/out \
  "$prefix/bin/embedflow" run "$src/configs/text_embeddings.yaml" >/dev/null 2>"$prefix/run.log" || {
  cat "$prefix/run.log"
  fail "embedflow run from the prefix"
}
[ -s "$prefix/out/embeddings.npy" ] || fail "embedflow run wrote no embeddings.npy"

# The C++ package: examples/text_api standalone, against the prefix only.
"$cmake" -S "$src/examples/text_api" -B "$prefix/example" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$prefix" >"$prefix/example.log" 2>&1 &&
  "$cmake" --build "$prefix/example" >>"$prefix/example.log" 2>&1 || {
  cat "$prefix/example.log"
  fail "examples/text_api does not build against the installed package"
}
out=$("$prefix/example/text_api_example" "$tiny")
echo "$out"
echo "$out" | grep -q "embeddings: \[3, 32\]" || fail "text_api_example: unexpected output"

# The Python module from the prefix, with its libraries from the prefix.
PYTHONPATH=$lib/python3/dist-packages /usr/bin/python3 - "$prefix" "$tiny" <<'PY' || fail "python"
import sys
import embedflow
prefix, tiny = sys.argv[1], sys.argv[2]
assert embedflow.__file__.startswith(prefix), embedflow.__file__
e = embedflow.encode_text(tiny, ["The weather is lovely today.", "He drove to the stadium."])
assert e.shape == (2, 32), e.shape
maps = open("/proc/self/maps").read()
assert prefix + "/lib/libembedflow_model_stages.so" in maps, "model stages not from the prefix"
print("python module OK:", embedflow.__file__)
PY
echo "install OK: $prefix"
