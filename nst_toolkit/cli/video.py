"""`nst video`: stylise a clip frame by frame with any one-pass engine (fast, adain, …)."""

from __future__ import annotations

import inspect
import os
import re
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from ..errors import NSTError
from ..options import build_config, settable_fields
from .common import ProgressBar, command, device_for, device_param, param, parse_floats, quiet_param
from .engines import current_model
from .params import config_params

# Chosen on a zoom clip of a held-out photo with adain, the least steady pair (README, "video").
STABILIZE, DENOISE = 0.9, 0.5


def engine_option_params(specs) -> list[inspect.Parameter]:
    """The options of every one-pass engine, once each, defaulting to 'the chosen engine's default'."""
    seen: dict[str, inspect.Parameter] = {}
    for spec in specs:
        for p in config_params(spec.config):
            if p.name not in seen:
                opt = p.default
                opt.default = None  # None: the engine's own default
                opt.help = opt.help if "default" in opt.help else f"{opt.help} (default: the engine's)"
                seen[p.name] = p.replace(annotation=Optional[p.annotation] if p.annotation is not bool else Optional[bool])
    if "size" in seen:  # a number (the longest side) or a height such as 720p, parsed once the clip's shape is known
        seen["size"] = param("size", Optional[str], typer.Option(None, help=SIZE_HELP))
    return list(seen.values())


SIZE_HELP = ("Size of the output frames: a number is the longest side in px (a 640×360 clip at 360 → 360×202); "
             "360p, 720p, 1080p … is the frame's height (640×360 at 720p → 1280×720). Default: the engine's size, "
             "as a longest side.")


def frame_size(text: str, width: int, height: int) -> int:
    """The longest side (what the engines' ``size`` means) for ``--size`` as typed: ``N`` is the longest side,
    ``Np`` the frame's height, turned into the longest side that gives exactly that height for a
    ``width``×``height`` clip."""
    from ..memory import output_size

    m = re.fullmatch(r"\s*(\d+)\s*([pP]?)\s*", text)
    if m is None:
        raise NSTError(f"size must be the longest side in px (e.g. 512) or a frame height such as 720p, not '{text}'")
    n = int(m.group(1))
    if n <= 0:
        raise NSTError(f"size must be positive, not {text.strip()}")
    if not m.group(2):
        return n
    longest = round(n * max(width, height) / height)
    for candidate in (longest, longest - 1, longest + 1):  # rounding both ways can miss the height by one
        if candidate > 0 and output_size(width, height, candidate)[1] == n:
            return candidate
    return max(1, longest)


def video_command():
    from .. import engines

    one_pass = [s for s in engines.specs() if s.kind == "one-pass"]
    params = [
        param("input", Path, typer.Argument(..., help="Video file (mp4, mov, mkv, webm, avi, …), animated GIF or folder of frames.")),
        param("output", str, typer.Option(..., "-o", "--output", help=(
            "Output .mp4/.mov/.mkv/.webm/.gif, or a folder for PNG frames (a name without extension, or ending in /)."))),
        param("engine", str, typer.Option(one_pass[0].name, help=f"One-pass engine: {' | '.join(s.name for s in one_pass)}.")),
        param("style_opt", Optional[List[Path]], typer.Option(None, "--style", help="Style image (repeatable; engines that take styles).")),
        param("style_weights", Optional[str], typer.Option(None, help="Blend weights of several styles, summing to 1.")),
        param("stabilize", float, typer.Option(STABILIZE, help=(
            "How much of the previous stylised frame is kept where the scene stands still (0: off, below 1)."))),
        param("denoise", float, typer.Option(DENOISE, help=(
            "How much of the previous input frame is mixed into the frame the network sees where the scene "
            "stands still, so sensor noise does not become flickering texture (0: off, below 1)."))),
        param("fps", Optional[float], typer.Option(None, help="Frame rate of a folder of frames (default 24).")),
        *engine_option_params(one_pass),
        device_param(),
        quiet_param(),
    ]

    def body(v: dict[str, Any]) -> None:
        from .. import api
        from ..memory import output_size
        from ..stabilize import Stabilizer
        from ..video import ClipWriter, even, keep_freed_frames, open_clip, stylized_frames

        spec = engines.get(v["engine"])
        if spec.kind != "one-pass":
            raise NSTError(f"nst video takes a one-pass engine ({', '.join(s.name for s in one_pass)}), not {spec.name}")
        names = {f.name for f in settable_fields(spec.config)}
        given = {k: val for k, val in v.items() if k in names and val is not None}
        stray = sorted(k for s in one_pass for k in {f.name for f in settable_fields(s.config)}
                       if k not in names and v.get(k) is not None)
        if stray:
            raise NSTError(f"--{stray[0].replace('_', '-')} is not an option of the {spec.name} engine")
        ClipWriter.check(v["output"])
        keep_freed_frames()
        info, _ = open_clip(v["input"], v["fps"])  # the frames are opened below, at the size now known
        if "size" in given:
            given["size"] = frame_size(given["size"], info.width, info.height)
        cfg = current_model(spec, build_config(spec.config, given), v["quiet"])
        if hasattr(cfg, "validate"):
            cfg.validate()
        size = getattr(cfg, "size", None)
        width, height = output_size(info.width, info.height, size)
        api.check_memory(spec.name, cfg, width, height)
        stabilizer = Stabilizer(v["stabilize"], v["denoise"])
        paths = list(v["style_opt"] or [])
        if spec.style_images and not paths:
            raise NSTError(f"{spec.name} needs a style image: --style PAINTING")
        if paths and not spec.style_images:
            raise NSTError(f"the {spec.name} engine takes no style images (its style is in the model)")
        run, how, side_by_side = frame_pass(spec, cfg, v, paths,
                                            (even(width), even(height)) if size is not None else (width, height))
        workers = frame_workers(spec.name, cfg, width * height) if side_by_side else 1
        _, frames = open_clip(v["input"], v["fps"], size)
        with ProgressBar(info.frames, f"video {spec.name}", enabled=not v["quiet"], unit="frame") as bar, \
                ClipWriter(v["output"], info.fps, audio_from=info.source if info.audio else None) as writer:
            for i, y in enumerate(stylized_frames(frames, run, stabilizer, workers)):
                writer.write(y)
                bar.update(i + 1)
        if not v["quiet"]:
            typer.echo(f"wrote {v['output']}: {writer.count} frames at {float(info.fps):.3g} fps"
                       f"{' with audio' if info.audio and writer.kind not in ('gif', 'avi', 'folder') else ''}{how}",
                       err=True)

    return command(params, body, "Stylise a video, an animated GIF or a folder of frames with a one-pass engine, "
                                 "streaming frame by frame, keeping frame rate and audio, with flicker reduction.")


def frame_pass(spec, cfg: Any, v: dict[str, Any], paths: list[Path],
               size: tuple[int, int]) -> tuple[Callable, str, bool]:
    """(the engine as a function from a frame, a 1×3×H×W float32 array, to its result; how it runs, for the last
    line; whether several frames may go through it at once): the engine's torch-free path on the CPU where it
    serves this call, one thread a pass, else the torch engine on the device, one frame at a time."""
    if (spec.torch_free_frames is not None and v["device"] in ("auto", "cpu") and not v["style_weights"]
            and len(paths) == int(spec.style_images)):
        run = spec.torch_free_frames(cfg, paths, size, 1)
        if run is not None:  # no torch: its import alone costs seconds, as long as a short clip's whole pass
            return run, " (onnxruntime)", True
    import torch

    from .. import api
    from ..images import load_image
    from ..styles import StyleSet

    dev = device_for(v["device"])
    if spec.style_images:
        styles = StyleSet.create([load_image(p) for p in paths], parse_floats(v["style_weights"], "style-weights"))
    else:
        styles = StyleSet.none()
    engine = api.build(spec.name, cfg).bind(styles.to(dev))

    def run(frame):
        with torch.inference_mode():
            return engine(torch.from_numpy(frame).to(dev)).cpu().numpy()

    return run, "", False


def frame_workers(engine: str, cfg: Any, pixels: int) -> int:
    """Frames through a one-thread pass at once: one per core this process may use, at most four, and no more
    than the memory available now holds (each pass holds its own activations: 360p 0.25 GiB, 720p 0.55)."""
    from ..catalog import activation_bytes_per_pixel
    from ..memory import BASE_BYTES, IMAGE_BYTES_PER_PIXEL, SAFETY, available_bytes

    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    per_pass = (IMAGE_BYTES_PER_PIXEL + (activation_bytes_per_pixel(engine, cfg) or 0.0)) * pixels
    room = available_bytes() * SAFETY - BASE_BYTES
    return max(1, min(4, cores, int(room // per_pass) if per_pass > 0 else cores))


def add_video_commands(app: typer.Typer) -> None:
    app.command("video")(video_command())
