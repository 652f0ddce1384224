#!/usr/bin/env bash
# The heavier fast models (no longer shipped; models/README.md): `nst train-fast --base vgg19` with the settings
# they were made with (200 steps specialising the VGG-19 AdaIN decoder to the painting, built-in photos). One thread;
# --max-minutes 0 so a busy machine still finishes all 200 steps. Run from the repository root.
# (the shipped styles are light models now: train/fast_light.sh.)
set -euo pipefail
bash train/prepare_data.sh        # .data/ from ../shared/data (the paintings; the held-out photo for previews)
S=.data/style
one() {
  ${NST:-nst} train-fast --style "$2" -o "${DEST:-heavy}/$1.safetensors" --base vgg19 --lr 1e-4 --style-weight 2 \
    --steps 200 --val-image .data/heldout/gc_wonders_colosseum.jpg --max-minutes 0 --quiet
}
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
for name in great_wave:hokusai_the_great_wave_off_kanagawa cafe_terrace:vangogh_gogh4 summertime:cassatt_summertime \
  village_street:gogh_village_street_in_auvers church_at_auvers:vangogh_eglise_dauvers_sur_oise \
  girls_at_the_piano:renoir_girls_at_the_piano; do
  one "${name%%:*}" "$S/${name#*:}.jpg"
done
