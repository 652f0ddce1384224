"""What every ONNX twin shares (no torch): the metadata key naming the safetensors file a twin was exported from,
and opening a twin only when it belongs to this version of that file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .errors import NSTError

SOURCE_KEY = "nst_source_sha256"  # ONNX metadata: the sha256 of the safetensors file the twin was exported from


def open_session(path: Path, inputs: tuple[str, ...], digest: str, model: Path, threads: int | None = None) -> Any | None:
    """An onnxruntime session of ``path`` when it was exported from the model file of sha256 ``digest`` and takes
    ``inputs``; None for a twin of another version of the model or of an older layout. An unreadable file is an
    NSTError naming it. ``threads``: the pass's threads (None: onnxruntime's choice, one per core); a session
    given its threads does not spin them between calls, so work beside it (decoding, encoding) keeps its core."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.log_severity_level = 3  # errors only: warnings about unused initialisers are not the user's business
    if threads is not None:
        options.intra_op_num_threads = threads
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    try:
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as e:  # onnxruntime raises its own exception types for unreadable files
        raise NSTError(f"{path}: not a usable ONNX model ({type(e).__name__}); delete it to use {model.name}") from None
    meta = session.get_modelmeta().custom_metadata_map
    if meta.get(SOURCE_KEY) != digest or tuple(i.name for i in session.get_inputs()) != inputs:
        return None
    return session
