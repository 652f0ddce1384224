"""Where `nst video`'s time goes: wall and CPU milliseconds a frame for each stage, one frame at a time.

    python scripts/profile_video.py CLIP.mp4 --size 640            # the default fast model, default filters
    python scripts/profile_video.py CLIP.mp4 --stabilize 0 --denoise 0 --cprofile 20

The stages run one after the other (the command itself decodes in a thread beside the network and sends
several frames through the network at once), so each stage's time is its own: start-up (imports, the model's
twin opened), decode (and resize), denoise (the input filter, with the camera's motion found for the frame),
model (the network's pass), stabilise (the output blend) and encode (to uint8, H.264; the end of the clip
included). CPU time is the process's, all threads. --cprofile N adds the N functions with the most time of
their own.
"""

from __future__ import annotations

import argparse
import collections
import cProfile
import pstats
import sys
import tempfile
import time
from pathlib import Path

T0, C0 = time.perf_counter(), time.process_time()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("clip", type=Path)
    ap.add_argument("--size", type=int, default=None, help="longest side of the frames (default: the clip's)")
    ap.add_argument("--model", default=None, help="fast model (default: the command's)")
    ap.add_argument("--stabilize", type=float, default=0.9)
    ap.add_argument("--denoise", type=float, default=0.5)
    ap.add_argument("--cprofile", type=int, default=0)
    a = ap.parse_args()

    from nst_toolkit import api, engines
    from nst_toolkit.stabilize import Stabilizer
    from nst_toolkit.video import ClipWriter, keep_freed_frames, open_clip

    keep_freed_frames()
    info, _ = open_clip(a.clip)
    size = a.size or max(info.width, info.height)
    cfg = api.configure("fast", {"size": size, **({"model": a.model} if a.model else {})})
    run = engines.get("fast").torch_free_frames(cfg, [], (info.width, info.height), 1)
    if run is None:
        raise SystemExit(f"{cfg.model} has no ONNX twin: this profiles the torch-free path only")
    wall, cpu = collections.defaultdict(float), collections.defaultdict(float)
    wall["start-up"], cpu["start-up"] = time.perf_counter() - T0, time.process_time() - C0
    stab = Stabilizer(a.stabilize, a.denoise)
    profile = cProfile.Profile() if a.cprofile else None
    clock = [time.perf_counter(), time.process_time()]

    def lap(stage: str) -> None:
        t, c = time.perf_counter(), time.process_time()
        wall[stage] += t - clock[0]
        cpu[stage] += c - clock[1]
        clock[:] = t, c

    n = 0
    with tempfile.TemporaryDirectory() as tmp:
        if profile:
            profile.enable()
        clock[:] = time.perf_counter(), time.process_time()
        with ClipWriter(Path(tmp) / "out.mp4", info.fps) as writer:
            for x in open_clip(a.clip, None, size)[1]:
                lap("decode")
                p = stab.prepare(x)
                lap("denoise")
                y = run(p)
                lap("model")
                out = stab(x, y)
                lap("stabilise")
                writer.write(out)
                lap("encode")
                n += 1
        lap("encode")
        if profile:
            profile.disable()
    print(f"{a.clip.name}: {n} frames at {size} px, {cfg.model}, stabilize {a.stabilize}, denoise {a.denoise}")
    print(f"{'stage':10} {'wall ms':>9} {'CPU ms':>9}  (start-up: once; the rest: a frame)")
    for stage in wall:
        per = 1 if stage == "start-up" else max(n, 1)
        print(f"{stage:10} {1000 * wall[stage] / per:9.1f} {1000 * cpu[stage] / per:9.1f}")
    total = sum(wall.values())
    print(f"{'in all':10} {total:8.2f}s  {n / total:.2f} frames/s one frame at a time")
    if profile:
        pstats.Stats(profile, stream=sys.stdout).sort_stats("tottime").print_stats(a.cprofile)


if __name__ == "__main__":
    main()
