"""The one model-training loop, shared by the fast (Johnson) and AdaIN engines.

Adam with inverse-time learning-rate decay, DistributedDataParallel when a process group is up
(the CLI starts it under torchrun), checkpoints through a callback on rank 0, Ctrl-C saves a
checkpoint before it stops. The loss function draws its own batch for a given step, so resuming
at step k replays exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch
import torch.distributed as dist
from torch import Tensor, nn

from .checkpoints import optimizer_tensors, restore_optimizer
from .errors import DivergedError, NSTError, WeightsError


class TrainingInterrupted(KeyboardInterrupt):
    """Ctrl-C or SIGTERM stopped a training run. ``saved_step``: the step of the training checkpoint on disk
    when it stopped (written by this run or the one it resumed), or None when there is none."""

    def __init__(self, saved_step: int | None):
        super().__init__()
        self.saved_step = saved_step


@dataclass(frozen=True)
class TrainStep:
    """Progress report handed to ``on_step`` after every optimisation step."""

    step: int  # steps done so far (1-based), including those before a resume
    total: int
    losses: Mapping[str, float] = field(default_factory=dict)  # weighted terms and "total"
    lr: float = 0.0
    elapsed: float = 0.0  # seconds since this process started training
    images_per_s: float = 0.0  # over all ranks, since this process started


def is_main_process() -> bool:
    return not (dist.is_available() and dist.is_initialized()) or dist.get_rank() == 0


def rank_and_world() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def training_state(model: nn.Module, opt: torch.optim.Optimizer) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """Model and optimiser tensors (prefixed ``model.`` / ``optim.``) plus the optimiser's JSON part."""
    tensors = {f"model.{k}": v for k, v in model.state_dict().items()}
    opt_t, opt_info = optimizer_tensors(opt)
    tensors.update(opt_t)
    return tensors, opt_info


def train_model(
    model: nn.Module,
    loss_fn: Callable[[nn.Module, int], Mapping[str, Tensor]],
    *,
    steps: int,
    lr: float,
    lr_decay: float = 0.0,
    batch_size: int = 1,
    start_step: int = 0,
    resume: tuple[Mapping[str, Tensor], Mapping[str, Any]] | None = None,
    on_step: Callable[[TrainStep], None] | None = None,
    checkpoint_every: int = 0,
    save: Callable[[int, nn.Module, torch.optim.Optimizer], None] | None = None,
    max_seconds: float | None = None,
    max_grad_norm: float | None = None,
    resume_from: str | Path = "checkpoint",
) -> torch.optim.Optimizer:
    """Minimise ``sum(loss_fn(model, step).values())`` for steps ``start_step`` … ``steps - 1``.

    ``save(step, model, optimizer)`` is called on rank 0 every ``checkpoint_every`` steps, at the
    end, and on Ctrl-C (then KeyboardInterrupt is re-raised; one that arrives during the last save saves
    again). ``resume`` is (tensors, optimizer info) from a training checkpoint (``resume_from`` names it
    in errors: a damaged optimiser state is a WeightsError before the first step). ``max_seconds`` ends
    the run early (and saves) once this process has trained that long. Returns the optimiser.
    """
    params = [p for p in model.parameters() if p.requires_grad]  # frozen weights (e.g. train-fast --train-params norm) stay put
    opt = torch.optim.Adam(params, lr=lr)
    if resume is not None:
        restore_optimizer(opt, resume[0], resume[1], require_state=start_step > 0, source=resume_from)
    rank, world = rank_and_world()
    net: nn.Module = model
    if world > 1:
        device_ids = [model_device(model).index] if model_device(model).type == "cuda" else None
        net = nn.parallel.DistributedDataParallel(model, device_ids=device_ids)
    net.train()
    started = time.perf_counter()
    step = start_step
    try:
        while step < steps:
            cur_lr = lr / (1.0 + lr_decay * step)  # AdaIN paper's schedule; lr_decay = 0 keeps it flat
            for group in opt.param_groups:
                group["lr"] = cur_lr
            opt.zero_grad(set_to_none=True)
            terms = loss_fn(net, step)
            loss = sum(terms.values())
            if not torch.isfinite(loss):
                raise DivergedError(f"training loss became non-finite at step {step + 1}", None, step)
            loss.backward()
            if max_grad_norm:
                # A single gradient spike collapsed an unclipped TransformerNet for good (seen at
                # ~2500 steps with style weight 5–10); clipping keeps Adam's steps bounded.
                torch.nn.utils.clip_grad_norm_(params, max_grad_norm)
            opt.step()
            step += 1
            if on_step is not None:
                elapsed = time.perf_counter() - started
                losses = {k: float(v.detach()) for k, v in terms.items()}
                losses["total"] = float(loss.detach())
                on_step(TrainStep(step, steps, losses, cur_lr, elapsed, (step - start_step) * batch_size * world / max(elapsed, 1e-9)))
            if save is not None and checkpoint_every and step % checkpoint_every == 0 and step < steps and is_main_process():
                save(step, model, opt)
            if max_seconds is not None and _out_of_time(started, max_seconds, world):
                break
        if save is not None and is_main_process():
            save(step, model, opt)
    except KeyboardInterrupt:
        if save is not None and is_main_process():
            save(step, model, opt)
        raise
    if world > 1:
        dist.barrier()
    model.eval()
    return opt


def _out_of_time(started: float, max_seconds: float, world: int) -> bool:
    """Whether the time budget is spent; under DDP rank 0 decides, so all ranks stop at the same step."""
    flag = torch.tensor([float(time.perf_counter() - started >= max_seconds)])
    if world > 1:
        if dist.get_backend() == "nccl":
            flag = flag.cuda()
        dist.broadcast(flag, src=0)
    return bool(flag.item())


def model_device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


def distilled_from(teacher_sha256: str, teacher_meta: Mapping[str, Any]) -> dict[str, Any]:
    """The provenance a distilled model records about its teacher."""
    return {"sha256": teacher_sha256, "architecture": teacher_meta.get("architecture"), "step": teacher_meta.get("step")}


class TrainingTask:
    """What an engine hands to :func:`fit`: a model, its loss for a step, and checkpoint metadata."""

    engine: str
    model: nn.Module

    def loss_fn(self, net: nn.Module, step: int) -> Mapping[str, Tensor]:  # pragma: no cover - interface
        raise NotImplementedError

    def metadata(self, step: int) -> dict[str, Any]:  # pragma: no cover - interface
        raise NotImplementedError

    def restore(self, meta: Mapping[str, Any]) -> None:
        """Take back what a resumed run's checkpoint metadata holds of the task's own state (none by default)."""


def fit(
    task: TrainingTask,
    *,
    checkpoint: str | Path,
    steps: int,
    lr: float,
    lr_decay: float = 0.0,
    batch_size: int = 1,
    checkpoint_every: int = 0,
    resume: bool = False,
    on_step: Callable[[TrainStep], None] | None = None,
    on_checkpoint: Callable[[int, nn.Module], None] | None = None,
    max_seconds: float | None = None,
    init_from: str | Path | None = None,
    max_grad_norm: float | None = None,
) -> int:
    """Train ``task.model``, writing a training checkpoint (model + optimiser) to ``checkpoint``.

    With ``resume`` and an existing checkpoint, continue at its step with its optimiser state; a checkpoint
    already beyond ``steps`` is refused (nothing would be trained, yet the model would carry its step).
    ``init_from`` starts from another model file's weights instead (fine-tuning: step 0, fresh
    optimiser). Returns the step reached. Interrupted (Ctrl-C, SIGTERM), it raises
    :class:`TrainingInterrupted` with the step of the checkpoint that is on disk.
    """
    from .checkpoints import load_checkpoint, load_into, save_checkpoint

    checkpoint = Path(checkpoint)
    start, resume_state, saved = 0, None, None
    arch = task.metadata(0)["architecture"]

    def load(path: Path) -> tuple[dict, dict]:
        tensors, meta = load_checkpoint(path, task.engine)
        if meta.get("architecture") != arch:
            raise NSTError(f"{path} was trained with architecture {meta.get('architecture')}, not {arch}")
        load_into(task.model, tensors, path)
        return tensors, meta

    if resume and checkpoint.is_file():
        tensors, meta = load(checkpoint)
        start = meta.get("step")
        if type(start) is not int or start < 0:
            raise WeightsError(f"{checkpoint}: its step must be a non-negative integer; cannot resume")
        if not isinstance(meta.get("optimizer"), dict):
            raise WeightsError(f"{checkpoint}: no optimizer state; cannot resume")
        if start > steps:
            raise NSTError(f"{checkpoint} is at step {start}, beyond --steps {steps}; give --steps above {start} "
                           "to train on")
        resume_state, saved = (tensors, meta["optimizer"]), start
        task.restore(meta)
    elif init_from is not None:
        load(Path(init_from))
    reached = start

    def save(step: int, model: nn.Module, opt: torch.optim.Optimizer) -> None:
        nonlocal reached, saved
        tensors, info = training_state(model, opt)
        save_checkpoint(checkpoint, tensors, {**task.metadata(step), "optimizer": info})
        reached = saved = step  # only once the checkpoint is whole on disk
        if on_checkpoint is not None:
            on_checkpoint(step, model)

    try:
        train_model(
            task.model, task.loss_fn, steps=steps, lr=lr, lr_decay=lr_decay, batch_size=batch_size,
            start_step=start, resume=resume_state, on_step=on_step, checkpoint_every=checkpoint_every, save=save,
            max_seconds=max_seconds, max_grad_norm=max_grad_norm, resume_from=checkpoint,
        )
    except TrainingInterrupted:
        raise
    except KeyboardInterrupt:
        raise TrainingInterrupted(saved) from None
    return max(reached, start)


def init_distributed(device: torch.device) -> tuple[torch.device, int, int]:
    """Under torchrun (WORLD_SIZE > 1): start the process group and pick this rank's device.

    nccl on GPUs (one per local rank), gloo on CPUs (the cores shared out between the ranks).
    Returns (device, rank, world size); outside torchrun (device, 0, 1) and nothing is started.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return device, 0, 1
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", "0")))
        torch.cuda.set_device(device)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return device, dist.get_rank(), world


def run_dir_for(model_file: str | Path) -> Path:
    """Where a training run keeps its checkpoint and previews: MODEL.run/ beside the model file."""
    model_file = Path(model_file)
    return model_file.with_name(f"{model_file.stem}.run")


def model_part(tensors: Mapping[str, Tensor], meta: Mapping[str, Any]) -> tuple[dict[str, Tensor], dict[str, Any]]:
    """A loaded checkpoint's model: its ``model.*`` tensors and its metadata without the optimiser's part (a model
    file comes back as it is; a training checkpoint loses its optimiser state)."""
    return ({k: v for k, v in tensors.items() if k.startswith("model.")},
            {k: v for k, v in meta.items() if k != "optimizer"})


FLOAT16_MAX = 65504.0  # the largest finite float16


def half_precision(tensors: Mapping[str, Tensor]) -> dict[str, Tensor]:
    """``tensors`` as a model file stores them: every float32 or float64 tensor as float16 (half the file; the
    loaders cast back to float32, and a stylised picture moves by under 6e-3, docs/training-notes.md), except one
    holding a value beyond float16's range. Training checkpoints keep float32, so a resumed run is exact."""

    def half(v: Tensor) -> Tensor:
        wide = v.dtype in (torch.float32, torch.float64)
        return v.half() if wide and (v.numel() == 0 or float(v.abs().max()) <= FLOAT16_MAX) else v

    return {k: half(v.detach()) for k, v in tensors.items()}


def finalize(checkpoint: str | Path, out: str | Path, engine: str, extra: Mapping[str, Any] | None = None) -> Path:
    """Write the model file from a training checkpoint: the model's tensors stored as float16
    (:func:`half_precision`, as the shipped models are) and its metadata, no optimiser
    state. The checkpoint keeps float32 for ``--resume``."""
    from .checkpoints import load_checkpoint, save_checkpoint

    tensors, meta = model_part(*load_checkpoint(checkpoint, engine))
    meta.update(extra or {})
    return save_checkpoint(out, half_precision(tensors), meta)


def preview_renderer(image: Tensor, render: Callable[[nn.Module, Tensor], Tensor]) -> Callable[[nn.Module, Path], None]:
    """A checkpoint callback that saves ``render(model, image)`` to the path it is given, in eval mode."""
    from .images import save_image

    def preview(model: nn.Module, path: Path) -> None:
        was_training = model.training
        model.eval()
        with torch.no_grad():
            save_image(render(model, image), path)
        model.train(was_training)

    return preview


def train_to_file(
    task: TrainingTask,
    out: str | Path,
    *,
    resume: bool = False,
    preview: Callable[[nn.Module, Path], None] | None = None,
    **fit_options: Any,
) -> int:
    """Train ``task`` with checkpoints and previews in OUT.run/, then write the model file ``out`` (rank 0).

    ``resume`` continues from OUT.run/checkpoint.safetensors, which must exist; ``fit_options`` are
    :func:`fit`'s (steps, lr, schedule, time budget, …). Returns the step reached.
    """
    out = Path(out)
    run_dir = run_dir_for(out)
    ckpt = run_dir / "checkpoint.safetensors"
    if resume and not ckpt.is_file():
        raise NSTError(f"--resume: no checkpoint at {ckpt}")

    def on_checkpoint(step: int, model: nn.Module) -> None:
        if preview is not None:
            preview(model, run_dir / f"preview_{step:06d}.jpg")

    t0 = time.perf_counter()
    reached = fit(task, checkpoint=ckpt, resume=resume, on_checkpoint=on_checkpoint, **fit_options)
    if is_main_process():
        try:
            finalize(ckpt, out, task.engine, {"wall_seconds_last_session": round(time.perf_counter() - t0, 1)})
        except KeyboardInterrupt:
            raise TrainingInterrupted(reached) from None  # the checkpoint of the last step is on disk
    return reached
