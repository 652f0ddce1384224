"""Run several engines on the same inputs with one shared VGG, optionally sweeping one option.

The CLI (`nst compare`, `nst demo`) owns the paths and printing; this module returns results and
renders the grid and the HTML page from them.
"""

from __future__ import annotations

import dataclasses
import html
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from torch import Tensor

from .engines import registry
from .errors import NSTError
from .evaluate import Evaluator
from .options import build_config, settable_fields
from .styles import StyleSet, StylesLike, as_style_set
from .layers import RELU_LAYERS
from .vgg import VGGFeatures


@dataclass
class Cell:
    """One method's result for one sweep value."""

    method: str
    settings: dict[str, Any] = field(default_factory=dict)
    image: Tensor | None = None
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    skipped: str | None = None  # why the method did not run (with the command that would fix it)
    reused: bool = False  # unaffected by the swept option: the first row's result, shown again


def parse_value(text: str) -> Any:
    """A typed-in value as it reads (for the summary); each engine converts it by its field's type."""
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_assignment(text: str) -> tuple[str, list[Any]]:
    """'style_weight=1e4,1e5' → ('style_weight', [10000.0, 100000.0]); dashes in the name become underscores."""
    if "=" not in text:
        raise NSTError(f"expected NAME=VALUE[,VALUE…], not '{text}'")
    name, values = text.split("=", 1)
    name = name.strip().replace("-", "_")
    vals = [parse_value(v) for v in values.split(",") if v.strip()]
    if not name or not vals:
        raise NSTError(f"expected NAME=VALUE[,VALUE…], not '{text}'")
    return name, vals


def parse_setting(text: str) -> tuple[str, Any]:
    """'NAME=VALUE' for --set: the whole value (a list field takes its commas: content_layers=relu3_1,relu4_2)."""
    name, vals = parse_assignment(text)
    value = text.split("=", 1)[1].strip()
    return name, (vals[0] if len(vals) == 1 else value)


def fields_of(method: str) -> set[str]:
    return {f.name for f in settable_fields(registry.get(method).config)}


def shared_vgg(weights: str = "bundled") -> VGGFeatures:
    """One VGG-19 truncated at relu5_4: it serves gatys, improved, the AdaIN encoder and the evaluator."""
    return VGGFeatures(RELU_LAYERS, weights)


def build_engine(method: str, settings: dict[str, Any], vgg: VGGFeatures, size: int, seed: int):
    """``method`` configured from its defaults, the common size and seed, and the settings it has."""
    spec = registry.get(method)
    names = fields_of(method)
    values = {k: v for k, v in (("size", size), ("seed", seed)) if k in names}
    values.update({k: v for k, v in settings.items() if k in names})
    return registry.build(method, build_config(spec.config, values), vgg)


def run_compare(
    content: Tensor,
    styles: StylesLike,
    style_path: Path | None = None,
    *,
    methods: Sequence[str] | None = None,
    size: int = 512,
    seed: int = 0,
    settings: dict[str, Any] | None = None,
    sweep: tuple[str, list[Any]] | None = None,
    vgg: VGGFeatures | None = None,
    on_start: Callable[[str, dict], None] | None = None,
    on_step: Callable | None = None,
) -> list[list[Cell]]:
    """Rows of cells (one row per sweep value, one cell per method), each evaluated against the inputs.

    ``style_path`` lets engines that need a model per style (fast) find one trained on that file.
    """
    methods = list(methods) if methods else registry.names()
    specs = {m: registry.get(m) for m in methods}
    styles = as_style_set(styles)
    settings = dict(settings or {})
    for name in settings:
        if not any(name in fields_of(m) for m in methods):
            raise NSTError(f"no chosen method has an option '{name}'")
    if sweep is not None and not any(sweep[0] in fields_of(m) for m in methods):
        raise NSTError(f"no chosen method has an option '{sweep[0]}' to sweep")
    vgg = vgg or shared_vgg()
    evaluator = Evaluator(vgg)
    # Engines that need a trained model per style: the model found for this style file (or why not).
    models: dict[str, dict[str, Any] | str] = {}
    for m, spec in specs.items():
        if spec.model_for_style is not None:
            found = spec.model_for_style(style_path) if style_path is not None else None
            models[m] = found if found is not None else (spec.train_hint(style_path) if spec.train_hint and style_path
                                                          else f"{m} needs a model trained on this style")
    values = sweep[1] if sweep else [None]
    rows: list[list[Cell]] = []
    first: dict[str, Cell] = {}
    for value in values:
        row_settings = dict(settings)
        if sweep:
            row_settings[sweep[0]] = value
        row = []
        for m in methods:
            own = {k: v for k, v in row_settings.items() if k in fields_of(m)}
            affected = sweep is not None and sweep[0] in fields_of(m)
            if m in first and not affected:
                row.append(dataclasses.replace(first[m], reused=True))
                continue
            cell = Cell(m, own)
            if isinstance(models.get(m), str):
                cell.skipped = models[m]
            else:
                if on_start:
                    on_start(m, own)
                engine = build_engine(m, {**row_settings, **models.get(m, {})}, vgg, size, seed)
                run_styles = styles if specs[m].style_images else StyleSet.none()
                t0 = time.perf_counter()
                cell.image = engine.stylize(content, run_styles, on_step=on_step)
                cell.seconds = time.perf_counter() - t0
                cell.metrics = evaluator(cell.image, content, styles.images[0] if len(styles) else None)
            first.setdefault(m, cell)
            row.append(cell)
        rows.append(row)
    return rows


def cell_label(cell: Cell, sweep_name: str | None) -> str:
    if cell.skipped:
        return f"{cell.method}: skipped\n(no model for this style)"
    text = f"{cell.method} {cell.seconds:.1f} s"
    if sweep_name and sweep_name in cell.settings:
        text += f"  {sweep_name}={cell.settings[sweep_name]}"
    m = cell.metrics
    if m:
        text += f"\nstyle {m.get('style_distance', 0):.2f}  content {m.get('content_distance', 0):.2f}  ssim {m.get('ssim', 0):.2f}"
    return text


def render_html(title: str, grid_file: str, rows: list[list[Cell]], files: dict[tuple[int, str], str],
                sweep_name: str | None, inputs: dict[str, str]) -> str:
    """A self-contained page (inline CSS, no scripts) showing the grid and a table per method."""
    esc = html.escape
    head = ["method"] + ([sweep_name] if sweep_name else []) + ["time (s)", "style distance ↓", "content distance ↓", "SSIM ↑", "output"]
    trs = []
    for r, row in enumerate(rows):
        for cell in row:
            if cell.reused:
                continue
            out = files.get((r, cell.method))
            link = f'<a href="{esc(out)}">{esc(out)}</a>' if out else esc(cell.skipped or "")
            vals = [cell.method] + ([str(cell.settings.get(sweep_name, "—"))] if sweep_name else [])
            if cell.skipped:
                vals += ["—", "—", "—", "—"]
            else:
                m = cell.metrics
                vals += [f"{cell.seconds:.1f}", f"{m['style_distance']:.3f}", f"{m['content_distance']:.3f}", f"{m['ssim']:.3f}"]
            trs.append("<tr>" + "".join(f"<td>{esc(v)}</td>" for v in vals) + f"<td>{link}</td></tr>")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{esc(title)}</title>
<style>body{{font-family:sans-serif;margin:2em;max-width:1400px}}img{{max-width:100%;border:1px solid #ccc}}
table{{border-collapse:collapse;margin-top:1em}}td,th{{border:1px solid #bbb;padding:4px 8px;text-align:left}}
th{{background:#eee}}</style></head>
<body><h1>{esc(title)}</h1>
<p>content: {esc(inputs.get('content', ''))} — style: {esc(inputs.get('style', ''))}</p>
<img src="{esc(grid_file)}" alt="comparison grid">
<table><tr>{''.join(f'<th>{esc(h)}</th>' for h in head)}</tr>
{''.join(trs)}
</table>
<p>Style distance: mean relative Gram error over relu1_1…relu5_1; content distance: relative error at relu4_2;
SSIM: luminance against the content. Lower distances are closer; the two pull against each other.</p>
</body></html>
"""


def write_compare(out_dir: Path, rows: list[list[Cell]], content: Tensor, style: Tensor, *, title: str,
                  inputs: dict[str, Any], settings: dict[str, Any], sweep: tuple[str, list[Any]] | None,
                  cell_px: int = 320) -> list[Path]:
    """Write each new result, a labelled grid, summary.json and a self-contained index.html into ``out_dir``."""
    from PIL import Image

    from .images import make_grid, save_image

    from .imagefiles import save_pil
    from .io import atomic_write
    from .report import environment, write_json

    files: dict[tuple[int, str], str] = {}
    images: list[Any] = []
    labels: list[str] = []
    sweep_name = sweep[0] if sweep else None
    written: list[Path] = []
    for r, row in enumerate(rows):
        images += [content, style]
        labels += ["content", "style"]
        for cell in row:
            if cell.image is not None:
                suffix = f"_{sweep_name}-{cell.settings.get(sweep_name)}" if sweep_name and sweep_name in cell.settings else ""
                name = f"{cell.method}{suffix}.png"
                if not cell.reused:
                    written.append(save_image(cell.image, out_dir / name))
                files[(r, cell.method)] = name
                images.append(cell.image)
            else:
                images.append(Image.new("RGB", (64, 64), (235, 235, 235)))
            labels.append(cell_label(cell, sweep_name))
    ncols = 2 + (len(rows[0]) if rows else 0)
    written.append(save_pil(make_grid(images, labels, ncols=ncols, cell=cell_px), out_dir / "grid.png"))
    summary = {
        "inputs": inputs,
        "settings": settings,
        "sweep": {"name": sweep[0], "values": sweep[1]} if sweep else None,
        "rows": [[{"method": cell.method, "settings": cell.settings, "seconds": round(cell.seconds, 3),
                   "metrics": cell.metrics, "skipped": cell.skipped, "reused": cell.reused,
                   "output": files.get((r, cell.method))} for cell in row] for r, row in enumerate(rows)],
        "environment": environment(),
    }
    written.append(write_json(out_dir / "summary.json", summary))
    page = render_html(title, "grid.png", rows, files, sweep_name, inputs)
    written.append(atomic_write(out_dir / "index.html", page.encode("utf-8")))
    return written
