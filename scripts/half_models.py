"""Store trained models at half precision: every float tensor of each given safetensors file is rewritten as
float16 (metadata kept, file replaced atomically); the engines compute in float32 as before. Halves a shipped
model's size; a stylised picture moves by under 6e-3 at most (docs/training-notes.md). `nst train-fast` and
`nst train-adain` write their model files this way already; this converts files made before.
ONNX twins record the sha256 of their model file, so re-export them afterwards (`nst export-fast`, `nst export-adain`).

    python scripts/half_models.py models/fast/great_wave.safetensors [...]
"""

from __future__ import annotations

import argparse
import sys

from safetensors import safe_open
from safetensors.torch import save

from nst_toolkit.training import half_precision
from nst_toolkit.io import atomic_write


def halve(path: str) -> bool:
    """Rewrite ``path`` with float16 tensors (the rule of model files written by training,
    :func:`nst_toolkit.training.half_precision`); False when it holds none wider than that."""
    with safe_open(path, "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    out = half_precision(tensors)
    if all(out[k].dtype == v.dtype for k, v in tensors.items()):
        return False
    atomic_write(path, save({k: v.contiguous() for k, v in out.items()}, metadata=meta))
    return True


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("files", nargs="+")
    args = ap.parse_args(argv)
    for p in args.files:
        print(("float16 " if halve(p) else "already half ") + p)
    return 0


if __name__ == "__main__":
    sys.exit(main())
