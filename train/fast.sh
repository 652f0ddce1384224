#!/usr/bin/env bash
# Train one width-32 TransformerNet with the paper's loss: train/fast.sh NAME STYLE_FILE [extra nst train-fast options]
# Writes $DATA/teachers/NAME.safetensors (DEST=FOLDER: elsewhere). The fast models shipped before the light ones were
# made this way on one H100 (train/shipped.sh); they are no longer shipped, and are the teachers that
# train/fast_w12.sh distils into the *_w12 models. On a 2-core CPU this recipe runs at 0.30 images/s (about 27 hours
# for the 3 700 steps of batch 8 the teachers ran): a GPU recipe.
set -euo pipefail
NAME=$1; STYLE=$2; shift 2
DATA=${DATA:-.data}
DEST=${DEST:-$DATA/teachers}
mkdir -p "$DEST"
exec ${NST:-nst} train-fast --style "$STYLE" --data "$DATA/content" -o "$DEST/$NAME.safetensors" \
  --val-image "$DATA/heldout/gc_wonders_colosseum.jpg" --size 256 --batch-size 8 --width 32 \
  --checkpoint-every 1000 --steps 40000 --base none --train-params all --loss gram --lr 1e-3 --tv-weight 5 \
  --photo-size 0 --max-minutes 0 "$@"
