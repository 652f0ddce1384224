#!/usr/bin/env bash
# Reproduce the heavy fast models (models/README.md): `nst train-fast --base vgg19` with the settings they were
# made with (200 steps specialising the VGG-19 AdaIN decoder to the painting, built-in photos). One thread;
# --max-minutes 0 so a busy machine still finishes all 200 steps. Run from the repository root.
# (the other shipped styles are light models now: train/fast_light.sh.)
set -euo pipefail
bash train/prepare_data.sh        # .data/ from ../shared/data (the paintings; the held-out photo for previews)
S=.data/style
one() {
  ${NST:-nst} train-fast --style "$2" -o "${DEST:-models/fast}/$1.safetensors" --base vgg19 --lr 1e-4 --style-weight 2 \
    --steps 200 --val-image .data/heldout/gc_wonders_colosseum.jpg --max-minutes 0 --quiet
}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
one girls_at_the_piano $S/renoir_girls_at_the_piano.jpg
