#!/usr/bin/env bash
# Distil the shipped VGG-19 AdaIN model into the light model (issue #12) on the CPU:
#   train/adain_light.sh [extra nst train-adain options]      e.g. --max-minutes 120, --resume
# One thread, so a second core stays free; checkpoints every 200 steps in models/adain/light.run/.
# The training state of the last sitting is kept in git as train/state/adain_light.safetensors (the
# run folder is not tracked): --resume on a fresh checkout starts from it. Copy the new state back
# there at the end of a sitting: cp models/adain/light.run/checkpoint.safetensors train/state/adain_light.safetensors
set -euo pipefail
DATA=${DATA:-.data}
RUN=models/adain/light.run
if [[ " $* " == *" --resume "* && ! -f $RUN/checkpoint.safetensors && -f train/state/adain_light.safetensors ]]; then
  mkdir -p "$RUN" && cp train/state/adain_light.safetensors "$RUN/checkpoint.safetensors"
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec ${NST:-nst} train-adain --arch light --teacher default --content "$DATA/content" --style "$DATA/adain_style" \
  -o models/adain/light.safetensors --val-image "$DATA/heldout/gc_wonders_colosseum.jpg" \
  --val-style "$DATA/style_heldout/vangogh_gogh4.jpg" --size 128 --batch-size 4 --lr 1e-3 \
  --checkpoint-every 200 --steps 100000 --perceptual-weight 0.1 --reconstruct-weight 3 "$@"
