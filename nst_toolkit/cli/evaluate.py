"""`nst eval` (quality numbers) and `nst features` (what a VGG layer sees)."""

from __future__ import annotations

from pathlib import Path
from typing import List, Optional

import typer

from ..errors import NSTError
from .common import device_for, expand_inputs, handle_errors


def add_evaluate_commands(app: typer.Typer) -> None:
    @app.command("eval")
    @handle_errors
    def eval_(
        stylized: List[Path] = typer.Argument(..., help="Stylised image(s) or folder(s)."),
        content: Optional[Path] = typer.Option(None, "--content", help="Content image (or folder with matching names)."),
        style: Optional[Path] = typer.Option(None, "--style", help="Style image."),
        output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write .json or .csv (default: JSON on stdout)."),
        size: int = typer.Option(512, help="Evaluate at this longest side, px."),
        device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    ):
        """Content distance (relu4_2), style distance (Gram, relu1_1…relu5_1) and luminance SSIM."""
        import csv
        import io
        import json

        from ..evaluate import Evaluator, match_content
        from ..images import load_image
        from ..io import atomic_write, check_target

        if content is None and style is None:
            raise NSTError("give --content, --style or both")
        if output is not None and output.suffix.lower() not in (".json", ".csv"):
            raise NSTError(f"{output}: eval writes .json or .csv")
        if output is not None:
            check_target(output)
        files = expand_inputs(stylized)
        candidates = expand_inputs([content]) if content is not None and content.is_dir() else None
        dev = device_for(device)
        ev = Evaluator()
        s = load_image(style, size).to(dev) if style is not None else None
        rows = []
        for f in files:
            x = load_image(f, size).to(dev)
            c = None
            if content is not None:
                cp = match_content(f, candidates) if candidates is not None else content
                if cp is None:
                    raise NSTError(f"no content image in {content} matches {f.name}")
                c = load_image(cp, size).to(dev)
            rows.append({"image": str(f), **{k: round(v, 6) for k, v in ev(x, c, s).items()}})
        if output is not None and output.suffix.lower() == ".csv":
            buf = io.StringIO()
            w = csv.DictWriter(buf, fieldnames=list(rows[0].keys()))
            w.writeheader()
            w.writerows(rows)
            atomic_write(output, buf.getvalue().encode("utf-8"))
        elif output is not None:
            atomic_write(output, (json.dumps(rows, indent=2) + "\n").encode("utf-8"))
        else:
            typer.echo(json.dumps(rows, indent=2))

    @app.command()
    @handle_errors
    def features(
        image: Path = typer.Argument(..., help="Image to look at."),
        layer: str = typer.Option("relu3_1", help="VGG layer name, e.g. relu1_1 … relu5_4."),
        output: Path = typer.Option(..., "-o", "--output", help="Grid image."),
        count: int = typer.Option(16, help="How many of the strongest channels to show."),
        size: int = typer.Option(512, help="Longest side of the input, px."),
        device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    ):
        """The strongest activation maps of one VGG layer, as a labelled grid."""
        from ..features import feature_grid
        from ..imagefiles import check_output_path, save_pil

        out = check_output_path(output)
        grid, channels = feature_grid(image, layer, count, size, device_for(device))
        save_pil(grid, out)
        typer.echo(f"wrote {out}: {min(count, channels)} of {channels} channels of {layer}", err=True)
