"""Benchmark `nst train-fast` recipes: style and content distance against training wall time.

    python scripts/bench_train_fast.py --paintings ../shared/data/style/renoir_girls_at_the_piano.jpg \
        --photos .data/heldout --minutes 20 --recipes default,paper --threads 1 --out bench/train_fast \
        --judge ../shared/tools/judge.py

Each recipe trains with the real command (`nst train-fast`, built-in photos unless --data) under
OMP_NUM_THREADS=--threads, all recipes of a painting side by side at the same time (so they share
the machine alike; --sequential runs them one after another). Every checkpoint the run writes is
copied with its wall time; afterwards each snapshot renders the held-out photos at --size px and
is scored by `nst eval` (style and content distance, medians) and, with --judge, by an independent
judge (style log10, LPIPS to the photo). `nst adain` with the same painting is the reference row.
Writes OUT/table.md, OUT/results.json, OUT/plot.png (style against content distance, one line
per recipe and painting, labelled with minutes) and OUT/gallery.jpg (per painting: the painting,
then adain and each recipe's final model on the first --gallery photos). `--tiny` runs a few steps at 32 px: a smoke test.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
# What each recipe adds to `nst train-fast --style P`; "default" is the command as a user types it.
GRAM = ["--loss", "gram", "--lr", "1e-3", "--style-weight", "10", "--tv-weight", "5"]  # Johnson et al.'s loss, as weighted here
RECIPES = {
    "default": [],
    # the style-bank recipe: the style bank (Dumoulin et al.) fine-tuned with Johnson's loss; the bank is not shipped
    # (train/fast_base_cpu.sh rebuilds it)
    "bank": ["--base", "bank", "--train-params", "all", *GRAM],
    "paper": ["--base", "none", "--train-params", "all", "--size", "256", "--batch-size", "4", "--steps", "40000",
              "--photo-size", "0", *GRAM],
}


def train(recipes: list[str], painting: Path, work: Path, minutes: float, threads: int, every: int,
          data: str | None, extra: list[str], sequential: bool) -> dict[str, list[dict]]:
    """Run the recipes on one painting; return each recipe's snapshots [{step, seconds, file}]."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    runs = {}
    for r in recipes:
        out = work / r / f"{painting.stem}.safetensors"
        out.parent.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "nst_toolkit", "train-fast", "--style", str(painting), "-o", str(out),
               "--checkpoint-every", str(every), "--max-minutes", str(minutes), "--quiet", "--device", "cpu",
               *RECIPES[r], *extra]
        if data:
            cmd += ["--data", data]
        runs[r] = {"cmd": cmd, "out": out, "snaps": [], "seen": 0.0}
    pending = list(recipes)
    while pending:
        batch = pending[:1] if sequential else pending
        pending = pending[len(batch):]
        procs = {}
        for r in batch:
            runs[r]["t0"] = time.perf_counter()
            procs[r] = subprocess.Popen(runs[r]["cmd"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        while procs:
            time.sleep(0.5)
            for r in list(procs):
                _snapshot(runs[r], work / r)
                if procs[r].poll() is not None:
                    err = procs[r].stderr.read()
                    if procs[r].returncode != 0:
                        raise SystemExit(f"failed: {' '.join(runs[r]['cmd'])}\n{err[-2000:]}")
                    _snapshot(runs[r], work / r)
                    runs[r]["snaps"].append({"step": _step(runs[r]["out"]), "seconds": time.perf_counter() - runs[r]["t0"],
                                             "file": str(runs[r]["out"]), "final": True})
                    del procs[r]
    return {r: runs[r]["snaps"] for r in recipes}


def _step(path: Path) -> int:
    from nst_toolkit.checkpoints import read_metadata

    return int(read_metadata(path)["step"])


def _snapshot(run: dict, folder: Path) -> None:
    """Copy the run's checkpoint when it changed, with the seconds since the command started."""
    ck = run["out"].with_name(f"{run['out'].stem}.run") / "checkpoint.safetensors"
    try:
        mtime = ck.stat().st_mtime
    except FileNotFoundError:
        return
    if mtime == run["seen"]:
        return
    time.sleep(0.2)  # the file is replaced atomically; let the writer finish its rename
    seconds = time.perf_counter() - run["t0"]
    step = _step(ck)
    if run["snaps"] and run["snaps"][-1]["step"] == step:
        run["seen"] = mtime
        return
    dst = folder / f"{run['out'].stem}_step{step:06d}.safetensors"
    shutil.copy(ck, dst)
    run["seen"] = mtime
    run["snaps"].append({"step": step, "seconds": seconds, "file": str(dst)})


@functools.cache
def evaluator():
    from nst_toolkit.evaluate import Evaluator

    return Evaluator()


def score(images, photos, style_path: Path, size: int, judge) -> dict[str, float]:
    """Median nst eval (and judge) numbers of stylised ``images`` of ``photos``."""
    import torch.nn.functional as F

    from nst_toolkit.images import load_image

    s = load_image(style_path, size)
    s_small = judge.load(style_path, 256) if judge is not None else None
    rows = []
    for img, p in zip(images, photos):
        c = load_image(p, size)
        m = evaluator()(img, c, s)
        row = {"style_distance": m["style_distance"], "content_distance": m["content_distance"]}
        if judge is not None:
            small = F.interpolate(img, scale_factor=256 / max(img.shape[-2:]), mode="bicubic", antialias=True).clamp(0, 1)
            row["judge_style_log10"] = judge.style_distance(small, s_small)
            row["judge_lpips"] = judge.lpips(small, judge.load(p, 256))
        rows.append(row)
    return {k: statistics.median(r[k] for r in rows) for k in rows[0]}


def render_fast(model_file: str, photos, size: int):
    import torch

    from nst_toolkit.engines.fast import FastConfig

    from nst_toolkit.engines.fast.engine import FastEngine
    from nst_toolkit.images import load_image

    engine = FastEngine(FastConfig(model=model_file))
    with torch.inference_mode():
        return [engine.stylize(load_image(p, size)) for p in photos]


def render_adain(painting: Path, photos, size: int):
    import torch

    from nst_toolkit.engines.adain import AdaINConfig
    from nst_toolkit.engines.adain.engine import AdaINEngine
    from nst_toolkit.images import load_image

    eng = AdaINEngine(AdaINConfig(size=size, style_size=size))
    s = load_image(painting, size)
    with torch.inference_mode():
        return [eng.stylize(load_image(p, size), s) for p in photos]


def plot(results: dict, path: Path) -> None:
    """Style distance (y) against content distance (x): one polyline per recipe and painting, adain as a star."""
    from PIL import Image, ImageDraw

    W, H, M = 900, 600, 70
    pts = [(r["content_distance"], r["style_distance"]) for p in results.values() for rows in p.values() for r in rows]
    if not pts:
        return
    x0, x1 = min(x for x, _ in pts), max(x for x, _ in pts)
    y0, y1 = min(y for _, y in pts), max(y for _, y in pts)
    x1, y1 = x1 + (x1 - x0) * 0.05 + 1e-9, y1 + (y1 - y0) * 0.05 + 1e-9
    X = lambda v: M + (v - x0) / (x1 - x0) * (W - 2 * M)
    Y = lambda v: H - M - (v - y0) / (y1 - y0) * (H - 2 * M)
    img = Image.new("RGB", (W, H), "white")
    d = ImageDraw.Draw(img)
    d.rectangle([M, M, W - M, H - M], outline="black")
    d.text((W // 2 - 120, H - M + 30), "content distance (nst eval, lower = closer to the photo)", fill="black")
    d.text((8, M - 30), "style distance (nst eval, lower = closer to the painting)", fill="black")
    for i in range(5):
        xv, yv = x0 + (x1 - x0) * i / 4, y0 + (y1 - y0) * i / 4
        d.text((X(xv) - 15, H - M + 8), f"{xv:.3f}", fill="black")
        d.text((8, Y(yv) - 6), f"{yv:.3f}", fill="black")
    colours = {"default": (200, 40, 40), "bank": (200, 140, 20), "paper": (40, 80, 200), "adain": (20, 140, 20)}
    for recipes in results.values():  # merged runs bring recipes of their own
        for r in recipes:
            colours.setdefault(r, (120 + 40 * (len(colours) % 3), 60 * (len(colours) % 4), 160))
    for painting, recipes in results.items():
        for recipe, rows in recipes.items():
            col = colours.get(recipe, (120, 120, 120))
            xy = [(X(r["content_distance"]), Y(r["style_distance"])) for r in rows]
            if recipe == "adain":
                for x, y in xy:
                    d.regular_polygon((x, y, 7), 5, fill=col)
                continue
            if len(xy) > 1:
                d.line(xy, fill=col, width=2)
            for (x, y), r in zip(xy, rows):
                d.ellipse([x - 3, y - 3, x + 3, y + 3], fill=col)
                d.text((x + 5, y - 12), f"{r['seconds'] / 60:.1f}m", fill=col)
            d.text(xy[-1], f"  {painting[:14]}", fill=col)
    for i, (name, col) in enumerate(colours.items()):
        d.text((W - M - 150, M + 10 + 14 * i), f"-- {name}", fill=col)
    img.save(path)


def gallery(rows: list, path: Path, height: int = 180) -> None:
    """One row per painting: labelled thumbnails of the painting and the outputs."""
    from PIL import Image, ImageDraw

    from nst_toolkit.images import tensor_to_pil as to_pil

    thumbs = [[(label, (lambda im: im.resize((max(1, round(im.width * height / im.height)), height)))(to_pil(x)))
               for label, x in row] for row in rows]
    width = max(sum(t.width for _, t in row) + 4 * len(row) for row in thumbs)
    sheet = Image.new("RGB", (width, (height + 16) * len(thumbs)), "white")
    d = ImageDraw.Draw(sheet)
    for i, row in enumerate(thumbs):
        x, y = 0, i * (height + 16)
        for label, t in row:
            sheet.paste(t, (x, y + 16))
            d.text((x + 2, y + 2), label[:40], fill="black")
            x += t.width + 4
    sheet.save(path, quality=88)


def report(results: dict, out: Path, judged: bool) -> list[str]:
    """Write OUT/table.md and OUT/plot.png from ``results`` ({painting: {recipe: rows}}); return the table."""
    head = "| painting | recipe | minutes | steps | style distance | content distance |"
    sep = "|---|---|---:|---:|---:|---:|"
    if judged:
        head += " judge style (log10) | judge LPIPS |"
        sep += "---:|---:|"
    lines = [head, sep]
    for painting, recipes_rows in results.items():
        for r, rows in recipes_rows.items():
            for row in rows:
                line = (f"| {painting} | {r} | {row['seconds'] / 60:.1f} | {row['step']} | {row['style_distance']:.4f} "
                        f"| {row['content_distance']:.4f} |")
                if judged:
                    line += f" {row['judge_style_log10']:.3f} | {row['judge_lpips']:.3f} |"
                lines.append(line)
    (out / "table.md").write_text("\n".join(lines) + "\n")
    plot(results, out / "plot.png")
    return lines


def merge(specs: list[str], out: Path) -> None:
    """--merge: one table and plot from earlier runs' OUT/results.json; DIR:LABEL renames its recipes LABEL-recipe."""
    results: dict = {}
    for spec in specs:
        folder, _, label = spec.partition(":")
        for painting, recipes in json.loads((Path(folder) / "results.json").read_text())["results"].items():
            for r, rows in recipes.items():
                results.setdefault(painting, {})[f"{label}-{r}" if label and r != "adain" else r] = rows
    judged = all("judge_lpips" in row for p in results.values() for rows in p.values() for row in rows)
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({"merged": specs, "results": results}, indent=1) + "\n")
    print("\n".join(report(results, out, judged)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paintings", help="comma-separated painting files")
    ap.add_argument("--merge", default="", help="comma-separated earlier OUT folders (DIR or DIR:LABEL): "
                    "write one table and plot of their results into --out, no training")
    ap.add_argument("--photos", type=Path, help="folder of held-out photos (required unless --merge)")
    ap.add_argument("--count", type=int, default=7, help="at most this many photos")
    ap.add_argument("--recipes", default="default,paper")
    ap.add_argument("--minutes", type=float, default=20.0, help="wall-time budget of each training")
    ap.add_argument("--threads", type=int, default=1, help="threads per training (recipes run side by side)")
    ap.add_argument("--sequential", action="store_true", help="one training at a time")
    ap.add_argument("--every", type=int, default=150, help="checkpoint (and score) every N steps")
    ap.add_argument("--size", type=int, default=512, help="longest side of the rendered photos")
    ap.add_argument("--data", default=None, help="training photos (default: the built-in ones)")
    ap.add_argument("--judge", type=Path, default=None, help="path of an independent judge.py (optional)")
    ap.add_argument("--gallery", type=int, default=3, help="photos per painting in OUT/gallery.jpg (0: none)")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "train_fast")
    ap.add_argument("--tiny", action="store_true", help="a few steps at 32 px, two photos: a smoke test")
    a = ap.parse_args()
    if a.merge:
        return merge(a.merge.split(","), a.out)
    if not a.paintings or not a.photos:
        raise SystemExit("give --paintings and --photos (or --merge)")
    extra = []
    if a.tiny:
        a.size, a.count, a.every = 64, 2, 2
        extra = ["--steps", "4", "--size", "32", "--batch-size", "1", "--style-size", "64"]
    recipes = a.recipes.split(",")
    unknown = [r for r in recipes if r not in RECIPES]
    if unknown:
        raise SystemExit(f"unknown recipe(s) {', '.join(unknown)}; known: {', '.join(RECIPES)}")
    photos = sorted(p for p in a.photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[: a.count]
    if not photos:
        raise SystemExit(f"no photos in {a.photos}")
    judge = None
    if a.judge:
        sys.path.insert(0, str(a.judge.resolve().parent))
        import torch

        from judge import Judge  # an independent network: for reports only, never in the product

        judge = Judge()
        torch.set_grad_enabled(True)  # the judge switches gradients off globally; training runs in subprocesses anyway
    a.out.mkdir(parents=True, exist_ok=True)
    results: dict = {}
    cells: list = []
    for painting in map(Path, a.paintings.split(",")):
        snaps = train(recipes, painting, a.out / "runs", a.minutes, a.threads, a.every, a.data, extra, a.sequential)
        rows, final = {}, {}
        for r, ss in snaps.items():
            rows[r] = []
            for s in ss:
                if s.get("final") and rows[r] and rows[r][-1]["step"] == s["step"]:
                    rows[r][-1]["seconds"] = s["seconds"]  # same weights as the last checkpoint: keep the later time
                    continue
                final[r] = render_fast(s["file"], photos, a.size)
                rows[r].append({"step": s["step"], "seconds": s["seconds"], **score(final[r], photos, painting, a.size, judge)})
        adain = render_adain(painting, photos, a.size)
        rows["adain"] = [{"step": 0, "seconds": 0.0, **score(adain, photos, painting, a.size, judge)}]
        results[painting.stem] = rows
        if a.gallery:
            from nst_toolkit.images import load_image

            shown = photos[: a.gallery]
            cells.append([(painting.stem, load_image(painting, a.size))]
                         + [(f"adain {p.stem}", x) for p, x in zip(shown, adain)]
                         + [(f"{r} {p.stem}", x) for r in snaps for p, x in zip(shown, final[r])])
    (a.out / "results.json").write_text(json.dumps({"photos": [p.name for p in photos], "threads": a.threads,
                                                    "minutes": a.minutes, "results": results}, indent=1) + "\n")
    lines = report(results, a.out, judge is not None)
    if cells:
        gallery(cells, a.out / "gallery.jpg")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
