#!/usr/bin/env bash
# Rebuild the style bank that `nst train-fast --base bank` starts from, which the package does not carry, on the CPU:
#   bash train/fast_base_cpu.sh [extra train/fast_base.py options]
# The same 3 800 steps (16 crops of 256 px a step, the 21 paintings in turn, seed 0) that the shipped bank ran in 3.9
# minutes on one NVIDIA H200 (models/README.md, "Not shipped"). Expected time on a 2-core CPU: about 56 hours — the
# paper's network and loss train at 0.30 images/s there (docs/training-notes.md), and the bank sees 60 800 crops.
# With a GPU: DEVICE=cuda, about 4 minutes. Resumable: Ctrl-C (or --minutes N) stops it with a checkpoint every
# 100 steps in bank.run/ beside the file; run it again with --resume to go on.
# Writes bank.safetensors into the user's models folder ($NST_HOME/models/fast_base, by default
# ~/.local/share/nst_toolkit/models/fast_base), where `--base bank` finds it; DEST=FOLDER writes elsewhere.
# Run from the repository root.
set -euo pipefail
DATA=${DATA:-.data}
[ -d "$DATA/style" ] || bash train/prepare_data.sh       # .data/ from ../shared/data (the photos and paintings)
DEST=${DEST:-${NST_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/nst_toolkit}/models/fast_base}
mkdir -p "$DEST"
exec python train/fast_base.py --styles "$DATA/style" \
  --exclude renoir_girls_at_the_piano,hokusai_kazusa_sea_route,brugel_the_harvesters,vangogh_vincentvangoghbridge \
  --data "$DATA/content" -o "$DEST/bank.safetensors" --steps 3800 --batch-size 16 --size 256 \
  --checkpoint-every 100 --device "${DEVICE:-cpu}" "$@"
