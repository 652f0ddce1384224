"""Where the light AdaIN model's block pattern on flat areas comes from: crops of one flat region, side by side.

    python scripts/adain_artifacts.py PHOTO PAINTING -o docs/adain_artifacts.jpg [--box 0,0,150,90] [--judge J --pairs PHOTOS PAINTINGS]

Panels: the light model as shipped; the same without its style skip branches (the pattern stays: it is not the
full-resolution statistics); its decoder with bilinear instead of nearest-neighbour upsampling (the pattern goes:
it is the 1/8-resolution path decoded through nearest upsampling); the VGG-19 model. With --judge, an independent
judge's style distance and LPIPS of the shipped decoder and the bilinear one on every photo × painting of the two
folders, and the mean luminance of each model's pictures against the paintings'.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from PIL import Image, ImageDraw
from torch import nn

from nst_toolkit.engines.adain import AdaINConfig
from nst_toolkit.engines.adain.engine import AdaINEngine
from nst_toolkit.images import load_image, tensor_to_pil
from nst_toolkit.losses import adain
from nst_toolkit.tiling import run_padded


def bilinear(engine: AdaINEngine) -> AdaINEngine:
    for m in engine.light.decoder.net:
        if isinstance(m, nn.Upsample):
            m.mode, m.align_corners = "bilinear", False
    return engine


def without_style_skips(engine: AdaINEngine, x: torch.Tensor, s: torch.Tensor) -> torch.Tensor:
    m = engine.light
    stats = m.style_stats(s)

    def run(p: torch.Tensor) -> torch.Tensor:
        levels = m.encoder.levels(p)
        moved = [adain(c, mean, std) for c, (mean, std) in zip(levels, stats)]
        return m.decoder(moved[-1], None, [torch.zeros_like(t) for t in moved], 1.0)

    return run_padded(run, x, 8)


def luminance(y: torch.Tensor) -> float:
    return float((0.299 * y[:, 0] + 0.587 * y[:, 1] + 0.114 * y[:, 2]).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("photo", type=Path)
    ap.add_argument("painting", type=Path)
    ap.add_argument("-o", "--output", type=Path, required=True)
    ap.add_argument("--box", default="0,0,150,90", help="the crop, x0,y0,x1,y1 at 512 px")
    ap.add_argument("--zoom", type=int, default=2)
    ap.add_argument("--judge", type=Path, help="an independent judge.py, for the numbers")
    ap.add_argument("--pairs", type=Path, nargs=2, metavar=("PHOTOS", "PAINTINGS"))
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    x, s = load_image(a.photo, 512), load_image(a.painting, 512)
    light = AdaINEngine(AdaINConfig(model="light"))
    panels = {"light (shipped)": light.stylize(x, s), "without style skips": without_style_skips(light, x, s),
              "bilinear upsampling": bilinear(AdaINEngine(AdaINConfig(model="light"))).stylize(x, s),
              "vgg19": AdaINEngine(AdaINConfig(model="vgg19")).stylize(x, s)}
    box = tuple(int(v) for v in a.box.split(","))
    size = ((box[2] - box[0]) * a.zoom, (box[3] - box[1]) * a.zoom)
    sheet = Image.new("RGB", (len(panels) * (size[0] + 8) - 8, size[1] + 22), "white")
    draw = ImageDraw.Draw(sheet)
    for i, (name, y) in enumerate(panels.items()):
        sheet.paste(tensor_to_pil(y).crop(box).resize(size, Image.NEAREST), (i * (size[0] + 8), 22))
        draw.text((i * (size[0] + 8) + 4, 4), name, fill="black")
    sheet.save(a.output, quality=92)
    print(f"wrote {a.output}")
    if a.judge and a.pairs:
        sys.path.insert(0, str(a.judge.resolve().parent))
        from judge import Judge  # an independent network: for reports only, never in the product

        j = Judge()
        photos = sorted(p for p in a.pairs[0].iterdir() if p.suffix.lower() in (".jpg", ".png"))
        paintings = sorted(p for p in a.pairs[1].iterdir() if p.suffix.lower() in (".jpg", ".png"))
        models = {"light": light, "light, bilinear": bilinear(AdaINEngine(AdaINConfig(model="light"))),
                  "vgg19": AdaINEngine(AdaINConfig(model="vgg19"))}
        rows = {k: [] for k in models}
        paint_lum = []
        for st in paintings:
            s = load_image(st, 512)
            paint_lum.append(luminance(s))
            s256 = j.load(st, 256)
            for p in photos:
                c = load_image(p, 512)
                for k, eng in models.items():
                    y = eng.stylize(c, s)
                    small = F.interpolate(y, scale_factor=256 / max(y.shape[-2:]), mode="bicubic", antialias=True).clamp(0, 1)
                    rows[k].append((j.style_distance(small, s256), j.lpips(small, j.load(p, 256)), luminance(y)))
        for k, v in rows.items():
            print(f"{k:16} judge style {statistics.mean(r[0] for r in v):.4f}  LPIPS {statistics.mean(r[1] for r in v):.4f}"
                  f"  mean luminance {statistics.mean(r[2] for r in v):.3f}")
        print(f"{'paintings':16} mean luminance {statistics.mean(paint_lum):.3f}")


if __name__ == "__main__":
    main()
