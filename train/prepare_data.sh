#!/usr/bin/env bash
# Build the training folders from ../shared/data (or $SHARED), holding out the photos and paintings
# used for previews and evaluation, so the shipped models are judged on images they never saw.
set -euo pipefail
SHARED=${SHARED:-../shared/data}
DATA=${DATA:-.data}
rm -rf "$DATA"; mkdir -p "$DATA/content" "$DATA/heldout" "$DATA/style" "$DATA/adain_style" "$DATA/style_heldout"
cp "$SHARED"/content/*.jpg "$DATA/content/"
mv "$DATA"/content/gc_wonders_* "$DATA/heldout/"          # 7 held-out photos (the demo's among them)
cp "$SHARED"/style/*.jpg "$DATA/style/"
cp "$SHARED"/style/*.jpg "$DATA/adain_style/"
for f in hokusai_the_great_wave_off_kanagawa vangogh_gogh4 cassatt_summertime; do  # held-out paintings for AdaIN
  mv "$DATA/adain_style/$f.jpg" "$DATA/style_heldout/"
done
echo "content: $(ls "$DATA/content" | wc -l) photos; held out: $(ls "$DATA/heldout" | wc -l); AdaIN styles: $(ls "$DATA/adain_style" | wc -l)"
