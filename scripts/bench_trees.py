"""Time the same engine calls in two source trees side by side (interleaved, medians): did a change cost speed?

    git worktree add /tmp/old <commit>
    python scripts/bench_trees.py /tmp/old . --rounds 3

Each round runs every tree once in a fresh process (2 threads): fast (great_wave, through torch) and adain at
512 px on the built-in samples, and 4 gatys iterations at 256 px. Prints per-tree medians over the
rounds and the new/old ratios.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

PROBE = r"""
import json, statistics, time, torch
torch.set_num_threads(2)
import nst_toolkit
from nst_toolkit.images import load_image
from nst_toolkit.engines.fast import FastConfig
from nst_toolkit.engines.fast.engine import FastEngine
from nst_toolkit.engines.adain import AdaINConfig
from nst_toolkit.engines.adain.engine import AdaINEngine
from nst_toolkit.engines.gatys import GatysConfig
from nst_toolkit.engines.gatys.engine import GatysEngine
root = nst_toolkit.__file__.rsplit("/nst_toolkit/", 1)[0] + "/nst_toolkit/samples/"
c, s = load_image(root + "machu_picchu.jpg", 512), load_image(root + "great_wave.jpg", 512)
c256 = load_image(root + "machu_picchu.jpg", 256)
fe, ae = FastEngine(FastConfig(model="great_wave")), AdaINEngine(AdaINConfig())
ge = GatysEngine(GatysConfig(size=256, iterations=4))
def t(fn, n):
    fn()
    out = []
    for _ in range(n):
        t0 = time.perf_counter(); fn(); out.append(time.perf_counter() - t0)
    return statistics.median(out)
with torch.inference_mode():
    r = {"fast_512_s": t(lambda: fe.stylize(c), 5), "adain_512_s": t(lambda: ae.stylize(c, s), 3)}
r["gatys_256_4_iterations_s"] = t(lambda: ge.stylize(c256, s), 2)
print(json.dumps({"file": nst_toolkit.__file__, **r}))
"""


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("old", type=Path)
    ap.add_argument("new", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    a = ap.parse_args()
    runs: dict[str, list[dict]] = {"old": [], "new": []}
    for _ in range(a.rounds):
        for name, tree in (("old", a.old), ("new", a.new)):
            env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
            out = subprocess.run([sys.executable, "-c", PROBE], env=env, cwd=tree, capture_output=True, text=True, check=True)
            row = json.loads(out.stdout.strip().splitlines()[-1])
            assert row.pop("file").startswith(str(tree.resolve())), "the probe imported the wrong tree"
            runs[name].append(row)
    for key in runs["old"][0]:
        old = statistics.median(r[key] for r in runs["old"])
        new = statistics.median(r[key] for r in runs["new"])
        print(f"{key:28} old {old:.3f}  new {new:.3f}  new/old {new / old:.2f}")


if __name__ == "__main__":
    main()
