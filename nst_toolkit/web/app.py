"""The web page's HTTP API and static files (Starlette; every asset is served from the package).

Routes:
  GET  /                          the page (static/index.html, app.js, style.css)
  GET  /api/options               engines, their main options, shipped models, samples, limits
  POST /api/jobs                  multipart form: content (file) or content_sample (name), style (files) or
                                  style_sample (name), engines (comma list), size, style_weight, iterations,
                                  alpha, preserve_color, model → {"id": …}
  GET  /api/jobs/{id}             the job's state, per engine progress, times and numbers
  GET  /api/jobs/{id}/events      the same as a server-sent event stream, until the job ends
  GET  /api/jobs/{id}/{engine}/preview.png | result.png     the image as it forms / the result
  POST /api/jobs/{id}/cancel      stop a queued or running job
  GET  /api/jobs/{id}/report.html a self-contained page of the comparison (images inlined), to save

Nothing a client sends becomes a file-system path: uploads are decoded in memory, samples and
models are chosen by name from fixed lists, job ids and engine names are looked up in tables.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
from dataclasses import dataclass
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ..errors import NSTError
from ..options import settable_fields
from .jobs import EngineRun, JobManager

SAMPLE_NAMES = ("machu_picchu", "great_wave")


@dataclass(frozen=True)
class ServerLimits:
    max_upload_bytes: int = 20 * 2**20  # per file
    max_pixels: int = 40_000_000  # per uploaded image
    max_size: int = 1024  # longest side of the outputs
    max_styles: int = 4


class BadRequest(Exception):
    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def _error(message: str, status: int = 400) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _shipped_models(engine: str) -> list[str]:
    from ..checkpoints import model_files

    return sorted({p.stem for _, p in model_files(engine)})


def options_payload(limits: ServerLimits) -> dict[str, Any]:
    from .. import engines

    out = []
    for spec in engines.specs():
        entry = {"name": spec.name, "kind": spec.kind, "summary": spec.summary, "style_images": spec.style_images}
        if spec.model_kind:
            entry["models"] = _shipped_models(spec.model_kind)
            entry["default_model"] = getattr(spec.config(), "model", None)
        out.append(entry)
    return {"engines": out, "samples": list(SAMPLE_NAMES), "preserve_color": ["none", "luminance", "histogram"],
            "limits": {"max_upload_mb": limits.max_upload_bytes / 2**20, "max_pixels": limits.max_pixels,
                       "max_size": limits.max_size}}


def _number(form, name: str, cast, lo: float, hi: float) -> Any:
    raw = form.get(name)
    if raw in (None, ""):
        return None
    try:
        value = cast(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"{name} must be a number") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must lie between {lo:g} and {hi:g}")
    return value


async def _image(upload, sample: str | None, what: str, limits: ServerLimits, size: int | None):
    """An uploaded image (checked: bytes, pixels, decodable) or a built-in sample by name."""
    from ..images import load_image
    from ..resources import sample as sample_file

    if sample:
        if sample not in SAMPLE_NAMES:  # a name from a fixed list, never a path
            raise BadRequest(f"unknown sample '{str(sample)[:40]}'")
        return load_image(sample_file(f"{sample}.jpg"), size)
    if upload is None or not hasattr(upload, "read"):
        raise BadRequest(f"choose a {what} image")
    data = await upload.read(limits.max_upload_bytes + 1)
    if len(data) > limits.max_upload_bytes:
        raise BadRequest(f"the {what} image is larger than {limits.max_upload_bytes // 2**20} MB", 413)
    if not data:
        raise BadRequest(f"the {what} image is empty")
    from io import BytesIO

    from PIL import Image

    try:
        with Image.open(BytesIO(data)) as probe:
            w, h = probe.size
    except Exception:  # noqa: BLE001 - anything PIL cannot open is a bad upload
        raise BadRequest(f"the {what} file is not an image this server can read") from None
    if w * h > limits.max_pixels:
        raise BadRequest(f"the {what} image has {w * h / 1e6:.0f} megapixels; the limit is {limits.max_pixels / 1e6:.0f}", 413)
    try:
        return load_image(data, size)
    except NSTError as e:
        raise BadRequest(f"the {what} image: {str(e).replace('<stdin>: ', '')}") from None


def create_app(limits: ServerLimits = ServerLimits(), manager: JobManager | None = None) -> Starlette:
    from .. import engines
    from ..styles import StyleSet

    jobs = manager or JobManager()

    async def options(request: Request) -> JSONResponse:
        return JSONResponse(options_payload(limits))

    async def create_job(request: Request) -> JSONResponse:
        try:
            form = await request.form(max_files=limits.max_styles + 2, max_fields=64,
                                      max_part_size=limits.max_upload_bytes + 1)
        except Exception:  # noqa: BLE001 - a malformed or oversized form
            return _error("the upload could not be read (too large or malformed)", 413)
        try:
            names = [n.strip() for n in str(form.get("engines") or "").split(",") if n.strip()]
            known = {s.name: s for s in engines.specs()}
            if not names or any(n not in known for n in names):
                raise BadRequest(f"choose engines from {', '.join(known)}")
            size = _number(form, "size", int, 64, limits.max_size) or 512
            content = await _image(form.get("content"), form.get("content_sample"), "content", limits, size)
            uploads = [f for f in form.getlist("style") if hasattr(f, "read")]
            style_samples = [s for s in form.getlist("style_sample") if s]
            if len(uploads) + len(style_samples) > limits.max_styles:
                raise BadRequest(f"at most {limits.max_styles} style images")
            styles = [await _image(f, None, "style", limits, None) for f in uploads]
            styles += [await _image(None, s, "style", limits, None) for s in style_samples]
            if not styles:
                raise BadRequest("choose at least one style image")
            style_set = StyleSet.create(styles)
            common = {"size": size}
            for key, cast, lo, hi in (("style_weight", float, 0, 1e4), ("iterations", int, 1, 500),
                                      ("alpha", float, 0, 1)):
                value = _number(form, key, cast, lo, hi)
                if value is not None:
                    common[key] = value
            colour = form.get("preserve_color") or "none"
            if colour not in ("none", "luminance", "histogram"):
                raise BadRequest("preserve_color must be none, luminance or histogram")
            common["preserve_color"] = colour
            runs = []
            for n in names:
                spec = known[n]
                fields = {f.name for f in settable_fields(spec.config)}
                settings = {k: v for k, v in common.items() if k in fields}
                if spec.model_kind:
                    model = form.get(f"model_{n}") or getattr(spec.config(), "model", None)
                    if model not in _shipped_models(spec.model_kind):
                        raise BadRequest(f"unknown {n} model '{str(model)[:40]}'")
                    settings["model"] = model
                runs.append(EngineRun(n, settings))
            job = jobs.submit(content, style_set, runs)
        except BadRequest as e:
            return _error(str(e), e.status)
        except NSTError as e:
            return _error(str(e))
        return JSONResponse({"id": job.id}, status_code=201)

    def _job(request: Request):
        job = jobs.get(request.path_params["job_id"])
        if job is None:
            raise BadRequest("no such job", 404)
        return job

    async def job_state(request: Request) -> JSONResponse:
        try:
            return JSONResponse(_job(request).public())
        except BadRequest as e:
            return _error(str(e), e.status)

    async def job_events(request: Request) -> Response:
        try:
            job = _job(request)
        except BadRequest as e:
            return _error(str(e), e.status)

        async def stream():
            last = None
            while True:
                state = json.dumps(job.public())
                if state != last:
                    yield f"data: {state}\n\n"
                    last = state
                if job.state in ("done", "failed", "cancelled"):
                    return
                if await request.is_disconnected():
                    return
                await asyncio.sleep(0.25)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def job_image(request: Request) -> Response:
        from ..images import png_bytes

        try:
            job = _job(request)
        except BadRequest as e:
            return _error(str(e), e.status)
        run = next((r for r in job.runs if r.name == request.path_params["engine"]), None)
        kind = request.path_params["kind"]
        image = None if run is None else (run.result if kind == "result" else run.preview if kind == "preview" else None)
        if image is None:
            return _error("no such image", 404)
        headers = {"Cache-Control": "no-store"}
        if request.query_params.get("download"):
            headers["Content-Disposition"] = f'attachment; filename="nst_{run.name}.png"'
        return Response(png_bytes(image), media_type="image/png", headers=headers)

    async def cancel(request: Request) -> JSONResponse:
        job = jobs.cancel(request.path_params["job_id"])
        if job is None:
            return _error("no such job", 404)
        return JSONResponse(job.public())

    async def report(request: Request) -> Response:
        try:
            job = _job(request)
        except BadRequest as e:
            return _error(str(e), e.status)
        return HTMLResponse(render_report(job), headers={
            "Content-Disposition": f'attachment; filename="nst_compare_{job.id}.html"'})

    static = resources.files("nst_toolkit.web").joinpath("static")

    async def index(request: Request) -> Response:
        return HTMLResponse(static.joinpath("index.html").read_text(encoding="utf-8"))

    routes = [
        Route("/", index),
        Route("/api/options", options),
        Route("/api/jobs", create_job, methods=["POST"]),
        Route("/api/jobs/{job_id:str}", job_state),
        Route("/api/jobs/{job_id:str}/events", job_events),
        Route("/api/jobs/{job_id:str}/cancel", cancel, methods=["POST"]),
        Route("/api/jobs/{job_id:str}/report.html", report),
        Route("/api/jobs/{job_id:str}/{engine:str}/{kind:str}.png", job_image),
        Mount("/static", StaticFiles(directory=str(static)), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.jobs = jobs
    return app


def render_report(job) -> str:
    """The comparison as one self-contained HTML file (images inlined as PNG data)."""
    from ..images import png_bytes

    esc = html.escape

    def img(t) -> str:
        return f'<img alt="" src="data:image/png;base64,{base64.b64encode(png_bytes(t)).decode()}">'

    cells = [f"<figure>{img(job.content)}<figcaption>content</figcaption></figure>"]
    cells += [f"<figure>{img(s)}<figcaption>style</figcaption></figure>" for s in job.styles.images]
    rows = []
    for r in job.runs:
        if r.result is not None:
            cells.append(f"<figure>{img(r.result)}<figcaption>{esc(r.name)} · {r.seconds:.1f} s</figcaption></figure>")
        m = r.metrics
        rows.append("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in (
            r.name, r.state, f"{r.seconds:.1f}", m.get("style_distance", "—"), m.get("content_distance", "—"),
            m.get("ssim", "—"), json.dumps(r.settings))) + "</tr>")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>nst comparison</title>
<style>body{{font-family:sans-serif;margin:2em}}figure{{display:inline-block;margin:.5em;text-align:center}}
img{{max-width:320px;max-height:320px;border:1px solid #ccc}}table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:4px 8px}}</style></head><body><h1>nst comparison</h1>
<div>{''.join(cells)}</div><table><tr><th>engine</th><th>state</th><th>time (s)</th><th>style distance ↓</th>
<th>content distance ↓</th><th>SSIM ↑</th><th>settings</th></tr>{''.join(rows)}</table></body></html>"""
