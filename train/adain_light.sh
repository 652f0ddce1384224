#!/usr/bin/env bash
# Distil the shipped VGG-19 AdaIN model into the light model on the CPU:
#   train/adain_light.sh [extra nst train-adain options]      e.g. --max-minutes 120, --resume
# One thread, so a second core stays free; checkpoints every 200 steps in models/adain/light.run/ (resume with --resume).
# The shipped model was grown in stages (docs/training-notes.md, "Light AdaIN"): 128-px crops in batches of 4 without
# skip branches, then 256-px crops in pairs, then both sets of skip branches, --perceptual-weight 1, 4 residual blocks
# and the wider decoder; each new part starts at zero, so a grown model starts where it was. The options below are
# those of the final stage. Anneal at the end of a run: the last option given wins, so
#   train/adain_light.sh --resume --max-minutes 30 --lr 1.5e-4   for its last half hour.
set -euo pipefail
DATA=${DATA:-.data}
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec ${NST:-nst} train-adain --arch light --teacher vgg19 --content "$DATA/content" --style "$DATA/adain_style" \
  -o models/adain/light.safetensors --val-image "$DATA/heldout/gc_wonders_colosseum.jpg" \
  --val-style "$DATA/style_heldout/vangogh_gogh4.jpg" --size 256 --batch-size 2 --lr 1e-3 --skips --style-skips \
  --checkpoint-every 200 --steps 100000 --perceptual-weight 1 --reconstruct-weight 3 --style-weight 14 \
  --blocks 4 --decoder-widths 64,128,64,32,16,16 "$@"
