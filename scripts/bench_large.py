"""Time and peak memory of `nst fast` and `nst adain` on very large photos (tiled automatically).

    python scripts/bench_large.py --json bench/large.json            # 12 and 24 megapixels

The photo is the built-in sample upscaled to 4243×2828 (12 MP) and 6000×4000 (24 MP) and saved as
JPEG; each command runs as a user runs it (`/usr/bin/time` gives the peak resident memory).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from measure import measured
from PIL import Image

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "nst_toolkit" / "samples"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4243x2828,6000x4000")
    ap.add_argument("--commands", default="fast:great_wave,adain:light")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in a.sizes.split(","):
            w, h = map(int, size.split("x"))
            photo = Path(tmp) / f"photo_{w}x{h}.jpg"
            Image.open(SAMPLES / "machu_picchu.jpg").convert("RGB").resize((w, h), Image.Resampling.BICUBIC).save(photo, quality=92)
            for item in a.commands.split(","):
                engine, model = item.split(":")
                out = Path(tmp) / f"out_{engine}_{model}_{w}.png"
                cmd = [sys.executable, "-m", "nst_toolkit", engine, str(photo)]
                if engine == "adain":
                    cmd += [str(SAMPLES / "great_wave.jpg")]
                cmd += ["--size", str(max(w, h))]  # the photo's own size (both one-pass engines default to 512)
                cmd += ["--model", model, "-o", str(out), "--quiet", "--device", "cpu"]
                wall, peak = measured(cmd)
                assert Image.open(out).size == (w, h)
                rows.append({"engine": engine, "model": model, "megapixels": round(w * h / 1e6, 1), "size": size,
                             "wall_s": round(wall, 1), "peak_rss_gib": round(peak, 2)})
                print(f"{engine:5} {model:16} {w}×{h} ({w * h / 1e6:.0f} MP): {wall:6.1f} s, peak {peak:.2f} GiB", flush=True)
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2) + "\n")


if __name__ == "__main__":
    main()
