"""Jobs of the web page: a queue served by one worker thread, progress that a page can poll or stream.

A job runs the chosen engines one after another on one content image and its styles (like `nst
compare`), each from its validated config and the content at that config's size, built and run
through :mod:`nst_toolkit.api` as the command line does; it keeps per engine its state, progress, the
image as it forms (optimisation engines), the result, the time and the `nst eval` numbers. Jobs run
one at a time per worker; a failed job is marked failed with its one-line reason and the worker goes
on; a job can be cancelled while queued or running (the optimisation loop stops at its next step).
"""

from __future__ import annotations

import queue
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from torch import Tensor

from ..errors import NSTError
from ..styles import StyleSet


class Cancelled(Exception):
    """Raised inside a running engine (from its progress callback) when its job was cancelled."""


@dataclass
class EngineRun:
    name: str
    settings: dict[str, Any]  # the values of the options the page shows, as this run uses them
    config: Any = None  # the engine's validated config (None: its defaults)
    content: Tensor | None = None  # the content at this run's size (None: the job's content)
    state: str = "queued"  # queued | running | done | failed | cancelled | skipped
    step: int = 0
    total: int | None = None
    seconds: float = 0.0
    metrics: dict[str, float] = field(default_factory=dict)
    message: str = ""
    preview: Tensor | None = None  # the image as it forms (optimisation engines)
    result: Tensor | None = None
    version: int = 0  # bumped whenever the preview or the result changes

    def public(self) -> dict[str, Any]:
        return {"engine": self.name, "settings": self.settings, "state": self.state, "step": self.step,
                "total": self.total, "seconds": round(self.seconds, 2), "metrics": self.metrics,
                "message": self.message, "has_preview": self.preview is not None, "has_result": self.result is not None,
                "version": self.version}


@dataclass
class Job:
    id: str
    content: Tensor
    styles: StyleSet
    runs: list[EngineRun]
    state: str = "queued"  # queued | running | done | failed | cancelled
    message: str = ""
    created: float = field(default_factory=time.time)
    cancel: threading.Event = field(default_factory=threading.Event)

    def public(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "message": self.message,
                "engines": [r.public() for r in self.runs]}


class JobManager:
    """Holds the jobs and the worker thread that runs them, one at a time."""

    def __init__(self, max_jobs: int = 50):
        self.jobs: dict[str, Job] = {}
        self.queue: "queue.Queue[Job | None]" = queue.Queue()
        self.max_jobs = max_jobs
        self.lock = threading.Lock()
        self._vgg = None
        self.worker = threading.Thread(target=self._work, name="nst-web-worker", daemon=True)
        self.worker.start()

    def submit(self, content: Tensor, styles: StyleSet, runs: list[EngineRun]) -> Job:
        with self.lock:
            if sum(j.state in ("queued", "running") for j in self.jobs.values()) >= self.max_jobs:
                raise NSTError("too many jobs waiting; try again when one has finished")
            self._forget_old()
            job = Job(secrets.token_hex(8), content, styles, runs)
            self.jobs[job.id] = job
        self.queue.put(job)
        return job

    def get(self, job_id: str) -> Job | None:
        return self.jobs.get(job_id)

    def cancel(self, job_id: str) -> Job | None:
        job = self.jobs.get(job_id)
        if job is not None and job.state in ("queued", "running"):
            job.cancel.set()
            if job.state == "queued":
                job.state = "cancelled"
                for r in job.runs:
                    r.state = "cancelled"
        return job

    def stop(self) -> None:
        self.queue.put(None)

    def _forget_old(self, keep: int = 100) -> None:
        finished = sorted((j for j in self.jobs.values() if j.state not in ("queued", "running")), key=lambda j: j.created)
        for j in finished[: max(0, len(self.jobs) - keep)]:
            del self.jobs[j.id]

    def _vgg_shared(self):
        from ..compare import shared_vgg

        if self._vgg is None:
            self._vgg = shared_vgg()
        return self._vgg

    def _work(self) -> None:
        while True:
            job = self.queue.get()
            if job is None:
                return
            if job.cancel.is_set():
                continue
            job.state = "running"
            try:
                self._run(job)
                job.state = "cancelled" if job.cancel.is_set() else "done"
            except Exception as e:  # noqa: BLE001 - the worker must outlive any job
                job.state, job.message = "failed", _one_line(e)

    def _run(self, job: Job) -> None:
        from ..evaluate import Evaluator

        vgg = self._vgg_shared()
        evaluator = Evaluator(vgg)
        for run in job.runs:
            if job.cancel.is_set():
                run.state = "cancelled"
                continue
            run.state = "running"
            t0 = time.perf_counter()
            try:
                self._run_engine(job, run, vgg, evaluator)
                run.state = "done"
            except Cancelled:
                run.state = "cancelled"
            except Exception as e:  # noqa: BLE001 - one engine's failure is reported, the others still run
                run.state, run.message = "failed", _one_line(e)
            run.seconds = run.seconds or time.perf_counter() - t0
            run.version += 1

    @staticmethod
    def _run_engine(job: Job, run: EngineRun, vgg, evaluator) -> None:
        from .. import api, engines

        spec = engines.get(run.name)

        def on_step(step) -> None:
            if job.cancel.is_set():
                raise Cancelled()
            run.step, run.total = step.iteration, step.total
            run.preview = step.image
            run.version += 1

        content = run.content if run.content is not None else job.content
        t0 = time.perf_counter()
        engine = api.build(run.name, run.config if run.config is not None else api.configure(run.name), vgg)
        run.total = engine.planned_steps()
        styles = job.styles if spec.style_images else StyleSet.none()
        image = api.run(engine, content, styles, spec.kind, on_step)
        run.seconds = time.perf_counter() - t0
        run.result, run.step = image, run.total or 1
        style = job.styles.images[0] if len(job.styles) else None  # fast-only jobs may come without one
        run.metrics = {k: round(v, 4) for k, v in evaluator(image, content, style).items()}


def _one_line(e: Exception) -> str:
    text = str(e).strip().splitlines()
    return (text[0] if text else type(e).__name__)[:300] if isinstance(e, NSTError) else f"internal error ({type(e).__name__})"
