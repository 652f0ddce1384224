#!/usr/bin/env bash
# Distil the shipped VGG-19 AdaIN model into the light model (issue #12) on the CPU:
#   train/adain_light.sh [extra nst train-adain options]      e.g. --max-minutes 120, --resume
# One thread, so a second core stays free; checkpoints every 200 steps in models/adain/light.run/.
# Sittings 1-8 used 128-px crops in batches of 4 and no skip branches; sitting 9 256-px crops in pairs; from
# sitting 11 the model has both sets of skip branches (session 9: grown from the state after sitting 9 by
# train/experiments/add_skips.py, adain_light_dual.py and dual_to_state.py), from sitting 13 --perceptual-weight 1,
# from sitting 16 (session 12) 4 residual blocks, the wider decoder and --style-weight 14 (sessions 10-11's experiments
# D and W, grown by add_skips.py and widen_decoder.py).
# Anneal at the end of a sitting (session 10: it turned a plateau into the shipped model): the last option
# given wins, so   train/adain_light.sh --resume --max-minutes 30 --lr 1.5e-4   for its last half hour.
# The training state of the last sitting is kept in git as train/state/adain_light.safetensors (the
# run folder is not tracked): --resume on a fresh checkout starts from it. Copy the new state back
# there at the end of a sitting: cp models/adain/light.run/checkpoint.safetensors train/state/adain_light.safetensors
# Experiment state beside it (models/README.md, sessions 15-17): adain_light_photo (experiment B8: the Gram loss, relu5_1
# in the style losses and --photo-weight); copy it to X.run/checkpoint.safetensors and add --gram-weight 6 --style-weight 10.5
# --photo-weight 0.5 --style-layers relu1_1,relu2_1,relu3_1,relu4_1,relu5_1 -o X.safetensors.
set -euo pipefail
DATA=${DATA:-.data}
RUN=models/adain/light.run
if [[ " $* " == *" --resume "* && ! -f $RUN/checkpoint.safetensors && -f train/state/adain_light.safetensors ]]; then
  mkdir -p "$RUN" && cp train/state/adain_light.safetensors "$RUN/checkpoint.safetensors"
fi
export OMP_NUM_THREADS=${OMP_NUM_THREADS:-1}
exec ${NST:-nst} train-adain --arch light --teacher default --content "$DATA/content" --style "$DATA/adain_style" \
  -o models/adain/light.safetensors --val-image "$DATA/heldout/gc_wonders_colosseum.jpg" \
  --val-style "$DATA/style_heldout/vangogh_gogh4.jpg" --size 256 --batch-size 2 --lr 1e-3 --skips --style-skips \
  --checkpoint-every 200 --steps 100000 --perceptual-weight 1 --reconstruct-weight 3 --style-weight 14 \
  --blocks 4 --decoder-widths 64,128,64,32,16,16 "$@"
