"""Make the README's gallery of the shipped models on held-out photos and paintings.

    python scripts/gallery.py --data ../shared/data -o docs/

Photos `gc_wonders_*` and the paintings named below were held out of all training
(train/prepare_data.sh). Writes docs/fast_gallery.jpg and docs/adain_gallery.jpg (`--only fast|adain`: one
of them), and prints how closely each distilled `_w12` model follows its width-32 teacher (PSNR of their
outputs). The adain gallery sets the light model beside the VGG-19 one for each painting, and ends with the
light model at alpha 0 (the photo given back).
"""

from __future__ import annotations

import argparse
import math
import statistics
from pathlib import Path

import torch

from nst_toolkit.engines.adain import AdaINConfig
from nst_toolkit.engines.adain.engine import AdaINEngine
from nst_toolkit.checkpoints import model_files, read_metadata
from nst_toolkit.engines.fast import FastConfig
from nst_toolkit.engines.fast.engine import FastEngine
from nst_toolkit.io import sha256_file
from nst_toolkit.images import load_image, make_grid
from nst_toolkit.imagefiles import save_pil

PHOTOS = ("gc_wonders_colosseum.jpg", "gc_wonders_tajMahal.jpg", "gc_wonders_petra.jpg", "gc_wonders_machuPicchu.jpg")
PAINTINGS = ("hokusai_the_great_wave_off_kanagawa.jpg", "vangogh_gogh4.jpg", "cassatt_summertime.jpg")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", type=Path, default=Path("../shared/data"))
    ap.add_argument("-o", "--out", type=Path, default=Path("docs"))
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--only", choices=("fast", "adain"))
    a = ap.parse_args()
    photos = [load_image(a.data / "content" / p, a.size) for p in PHOTOS]
    paintings = [load_image(a.data / "style" / p, a.size) for p in PAINTINGS]
    a.out.mkdir(parents=True, exist_ok=True)
    shipped = {p.stem: p for where, p in model_files("fast") if where == "shipped"}
    with torch.inference_mode():
        if a.only != "adain":
            fast_gallery(a, photos, shipped)
        if a.only != "fast":
            adain_gallery(a, photos, paintings)


def fast_gallery(a: argparse.Namespace, photos: list, shipped: dict) -> None:
    models = sorted(shipped)
    # a distilled model is compared with its teacher only while the teacher file is the one it learnt from
    teachers = {m: m.removesuffix("_w12") for m in models if m.endswith("_w12") and m.removesuffix("_w12") in shipped
                and read_metadata(shipped[m]).get("distilled_from", {}).get("sha256") == sha256_file(shipped[m.removesuffix("_w12")])}
    engines = {m: FastEngine(FastConfig(model=m)) for m in models}  # loaded once, not once per photo
    cells, labels, fidelity = [], [], {}
    for photo, name in zip(photos, PHOTOS):
        cells.append(photo)
        labels.append(name.removeprefix("gc_wonders_").removesuffix(".jpg"))
        outs = {}
        for m in models:
            outs[m] = engines[m].stylize(photo)
            cells.append(outs[m])
            labels.append(f"fast: {m}")
        for m, t in teachers.items():  # how closely each distilled model follows its teacher
            mse = float((outs[m] - outs[t]).square().mean())
            fidelity.setdefault(m, []).append(10 * math.log10(1 / mse))
    save_pil(make_grid(cells, labels, ncols=1 + len(models), cell=300), a.out / "fast_gallery.jpg")
    for m, psnr in fidelity.items():
        print(f"{m} vs {m.removesuffix('_w12')}: PSNR " + ", ".join(f"{v:.1f}" for v in psnr) +
              f" dB (median {statistics.median(psnr):.1f} dB) on the {len(psnr)} held-out photos at {a.size} px")
    print(f"wrote {a.out / 'fast_gallery.jpg'}")


def adain_gallery(a: argparse.Namespace, photos: list, paintings: list) -> None:
    vgg, light = AdaINEngine(AdaINConfig(model="vgg19")), AdaINEngine(AdaINConfig(model="light"))
    light0 = AdaINEngine(AdaINConfig(model="light", alpha=0.0), decoder=light.light)
    blank = torch.ones(1, 3, 8, 8)
    cells, labels = [blank], [""]
    for p, name in zip(paintings, PAINTINGS):
        cells += [p, p]
        labels += [name.removesuffix(".jpg"), ""]  # one label a pair: long names would run into the next cell
    cells.append(blank)
    labels.append("")
    for photo, name in zip(photos, PHOTOS):
        cells.append(photo)
        labels.append(name.removeprefix("gc_wonders_").removesuffix(".jpg"))
        for s in paintings:
            cells += [vgg.stylize(photo, s), light.stylize(photo, s)]
            labels += ["adain (VGG-19)", "adain --model light"]
        cells.append(light0.stylize(photo, photo))
        labels.append("light, alpha 0")
    save_pil(make_grid(cells, labels, ncols=2 + 2 * len(PAINTINGS), cell=300), a.out / "adain_gallery.jpg")
    print(f"wrote {a.out / 'adain_gallery.jpg'}")


if __name__ == "__main__":
    main()
