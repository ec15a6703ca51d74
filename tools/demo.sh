#!/usr/bin/env bash
# The demo: the bundled pipelines on the bundled media. No model can be downloaded on this
# machine, so the encoders are the small random-weight test models shipped in tests/fixtures:
# the pipelines, shapes and files are real, the similarity values mean nothing. Point MODEL /
# CLIP_MODEL at real model folders (or hub ids fetched with `embedflow models fetch`) for
# meaningful numbers.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build_dir="${1:-$root/build}"
ef="$build_dir/apps/embedflow"
cd "$root"
export OUT_ROOT="${OUT_ROOT:-$root/out/demo}"

banner() { printf '\n== %s\n' "$*"; }

text_model="${MODEL:-tests/fixtures/text/tiny-bert}"
clip_model="${CLIP_MODEL:-tests/fixtures/clip/tiny}"
[ -z "${MODEL:-}" ] && note_text=" (RANDOM-WEIGHT tiny BERT: values are not semantic)" || note_text=""
[ -z "${CLIP_MODEL:-}" ] && note_clip=" (RANDOM-WEIGHT tiny CLIP: values are not semantic)" || note_clip=""

banner "text similarity: 3 sentences -> embeddings -> cosine matrix$note_text"
MODEL="$text_model" OUT="$OUT_ROOT/text_similarity" "$ef" run configs/text_similarity.yaml --progress off

banner "image vs captions in CLIP space$note_clip"
CLIP_MODEL="$clip_model" OUT="$OUT_ROOT/clip_image_text" "$ef" run configs/clip_image_text.yaml --progress off

banner "audio: recordings -> log-mel spectrograms (.npy + PNG)"
OUT="$OUT_ROOT/audio_spectrograms" "$ef" run configs/audio_spectrograms.yaml --progress off

if [ -n "${IMAGE_MODEL:-}" ]; then
  banner "images -> ResNet embeddings"
  MODEL="$IMAGE_MODEL" OUT="$OUT_ROOT/image_embeddings" "$ef" run configs/image_embeddings.yaml --progress off
else
  banner "images -> ResNet embeddings: skipped (set IMAGE_MODEL to a torchvision/timm ResNet .safetensors)"
fi

banner "outputs under $OUT_ROOT"
find "$OUT_ROOT" -maxdepth 2 -type f \( -name '*.npy' -o -name '*.jsonl' -o -name '*.csv' \) | sort | head -20
