"""Judge trained fast models against `nst adain` with the same painting, on held-out photos.

    python scripts/bench_fast_models.py --paintings .data/style --photos .data/heldout \
        --judge ../shared/tools/judge.py --out bench/fast_models

Each model (default: every shipped and local fast model) is matched to its painting in --paintings
by the style sha256 in its metadata; models whose painting is not there are listed as skipped. The
photos are rendered at --size px by the model and by `nst adain` (its default model) with
the painting, and scored like scripts/bench_train_fast.py: `nst eval`'s style and content distance
(medians) and, with --judge, an independent judge's style log10 and LPIPS to the photo. Writes
OUT/table.md and OUT/results.json; with --gallery N also OUT/gallery.jpg, one row per model: its painting,
then adain and the model on each of the first N photos.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_train_fast import gallery, render_adain, render_fast, score  # noqa: E402  (the same rendering and scores)

from nst_toolkit.engines.adain import AdaINConfig  # noqa: E402

ADAIN_MODEL = AdaINConfig().model  # what `nst adain` uses when no --model is given


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--paintings", type=Path, required=True, help="folder of the paintings the models were trained on")
    ap.add_argument("--photos", type=Path, required=True, help="folder of held-out photos")
    ap.add_argument("--models", default="", help="comma-separated model names or files (default: all fast models)")
    ap.add_argument("--count", type=int, default=7, help="at most this many photos")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--judge", type=Path, default=None, help="path of an independent judge.py (optional)")
    ap.add_argument("--out", type=Path, default=Path("bench/fast_models"))
    ap.add_argument("--gallery", type=int, default=0, help="photos per model in OUT/gallery.jpg (0: no gallery)")
    a = ap.parse_args()

    import torch

    from nst_toolkit.checkpoints import model_files, read_metadata
    from nst_toolkit.engines.fast.engine import resolve_model
    from nst_toolkit.io import sha256_file

    judge = None
    if a.judge:
        sys.path.insert(0, str(a.judge.resolve().parent))
        from judge import Judge  # an independent network: for reports only, never in the product

        judge = Judge()
    torch.set_grad_enabled(False)
    models = [resolve_model(m) for m in a.models.split(",")] if a.models else [p for _, p in model_files("fast")]
    by_sha = {sha256_file(p): p for p in sorted(a.paintings.iterdir()) if p.suffix.lower() in (".jpg", ".jpeg", ".png")}
    photos = sorted(p for p in a.photos.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))[: a.count]
    rows, adain_rows, adain_images, cells = [], {}, {}, []
    for m in models:
        meta = read_metadata(m)
        painting = by_sha.get(meta.get("style_sha256", ""))
        if painting is None:
            print(f"skipped {m.stem}: its painting is not in {a.paintings}", file=sys.stderr)
            continue
        arch = meta["architecture"]["arch"]
        ours = render_fast(str(m), photos, a.size)
        rows.append({"model": m.stem, "painting": painting.stem, "arch": arch, "step": meta.get("step"),
                     **score(ours, photos, painting, a.size, judge)})
        if painting.stem not in adain_rows:  # adain renders and scores each painting once
            adain_images[painting.stem] = render_adain(painting, photos, a.size)
            adain_rows[painting.stem] = {"model": f"adain ({ADAIN_MODEL})", "painting": painting.stem, "arch": "adain", "step": None,
                                         **score(adain_images[painting.stem], photos, painting, a.size, judge)}
        theirs = adain_images[painting.stem]
        if a.gallery:
            from nst_toolkit.images import load_image

            cells.append([(painting.stem, load_image(painting, a.size))]
                         + [c for o, t in list(zip(ours, theirs))[: a.gallery] for c in (("adain", t), (m.stem, o))])
        print(json.dumps(rows[-1]), file=sys.stderr)
    a.out.mkdir(parents=True, exist_ok=True)
    (a.out / "results.json").write_text(json.dumps({"photos": [p.name for p in photos], "size": a.size,
                                                    "models": rows, "adain": list(adain_rows.values())}, indent=1) + "\n")
    head = "| painting | model | architecture | steps | style distance | content distance |"
    sep = "|---|---|---|---:|---:|---:|"
    if judge is not None:
        head += " judge style (log10) | judge LPIPS |"
        sep += "---:|---:|"
    lines = [head, sep]
    for painting, ref in adain_rows.items():
        for r in [r for r in rows if r["painting"] == painting] + [ref]:
            line = (f"| {painting} | {r['model']} | {r['arch']} | {r['step'] if r['step'] is not None else '—'} "
                    f"| {r['style_distance']:.4f} | {r['content_distance']:.4f} |")
            if judge is not None:
                line += f" {r['judge_style_log10']:.3f} | {r['judge_lpips']:.3f} |"
            lines.append(line)
    (a.out / "table.md").write_text("\n".join(lines) + "\n")
    if cells:
        gallery(cells, a.out / "gallery.jpg")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
