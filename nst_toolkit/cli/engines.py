"""One command per registered engine, made from its registry entry and its config's fields.

Optimisation engines (`nst gatys`, `nst improved`): one content, styles, one output, snapshots,
GIF, loss plot, manifest. One-pass engines (`nst fast`, `nst adain`): images or folders in, one
output image or a folder out; styles are encoded once for a folder.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from ..engines.registry import EngineSpec
from ..errors import NSTError
from .common import (ProgressBar, command, device_for, device_param, expand_inputs, outputs_for, param, parse_floats,
                     quiet_param)
from .params import config_from, config_params


STDIN, STDOUT = Path("<stdin>"), Path("<stdout>")  # stand-ins for "-" as input / output


def current_model(spec: EngineSpec, cfg: Any, quiet: bool) -> Any:
    """``cfg`` with an old model name the user typed replaced by today's, said in one line on stderr."""
    model = getattr(cfg, "model", None)
    if model not in spec.model_aliases:
        return cfg
    from dataclasses import replace

    from ..catalog import resolve_alias

    new, notice = resolve_alias(spec.name, model)
    if not quiet:
        typer.echo(f"nst: {notice}", err=True)
    return replace(cfg, model=new)


def style_params(spec: EngineSpec) -> list:
    if not spec.style_images:
        return []
    many = spec.max_styles is None or spec.max_styles > 1
    out = [
        param("style_opt", Optional[List[Path]], typer.Option(None, "--style", help="A style image (repeatable).")),
    ]
    if many:
        out += [
            param("style_weights", Optional[str], typer.Option(
                None, help="Blend weights of several styles, one each, summing to 1 (default: equal).")),
            param("mask", Optional[Path], typer.Option(
                None, help="Mask image: the first style where white, the second where black.")),
        ]
    return out


def style_paths(values: dict[str, Any]) -> list[Path]:
    """The style images named as arguments and with --style, in order."""
    return list(values.get("styles") or []) + list(values.get("style_opt") or [])


def quick_ok(spec: EngineSpec, values: dict[str, Any]) -> bool:
    """Whether the engine's torch-free path may be tried: it has one, on the CPU, the style images it takes (one,
    or none when the style is in the model), no blend or mask (the engine's own check then looks at the model, the
    options and the images)."""
    styles = len(style_paths(values))
    return (spec.torch_free is not None and values["device"] in ("auto", "cpu") and styles == int(spec.style_images)
            and not values.get("mask") and not values.get("style_weights"))


def load_styles(spec: EngineSpec, values: dict[str, Any], device) -> tuple[Any, list[Path]]:
    """The validated StyleSet from positional and --style images, --style-weights and --mask."""
    from ..images import load_image
    from ..styles import StyleSet

    if not spec.style_images:
        return StyleSet.none(), []
    paths = style_paths(values)
    if not paths:
        raise NSTError(f"{spec.name} needs at least one style image")
    if spec.max_styles is not None and len(paths) > spec.max_styles:
        raise NSTError(f"{spec.name} takes at most {spec.max_styles} style image(s), got {len(paths)}")
    weights = parse_floats(values.get("style_weights"), "style-weights")
    mask = load_image(values["mask"], min_side=1) if values.get("mask") is not None else None
    styles = StyleSet.create([load_image(p) for p in paths], weights, mask)
    return styles.to(device), paths


def style_inputs(paths: list[Path], values: dict[str, Any]) -> dict[str, Any]:
    from ..io import sha256_file

    return {"styles": [str(p) for p in paths], "styles_sha256": [sha256_file(p) for p in paths],
            "style_weights": values.get("style_weights"), "mask": str(values["mask"]) if values.get("mask") else None}


def optimize_command(spec: EngineSpec):
    params = [
        param("content", Path, typer.Argument(..., help="Content image.")),
        param("styles", Optional[List[Path]], typer.Argument(None, help="Style image(s); more with --style.")),
        param("output", Path, typer.Option(..., "-o", "--output", help="Output image (.png, .jpg, .webp, …).")),
        *style_params(spec),
        *config_params(spec.config),
        device_param(),
        param("save_every", int, typer.Option(0, help="Write a snapshot every N iterations (0: none).")),
        param("gif", bool, typer.Option(False, "--gif", help="Write an animated GIF of the progress (OUT.gif).")),
        param("plot", bool, typer.Option(False, "--plot", help="Write a PNG plot of the losses (OUT_losses.png).")),
        param("manifest", bool, typer.Option(True, help="Write OUT.json with every setting, versions, timings, losses.")),
        quiet_param(),
    ]

    def body(v: dict[str, Any]) -> None:
        from .. import api
        from ..imagefiles import check_output_path, image_size
        from ..io import sha256_file
        from ..memory import output_size
        from ..runs import RecordOptions, record_run

        cfg = config_from(spec.config, v)
        if hasattr(cfg, "validate"):
            cfg.validate()
        out = check_output_path(v["output"])
        if v["save_every"] < 0:
            raise NSTError("save-every must not be negative")
        if hasattr(cfg, "check_memory"):  # before the image is even resized: a huge --size is refused here
            cfg.check_memory(*output_size(*image_size(v["content"]), getattr(cfg, "size", None)), spec.name)
        dev = device_for(v["device"])
        content = api.as_tensor(v["content"], getattr(cfg, "size", None)).to(dev)
        styles, paths = load_styles(spec, v, dev)
        engine = api.build(spec.name, cfg)
        inputs = {"content": str(v["content"]), "content_sha256": sha256_file(v["content"]), **style_inputs(paths, v)}
        options = RecordOptions(v["save_every"], v["gif"], v["plot"], v["manifest"])
        with ProgressBar(engine.planned_steps(), spec.name, enabled=not v["quiet"]) as bar:
            result = record_run(engine, content, styles, out, options, inputs=inputs, device=str(dev),
                                on_step=bar.step)
        if not v["quiet"]:
            typer.echo(f"wrote {out} in {result.seconds:.1f} s", err=True)

    return command(params, body, spec.summary)


def one_pass_command(spec: EngineSpec):
    if spec.style_images:
        inputs = [
            param("content", Path, typer.Argument(..., help="Content image, folder of images, or - for standard input.")),
            param("styles", Optional[List[Path]], typer.Argument(None, help="Style image(s); more with --style.")),
        ]
    else:
        inputs = [param("content", List[Path], typer.Argument(..., help="Content image(s), folder(s), or - for standard input."))]
    params = [
        *inputs,
        param("output", str, typer.Option(
            ..., "-o", "--output", help=("Output image (.png, .jpg, …); a folder for several inputs, a folder of "
                                          "inputs or a name ending in /; or - for PNG on standard output."))),
        *style_params(spec),
        *config_params(spec.config),
        device_param(),
        quiet_param(),
    ]

    def body(v: dict[str, Any]) -> None:
        from ..engines.registry import ALL_MODELS
        from ..imagefiles import check_input_file
        from ..memory import return_freed_memory_promptly

        return_freed_memory_promptly()  # large photos go through in tiles: keep the resident size near what is in use
        cfg = current_model(spec, config_from(spec.config, v), v["quiet"])
        if hasattr(cfg, "validate"):
            cfg.validate()
        contents = v["content"] if isinstance(v["content"], list) else [v["content"]]
        stdin = [p for p in contents if str(p) == "-"]
        to_stdout = str(v["output"]) == "-"
        if stdin and len(contents) > 1:
            raise NSTError("- (standard input) must be the only input")
        files = [STDIN] if stdin else expand_inputs(contents)
        if to_stdout and len(files) > 1:
            raise NSTError(f"{len(files)} inputs cannot all go to standard output; give an output folder")
        model = getattr(cfg, "model", None)
        sheet = model == ALL_MODELS and spec.model_kind is not None  # every model on one photo, one grid
        if sheet and (len(files) > 1 or to_stdout):
            raise NSTError(f"--model {ALL_MODELS} renders one photo into one image: give one input and -o SHEET.png")
        if to_stdout:
            outs = [STDOUT]
        elif stdin:
            from ..imagefiles import check_output_path

            outs = [check_output_path(v["output"])]
        else:
            outs = outputs_for(files, v["output"], Path(model).stem if model and not spec.style_images else spec.name,
                               from_folder=any(p.is_dir() for p in contents))
        fits = size_check(spec, cfg)
        for src in files:  # header reads only: a size that cannot fit is refused before any work
            if src is not STDIN:
                fits(src)
        for extra in [*style_paths(v), *([v["mask"]] if v.get("mask") is not None else [])]:
            check_input_file(extra)  # a pipe given as a style would block whatever reads it first
        quick = spec.torch_free(cfg, files, style_paths(v)) if not (sheet or stdin or to_stdout) and quick_ok(spec, v) else None
        if quick is not None:  # no torch: its import alone costs seconds, more than a light model's pass
            from ..imagefiles import save_array

            process, write, how = quick, save_array, ", onnxruntime"
        else:
            process, write = torch_pipeline(spec, cfg, v, files, outs, sheet)
            how = ""
            if process is None:
                return
        many = len(files) > 1
        with ProgressBar(len(files), spec.name, enabled=many and not v["quiet"], unit="img") as bar:
            for i, (src, dst) in enumerate(zip(files, outs)):
                t0 = time.perf_counter()
                y = process(src)
                ms = (time.perf_counter() - t0) * 1000
                write(y, dst)
                bar.update(i + 1)
                if not v["quiet"] and not many:
                    typer.echo(f"wrote {'standard output' if dst is STDOUT else dst} ({ms:.0f} ms{how})", err=True)
        if not v["quiet"] and many:
            typer.echo(f"wrote {len(outs)} images to {v['output']}", err=True)

    return command(params, body, spec.summary)


def torch_pipeline(spec: EngineSpec, cfg: Any, v: dict[str, Any], files: list[Path], outs: list[Path], sheet: bool):
    """(load and stylise one input, write one result) on the torch engine; for a sheet, draw it and return (None, None)."""
    import torch

    from .. import api
    from ..images import load_image, png_bytes, save_image

    dev = device_for(v["device"])
    styles, _ = load_styles(spec, v, dev)
    size = getattr(cfg, "size", None)

    def load(src: Path) -> torch.Tensor:
        if src is not STDIN:
            return load_image(src, size).to(dev)
        data = sys.stdin.buffer.read()
        size_check(spec, cfg)(data)
        return load_image(data, size).to(dev)

    if sheet:
        from ..imagefiles import save_pil
        from ..sheet import MAX_SIDE, model_sheet

        result = model_sheet(spec.name, cfg, load(files[0]), styles, max_side=None if size else MAX_SIDE)  # --size wins
        save_pil(result.image, outs[0])
        if not v["quiet"]:
            for name, why in result.skipped:
                typer.echo(f"nst: skipped model {name}: {why}", err=True)
            n = len(result.models)
            typer.echo(f"wrote {outs[0]}: the photo and {n} model{'s' * (n != 1)}", err=True)
        return None, None
    run = api.build(spec.name, cfg).bind(styles)

    def process(src: Path) -> torch.Tensor:
        y = run(load(src))
        if dev.type == "cuda":
            torch.cuda.synchronize()
        return y

    def write(y: torch.Tensor, dst: Path) -> None:
        if dst is STDOUT:
            sys.stdout.buffer.write(png_bytes(y))
            sys.stdout.buffer.flush()
        else:
            save_image(y, dst)

    return process, write


def size_check(spec: EngineSpec, cfg: Any) -> Callable[[Path | bytes], None]:
    """A check that refuses an input (a file, or the encoded bytes read from standard input) whose result at
    the configured size would not fit in the memory available now; it reads the input's header only."""
    from .. import api
    from ..imagefiles import image_size
    from ..memory import output_size

    check = api.memory_check(spec.name, cfg)
    return lambda src: check(*output_size(*image_size(src), getattr(cfg, "size", None)))


def add_engine_commands(app: typer.Typer, only: str | None = None) -> None:
    from .. import engines

    if only is not None:
        engines.registry.load(only)
    for spec in [engines.get(only)] if only is not None else engines.specs():
        make = optimize_command if spec.kind == "optimize" else one_pass_command
        app.command(spec.name)(make(spec))
