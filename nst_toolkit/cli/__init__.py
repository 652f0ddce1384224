"""The `nst` command line: parses options, picks devices, seeds and paths, prints. One module per group:

* :mod:`.engines` — one command per registered engine (gatys, improved, fast, adain, …);
* :mod:`.video` — video;  :mod:`.train` — train-fast, train-adain;  :mod:`.compare` — compare, demo;
* :mod:`.evaluate` — eval, features;  :mod:`.models` — models, export-fast;  :mod:`.serve` — serve.
"""

from __future__ import annotations

import sys

import typer

from .. import __version__


def build_app(only: str | None = None) -> typer.Typer:
    """A fresh Typer app with a command for every engine registered now (tests add toy engines).

    With ``only`` (a built-in engine's name) the app holds that engine's command alone and imports no
    other engine: `nst adain photo.jpg style.jpg` then starts without torch when its model allows.
    """
    from .engines import add_engine_commands

    app = typer.Typer(
        help="Neural style transfer: gatys, improved, fast (feed-forward) and adain engines on one VGG-19 core.",
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )

    @app.callback(invoke_without_command=True)
    def root(version: bool = typer.Option(False, "--version", help="Print the version and exit.")):
        if version:
            typer.echo(__version__)
            raise typer.Exit(0)

    add_engine_commands(app, only)
    if only is None:
        from .compare import add_compare_commands
        from .evaluate import add_evaluate_commands
        from .models import add_model_commands
        from .serve import add_serve_commands
        from .train import add_train_commands
        from .video import add_video_commands

        add_video_commands(app)
        add_train_commands(app)
        add_compare_commands(app)
        add_evaluate_commands(app)
        add_model_commands(app)
        add_serve_commands(app)
    return app


def __getattr__(name: str):
    """``nst_toolkit.cli.app``: the whole app, built on first use (building it imports every engine)."""
    if name == "app":
        global app
        app = build_app()
        return app
    raise AttributeError(name)


def main() -> None:
    """The `nst` entry point: an engine's command builds only that engine's part of the app."""
    from ..engines.registry import BUILTIN_MODULES

    first = sys.argv[1] if len(sys.argv) > 1 else None
    build_app(first if first in BUILTIN_MODULES else None)(prog_name="nst")
