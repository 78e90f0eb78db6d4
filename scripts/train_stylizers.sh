#!/usr/bin/env bash
# Recipe of every shipped stylizer in model_store/stylizers/: trains each network on CPU (small variant, 96 px
# crops of scikit-image's photos) into build/stylizers/*.pt, then exports ONNX + manifests. Style loss: sliced
# Wasserstein on the RGB palette and four EfficientNet-Lite0 layers (Gram matching painted saturated blobs).
#   scripts/train_stylizers.sh              # train and export everything (about 50 min on 2 CPU cores, 4 in parallel)
#   JOBS=1 scripts/train_stylizers.sh       # one network at a time
#   scripts/train_stylizers.sh export       # only re-export the checkpoints already in build/stylizers/
#   scripts/train_stylizers.sh distill      # the real-time students (issue 20): distil each shipped network,
#                                           # resumable (run it again after a stop), export, measure quality
#   scripts/train_stylizers.sh finetune     # the shipped students, fine-tuned with the style terms the teachers
#                                           # lack (palette, near-pure pixels); resumable, export, quality
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$PWD/.venv/bin/python}"
CKPT=build/stylizers
STORE=model_store/stylizers
mkdir -p "$CKPT" "$STORE"
COMMON=(--content skimage --width 16 --blocks 3 --crop 96 --batch 2 --lr 3e-3 --threads 1 --device cpu
        --style-loss sliced --style-layers pixels,stem,block2,block5,block8 --style-size 128 --style-weight 12)
JOBS="${JOBS:-4}"

train() {  # train NAME STEPS MINUTES ARGS...
  local name=$1 steps=$2 minutes=$3; shift 3
  while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n; done
  nice -n 10 "$PY" -m tools.stylizers.train "${COMMON[@]}" --steps "$steps" --minutes "$minutes" \
    --out "$CKPT/$name.pt" "$@" > "$CKPT/$name.log" 2>&1 &
}

if [[ "${1:-all}" == distill || "${1:-all}" == finetune ]]; then
  if [[ $1 == distill ]]; then DIR="$CKPT/lite"; ARGS=(--steps 2000 --minutes 55)
  else DIR="$CKPT/lite_style"; ARGS=(--steps 800 --minutes 40 --lr 5e-4 --seed 1 --palette-weight 6 --pure-weight 5)
  fi
  mkdir -p "$DIR"
  for name in stained_glass brush_flow pointillism mosaic4; do  # 4 side by side, 1 thread each
    while (( $(jobs -rp | wc -l) >= JOBS )); do wait -n; done
    if [[ $1 == finetune ]]; then INIT=(--init "$STORE/$name.lite.json"); else INIT=(); fi
    nice -n 10 "$PY" -m tools.stylizers.distill "$STORE/$name.json" --out "$DIR/$name.pt" --resume \
      "${ARGS[@]}" "${INIT[@]}" --threads 1 > "$DIR/$name.log" 2>&1 &
  done
  while (( $(jobs -rp | wc -l) > 0 )); do wait -n || { echo "distillation failed: see $DIR/*.log" >&2; exit 1; }; done
  for ckpt in "$DIR"/*.pt; do
    "$PY" -m tools.stylizers.export "$ckpt" --out "$STORE"
  done
  "$PY" -m tools.stylizers.quality "$STORE"/*.lite.json --write
  exit 0
fi
if [[ "${1:-all}" != export ]]; then
  MOSAIC4=(--style stained_glass --style brush_flow --style pointillism --style cubist)
  mkdir -p "$CKPT/base"
  train base/mosaic4 3000 60 "${MOSAIC4[@]}"
  train stained_glass 2000 40 --style stained_glass
  train brush_flow 2000 40 --style brush_flow
  train pointillism 2000 40 --style pointillism
  while (( $(jobs -rp | wc -l) > 0 )); do wait -n || { echo "training failed: see $CKPT/*.log" >&2; exit 1; }; done
  # the 4-style net shares its capacity: 2000 more steps on both cores at a lower rate, from the checkpoint above
  train mosaic4 2000 30 "${MOSAIC4[@]}" --init "$CKPT/base/mosaic4.pt" --lr 1e-3 --threads 2
  wait -n || { echo "training failed: see $CKPT/mosaic4.log" >&2; exit 1; }
fi
for ckpt in "$CKPT"/*.pt; do
  "$PY" -m tools.stylizers.export "$ckpt" --out "$STORE"
done
