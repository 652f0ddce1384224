"""What every command shares: error handling, devices, progress bars, input and output paths."""

from __future__ import annotations

import functools
import inspect
import os
import sys
from pathlib import Path
from typing import Any, Callable, Iterable, Optional

import typer

from ..errors import NSTError


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


def command(params: list[inspect.Parameter], body: Callable[[dict[str, Any]], None], doc: str) -> Callable:
    """A Typer command function with the given parameters; ``body`` receives them as one dict."""

    def cmd(**kwargs: Any) -> None:
        body(kwargs)

    cmd.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    cmd.__annotations__ = {p.name: p.annotation for p in params}
    cmd.__doc__ = doc
    return handle_errors(cmd)


def param(name: str, annotation: Any, default: Any) -> inspect.Parameter:
    return inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)


def device_param() -> inspect.Parameter:
    return param("device", str, typer.Option("auto", help="auto | cpu | cuda | mps."))


def quiet_param() -> inspect.Parameter:
    return param("quiet", bool, typer.Option(False, "--quiet", "-q", help="No progress output."))


def setup_torch(device) -> None:
    """Global torch settings are the CLI's business, never the engines'."""
    import os

    import torch

    if device.type == "cuda":
        # The CPU only cuts crops and steers the GPU: a few threads avoid OpenMP oversubscription
        # when several trainings share a machine (measured: 2 s/step with 6 × 16 threads).
        if "OMP_NUM_THREADS" not in os.environ:
            torch.set_num_threads(min(4, torch.get_num_threads()))
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
        torch.backends.cudnn.benchmark = True


def device_for(name: str):
    from ..api import pick_device

    dev = pick_device(name)
    setup_torch(dev)
    return dev


def split_csv(text: Optional[str]) -> tuple[str, ...]:
    return tuple(t.strip() for t in text.split(",") if t.strip()) if text else ()


def parse_floats(text: Optional[str], what: str) -> Optional[tuple[float, ...]]:
    if not text:
        return None
    try:
        return tuple(float(t) for t in split_csv(text))
    except ValueError:
        raise NSTError(f"{what} must be comma-separated numbers, not '{text}'") from None


class ProgressBar:
    """A tqdm bar on stderr, used as a context manager so it is closed (its line ended) before any
    error message is printed."""

    def __init__(self, total: int | None, desc: str, enabled: bool = True, unit: str = "it"):
        self.bar = _Silent()
        if enabled:  # tqdm's import is a noticeable part of a one-photo command's start-up
            from tqdm import tqdm

            self.bar = tqdm(total=total, desc=desc, unit=unit, dynamic_ncols=True, file=sys.stderr)
        self.started = False

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def update(self, n: int, values: dict[str, float] | None = None, total: int | None = None) -> None:
        if total is not None:
            self.bar.total = total
        if not self.started:  # a resumed run starts at its step: rate and ETA count this run's steps only
            self.started = True
            self.bar.initial = max(0, n - 1)
        self.bar.n = n
        if values:
            self.bar.set_postfix({k: f"{v:.3g}" for k, v in values.items()}, refresh=False)
        self.bar.refresh()

    def step(self, st: Any) -> None:
        """An optimisation step (:class:`~nst_toolkit.optimize.Step`): the bar follows the share of the run's
        estimated work done, so its ETA holds when later steps cost more (coarse-to-fine, tiles); the step
        count and the losses go after it."""
        if self.bar.total != 1000:
            self.bar.total = 1000
            self.bar.bar_format = "{desc}: {percentage:3.0f}%|{bar}| {elapsed}<{remaining}{postfix}"
        self.bar.n = round(1000 * st.done)
        self.bar.set_postfix_str(f"step {st.iteration}/{st.total} " + " ".join(f"{k}={v:.3g}" for k, v in st.losses.items()),
                                 refresh=False)
        self.bar.refresh()

    def write(self, text: str) -> None:
        self.bar.write(text, file=sys.stderr)

    def close(self) -> None:
        self.bar.close()


class _Silent:
    """What a disabled bar needs of tqdm's interface: nothing is drawn, ``write`` still prints."""

    n, initial, total = 0, 0, None

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        pass

    def set_postfix(self, *args: Any, **kwargs: Any) -> None:
        pass

    def refresh(self) -> None:
        pass

    def close(self) -> None:
        pass

    def write(self, text: str, file: Any = None) -> None:
        print(text, file=file or sys.stderr)


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files as given, folders as the images directly inside them."""
    from ..imagefiles import list_images

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


def names_a_folder(text: str | Path) -> bool:
    """Whether an output as typed asks for a folder by ending with a path separator (``-o out/``)."""
    text = str(text)
    return text.endswith(("/", os.sep) + ((os.altsep,) if os.altsep else ()))


def output_folder(output: str | Path, what: str = "the outputs") -> Path:
    """An output that must be a folder. A name that reads as a file (it has an extension) is refused unless it
    ends with a path separator or already is a folder, so ``-o result.xyz`` never becomes a folder by accident."""
    from ..imagefiles import check_writable_dir

    path = Path(output)
    if path.exists() and not path.is_dir():
        raise NSTError(f"{path} is a file, but {what} go into a folder")
    if path.suffix and not path.is_dir() and not names_a_folder(output):
        raise NSTError(f"{path}: {what} go into a folder, and '{path.suffix}' reads as a file extension; "
                       f"write {path}{os.sep} for a folder of that name")
    check_writable_dir(path)
    return path


def outputs_for(inputs: list[Path], output: str | Path, suffix: str, from_folder: bool = False) -> list[Path]:
    """The output file of each input. One input file and an image name → that file. Several inputs, a folder
    of inputs (``from_folder``), a name ending with a path separator or an existing folder (whose name is not
    an image file's) → a folder, made when missing, with INPUT_<suffix>.png for each input. Anything else
    (an unknown extension, a name without one) is refused: no folder is made unless one was asked for."""
    from ..imagefiles import SAVE_FORMATS, check_output_path

    path = Path(output)
    image_name = path.suffix.lower() in SAVE_FORMATS
    folder = (len(inputs) > 1 or from_folder or names_a_folder(output)
              or (path.is_dir() and not (image_name and len(inputs) == 1)))
    if not folder:
        if path.suffix and not image_name:
            check_output_path(path)  # the unknown-format message
        if not path.suffix:
            raise NSTError(f"{path}: give an image file name ({', '.join(sorted(SAVE_FORMATS))}), "
                           f"or {path}{os.sep} for a folder")
        return [check_output_path(path)]
    if image_name and not path.is_dir() and not names_a_folder(output):
        many = f"{len(inputs)} inputs need" if len(inputs) > 1 else "a folder of inputs needs"
        raise NSTError(f"{many} an output folder, not the file {path}")
    folder_path = output_folder(output, "the results")
    return [folder_path / f"{p.stem}_{suffix}.png" for p in inputs]
