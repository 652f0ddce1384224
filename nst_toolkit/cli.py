"""The `nst` command line: the only place that prints, picks devices, seeds and output paths."""

from __future__ import annotations

import functools
import os
import sys
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, List, Optional

import typer

from . import __version__
from .engines.adain import AdaINConfig, AdaINTrainConfig
from .engines.fast import FastConfig, FastTrainConfig
from .engines.gatys import GatysConfig
from .engines.improved import ImprovedConfig
from .checkpoints import model_files, sha256_file, user_models_dir
from .errors import DivergedError, NSTError

app = typer.Typer(
    help="Neural style transfer: gatys, improved, fast (feed-forward) and adain engines on one VGG-19 core.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

SAMPLES = Path(__file__).resolve().parent / "samples"
SAMPLE_CONTENT = SAMPLES / "machu_picchu.jpg"
SAMPLE_STYLE = SAMPLES / "great_wave.jpg"
G, I, FT, FC, AT, AC = GatysConfig(), ImprovedConfig(), FastTrainConfig(), FastConfig(), AdaINTrainConfig(), AdaINConfig()


# ------------------------------------------------------------------ helpers


def fail(message: str) -> None:
    typer.echo(f"nst: error: {message}", err=True)
    raise typer.Exit(2)


def handle_errors(fn: Callable) -> Callable:
    """Turn user-facing errors into one stderr line and exit code 2; never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except NSTError as e:  # DivergedError included
            fail(str(e))
        except KeyboardInterrupt:
            typer.echo("nst: interrupted", err=True)
            raise typer.Exit(130)

    return wrapper


def pick_device(name: str):
    import torch

    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name not in ("cpu", "cuda", "mps") and not name.startswith("cuda:"):
        raise NSTError(f"device must be auto, cpu, cuda or mps, not '{name}'")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise NSTError("CUDA was asked for but is not available")
    if name == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise NSTError("MPS was asked for but is not available")
    dev = torch.device(name)
    return dev


def setup_torch(device) -> None:
    """Global torch settings are the CLI's business, never the engines'."""
    import torch

    if device.type == "cuda":
        # The CPU only cuts crops and steers the GPU: a few threads avoid OpenMP oversubscription
        # when several trainings share a machine (measured: 2 s/step with 6 × 16 threads).
        if "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(min(4, torch.get_num_threads()))
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def split_csv(text: Optional[str]) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip()) if text else ()


def parse_floats(text: Optional[str], what: str) -> Optional[tuple[float, ...]]:
    if not text:
        return None
    try:
        return tuple(float(t) for t in split_csv(text))
    except ValueError:
        raise NSTError(f"{what} must be comma-separated numbers, not '{text}'") from None


def side_path(out: Path, suffix: str) -> Path:
    """A file beside ``out``: out.png → out.<suffix> (suffix may hold its own extension)."""
    return out.with_name(f"{out.stem}{suffix}")


class ProgressBar:
    """tqdm bar fed by the engines' step callbacks; shows the loss terms."""

    def __init__(self, total: int, desc: str, enabled: bool = True):
        from tqdm import tqdm

        self.bar = tqdm(total=total, desc=desc, unit="it", dynamic_ncols=True, disable=not enabled, file=sys.stderr)

    def update(self, n: int, losses: dict[str, float]) -> None:
        self.bar.n = n
        self.bar.set_postfix({k: f"{v:.3g}" for k, v in losses.items()}, refresh=False)
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


# ------------------------------------------------------------------ pixel optimisation (gatys / improved)


class RunRecorder:
    """Collects what the CLI writes around a pixel-optimisation run: snapshots, GIF frames, losses."""

    def __init__(self, out: Path, save_every: int, gif: bool, gif_every: int, total: int, desc: str, quiet: bool):
        self.out, self.save_every, self.gif, self.gif_every = out, save_every, gif, gif_every
        self.frames: list = []
        self.history: list[dict[str, float]] = []
        self.snapshots: list[str] = []
        self.bar = ProgressBar(total, desc, enabled=not quiet)
        self.last_good = None

    def __call__(self, step) -> None:
        from .images import save_image

        self.history.append(dict(step.losses))
        self.last_good = step.image
        self.bar.update(step.iteration, step.losses)
        if self.save_every and step.iteration % self.save_every == 0:
            p = side_path(self.out, f"_{step.iteration:04d}.png")
            save_image(step.image, p)
            self.snapshots.append(str(p))
        if self.gif and (step.iteration % self.gif_every == 0 or step.iteration == 1):
            self.frames.append(step.image.cpu())


def run_pixel_engine(engine, content, style, out: Path, config, *, save_every: int, gif: bool, plot: bool,
                     manifest: bool, quiet: bool, total: int,
                     desc: str, inputs: dict[str, Any], device) -> None:
    """Shared CLI flow of gatys and improved: progress, snapshots, GIF, plot, manifest, NaN handling."""
    from .images import save_image
    from .report import environment, plot_losses, save_gif, write_json

    rec = RunRecorder(out, save_every, gif, max(1, total // 24), total, desc, quiet)
    t0 = time.perf_counter()
    try:
        result = engine.stylize(content, style, on_step=rec)
    except DivergedError as e:
        rec.bar.close()
        good = e.last_good if e.last_good is not None else rec.last_good
        if good is not None:
            p = side_path(out, ".last_good.png")
            save_image(good, p)
            raise DivergedError(f"{e}; stopped, last good image kept in {p}") from None
        raise
    wall = time.perf_counter() - t0
    rec.bar.close()
    save_image(result, out)
    written = [str(out)] + rec.snapshots
    if gif and rec.frames:
        rec.frames.append(result.cpu())
        written.append(str(save_gif(rec.frames, side_path(out, ".gif"))))
    if plot and rec.history:
        written.append(str(plot_losses(rec.history, side_path(out, "_losses.png"), title=desc)))
    if manifest:
        data = {
            "engine": engine.name,
            "output": str(out),
            "inputs": inputs,
            "config": config.to_dict(),
            "device": str(device),
            "iterations_run": len(rec.history),
            "wall_seconds": round(wall, 3),
            "seconds_per_iteration": round(wall / max(1, len(rec.history)), 4),
            "final_losses": rec.history[-1] if rec.history else {},
            "files": written,
            "environment": environment(),
        }
        write_json(side_path(out, ".json"), data)
    if not quiet:
        typer.echo(f"wrote {out} in {wall:.1f} s", err=True)


@app.command()
@handle_errors
def gatys(
    content: Path = typer.Argument(..., help="Content image."),
    style: Path = typer.Argument(..., help="Style image."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image (.png, .jpg, .webp, …)."),
    size: int = typer.Option(G.size, help="Longest side of the output, px."),
    content_layers: str = typer.Option(",".join(G.content_layers), help="Comma-separated VGG layer names."),
    style_layers: str = typer.Option(",".join(G.style_layers), help="Comma-separated VGG layer names."),
    style_layer_weights: Optional[str] = typer.Option(None, help="Comma-separated weight per style layer (default equal)."),
    content_weight: float = typer.Option(G.content_weight, help="Weight of the content loss."),
    style_weight: float = typer.Option(G.style_weight, help="Weight of the style loss."),
    tv_weight: float = typer.Option(G.tv_weight, help="Weight of the total-variation loss."),
    init: str = typer.Option(G.init, help="Start from: content | noise | style."),
    optimizer: str = typer.Option(G.optimizer, help="lbfgs | adam."),
    iterations: int = typer.Option(G.iterations, help="Optimisation steps."),
    lr: Optional[float] = typer.Option(G.lr, help="Step size (default: 1 for L-BFGS, 0.02 for Adam)."),
    style_scale: float = typer.Option(G.style_scale, help="Style image size relative to the output."),
    pooling: str = typer.Option(G.pooling, help="VGG pooling: max | avg."),
    vgg_weights: str = typer.Option(G.weights, help="bundled | torchvision | path to a VGG-19 state_dict."),
    normalize_layers: bool = typer.Option(G.normalize_layers, help="Make each layer's loss relative to its target."),
    preserve_color: str = typer.Option("none", help="none | luminance | histogram."),
    seed: int = typer.Option(G.seed, help="Seed for the noise init."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    save_every: int = typer.Option(0, help="Write a snapshot every N iterations (0: none)."),
    gif: bool = typer.Option(False, "--gif", help="Write an animated GIF of the progress (OUT.gif)."),
    plot: bool = typer.Option(False, "--plot", help="Write a PNG plot of the losses (OUT_losses.png)."),
    manifest: bool = typer.Option(True, help="Write OUT.json with every setting, versions, timings, losses."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
):
    """Gatys et al. 2016: optimise the pixels for content + Gram style + total variation."""
    cfg = GatysConfig(
        size=size, content_layers=split_csv(content_layers), style_layers=split_csv(style_layers),
        style_layer_weights=parse_floats(style_layer_weights, "style-layer-weights"), content_weight=content_weight,
        style_weight=style_weight, tv_weight=tv_weight, init=init, optimizer=optimizer, iterations=iterations, lr=lr,
        style_scale=style_scale, pooling=pooling, weights=vgg_weights, normalize_layers=normalize_layers, seed=seed,
    )
    _run_gatys_like("gatys", cfg, content, style, output, preserve_color, device, save_every, gif, plot, manifest, quiet)


def _run_gatys_like(kind, cfg, content, style, output, preserve_color, device, save_every, gif, plot, manifest, quiet,
                    extra_inputs: dict | None = None, more_styles: list | None = None, mask: Path | None = None):
    from . import colour
    from .images import check_output_path, load_image

    if preserve_color not in colour.MODES:
        raise NSTError(f"preserve-color must be one of {', '.join(colour.MODES)}, not '{preserve_color}'")
    cfg.validate()
    out = check_output_path(output)
    if save_every < 0:
        raise NSTError("save-every must not be negative")
    dev = pick_device(device)
    setup_torch(dev)
    c = load_image(content, cfg.size).to(dev)
    s = load_image(style).to(dev)
    if kind == "gatys":
        from .engines.gatys import GatysEngine

        engine = ColourWrapped(GatysEngine(cfg), preserve_color)
        total = cfg.iterations
    else:
        from .engines.improved import ImprovedEngine

        extra = [colour.prepare_pair(preserve_color, c, load_image(p).to(dev))[1] for p in (more_styles or [])]
        m = load_image(mask, min_side=1).mean(dim=1, keepdim=True).to(dev) if mask is not None else None
        engine = ColourWrapped(ImprovedEngine(cfg, styles=extra, mask=m), preserve_color)
        total = engine.inner.planned_iterations()
    inputs = {"content": str(content), "style": str(style), "content_sha256": sha256_file(content),
              "style_sha256": sha256_file(style), "preserve_color": preserve_color, **(extra_inputs or {})}
    run_pixel_engine(engine, c, s, out, cfg, save_every=save_every, gif=gif, plot=plot, manifest=manifest,
                     quiet=quiet, total=total, desc=kind, inputs=inputs, device=dev)


class ColourWrapped:
    """Applies a colour-preservation mode around any engine (shared colour functions)."""

    def __init__(self, inner, mode: str):
        self.inner, self.mode, self.name = inner, mode, inner.name

    def stylize(self, content, style, *, on_step=None):
        from . import colour

        c, s = colour.prepare_pair(self.mode, content, style)
        return colour.finish(self.mode, self.inner.stylize(c, s, on_step=on_step), content)


@app.command()
@handle_errors
def improved(
    content: Path = typer.Argument(..., help="Content image."),
    styles: Optional[List[Path]] = typer.Argument(None, help="Style image(s); more with --style."),
    style_opt: Optional[List[Path]] = typer.Option(None, "--style", help="A style image (repeatable)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image."),
    size: int = typer.Option(I.size, help="Longest side of the output, px."),
    style_weights: Optional[str] = typer.Option(None, help="Blend weights of several styles, e.g. 0.7,0.3."),
    mask: Optional[Path] = typer.Option(None, help="Mask: first style where white, second where black."),
    preset: str = typer.Option(I.preset, help="paper | inetwork (titu1994's INetwork variant)."),
    all_layers: bool = typer.Option(I.all_layers, help="Style from all 16 conv layers (else Gatys's five)."),
    shift: float = typer.Option(I.shift, help="Activation shift s in the Gram matrix of F + s (0: off)."),
    geometric_weights: bool = typer.Option(I.geometric_weights, help="Geometric per-layer style weights."),
    chain: bool = typer.Option(I.chain, help="Correlation chain between adjacent layers."),
    coarse_to_fine: bool = typer.Option(I.coarse_to_fine, help="Optimise from start-size up to size."),
    start_size: int = typer.Option(I.start_size, help="First scale's longest side, px."),
    scale_factor: float = typer.Option(I.scale_factor, help="Growth factor between scales."),
    iterations: int = typer.Option(I.iterations, help="Iterations at the final scale."),
    coarse_iterations: int = typer.Option(I.coarse_iterations, help="Iterations at the first scale."),
    early_stop: float = typer.Option(I.early_stop, help="Relative improvement over the window below which a scale stops (0: off)."),
    early_stop_window: int = typer.Option(I.early_stop_window),
    content_weight: float = typer.Option(I.content_weight),
    style_weight: float = typer.Option(I.style_weight),
    tv_weight: float = typer.Option(I.tv_weight),
    style_scale: float = typer.Option(I.style_scale, help="Style image size relative to the output."),
    init: str = typer.Option(I.init, help="content | noise | style."),
    optimizer: str = typer.Option(I.optimizer, help="lbfgs | adam."),
    preserve_color: str = typer.Option("none", help="none | luminance | histogram."),
    vgg_weights: str = typer.Option(I.weights),
    seed: int = typer.Option(I.seed),
    device: str = typer.Option("auto"),
    save_every: int = typer.Option(0, help="Write a snapshot every N iterations (0: none)."),
    gif: bool = typer.Option(False, "--gif"),
    plot: bool = typer.Option(False, "--plot"),
    manifest: bool = typer.Option(True),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Improved Gatys (Novak & Nikulin 2016) with coarse-to-fine, colour control, several styles and masks."""
    from .engines.improved import ImprovedConfig

    all_styles = list(styles or []) + list(style_opt or [])
    if not all_styles:
        raise NSTError("at least one style image is needed")
    cfg = ImprovedConfig(
        size=size, all_layers=all_layers, shift=shift, geometric_weights=geometric_weights, chain=chain, preset=preset,
        content_weight=content_weight, style_weight=style_weight, tv_weight=tv_weight, coarse_to_fine=coarse_to_fine,
        start_size=start_size, scale_factor=scale_factor, iterations=iterations, coarse_iterations=coarse_iterations,
        early_stop=early_stop, early_stop_window=early_stop_window, init=init, optimizer=optimizer,
        style_scale=style_scale, style_blend=parse_floats(style_weights, "style-weights"), weights=vgg_weights, seed=seed,
    )
    _run_gatys_like("improved", cfg, content, all_styles[0], output, preserve_color, device, save_every, gif, plot,
                    manifest, quiet, extra_inputs={"styles": [str(p) for p in all_styles], "mask": str(mask) if mask else None},
                    more_styles=all_styles[1:], mask=mask)


# ------------------------------------------------------------------ compare / demo / eval / features


def _compare_to_dir(content: Path, style: Path, out_dir: Path, methods: str, size: int, seed: int,
                    sets: Optional[List[str]], sweep: Optional[str], device: str, quiet: bool, title: str) -> None:
    from . import compare as cmp
    from .images import check_writable_dir, load_image, make_grid, save_image, save_pil
    from .report import environment, write_json

    method_list = list(split_csv(methods)) or list(cmp.METHODS)
    settings: dict[str, Any] = {}
    for item in sets or []:
        name, vals = cmp.parse_assignment(item)
        settings[name] = vals[0]
    sw = cmp.parse_assignment(sweep) if sweep else None
    if size <= 0:
        raise NSTError(f"size must be positive, not {size}")
    check_writable_dir(out_dir)
    dev = pick_device(device)
    setup_torch(dev)
    c = load_image(content, size).to(dev)
    s = load_image(style).to(dev)
    bar: dict[str, ProgressBar] = {}

    def on_start(method: str, own: dict) -> None:
        for b in bar.values():
            b.close()
        bar.clear()
        if not quiet:
            bar["b"] = ProgressBar(0, method)

    def on_step(st) -> None:
        if "b" in bar:
            bar["b"].bar.total = st.total
            bar["b"].update(st.iteration, st.losses)

    rows = cmp.run_compare(c, s, style, methods=method_list, size=size, seed=seed, settings=settings, sweep=sw,
                           on_start=on_start, on_step=on_step)
    for b in bar.values():
        b.close()
    files: dict[tuple[int, str], str] = {}
    images, labels = [], []
    sweep_name = sw[0] if sw else None
    for r, row in enumerate(rows):
        images += [c, s]
        labels += ["content", "style"]
        for cell in row:
            if cell.image is not None:
                suffix = f"_{sweep_name}-{cell.settings.get(sweep_name)}" if sweep_name and sweep_name in cell.settings else ""
                name = f"{cell.method}{suffix}.png"
                if not cell.reused:
                    save_image(cell.image, out_dir / name)
                files[(r, cell.method)] = name
                images.append(cell.image)
            else:
                from PIL import Image

                images.append(Image.new("RGB", (64, 64), (235, 235, 235)))
                if not quiet and r == 0:
                    typer.echo(f"skipped {cell.method}: {cell.skipped}", err=True)
            labels.append(cmp.cell_label(cell, sweep_name))
    ncols = 2 + len(method_list)
    save_pil(make_grid(images, labels, ncols=ncols, cell=min(max(size, 64), 320)), out_dir / "grid.png")
    summary = {
        "inputs": {"content": str(content), "style": str(style), "size": size, "seed": seed, "device": str(dev)},
        "settings": settings,
        "sweep": {"name": sw[0], "values": sw[1]} if sw else None,
        "rows": [[{"method": cell.method, "settings": cell.settings, "seconds": round(cell.seconds, 3),
                   "metrics": cell.metrics, "skipped": cell.skipped, "reused": cell.reused,
                   "output": files.get((r, cell.method))} for cell in row] for r, row in enumerate(rows)],
        "environment": environment(),
    }
    write_json(out_dir / "summary.json", summary)
    page = cmp.render_html(title, "grid.png", rows, files, sweep_name, {"content": str(content), "style": str(style)})
    from .images import atomic_write

    atomic_write(out_dir / "index.html", lambda tmp: tmp.write_text(page, encoding="utf-8"))
    if not quiet:
        typer.echo(f"wrote {out_dir / 'grid.png'}, {out_dir / 'summary.json'} and {out_dir / 'index.html'}", err=True)


@app.command()
@handle_errors
def compare(
    content: Path = typer.Argument(..., help="Content image."),
    style: Path = typer.Argument(..., help="Style image."),
    output_dir: Path = typer.Option(..., "-o", "--output-dir", help="Folder for outputs, grid, summary.json, index.html."),
    methods: str = typer.Option(",".join(("gatys", "improved", "fast", "adain")), help="Comma-separated engines."),
    size: int = typer.Option(512, help="Longest side of every output, px."),
    seed: int = typer.Option(0),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="NAME=VALUE for every engine that has the option (repeatable)."),
    sweep: Optional[str] = typer.Option(None, help="NAME=V1,V2,… : one row per value, e.g. style_weight=1,5,25."),
    device: str = typer.Option("auto"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Run the engines side by side on the same inputs, with times and quality numbers."""
    _compare_to_dir(content, style, output_dir, methods, size, seed, set_, sweep, device, quiet, "nst compare")


@app.command()
@handle_errors
def demo(
    output_dir: Path = typer.Option(Path("nst-demo"), "-o", "--output-dir", help="Folder for the outputs."),
    size: int = typer.Option(512, help="Longest side, px."),
    methods: str = typer.Option(",".join(("gatys", "improved", "fast", "adain")), help="Comma-separated engines."),
    set_: Optional[List[str]] = typer.Option(None, "--set", help="NAME=VALUE for every engine that has the option."),
    device: str = typer.Option("auto", help="auto | cpu | cuda | mps."),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Compare all four engines on the built-in sample images: outputs, a labelled grid, summary, HTML page."""
    _compare_to_dir(SAMPLE_CONTENT, SAMPLE_STYLE, output_dir, methods, size, 0, set_, None, device, quiet, "nst demo")


@app.command("eval")
@handle_errors
def eval_(
    stylized: List[Path] = typer.Argument(..., help="Stylised image(s) or folder(s)."),
    content: Optional[Path] = typer.Option(None, "--content", help="Content image (or folder with matching names)."),
    style: Optional[Path] = typer.Option(None, "--style", help="Style image."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Write .json or .csv (default: JSON on stdout)."),
    size: int = typer.Option(512, help="Evaluate at this longest side, px."),
    device: str = typer.Option("auto"),
):
    """Content distance (relu4_2), style distance (Gram, relu1_1…relu5_1) and luminance SSIM."""
    import csv
    import io
    import json

    from .evaluate import Evaluator
    from .images import atomic_write, load_image

    if content is None and style is None:
        raise NSTError("give --content, --style or both")
    files = _expand_inputs(stylized)
    dev = pick_device(device)
    ev = Evaluator()
    s = load_image(style, size).to(dev) if style is not None else None
    rows = []
    for f in files:
        x = load_image(f, size).to(dev)
        c = None
        if content is not None:
            cp = content
            if content.is_dir():
                matches = [p for p in _expand_inputs([content]) if f.stem.startswith(p.stem)]
                if not matches:
                    raise NSTError(f"no content image in {content} matches {f.name}")
                cp = max(matches, key=lambda p: len(p.stem))
            c = load_image(cp, size).to(dev)
        rows.append({"image": str(f), **{k: round(v, 6) for k, v in ev(x, c, s).items()}})
    if output is not None and output.suffix.lower() == ".csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=list(rows[0].keys()))
        w.writeheader()
        w.writerows(rows)
        atomic_write(output, lambda tmp: tmp.write_text(buf.getvalue()))
    elif output is not None:
        if output.suffix.lower() != ".json":
            raise NSTError(f"{output}: eval writes .json or .csv")
        atomic_write(output, lambda tmp: tmp.write_text(json.dumps(rows, indent=2) + "\n"))
    else:
        typer.echo(json.dumps(rows, indent=2))


@app.command()
@handle_errors
def features(
    image: Path = typer.Argument(..., help="Image to look at."),
    layer: str = typer.Option("relu3_1", help="VGG layer name, e.g. relu1_1 … relu5_4."),
    output: Path = typer.Option(..., "-o", "--output", help="Grid image."),
    count: int = typer.Option(16, help="How many of the strongest channels to show."),
    size: int = typer.Option(512, help="Longest side of the input, px."),
    device: str = typer.Option("auto"),
):
    """The strongest activation maps of one VGG layer, as a labelled grid."""
    import torch

    from .images import check_output_path, load_image, make_grid, save_pil
    from .vgg import VGGFeatures

    out = check_output_path(output)
    if count <= 0:
        raise NSTError(f"count must be positive, not {count}")
    dev = pick_device(device)
    net = VGGFeatures([layer]).to(dev)
    x = load_image(image, size).to(dev)
    with torch.no_grad():
        f = net(x)[layer][0].float()
    strength = f.mean(dim=(1, 2))
    top = torch.argsort(strength, descending=True)[: min(count, f.shape[0])]
    tiles, labels = [], []
    for ch in top.tolist():
        m = f[ch]
        m = (m - m.min()) / (m.max() - m.min()).clamp_min(1e-8)
        tiles.append(m.expand(3, -1, -1).unsqueeze(0).cpu())
        labels.append(f"{layer} #{ch}  mean {strength[ch]:.1f}")
    cols = max(1, round(len(tiles) ** 0.5))
    save_pil(make_grid(tiles, labels, ncols=cols, cell=160), out)
    typer.echo(f"wrote {out}: {len(tiles)} of {f.shape[0]} channels of {layer}", err=True)


# ------------------------------------------------------------------ training (fast / adain)


def _model_output(output: Optional[Path], engine: str, default_name: str) -> Path:
    """The model file to write: -o, else the user's models dir; checked before any training."""
    from .images import check_writable_dir

    out = output or user_models_dir(engine) / f"{default_name}.safetensors"
    if out.suffix != ".safetensors":
        raise NSTError(f"{out}: the model file must end in .safetensors")
    check_writable_dir(out.parent)
    return out


def _init_distributed(device_name: str):
    """Under torchrun: start the process group (nccl on GPU, gloo on CPU) and pick this rank's device."""
    import torch
    import torch.distributed as dist

    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        dev = pick_device(device_name)
        return dev, 0, 1
    local = int(os.environ.get("LOCAL_RANK", "0"))
    dev = pick_device(device_name)
    if dev.type == "cuda":
        dev = torch.device("cuda", local)
        torch.cuda.set_device(dev)
    else:
        torch.set_num_threads(max(1, (os.cpu_count() or 1) // world))
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if dev.type == "cuda" else "gloo")
    return dev, dist.get_rank(), world


def _train(task, *, out: Path, steps: int, lr: float, lr_decay: float, batch_size: int, checkpoint_every: int,
           resume: bool, rank: int, preview, quiet: bool, what: str, max_minutes: float | None,
           init_from: Optional[Path] = None, max_grad_norm: Optional[float] = None) -> None:
    from .checkpoints import load_checkpoint, save_checkpoint
    from .training import fit

    run_dir = side_path(out, ".run")
    ckpt = run_dir / "checkpoint.safetensors"
    if resume and not ckpt.is_file():
        raise NSTError(f"--resume: no checkpoint at {ckpt}")
    bar = ProgressBar(steps, what, enabled=(rank == 0 and not quiet))

    def on_step(st) -> None:
        bar.update(st.step, {**st.losses, "img/s": st.images_per_s})

    def on_checkpoint(step: int, model) -> None:
        if preview is not None:
            preview(model, run_dir / f"preview_{step:06d}.jpg")

    t0 = time.perf_counter()
    try:
        reached = fit(task, checkpoint=ckpt, steps=steps, lr=lr, lr_decay=lr_decay, batch_size=batch_size,
                      checkpoint_every=checkpoint_every, resume=resume, on_step=on_step, on_checkpoint=on_checkpoint,
                      max_seconds=max_minutes * 60 if max_minutes else None, init_from=init_from,
                      max_grad_norm=max_grad_norm)
    except KeyboardInterrupt:
        bar.close()
        if rank == 0:
            typer.echo(f"nst: interrupted; checkpoint saved in {ckpt}; continue with --resume", err=True)
        raise typer.Exit(130)
    bar.close()
    if rank == 0:
        tensors, meta = load_checkpoint(ckpt, task.engine)
        model_only = {k: v for k, v in tensors.items() if k.startswith("model.")}
        meta.pop("optimizer", None)
        meta["wall_seconds_last_session"] = round(time.perf_counter() - t0, 1)
        save_checkpoint(out, model_only, meta)
        typer.echo(f"wrote {out} (step {reached}); training checkpoint and previews in {run_dir}", err=True)


def _preview_fn(val_image: Path, size: int, device, render: Callable):
    from .images import load_image, save_image

    val = load_image(val_image, size).to(device)

    def preview(model, path: Path) -> None:
        import torch

        was_training = model.training
        model.eval()
        with torch.no_grad():
            save_image(render(model, val), path)
        model.train(was_training)

    return preview


@app.command("train-fast")
@handle_errors
def train_fast(
    style: Optional[Path] = typer.Option(None, "--style", help="Style image (or give --teacher)."),
    data: str = typer.Option(..., "--data", help="Folder of training photos, or a Hugging Face dataset id."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Model file (default: user models dir/STYLE.safetensors)."),
    teacher: Optional[str] = typer.Option(
        None, help="Distil this trained fast model (name or path) into a narrower, faster one of --width; no style image."),
    size: int = typer.Option(FT.size, help="Training crop size, px."),
    batch_size: int = typer.Option(FT.batch_size),
    steps: int = typer.Option(FT.steps),
    lr: float = typer.Option(FT.lr),
    width: int = typer.Option(FT.width, help="First-layer channels (32 paper; 16 faster)."),
    content_weight: float = typer.Option(FT.content_weight),
    style_weight: float = typer.Option(FT.style_weight),
    tv_weight: float = typer.Option(FT.tv_weight),
    style_size: int = typer.Option(FT.style_size, help="Style image longest side, px."),
    max_grad_norm: Optional[float] = typer.Option(FT.max_grad_norm, help="Clip the gradient norm (0: off)."),
    checkpoint_every: int = typer.Option(FT.checkpoint_every, help="Checkpoint + preview every N steps."),
    val_image: Path = typer.Option(SAMPLE_CONTENT, help="Photo rendered as a preview at each checkpoint."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint."),
    max_minutes: Optional[float] = typer.Option(None, help="Stop (and save) after this many minutes."),
    init_from: Optional[Path] = typer.Option(None, help="Start from this model's weights (fine-tune; step 0)."),
    seed: int = typer.Option(FT.seed),
    vgg_weights: str = typer.Option(FT.weights),
    device: str = typer.Option("auto"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Train a feed-forward network for one style (Johnson et al. 2016), or distil one. Works under torchrun."""
    from .data import CropSampler
    from .engines.fast import DistillTask, FastTask, load_transformer, resolve_model, stylize_padded
    from .images import load_image

    if (style is None) == (teacher is None):
        raise NSTError("give either --style (train from a style image) or --teacher (distil a trained model)")
    cfg = replace(FT, size=size, batch_size=batch_size, steps=steps, lr=lr, width=width, content_weight=content_weight,
                  style_weight=style_weight, tv_weight=tv_weight, style_size=style_size, seed=seed,
                  max_grad_norm=max_grad_norm or None,
                  checkpoint_every=checkpoint_every, weights=vgg_weights)
    teacher_file = resolve_model(teacher) if teacher is not None else None
    if teacher_file is not None:
        teacher_net, teacher_meta = load_transformer(teacher_file)
        cfg = replace(cfg, n_res=teacher_net.n_res)  # the student keeps the teacher's depth
    cfg.validate()
    out = _model_output(output, "fast", style.stem if style is not None else f"{teacher_file.stem}_w{cfg.width}")
    dev, rank, world = _init_distributed(device)
    setup_torch(dev)
    sampler = CropSampler(data, cfg.size, rank=rank, world_size=world)
    if rank == 0 and not quiet:
        typer.echo(f"{len(sampler)} training images on rank 0 ({sampler.skipped} unreadable, skipped); world size {world}", err=True)
    if teacher_file is not None:
        task = DistillTask(cfg, teacher_net, teacher_meta, sampler, dev, teacher_sha256=sha256_file(teacher_file))
    else:
        s = load_image(style, cfg.style_size)
        task = FastTask(cfg, s, sampler, dev, style_sha256=sha256_file(style), style_name=style.stem)
    preview = _preview_fn(val_image, 512, dev, lambda m, x: stylize_padded(m, x)) if rank == 0 else None
    _train(task, out=out, steps=cfg.steps, lr=cfg.lr, lr_decay=0.0, batch_size=cfg.batch_size,
           checkpoint_every=cfg.checkpoint_every, resume=resume, rank=rank, preview=preview, quiet=quiet, what="train-fast",
           max_minutes=max_minutes, init_from=init_from, max_grad_norm=cfg.max_grad_norm)


@app.command("train-adain")
@handle_errors
def train_adain(
    content: str = typer.Option(..., "--content", help="Folder of content photos, or a Hugging Face dataset id."),
    style: str = typer.Option(..., "--style", help="Folder of style images, or a Hugging Face dataset id."),
    output: Optional[Path] = typer.Option(None, "-o", "--output", help="Decoder file (default: user models dir/decoder.safetensors)."),
    size: int = typer.Option(AT.size),
    batch_size: int = typer.Option(AT.batch_size),
    steps: int = typer.Option(AT.steps),
    warmup_steps: int = typer.Option(AT.warmup_steps, help="Steps of plain encoder inversion before the AdaIN objective."),
    lr: float = typer.Option(AT.lr),
    lr_decay: float = typer.Option(AT.lr_decay),
    style_weight: float = typer.Option(AT.style_weight),
    checkpoint_every: int = typer.Option(AT.checkpoint_every),
    val_image: Path = typer.Option(SAMPLE_CONTENT, help="Content photo of the preview."),
    val_style: Path = typer.Option(SAMPLE_STYLE, help="Style image of the preview."),
    resume: bool = typer.Option(False, "--resume", help="Continue from the latest checkpoint."),
    max_minutes: Optional[float] = typer.Option(None, help="Stop (and save) after this many minutes."),
    init_from: Optional[Path] = typer.Option(None, help="Start from this model's weights (fine-tune; step 0)."),
    seed: int = typer.Option(AT.seed),
    vgg_weights: str = typer.Option(AT.weights),
    device: str = typer.Option("auto"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Train an AdaIN decoder (Huang & Belongie 2017). Works under torchrun."""
    from .data import CropSampler
    from .engines.adain import AdaINEngine, AdaINTask
    from .images import load_image

    cfg = replace(AT, size=size, batch_size=batch_size, steps=steps, warmup_steps=warmup_steps, lr=lr, lr_decay=lr_decay,
                  style_weight=style_weight, checkpoint_every=checkpoint_every, seed=seed, weights=vgg_weights)
    cfg.validate()
    out = _model_output(output, "adain", "decoder")
    dev, rank, world = _init_distributed(device)
    setup_torch(dev)
    cs = CropSampler(content, cfg.size, rank=rank, world_size=world)
    ss = CropSampler(style, cfg.size, rank=rank, world_size=world)
    if rank == 0 and not quiet:
        typer.echo(f"{len(cs)} content and {len(ss)} style images on rank 0 "
                   f"({cs.skipped + ss.skipped} unreadable, skipped); world size {world}", err=True)
    task = AdaINTask(cfg, cs, ss, dev)
    preview = None
    if rank == 0:
        vs = load_image(val_style, 512).to(dev)

        def render(model, x):
            eng = AdaINEngine(AdaINConfig(), decoder=model, vgg=task.vgg)
            return eng.stylize(x, vs)

        preview = _preview_fn(val_image, 512, dev, render)
    _train(task, out=out, steps=cfg.steps, lr=cfg.lr, lr_decay=cfg.lr_decay, batch_size=cfg.batch_size,
           checkpoint_every=cfg.checkpoint_every, resume=resume, rank=rank, preview=preview, quiet=quiet, what="train-adain",
           max_minutes=max_minutes, init_from=init_from, max_grad_norm=cfg.max_grad_norm)


# ------------------------------------------------------------------ fast / adain inference


def _expand_inputs(paths: List[Path]) -> list[Path]:
    from .images import list_images

    files: list[Path] = []
    for p in paths:
        if p.is_dir():
            found = list_images(p)
            if not found:
                raise NSTError(f"{p}: no images in this folder")
            files += found
        else:
            files.append(p)
    return files


def _outputs_for(inputs: list[Path], output: Path, suffix: str) -> list[Path]:
    """One input and an image path → that path; several inputs → output is a folder."""
    from .images import SAVE_FORMATS, check_output_path, check_writable_dir

    if len(inputs) == 1 and output.suffix.lower() in SAVE_FORMATS:
        return [check_output_path(output)]
    if output.suffix.lower() in SAVE_FORMATS:
        raise NSTError(f"{len(inputs)} inputs need an output folder, not the file {output}")
    check_writable_dir(output)
    return [output / f"{p.stem}_{suffix}.png" for p in inputs]


@app.command()
@handle_errors
def fast(
    content: List[Path] = typer.Argument(..., help="Content image(s) or folder(s)."),
    model: str = typer.Option(FC.model, "--model", "-m", help="Shipped model name (see `nst models`) or a .safetensors path."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, or a folder for several inputs."),
    size: Optional[int] = typer.Option(None, help="Resize the content's longest side (default: keep)."),
    preserve_color: str = typer.Option(FC.preserve_color, help="none | luminance | histogram."),
    device: str = typer.Option("auto"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Stylise photos with a trained feed-forward network, in one pass each."""
    import torch

    from .engines.fast import FastEngine
    from .images import load_image, save_image

    files = _expand_inputs(content)
    outs = _outputs_for(files, output, Path(model).stem)
    dev = pick_device(device)
    setup_torch(dev)
    engine = FastEngine(replace(FC, model=model, preserve_color=preserve_color))
    for src, dst in zip(files, outs):
        x = load_image(src, size).to(dev)
        t0 = time.perf_counter()
        y = engine.stylize(x)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        save_image(y, dst)
        if not quiet:
            typer.echo(f"wrote {dst} ({(time.perf_counter() - t0) * 1000:.0f} ms)", err=True)


@app.command()
@handle_errors
def models():
    """List the shipped and local fast models and AdaIN decoders with their metadata."""
    from .checkpoints import read_metadata

    rows = []
    for engine in ("fast", "adain"):
        for where, p in model_files(engine):
            try:
                m = read_metadata(p)
            except NSTError as e:
                rows.append(f"{engine:6} {where:8} {p.stem:28} unreadable: {e}")
                continue
            arch = m.get("architecture", {})
            tr = m.get("training", {})
            how = "  distilled" if m.get("distilled_from") else ""
            rows.append(
                f"{engine:6} {where:8} {p.stem:28} step {m.get('step', '?'):>6}  "
                f"{arch.get('arch', '?')}{'(w=' + str(arch['width']) + ')' if 'width' in arch else ''}  "
                f"size {tr.get('size', '?')}{how}  style {m.get('style_name', '-') or '-'}  v{m.get('toolkit_version', '?')}  {p}"
            )
    typer.echo("\n".join(rows) if rows else "no models found")


@app.command("export-fast")
@handle_errors
def export_fast(
    model: str = typer.Argument(..., help="Shipped model name or .safetensors path."),
    output: Path = typer.Option(..., "-o", "--output", help="model.onnx (ONNX) or model.pt (TorchScript)."),
    size: int = typer.Option(512, help="Example input size for tracing; ONNX axes stay dynamic."),
):
    """Export a fast model to ONNX (.onnx) or TorchScript (.pt)."""
    from .export import export_transformer

    path = export_transformer(model, output, size)
    typer.echo(f"wrote {path}", err=True)


@app.command()
@handle_errors
def adain(
    content: Path = typer.Argument(..., help="Content image or folder of images."),
    styles: List[Path] = typer.Argument(..., help="Style image(s)."),
    output: Path = typer.Option(..., "-o", "--output", help="Output image, or a folder for a content folder."),
    alpha: float = typer.Option(AC.alpha, help="Content–style trade-off, 0 … 1."),
    style_weights: Optional[str] = typer.Option(None, help="Comma-separated interpolation weights summing to 1."),
    mask: Optional[Path] = typer.Option(None, help="Mask image: first style where white, second where black."),
    preserve_color: str = typer.Option(AC.preserve_color, help="none | luminance | histogram."),
    content_size: int = typer.Option(AC.content_size, help="Content longest side, px."),
    style_size: int = typer.Option(AC.style_size, help="Style longest side, px."),
    model: str = typer.Option(AC.model, "--model", "-m", help="Decoder name or .safetensors path."),
    device: str = typer.Option("auto"),
    quiet: bool = typer.Option(False, "--quiet", "-q"),
):
    """Arbitrary style transfer in one pass (AdaIN, Huang & Belongie 2017)."""
    import torch

    from .engines.adain import AdaINEngine, check_style_weights
    from .images import load_image, save_image

    files = _expand_inputs([content])
    outs = _outputs_for(files, output, "adain")
    weights = parse_floats(style_weights, "style-weights")
    if mask is None:
        check_style_weights(weights, len(styles))
    elif len(styles) != 2:
        raise NSTError(f"a mask needs exactly two styles (foreground, background), got {len(styles)}")
    dev = pick_device(device)
    setup_torch(dev)
    cfg = replace(AC, alpha=alpha, preserve_color=preserve_color, content_size=content_size, style_size=style_size,
                  model=model)
    engine = AdaINEngine(cfg)
    style_images = [load_image(s, style_size).to(dev) for s in styles]
    m = load_image(mask, min_side=1) if mask is not None else None
    # Style statistics depend on the content only for colour preservation; otherwise encode once.
    shared = None if preserve_color != "none" else [engine.style_stats(s) for s in style_images]
    for src, dst in zip(files, outs):
        x = load_image(src, content_size).to(dev)
        t0 = time.perf_counter()
        stats = shared or [engine.style_stats(s, x) for s in style_images]
        y = engine.stylize_with_stats(x, stats, weights, m)
        if dev.type == "cuda":
            torch.cuda.synchronize()
        save_image(y, dst)
        if not quiet:
            typer.echo(f"wrote {dst} ({(time.perf_counter() - t0) * 1000:.0f} ms)", err=True)


@app.callback(invoke_without_command=True)
def main(version: bool = typer.Option(False, "--version", help="Print the version and exit.")):
    if version:
        typer.echo(__version__)
        raise typer.Exit(0)


if __name__ == "__main__":  # pragma: no cover
    app()
