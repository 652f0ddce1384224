#!/usr/bin/env bash
# Reproduce on one GPU what was trained on a GPU: the VGG-19 AdaIN model models/adain/vgg19 (shipped) and the width-32
# TransformerNets that the *_w12 models were distilled from (not shipped), then the *_w12 models themselves on the CPU.
# They were trained on one H100 (lent through this project's device tool), several at once; budgets below are the
# wall-clock limits they ran under. Run from the repository root. The light models have CPU recipes of their own:
# train/fast_light.sh (the six one-painting models) and train/adain_light.sh (the light AdaIN model).
set -euo pipefail
bash train/prepare_data.sh                      # .data/ from ../shared/data, with held-out photos and paintings
S=.data/style_heldout
# Width-32 TransformerNets (the teachers, into .data/teachers/): 256-px crops, batch 8.
bash train/fast.sh great_wave  $S/hokusai_the_great_wave_off_kanagawa.jpg --style-weight 10 --max-grad-norm 0 --max-minutes 7.2 &
bash train/fast.sh summertime  $S/cassatt_summertime.jpg                  --style-weight 10 --max-grad-norm 0 --max-minutes 7.2 &
wait
# AdaIN decoder, two runs: 1000 steps of encoder inversion then the AdaIN objective, then a
# fine-tune from that decoder (fresh optimiser, no warm-up).
bash train/adain.sh --style-weight 10 --max-minutes 7.2 -o models/adain/phase1.safetensors
bash train/adain.sh --style-weight 10 --warmup-steps 0 --init-from models/adain/phase1.safetensors --max-minutes 8.8
# Width-12 CPU versions of the two teachers, distilled on the 2-core CPU (no GPU needed; about 1.5 hours), into the
# user's models folder.
bash train/fast_w12.sh great_wave summertime
