"""A light AdaIN model's ONNX twin run in onnxruntime: photos stylised without importing torch.

`nst export-adain MODEL` writes three graphs beside ``MODEL.safetensors``, each recording in its metadata the
sha256 of the safetensors file it came from: ``MODEL.style.onnx`` encodes a style image into its code (the
feature statistics the model transfers); ``MODEL.onnx`` is the rest of the pass (pad to the encoder's stride,
encode the content, AdaIN to the code, the alpha mix, decode, crop, clamp); ``MODEL.int8.onnx`` is that pass at
alpha 1 — the default — without the content skip branches (alpha 1 gates them off) and with 8-bit
convolutions (onnxruntime's static quantisation, calibrated on the built-in photos): 1.5-2x faster on a CPU,
judged as stylised and as close to the photo as the float graph (docs/benchmarks.md).

`nst adain` uses the twin on the CPU when it is there, matches its model file, and the call needs nothing the
graph lacks (one style, adain's transfer, no colour preservation, no tiles, files in and out); otherwise it
returns None and the command runs the torch engine. Importing torch takes seconds on small machines, longer
than the light model's whole pass; onnxruntime, numpy and PIL together take a fraction of that.

A style's code is cached by the sha256 of the model, of the style file and the style size
(``$NST_CACHE_DIR/style-codes``), so a painting used again is not encoded again; a changed file has another
hash, so its old code is never used.
"""

from __future__ import annotations

import hashlib
import importlib.util
from pathlib import Path
from typing import Any, Callable

import numpy as np

from ...checkpoints import model_dirs, resolve_model_file
from ...errors import NSTError
from ...imagefiles import image_size, load_array
from ...io import atomic_write, sha256_file
from ...memory import choose_tile, output_size
from ...resources import cache_dir
from ...twins import open_session
from ..registry import ALL_MODELS
from . import BYTES_PER_PIXEL, ENGINE, MODEL_ALIASES, MULTIPLE, TILE_HALO, AdaINConfig

INPUTS = ("content", "style_code", "alpha")  # the pass
FIXED_INPUTS = ("content", "style_code")  # the alpha-1, 8-bit pass
STYLE_INPUTS = ("style",)  # the style encoder


def twin_path(model: Path) -> Path:
    return model.with_suffix(".onnx")


def style_twin_path(twin: Path) -> Path:
    return twin.with_suffix(".style.onnx")


def int8_twin_path(twin: Path) -> Path:
    return twin.with_suffix(".int8.onnx")


def open_twin(model: Path, alpha: float = 1.0) -> tuple[Any, Callable[[], Any], bool, str] | None:
    """(the pass, a function opening the style encoder, whether the pass is the alpha-1 graph, the model's
    sha256) of ``model``'s twin, or None when there is none, onnxruntime is missing, or the twin is of another
    version of the model file or of an older layout (then the torch engine runs). At alpha 1 the 8-bit graph
    serves when present. The style encoder opens only when a style is not in the cache (opening costs time)."""
    twin = twin_path(model)
    if not twin.is_file() or not style_twin_path(twin).is_file():
        return None
    if importlib.util.find_spec("onnxruntime") is None:
        return None
    digest = sha256_file(model)

    def style_session() -> Any:
        session = open_session(style_twin_path(twin), STYLE_INPUTS, digest, model)
        if session is None:
            raise NSTError(f"{style_twin_path(twin)} is not the style encoder of {model.name}; export the twin again "
                           f"with: nst export-adain {model}")
        return session

    if alpha == 1.0 and int8_twin_path(twin).is_file():
        fixed = open_session(int8_twin_path(twin), FIXED_INPUTS, digest, model)
        if fixed is not None:
            return fixed, style_session, True, digest
    full = open_session(twin, INPUTS, digest, model)
    return None if full is None else (full, style_session, False, digest)


def style_code(open_encoder: Callable[[], Any], model_digest: str, style: Path, style_size: int,
               width: Any = None) -> np.ndarray:
    """The code of ``style`` at ``style_size``: from the cache when this model has encoded this exact file at this
    size before, else encoded now (``open_encoder()``: the style encoder) and cached (best effort: an unwritable
    cache only costs the encoding). ``width``: the code's length the pass takes, when its graph states it."""
    key = hashlib.sha256(f"{model_digest}:{sha256_file(style)}:{style_size}".encode()).hexdigest()[:40]
    path = cache_dir() / "style-codes" / f"{key}.npy"
    try:
        code = np.load(path, allow_pickle=False)
        if (code.dtype == np.float32 and code.ndim == 2 and code.shape[0] == 1 and np.isfinite(code).all()
                and (not isinstance(width, int) or code.shape[1] == width)):
            return code
    except (OSError, ValueError):
        pass
    code = open_encoder().run(None, {"style": load_array(style, style_size)})[0]
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, lambda tmp: _save_npy(tmp, code))
    except OSError:
        pass
    return code


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as f:  # a file object: np.save given a name would append ".npy" to it
        np.save(f, array, allow_pickle=False)


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
    opened = open_twin(model, cfg.alpha)
    if opened is None:
        return None
    session, style_session, fixed, digest = opened
    width = session.get_inputs()[1].shape[-1]
    code = style_code(style_session, digest, styles[0], cfg.style_size, width)  # once for all photos
    feeds = {} if fixed else {"alpha": np.array(cfg.alpha, dtype=np.float32)}

    def run(content: Path) -> np.ndarray:
        return session.run(None, {"content": load_array(content, cfg.size), "style_code": code, **feeds})[0]

    return run
