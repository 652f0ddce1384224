"""Run recording for the optimisation engines: snapshots, progress GIF, loss plot, manifest, last good image.

The CLI picks the output path and turns progress into a bar; this module writes what a run leaves
beside its output (``OUT_0020.png``, ``OUT.gif``, ``OUT_losses.png``, ``OUT.json``) and, when the
optimisation diverges, keeps the last finite image as ``OUT.last_good.png``. The output and the records
written at its end (GIF, plot, manifest) appear together or not at all; snapshots are written as the run
goes and stay.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from torch import Tensor

from .errors import DivergedError
from .images import encode_image, save_image
from .io import FileSet
from .optimize import Step
from .report import environment, gif_bytes, json_bytes, loss_plot_png
from .engines.base import Engine


@dataclass(frozen=True)
class RecordOptions:
    save_every: int = 0  # write a snapshot every N iterations (0: none)
    gif: bool = False  # OUT.gif of the progress
    plot: bool = False  # OUT_losses.png
    manifest: bool = True  # OUT.json: settings, inputs, versions, timings, losses


def side_path(out: Path, suffix: str) -> Path:
    """A file beside ``out``: out.png → out<suffix> (the suffix carries its own extension)."""
    return out.with_name(f"{out.stem}{suffix}")


@dataclass
class RunRecorder:
    """The ``on_step`` callback of one run: keeps losses, the last image, snapshots and GIF frames."""

    out: Path
    options: RecordOptions
    total: int
    forward: Callable[[Step], None] | None = None  # e.g. the CLI's progress bar
    history: list[dict[str, float]] = field(default_factory=list)
    snapshots: list[Path] = field(default_factory=list)
    frames: list[Tensor] = field(default_factory=list)
    last_image: Tensor | None = None

    def __call__(self, step: Step) -> None:
        self.history.append(dict(step.losses))
        self.last_image = step.image
        if self.options.save_every and step.iteration % self.options.save_every == 0:
            self.snapshots.append(save_image(step.image, side_path(self.out, f"_{step.iteration:04d}.png")))
        gif_every = max(1, self.total // 24)
        if self.options.gif and (step.iteration % gif_every == 0 or step.iteration == 1):
            self.frames.append(step.image.cpu())
        if self.forward is not None:
            self.forward(step)


@dataclass(frozen=True)
class RunResult:
    output: Path
    files: list[Path]
    seconds: float
    iterations: int


def record_run(engine: Engine, content: Tensor, styles: Any, out: Path, options: RecordOptions = RecordOptions(), *,
               inputs: dict[str, Any] | None = None, device: str = "cpu",
               on_step: Callable[[Step], None] | None = None) -> RunResult:
    """Run ``engine.stylize`` and write its output and the requested records beside ``out``.

    The output, GIF, plot and manifest are staged first and renamed into place together: when any of them
    cannot be written (a full disk), none appears and older files of those names stay as they were.
    On divergence the last finite image is written to ``OUT.last_good.png`` and a
    :class:`DivergedError` naming it is raised; the output itself is not written.
    """
    rec = RunRecorder(out, options, engine.planned_steps() or 1, forward=on_step)
    t0 = time.perf_counter()
    try:
        result = engine.stylize(content, styles, on_step=rec)
    except DivergedError as e:
        good = e.last_good if e.last_good is not None else rec.last_image
        if good is None:
            raise
        kept = save_image(good, side_path(out, ".last_good.png"))
        raise DivergedError(f"{e}; stopped, last good image kept in {kept}", good, e.iteration) from None
    wall = time.perf_counter() - t0
    with FileSet() as written:
        files = [written.add(out, encode_image(result, out)), *rec.snapshots]
        if options.gif and rec.frames:
            files.append(written.add(side_path(out, ".gif"), gif_bytes([*rec.frames, result.cpu()])))
        if options.plot and rec.history:
            files.append(written.add(side_path(out, "_losses.png"), loss_plot_png(rec.history, title=engine.name)))
        if options.manifest:
            written.add(side_path(out, ".json"), json_bytes({
                "engine": engine.name,
                "output": str(out),
                "inputs": inputs or {},
                "config": engine.config.to_dict(),
                "device": device,
                "iterations_run": len(rec.history),
                "wall_seconds": round(wall, 3),
                "seconds_per_iteration": round(wall / max(1, len(rec.history)), 4),
                "final_losses": rec.history[-1] if rec.history else {},
                "files": [str(f) for f in files],
                "environment": environment(),
            }))
    return RunResult(out, files, wall, len(rec.history))
