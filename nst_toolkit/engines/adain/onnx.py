"""A light AdaIN model's ONNX twin run in onnxruntime: photos stylised without importing torch.

`nst export-adain MODEL` writes two graphs beside ``MODEL.safetensors``, each recording in its metadata
the sha256 of the safetensors file it came from: ``MODEL.style.onnx`` encodes a style image into its code
(the feature statistics the model transfers), ``MODEL.onnx`` is the rest of the pass (pad to the
encoder's stride, encode the content, AdaIN to the code, the alpha mix, decode, crop, clamp). A folder
of photos encodes its style once. `nst adain` uses the
twin on the CPU when it is there, matches its model file, and the call needs nothing the graph
lacks (one style, adain's transfer, no colour preservation, no tiles, files in and out); otherwise it returns None
and the command runs the torch engine. Importing torch takes seconds on small machines, longer
than the light model's whole pass; onnxruntime, numpy and PIL together take a fraction of that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...checkpoints import model_dirs, resolve_model_file
from ...errors import NSTError
from ...imagefiles import image_size, load_array
from ...io import sha256_file
from ...memory import choose_tile, output_size
from . import BYTES_PER_PIXEL, ENGINE, MODEL_ALIASES, MULTIPLE, TILE_HALO, AdaINConfig
from ..registry import ALL_MODELS

SOURCE_KEY = "nst_source_sha256"  # ONNX metadata: the safetensors file the twin was exported from
INPUTS = ("content", "style_code", "alpha")  # the pass
STYLE_INPUTS = ("style",)  # the style encoder


def twin_path(model: Path) -> Path:
    return model.with_suffix(".onnx")


def style_twin_path(twin: Path) -> Path:
    return twin.with_suffix(".style.onnx")


def open_twin(model: Path) -> tuple[Any, Any] | None:
    """onnxruntime sessions of ``model``'s twin (the pass, the style encoder), or None when there is none,
    onnxruntime is missing, or the twin is of another version of the model file or of an older layout (then
    the torch engine runs)."""
    twin = twin_path(model)
    graphs = ((twin, INPUTS), (style_twin_path(twin), STYLE_INPUTS))
    if not all(path.is_file() for path, _ in graphs):
        return None
    try:
        import onnxruntime as ort
    except ImportError:
        return None
    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: warnings about unused initialisers are not the user's business
    sessions, digest = [], sha256_file(model)
    for path, inputs in graphs:
        try:
            session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        except Exception as e:  # onnxruntime raises its own exception types for unreadable files
            raise NSTError(f"{path}: not a usable ONNX model ({type(e).__name__}); delete it to use {model.name}") from None
        meta = session.get_modelmeta().custom_metadata_map
        if meta.get(SOURCE_KEY) != digest or tuple(i.name for i in session.get_inputs()) != inputs:
            return None
        sessions.append(session)
    return sessions[0], sessions[1]


def runner(cfg: AdaINConfig, inputs: list[Path], styles: list[Path]) -> Callable[[Path], np.ndarray] | None:
    """The whole pass as a function from an input file to its result (1×3×H×W float32 in [0, 1]), or None
    when the torch engine must run this call (one input too large for a single pass is enough)."""
    if len(styles) != 1 or cfg.preserve_color != "none" or cfg.model == ALL_MODELS or cfg.transfer != "adain":
        return None
    try:
        model = resolve_model_file(MODEL_ALIASES.get(cfg.model, cfg.model), model_dirs(ENGINE), "AdaIN model")
    except NSTError:
        return None  # the torch path reports it, in its words
    for content in inputs:  # header reads only: a file that cannot be read fails here, before any work
        w, h = output_size(*image_size(content), cfg.size)
        if choose_tile(cfg.tile, w * h, BYTES_PER_PIXEL["light"], MULTIPLE, TILE_HALO["light"]) is not None:
            return None
    sessions = open_twin(model)
    if sessions is None:
        return None
    session, style_session = sessions
    code = style_session.run(None, {"style": load_array(styles[0], cfg.style_size)})[0]  # once for all photos
    alpha = np.array(cfg.alpha, dtype=np.float32)

    def run(content: Path) -> np.ndarray:
        return session.run(None, {"content": load_array(content, cfg.size), "style_code": code, "alpha": alpha})[0]

    return run
