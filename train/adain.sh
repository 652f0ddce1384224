#!/usr/bin/env bash
# Train the shipped AdaIN decoder: train/adain.sh [extra nst train-adain options]
set -euo pipefail
DATA=${DATA:-.data}
exec ${NST:-nst} train-adain --content "$DATA/content" --style "$DATA/adain_style" -o models/adain/vgg19.safetensors \
  --val-image "$DATA/heldout/gc_wonders_colosseum.jpg" --val-style "$DATA/style_heldout/vangogh_gogh4.jpg" \
  --size 256 --batch-size 8 --warmup-steps 1000 --checkpoint-every 2000 --steps 160000 "$@"
