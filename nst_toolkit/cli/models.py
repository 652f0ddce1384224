"""`nst models` (what is installed, with metadata), `nst export-fast` and `nst export-adain`."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer

from .common import handle_errors


def add_model_commands(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def models():
        """List the shipped and local trained models of every engine, with their metadata."""
        from ..catalog import describe_models

        rows = describe_models()
        typer.echo("\n".join(rows) if rows else "no models found")

    @app.command("export-fast")
    @handle_errors
    def export_fast(
        model: str = typer.Argument(..., help="Shipped model name or .safetensors path."),
        output: Optional[Path] = typer.Option(None, "-o", "--output", help=(
            "model.onnx (ONNX) or model.pt (TorchScript); default: the ONNX twin beside the model file, which "
            "`nst fast` then runs without torch (with an 8-bit twin for a light model).")),
        size: int = typer.Option(512, help="Example input size for tracing; ONNX axes stay dynamic."),
    ):
        """Export a fast model to ONNX (.onnx) or TorchScript (.pt), or write its ONNX twin beside it."""
        from ..export import export_fast_twin, export_transformer

        paths = export_fast_twin(model) if output is None else [export_transformer(model, output, size)]
        typer.echo(f"wrote {' and '.join(str(p) for p in paths)}", err=True)

    @app.command("export-adain")
    @handle_errors
    def export_adain(
        model: str = typer.Argument(..., help="Light AdaIN model: name or .safetensors path."),
        output: Optional[Path] = typer.Option(None, "-o", "--output",
                                              help="The .onnx file (default: beside the model, where `nst adain` uses it); "
                                                   "its style encoder goes beside it as .style.onnx, the 8-bit "
                                                   "alpha-1 pass as .int8.onnx."),
    ):
        """Export a light AdaIN model's ONNX twin: `nst adain` then stylises one photo without importing torch."""
        from ..engines.adain.onnx import int8_twin_path, style_twin_path
        from ..export import export_adain as export

        twin = export(model, output)
        typer.echo(f"wrote {twin}, {style_twin_path(twin).name} and {int8_twin_path(twin).name}", err=True)
