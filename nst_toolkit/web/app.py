"""The web page's HTTP API and static files (Starlette; every asset is served from the package).

Routes:
  GET  /                          the page (static/index.html, app.js, style.css)
  GET  /api/options               per engine: the options the page shows (name, type, default, bounds, help,
                                  read from the engine's config fields), shipped models; samples, limits
  POST /api/jobs                  multipart form: content (file) or content_sample (name), style (files) or
                                  style_sample (name), engines (comma list), and options by field name:
                                  ``NAME_ENGINE`` (e.g. style_weight_gatys, model_fast) for one engine, or
                                  ``NAME`` for every chosen engine that has that field → {"id": …}
  GET  /api/jobs/{id}             the job's state, per engine progress, settings, times and numbers
  GET  /api/jobs/{id}/events      the same as a server-sent event stream, until the job ends
  GET  /api/jobs/{id}/{engine}/preview.png | result.png     the image as it forms / the result
  POST /api/jobs/{id}/cancel      stop a queued or running job
  GET  /api/jobs/{id}/report.html a self-contained page of the comparison (images inlined), to save

An option not sent keeps the engine's own default, as on the command line (`nst ENGINE --help`); a sent
value is typed and checked by the engine's config (:func:`nst_toolkit.api.configure`). The server adds only
its own limits (upload bytes and pixels, the largest output side, the number of styles).

Nothing a client sends becomes a file-system path: uploads are decoded in memory, samples and
models are chosen by name from fixed lists, job ids and engine names are looked up in tables.
"""

from __future__ import annotations

import asyncio
import base64
import html
import json
import re
from dataclasses import dataclass
from importlib import resources
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response, StreamingResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from .. import api
from ..errors import ImageError, NSTError
from ..options import HELP, allowed_text, bounds, field_types, settable_fields, unwrap_optional
from .jobs import EngineRun, Job, JobManager

SAMPLE_NAMES = ("machu_picchu", "great_wave")
# The config fields the page offers, in the order it shows them; each engine shows those it has. Their
# defaults, types, bounds and help come from the engine's config, never from here.
WEB_OPTIONS = ("model", "size", "style_weight", "coarse_iterations", "iterations", "alpha", "preserve_color")
TYPE_NAMES = {int: "int", float: "float", bool: "bool", str: "str"}
FINISHED = ("done", "failed", "cancelled")


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


# --- the options the page shows, from the configs ---


def shipped_models(engine: str) -> list[str]:
    from ..checkpoints import model_files

    return sorted({p.stem for _, p in model_files(engine)})


def model_choices(spec) -> list[str]:
    """The models a page may choose for ``spec``: the ones found by name (none for an engine without model files)."""
    return shipped_models(spec.model_kind) if spec.model_kind else []


def shown_fields(spec) -> list:
    """The config fields of ``spec`` the page offers, in :data:`WEB_OPTIONS` order."""
    fields = {f.name: f for f in settable_fields(spec.config)}
    return [fields[name] for name in WEB_OPTIONS if name in fields]


def option_entry(spec, f, limits: ServerLimits) -> dict[str, Any]:
    """One config field as the page needs it: name, type, default, allowed values, help."""
    tp, optional = unwrap_optional(field_types(spec.config)[f.name])
    entry = {"name": f.name, "type": TYPE_NAMES.get(tp, "str"), "optional": optional, "default": f.default,
             "help": f.metadata[HELP], "allowed": allowed_text(f), **bounds(f)}
    if f.name == "model":
        entry["choices"] = model_choices(spec)  # by name only: a path is never taken from a page
    if f.name == "size":
        entry["limit"] = limits.max_size  # this server's largest output side (a larger default runs at it)
    return entry


def options_payload(limits: ServerLimits) -> dict[str, Any]:
    from .. import engines

    out = []
    for spec in engines.specs():
        entry = {"name": spec.name, "kind": spec.kind, "summary": spec.summary, "style_images": spec.style_images,
                 "options": [option_entry(spec, f, limits) for f in shown_fields(spec)]}
        if spec.model_kind:
            entry["models"] = shipped_models(spec.model_kind)
        out.append(entry)
    return {"engines": out, "samples": list(SAMPLE_NAMES),
            "limits": {"max_upload_mb": limits.max_upload_bytes / 2**20, "max_pixels": limits.max_pixels,
                       "max_size": limits.max_size, "max_styles": limits.max_styles}}


# --- a job request: engines and their configs ---


def chosen_engines(form) -> list:
    from .. import engines

    names = [n.strip() for n in str(form.get("engines") or "").split(",") if n.strip()]
    known = {s.name: s for s in engines.specs()}
    if not names or any(n not in known for n in names):
        raise BadRequest(f"choose engines from {', '.join(known)}")
    return [known[n] for n in dict.fromkeys(names)]


def typed_values(form, spec) -> dict[str, str]:
    """The values the client sent for ``spec``'s shown fields: ``NAME_ENGINE`` first, else ``NAME``."""
    values = {}
    for f in shown_fields(spec):
        raw = form.get(f"{f.name}_{spec.name}")
        if raw in (None, ""):
            raw = form.get(f.name)
        if raw not in (None, ""):
            values[f.name] = str(raw)
    return values


def engine_config(form, spec, limits: ServerLimits) -> Any:
    """The engine's validated config: its defaults with the values sent, then this server's size limit."""
    values = typed_values(form, spec)
    if "model" in values and values["model"] not in {*model_choices(spec), *spec.model_aliases}:
        raise BadRequest(f"unknown {spec.name} model '{values['model'][:40]}'")
    try:
        config = api.configure(spec.name, values)
    except NSTError as e:
        raise BadRequest(f"{spec.name}: {e}") from None
    size = getattr(config, "size", None)
    if size is not None and size > limits.max_size:
        if "size" in values:
            raise BadRequest(f"size must be at most {limits.max_size} px on this server")
        config = api.configure(spec.name, {**values, "size": limits.max_size})  # the default is over the limit
    return config


def shown_settings(spec, config) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in shown_fields(spec)}


# --- images: uploads decoded in memory, samples by name ---


def upload_name(upload, fallback: str) -> str:
    """How an error names an upload: its file name (printable, short) or ``fallback``."""
    name = re.sub(r"[^\w .()+-]", "", str(getattr(upload, "filename", "") or "").replace("\\", "/").split("/")[-1])
    return name.strip()[:60] or fallback


def decode(data: bytes | Any, name: str):
    """Decode with the command line's guards (:func:`~nst_toolkit.imagefiles.open_image`), its errors in its
    words, the upload named by ``name`` instead of the command line's standard-input name."""
    from ..imagefiles import open_image

    try:
        return open_image(data)
    except ImageError as e:
        text = str(e).split(": ", 1)[1] if str(e).startswith("<stdin>: ") else str(e)
        raise BadRequest(f"{name}: {text.replace('PIL', 'this server')}") from None


async def read_image(upload, sample: str | None, name: str, limits: ServerLimits):
    """An uploaded image (checked: bytes, decoding, pixels) or a built-in sample by name, as a PIL image."""
    from ..resources import sample as sample_file

    if sample:
        if sample not in SAMPLE_NAMES:  # a name from a fixed list, never a path
            raise BadRequest(f"unknown sample '{str(sample)[:40]}'")
        return decode(sample_file(f"{sample}.jpg"), sample), sample
    if upload is None or not hasattr(upload, "read"):
        raise BadRequest(f"choose {name}")
    name = upload_name(upload, name)
    data = await upload.read(limits.max_upload_bytes + 1)
    if len(data) > limits.max_upload_bytes:
        raise BadRequest(f"{name} is larger than {limits.max_upload_bytes / 2**20:g} MB", 413)
    if not data:
        raise BadRequest(f"{name} is empty")
    image = decode(data, name)
    w, h = image.size
    if w * h > limits.max_pixels:
        raise BadRequest(f"{name} has {w * h / 1e6:.3g} megapixels; this server takes at most "
                         f"{limits.max_pixels / 1e6:.3g}", 413)
    return image, name


async def read_styles(form, limits: ServerLimits) -> list:
    uploads = [f for f in form.getlist("style") if hasattr(f, "read")]
    samples = [s for s in form.getlist("style_sample") if s]
    if len(uploads) + len(samples) > limits.max_styles:
        raise BadRequest(f"at most {limits.max_styles} style images")
    styles = [await read_image(f, None, f"style image {i + 1}", limits) for i, f in enumerate(uploads)]
    styles += [await read_image(None, s, "", limits) for s in samples]
    return [as_tensor(image, None, name, limits) for image, name in styles]


def as_tensor(image, size: int | None, name: str, limits: ServerLimits):
    """The image as a tensor at ``size`` (None: its own size, at most the server's largest side)."""
    if size is None and max(image.size) > limits.max_size:
        size = limits.max_size
    return api.as_tensor(image, size, name)


# --- the routes ---


def _read_static(name: str) -> str:
    return resources.files("nst_toolkit.web").joinpath("static", name).read_text(encoding="utf-8")


class WebApp:
    """The routes of the page, one method each, over one job manager and this server's limits."""

    def __init__(self, limits: ServerLimits, jobs: JobManager):
        self.limits = limits
        self.jobs = jobs

    def routes(self) -> list:
        static = resources.files("nst_toolkit.web").joinpath("static")
        return [
            Route("/", self.index),
            Route("/api/options", self.options),
            Route("/api/jobs", self.create_job, methods=["POST"]),
            Route("/api/jobs/{job_id:str}", self.job_state),
            Route("/api/jobs/{job_id:str}/events", self.job_events),
            Route("/api/jobs/{job_id:str}/cancel", self.cancel, methods=["POST"]),
            Route("/api/jobs/{job_id:str}/report.html", self.report),
            Route("/api/jobs/{job_id:str}/{engine:str}/{kind:str}.png", self.job_image),
            Mount("/static", StaticFiles(directory=str(static)), name="static"),
        ]

    def job(self, request: Request) -> Job:
        job = self.jobs.get(request.path_params["job_id"])
        if job is None:
            raise BadRequest("no such job", 404)
        return job

    async def index(self, request: Request) -> Response:
        return HTMLResponse(_read_static("index.html"))

    async def options(self, request: Request) -> JSONResponse:
        return JSONResponse(options_payload(self.limits))

    async def create_job(self, request: Request) -> JSONResponse:
        from ..styles import StyleSet

        limits = self.limits
        try:
            form = await request.form(max_files=limits.max_styles + 2, max_fields=64,
                                      max_part_size=limits.max_upload_bytes + 1)
        except Exception:  # noqa: BLE001 - a malformed or oversized form
            raise BadRequest("the upload could not be read (too large or malformed)", 413) from None
        specs = chosen_engines(form)
        configs = [(spec, engine_config(form, spec, limits)) for spec in specs]
        content, content_name = await read_image(form.get("content"), form.get("content_sample"),
                                                 "the content image", limits)
        styles = await read_styles(form, limits)
        needing = [s.name for s in specs if s.style_images]
        if needing and not styles:
            raise BadRequest(f"choose at least one style image (for {', '.join(needing)})")
        style_set = StyleSet.create(styles) if styles else StyleSet.none()
        at_size: dict[int | None, Any] = {}  # one content tensor per size the engines run at
        runs = []
        for spec, config in configs:
            size = getattr(config, "size", None)
            if size not in at_size:
                at_size[size] = as_tensor(content, size, content_name, limits)
            runs.append(EngineRun(spec.name, shown_settings(spec, config), config=config, content=at_size[size]))
        shown = max(at_size.values(), key=lambda t: t.numel())  # the content the report shows
        job = self.jobs.submit(shown, style_set, runs)
        return JSONResponse({"id": job.id}, status_code=201)

    async def job_state(self, request: Request) -> JSONResponse:
        return JSONResponse(self.job(request).public())

    async def job_events(self, request: Request) -> Response:
        job = self.job(request)

        async def stream():
            last = None
            while True:
                state = json.dumps(job.public())
                if state != last:
                    yield f"data: {state}\n\n"
                    last = state
                if job.state in FINISHED or await request.is_disconnected():
                    return
                await asyncio.sleep(0.25)

        return StreamingResponse(stream(), media_type="text/event-stream", headers={"Cache-Control": "no-store"})

    async def job_image(self, request: Request) -> Response:
        from ..images import png_bytes

        job = self.job(request)
        run = next((r for r in job.runs if r.name == request.path_params["engine"]), None)
        image = None if run is None else {"result": run.result, "preview": run.preview}.get(request.path_params["kind"])
        if image is None:
            raise BadRequest("no such image", 404)
        headers = {"Cache-Control": "no-store"}
        if request.query_params.get("download"):
            headers["Content-Disposition"] = f'attachment; filename="nst_{run.name}.png"'
        return Response(png_bytes(image), media_type="image/png", headers=headers)

    async def cancel(self, request: Request) -> JSONResponse:
        job = self.jobs.cancel(request.path_params["job_id"])
        if job is None:
            raise BadRequest("no such job", 404)
        return JSONResponse(job.public())

    async def report(self, request: Request) -> Response:
        job = self.job(request)
        return HTMLResponse(render_report(job), headers={
            "Content-Disposition": f'attachment; filename="nst_compare_{job.id}.html"'})


async def _bad_request(request: Request, e: Exception) -> JSONResponse:
    return JSONResponse({"error": str(e)}, status_code=getattr(e, "status", 400))


def create_app(limits: ServerLimits = ServerLimits(), manager: JobManager | None = None) -> Starlette:
    """The Starlette app of `nst serve`; ``app.state.jobs`` is its job manager (``stop()`` ends its worker)."""
    web = WebApp(limits, manager or JobManager())
    app = Starlette(routes=web.routes(), exception_handlers={BadRequest: _bad_request, NSTError: _bad_request})
    app.state.jobs = web.jobs
    return app


# --- the saved comparison ---

READING = ("Style distance: how far the result's textures (VGG-19 feature statistics) are from the style image; "
           "lower is closer to the painting. Content distance: how far its VGG-19 features are from the photo's; "
           "lower is closer to the photo. SSIM: how much of the photo's structure (luminance) is kept, 1 = all.")


def render_report(job) -> str:
    """The comparison as one self-contained HTML file (images inlined as PNG data)."""
    from ..images import png_bytes

    esc = html.escape

    def img(t) -> str:
        return f'<img alt="" src="data:image/png;base64,{base64.b64encode(png_bytes(t)).decode()}">'

    inputs = [f"<figure>{img(job.content)}<figcaption>content</figcaption></figure>"]
    inputs += [f"<figure>{img(s)}<figcaption>style</figcaption></figure>" for s in job.styles.images]
    results, rows = [], []
    for r in job.runs:
        if r.result is not None:
            caption = f"{esc(r.name)} · {r.seconds:.1f} s"
            results.append(f"<figure>{img(r.result)}<figcaption>{caption}</figcaption></figure>")
        m = r.metrics
        rows.append("<tr>" + "".join(f"<td>{esc(str(v))}</td>" for v in (
            r.name, r.state, f"{r.seconds:.1f}", m.get("style_distance", "—"), m.get("content_distance", "—"),
            m.get("ssim", "—"), json.dumps(r.settings))) + "</tr>")
    return f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>nst comparison</title>
<style>body{{font-family:sans-serif;margin:2em}}figure{{margin:0;text-align:center}}
.inputs img{{max-width:320px;max-height:320px}}img{{max-width:100%;border:1px solid #ccc}}
.results{{display:grid;grid-template-columns:repeat(auto-fill,minmax(min(400px,100%),1fr));gap:1em;margin:1em 0}}
.inputs{{display:flex;gap:1em;flex-wrap:wrap}}table{{border-collapse:collapse}}
td,th{{border:1px solid #bbb;padding:4px 8px}}</style></head><body><h1>nst comparison</h1>
<div class="inputs">{''.join(inputs)}</div><div class="results">{''.join(results)}</div>
<table><tr><th>engine</th><th>state</th><th>time (s)</th><th>style distance ↓</th>
<th>content distance ↓</th><th>SSIM ↑</th><th>settings</th></tr>{''.join(rows)}</table>
<p>{esc(READING)}</p></body></html>"""
