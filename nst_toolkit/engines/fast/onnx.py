"""A fast model's ONNX twin run in onnxruntime: `nst fast` without importing torch.

`nst export-fast MODEL` (no -o) writes the model's twin beside ``MODEL.safetensors``: the whole pass with the
style built in (pad to the network's stride, stylise, crop, clamp) — for a model grown from the light AdaIN model
``MODEL.int8.onnx``, with 8-bit convolutions (onnxruntime's static quantisation, calibrated on the built-in photos;
as stylised and as close to the photo as the float pass by the judge), for a TransformerNet ``MODEL.onnx``. The
twin records the sha256 of the safetensors file it came from; a twin of another version of the file is
ignored. `nst fast` uses it on the CPU when the call
needs nothing the graph lacks (no colour preservation, no tiles, no model sheet, files in and out); otherwise
the torch engine runs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...checkpoints import model_dirs, resolve_model_file
from ...errors import NSTError
from ...imagefiles import image_size, load_array
from ...io import sha256_file
from ...memory import choose_tile, output_size
from ...twins import open_session
from ..adain import BYTES_PER_PIXEL, MULTIPLE, TILE_HALO
from ..registry import ALL_MODELS
from . import ENGINE, FastConfig

INPUTS = ("image",)


def twin_paths(model: Path) -> tuple[Path, Path]:
    """(the 8-bit twin, the float twin) of a model file."""
    return model.with_suffix(".int8.onnx"), model.with_suffix(".onnx")


def open_twin(model: Path, threads: int | None = None) -> Any | None:
    """An onnxruntime session of ``model``'s twin (8-bit first), or None when there is none that matches this
    version of the file, or onnxruntime is missing."""
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    candidates = [p for p in twin_paths(model) if p.is_file()]
    digest = sha256_file(model) if candidates else ""
    return next((s for s in (open_session(p, INPUTS, digest, model, threads) for p in candidates) if s is not None),
                None)


def _graph_serves(cfg: FastConfig, styles: list[Path]) -> bool:
    """Whether the twin's graph does what the call asks (no style images, no colour preservation, no sheet)."""
    return not styles and cfg.preserve_color == "none" and cfg.model != ALL_MODELS


def frame_runner(cfg: FastConfig, styles: list[Path], sizes: list[tuple[int, int]],
                 threads: int | None = None) -> Callable[[np.ndarray], np.ndarray] | None:
    """The pass as a function from an image (1×3×H×W float32 in [0, 1], already at its size) to its result, for
    images of ``sizes`` (width, height); None when the torch engine must run this call."""
    if not _graph_serves(cfg, styles):
        return None
    try:
        model = resolve_model_file(cfg.model, model_dirs(ENGINE), "shipped fast model")
    except NSTError:
        return None  # the torch path reports it, in its words
    for w, h in sizes:  # a light one-style network's memory and margin: the light AdaIN model's
        if choose_tile(cfg.tile, w * h, BYTES_PER_PIXEL["light"], MULTIPLE, TILE_HALO["light"]) is not None:
            return None
    session = open_twin(model, threads)
    if session is None:
        return None
    return lambda image: session.run(None, {"image": image})[0]


def runner(cfg: FastConfig, inputs: list[Path], styles: list[Path]) -> Callable[[Path], np.ndarray] | None:
    """The pass as a function from an input file to its result (1×3×H×W float32 in [0, 1]), or None when the
    torch engine must run this call."""
    if not _graph_serves(cfg, styles):
        return None
    sizes = [output_size(*image_size(content), cfg.size) for content in inputs]  # header reads only
    run = frame_runner(cfg, styles, sizes)
    return None if run is None else lambda content: run(load_array(content, cfg.size))
