#!/usr/bin/env bash
# Recipe of every shipped stylizer in model_store/stylizers/: trains each network on CPU (small variant, 96 px
# crops of scikit-image's photos, a few minutes each) into build/stylizers/*.pt, then exports ONNX + manifests.
#   scripts/train_stylizers.sh            # train and export everything (about 40 min on 2 CPU cores)
#   scripts/train_stylizers.sh export     # only re-export the checkpoints already in build/stylizers/
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$PWD/.venv/bin/python}"
CKPT=build/stylizers
STORE=model_store/stylizers
mkdir -p "$CKPT" "$STORE"
export PYTHONPATH="$PWD/handlers${PYTHONPATH:+:$PYTHONPATH}"
COMMON=(--content skimage --width 16 --blocks 3 --crop 96 --batch 2 --lr 3e-3 --threads 1 --device cpu)

train() {  # train NAME STEPS MINUTES ARGS...
  local name=$1 steps=$2 minutes=$3; shift 3
  nice -n 10 "$PY" -m convlens.style.train "${COMMON[@]}" --steps "$steps" --minutes "$minutes" \
    --out "$CKPT/$name.pt" "$@"
}

if [[ "${1:-all}" != export ]]; then
  train stained_glass 400 8 --style stained_glass
  train brush_flow 400 8 --style brush_flow
  train pointillism 400 8 --style pointillism
  train mosaic4 600 12 --style stained_glass --style brush_flow --style pointillism --style cubist
fi
for ckpt in "$CKPT"/*.pt; do
  "$PY" -m convlens.style.export "$ckpt" --out "$STORE"
done
