"""`nst compare` and `nst demo`: every registered engine side by side, with times and quality numbers."""

from __future__ import annotations

from pathlib import Path
from typing import Any, List, Optional

import typer

from ..errors import NSTError
from .common import ProgressBar, device_for, handle_errors, output_folder, split_csv


def compare_to_dir(content: Path, style: Path, out_dir: str, methods: Optional[str], size: int, seed: int,
                   sets: Optional[List[str]], sweep: Optional[str], device: str, quiet: bool, title: str) -> None:
    from .. import compare as cmp
    from ..images import load_image
    from ..styles import StyleSet

    method_list = list(split_csv(methods)) or None
    settings: dict[str, Any] = dict(cmp.parse_setting(item) for item in sets or [])
    sw = cmp.parse_assignment(sweep) if sweep else None
    if size <= 0:
        raise NSTError(f"size must be positive, not {size}")
    out_dir = output_folder(out_dir, f"{title}'s pictures, summary and page")
    dev = device_for(device)
    c = load_image(content, size).to(dev)
    s = load_image(style).to(dev)
    bars: list[ProgressBar] = []

    def on_start(method: str, own: dict) -> None:
        while bars:
            bars.pop().close()
        if not quiet:
            bars.append(ProgressBar(None, method))

    def on_step(st) -> None:
        if bars:
            bars[-1].step(st)

    try:
        rows = cmp.run_compare(c, StyleSet.create([s]), style, methods=method_list, size=size, seed=seed,
                               settings=settings, sweep=sw, on_start=on_start, on_step=on_step)
    finally:
        while bars:
            bars.pop().close()
    if not quiet:
        for cell in rows[0]:
            if cell.skipped:
                typer.echo(f"skipped {cell.method}: {cell.skipped}", err=True)
    inputs = {"content": str(content), "style": str(style), "size": size, "seed": seed, "device": str(dev)}
    cmp.write_compare(out_dir, rows, c, s, title=title, inputs=inputs, settings=settings, sweep=sw,
                      cell_px=min(max(size, 64), 320))
    if not quiet:
        typer.echo(f"wrote {out_dir / 'grid.png'}, {out_dir / 'summary.json'} and {out_dir / 'index.html'}", err=True)


METHODS_HELP = "Comma-separated engines (default: every registered engine)."
SET_HELP = "NAME=VALUE for every engine that has the option (repeatable); names as the engines' options."


def add_compare_commands(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def compare(
        content: Path = typer.Argument(..., help="Content image."),
        style: Path = typer.Argument(..., help="Style image."),
        output_dir: str = typer.Option(..., "-o", "--output-dir", help="Folder for outputs, grid, summary.json, index.html."),
        methods: Optional[str] = typer.Option(None, help=METHODS_HELP),
        size: int = typer.Option(512, help="Longest side of every output, px."),
        seed: int = typer.Option(0, help="Seed for every engine that has one."),
        set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
        sweep: Optional[str] = typer.Option(None, help="NAME=V1,V2,… : one row per value, e.g. style_weight=1,5,25."),
        device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    ):
        """Run the engines side by side on the same inputs, with times and quality numbers."""
        compare_to_dir(content, style, output_dir, methods, size, seed, set_, sweep, device, quiet, "nst compare")

    @app.command()
    @handle_errors
    def demo(
        output_dir: str = typer.Option("nst-demo", "-o", "--output-dir", help="Folder for the outputs."),
        size: int = typer.Option(512, help="Longest side, px."),
        methods: Optional[str] = typer.Option(None, help=METHODS_HELP),
        set_: Optional[List[str]] = typer.Option(None, "--set", help=SET_HELP),
        device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress output."),
    ):
        """Compare every engine on the built-in sample images: outputs, a labelled grid, summary, HTML page."""
        from ..resources import sample_content, sample_style

        compare_to_dir(sample_content(), sample_style(), output_dir, methods, size, 0, set_, None, device, quiet, "nst demo")
