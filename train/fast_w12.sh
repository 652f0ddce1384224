#!/usr/bin/env bash
# Rebuild the width-12 fast models, which the package does not carry: bash train/fast_w12.sh [great_wave] [summertime]
# Each is a width-12 TransformerNet distilled on the CPU (train/distill.sh) from a width-32 TransformerNet trained with
# the paper's loss on a GPU (models/README.md, "Not shipped"). The teacher is $DATA/teachers/NAME.safetensors when it
# is there (train/shipped.sh trains one on a GPU in 7.2 minutes), else the very file the shipped model was distilled
# from, taken from this repository's history and checked by its sha256. The distillation runs the shipped model's steps
# (seed 0, the same crops), one thread per model, the two side by side: about 1.5 hours on a 2-core CPU (3.3-5 s a
# step). It writes NAME_w12.safetensors into the user's models folder ($NST_HOME/models/fast, by default
# ~/.local/share/nst_toolkit/models/fast), where `nst fast --model NAME_w12` finds it; DEST=FOLDER writes elsewhere.
# Run from the repository root; extra nst train-fast options go in EXTRA (EXTRA="--resume" continues a stopped run).
set -euo pipefail
DATA=${DATA:-.data}
[ -d "$DATA/content" ] || bash train/prepare_data.sh      # .data/ from ../shared/data (the photos; the held-out one)
DEST=${DEST:-${NST_HOME:-${XDG_DATA_HOME:-$HOME/.local/share}/nst_toolkit}/models/fast}
declare -A HISTORY=([great_wave]=d421ac1^ [summertime]=2bb3d22^)   # the last commits that shipped the teachers
declare -A SHA256=([great_wave]=1b6e0233d5c03fba9c29f57a9f033864104f045a7ea51b49320e395d15481e3a
                   [summertime]=9e8285141bb9baf5ba8bcc5e126166c64d363c7d16e515541925ae222c4935dc)
declare -A STEPS=([great_wave]=1148 [summertime]=1169)     # where the shipped models stopped
teacher() {
  local t="$DATA/teachers/$1.safetensors"
  if [ ! -f "$t" ]; then
    mkdir -p "$DATA/teachers"
    git show "${HISTORY[$1]}:models/fast/$1.safetensors" > "$t.part"
    echo "${SHA256[$1]}  $t.part" | sha256sum --check --quiet
    mv "$t.part" "$t"
  fi
  echo "$t"
}
names=("$@")
[ ${#names[@]} -gt 0 ] || names=(great_wave summertime)
mkdir -p "$DEST"
pids=()
for name in "${names[@]}"; do
  [ -n "${STEPS[$name]:-}" ] || { echo "fast_w12.sh: no width-12 model of '$name' (great_wave, summertime)" >&2; exit 2; }
  t=$(teacher "$name")
  # shellcheck disable=SC2086
  OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 bash train/distill.sh "$t" "$DEST/${name}_w12.safetensors" \
    --steps "${STEPS[$name]}" --quiet ${EXTRA:-} &
  pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
