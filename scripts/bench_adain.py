"""Benchmark the AdaIN engine at 512 px: the full stylisation, and with the style's features cached.

    python scripts/bench_adain.py [--runs 5]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import torch

from nst_toolkit.engines.adain import AdaINConfig, AdaINEngine
from nst_toolkit.images import load_image

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    samples = REPO / "nst_toolkit" / "samples"
    content = load_image(samples / "machu_picchu.jpg", 512)
    style = load_image(samples / "great_wave.jpg", 512)
    engine = AdaINEngine(AdaINConfig())
    full, cached = [], []
    stats = engine.style_stats(style)
    with torch.inference_mode():
        for i in range(a.runs + 1):
            t = time.perf_counter()
            engine.stylize(content, style)
            t1 = time.perf_counter()
            engine.stylize_with_stats(content, [stats])
            t2 = time.perf_counter()
            if i:
                full.append(t1 - t)
                cached.append(t2 - t1)
    shape = f"{content.shape[-1]}×{content.shape[-2]} content, {style.shape[-1]}×{style.shape[-2]} style"
    print(f"adain at 512 px ({shape}): {statistics.median(full):.3f} s median of {a.runs}; "
          f"style features cached: {statistics.median(cached):.3f} s")
    if a.json:
        a.json.write_text(json.dumps({"full_s": statistics.median(full), "cached_s": statistics.median(cached),
                                      "runs": a.runs, "shape": shape}, indent=2))


if __name__ == "__main__":
    main()
