#!/usr/bin/env bash
# The demo: the bundled configs on the bundled media, printing their similarity tables.
#
#   bash tools/demo.sh [BUILD_DIR]          (what `bash tools/setup.sh demo` runs)
#
# With internet it fetches real models from the Hugging Face hub (`embedflow models fetch`, into
# the standard cache; a second run downloads nothing):
#   text   sentence-transformers/all-MiniLM-L6-v2
#   CLIP   openai/clip-vit-base-patch32
#   images and audio   timm/resnet50.a1_in1k (ImageNet weights)
# Without internet (checked with a 5-second timeout) it says so and runs the same pipelines on
# small RANDOM-WEIGHT models: the committed tests/fixtures/text/tiny-bert-uncased and
# tests/fixtures/clip/tiny, and a resnet18 generated with numpy
# (tests/fixtures/image/make_random_resnet.py). Then the pipelines, shapes and files are real
# and the similarity values mean nothing; every table says which kind it is.
#
# MODEL, CLIP_MODEL and IMAGE_MODEL (paths or hub ids) override the text, CLIP and ResNet models;
# DEMO_OFFLINE=1 (or HF_HUB_OFFLINE=1) skips the network check; OUT_ROOT sets the output folder.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${1:-$root/build}"
ef="$build_dir/apps/embedflow"
cd "$root"
export OUT_ROOT="${OUT_ROOT:-$root/out/demo}"
if [ ! -x "$ef" ]; then
  echo "error: $ef does not exist: build first (bash tools/setup.sh build)" >&2
  exit 1
fi

banner() { printf '\n== %s\n' "$*"; }
endpoint="${HF_ENDPOINT:-https://huggingface.co}"

# -- Which models: the hub's when it answers, the bundled random-weight ones otherwise.
online=0
if [ "${DEMO_OFFLINE:-0}" = 1 ] || [ "${HF_HUB_OFFLINE:-0}" = 1 ]; then
  why="offline mode requested (DEMO_OFFLINE / HF_HUB_OFFLINE)"
elif command -v curl >/dev/null 2>&1; then
  probe_err="$(mktemp)"
  if curl -sS -o /dev/null --max-time 5 "$endpoint/api/models/sentence-transformers/all-MiniLM-L6-v2" \
    2>"$probe_err"; then
    online=1
  else
    why="$endpoint did not answer within 5 s ($(tail -n1 "$probe_err"))"
  fi
  rm -f "$probe_err"
else
  host="${endpoint#*://}"
  host="${host%%/*}"
  if timeout 5 bash -c "exec 3<>/dev/tcp/${host%%:*}/443" 2>/dev/null; then
    online=1
  else
    why="cannot connect to ${host%%:*}:443 within 5 s"
  fi
fi

random_resnet="tests/fixtures/generated/resnet18-random.safetensors"
make_random_resnet() { # prints nothing on success; the reason on failure
  if [ -f "$random_resnet" ]; then return 0; fi
  # Debian's python3 (where setup.sh installs python3-numpy) before whatever python3 is first on
  # PATH: a pyenv or venv interpreter there usually lacks numpy.
  local py=""
  for candidate in /usr/bin/python3 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c "import numpy" 2>/dev/null; then
      py="$candidate"
      break
    fi
  done
  if [ -z "$py" ]; then
    echo "python3 with numpy is needed to generate the random resnet18 (apt-get install python3-numpy)"
    return 1
  fi
  "$py" tests/fixtures/image/make_random_resnet.py --out "$random_resnet" >&2 ||
    { echo "generating the random resnet18 failed (see above)"; return 1; }
}

# fetch REPO: prints the snapshot folder, or nothing if the download failed (then the bundled
# random-weight model is used, and labelled so; the reason is on stderr).
fetch() {
  "$ef" models fetch "$1" --progress auto ||
    echo "   fetching $1 failed (see above): using the bundled random-weight model instead" >&2
}

text_model="${MODEL:-}" clip_model="${CLIP_MODEL:-}" resnet_model="${IMAGE_MODEL:-}"
text_label="$text_model" clip_label="$clip_model" resnet_label="$resnet_model"
if [ "$online" = 1 ]; then
  banner "fetching models from $endpoint (cached after the first run)"
  if [ -z "$text_model" ]; then
    text_model="$(fetch sentence-transformers/all-MiniLM-L6-v2)"
    text_label="sentence-transformers/all-MiniLM-L6-v2"
  fi
  if [ -z "$clip_model" ]; then
    clip_model="$(fetch openai/clip-vit-base-patch32)"
    clip_label="openai/clip-vit-base-patch32"
  fi
  if [ -z "$resnet_model" ]; then
    resnet_model="$(fetch timm/resnet50.a1_in1k)"
    resnet_label="timm/resnet50.a1_in1k (ImageNet weights; on spectrograms: generic image features, not trained on audio)"
  fi
else
  banner "NO INTERNET: $why"
  echo "Running the same pipelines on the bundled small RANDOM-WEIGHT models instead."
  echo "Their outputs have the real shapes and files, but the similarity values are NOT semantic."
  echo "With a connection (or HF_ENDPOINT set to a mirror) this demo fetches all-MiniLM-L6-v2,"
  echo "clip-vit-base-patch32 and a timm ResNet-50; or set MODEL / CLIP_MODEL / IMAGE_MODEL."
fi
random_note="RANDOM WEIGHTS - values are not semantic"
if [ -z "$text_model" ]; then
  text_model="tests/fixtures/text/tiny-bert-uncased"
  text_label="tiny-bert-uncased: real bert-base-uncased vocabulary, 2 layers x 32, $random_note"
fi
if [ -z "$clip_model" ]; then
  clip_model="tests/fixtures/clip/tiny"
  clip_label="tiny CLIP test model, $random_note"
fi
resnet_missing=""
if [ -z "$resnet_model" ]; then
  if resnet_missing="$(make_random_resnet)"; then
    resnet_model="$random_resnet"
    resnet_label="resnet18 generated by tests/fixtures/image/make_random_resnet.py, $random_note"
  fi
fi

# run_quiet CMD...: the command's stdout; its stderr (progress, the per-stage summary) only if it
# fails.
run_quiet() {
  local log rc=0
  log="$(mktemp)"
  "$@" 2>"$log" || rc=$?
  [ "$rc" = 0 ] || { cat "$log" >&2; echo "error: '$*' failed (exit $rc)" >&2; }
  rm -f "$log"
  return "$rc"
}

# The matrix score.cosine prints (print: true), without the run's other output.
matrix() { awk '/^tensor\(/ { p = 1 } p { print } /\]\]\)$/ { p = 0 }'; }

# jsonl_ids FILE: "0 id0, 1 id1, ..." from a write.npy sidecar (the rows of a printed matrix).
jsonl_ids() {
  sed -n 's/.*"row":\([0-9]*\),"id":"\([^"]*\)".*/\1 \2/p' "$1" | paste -sd ',' - | sed 's/,/, /g'
}

banner "text similarity: 3 sentences -> embeddings -> cosine matrix"
echo "model: $text_label"
MODEL="$text_model" OUT="$OUT_ROOT/text_similarity" run_quiet "$ef" run configs/text_similarity.yaml --progress off | matrix
echo "rows/columns (the config's sentences):"
sed -n '/^      items:/,/^$/s/^        - /  /p' configs/text_similarity.yaml

banner "image vs captions in CLIP space: chelsea.jpg against 3 captions"
echo "model: $clip_label"
CLIP_MODEL="$clip_model" OUT="$OUT_ROOT/clip_image_text" run_quiet "$ef" run configs/clip_image_text.yaml --progress off | matrix
echo "columns (the config's captions):"
sed -n '/^      items:/,/^$/s/^        - /  /p' configs/clip_image_text.yaml

banner "audio: recordings -> log-mel spectrograms (.npy + PNG)"
OUT="$OUT_ROOT/audio_spectrograms" run_quiet "$ef" run configs/audio_spectrograms.yaml --progress off
echo "wrote $(find "$OUT_ROOT/audio_spectrograms/png" -name '*.png' | wc -l) PNGs under $OUT_ROOT/audio_spectrograms/png"

if [ -n "$resnet_model" ]; then
  banner "audio to embedding: recordings -> mel spectrogram images -> ResNet -> which sound alike"
  echo "model: $resnet_label"
  a2e="$OUT_ROOT/audio_to_embedding"
  MODEL="$resnet_model" OUT="$a2e" run_quiet "$ef" run configs/audio_to_embedding.yaml --progress off | matrix
  echo "rows/columns: $(jsonl_ids "$a2e/embeddings.jsonl")"
  echo "closest other recording (alike.jsonl, rank 1; exclude_self leaves the recording itself out):"
  sed -n 's/.*"corpus_id":"\([^"]*\)","query_id":"\([^"]*\)","rank":1,"score":\([-0-9.e]*\).*/\2 \1 \3/p' \
    "$a2e/alike.jsonl" | while read -r q c s; do printf '  %-24s -> %-24s %.4f\n' "$q" "$c" "$s"; done

  banner "images -> ResNet embeddings"
  echo "model: $resnet_label"
  MODEL="$resnet_model" OUT="$OUT_ROOT/image_embeddings" run_quiet "$ef" run configs/image_embeddings.yaml --progress off
  echo "wrote $OUT_ROOT/image_embeddings/embeddings.npy: $(wc -l <"$OUT_ROOT/image_embeddings/embeddings.jsonl") rows (ids in embeddings.jsonl)"
else
  banner "audio to embedding and image embeddings: skipped ($resnet_missing)"
fi

banner "outputs under $OUT_ROOT"
find "$OUT_ROOT" -maxdepth 2 -type f \( -name '*.npy' -o -name '*.jsonl' -o -name '*.csv' \) | sort | head -30
