"""A light AdaIN model's ONNX twin run in onnxruntime: photos stylised without importing torch.

`nst export-adain MODEL` writes ``MODEL.onnx`` beside ``MODEL.safetensors``: the whole pass (pad to
the encoder's stride, encode content and style, AdaIN, the alpha mix, decode, crop, clamp) as one
graph whose metadata records the sha256 of the safetensors file it came from. `nst adain` uses the
twin on the CPU when it is there, matches its model file, and the call needs nothing the graph
lacks (one style, adain's transfer, no colour preservation, no tiles, files in and out); otherwise it returns None
and the command runs the torch engine. Importing torch takes seconds on small machines, longer
than the light model's whole pass; onnxruntime, numpy and PIL together take a fraction of that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ..checkpoints import model_dirs, resolve_model_file
from ..errors import NSTError
from ..imagefiles import image_size, load_array
from ..io import sha256_file
from ..memory import choose_tile, output_size
from .adain import BYTES_PER_PIXEL, ENGINE, MULTIPLE, TILE_HALO, AdaINConfig
from .registry import ALL_MODELS

SOURCE_KEY = "nst_source_sha256"  # ONNX metadata: the safetensors file the twin was exported from
INPUTS = ("content", "style", "alpha")


def twin_path(model: Path) -> Path:
    return model.with_suffix(".onnx")


def open_twin(model: Path) -> Any | None:
    """An onnxruntime session of ``model``'s twin, or None when there is none, onnxruntime is missing,
    or the twin was exported from another version of the model file (then the torch engine runs)."""
    twin = twin_path(model)
    if not twin.is_file():
        return None
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: warnings about unused initialisers are not the user's business
    try:
        session = ort.InferenceSession(str(twin), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for unreadable files
        raise NSTError(f"{twin}: not a usable ONNX model ({type(e).__name__}); delete it to use {model.name}") from None
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get(SOURCE_KEY) != sha256_file(model) or tuple(i.name for i in session.get_inputs()) != INPUTS:
        return None
    return session


def runner(cfg: AdaINConfig, inputs: list[Path], styles: list[Path]) -> Callable[[Path], np.ndarray] | None:
    """The whole pass as a function from an input file to its result (1×3×H×W float32 in [0, 1]), or None
    when the torch engine must run this call (one input too large for a single pass is enough)."""
    if len(styles) != 1 or cfg.preserve_color != "none" or cfg.model == ALL_MODELS or cfg.transfer != "adain":
        return None
    try:
        model = resolve_model_file(cfg.model, model_dirs(ENGINE), "AdaIN model")
    except NSTError:
        return None  # the torch path reports it, in its words
    for content in inputs:  # header reads only: a file that cannot be read fails here, before any work
        w, h = output_size(*image_size(content), cfg.size)
        if choose_tile(cfg.tile, w * h, BYTES_PER_PIXEL["light"], MULTIPLE, TILE_HALO) is not None:
            return None
    session = open_twin(model)
    if session is None:
        return None
    style = load_array(styles[0], cfg.style_size)
    alpha = np.array(cfg.alpha, dtype=np.float32)

    def run(content: Path) -> np.ndarray:
        return session.run(None, {"content": load_array(content, cfg.size), "style": style, "alpha": alpha})[0]

    return run
