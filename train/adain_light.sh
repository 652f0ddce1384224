#!/usr/bin/env bash
# Distil the shipped VGG-19 AdaIN model into the light model (issue #12) on the CPU:
#   train/adain_light.sh [extra nst train-adain options]      e.g. --max-minutes 120, --resume
# One thread, so a second core stays free; checkpoints every 200 steps in models/adain/light.run/.
set -euo pipefail
DATA=${DATA:-.data}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec ${NST:-nst} train-adain --arch light --teacher default --content "$DATA/content" --style "$DATA/adain_style" \
  -o models/adain/light.safetensors --val-image "$DATA/heldout/gc_wonders_colosseum.jpg" \
  --val-style "$DATA/style_heldout/vangogh_gogh4.jpg" --size 128 --batch-size 4 --lr 1e-3 \
  --checkpoint-every 200 --steps 100000 "$@"
