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

from .engines.adain import AdaINConfig, AdaINEngine
from .checkpoints import model_files, sha256_file
from .engines.fast import FastConfig, FastEngine
from .engines.gatys import GatysConfig, GatysEngine
from .engines.improved import ImprovedConfig, ImprovedEngine
from .errors import NSTError
from .evaluate import Evaluator
from .vgg import RELU_LAYERS, VGGFeatures

METHODS = ("gatys", "improved", "fast", "adain")
CONFIGS = {"gatys": GatysConfig, "improved": ImprovedConfig, "fast": FastConfig, "adain": AdaINConfig}


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


def fields_of(method: str) -> set[str]:
    return {f.name for f in dataclasses.fields(CONFIGS[method])}


def fast_model_for(style_path: Path) -> Path | None:
    """A shipped or local fast model whose metadata names this exact style file (by sha256)."""
    from .checkpoints import read_metadata

    digest = sha256_file(style_path)
    for _, p in model_files("fast"):
        try:
            if read_metadata(p).get("style_sha256") == digest:
                return p
        except NSTError:
            continue
    return None


def shared_vgg(weights: str = "bundled") -> VGGFeatures:
    """One VGG-19 truncated at relu5_4: it serves gatys, improved, the AdaIN encoder and the evaluator."""
    return VGGFeatures(RELU_LAYERS, weights)


def build_engine(method: str, settings: dict[str, Any], vgg: VGGFeatures, size: int, seed: int, fast_model: Path | None):
    cfg_cls = CONFIGS[method]
    own = {k: v for k, v in settings.items() if k in fields_of(method)}
    if method == "gatys":
        return GatysEngine(cfg_cls(**{"size": size, "seed": seed, **own}), vgg)
    if method == "improved":
        return ImprovedEngine(cfg_cls(**{"size": size, "seed": seed, **own}), vgg)
    if method == "fast":
        return FastEngine(cfg_cls(**{**own, "model": str(fast_model)}))
    return AdaINEngine(cfg_cls(**{"content_size": size, **own}), vgg=vgg)


def run_compare(
    content: Tensor,
    style: Tensor,
    style_path: Path,
    *,
    methods: Sequence[str] = METHODS,
    size: int = 512,
    seed: int = 0,
    settings: dict[str, Any] | None = None,
    sweep: tuple[str, list[Any]] | None = None,
    vgg: VGGFeatures | None = None,
    on_start: Callable[[str, dict], None] | None = None,
    on_step: Callable | None = None,
) -> list[list[Cell]]:
    """Rows of cells (one row per sweep value, one cell per method), each evaluated against the inputs."""
    for m in methods:
        if m not in METHODS:
            raise NSTError(f"unknown method '{m}'; choose from {', '.join(METHODS)}")
    settings = dict(settings or {})
    for name in settings:
        if not any(name in fields_of(m) for m in methods):
            raise NSTError(f"no chosen method has an option '{name}'")
    if sweep is not None and not any(sweep[0] in fields_of(m) for m in methods):
        raise NSTError(f"no chosen method has an option '{sweep[0]}' to sweep")
    vgg = vgg or shared_vgg()
    evaluator = Evaluator(vgg)
    fast_model = fast_model_for(style_path) if "fast" in methods else None
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
            if m == "fast" and fast_model is None:
                cell.skipped = (f"no fast model trained on {style_path.name}; train one with: "
                                f"nst train-fast --style {style_path} --data PHOTOS_FOLDER")
            else:
                if on_start:
                    on_start(m, own)
                try:
                    engine = build_engine(m, row_settings, vgg, size, seed, fast_model)
                except TypeError as e:
                    raise NSTError(f"{m}: bad option value ({e})") from None
                t0 = time.perf_counter()
                cell.image = engine.stylize(content, style, on_step=on_step)
                cell.seconds = time.perf_counter() - t0
                cell.metrics = evaluator(cell.image, content, style)
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
