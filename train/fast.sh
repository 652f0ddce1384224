#!/usr/bin/env bash
# Train one shipped fast model: train/fast.sh NAME STYLE_FILE [extra nst train-fast options]
# The shipped models were made on one H100 with the settings below (see models/README.md).
set -euo pipefail
NAME=$1; STYLE=$2; shift 2
DATA=${DATA:-.data}
exec ${NST:-nst} train-fast --style "$STYLE" --data "$DATA/content" -o "models/fast/$NAME.safetensors" \
  --val-image "$DATA/heldout/gc_wonders_colosseum.jpg" --size 256 --batch-size 8 --width 32 \
  --checkpoint-every 1000 --steps 40000 --base none --train-params all --loss gram --lr 1e-3 --tv-weight 5 \
  --photo-size 0 --max-minutes 0 "$@"
