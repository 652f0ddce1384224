#!/usr/bin/env bash
# Reproduce the shipped fast models of the CPU recipe (models/README.md): each is what
# `nst train-fast --style PAINTING` makes with no other option (200 steps specialising the AdaIN
# decoder to the painting, built-in photos). great_wave alone on both cores (the recipe's timing, as a
# user runs it); the others two at a time with one thread each; --max-minutes 0 so a busy machine
# still finishes all 200 steps. Run from the repository root.
set -euo pipefail
bash train/prepare_data.sh        # .data/ from ../shared/data (the paintings; the held-out photo for previews)
S=.data/style
one() {
  ${NST:-nst} train-fast --style "$2" -o "${DEST:-models/fast}/$1.safetensors" --val-image .data/heldout/gc_wonders_colosseum.jpg \
    --max-minutes 0 --quiet
}
/usr/bin/time -f "great_wave: %e s wall (2 threads, machine otherwise idle)" \
  ${NST:-nst} train-fast --style $S/hokusai_the_great_wave_off_kanagawa.jpg -o ${DEST:-models/fast}/great_wave.safetensors \
  --val-image .data/heldout/gc_wonders_colosseum.jpg --quiet
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1
one cafe_terrace $S/vangogh_gogh4.jpg & one summertime $S/cassatt_summertime.jpg & wait   # all shipped (models/README.md)
one village_street $S/gogh_village_street_in_auvers.jpg & one church_at_auvers $S/vangogh_eglise_dauvers_sur_oise.jpg & wait
one girls_at_the_piano $S/renoir_girls_at_the_piano.jpg
