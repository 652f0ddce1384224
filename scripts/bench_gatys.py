"""Benchmark the gatys engine against a bare VGG-19 forward+backward, and time the default CLI run.

    python scripts/bench_gatys.py                 # all sizes + 3 default CLI runs at 512 px
    python scripts/bench_gatys.py --sizes 256 --cli-runs 0

Each size runs in its own process so its peak memory (max RSS) is its own. Figures are medians.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def one_size(size: int, iters: int, reps: int) -> dict:
    import torch

    from nst_toolkit.engines.gatys import GatysConfig

    from nst_toolkit.engines.gatys.engine import GatysEngine
    from nst_toolkit.images import load_image

    samples = REPO / "nst_toolkit" / "samples"
    content = load_image(samples / "machu_picchu.jpg", size)
    style = load_image(samples / "great_wave.jpg")
    cfg = GatysConfig(size=size, iterations=iters)
    engine = GatysEngine(cfg)
    layers = cfg.vgg_layers()

    # Bare network: forward to the deepest layer and backward from all used layers, same image size.
    x = content.clone().requires_grad_(True)
    bare = []
    for i in range(reps + 1):
        t = time.perf_counter()
        feats = engine.vgg(x, layers)
        sum(f.sum() for f in feats.values()).backward()
        if i:  # first is warm-up
            bare.append(time.perf_counter() - t)
        x.grad = None

    stamps = []
    engine.stylize(content, style, on_step=lambda s: stamps.append(time.perf_counter()))
    per_iter = [b - a for a, b in zip(stamps, stamps[1:])][1:]  # drop the first (warm-up, style targets)
    return {
        "size": size,
        "shape": list(content.shape[-2:]),
        "bare_fwd_bwd_s": statistics.median(bare),
        "engine_s_per_iter": statistics.median(per_iter),
        "overhead_pct": 100 * (statistics.median(per_iter) / statistics.median(bare) - 1),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "torch_threads": torch.get_num_threads(),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="256,512,1024")
    ap.add_argument("--iters", type=int, default=6, help="engine iterations per size (first two not timed)")
    ap.add_argument("--reps", type=int, default=3, help="bare forward+backward repetitions")
    ap.add_argument("--cli-runs", type=int, default=3, help="default `nst gatys` runs at 512 px")
    ap.add_argument("--one", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path, help="also write the results here")
    a = ap.parse_args()
    if a.one:
        print(json.dumps(one_size(a.one, a.iters, a.reps)))
        return
    rows = []
    for s in [int(v) for v in a.sizes.split(",") if v]:
        out = subprocess.run([sys.executable, __file__, "--one", str(s), "--iters", str(a.iters), "--reps", str(a.reps)],
                             capture_output=True, text=True, check=True)
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
        r = rows[-1]
        print(f"{s:5d} px {r['shape'][1]}×{r['shape'][0]}: bare VGG fwd+bwd {r['bare_fwd_bwd_s']:.2f} s, "
              f"engine {r['engine_s_per_iter']:.2f} s/it ({r['overhead_pct']:+.1f} %), peak RSS {r['peak_rss_mib']:.0f} MiB",
              flush=True)
    walls = []
    for i in range(a.cli_runs):
        out_png = Path("/tmp") / f"bench_gatys_{i}.png"
        t = time.perf_counter()
        subprocess.run(["nst", "gatys", str(REPO / "nst_toolkit/samples/machu_picchu.jpg"),
                        str(REPO / "nst_toolkit/samples/great_wave.jpg"), "-o", str(out_png), "--quiet", "--no-manifest"],
                       check=True)
        walls.append(time.perf_counter() - t)
        print(f"default nst gatys at 512 px, run {i + 1}: {walls[-1]:.1f} s", flush=True)
    result = {"sizes": rows, "cli_wall_s": walls, "cli_wall_median_s": statistics.median(walls) if walls else None}
    if walls:
        print(f"default nst gatys at 512 px: median {result['cli_wall_median_s']:.1f} s over {len(walls)} runs")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
