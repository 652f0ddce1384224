#!/usr/bin/env bash
# Distil a width-32 TransformerNet into a narrower, faster one on the CPU:
#   train/distill.sh TEACHER.safetensors OUT.safetensors [extra nst train-fast options]
# The settings the *_w12 models were made with (models/README.md); train/fast_w12.sh runs it for them.
set -euo pipefail
TEACHER=$1; OUT=$2; shift 2
DATA=${DATA:-.data}
exec ${NST:-nst} train-fast --teacher "$TEACHER" --data "$DATA/content" -o "$OUT" \
  --val-image "$DATA/heldout/gc_wonders_colosseum.jpg" \
  --width 12 --size 128 --batch-size 8 --lr 1e-3 --checkpoint-every 100 --steps 5000 --photo-size 0 --max-minutes 0 "$@"
