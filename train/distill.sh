#!/usr/bin/env bash
# Distil a shipped fast model into a narrower, faster one: train/distill.sh NAME [extra nst train-fast options]
# Writes models/fast/NAME_w12.safetensors. The shipped width-12 models were made this way on the
# 2-core CPU, the three in parallel with one thread each (see models/README.md).
set -euo pipefail
NAME=$1; shift
DATA=${DATA:-.data}
exec ${NST:-nst} train-fast --teacher "models/fast/$NAME.safetensors" --data "$DATA/content" \
  -o "models/fast/${NAME}_w12.safetensors" --val-image "$DATA/heldout/gc_wonders_colosseum.jpg" \
  --width 12 --size 128 --batch-size 8 --lr 1e-3 --checkpoint-every 100 --steps 5000 --photo-size 0 --max-minutes 0 "$@"
