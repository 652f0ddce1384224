"""Benchmark `nst video`: frames per second at 360p and 720p, flicker with and without stabilisation, peak memory,
and styletransfer-lite's `video` (built-in style --peer-style: its video command takes no style image) with
--smooth 0 and 0.5 on the same clips when its command is given.

    python scripts/bench_video.py --photos ../shared/data/content --pattern 'gc_wonders_*' \
        --style ../shared/data/style/vangogh_gogh4.jpg --peer /tmp/peervenv/bin/styletransfer-lite --json bench/video.json

Test clips are made from still photos (`video.synthetic_clip`): a pan (2 px per frame), a zoom
(1 % per frame) and a still shot, each with sensor-like noise (σ = 1.5/255), encoded to H.264 as a
camera would. Every tool runs as a user runs it (one command per clip, start-up included in the
wall time; frames per second = frames / wall). Flicker (`video.flicker`): mean absolute change
between consecutive output frames over that of the input frames, after moving and zooming the
previous frame by the known camera motion, so what is left is change the motion does not explain.
Peak memory: the command's maximum resident set size.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
from measure import measured

REPO = Path(__file__).resolve().parents[1]


def write_clip(frames: list[torch.Tensor], path: Path, fps: int = 12) -> None:
    import av

    h, w = frames[0].shape[-2:]
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = w, h, "yuv420p"
        s.options = {"crf": "18"}
        for f in frames:
            arr = (f[0].permute(1, 2, 0).clamp(0, 1) * 255 + 0.5).byte().numpy()
            for p in s.encode(av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")):
                out.mux(p)
        for p in s.encode():
            out.mux(p)


def read_clip(path: Path) -> list[torch.Tensor]:
    from nst_toolkit.video import open_clip

    return list(open_clip(path)[1])


def nst_video(clip: Path, out: Path, engine: str, style: Path, stabilize: float | None, size: int,
              denoise: float | None = None) -> list[str]:
    """The command; ``stabilize`` 0 switches every temporal filter off (independent frames); None
    leaves the command's defaults, as does ``denoise`` None."""
    cmd = [sys.executable, "-m", "nst_toolkit", "video", str(clip), "-o", str(out), "--engine", engine,
           "--quiet", "--device", "cpu"]
    if stabilize == 0:
        cmd += ["--stabilize", "0", "--denoise", "0"]
    else:
        cmd += ["--stabilize", str(stabilize)] if stabilize is not None else []
        cmd += ["--denoise", str(denoise)] if denoise is not None else []
    if engine == "fast":
        return cmd + ["--model", "great_wave_w12", "--size", str(size)]
    return cmd + ["--style", str(style), "--size", str(size), "--style-size", "512"]


def main() -> None:
    from nst_toolkit.images import load_image, resize_longest
    from nst_toolkit.stabilize import flicker, synthetic_clip

    ap = argparse.ArgumentParser()
    ap.add_argument("--photos", type=Path, default=REPO / "nst_toolkit" / "samples")
    ap.add_argument("--pattern", default="machu_picchu.jpg")
    ap.add_argument("--style", type=Path, default=REPO / "nst_toolkit" / "samples" / "great_wave.jpg")
    ap.add_argument("--engines", default="fast,adain")
    ap.add_argument("--frames", type=int, default=24)
    ap.add_argument("--peer", default=shutil.which("styletransfer-lite"))
    ap.add_argument("--peer-style", default="0", help="styletransfer-lite's built-in style (its video takes no image)")
    ap.add_argument("--sizes", default="360p,720p", help="clip sizes: 360p (pan, zoom, still) and/or 720p (pan)")
    ap.add_argument("--kinds", default="pan,zoom,still", help="which 360p clips to make")
    ap.add_argument("--stabilize", type=float, default=None, help="--stabilize of the stabilised runs (default: the command's)")
    ap.add_argument("--denoise", type=float, default=None, help="--denoise of the stabilised runs (default: the command's)")
    ap.add_argument("--tiny", action="store_true", help="a 64-px, 4-frame pan: a smoke test")
    ap.add_argument("--json", type=Path)
    ap.add_argument("--frames-image", type=Path, help="save the middle frame of every tool's 360p pan side by side")
    a = ap.parse_args()
    photo_path = sorted(a.photos.glob(a.pattern))[0]
    sizes = {k: v for k, v in {"360p": (360, 640), "720p": (720, 1280)}.items() if k in a.sizes.split(",")}
    if a.tiny:
        sizes, a.frames = {"tiny": (48, 64)}, 4
    result: dict = {"photo": photo_path.name, "style": a.style.name, "frames": a.frames, "clips": {}}
    middle: dict[str, torch.Tensor] = {}
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        for label, (h, w) in sizes.items():
            photo = resize_longest(load_image(photo_path), int(w * 1.4))
            if photo.shape[-2] < h:
                photo = torch.nn.functional.interpolate(photo, size=(h + 8, photo.shape[-1]), mode="bilinear")
            kinds = tuple(a.kinds.split(",")) if label == "360p" else ("pan",)
            for kind in kinds:
                frames, shifts = synthetic_clip(photo, kind, a.frames, (h, w))
                clip = tmp / f"{label}_{kind}.mp4"
                write_clip(frames, clip)
                frames = read_clip(clip)  # what the tools see: the encoded clip
                row = {}
                tools = [(f"nst {e}{' stabilised' if s != 0 else ''}", nst_video, e, s) for e in a.engines.split(",")
                         for s in ((0.0, a.stabilize) if label != "720p" else (a.stabilize,))]
                for name, make, engine, stab in tools:
                    out = tmp / f"{label}_{kind}_{engine}_{stab}.mp4"
                    wall, peak = measured(make(clip, out, engine, a.style, stab, max(h, w), a.denoise))
                    outs = read_clip(out)
                    row[name] = {"fps": len(outs) / wall, "wall_s": wall, "peak_rss_gib": peak,
                                 "flicker": flicker(frames, outs, shifts)}
                    if kind == "pan" and label != "720p":
                        middle[name] = outs[len(outs) // 2]
                if a.peer and label != "720p":  # its video command takes built-in styles only
                    for smooth in ("0", "0.5"):
                        out = tmp / f"{label}_{kind}_peer_{smooth}.mp4"
                        wall, peak = measured([a.peer, "video", str(clip), "-o", str(out), "-s", a.peer_style,
                                          "--smooth", smooth, "--max-size", str(max(h, w))])
                        outs = read_clip(out)
                        if kind == "pan" and label != "720p":
                            middle[f"styletransfer-lite --smooth {smooth}"] = outs[len(outs) // 2]
                        if outs[0].shape[-2:] == frames[0].shape[-2:]:
                            row[f"styletransfer-lite --smooth {smooth}"] = {
                                "fps": len(outs) / wall, "wall_s": wall, "peak_rss_gib": peak,
                                "flicker": flicker(frames, outs, shifts)}
                result["clips"][f"{label} {kind}"] = row
                for name, r in row.items():
                    print(f"{label:5} {kind:5} {name:34} {r['fps']:6.2f} fps  flicker {r['flicker']:.3f}  "
                          f"peak {r['peak_rss_gib']:.2f} GiB")
    if a.json:
        a.json.write_text(json.dumps(result, indent=2) + "\n")
    if a.frames_image and middle:
        from nst_toolkit.images import make_grid
        from nst_toolkit.imagefiles import save_pil

        save_pil(make_grid(list(middle.values()), list(middle), ncols=2, cell=480), a.frames_image)


if __name__ == "__main__":
    main()
