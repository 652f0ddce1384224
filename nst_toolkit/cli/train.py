"""`nst train-fast` and `nst train-adain`: parse, pick device and paths, show progress; the rest is the library's."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Optional

import typer

from ..catalog import default_model_path, resolve_alias
from ..engines.adain import AdaINTrainConfig
from ..engines.fast import FastTrainConfig
from ..errors import NSTError
from ..resources import SAMPLE_CONTENT_NAME, SAMPLE_STYLE_NAME
from .common import ProgressBar, command, device_for, device_param, param, quiet_param
from .params import config_from, config_params


def run_params(engine: str, max_minutes: float | None = None) -> list:
    """Options every training command has; ``max_minutes`` is the command's default time budget."""
    return [
        param("output", Optional[Path], typer.Option(
            None, "-o", "--output", help=f"Model file (default: {default_model_path(engine, 'NAME')}).")),
        param("val_image", Optional[Path], typer.Option(
            None, help=f"Photo rendered as a preview at each checkpoint (default: the built-in {SAMPLE_CONTENT_NAME}).")),
        param("resume", bool, typer.Option(False, "--resume", help="Continue from the latest checkpoint in OUT.run/.")),
        param("max_minutes", Optional[float], typer.Option(
            max_minutes, help="Stop (and save the model) after this many minutes of training; 0: no limit.")),
        param("init_from", Optional[Path], typer.Option(None, help="Start from this model's weights (fine-tune; step 0).")),
        device_param(),
        quiet_param(),
    ]


def quiet_datasets() -> None:
    """The `datasets` library draws its own bars while it indexes a folder; this command reports the data itself."""
    from datasets.utils.logging import disable_progress_bar

    disable_progress_bar()


def model_output(output: Optional[Path], engine: str, default_name: str) -> Path:
    """The model file to write: -o, else the user's models dir; checked before any training."""
    from ..imagefiles import check_writable_dir
    from ..io import check_target

    out = output or default_model_path(engine, default_name)
    if out.suffix != ".safetensors":
        raise NSTError(f"{out}: the model file must end in .safetensors")
    check_target(out)
    check_writable_dir(out.parent)
    return out


def train(task, out: Path, cfg, v: dict[str, Any], rank: int, what: str, render, lr_decay: float = 0.0) -> None:
    """Run the training loop with a progress bar and previews; print where everything went."""
    from ..images import load_image
    from ..resources import sample_content
    from ..training import preview_renderer, run_dir_for, train_to_file

    import signal

    def terminate(signum, frame):  # `kill` (SIGTERM) saves a checkpoint like Ctrl-C does
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, terminate)
    preview = None
    if rank == 0:
        val = load_image(v["val_image"] or sample_content(), 512).to(task.device)
        preview = preview_renderer(val, render)
    with ProgressBar(cfg.steps, what, enabled=(rank == 0 and not v["quiet"])) as bar:
        try:
            reached = train_to_file(
                task, out, steps=cfg.steps, lr=cfg.lr, lr_decay=lr_decay, batch_size=cfg.batch_size,
                checkpoint_every=cfg.checkpoint_every, resume=v["resume"],
                max_seconds=v["max_minutes"] * 60 if v["max_minutes"] else None, init_from=v["init_from"],
                max_grad_norm=cfg.max_grad_norm, preview=preview,
                on_step=lambda st: bar.update(st.step, {**st.losses, "img/s": st.images_per_s}))
        except KeyboardInterrupt as e:
            bar.close()
            if rank == 0:
                saved = getattr(e, "saved_step", None)  # training.TrainingInterrupted says which checkpoint is on disk
                where = run_dir_for(out) / "checkpoint.safetensors"
                typer.echo(f"nst: interrupted; the checkpoint of step {saved} is in {where}; continue with --resume"
                           if saved is not None else "nst: interrupted before any checkpoint was saved", err=True)
            raise typer.Exit(130)
    if rank == 0:
        typer.echo(f"wrote {out} (step {reached}); training checkpoint and previews in {run_dir_for(out)}", err=True)


def train_fast_command():
    params = [
        param("style", Optional[Path], typer.Option(None, "--style", help="Style image (or give --teacher).")),
        param("data", Optional[str], typer.Option(None, "--data", help=(
            "Folder of training photos, or a Hugging Face dataset id (default: the built-in photos, "
            "nst_toolkit/photos, redistributable and listed in its ATTRIBUTION.md)."))),
        param("teacher", Optional[str], typer.Option(None, help=(
            "Distil this trained fast model (name or path) into a narrower, faster one of --width; no style image."))),
        *config_params(FastTrainConfig),
        # The CPU recipe's budget: the whole command ends within 20 minutes, however fast the machine.
        *run_params("fast", max_minutes=18.0),
    ]

    def body(v: dict[str, Any]) -> None:
        from ..engines.fast.engine import stylize_padded
        from ..engines.fast.train import make_training
        from ..training import init_distributed

        style, teacher = v["style"], v["teacher"]
        if (style is None) == (teacher is None):
            raise NSTError("give either --style (train from a style image) or --teacher (distil a trained model)")
        cfg = config_from(FastTrainConfig, v)
        base, notice = resolve_alias("adain", cfg.base)  # a base may be an AdaIN model under an old name
        if notice:
            cfg = replace(cfg, base=base)
            if not v["quiet"]:
                typer.echo(f"nst: {notice}", err=True)
        cfg.validate()
        name = style.stem if style is not None else f"{Path(teacher).stem}_w{cfg.width}"
        out = model_output(v["output"], "fast", name)
        dev, rank, world = init_distributed(device_for(v["device"]))
        quiet_datasets()
        task, note = make_training(cfg, style, teacher, v["data"], dev, rank, world)
        if rank == 0 and not v["quiet"]:
            typer.echo(note, err=True)
        train(task, out, task.cfg, v, rank, "train-fast", getattr(task, "render", stylize_padded))
        budget = getattr(task, "budget", None)
        if rank == 0 and budget is not None and budget.history and not v["quiet"]:
            typer.echo(f"style weight {budget.base_weight:g} → {budget.weight:.3g}, steered by the content budget "
                       f"(distance to the photos {budget.history[-1][1]:.2f} of adain's at the last check, aim "
                       f"{budget.budget:g})", err=True)
        if rank == 0:
            from ..export import export_fast_twin

            try:
                twins = export_fast_twin(str(out))
            except NSTError as e:
                typer.echo(f"nst: no ONNX twin written ({e}); `nst fast` will run it through torch", err=True)
            else:
                if not v["quiet"]:
                    typer.echo(f"wrote {', '.join(str(t) for t in twins)}: `nst fast` runs it without torch", err=True)

    return command(params, body, "Train a feed-forward network for one style (Johnson et al. 2016), or distil one. "
                                 "Works under torchrun.")


def train_adain_command():
    params = [
        param("content", str, typer.Option(..., "--content", help="Folder of content photos, or a Hugging Face dataset id.")),
        param("style", str, typer.Option(..., "--style", help="Folder of style images, or a Hugging Face dataset id.")),
        *config_params(AdaINTrainConfig),
        *run_params("adain"),
        param("val_style", Optional[Path], typer.Option(
            None, help=f"Style image of the preview (default: the built-in {SAMPLE_STYLE_NAME}).")),
    ]

    def body(v: dict[str, Any]) -> None:
        from ..engines.adain.train import make_training, preview_renderer
        from ..images import load_image
        from ..resources import sample_style
        from ..training import init_distributed

        cfg = config_from(AdaINTrainConfig, v)
        cfg.validate()
        out = model_output(v["output"], "adain", "decoder")
        dev, rank, world = init_distributed(device_for(v["device"]))
        quiet_datasets()
        task, note = make_training(cfg, v["content"], v["style"], dev, rank, world)
        if rank == 0 and not v["quiet"]:
            typer.echo(note, err=True)
        val_style = load_image(v["val_style"] or sample_style(), 512).to(dev)
        train(task, out, cfg, v, rank, "train-adain", preview_renderer(task, val_style), lr_decay=cfg.lr_decay)

    return command(params, body, "Train an AdaIN decoder (Huang & Belongie 2017). Works under torchrun.")


def add_train_commands(app: typer.Typer) -> None:
    app.command("train-fast")(train_fast_command())
    app.command("train-adain")(train_adain_command())
