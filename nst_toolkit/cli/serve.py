"""`nst serve`: the local web page."""

from __future__ import annotations

import typer

from .common import handle_errors


def add_serve_commands(app: typer.Typer) -> None:
    @app.command()
    @handle_errors
    def serve(
        host: str = typer.Option("127.0.0.1", help="Address to listen on (default: this machine only)."),
        port: int = typer.Option(8000, help="Port to listen on."),
        max_upload_mb: float = typer.Option(20.0, help="Largest accepted upload per image, MB."),
        max_megapixels: float = typer.Option(40.0, help="Largest accepted upload per image, megapixels."),
        max_size: int = typer.Option(1024, help="Largest output side a page may ask for, px."),
    ):
        """A web page for every engine: upload or pick images, watch them form, compare, download."""
        import uvicorn

        from ..errors import NSTError
        from ..web.app import ServerLimits, create_app

        if not 0 < port < 65536:
            raise NSTError(f"port must lie in 1..65535, not {port}")
        limits = ServerLimits(int(max_upload_mb * 2**20), int(max_megapixels * 1e6), max_size)
        if host not in ("127.0.0.1", "localhost", "::1"):
            typer.echo(f"nst serve: listening on {host}: anyone who can reach this address can use the page", err=True)
        typer.echo(f"nst serve: open http://{'localhost' if host in ('127.0.0.1', '::1') else host}:{port}/", err=True)
        uvicorn.run(create_app(limits), host=host, port=port, log_level="warning")
